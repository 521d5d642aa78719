//! Ke and Dbg: `KeQueryUnbiasedInterruptTime` and `KeQuerySystemTimePrecise` (the
//! settable wall clock, `Session::set_wall_clock`) on the model clock,
//! `KeExpandKernelStackAndCallout` (the callout runs on a fresh `expanded` stack
//! segment whose limit is the requested size), `KeBugCheckEx` (ends the boot with its
//! code and parameters) and the wdk twin's `DbgPrint` (logged).

use wdk_sys::{LARGE_INTEGER, MAXIMUM_EXPANSION_SIZE, NTSTATUS, PEXPAND_STACK_CALLOUT, PVOID, SIZE_T, ULONG, ULONG_PTR, ULONGLONG};

use crate::probe::enter;
use crate::report::BootEnd;
use crate::state::{self, fatal, with};
use crate::status as st;
use crate::{check_sig, nt_export};

unsafe extern "C" fn ke_query_unbiased_interrupt_time() -> ULONGLONG {
    let _e = enter("KeQueryUnbiasedInterruptTime");
    with(|k| k.clock.unbiased)
}
nt_export!(KeQueryUnbiasedInterruptTime => ke_query_unbiased_interrupt_time);
check_sig!(wdk_sys::ntddk::KeQueryUnbiasedInterruptTime, ke_query_unbiased_interrupt_time);

unsafe extern "C" fn ke_query_system_time_precise(current_time: *mut LARGE_INTEGER) {
    let _e = enter("KeQuerySystemTimePrecise");
    if current_time.is_null() {
        fatal("KeQuerySystemTimePrecise: CurrentTime is NULL".to_string());
    }
    let now = with(|k| k.clock.system);
    // SAFETY: the driver's LARGE_INTEGER, valid for writes (checked non-null).
    unsafe { (*current_time).QuadPart = now };
}
nt_export!(KeQuerySystemTimePrecise => ke_query_system_time_precise);
// Not in the mingw-w64-generated bindings (the driver declares it, platform.rs):
// the signature of wdm.h's `VOID KeQuerySystemTimePrecise(PLARGE_INTEGER)`.
const _: unsafe extern "C" fn(*mut LARGE_INTEGER) = ke_query_system_time_precise;

unsafe extern "C" fn ke_expand_kernel_stack_and_callout(callout: PEXPAND_STACK_CALLOUT, param: PVOID, size: SIZE_T) -> NTSTATUS {
    let _e = enter("KeExpandKernelStackAndCallout");
    let Some(f) = callout else { fatal("KeExpandKernelStackAndCallout: NULL callout".to_string()) };
    let size = size as usize;
    let here = crate::probe::current_seg();
    let plan = with(|k| {
        if let Some(s) = k.faults.hit("KeExpandKernelStackAndCallout") {
            return Err(s);
        }
        if size > MAXIMUM_EXPANSION_SIZE as usize {
            return Err(st::INVALID_PARAMETER_3);
        }
        let path = k.stacks.get(here).map_or_else(|| "?".to_string(), |s| s.row.path.clone());
        Ok(k.seg(&path, "expanded", size))
    });
    let seg = match plan {
        Ok(s) => s,
        Err(s) => return s,
    };
    let ((), hwm) = crate::probe::callout(seg, size, || {
        // SAFETY: the driver's callout with its own parameter, on a new stack segment.
        unsafe { f(param) }
    });
    with(|k| {
        if let Some(s) = k.stacks.get_mut(seg) {
            s.row.runs += 1;
            s.row.hwm = s.row.hwm.max(hwm as u64);
        }
    });
    st::SUCCESS
}
nt_export!(KeExpandKernelStackAndCallout => ke_expand_kernel_stack_and_callout);
check_sig!(wdk_sys::ntddk::KeExpandKernelStackAndCallout, ke_expand_kernel_stack_and_callout);

unsafe extern "C" fn ke_bug_check_ex(code: ULONG, p1: ULONG_PTR, p2: ULONG_PTR, p3: ULONG_PTR, p4: ULONG_PTR) -> ! {
    let _e = enter("KeBugCheckEx");
    with(|k| k.dbg_print(&format!("*** BUGCHECK {code:#010x} ({p1:#x}, {p2:#x}, {p3:#x}, {p4:#x})\n")));
    state::finish(BootEnd::Bugcheck { code, params: [p1 as u64, p2 as u64, p3 as u64, p4 as u64] })
}
nt_export!(KeBugCheckEx => ke_bug_check_ex);
check_sig!(wdk_sys::ntddk::KeBugCheckEx, ke_bug_check_ex);

/// `DbgPrint("%s", text)` of the wdk twin's `println!`.
unsafe extern "C" fn harness_dbg_print(text: *const u8) -> u32 {
    let _e = enter("DbgPrint");
    if text.is_null() {
        return 0;
    }
    // SAFETY: the twin passes a NUL-terminated buffer.
    let s = unsafe { core::ffi::CStr::from_ptr(text.cast()) }.to_string_lossy().into_owned();
    with(|k| k.dbg_print(&s));
    0
}
nt_export!(HarnessDbgPrint => harness_dbg_print);
