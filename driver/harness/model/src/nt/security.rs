//! Security descriptors: the Rtl routines that build an absolute descriptor and
//! its DACL (implemented on the caller's bytes, with their documented checks),
//! `SeExports` (SYSTEM and Administrators SIDs), and `ZwSetSecurityObject`, which
//! needs `WRITE_DAC` on the handle and records the DACL per object in
//! [`crate::Persist::security`]. Access checks against DACLs are not modeled: the
//! tests read the recorded DACL (who may open the object), and inheritance is
//! computed on demand ([`crate::Persist::effective_dacl`]). Security changes are
//! durable at once (a simplification: NTFS logs them like other metadata).
use wdk_sys::{ACCESS_MASK, BOOLEAN, HANDLE, NTSTATUS, PACL, PSECURITY_DESCRIPTOR, PSE_EXPORTS, PSID, SE_EXPORTS, SECURITY_INFORMATION, ULONG};

use crate::probe::enter;
use crate::security::{Ace, Dacl, parse_acl, sid_string};
use crate::state::{Handle, Obj, fatal, with_fatal};
use crate::status as st;
use crate::{check_sig, nt_export};

const ACL_HEADER: usize = 8;
const SE_DACL_PRESENT: u16 = 0x0004;
const SE_SELF_RELATIVE: u16 = 0x8000;
const STATUS_ALLOTTED_SPACE_EXCEEDED: NTSTATUS = 0xC000_0099_u32 as i32;
const STATUS_INVALID_ACL: NTSTATUS = 0xC000_0077_u32 as i32;
const STATUS_UNKNOWN_REVISION: NTSTATUS = 0xC000_0058_u32 as i32;
const STATUS_INVALID_SID: NTSTATUS = 0xC000_0078_u32 as i32;

/// The kernel's `SeExports` (filled by [`install`]).
#[unsafe(no_mangle)]
pub static mut SeExports: PSE_EXPORTS = core::ptr::null_mut();

/// S-1-5-18 and S-1-5-32-544 as SID bytes.
const SYSTEM_SID: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
const ADMINS_SID: [u8; 16] = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0];

/// Fills `SeExports` (each boot child, before the driver runs).
pub fn install() {
    // SAFETY: SE_EXPORTS is plain data; all-zero is valid (null SIDs).
    let mut e: SE_EXPORTS = unsafe { core::mem::zeroed() };
    e.SeLocalSystemSid = Box::leak(Box::new(SYSTEM_SID)).as_mut_ptr().cast();
    e.SeAliasAdminsSid = Box::leak(Box::new(ADMINS_SID)).as_mut_ptr().cast();
    // SAFETY: single-threaded setup before any driver code runs.
    unsafe { SeExports = Box::leak(Box::new(e)) };
}

/// Length of the SID at `sid` (8 + 4 per subauthority), checked.
///
/// # Safety
/// `sid` is null or points to at least 8 readable bytes and its subauthorities.
unsafe fn sid_len(sid: PSID) -> Result<usize, NTSTATUS> {
    if sid.is_null() {
        return Err(STATUS_INVALID_SID);
    }
    // SAFETY: caller contract (the 8-byte header).
    let head = unsafe { core::slice::from_raw_parts(sid.cast::<u8>(), 8) };
    if head[0] != 1 || head[1] > 15 {
        return Err(STATUS_INVALID_SID);
    }
    Ok(8 + 4 * usize::from(head[1]))
}

/// `(AclSize, AceCount, bytes used)` of an initialized ACL.
///
/// # Safety
/// `acl` points to an ACL header whose `AclSize` bytes are readable.
unsafe fn acl_used(acl: PACL) -> Result<(usize, u16, usize), NTSTATUS> {
    // SAFETY: caller contract.
    let a = unsafe { *acl };
    let size = usize::from(a.AclSize);
    if !(2..=4).contains(&a.AclRevision) || size < ACL_HEADER {
        return Err(STATUS_INVALID_ACL);
    }
    // SAFETY: caller contract: AclSize bytes readable.
    let bytes = unsafe { core::slice::from_raw_parts(acl.cast::<u8>(), size) };
    let mut at = ACL_HEADER;
    for _ in 0..a.AceCount {
        let n = bytes.get(at + 2..at + 4).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]]))).ok_or(STATUS_INVALID_ACL)?;
        if n < 4 || at + n > size {
            return Err(STATUS_INVALID_ACL);
        }
        at += n;
    }
    Ok((size, a.AceCount, at))
}

unsafe extern "C" fn rtl_create_acl(acl: PACL, len: ULONG, rev: ULONG) -> NTSTATUS {
    let _e = enter("RtlCreateAcl");
    if acl.is_null() {
        fatal("RtlCreateAcl: Acl is NULL".to_string());
    }
    if (len as usize) < ACL_HEADER || len > 0xFFFF || len % 4 != 0 {
        return st::INVALID_PARAMETER;
    }
    if !(2..=4).contains(&rev) {
        return STATUS_UNKNOWN_REVISION;
    }
    // SAFETY: the caller's buffer of `len` bytes (the documented contract).
    unsafe {
        core::ptr::write_bytes(acl.cast::<u8>(), 0, len as usize);
        (*acl).AclRevision = rev as u8;
        (*acl).AclSize = len as u16;
    }
    st::SUCCESS
}
nt_export!(RtlCreateAcl => rtl_create_acl);
check_sig!(wdk_sys::ntddk::RtlCreateAcl, rtl_create_acl);

unsafe extern "C" fn rtl_add_access_allowed_ace_ex(acl: PACL, rev: ULONG, flags: ULONG, mask: ACCESS_MASK, sid: PSID) -> NTSTATUS {
    let _e = enter("RtlAddAccessAllowedAceEx");
    if acl.is_null() {
        fatal("RtlAddAccessAllowedAceEx: Acl is NULL".to_string());
    }
    // SAFETY: the driver's initialized ACL and SID (documented contract).
    let r = unsafe { acl_used(acl).and_then(|u| sid_len(sid).map(|s| (u, s))) };
    let ((size, count, used), slen) = match r {
        Ok(v) => v,
        Err(s) => return s,
    };
    if !(2..=4).contains(&rev) {
        return STATUS_UNKNOWN_REVISION;
    }
    if flags & !0x1F != 0 {
        return st::INVALID_PARAMETER;
    }
    let ace = 8 + slen;
    if used + ace > size {
        return STATUS_ALLOTTED_SPACE_EXCEEDED;
    }
    // SAFETY: `ace` bytes at `used` are inside the ACL (checked); the SID is `slen` bytes.
    unsafe {
        let p = acl.cast::<u8>().add(used);
        *p = 0; // ACCESS_ALLOWED_ACE_TYPE
        *p.add(1) = flags as u8;
        p.add(2).cast::<[u8; 2]>().write_unaligned((ace as u16).to_le_bytes());
        p.add(4).cast::<[u8; 4]>().write_unaligned(mask.to_le_bytes());
        core::ptr::copy_nonoverlapping(sid.cast::<u8>(), p.add(8), slen);
        (*acl).AceCount = count + 1;
    }
    st::SUCCESS
}
nt_export!(RtlAddAccessAllowedAceEx => rtl_add_access_allowed_ace_ex);
check_sig!(wdk_sys::ntddk::RtlAddAccessAllowedAceEx, rtl_add_access_allowed_ace_ex);

unsafe extern "C" fn rtl_create_security_descriptor(sd: PSECURITY_DESCRIPTOR, rev: ULONG) -> NTSTATUS {
    let _e = enter("RtlCreateSecurityDescriptor");
    if sd.is_null() {
        fatal("RtlCreateSecurityDescriptor: SecurityDescriptor is NULL".to_string());
    }
    if rev != 1 {
        return STATUS_UNKNOWN_REVISION;
    }
    // SAFETY: the caller's SECURITY_DESCRIPTOR (documented contract).
    unsafe {
        let d = sd.cast::<wdk_sys::SECURITY_DESCRIPTOR>();
        d.write(core::mem::zeroed());
        (*d).Revision = 1;
    }
    st::SUCCESS
}
nt_export!(RtlCreateSecurityDescriptor => rtl_create_security_descriptor);
check_sig!(wdk_sys::ntddk::RtlCreateSecurityDescriptor, rtl_create_security_descriptor);

unsafe extern "C" fn rtl_set_dacl_security_descriptor(sd: PSECURITY_DESCRIPTOR, present: BOOLEAN, acl: PACL, defaulted: BOOLEAN) -> NTSTATUS {
    let _e = enter("RtlSetDaclSecurityDescriptor");
    if sd.is_null() {
        fatal("RtlSetDaclSecurityDescriptor: SecurityDescriptor is NULL".to_string());
    }
    // SAFETY: the caller's descriptor, created by RtlCreateSecurityDescriptor.
    unsafe {
        let d = sd.cast::<wdk_sys::SECURITY_DESCRIPTOR>();
        if (*d).Revision != 1 {
            return STATUS_UNKNOWN_REVISION;
        }
        if (*d).Control & SE_SELF_RELATIVE != 0 {
            return 0xC000_0079_u32 as i32; // STATUS_INVALID_SECURITY_DESCR
        }
        let _ = defaulted;
        if present != 0 {
            (*d).Control |= SE_DACL_PRESENT;
            (*d).Dacl = acl;
        } else {
            (*d).Control &= !SE_DACL_PRESENT;
            (*d).Dacl = core::ptr::null_mut();
        }
    }
    st::SUCCESS
}
nt_export!(RtlSetDaclSecurityDescriptor => rtl_set_dacl_security_descriptor);
check_sig!(wdk_sys::ntddk::RtlSetDaclSecurityDescriptor, rtl_set_dacl_security_descriptor);

/// The DACL of an absolute descriptor, parsed.
///
/// # Safety
/// `sd` points to an initialized SECURITY_DESCRIPTOR whose DACL pointer is valid.
unsafe fn read_dacl(sd: PSECURITY_DESCRIPTOR) -> Result<Vec<Ace>, String> {
    // SAFETY: caller contract.
    let d = unsafe { &*sd.cast::<wdk_sys::SECURITY_DESCRIPTOR>() };
    if d.Revision != 1 || d.Control & SE_SELF_RELATIVE != 0 || d.Control & SE_DACL_PRESENT == 0 || d.Dacl.is_null() {
        return Err(format!("descriptor not absolute with a DACL (revision {}, control {:#x})", d.Revision, d.Control));
    }
    // SAFETY: caller contract: the ACL is valid.
    let (size, _, _) = unsafe { acl_used(d.Dacl) }.map_err(|s| format!("invalid ACL ({s:#x})"))?;
    // SAFETY: acl_used checked AclSize bytes readable.
    let bytes = unsafe { core::slice::from_raw_parts(d.Dacl.cast::<u8>(), size) };
    parse_acl(bytes)
}

unsafe extern "C" fn zw_set_security_object(h: HANDLE, info: SECURITY_INFORMATION, sd: PSECURITY_DESCRIPTOR) -> NTSTATUS {
    let _e = enter("ZwSetSecurityObject");
    if sd.is_null() {
        return st::INVALID_PARAMETER;
    }
    with_fatal(|k| {
        let (path, access) = match k.handles.get(&(h as usize)) {
            Some(Handle { obj: Obj::File(f), .. }) => (crate::fs::fold(&f.path), f.access),
            Some(Handle { obj: Obj::Key { path, access }, .. }) => (crate::registry::fold(path), *access),
            None => return Err(format!("ZwSetSecurityObject({h:p}): not an open handle (INVALID_KERNEL_HANDLE)")),
        };
        if let Some(s) = k.faults.hit("ZwSetSecurityObject") {
            return Ok(s);
        }
        const DACL: u32 = wdk_sys::DACL_SECURITY_INFORMATION;
        if info & DACL == 0 {
            return Err(format!("ZwSetSecurityObject: SecurityInformation {info:#x} without DACL_SECURITY_INFORMATION is not modeled"));
        }
        if access & wdk_sys::WRITE_DAC == 0 {
            return Ok(st::ACCESS_DENIED);
        }
        // SAFETY: the driver's descriptor, valid for the call.
        let aces = unsafe { read_dacl(sd) }.map_err(|e| format!("ZwSetSecurityObject: {e}"))?;
        let protected = info & wdk_sys::PROTECTED_DACL_SECURITY_INFORMATION != 0;
        k.persist.security.insert(path, Dacl { aces, protected });
        Ok(st::SUCCESS)
    })
}
nt_export!(ZwSetSecurityObject => zw_set_security_object);
check_sig!(wdk_sys::ntddk::ZwSetSecurityObject, zw_set_security_object);

/// For tests: the SID string of `SeExports`' SYSTEM SID.
pub fn system_sid() -> String {
    sid_string(&SYSTEM_SID).unwrap_or_default()
}
