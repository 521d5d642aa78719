//! Entry points at the same time, as two CPUs would run them: process creations
//! racing the promotion timer, then racing RELOADs and status queries. The driver's
//! wait locks block for real in the model; a deadlock (10 s), a lock-order
//! inversion, a leaked handle or pool block, or an event lost or counted twice
//! fails the test.
mod common;

use changuard_control::status::Source;
use changuard_kmodel::{ProcessCreate, Session};
use common::content::channels;
use common::{CONTENT_DIR, ENTRY, machine, reload, status};

const EVENTS: u64 = 300;

fn events(s: &mut Session, base: u64) {
    for i in 0..EVENTS {
        // Matches instance 1 of channel 1003 (a detection) every 3rd event.
        let image = if i % 3 == 0 { "\\??\\C:\\Temp\\evil3.exe" } else { "\\??\\C:\\Windows\\System32\\svchost.exe" };
        assert!(s.process_create(&ProcessCreate::new(image, "x --payload", base + i)));
    }
}

#[test]
fn events_racing_reloads_and_promotion() {
    let mut m = machine();
    for (name, bytes) in channels(1) {
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
    }
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        // Events against the promotion timer at the end of the health window.
        s.advance(59);
        s.race(|a| events(a, 10_000), |b| assert!(b.run_timers_for(5) >= 1));
        let st = status(s);
        assert_eq!(st.driver.events_seen, EVENTS, "{:?}", st.driver);
        assert!(st.driver.detections >= EVENTS / 3, "{:?}", st.driver);
        for c in st.channels() {
            assert_eq!((c.source, c.lkg_version, c.trial_attempt), (Source::Candidate, Some(1), None), "{c:?}");
        }
        // Events against RELOADs (each swaps every channel's content under the lock).
        s.race(
            |a| events(a, 20_000),
            |b| {
                for _ in 0..3 {
                    assert_eq!(reload(b), 0);
                    let _ = status(b);
                }
            },
        );
        let st = status(s);
        assert_eq!(st.driver.events_seen, 2 * EVENTS, "{:?}", st.driver);
        assert_eq!((st.driver.reloads, st.driver.reload_fallbacks), (4, 0), "DriverEntry's load and three RELOADs: {:?}", st.driver);
        assert!(st.driver.detections >= 2 * (EVENTS / 3), "no event ran against missing content: {:?}", st.driver);
        for c in st.channels() {
            assert_eq!((c.source, c.active_version), (Source::Lkg, 1), "{c:?}");
        }
        s.unload();
    });
    r.assert_clean();
}
