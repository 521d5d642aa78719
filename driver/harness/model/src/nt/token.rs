//! Process tokens: `PsReferencePrimaryToken`, `PsDereferencePrimaryToken` and
//! `SeQueryInformationToken` for the four classes the sensor reads (user,
//! session id, elevation, integrity label).
//!
//! Only the process being delivered to the notify routine has a token (its
//! [`Token`], from the test's `ProcessCreate`); asking for another process's
//! is a violation. Each reference must be released before the routine
//! returns (checked by `Session::process_create`), and each buffer
//! `SeQueryInformationToken` returns is pool the caller frees with
//! `ExFreePool` (the unload leak check covers it). Faults: `SeQueryInformationToken`
//! (and `SeQueryInformationToken:<class>`) fail the query with the planned status.
use wdk_sys::{NTSTATUS, PACCESS_TOKEN, PEPROCESS, PVOID, TOKEN_INFORMATION_CLASS};

use crate::probe::enter;
use crate::state::{fatal, with, with_fatal};
use crate::status as st;
use crate::{check_sig, nt_export};

/// What a test says a new process's primary token holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// `TokenUser`: the user SID, binary.
    pub user_sid: Vec<u8>,
    /// `TokenSessionId`.
    pub session_id: u32,
    /// `TokenIntegrityLevel`: the mandatory label's RID (0x2000 Medium, 0x4000 System).
    pub integrity_rid: u32,
    /// `TokenElevation`.
    pub elevated: bool,
}

impl Default for Token {
    fn default() -> Self {
        Self::system()
    }
}

impl Token {
    /// LocalSystem in session 0, System integrity, elevated.
    pub fn system() -> Self {
        Self { user_sid: sid(5, &[18]), session_id: 0, integrity_rid: 0x4000, elevated: true }
    }

    /// An interactive user's token (`S-1-5-21-...-1001`, session 1, Medium, not elevated).
    pub fn user() -> Self {
        Self { user_sid: sid(5, &[21, 1_004_336_348, 1_177_238_915, 682_003_330, 1001]), session_id: 1, integrity_rid: 0x2000, elevated: false }
    }
}

/// A binary SID (revision 1, big-endian authority, little-endian sub-authorities).
pub fn sid(authority: u64, subs: &[u32]) -> Vec<u8> {
    let mut b = vec![1, subs.len() as u8];
    b.extend_from_slice(&authority.to_be_bytes()[2..]);
    for s in subs {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}

/// The token of the process being delivered, while the notify routine runs.
#[derive(Debug, Default)]
pub struct Notifying {
    /// `(EPROCESS, its token)`.
    pub process: Option<(usize, Token)>,
    /// References taken and not released.
    pub refs: u32,
}

/// The fake `PACCESS_TOKEN` value of the delivered process's token.
const TOKEN_PTR: usize = 0xFFFF_A000_0000_7000;

/// Pool tag of the buffers `SeQueryInformationToken` returns (`'Se  '`).
const SE_TAG: u32 = u32::from_le_bytes(*b"Se  ");

unsafe extern "C" fn ps_reference_primary_token(process: PEPROCESS) -> PACCESS_TOKEN {
    let _e = enter("PsReferencePrimaryToken");
    with_fatal(|k| match &k.notifying.process {
        Some((p, _)) if *p == process as usize => {
            k.notifying.refs += 1;
            Ok(TOKEN_PTR as PACCESS_TOKEN)
        }
        _ => Err(format!("PsReferencePrimaryToken({process:p}): not the process being created (the model only knows that one)")),
    })
}
nt_export!(PsReferencePrimaryToken => ps_reference_primary_token);
check_sig!(wdk_sys::ntddk::PsReferencePrimaryToken, ps_reference_primary_token);

unsafe extern "C" fn ps_dereference_primary_token(token: PACCESS_TOKEN) {
    let _e = enter("PsDereferencePrimaryToken");
    with_fatal(|k| {
        if token as usize != TOKEN_PTR || k.notifying.refs == 0 {
            return Err(format!("PsDereferencePrimaryToken({token:p}): no reference held (REFERENCE_BY_POINTER)"));
        }
        k.notifying.refs -= 1;
        Ok(())
    });
}
nt_export!(PsDereferencePrimaryToken => ps_dereference_primary_token);
check_sig!(wdk_sys::ntddk::PsDereferencePrimaryToken, ps_dereference_primary_token);

/// `SID_AND_ATTRIBUTES` followed by the SID it points to, in one pool block.
fn sid_and_attributes(sid: &[u8]) -> *mut u8 {
    let head = 16; // PSID + ULONG + padding
    let p = crate::nt::pool::model_block(head + sid.len(), SE_TAG);
    if !p.is_null() {
        // SAFETY: p is a fresh block of head + sid.len() bytes, 16-byte aligned.
        unsafe {
            core::ptr::copy_nonoverlapping(sid.as_ptr(), p.add(head), sid.len());
            p.cast::<*mut u8>().write(p.add(head));
        }
    }
    p
}

fn ulong(v: u32) -> *mut u8 {
    let p = crate::nt::pool::model_block(4, SE_TAG);
    if !p.is_null() {
        // SAFETY: a fresh 4-byte block, 16-byte aligned.
        unsafe { p.cast::<u32>().write(v) };
    }
    p
}

unsafe extern "C" fn se_query_information_token(token: PACCESS_TOKEN, class: TOKEN_INFORMATION_CLASS, info: *mut PVOID) -> NTSTATUS {
    let _e = enter("SeQueryInformationToken");
    if info.is_null() {
        fatal("SeQueryInformationToken: NULL TokenInformation".to_string());
    }
    let t = with_fatal(|k| {
        if token as usize != TOKEN_PTR || k.notifying.refs == 0 {
            return Err(format!("SeQueryInformationToken({token:p}): not a referenced token"));
        }
        if let Some(s) = k.faults.hit("SeQueryInformationToken").or_else(|| k.faults.hit(&format!("SeQueryInformationToken:{class}"))) {
            return Ok(Err(s));
        }
        Ok(Ok(k.notifying.process.as_ref().map(|(_, t)| t.clone())))
    });
    let t = match t {
        Ok(Some(t)) => t,
        Ok(None) => fatal("SeQueryInformationToken: no process being created".to_string()),
        Err(s) => return s,
    };
    use wdk_sys::_TOKEN_INFORMATION_CLASS as C;
    let p = match class {
        C::TokenUser => sid_and_attributes(&t.user_sid),
        C::TokenIntegrityLevel => sid_and_attributes(&sid(16, &[t.integrity_rid])),
        C::TokenSessionId => ulong(t.session_id),
        C::TokenElevation => ulong(u32::from(t.elevated)),
        other => {
            with(|k| k.violation(format!("SeQueryInformationToken: class {other} is not modeled")));
            return st::INVALID_PARAMETER;
        }
    };
    if p.is_null() {
        return st::INSUFFICIENT_RESOURCES;
    }
    // SAFETY: info is non-null (checked) and writable (caller contract).
    unsafe { *info = p.cast() };
    st::SUCCESS
}
nt_export!(SeQueryInformationToken => se_query_information_token);
check_sig!(wdk_sys::ntddk::SeQueryInformationToken, se_query_information_token);
