//! The scan of a regex group: one unanchored walk of a field with a
//! multi-pattern DFA (`MatchKind::All`) that collects every pattern matching
//! anywhere in it. Allocates nothing; a quit state is an error, never a
//! panic.

use super::*;

/// One unanchored scan of `s` with a group's DFA: bit `p` is set when pattern
/// `p` matches somewhere in `s` (the DFA is `MatchKind::All`, so every match
/// state on the way holds every pattern ending there). `None` on a quit
/// state (a search error, counted as a fault). One transition per byte plus
/// the end-of-input one; the patterns of a match state are read only when
/// the scan enters it from another state.
///
/// No acceleration: skipping through accelerated states with `memchr` was
/// measured slower on pipe names (short fields: the call costs more than the
/// bytes it skips) and no faster on command lines (case-insensitive families
/// leave the start state on more than three bytes).
#[inline]
pub(super) fn group_scan(dfa: &DFA<&[u32]>, s: &[u8]) -> Option<u64> {
    let mut sid = dfa.start_state_forward(&Input::new(s)).ok()?;
    let mut mask = 0u64;
    let mut last = None;
    let mut note = |sid: StateID, mask: &mut u64| {
        if last != Some(sid) {
            last = Some(sid);
            for i in 0..dfa.match_len(sid) {
                let p = dfa.match_pattern(sid, i).as_u32();
                *mask |= 1u64.checked_shl(p).unwrap_or(0);
            }
        }
    };
    for &b in s {
        sid = dfa.next_state(sid, b);
        if dfa.is_special_state(sid) {
            if dfa.is_match_state(sid) {
                note(sid, &mut mask);
            } else if dfa.is_dead_state(sid) {
                return Some(mask);
            } else if dfa.is_quit_state(sid) {
                return None;
            }
        }
    }
    let eoi = dfa.next_eoi_state(sid);
    if dfa.is_match_state(eoi) {
        note(eoi, &mut mask);
    } else if dfa.is_quit_state(eoi) {
        return None;
    }
    Some(mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use changuard_format::regex_automata::MatchKind;
    use changuard_format::regex_automata::dfa::{StartKind, dense};
    use proptest::prelude::*;

    const PATTERNS: [&str; 4] = ["qx[0-9]+z", "qq.*end", "zebra", "z[a-c]{3}q"];

    /// PATTERNS as one group DFA, configured as the writer builds groups.
    fn group() -> dense::DFA<Vec<u32>> {
        dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Unanchored)
                    .match_kind(MatchKind::All),
            )
            .build_many(&PATTERNS)
            .expect("group DFA")
    }

    /// The oracle: each pattern on its own, by regex-automata's search.
    fn expected(s: &[u8]) -> u64 {
        let mut mask = 0;
        for (p, pat) in PATTERNS.iter().enumerate() {
            let one = dense::DFA::new(pat).expect("single DFA");
            if one
                .try_search_fwd(&Input::new(s))
                .expect("search")
                .is_some()
            {
                mask |= 1 << p;
            }
        }
        mask
    }

    #[test]
    fn finds_patterns_after_a_long_run_of_other_bytes() {
        let g = group();
        let dfa = g.as_ref();
        let start = dfa.start_state_forward(&Input::new("")).expect("start");
        assert!(
            dfa.is_accel_state(start),
            "the property below would not skip"
        );
        let mut s = [b'.'; 300].to_vec();
        s.extend_from_slice(b"qx42z and then zebra");
        assert_eq!(group_scan(&dfa, &s), Some(0b101));
        assert_eq!(group_scan(&dfa, &s[..300]), Some(0));
    }

    proptest! {
        #[test]
        fn group_scan_is_every_pattern_searched_alone(s in proptest::collection::vec(
            prop_oneof![Just(b'q'), Just(b'x'), Just(b'z'), Just(b'e'), Just(b'n'),
                Just(b'd'), Just(b'0'), Just(b'.'), Just(b'a'), Just(b'b'), Just(b'r'),
                Just(b'\n')],
            0..80,
        )) {
            let g = group();
            prop_assert_eq!(group_scan(&g.as_ref(), &s), Some(expected(&s)));
        }
    }
}
