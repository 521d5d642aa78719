//! The scan of a regex group: one unanchored walk of a field with a
//! multi-pattern DFA (`MatchKind::All`) that collects every pattern matching
//! anywhere in it; and the same for several groups of one field at once, in
//! lockstep. Allocates nothing; a quit state is an error, never a panic.

use super::*;

/// One unanchored scan of `s` with a group's DFA: bit `p` is set when pattern
/// `p` matches somewhere in `s` (the DFA is `MatchKind::All`, so every match
/// state on the way holds every pattern ending there). `None` on a quit
/// state (a search error, counted as a fault). One transition per byte plus
/// the end-of-input one; the patterns of a match state are read only when
/// the scan enters it from another state. Stops once every pattern has
/// matched (for a regex of its own: at its first match).
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
    let mut note = |sid: StateID, mask: &mut u64| note_patterns(dfa, sid, &mut last, mask);
    let all = every_pattern(dfa);
    for &b in s {
        sid = dfa.next_state(sid, b);
        if dfa.is_special_state(sid) {
            if dfa.is_match_state(sid) {
                note(sid, &mut mask);
                if mask == all {
                    return Some(mask);
                }
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

/// Add the patterns of match state `sid` to `mask`, unless `sid` was the
/// last match state noted (`last`): a run of one match state is read once.
fn note_patterns(dfa: &DFA<&[u32]>, sid: StateID, last: &mut Option<StateID>, mask: &mut u64) {
    if *last != Some(sid) {
        *last = Some(sid);
        for i in 0..dfa.match_len(sid) {
            let p = dfa.match_pattern(sid, i).as_u32();
            *mask |= 1u64.checked_shl(p).unwrap_or(0);
        }
    }
}

/// Every pattern bit of `dfa`'s scan result (groups have at most 64).
fn every_pattern(dfa: &DFA<&[u32]>) -> u64 {
    u32::try_from(dfa.pattern_len())
        .ok()
        .and_then(|n| 1u64.checked_shl(n))
        .map_or(u64::MAX, |b| b.wrapping_sub(1))
}

/// Group scans of one field run together: up to this many DFAs step through
/// the field side by side. One DFA's walk waits on each transition's load
/// (the next state depends on it); independent walks overlap those waits.
/// Measured on the command-line groups (≈ 130 KB DFAs, 840-byte fields):
/// 1.7 ns per byte and DFA alone, 0.85 two at a time, 0.51 four, 0.42 eight.
pub(super) const LANES: usize = 8;

/// [`group_scan`] of each of `dfas` over `s`, in lockstep, into `out`
/// (`out[i]` for `dfas[i]`; entries past the shorter of the two untouched).
/// In batches of 8, 4 and 2 lanes, a last one alone.
pub(super) fn group_scans(dfas: &[&DFA<&[u32]>], s: &[u8], out: &mut [Option<u64>]) {
    let (mut dfas, mut out) = (dfas, out);
    // Bounded: each round takes at least one DFA.
    while let (Some(&first), Some(_)) = (dfas.first(), out.first()) {
        let took = if let Some(n) = lanes::<8>(dfas, s, out) {
            n
        } else if let Some(n) = lanes::<4>(dfas, s, out) {
            n
        } else if let Some(n) = lanes::<2>(dfas, s, out) {
            n
        } else {
            if let Some(o) = out.first_mut() {
                *o = group_scan(first, s);
            }
            1
        };
        dfas = dfas.get(took..).unwrap_or_default();
        out = out.get_mut(took..).unwrap_or_default();
    }
}

/// The first `N` of `dfas` scanned in lockstep into `out`, when there are
/// `N` of both; else `None` and nothing done.
fn lanes<const N: usize>(
    dfas: &[&DFA<&[u32]>],
    s: &[u8],
    out: &mut [Option<u64>],
) -> Option<usize> {
    let d: &[&DFA<&[u32]>; N] = dfas.get(..N)?.try_into().ok()?;
    let o: &mut [Option<u64>; N] = out.get_mut(..N)?.try_into().ok()?;
    *o = lockstep(d, s);
    Some(N)
}

/// `N` unanchored scans of `s`, one byte of each per step: [`group_scan`]'s
/// result for each DFA. A lane that reaches its dead or quit state, or has
/// seen every pattern match, stops counting (the rest of its walk cannot
/// change its result); the walk ends early when every lane has.
#[inline]
fn lockstep<const N: usize>(d: &[&DFA<&[u32]>; N], s: &[u8]) -> [Option<u64>; N] {
    let mut out = [Some(0u64); N];
    let mut sid = [StateID::ZERO; N];
    let mut last = [None; N];
    let mut live = N;
    for ((dfa, id), o) in d.iter().zip(&mut sid).zip(&mut out) {
        match dfa.start_state_forward(&Input::new(s)) {
            Ok(st) => *id = st,
            Err(_) => {
                *o = None;
                live = live.saturating_sub(1);
            }
        }
    }
    // A lane still scanning: not `None` (quit) and not dead.
    let mut on = out.map(|o| o.is_some());
    let note = |dfa: &DFA<&[u32]>, sid, last: &mut Option<StateID>, mask: &mut Option<u64>| {
        if let Some(m) = mask {
            note_patterns(dfa, sid, last, m);
        }
    };
    for &b in s {
        if live == 0 {
            return out;
        }
        // Most steps leave every lane in an ordinary state: one test of all.
        let mut special = false;
        for (dfa, id) in d.iter().zip(&mut sid) {
            *id = dfa.next_state(*id, b);
            special |= dfa.is_special_state(*id);
        }
        if !special {
            continue;
        }
        for ((((dfa, &id), l), o), run) in
            d.iter().zip(&sid).zip(&mut last).zip(&mut out).zip(&mut on)
        {
            if *run && dfa.is_special_state(id) {
                if dfa.is_match_state(id) {
                    note(dfa, id, l, o);
                    if *o == Some(every_pattern(dfa)) {
                        *run = false;
                        live = live.saturating_sub(1);
                    }
                } else if dfa.is_dead_state(id) {
                    *run = false;
                    live = live.saturating_sub(1);
                } else if dfa.is_quit_state(id) {
                    *o = None;
                    *run = false;
                    live = live.saturating_sub(1);
                }
            }
        }
    }
    for ((((dfa, &id), l), o), run) in d.iter().zip(&sid).zip(&mut last).zip(&mut out).zip(&on) {
        if !*run {
            continue;
        }
        let eoi = dfa.next_eoi_state(id);
        if dfa.is_match_state(eoi) {
            note(dfa, eoi, l, o);
        } else if dfa.is_quit_state(eoi) {
            *o = None;
        }
    }
    out
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

    /// Group DFAs of several shapes: subsets of PATTERNS, one that dies
    /// (`^`-anchored), one with a quit byte (`!`).
    fn lanes_of_groups() -> Vec<dense::DFA<Vec<u32>>> {
        let config = || {
            dense::Config::new()
                .start_kind(StartKind::Unanchored)
                .match_kind(MatchKind::All)
        };
        let mut v: Vec<_> = [
            &PATTERNS[..],
            &PATTERNS[1..3],
            &PATTERNS[3..],
            &["^zeb", "^q.*d"],
        ]
        .iter()
        .map(|p| {
            dense::Builder::new()
                .configure(config())
                .build_many(p)
                .expect("group DFA")
        })
        .collect();
        v.push(
            dense::Builder::new()
                .configure(config().quit(b'!', true))
                .build_many(&PATTERNS[..2])
                .expect("quit DFA"),
        );
        // A regex of its own, as the writer builds those (leftmost-first).
        v.push(dense::DFA::new(PATTERNS[1]).expect("single DFA"));
        v
    }

    proptest! {
        #[test]
        fn lockstep_scans_are_each_group_scanned_alone(
            picks in proptest::collection::vec(0usize..6, 0..12),
            s in proptest::collection::vec(
                prop_oneof![Just(b'q'), Just(b'x'), Just(b'z'), Just(b'e'), Just(b'n'),
                    Just(b'd'), Just(b'0'), Just(b'a'), Just(b'b'), Just(b'r'), Just(b'!')],
                0..60,
            ),
        ) {
            let groups = lanes_of_groups();
            let dfas: Vec<_> = picks.iter().map(|&k| groups[k].as_ref()).collect();
            let refs: Vec<_> = dfas.iter().collect();
            let mut out = vec![Some(u64::MAX); refs.len() + 1];
            group_scans(&refs, &s, &mut out);
            for (d, o) in dfas.iter().zip(&out) {
                prop_assert_eq!(*o, group_scan(d, &s));
            }
            prop_assert_eq!(out.last().copied(), Some(Some(u64::MAX)), "past the DFAs: untouched");
        }

        #[test]
        fn a_single_regex_scan_is_a_search(s in proptest::collection::vec(
            prop_oneof![Just(b'q'), Just(b'e'), Just(b'n'), Just(b'd'), Just(b'x')],
            0..40,
        )) {
            let single = dense::DFA::new(PATTERNS[1]).expect("single DFA");
            let found = single.try_search_fwd(&Input::new(&s)).expect("search").is_some();
            prop_assert_eq!(group_scan(&single.as_ref(), &s), Some(u64::from(found)));
        }

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
