//! Why a release record was rejected: a stable rule and the offset of the
//! field that broke it (the same discipline as channel file rejections).

use core::fmt;

/// The rule a record broke. Names ([`RecordRule::name`]) are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordRule {
    /// Shorter than the envelope, or than its counts say.
    TooShort,
    /// Longer than [`crate::limits::MAX_RECORD_LEN`], or than its counts say.
    TooLarge,
    /// Not the magic of the record kind expected here.
    BadMagic,
    /// A format version this validator does not read.
    UnsupportedVersion,
    /// A length field disagrees with the layout.
    LengthMismatch,
    /// A reserved field or an undefined flag is not zero.
    ReservedNonZero,
    /// For another channel than the one it was read for.
    WrongChannel,
    /// For another content version than the file beside it.
    WrongVersion,
    /// No signature, or more than [`crate::limits::MAX_SIGNATURES`].
    SignatureCount,
    /// Signed by a key this record kind does not accept here.
    UnknownKey,
    /// A signature does not verify.
    BadSignature,
    /// Signatures not in strictly increasing key id order (duplicates included).
    SignaturesNotCanonical,
    /// Fewer valid root signatures than the threshold.
    BelowThreshold,
    /// More keys than [`crate::limits::MAX_KEYS`], or none.
    KeyCount,
    /// Keyring entries not in strictly increasing (key id, channel) order, a
    /// key listed for every channel and for one channel too, or a key that is
    /// test-only for one channel and not for another.
    KeysNotCanonical,
    /// A window that ends before it starts (a key's, or the keyring's).
    BadWindow,
    /// More rings than [`crate::limits::MAX_RINGS`], or none.
    RingCount,
    /// Ring shares not strictly increasing within 1..=1,000,000 ppm, the last
    /// not the whole fleet, or delays decreasing or over
    /// [`crate::limits::MAX_RING_DELAY_SECS`].
    RingsNotCanonical,
    /// A halt range whose first version is above its last, or starts at 0
    /// without being the empty range 0..=0.
    BadRange,
}

impl RecordRule {
    /// Stable kebab-case name.
    pub const fn name(self) -> &'static str {
        match self {
            RecordRule::TooShort => "too-short",
            RecordRule::TooLarge => "too-large",
            RecordRule::BadMagic => "bad-magic",
            RecordRule::UnsupportedVersion => "unsupported-version",
            RecordRule::LengthMismatch => "length-mismatch",
            RecordRule::ReservedNonZero => "reserved-nonzero",
            RecordRule::WrongChannel => "wrong-channel",
            RecordRule::WrongVersion => "wrong-version",
            RecordRule::SignatureCount => "signature-count",
            RecordRule::UnknownKey => "unknown-key",
            RecordRule::BadSignature => "bad-signature",
            RecordRule::SignaturesNotCanonical => "signatures-not-canonical",
            RecordRule::BelowThreshold => "below-threshold",
            RecordRule::KeyCount => "key-count",
            RecordRule::KeysNotCanonical => "keys-not-canonical",
            RecordRule::BadWindow => "bad-window",
            RecordRule::RingCount => "ring-count",
            RecordRule::RingsNotCanonical => "rings-not-canonical",
            RecordRule::BadRange => "bad-range",
        }
    }

    /// Every rule, in code order.
    pub const ALL: &'static [RecordRule] = &[
        RecordRule::TooShort,
        RecordRule::TooLarge,
        RecordRule::BadMagic,
        RecordRule::UnsupportedVersion,
        RecordRule::LengthMismatch,
        RecordRule::ReservedNonZero,
        RecordRule::WrongChannel,
        RecordRule::WrongVersion,
        RecordRule::SignatureCount,
        RecordRule::UnknownKey,
        RecordRule::BadSignature,
        RecordRule::SignaturesNotCanonical,
        RecordRule::BelowThreshold,
        RecordRule::KeyCount,
        RecordRule::KeysNotCanonical,
        RecordRule::BadWindow,
        RecordRule::RingCount,
        RecordRule::RingsNotCanonical,
        RecordRule::BadRange,
    ];

    /// Stable numeric code (1-based position in [`RecordRule::ALL`]).
    pub const fn code(self) -> u16 {
        match self {
            RecordRule::TooShort => 1,
            RecordRule::TooLarge => 2,
            RecordRule::BadMagic => 3,
            RecordRule::UnsupportedVersion => 4,
            RecordRule::LengthMismatch => 5,
            RecordRule::ReservedNonZero => 6,
            RecordRule::WrongChannel => 7,
            RecordRule::WrongVersion => 8,
            RecordRule::SignatureCount => 9,
            RecordRule::UnknownKey => 10,
            RecordRule::BadSignature => 11,
            RecordRule::SignaturesNotCanonical => 12,
            RecordRule::BelowThreshold => 13,
            RecordRule::KeyCount => 14,
            RecordRule::KeysNotCanonical => 15,
            RecordRule::BadWindow => 16,
            RecordRule::RingCount => 17,
            RecordRule::RingsNotCanonical => 18,
            RecordRule::BadRange => 19,
        }
    }

    /// The rule with [`RecordRule::code`] `code`.
    pub fn from_code(code: u16) -> Option<RecordRule> {
        RecordRule::ALL
            .get(usize::from(code).checked_sub(1)?)
            .copied()
    }
}

/// A rejected record: the rule, the byte offset of the field, and for
/// count, length and version rules the expected and found values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordError {
    /// The rule broken.
    pub rule: RecordRule,
    /// Offset of the offending field from the record start.
    pub offset: u64,
    /// `(expected, found)` where the rule compares numbers.
    pub values: Option<(u64, u64)>,
}

impl RecordError {
    pub(crate) fn at(rule: RecordRule, offset: usize) -> RecordError {
        RecordError {
            rule,
            offset: offset as u64,
            values: None,
        }
    }
    pub(crate) fn values(mut self, expected: u64, found: u64) -> RecordError {
        self.values = Some((expected, found));
        self
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {:#x}", self.rule.name(), self.offset)?;
        if let Some((e, g)) = self.values {
            write!(f, " (expected {e}, found {g})")?;
        }
        Ok(())
    }
}
