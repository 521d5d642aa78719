//! The driver's `Parameters` registry key, opened through WDF and used with `Zw*`.
//!
//! Module invariant:
//! - P1: a [`ParamsKey`] holds a WDFKEY from `WdfDriverOpenParametersRegistryKey`,
//!   closed once with `WdfRegistryClose` in Drop; its WDM handle is borrowed, never
//!   closed by us.

use wdk_sys::{KEY_READ, KEY_WRITE, NTSTATUS, WDF_NO_OBJECT_ATTRIBUTES, WDFDRIVER, WDFKEY, call_unsafe_wdf_function_binding};

use crate::nt::{KernelHandle, nt_success};
use crate::platform::RegKey;

/// The driver's `Parameters` key (P1), usable with `Zw*` through [`ParamsKey::key`].
pub struct ParamsKey {
    wdf: WDFKEY,
    key: core::mem::ManuallyDrop<RegKey>,
}

impl ParamsKey {
    /// `WdfDriverOpenParametersRegistryKey` + `WdfRegistryWdmGetHandle` (`PASSIVE_LEVEL`).
    pub fn open(driver: WDFDRIVER) -> Result<Self, NTSTATUS> {
        let mut wdf: WDFKEY = core::ptr::null_mut();
        // SAFETY:
        // 1. driver is the live WDFDRIVER (the caller holds it from DriverEntry to unload).
        // 2. wdf is valid for writes; no attributes; PASSIVE_LEVEL (all callers).
        let status: NTSTATUS = unsafe {
            call_unsafe_wdf_function_binding!(
                WdfDriverOpenParametersRegistryKey,
                driver,
                KEY_READ | KEY_WRITE,
                WDF_NO_OBJECT_ATTRIBUTES,
                &raw mut wdf
            )
        };
        if !nt_success(status) {
            return Err(status);
        }
        // SAFETY: 1. wdf is a valid, open WDFKEY (the call above succeeded).
        let h = unsafe { call_unsafe_wdf_function_binding!(WdfRegistryWdmGetHandle, wdf) };
        // SAFETY:
        // 1. h is the WDM handle of the open WDFKEY, valid until WdfRegistryClose.
        // 2. The RegKey is wrapped in ManuallyDrop and never dropped, so ZwClose is never
        //    called on it: WDF closes the handle in WdfRegistryClose (P1).
        let key = core::mem::ManuallyDrop::new(RegKey::from_handle(unsafe { KernelHandle::from_raw(h) }));
        Ok(Self { wdf, key })
    }

    /// The key for `Zw*` calls.
    pub fn key(&self) -> &RegKey {
        &self.key
    }

    /// Creates/opens `Parameters\<name>`, readable by SYSTEM and Administrators only.
    pub fn subkey(&self, name: &str) -> Result<RegKey, changuard_loader::platform::IoError> {
        RegKey::create_private(self.key.raw(), name)
    }
}

impl Drop for ParamsKey {
    fn drop(&mut self) {
        // SAFETY: 1. P1: self.wdf is open and closed exactly once, here. 2. PASSIVE_LEVEL.
        unsafe { call_unsafe_wdf_function_binding!(WdfRegistryClose, self.wdf) };
    }
}

