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

use std::collections::HashMap;
use std::fmt;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::content::{Action, Criterion, StrOp};
use crate::error::{Rejection, Rule};
use crate::layout::{self, SectionKind, kind};
use crate::limits;
use crate::trust::{KeyId, TrustedKey};
use crate::validate::ValidChannel;

/// A whole channel file, as written by people and tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Channel id (e.g. 291).
    pub channel: u32,
    /// Content version.
    pub version: u64,
    /// Schema id; normally [`crate::SCHEMA_ID`].
    pub schema_id: u64,
    /// Template instances, in file order.
    pub instances: Vec<InstanceSpec>,
}

/// One template instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    /// Instance id (must be strictly increasing to validate).
    pub id: u32,
    /// Template type id.
    pub template: u16,
    /// What a match does.
    pub action: Action,
    /// One criterion per input field, in field order.
    pub criteria: Vec<CriterionSpec>,
}

/// One criterion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CriterionSpec {
    /// Wildcard.
    Any,
    /// String test. When `case_insensitive`, the writer stores `value`
    /// ASCII-lowercased.
    Str {
        /// Which test.
        op: StrOp,
        /// The needle.
        value: String,
        /// ASCII case-insensitive.
        case_insensitive: bool,
    },
    /// Integer equality.
    IntEquals(u64),
    /// Inclusive range.
    IntRange {
        /// Lowest matching value.
        lo: u64,
        /// Highest matching value.
        hi: u64,
    },
    /// `field & mask == value`.
    IntMask {
        /// Bits tested.
        mask: u64,
        /// Expected bits.
        value: u64,
    },
    /// Regex: matches when `pattern` occurs anywhere in the field.
    Regex {
        /// Pattern source (regex crate syntax).
        pattern: String,
        /// Unicode simple case folding.
        case_insensitive: bool,
    },
}

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

/// An Ed25519 signing key.
#[derive(Clone)]
pub struct SigningKey {
    kp: ed25519_compact::KeyPair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh random key (OS randomness).
    pub fn generate() -> SigningKey {
        SigningKey {
            kp: ed25519_compact::KeyPair::generate(),
        }
    }
    /// The key derived from a 32-byte seed (deterministic).
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        SigningKey {
            kp: ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed)),
        }
    }
    /// The seed (the secret: store it like one).
    pub fn seed(&self) -> [u8; 32] {
        *self.kp.sk.seed()
    }
    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        *self.kp.pk
    }
    /// Its key id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public())
    }
    /// The public half, to put in a [`crate::Trust`].
    pub fn trusted_key(&self) -> TrustedKey {
        TrustedKey::new(self.public())
    }
    fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        // Deterministic (RFC 8032): same key + same bytes = same file.
        *self.kp.sk.sign(msg, None)
    }
}

fn put(buf: &mut [u8], at: usize, src: &[u8]) -> Result<(), BuildError> {
    let end = at
        .checked_add(src.len())
        .ok_or(BuildError::TooLarge { what: "offset" })?;
    buf.get_mut(at..end)
        .ok_or(BuildError::TooLarge { what: "offset" })?
        .copy_from_slice(src);
    Ok(())
}

fn field_put(
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

fn to_u32(x: usize, what: &'static str) -> Result<u32, BuildError> {
    u32::try_from(x).map_err(|_| BuildError::TooLarge { what })
}

fn align8(v: &mut Vec<u8>) {
    while v.len() % layout::SECTION_ALIGN != 0 {
        v.push(0);
    }
}

/// Compile `pattern` the one way changuard compiles regexes; the serialized
/// little-endian DFA without leading padding.
fn compile_regex(pattern: &str, ci: bool) -> Result<Vec<u8>, (bool, String)> {
    use regex_automata::dfa::{StartKind, dense};
    use regex_automata::nfa::thompson;
    use regex_automata::util::syntax;
    let limit = limits::MAX_DFA_LEN as usize;
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Unanchored)
                .dfa_size_limit(Some(limit))
                .determinize_size_limit(Some(limit)),
        )
        .syntax(
            syntax::Config::new()
                .unicode(true)
                .utf8(true)
                .case_insensitive(ci),
        )
        .thompson(thompson::Config::new().nfa_size_limit(Some(limit)))
        .build(pattern)
        .map_err(|e| (e.is_size_limit_exceeded(), e.to_string()))?;
    let (bytes, pad) = dfa.to_bytes_little_endian();
    let blob = bytes.get(pad..).unwrap_or(&[]).to_vec();
    if blob.len() > limit {
        return Err((true, String::from("serialized DFA too large")));
    }
    Ok(blob)
}

#[derive(Default)]
struct Strings {
    list: Vec<(String, bool)>,
    index: HashMap<String, u32>,
}

impl Strings {
    fn intern(&mut self, s: &str) -> Result<u32, BuildError> {
        if let Some(&i) = self.index.get(s) {
            return Ok(i);
        }
        let i = to_u32(self.list.len(), "string count")?;
        let folded = !s.bytes().any(|b| b.is_ascii_uppercase());
        self.list.push((s.to_string(), folded));
        self.index.insert(s.to_string(), i);
        Ok(i)
    }
}

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
    let mut strings = Strings::default();
    // (blob, pattern string index, case-insensitive)
    let mut dfas: Vec<(Vec<u8>, u32, bool)> = Vec::new();
    let mut dfa_index: HashMap<(String, bool), u32> = HashMap::new();
    let mut instances: Vec<u8> = Vec::new();
    let mut criteria: Vec<u8> = Vec::new();
    let mut n_criteria: usize = 0;

    for (ii, inst) in spec.instances.iter().enumerate() {
        let mut rec = [0u8; layout::INSTANCE_LEN];
        let cc = u16::try_from(inst.criteria.len()).map_err(|_| BuildError::TooLarge {
            what: "criteria count",
        })?;
        field_put(&mut rec, 0, layout::instance::ID, &inst.id.to_le_bytes())?;
        field_put(
            &mut rec,
            0,
            layout::instance::TEMPLATE,
            &inst.template.to_le_bytes(),
        )?;
        field_put(
            &mut rec,
            0,
            layout::instance::CRITERIA_COUNT,
            &cc.to_le_bytes(),
        )?;
        field_put(
            &mut rec,
            0,
            layout::instance::FIRST_CRITERION,
            &to_u32(n_criteria, "criteria count")?.to_le_bytes(),
        )?;
        field_put(&mut rec, 0, layout::instance::ACTION, &[inst.action.code()])?;
        instances.extend_from_slice(&rec);

        for (fi, c) in inst.criteria.iter().enumerate() {
            let (k, flags, index, a, b) = match c {
                CriterionSpec::Any => (kind::ANY, 0, 0, 0, 0),
                CriterionSpec::Str {
                    op,
                    value,
                    case_insensitive,
                } => {
                    if value.len() > usize::from(u16::MAX) {
                        return Err(BuildError::StringTooLong {
                            instance: ii,
                            field: fi,
                            len: value.len(),
                        });
                    }
                    let k = match op {
                        StrOp::Equals => kind::EQUALS,
                        StrOp::Prefix => kind::PREFIX,
                        StrOp::Suffix => kind::SUFFIX,
                        StrOp::Contains => kind::CONTAINS,
                    };
                    let (stored, flags) = if *case_insensitive {
                        (
                            value.to_ascii_lowercase(),
                            layout::CRITERION_FLAG_CASE_INSENSITIVE,
                        )
                    } else {
                        (value.clone(), 0)
                    };
                    (k, flags, strings.intern(&stored)?, 0, 0)
                }
                CriterionSpec::IntEquals(v) => (kind::INT_EQUALS, 0, 0, *v, 0),
                CriterionSpec::IntRange { lo, hi } => (kind::INT_RANGE, 0, 0, *lo, *hi),
                CriterionSpec::IntMask { mask, value } => (kind::INT_MASK, 0, 0, *mask, *value),
                CriterionSpec::Regex {
                    pattern,
                    case_insensitive,
                } => {
                    let key = (pattern.clone(), *case_insensitive);
                    let idx = if let Some(&i) = dfa_index.get(&key) {
                        i
                    } else {
                        if pattern.len() > usize::from(u16::MAX) {
                            return Err(BuildError::StringTooLong {
                                instance: ii,
                                field: fi,
                                len: pattern.len(),
                            });
                        }
                        let blob = compile_regex(pattern, *case_insensitive).map_err(
                            |(too_large, message)| {
                                if too_large {
                                    BuildError::RegexTooLarge {
                                        instance: ii,
                                        field: fi,
                                        pattern: pattern.clone(),
                                    }
                                } else {
                                    BuildError::Regex {
                                        instance: ii,
                                        field: fi,
                                        pattern: pattern.clone(),
                                        message,
                                    }
                                }
                            },
                        )?;
                        let p = strings.intern(pattern)?;
                        let i = to_u32(dfas.len(), "dfa count")?;
                        dfas.push((blob, p, *case_insensitive));
                        dfa_index.insert(key, i);
                        i
                    };
                    (kind::REGEX, 0, idx, 0, 0)
                }
            };
            let mut rec = [0u8; layout::CRITERION_LEN];
            field_put(&mut rec, 0, layout::criterion::KIND, &[k])?;
            field_put(&mut rec, 0, layout::criterion::FLAGS, &[flags])?;
            field_put(&mut rec, 0, layout::criterion::INDEX, &index.to_le_bytes())?;
            field_put(&mut rec, 0, layout::criterion::A, &a.to_le_bytes())?;
            field_put(&mut rec, 0, layout::criterion::B, &b.to_le_bytes())?;
            criteria.extend_from_slice(&rec);
            n_criteria = n_criteria.checked_add(1).ok_or(BuildError::TooLarge {
                what: "criteria count",
            })?;
        }
    }

    // STRINGS: index then blob.
    let mut strings_sec: Vec<u8> = Vec::new();
    let mut blob: Vec<u8> = Vec::new();
    for (s, folded) in &strings.list {
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
        strings_sec.extend_from_slice(&e);
        blob.extend_from_slice(s.as_bytes());
    }
    strings_sec.extend_from_slice(&blob);

    // DFAS: index then 8-aligned blobs (offsets relative to the section start,
    // which is itself 8-aligned).
    let mut dfa_sec: Vec<u8> = Vec::new();
    let mut cursor = dfas
        .len()
        .checked_mul(layout::DFA_ENTRY_LEN)
        .ok_or(BuildError::TooLarge { what: "dfa count" })?;
    let mut placed = Vec::new();
    for (b, _, _) in &dfas {
        cursor = cursor
            .checked_add(layout::DFA_ALIGN - 1)
            .ok_or(BuildError::TooLarge { what: "dfa offset" })?
            & !(layout::DFA_ALIGN - 1);
        placed.push(cursor);
        cursor = cursor
            .checked_add(b.len())
            .ok_or(BuildError::TooLarge { what: "dfa offset" })?;
    }
    for ((b, p, ci), off) in dfas.iter().zip(&placed) {
        let mut e = [0u8; layout::DFA_ENTRY_LEN];
        field_put(
            &mut e,
            0,
            layout::dfa_entry::OFFSET,
            &to_u32(*off, "dfa offset")?.to_le_bytes(),
        )?;
        field_put(
            &mut e,
            0,
            layout::dfa_entry::LEN,
            &to_u32(b.len(), "dfa length")?.to_le_bytes(),
        )?;
        field_put(&mut e, 0, layout::dfa_entry::PATTERN, &p.to_le_bytes())?;
        let flags: u32 = if *ci {
            layout::DFA_FLAG_CASE_INSENSITIVE
        } else {
            0
        };
        field_put(&mut e, 0, layout::dfa_entry::FLAGS, &flags.to_le_bytes())?;
        dfa_sec.extend_from_slice(&e);
    }
    for ((b, _, _), off) in dfas.iter().zip(&placed) {
        dfa_sec.resize(*off, 0);
        dfa_sec.extend_from_slice(b);
    }

    // Assemble: header, table, sections (8-aligned, zero padding), trailer.
    let sections: [(SectionKind, &[u8], usize); 4] = [
        (SectionKind::Instances, &instances, spec.instances.len()),
        (SectionKind::Criteria, &criteria, n_criteria),
        (SectionKind::Strings, &strings_sec, strings.list.len()),
        (SectionKind::Dfas, &dfa_sec, dfas.len()),
    ];
    const TABLE_END: usize = layout::HEADER_LEN + 4 * layout::SECTION_ENTRY_LEN;
    let mut out = std::vec![0u8; TABLE_END];
    let mut table = Vec::new();
    for (k, bytes, count) in sections {
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
        field_put(
            &mut out,
            0,
            h::SECTION_COUNT,
            &(sections.len() as u32).to_le_bytes(),
        )?;
        field_put(&mut out, 0, h::CONTENT_VERSION, &spec.version.to_le_bytes())?;
        field_put(&mut out, 0, h::SCHEMA_ID, &spec.schema_id.to_le_bytes())?;
        field_put(&mut out, 0, h::FILE_LEN, &(file_len as u64).to_le_bytes())?;
    }
    out.resize(file_len, 0);
    sign(&mut out, key)?;
    Ok(out)
}

/// (Re)compute the trailer of `bytes` in place: the last 72 bytes become
/// `key`'s id and the Ed25519 signature over everything before them. Nothing
/// else changes (the header's file length is not touched: see [`resign`]).
///
/// # Errors
/// [`BuildError::TooShort`] if `bytes` is shorter than a trailer.
pub fn sign(bytes: &mut [u8], key: &SigningKey) -> Result<(), BuildError> {
    let body_end = bytes
        .len()
        .checked_sub(layout::TRAILER_LEN)
        .ok_or(BuildError::TooShort)?;
    let (body, trailer) = bytes
        .split_at_mut_checked(body_end)
        .ok_or(BuildError::TooShort)?;
    let sig = key.sign_bytes(body);
    field_put(trailer, 0, layout::trailer::KEY_ID, &key.key_id().0)?;
    field_put(trailer, 0, layout::trailer::SIGNATURE, &sig)?;
    Ok(())
}

/// After raw edits that may change the length (truncation, extension): set
/// the header's file length to `bytes.len()` (if the header is there) and
/// [`sign`] again, so the result tests the parser, not the signature.
///
/// # Errors
/// [`BuildError::TooShort`] if `bytes` is shorter than a trailer.
pub fn resign(bytes: &mut [u8], key: &SigningKey) -> Result<(), BuildError> {
    let len = bytes.len() as u64;
    if bytes.len() >= layout::header::FILE_LEN.end {
        field_put(bytes, 0, layout::header::FILE_LEN, &len.to_le_bytes())?;
    }
    sign(bytes, key)
}

/// Decode validated content back into a spec: `build(to_spec(v))` rebuilds
/// the same content (regexes come back from their stored sources; needles of
/// case-insensitive criteria come back lowercased, as stored).
///
/// # Errors
/// [`Rule::Internal`] if an accessor returns `None` (a validator bug).
pub fn to_spec<B: AsRef<[u8]>>(chan: &ValidChannel<B>) -> Result<ChannelSpec, Rejection> {
    let internal = |i: u32| {
        let mut r = Rejection::new(Rule::Internal, 0);
        r.instance = Some(i);
        r
    };
    let h = chan.header();
    let mut instances = Vec::new();
    for i in 0..chan.instance_count() {
        let inst = chan.instance(i).ok_or_else(|| internal(i))?;
        let mut criteria = Vec::new();
        for k in 0..inst.criteria_len() {
            let c = inst.criterion(k).ok_or_else(|| internal(i))?;
            criteria.push(match c {
                Criterion::Any => CriterionSpec::Any,
                Criterion::Str {
                    op,
                    needle,
                    case_insensitive,
                } => CriterionSpec::Str {
                    op,
                    value: needle.to_string(),
                    case_insensitive,
                },
                Criterion::IntEquals(v) => CriterionSpec::IntEquals(v),
                Criterion::IntRange { lo, hi } => CriterionSpec::IntRange { lo, hi },
                Criterion::IntMask { mask, value } => CriterionSpec::IntMask { mask, value },
                Criterion::Regex { dfa } => CriterionSpec::Regex {
                    pattern: chan
                        .dfa_pattern(dfa)
                        .ok_or_else(|| internal(i))?
                        .to_string(),
                    case_insensitive: chan.dfa_case_insensitive(dfa).ok_or_else(|| internal(i))?,
                },
            });
        }
        instances.push(InstanceSpec {
            id: inst.id,
            template: inst.template.id,
            action: inst.action,
            criteria,
        });
    }
    Ok(ChannelSpec {
        channel: h.channel,
        version: h.version,
        schema_id: h.schema_id,
        instances,
    })
}

/// Locate fields in (possibly invalid) channel files, for fixtures and
/// mutation tests. Every function reads the file as laid out by [`build`]
/// without validating it, and returns `None` when the location is not there.
pub mod raw {
    use crate::layout::{self, SectionKind};
    use crate::wire;

    pub use crate::layout::{
        criterion, dfa_entry, header, instance, section, string_entry, trailer,
    };

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
        super::put(bytes, at, src).is_ok()
    }
}
