//! The scan of a regex group: one unanchored walk of a field with a
//! multi-pattern DFA (`MatchKind::All`) that collects every pattern matching
//! anywhere in it; and the same for several groups of one field at once, in
//! lockstep. Allocates nothing; a quit state is an error, never a panic.

use super::quiet::{QUIET_EVERY, Quiet};
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
///
/// Also stops in a quiet state past `quiet`'s point ([`Quiet`]). `watch`
/// is [`watch_limit`] of `dfa`: states above it are not looked at.
#[inline]
pub(super) fn group_scan(
    dfa: &DFA<&[u32]>,
    watch: StateID,
    s: &[u8],
    quiet: Quiet<'_>,
) -> Option<u64> {
    group_walk(dfa, watch, s, quiet).0
}

/// Whether a regex of its own matches somewhere in `s`; `None` on a quit
/// state. regex-automata's search, whose accelerated states skip runs of
/// bytes; but for a DFA whose flag bits claim both has-empty and UTF-8, a
/// walk ([`group_scan`]): that search then skips every match ending inside a
/// UTF-8 character, which regex-automata calls unspecified for a DFA whose
/// non-empty matches can end there, and the format's meaning of a regex
/// criterion is the walk (docs/FORMAT.md, "What regex-automata checks").
/// The writer never builds a DFA for which the two differ on a field, but
/// only the deep check pins those bits, and a lockstep scan walks every DFA:
/// so every path gives a DFA the same answer.
pub(super) fn single_match(dfa: &DFA<&[u32]>, watch: StateID, s: &[u8]) -> Option<bool> {
    if dfa.has_empty() && dfa.is_utf8() {
        return group_scan(dfa, watch, s, Quiet::NEVER).map(|m| m != 0);
    }
    dfa.try_search_fwd(&Input::new(s).earliest(true))
        .ok()
        .map(|m| m.is_some())
}

/// [`group_scan`], and how many bytes of `s` it read.
fn group_walk(
    dfa: &DFA<&[u32]>,
    watch: StateID,
    s: &[u8],
    quiet: Quiet<'_>,
) -> (Option<u64>, usize) {
    let Ok(mut sid) = dfa.start_state_forward(&Input::new(s)) else {
        return (None, 0);
    };
    let mut mask = 0u64;
    if quiet.ends(dfa, sid, 0) {
        return (Some(mask), 0);
    }
    let mut last = None;
    let mut note = |sid: StateID, mask: &mut u64| note_patterns(dfa, sid, &mut last, mask);
    let all = every_pattern(dfa);
    for (i, &b) in s.iter().enumerate() {
        sid = dfa.next_state(sid, b);
        let read = i.saturating_add(1);
        if sid <= watch {
            if dfa.is_match_state(sid) {
                note(sid, &mut mask);
                if mask == all {
                    return (Some(mask), read);
                }
            } else if dfa.is_dead_state(sid) {
                return (Some(mask), read);
            } else if dfa.is_quit_state(sid) {
                return (None, read);
            }
        }
        if read % QUIET_EVERY == 0 && quiet.ends(dfa, sid, read) {
            return (Some(mask), read);
        }
    }
    let eoi = dfa.next_eoi_state(sid);
    if dfa.is_match_state(eoi) {
        note(eoi, &mut mask);
    } else if dfa.is_quit_state(eoi) {
        return (None, s.len());
    }
    (Some(mask), s.len())
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

/// The highest state a lockstep walk of `dfa` must stop at: every dead,
/// quit and match state is at or below it.
///
/// regex-automata puts the special states first (the dead state, the quit
/// state, then match states, then accelerated and start states), and its
/// checked deserialization guarantees that each kind lies at or below the
/// last special state. Accelerated and start states that are not match
/// states need nothing from a walk, yet most bytes of a field leave some
/// lane of eight in one (an unanchored DFA's start state is usually
/// accelerated): testing `id <= watch` instead of "is special" keeps those
/// steps on the fast path.
///
/// Exact for any DFA that deserializes: it walks the special states in id
/// order ([`analysis::special_states`]) and keeps the last dead, quit or
/// match state. If the walk were ever cut short (it takes at most
/// [`analysis::MAX_DFA_STATES`] steps, more than such a DFA has states) it
/// returns [`StateID::MAX`]: every state watched, slower but still exact.
pub(super) fn watch_limit(dfa: &DFA<&[u32]>) -> StateID {
    let mut watch = StateID::ZERO;
    let mut steps = 0usize;
    for (k, id) in analysis::special_states(dfa) {
        steps = k.saturating_add(1);
        if dfa.is_quit_state(id) || dfa.is_match_state(id) {
            watch = id;
        }
    }
    if steps >= analysis::MAX_DFA_STATES {
        return StateID::MAX;
    }
    watch
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
/// Each lane stops in a quiet state past its `quiet` point (`quiet[i]` for
/// `dfas[i]`; [`Quiet::NEVER`] past the end of `quiet`). `watch[i]` is
/// [`watch_limit`] of `dfas[i]`, kept from load time; past the end of
/// `watch`, [`StateID::MAX`] (every state looked at: exact, slower).
pub(super) fn group_scans(
    dfas: &[&DFA<&[u32]>],
    quiet: &[Quiet<'_>],
    watch: &[StateID],
    s: &[u8],
    out: &mut [Option<u64>],
) {
    let (mut dfas, mut quiet, mut watch, mut out) = (dfas, quiet, watch, out);
    // Bounded: each round takes at least one DFA.
    while let (Some(&first), Some(_)) = (dfas.first(), out.first()) {
        let took = if let Some(n) = lanes::<8>(dfas, quiet, watch, s, out) {
            n
        } else if let Some(n) = lanes::<4>(dfas, quiet, watch, s, out) {
            n
        } else if let Some(n) = lanes::<2>(dfas, quiet, watch, s, out) {
            n
        } else {
            if let Some(o) = out.first_mut() {
                let w = watch.first().copied().unwrap_or(StateID::MAX);
                *o = group_scan(first, w, s, quiet.first().copied().unwrap_or(Quiet::NEVER));
            }
            1
        };
        dfas = dfas.get(took..).unwrap_or_default();
        quiet = quiet.get(took..).unwrap_or_default();
        watch = watch.get(took..).unwrap_or_default();
        out = out.get_mut(took..).unwrap_or_default();
    }
}

/// The first `N` of `dfas` scanned in lockstep into `out`, when there are
/// `N` of both; else `None` and nothing done.
fn lanes<const N: usize>(
    dfas: &[&DFA<&[u32]>],
    quiet: &[Quiet<'_>],
    watch: &[StateID],
    s: &[u8],
    out: &mut [Option<u64>],
) -> Option<usize> {
    let d: &[&DFA<&[u32]>; N] = dfas.get(..N)?.try_into().ok()?;
    let o: &mut [Option<u64>; N] = out.get_mut(..N)?.try_into().ok()?;
    lockstep(d, quiet, watch, s, o);
    Some(N)
}

/// `N` unanchored scans of `s`, one byte of each per step: [`group_scan`]'s
/// result for each DFA, into `out`. A lane that reaches its dead or quit
/// state, or has seen every pattern match, or is in a quiet state past
/// `quiet[i]`'s point (lanes past the end of `quiet` have none), stops
/// counting (the rest of its walk cannot change its result); the walk ends
/// early when every lane has. A step looks at the lanes only when one is at
/// or below its `watch` state ([`watch_limit`]; [`StateID::MAX`] for lanes
/// past the end of `watch`). Returns the number of bytes the walk read.
#[inline]
fn lockstep<const N: usize>(
    d: &[&DFA<&[u32]>; N],
    quiet: &[Quiet<'_>],
    watch: &[StateID],
    s: &[u8],
    out: &mut [Option<u64>; N],
) -> usize {
    let watch: [StateID; N] =
        core::array::from_fn(|i| watch.get(i).copied().unwrap_or(StateID::MAX));
    *out = [Some(0u64); N];
    let mut sid = [StateID::ZERO; N];
    let mut last = [None; N];
    let mut live = N;
    for ((dfa, id), o) in d.iter().zip(&mut sid).zip(out.iter_mut()) {
        match dfa.start_state_forward(&Input::new(s)) {
            Ok(st) => *id = st,
            Err(_) => {
                *o = None;
                live = live.saturating_sub(1);
            }
        }
    }
    // A lane still scanning: not `None` (quit), not dead, not quiet.
    let mut on = out.map(|o| o.is_some());
    let quiet_test = |sid: &[StateID; N], on: &mut [bool; N], live: &mut usize, read| {
        for (((dfa, &id), q), run) in d.iter().zip(sid).zip(quiet).zip(on.iter_mut()) {
            if *run && q.ends(dfa, id, read) {
                *run = false;
                *live = live.saturating_sub(1);
            }
        }
    };
    quiet_test(&sid, &mut on, &mut live, 0);
    let note = |dfa: &DFA<&[u32]>, sid, last: &mut Option<StateID>, mask: &mut Option<u64>| {
        if let Some(m) = mask {
            note_patterns(dfa, sid, last, m);
        }
    };
    for (i, &b) in s.iter().enumerate() {
        if live == 0 {
            return i;
        }
        // Most steps leave every lane in a state nothing needs (ordinary,
        // accelerated, start): one test of all.
        let mut watched = false;
        for ((dfa, id), &w) in d.iter().zip(&mut sid).zip(&watch) {
            *id = dfa.next_state(*id, b);
            watched |= *id <= w;
        }
        let read = i.saturating_add(1);
        if read % QUIET_EVERY == 0 {
            quiet_test(&sid, &mut on, &mut live, read);
        }
        if !watched {
            continue;
        }
        for ((((dfa, &id), l), o), run) in d
            .iter()
            .zip(&sid)
            .zip(&mut last)
            .zip(out.iter_mut())
            .zip(&mut on)
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
    for ((((dfa, &id), l), o), run) in d
        .iter()
        .zip(&sid)
        .zip(&mut last)
        .zip(out.iter_mut())
        .zip(&on)
    {
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
    s.len()
}

#[cfg(test)]
mod tests {
    use super::super::quiet::quiet_from;
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
        assert_eq!(
            group_scan(&dfa, watch_limit(&dfa), &s, Quiet::NEVER),
            Some(0b101)
        );
        assert_eq!(
            group_scan(&dfa, watch_limit(&dfa), &s[..300], Quiet::NEVER),
            Some(0)
        );
    }

    #[test]
    fn a_dfa_claiming_utf8_and_empty_is_walked_so_a_match_inside_a_character_counts() {
        let bytes = crate::forged::split_match_claiming_utf8_empty();
        let (dfa, _) = DFA::from_bytes(&bytes).expect("forged DFA loads");
        assert!(dfa.has_empty() && dfa.is_utf8());
        let e = "xé".as_bytes();
        // regex-automata's search skips the match ending inside `é` ...
        let search = dfa.try_search_fwd(&Input::new(e).earliest(true));
        assert_eq!(search.expect("search").map(|m| m.offset()), None);
        // ... a walk finds it, and so does every path of the engine.
        let w = watch_limit(&dfa);
        assert_eq!(group_scan(&dfa, w, e, Quiet::NEVER), Some(1));
        assert_eq!(single_match(&dfa, w, e), Some(true));
        assert_eq!(single_match(&dfa, w, b"x"), Some(false));
        let mut out = [None; LANES];
        group_scans(&[&dfa, &dfa], &[], &[w, w], e, &mut out);
        assert_eq!(out.get(..2), Some(&[Some(1), Some(1)][..]));
        // A DFA whose flags are its own is searched: same answer as a walk.
        let g = group();
        let d = g.as_ref();
        assert!(!(d.has_empty() && d.is_utf8()));
        for s in [&b"qx42z"[..], b"zebra", b"none"] {
            let walked = group_scan(&d, watch_limit(&d), s, Quiet::NEVER).map(|m| m != 0);
            assert_eq!(single_match(&d, watch_limit(&d), s), walked);
        }
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

    /// Patterns that all need `zebra`, one with a match left open after it.
    const ZEBRAS: [&str; 4] = ["qx[0-9]+zebra", "zebra.*end", "e[a-c]*zebra[0-9]", "zebra$"];

    /// `patterns`, which all need `zebra` (ASCII case-insensitively when `ci`),
    /// as one group DFA, with the quiet states of its proof.
    fn zebra_group(ci: bool, patterns: &[&str]) -> (dense::DFA<Vec<u32>>, Vec<u64>) {
        proven_group(ci, patterns, &[b"zebra"])
    }

    /// `patterns` as one group DFA, with the quiet states of the proof
    /// that every match needs one of `members`.
    fn proven_group(
        ci: bool,
        patterns: &[&str],
        members: &[&[u8]],
    ) -> (dense::DFA<Vec<u32>>, Vec<u64>) {
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Unanchored)
                    .match_kind(MatchKind::All),
            )
            .syntax(
                changuard_format::regex_automata::util::syntax::Config::new().case_insensitive(ci),
            )
            .build_many(patterns)
            .expect("group DFA");
        let mut bits = Vec::new();
        let mut budget = proofs::Budget::new(u64::MAX / 2, 0);
        let proven =
            proofs::any_literal_required(&dfa.as_ref(), members, ci, &mut budget, Some(&mut bits))
                .expect("memory");
        assert!(proven, "every pattern needs a member");
        (dfa, bits)
    }

    #[test]
    fn a_quiet_scan_stops_after_the_last_occurrence() {
        let (g, bits) = zebra_group(false, &["qx[0-9]+zebra", "e[a-c]*zebra[0-9]", "zebra$"]);
        let dfa = g.as_ref();
        let mut s = b"qx12zebra ".to_vec();
        s.extend_from_slice(&[b'.'; 300]);
        let q = Quiet::new(&bits, quiet_from(&s, &[b"zebra"], false));
        assert_eq!(quiet_from(&s, &[b"zebra"], false), Some(5));
        let (found, read) = group_walk(&dfa, watch_limit(&dfa), &s, q);
        assert_eq!(found, Some(0b1));
        assert!(read <= 16, "read {read} bytes of {}", s.len());
        assert_eq!(
            group_walk(&dfa, watch_limit(&dfa), &s, Quiet::NEVER),
            (Some(0b1), s.len())
        );
        // The literal absent: nothing to read at all.
        let none = &s[..4];
        assert_eq!(quiet_from(none, &[b"zebra"], false), Some(0));
        assert_eq!(
            group_walk(&dfa, watch_limit(&dfa), none, Quiet::new(&bits, Some(0))),
            (Some(0), 0)
        );
        // A partial match still open keeps the scan going: `zebra.*end`.
        let (g, bits) = zebra_group(false, &ZEBRAS);
        let dfa = g.as_ref();
        let mut open = b"zebra".to_vec();
        open.extend_from_slice(&[b'.'; 300]);
        open.extend_from_slice(b"end");
        let q = Quiet::new(&bits, quiet_from(&open, &[b"zebra"], false));
        assert_eq!(
            group_walk(&dfa, watch_limit(&dfa), &open, q),
            (Some(0b10), open.len())
        );
        let d = [&dfa; 2];
        let mut out = [None; 2];
        assert_eq!(lockstep(&d, &[q, q], &[], &open, &mut out), open.len());
        assert_eq!(out, [Some(0b10); 2]);
        let (g, bits) = zebra_group(false, &["qx[0-9]+zebra", "e[a-c]*zebra[0-9]"]);
        let dfa = g.as_ref();
        let d = [&dfa; 2];
        let q = Quiet::new(&bits, quiet_from(&s, &[b"zebra"], false));
        let read = lockstep(&d, &[q, q], &[], &s, &mut out);
        assert!(read <= 16, "lockstep read {read} bytes");
    }

    /// Every state reachable from `dfa`'s unanchored start, the end-of-input
    /// transitions included.
    fn reachable(dfa: &DFA<&[u32]>) -> Vec<StateID> {
        let start = dfa.start_state_forward(&Input::new("")).expect("start");
        let (mut seen, mut todo) = (vec![start], vec![start]);
        while let Some(id) = todo.pop() {
            let next = (0..=255u8).map(|b| dfa.next_state(id, b));
            for n in next.chain([dfa.next_eoi_state(id)]) {
                if !seen.contains(&n) {
                    seen.push(n);
                    todo.push(n);
                }
            }
        }
        seen
    }

    #[test]
    fn the_watch_state_is_above_every_state_a_walk_needs_and_below_the_start() {
        for g in lanes_of_groups() {
            let dfa = g.as_ref();
            let watch = watch_limit(&dfa);
            let states = reachable(&dfa);
            let needed = |id: StateID| {
                dfa.is_dead_state(id) || dfa.is_quit_state(id) || dfa.is_match_state(id)
            };
            assert!(states.iter().any(|&id| needed(id) && id != StateID::ZERO));
            for &id in &states {
                assert_eq!(id <= watch, needed(id), "state {id:?}, watch {watch:?}");
            }
        }
        // What the watch state is for: an accelerated start state above it.
        let g = group();
        let dfa = g.as_ref();
        let start = dfa.start_state_forward(&Input::new("")).expect("start");
        assert!(dfa.is_special_state(start) && start > watch_limit(&dfa));
    }

    proptest! {
        #[test]
        fn quiet_scans_find_what_full_scans_find(
            ci in any::<bool>(),
            picks in proptest::collection::vec(any::<bool>(), 1..10),
            pieces in proptest::collection::vec(
                prop_oneof![Just("zebra"), Just("ZeBra"), Just("zebr"), Just("qx"), Just("1"),
                    Just("e"), Just("ab"), Just("end"), Just("."), Just("z"), Just("a")],
                0..40,
            ),
        ) {
            let s = pieces.concat().into_bytes();
            let (g, bits) = zebra_group(ci, &ZEBRAS);
            let dfa = g.as_ref();
            let q = Quiet::new(&bits, quiet_from(&s, &[b"zebra"], ci));
            let full = group_walk(&dfa, watch_limit(&dfa), &s, Quiet::NEVER).0;
            prop_assert_eq!(group_walk(&dfa, watch_limit(&dfa), &s, q).0, full);
            // Lanes with and without a quiet point, in lockstep.
            let dfas: Vec<_> = picks.iter().map(|_| &dfa).collect();
            let quiet: Vec<_> = picks.iter().map(|&p| if p { q } else { Quiet::NEVER }).collect();
            let mut out = vec![Some(u64::MAX); dfas.len()];
            group_scans(&dfas, &quiet, &[], &s, &mut out);
            for o in out {
                prop_assert_eq!(o, full);
            }
        }

        #[test]
        fn quiet_scans_of_a_set_find_what_full_scans_find(
            ci in any::<bool>(),
            pieces in proptest::collection::vec(
                prop_oneof![Just("zebra"), Just("TAPIR"), Just("tapi"), Just("qx"), Just("7"),
                    Just("e"), Just("end"), Just("."), Just("i"), Just("a")],
                0..40,
            ),
        ) {
            let s = pieces.concat().into_bytes();
            let members: [&[u8]; 2] = [b"zebra", b"tapir"];
            let (g, bits) = proven_group(
                ci,
                &["(zebra|tapir)[0-9]", "qx(zebra|tapir)", "(tapir|zebra).*end"],
                &members,
            );
            let dfa = g.as_ref();
            let q = Quiet::new(&bits, quiet_from(&s, &members, ci));
            prop_assert_eq!(group_walk(&dfa, watch_limit(&dfa), &s, q).0, group_walk(&dfa, watch_limit(&dfa), &s, Quiet::NEVER).0);
        }

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
            // The engine's path: each lane's watch state kept from load.
            let watch: Vec<_> = refs.iter().map(|d| watch_limit(d)).collect();
            group_scans(&refs, &[], &watch, &s, &mut out);
            for (d, o) in dfas.iter().zip(&out) {
                prop_assert_eq!(*o, group_scan(d, watch_limit(d), &s, Quiet::NEVER));
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
            prop_assert_eq!(group_scan(&single.as_ref(), watch_limit(&single.as_ref()), &s, Quiet::NEVER), Some(u64::from(found)));
        }

        #[test]
        fn group_scan_is_every_pattern_searched_alone(s in proptest::collection::vec(
            prop_oneof![Just(b'q'), Just(b'x'), Just(b'z'), Just(b'e'), Just(b'n'),
                Just(b'd'), Just(b'0'), Just(b'.'), Just(b'a'), Just(b'b'), Just(b'r'),
                Just(b'\n')],
            0..80,
        )) {
            let g = group();
            prop_assert_eq!(group_scan(&g.as_ref(), watch_limit(&g.as_ref()), &s, Quiet::NEVER), Some(expected(&s)));
        }
    }
}
