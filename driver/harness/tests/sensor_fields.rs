//! The process fields the driver reads itself: the image name in the form
//! rules use, the new process's token (user SID, session, integrity,
//! elevation) and the parent's image and command line from the driver's own
//! process table. A failed token query leaves its fields empty and leaks
//! nothing.
mod common;

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, build};
use changuard_format::schema::PROCESS_CREATE;
use changuard_format::{Action, SCHEMA_ID, StrOp};
use changuard_kmodel::{BootReport, ProcessCreate, Session, Token};
use common::content::file_name;
use common::{CONTENT_DIR, ENTRY, machine};

const USER_SID: &str = "S-1-5-21-1004336348-1177238915-682003330-1001";
/// Explorer's command line when COM starts it (what Sigma's `ParentCommandLine` tests look for).
const EXPLORER_CMD: &str = "C:\\Windows\\Explorer.EXE /factory,{75dff2b7-6936-4c06-a8bb-676a7b00b24b} -Embedding";
/// A command line past the 2,048-byte cap whose cut falls inside a character:
/// "p.exe " (6 bytes) and 2-byte characters.
fn long_cmd() -> String {
    format!("p.exe {}", "é".repeat(2000))
}
/// [`long_cmd`] as the driver keeps it: 6 + 2 * 1021 = 2,048 bytes.
fn long_cmd_cut() -> String {
    format!("p.exe {}", "é".repeat(1021))
}

fn instance(id: u32, tests: &[(&str, CriterionSpec)]) -> InstanceSpec {
    let mut c = vec![CriterionSpec::Any; PROCESS_CREATE.input_count()];
    for (field, crit) in tests {
        c[PROCESS_CREATE.field_index(field).expect("field")] = crit.clone();
    }
    InstanceSpec { id, template: PROCESS_CREATE.id, action: Action::Report, criteria: c, also: Vec::new(), unless: Vec::new(), metadata: Default::default() }
}

fn eq(s: &str) -> CriterionSpec {
    CriterionSpec::Str { op: StrOp::Equals, value: s.to_string(), case_insensitive: false }
}

/// Channel 2100: one instance per field the driver fills, and one that a
/// user's process must not match.
fn content() -> Vec<u8> {
    let instances = vec![
        instance(1, &[("image_path", eq("C:\\Tools\\t.exe"))]),
        instance(2, &[("image_path", eq("\\\\srv\\share\\t.exe"))]),
        instance(3, &[("user_sid", eq(USER_SID))]),
        instance(4, &[("integrity_level", CriterionSpec::IntEquals(0x2000)), ("session_id", CriterionSpec::IntEquals(1)), ("token_elevated", CriterionSpec::IntEquals(0))]),
        instance(5, &[("user_sid", eq("S-1-5-18"))]),
        instance(6, &[("parent_image_path", eq("C:\\Windows\\explorer.exe"))]),
        // The children (x.exe) only: a known parent's command line, an unknown
        // parent's (empty), and a long one cut at the cap.
        instance(7, &[("image_path", eq("C:\\Tools\\x.exe")), ("parent_command_line", eq(EXPLORER_CMD))]),
        instance(8, &[("image_path", eq("C:\\Tools\\x.exe")), ("parent_command_line", CriterionSpec::Regex { pattern: "^$".into(), case_insensitive: false })]),
        instance(9, &[("image_path", eq("C:\\Tools\\x.exe")), ("parent_command_line", eq(&long_cmd_cut()))]),
    ];
    let spec = ChannelSpec { channel: 2100, version: 1, schema_id: SCHEMA_ID, instances };
    build(&spec, &common::test_key()).expect("content builds")
}

/// One boot with channel 2100 installed: DriverEntry, `events`, unload; clean.
fn boot_with(events: impl FnOnce(&mut Session)) -> BootReport {
    let mut m = machine();
    m.persist.fs.write(&format!("{CONTENT_DIR}\\{}", file_name(2100, 1)), &content());
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        events(s);
        s.unload();
    });
    r.assert_clean();
    r
}

fn matched(log: &[String]) -> Vec<u32> {
    let mut ids: Vec<u32> = log
        .iter()
        .filter_map(|l| l.split("detection channel 2100 instance ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn token_fields_and_normalised_image_names_reach_the_content() {
    let r = boot_with(|s| {
        let user = ProcessCreate { token: Token::user(), ..ProcessCreate::new("\\??\\C:\\Tools\\t.exe", "t.exe", 100) };
        assert!(s.process_create(&user));
        let unc = ProcessCreate { token: Token::user(), ..ProcessCreate::new("\\??\\UNC\\srv\\share\\t.exe", "t.exe", 101) };
        assert!(s.process_create(&unc));
    });
    // \??\C:\... matched as C:\..., \??\UNC\srv\... as \\srv\...; the user's SID,
    // session 1, Medium and not elevated; never LocalSystem's SID.
    assert_eq!(matched(&r.log), vec![1, 2, 3, 3, 4, 4], "{:#?}", r.log);
    assert_eq!(r.calls_of("PsReferencePrimaryToken"), 2);
    assert_eq!(r.calls_of("SeQueryInformationToken"), 8);
}

#[test]
fn a_failed_token_query_leaves_its_field_empty_and_leaks_nothing() {
    let r = boot_with(|s| {
        // Every token query fails: the process is still evaluated, on its image.
        s.fail("SeQueryInformationToken", 1, changuard_kmodel::status::INSUFFICIENT_RESOURCES, true);
        let user = ProcessCreate { token: Token::user(), ..ProcessCreate::new("\\??\\C:\\Tools\\t.exe", "t.exe", 100) };
        assert!(s.process_create(&user));
    });
    assert_eq!(matched(&r.log), vec![1], "{:#?}", r.log);
    // Each class was asked once and the token reference released (assert_clean
    // holds the model's reference and pool-leak checks).
    assert_eq!(r.calls_of("SeQueryInformationToken"), 4);
}

#[test]
fn a_child_carries_its_parents_image_and_command_line_until_the_parent_exits() {
    let r = boot_with(|s| {
        let explorer = ProcessCreate { token: Token::user(), ..ProcessCreate::new("\\??\\C:\\Windows\\explorer.exe", EXPLORER_CMD, 600) };
        assert!(s.process_create(&explorer));
        let child = |pid| ProcessCreate { ppid: 600, ..ProcessCreate::new("\\??\\C:\\Tools\\x.exe", "x.exe", pid) };
        assert!(s.process_create(&child(700)));
        // The parent exits; pid 600's next child has no recorded parent.
        assert!(s.process_exit(600));
        assert!(s.process_create(&child(704)));
    });
    // Instances 6 and 7 once (pid 700), not for 704, whose parent command
    // line is empty (8); explorer (a user's) matches 3 and 4, each child
    // (LocalSystem's token) 5.
    assert_eq!(matched(&r.log), vec![3, 4, 5, 5, 6, 7, 8], "{:#?}", r.log);
}

#[test]
fn a_parents_command_line_arrives_cut_at_the_cap_and_a_null_one_empty() {
    let r = boot_with(|s| {
        // A parent whose command line is past the cap: its child gets the
        // first 2,048 bytes, cut at a character boundary.
        assert!(s.process_create(&ProcessCreate::new("\\??\\C:\\Tools\\p.exe", &long_cmd(), 800)));
        let child = |pid, ppid| ProcessCreate { ppid, ..ProcessCreate::new("\\??\\C:\\Tools\\x.exe", "x.exe", pid) };
        assert!(s.process_create(&child(900, 800)));
        // A parent the kernel gave no command line (NULL): recorded, with an empty one.
        assert!(s.process_create(&ProcessCreate { command_line: None, ..ProcessCreate::new("\\??\\C:\\Tools\\q.exe", "", 804) }));
        assert!(s.process_create(&child(904, 804)));
        // A parent the driver never saw start.
        assert!(s.process_create(&child(908, 1_000)));
    });
    // Every process is LocalSystem's (5); the first child matches the cut
    // (9), the other two the empty parent command line (8).
    assert_eq!(matched(&r.log), vec![5, 5, 5, 5, 5, 8, 8, 9], "{:#?}", r.log);
}

#[test]
fn driver_status_says_when_the_process_table_was_full() {
    use changuard_control::status::{DRIVER_FLAG_PROCESS_TABLE, DRIVER_FLAG_PROCESS_TABLE_FULL};
    let r = boot_with(|s| {
        let flags = common::status(s).driver.flags;
        assert_ne!(flags & DRIVER_FLAG_PROCESS_TABLE, 0, "{flags:#x}");
        assert_eq!(flags & DRIVER_FLAG_PROCESS_TABLE_FULL, 0, "{flags:#x}");
        // 1,023 running processes fill it; the 1,024th is not recorded.
        let explorer = |pid| ProcessCreate::new("\\??\\C:\\Windows\\explorer.exe", "explorer.exe", pid);
        for k in 0..1024u64 {
            assert!(s.process_create(&explorer(10_000 + 4 * k)));
        }
        let flags = common::status(s).driver.flags;
        assert_ne!(flags & DRIVER_FLAG_PROCESS_TABLE_FULL, 0, "{flags:#x}");
        // The last one's child has no recorded parent; the first one's child has.
        let child = |ppid| ProcessCreate { ppid, ..ProcessCreate::new("\\??\\C:\\Tools\\x.exe", "x.exe", 9_000) };
        assert!(s.process_create(&child(10_000 + 4 * 1023)));
        assert!(s.process_create(&child(10_000)));
    });
    // Instance 6 (parent explorer.exe) fires once: for the first parent only
    // (plus instance 5, LocalSystem, for every process).
    assert_eq!(matched(&r.log).iter().filter(|&&i| i == 6).count(), 1);
    // Likewise the parent command line: empty (instance 8) for the last one's child only.
    assert_eq!(matched(&r.log).iter().filter(|&&i| i == 8).count(), 1);
}
