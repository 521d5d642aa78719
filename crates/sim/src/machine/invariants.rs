//! The invariants checked after every boot, against the reference model.

use std::collections::{BTreeMap, BTreeSet};

use changuard_loader::limits::{MAX_CANDIDATE_TRIES, MAX_NEW_CHANNEL_TRIES};
use changuard_loader::state::{ChannelState, State};
use changuard_loader::{Reason, Source};

use super::{BootReport, CONTENT_PREFIX, ChannelView, Machine, oracle};
use crate::content;

impl Machine {
    /// The charge of `view`'s active content (0 with none): the file of its
    /// version in the directory, the LKG copy or golden content.
    fn active_charge(&self, c: u32, view: &ChannelView) -> u64 {
        self.active_bytes(c, view)
            .map_or(0, |b| changuard_loader::budget::charge(b.len()))
    }

    /// The proven cost bound of the content `view` says is active (zero for none).
    fn active_cost(&self, c: u32, view: &ChannelView) -> changuard_format::CostBound {
        self.active_bytes(c, view)
            .map(|b| content::cost_bound(&b, c))
            .unwrap_or_default()
    }

    /// The bytes of `C-<c>-<v>.chan` in the content directory, if present.
    fn content_file(&self, c: u32, v: u64) -> Option<crate::disk::Bytes> {
        self.disk.read(&format!(
            "{CONTENT_PREFIX}{}",
            changuard_loader::names::FileName::new(c, v).as_str()
        ))
    }

    fn active_bytes(&self, c: u32, view: &ChannelView) -> Option<crate::disk::Bytes> {
        let v = view.active_version?;
        match view.source {
            Source::Candidate => self.disk.read(&format!(
                "{CONTENT_PREFIX}{}",
                changuard_loader::names::FileName::new(c, v).as_str()
            )),
            Source::Lkg => self.disk.read(&format!("lkg/{c}.lkg")),
            Source::Golden => self.golden.get(&c).cloned(),
            Source::None => None,
        }
    }

    /// I2..I5, I7, I9 and I10 after a boot that did not lose power.
    pub(super) fn check_invariants(&mut self, report: &mut BootReport, at: &Reference<'_>) {
        let mut violations = self.check_crash_counts();
        let latest = !self.registry.contains_key("Policy");
        for view in &report.channels {
            let c = view.channel;
            let lkg0 = at.lkg_at_start.get(&c).copied().flatten();
            let st_now = at.state_after_boot.and_then(|s| s.get(c).copied());
            violations.extend(check_quarantined_inactive(view, st_now));
            violations.extend(self.check_quarantine_cause(view));
            violations.extend(self.check_lkg_kept(c, lkg0));
            violations.extend(self.check_floor(view, lkg0, latest));
            if latest && !at.crashed_by.iter().any(|(cc, _)| *cc == c) {
                violations.extend(self.check_expected_content(report, view, at, lkg0, st_now));
            }
            self.record_channel(view, lkg0);
        }
        violations.extend(self.check_trials_released(report, at));
        if let Some(st) = at.state_after_boot {
            violations.extend(self.check_sequences(st));
            self.record_sequences(st);
        }
        if report.channels.iter().any(|c| c.promoted) {
            self.model.state_tampered = false;
        }
        report.violations.append(&mut violations);
    }

    /// I3: no version crashes more than MaxTrialBoots times on trial.
    fn check_crash_counts(&self) -> Vec<String> {
        let max_trial = self.model.max_trial_ever;
        let mut violations = Vec::new();
        for ((c, v), n) in &self.model.crashes {
            if *n > max_trial {
                violations.push(format!(
                    "I3 channel {c} v{v} crashed {n} times > MaxTrialBoots {max_trial}"
                ));
            }
        }
        violations
    }

    /// I7: quarantined only after a boot on trial that did not end cleanly.
    fn check_quarantine_cause(&self, view: &ChannelView) -> Vec<String> {
        let c = view.channel;
        let mut violations = Vec::new();
        for q in &view.quarantined {
            if !self.model.unclean.contains(&(c, *q)) {
                violations.push(format!(
                    "I7 channel {c} v{q} quarantined, but no boot with it on trial ended uncleanly (a clean shutdown, reload or promotion failure was counted as a crash)"
                ));
            }
        }
        violations
    }

    /// I2: once an LKG exists it is never lost.
    fn check_lkg_kept(&self, c: u32, lkg0: Option<u64>) -> Option<String> {
        (self.model.lkg_ever.contains(&c)
            && !self.model.lkg_tampered.contains(&c)
            && lkg0.is_none())
        .then(|| format!("I2 channel {c} had an LKG, none valid at boot"))
    }

    /// I5: floor never decreases, never above the LKG (the latter under
    /// Latest, the default policy, only).
    fn check_floor(&self, view: &ChannelView, lkg0: Option<u64>, latest: bool) -> Vec<String> {
        let c = view.channel;
        let mut violations = Vec::new();
        let seen = self.model.floor_seen.get(&c).copied().unwrap_or(0);
        if view.floor < seen && !self.model.state_tampered {
            violations.push(format!(
                "I5 channel {c} floor decreased {seen} -> {}",
                view.floor
            ));
        }
        if latest {
            let lkg_now = self.lkg_oracle(c);
            if let Some(l) = lkg_now.or(lkg0) {
                if view.floor > l && !self.model.lkg_tampered.contains(&c) {
                    violations.push(format!(
                        "I5 channel {c} floor {} above LKG v{l}",
                        view.floor
                    ));
                }
            }
        }
        violations
    }

    /// I4: the newest valid content the policy allows (Latest, default
    /// policy only), tried newest first within the loader's budget; else
    /// the LKG, else golden content.
    fn check_expected_content(
        &self,
        report: &BootReport,
        view: &ChannelView,
        at: &Reference<'_>,
        lkg0: Option<u64>,
        st_now: Option<ChannelState>,
    ) -> Option<String> {
        let c = view.channel;
        let (found, relaxed) = self.newest_allowed(report, c, at, lkg0, st_now);
        let fallback = lkg0.or_else(|| self.golden.get(&c).and_then(|b| oracle(b, c)));
        let found = after_trial_crash(report, at, c, found);
        let expected = found.or(fallback);
        let over = self.over_memory_budget(report, view, expected, found);
        let over_cost = self.over_cost_ceiling(report, c, expected, found);
        let over = over || over_cost;
        (!relaxed && !over && view.active_version != expected).then(|| {
            format!(
                "I4 channel {c}: active {:?} ({}), expected {:?}",
                view.active_version,
                view.source.name(),
                expected
            )
        })
    }

    /// The newest valid version of channel `c` in the directory at boot
    /// that the policy allows and the release gate does not justly keep
    /// back, tried newest first; and whether the loader's budget of invalid
    /// tries ran out before one was found.
    fn newest_allowed(
        &self,
        report: &BootReport,
        c: u32,
        at: &Reference<'_>,
        lkg0: Option<u64>,
        st_now: Option<ChannelState>,
    ) -> (Option<u64>, bool) {
        let floor0 = st_now.map_or(0, |s| s.floor);
        let allowed = |v: u64| {
            !st_now.is_some_and(|s| s.is_quarantined(v))
                && v >= floor0
                && lkg0.is_none_or(|l| v > l)
        };
        let budget = if at.known_at_start.contains(&c) {
            MAX_CANDIDATE_TRIES
        } else {
            MAX_NEW_CHANNEL_TRIES
        };
        let mut present: Vec<(u64, Option<u64>)> = at
            .dir_at_start
            .iter()
            .filter(|(cc, v, _)| *cc == c && allowed(*v))
            .map(|(_, v, ok)| (*v, *ok))
            .collect();
        present.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
        let mut invalid = 0usize;
        let mut found = None;
        let mut relaxed = false;
        let gate = crate::gate_oracle::GateModel::new(self);
        let base = lkg0.unwrap_or(0).max(floor0);
        let base = (base != 0).then_some(base);
        for (v, ok) in present {
            // A valid version the release gate kept back: the
            // refusal must be one the gate's model agrees with.
            let gated = report.decisions.iter().any(|d| {
                d.channel == c
                    && d.version == v
                    && gate.justified(c, v, d.reason, st_now.as_ref(), base)
            });
            if gated {
                continue;
            }
            if ok == Some(v) {
                found = Some(v);
                break;
            }
            invalid += 1;
            if invalid >= budget {
                relaxed = true;
                break;
            }
        }
        (found, relaxed)
    }

    /// Did the memory budget justly refuse `expected`? The budget refused
    /// the expected content: justified only if its charge does not fit next
    /// to the other active channels.
    fn over_memory_budget(
        &self,
        report: &BootReport,
        view: &ChannelView,
        expected: Option<u64>,
        found: Option<u64>,
    ) -> bool {
        let c = view.channel;
        let own = self.active_charge(c, view);
        refused(report, c, Reason::OverMemoryBudget, expected)
            && found.is_some_and(|v| {
                let len = self.content_file(c, v).map_or(0, |b| b.len());
                report.memory.0 - own + changuard_loader::budget::charge(len) > report.memory.1
            })
    }

    /// Did the cost ceiling justly refuse `expected`? Likewise the cost
    /// ceiling: justified only if its proven bound does not fit next to the
    /// other active channels' bounds.
    fn over_cost_ceiling(
        &self,
        report: &BootReport,
        c: u32,
        expected: Option<u64>,
        found: Option<u64>,
    ) -> bool {
        refused(report, c, Reason::OverCostCeiling, expected)
            && found.is_some_and(|v| {
                let mine = self
                    .content_file(c, v)
                    .map(|b| content::cost_bound(&b, c))
                    .unwrap_or_default();
                let others = report
                    .channels
                    .iter()
                    .filter(|o| o.channel != c)
                    .fold(mine, |sum, o| sum.plus(&self.active_cost(o.channel, o)));
                !others.within(changuard_format::cost::SET_CEILING)
            })
    }

    /// Carry what this boot showed of `view`'s channel into the model: it
    /// has had an LKG, a promotion ends any LKG tampering, and the highest
    /// floor seen (the current one after a tampered state record).
    fn record_channel(&mut self, view: &ChannelView, lkg0: Option<u64>) {
        let c = view.channel;
        if view.lkg_version.is_some() && lkg0.is_some() || view.promoted {
            self.model.lkg_ever.insert(c);
        }
        if view.promoted {
            self.model.lkg_tampered.remove(&c);
        }
        let f = self.model.floor_seen.entry(c).or_default();
        *f = (*f).max(view.floor);
        if self.model.state_tampered {
            *f = view.floor;
        }
    }

    /// I10: content on trial passed the release gate, by the gate's model:
    /// not halted, and in keyring mode released to this machine's ring.
    fn check_trials_released(&self, report: &BootReport, at: &Reference<'_>) -> Vec<String> {
        let mut violations = Vec::new();
        let gate = crate::gate_oracle::GateModel::new(self);
        for view in &report.channels {
            let (Source::Candidate, Some(_), Some(v)) =
                (view.source, view.trial_attempt, view.active_version)
            else {
                continue;
            };
            let c = view.channel;
            let continuing = at
                .state_at_start
                .and_then(|s| s.get(c))
                .and_then(|s| s.trial)
                .is_some_and(|t| t.version == v);
            let st_now = at.state_after_boot.and_then(|s| s.get(c));
            let base = at.lkg_at_start.get(&c).copied().flatten().unwrap_or(0).max(
                at.state_at_start
                    .and_then(|s| s.get(c))
                    .map_or(0, |s| s.floor),
            );
            let base = (base != 0).then_some(base);
            if let Some(why) = gate.refuses(c, v, continuing, st_now, base) {
                violations.push(format!("I10 channel {c} v{v} on trial, but {why}"));
            }
        }
        violations
    }

    /// I9: the keyring version and every halt sequence never decrease.
    fn check_sequences(&self, st: &State) -> Vec<String> {
        let mut violations = Vec::new();
        if !self.model.state_tampered {
            if st.keyring_version < self.model.keyring_seen {
                violations.push(format!(
                    "I9 keyring version decreased {} -> {}",
                    self.model.keyring_seen, st.keyring_version
                ));
            }
            for c in st.channels() {
                let seen = self.model.halt_seen.get(&c.channel).copied().unwrap_or(0);
                if c.halt.sequence < seen {
                    violations.push(format!(
                        "I9 channel {} halt sequence decreased {seen} -> {}",
                        c.channel, c.halt.sequence
                    ));
                }
            }
        }
        violations
    }

    /// Remember the keyring version and halt sequences recorded (I9).
    fn record_sequences(&mut self, st: &State) {
        self.model.keyring_seen = st.keyring_version;
        for c in st.channels() {
            self.model.halt_seen.insert(c.channel, c.halt.sequence);
        }
    }
}

/// I3: a quarantined version is never active on trial.
fn check_quarantined_inactive(view: &ChannelView, st_now: Option<ChannelState>) -> Option<String> {
    let c = view.channel;
    if view.source == Source::Candidate {
        if let (Some(v), Some(cs)) = (view.active_version, st_now) {
            if cs.is_quarantined(v) && view.trial_attempt.is_some() {
                return Some(format!("I3 channel {c} quarantined v{v} is active"));
            }
        }
    }
    None
}

/// After a crash on trial content: a recovery boot (LKG), or a
/// retry of the same version (MaxTrialBoots 2).
fn after_trial_crash(
    report: &BootReport,
    at: &Reference<'_>,
    c: u32,
    found: Option<u64>,
) -> Option<u64> {
    let decided = |want: Reason| {
        report
            .decisions
            .iter()
            .find(|d| d.channel == c && d.reason == want)
            .map(|d| d.version)
    };
    match (decided(Reason::RecoveryBoot), decided(Reason::TrialRetried)) {
        (Some(_), _) => None,
        (None, Some(v)) => at
            .dir_at_start
            .iter()
            .any(|(cc, vv, ok)| *cc == c && *vv == v && *ok == Some(v))
            .then_some(v),
        (None, None) => found,
    }
}

/// Did the loader refuse `expected` of channel `c` for `why`?
fn refused(report: &BootReport, c: u32, why: Reason, expected: Option<u64>) -> bool {
    report
        .decisions
        .iter()
        .any(|d| d.channel == c && d.reason == why && Some(d.version) == expected)
}

/// What the reference knew at the start of a boot (for the invariants).
pub(super) struct Reference<'a> {
    pub(super) lkg_at_start: &'a BTreeMap<u32, Option<u64>>,
    pub(super) known_at_start: &'a BTreeSet<u32>,
    pub(super) dir_at_start: &'a [(u32, u64, Option<u64>)],
    pub(super) state_at_start: Option<&'a State>,
    pub(super) state_after_boot: Option<&'a State>,
    pub(super) crashed_by: &'a [(u32, u64)],
}
