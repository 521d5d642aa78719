//! The NT functions the driver imports (`wdk_sys::ntddk`), defined with the
//! bindings' exact signatures (`check_sig!`) behind probing shims (`nt_export!`).
//! This module holds what the areas share (UNICODE_STRING, IO_STATUS_BLOCK and
//! OBJECT_ATTRIBUTES handling); the entry points live in one submodule per area:
//! [`pool`], [`handle`], [`registry`], [`file`] (create/delete and the file-handle
//! helpers), [`file_io`], [`file_info`], [`directory`], [`process`], [`token`], [`kernel`], [`eventlog`].
//!
//! To model a new import: write `unsafe extern "C" fn imp(..)` with the binding's
//! signature starting with `let _e = enter("Name");`, then add
//! `nt_export!(Name => imp); check_sig!(wdk_sys::ntddk::Name, imp);`.
#![allow(clippy::missing_safety_doc, clippy::not_unsafe_ptr_arg_deref)]

use wdk_sys::{HANDLE, NTSTATUS, OBJ_KERNEL_HANDLE, OBJECT_ATTRIBUTES, PIO_STATUS_BLOCK, POBJECT_ATTRIBUTES, ULONG_PTR, UNICODE_STRING};

use crate::state::{fatal, with};

pub mod directory;
pub mod eventlog;
pub mod file;
pub mod file_info;
pub mod file_io;
pub mod handle;
pub mod kernel;
pub mod pool;
pub mod process;
pub mod registry;
pub mod security;
pub mod token;

pub use pool::tag_name;
pub use registry::map_key_access;

/// The units of a `UNICODE_STRING` (validated: even length, <= MaximumLength).
///
/// # Safety
/// `p` is null or points to a UNICODE_STRING whose buffer is readable.
pub unsafe fn us_units<'a>(p: *const UNICODE_STRING) -> Result<&'a [u16], String> {
    if p.is_null() {
        return Ok(&[]);
    }
    // SAFETY: caller contract.
    let us = unsafe { *p };
    if us.Length % 2 != 0 || us.Length > us.MaximumLength {
        return Err(format!("malformed UNICODE_STRING (Length {}, MaximumLength {})", us.Length, us.MaximumLength));
    }
    if us.Length == 0 {
        return Ok(&[]);
    }
    if us.Buffer.is_null() {
        return Err("UNICODE_STRING with a null Buffer and a non-zero Length".to_string());
    }
    // SAFETY: caller contract; Length bytes are readable.
    Ok(unsafe { core::slice::from_raw_parts(us.Buffer, usize::from(us.Length / 2)) })
}

/// A `UNICODE_STRING` as a Rust string (fatal if malformed: the kernel would fault or misread).
///
/// # Safety
/// See [`us_units`].
pub unsafe fn us_string(p: *const UNICODE_STRING, what: &str) -> String {
    // SAFETY: forwarded.
    match unsafe { us_units(p) } {
        Ok(u) => String::from_utf16_lossy(u),
        Err(e) => fatal(format!("{what}: {e}")),
    }
}

/// Writes an IO_STATUS_BLOCK.
///
/// # Safety
/// `iosb` is null or writable.
pub unsafe fn set_iosb(iosb: PIO_STATUS_BLOCK, status: NTSTATUS, info: usize) {
    if !iosb.is_null() {
        // SAFETY: caller contract.
        unsafe {
            (*iosb).__bindgen_anon_1.Status = status;
            (*iosb).Information = info as ULONG_PTR;
        }
    }
}

/// `(RootDirectory, name, Attributes)` of an OBJECT_ATTRIBUTES, with verifier checks.
unsafe fn object_attributes(api: &str, oa: POBJECT_ATTRIBUTES) -> (HANDLE, String, u32) {
    if oa.is_null() {
        fatal(format!("{api}: ObjectAttributes is NULL"));
    }
    // SAFETY: non-null pointer from the driver to its OBJECT_ATTRIBUTES.
    let a = unsafe { &*oa };
    if a.Length as usize != core::mem::size_of::<OBJECT_ATTRIBUTES>() {
        fatal(format!("{api}: OBJECT_ATTRIBUTES.Length = {} (expected {})", a.Length, core::mem::size_of::<OBJECT_ATTRIBUTES>()));
    }
    if a.Attributes & OBJ_KERNEL_HANDLE == 0 {
        with(|k| k.violation(format!("{api}: handle opened without OBJ_KERNEL_HANDLE (usable from user mode)")));
    }
    // SAFETY: ObjectName is the driver's UNICODE_STRING, valid for the call.
    let name = unsafe { us_string(a.ObjectName, api) };
    (a.RootDirectory, name, a.Attributes)
}
