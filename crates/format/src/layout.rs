//! The byte layout of a channel file, as `Range` consts (STYLE 4).
//!
//! docs/FORMAT.md is the prose version of this module; the two must agree.
//! All integers are little-endian. Ranges are relative to the start of the
//! structure they belong to (the file for the header, the entry or record
//! otherwise).

/// `CHGDCHAN`.
pub const MAGIC: [u8; 8] = *b"CHGDCHAN";
/// The only format version this validator reads.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 64;
/// Length of one section table entry.
pub const SECTION_ENTRY_LEN: usize = 16;
/// Most entries in the section table.
pub const MAX_SECTIONS: u32 = 8;
/// Every section starts at a multiple of this (relative to the file start).
pub const SECTION_ALIGN: usize = 8;
/// Length of one INSTANCES record.
pub const INSTANCE_LEN: usize = 16;
/// Length of one CRITERIA record.
pub const CRITERION_LEN: usize = 24;
/// Length of one STRINGS index entry.
pub const STRING_ENTRY_LEN: usize = 8;
/// Length of one DFAS index entry (a multiple of 8, so the blobs after the
/// index stay 8-aligned).
pub const DFA_ENTRY_LEN: usize = 24;
/// Bytes per METADATA record (one per instance).
pub const METADATA_LEN: usize = 16;
/// A METADATA string index that names no string.
pub const NO_STRING: u32 = u32::MAX;
/// Every serialized DFA starts at a multiple of this (relative to the file start).
pub const DFA_ALIGN: usize = 8;
/// Length of the trailer (key id + signature).
pub const TRAILER_LEN: usize = 72;
/// Smallest possible file: header + trailer (a file this short still fails
/// the section table checks).
pub const MIN_FILE_LEN: usize = HEADER_LEN + TRAILER_LEN;

/// Header fields (offsets from the file start).
pub mod header {
    use core::ops::Range;
    /// `CHGDCHAN`.
    pub const MAGIC: Range<usize> = 0..8;
    /// u16 format version (1).
    pub const VERSION: Range<usize> = 8..10;
    /// u16 header length (64).
    pub const HEADER_LEN: Range<usize> = 10..12;
    /// u32 flags (none defined; 0).
    pub const FLAGS: Range<usize> = 12..16;
    /// u32 channel id.
    pub const CHANNEL: Range<usize> = 16..20;
    /// u32 number of section table entries.
    pub const SECTION_COUNT: Range<usize> = 20..24;
    /// u64 content version.
    pub const CONTENT_VERSION: Range<usize> = 24..32;
    /// u64 schema id.
    pub const SCHEMA_ID: Range<usize> = 32..40;
    /// u64 total file length, trailer included.
    pub const FILE_LEN: Range<usize> = 40..48;
    /// 16 reserved bytes (0).
    pub const RESERVED: Range<usize> = 48..64;
}

/// Section table entry fields (the table starts at [`crate::layout::HEADER_LEN`]).
pub mod section {
    use core::ops::Range;
    /// u16 section kind ([`super::SectionKind`]).
    pub const KIND: Range<usize> = 0..2;
    /// u16 reserved (0).
    pub const RESERVED: Range<usize> = 2..4;
    /// u32 offset of the section from the file start.
    pub const OFFSET: Range<usize> = 4..8;
    /// u32 section length in bytes.
    pub const LENGTH: Range<usize> = 8..12;
    /// u32 record count (instances, criteria, strings or DFAs).
    pub const COUNT: Range<usize> = 12..16;
}

/// INSTANCES record fields.
pub mod instance {
    use core::ops::Range;
    /// u32 instance id (strictly increasing).
    pub const ID: Range<usize> = 0..4;
    /// u16 template type id.
    pub const TEMPLATE: Range<usize> = 4..6;
    /// u16 criteria count (must equal the template's input count).
    pub const CRITERIA_COUNT: Range<usize> = 6..8;
    /// u32 index of the instance's first criterion in CRITERIA.
    pub const FIRST_CRITERION: Range<usize> = 8..12;
    /// u8 action code.
    pub const ACTION: Range<usize> = 12..13;
    /// u8 number of AND rows after the first row (at most
    /// [`crate::limits::MAX_AND_ROWS`]).
    pub const AND_ROWS: Range<usize> = 13..14;
    /// u16 number of UNLESS rows after the AND rows (at most
    /// [`crate::limits::MAX_UNLESS_ROWS`]).
    pub const UNLESS_ROWS: Range<usize> = 14..16;
}

/// CRITERIA record fields.
pub mod criterion {
    use core::ops::Range;
    /// u8 criterion kind ([`super::kind`]).
    pub const KIND: Range<usize> = 0..1;
    /// u8 flags ([`super::CRITERION_FLAG_CASE_INSENSITIVE`]).
    pub const FLAGS: Range<usize> = 1..2;
    /// u16 reserved (0).
    pub const RESERVED: Range<usize> = 2..4;
    /// u32 string index (string kinds) or DFA index (regex); otherwise 0.
    pub const INDEX: Range<usize> = 4..8;
    /// u64 first operand: value (int-equals), lo (int-range), mask (int-mask); otherwise 0.
    pub const A: Range<usize> = 8..16;
    /// u64 second operand: hi (int-range), value (int-mask); otherwise 0.
    pub const B: Range<usize> = 16..24;
}

/// Criterion kind codes.
pub mod kind {
    /// Wildcard.
    pub const ANY: u8 = 0;
    /// String equals.
    pub const EQUALS: u8 = 1;
    /// String prefix.
    pub const PREFIX: u8 = 2;
    /// String suffix.
    pub const SUFFIX: u8 = 3;
    /// String contains.
    pub const CONTAINS: u8 = 4;
    /// Integer equals.
    pub const INT_EQUALS: u8 = 5;
    /// Inclusive integer range.
    pub const INT_RANGE: u8 = 6;
    /// `field & mask == value`.
    pub const INT_MASK: u8 = 7;
    /// Regex (DFA).
    pub const REGEX: u8 = 8;
}

/// Criterion flag bit 0: ASCII case-insensitive (string kinds only).
pub const CRITERION_FLAG_CASE_INSENSITIVE: u8 = 1;

/// STRINGS index entry fields (the index starts at the section start; the
/// blob follows it directly).
pub mod string_entry {
    use core::ops::Range;
    /// u32 offset of the string from the start of the blob.
    pub const OFFSET: Range<usize> = 0..4;
    /// u16 length in bytes.
    pub const LEN: Range<usize> = 4..6;
    /// u16 flags ([`super::STRING_FLAG_FOLDED`]).
    pub const FLAGS: Range<usize> = 6..8;
}

/// String flag bit 0: the string contains no ASCII upper-case letter, so it
/// may be a case-insensitive needle.
pub const STRING_FLAG_FOLDED: u16 = 1;

/// DFAS index entry fields (the index starts at the section start).
pub mod dfa_entry {
    use core::ops::Range;
    /// u32 offset of the serialized DFA from the section start (multiple of 8).
    pub const OFFSET: Range<usize> = 0..4;
    /// u32 length of the serialized DFA.
    pub const LEN: Range<usize> = 4..8;
    /// u32 index of the regex source in STRINGS.
    pub const PATTERN: Range<usize> = 8..12;
    /// u32 flags ([`super::DFA_FLAG_CASE_INSENSITIVE`],
    /// [`super::DFA_FLAG_LITERAL_FOLDED`], [`super::DFA_FLAG_GROUPED`],
    /// [`super::DFA_FLAG_LITERAL_SET`]).
    pub const FLAGS: Range<usize> = 12..16;
    /// u32 index in STRINGS of the required-literal hint, or
    /// [`super::NO_LITERAL`]: a literal every match of the pattern contains
    /// (ASCII case-insensitively when [`super::DFA_FLAG_LITERAL_FOLDED`]).
    pub const LITERAL: Range<usize> = 16..20;
    /// u8 pattern id of this entry in its group's DFA (0 when not grouped).
    /// Bytes 20..24 are zero unless [`super::DFA_FLAG_GROUPED`] is set.
    pub const GROUP_PATTERN: Range<usize> = 20..21;
    /// u8 field index every criterion using this entry tests (grouped only).
    pub const GROUP_FIELD: Range<usize> = 21..22;
    /// u16 template type id every criterion using this entry belongs to
    /// (grouped only).
    pub const GROUP_TEMPLATE: Range<usize> = 22..24;
    /// The whole group word (bytes 20..24).
    pub const GROUP: Range<usize> = 20..24;
}

/// DFA flag bit 0: compiled case-insensitively (informational; the folding is
/// in the DFA).
pub const DFA_FLAG_CASE_INSENSITIVE: u32 = 1;
/// DFA flag bit 1: the required literal is ASCII-folded (no upper-case ASCII
/// letter; the string must carry [`STRING_FLAG_FOLDED`]) and is to be found
/// ASCII case-insensitively. Only allowed with a literal.
pub const DFA_FLAG_LITERAL_FOLDED: u32 = 2;
/// DFA flag bit 2: the entry is a member of a regex group: its DFA is shared
/// with the entries of the same run (docs/FORMAT.md, "Regex groups").
pub const DFA_FLAG_GROUPED: u32 = 4;
/// DFA flag bit 3: the required-literal string is a **literal set**: its
/// members, separated by NUL bytes, of which every haystack the DFA matches
/// contains at least one (docs/FORMAT.md, "Literal sets"). Only allowed with
/// a literal.
pub const DFA_FLAG_LITERAL_SET: u32 = 8;
/// The byte that separates the members of a literal set (a member never
/// contains it).
pub const LITERAL_SET_SEPARATOR: u8 = 0;
/// `dfa_entry::LITERAL` value for "no required-literal hint".
pub const NO_LITERAL: u32 = u32::MAX;

/// The start of a serialized dense DFA (regex-automata =0.4.18,
/// little-endian, leading padding dropped), offsets from the blob start. Only
/// the fields `DFA::from_bytes` does not fully check are listed.
pub mod dfa_blob {
    use core::ops::Range;
    /// `rust-regex-automata-dfa-dense`, NUL, NUL padding to a multiple of 4.
    pub const LABEL: Range<usize> = 0..32;
    /// u32 endianness check (checked by `from_bytes`).
    pub const ENDIANNESS: Range<usize> = 32..36;
    /// u32 serialization version (checked by `from_bytes`).
    pub const VERSION: Range<usize> = 36..40;
    /// u32 "unused space" the builder writes as 0; `from_bytes` ignores it.
    pub const UNUSED: Range<usize> = 40..44;
    /// u32 flag bits: bit 0 has-empty, bit 1 UTF-8, bit 2 always-anchored;
    /// `from_bytes` ignores the others.
    pub const FLAGS: Range<usize> = 44..48;
}

/// The exact label bytes the builder writes at the start of every DFA.
pub const DFA_LABEL: [u8; 32] = *b"rust-regex-automata-dfa-dense\0\0\0";
/// The flag bits regex-automata defines in a serialized DFA (bits 0..=2).
pub const DFA_BLOB_KNOWN_FLAGS: u32 = 0b111;

/// Trailer fields (offsets from the trailer start, `file_len - 72`).
pub mod trailer {
    use core::ops::Range;
    /// First 8 bytes of SHA-512 of the signing public key.
    pub const KEY_ID: Range<usize> = 0..8;
    /// Ed25519 signature over every byte before the trailer.
    pub const SIGNATURE: Range<usize> = 8..72;
}

/// The kinds of section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// Template instances.
    Instances,
    /// Criteria records.
    Criteria,
    /// Strings (needles and regex sources).
    Strings,
    /// Serialized dense DFAs.
    Dfas,
    /// Optional: per instance, the rule's title, id, author and reference.
    Metadata,
}

impl SectionKind {
    /// The required kinds, in slot order ([`SectionKind::Metadata`], the
    /// only optional one, comes after them when present).
    pub const ALL: [SectionKind; 4] = [
        SectionKind::Instances,
        SectionKind::Criteria,
        SectionKind::Strings,
        SectionKind::Dfas,
    ];
    /// Wire code (u16).
    pub const fn code(self) -> u16 {
        match self {
            SectionKind::Instances => 1,
            SectionKind::Criteria => 2,
            SectionKind::Strings => 3,
            SectionKind::Dfas => 4,
            SectionKind::Metadata => 5,
        }
    }
    /// Decode a wire code.
    pub const fn from_code(code: u16) -> Option<SectionKind> {
        match code {
            1 => Some(SectionKind::Instances),
            2 => Some(SectionKind::Criteria),
            3 => Some(SectionKind::Strings),
            4 => Some(SectionKind::Dfas),
            5 => Some(SectionKind::Metadata),
            _ => None,
        }
    }
    /// Slot in [`SectionKind::ALL`].
    pub const fn slot(self) -> usize {
        match self {
            SectionKind::Instances => 0,
            SectionKind::Criteria => 1,
            SectionKind::Strings => 2,
            SectionKind::Dfas => 3,
            SectionKind::Metadata => 4,
        }
    }
}

/// METADATA record fields (record `i` describes instance `i`). Each is a
/// u32 index into STRINGS, or [`NO_STRING`].
pub mod metadata {
    use core::ops::Range;
    /// The rule's title.
    pub const TITLE: Range<usize> = 0..4;
    /// The rule's id (a Sigma rule's `id`, a UUID).
    pub const RULE_ID: Range<usize> = 4..8;
    /// The rule's author.
    pub const AUTHOR: Range<usize> = 8..12;
    /// Where the rule comes from (a URL or a path).
    pub const REFERENCE: Range<usize> = 12..16;
    /// All four, in order.
    pub const ALL: [Range<usize>; 4] = [TITLE, RULE_ID, AUTHOR, REFERENCE];
}
