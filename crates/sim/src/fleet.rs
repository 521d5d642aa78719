//! Fleet rollout simulation (issue 15 item 5): the 19 July 2024 shape — a
//! content update that validates, is signed, and crashes every machine with
//! some property the validator cannot see — delivered to a fleet of real
//! [`Machine`]s (the real loader, in keyring mode) in two ways, side by side,
//! from the same machines and seed:
//!
//! - [`Strategy::AllAtOnce`]: one ring, the whole fleet at once, no halt
//!   (what happened on 19 July 2024);
//! - [`Strategy::StagedHalt`]: [`standard_rings`] (0.1%, 1%, 10%, 50%, 100%
//!   at [`Config::ring_step_secs`] intervals) and a vendor-side rollout
//!   controller that reads the machines' status reports and publishes a
//!   signed [`HaltSpec`] covering the bad version when its health gate trips.
//!
//! # Model
//! - Time is stepped ([`Config::step_secs`], default 5 minutes) from the
//!   publication `T0` for [`Config::horizon_secs`] (default 48 h). Machine
//!   events keep their exact second (the loader sees it as its wall clock);
//!   the controller looks at the reports at the end of each step.
//! - Every machine is set up before `T0` with good v6 promoted to LKG
//!   (keyring, v6 release record, v6 content, one boot past the health
//!   window). Its `MachineId` is random per install (seeded), so its ring is
//!   the real `ring_point` of it.
//! - The machine's update agent polls the vendor every
//!   [`Config::poll_secs`] at a random phase and downloads what was
//!   published since its last poll. It runs the loader (a [`Machine::boot`]:
//!   the loader, the real engine, the health window, promotion, shutdown)
//!   when a poll brought new files, when the ring it was told to wait for
//!   (`NotYetEligible { at }`) has opened, or while the loader left the new
//!   version unsettled (neither promoted, quarantined nor halted: a retry
//!   pending). Otherwise it skips the run: with the same files and no ring
//!   opening the loader would decide the same (keyring windows and expiry
//!   are far outside the horizon).
//! - A crash (the poison content active with the property) bugchecks the
//!   machine; it boots again [`Config::reboot_secs`] later from what is on
//!   disk (the agent downloads nothing before the driver loads).
//! - A machine that is up reports its last boot report to the vendor
//!   [`Config::report_secs`] later. A crash is visible only in the report of
//!   the boot after it (the loader's `recovery-boot`, `trial-retried`,
//!   `quarantined` or `trial-superseded` decision about the version).
//! - The controller (staged only) halts when a machine of the canary ring
//!   reports a crash, or when the machines reporting a crash exceed
//!   [`Config::threshold_ppm`] of the machines reporting the version active;
//!   the halt is published [`Config::reaction_secs`] after the report that
//!   tripped the gate, and machines take it at their next poll.
//!
//! Not modelled: network failures, agents that are offline for days,
//! machines that are powered off, a customer's `RolloutDelayHours`, the
//! vendor pulling the content file itself, and the reboot loop of 19 July
//! (the loader's quarantine ends it after MaxTrialBoots crashes, which is
//! the point of the loader; the rollout decides how many machines crash at all).

use std::collections::BTreeMap;

use changuard_loader::Reason;
use changuard_loader::names::{FileName, KEYRING_NAME};
use changuard_release::build::{HaltSpec, KeyringSpec, ReleaseSpec, standard_rings};
use changuard_release::{KeyEntry, Release, Ring, ring_point};

use crate::Progress;
use crate::content::{self, Kind};
use crate::disk::Bytes;
use crate::machine::{BootEnd, BootPlan, BootReport, Machine};
use crate::random::Rng;

/// The channel rolled out.
pub const CHANNEL: u32 = 291;
/// The good version every machine runs before the rollout.
pub const GOOD: u64 = 6;
/// The bad version rolled out (valid, signed, crashes machines with the property).
pub const BAD: u64 = 7;
/// `T0`: 19 July 2024 04:09 UTC, when the update was published (Unix seconds).
pub const T0: u64 = 1_721_362_140;
/// When the machines were set up with v6 (a day before `T0`).
const SETUP_AT: u64 = T0 - 86_400;
const DAY: u64 = 86_400;

/// A fleet simulation's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Machines.
    pub machines: u64,
    /// Seed (same seed, same result, whatever the thread count).
    pub seed: u64,
    /// Percentage of machines with the property the poison content crashes on.
    pub property_pct: u64,
    /// Percentage of machines with `MaxTrialBoots` 2 (the rest have 1).
    pub max_trial_2_pct: u64,
    /// Agent poll interval (seconds).
    pub poll_secs: u64,
    /// Simulation step: the controller looks at reports once per step (seconds).
    pub step_secs: u64,
    /// Simulated time after `T0` (seconds).
    pub horizon_secs: u64,
    /// Delay between two rings of the staged rollout (seconds).
    pub ring_step_secs: u64,
    /// From a crash to the next boot (seconds).
    pub reboot_secs: u64,
    /// From a machine being up to its report reaching the vendor (seconds).
    pub report_secs: u64,
    /// From the gate tripping to the halt being published (seconds).
    pub reaction_secs: u64,
    /// Health gate: halt when crashed / activated reports exceed this (ppm).
    pub threshold_ppm: u64,
    /// Worker threads (0: the machine's parallelism). Results do not depend on it.
    pub threads: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            machines: 100_000,
            seed: 1,
            property_pct: 50,
            max_trial_2_pct: 30,
            poll_secs: 3_600,
            step_secs: 300,
            horizon_secs: 2 * DAY,
            ring_step_secs: 2 * 3_600,
            reboot_secs: 180,
            report_secs: 60,
            reaction_secs: 15 * 60,
            threshold_ppm: 5_000,
            threads: 0,
        }
    }
}

/// How v7 is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Strategy {
    /// One ring of 100% at delay 0, no halt (19 July 2024).
    AllAtOnce,
    /// [`standard_rings`] and a controller that publishes a halt.
    StagedHalt,
}

impl Strategy {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            Strategy::AllAtOnce => "all-at-once",
            Strategy::StagedHalt => "staged+halt",
        }
    }
    /// The rings of its release record.
    pub fn rings(self, config: &Config) -> Vec<Ring> {
        match self {
            Strategy::AllAtOnce => vec![Ring {
                fraction_ppm: 1_000_000,
                delay_secs: 0,
            }],
            Strategy::StagedHalt => standard_rings(config.ring_step_secs),
        }
    }
}

/// The fleet at the end of one step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Seconds after `T0` (the end of the step).
    pub t: u64,
    /// Distinct machines crashed so far.
    pub crashed_machines: u64,
    /// Crashes so far.
    pub crashes: u64,
    /// Machines up and running v7 now.
    pub running_bad: u64,
    /// Distinct machines that have activated v7 so far.
    pub activated: u64,
}

/// One ring of a strategy's rollout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingRow {
    /// Cumulative share (ppm).
    pub fraction_ppm: u32,
    /// Opens at `T0` + this (seconds).
    pub opens_after: u64,
    /// Machines in the ring.
    pub machines: u64,
    /// Of which with the property.
    pub with_property: u64,
    /// Machines that activated v7.
    pub activated: u64,
    /// Machines that crashed.
    pub crashed: u64,
}

/// What one strategy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrategyReport {
    /// Strategy name.
    pub strategy: &'static str,
    /// Per step.
    pub samples: Vec<Sample>,
    /// Per ring.
    pub rings: Vec<RingRow>,
    /// Distinct machines that crashed.
    pub crashed_machines: u64,
    /// Crashes in total.
    pub crashes: u64,
    /// Distinct machines that activated v7 (on trial, whether it crashed them or not).
    pub activated: u64,
    /// Machines that quarantined v7.
    pub quarantined: u64,
    /// Machines whose v7 trial a halt ended (`trial-halted`).
    pub trials_halted: u64,
    /// The gate tripped (seconds after `T0`).
    pub halt_decided: Option<u64>,
    /// The halt was published (seconds after `T0`).
    pub halt_published: Option<u64>,
    /// Machines running v7 at the end (it promoted on them: a halt does not
    /// touch promoted content).
    pub on_bad_at_end: u64,
    /// Machines whose ring opened after the halt was published.
    pub ring_opened_after_halt: u64,
    /// Of those, machines that activated v7 anyway (must be 0).
    pub activated_after_halt_ring: u64,
    /// Machines with the property in the canary ring (ring 0; all at once:
    /// the whole fleet is ring 0).
    pub canary_with_property: u64,
    /// Machines that activated v7 before the halt was published (all of them without a halt).
    pub activated_before_halt: u64,
    /// Machines that crashed more times than their MaxTrialBoots (must be 0).
    pub over_max_trial: u64,
    /// Most crashes of one machine.
    pub max_crashes_per_machine: u32,
    /// Loader runs (boots) during the rollout, set-up boot excluded.
    pub boots: u64,
    /// Crash reports the vendor received (machines whose report showed a crash of v7).
    pub crash_reports: u64,
    /// Invariant violations (`machine N at T0+S s: ...`), from every boot report.
    pub violations: Vec<String>,
}

impl StrategyReport {
    /// Issue 15's bound: crashed machines <= canary machines with the
    /// property + machines that activated v7 before the halt.
    pub const fn bound(&self) -> u64 {
        self.canary_with_property + self.activated_before_halt
    }
    /// The done-when condition: within the bound, no machine crashed more
    /// than its MaxTrialBoots, no machine of a ring opened after the halt
    /// activated, and no invariant violated.
    pub fn holds(&self) -> bool {
        self.crashed_machines <= self.bound()
            && self.over_max_trial == 0
            && self.activated_after_halt_ring == 0
            && self.violations.is_empty()
    }
}

/// Both strategies over the same machines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetReport {
    /// Parameters.
    pub config: Config,
    /// Machines with the property.
    pub with_property: u64,
    /// Machines with MaxTrialBoots 2.
    pub max_trial_2: u64,
    /// Invariant violations while setting the fleet up with v6.
    pub setup_violations: Vec<String>,
    /// 19 July 2024.
    pub all_at_once: StrategyReport,
    /// Rings and a halt.
    pub staged: StrategyReport,
}

impl FleetReport {
    /// Every invariant violation (set-up and both strategies).
    pub fn violations(&self) -> impl Iterator<Item = &String> {
        self.setup_violations
            .iter()
            .chain(&self.all_at_once.violations)
            .chain(&self.staged.violations)
    }
    /// The done-when condition of issue 15 item 5 (staged + halt) and no
    /// invariant violated anywhere.
    pub fn holds(&self) -> bool {
        self.staged.holds() && self.violations().next().is_none()
    }
}

/// One machine of the fleet and its update agent.
#[derive(Clone, Debug)]
struct Node {
    m: Machine,
    id: [u8; 16],
    property: bool,
    max_trial: u32,
    phase: u64,
    next_poll: u64,
    reboot_at: Option<u64>,
    /// Publications downloaded.
    downloaded: usize,
    /// The loader said `NotYetEligible { at }`.
    wait_until: Option<u64>,
    /// Run the loader at every poll (a retry pending).
    unsettled: bool,
    up_on_bad: bool,
    crashes: u32,
    activated_at: Option<u64>,
    quarantined: bool,
    trial_halted: bool,
    crash_reported: bool,
    activation_reported: bool,
}

/// Something the vendor published.
#[derive(Clone, Debug)]
struct Publication {
    at: u64,
    files: Vec<(String, Bytes)>,
}

/// A machine's status report, as the vendor receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct StatusReport {
    at: u64,
    machine: usize,
    activated: bool,
    crashed: bool,
}

/// What one worker did in one step.
#[derive(Debug, Default)]
struct ChunkOut {
    reports: Vec<StatusReport>,
    boots: u64,
    violations: Vec<String>,
}

fn bytes_of(v: Vec<u8>) -> Bytes {
    Bytes::from(v)
}

/// The keyring every machine trusts: the sim content key for the channel,
/// test-only (the poison content carries `test-crash`), signed by 2 of 3 roots.
fn keyring() -> Bytes {
    let spec = KeyringSpec {
        version: 1,
        issued: SETUP_AT - 30 * DAY,
        expires: T0 + 365 * DAY,
        keys: vec![KeyEntry {
            public: content::key().public(),
            channel: CHANNEL,
            test_only: true,
            not_before: SETUP_AT - 30 * DAY,
            not_after: T0 + 365 * DAY,
            max_version: u64::MAX,
        }],
    }
    .canonical();
    bytes_of(spec.to_bytes(&[content::root_key(0), content::root_key(1)]))
}

fn release(version: u64, start: u64, rings: Vec<Ring>) -> Bytes {
    bytes_of(
        ReleaseSpec {
            channel: CHANNEL,
            version,
            issued: start,
            start,
            fast_forward: false,
            rings,
        }
        .to_bytes(content::key()),
    )
}

fn halt(at: u64) -> Bytes {
    bytes_of(
        HaltSpec {
            channel: CHANNEL,
            sequence: 1,
            issued: at,
            first: BAD,
            last: BAD,
        }
        .to_bytes(content::key()),
    )
}

/// The release of v7 as the loader reads it (to place machines in rings).
fn parsed_release(bytes: &[u8]) -> Option<Release> {
    let public = content::key().public();
    Release::validate_by(bytes, |_| Some(public), CHANNEL, BAD).ok()
}

/// Crash evidence of v7 in a boot report: the loader's record of an
/// unfinished trial that did not end cleanly.
fn shows_crash(r: &BootReport) -> bool {
    r.decisions.iter().any(|d| {
        d.channel == CHANNEL
            && d.version == BAD
            && matches!(
                d.reason,
                Reason::RecoveryBoot
                    | Reason::TrialRetried
                    | Reason::Quarantined
                    | Reason::TrialSuperseded
            )
    })
}

impl Node {
    fn new(rng: &mut Rng, config: &Config) -> Node {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        id[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        let property = rng.pct(config.property_pct);
        let max_trial = if rng.pct(config.max_trial_2_pct) {
            2
        } else {
            1
        };
        let phase = rng.below(config.poll_secs.max(1));
        let mut m = Machine::new(None);
        m.keyring_mode = true;
        m.has_property = property;
        m.set_binary("MachineId", &id);
        if max_trial == 2 {
            m.set_dword("MaxTrialBoots", 2);
        }
        Node {
            m,
            id,
            property,
            max_trial,
            phase,
            next_poll: 0,
            reboot_at: None,
            downloaded: 0,
            wait_until: None,
            unsettled: false,
            up_on_bad: false,
            crashes: 0,
            activated_at: None,
            quarantined: false,
            trial_halted: false,
            crash_reported: false,
            activation_reported: false,
        }
    }

    /// Install v6 and boot once past the health window; violations, and a
    /// complaint unless v6 is the LKG then.
    fn set_up(&mut self, keyring: &Bytes, good_release: &Bytes) -> Vec<String> {
        self.m.clock = Some(SETUP_AT);
        self.m.deliver_file(KEYRING_NAME, keyring);
        self.m
            .deliver_file(FileName::release(CHANNEL, GOOD).as_str(), good_release);
        self.m.deliver(CHANNEL, GOOD, Kind::Good);
        let r = self.m.boot(BootPlan::default(), None, None);
        let mut v = r.violations;
        let lkg = r
            .channels
            .iter()
            .find(|c| c.channel == CHANNEL)
            .and_then(|c| c.lkg_version);
        if r.end != BootEnd::Healthy || lkg != Some(GOOD) {
            v.push(format!(
                "set-up boot ended {:?} with LKG {lkg:?}, expected v{GOOD}",
                r.end
            ));
        }
        v
    }

    /// The first poll at or after `t`.
    fn first_poll_from(&self, t: u64, poll: u64) -> u64 {
        let poll = poll.max(1);
        t + (self.phase + poll - t % poll) % poll
    }

    /// Run the loader at `at` and account for what it did.
    fn run(&mut self, at: u64, idx: usize, config: &Config, out: &mut ChunkOut) {
        self.m.clock = Some(at);
        let r = self.m.boot(BootPlan::default(), None, None);
        out.boots += 1;
        out.violations.extend(
            r.violations
                .iter()
                .map(|v| format!("machine {idx} at T0+{}s: {v}", at - T0)),
        );
        let view = r.channels.iter().find(|c| c.channel == CHANNEL);
        let active_bad = view.is_some_and(|c| c.active_version == Some(BAD));
        let crashed = matches!(&r.end, BootEnd::Crashed(v) if v.contains(&(CHANNEL, BAD)));
        if (active_bad || crashed) && self.activated_at.is_none() {
            self.activated_at = Some(at);
        }
        if crashed {
            self.crashes += 1;
            self.up_on_bad = false;
            self.reboot_at = Some(at + config.reboot_secs);
            return;
        }
        self.up_on_bad = active_bad;
        let decided = |want: fn(&Reason) -> bool| {
            r.decisions
                .iter()
                .any(|d| d.channel == CHANNEL && d.version == BAD && want(&d.reason))
        };
        self.wait_until = r.decisions.iter().find_map(|d| match d.reason {
            Reason::NotYetEligible { at } if d.channel == CHANNEL && d.version == BAD => Some(at),
            _ => None,
        });
        let halted = decided(|r| matches!(r, Reason::Halted | Reason::TrialHalted));
        if decided(|r| *r == Reason::TrialHalted) {
            self.trial_halted = true;
        }
        let quarantined =
            view.is_some_and(|c| c.quarantined.contains(&BAD) || c.quarantine_floor >= BAD);
        self.quarantined |= quarantined;
        let promoted = view.is_some_and(|c| c.lkg_version.is_some_and(|l| l >= BAD));
        let bad_on_disk = self.downloaded > 0;
        self.set_unsettled(bad_on_disk && !(promoted || quarantined || halted));
        // The agent reports what the loader said, once the machine is up.
        let crash_seen = shows_crash(&r);
        let report = StatusReport {
            at: at + config.report_secs,
            machine: idx,
            activated: self.activated_at.is_some() && (active_bad || crash_seen),
            crashed: crash_seen,
        };
        if (report.activated && !self.activation_reported) || (crash_seen && !self.crash_reported) {
            self.activation_reported |= report.activated;
            self.crash_reported |= crash_seen;
            out.reports.push(report);
        }
    }

    fn set_unsettled(&mut self, unsettled: bool) {
        self.unsettled = unsettled && self.wait_until.is_none();
    }

    /// Everything this machine does in `[from, to)`.
    fn advance(
        &mut self,
        idx: usize,
        to: u64,
        pubs: &[Publication],
        config: &Config,
        out: &mut ChunkOut,
    ) {
        loop {
            let next = self
                .reboot_at
                .map_or(self.next_poll, |r| r.min(self.next_poll));
            if next >= to {
                return;
            }
            if self.reboot_at == Some(next) {
                self.reboot_at = None;
                self.run(next, idx, config, out);
                continue;
            }
            self.next_poll += config.poll_secs.max(1);
            let mut new = false;
            while let Some(p) = pubs.get(self.downloaded).filter(|p| p.at <= next) {
                for (name, b) in &p.files {
                    self.m.deliver_file(name, b);
                }
                self.downloaded += 1;
                new = true;
            }
            let due = self.wait_until.is_some_and(|a| a <= next);
            if new || due || self.unsettled {
                self.run(next, idx, config, out);
            }
        }
    }
}

/// Run `f` over the nodes in contiguous chunks on `threads` threads; the
/// outputs in chunk order (so the result does not depend on `threads`).
fn par_chunks<T: Send>(
    nodes: &mut [Node],
    threads: usize,
    f: &(dyn Fn(usize, &mut [Node]) -> T + Sync),
) -> Vec<T> {
    let n = nodes.len();
    if threads <= 1 || n < 64 {
        return vec![f(0, nodes)];
    }
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .chunks_mut(chunk)
            .enumerate()
            .map(|(i, c)| s.spawn(move || f(i * chunk, c)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

fn threads_of(config: &Config) -> usize {
    if config.threads > 0 {
        config.threads
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Steps between two progress updates of a strategy.
const PROGRESS_EVERY_STEPS: u64 = 6;

/// Run both strategies. `progress` gets phases `set-up` (machines),
/// `all-at-once` and `staged+halt` (simulated steps).
pub fn run(config: &Config, progress: &mut dyn Progress) -> FleetReport {
    let threads = threads_of(config);
    let keyring = keyring();
    let good_release = release(GOOD, SETUP_AT - 7 * DAY, Strategy::AllAtOnce.rings(config));
    let mut rng = Rng::new(config.seed);
    progress.phase("set-up");
    let mut nodes: Vec<Node> = (0..config.machines)
        .map(|_| Node::new(&mut rng, config))
        .collect();
    let total = config.machines;
    let mut setup_violations = Vec::new();
    // Set up in slices so progress moves.
    let slice = (total / 50).max(256) as usize;
    let mut done = 0usize;
    while done < nodes.len() {
        let end = (done + slice).min(nodes.len());
        let base = done;
        let outs = par_chunks(&mut nodes[done..end], threads, &|off, chunk| {
            let mut v = Vec::new();
            for (i, n) in chunk.iter_mut().enumerate() {
                v.extend(
                    n.set_up(&keyring, &good_release)
                        .into_iter()
                        .map(|s| format!("machine {} set-up: {s}", base + off + i)),
                );
            }
            v
        });
        setup_violations.extend(outs.into_iter().flatten());
        done = end;
        progress.update(done as u64, total);
    }
    let with_property = nodes.iter().filter(|n| n.property).count() as u64;
    let max_trial_2 = nodes.iter().filter(|n| n.max_trial == 2).count() as u64;
    progress.phase("all-at-once");
    let all_at_once = simulate(
        Strategy::AllAtOnce,
        nodes.clone(),
        config,
        threads,
        progress,
    );
    progress.phase("staged+halt");
    let staged = simulate(Strategy::StagedHalt, nodes, config, threads, progress);
    FleetReport {
        config: *config,
        with_property,
        max_trial_2,
        setup_violations,
        all_at_once,
        staged,
    }
}

/// The vendor's rollout controller (staged + halt).
#[derive(Debug, Default)]
struct Controller {
    activated: u64,
    crashed: u64,
    decided: Option<u64>,
}

impl Controller {
    /// Take one report; the time the gate trips, if this one trips it.
    fn take(&mut self, r: &StatusReport, canary: bool, threshold_ppm: u64) -> Option<u64> {
        if r.activated {
            self.activated += 1;
        }
        if r.crashed {
            self.crashed += 1;
        }
        if self.decided.is_some() || !r.crashed {
            return None;
        }
        let over = self.crashed * 1_000_000 > threshold_ppm * self.activated.max(1);
        if canary || over {
            self.decided = Some(r.at);
            return Some(r.at);
        }
        None
    }
}

fn simulate(
    strategy: Strategy,
    mut nodes: Vec<Node>,
    config: &Config,
    threads: usize,
    progress: &mut dyn Progress,
) -> StrategyReport {
    let rings = strategy.rings(config);
    let rel = release(BAD, T0, rings.clone());
    let parsed = parsed_release(&rel);
    let ring_of = |n: &Node| parsed.map_or(0, |p| p.ring_of(ring_point(&n.id, CHANNEL)));
    let ring_idx: Vec<usize> = nodes.iter().map(ring_of).collect();
    let mut pubs = vec![Publication {
        at: T0,
        files: vec![
            (
                FileName::release(CHANNEL, BAD).as_str().to_owned(),
                rel.clone(),
            ),
            (
                FileName::new(CHANNEL, BAD).as_str().to_owned(),
                content::bytes(CHANNEL, BAD, Kind::PoisonOnProperty),
            ),
        ],
    }];
    for n in &mut nodes {
        n.next_poll = n.first_poll_from(T0, config.poll_secs);
    }
    let step = config.step_secs.max(1);
    let steps = config.horizon_secs.div_ceil(step);
    let mut report = StrategyReport {
        strategy: strategy.name(),
        ..StrategyReport::default()
    };
    let mut controller = Controller::default();
    let mut pending: Vec<StatusReport> = Vec::new();
    for k in 0..steps {
        let to = T0 + (k + 1) * step;
        let outs = par_chunks(&mut nodes, threads, &|off, chunk| {
            let mut out = ChunkOut::default();
            for (i, n) in chunk.iter_mut().enumerate() {
                n.advance(off + i, to, &pubs, config, &mut out);
            }
            out
        });
        for o in outs {
            report.boots += o.boots;
            report.violations.extend(o.violations);
            pending.extend(o.reports);
        }
        // The vendor's view: reports that arrived by the end of this step.
        pending.sort_unstable();
        let arrived = pending.partition_point(|r| r.at < to);
        for r in pending.drain(..arrived) {
            if r.crashed {
                report.crash_reports += 1;
            }
            if strategy != Strategy::StagedHalt {
                continue;
            }
            let canary = ring_idx.get(r.machine) == Some(&0);
            if let Some(at) = controller.take(&r, canary, config.threshold_ppm) {
                // Published no earlier than the end of this step (the
                // machines of this step have been simulated up to it).
                let publish = (at + config.reaction_secs).max(to);
                report.halt_decided = Some(at - T0);
                report.halt_published = Some(publish - T0);
                pubs.push(Publication {
                    at: publish,
                    files: vec![(FileName::halt(CHANNEL).as_str().to_owned(), halt(publish))],
                });
            }
        }
        let mut s = Sample {
            t: to - T0,
            ..Sample::default()
        };
        for n in &nodes {
            s.crashed_machines += u64::from(n.crashes > 0);
            s.crashes += u64::from(n.crashes);
            s.running_bad += u64::from(n.up_on_bad);
            s.activated += u64::from(n.activated_at.is_some());
        }
        report.samples.push(s);
        if (k + 1) % PROGRESS_EVERY_STEPS == 0 || k + 1 == steps {
            progress.update(k + 1, steps);
        }
    }
    finish(&mut report, &nodes, &ring_idx, &rings, parsed.as_ref());
    report
}

fn finish(
    report: &mut StrategyReport,
    nodes: &[Node],
    ring_idx: &[usize],
    rings: &[Ring],
    parsed: Option<&Release>,
) {
    let halt_at = report.halt_published.map(|h| T0 + h);
    let mut per: BTreeMap<usize, RingRow> = rings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                i,
                RingRow {
                    fraction_ppm: r.fraction_ppm,
                    opens_after: r.delay_secs,
                    ..RingRow::default()
                },
            )
        })
        .collect();
    for (n, ring) in nodes.iter().zip(ring_idx) {
        let row = per.entry(*ring).or_default();
        row.machines += 1;
        row.with_property += u64::from(n.property);
        row.activated += u64::from(n.activated_at.is_some());
        row.crashed += u64::from(n.crashes > 0);
        report.crashed_machines += u64::from(n.crashes > 0);
        report.crashes += u64::from(n.crashes);
        report.activated += u64::from(n.activated_at.is_some());
        report.quarantined += u64::from(n.quarantined);
        report.trials_halted += u64::from(n.trial_halted);
        report.on_bad_at_end += u64::from(n.up_on_bad);
        report.over_max_trial += u64::from(n.crashes > n.max_trial);
        report.max_crashes_per_machine = report.max_crashes_per_machine.max(n.crashes);
        if *ring == 0 && n.property {
            report.canary_with_property += 1;
        }
        if n.activated_at
            .is_some_and(|a| halt_at.is_none_or(|h| a < h))
        {
            report.activated_before_halt += 1;
        }
        let opens = parsed.map_or(T0, |p| p.eligible_at(ring_point(&n.id, CHANNEL), 0));
        if halt_at.is_some_and(|h| opens > h) {
            report.ring_opened_after_halt += 1;
            report.activated_after_halt_ring += u64::from(n.activated_at.is_some());
        }
    }
    report.rings = per.into_values().collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_fall_on_the_phase() {
        let mut rng = Rng::new(3);
        let mut n = Node::new(&mut rng, &Config::default());
        n.phase = 100;
        assert_eq!(n.first_poll_from(3_600, 3_600), 3_700);
        assert_eq!(n.first_poll_from(3_700, 3_600), 3_700);
        assert_eq!(n.first_poll_from(3_701, 3_600), 7_300);
    }

    #[test]
    fn records_validate() {
        let rel = release(BAD, T0, standard_rings(7_200));
        let p = parsed_release(&rel).expect("release validates");
        assert_eq!(p.rings().len(), 5);
    }
}
