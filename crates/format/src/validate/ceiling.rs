//! The cost ceiling (rule `cost-ceiling`): the proven per-event bound of
//! each template type, computed in one pass over fully checked content.

use super::channel::{DfaEntry, Layout, ValidChannel, dfa_entry, instance_at, string_at};
use super::{R, rej};
use crate::content::Criterion;
use crate::cost::{self, CostBound, Tally};
use crate::error::Rule;
use crate::layout;
use crate::limits;
use crate::schema::TEMPLATE_TYPES;
use crate::wire;

impl<B: AsRef<[u8]>> ValidChannel<B> {
    /// The proven per-event cost bound, per template type ([`crate::cost`]);
    /// validation checked each is at most [`cost::TEMPLATE_CEILING`].
    pub fn cost_bound(&self) -> CostBound {
        cost_of(self.bytes.as_ref(), &self.layout).0
    }
}

/// The proven per-event bound of every template type ([`crate::cost`]) is at
/// most [`cost::TEMPLATE_CEILING`]. Runs last, on fully checked content. The
/// rejection names the instance at which the type's bound first crosses the
/// ceiling and carries the ceiling and the whole file's bound.
pub(super) fn check_cost(b: &[u8], l: &Layout) -> R<()> {
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
pub(super) fn cost_of(b: &[u8], l: &Layout) -> (CostBound, [Option<u32>; cost::TEMPLATE_COUNT]) {
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
