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

mod explore;
mod july19;
mod run;

pub use explore::{
    Alt, Choice, EXPLORE_PROGRESS_EVERY, Exhaustive, MAX_ALTS, MAX_DEPTH, ReplayBoot, TraceStep,
    Violation, exhaustive, exhaustive_with, format_trace, parse_trace, replay, replay_boots,
    scenario_args,
};
pub use july19::{FLEET_PROGRESS_EVERY, Fleet, july19_fleet, july19_fleet_with};
pub use run::{Run, machine, run, run_from};

use std::hash::Hash;

use crate::content::Kind;
use crate::machine::{FailOp, Op};
use crate::vendor::{KeyringKind, Plan, Signer};

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
