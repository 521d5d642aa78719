//! Every Windows call the driver makes on its load path, failed one at a time
//! (the nth call of each API, for every n the load makes): DriverEntry must
//! still succeed, the boot must end without a verifier finding (no leaked handle
//! or pool block on any error path, no lock left held), and unload must be clean.
//! Then the same for RELOAD and promotion.
mod common;

use changuard_kmodel::{BootEnd, Machine};
use common::content::channels;
use common::{CONTENT_DIR, ENTRY, machine, reload, status};

const INSUFFICIENT_RESOURCES: i32 = 0xC000_009A_u32 as i32;
const IO_DEVICE_ERROR: i32 = 0xC000_0185_u32 as i32;

/// A machine with two channels of content.
fn small_machine() -> Machine {
    let mut m = machine();
    for (name, bytes) in channels(1).into_iter().take(2) {
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
    }
    m
}

/// Calls per API during one clean run of `phase` on a fresh copy of `base`.
fn census(base: &Machine, phase: &'static str) -> Vec<(String, u64)> {
    let mut m = base.clone();
    let r = m.boot(10, move |s| run_phase(s, phase, None));
    r.assert_clean();
    r.calls
}

fn run_phase(s: &mut changuard_kmodel::Session, phase: &str, fault: Option<(&str, u64, i32)>) {
    let arm = |s: &mut changuard_kmodel::Session| {
        if let Some((api, n, st)) = fault {
            s.fail(api, n, st, false);
        }
    };
    if phase == "load" {
        arm(s);
    }
    assert_eq!(s.driver_entry(ENTRY), 0, "DriverEntry must not fail");
    if phase == "reload" {
        arm(s);
        let _ = reload(s);
    }
    if phase == "promote" {
        arm(s);
        s.run_timers_for(61);
    }
    // The driver still answers, whatever failed (unless the failure was in
    // creating the control device itself, or its locks: then there is no device).
    if s.ioctl("QUERY_STATUS", changuard_control::IOCTL_QUERY_STATUS, &[], 0).is_some() {
        let _ = status(s);
    }
    s.unload();
}

fn sweep(phase: &'static str, skip: &[&str]) {
    let base = small_machine();
    let calls = census(&base, phase);
    let mut runs = 0;
    let mut failures = Vec::new();
    for (api, count) in &calls {
        if skip.contains(&api.as_str()) {
            continue;
        }
        for n in 1..=*count {
            let status = if api.starts_with("Zw") { IO_DEVICE_ERROR } else { INSUFFICIENT_RESOURCES };
            let mut m = base.clone();
            let a = api.clone();
            let r = m.boot(10, move |s| run_phase(s, phase, Some((&a, n, status))));
            runs += 1;
            if r.end != BootEnd::Completed || !r.violations.is_empty() {
                failures.push(format!("{phase}: {api} call #{n} failing -> {:?} {:?}", r.end, r.violations));
            }
        }
    }
    eprintln!("{phase}: {runs} injected failures");
    assert!(failures.is_empty(), "{} of {runs} runs not clean:\n{}", failures.len(), failures.join("\n"));
}

/// APIs that cannot fail (or whose failure is not a driver concern here).
const NEVER_FAIL: &[&str] = &[
    "DbgPrint",
    "ExFreePool",
    "ZwClose",
    "KeQueryUnbiasedInterruptTime",
    "KeQuerySystemTimePrecise",
    "IoWriteErrorLogEntry",
    "WdfWaitLockAcquire",
    "WdfWaitLockRelease",
    "WdfRegistryWdmGetHandle",
    "WdfRegistryClose",
    "WdfRequestRetrieveOutputBuffer",
    "WdfRequestRetrieveInputBuffer",
    "WdfRequestCompleteWithInformation",
    "WdfDeviceInitSetIoType",
    "WdfDeviceInitFree",
    "WdfControlFinishInitializing",
    "WdfTimerStart",
    "WdfTimerStop",
    "WdfDriverCreate",
];

#[test]
fn load_survives_every_single_failure() {
    sweep("load", NEVER_FAIL);
}

#[test]
fn reload_survives_every_single_failure() {
    sweep("reload", NEVER_FAIL);
}

#[test]
fn promotion_survives_every_single_failure() {
    sweep("promote", NEVER_FAIL);
}
