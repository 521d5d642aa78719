//! The decoded meaning of validated content: instances, criteria, actions.
//!
//! These are what [`crate::ValidChannel`]'s accessors return. They borrow from
//! the validated buffer (zero-copy) and carry only facts the validator proved.

/// What a matching instance asks the sensor to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Record a detection.
    Report,
    /// Record a detection the sensor may turn into a block.
    BlockCandidate,
    /// Test hook for the VM crash tests: a driver built with the `test-hooks`
    /// feature and switched on in the registry bugchecks when this matches while
    /// the content is on trial. Everywhere else it behaves like `Report`.
    TestCrash,
}

impl Action {
    /// Wire code (u8).
    pub const fn code(self) -> u8 {
        match self {
            Action::Report => 1,
            Action::BlockCandidate => 2,
            Action::TestCrash => 0xF0,
        }
    }
    /// Decode a wire code.
    pub const fn from_code(code: u8) -> Option<Action> {
        match code {
            1 => Some(Action::Report),
            2 => Some(Action::BlockCandidate),
            0xF0 => Some(Action::TestCrash),
            _ => None,
        }
    }
    /// kebab-case name used in specs and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Action::Report => "report",
            Action::BlockCandidate => "block-candidate",
            Action::TestCrash => "test-crash",
        }
    }
}

/// The string operations of string criteria.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StrOp {
    /// Whole field equals the needle.
    Equals,
    /// Field starts with the needle.
    Prefix,
    /// Field ends with the needle.
    Suffix,
    /// Needle occurs anywhere in the field.
    Contains,
}

impl StrOp {
    /// kebab-case name used in specs and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            StrOp::Equals => "equals",
            StrOp::Prefix => "prefix",
            StrOp::Suffix => "suffix",
            StrOp::Contains => "contains",
        }
    }
}

/// One criterion: a test on one input field. Criterion `i` of an instance
/// applies to field `i` of its template type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Criterion<'a> {
    /// Matches any value (wildcard).
    Any,
    /// A string test. When `case_insensitive`, the validator has proved the
    /// needle contains no ASCII upper-case letters, so the interpreter only
    /// folds the field.
    Str {
        /// Which test.
        op: StrOp,
        /// The needle, valid UTF-8 (proved by the validator).
        needle: &'a str,
        /// ASCII case-insensitive comparison.
        case_insensitive: bool,
    },
    /// Integer equality.
    IntEquals(u64),
    /// Inclusive integer range; the validator proved `lo <= hi`.
    IntRange {
        /// Lowest matching value.
        lo: u64,
        /// Highest matching value.
        hi: u64,
    },
    /// `field & mask == value`; the validator proved `value & !mask == 0`.
    IntMask {
        /// Bits tested.
        mask: u64,
        /// Expected bits.
        value: u64,
    },
    /// A regular expression, as a serialized dense DFA in the DFA section.
    /// The validator proved `dfa` is in range and loads with `DFA::from_bytes`.
    Regex {
        /// Index into the channel's DFA table ([`crate::ValidChannel::dfa`]).
        dfa: u32,
    },
}

impl Criterion<'_> {
    /// Stable kebab-case name of the criterion kind.
    pub const fn kind_name(&self) -> &'static str {
        match self {
            Criterion::Any => "any",
            Criterion::Str { op, .. } => op.name(),
            Criterion::IntEquals(_) => "int-equals",
            Criterion::IntRange { .. } => "int-range",
            Criterion::IntMask { .. } => "int-mask",
            Criterion::Regex { .. } => "regex",
        }
    }
}
