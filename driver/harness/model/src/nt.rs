//! The NT functions the driver imports (`wdk_sys::ntddk`), defined with the
//! bindings' exact signatures (`check_sig!`) behind probing shims (`nt_export!`).
//!
//! To model a new import: write `unsafe extern "C" fn imp(..)` with the binding's
//! signature starting with `let _e = enter("Name");`, then add
//! `nt_export!(Name => imp); check_sig!(wdk_sys::ntddk::Name, imp);`.
#![allow(clippy::missing_safety_doc, clippy::not_unsafe_ptr_arg_deref)]

use wdk_sys::{
    _FILE_INFORMATION_CLASS::{FileAttributeTagInformation, FileNamesInformation, FileRenameInformation, FileStandardInformation},
    _KEY_VALUE_INFORMATION_CLASS::KeyValuePartialInformation,
    ACCESS_MASK, BOOLEAN, DELETE, FILE_APPEND_DATA, FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_DIRECTORY,
    FILE_ATTRIBUTE_REPARSE_POINT, FILE_CREATED, FILE_DIRECTORY_FILE, FILE_EXECUTE, FILE_INFORMATION_CLASS,
    FILE_NON_DIRECTORY_FILE, FILE_OPEN_REPARSE_POINT, FILE_OPENED, FILE_OVERWRITTEN, FILE_READ_ATTRIBUTES, FILE_READ_DATA,
    FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_SUPERSEDED, FILE_SYNCHRONOUS_IO_ALERT,
    FILE_SYNCHRONOUS_IO_NONALERT, FILE_WRITE_DATA, HANDLE, IO_REPARSE_TAG_SYMLINK, KEY_CREATE_SUB_KEY, KEY_QUERY_VALUE,
    KEY_SET_VALUE, KEY_VALUE_INFORMATION_CLASS, MAXIMUM_EXPANSION_SIZE, NTSTATUS, OBJ_KERNEL_HANDLE, OBJECT_ATTRIBUTES,
    PCREATE_PROCESS_NOTIFY_ROUTINE_EX, PEXPAND_STACK_CALLOUT, PHANDLE, PIO_APC_ROUTINE, PIO_STATUS_BLOCK, PLARGE_INTEGER,
    POBJECT_ATTRIBUTES, POOL_FLAG_NON_PAGED, POOL_FLAG_NON_PAGED_EXECUTE, POOL_FLAG_PAGED, POOL_FLAG_UNINITIALIZED,
    POOL_FLAGS, PULONG, PUNICODE_STRING, PVOID, REG_CREATED_NEW_KEY, REG_OPENED_EXISTING_KEY, SIZE_T, SYNCHRONIZE, ULONG,
    ULONG_PTR, ULONGLONG, UNICODE_STRING,
};

use crate::fs::{self, Node};
use crate::probe::enter;
use crate::report::BootEnd;
use crate::state::{self, Block, FileObj, Handle, Kernel, Obj, fatal, with, with_fatal};
use crate::status as st;
use crate::{check_sig, nt_export};

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

// ---------------------------------------------------------------- pool

unsafe extern "C" fn ex_allocate_pool2(flags: POOL_FLAGS, size: SIZE_T, tag: ULONG) -> PVOID {
    let _e = enter("ExAllocatePool2");
    let seg = crate::probe::current_seg();
    let r = with(|k| {
        let kinds = flags & (POOL_FLAG_NON_PAGED | POOL_FLAG_PAGED | POOL_FLAG_NON_PAGED_EXECUTE);
        if kinds.count_ones() != 1 {
            k.violation(format!("ExAllocatePool2: flags {flags:#x} name no single pool type (BAD_POOL_CALLER)"));
            return Err(());
        }
        if tag == 0 {
            k.violation("ExAllocatePool2: tag 0 (BAD_POOL_CALLER)".to_string());
        }
        if size == 0 {
            k.violation(format!("ExAllocatePool2: zero-byte allocation, tag {}", tag_name(tag)));
        }
        if k.faults.hit("ExAllocatePool2").is_some() || k.faults.hit(&format!("ExAllocatePool2:{}", tag_name(tag))).is_some() {
            return Err(());
        }
        Ok(())
    });
    if r.is_err() {
        return core::ptr::null_mut();
    }
    let size = size as usize;
    // Pool blocks below a page are 16-byte aligned on x64, a page or more page-aligned.
    let align = if size >= 4096 { 4096 } else { 16 };
    let Ok(layout) = std::alloc::Layout::from_size_align(size.max(1), align) else { return core::ptr::null_mut() };
    // SAFETY: non-zero size layout; the system allocator, not the global one.
    let p = unsafe { std::alloc::GlobalAlloc::alloc(&std::alloc::System, layout) };
    if p.is_null() {
        return p.cast();
    }
    let fill = if flags & POOL_FLAG_UNINITIALIZED != 0 { 0xCD } else { 0 };
    // SAFETY: p is a fresh block of layout.size() bytes.
    unsafe { core::ptr::write_bytes(p, fill, layout.size()) };
    with(|k| {
        k.pool.insert(p as usize, Block { size, tag, layout, seg });
        let t = k.tags.entry(tag).or_default();
        t.allocs += 1;
        t.live += size;
        t.peak = t.peak.max(t.live);
    });
    p.cast()
}
nt_export!(ExAllocatePool2 => ex_allocate_pool2);
check_sig!(wdk_sys::ntddk::ExAllocatePool2, ex_allocate_pool2);

/// A pool tag as text (`'CgCh'`).
pub fn tag_name(tag: u32) -> String {
    tag.to_le_bytes().iter().map(|b| if b.is_ascii_graphic() { *b as char } else { '.' }).collect()
}

unsafe extern "C" fn ex_free_pool(p: PVOID) {
    let _e = enter("ExFreePool");
    let block = with(|k| {
        let b = k.pool.remove(&(p as usize));
        if let Some(b) = &b {
            let t = k.tags.entry(b.tag).or_default();
            t.frees += 1;
            t.live -= b.size;
        }
        b
    });
    match block {
        // SAFETY: allocated by ex_allocate_pool2 with this layout, freed once (removed above).
        Some(b) => unsafe { std::alloc::GlobalAlloc::dealloc(&std::alloc::System, p.cast(), b.layout) },
        None => fatal(format!("ExFreePool({p:p}): not a live pool block (BAD_POOL_CALLER: double free or foreign pointer)")),
    }
}
nt_export!(ExFreePool => ex_free_pool);
check_sig!(wdk_sys::ntddk::ExFreePool, ex_free_pool);

// ---------------------------------------------------------------- handles

unsafe extern "C" fn zw_close(h: HANDLE) -> NTSTATUS {
    let _e = enter("ZwClose");
    with_fatal(|k| {
        let Some(entry) = k.handles.get(&(h as usize)) else {
            return Err(format!("ZwClose({h:p}): not an open handle (INVALID_KERNEL_HANDLE)"));
        };
        if entry.wdf_owned {
            return Err(format!("ZwClose({h:p}): the handle belongs to a WDFKEY (WdfRegistryClose closes it)"));
        }
        k.handles.remove(&(h as usize));
        Ok(st::SUCCESS)
    })
}
nt_export!(ZwClose => zw_close);
check_sig!(wdk_sys::ntddk::ZwClose, zw_close);

// ---------------------------------------------------------------- registry

fn key_path(k: &Kernel, h: HANDLE, api: &str) -> Result<(String, u32), String> {
    match k.handles.get(&(h as usize)) {
        Some(Handle { obj: Obj::Key { path, access }, .. }) => Ok((path.clone(), *access)),
        Some(_) => Err(format!("{api}({h:p}): not a key handle (OBJECT_TYPE_MISMATCH)")),
        None => Err(format!("{api}({h:p}): not an open handle (INVALID_KERNEL_HANDLE)")),
    }
}

unsafe extern "C" fn zw_create_key(
    key_handle: PHANDLE,
    access: ACCESS_MASK,
    oa: POBJECT_ATTRIBUTES,
    _title_index: ULONG,
    _class: PUNICODE_STRING,
    _options: ULONG,
    disposition: PULONG,
) -> NTSTATUS {
    let _e = enter("ZwCreateKey");
    if key_handle.is_null() {
        fatal("ZwCreateKey: KeyHandle is NULL".to_string());
    }
    // SAFETY: driver pointer, checked by object_attributes.
    let (root, name, _) = unsafe { object_attributes("ZwCreateKey", oa) };
    let seg = crate::probe::current_seg();
    let r = with_fatal(|k| {
        if let Some(s) = k.faults.hit("ZwCreateKey") {
            return Ok(Err(s));
        }
        let (path, parent_access) = if root.is_null() {
            if !name.starts_with('\\') {
                return Ok(Err(st::OBJECT_PATH_SYNTAX_BAD));
            }
            if !crate::registry::fold(&name).starts_with("\\REGISTRY\\") {
                return Ok(Err(st::OBJECT_NAME_NOT_FOUND));
            }
            (name.clone(), u32::MAX)
        } else {
            if name.starts_with('\\') {
                return Ok(Err(st::OBJECT_PATH_SYNTAX_BAD));
            }
            let (base, acc) = key_path(k, root, "ZwCreateKey")?;
            (format!("{base}\\{name}"), acc)
        };
        if name.is_empty() || path.split('\\').skip(1).any(str::is_empty) {
            return Ok(Err(st::OBJECT_NAME_INVALID));
        }
        let exists = k.persist.registry.key(&path).is_some();
        if !exists && parent_access & KEY_CREATE_SUB_KEY == 0 {
            return Ok(Err(st::ACCESS_DENIED));
        }
        let Some(created) = k.persist.registry.create_key(&path) else { return Ok(Err(st::OBJECT_NAME_NOT_FOUND)) };
        let stored = k.persist.registry.key(&path).map_or(path.clone(), |key| key.path.clone());
        let h = k.new_handle(Handle { obj: Obj::Key { path: stored, access: map_key_access(access) }, opened_by: "ZwCreateKey", wdf_owned: false, seg });
        Ok(Ok((h, created)))
    });
    match r {
        Err(s) => s,
        Ok((h, created)) => {
            // SAFETY: checked non-null; the driver's out parameters.
            unsafe {
                *key_handle = h as HANDLE;
                if !disposition.is_null() {
                    *disposition = if created { REG_CREATED_NEW_KEY } else { REG_OPENED_EXISTING_KEY };
                }
            }
            st::SUCCESS
        }
    }
}
nt_export!(ZwCreateKey => zw_create_key);
check_sig!(wdk_sys::ntddk::ZwCreateKey, zw_create_key);

/// GENERIC_* -> key rights (KEY_READ/KEY_WRITE/KEY_ALL_ACCESS).
pub fn map_key_access(a: u32) -> u32 {
    let mut r = a & 0x00FF_FFFF;
    if a & 0x8000_0000 != 0 {
        r |= wdk_sys::KEY_READ;
    }
    if a & 0x4000_0000 != 0 {
        r |= wdk_sys::KEY_WRITE;
    }
    if a & 0x1000_0000 != 0 || a & wdk_sys::MAXIMUM_ALLOWED != 0 {
        r |= wdk_sys::KEY_ALL_ACCESS;
    }
    r
}

/// Offset of `Data` in KEY_VALUE_PARTIAL_INFORMATION (TitleIndex, Type, DataLength).
const KVPI_DATA: usize = 12;

unsafe extern "C" fn zw_query_value_key(
    key: HANDLE,
    value_name: PUNICODE_STRING,
    class: KEY_VALUE_INFORMATION_CLASS,
    info: PVOID,
    length: ULONG,
    result_length: PULONG,
) -> NTSTATUS {
    let _e = enter("ZwQueryValueKey");
    if result_length.is_null() {
        fatal("ZwQueryValueKey: ResultLength is NULL".to_string());
    }
    // SAFETY: the driver's UNICODE_STRING.
    let name = unsafe { us_string(value_name, "ZwQueryValueKey") };
    let r = with_fatal(|k| {
        let (path, access) = key_path(k, key, "ZwQueryValueKey")?;
        if class != KeyValuePartialInformation {
            return Err(format!("ZwQueryValueKey: information class {class} is not modeled"));
        }
        if let Some(s) = k.faults.hit("ZwQueryValueKey") {
            return Ok(Err(s));
        }
        if access & KEY_QUERY_VALUE == 0 {
            return Ok(Err(st::ACCESS_DENIED));
        }
        match k.persist.registry.value(&path, &name) {
            None => Ok(Err(st::OBJECT_NAME_NOT_FOUND)),
            Some(v) => Ok(Ok((v.ty, v.data.clone()))),
        }
    });
    let (ty, data) = match r {
        Err(s) => return s,
        Ok(v) => v,
    };
    let full = KVPI_DATA + data.len();
    let length = length as usize;
    // SAFETY: checked non-null.
    unsafe { *result_length = full as ULONG };
    if length < KVPI_DATA {
        return st::BUFFER_TOO_SMALL;
    }
    if info.is_null() {
        fatal("ZwQueryValueKey: KeyValueInformation is NULL with a non-zero Length".to_string());
    }
    let out = info.cast::<u8>();
    let header = [0u32.to_le_bytes(), ty.to_le_bytes(), (data.len() as u32).to_le_bytes()].concat();
    let n = data.len().min(length - KVPI_DATA);
    // SAFETY: the driver's buffer is `length` bytes; we write at most that.
    unsafe {
        core::ptr::copy_nonoverlapping(header.as_ptr(), out, KVPI_DATA);
        core::ptr::copy_nonoverlapping(data.as_ptr(), out.add(KVPI_DATA), n);
    }
    if n < data.len() { st::BUFFER_OVERFLOW } else { st::SUCCESS }
}
nt_export!(ZwQueryValueKey => zw_query_value_key);
check_sig!(wdk_sys::ntddk::ZwQueryValueKey, zw_query_value_key);

unsafe extern "C" fn zw_set_value_key(
    key: HANDLE,
    value_name: PUNICODE_STRING,
    _title_index: ULONG,
    ty: ULONG,
    data: PVOID,
    size: ULONG,
) -> NTSTATUS {
    let _e = enter("ZwSetValueKey");
    // SAFETY: the driver's UNICODE_STRING.
    let name = unsafe { us_string(value_name, "ZwSetValueKey") };
    let bytes = if size == 0 {
        Vec::new()
    } else if data.is_null() {
        fatal("ZwSetValueKey: Data is NULL with a non-zero DataSize".to_string());
    } else {
        // SAFETY: the driver's buffer of `size` bytes.
        unsafe { core::slice::from_raw_parts(data.cast::<u8>(), size as usize) }.to_vec()
    };
    with_fatal(|k| {
        let (path, access) = key_path(k, key, "ZwSetValueKey")?;
        if let Some(s) = k.faults.hit("ZwSetValueKey") {
            return Ok(s);
        }
        if access & KEY_SET_VALUE == 0 {
            return Ok(st::ACCESS_DENIED);
        }
        k.persist.registry.set(&path, &name, ty, &bytes);
        Ok(st::SUCCESS)
    })
}
nt_export!(ZwSetValueKey => zw_set_value_key);
check_sig!(wdk_sys::ntddk::ZwSetValueKey, zw_set_value_key);

unsafe extern "C" fn zw_flush_key(key: HANDLE) -> NTSTATUS {
    let _e = enter("ZwFlushKey");
    with_fatal(|k| {
        let (path, _) = key_path(k, key, "ZwFlushKey")?;
        if let Some(s) = k.faults.hit("ZwFlushKey") {
            return Ok(s);
        }
        if let Some(key) = k.persist.registry.key_mut(&path) {
            key.flushes += 1;
        }
        Ok(st::SUCCESS)
    })
}
nt_export!(ZwFlushKey => zw_flush_key);
check_sig!(wdk_sys::ntddk::ZwFlushKey, zw_flush_key);

// ---------------------------------------------------------------- files

fn reads(a: u32) -> bool {
    a & (FILE_READ_DATA | FILE_EXECUTE) != 0
}
fn writes(a: u32) -> bool {
    a & (FILE_WRITE_DATA | FILE_APPEND_DATA) != 0
}
fn deletes(a: u32) -> bool {
    a & DELETE != 0
}

/// NT share-access check of a new open against the opens of the same file.
fn share_conflict(k: &Kernel, path: &str, access: u32, share: u32) -> bool {
    let f = fs::fold(path);
    k.handles.values().any(|h| match &h.obj {
        Obj::File(o) if fs::fold(&o.path) == f => {
            (reads(access) && o.share & FILE_SHARE_READ == 0)
                || (writes(access) && o.share & FILE_SHARE_WRITE == 0)
                || (deletes(access) && o.share & FILE_SHARE_DELETE == 0)
                || (reads(o.access) && share & FILE_SHARE_READ == 0)
                || (writes(o.access) && share & FILE_SHARE_WRITE == 0)
                || (deletes(o.access) && share & FILE_SHARE_DELETE == 0)
        }
        _ => false,
    })
}

fn open_count(k: &Kernel, path: &str) -> usize {
    let f = fs::fold(path);
    k.handles.values().filter(|h| matches!(&h.obj, Obj::File(o) if fs::fold(&o.path) == f)).count()
}

/// Resolves a file name (absolute, or relative to a directory handle).
fn resolve_file(k: &Kernel, root: HANDLE, name: &str, api: &str) -> Result<Result<fs::Resolved, NTSTATUS>, String> {
    if root.is_null() {
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
fn parent_status(k: &Kernel, path: &str) -> Result<(), NTSTATUS> {
    let Some(p) = fs::parent(path) else { return Ok(()) };
    match k.persist.fs.node(p) {
        Some(n) if n.dir && !n.reparse => Ok(()),
        Some(n) if n.reparse => Err(wdk_sys::STATUS_REPARSE_POINT_NOT_RESOLVED),
        _ => Err(st::OBJECT_PATH_NOT_FOUND),
    }
}

fn file_obj(k: &Kernel, h: HANDLE, api: &str) -> Result<FileObj, String> {
    match k.handles.get(&(h as usize)) {
        Some(Handle { obj: Obj::File(o), .. }) => Ok(o.clone()),
        Some(_) => Err(format!("{api}({h:p}): not a file handle (OBJECT_TYPE_MISMATCH)")),
        None => Err(format!("{api}({h:p}): not an open handle (INVALID_KERNEL_HANDLE)")),
    }
}

fn file_obj_mut<'a>(k: &'a mut Kernel, h: HANDLE) -> Option<&'a mut FileObj> {
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
                k.persist.fs.nodes.insert(fs::fold(&res.path), Node { path: res.path.clone(), dir, ..Node::default() });
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
        Ok(st::SUCCESS)
    });
    // SAFETY: checked non-null.
    unsafe { set_iosb(iosb, r, 0) };
    r
}
nt_export!(ZwFlushBuffersFile => zw_flush_buffers_file);
check_sig!(wdk_sys::ntddk::ZwFlushBuffersFile, zw_flush_buffers_file);

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
    if class != FileRenameInformation {
        fatal(format!("ZwSetInformationFile: class {class} is not modeled"));
    }
    let length = length as usize;
    if length < core::mem::size_of::<wdk_sys::FILE_RENAME_INFORMATION>() {
        return st::INFO_LENGTH_MISMATCH;
    }
    // SAFETY: the driver's buffer of `length` bytes.
    let raw = unsafe { core::slice::from_raw_parts(info.cast::<u8>(), length) };
    let replace = raw[0] != 0;
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
        if let Some(t) = k.persist.fs.node(&target) {
            if !replace {
                return Ok(st::OBJECT_NAME_COLLISION);
            }
            if t.dir || open_count(k, &target) > 0 {
                return Ok(st::ACCESS_DENIED);
            }
        }
        let Some(mut node) = k.persist.fs.nodes.remove(&fs::fold(&o.path)) else { return Ok(st::OBJECT_NAME_NOT_FOUND) };
        let old = fs::fold(&o.path);
        node.path = target.clone();
        k.persist.fs.nodes.insert(fs::fold(&target), node);
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
        let key = fs::fold(&n.path);
        k.persist.fs.nodes.remove(&key);
        Ok(st::SUCCESS)
    })
}
nt_export!(ZwDeleteFile => zw_delete_file);
check_sig!(wdk_sys::ntddk::ZwDeleteFile, zw_delete_file);

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

// ---------------------------------------------------------------- Ke / Ps / Dbg

unsafe extern "C" fn ke_query_unbiased_interrupt_time() -> ULONGLONG {
    let _e = enter("KeQueryUnbiasedInterruptTime");
    with(|k| k.clock.unbiased)
}
nt_export!(KeQueryUnbiasedInterruptTime => ke_query_unbiased_interrupt_time);
check_sig!(wdk_sys::ntddk::KeQueryUnbiasedInterruptTime, ke_query_unbiased_interrupt_time);

unsafe extern "C" fn ps_set_create_process_notify_routine_ex(routine: PCREATE_PROCESS_NOTIFY_ROUTINE_EX, remove: BOOLEAN) -> NTSTATUS {
    let _e = enter("PsSetCreateProcessNotifyRoutineEx");
    with_fatal(|k| {
        let Some(f) = routine else { return Err("PsSetCreateProcessNotifyRoutineEx: NULL routine".to_string()) };
        if remove == 0 {
            if let Some(s) = k.faults.hit("PsSetCreateProcessNotifyRoutineEx") {
                return Ok(s);
            }
            if k.notify.is_some() {
                return Ok(st::INVALID_PARAMETER);
            }
            k.notify = Some(f);
            Ok(st::SUCCESS)
        } else if k.notify.map(|g| g as usize) == Some(f as usize) {
            k.notify = None;
            Ok(st::SUCCESS)
        } else {
            Ok(st::PROCEDURE_NOT_FOUND)
        }
    })
}
nt_export!(PsSetCreateProcessNotifyRoutineEx => ps_set_create_process_notify_routine_ex);
check_sig!(wdk_sys::ntddk::PsSetCreateProcessNotifyRoutineEx, ps_set_create_process_notify_routine_ex);

unsafe extern "C" fn ke_expand_kernel_stack_and_callout(callout: PEXPAND_STACK_CALLOUT, param: PVOID, size: SIZE_T) -> NTSTATUS {
    let _e = enter("KeExpandKernelStackAndCallout");
    let Some(f) = callout else { fatal("KeExpandKernelStackAndCallout: NULL callout".to_string()) };
    let size = size as usize;
    let here = crate::probe::current_seg();
    let plan = with(|k| {
        if let Some(s) = k.faults.hit("KeExpandKernelStackAndCallout") {
            return Err(s);
        }
        if size > MAXIMUM_EXPANSION_SIZE as usize {
            return Err(st::INVALID_PARAMETER_3);
        }
        let path = k.stacks.get(here).map_or_else(|| "?".to_string(), |s| s.row.path.clone());
        Ok(k.seg(&path, "expanded", size))
    });
    let seg = match plan {
        Ok(s) => s,
        Err(s) => return s,
    };
    let ((), hwm) = crate::probe::callout(seg, size, || {
        // SAFETY: the driver's callout with its own parameter, on a new stack segment.
        unsafe { f(param) }
    });
    with(|k| {
        if let Some(s) = k.stacks.get_mut(seg) {
            s.row.runs += 1;
            s.row.hwm = s.row.hwm.max(hwm as u64);
        }
    });
    st::SUCCESS
}
nt_export!(KeExpandKernelStackAndCallout => ke_expand_kernel_stack_and_callout);
check_sig!(wdk_sys::ntddk::KeExpandKernelStackAndCallout, ke_expand_kernel_stack_and_callout);

unsafe extern "C" fn ke_bug_check_ex(code: ULONG, p1: ULONG_PTR, p2: ULONG_PTR, p3: ULONG_PTR, p4: ULONG_PTR) -> ! {
    let _e = enter("KeBugCheckEx");
    with(|k| k.dbg_print(&format!("*** BUGCHECK {code:#010x} ({p1:#x}, {p2:#x}, {p3:#x}, {p4:#x})\n")));
    state::finish(BootEnd::Bugcheck { code, params: [p1 as u64, p2 as u64, p3 as u64, p4 as u64] })
}
nt_export!(KeBugCheckEx => ke_bug_check_ex);
check_sig!(wdk_sys::ntddk::KeBugCheckEx, ke_bug_check_ex);

/// `DbgPrint("%s", text)` of the wdk twin's `println!`.
unsafe extern "C" fn harness_dbg_print(text: *const u8) -> u32 {
    let _e = enter("DbgPrint");
    if text.is_null() {
        return 0;
    }
    // SAFETY: the twin passes a NUL-terminated buffer.
    let s = unsafe { core::ffi::CStr::from_ptr(text.cast()) }.to_string_lossy().into_owned();
    with(|k| k.dbg_print(&s));
    0
}
nt_export!(HarnessDbgPrint => harness_dbg_print);

