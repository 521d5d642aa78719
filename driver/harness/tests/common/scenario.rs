//! The full lifecycle, shared by lifecycle.rs (behaviour) and stack_report.rs
//! (stack depth per path): boot 1 loads 16 signed channels from the content
//! directory onto trial, takes process events with maximum-length fields,
//! SUBMIT_EVENT on both templates, RELOAD, promotion after the health window,
//! unload; boot 2 (a reboot over the same disks) loads the LKG copies.
use changuard_control::status::{DRIVER_FLAG_EVENT_SOURCE, DRIVER_FLAG_PROMOTION_DONE, Source};
use changuard_control::submit::{FieldValue, Outcome};
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE};
use changuard_kmodel::nt::token::sid;
use changuard_kmodel::{BootReport, Machine, ProcessCreate, Session, Token};

use super::content::{channel_ids, channels};
use super::{CONTENT_DIR, ENTRY, machine, reload, status, submit_event};

/// Longest string a `UNICODE_STRING` can describe: 32767 UTF-16 units.
pub const MAX_UNICODE_UNITS: usize = 32767;

/// `prefix` followed by `fill` repeated, cut to exactly `units` UTF-16 units
/// (may end on half a surrogate pair when `fill` has one: that is the point).
pub fn units_of(prefix: &str, fill: &str, units: usize) -> Vec<u16> {
    let mut v: Vec<u16> = prefix.encode_utf16().collect();
    let f: Vec<u16> = fill.encode_utf16().collect();
    while v.len() < units {
        v.extend_from_slice(&f);
    }
    v.truncate(units);
    v
}

/// Process events with maximum-length and awkward fields, plus matching ones.
pub fn process_events(s: &mut Session) {
    // Image path and command line of 32767 units: multi-byte characters (2-, 3- and
    // 4-byte UTF-8, surrogate pairs) around the 1 KiB / 2 KiB truncation points.
    for (i, fill) in ["ab\u{1D11E}", "\u{e9}\u{20AC}x", "\u{1F600}", "a"].iter().enumerate() {
        let p = ProcessCreate {
            image: Some(units_of("\\??\\C:\\Temp\\", fill, MAX_UNICODE_UNITS)),
            command_line: Some(units_of("cmd.exe /c ", fill, MAX_UNICODE_UNITS)),
            pid: 7000 + i as u64,
            ppid: 4,
            creator_pid: 4,
            // The longest SID a token holds (15 sub-authorities): the most text to format.
            token: Token { user_sid: sid(5, &[u32::MAX; 15]), ..Token::user() },
        };
        assert!(s.process_create(&p));
    }
    // Lone surrogates, NULL strings, empty strings.
    let broken = ProcessCreate { image: Some(vec![0xD800; 600]), command_line: Some(vec![0xDC00, 0x41, 0xD800]), pid: 7100, ..ProcessCreate::default() };
    assert!(s.process_create(&broken));
    assert!(s.process_create(&ProcessCreate { image: None, command_line: None, pid: 7101, ..ProcessCreate::default() }));
    assert!(s.process_create(&ProcessCreate { image: Some(Vec::new()), command_line: Some(Vec::new()), pid: 7102, ..ProcessCreate::default() }));
    // Matches: channel 1003 instance 1 (suffix + contains), every channel's
    // instance 2 (prefix + pid range), channel 1005 instance 7 (regex).
    assert!(s.process_create(&ProcessCreate::new("\\??\\C:\\Temp\\evil3.exe", "evil3.exe --PAYLOAD now", 5123)));
    assert!(s.process_create(&ProcessCreate::new("\\??\\C:\\Users\\a\\x5123.exe", "x5123.exe", 100)));
    // A non-ASCII file in a temp folder (channel instance 8, case-folded regex).
    assert!(s.process_create(&ProcessCreate::new("\\??\\C:\\Users\\a\\AppData\\Local\\Temp\\\u{0441}\u{0447}\u{0435}\u{0442}.exe", "x", 101)));
    // TestCrash instance: a Report without the test-hooks feature and TestHooks = 1.
    assert!(s.process_create(&ProcessCreate::new("\\??\\C:\\crash\\now2.exe", "now2.exe", 102)));
    assert!(s.process_exit(5123));
}

/// SUBMIT_EVENT on both templates, with the longest accepted strings.
pub fn submitted_events(s: &mut Session) {
    let long = "A".repeat(changuard_control::submit::MAX_STR_LEN);
    let enc = format!("powershell.exe -enc {}", "QUJD".repeat(200));
    let fields = [
        FieldValue::Str("\\??\\C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"),
        FieldValue::Str(&enc),
        FieldValue::Str("\\??\\C:\\Program Files\\Microsoft Office\\WINWORD.EXE"),
        FieldValue::Str("S-1-5-21-1-2-3-1001"),
        FieldValue::Int(4242),
        FieldValue::Int(4000),
        FieldValue::Int(4000),
        FieldValue::Int(1),
        FieldValue::Int(0x1000),
        FieldValue::Int(1),
        FieldValue::Str("\"C:\\Program Files\\Microsoft Office\\WINWORD.EXE\" /n invoice.docm"),
    ];
    assert_eq!(fields.len(), PROCESS_CREATE.fields.len());
    let (st, reply) = submit_event(s, PROCESS_CREATE.id, &fields);
    assert_eq!(st, 0);
    let reply = reply.expect("reply");
    assert_eq!(reply.outcome, Outcome::Match, "{reply:?}");
    assert!(reply.matches >= 16, "instances 4 and 10 of every channel: {reply:?}");

    let longs = [
        FieldValue::Str(&long),
        FieldValue::Str(&long),
        FieldValue::Str(&long),
        FieldValue::Str(&long),
        FieldValue::Int(u64::MAX),
        FieldValue::Int(0),
        FieldValue::Int(1),
        FieldValue::Int(2),
        FieldValue::Int(3),
        FieldValue::Int(4),
        FieldValue::Str(&long),
    ];
    let (st, reply) = submit_event(s, PROCESS_CREATE.id, &longs);
    assert_eq!(st, 0);
    assert_eq!(reply.expect("reply").outcome, Outcome::NoMatch);

    let mut pipe: Vec<FieldValue<'_>> = vec![
        FieldValue::Str("\\Device\\NamedPipe\\EvilPipe"),
        FieldValue::Str("\\??\\C:\\svc7.exe"),
        FieldValue::Str(&long),
        FieldValue::Str("\\??\\C:\\client.exe"),
        FieldValue::Str("S-1-5-18"),
        FieldValue::Str("S-1-5-18"),
    ];
    pipe.extend((0..14).map(|i| FieldValue::Int(if i == 4 { 0x0012_019F } else { i })));
    assert_eq!(pipe.len(), NAMED_PIPE_CREATE.fields.len());
    let (st, reply) = submit_event(s, NAMED_PIPE_CREATE.id, &pipe);
    assert_eq!(st, 0);
    let reply = reply.expect("reply");
    assert_eq!(reply.outcome, Outcome::Match, "{reply:?}");

    // A malformed request is refused, not evaluated.
    let (st, _) = submit_event(s, 99, &[FieldValue::Int(1)]);
    assert_ne!(st, 0);
}

/// Boot 1: 16 channels onto trial, events, SUBMIT_EVENT, promotion after the
/// health window, RELOAD (LKG path), unload. Boot 2 (reboot): LKG copies load; the
/// update agent drops version 2 and RELOAD puts it on trial; promotion; unload.
/// Returns the machine and both reports.
pub fn run() -> (Machine, BootReport, BootReport) {
    let mut m = machine();
    for (name, bytes) in channels(1) {
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
    }
    let v2 = channels(2);
    let ids = channel_ids();
    let ids2 = ids.clone();
    let r1 = m.boot(10, move |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        let st = status(s);
        assert_ne!(st.driver.flags & DRIVER_FLAG_EVENT_SOURCE, 0);
        assert_eq!(st.channels().len(), 16, "{st:?}");
        for (c, id) in st.channels().iter().zip(&ids) {
            assert_eq!(c.channel_id, *id);
            assert_eq!(c.source, Source::Candidate, "{c:?}");
            assert_eq!(c.active_version, 1);
            assert_eq!(c.trial_attempt, Some(1), "{c:?}");
            assert_eq!(c.lkg_version, None);
            assert!(c.last_rejection.is_none(), "{c:?}");
        }
        process_events(s);
        submitted_events(s);
        let st = status(s);
        assert!(st.driver.detections >= 4, "{:?}", st.driver);
        assert_eq!(st.driver.eval_faults, 0);

        // Health window (60 s from the load): the timer fires, content is promoted.
        assert_eq!(s.next_timer_in(), Some(60));
        s.advance(30);
        assert_eq!(s.fire_timers(), 0);
        assert!(s.run_timers_for(40) >= 1);
        let st = status(s);
        assert_ne!(st.driver.flags & DRIVER_FLAG_PROMOTION_DONE, 0, "{:?}", st.driver);
        for c in st.channels() {
            assert_eq!(c.lkg_version, Some(1), "{c:?}");
            assert_eq!(c.trial_attempt, None, "{c:?}");
        }

        // RELOAD with nothing newer than the LKG: the LKG copies become active.
        assert_eq!(reload(s), 0);
        let st = status(s);
        assert_eq!(st.driver.reloads, 2);
        assert!(st.channels().iter().all(|c| c.source == Source::Lkg && c.active_version == 1), "{st:?}");
        s.unload();
    });
    r1.assert_clean();
    let r2 = m.boot(12, move |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        let st = status(s);
        assert_eq!(st.channels().len(), 16);
        for (c, id) in st.channels().iter().zip(&ids2) {
            assert_eq!(c.channel_id, *id);
            assert_eq!(c.source, Source::Lkg, "{c:?}");
            assert_eq!(c.active_version, 1);
            assert_eq!(c.lkg_version, Some(1));
            assert_eq!(c.trial_attempt, None);
        }
        assert!(s.process_create(&ProcessCreate::new("\\??\\C:\\Temp\\evil3.exe", "evil3.exe --payload", 5555)));
        assert!(status(s).driver.detections >= 1);
        assert_eq!(s.next_timer_in(), None, "nothing on trial: no promotion timer");

        // The update agent drops version 2; RELOAD puts it on trial.
        s.advance(100);
        s.edit(|p| {
            for (name, bytes) in &v2 {
                p.fs.write(&format!("{CONTENT_DIR}\\{name}"), bytes);
            }
        });
        assert_eq!(reload(s), 0);
        let st = status(s);
        for c in st.channels() {
            assert_eq!((c.source, c.active_version, c.trial_attempt, c.lkg_version), (Source::Candidate, 2, Some(1), Some(1)), "{c:?}");
        }
        process_events(s);
        assert_eq!(s.next_timer_in(), Some(60), "a full window after the reload");
        assert!(s.run_timers_for(61) >= 1);
        let st = status(s);
        for c in st.channels() {
            assert_eq!((c.source, c.active_version, c.trial_attempt, c.lkg_version), (Source::Candidate, 2, None, Some(2)), "{c:?}");
        }
        s.unload();
    });
    r2.assert_clean();
    (m, r1, r2)
}
