//! `pack_by_family` fills a file by the DFA bytes the writer lays out (its
//! groups measured), not by the sum of its regexes' own DFAs: a family that
//! forms groups takes fewer files, and every file, built with groups, stays
//! within the budget.

mod common;

use changuard_format::build::{
    BuildOptions, ChannelSpec, CriterionSpec, PackLimits, build_with, pack_by_family,
};
use changuard_format::schema::NAMED_PIPE_CREATE;
use changuard_format::{AlignedBytes, SCHEMA_ID, Trust, validate};
use common::*;

const GROUPED: BuildOptions = BuildOptions {
    group_regexes: true,
};

/// Pipe-name instance `id` with regex `pattern`.
fn pipe(id: u32, pattern: &str) -> changuard_format::build::InstanceSpec {
    let k = NAMED_PIPE_CREATE
        .field_index("pipe_name")
        .expect("pipe_name");
    let mut criteria = vec![CriterionSpec::Any; NAMED_PIPE_CREATE.input_count()];
    criteria[k] = CriterionSpec::Regex {
        pattern: pattern.into(),
        case_insensitive: false,
    };
    report(id, NAMED_PIPE_CREATE.id, criteria)
}

/// The DFA bytes stored in `file` built with groups (a group's DFA once),
/// and the sum of its regexes' own DFAs (what the writer lays out without
/// groups).
fn dfa_bytes(file: &[changuard_format::build::InstanceSpec]) -> (usize, usize) {
    let spec = ChannelSpec {
        channel: CHANNEL,
        version: 1,
        schema_id: SCHEMA_ID,
        instances: file.to_vec(),
    };
    let measure = |options: &BuildOptions| {
        let bytes = build_with(&spec, &key(), options).expect("builds");
        let buf = AlignedBytes::from_slice(&bytes);
        let keys = trusted();
        let chan = validate(&buf[..], &Trust::new(&keys), CHANNEL).expect("valid");
        (0..chan.dfa_count())
            .filter(|&d| chan.dfa_group(d).flatten().is_none_or(|g| g.pattern == 0))
            .map(|d| chan.dfa_bytes(d).map_or(0, <[u8]>::len))
            .sum::<usize>()
    };
    (measure(&GROUPED), measure(&BuildOptions::default()))
}

#[test]
fn a_family_that_groups_fills_files_by_its_group_not_its_regexes() {
    // One family (shared literal `\postex_`), tails of growing length: a
    // group of them is about the size of the longest one's own DFA.
    let insts: Vec<_> = (1..=24)
        .map(|k| pipe(k, &format!(r"\\postex_[0-9a-f]{{{k}}}$")))
        .collect();
    let whole = dfa_bytes(&insts);
    assert!(whole.0 * 3 < whole.1, "the family groups: {whole:?}");
    // A budget the sum of own DFAs is four times over, the group is not.
    let budget = whole.1 / 4;
    assert!(whole.0 <= budget, "{whole:?} vs {budget}");
    let limits = PackLimits {
        dfa_bytes: budget,
        instances: usize::MAX,
    };
    let files = pack_by_family(&insts, limits).expect("pack");
    let mut ids: Vec<u32> = files.iter().flatten().map(|i| i.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=24).collect::<Vec<u32>>());
    // Counting own DFAs would take at least 4 files.
    assert!(files.len() < 4, "{} files", files.len());
    for f in &files {
        let (grouped, _) = dfa_bytes(f);
        assert!(grouped <= budget, "{grouped} > {budget}");
    }
}

#[test]
fn files_stay_within_the_budget_when_regexes_stay_single() {
    // A literal of its own per regex: the writer forms no group, so a
    // measured file is its regexes' sum and each file must stop there.
    let insts: Vec<_> = (1..=16)
        .map(|k| pipe(k, &format!(r"\\tool{k}x_[0-9a-f]{{{}}}$", 2 + k % 5)))
        .collect();
    let whole = dfa_bytes(&insts);
    assert_eq!(whole.0, whole.1, "no group");
    let budget = whole.1 / 3;
    let limits = PackLimits {
        dfa_bytes: budget,
        instances: usize::MAX,
    };
    let files = pack_by_family(&insts, limits).expect("pack");
    assert!(files.len() >= 3, "{} files", files.len());
    assert_eq!(files.iter().map(Vec::len).sum::<usize>(), 16);
    for f in &files {
        let (grouped, _) = dfa_bytes(f);
        assert!(grouped <= budget, "{grouped} > {budget}");
    }
}
