//! ntdll's `Nt*` functions (declared here: the Wine build has no dependencies) and
//! the [`Nt`] backend over them, a bare pass-through like the model's.
#![allow(clippy::too_many_arguments)]

use core::ffi::c_void;

use crate::script::{Handle, IoStatusBlock, Nt, ObjectAttributes, UnicodeString};

#[link(name = "ntdll")]
unsafe extern "system" {
    pub fn NtCreateFile(
        h: *mut Handle,
        access: u32,
        oa: *mut ObjectAttributes,
        iosb: *mut IoStatusBlock,
        allocation: *mut i64,
        attributes: u32,
        share: u32,
        disposition: u32,
        options: u32,
        ea: *mut c_void,
        ea_len: u32,
    ) -> i32;
    pub fn NtReadFile(
        h: Handle,
        event: Handle,
        apc: *mut c_void,
        apc_ctx: *mut c_void,
        iosb: *mut IoStatusBlock,
        buf: *mut c_void,
        len: u32,
        offset: *mut i64,
        key: *mut u32,
    ) -> i32;
    pub fn NtWriteFile(
        h: Handle,
        event: Handle,
        apc: *mut c_void,
        apc_ctx: *mut c_void,
        iosb: *mut IoStatusBlock,
        buf: *mut c_void,
        len: u32,
        offset: *mut i64,
        key: *mut u32,
    ) -> i32;
    pub fn NtQueryInformationFile(
        h: Handle,
        iosb: *mut IoStatusBlock,
        info: *mut c_void,
        len: u32,
        class: u32,
    ) -> i32;
    pub fn NtSetInformationFile(
        h: Handle,
        iosb: *mut IoStatusBlock,
        info: *mut c_void,
        len: u32,
        class: u32,
    ) -> i32;
    pub fn NtFlushBuffersFile(h: Handle, iosb: *mut IoStatusBlock) -> i32;
    pub fn NtDeleteFile(oa: *mut ObjectAttributes) -> i32;
    pub fn NtQueryDirectoryFile(
        h: Handle,
        event: Handle,
        apc: *mut c_void,
        apc_ctx: *mut c_void,
        iosb: *mut IoStatusBlock,
        info: *mut c_void,
        len: u32,
        class: u32,
        single: u8,
        name: *mut UnicodeString,
        restart: u8,
    ) -> i32;
    pub fn NtCreateKey(
        h: *mut Handle,
        access: u32,
        oa: *mut ObjectAttributes,
        title: u32,
        class: *mut UnicodeString,
        options: u32,
        disposition: *mut u32,
    ) -> i32;
    pub fn NtOpenKey(h: *mut Handle, access: u32, oa: *mut ObjectAttributes) -> i32;
    pub fn NtEnumerateKey(
        h: Handle,
        index: u32,
        class: u32,
        info: *mut c_void,
        len: u32,
        result: *mut u32,
    ) -> i32;
    pub fn NtDeleteKey(h: Handle) -> i32;
    pub fn NtQueryValueKey(
        h: Handle,
        name: *mut UnicodeString,
        class: u32,
        info: *mut c_void,
        len: u32,
        result: *mut u32,
    ) -> i32;
    pub fn NtSetValueKey(
        h: Handle,
        name: *mut UnicodeString,
        title: u32,
        ty: u32,
        data: *mut c_void,
        len: u32,
    ) -> i32;
    pub fn NtFlushKey(h: Handle) -> i32;
    pub fn NtClose(h: Handle) -> i32;
    pub fn NtOpenSymbolicLinkObject(h: *mut Handle, access: u32, oa: *mut ObjectAttributes) -> i32;
    pub fn NtQuerySymbolicLinkObject(h: Handle, target: *mut UnicodeString, len: *mut u32) -> i32;
}

pub const NULL: Handle = core::ptr::null_mut();

pub struct Ntdll {
    pub volume: String,
}

impl Nt for Ntdll {
    fn volume(&self) -> String {
        self.volume.clone()
    }
    unsafe fn create_file(
        &self,
        h: *mut Handle,
        access: u32,
        oa: *mut ObjectAttributes,
        iosb: *mut IoStatusBlock,
        allocation: *mut i64,
        attributes: u32,
        share: u32,
        disposition: u32,
        options: u32,
        ea: *mut c_void,
        ea_len: u32,
    ) -> i32 {
        // SAFETY: forwarded; the script passes valid pointers.
        unsafe {
            NtCreateFile(
                h,
                access,
                oa,
                iosb,
                allocation,
                attributes,
                share,
                disposition,
                options,
                ea,
                ea_len,
            )
        }
    }
    unsafe fn read_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        buf: *mut c_void,
        len: u32,
        offset: *mut i64,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe {
            NtReadFile(
                h,
                NULL,
                NULL,
                NULL,
                iosb,
                buf,
                len,
                offset,
                core::ptr::null_mut(),
            )
        }
    }
    unsafe fn write_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        buf: *mut c_void,
        len: u32,
        offset: *mut i64,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe {
            NtWriteFile(
                h,
                NULL,
                NULL,
                NULL,
                iosb,
                buf,
                len,
                offset,
                core::ptr::null_mut(),
            )
        }
    }
    unsafe fn query_information_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        info: *mut c_void,
        len: u32,
        class: u32,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe { NtQueryInformationFile(h, iosb, info, len, class) }
    }
    unsafe fn set_information_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        info: *mut c_void,
        len: u32,
        class: u32,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe { NtSetInformationFile(h, iosb, info, len, class) }
    }
    unsafe fn flush_buffers_file(&self, h: Handle, iosb: *mut IoStatusBlock) -> i32 {
        // SAFETY: forwarded.
        unsafe { NtFlushBuffersFile(h, iosb) }
    }
    unsafe fn delete_file(&self, oa: *mut ObjectAttributes) -> i32 {
        // SAFETY: forwarded.
        unsafe { NtDeleteFile(oa) }
    }
    unsafe fn query_directory_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        info: *mut c_void,
        len: u32,
        class: u32,
        single: u8,
        name: *mut UnicodeString,
        restart: u8,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe {
            NtQueryDirectoryFile(
                h, NULL, NULL, NULL, iosb, info, len, class, single, name, restart,
            )
        }
    }
    unsafe fn create_key(
        &self,
        h: *mut Handle,
        access: u32,
        oa: *mut ObjectAttributes,
        title: u32,
        class: *mut UnicodeString,
        options: u32,
        disposition: *mut u32,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe { NtCreateKey(h, access, oa, title, class, options, disposition) }
    }
    unsafe fn query_value_key(
        &self,
        h: Handle,
        name: *mut UnicodeString,
        class: u32,
        info: *mut c_void,
        len: u32,
        result: *mut u32,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe { NtQueryValueKey(h, name, class, info, len, result) }
    }
    unsafe fn set_value_key(
        &self,
        h: Handle,
        name: *mut UnicodeString,
        title: u32,
        ty: u32,
        data: *mut c_void,
        len: u32,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe { NtSetValueKey(h, name, title, ty, data, len) }
    }
    unsafe fn flush_key(&self, h: Handle) -> i32 {
        // SAFETY: forwarded.
        unsafe { NtFlushKey(h) }
    }
    unsafe fn close(&self, h: Handle) -> i32 {
        // SAFETY: forwarded.
        unsafe { NtClose(h) }
    }
}
