//! Regex groups (issue 12 item 2): the writer shares one multi-pattern DFA
//! between regexes of one template field with one literal, the validator checks
//! every group rule (rule `regex-group`), the cost bound counts one scan per
//! group, and the deep check recompiles groups.

mod common;

use changuard_format::build::{
    BuildOptions, ChannelSpec, CriterionSpec, build, build_with, raw, sign, to_spec,
};
use changuard_format::deep::deep_check;
use changuard_format::layout::{self, SectionKind, dfa_entry as de};
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE};
use changuard_format::{AlignedBytes, Rejection, Rule, SCHEMA_ID, Trust, ValidChannel, validate};
use common::*;

const GROUPED: BuildOptions = BuildOptions {
    group_regexes: true,
};

/// `n` NamedPipeCreate instances, each with one regex on `pipe_name`
/// (families sharing a literal, as IOC sets do).
fn pipes(n: u32) -> ChannelSpec {
    let patterns: Vec<String> = (0..n)
        .map(|i| {
            let family = ["postex_", "msagent_"][i as usize % 2];
            format!(r"\\{family}[0-9a-f]{{{}}}$", 1 + i)
        })
        .collect();
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    pipe_regexes(&patterns)
}

/// `b` validated (the buffer is copied into an aligned one and leaked: tests only).
fn valid(b: &[u8]) -> Result<ValidChannel<&'static [u8]>, Rejection> {
    let keys = trusted();
    let buf: &'static AlignedBytes = Box::leak(Box::new(AlignedBytes::from_slice(b)));
    validate(&buf[..], &Trust::new(&keys), CHANNEL)
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn expect(b: &[u8], rule: Rule, at: usize) {
    let r = valid(b)
        .err()
        .unwrap_or_else(|| panic!("accepted; wanted {rule:?}"));
    assert_eq!((r.rule, r.offset), (rule, at as u64), "{r}");
}

#[test]
fn the_writer_groups_the_regexes_of_one_field_by_literal() {
    let spec = pipes(15);
    let single = build(&spec, &key()).unwrap();
    let grouped = build_with(&spec, &key(), &GROUPED).unwrap();
    let (s, g) = (valid(&single).unwrap(), valid(&grouped).unwrap());
    assert_eq!(s.dfa_count(), 15);
    assert_eq!(g.dfa_count(), 15, "one entry per regex either way");
    let groups: Vec<_> = (0..15).map(|d| g.dfa_group(d).unwrap().unwrap()).collect();
    // Two families (literals `\\postex_`, `\\msagent_`): two groups, numbered
    // at their first use, members in pattern-source order.
    for (d, x) in groups.iter().enumerate() {
        let first = if d < 8 { 0 } else { 8 };
        assert_eq!(x.first, first, "{groups:?}");
        assert_eq!(usize::from(x.pattern), d - first as usize);
        assert_eq!(x.template, NAMED_PIPE_CREATE.id);
        assert_eq!(g.dfa_bytes(d as u32), g.dfa_bytes(first), "shared blob");
        if d != first as usize {
            assert!(g.dfa_pattern(d as u32 - 1) < g.dfa_pattern(d as u32));
        }
        let family = if d < 8 { "postex_" } else { "msagent_" };
        assert!(g.dfa_pattern(d as u32).unwrap().contains(family));
    }
    let (_, glen, _) = raw::section(&grouped, SectionKind::Dfas).unwrap();
    let (_, slen, _) = raw::section(&single, SectionKind::Dfas).unwrap();
    assert!(glen < slen, "grouped DFAs {glen} bytes vs single {slen}");
    // One scan per group instead of one per regex: a lower proven bound.
    let t = NAMED_PIPE_CREATE.id;
    let (bs, bg) = (s.cost_bound().of(t).unwrap(), g.cost_bound().of(t).unwrap());
    assert!(bg < bs, "grouped bound {bg} vs single {bs}");
    // The deep check recompiles the group and accepts it; to_spec drops the
    // grouping (derived) and build_with restores it byte for byte.
    assert_eq!(deep_check(&g), Ok(15));
    assert_eq!(
        build_with(&to_spec(&g).unwrap(), &key(), &GROUPED).unwrap(),
        grouped
    );
    assert_eq!(build(&to_spec(&g).unwrap(), &key()).unwrap(), single);
}

/// Regexes with literal sets (docs/FORMAT.md, "Literal sets") form a group
/// of their own when no regex of their field lacks both a literal and a set;
/// otherwise they stay single, each anchored on its own set, rather than
/// join that one's group (scanned every event).
#[test]
fn regexes_with_literal_sets_group_apart_only_without_literal_free_ones() {
    let spec = |patterns: &[&str]| pipe_regexes(patterns);
    let sets = [
        r"\\(postex|msagent)_[0-9a-f]{1}$",
        r"\\(postex|msagent)_[0-9a-f]{2}$",
        r"\\(postex|msagent)_[0-9a-f]{3}$",
    ];
    // Sets only: one group, its members' hints all sets.
    let b = build_with(&spec(&sets), &key(), &GROUPED).unwrap();
    let v = valid(&b).unwrap();
    let groups: Vec<_> = (0..3)
        .map(|d| v.dfa_group(d).unwrap().map(|g| g.first))
        .collect();
    assert_eq!(groups, [Some(0); 3]);
    assert!((0..3).all(|d| v.dfa_literal(d).unwrap().is_some_and(|h| h.set)));
    // With regexes that have neither: those two form a group, the set
    // regexes stay single.
    let mut mixed = sets.to_vec();
    mixed.push(r"\\[0-9a-f]{4}$");
    mixed.push(r"\\[0-9a-f]{5}$");
    let b = build_with(&spec(&mixed), &key(), &GROUPED).unwrap();
    let v = valid(&b).unwrap();
    let groups: Vec<_> = (0..5)
        .map(|d| v.dfa_group(d).unwrap().map(|g| g.first))
        .collect();
    assert_eq!(groups, [None, None, None, Some(3), Some(3)]);
    assert_eq!(deep_check(&v), Ok(5));
}

/// A group of regexes with literal sets keeps the union of their sets
/// within what an interpreter anchors on (`limits::GROUP_SET_MEMBERS`):
/// five regexes of 16 distinct members each make a group of four (64
/// members) and leave the fifth single.
#[test]
fn set_groups_keep_their_union_within_the_interpreter_cap() {
    let patterns: Vec<String> = (0..5)
        .map(|r| {
            // No prefix or suffix common to the branches (no single literal).
            let branches: Vec<String> = (0u8..16)
                .map(|b| {
                    let (first, last) = (char::from(b'a' + b), char::from(b'p' + b % 8));
                    format!("{first}{:02}{last}", r * 16 + usize::from(b))
                })
                .collect();
            format!(r"\\({})_[0-9a-f]{{2}}$", branches.join("|"))
        })
        .collect();
    let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let b = build_with(&pipe_regexes(&patterns), &key(), &GROUPED).unwrap();
    let v = valid(&b).unwrap();
    assert!((0..5).all(|d| v.dfa_literal(d).unwrap().is_some_and(|h| h.set)));
    let groups: Vec<_> = (0..5)
        .map(|d| v.dfa_group(d).unwrap().map(|g| g.first))
        .collect();
    assert_eq!(groups, [Some(0), Some(0), Some(0), Some(0), None]);
}

/// One NamedPipeCreate instance per pattern, a case-sensitive regex on the
/// pipe name.
fn pipe_regexes(patterns: &[&str]) -> ChannelSpec {
    let k = NAMED_PIPE_CREATE
        .field_index("pipe_name")
        .expect("pipe_name");
    ChannelSpec {
        channel: CHANNEL,
        version: 1,
        schema_id: SCHEMA_ID,
        instances: patterns
            .iter()
            .zip(1..)
            .map(|(p, id)| {
                let mut criteria = vec![CriterionSpec::Any; NAMED_PIPE_CREATE.input_count()];
                criteria[k] = CriterionSpec::Regex {
                    pattern: (*p).into(),
                    case_insensitive: false,
                };
                report(id, NAMED_PIPE_CREATE.id, criteria)
            })
            .collect(),
    }
}

#[test]
fn a_regex_used_on_two_fields_or_with_another_case_mode_is_not_grouped() {
    let mut spec = pipes(6);
    // Instance 2's regex also used by a ProcessCreate instance: two owners.
    let shared = spec.instances[2].criteria.clone();
    let pattern = shared
        .iter()
        .find_map(|c| match c {
            CriterionSpec::Regex { pattern, .. } => Some(pattern.clone()),
            _ => None,
        })
        .unwrap();
    let mut criteria = vec![CriterionSpec::Any; PROCESS_CREATE.input_count()];
    criteria[0] = CriterionSpec::Regex {
        pattern,
        case_insensitive: false,
    };
    spec.instances
        .push(report(100, PROCESS_CREATE.id, criteria));
    let g = valid(&build_with(&spec, &key(), &GROUPED).unwrap()).unwrap();
    let firsts: Vec<_> = (0..g.dfa_count())
        .map(|d| g.dfa_group(d).unwrap().map(|x| x.first))
        .collect();
    // postex_: instances 0 and 4 (instance 2's regex has two owners);
    // msagent_: 1, 3, 5; then the shared one, single.
    assert_eq!(firsts, [Some(0), Some(0), Some(2), Some(2), Some(2), None]);
}

/// The entry offset of DFA `d`.
fn ent(b: &[u8], d: usize) -> usize {
    raw::dfa_entry(b, d).unwrap()
}

/// Clear DFA entry `d`'s GROUPED flag in `b` (its group word stays).
fn ungroup(b: &mut [u8], d: usize) {
    let at = ent(b, d) + de::FLAGS.start;
    let flags = get_u32(b, at);
    put_u32(b, at, flags & !layout::DFA_FLAG_GROUPED);
}

#[test]
fn every_group_rule_is_checked() {
    let good = build_with(&pipes(4), &key(), &GROUPED).unwrap();
    valid(&good).expect("valid");
    let word = |b: &[u8], d| get_u32(b, ent(b, d) + de::GROUP.start);
    // Two groups of two (postex_: entries 0, 1; msagent_: 2, 3).
    // A member that skips a pattern id.
    let mut b = good.clone();
    put_u32(&mut b, ent(&good, 1) + de::GROUP.start, word(&good, 1) + 1);
    sign(&mut b, &key()).unwrap();
    expect(&b, Rule::RegexGroup, ent(&good, 1) + de::GROUP.start);
    // A member that points at another blob.
    let mut b = good.clone();
    put_u32(&mut b, ent(&good, 1) + de::OFFSET.start, 0);
    sign(&mut b, &key()).unwrap();
    expect(&b, Rule::RegexGroup, ent(&good, 1) + de::OFFSET.start);
    // A member without the grouped flag (its word is then a reserved field).
    let mut b = good.clone();
    ungroup(&mut b, 3);
    sign(&mut b, &key()).unwrap();
    expect(&b, Rule::ReservedNonZero, ent(&good, 3) + de::GROUP.start);
    // A group declared for another field than its criteria test: caught at
    // the first criterion using it.
    let mut b = good.clone();
    for d in 0..4 {
        put_u32(
            &mut b,
            ent(&good, d) + de::GROUP.start,
            word(&good, d) + 0x100,
        );
    }
    sign(&mut b, &key()).unwrap();
    let at = raw::instance_criterion(&good, 0, 0).unwrap();
    let k = NAMED_PIPE_CREATE.field_index("pipe_name").unwrap();
    let at = raw::instance_criterion(&good, 0, k).unwrap_or(at) + layout::criterion::INDEX.start;
    expect(&b, Rule::RegexGroup, at);
}

#[test]
fn a_run_shorter_than_its_dfa_and_too_many_groups_are_rejected() {
    // The last member of a 2-pattern group made a single entry: the group's
    // run is 1 entry on a 2-pattern DFA, rejected at its first entry.
    let good = build_with(&pipes(4), &key(), &GROUPED).unwrap();
    let mut b = good.clone();
    put_u32(&mut b, ent(&good, 3) + de::GROUP.start, 0);
    ungroup(&mut b, 3);
    sign(&mut b, &key()).unwrap();
    expect(&b, Rule::RegexGroup, ent(&good, 2));

    // 17 groups for one template type: the writer stops at 16 (the rest stay
    // single), so a file with 17 is forged from one with 16 + a pair.
    let spec = ChannelSpec {
        instances: (0..40)
            .map(|i| {
                let mut inst = pipes(1).instances.remove(0);
                inst.id = i + 1;
                let k = NAMED_PIPE_CREATE.field_index("pipe_name").unwrap();
                // The case mode alternates every two regexes, so the runs
                // the writer can group are pairs: 20 of them.
                inst.criteria[k] = CriterionSpec::Regex {
                    pattern: format!(r"\\g{}_[a-z]{{{}}}", i / 2, 1 + i % 2),
                    case_insensitive: (i / 2) % 2 == 1,
                };
                inst
            })
            .collect(),
        ..pipes(0)
    };
    let built = build_with(&spec, &key(), &GROUPED).unwrap();
    let v = valid(&built).unwrap();
    let groups = (0..v.dfa_count())
        .filter(|&d| v.dfa_group(d).unwrap().is_some_and(|g| g.pattern == 0))
        .count();
    assert_eq!(groups, 16, "the writer's cap");
    // The first single after the 16 groups (entries 32, 33: a pair of one
    // case mode) made into a group of two: the 17th.
    let mut b = built.clone();
    assert_eq!(v.dfa_group(32).unwrap(), None);
    let w0 = get_u32(&built, ent(&built, 0) + de::GROUP.start) & !0xff;
    for (d, pid) in [(32usize, 0u32), (33, 1)] {
        let f = get_u32(&built, ent(&built, d) + de::FLAGS.start);
        put_u32(
            &mut b,
            ent(&built, d) + de::FLAGS.start,
            f | layout::DFA_FLAG_GROUPED,
        );
        put_u32(&mut b, ent(&built, d) + de::GROUP.start, w0 | pid);
    }
    sign(&mut b, &key()).unwrap();
    expect(&b, Rule::RegexGroup, ent(&built, 32) + de::GROUP.start);
}

#[test]
fn members_out_of_order_are_another_encoding() {
    // Groups of two: postex_ (entries 0, 1), msagent_ (2, 3). Swapping the
    // sources of entries 0 and 1 (their DFA then no longer matches its
    // shown order) is caught by the first-use walk: entry 0 names a string
    // the writer numbered later.
    let good = build_with(&pipes(4), &key(), &GROUPED).unwrap();
    let at = |d| ent(&good, d) + de::PATTERN.start;
    let (p0, p1) = (get_u32(&good, at(0)), get_u32(&good, at(1)));
    let mut b = good.clone();
    put_u32(&mut b, at(0), p1);
    put_u32(&mut b, at(1), p0);
    sign(&mut b, &key()).unwrap();
    expect(&b, Rule::FirstUseOrder, at(0));
}
