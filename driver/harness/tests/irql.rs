//! IRQL checking (model/src/irql.rs): every Windows call is checked against the
//! highest IRQL its documentation allows, at the level the entry point runs at.
//! The driver's own paths are covered by every other test (a finding fails them);
//! this one shows the check fires.
mod common;

use changuard_kmodel::irql::DISPATCH;
use common::{ENTRY, machine};

#[test]
fn a_call_above_its_documented_irql_is_a_finding() {
    let mut m = machine();
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        // KeQueryUnbiasedInterruptTime may be called at any level: no finding.
        // SAFETY: no arguments; the model's implementation.
        s.invoke_at("probe-any", DISPATCH, || unsafe { wdk_sys::ntddk::KeQueryUnbiasedInterruptTime() });
        // ZwClose is PASSIVE_LEVEL only (the handle is bad too, which ends the boot).
        s.invoke_at("probe-passive", DISPATCH, || {
            // SAFETY: the model checks the handle (a bad one is a finding, not UB).
            let _ = unsafe { wdk_sys::ntddk::ZwClose(core::ptr::null_mut()) };
        });
    });
    let irql: Vec<&String> = r.violations.iter().filter(|v| v.contains("_LEVEL")).collect();
    assert_eq!(irql.len(), 1, "{:?}", r.violations);
    assert!(irql[0].starts_with("ZwClose called at DISPATCH_LEVEL; its documented maximum is PASSIVE_LEVEL"), "{irql:?}");
}

#[test]
fn the_control_device_runs_its_ioctls_at_passive_level() {
    let mut m = machine();
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        // RELOAD opens files and registry keys (PASSIVE_LEVEL calls): it is only legal
        // because the driver creates its device with WdfExecutionLevelPassive.
        assert_eq!(common::reload(s), 0);
        s.unload();
    });
    r.assert_clean();
}
