//! Files by name: `ZwCreateFile` (all dispositions, directory vs non-directory,
//! `SYNCHRONIZE` required for synchronous handles, reparse points with
//! `FILE_OPEN_REPARSE_POINT`, NT share-access rules) and `ZwDeleteFile`, plus the
//! helpers the other file modules share: resolving a name (absolute or relative to a
//! directory handle), the parent-directory check, open counts and file-handle lookup.

use wdk_sys::{
    ACCESS_MASK, DELETE, FILE_APPEND_DATA, FILE_CREATED, FILE_DIRECTORY_FILE, FILE_EXECUTE, FILE_NON_DIRECTORY_FILE,
    FILE_OPEN_REPARSE_POINT, FILE_OPENED, FILE_OVERWRITTEN, FILE_READ_DATA, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE, FILE_SUPERSEDED, FILE_SYNCHRONOUS_IO_ALERT, FILE_SYNCHRONOUS_IO_NONALERT, FILE_WRITE_DATA, HANDLE,
    NTSTATUS, PHANDLE, PIO_STATUS_BLOCK, PLARGE_INTEGER, POBJECT_ATTRIBUTES, PVOID, SYNCHRONIZE, ULONG,
};

use super::{object_attributes, set_iosb};
use crate::fs;
use crate::probe::enter;
use crate::state::{FileObj, Handle, Kernel, Obj, fatal, with_fatal};
use crate::status as st;
use crate::{check_sig, nt_export};

fn reads(a: u32) -> bool {
    a & (FILE_READ_DATA | FILE_EXECUTE) != 0
}
fn writes(a: u32) -> bool {
    a & (FILE_WRITE_DATA | FILE_APPEND_DATA) != 0
}
fn deletes(a: u32) -> bool {
    a & DELETE != 0
}

/// Every open of `path`: the driver's handles and other processes' (`Kernel::foreign`).
pub(super) fn opens_of<'a>(k: &'a Kernel, path: &str) -> impl Iterator<Item = &'a FileObj> + 'a {
    let f = fs::fold(path);
    let mine = k.handles.values().filter_map(|h| match &h.obj {
        Obj::File(o) => Some(o),
        _ => None,
    });
    mine.chain(k.foreign.iter()).filter(move |o| fs::fold(&o.path) == f)
}

/// NT share-access check of a new open against the opens of the same file.
fn share_conflict(k: &Kernel, path: &str, access: u32, share: u32) -> bool {
    opens_of(k, path).any(|o| {
        (reads(access) && o.share & FILE_SHARE_READ == 0)
            || (writes(access) && o.share & FILE_SHARE_WRITE == 0)
            || (deletes(access) && o.share & FILE_SHARE_DELETE == 0)
            || (reads(o.access) && share & FILE_SHARE_READ == 0)
            || (writes(o.access) && share & FILE_SHARE_WRITE == 0)
            || (deletes(o.access) && share & FILE_SHARE_DELETE == 0)
    })
}

pub(super) fn open_count(k: &Kernel, path: &str) -> usize {
    opens_of(k, path).count()
}

/// Resolves a file name (absolute, or relative to a directory handle).
fn resolve_file(k: &Kernel, root: HANDLE, name: &str, api: &str) -> Result<Result<fs::Resolved, NTSTATUS>, String> {
    if root.is_null() {
        // The object manager wants an absolute name here; an empty one is not
        // (Wine's om.c tests, which pass on Windows: OBJECT_PATH_SYNTAX_BAD).
        if name.is_empty() {
            return Ok(Err(st::OBJECT_PATH_SYNTAX_BAD));
        }
        return Ok(fs::resolve(name));
    }
    match k.handles.get(&(root as usize)) {
        Some(Handle { obj: Obj::File(o), .. }) if o.dir => {
            if name.starts_with('\\') {
                return Ok(Err(st::INVALID_PARAMETER));
            }
            Ok(fs::resolve(&format!("{}\\{name}", o.path)))
        }
        Some(_) => Ok(Err(st::OBJECT_TYPE_MISMATCH)),
        None => Err(format!("{api}: RootDirectory {root:p} is not an open handle")),
    }
}

/// Checks that every ancestor of `path` is an existing, non-reparse directory.
pub(super) fn parent_status(k: &Kernel, path: &str) -> Result<(), NTSTATUS> {
    let Some(p) = fs::parent(path) else { return Ok(()) };
    match k.persist.fs.node(p) {
        Some(n) if n.dir && !n.reparse => Ok(()),
        Some(n) if n.reparse => Err(wdk_sys::STATUS_REPARSE_POINT_NOT_RESOLVED),
        _ => Err(st::OBJECT_PATH_NOT_FOUND),
    }
}

pub(super) fn file_obj(k: &Kernel, h: HANDLE, api: &str) -> Result<FileObj, String> {
    match k.handles.get(&(h as usize)) {
        Some(Handle { obj: Obj::File(o), .. }) => Ok(o.clone()),
        Some(_) => Err(format!("{api}({h:p}): not a file handle (OBJECT_TYPE_MISMATCH)")),
        None => Err(format!("{api}({h:p}): not an open handle (INVALID_KERNEL_HANDLE)")),
    }
}

pub(super) fn file_obj_mut<'a>(k: &'a mut Kernel, h: HANDLE) -> Option<&'a mut FileObj> {
    match k.handles.get_mut(&(h as usize)) {
        Some(Handle { obj: Obj::File(o), .. }) => Some(o),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn zw_create_file(
    file_handle: PHANDLE,
    access: ACCESS_MASK,
    oa: POBJECT_ATTRIBUTES,
    iosb: PIO_STATUS_BLOCK,
    _allocation_size: PLARGE_INTEGER,
    _file_attributes: ULONG,
    share: ULONG,
    disposition: ULONG,
    options: ULONG,
    _ea: PVOID,
    _ea_len: ULONG,
) -> NTSTATUS {
    let _e = enter("ZwCreateFile");
    if file_handle.is_null() || iosb.is_null() {
        fatal("ZwCreateFile: FileHandle or IoStatusBlock is NULL".to_string());
    }
    // SAFETY: driver pointer.
    let (root, name, _) = unsafe { object_attributes("ZwCreateFile", oa) };
    let seg = crate::probe::current_seg();
    let r = with_fatal(|k| {
        if let Some(s) = k.faults.hit("ZwCreateFile") {
            return Ok(Err(s));
        }
        let res = match resolve_file(k, root, &name, "ZwCreateFile")? {
            Ok(r) => r,
            Err(s) => return Ok(Err(s)),
        };
        let want_dir = options & FILE_DIRECTORY_FILE != 0;
        let want_file = options & FILE_NON_DIRECTORY_FILE != 0;
        if want_dir && want_file {
            return Ok(Err(st::INVALID_PARAMETER));
        }
        if options & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT) == 0 {
            return Err("ZwCreateFile: asynchronous handle (no FILE_SYNCHRONOUS_IO_*): pending I/O is not modeled".to_string());
        }
        if access & SYNCHRONIZE == 0 {
            return Ok(Err(st::INVALID_PARAMETER));
        }
        if disposition > 5 || (want_dir && !matches!(disposition, 1..=3)) {
            return Ok(Err(st::INVALID_PARAMETER));
        }
        if let Err(s) = parent_status(k, &res.path) {
            return Ok(Err(s));
        }
        let existing = k.persist.fs.node(&res.path).cloned();
        let info;
        let dir;
        match existing {
            Some(n) => {
                if disposition == 2 {
                    return Ok(Err(st::OBJECT_NAME_COLLISION));
                }
                if n.dir && want_file {
                    return Ok(Err(st::FILE_IS_A_DIRECTORY));
                }
                if !n.dir && want_dir {
                    return Ok(Err(st::NOT_A_DIRECTORY));
                }
                if !n.dir && res.trailing_backslash {
                    return Ok(Err(st::OBJECT_NAME_INVALID));
                }
                if n.reparse && options & FILE_OPEN_REPARSE_POINT == 0 {
                    return Err("ZwCreateFile: following a reparse point is not modeled".to_string());
                }
                if share_conflict(k, &n.path, access, share) {
                    return Ok(Err(st::SHARING_VIOLATION));
                }
                dir = n.dir;
                info = match disposition {
                    0 | 4 | 5 if n.dir => return Ok(Err(st::INVALID_PARAMETER)),
                    0 => FILE_SUPERSEDED,
                    4 | 5 => FILE_OVERWRITTEN,
                    _ => FILE_OPENED,
                };
                if matches!(disposition, 0 | 4 | 5) {
                    if let Some(node) = k.persist.fs.node_mut(&n.path) {
                        node.data.clear();
                    }
                }
            }
            None => {
                if matches!(disposition, 1 | 4) {
                    return Ok(Err(st::OBJECT_NAME_NOT_FOUND));
                }
                dir = want_dir;
                k.persist.fs.create(&res.path, dir);
                info = FILE_CREATED;
            }
        }
        let path = k.persist.fs.node(&res.path).map_or(res.path.clone(), |n| n.path.clone());
        let h = k.new_handle(Handle {
            obj: Obj::File(FileObj { path, access, share, options, dir, cursor: None }),
            opened_by: "ZwCreateFile",
            wdf_owned: false,
            seg,
        });
        Ok(Ok((h, info)))
    });
    match r {
        Err(s) => s,
        Ok((h, info)) => {
            // SAFETY: checked non-null.
            unsafe {
                *file_handle = h as HANDLE;
                set_iosb(iosb, st::SUCCESS, info as usize);
            }
            st::SUCCESS
        }
    }
}
nt_export!(ZwCreateFile => zw_create_file);
check_sig!(wdk_sys::ntddk::ZwCreateFile, zw_create_file);

unsafe extern "C" fn zw_delete_file(oa: POBJECT_ATTRIBUTES) -> NTSTATUS {
    let _e = enter("ZwDeleteFile");
    // SAFETY: driver pointer.
    let (root, name, _) = unsafe { object_attributes("ZwDeleteFile", oa) };
    with_fatal(|k| {
        if let Some(s) = k.faults.hit("ZwDeleteFile") {
            return Ok(s);
        }
        let res = match resolve_file(k, root, &name, "ZwDeleteFile")? {
            Ok(r) => r,
            Err(s) => return Ok(s),
        };
        if let Err(s) = parent_status(k, &res.path) {
            return Ok(s);
        }
        let Some(n) = k.persist.fs.node(&res.path) else { return Ok(st::OBJECT_NAME_NOT_FOUND) };
        if n.dir && !k.persist.fs.list(&n.path).is_empty() {
            return Ok(st::DIRECTORY_NOT_EMPTY);
        }
        // Simplification: delete-pending until last close is not modeled; an open
        // file cannot be deleted.
        if open_count(k, &n.path) > 0 {
            return Ok(st::SHARING_VIOLATION);
        }
        let path = n.path.clone();
        k.persist.fs.delete(&path);
        Ok(st::SUCCESS)
    })
}
nt_export!(ZwDeleteFile => zw_delete_file);
check_sig!(wdk_sys::ntddk::ZwDeleteFile, zw_delete_file);
