//! The control plane (load, reload, promotion) runs on an expanded kernel stack.
//!
//! Its deepest calls are file and registry I/O, below which the I/O manager,
//! the file system and every filter driver run on the same stack. The thread
//! that calls us (`DriverEntry`'s system thread, an IOCTL's caller, the timer's
//! work item) may have used part of its 24 KiB already. `KeExpandKernelStackAndCallout`
//! runs the work on a stack with [`EXPANSION`] bytes free, so Windows gets
//! everything our frames (at most 6 KiB above any call into Windows, measured by
//! `scripts/stack_depth.py`: docs/DRIVER.md) leave.

use wdk_sys::{MAXIMUM_EXPANSION_SIZE, PVOID, SIZE_T, ntddk::KeExpandKernelStackAndCallout};

use crate::nt::nt_success;

/// Bytes of stack requested: the most the kernel grants (`MAXIMUM_EXPANSION_SIZE`,
/// 70 KiB on x64). The control plane runs a few times per boot, so the large
/// stack is held only briefly.
const EXPANSION: SIZE_T = MAXIMUM_EXPANSION_SIZE as SIZE_T;

/// Runs `f` on an expanded stack and returns whether it ran. The kernel
/// allocates the stack, so this can fail under memory pressure; then `f` does
/// not run at all: its deepest leaves (signature checks, index builds) need more
/// than the 24 KiB stack leaves us (docs/DRIVER.md "Kernel stack"), and a
/// double fault here would be a boot loop. The caller keeps its current
/// content and reports or retries.
#[must_use]
pub fn run_expanded<F: FnOnce()>(f: F) -> bool {
    let mut slot: Option<F> = Some(f);
    // SAFETY:
    // 1. callout::<F> matches PEXPAND_STACK_CALLOUT and reads the parameter as the
    //    `Option<F>` it is: `slot` lives on this frame until the call returns, and
    //    the callout runs synchronously, on this thread, before the call returns.
    // 2. EXPANSION <= MAXIMUM_EXPANSION_SIZE; IRQL <= DISPATCH_LEVEL (every caller is
    //    at PASSIVE_LEVEL).
    let status = unsafe { KeExpandKernelStackAndCallout(Some(callout::<F>), (&raw mut slot).cast(), EXPANSION) };
    if slot.is_some() {
        wdk::println!("changuard: no expanded stack ({status:#x}); control-plane work skipped");
        return false;
    }
    nt_success(status)
}

/// The callout: takes `F` out of the slot and calls it (at most once).
unsafe extern "C" fn callout<F: FnOnce()>(parameter: PVOID) {
    // SAFETY: 1. `parameter` is `&raw mut slot` from `run_expanded`, a live, exclusive
    // `Option<F>` for the duration of this synchronous call (see there).
    let slot = unsafe { &mut *parameter.cast::<Option<F>>() };
    if let Some(f) = slot.take() {
        f();
    }
}
