//! `validate`: bytes in, [`ValidChannel`] or [`Rejection`] out.
//!
//! CONTRACT (public API other crates code against):
//! - `validate` never panics, for any input, and does work linear in the input
//!   (every loop is bounded by a count that was checked against a cap and
//!   against the section length first).
//! - `ValidChannel` accessors never panic; `None` means "validator bug", which
//!   callers count as a fault and fail closed on.
//!
//! Validation order (docs/FORMAT.md, "Validation order", is the reference):
//! 1. size caps (before any other work), 2. constant header checks,
//! 3. trust (key id, signature), 4. identity (channel, schema),
//! 5. section table, 6. instances and their criteria, 7. strings, 8. DFAs.
//!
//! The first broken rule is reported, with the offset of the field that broke it.

use crate::content::{Action, Criterion, StrOp};
use crate::cost::{self, CostBound, Tally};
use crate::error::{Rejection, Rule};
use crate::layout::{self, SectionKind, kind};
use crate::limits;
use crate::schema::{FieldType, TEMPLATE_TYPES, TemplateType};
use crate::trust::{KeyId, Trust};
use crate::wire::{self, WireError};
use regex_automata::dfa::dense::DFA;
use regex_automata::dfa::{Automaton, StartKind};

/// The decoded, signed header of a validated channel file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub format_version: u16,
    /// Flags (no flags are defined yet; the validator requires 0).
    pub flags: u32,
    /// Channel id (e.g. 291).
    pub channel: u32,
    /// Content version, monotonic per channel.
    pub version: u64,
    /// Schema id the content was built for (equals [`crate::SCHEMA_ID`]).
    pub schema_id: u64,
    /// Key that signed it.
    pub key_id: KeyId,
}

/// Where one validated section lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Span {
    /// Offset from the file start.
    pub(crate) off: usize,
    /// Length in bytes.
    pub(crate) len: usize,
    /// Record count.
    pub(crate) count: u32,
}

/// Offsets of the validated sections (private; produced only by `validate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) header: Header,
    pub(crate) instances: Span,
    pub(crate) criteria: Span,
    pub(crate) strings: Span,
    pub(crate) dfas: Span,
    /// A zero span when the file has no METADATA section.
    pub(crate) metadata: Span,
}

/// A channel file that passed [`validate`]: the only thing the interpreter
/// accepts. Owns (or borrows) its bytes `B`; accessors decode on access.
#[derive(Clone, Copy, Debug)]
pub struct ValidChannel<B> {
    bytes: B,
    layout: Layout,
}

/// One template instance of a [`ValidChannel`].
#[derive(Clone, Copy, Debug)]
pub struct Instance<'a> {
    /// Position in the instance table.
    pub index: u32,
    /// Content-assigned instance id (strictly increasing within a file).
    pub id: u32,
    /// Its template type in this schema.
    pub template: &'static TemplateType,
    /// What a match asks for.
    pub action: Action,
    /// AND rows after the first (at most [`limits::MAX_AND_ROWS`]).
    pub and_rows: u8,
    /// UNLESS rows after the AND rows (at most [`limits::MAX_UNLESS_ROWS`]).
    pub unless_rows: u16,
    /// Every row's criteria, row after row.
    criteria: &'a [u8],
    /// Its METADATA record, if the file has that section.
    meta: Option<&'a [u8]>,
    file: &'a [u8],
    strings: Span,
}

/// Decode the string at `index` of the STRINGS section described by `strings`.
fn string_at(file: &[u8], strings: Span, index: u32) -> Option<&str> {
    if index >= strings.count {
        return None;
    }
    let e = wire::record(strings.off, index as usize, layout::STRING_ENTRY_LEN)?;
    let off = wire::u32_at(file, e, layout::string_entry::OFFSET, "string offset").ok()?;
    let len = wire::u16_at(file, e, layout::string_entry::LEN, "string length").ok()?;
    let blob = wire::record(
        strings.off,
        strings.count as usize,
        layout::STRING_ENTRY_LEN,
    )?;
    let start = blob.checked_add(off as usize)?;
    let s = wire::slice(file, start, len.into(), "string").ok()?;
    core::str::from_utf8(s).ok()
}

/// Decode one criterion record (already validated; `None` if inconsistent).
fn decode_criterion<'a>(file: &'a [u8], strings: Span, rec: &'a [u8]) -> Option<Criterion<'a>> {
    use layout::criterion as f;
    let k = wire::u8_at(rec, 0, f::KIND, "criterion kind").ok()?;
    let flags = wire::u8_at(rec, 0, f::FLAGS, "criterion flags").ok()?;
    let index = wire::u32_at(rec, 0, f::INDEX, "criterion index").ok()?;
    let a = wire::u64_at(rec, 0, f::A, "criterion operand a").ok()?;
    let b = wire::u64_at(rec, 0, f::B, "criterion operand b").ok()?;
    let ci = flags & layout::CRITERION_FLAG_CASE_INSENSITIVE != 0;
    let str_op = |op| {
        string_at(file, strings, index).map(|needle| Criterion::Str {
            op,
            needle,
            case_insensitive: ci,
        })
    };
    match k {
        kind::ANY => Some(Criterion::Any),
        kind::EQUALS => str_op(StrOp::Equals),
        kind::PREFIX => str_op(StrOp::Prefix),
        kind::SUFFIX => str_op(StrOp::Suffix),
        kind::CONTAINS => str_op(StrOp::Contains),
        kind::INT_EQUALS => Some(Criterion::IntEquals(a)),
        kind::INT_RANGE => Some(Criterion::IntRange { lo: a, hi: b }),
        kind::INT_MASK => Some(Criterion::IntMask { mask: a, value: b }),
        kind::REGEX => Some(Criterion::Regex { dfa: index }),
        _ => None,
    }
}

/// What the content says about the rule an instance came from (docs/FORMAT.md,
/// "METADATA section"). Every field is optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metadata<'a> {
    /// The rule's title.
    pub title: Option<&'a str>,
    /// The rule's id.
    pub rule_id: Option<&'a str>,
    /// The rule's author.
    pub author: Option<&'a str>,
    /// Where the rule comes from.
    pub reference: Option<&'a str>,
}

impl Metadata<'_> {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Metadata::default()
    }
}

/// Rows of an instance: the first, its AND rows and its UNLESS rows (at most
/// 1 + 255 + 65,535, so never saturates).
fn rows(and_rows: u8, unless_rows: u16) -> usize {
    usize::from(and_rows)
        .saturating_add(usize::from(unless_rows))
        .saturating_add(1)
}

/// The role of one row of an instance's criteria (docs/FORMAT.md, "Rows").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    /// Row 0 and the AND rows: every criterion of every one must match.
    And,
    /// An UNLESS row: when every criterion of it matches, the instance does not.
    Unless,
}

impl<'a> Instance<'a> {
    /// Number of criteria per row: always `template.input_count()` for
    /// validated content.
    pub fn criteria_len(&self) -> usize {
        self.template.input_count()
    }
    /// Number of rows: the first, the AND rows, then the UNLESS rows.
    pub fn row_count(&self) -> usize {
        rows(self.and_rows, self.unless_rows)
    }
    /// What row `r` means (`None` past the last row).
    pub fn row_kind(&self, r: usize) -> Option<RowKind> {
        if r > usize::from(self.and_rows) {
            (r < self.row_count()).then_some(RowKind::Unless)
        } else {
            Some(RowKind::And)
        }
    }
    /// The instance's metadata (all `None` when the file has none).
    pub fn metadata(&self) -> Metadata<'a> {
        let Some(rec) = self.meta else {
            return Metadata::default();
        };
        let field = |r: core::ops::Range<usize>| {
            let index = wire::u32_at(rec, 0, r, "metadata string").ok()?;
            if index == layout::NO_STRING {
                return None;
            }
            string_at(self.file, self.strings, index)
        };
        use layout::metadata as m;
        Metadata {
            title: field(m::TITLE),
            rule_id: field(m::RULE_ID),
            author: field(m::AUTHOR),
            reference: field(m::REFERENCE),
        }
    }
    /// Criterion `k` of the first row (applies to field `k`). `None` only if
    /// `k` is out of range or on a validator bug.
    pub fn criterion(&self, k: usize) -> Option<Criterion<'a>> {
        self.row_criterion(0, k)
    }
    /// Criterion `k` of row `r` (applies to field `k`). `None` only if `r` or
    /// `k` is out of range or on a validator bug.
    pub fn row_criterion(&self, r: usize, k: usize) -> Option<Criterion<'a>> {
        if k >= self.criteria_len() || r >= self.row_count() {
            return None;
        }
        let at = r.checked_mul(self.criteria_len())?.checked_add(k)?;
        let off = at.checked_mul(layout::CRITERION_LEN)?;
        let rec = wire::slice(self.criteria, off, layout::CRITERION_LEN, "criterion").ok()?;
        decode_criterion(self.file, self.strings, rec)
    }
}

/// Iterator over the instances of a [`ValidChannel`], in table order.
/// A decoding failure (a validator bug) ends the iteration early, so callers
/// that must notice compare the number yielded with
/// [`ValidChannel::instance_count`].
#[derive(Clone, Debug)]
pub struct Instances<'a> {
    chan: ValidChannel<&'a [u8]>,
    next: u32,
}

impl<'a> Iterator for Instances<'a> {
    type Item = Instance<'a>;
    fn next(&mut self) -> Option<Instance<'a>> {
        let i = self.next;
        let inst = instance_at(self.chan.bytes, &self.chan.layout, i)?;
        self.next = i.checked_add(1)?;
        Some(inst)
    }
}

fn instance_at<'a>(file: &'a [u8], layout: &Layout, index: u32) -> Option<Instance<'a>> {
    use layout::instance as f;
    if index >= layout.instances.count {
        return None;
    }
    let base = wire::record(layout.instances.off, index as usize, layout::INSTANCE_LEN)?;
    let id = wire::u32_at(file, base, f::ID, "instance id").ok()?;
    let t = wire::u16_at(file, base, f::TEMPLATE, "template").ok()?;
    let template = crate::schema::template_type(t)?;
    let first = wire::u32_at(file, base, f::FIRST_CRITERION, "first criterion").ok()?;
    let action = Action::from_code(wire::u8_at(file, base, f::ACTION, "action").ok()?)?;
    let and_rows = wire::u8_at(file, base, f::AND_ROWS, "and rows").ok()?;
    let unless_rows = wire::u16_at(file, base, f::UNLESS_ROWS, "unless rows").ok()?;
    let rows = rows(and_rows, unless_rows);
    let start = wire::record(layout.criteria.off, first as usize, layout::CRITERION_LEN)?;
    let len = template
        .input_count()
        .checked_mul(rows)?
        .checked_mul(layout::CRITERION_LEN)?;
    let criteria = wire::slice(file, start, len, "criteria").ok()?;
    let meta = if layout.metadata.off == 0 {
        None
    } else {
        let at = wire::record(layout.metadata.off, index as usize, layout::METADATA_LEN)?;
        Some(wire::slice(file, at, layout::METADATA_LEN, "metadata").ok()?)
    };
    Some(Instance {
        meta,
        index,
        id,
        template,
        action,
        and_rows,
        unless_rows,
        criteria,
        file,
        strings: layout.strings,
    })
}

/// A DFA's required-literal hint (docs/FORMAT.md, "Required literals"): the
/// writer's claim that every haystack the DFA matches contains `text`
/// (ASCII case-insensitively when `folded`), or, when `set`, at least one of
/// the members of `text` ("Literal sets"). Validation proves the string is
/// in range, UTF-8, at most [`limits::MAX_DFA_LITERAL_LEN`] bytes, when
/// `folded` free of ASCII upper-case letters, and when `set` 2 to
/// [`limits::MAX_LITERAL_SET`] non-empty members; it does **not** prove the
/// claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequiredLiteral<'a> {
    /// The literal (already ASCII-lower-cased when `folded`); a set's
    /// members separated by NUL.
    pub text: &'a str,
    /// Match it ASCII case-insensitively.
    pub folded: bool,
    /// `text` is a literal set.
    pub set: bool,
}

impl<'a> RequiredLiteral<'a> {
    /// The literals of the hint: `text` itself, or a set's members.
    pub fn members(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        // A single literal is never split (it may contain NUL).
        let set = self.set;
        self.text
            .as_bytes()
            .split(move |&c| set && c == layout::LITERAL_SET_SEPARATOR)
    }
}

/// A DFA entry's place in its regex group (docs/FORMAT.md, "Regex groups"):
/// its DFA is shared by the entries `first ..= first + patterns - 1`, and
/// matches of this entry's regex are the DFA's matches of pattern `pattern`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DfaGroup {
    /// The entry that opens the group (pattern 0).
    pub first: u32,
    /// This entry's pattern id in the group's DFA.
    pub pattern: u8,
    /// The field index every criterion using the group tests.
    pub field: u8,
    /// The template type id every criterion using the group belongs to.
    pub template: u16,
}

/// The decoded index entry of one DFA.
struct DfaEntry<'a> {
    blob: &'a [u8],
    pattern: u32,
    flags: u32,
    literal: u32,
    group: Option<DfaGroup>,
}

/// The index entry of DFA `index`.
fn dfa_entry<'a>(file: &'a [u8], layout: &Layout, index: u32) -> Option<DfaEntry<'a>> {
    use layout::dfa_entry as f;
    let d = layout.dfas;
    if index >= d.count {
        return None;
    }
    let e = wire::record(d.off, index as usize, layout::DFA_ENTRY_LEN)?;
    let off = wire::u32_at(file, e, f::OFFSET, "dfa offset").ok()?;
    let len = wire::u32_at(file, e, f::LEN, "dfa length").ok()?;
    let pattern = wire::u32_at(file, e, f::PATTERN, "dfa pattern").ok()?;
    let flags = wire::u32_at(file, e, f::FLAGS, "dfa flags").ok()?;
    let literal = wire::u32_at(file, e, f::LITERAL, "dfa literal").ok()?;
    let word = wire::u32_at(file, e, f::GROUP, "dfa group").ok()?;
    let start = d.off.checked_add(off as usize)?;
    let blob = wire::slice(file, start, len as usize, "dfa").ok()?;
    let group = if flags & layout::DFA_FLAG_GROUPED != 0 {
        let [pattern, field, t0, t1] = word.to_le_bytes();
        Some(DfaGroup {
            first: index.checked_sub(pattern.into())?,
            pattern,
            field,
            template: u16::from_le_bytes([t0, t1]),
        })
    } else {
        None
    };
    Some(DfaEntry {
        blob,
        pattern,
        flags,
        literal,
        group,
    })
}

impl<B: AsRef<[u8]>> ValidChannel<B> {
    /// The signed header.
    pub fn header(&self) -> Header {
        self.layout.header
    }
    /// The proven per-event cost bound, per template type ([`crate::cost`]);
    /// validation checked each is at most [`cost::TEMPLATE_CEILING`].
    pub fn cost_bound(&self) -> CostBound {
        cost_of(self.bytes.as_ref(), &self.layout).0
    }
    /// Channel id.
    pub fn channel(&self) -> u32 {
        self.layout.header.channel
    }
    /// Content version.
    pub fn version(&self) -> u64 {
        self.layout.header.version
    }
    /// The whole file.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }
    /// A borrowed view (cheap: no re-validation).
    pub fn as_view(&self) -> ValidChannel<&[u8]> {
        ValidChannel {
            bytes: self.bytes.as_ref(),
            layout: self.layout,
        }
    }
    /// Give the buffer back.
    pub fn into_inner(self) -> B {
        self.bytes
    }
    /// Number of instances.
    pub fn instance_count(&self) -> u32 {
        self.layout.instances.count
    }
    /// Instance at table position `index` (`None` if out of range).
    pub fn instance(&self, index: u32) -> Option<Instance<'_>> {
        instance_at(self.bytes.as_ref(), &self.layout, index)
    }
    /// All instances, in table order.
    pub fn instances(&self) -> Instances<'_> {
        Instances {
            chan: self.as_view(),
            next: 0,
        }
    }
    /// Number of strings in the STRINGS section.
    pub fn string_count(&self) -> u32 {
        self.layout.strings.count
    }
    /// String `index` (needles and regex sources).
    pub fn string(&self, index: u32) -> Option<&str> {
        string_at(self.bytes.as_ref(), self.layout.strings, index)
    }
    /// Number of serialized DFAs.
    pub fn dfa_count(&self) -> u32 {
        self.layout.dfas.count
    }
    /// DFA `index`, loaded with the checked `DFA::from_bytes` (O(size); callers
    /// load each DFA once when building an engine). Searches must be
    /// unanchored (`Anchored::No`, the default `Input`): see docs/FORMAT.md.
    pub fn dfa(&self, index: u32) -> Option<DFA<&[u32]>> {
        let e = dfa_entry(self.bytes.as_ref(), &self.layout, index)?;
        DFA::from_bytes(e.blob).ok().map(|(dfa, _)| dfa)
    }
    /// The serialized bytes of DFA `index` (aligned as the file buffer is).
    pub fn dfa_bytes(&self, index: u32) -> Option<&[u8]> {
        dfa_entry(self.bytes.as_ref(), &self.layout, index).map(|e| e.blob)
    }
    /// The regex source DFA `index` was compiled from.
    pub fn dfa_pattern(&self, index: u32) -> Option<&str> {
        let e = dfa_entry(self.bytes.as_ref(), &self.layout, index)?;
        self.string(e.pattern)
    }
    /// The regex group DFA `index` belongs to: `None` if `index` is out of
    /// range, `Some(None)` for a DFA of its own (one pattern).
    pub fn dfa_group(&self, index: u32) -> Option<Option<DfaGroup>> {
        dfa_entry(self.bytes.as_ref(), &self.layout, index).map(|e| e.group)
    }
    /// Whether DFA `index` was compiled case-insensitively.
    pub fn dfa_case_insensitive(&self, index: u32) -> Option<bool> {
        dfa_entry(self.bytes.as_ref(), &self.layout, index)
            .map(|e| e.flags & layout::DFA_FLAG_CASE_INSENSITIVE != 0)
    }
    /// The required-literal hint of DFA `index`: `None` if `index` is out of
    /// range (or on a validator bug), `Some(None)` if the DFA has no hint.
    /// The hint is the signer's claim, not proven by validation: see
    /// [`RequiredLiteral`].
    pub fn dfa_literal(&self, index: u32) -> Option<Option<RequiredLiteral<'_>>> {
        let e = dfa_entry(self.bytes.as_ref(), &self.layout, index)?;
        if e.literal == layout::NO_LITERAL {
            return Some(None);
        }
        let text = self.string(e.literal)?;
        Some(Some(RequiredLiteral {
            text,
            folded: e.flags & layout::DFA_FLAG_LITERAL_FOLDED != 0,
            set: e.flags & layout::DFA_FLAG_LITERAL_SET != 0,
        }))
    }
}

/// Validate `bytes` as a channel file for channel `expected_channel`, trusting `trust`.
///
/// The buffer must be 16-byte aligned (kernel pool buffers are; host tools use
/// `AlignedBytes`): serialized DFAs are checked at their actual address, so a
/// misaligned buffer is rejected with [`Rule::BadDfa`] (never a panic).
///
/// Under `cfg(fuzzing)` only, the signature's *result* is ignored (it is still
/// computed) so fuzzers reach the parser; the key id is still checked.
///
/// # Errors
/// The first rule broken, in validation order (see docs/FORMAT.md).
///
/// # Panics
/// Never, for any input.
pub fn validate<B: AsRef<[u8]>>(
    bytes: B,
    trust: &Trust<'_>,
    expected_channel: u32,
) -> Result<ValidChannel<B>, Rejection> {
    let layout = check(bytes.as_ref(), trust, expected_channel)?;
    Ok(ValidChannel { bytes, layout })
}

type R<T> = Result<T, Rejection>;

fn rej(rule: Rule, offset: usize) -> Rejection {
    Rejection::new(rule, offset as u64)
}

/// A read that the preceding checks proved in bounds failed: a validator bug.
fn internal(e: WireError) -> Rejection {
    debug_assert!(false, "validator read out of bounds: {}", e.what);
    rej(Rule::Internal, e.offset)
}

/// Checked arithmetic that the preceding checks proved cannot overflow.
fn ck(x: Option<usize>, offset: usize) -> R<usize> {
    x.ok_or_else(|| {
        debug_assert!(false, "validator arithmetic overflow");
        rej(Rule::Internal, offset)
    })
}

fn check(b: &[u8], trust: &Trust<'_>, expected_channel: u32) -> R<Layout> {
    use layout::header as h;
    let len = b.len();

    // 1. Size caps, before any other work.
    if len > limits::MAX_FILE_LEN {
        return Err(rej(Rule::TooLarge, 0).values(limits::MAX_FILE_LEN as u64, len as u64));
    }
    if len < layout::MIN_FILE_LEN {
        return Err(rej(Rule::TooShort, 0).values(layout::MIN_FILE_LEN as u64, len as u64));
    }

    // 2. Constant header checks.
    let magic: [u8; 8] = wire::bytes_at(b, 0, h::MAGIC, "magic").map_err(internal)?;
    if magic != layout::MAGIC {
        return Err(rej(Rule::BadMagic, h::MAGIC.start));
    }
    let version = wire::u16_at(b, 0, h::VERSION, "version").map_err(internal)?;
    if version != layout::FORMAT_VERSION {
        return Err(rej(Rule::UnsupportedVersion, h::VERSION.start)
            .values(layout::FORMAT_VERSION.into(), version.into()));
    }
    let header_len = wire::u16_at(b, 0, h::HEADER_LEN, "header length").map_err(internal)?;
    if usize::from(header_len) != layout::HEADER_LEN {
        return Err(rej(Rule::LengthMismatch, h::HEADER_LEN.start)
            .values(layout::HEADER_LEN as u64, header_len.into()));
    }
    let flags = wire::u32_at(b, 0, h::FLAGS, "flags").map_err(internal)?;
    if flags != 0 {
        return Err(rej(Rule::ReservedNonZero, h::FLAGS.start).values(0, flags.into()));
    }
    let reserved = wire::field(b, 0, h::RESERVED, "header reserved").map_err(internal)?;
    if let Some(at) = wire::first_nonzero(reserved, h::RESERVED.start) {
        return Err(rej(Rule::ReservedNonZero, at));
    }
    let file_len = wire::u64_at(b, 0, h::FILE_LEN, "file length").map_err(internal)?;
    if file_len != len as u64 {
        return Err(rej(Rule::LengthMismatch, h::FILE_LEN.start).values(len as u64, file_len));
    }

    // 3. Trust: the key must be known and the signature must verify.
    let body_end = ck(len.checked_sub(layout::TRAILER_LEN), 0)?;
    let key_id =
        KeyId(wire::bytes_at(b, body_end, layout::trailer::KEY_ID, "key id").map_err(internal)?);
    let Some(key) = trust.key(key_id) else {
        // `found` carries the id so tools can name it next to the trusted ones.
        return Err(rej(Rule::UnknownKey, body_end).values(0, u64::from_be_bytes(key_id.0)));
    };
    let sig: [u8; 64] =
        wire::bytes_at(b, body_end, layout::trailer::SIGNATURE, "signature").map_err(internal)?;
    let signed = wire::slice(b, 0, body_end, "signed bytes").map_err(internal)?;
    let verified = ed25519_compact::PublicKey::new(key.public)
        .verify(signed, &ed25519_compact::Signature::new(sig))
        .is_ok();
    // STYLE 11: fuzz builds compute the signature but ignore its result, so
    // the fuzzer reaches the parser. Never set outside cargo-fuzz.
    if !verified && !cfg!(fuzzing) {
        return Err(rej(
            Rule::BadSignature,
            ck(
                body_end.checked_add(layout::trailer::SIGNATURE.start),
                body_end,
            )?,
        ));
    }

    // 4. Identity: the signed header must name what we are loading.
    let channel = wire::u32_at(b, 0, h::CHANNEL, "channel").map_err(internal)?;
    if channel != expected_channel {
        return Err(rej(Rule::WrongChannel, h::CHANNEL.start)
            .values(expected_channel.into(), channel.into()));
    }
    let schema_id = wire::u64_at(b, 0, h::SCHEMA_ID, "schema id").map_err(internal)?;
    if schema_id != crate::SCHEMA_ID {
        return Err(rej(Rule::WrongSchema, h::SCHEMA_ID.start).values(crate::SCHEMA_ID, schema_id));
    }
    let content_version =
        wire::u64_at(b, 0, h::CONTENT_VERSION, "content version").map_err(internal)?;
    let header = Header {
        format_version: version,
        flags,
        channel,
        version: content_version,
        schema_id,
        key_id,
    };

    // 5. Section table.
    let [instances, criteria, strings, dfas, metadata] = check_sections(b, body_end)?;
    let layout = Layout {
        header,
        instances,
        criteria,
        strings,
        dfas,
        metadata,
    };

    // 6-8. Contents.
    check_instances(b, &layout, key.test_only)?;
    check_strings(b, strings)?;
    check_dfas(b, dfas, strings)?;
    check_metadata(b, &layout)?;
    check_first_use_order(b, &layout)?;
    check_cost(b, &layout)?;
    Ok(layout)
}

/// The proven per-event bound of every template type ([`crate::cost`]) is at
/// most [`cost::TEMPLATE_CEILING`]. Runs last, on fully checked content. The
/// rejection names the instance at which the type's bound first crosses the
/// ceiling and carries the ceiling and the whole file's bound.
fn check_cost(b: &[u8], l: &Layout) -> R<()> {
    let (bound, first_over) = cost_of(b, l);
    for ((&fuel, over), tt) in bound.fuel.iter().zip(first_over).zip(TEMPLATE_TYPES) {
        if let Some(i) = over {
            let base = wire::record(l.instances.off, i as usize, layout::INSTANCE_LEN)
                .unwrap_or(l.instances.off);
            return Err(rej(Rule::CostCeiling, base)
                .values(cost::TEMPLATE_CEILING, fuel)
                .at_instance(Some(tt.id), i));
        }
    }
    Ok(())
}

/// The file's bound per template type, and per type the first instance at
/// which it crossed [`cost::TEMPLATE_CEILING`]. One pass, no allocation.
fn cost_of(b: &[u8], l: &Layout) -> (CostBound, [Option<u32>; cost::TEMPLATE_COUNT]) {
    let mut tallies: [Tally; cost::TEMPLATE_COUNT] = core::array::from_fn(Tally::new);
    let mut over = [None; cost::TEMPLATE_COUNT];
    let mut bound = CostBound::default();
    // Each regex group is scanned at most once per event, whatever number of
    // criteria use it.
    // A grouped entry's literal set adds gram keys and group hits.
    for d in 0..l.dfas.count {
        let Some(e) = dfa_entry(b, l, d) else {
            continue;
        };
        let Some(g) = e.group else {
            continue;
        };
        let Some(t) = TEMPLATE_TYPES
            .iter()
            .position(|t| t.id == g.template)
            .and_then(|k| tallies.get_mut(k))
        else {
            continue;
        };
        if g.pattern == 0 {
            t.add_group_scan(usize::from(g.field));
        }
        if let Some(members) = set_members(b, l, &e) {
            t.add_literal_set(usize::from(g.field), members);
        }
    }
    for (f, t) in bound.fuel.iter_mut().zip(tallies.iter()) {
        *f = t.total();
    }
    let grouped = |d: u32| dfa_entry(b, l, d).is_some_and(|e| e.group.is_some());
    for i in 0..l.instances.count {
        let Some(inst) = instance_at(b, l, i) else {
            // A validator bug: fail closed at the ceiling.
            bound.fuel = [u64::MAX; cost::TEMPLATE_COUNT];
            return (bound, over.map(|o: Option<u32>| o.or(Some(i))));
        };
        let k = TEMPLATE_TYPES
            .iter()
            .position(|t| t.id == inst.template.id)
            .unwrap_or(0);
        if let (Some(t), Some(o), Some(f)) =
            (tallies.get_mut(k), over.get_mut(k), bound.fuel.get_mut(k))
        {
            // An undecodable criterion (a validator bug) counts as the
            // dearest kind, so the bound stays a bound.
            let dearest = Criterion::Regex { dfa: u32::MAX };
            // Every row may be evaluated in full (the UNLESS rows once the
            // AND rows matched), so every row counts.
            for r in 0..inst.row_count() {
                let row = || {
                    (0..inst.criteria_len()).map(|c| inst.row_criterion(r, c).unwrap_or(dearest))
                };
                t.add_grouped(row(), grouped);
                // A single regex's literal set: its members are gram keys of
                // the criterion's field, each a further hit of the instance.
                for (field, c) in row().enumerate() {
                    let Criterion::Regex { dfa } = c else {
                        continue;
                    };
                    let set = dfa_entry(b, l, dfa)
                        .filter(|e| e.group.is_none())
                        .and_then(|e| set_members(b, l, &e));
                    if let Some(members) = set {
                        t.add_literal_set(field, members);
                    }
                }
            }
            *f = t.total();
            if *f > cost::TEMPLATE_CEILING && o.is_none() {
                *o = Some(i);
            }
        }
    }
    (bound, over)
}

/// The number of members of DFA entry `e`'s literal set, or `None` when its
/// literal is not a set. Validated: 2 to [`limits::MAX_LITERAL_SET`]; the
/// cap if the string is unreadable (a validator bug: the bound stays a
/// bound).
fn set_members(b: &[u8], l: &Layout, e: &DfaEntry<'_>) -> Option<u32> {
    if e.flags & layout::DFA_FLAG_LITERAL_SET == 0 {
        return None;
    }
    Some(
        string_at(b, l.strings, e.literal).map_or(limits::MAX_LITERAL_SET, |s| {
            let seps = s
                .bytes()
                .filter(|&c| c == layout::LITERAL_SET_SEPARATOR)
                .count();
            u32::try_from(seps).map_or(limits::MAX_LITERAL_SET, |n| n.saturating_add(1))
        }),
    )
}

/// One encoding per content (issue 13): strings and DFAs are numbered in the
/// order the writer first uses them, walking the criteria in order (a new
/// regex's DFA names its pattern string, then its literal string), and every
/// one is used. Any other numbering of the same content would be a second
/// encoding. Runs last: every index is already known to be in range. One
/// linear pass, no allocation.
fn check_first_use_order(b: &[u8], l: &Layout) -> R<()> {
    use layout::criterion as f;
    use layout::dfa_entry as d;
    let (mut next_string, mut next_dfa) = (0u32, 0u32);
    for c in 0..l.criteria.count as usize {
        let base = ck(
            wire::record(l.criteria.off, c, layout::CRITERION_LEN),
            l.criteria.off,
        )?;
        let k = wire::u8_at(b, base, f::KIND, "criterion kind").map_err(internal)?;
        let index = wire::u32_at(b, base, f::INDEX, "criterion index").map_err(internal)?;
        let at = base.saturating_add(f::INDEX.start);
        match k {
            kind::EQUALS | kind::PREFIX | kind::SUFFIX | kind::CONTAINS => {
                claim(&mut next_string, index, at)?;
            }
            // A new DFA, or a new regex group: numbered as a whole at the
            // first use of any of its members, members in pattern-source
            // order.
            kind::REGEX
                if index >= next_dfa
                    && index < next_dfa.saturating_add(group_run(b, l, next_dfa)) =>
            {
                let (first, run) = (next_dfa, group_run(b, l, next_dfa));
                let mut prev: Option<&str> = None;
                for d in first..first.saturating_add(run) {
                    claim(&mut next_dfa, d, at)?;
                    let e = ck(
                        wire::record(l.dfas.off, d as usize, layout::DFA_ENTRY_LEN),
                        at,
                    )?;
                    let pat_at = e.saturating_add(d::PATTERN.start);
                    let pattern =
                        wire::u32_at(b, e, d::PATTERN, "dfa pattern").map_err(internal)?;
                    claim(&mut next_string, pattern, pat_at)?;
                    let source = string_at(b, l.strings, pattern);
                    if run > 1 && prev >= source {
                        return Err(rej(Rule::FirstUseOrder, pat_at).values(0, d.into()));
                    }
                    prev = source;
                    let literal =
                        wire::u32_at(b, e, d::LITERAL, "dfa literal").map_err(internal)?;
                    if literal != layout::NO_LITERAL {
                        claim(
                            &mut next_string,
                            literal,
                            e.saturating_add(d::LITERAL.start),
                        )?;
                    }
                }
            }
            kind::REGEX => claim(&mut next_dfa, index, at)?,
            _ => {}
        }
    }
    // Then the metadata strings, record by record, field by field.
    for i in 0..l.metadata.count as usize {
        let e = ck(
            wire::record(l.metadata.off, i, layout::METADATA_LEN),
            l.metadata.off,
        )?;
        for r in layout::metadata::ALL {
            let index = wire::u32_at(b, e, r.clone(), "metadata string").map_err(internal)?;
            if index != layout::NO_STRING {
                claim(&mut next_string, index, e.saturating_add(r.start))?;
            }
        }
    }
    if next_string != l.strings.count {
        let e = ck(
            wire::record(
                l.strings.off,
                next_string as usize,
                layout::STRING_ENTRY_LEN,
            ),
            l.strings.off,
        )?;
        return Err(rej(Rule::FirstUseOrder, e).values(next_string.into(), l.strings.count.into()));
    }
    if next_dfa != l.dfas.count {
        let e = ck(
            wire::record(l.dfas.off, next_dfa as usize, layout::DFA_ENTRY_LEN),
            l.dfas.off,
        )?;
        return Err(rej(Rule::FirstUseOrder, e).values(next_dfa.into(), l.dfas.count.into()));
    }
    Ok(())
}

/// A use of string or DFA `index` where `*next` is the next unused number:
/// an earlier one, or exactly the next (which it then claims).
fn claim(next: &mut u32, index: u32, at: usize) -> R<()> {
    if index == *next {
        *next = next.saturating_add(1);
        Ok(())
    } else if index < *next {
        Ok(())
    } else {
        Err(rej(Rule::FirstUseOrder, at).values((*next).into(), index.into()))
    }
}

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
fn check_sections(b: &[u8], body_end: usize) -> R<[Span; 5]> {
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

/// METADATA, when present: one record per instance, each field a string
/// index in range or [`layout::NO_STRING`], and at least one string named (a
/// section of nothing but NO_STRING is the same content as no section).
fn check_metadata(b: &[u8], l: &Layout) -> R<()> {
    let m = l.metadata;
    if m.off == 0 {
        return Ok(());
    }
    // The METADATA entry is the fifth (it can only come after the four).
    let entry = layout::HEADER_LEN.saturating_add(4 * layout::SECTION_ENTRY_LEN);
    if m.count != l.instances.count {
        return Err(rej(Rule::MetadataMismatch, entry.saturating_add(12))
            .values(l.instances.count.into(), m.count.into()));
    }
    let mut named = false;
    for i in 0..m.count as usize {
        let e = ck(wire::record(m.off, i, layout::METADATA_LEN), m.off)?;
        for r in layout::metadata::ALL {
            let index = wire::u32_at(b, e, r.clone(), "metadata string").map_err(internal)?;
            if index == layout::NO_STRING {
                continue;
            }
            if index >= l.strings.count {
                return Err(rej(Rule::StringOutOfRange, e.saturating_add(r.start))
                    .values(l.strings.count.into(), index.into())
                    .at_instance(None, i as u32));
            }
            named = true;
        }
    }
    if !named {
        return Err(rej(Rule::MetadataMismatch, entry));
    }
    Ok(())
}

fn check_instances(b: &[u8], l: &Layout, test_key: bool) -> R<()> {
    use layout::instance as f;
    let mut next_criterion: u32 = 0;
    let mut prev_id: Option<u32> = None;
    for i in 0..l.instances.count {
        let base = ck(
            wire::record(l.instances.off, i as usize, layout::INSTANCE_LEN),
            l.instances.off,
        )?;
        let at = |r: core::ops::Range<usize>| base.saturating_add(r.start);
        let t = wire::u16_at(b, base, f::TEMPLATE, "template").map_err(internal)?;
        let here = |r: Rejection| r.at_instance(Some(t), i);
        let Some(tt) = crate::schema::template_type(t) else {
            return Err(here(
                rej(Rule::UnknownTemplate, at(f::TEMPLATE)).values(0, t.into()),
            ));
        };
        let cc = wire::u16_at(b, base, f::CRITERIA_COUNT, "criteria count").map_err(internal)?;
        if usize::from(cc) != tt.input_count() {
            return Err(here(
                rej(Rule::CriteriaCountMismatch, at(f::CRITERIA_COUNT))
                    .values(tt.input_count() as u64, cc.into()),
            ));
        }
        let first =
            wire::u32_at(b, base, f::FIRST_CRITERION, "first criterion").map_err(internal)?;
        if first != next_criterion {
            return Err(here(
                rej(Rule::CriteriaOutOfRange, at(f::FIRST_CRITERION))
                    .values(next_criterion.into(), first.into()),
            ));
        }
        let and_rows = wire::u8_at(b, base, f::AND_ROWS, "and rows").map_err(internal)?;
        if and_rows > limits::MAX_AND_ROWS {
            return Err(here(
                rej(Rule::TooManyRows, at(f::AND_ROWS))
                    .values(limits::MAX_AND_ROWS.into(), and_rows.into()),
            ));
        }
        let unless_rows = wire::u16_at(b, base, f::UNLESS_ROWS, "unless rows").map_err(internal)?;
        if unless_rows > limits::MAX_UNLESS_ROWS {
            return Err(here(
                rej(Rule::TooManyRows, at(f::UNLESS_ROWS))
                    .values(limits::MAX_UNLESS_ROWS.into(), unless_rows.into()),
            ));
        }
        let rows = u32::from(and_rows)
            .saturating_add(u32::from(unless_rows))
            .saturating_add(1);
        let end = first.saturating_add(u32::from(cc).saturating_mul(rows));
        if end > l.criteria.count {
            return Err(here(
                rej(Rule::CriteriaOutOfRange, at(f::CRITERIA_COUNT))
                    .values(l.criteria.count.into(), end.into()),
            ));
        }
        let id = wire::u32_at(b, base, f::ID, "instance id").map_err(internal)?;
        if let Some(p) = prev_id {
            if id <= p {
                return Err(here(
                    rej(Rule::InstanceIdOrder, at(f::ID)).values(p.into(), id.into()),
                ));
            }
        }
        let action = wire::u8_at(b, base, f::ACTION, "action").map_err(internal)?;
        match Action::from_code(action) {
            None => {
                return Err(here(
                    rej(Rule::UnknownAction, at(f::ACTION)).values(0, action.into()),
                ));
            }
            // Only a key marked test-only may ship a crash (issue 11 finding 10).
            Some(Action::TestCrash) if !test_key => {
                return Err(here(
                    rej(Rule::TestActionNeedsTestKey, at(f::ACTION)).values(0, action.into()),
                ));
            }
            Some(_) => {}
        }
        // Row r of the instance: criteria `first + r * cc ..`. Rows after the
        // first must test something, and an AND row may test a field only if
        // the row above tests it too (ANDed tests of a field fill rows top
        // down): otherwise the same content would have several encodings.
        let mut above_tests: u64 = 0;
        for r in 0..rows {
            let mut tests: u64 = 0;
            for (k, field) in tt.fields.iter().enumerate() {
                let idx = (r as usize)
                    .checked_mul(tt.input_count())
                    .and_then(|x| x.checked_add(first as usize)?.checked_add(k));
                let c = ck(
                    idx.and_then(|i| wire::record(l.criteria.off, i, layout::CRITERION_LEN)),
                    base,
                )?;
                check_criterion(b, l, c, field.ty, (tt.id, k))
                    .map_err(|r| here(r).at_field(k as u16))?;
                let kind = wire::u8_at(b, c, layout::criterion::KIND, "criterion kind")
                    .map_err(internal)?;
                if kind != kind::ANY {
                    let bit = 1u64.checked_shl(k as u32).unwrap_or(0);
                    tests |= bit;
                    let and_row = r >= 1 && r <= u32::from(and_rows);
                    if and_row && above_tests & bit == 0 {
                        return Err(here(rej(Rule::RowNotCanonical, c).values(0, r.into()))
                            .at_field(k as u16));
                    }
                }
            }
            if r >= 1 && tests == 0 {
                let c = wire::record(
                    l.criteria.off,
                    (first as usize).saturating_add((r as usize).saturating_mul(tt.input_count())),
                    layout::CRITERION_LEN,
                )
                .unwrap_or(base);
                return Err(here(rej(Rule::RowNotCanonical, c).values(0, r.into())));
            }
            above_tests = tests;
        }
        prev_id = Some(id);
        next_criterion = end;
    }
    if next_criterion != l.criteria.count {
        let at = wire::record(
            l.criteria.off,
            next_criterion as usize,
            layout::CRITERION_LEN,
        )
        .unwrap_or(l.criteria.off);
        return Err(
            rej(Rule::UnaccountedBytes, at).values(l.criteria.count.into(), next_criterion.into())
        );
    }
    Ok(())
}

/// One criterion record at file offset `c` on a field of type `ty`; `owner`
/// is its (template id, field index), which a regex group must declare.
fn check_criterion(b: &[u8], l: &Layout, c: usize, ty: FieldType, owner: (u16, usize)) -> R<()> {
    use layout::criterion as f;
    let at = |r: core::ops::Range<usize>| c.saturating_add(r.start);
    let k = wire::u8_at(b, c, f::KIND, "criterion kind").map_err(internal)?;
    let flags = wire::u8_at(b, c, f::FLAGS, "criterion flags").map_err(internal)?;
    let reserved = wire::u16_at(b, c, f::RESERVED, "criterion reserved").map_err(internal)?;
    let index = wire::u32_at(b, c, f::INDEX, "criterion index").map_err(internal)?;
    let a = wire::u64_at(b, c, f::A, "operand a").map_err(internal)?;
    let bb = wire::u64_at(b, c, f::B, "operand b").map_err(internal)?;

    // (field type it applies to: None = any, uses index, uses a, uses b, may fold)
    let (want, uses_index, uses_a, uses_b, may_fold) = match k {
        kind::ANY => (None, false, false, false, false),
        kind::EQUALS | kind::PREFIX | kind::SUFFIX | kind::CONTAINS => {
            (Some(FieldType::Str), true, false, false, true)
        }
        kind::REGEX => (Some(FieldType::Str), true, false, false, false),
        kind::INT_EQUALS => (Some(FieldType::Int), false, true, false, false),
        kind::INT_RANGE | kind::INT_MASK => (Some(FieldType::Int), false, true, true, false),
        _ => return Err(rej(Rule::UnknownCriterionKind, at(f::KIND)).values(0, k.into())),
    };
    if let Some(want) = want {
        if want != ty {
            return Err(
                rej(Rule::CriterionTypeMismatch, at(f::KIND)).values(ty.code().into(), k.into())
            );
        }
    }
    let allowed_flags = if may_fold {
        layout::CRITERION_FLAG_CASE_INSENSITIVE
    } else {
        0
    };
    if flags & !allowed_flags != 0 {
        return Err(
            rej(Rule::ReservedNonZero, at(f::FLAGS)).values(allowed_flags.into(), flags.into())
        );
    }
    if reserved != 0 {
        return Err(rej(Rule::ReservedNonZero, at(f::RESERVED)).values(0, reserved.into()));
    }
    if !uses_index && index != 0 {
        return Err(rej(Rule::ReservedNonZero, at(f::INDEX)).values(0, index.into()));
    }
    if !uses_a && a != 0 {
        return Err(rej(Rule::ReservedNonZero, at(f::A)).values(0, a));
    }
    if !uses_b && bb != 0 {
        return Err(rej(Rule::ReservedNonZero, at(f::B)).values(0, bb));
    }
    match k {
        kind::INT_RANGE if a > bb => Err(rej(Rule::BadIntOperands, at(f::B)).values(a, bb)),
        kind::INT_MASK if bb & !a != 0 => {
            Err(rej(Rule::BadIntOperands, at(f::B)).values(bb & a, bb))
        }
        kind::REGEX if index >= l.dfas.count => {
            Err(rej(Rule::DfaOutOfRange, at(f::INDEX)).values(l.dfas.count.into(), index.into()))
        }
        kind::REGEX => check_group_owner(b, l, index, owner, at(f::INDEX)),
        kind::EQUALS | kind::PREFIX | kind::SUFFIX | kind::CONTAINS => {
            if index >= l.strings.count {
                return Err(rej(Rule::StringOutOfRange, at(f::INDEX))
                    .values(l.strings.count.into(), index.into()));
            }
            if flags & layout::CRITERION_FLAG_CASE_INSENSITIVE != 0 {
                // The string pass proves the FOLDED flag true; here we need it set.
                let e = ck(
                    wire::record(l.strings.off, index as usize, layout::STRING_ENTRY_LEN),
                    c,
                )?;
                let sflags = wire::u16_at(b, e, layout::string_entry::FLAGS, "string flags")
                    .map_err(internal)?;
                if sflags & layout::STRING_FLAG_FOLDED == 0 {
                    return Err(rej(Rule::NeedleNotFolded, at(f::FLAGS)).values(1, sflags.into()));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_strings(b: &[u8], s: Span) -> R<()> {
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

/// A DFA's required-literal hint: string in range, not over
/// [`limits::MAX_DFA_LITERAL_LEN`], and marked FOLDED when the DFA flag says so
/// (the string pass, which runs first, proved every string UTF-8 and every
/// FOLDED flag true). Whether the literal really is required is *not*
/// checked here (docs/FORMAT.md, "Required literals").
fn check_dfa_literal(
    b: &[u8],
    strings: Span,
    literal: u32,
    flags: u32,
    at_literal: usize,
    at_flags: usize,
) -> R<()> {
    if literal >= strings.count {
        return Err(
            rej(Rule::StringOutOfRange, at_literal).values(strings.count.into(), literal.into())
        );
    }
    let e = ck(
        wire::record(strings.off, literal as usize, layout::STRING_ENTRY_LEN),
        at_literal,
    )?;
    let len = wire::u16_at(b, e, layout::string_entry::LEN, "string length").map_err(internal)?;
    if u32::from(len) > limits::MAX_DFA_LITERAL_LEN {
        return Err(rej(Rule::StringTooLong, at_literal)
            .values(limits::MAX_DFA_LITERAL_LEN.into(), len.into()));
    }
    if flags & layout::DFA_FLAG_LITERAL_FOLDED != 0 {
        let sflags =
            wire::u16_at(b, e, layout::string_entry::FLAGS, "string flags").map_err(internal)?;
        if sflags & layout::STRING_FLAG_FOLDED == 0 {
            return Err(rej(Rule::NeedleNotFolded, at_flags).values(1, sflags.into()));
        }
    }
    if flags & layout::DFA_FLAG_LITERAL_SET != 0 {
        // The string pass ran first: in range and UTF-8.
        let text = string_at(b, strings, literal).ok_or_else(|| rej(Rule::Internal, at_literal))?;
        check_literal_set(text.as_bytes(), at_literal)?;
    }
    Ok(())
}

/// A literal set's shape (docs/FORMAT.md, "Literal sets"): 2 to
/// [`limits::MAX_LITERAL_SET`] members, none empty. One pass, no allocation.
fn check_literal_set(text: &[u8], at: usize) -> R<()> {
    let mut members = 0u64;
    for m in text.split(|&c| c == layout::LITERAL_SET_SEPARATOR) {
        if m.is_empty() {
            return Err(rej(Rule::LiteralSet, at).values(1, 0));
        }
        members = members.saturating_add(1);
    }
    let max = u64::from(limits::MAX_LITERAL_SET);
    if !(2..=max).contains(&members) {
        return Err(rej(Rule::LiteralSet, at).values(max, members));
    }
    Ok(())
}

/// The regex group an entry opens (docs/FORMAT.md, "Regex groups"): the
/// entries that follow with pattern ids 1, 2, ... share its DFA.
#[derive(Clone, Copy)]
struct Run {
    /// File offset of the entry that opened it (where a bad length is reported).
    entry: usize,
    off: usize,
    len: usize,
    group: u32,
    grouped: bool,
    /// The DFA's pattern count.
    patterns: usize,
    members: usize,
}

impl Run {
    /// A finished run has exactly one entry per pattern of its DFA, and a
    /// group has at least two (a group of one is another encoding of a
    /// single entry).
    fn finish(self) -> R<()> {
        if self.members != self.patterns {
            return Err(
                rej(Rule::RegexGroup, self.entry).values(self.patterns as u64, self.members as u64)
            );
        }
        if self.grouped && self.members < 2 {
            return Err(rej(Rule::RegexGroup, self.entry).values(2, self.members as u64));
        }
        Ok(())
    }
}

/// The number of DFA entries in the run that starts at entry `index`: its
/// regex group's member count, or 1 (runs are already checked).
fn group_run(b: &[u8], l: &Layout, index: u32) -> u32 {
    let mut n = 1u32;
    // Bounded: a group has at most MAX_GROUP_PATTERNS members.
    while n < limits::MAX_GROUP_PATTERNS {
        let Some(g) = index
            .checked_add(n)
            .and_then(|d| dfa_entry(b, l, d))
            .and_then(|e| e.group)
        else {
            break;
        };
        if u32::from(g.pattern) != n {
            break;
        }
        n = n.saturating_add(1);
    }
    n
}

/// A regex criterion (at file offset `at`, of `owner` = (template id, field))
/// may use a grouped DFA entry only if the entry declares that owner: a group
/// is scanned once per event for one field (docs/FORMAT.md, "Regex groups").
/// The entry's own fields are checked later, with the DFAs.
fn check_group_owner(b: &[u8], l: &Layout, index: u32, owner: (u16, usize), at: usize) -> R<()> {
    use layout::dfa_entry as f;
    let e = ck(
        wire::record(l.dfas.off, index as usize, layout::DFA_ENTRY_LEN),
        at,
    )?;
    let flags = wire::u32_at(b, e, f::FLAGS, "dfa flags").map_err(internal)?;
    if flags & layout::DFA_FLAG_GROUPED == 0 {
        return Ok(());
    }
    let group = wire::u32_at(b, e, f::GROUP, "dfa group").map_err(internal)?;
    let [_, field, t0, t1] = group.to_le_bytes();
    let want = (u32::from(owner.0) << 16) | (owner.1 as u32 & 0xff) << 8;
    let found = group & !0xff;
    if u16::from_le_bytes([t0, t1]) != owner.0 || usize::from(field) != owner.1 {
        return Err(rej(Rule::RegexGroup, at).values(want.into(), found.into()));
    }
    Ok(())
}

/// The template position ([`TEMPLATE_TYPES`]) of a group word, if its
/// template is known and its field is a string field of it.
fn group_owner(group: u32) -> Option<usize> {
    let [_, field, t0, t1] = group.to_le_bytes();
    let template = u16::from_le_bytes([t0, t1]);
    let k = TEMPLATE_TYPES.iter().position(|t| t.id == template)?;
    let f = TEMPLATE_TYPES.get(k)?.fields.get(usize::from(field))?;
    (f.ty == FieldType::Str).then_some(k)
}

fn check_dfas(b: &[u8], d: Span, strings: Span) -> R<()> {
    use layout::dfa_entry as f;
    // Relative to the section start: the index, then the blobs.
    let mut running = ck((d.count as usize).checked_mul(layout::DFA_ENTRY_LEN), d.off)?;
    let mut total: usize = 0;
    let mut run: Option<Run> = None;
    let mut groups = [0u32; cost::TEMPLATE_COUNT];
    for i in 0..d.count as usize {
        let e = ck(wire::record(d.off, i, layout::DFA_ENTRY_LEN), d.off)?;
        let at = |r: core::ops::Range<usize>| e.saturating_add(r.start);
        let off = wire::u32_at(b, e, f::OFFSET, "dfa offset").map_err(internal)? as usize;
        let len = wire::u32_at(b, e, f::LEN, "dfa length").map_err(internal)? as usize;
        let pattern = wire::u32_at(b, e, f::PATTERN, "dfa pattern").map_err(internal)?;
        let flags = wire::u32_at(b, e, f::FLAGS, "dfa flags").map_err(internal)?;
        let group = wire::u32_at(b, e, f::GROUP, "dfa group").map_err(internal)?;
        let grouped = flags & layout::DFA_FLAG_GROUPED != 0;
        let pid = group & 0xff;
        if pattern >= strings.count {
            return Err(rej(Rule::StringOutOfRange, at(f::PATTERN))
                .values(strings.count.into(), pattern.into()));
        }
        let literal = wire::u32_at(b, e, f::LITERAL, "dfa literal").map_err(internal)?;
        let mut allowed = layout::DFA_FLAG_CASE_INSENSITIVE | layout::DFA_FLAG_GROUPED;
        if literal != layout::NO_LITERAL {
            allowed |= layout::DFA_FLAG_LITERAL_FOLDED | layout::DFA_FLAG_LITERAL_SET;
        }
        if flags & !allowed != 0 {
            return Err(
                rej(Rule::ReservedNonZero, at(f::FLAGS)).values(allowed.into(), flags.into())
            );
        }
        if literal != layout::NO_LITERAL {
            check_dfa_literal(b, strings, literal, flags, at(f::LITERAL), at(f::FLAGS))?;
        }
        if !grouped && group != 0 {
            return Err(rej(Rule::ReservedNonZero, at(f::GROUP)).values(0, group.into()));
        }
        if pid > 0 {
            // A further member of the open group: the same blob, the same
            // owner, the next pattern id.
            let Some(r) = run.as_mut() else {
                return Err(rej(Rule::RegexGroup, at(f::GROUP)).values(0, pid.into()));
            };
            let want = (r.group & !0xff) | r.members as u32;
            if !r.grouped || !grouped || group != want {
                return Err(rej(Rule::RegexGroup, at(f::GROUP)).values(want.into(), group.into()));
            }
            if off != r.off || len != r.len {
                return Err(rej(Rule::RegexGroup, at(f::OFFSET)).values(r.off as u64, off as u64));
            }
            r.members = r.members.saturating_add(1);
            continue;
        }
        if let Some(r) = run.take() {
            r.finish()?;
        }
        // d.off is a multiple of 8, so this is alignment relative to the file.
        if off % layout::DFA_ALIGN != 0 {
            return Err(rej(Rule::SectionMisaligned, at(f::OFFSET)).values(0, off as u64));
        }
        let expected = ck(wire::align_up(running, layout::DFA_ALIGN), e)?;
        if off != expected {
            return Err(
                rej(Rule::UnaccountedBytes, at(f::OFFSET)).values(expected as u64, off as u64)
            );
        }
        if len > limits::MAX_DFA_LEN as usize {
            return Err(
                rej(Rule::DfaTooLarge, at(f::LEN)).values(limits::MAX_DFA_LEN.into(), len as u64)
            );
        }
        total = total.saturating_add(len);
        if total > limits::MAX_TOTAL_DFA_LEN as usize {
            return Err(rej(Rule::DfaTooLarge, at(f::LEN))
                .values(limits::MAX_TOTAL_DFA_LEN.into(), total as u64));
        }
        let end = ck(off.checked_add(len), e)?;
        if end > d.len {
            return Err(rej(Rule::SectionOutOfRange, at(f::LEN)).values(d.len as u64, end as u64));
        }
        if grouped {
            let Some(k) = group_owner(group) else {
                return Err(rej(Rule::RegexGroup, at(f::GROUP)).values(0, group.into()));
            };
            let n = groups.get_mut(k).ok_or_else(|| rej(Rule::Internal, e))?;
            *n = n.saturating_add(1);
            if *n > limits::MAX_GROUPS_PER_TEMPLATE {
                return Err(rej(Rule::RegexGroup, at(f::GROUP))
                    .values(limits::MAX_GROUPS_PER_TEMPLATE.into(), (*n).into()));
            }
        }
        let pad_at = ck(d.off.checked_add(running), e)?;
        let pad =
            wire::slice(b, pad_at, off.saturating_sub(running), "dfa padding").map_err(internal)?;
        if let Some(p) = wire::first_nonzero(pad, pad_at) {
            return Err(rej(Rule::UnaccountedBytes, p));
        }
        let patterns = check_dfa_blob(b, d, e, off, len)?;
        run = Some(Run {
            entry: e,
            off,
            len,
            group,
            grouped,
            patterns,
            members: 1,
        });
        running = end;
    }
    if let Some(r) = run.take() {
        r.finish()?;
    }
    if running != d.len {
        return Err(rej(Rule::UnaccountedBytes, d.off.saturating_add(running))
            .values(d.len as u64, running as u64));
    }
    Ok(())
}

/// The blob of DFA entry `e` (at `off`, `len` bytes from the section start):
/// loads with the checked deserializer, has unanchored start states, at most
/// [`limits::MAX_GROUP_PATTERNS`] patterns and the builder's prefix. Returns
/// its pattern count. Not inlined: the ~800-byte DFA value lives in this
/// frame only, not in `check_dfas`'s (kernel stack).
#[inline(never)]
fn check_dfa_blob(b: &[u8], d: Span, e: usize, off: usize, len: usize) -> R<usize> {
    let start = ck(d.off.checked_add(off), e)?;
    let blob = wire::slice(b, start, len, "dfa").map_err(internal)?;
    // The checked deserializer (never `from_bytes_unchecked`): it verifies
    // alignment at the actual address, the transition table, start states,
    // match states and accelerators.
    let (dfa, read) = DFA::from_bytes(blob).map_err(|_| rej(Rule::BadDfa, start))?;
    if read != len {
        return Err(rej(Rule::BadDfa, start).values(len as u64, read as u64));
    }
    // The interpreter runs unanchored searches; a DFA without unanchored
    // start states would make them fail.
    if !matches!(dfa.start_kind(), StartKind::Unanchored | StartKind::Both) {
        return Err(rej(Rule::BadDfa, start));
    }
    let patterns = dfa.pattern_len();
    if patterns > limits::MAX_GROUP_PATTERNS as usize {
        return Err(
            rej(Rule::RegexGroup, start).values(limits::MAX_GROUP_PATTERNS.into(), patterns as u64)
        );
    }
    check_dfa_prefix(blob, start)?;
    Ok(patterns)
}

/// The bytes at the start of a serialized DFA that `DFA::from_bytes` reads
/// but does not check, pinned to what the builder writes (docs/FORMAT.md,
/// "What regex-automata checks"). Runs after `from_bytes` accepted `blob`, so
/// the prefix is there; `start` is the blob's file offset.
fn check_dfa_prefix(blob: &[u8], start: usize) -> R<()> {
    use layout::dfa_blob as f;
    // `from_bytes` skips up to 7 leading zero bytes and ignores the label's
    // NUL padding: requiring the exact label bytes at offset 0 pins both.
    let label =
        wire::field(blob, 0, f::LABEL, "dfa label").map_err(|_| rej(Rule::BadDfa, start))?;
    if let Some(p) = label
        .iter()
        .zip(layout::DFA_LABEL.iter())
        .position(|(got, want)| got != want)
    {
        let got = label.get(p).copied().unwrap_or(0);
        let want = layout::DFA_LABEL.get(p).copied().unwrap_or(0);
        return Err(
            rej(Rule::DfaNotCanonical, start.saturating_add(p)).values(want.into(), got.into())
        );
    }
    let at = |r: core::ops::Range<usize>| start.saturating_add(r.start);
    let unused = wire::u32_at(blob, 0, f::UNUSED, "dfa unused word")
        .map_err(|_| rej(Rule::BadDfa, start))?;
    if unused != 0 {
        return Err(rej(Rule::DfaNotCanonical, at(f::UNUSED)).values(0, unused.into()));
    }
    let flags =
        wire::u32_at(blob, 0, f::FLAGS, "dfa flag bits").map_err(|_| rej(Rule::BadDfa, start))?;
    if flags & !layout::DFA_BLOB_KNOWN_FLAGS != 0 {
        return Err(rej(Rule::DfaNotCanonical, at(f::FLAGS))
            .values(layout::DFA_BLOB_KNOWN_FLAGS.into(), flags.into()));
    }
    Ok(())
}
