//! The section table: kinds, counts, spans, alignment and overlap.

use super::channel::Span;
use super::{R, ck, internal, rej};
use crate::error::Rule;
use crate::layout::{self, SectionKind};
use crate::limits;
use crate::wire;

fn section_cap(k: SectionKind) -> u32 {
    match k {
        SectionKind::Instances => limits::MAX_INSTANCES,
        SectionKind::Criteria => limits::MAX_CRITERIA,
        SectionKind::Strings => limits::MAX_STRINGS,
        SectionKind::Dfas => limits::MAX_DFAS,
        SectionKind::Metadata => limits::MAX_INSTANCES,
    }
}

/// `(record size, exact)`: fixed-record sections must be exactly
/// `count * size` long; indexed sections at least that.
fn section_record(k: SectionKind) -> (usize, bool) {
    match k {
        SectionKind::Instances => (layout::INSTANCE_LEN, true),
        SectionKind::Criteria => (layout::CRITERION_LEN, true),
        SectionKind::Strings => (layout::STRING_ENTRY_LEN, false),
        SectionKind::Dfas => (layout::DFA_ENTRY_LEN, false),
        SectionKind::Metadata => (layout::METADATA_LEN, true),
    }
}

/// The four required sections, then METADATA (a zero span when absent).
pub(super) fn check_sections(b: &[u8], body_end: usize) -> R<[Span; 5]> {
    use layout::section as f;
    let count_at = layout::header::SECTION_COUNT.start;
    let n = wire::u32_at(b, 0, layout::header::SECTION_COUNT, "section count").map_err(internal)?;
    if n > layout::MAX_SECTIONS {
        return Err(
            rej(Rule::CountTooLarge, count_at).values(layout::MAX_SECTIONS.into(), n.into())
        );
    }
    let table_end = ck(
        wire::record(layout::HEADER_LEN, n as usize, layout::SECTION_ENTRY_LEN),
        count_at,
    )?;
    if table_end > body_end {
        return Err(
            rej(Rule::SectionOutOfRange, count_at).values(body_end as u64, table_end as u64)
        );
    }
    let mut spans: [Option<Span>; 5] = [None; 5];
    // End of the last thing laid out (the table, then each section in turn).
    let mut cursor = table_end;
    for k in 0..n as usize {
        let e = ck(
            wire::record(layout::HEADER_LEN, k, layout::SECTION_ENTRY_LEN),
            count_at,
        )?;
        let at = |r: core::ops::Range<usize>| e.saturating_add(r.start);
        let code = wire::u16_at(b, e, f::KIND, "section kind").map_err(internal)?;
        let Some(kind) = SectionKind::from_code(code) else {
            return Err(rej(Rule::BadSectionTable, at(f::KIND)).values(0, code.into()));
        };
        let slot = spans
            .get_mut(kind.slot())
            .ok_or_else(|| rej(Rule::Internal, e))?;
        if slot.is_some() {
            return Err(rej(Rule::BadSectionTable, at(f::KIND)).values(0, code.into()));
        }
        // One encoding per content: entry k is the k-th kind. Checked after
        // "known, not a duplicate" so those keep their own rule.
        if kind.slot() != k {
            let want = SectionKind::ALL.get(k).map_or(0, |w| w.code());
            return Err(rej(Rule::SectionOrder, at(f::KIND)).values(want.into(), code.into()));
        }
        let reserved = wire::u16_at(b, e, f::RESERVED, "section reserved").map_err(internal)?;
        if reserved != 0 {
            return Err(rej(Rule::ReservedNonZero, at(f::RESERVED)).values(0, reserved.into()));
        }
        let off = wire::u32_at(b, e, f::OFFSET, "section offset").map_err(internal)? as usize;
        let slen = wire::u32_at(b, e, f::LENGTH, "section length").map_err(internal)? as usize;
        let count = wire::u32_at(b, e, f::COUNT, "section count").map_err(internal)?;
        if off % layout::SECTION_ALIGN != 0 {
            return Err(rej(Rule::SectionMisaligned, at(f::OFFSET)).values(0, off as u64));
        }
        if off < table_end || off > body_end {
            return Err(
                rej(Rule::SectionOutOfRange, at(f::OFFSET)).values(body_end as u64, off as u64)
            );
        }
        let end = ck(off.checked_add(slen), e)?;
        if end > body_end {
            return Err(
                rej(Rule::SectionOutOfRange, at(f::LENGTH)).values(body_end as u64, end as u64)
            );
        }
        if off < cursor {
            return Err(rej(Rule::SectionOverlap, at(f::OFFSET)).values(cursor as u64, off as u64));
        }
        let expected = ck(wire::align_up(cursor, layout::SECTION_ALIGN), e)?;
        if off != expected {
            return Err(
                rej(Rule::UnaccountedBytes, at(f::OFFSET)).values(expected as u64, off as u64)
            );
        }
        let pad =
            wire::slice(b, cursor, off.saturating_sub(cursor), "padding").map_err(internal)?;
        if let Some(p) = wire::first_nonzero(pad, cursor) {
            return Err(rej(Rule::UnaccountedBytes, p));
        }
        let cap = section_cap(kind);
        if count > cap {
            return Err(rej(Rule::CountTooLarge, at(f::COUNT)).values(cap.into(), count.into()));
        }
        let (size, exact) = section_record(kind);
        let need = ck((count as usize).checked_mul(size), e)?;
        if (exact && slen != need) || slen < need {
            return Err(
                rej(Rule::SectionLengthMismatch, at(f::LENGTH)).values(need as u64, slen as u64)
            );
        }
        *slot = Some(Span {
            off,
            len: slen,
            count,
        });
        cursor = end;
    }
    if cursor != body_end {
        return Err(rej(Rule::UnaccountedBytes, cursor).values(body_end as u64, cursor as u64));
    }
    let mut out = [Span::default(); 5];
    for (kind, (dst, src)) in SectionKind::ALL.iter().zip(out.iter_mut().zip(spans)) {
        *dst =
            src.ok_or_else(|| rej(Rule::BadSectionTable, count_at).values(kind.code().into(), 0))?;
    }
    if let (Some(dst), Some(Some(m))) = (out.get_mut(4), spans.get(4)) {
        *dst = *m;
    }
    Ok(out)
}
