mod common;

use changuard_format::build::{CriterionSpec, build, to_spec};
use changuard_format::schema::NAMED_PIPE_CREATE;
use changuard_format::{AlignedBytes, Rule, Trust, validate};
use common::*;

#[test]
fn built_content_validates_and_decodes_to_its_spec() {
    let bytes = AlignedBytes::from_slice(&built());
    let keys = trusted();
    let v = validate(&bytes[..], &Trust::new(&keys), CHANNEL).expect("valid");
    assert_eq!(v.instance_count(), 4);
    assert_eq!(v.instances().count(), 4);
    assert!(v.dfa_count() >= 1);
    for d in 0..v.dfa_count() {
        assert!(v.dfa(d).is_some());
    }
    let mut want = spec();
    for i in &mut want.instances {
        for c in &mut i.criteria {
            if let CriterionSpec::Str {
                value,
                case_insensitive: true,
                ..
            } = c
            {
                *value = value.to_ascii_lowercase();
            }
        }
    }
    assert_eq!(to_spec(&v).expect("decodes"), want);
}

#[test]
fn replay_291_21_criteria_rejected() {
    for wildcard in [false, true] {
        let mut s = spec();
        let extra = if wildcard {
            CriterionSpec::Any
        } else {
            CriterionSpec::Str {
                op: changuard_format::StrOp::Contains,
                value: "x".into(),
                case_insensitive: false,
            }
        };
        s.instances[1].criteria.push(extra);
        assert_eq!(s.instances[1].template, NAMED_PIPE_CREATE.id);
        let bytes = AlignedBytes::from_slice(&build(&s, &key()).expect("faithful"));
        let keys = trusted();
        let r = validate(&bytes[..], &Trust::new(&keys), CHANNEL).expect_err("21 criteria");
        assert_eq!(r.rule, Rule::CriteriaCountMismatch);
        assert_eq!((r.expected, r.found), (20, 21));
        assert_eq!(r.instance, Some(1));
        let at = changuard_format::build::raw::instance(&bytes, 1).unwrap()
            + changuard_format::layout::instance::CRITERIA_COUNT.start;
        assert_eq!(r.offset, at as u64);
        assert_eq!(
            r.to_string(),
            format!(
                "criteria-count-mismatch at offset {at:#x}: template NamedPipeCreate instance 1: 21 criteria, sensor supplies 20"
            )
        );
    }
}
