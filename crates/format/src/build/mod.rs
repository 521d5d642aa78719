//! The writer (feature `build`, std): specs in, signed channel files out.
//!
//! [`build`] lays a spec out *faithfully*, even when it is semantically wrong
//! (21 criteria on a 20-input template, a string test on an integer field, an
//! unknown template id, `lo > hi`): that is how bad fixtures are made. Callers
//! that publish content run [`crate::validate`] on the result; the CLI does.
//! The only things `build` refuses are what the byte format cannot express
//! (counts and offsets that do not fit their fields) and regexes that do not
//! compile or exceed [`crate::limits::MAX_DFA_LEN`].
//!
//! Regexes compile to dense DFAs with **unanchored** start states only
//! (`StartKind::Unanchored`): a regex criterion matches when the pattern
//! occurs anywhere in the field, and the interpreter searches with
//! `Anchored::No` (the default `Input`). Use `^`/`$` to anchor in the pattern.
//! Syntax: Unicode mode on, UTF-8 mode on; `case_insensitive` uses the regex
//! crate's Unicode simple case folding, compiled into the DFA.
//!
//! One concern per module: `spec` (what is written, and [`to_spec`] to read
//! it back), `regex` (the one way regexes compile), `literal` and
//! `literal_set` (the required literals the interpreter anchors regexes on),
//! `group` (the regex groups' plan), `pack` (which channel file each
//! instance of a larger set goes to), `records` and `sections` (the byte
//! layout), `sign` (keys and the trailer) and [`raw`] (locating fields in
//! files that may not validate, for fixtures).

use core::fmt;
use std::string::String;
use std::vec::Vec;

use crate::layout::SectionKind;
use crate::limits;

pub(crate) mod group;
mod literal;
mod literal_set;
mod pack;
pub mod raw;
mod records;
mod regex;
mod sections;
mod sign;
mod spec;

pub use literal::{
    LiteralHint, MIN_LITERAL_LEN, SET_ALONE_MAX, SET_OVER_LITERAL, literal_hint, required_literal,
};
pub use literal_set::SET_MEMBER_MIN;
pub use pack::{PackLimits, pack_by_family};
pub use sign::{SigningKey, resign, sign};
pub use spec::{ChannelSpec, CriterionSpec, InstanceSpec, MetadataSpec, to_spec};

pub(crate) use regex::{compile_regex, syntax_config, with_dfa};

use records::Records;

/// Why [`build`] (or [`sign`]) failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A regex did not compile.
    Regex {
        /// Instance position in the spec.
        instance: usize,
        /// Criterion (field) index.
        field: usize,
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
    /// A regex compiled to a DFA larger than [`limits::MAX_DFA_LEN`] (or hit
    /// the determinization limit on the way).
    RegexTooLarge {
        /// Instance position in the spec.
        instance: usize,
        /// Criterion (field) index.
        field: usize,
        /// The pattern.
        pattern: String,
    },
    /// A string is longer than the format can encode (u16 length).
    StringTooLong {
        /// Instance position in the spec.
        instance: usize,
        /// Criterion (field) index.
        field: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// A count or offset does not fit its field.
    TooLarge {
        /// What overflowed.
        what: &'static str,
    },
    /// [`sign`] was given fewer bytes than a trailer.
    TooShort,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Regex {
                instance,
                field,
                pattern,
                message,
            } => write!(
                f,
                "instance {instance} field {field}: regex {pattern:?} does not compile: {message}"
            ),
            BuildError::RegexTooLarge {
                instance,
                field,
                pattern,
            } => write!(
                f,
                "instance {instance} field {field}: regex {pattern:?} exceeds the DFA size limit ({} bytes)",
                limits::MAX_DFA_LEN
            ),
            BuildError::StringTooLong {
                instance,
                field,
                len,
            } => write!(
                f,
                "instance {instance} field {field}: string of {len} bytes cannot be encoded"
            ),
            BuildError::TooLarge { what } => write!(f, "{what} does not fit the format"),
            BuildError::TooShort => write!(f, "too short to hold a trailer"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Lay out `spec` as a channel file and sign it with `key`.
///
/// Faithful: semantically invalid specs (wrong criteria counts, unknown
/// templates, type mismatches, bad int operands, unordered ids) are written as
/// given so fixtures can be made; run [`crate::validate`] on the result.
/// Strings are deduplicated; case-insensitive needles are ASCII-lowercased;
/// regexes are deduplicated by (pattern, case_insensitive).
///
/// # Errors
/// [`BuildError::Regex`]/[`BuildError::RegexTooLarge`] naming the pattern,
/// [`BuildError::StringTooLong`] for strings over 65535 bytes,
/// [`BuildError::TooLarge`] when counts or offsets overflow their fields.
pub fn build(spec: &ChannelSpec, key: &SigningKey) -> Result<Vec<u8>, BuildError> {
    build_with(spec, key, &BuildOptions::default())
}

/// How [`build_with`] lays content out; the default is [`build`]'s layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Put consecutive regexes of one template field into shared
    /// multi-pattern DFAs (docs/FORMAT.md, "Regex groups"): the interpreter
    /// then scans each group once per event instead of each regex. Same
    /// verdicts; the layout of the `group` module's plan.
    pub group_regexes: bool,
}

/// [`build`] with options.
///
/// # Errors
/// As [`build`].
pub fn build_with(
    spec: &ChannelSpec,
    key: &SigningKey,
    options: &BuildOptions,
) -> Result<Vec<u8>, BuildError> {
    let regexes = group::compile_regexes(&spec.instances)?;
    let mut records = Records::new(&regexes, options.group_regexes);
    let (instances, criteria, n_criteria) = records.instances(spec)?;
    let metadata = records.metadata(spec)?;
    let strings = records.strings.section()?;
    let dfas = sections::dfas_section(&records.dfas)?;
    let mut list: Vec<(SectionKind, &[u8], usize)> = std::vec![
        (SectionKind::Instances, &instances, spec.instances.len()),
        (SectionKind::Criteria, &criteria, n_criteria),
        (SectionKind::Strings, &strings, records.strings.len()),
        (SectionKind::Dfas, &dfas, records.dfas.len()),
    ];
    if !metadata.is_empty() {
        list.push((SectionKind::Metadata, &metadata, spec.instances.len()));
    }
    let mut out = sections::assemble(spec, &list)?;
    sign(&mut out, key)?;
    Ok(out)
}
