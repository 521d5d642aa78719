//! The FFI side: the structures the calls take (x64 layouts, shared by the
//! model's wdk-sys bindings and ntdll), the [`Nt`] backend trait, and the Windows
//! constants the driver passes (wdk-sys values, spelled out so the Wine build needs
//! no bindings).
#![allow(clippy::too_many_arguments, clippy::missing_safety_doc)]

use core::ffi::c_void;

/// `HANDLE`.
pub type Handle = *mut c_void;

/// `UNICODE_STRING` (x64 layout).
#[repr(C)]
pub struct UnicodeString {
    pub length: u16,
    pub maximum_length: u16,
    pub buffer: *mut u16,
}

/// `OBJECT_ATTRIBUTES` (x64 layout).
#[repr(C)]
pub struct ObjectAttributes {
    pub length: u32,
    pub root: Handle,
    pub name: *mut UnicodeString,
    pub attributes: u32,
    pub security_descriptor: *mut c_void,
    pub security_qos: *mut c_void,
}

/// `IO_STATUS_BLOCK` (x64 layout: the Status/Pointer union is 8 bytes).
#[repr(C)]
pub struct IoStatusBlock {
    pub status: u64,
    pub information: usize,
}

/// The NT calls the driver makes, with the real argument lists. Implementations
/// only forward to the real function (`Zw*` in the model, `Nt*` in ntdll).
pub trait Nt {
    /// The device the `C:` drive letter names (`\Device\HarddiskVolumeN`).
    fn volume(&self) -> String;
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
    ) -> i32;
    unsafe fn read_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        buf: *mut c_void,
        len: u32,
        offset: *mut i64,
    ) -> i32;
    unsafe fn write_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        buf: *mut c_void,
        len: u32,
        offset: *mut i64,
    ) -> i32;
    unsafe fn query_information_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        info: *mut c_void,
        len: u32,
        class: u32,
    ) -> i32;
    unsafe fn set_information_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        info: *mut c_void,
        len: u32,
        class: u32,
    ) -> i32;
    unsafe fn flush_buffers_file(&self, h: Handle, iosb: *mut IoStatusBlock) -> i32;
    unsafe fn delete_file(&self, oa: *mut ObjectAttributes) -> i32;
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
    ) -> i32;
    unsafe fn create_key(
        &self,
        h: *mut Handle,
        access: u32,
        oa: *mut ObjectAttributes,
        title: u32,
        class: *mut UnicodeString,
        options: u32,
        disposition: *mut u32,
    ) -> i32;
    unsafe fn query_value_key(
        &self,
        h: Handle,
        name: *mut UnicodeString,
        class: u32,
        info: *mut c_void,
        len: u32,
        result: *mut u32,
    ) -> i32;
    unsafe fn set_value_key(
        &self,
        h: Handle,
        name: *mut UnicodeString,
        title: u32,
        ty: u32,
        data: *mut c_void,
        len: u32,
    ) -> i32;
    unsafe fn flush_key(&self, h: Handle) -> i32;
    unsafe fn close(&self, h: Handle) -> i32;
}

pub(super) const SYNCHRONIZE: u32 = 0x0010_0000;
pub(super) const DELETE: u32 = 0x0001_0000;
pub(super) const FILE_LIST_DIRECTORY: u32 = 0x1;
pub(super) const FILE_ADD_FILE: u32 = 0x2;
pub(super) const FILE_TRAVERSE: u32 = 0x20;
pub(super) const FILE_GENERIC_READ: u32 = 0x0012_0089;
pub(super) const FILE_GENERIC_WRITE: u32 = 0x0012_0116;
pub(super) const FILE_SHARE_READ: u32 = 1;
pub(super) const FILE_SHARE_DELETE: u32 = 4;
pub(super) const FILE_SHARE_WRITE: u32 = 2;
pub(super) const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;
pub(super) const FILE_SUPERSEDE: u32 = 0;
pub(super) const FILE_OPEN: u32 = 1;
pub(super) const FILE_CREATE: u32 = 2;
pub(super) const FILE_OPEN_IF: u32 = 3;
pub(super) const FILE_OVERWRITE: u32 = 4;
pub(super) const FILE_OVERWRITE_IF: u32 = 5;
pub(super) const FILE_DIRECTORY_FILE: u32 = 0x1;
pub(super) const FILE_WRITE_THROUGH: u32 = 0x2;
pub(super) const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x20;
pub(super) const FILE_NON_DIRECTORY_FILE: u32 = 0x40;
pub(super) const FILE_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
/// The driver's `OPEN_OPTS`, added to every open.
pub(super) const OPEN_OPTS: u32 = FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_REPARSE_POINT;
pub(super) const OBJ_CASE_INSENSITIVE: u32 = 0x40;
pub(super) const OBJ_KERNEL_HANDLE: u32 = 0x200;
pub(super) const FILE_STANDARD_INFORMATION: u32 = 5;
pub(super) const FILE_RENAME_INFORMATION: u32 = 10;
pub(super) const FILE_RENAME_INFORMATION_EX: u32 = 65;
pub(super) const FILE_NAMES_INFORMATION: u32 = 12;
pub(super) const FILE_ATTRIBUTE_TAG_INFORMATION: u32 = 35;
pub(super) const KEY_READ: u32 = 0x0002_0019;
pub(super) const KEY_WRITE: u32 = 0x0002_0006;
pub(super) const KEY_VALUE_PARTIAL_INFORMATION: u32 = 2;
pub(super) const REG_OPTION_NON_VOLATILE: u32 = 0;
pub(super) const REG_SZ: u32 = 1;
pub(super) const REG_BINARY: u32 = 3;
pub(super) const REG_DWORD: u32 = 4;
