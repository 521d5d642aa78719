//! changuard.sys: a non-PnP KMDF driver that loads validated channel files
//! with last-known-good fallback, evaluates process creation events against
//! them, and serves status/reload/submit IOCTLs on a control device.
//!
//! This crate is the imperative shell: every decision lives in the portable
//! crates (format, interp, loader, control). Callbacks convert raw values,
//! call those crates, and map results to NTSTATUS. Every `unsafe` block holds
//! one operation and a `// SAFETY:` comment (scripts/check-unsafe-safety.sh).
//!
//! Promise: no content problem can fail `DriverEntry` or bugcheck the machine.
//! `DriverEntry` fails only if WDF itself cannot create the driver object.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

#[cfg(not(test))]
extern crate wdk_panic;

#[cfg(not(test))]
use wdk_alloc::WdkAllocator;
use wdk_sys::{
    DRIVER_OBJECT, NTSTATUS, PCUNICODE_STRING, PDRIVER_OBJECT, ULONG, WDF_DRIVER_CONFIG, WDF_NO_OBJECT_ATTRIBUTES,
    WDFDRIVER, _WDF_DRIVER_INIT_FLAGS::WdfDriverInitNonPnpDriver, call_unsafe_wdf_function_binding,
};

mod active;
mod device;
mod eventlog;
mod events;
mod keys;
mod lifecycle;
mod lock;
mod nt;
mod params;
mod platform;
mod security;
mod sensor;
mod stack;
mod status;
mod token;

#[cfg(not(test))]
#[global_allocator]
static GLOBAL_ALLOCATOR: WdkAllocator = WdkAllocator;

/// `DriverEntry`.
///
/// # Safety
/// Called by the I/O manager with a valid driver object and registry path.
// SAFETY: "DriverEntry" is the required symbol name for the KMDF stub's entry;
// no other symbol in this image has that name. Gated like the sample to avoid
// clashing with the test-stubs DriverEntry.
#[cfg_attr(not(test), unsafe(export_name = "DriverEntry"))]
pub unsafe extern "system" fn driver_entry(driver: &mut DRIVER_OBJECT, registry_path: PCUNICODE_STRING) -> NTSTATUS {
    const CFG_SIZE: usize = core::mem::size_of::<WDF_DRIVER_CONFIG>();
    const { assert!(CFG_SIZE <= u32::MAX as usize) }
    // WDF_DRIVER_CONFIG_INIT(&config, NULL) + non-PnP flags, by hand.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mut config = WDF_DRIVER_CONFIG {
        Size: CFG_SIZE as ULONG,
        EvtDriverDeviceAdd: None,
        EvtDriverUnload: Some(evt_driver_unload),
        DriverInitFlags: WdfDriverInitNonPnpDriver as ULONG,
        ..WDF_DRIVER_CONFIG::default()
    };
    let mut wdf_driver: WDFDRIVER = core::ptr::null_mut();
    // SAFETY:
    // 1. driver and registry_path come from the I/O manager and are valid (DriverEntry contract).
    // 2. config is fully initialized; no attributes; wdf_driver is valid for writes.
    // 3. PASSIVE_LEVEL (DriverEntry).
    let status: NTSTATUS = unsafe {
        call_unsafe_wdf_function_binding!(
            WdfDriverCreate,
            driver as PDRIVER_OBJECT,
            registry_path,
            WDF_NO_OBJECT_ATTRIBUTES,
            &raw mut config,
            &raw mut wdf_driver
        )
    };
    if !nt::nt_success(status) {
        // Not a content problem: without a WDF driver object nothing can run.
        wdk::println!("changuard: WdfDriverCreate failed {status:#x}");
        return status;
    }
    device::set_driver(wdf_driver);
    // Operator events are logged for this driver object (its name is the event source).
    eventlog::set_source(&raw mut *driver);
    if cfg!(feature = "test-hooks") {
        // Say it where every debugger and crash dump will show it.
        wdk::println!("changuard {}: TEST-HOOKS BUILD, not for production", env!("CARGO_PKG_VERSION"));
    }

    if let Err(s) = lifecycle::init() {
        // No locks means no shared state: stay loaded, do nothing (never fail on this).
        wdk::println!("changuard: WdfWaitLockCreate failed {s:#x}; sensor disabled");
        return wdk_sys::STATUS_SUCCESS;
    }

    // Content: the loader applies the fallback chain; this never fails.
    if !lifecycle::load(wdf_driver) {
        wdk::println!("changuard: content not loaded this boot (no stack); IOCTL_RELOAD retries");
    }

    if let Err(s) = lifecycle::start_events() {
        wdk::println!("changuard: PsSetCreateProcessNotifyRoutineEx failed {s:#x}; no event source");
    }

    match device::create_control_device(wdf_driver) {
        // The timer is parented to the device and deleted with it; the sensor keeps
        // it to arm it for the loader's health window (and to stop it at unload).
        Ok(dev) => match device::create_promotion_timer(dev) {
            Ok(timer) => lifecycle::set_promotion_timer(timer),
            Err(s) => wdk::println!("changuard: promotion timer failed {s:#x}; trial stays open this boot"),
        },
        Err(s) => wdk::println!("changuard: control device failed {s:#x}; no IOCTLs, no promotion this boot"),
    }
    wdk_sys::STATUS_SUCCESS
}

/// `EvtDriverUnload` (`PASSIVE_LEVEL)`: unregister the event source, stop the
/// promotion timer, record a clean end of boot, then drop the content. WDF
/// deletes the device, queue, timer and locks after this.
unsafe extern "C" fn evt_driver_unload(driver: WDFDRIVER) {
    lifecycle::end_of_boot(driver);
}
