//! Named scenarios (the boot-loop matrix shares their names) and the
//! exhaustive explorer.
//!
//! Every scenario is about channel 291. All but `first-install` start from the
//! matrix baseline: v6 delivered on a fresh machine and booted past the health
//! window (v6 active, promoted to LKG, floor 6). "Bad" scenarios deliver v7.
//! (scripts/bootloop-matrix.json uses v6/v7; the scenario versions follow it.)
//!
//! The explorer branches, at every boot of a scenario, into a power loss after
//! every mutating op with every tear variant (nested up to [`MAX_DEPTH`]), and
//! at every plain `Boot` step into the other ways a boot can go: a clean
//! reboot before the health window, an `IOCTL_RELOAD`, a power cut with
//! nothing being written, and a promotion I/O failure at each LKG store step
//! (once, or for the whole boot); crash points inside those boots (the
//! clean-shutdown record, the reload's record, the failure's record) are
//! explored too.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use changuard_loader::Mutation;

use crate::Progress;
use crate::content::{self, Kind};
use crate::disk::Disk;
use crate::machine::{
    BootEnd, BootPlan, BootReport, ChannelView, CrashAt, FailOp, Machine, Op, trials_on,
};
use crate::vendor::{self, KeyringKind, Plan, Signer};

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
    /// Boot, then reboot cleanly before the health window.
    BootEarlyReboot,
    /// Boot; power is cut right after the first op of this kind.
    BootPowerLossAfter(Op),
    /// Boot; power is cut before the health window, while nothing is written.
    BootPowerCut,
    /// Boot, `IOCTL_RELOAD` before the health window, then past it.
    BootReload,
    /// Boot past the health window; an LKG store step of the promotion fails;
    /// then power is cut (no clean shutdown).
    BootPromotionFailsThenPowerCut(FailOp),
    /// The update agent delivers versions `from..=to`, all of this kind.
    DeliverMany(u64, u64, Kind),
    /// Bit rot in the LKG copy.
    CorruptLkg,
    /// The newest state record slot is torn.
    TearState,
    /// The update agent delivers v1 of [`Kind::Maximal`] content (16 MiB)
    /// for channels `1..=n`.
    DeliverMaximal(u32),
    /// Keyring mode (issue 15): the driver has the sim's root keys, the
    /// machine has [`RING_MACHINE_ID`] (ring 2 of 291's staged rollouts),
    /// the clock is at [`vendor::T0`], and keyring v1 and an all-at-once
    /// release of v6 are delivered.
    EnableKeyrings,
    /// The wall clock moves to `T0 + hours`.
    ClockAt(u64),
    /// The vendor publishes a keyring.
    PublishKeyring(KeyringKind),
    /// The vendor publishes the release record of a version.
    PublishRelease(u64, Plan, Signer),
    /// The vendor publishes halt `sequence` over `first..=last`.
    PublishHalt(u64, u64, u64),
    /// The update agent delivers `(version, kind)` signed by [`Signer`].
    DeliverSigned(u64, Kind, Signer),
}

impl Step {
    /// Stable kebab-case name of the step's kind (`deliver`, `boot`,
    /// `boot-early-reboot`, ...).
    pub const fn kind(&self) -> &'static str {
        match self {
            Step::Deliver(..) => "deliver",
            Step::DeliverTorn(_) => "deliver-torn",
            Step::Boot => "boot",
            Step::BootEarlyReboot => "boot-early-reboot",
            Step::BootPowerLossAfter(_) => "boot-power-loss-after",
            Step::BootPowerCut => "boot-power-cut",
            Step::BootReload => "boot-reload",
            Step::BootPromotionFailsThenPowerCut(_) => "boot-promotion-fails-then-power-cut",
            Step::DeliverMany(..) => "deliver-many",
            Step::CorruptLkg => "corrupt-lkg",
            Step::TearState => "tear-state",
            Step::DeliverMaximal(_) => "deliver-maximal",
            Step::EnableKeyrings => "enable-keyrings",
            Step::ClockAt(_) => "clock-at",
            Step::PublishKeyring(_) => "publish-keyring",
            Step::PublishRelease(..) => "publish-release",
            Step::PublishHalt(..) => "publish-halt",
            Step::DeliverSigned(..) => "deliver-signed",
        }
    }
}

/// The kind, then its arguments: `deliver v7 poison`, `boot`,
/// `boot-power-loss-after lkg-flush-temp`, `boot-promotion-fails-then-power-cut
/// fail-rename-always`.
impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())?;
        match *self {
            Step::Deliver(v, k) => write!(f, " v{v} {}", k.name()),
            Step::DeliverTorn(v) => write!(f, " v{v}"),
            Step::BootPowerLossAfter(op) => write!(f, " {}", crate::timeline::op_name(op)),
            Step::BootPromotionFailsThenPowerCut(op) => write!(f, " fail-{}", op.name()),
            Step::DeliverMany(from, to, k) => write!(f, " v{from}-v{to} {}", k.name()),
            Step::DeliverMaximal(n) => write!(f, " {n} channels"),
            Step::ClockAt(h) => write!(f, " T0+{h}h"),
            Step::PublishKeyring(k) => write!(f, " {}", k.name()),
            Step::PublishRelease(v, p, s) => write!(f, " v{v} {} by {}", p.name(), s.name()),
            Step::PublishHalt(s, a, b) => write!(f, " #{s} v{a}-v{b}"),
            Step::DeliverSigned(v, k, s) => write!(f, " v{v} {} by {}", k.name(), s.name()),
            Step::EnableKeyrings => Ok(()),
            Step::Boot
            | Step::BootEarlyReboot
            | Step::BootPowerCut
            | Step::BootReload
            | Step::CorruptLkg
            | Step::TearState => Ok(()),
        }
    }
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
    /// Explorer bounds for this scenario: nested power losses per path, and
    /// alternative boots per path ([`MAX_DEPTH`], [`MAX_ALTS`] by default).
    pub explore: (usize, usize),
}

const BASELINE: [Step; 2] = [Step::Deliver(6, Kind::Good), Step::Boot];

/// The baseline of the release scenarios (issue 15): keyring mode, then the
/// matrix baseline.
const KEYRING_BASELINE: [Step; 3] = [
    Step::EnableKeyrings,
    Step::Deliver(6, Kind::Good),
    Step::Boot,
];

/// A machine id whose ring point for channel 291 is in ring 2 of a staged
/// rollout (1%..10% of the fleet): its ring opens 12 hours after the start.
pub fn ring_machine_id() -> [u8; 16] {
    (0u8..=255)
        .map(|i| {
            let mut id = [0x5A; 16];
            id[0] = i;
            id
        })
        .find(|id| (10_000..100_000).contains(&changuard_release::ring_point(id, CHANNEL)))
        .unwrap_or([0x5A; 16])
}

/// Release scenarios explore two nested power losses per path: the keyring
/// store and the halt record add write points to every boot, and the
/// deeper nesting of the other scenarios already covers the loader's own
/// write sequence (five levels there cost 20x the boots here).
const KEYRING_DEPTH: usize = 2;

fn with_keyrings(name: &'static str, description: &'static str, rest: &[Step]) -> Scenario {
    let mut steps = KEYRING_BASELINE.to_vec();
    steps.extend_from_slice(rest);
    Scenario {
        name,
        description,
        steps,
        baseline_len: KEYRING_BASELINE.len(),
        explore: (KEYRING_DEPTH, MAX_ALTS),
    }
}

fn with_baseline(name: &'static str, description: &'static str, rest: &[Step]) -> Scenario {
    let mut steps = BASELINE.to_vec();
    steps.extend_from_slice(rest);
    Scenario {
        name,
        description,
        steps,
        baseline_len: BASELINE.len(),
        explore: (MAX_DEPTH, MAX_ALTS),
    }
}

/// Name of the issue 11 finding 9 scenario (sixteen maximal channels).
pub const MEMORY_BUDGET_SCENARIO: &str = "memory-budget-sixteen-maximal-channels";

/// Every scenario.
pub fn all() -> Vec<Scenario> {
    use Step::*;
    vec![
        Scenario {
            name: "first-install",
            description: "fresh machine, v6 delivered: trial, health window, promotion",
            steps: BASELINE.to_vec(),
            baseline_len: 0,
            explore: (MAX_DEPTH, MAX_ALTS),
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
            "clean-reboot-during-trial",
            "v7 on trial, rebooted cleanly before its health window: the trial continues (attempt 1), v7 promoted at the next boot (issue 11 finding 1)",
            &[Deliver(7, Kind::Good), BootEarlyReboot, Boot],
        ),
        with_baseline(
            "crash-during-trial",
            "v7 on trial, a clean reboot (not counted), then power cut before the health window: counted, v7 quarantined at MaxTrialBoots, LKG v6",
            &[Deliver(7, Kind::Good), BootEarlyReboot, BootPowerCut, Boot],
        ),
        with_baseline(
            "reload-during-trial",
            "v7 on trial, IOCTL_RELOAD before the health window: the trial continues, v7 promoted in the same boot",
            &[Deliver(7, Kind::Good), BootReload],
        ),
        with_baseline(
            "promotion-io-failure",
            "v7 passes its health window, the LKG rename fails all boot (a scanner holds the file), then power is cut: not a crash, v7 continues and is promoted at the next boot",
            &[
                Deliver(7, Kind::Good),
                BootPromotionFailsThenPowerCut(FailOp {
                    op: Op::LkgRename,
                    persistent: true,
                }),
                Boot,
            ],
        ),
        with_baseline(
            "junk-highest-version",
            "a badly signed C-00000291-18446744073709551615.chan and a valid v7: the junk is rejected (and remembered), v7 is tried next, trial + promotion (issue 11 finding 3)",
            &[
                Deliver(u64::MAX, Kind::BadSig),
                Deliver(7, Kind::Good),
                Boot,
            ],
        ),
        Scenario {
            // 20 boots deep: one power loss per path and no alternatives keep
            // the exploration to seconds (the other scenarios cover those).
            explore: (1, 0),
            ..with_baseline(
                "twenty-crashing-versions",
                "v7..v26 all crash the machine, newest first: none crashes twice; after 8 are listed the quarantine floor covers every older one (never evicted, issue 11 finding 4), LKG v6",
                &twenty_crashing(),
            )
        },
        with_baseline(
            "lkg-corrupted",
            "LKG copy rotten and v7 truncated: both rejected, the older v6 still in the directory runs (it is the recorded LKG version: proven, no trial)",
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
        Scenario {
            name: MEMORY_BUDGET_SCENARIO,
            description: "16 channels of maximal (16 MiB) content on a fresh machine, default MemoryBudgetMiB (512): channels 1-3 (144.5 MiB each) run on trial and are promoted, channels 4-16 fall back one by one (reason 405, no content), the charged total stays within the budget (issue 11 finding 9)",
            steps: vec![DeliverMaximal(16), Boot],
            baseline_len: 0,
            // 256 MiB of content per boot: the explorer runs the plain path
            // only (crash points are covered by the other scenarios).
            explore: (0, 0),
        },
        with_keyrings(
            "rollout-waits-for-ring",
            "keyring mode, v7 released in rings (0.1% at T0+1h, then 1%, 10%, 50%, 100% every 6 h), this machine in ring 2: at T0+2h v7 is not yet eligible (LKG v6); at T0+14h its ring is open: trial, promotion",
            &[
                PublishRelease(7, Plan::Staged, Signer::Sim),
                Deliver(7, Kind::Good),
                ClockAt(2),
                Boot,
                ClockAt(14),
                Boot,
            ],
        ),
        with_keyrings(
            "halt-stops-rollout",
            "keyring mode, v7 released to everyone and on trial (rebooted before its health window), then the vendor halts v7: the trial ends without a quarantine, LKG v6 runs, v7 is never started again",
            &[
                PublishRelease(7, Plan::AllAtOnce, Signer::Sim),
                Deliver(7, Kind::Good),
                BootEarlyReboot,
                PublishHalt(1, 7, 7),
                Boot,
                Boot,
            ],
        ),
        with_keyrings(
            "halt-cannot-be-replayed",
            "v7 halted (#1), the halt lifted (#2): v7 trial, promotion; the old halt #1 delivered again is refused (halt-rollback), v7 stays",
            &[
                PublishRelease(7, Plan::AllAtOnce, Signer::Sim),
                Deliver(7, Kind::Good),
                PublishHalt(1, 7, 7),
                Boot,
                PublishHalt(2, 0, 0),
                Boot,
                PublishHalt(1, 7, 7),
                Boot,
            ],
        ),
        with_keyrings(
            "revoked-key",
            "the sim key leaks: keyring v2 caps it at v6 and adds a second key; v7 and its release, signed with the leaked key past its cap, are refused (release-rejected) while LKG v6, which it signed before, keeps running; a halt of v8 signed with the leaked key is refused too (a capped key signs no halt); v8 signed by the second key: trial, promotion",
            &[
                PublishKeyring(KeyringKind::RevokeLeaked),
                PublishRelease(7, Plan::AllAtOnce, Signer::Sim),
                Deliver(7, Kind::Good),
                Boot,
                PublishHalt(1, 8, 8),
                PublishRelease(8, Plan::AllAtOnce, Signer::Second),
                DeliverSigned(8, Kind::Good, Signer::Second),
                Boot,
            ],
        ),
        with_keyrings(
            "keyring-expires",
            "31 days on, keyring v1 has expired: v7 is released but not started (keyring-stale), LKG v6 keeps running; a fresh keyring v3 arrives: v7 trial, promotion",
            &[
                ClockAt(31 * 24),
                PublishRelease(7, Plan::AllAtOnce, Signer::Sim),
                Deliver(7, Kind::Good),
                Boot,
                PublishKeyring(KeyringKind::Fresh),
                Boot,
            ],
        ),
        with_keyrings(
            "keyring-cannot-be-replayed",
            "keyring v2 (sim key capped at v6) accepted, then keyring v1 delivered again: refused (keyring-rollback); v7, released by the second key but signed by the capped one, stays refused (key-not-allowed), LKG v6",
            &[
                PublishKeyring(KeyringKind::RevokeLeaked),
                Boot,
                PublishKeyring(KeyringKind::Initial),
                PublishRelease(7, Plan::AllAtOnce, Signer::Second),
                Deliver(7, Kind::Good),
                Boot,
            ],
        ),
        with_keyrings(
            "version-jump",
            "v1048583 (more than 2^20 past v6) released without the fast-forward flag: refused (version-jump), LKG v6; re-released with the flag: trial, promotion",
            &[
                PublishRelease(JUMP_VERSION, Plan::AllAtOnce, Signer::Sim),
                Deliver(JUMP_VERSION, Kind::Good),
                Boot,
                PublishRelease(JUMP_VERSION, Plan::FastForward, Signer::Sim),
                Boot,
            ],
        ),
        with_keyrings(
            "poison-in-canary",
            "keyring mode: valid v7 that crashes the machine, released to everyone: one crash, quarantined, LKG v6 (the loader's own defence still holds under rollouts)",
            &[
                PublishRelease(7, Plan::AllAtOnce, Signer::Sim),
                Deliver(7, Kind::Poison),
                Boot,
                Boot,
            ],
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

/// More than `MAX_VERSION_JUMP` (2^20) past v6.
const JUMP_VERSION: u64 = 6 + (1 << 20) + 1;

fn twenty_crashing() -> Vec<Step> {
    let mut steps = vec![Step::DeliverMany(7, 26, Kind::Poison)];
    steps.extend(std::iter::repeat_n(Step::Boot, 20));
    steps
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
