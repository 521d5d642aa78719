//! DFA scans of one field, batched: the gram pass holds back the literal
//! groups it fires and the instances it makes candidates whose first
//! criterion is a regex of its own on this field. Then every scan the field
//! is about to need (those groups, its every-event groups, those regexes)
//! runs in lockstep ([`scan::group_scans`]); the groups go into the
//! per-event cache, the regexes' results to their instances; and only then
//! are the groups fired and the instances evaluated. The always list's
//! instances whose first criterion is a regex of its own are held and run
//! the same way, a field at a time, where a field has a full batch of them
//! ([`Engine::split_always`]).
//!
//! Invariant: batching moves work, it never adds any. A scan runs here only
//! where evaluation would run it next: a group with a cache slot not yet
//! filled this event, about to be fired on this field (`group_mask` would
//! scan it), or an instance's first criterion (`check` would scan it before
//! anything else). The prefilter test and the scan are charged here exactly
//! as there, and there they are then not charged again (the slot is
//! filled; the instance is evaluated from its second criterion on). So fuel
//! used is the same as without batching (only the order of the charges
//! moves, and with it which matches an exhausted evaluation had found).

use super::eval::{Cx, charge_scan};
use super::quiet::Quiet;
use super::scan::{LANES, group_scans};
use super::*;

/// Literal groups, and instances, one gram pass holds back at most; when
/// either list is full, the pass runs what it holds (a batch) and goes on.
/// (The lists live in [`EvalScratch`]; 32 keeps them a few hundred bytes.)
pub(super) const PENDING_MAX: usize = 32;

/// What a gram pass held back, in order: literal groups (indexes into the
/// field's `lit_groups`) and instances.
#[derive(Debug)]
pub(super) struct Pending {
    groups: Held,
    insts: Held,
    /// The result of held instance `k`'s first criterion, once scanned
    /// (`None` past the instances held: `clear` resets what it used).
    firsts: [Option<bool>; PENDING_MAX],
}

/// Up to [`PENDING_MAX`] ids.
#[derive(Debug)]
struct Held {
    ids: [u32; PENDING_MAX],
    len: usize,
}

impl Held {
    const fn new() -> Held {
        Held {
            ids: [0; PENDING_MAX],
            len: 0,
        }
    }

    /// False when full.
    fn push(&mut self, id: u32) -> bool {
        let Some(cell) = self.ids.get_mut(self.len) else {
            return false;
        };
        *cell = id;
        self.len = self.len.saturating_add(1);
        true
    }

    fn ids(&self) -> &[u32] {
        self.ids.get(..self.len).unwrap_or_default()
    }

    /// The held ids as literal groups of field index `fi`.
    fn anchors<'f>(&self, fi: &'f FieldIndex<'_>) -> impl Iterator<Item = &'f GroupAnchor> {
        self.ids()
            .iter()
            .filter_map(|&k| fi.lit_groups.get(usize::try_from(k).ok()?))
    }
}

impl Pending {
    pub(super) const fn new() -> Pending {
        Pending {
            groups: Held::new(),
            insts: Held::new(),
            firsts: [None; PENDING_MAX],
        }
    }

    /// Nothing held.
    pub(super) fn is_empty(&self) -> bool {
        self.groups.len == 0 && self.insts.len == 0
    }

    pub(super) fn clear(&mut self) {
        // Only results of instances held count; none survive a clear.
        if let Some(used) = self.firsts.get_mut(..self.insts.len) {
            used.fill(None);
        }
        self.groups.len = 0;
        self.insts.len = 0;
    }

    /// Hold back literal group `k`; false when full (fire it now).
    pub(super) fn push_group(&mut self, k: u32) -> bool {
        self.groups.push(k)
    }

    /// Hold back instance `g`; false when full (evaluate it now).
    pub(super) fn push_inst(&mut self, g: u32) -> bool {
        self.insts.push(g)
    }

    /// The held literal groups of field index `fi`.
    pub(super) fn groups<'f>(
        &self,
        fi: &'f FieldIndex<'_>,
    ) -> impl Iterator<Item = &'f GroupAnchor> {
        self.groups.anchors(fi)
    }

    /// The held instances, each with its first criterion's result.
    pub(super) fn insts(&self) -> impl Iterator<Item = (u32, Option<bool>)> {
        self.insts.ids().iter().copied().zip(self.firsts)
    }
}

/// Where a lane's result goes.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// A group's cache slot.
    Slot(u16),
    /// The first criterion of held instance `k` (its index in `insts`).
    First(usize),
}

impl<'a> Engine<'a> {
    /// Set each field index's `holds` (load time): whether any instance its
    /// gram pass can make a candidate has a regex of its own on the field
    /// first. Literal-only fields then skip the check per candidate.
    pub(super) fn mark_holding_fields(&mut self) {
        for t in 0..self.templates.len() {
            let fields = self.templates.get(t).map_or(0, |ti| ti.fields.len());
            for f in 0..fields {
                let holds = self
                    .templates
                    .get(t)
                    .and_then(|ti| ti.fields.get(f))
                    .is_some_and(|fi| {
                        fi.grams
                            .insts
                            .iter()
                            .filter(|&&g| g & VIRTUAL == 0)
                            .chain(fi.set_singles.iter().filter(|&&g| g != NONE))
                            .any(|&g| self.single_regex_first(g, f).is_some())
                    });
                if let Some(fi) = self
                    .templates
                    .get_mut(t)
                    .and_then(|ti| ti.fields.get_mut(f))
                {
                    fi.holds = holds;
                }
            }
        }
    }

    /// Move the instances of each template's always list whose first
    /// criterion is a regex of its own into `always_regex`, where a field
    /// has at least [`LANES`] of them (load time, after the cost bound: the
    /// work is the same, only batched).
    pub(super) fn split_always(&mut self) -> Result<(), EngineError> {
        for t in 0..self.templates.len() {
            let Some(always) = self
                .templates
                .get_mut(t)
                .map(|ti| core::mem::take(&mut ti.always))
            else {
                continue;
            };
            let mut rest: Vec<u32> = Vec::new();
            let mut held: Vec<(u32, u32)> = Vec::new();
            for &g in &always {
                match self.first_regex_field(g) {
                    Some(f) => try_push(&mut held, (f, g))?,
                    None => try_push(&mut rest, g)?,
                }
            }
            held.sort_unstable();
            // A field with fewer than a full batch keeps its regexes on the
            // always list: scanned alone, a regex keeps regex-automata's
            // accelerated search, which a lockstep walk gives up (on
            // SigmaHQ's always list, a few regexes per field, batching them
            // was 5-14% slower).
            let mut kept: Vec<(u32, u32)> = Vec::new();
            for same in held.chunk_by(|a, b| a.0 == b.0) {
                for &(f, g) in same {
                    if same.len() >= LANES {
                        try_push(&mut kept, (f, g))?;
                    } else {
                        try_push(&mut rest, g)?;
                    }
                }
            }
            rest.sort_unstable();
            let held = kept;
            if let Some(ti) = self.templates.get_mut(t) {
                ti.always = rest;
                ti.always_regex = held;
            }
        }
        Ok(())
    }

    /// The field of instance `g`'s first criterion when that is a regex of
    /// its own ([`Engine::single_regex_first`]).
    fn first_regex_field(&self, g: u32) -> Option<u32> {
        let inst = self.insts.get(usize::try_from(g).ok()?)?;
        let f = usize::from(self.inst_crits(inst)?.first()?.field);
        self.single_regex_first(g, f)?;
        u32::try_from(f).ok()
    }

    /// Instance `g`'s first criterion's DFA, when that criterion is a regex
    /// of its own (not a group member) on field `f`: an instance worth
    /// holding back for [`Engine::prescan`].
    pub(super) fn single_regex_first(&self, g: u32, f: usize) -> Option<&DfaRec<'a>> {
        let inst = self.insts.get(usize::try_from(g).ok()?)?;
        let c = self.inst_crits(inst)?.first()?;
        let Test::Regex(d) = c.test else {
            return None;
        };
        let rec = self.dfas.get(usize::try_from(d).ok()?)?;
        (usize::from(c.field) == f && rec.group.is_none()).then_some(rec)
    }

    /// Scan, [`LANES`] at a time, every group field index `fi` is about to
    /// fire (the literal groups `pending` holds, then `every`) whose cache
    /// slot is not yet filled this event, each once, into its slot; and the
    /// first criterion of each instance `pending` holds. Field `f`, value
    /// `s`. Charges what evaluation would (module docs).
    pub(super) fn prescan(
        &self,
        fi: &FieldIndex<'a>,
        every: &[GroupAnchor],
        pending: &mut Pending,
        f: usize,
        s: &[u8],
        cx: &mut Cx<'_, '_, '_>,
    ) -> Result<(), Exhausted> {
        let Pending {
            groups: held,
            insts,
            firsts,
        } = pending;
        let anchors = held.anchors(fi).chain(every);
        let insts = insts.ids();
        let groups = anchors.filter_map(|a| {
            let rec = usize::try_from(a.first)
                .ok()
                .and_then(|d| self.dfas.get(d))?;
            Some((rec, Target::Slot(rec.group?.slot?)))
        });
        let singles = insts
            .iter()
            .enumerate()
            .filter_map(|(k, &g)| Some((self.single_regex_first(g, f)?, Target::First(k))));
        // Placeholders until filled: only the first `n` are ever scanned.
        let Some(fill) = self.dfas.first().map(|r| &r.dfa) else {
            return Ok(());
        };
        let mut dfas = [fill; LANES];
        let mut quiet = [Quiet::NEVER; LANES];
        let mut watch = [StateID::ZERO; LANES];
        let mut targets = [Target::First(usize::MAX); LANES];
        let mut n = 0usize;
        for (rec, target) in groups.chain(singles) {
            if let Target::Slot(slot) = target {
                let batched = targets
                    .get(..n)
                    .unwrap_or_default()
                    .iter()
                    .any(|t| matches!(t, Target::Slot(x) if *x == slot));
                if batched || cx.cached_group(Some(slot)).is_some() {
                    continue;
                }
            }
            if !charge_scan(rec, f, s, cx)? {
                put(target, Some(0), firsts, cx);
                continue;
            }
            if let (Some(d), Some(q), Some(w), Some(t)) = (
                dfas.get_mut(n),
                quiet.get_mut(n),
                watch.get_mut(n),
                targets.get_mut(n),
            ) {
                *d = &rec.dfa;
                *q = self.quiet_for(rec, f, s, cx.quiet);
                *w = rec.watch;
                *t = target;
                n = n.saturating_add(1);
            }
            if n == LANES {
                scan_into(&dfas, &quiet, &watch, &targets, s, firsts, cx);
                n = 0;
            }
        }
        if let (Some(d), Some(q), Some(w), Some(t)) = (
            dfas.get(..n),
            quiet.get(..n),
            watch.get(..n),
            targets.get(..n),
        ) {
            scan_into(d, q, w, t, s, firsts, cx);
        }
        Ok(())
    }
}

/// Scan `dfas` over `s` and deliver each result to its target.
fn scan_into(
    dfas: &[&DFA<&[u32]>],
    quiet: &[Quiet<'_>],
    watch: &[StateID],
    targets: &[Target],
    s: &[u8],
    firsts: &mut [Option<bool>; PENDING_MAX],
    cx: &mut Cx<'_, '_, '_>,
) {
    let mut out = [None; LANES];
    match (dfas, targets) {
        // A regex of its own with no company: regex-automata's own search,
        // whose accelerated states skip runs of bytes (a lockstep walk
        // cannot: a lane would leave the others behind), where it agrees
        // with a walk ([`scan::single_match`]).
        ([dfa], [Target::First(_)]) => {
            if let Some(o) = out.first_mut() {
                let w = watch.first().copied().unwrap_or(StateID::MAX);
                *o = scan::single_match(dfa, w, s).map(u64::from);
            }
        }
        _ => group_scans(dfas, quiet, watch, s, &mut out),
    }
    for (&target, mask) in targets.iter().zip(out) {
        put(target, mask, firsts, cx);
    }
}

/// Deliver one scan result (`None`: a quit state, one fault and no match).
fn put(
    target: Target,
    mask: Option<u64>,
    firsts: &mut [Option<bool>; PENDING_MAX],
    cx: &mut Cx<'_, '_, '_>,
) {
    if mask.is_none() {
        cx.verdict.fault();
    }
    let mask = mask.unwrap_or(0);
    match target {
        Target::Slot(slot) => cx.store_group(slot, mask),
        Target::First(k) => {
            if let Some(r) = firsts.get_mut(k) {
                *r = Some(mask != 0);
            }
        }
    }
}
