//! The 4-byte gram index of `contains` needles: which gram of each needle is
//! indexed (`choose_grams`) and the bloom filter plus sorted gram table
//! (`build_grams`). Load time only; allocation is fallible.
//!
//! Invariant (`build_grams`): a key's `confirm` is `Some` only when every
//! entry of the key was chosen for the same needle, at the same offset and
//! case mode, so confirming that needle confirms each entry's.
//!
//! Invariant (`hash_keys`): a table is kept only when every key sits at
//! most `probes` slots from its home and `probes` is at most the steps a
//! binary search of the keys takes, so [`GramIndex::find`] answers exactly
//! as that search would, within the fuel the gram pass charges for it.

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

/// An empty slot of a gram table (key indexes stay below `GRAM_KEYS_MAX`).
const EMPTY: u32 = u32::MAX;

/// Home slot of gram `g` in a table of `2^(32 - shift)` slots.
fn home(g: u32, shift: u32) -> usize {
    usize::try_from(g.wrapping_mul(0x9E37_79B1).wrapping_shr(shift)).unwrap_or(0)
}

/// Hash `gi.keys` into `gi.table`: at least twice as many slots as keys,
/// doubled (at most twice) until no key is further from home than a binary
/// search of the keys has steps. Without such a table the probe searches.
/// A binary search over thousands of keys is a dozen dependent loads per
/// gram the bloom filter passes; a table hit is usually one.
pub(super) fn hash_keys(gi: &mut GramIndex<'_>) -> Result<(), EngineError> {
    let n = gi.keys.len();
    if n == 0 {
        return Ok(());
    }
    let limit = strops::search_steps(n);
    let Some(mut size) = n.checked_mul(2).and_then(usize::checked_next_power_of_two) else {
        return Ok(());
    };
    for _ in 0..3 {
        let shift = 32u32.saturating_sub(size.trailing_zeros());
        let mut table: Vec<(u32, u32)> = Vec::new();
        table.try_reserve_exact(size)?;
        table.resize(size, (0, EMPTY));
        let mask = size.wrapping_sub(1);
        let mut worst = 0u32;
        for (d, &g) in gi.keys.iter().enumerate() {
            let d = u32::try_from(d).map_err(|_| EngineError::OutOfMemory)?;
            let mut i = home(g, shift) & mask;
            // Bounded: fewer keys than slots, so an empty slot is reached.
            for probe in 1..=size {
                match table.get_mut(i) {
                    Some(slot) if slot.1 == EMPTY => {
                        *slot = (g, d);
                        worst = worst.max(u32::try_from(probe).unwrap_or(u32::MAX));
                        break;
                    }
                    _ => i = i.wrapping_add(1) & mask,
                }
            }
        }
        if u64::from(worst) <= limit {
            gi.table = table;
            gi.probes = worst;
            gi.shift = shift;
            return Ok(());
        }
        size = size.saturating_mul(2);
    }
    Ok(())
}

impl GramIndex<'_> {
    /// The index of key `g` in `keys`, if it is one: by the table (at most
    /// `probes` slots read), else by binary search.
    #[inline]
    pub(super) fn find(&self, g: u32) -> Option<usize> {
        if self.table.is_empty() {
            return self.keys.binary_search(&g).ok();
        }
        let mask = self.table.len().wrapping_sub(1);
        let mut i = home(g, self.shift) & mask;
        for _ in 0..self.probes {
            let &(k, d) = self.table.get(i)?;
            if d == EMPTY {
                return None;
            }
            if k == g {
                return usize::try_from(d).ok();
            }
            i = i.wrapping_add(1) & mask;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn index(keys: &[u32]) -> GramIndex<'static> {
        let mut gi = GramIndex::default();
        gi.keys.extend_from_slice(keys);
        gi.keys.sort_unstable();
        gi.keys.dedup();
        hash_keys(&mut gi).expect("table");
        gi
    }

    proptest! {
        #[test]
        fn a_table_finds_what_the_search_finds(
            keys in proptest::collection::vec(any::<u32>(), 1..3000),
            probes in proptest::collection::vec(any::<u32>(), 0..200),
        ) {
            let gi = index(&keys);
            prop_assert!(!gi.table.is_empty(), "random keys: a table within the bound");
            prop_assert!(u64::from(gi.probes) <= strops::search_steps(gi.keys.len()));
            for g in keys.iter().chain(&probes) {
                prop_assert_eq!(gi.find(*g), gi.keys.binary_search(g).ok());
            }
        }

        /// Keys that all hash to one home slot (`k` times the hash's
        /// inverse hashes to `k`, whose top bits are zero): no table meets
        /// the bound, so the probe searches; a few such keys among others
        /// still get a table. Answers agree either way.
        #[test]
        fn colliding_keys_are_found_or_searched(
            n in 1usize..600,
            others in proptest::collection::vec(any::<u32>(), 0..600),
            probes in proptest::collection::vec(any::<u32>(), 0..50),
        ) {
            const INVERSE: u32 = 0x0E8B_2F51;
            prop_assert_eq!(INVERSE.wrapping_mul(0x9E37_79B1), 1);
            let mut keys: Vec<u32> = (0..n as u32).map(|k| k.wrapping_mul(INVERSE)).collect();
            let alone = index(&keys);
            prop_assert_eq!(alone.table.is_empty(), n > 2, "{} keys in one slot", n);
            keys.extend(&others);
            let gi = index(&keys);
            if !gi.table.is_empty() {
                prop_assert!(u64::from(gi.probes) <= strops::search_steps(gi.keys.len()));
            }
            for g in keys.iter().chain(&probes) {
                prop_assert_eq!(alone.find(*g), alone.keys.binary_search(g).ok());
                prop_assert_eq!(gi.find(*g), gi.keys.binary_search(g).ok());
            }
        }
    }
}
