//! The 19 July 2024 replay on a simulated fleet.

use super::CHANNEL;
use crate::Progress;
use crate::content::Kind;
use crate::machine::{BootEnd, BootPlan, CrashAt, Machine};

/// The 19 July 2024 replay on a fleet: every machine is online with v6 active
/// (some still on trial, some mid-boot, some losing power), then receives the
/// July-19 v7 of channel 291 at a machine-specific moment.
#[derive(Clone, Debug, Default)]
pub struct Fleet {
    /// Machines simulated.
    pub machines: u64,
    /// Boots in total.
    pub boots: u64,
    /// Crashes (bugchecks) in total: must be 0.
    pub crashes: u64,
    /// Power losses injected.
    pub power_losses: u64,
    /// Machines whose channel 291 ends on valid v6 content.
    pub on_valid_content: u64,
    /// Violations (machine seed: message).
    pub violations: Vec<String>,
}

/// Run the fleet replay. `progress` gets the machines done (now and then).
pub fn july19_fleet(machines: u64, mut progress: impl FnMut(u64)) -> Fleet {
    july19_fleet_with(machines, &mut |done, _total| progress(done))
}

/// Machines between two [`Progress`] updates of the fleet replay.
pub const FLEET_PROGRESS_EVERY: u64 = 16;

/// [`july19_fleet`] with a [`Progress`]: machines done of `machines`, every
/// [`FLEET_PROGRESS_EVERY`] machines and at the end. The fleet runs the
/// protocol as shipped (no mutation).
pub fn july19_fleet_with(machines: u64, progress: &mut dyn Progress) -> Fleet {
    use crate::random::Rng;
    let mut f = Fleet {
        machines,
        ..Fleet::default()
    };
    for seed in 0..machines {
        let mut rng = Rng::new(seed);
        let mut m = Machine::new(None);
        if rng.pct(30) {
            m.set_dword("MaxTrialBoots", 2);
        }
        m.deliver(CHANNEL, 6, Kind::Good);
        // Online with v6 (installed, booted past its health window), then a few
        // more boots: some rebooted early, some with power cuts.
        let r = m.boot(BootPlan::default(), None, None);
        f.violations
            .extend(r.violations.iter().map(|v| format!("machine {seed}: {v}")));
        let before = rng.below(4);
        for _ in 0..before {
            let crash = rng.pct(20).then(|| CrashAt::Nth(1 + rng.below(8)));
            let r = m.boot(
                BootPlan {
                    crash_at: crash,
                    reboot_early: rng.pct(20),
                    ..BootPlan::default()
                },
                Some(rng.next_u64() as u32),
                None,
            );
            f.violations
                .extend(r.violations.iter().map(|v| format!("machine {seed}: {v}")));
        }
        // 04:09 UTC: the update lands; some machines lose power while it is written.
        if rng.pct(5) {
            m.deliver_torn(CHANNEL, 7);
        }
        m.deliver(CHANNEL, 7, Kind::July19);
        let after = 1 + rng.below(3);
        let mut last = None;
        for i in 0..after {
            let crash = (i + 1 < after && rng.pct(15)).then(|| CrashAt::Nth(1 + rng.below(8)));
            let r = m.boot(
                BootPlan {
                    crash_at: crash,
                    ..BootPlan::default()
                },
                Some(rng.next_u64() as u32),
                None,
            );
            f.violations
                .extend(r.violations.iter().map(|v| format!("machine {seed}: {v}")));
            last = Some(r);
        }
        let last = match last {
            Some(r) if r.end == BootEnd::Healthy => r,
            _ => m.boot(BootPlan::default(), None, None),
        };
        if let Some(c) = last.channels.iter().find(|c| c.channel == CHANNEL) {
            if c.active_version == Some(6)
                && matches!(
                    c.source,
                    changuard_loader::Source::Lkg | changuard_loader::Source::Candidate
                )
            {
                f.on_valid_content += 1;
            } else {
                f.violations.push(format!(
                    "machine {seed}: ends on {} ({})",
                    crate::timeline::version(c.active_version),
                    c.source.name()
                ));
            }
        }
        f.boots += m.model.boots;
        f.crashes += m.model.total_crashes;
        f.power_losses += m.model.power_losses;
        if (seed + 1) % FLEET_PROGRESS_EVERY == 0 {
            progress.update(seed + 1, machines);
        }
    }
    progress.update(machines, machines);
    f
}
