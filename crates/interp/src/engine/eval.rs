//! Evaluating one event: the type check, the index probes, the candidate
//! instances and the always list, every step charged to the fuel budget
//! before it runs (module docs of `engine`, "Fuel"). Allocates nothing.

use super::*;
use batch::Pending;
use quiet::QuietMemo;
use scan::group_scan;

impl<'a> Engine<'a> {
    /// Evaluate `event` with the template's fuel budget. Clears `verdict` first.
    ///
    /// Allocates nothing; never panics. Its working memory ([`EvalScratch`],
    /// 10.2 KiB) is on the stack: kernel callers use [`Engine::evaluate_in`].
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
            groups: &mut scratch.groups,
            groups_done: &mut scratch.groups_done,
            quiet: &mut scratch.quiet,
        };
        // Only the words this template's slots use (none for content
        // without groups).
        for w in cx.groups_done.iter_mut().take(ti.slot_words) {
            *w = 0;
        }
        *cx.quiet = QuietMemo::NONE;
        // Only the fields with an index, in field order; a bad value's
        // field does nothing (counted as a fault above).
        let mut todo = ti.active & !bad;
        // Bounded: one iteration per set bit (at most 64).
        while todo != 0 {
            let f = usize::try_from(todo.trailing_zeros()).unwrap_or(usize::MAX);
            todo &= todo.wrapping_sub(1);
            let Some(fi) = ti.fields.get(f) else {
                cx.verdict.fault();
                continue;
            };
            match vals.get(f) {
                Some(Value::Str(s)) => {
                    let s = s.as_bytes();
                    for (m, table) in fi.fwd.iter().enumerate() {
                        self.probe_table(table, s, Dir::Fwd, m == 1, &mut cx)?;
                    }
                    for (m, table) in fi.rev.iter().enumerate() {
                        self.probe_table(table, s, Dir::Rev, m == 1, &mut cx)?;
                    }
                    let pending = &mut scratch.pending;
                    pending.clear();
                    self.probe_grams(fi, f, s, &mut scratch.marks, pending, &mut cx)?;
                    // What the pass held back, its scans batched (`batch`).
                    if !pending.is_empty() || !fi.groups.is_empty() {
                        self.flush(fi, f, s, pending, true, &mut cx)?;
                    }
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
        // The always list: its regexes of their own a field at a time, their
        // scans batched as the gram pass's are, then the rest.
        for run in ti.always_regex.chunk_by(|a, b| a.0 == b.0) {
            let f = run
                .first()
                .and_then(|&(f, _)| usize::try_from(f).ok())
                .unwrap_or(usize::MAX);
            self.eval_always_regex(ti.fields.get(f), f, run, &mut scratch.pending, &mut cx)?;
        }
        for &g in &ti.always {
            self.eval_inst(g, &mut cx)?;
        }
        Ok(())
    }

    /// The always list's instances `run` whose first criterion is a regex of
    /// its own on field `f` (index `fi`): held back and flushed as the gram
    /// pass holds its candidates, so their scans run in lockstep; evaluated
    /// one by one when the field's value is not a string of the right type.
    fn eval_always_regex(
        &self,
        fi: Option<&FieldIndex<'a>>,
        f: usize,
        run: &[(u32, u32)],
        pending: &mut Pending,
        cx: &mut Cx<'_, '_, '_>,
    ) -> Result<(), Exhausted> {
        let s = match cx.vals.get(f) {
            Some(Value::Str(s)) if !cx.bad_field(f) => Some(s.as_bytes()),
            _ => None,
        };
        let (Some(fi), Some(s)) = (fi, s) else {
            for &(_, g) in run {
                self.eval_inst(g, cx)?;
            }
            return Ok(());
        };
        pending.clear();
        for &(_, g) in run {
            self.hold(g, (fi, f, s), pending, cx)?;
        }
        if !pending.is_empty() {
            self.flush(fi, f, s, pending, false, cx)?;
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

    /// One anchored regex group of field `f`: its scan (or cached result),
    /// then the instances of the patterns that matched. 1, plus the scan the
    /// first time its slot is used this event.
    fn fire_group(
        &self,
        a: &GroupAnchor,
        f: usize,
        s: &[u8],
        cx: &mut Cx<'_, '_, '_>,
    ) -> Result<(), Exhausted> {
        cx.fuel.charge(1)?;
        let Some(rec) = usize::try_from(a.first).ok().and_then(|d| self.dfas.get(d)) else {
            cx.verdict.fault();
            return Ok(());
        };
        let slot = rec.group.and_then(|g| g.slot);
        let mut mask = group_mask(self, rec, slot, f, s, cx)?;
        // Bounded: one iteration per set bit (at most 64).
        while mask != 0 {
            let p = mask.trailing_zeros();
            mask &= mask.wrapping_sub(1);
            let range = usize::try_from(p).ok().and_then(|p| {
                let lo = usize::try_from(*a.starts.get(p)?).ok()?;
                let hi = usize::try_from(*a.starts.get(p.checked_add(1)?)?).ok()?;
                a.insts.get(lo..hi)
            });
            for &g in range.unwrap_or(&[]) {
                self.eval_inst(g, cx)?;
            }
        }
        Ok(())
    }

    /// The gram pass over one string field; `marks` is working memory for
    /// the keys and literal groups that fired (cleared here, as far as this
    /// field's go).
    /// The literal groups it fires and the candidates whose first criterion
    /// is a regex of their own go into `pending`, to be fired and evaluated
    /// after it.
    fn probe_grams(
        &self,
        fi: &FieldIndex<'a>,
        f: usize,
        field: &[u8],
        marks: &mut GramMarks,
        pending: &mut Pending,
        cx: &mut Cx<'_, '_, '_>,
    ) -> Result<(), Exhausted> {
        let gi = &fi.grams;
        if gi.keys.is_empty() || field.len() < 4 {
            return Ok(());
        }
        cx.fuel.charge(len64(field.len()))?;
        let steps = strops::search_steps(gi.keys.len());
        // Keys whose entries fired (or were checked without a match). In the
        // scratch, not on the stack (1 KiB; kernel stacks are 24 KiB).
        let GramMarks { keys: seen, groups } = marks;
        let seen = seen
            .get_mut(..gi.keys.len().div_ceil(64))
            .unwrap_or_default();
        seen.fill(0);
        // Bytes left for confirming needles where their gram occurs: a gram
        // without its needle fires nothing, and after `field.len()` bytes of
        // failed confirmations the rest fire on the gram alone (the bound
        // counts one field's worth).
        let mut budget = field.len();
        // Literal groups fired this probe: a literal set's members are
        // several grams naming one group, which fires once (each further
        // hit costs 1). Their ids stay below GROUP_SLOTS (each has a slot).
        let fired = groups
            .get_mut(..fi.lit_groups.len().div_ceil(64))
            .unwrap_or_default();
        fired.fill(0);
        // Likewise the instances anchored on a single regex's literal set.
        let mut evaluated = [0u64; SET_SINGLES_MAX / 64];
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
            let Some(d) = gi.find(g) else {
                continue;
            };
            match marked(seen, d) {
                Some(false) => {}
                Some(true) => continue,
                None => {
                    cx.verdict.fault();
                    continue;
                }
            }
            if let Some(Some(c)) = gi.confirm.get(d) {
                if let Some(left) = budget.checked_sub(c.needle.len()) {
                    budget = left;
                    cx.fuel.charge(len64(c.needle.len()))?;
                    // Not here: the key stays open for its next occurrence.
                    if !c.occurs_at(field, i.saturating_sub(3)) {
                        continue;
                    }
                }
            }
            if first_mark(seen, d).is_none() {
                cx.verdict.fault();
                continue;
            }
            let Some(&(s, l)) = gi.ranges.get(d) else {
                cx.verdict.fault();
                continue;
            };
            for &inst in slice32(&gi.insts, s, l) {
                if inst & VIRTUAL == 0 {
                    self.hold_or_eval(inst, (fi, f, field), pending, cx)?;
                    continue;
                }
                if inst & SINGLE != 0 {
                    let k = usize::try_from(inst & !(VIRTUAL | SINGLE)).unwrap_or(usize::MAX);
                    match (first_mark(&mut evaluated, k), fi.set_singles.get(k)) {
                        // Moved to the always list when another member's
                        // gram did not fit.
                        (Some(true), Some(&g)) if g != NONE => {
                            self.hold_or_eval(g, (fi, f, field), pending, cx)?;
                        }
                        (Some(_), Some(_)) => cx.fuel.charge(1)?,
                        _ => cx.verdict.fault(),
                    }
                    continue;
                }
                let k = usize::try_from(inst & !VIRTUAL).unwrap_or(usize::MAX);
                let Some(a) = fi.lit_groups.get(k) else {
                    cx.verdict.fault();
                    continue;
                };
                if a.multi {
                    let Some(first) = first_mark(fired, k) else {
                        cx.verdict.fault();
                        continue;
                    };
                    if !first || a.insts.is_empty() {
                        // Fired already, or moved to the every-event groups
                        // when another member's gram did not fit.
                        cx.fuel.charge(1)?;
                        continue;
                    }
                }
                // Fired after the pass, its scan batched with the
                // field's others (`batch`).
                let k = u32::try_from(k).unwrap_or(u32::MAX);
                if !pending.push_group(k) {
                    self.flush(fi, f, field, pending, false, cx)?;
                    if !pending.push_group(k) {
                        self.fire_group(a, f, field, cx)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A candidate of the gram pass over field `f` (index `fi`, value
    /// `field`): held back when its first criterion is a regex of its own
    /// on `f` (its scan to be batched, `batch`), else evaluated now.
    #[inline]
    fn hold_or_eval(
        &self,
        g: u32,
        (fi, f, field): (&FieldIndex<'a>, usize, &[u8]),
        pending: &mut Pending,
        cx: &mut Cx<'_, '_, '_>,
    ) -> Result<(), Exhausted> {
        if !fi.holds || self.single_regex_first(g, f).is_none() {
            return self.eval_inst(g, cx);
        }
        self.hold(g, (fi, f, field), pending, cx)
    }

    /// Hold instance `g` (its first criterion a regex of its own on field
    /// `f`) in `pending`; when full, run what it holds first.
    #[inline]
    fn hold(
        &self,
        g: u32,
        (fi, f, field): (&FieldIndex<'a>, usize, &[u8]),
        pending: &mut Pending,
        cx: &mut Cx<'_, '_, '_>,
    ) -> Result<(), Exhausted> {
        if !pending.push_inst(g) {
            self.flush(fi, f, field, pending, false, cx)?;
            if !pending.push_inst(g) {
                return self.eval_inst(g, cx);
            }
        }
        Ok(())
    }

    /// Run what `pending` holds for field `f` (value `s`): the batched
    /// scans, then the held instances and groups, then (`every_event`, at
    /// the end of the field) its every-event groups. Empties `pending`.
    // Kept out of line: the gram pass's loop is hot, and most fields of
    // literal content hold nothing.
    #[inline(never)]
    fn flush(
        &self,
        fi: &FieldIndex<'a>,
        f: usize,
        s: &[u8],
        pending: &mut Pending,
        every_event: bool,
        cx: &mut Cx<'_, '_, '_>,
    ) -> Result<(), Exhausted> {
        let every: &[GroupAnchor] = if every_event { &fi.groups } else { &[] };
        self.prescan(fi, every, pending, f, s, cx)?;
        for (g, first) in pending.insts() {
            self.eval_inst_from(g, first, cx)?;
        }
        for a in pending.groups(fi).chain(every) {
            self.fire_group(a, f, s, cx)?;
        }
        pending.clear();
        Ok(())
    }

    #[inline]
    fn eval_inst(&self, g: u32, cx: &mut Cx<'_, '_, '_>) -> Result<(), Exhausted> {
        self.eval_inst_from(g, None, cx)
    }

    /// Instance `g`, its first criterion already decided (`first`: scanned
    /// and charged in a batch, `batch`) or not (`None`).
    fn eval_inst_from(
        &self,
        g: u32,
        first: Option<bool>,
        cx: &mut Cx<'_, '_, '_>,
    ) -> Result<(), Exhausted> {
        let Some(inst) = usize::try_from(g).ok().and_then(|g| self.insts.get(g)) else {
            cx.verdict.fault();
            return Ok(());
        };
        let Some(crits) = self.inst_crits(inst) else {
            cx.verdict.fault();
            return Ok(());
        };
        let crits = match first {
            None => crits,
            Some(false) => return Ok(()),
            Some(true) => crits.get(1..).unwrap_or_default(),
        };
        for c in crits {
            if !self.check(c, cx)? {
                return Ok(());
            }
        }
        let Some(unless) = self.inst_unless(inst) else {
            cx.verdict.fault();
            return Ok(());
        };
        for &row in unless {
            let Some(crits) = self.row_crits(row) else {
                cx.verdict.fault();
                return Ok(());
            };
            let mut all = true;
            for c in crits {
                if !self.check(c, cx)? {
                    all = false;
                    break;
                }
            }
            if all {
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
                if let Some(g) = rec.group {
                    return group_check(self, rec, g, f, s.as_bytes(), cx);
                }
                if !charge_scan(rec, f, s.as_bytes(), cx)? {
                    return Ok(false);
                }
                match scan::single_match(&rec.dfa, rec.watch, s.as_bytes()) {
                    Some(m) => Ok(m),
                    None => {
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

/// A regex criterion whose DFA is a regex group's (docs/FORMAT.md, "Regex
/// groups"): a look-up (1) once the group has been scanned this event;
/// otherwise [`group_mask`] scans it. A group without a cache slot scans on
/// every use (1 + the scan). Charges as `cost.rs` counts.
fn group_check<'a>(
    eng: &Engine<'a>,
    rec: &DfaRec<'a>,
    g: GroupRef,
    f: usize,
    s: &[u8],
    cx: &mut Cx<'_, '_, '_>,
) -> Result<bool, Exhausted> {
    if let Some(mask) = cx.cached_group(g.slot) {
        cx.fuel.charge(1)?;
        return Ok(mask & g.bit != 0);
    }
    if g.slot.is_none() {
        cx.fuel.charge(1)?;
    }
    Ok(group_mask(eng, rec, g.slot, f, s, cx)? & g.bit != 0)
}

/// What one scan of `rec`'s DFA over field `f` (value `s`) costs, charged
/// before it runs: the prefilter test ([`lacks_required`]), then `len + 1`
/// and the scan counters. False when the prefilter rules a match out
/// (nothing to scan). The one place a scan is charged, batched or not.
pub(super) fn charge_scan(
    rec: &DfaRec<'_>,
    f: usize,
    s: &[u8],
    cx: &mut Cx<'_, '_, '_>,
) -> Result<bool, Exhausted> {
    if lacks_required(rec, f, s, cx)? {
        return Ok(false);
    }
    cx.fuel.charge(len64(s.len()).saturating_add(1))?;
    cx.verdict.scanned(s.len());
    Ok(true)
}

/// The byte-class prefilter of `rec`'s DFA (engine module docs): true when
/// field `f` (value `s`) lacks every byte of one of its required classes, so
/// the DFA cannot match. 1, after the field's byte-presence set.
fn lacks_required(
    rec: &DfaRec<'_>,
    f: usize,
    s: &[u8],
    cx: &mut Cx<'_, '_, '_>,
) -> Result<bool, Exhausted> {
    if rec.nreq == 0 {
        return Ok(false);
    }
    let Some(p) = cx.present(f, s)? else {
        return Ok(false);
    };
    cx.fuel.charge(1)?;
    Ok(rec
        .req
        .iter()
        .take(rec.nreq)
        .any(|m| m.iter().zip(&p).all(|(a, b)| a & b == 0)))
}

/// The patterns of the group whose DFA is `rec`'s that match field `f`
/// (value `s`): the cached result, or a scan (prefilter test, then
/// `len + 1`) whose result goes into `slot`. A quit state counts one fault
/// and matches nothing.
fn group_mask<'a>(
    eng: &Engine<'a>,
    rec: &DfaRec<'a>,
    slot: Option<u16>,
    f: usize,
    s: &[u8],
    cx: &mut Cx<'_, '_, '_>,
) -> Result<u64, Exhausted> {
    if let Some(mask) = cx.cached_group(slot) {
        return Ok(mask);
    }
    let mut mask = 0u64;
    if charge_scan(rec, f, s, cx)? {
        let quiet = eng.quiet_for(rec, f, s, cx.quiet);
        match group_scan(&rec.dfa, rec.watch, s, quiet) {
            Some(m) => mask = m,
            None => cx.verdict.fault(),
        }
    }
    if let Some(slot) = slot {
        cx.store_group(slot, mask);
    }
    Ok(mask)
}

/// Per-event working memory of an evaluation (10.2 KiB): the byte-presence
/// set of each string field and the result of each regex group's scan, both
/// filled on first use, and the gram keys and literal groups that fired in
/// the field being probed. Its contents never carry over from one
/// evaluation to the next (each run tracks which entries it filled, and
/// each gram pass clears what it uses), so one value can be reused for
/// every evaluation.
#[derive(Debug)]
pub struct EvalScratch {
    present: [[u64; 4]; MAX_INPUTS],
    groups_done: [u64; GROUP_SLOTS / 64],
    marks: GramMarks,
    pending: Pending,
    quiet: QuietMemo,
    // Last: the 8 KiB an event touches a few words of.
    groups: [u64; GROUP_SLOTS],
}

/// What one gram pass marks (cleared by the pass, as far as its field's
/// keys and literal groups go). In the scratch, not on the stack (1.1 KiB;
/// kernel stacks are 24 KiB).
#[derive(Debug)]
struct GramMarks {
    /// Keys whose entries fired (or were checked without a match).
    keys: [u64; GRAM_KEYS_MAX / 64],
    /// Literal groups fired (`FieldIndex::lit_groups` indexes).
    groups: [u64; GROUP_SLOTS / 64],
}

impl EvalScratch {
    /// Fresh working memory. 10.2 KiB: a kernel caller keeps one in
    /// non-paged memory (the driver's sensor, a static under its lock) and uses
    /// [`Engine::evaluate_in`], never [`Engine::evaluate`], which puts one
    /// on the stack.
    #[must_use]
    #[allow(
        clippy::large_stack_arrays,
        clippy::large_stack_frames,
        reason = "built in place in a static or pool allocation by kernel callers (const); \
                  on the stack only in user-mode callers of `Engine::evaluate`"
    )]
    pub const fn new() -> EvalScratch {
        EvalScratch {
            present: [[0; 4]; MAX_INPUTS],
            groups: [0; GROUP_SLOTS],
            groups_done: [0; GROUP_SLOTS / 64],
            marks: GramMarks {
                keys: [0; GRAM_KEYS_MAX / 64],
                groups: [0; GROUP_SLOTS / 64],
            },
            pending: Pending::new(),
            quiet: QuietMemo::NONE,
        }
    }
}

impl Default for EvalScratch {
    fn default() -> EvalScratch {
        EvalScratch::new()
    }
}

pub(super) struct Cx<'v, 'e, 'f> {
    vals: &'v [Value<'e>],
    bad: u64,
    pub(super) fuel: &'f mut Fuel,
    pub(super) verdict: &'f mut Verdict,
    /// Per string field: which byte values occur (computed on first use;
    /// `present_done` says which entries belong to this event).
    present: &'f mut [[u64; 4]; MAX_INPUTS],
    present_done: u64,
    /// Per regex group slot: the patterns its scan found (`groups_done`
    /// says which slots belong to this event).
    groups: &'f mut [u64; GROUP_SLOTS],
    /// In the scratch (128 bytes); the template's words are cleared when
    /// the evaluation starts.
    groups_done: &'f mut [u64; GROUP_SLOTS / 64],
    /// The last literal search of a scan (reset above).
    pub(super) quiet: &'f mut QuietMemo,
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
            *slot = byte_set(s);
            self.present_done |= bit;
        }
        Ok(Some(*slot))
    }

    /// Record the result of the group scan in `slot` for this event.
    pub(super) fn store_group(&mut self, slot: u16, mask: u64) {
        let k = usize::from(slot);
        if let (Some(w), Some(cell)) = (self.groups_done.get_mut(k >> 6), self.groups.get_mut(k)) {
            *w |= 1u64.wrapping_shl(u32::try_from(k & 63).unwrap_or(0));
            *cell = mask;
        }
    }

    /// The result of the group scan in `slot`, if it ran this event.
    pub(super) fn cached_group(&self, slot: Option<u16>) -> Option<u64> {
        let k = usize::from(slot?);
        let done = self.groups_done.get(k >> 6)? & 1u64.wrapping_shl(u32::try_from(k & 63).ok()?);
        if done == 0 {
            return None;
        }
        self.groups.get(k).copied()
    }

    fn bad_field(&self, f: usize) -> bool {
        self.bad & field_bit(f) != 0
    }
}

/// The set of bytes in `s`, one bit each (bit `b & 63` of word `b >> 6`).
/// (A branch-free variant keeping the four words in registers was measured
/// no faster on the regex benchmarks.)
fn byte_set(s: &[u8]) -> [u64; 4] {
    let mut set = [0u64; 4];
    for &b in s {
        if let Some(w) = set.get_mut(usize::from(b >> 6)) {
            *w |= 1u64.wrapping_shl(u32::from(b & 63));
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn working_memory_fits_three_pages() {
        // Kernel callers keep it in non-paged memory (the driver: a static);
        // three pages is its budget, most of it the group cache.
        let size = core::mem::size_of::<EvalScratch>();
        assert!(size <= 3 * 4096, "EvalScratch is {size} bytes");
    }

    proptest! {
        #[test]
        fn byte_set_holds_exactly_the_bytes_of_the_field(s in proptest::collection::vec(any::<u8>(), 0..300)) {
            let set = byte_set(&s);
            for b in 0..=255u8 {
                let has = set[usize::from(b >> 6)] & (1 << (b & 63)) != 0;
                prop_assert_eq!(has, s.contains(&b), "byte {}", b);
            }
        }
    }
}
