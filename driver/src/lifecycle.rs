//! The control plane: the content lifecycle from `DriverEntry` to unload.
//! Load (boot and `IOCTL_RELOAD`), health-window promotion, status mirroring,
//! and shutdown.
//!
//! # Locks
//! - The **control lock** guards [`Control`] (the promotion timer and the
//!   staging status book) and serializes the control plane. All file and
//!   registry I/O runs under it and never under the sensor lock (sensor.rs),
//!   so a slow disk never stalls process creation.
//! - Order: control, then sensor. The data plane never takes the control
//!   lock, so the two cannot deadlock.
//!
//! # Stack
//! Load, reload and promotion run under [`run_expanded`] (stack.rs). Nothing
//! large is a local: the status book is staged in [`Control`] (static data),
//! the loader and the active content are pool-allocated (`Box`, fallibly).
//!
//! # Module invariants
//! - C1: while promotion runs, the loader is lent out of the `Active`
//!   (active.rs `LentLoader`). The control lock guarantees that the same
//!   `Active` is still installed when the loader is given back.
//! - sensor.rs S1 (who replaces `Shared::active`, and when the old one drops)
//!   is upheld here: every replacement happens under both locks.

use alloc::boxed::Box;

use changuard_control::status::{
    DRIVER_FLAG_CONFIG_DEFAULTED, DRIVER_FLAG_EVENT_SOURCE, DRIVER_FLAG_PROMOTION_DONE, DRIVER_FLAG_TEST_HOOKS_ARMED, DRIVER_FLAG_TEST_HOOKS_BUILD,
    MAX_CHANNELS,
};
use changuard_loader::{LoadError, Loader, Resume};
use wdk_sys::{NTSTATUS, WDFDRIVER};

use crate::active::{Active, BuildFailed, ChannelSet};
use crate::events;
use crate::keys::Keys;
use crate::lock::Locked;
use crate::nt::{PoolBuf, try_box};
use crate::params::ParamsKey;
use crate::platform::KernelPlatform;
use crate::sensor::{self, SENSOR};
use crate::stack::run_expanded;
use crate::status::{DecisionRing, StatusBook};

/// Retry delay when promotion could not open `Parameters`, get a stack, or
/// store an LKG copy.
const PROMOTION_RETRY_SECS: u32 = 60;

/// State guarded by the control lock.
pub struct Control {
    /// The one-shot passive promotion timer (parented to the control device).
    timer: Option<wdk::wdf::Timer>,
    /// Staging for a new status book during a load, and the snapshot that is
    /// mirrored to the registry after a swap (registry I/O is never done under
    /// the sensor lock, and 2 KiB does not belong on the stack).
    book: StatusBook,
    /// What `IOCTL_RELOAD` carries over from the loader it replaces (the trials
    /// running now continue instead of counting a new attempt); staged here,
    /// off the stack, like the book.
    resume: Resume,
    /// The recent loader decisions: the platform records into this ring during
    /// every loader run (load, reload, promotion), and it is copied to the
    /// sensor side with the status book (status.rs `DecisionRing`).
    decisions: DecisionRing,
}

static CONTROL: Locked<Control> =
    Locked::new(Control { timer: None, book: StatusBook::new(), resume: Resume::none(), decisions: DecisionRing::new() });

/// Creates both locks (`DriverEntry`, before any callback is registered).
///
/// # Errors
/// The `WdfWaitLockCreate` status; the sensor then stays disabled (driver loaded).
pub fn init() -> Result<(), NTSTATUS> {
    SENSOR.create()?;
    CONTROL.create()
}

/// What one loader run produced besides the status book (staged in [`Control`]).
struct Loaded {
    active: Option<Box<Active>>,
    test_hooks: bool,
    config_defaulted: bool,
    /// `Some(health window)` when a trial waits for promotion.
    promotion_window: Option<u32>,
    /// Channels the engine refused (faulted from the start).
    faulted: ChannelSet,
}

/// The loader and the engine build: all the I/O of a load, under the control
/// lock only. Never fails: every failure is a step down the fallback chain,
/// ending at "no content" (the driver stays loaded). Writes the new status
/// book into `book`.
/// `resume`: `Some` on `IOCTL_RELOAD` (the running loader's [`Loader::resume_into`]).
fn load_content(driver: WDFDRIVER, book: &mut StatusBook, ring: &mut DecisionRing, resume: Option<&Resume>) -> Loaded {
    let mut out =
        Loaded { active: None, test_hooks: false, config_defaulted: false, promotion_window: None, faulted: ChannelSet::new() };
    book.reset();
    let Ok(params) = ParamsKey::open(driver) else {
        wdk::println!("changuard: Parameters key unavailable; no content");
        return out;
    };
    let key = params.key();
    let mut hooks = [0u8; 4];
    if let Ok(v) = key.query("TestHooks", &mut hooks) {
        out.test_hooks =
            v.ty == changuard_loader::platform::RegType::Dword && v.len == 4 && u32::from_le_bytes(hooks) == 1;
    }
    let mut platform = KernelPlatform::new(key, Some(ring));
    let loader = match run_loader(&mut platform, resume) {
        Ok(loader) => loader,
        Err(loader) => {
            wdk::println!("changuard: no memory for the loader; no content is evaluated");
            refresh_all_excluded(book, &loader);
            return out;
        }
    };
    out.config_defaulted = platform.config_defaulted();
    match Active::build(loader) {
        Ok(active) => {
            if let Some(l) = active.loader() {
                book.refresh(l, active.excluded().ids(), false);
                out.promotion_window = l.config().filter(|_| l.promotion_pending()).map(|c| c.health_window_secs);
            }
            book.engine = active.stats();
            out.faulted = *active.excluded();
            out.active = Some(active);
        }
        Err(BuildFailed { loader, error }) => {
            wdk::println!("changuard: engine build failed ({error}); no content is evaluated");
            // No engine was built, so nothing borrows the loader's buffers.
            refresh_all_excluded(book, &loader);
        }
    }
    out
}

/// The loader's boot run, out of line: its locals (and the loader crate's,
/// when inlined) are off the stack before the engine is built, the other deep
/// part of a load (measured: docs/DRIVER.md "Kernel stack").
#[inline(never)]
fn run_loader(platform: &mut KernelPlatform<'_>, resume: Option<&Resume>) -> Result<Box<Loader<PoolBuf>>, Loader<PoolBuf>> {
    let keys = Keys::load();
    let loader = match resume {
        Some(r) => changuard_loader::reload(platform, &keys.setup(), r),
        None => changuard_loader::boot(platform, &keys.setup()),
    };
    try_box(loader)
}

/// Status when no engine runs: every channel the loader activated is excluded.
fn refresh_all_excluded(book: &mut StatusBook, loader: &Loader<PoolBuf>) {
    let mut all = [0u32; MAX_CHANNELS];
    let mut n = 0usize;
    for (slot, out) in all.iter_mut().zip(loader.channels().iter().filter(|c| c.active.is_some())) {
        *slot = out.channel;
        n = n.saturating_add(1);
    }
    book.refresh(loader, all.get(..n).unwrap_or(&[]), false);
}

/// The load path shared by `DriverEntry` and `IOCTL_RELOAD`: build the new
/// content fully (control lock only), swap it in under the sensor lock, drop
/// the old content after the swap (sensor.rs S1), mirror the status, arm the
/// promotion timer. Never fails: every failure ends in the fallback chain.
///
/// Returns `false` when no expanded stack could be had (stack.rs): nothing
/// changed, the current content (or none, at boot) stays.
pub fn load(driver: WDFDRIVER) -> bool {
    run_expanded(|| load_here(driver))
}

fn load_here(driver: WDFDRIVER) {
    let Some(mut ctl) = CONTROL.acquire() else { return };
    let c = ctl.get();
    // IOCTL_RELOAD: the trials of the content running now continue in the new
    // loader, and faulted ones count (issue 11 finding 1). At DriverEntry
    // nothing runs yet: a boot.
    let reloading = SENSOR.acquire().is_some_and(|mut g| {
        let s = g.get();
        let faulted = s.faulted;
        s.active.as_deref().and_then(Active::loader).map(|l| l.resume_into(faulted.ids(), &mut c.resume)).is_some()
    });
    let loaded = load_content(driver, &mut c.book, &mut c.decisions, reloading.then_some(&c.resume));
    let old = {
        let Some(mut g) = SENSOR.acquire() else { return };
        let s = g.get();
        let mut drv = s.book.driver;
        drv.reloads = drv.reloads.saturating_add(1);
        if c.book.any_fallback() {
            drv.reload_fallbacks = drv.reload_fallbacks.saturating_add(1);
        }
        drv.flags &= !(DRIVER_FLAG_TEST_HOOKS_ARMED | DRIVER_FLAG_CONFIG_DEFAULTED | DRIVER_FLAG_PROMOTION_DONE);
        s.test_hooks = loaded.test_hooks && cfg!(feature = "test-hooks");
        if s.test_hooks {
            drv.flags |= DRIVER_FLAG_TEST_HOOKS_ARMED;
        }
        if cfg!(feature = "test-hooks") {
            drv.flags |= DRIVER_FLAG_TEST_HOOKS_BUILD;
        }
        if loaded.config_defaulted {
            drv.flags |= DRIVER_FLAG_CONFIG_DEFAULTED;
        }
        if events::registered() {
            drv.flags |= DRIVER_FLAG_EVENT_SOURCE;
        }
        c.book.driver = drv;
        s.book = c.book;
        s.decisions.clone_from(&c.decisions);
        s.faulted = loaded.faulted;
        core::mem::replace(&mut s.active, loaded.active)
    };
    // S1: the swap is complete, so no evaluation is using `old`; its engine, views
    // and pool buffers are freed here (PASSIVE_LEVEL), outside the sensor lock.
    drop(old);
    publish(driver, &c.book);
    if let Some(window) = loaded.promotion_window {
        arm(c, window);
    }
}

/// Mirrors a status snapshot under `Parameters\Status` (best effort; registry
/// I/O, so never under the sensor lock).
fn publish(driver: WDFDRIVER, book: &StatusBook) {
    let Ok(params) = ParamsKey::open(driver) else { return };
    let Ok(status_key) = params.subkey("Status") else { return };
    if !book.publish(&status_key) {
        wdk::println!("changuard: Parameters\\Status mirror incomplete");
    }
}

/// (Re)starts the promotion timer for `secs` seconds (at least 1), if it exists.
fn arm(ctl: &Control, secs: u32) {
    if let Some(t) = ctl.timer.as_ref() {
        // Relative due time in 100 ns units (negative). Restarting a queued timer resets it.
        let due = i64::from(secs.max(1)).saturating_mul(-10_000_000);
        let _already_queued = t.start(due);
    }
}

/// Registers the event source and notes it in the status.
///
/// # Errors
/// The `PsSetCreateProcessNotifyRoutineEx` status.
pub fn start_events() -> Result<(), NTSTATUS> {
    // The table must exist before the first callback can record a process.
    sensor::start_process_table();
    if let Err(e) = events::start() {
        sensor::stop_process_table();
        return Err(e);
    }
    if let Some(mut g) = SENSOR.acquire() {
        g.get().book.driver.flags |= DRIVER_FLAG_EVENT_SOURCE;
    }
    Ok(())
}

/// Stores the promotion timer (`DriverEntry`, after the control device exists)
/// and arms it for the loader's health window if the boot load left a trial open.
pub fn set_promotion_timer(timer: wdk::wdf::Timer) {
    // Without the lock the timer is simply never used (WDF deletes it with the device).
    let Some(mut ctl) = CONTROL.acquire() else { return };
    let c = ctl.get();
    c.timer = Some(timer);
    let window = SENSOR.acquire().and_then(|mut g| {
        let l = g.get().active.as_deref().and_then(Active::loader)?;
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

/// Health-window promotion (the passive-level timer callback), on an
/// expanded stack: lend the loader (sensor lock, microseconds),
/// `health_confirmed` + `promote` with file/registry I/O under the control
/// lock only while the engine keeps evaluating, give the loader back and
/// refresh the status (sensor lock). Health is per channel: the channels in
/// `Shared::faulted` when the loader is lent are not promoted
/// (`faulted-during-trial`, their trial stays open and the next boot
/// quarantines them at `MaxTrialBoots`); the others are.
pub fn promote(driver: WDFDRIVER) {
    if !run_expanded(|| promote_here(driver)) {
        // Nothing was lent or written: try again later, the trial stays open meanwhile.
        if let Some(mut ctl) = CONTROL.acquire() {
            arm(ctl.get(), PROMOTION_RETRY_SECS);
        }
    }
}

fn promote_here(driver: WDFDRIVER) {
    let Some(mut ctl) = CONTROL.acquire() else { return };
    let c = ctl.get();
    let (mut lent, faulted) = {
        let Some(mut g) = SENSOR.acquire() else { return };
        let s = g.get();
        let faulted = s.faulted;
        let Some(active) = s.active.as_deref_mut() else { return };
        if !active.loader().is_some_and(Loader::promotion_pending) {
            return;
        }
        let Some(lent) = active.lend_loader() else { return };
        (lent, faulted)
    };
    // No early return from here until the loader is given back (a dropped LentLoader leaks).
    let window = lent.health_window_secs().unwrap_or(changuard_loader::config::DEFAULT_HEALTH_WINDOW_SECS);
    let step = match ParamsKey::open(driver) {
        Err(_) => Step::NoPlatform,
        Ok(params) => {
            let mut platform = KernelPlatform::new(params.key(), Some(&mut c.decisions));
            match lent.health_confirmed(&mut platform) {
                Some(proof) => {
                    let keys = Keys::load();
                    Step::Ran(lent.promote(&mut platform, &keys.setup(), proof, faulted.ids()))
                }
                None => Step::NotYet { uptime: changuard_loader::Platform::uptime_secs(&mut platform), window },
            }
        }
    };
    let mut retry = false;
    let old = {
        let Some(mut g) = SENSOR.acquire() else { return }; // cannot happen (lock.rs L1); `lent` then leaks
        let s = g.get();
        let mut intact = true;
        if let Some(active) = s.active.as_deref_mut() {
            // C1: same Active (control lock held throughout); restore checks it anyway.
            if active.restore_loader(lent) {
                intact = active.buffers_intact();
                if let Some(l) = active.loader() {
                    s.book.refresh(l, active.excluded().ids(), true);
                    // An LKG store step failed and the loader has tries left (bounded
                    // by MAX_PROMOTION_TRIES): a failed promotion is not a failed trial.
                    retry = l.promotion_pending();
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
        c.book = s.book;
        s.decisions.clone_from(&c.decisions);
        old
    };
    if old.is_some() {
        wdk::println!("changuard: loader replaced an active buffer during promotion; content disabled");
    }
    drop(old);
    if matches!(step, Step::Ran(_)) {
        for ch in faulted.ids() {
            wdk::println!("changuard: channel {ch}: faults seen; not promoted (a trial stays open)");
        }
    }
    match step {
        Step::Ran(_) if retry => {
            wdk::println!("changuard: LKG store step failed; promotion retried in {PROMOTION_RETRY_SECS} s");
            arm(c, PROMOTION_RETRY_SECS);
        }
        Step::Ran(Ok(())) => wdk::println!("changuard: health window passed; healthy trial content promoted to LKG"),
        Step::Ran(Err(e)) => wdk::println!("changuard: promotion failed ({}); trial stays open", e.blame()),
        Step::NotYet { uptime, window } => {
            let remaining = u64::from(window).saturating_sub(uptime);
            arm(c, u32::try_from(remaining).unwrap_or(window));
        }
        Step::NoPlatform => arm(c, PROMOTION_RETRY_SECS),
    }
    publish(driver, &c.book);
}

/// The end of this boot, clean: the system shutdown notification, or unload.
/// Unregister the event source, stop the timer (waiting for a running
/// callback), take the content out of the sensor (no evaluation after this
/// point), record the clean end with the loader (issue 11 finding 1: the
/// trials running now survived; a crash after the record is not counted, as
/// nothing runs any more), then drop the content. Idempotent: a second call
/// finds no content.
pub fn end_of_boot(driver: WDFDRIVER) {
    events::stop();
    sensor::stop_process_table();
    // Take the timer under the control lock, stop it outside: its callback takes
    // the control lock, and WdfTimerStop(Wait = TRUE) waits for that callback.
    let timer = CONTROL.acquire().and_then(|mut c| c.get().timer.take());
    if let Some(t) = timer {
        let _was_queued = t.stop(true);
    }
    let Some(_ctl) = CONTROL.acquire() else { return };
    // S1: taken under the sensor lock; no evaluation can be using it.
    let Some((mut old, faulted)) = SENSOR.acquire().and_then(|mut g| {
        let s = g.get();
        let faulted = s.faulted;
        s.active.take().map(|a| (a, faulted))
    }) else {
        return;
    };
    // Writing the state record is file and registry I/O: on an expanded stack.
    let recorded = run_expanded(|| {
        let r = ParamsKey::open(driver).map_err(|_| ()).and_then(|params| {
            // No ring: nothing reads the status after the end of boot (operator
            // events are still written to the event log).
            let mut platform = KernelPlatform::new(params.key(), None);
            old.record_shutdown(&mut platform, faulted.ids()).map_err(|e| wdk::println!("changuard: shutdown record failed ({})", e.blame()))
        });
        if r.is_err() {
            // Safe: the next boot counts the open trials as crashed.
            wdk::println!("changuard: clean shutdown not recorded; open trials count as an attempt");
        }
    });
    if !recorded {
        wdk::println!("changuard: clean shutdown not recorded (no stack); open trials count as an attempt");
    }
    drop(old);
}
