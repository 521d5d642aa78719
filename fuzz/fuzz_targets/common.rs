//! Shared by the format fuzz targets: the fixed test key and a walk over
//! accepted content that must never hit a `None`.
#![allow(dead_code)]

use changuard_format::build::SigningKey;
use changuard_format::regex_automata::{Input, dfa::Automaton};
use changuard_format::schema::{FieldType, TEMPLATE_TYPES};
use changuard_format::{TrustedKey, ValidChannel};
use changuard_interp::reference::Reference;
use changuard_interp::{Engine, Event, Value, Verdict};

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
    evaluate_both(v);
}

/// The engine loads accepted content, whatever its DFAs hold (its load-time
/// analyses and scans walk them: proofs, quiet states, watch states), and
/// evaluates events within its default budget, the content's proven cost
/// bound, finding the matches the reference evaluator finds: fixed strings
/// and the content's own regex sources, in every string field. This found an
/// accelerator that disagreed with its DFA's transitions (now a validator
/// rule) and a byte on the end-of-input column that fooled the prefilter's
/// analysis (`crates/interp/tests/fuzz_found.rs`).
///
/// Matches are compared for every DFA, including one whose flag bits claim
/// both has-empty and UTF-8 (only the deep check pins them): both evaluators
/// walk such a DFA rather than trust regex-automata's search, which would
/// skip a match ending inside a character (docs/FORMAT.md, "What
/// regex-automata checks"). Not compared: fault counts, which the engine
/// and the reference count differently for DFAs that quit (engine module
/// docs, "Faults").
pub fn evaluate_both(v: &ValidChannel<&[u8]>) {
    let chans = [*v];
    let (Ok(engine), Ok(reference)) = (Engine::new(&chans), Reference::new(&chans)) else {
        return;
    };
    let mut texts = vec!["\\\\.\\pipe\\MSAgent_ab C:\\Windows\\é", "", "a"];
    texts.extend((0..v.dfa_count().min(8)).filter_map(|d| v.dfa_pattern(d)));
    let (mut a, mut b) = (Verdict::new(), Verdict::new());
    for t in TEMPLATE_TYPES {
        for text in &texts {
            let vals: Vec<Value<'_>> = t
                .fields
                .iter()
                .map(|f| match f.ty {
                    FieldType::Str => Value::Str(text),
                    FieldType::Int => Value::Int(4),
                })
                .collect();
            let ev = Event::from_values(t.id, &vals).expect("shape");
            engine.evaluate(&ev, &mut a);
            reference.evaluate(&ev, &mut b);
            assert_eq!(a.matches(), b.matches(), "matches differ on {ev:?}");
            assert!(
                !a.fuel_exhausted,
                "the proven bound ran out on {ev:?}: {a:?}"
            );
        }
    }
}
