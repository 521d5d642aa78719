//! The whole lifecycle over 16 signed channels: load onto trial, events,
//! SUBMIT_EVENT, promotion after the health window, RELOAD, unload, reboot onto
//! the LKG copies, new content through RELOAD, promotion again. Verifier checks
//! (handles, pool, locks, requests) run throughout.
mod common;

use changuard_control::status::Source;
use changuard_kmodel::BootEnd;
use common::content::{channel_ids, channels, file_name};
use common::{CONTENT_DIR, ENTRY, machine, reload, status};

#[test]
fn sixteen_channels_trial_promotion_reboot_to_lkg() {
    let (m, r1, r2) = common::scenario::run();
    // The LKG store holds every channel's version 2, renamed from its temp file.
    let lkg = m.persist.fs.list_dir("\\SystemRoot\\changuard\\lkg");
    for id in channel_ids() {
        let bytes = m.persist.fs.read(&format!("\\SystemRoot\\changuard\\lkg\\C-{id}.lkg")).expect("lkg file");
        let original = m.persist.fs.read(&format!("{CONTENT_DIR}\\{}", file_name(id, 2))).expect("content");
        assert_eq!(bytes, original, "LKG copy of channel {id} is version 2 byte for byte");
    }
    assert!(!lkg.iter().any(|n| n.ends_with(".tmp")), "{lkg:?}");
    // Durability calls the loader relies on actually happened.
    assert!(r1.calls_of("ZwFlushBuffersFile") >= 16, "{:?}", r1.calls);
    assert!(r1.calls_of("ZwFlushKey") >= 2, "{:?}", r1.calls);
    assert!(r1.calls_of("KeExpandKernelStackAndCallout") >= 3, "load, promotion, reload");
    assert!(r1.logged("promoted to LKG"), "{:#?}", r1.log);
    assert!(r2.logged("detection channel 1003"), "{:#?}", r2.log);
    assert!(r2.logged("promoted to LKG"));
    // Status mirrored to the registry.
    let status_key = format!("{}\\Status", common::PARAMETERS_KEY);
    let ch = m.persist.registry.string(&status_key, "Channel1000").expect("Status\\Channel1000");
    assert!(ch.contains("lkg=2"), "{ch}");
}

/// An IOCTL_RELOAD while content is on trial must not count as a failed trial boot
/// (issue 11 finding 1). Before the fix it did: RELOAD ran `changuard_loader::boot`
/// exactly as at boot, which took the open trial record for "the last boot did not
/// get to promotion" and, at MaxTrialBoots (default 1), quarantined every channel on
/// trial (reason 214). Now RELOAD hands the running trials to `changuard_loader::reload`.
#[test]
fn reload_during_trial_keeps_the_trial() {
    let mut m = machine();
    for (name, bytes) in channels(1) {
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
    }
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        assert!(status(s).channels().iter().all(|c| c.trial_attempt == Some(1)));
        assert_eq!(reload(s), 0);
        for c in status(s).channels() {
            assert_eq!((c.source, c.active_version, c.quarantined_count), (Source::Candidate, 1, 0), "{c:?}");
        }
        s.unload();
    });
    r.assert_clean();
}

/// Issue 11 finding 1 through the driver: a clean shutdown before the health window
/// (the system calls the control device's shutdown notification) keeps the trial, and
/// the next boot promotes it; a power cut at the same point counts the attempt, so at
/// MaxTrialBoots (1) the next boot quarantines the version (no LKG yet: no content).
#[test]
fn a_clean_shutdown_keeps_the_trial_and_a_power_cut_does_not() {
    for clean in [true, false] {
        let mut m = machine();
        for (name, bytes) in channels(1).into_iter().take(2) {
            m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
        }
        let r = m.boot(10, |s| {
            assert_eq!(s.driver_entry(ENTRY), 0);
            assert_eq!(s.run_timers_for(5), 0, "no promotion before the window");
            if clean {
                s.shutdown();
            } else {
                s.power_off();
            }
        });
        assert!(r.violations.is_empty(), "{:?}", r.violations);
        assert_eq!(r.end, if clean { BootEnd::Completed } else { BootEnd::PowerOff });
        assert!(!r.logged("clean shutdown not recorded"), "{:#?}", r.log);
        let r = m.boot(10, |s| {
            assert_eq!(s.driver_entry(ENTRY), 0);
            let st = status(s);
            assert_eq!(st.channels().len(), 2);
            for c in st.channels() {
                if clean {
                    let got = (c.source, c.active_version, c.quarantined_count, c.trial_attempt);
                    assert_eq!(got, (Source::Candidate, 1, 0, Some(1)), "clean: {c:?}");
                } else {
                    assert_eq!((c.source, c.quarantined_count), (Source::None, 1), "power cut: {c:?}");
                }
            }
            // Nothing is on trial after the quarantine, so no promotion timer runs.
            assert_eq!(s.run_timers_for(61) >= 1, clean);
            let promoted = status(s).channels().iter().all(|c| c.lkg_version == Some(1));
            assert_eq!(promoted, clean);
            s.unload();
        });
        r.assert_clean();
    }
}

/// Issue 11 finding 2 through the driver: a scanner holding the old LKG copy
/// open does not fail the promotion if it shares delete (the POSIX-semantics
/// rename replaces the file under it). If it does not, the promotion fails,
/// is retried (60 s, at most 3 runs a boot) and the version is not
/// quarantined: the next boot, without the scanner, promotes it.
#[test]
fn a_scanner_holding_the_lkg_copy_open_never_costs_the_trial() {
    const LKG: &str = "\\SystemRoot\\changuard\\lkg\\C-1000.lkg";
    let one = |v: u64| channels(v).into_iter().next().expect("channel 1000");
    for share_delete in [true, false] {
        let mut m = machine();
        let (name, bytes) = one(1);
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
        m.boot(10, |s| {
            assert_eq!(s.driver_entry(ENTRY), 0);
            assert!(s.run_timers_for(61) >= 1);
            s.unload();
        })
        .assert_clean();
        let (name, bytes) = one(2);
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
        let r = m.boot(10, |s| {
            assert_eq!(s.driver_entry(ENTRY), 0);
            assert!(s.hold_open(LKG, share_delete));
            let fired = s.run_timers_for(61 + 4 * 60);
            let st = status(s);
            let c = st.channels().iter().find(|c| c.channel_id == 1000).copied().expect("channel 1000");
            let want_lkg = if share_delete { 2 } else { 1 };
            assert_eq!((c.source, c.active_version, c.lkg_version, c.quarantined_count), (Source::Candidate, 2, Some(want_lkg), 0), "{c:?}");
            // Without delete sharing: the first run and its retries (3 in all).
            assert!(if share_delete { fired >= 1 } else { fired >= 3 }, "fired {fired}");
            s.unload();
        });
        r.assert_clean();
        assert!(r.calls_of("ZwSetInformationFile") >= 1);
        if !share_delete {
            assert!(r.logged("promotion retried"), "{:#?}", r.log);
            let r = m.boot(10, |s| {
                assert_eq!(s.driver_entry(ENTRY), 0);
                assert!(s.run_timers_for(61) >= 1);
                let st = status(s);
                let c = st.channels().iter().find(|c| c.channel_id == 1000).copied().expect("channel 1000");
                assert_eq!((c.active_version, c.lkg_version, c.quarantined_count), (2, Some(2), 0), "next boot, no scanner: {c:?}");
                s.unload();
            });
            r.assert_clean();
        }
    }
}

/// Where `FileRenameInformationEx` does not exist (before Windows 10 1709, or a
/// file system without it) the promotion falls back to the legacy rename.
#[test]
fn promotion_falls_back_to_the_legacy_rename() {
    let mut m = machine();
    let (name, bytes) = channels(1).into_iter().next().expect("channel 1000");
    m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        s.fail("ZwSetInformationFile", 1, wdk_sys::STATUS_INVALID_INFO_CLASS, false);
        assert!(s.run_timers_for(61) >= 1);
        let st = status(s);
        let c = st.channels().iter().find(|c| c.channel_id == 1000).copied().expect("channel 1000");
        assert_eq!(c.lkg_version, Some(1), "{c:?}");
        s.unload();
    });
    r.assert_clean();
    assert_eq!(r.calls_of("ZwSetInformationFile"), 2, "the Ex rename, refused, then the legacy one");
}

/// `IOCTL_SUBMIT_EVENT` is a dry run (issue 11, finding 7): an administrator's test
/// traffic answers with the verdict but changes no counter and no channel's health,
/// so it can neither withhold nor hasten a promotion.
#[test]
fn submitted_events_change_no_counter_and_no_health() {
    let mut m = machine();
    for (name, bytes) in channels(1) {
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
    }
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        let before = status(s);
        common::scenario::submitted_events(s);
        let after = status(s);
        assert_eq!(
            (after.driver.events_seen, after.driver.detections, after.driver.eval_faults),
            (before.driver.events_seen, before.driver.detections, before.driver.eval_faults),
            "{:?}",
            after.driver
        );
        for (a, b) in after.channels().iter().zip(before.channels()) {
            assert_eq!((a.events, a.detections, a.faults), (b.events, b.detections, b.faults), "{a:?}");
        }
        assert!(s.run_timers_for(61) >= 1);
        assert!(status(s).channels().iter().all(|c| c.lkg_version == Some(1)), "promoted as if nothing was submitted");
        s.unload();
    });
    r.assert_clean();
}

/// Issue 11, findings 2 and 8: the LKG store is SYSTEM-only (a protected DACL that
/// its files inherit), and `Parameters\State` and `Status` are SYSTEM (all) and
/// Administrators (read) only, whether the driver created them or found them.
#[test]
fn store_and_private_keys_get_system_only_dacls() {
    use changuard_kmodel::security::{CONTAINER_INHERIT, OBJECT_INHERIT};
    let mut m = machine();
    for (name, bytes) in channels(1).into_iter().take(2) {
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
    }
    // A store an older build left behind (inheriting \SystemRoot's DACL).
    m.persist.fs.mkdir_p("\\SystemRoot\\changuard\\lkg");
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        assert!(s.run_timers_for(61) >= 1);
        s.unload();
    });
    r.assert_clean();
    let p = &m.persist;
    let store = changuard_kmodel::fs::Fs::canonical("\\SystemRoot\\changuard\\lkg");
    let d = p.effective_dacl(&store, true).expect("the store has a DACL");
    assert!(d.protected, "{d:?}");
    assert_eq!(d.aces.len(), 1, "{d:?}");
    assert_eq!((d.aces[0].sid.as_str(), d.aces[0].mask, d.aces[0].flags), ("S-1-5-18", wdk_sys::FILE_ALL_ACCESS, OBJECT_INHERIT | CONTAINER_INHERIT));
    let lkg = p.effective_dacl(&format!("{store}\\C-1000.lkg"), false).expect("inherited");
    assert_eq!(lkg.aces.iter().map(|a| a.sid.as_str()).collect::<Vec<_>>(), ["S-1-5-18"], "{lkg:?}");
    for key in ["State", "Status"] {
        let path = format!("{}\\{key}", common::PARAMETERS_KEY);
        let d = p.effective_dacl(&path, true).unwrap_or_else(|| panic!("{key} has no DACL"));
        let got: Vec<(&str, u32)> = d.aces.iter().map(|a| (a.sid.as_str(), a.mask)).collect();
        assert_eq!(got, [("S-1-5-18", wdk_sys::KEY_ALL_ACCESS), ("S-1-5-32-544", wdk_sys::KEY_READ)], "{key}");
        assert!(d.protected, "{key}");
    }
}

/// Issue 12 item 4, trial health sees cost: an event whose evaluation costs more
/// than `LatencyBudgetUs` (converted to fuel at the measured 4 ns per fuel) is a
/// content fault against the channel on trial that causes it, so that channel is
/// not promoted; with the budget off the same event and content are promoted.
#[test]
fn an_event_over_the_latency_budget_withholds_the_promotion() {
    use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, build};
    use changuard_format::schema::PROCESS_CREATE;
    use changuard_format::{Action, SCHEMA_ID};
    use changuard_kmodel::ProcessCreate;
    // 20 regexes without a literal on the command line: a 2 KiB command line of
    // digits makes each scan all of it, about 41,000 fuel in all, over a 100 µs
    // budget (25,000 fuel) and far under the default (50 ms).
    let instances = (0..20u8)
        .map(|k| {
            let mut c = vec![CriterionSpec::Any; PROCESS_CREATE.input_count()];
            c[1] = CriterionSpec::Regex { pattern: format!("[0-9a-{}]$", char::from(b'a' + k)), case_insensitive: false };
            InstanceSpec { id: u32::from(k) + 1, template: PROCESS_CREATE.id, action: Action::Report, criteria: c, also: Vec::new(), unless: Vec::new(), metadata: Default::default() }
        })
        .collect();
    let spec = ChannelSpec { channel: 2000, version: 1, schema_id: SCHEMA_ID, instances };
    let bytes = build(&spec, &common::test_key()).expect("content builds");
    let digits = "0123456789".repeat(300);
    for (budget_us, promoted) in [(100u32, false), (0, true)] {
        let mut m = machine();
        m.persist.registry.set_dword(common::PARAMETERS_KEY, "LatencyBudgetUs", budget_us);
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{}", file_name(2000, 1)), &bytes);
        let r = m.boot(10, |s| {
            assert_eq!(s.driver_entry(ENTRY), 0);
            assert!(s.process_create(&ProcessCreate::new("\\??\\C:\\Tools\\t.exe", &digits, 100)));
            let ch = status(s).channels().iter().find(|c| c.channel_id == 2000).cloned().expect("channel 2000");
            assert!(ch.trial_attempt.is_some(), "on trial: {ch:?}");
            assert_eq!(ch.faults, u64::from(!promoted), "budget {budget_us} µs: {ch:?}");
            s.run_timers_for(61);
            let ch = status(s).channels().iter().find(|c| c.channel_id == 2000).cloned().expect("channel 2000");
            assert_eq!(ch.lkg_version == Some(1), promoted, "budget {budget_us} µs: {ch:?}");
            s.unload();
        });
        r.assert_clean();
    }
}
