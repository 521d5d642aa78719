//! The KMDF function table the driver calls through (`WdfFunctions`): the model's
//! implementations of the slots the driver uses, each behind a probing shim and
//! type-checked against the binding's `PFN_*`; every other slot is a stub that
//! ends the boot naming the function (`__harness::WDF_UNKNOWN_STUBS`).
//!
//! To model another WDF function: write `unsafe extern "C" fn imp(globals, ..)`
//! starting with `let _e = enter("WdfName");`, then `wdf_shim!(s_name => imp);`,
//! `const _: PFN_WDFNAME = Some(imp);` and one `slot!` line in [`install`].
#![allow(clippy::missing_safety_doc, clippy::not_unsafe_ptr_arg_deref)]

use std::sync::Arc;
use std::time::Duration;

use wdk_sys::{
    __harness::{WDF_FUNCTION_TABLE_LEN, WDF_UNKNOWN_STUBS, set_unknown_wdf_hook},
    _WDF_DEVICE_SHUTDOWN_FLAGS::{WdfDeviceLastChanceShutdown, WdfDeviceShutdown},
    _WDF_EXECUTION_LEVEL::{WdfExecutionLevelInheritFromParent, WdfExecutionLevelPassive},
    _WDFFUNCENUM as IDX, ACCESS_MASK, BOOLEAN, HANDLE, LONGLONG, NTSTATUS, PCUNICODE_STRING, PDRIVER_OBJECT,
    PFN_WDF_DEVICE_SHUTDOWN_NOTIFICATION, PFN_WDFCONTROLDEVICEINITALLOCATE, PFN_WDFCONTROLDEVICEINITSETSHUTDOWNNOTIFICATION,
    PFN_WDFCONTROLFINISHINITIALIZING, PFN_WDFDEVICECREATE,
    PFN_WDFDEVICECREATESYMBOLICLINK, PFN_WDFDEVICEINITASSIGNNAME, PFN_WDFDEVICEINITFREE, PFN_WDFDEVICEINITSETIOTYPE,
    PFN_WDFDRIVERCREATE, PFN_WDFDRIVEROPENPARAMETERSREGISTRYKEY, PFN_WDFIOQUEUECREATE, PFN_WDFREGISTRYCLOSE,
    PFN_WDFREGISTRYWDMGETHANDLE, PFN_WDFREQUESTCOMPLETEWITHINFORMATION, PFN_WDFREQUESTRETRIEVEINPUTBUFFER,
    PFN_WDFREQUESTRETRIEVEOUTPUTBUFFER, PFN_WDFTIMERCREATE, PFN_WDFTIMERSTART, PFN_WDFTIMERSTOP, PFN_WDFWAITLOCKACQUIRE,
    PFN_WDFWAITLOCKCREATE, PFN_WDFWAITLOCKRELEASE, PLONGLONG, PVOID, PWDF_DRIVER_CONFIG, PWDF_DRIVER_GLOBALS,
    PWDF_IO_QUEUE_CONFIG, PWDF_OBJECT_ATTRIBUTES, PWDF_TIMER_CONFIG, PWDFDEVICE_INIT, ULONG_PTR, UNICODE_STRING,
    WDF_DEVICE_IO_TYPE, WDF_DRIVER_CONFIG, WDF_IO_QUEUE_CONFIG, WDF_OBJECT_ATTRIBUTES, WDF_TIMER_CONFIG, WDFDEVICE,
    UCHAR, WDFDRIVER, WDFFUNC, WDFKEY, WDFQUEUE, WDFREQUEST, WDFTIMER, WDFWAITLOCK,
};

use crate::nt::us_string;
use crate::probe::{enter, kthread};
use crate::registry::PARAMETERS_KEY;
use crate::state::{Handle, Kernel, Obj, RequestObj, WaitLock, WdfObj, fatal, with, with_fatal};
use crate::status as st;
use crate::wdf_shim;

/// The `DriverGlobals` value the table functions receive (never dereferenced).
const GLOBALS: usize = 0x0000_6767_0000_0000;
/// How long a wait-lock acquire waits before the harness calls it a deadlock.
const DEADLOCK_AFTER: Duration = Duration::from_secs(10);

/// `STATUS_WDF_PARENT_NOT_SPECIFIED` (wdfstatus.h; not in wdk-sys's STATUS_ list).
const STATUS_WDF_PARENT_NOT_SPECIFIED: NTSTATUS = 0xC020_0216_u32 as i32;

const KIND_DRIVER: usize = 1;
const KIND_KEY: usize = 2;
const KIND_LOCK: usize = 3;
const KIND_INIT: usize = 4;
const KIND_DEVICE: usize = 5;
const KIND_QUEUE: usize = 6;
const KIND_TIMER: usize = 7;
const KIND_REQUEST: usize = 8;

static mut TABLE: [WDFFUNC; WDF_FUNCTION_TABLE_LEN] = [None; WDF_FUNCTION_TABLE_LEN];

fn check_globals(api: &str, g: PWDF_DRIVER_GLOBALS) {
    if g as usize != GLOBALS {
        fatal(format!("{api}: DriverGlobals {g:p} is not the value WDF passed to the driver"));
    }
}

fn check_attrs(api: &str, a: PWDF_OBJECT_ATTRIBUTES) -> Option<WDF_OBJECT_ATTRIBUTES> {
    if a.is_null() {
        return None;
    }
    // SAFETY: the driver's attributes.
    let v = unsafe { *a };
    if v.Size as usize != core::mem::size_of::<WDF_OBJECT_ATTRIBUTES>() {
        fatal(format!("{api}: WDF_OBJECT_ATTRIBUTES.Size = {} (expected {})", v.Size, core::mem::size_of::<WDF_OBJECT_ATTRIBUTES>()));
    }
    Some(v)
}

fn obj<'a>(k: &'a mut Kernel, h: usize, api: &str) -> Result<&'a mut WdfObj, String> {
    k.wdf.get_mut(&h).ok_or_else(|| format!("{api}: {h:#x} is not a live WDF handle"))
}

// ---------------------------------------------------------------- driver, registry

unsafe extern "C" fn wdf_driver_create(
    g: PWDF_DRIVER_GLOBALS,
    driver_object: PDRIVER_OBJECT,
    registry_path: PCUNICODE_STRING,
    attrs: PWDF_OBJECT_ATTRIBUTES,
    config: PWDF_DRIVER_CONFIG,
    driver: *mut WDFDRIVER,
) -> NTSTATUS {
    let _e = enter("WdfDriverCreate");
    check_globals("WdfDriverCreate", g);
    check_attrs("WdfDriverCreate", attrs);
    if driver_object.is_null() || config.is_null() {
        fatal("WdfDriverCreate: DriverObject or DriverConfig is NULL".to_string());
    }
    // SAFETY: the driver's config.
    let cfg = unsafe { *config };
    // SAFETY: the RegistryPath DriverEntry received.
    let path = unsafe { us_string(registry_path, "WdfDriverCreate") };
    with_fatal(|k| {
        if k.driver.is_some() {
            return Err("WdfDriverCreate called twice".to_string());
        }
        if cfg.Size as usize != core::mem::size_of::<WDF_DRIVER_CONFIG>() {
            return Ok(st::INFO_LENGTH_MISMATCH);
        }
        if crate::registry::fold(&path) != crate::registry::fold(crate::registry::SERVICE_KEY) {
            k.violation(format!("WdfDriverCreate: RegistryPath {path:?} is not the one DriverEntry received"));
        }
        let non_pnp = cfg.DriverInitFlags & wdk_sys::_WDF_DRIVER_INIT_FLAGS::WdfDriverInitNonPnpDriver as u32 != 0;
        if non_pnp && cfg.EvtDriverDeviceAdd.is_some() {
            return Ok(st::INVALID_PARAMETER);
        }
        if !non_pnp {
            return Err("WdfDriverCreate: only non-PnP drivers are modeled".to_string());
        }
        if let Some(s) = k.faults.hit("WdfDriverCreate") {
            return Ok(s);
        }
        let h = k.new_wdf(KIND_DRIVER, WdfObj::Driver);
        k.driver = Some((h, cfg.EvtDriverUnload));
        if !driver.is_null() {
            // SAFETY: the driver's out parameter.
            unsafe { *driver = h as WDFDRIVER };
        }
        Ok(st::SUCCESS)
    })
}
wdf_shim!(s_wdf_driver_create => wdf_driver_create);
const _: PFN_WDFDRIVERCREATE = Some(wdf_driver_create);

fn check_driver(k: &Kernel, d: WDFDRIVER, api: &str) -> Result<(), String> {
    match k.driver {
        Some((h, _)) if h == d as usize => Ok(()),
        _ => Err(format!("{api}: {d:p} is not the WDFDRIVER")),
    }
}

unsafe extern "C" fn wdf_driver_open_parameters_registry_key(
    g: PWDF_DRIVER_GLOBALS,
    driver: WDFDRIVER,
    access: ACCESS_MASK,
    attrs: PWDF_OBJECT_ATTRIBUTES,
    key: *mut WDFKEY,
) -> NTSTATUS {
    let _e = enter("WdfDriverOpenParametersRegistryKey");
    check_globals("WdfDriverOpenParametersRegistryKey", g);
    check_attrs("WdfDriverOpenParametersRegistryKey", attrs);
    if key.is_null() {
        fatal("WdfDriverOpenParametersRegistryKey: Key is NULL".to_string());
    }
    let seg = crate::probe::current_seg();
    let r = with_fatal(|k| {
        check_driver(k, driver, "WdfDriverOpenParametersRegistryKey")?;
        if let Some(s) = k.faults.hit("WdfDriverOpenParametersRegistryKey") {
            return Ok(Err(s));
        }
        // The framework creates Parameters under the service key if it is missing.
        if k.persist.registry.create_key(PARAMETERS_KEY).is_none() {
            return Ok(Err(st::OBJECT_NAME_NOT_FOUND));
        }
        let path = k.persist.registry.key(PARAMETERS_KEY).map_or(PARAMETERS_KEY.to_string(), |x| x.path.clone());
        let nt = k.new_handle(Handle {
            obj: Obj::Key { path, access: crate::nt::map_key_access(access) },
            opened_by: "WdfDriverOpenParametersRegistryKey",
            wdf_owned: true,
            seg,
        });
        Ok(Ok(k.new_wdf(KIND_KEY, WdfObj::Key { handle: nt })))
    });
    match r {
        Err(s) => {
            // SAFETY: checked non-null.
            unsafe { *key = core::ptr::null_mut() };
            s
        }
        Ok(h) => {
            // SAFETY: checked non-null.
            unsafe { *key = h as WDFKEY };
            st::SUCCESS
        }
    }
}
wdf_shim!(s_wdf_driver_open_parameters_registry_key => wdf_driver_open_parameters_registry_key);
const _: PFN_WDFDRIVEROPENPARAMETERSREGISTRYKEY = Some(wdf_driver_open_parameters_registry_key);

unsafe extern "C" fn wdf_registry_wdm_get_handle(g: PWDF_DRIVER_GLOBALS, key: WDFKEY) -> HANDLE {
    let _e = enter("WdfRegistryWdmGetHandle");
    check_globals("WdfRegistryWdmGetHandle", g);
    with_fatal(|k| match obj(k, key as usize, "WdfRegistryWdmGetHandle")? {
        WdfObj::Key { handle } => Ok(*handle as HANDLE),
        _ => Err("WdfRegistryWdmGetHandle: not a WDFKEY".to_string()),
    })
}
wdf_shim!(s_wdf_registry_wdm_get_handle => wdf_registry_wdm_get_handle);
const _: PFN_WDFREGISTRYWDMGETHANDLE = Some(wdf_registry_wdm_get_handle);

unsafe extern "C" fn wdf_registry_close(g: PWDF_DRIVER_GLOBALS, key: WDFKEY) {
    let _e = enter("WdfRegistryClose");
    check_globals("WdfRegistryClose", g);
    with_fatal(|k| match k.wdf.remove(&(key as usize)) {
        Some(WdfObj::Key { handle }) => {
            k.handles.remove(&handle);
            Ok(())
        }
        Some(other) => {
            k.wdf.insert(key as usize, other);
            Err("WdfRegistryClose: not a WDFKEY".to_string())
        }
        None => Err(format!("WdfRegistryClose({key:p}): not an open WDFKEY (closed twice?)")),
    });
}
wdf_shim!(s_wdf_registry_close => wdf_registry_close);
const _: PFN_WDFREGISTRYCLOSE = Some(wdf_registry_close);

// ---------------------------------------------------------------- wait locks

unsafe extern "C" fn wdf_wait_lock_create(g: PWDF_DRIVER_GLOBALS, attrs: PWDF_OBJECT_ATTRIBUTES, lock: *mut WDFWAITLOCK) -> NTSTATUS {
    let _e = enter("WdfWaitLockCreate");
    check_globals("WdfWaitLockCreate", g);
    check_attrs("WdfWaitLockCreate", attrs);
    if lock.is_null() {
        fatal("WdfWaitLockCreate: Lock is NULL".to_string());
    }
    with(|k| {
        if let Some(s) = k.faults.hit("WdfWaitLockCreate") {
            return s;
        }
        let h = k.new_wdf(KIND_LOCK, WdfObj::WaitLock(Arc::new(WaitLock::default())));
        // SAFETY: checked non-null.
        unsafe { *lock = h as WDFWAITLOCK };
        st::SUCCESS
    })
}
wdf_shim!(s_wdf_wait_lock_create => wdf_wait_lock_create);
const _: PFN_WDFWAITLOCKCREATE = Some(wdf_wait_lock_create);

fn wait_lock(k: &mut Kernel, h: usize, api: &str) -> Result<Arc<WaitLock>, String> {
    match obj(k, h, api)? {
        WdfObj::WaitLock(l) => Ok(l.clone()),
        _ => Err(format!("{api}: {h:#x} is not a WDFWAITLOCK")),
    }
}

unsafe extern "C" fn wdf_wait_lock_acquire(g: PWDF_DRIVER_GLOBALS, lock: WDFWAITLOCK, timeout: PLONGLONG) -> NTSTATUS {
    let _e = enter("WdfWaitLockAcquire");
    check_globals("WdfWaitLockAcquire", g);
    let me = kthread();
    let h = lock as usize;
    let l = with_fatal(|k| {
        let l = wait_lock(k, h, "WdfWaitLockAcquire")?;
        let held = k.held.get(&me).cloned().unwrap_or_default();
        for a in held {
            if k.lock_edges.contains(&(h, a)) {
                k.violation(format!("lock order inversion: WDFWAITLOCK {h:#x} acquired while holding {a:#x}, and elsewhere the reverse (deadlock risk)"));
            }
            k.lock_edges.insert((a, h));
        }
        Ok(l)
    });
    // SAFETY: the driver's optional timeout.
    let timeout = if timeout.is_null() { None } else { Some(unsafe { *timeout }) };
    let mut owner = l.owner.lock().unwrap_or_else(|e| e.into_inner());
    if *owner == Some(me) {
        drop(owner);
        fatal(format!("WdfWaitLockAcquire({h:#x}): acquired recursively by the kernel thread that holds it (deadlock)"));
    }
    let limit = match timeout {
        Some(0) => Duration::ZERO,
        Some(t) if t < 0 => Duration::from_nanos((-t) as u64 * 100),
        _ => DEADLOCK_AFTER,
    };
    let start = std::time::Instant::now();
    while owner.is_some() {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            if timeout.is_some() {
                return wdk_sys::STATUS_TIMEOUT;
            }
            drop(owner);
            fatal(format!("WdfWaitLockAcquire({h:#x}): waited {DEADLOCK_AFTER:?} (deadlock)"));
        }
        owner = l.cv.wait_timeout(owner, left).unwrap_or_else(|e| e.into_inner()).0;
    }
    *owner = Some(me);
    drop(owner);
    with(|k| k.held.entry(me).or_default().push(h));
    st::SUCCESS
}
wdf_shim!(s_wdf_wait_lock_acquire => wdf_wait_lock_acquire);
const _: PFN_WDFWAITLOCKACQUIRE = Some(wdf_wait_lock_acquire);

unsafe extern "C" fn wdf_wait_lock_release(g: PWDF_DRIVER_GLOBALS, lock: WDFWAITLOCK) {
    let _e = enter("WdfWaitLockRelease");
    check_globals("WdfWaitLockRelease", g);
    let me = kthread();
    let h = lock as usize;
    let l = with_fatal(|k| wait_lock(k, h, "WdfWaitLockRelease"));
    let mut owner = l.owner.lock().unwrap_or_else(|e| e.into_inner());
    if *owner != Some(me) {
        let who = *owner;
        drop(owner);
        with(|k| k.violation(format!("WdfWaitLockRelease({h:#x}) by kernel thread {me}, owner {who:?}")));
        return;
    }
    *owner = None;
    l.cv.notify_one();
    drop(owner);
    with(|k| {
        if let Some(v) = k.held.get_mut(&me) {
            if let Some(i) = v.iter().rposition(|x| *x == h) {
                v.remove(i);
            }
        }
    });
}
wdf_shim!(s_wdf_wait_lock_release => wdf_wait_lock_release);
const _: PFN_WDFWAITLOCKRELEASE = Some(wdf_wait_lock_release);

// ---------------------------------------------------------------- control device, queue

unsafe extern "C" fn wdf_control_device_init_allocate(g: PWDF_DRIVER_GLOBALS, driver: WDFDRIVER, sddl: *const UNICODE_STRING) -> PWDFDEVICE_INIT {
    let _e = enter("WdfControlDeviceInitAllocate");
    check_globals("WdfControlDeviceInitAllocate", g);
    // SAFETY: the driver's SDDL string.
    let s = unsafe { us_string(sddl, "WdfControlDeviceInitAllocate") };
    with_fatal(|k| {
        check_driver(k, driver, "WdfControlDeviceInitAllocate")?;
        if !s.starts_with("D:") {
            k.violation(format!("WdfControlDeviceInitAllocate: SDDL {s:?} is not a DACL string"));
        }
        if k.faults.hit("WdfControlDeviceInitAllocate").is_some() {
            return Ok(core::ptr::null_mut());
        }
        Ok(k.new_wdf(KIND_INIT, WdfObj::DeviceInit { name: None, io_type: None, shutdown: None }) as PWDFDEVICE_INIT)
    })
}
wdf_shim!(s_wdf_control_device_init_allocate => wdf_control_device_init_allocate);
const _: PFN_WDFCONTROLDEVICEINITALLOCATE = Some(wdf_control_device_init_allocate);

unsafe extern "C" fn wdf_device_init_assign_name(g: PWDF_DRIVER_GLOBALS, init: PWDFDEVICE_INIT, name: PCUNICODE_STRING) -> NTSTATUS {
    let _e = enter("WdfDeviceInitAssignName");
    check_globals("WdfDeviceInitAssignName", g);
    // SAFETY: the driver's name.
    let n = unsafe { us_string(name, "WdfDeviceInitAssignName") };
    with_fatal(|k| {
        if let Some(s) = k.faults.hit("WdfDeviceInitAssignName") {
            return Ok(s);
        }
        match obj(k, init as usize, "WdfDeviceInitAssignName")? {
            WdfObj::DeviceInit { name, .. } => {
                *name = Some(n);
                Ok(st::SUCCESS)
            }
            _ => Err("WdfDeviceInitAssignName: not a WDFDEVICE_INIT".to_string()),
        }
    })
}
wdf_shim!(s_wdf_device_init_assign_name => wdf_device_init_assign_name);
const _: PFN_WDFDEVICEINITASSIGNNAME = Some(wdf_device_init_assign_name);

unsafe extern "C" fn wdf_device_init_set_io_type(g: PWDF_DRIVER_GLOBALS, init: PWDFDEVICE_INIT, io: WDF_DEVICE_IO_TYPE) {
    let _e = enter("WdfDeviceInitSetIoType");
    check_globals("WdfDeviceInitSetIoType", g);
    with_fatal(|k| match obj(k, init as usize, "WdfDeviceInitSetIoType")? {
        WdfObj::DeviceInit { io_type, .. } => {
            *io_type = Some(io);
            Ok(())
        }
        _ => Err("WdfDeviceInitSetIoType: not a WDFDEVICE_INIT".to_string()),
    });
}
wdf_shim!(s_wdf_device_init_set_io_type => wdf_device_init_set_io_type);
const _: PFN_WDFDEVICEINITSETIOTYPE = Some(wdf_device_init_set_io_type);

unsafe extern "C" fn wdf_device_init_free(g: PWDF_DRIVER_GLOBALS, init: PWDFDEVICE_INIT) {
    let _e = enter("WdfDeviceInitFree");
    check_globals("WdfDeviceInitFree", g);
    with_fatal(|k| match k.wdf.remove(&(init as usize)) {
        Some(WdfObj::DeviceInit { .. }) => Ok(()),
        Some(o) => {
            k.wdf.insert(init as usize, o);
            Err("WdfDeviceInitFree: not a WDFDEVICE_INIT".to_string())
        }
        None => Err(format!("WdfDeviceInitFree({init:p}): freed twice or consumed by WdfDeviceCreate")),
    });
}
wdf_shim!(s_wdf_device_init_free => wdf_device_init_free);
const _: PFN_WDFDEVICEINITFREE = Some(wdf_device_init_free);

unsafe extern "C" fn wdf_device_create(g: PWDF_DRIVER_GLOBALS, init: *mut PWDFDEVICE_INIT, attrs: PWDF_OBJECT_ATTRIBUTES, device: *mut WDFDEVICE) -> NTSTATUS {
    let _e = enter("WdfDeviceCreate");
    check_globals("WdfDeviceCreate", g);
    let passive = check_attrs("WdfDeviceCreate", attrs).is_some_and(|a| a.ExecutionLevel == WdfExecutionLevelPassive);
    if init.is_null() || device.is_null() {
        fatal("WdfDeviceCreate: DeviceInit or Device is NULL".to_string());
    }
    // SAFETY: checked non-null.
    let ih = unsafe { *init } as usize;
    let r = with_fatal(|k| {
        if let Some(s) = k.faults.hit("WdfDeviceCreate") {
            return Ok(Err(s));
        }
        match k.wdf.remove(&ih) {
            Some(WdfObj::DeviceInit { name, io_type, shutdown }) => {
                Ok(Ok(k.new_wdf(KIND_DEVICE, WdfObj::Device { name, link: None, finished: false, io_type, passive, shutdown })))
            }
            Some(o) => {
                k.wdf.insert(ih, o);
                Err("WdfDeviceCreate: *DeviceInit is not a WDFDEVICE_INIT".to_string())
            }
            None => Err("WdfDeviceCreate: *DeviceInit was freed or consumed".to_string()),
        }
    });
    match r {
        Err(s) => s,
        Ok(h) => {
            // SAFETY: checked non-null; WDF consumes the init and NULLs the caller's pointer.
            unsafe {
                *init = core::ptr::null_mut();
                *device = h as WDFDEVICE;
            }
            st::SUCCESS
        }
    }
}
wdf_shim!(s_wdf_device_create => wdf_device_create);
const _: PFN_WDFDEVICECREATE = Some(wdf_device_create);

unsafe extern "C" fn wdf_device_create_symbolic_link(g: PWDF_DRIVER_GLOBALS, device: WDFDEVICE, name: PCUNICODE_STRING) -> NTSTATUS {
    let _e = enter("WdfDeviceCreateSymbolicLink");
    check_globals("WdfDeviceCreateSymbolicLink", g);
    // SAFETY: the driver's name.
    let n = unsafe { us_string(name, "WdfDeviceCreateSymbolicLink") };
    with_fatal(|k| {
        if let Some(s) = k.faults.hit("WdfDeviceCreateSymbolicLink") {
            return Ok(s);
        }
        match obj(k, device as usize, "WdfDeviceCreateSymbolicLink")? {
            WdfObj::Device { link, .. } => {
                *link = Some(n);
                Ok(st::SUCCESS)
            }
            _ => Err("WdfDeviceCreateSymbolicLink: not a WDFDEVICE".to_string()),
        }
    })
}
wdf_shim!(s_wdf_device_create_symbolic_link => wdf_device_create_symbolic_link);
const _: PFN_WDFDEVICECREATESYMBOLICLINK = Some(wdf_device_create_symbolic_link);

unsafe extern "C" fn wdf_io_queue_create(
    g: PWDF_DRIVER_GLOBALS,
    device: WDFDEVICE,
    config: PWDF_IO_QUEUE_CONFIG,
    attrs: PWDF_OBJECT_ATTRIBUTES,
    queue: *mut WDFQUEUE,
) -> NTSTATUS {
    let _e = enter("WdfIoQueueCreate");
    check_globals("WdfIoQueueCreate", g);
    let own = check_attrs("WdfIoQueueCreate", attrs).map(|a| a.ExecutionLevel);
    if config.is_null() {
        fatal("WdfIoQueueCreate: Config is NULL".to_string());
    }
    // SAFETY: the driver's config.
    let cfg = unsafe { *config };
    let r = with_fatal(|k| {
        if cfg.Size as usize != core::mem::size_of::<WDF_IO_QUEUE_CONFIG>() {
            return Ok(Err(st::INFO_LENGTH_MISMATCH));
        }
        let WdfObj::Device { passive: device_passive, .. } = *obj(k, device as usize, "WdfIoQueueCreate")? else {
            return Err("WdfIoQueueCreate: not a WDFDEVICE".to_string());
        };
        let passive = match own {
            Some(l) if l == WdfExecutionLevelPassive => true,
            Some(l) if l != WdfExecutionLevelInheritFromParent => false,
            _ => device_passive,
        };
        if cfg.DefaultQueue == 0 {
            return Err("WdfIoQueueCreate: only the default queue is modeled".to_string());
        }
        if k.wdf.values().any(|o| matches!(o, WdfObj::Queue { device: d, .. } if *d == device as usize)) {
            return Ok(Err(st::INVALID_PARAMETER));
        }
        if let Some(s) = k.faults.hit("WdfIoQueueCreate") {
            return Ok(Err(s));
        }
        Ok(Ok(k.new_wdf(KIND_QUEUE, WdfObj::Queue { device: device as usize, evt: cfg.EvtIoDeviceControl, passive })))
    });
    match r {
        Err(s) => s,
        Ok(h) => {
            if !queue.is_null() {
                // SAFETY: the driver's out parameter.
                unsafe { *queue = h as WDFQUEUE };
            }
            st::SUCCESS
        }
    }
}
wdf_shim!(s_wdf_io_queue_create => wdf_io_queue_create);
const _: PFN_WDFIOQUEUECREATE = Some(wdf_io_queue_create);

unsafe extern "C" fn wdf_control_device_init_set_shutdown_notification(
    g: PWDF_DRIVER_GLOBALS,
    init: PWDFDEVICE_INIT,
    notification: PFN_WDF_DEVICE_SHUTDOWN_NOTIFICATION,
    flags: UCHAR,
) {
    let _e = enter("WdfControlDeviceInitSetShutdownNotification");
    check_globals("WdfControlDeviceInitSetShutdownNotification", g);
    with_fatal(|k| {
        let valid = i32::from(flags) & !(WdfDeviceShutdown | WdfDeviceLastChanceShutdown) == 0 && flags != 0;
        if !valid {
            k.violation(format!("WdfControlDeviceInitSetShutdownNotification: flags {flags:#x} are not WDF_DEVICE_SHUTDOWN_FLAGS"));
        }
        if notification.is_none() {
            k.violation("WdfControlDeviceInitSetShutdownNotification: NULL notification".to_string());
        }
        match obj(k, init as usize, "WdfControlDeviceInitSetShutdownNotification")? {
            WdfObj::DeviceInit { shutdown, .. } => {
                *shutdown = notification;
                Ok(())
            }
            _ => Err("WdfControlDeviceInitSetShutdownNotification: not a WDFDEVICE_INIT".to_string()),
        }
    });
}
wdf_shim!(s_wdf_control_device_init_set_shutdown_notification => wdf_control_device_init_set_shutdown_notification);
const _: PFN_WDFCONTROLDEVICEINITSETSHUTDOWNNOTIFICATION = Some(wdf_control_device_init_set_shutdown_notification);

unsafe extern "C" fn wdf_control_finish_initializing(g: PWDF_DRIVER_GLOBALS, device: WDFDEVICE) {
    let _e = enter("WdfControlFinishInitializing");
    check_globals("WdfControlFinishInitializing", g);
    with_fatal(|k| match obj(k, device as usize, "WdfControlFinishInitializing")? {
        WdfObj::Device { finished, .. } => {
            *finished = true;
            Ok(())
        }
        _ => Err("WdfControlFinishInitializing: not a WDFDEVICE".to_string()),
    });
}
wdf_shim!(s_wdf_control_finish_initializing => wdf_control_finish_initializing);
const _: PFN_WDFCONTROLFINISHINITIALIZING = Some(wdf_control_finish_initializing);

// ---------------------------------------------------------------- requests

fn request<'a>(k: &'a mut Kernel, h: WDFREQUEST, api: &str) -> Result<&'a mut RequestObj, String> {
    match obj(k, h as usize, api)? {
        WdfObj::Request(r) if r.completed.is_none() => Ok(r),
        WdfObj::Request(_) => Err(format!("{api}: the request was already completed")),
        _ => Err(format!("{api}: not a WDFREQUEST")),
    }
}

/// WdfRequestRetrieveInputBuffer / OutputBuffer: one METHOD_BUFFERED system
/// buffer; `len` picks the input or output length of the request.
///
/// # Safety
/// `buffer` and (when non-null) `length` are the caller's out parameters.
unsafe fn retrieve_buffer(
    api: &'static str,
    g: PWDF_DRIVER_GLOBALS,
    req: WDFREQUEST,
    min: usize,
    buffer: *mut PVOID,
    length: *mut usize,
    len: fn(&RequestObj) -> usize,
) -> NTSTATUS {
    let _e = enter(api);
    check_globals(api, g);
    if buffer.is_null() {
        fatal(format!("{api}: Buffer is NULL"));
    }
    let r = with_fatal(|k| {
        let r = request(k, req, api)?;
        let n = len(r);
        if n == 0 || min > n {
            return Ok(Err(st::BUFFER_TOO_SMALL));
        }
        Ok(Ok((r.buffer, n)))
    });
    match r {
        Err(s) => s,
        Ok((b, n)) => {
            // SAFETY: checked non-null / optional out parameters.
            unsafe {
                *buffer = b.cast();
                if !length.is_null() {
                    *length = n;
                }
            }
            st::SUCCESS
        }
    }
}

unsafe extern "C" fn wdf_request_retrieve_input_buffer(
    g: PWDF_DRIVER_GLOBALS,
    req: WDFREQUEST,
    min: usize,
    buffer: *mut PVOID,
    length: *mut usize,
) -> NTSTATUS {
    // SAFETY: the driver's out parameters, passed through.
    unsafe { retrieve_buffer("WdfRequestRetrieveInputBuffer", g, req, min, buffer, length, |r| r.input_len) }
}
wdf_shim!(s_wdf_request_retrieve_input_buffer => wdf_request_retrieve_input_buffer);
const _: PFN_WDFREQUESTRETRIEVEINPUTBUFFER = Some(wdf_request_retrieve_input_buffer);

unsafe extern "C" fn wdf_request_retrieve_output_buffer(
    g: PWDF_DRIVER_GLOBALS,
    req: WDFREQUEST,
    min: usize,
    buffer: *mut PVOID,
    length: *mut usize,
) -> NTSTATUS {
    // SAFETY: the driver's out parameters, passed through.
    unsafe { retrieve_buffer("WdfRequestRetrieveOutputBuffer", g, req, min, buffer, length, |r| r.output_len) }
}
wdf_shim!(s_wdf_request_retrieve_output_buffer => wdf_request_retrieve_output_buffer);
const _: PFN_WDFREQUESTRETRIEVEOUTPUTBUFFER = Some(wdf_request_retrieve_output_buffer);

unsafe extern "C" fn wdf_request_complete_with_information(g: PWDF_DRIVER_GLOBALS, req: WDFREQUEST, status: NTSTATUS, info: ULONG_PTR) {
    let _e = enter("WdfRequestCompleteWithInformation");
    check_globals("WdfRequestCompleteWithInformation", g);
    with_fatal(|k| {
        let r = match obj(k, req as usize, "WdfRequestCompleteWithInformation")? {
            WdfObj::Request(r) => r,
            _ => return Err("WdfRequestCompleteWithInformation: not a WDFREQUEST".to_string()),
        };
        r.completions += 1;
        if r.completed.is_some() {
            return Err("WdfRequestCompleteWithInformation: request completed twice".to_string());
        }
        r.completed = Some((status, info as usize));
        let over = status >= 0 && info as usize > r.output_len;
        let out_len = r.output_len;
        if over {
            k.violation(format!("WdfRequestCompleteWithInformation: Information {info} > OutputBufferLength {out_len}"));
        }
        Ok(())
    });
}
wdf_shim!(s_wdf_request_complete_with_information => wdf_request_complete_with_information);
const _: PFN_WDFREQUESTCOMPLETEWITHINFORMATION = Some(wdf_request_complete_with_information);

// ---------------------------------------------------------------- timers

unsafe extern "C" fn wdf_timer_create(g: PWDF_DRIVER_GLOBALS, config: PWDF_TIMER_CONFIG, attrs: PWDF_OBJECT_ATTRIBUTES, timer: *mut WDFTIMER) -> NTSTATUS {
    let _e = enter("WdfTimerCreate");
    check_globals("WdfTimerCreate", g);
    let a = check_attrs("WdfTimerCreate", attrs);
    if config.is_null() || timer.is_null() {
        fatal("WdfTimerCreate: Config or Timer is NULL".to_string());
    }
    // SAFETY: the driver's config.
    let cfg = unsafe { *config };
    let r = with_fatal(|k| {
        if cfg.Size as usize != core::mem::size_of::<WDF_TIMER_CONFIG>() {
            return Ok(Err(st::INFO_LENGTH_MISMATCH));
        }
        let Some(a) = a else { return Ok(Err(STATUS_WDF_PARENT_NOT_SPECIFIED)) };
        let parent = a.ParentObject as usize;
        let parent_passive = match k.wdf.get(&parent) {
            Some(WdfObj::Device { passive, .. } | WdfObj::Queue { passive, .. }) => *passive,
            _ => return Ok(Err(STATUS_WDF_PARENT_NOT_SPECIFIED)),
        };
        let passive = a.ExecutionLevel == WdfExecutionLevelPassive || (a.ExecutionLevel == WdfExecutionLevelInheritFromParent && parent_passive);
        if passive && cfg.UseHighResolutionTimer != 0 {
            return Ok(Err(wdk_sys::STATUS_NOT_SUPPORTED));
        }
        if cfg.EvtTimerFunc.is_none() {
            return Ok(Err(st::INVALID_PARAMETER));
        }
        if let Some(s) = k.faults.hit("WdfTimerCreate") {
            return Ok(Err(s));
        }
        Ok(Ok(k.new_wdf(KIND_TIMER, WdfObj::Timer { evt: cfg.EvtTimerFunc, parent, due: None, passive })))
    });
    match r {
        Err(s) => s,
        Ok(h) => {
            // SAFETY: checked non-null.
            unsafe { *timer = h as WDFTIMER };
            st::SUCCESS
        }
    }
}
wdf_shim!(s_wdf_timer_create => wdf_timer_create);
const _: PFN_WDFTIMERCREATE = Some(wdf_timer_create);

unsafe extern "C" fn wdf_timer_start(g: PWDF_DRIVER_GLOBALS, timer: WDFTIMER, due_time: LONGLONG) -> BOOLEAN {
    let _e = enter("WdfTimerStart");
    check_globals("WdfTimerStart", g);
    with_fatal(|k| {
        let now = k.clock.interrupt;
        match obj(k, timer as usize, "WdfTimerStart")? {
            WdfObj::Timer { due, .. } => {
                let was = due.is_some();
                // Negative: relative (100 ns); positive: absolute system time (the model's
                // system time is interrupt time); zero: now.
                *due = Some(if due_time < 0 { now + due_time.unsigned_abs() } else { (due_time as u64).max(now) });
                Ok(u8::from(was))
            }
            _ => Err("WdfTimerStart: not a WDFTIMER".to_string()),
        }
    })
}
wdf_shim!(s_wdf_timer_start => wdf_timer_start);
const _: PFN_WDFTIMERSTART = Some(wdf_timer_start);

std::thread_local! {
    /// The timer whose callback runs on this thread (0: none).
    pub static IN_TIMER: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

unsafe extern "C" fn wdf_timer_stop(g: PWDF_DRIVER_GLOBALS, timer: WDFTIMER, wait: BOOLEAN) -> BOOLEAN {
    let _e = enter("WdfTimerStop");
    check_globals("WdfTimerStop", g);
    if wait != 0 && IN_TIMER.with(core::cell::Cell::get) == timer as usize {
        fatal("WdfTimerStop(Wait = TRUE) from the timer's own callback (deadlock)".to_string());
    }
    with_fatal(|k| match obj(k, timer as usize, "WdfTimerStop")? {
        WdfObj::Timer { due, .. } => Ok(u8::from(due.take().is_some())),
        _ => Err("WdfTimerStop: not a WDFTIMER".to_string()),
    })
}
wdf_shim!(s_wdf_timer_stop => wdf_timer_stop);
const _: PFN_WDFTIMERSTOP = Some(wdf_timer_stop);

// ---------------------------------------------------------------- table

/// Fills the function table and the KMDF globals (before `DriverEntry`).
pub fn install() {
    macro_rules! slot {
        ($idx:ident, $shim:ident) => {
            // SAFETY: single-threaded setup before any driver code runs.
            unsafe { TABLE[IDX::$idx as usize] = Some($shim) };
        };
    }
    set_unknown_wdf_hook(|i, name| fatal(format!("the driver called WDF function {name} (table index {i}), which the model does not implement")));
    // SAFETY: single-threaded setup before any driver code runs.
    unsafe {
        let t = &mut *(&raw mut TABLE);
        t.copy_from_slice(&WDF_UNKNOWN_STUBS);
    }
    slot!(WdfDriverCreateTableIndex, s_wdf_driver_create);
    slot!(WdfDriverOpenParametersRegistryKeyTableIndex, s_wdf_driver_open_parameters_registry_key);
    slot!(WdfRegistryWdmGetHandleTableIndex, s_wdf_registry_wdm_get_handle);
    slot!(WdfRegistryCloseTableIndex, s_wdf_registry_close);
    slot!(WdfWaitLockCreateTableIndex, s_wdf_wait_lock_create);
    slot!(WdfWaitLockAcquireTableIndex, s_wdf_wait_lock_acquire);
    slot!(WdfWaitLockReleaseTableIndex, s_wdf_wait_lock_release);
    slot!(WdfControlDeviceInitAllocateTableIndex, s_wdf_control_device_init_allocate);
    slot!(WdfDeviceInitAssignNameTableIndex, s_wdf_device_init_assign_name);
    slot!(WdfDeviceInitSetIoTypeTableIndex, s_wdf_device_init_set_io_type);
    slot!(WdfDeviceInitFreeTableIndex, s_wdf_device_init_free);
    slot!(WdfDeviceCreateTableIndex, s_wdf_device_create);
    slot!(WdfDeviceCreateSymbolicLinkTableIndex, s_wdf_device_create_symbolic_link);
    slot!(WdfIoQueueCreateTableIndex, s_wdf_io_queue_create);
    slot!(WdfControlFinishInitializingTableIndex, s_wdf_control_finish_initializing);
    slot!(WdfControlDeviceInitSetShutdownNotificationTableIndex, s_wdf_control_device_init_set_shutdown_notification);
    slot!(WdfRequestRetrieveInputBufferTableIndex, s_wdf_request_retrieve_input_buffer);
    slot!(WdfRequestRetrieveOutputBufferTableIndex, s_wdf_request_retrieve_output_buffer);
    slot!(WdfRequestCompleteWithInformationTableIndex, s_wdf_request_complete_with_information);
    slot!(WdfTimerCreateTableIndex, s_wdf_timer_create);
    slot!(WdfTimerStartTableIndex, s_wdf_timer_start);
    slot!(WdfTimerStopTableIndex, s_wdf_timer_stop);
    // SAFETY: single-threaded setup; the table lives for the process.
    unsafe {
        wdk_sys::WdfFunctions = (&raw const TABLE).cast();
        wdk_sys::WdfFunctionCount = WDF_FUNCTION_TABLE_LEN as u32;
        wdk_sys::WdfDriverGlobals = GLOBALS as PWDF_DRIVER_GLOBALS;
    }
}

// ---------------------------------------------------------------- harness side

/// The default queue of a finished control device: (queue, EvtIoDeviceControl).
pub fn ioctl_target() -> Option<(usize, wdk_sys::PFN_WDF_IO_QUEUE_IO_DEVICE_CONTROL, bool)> {
    with(|k| {
        k.wdf.iter().find_map(|(h, o)| match o {
            WdfObj::Queue { device, evt, passive } if matches!(k.wdf.get(device), Some(WdfObj::Device { finished: true, .. })) => Some((*h, *evt, *passive)),
            _ => None,
        })
    })
}

/// A new request over a harness-owned system buffer.
pub fn new_request(buffer: *mut u8, input_len: usize, output_len: usize) -> usize {
    with(|k| k.new_wdf(KIND_REQUEST, WdfObj::Request(RequestObj { input_len, output_len, buffer, completed: None, completions: 0 })))
}

/// Removes a request after its callback returned: its completion.
pub fn finish_request(h: usize) -> Option<(i32, usize)> {
    with(|k| match k.wdf.remove(&h) {
        Some(WdfObj::Request(r)) => r.completed,
        _ => None,
    })
}

/// Timers due at the current interrupt time: (timer, callback, passive); dequeued.
pub fn due_timers() -> Vec<(usize, wdk_sys::PFN_WDF_TIMER, bool)> {
    with(|k| {
        let now = k.clock.interrupt;
        let mut v = Vec::new();
        for (h, o) in &mut k.wdf {
            if let WdfObj::Timer { evt, due, passive, .. } = o {
                if due.is_some_and(|d| d <= now) {
                    *due = None;
                    v.push((*h, *evt, *passive));
                }
            }
        }
        v
    })
}

/// The shutdown notifications of finished control devices: (device, callback).
pub fn shutdown_targets() -> Vec<(usize, wdk_sys::PFN_WDF_DEVICE_SHUTDOWN_NOTIFICATION)> {
    with(|k| {
        k.wdf
            .iter()
            .filter_map(|(h, o)| match o {
                WdfObj::Device { finished: true, shutdown: f @ Some(_), .. } => Some((*h, *f)),
                _ => None,
            })
            .collect()
    })
}

/// When the next timer is due (interrupt time), if any.
pub fn next_due() -> Option<u64> {
    with(|k| k.wdf.values().filter_map(|o| if let WdfObj::Timer { due, .. } = o { *due } else { None }).min())
}

/// After EvtDriverUnload: WDF deletes the driver's objects. Returns findings.
pub fn delete_all() -> Vec<String> {
    with(|k| {
        let mut found = Vec::new();
        let objs: Vec<(usize, WdfObj)> = std::mem::take(&mut k.wdf).into_iter().collect();
        for (h, o) in objs {
            match o {
                WdfObj::Key { handle } => {
                    found.push(format!("WDFKEY {h:#x} still open at unload (WDF closes it with the driver)"));
                    k.handles.remove(&handle);
                }
                WdfObj::WaitLock(l) => {
                    if let Some(owner) = *l.owner.lock().unwrap_or_else(|e| e.into_inner()) {
                        found.push(format!("WDFWAITLOCK {h:#x} still held by kernel thread {owner} at unload"));
                    }
                }
                WdfObj::DeviceInit { .. } => found.push(format!("WDFDEVICE_INIT {h:#x} neither consumed nor freed")),
                WdfObj::Request(_) => found.push(format!("WDFREQUEST {h:#x} outstanding at unload")),
                WdfObj::Timer { due: Some(_), .. } => {
                    found.push(format!("WDFTIMER {h:#x} still queued at unload (WDF stops it; its callback may race unload)"));
                }
                _ => {}
            }
        }
        k.driver = None;
        found
    })
}
