//! The proven per-event cost bound of content, and the ceilings on it
//! (issue 12). Computed from the validated content alone, without building or
//! running an interpreter: like the eBPF verifier's complexity limit, content
//! is proven cheap before it runs.
//!
//! # The model
//! The unit is the interpreter's fuel (changuard-interp, engine module docs,
//! "Fuel"): one criterion check, one byte compared or scanned, or one
//! binary-search step. The bound of a template type in one channel file is, at
//! the schema's string caps ([`crate::schema::Field::cap`], the driver's
//! truncation):
//! - the type check and the byte-presence pass: `inputs + sum(cap)` over string
//!   fields;
//! - per string field with `n` indexable criteria (string or regex): four
//!   needle tables (forward and reverse, each case-sensitive and folded), each
//!   at most `steps(n) * (cap + 1) + n + 1` (`n` bounds both the keys and the
//!   deepest parent chain), and the gram scan, `2 * cap + cap * steps(n)`
//!   (the scan, a search per position, and confirming needles where their
//!   grams occur, at most `cap` bytes);
//! - per integer field with `n` criteria: `steps(n) + 1`;
//! - every instance of the type evaluated in full, whatever the index would
//!   prune: per criterion `1 + bytes`, where bytes is `cap` for `contains`,
//!   `cap + 1` for a regex (scan plus prefilter test), `min(needle, cap)` for
//!   equals/prefix/suffix, 0 otherwise; a regex whose DFA entry belongs to a
//!   regex group costs `1 + 1` (a look-up of the group's result);
//! - per regex group (docs/FORMAT.md, "Regex groups"), one scan of its field:
//!   `cap + 2` (scan plus prefilter test), since the engine scans each group
//!   at most once per event and remembers which of its patterns matched;
//! - per member of a grouped entry's literal set (docs/FORMAT.md, "Literal
//!   sets"): one more string criterion of its field in the probe terms (a gram
//!   key) and 1 (a further hit of its group); likewise per member of a single
//!   regex's set, for each criterion using it (a further hit of its
//!   instance);
//!
//! with `steps(n) = ceil(log2(n + 1))`. Each term is at least the engine's
//! matching term (the engine indexes each instance once and charges its
//! probes at most once per table), and the terms of several channels add up
//! to at least the cost of one engine built from all of them, since
//! `steps(a + b) <= steps(a) + steps(b)`. changuard-interp's
//! tests/cost_bound.rs checks `fuel used <= bound` on random content and
//! events.
//!
//! # The ceilings
//! [`TEMPLATE_CEILING`] caps one file's bound per template type (the validator
//! rejects more, [`crate::Rule::CostCeiling`]); [`SET_CEILING`] caps the sum
//! over every active channel (the loader steps channels down past it). The
//! figures and the fuel-to-time factor they came from are in
//! docs/PERFORMANCE.md, "Cost ceiling".
//!
//! All arithmetic saturates: a saturated bound is over every ceiling.

use crate::schema::{FieldType, MAX_INPUTS, TEMPLATE_TYPES};
use crate::{Criterion, StrOp};

/// Most fuel one event of one template type may cost in one channel file.
pub const TEMPLATE_CEILING: u64 = 4 * 1024 * 1024;

/// Most fuel one event of one template type may cost summed over every active
/// channel (the loader's ceiling).
pub const SET_CEILING: u64 = 16 * 1024 * 1024;

/// Fuel per microsecond at the measured worst-case factor, 4 ns per fuel
/// (regex scanning at the ceiling: 3.93 ns; docs/PERFORMANCE.md, "Cost
/// ceiling"). Converts time budgets (the loader's `LatencyBudgetUs`) to fuel.
pub const FUEL_PER_MICROSECOND: u64 = 250;

/// Number of template types (the length of every per-template array here).
pub const TEMPLATE_COUNT: usize = TEMPLATE_TYPES.len();

/// The proven per-event bound of one channel file, per template type, in
/// [`TEMPLATE_TYPES`] order. A type the file has no instance of costs its
/// type check (its input count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CostBound {
    /// Fuel bound per template type.
    pub fuel: [u64; TEMPLATE_COUNT],
}

impl CostBound {
    /// The bound of the template type with wire id `template`, if it exists.
    pub fn of(&self, template: u16) -> Option<u64> {
        let k = TEMPLATE_TYPES.iter().position(|t| t.id == template)?;
        self.fuel.get(k).copied()
    }

    /// The largest per-template bound.
    pub fn max(&self) -> u64 {
        self.fuel.iter().copied().max().unwrap_or(0)
    }

    /// Per-template sum of two bounds (several channels).
    #[must_use]
    pub fn plus(&self, other: &CostBound) -> CostBound {
        let mut out = *self;
        for (a, b) in out.fuel.iter_mut().zip(other.fuel.iter()) {
            *a = a.saturating_add(*b);
        }
        out
    }

    /// Whether every per-template figure is at most `ceiling`.
    pub fn within(&self, ceiling: u64) -> bool {
        self.fuel.iter().all(|&f| f <= ceiling)
    }
}

/// `ceil(log2(n + 1))`: binary-search steps over `n` keys (as the engine counts).
pub const fn steps(n: u32) -> u64 {
    u32::BITS.saturating_sub(n.leading_zeros()) as u64
}

/// Fuel bound of evaluating one criterion on a field of `cap` bytes.
pub fn criterion_cost(c: &Criterion<'_>, cap: u16) -> u64 {
    let cap = u64::from(cap);
    let bytes = match c {
        Criterion::Str {
            op: StrOp::Contains,
            ..
        } => cap,
        Criterion::Str { needle, .. } => (needle.len() as u64).min(cap),
        Criterion::Regex { .. } => cap.saturating_add(1),
        Criterion::Any
        | Criterion::IntEquals(_)
        | Criterion::IntRange { .. }
        | Criterion::IntMask { .. } => 0,
    };
    bytes.saturating_add(1)
}

/// Fuel bound of a regex criterion whose DFA entry is in a regex group: the
/// look-up of the group's per-event result (the scan is [`group_scan_cost`]).
pub const GROUPED_REGEX_COST: u64 = 2;

/// Fuel bound of scanning one regex group's DFA over a field of `cap` bytes,
/// once per event: the prefilter test, then `cap + 1` for the scan.
pub fn group_scan_cost(cap: u16) -> u64 {
    u64::from(cap).saturating_add(2)
}

/// Running totals of one template type, fed instance by instance.
#[derive(Clone, Copy, Debug)]
pub struct Tally {
    template: usize,
    instances: u64,
    strs: [u32; MAX_INPUTS],
    ints: [u32; MAX_INPUTS],
}

impl Tally {
    /// An empty tally of the `k`-th template type of [`TEMPLATE_TYPES`].
    pub const fn new(k: usize) -> Tally {
        Tally {
            template: k,
            instances: 0,
            strs: [0; MAX_INPUTS],
            ints: [0; MAX_INPUTS],
        }
    }

    /// Adds one instance's criteria (criterion `i` on field `i`), none of
    /// them in a regex group.
    pub fn add<'a>(&mut self, criteria: impl Iterator<Item = Criterion<'a>>) {
        self.add_grouped(criteria, |_| false);
    }

    /// Adds one group's scan of field `field` (once per group, however many
    /// criteria use it).
    pub fn add_group_scan(&mut self, field: usize) {
        let cap = TEMPLATE_TYPES
            .get(self.template)
            .and_then(|tt| tt.fields.get(field))
            .map_or(u16::MAX, |f| f.cap);
        self.instances = self.instances.saturating_add(group_scan_cost(cap));
    }

    /// A literal set of `members` members on `field` (a regex group member's,
    /// or a single regex's per criterion using it; docs/FORMAT.md, "Literal
    /// sets"): each member may be a key of the field's gram index (so counts
    /// like a needle in the probe terms) and one more hit of its group or
    /// instance in an event (1 each).
    pub fn add_literal_set(&mut self, field: usize, members: u32) {
        if let Some(ns) = self.strs.get_mut(field) {
            *ns = ns.saturating_add(members);
        }
        self.instances = self.instances.saturating_add(u64::from(members));
    }

    /// Adds one instance's criteria (criterion `i` on field `i`);
    /// `grouped(dfa)` says whether a regex's DFA entry is in a regex group.
    pub fn add_grouped<'a>(
        &mut self,
        criteria: impl Iterator<Item = Criterion<'a>>,
        grouped: impl Fn(u32) -> bool,
    ) {
        let Some(tt) = TEMPLATE_TYPES.get(self.template) else {
            return;
        };
        let slots = self.strs.iter_mut().zip(self.ints.iter_mut());
        for ((c, f), (ns, ni)) in criteria.zip(tt.fields.iter()).zip(slots) {
            let cost = match c {
                Criterion::Regex { dfa } if grouped(dfa) => GROUPED_REGEX_COST,
                _ => criterion_cost(&c, f.cap),
            };
            self.instances = self.instances.saturating_add(cost);
            match c {
                Criterion::Str { .. } | Criterion::Regex { .. } => *ns = ns.saturating_add(1),
                Criterion::IntEquals(_)
                | Criterion::IntRange { .. }
                | Criterion::IntMask { .. } => {
                    *ni = ni.saturating_add(1);
                }
                Criterion::Any => {}
            }
        }
    }

    /// The bound so far: probes plus every instance added.
    pub fn total(&self) -> u64 {
        let Some(tt) = TEMPLATE_TYPES.get(self.template) else {
            return 0;
        };
        // The type check is charged for every event, content or not.
        let mut probe = tt.input_count() as u64;
        if self.instances == 0 {
            return probe;
        }
        let counts = self.strs.iter().zip(self.ints.iter());
        for (f, (&ns, &ni)) in tt.fields.iter().zip(counts) {
            let cap = u64::from(f.cap);
            if f.ty == FieldType::Str {
                probe = probe.saturating_add(cap);
            }
            if ns > 0 {
                let n = u64::from(ns);
                let table = steps(ns)
                    .saturating_mul(cap.saturating_add(1))
                    .saturating_add(n)
                    .saturating_add(1);
                // The scan, a search per bloom hit, and confirming needles
                // where their grams occur (at most one field's worth).
                let grams = cap
                    .saturating_mul(2)
                    .saturating_add(cap.saturating_mul(steps(ns)));
                probe = probe
                    .saturating_add(table.saturating_mul(4))
                    .saturating_add(grams);
            }
            if ni > 0 {
                probe = probe.saturating_add(steps(ni).saturating_add(1));
            }
        }
        probe.saturating_add(self.instances)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_is_ceil_log2_of_n_plus_one() {
        assert_eq!(steps(0), 0);
        assert_eq!(steps(1), 1);
        assert_eq!(steps(2), 2);
        assert_eq!(steps(3), 2);
        assert_eq!(steps(4), 3);
        assert_eq!(steps(u32::MAX), 32);
        for a in 1..200u32 {
            for b in 1..200u32 {
                assert!(steps(a + b) <= steps(a) + steps(b), "{a} {b}");
            }
        }
    }

    #[test]
    fn a_regex_on_a_command_line_costs_the_cap_plus_two() {
        let c = Criterion::Regex { dfa: 0 };
        assert_eq!(criterion_cost(&c, 2048), 2050);
        let eq = Criterion::Str {
            op: StrOp::Equals,
            needle: "abc",
            case_insensitive: false,
        };
        assert_eq!(criterion_cost(&eq, 2), 3, "needle longer than the cap");
        assert_eq!(criterion_cost(&Criterion::Any, 2048), 1);
    }

    #[test]
    fn an_empty_tally_costs_the_type_check_and_one_instance_its_probes() {
        let t = Tally::new(0);
        assert_eq!(t.total(), TEMPLATE_TYPES[0].input_count() as u64);
        let mut t = Tally::new(0);
        let tt = &TEMPLATE_TYPES[0];
        t.add(tt.fields.iter().map(|_| Criterion::Any));
        let str_caps: u64 = tt
            .fields
            .iter()
            .filter(|f| f.ty == FieldType::Str)
            .map(|f| u64::from(f.cap))
            .sum();
        assert_eq!(
            t.total(),
            tt.input_count() as u64 + str_caps + tt.input_count() as u64
        );
    }
}
