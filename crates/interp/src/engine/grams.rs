//! The 4-byte gram index of `contains` needles: which gram of each needle is
//! indexed (`choose_grams`) and the bloom filter plus sorted gram table
//! (`build_grams`). Load time only; allocation is fallible.

use super::*;

/// Fill `gi` from sorted `(gram, instance)` pairs. Returns the instances that
/// did not fit under [`GRAM_KEYS_MAX`] (to be checked always).
pub(super) fn build_grams(
    gi: &mut GramIndex,
    pairs: &[(u32, u32)],
) -> Result<Vec<u32>, EngineError> {
    let mut overflow = Vec::new();
    if pairs.is_empty() {
        return Ok(overflow);
    }
    gi.bloom.try_reserve_exact(GRAM_BLOOM_WORDS)?;
    gi.bloom.resize(GRAM_BLOOM_WORDS, 0);
    gi.insts.try_reserve_exact(pairs.len())?;
    let mut i = 0usize;
    while let Some(&(g, _)) = pairs.get(i) {
        let mut j = i;
        let start = u32::try_from(gi.insts.len()).map_err(|_| EngineError::OutOfMemory)?;
        let fits = gi.keys.len() < GRAM_KEYS_MAX;
        while let Some(&(g2, inst)) = pairs.get(j) {
            if g2 != g {
                break;
            }
            if fits {
                gi.insts.push(inst);
            } else {
                try_push(&mut overflow, inst)?;
            }
            j = j.saturating_add(1);
        }
        if fits {
            let len = u32::try_from(j.saturating_sub(i)).map_err(|_| EngineError::OutOfMemory)?;
            try_push(&mut gi.keys, g)?;
            try_push(&mut gi.ranges, (start, len))?;
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
pub(super) fn choose_grams(
    needles: &[(&[u8], u32)],
    leftover: &mut Vec<u32>,
) -> Result<Vec<(u32, u32)>, EngineError> {
    let mut all: Vec<u32> = Vec::new();
    for (n, _) in needles {
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
    let mut out: Vec<(u32, u32)> = Vec::new();
    out.try_reserve_exact(needles.len())?;
    for &(n, inst) in needles {
        let mut best: Option<(usize, u32)> = None;
        for w in n.windows(4) {
            let g = gram_of(w);
            let c = count(g);
            if best.is_none_or(|(bc, _)| c < bc) {
                best = Some((c, g));
            }
        }
        match best {
            Some((_, g)) => out.push((g, inst)),
            None => try_push(leftover, inst)?,
        }
    }
    Ok(out)
}
