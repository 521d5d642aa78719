//! The cost model: the worst-case fuel of one evaluation, per template,
//! computed at load time for string fields of at most the configured cap
//! (module docs of `engine`, "Fuel"). It mirrors what evaluation charges: every
//! charge in `check`, `probe_table`, `probe_grams` and `run` has its term here,
//! so an event whose fields fit the cap never runs out of the default budget
//! (tests/differential.rs checks the worst case exactly).

use super::*;

impl<'a> Engine<'a> {
    /// Worst-case fuel of fully evaluating instance `g` with fields <= `cap`.
    pub(super) fn inst_cost(&self, g: u32, cap: usize) -> u64 {
        let Some(inst) = usize::try_from(g).ok().and_then(|g| self.insts.get(g)) else {
            return 0;
        };
        let rows = self.inst_crits(inst).into_iter().chain(
            self.inst_unless(inst)
                .unwrap_or(&[])
                .iter()
                .filter_map(|&r| self.row_crits(r)),
        );
        rows.fold(0u64, |acc, cs| acc.saturating_add(self.crits_cost(cs, cap)))
    }

    /// Worst-case fuel of checking every criterion of `cs` with fields <= `cap`.
    fn crits_cost(&self, cs: &[Crit<'a>], cap: usize) -> u64 {
        let cap64 = len64(cap);
        cs.iter().fold(0u64, |acc, c| {
            let bytes = match c.test {
                Test::Str {
                    op: StrOp::Contains,
                    ..
                } => cap64,
                // A prefiltered DFA also charges its byte-class test (`check`).
                // A group member with a cache slot costs its look-up (the
                // scan is the slot's, counted once in `cost_of`); without a
                // slot, each use scans (`group_check`).
                Test::Regex(d) => {
                    let rec = usize::try_from(d).ok().and_then(|d| self.dfas.get(d));
                    let prefiltered = u64::from(rec.is_some_and(|r| r.nreq > 0));
                    match rec.and_then(|r| r.group) {
                        Some(GroupRef { slot: Some(_), .. }) => 0,
                        Some(GroupRef { slot: None, .. }) => {
                            cap64.saturating_add(prefiltered).saturating_add(1)
                        }
                        None => cap64.saturating_add(prefiltered),
                    }
                }
                Test::Str { needle, .. } => len64(needle.len().min(cap)),
                _ => 0,
            };
            acc.saturating_add(bytes.saturating_add(1))
        })
    }

    fn list_cost(&self, list: &[u32], cap: usize) -> u64 {
        list.iter()
            .fold(0u64, |a, &g| a.saturating_add(self.inst_cost(g, cap)))
    }

    pub(super) fn cost_of(&self, tt: &TemplateType, ti: &TemplateIndex<'a>, cap: usize) -> Cost {
        // Type check, plus one byte-presence pass per string field (regex prefilter).
        let str_fields = tt.fields.iter().filter(|f| f.ty == FieldType::Str).count();
        let mut probe =
            len64(tt.input_count()).saturating_add(len64(str_fields).saturating_mul(len64(cap)));
        let mut cand = 0u64;
        let cap64 = len64(cap);
        // Each regex group with a slot: one scan per event (and its
        // byte-class test when prefiltered).
        if let Some(g) = TEMPLATE_TYPES
            .iter()
            .position(|t| t.id == tt.id)
            .and_then(|k| self.group_slots.get(k))
        {
            probe = probe
                .saturating_add(u64::from(g.used).saturating_mul(cap64.saturating_add(1)))
                .saturating_add(u64::from(g.prefiltered));
        }
        for fi in &ti.fields {
            for table in fi.fwd.iter().chain(fi.rev.iter()) {
                if table.keys.is_empty() {
                    continue;
                }
                let per_step = len64(cap.min(table.max_len)).saturating_add(1);
                probe = probe
                    .saturating_add(strops::search_steps(table.keys.len()).saturating_mul(per_step))
                    .saturating_add(table.max_chain)
                    .saturating_add(1);
                // Path costs: keys are sorted, so a parent precedes its children.
                let mut path: Vec<u64> = Vec::new();
                if path.try_reserve_exact(table.keys.len()).is_err() {
                    // Cannot tighten: everything may fire.
                    cand = cand.saturating_add(self.list_cost(&table.insts, cap));
                    continue;
                }
                let mut worst = 0u64;
                for k in &table.keys {
                    let pre = self.list_cost(slice32(&table.insts, k.pre_start, k.pre_len), cap);
                    let eqc = self.list_cost(slice32(&table.insts, k.eq_start, k.eq_len), cap);
                    let up = usize::try_from(k.parent)
                        .ok()
                        .and_then(|p| path.get(p))
                        .copied()
                        .unwrap_or(0);
                    let here = pre.saturating_add(up);
                    path.push(here);
                    worst = worst.max(here.saturating_add(eqc));
                }
                cand = cand.saturating_add(worst);
            }
            if !fi.ints.is_empty() {
                probe = probe
                    .saturating_add(strops::search_steps(fi.ints.len()))
                    .saturating_add(1);
                let mut worst = 0u64;
                let mut run = 0u64;
                let mut prev: Option<u64> = None;
                for &(v, g) in &fi.ints {
                    if prev != Some(v) {
                        run = 0;
                    }
                    prev = Some(v);
                    run = run.saturating_add(self.inst_cost(g, cap));
                    worst = worst.max(run);
                }
                cand = cand.saturating_add(worst);
            }
            // Group anchors: 1 per group (the scan is its slot's, above);
            // at worst every pattern matched.
            for a in &fi.groups {
                probe = probe.saturating_add(1);
                cand = cand.saturating_add(self.list_cost(&a.insts, cap));
            }
            if !fi.grams.keys.is_empty() {
                // The scan, a search per bloom hit, and the confirmations'
                // budget (one field's worth of bytes).
                probe = probe.saturating_add(cap64.saturating_mul(2).saturating_add(
                    cap64.saturating_mul(strops::search_steps(fi.grams.keys.len())),
                ));
                // A virtual entry is a literal group: 1 per entry, and once
                // per group (its first hit; a literal set gives it several
                // entries) every pattern matched.
                let mut counted = [0u64; GROUP_SLOTS / 64];
                // A set single's entries: its instance in full on the first
                // hit, 1 per further member.
                let mut singles = [0u64; SET_SINGLES_MAX / 64];
                for &g in &fi.grams.insts {
                    let c = if g & VIRTUAL == 0 {
                        self.inst_cost(g, cap)
                    } else if g & SINGLE != 0 {
                        let k = usize::try_from(g & !(VIRTUAL | SINGLE)).unwrap_or(usize::MAX);
                        match (first_mark(&mut singles, k), fi.set_singles.get(k)) {
                            (Some(true), Some(&i)) if i != NONE => self.inst_cost(i, cap),
                            _ => 1,
                        }
                    } else {
                        let k = usize::try_from(g & !VIRTUAL).unwrap_or(usize::MAX);
                        // Unreachable without a slot, but then: count it again.
                        let first = first_mark(&mut counted, k).unwrap_or(true);
                        let list = fi
                            .lit_groups
                            .get(k)
                            .filter(|_| first)
                            .map_or(0, |a| self.list_cost(&a.insts, cap));
                        1u64.saturating_add(list)
                    };
                    cand = cand.saturating_add(c);
                }
            }
        }
        let always = self.list_cost(&ti.always, cap);
        Cost {
            probe,
            candidates: cand,
            always,
            total: probe.saturating_add(cand).saturating_add(always),
        }
    }
}
