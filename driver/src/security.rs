//! Security descriptors for what the driver keeps: the LKG store (SYSTEM only,
//! inherited by every file in it) and the `Parameters\State` and `Status` keys
//! (SYSTEM; Administrators may read). Without them the store inherits
//! `\SystemRoot`'s DACL (Users can read, so any user can hold the LKG file open and
//! make the promotion's rename fail) and the keys the service key's.
//!
//! Applied with `ZwSetSecurityObject(DACL | PROTECTED_DACL)` after opening, so the
//! same code protects a store created now and one an older build created; the DACL
//! is protected so nothing is inherited from the parent. Handles opened before the
//! first protection keep their access until closed (the store is empty then).
//!
//! Invariant S1: a [`Dacl`] lives in pool at a fixed address (built in place
//! behind a `Box` and never moved out), so the descriptor's `Dacl` pointer into
//! its own `acl` buffer stays valid for its whole life.

use alloc::boxed::Box;

use wdk_sys::{
    ACCESS_MASK, ACL, ACL_REVISION, CONTAINER_INHERIT_ACE, DACL_SECURITY_INFORMATION, FILE_ALL_ACCESS, HANDLE,
    KEY_ALL_ACCESS, KEY_READ, NTSTATUS, OBJECT_INHERIT_ACE, PROTECTED_DACL_SECURITY_INFORMATION, PSID,
    SECURITY_DESCRIPTOR, SECURITY_DESCRIPTOR_REVISION, ULONG,
    ntddk::{RtlAddAccessAllowedAceEx, RtlCreateAcl, RtlCreateSecurityDescriptor, RtlSetDaclSecurityDescriptor, ZwSetSecurityObject},
};

use crate::nt::{nt_success, try_box};

/// Room for two ACEs with well-known SIDs (an ACE with a 2-subauthority SID is 24 bytes).
const ACL_BYTES: usize = 128;

/// An absolute security descriptor and the DACL it points to (S1).
#[repr(C)]
pub struct Dacl {
    sd: SECURITY_DESCRIPTOR,
    acl: [u64; ACL_BYTES / 8],
}

/// Who gets what, one ACE each.
struct Grant {
    sid: PSID,
    mask: ACCESS_MASK,
}

impl Dacl {
    /// SYSTEM: `FILE_ALL_ACCESS`, inherited by files and subdirectories; nobody else.
    pub fn store() -> Result<Box<Self>, NTSTATUS> {
        let sids = well_known()?;
        Self::build(&[Grant { sid: sids.system, mask: FILE_ALL_ACCESS }], OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE)
    }

    /// SYSTEM: `KEY_ALL_ACCESS`; Administrators: `KEY_READ` (for `reg query`).
    pub fn private_key() -> Result<Box<Self>, NTSTATUS> {
        let sids = well_known()?;
        Self::build(
            &[Grant { sid: sids.system, mask: KEY_ALL_ACCESS }, Grant { sid: sids.admins, mask: KEY_READ }],
            CONTAINER_INHERIT_ACE,
        )
    }

    fn build(grants: &[Grant], inherit: u32) -> Result<Box<Self>, NTSTATUS> {
        let zero = Dacl {
            // SAFETY: SECURITY_DESCRIPTOR is plain data (integers and pointers); all-zero is valid.
            sd: unsafe { core::mem::zeroed() },
            acl: [0; ACL_BYTES / 8],
        };
        let mut d = try_box(zero).map_err(|_| wdk_sys::STATUS_INSUFFICIENT_RESOURCES)?;
        let acl: *mut ACL = d.acl.as_mut_ptr().cast();
        let len = ULONG::try_from(ACL_BYTES).map_err(|_| wdk_sys::STATUS_INTERNAL_ERROR)?;
        // SAFETY:
        // 1. acl points to ACL_BYTES writable, 8-aligned bytes inside the boxed Dacl (S1).
        // 2. PASSIVE_LEVEL or below (Rtl ACL routines are any-IRQL on nonpaged memory).
        let mut status = unsafe { RtlCreateAcl(acl, len, ACL_REVISION) };
        for g in grants {
            if !nt_success(status) {
                return Err(status);
            }
            // SAFETY: 1. acl was initialized above and has room (ACL_BYTES >= 2 ACEs).
            // 2. g.sid points to a valid SID owned by the kernel (SeExports).
            status = unsafe { RtlAddAccessAllowedAceEx(acl, ACL_REVISION, inherit, g.mask, g.sid) };
        }
        if !nt_success(status) {
            return Err(status);
        }
        let sd: *mut SECURITY_DESCRIPTOR = &raw mut d.sd;
        // SAFETY: 1. sd points to the boxed, writable descriptor (S1).
        status = unsafe { RtlCreateSecurityDescriptor(sd.cast(), SECURITY_DESCRIPTOR_REVISION) };
        if !nt_success(status) {
            return Err(status);
        }
        // SAFETY: 1. sd was just initialized; acl is a valid ACL in the same box (S1),
        // so the pointer the descriptor keeps stays valid as long as the Dacl.
        status = unsafe { RtlSetDaclSecurityDescriptor(sd.cast(), 1, acl, 0) };
        if nt_success(status) { Ok(d) } else { Err(status) }
    }

    /// Replaces the DACL of the object `h` refers to (opened with `WRITE_DAC`).
    pub fn apply(&self, h: HANDLE) -> Result<(), NTSTATUS> {
        let sd: *const SECURITY_DESCRIPTOR = &raw const self.sd;
        // SAFETY:
        // 1. h is a valid kernel handle the caller opened with WRITE_DAC.
        // 2. sd is an initialized absolute descriptor whose DACL lives in self (S1);
        //    the call only reads it. PASSIVE_LEVEL (callers: load and promotion paths).
        let status = unsafe {
            ZwSetSecurityObject(h, DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, sd.cast_mut().cast())
        };
        if nt_success(status) { Ok(()) } else { Err(status) }
    }
}

struct WellKnown {
    system: PSID,
    admins: PSID,
}

fn well_known() -> Result<WellKnown, NTSTATUS> {
    // SAFETY: 1. SeExports is initialized by the kernel before any driver loads and
    // never changes; reading the pointer and its SID fields is a plain read.
    let e = unsafe { wdk_sys::SeExports };
    if e.is_null() {
        return Err(wdk_sys::STATUS_INTERNAL_ERROR);
    }
    // SAFETY: 1. e is the kernel's SE_EXPORTS (non-null, checked above), read only.
    let exports = unsafe { &*e };
    let (system, admins) = (exports.SeLocalSystemSid, exports.SeAliasAdminsSid);
    if system.is_null() || admins.is_null() {
        return Err(wdk_sys::STATUS_INTERNAL_ERROR);
    }
    Ok(WellKnown { system, admins })
}
