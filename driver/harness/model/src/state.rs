//! The running kernel's state (one per forked child), and how a child ends.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use wdk_sys::{
    PCREATE_PROCESS_NOTIFY_ROUTINE_EX, PFN_WDF_DEVICE_SHUTDOWN_NOTIFICATION, PFN_WDF_DRIVER_UNLOAD, PFN_WDF_IO_QUEUE_IO_DEVICE_CONTROL, PFN_WDF_TIMER,
};

use crate::report::{BootEnd, BootReport, Enc, Persist, StackRow};

/// 100 ns units per second.
pub const TICKS_PER_SEC: u64 = 10_000_000;

/// Interrupt time (counts sleep) and unbiased interrupt time (does not), 100 ns;
/// the wall clock (system time: 100 ns since 1601-01-01 UTC, counts sleep).
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock {
    /// `KeQueryInterruptTime`: WDF timers run on it.
    pub interrupt: u64,
    /// `KeQueryUnbiasedInterruptTime`.
    pub unbiased: u64,
    /// `KeQuerySystemTimePrecise` (set with `Session::set_wall_clock`).
    pub system: i64,
}

/// 100 ns units from 1601-01-01 to 1970-01-01.
pub const UNIX_EPOCH_AS_SYSTEM_TIME: i64 = 116_444_736_000_000_000;
/// The wall clock a boot starts at, before the uptime: 2026-01-01 00:00:00 UTC.
pub const DEFAULT_WALL_CLOCK_UNIX: i64 = 1_767_225_600;

/// A system time (100 ns since 1601) for `unix` seconds (negative: before 1970).
pub fn system_time_of_unix(unix: i64) -> i64 {
    unix.saturating_mul(TICKS_PER_SEC as i64).saturating_add(UNIX_EPOCH_AS_SYSTEM_TIME)
}

/// An open kernel object.
#[derive(Clone, Debug)]
pub enum Obj {
    /// A registry key.
    Key {
        /// Full path.
        path: String,
        /// Granted access.
        access: u32,
    },
    /// A file or directory.
    File(FileObj),
}

/// An open file or directory.
#[derive(Clone, Debug)]
pub struct FileObj {
    /// Canonical path (follows renames).
    pub path: String,
    /// Granted access.
    pub access: u32,
    /// Share mode.
    pub share: u32,
    /// Create options.
    pub options: u32,
    /// A directory.
    pub dir: bool,
    /// Next directory entry to return (None: scan not started).
    pub cursor: Option<usize>,
}

/// One handle table entry.
#[derive(Clone, Debug)]
pub struct Handle {
    /// The object.
    pub obj: Obj,
    /// The API that opened it.
    pub opened_by: &'static str,
    /// Owned by a WDF object (a WDFKEY's WDM handle): the driver must not ZwClose it.
    pub wdf_owned: bool,
    /// Path that opened it (stack statistic index).
    pub seg: usize,
}

/// One pool block.
#[derive(Clone, Debug)]
pub struct Block {
    /// Requested size.
    pub size: usize,
    /// Pool tag.
    pub tag: u32,
    /// Layout used with the system allocator.
    pub layout: std::alloc::Layout,
    /// Path that allocated it.
    pub seg: usize,
}

/// Per-tag pool counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct TagStats {
    /// Allocations.
    pub allocs: u64,
    /// Frees.
    pub frees: u64,
    /// Live bytes.
    pub live: usize,
    /// Peak live bytes.
    pub peak: usize,
}

/// A WDF wait lock (kernel event + critical region): blocking, with an owner.
#[derive(Debug, Default)]
pub struct WaitLock {
    /// Owner kernel thread (None: free).
    pub owner: Mutex<Option<u64>>,
    /// Signalled on release.
    pub cv: Condvar,
}

/// A WDF object.
#[derive(Debug)]
pub enum WdfObj {
    /// The WDFDRIVER.
    Driver,
    /// A WDFKEY and its WDM handle.
    Key {
        /// NT handle value.
        handle: usize,
    },
    /// A WDFWAITLOCK.
    WaitLock(Arc<WaitLock>),
    /// A WDFDEVICE_INIT not yet consumed.
    DeviceInit {
        /// Assigned name.
        name: Option<String>,
        /// I/O type.
        io_type: Option<i32>,
        /// `WdfControlDeviceInitSetShutdownNotification`.
        shutdown: PFN_WDF_DEVICE_SHUTDOWN_NOTIFICATION,
    },
    /// A control device.
    Device {
        /// NT name.
        name: Option<String>,
        /// Symbolic link.
        link: Option<String>,
        /// `WdfControlFinishInitializing` called.
        finished: bool,
        /// I/O type.
        io_type: Option<i32>,
        /// Created with `WdfExecutionLevelPassive`.
        passive: bool,
        /// Called at a clean system shutdown (from its `WDFDEVICE_INIT`).
        shutdown: PFN_WDF_DEVICE_SHUTDOWN_NOTIFICATION,
    },
    /// The default queue.
    Queue {
        /// Its device.
        device: usize,
        /// EvtIoDeviceControl.
        evt: PFN_WDF_IO_QUEUE_IO_DEVICE_CONTROL,
        /// Callbacks at PASSIVE_LEVEL (its own attributes or its device's).
        passive: bool,
    },
    /// A timer.
    Timer {
        /// EvtTimerFunc.
        evt: PFN_WDF_TIMER,
        /// Parent object.
        parent: usize,
        /// Interrupt time it fires at, if queued.
        due: Option<u64>,
        /// Passive level.
        passive: bool,
    },
    /// A request being processed.
    Request(RequestObj),
}

/// An I/O request (METHOD_BUFFERED: one system buffer for input and output).
#[derive(Debug)]
pub struct RequestObj {
    /// Input length.
    pub input_len: usize,
    /// Output length.
    pub output_len: usize,
    /// The system buffer (max of both lengths), owned by the harness.
    pub buffer: *mut u8,
    /// Completion (status, information), once.
    pub completed: Option<(i32, usize)>,
    /// Completions seen.
    pub completions: u32,
}

// SAFETY: the raw pointers in WDF objects point into harness-owned buffers that
// live for the whole call, and kernel state is only touched under KERNEL's mutex.
unsafe impl Send for WdfObj {}

/// Fault injection: make the `nth` (1-based) next call of `api` fail with `status`.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// api -> (calls left before failing, status, repeat)
    pub plan: BTreeMap<String, (u64, i32, bool)>,
}

impl Faults {
    /// Does this call of `api` fail, and how?
    pub fn hit(&mut self, api: &str) -> Option<i32> {
        let e = self.plan.get_mut(api)?;
        if e.0 > 1 {
            e.0 -= 1;
            return None;
        }
        let st = e.1;
        if !e.2 {
            self.plan.remove(api);
        }
        Some(st)
    }
}

/// Stack statistic being collected.
#[derive(Clone, Debug, Default)]
pub struct SegStat {
    /// See [`StackRow`].
    pub row: StackRow,
    /// Backtrace at the deepest call (trace mode).
    pub trace: Option<std::sync::Arc<std::backtrace::Backtrace>>,
}

/// The kernel.
pub struct Kernel {
    /// Disks.
    pub persist: Persist,
    /// Time.
    pub clock: Clock,
    /// Handle table.
    pub handles: BTreeMap<usize, Handle>,
    /// Files other processes hold open (a scanner, a backup tool): they take
    /// part in share checks and renames but are not the driver's handles.
    pub foreign: Vec<FileObj>,
    /// Next handle value (multiple of 4).
    pub next_handle: usize,
    /// Pool blocks by address.
    pub pool: HashMap<usize, Block>,
    /// Pool counters by tag.
    pub tags: BTreeMap<u32, TagStats>,
    /// WDF objects by handle value.
    pub wdf: BTreeMap<usize, WdfObj>,
    /// Next WDF handle.
    pub next_wdf: usize,
    /// The WDFDRIVER and its unload callback.
    pub driver: Option<(usize, PFN_WDF_DRIVER_UNLOAD)>,
    /// The registered process notify routine.
    pub notify: PCREATE_PROCESS_NOTIFY_ROUTINE_EX,
    /// The process being delivered to it and its token references.
    pub notifying: crate::nt::token::Notifying,
    /// Locks held per kernel thread, in order.
    pub held: BTreeMap<u64, Vec<usize>>,
    /// Lock order edges seen (held, then acquired).
    pub lock_edges: BTreeSet<(usize, usize)>,
    /// Fault plan.
    pub faults: Faults,
    /// Verifier findings.
    pub violations: Vec<String>,
    /// DbgPrint lines.
    pub log: Vec<String>,
    /// Partial DbgPrint line.
    pub log_partial: String,
    /// Stack statistics.
    pub stacks: Vec<SegStat>,
    /// Calls per API.
    pub calls: BTreeMap<&'static str, u64>,
    /// Echo DbgPrint to stderr.
    pub echo: bool,
    /// Windows calls from the driver so far (the numbers `crash_at` counts).
    pub seq: u64,
    /// Crash the machine on entry to this call number.
    pub crash_at: Option<u64>,
    /// The boot ends in a power loss when the script ends (`Session::power_off`).
    pub power_off: bool,
    /// IRQL per logical kernel thread running driver code.
    pub irql: BTreeMap<u64, u8>,
    /// The `DRIVER_OBJECT` DriverEntry received (the error log's I/O object).
    pub driver_object: usize,
    /// Error log entries allocated and not yet written, by address.
    pub errlog_pending: HashMap<usize, crate::nt::eventlog::Pending>,
    /// The System event log entries the driver wrote (bounded).
    pub event_log: Vec<crate::nt::eventlog::EventLogEntry>,
    /// Entries written beyond the bound.
    pub event_log_dropped: u64,
}

impl Kernel {
    /// A kernel over `persist`, `uptime_secs` after boot.
    pub fn new(mut persist: Persist, uptime_secs: u64, echo: bool) -> Self {
        let t = uptime_secs * TICKS_PER_SEC;
        // Whatever the test wrote before this boot is on disk.
        persist.settle();
        Self {
            seq: 0,
            crash_at: None,
            power_off: false,
            irql: BTreeMap::new(),
            persist,
            clock: Clock { interrupt: t, unbiased: t, system: system_time_of_unix(DEFAULT_WALL_CLOCK_UNIX).saturating_add(t as i64) },
            driver_object: 0,
            errlog_pending: HashMap::new(),
            event_log: Vec::new(),
            event_log_dropped: 0,
            handles: BTreeMap::new(),
            foreign: Vec::new(),
            next_handle: 0x100,
            pool: HashMap::new(),
            tags: BTreeMap::new(),
            wdf: BTreeMap::new(),
            next_wdf: 0x10,
            driver: None,
            notify: None,
            notifying: crate::nt::token::Notifying::default(),
            held: BTreeMap::new(),
            lock_edges: BTreeSet::new(),
            faults: Faults::default(),
            violations: Vec::new(),
            log: Vec::new(),
            log_partial: String::new(),
            stacks: Vec::new(),
            calls: BTreeMap::new(),
            echo,
        }
    }

    /// Records a verifier finding.
    pub fn violation(&mut self, msg: impl Into<String>) {
        let m = msg.into();
        if self.echo {
            raw_stderr(&format!("VERIFIER: {m}\n"));
        }
        self.violations.push(m);
    }

    /// Kernel handle values look like kernel handles (high bit set).
    pub fn new_handle(&mut self, h: Handle) -> usize {
        self.next_handle += 4;
        let v = 0xFFFF_FFFF_8000_0000usize | self.next_handle;
        self.handles.insert(v, h);
        v
    }

    /// A fresh WDF handle value.
    pub fn new_wdf(&mut self, kind: usize, obj: WdfObj) -> usize {
        self.next_wdf += 1;
        let v = 0x0000_5744_4600_0000usize | (kind << 20) | self.next_wdf;
        self.wdf.insert(v, obj);
        v
    }

    /// The stack statistic index of (path, segment), created on first use.
    pub fn seg(&mut self, path: &str, segment: &str, limit: usize) -> usize {
        if let Some(i) = self.stacks.iter().position(|s| s.row.path == path && s.row.segment == segment) {
            return i;
        }
        self.stacks.push(SegStat {
            row: StackRow { path: path.to_string(), segment: segment.to_string(), limit: limit as u64, ..StackRow::default() },
            trace: None,
        });
        self.stacks.len() - 1
    }

    /// Path name of a stack statistic.
    pub fn seg_name(&self, seg: usize) -> String {
        self.stacks.get(seg).map_or_else(|| "?".to_string(), |s| format!("{}/{}", s.row.path, s.row.segment))
    }

    /// Appends DbgPrint text, split into lines.
    pub fn dbg_print(&mut self, text: &str) {
        self.log_partial.push_str(text);
        while let Some(i) = self.log_partial.find('\n') {
            let line: String = self.log_partial.drain(..=i).collect();
            let line = line.trim_end_matches('\n').to_string();
            if self.echo {
                raw_stderr(&format!("DbgPrint: {line}\n"));
            }
            self.log.push(line);
        }
    }

    /// The report of this boot.
    pub fn report(&self, end: BootEnd) -> BootReport {
        let mut log = self.log.clone();
        if !self.log_partial.is_empty() {
            log.push(self.log_partial.clone());
        }
        BootReport {
            end,
            persist: Some(self.persist.clone()),
            stacks: self
                .stacks
                .iter()
                .map(|s| {
                    let mut row = s.row.clone();
                    if let Some(t) = &s.trace {
                        row.trace = driver_frames(&t.to_string());
                    }
                    row
                })
                .collect(),
            log,
            violations: self.violations.clone(),
            calls: self.calls.iter().map(|(k, v)| ((*k).to_string(), *v)).collect(),
            driver_calls: self.seq,
        }
    }
}

/// Writes to fd 2 directly: in a boot child, `eprintln!` would go to the test
/// harness's output capture, which the child cannot hand back.
pub fn raw_stderr(s: &str) {
    // SAFETY: writing a borrowed buffer to fd 2.
    unsafe { libc::write(2, s.as_ptr().cast(), s.len()) };
}

static KERNEL: Mutex<Option<Kernel>> = Mutex::new(None);

/// Installs the kernel of this child.
pub fn install(k: Kernel) {
    *lock() = Some(k);
}

fn lock() -> MutexGuard<'static, Option<Kernel>> {
    KERNEL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` on the kernel. Never call into the driver or [`fatal`] inside `f`.
pub fn with<R>(f: impl FnOnce(&mut Kernel) -> R) -> R {
    let mut g = lock();
    match g.as_mut() {
        Some(k) => f(k),
        None => {
            drop(g);
            fatal("harness: the model is not installed (driver code called outside a boot)".to_string())
        }
    }
}

/// Runs `f` on the kernel; an `Err` is a fatal verifier finding (raised after the lock is released).
pub fn with_fatal<R>(f: impl FnOnce(&mut Kernel) -> Result<R, String>) -> R {
    match with(f) {
        Ok(r) => r,
        Err(m) => fatal(m),
    }
}

/// Counts a call of `api`; for a call from the driver (`outer`), numbers it and
/// says whether the planned crash is here (the caller ends the boot).
pub(crate) fn count_call(api: &'static str, outer: bool) -> Option<u64> {
    let mut g = lock();
    let k = g.as_mut()?;
    *k.calls.entry(api).or_insert(0) += 1;
    if !outer {
        return None;
    }
    k.seq += 1;
    (k.crash_at == Some(k.seq)).then_some(k.seq)
}

/// Verifier: the driver calls `api` at an IRQL above the documented maximum.
pub(crate) fn check_irql(api: &'static str) {
    let mut g = lock();
    let Some(k) = g.as_mut() else { return };
    let level = k.irql.get(&crate::probe::kthread()).copied().unwrap_or(crate::irql::PASSIVE);
    let max = crate::irql::max_for(api);
    if level > max {
        k.violation(format!("{api} called at {}; its documented maximum is {}", crate::irql::name(level), crate::irql::name(max)));
    }
}

/// Trace mode (`CHANGUARD_HARNESS_TRACE=1`): a backtrace at each new deepest call.
pub static TRACE: AtomicBool = AtomicBool::new(false);

pub(crate) fn note_depth(seg: usize, depth: usize, api: &'static str) {
    let deeper = {
        let mut g = lock();
        match g.as_mut().and_then(|k| k.stacks.get_mut(seg)) {
            Some(s) => {
                s.row.probes += 1;
                let d = depth as u64 > s.row.deepest;
                if d {
                    s.row.deepest = depth as u64;
                    s.row.at = api.to_string();
                }
                d
            }
            None => false,
        }
    };
    if deeper && TRACE.load(Ordering::Relaxed) {
        let bt = std::sync::Arc::new(std::backtrace::Backtrace::force_capture());
        let mut g = lock();
        if let Some(s) = g.as_mut().and_then(|k| k.stacks.get_mut(seg)) {
            if s.row.deepest == depth as u64 {
                s.trace = Some(bt);
            }
        }
    }
}

/// The driver's frames of a backtrace: from the first frame after the model's
/// own, down to the harness's `call_measured`; one function per line.
fn driver_frames(bt: &str) -> String {
    let mut out = Vec::new();
    let mut started = false;
    for line in bt.lines() {
        let l = line.trim();
        let Some((_, name)) = l.split_once(": ") else { continue };
        if !l.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            continue;
        }
        if name.contains("call_measured") {
            break;
        }
        let model = name.starts_with("changuard_kmodel::") || name.contains("std::backtrace") || name.contains("std::sys");
        if !started && !model {
            started = true;
        }
        if started {
            out.push(name.to_string());
        }
    }
    out.join("\n")
}

/// The write end of this child's report pipe (-1: not in a child).
pub static REPORT_FD: AtomicI32 = AtomicI32::new(-1);
static FINISHING: AtomicBool = AtomicBool::new(false);

/// Ends this boot: sends the report to the parent and exits the child process.
pub fn finish(end: BootEnd) -> ! {
    if FINISHING.swap(true, Ordering::AcqRel) {
        // Another thread is already reporting; it exits the process.
        loop {
            std::thread::park();
        }
    }
    let fd = REPORT_FD.load(Ordering::Acquire);
    // The kernel lock may be held by a thread that is blocked for good (a
    // deadlock being reported): wait a little, then report without the state.
    let mut report = None;
    for _ in 0..200 {
        if let Ok(mut g) = KERNEL.try_lock() {
            report = g.as_mut().map(|k| k.report(end.clone()));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let report = report.unwrap_or(BootReport {
        end,
        persist: None,
        stacks: Vec::new(),
        log: vec!["(kernel state unavailable: lock held)".to_string()],
        violations: Vec::new(),
        calls: Vec::new(),
        driver_calls: 0,
    });
    if fd < 0 {
        raw_stderr(&format!("HARNESS (not in a boot child): {:?}\n", report.end));
        std::process::abort();
    }
    let mut enc = Enc::default();
    enc.report(&report);
    let mut buf = (enc.0.len() as u64).to_le_bytes().to_vec();
    buf.extend_from_slice(&enc.0);
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: writing an owned buffer to our pipe fd.
        let n = unsafe { libc::write(fd, buf[off..].as_ptr().cast(), buf.len() - off) };
        if n <= 0 {
            break;
        }
        off += n as usize;
    }
    // SAFETY: terminate the child immediately (no atexit handlers, no unwinding).
    unsafe { libc::_exit(0) }
}

/// A fatal finding: the boot ends here (a bugcheck on a real machine).
pub fn fatal(msg: String) -> ! {
    if let Ok(mut g) = KERNEL.try_lock() {
        if let Some(k) = g.as_mut() {
            k.violation(format!("FATAL: {msg}"));
        }
    }
    finish(BootEnd::Fatal(msg))
}
