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
use crate::group;
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
    /// AND rows: more criteria rows that must all match too (a field's
    /// further ANDed tests; docs/FORMAT.md, "Rows").
    pub also: Vec<Vec<CriterionSpec>>,
    /// UNLESS rows: the instance does not match when one of these matches in
    /// full (`selection and not filter`).
    pub unless: Vec<Vec<CriterionSpec>>,
    /// Where the instance comes from (docs/FORMAT.md, "METADATA section").
    pub metadata: MetadataSpec,
}

/// The rule an instance came from; every field optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataSpec {
    /// The rule's title.
    pub title: Option<String>,
    /// The rule's id.
    pub rule_id: Option<String>,
    /// The rule's author.
    pub author: Option<String>,
    /// Where the rule comes from (a URL or a path).
    pub reference: Option<String>,
}

impl From<crate::Metadata<'_>> for MetadataSpec {
    fn from(m: crate::Metadata<'_>) -> MetadataSpec {
        let own = |s: Option<&str>| s.map(str::to_string);
        MetadataSpec {
            title: own(m.title),
            rule_id: own(m.rule_id),
            author: own(m.author),
            reference: own(m.reference),
        }
    }
}

impl MetadataSpec {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == MetadataSpec::default()
    }
    fn fields(&self) -> [&Option<String>; 4] {
        [&self.title, &self.rule_id, &self.author, &self.reference]
    }
    /// The fields with their spec keys (`title`, `rule_id`, `author`,
    /// `reference`), in record order; tools print and serialize them so.
    pub fn named(&self) -> [(&'static str, Option<&str>); 4] {
        let keys = ["title", "rule_id", "author", "reference"];
        let mut out = [("", None); 4];
        for ((o, k), v) in out.iter_mut().zip(keys).zip(self.fields()) {
            *o = (k, v.as_deref());
        }
        out
    }
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
    /// The public half, to put in a [`crate::Trust`] (a production key).
    pub fn trusted_key(&self) -> TrustedKey {
        TrustedKey::new(self.public())
    }
    /// The public half trusted as a test-only key (may sign `test-crash`).
    pub fn trusted_test_key(&self) -> TrustedKey {
        TrustedKey::new_test_only(self.public())
    }
    /// Sign `msg` (deterministic, RFC 8032): the release records' writer
    /// (`changuard-release`) signs its envelopes with this.
    pub fn sign_message(&self, msg: &[u8]) -> [u8; 64] {
        self.sign_bytes(msg)
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

/// The one syntax configuration changuard compiles (and analyses) regexes with.
pub(crate) fn syntax_config(ci: bool) -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new()
        .unicode(true)
        .utf8(true)
        .case_insensitive(ci)
}

/// Compile `pattern` the one way changuard compiles regexes; the serialized
/// little-endian DFA without leading padding.
pub(crate) fn compile_regex(pattern: &str, ci: bool) -> Result<Vec<u8>, (bool, String)> {
    let limit = limits::MAX_DFA_LEN as usize;
    let dfa = dense_dfa(pattern, ci)?;
    let (bytes, pad) = dfa.to_bytes_little_endian();
    let blob = bytes.get(pad..).unwrap_or(&[]).to_vec();
    if blob.len() > limit {
        return Err((true, String::from("serialized DFA too large")));
    }
    Ok(blob)
}

/// The dense DFA [`compile_regex`] serializes.
fn dense_dfa(
    pattern: &str,
    ci: bool,
) -> Result<regex_automata::dfa::dense::DFA<Vec<u32>>, (bool, String)> {
    use regex_automata::dfa::{StartKind, dense};
    use regex_automata::nfa::thompson;
    let limit = limits::MAX_DFA_LEN as usize;
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Unanchored)
                .dfa_size_limit(Some(limit))
                .determinize_size_limit(Some(limit)),
        )
        .syntax(syntax_config(ci))
        .thompson(thompson::Config::new().nfa_size_limit(Some(limit)))
        .build(pattern)
        .map_err(|e| (is_size_limit(&e), error_chain(&e)))
}

/// The DFA's size limit, or the NFA's on the way there (regex-automata
/// reports the latter as a bare "error building NFA").
fn is_size_limit(e: &regex_automata::dfa::dense::BuildError) -> bool {
    use regex_automata::nfa::thompson;
    use std::error::Error as _;
    e.is_size_limit_exceeded()
        || e.source()
            .and_then(|s| s.downcast_ref::<thompson::BuildError>())
            .is_some_and(|n| n.size_limit().is_some())
}

/// An error with its causes: "error building NFA: ..." says why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// A regex's required literal, as [`build`] lays it out in the DFA entry
/// (docs/FORMAT.md, "Required literals").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiteralHint {
    /// The literal; ASCII-lower-cased when `folded`. A set's members,
    /// separated by NUL.
    pub text: String,
    /// To be found ASCII case-insensitively.
    pub folded: bool,
    /// A literal set (docs/FORMAT.md, "Literal sets"): every match contains
    /// at least one member.
    pub set: bool,
}

/// Shortest literal [`required_literal`] returns.
pub const MIN_LITERAL_LEN: usize = 3;

/// One byte of a literal run: exact, or an ASCII letter in either case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Atom {
    Exact(u8),
    Fold(u8),
}

#[derive(Default)]
struct Runs {
    cur: Vec<Atom>,
    done: Vec<Vec<Atom>>,
}

impl Runs {
    fn cut(&mut self) {
        if !self.cur.is_empty() {
            self.done.push(std::mem::take(&mut self.cur));
        }
    }
}

/// The bytes a class stands for when it is one literal character: one code
/// point (exact), or exactly the two cases of one ASCII letter (folded).
/// Anything else, e.g. `(?i)k` = `[Kk\u{212A}]` (KELVIN SIGN) or `(?i)s` =
/// `[Ssſ]`, is not a literal: an ASCII-case-insensitive search for `k` or
/// `s` would miss the non-ASCII variants the DFA matches.
fn class_atoms(c: &regex_syntax::hir::Class) -> Option<Vec<Atom>> {
    use regex_syntax::hir::Class;
    let pair = |lo: u32, hi: u32| -> Option<Vec<Atom>> {
        let (lo, hi) = (u8::try_from(lo).ok()?, u8::try_from(hi).ok()?);
        (lo.is_ascii_uppercase() && hi == lo.to_ascii_lowercase())
            .then(|| std::vec![Atom::Fold(hi)])
    };
    match c {
        Class::Unicode(u) => {
            let r = u.ranges();
            match r {
                [one] if one.start() == one.end() => {
                    let mut buf = [0u8; 4];
                    Some(
                        one.start()
                            .encode_utf8(&mut buf)
                            .bytes()
                            .map(Atom::Exact)
                            .collect(),
                    )
                }
                [a, b] if a.start() == a.end() && b.start() == b.end() => {
                    pair(u32::from(a.start()), u32::from(b.start()))
                }
                _ => None,
            }
        }
        Class::Bytes(bc) => match bc.ranges() {
            [one] if one.start() == one.end() => Some(std::vec![Atom::Exact(one.start())]),
            [a, b] if a.start() == a.end() && b.start() == b.end() => {
                pair(a.start().into(), b.start().into())
            }
            _ => None,
        },
    }
}

/// Collect the literal runs of `h` that every match of `h` contains. A run
/// grows through literals, single-character classes, captures, exactly-once
/// repetitions and zero-width assertions (they consume nothing), and is cut
/// by anything else. Inside a repetition with `min >= 1` the sub-expression's
/// own runs are required too; of an alternation, the atoms all its branches
/// begin with (continuing the run) and end with (starting the next); nothing
/// inside an optional repetition. Recursion depth is bounded by
/// regex-syntax's nest limit (writer only, never in the kernel).
fn literal_runs(h: &regex_syntax::hir::Hir, r: &mut Runs) {
    use regex_syntax::hir::HirKind;
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(lit) => r.cur.extend(lit.0.iter().map(|&b| Atom::Exact(b))),
        HirKind::Class(c) => match class_atoms(c) {
            Some(atoms) => r.cur.extend(atoms),
            None => r.cut(),
        },
        HirKind::Capture(cap) => literal_runs(&cap.sub, r),
        HirKind::Concat(items) => {
            for it in items {
                literal_runs(it, r);
            }
        }
        HirKind::Repetition(rep) if rep.min == 1 && rep.max == Some(1) => {
            literal_runs(&rep.sub, r);
        }
        HirKind::Repetition(rep) => {
            r.cut();
            if rep.min >= 1 {
                let mut inner = Runs::default();
                literal_runs(&rep.sub, &mut inner);
                inner.cut();
                r.done.extend(inner.done);
            }
        }
        HirKind::Alternation(branches) => {
            // Every match of the alternation starts with the branches'
            // common leading atoms and ends with their common trailing ones:
            // the first continue the current run, the second start the next
            // (`x(abc|abd)y` requires `xab`, `(zbcd|ybcd)ef` `bcdef`).
            r.cur
                .extend(common(branches.iter().map(|b| edge_atoms(b, End::Lead))));
            r.cut();
            let mut tail = common(branches.iter().map(|b| {
                let mut t = edge_atoms(b, End::Trail);
                t.reverse();
                t
            }));
            tail.reverse();
            r.cur.extend(tail);
        }
    }
}

/// Which end of a sub-expression [`edge_atoms`] reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Lead,
    Trail,
}

/// The atoms every match of `h` begins with (`Lead`) or ends with (`Trail`,
/// in reading order), by the same rules as [`literal_runs`]; the `bool` is
/// whether all of `h` is such atoms (so a concatenation's neighbour continues
/// the edge).
fn edge_atoms_full(h: &regex_syntax::hir::Hir, end: End) -> (Vec<Atom>, bool) {
    use regex_syntax::hir::HirKind;
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => (Vec::new(), true),
        HirKind::Literal(lit) => (lit.0.iter().map(|&b| Atom::Exact(b)).collect(), true),
        HirKind::Class(c) => class_atoms(c).map_or((Vec::new(), false), |a| (a, true)),
        HirKind::Capture(cap) => edge_atoms_full(&cap.sub, end),
        HirKind::Repetition(rep) if rep.min == 1 && rep.max == Some(1) => {
            edge_atoms_full(&rep.sub, end)
        }
        HirKind::Repetition(rep) if rep.min >= 1 => (edge_atoms_full(&rep.sub, end).0, false),
        HirKind::Repetition(_) => (Vec::new(), false),
        HirKind::Concat(items) => {
            let mut out = Vec::new();
            let mut step = |it: &regex_syntax::hir::Hir| {
                let (atoms, whole) = edge_atoms_full(it, end);
                match end {
                    End::Lead => out.extend(atoms),
                    End::Trail => out.splice(0..0, atoms).for_each(drop),
                }
                whole
            };
            let whole = match end {
                End::Lead => items.iter().all(&mut step),
                End::Trail => items.iter().rev().all(&mut step),
            };
            (out, whole)
        }
        HirKind::Alternation(branches) => {
            let edges = branches.iter().map(|b| {
                let mut t = edge_atoms(b, end);
                if end == End::Trail {
                    t.reverse();
                }
                t
            });
            let mut c = common(edges);
            if end == End::Trail {
                c.reverse();
            }
            (c, false)
        }
    }
}

fn edge_atoms(h: &regex_syntax::hir::Hir, end: End) -> Vec<Atom> {
    edge_atoms_full(h, end).0
}

/// The longest common prefix of `seqs` (empty when there are none).
fn common(mut seqs: impl Iterator<Item = Vec<Atom>>) -> Vec<Atom> {
    let Some(mut acc) = seqs.next() else {
        return Vec::new();
    };
    for s in seqs {
        let n = acc.iter().zip(&s).take_while(|(a, b)| a == b).count();
        acc.truncate(n);
    }
    acc
}

/// Distinct bytes: a crude "rarer-looking" tie-break (`----` is commoner
/// than `-urlcache`).
fn distinct_bytes(s: &[u8]) -> usize {
    let mut seen = [0u64; 4];
    s.iter()
        .filter(|&&b| {
            let bit = 1u64 << (b & 63);
            seen.get_mut(usize::from(b >> 6))
                .is_some_and(|w| !std::mem::replace(w, *w | bit) & bit != 0)
        })
        .count()
}

/// The required literal of `pattern` (compiled with `case_insensitive` the way
/// [`build`] compiles it): the longest literal that every match contains,
/// taken from a run of the pattern's top-level concatenation (see
/// [`literal_runs`]); ties go to the one with more distinct bytes, then the
/// first. A run with an ASCII-case-insensitive letter is folded (all of it
/// ASCII-lower-cased; finding it case-insensitively is weaker, hence still
/// sound). Truncated to [`limits::MAX_DFA_LITERAL_LEN`] bytes at a character
/// boundary (a prefix of a required literal is required). A literal set
/// ([`literal_set`]) is taken instead when there is no such literal of at
/// least [`SET_MEMBER_MIN`] bytes, or when it is whole and longer
/// ([`literal_candidates`]). `None` when the pattern does not parse or
/// has neither.
///
/// Soundness (every haystack the DFA matches contains the literal) is what the
/// engine relies on; `tests::required_literal_is_sound` checks it against the
/// compiled DFA on random patterns and haystacks.
pub fn required_literal(pattern: &str, case_insensitive: bool) -> Option<LiteralHint> {
    let hir = parse(pattern, case_insensitive)?;
    let (single, set) =
        literal_candidates(&hir, case_insensitive, limits::MAX_LITERAL_SET as usize);
    set.or(single)
}

/// `pattern` parsed as [`build`] compiles it.
fn parse(pattern: &str, case_insensitive: bool) -> Option<regex_syntax::hir::Hir> {
    regex_automata::util::syntax::parse_with(pattern, &syntax_config(case_insensitive)).ok()
}

/// `f` on the DFA serialized in `blob` (as [`compile_regex`] and the group
/// planner write it), or `None` when it does not deserialize.
pub(crate) fn with_dfa<R>(
    blob: &[u8],
    f: impl FnOnce(&regex_automata::dfa::dense::DFA<&[u32]>) -> R,
) -> Option<R> {
    let aligned = crate::AlignedBytes::from_slice(blob);
    let (dfa, _) = regex_automata::dfa::dense::DFA::from_bytes(aligned.as_slice()).ok()?;
    Some(f(&dfa))
}

/// The hint [`build`] writes for a regex whose own serialized DFA (as
/// [`compile_regex`] makes it) `dfa` returns: [`required_literal`], unless
/// the interpreter's proof of its set over that DFA is over the proof's
/// per-DFA cap ([`crate::analysis::literal_proof_fits`]): then the same
/// choice with at most 16, then 8 members (fewer, shorter members cost less
/// to prove), and failing that the single literal, if there is one. More
/// members cost more to prove, and an unproven hint leaves the regex scanned
/// on every event: far worse than a smaller set or a shorter literal. `dfa`
/// is called only when there is a set; a DFA that is missing or does not
/// deserialize keeps [`required_literal`]'s choice.
pub fn literal_hint(
    pattern: &str,
    case_insensitive: bool,
    dfa: impl FnOnce() -> Option<Vec<u8>>,
) -> Option<LiteralHint> {
    let hir = parse(pattern, case_insensitive)?;
    let max = limits::MAX_LITERAL_SET as usize;
    let (single, set) = literal_candidates(&hir, case_insensitive, max);
    let Some(set) = set else {
        return single;
    };
    let Some(blob) = dfa() else {
        return Some(set);
    };
    // A replacement for `set` when its proof is over the cap.
    let replacement = with_dfa(&blob, |dfa| {
        let fits = |h: &LiteralHint| {
            let members: Vec<&[u8]> = h.text.split('\0').map(str::as_bytes).collect();
            crate::analysis::literal_proof_fits(dfa, &members, h.folded)
        };
        if fits(&set) {
            return None;
        }
        [16, 8]
            .into_iter()
            .find_map(|fewer| {
                literal_candidates(&hir, case_insensitive, fewer)
                    .1
                    .filter(|h| fits(h))
            })
            .or(single)
    });
    Some(replacement.flatten().unwrap_or(set))
}

/// How much longer than the single literal a whole literal set's every
/// member must be to be taken instead of it: a longer needle occurs in fewer
/// fields. On the command-line benchmark, `\temp\host27.exe`, ... (12
/// members) over `\appdata\` took a family off every Office and VS Code
/// command line (4.8 scans per event to 0.02).
pub const SET_OVER_LITERAL: usize = 4;

/// [`required_literal`]'s choice before any proof cost: `(single, set)`,
/// at most one of them `Some`, unless both are and the set is preferred
/// (the single literal is then the fallback [`literal_hint`] needs). The
/// single literal when it is at least [`SET_MEMBER_MIN`] bytes, unless the
/// set is whole (every member a complete match of its part, none shortened)
/// and every member is [`SET_OVER_LITERAL`] bytes longer; otherwise the set
/// if there is one. Only whole sets: a shortened set says little more than
/// its single literal (`https?://[0-9]...` gives `https://`, as common as
/// `http`), and the prefixes of a family's sets split the family's group
/// on its shared literal into many single regexes (the pipe families went
/// from 4.1 to 64 scans per event when any longer set was taken).
/// Sets have at most `max_members` members.
fn literal_candidates(
    hir: &regex_syntax::hir::Hir,
    case_insensitive: bool,
    max_members: usize,
) -> (Option<LiteralHint>, Option<LiteralHint>) {
    let single = single_literal(hir);
    match single.as_ref().map(|h| h.text.len()) {
        Some(n) if n >= SET_MEMBER_MIN => match literal_set(hir, case_insensitive, max_members) {
            Some((set, whole)) => {
                let shortest = set.text.split('\0').map(str::len).min().unwrap_or(0);
                if whole && shortest >= n.saturating_add(SET_OVER_LITERAL) {
                    (single, Some(set))
                } else {
                    (single, None)
                }
            }
            None => (single, None),
        },
        _ => match literal_set(hir, case_insensitive, max_members.min(SET_ALONE_MAX)) {
            Some((set, _)) => (None, Some(set)),
            None => (single, None),
        },
    }
}

/// Most members of a set taken where there is no single literal of
/// [`SET_MEMBER_MIN`] bytes (a set replacing a single literal may have up to
/// [`limits::MAX_LITERAL_SET`]): each member adds to the interpreter's
/// load-time proof, and on the SigmaHQ import (345 such sets) 32 members ran
/// its per-build analysis budget out (3 DFAs left without a prefilter).
pub const SET_ALONE_MAX: usize = 16;

/// [`required_literal`]'s single literal.
fn single_literal(hir: &regex_syntax::hir::Hir) -> Option<LiteralHint> {
    let mut runs = Runs::default();
    literal_runs(hir, &mut runs);
    runs.cut();
    let mut best: Option<LiteralHint> = None;
    for run in runs.done {
        let folded = run.iter().any(|a| matches!(a, Atom::Fold(_)));
        let bytes: Vec<u8> = run
            .iter()
            .map(|a| match *a {
                Atom::Fold(b) => b,
                Atom::Exact(b) if folded => b.to_ascii_lowercase(),
                Atom::Exact(b) => b,
            })
            .collect();
        let Ok(mut text) = String::from_utf8(bytes) else {
            continue;
        };
        let cap = limits::MAX_DFA_LITERAL_LEN as usize;
        if text.len() > cap {
            let end = (0..=cap)
                .rev()
                .find(|&e| text.is_char_boundary(e))
                .unwrap_or(0);
            text.truncate(end);
        }
        if text.len() < MIN_LITERAL_LEN {
            continue;
        }
        let better = best.as_ref().is_none_or(|b| {
            (text.len(), distinct_bytes(text.as_bytes()))
                > (b.text.len(), distinct_bytes(b.text.as_bytes()))
        });
        if better {
            best = Some(LiteralHint {
                text,
                folded,
                set: false,
            });
        }
    }
    best
}

/// Most tails and runs of a pattern's concatenations [`literal_set`] tries
/// (writer time: one prefix extraction each).
const MAX_SET_PARTS: usize = 512;
/// Runs [`literal_set`] tries from each item: ending before each of the
/// next this many items that are not literals (`s?` in `https?://[0-9]`).
const RUN_BOUNDARIES: usize = 3;

/// Shortest member of a literal set, and the length a single literal must
/// reach before no set is tried: the interpreter anchors on 4-byte grams.
pub const SET_MEMBER_MIN: usize = 4;

/// The sub-expressions every match of `h` contains a match of: `h`, and
/// recursively the items of its concatenations (through captures and
/// repetitions with `min >= 1`). Depth is bounded by regex-syntax's nest
/// limit (writer only).
fn mandatory_parts<'h>(h: &'h regex_syntax::hir::Hir, out: &mut Vec<&'h regex_syntax::hir::Hir>) {
    use regex_syntax::hir::HirKind;
    out.push(h);
    match h.kind() {
        HirKind::Capture(cap) => mandatory_parts(&cap.sub, out),
        HirKind::Repetition(rep) if rep.min >= 1 => mandatory_parts(&rep.sub, out),
        HirKind::Concat(items) => {
            for it in items {
                mandatory_parts(it, out);
            }
        }
        _ => {}
    }
}

/// A literal set for a pattern (docs/FORMAT.md, "Literal sets"): of the
/// pattern's mandatory parts ([`mandatory_parts`], every tail of a
/// mandatory concatenation, and its runs of items ending where a literal
/// stops), the one whose finite set of match prefixes (regex-syntax's prefix
/// extractor: every match of the part begins with one of them) gives the
/// best set: every member at least [`SET_MEMBER_MIN`] bytes (longest
/// shortest member wins, then a whole set, then fewer members), 2 to `max`
/// (at most [`limits::MAX_LITERAL_SET`]) members after shortening them to a
/// common length when there are more, no NUL, NUL-joined within
/// [`limits::MAX_DFA_LITERAL_LEN`]. Case-insensitive patterns get their
/// members ASCII-lower-cased and are found folded (weaker, hence sound).
/// A member containing another is dropped (the other is found wherever it
/// is). The `bool` says whether the set is whole: every member a complete
/// match of its part (the extraction was exact), none shortened.
fn literal_set(
    hir: &regex_syntax::hir::Hir,
    case_insensitive: bool,
    max: usize,
) -> Option<(LiteralHint, bool)> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let mut parts = Vec::new();
    mandatory_parts(hir, &mut parts);
    // Every suffix of a mandatory concatenation is mandatory too: the run
    // `\\temp\\stage5` after `(local|roaming)` is no item of its own, and
    // `(?i)s` splits it into items.
    // So is every run of consecutive items; those ending where a literal
    // stops (before a class of several characters, a repetition, ...) give
    // whole sets where the tail's members are too many and get shortened:
    // `https?://[0-9]` in `https?://[0-9]{1,3}...` (30 members with LONG S
    // spellings) where the tail gives `https://`, no longer than `http`.
    let literal_like = |h: &regex_syntax::hir::Hir| match h.kind() {
        regex_syntax::hir::HirKind::Literal(_) | regex_syntax::hir::HirKind::Look(_) => true,
        regex_syntax::hir::HirKind::Class(c) => class_atoms(c).is_some(),
        _ => false,
    };
    let mut tails = Vec::new();
    for p in &parts {
        if let regex_syntax::hir::HirKind::Concat(items) = p.kind() {
            for i in 0..items.len() {
                if i > 0 && i.saturating_add(1) < items.len() {
                    if let Some(rest) = items.get(i..) {
                        tails.push(regex_syntax::hir::Hir::concat(rest.to_vec()));
                    }
                }
                // Up to RUN_BOUNDARIES non-literal items into the run.
                let mut boundaries = 0;
                for j in i.saturating_add(2)..items.len() {
                    if tails.len() >= MAX_SET_PARTS || boundaries >= RUN_BOUNDARIES {
                        break;
                    }
                    let Some(next) = items.get(j).filter(|h| !literal_like(h)) else {
                        continue;
                    };
                    boundaries = boundaries.saturating_add(1);
                    let Some(run) = items.get(i..j) else {
                        continue;
                    };
                    tails.push(regex_syntax::hir::Hir::concat(run.to_vec()));
                    // Into a repetition's first iteration: `[0-9]{1,3}`
                    // begins with `[0-9]`.
                    if let regex_syntax::hir::HirKind::Repetition(rep) = next.kind() {
                        if rep.min >= 1 {
                            let mut run = run.to_vec();
                            run.push((*rep.sub).clone());
                            tails.push(regex_syntax::hir::Hir::concat(run));
                        }
                    }
                }
            }
        }
    }
    let mut ex = Extractor::new();
    // Room for the case variants of two 8-letter words: folding merges them.
    ex.kind(ExtractKind::Prefix).limit_total(1024);
    let max = max.min(limits::MAX_LITERAL_SET as usize);
    // (longest shortest member, whole, fewest members), members, folded, whole
    type Scored = (
        (usize, bool, std::cmp::Reverse<usize>),
        Vec<Vec<u8>>,
        bool,
        bool,
    );
    let mut best: Option<Scored> = None;
    for part in parts.into_iter().chain(tails.iter()) {
        // `[Cc][Mm][Dd]` would give 8 case variants per member: extract from
        // the part with such classes lower-cased, and find the members
        // folded (every match of the part, ASCII-lower-cased there, is a
        // match of that one).
        let (part, pairs) = fold_case_pairs(part);
        let folded = case_insensitive || pairs;
        let seq = ex.extract(&part);
        let Some(longest) = seq.max_literal_len() else {
            continue; // infinite: some match begins with anything
        };
        // Too many members: shorten them all (a prefix of a prefix is one),
        // counting after folding.
        let Some((len, members)) = (SET_MEMBER_MIN..=longest)
            .rev()
            .filter_map(|len| {
                let mut short = seq.clone();
                short.keep_first_bytes(len);
                Some((len, set_members(&short, folded)?))
            })
            .find(|(_, m)| m.len() <= max)
        else {
            continue;
        };
        // Every member a whole match of the part, none shortened.
        let whole = seq.is_exact() && len == longest;
        let joined = members
            .iter()
            .map(Vec::len)
            .fold(members.len().saturating_sub(1), usize::saturating_add);
        if members.len() < 2 || joined > limits::MAX_DFA_LITERAL_LEN as usize {
            continue;
        }
        let shortest = members.iter().map(Vec::len).min().unwrap_or(0);
        let key = (shortest, whole, std::cmp::Reverse(members.len()));
        if best.as_ref().is_none_or(|(k, _, _, _)| key > *k) {
            best = Some((key, members, folded, whole));
        }
    }
    let (_, members, folded, whole) = best?;
    let text = String::from_utf8(members.join(&layout::LITERAL_SET_SEPARATOR)).ok()?;
    let folded = folded && text.bytes().any(|b| b.is_ascii_alphabetic());
    Some((
        LiteralHint {
            text,
            folded,
            set: true,
        },
        whole,
    ))
}

/// `h` with every class of exactly the two cases of one ASCII letter
/// (`[Cc]`) replaced by the lower-case letter, and whether there was one.
/// Depth is bounded by regex-syntax's nest limit (writer only).
fn fold_case_pairs(h: &regex_syntax::hir::Hir) -> (regex_syntax::hir::Hir, bool) {
    use regex_syntax::hir::{Capture, Hir, HirKind, Repetition};
    let all = |hs: &[Hir]| -> (Vec<Hir>, bool) {
        let mut any = false;
        let v = hs
            .iter()
            .map(|x| {
                let (y, f) = fold_case_pairs(x);
                any |= f;
                y
            })
            .collect();
        (v, any)
    };
    match h.kind() {
        HirKind::Class(c) => match class_atoms(c).as_deref() {
            Some(&[Atom::Fold(b)]) => (Hir::literal([b]), true),
            _ => (h.clone(), false),
        },
        HirKind::Concat(items) => {
            let (v, f) = all(items);
            (Hir::concat(v), f)
        }
        HirKind::Alternation(branches) => {
            let (v, f) = all(branches);
            (Hir::alternation(v), f)
        }
        HirKind::Repetition(rep) => {
            let (sub, f) = fold_case_pairs(&rep.sub);
            let rep = Repetition {
                sub: std::boxed::Box::new(sub),
                ..rep.clone()
            };
            (Hir::repetition(rep), f)
        }
        HirKind::Capture(cap) => {
            let (sub, f) = fold_case_pairs(&cap.sub);
            let cap = Capture {
                sub: std::boxed::Box::new(sub),
                ..cap.clone()
            };
            (Hir::capture(cap), f)
        }
        HirKind::Empty | HirKind::Literal(_) | HirKind::Look(_) => (h.clone(), false),
    }
}

/// The members a finite prefix sequence gives: folded when
/// `case_insensitive`, cut to whole characters, sorted, without duplicates
/// or members containing another; `None` when one is shorter than
/// [`SET_MEMBER_MIN`] or holds the separator.
fn set_members(
    seq: &regex_syntax::hir::literal::Seq,
    case_insensitive: bool,
) -> Option<Vec<Vec<u8>>> {
    let mut members: Vec<Vec<u8>> = Vec::new();
    for l in seq.literals()? {
        let mut m = l.as_bytes().to_vec();
        if case_insensitive {
            m.make_ascii_lowercase();
        }
        // Whole characters only (the string is UTF-8).
        while std::str::from_utf8(&m).is_err() {
            m.pop();
        }
        if m.len() < SET_MEMBER_MIN || m.contains(&layout::LITERAL_SET_SEPARATOR) {
            return None;
        }
        members.push(m);
    }
    members.sort();
    members.dedup();
    let all = members.clone();
    members.retain(|m| {
        !all.iter()
            .any(|o| o != m && m.windows(o.len()).any(|w| w == o.as_slice()))
    });
    Some(members)
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
    build_with(spec, key, &BuildOptions::default())
}

/// How [`build_with`] lays content out; the default is [`build`]'s layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Put consecutive regexes of one template field into shared
    /// multi-pattern DFAs (docs/FORMAT.md, "Regex groups"): the interpreter
    /// then scans each group once per event instead of each regex. Same
    /// verdicts; the layout of [`crate::group`]'s plan.
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
    let mut strings = Strings::default();
    // (blob, pattern string index, case-insensitive, literal string index +
    // folded + set)
    type DfaOut = (Vec<u8>, u32, bool, Option<(u32, bool, bool)>);
    let mut dfas: Vec<DfaOut> = Vec::new();
    let mut dfa_index: HashMap<(String, bool), u32> = HashMap::new();
    // Per DFA: its group word (regex groups only).
    let mut words: Vec<Option<u32>> = Vec::new();
    let regexes = group::compile_regexes(spec)?;
    let (planned, group_of) = if options.group_regexes {
        regexes.plan()
    } else {
        (Vec::new(), HashMap::new())
    };
    let mut planned: Vec<Option<group::Planned>> = planned.into_iter().map(Some).collect();
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
        let and_rows =
            u8::try_from(inst.also.len()).map_err(|_| BuildError::TooLarge { what: "and rows" })?;
        let unless_rows = u16::try_from(inst.unless.len()).map_err(|_| BuildError::TooLarge {
            what: "unless rows",
        })?;
        field_put(&mut rec, 0, layout::instance::AND_ROWS, &[and_rows])?;
        field_put(
            &mut rec,
            0,
            layout::instance::UNLESS_ROWS,
            &unless_rows.to_le_bytes(),
        )?;
        instances.extend_from_slice(&rec);

        let rows = core::iter::once(&inst.criteria)
            .chain(&inst.also)
            .chain(&inst.unless);
        for (fi, c) in rows.flat_map(|row| row.iter().enumerate()) {
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
                    if !dfa_index.contains_key(&key) {
                        // First use: the regex's DFA, or its whole group's
                        // entries (members in pattern order), pattern string
                        // then literal string for each.
                        // (regex, group word and blob when grouped)
                        type Emit = (usize, Option<(u32, Vec<u8>)>);
                        let members: Vec<Emit> = match group_of
                            .get(&key)
                            .and_then(|&g| planned.get_mut(g)?.take())
                        {
                            Some(g) => {
                                let [t0, t1] = g.template.to_le_bytes();
                                let mut blob = Some(g.blob);
                                let mut out = Vec::new();
                                for (pid, &m) in g.members.iter().enumerate() {
                                    let pid = u8::try_from(pid)
                                        .map_err(|_| BuildError::TooLarge { what: "group" })?;
                                    let word = u32::from_le_bytes([pid, g.field, t0, t1]);
                                    out.push((m, Some((word, blob.take().unwrap_or_default()))));
                                }
                                out
                            }
                            None => std::vec![(regexes.position(&key), None)],
                        };
                        for (m, grouped) in members {
                            let r = regexes
                                .get(m)
                                .ok_or(BuildError::TooLarge { what: "regex" })?;
                            let p = strings.intern(&r.pattern)?;
                            let lit = match &r.literal {
                                Some(h) => Some((strings.intern(&h.text)?, h.folded, h.set)),
                                None => None,
                            };
                            let i = to_u32(dfas.len(), "dfa count")?;
                            let (blob, word) = match grouped {
                                Some((w, b)) => (b, Some(w)),
                                None => (r.blob.clone(), None),
                            };
                            dfas.push((blob, p, r.case_insensitive, lit));
                            words.push(word);
                            dfa_index.insert((r.pattern.clone(), r.case_insensitive), i);
                        }
                    }
                    let idx = dfa_index
                        .get(&key)
                        .copied()
                        .ok_or(BuildError::TooLarge { what: "regex" })?;
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

    // METADATA, only when some instance has any: its strings are numbered
    // after every criterion's (the validator's first-use walk does the same).
    let mut metadata: Vec<u8> = Vec::new();
    if spec.instances.iter().any(|i| !i.metadata.is_empty()) {
        for inst in &spec.instances {
            let mut rec = [0u8; layout::METADATA_LEN];
            for (r, value) in layout::metadata::ALL
                .into_iter()
                .zip(inst.metadata.fields())
            {
                let index = match value {
                    Some(v) if v.len() > usize::from(u16::MAX) => {
                        return Err(BuildError::TooLarge {
                            what: "metadata string",
                        });
                    }
                    Some(v) => strings.intern(v)?,
                    None => layout::NO_STRING,
                };
                field_put(&mut rec, 0, r, &index.to_le_bytes())?;
            }
            metadata.extend_from_slice(&rec);
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
    let mut placed: Vec<(usize, usize)> = Vec::new();
    for ((b, _, _, _), w) in dfas.iter().zip(&words) {
        if w.is_some_and(|w| w & 0xff != 0) {
            // A further group member: its group's blob.
            let shared = placed.last().copied().unwrap_or((cursor, 0));
            placed.push(shared);
            continue;
        }
        cursor = cursor
            .checked_add(layout::DFA_ALIGN - 1)
            .ok_or(BuildError::TooLarge { what: "dfa offset" })?
            & !(layout::DFA_ALIGN - 1);
        placed.push((cursor, b.len()));
        cursor = cursor
            .checked_add(b.len())
            .ok_or(BuildError::TooLarge { what: "dfa offset" })?;
    }
    for (((_, p, ci, lit), (off, len)), w) in dfas.iter().zip(&placed).zip(&words) {
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
            &to_u32(*len, "dfa length")?.to_le_bytes(),
        )?;
        field_put(&mut e, 0, layout::dfa_entry::PATTERN, &p.to_le_bytes())?;
        let mut flags: u32 = if *ci {
            layout::DFA_FLAG_CASE_INSENSITIVE
        } else {
            0
        };
        if let Some(w) = w {
            flags |= layout::DFA_FLAG_GROUPED;
            field_put(&mut e, 0, layout::dfa_entry::GROUP, &w.to_le_bytes())?;
        }
        let literal = match lit {
            Some((s, folded, set)) => {
                if *folded {
                    flags |= layout::DFA_FLAG_LITERAL_FOLDED;
                }
                if *set {
                    flags |= layout::DFA_FLAG_LITERAL_SET;
                }
                *s
            }
            None => layout::NO_LITERAL,
        };
        field_put(&mut e, 0, layout::dfa_entry::FLAGS, &flags.to_le_bytes())?;
        field_put(
            &mut e,
            0,
            layout::dfa_entry::LITERAL,
            &literal.to_le_bytes(),
        )?;
        dfa_sec.extend_from_slice(&e);
    }
    for (((b, _, _, _), (off, _)), w) in dfas.iter().zip(&placed).zip(&words) {
        if !w.is_some_and(|w| w & 0xff != 0) {
            dfa_sec.resize(*off, 0);
            dfa_sec.extend_from_slice(b);
        }
    }

    // Assemble: header, table, sections (8-aligned, zero padding), trailer.
    let mut sections: Vec<(SectionKind, &[u8], usize)> = std::vec![
        (SectionKind::Instances, &instances, spec.instances.len()),
        (SectionKind::Criteria, &criteria, n_criteria),
        (SectionKind::Strings, &strings_sec, strings.list.len()),
        (SectionKind::Dfas, &dfa_sec, dfas.len()),
    ];
    if !metadata.is_empty() {
        sections.push((SectionKind::Metadata, &metadata, spec.instances.len()));
    }
    // At most 5 entries: no overflow.
    let table_end = layout::SECTION_ENTRY_LEN
        .saturating_mul(sections.len())
        .saturating_add(layout::HEADER_LEN);
    let section_count = to_u32(sections.len(), "section count")?;
    let mut out = std::vec![0u8; table_end];
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
        field_put(&mut out, 0, h::SECTION_COUNT, &section_count.to_le_bytes())?;
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
        let mut rows: Vec<Vec<CriterionSpec>> = Vec::with_capacity(inst.row_count());
        for r in 0..inst.row_count() {
            let mut criteria = Vec::with_capacity(inst.criteria_len());
            for k in 0..inst.criteria_len() {
                let c = inst.row_criterion(r, k).ok_or_else(|| internal(i))?;
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
                        case_insensitive: chan
                            .dfa_case_insensitive(dfa)
                            .ok_or_else(|| internal(i))?,
                    },
                });
            }
            rows.push(criteria);
        }
        let mut rows = rows.into_iter();
        let criteria = rows.next().ok_or_else(|| internal(i))?;
        let also: Vec<_> = rows.by_ref().take(usize::from(inst.and_rows)).collect();
        let unless: Vec<_> = rows.collect();
        instances.push(InstanceSpec {
            id: inst.id,
            template: inst.template.id,
            action: inst.action,
            criteria,
            also,
            unless,
            metadata: inst.metadata().into(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::Input;
    use regex_automata::dfa::Automaton;
    use std::{eprintln, format};

    /// The single literal (the runs [`literal_runs`] finds), whether or not
    /// [`required_literal`] prefers a set to it.
    fn lit(p: &str, ci: bool) -> Option<(String, bool)> {
        single_literal(&parse(p, ci)?).map(|h| (h.text, h.folded))
    }
    fn some(t: &str, folded: bool) -> Option<(String, bool)> {
        Some((t.to_string(), folded))
    }

    fn set(p: &str, ci: bool) -> Option<(Vec<String>, bool)> {
        required_literal(p, ci)
            .filter(|h| h.set)
            .map(|h| (h.text.split('\0').map(String::from).collect(), h.folded))
    }

    #[test]
    fn literal_sets_take_one_literal_per_branch() {
        // The benchmark's encoded-command family: no single literal, one
        // member per branch (regex-syntax factors `SQB` out of two of them;
        // the prefix extractor multiplies it back in).
        assert_eq!(
            set(
                r#"\s[-/][eE][a-zA-Z]*\s+(SQBFAFgA|aQBlAHgA|SQBuAHYAbwBrAGUA)[A-Za-z0-9+/]{20,}"#,
                false
            ),
            Some((
                std::vec![
                    "SQBFAFgA".into(),
                    "SQBuAHYAbwBrAGUA".into(),
                    "aQBlAHgA".into()
                ],
                false
            ))
        );
        // Case-insensitive: folded members, one per branch (no `k` or `s`:
        // their KELVIN SIGN and LONG S variants would be members too).
        assert_eq!(
            set(r"[0-9](Mimidogz|procdump)[0-9]", true),
            Some((std::vec!["mimidogz".into(), "procdump".into()], true))
        );
        // A single literal of 4 bytes or more wins, unless every member is
        // SET_OVER_LITERAL bytes longer; a branch without one (or with a
        // short one) leaves no set.
        assert_eq!(set(r"(abc|efg)-urlcache", false), None);
        // A run of items, into a repetition's first iteration, gives a
        // whole set (`[0-9]+` begins with `[0-9]`).
        let members = |prefixes: &[&str], tails: &str| -> Vec<String> {
            prefixes
                .iter()
                .flat_map(|p| tails.chars().map(move |c| std::format!("{p}{c}")))
                .collect()
        };
        assert_eq!(
            set(r"(abcd|efgh)-urlcache[0-9]+", false),
            Some((
                members(&["abcd-urlcache", "efgh-urlcache"], "0123456789"),
                false
            ))
        );
        // The benchmark's weak `http` family: a run through the optional
        // `s` (with its LONG S spelling) into `[0-9]{1,3}`, 30 members;
        // the tail's own members were shortened to `https://`.
        assert_eq!(
            set(r"(curl|wget)\s.*https?://[0-9]{1,3}\.[0-9]", true),
            Some((
                members(&["http://", "https://", "http\u{17f}://"], "0123456789"),
                true
            ))
        );
        // Not 4 bytes longer than `-urlcache`: the single literal stays.
        assert_eq!(set(r"(abcdefgh|ijklmnop)[0-9]{3}-urlcache", false), None);
        assert_eq!(
            set(r"(abcd|efgh)-urlcache", false),
            Some((
                std::vec!["abcd-urlcache".into(), "efgh-urlcache".into()],
                false
            ))
        );
        // No item gives 4-byte members, but a tail of the concatenation does.
        assert_eq!(
            set(r"[0-9]+-(ab|cd)-xy", false),
            Some((std::vec!["-ab-xy".into(), "-cd-xy".into()], false))
        );
        assert_eq!(set(r"(abcd|ef)[0-9]", false), None);
        assert_eq!(set(r"(abcd|[a-z]+)[0-9]", false), None);
        // The Cobalt Strike pipe family (examples/content): one member per
        // branch (`\\postex_ssh_` contains `\\postex_`), with the LONG S
        // spellings the case-insensitive DFA also matches.
        assert_eq!(
            set(
                r"\\(msagent_|postex_|status_|postex_ssh_)[0-9a-f]{2,4}$",
                true
            ),
            Some((
                [
                    "\\msagent_",
                    "\\m\u{17f}agent_",
                    "\\postex_",
                    "\\po\u{17f}tex_",
                    "\\status_",
                    "\\statu\u{17f}_",
                    "\\\u{17f}tatus_",
                    "\\\u{17f}tatu\u{17f}_"
                ]
                .map(String::from)
                .to_vec(),
                true
            ))
        );
        // A single literal under 4 bytes gives way to a set.
        assert_eq!(
            set(r"foo(bar)?baz", false),
            Some((std::vec!["foobarbaz".into(), "foobaz".into()], false))
        );
        // Two-case classes (SigmaHQ's spelling of case-insensitivity) give
        // one folded member each, not their case variants.
        assert_eq!(
            set(r"[Cc][Mm][Dd] /[Cc]|[Pp][Ss] /[Xx]", false),
            Some((std::vec!["cmd /c".into(), "ps /x".into()], true))
        );
        // A member that contains another is dropped.
        assert_eq!(
            set(r"(abcd|xabcdx|efgh)[0-9]", false),
            Some((std::vec!["abcd".into(), "efgh".into()], false))
        );
    }

    #[test]
    fn example_patterns() {
        // examples/content: the Cobalt Strike pipe family has no single
        // literal but `\` (alternation); see the set tests.
        assert_eq!(
            lit(
                r"\\(msagent_|postex_|status_|postex_ssh_)[0-9a-f]{2,4}$",
                true
            ),
            None
        );
        assert_eq!(
            lit(r"(?i)-urlcache.*https?://", false),
            some("-urlcache", true)
        );
        assert_eq!(
            lit(r"\\MSSE-[0-9]{1,5}-server$", false),
            some("-server", false)
        );
        assert_eq!(
            lit(r"(?i)\\(winword|excel|powerpnt)\.exe$", false),
            some(".exe", true)
        );
        assert_eq!(
            lit(
                r"(?i)\s-(e|ec|enc|encodedcommand)\s+[A-Za-z0-9+/=]{20,}",
                false
            ),
            None
        );
        assert_eq!(
            lit(
                r"(?i)\\appdata\\local\\temp\\[^\\]*[^\x00-\x7f][^\\]*\.exe$",
                false
            ),
            some(r"\appdata\local\temp\", true)
        );
        // (?i)k and (?i)s also match KELVIN SIGN and LONG S: they cut runs.
        assert_eq!(lit(r"(?i)mimikatz", false), some("mimi", true));
        assert_eq!(lit(r"(?i)powershell", false), some("power", true));
        assert_eq!(lit(r"(?i-u)powershell", false), some("powershell", true));
        // A two-case ASCII class folds the run; exact letters around it too.
        assert_eq!(lit(r"[Mm]imiKatz", false), some("mimikatz", true));
        assert_eq!(lit(r"lsass\.(dmp|exe)", false), some("lsass.", false));
        assert_eq!(lit(r"(?i)mimikatz|lsass\.dmp", false), None);
        // Optional and alternated parts are never required; ties: more distinct bytes.
        assert_eq!(lit(r"foo(bar)?baz", false), some("baz", false));
        // Of an alternation, what every branch begins and ends with.
        assert_eq!(lit(r"x(abc|abd)y", false), some("xab", false));
        assert_eq!(lit(r"(?i)\s+-(nop|noprofile)\s", false), some("-nop", true));
        assert_eq!(lit(r"(zbcd|ybcd)ef[0-9]", false), some("bcdef", false));
        assert_eq!(lit(r"q((ab)+c|abd)", false), some("qab", false));
        assert_eq!(lit(r"(a(xyz|wyz)|byz)z[0-9]", false), some("yzz", false));
        assert_eq!(lit(r"(abc|)xyz", false), some("xyz", false));
        assert_eq!(lit(r"lsass\.(dmp|dump)", false), some("lsass.d", false));
        assert_eq!(lit(r"(?:zz)*abc", false), some("abc", false));
        // Inside a repetition with min >= 1, the sub-expression's runs count.
        assert_eq!(lit(r"(-enc\s)+[a-z]", false), some("-enc", false));
        assert_eq!(lit(r"(-enc\s)*[a-z]", false), None);
        // Zero-width assertions do not cut; captures are inlined.
        assert_eq!(lit(r"^c:\\(win)dows\b", false), some(r"c:\windows", false));
        // Non-ASCII literals stay exact (and UTF-8).
        assert_eq!(lit(r"счет_\d+", false), some("счет_", false));
        assert_eq!(lit(r"(?i)é\.exe", false), some(".exe", true));
        // Too short, or does not parse.
        assert_eq!(lit(r"ab", false), None);
        assert_eq!(lit(r"(", false), None);
        // Capped at MAX_DFA_LITERAL_LEN, at a character boundary.
        let long = "é".repeat(300);
        let h = required_literal(&long, false).unwrap();
        assert_eq!(h.text.len(), limits::MAX_DFA_LITERAL_LEN as usize);
        assert!(h.text.chars().all(|c| c == 'é'));
    }

    /// Tiny deterministic PRNG (xorshift).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const CHARS: &[char] = &[
        'a', 'b', 'k', 's', 'K', 'S', 'e', 'x', '-', '\\', '1', '.', 'é', 'É', 'ſ', '\u{212A}',
    ];

    /// A random pattern and a haystack made to match it often: each node
    /// renders its regex source and appends one sample of what it matches
    /// (with case variants, Kelvin sign and long s, when case-insensitive).
    fn gen_node(r: &mut Rng, depth: u32, ci: bool, re: &mut String, sample: &mut String) {
        let pick = if depth == 0 { r.below(3) } else { r.below(10) };
        match pick {
            0 | 1 => {
                let c = CHARS[r.below(CHARS.len())];
                re.push_str(&regex_syntax::escape(&c.to_string()));
                let v = if ci {
                    match (c, r.below(4)) {
                        ('k' | 'K', 0) => '\u{212A}',
                        ('s' | 'S', 0) => 'ſ',
                        (c, 1) => c.to_ascii_uppercase(),
                        (c, 2) => c.to_ascii_lowercase(),
                        (c, _) => c,
                    }
                } else {
                    c
                };
                sample.push(v);
            }
            2 if r.below(2) == 0 => {
                re.push_str("[a-e]");
                sample.push(['a', 'c', 'e'][r.below(3)]);
            }
            2 => {
                // A two-case class, as SigmaHQ writes case-insensitivity.
                let c = ['a', 'k', 's', 'x'][r.below(4)];
                re.push_str(&format!("[{}{c}]", c.to_ascii_uppercase()));
                sample.push(if r.below(2) == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                });
            }
            3 => {
                let n = 1 + r.below(3);
                for _ in 0..n {
                    gen_node(r, depth - 1, ci, re, sample);
                }
            }
            4 => {
                // Half the time both branches share a leading and a trailing
                // literal, which the extractor may take.
                let edge = |r: &mut Rng| -> String {
                    if r.below(2) == 0 {
                        return String::new();
                    }
                    (0..1 + r.below(4))
                        .map(|_| CHARS[r.below(CHARS.len())])
                        .collect()
                };
                let (pre, suf) = (edge(r), edge(r));
                let (pre_re, suf_re) = (regex_syntax::escape(&pre), regex_syntax::escape(&suf));
                re.push_str("(?:");
                let take = r.below(2);
                let (mut a, mut b) = (String::new(), String::new());
                re.push_str(&pre_re);
                gen_node(r, depth - 1, ci, re, &mut a);
                re.push_str(&suf_re);
                re.push('|');
                re.push_str(&pre_re);
                gen_node(r, depth - 1, ci, re, &mut b);
                re.push_str(&suf_re);
                re.push(')');
                sample.push_str(&pre);
                sample.push_str(if take == 0 { &a } else { &b });
                sample.push_str(&suf);
            }
            5 | 6 => {
                let (op, min) =
                    [("?", 0), ("*", 0), ("+", 1), ("{2}", 2), ("{1,3}", 1)][r.below(5)];
                re.push_str("(?:");
                let mut one = String::new();
                gen_node(r, depth - 1, ci, re, &mut one);
                re.push(')');
                re.push_str(op);
                for _ in 0..min.max(r.below(2)) {
                    sample.push_str(&one);
                }
            }
            7 => {
                re.push('(');
                gen_node(r, depth - 1, ci, re, sample);
                re.push(')');
            }
            8 => {
                re.push_str(["^", "$", r"(?-u:\b)"][r.below(3)]);
            }
            _ => {
                let n = 2 + r.below(4);
                for _ in 0..n {
                    gen_node(r, depth - 1, ci, re, sample);
                }
            }
        }
    }

    /// Soundness of the extractor against regex-automata itself: whenever the
    /// DFA (compiled exactly as `build` compiles it) matches a haystack, the
    /// haystack contains the literal (ASCII case-insensitively if folded).
    /// The proof's alphabet (shared with the interpreter, which walks one
    /// representative byte per pair) is the number of distinct (byte class,
    /// column) pairs, and its trie has a node per distinct prefix: both
    /// counted here the slow way on random patterns and sets.
    #[test]
    fn proof_alphabet_and_trie_count_what_the_proof_walks() {
        use crate::analysis::literal_proof_alphabet;
        let mut r = Rng(0x2545_f491_4f6c_dd1d);
        let mut checked = 0u32;
        for _ in 0..400 {
            let ci = r.below(2) == 0;
            let (mut re, mut sample) = (String::new(), String::new());
            gen_node(&mut r, 3, ci, &mut re, &mut sample);
            let Ok(dfa) = dense_dfa(&re, ci) else {
                continue;
            };
            let pool = b"aAbBzZ09_-.\\ \xff";
            let lits: Vec<Vec<u8>> = (0..1 + r.below(3))
                .map(|_| {
                    (0..1 + r.below(4))
                        .map(|_| pool[r.below(pool.len())])
                        .collect()
                })
                .collect();
            let refs: Vec<&[u8]> = lits.iter().map(Vec::as_slice).collect();
            let folded = r.below(2) == 0;
            let fold = |b: u8| if folded { b.to_ascii_lowercase() } else { b };
            let members: std::collections::BTreeSet<u8> =
                lits.iter().flatten().map(|&b| fold(b)).collect();
            let classes = dfa.byte_classes();
            let pairs: std::collections::BTreeSet<(u8, Option<u8>)> = (0..=255u8)
                .map(|b| (classes.get(b), members.contains(&fold(b)).then(|| fold(b))))
                .collect();
            assert_eq!(
                literal_proof_alphabet(&dfa.as_ref(), &refs, folded),
                pairs.len(),
                "{re} {lits:?} folded={folded}"
            );
            // Trie nodes: the root and each distinct (folded) prefix.
            let prefixes: std::collections::BTreeSet<Vec<u8>> = lits
                .iter()
                .flat_map(|l| (1..=l.len()).map(move |n| l[..n].iter().map(|&b| fold(b)).collect()))
                .collect();
            assert_eq!(
                crate::analysis::literal_trie_nodes(&refs, folded),
                prefixes.len() + 1,
                "{lits:?} folded={folded}"
            );
            checked += 1;
        }
        assert!(checked > 300, "{checked}");
    }

    /// A whole literal set 4 bytes longer than the single literal is taken
    /// while the interpreter can prove it; on a DFA where the proof is over
    /// its cap, the writer falls back to the single literal (an unproven set
    /// would leave the regex scanned on every event).
    #[test]
    fn a_set_over_the_proof_cap_gives_way_to_the_single_literal() {
        use crate::analysis::literal_proof_steps;
        let small = r"[0-9]+(abcdabcdabcd|efghefghefgh)-urlcache-urlcache";
        let want = [
            "abcdabcdabcd-urlcache-urlcache",
            "efghefghefgh-urlcache-urlcache",
        ];
        let members: Vec<&[u8]> = want.iter().map(|m| m.as_bytes()).collect();
        let hint = |p: &str| literal_hint(p, false, || compile_regex(p, false).ok());
        let h = hint(small).unwrap();
        assert!(h.set);
        assert_eq!(h.text.split('\0').collect::<Vec<_>>(), want);
        // `x[a-z]{10}` before the set: thousands of states (the unanchored
        // DFA remembers where each of the last 11 `x`s was); 8.3 M steps.
        let big = r"x[a-z]{10}(abcdabcdabcd|efghefghefgh)-urlcache-urlcache";
        let dfa = dense_dfa(big, false).unwrap();
        let steps = literal_proof_steps(&dfa.as_ref(), &members, false);
        assert!(steps > limits::LITERAL_PROOF_STEPS, "{steps}");
        assert_eq!(required_literal(big, false).map(|h| h.set), Some(true));
        let h = hint(big).unwrap();
        assert_eq!((h.text.as_str(), h.set), ("-urlcache-urlcache", false));
        let dfa = dense_dfa(small, false).unwrap();
        assert!(literal_proof_steps(&dfa.as_ref(), &members, false) <= limits::LITERAL_PROOF_STEPS);
    }

    #[test]
    fn required_literal_is_sound() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut with_literal, mut checked, mut sets) = (0u32, 0u32, 0u32);
        for case in 0..20_000 {
            let ci = r.below(2) == 0;
            let (mut re, mut sample) = (String::new(), String::new());
            gen_node(&mut r, 4, ci, &mut re, &mut sample);
            let Ok(dfa) = dense_dfa(&re, ci) else {
                continue;
            };
            let Some(h) = required_literal(&re, ci) else {
                continue;
            };
            with_literal += 1;
            sets += u32::from(h.set);
            assert!(h.text.len() >= MIN_LITERAL_LEN);
            assert!(!h.folded || !h.text.bytes().any(|b| b.is_ascii_uppercase()));
            let members: Vec<&str> = if h.set {
                h.text.split('\0').collect()
            } else {
                std::vec![h.text.as_str()]
            };
            if h.set {
                assert!((2..=limits::MAX_LITERAL_SET as usize).contains(&members.len()));
                assert!(members.iter().all(|m| m.len() >= SET_MEMBER_MIN), "{h:?}");
            }
            for k in 0..8 {
                let noise = |r: &mut Rng| -> String {
                    (0..r.below(4))
                        .map(|_| CHARS[r.below(CHARS.len())])
                        .collect()
                };
                let hay = match k {
                    0 => sample.clone(),
                    1..=5 => format!("{}{sample}{}", noise(&mut r), noise(&mut r)),
                    _ => noise(&mut r) + &noise(&mut r) + &noise(&mut r),
                };
                let m = dfa.try_search_fwd(&Input::new(&hay)).unwrap().is_some();
                if !m {
                    continue;
                }
                checked += 1;
                let folded_hay = hay.to_ascii_lowercase();
                let contains = members.iter().any(|m| {
                    if h.folded {
                        folded_hay.contains(m)
                    } else {
                        hay.contains(m)
                    }
                });
                assert!(
                    contains,
                    "case {case}: pattern {re:?} (ci {ci}) matches {hay:?}, which lacks {h:?}"
                );
            }
        }
        eprintln!(
            "patterns with a literal: {with_literal} ({sets} sets), matching haystacks checked: {checked}"
        );
        assert!(
            with_literal > 800 && checked > 3000 && sets > 50,
            "{with_literal} {checked} {sets}"
        );
    }
}
