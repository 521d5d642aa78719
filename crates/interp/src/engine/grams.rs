//! The 4-byte gram index of `contains` needles: which gram of each needle is
//! indexed (`choose_grams`) and the bloom filter plus sorted gram table
//! (`build_grams`). Load time only; allocation is fallible.
//!
//! Invariant (`build_grams`): a key's `confirm` is `Some` only when every
//! entry of the key was chosen for the same needle, at the same offset and
//! case mode, so confirming that needle confirms each entry's.

use super::*;

/// A needle for the gram index: a contains needle, a regex's proven literal
/// or a member of a group's literal set, and the entry a hit names (an
/// instance, or `VIRTUAL | k` for literal group `k`).
#[derive(Clone, Copy, Debug)]
pub(super) struct GramNeedle<'a> {
    pub(super) text: &'a [u8],
    pub(super) entry: u32,
    /// Compared ASCII case-insensitively when confirmed.
    pub(super) ci: bool,
}

/// The gram chosen for one needle: `(gram, entry, the needle to confirm)`,
/// ordered so one key's entries are adjacent.
pub(super) type GramEntry<'a> = (u32, u32, Confirm<'a>);

/// Fill `gi` from sorted entries. Returns the entries that did not fit under
/// [`GRAM_KEYS_MAX`] (to be checked always).
pub(super) fn build_grams<'a>(
    gi: &mut GramIndex<'a>,
    pairs: &[GramEntry<'a>],
) -> Result<Vec<u32>, EngineError> {
    let mut overflow = Vec::new();
    if pairs.is_empty() {
        return Ok(overflow);
    }
    gi.bloom.try_reserve_exact(GRAM_BLOOM_WORDS)?;
    gi.bloom.resize(GRAM_BLOOM_WORDS, 0);
    gi.insts.try_reserve_exact(pairs.len())?;
    let mut i = 0usize;
    while let Some(&(g, _, first)) = pairs.get(i) {
        let mut j = i;
        let start = u32::try_from(gi.insts.len()).map_err(|_| EngineError::OutOfMemory)?;
        let fits = gi.keys.len() < GRAM_KEYS_MAX;
        let mut same = true;
        let mut last = None;
        while let Some(&(g2, inst, c)) = pairs.get(j) {
            if g2 != g {
                break;
            }
            same &= c == first;
            // Two members of one literal set may choose the same gram.
            if last != Some(inst) {
                last = Some(inst);
                if fits {
                    gi.insts.push(inst);
                } else {
                    try_push(&mut overflow, inst)?;
                }
            }
            j = j.saturating_add(1);
        }
        if fits {
            let end = u32::try_from(gi.insts.len()).map_err(|_| EngineError::OutOfMemory)?;
            try_push(&mut gi.keys, g)?;
            try_push(&mut gi.ranges, (start, end.saturating_sub(start)))?;
            try_push(&mut gi.confirm, same.then_some(first))?;
            let (w, bit) = gram_bit(g);
            if let Some(x) = gi.bloom.get_mut(w) {
                *x |= bit;
            }
        }
        i = j;
    }
    Ok(overflow)
}

/// For each contains needle, the 4-byte window (folded) that is rarest among
/// all windows of this field's contains needles (first on ties): a gram shared
/// by many needles would make many instances candidates on one hit.
pub(super) fn choose_grams<'a>(
    needles: &[GramNeedle<'a>],
    leftover: &mut Vec<u32>,
) -> Result<Vec<GramEntry<'a>>, EngineError> {
    let mut all: Vec<u32> = Vec::new();
    for n in needles.iter().map(|n| n.text) {
        let w = n.len().saturating_sub(3);
        all.try_reserve(w)?;
        let start = all.len();
        all.extend(n.windows(4).map(gram_of));
        // Count each needle's distinct grams once.
        if let Some(mine) = all.get_mut(start..) {
            mine.sort_unstable();
        }
        let mut k = start;
        let mut last: Option<u32> = None;
        let mut out = start;
        while let Some(&g) = all.get(k) {
            if last != Some(g) {
                if let Some(slot) = all.get_mut(out) {
                    *slot = g;
                }
                out = out.saturating_add(1);
                last = Some(g);
            }
            k = k.saturating_add(1);
        }
        all.truncate(out);
    }
    all.sort_unstable();
    let count = |g: u32| {
        all.partition_point(|&x| x <= g)
            .saturating_sub(all.partition_point(|&x| x < g))
    };
    let mut out: Vec<GramEntry<'a>> = Vec::new();
    out.try_reserve_exact(needles.len())?;
    for n in needles {
        // First on ties, so `off` is the gram's first offset in the needle
        // (a later occurrence has the same count and is never taken).
        let mut best: Option<(usize, u32, usize)> = None;
        for (off, w) in n.text.windows(4).enumerate() {
            let g = gram_of(w);
            let c = count(g);
            if best.is_none_or(|(bc, _, _)| c < bc) {
                best = Some((c, g, off));
            }
        }
        let off = best.and_then(|(_, _, o)| u32::try_from(o).ok());
        match (best, off) {
            (Some((_, g, _)), Some(off)) => out.push((
                g,
                n.entry,
                Confirm {
                    needle: n.text,
                    off,
                    ci: n.ci,
                },
            )),
            _ => try_push(leftover, n.entry)?,
        }
    }
    Ok(out)
}
