//! The new process's primary token as event fields: user SID, session id,
//! integrity level and elevation.
//!
//! Read in the notify routine before the sensor lock is taken:
//! `SeQueryInformationToken` allocates its reply from pool and runs at
//! `PASSIVE_LEVEL`, neither of which belongs under the lock. A query that
//! fails leaves its field empty (`""` or 0, what the driver sent before it
//! read tokens); the process is evaluated all the same. What the bytes mean
//! (SID text, the label's RID) is decided in `changuard_interp::kernel_values`.
//!
//! Module invariant: T1: an [`Info`] owns a buffer `SeQueryInformationToken`
//! returned for a token this module referenced, freed exactly once in `Drop`.

use core::ffi::c_void;
use core::ptr::NonNull;

use changuard_sensor::kernel_values::{MAX_SID_LEN, MAX_SUB_AUTHORITIES, integrity_rid, sid_len};
use wdk_sys::{
    _TOKEN_INFORMATION_CLASS as Class, PACCESS_TOKEN, PEPROCESS, PVOID, SID_AND_ATTRIBUTES, TOKEN_INFORMATION_CLASS,
    ntddk::{ExFreePool, PsDereferencePrimaryToken, PsReferencePrimaryToken, SeQueryInformationToken},
};

use crate::nt::nt_success;

/// What the sensor takes from a token: about 100 bytes, on the notify
/// routine's stack.
#[derive(Clone, Copy)]
pub struct TokenFields {
    user_sid: [u8; MAX_SID_LEN],
    user_sid_len: usize,
    /// `TokenSessionId` (0 if the query failed).
    pub session_id: u64,
    /// The mandatory label's RID, e.g. 0x2000 Medium (0 if the query failed).
    pub integrity_level: u64,
    /// `TokenElevation`: 1 elevated, 0 not (or the query failed).
    pub elevated: u64,
}

impl TokenFields {
    /// Every field empty.
    pub const EMPTY: TokenFields =
        TokenFields { user_sid: [0; MAX_SID_LEN], user_sid_len: 0, session_id: 0, integrity_level: 0, elevated: 0 };

    /// The user SID, binary (empty if the query failed).
    pub fn user_sid(&self) -> &[u8] {
        self.user_sid.get(..self.user_sid_len).unwrap_or(&[])
    }
}

/// The token fields of `process` (the EPROCESS the notify routine received).
#[inline(never)] // its frame is gone before the evaluation's (docs/DRIVER.md "Kernel stack")
pub fn query(process: PEPROCESS) -> TokenFields {
    let mut f = TokenFields::EMPTY;
    if process.is_null() {
        return f;
    }
    // SAFETY: 1. process is the notify routine's EPROCESS, referenced by the caller
    //    for the callback's duration; PASSIVE_LEVEL (the routine's level).
    let token: PACCESS_TOKEN = unsafe { PsReferencePrimaryToken(process) };
    if token.is_null() {
        return f;
    }
    if let Some(info) = Info::query(token, Class::TokenUser) {
        f.user_sid_len = info.sid(&mut f.user_sid).unwrap_or(0);
    }
    if let Some(info) = Info::query(token, Class::TokenIntegrityLevel) {
        let mut label = [0u8; MAX_SID_LEN];
        let len = info.sid(&mut label).unwrap_or(0);
        f.integrity_level = label.get(..len).and_then(integrity_rid).map_or(0, u64::from);
    }
    if let Some(info) = Info::query(token, Class::TokenSessionId) {
        f.session_id = u64::from(info.ulong());
    }
    if let Some(info) = Info::query(token, Class::TokenElevation) {
        f.elevated = u64::from(info.ulong() != 0);
    }
    // SAFETY: 1. Releases the reference PsReferencePrimaryToken took above, once.
    unsafe { PsDereferencePrimaryToken(token) };
    f
}

/// One `SeQueryInformationToken` reply (T1).
struct Info(NonNull<c_void>);

impl Info {
    fn query(token: PACCESS_TOKEN, class: TOKEN_INFORMATION_CLASS) -> Option<Info> {
        let mut p: PVOID = core::ptr::null_mut();
        // SAFETY: 1. token is referenced by `query` for this call; p is a writable
        //    out pointer; PASSIVE_LEVEL.
        let status = unsafe { SeQueryInformationToken(token, class, &raw mut p) };
        if !nt_success(status) {
            return None;
        }
        NonNull::new(p).map(Info)
    }

    /// Copies the SID a reply starting with `SID_AND_ATTRIBUTES` points to
    /// (`TOKEN_USER`, `TOKEN_MANDATORY_LABEL`) into `out`; its length, or
    /// `None` when it is not a well-formed SID.
    fn sid(&self, out: &mut [u8; MAX_SID_LEN]) -> Option<usize> {
        // SAFETY: 1. For TokenUser and TokenIntegrityLevel the reply starts with a
        //    SID_AND_ATTRIBUTES (T1), pool-aligned.
        let sa: SID_AND_ATTRIBUTES = unsafe { self.0.as_ptr().cast::<SID_AND_ATTRIBUTES>().read() };
        let sid = sa.Sid.cast::<u8>();
        if sid.is_null() {
            return None;
        }
        // SAFETY: 1. Sid points into the same reply at a SID, whose 8-byte header
        //    (revision, count, authority) is always present.
        let head: [u8; 8] = unsafe { sid.cast::<[u8; 8]>().read_unaligned() };
        let count = usize::from(head[1]);
        if count > MAX_SUB_AUTHORITIES {
            return None;
        }
        let len = count.checked_mul(4)?.checked_add(8)?; // <= MAX_SID_LEN (count checked)
        let dst = out.get_mut(..len)?;
        // SAFETY: 1. The SID's sub-authorities follow its header: `count` of them,
        //    4 bytes each, inside the reply; dst is `len` bytes of `out`.
        unsafe { core::ptr::copy_nonoverlapping(sid, dst.as_mut_ptr(), len) };
        sid_len(dst).filter(|&n| n == len)
    }

    /// The reply as one `ULONG` (`TokenSessionId`, `TOKEN_ELEVATION`).
    fn ulong(&self) -> u32 {
        // SAFETY: 1. For TokenSessionId and TokenElevation the reply is (or starts
        //    with) one ULONG (T1), pool-aligned.
        unsafe { self.0.as_ptr().cast::<u32>().read() }
    }
}

impl Drop for Info {
    fn drop(&mut self) {
        // SAFETY: 1. The reply is pool the caller frees with ExFreePool, freed once (T1);
        //    PASSIVE_LEVEL.
        unsafe { ExFreePool(self.0.as_ptr()) };
    }
}
