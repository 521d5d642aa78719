//! Load-time proofs over a DFA, both exact and step-bounded: the byte classes
//! every match must contain (`required_classes`, the regex prefilter) and
//! whether a signer's literal hint is really required (`literal_required`).
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
    let nclass = classes.alphabet_len().saturating_sub(1); // minus EOI
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
/// Exact: a search over the product of the DFA with the KMP automaton of
/// `lit` ("how much of `lit` was just seen"), pruning every path on which
/// `lit` has occurred. The literal is required iff no match state (and no quit
/// state: a search error must still be reported) is reachable, counting the
/// end-of-input transition. The alphabet is the DFA's byte classes refined by
/// the literal's bytes (one representative per (class, literal byte or
/// "other") pair). Returns `false` (unproven: the caller does not anchor on
/// it) when the product would exceed [`LIT_ANALYSIS_STEPS`]. Load time only;
/// allocation is fallible.
pub(super) fn literal_required(
    dfa: &DFA<&[u32]>,
    lit: &[u8],
    folded: bool,
    budget: &mut Budget,
) -> Result<bool, EngineError> {
    let m = lit.len();
    let fold = |b: u8| if folded { b.to_ascii_lowercase() } else { b };
    if m == 0 {
        return Ok(true);
    }
    if m > usize::from(u16::MAX) {
        return Ok(false);
    }
    let cfg = start::Config::new().anchored(Anchored::No);
    let Ok(start) = dfa.start_state(&cfg) else {
        return Ok(false);
    };
    // Alphabet: (class, literal byte or 256) pairs, one representative byte each.
    let classes = dfa.byte_classes();
    let mut keys: Vec<(u16, u16, u8)> = Vec::new();
    keys.try_reserve_exact(256)?;
    for b in 0..=255u8 {
        let fb = fold(b);
        let k = if lit.contains(&fb) {
            u16::from(fb)
        } else {
            256
        };
        keys.push((u16::from(classes.get(b)), k, b));
    }
    keys.sort_unstable();
    keys.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    let nrep = keys.len();
    let stride2 = u32::try_from(dfa.stride2()).unwrap_or(u32::MAX);
    let states = (dfa.memory_usage() / 4)
        .checked_shr(stride2)
        .unwrap_or(0)
        .saturating_add(1);
    let Some(product) = states.checked_mul(m) else {
        return Ok(false);
    };
    let steps = product.saturating_mul(nrep);
    if steps > LIT_ANALYSIS_STEPS || !budget.take(steps) {
        return Ok(false);
    }
    // KMP: failure function, then next[k * nrep + r] for k < m.
    let mut fail: Vec<usize> = Vec::new();
    fail.try_reserve_exact(m)?;
    fail.push(0);
    let mut k = 0usize;
    for q in 1..m {
        let c = lit.get(q).copied().map(fold);
        // Bounded: k strictly decreases.
        for _ in 0..m {
            if k == 0 || lit.get(k).copied().map(fold) == c {
                break;
            }
            k = fail.get(k.saturating_sub(1)).copied().unwrap_or(0);
        }
        if lit.get(k).copied().map(fold) == c {
            k = k.saturating_add(1);
        }
        fail.push(k);
    }
    let mut next: Vec<u16> = Vec::new();
    next.try_reserve_exact(m.saturating_mul(nrep))?;
    for kk in 0..m {
        for &(_, lb, _) in &keys {
            let mut k = kk;
            let c = u8::try_from(lb).ok();
            let mut out = 0usize;
            if c.is_some() {
                for _ in 0..=m {
                    if lit.get(k).copied().map(fold) == c {
                        out = k.saturating_add(1);
                        break;
                    }
                    if k == 0 {
                        break;
                    }
                    k = fail.get(k.saturating_sub(1)).copied().unwrap_or(0);
                }
            }
            next.push(u16::try_from(out).unwrap_or(u16::MAX));
        }
    }
    let idx = |s: StateID, k: usize| {
        s.as_usize()
            .checked_shr(stride2)
            .and_then(|i| i.checked_mul(m))
            .and_then(|i| i.checked_add(k))
    };
    let mut visited: Vec<u64> = Vec::new();
    let words = product.div_ceil(64);
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
    // Bounded: each (state, k) pair is pushed at most once.
    while let Some((s, k)) = stack.pop() {
        if dfa.is_match_state(s) || dfa.is_quit_state(s) {
            return Ok(false);
        }
        let eoi = dfa.next_eoi_state(s);
        if dfa.is_match_state(eoi) || dfa.is_quit_state(eoi) {
            return Ok(false);
        }
        let row = usize::from(k).saturating_mul(nrep);
        for (r, &(_, _, b)) in keys.iter().enumerate() {
            let t = dfa.next_state(s, b);
            if dfa.is_dead_state(t) {
                continue;
            }
            let Some(&k2) = row.checked_add(r).and_then(|i| next.get(i)) else {
                return Ok(false);
            };
            if usize::from(k2) >= m {
                continue; // the literal occurred on this path
            }
            match idx(t, usize::from(k2)).and_then(&mut mark) {
                Some(true) => try_push(&mut stack, (t, k2))?,
                Some(false) => {}
                None => return Ok(false),
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
