//! STRINGS: the index, UTF-8, and the FOLDED flags.

use super::channel::Span;
use super::{R, ck, internal, rej};
use crate::error::Rule;
use crate::layout;
use crate::limits;
use crate::wire;

pub(super) fn check_strings(b: &[u8], s: Span) -> R<()> {
    use layout::string_entry as f;
    let blob = ck(
        wire::record(s.off, s.count as usize, layout::STRING_ENTRY_LEN),
        s.off,
    )?;
    let blob_len = ck(s.len.checked_sub(blob.saturating_sub(s.off)), s.off)?;
    let mut running: usize = 0;
    for i in 0..s.count as usize {
        let e = ck(wire::record(s.off, i, layout::STRING_ENTRY_LEN), s.off)?;
        let at = |r: core::ops::Range<usize>| e.saturating_add(r.start);
        let off = wire::u32_at(b, e, f::OFFSET, "string offset").map_err(internal)? as usize;
        let len = usize::from(wire::u16_at(b, e, f::LEN, "string length").map_err(internal)?);
        let flags = wire::u16_at(b, e, f::FLAGS, "string flags").map_err(internal)?;
        if off != running {
            return Err(
                rej(Rule::UnaccountedBytes, at(f::OFFSET)).values(running as u64, off as u64)
            );
        }
        if len > limits::MAX_STRING_LEN as usize {
            return Err(rej(Rule::StringTooLong, at(f::LEN))
                .values(limits::MAX_STRING_LEN.into(), len as u64));
        }
        let end = ck(off.checked_add(len), e)?;
        if end > blob_len {
            return Err(
                rej(Rule::SectionOutOfRange, at(f::LEN)).values(blob_len as u64, end as u64)
            );
        }
        if flags & !layout::STRING_FLAG_FOLDED != 0 {
            return Err(rej(Rule::ReservedNonZero, at(f::FLAGS)).values(0, flags.into()));
        }
        let start = ck(blob.checked_add(off), e)?;
        let bytes = wire::slice(b, start, len, "string").map_err(internal)?;
        if let Err(u) = core::str::from_utf8(bytes) {
            return Err(rej(
                Rule::StringNotUtf8,
                start.saturating_add(u.valid_up_to()),
            ));
        }
        let has_upper = bytes.iter().position(u8::is_ascii_uppercase);
        let folded = flags & layout::STRING_FLAG_FOLDED != 0;
        if folded {
            if let Some(p) = has_upper {
                return Err(rej(Rule::NeedleNotFolded, start.saturating_add(p)));
            }
        } else if has_upper.is_none() {
            // The flag states a fact about the bytes, so it is set exactly
            // when true: a clear flag on a folded string is a second encoding.
            return Err(rej(Rule::FoldedFlagMismatch, at(f::FLAGS))
                .values(layout::STRING_FLAG_FOLDED.into(), flags.into()));
        }
        running = end;
    }
    if running != blob_len {
        return Err(rej(Rule::UnaccountedBytes, blob.saturating_add(running))
            .values(blob_len as u64, running as u64));
    }
    Ok(())
}
