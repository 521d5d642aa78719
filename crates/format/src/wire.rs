//! The one place that reads bytes (STYLE 2).
//!
//! Every read is bounds-checked with `get`/`split_at_checked` and checked
//! arithmetic, names what it was reading (`what`), and reports the absolute
//! file offset of the field it failed on. Nothing else in the crate indexes
//! or slices the input directly.

use core::ops::Range;

/// A read failed: what was being read and where (absolute file offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WireError {
    /// What was being read, for diagnostics and debug assertions.
    pub(crate) what: &'static str,
    /// Absolute offset of the field in the file.
    pub(crate) offset: usize,
}

/// `base + field.start .. base + field.end`, checked.
fn span(base: usize, field: Range<usize>, what: &'static str) -> Result<Range<usize>, WireError> {
    let err = WireError { what, offset: base };
    let start = base.checked_add(field.start).ok_or(err)?;
    let end = base.checked_add(field.end).ok_or(err)?;
    Ok(start..end)
}

/// The bytes of `field` in the record at `base`.
pub(crate) fn field<'a>(
    bytes: &'a [u8],
    base: usize,
    field: Range<usize>,
    what: &'static str,
) -> Result<&'a [u8], WireError> {
    let r = span(base, field, what)?;
    let offset = r.start;
    bytes.get(r).ok_or(WireError { what, offset })
}

/// `len` bytes at absolute offset `offset`.
pub(crate) fn slice<'a>(
    bytes: &'a [u8],
    offset: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], WireError> {
    let err = WireError { what, offset };
    let end = offset.checked_add(len).ok_or(err)?;
    bytes.get(offset..end).ok_or(err)
}

fn array<const N: usize>(
    bytes: &[u8],
    base: usize,
    f: Range<usize>,
    what: &'static str,
) -> Result<[u8; N], WireError> {
    let s = field(bytes, base, f, what)?;
    let offset = base;
    let (head, _) = s.split_at_checked(N).ok_or(WireError { what, offset })?;
    <[u8; N]>::try_from(head).map_err(|_| WireError { what, offset })
}

/// A `u8` field.
pub(crate) fn u8_at(
    bytes: &[u8],
    base: usize,
    f: Range<usize>,
    what: &'static str,
) -> Result<u8, WireError> {
    array(bytes, base, f, what).map(u8::from_le_bytes)
}

/// A little-endian `u16` field.
pub(crate) fn u16_at(
    bytes: &[u8],
    base: usize,
    f: Range<usize>,
    what: &'static str,
) -> Result<u16, WireError> {
    array(bytes, base, f, what).map(u16::from_le_bytes)
}

/// A little-endian `u32` field.
pub(crate) fn u32_at(
    bytes: &[u8],
    base: usize,
    f: Range<usize>,
    what: &'static str,
) -> Result<u32, WireError> {
    array(bytes, base, f, what).map(u32::from_le_bytes)
}

/// A little-endian `u64` field.
pub(crate) fn u64_at(
    bytes: &[u8],
    base: usize,
    f: Range<usize>,
    what: &'static str,
) -> Result<u64, WireError> {
    array(bytes, base, f, what).map(u64::from_le_bytes)
}

/// A fixed-size byte array field.
pub(crate) fn bytes_at<const N: usize>(
    bytes: &[u8],
    base: usize,
    f: Range<usize>,
    what: &'static str,
) -> Result<[u8; N], WireError> {
    array(bytes, base, f, what)
}

/// `base + index * size`, checked: the offset of record `index`.
pub(crate) fn record(base: usize, index: usize, size: usize) -> Option<usize> {
    index.checked_mul(size)?.checked_add(base)
}

/// Offset of the first non-zero byte of `s` (which starts at absolute `offset`).
pub(crate) fn first_nonzero(s: &[u8], offset: usize) -> Option<usize> {
    s.iter()
        .position(|&b| b != 0)
        .and_then(|p| offset.checked_add(p))
}

/// `x` rounded up to a multiple of `align` (a power of two).
pub(crate) fn align_up(x: usize, align: usize) -> Option<usize> {
    let mask = align.checked_sub(1)?;
    Some(x.checked_add(mask)? & !mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_checked() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(u16_at(&b, 1, 0..2, "x"), Ok(0x0302));
        assert_eq!(u32_at(&b, 5, 0..4, "x"), Ok(0x0908_0706));
        assert_eq!(
            u32_at(&b, 6, 0..4, "y"),
            Err(WireError {
                what: "y",
                offset: 6
            })
        );
        assert!(u64_at(&b, usize::MAX, 0..8, "z").is_err());
        assert!(slice(&b, usize::MAX, 2, "z").is_err());
        assert_eq!(align_up(9, 8), Some(16));
        assert_eq!(align_up(usize::MAX, 8), None);
        assert_eq!(first_nonzero(&[0, 0, 3], 10), Some(12));
    }
}
