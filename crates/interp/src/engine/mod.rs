//! The indexed engine.
//!
//! # Model
//! An instance matches an event of its template type when every criterion
//! matches its field (criterion `k` applies to field `k`; `Any` always
//! matches). String criteria compare the bytes of the UTF-8 field; a
//! case-insensitive criterion compares the ASCII-lower-cased field with the
//! needle (stored folded; the validator proves it). A regex criterion matches
//! when its DFA finds a match anywhere in the field (unanchored search).
//! With rows (docs/FORMAT.md, "Rows"), the criteria of row 0 and of the AND
//! rows form one conjunction (one list, anchored and ordered together), and
//! the instance matches only if, after that, no UNLESS row matches in full.
//!
//! # Faults
//! A value whose type is not its field's schema type counts **one** fault per
//! evaluation, and every non-`Any` criterion on that field is a non-match.
//! A DFA search error or an internal inconsistency counts one fault each and is
//! a non-match. Faults are never panics. A search error is a quit state, which
//! only a DFA built with quit bytes has: the writer never builds one, but a
//! file's bytes can hold one. Such a DFA counts one fault per search: one per
//! event for a regex group with a cache slot, however many of its patterns
//! the content uses. The reference evaluator counts one per criterion it
//! evaluates, in content order, so with such DFAs the two fault counts can
//! differ; their matches cannot.
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
//!   A gram whose entries all stand for one needle fires only where that
//!   needle occurs around it (compared in place, the needle's length); a
//!   gram without its needle stays open for its next occurrence. After one
//!   field's worth of bytes of such comparisons, hits fire on the gram alone.
//!
//! - **regex with a required literal**: the DFA entry's literal hint (at least
//!   4 bytes), once [`literal_required`] has *proven* at load that every
//!   haystack the DFA matches contains it, is indexed exactly like a contains
//!   needle (ranked just below a contains needle of the same length); the
//!   DFA still decides. Unproven hints are ignored (docs/FORMAT.md, "Required
//!   literals": the hint is the signer's claim).
//! - **regex groups** (docs/FORMAT.md, "Regex groups": several regexes of one
//!   field sharing one multi-pattern DFA): each group with a slot in the
//!   per-event cache ([`GROUP_SLOTS`] per template type) is scanned at most
//!   once per event, and the scan's result (one bit per pattern) answers
//!   every member's criterion after that. A group whose literal the proof
//!   holds for (every match of *any* of its patterns contains it; the writer
//!   groups regexes by literal) is one entry of the gram index under a
//!   virtual id: a gram hit scans the group and makes candidates of the
//!   instances of the patterns that matched, not of every member. So is a
//!   group whose members carry **literal sets** (docs/FORMAT.md, "Literal
//!   sets"): the union of their hints is proven with
//!   [`any_literal_required`], and each member literal's gram names the
//!   group; the group fires once per field however many of them occur. A
//!   group without either is scanned every event, with the same effect
//!   (`Anchor::Group`, ranked just above integer equals). The groups one
//!   field fires (its literal groups whose gram occurred, its every-event
//!   groups) are fired after its gram pass, their scans run first, up to
//!   eight DFAs stepping through the field side by side (`batch`): the
//!   same scans and fuel as one at a time, about three times faster.
//! - **quiet states**: the proof of a single literal also yields the DFA
//!   states it reached with no progress into the literal; from each of
//!   them, every match (and every quit state) needs a whole occurrence still
//!   to come. A group scan, or a batched scan, that is in one of them past
//!   the start of the field's last occurrence of the literal stops there
//!   (`quiet`): exact, so a literal hit early in a long command line costs
//!   the bytes up to the hit, not the field. Fuel still counts the whole
//!   field. Literal sets keep none (searching for the last of several
//!   members cost more than it saved). The next scan of the same literal
//!   in the same field reuses the search for its last occurrence
//!   (`quiet::QuietMemo`, one entry per evaluation; equal literals of
//!   different files share one address from load on).
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
//! - a contains-gram scan: `field.len()`, plus `steps` per bloom hit, plus
//!   the needle's length per in-place confirmation (at most `field.len()` in
//!   all);
//! - a regex group: `field.len() + 1` for its scan (plus 1 for its byte-class
//!   test when prefiltered), once per event when it has a cache slot; 1 for
//!   each member criterion's look-up after that, and 1 per group reached as
//!   an anchor (each gram hit of a literal set's members: 1);
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

use changuard_format::analysis;
use changuard_format::regex_automata::Anchored;
use changuard_format::regex_automata::Input;
use changuard_format::regex_automata::dfa::Automaton;
use changuard_format::regex_automata::dfa::dense::DFA;
use changuard_format::regex_automata::util::primitives::StateID;
use changuard_format::regex_automata::util::start;
use changuard_format::schema::{FieldType, MAX_INPUTS, TEMPLATE_TYPES, TemplateType};
use changuard_format::{Action, Criterion, StrOp, ValidChannel};

mod batch;
mod build;
mod cost;
mod eval;
mod grams;
mod proofs;
mod quiet;
mod scan;
mod tables;

pub use eval::EvalScratch;

use grams::{GramNeedle, build_grams, choose_grams, hash_keys};
use proofs::{any_literal_required, literal_required, required_classes};
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
    /// literal proofs), before the per-byte allowance; analyses that do not
    /// fit are skipped, which changes no result, only speed.
    pub proof_steps: u64,
    /// Analysis steps added to the budget per byte of serialized DFA loaded:
    /// the budget grows with the content (as every other load-time cost
    /// does) instead of starving large sets, and stays linear in it.
    pub proof_steps_per_dfa_byte: u64,
    /// Regex groups of one template type given a slot in the per-event
    /// cache, in load order (at most [`GROUP_SLOTS`], the default); a group
    /// past them is scanned on every use and the cost bound counts it so.
    /// Less only to exercise that path.
    pub group_slots: usize,
}

impl EngineConfig {
    /// Default string field cap: 8 KiB of UTF-8.
    pub const DEFAULT_FIELD_CAP: usize = 8192;
    /// Default load-time analysis budget: 2^26 steps (16 times the largest
    /// single analysis), a bounded slice of DriverEntry whatever the content.
    pub const DEFAULT_PROOF_STEPS: u64 = 1 << 26;
    /// Default per-byte allowance: 16 steps per DFA byte. A file's DFAs are at
    /// most 8 MiB (`MAX_TOTAL_DFA_LEN`), so at most 2^27 steps more per file.
    /// Measured: the 3,000-pattern pipe-name and family sets (20 and 24 MB of
    /// DFAs) then skip no analysis; with the flat 2^26 they skipped 3,864 and
    /// 3,258 and ran 80-600x slower (docs/PERFORMANCE.md, "How an event is evaluated", item 6).
    pub const DEFAULT_PROOF_STEPS_PER_DFA_BYTE: u64 = 16;
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            field_cap: Self::DEFAULT_FIELD_CAP,
            fuel_limit: None,
            proof_steps: Self::DEFAULT_PROOF_STEPS,
            proof_steps_per_dfa_byte: Self::DEFAULT_PROOF_STEPS_PER_DFA_BYTE,
            group_slots: GROUP_SLOTS,
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
    /// Instances anchored on a regex group's scan.
    pub anchored_group: u32,
    /// Instances evaluated for every event of their type.
    pub always: u32,
    /// DFAs loaded.
    pub dfas: u32,
    /// DFAs with at least one required byte class (prefiltered; a regex
    /// group's members each count).
    pub dfas_prefiltered: u32,
    /// Total serialized size of the loaded DFAs (bytes, borrowed, not copied).
    pub dfa_bytes: u64,
    /// Heap bytes of the engine's own tables.
    pub index_bytes: u64,
    /// DFA analyses skipped because the load-time budget was spent
    /// (`EngineConfig::proof_steps`).
    pub proofs_skipped: u32,
    /// Regex groups loaded (shared multi-pattern DFAs).
    pub groups: u32,
    /// DFA entries that are members of a group (counted in `dfas` too).
    pub dfas_grouped: u32,
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
    /// The AND rows' criteria (row 0 and the AND rows, `Any` dropped,
    /// cheapest first): `crits[crit_start..][..crit_len]`.
    crit_start: u32,
    crit_len: u32,
    /// The UNLESS rows: `unless[unless_start..][..unless_len]`, each a
    /// `(start, len)` range of `crits`.
    unless_start: u32,
    unless_len: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Anchor {
    None,
    Contains {
        field: u8,
        crit: u32,
    },
    Affix {
        field: u8,
        crit: u32,
    },
    StrEq {
        field: u8,
        crit: u32,
    },
    IntEq {
        field: u8,
        value: u64,
    },
    /// A regex in a regex group with a cache slot (docs/FORMAT.md, "Regex
    /// groups"): candidate when the group's scan finds its pattern.
    Group {
        field: u8,
        crit: u32,
    },
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
/// Most distinct grams per (template, field); the per-field dedupe bitset in
/// [`EvalScratch`] is this many bits (1 KiB). Instances past it are checked
/// always.
const GRAM_KEYS_MAX: usize = 8192;

#[derive(Debug, Default)]
struct GramIndex<'a> {
    bloom: Vec<u64>,
    keys: Vec<u32>,
    /// `(start, len)` into `insts`, parallel to `keys`.
    ranges: Vec<(u32, u32)>,
    insts: Vec<u32>,
    /// Parallel to `keys`: the one needle every entry of the key stands for,
    /// checked where the gram occurs before the entries fire; `None` when
    /// the entries stand for different needles (fired on the gram alone).
    confirm: Vec<Option<Confirm<'a>>>,
    /// `keys` hashed (`grams::hash_keys`): open-addressed `(gram, key
    /// index)` slots, a power of two of them, every key at most `probes`
    /// slots from its home. Empty when no table met that bound (the probe
    /// then searches `keys`).
    table: Vec<(u32, u32)>,
    probes: u32,
    /// `32 - log2(table.len())`: a gram's home slot is its hash's top bits.
    shift: u32,
}

/// The needle behind a gram key (`GramIndex::confirm`). A hit of the gram at
/// field offset `p` is confirmed when the needle occurs at `p - off`: `off`
/// is the gram's *first* offset in the needle, so every occurrence of the
/// needle shows the gram at a position the probe visits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Confirm<'a> {
    needle: &'a [u8],
    off: u32,
    /// Compared ASCII case-insensitively (a folded contains needle, or a
    /// literal proven folded).
    ci: bool,
}

impl Confirm<'_> {
    /// Does the needle occur in `field` with its gram at `p`? Reads at most
    /// `needle.len()` bytes.
    fn occurs_at(&self, field: &[u8], p: usize) -> bool {
        let start = usize::try_from(self.off)
            .ok()
            .and_then(|o| p.checked_sub(o));
        let window = start.and_then(|s| field.get(s..s.checked_add(self.needle.len())?));
        match window {
            Some(w) if self.ci => w.eq_ignore_ascii_case(self.needle),
            Some(w) => w == self.needle,
            None => false,
        }
    }
}

#[derive(Debug, Default)]
struct FieldIndex<'a> {
    /// Equals + prefix needles: `[case-sensitive, case-insensitive]`.
    fwd: [StrTable<'a>; 2],
    /// Suffix needles: `[case-sensitive, case-insensitive]`.
    rev: [StrTable<'a>; 2],
    grams: GramIndex<'a>,
    ints: Vec<(u64, u32)>,
    /// Regex groups some instance is anchored on, scanned every event.
    groups: Vec<GroupAnchor>,
    /// Regex groups with a proven literal: in the gram index under id
    /// `VIRTUAL | k`, scanned only when their literal's gram occurs.
    lit_groups: Vec<GroupAnchor>,
    /// Instances anchored on a single regex's proven literal set: in the
    /// gram index under `VIRTUAL | SINGLE | k`, once per member, evaluated
    /// at the first member's hit of an event (at most [`SET_SINGLES_MAX`]).
    set_singles: Vec<u32>,
    /// Some instance of the gram index has a regex of its own on this field
    /// as its first criterion (the gram pass holds such candidates back for
    /// a batched scan, `batch`); without one, it checks no candidate for it.
    holds: bool,
}

/// Marks a virtual gram entry that names `set_singles`, not `lit_groups`.
const SINGLE: u32 = 1 << 30;

/// Field `f`'s bit in a field mask (none past bit 63: `MAX_INPUTS <= 64`).
fn field_bit(f: usize) -> u64 {
    u32::try_from(f)
        .ok()
        .and_then(|f| 1u64.checked_shl(f))
        .unwrap_or(0)
}

/// The mask of the fields with anything indexed ([`TemplateIndex::active`]).
fn active_fields(fields: &[FieldIndex<'_>]) -> u64 {
    let mut mask = 0;
    for (f, fi) in fields.iter().enumerate() {
        if fi.active() {
            mask |= field_bit(f);
        }
    }
    mask
}

impl FieldIndex<'_> {
    /// Whether evaluating a value of this field can do anything: an index
    /// to probe (the literal groups and `set_singles` are reached only
    /// through `grams`) or groups to scan every event.
    fn active(&self) -> bool {
        self.fwd.iter().chain(&self.rev).any(|t| !t.keys.is_empty())
            || !self.grams.keys.is_empty()
            || !self.ints.is_empty()
            || !self.groups.is_empty()
    }
}

/// Most instances per (template, field) anchored on a single regex's literal
/// set: the per-probe "evaluated already" bitset on the stack is this many
/// bits (32 bytes). Past it, instances are checked always.
const SET_SINGLES_MAX: usize = 256;

/// Marks a gram index entry that names a literal group (`lit_groups`), not
/// an instance (instance numbers stay far below: 16 files of at most
/// `MAX_INSTANCES`).
const VIRTUAL: u32 = 1 << 31;

/// The instances anchored on one regex group's patterns.
#[derive(Debug, Default)]
struct GroupAnchor {
    /// The group's first DFA record (its scan and cache slot).
    first: u32,
    /// Instances, ordered by pattern id.
    insts: Vec<u32>,
    /// Pattern `p`'s instances are `insts[starts[p]..starts[p + 1]]` (65 entries).
    starts: Vec<u32>,
    /// A literal group with more than one gram entry (a literal set): an
    /// event may reach it more than once, so it is fired at most once.
    multi: bool,
}

#[derive(Debug, Default)]
struct TemplateIndex<'a> {
    fields: Vec<FieldIndex<'a>>,
    /// Bit `f` set when field `f` has anything indexed (`FieldIndex::active`):
    /// evaluation visits only these fields, as the others would do nothing.
    active: u64,
    /// Instances evaluated for every event of the template.
    always: Vec<u32>,
    /// The instances of `always` whose first criterion is a regex of its
    /// own, as `(field, instance)` sorted by field: moved out of `always` at
    /// load (`Engine::split_always`, after the cost bound counted them
    /// there) so that each field's scans run batched (`batch`).
    always_regex: Vec<(u32, u32)>,
    /// Words of the per-event group cache's "filled" bits this template's
    /// slots use (`GroupSlots::used`, rounded up): all an evaluation clears.
    slot_words: usize,
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
    /// UNLESS rows of every instance, as `(start, len)` ranges of `crits`.
    unless: Vec<(u32, u32)>,
    kmp: Vec<u16>,
    dfas: Vec<DfaRec<'a>>,
    templates: Vec<TemplateIndex<'a>>,
    stats: EngineStats,
    lit_stats: LiteralStats,
    /// Per template type ([`TEMPLATE_TYPES`] order): group slots handed out.
    group_slots: [GroupSlots; TEMPLATE_TYPES.len()],
    /// Load-time analysis steps left (only during the build).
    proofs: proofs::Budget,
    /// The members of the proven literal sets (`DfaRec::set`).
    set_members: Vec<&'a [u8]>,
    /// The quiet-state bitsets of the DFAs proven to need a literal
    /// (`DfaRec::quiet`, [`any_literal_required`]).
    quiet_bits: Vec<u64>,
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
    /// For a group anchored on a literal set, its shortest member.
    lit: Option<&'a [u8]>,
    /// `lit` (or `set`) was proven ASCII case-insensitively.
    lit_folded: bool,
    /// A regex group's proven literal set (docs/FORMAT.md, "Literal sets"):
    /// `Engine::set_members[start..start + len]`, every member at least
    /// [`LIT_MIN`] bytes. Every match of any pattern of the group's DFA
    /// contains one of them.
    set: Option<(u32, u32)>,
    /// Set when the DFA is shared by a regex group (docs/FORMAT.md, "Regex
    /// groups"): this entry is one pattern of it.
    group: Option<GroupRef>,
    /// With `lit` proven (not a set): its quiet states,
    /// `Engine::quiet_bits[start..start + len]` (`len` 0: none kept). A
    /// scan in one of them past the start of the field's last occurrence
    /// of `lit` may stop.
    quiet: (u32, u32),
    /// [`scan::watch_limit`] of `dfa`: the states above it need nothing
    /// from a lockstep walk.
    watch: StateID,
}

/// Most regex groups of one template type the per-event cache holds: each
/// group with a slot is scanned at most once per event, and the cost bound
/// counts it once; a group past them is scanned on every use. The driver's
/// loader activates at most 16 channels of at most `MAX_GROUPS_PER_TEMPLATE`
/// = 16 groups each (256); the engine takes any number of channels (replay,
/// benchmarks), so it holds four times that: 64 full files (8 KiB of
/// scratch).
pub const GROUP_SLOTS: usize = 1024;

/// One DFA entry's place in its regex group.
#[derive(Clone, Copy, Debug)]
struct GroupRef {
    /// Its group's slot in the per-event cache ([`EvalScratch`]), if the
    /// template had one left; without one, each use scans the group.
    slot: Option<u16>,
    /// This entry's pattern bit in a scan's result.
    bit: u64,
    /// This entry's pattern id.
    pattern: u8,
    /// The group's first member's record (whose DFA is scanned).
    first: u32,
}

/// Regex groups of one template type (the cost model charges each slot's scan
/// once per event).
#[derive(Clone, Copy, Debug, Default)]
struct GroupSlots {
    /// Slots there are (`EngineConfig::group_slots`, at most [`GROUP_SLOTS`]).
    cap: u16,
    /// Slots handed out.
    used: u16,
    /// Of those, groups with a byte-class prefilter (one more fuel per scan).
    prefiltered: u16,
}

/// Shortest required literal used as an anchor (one 4-byte gram).
const LIT_MIN: usize = 4;
/// Most members of a regex group's literal set (the union of its members'
/// hints), and their most bytes: beyond, the group is scanned every event.
const SET_MEMBERS_MAX: usize = changuard_format::limits::GROUP_SET_MEMBERS;
const SET_BYTES_MAX: usize = changuard_format::limits::GROUP_SET_BYTES;
/// Per-DFA budget of the required-literal proof (states x literal x alphabet;
/// `changuard_format::analysis`, the writer's cost model too).
const LITERAL_PROOF_STEPS: usize = changuard_format::limits::LITERAL_PROOF_STEPS;

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
    /// Regex groups anchored on a proven literal set (docs/FORMAT.md,
    /// "Literal sets"); their hints count in `hints` and `proven` like
    /// single literals.
    pub sets: u32,
    /// Regexes of their own (outside a group) with a proven literal set.
    pub single_sets: u32,
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

/// Is bit `k` of `bits` set? `None` when `k` is out of range.
#[inline]
fn marked(bits: &[u64], k: usize) -> Option<bool> {
    let word = bits.get(k >> 6)?;
    Some(*word & 1u64.wrapping_shl(u32::try_from(k & 63).ok()?) != 0)
}

/// Set bit `k` of `bits`: `Some(true)` if it was clear, `Some(false)` if
/// it was set already, `None` if `k` is past the end.
#[inline]
fn first_mark(bits: &mut [u64], k: usize) -> Option<bool> {
    let word = bits.get_mut(k >> 6)?;
    let bit = 1u64.wrapping_shl(u32::try_from(k & 63).ok()?);
    let new = *word & bit == 0;
    *word |= bit;
    Some(new)
}

fn gram_bit(g: u32) -> (usize, u64) {
    let h = g.wrapping_mul(0x9E37_79B1).wrapping_shr(16);
    let word = usize::try_from(h.wrapping_shr(6)).unwrap_or(0);
    (word, 1u64.wrapping_shl(h & 63))
}

impl<'a> Engine<'a> {
    fn crit(&self, k: u32) -> Option<Crit<'a>> {
        self.crits.get(usize::try_from(k).ok()?).copied()
    }

    /// The members of a proven literal set (`DfaRec::set`).
    fn set_of(&self, (start, len): (u32, u32)) -> &[&'a [u8]] {
        let s = usize::try_from(start).unwrap_or(usize::MAX);
        let e = s.saturating_add(usize::try_from(len).unwrap_or(0));
        self.set_members.get(s..e).unwrap_or(&[])
    }

    fn inst_crits(&self, inst: &Inst) -> Option<&[Crit<'a>]> {
        let s = usize::try_from(inst.crit_start).ok()?;
        let e = s.checked_add(usize::try_from(inst.crit_len).ok()?)?;
        self.crits.get(s..e)
    }

    /// The UNLESS rows of `inst`, each as its criteria.
    fn inst_unless(&self, inst: &Inst) -> Option<&[(u32, u32)]> {
        let s = usize::try_from(inst.unless_start).ok()?;
        let e = s.checked_add(usize::try_from(inst.unless_len).ok()?)?;
        self.unless.get(s..e)
    }

    fn row_crits(&self, (start, len): (u32, u32)) -> Option<&[Crit<'a>]> {
        let s = usize::try_from(start).ok()?;
        let e = s.checked_add(usize::try_from(len).ok()?)?;
        self.crits.get(s..e)
    }

    fn heap_bytes(&self) -> u64 {
        use core::mem::size_of;
        let mut b = self.insts.capacity().saturating_mul(size_of::<Inst>());
        b = b.saturating_add(self.unless.capacity().saturating_mul(8));
        b = b.saturating_add(self.crits.capacity().saturating_mul(size_of::<Crit<'_>>()));
        b = b.saturating_add(self.kmp.capacity().saturating_mul(2));
        b = b.saturating_add(
            self.dfas
                .capacity()
                .saturating_mul(size_of::<DFA<&[u32]>>()),
        );
        for t in &self.templates {
            b = b.saturating_add(t.always.capacity().saturating_mul(4));
            b = b.saturating_add(t.always_regex.capacity().saturating_mul(8));
            for f in &t.fields {
                for tb in f.fwd.iter().chain(f.rev.iter()) {
                    b = b.saturating_add(tb.keys.capacity().saturating_mul(size_of::<Key<'_>>()));
                    b = b.saturating_add(tb.insts.capacity().saturating_mul(4));
                }
                b = b.saturating_add(f.ints.capacity().saturating_mul(16));
                b = b.saturating_add(f.grams.bloom.capacity().saturating_mul(8));
                b = b.saturating_add(f.grams.keys.capacity().saturating_mul(4));
                b = b.saturating_add(f.grams.table.capacity().saturating_mul(8));
                b = b.saturating_add(f.grams.ranges.capacity().saturating_mul(8));
                b = b.saturating_add(f.grams.insts.capacity().saturating_mul(4));
                b = b.saturating_add(f.set_singles.capacity().saturating_mul(4));
                b = b.saturating_add(
                    f.grams
                        .confirm
                        .capacity()
                        .saturating_mul(core::mem::size_of::<Option<Confirm<'_>>>()),
                );
            }
        }
        b = b.saturating_add(
            self.set_members
                .capacity()
                .saturating_mul(size_of::<&[u8]>()),
        );
        b = b.saturating_add(self.quiet_bits.capacity().saturating_mul(8));
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
}
