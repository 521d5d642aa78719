//! One simulated machine: disk + registry + golden content, the `Platform`
//! over them, one boot (loader -> real interpreter engine -> health window ->
//! promotion), and the invariants checked after every boot.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use changuard_format::AlignedBytes;
use changuard_format::{Trust, ValidChannel, validate};
use changuard_interp::{Engine, EngineError, Verdict};
use changuard_loader::limits::{MAX_CANDIDATE_TRIES, MAX_NEW_CHANNEL_TRIES, MAX_PROMOTION_TRIES};
use changuard_loader::platform::{LkgFile, RegValue};
use changuard_loader::state::State;
use changuard_loader::{
    Decision, IoError, IoErrorKind, Loader, Mutation, Platform, Reason, RegType, Setup, Source,
};

use crate::content;
use crate::disk::{Bytes, Disk, Image, Variant};

/// Content directory as configured (the default).
pub const CONTENT_DIR: &str = changuard_loader::config::DEFAULT_CONTENT_DIR;
const CONTENT_PREFIX: &str = "content/";
/// Bound on platform ops in one boot (I6).
pub const MAX_OPS_PER_BOOT: u64 = 400;

/// Which platform operation (for traces and crash triggers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `read_param`.
    ReadParam,
    /// `list_content`.
    List,
    /// `read_content`.
    ReadContent,
    /// `golden`/`golden_channel`.
    Golden,
    /// `state_read`.
    StateRead,
    /// `state_write`.
    StateWrite,
    /// `state_flush`.
    StateFlush,
    /// `lkg_read`.
    LkgRead,
    /// `lkg_write_temp`.
    LkgWriteTemp,
    /// `lkg_flush_temp`.
    LkgFlushTemp,
    /// `lkg_rename_temp`.
    LkgRename,
    /// `lkg_sync`.
    LkgSync,
    /// `lkg_delete_temp`.
    LkgDeleteTemp,
    /// `uptime_secs`.
    Uptime,
}

impl Op {
    /// Does it change the disk (a crash point follows it)?
    pub const fn mutates(self) -> bool {
        matches!(
            self,
            Op::StateWrite
                | Op::StateFlush
                | Op::LkgWriteTemp
                | Op::LkgFlushTemp
                | Op::LkgRename
                | Op::LkgSync
                | Op::LkgDeleteTemp
        )
    }
}

/// Where to crash a boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrashAt {
    /// Right after the n-th (1-based) mutating op of this boot.
    Nth(u64),
    /// Right after the first op of this kind.
    After(Op),
}

/// An injected promotion I/O failure: the LKG store op `op` fails (as a
/// sharing violation on the rename would) during promotion, once or for the
/// whole boot. Nothing is changed on disk by the failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FailOp {
    /// Which op fails (`LkgWriteTemp`, `LkgFlushTemp`, `LkgRename`, `LkgSync`).
    pub op: Op,
    /// Every call this boot (else only the first).
    pub persistent: bool,
}

impl FailOp {
    /// The LKG store ops a promotion makes, in order.
    pub const PROMOTION_OPS: [Op; 4] = [
        Op::LkgWriteTemp,
        Op::LkgFlushTemp,
        Op::LkgRename,
        Op::LkgSync,
    ];

    /// Stable short name (`rename`, `rename-always`, ...).
    pub fn name(&self) -> String {
        let op = match self.op {
            Op::LkgWriteTemp => "write-temp",
            Op::LkgFlushTemp => "flush-temp",
            Op::LkgRename => "rename",
            Op::LkgSync => "sync",
            other => return format!("{other:?}"),
        };
        if self.persistent {
            format!("{op}-always")
        } else {
            op.to_owned()
        }
    }

    /// Parse [`FailOp::name`].
    pub fn parse(s: &str) -> Option<FailOp> {
        let (op, persistent) = match s.strip_suffix("-always") {
            Some(op) => (op, true),
            None => (s, false),
        };
        let op = match op {
            "write-temp" => Op::LkgWriteTemp,
            "flush-temp" => Op::LkgFlushTemp,
            "rename" => Op::LkgRename,
            "sync" => Op::LkgSync,
            _ => return None,
        };
        Some(FailOp { op, persistent })
    }
}

/// Hook the explorer uses to snapshot the disk after each mutating op.
pub type Probe<'a> = &'a mut dyn FnMut(u64, &Disk);

/// The `Platform` over a [`Machine`]'s disk and registry.
#[allow(missing_debug_implementations)]
pub struct SimPlatform<'a, 'p> {
    disk: &'a mut Disk,
    registry: &'a BTreeMap<String, (u32, Vec<u8>)>,
    golden: &'a BTreeMap<u32, Bytes>,
    crash_at: Option<CrashAt>,
    /// Dead after the crash point: every op fails and changes nothing.
    pub crashed: bool,
    mutating: u64,
    /// All ops this boot (I6).
    pub ops: u64,
    /// Ops in order (trace).
    pub log: Vec<Op>,
    uptime: u64,
    /// Decisions reported this boot.
    pub decisions: Vec<Decision>,
    /// Wall clock (Unix seconds) this boot sees.
    now: Option<u64>,
    probe: Option<Probe<'p>>,
    /// Injected I/O failure (set only while promotion runs).
    fail: Option<FailOp>,
    /// Calls failed by `fail`.
    pub failed: u32,
}

fn dead() -> IoError {
    IoError::new(IoErrorKind::Io)
}

impl SimPlatform<'_, '_> {
    fn op(&mut self, op: Op) -> Result<(), IoError> {
        if self.crashed {
            return Err(dead());
        }
        self.ops += 1;
        self.log.push(op);
        if let Some(f) = self.fail {
            if f.op == op && (f.persistent || self.failed == 0) {
                self.failed += 1;
                // A sharing violation: the call fails and changes nothing.
                return Err(IoError::with_status(
                    IoErrorKind::Io,
                    0xC000_0043_u32 as i32,
                ));
            }
        }
        Ok(())
    }
    /// After a mutating op was applied: maybe crash here.
    fn after(&mut self, op: Op) {
        self.mutating += 1;
        if let Some(p) = self.probe.as_mut() {
            p(self.mutating, self.disk);
        }
        let hit = match self.crash_at {
            Some(CrashAt::Nth(n)) => n == self.mutating,
            Some(CrashAt::After(k)) => k == op,
            None => false,
        };
        if hit {
            self.crashed = true;
        }
    }
    fn lkg_name(channel: u32, which: LkgFile) -> String {
        match which {
            LkgFile::Current => format!("lkg/{channel}.lkg"),
            LkgFile::Temp => format!("lkg/{channel}.tmp"),
        }
    }
    fn read_capped(&self, name: &str, cap: usize) -> Result<AlignedBytes, IoError> {
        let b = self
            .disk
            .read(name)
            .ok_or(IoError::new(IoErrorKind::NotFound))?;
        if b.len() > cap {
            return Err(IoError::too_large(b.len() as u64));
        }
        Ok(AlignedBytes::from_slice(&b))
    }
}

impl Platform for SimPlatform<'_, '_> {
    type Buf = AlignedBytes;

    fn read_param(&mut self, name: &str, out: &mut [u8]) -> Result<RegValue, IoError> {
        self.op(Op::ReadParam)?;
        let (ty, data) = self
            .registry
            .get(name)
            .ok_or(IoError::new(IoErrorKind::NotFound))?;
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        Ok(RegValue {
            ty: RegType::from_raw(*ty),
            len: data.len(),
        })
    }

    fn list_content(
        &mut self,
        dir: &str,
        visit: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), IoError> {
        self.op(Op::List)?;
        if !dir.eq_ignore_ascii_case(CONTENT_DIR) {
            return Err(IoError::new(IoErrorKind::NotFound));
        }
        for name in self.disk.list(CONTENT_PREFIX) {
            if !visit(&name) {
                break;
            }
        }
        Ok(())
    }

    fn read_content(&mut self, dir: &str, name: &str, cap: usize) -> Result<AlignedBytes, IoError> {
        self.op(Op::ReadContent)?;
        if !dir.eq_ignore_ascii_case(CONTENT_DIR) {
            return Err(IoError::new(IoErrorKind::NotFound));
        }
        self.read_capped(&format!("{CONTENT_PREFIX}{name}"), cap)
    }

    fn golden(&mut self, channel: u32, cap: usize) -> Result<Option<AlignedBytes>, IoError> {
        self.op(Op::Golden)?;
        match self.golden.get(&channel) {
            Some(b) if b.len() > cap => Err(IoError::too_large(b.len() as u64)),
            Some(b) => Ok(Some(AlignedBytes::from_slice(b))),
            None => Ok(None),
        }
    }

    fn golden_channel(&mut self, index: usize) -> Option<u32> {
        if self.op(Op::Golden).is_err() {
            return None;
        }
        self.golden.keys().nth(index).copied()
    }

    fn state_read(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, IoError> {
        self.op(Op::StateRead)?;
        let b = self
            .disk
            .read(&format!("state/{slot}"))
            .ok_or(IoError::new(IoErrorKind::NotFound))?;
        let n = b.len().min(out.len());
        out[..n].copy_from_slice(&b[..n]);
        Ok(n)
    }

    fn state_write(&mut self, slot: u8, data: &[u8]) -> Result<(), IoError> {
        self.op(Op::StateWrite)?;
        self.disk.write(&format!("state/{slot}"), data);
        self.after(Op::StateWrite);
        Ok(())
    }

    fn state_flush(&mut self, slot: u8) -> Result<(), IoError> {
        self.op(Op::StateFlush)?;
        let ok = self.disk.flush(&format!("state/{slot}"));
        self.after(Op::StateFlush);
        if ok {
            Ok(())
        } else {
            Err(IoError::new(IoErrorKind::NotFound))
        }
    }

    fn lkg_read(
        &mut self,
        channel: u32,
        which: LkgFile,
        cap: usize,
    ) -> Result<AlignedBytes, IoError> {
        self.op(Op::LkgRead)?;
        self.read_capped(&Self::lkg_name(channel, which), cap)
    }

    fn lkg_write_temp(&mut self, channel: u32, data: &[u8]) -> Result<(), IoError> {
        self.op(Op::LkgWriteTemp)?;
        self.disk
            .write(&Self::lkg_name(channel, LkgFile::Temp), data);
        self.after(Op::LkgWriteTemp);
        Ok(())
    }

    fn lkg_flush_temp(&mut self, channel: u32) -> Result<(), IoError> {
        self.op(Op::LkgFlushTemp)?;
        let ok = self.disk.flush(&Self::lkg_name(channel, LkgFile::Temp));
        self.after(Op::LkgFlushTemp);
        if ok {
            Ok(())
        } else {
            Err(IoError::new(IoErrorKind::NotFound))
        }
    }

    fn lkg_rename_temp(&mut self, channel: u32) -> Result<(), IoError> {
        self.op(Op::LkgRename)?;
        let ok = self.disk.rename(
            &Self::lkg_name(channel, LkgFile::Temp),
            &Self::lkg_name(channel, LkgFile::Current),
        );
        self.after(Op::LkgRename);
        if ok {
            Ok(())
        } else {
            Err(IoError::new(IoErrorKind::NotFound))
        }
    }

    fn lkg_sync(&mut self, _channel: u32) -> Result<(), IoError> {
        self.op(Op::LkgSync)?;
        self.disk.sync();
        self.after(Op::LkgSync);
        Ok(())
    }

    fn lkg_delete_temp(&mut self, channel: u32) -> Result<(), IoError> {
        self.op(Op::LkgDeleteTemp)?;
        self.disk.delete(&Self::lkg_name(channel, LkgFile::Temp));
        self.after(Op::LkgDeleteTemp);
        Ok(())
    }

    fn uptime_secs(&mut self) -> u64 {
        if self.op(Op::Uptime).is_err() {
            return 0;
        }
        self.uptime
    }

    fn now_unix_secs(&mut self) -> Option<u64> {
        if self.crashed {
            return None;
        }
        self.now
    }

    fn report(&mut self, decision: &Decision) {
        if !self.crashed {
            self.decisions.push(*decision);
        }
    }
}

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
        let on_disk = self.disk.list(CONTENT_PREFIX);
        // Reference facts at boot start.
        let state_at_start = self.durable_state();
        let mut channels_seen: BTreeSet<u32> = on_disk
            .iter()
            .filter_map(|n| changuard_loader::names::parse(n).map(|x| x.0))
            .collect();
        channels_seen.extend(self.golden.keys().copied());
        let lkg_at_start: BTreeMap<u32, Option<u64>> = channels_seen
            .iter()
            .map(|c| (*c, self.lkg_oracle(*c)))
            .collect();
        let known_at_start = |c: u32| {
            self.golden.contains_key(&c)
                || state_at_start.as_ref().is_some_and(|s| s.get(c).is_some())
        };
        let known_at_start: BTreeSet<u32> = channels_seen
            .iter()
            .copied()
            .filter(|c| known_at_start(*c))
            .collect();
        let dir_at_start: Vec<(u32, u64, Option<u64>)> = on_disk
            .iter()
            .filter_map(|n| {
                let (c, v) = changuard_loader::names::parse(n)?;
                let ok = self
                    .disk
                    .read(&format!("{CONTENT_PREFIX}{n}"))
                    .and_then(|b| oracle(&b, c));
                Some((c, v, ok))
            })
            .collect();

        let mut p = SimPlatform {
            disk: &mut self.disk,
            registry: &self.registry,
            golden: &self.golden,
            crash_at: plan.crash_at,
            crashed: false,
            mutating: 0,
            ops: 0,
            log: vec![],
            uptime: 0,
            decisions: vec![],
            now: self.clock,
            probe,
            fail: None,
            failed: 0,
        };
        let mut report = BootReport {
            end: BootEnd::Healthy,
            channels: vec![],
            decisions: vec![],
            ops: 0,
            on_disk,
            violations: vec![],
            reloaded: false,
            io_failures: 0,
            clean_shutdown: false,
            memory: (0, 0),
        };
        // Every trial recorded or running in this boot: if the boot does not
        // end cleanly, the loader may count each of them as crashed (I7).
        let mut touched: BTreeSet<(u32, u64)> = BTreeSet::new();
        let note_trials = |l: &Loader<AlignedBytes>, t: &mut BTreeSet<(u32, u64)>| {
            if let Some(s) = l.state() {
                t.extend(
                    s.channels()
                        .iter()
                        .filter_map(|c| c.trial.map(|tr| (c.channel, tr.version))),
                );
            }
        };
        let mut loader = changuard_loader::boot(&mut p, &setup);
        note_trials(&loader, &mut touched);
        let mut state_after_boot = loader.state().copied();

        let finish_power_loss = |p: SimPlatform<'_, '_>, mut report: BootReport| -> BootReport {
            let last = p
                .log
                .iter()
                .rev()
                .find(|o| o.mutates())
                .copied()
                .unwrap_or(Op::StateWrite);
            report.end = BootEnd::PowerLoss(last);
            report.ops = p.ops;
            report.decisions = p.decisions;
            report.io_failures = p.failed;
            report
        };
        if p.crashed {
            let r = finish_power_loss(p, report);
            self.model.unclean.extend(touched);
            self.model.power_losses += 1;
            self.crash_with(crash_pick);
            return r;
        }

        // Activation: the real engine over exactly what the loader validated.
        let (mut crashed_by, mut faulted) = evaluate(&self.faulting, &loader, self.has_property);
        if plan.reload && crashed_by.is_empty() {
            faulted_trials(&loader, &faulted, &mut self.model.unclean);
            // IOCTL_RELOAD: the new content is built before the old is dropped.
            report.reloaded = true;
            let ids: Vec<u32> = faulted.iter().copied().collect();
            let resume = loader.resume(&ids);
            let next = changuard_loader::reload(&mut p, &setup, &resume);
            drop(std::mem::replace(&mut loader, next));
            note_trials(&loader, &mut touched);
            state_after_boot = loader.state().copied();
            if p.crashed {
                let r = finish_power_loss(p, report);
                self.model.unclean.extend(touched);
                self.model.power_losses += 1;
                self.crash_with(crash_pick);
                return r;
            }
            (crashed_by, faulted) = evaluate(&self.faulting, &loader, self.has_property);
        }

        // I1: everything active re-validates (the sim's own check of the same bytes).
        for c in loader.channels() {
            if let Some(a) = &c.active {
                if oracle(a.as_bytes(), c.channel) != Some(a.version()) {
                    report.violations.push(format!(
                        "I1 channel {} active v{} does not validate",
                        c.channel,
                        a.version()
                    ));
                }
            }
        }
        if p.ops > MAX_OPS_PER_BOOT {
            report.violations.push(format!(
                "I6 {} platform ops in one boot > {MAX_OPS_PER_BOOT}",
                p.ops
            ));
        }

        let faulted_ids: Vec<u32> = faulted.iter().copied().collect();
        faulted_trials(&loader, &faulted, &mut self.model.unclean);
        let mut promoted: BTreeSet<u32> = BTreeSet::new();
        if !crashed_by.is_empty() {
            report.end = BootEnd::Crashed(crashed_by.clone());
            self.model.unclean.extend(touched.iter().copied());
            for (c, v) in &crashed_by {
                let on_trial = loader
                    .channels()
                    .iter()
                    .any(|o| o.channel == *c && o.trial_attempt.is_some());
                if on_trial {
                    *self.model.crashes.entry((*c, *v)).or_default() += 1;
                } else {
                    // Poison outside a trial would be a crash of proven content.
                    report.violations.push(format!(
                        "I3 channel {c} v{v} crashed the machine while not on trial"
                    ));
                }
                self.model.total_crashes += 1;
            }
        } else {
            if plan.reboot_early {
                report.end = BootEnd::RebootedEarly;
            } else {
                p.uptime = self.health_window;
                let pending: Vec<u32> = loader
                    .channels()
                    .iter()
                    .filter(|c| c.promotion == changuard_loader::Promotion::Pending)
                    .map(|c| c.channel)
                    .collect();
                // The driver retries a promotion whose LKG store step failed
                // (bounded by the loader).
                p.fail = plan.fail;
                for _ in 0..MAX_PROMOTION_TRIES {
                    let Some(proof) = loader.health_confirmed(&mut p) else {
                        break;
                    };
                    let _ = loader.promote(&mut p, &setup, proof, &faulted_ids);
                    if p.crashed || !loader.promotion_pending() {
                        break;
                    }
                }
                p.fail = None;
                for c in loader.channels() {
                    if pending.contains(&c.channel)
                        && c.promotion == changuard_loader::Promotion::Done
                    {
                        promoted.insert(c.channel);
                    }
                }
            }
            if plan.power_cut && !p.crashed {
                // No shutdown notification: the boot did not end cleanly.
                report.end = BootEnd::PowerCut;
                report.ops = p.ops;
                report.io_failures = p.failed;
                report.decisions = std::mem::take(&mut p.decisions);
                drop(p);
                self.model.unclean.extend(touched);
                self.model.power_losses += 1;
                self.crash_with(crash_pick);
                return report;
            }
            // The clean end of the boot: the shutdown notification.
            if !p.crashed {
                report.clean_shutdown = loader.shutdown(&mut p, &faulted_ids).is_ok();
            }
            if p.crashed {
                let r = finish_power_loss(p, report);
                self.model.unclean.extend(touched);
                self.model.power_losses += 1;
                self.crash_with(crash_pick);
                return r;
            }
        }

        // I8: the active channels' charges sum to what the loader reports,
        // within the budget (computed here from the active bytes).
        let budget = loader.memory();
        report.memory = (budget.charged(), budget.limit());
        let sum: u64 = loader
            .channels()
            .iter()
            .filter_map(|c| c.active.as_ref())
            .map(|a| changuard_loader::budget::charge(a.as_bytes().len()))
            .sum();
        if sum != budget.charged() || sum > budget.limit() {
            report.violations.push(format!(
                "I8 active channels charged {sum} bytes, loader reports {}, budget {}",
                budget.charged(),
                budget.limit()
            ));
        }
        let state = loader.state().copied();
        for c in loader.channels() {
            let cs = state.as_ref().and_then(|s| s.get(c.channel).copied());
            report.channels.push(ChannelView {
                channel: c.channel,
                source: c.source,
                active_version: c.active_version(),
                trial_attempt: c.trial_attempt,
                lkg_version: c.lkg_version,
                quarantined: cs.map(|s| s.quarantined().to_vec()).unwrap_or_default(),
                quarantine_floor: cs.map_or(0, |s| s.quarantine_floor()),
                floor: cs.map_or(0, |s| s.floor),
                promoted: promoted.contains(&c.channel),
                last_problem: c.last_problem.map(|d| d.reason.name()),
            });
        }
        report.ops = p.ops;
        report.io_failures = p.failed;
        report.decisions = std::mem::take(&mut p.decisions);
        drop(p);
        drop(loader);

        self.check_invariants(
            &mut report,
            &Reference {
                lkg_at_start: &lkg_at_start,
                known_at_start: &known_at_start,
                dir_at_start: &dir_at_start,
                state_at_start: state_at_start.as_ref(),
                state_after_boot: state_after_boot.as_ref(),
                crashed_by: &crashed_by,
            },
        );
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

impl Machine {
    /// The charge of `view`'s active content (0 with none): the file of its
    /// version in the directory, the LKG copy or golden content.
    fn active_charge(&self, c: u32, view: &ChannelView) -> u64 {
        self.active_bytes(c, view)
            .map_or(0, |b| changuard_loader::budget::charge(b.len()))
    }

    /// The proven cost bound of the content `view` says is active (zero for none).
    fn active_cost(&self, c: u32, view: &ChannelView) -> changuard_format::CostBound {
        self.active_bytes(c, view)
            .map(|b| content::cost_bound(&b, c))
            .unwrap_or_default()
    }

    /// The bytes of `C-<c>-<v>.chan` in the content directory, if present.
    fn content_file(&self, c: u32, v: u64) -> Option<crate::disk::Bytes> {
        self.disk.read(&format!(
            "{CONTENT_PREFIX}{}",
            changuard_loader::names::FileName::new(c, v).as_str()
        ))
    }

    fn active_bytes(&self, c: u32, view: &ChannelView) -> Option<crate::disk::Bytes> {
        let v = view.active_version?;
        match view.source {
            Source::Candidate => self.disk.read(&format!(
                "{CONTENT_PREFIX}{}",
                changuard_loader::names::FileName::new(c, v).as_str()
            )),
            Source::Lkg => self.disk.read(&format!("lkg/{c}.lkg")),
            Source::Golden => self.golden.get(&c).cloned(),
            Source::None => None,
        }
    }

    /// I2..I5, I7 and I8 after a boot that did not lose power.
    fn check_invariants(&mut self, report: &mut BootReport, at: &Reference<'_>) {
        let max_trial = self.model.max_trial_ever;
        for ((c, v), n) in &self.model.crashes {
            if *n > max_trial {
                report.violations.push(format!(
                    "I3 channel {c} v{v} crashed {n} times > MaxTrialBoots {max_trial}"
                ));
            }
        }
        let latest = !self.registry.contains_key("Policy");
        for view in &report.channels {
            let c = view.channel;
            let lkg0 = at.lkg_at_start.get(&c).copied().flatten();
            let st_now = at.state_after_boot.and_then(|s| s.get(c).copied());
            if view.source == Source::Candidate {
                if let (Some(v), Some(cs)) = (view.active_version, st_now) {
                    if cs.is_quarantined(v) && view.trial_attempt.is_some() {
                        report
                            .violations
                            .push(format!("I3 channel {c} quarantined v{v} is active"));
                    }
                }
            }
            // I7: quarantined only after a boot on trial that did not end cleanly.
            for q in &view.quarantined {
                if !self.model.unclean.contains(&(c, *q)) {
                    report.violations.push(format!(
                        "I7 channel {c} v{q} quarantined, but no boot with it on trial ended uncleanly (a clean shutdown, reload or promotion failure was counted as a crash)"
                    ));
                }
            }
            // I2: once an LKG exists it is never lost.
            if self.model.lkg_ever.contains(&c)
                && !self.model.lkg_tampered.contains(&c)
                && lkg0.is_none()
            {
                report
                    .violations
                    .push(format!("I2 channel {c} had an LKG, none valid at boot"));
            }
            // I5: floor never decreases, never above the LKG.
            let seen = self.model.floor_seen.get(&c).copied().unwrap_or(0);
            if view.floor < seen && !self.model.state_tampered {
                report.violations.push(format!(
                    "I5 channel {c} floor decreased {seen} -> {}",
                    view.floor
                ));
            }
            if latest {
                let lkg_now = self.lkg_oracle(c);
                if let Some(l) = lkg_now.or(lkg0) {
                    if view.floor > l && !self.model.lkg_tampered.contains(&c) {
                        report.violations.push(format!(
                            "I5 channel {c} floor {} above LKG v{l}",
                            view.floor
                        ));
                    }
                }
            }
            // I4: the newest valid content the policy allows (Latest, default
            // policy only), tried newest first within the loader's budget.
            if latest && !at.crashed_by.iter().any(|(cc, _)| *cc == c) {
                let floor0 = st_now.map_or(0, |s| s.floor);
                let allowed = |v: u64| {
                    !st_now.is_some_and(|s| s.is_quarantined(v))
                        && v >= floor0
                        && lkg0.is_none_or(|l| v > l)
                };
                let budget = if at.known_at_start.contains(&c) {
                    MAX_CANDIDATE_TRIES
                } else {
                    MAX_NEW_CHANNEL_TRIES
                };
                let mut present: Vec<(u64, Option<u64>)> = at
                    .dir_at_start
                    .iter()
                    .filter(|(cc, v, _)| *cc == c && allowed(*v))
                    .map(|(_, v, ok)| (*v, *ok))
                    .collect();
                present.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
                let mut invalid = 0usize;
                let mut found = None;
                let mut relaxed = false;
                let gate = crate::gate_oracle::GateModel::new(self);
                let base = lkg0.unwrap_or(0).max(floor0);
                let base = (base != 0).then_some(base);
                for (v, ok) in present {
                    // A valid version the release gate kept back: the
                    // refusal must be one the gate's model agrees with.
                    let gated = report.decisions.iter().any(|d| {
                        d.channel == c
                            && d.version == v
                            && gate.justified(c, v, d.reason, st_now.as_ref(), base)
                    });
                    if gated {
                        continue;
                    }
                    if ok == Some(v) {
                        found = Some(v);
                        break;
                    }
                    invalid += 1;
                    if invalid >= budget {
                        relaxed = true;
                        break;
                    }
                }
                let fallback = lkg0.or_else(|| self.golden.get(&c).and_then(|b| oracle(b, c)));
                // After a crash on trial content: a recovery boot (LKG), or a
                // retry of the same version (MaxTrialBoots 2).
                let decided = |want: Reason| {
                    report
                        .decisions
                        .iter()
                        .find(|d| d.channel == c && d.reason == want)
                        .map(|d| d.version)
                };
                let found = match (decided(Reason::RecoveryBoot), decided(Reason::TrialRetried)) {
                    (Some(_), _) => None,
                    (None, Some(v)) => at
                        .dir_at_start
                        .iter()
                        .any(|(cc, vv, ok)| *cc == c && *vv == v && *ok == Some(v))
                        .then_some(v),
                    (None, None) => found,
                };
                let expected = found.or(fallback);
                // The budget refused the expected content: justified only if
                // its charge does not fit next to the other active channels.
                let own = self.active_charge(c, view);
                let refused = |why: Reason| {
                    report
                        .decisions
                        .iter()
                        .any(|d| d.channel == c && d.reason == why && Some(d.version) == expected)
                };
                let over = refused(Reason::OverMemoryBudget)
                    && found.is_some_and(|v| {
                        let len = self.content_file(c, v).map_or(0, |b| b.len());
                        report.memory.0 - own + changuard_loader::budget::charge(len)
                            > report.memory.1
                    });
                // Likewise the cost ceiling: justified only if its proven bound
                // does not fit next to the other active channels' bounds.
                let over_cost = refused(Reason::OverCostCeiling)
                    && found.is_some_and(|v| {
                        let mine = self
                            .content_file(c, v)
                            .map(|b| content::cost_bound(&b, c))
                            .unwrap_or_default();
                        let others = report
                            .channels
                            .iter()
                            .filter(|o| o.channel != c)
                            .fold(mine, |sum, o| sum.plus(&self.active_cost(o.channel, o)));
                        !others.within(changuard_format::cost::SET_CEILING)
                    });
                let over = over || over_cost;
                if !relaxed && !over && view.active_version != expected {
                    report.violations.push(format!(
                        "I4 channel {c}: active {:?} ({}), expected {:?}",
                        view.active_version,
                        view.source.name(),
                        expected
                    ));
                }
            }
            if view.lkg_version.is_some() && lkg0.is_some() || view.promoted {
                self.model.lkg_ever.insert(c);
            }
            if view.promoted {
                self.model.lkg_tampered.remove(&c);
            }
            let f = self.model.floor_seen.entry(c).or_default();
            *f = (*f).max(view.floor);
            if self.model.state_tampered {
                *f = view.floor;
            }
        }
        // I10: content on trial passed the release gate, by the gate's model:
        // not halted, and in keyring mode released to this machine's ring.
        let gate = crate::gate_oracle::GateModel::new(self);
        for view in &report.channels {
            let (Source::Candidate, Some(_), Some(v)) =
                (view.source, view.trial_attempt, view.active_version)
            else {
                continue;
            };
            let c = view.channel;
            let continuing = at
                .state_at_start
                .and_then(|s| s.get(c))
                .and_then(|s| s.trial)
                .is_some_and(|t| t.version == v);
            let st_now = at.state_after_boot.and_then(|s| s.get(c));
            let base = at.lkg_at_start.get(&c).copied().flatten().unwrap_or(0).max(
                at.state_at_start
                    .and_then(|s| s.get(c))
                    .map_or(0, |s| s.floor),
            );
            let base = (base != 0).then_some(base);
            if let Some(why) = gate.refuses(c, v, continuing, st_now, base) {
                report
                    .violations
                    .push(format!("I10 channel {c} v{v} on trial, but {why}"));
            }
        }
        // I9: the keyring version and every halt sequence never decrease.
        if let Some(st) = at.state_after_boot {
            if !self.model.state_tampered {
                if st.keyring_version < self.model.keyring_seen {
                    report.violations.push(format!(
                        "I9 keyring version decreased {} -> {}",
                        self.model.keyring_seen, st.keyring_version
                    ));
                }
                for c in st.channels() {
                    let seen = self.model.halt_seen.get(&c.channel).copied().unwrap_or(0);
                    if c.halt.sequence < seen {
                        report.violations.push(format!(
                            "I9 channel {} halt sequence decreased {seen} -> {}",
                            c.channel, c.halt.sequence
                        ));
                    }
                }
            }
            self.model.keyring_seen = st.keyring_version;
            for c in st.channels() {
                self.model.halt_seen.insert(c.channel, c.halt.sequence);
            }
        }
        if report.channels.iter().any(|c| c.promoted) {
            self.model.state_tampered = false;
        }
    }
}

/// What the reference knew at the start of a boot (for the invariants).
struct Reference<'a> {
    lkg_at_start: &'a BTreeMap<u32, Option<u64>>,
    known_at_start: &'a BTreeSet<u32>,
    dir_at_start: &'a [(u32, u64, Option<u64>)],
    state_at_start: Option<&'a State>,
    state_after_boot: Option<&'a State>,
    crashed_by: &'a [(u32, u64)],
}
