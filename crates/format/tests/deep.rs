//! What runs is what is shown (issue 13 item 3): `deep::deep_check` recompiles
//! every DFA from the source the file shows for it. A DFA whose pattern index
//! points at another string validates (the kernel cannot compile regexes) but
//! fails the deep check, as does a forged literal hint.

mod common;

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, build, raw, sign};
use changuard_format::schema::NAMED_PIPE_CREATE;
use changuard_format::{Action, FieldType, SCHEMA_ID, StrOp};
use changuard_format::deep::{Difference, deep_check};
use changuard_format::layout::{self, dfa_entry as de};
use changuard_format::{AlignedBytes, Trust, ValidChannel, validate};
use common::*;

fn valid(b: &[u8]) -> ValidChannel<AlignedBytes> {
    let keys = trusted();
    validate(AlignedBytes::from_slice(b), &Trust::new(&keys), CHANNEL).expect("validates")
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    assert!(raw::put(b, at, &v.to_le_bytes()));
}

/// Pipe-name rules: two regexes with required literals, and a plain needle
/// (another string a forged pattern index can point at).
fn pipes() -> Vec<u8> {
    let on_name = |c: CriterionSpec| -> Vec<CriterionSpec> {
        let mut v = vec![CriterionSpec::Any; NAMED_PIPE_CREATE.fields.len()];
        let k = NAMED_PIPE_CREATE.fields.iter().position(|f| f.ty == FieldType::Str).unwrap();
        v[k] = c;
        v
    };
    let regex = |p: &str| CriterionSpec::Regex { pattern: p.into(), case_insensitive: false };
    let spec = ChannelSpec {
        channel: CHANNEL,
        version: 3,
        schema_id: SCHEMA_ID,
        instances: vec![
            InstanceSpec { id: 1, template: NAMED_PIPE_CREATE.id, action: Action::Report, criteria: on_name(regex(r"\\msagent_[0-9a-f]{2}")) },
            InstanceSpec { id: 2, template: NAMED_PIPE_CREATE.id, action: Action::Report, criteria: on_name(regex(r"postex_[0-9a-f]{4}")) },
            InstanceSpec {
                id: 3,
                template: NAMED_PIPE_CREATE.id,
                action: Action::Report,
                criteria: on_name(CriterionSpec::Str { op: StrOp::Contains, value: r"\psexesvc".into(), case_insensitive: true }),
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
fn a_pattern_index_swap_validates_but_fails_the_deep_check() {
    let b = pipes();
    let v = valid(&b);
    let e = raw::dfa_entry(&b, 0).unwrap();
    let shown = v.dfa_pattern(0).unwrap().to_string();
    // Any other string: the validator only checks the index is in range.
    let other = (0..v.string_count())
        .find(|&s| v.string(s).is_some_and(|t| t != shown && !t.is_empty()))
        .unwrap();
    let mut m = b.clone();
    put_u32(&mut m, e + de::PATTERN.start, other);
    sign(&mut m, &key()).unwrap();
    let forged = valid(&m);
    let now_shown = forged.dfa_pattern(0).unwrap().to_string();
    assert_ne!(now_shown, shown, "inspect now shows another source");
    let r = deep_check(&forged).unwrap_err();
    assert_eq!((r.dfa, r.pattern.as_str()), (0, now_shown.as_str()), "{r}");
    assert!(
        matches!(r.what, Difference::DfaBytes { .. } | Difference::Uncompilable(_)),
        "{r:?}"
    );
}

#[test]
fn a_dropped_literal_hint_fails_the_deep_check() {
    let b = pipes();
    let v = valid(&b);
    let i = (0..v.dfa_count())
        .find(|&i| matches!(v.dfa_literal(i), Some(Some(_))))
        .expect("a DFA with a literal hint");
    let e = raw::dfa_entry(&b, i as usize).unwrap();
    let mut m = b.clone();
    put_u32(&mut m, e + de::LITERAL.start, layout::NO_LITERAL);
    // The folded flag only means something with a literal; clear it with it.
    let flags = u32::from_le_bytes(m[e + de::FLAGS.start..e + de::FLAGS.start + 4].try_into().unwrap());
    put_u32(&mut m, e + de::FLAGS.start, flags & !layout::DFA_FLAG_LITERAL_FOLDED);
    sign(&mut m, &key()).unwrap();
    let keys = trusted();
    let forged = validate(AlignedBytes::from_slice(&m), &Trust::new(&keys), CHANNEL)
        .expect("a hint is the signer's claim: the kernel validator cannot recompute it");
    let r = deep_check(&forged).unwrap_err();
    assert_eq!(r.dfa, i, "{r}");
    assert!(matches!(r.what, Difference::Literal { signed: None, rebuilt: Some(_) }), "{r:?}");
}
