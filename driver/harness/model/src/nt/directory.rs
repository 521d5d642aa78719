//! Directory listing: `ZwQueryDirectoryFile` with `FileNamesInformation` (`.` and
//! `..` first except in the volume root, then upper-case order; restart and
//! single-entry; 8-byte aligned entries; `NO_SUCH_FILE`/`NO_MORE_FILES`; a first entry
//! that does not fit is cut with `BUFFER_OVERFLOW`). The cursor lives on the handle.

use wdk_sys::{
    _FILE_INFORMATION_CLASS::FileNamesInformation,
    BOOLEAN, FILE_INFORMATION_CLASS, FILE_READ_DATA, HANDLE, NTSTATUS, PIO_APC_ROUTINE, PIO_STATUS_BLOCK, PUNICODE_STRING,
    PVOID, ULONG,
};

use super::file::{file_obj, file_obj_mut};
use super::{set_iosb, us_string};
use crate::fs;
use crate::probe::enter;
use crate::state::{fatal, with_fatal};
use crate::status as st;
use crate::{check_sig, nt_export};

/// FILE_NAMES_INFORMATION: NextEntryOffset, FileIndex, FileNameLength, FileName.
const FNI_NAME: usize = 12;

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn zw_query_directory_file(
    h: HANDLE,
    _event: HANDLE,
    _apc: PIO_APC_ROUTINE,
    _apc_ctx: PVOID,
    iosb: PIO_STATUS_BLOCK,
    info: PVOID,
    length: ULONG,
    class: FILE_INFORMATION_CLASS,
    single: BOOLEAN,
    file_name: PUNICODE_STRING,
    restart: BOOLEAN,
) -> NTSTATUS {
    let _e = enter("ZwQueryDirectoryFile");
    if iosb.is_null() || info.is_null() {
        fatal("ZwQueryDirectoryFile: IoStatusBlock or FileInformation is NULL".to_string());
    }
    // SAFETY: the driver's optional filter.
    let filter = unsafe { us_string(file_name, "ZwQueryDirectoryFile") };
    let length = length as usize;
    let r = with_fatal(|k| {
        let o = file_obj(k, h, "ZwQueryDirectoryFile")?;
        if class != FileNamesInformation {
            return Err(format!("ZwQueryDirectoryFile: class {class} is not modeled"));
        }
        if !filter.is_empty() && filter != "*" {
            return Err("ZwQueryDirectoryFile: a FileName filter is not modeled".to_string());
        }
        if let Some(s) = k.faults.hit("ZwQueryDirectoryFile") {
            return Ok(Err(s));
        }
        if !o.dir {
            return Ok(Err(st::INVALID_PARAMETER));
        }
        if o.access & FILE_READ_DATA == 0 {
            return Ok(Err(st::ACCESS_DENIED));
        }
        let first = o.cursor.is_none();
        let mut cursor = if restart != 0 { 0 } else { o.cursor.unwrap_or(0) };
        // NTFS lists "." and ".." first (not in the volume root), then names in upper-case order.
        let mut entries: Vec<String> = if fs::parent(&o.path).is_some() { vec![".".into(), "..".into()] } else { Vec::new() };
        entries.extend(k.persist.fs.list(&o.path));
        if cursor >= entries.len() {
            if let Some(f) = file_obj_mut(k, h) {
                f.cursor = Some(cursor);
            }
            return Ok(Err(if first && entries.is_empty() { st::NO_SUCH_FILE } else { st::NO_MORE_FILES }));
        }
        let mut out: Vec<u8> = Vec::new();
        let mut last_at: Option<usize> = None;
        let mut status = st::SUCCESS;
        while cursor < entries.len() {
            let name: Vec<u8> = entries[cursor].encode_utf16().flat_map(u16::to_le_bytes).collect();
            let at = (out.len() + 7) & !7;
            let need = at + FNI_NAME + name.len();
            if need > length {
                if last_at.is_none() {
                    if length < FNI_NAME {
                        return Ok(Err(st::INFO_LENGTH_MISMATCH));
                    }
                    // The first entry's name is cut: partial data, the entry is consumed.
                    let keep = (length - FNI_NAME) & !1;
                    out.extend_from_slice(&0u32.to_le_bytes());
                    out.extend_from_slice(&0u32.to_le_bytes());
                    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
                    out.extend_from_slice(&name[..keep]);
                    cursor += 1;
                    status = st::BUFFER_OVERFLOW;
                }
                break;
            }
            out.resize(at, 0);
            if let Some(prev) = last_at {
                let off = (at - prev) as u32;
                out[prev..prev + 4].copy_from_slice(&off.to_le_bytes());
            }
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(cursor as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            out.extend_from_slice(&name);
            last_at = Some(at);
            cursor += 1;
            if single != 0 {
                break;
            }
        }
        if let Some(f) = file_obj_mut(k, h) {
            f.cursor = Some(cursor);
        }
        Ok(Ok((out, status)))
    });
    match r {
        Err(s) => {
            // SAFETY: checked non-null.
            unsafe { set_iosb(iosb, s, 0) };
            s
        }
        Ok((out, s)) => {
            // SAFETY: the driver's buffer of `length` >= out.len() bytes.
            unsafe {
                core::ptr::copy_nonoverlapping(out.as_ptr(), info.cast::<u8>(), out.len());
                set_iosb(iosb, s, out.len());
            }
            s
        }
    }
}
nt_export!(ZwQueryDirectoryFile => zw_query_directory_file);
check_sig!(wdk_sys::ntddk::ZwQueryDirectoryFile, zw_query_directory_file);
