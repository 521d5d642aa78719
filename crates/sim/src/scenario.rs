//! Named scenarios (the boot-loop matrix shares their names) and the
//! exhaustive crash explorer.
//!
//! Every scenario is about channel 291. All but `first-install` start from the
//! matrix baseline: v6 delivered on a fresh machine and booted past the health
//! window (v6 active, promoted to LKG, floor 6). "Bad" scenarios deliver v7.
//! (scripts/bootloop-matrix.json uses v6/v7; the scenario versions follow it.)

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use changuard_loader::Mutation;

use crate::content::Kind;
use crate::disk::Disk;
use crate::machine::{BootEnd, BootPlan, BootReport, ChannelView, CrashAt, Machine, Op};

/// The channel scenarios are about.
pub const CHANNEL: u32 = 291;

/// One scenario step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// The update agent delivers `(version, kind)` durably.
    Deliver(u64, Kind),
    /// Power is cut while the agent writes `version`: half of it reaches the disk.
    DeliverTorn(u64),
    /// Boot past the health window.
    Boot,
    /// Boot, then reboot normally before the health window.
    BootEarlyReboot,
    /// Boot; power is cut right after the first op of this kind.
    BootPowerLossAfter(Op),
    /// Bit rot in the LKG copy.
    CorruptLkg,
    /// The newest state record slot is torn.
    TearState,
}

/// A scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Name (matrix `sim_scenario`).
    pub name: &'static str,
    /// What it shows.
    pub description: &'static str,
    /// Steps (the baseline prefix included).
    pub steps: Vec<Step>,
    /// Steps that are the baseline (crashes there do not count for the case).
    pub baseline_len: usize,
}

const BASELINE: [Step; 2] = [Step::Deliver(6, Kind::Good), Step::Boot];

fn with_baseline(name: &'static str, description: &'static str, rest: &[Step]) -> Scenario {
    let mut steps = BASELINE.to_vec();
    steps.extend_from_slice(rest);
    Scenario {
        name,
        description,
        steps,
        baseline_len: BASELINE.len(),
    }
}

/// Every scenario.
pub fn all() -> Vec<Scenario> {
    use Step::*;
    vec![
        Scenario {
            name: "first-install",
            description: "fresh machine, v6 delivered: trial, health window, promotion",
            steps: BASELINE.to_vec(),
            baseline_len: 0,
        },
        with_baseline(
            "routine-update",
            "v7 delivered over LKG v6: trial, promotion",
            &[Deliver(7, Kind::Good), Boot],
        ),
        with_baseline(
            "corrupt-update",
            "v7 truncated: rejected, LKG v6",
            &[Deliver(7, Kind::Truncated), Boot],
        ),
        with_baseline(
            "bad-signature",
            "v7 with a flipped signature byte: rejected, LKG v6",
            &[Deliver(7, Kind::BadSig), Boot],
        ),
        with_baseline(
            "wrong-schema",
            "v7 signed for another schema: rejected, LKG v6",
            &[Deliver(7, Kind::WrongSchema), Boot],
        ),
        with_baseline(
            "july-19",
            "the 291 replay: NamedPipeCreate instance with 21 criteria, rejected before interpretation",
            &[Deliver(7, Kind::July19), Boot],
        ),
        with_baseline(
            "poison-update",
            "valid v7 that crashes the machine: one crash, quarantined, LKG v6",
            &[Deliver(7, Kind::Poison), Boot, Boot],
        ),
        with_baseline(
            "update-during-trial",
            "v7 on trial, rebooted before its health window, v8 arrives: v7 quarantined (unfinished trial), v8 trial + promotion",
            &[
                Deliver(7, Kind::Good),
                BootEarlyReboot,
                Deliver(8, Kind::Good),
                Boot,
            ],
        ),
        with_baseline(
            "lkg-corrupted",
            "LKG copy rotten and v7 truncated: no content for the channel, driver still up",
            &[CorruptLkg, Deliver(7, Kind::Truncated), Boot],
        ),
        with_baseline(
            "state-record-torn",
            "newest state slot torn: the older slot is used, v7 trial + promotion",
            &[TearState, Deliver(7, Kind::Good), Boot],
        ),
        with_baseline(
            "power-loss-during-update",
            "v7 torn by power loss while delivered: rejected, LKG v6",
            &[DeliverTorn(7), Boot],
        ),
        with_baseline(
            "power-loss-during-promotion",
            "power cut after the LKG temp copy is flushed: v7 quarantined (unfinished trial), LKG v6 intact",
            &[
                Deliver(7, Kind::Good),
                BootPowerLossAfter(Op::LkgFlushTemp),
                Boot,
            ],
        ),
    ]
}

/// Look a scenario up by name.
pub fn by_name(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

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

fn apply(m: &mut Machine, step: Step) -> Option<BootPlan> {
    match step {
        Step::Deliver(v, k) => m.deliver(CHANNEL, v, k),
        Step::DeliverTorn(v) => m.deliver_torn(CHANNEL, v),
        Step::CorruptLkg => m.corrupt_lkg(CHANNEL),
        Step::TearState => m.tear_newest_state(),
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
const SETTLE_BOOTS: usize = 4;

fn settled(r: &BootReport) -> bool {
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
                violations.push(format!("{label} step {i} ({step:?}): {v}"));
            }
            boots.push((i, format!("{step:?}"), r));
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
            boots.push((steps.len(), format!("Settle#{k}"), r));
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

/// Exhaustive exploration result.
#[derive(Clone, Debug, Default)]
pub struct Exhaustive {
    /// Distinct post-crash states explored.
    pub crash_states: u64,
    /// Boots executed.
    pub boots: u64,
    /// Crashes (poison) in all runs.
    pub crashes: u64,
    /// Largest crash count of one version in one run.
    pub max_crashes_per_version: u32,
    /// Violations, each with its replay trace.
    pub violations: Vec<Violation>,
}

/// A violation with the trace to replay it.
#[derive(Clone, Debug)]
pub struct Violation {
    /// Scenario.
    pub scenario: &'static str,
    /// Crash choices from the scenario start: (step index, mutating op number, variant index).
    pub trace: Vec<(usize, u64, usize)>,
    /// What was violated.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scenario {}: {}\n  replay: changuard simulate --scenario {} --crash-trace ",
            self.scenario, self.message, self.scenario
        )?;
        let parts: Vec<String> = self
            .trace
            .iter()
            .map(|(s, k, v)| format!("{s}:{k}:{v}"))
            .collect();
        write!(f, "{}", parts.join(","))
    }
}

/// Max nested crashes per path (a crash, then a crash during recovery).
pub const MAX_DEPTH: usize = 5;

struct Explorer<'a> {
    scenario: &'a Scenario,
    seen: HashSet<u64>,
    out: Exhaustive,
    max_violations: usize,
}

fn key(m: &Machine, next_step: usize) -> u64 {
    let mut h = DefaultHasher::new();
    m.image().hash(&mut h);
    m.model.hash(&mut h);
    m.registry.hash(&mut h);
    next_step.hash(&mut h);
    h.finish()
}

impl Explorer<'_> {
    /// Run steps from `from` on `m`, and at every mutating op of every boot,
    /// branch into every crash variant.
    fn explore(&mut self, mut m: Machine, from: usize, trace: Vec<(usize, u64, usize)>) {
        if self.out.violations.len() >= self.max_violations {
            return;
        }
        let steps = self.scenario.steps.clone();
        let depth = trace.len();
        let total = steps.len() + SETTLE_BOOTS;
        let mut i = from;
        while i < total {
            let plan = if i < steps.len() {
                match apply(&mut m, steps[i]) {
                    Some(p) => p,
                    None => {
                        i += 1;
                        continue;
                    }
                }
            } else {
                BootPlan::default()
            };
            let before = m.clone();
            let mut snaps: Vec<(u64, Disk)> = vec![];
            let r = if depth < MAX_DEPTH {
                let mut probe = |k: u64, d: &Disk| snaps.push((k, d.clone()));
                m.boot(plan, None, Some(&mut probe))
            } else {
                m.boot(plan, None, None)
            };
            self.out.boots += 1;
            if let BootEnd::Crashed(v) = &r.end {
                self.out.crashes += v.len() as u64;
            }
            for v in &r.violations {
                self.out.violations.push(Violation {
                    scenario: self.scenario.name,
                    trace: trace.clone(),
                    message: format!("boot at step {i}: {v}"),
                });
            }
            let worst = m.model.crashes.values().copied().max().unwrap_or(0);
            self.out.max_crashes_per_version = self.out.max_crashes_per_version.max(worst);
            if !r.violations.is_empty() {
                return;
            }
            // Branch: power loss right after each mutating op of this boot.
            for (k, disk) in snaps {
                for (vi, v) in disk.variants().iter().enumerate() {
                    let mut c = before.clone();
                    c.disk = Disk::from_image(&disk.crash(v));
                    c.model.power_losses += 1;
                    let kk = key(&c, i + 1);
                    if !self.seen.insert(kk) {
                        continue;
                    }
                    self.out.crash_states += 1;
                    let mut t = trace.clone();
                    t.push((i, k, vi));
                    self.explore(c, i + 1, t);
                }
            }
            if i >= steps.len() && settled(&r) {
                break;
            }
            if i + 1 == steps.len() && settled(&r) {
                break;
            }
            i += 1;
        }
    }
}

/// Explore every crash point and tear variant of `s` (nested up to [`MAX_DEPTH`]),
/// under `MaxTrialBoots` 1 (default) and 2.
pub fn exhaustive(s: &Scenario, mutation: Option<Mutation>, max_violations: usize) -> Exhaustive {
    let mut ex = Explorer {
        scenario: s,
        seen: HashSet::new(),
        out: Exhaustive::default(),
        max_violations,
    };
    for max_trial in [1u32, 2] {
        let mut m = Machine::new(mutation);
        if max_trial != 1 {
            m.set_dword("MaxTrialBoots", max_trial);
        }
        ex.explore(m, 0, vec![]);
        if !ex.out.violations.is_empty() {
            break;
        }
    }
    ex.out
}

/// Replay a crash trace (from [`Violation`]) and return the boot reports.
pub fn replay(
    s: &Scenario,
    mutation: Option<Mutation>,
    trace: &[(usize, u64, usize)],
) -> Vec<(String, BootReport)> {
    let mut m = Machine::new(mutation);
    let mut out = vec![];
    let steps = &s.steps;
    let total = steps.len() + SETTLE_BOOTS;
    let mut i = 0;
    while i < total {
        let plan = if i < steps.len() {
            match apply(&mut m, steps[i]) {
                Some(p) => p,
                None => {
                    i += 1;
                    continue;
                }
            }
        } else {
            BootPlan::default()
        };
        let crash = trace.iter().find(|(si, _, _)| *si == i).copied();
        let label = if i < steps.len() {
            format!("step {i} {:?}", steps[i])
        } else {
            format!("settle {}", i - steps.len())
        };
        match crash {
            Some((_, k, vi)) => {
                let mut snap: Option<Disk> = None;
                let mut probe = |n: u64, d: &Disk| {
                    if n == k {
                        snap = Some(d.clone());
                    }
                };
                let before = m.clone();
                let r = m.boot(plan, None, Some(&mut probe));
                if let Some(d) = snap {
                    let vs = d.variants();
                    m = before;
                    m.disk = Disk::from_image(&d.crash(&vs[vi % vs.len()]));
                    m.model.power_losses += 1;
                    let mut r2 = r.clone();
                    r2.end = BootEnd::PowerLoss(Op::StateWrite);
                    out.push((
                        format!("{label} (power loss after mutating op {k}, variant {vi})"),
                        r2,
                    ));
                    i += 1;
                    continue;
                }
                let done = settled(&r);
                out.push((label, r));
                if i >= steps.len() && done {
                    break;
                }
            }
            None => {
                let r = m.boot(plan, None, None);
                let done = settled(&r);
                out.push((label, r));
                if i >= steps.len() - 1 && done {
                    break;
                }
            }
        }
        i += 1;
    }
    out
}

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

/// Run the fleet replay.
pub fn july19_fleet(machines: u64, mut progress: impl FnMut(u64)) -> Fleet {
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
                    reboot_early: false,
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
                    "machine {seed}: ends on {:?} ({})",
                    c.active_version,
                    c.source.name()
                ));
            }
        }
        f.boots += m.model.boots;
        f.crashes += m.model.total_crashes;
        f.power_losses += m.model.power_losses;
        if (seed + 1) % 50 == 0 {
            progress(seed + 1);
        }
    }
    f
}
