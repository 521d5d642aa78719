//! Global sensor state, the load/reload/promotion paths and the process
//! creation event source.
//!
//! Module invariants:
//! - S1: `SENSOR.lock` is set once in DriverEntry (before any callback that
//!   uses it is registered) and never changed until unload, after every
//!   callback has been unregistered.
//! - S2: `SENSOR.shared` is only accessed through a [`Guard`], i.e. while the
//!   WDF wait lock is held (PASSIVE_LEVEL, critical region), so accesses are
//!   exclusive.
//! - Loading (file and registry I/O) never runs under the lock: the new
//!   content is built outside, then swapped in under the lock.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use changuard_format::Action;
use changuard_interp::{Event, Value, Verdict, text::utf16_to_utf8};
use wdk_sys::{
    BOOLEAN, HANDLE, NTSTATUS, PCUNICODE_STRING, PEPROCESS, PPS_CREATE_NOTIFY_INFO, WDF_NO_OBJECT_ATTRIBUTES,
    WDFDRIVER, WDFWAITLOCK, WDFWAITLOCK__, call_unsafe_wdf_function_binding, ntddk::PsSetCreateProcessNotifyRoutineEx,
};

use crate::glue::{self, Active};
use crate::nt::nt_success;
use crate::platform::{KernelPlatform, RegKey};
use crate::status::StatusBook;
use changuard_control::status::{DRIVER_FLAG_EVENT_SOURCE, DRIVER_FLAG_PROMOTION_DONE, DRIVER_FLAG_TEST_HOOKS_ARMED};

/// Private bugcheck code of the `test-hooks` crash action.
pub const TEST_CRASH_BUGCHECK: u32 = 0xC4A6_D000;

/// State guarded by the wait lock.
pub struct Shared {
    /// Active content, if any.
    pub active: Option<Active>,
    /// Status served to the control device.
    pub book: StatusBook,
    /// `Parameters\TestHooks == 1` (only consulted with the `test-hooks` feature).
    pub test_hooks: bool,
}

struct Sensor {
    lock: AtomicPtr<WDFWAITLOCK__>,
    shared: UnsafeCell<Shared>,
    notify_registered: AtomicBool,
}

// SAFETY: S2: `shared` is only reached through `Guard`, which holds the wait
// lock; `lock` and `notify_registered` are atomics.
unsafe impl Sync for Sensor {}

static SENSOR: Sensor = Sensor {
    lock: AtomicPtr::new(core::ptr::null_mut()),
    shared: UnsafeCell::new(Shared { active: None, book: StatusBook::new(), test_hooks: false }),
    notify_registered: AtomicBool::new(false),
};

/// Exclusive access to [`Shared`] while the wait lock is held.
pub struct Guard {
    lock: WDFWAITLOCK,
}

impl Guard {
    /// Acquires the lock (PASSIVE_LEVEL only). `None` before DriverEntry created it.
    pub fn acquire() -> Option<Self> {
        let lock = SENSOR.lock.load(Ordering::Acquire);
        if lock.is_null() {
            return None;
        }
        // SAFETY:
        // 1. S1: lock is a valid WDFWAITLOCK created in DriverEntry, alive until unload.
        // 2. Timeout NULL = wait forever, allowed at PASSIVE_LEVEL; every caller
        //    (notify routine, passive queue, passive timer, DriverEntry, unload) runs there.
        let status: NTSTATUS =
            unsafe { call_unsafe_wdf_function_binding!(WdfWaitLockAcquire, lock, core::ptr::null_mut()) };
        nt_success(status).then_some(Self { lock })
    }

    /// The guarded state.
    pub fn shared(&mut self) -> &mut Shared {
        // SAFETY: S2: the wait lock is held for the life of `self`, and `&mut self`
        // makes this the only live reference.
        unsafe { &mut *SENSOR.shared.get() }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: 1. self.lock was acquired by `acquire` and is released once, here.
        unsafe { call_unsafe_wdf_function_binding!(WdfWaitLockRelease, self.lock) };
    }
}

/// Creates the wait lock (DriverEntry, before any callback is registered).
pub fn init() -> Result<(), NTSTATUS> {
    let mut lock: WDFWAITLOCK = core::ptr::null_mut();
    // SAFETY:
    // 1. WDF_NO_OBJECT_ATTRIBUTES: parented to the driver object, deleted with it.
    // 2. lock is valid for writes; PASSIVE_LEVEL (DriverEntry).
    let status: NTSTATUS =
        unsafe { call_unsafe_wdf_function_binding!(WdfWaitLockCreate, WDF_NO_OBJECT_ATTRIBUTES, &mut lock) };
    if !nt_success(status) {
        return Err(status);
    }
    SENSOR.lock.store(lock, Ordering::Release);
    Ok(())
}

/// Opens `Parameters` through WDF and returns it as a Zw-usable key.
fn open_params(driver: WDFDRIVER) -> Option<crate::device::ParamsKey> {
    crate::device::ParamsKey::open(driver).ok()
}

/// The load path shared by DriverEntry and `IOCTL_RELOAD`: loader outside the
/// lock, swap under the lock, status mirrored to the registry. Never fails:
/// every failure ends in the fallback chain (possibly "no content").
pub fn load(driver: WDFDRIVER) {
    let mut book = StatusBook::new();
    let mut new_active = None;
    let mut test_hooks = false;
    if let Some(params) = open_params(driver) {
        let key: &RegKey = params.key();
        let mut out = [0u8; 4];
        if let Ok(v) = key.query("TestHooks", &mut out) {
            test_hooks = v.ty == changuard_loader::platform::RegType::Dword && v.len == 4 && u32::from_le_bytes(out) == 1;
        }
        let mut platform = KernelPlatform::new(key, &mut book);
        new_active = glue::load(&mut platform);
    }
    let old = {
        let Some(mut g) = Guard::acquire() else { return };
        let s = g.shared();
        let prev = s.book.driver;
        s.book = book;
        s.book.driver = prev;
        s.book.driver.reloads = s.book.driver.reloads.saturating_add(1);
        if s.book.channels().iter().any(|c| c.last_rejection.is_some()) {
            s.book.driver.reload_fallbacks = s.book.driver.reload_fallbacks.saturating_add(1);
        }
        s.test_hooks = test_hooks && cfg!(feature = "test-hooks");
        if s.test_hooks {
            s.book.driver.flags |= DRIVER_FLAG_TEST_HOOKS_ARMED;
        }
        if SENSOR.notify_registered.load(Ordering::Acquire) {
            s.book.driver.flags |= DRIVER_FLAG_EVENT_SOURCE;
        }
        core::mem::replace(&mut s.active, new_active)
    };
    // The previous engine and its pool buffers are freed outside the lock.
    drop(old);
    publish(driver);
}

/// Mirrors the status book under `Parameters\Status` (best effort).
pub fn publish(driver: WDFDRIVER) {
    let Some(params) = open_params(driver) else { return };
    let Ok(status_key) = params.subkey("Status") else { return };
    if let Some(mut g) = Guard::acquire() {
        let _ = g.shared().book.publish(&status_key);
    }
}

/// Health-window promotion (passive-level timer callback).
pub fn promote(driver: WDFDRIVER) {
    let mut book = StatusBook::new();
    if let Some(params) = open_params(driver) {
        let mut platform = KernelPlatform::new(params.key(), &mut book);
        glue::promote(&mut platform);
    }
    if let Some(mut g) = Guard::acquire() {
        let s = g.shared();
        for ch in book.channels() {
            if let Some(dst) = s.book.channel_mut(ch.channel_id) {
                if ch.lkg_version.is_some() {
                    dst.lkg_version = ch.lkg_version;
                    dst.trial_attempt = None;
                }
                if ch.last_rejection.is_some() {
                    dst.last_rejection = ch.last_rejection;
                }
            }
        }
        s.book.driver.flags |= DRIVER_FLAG_PROMOTION_DONE;
    }
    publish(driver);
}

/// Unload: unregister the event source, drop the content.
pub fn shutdown() {
    if SENSOR.notify_registered.swap(false, Ordering::AcqRel) {
        // SAFETY:
        // 1. The routine was registered by `start_events` (flag was true).
        // 2. Remove = TRUE; PASSIVE_LEVEL (EvtDriverUnload). The call waits for
        //    in-flight callbacks to finish, so none runs after it returns.
        let _ = unsafe { PsSetCreateProcessNotifyRoutineEx(Some(on_process_notify), 1) };
    }
    let old = Guard::acquire().and_then(|mut g| g.shared().active.take());
    drop(old);
}

/// Registers the process-creation event source. Failure (e.g. missing
/// /INTEGRITYCHECK, too many registrations) leaves the driver loaded without it.
pub fn start_events() -> Result<(), NTSTATUS> {
    // SAFETY:
    // 1. on_process_notify has the PCREATE_PROCESS_NOTIFY_ROUTINE_EX signature and
    //    lives in the driver image until unload, where it is removed first.
    // 2. Remove = FALSE; PASSIVE_LEVEL (DriverEntry).
    let status = unsafe { PsSetCreateProcessNotifyRoutineEx(Some(on_process_notify), 0) };
    if nt_success(status) {
        SENSOR.notify_registered.store(true, Ordering::Release);
        Ok(())
    } else {
        Err(status)
    }
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

/// `PCREATE_PROCESS_NOTIFY_ROUTINE_EX`: converts, evaluates, counts. PASSIVE_LEVEL.
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

/// Evaluates `event` against the active content under the lock; returns the
/// verdict. Shared by the event source and `IOCTL_SUBMIT_EVENT`.
pub fn evaluate(event: &Event<'_>) -> Option<Verdict> {
    let mut g = Guard::acquire()?;
    let s = g.shared();
    let active = s.active.as_ref()?;
    let mut verdict = Verdict::new();
    glue::evaluate(active, event, &mut verdict);
    s.book.driver.events_seen = s.book.driver.events_seen.saturating_add(1);
    s.book.driver.eval_faults = s.book.driver.eval_faults.saturating_add(u64::from(verdict.faults));
    for m in verdict.matches() {
        s.book.driver.detections = s.book.driver.detections.saturating_add(1);
        let on_trial = s.book.channels().iter().any(|c| c.channel_id == m.channel && c.trial_attempt.is_some());
        if let Some(ch) = s.book.channel_mut(m.channel) {
            ch.detections = ch.detections.saturating_add(1);
        }
        wdk::println!("changuard: detection channel {} instance {} action {}", m.channel, m.instance, m.action.name());
        if m.action == Action::TestCrash && on_trial && s.test_hooks {
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

/// `BOOLEAN` helper.
#[must_use]
pub const fn boolean(b: bool) -> BOOLEAN {
    if b { 1 } else { 0 }
}
