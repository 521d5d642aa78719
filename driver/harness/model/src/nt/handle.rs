//! Handles: `ZwClose` of a kernel handle of any type. Closing an unknown handle, or
//! one owned by a WDFKEY (which `WdfRegistryClose` closes), is fatal, as the verifier
//! would stop on it.

use wdk_sys::{HANDLE, NTSTATUS};

use crate::probe::enter;
use crate::state::with_fatal;
use crate::status as st;
use crate::{check_sig, nt_export};

unsafe extern "C" fn zw_close(h: HANDLE) -> NTSTATUS {
    let _e = enter("ZwClose");
    with_fatal(|k| {
        let Some(entry) = k.handles.get(&(h as usize)) else {
            return Err(format!("ZwClose({h:p}): not an open handle (INVALID_KERNEL_HANDLE)"));
        };
        if entry.wdf_owned {
            return Err(format!("ZwClose({h:p}): the handle belongs to a WDFKEY (WdfRegistryClose closes it)"));
        }
        k.handles.remove(&(h as usize));
        Ok(st::SUCCESS)
    })
}
nt_export!(ZwClose => zw_close);
check_sig!(wdk_sys::ntddk::ZwClose, zw_close);
