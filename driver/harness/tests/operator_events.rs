//! Operator events (issue 15): every loader decision lands in the status ring
//! (`IOCTL_QUERY_STATUS` version 3, `changuard driver status`) with the wall
//! clock the driver read, and the operator events among them in the System event
//! log (`IoAllocateErrorLogEntry` / `IoWriteErrorLogEntry`), written only by loader
//! runs (DriverEntry, RELOAD, the promotion timer), never by the event path.
//!
//! Root keys: the harness is built without `CHANGUARD_ROOT_PUBKEYS` (its content is
//! signed with the TEST-ONLY key and carries no keyring or release records), so these
//! boots run the loader without roots, as a driver built without them does; the
//! root-key build rules are tested in driver/hostcheck (`build_keys`), and keyring
//! mode itself in crates/loader and crates/sim.
mod common;

use changuard_control::status::{STATUS_VERSION, reason_name};
use changuard_kmodel::{EventLogEntry, Machine, ProcessCreate};
use common::content::channels;
use common::{CONTENT_DIR, ENTRY, PARAMETERS_KEY, machine, reload, status};

/// 2026-03-01 00:00:00 UTC.
const NOW: i64 = 1_772_323_200;

fn two_channels() -> Machine {
    let mut m = machine();
    for (name, bytes) in channels(1).into_iter().take(2) {
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
    }
    m
}

fn ids(log: &[EventLogEntry]) -> Vec<u16> {
    log.iter().map(|e| e.event_id).collect()
}

/// Trial start and promotion: each decision in the ring with the wall clock and its
/// sequence number, each operator event once in the event log with its strings and
/// level, written on the load and promotion paths only; process creations and
/// status queries write nothing.
#[test]
fn decisions_reach_the_status_ring_and_the_event_log() {
    let mut m = two_channels();
    let r = m.boot(10, |s| {
        s.set_wall_clock(NOW);
        assert_eq!(s.driver_entry(ENTRY), 0);
        let st = status(s);
        assert_eq!(st.version, STATUS_VERSION);
        let on_trial: Vec<_> = st.decisions().iter().filter(|d| d.reason == 211).collect();
        assert_eq!(on_trial.len(), 2, "{:#?}", st.decisions());
        for d in &on_trial {
            assert_eq!((d.version, d.attempt, d.time), (1, 1, NOW as u64), "{d:?}");
            assert!(d.operator_event() && d.logged(), "{d:?}");
        }
        let seqs: Vec<u32> = st.decisions().iter().map(|d| d.seq).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "sequence numbers in order: {seqs:?}");
        assert_eq!(st.decisions_recorded, *seqs.last().unwrap());
        let log = s.event_log();
        let trial: Vec<_> = log.iter().filter(|e| e.event_id == 211).collect();
        assert_eq!(trial.len(), 2, "{log:#?}");
        for e in &trial {
            assert_eq!(e.level, "Information");
            assert_eq!(e.error_code, 0x6004_0000 | 211);
            assert_eq!(e.strings.len(), 4);
            assert!(e.strings[0].starts_with("channel "), "{e:?}");
            assert_eq!(e.strings[0], format!("channel {}", e.unique_value));
            assert_eq!(&e.strings[1..], ["v1", "on-trial", "attempt 1"]);
            assert_eq!(e.path, "DriverEntry");
            let d = st.decisions().iter().find(|d| d.seq == e.sequence).expect("the ring holds the logged decision");
            assert_eq!((d.reason, d.channel), (211, e.unique_value));
        }
        // Every logged decision is in the log, and nothing else is.
        let logged = st.decisions().iter().filter(|d| d.logged()).count();
        assert_eq!(log.len(), logged, "{log:#?}");
        for d in st.decisions() {
            assert!(reason_name(d.reason).is_some(), "unknown reason {d:?}");
        }

        // The event path and the status query write nothing.
        let before = s.event_log().len();
        for pid in 0..20u64 {
            let p = ProcessCreate::new("C:\\Windows\\System32\\cmd.exe", "cmd.exe /c whoami", 1000 + pid);
            s.process_create(&p);
            s.process_exit(1000 + pid);
        }
        let _ = status(s);
        assert_eq!(s.event_log().len(), before, "event path or status query wrote to the event log");

        // Promotion after the health window: 501 per channel, from the timer.
        s.advance(3_600);
        assert!(s.run_timers_for(61) >= 1);
        let st = status(s);
        let promoted: Vec<_> = st.decisions().iter().filter(|d| d.reason == 501).collect();
        assert_eq!(promoted.len(), 2, "{:#?}", st.decisions());
        assert!(promoted.iter().all(|d| d.time >= NOW as u64 + 3_600 && d.logged()));
        let log = s.event_log();
        let ev: Vec<_> = log.iter().filter(|e| e.event_id == 501).collect();
        assert_eq!(ev.len(), 2, "{log:#?}");
        assert!(ev.iter().all(|e| e.path == "timer" && e.strings[2] == "promoted"), "{ev:#?}");
        assert!(log.iter().all(|e| e.path == "DriverEntry" || e.path == "timer"), "{log:#?}");

        // RELOAD: the ring keeps the earlier decisions and adds the reload's.
        let n = status(s).decisions_recorded;
        assert_eq!(reload(s), 0);
        let st = status(s);
        assert!(st.decisions_recorded > n);
        assert!(st.decisions().iter().any(|d| d.reason == 501), "promotion still in the ring");
        s.unload();
    });
    r.assert_clean();
}

/// A rejected candidate is a Warning event carrying the rule and offset the
/// status reports; the LKG-less fallback to no content is an Error event.
#[test]
fn a_rejected_candidate_is_an_event_with_its_rule_and_offset() {
    let mut m = machine();
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/bad/truncated.C-00000291-00000002.chan"))
        .expect("example file");
    m.persist.fs.write(&format!("{CONTENT_DIR}\\C-00000291-00000002.chan"), &bytes);
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        let st = status(s);
        let c = st.channels().iter().find(|c| c.channel_id == 291).copied().expect("channel 291");
        let rej = c.last_rejection.expect("rejection");
        let d = st.decisions().iter().find(|d| d.reason == 206).copied().expect("candidate-rejected in the ring");
        assert_eq!((d.channel, d.version, d.detail, d.offset), (291, 2, rej.rule, rej.offset));
        let log = s.event_log();
        let e = log.iter().find(|e| e.event_id == 206).expect("candidate-rejected event");
        assert_eq!(e.level, "Warning");
        assert_eq!(e.strings, ["channel 291", "v2", "candidate-rejected", &format!("rule {} at {}", rej.rule, rej.offset)]);
        assert_eq!(e.device_offset, rej.offset as i64);
        let none = log.iter().find(|e| e.event_id == 404).expect("no-content event");
        assert_eq!(none.level, "Error");
        s.unload();
    });
    r.assert_clean();
}

/// A trial cut by a power loss at MaxTrialBoots (1): the next boot quarantines the
/// version: an Error event 214 with the channel and version.
#[test]
fn a_quarantine_is_an_error_event() {
    let mut m = two_channels();
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        s.power_off();
    });
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        let log = s.event_log();
        let q: Vec<_> = log.iter().filter(|e| e.event_id == 214).collect();
        assert_eq!(q.len(), 2, "{:?}", ids(&log));
        for e in q {
            assert_eq!((e.level, e.strings[1].as_str(), e.strings[2].as_str()), ("Error", "v1", "quarantined"));
        }
        let st = status(s);
        assert_eq!(st.decisions().iter().filter(|d| d.reason == 214 && d.logged()).count(), 2);
        s.unload();
    });
    r.assert_clean();
}

/// The wall clock reaches the platform: a clock before 1970 is no clock (time 0
/// in the ring), and a failing error log (no entry) costs the event, not the load.
#[test]
fn no_clock_and_a_full_error_log_cost_nothing_but_the_record() {
    let mut m = two_channels();
    let r = m.boot(10, |s| {
        s.set_wall_clock(-10);
        s.fail("IoAllocateErrorLogEntry", 1, 0, true);
        assert_eq!(s.driver_entry(ENTRY), 0);
        let st = status(s);
        assert!(!st.decisions().is_empty());
        for d in st.decisions() {
            assert_eq!(d.time, 0, "{d:?}");
            assert!(!d.logged(), "{d:?}");
        }
        assert!(st.decisions().iter().any(|d| d.reason == 211 && d.operator_event()));
        assert!(s.event_log().is_empty());
        assert_eq!(st.channels().iter().filter(|c| c.trial_attempt == Some(1)).count(), 2);
        s.unload();
    });
    r.assert_clean();
}

/// The ring keeps the newest 32 decisions and counts every one.
#[test]
fn the_ring_is_bounded_and_keeps_the_newest() {
    let mut m = two_channels();
    m.persist.registry.set_dword(PARAMETERS_KEY, "MaxTrialBoots", 3);
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        for _ in 0..12 {
            assert_eq!(reload(s), 0);
        }
        let st = status(s);
        assert_eq!(st.decisions().len(), 32);
        assert!(st.decisions_recorded > 32);
        assert_eq!(st.decisions().last().unwrap().seq, st.decisions_recorded);
        assert_eq!(st.decisions()[0].seq, st.decisions_recorded - 31);
        s.unload();
    });
    r.assert_clean();
}
