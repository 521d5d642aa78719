//! Stack probes: how deep the driver's own frames are at every call into the
//! model (= into Windows), and the deepest the driver got anywhere.
//!
//! # How
//! - Every model function the driver can call (NT exports, WDF table slots,
//!   DbgPrint) is reached through a naked shim ([`nt_export!`], [`wdf_shim!`]).
//!   The shim records `rsp` at its entry (the address of the return address, so
//!   nothing of the model is counted) through [`record_entry`], then runs the
//!   model's implementation on a separate *side stack* (stack arguments copied),
//!   so model frames never touch the driver's stack.
//! - The harness runs every driver entry point (and the model every stack-expansion
//!   callout) on a fresh thread whose stack it paints with a pattern below the
//!   point where it calls the driver (`base`, the `rsp` just before the call).
//! - depth at a call = `base - rsp at the shim's entry`; the high-water mark (hwm)
//!   = `base - lowest overwritten word` after the entry point returns: the driver's
//!   deepest frame anywhere, leaf computations included (plus up to ~150 bytes of
//!   [`record_entry`]'s own frame below a call point).
//!
//! A depth above the segment's limit (24 KiB for an entry point, the requested size
//! for an expanded stack) is a fatal "kernel stack overflow" (bugcheck 0x7F in real
//! life); the thread itself has 64 KiB more so the harness, not the guard page,
//! reports it.
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use wdk_sys::__harness::{driver_enter, driver_leave, model_enter, model_leave};

/// The x64 kernel stack (`KERNEL_STACK_SIZE`, 24 KiB): the overflow limit of an entry point.
pub const KERNEL_STACK: usize = 24 * 1024;
/// Extra stack given to harness threads beyond the limit, so an overflow is reported
/// by the harness rather than by the guard page.
pub const THREAD_MARGIN: usize = 64 * 1024;
/// Side stack for model code.
const SIDE_STACK: usize = 1024 * 1024;
/// Paint pattern (stack painting for the high-water mark).
const PAINT: u64 = 0xC4A6_57AC_C4A6_57AC;

/// Side stacks on (default); `CHANGUARD_HARNESS_SIDE_STACK=0` runs model code on the
/// driver's stack instead (then the hwm includes model frames).
pub static SIDE_STACKS: AtomicBool = AtomicBool::new(true);

std::thread_local! {
    static PENDING: Cell<usize> = const { Cell::new(0) };
    static SWITCHED: Cell<bool> = const { Cell::new(false) };
    static SIDE_TOP: Cell<usize> = const { Cell::new(0) };
    static SIDE_BUSY: Cell<bool> = const { Cell::new(false) };
    static SEG: Cell<usize> = const { Cell::new(usize::MAX) };
    static BASE: Cell<usize> = const { Cell::new(0) };
    static LIMIT: Cell<usize> = const { Cell::new(usize::MAX) };
    static KTHREAD: Cell<u64> = const { Cell::new(0) };
}

/// The current stack pointer.
#[inline(always)]
pub fn current_rsp() -> usize {
    let sp: usize;
    // SAFETY: reads a register.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

/// Called by every shim with its entry `rsp`; returns the side stack's top to run
/// the model on, or 0 to run it here (no side stack, or already on it).
/// Runs on the driver's stack: no allocation, no locks.
pub extern "C" fn record_entry(entry_sp: usize) -> usize {
    PENDING.set(entry_sp);
    let top = SIDE_TOP.get();
    if top != 0 && !SIDE_BUSY.get() {
        SIDE_BUSY.set(true);
        SWITCHED.set(true);
        top
    } else {
        SWITCHED.set(false);
        0
    }
}

/// Defines an exported (`#[no_mangle]`) NT function as a naked shim in front of
/// `$imp`, which has the real signature (checked by `check_sig!`).
#[macro_export]
macro_rules! nt_export {
    ($name:ident => $imp:path) => {
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        #[allow(non_snake_case, missing_docs)]
        pub unsafe extern "C" fn $name() {
            $crate::shim_body!($imp)
        }
    };
}

/// Defines a (non-exported) naked shim in front of `$imp` for a WDF table slot.
#[macro_export]
macro_rules! wdf_shim {
    ($name:ident => $imp:path) => {
        #[unsafe(naked)]
        #[allow(non_snake_case)]
        unsafe extern "C" fn $name() {
            $crate::shim_body!($imp)
        }
    };
}

/// The shim: save the six register arguments, `record_entry(entry rsp)`, then either
/// tail-jump to the implementation (same stack) or switch to the side stack, copy
/// eight stack-argument words (arguments 7..14), call it, switch back and return.
/// rbx (callee-saved) keeps the entry rsp across the call; its old value is saved
/// on the side stack. Return registers (rax, rdx) are left untouched.
#[macro_export]
#[doc(hidden)]
macro_rules! shim_body {
    ($imp:path) => {
        core::arch::naked_asm!(
            "push rdi",
            "push rsi",
            "push rdx",
            "push rcx",
            "push r8",
            "push r9",
            "lea rdi, [rsp + 48]",
            "sub rsp, 8",
            "call {record}",
            "add rsp, 8",
            "test rax, rax",
            "jnz 2f",
            "pop r9",
            "pop r8",
            "pop rcx",
            "pop rdx",
            "pop rsi",
            "pop rdi",
            "jmp {imp}",
            "2:",
            "mov [rax - 8], rbx",
            "lea rbx, [rsp + 48]",
            "mov r10, [rbx + 8]",
            "mov [rax - 80], r10",
            "mov r10, [rbx + 16]",
            "mov [rax - 72], r10",
            "mov r10, [rbx + 24]",
            "mov [rax - 64], r10",
            "mov r10, [rbx + 32]",
            "mov [rax - 56], r10",
            "mov r10, [rbx + 40]",
            "mov [rax - 48], r10",
            "mov r10, [rbx + 48]",
            "mov [rax - 40], r10",
            "mov r10, [rbx + 56]",
            "mov [rax - 32], r10",
            "mov r10, [rbx + 64]",
            "mov [rax - 24], r10",
            "mov rdi, [rbx - 8]",
            "mov rsi, [rbx - 16]",
            "mov rdx, [rbx - 24]",
            "mov rcx, [rbx - 32]",
            "mov r8, [rbx - 40]",
            "mov r9, [rbx - 48]",
            "lea rsp, [rax - 80]",
            "call {imp}",
            "mov r11, rbx",
            "mov rbx, [rsp + 72]",
            "mov rsp, r11",
            "ret",
            record = sym $crate::probe::record_entry,
            imp = sym $imp,
        )
    };
}

/// Proof that a model implementation has exactly the binding's signature: both
/// coerce to one function pointer type (compile error otherwise).
#[macro_export]
macro_rules! check_sig {
    ($binding:path, $imp:path) => {
        const _: () = {
            #[allow(dead_code)]
            fn check() {
                let _ = [$binding, $imp];
            }
        };
    };
}

/// Inside a model function: leaves model mode on drop, frees the side stack.
pub struct Entered {
    switched: bool,
}

impl Drop for Entered {
    fn drop(&mut self) {
        model_leave();
        if self.switched {
            SIDE_BUSY.set(false);
        }
    }
}

/// First statement of every model function the driver calls: takes the shim's
/// recorded rsp, records the depth against the current segment, enters model mode.
pub fn enter(api: &'static str) -> Entered {
    let pending = PENDING.replace(0);
    let switched = SWITCHED.replace(false);
    let outer = model_enter();
    if let Some(call) = crate::state::count_call(api, outer == 0) {
        crate::state::finish(crate::report::BootEnd::Crash { call, api: api.to_string() });
    }
    if outer == 0 {
        crate::state::check_irql(api);
    }
    if outer == 0 && pending != 0 {
        let seg = SEG.get();
        if seg != usize::MAX {
            let depth = BASE.get().saturating_sub(pending);
            crate::state::note_depth(seg, depth, api);
            if depth > LIMIT.get() {
                crate::state::fatal(format!(
                    "kernel stack overflow: {depth} bytes of driver frames when calling {api} (stack {} bytes)",
                    LIMIT.get()
                ));
            }
        }
    }
    Entered { switched }
}

/// The logical kernel thread running here (0 outside the driver).
pub fn kthread() -> u64 {
    KTHREAD.get()
}

/// Side stacks: mmap'd with a guard page, pooled across threads.
static SIDE_POOL: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn take_side_stack() -> usize {
    if let Some(top) = SIDE_POOL.lock().unwrap_or_else(|e| e.into_inner()).pop() {
        return top;
    }
    // SAFETY: anonymous private mapping; the first page becomes a guard page.
    unsafe {
        let p = libc::mmap(
            core::ptr::null_mut(),
            SIDE_STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return 0;
        }
        libc::mprotect(p, 4096, libc::PROT_NONE);
        p as usize + SIDE_STACK
    }
}

fn give_side_stack(top: usize) {
    if top != 0 {
        SIDE_POOL.lock().unwrap_or_else(|e| e.into_inner()).push(top);
    }
}

/// Low end (usable) of the current thread's stack.
fn stack_low() -> usize {
    // SAFETY: pthread_getattr_np on the current thread with a zeroed attr, destroyed after.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &raw mut attr) != 0 {
            return 0;
        }
        let mut addr: *mut libc::c_void = core::ptr::null_mut();
        let mut size: libc::size_t = 0;
        libc::pthread_attr_getstack(&raw const attr, &raw mut addr, &raw mut size);
        libc::pthread_attr_destroy(&raw mut attr);
        addr as usize
    }
}

/// Debugging aid: `CHANGUARD_HARNESS_GUARD=<segment index>:<bytes>` makes the page
/// `bytes` below `base` of that stack statistic inaccessible, so the first driver
/// write that deep faults (SIGSEGV): run the test under gdb
/// (`set follow-fork-mode child`) and `bt` shows the leaf that goes that deep.
pub static GUARD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn guard_page(base: usize) -> Option<usize> {
    let g = GUARD.load(Ordering::Relaxed);
    if g == 0 || (g >> 32) as usize != SEG.get() {
        return None;
    }
    let page = (base - (g & 0xFFFF_FFFF) as usize) & !4095;
    // SAFETY: a page of this thread's own, currently unused stack.
    unsafe { libc::mprotect(page as *mut libc::c_void, 4096, libc::PROT_NONE) };
    Some(page)
}

/// Calls the driver with `base` = this frame's rsp: paints `[low, base - 128)`
/// first (`rep stosq`: no stack use; the 128 bytes are this frame's red zone),
/// scans for the lowest overwritten word after (`repe scasq`). Returns `f`'s
/// result and the high-water mark in bytes below `base`.
#[inline(never)]
fn call_measured<R>(low: usize, f: impl FnOnce() -> R) -> (R, usize) {
    let base = current_rsp();
    BASE.set(base);
    let top = (base - 128) & !7;
    if low != 0 && low < top {
        // SAFETY: [low, top) is this thread's unused stack below this frame's red zone.
        unsafe {
            core::arch::asm!(
                "rep stosq",
                inout("rdi") low => _,
                inout("rcx") (top - low) / 8 => _,
                in("rax") PAINT,
                options(nostack, preserves_flags)
            );
        }
    }
    let guard = guard_page(base);
    driver_enter();
    let r = f();
    driver_leave();
    if let Some(g) = guard {
        // SAFETY: the page protected by guard_page.
        unsafe { libc::mprotect(g as *mut libc::c_void, 4096, libc::PROT_READ | libc::PROT_WRITE) };
    }
    let mut lowest = base;
    if low != 0 && low < top {
        let mut at = low;
        let mut ne: u8;
        // SAFETY: reads back the region painted above.
        unsafe {
            core::arch::asm!(
                "repe scasq",
                "setne {ne}",
                ne = out(reg_byte) ne,
                inout("rdi") at,
                inout("rcx") (top - low) / 8 => _,
                in("rax") PAINT,
                options(nostack, readonly)
            );
        }
        if ne != 0 {
            at -= 8;
            lowest = at;
        } else {
            lowest = top;
        }
    }
    (r, base.saturating_sub(lowest))
}

struct AssertSend<T>(T);
// SAFETY: the harness runs the closure on a scoped thread and joins it at once; the
// driver's handles and pointers it carries are not thread-affine.
unsafe impl<T> Send for AssertSend<T> {}

/// Runs `f` (a call into the driver) on a fresh thread whose stack is `limit`
/// bytes plus a margin, as logical kernel thread `kthread`, measuring into stack
/// statistic `seg`. Returns `f`'s result and the segment's high-water mark.
pub fn run_segment<R>(seg: usize, limit: usize, kthread: u64, f: impl FnOnce() -> R) -> (R, usize) {
    let job = AssertSend(f);
    let out = std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name(format!("kthread-{kthread}"))
            .stack_size(limit + THREAD_MARGIN)
            .spawn_scoped(s, move || {
                let job = job;
                KTHREAD.set(kthread);
                SEG.set(seg);
                LIMIT.set(limit);
                let side = if SIDE_STACKS.load(Ordering::Relaxed) { take_side_stack() } else { 0 };
                SIDE_TOP.set(side);
                let low = stack_low();
                let (r, hwm) = call_measured(if low == 0 { 0 } else { low + 4096 }, job.0);
                SIDE_TOP.set(0);
                give_side_stack(side);
                SEG.set(usize::MAX);
                AssertSend((r, hwm))
            });
        match handle {
            Ok(h) => h.join().ok(),
            Err(_) => None,
        }
    });
    match out {
        Some(AssertSend(v)) => v,
        None => crate::state::fatal("harness: could not run a kernel thread".to_string()),
    }
}

/// Runs driver code (a callout) from inside a model function: on a new thread
/// with a stack of `limit` bytes (+ margin), same logical kernel thread, model mode
/// off there (a fresh thread starts outside the model).
pub fn callout<R>(seg: usize, limit: usize, f: impl FnOnce() -> R) -> (R, usize) {
    run_segment(seg, limit, kthread(), f)
}

/// The stack statistic the current thread measures into (`usize::MAX`: none).
pub fn current_seg() -> usize {
    SEG.get()
}

/// Fresh logical kernel thread ids.
pub fn next_kthread() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
