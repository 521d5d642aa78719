//! Registry entry points over the in-memory hive (`crate::registry`): `ZwCreateKey`
//! (parent must exist, `KEY_CREATE_SUB_KEY` on a parent handle to create, dispositions),
//! `ZwQueryValueKey` (`KeyValuePartialInformation` with its short-buffer rules),
//! `ZwSetValueKey`, `ZwFlushKey` (counted), with access checks on key handles and the
//! GENERIC_* to key-rights mapping the WDF model shares.

use wdk_sys::{
    _KEY_VALUE_INFORMATION_CLASS::KeyValuePartialInformation,
    ACCESS_MASK, HANDLE, KEY_CREATE_SUB_KEY, KEY_QUERY_VALUE, KEY_SET_VALUE, KEY_VALUE_INFORMATION_CLASS, NTSTATUS, PHANDLE,
    POBJECT_ATTRIBUTES, PULONG, PUNICODE_STRING, PVOID, REG_CREATED_NEW_KEY, REG_OPENED_EXISTING_KEY, ULONG,
};

use super::{object_attributes, us_string};
use crate::probe::enter;
use crate::state::{Handle, Kernel, Obj, fatal, with_fatal};
use crate::status as st;
use crate::{check_sig, nt_export};

fn key_path(k: &Kernel, h: HANDLE, api: &str) -> Result<(String, u32), String> {
    match k.handles.get(&(h as usize)) {
        Some(Handle { obj: Obj::Key { path, access }, .. }) => Ok((path.clone(), *access)),
        Some(_) => Err(format!("{api}({h:p}): not a key handle (OBJECT_TYPE_MISMATCH)")),
        None => Err(format!("{api}({h:p}): not an open handle (INVALID_KERNEL_HANDLE)")),
    }
}

/// The object manager's part of an absolute key name: the part after `\Registry`.
/// Another root object is not found (`\Foobar`), or a path not found under it
/// (`\Foobar\Machine`); an empty component there is invalid (`\\Registry`).
fn registry_root(name: &str) -> Result<&str, NTSTATUS> {
    let rest = name.strip_prefix('\\').unwrap_or(name);
    let (first, tail) = rest.split_once('\\').map_or((rest, None), |(a, b)| (a, Some(b)));
    if first.eq_ignore_ascii_case("Registry") {
        return Ok(tail.unwrap_or(""));
    }
    Err(match (first.is_empty(), tail) {
        (true, Some(_)) => st::OBJECT_NAME_INVALID,
        (true, None) => st::OBJECT_TYPE_MISMATCH,
        (false, Some(_)) => st::OBJECT_PATH_NOT_FOUND,
        (false, None) => st::OBJECT_NAME_NOT_FOUND,
    })
}

/// `base` + the components of `rest`: the registry's parse routine skips empty
/// components (`a\\b`, a trailing `\`, and `""`, which names `base` itself), as
/// Wine's tests of NtCreateKey observe on Windows.
fn key_name(base: &str, rest: &str) -> String {
    rest.split('\\').filter(|c| !c.is_empty()).fold(base.to_string(), |p, c| format!("{p}\\{c}"))
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
            match registry_root(&name) {
                Ok(rest) => (key_name("\\Registry", rest), u32::MAX),
                Err(s) => return Ok(Err(s)),
            }
        } else {
            if name.starts_with('\\') {
                return Ok(Err(st::OBJECT_PATH_SYNTAX_BAD));
            }
            let (base, acc) = key_path(k, root, "ZwCreateKey")?;
            (key_name(&base, &name), acc)
        };
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
        k.persist.flush_hive();
        Ok(st::SUCCESS)
    })
}
nt_export!(ZwFlushKey => zw_flush_key);
check_sig!(wdk_sys::ntddk::ZwFlushKey, zw_flush_key);
