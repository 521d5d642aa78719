//! Which channel each converted rule goes to, under each channel's DFA, file
//! and fuel budgets, or that it is refused for want of room.
//!
//! A rule goes to the first channel with room, cheapest rules first; every
//! channel that is written builds and is under the fuel ceiling.

use super::build_check::Refusal;
use super::report::{Outcome, RuleReport};
use super::yaml;
use changuard_format::build::{CriterionSpec, InstanceSpec};
use changuard_format::schema::PROCESS_CREATE;
use changuard_format::{cost, limits};

/// A rule that converted and builds on its own, with its costs.
pub(super) struct Candidate {
    pub(super) rule: yaml::SigmaRule,
    pub(super) insts: Vec<InstanceSpec>,
    pub(super) approx: Option<String>,
    /// Bytes of DFA its regexes add.
    pub(super) dfa_cost: usize,
    /// Bytes it adds to the file.
    pub(super) file_cost: usize,
    /// Fuel it adds to the channel's per-event bound on its own (with the
    /// index probes of a file of its own).
    pub(super) fuel_cost: u64,
    /// The per-instance part of that bound: every criterion of every row
    /// (additive over rules).
    pub(super) row_fuel: u64,
}

impl Candidate {
    pub(super) fn budget(&self) -> Budget {
        Budget {
            dfa: self.dfa_cost,
            file: self.file_cost,
            fuel: self.row_fuel,
        }
    }
}

/// Fuel left for a channel's index probes (per string field with `n`
/// criteria, about `4 * log2(n) * cap + cap * log2(n)`: some 150 Ki for the
/// command line at thousands of criteria), which the per-rule row fuel does
/// not count.
const FUEL_HEADROOM: u64 = 512 * 1024;

/// What the rules of one channel may use. Headroom for the DFA index entries
/// and alignment the per-rule deltas share, and for the fuel bound's index
/// probes (not per rule).
pub(super) const CHANNEL_CAPS: Budget = Budget {
    dfa: (limits::MAX_TOTAL_DFA_LEN as usize).saturating_sub(64 * 1024),
    file: limits::MAX_FILE_LEN.saturating_sub(64 * 1024),
    fuel: cost::TEMPLATE_CEILING.saturating_sub(FUEL_HEADROOM),
};

/// What a rule or a channel uses of a channel's budgets.
#[derive(Clone, Copy, Debug)]
pub(super) struct Budget {
    /// Bytes of DFA.
    dfa: usize,
    /// Bytes of file.
    file: usize,
    /// Fuel of its rows (see [`row_fuel`]).
    fuel: u64,
}

impl Budget {
    fn plus(&self, o: &Budget) -> Budget {
        Budget {
            dfa: self.dfa.saturating_add(o.dfa),
            file: self.file.saturating_add(o.file),
            fuel: self.fuel.saturating_add(o.fuel),
        }
    }
    fn minus(&self, o: &Budget) -> Budget {
        Budget {
            dfa: self.dfa.saturating_sub(o.dfa),
            file: self.file.saturating_sub(o.file),
            fuel: self.fuel.saturating_sub(o.fuel),
        }
    }
    fn within(&self, cap: &Budget) -> bool {
        self.dfa <= cap.dfa && self.file <= cap.file && self.fuel <= cap.fuel
    }
    /// The largest share of `self` (a cap) that `b` takes, in millionths.
    pub(super) fn share(&self, b: &Budget) -> u128 {
        let part = |x: u128, cap: u128| x.saturating_mul(1_000_000) / cap.max(1);
        part(b.dfa as u128, self.dfa as u128)
            .max(part(b.file as u128, self.file as u128))
            .max(part(u128::from(b.fuel), u128::from(self.fuel)))
    }
}

/// The per-instance part of the validator's fuel bound (format crate,
/// `cost::criterion_cost`): each criterion of each row of each instance,
/// `1 + bytes`, where bytes is the field's cap for `contains`, cap + 1 for a
/// regex, the needle (at most the cap) for the other string tests.
pub(super) fn row_fuel(insts: &[InstanceSpec]) -> u64 {
    let mut total = 0u64;
    for i in insts {
        let rows = std::iter::once(&i.criteria).chain(&i.also).chain(&i.unless);
        for row in rows {
            for (c, f) in row.iter().zip(PROCESS_CREATE.fields.iter()) {
                let cap = u64::from(f.cap);
                let bytes = match c {
                    CriterionSpec::Str {
                        op: changuard_format::StrOp::Contains,
                        ..
                    } => cap,
                    CriterionSpec::Str { value, .. } => (value.len() as u64).min(cap),
                    CriterionSpec::Regex { .. } => cap.saturating_add(1),
                    _ => 0,
                };
                total = total.saturating_add(bytes).saturating_add(1);
            }
        }
    }
    total
}

/// Refuse rule `k` for the channel's budgets.
fn over_budget(rules: &mut [RuleReport], ok: &mut [Option<Candidate>], k: usize) {
    let Some(slot) = ok.get_mut(k) else { return };
    if let (Some(c), Some(r)) = (slot.take(), rules.get_mut(k)) {
        r.outcome = Outcome::Refused(
            "channel budget exhausted (8 MiB DFA, 16 MiB file or fuel ceiling): import with more --channels"
                .into(),
        );
        r.detail = Some(format!(
            "it needs {} bytes of DFA, {} bytes of file, {} fuel per event on its own",
            c.dfa_cost, c.file_cost, c.fuel_cost
        ));
    }
}

/// Place each candidate, cheapest first, in the first of `channels` channels
/// it fits (each starting at the empty channel's `empty_len` bytes of file),
/// refusing those that fit none; the channel index of each rule (0 where
/// refused) and what each channel uses.
pub(super) fn assign_channels(
    rules: &mut [RuleReport],
    ok: &mut [Option<Candidate>],
    empty_len: usize,
    channels: usize,
) -> (Vec<usize>, Vec<Budget>) {
    let caps = CHANNEL_CAPS;
    let mut order: Vec<usize> = (0..ok.len()).filter(|&k| ok[k].is_some()).collect();
    order.sort_by_key(|&k| ok[k].as_ref().map(|c| (caps.share(&c.budget()), k)));
    let mut used = vec![
        Budget {
            dfa: 0,
            file: empty_len,
            fuel: 0,
        };
        channels
    ];
    let mut slot = vec![0usize; ok.len()];
    for k in order {
        let Some(c) = &ok[k] else { continue };
        match used.iter().position(|u| u.plus(&c.budget()).within(&caps)) {
            Some(n) => {
                used[n] = used[n].plus(&c.budget());
                slot[k] = n;
            }
            None => over_budget(rules, ok, k),
        }
    }
    (slot, used)
}

/// Build each channel `slot` and `used` describe (channel `n` has id
/// `channel + n`) with `build`, and while one hits the fuel ceiling move its
/// costliest rules to a later channel with room, or refuse them.
///
/// # Errors
/// A channel that fails to build for another reason (every rule was checked
/// on its own, so this is a bug).
pub(super) fn fit_fuel_ceiling(
    rules: &mut [RuleReport],
    ok: &mut [Option<Candidate>],
    slot: &mut [usize],
    used: &mut [Budget],
    channel: u32,
    build: impl Fn(&[InstanceSpec], u32) -> Result<(usize, u64), Refusal>,
) -> Result<(), String> {
    // The fuel bound is not quite additive over rules (the validator's bound
    // also has per-file index probes), so check each assembled channel and
    // move its costliest rules to a later channel with room (or refuse them)
    // until it fits under the ceiling.
    let caps = CHANNEL_CAPS;
    let channels = used.len();
    for n in 0..channels {
        let id = channel.saturating_add(u32::try_from(n).unwrap_or(0));
        loop {
            let mine: Vec<usize> = (0..ok.len())
                .filter(|&k| ok[k].is_some() && slot[k] == n)
                .collect();
            let all: Vec<InstanceSpec> = mine
                .iter()
                .filter_map(|&k| ok[k].as_ref())
                .flat_map(|c| c.insts.iter().cloned())
                .collect();
            match build(&all, id) {
                Ok(_) => break,
                Err((_, Some(d))) if d.contains("CostCeiling") => {
                    let mut by_fuel = mine;
                    by_fuel.sort_by_key(|&k| {
                        std::cmp::Reverse(ok[k].as_ref().map_or(0, |c| c.row_fuel))
                    });
                    let drop = (by_fuel.len() / 20).max(1);
                    for &k in by_fuel.iter().take(drop) {
                        let Some(b) = ok[k].as_ref().map(Candidate::budget) else {
                            continue;
                        };
                        used[n] = used[n].minus(&b);
                        let later = (n + 1..channels).find(|&m| used[m].plus(&b).within(&caps));
                        match later {
                            Some(m) => {
                                used[m] = used[m].plus(&b);
                                slot[k] = m;
                            }
                            None => over_budget(rules, ok, k),
                        }
                    }
                }
                Err((r, d)) => {
                    return Err(format!(
                        "the assembled spec of channel {id} does not build: {r} {}",
                        d.unwrap_or_default()
                    ));
                }
            }
        }
    }
    Ok(())
}
