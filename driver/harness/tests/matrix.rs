//! The boot-loop matrix (`scripts/bootloop-matrix.json`, shared with the Hyper-V
//! kit and the simulator) through the real driver: every case's `apply` done to
//! the model machine the way `scripts/Invoke-BootLoopTest.ps1` does it to a VM,
//! then booted past the health window; channel 291 must end exactly in the case's
//! `expect`, with at most `max_crashes` bugchecks on the way. The poison case
//! needs the test-hooks build (`--features test-hooks`); without it the case is
//! reported as skipped, as the VM kit does without a test-hooks package. Cases
//! that require root keys (the release gate) are skipped too: the harness driver
//! is built without them; the simulator runs those cases (crates/sim/tests/matrix.rs).
//!
//! Also: every file of `examples/bad/` delivered to the driver is rejected with the
//! rule and offset `examples/bad/EXPECTED.json` gives (the July 19 replays among
//! them), and the machine keeps running.
mod common;

use changuard_control::status::Source;
use changuard_format::Rule;
use changuard_kmodel::{BootEnd, Machine, ProcessCreate, Session};
use common::kit::{CHANNEL, Kit, kit, name};
use common::{CONTENT_DIR, ENTRY, PARAMETERS_KEY, machine, status};
use serde_json::Value;

const LKG_DIR: &str = "\\SystemRoot\\changuard\\lkg";
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn json(rel: &str) -> Value {
    let p = format!("{ROOT}/{rel}");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// What channel 291 must look like at the end of a case.
#[derive(Clone, Debug)]
struct Expect {
    active_version: Option<u64>,
    source: &'static str,
    quarantined: Vec<u64>,
    lkg_version: Option<u64>,
}

impl Expect {
    fn from(e: &Value) -> Self {
        let source = match e["active_source"].as_str() {
            Some("candidate") => "candidate",
            Some("lkg") => "lkg",
            Some("golden") => "golden",
            _ => "none",
        };
        Expect {
            active_version: e["active_version"].as_u64(),
            source,
            quarantined: e["quarantined"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default(),
            lkg_version: e["lkg_version"].as_u64(),
        }
    }

    /// Asserts (in the boot) that channel 291 is as expected.
    fn check(&self, s: &mut Session, case: &str) {
        let st = status(s);
        let c = st.channels().iter().find(|c| c.channel_id == CHANNEL).copied();
        let (active, source, quarantined, lkg) = match c {
            Some(c) => (
                (c.source != Source::None).then_some(c.active_version),
                c.source.name(),
                c.quarantined[..usize::from(c.quarantined_count)].to_vec(),
                c.lkg_version,
            ),
            None => (None, "none", Vec::new(), None),
        };
        // Status lists them newest first; the matrix, in ascending order.
        let mut quarantined = quarantined;
        quarantined.sort_unstable();
        assert_eq!(
            (active, source, &quarantined, lkg),
            (self.active_version, self.source, &self.quarantined, self.lkg_version),
            "{case}: channel 291 is (active, source, quarantined, lkg) = left, expected right; status {c:?}"
        );
    }
}

/// One boot past the health window, with a process creation on the way (services
/// start at boot; poison content crashes on it). `check` runs at the end.
fn boot(m: &mut Machine, check: Option<(&Expect, &str)>) -> BootEnd {
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        s.process_create(&ProcessCreate::new("\\??\\C:\\Windows\\System32\\services.exe", "services.exe", 600));
        s.run_timers_for(61);
        if let Some((e, case)) = check {
            e.check(s, case);
        }
        s.unload();
    });
    if matches!(r.end, BootEnd::Completed) {
        r.assert_clean();
    } else {
        assert!(r.violations.iter().all(|v| !v.starts_with("FATAL")) || matches!(r.end, BootEnd::Bugcheck { .. }), "{:?} {:?}", r.end, r.violations);
    }
    r.end
}

fn deliver(m: &mut Machine, file: &str, bytes: &[u8]) {
    m.persist.fs.write(&format!("{CONTENT_DIR}\\{file}"), bytes);
}

/// The baseline: v6 delivered on a fresh install and promoted.
fn baseline(test_hooks: bool) -> Machine {
    let mut m = machine();
    m.persist.registry.set_dword(PARAMETERS_KEY, "MaxTrialBoots", 1);
    m.persist.registry.set_sz(PARAMETERS_KEY, "Policy", "Latest");
    if test_hooks {
        m.persist.registry.set_dword(PARAMETERS_KEY, "TestHooks", 1);
    }
    deliver(&mut m, &name(6), &kit(6, Kit::Good));
    assert_eq!(boot(&mut m, None), BootEnd::Completed);
    m
}

/// Runs one case; `Ok(false)` = skipped in this build.
fn run_case(case: &Value) -> Result<bool, String> {
    let cname = case["name"].as_str().unwrap_or("?");
    // The harness driver is built without root keys (release gate off), like the
    // VM kit without -RootedPackagePath: the simulator runs these cases.
    if case["requires"].as_str() == Some("root-keys") {
        return Ok(false);
    }
    let file = case["content"].as_str().unwrap_or("").to_string();
    // A case whose versions crash one after the other ends in a recovery boot
    // after each crash: it is steady after two clean boots in a row.
    let steady_after = if case["apply"].as_str() == Some("poison-many") { 2 } else { 1 };
    let expect = Expect::from(&case["expect"]);
    let max_crashes = case["expect"]["max_crashes"].as_u64().unwrap_or(0);
    let v7 = kit(7, Kit::Good);
    let mut crashes = 0;
    let mut m = match case["apply"].as_str() {
        Some("first-install") => {
            let mut m = machine();
            deliver(&mut m, &file, &kit(6, Kit::Good));
            m
        }
        Some("deliver-file") => {
            let mut m = baseline(false);
            let kind = match cname {
                "wrong-schema" => Kit::WrongSchema,
                "july-19" => Kit::July19,
                _ => Kit::Good,
            };
            deliver(&mut m, &file, &kit(7, kind));
            m
        }
        // The VM kit's writer flushes half the file and holds it open when the power
        // goes: what survives is the first half under the final name.
        Some("truncate" | "power-off-during-update") => {
            let mut m = baseline(false);
            deliver(&mut m, &file, &v7[..v7.len() / 2]);
            m
        }
        Some("flip-signature") => {
            let mut m = baseline(false);
            let mut b = v7.clone();
            if let Some(x) = b.last_mut() {
                *x ^= 1;
            }
            deliver(&mut m, &file, &b);
            m
        }
        Some("poison") => {
            if !cfg!(feature = "test-hooks") {
                return Ok(false);
            }
            let mut m = baseline(true);
            deliver(&mut m, &file, &kit(7, Kit::Poison));
            m
        }
        // Power cut when the health window ends: on entry to the promotion timer's
        // first Windows call (the crash-point sweep covers every later call).
        Some("power-off-during-promotion") => {
            let mut m = baseline(false);
            deliver(&mut m, &file, &v7);
            let probe = m.clone().boot(10, |s| {
                assert_eq!(s.driver_entry(ENTRY), 0);
                s.mark("promoting");
                s.run_timers_for(61);
            });
            let at = probe.mark("promoting").ok_or("no mark")? + 1;
            let r = m.boot(10, |s| {
                s.crash_at(at);
                assert_eq!(s.driver_entry(ENTRY), 0);
                s.run_timers_for(61);
            });
            if !matches!(r.end, BootEnd::Crash { .. }) {
                return Err(format!("{cname}: the power cut did not happen: {:?}", r.end));
            }
            m
        }
        Some("corrupt-lkg") => {
            let mut m = baseline(false);
            for f in m.persist.fs.list_dir(LKG_DIR) {
                let path = format!("{LKG_DIR}\\{f}");
                let mut b = m.persist.fs.read(&path).unwrap_or_default().to_vec();
                let mid = b.len() / 2;
                let end = b.len().min(mid + 64);
                for x in &mut b[mid..end] {
                    *x ^= 0xFF;
                }
                m.persist.fs.write(&path, &b);
            }
            deliver(&mut m, &file, &v7[..v7.len() / 2]);
            m
        }
        // A clean reboot (`shutdown /r`) while v7 is on trial, before its health window.
        Some("reboot-during-trial") => {
            let mut m = baseline(false);
            deliver(&mut m, &file, &v7);
            let r = m.boot(10, |s| {
                assert_eq!(s.driver_entry(ENTRY), 0);
                s.process_create(&ProcessCreate::new("\\??\\C:\\Windows\\System32\\services.exe", "services.exe", 600));
                s.run_timers_for(5);
                s.shutdown();
            });
            r.assert_clean();
            m
        }
        // The kit flips one byte of the content's copy (past the header) for the junk.
        Some("deliver-with-junk") => {
            let mut m = baseline(false);
            let junk_name = case["junk"].as_str().ok_or_else(|| format!("{cname}: no junk name"))?;
            let mut junk = v7.clone();
            let mid = junk.len() / 2;
            junk[mid] ^= 0x5A;
            deliver(&mut m, junk_name, &junk);
            deliver(&mut m, &file, &v7);
            m
        }
        Some("poison-many") => {
            if !cfg!(feature = "test-hooks") {
                return Ok(false);
            }
            let mut m = baseline(true);
            for f in case["content"].as_array().ok_or_else(|| format!("{cname}: content is not a list"))? {
                let f = f.as_str().ok_or_else(|| format!("{cname}: content names are strings"))?;
                let version = f.rsplit('-').next().and_then(|v| v.strip_suffix(".chan")).and_then(|v| v.parse().ok());
                let version = version.ok_or_else(|| format!("{cname}: {f} is not C-<channel>-<version>.chan"))?;
                deliver(&mut m, f, &kit(version, Kit::Poison));
            }
            m
        }
        other => return Err(format!("{cname}: apply {other:?} is not implemented by the harness (tests/matrix.rs)")),
    };
    // Boot until the machine is steady (a bugcheck reboots it); the expect is the
    // state at the end of the last boot, past its health window.
    let mut clean_in_a_row = 0;
    let mut boots = 0;
    let end = loop {
        boots += 1;
        if boots > 4 * (max_crashes + 2) {
            return Err(format!("{cname}: not steady after {boots} boots ({crashes} bugchecks)"));
        }
        let last = clean_in_a_row + 1 == steady_after;
        match boot(&mut m, last.then_some((&expect, cname))) {
            BootEnd::Bugcheck { .. } => {
                crashes += 1;
                clean_in_a_row = 0;
            }
            BootEnd::Completed if !last => clean_in_a_row += 1,
            end => break end,
        }
    };
    if crashes > max_crashes {
        return Err(format!("{cname}: {crashes} bugchecks, at most {max_crashes} allowed"));
    }
    if max_crashes > 0 && crashes == 0 {
        return Err(format!("{cname}: the poison never crashed the machine"));
    }
    match end {
        BootEnd::Completed => Ok(true),
        end => Err(format!("{cname}: {end:?}")),
    }
}

#[test]
fn every_matrix_case_ends_in_its_expect() {
    let matrix = json("scripts/bootloop-matrix.json");
    assert_eq!(matrix["channel"].as_u64(), Some(u64::from(CHANNEL)));
    let cases = matrix["cases"].as_array().expect("cases");
    let (mut ran, mut skipped, mut failures) = (0, Vec::new(), Vec::new());
    for case in cases {
        match run_case(case) {
            Ok(true) => ran += 1,
            Ok(false) => skipped.push(case["name"].as_str().unwrap_or("?")),
            Err(e) => failures.push(e),
        }
    }
    println!("boot-loop matrix through the driver: {ran} cases passed, skipped {skipped:?} (test-hooks build, or root keys, only)");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(ran + skipped.len(), cases.len());
    let needs_hooks = cases.iter().filter(|c| c["apply"].as_str().is_some_and(|a| a.starts_with("poison"))).count();
    let needs_roots = cases.iter().filter(|c| c["requires"].as_str() == Some("root-keys")).count();
    assert_eq!(skipped.len(), needs_roots + if cfg!(feature = "test-hooks") { 0 } else { needs_hooks }, "skipped {skipped:?}");
}

#[test]
fn every_bad_example_is_rejected_by_the_driver_with_its_rule_and_offset() {
    let expected = json("examples/bad/EXPECTED.json");
    let expected = expected.as_object().expect("EXPECTED.json is an object");
    assert!(expected.len() >= 10);
    for (file, want) in expected {
        let bytes = std::fs::read(format!("{ROOT}/examples/bad/{file}")).expect("example file");
        // The examples carry their case in the name; the loader reads channel files by theirs.
        let delivered = file.rsplit('.').nth(1).map_or_else(String::new, |n| format!("{n}.chan"));
        let mut m = machine();
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{delivered}"), &bytes);
        let rule = want["rule"].as_str().expect("rule").to_string();
        let offset = want["offset"].as_u64().expect("offset");
        let what = file.clone();
        let r = m.boot(10, move |s| {
            assert_eq!(s.driver_entry(ENTRY), 0);
            let st = status(s);
            let c = st.channels().iter().find(|c| c.channel_id == CHANNEL).copied().unwrap_or_else(|| panic!("{what}: channel 291 absent: {st:?}"));
            assert_eq!(c.source, Source::None, "{what}: {c:?}");
            let rej = c.last_rejection.unwrap_or_else(|| panic!("{what}: no rejection recorded: {c:?}"));
            let got = Rule::from_id(rej.rule).map(Rule::code);
            assert_eq!((got, rej.offset), (Some(rule.as_str()), offset), "{what}: {c:?}");
            s.unload();
        });
        r.assert_clean();
    }
}
