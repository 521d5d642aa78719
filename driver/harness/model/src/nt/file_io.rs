//! File data: `ZwReadFile` and `ZwWriteFile` at the given byte offset (no file
//! pointer is kept: NULL or "current position" means offset 0; access checks; no I/O
//! on directories) and `ZwFlushBuffersFile` (needs write or append access; flushes are
//! counted on the node, writes being durable at once).

use wdk_sys::{
    FILE_APPEND_DATA, FILE_READ_DATA, FILE_WRITE_DATA, HANDLE, NTSTATUS, PIO_APC_ROUTINE, PIO_STATUS_BLOCK, PLARGE_INTEGER,
    PULONG, PVOID, ULONG,
};

use super::file::file_obj;
use super::set_iosb;
use crate::probe::enter;
use crate::state::{fatal, with_fatal};
use crate::status as st;
use crate::{check_sig, nt_export};

unsafe fn offset_of_call(offset: PLARGE_INTEGER, current: u64) -> u64 {
    if offset.is_null() {
        return current;
    }
    // SAFETY: the driver's LARGE_INTEGER.
    let q = unsafe { (*offset).QuadPart };
    if q == -2 { current } else { q as u64 }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn zw_read_file(
    h: HANDLE,
    _event: HANDLE,
    _apc: PIO_APC_ROUTINE,
    _apc_ctx: PVOID,
    iosb: PIO_STATUS_BLOCK,
    buffer: PVOID,
    length: ULONG,
    offset: PLARGE_INTEGER,
    _key: PULONG,
) -> NTSTATUS {
    let _e = enter("ZwReadFile");
    if iosb.is_null() {
        fatal("ZwReadFile: IoStatusBlock is NULL".to_string());
    }
    // SAFETY: offset is the driver's.
    let at = unsafe { offset_of_call(offset, 0) } as usize;
    let r = with_fatal(|k| {
        let o = file_obj(k, h, "ZwReadFile")?;
        if let Some(s) = k.faults.hit("ZwReadFile") {
            return Ok(Err(s));
        }
        if o.dir {
            return Ok(Err(st::INVALID_DEVICE_REQUEST));
        }
        if o.access & FILE_READ_DATA == 0 {
            return Ok(Err(st::ACCESS_DENIED));
        }
        let data = k.persist.fs.node(&o.path).map(|n| n.data.clone()).unwrap_or_default();
        if at >= data.len() {
            return Ok(Err(st::END_OF_FILE));
        }
        let n = (length as usize).min(data.len() - at);
        Ok(Ok(data[at..at + n].to_vec()))
    });
    match r {
        Err(s) => {
            // SAFETY: checked non-null.
            unsafe { set_iosb(iosb, s, 0) };
            s
        }
        Ok(bytes) => {
            if !bytes.is_empty() && buffer.is_null() {
                fatal("ZwReadFile: Buffer is NULL".to_string());
            }
            // SAFETY: the driver's buffer holds `length` >= bytes.len() bytes.
            unsafe {
                core::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer.cast::<u8>(), bytes.len());
                set_iosb(iosb, st::SUCCESS, bytes.len());
            }
            st::SUCCESS
        }
    }
}
nt_export!(ZwReadFile => zw_read_file);
check_sig!(wdk_sys::ntddk::ZwReadFile, zw_read_file);

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn zw_write_file(
    h: HANDLE,
    _event: HANDLE,
    _apc: PIO_APC_ROUTINE,
    _apc_ctx: PVOID,
    iosb: PIO_STATUS_BLOCK,
    buffer: PVOID,
    length: ULONG,
    offset: PLARGE_INTEGER,
    _key: PULONG,
) -> NTSTATUS {
    let _e = enter("ZwWriteFile");
    if iosb.is_null() || (buffer.is_null() && length > 0) {
        fatal("ZwWriteFile: IoStatusBlock or Buffer is NULL".to_string());
    }
    // SAFETY: driver pointers, `length` readable bytes.
    let at = unsafe { offset_of_call(offset, 0) } as usize;
    let bytes = if length == 0 {
        Vec::new()
    } else {
        // SAFETY: see above.
        unsafe { core::slice::from_raw_parts(buffer.cast::<u8>(), length as usize) }.to_vec()
    };
    let r = with_fatal(|k| {
        let o = file_obj(k, h, "ZwWriteFile")?;
        if let Some(s) = k.faults.hit("ZwWriteFile") {
            return Ok(s);
        }
        if o.dir {
            return Ok(st::INVALID_DEVICE_REQUEST);
        }
        if o.access & (FILE_WRITE_DATA | FILE_APPEND_DATA) == 0 {
            return Ok(st::ACCESS_DENIED);
        }
        if let Some(n) = k.persist.fs.node_mut(&o.path) {
            if n.data.len() < at + bytes.len() {
                n.data.resize(at + bytes.len(), 0);
            }
            n.data[at..at + bytes.len()].copy_from_slice(&bytes);
        }
        Ok(st::SUCCESS)
    });
    // SAFETY: checked non-null.
    unsafe { set_iosb(iosb, r, if r == st::SUCCESS { bytes.len() } else { 0 }) };
    r
}
nt_export!(ZwWriteFile => zw_write_file);
check_sig!(wdk_sys::ntddk::ZwWriteFile, zw_write_file);

unsafe extern "C" fn zw_flush_buffers_file(h: HANDLE, iosb: PIO_STATUS_BLOCK) -> NTSTATUS {
    let _e = enter("ZwFlushBuffersFile");
    if iosb.is_null() {
        fatal("ZwFlushBuffersFile: IoStatusBlock is NULL".to_string());
    }
    let r = with_fatal(|k| {
        let o = file_obj(k, h, "ZwFlushBuffersFile")?;
        if let Some(s) = k.faults.hit("ZwFlushBuffersFile") {
            return Ok(s);
        }
        // NtFlushBuffersFile requires write or append access on the handle.
        if o.access & (FILE_WRITE_DATA | FILE_APPEND_DATA) == 0 {
            return Ok(st::ACCESS_DENIED);
        }
        if let Some(n) = k.persist.fs.node_mut(&o.path) {
            n.flushes += 1;
        }
        k.persist.fs.flush(&o.path);
        Ok(st::SUCCESS)
    });
    // SAFETY: checked non-null.
    unsafe { set_iosb(iosb, r, 0) };
    r
}
nt_export!(ZwFlushBuffersFile => zw_flush_buffers_file);
check_sig!(wdk_sys::ntddk::ZwFlushBuffersFile, zw_flush_buffers_file);
