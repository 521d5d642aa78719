//! Inputs the fuzz targets found, kept as regression tests.

use changuard_format::build::{SigningKey, resign};
use changuard_format::schema::{FieldType, NAMED_PIPE_CREATE};
use changuard_format::{AlignedBytes, Trust, validate};
use changuard_interp::reference::Reference;
use changuard_interp::{Engine, Event, Value, Verdict};

/// The fuzz key and channel (fuzz/fuzz_targets/common.rs).
const FUZZ_KEY_SEED: [u8; 32] = [0x5a; 32];
const FUZZ_CHANNEL: u32 = 291;

/// `validate_raw` (2026-12-03): a mutated channel file whose regex group DFA
/// sends some bytes to the end-of-input column of its transition table.
/// `DFA::from_bytes` allows that (it checks each class against the alphabet
/// length, which counts that column), and a scan then follows that column on
/// those bytes. The byte-class prefilter's analysis left the column out of
/// its byte classes, so it found the digits required for `[0-9]{5}$` where
/// this DFA matches the digit-free pipe name below: the engine skipped the
/// scan and missed the match the reference evaluator found.
#[test]
fn a_byte_on_the_end_of_input_column_does_not_fool_the_prefilter() {
    let mut bytes = include_bytes!("fixtures/eoi_column_byte.chan").to_vec();
    let key = SigningKey::from_seed(FUZZ_KEY_SEED);
    resign(&mut bytes, &key).expect("re-signs");
    let buf = AlignedBytes::from_slice(&bytes);
    let keys = [key.trusted_test_key()];
    let chan = validate(&buf[..], &Trust::new(&keys), FUZZ_CHANNEL).expect("validates");
    // What makes this file what it is: a byte on the end-of-input column.
    let on_eoi = (0..chan.dfa_count()).any(|d| {
        let dfa = chan.dfa(d).expect("loads");
        let eoi = dfa.byte_classes().alphabet_len() - 1;
        (0..=255u8).any(|b| usize::from(dfa.byte_classes().get(b)) == eoi)
    });
    assert!(on_eoi, "the fixture no longer has a byte on the EOI column");
    let chans = [chan];
    let engine = Engine::new(&chans).expect("engine");
    let reference = Reference::new(&chans).expect("reference");
    let pipe = "\\\\.\\pipe\\MSAgent_ab C:\\Windows\\é";
    let vals: Vec<Value<'_>> = NAMED_PIPE_CREATE
        .fields
        .iter()
        .map(|f| match f.ty {
            FieldType::Str => Value::Str(pipe),
            FieldType::Int => Value::Int(4),
        })
        .collect();
    let ev = Event::from_values(NAMED_PIPE_CREATE.id, &vals).expect("shape");
    let (mut a, mut b) = (Verdict::new(), Verdict::new());
    engine.evaluate(&ev, &mut a);
    reference.evaluate(&ev, &mut b);
    assert!(!b.matches().is_empty(), "the reference finds the match");
    assert_eq!(a.matches(), b.matches());
}
