//! File information: `ZwQueryInformationFile` (`FileStandardInformation`,
//! `FileAttributeTagInformation`) and `ZwSetInformationFile` with
//! `FileRenameInformation` and `FileRenameInformationEx` (ReplaceIfExists, collision,
//! open target -> access denied unless POSIX semantics and every open shares delete,
//! a simple name renames within the same directory; open handles follow the rename).

use wdk_sys::{
    _FILE_INFORMATION_CLASS::{FileAttributeTagInformation, FileRenameInformation, FileRenameInformationEx, FileStandardInformation},
    DELETE, FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_REPARSE_POINT, FILE_INFORMATION_CLASS,
    FILE_READ_ATTRIBUTES, FILE_SHARE_DELETE, HANDLE, IO_REPARSE_TAG_SYMLINK, NTSTATUS, PIO_STATUS_BLOCK, PVOID, ULONG,
};

use super::file::{file_obj, open_count, opens_of, parent_status};
use super::set_iosb;
use crate::fs;
use crate::probe::enter;
use crate::state::{Obj, fatal, with_fatal};
use crate::status as st;
use crate::{check_sig, nt_export};

unsafe extern "C" fn zw_query_information_file(
    h: HANDLE,
    iosb: PIO_STATUS_BLOCK,
    info: PVOID,
    length: ULONG,
    class: FILE_INFORMATION_CLASS,
) -> NTSTATUS {
    let _e = enter("ZwQueryInformationFile");
    if iosb.is_null() || info.is_null() {
        fatal("ZwQueryInformationFile: IoStatusBlock or FileInformation is NULL".to_string());
    }
    let r = with_fatal(|k| {
        let o = file_obj(k, h, "ZwQueryInformationFile")?;
        if let Some(s) = k.faults.hit("ZwQueryInformationFile") {
            return Ok(Err(s));
        }
        let Some(n) = k.persist.fs.node(&o.path) else { return Ok(Err(wdk_sys::STATUS_DELETE_PENDING)) };
        let mut out = Vec::new();
        match class {
            c if c == FileStandardInformation => {
                let len = n.data.len() as i64;
                out.extend_from_slice(&((len + 4095) & !4095).to_le_bytes());
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(&1u32.to_le_bytes());
                out.push(0);
                out.push(u8::from(n.dir));
                out.extend_from_slice(&[0, 0]);
            }
            c if c == FileAttributeTagInformation => {
                if o.access & FILE_READ_ATTRIBUTES == 0 {
                    return Ok(Err(st::ACCESS_DENIED));
                }
                let mut attrs = if n.dir { FILE_ATTRIBUTE_DIRECTORY } else { FILE_ATTRIBUTE_ARCHIVE };
                let mut tag = 0u32;
                if n.reparse {
                    attrs |= FILE_ATTRIBUTE_REPARSE_POINT;
                    tag = IO_REPARSE_TAG_SYMLINK;
                }
                out.extend_from_slice(&attrs.to_le_bytes());
                out.extend_from_slice(&tag.to_le_bytes());
            }
            c => return Err(format!("ZwQueryInformationFile: class {c} is not modeled")),
        }
        if (length as usize) < out.len() {
            return Ok(Err(st::INFO_LENGTH_MISMATCH));
        }
        Ok(Ok(out))
    });
    match r {
        Err(s) => s,
        Ok(out) => {
            // SAFETY: the driver's buffer of `length` >= out.len() bytes.
            unsafe {
                core::ptr::copy_nonoverlapping(out.as_ptr(), info.cast::<u8>(), out.len());
                set_iosb(iosb, st::SUCCESS, out.len());
            }
            st::SUCCESS
        }
    }
}
nt_export!(ZwQueryInformationFile => zw_query_information_file);
check_sig!(wdk_sys::ntddk::ZwQueryInformationFile, zw_query_information_file);

/// `FILE_RENAME_REPLACE_IF_EXISTS` and `FILE_RENAME_POSIX_SEMANTICS` (ntifs.h).
const RENAME_REPLACE_IF_EXISTS: u32 = 0x1;
const RENAME_POSIX_SEMANTICS: u32 = 0x2;

/// Offsets in FILE_RENAME_INFORMATION (x64).
const RENAME_ROOT: usize = 8;
const RENAME_LEN: usize = 16;
const RENAME_NAME: usize = 20;

unsafe extern "C" fn zw_set_information_file(
    h: HANDLE,
    iosb: PIO_STATUS_BLOCK,
    info: PVOID,
    length: ULONG,
    class: FILE_INFORMATION_CLASS,
) -> NTSTATUS {
    let _e = enter("ZwSetInformationFile");
    if iosb.is_null() || info.is_null() {
        fatal("ZwSetInformationFile: IoStatusBlock or FileInformation is NULL".to_string());
    }
    if class != FileRenameInformation && class != FileRenameInformationEx {
        fatal(format!("ZwSetInformationFile: class {class} is not modeled"));
    }
    let length = length as usize;
    if length < core::mem::size_of::<wdk_sys::FILE_RENAME_INFORMATION>() {
        return st::INFO_LENGTH_MISMATCH;
    }
    // SAFETY: the driver's buffer of `length` bytes.
    let raw = unsafe { core::slice::from_raw_parts(info.cast::<u8>(), length) };
    // FileRenameInformation: the union is the BOOLEAN ReplaceIfExists.
    // FileRenameInformationEx: it is the ULONG Flags; the model knows
    // REPLACE_IF_EXISTS (1) and POSIX_SEMANTICS (2) and refuses other bits.
    let (replace, posix) = if class == FileRenameInformationEx {
        let flags = u32::from_le_bytes(raw[..4].try_into().unwrap_or([0; 4]));
        if flags & !(RENAME_REPLACE_IF_EXISTS | RENAME_POSIX_SEMANTICS) != 0 {
            return st::INVALID_PARAMETER;
        }
        (flags & RENAME_REPLACE_IF_EXISTS != 0, flags & RENAME_POSIX_SEMANTICS != 0)
    } else {
        (raw[0] != 0, false)
    };
    let root = u64::from_le_bytes(raw[RENAME_ROOT..RENAME_ROOT + 8].try_into().unwrap_or([0; 8]));
    let name_len = u32::from_le_bytes(raw[RENAME_LEN..RENAME_LEN + 4].try_into().unwrap_or([0; 4])) as usize;
    if name_len % 2 != 0 || RENAME_NAME + name_len > length {
        return st::INVALID_PARAMETER;
    }
    let units: Vec<u16> = raw[RENAME_NAME..RENAME_NAME + name_len].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    let target_name = String::from_utf16_lossy(&units);
    let r = with_fatal(|k| {
        let o = file_obj(k, h, "ZwSetInformationFile")?;
        if let Some(s) = k.faults.hit("ZwSetInformationFile") {
            return Ok(s);
        }
        if root != 0 {
            return Err("ZwSetInformationFile: FileRenameInformation with a RootDirectory is not modeled".to_string());
        }
        if o.access & DELETE == 0 {
            return Ok(st::ACCESS_DENIED);
        }
        let target = if target_name.starts_with('\\') {
            match fs::resolve(&target_name) {
                Ok(r) => r.path,
                Err(s) => return Ok(s),
            }
        } else {
            // A simple name: rename within the same directory.
            format!("{}\\{target_name}", fs::parent(&o.path).unwrap_or(fs::VOLUME))
        };
        if let Err(s) = parent_status(k, &target) {
            return Ok(s);
        }
        if fs::fold(&target) == fs::fold(&o.path) {
            return Ok(st::SUCCESS);
        }
        let mut orphan = false;
        if let Some(t) = k.persist.fs.node(&target) {
            if !replace {
                return Ok(st::OBJECT_NAME_COLLISION);
            }
            if t.dir {
                return Ok(st::ACCESS_DENIED);
            }
            if open_count(k, &target) > 0 {
                // POSIX semantics replace a file others hold open if every open
                // shares delete (the replaced file is deleted POSIX-style); the
                // legacy rename never does.
                let all_share_delete = opens_of(k, &target).all(|o| o.share & FILE_SHARE_DELETE != 0);
                if !(posix && all_share_delete) {
                    return Ok(st::ACCESS_DENIED);
                }
                orphan = true;
            }
        }
        if !k.persist.fs.rename(&o.path, &target) {
            return Ok(st::OBJECT_NAME_NOT_FOUND);
        }
        if orphan {
            // The old handles keep the replaced file, which no longer has a name.
            let gone = fs::fold(&target);
            let unnamed = format!("{target}:replaced");
            for f in k.foreign.iter_mut().filter(|f| fs::fold(&f.path) == gone) {
                f.path.clone_from(&unnamed);
            }
            for hd in k.handles.values_mut() {
                if let Obj::File(f) = &mut hd.obj {
                    if fs::fold(&f.path) == gone {
                        f.path.clone_from(&unnamed);
                    }
                }
            }
        }
        let old = fs::fold(&o.path);
        for hd in k.handles.values_mut() {
            if let Obj::File(f) = &mut hd.obj {
                if fs::fold(&f.path) == old {
                    f.path = target.clone();
                }
            }
        }
        Ok(st::SUCCESS)
    });
    // SAFETY: checked non-null.
    unsafe { set_iosb(iosb, r, 0) };
    r
}
nt_export!(ZwSetInformationFile => zw_set_information_file);
check_sig!(wdk_sys::ntddk::ZwSetInformationFile, zw_set_information_file);
