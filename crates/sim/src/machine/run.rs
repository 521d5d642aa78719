//! One boot under way: the loader over the simulated platform, from its
//! boot to the shutdown notification, and the report of what it did.

use std::collections::BTreeSet;

use changuard_format::AlignedBytes;
use changuard_loader::limits::MAX_PROMOTION_TRIES;
use changuard_loader::state::State;
use changuard_loader::{Loader, Setup};

use super::{
    BootEnd, BootPlan, BootReport, ChannelView, MAX_OPS_PER_BOOT, Model, Op, SimPlatform, oracle,
};

/// One boot under way: the platform over the machine's disk, the loader on
/// it, and what the boot has done so far.
pub(super) struct Run<'a, 'p> {
    pub(super) p: SimPlatform<'a, 'p>,
    pub(super) loader: Loader<AlignedBytes>,
    pub(super) report: BootReport,
    /// Every trial recorded or running in this boot: if the boot does not
    /// end cleanly, the loader may count each of them as crashed (I7).
    touched: BTreeSet<(u32, u64)>,
    /// The loader's state record after its last load (boot or reload).
    pub(super) state_after_boot: Option<State>,
}

impl<'a, 'p> Run<'a, 'p> {
    /// The loader's boot over `p`, with `on_disk` in the content directory.
    pub(super) fn start(
        mut p: SimPlatform<'a, 'p>,
        setup: &Setup<'_>,
        on_disk: Vec<String>,
    ) -> Self {
        let report = BootReport {
            end: BootEnd::Healthy,
            channels: vec![],
            decisions: vec![],
            ops: 0,
            on_disk,
            violations: vec![],
            reloaded: false,
            io_failures: 0,
            clean_shutdown: false,
            memory: (0, 0),
        };
        let mut touched: BTreeSet<(u32, u64)> = BTreeSet::new();
        let loader = changuard_loader::boot(&mut p, setup);
        note_trials(&loader, &mut touched);
        let state_after_boot = loader.state().copied();
        Run {
            p,
            loader,
            report,
            touched,
            state_after_boot,
        }
    }

    /// `IOCTL_RELOAD` after activation, carrying over the trials running
    /// except on the `faulted` channels.
    pub(super) fn reload(&mut self, setup: &Setup<'_>, faulted: &BTreeSet<u32>) {
        // IOCTL_RELOAD: the new content is built before the old is dropped.
        self.report.reloaded = true;
        let ids: Vec<u32> = faulted.iter().copied().collect();
        let resume = self.loader.resume(&ids);
        let next = changuard_loader::reload(&mut self.p, setup, &resume);
        drop(std::mem::replace(&mut self.loader, next));
        note_trials(&self.loader, &mut self.touched);
        self.state_after_boot = self.loader.state().copied();
    }

    /// I1 and I6 once the content is active.
    pub(super) fn check_active(&mut self) {
        // I1: everything active re-validates (the sim's own check of the same bytes).
        for c in self.loader.channels() {
            if let Some(a) = &c.active {
                if oracle(a.as_bytes(), c.channel) != Some(a.version()) {
                    self.report.violations.push(format!(
                        "I1 channel {} active v{} does not validate",
                        c.channel,
                        a.version()
                    ));
                }
            }
        }
        if self.p.ops > MAX_OPS_PER_BOOT {
            self.report.violations.push(format!(
                "I6 {} platform ops in one boot > {MAX_OPS_PER_BOOT}",
                self.p.ops
            ));
        }
    }

    /// Poison in `crashed_by` crashed the machine: every trial the boot
    /// touched ended uncleanly, and each crash counts against its trial (I3).
    pub(super) fn crashed(&mut self, model: &mut Model, crashed_by: &[(u32, u64)]) {
        self.report.end = BootEnd::Crashed(crashed_by.to_vec());
        model.unclean.extend(self.touched.iter().copied());
        for (c, v) in crashed_by {
            let on_trial = self
                .loader
                .channels()
                .iter()
                .any(|o| o.channel == *c && o.trial_attempt.is_some());
            if on_trial {
                *model.crashes.entry((*c, *v)).or_default() += 1;
            } else {
                // Poison outside a trial would be a crash of proven content.
                self.report.violations.push(format!(
                    "I3 channel {c} v{v} crashed the machine while not on trial"
                ));
            }
            model.total_crashes += 1;
        }
    }

    /// The machine stays up: it reboots early, before the health `window`,
    /// or runs past it to promotion (with `plan.fail` injected into it). The
    /// channels promoted.
    pub(super) fn stay_up(
        &mut self,
        setup: &Setup<'_>,
        plan: BootPlan,
        window: u64,
        faulted_ids: &[u32],
    ) -> BTreeSet<u32> {
        if plan.reboot_early {
            self.report.end = BootEnd::RebootedEarly;
            return BTreeSet::new();
        }
        self.p.uptime = window;
        let pending: Vec<u32> = self
            .loader
            .channels()
            .iter()
            .filter(|c| c.promotion == changuard_loader::Promotion::Pending)
            .map(|c| c.channel)
            .collect();
        // The driver retries a promotion whose LKG store step failed
        // (bounded by the loader).
        self.p.fail = plan.fail;
        for _ in 0..MAX_PROMOTION_TRIES {
            let Some(proof) = self.loader.health_confirmed(&mut self.p) else {
                break;
            };
            let _ = self.loader.promote(&mut self.p, setup, proof, faulted_ids);
            if self.p.crashed || !self.loader.promotion_pending() {
                break;
            }
        }
        self.p.fail = None;
        let mut promoted: BTreeSet<u32> = BTreeSet::new();
        for c in self.loader.channels() {
            if pending.contains(&c.channel) && c.promotion == changuard_loader::Promotion::Done {
                promoted.insert(c.channel);
            }
        }
        promoted
    }

    /// The shutdown notification, unless power is already lost.
    pub(super) fn shut_down(&mut self, faulted_ids: &[u32]) {
        if !self.p.crashed {
            self.report.clean_shutdown = self.loader.shutdown(&mut self.p, faulted_ids).is_ok();
        }
    }

    /// Power was lost at the injected crash point (after the last mutating
    /// op): the report, and the trials the boot touched.
    pub(super) fn power_loss(mut self) -> (BootReport, BTreeSet<(u32, u64)>) {
        let last = self
            .p
            .log
            .iter()
            .rev()
            .find(|o| o.mutates())
            .copied()
            .unwrap_or(Op::StateWrite);
        self.report.end = BootEnd::PowerLoss(last);
        self.take_platform_record();
        (self.report, self.touched)
    }

    /// Power is cut at the end of the boot, with nothing being written: the
    /// report, and the trials the boot touched.
    pub(super) fn power_cut(mut self) -> (BootReport, BTreeSet<(u32, u64)>) {
        self.report.end = BootEnd::PowerCut;
        self.take_platform_record();
        (self.report, self.touched)
    }

    /// The boot kept power to its end: I8, the channels, and the platform's
    /// record complete the report.
    pub(super) fn close(mut self, promoted: &BTreeSet<u32>) -> BootReport {
        self.check_memory();
        self.report.channels = self.channel_views(promoted);
        self.take_platform_record();
        self.report
    }

    fn check_memory(&mut self) {
        // I8: the active channels' charges sum to what the loader reports,
        // within the budget (computed here from the active bytes).
        let budget = self.loader.memory();
        self.report.memory = (budget.charged(), budget.limit());
        let sum: u64 = self
            .loader
            .channels()
            .iter()
            .filter_map(|c| c.active.as_ref())
            .map(|a| changuard_loader::budget::charge(a.as_bytes().len()))
            .sum();
        if sum != budget.charged() || sum > budget.limit() {
            self.report.violations.push(format!(
                "I8 active channels charged {sum} bytes, loader reports {}, budget {}",
                budget.charged(),
                budget.limit()
            ));
        }
    }

    /// Each channel as the loader left it (`promoted`: promoted this boot).
    fn channel_views(&self, promoted: &BTreeSet<u32>) -> Vec<ChannelView> {
        let state = self.loader.state().copied();
        self.loader
            .channels()
            .iter()
            .map(|c| {
                let cs = state.as_ref().and_then(|s| s.get(c.channel).copied());
                ChannelView {
                    channel: c.channel,
                    source: c.source,
                    active_version: c.active_version(),
                    trial_attempt: c.trial_attempt,
                    lkg_version: c.lkg_version,
                    quarantined: cs.map(|s| s.quarantined().to_vec()).unwrap_or_default(),
                    quarantine_floor: cs.map_or(0, |s| s.quarantine_floor()),
                    floor: cs.map_or(0, |s| s.floor),
                    promoted: promoted.contains(&c.channel),
                    last_problem: c.last_problem.map(|d| d.reason.name()),
                }
            })
            .collect()
    }

    /// The platform's op count, failed calls and decisions into the report.
    fn take_platform_record(&mut self) {
        self.report.ops = self.p.ops;
        self.report.io_failures = self.p.failed;
        self.report.decisions = std::mem::take(&mut self.p.decisions);
    }
}

/// Add the trials in `loader`'s state record to `touched`.
fn note_trials(loader: &Loader<AlignedBytes>, touched: &mut BTreeSet<(u32, u64)>) {
    if let Some(s) = loader.state() {
        touched.extend(
            s.channels()
                .iter()
                .filter_map(|c| c.trial.map(|tr| (c.channel, tr.version))),
        );
    }
}
