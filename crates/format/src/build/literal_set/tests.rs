use super::*;
use crate::build::regex::parse;
use regex_syntax::hir::literal::Seq;
use std::format;

/// The `windash|contains` of `n` options as the Sigma importer writes it:
/// ` [\-/–—―][Aa] [\-/–—―][Bb] ...`, whose prefix sets reach the
/// extractor's 1,024-member limit at a hundred lengths.
fn dashes(n: usize) -> String {
    let mut p = String::from(" ");
    for i in 0..n {
        let c = char::from(b'a' + (i % 26) as u8);
        p += &format!(
            "[\\-/\u{2013}\u{2014}\u{2015}][{}{c}] ",
            c.to_ascii_uppercase()
        );
    }
    p
}

#[test]
fn a_rule_of_many_dashes_stops_at_the_work_budget() {
    let hir = parse(&dashes(40), false).unwrap();
    // Unbounded, this pattern asks for more than the budget: the budget bites.
    let (_, unbounded) =
        literal_set_within(&hir, false, limits::MAX_LITERAL_SET as usize, usize::MAX);
    assert!(unbounded > MAX_SET_WORK, "{unbounded}");
    let (_, spent) =
        literal_set_within(&hir, false, limits::MAX_LITERAL_SET as usize, MAX_SET_WORK);
    assert!(spent <= MAX_SET_WORK, "{spent}");
    // Eight options stay inside it, and give the same set either way.
    let hir = parse(&dashes(8), false).unwrap();
    let max = limits::MAX_LITERAL_SET as usize;
    let (bounded, spent) = literal_set_within(&hir, false, max, MAX_SET_WORK);
    let (unbounded, _) = literal_set_within(&hir, false, max, usize::MAX);
    assert!(spent < MAX_SET_WORK, "{spent}");
    assert!(bounded.is_some());
    assert_eq!(bounded, unbounded);
}

/// [`set_members`]'s containment rule, pair by pair.
fn members_by_pairs(lits: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut all = lits.to_vec();
    all.sort();
    all.dedup();
    all.iter()
        .filter(|m| {
            !all.iter()
                .any(|o| o != *m && m.windows(o.len()).any(|w| w == o.as_slice()))
        })
        .cloned()
        .collect()
}

#[test]
fn set_members_drops_exactly_the_members_containing_another() {
    // A small alphabet makes containment common.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut dropped = 0;
    for _ in 0..2_000 {
        let lits: Vec<Vec<u8>> = (0..1 + next(12))
            .map(|_| {
                (0..SET_MEMBER_MIN as u64 + next(5))
                    .map(|_| b"ab"[next(2) as usize])
                    .collect()
            })
            .collect();
        let seq = Seq::new(&lits);
        let got = set_members(&seq, false).unwrap();
        let want = members_by_pairs(&lits);
        dropped += lits.len() - got.len();
        assert_eq!(got, want, "{lits:?}");
    }
    assert!(dropped > 1_000, "{dropped}");
}
