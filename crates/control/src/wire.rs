//! Errors and the few checked byte helpers every decoder goes through (STYLE 2).

use core::fmt;

/// What was wrong with a control message. Stable: the CLI prints these names
/// and the driver maps them to `STATUS_INVALID_PARAMETER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ends before a structure or field that must be there.
    TooShort,
    /// Bytes remain after the last declared element.
    TrailingBytes,
    /// The magic number is not this message's.
    BadMagic,
    /// A wire version this build does not speak.
    BadVersion,
    /// A reserved field or bit is not zero.
    ReservedNonZero,
    /// The length declared in the header disagrees with the input length.
    LengthMismatch,
    /// More elements than the format allows.
    TooMany,
    /// An enumerated field holds an undefined value.
    BadEnum,
    /// A field's length is not the one its kind requires.
    BadFieldLength,
    /// A string field is longer than allowed.
    StringTooLong,
    /// A string field is not valid UTF-8.
    BadUtf8,
}

impl DecodeErrorKind {
    /// Stable kebab-case name (used in `--json`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::TooShort => "too-short",
            Self::TrailingBytes => "trailing-bytes",
            Self::BadMagic => "bad-magic",
            Self::BadVersion => "bad-version",
            Self::ReservedNonZero => "reserved-nonzero",
            Self::LengthMismatch => "length-mismatch",
            Self::TooMany => "too-many",
            Self::BadEnum => "bad-enum",
            Self::BadFieldLength => "bad-field-length",
            Self::StringTooLong => "string-too-long",
            Self::BadUtf8 => "bad-utf8",
        }
    }
}

/// A precise decode failure: which rule, which field, at which byte offset,
/// what was expected and what was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DecodeError {
    /// The rule that failed.
    pub kind: DecodeErrorKind,
    /// The field or structure being read.
    pub what: &'static str,
    /// Byte offset in the input where the failing item starts.
    pub offset: usize,
    /// What the rule required (a length, a value, a maximum).
    pub expected: u64,
    /// What the input held.
    pub found: u64,
}

impl DecodeError {
    pub(crate) const fn new(
        kind: DecodeErrorKind,
        what: &'static str,
        offset: usize,
        expected: u64,
        found: u64,
    ) -> Self {
        Self {
            kind,
            what,
            offset,
            expected,
            found,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in {} at offset {} (expected {}, found {})",
            self.kind.name(),
            self.what,
            self.offset,
            self.expected,
            self.found
        )
    }
}

/// Why an encode did not happen. Nothing is partially written that a caller
/// could mistake for a message: the returned length is only given on success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is smaller than the message (`needed` bytes).
    BufferTooSmall {
        /// Bytes the message needs.
        needed: usize,
    },
    /// More elements than the format allows.
    TooMany {
        /// The format's maximum.
        max: usize,
    },
    /// A string is longer than the format allows.
    StringTooLong {
        /// Index of the offending field.
        index: usize,
        /// The format's maximum, in bytes.
        max: usize,
    },
    /// A value does not fit its wire field.
    ValueOutOfRange {
        /// The field.
        what: &'static str,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => {
                write!(f, "output buffer too small ({needed} bytes needed)")
            }
            Self::TooMany { max } => write!(f, "too many elements (max {max})"),
            Self::StringTooLong { index, max } => {
                write!(f, "field {index}: string longer than {max} bytes")
            }
            Self::ValueOutOfRange { what } => write!(f, "{what}: value out of range"),
        }
    }
}

/// `input[at..at+len]`, or `TooShort` naming `what`.
pub(crate) fn take<'a>(
    input: &'a [u8],
    at: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], DecodeError> {
    let end = at.checked_add(len).ok_or(DecodeError::new(
        DecodeErrorKind::TooShort,
        what,
        at,
        len as u64,
        0,
    ))?;
    input.get(at..end).ok_or(DecodeError::new(
        DecodeErrorKind::TooShort,
        what,
        at,
        len as u64,
        input.len().saturating_sub(at) as u64,
    ))
}

/// `out[at..at+len]` for writing, or `BufferTooSmall { needed }`.
pub(crate) fn take_mut(
    out: &mut [u8],
    at: usize,
    len: usize,
    needed: usize,
) -> Result<&mut [u8], EncodeError> {
    let end = at
        .checked_add(len)
        .ok_or(EncodeError::BufferTooSmall { needed })?;
    out.get_mut(at..end)
        .ok_or(EncodeError::BufferTooSmall { needed })
}

/// Fails with `ReservedNonZero` unless `value == 0`.
pub(crate) fn reserved_zero(
    value: u64,
    what: &'static str,
    offset: usize,
) -> Result<(), DecodeError> {
    if value == 0 {
        Ok(())
    } else {
        Err(DecodeError::new(
            DecodeErrorKind::ReservedNonZero,
            what,
            offset,
            0,
            value,
        ))
    }
}

/// Four ASCII bytes as a little-endian `u32` magic.
pub(crate) const fn magic(tag: [u8; 4]) -> u32 {
    u32::from_le_bytes(tag)
}
