//! DriverEntry with no content: the driver loads, reports no channels, serves
//! status, and unloads without leaking a handle or a pool block.
mod common;

use changuard_control::status::{DRIVER_FLAG_EVENT_SOURCE, DRIVER_FLAG_PROMOTION_DONE};
use changuard_kmodel::{BootEnd, Machine, ProcessCreate};
use common::*;

#[test]
fn loads_with_missing_parameters_key() {
    let mut m = Machine::new();
    assert!(m.persist.registry.key(PARAMETERS_KEY).is_none());
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        let st = status(s);
        assert_eq!(st.channels().len(), 0, "no content");
        assert_ne!(st.driver.flags & DRIVER_FLAG_EVENT_SOURCE, 0, "notify routine registered");
        assert_eq!(st.driver.flags & DRIVER_FLAG_PROMOTION_DONE, 0);
        assert_eq!(st.driver.reloads, 1);
        assert!(s.process_create(&ProcessCreate::new("\\??\\C:\\Windows\\System32\\cmd.exe", "cmd.exe /c dir", 100)));
        s.unload();
    });
    r.assert_clean();
    // WDF created Parameters; the driver mirrored its status there.
    let p = m.persist.registry.key(PARAMETERS_KEY).expect("Parameters created");
    assert!(m.persist.registry.dword(&format!("{}\\Status", p.path), "Reloads").is_some(), "Status mirror written");
}

#[test]
fn loads_with_empty_parameters_and_default_content_dir() {
    let mut m = Machine::new();
    m.persist.registry.create_path(PARAMETERS_KEY);
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        assert_eq!(status(s).channels().len(), 0);
        s.unload();
    });
    r.assert_clean();
}

#[test]
fn parameters_key_unavailable_still_loads() {
    let mut m = machine();
    let r = m.boot(10, |s| {
        s.fail("WdfDriverOpenParametersRegistryKey", 1, -1073741670 /* STATUS_INSUFFICIENT_RESOURCES */, true);
        assert_eq!(s.driver_entry(ENTRY), 0);
        assert_eq!(status(s).channels().len(), 0);
        s.unload();
    });
    r.assert_clean();
    assert!(r.logged("Parameters key unavailable"), "{:?}", r.log);
}

#[test]
fn wdf_driver_create_failure_fails_driver_entry() {
    let mut m = machine();
    let r = m.boot(10, |s| {
        s.fail("WdfDriverCreate", 1, -1073741670, false);
        assert_eq!(s.driver_entry(ENTRY), -1073741670);
    });
    assert_eq!(r.end, BootEnd::Completed);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
}
