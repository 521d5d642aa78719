//! The string index tables: which criterion of an instance anchors it
//! (`anchor_of`, ranked by `test_rank`), and the sorted key tables with their
//! prefix chains (`build_table`). Load time only; allocation is fallible.

use super::*;

pub(super) fn slice32(v: &[u32], start: u32, len: u32) -> &[u32] {
    let (Ok(s), Ok(l)) = (usize::try_from(start), usize::try_from(len)) else {
        return &[];
    };
    s.checked_add(l).and_then(|e| v.get(s..e)).unwrap_or(&[])
}

pub(super) fn test_rank(t: &Test<'_>) -> u8 {
    match t {
        Test::IntEq(_) | Test::IntRange(..) | Test::IntMask(..) => 0,
        Test::Str {
            op: StrOp::Equals | StrOp::Prefix | StrOp::Suffix,
            ..
        } => 1,
        Test::Str { .. } => 2,
        Test::Regex(_) => 3,
    }
}

/// Selectivity score (higher is better; 0 = not indexable) and the anchor.
/// `lit` gives a DFA's proven required literal.
pub(super) fn anchor_of<'a>(
    field: u8,
    crit: u32,
    t: &Test<'a>,
    lit: impl Fn(u32) -> (Option<&'a [u8]>, bool),
) -> (u64, Anchor) {
    match *t {
        // A regex with a proven required literal: a contains anchor on the
        // literal (ranked just below a contains needle of the same length,
        // whose candidates need no DFA scan). Otherwise, a regex in a regex
        // group with a cache slot: its group's one scan per event names the
        // patterns that matched (above integer equality, below every literal).
        Test::Regex(d) => match lit(d) {
            (Some(l), _) if l.len() >= LIT_MIN => (
                len64(l.len()).saturating_mul(8).saturating_sub(17).max(1),
                Anchor::Contains { field, crit },
            ),
            (_, true) => (2, Anchor::Group { field, crit }),
            _ => (0, Anchor::None),
        },
        // Integer equality is exact but its values (flags, session ids,
        // access bits) are often common in events: last-resort anchor.
        Test::IntEq(value) => (1, Anchor::IntEq { field, value }),
        Test::Str {
            op: StrOp::Equals,
            needle,
            ..
        } => (
            2_000_000u64.saturating_add(len64(needle.len())),
            Anchor::StrEq { field, crit },
        ),
        Test::Str {
            op: StrOp::Prefix | StrOp::Suffix,
            needle,
            ..
        } if needle.len() >= 3 => (
            len64(needle.len()).saturating_mul(8),
            Anchor::Affix { field, crit },
        ),
        Test::Str {
            op: StrOp::Contains,
            needle,
            ..
        } if needle.len() >= 4 => (
            len64(needle.len())
                .saturating_mul(8)
                .saturating_sub(16)
                .max(1),
            Anchor::Contains { field, crit },
        ),
        _ => (0, Anchor::None),
    }
}

/// Sort `(needle, is_equals, instance)` entries into a [`StrTable`].
pub(super) fn build_table<'a>(
    entries: &mut [(&'a [u8], bool, u32)],
    dir: Dir,
) -> Result<StrTable<'a>, EngineError> {
    entries.sort_unstable_by(|a, b| {
        strops::cmp_keys(a.0, b.0, dir)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    let mut t = StrTable::default();
    t.insts.try_reserve_exact(entries.len())?;
    let mut stack: Vec<u32> = Vec::new();
    let mut depth: Vec<u64> = Vec::new();
    let mut i = 0usize;
    while let Some(&(s, _, _)) = entries.get(i) {
        // One key per distinct needle: its prefix-instances, then equals-instances.
        let mut j = i;
        let start = u32::try_from(t.insts.len()).map_err(|_| EngineError::OutOfMemory)?;
        let mut n_pre = 0u32;
        let mut n_eq = 0u32;
        for want_eq in [false, true] {
            let mut k = i;
            while let Some(&(s2, is_eq, g)) = entries.get(k) {
                if strops::cmp_keys(s2, s, dir) != Ordering::Equal {
                    break;
                }
                if is_eq == want_eq {
                    t.insts.push(g);
                    if want_eq {
                        n_eq = n_eq.saturating_add(1);
                    } else {
                        n_pre = n_pre.saturating_add(1);
                    }
                }
                k = k.saturating_add(1);
            }
            j = k;
        }
        let idx = u32::try_from(t.keys.len()).map_err(|_| EngineError::OutOfMemory)?;
        // Parent: the longest earlier key that is a prefix (in `dir`) of this one.
        while let Some(&top) = stack.last() {
            let ts = t
                .keys
                .get(usize::try_from(top).unwrap_or(usize::MAX))
                .map(|k| k.s);
            match ts {
                Some(ts) if strops::lcp_dir(ts, s, dir, false) == ts.len() => break,
                _ => {
                    stack.pop();
                }
            }
        }
        let parent = stack.last().copied().unwrap_or(NONE);
        let d = usize::try_from(parent)
            .ok()
            .and_then(|p| depth.get(p))
            .map_or(1, |d| d.saturating_add(1));
        try_push(&mut depth, d)?;
        t.max_chain = t.max_chain.max(d);
        try_push(&mut stack, idx)?;
        t.max_len = t.max_len.max(s.len());
        try_push(
            &mut t.keys,
            Key {
                s,
                parent,
                pre_start: start,
                pre_len: n_pre,
                eq_start: start.saturating_add(n_pre),
                eq_len: n_eq,
            },
        )?;
        i = j;
    }
    Ok(t)
}
