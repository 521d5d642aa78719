//! The I/O manager's error log: `IoAllocateErrorLogEntry` / `IoWriteErrorLogEntry`,
//! which put entries in the System event log. The model records every written entry
//! (the strings decoded, the event id, level and the driver path that wrote it) in
//! [`crate::state::Kernel::event_log`], bounded like the real log's queue.
//!
//! Checks: the I/O object must be the driver object `DriverEntry` received; the
//! entry size must be within `sizeof(IO_ERROR_LOG_PACKET)..=ERROR_LOG_LIMIT_SIZE`
//! (240, the conservative maximum); `IoWriteErrorLogEntry` only takes an entry the
//! allocator returned and not yet written (fatal otherwise: the I/O manager would
//! use freed or foreign memory); `DumpDataSize` a multiple of 4, `StringOffset` at
//! or after the dump data, every insertion string NUL-terminated inside the entry
//! (a finding otherwise). An entry allocated and never written is a finding at
//! unload. Fault injection: a failing `IoAllocateErrorLogEntry` returns NULL (the
//! real one does so when the log's pool is exhausted), as do more than
//! [`MAX_PENDING`] entries allocated and not yet written.

use std::alloc::Layout;

use wdk_sys::{ERROR_LOG_LIMIT_SIZE, IO_ERROR_LOG_PACKET, PVOID, UCHAR};

use crate::probe::enter;
use crate::state::{fatal, with};
use crate::{check_sig, nt_export};

/// Entries allocated and not yet written beyond which allocation fails.
pub const MAX_PENDING: usize = 64;
/// Entries the model keeps (later ones are counted in `event_log_dropped`).
pub const MAX_RECORDED: usize = 4096;

/// One entry written to the System event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventLogEntry {
    /// `ErrorCode` (NTSTATUS layout: severity, customer bit, facility, code).
    pub error_code: u32,
    /// The event's Id (`ErrorCode & 0xFFFF`), as `Get-WinEvent` shows it.
    pub event_id: u16,
    /// `Information`, `Warning`, `Error` or `Success` (the severity bits).
    pub level: &'static str,
    /// The driver's insertion strings (%2, %3, ...; %1 is the driver's name).
    pub strings: Vec<String>,
    /// `UniqueErrorValue`.
    pub unique_value: u32,
    /// `SequenceNumber`.
    pub sequence: u32,
    /// `DeviceOffset`.
    pub device_offset: i64,
    /// The driver entry point path that wrote it (`DriverEntry`, `EvtIoDeviceControl:RELOAD`, ...).
    pub path: String,
}

/// An allocated entry: its layout and size, and the path that allocated it.
#[derive(Clone, Debug)]
pub struct Pending {
    /// Allocation layout.
    pub layout: Layout,
    /// `EntrySize`.
    pub size: usize,
    /// Path that allocated it (stack statistic index).
    pub seg: usize,
}

fn level(code: u32) -> &'static str {
    match code >> 30 {
        0 => "Success",
        1 => "Information",
        2 => "Warning",
        _ => "Error",
    }
}

unsafe extern "C" fn io_allocate_error_log_entry(io_object: PVOID, entry_size: UCHAR) -> PVOID {
    let _e = enter("IoAllocateErrorLogEntry");
    let seg = crate::probe::current_seg();
    let size = usize::from(entry_size);
    let ok = with(|k| {
        if io_object.is_null() || io_object as usize != k.driver_object {
            k.violation(format!("IoAllocateErrorLogEntry: IoObject {io_object:p} is not the driver object DriverEntry received"));
            return false;
        }
        if size < core::mem::size_of::<IO_ERROR_LOG_PACKET>() || size > ERROR_LOG_LIMIT_SIZE as usize {
            k.violation(format!("IoAllocateErrorLogEntry: EntrySize {size} outside {}..={ERROR_LOG_LIMIT_SIZE}", core::mem::size_of::<IO_ERROR_LOG_PACKET>()));
            return false;
        }
        k.faults.hit("IoAllocateErrorLogEntry").is_none() && k.errlog_pending.len() < MAX_PENDING
    });
    if !ok {
        return core::ptr::null_mut();
    }
    let layout = Layout::from_size_align(size, 8).unwrap_or_else(|e| fatal(format!("IoAllocateErrorLogEntry: {e}")));
    // SAFETY: non-zero size (>= 48).
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        fatal("IoAllocateErrorLogEntry: host out of memory".to_string());
    }
    with(|k| k.errlog_pending.insert(p as usize, Pending { layout, size, seg }));
    p.cast()
}
nt_export!(IoAllocateErrorLogEntry => io_allocate_error_log_entry);
check_sig!(wdk_sys::ntddk::IoAllocateErrorLogEntry, io_allocate_error_log_entry);

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

unsafe extern "C" fn io_write_error_log_entry(entry: PVOID) {
    let _e = enter("IoWriteErrorLogEntry");
    let Some(pending) = with(|k| k.errlog_pending.remove(&(entry as usize))) else {
        fatal(format!("IoWriteErrorLogEntry: {entry:p} is not an entry from IoAllocateErrorLogEntry (or was already written)"))
    };
    // SAFETY: the entry the model allocated with this size, not yet freed.
    let b = unsafe { core::slice::from_raw_parts(entry.cast::<u8>(), pending.size) };
    let dump = usize::from(u16_at(b, core::mem::offset_of!(IO_ERROR_LOG_PACKET, DumpDataSize)));
    let nstr = usize::from(u16_at(b, core::mem::offset_of!(IO_ERROR_LOG_PACKET, NumberOfStrings)));
    let soff = usize::from(u16_at(b, core::mem::offset_of!(IO_ERROR_LOG_PACKET, StringOffset)));
    let code = u32_at(b, core::mem::offset_of!(IO_ERROR_LOG_PACKET, ErrorCode));
    let unique = u32_at(b, core::mem::offset_of!(IO_ERROR_LOG_PACKET, UniqueErrorValue));
    let seq = u32_at(b, core::mem::offset_of!(IO_ERROR_LOG_PACKET, SequenceNumber));
    let off_at = core::mem::offset_of!(IO_ERROR_LOG_PACKET, DeviceOffset);
    let device_offset = i64::from_le_bytes(b[off_at..off_at + 8].try_into().expect("8 bytes"));
    let mut findings = Vec::new();
    let dump_at = core::mem::offset_of!(IO_ERROR_LOG_PACKET, DumpData);
    if dump % 4 != 0 {
        findings.push(format!("IoWriteErrorLogEntry: DumpDataSize {dump} is not a multiple of sizeof(ULONG)"));
    }
    if nstr > 0 && soff < dump_at + dump {
        findings.push(format!("IoWriteErrorLogEntry: StringOffset {soff} inside the packet or its dump data (ends at {})", dump_at + dump));
    }
    let mut strings = Vec::new();
    let mut at = soff;
    for i in 0..nstr {
        let mut units = Vec::new();
        loop {
            if at + 2 > b.len() {
                findings.push(format!("IoWriteErrorLogEntry: insertion string {i} runs past the {}-byte entry", b.len()));
                break;
            }
            let u = u16_at(b, at);
            at += 2;
            if u == 0 {
                break;
            }
            units.push(u);
        }
        strings.push(String::from_utf16_lossy(&units));
        if !findings.is_empty() {
            break;
        }
    }
    with(|k| {
        for f in findings {
            k.violation(f);
        }
        let path = k.stacks.get(pending.seg).map_or_else(|| "?".to_string(), |s| s.row.path.clone());
        let e = EventLogEntry {
            error_code: code,
            event_id: (code & 0xFFFF) as u16,
            level: level(code),
            strings,
            unique_value: unique,
            sequence: seq,
            device_offset,
            path,
        };
        if k.event_log.len() < MAX_RECORDED {
            k.event_log.push(e);
        } else {
            k.event_log_dropped += 1;
        }
    });
    // SAFETY: allocated by io_allocate_error_log_entry with this layout; the I/O
    // manager owns (and here frees) the entry once written.
    unsafe { std::alloc::dealloc(entry.cast(), pending.layout) };
}
nt_export!(IoWriteErrorLogEntry => io_write_error_log_entry);
check_sig!(wdk_sys::ntddk::IoWriteErrorLogEntry, io_write_error_log_entry);
