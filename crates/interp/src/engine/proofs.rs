//! Load-time proofs over a DFA, both exact and step-bounded: the byte classes
//! every match must contain (`required_classes`, the regex prefilter) and
//! whether every match must contain some member of a literal set, such as a
//! signer's literal hint (`any_literal_required`, `literal_required`).
//! An unproven hint is not used. Allocation is fallible.
//!
//! Each analysis knows its worst-case step count before it starts. It runs
//! only if that count fits both its per-DFA cap and what is left of the
//! engine's load-time budget (`EngineConfig::proof_steps`), which it then
//! charges; otherwise it is skipped, which changes no result (the DFA is
//! simply not prefiltered, or its hint not used). So one engine build does at
//! most `proof_steps + proof_steps_per_dfa_byte * (DFA bytes)` analysis
//! steps: linear in the validated content, however many DFAs it has.

use super::*;

/// The byte classes that every match of `dfa` (searched unanchored from the
/// start of a haystack, as the engine does) must contain at least one byte of.
///
/// Class `c` is required when, with every transition on `c` removed, no match
/// state (and no quit state: a search error must still be reported) is
/// reachable from the start state, counting the end-of-input transition. Exact,
/// so the prefilter never changes a result. Skipped (no classes) for DFAs that
/// match the empty string or whose analysis would exceed
/// [`REQ_ANALYSIS_STEPS`] or what is left of `budget`. Load time only;
/// allocation is fallible. Not inlined:
/// its class tables are a frame of their own, not part of the caller's, which
/// already holds a ~700-byte DFA record.
#[inline(never)]
pub(super) fn required_classes(
    dfa: &DFA<&[u32]>,
    out: &mut [[u64; 4]; REQ_MAX],
    budget: &mut Budget,
) -> Result<usize, EngineError> {
    // Written in place (the caller's record), not returned by value: one copy
    // fewer in two frames of the deepest part of a kernel load.
    *out = [[0u64; 4]; REQ_MAX];
    let none = Ok(0);
    if dfa.has_empty() {
        return none;
    }
    let cfg = start::Config::new().anchored(Anchored::No);
    let Ok(start) = dfa.start_state(&cfg) else {
        return none;
    };
    let classes = dfa.byte_classes();
    // Every column some byte reads: one past the largest class of a byte.
    // Not `alphabet_len() - 1`: a class map that deserializes may send a
    // byte to the end-of-input column (regex-automata checks each class
    // against the alphabet length, which counts that column), and a walk of
    // the field then takes that column on the byte. Leaving it out would
    // make a class look required when it is not.
    let nclass = (0..=255u8)
        .map(|b| usize::from(classes.get(b)))
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    let stride2 = u32::try_from(dfa.stride2()).unwrap_or(u32::MAX);
    // Upper bound on state indexes: the transition table is part of memory_usage.
    let states = (dfa.memory_usage() / 4)
        .checked_shr(stride2)
        .unwrap_or(0)
        .saturating_add(1);
    let steps = states.saturating_mul(nclass).saturating_mul(nclass);
    if steps > REQ_ANALYSIS_STEPS || !budget.take(steps) {
        return none;
    }
    // A representative byte of every class, and each class's byte mask.
    let mut rep: Vec<u8> = Vec::new();
    rep.try_reserve_exact(nclass)?;
    let mut masks: Vec<[u64; 4]> = Vec::new();
    masks.try_reserve_exact(nclass)?;
    for _ in 0..nclass {
        rep.push(0);
        masks.push([0; 4]);
    }
    let mut seen_class = [false; 256];
    for b in 0..=255u8 {
        let c = usize::from(classes.get(b));
        if let (Some(seen), Some(r), Some(m)) =
            (seen_class.get_mut(c), rep.get_mut(c), masks.get_mut(c))
        {
            if !*seen {
                *seen = true;
                *r = b;
            }
            if let Some(w) = m.get_mut(usize::from(b >> 6)) {
                *w |= 1u64.wrapping_shl(u32::from(b & 63));
            }
        }
    }
    let idx = |s: StateID| s.as_usize().checked_shr(stride2).unwrap_or(usize::MAX);
    let mut visited: Vec<bool> = Vec::new();
    visited.try_reserve_exact(states)?;
    visited.resize(states, false);
    let mut stack: Vec<StateID> = Vec::new();
    stack.try_reserve(states)?;
    let mut n = 0usize;
    for (c, mask) in masks.iter().enumerate() {
        if n >= REQ_MAX {
            break;
        }
        visited.iter_mut().for_each(|v| *v = false);
        stack.clear();
        let mut can_match = false;
        let mut overflow = false;
        stack.push(start);
        match visited.get_mut(idx(start)) {
            Some(v) => *v = true,
            None => return none,
        }
        while let Some(s) = stack.pop() {
            if dfa.is_match_state(s) || dfa.is_quit_state(s) {
                can_match = true;
                break;
            }
            let eoi = dfa.next_eoi_state(s);
            if dfa.is_match_state(eoi) || dfa.is_quit_state(eoi) {
                can_match = true;
                break;
            }
            for (k, &b) in rep.iter().enumerate() {
                if k == c {
                    continue;
                }
                let t = dfa.next_state(s, b);
                if dfa.is_dead_state(t) {
                    continue;
                }
                match visited.get_mut(idx(t)) {
                    Some(v) if !*v => {
                        *v = true;
                        if stack.len() >= states {
                            overflow = true;
                            break;
                        }
                        stack.push(t);
                    }
                    Some(_) => {}
                    None => {
                        overflow = true;
                        break;
                    }
                }
            }
            if overflow {
                break;
            }
        }
        if overflow {
            return none;
        }
        if !can_match {
            if let Some(slot) = out.get_mut(n) {
                *slot = *mask;
                n = n.saturating_add(1);
            }
        }
    }
    Ok(n)
}

/// Whether every haystack `dfa` matches (searched unanchored from the start of
/// the haystack, as the engine does) contains `lit` (ASCII case-insensitively
/// when `folded`). This is what anchoring a regex on its literal needs; the
/// content's hint is the signer's claim, so the engine proves it before use.
///
/// [`any_literal_required`] for the one-member set `{lit}`: its automaton is
/// then the KMP automaton of `lit` (`lit.len() + 1` nodes, the last one
/// terminal), so it charges `states * (lit.len() + 1) * alphabet` steps, one
/// node per state more than the dedicated KMP search it replaced. A folded
/// `lit` is folded itself (that search only folded the haystack, so it never
/// proved a folded hint with upper case; the writer lower-cases them).
pub(super) fn literal_required(
    dfa: &DFA<&[u32]>,
    lit: &[u8],
    folded: bool,
    budget: &mut Budget,
    quiet: Option<&mut Vec<u64>>,
) -> Result<bool, EngineError> {
    any_literal_required(dfa, &[lit], folded, budget, quiet)
}

/// Whether every haystack `dfa` matches (searched unanchored from the start of
/// the haystack, as the engine does) contains at least one member of `lits`
/// (each ASCII case-insensitively when `folded`).
///
/// Exact: a search over the product of the DFA with the Aho-Corasick automaton
/// of the (folded) members ("which suffix of what was just seen is a prefix of
/// a member"), pruning every path on which a member has occurred (a terminal
/// node: a member ends there or on its failure chain). The set is required iff
/// no match state (and no quit state: a search error must still be reported)
/// is reachable, counting the end-of-input transition. The alphabet is the
/// DFA's byte classes refined by the members' bytes (one representative per
/// (class, member byte or "other") pair). An empty set is never required; a
/// set with an empty member always is. Returns `false` (unproven) when the
/// members total over `u16::MAX` bytes or the product would exceed
/// [`LITERAL_PROOF_STEPS`] (`states * trie nodes * alphabet`) or what is
/// left of `budget`. Load time only; allocation is fallible.
///
/// When proven and `quiet` is given, appends to it the DFA's *quiet states*,
/// one bit per state index (`StateID >> stride2`, `states.div_ceil(64)`
/// words): those the search reached with no progress into any member (the
/// automaton's root). The search explored every member-free path from each
/// of them and found no match or quit state, so from a quiet state every
/// match, and every search error, needs a whole member still to come. A scan
/// in a quiet state past the start of a field's last member occurrence can
/// therefore stop: nothing it reads from there changes its result
/// (`scan::Quiet`).
pub(super) fn any_literal_required(
    dfa: &DFA<&[u32]>,
    lits: &[&[u8]],
    folded: bool,
    budget: &mut Budget,
    quiet: Option<&mut Vec<u64>>,
) -> Result<bool, EngineError> {
    const NONE: u16 = u16::MAX;
    let fold = |b: u8| if folded { b.to_ascii_lowercase() } else { b };
    if lits.is_empty() {
        return Ok(false);
    }
    if lits.iter().any(|l| l.is_empty()) {
        return Ok(true);
    }
    let mut total = 0usize;
    for l in lits {
        match total.checked_add(l.len()) {
            Some(t) if t <= usize::from(u16::MAX) => total = t,
            _ => return Ok(false),
        }
    }
    // Node ids fit in u16: at most `total + 1` nodes, so ids <= u16::MAX.
    let nodes_max = total.saturating_add(1);
    let cfg = start::Config::new().anchored(Anchored::No);
    let Ok(start) = dfa.start_state(&cfg) else {
        return Ok(false);
    };
    // Columns: each distinct (folded) member byte, then "other" (= `nbytes`).
    let mut col: Vec<u16> = Vec::new();
    col.try_reserve_exact(256)?;
    col.resize(256, NONE);
    for l in lits {
        for &b in *l {
            if let Some(c) = col.get_mut(usize::from(fold(b))) {
                *c = 0;
            }
        }
    }
    let mut nbytes = 0u16;
    for c in col.iter_mut() {
        if *c != NONE {
            *c = nbytes;
            nbytes = nbytes.saturating_add(1);
        }
    }
    let other = nbytes;
    let ncol = usize::from(nbytes).saturating_add(1);
    let col_of = |b: u8| match col.get(usize::from(fold(b))) {
        Some(&c) if c != NONE => c,
        _ => other,
    };
    // Alphabet: (class, column) pairs, one representative byte each.
    let classes = dfa.byte_classes();
    let mut keys: Vec<(u16, u16, u8)> = Vec::new();
    keys.try_reserve_exact(256)?;
    for b in 0..=255u8 {
        keys.push((u16::from(classes.get(b)), col_of(b), b));
    }
    keys.sort_unstable();
    keys.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    let stride2 = u32::try_from(dfa.stride2()).unwrap_or(u32::MAX);
    // The writer's cost model too (it picks hints within the cap):
    // `states * trie nodes * keys.len()`, saturating.
    let states = analysis::dfa_states(dfa);
    let steps = analysis::literal_proof_steps(dfa, lits, folded);
    if steps > LITERAL_PROOF_STEPS || !budget.take(steps) {
        return Ok(false);
    }
    // Every column is some key's (each member byte is its own fold), so the
    // goto table (`trie nodes * ncol` <= 2 * steps entries) is within budget;
    // rows are added as the trie grows (`nodes_max` only bounds it).
    let at = |u: usize, c: usize| u.checked_mul(ncol).and_then(|i| i.checked_add(c));
    let table = nodes_max.saturating_mul(ncol);
    let mut delta: Vec<u16> = Vec::new();
    delta.try_reserve_exact(ncol)?;
    delta.resize(ncol, 0); // the root's row
    let mut term: Vec<bool> = Vec::new();
    term.try_reserve_exact(1)?;
    term.push(false);
    // Trie. 0 means "no child": the root is nobody's child.
    let mut nodes = 1usize;
    for l in lits {
        let mut u = 0usize;
        for &b in *l {
            let Some(i) = at(u, usize::from(col_of(b))) else {
                return Ok(false);
            };
            let v = match delta.get(i) {
                Some(0) => {
                    let (Ok(v), Some(len)) = (u16::try_from(nodes), delta.len().checked_add(ncol))
                    else {
                        return Ok(false);
                    };
                    if len > table {
                        return Ok(false);
                    }
                    delta.try_reserve(ncol)?;
                    delta.resize(len, 0);
                    term.try_reserve(1)?;
                    term.push(false);
                    nodes = nodes.saturating_add(1);
                    if let Some(e) = delta.get_mut(i) {
                        *e = v;
                    }
                    v
                }
                Some(&v) => v,
                None => return Ok(false),
            };
            u = usize::from(v);
        }
        match term.get_mut(u) {
            Some(t) => *t = true,
            None => return Ok(false),
        }
    }
    // Failure links breadth-first, completing each row into the full
    // transition function (a missing edge takes the failure node's), and
    // inheriting terminality down the failure chain.
    let mut fail: Vec<u16> = Vec::new();
    fail.try_reserve_exact(nodes)?;
    fail.resize(nodes, 0);
    let mut queue: Vec<u16> = Vec::new();
    queue.try_reserve_exact(nodes)?;
    queue.push(0);
    let mut head = 0usize;
    // Bounded: each node is queued once (by its one parent).
    while let Some(&u) = queue.get(head) {
        head = head.saturating_add(1);
        let u = usize::from(u);
        let f = usize::from(fail.get(u).copied().unwrap_or(0));
        for c in 0..ncol {
            let (Some(i), Some(j)) = (at(u, c), at(f, c)) else {
                return Ok(false);
            };
            let (Some(&v), Some(&fv)) = (delta.get(i), delta.get(j)) else {
                return Ok(false);
            };
            if v == 0 {
                if u != 0 {
                    if let Some(e) = delta.get_mut(i) {
                        *e = fv;
                    }
                }
                continue;
            }
            // A root child fails to the root; deeper ones to where their
            // parent's failure node goes on `c` (its row is complete).
            let fv = if u == 0 { 0 } else { fv };
            let inherited = term.get(usize::from(fv)).copied().unwrap_or(false);
            if let (Some(fl), Some(t)) =
                (fail.get_mut(usize::from(v)), term.get_mut(usize::from(v)))
            {
                *fl = fv;
                *t |= inherited;
            }
            if queue.len() >= nodes {
                return Ok(false);
            }
            queue.push(v);
        }
    }
    let idx = |s: StateID, k: usize| {
        s.as_usize()
            .checked_shr(stride2)
            .and_then(|i| i.checked_mul(nodes))
            .and_then(|i| i.checked_add(k))
    };
    let mut visited: Vec<u64> = Vec::new();
    let words = states.saturating_mul(nodes).div_ceil(64);
    visited.try_reserve_exact(words)?;
    visited.resize(words, 0);
    let mut mark = |i: usize| -> Option<bool> {
        let w = visited.get_mut(i.checked_shr(6)?)?;
        let bit = 1u64.wrapping_shl(u32::try_from(i & 63).ok()?);
        let new = *w & bit == 0;
        *w |= bit;
        Some(new)
    };
    let mut stack: Vec<(StateID, u16)> = Vec::new();
    stack.try_reserve(states.min(1024))?;
    match idx(start, 0).and_then(&mut mark) {
        Some(_) => try_push(&mut stack, (start, 0))?,
        None => return Ok(false),
    }
    // Bounded: each (state, node) pair is pushed at most once.
    while let Some((s, k)) = stack.pop() {
        if dfa.is_match_state(s) || dfa.is_quit_state(s) {
            return Ok(false);
        }
        let eoi = dfa.next_eoi_state(s);
        if dfa.is_match_state(eoi) || dfa.is_quit_state(eoi) {
            return Ok(false);
        }
        for &(_, c, b) in &keys {
            let t = dfa.next_state(s, b);
            if dfa.is_dead_state(t) {
                continue;
            }
            let Some(&k2) = at(usize::from(k), usize::from(c)).and_then(|i| delta.get(i)) else {
                return Ok(false);
            };
            match term.get(usize::from(k2)) {
                Some(false) => {}
                Some(true) => continue, // a member occurred on this path
                None => return Ok(false),
            }
            match idx(t, usize::from(k2)).and_then(&mut mark) {
                Some(true) => try_push(&mut stack, (t, k2))?,
                Some(false) => {}
                None => return Ok(false),
            }
        }
    }
    if let Some(q) = quiet {
        let words = states.div_ceil(64);
        q.try_reserve(words)?;
        let base = q.len();
        q.resize(base.saturating_add(words), 0);
        for i in 0..states {
            let at_root = i
                .checked_mul(nodes)
                .and_then(|j| Some(visited.get(j >> 6)? >> (j & 63) & 1 == 1));
            if at_root == Some(true) {
                if let Some(w) = base.checked_add(i >> 6).and_then(|k| q.get_mut(k)) {
                    *w |= 1u64 << (i & 63);
                }
            }
        }
    }
    Ok(true)
}

/// What is left of one engine build's load-time analysis steps.
#[derive(Debug)]
pub(super) struct Budget {
    left: u64,
    per_dfa_byte: u64,
    /// Analyses skipped because the budget was spent.
    pub(super) skipped: u32,
}

impl Budget {
    pub(super) const fn new(steps: u64, per_dfa_byte: u64) -> Budget {
        Budget {
            left: steps,
            per_dfa_byte,
            skipped: 0,
        }
    }

    /// Add the allowance of a DFA of `bytes` bytes, before it is analysed.
    pub(super) fn grant(&mut self, bytes: u64) {
        self.left = self
            .left
            .saturating_add(bytes.saturating_mul(self.per_dfa_byte));
    }

    /// Charge `steps` if they fit; otherwise count a skipped analysis.
    fn take(&mut self, steps: usize) -> bool {
        match self
            .left
            .checked_sub(u64::try_from(steps).unwrap_or(u64::MAX))
        {
            Some(left) => {
                self.left = left;
                true
            }
            None => {
                self.skipped = self.skipped.saturating_add(1);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::borrow::ToOwned;
    use alloc::boxed::Box;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec;
    use changuard_format::regex_automata::dfa::{StartKind, dense};
    use changuard_format::regex_automata::util::syntax;
    use proptest::prelude::*;

    fn build(pattern: &str, ci: bool) -> dense::DFA<Vec<u32>> {
        dense::Builder::new()
            .configure(dense::Config::new().start_kind(StartKind::Unanchored))
            .syntax(syntax::Config::new().case_insensitive(ci))
            .build(pattern)
            .expect("DFA")
    }

    fn req(d: &dense::DFA<Vec<u32>>, lits: &[&[u8]], folded: bool) -> bool {
        let mut budget = Budget::new(u64::MAX / 2, 0);
        let got =
            any_literal_required(&d.as_ref(), lits, folded, &mut budget, None).expect("memory");
        assert_eq!(budget.skipped, 0, "the analysis must not be skipped");
        got
    }

    fn one(d: &dense::DFA<Vec<u32>>, lit: &[u8], folded: bool) -> bool {
        let mut budget = Budget::new(u64::MAX / 2, 0);
        literal_required(&d.as_ref(), lit, folded, &mut budget, None).expect("memory")
    }

    /// `h` contains some member (ASCII case-insensitively when `folded`).
    fn contains_any(h: &[u8], lits: &[Vec<u8>], folded: bool) -> bool {
        lits.iter().any(|l| {
            l.is_empty()
                || h.windows(l.len()).any(|w| {
                    if folded {
                        w.eq_ignore_ascii_case(l)
                    } else {
                        w == l.as_slice()
                    }
                })
        })
    }

    fn refs(lits: &[Vec<u8>]) -> Vec<&[u8]> {
        lits.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn alternation_needs_the_whole_set() {
        let d = build("(SQBFAFgA|aQBlAHgA)[a-z]+", false);
        assert!(req(&d, &[b"SQBFAFgA", b"aQBlAHgA"], false));
        assert!(!req(&d, &[b"SQBFAFgA"], false));
        assert!(!req(&d, &[b"aQBlAHgA", b"zzzz"], false));
        // Folding the members only widens what counts as an occurrence.
        assert!(req(&d, &[b"sqbfafga", b"AQBLAHGA"], true));
        assert!(!req(&d, &[b"sqbfafga", b"AQBLAHGA"], false));

        let d = build("x(abcd|efgh)y", false);
        assert!(req(&d, &[b"abcd", b"efgh"], false));
        assert!(req(&d, &[b"xa", b"xe"], false));
        assert!(req(&d, &[b"cdy", b"ghy"], false));
        assert!(req(&d, &[b"bcd", b"fgh", b"zzz"], false));
        assert!(!req(&d, &[b"abcd"], false));
        assert!(!req(&d, &[b"xabcdy", b"efghx"], false));
    }

    #[test]
    fn failure_links_find_members_inside_other_prefixes() {
        // "ab" (a prefix of "abx") falls back to "b" to see "bc".
        let d = build("abc", false);
        assert!(req(&d, &[b"abx", b"bc"], false));
        assert!(!req(&d, &[b"abx", b"bd"], false));
        // Node "abc" is terminal only through its failure link to "bc".
        let d = build("abce", false);
        assert!(req(&d, &[b"abcd", b"bc"], false));
        assert!(!req(&d, &[b"abcd", b"bd"], false));
        // KMP's classic: "abab" + "a" falls back to "aba".
        let d = build("abababc", false);
        assert!(req(&d, &[b"ababc"], false));
        assert!(one(&d, b"ababc", false));
        let d = build("abababd", false);
        assert!(!req(&d, &[b"ababc"], false));
        let d = build("ababc", false);
        assert!(req(&d, &[b"babc"], false));
        assert!(req(&d, &[b"abab", b"babc"], false));
        assert!(!req(&d, &[b"abac", b"babb"], false));
        // Members that are prefixes of each other, and duplicates.
        let d = build("(ab|abc)d", false);
        assert!(req(&d, &[b"ab", b"abc"], false));
        assert!(req(&d, &[b"abc", b"ab", b"ab"], false));
        assert!(!req(&d, &[b"abc"], false));
    }

    #[test]
    fn folded_sets() {
        let d = build("hello|world", true);
        assert!(req(&d, &[b"hello", b"world"], true));
        assert!(req(&d, &[b"HELLO", b"WoRlD"], true));
        assert!(!req(&d, &[b"hello", b"world"], false));
        assert!(!req(&d, &[b"hello"], true));
        assert!(!req(&d, &[b"hellO", b"world"], false));
        let d = build("(?i)hello|world", false);
        assert!(req(&d, &[b"hello", b"world"], true));
        assert!(!req(&d, &[b"hello", b"world"], false));
        // Case-sensitive DFA: folded members are still found.
        let d = build("hello|world", false);
        assert!(req(&d, &[b"hello", b"world"], false));
        assert!(req(&d, &[b"HELLO", b"WORLD"], true));
        assert!(!req(&d, &[b"HELLO", b"WORLD"], false));
    }

    #[test]
    fn edge_cases() {
        let d = build("abc", false);
        assert!(!req(&d, &[], false), "an empty set is never required");
        assert!(
            req(&d, &[b""], false),
            "the empty string is in every haystack"
        );
        assert!(req(&d, &[b"zz", b""], false));
        // A DFA matching the empty string proves no non-empty member.
        let d = build("a*", false);
        assert!(!req(&d, &[b"a"], false));
        assert!(req(&d, &[b""], false));
        // The wrapper on the existing hint shapes.
        let d = build("foo[0-9]+bar", false);
        assert!(one(&d, b"foo", false));
        assert!(one(&d, b"bar", false));
        assert!(one(&d, b"oo", false));
        assert!(!one(&d, b"ob", false));
        assert!(one(&d, b"", false));
        // Over the budget: unproven and counted, not an error.
        let mut budget = Budget::new(0, 0);
        let got = any_literal_required(&d.as_ref(), &[b"foo"], false, &mut budget, None);
        assert_eq!(got, Ok(false));
        assert_eq!(budget.skipped, 1);
        // Over u16::MAX member bytes: unproven without any work.
        let long = vec![b'f'; 40_000];
        let mut budget = Budget::new(u64::MAX / 2, 0);
        let got = any_literal_required(&d.as_ref(), &[&long, &long], false, &mut budget, None);
        assert_eq!(got, Ok(false));
        assert_eq!(budget.skipped, 0);
    }

    /// Tiny regexes over `a`, `b`, `c`.
    #[derive(Clone, Debug)]
    enum Re {
        Lit(Vec<u8>),
        Class,
        Dot,
        Cat(Box<Re>, Box<Re>),
        Alt(Box<Re>, Box<Re>),
        Opt(Box<Re>),
        Star(Box<Re>),
    }

    impl Re {
        fn pattern(&self) -> String {
            match self {
                Re::Lit(s) => String::from_utf8(s.clone()).expect("ASCII"),
                Re::Class => "[ab]".to_owned(),
                Re::Dot => ".".to_owned(),
                Re::Cat(a, b) => format!("(?:{})(?:{})", a.pattern(), b.pattern()),
                Re::Alt(a, b) => format!("(?:{}|{})", a.pattern(), b.pattern()),
                Re::Opt(a) => format!("(?:{})?", a.pattern()),
                Re::Star(a) => format!("(?:{})*", a.pattern()),
            }
        }

        /// Whether the language's strings without a member are all in
        /// `expand`: with no star, `.` as `d` (in no member, so the choice
        /// least likely to complete one) loses nothing.
        fn exact(&self) -> bool {
            match self {
                Re::Lit(_) | Re::Class | Re::Dot => true,
                Re::Cat(a, b) | Re::Alt(a, b) => a.exact() && b.exact(),
                Re::Opt(a) => a.exact(),
                Re::Star(_) => false,
            }
        }

        fn has_dot(&self) -> bool {
            match self {
                Re::Dot => true,
                Re::Lit(_) | Re::Class => false,
                Re::Cat(a, b) | Re::Alt(a, b) => a.has_dot() || b.has_dot(),
                Re::Opt(a) | Re::Star(a) => a.has_dot(),
            }
        }

        fn nullable(&self) -> bool {
            match self {
                Re::Lit(_) | Re::Class | Re::Dot => false,
                Re::Cat(a, b) => a.nullable() && b.nullable(),
                Re::Alt(a, b) => a.nullable() || b.nullable(),
                Re::Opt(_) | Re::Star(_) => true,
            }
        }

        /// Strings of the language (`.` as `d`, a star 0-2 times), or `None`
        /// past `cap` of them.
        fn expand(&self, cap: usize) -> Option<Vec<Vec<u8>>> {
            let cat = |xs: &[Vec<u8>], ys: &[Vec<u8>]| -> Option<Vec<Vec<u8>>> {
                if xs.len().checked_mul(ys.len())? > cap {
                    return None;
                }
                let mut out = Vec::new();
                for x in xs {
                    for y in ys {
                        out.push([x.as_slice(), y.as_slice()].concat());
                    }
                }
                Some(out)
            };
            let out = match self {
                Re::Lit(s) => vec![s.clone()],
                Re::Class => vec![b"a".to_vec(), b"b".to_vec()],
                Re::Dot => vec![b"d".to_vec()],
                Re::Cat(a, b) => cat(&a.expand(cap)?, &b.expand(cap)?)?,
                Re::Alt(a, b) => [a.expand(cap)?, b.expand(cap)?].concat(),
                Re::Opt(a) => [vec![Vec::new()], a.expand(cap)?].concat(),
                Re::Star(a) => {
                    let xs = a.expand(cap)?;
                    [vec![Vec::new()], xs.clone(), cat(&xs, &xs)?].concat()
                }
            };
            (out.len() <= cap).then_some(out)
        }
    }

    fn re() -> impl Strategy<Value = Re> {
        let letter = || prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')];
        let leaf = prop_oneof![
            4 => proptest::collection::vec(letter(), 1..4).prop_map(Re::Lit),
            1 => Just(Re::Class),
            1 => Just(Re::Dot),
        ];
        leaf.prop_recursive(3, 10, 2, |inner| {
            prop_oneof![
                3 => (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Re::Cat(Box::new(a), Box::new(b))),
                2 => (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Re::Alt(Box::new(a), Box::new(b))),
                1 => inner.clone().prop_map(|a| Re::Opt(Box::new(a))),
                1 => inner.prop_map(|a| Re::Star(Box::new(a))),
            ]
        })
    }

    /// The set function as it was for one literal (KMP, before sets): the
    /// one-member case must agree with it.
    fn kmp_required(dfa: &DFA<&[u32]>, lit: &[u8], folded: bool) -> bool {
        let m = lit.len();
        let fold = |b: u8| if folded { b.to_ascii_lowercase() } else { b };
        if m == 0 {
            return true;
        }
        let cfg = start::Config::new().anchored(Anchored::No);
        let start = dfa.start_state(&cfg).expect("start");
        let classes = dfa.byte_classes();
        let mut keys: Vec<(u16, u16, u8)> = (0..=255u8)
            .map(|b| {
                let fb = fold(b);
                let k = if lit.contains(&fb) {
                    u16::from(fb)
                } else {
                    256
                };
                (u16::from(classes.get(b)), k, b)
            })
            .collect();
        keys.sort_unstable();
        keys.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let lf: Vec<u8> = lit.iter().map(|&b| fold(b)).collect();
        let mut fail = vec![0usize; m];
        let mut k = 0;
        for q in 1..m {
            while k > 0 && lf[k] != lf[q] {
                k = fail[k - 1];
            }
            if lf[k] == lf[q] {
                k += 1;
            }
            fail[q] = k;
        }
        let step = |mut k: usize, c: u16| -> usize {
            let Ok(c) = u8::try_from(c) else { return 0 };
            loop {
                if k < m && lf[k] == c {
                    return k + 1;
                }
                if k == 0 {
                    return 0;
                }
                k = fail[k - 1];
            }
        };
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![(start, 0usize)];
        seen.insert((start, 0usize));
        while let Some((s, k)) = stack.pop() {
            let eoi = dfa.next_eoi_state(s);
            if dfa.is_match_state(s)
                || dfa.is_quit_state(s)
                || dfa.is_match_state(eoi)
                || dfa.is_quit_state(eoi)
            {
                return false;
            }
            for &(_, c, b) in &keys {
                let t = dfa.next_state(s, b);
                let k2 = step(k, c);
                if dfa.is_dead_state(t) || k2 >= m {
                    continue;
                }
                if seen.insert((t, k2)) {
                    stack.push((t, k2));
                }
            }
        }
        true
    }

    extern crate std;

    fn hay() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                Just(b'a'),
                Just(b'b'),
                Just(b'c'),
                Just(b'd'),
                Just(b'A'),
                Just(b'B'),
                Just(b'\n')
            ],
            0..10,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Sound on the DFA's own matches, exact against the language where
        /// it can be listed, and one member is the old KMP proof.
        #[test]
        fn set_proofs_agree_with_brute_force(
            re in re(),
            ci in any::<bool>(),
            folded in any::<bool>(),
            random in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 1..4),
                0..4,
            ),
            picks in proptest::collection::vec((any::<usize>(), any::<usize>(), 1usize..4), 0..4),
            upper in any::<u32>(),
            hays in proptest::collection::vec(hay(), 24),
        ) {
            let d = build(&re.pattern(), ci);
            let strings = re.expand(256);
            // Members: random, plus pieces of the language's own strings (so
            // that proofs succeed often), some upper-cased when folded.
            let mut lits = random;
            if let Some(ws) = &strings {
                for &(i, at, len) in &picks {
                    let w = &ws[i % ws.len()];
                    if !w.is_empty() {
                        let at = at % w.len();
                        let end = (at + len).min(w.len());
                        // Not `.`'s `d`: the oracle needs it in no member.
                        if !w[at..end].contains(&b'd') {
                            lits.push(w[at..end].to_vec());
                        }
                    }
                }
            }
            if folded {
                for (i, b) in lits.iter_mut().flatten().enumerate() {
                    if upper >> (i % 32) & 1 == 1 {
                        *b = b.to_ascii_uppercase();
                    }
                }
            }
            let got = req(&d, &refs(&lits), folded);

            // Soundness on haystacks the DFA matches.
            let mut all = hays.clone();
            for w in strings.iter().flatten().take(16) {
                all.push(w.clone());
                all.push([hays[0].as_slice(), w, hays[1].as_slice()].concat());
            }
            if got {
                for h in &all {
                    if d.try_search_fwd(&Input::new(h)).expect("search").is_some() {
                        prop_assert!(contains_any(h, &lits, folded), "{:?} lacks {:?}", h, lits);
                    }
                }
            }

            // Against the language (case-insensitive DFA, case-sensitive
            // members: all upper case is in it and holds no member).
            if let Some(ws) = &strings {
                let upcase = ci && !folded;
                let want = !lits.is_empty()
                    && ws.iter().all(|w| {
                        let w = if upcase { w.to_ascii_uppercase() } else { w.clone() };
                        contains_any(&w, &lits, folded)
                    });
                if got {
                    prop_assert!(want, "proved but a string lacks every member");
                }
                if re.exact() {
                    prop_assert_eq!(got, want);
                }
            }
            // Every non-empty match of a dot-free pattern holds a letter.
            if !re.has_dot() && !re.nullable() {
                prop_assert!(req(&d, &[b"a", b"b", b"c"], true));
            }

            // One member: the wrapper is the set function is the old KMP proof.
            // (That one did not fold the literal itself, only the haystack, so
            // a folded literal with upper case was never proven; the writer
            // lower-cases folded hints. Now the member is folded too.)
            for l in &lits {
                let set = req(&d, &[l], folded);
                prop_assert_eq!(one(&d, l, folded), set);
                let lower = if folded { l.to_ascii_lowercase() } else { l.clone() };
                prop_assert_eq!(kmp_required(&d.as_ref(), &lower, folded), set);
                prop_assert!(!kmp_required(&d.as_ref(), l, folded) || set);
            }
        }
    }
}
