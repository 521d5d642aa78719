//! Processes: `PsSetCreateProcessNotifyRoutineEx` (one routine may be registered;
//! removing an unknown one is `PROCEDURE_NOT_FOUND`). The session's process
//! creation and exit events call the registered routine (see `machine.rs`).

use wdk_sys::{BOOLEAN, NTSTATUS, PCREATE_PROCESS_NOTIFY_ROUTINE_EX};

use crate::probe::enter;
use crate::state::with_fatal;
use crate::status as st;
use crate::{check_sig, nt_export};

unsafe extern "C" fn ps_set_create_process_notify_routine_ex(routine: PCREATE_PROCESS_NOTIFY_ROUTINE_EX, remove: BOOLEAN) -> NTSTATUS {
    let _e = enter("PsSetCreateProcessNotifyRoutineEx");
    with_fatal(|k| {
        let Some(f) = routine else { return Err("PsSetCreateProcessNotifyRoutineEx: NULL routine".to_string()) };
        if remove == 0 {
            if let Some(s) = k.faults.hit("PsSetCreateProcessNotifyRoutineEx") {
                return Ok(s);
            }
            if k.notify.is_some() {
                return Ok(st::INVALID_PARAMETER);
            }
            k.notify = Some(f);
            Ok(st::SUCCESS)
        } else if k.notify.map(|g| g as usize) == Some(f as usize) {
            k.notify = None;
            Ok(st::SUCCESS)
        } else {
            Ok(st::PROCEDURE_NOT_FOUND)
        }
    })
}
nt_export!(PsSetCreateProcessNotifyRoutineEx => ps_set_create_process_notify_routine_ex);
check_sig!(wdk_sys::ntddk::PsSetCreateProcessNotifyRoutineEx, ps_set_create_process_notify_routine_ex);
