//! What runs is what is shown (issue 13 item 3): `deep::deep_check` recompiles
//! every DFA from the source the file shows for it. A DFA whose pattern index
//! points at another string validates (the kernel cannot compile regexes) but
//! fails the deep check, as does a forged literal hint.

mod common;

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, build, raw, sign};
use changuard_format::deep::{Difference, deep_check};
use changuard_format::layout::{self, dfa_entry as de};
use changuard_format::schema::NAMED_PIPE_CREATE;
use changuard_format::{Action, FieldType, SCHEMA_ID, StrOp};
use changuard_format::{AlignedBytes, Rule, Trust, ValidChannel, validate};
use common::*;

fn valid(b: &[u8]) -> ValidChannel<AlignedBytes> {
    let keys = trusted();
    validate(AlignedBytes::from_slice(b), &Trust::new(&keys), CHANNEL).expect("validates")
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    assert!(raw::put(b, at, &v.to_le_bytes()));
}

/// The criteria of a NamedPipeCreate instance: `c` on its first string
/// field, wildcards elsewhere.
fn on_name(c: CriterionSpec) -> Vec<CriterionSpec> {
    let mut v = vec![CriterionSpec::Any; NAMED_PIPE_CREATE.fields.len()];
    let k = NAMED_PIPE_CREATE
        .fields
        .iter()
        .position(|f| f.ty == FieldType::Str)
        .unwrap();
    v[k] = c;
    v
}

/// Pipe-name rules: two regexes with required literals, and a plain needle
/// (another string a forged pattern index can point at).
fn pipes() -> Vec<u8> {
    let regex = |p: &str| CriterionSpec::Regex {
        pattern: p.into(),
        case_insensitive: false,
    };
    let spec = ChannelSpec {
        channel: CHANNEL,
        version: 3,
        schema_id: SCHEMA_ID,
        instances: vec![
            InstanceSpec {
                also: Vec::new(),
                unless: Vec::new(),
                metadata: Default::default(),
                id: 1,
                template: NAMED_PIPE_CREATE.id,
                action: Action::Report,
                criteria: on_name(regex(r"\\msagent_[0-9a-f]{2}")),
            },
            InstanceSpec {
                also: Vec::new(),
                unless: Vec::new(),
                metadata: Default::default(),
                id: 2,
                template: NAMED_PIPE_CREATE.id,
                action: Action::Report,
                criteria: on_name(regex(r"postex_[0-9a-f]{4}")),
            },
            InstanceSpec {
                also: Vec::new(),
                unless: Vec::new(),
                metadata: Default::default(),
                id: 3,
                template: NAMED_PIPE_CREATE.id,
                action: Action::Report,
                criteria: on_name(CriterionSpec::Str {
                    op: StrOp::Contains,
                    value: r"\psexesvc".into(),
                    case_insensitive: true,
                }),
            },
        ],
    };
    build(&spec, &key()).expect("builds")
}

#[test]
fn builder_output_passes_the_deep_check() {
    let v = valid(&built());
    assert_eq!(deep_check(&v), Ok(v.dfa_count()));
    let v = valid(&pipes());
    assert!(v.dfa_count() >= 2, "the fixture has regexes");
    assert_eq!(deep_check(&v), Ok(v.dfa_count()));
}

#[test]
fn a_pattern_index_swap_is_rejected_by_the_validator() {
    // Strings are numbered in first-use order and all used, so pointing a
    // DFA at another string leaves one out of order (rule first-use-order).
    let b = pipes();
    let v = valid(&b);
    let e = raw::dfa_entry(&b, 0).unwrap();
    let shown = v.dfa_pattern(0).unwrap().to_string();
    let other = (0..v.string_count())
        .find(|&s| v.string(s).is_some_and(|t| t != shown && !t.is_empty()))
        .unwrap();
    let mut m = b.clone();
    put_u32(&mut m, e + de::PATTERN.start, other);
    sign(&mut m, &key()).unwrap();
    let keys = trusted();
    let r = validate(AlignedBytes::from_slice(&m), &Trust::new(&keys), CHANNEL).unwrap_err();
    assert_eq!(r.rule, Rule::FirstUseOrder, "{r}");
}

/// DFA flag bits 0..2 are the ones regex-automata reads but only recompiling
/// the source can judge: a toggled bit the validator (and `from_bytes`)
/// accepts is caught by the deep check, at the flags word.
#[test]
fn dfa_flag_bits_the_validator_accepts_fail_the_deep_check() {
    let b = pipes();
    let blob = raw::dfa_blob(&b, 0).unwrap();
    let keys = trusted();
    let mut deep_caught = 0;
    for bit in 0..3 {
        let mut m = b.clone();
        m[blob + layout::dfa_blob::FLAGS.start] ^= 1 << bit;
        sign(&mut m, &key()).unwrap();
        let Ok(v) = validate(AlignedBytes::from_slice(&m), &Trust::new(&keys), CHANNEL) else {
            continue;
        };
        let r = deep_check(&v).unwrap_err();
        assert_eq!(
            (r.dfa, &r.what),
            (
                0,
                &Difference::DfaBytes {
                    at: layout::dfa_blob::FLAGS.start
                }
            ),
            "{r}"
        );
        deep_caught += 1;
    }
    assert!(
        deep_caught > 0,
        "some flag bit passes the validator: the deep check is what catches it"
    );
}

/// Two criteria with the same needle share one string in the writer's output;
/// a file that stores it twice validates (the kernel validator does not search
/// for duplicates) but is a second encoding, and the deep check names it.
#[test]
fn a_duplicated_string_fails_the_deep_check() {
    let needle = |v: &str| {
        on_name(CriterionSpec::Str {
            op: StrOp::Contains,
            value: v.into(),
            case_insensitive: false,
        })
    };
    let spec = ChannelSpec {
        channel: CHANNEL,
        version: 4,
        schema_id: SCHEMA_ID,
        instances: vec![
            InstanceSpec {
                also: Vec::new(),
                unless: Vec::new(),
                metadata: Default::default(),
                id: 1,
                template: NAMED_PIPE_CREATE.id,
                action: Action::Report,
                criteria: needle("Pipe_A"),
            },
            InstanceSpec {
                also: Vec::new(),
                unless: Vec::new(),
                metadata: Default::default(),
                id: 2,
                template: NAMED_PIPE_CREATE.id,
                action: Action::Report,
                criteria: needle("Pipe_B"),
            },
        ],
    };
    let b = build(&spec, &key()).unwrap();
    assert_eq!(deep_check(&valid(&b)), Ok(0));
    let mut m = b.clone();
    let second = raw::string_bytes(&m, 1).unwrap();
    assert_eq!(&m[second..second + 6], b"Pipe_B");
    m[second + 5] = b'A';
    sign(&mut m, &key()).unwrap();
    let r = deep_check(&valid(&m)).unwrap_err();
    assert_eq!(r.what, Difference::Duplicate { index: 1, first: 0 }, "{r}");
    assert!(r.to_string().contains("appears twice"), "{r}");
}
