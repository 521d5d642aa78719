//! One simulated machine: disk + registry + golden content, the `Platform`
//! over them, one boot (loader -> real interpreter engine -> health window ->
//! promotion), and the invariants checked after every boot.

mod invariants;
mod platform;
mod run;
mod start;

pub use platform::{CrashAt, FailOp, Op, Probe, SimPlatform};

use run::Run;
use start::BootStart;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use changuard_format::AlignedBytes;
use changuard_format::{Trust, ValidChannel, validate};
use changuard_interp::{Engine, EngineError, Verdict};
use changuard_loader::state::State;
use changuard_loader::{Decision, Loader, Mutation, Setup, Source};

use crate::content;
use crate::disk::{Bytes, Disk, Image, Variant};

/// Content directory as configured (the default).
pub const CONTENT_DIR: &str = changuard_loader::config::DEFAULT_CONTENT_DIR;
const CONTENT_PREFIX: &str = "content/";
/// Bound on platform ops in one boot (I6).
pub const MAX_OPS_PER_BOOT: u64 = 400;

/// The reference model: what the simulator knows independently of the loader.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Model {
    /// Crashes while `(channel, version)` was active on trial (since the last ClearQuarantine).
    pub crashes: BTreeMap<(u32, u64), u32>,
    /// Largest MaxTrialBoots in force since the start.
    pub max_trial_ever: u32,
    /// Channels that have had a durable LKG (I2).
    pub lkg_ever: BTreeSet<u32>,
    /// Highest floor seen per channel (I5).
    pub floor_seen: BTreeMap<u32, u64>,
    /// The sim corrupted the LKG store of these channels (I2 excused until next promotion).
    pub lkg_tampered: BTreeSet<u32>,
    /// The sim corrupted a state slot (floor monotonicity excused until next promotion).
    pub state_tampered: bool,
    /// Boots completed.
    pub boots: u64,
    /// Crashes (poison bugchecks) in total.
    pub total_crashes: u64,
    /// Power losses injected.
    pub power_losses: u64,
    /// `(channel, version)` whose trial was running (or recorded) in a boot
    /// that did not end cleanly (a crash, a power loss, a fault, a rotten
    /// state record): the only versions the loader may quarantine (I7).
    pub unclean: BTreeSet<(u32, u64)>,
    /// Highest keyring version and halt sequence per channel recorded so
    /// far (I9: neither ever decreases, so neither can be replayed).
    pub keyring_seen: u64,
    /// See `keyring_seen`.
    pub halt_seen: BTreeMap<u32, u64>,
}

/// A machine.
#[derive(Clone, Debug)]
pub struct Machine {
    /// The disk.
    pub disk: Disk,
    /// `Parameters` values: name -> (REG_* type, data).
    pub registry: BTreeMap<String, (u32, Vec<u8>)>,
    /// Golden content per channel.
    pub golden: BTreeMap<u32, Bytes>,
    /// Reference model.
    pub model: Model,
    /// Injected protocol bug.
    pub mutation: Option<Mutation>,
    /// Health window used (matches the config default unless set).
    pub health_window: u64,
    /// Sim-only knob: `(channel, version)` content that the simulated
    /// interpreter counts a fault against during the health window whenever it
    /// is active. Validated content never faults the real engine (a fault means
    /// a validator/engine bug), so this stands in for one, like poison stands
    /// in for a crash. The loader then withholds that channel's promotion
    /// (`faulted-during-trial`) and promotes the others.
    pub faulting: BTreeSet<(u32, u64)>,
    /// Wall clock the platform reports (Unix seconds); `None`: no clock.
    pub clock: Option<u64>,
    /// Keyring mode: the loader accepts keyrings signed by 2 of
    /// [`content::roots`] (issue 15). Off: compiled keys only, as before.
    pub keyring_mode: bool,
    /// The machine has the property [`content::Kind::PoisonOnProperty`]
    /// content crashes on: it also creates [`content::property_event`] at boot.
    pub has_property: bool,
}

/// One channel after a boot (for timelines, JSON and the matrix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelView {
    /// Channel.
    pub channel: u32,
    /// Source.
    pub source: Source,
    /// Active version.
    pub active_version: Option<u64>,
    /// Trial attempt if on trial (before promotion).
    pub trial_attempt: Option<u32>,
    /// LKG version after the boot.
    pub lkg_version: Option<u64>,
    /// Quarantined versions listed.
    pub quarantined: Vec<u64>,
    /// Every version at or below it is quarantined too (0: none).
    pub quarantine_floor: u64,
    /// Floor.
    pub floor: u64,
    /// Promoted this boot.
    pub promoted: bool,
    /// Last problem reason name.
    pub last_problem: Option<&'static str>,
}

/// How a boot ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootEnd {
    /// Ran past the health window (promotion attempted).
    Healthy,
    /// Rebooted normally before the health window.
    RebootedEarly,
    /// Poison content crashed the machine: (channel, version) that matched TestCrash.
    Crashed(Vec<(u32, u64)>),
    /// Power lost at an injected crash point (after `op`).
    PowerLoss(Op),
    /// Power cut at the end of the boot, with nothing being written.
    PowerCut,
}

/// What one boot did.
#[derive(Clone, Debug)]
pub struct BootReport {
    /// How it ended.
    pub end: BootEnd,
    /// Channels (empty when power was lost inside the loader).
    pub channels: Vec<ChannelView>,
    /// Decisions recorded.
    pub decisions: Vec<Decision>,
    /// Platform ops.
    pub ops: u64,
    /// Files in the content directory at boot.
    pub on_disk: Vec<String>,
    /// Invariant violations found after this boot.
    pub violations: Vec<String>,
    /// An `IOCTL_RELOAD` ran in this boot.
    pub reloaded: bool,
    /// Promotion calls failed by an injected I/O failure.
    pub io_failures: u32,
    /// The loader recorded a clean shutdown.
    pub clean_shutdown: bool,
    /// Memory budget of the last load: `(charged, limit)` bytes (issue 11
    /// finding 9); I8 checks `charged <= limit` and that it is the sum of
    /// the active channels' charges.
    pub memory: (u64, u64),
}

/// How the boot should go. A boot that neither crashes nor loses power ends
/// with a clean shutdown the loader is told of ([`changuard_loader::Loader::shutdown`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BootPlan {
    /// Inject power loss here.
    pub crash_at: Option<CrashAt>,
    /// End before the health window (no promotion).
    pub reboot_early: bool,
    /// End with a power cut instead of the clean shutdown (while nothing is
    /// being written: after promotion, or before the window with `reboot_early`).
    pub power_cut: bool,
    /// `IOCTL_RELOAD` once after activation, before the health window.
    pub reload: bool,
    /// Promotion I/O failure.
    pub fail: Option<FailOp>,
}

/// Evaluate the boot events with the real engine over `views`: the
/// `(channel, version)` pairs whose `TestCrash` instance matched, and the
/// channels the interpreter faulted on (per channel, promise 3).
///
/// Attribution: a channel the engine refuses (`Inconsistent`,
/// `DuplicateChannel`) is faulted and the engine is rebuilt without it (as the
/// driver does); a verdict with faults or fuel exhaustion is re-evaluated
/// against each channel alone, and the channels that fault alone are blamed.
/// If none does (or no engine can be built at all), every channel evaluated is
/// blamed: a fault is never left unattributed.
fn run_engine(views: &[ValidChannel<&[u8]>], property: bool) -> (Vec<(u32, u64)>, BTreeSet<u32>) {
    let mut crashed_by: Vec<(u32, u64)> = vec![];
    let mut faulted: BTreeSet<u32> = BTreeSet::new();
    for _ in 0..=views.len() {
        let subset: Vec<ValidChannel<&[u8]>> = views
            .iter()
            .filter(|v| !faulted.contains(&v.channel()))
            .copied()
            .collect();
        let engine = match Engine::new(&subset) {
            Ok(e) => e,
            Err(
                EngineError::Inconsistent { channel, .. } | EngineError::DuplicateChannel(channel),
            ) if !faulted.contains(&channel) => {
                faulted.insert(channel);
                continue;
            }
            Err(_) => {
                faulted.extend(subset.iter().map(ValidChannel::channel));
                break;
            }
        };
        let mut verdict = Verdict::default();
        let extra = property.then(content::property_event);
        for ev in content::boot_events().into_iter().chain(extra) {
            verdict.clear();
            engine.evaluate(&ev, &mut verdict);
            for m in verdict.matches() {
                if m.action == changuard_format::Action::TestCrash {
                    if let Some(c) = subset.iter().find(|c| c.channel() == m.channel) {
                        if !crashed_by.contains(&(m.channel, c.version())) {
                            crashed_by.push((m.channel, c.version()));
                        }
                    }
                }
            }
            if verdict.faults > 0 || verdict.fuel_exhausted {
                let mut blamed = false;
                for v in &subset {
                    let mut alone = Verdict::default();
                    if let Ok(solo) = Engine::new(std::slice::from_ref(v)) {
                        solo.evaluate(&ev, &mut alone);
                        if alone.faults == 0 && !alone.fuel_exhausted {
                            continue;
                        }
                    }
                    faulted.insert(v.channel());
                    blamed = true;
                }
                if !blamed {
                    faulted.extend(subset.iter().map(ValidChannel::channel));
                }
            }
        }
        break;
    }
    (crashed_by, faulted)
}

/// `(channel, version)` of every trial in a decodable state slot of `disk`
/// (what a crash at this point may leave recorded).
pub fn trials_on(disk: &Disk) -> BTreeSet<(u32, u64)> {
    (0..2)
        .filter_map(|slot| disk.read(&format!("state/{slot}")))
        .filter_map(|b| State::decode(&b))
        .flat_map(|s| {
            s.channels()
                .iter()
                .filter_map(|c| c.trial.map(|t| (c.channel, t.version)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Oracle: does `bytes` validate as `channel`, and which version.
pub fn oracle(bytes: &[u8], channel: u32) -> Option<u64> {
    thread_local! {
        static CACHE: std::cell::RefCell<HashMap<(u32, u64, usize), Option<u64>>> = std::cell::RefCell::new(HashMap::new());
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    let key = (channel, h.finish(), bytes.len());
    if let Some(v) = CACHE.with(|c| c.borrow().get(&key).copied()) {
        return v;
    }
    let a = AlignedBytes::from_slice(bytes);
    let v = validate(&a[..], &Trust::new(content::oracle_keys()), channel)
        .ok()
        .map(|c| c.version());
    CACHE.with(|c| c.borrow_mut().insert(key, v));
    v
}

impl Machine {
    /// A fresh machine: empty disk, no parameters.
    pub fn new(mutation: Option<Mutation>) -> Machine {
        Machine {
            disk: Disk::default(),
            registry: BTreeMap::new(),
            golden: BTreeMap::new(),
            model: Model {
                max_trial_ever: 1,
                ..Model::default()
            },
            mutation,
            health_window: u64::from(changuard_loader::config::DEFAULT_HEALTH_WINDOW_SECS),
            faulting: BTreeSet::new(),
            clock: None,
            keyring_mode: false,
            has_property: false,
        }
    }

    /// The update agent delivers any file (a release record, a halt, a
    /// keyring) durably under `name` in the content directory.
    pub fn deliver_file(&mut self, name: &str, bytes: &Bytes) {
        let name = format!("{CONTENT_PREFIX}{name}");
        self.disk.write(&name, bytes);
        self.disk.flush(&name);
        self.disk.sync();
    }

    /// Set a REG_BINARY parameter.
    pub fn set_binary(&mut self, name: &str, v: &[u8]) {
        self.registry.insert(name.to_owned(), (3, v.to_vec()));
    }

    /// The update agent delivers a file durably.
    pub fn deliver(&mut self, channel: u32, version: u64, kind: content::Kind) {
        let name = format!(
            "{CONTENT_PREFIX}{}",
            changuard_loader::names::FileName::new(channel, version).as_str()
        );
        self.disk
            .write(&name, &content::bytes(channel, version, kind));
        self.disk.flush(&name);
        self.disk.sync();
    }

    /// Power is cut while the agent writes: half the file reached the disk.
    pub fn deliver_torn(&mut self, channel: u32, version: u64) {
        let name = format!(
            "{CONTENT_PREFIX}{}",
            changuard_loader::names::FileName::new(channel, version).as_str()
        );
        let b = content::bytes(channel, version, content::Kind::Good);
        self.disk.write(&name, &b[..b.len() / 2]);
        self.disk.flush(&name);
        self.disk.sync();
        self.model.power_losses += 1;
    }

    /// Bit rot in the LKG copy of `channel`.
    pub fn corrupt_lkg(&mut self, channel: u32) {
        let name = format!("lkg/{channel}.lkg");
        if let Some(b) = self.disk.read(&name) {
            let mut v = b.to_vec();
            let mid = v.len() / 2;
            if let Some(x) = v.get_mut(mid) {
                *x ^= 0xFF;
            }
            self.disk.write(&name, &v);
            self.disk.flush(&name);
            self.model.lkg_tampered.insert(channel);
        }
    }

    /// Tear the newest state slot.
    pub fn tear_newest_state(&mut self) {
        let mut best: Option<(u64, String)> = None;
        for slot in 0..2 {
            let n = format!("state/{slot}");
            if let Some(b) = self.disk.read(&n) {
                if let Some(s) = changuard_loader::state::State::decode(&b) {
                    if best.as_ref().is_none_or(|(g, _)| s.generation > *g) {
                        best = Some((s.generation, n));
                    }
                }
            }
        }
        // Rot of a record is an unclean end for every trial it may hold (I7),
        // and the LKG copy may no longer match the record that is left: it is
        // refused (issue 11 finding 5), so I2 is excused until the next
        // promotion, as for rot of the LKG copy itself.
        let had: Vec<u32> = self.model.lkg_ever.iter().copied().collect();
        self.model.lkg_tampered.extend(had);
        for slot in 0..2 {
            if let Some(st) = self
                .disk
                .read(&format!("state/{slot}"))
                .and_then(|b| State::decode(&b))
            {
                for c in st.channels() {
                    if let Some(t) = c.trial {
                        self.model.unclean.insert((c.channel, t.version));
                    }
                }
            }
        }
        if let Some((_, n)) = best {
            if let Some(b) = self.disk.read(&n) {
                let half = b.len() / 2;
                let v: Vec<u8> = b[..half].to_vec();
                self.disk.write(&n, &v);
                self.disk.flush(&n);
                self.model.state_tampered = true;
                // Rot of a flushed record is outside the protocol's guarantees:
                // the trial counts it held are gone, so I3 restarts from here.
                self.model.crashes.clear();
            }
        }
    }

    /// Set a DWORD parameter.
    pub fn set_dword(&mut self, name: &str, v: u32) {
        self.registry
            .insert(name.to_owned(), (4, v.to_le_bytes().to_vec()));
        if name == "MaxTrialBoots" && (v == 1 || v == 2) {
            self.model.max_trial_ever = self.model.max_trial_ever.max(v);
        }
        if name == "ClearQuarantine" {
            self.model.crashes.clear();
        }
    }

    /// Set a REG_SZ parameter.
    pub fn set_sz(&mut self, name: &str, s: &str) {
        let mut d: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        d.extend_from_slice(&[0, 0]);
        self.registry.insert(name.to_owned(), (1, d));
    }

    /// Apply a crash outcome: the surviving image becomes the whole disk.
    pub fn apply_crash(&mut self, v: &Variant) {
        let img = self.disk.crash(v);
        self.disk = Disk::from_image(&img);
    }

    /// Crash with variant `pick` (index into the current variants, modulo), or lose everything volatile.
    pub fn crash_with(&mut self, pick: Option<u32>) {
        let v = match pick {
            Some(i) => {
                let all = self.disk.variants();
                all.get(i as usize % all.len().max(1))
                    .cloned()
                    .unwrap_or_else(Disk::lose_everything_volatile)
            }
            None => Disk::lose_everything_volatile(),
        };
        self.apply_crash(&v);
    }

    /// Canonical image (for hashing crash states).
    pub fn image(&self) -> Image {
        self.disk.crash(&Disk::lose_everything_volatile())
    }

    /// The newest valid state record on disk (what the next boot recovers).
    fn durable_state(&self) -> Option<State> {
        (0..2)
            .filter_map(|slot| self.disk.read(&format!("state/{slot}")))
            .filter_map(|b| State::decode(&b))
            .max_by_key(|s| s.generation)
    }

    /// The LKG version the next boot may use, by the rule of
    /// docs/THREAT-MODEL.md (reimplemented here, not the loader's code): the
    /// valid copy (Current, else Temp) that carries the recorded LKG or the
    /// open trial (version and content hash); any valid copy when no state
    /// record exists.
    fn lkg_oracle(&self, channel: u32) -> Option<u64> {
        let st = self.durable_state();
        let cs = st.as_ref().and_then(|s| s.get(channel));
        let matches =
            |(v, h): (u64, u64), version: u64, hash: u64| v == version && (h == 0 || h == hash);
        for n in [format!("lkg/{channel}.lkg"), format!("lkg/{channel}.tmp")] {
            let Some(b) = self.disk.read(&n) else {
                continue;
            };
            let Some(v) = oracle(&b, channel) else {
                continue;
            };
            let hash = changuard_loader::digest::content_hash(&b);
            let ok = st.is_none()
                || cs.is_some_and(|c| {
                    (c.lkg_version != 0 && matches((c.lkg_version, c.lkg_hash), v, hash))
                        || c.trial
                            .is_some_and(|t| matches((t.version, t.hash), v, hash))
                });
            if ok {
                return Some(v);
            }
        }
        None
    }

    /// Run one boot. After a poison crash or an injected power loss, unflushed
    /// state is lost according to `crash_pick` (default: all of it). A boot that
    /// neither crashes nor loses power ends with a clean shutdown the loader is
    /// told of (its record is a crash point too).
    pub fn boot(
        &mut self,
        plan: BootPlan,
        crash_pick: Option<u32>,
        probe: Option<Probe<'_>>,
    ) -> BootReport {
        let setup = self.loader_setup();
        let on_disk = self.disk.list(CONTENT_PREFIX);
        // Reference facts at boot start.
        let start = BootStart::take(self, &on_disk);

        let p = SimPlatform::new(
            &mut self.disk,
            &self.registry,
            &self.golden,
            plan.crash_at,
            self.clock,
            probe,
        );
        let mut run = Run::start(p, &setup, on_disk);
        if run.p.crashed {
            let (report, touched) = run.power_loss();
            return self.lose_power(report, touched, crash_pick);
        }

        // Activation: the real engine over exactly what the loader validated.
        let (mut crashed_by, mut faulted) =
            evaluate(&self.faulting, &run.loader, self.has_property);
        if plan.reload && crashed_by.is_empty() {
            faulted_trials(&run.loader, &faulted, &mut self.model.unclean);
            run.reload(&setup, &faulted);
            if run.p.crashed {
                let (report, touched) = run.power_loss();
                return self.lose_power(report, touched, crash_pick);
            }
            (crashed_by, faulted) = evaluate(&self.faulting, &run.loader, self.has_property);
        }
        run.check_active();

        let faulted_ids: Vec<u32> = faulted.iter().copied().collect();
        faulted_trials(&run.loader, &faulted, &mut self.model.unclean);
        let mut promoted: BTreeSet<u32> = BTreeSet::new();
        if !crashed_by.is_empty() {
            run.crashed(&mut self.model, &crashed_by);
        } else {
            promoted = run.stay_up(&setup, plan, self.health_window, &faulted_ids);
            if plan.power_cut && !run.p.crashed {
                // No shutdown notification: the boot did not end cleanly.
                let (report, touched) = run.power_cut();
                return self.lose_power(report, touched, crash_pick);
            }
            // The clean end of the boot: the shutdown notification.
            run.shut_down(&faulted_ids);
            if run.p.crashed {
                let (report, touched) = run.power_loss();
                return self.lose_power(report, touched, crash_pick);
            }
        }

        let state_after_boot = run.state_after_boot;
        let report = run.close(&promoted);
        self.finish_boot(report, &start, state_after_boot, &crashed_by, crash_pick)
    }

    /// The loader's setup: the compiled keys, the injected bug, and in
    /// keyring mode the roots that sign keyrings.
    fn loader_setup(&self) -> Setup<'static> {
        let trusted = content::trusted();
        let mut setup = Setup::new(
            Trust::new(trusted),
            changuard_loader::config::DEFAULT_ALLOWED_ROOTS,
        );
        setup.mutation = self.mutation;
        if self.keyring_mode {
            if let Some(roots) = changuard_release::Roots::new(content::roots(), 2) {
                setup = setup.with_roots(roots);
            }
        }
        setup
    }

    /// Power was lost (at the injected crash point, or cut at the end of the
    /// boot): every trial the boot touched ended uncleanly, and unflushed
    /// state is lost according to `crash_pick`.
    fn lose_power(
        &mut self,
        report: BootReport,
        touched: BTreeSet<(u32, u64)>,
        crash_pick: Option<u32>,
    ) -> BootReport {
        self.model.unclean.extend(touched);
        self.model.power_losses += 1;
        self.crash_with(crash_pick);
        report
    }

    /// The end of a boot that kept power: the invariants against the facts
    /// at its start, then the bugcheck after poison or the clean shutdown.
    fn finish_boot(
        &mut self,
        mut report: BootReport,
        start: &BootStart,
        state_after_boot: Option<State>,
        crashed_by: &[(u32, u64)],
        crash_pick: Option<u32>,
    ) -> BootReport {
        let reference = start.reference(state_after_boot.as_ref(), crashed_by);
        self.check_invariants(&mut report, &reference);
        self.model.boots += 1;

        if !crashed_by.is_empty() {
            // The bugcheck loses everything unflushed.
            self.crash_with(crash_pick);
        } else {
            // Clean shutdown at the end of the boot.
            self.disk.settle();
        }
        report
    }
}

/// A fault on trial content counts like a crash: its trial is never marked
/// survived nor resumed by a reload (I7).
fn faulted_trials(
    loader: &Loader<AlignedBytes>,
    faulted: &BTreeSet<u32>,
    unclean: &mut BTreeSet<(u32, u64)>,
) {
    for c in loader.channels() {
        if faulted.contains(&c.channel) && c.trial_attempt.is_some() {
            if let Some(v) = c.active_version() {
                unclean.insert((c.channel, v));
            }
        }
    }
}

/// The real engine over the loader's active content: who crashed the
/// machine (poison), who faulted (the engine, or the `faulting` knob).
fn evaluate(
    faulting: &BTreeSet<(u32, u64)>,
    loader: &Loader<AlignedBytes>,
    property: bool,
) -> (Vec<(u32, u64)>, BTreeSet<u32>) {
    let views: Vec<ValidChannel<&[u8]>> = loader
        .channels()
        .iter()
        .filter_map(|c| c.active.as_ref().map(ValidChannel::as_view))
        .collect();
    let (crashed_by, mut faulted) = run_engine(&views, property);
    // Sim-only knob: content marked as faulting faults whenever it is active.
    for v in &views {
        if faulting.contains(&(v.channel(), v.version())) {
            faulted.insert(v.channel());
        }
    }
    (crashed_by, faulted)
}
