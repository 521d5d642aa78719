use super::*;
use crate::Action;
use crate::build::CriterionSpec;
use crate::schema::PROCESS_CREATE;
use proptest::prelude::*;
use std::format;
use std::string::ToString;

/// A ProcessCreate instance whose command line is `pattern` (`None`: no
/// regex, a `contains` test instead).
fn inst(id: u32, pattern: Option<&str>) -> InstanceSpec {
    let pc = &PROCESS_CREATE;
    let mut criteria = std::vec![CriterionSpec::Any; pc.input_count()];
    let field = pc.field_index("command_line").expect("field");
    criteria[field] = match pattern {
        Some(p) => CriterionSpec::Regex {
            pattern: p.to_string(),
            case_insensitive: true,
        },
        None => CriterionSpec::Str {
            op: crate::StrOp::Contains,
            value: "x".to_string(),
            case_insensitive: true,
        },
    };
    InstanceSpec {
        id,
        template: pc.id,
        action: Action::Report,
        criteria,
        also: Vec::new(),
        unless: Vec::new(),
        metadata: Default::default(),
    }
}

const FAMILIES: [&str; 3] = ["postex", "msagent", "certutil"];

/// Pattern `k`: family `k % 3`, a tail of its own.
fn pattern(k: usize) -> String {
    format!(r"{}_[0-9a-f]{{{}}}$", FAMILIES[k % 3], 1 + k / 3)
}

/// The family literal of pattern `p` (its first word).
fn family_of(p: &InstanceSpec) -> Option<&str> {
    p.criteria.iter().find_map(|c| match c {
        CriterionSpec::Regex { pattern, .. } => pattern.split('_').next(),
        _ => None,
    })
}

fn ids(files: &[Vec<InstanceSpec>]) -> Vec<u32> {
    let mut all: Vec<u32> = files.iter().flatten().map(|i| i.id).collect();
    all.sort_unstable();
    all
}

#[test]
fn an_interleaved_family_set_is_packed_one_family_per_file() {
    // Authored interleaved: cut into files of 10 in order, every file
    // would hold all three families (three group scans per literal hit
    // over the set instead of one).
    let insts: Vec<InstanceSpec> = (0..30)
        .map(|k| inst(k as u32 + 1, Some(&pattern(k))))
        .collect();
    let limits = PackLimits {
        dfa_bytes: usize::MAX,
        instances: 10,
    };
    let files = pack_by_family(&insts, limits).expect("pack");
    assert_eq!(files.len(), 3);
    for f in &files {
        assert_eq!(f.len(), 10);
        let fam = family_of(&f[0]);
        assert!(f.iter().all(|i| family_of(i) == fam), "{f:?}");
        assert!(f.windows(2).all(|w| w[0].id < w[1].id), "ids in order");
    }
    assert_eq!(ids(&files), (1..=30).collect::<Vec<u32>>());
}

// The DFA budget, checked against files the writer builds: tests/pack.rs.

#[test]
fn an_instance_over_the_budget_gets_a_file_of_its_own() {
    let insts = std::vec![
        inst(1, Some("postex_[0-9a-f]{2}$")),
        inst(2, Some("postex_[0-9a-f]{3}$")),
    ];
    let limits = PackLimits {
        dfa_bytes: 1,
        instances: usize::MAX,
    };
    let files = pack_by_family(&insts, limits).expect("pack");
    assert_eq!(files.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1]);
}

#[test]
fn a_bad_regex_is_named_by_its_position() {
    let insts = std::vec![inst(7, None), inst(9, Some("(unclosed"))];
    match pack_by_family(&insts, PackLimits::DEFAULT) {
        Err(BuildError::Regex {
            instance, pattern, ..
        }) => {
            assert_eq!(instance, 1);
            assert_eq!(pattern, "(unclosed");
        }
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Packing places every instance exactly once, each file within the
    /// instance limit and in id order, and each family in as few files as
    /// the limit allows: a family of `m` instances spans at most
    /// `ceil(m / limit) + 1` files (it may start in a file the previous
    /// family left room in).
    #[test]
    fn packing_is_a_partition_that_keeps_families_together(
        fams in proptest::collection::vec(0usize..4, 1..40),
        per in 1usize..8,
    ) {
        let insts: Vec<InstanceSpec> = fams
            .iter()
            .enumerate()
            .map(|(k, &f)| {
                let p = match f {
                    3 => None,
                    f => Some(format!(r"{}_[0-9]{{{}}}", FAMILIES[f], 1 + k % 5)),
                };
                inst(k as u32 + 1, p.as_deref())
            })
            .collect();
        let limits = PackLimits { dfa_bytes: usize::MAX, instances: per };
        let files = pack_by_family(&insts, limits).expect("pack");
        prop_assert_eq!(ids(&files), (1..=insts.len() as u32).collect::<Vec<u32>>());
        for f in &files {
            prop_assert!(!f.is_empty() && f.len() <= per);
            prop_assert!(f.windows(2).all(|w| w[0].id < w[1].id));
        }
        let wanted = FAMILIES.iter().map(|&f| Some(f)).chain([None]);
        for (fam, want) in wanted.enumerate() {
            let m = fams.iter().filter(|&&f| f == fam).count();
            let spans = files
                .iter()
                .filter(|f| f.iter().any(|i| family_of(i) == want))
                .count();
            prop_assert!(spans <= m.div_ceil(per) + 1, "family {fam}: {m} in {spans} files");
        }
    }
}
