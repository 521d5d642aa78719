//! Running a scenario: its steps applied to a machine, boot by boot, then
//! boots until the machine settles.

use changuard_loader::Mutation;

use super::{CHANNEL, Scenario, Step, ring_machine_id};
use crate::content::{self, Kind};
use crate::machine::{BootEnd, BootPlan, BootReport, ChannelView, CrashAt, Machine};
use crate::vendor::{self, KeyringKind, Plan, Signer};

/// A scenario run, boot by boot.
#[derive(Clone, Debug)]
pub struct Run {
    /// `(step index, label, report)` per boot.
    pub boots: Vec<(usize, String, BootReport)>,
    /// Final channel 291 view.
    pub final_view: Option<ChannelView>,
    /// All channels after the last boot.
    pub final_channels: Vec<ChannelView>,
    /// Crashes after the baseline.
    pub case_crashes: u64,
    /// Violations (boot label: message).
    pub violations: Vec<String>,
    /// The machine at the end.
    pub machine: Machine,
}

pub(super) fn apply(m: &mut Machine, step: Step) -> Option<BootPlan> {
    match step {
        Step::Deliver(v, k) => m.deliver(CHANNEL, v, k),
        Step::DeliverMany(from, to, k) => {
            for v in from..=to {
                m.deliver(CHANNEL, v, k);
            }
        }
        Step::BootPowerCut => {
            return Some(BootPlan {
                reboot_early: true,
                power_cut: true,
                ..BootPlan::default()
            });
        }
        Step::BootReload => {
            return Some(BootPlan {
                reload: true,
                ..BootPlan::default()
            });
        }
        Step::BootPromotionFailsThenPowerCut(f) => {
            return Some(BootPlan {
                fail: Some(f),
                power_cut: true,
                ..BootPlan::default()
            });
        }
        Step::DeliverTorn(v) => m.deliver_torn(CHANNEL, v),
        Step::CorruptLkg => m.corrupt_lkg(CHANNEL),
        Step::TearState => m.tear_newest_state(),
        Step::DeliverMaximal(n) => {
            for c in 1..=n {
                m.deliver(c, 1, Kind::Maximal);
            }
        }
        Step::EnableKeyrings => {
            m.keyring_mode = true;
            m.set_binary("MachineId", &ring_machine_id());
            m.clock = Some(vendor::T0);
            m.deliver_file(
                changuard_loader::names::KEYRING_NAME,
                &vendor::keyring(KeyringKind::Initial),
            );
            apply(m, Step::PublishRelease(6, Plan::AllAtOnce, Signer::Sim));
        }
        Step::ClockAt(h) => m.clock = Some(vendor::T0 + h * vendor::HOUR),
        Step::PublishKeyring(k) => {
            m.deliver_file(changuard_loader::names::KEYRING_NAME, &vendor::keyring(k));
        }
        Step::PublishRelease(v, plan, signer) => m.deliver_file(
            changuard_loader::names::FileName::release(CHANNEL, v).as_str(),
            &vendor::release(CHANNEL, v, plan, signer),
        ),
        Step::PublishHalt(s, a, b) => m.deliver_file(
            changuard_loader::names::FileName::halt(CHANNEL).as_str(),
            &vendor::halt(CHANNEL, s, a, b),
        ),
        Step::DeliverSigned(v, k, signer) => {
            let name = changuard_loader::names::FileName::new(CHANNEL, v);
            let bytes = match signer {
                Signer::Sim => content::bytes(CHANNEL, v, k),
                Signer::Second => content::bytes_signed(CHANNEL, v, k, content::key2()),
            };
            m.deliver_file(name.as_str(), &bytes);
        }
        Step::Boot => return Some(BootPlan::default()),
        Step::BootEarlyReboot => {
            return Some(BootPlan {
                reboot_early: true,
                ..BootPlan::default()
            });
        }
        Step::BootPowerLossAfter(op) => {
            return Some(BootPlan {
                crash_at: Some(CrashAt::After(op)),
                ..BootPlan::default()
            });
        }
    }
    None
}

/// After the steps, boot until a boot runs past its health window with nothing
/// left on trial (at most this many extra boots).
pub(super) const SETTLE_BOOTS: usize = 4;

pub(super) fn settled(r: &BootReport) -> bool {
    r.end == BootEnd::Healthy
        && r.channels
            .iter()
            .all(|c| c.trial_attempt.is_none() || c.promoted)
}

/// Run `steps[from..]` on `m`, then settle. Crash points may be probed.
pub fn run_from(
    mut m: Machine,
    steps: &[Step],
    from: usize,
    baseline_len: usize,
    label: &str,
) -> Run {
    let mut boots = vec![];
    let mut violations = vec![];
    let mut crashes_at_baseline = if from >= baseline_len {
        Some(m.model.total_crashes)
    } else {
        None
    };
    for (i, step) in steps.iter().enumerate().skip(from) {
        if i == baseline_len && crashes_at_baseline.is_none() {
            crashes_at_baseline = Some(m.model.total_crashes);
        }
        if let Some(plan) = apply(&mut m, *step) {
            let r = m.boot(plan, None, None);
            for v in &r.violations {
                violations.push(format!("{label} step {i} ({step}): {v}"));
            }
            boots.push((i, format!("step {i} {step}"), r));
        }
    }
    let base = crashes_at_baseline.unwrap_or(m.model.total_crashes);
    let needs_settle = boots.last().is_none_or(|(_, _, r)| !settled(r));
    if needs_settle {
        for k in 0..SETTLE_BOOTS {
            let r = m.boot(BootPlan::default(), None, None);
            for v in &r.violations {
                violations.push(format!("{label} settle boot {k}: {v}"));
            }
            let done = settled(&r);
            boots.push((steps.len(), format!("settle {k}"), r));
            if done {
                break;
            }
        }
    }
    let final_channels = boots
        .last()
        .map(|(_, _, r)| r.channels.clone())
        .unwrap_or_default();
    let final_view = final_channels
        .iter()
        .find(|c| c.channel == CHANNEL)
        .cloned();
    Run {
        boots,
        final_view,
        final_channels,
        case_crashes: m.model.total_crashes - base,
        violations,
        machine: m,
    }
}

/// Run a scenario with no injected crash.
pub fn run(s: &Scenario, mutation: Option<Mutation>) -> Run {
    run_from(Machine::new(mutation), &s.steps, 0, s.baseline_len, s.name)
}

/// A fresh machine with `mutation` and the `MaxTrialBoots` registry value
/// (1, the default, leaves the registry empty).
pub fn machine(mutation: Option<Mutation>, max_trial_boots: u32) -> Machine {
    let mut m = Machine::new(mutation);
    if max_trial_boots != 1 {
        m.set_dword("MaxTrialBoots", max_trial_boots);
    }
    m
}
