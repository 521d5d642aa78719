//! [`ValidChannel`]: the typed, never-panicking view of validated bytes.

use crate::content::{Action, Criterion, StrOp};
use crate::layout::{self, kind};
use crate::schema::TemplateType;
use crate::trust::KeyId;
use crate::wire;
use regex_automata::dfa::dense::DFA;

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
    pub(super) bytes: B,
    pub(super) layout: Layout,
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
pub(super) fn string_at(file: &[u8], strings: Span, index: u32) -> Option<&str> {
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
pub(super) fn rows(and_rows: u8, unless_rows: u16) -> usize {
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

pub(super) fn instance_at<'a>(file: &'a [u8], layout: &Layout, index: u32) -> Option<Instance<'a>> {
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
pub(super) struct DfaEntry<'a> {
    pub(super) blob: &'a [u8],
    pub(super) pattern: u32,
    pub(super) flags: u32,
    pub(super) literal: u32,
    pub(super) group: Option<DfaGroup>,
}

/// The index entry of DFA `index`.
pub(super) fn dfa_entry<'a>(file: &'a [u8], layout: &Layout, index: u32) -> Option<DfaEntry<'a>> {
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
