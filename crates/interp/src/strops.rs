//! Byte-string primitives of the engine. All total, allocation-free at
//! evaluation; `ci` means "fold the *field* to ASCII lower case" (needles of
//! case-insensitive criteria are stored folded; the validator proves it).

use alloc::vec::Vec;
use core::cmp::Ordering;

#[inline]
pub(crate) fn fold(b: u8, ci: bool) -> u8 {
    if ci { b.to_ascii_lowercase() } else { b }
}

/// Direction of a key: forward for equals/prefix tables, reversed for suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Fwd,
    Rev,
}

#[inline]
pub(crate) fn at(s: &[u8], i: usize, dir: Dir) -> Option<u8> {
    match dir {
        Dir::Fwd => s.get(i).copied(),
        Dir::Rev => s
            .len()
            .checked_sub(i)
            .and_then(|n| n.checked_sub(1))
            .and_then(|j| s.get(j).copied()),
    }
}

/// Compare `needle` (already folded if `ci`) with `field` (folded on the fly)
/// in direction `dir`, lexicographically.
pub(crate) fn cmp_dir(needle: &[u8], field: &[u8], dir: Dir, ci: bool) -> Ordering {
    let n = needle.len().min(field.len());
    for i in 0..n {
        let a = at(needle, i, dir).unwrap_or(0);
        let b = fold(at(field, i, dir).unwrap_or(0), ci);
        match a.cmp(&b) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    needle.len().cmp(&field.len())
}

/// Plain (unfolded) comparison of two keys in direction `dir`, for sorting tables.
pub(crate) fn cmp_keys(a: &[u8], b: &[u8], dir: Dir) -> Ordering {
    cmp_dir(a, b, dir, false)
}

/// Length of the longest common prefix (in direction `dir`).
pub(crate) fn lcp_dir(needle: &[u8], field: &[u8], dir: Dir, ci: bool) -> usize {
    let n = needle.len().min(field.len());
    let mut i = 0;
    while i < n {
        if at(needle, i, dir) != at(field, i, dir).map(|b| fold(b, ci)) {
            break;
        }
        i = i.saturating_add(1);
    }
    i
}

pub(crate) fn eq(field: &[u8], needle: &[u8], ci: bool) -> bool {
    field.len() == needle.len() && field.iter().zip(needle).all(|(&f, &n)| fold(f, ci) == n)
}

pub(crate) fn starts_with(field: &[u8], needle: &[u8], ci: bool) -> bool {
    match field.get(..needle.len()) {
        Some(head) => eq(head, needle, ci),
        None => false,
    }
}

pub(crate) fn ends_with(field: &[u8], needle: &[u8], ci: bool) -> bool {
    match field
        .len()
        .checked_sub(needle.len())
        .and_then(|s| field.get(s..))
    {
        Some(tail) => eq(tail, needle, ci),
        None => false,
    }
}

/// KMP failure table (`fail[i]` = longest proper border of `needle[..=i]`),
/// built at load time with fallible allocation. `None` on allocation failure
/// or a needle too long for `u16` (the validator caps needles at 4096 bytes).
pub(crate) fn kmp_table(needle: &[u8]) -> Option<Vec<u16>> {
    let mut fail: Vec<u16> = Vec::new();
    fail.try_reserve_exact(needle.len()).ok()?;
    let mut k = 0usize;
    for (i, &b) in needle.iter().enumerate() {
        if i == 0 {
            fail.push(0);
            continue;
        }
        while k > 0 && needle.get(k) != Some(&b) {
            k = usize::from(*fail.get(k.checked_sub(1)?)?);
        }
        if needle.get(k) == Some(&b) {
            k = k.checked_add(1)?;
        }
        fail.push(u16::try_from(k).ok()?);
    }
    Some(fail)
}

/// Does `needle` occur in `field` (folded if `ci`)? Knuth-Morris-Pratt: at most
/// `2 * field.len()` byte comparisons, whatever the input. `None` if `fail`
/// does not belong to `needle` (an engine bug; the caller counts a fault).
pub(crate) fn kmp_contains(field: &[u8], needle: &[u8], fail: &[u16], ci: bool) -> Option<bool> {
    let m = needle.len();
    if m == 0 {
        return Some(true);
    }
    if fail.len() != m {
        return None;
    }
    let mut q = 0usize;
    for &raw in field {
        let c = fold(raw, ci);
        while q > 0 && needle.get(q) != Some(&c) {
            q = usize::from(*fail.get(q.checked_sub(1)?)?);
        }
        if needle.get(q) == Some(&c) {
            q = q.checked_add(1)?;
        }
        if q == m {
            return Some(true);
        }
    }
    Some(false)
}

/// ceil(log2(n + 1)): binary-search steps over `n` entries.
pub(crate) fn search_steps(n: usize) -> u64 {
    u64::from(usize::BITS.saturating_sub(n.leading_zeros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(field: &[u8], needle: &[u8], ci: bool) -> bool {
        needle.is_empty() || field.windows(needle.len()).any(|w| eq(w, needle, ci))
    }

    #[test]
    fn kmp_agrees_with_naive() {
        let hay: [&[u8]; 6] = [b"", b"aaaab", b"abababac", b"ABABAC", b"xyz", b"aabaabaaa"];
        let needles: [&[u8]; 7] = [b"", b"a", b"ab", b"abac", b"aab", b"aabaaa", b"zz"];
        for h in hay {
            for n in needles {
                let f = kmp_table(n).unwrap();
                for ci in [false, true] {
                    assert_eq!(
                        kmp_contains(h, n, &f, ci),
                        Some(naive(h, n, ci)),
                        "{h:?} {n:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn dir_compare() {
        assert_eq!(cmp_dir(b".exe", b"a.EXE", Dir::Rev, true), Ordering::Less);
        assert_eq!(lcp_dir(b".exe", b"a.EXE", Dir::Rev, true), 4);
        assert_eq!(lcp_dir(b"x.exe", b"a.EXE", Dir::Rev, true), 4);
        assert_eq!(search_steps(0), 0);
        assert_eq!(search_steps(1), 1);
        assert_eq!(search_steps(1000), 10);
    }
}
