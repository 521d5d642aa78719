//! `--features test-hooks` only: content with Action::TestCrash bugchecks the
//! machine while on trial when Parameters\TestHooks = 1; the next boot quarantines
//! it (the crash-recovery path the VM tests exercise, here in seconds).
//!   cargo test --features test-hooks --test test_hooks
#![cfg(feature = "test-hooks")]
mod common;

use changuard_control::status::{DRIVER_FLAG_TEST_HOOKS_ARMED, DRIVER_FLAG_TEST_HOOKS_BUILD, Source};
use changuard_kmodel::{BootEnd, ProcessCreate};
use common::content::channels;
use common::{CONTENT_DIR, ENTRY, PARAMETERS_KEY, machine, status};

#[test]
fn test_crash_bugchecks_on_trial_then_reboot_quarantines() {
    let mut m = machine();
    m.persist.registry.set_dword(PARAMETERS_KEY, "TestHooks", 1);
    for (name, bytes) in channels(1).into_iter().take(2) {
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
    }
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        let flags = status(s).driver.flags;
        assert_ne!(flags & DRIVER_FLAG_TEST_HOOKS_ARMED, 0);
        assert_ne!(flags & DRIVER_FLAG_TEST_HOOKS_BUILD, 0, "a test-hooks build says so in QUERY_STATUS");
        // Instance 9 of channel 1001: TestCrash on this exact image path.
        s.process_create(&ProcessCreate::new("\\??\\C:\\crash\\now1.exe", "now1.exe", 42));
        panic!("not reached: the machine bugchecked");
    });
    assert_eq!(r.end, BootEnd::Bugcheck { code: 0xC4A6_D000, params: [1001, 9, 0, 0] }, "{:?}", r.log);
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        for c in status(s).channels() {
            // The trial boot crashed: MaxTrialBoots = 1 -> quarantined, no LKG yet -> no content.
            assert_eq!((c.source, c.quarantined_count, c.quarantined[0]), (Source::None, 1, 1), "{c:?}");
        }
        s.process_create(&ProcessCreate::new("\\??\\C:\\crash\\now1.exe", "now1.exe", 42));
        s.unload();
    });
    r.assert_clean();
}
