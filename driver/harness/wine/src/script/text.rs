//! Trace text and the small builders every call shares: NTSTATUS names, the
//! IO_STATUS_BLOCK as printed, counted strings and object attributes.

use std::fmt::Write as _;

use super::nt::{
    Handle, IoStatusBlock, OBJ_CASE_INSENSITIVE, OBJ_KERNEL_HANDLE, ObjectAttributes, UnicodeString,
};

/// Filled into every output buffer before a call, so what a call wrote shows.
pub(super) const FILL: u8 = 0xAA;

pub(super) fn status_name(s: i32) -> &'static str {
    match s as u32 {
        0x0000_0000 => "SUCCESS",
        0x8000_0005 => "BUFFER_OVERFLOW",
        0x8000_0006 => "NO_MORE_FILES",
        0xC000_000D => "INVALID_PARAMETER",
        0xC000_000F => "NO_SUCH_FILE",
        0xC000_0010 => "INVALID_DEVICE_REQUEST",
        0xC000_0011 => "END_OF_FILE",
        0xC000_0004 => "INFO_LENGTH_MISMATCH",
        0xC000_0008 => "INVALID_HANDLE",
        0xC000_0022 => "ACCESS_DENIED",
        0xC000_0023 => "BUFFER_TOO_SMALL",
        0xC000_0024 => "OBJECT_TYPE_MISMATCH",
        0xC000_0033 => "OBJECT_NAME_INVALID",
        0xC000_0034 => "OBJECT_NAME_NOT_FOUND",
        0xC000_0035 => "OBJECT_NAME_COLLISION",
        0xC000_0039 => "OBJECT_PATH_INVALID",
        0xC000_003A => "OBJECT_PATH_NOT_FOUND",
        0xC000_003B => "OBJECT_PATH_SYNTAX_BAD",
        0xC000_0043 => "SHARING_VIOLATION",
        0xC000_0056 => "DELETE_PENDING",
        0xC000_00BA => "FILE_IS_A_DIRECTORY",
        0xC000_0101 => "DIRECTORY_NOT_EMPTY",
        0xC000_0103 => "NOT_A_DIRECTORY",
        0xC000_00D4 => "NOT_SAME_DEVICE",
        0xC000_0002 => "NOT_IMPLEMENTED",
        0xC000_0003 => "INVALID_INFO_CLASS",
        0xC000_00BB => "NOT_SUPPORTED",
        _ => "",
    }
}

pub(super) fn status(s: i32) -> String {
    match status_name(s) {
        "" => format!("{:#010x}", s as u32),
        n => n.to_string(),
    }
}

pub(super) fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

pub(super) fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

/// UTF-16LE with a terminating NUL (`REG_SZ` data, as the driver's `set_sz`).
pub(super) fn sz(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain(core::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// A counted string over `units` (which must outlive every use of the result).
pub(super) fn counted(units: &mut [u16]) -> UnicodeString {
    let bytes = u16::try_from(units.len() * 2).unwrap_or(0xFFFE);
    UnicodeString {
        length: bytes,
        maximum_length: bytes,
        buffer: units.as_mut_ptr(),
    }
}

/// The driver's `object_attributes` (nt.rs): kernel handle, case-insensitive.
pub(super) fn attributes(name: &mut UnicodeString, root: Handle) -> ObjectAttributes {
    ObjectAttributes {
        length: core::mem::size_of::<ObjectAttributes>() as u32,
        root,
        name,
        attributes: OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE,
        security_descriptor: core::ptr::null_mut(),
        security_qos: core::ptr::null_mut(),
    }
}

pub(super) fn iosb() -> IoStatusBlock {
    IoStatusBlock {
        status: 0x5A5A_5A5A_5A5A_5A5A,
        information: 0x5A5A_5A5A,
    }
}

/// Success, information or warning: not an error (severity 3). The output
/// buffer and the IO_STATUS_BLOCK are written for all three (`BUFFER_OVERFLOW`).
pub(super) fn written(s: i32) -> bool {
    (s as u32) >> 30 != 3
}

/// `status` and, unless it is an error, the IO_STATUS_BLOCK.
pub(super) fn io_result(s: i32, io: &IoStatusBlock) -> String {
    if !written(s) {
        return status(s);
    }
    let in_iosb = io.status as u32 as i32;
    let mut r = format!("{} info={}", status(s), io.information);
    if in_iosb != s {
        let _ = write!(r, " iosb.status={}", status(in_iosb));
    }
    r
}
