//! Shared by the format fuzz targets: the fixed test key and a walk over
//! accepted content that must never hit a `None`.
#![allow(dead_code)]

use changuard_format::build::SigningKey;
use changuard_format::regex_automata::{Input, dfa::Automaton};
use changuard_format::{TrustedKey, ValidChannel};

/// Seed of the fixed fuzzing key. fuzz/seeds are signed with it; under
/// `cfg(fuzzing)` the validator checks the key id but ignores the signature.
pub const FUZZ_KEY_SEED: [u8; 32] = [0x5a; 32];
/// Channel the seeds are built for.
pub const FUZZ_CHANNEL: u32 = 291;

pub fn key() -> SigningKey {
    SigningKey::from_seed(FUZZ_KEY_SEED)
}

/// Trusted as test-only: the structured targets generate `test-crash` too.
pub fn trusted() -> [TrustedKey; 1] {
    [key().trusted_test_key()]
}

/// Everything the interpreter would touch must decode (no `None`), and every
/// DFA must search without panicking.
pub fn walk(v: &ValidChannel<&[u8]>) {
    let n = v.instance_count();
    assert_eq!(v.instances().count() as u32, n);
    for i in 0..n {
        let inst = v.instance(i).expect("validated instance decodes");
        // Metadata of validated content decodes (strings proven in range).
        let m = inst.metadata();
        let _ = (m.title, m.rule_id, m.author, m.reference);
        for r in 0..inst.row_count() {
            assert!(inst.row_kind(r).is_some());
            for k in 0..inst.criteria_len() {
                inst.row_criterion(r, k).expect("validated criterion decodes");
            }
        }
    }
    for d in 0..v.dfa_count() {
        let dfa = v.dfa(d).expect("validated DFA loads");
        let _ = dfa.try_search_fwd(&Input::new("\\\\.\\pipe\\MSAgent_ab C:\\Windows\\é"));
        assert!(v.dfa_pattern(d).is_some());
    }
    changuard_format::build::to_spec(v).expect("validated content converts to a spec");
}
