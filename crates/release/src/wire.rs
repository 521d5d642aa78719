//! The one place that reads record bytes: every read is bounds-checked and
//! a short read is [`RecordRule::TooShort`] at the field's offset.

use core::ops::Range;

use crate::error::{RecordError, RecordRule};

/// The bytes of `field` in the structure at `base`.
pub(crate) fn field(b: &[u8], base: usize, field: Range<usize>) -> Result<&[u8], RecordError> {
    let short = RecordError::at(RecordRule::TooShort, base.saturating_add(field.start));
    let start = base.checked_add(field.start).ok_or(short)?;
    let end = base.checked_add(field.end).ok_or(short)?;
    b.get(start..end).ok_or(short)
}

pub(crate) fn array<const N: usize>(
    b: &[u8],
    base: usize,
    f: Range<usize>,
) -> Result<[u8; N], RecordError> {
    let at = base.saturating_add(f.start);
    let s = field(b, base, f)?;
    <[u8; N]>::try_from(s).map_err(|_| RecordError::at(RecordRule::TooShort, at))
}

pub(crate) fn u16_at(b: &[u8], base: usize, f: Range<usize>) -> Result<u16, RecordError> {
    array::<2>(b, base, f).map(u16::from_le_bytes)
}

pub(crate) fn u32_at(b: &[u8], base: usize, f: Range<usize>) -> Result<u32, RecordError> {
    array::<4>(b, base, f).map(u32::from_le_bytes)
}

pub(crate) fn u64_at(b: &[u8], base: usize, f: Range<usize>) -> Result<u64, RecordError> {
    array::<8>(b, base, f).map(u64::from_le_bytes)
}

/// `base + index * len`, checked.
pub(crate) fn entry(base: usize, index: usize, len: usize) -> Option<usize> {
    base.checked_add(index.checked_mul(len)?)
}
