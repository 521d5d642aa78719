//! Locate fields in (possibly invalid) channel files, for fixtures and
//! mutation tests. Every function reads the file as laid out by [`super::build`]
//! without validating it, and returns `None` when the location is not there.

use crate::layout::{self, SectionKind};
use crate::wire;

pub use crate::layout::{criterion, dfa_entry, header, instance, section, string_entry, trailer};

/// Offset of the section table entry for `kind`.
pub fn section_entry(bytes: &[u8], kind: SectionKind) -> Option<usize> {
    let n = wire::u32_at(bytes, 0, layout::header::SECTION_COUNT, "section count").ok()?;
    (0..n.min(layout::MAX_SECTIONS) as usize).find_map(|k| {
        let e = wire::record(layout::HEADER_LEN, k, layout::SECTION_ENTRY_LEN)?;
        let code = wire::u16_at(bytes, e, layout::section::KIND, "kind").ok()?;
        (code == kind.code()).then_some(e)
    })
}

/// `(offset, length, count)` of section `kind`, as the table states them.
pub fn section(bytes: &[u8], kind: SectionKind) -> Option<(usize, usize, u32)> {
    let e = section_entry(bytes, kind)?;
    let off = wire::u32_at(bytes, e, layout::section::OFFSET, "offset").ok()?;
    let len = wire::u32_at(bytes, e, layout::section::LENGTH, "length").ok()?;
    let count = wire::u32_at(bytes, e, layout::section::COUNT, "count").ok()?;
    Some((off as usize, len as usize, count))
}

/// Offset of instance record `i`.
pub fn instance(bytes: &[u8], i: usize) -> Option<usize> {
    let (off, _, _) = section(bytes, SectionKind::Instances)?;
    wire::record(off, i, layout::INSTANCE_LEN)
}

/// Offset of criterion record `index` (global index in CRITERIA).
pub fn criterion(bytes: &[u8], index: usize) -> Option<usize> {
    let (off, _, _) = section(bytes, SectionKind::Criteria)?;
    wire::record(off, index, layout::CRITERION_LEN)
}

/// Offset of criterion `k` of instance `i` (via its first-criterion field).
pub fn instance_criterion(bytes: &[u8], i: usize, k: usize) -> Option<usize> {
    let base = instance(bytes, i)?;
    let first = wire::u32_at(bytes, base, layout::instance::FIRST_CRITERION, "first").ok()?;
    criterion(bytes, (first as usize).checked_add(k)?)
}

/// Offset of STRINGS index entry `i`.
pub fn string_entry(bytes: &[u8], i: usize) -> Option<usize> {
    let (off, _, _) = section(bytes, SectionKind::Strings)?;
    wire::record(off, i, layout::STRING_ENTRY_LEN)
}

/// Offset of the first byte of string `i`.
pub fn string_bytes(bytes: &[u8], i: usize) -> Option<usize> {
    let (off, _, count) = section(bytes, SectionKind::Strings)?;
    let e = string_entry(bytes, i)?;
    let rel = wire::u32_at(bytes, e, layout::string_entry::OFFSET, "string offset").ok()?;
    wire::record(off, count as usize, layout::STRING_ENTRY_LEN)?.checked_add(rel as usize)
}

/// Offset of DFAS index entry `i`.
pub fn dfa_entry(bytes: &[u8], i: usize) -> Option<usize> {
    let (off, _, _) = section(bytes, SectionKind::Dfas)?;
    wire::record(off, i, layout::DFA_ENTRY_LEN)
}

/// Offset of the first byte of serialized DFA `i`.
pub fn dfa_blob(bytes: &[u8], i: usize) -> Option<usize> {
    let (off, _, _) = section(bytes, SectionKind::Dfas)?;
    let e = dfa_entry(bytes, i)?;
    let rel = wire::u32_at(bytes, e, layout::dfa_entry::OFFSET, "dfa offset").ok()?;
    off.checked_add(rel as usize)
}

/// Offset of the trailer.
pub fn trailer(bytes: &[u8]) -> Option<usize> {
    bytes.len().checked_sub(layout::TRAILER_LEN)
}

/// Overwrite `src.len()` bytes at `at`; `false` if out of range.
pub fn put(bytes: &mut [u8], at: usize, src: &[u8]) -> bool {
    super::sections::put(bytes, at, src).is_ok()
}
