//! WDF objects: the control device with its symbolic link and IOCTL queue,
//! the passive-level promotion timer (created here, owned and armed by
//! lifecycle.rs with the loader's health window) and the shutdown notification
//! (the loader records a clean end of boot). IOCTL buffers are decoded by
//! `changuard-control`; the work is lifecycle.rs's (reload) and sensor.rs's
//! (status, submit).
//!
//! Module invariant:
//! - D1: `DRIVER` holds the WDFDRIVER from `DriverEntry`, valid until unload.

use core::sync::atomic::{AtomicPtr, Ordering};

use changuard_control::{ioctl, reload, status, submit};
use changuard_interp::{Event, Value};
use wdk_sys::{
    NTSTATUS, PWDFDEVICE_INIT, UCHAR, ULONG, ULONG_PTR, UNICODE_STRING, WDF_IO_QUEUE_CONFIG,
    WDF_NO_HANDLE, WDF_NO_OBJECT_ATTRIBUTES, WDF_OBJECT_ATTRIBUTES, WDF_TIMER_CONFIG, WDFDEVICE, WDFDRIVER,
    WDFDRIVER__, WDFQUEUE, WDFREQUEST, WDFTIMER,
    _WDF_DEVICE_IO_TYPE::WdfDeviceIoBuffered,
    _WDF_DEVICE_SHUTDOWN_FLAGS::WdfDeviceShutdown,
    _WDF_EXECUTION_LEVEL::{WdfExecutionLevelInheritFromParent, WdfExecutionLevelPassive},
    _WDF_IO_QUEUE_DISPATCH_TYPE::WdfIoQueueDispatchSequential,
    _WDF_SYNCHRONIZATION_SCOPE::WdfSynchronizationScopeInheritFromParent,
    _WDF_TRI_STATE::WdfUseDefault,
    call_unsafe_wdf_function_binding,
};

use crate::lifecycle;
use crate::nt::{NtPath, nt_success};
use crate::sensor;

static DRIVER: AtomicPtr<WDFDRIVER__> = AtomicPtr::new(core::ptr::null_mut());

/// Records the WDFDRIVER (D1).
pub fn set_driver(d: WDFDRIVER) {
    DRIVER.store(d, Ordering::Release);
}

/// The WDFDRIVER (D1).
pub fn driver() -> WDFDRIVER {
    DRIVER.load(Ordering::Acquire)
}

/// `WDF_OBJECT_ATTRIBUTES_INIT` (an inline function in the headers), with an
/// explicit execution level.
fn object_attributes(passive: bool) -> WDF_OBJECT_ATTRIBUTES {
    const SIZE: usize = core::mem::size_of::<WDF_OBJECT_ATTRIBUTES>();
    const { assert!(SIZE <= u32::MAX as usize) }
    #[allow(clippy::cast_possible_truncation)]
    WDF_OBJECT_ATTRIBUTES {
        Size: SIZE as ULONG,
        ExecutionLevel: if passive { WdfExecutionLevelPassive } else { WdfExecutionLevelInheritFromParent },
        SynchronizationScope: WdfSynchronizationScopeInheritFromParent,
        ..WDF_OBJECT_ATTRIBUTES::default()
    }
}

/// SDDL for the control device: SYSTEM and Administrators only (the
/// `SDDL_DEVOBJ_SYS_ALL_ADM_ALL` string; wdmsec.h is not in the bindings).
const CONTROL_SDDL: &str = "D:P(A;;GA;;;SY)(A;;GA;;;BA)";

/// `WdfDeviceShutdown` as the UCHAR the call takes (the enum is a C int).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
const SHUTDOWN_FLAGS: UCHAR = {
    assert!(WdfDeviceShutdown >= 0 && WdfDeviceShutdown <= 0xff);
    WdfDeviceShutdown as UCHAR
};

/// Creates the control device, its symbolic link and default queue, and the
/// promotion timer. Returns the timer (started by the caller) if all went well.
pub fn create_control_device(driver: WDFDRIVER) -> Result<WDFDEVICE, NTSTATUS> {
    let mut sddl = NtPath::from_str(CONTROL_SDDL)?;
    let sddl_us: UNICODE_STRING = sddl.as_unicode();
    // SAFETY:
    // 1. D1: driver is the live WDFDRIVER; sddl_us points to `sddl`, alive for the call
    //    (WDF copies the string). 2. PASSIVE_LEVEL (DriverEntry).
    let mut init: PWDFDEVICE_INIT =
        unsafe { call_unsafe_wdf_function_binding!(WdfControlDeviceInitAllocate, driver, &raw const sddl_us) };
    if init.is_null() {
        return Err(wdk_sys::STATUS_INSUFFICIENT_RESOURCES);
    }
    match configure_and_create(&mut init) {
        Ok(device) => Ok(device),
        Err(status) => {
            if !init.is_null() {
                // SAFETY: 1. init was allocated above and WdfDeviceCreate did not consume
                // it (it nulls the pointer when it does). Freed once, here.
                unsafe { call_unsafe_wdf_function_binding!(WdfDeviceInitFree, init) };
            }
            Err(status)
        }
    }
}

fn configure_and_create(init: &mut PWDFDEVICE_INIT) -> Result<WDFDEVICE, NTSTATUS> {
    const QSIZE: usize = core::mem::size_of::<WDF_IO_QUEUE_CONFIG>();
    const { assert!(QSIZE <= u32::MAX as usize) }
    let mut name = NtPath::from_str(ioctl::DEVICE_NT_NAME)?;
    let name_us = name.as_unicode();
    // SAFETY: 1. *init is a valid, unconsumed WDFDEVICE_INIT. 2. name_us is valid for the call.
    let status: NTSTATUS = unsafe { call_unsafe_wdf_function_binding!(WdfDeviceInitAssignName, *init, &raw const name_us) };
    if !nt_success(status) {
        return Err(status);
    }
    // SAFETY: 1. *init is a valid, unconsumed WDFDEVICE_INIT.
    unsafe { call_unsafe_wdf_function_binding!(WdfDeviceInitSetIoType, *init, WdfDeviceIoBuffered) };
    // A clean shutdown is not a crash (issue 11 finding 1): the loader records it.
    // SAFETY: 1. *init is a valid, unconsumed WDFDEVICE_INIT of a control device.
    // 2. evt_shutdown has the EVT_WDF_DEVICE_SHUTDOWN_NOTIFICATION signature.
    unsafe {
        call_unsafe_wdf_function_binding!(
            WdfControlDeviceInitSetShutdownNotification,
            *init,
            Some(evt_shutdown),
            SHUTDOWN_FLAGS
        );
    };
    // Passive execution level: queue and timer callbacks run at PASSIVE_LEVEL.
    let mut attrs = object_attributes(true);
    let mut device: WDFDEVICE = WDF_NO_HANDLE.cast();
    // SAFETY:
    // 1. init points to a valid WDFDEVICE_INIT pointer; on success WDF consumes it and
    //    sets it to NULL. 2. attrs and device are valid for the call.
    let status: NTSTATUS = unsafe { call_unsafe_wdf_function_binding!(WdfDeviceCreate, init, &raw mut attrs, &raw mut device) };
    if !nt_success(status) {
        return Err(status);
    }
    let mut link = NtPath::from_str(ioctl::DEVICE_SYMLINK_NT_NAME)?;
    let link_us = link.as_unicode();
    // SAFETY: 1. device is the valid WDFDEVICE just created. 2. link_us valid for the call.
    let status: NTSTATUS = unsafe { call_unsafe_wdf_function_binding!(WdfDeviceCreateSymbolicLink, device, &raw const link_us) };
    if !nt_success(status) {
        return Err(status); // the device is deleted with the driver
    }
    // WDF_IO_QUEUE_CONFIG_INIT_DEFAULT_QUEUE(&config, WdfIoQueueDispatchSequential), by hand.
    #[allow(clippy::cast_possible_truncation)]
    let mut qcfg = WDF_IO_QUEUE_CONFIG {
        Size: QSIZE as ULONG,
        PowerManaged: WdfUseDefault,
        DefaultQueue: 1,
        DispatchType: WdfIoQueueDispatchSequential,
        EvtIoDeviceControl: Some(evt_io_device_control),
        ..WDF_IO_QUEUE_CONFIG::default()
    };
    let mut queue: WDFQUEUE = core::ptr::null_mut();
    // SAFETY: 1. device is valid; qcfg is a fully initialized config; queue valid for writes.
    let status: NTSTATUS = unsafe {
        call_unsafe_wdf_function_binding!(WdfIoQueueCreate, device, &raw mut qcfg, WDF_NO_OBJECT_ATTRIBUTES, &raw mut queue)
    };
    if !nt_success(status) {
        return Err(status);
    }
    // SAFETY: 1. device is a control device created above, fully configured.
    unsafe { call_unsafe_wdf_function_binding!(WdfControlFinishInitializing, device) };
    Ok(device)
}

/// Creates the one-shot, passive-level promotion timer parented to `device`
/// (deleted with it). Not started: `lifecycle::set_promotion_timer` arms it for the
/// loader's `HealthWindowSeconds` when a trial is open.
///
/// # Errors
/// The `WdfTimerCreate` status.
pub fn create_promotion_timer(device: WDFDEVICE) -> Result<wdk::wdf::Timer, NTSTATUS> {
    const TSIZE: usize = core::mem::size_of::<WDF_TIMER_CONFIG>();
    const { assert!(TSIZE <= u32::MAX as usize) }
    #[allow(clippy::cast_possible_truncation)]
    let mut cfg = WDF_TIMER_CONFIG {
        Size: TSIZE as ULONG,
        EvtTimerFunc: Some(evt_promotion_timer),
        Period: 0,                 // one-shot (required for a passive-level timer)
        AutomaticSerialization: 0, // our own lock serializes
        TolerableDelay: 0,
        UseHighResolutionTimer: 0, // must be FALSE for passive-level timers
        // wdftimer.h declares `DECLSPEC_ALIGN(8) BOOLEAN UseHighResolutionTimer`: bindgen pads.
        ..WDF_TIMER_CONFIG::default()
    };
    let mut attrs = object_attributes(true);
    attrs.ParentObject = device.cast();
    wdk::wdf::Timer::create(&mut cfg, &mut attrs)
}

/// `EvtTimerFunc`, at `PASSIVE_LEVEL` (`ExecutionLevel` passive on the timer).
unsafe extern "C" fn evt_promotion_timer(_timer: WDFTIMER) {
    lifecycle::promote(driver());
}

/// `EvtDeviceShutdownNotification` (`WdfDeviceShutdown`, at `PASSIVE_LEVEL`): the
/// system is shutting down cleanly; the trials of this boot survived it.
unsafe extern "C" fn evt_shutdown(_device: WDFDEVICE) {
    lifecycle::end_of_boot(driver());
}

/// Completes `request` with `status` and `info` bytes.
fn complete(request: WDFREQUEST, status: NTSTATUS, info: usize) {
    // SAFETY: 1. request is the live request handed to evt_io_device_control and is
    // completed exactly once (every path of the dispatcher ends here once).
    unsafe { call_unsafe_wdf_function_binding!(WdfRequestCompleteWithInformation, request, status, info as ULONG_PTR) };
}

/// Copies the request's input buffer into `buf`; returns the length.
/// `METHOD_BUFFERED` shares one system buffer between input and output, so the
/// input is copied out before any output is written (no aliasing).
fn input(request: WDFREQUEST, len: usize, buf: &mut [u8]) -> Result<usize, NTSTATUS> {
    if len == 0 {
        return Ok(0);
    }
    if len > buf.len() {
        return Err(wdk_sys::STATUS_INVALID_BUFFER_SIZE);
    }
    let mut ptr: wdk_sys::PVOID = core::ptr::null_mut();
    let mut got: usize = 0;
    // SAFETY: 1. request is live; ptr and got are valid for writes; minimum size `len`.
    let status: NTSTATUS =
        unsafe { call_unsafe_wdf_function_binding!(WdfRequestRetrieveInputBuffer, request, len, &raw mut ptr, &raw mut got) };
    if !nt_success(status) || ptr.is_null() || got != len {
        return Err(if nt_success(status) { wdk_sys::STATUS_INVALID_PARAMETER } else { status });
    }
    let dst = buf.get_mut(..len).ok_or(wdk_sys::STATUS_INVALID_BUFFER_SIZE)?;
    // SAFETY:
    // 1. ptr is valid for reads of `got == len` bytes (WDF contract) until completion.
    // 2. dst is a distinct stack buffer of exactly len bytes.
    unsafe { core::ptr::copy_nonoverlapping(ptr.cast::<u8>(), dst.as_mut_ptr(), len) };
    Ok(len)
}

/// Writes `data` to the request's output buffer.
fn output(request: WDFREQUEST, data: &[u8]) -> Result<usize, NTSTATUS> {
    let mut ptr: wdk_sys::PVOID = core::ptr::null_mut();
    let mut got: usize = 0;
    // SAFETY: 1. request is live; ptr/got valid for writes; minimum size data.len().
    let status: NTSTATUS = unsafe {
        call_unsafe_wdf_function_binding!(WdfRequestRetrieveOutputBuffer, request, data.len(), &raw mut ptr, &raw mut got)
    };
    if !nt_success(status) || ptr.is_null() || got < data.len() {
        return Err(if nt_success(status) { wdk_sys::STATUS_BUFFER_TOO_SMALL } else { status });
    }
    // SAFETY:
    // 1. ptr is valid for writes of got >= data.len() bytes until completion.
    // 2. No Rust reference to the system buffer is alive (input() copied out).
    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), ptr.cast::<u8>(), data.len()) };
    Ok(data.len())
}

/// `EvtIoDeviceControl`, at `PASSIVE_LEVEL` (device `ExecutionLevel` passive).
/// Converts raw values, calls the portable crates, maps results to NTSTATUS.
unsafe extern "C" fn evt_io_device_control(
    _queue: WDFQUEUE,
    request: WDFREQUEST,
    output_len: usize,
    input_len: usize,
    code: ULONG,
) {
    let result = match code {
        ioctl::IOCTL_QUERY_STATUS => query_status(request, input_len, output_len),
        ioctl::IOCTL_RELOAD => do_reload(request, input_len),
        ioctl::IOCTL_SUBMIT_EVENT => submit_event(request, input_len, output_len),
        _ => Err(wdk_sys::STATUS_INVALID_DEVICE_REQUEST),
    };
    match result {
        Ok(n) => complete(request, wdk_sys::STATUS_SUCCESS, n),
        Err(status) => complete(request, status, 0),
    }
}

fn query_status(request: WDFREQUEST, input_len: usize, output_len: usize) -> Result<usize, NTSTATUS> {
    if input_len != 0 {
        return Err(wdk_sys::STATUS_INVALID_PARAMETER);
    }
    if output_len < status::HEADER_LEN {
        return Err(wdk_sys::STATUS_BUFFER_TOO_SMALL);
    }
    // Encoded straight into the system buffer (no input to alias, checked above):
    // the largest reply does not belong on the stack.
    let out = output_buffer(request, status::HEADER_LEN)?;
    // From the loader's ChannelOutcomes + counters + engine stats (status.rs), under the sensor lock.
    sensor::encode_status(out)
}

/// The request's output buffer (at least `min` bytes) as a slice. The caller
/// must not use it after completing the request, and must not hold a view of
/// the input buffer (`METHOD_BUFFERED` shares one system buffer).
fn output_buffer<'r>(request: WDFREQUEST, min: usize) -> Result<&'r mut [u8], NTSTATUS> {
    let mut ptr: wdk_sys::PVOID = core::ptr::null_mut();
    let mut got: usize = 0;
    // SAFETY: 1. request is live; ptr/got valid for writes; minimum size `min`.
    let status: NTSTATUS =
        unsafe { call_unsafe_wdf_function_binding!(WdfRequestRetrieveOutputBuffer, request, min, &raw mut ptr, &raw mut got) };
    if !nt_success(status) || ptr.is_null() || got < min {
        return Err(if nt_success(status) { wdk_sys::STATUS_BUFFER_TOO_SMALL } else { status });
    }
    // SAFETY:
    // 1. ptr is valid for reads and writes of `got` bytes until the request completes
    //    (WDF contract), which the dispatcher does only after the caller's last use.
    // 2. The caller holds no other reference into the system buffer (doc above).
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr.cast::<u8>(), got) })
}

fn do_reload(request: WDFREQUEST, input_len: usize) -> Result<usize, NTSTATUS> {
    let mut buf = [0u8; reload::RELOAD_REQUEST_LEN];
    let n = input(request, input_len, &mut buf)?;
    reload::decode_reload(buf.get(..n).unwrap_or(&[])).map_err(|_| wdk_sys::STATUS_INVALID_PARAMETER)?;
    if lifecycle::load(driver()) { Ok(0) } else { Err(wdk_sys::STATUS_INSUFFICIENT_RESOURCES) }
}

fn submit_event(request: WDFREQUEST, input_len: usize, output_len: usize) -> Result<usize, NTSTATUS> {
    if output_len < submit::REPLY_LEN {
        return Err(wdk_sys::STATUS_BUFFER_TOO_SMALL);
    }
    // 33 KiB is too much for the kernel stack: one pool buffer, freed on return.
    let mut pool = crate::nt::PoolBuf::alloc(submit::MAX_REQUEST_LEN).map_err(|_| wdk_sys::STATUS_INSUFFICIENT_RESOURCES)?;
    pool.set_filled(submit::MAX_REQUEST_LEN);
    let reply = {
        // SAFETY: 1. pool owns MAX_REQUEST_LEN zeroed bytes (filled set above); this is the
        // only reference to them while `raw` lives.
        let raw = unsafe { core::slice::from_raw_parts_mut(pool.as_mut_ptr(), submit::MAX_REQUEST_LEN) };
        let n = input(request, input_len, raw)?;
        let ev = submit::decode_submit(raw.get(..n).unwrap_or(&[])).map_err(|_| wdk_sys::STATUS_INVALID_PARAMETER)?;
        // Schema check: the template exists and every field has its schema type.
        let tt = changuard_format::schema::template_type(ev.template_id).ok_or(wdk_sys::STATUS_INVALID_PARAMETER)?;
        let mut values = [Value::Int(0); changuard_format::schema::MAX_INPUTS];
        if ev.fields().len() != tt.fields.len() {
            return Err(wdk_sys::STATUS_INVALID_PARAMETER);
        }
        for ((dst, f), schema_field) in values.iter_mut().zip(ev.fields()).zip(tt.fields) {
            *dst = match f {
                submit::FieldValue::Str(s) => Value::Str(s),
                submit::FieldValue::Int(v) => Value::Int(*v),
            };
            if dst.field_type() != schema_field.ty {
                return Err(wdk_sys::STATUS_INVALID_PARAMETER);
            }
        }
        let event = Event::from_values(ev.template_id, values.get(..tt.fields.len()).unwrap_or(&[]))
            .ok_or(wdk_sys::STATUS_INVALID_PARAMETER)?;
        match sensor::evaluate(&event) {
            None => submit::SubmitReply { outcome: submit::Outcome::NoContent, action: 0, matches: 0, channel_id: 0, instance: 0, faults: 0 },
            Some(v) => match v.first {
                Some(m) => submit::SubmitReply { outcome: submit::Outcome::Match, action: m.action.code(), matches: v.matches, channel_id: m.channel, instance: m.instance, faults: v.faults },
                None => submit::SubmitReply { outcome: submit::Outcome::NoMatch, action: 0, matches: 0, channel_id: 0, instance: 0, faults: v.faults },
            },
        }
    };
    let mut out = [0u8; submit::REPLY_LEN];
    let n = submit::encode_reply(&reply, &mut out).map_err(|_| wdk_sys::STATUS_INTERNAL_ERROR)?;
    drop(pool);
    output(request, out.get(..n).unwrap_or(&[]))
}
