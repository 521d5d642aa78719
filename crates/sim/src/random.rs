//! Seeded multi-boot campaigns: updates (good, poison, every kind of bad),
//! power loss at random crash points with random tear variants, clean early
//! reboots, reloads, promotion I/O failures, bit rot, configuration changes. Everything derives from one seed:
//! the same seed gives the same run. A violation stops the campaign and is
//! reported with the seed and the (shrunk) action trace that replays it.

use changuard_loader::Mutation;

use crate::content::Kind;
use crate::machine::{BootEnd, BootPlan, ChannelView, CrashAt, FailOp, Machine};

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

/// Apply one action; for boots, return the boot's violations.
fn apply(
    m: &mut Machine,
    a: Action,
    timeline: Option<&mut Vec<String>>,
    boot_no: u64,
) -> Vec<String> {
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
            let r = m.boot(plan, Some(crash.map_or(pick, |(_, p)| p)), None);
            if let Some(t) = timeline {
                t.push(crate::timeline::line(boot_no, &r));
            }
            return r.violations;
        }
    }
    vec![]
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
    for (i, a) in actions.iter().enumerate() {
        let v = apply(&mut m, *a, None, i as u64);
        if let Some(first) = v.into_iter().next() {
            return Some(first);
        }
    }
    None
}

/// Shrink a violating trace (delta debugging: drop chunks, halving the chunk
/// size, while the trace still violates), bounded in replays and time.
pub fn shrink(actions: &[Action], mutation: Option<Mutation>) -> Vec<Action> {
    let start = std::time::Instant::now();
    let mut cur = actions.to_vec();
    let mut chunk = cur.len().div_ceil(2).max(1);
    let mut budget = 300usize;
    while chunk >= 1 && budget > 0 && start.elapsed().as_secs() < 20 {
        let mut i = 0;
        let mut removed_any = false;
        while i < cur.len() && budget > 0 {
            let mut cand = cur.clone();
            let end = (i + chunk).min(cand.len());
            cand.drain(i..end);
            budget -= 1;
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

/// Replay `actions` and return the timeline with every decision (for reports).
pub fn replay_timeline(actions: &[Action], mutation: Option<Mutation>) -> Vec<String> {
    let mut m = new_machine(mutation);
    let mut out = vec![];
    let mut boot = 0u64;
    for a in actions {
        if !matches!(a, Action::Boot { .. }) {
            out.push(format!("          {a:?}"));
        }
        let mut t = vec![];
        let v = apply(&mut m, *a, Some(&mut t), boot);
        if matches!(a, Action::Boot { .. }) {
            boot += 1;
        }
        out.extend(t);
        if !v.is_empty() {
            break;
        }
    }
    out
}

/// Run a campaign of `boots` boots from `seed`.
pub fn campaign(
    seed: u64,
    boots: u64,
    mutation: Option<Mutation>,
    with_timeline: bool,
    progress: impl FnMut(u64),
) -> CampaignResult {
    campaign_opts(seed, boots, mutation, with_timeline, true, progress)
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
            let is_boot = matches!(a, Action::Boot { .. });
            let v = apply(&mut m, a, with_timeline.then_some(&mut timeline), res.boots);
            if is_boot {
                res.boots += 1;
                // A running maximum: the per-version counts restart at a
                // ClearQuarantine, so the end state alone would under-report.
                let worst = m.model.crashes.values().copied().max().unwrap_or(0);
                res.max_crashes_per_version = res.max_crashes_per_version.max(worst);
                if res.boots % 1000 == 0 {
                    progress(res.boots);
                }
            }
            if !v.is_empty() {
                res.violations = v;
                res.trace = if do_shrink {
                    shrink(&log, mutation)
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
    res.crashes = m.model.total_crashes;
    res.power_losses = m.model.power_losses;
    let r = m.boot(BootPlan::default(), None, None);
    if r.end == BootEnd::Healthy {
        res.final_channels = r.channels;
    }
    res.timeline = timeline;
    res
}
