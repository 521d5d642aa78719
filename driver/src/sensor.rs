//! Global sensor state, its two locks, the load/reload/promotion/unload paths
//! and the process-creation event source.
//!
//! # Locks
//! Both are `WDFWAITLOCK`s (a kernel event plus `KeEnterCriticalRegion`),
//! acquired with a NULL timeout, so only at PASSIVE_LEVEL. Every caller runs
//! there: the process-notify routine, the passive-level IOCTL queue and
//! promotion timer, DriverEntry, EvtDriverUnload.
//! - The **sensor lock** guards [`Shared`]: the [`Active`] content, the status
//!   book, the per-channel fault set. The data plane (process notify, `IOCTL_SUBMIT_EVENT`)
//!   holds it for a whole evaluation: it is exclusive and short, with
//!   fuel-bounded evaluation, no I/O and no allocation. The control plane
//!   holds it only for microseconds: a swap, a lend/restore, a snapshot.
//! - The **control lock** guards [`Control`] (the promotion timer) and
//!   serializes the control plane: load at DriverEntry, `IOCTL_RELOAD`,
//!   promotion and unload. All file and registry I/O runs under the control
//!   lock and never under the sensor lock, so a slow disk never stalls process
//!   creation.
//! - Order: control, then sensor. The data plane never takes the control
//!   lock, so the two cannot deadlock.
//!
//! # Module invariants
//! - S1: each lock handle is set once in DriverEntry ([`init`]) before any
//!   callback that uses it is registered, and never changed. WDF deletes the
//!   locks with the driver object after EvtDriverUnload, by which time the
//!   notify routine is removed and the timer stopped ([`shutdown`]).
//! - S2: the data of a [`Locked`] is only reached through a [`LockGuard`],
//!   i.e. while its wait lock is held, so accesses are exclusive.
//! - S3: `Shared::active` is replaced or taken only with the control lock
//!   held, and the swap itself happens under the sensor lock. An evaluation
//!   takes its `&Active` under the sensor lock and finishes before releasing
//!   it, so once a swap has completed no evaluation can be using the old
//!   `Active`. The old one is dropped after the swap, outside the sensor lock
//!   (active.rs A6).
//! - S4: while promotion runs, the loader is lent out of the `Active`
//!   (active.rs `LentLoader`). The control lock guarantees that the same
//!   `Active` is still installed when the loader is given back.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use changuard_control::status::{
    DRIVER_FLAG_CONFIG_DEFAULTED, DRIVER_FLAG_EVENT_SOURCE, DRIVER_FLAG_PROMOTION_DONE, DRIVER_FLAG_TEST_HOOKS_ARMED,
    MAX_CHANNELS,
};
use changuard_format::Action;
use changuard_interp::{Event, Value, Verdict, text::utf16_to_utf8};
use changuard_loader::{LoadError, Loader};
use wdk_sys::{
    HANDLE, NTSTATUS, PCUNICODE_STRING, PEPROCESS, PPS_CREATE_NOTIFY_INFO, WDF_NO_OBJECT_ATTRIBUTES, WDFDRIVER,
    WDFWAITLOCK, WDFWAITLOCK__, call_unsafe_wdf_function_binding, ntddk::PsSetCreateProcessNotifyRoutineEx,
};

use crate::active::{Active, BuildFailed, ChannelSet};
use crate::keys::Keys;
use crate::nt::nt_success;
use crate::platform::{KernelPlatform, RegKey};
use crate::status::StatusBook;

/// Private bugcheck code of the `test-hooks` crash action.
pub const TEST_CRASH_BUGCHECK: u32 = 0xC4A6_D000;

/// Retry delay when promotion could not even open `Parameters`.
const PROMOTION_RETRY_SECS: u32 = 60;

/// State guarded by the sensor lock.
pub struct Shared {
    /// Active content, if any.
    pub active: Option<Active>,
    /// Status: loader outcomes, counters, engine stats.
    pub book: StatusBook,
    /// `Parameters\TestHooks == 1` (only consulted with the `test-hooks` feature).
    pub test_hooks: bool,
    /// Channels whose current content the engine refused or an evaluation
    /// faulted on (per channel, [`Active::attribute_faults`]): their promotion is
    /// withheld and their trial stays open; every other channel on trial is
    /// promoted after the health window (promise 3).
    pub faulted: ChannelSet,
}

/// State guarded by the control lock.
pub struct Control {
    /// The one-shot passive promotion timer (parented to the control device).
    timer: Option<wdk::wdf::Timer>,
}

/// Data behind a WDF wait lock (S1, S2).
pub struct Locked<T> {
    lock: AtomicPtr<WDFWAITLOCK__>,
    data: UnsafeCell<T>,
}

// SAFETY:
// 1. S2: `data` is only reached through a LockGuard, which holds the wait lock, so no two
//    threads access it at once; `lock` is an atomic.
// 2. The payloads (Active: engine tables, pool buffers; the WDF timer handle) have no thread
//    affinity: kernel pool memory and WDF handles may be used from any thread.
unsafe impl<T> Sync for Locked<T> {}

impl<T> Locked<T> {
    const fn new(data: T) -> Self {
        Self { lock: AtomicPtr::new(core::ptr::null_mut()), data: UnsafeCell::new(data) }
    }

    /// `WdfWaitLockCreate` (DriverEntry, before any callback is registered).
    fn create(&self) -> Result<(), NTSTATUS> {
        let mut lock: WDFWAITLOCK = core::ptr::null_mut();
        // SAFETY:
        // 1. WDF_NO_OBJECT_ATTRIBUTES: parented to the driver object, deleted with it.
        // 2. lock is valid for writes; PASSIVE_LEVEL (DriverEntry).
        let status: NTSTATUS =
            unsafe { call_unsafe_wdf_function_binding!(WdfWaitLockCreate, WDF_NO_OBJECT_ATTRIBUTES, &mut lock) };
        if !nt_success(status) {
            return Err(status);
        }
        self.lock.store(lock, Ordering::Release);
        Ok(())
    }

    /// Acquires the lock (PASSIVE_LEVEL only). `None` before DriverEntry created it.
    pub fn acquire(&self) -> Option<LockGuard<'_, T>> {
        let lock = self.lock.load(Ordering::Acquire);
        if lock.is_null() {
            return None;
        }
        // SAFETY:
        // 1. S1: lock is a valid WDFWAITLOCK created in DriverEntry, alive until unload.
        // 2. Timeout NULL = wait forever, allowed at PASSIVE_LEVEL; every caller runs there
        //    (module docs). It always returns STATUS_SUCCESS with a NULL timeout.
        let status: NTSTATUS =
            unsafe { call_unsafe_wdf_function_binding!(WdfWaitLockAcquire, lock, core::ptr::null_mut()) };
        nt_success(status).then_some(LockGuard { owner: self, lock })
    }
}

/// Exclusive access to a [`Locked`]'s data while its wait lock is held.
pub struct LockGuard<'a, T> {
    owner: &'a Locked<T>,
    lock: WDFWAITLOCK,
}

impl<T> LockGuard<'_, T> {
    /// The guarded data.
    pub fn get(&mut self) -> &mut T {
        // SAFETY: 1. S2: the wait lock is held for the life of `self`, and `&mut self`
        // makes this the only live reference to the data.
        unsafe { &mut *self.owner.data.get() }
    }
}

impl<T> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: 1. self.lock was acquired by `acquire` and is released once, here (PASSIVE_LEVEL).
        unsafe { call_unsafe_wdf_function_binding!(WdfWaitLockRelease, self.lock) };
    }
}

static SENSOR: Locked<Shared> =
    Locked::new(Shared { active: None, book: StatusBook::new(), test_hooks: false, faulted: ChannelSet::new() });
static CONTROL: Locked<Control> = Locked::new(Control { timer: None });
static NOTIFY_REGISTERED: AtomicBool = AtomicBool::new(false);

/// Creates both locks (DriverEntry, before any callback is registered).
///
/// # Errors
/// The `WdfWaitLockCreate` status; the sensor then stays disabled (driver loaded).
pub fn init() -> Result<(), NTSTATUS> {
    SENSOR.create()?;
    CONTROL.create()
}

/// Opens `Parameters` through WDF and returns it as a Zw-usable key.
fn open_params(driver: WDFDRIVER) -> Option<crate::device::ParamsKey> {
    crate::device::ParamsKey::open(driver).ok()
}

/// What one loader run produced, before it is installed.
struct Loaded {
    active: Option<Active>,
    book: StatusBook,
    test_hooks: bool,
    config_defaulted: bool,
    /// `Some(health window)` when a trial waits for promotion.
    promotion_window: Option<u32>,
    /// Channels the engine refused (faulted from the start).
    faulted: ChannelSet,
}

/// The loader and the engine build: all the I/O of a load, under the control
/// lock only. Never fails: every failure is a step down the fallback chain,
/// ending at "no content" (the driver stays loaded).
fn load_content(driver: WDFDRIVER) -> Loaded {
    let mut loaded = Loaded {
        active: None,
        book: StatusBook::new(),
        test_hooks: false,
        config_defaulted: false,
        promotion_window: None,
        faulted: ChannelSet::new(),
    };
    let Some(params) = open_params(driver) else {
        wdk::println!("changuard: Parameters key unavailable; no content");
        return loaded;
    };
    let key: &RegKey = params.key();
    let mut out = [0u8; 4];
    if let Ok(v) = key.query("TestHooks", &mut out) {
        loaded.test_hooks =
            v.ty == changuard_loader::platform::RegType::Dword && v.len == 4 && u32::from_le_bytes(out) == 1;
    }
    let keys = Keys::load();
    let mut platform = KernelPlatform::new(key);
    let loader = changuard_loader::boot(&mut platform, &keys.setup());
    loaded.config_defaulted = platform.config_defaulted();
    match Active::build(loader) {
        Ok(active) => {
            if let Some(l) = active.loader() {
                loaded.book.refresh(l, active.excluded().ids(), false);
                loaded.promotion_window = l.config().filter(|_| l.promotion_pending()).map(|c| c.health_window_secs);
            }
            loaded.book.engine = active.stats();
            loaded.faulted = *active.excluded();
            loaded.active = Some(active);
        }
        Err(BuildFailed { loader, error }) => {
            wdk::println!("changuard: engine build failed ({error}); no content is evaluated");
            let mut all = [0u32; MAX_CHANNELS];
            let mut n = 0usize;
            for (slot, out) in all.iter_mut().zip(loader.channels().iter().filter(|c| c.active.is_some())) {
                *slot = out.channel;
                n = n.saturating_add(1);
            }
            loaded.book.refresh(&loader, all.get(..n).unwrap_or(&[]), false);
            // No engine was built, so nothing borrows the loader's buffers.
            drop(loader);
        }
    }
    loaded
}

/// The load path shared by DriverEntry and `IOCTL_RELOAD`: build the new
/// content fully (control lock only), swap it in under the sensor lock, drop
/// the old content after the swap (S3), mirror the status, arm the promotion
/// timer. Never fails: every failure ends in the fallback chain.
pub fn load(driver: WDFDRIVER) {
    let Some(mut ctl) = CONTROL.acquire() else { return };
    let loaded = load_content(driver);
    let (old, snapshot) = {
        let Some(mut g) = SENSOR.acquire() else { return };
        let s = g.get();
        let mut drv = s.book.driver;
        drv.reloads = drv.reloads.saturating_add(1);
        if loaded.book.any_fallback() {
            drv.reload_fallbacks = drv.reload_fallbacks.saturating_add(1);
        }
        drv.flags &= !(DRIVER_FLAG_TEST_HOOKS_ARMED | DRIVER_FLAG_CONFIG_DEFAULTED | DRIVER_FLAG_PROMOTION_DONE);
        s.test_hooks = loaded.test_hooks && cfg!(feature = "test-hooks");
        if s.test_hooks {
            drv.flags |= DRIVER_FLAG_TEST_HOOKS_ARMED;
        }
        if loaded.config_defaulted {
            drv.flags |= DRIVER_FLAG_CONFIG_DEFAULTED;
        }
        if NOTIFY_REGISTERED.load(Ordering::Acquire) {
            drv.flags |= DRIVER_FLAG_EVENT_SOURCE;
        }
        s.book = loaded.book;
        s.book.driver = drv;
        s.faulted = loaded.faulted;
        (core::mem::replace(&mut s.active, loaded.active), s.book)
    };
    // S3: the swap is complete, so no evaluation is using `old`; its engine, views
    // and pool buffers are freed here (PASSIVE_LEVEL), outside the sensor lock.
    drop(old);
    publish(driver, &snapshot);
    if let Some(window) = loaded.promotion_window {
        arm(ctl.get(), window);
    }
}

/// Mirrors a status snapshot under `Parameters\Status` (best effort; registry
/// I/O, so never under the sensor lock).
fn publish(driver: WDFDRIVER, book: &StatusBook) {
    let Some(params) = open_params(driver) else { return };
    let Ok(status_key) = params.subkey("Status") else { return };
    if !book.publish(&status_key) {
        wdk::println!("changuard: Parameters\\Status mirror incomplete");
    }
}

/// (Re)starts the promotion timer for `secs` seconds (at least 1), if it exists.
fn arm(ctl: &mut Control, secs: u32) {
    if let Some(t) = ctl.timer.as_ref() {
        // Relative due time in 100 ns units (negative). Restarting a queued timer resets it.
        let due = -(i64::from(secs.max(1)).saturating_mul(10_000_000));
        let _already_queued = t.start(due);
    }
}

/// Stores the promotion timer (DriverEntry, after the control device exists)
/// and arms it for the loader's health window if the boot load left a trial open.
pub fn set_promotion_timer(timer: wdk::wdf::Timer) {
    // Without the lock the timer is simply never used (WDF deletes it with the device).
    let Some(mut ctl) = CONTROL.acquire() else { return };
    let c = ctl.get();
    c.timer = Some(timer);
    let window = SENSOR.acquire().and_then(|mut g| {
        let l = g.get().active.as_ref().and_then(Active::loader)?;
        l.config().filter(|_| l.promotion_pending()).map(|cfg| cfg.health_window_secs)
    });
    if let Some(w) = window {
        arm(c, w);
    }
}

/// What the promotion step did.
enum Step {
    /// `Parameters` could not be opened: try again later.
    NoPlatform,
    /// Not healthy yet (uptime below the window, or no longer `Booted`).
    NotYet { uptime: u64, window: u32 },
    /// `Loader::promote` ran.
    Ran(Result<(), LoadError>),
}

/// Health-window promotion (the passive-level timer callback): lend the
/// loader (sensor lock, microseconds), `health_confirmed` + `promote` with
/// file/registry I/O under the control lock only while the engine keeps
/// evaluating, give the loader back and refresh the status (sensor lock).
/// Health is per channel: the channels in `Shared::faulted` when the loader is
/// lent are not promoted (`faulted-during-trial`, their trial stays open and
/// the next boot quarantines them at `MaxTrialBoots`); the others are.
pub fn promote(driver: WDFDRIVER) {
    let Some(mut ctl) = CONTROL.acquire() else { return };
    let (mut lent, faulted) = {
        let Some(mut g) = SENSOR.acquire() else { return };
        let s = g.get();
        let faulted = s.faulted;
        let Some(active) = s.active.as_mut() else { return };
        if !active.loader().is_some_and(Loader::promotion_pending) {
            return;
        }
        let Some(lent) = active.lend_loader() else { return };
        (lent, faulted)
    };
    // No early return from here until the loader is given back (a dropped LentLoader leaks).
    let window = lent.health_window_secs().unwrap_or(changuard_loader::config::DEFAULT_HEALTH_WINDOW_SECS);
    let step = match open_params(driver) {
        None => Step::NoPlatform,
        Some(params) => {
            let mut platform = KernelPlatform::new(params.key());
            match lent.health_confirmed(&mut platform) {
                Some(proof) => {
                    let keys = Keys::load();
                    Step::Ran(lent.promote(&mut platform, &keys.setup(), proof, faulted.ids()))
                }
                None => Step::NotYet { uptime: changuard_loader::Platform::uptime_secs(&mut platform), window },
            }
        }
    };
    let (old, snapshot) = {
        let Some(mut g) = SENSOR.acquire() else { return }; // cannot happen (S1); `lent` then leaks
        let s = g.get();
        let mut intact = true;
        if let Some(active) = s.active.as_mut() {
            // S4: same Active (control lock held throughout); restore checks it anyway.
            if active.restore_loader(lent) {
                intact = active.buffers_intact();
                if let Some(l) = active.loader() {
                    s.book.refresh(l, active.excluded().ids(), true);
                }
            }
        }
        if let Step::Ran(r) = &step {
            s.book.driver.flags |= DRIVER_FLAG_PROMOTION_DONE;
            if let Err(e) = r {
                s.book.driver.last_platform_status = e.status();
            }
        }
        // A3 tripwire (active.rs): a loader that replaced an active buffer makes
        // the engine's views dangle. Take the content out before any more evaluations.
        let old = if intact { None } else { s.active.take() };
        if !intact {
            s.book.clear_channels();
        }
        (old, s.book)
    };
    if old.is_some() {
        wdk::println!("changuard: loader replaced an active buffer during promotion; content disabled");
    }
    drop(old);
    if matches!(step, Step::Ran(_)) {
        for c in faulted.ids() {
            wdk::println!("changuard: channel {c}: faults seen; not promoted (a trial stays open)");
        }
    }
    match step {
        Step::Ran(Ok(())) => wdk::println!("changuard: health window passed; healthy trial content promoted to LKG"),
        Step::Ran(Err(e)) => wdk::println!("changuard: promotion failed ({}); trial stays open", e.blame()),
        Step::NotYet { uptime, window } => {
            let left = u64::from(window).saturating_sub(uptime);
            arm(ctl.get(), u32::try_from(left).unwrap_or(window));
        }
        Step::NoPlatform => arm(ctl.get(), PROMOTION_RETRY_SECS),
    }
    publish(driver, &snapshot);
}

/// Unload: unregister the event source, stop the timer (waiting for a running
/// callback), then drop the content.
pub fn shutdown() {
    if NOTIFY_REGISTERED.swap(false, Ordering::AcqRel) {
        // SAFETY:
        // 1. The routine was registered by `start_events` (flag was true).
        // 2. Remove = TRUE; PASSIVE_LEVEL (EvtDriverUnload). The call waits for
        //    in-flight callbacks to finish, so none runs after it returns.
        let _ = unsafe { PsSetCreateProcessNotifyRoutineEx(Some(on_process_notify), 1) };
    }
    // Take the timer under the control lock, stop it outside: its callback takes
    // the control lock, and WdfTimerStop(Wait = TRUE) waits for that callback.
    let timer = CONTROL.acquire().and_then(|mut c| c.get().timer.take());
    if let Some(t) = timer {
        let _was_queued = t.stop(true);
    }
    let Some(_ctl) = CONTROL.acquire() else { return };
    let old = SENSOR.acquire().and_then(|mut g| g.get().active.take());
    // S3: taken under the sensor lock; no evaluation can be using it.
    drop(old);
}

/// Registers the process-creation event source. Failure (e.g. missing
/// /INTEGRITYCHECK, too many registrations) leaves the driver loaded without it.
///
/// # Errors
/// The `PsSetCreateProcessNotifyRoutineEx` status.
pub fn start_events() -> Result<(), NTSTATUS> {
    // SAFETY:
    // 1. on_process_notify has the PCREATE_PROCESS_NOTIFY_ROUTINE_EX signature and
    //    lives in the driver image until unload, where it is removed first.
    // 2. Remove = FALSE; PASSIVE_LEVEL (DriverEntry).
    let status = unsafe { PsSetCreateProcessNotifyRoutineEx(Some(on_process_notify), 0) };
    if nt_success(status) {
        NOTIFY_REGISTERED.store(true, Ordering::Release);
        if let Some(mut g) = SENSOR.acquire() {
            g.get().book.driver.flags |= DRIVER_FLAG_EVENT_SOURCE;
        }
        Ok(())
    } else {
        Err(status)
    }
}

/// Encodes the `IOCTL_QUERY_STATUS` reply from the status book.
///
/// # Errors
/// `STATUS_DEVICE_NOT_READY` without the lock, `STATUS_INTERNAL_ERROR` if the
/// encoder refuses the book.
pub fn encode_status(out: &mut [u8]) -> Result<usize, NTSTATUS> {
    let mut g = SENSOR.acquire().ok_or(wdk_sys::STATUS_DEVICE_NOT_READY)?;
    g.get().book.encode(out).map_err(|_| wdk_sys::STATUS_INTERNAL_ERROR)
}

/// Converts a possibly-null `PCUNICODE_STRING` to UTF-8 in `buf` (truncating
/// at a code point boundary when longer than `buf`).
fn ustr<'b>(s: PCUNICODE_STRING, buf: &'b mut [u8]) -> &'b str {
    if s.is_null() {
        return "";
    }
    // SAFETY: 1. s is non-null and, per the notify contract, points to a valid
    // UNICODE_STRING for the duration of the callback.
    let us = unsafe { *s };
    if us.Buffer.is_null() {
        return "";
    }
    let units = usize::from(us.Length / 2);
    // SAFETY:
    // 1. Buffer is valid for reads of Length bytes = `units` u16 (UNICODE_STRING contract),
    //    aligned for u16, and not mutated during the callback.
    // 2. units * 2 <= 65534 <= isize::MAX.
    let src = unsafe { core::slice::from_raw_parts(us.Buffer, units) };
    utf16_to_utf8(src, buf).0
}

#[allow(clippy::cast_possible_truncation)] // HANDLE-encoded ids are < 2^32 on Windows
fn handle_id(h: HANDLE) -> u64 {
    h as usize as u64
}

/// `PCREATE_PROCESS_NOTIFY_ROUTINE_EX`: converts, evaluates, counts.
/// PASSIVE_LEVEL, in the creating thread, inside a critical region.
unsafe extern "C" fn on_process_notify(_process: PEPROCESS, process_id: HANDLE, create_info: PPS_CREATE_NOTIFY_INFO) {
    if create_info.is_null() {
        return; // process exit
    }
    // SAFETY: 1. create_info is non-null and valid for the callback's duration (Ps contract).
    let info = unsafe { &*create_info };
    let mut image = [0u8; 1024];
    let mut cmd = [0u8; 2048];
    let image = ustr(info.ImageFileName, &mut image);
    let cmd = ustr(info.CommandLine, &mut cmd);
    let values = [
        Value::Str(image),
        Value::Str(cmd),
        Value::Str(""), // parent_image_path: not collected by this prototype
        Value::Str(""), // user_sid: not collected by this prototype
        Value::Int(handle_id(process_id)),
        Value::Int(handle_id(info.ParentProcessId)),
        Value::Int(handle_id(info.CreatingThreadId.UniqueProcess)),
        Value::Int(0), // session_id
        Value::Int(0), // integrity_level
        Value::Int(0), // token_elevated
    ];
    let Some(event) = Event::from_values(changuard_format::schema::PROCESS_CREATE.id, &values) else { return };
    let _ = evaluate(&event);
}

/// Evaluates `event` against the active content under the sensor lock (S3)
/// and returns the verdict. Shared by the event source and `IOCTL_SUBMIT_EVENT`.
pub fn evaluate(event: &Event<'_>) -> Option<Verdict> {
    let mut g = SENSOR.acquire()?;
    let Shared { active, book, test_hooks, faulted } = g.get();
    let active = active.as_ref()?;
    let mut verdict = Verdict::new();
    active.evaluate(event, &mut verdict);
    book.driver.events_seen = book.driver.events_seen.saturating_add(1);
    for id in active.channel_ids() {
        if let Some(ch) = book.channel_mut(id) {
            ch.events = ch.events.saturating_add(1);
        }
    }
    if verdict.faults > 0 || verdict.fuel_exhausted {
        // Health, per channel: a fault withholds the promotion of the channels it is
        // attributed to, never of the others (promise 3). Rare path: at most one
        // fuel-bounded solo evaluation per channel, no allocation.
        book.driver.eval_faults = book.driver.eval_faults.saturating_add(u64::from(verdict.faults.max(1)));
        let blamed = active.attribute_faults(event, &verdict);
        for &c in blamed.ids() {
            if let Some(ch) = book.channel_mut(c) {
                ch.faults = ch.faults.saturating_add(1);
            }
        }
        faulted.extend(&blamed);
    }
    if !verdict.is_empty() {
        book.driver.detections = book.driver.detections.saturating_add(1);
    }
    for m in verdict.matches() {
        let on_trial = book.on_trial(m.channel);
        if let Some(ch) = book.channel_mut(m.channel) {
            ch.detections = ch.detections.saturating_add(1);
        }
        wdk::println!("changuard: detection channel {} instance {} action {}", m.channel, m.instance, m.action.name());
        if m.action == Action::TestCrash && on_trial && *test_hooks {
            test_crash(m.channel, m.instance);
        }
    }
    Some(verdict)
}

#[cfg(feature = "test-hooks")]
fn test_crash(channel: u32, instance: u32) {
    // SAFETY: 1. Deliberate bugcheck for VM crash tests: only reachable with the
    // test-hooks feature, Parameters\TestHooks = 1 and the content on trial.
    unsafe { wdk_sys::ntddk::KeBugCheckEx(TEST_CRASH_BUGCHECK, channel as usize, instance as usize, 0, 0) };
}

#[cfg(not(feature = "test-hooks"))]
const fn test_crash(_channel: u32, _instance: u32) {}
