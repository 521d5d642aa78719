//! Why a channel file was rejected.
//!
//! A [`Rejection`] is a small `Copy` value: the [`Rule`] broken (a stable,
//! machine-readable kind: it is the reason code in `--json` output and in the
//! driver's status), the byte offset where the check failed, the instance and
//! field index where known, and the expected and found values.

use core::fmt;

/// The rule a channel file broke. Codes ([`Rule::code`], [`Rule::id`]) are
/// stable: operators, scripts and the driver status interface depend on them.
/// New rules get new ids; ids are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// Shorter than header + trailer.
    TooShort,
    /// Larger than [`crate::limits::MAX_FILE_LEN`].
    TooLarge,
    /// Magic bytes are not `CHGDCHAN`.
    BadMagic,
    /// Format version not supported by this validator.
    UnsupportedVersion,
    /// A reserved field or reserved flag bit is not zero.
    ReservedNonZero,
    /// The header's file length is not the actual length.
    LengthMismatch,
    /// The signing key id is not trusted.
    UnknownKey,
    /// The Ed25519 signature does not verify.
    BadSignature,
    /// The channel id inside the signed header is not the one being loaded.
    WrongChannel,
    /// The schema id is not this sensor's schema.
    WrongSchema,
    /// Section table malformed (count, kind, duplicate or missing section).
    BadSectionTable,
    /// A section's offset or length points outside the file body.
    SectionOutOfRange,
    /// Two sections overlap.
    SectionOverlap,
    /// A section is not aligned as required.
    SectionMisaligned,
    /// A count exceeds its cap ([`crate::limits`]).
    CountTooLarge,
    /// A section's length does not match its record count.
    SectionLengthMismatch,
    /// Unknown template type id.
    UnknownTemplate,
    /// An instance's criteria count differs from its template type's input
    /// count in this schema (the 19 July 2024 defect: 21 criteria, 20 inputs).
    CriteriaCountMismatch,
    /// An instance's criteria range points outside the criteria section.
    CriteriaOutOfRange,
    /// Instance ids are not strictly increasing.
    InstanceIdOrder,
    /// Unknown action code.
    UnknownAction,
    /// Unknown criterion kind code.
    UnknownCriterionKind,
    /// The criterion kind does not apply to its field's type.
    CriterionTypeMismatch,
    /// Integer range with `lo > hi`, or mask value outside the mask.
    BadIntOperands,
    /// A string index is out of range.
    StringOutOfRange,
    /// A string is not valid UTF-8.
    StringNotUtf8,
    /// A string is longer than its cap.
    StringTooLong,
    /// A case-insensitive needle contains ASCII upper case.
    NeedleNotFolded,
    /// A DFA index is out of range.
    DfaOutOfRange,
    /// A serialized DFA failed `DFA::from_bytes`.
    BadDfa,
    /// A DFA is larger than its cap.
    DfaTooLarge,
    /// Bytes not covered by any section, or unused trailing bytes.
    UnaccountedBytes,
    /// The section table does not list the kinds in the one fixed order
    /// (INSTANCES, CRITERIA, STRINGS, DFAS): another order would be a second
    /// encoding of the same content.
    SectionOrder,
    /// A string's FOLDED flag is clear although it has no ASCII upper-case
    /// letter: the flag is set exactly when the string has none.
    FoldedFlagMismatch,
    /// A serialized DFA's bytes that `DFA::from_bytes` does not check (leading
    /// padding, label padding, the unused word, unknown flag bits) are not the
    /// bytes the pinned builder writes.
    DfaNotCanonical,
    /// An instance has the `test-crash` action but the file is signed by a key
    /// that is not marked test-only: production keys cannot ship a crash.
    TestActionNeedsTestKey,
    /// Strings or DFAs are not numbered in the order the criteria first use
    /// them (a new regex's DFA: its pattern, then its literal), or one is
    /// used by nothing: another numbering of the same content.
    FirstUseOrder,
    /// A template type's proven per-event cost bound exceeds
    /// [`crate::cost::TEMPLATE_CEILING`] (expected = the ceiling, found = the
    /// file's bound, in fuel; the instance is where the bound crossed it).
    CostCeiling,
    /// An instance has more AND rows than [`crate::limits::MAX_AND_ROWS`] or
    /// more UNLESS rows than [`crate::limits::MAX_UNLESS_ROWS`] (expected =
    /// the cap, found = the count).
    TooManyRows,
    /// An AND or UNLESS row that tests nothing (all wildcards), or an AND row
    /// testing a field the row above it leaves open: another encoding of the
    /// same content (expected 0, found = the row, 1-based after the first).
    RowNotCanonical,
    /// The METADATA section's record count is not the instance count, or the
    /// section is present though no instance has metadata (expected = the
    /// instance count, found = the record count; 0 and 0 for an empty one).
    MetadataMismatch,
    /// A regex group (several DFA entries sharing one multi-pattern DFA,
    /// docs/FORMAT.md "Regex groups") is malformed: a member that does not
    /// continue the run before it, a run whose length is not its DFA's pattern
    /// count, a group of one, a group on an unknown template, a non-string
    /// field or more than [`crate::limits::MAX_GROUP_PATTERNS`] patterns, more
    /// than [`crate::limits::MAX_GROUPS_PER_TEMPLATE`] groups for one template
    /// type, or a criterion using a group declared for another template or
    /// field (expected and found: the values compared).
    RegexGroup,
    /// A literal set (a required-literal hint with `DFA_FLAG_LITERAL_SET`,
    /// docs/FORMAT.md "Literal sets") has fewer than 2 or more than
    /// [`crate::limits::MAX_LITERAL_SET`] members, or an empty member
    /// (expected and found: the bounds and the count, or 1 and 0 for the
    /// empty member).
    LiteralSet,
    /// A `ValidChannel` accessor found an inconsistency the validator should have
    /// excluded (a validator bug; fail closed).
    Internal,
}

impl Rule {
    /// Every rule, for docs and tests.
    pub const ALL: &'static [Rule] = &[
        Rule::TooShort,
        Rule::TooLarge,
        Rule::BadMagic,
        Rule::UnsupportedVersion,
        Rule::ReservedNonZero,
        Rule::LengthMismatch,
        Rule::UnknownKey,
        Rule::BadSignature,
        Rule::WrongChannel,
        Rule::WrongSchema,
        Rule::BadSectionTable,
        Rule::SectionOutOfRange,
        Rule::SectionOverlap,
        Rule::SectionMisaligned,
        Rule::CountTooLarge,
        Rule::SectionLengthMismatch,
        Rule::UnknownTemplate,
        Rule::CriteriaCountMismatch,
        Rule::CriteriaOutOfRange,
        Rule::InstanceIdOrder,
        Rule::UnknownAction,
        Rule::UnknownCriterionKind,
        Rule::CriterionTypeMismatch,
        Rule::BadIntOperands,
        Rule::StringOutOfRange,
        Rule::StringNotUtf8,
        Rule::StringTooLong,
        Rule::NeedleNotFolded,
        Rule::DfaOutOfRange,
        Rule::BadDfa,
        Rule::DfaTooLarge,
        Rule::UnaccountedBytes,
        Rule::SectionOrder,
        Rule::FoldedFlagMismatch,
        Rule::DfaNotCanonical,
        Rule::TestActionNeedsTestKey,
        Rule::FirstUseOrder,
        Rule::CostCeiling,
        Rule::TooManyRows,
        Rule::RowNotCanonical,
        Rule::MetadataMismatch,
        Rule::RegexGroup,
        Rule::LiteralSet,
        Rule::Internal,
    ];

    /// Stable numeric id (u16), used by the driver's status interface.
    pub const fn id(self) -> u16 {
        match self {
            Rule::TooShort => 1,
            Rule::TooLarge => 2,
            Rule::BadMagic => 3,
            Rule::UnsupportedVersion => 4,
            Rule::ReservedNonZero => 5,
            Rule::LengthMismatch => 6,
            Rule::UnknownKey => 7,
            Rule::BadSignature => 8,
            Rule::WrongChannel => 9,
            Rule::WrongSchema => 10,
            Rule::BadSectionTable => 11,
            Rule::SectionOutOfRange => 12,
            Rule::SectionOverlap => 13,
            Rule::SectionMisaligned => 14,
            Rule::CountTooLarge => 15,
            Rule::SectionLengthMismatch => 16,
            Rule::UnknownTemplate => 17,
            Rule::CriteriaCountMismatch => 18,
            Rule::CriteriaOutOfRange => 19,
            Rule::InstanceIdOrder => 20,
            Rule::UnknownAction => 21,
            Rule::UnknownCriterionKind => 22,
            Rule::CriterionTypeMismatch => 23,
            Rule::BadIntOperands => 24,
            Rule::StringOutOfRange => 25,
            Rule::StringNotUtf8 => 26,
            Rule::StringTooLong => 27,
            Rule::NeedleNotFolded => 28,
            Rule::DfaOutOfRange => 29,
            Rule::BadDfa => 30,
            Rule::DfaTooLarge => 31,
            Rule::UnaccountedBytes => 32,
            Rule::SectionOrder => 33,
            Rule::FoldedFlagMismatch => 34,
            Rule::DfaNotCanonical => 35,
            Rule::TestActionNeedsTestKey => 36,
            Rule::FirstUseOrder => 37,
            Rule::CostCeiling => 38,
            Rule::TooManyRows => 39,
            Rule::RowNotCanonical => 40,
            Rule::MetadataMismatch => 41,
            Rule::RegexGroup => 42,
            Rule::LiteralSet => 43,
            Rule::Internal => 255,
        }
    }

    /// The rule with numeric id `id`.
    pub fn from_id(id: u16) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }

    /// Stable kebab-case code, used in `--json` output.
    pub const fn code(self) -> &'static str {
        match self {
            Rule::TooShort => "too-short",
            Rule::TooLarge => "too-large",
            Rule::BadMagic => "bad-magic",
            Rule::UnsupportedVersion => "unsupported-version",
            Rule::ReservedNonZero => "reserved-nonzero",
            Rule::LengthMismatch => "length-mismatch",
            Rule::UnknownKey => "unknown-key",
            Rule::BadSignature => "bad-signature",
            Rule::WrongChannel => "wrong-channel",
            Rule::WrongSchema => "wrong-schema",
            Rule::BadSectionTable => "bad-section-table",
            Rule::SectionOutOfRange => "section-out-of-range",
            Rule::SectionOverlap => "section-overlap",
            Rule::SectionMisaligned => "section-misaligned",
            Rule::CountTooLarge => "count-too-large",
            Rule::SectionLengthMismatch => "section-length-mismatch",
            Rule::UnknownTemplate => "unknown-template",
            Rule::CriteriaCountMismatch => "criteria-count-mismatch",
            Rule::CriteriaOutOfRange => "criteria-out-of-range",
            Rule::InstanceIdOrder => "instance-id-order",
            Rule::UnknownAction => "unknown-action",
            Rule::UnknownCriterionKind => "unknown-criterion-kind",
            Rule::CriterionTypeMismatch => "criterion-type-mismatch",
            Rule::BadIntOperands => "bad-int-operands",
            Rule::StringOutOfRange => "string-out-of-range",
            Rule::StringNotUtf8 => "string-not-utf8",
            Rule::StringTooLong => "string-too-long",
            Rule::NeedleNotFolded => "needle-not-folded",
            Rule::DfaOutOfRange => "dfa-out-of-range",
            Rule::BadDfa => "bad-dfa",
            Rule::DfaTooLarge => "dfa-too-large",
            Rule::UnaccountedBytes => "unaccounted-bytes",
            Rule::SectionOrder => "section-order",
            Rule::FoldedFlagMismatch => "folded-flag-mismatch",
            Rule::DfaNotCanonical => "dfa-not-canonical",
            Rule::TestActionNeedsTestKey => "test-action-needs-test-key",
            Rule::FirstUseOrder => "first-use-order",
            Rule::CostCeiling => "cost-ceiling",
            Rule::TooManyRows => "too-many-rows",
            Rule::RowNotCanonical => "row-not-canonical",
            Rule::MetadataMismatch => "metadata-mismatch",
            Rule::RegexGroup => "regex-group",
            Rule::LiteralSet => "literal-set",
            Rule::Internal => "internal",
        }
    }
}

/// A channel file was rejected: which rule, where, and what was expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rejection {
    /// The rule broken.
    pub rule: Rule,
    /// Byte offset in the file where the failing check looked.
    pub offset: u64,
    /// Template type id of the instance concerned, where known.
    pub template: Option<u16>,
    /// Index (0-based position in the instance table) of the instance concerned.
    pub instance: Option<u32>,
    /// Field / criterion index within the instance, where known.
    pub field: Option<u16>,
    /// The value the rule required (meaning depends on the rule; 0 if none).
    pub expected: u64,
    /// The value found.
    pub found: u64,
}

impl Rejection {
    pub(crate) const fn new(rule: Rule, offset: u64) -> Rejection {
        Rejection {
            rule,
            offset,
            template: None,
            instance: None,
            field: None,
            expected: 0,
            found: 0,
        }
    }
    pub(crate) const fn values(mut self, expected: u64, found: u64) -> Rejection {
        self.expected = expected;
        self.found = found;
        self
    }
    pub(crate) const fn at_instance(mut self, template: Option<u16>, instance: u32) -> Rejection {
        self.template = template;
        self.instance = Some(instance);
        self
    }
    pub(crate) const fn at_field(mut self, field: u16) -> Rejection {
        self.field = Some(field);
        self
    }
}

impl fmt::Display for Rejection {
    /// One line naming the rule, the offset, and the instance/field where known.
    /// For [`Rule::CriteriaCountMismatch`] it reads like
    /// `criteria-count-mismatch at offset 0x1c4: template NamedPipeCreate instance 0: 21 criteria, sensor supplies 20`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {:#x}", self.rule.code(), self.offset)?;
        if let Some(t) = self.template {
            match crate::schema::template_type(t) {
                Some(tt) => write!(f, ": template {}", tt.name)?,
                None => write!(f, ": template id {t}")?,
            }
        }
        if let Some(i) = self.instance {
            write!(f, " instance {i}")?;
        }
        if let Some(k) = self.field {
            write!(f, " field {k}")?;
        }
        match self.rule {
            Rule::CriteriaCountMismatch => {
                write!(
                    f,
                    ": {} criteria, sensor supplies {}",
                    self.found, self.expected
                )
            }
            // `found` is the trailer's key id, big-endian so it reads like the
            // id's bytes in hex.
            Rule::UnknownKey => write!(f, ": key id {:016x} is not trusted", self.found),
            Rule::CostCeiling => write!(
                f,
                ": one event can cost up to {} fuel, over the ceiling of {} (crossed at this instance)",
                self.found, self.expected
            ),
            _ if self.expected != 0 || self.found != 0 => {
                write!(
                    f,
                    ": expected {}, found {}",
                    Figure(self.expected),
                    Figure(self.found)
                )
            }
            _ => Ok(()),
        }
    }
}

/// A count, size, version or value as a person reads it: decimal, with the
/// hex beside it from 10 up (where bit patterns and file bytes show).
struct Figure(u64);

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 10 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{} ({:#x})", self.0, self.0)
        }
    }
}
