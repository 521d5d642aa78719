//! `changuard test` on the example test folder (`examples/tests/`), and the
//! help and argument handling of `test` and `replay`, through the binary.

use changuard_cli::spec;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn changuard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_changuard"))
        .args(args)
        .output()
        .expect("run changuard")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn example_tests_pass() {
    let dir = examples().join("tests");
    let o = changuard(&["test", path(&dir)]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("built 2 spec(s): pipes.toml (channel 291 v1, 4 instance(s)), process.toml (channel 300 v1, 6 instance(s))"),
        "{out}"
    );
    assert!(
        out.contains(
            "pipes.jsonl: ok   12 event(s): 12 expectation(s) met, 0 not met, 0 without expect"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "process.jsonl: ok   14 event(s): 14 expectation(s) met, 0 not met, 0 without expect"
        ),
        "{out}"
    );
    assert!(
        out.contains("ok: 2 events file(s), 26 event(s), 26 expectation(s) met, 0 not met"),
        "{out}"
    );

    let o = changuard(&["test", "--json", path(&dir)]);
    assert_eq!(o.status.code(), Some(0));
    let objs: Vec<Json> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 3);
    assert_eq!(objs[0]["file"], "pipes.jsonl");
    assert_eq!(objs[1]["file"], "process.jsonl");
    assert_eq!(objs[1]["truncated_events"], 1);
    assert_eq!(objs[2]["summary"]["expectations"]["met"], 26);
    assert_eq!(objs[2]["summary"]["exit_code"], 0);
    // Nothing was written into the folder.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.iter().all(|n| !n.ends_with(".chan")), "{names:?}");
}

#[test]
fn a_wrong_expectation_fails_with_a_diff() {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(examples().join("tests")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, tmp.path().join(p.file_name().unwrap())).unwrap();
    }
    let events = tmp.path().join("process.jsonl");
    let t = std::fs::read_to_string(&events).unwrap();
    let wrong = r#""label": "certutil-download", "template": "ProcessCreate""#;
    assert!(t.contains(wrong));
    // certutil-download expects 300/1; say 300/2 instead.
    let lines: Vec<String> = t
        .lines()
        .map(|l| {
            if l.contains(wrong) {
                l.replace(r#""expect": ["300/1"]"#, r#""expect": ["300/2"]"#)
            } else {
                l.to_string()
            }
        })
        .collect();
    assert_ne!(lines.join("\n"), t.trim_end());
    std::fs::write(&events, lines.join("\n")).unwrap();

    let o = changuard(&["test", path(tmp.path())]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let diff = "process.jsonl line 2: ProcessCreate (certutil-download): 300/1 report [EXPECTATION NOT MET]\n  expected: 300/2\n  got:      300/1 report\n  - 300/2                        expected, did not match\n  + 300/1 report                 matched, not expected\n";
    assert!(out.contains(diff), "{out}");
    assert!(
        out.contains("process.jsonl: FAIL 14 event(s): 13 expectation(s) met, 1 not met"),
        "{out}"
    );
    assert!(out.contains("pipes.jsonl: ok "), "{out}");
    assert!(
        out.contains("FAILED: 2 events file(s), 26 event(s), 25 expectation(s) met, 1 not met"),
        "{out}"
    );
}

#[test]
fn example_test_specs_are_the_example_content() {
    for name in ["process.toml", "pipes.toml"] {
        let read = |p: PathBuf| spec::parse(&std::fs::read_to_string(p).unwrap()).unwrap();
        assert_eq!(
            read(examples().join("tests").join(name)),
            read(examples().join("content").join(name)),
            "examples/tests/{name} differs from examples/content/{name}"
        );
    }
}

#[test]
fn help_states_the_exit_codes_and_the_events_format() {
    for cmd in ["replay", "test"] {
        let o = changuard(&[cmd, "--help"]);
        let out = text(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{out}");
        for needle in [
            "EXIT CODES:",
            "  0  every event ran and every expectation was met",
            "  1  content rejected, an expectation not met",
            "  2  usage or I/O error",
            "\"expect\": [\"300/1\"]",
            "--no-truncate",
        ] {
            assert!(
                out.contains(needle),
                "{cmd} --help lacks {needle:?}:\n{out}"
            );
        }
    }
}

#[test]
fn replay_takes_several_pubkeys() {
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other.pub");
    std::fs::write(&other, "22".repeat(32)).unwrap();
    let pubkey = examples().join("keys/TEST-ONLY-changuard.pub");
    let content = examples().join("content/C-00000300-00000001.chan");
    let events = examples().join("tests/process.jsonl");
    let o = changuard(&[
        "replay",
        "--content",
        path(&content),
        "--pubkey",
        path(&other),
        "--pubkey",
        path(&pubkey),
        "--events",
        path(&events),
    ]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    assert!(out.contains("expectations: 14 met, 0 not met"), "{out}");
    // The trusted key left out: rejected, and no per-event lines.
    let o = changuard(&[
        "replay",
        "--content",
        path(&content),
        "--pubkey",
        path(&other),
        "--events",
        path(&events),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("rejected: "));
    assert!(!text(&o.stdout).contains("no match"));
    // No --pubkey at all: usage error.
    let o = changuard(&[
        "replay",
        "--content",
        path(&content),
        "--events",
        path(&events),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// A spec the validator would reject is reported as `build` reports it, at its
/// TOML line in spec terms (here a duplicate instance id), and no events run.
#[test]
fn spec_problems_are_reported_at_the_spec_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dup.toml"),
        "channel = 700\nversion = 1\n\n[[instance]]\nid = 1\ntemplate = \"ProcessCreate\"\n[instance.criteria]\nimage_path = { suffix = \"a.exe\" }\n\n[[instance]]\nid = 1\ntemplate = \"ProcessCreate\"\n[instance.criteria]\nimage_path = { suffix = \"b.exe\" }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("e.jsonl"),
        "{\"template\": \"ProcessCreate\", \"fields\": {}, \"expect\": []}\n",
    )
    .unwrap();
    let o = changuard(&["test", path(dir.path())]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains("dup.toml:11:"), "{err}");
    assert!(err.contains("instance ids must be unique"), "{err}");
    assert!(err.contains("no events file run"), "{err}");
}

/// AND and UNLESS rows decide the match, and the rule's metadata comes back
/// with it (text and `--json`), read from the built channel file.
#[test]
fn rows_decide_and_matches_name_their_rule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("encoded.toml"),
        r#"channel = 510
version = 1

[[instance]]
id = 1
template = "ProcessCreate"
title = "Encoded and hidden PowerShell"
rule_id = "8f3d0c5e-7f5b-4a7a-9f5e-2b1e6f0a9c11"
author = "Jane Doe"
reference = "https://example.org/rule"
[instance.criteria]
command_line = { contains = ' -enc', case_insensitive = true }
[[instance.also]]
command_line = { contains = 'hidden', case_insensitive = true }
[[instance.unless]]
user_sid = { equals = 'S-1-5-18' }
"#,
    )
    .unwrap();
    let ev = |cmd: &str, sid: &str, expect: &str| {
        format!(
            r#"{{"label": "{cmd}/{sid}", "template": "ProcessCreate", "fields": {{"command_line": "{cmd}", "user_sid": "{sid}"}}, "expect": [{expect}]}}"#
        )
    };
    let events = [
        ev("powershell -w hidden -enc AA", "S-1-5-21-1", r#""510/1""#),
        ev("powershell -enc AA", "S-1-5-21-1", ""),
        ev("powershell -w hidden -enc AA", "S-1-5-18", ""),
    ]
    .join("\n");
    std::fs::write(dir.path().join("encoded.jsonl"), events).unwrap();
    let o = changuard(&["test", path(dir.path())]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    assert!(out.contains("3 expectation(s) met, 0 not met"), "{out}");

    let key = examples().join("keys/TEST-ONLY-changuard");
    let chan = dir.path().join("C-00000510-00000001.chan");
    let spec = dir.path().join("encoded.toml");
    let o = changuard(&[
        "build",
        path(&spec),
        "--key",
        &format!("{}.key", path(&key)),
        "-o",
        path(&chan),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let events = dir.path().join("encoded.jsonl");
    let pubkey = format!("{}.pub", path(&key));
    let replay = |json: bool| {
        let mut a = vec!["replay", "--content", path(&chan), "--pubkey", &pubkey];
        a.extend(["--events", path(&events)]);
        if json {
            a.push("--json");
        }
        text(&changuard(&a).stdout)
    };
    let out = replay(false);
    assert!(
        out.contains("  510/1 report: Encoded and hidden PowerShell (8f3d0c5e-7f5b-4a7a-9f5e-2b1e6f0a9c11) by Jane Doe, https://example.org/rule\n"),
        "{out}"
    );
    let hit = replay(true)
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap())
        .find(|j| j["line"] == 1)
        .expect("line 1");
    assert_eq!(hit["matches"].as_array().map(Vec::len), Some(1), "{hit}");
    assert_eq!(
        hit["matches"][0]["rule"],
        serde_json::json!({
            "title": "Encoded and hidden PowerShell",
            "rule_id": "8f3d0c5e-7f5b-4a7a-9f5e-2b1e6f0a9c11",
            "author": "Jane Doe",
            "reference": "https://example.org/rule"
        })
    );
}
