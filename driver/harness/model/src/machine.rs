//! A machine (its disks, kept by the test) and boots: each boot runs in a forked
//! child process, so the driver image's statics start fresh every boot, as when
//! Windows loads the driver again; a bugcheck or a verifier stop ends the child,
//! not the test. The child sends its report (disks afterwards, stack statistics,
//! DbgPrint log, findings) back through a pipe.
use std::io::Read as _;
use std::os::fd::FromRawFd as _;

use wdk_sys::{
    CLIENT_ID, DRIVER_OBJECT, HANDLE, NTSTATUS, PCUNICODE_STRING, PEPROCESS, PS_CREATE_NOTIFY_INFO, UNICODE_STRING, WDFDRIVER,
    WDFQUEUE, WDFREQUEST, WDFTIMER,
};

use crate::probe::{KERNEL_STACK, next_kthread, run_segment};
use crate::registry::{Registry, SERVICE_KEY};
use crate::report::{BootEnd, BootReport, Dec, Persist};
use crate::state::{self, Kernel, TICKS_PER_SEC, with};
use crate::nt::token::{Notifying, Token};
use crate::{nt, wdf};

/// `DriverEntry`'s type (as the driver declares it).
pub type DriverEntry = unsafe extern "system" fn(&mut DRIVER_OBJECT, PCUNICODE_STRING) -> NTSTATUS;

/// A machine: what survives reboots.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Registry and system volume.
    pub persist: Persist,
    /// Print DbgPrint and verifier lines live to stderr (`CHANGUARD_HARNESS_ECHO=1`).
    pub echo: bool,
    /// Boots so far.
    pub boots: u32,
    /// A boot that reports nothing for this long is killed (`CHANGUARD_HARNESS_BOOT_TIMEOUT`, default 300).
    pub timeout_secs: u64,
}

impl Default for Machine {
    fn default() -> Self {
        Self::new()
    }
}

impl Machine {
    /// A machine with the driver's service key and an otherwise empty registry.
    pub fn new() -> Self {
        let echo = std::env::var("CHANGUARD_HARNESS_ECHO").is_ok_and(|v| v == "1");
        if let Some((seg, bytes)) = std::env::var("CHANGUARD_HARNESS_GUARD").ok().as_deref().and_then(|v| v.split_once(':')) {
            if let (Ok(seg), Ok(bytes)) = (seg.parse::<u64>(), bytes.parse::<u64>()) {
                crate::probe::GUARD.store((seg << 32) | bytes, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let trace = std::env::var("CHANGUARD_HARNESS_TRACE").is_ok_and(|v| v == "1");
        state::TRACE.store(trace, std::sync::atomic::Ordering::Relaxed);
        if trace || std::env::var("CHANGUARD_HARNESS_SIDE_STACK").is_ok_and(|v| v == "0") {
            crate::probe::SIDE_STACKS.store(false, std::sync::atomic::Ordering::Relaxed);
        }
        let timeout_secs = std::env::var("CHANGUARD_HARNESS_BOOT_TIMEOUT").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
        let registry = Registry::with_service();
        Self { persist: Persist { hive: registry.clone(), registry, fs: crate::fs::Fs::new(), security: std::collections::BTreeMap::new() }, echo, boots: 0, timeout_secs }
    }

    /// Boots: forks a child that installs the kernel model over this machine's
    /// disks, `uptime_secs` after power-on, and runs `script`; the disks come back
    /// from the child's report (unchanged if it died without one).
    ///
    /// # Panics
    /// If the process cannot fork.
    pub fn boot(&mut self, uptime_secs: u64, script: impl FnOnce(&mut Session)) -> BootReport {
        install_panic_hook();
        self.boots += 1;
        let mut fds = [0i32; 2];
        // SAFETY: plain pipe(2).
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
        // SAFETY: fork(2). The child only runs the code below and exits with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: the child's copy of the read end.
            unsafe { libc::close(fds[0]) };
            child(fds[1], self.persist.clone(), uptime_secs, self.echo, script);
        }
        // SAFETY: the parent's copy of the write end.
        unsafe { libc::close(fds[1]) };
        let timed_out = !wait_readable(fds[0], self.timeout_secs);
        if timed_out {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // SAFETY: fds[0] is ours and open.
        let mut reader = unsafe { std::fs::File::from_raw_fd(fds[0]) };
        let mut buf = Vec::new();
        if !timed_out {
            let _ = reader.read_to_end(&mut buf);
        }
        let mut wstatus = 0;
        // SAFETY: reaping our child.
        unsafe { libc::waitpid(pid, &raw mut wstatus, 0) };
        let report = (buf.len() >= 8)
            .then(|| {
                let n = u64::from_le_bytes(buf[..8].try_into().unwrap_or([0; 8])) as usize;
                buf.get(8..8 + n).and_then(|b| Dec(b).report())
            })
            .flatten();
        match report {
            Some(r) => {
                if let Some(p) = &r.persist {
                    // A boot that ran to its end shut down cleanly (the cache and the
                    // hive flushed); any other end is a crash that kept only what was
                    // durable. Crash campaigns pick other outcomes with
                    // `Persist::crash_images` on the report's disks.
                    self.persist = if r.end == BootEnd::Completed {
                        let mut p = p.clone();
                        p.settle();
                        p
                    } else {
                        p.worst_crash()
                    };
                }
                r
            }
            None => BootReport {
                end: BootEnd::Died(if timed_out {
                    format!("no report after {} s: the boot hung (deadlock?); killed", self.timeout_secs)
                } else {
                    describe_wait(wstatus)
                }),
                persist: None,
                stacks: Vec::new(),
                log: Vec::new(),
                violations: Vec::new(),
                calls: Vec::new(),
                driver_calls: 0,
            },
        }
    }
}

/// Waits until `fd` is readable (data or EOF) for at most `secs` seconds.
fn wait_readable(fd: i32, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&raw mut p, 1, 1000) };
        if n > 0 {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
    }
}

fn describe_wait(w: i32) -> String {
    if libc::WIFSIGNALED(w) {
        format!("killed by signal {} (see stderr: a stack overflow or an abort)", libc::WTERMSIG(w))
    } else {
        format!("exited with status {} without a report", libc::WEXITSTATUS(w))
    }
}

std::thread_local! {
    static PANIC_MSG: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Set in a boot child (after fork).
static IN_CHILD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Installs the process-wide panic hook once, in the parent, before any fork:
/// `std::panic::set_hook` in a child could deadlock on the hook lock if another
/// test thread of the parent held it (was panicking) at the moment of the fork.
/// In the parent it defers to the previous hook.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CHILD.load(std::sync::atomic::Ordering::Relaxed) {
                previous(info);
                return;
            }
            let loc = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "(non-string panic)".to_string()
            };
            let text = format!("{msg} at {loc}");
            if wdk_sys::__harness::driver_context() || crate::probe::kthread() != 0 {
                // A panic in driver (or model) code: it would unwind into an extern "C"
                // frame and abort; on Windows it is a bugcheck. Report and end the boot.
                state::fatal(format!("panic in kernel code: {text}"));
            }
            PANIC_MSG.with(|m| *m.borrow_mut() = Some(text));
        }));
    });
}

fn child(fd: i32, persist: Persist, uptime_secs: u64, echo: bool, script: impl FnOnce(&mut Session)) -> ! {
    IN_CHILD.store(true, std::sync::atomic::Ordering::Relaxed);
    state::REPORT_FD.store(fd, std::sync::atomic::Ordering::Release);
    state::install(Kernel::new(persist, uptime_secs, echo));
    wdf::install();
    nt::security::install();
    let mut session = Session::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        script(&mut session);
        if session.loaded && !session.ended {
            session.shutdown();
        }
    }));
    let end = match r {
        Ok(()) if with(|k| k.power_off) => BootEnd::PowerOff,
        Ok(()) => BootEnd::Completed,
        Err(_) => BootEnd::ScriptPanic(PANIC_MSG.with(|m| m.borrow_mut().take()).unwrap_or_else(|| "script panicked".to_string())),
    };
    state::finish(end)
}

/// The result of one IOCTL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ioctl {
    /// Completion status.
    pub status: NTSTATUS,
    /// Information (bytes returned).
    pub info: usize,
    /// The first `info` bytes of the system buffer (what DeviceIoControl returns).
    pub output: Vec<u8>,
}

/// A process creation to deliver to the notify routine.
#[derive(Clone, Debug, Default)]
pub struct ProcessCreate {
    /// `ImageFileName` (None: NULL pointer).
    pub image: Option<Vec<u16>>,
    /// `CommandLine` (None: NULL pointer).
    pub command_line: Option<Vec<u16>>,
    /// New process id.
    pub pid: u64,
    /// Parent process id.
    pub ppid: u64,
    /// Creating thread's process id.
    pub creator_pid: u64,
    /// The new process's primary token.
    pub token: Token,
}

impl ProcessCreate {
    /// From UTF-8 strings.
    pub fn new(image: &str, command_line: &str, pid: u64) -> Self {
        Self {
            image: Some(image.encode_utf16().collect()),
            command_line: Some(command_line.encode_utf16().collect()),
            pid,
            ppid: 4,
            creator_pid: 4,
            token: Token::system(),
        }
    }
}

/// One boot, in the child: drives the driver's entry points.
pub struct Session {
    drv: Box<DRIVER_OBJECT>,
    reg_units: Vec<u16>,
    reg: Box<UNICODE_STRING>,
    loaded: bool,
    /// The system shutdown notifications ran (or [`Session::power_off`]):
    /// the end of the boot does not run them again.
    ended: bool,
}

fn unicode(units: &mut [u16]) -> UNICODE_STRING {
    let bytes = u16::try_from(units.len() * 2).unwrap_or(u16::MAX & !1);
    UNICODE_STRING { Length: bytes, MaximumLength: bytes, Buffer: units.as_mut_ptr() }
}

impl Session {
    fn new() -> Self {
        let mut reg_units: Vec<u16> = SERVICE_KEY.encode_utf16().collect();
        let reg = Box::new(unicode(&mut reg_units));
        // SAFETY: DRIVER_OBJECT is plain data; all-zero is a valid (empty) value.
        let drv: Box<DRIVER_OBJECT> = Box::new(unsafe { core::mem::zeroed() });
        Self { drv, reg_units, reg, loaded: false, ended: false }
    }

    /// Runs `a` and `b` at the same time, each on its own OS thread with its own
    /// session view (events, IOCTLs and timers need no DriverEntry state), as two
    /// CPUs would call the driver: a process creation racing a RELOAD, say. The wait
    /// locks block for real; lock-order and deadlock checks apply.
    pub fn race(&mut self, a: impl FnOnce(&mut Session) + Send, b: impl FnOnce(&mut Session) + Send) {
        std::thread::scope(|sc| {
            let t = sc.spawn(move || a(&mut Session::new()));
            b(&mut Session::new());
            if let Err(e) = t.join() {
                std::panic::resume_unwind(e);
            }
        });
    }

    /// Runs a driver entry point as `path` on a fresh kernel thread (24 KiB stack limit).
    pub fn invoke<R>(&mut self, path: &str, f: impl FnOnce() -> R) -> R {
        self.invoke_at(path, crate::irql::PASSIVE, f)
    }

    /// [`Session::invoke`] at IRQL `level` (checked at every call: `irql.rs`).
    pub fn invoke_at<R>(&mut self, path: &str, level: u8, f: impl FnOnce() -> R) -> R {
        let seg = with(|k| k.seg(path, "entry", KERNEL_STACK));
        let kt = next_kthread();
        with(|k| k.irql.insert(kt, level));
        let (r, hwm) = run_segment(seg, KERNEL_STACK, kt, f);
        with(|k| {
            k.irql.remove(&kt);
            if let Some(s) = k.stacks.get_mut(seg) {
                s.row.runs += 1;
                s.row.hwm = s.row.hwm.max(hwm as u64);
            }
        });
        r
    }

    /// `DriverEntry(DriverObject, RegistryPath)`.
    pub fn driver_entry(&mut self, entry: DriverEntry) -> NTSTATUS {
        let _ = &self.reg_units;
        let drv: *mut DRIVER_OBJECT = &raw mut *self.drv;
        with(|k| k.driver_object = drv as usize);
        let reg: PCUNICODE_STRING = &raw const *self.reg;
        // SAFETY: a zeroed DRIVER_OBJECT and the service key path, alive for the call.
        let s = self.invoke("DriverEntry", || unsafe { entry(&mut *drv, reg) });
        self.loaded = s >= 0;
        s
    }

    /// An IOCTL through the control device's default queue (METHOD_BUFFERED: one
    /// system buffer of max(input, output) bytes). `label` names the stack path.
    /// `None` when there is no finished control device.
    pub fn ioctl(&mut self, label: &str, code: u32, input: &[u8], output_len: usize) -> Option<Ioctl> {
        let (queue, evt, passive) = wdf::ioctl_target()?;
        let evt = evt?;
        let mut system = vec![0u8; input.len().max(output_len).max(1)];
        system[..input.len()].copy_from_slice(input);
        let req = wdf::new_request(system.as_mut_ptr(), input.len(), output_len);
        let path = format!("ioctl:{label}");
        let level = if passive { crate::irql::PASSIVE } else { crate::irql::DISPATCH };
        // SAFETY: the driver's EvtIoDeviceControl with a live queue and request.
        self.invoke_at(&path, level, || unsafe { evt(queue as WDFQUEUE, req as WDFREQUEST, output_len, input.len(), code) });
        let done = wdf::finish_request(req);
        let Some((status, info)) = done else {
            with(|k| k.violation(format!("{path}: the request was not completed by EvtIoDeviceControl")));
            return Some(Ioctl { status: crate::status::UNSUCCESSFUL, info: 0, output: Vec::new() });
        };
        let n = if status >= 0 { info.min(output_len) } else { 0 };
        Some(Ioctl { status, info, output: system[..n].to_vec() })
    }

    /// Delivers a process creation to the registered notify routine (false: none registered).
    pub fn process_create(&mut self, p: &ProcessCreate) -> bool {
        let Some(routine) = with(|k| k.notify) else { return false };
        let mut image = p.image.clone();
        let mut cmd = p.command_line.clone();
        let image_us = image.as_mut().map(|u| unicode(u));
        let cmd_us = cmd.as_mut().map(|u| unicode(u));
        // SAFETY: PS_CREATE_NOTIFY_INFO is plain data; zero is valid for every field.
        let mut info: PS_CREATE_NOTIFY_INFO = unsafe { core::mem::zeroed() };
        info.Size = core::mem::size_of::<PS_CREATE_NOTIFY_INFO>() as _;
        info.ParentProcessId = p.ppid as HANDLE;
        info.CreatingThreadId = CLIENT_ID { UniqueProcess: p.creator_pid as HANDLE, UniqueThread: 8 as HANDLE };
        info.ImageFileName = image_us.as_ref().map_or(core::ptr::null(), |u| u as *const UNICODE_STRING);
        info.CommandLine = cmd_us.as_ref().map_or(core::ptr::null(), |u| u as *const UNICODE_STRING);
        let info_ptr = &raw mut info;
        let process = 0xFFFF_A000_0000_1000usize as PEPROCESS;
        with(|k| k.notifying = Notifying { process: Some((process as usize, p.token.clone())), refs: 0 });
        // SAFETY: the notify routine with a live PS_CREATE_NOTIFY_INFO.
        self.invoke("process-notify", || unsafe { routine(process, p.pid as HANDLE, info_ptr) });
        with(|k| {
            let n = core::mem::take(&mut k.notifying);
            if n.refs != 0 {
                k.violation(format!("process-notify: {} primary token reference(s) not released (PsDereferencePrimaryToken)", n.refs));
            }
        });
        true
    }

    /// Delivers a process exit (CreateInfo NULL).
    pub fn process_exit(&mut self, pid: u64) -> bool {
        let Some(routine) = with(|k| k.notify) else { return false };
        let process = 0xFFFF_A000_0000_1000usize as PEPROCESS;
        // SAFETY: the notify routine, process exit form.
        self.invoke("process-exit", || unsafe { routine(process, pid as HANDLE, core::ptr::null_mut()) });
        true
    }

    /// Time passes (awake): both clocks advance by `secs`.
    pub fn advance(&mut self, secs: u64) {
        with(|k| {
            k.clock.interrupt += secs * TICKS_PER_SEC;
            k.clock.unbiased += secs * TICKS_PER_SEC;
            k.clock.system = k.clock.system.saturating_add((secs * TICKS_PER_SEC) as i64);
        });
    }

    /// The machine sleeps `secs`: interrupt time advances, unbiased time does not.
    pub fn sleep(&mut self, secs: u64) {
        with(|k| {
            k.clock.interrupt += secs * TICKS_PER_SEC;
            k.clock.system = k.clock.system.saturating_add((secs * TICKS_PER_SEC) as i64);
        });
    }

    /// Seconds until the next WDF timer is due (None: none queued).
    pub fn next_timer_in(&self) -> Option<u64> {
        let now = with(|k| k.clock.interrupt);
        wdf::next_due().map(|d| d.saturating_sub(now).div_ceil(TICKS_PER_SEC))
    }

    /// Runs the callbacks of the timers that are due (as path `timer`); returns how many ran.
    pub fn fire_timers(&mut self) -> usize {
        let due = wdf::due_timers();
        let n = due.len();
        for (h, evt, passive) in due {
            if let Some(f) = evt {
                let level = if passive { crate::irql::PASSIVE } else { crate::irql::DISPATCH };
                self.invoke_at("timer", level, || {
                    wdf::IN_TIMER.with(|c| c.set(h));
                    // SAFETY: the driver's EvtTimerFunc with its timer.
                    unsafe { f(h as WDFTIMER) };
                    wdf::IN_TIMER.with(|c| c.set(0));
                });
            }
        }
        n
    }

    /// Advances to the next due timer (if within `max_secs`) and fires it.
    pub fn run_timers_for(&mut self, max_secs: u64) -> usize {
        let mut fired = 0;
        let mut left = max_secs;
        while let Some(d) = self.next_timer_in() {
            if d > left {
                break;
            }
            self.advance(d);
            left -= d;
            fired += self.fire_timers();
        }
        self.advance(left);
        fired
    }

    /// `EvtDriverUnload`, then WDF deletes the driver's objects, then the verifier's
    /// unload checks: handles, pool, notify routine, WDF objects.
    pub fn unload(&mut self) {
        let Some((drv, unload)) = with(|k| k.driver) else {
            with(|k| k.violation("unload: no WDF driver object".to_string()));
            return;
        };
        match unload {
            // SAFETY: the driver's EvtDriverUnload with its WDFDRIVER.
            Some(f) => self.invoke("EvtDriverUnload", || unsafe { f(drv as WDFDRIVER) }),
            None => with(|k| k.violation("unload: the driver has no EvtDriverUnload (it cannot be stopped)".to_string())),
        }
        let found = wdf::delete_all();
        with(|k| {
            for f in found {
                k.violation(f);
            }
            if k.notify.is_some() {
                k.violation("unload: the process notify routine is still registered (bugcheck 0xCE)".to_string());
            }
            let leaked: Vec<String> = k
                .handles
                .iter()
                .map(|(h, e)| format!("unload: handle {h:#x} ({:?}) opened by {} on {} never closed", e.obj, e.opened_by, k.seg_name(e.seg)))
                .collect();
            for l in leaked {
                k.violation(l);
            }
            let entries: Vec<String> = k
                .errlog_pending
                .iter()
                .map(|(a, p)| format!("unload: error log entry {a:#x} ({} bytes) allocated on {} never written", p.size, k.seg_name(p.seg)))
                .collect();
            for e in entries {
                k.violation(e);
            }
            let mut blocks: Vec<_> = k.pool.iter().map(|(a, b)| (*a, b.clone())).collect();
            blocks.sort_by_key(|(a, _)| *a);
            for (a, b) in blocks {
                let m = format!("unload: pool block {a:#x}, {} bytes, tag '{}', allocated on {} never freed", b.size, nt::tag_name(b.tag), k.seg_name(b.seg));
                k.violation(m);
            }
        });
        self.loaded = false;
    }

    /// A clean system shutdown: every finished control device's shutdown
    /// notification (`WdfControlDeviceInitSetShutdownNotification`) runs at
    /// PASSIVE_LEVEL, as Windows calls them before it flushes the caches and
    /// hives. The driver is not unloaded. A script that ends normally gets this
    /// at its end unless it called it, unloaded the driver, or called
    /// [`Session::power_off`].
    pub fn shutdown(&mut self) {
        self.ended = true;
        for (device, f) in wdf::shutdown_targets() {
            if let Some(f) = f {
                // SAFETY: the driver's EvtDeviceShutdownNotification with its WDFDEVICE.
                self.invoke("EvtDeviceShutdownNotification", || unsafe { f(device as wdk_sys::WDFDEVICE) });
            }
        }
    }

    /// The machine loses power when the script ends: no shutdown notification,
    /// and the disks keep only what was durable (the worst crash image).
    pub fn power_off(&mut self) {
        self.ended = true;
        with(|k| k.power_off = true);
    }

    /// Another process (a scanner, a backup tool) opens `path` for reading
    /// with `FILE_SHARE_READ`, plus `FILE_SHARE_DELETE` if `share_delete`, and
    /// keeps it open for the rest of the boot. It takes part in share checks
    /// and renames; it is not the driver's handle. `false` if no such file.
    pub fn hold_open(&mut self, path: &str, share_delete: bool) -> bool {
        let Ok(r) = crate::fs::resolve(path) else { return false };
        with(|k| {
            let Some(n) = k.persist.fs.node(&r.path) else { return false };
            let share = wdk_sys::FILE_SHARE_READ | if share_delete { wdk_sys::FILE_SHARE_DELETE } else { 0 };
            let obj = crate::state::FileObj { path: n.path.clone(), access: wdk_sys::FILE_GENERIC_READ, share, options: 0, dir: false, cursor: None };
            k.foreign.push(obj);
            true
        })
    }

    /// Makes the `nth` (1-based) next call of `api` fail with `status` (every call from
    /// then on if `repeat`). `api` is the Windows name, or `ExAllocatePool2:<tag>`.
    pub fn fail(&mut self, api: &str, nth: u64, status: NTSTATUS, repeat: bool) {
        with(|k| {
            k.faults.plan.insert(api.to_string(), (nth.max(1), status, repeat));
        });
    }

    /// Crashes the machine (power loss) on entry to the driver's `call`-th Windows
    /// call of this boot, counting from the first (see [`Session::calls_so_far`]).
    pub fn crash_at(&mut self, call: u64) {
        with(|k| k.crash_at = Some(call));
    }

    /// Notes in the log how many Windows calls the driver has made so far, under
    /// `name` ([`BootReport::mark`] reads it back): how crash campaigns learn where
    /// a phase of the script begins.
    pub fn mark(&mut self, name: &str) {
        with(|k| {
            let line = format!("{}{name} {}", crate::report::MARK, k.seq);
            k.log.push(line);
        });
    }

    /// Windows calls the driver has made so far this boot.
    pub fn calls_so_far(&self) -> u64 {
        with(|k| k.seq)
    }

    /// A copy of the disks now.
    pub fn persist(&self) -> Persist {
        with(|k| k.persist.clone())
    }

    /// Changes the disks now (e.g. the update agent drops new content).
    pub fn edit(&mut self, f: impl FnOnce(&mut Persist)) {
        with(|k| f(&mut k.persist));
    }

    /// DbgPrint lines so far.
    pub fn log(&self) -> Vec<String> {
        with(|k| k.log.clone())
    }

    /// Verifier findings so far.
    pub fn violations(&self) -> Vec<String> {
        with(|k| k.violations.clone())
    }

    /// Live pool: (tag, blocks, bytes).
    pub fn pool(&self) -> Vec<(String, usize, usize)> {
        with(|k| {
            let mut m: std::collections::BTreeMap<u32, (usize, usize)> = std::collections::BTreeMap::new();
            for b in k.pool.values() {
                let e = m.entry(b.tag).or_default();
                e.0 += 1;
                e.1 += b.size;
            }
            m.into_iter().map(|(t, (n, s))| (nt::tag_name(t), n, s)).collect()
        })
    }

    /// Sets the wall clock (`KeQuerySystemTimePrecise`) to `unix` seconds
    /// (negative: before 1970); it then advances with [`Session::advance`] and
    /// [`Session::sleep`]. A boot starts at [`crate::state::DEFAULT_WALL_CLOCK_UNIX`]
    /// plus its uptime.
    pub fn set_wall_clock(&mut self, unix: i64) {
        with(|k| k.clock.system = crate::state::system_time_of_unix(unix));
    }

    /// The wall clock, Unix seconds (rounded down).
    pub fn wall_clock(&self) -> i64 {
        with(|k| (k.clock.system - crate::state::UNIX_EPOCH_AS_SYSTEM_TIME).div_euclid(TICKS_PER_SEC as i64))
    }

    /// The System event log entries the driver wrote so far this boot
    /// (`IoWriteErrorLogEntry`), oldest first.
    pub fn event_log(&self) -> Vec<crate::nt::eventlog::EventLogEntry> {
        with(|k| k.event_log.clone())
    }

    /// Uptime (unbiased) in seconds.
    pub fn uptime(&self) -> u64 {
        with(|k| k.clock.unbiased / TICKS_PER_SEC)
    }
}
