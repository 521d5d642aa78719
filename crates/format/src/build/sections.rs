//! STRINGS and DFAS, and the file around the sections: header, section
//! table, 8-aligned sections with zero padding, room for the trailer.

use std::collections::HashMap;
use std::string::{String, ToString};
use std::vec::Vec;

use super::{BuildError, ChannelSpec};
use crate::layout::{self, SectionKind};

/// Overwrite `src.len()` bytes of `buf` at `at`.
pub(super) fn put(buf: &mut [u8], at: usize, src: &[u8]) -> Result<(), BuildError> {
    let end = at
        .checked_add(src.len())
        .ok_or(BuildError::TooLarge { what: "offset" })?;
    buf.get_mut(at..end)
        .ok_or(BuildError::TooLarge { what: "offset" })?
        .copy_from_slice(src);
    Ok(())
}

/// Write field `f` of the record at `base`.
pub(super) fn field_put(
    buf: &mut [u8],
    base: usize,
    f: core::ops::Range<usize>,
    src: &[u8],
) -> Result<(), BuildError> {
    debug_assert_eq!(f.len(), src.len());
    put(
        buf,
        base.checked_add(f.start)
            .ok_or(BuildError::TooLarge { what: "offset" })?,
        src,
    )
}

pub(super) fn to_u32(x: usize, what: &'static str) -> Result<u32, BuildError> {
    u32::try_from(x).map_err(|_| BuildError::TooLarge { what })
}

fn align8(v: &mut Vec<u8>) {
    while v.len() % layout::SECTION_ALIGN != 0 {
        v.push(0);
    }
}

/// The STRINGS table being built: each string once, in first-use order.
#[derive(Default)]
pub(super) struct Strings {
    /// (string, has no ASCII upper case)
    list: Vec<(String, bool)>,
    index: HashMap<String, u32>,
}

impl Strings {
    /// The index of `s`, added if new.
    pub(super) fn intern(&mut self, s: &str) -> Result<u32, BuildError> {
        if let Some(&i) = self.index.get(s) {
            return Ok(i);
        }
        let i = to_u32(self.list.len(), "string count")?;
        let folded = !s.bytes().any(|b| b.is_ascii_uppercase());
        self.list.push((s.to_string(), folded));
        self.index.insert(s.to_string(), i);
        Ok(i)
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    /// The STRINGS section: index, then blob.
    pub(super) fn section(&self) -> Result<Vec<u8>, BuildError> {
        let mut out: Vec<u8> = Vec::new();
        let mut blob: Vec<u8> = Vec::new();
        for (s, folded) in &self.list {
            let mut e = [0u8; layout::STRING_ENTRY_LEN];
            let len = u16::try_from(s.len()).map_err(|_| BuildError::TooLarge {
                what: "string length",
            })?;
            field_put(
                &mut e,
                0,
                layout::string_entry::OFFSET,
                &to_u32(blob.len(), "string blob")?.to_le_bytes(),
            )?;
            field_put(&mut e, 0, layout::string_entry::LEN, &len.to_le_bytes())?;
            let flags: u16 = if *folded {
                layout::STRING_FLAG_FOLDED
            } else {
                0
            };
            field_put(&mut e, 0, layout::string_entry::FLAGS, &flags.to_le_bytes())?;
            out.extend_from_slice(&e);
            blob.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&blob);
        Ok(out)
    }
}

/// One DFAS entry as [`super::records`] lays it out.
pub(super) struct DfaEntry {
    /// The serialized DFA (empty for a group member after the first).
    pub(super) blob: Vec<u8>,
    /// String index of the pattern.
    pub(super) pattern: u32,
    pub(super) case_insensitive: bool,
    /// String index of the required literal (or set), folded, set.
    pub(super) literal: Option<(u32, bool, bool)>,
    /// Group word (pattern id, field, template id), grouped regexes only.
    pub(super) group: Option<u32>,
}

impl DfaEntry {
    /// A group member after the first: it points at its group's blob.
    fn shares_blob(&self) -> bool {
        self.group.is_some_and(|w| w & 0xff != 0)
    }
}

/// The DFAS section: index, then 8-aligned blobs (offsets relative to the
/// section start, which is itself 8-aligned).
pub(super) fn dfas_section(dfas: &[DfaEntry]) -> Result<Vec<u8>, BuildError> {
    let mut cursor = dfas
        .len()
        .checked_mul(layout::DFA_ENTRY_LEN)
        .ok_or(BuildError::TooLarge { what: "dfa count" })?;
    // (offset, length) of each entry's blob.
    let mut placed: Vec<(usize, usize)> = Vec::new();
    for d in dfas {
        if d.shares_blob() {
            let shared = placed.last().copied().unwrap_or((cursor, 0));
            placed.push(shared);
            continue;
        }
        cursor = cursor
            .checked_add(layout::DFA_ALIGN - 1)
            .ok_or(BuildError::TooLarge { what: "dfa offset" })?
            & !(layout::DFA_ALIGN - 1);
        placed.push((cursor, d.blob.len()));
        cursor = cursor
            .checked_add(d.blob.len())
            .ok_or(BuildError::TooLarge { what: "dfa offset" })?;
    }
    let mut out: Vec<u8> = Vec::new();
    for (d, &(off, len)) in dfas.iter().zip(&placed) {
        out.extend_from_slice(&dfa_entry(d, off, len)?);
    }
    for (d, &(off, _)) in dfas.iter().zip(&placed) {
        if !d.shares_blob() {
            out.resize(off, 0);
            out.extend_from_slice(&d.blob);
        }
    }
    Ok(out)
}

/// The index entry of `d`, whose blob is at `off` and `len` bytes long.
fn dfa_entry(
    d: &DfaEntry,
    off: usize,
    len: usize,
) -> Result<[u8; layout::DFA_ENTRY_LEN], BuildError> {
    use layout::dfa_entry as e;
    let mut rec = [0u8; layout::DFA_ENTRY_LEN];
    field_put(
        &mut rec,
        0,
        e::OFFSET,
        &to_u32(off, "dfa offset")?.to_le_bytes(),
    )?;
    field_put(
        &mut rec,
        0,
        e::LEN,
        &to_u32(len, "dfa length")?.to_le_bytes(),
    )?;
    field_put(&mut rec, 0, e::PATTERN, &d.pattern.to_le_bytes())?;
    let mut flags: u32 = if d.case_insensitive {
        layout::DFA_FLAG_CASE_INSENSITIVE
    } else {
        0
    };
    if let Some(w) = d.group {
        flags |= layout::DFA_FLAG_GROUPED;
        field_put(&mut rec, 0, e::GROUP, &w.to_le_bytes())?;
    }
    let literal = match d.literal {
        Some((s, folded, set)) => {
            if folded {
                flags |= layout::DFA_FLAG_LITERAL_FOLDED;
            }
            if set {
                flags |= layout::DFA_FLAG_LITERAL_SET;
            }
            s
        }
        None => layout::NO_LITERAL,
    };
    field_put(&mut rec, 0, e::FLAGS, &flags.to_le_bytes())?;
    field_put(&mut rec, 0, e::LITERAL, &literal.to_le_bytes())?;
    Ok(rec)
}

/// The whole file but its trailer's contents: header, section table, then
/// `sections` (kind, bytes, record count) 8-aligned with zero padding, then
/// a zeroed trailer for [`super::sign`] to fill.
pub(super) fn assemble(
    spec: &ChannelSpec,
    sections: &[(SectionKind, &[u8], usize)],
) -> Result<Vec<u8>, BuildError> {
    let table_end = layout::SECTION_ENTRY_LEN
        .checked_mul(sections.len())
        .and_then(|t| t.checked_add(layout::HEADER_LEN))
        .ok_or(BuildError::TooLarge {
            what: "section count",
        })?;
    let section_count = to_u32(sections.len(), "section count")?;
    let mut out = std::vec![0u8; table_end];
    let mut table = Vec::new();
    for &(k, bytes, count) in sections {
        align8(&mut out);
        let mut e = [0u8; layout::SECTION_ENTRY_LEN];
        field_put(&mut e, 0, layout::section::KIND, &k.code().to_le_bytes())?;
        field_put(
            &mut e,
            0,
            layout::section::OFFSET,
            &to_u32(out.len(), "section offset")?.to_le_bytes(),
        )?;
        field_put(
            &mut e,
            0,
            layout::section::LENGTH,
            &to_u32(bytes.len(), "section length")?.to_le_bytes(),
        )?;
        field_put(
            &mut e,
            0,
            layout::section::COUNT,
            &to_u32(count, "section count")?.to_le_bytes(),
        )?;
        table.extend_from_slice(&e);
        out.extend_from_slice(bytes);
    }
    put(&mut out, layout::HEADER_LEN, &table)?;
    let file_len = out
        .len()
        .checked_add(layout::TRAILER_LEN)
        .ok_or(BuildError::TooLarge {
            what: "file length",
        })?;
    {
        use layout::header as h;
        field_put(&mut out, 0, h::MAGIC, &layout::MAGIC)?;
        field_put(
            &mut out,
            0,
            h::VERSION,
            &layout::FORMAT_VERSION.to_le_bytes(),
        )?;
        field_put(
            &mut out,
            0,
            h::HEADER_LEN,
            &(layout::HEADER_LEN as u16).to_le_bytes(),
        )?;
        field_put(&mut out, 0, h::CHANNEL, &spec.channel.to_le_bytes())?;
        field_put(&mut out, 0, h::SECTION_COUNT, &section_count.to_le_bytes())?;
        field_put(&mut out, 0, h::CONTENT_VERSION, &spec.version.to_le_bytes())?;
        field_put(&mut out, 0, h::SCHEMA_ID, &spec.schema_id.to_le_bytes())?;
        field_put(&mut out, 0, h::FILE_LEN, &(file_len as u64).to_le_bytes())?;
    }
    out.resize(file_len, 0);
    Ok(out)
}
