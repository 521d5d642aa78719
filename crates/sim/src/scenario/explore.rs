//! The exhaustive explorer: every crash point, tear variant and alternative
//! boot of a scenario, and replaying the trace of what it found.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use changuard_loader::Mutation;

use super::run::{SETTLE_BOOTS, apply, machine, settled};
use super::{Scenario, Step};
use crate::Progress;
use crate::disk::Disk;
use crate::machine::{BootEnd, BootPlan, BootReport, CrashAt, FailOp, Machine, Op, trials_on};

/// Exhaustive exploration result.
#[derive(Clone, Debug, Default)]
pub struct Exhaustive {
    /// Distinct post-crash states explored (power loss after a mutating op).
    pub crash_states: u64,
    /// Distinct states after an alternative boot ([`Alt`]: clean reboot,
    /// reload, power cut, promotion I/O failure).
    pub alt_states: u64,
    /// Alternative boots run, per kind: clean reboots, reloads, power cuts,
    /// promotion I/O failures.
    pub alt_boots: [u64; 4],
    /// Boots executed.
    pub boots: u64,
    /// Crashes (poison) in all runs.
    pub crashes: u64,
    /// Largest crash count of one version in one run.
    pub max_crashes_per_version: u32,
    /// Violations, each with its replay trace.
    pub violations: Vec<Violation>,
}

/// Another way a plain `Boot` step can go (explored as a branch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alt {
    /// A clean reboot before the health window.
    Reboot,
    /// `IOCTL_RELOAD` before the health window.
    Reload,
    /// A power cut before the health window, with nothing being written.
    PowerCut,
    /// A promotion I/O failure.
    Fail(FailOp),
}

impl Alt {
    /// Every alternative the explorer tries at a `Boot` step.
    pub fn all() -> Vec<Alt> {
        let mut v = vec![Alt::Reboot, Alt::Reload, Alt::PowerCut];
        for op in FailOp::PROMOTION_OPS {
            for persistent in [false, true] {
                v.push(Alt::Fail(FailOp { op, persistent }));
            }
        }
        v
    }

    fn plan(self, mut p: BootPlan) -> BootPlan {
        match self {
            Alt::Reboot => p.reboot_early = true,
            Alt::Reload => p.reload = true,
            Alt::PowerCut => {
                p.reboot_early = true;
                p.power_cut = true;
            }
            Alt::Fail(f) => p.fail = Some(f),
        }
        p
    }

    fn kind(self) -> usize {
        match self {
            Alt::Reboot => 0,
            Alt::Reload => 1,
            Alt::PowerCut => 2,
            Alt::Fail(_) => 3,
        }
    }

    /// Stable name (`reboot`, `reload`, `power-cut`, `fail-rename`,
    /// `fail-rename-always`, ...), as in a crash trace.
    pub fn name(self) -> String {
        match self {
            Alt::Reboot => "reboot".to_owned(),
            Alt::Reload => "reload".to_owned(),
            Alt::PowerCut => "power-cut".to_owned(),
            Alt::Fail(f) => format!("fail-{}", f.name()),
        }
    }

    fn parse(s: &str) -> Option<Alt> {
        match s {
            "reboot" => Some(Alt::Reboot),
            "reload" => Some(Alt::Reload),
            "power-cut" => Some(Alt::PowerCut),
            _ => FailOp::parse(s.strip_prefix("fail-")?).map(Alt::Fail),
        }
    }
}

/// One explorer choice at a scenario step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Choice {
    /// Power loss right after the `op`-th mutating op, with tear variant `variant`.
    Crash {
        /// 1-based mutating op of the boot.
        op: u64,
        /// Index into the disk's crash variants at that point.
        variant: usize,
    },
    /// The boot goes another way.
    Plan(Alt),
}

/// A trace step: the scenario step index and the choice made there.
pub type TraceStep = (usize, Choice);

/// `STEP:OP:VARIANT` (a crash) or `STEP:ALT` (`reboot`, `reload`,
/// `power-cut`, `fail-rename`, `fail-rename-always`, ...), comma-separated.
pub fn format_trace(trace: &[TraceStep]) -> String {
    let parts: Vec<String> = trace
        .iter()
        .map(|(s, c)| match c {
            Choice::Crash { op, variant } => format!("{s}:{op}:{variant}"),
            Choice::Plan(a) => format!("{s}:{}", a.name()),
        })
        .collect();
    parts.join(",")
}

/// Parse [`format_trace`]'s output.
pub fn parse_trace(s: &str) -> Option<Vec<TraceStep>> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut it = p.split(':');
            let step = it.next()?.parse().ok()?;
            let second = it.next()?;
            let choice = match it.next() {
                Some(v) => Choice::Crash {
                    op: second.parse().ok()?,
                    variant: v.parse().ok()?,
                },
                None => Choice::Plan(Alt::parse(second)?),
            };
            it.next().is_none().then_some((step, choice))
        })
        .collect()
}

/// A violation with everything needed to replay it.
#[derive(Clone, Debug)]
pub struct Violation {
    /// Scenario.
    pub scenario: &'static str,
    /// Choices from the scenario start.
    pub trace: Vec<TraceStep>,
    /// What was violated.
    pub message: String,
    /// The injected protocol bug of the run.
    pub mutation: Option<Mutation>,
    /// The `MaxTrialBoots` registry value of the run (the explorer runs
    /// every scenario under 1 and 2).
    pub max_trial_boots: u32,
}

impl Violation {
    /// The `changuard simulate` arguments that replay it (after
    /// `simulate`): `--scenario`, then `--mutation`, `--max-trial-boots`
    /// and `--crash-trace` when they are not the defaults.
    pub fn replay_args(&self) -> Vec<String> {
        scenario_args(
            self.scenario,
            self.mutation,
            self.max_trial_boots,
            &self.trace,
        )
    }

    /// `changuard simulate ...` replaying it ([`Violation::replay_args`]).
    pub fn replay_command(&self) -> String {
        format!("changuard simulate {}", self.replay_args().join(" "))
    }
}

/// `changuard simulate` arguments (after `simulate`) running `scenario` with
/// `mutation`, `max_trial_boots` and `trace`; defaults are left out. Every
/// value is a single shell word.
pub fn scenario_args(
    scenario: &str,
    mutation: Option<Mutation>,
    max_trial_boots: u32,
    trace: &[TraceStep],
) -> Vec<String> {
    let mut a = vec!["--scenario".to_owned(), scenario.to_owned()];
    if let Some(m) = mutation {
        a.push("--mutation".to_owned());
        a.push(crate::mutation_name(m).to_owned());
    }
    if max_trial_boots != 1 {
        a.push("--max-trial-boots".to_owned());
        a.push(max_trial_boots.to_string());
    }
    if !trace.is_empty() {
        a.push("--crash-trace".to_owned());
        a.push(format_trace(trace));
    }
    a
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scenario {}: {}\n  replay: {}",
            self.scenario,
            self.message,
            self.replay_command()
        )
    }
}

/// Max nested crashes per path (a crash, then a crash during recovery).
pub const MAX_DEPTH: usize = 5;
/// Max alternative boots per path.
pub const MAX_ALTS: usize = 1;

/// Boots between two [`Progress`] updates of the explorer.
pub const EXPLORE_PROGRESS_EVERY: u64 = 256;

struct Explorer<'a> {
    scenario: &'a Scenario,
    seen: HashSet<u64>,
    /// `(state before a Boot step, alternative)` already explored.
    alts_seen: HashSet<(u64, Alt)>,
    out: Exhaustive,
    max_violations: usize,
    mutation: Option<Mutation>,
    /// `MaxTrialBoots` of the pass running.
    max_trial_boots: u32,
    progress: &'a mut dyn Progress,
}

fn key(m: &Machine, next_step: usize) -> u64 {
    let mut h = DefaultHasher::new();
    m.image().hash(&mut h);
    m.model.hash(&mut h);
    m.registry.hash(&mut h);
    next_step.hash(&mut h);
    h.finish()
}

/// The machine after a power loss right after a mutating op: the surviving
/// image, and every trial recorded by then counts as unclean (I7).
fn crashed(before: &Machine, disk: &Disk, variant: &crate::disk::Variant) -> Machine {
    let mut c = before.clone();
    c.model.unclean.extend(trials_on(disk));
    c.disk = Disk::from_image(&disk.crash(variant));
    c.model.power_losses += 1;
    c
}

impl Explorer<'_> {
    /// Run steps from `from` on `m`; at every mutating op of every boot,
    /// branch into every crash variant; at every plain `Boot` step, into
    /// every [`Alt`].
    fn explore(&mut self, mut m: Machine, from: usize, trace: Vec<TraceStep>, alt: Option<Alt>) {
        if self.out.violations.len() >= self.max_violations {
            return;
        }
        let steps = self.scenario.steps.clone();
        let crashes = trace
            .iter()
            .filter(|(_, c)| matches!(c, Choice::Crash { .. }))
            .count();
        let alts = trace.len() - crashes;
        let total = steps.len() + SETTLE_BOOTS;
        let mut i = from;
        let mut alt = alt;
        let first = from;
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
            let plain = i < steps.len() && steps[i] == Step::Boot;
            let this_alt = alt.take();
            let plan = match this_alt {
                Some(a) => a.plan(plan),
                None => plan,
            };
            let before = m.clone();
            // Alternatives at this step, from the state before it (the step's
            // delivery, if any, is redone by `explore`).
            if plain
                && alts < self.scenario.explore.1
                && this_alt.is_none()
                && plan == BootPlan::default()
            {
                let pre = key(&m, i);
                for a in Alt::all() {
                    if !self.alts_seen.insert((pre, a)) {
                        continue;
                    }
                    let mut t = trace.clone();
                    t.push((i, Choice::Plan(a)));
                    self.out.alt_boots[a.kind()] += 1;
                    self.explore(m.clone(), i, t, Some(a));
                }
            }
            let mut snaps: Vec<(u64, Disk)> = vec![];
            let r = if crashes < self.scenario.explore.0 {
                let mut probe = |k: u64, d: &Disk| snaps.push((k, d.clone()));
                m.boot(plan, None, Some(&mut probe))
            } else {
                m.boot(plan, None, None)
            };
            self.out.boots += 1;
            if self.out.boots % EXPLORE_PROGRESS_EVERY == 0 {
                self.progress.update(self.out.boots, 0);
            }
            if let BootEnd::Crashed(v) = &r.end {
                self.out.crashes += v.len() as u64;
            }
            for v in &r.violations {
                self.out.violations.push(Violation {
                    scenario: self.scenario.name,
                    trace: trace.clone(),
                    message: format!("boot at step {i}: {v}"),
                    mutation: self.mutation,
                    max_trial_boots: self.max_trial_boots,
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
                    let c = crashed(&before, &disk, v);
                    let kk = key(&c, i + 1);
                    if !self.seen.insert(kk) {
                        continue;
                    }
                    self.out.crash_states += 1;
                    let mut t = trace.clone();
                    t.push((i, Choice::Crash { op: k, variant: vi }));
                    self.explore(c, i + 1, t, None);
                }
            }
            if this_alt.is_some() && i == first {
                // A state an earlier path reached is explored from there already.
                if !self.seen.insert(key(&m, i + 1)) {
                    return;
                }
                self.out.alt_states += 1;
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

/// The alternative chosen at step `i` in `trace`, if any.
fn plan_alt(trace: &[TraceStep], i: usize) -> Option<Alt> {
    trace.iter().find_map(|(s, c)| match c {
        Choice::Plan(a) if *s == i => Some(*a),
        _ => None,
    })
}

/// Explore every crash point and tear variant of `s` (nested up to
/// [`MAX_DEPTH`]) and every alternative boot (up to [`MAX_ALTS`] per path),
/// under `MaxTrialBoots` 1 (default) and 2.
pub fn exhaustive(s: &Scenario, mutation: Option<Mutation>, max_violations: usize) -> Exhaustive {
    exhaustive_with(s, mutation, max_violations, &mut crate::NoProgress)
}

/// [`exhaustive`], reporting boots run (total not known in advance: 0) every
/// [`EXPLORE_PROGRESS_EVERY`] boots and at the end.
pub fn exhaustive_with(
    s: &Scenario,
    mutation: Option<Mutation>,
    max_violations: usize,
    progress: &mut dyn Progress,
) -> Exhaustive {
    let mut ex = Explorer {
        scenario: s,
        seen: HashSet::new(),
        alts_seen: HashSet::new(),
        out: Exhaustive::default(),
        max_violations,
        mutation,
        max_trial_boots: 1,
        progress,
    };
    for max_trial in [1u32, 2] {
        ex.max_trial_boots = max_trial;
        ex.explore(machine(mutation, max_trial), 0, vec![], None);
        if !ex.out.violations.is_empty() {
            break;
        }
    }
    ex.progress.update(ex.out.boots, 0);
    ex.out
}

/// Replay a trace (from [`Violation`]) and return the boot reports
/// (`MaxTrialBoots` 1: [`replay_boots`] for the others).
pub fn replay(
    s: &Scenario,
    mutation: Option<Mutation>,
    trace: &[TraceStep],
) -> Vec<(String, BootReport)> {
    replay_boots(s, mutation, 1, trace)
        .into_iter()
        .map(|b| (b.label, b.report))
        .collect()
}

/// One boot of a replayed scenario.
#[derive(Clone, Debug)]
pub struct ReplayBoot {
    /// Scenario step index of the boot; `steps.len()` and above are the
    /// settle boots after the steps.
    pub step: usize,
    /// The step (`boot`, `boot-early-reboot`, ...; `settle` after the steps).
    pub step_name: String,
    /// The alternative the trace chose for this boot ([`Alt::name`]).
    pub alt: Option<String>,
    /// The power loss the trace injected in this boot: `(mutating op, tear
    /// variant)`.
    pub power_loss: Option<(u64, usize)>,
    /// All of it in words (`step 3 boot (as reload)`).
    pub label: String,
    /// What the boot did (up to the power loss, if one was injected).
    pub report: BootReport,
}

/// Replay a trace on a machine with `MaxTrialBoots` = `max_trial_boots` (an
/// empty trace: the scenario with nothing injected), boot by boot.
pub fn replay_boots(
    s: &Scenario,
    mutation: Option<Mutation>,
    max_trial_boots: u32,
    trace: &[TraceStep],
) -> Vec<ReplayBoot> {
    let mut m = machine(mutation, max_trial_boots);
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
        let alt = plan_alt(trace, i);
        let plan = alt.map_or(plan, |a| a.plan(plan));
        let crash = trace.iter().find_map(|(si, c)| match c {
            Choice::Crash { op, variant } if *si == i => Some((*op, *variant)),
            _ => None,
        });
        let step_name = if i < steps.len() {
            steps[i].to_string()
        } else {
            "settle".to_owned()
        };
        let mut label = if i < steps.len() {
            format!("step {i} {step_name}")
        } else {
            format!("settle {}", i - steps.len())
        };
        if let Some(a) = alt {
            label.push_str(&format!(" (as {})", a.name()));
        }
        let boot = |label: String, power_loss, report| ReplayBoot {
            step: i,
            step_name: step_name.clone(),
            alt: alt.map(Alt::name),
            power_loss,
            label,
            report,
        };
        match crash {
            Some((k, vi)) => {
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
                    m = crashed(&before, &d, &vs[vi % vs.len()]);
                    // What the boot did up to the power loss (the boot above
                    // ran on past it, for the snapshot only).
                    let mut cut = before.clone();
                    let mut r2 = cut.boot(
                        BootPlan {
                            crash_at: Some(CrashAt::Nth(k)),
                            ..plan
                        },
                        None,
                        None,
                    );
                    if !matches!(r2.end, BootEnd::PowerLoss(_)) {
                        r2 = r;
                        r2.end = BootEnd::PowerLoss(Op::StateWrite);
                    }
                    out.push(boot(
                        format!("{label} (power loss after mutating op {k}, variant {vi})"),
                        Some((k, vi)),
                        r2,
                    ));
                    i += 1;
                    continue;
                }
                let done = settled(&r);
                out.push(boot(label, None, r));
                if i >= steps.len() && done {
                    break;
                }
            }
            None => {
                let r = m.boot(plan, None, None);
                let done = settled(&r);
                out.push(boot(label, None, r));
                if i >= steps.len() - 1 && done {
                    break;
                }
            }
        }
        i += 1;
    }
    out
}
