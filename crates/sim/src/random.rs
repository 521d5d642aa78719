//! Seeded multi-boot campaigns: updates (good, poison, every kind of bad),
//! power loss at random crash points with random tear variants, clean early
//! reboots, reloads, promotion I/O failures, bit rot, configuration changes. Everything derives from one seed:
//! the same seed gives the same run. A violation stops the campaign and is
//! reported with the seed and the (shrunk) action trace that replays it.

use changuard_loader::Mutation;

use crate::Progress;
use crate::content::Kind;
use crate::machine::{BootEnd, BootPlan, BootReport, ChannelView, CrashAt, FailOp, Machine};

/// SplitMix64: small, seedable, good enough for schedules.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// From a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `pct`%.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// Channels in campaigns: 291 (no golden) and 17 (golden v1 embedded).
pub const CHANNELS: [u32; 2] = [291, 17];

/// One campaign action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Deliver a file.
    Deliver(u32, u64, Kind),
    /// Power lost while the agent wrote a file.
    DeliverTorn(u32, u64),
    /// The agent deletes an old file.
    Delete(u32, u64),
    /// Bit rot in an LKG copy.
    CorruptLkg(u32),
    /// Bit rot in the newest state slot.
    TearState,
    /// `MaxTrialBoots` set (invalid values included).
    SetMaxTrialBoots(u32),
    /// `ClearQuarantine` token set.
    ClearQuarantine(u32),
    /// A boot: power loss after the n-th mutating op with tear variant pick; or an early reboot.
    Boot {
        /// Power loss point.
        crash: Option<(u64, u32)>,
        /// Clean reboot before the health window.
        early: bool,
        /// `IOCTL_RELOAD` after activation.
        reload: bool,
        /// Promotion I/O failure.
        fail: Option<FailOp>,
        /// Variant pick for a poison crash.
        pick: u32,
    },
}

impl Action {
    /// Stable kebab-case name: `deliver`, `deliver-torn`, `delete`,
    /// `corrupt-lkg`, `tear-state`, `set-max-trial-boots`,
    /// `clear-quarantine`, `boot`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Action::Deliver(..) => "deliver",
            Action::DeliverTorn(..) => "deliver-torn",
            Action::Delete(..) => "delete",
            Action::CorruptLkg(_) => "corrupt-lkg",
            Action::TearState => "tear-state",
            Action::SetMaxTrialBoots(_) => "set-max-trial-boots",
            Action::ClearQuarantine(_) => "clear-quarantine",
            Action::Boot { .. } => "boot",
        }
    }

    /// The channel it concerns, if one.
    pub const fn channel(&self) -> Option<u32> {
        match *self {
            Action::Deliver(c, ..)
            | Action::DeliverTorn(c, _)
            | Action::Delete(c, _)
            | Action::CorruptLkg(c) => Some(c),
            _ => None,
        }
    }

    /// The content version it concerns, if one.
    pub const fn version(&self) -> Option<u64> {
        match *self {
            Action::Deliver(_, v, _) | Action::DeliverTorn(_, v) | Action::Delete(_, v) => Some(v),
            _ => None,
        }
    }
}

/// In plain words (`deliver ch 291 v2 (poison)`, `boot, power loss after
/// mutating op 3`, ...).
impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Action::Deliver(c, v, k) => write!(f, "deliver ch {c} v{v} ({})", k.name()),
            Action::DeliverTorn(c, v) => {
                write!(f, "deliver ch {c} v{v}, torn by a power loss")
            }
            Action::Delete(c, v) => write!(f, "delete ch {c} v{v}"),
            Action::CorruptLkg(c) => write!(f, "bit rot in the LKG copy of ch {c}"),
            Action::TearState => f.write_str("newest state record slot torn"),
            Action::SetMaxTrialBoots(n) => write!(f, "set MaxTrialBoots {n}"),
            Action::ClearQuarantine(t) => write!(f, "set ClearQuarantine {t}"),
            Action::Boot {
                crash,
                early,
                reload,
                fail,
                pick: _,
            } => {
                f.write_str("boot")?;
                if reload {
                    f.write_str(", reload")?;
                }
                if early {
                    f.write_str(", early reboot")?;
                }
                if let Some(op) = fail {
                    write!(f, ", promotion I/O failure {}", op.name())?;
                }
                if let Some((n, _)) = crash {
                    write!(f, ", power loss after mutating op {n}")?;
                }
                Ok(())
            }
        }
    }
}

/// One entry of a replayed campaign's timeline.
#[derive(Clone, Debug)]
pub enum Entry {
    /// An action between boots; `boot` is the 1-based number of the boot it
    /// comes before.
    Action {
        /// Next boot's number.
        boot: u64,
        /// The action.
        action: Action,
    },
    /// A boot (`boot` 1-based).
    Boot {
        /// Boot number.
        boot: u64,
        /// The boot's action (its plan).
        action: Action,
        /// What it did.
        report: BootReport,
    },
}

impl Entry {
    /// Human-readable text (a [`crate::timeline::line`] for boots).
    pub fn text(&self) -> String {
        match self {
            Entry::Action { action, .. } => format!("          {action}"),
            Entry::Boot { boot, report, .. } => crate::timeline::line(*boot, report),
        }
    }
}

/// Campaign result.
#[derive(Clone, Debug, Default)]
pub struct CampaignResult {
    /// Seed.
    pub seed: u64,
    /// Boots run.
    pub boots: u64,
    /// Poison crashes.
    pub crashes: u64,
    /// Power losses.
    pub power_losses: u64,
    /// Largest crash count of one version at any point of the campaign.
    pub max_crashes_per_version: u32,
    /// Violations (first one stops the campaign).
    pub violations: Vec<String>,
    /// Shrunk action trace replaying the first violation.
    pub trace: Vec<Action>,
    /// Final channels.
    pub final_channels: Vec<ChannelView>,
    /// Timeline lines (only when requested).
    pub timeline: Vec<String>,
}

fn generate(rng: &mut Rng, next_version: &mut [u64; 2], dir: &mut Vec<(u32, u64)>) -> Vec<Action> {
    let mut acts = vec![];
    if rng.pct(30) {
        let ci = rng.below(2) as usize;
        let ch = CHANNELS[ci];
        let v = next_version[ci];
        next_version[ci] += 1;
        let kind = match rng.below(100) {
            0..60 => Kind::Good,
            60..75 => Kind::Poison,
            75..83 => Kind::Truncated,
            83..88 => Kind::BadSig,
            88..92 => Kind::WrongSchema,
            92..96 => Kind::July19,
            _ => {
                acts.push(Action::DeliverTorn(ch, v));
                dir.push((ch, v));
                return finish(rng, acts);
            }
        };
        acts.push(Action::Deliver(ch, v, kind));
        dir.push((ch, v));
        let count = dir.iter().filter(|(c, _)| *c == ch).count();
        if count > 5 {
            if let Some(pos) = dir.iter().position(|(c, _)| *c == ch) {
                let (c, v) = dir.remove(pos);
                acts.push(Action::Delete(c, v));
            }
        }
    }
    if rng.pct(1) {
        acts.push(Action::CorruptLkg(CHANNELS[rng.below(2) as usize]));
    }
    if rng.pct(1) {
        acts.push(Action::TearState);
    }
    if rng.pct(2) {
        acts.push(Action::SetMaxTrialBoots(
            [1, 2, 2, 7][rng.below(4) as usize],
        ));
    }
    if rng.pct(1) {
        acts.push(Action::ClearQuarantine(rng.next_u64() as u32));
    }
    finish(rng, acts)
}

fn finish(rng: &mut Rng, mut acts: Vec<Action>) -> Vec<Action> {
    let crash = rng
        .pct(12)
        .then(|| (1 + rng.below(12), rng.next_u64() as u32));
    let early = rng.pct(8);
    let reload = rng.pct(5);
    let fail = rng.pct(5).then(|| FailOp {
        op: FailOp::PROMOTION_OPS[rng.below(4) as usize],
        persistent: rng.pct(50),
    });
    acts.push(Action::Boot {
        crash,
        early,
        reload,
        fail,
        pick: rng.next_u64() as u32,
    });
    acts
}

/// Apply one action; for boots, return the boot's report.
fn apply(m: &mut Machine, a: Action) -> Option<BootReport> {
    match a {
        Action::Deliver(c, v, k) => m.deliver(c, v, k),
        Action::DeliverTorn(c, v) => m.deliver_torn(c, v),
        Action::Delete(c, v) => {
            let n = format!(
                "content/{}",
                changuard_loader::names::FileName::new(c, v).as_str()
            );
            m.disk.delete(&n);
            m.disk.sync();
        }
        Action::CorruptLkg(c) => m.corrupt_lkg(c),
        Action::TearState => m.tear_newest_state(),
        Action::SetMaxTrialBoots(n) => m.set_dword("MaxTrialBoots", n),
        Action::ClearQuarantine(t) => m.set_dword("ClearQuarantine", t),
        Action::Boot {
            crash,
            early,
            reload,
            fail,
            pick,
        } => {
            let plan = BootPlan {
                crash_at: crash.map(|(n, _)| CrashAt::Nth(n)),
                reboot_early: early,
                power_cut: false,
                reload,
                fail,
            };
            return Some(m.boot(plan, Some(crash.map_or(pick, |(_, p)| p)), None));
        }
    }
    None
}

fn new_machine(mutation: Option<Mutation>) -> Machine {
    let mut m = Machine::new(mutation);
    m.golden
        .insert(17, crate::content::bytes(17, 1, Kind::Good));
    m
}

/// Replay an action list; return the first violation.
pub fn replay(actions: &[Action], mutation: Option<Mutation>) -> Option<String> {
    let mut m = new_machine(mutation);
    for a in actions {
        if let Some(first) = apply(&mut m, *a).and_then(|r| r.violations.into_iter().next()) {
            return Some(first);
        }
    }
    None
}

/// Shrink a violating trace (delta debugging: drop chunks, halving the chunk
/// size, while the trace still violates), bounded in replays and time.
pub fn shrink(actions: &[Action], mutation: Option<Mutation>) -> Vec<Action> {
    shrink_with(actions, mutation, &mut crate::NoProgress)
}

/// Replays [`shrink`] runs at most.
pub const SHRINK_REPLAYS: u64 = 300;

/// [`shrink`], reporting replays done of at most [`SHRINK_REPLAYS`].
pub fn shrink_with(
    actions: &[Action],
    mutation: Option<Mutation>,
    progress: &mut dyn Progress,
) -> Vec<Action> {
    let start = std::time::Instant::now();
    let mut cur = actions.to_vec();
    let mut chunk = cur.len().div_ceil(2).max(1);
    let mut budget = SHRINK_REPLAYS;
    while chunk >= 1 && budget > 0 && start.elapsed().as_secs() < 20 {
        let mut i = 0;
        let mut removed_any = false;
        while i < cur.len() && budget > 0 {
            let mut cand = cur.clone();
            let end = (i + chunk).min(cand.len());
            cand.drain(i..end);
            budget -= 1;
            progress.update(SHRINK_REPLAYS - budget, SHRINK_REPLAYS);
            if replay(&cand, mutation).is_some() {
                cur = cand;
                removed_any = true;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 && !removed_any {
            break;
        }
        chunk = if chunk == 1 { 1 } else { chunk / 2 };
    }
    cur
}

/// Replay `actions` and return the timeline with every decision (for reports):
/// [`replay_entries`] as text.
pub fn replay_timeline(actions: &[Action], mutation: Option<Mutation>) -> Vec<String> {
    replay_entries(actions, mutation)
        .iter()
        .map(Entry::text)
        .collect()
}

/// Replay `actions` up to the first boot with a violation; one entry per
/// action, boots numbered from 1.
pub fn replay_entries(actions: &[Action], mutation: Option<Mutation>) -> Vec<Entry> {
    let mut m = new_machine(mutation);
    let mut out = vec![];
    let mut boot = 1u64;
    for a in actions {
        match apply(&mut m, *a) {
            None => out.push(Entry::Action { boot, action: *a }),
            Some(report) => {
                let stop = !report.violations.is_empty();
                out.push(Entry::Boot {
                    boot,
                    action: *a,
                    report,
                });
                boot += 1;
                if stop {
                    break;
                }
            }
        }
    }
    out
}

/// Boots between two [`Progress`] updates of a campaign.
pub const PROGRESS_EVERY: u64 = 64;

/// Run a campaign of `boots` boots from `seed`. `progress` gets the boots
/// done (now and then).
pub fn campaign(
    seed: u64,
    boots: u64,
    mutation: Option<Mutation>,
    with_timeline: bool,
    mut progress: impl FnMut(u64),
) -> CampaignResult {
    campaign_with(
        seed,
        boots,
        mutation,
        with_timeline,
        true,
        &mut |done, _total| progress(done),
    )
}

/// [`campaign`], optionally without shrinking the violating trace.
pub fn campaign_opts(
    seed: u64,
    boots: u64,
    mutation: Option<Mutation>,
    with_timeline: bool,
    do_shrink: bool,
    mut progress: impl FnMut(u64),
) -> CampaignResult {
    campaign_with(
        seed,
        boots,
        mutation,
        with_timeline,
        do_shrink,
        &mut |done, _total| progress(done),
    )
}

/// [`campaign_opts`] with a [`Progress`]: boots done of `boots` every
/// [`PROGRESS_EVERY`] boots and at the end; when a violation is found and
/// `do_shrink`, a `"shrinking"` phase with replays done of at most
/// [`SHRINK_REPLAYS`].
pub fn campaign_with(
    seed: u64,
    boots: u64,
    mutation: Option<Mutation>,
    with_timeline: bool,
    do_shrink: bool,
    progress: &mut dyn Progress,
) -> CampaignResult {
    let mut rng = Rng::new(seed);
    let mut m = new_machine(mutation);
    let mut next_version = [1u64, 2u64];
    let mut dir = vec![];
    let mut res = CampaignResult {
        seed,
        ..CampaignResult::default()
    };
    let mut log: Vec<Action> = vec![];
    let mut timeline = vec![];
    while res.boots < boots {
        for a in generate(&mut rng, &mut next_version, &mut dir) {
            log.push(a);
            let Some(r) = apply(&mut m, a) else {
                continue;
            };
            res.boots += 1;
            if with_timeline {
                timeline.push(crate::timeline::line(res.boots, &r));
            }
            // A running maximum: the per-version counts restart at a
            // ClearQuarantine, so the end state alone would under-report.
            let worst = m.model.crashes.values().copied().max().unwrap_or(0);
            res.max_crashes_per_version = res.max_crashes_per_version.max(worst);
            if res.boots % PROGRESS_EVERY == 0 {
                progress.update(res.boots, boots);
            }
            if !r.violations.is_empty() {
                progress.update(res.boots, boots);
                res.violations = r.violations;
                res.trace = if do_shrink {
                    progress.phase("shrinking");
                    shrink_with(&log, mutation, progress)
                } else {
                    log
                };
                res.crashes = m.model.total_crashes;
                res.power_losses = m.model.power_losses;
                res.timeline = timeline;
                return res;
            }
        }
    }
    progress.update(res.boots, boots);
    res.crashes = m.model.total_crashes;
    res.power_losses = m.model.power_losses;
    let r = m.boot(BootPlan::default(), None, None);
    if r.end == BootEnd::Healthy {
        res.final_channels = r.channels;
    }
    res.timeline = timeline;
    res
}
