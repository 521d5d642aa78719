//! Host twin of `wdk-sys` 0.5.2 for the changuard driver harness.
//!
//! Same items, same paths, same types as the real crate built for
//! x86_64-pc-windows-msvc (the generated bindings are the real ones, copied with
//! `LONG`/`ULONG` fixed to 32 bits: see build.rs), so the driver source compiles
//! unmodified on Linux. The differences:
//! - `WdfFunctions`/`WdfDriverGlobals`/`WdfFunctionCount` are statics of this
//!   crate that the model (`changuard-kmodel`) fills with its own functions;
//! - the `ntddk` functions stay `extern "C"` declarations, resolved at link time
//!   against the model's `#[unsafe(no_mangle)]` definitions;
//! - [`__harness`] holds the per-thread "driver is running" state the host
//!   allocator (`wdk-alloc` twin) and the model share. The driver never uses it.
#![no_std]
#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case, missing_docs, clippy::all)]

extern crate std;

#[doc(hidden)]
pub use wdk_macros as __proc_macros;

pub use crate::{constants::*, types::*};

#[allow(
    unsafe_op_in_unsafe_fn,
    dead_code,
    unnecessary_transmutes,
    clippy::all,
    clippy::pedantic,
    improper_ctypes,
    unpredictable_function_pointer_comparisons
)]
mod types {
    include!(concat!(env!("OUT_DIR"), "/types.rs"));
}

#[allow(clippy::all, dead_code)]
mod constants {
    include!(concat!(env!("OUT_DIR"), "/wdk_constants.rs"));
}

/// `ntddk.h` functions: declarations only; the model defines the ones the driver calls.
#[allow(clippy::all, improper_ctypes, unsafe_op_in_unsafe_fn)]
pub mod ntddk {
    pub use bindings::*;
    mod bindings {
        #[allow(unused_imports)]
        use crate::types::*;
        include!(concat!(env!("OUT_DIR"), "/ntddk.rs"));
    }
}

/// `wdf.h` functions (only the non-table ones are here, as in wdk-sys).
#[allow(clippy::all, improper_ctypes)]
pub mod wdf {
    pub use bindings::*;
    mod bindings {
        #[allow(unused_imports)]
        use crate::types::*;
        include!(concat!(env!("OUT_DIR"), "/wdf.rs"));
    }
    #[doc(hidden)]
    pub mod __private {
        include!(concat!(env!("OUT_DIR"), "/wdf_function_count.rs"));
    }
}

mod macros {
    include!(concat!(env!("OUT_DIR"), "/call_unsafe_wdf_function_binding.rs"));
}

// The KMDF globals the stub library (WdfDriverEntry.lib) defines on Windows. The
// model sets them before `DriverEntry` (the function table, its length, the
// driver globals pointer the table's functions receive first).
/// The KMDF function table (`WdfFunctions_01033`).
pub static mut WdfFunctions: *const WDFFUNC = core::ptr::null();
/// Opaque per-driver globals passed as the first argument of every table function.
pub static mut WdfDriverGlobals: PWDF_DRIVER_GLOBALS = core::ptr::null_mut();
/// Number of entries in [`WdfFunctions`].
pub static mut WdfFunctionCount: ULONG = 0;
pub static mut WdfStructureCount: ULONG = 0;
pub static mut WdfStructures: WDF_STRUCT_INFO = core::ptr::null_mut();
pub static mut WdfClientVersionHigherThanFramework: BOOLEAN = 0;
pub static mut WdfDriverMiniportUnloadOverride: WDFFUNC = None;

/// `NT_SUCCESS` (ntdef.h).
#[must_use]
pub const fn NT_SUCCESS(nt_status: NTSTATUS) -> bool {
    nt_status >= 0
}

/// `NT_INFORMATION` (ntdef.h).
#[must_use]
pub const fn NT_INFORMATION(nt_status: NTSTATUS) -> bool {
    (nt_status as u32 >> 30) == 1
}

/// `NT_WARNING` (ntdef.h).
#[must_use]
pub const fn NT_WARNING(nt_status: NTSTATUS) -> bool {
    (nt_status as u32 >> 30) == 2
}

/// `NT_ERROR` (ntdef.h).
#[must_use]
pub const fn NT_ERROR(nt_status: NTSTATUS) -> bool {
    (nt_status as u32 >> 30) == 3
}

/// `PAGED_CODE()`: the model runs everything at `PASSIVE_LEVEL`.
#[macro_export]
macro_rules! PAGED_CODE {
    () => {};
}

/// Harness plumbing shared by the host twins and the model (not part of wdk-sys).
#[doc(hidden)]
pub mod __harness {
    use core::cell::Cell;
    use core::sync::atomic::{AtomicPtr, Ordering};

    include!(concat!(env!("OUT_DIR"), "/wdf_names.rs"));

    std::thread_local! {
        /// > 0 while driver code runs on this thread (the harness sets it around a
        /// driver entry point, the model around a callout).
        static DRIVER: Cell<u32> = const { Cell::new(0) };
        /// > 0 while model code runs on this thread (inside a model entry point).
        static MODEL: Cell<u32> = const { Cell::new(0) };
    }

    /// Is the code allocating right now the driver's? (driver running, not inside the model)
    #[inline]
    pub fn driver_context() -> bool {
        DRIVER.with(Cell::get) > 0 && MODEL.with(Cell::get) == 0
    }
    /// Enter/leave driver code on this thread.
    pub fn driver_enter() {
        DRIVER.with(|c| c.set(c.get() + 1));
    }
    pub fn driver_leave() {
        DRIVER.with(|c| c.set(c.get().saturating_sub(1)));
    }
    /// Enter/leave model code on this thread; returns the previous depth.
    pub fn model_enter() -> u32 {
        MODEL.with(|c| {
            let v = c.get();
            c.set(v + 1);
            v
        })
    }
    pub fn model_leave() {
        MODEL.with(|c| c.set(c.get().saturating_sub(1)));
    }
    /// Replace the model depth (a callout runs driver code from inside the model).
    pub fn model_set(v: u32) -> u32 {
        MODEL.with(|c| c.replace(v))
    }

    /// What an unknown WDF table slot does (set by the model; default: abort).
    static UNKNOWN_HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

    /// Installs the handler called when the driver calls a slot the model lacks.
    pub fn set_unknown_wdf_hook(f: fn(usize, &'static str) -> !) {
        UNKNOWN_HOOK.store(f as *mut (), Ordering::Release);
    }

    fn unknown_wdf_function(index: usize) -> ! {
        let name = WDF_FUNCTION_NAMES.get(index).copied().unwrap_or("?");
        let hook = UNKNOWN_HOOK.load(Ordering::Acquire);
        if !hook.is_null() {
            // SAFETY: only `set_unknown_wdf_hook` stores into UNKNOWN_HOOK, always a
            // `fn(usize, &'static str) -> !`.
            let f: fn(usize, &'static str) -> ! = unsafe { core::mem::transmute(hook) };
            f(index, name);
        }
        std::eprintln!("HARNESS: the driver called WDF function {name} (table index {index}), which the model does not implement");
        std::process::abort();
    }
}
