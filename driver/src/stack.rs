//! The control plane (load, reload, promotion) runs on an expanded kernel stack.
//!
//! Its deepest calls are file and registry I/O, below which the I/O manager,
//! the file system and every filter driver run on the same stack. The thread
//! that calls us (`DriverEntry`'s system thread, an IOCTL's caller, the timer's
//! work item) may have used part of its 24 KiB already. `KeExpandKernelStackAndCallout`
//! runs the work on a stack with [`EXPANSION`] bytes free, so Windows gets
//! everything our frames (at most 6 KiB, measured: docs/DRIVER.md) leave.

use wdk_sys::{MAXIMUM_EXPANSION_SIZE, PVOID, SIZE_T, ntddk::KeExpandKernelStackAndCallout};

use crate::nt::nt_success;

/// Bytes of stack requested: the most the kernel grants (`MAXIMUM_EXPANSION_SIZE`,
/// 70 KiB on x64). The control plane runs a few times per boot, so the large
/// stack is held only briefly.
const EXPANSION: SIZE_T = MAXIMUM_EXPANSION_SIZE as SIZE_T;

/// Runs `f` on an expanded stack. If the kernel cannot provide one (it
/// allocates the stack, so it can fail under memory pressure), runs `f` on the
/// current stack, where our frames are within the same budget, and returns
/// `false`.
pub fn run_expanded<F: FnOnce()>(f: F) -> bool {
    let mut slot: Option<F> = Some(f);
    // SAFETY:
    // 1. callout::<F> matches PEXPAND_STACK_CALLOUT and reads the parameter as the
    //    `Option<F>` it is: `slot` lives on this frame until the call returns, and
    //    the callout runs synchronously, on this thread, before the call returns.
    // 2. EXPANSION <= MAXIMUM_EXPANSION_SIZE; IRQL <= DISPATCH_LEVEL (every caller is
    //    at PASSIVE_LEVEL).
    let status = unsafe { KeExpandKernelStackAndCallout(Some(callout::<F>), (&raw mut slot).cast(), EXPANSION) };
    match slot.take() {
        // Not called (the expansion failed): run here.
        Some(f) => {
            wdk::println!("changuard: stack expansion failed {status:#x}; running on the current stack");
            f();
            false
        }
        None => nt_success(status),
    }
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
