//! The event source: the process-creation notify routine, registered at
//! `DriverEntry` and removed at unload.
//!
//! The routine runs at `PASSIVE_LEVEL` in the creating thread, inside a
//! critical region, on a stack that process creation has already used: it
//! reads the notify structures and the new process's token (token.rs, before
//! the lock) and hands borrowed UTF-16 slices to sensor.rs, which transcodes
//! them into static scratch under the lock.

use core::sync::atomic::{AtomicBool, Ordering};

use wdk_sys::{HANDLE, NTSTATUS, PCUNICODE_STRING, PEPROCESS, PPS_CREATE_NOTIFY_INFO, ntddk::PsSetCreateProcessNotifyRoutineEx};

use crate::nt::nt_success;
use crate::sensor::{self, ProcessCreation};
use crate::token;

static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Whether the notify routine is registered.
pub fn registered() -> bool {
    REGISTERED.load(Ordering::Acquire)
}

/// Registers the process-creation notify routine. Failure (e.g. missing
/// /INTEGRITYCHECK, too many registrations) leaves the driver loaded without it.
///
/// # Errors
/// The `PsSetCreateProcessNotifyRoutineEx` status.
pub fn start() -> Result<(), NTSTATUS> {
    // SAFETY:
    // 1. on_process_notify has the PCREATE_PROCESS_NOTIFY_ROUTINE_EX signature and
    //    lives in the driver image until unload, where it is removed first (`stop`).
    // 2. Remove = FALSE; PASSIVE_LEVEL (DriverEntry).
    let status = unsafe { PsSetCreateProcessNotifyRoutineEx(Some(on_process_notify), 0) };
    if nt_success(status) {
        REGISTERED.store(true, Ordering::Release);
        Ok(())
    } else {
        Err(status)
    }
}

/// Removes the notify routine; when this returns no call of it is in flight.
pub fn stop() {
    if REGISTERED.swap(false, Ordering::AcqRel) {
        // SAFETY:
        // 1. The routine was registered by `start` (the flag was true).
        // 2. Remove = TRUE; PASSIVE_LEVEL (EvtDriverUnload). The call waits for
        //    in-flight callbacks to finish, so none runs after it returns.
        let _ = unsafe { PsSetCreateProcessNotifyRoutineEx(Some(on_process_notify), 1) };
    }
}

/// The UTF-16 units of a possibly-null `PCUNICODE_STRING` (empty when null).
fn units<'a>(s: PCUNICODE_STRING) -> &'a [u16] {
    if s.is_null() {
        return &[];
    }
    // SAFETY: 1. s is non-null and, per the notify contract, points to a valid
    // UNICODE_STRING for the duration of the callback.
    let us = unsafe { *s };
    if us.Buffer.is_null() {
        return &[];
    }
    let n = usize::from(us.Length / 2);
    // SAFETY:
    // 1. Buffer is valid for reads of Length bytes = `n` u16 (UNICODE_STRING contract),
    //    aligned for u16, and not mutated during the callback, which outlives every
    //    use of the slice (the evaluation finishes before the routine returns).
    // 2. n * 2 <= 65534 <= isize::MAX.
    unsafe { core::slice::from_raw_parts(us.Buffer, n) }
}

#[allow(clippy::cast_possible_truncation)] // HANDLE-encoded ids are < 2^32 on Windows
fn handle_id(h: HANDLE) -> u64 {
    h as usize as u64
}

/// `PCREATE_PROCESS_NOTIFY_ROUTINE_EX`: converts, evaluates, counts.
unsafe extern "C" fn on_process_notify(process: PEPROCESS, process_id: HANDLE, create_info: PPS_CREATE_NOTIFY_INFO) {
    if create_info.is_null() {
        sensor::process_exit(handle_id(process_id));
        return;
    }
    // SAFETY: 1. create_info is non-null and valid for the callback's duration (Ps contract).
    let info = unsafe { &*create_info };
    let token = token::query(process);
    let creation = ProcessCreation {
        image: units(info.ImageFileName),
        command_line: units(info.CommandLine),
        process_id: handle_id(process_id),
        parent_id: handle_id(info.ParentProcessId),
        creator_id: handle_id(info.CreatingThreadId.UniqueProcess),
        token: &token,
    };
    let _ = sensor::evaluate_process(&creation);
}
