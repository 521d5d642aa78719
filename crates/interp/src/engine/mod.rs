//! The indexed engine.
//!
//! # Model
//! An instance matches an event of its template type when every criterion
//! matches its field (criterion `k` applies to field `k`; `Any` always
//! matches). String criteria compare the bytes of the UTF-8 field; a
//! case-insensitive criterion compares the ASCII-lower-cased field with the
//! needle (stored folded; the validator proves it). A regex criterion matches
//! when its DFA finds a match anywhere in the field (unanchored search).
//!
//! # Faults
//! A value whose type is not its field's schema type counts **one** fault per
//! evaluation, and every non-`Any` criterion on that field is a non-match.
//! A DFA search error or an internal inconsistency counts one fault each and is
//! a non-match. Faults are never panics.
//!
//! # Load time: anchors and indexes
//! [`Engine::new`] decodes every instance once, drops `Any` criteria, orders
//! the rest cheapest first, and picks one *anchor* per instance: its most
//! selective indexable criterion (string equals > the longest prefix/suffix
//! (≥ 3 bytes) or contains (≥ 4 bytes) needle > integer equals, which is
//! exact but whose values, flags and session ids, are common in events).
//! Indexes per
//! (template type, field):
//! - **integer equals**: sorted `(value, instance)`; binary search.
//! - **string equals + prefix** (one table per case mode): distinct needles
//!   sorted, each with its longest proper prefix in the table (`parent`). A
//!   probe binary-searches the greatest needle `c <= field`; every needle that
//!   is a prefix of the field is a prefix of `c` no longer than
//!   `lcp(c, field)`, so walking `c`'s parent chain finds them all.
//! - **suffix**: the same over reversed strings.
//! - **contains**: each needle's rarest 4-byte (folded) gram; a 64 Kbit bloom
//!   filter and a sorted gram table; each field position costs one bit test.
//!
//! - **regex with a required literal**: the DFA entry's literal hint (at least
//!   4 bytes), once [`literal_required`] has *proven* at load that every
//!   haystack the DFA matches contains it, is indexed exactly like a contains
//!   needle (ranked just below a contains needle of the same length); the
//!   DFA still decides. Unproven hints are ignored (docs/FORMAT.md, "Required
//!   literals": the hint is the signer's claim).
//!
//! Instances without an indexable criterion go in the per-template *always*
//! list (regex-only instances without a proven literal among them, still
//! behind the byte-class prefilter). A regex is evaluated only for candidate
//! instances, after that instance's cheaper criteria matched. See
//! docs/PERFORMANCE.md.
//!
//! All load-time allocation goes through `try_reserve`; the total is linear in
//! the validated content (itself capped by `changuard_format::limits`).
//!
//! # Fuel
//! One unit of fuel is one criterion check, one byte compared or scanned, or
//! one binary-search step. Each operation charges its cost *before* running:
//! - a criterion: `1 + bytes`, where bytes = `min(needle, field)` for
//!   equals/prefix/suffix, `field.len()` for contains (KMP) and regex, 0 for
//!   integers;
//! - a string-table probe: `steps * (1 + min(field, longest needle)) + chain + 1`,
//!   `steps = ceil(log2(keys + 1))`, `chain` = the table's deepest parent chain;
//! - an integer-table probe: `steps + 1`;
//! - a contains-gram scan: `field.len()`, plus `steps` per bloom hit;
//! - the type check: the template's input count.
//!
//! [`Engine::cost`] is a worst case computed at load time for fields of at most
//! [`EngineConfig::field_cap`] bytes: the probes, plus for each index the most
//! expensive set of instances one event can make fire (one distinct value per
//! equals table, one parent chain per prefix/suffix table, every gram), plus
//! every always-checked instance. It is the default budget
//! ([`Engine::max_fuel_per_event`]), so an event whose fields fit the cap never
//! runs out. **Exhaustion**: when an operation's cost exceeds the fuel left,
//! evaluation stops at once, `fuel_exhausted` is set, and the verdict holds the
//! matches found so far (sorted), which depend on evaluation order (anchored
//! candidates field by field, then the always list). A verdict with
//! `fuel_exhausted` is incomplete and must be treated so (telemetry, not a
//! clean bill).

use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt;

use changuard_format::regex_automata::Anchored;
use changuard_format::regex_automata::Input;
use changuard_format::regex_automata::dfa::Automaton;
use changuard_format::regex_automata::dfa::dense::DFA;
use changuard_format::regex_automata::util::primitives::StateID;
use changuard_format::regex_automata::util::start;
use changuard_format::schema::{FieldType, MAX_INPUTS, TEMPLATE_TYPES, TemplateType};
use changuard_format::{Action, Criterion, StrOp, ValidChannel};

mod cost;
mod grams;
mod proofs;
mod tables;

use grams::{build_grams, choose_grams};
use proofs::{literal_required, required_classes};
use tables::{anchor_of, build_table, slice32, test_rank};

use crate::event::{Event, Value};
use crate::strops::{self, Dir};
use crate::verdict::{Match, Verdict};

/// Load-time settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Longest string field, in bytes, the cost bound is computed for (the
    /// driver's transcoding buffer). Longer fields are still evaluated, but may
    /// run out of the default budget.
    pub field_cap: usize,
    /// Fuel budget per evaluation; `None` = the load-time worst case
    /// ([`Engine::max_fuel_per_event`]).
    pub fuel_limit: Option<u64>,
    /// Load-time DFA analysis steps for the whole build (prefilter classes and
    /// literal proofs); analyses that do not fit are skipped, which changes
    /// no result, only speed.
    pub proof_steps: u64,
}

impl EngineConfig {
    /// Default string field cap: 8 KiB of UTF-8.
    pub const DEFAULT_FIELD_CAP: usize = 8192;
    /// Default load-time analysis budget: 2^26 steps (16 times the largest
    /// single analysis), a bounded slice of DriverEntry whatever the content.
    pub const DEFAULT_PROOF_STEPS: u64 = 1 << 26;
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            field_cap: Self::DEFAULT_FIELD_CAP,
            fuel_limit: None,
            proof_steps: Self::DEFAULT_PROOF_STEPS,
        }
    }
}

/// Why an engine could not be built. The loader treats every variant as
/// "this content cannot be activated" and falls back (LKG).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// A fallible allocation failed (pool exhausted).
    OutOfMemory,
    /// The same channel id was passed twice.
    DuplicateChannel(u32),
    /// Validated content did not decode (a validator/engine disagreement: a bug,
    /// reported instead of panicking).
    Inconsistent {
        /// Channel id.
        channel: u32,
        /// Instance table index (or DFA index), `u32::MAX` if not applicable.
        index: u32,
        /// What failed.
        what: &'static str,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::OutOfMemory => f.write_str("out of memory building the engine"),
            EngineError::DuplicateChannel(c) => write!(f, "channel {c} given twice"),
            EngineError::Inconsistent {
                channel,
                index,
                what,
            } => write!(
                f,
                "internal inconsistency in channel {channel} at index {index}: {what}"
            ),
        }
    }
}

impl From<alloc::collections::TryReserveError> for EngineError {
    fn from(_: alloc::collections::TryReserveError) -> Self {
        EngineError::OutOfMemory
    }
}

fn try_push<T>(v: &mut Vec<T>, x: T) -> Result<(), EngineError> {
    v.try_reserve(1)?;
    v.push(x);
    Ok(())
}

/// Worst-case fuel of one evaluation of a template type, computed at load time
/// for fields of at most [`EngineConfig::field_cap`] bytes (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Type check plus every index probe.
    pub probe: u64,
    /// The most expensive set of anchored instances one event can make fire.
    pub candidates: u64,
    /// Every always-checked instance, evaluated in full.
    pub always: u64,
    /// `probe + candidates + always` (saturating): the default fuel budget.
    pub total: u64,
}

/// Load-time statistics, for the status interface and the benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Channels loaded.
    pub channels: u32,
    /// Instances loaded (all template types).
    pub instances: u32,
    /// Instances anchored on an integer-equals criterion.
    pub anchored_int: u32,
    /// Instances anchored on a string equals criterion.
    pub anchored_equals: u32,
    /// Instances anchored on a prefix or suffix criterion.
    pub anchored_affix: u32,
    /// Instances anchored on a contains criterion (4-byte gram).
    pub anchored_contains: u32,
    /// Instances evaluated for every event of their type.
    pub always: u32,
    /// DFAs loaded.
    pub dfas: u32,
    /// DFAs with at least one required byte class (prefiltered).
    pub dfas_prefiltered: u32,
    /// Total serialized size of the loaded DFAs (bytes, borrowed, not copied).
    pub dfa_bytes: u64,
    /// Heap bytes of the engine's own tables.
    pub index_bytes: u64,
    /// DFA analyses skipped because the load-time budget was spent
    /// (`EngineConfig::proof_steps`).
    pub proofs_skipped: u32,
}

// ---------------------------------------------------------------------------
// Decoded content.

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
enum Test<'a> {
    Str {
        op: StrOp,
        needle: &'a [u8],
        ci: bool,
        /// Start of the KMP table in `Engine::kmp` (contains only).
        kmp: u32,
    },
    IntEq(u64),
    IntRange(u64, u64),
    IntMask(u64, u64),
    Regex(u32),
}

#[derive(Clone, Copy, Debug)]
struct Crit<'a> {
    field: u8,
    test: Test<'a>,
}

#[derive(Clone, Copy, Debug)]
struct Inst {
    channel: u32,
    id: u32,
    action: Action,
    crit_start: u32,
    crit_len: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Anchor {
    None,
    Contains { field: u8, crit: u32 },
    Affix { field: u8, crit: u32 },
    StrEq { field: u8, crit: u32 },
    IntEq { field: u8, value: u64 },
}

/// One distinct needle of a string table.
#[derive(Clone, Copy, Debug)]
struct Key<'a> {
    s: &'a [u8],
    parent: u32,
    /// Instances anchored on "field equals s" (forward tables only).
    eq_start: u32,
    eq_len: u32,
    /// Instances anchored on "field starts (ends) with s".
    pre_start: u32,
    pre_len: u32,
}

#[derive(Debug, Default)]
struct StrTable<'a> {
    keys: Vec<Key<'a>>,
    insts: Vec<u32>,
    max_len: usize,
    max_chain: u64,
}

const GRAM_BLOOM_WORDS: usize = 1024; // 65,536 bits
/// Most distinct grams per (template, field); the per-field dedupe bitset on
/// the stack is this many bits (1 KiB). Instances past it are checked always.
const GRAM_KEYS_MAX: usize = 8192;

#[derive(Debug, Default)]
struct GramIndex {
    bloom: Vec<u64>,
    keys: Vec<u32>,
    /// `(start, len)` into `insts`, parallel to `keys`.
    ranges: Vec<(u32, u32)>,
    insts: Vec<u32>,
}

#[derive(Debug, Default)]
struct FieldIndex<'a> {
    /// Equals + prefix needles: `[case-sensitive, case-insensitive]`.
    fwd: [StrTable<'a>; 2],
    /// Suffix needles: `[case-sensitive, case-insensitive]`.
    rev: [StrTable<'a>; 2],
    grams: GramIndex,
    ints: Vec<(u64, u32)>,
}

#[derive(Debug, Default)]
struct TemplateIndex<'a> {
    fields: Vec<FieldIndex<'a>>,
    always: Vec<u32>,
    cost: Cost,
    fuel_limit: u64,
}

/// The interpreter for a set of validated channels. Built once per content
/// activation ([`Engine::new`]); evaluation ([`Engine::evaluate`]) is `&self`,
/// allocation-free and fuel-bounded, so one engine serves all CPUs.
#[derive(Debug)]
pub struct Engine<'a> {
    insts: Vec<Inst>,
    crits: Vec<Crit<'a>>,
    kmp: Vec<u16>,
    dfas: Vec<DfaRec<'a>>,
    templates: Vec<TemplateIndex<'a>>,
    stats: EngineStats,
    lit_stats: LiteralStats,
    /// Load-time analysis steps left (only during the build).
    proofs: proofs::Budget,
}

/// Most required byte classes kept per DFA.
const REQ_MAX: usize = 4;
/// Per-DFA analysis budget (states x classes x classes steps).
const REQ_ANALYSIS_STEPS: usize = 1 << 21;

/// A loaded DFA and the byte classes every match must contain (see
/// [`required_classes`]): a field with no byte of a required class cannot
/// match, so the DFA is not run (exact, not a heuristic).
#[derive(Debug)]
struct DfaRec<'a> {
    dfa: DFA<&'a [u32]>,
    req: [[u64; 4]; REQ_MAX],
    nreq: usize,
    /// The content's required-literal hint, kept only when it is at least
    /// [`LIT_MIN`] bytes and [`literal_required`] proved it (folded or not:
    /// the gram index folds anyway, and the DFA confirms every candidate).
    lit: Option<&'a [u8]>,
}

/// Shortest required literal used as an anchor (one 4-byte gram).
const LIT_MIN: usize = 4;
/// Per-DFA budget of the required-literal proof (states x literal x alphabet).
const LIT_ANALYSIS_STEPS: usize = 1 << 22;

/// Required-literal hints of the loaded DFAs (docs/PERFORMANCE.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiteralStats {
    /// DFAs whose entry carries a hint.
    pub hints: u32,
    /// Hints of at least 4 bytes that the load-time analysis proved required.
    pub proven: u32,
    /// Hints of at least 4 bytes not proven (unsound, or over the analysis
    /// budget): ignored, so their instances stay on the always list.
    pub unproven: u32,
    /// Instances anchored on a regex's required literal.
    pub anchors: u32,
}

struct Fuel {
    left: u64,
    used: u64,
}

struct Exhausted;

impl Fuel {
    #[inline]
    fn charge(&mut self, n: u64) -> Result<(), Exhausted> {
        match self.left.checked_sub(n) {
            Some(l) => {
                self.left = l;
                self.used = self.used.saturating_add(n);
                Ok(())
            }
            None => Err(Exhausted),
        }
    }
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn gram_of(w: &[u8]) -> u32 {
    w.iter().fold(0u32, |g, &b| {
        g.wrapping_shl(8) | u32::from(b.to_ascii_lowercase())
    })
}

fn gram_bit(g: u32) -> (usize, u64) {
    let h = g.wrapping_mul(0x9E37_79B1).wrapping_shr(16);
    let word = usize::try_from(h.wrapping_shr(6)).unwrap_or(0);
    (word, 1u64.wrapping_shl(h & 63))
}

impl<'a> Engine<'a> {
    /// Build an engine over `channels` with the default [`EngineConfig`].
    ///
    /// The channels are borrowed for the engine's lifetime: DFAs and needles
    /// are used in place, never copied.
    ///
    /// # Errors
    /// [`EngineError::OutOfMemory`] when a fallible allocation fails,
    /// [`EngineError::DuplicateChannel`], or [`EngineError::Inconsistent`] if
    /// validated content does not decode (a bug; the loader falls back).
    ///
    /// # Panics
    /// Never.
    pub fn new(channels: &'a [ValidChannel<&'a [u8]>]) -> Result<Engine<'a>, EngineError> {
        Engine::with_config(channels, EngineConfig::default())
    }

    /// [`Engine::new`] with explicit settings.
    ///
    /// # Errors
    /// As [`Engine::new`].
    pub fn with_config(
        channels: &'a [ValidChannel<&'a [u8]>],
        config: EngineConfig,
    ) -> Result<Engine<'a>, EngineError> {
        let mut e = Engine {
            insts: Vec::new(),
            crits: Vec::new(),
            kmp: Vec::new(),
            dfas: Vec::new(),
            templates: Vec::new(),
            stats: EngineStats::default(),
            lit_stats: LiteralStats::default(),
            proofs: proofs::Budget::new(config.proof_steps),
        };
        // Channel order: by channel id (instances are then in (channel, id) order).
        let mut order: Vec<usize> = Vec::new();
        order.try_reserve_exact(channels.len())?;
        order.extend(0..channels.len());
        order.sort_unstable_by_key(|&k| channels.get(k).map(ValidChannel::channel));
        let mut prev: Option<u32> = None;
        let mut anchors: Vec<Anchor> = Vec::new();
        let mut templ_of: Vec<u8> = Vec::new();
        for &k in &order {
            let ch = channels.get(k).ok_or(EngineError::OutOfMemory)?;
            if prev == Some(ch.channel()) {
                return Err(EngineError::DuplicateChannel(ch.channel()));
            }
            prev = Some(ch.channel());
            e.load_channel(ch, &mut anchors, &mut templ_of)?;
            e.stats.channels = e.stats.channels.saturating_add(1);
        }
        e.build_indexes(&anchors, &templ_of, config)?;
        e.stats.instances = u32::try_from(e.insts.len()).unwrap_or(u32::MAX);
        e.stats.index_bytes = e.heap_bytes();
        e.stats.proofs_skipped = e.proofs.skipped;
        Ok(e)
    }

    /// Load DFA `d` of `ch`, append its record to `dfas`, then analyse it there.
    ///
    /// A DFA value is ~700 bytes and every move of it is a stack copy: it is
    /// moved once, into the (reserved) vector, and analysed there by reference
    /// (it used to be copied into a local, then into a record, then pushed). Not
    /// inlined, so none of it sits in `with_config`'s frame while that builds
    /// the indexes.
    #[inline(never)]
    fn load_dfa(&mut self, ch: &'a ValidChannel<&'a [u8]>, d: u32) -> Result<(), EngineError> {
        let channel = ch.channel();
        let bad = |index: u32, what: &'static str| EngineError::Inconsistent {
            channel,
            index,
            what,
        };
        let Some(dfa) = ch.dfa(d) else {
            return Err(bad(d, "dfa does not load"));
        };
        self.dfas.push(DfaRec {
            dfa,
            req: [[0; 4]; REQ_MAX],
            nreq: 0,
            lit: None,
        });
        let rec = self.dfas.last_mut().ok_or(bad(d, "dfa does not load"))?;
        let stats = &mut self.stats;
        stats.dfas = stats.dfas.saturating_add(1);
        stats.dfa_bytes = stats
            .dfa_bytes
            .saturating_add(len64(rec.dfa.write_to_len()));
        let DfaRec { dfa, req, .. } = rec;
        let nreq = required_classes(dfa, req, &mut self.proofs)?;
        rec.nreq = nreq;
        if nreq > 0 {
            stats.dfas_prefiltered = stats.dfas_prefiltered.saturating_add(1);
        }
        let hint = ch
            .dfa_literal(d)
            .ok_or(bad(d, "dfa literal does not decode"))?;
        if let Some(h) = hint {
            let ls = &mut self.lit_stats;
            ls.hints = ls.hints.saturating_add(1);
            let text = h.text.as_bytes();
            if text.len() >= LIT_MIN {
                if literal_required(&rec.dfa, text, h.folded, &mut self.proofs)? {
                    ls.proven = ls.proven.saturating_add(1);
                    rec.lit = Some(text);
                } else {
                    ls.unproven = ls.unproven.saturating_add(1);
                }
            }
        }
        Ok(())
    }

    fn load_channel(
        &mut self,
        ch: &'a ValidChannel<&'a [u8]>,
        anchors: &mut Vec<Anchor>,
        templ_of: &mut Vec<u8>,
    ) -> Result<(), EngineError> {
        let channel = ch.channel();
        let bad = |index: u32, what: &'static str| EngineError::Inconsistent {
            channel,
            index,
            what,
        };
        let dfa_base = u32::try_from(self.dfas.len()).map_err(|_| bad(NONE, "dfa count"))?;
        let ndfa = ch.dfa_count();
        self.dfas
            .try_reserve(usize::try_from(ndfa).map_err(|_| bad(NONE, "dfa count"))?)?;
        for d in 0..ndfa {
            self.load_dfa(ch, d)?;
        }
        let n = ch.instance_count();
        let n_us = usize::try_from(n).map_err(|_| bad(NONE, "instance count"))?;
        self.insts.try_reserve(n_us)?;
        anchors.try_reserve(n_us)?;
        templ_of.try_reserve(n_us)?;
        for i in 0..n {
            let inst = ch.instance(i).ok_or(bad(i, "instance does not decode"))?;
            let t = TEMPLATE_TYPES
                .iter()
                .position(|t| t.id == inst.template.id)
                .and_then(|p| u8::try_from(p).ok())
                .ok_or(bad(i, "unknown template"))?;
            let crit_start =
                u32::try_from(self.crits.len()).map_err(|_| bad(i, "too many criteria"))?;
            for k in 0..inst.criteria_len() {
                let c = inst
                    .criterion(k)
                    .ok_or(bad(i, "criterion does not decode"))?;
                let field = u8::try_from(k).map_err(|_| bad(i, "field index"))?;
                let fty = inst
                    .template
                    .fields
                    .get(k)
                    .map(|f| f.ty)
                    .ok_or(bad(i, "criterion past the template's inputs"))?;
                let test = match c {
                    Criterion::Any => continue,
                    Criterion::Str {
                        op,
                        needle,
                        case_insensitive,
                    } => {
                        if fty != FieldType::Str {
                            return Err(bad(i, "string criterion on an integer field"));
                        }
                        let needle = needle.as_bytes();
                        if case_insensitive && needle.iter().any(u8::is_ascii_uppercase) {
                            return Err(bad(i, "case-insensitive needle not folded"));
                        }
                        let mut kmp = NONE;
                        if op == StrOp::Contains {
                            let t = strops::kmp_table(needle).ok_or(EngineError::OutOfMemory)?;
                            kmp = u32::try_from(self.kmp.len())
                                .map_err(|_| bad(i, "kmp tables too large"))?;
                            self.kmp.try_reserve(t.len())?;
                            self.kmp.extend_from_slice(&t);
                        }
                        Test::Str {
                            op,
                            needle,
                            ci: case_insensitive,
                            kmp,
                        }
                    }
                    Criterion::IntEquals(v) => Test::IntEq(v),
                    Criterion::IntRange { lo, hi } => Test::IntRange(lo, hi),
                    Criterion::IntMask { mask, value } => Test::IntMask(mask, value),
                    Criterion::Regex { dfa } => {
                        if fty != FieldType::Str {
                            return Err(bad(i, "regex criterion on an integer field"));
                        }
                        if dfa >= ndfa {
                            return Err(bad(i, "dfa index out of range"));
                        }
                        Test::Regex(dfa_base.checked_add(dfa).ok_or(bad(i, "dfa index"))?)
                    }
                };
                if matches!(
                    test,
                    Test::IntEq(_) | Test::IntRange(..) | Test::IntMask(..)
                ) && fty != FieldType::Int
                {
                    return Err(bad(i, "integer criterion on a string field"));
                }
                try_push(&mut self.crits, Crit { field, test })?;
            }
            let end = self.crits.len();
            let crit_len = u32::try_from(end)
                .ok()
                .and_then(|e| e.checked_sub(crit_start))
                .ok_or(bad(i, "criteria"))?;
            // Cheapest first: integers, then affixes/equals, contains, regex last.
            if let Some(own) = usize::try_from(crit_start)
                .ok()
                .and_then(|s| self.crits.get_mut(s..end))
            {
                own.sort_unstable_by_key(|c| (test_rank(&c.test), c.field));
            }
            // Anchor: the most selective indexable criterion (first on ties).
            let mut best = Anchor::None;
            let mut best_score = 0u64;
            if let Some(own) = usize::try_from(crit_start)
                .ok()
                .and_then(|s| self.crits.get(s..end))
            {
                for (p, c) in own.iter().enumerate() {
                    let idx = u32::try_from(p)
                        .ok()
                        .and_then(|p| crit_start.checked_add(p))
                        .ok_or(bad(i, "criteria"))?;
                    let (score, anchor) = anchor_of(c.field, idx, &c.test, |d| {
                        usize::try_from(d)
                            .ok()
                            .and_then(|d| self.dfas.get(d))
                            .and_then(|r| r.lit)
                    });
                    if score > best_score {
                        best_score = score;
                        best = anchor;
                    }
                }
            }
            if let Anchor::Contains { crit, .. } = best {
                if matches!(
                    self.crit(crit),
                    Some(Crit {
                        test: Test::Regex(_),
                        ..
                    })
                ) {
                    let ls = &mut self.lit_stats;
                    ls.anchors = ls.anchors.saturating_add(1);
                }
            }
            self.insts.push(Inst {
                channel,
                id: inst.id,
                action: inst.action,
                crit_start,
                crit_len,
            });
            anchors.push(best);
            templ_of.push(t);
        }
        Ok(())
    }

    fn build_indexes(
        &mut self,
        anchors: &[Anchor],
        templ_of: &[u8],
        config: EngineConfig,
    ) -> Result<(), EngineError> {
        let cap = config.field_cap;
        self.templates.try_reserve_exact(TEMPLATE_TYPES.len())?;
        for (t, tt) in TEMPLATE_TYPES.iter().enumerate() {
            let mut ti = TemplateIndex::default();
            ti.fields.try_reserve_exact(tt.input_count())?;
            for _ in 0..tt.input_count() {
                ti.fields.push(FieldIndex::default());
            }
            // Per-field entry lists, then sorted tables.
            for f in 0..tt.input_count() {
                let fu8 = u8::try_from(f).map_err(|_| EngineError::OutOfMemory)?;
                let mut fwd: [Vec<(&'a [u8], bool, u32)>; 2] = [Vec::new(), Vec::new()];
                let mut rev: [Vec<(&'a [u8], bool, u32)>; 2] = [Vec::new(), Vec::new()];
                let mut contains: Vec<(&'a [u8], u32)> = Vec::new();
                let mut ints: Vec<(u64, u32)> = Vec::new();
                for (g, (a, &tp)) in anchors.iter().zip(templ_of).enumerate() {
                    if usize::from(tp) != t {
                        continue;
                    }
                    let g = u32::try_from(g).map_err(|_| EngineError::OutOfMemory)?;
                    match *a {
                        Anchor::IntEq { field, value } if field == fu8 => {
                            try_push(&mut ints, (value, g))?;
                        }
                        Anchor::StrEq { field, crit } | Anchor::Affix { field, crit }
                            if field == fu8 =>
                        {
                            if let Some(Crit {
                                test: Test::Str { op, needle, ci, .. },
                                ..
                            }) = self.crit(crit)
                            {
                                let m = usize::from(ci);
                                let (list, is_eq) = match op {
                                    StrOp::Equals => (&mut fwd, true),
                                    StrOp::Prefix => (&mut fwd, false),
                                    _ => (&mut rev, false),
                                };
                                if let Some(l) = list.get_mut(m) {
                                    try_push(l, (needle, is_eq, g))?;
                                }
                            }
                        }
                        Anchor::Contains { field, crit } if field == fu8 => {
                            // A contains needle, or a regex's proven required
                            // literal: the gram index only selects candidates;
                            // every criterion (the DFA too) is still checked.
                            let needle = match self.crit(crit) {
                                Some(Crit {
                                    test: Test::Str { needle, .. },
                                    ..
                                }) => Some(needle),
                                Some(Crit {
                                    test: Test::Regex(d),
                                    ..
                                }) => usize::try_from(d)
                                    .ok()
                                    .and_then(|d| self.dfas.get(d))
                                    .and_then(|r| r.lit),
                                _ => None,
                            };
                            match needle {
                                Some(n) => try_push(&mut contains, (n, g))?,
                                // Cannot happen (anchor_of saw it); fail safe.
                                None => try_push(&mut ti.always, g)?,
                            }
                        }
                        _ => {}
                    }
                }
                let fi = ti.fields.get_mut(f).ok_or(EngineError::OutOfMemory)?;
                for m in 0..2 {
                    if let (Some(dst), Some(src)) = (fi.fwd.get_mut(m), fwd.get_mut(m)) {
                        *dst = build_table(src, Dir::Fwd)?;
                    }
                    if let (Some(dst), Some(src)) = (fi.rev.get_mut(m), rev.get_mut(m)) {
                        *dst = build_table(src, Dir::Rev)?;
                    }
                }
                ints.sort_unstable();
                fi.ints = ints;
                let mut leftover = Vec::new();
                let mut grams = choose_grams(&contains, &mut leftover)?;
                grams.sort_unstable();
                let overflow = build_grams(&mut fi.grams, &grams)?;
                for g in overflow.into_iter().chain(leftover) {
                    try_push(&mut ti.always, g)?;
                }
            }
            for (g, (a, &tp)) in anchors.iter().zip(templ_of).enumerate() {
                if usize::from(tp) == t && *a == Anchor::None {
                    try_push(
                        &mut ti.always,
                        u32::try_from(g).map_err(|_| EngineError::OutOfMemory)?,
                    )?;
                }
            }
            ti.always.sort_unstable();
            ti.cost = self.cost_of(tt, &ti, cap);
            ti.fuel_limit = config.fuel_limit.unwrap_or(ti.cost.total);
            self.templates.push(ti);
        }
        for a in anchors {
            let s = &mut self.stats;
            match a {
                Anchor::None => s.always = s.always.saturating_add(1),
                Anchor::Contains { .. } => {
                    s.anchored_contains = s.anchored_contains.saturating_add(1)
                }
                Anchor::Affix { .. } => s.anchored_affix = s.anchored_affix.saturating_add(1),
                Anchor::StrEq { .. } => s.anchored_equals = s.anchored_equals.saturating_add(1),
                Anchor::IntEq { .. } => s.anchored_int = s.anchored_int.saturating_add(1),
            }
        }
        // Gram overflow moved some contains-anchored instances to `always`.
        let always: usize = self.templates.iter().map(|t| t.always.len()).sum();
        let moved = u32::try_from(always)
            .unwrap_or(u32::MAX)
            .saturating_sub(self.stats.always);
        self.stats.anchored_contains = self.stats.anchored_contains.saturating_sub(moved);
        self.stats.always = u32::try_from(always).unwrap_or(u32::MAX);
        Ok(())
    }

    fn crit(&self, k: u32) -> Option<Crit<'a>> {
        self.crits.get(usize::try_from(k).ok()?).copied()
    }

    fn inst_crits(&self, inst: &Inst) -> Option<&[Crit<'a>]> {
        let s = usize::try_from(inst.crit_start).ok()?;
        let e = s.checked_add(usize::try_from(inst.crit_len).ok()?)?;
        self.crits.get(s..e)
    }

    fn heap_bytes(&self) -> u64 {
        use core::mem::size_of;
        let mut b = self.insts.capacity().saturating_mul(size_of::<Inst>());
        b = b.saturating_add(self.crits.capacity().saturating_mul(size_of::<Crit<'_>>()));
        b = b.saturating_add(self.kmp.capacity().saturating_mul(2));
        b = b.saturating_add(
            self.dfas
                .capacity()
                .saturating_mul(size_of::<DFA<&[u32]>>()),
        );
        for t in &self.templates {
            b = b.saturating_add(t.always.capacity().saturating_mul(4));
            for f in &t.fields {
                for tb in f.fwd.iter().chain(f.rev.iter()) {
                    b = b.saturating_add(tb.keys.capacity().saturating_mul(size_of::<Key<'_>>()));
                    b = b.saturating_add(tb.insts.capacity().saturating_mul(4));
                }
                b = b.saturating_add(f.ints.capacity().saturating_mul(16));
                b = b.saturating_add(f.grams.bloom.capacity().saturating_mul(8));
                b = b.saturating_add(f.grams.keys.capacity().saturating_mul(4));
                b = b.saturating_add(f.grams.ranges.capacity().saturating_mul(8));
                b = b.saturating_add(f.grams.insts.capacity().saturating_mul(4));
            }
        }
        len64(b)
    }

    /// Load-time statistics.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Required-literal hints: how many there were, were proven, and anchor
    /// instances (those are also counted in [`EngineStats::anchored_contains`]).
    pub fn literal_stats(&self) -> LiteralStats {
        self.lit_stats
    }

    /// The load-time worst-case cost of evaluating one event of `template`
    /// (see the module docs); `None` for a template type not in this schema.
    pub fn cost(&self, template: &TemplateType) -> Option<Cost> {
        self.template_index(template).map(|t| t.cost)
    }

    /// The fuel budget of one evaluation of `template` (the configured limit,
    /// by default [`Cost::total`]); 0 for a template type not in this schema.
    pub fn max_fuel_per_event(&self, template: &TemplateType) -> u64 {
        self.template_index(template).map_or(0, |t| t.fuel_limit)
    }

    fn template_index(&self, template: &TemplateType) -> Option<&TemplateIndex<'a>> {
        let p = TEMPLATE_TYPES.iter().position(|t| t.id == template.id)?;
        self.templates.get(p)
    }

    /// Evaluate `event` with the template's fuel budget. Clears `verdict` first.
    ///
    /// Allocates nothing; never panics.
    pub fn evaluate(&self, event: &Event<'_>, verdict: &mut Verdict) {
        self.evaluate_in(event, verdict, &mut EvalScratch::new());
    }

    /// [`Engine::evaluate`] with the per-event working memory supplied by the
    /// caller, for callers whose stack is tight (a kernel notify routine keeps
    /// one [`EvalScratch`] under its lock).
    ///
    /// Allocates nothing; never panics.
    pub fn evaluate_in(&self, event: &Event<'_>, verdict: &mut Verdict, scratch: &mut EvalScratch) {
        let fuel = self.max_fuel_per_event(event.template());
        self.evaluate_with_fuel_in(event, fuel, verdict, scratch);
    }

    /// Evaluate `event` with an explicit fuel budget. Clears `verdict` first.
    ///
    /// Allocates nothing; never panics.
    pub fn evaluate_with_fuel(&self, event: &Event<'_>, fuel: u64, verdict: &mut Verdict) {
        self.evaluate_with_fuel_in(event, fuel, verdict, &mut EvalScratch::new());
    }

    /// [`Engine::evaluate_with_fuel`] with caller-supplied working memory.
    ///
    /// Allocates nothing; never panics.
    pub fn evaluate_with_fuel_in(
        &self,
        event: &Event<'_>,
        fuel: u64,
        verdict: &mut Verdict,
        scratch: &mut EvalScratch,
    ) {
        verdict.clear();
        let mut fuel = Fuel {
            left: fuel,
            used: 0,
        };
        let r = self.run(event, &mut fuel, verdict, scratch);
        verdict.fuel_used = fuel.used;
        verdict.fuel_exhausted = r.is_err();
        verdict.finish();
    }

    fn run(
        &self,
        event: &Event<'_>,
        fuel: &mut Fuel,
        verdict: &mut Verdict,
        scratch: &mut EvalScratch,
    ) -> Result<(), Exhausted> {
        let tt = event.template();
        let Some(ti) = self.template_index(tt) else {
            verdict.fault();
            return Ok(());
        };
        let vals = event.values();
        fuel.charge(len64(tt.input_count()))?;
        let bad = event.type_fault_mask();
        verdict.faults_add(bad.count_ones());
        let mut cx = Cx {
            vals,
            bad,
            fuel,
            verdict,
            present: &mut scratch.present,
            present_done: 0,
        };
        for (f, fi) in ti.fields.iter().enumerate() {
            if cx.bad_field(f) {
                continue;
            }
            match vals.get(f) {
                Some(Value::Str(s)) => {
                    let s = s.as_bytes();
                    for (m, table) in fi.fwd.iter().enumerate() {
                        self.probe_table(table, s, Dir::Fwd, m == 1, &mut cx)?;
                    }
                    for (m, table) in fi.rev.iter().enumerate() {
                        self.probe_table(table, s, Dir::Rev, m == 1, &mut cx)?;
                    }
                    self.probe_grams(&fi.grams, s, &mut cx)?;
                }
                Some(Value::Int(v)) if !fi.ints.is_empty() => {
                    cx.fuel
                        .charge(strops::search_steps(fi.ints.len()).saturating_add(1))?;
                    let start = fi.ints.partition_point(|&(x, _)| x < *v);
                    for &(x, g) in fi.ints.get(start..).unwrap_or(&[]) {
                        if x != *v {
                            break;
                        }
                        self.eval_inst(g, &mut cx)?;
                    }
                }
                Some(Value::Int(_)) => {}
                None => {}
            }
        }
        for &g in &ti.always {
            self.eval_inst(g, &mut cx)?;
        }
        Ok(())
    }

    fn probe_table(
        &self,
        table: &StrTable<'a>,
        field: &[u8],
        dir: Dir,
        ci: bool,
        cx: &mut Cx<'_, '_, '_>,
    ) -> Result<(), Exhausted> {
        let n = table.keys.len();
        if n == 0 {
            return Ok(());
        }
        let per_step = len64(field.len().min(table.max_len)).saturating_add(1);
        cx.fuel.charge(
            strops::search_steps(n)
                .saturating_mul(per_step)
                .saturating_add(table.max_chain)
                .saturating_add(1),
        )?;
        let le = table
            .keys
            .partition_point(|k| strops::cmp_dir(k.s, field, dir, ci) != Ordering::Greater);
        let Some(c) = le.checked_sub(1) else {
            return Ok(());
        };
        let Some(ck) = table.keys.get(c) else {
            cx.verdict.fault();
            return Ok(());
        };
        let l = strops::lcp_dir(ck.s, field, dir, ci);
        let mut node = c;
        // Bounded: parents strictly decrease in index.
        for _ in 0..n {
            let Some(k) = table.keys.get(node) else {
                cx.verdict.fault();
                break;
            };
            if k.s.len() <= l {
                if k.s.len() == field.len() {
                    for &g in slice32(&table.insts, k.eq_start, k.eq_len) {
                        self.eval_inst(g, cx)?;
                    }
                }
                for &g in slice32(&table.insts, k.pre_start, k.pre_len) {
                    self.eval_inst(g, cx)?;
                }
            }
            if k.parent == NONE {
                break;
            }
            match usize::try_from(k.parent) {
                Ok(p) if p < node => node = p,
                _ => {
                    cx.verdict.fault();
                    break;
                }
            }
        }
        Ok(())
    }

    fn probe_grams(
        &self,
        gi: &GramIndex,
        field: &[u8],
        cx: &mut Cx<'_, '_, '_>,
    ) -> Result<(), Exhausted> {
        if gi.keys.is_empty() || field.len() < 4 {
            return Ok(());
        }
        cx.fuel.charge(len64(field.len()))?;
        let steps = strops::search_steps(gi.keys.len());
        let mut seen = [0u64; GRAM_KEYS_MAX / 64];
        let mut g = 0u32;
        for (i, &b) in field.iter().enumerate() {
            g = g.wrapping_shl(8) | u32::from(b.to_ascii_lowercase());
            if i < 3 {
                continue;
            }
            let (w, bit) = gram_bit(g);
            if gi.bloom.get(w).is_none_or(|x| x & bit == 0) {
                continue;
            }
            cx.fuel.charge(steps)?;
            let Ok(d) = gi.keys.binary_search(&g) else {
                continue;
            };
            let (sw, sb) = (
                d.wrapping_shr(6),
                1u64.wrapping_shl(u32::try_from(d & 63).unwrap_or(0)),
            );
            match seen.get_mut(sw) {
                Some(word) if *word & sb == 0 => *word |= sb,
                Some(_) => continue,
                None => {
                    cx.verdict.fault();
                    continue;
                }
            }
            let Some(&(s, l)) = gi.ranges.get(d) else {
                cx.verdict.fault();
                continue;
            };
            for &inst in slice32(&gi.insts, s, l) {
                self.eval_inst(inst, cx)?;
            }
        }
        Ok(())
    }

    fn eval_inst(&self, g: u32, cx: &mut Cx<'_, '_, '_>) -> Result<(), Exhausted> {
        let Some(inst) = usize::try_from(g).ok().and_then(|g| self.insts.get(g)) else {
            cx.verdict.fault();
            return Ok(());
        };
        let Some(crits) = self.inst_crits(inst) else {
            cx.verdict.fault();
            return Ok(());
        };
        for c in crits {
            if !self.check(c, cx)? {
                return Ok(());
            }
        }
        cx.verdict.push(Match {
            channel: inst.channel,
            instance: inst.id,
            action: inst.action,
        });
        Ok(())
    }

    fn check(&self, c: &Crit<'a>, cx: &mut Cx<'_, '_, '_>) -> Result<bool, Exhausted> {
        let f = usize::from(c.field);
        if cx.bad_field(f) {
            cx.fuel.charge(1)?;
            return Ok(false);
        }
        let Some(v) = cx.vals.get(f) else {
            cx.fuel.charge(1)?;
            cx.verdict.fault();
            return Ok(false);
        };
        match (c.test, *v) {
            (Test::IntEq(x), Value::Int(v)) => {
                cx.fuel.charge(1)?;
                Ok(v == x)
            }
            (Test::IntRange(lo, hi), Value::Int(v)) => {
                cx.fuel.charge(1)?;
                Ok(lo <= v && v <= hi)
            }
            (Test::IntMask(mask, value), Value::Int(v)) => {
                cx.fuel.charge(1)?;
                Ok(v & mask == value)
            }
            (
                Test::Str {
                    op,
                    needle,
                    ci,
                    kmp,
                },
                Value::Str(s),
            ) => {
                let s = s.as_bytes();
                if op == StrOp::Contains {
                    cx.fuel.charge(len64(s.len()).saturating_add(1))?;
                    let table = usize::try_from(kmp)
                        .ok()
                        .and_then(|k| self.kmp.get(k..k.checked_add(needle.len())?));
                    match table.and_then(|t| strops::kmp_contains(s, needle, t, ci)) {
                        Some(m) => Ok(m),
                        None => {
                            cx.verdict.fault();
                            Ok(false)
                        }
                    }
                } else {
                    cx.fuel
                        .charge(len64(needle.len().min(s.len())).saturating_add(1))?;
                    Ok(match op {
                        StrOp::Equals => strops::eq(s, needle, ci),
                        StrOp::Prefix => strops::starts_with(s, needle, ci),
                        _ => strops::ends_with(s, needle, ci),
                    })
                }
            }
            (Test::Regex(d), Value::Str(s)) => {
                let Some(rec) = usize::try_from(d).ok().and_then(|d| self.dfas.get(d)) else {
                    cx.fuel.charge(1)?;
                    cx.verdict.fault();
                    return Ok(false);
                };
                if rec.nreq > 0 {
                    if let Some(p) = cx.present(f, s.as_bytes())? {
                        cx.fuel.charge(1)?;
                        let missing = rec
                            .req
                            .iter()
                            .take(rec.nreq)
                            .any(|m| m.iter().zip(&p).all(|(a, b)| a & b == 0));
                        if missing {
                            return Ok(false);
                        }
                    }
                }
                cx.fuel.charge(len64(s.len()).saturating_add(1))?;
                match rec.dfa.try_search_fwd(&Input::new(s).earliest(true)) {
                    Ok(m) => Ok(m.is_some()),
                    Err(_) => {
                        cx.verdict.fault();
                        Ok(false)
                    }
                }
            }
            // Type mismatch: already counted by the event-level type check.
            _ => {
                cx.fuel.charge(1)?;
                Ok(false)
            }
        }
    }
}

/// Per-event working memory of an evaluation (640 bytes): the byte-presence
/// set of each string field, filled on first use. Its contents never carry
/// over from one evaluation to the next (each run tracks which entries it
/// filled), so one value can be reused for every evaluation.
#[derive(Debug)]
pub struct EvalScratch {
    present: [[u64; 4]; MAX_INPUTS],
}

impl EvalScratch {
    /// Fresh working memory.
    #[must_use]
    pub const fn new() -> EvalScratch {
        EvalScratch {
            present: [[0; 4]; MAX_INPUTS],
        }
    }
}

impl Default for EvalScratch {
    fn default() -> EvalScratch {
        EvalScratch::new()
    }
}

struct Cx<'v, 'e, 'f> {
    vals: &'v [Value<'e>],
    bad: u64,
    fuel: &'f mut Fuel,
    verdict: &'f mut Verdict,
    /// Per string field: which byte values occur (computed on first use;
    /// `present_done` says which entries belong to this event).
    present: &'f mut [[u64; 4]; MAX_INPUTS],
    present_done: u64,
}

impl Cx<'_, '_, '_> {
    /// The byte-presence set of field `f` (value `s`), computed once per event.
    fn present(&mut self, f: usize, s: &[u8]) -> Result<Option<[u64; 4]>, Exhausted> {
        let bit = u32::try_from(f)
            .ok()
            .and_then(|f| 1u64.checked_shl(f))
            .unwrap_or(0);
        let Some(slot) = self.present.get_mut(f) else {
            return Ok(None);
        };
        if self.present_done & bit == 0 {
            self.fuel.charge(len64(s.len()))?;
            let mut set = [0u64; 4];
            for &b in s {
                if let Some(w) = set.get_mut(usize::from(b >> 6)) {
                    *w |= 1u64.wrapping_shl(u32::from(b & 63));
                }
            }
            *slot = set;
            self.present_done |= bit;
        }
        Ok(Some(*slot))
    }

    fn bad_field(&self, f: usize) -> bool {
        let bit = u32::try_from(f)
            .ok()
            .and_then(|f| 1u64.checked_shl(f))
            .unwrap_or(0);
        self.bad & bit != 0
    }
}
