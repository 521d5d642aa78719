//! Under `--json` every error is one `{"error": {"kind", "message", "file"}}`
//! object on stdout, with the exit code of the plain output (issue 14 item 5),
//! and `inspect` prints criteria in spec form. Runs the built binary.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Exit code, stdout, stderr.
fn changuard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_changuard"))
        .args(args)
        .output()
        .expect("run changuard");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The one JSON object on stdout, and its `error`.
fn json_error(stdout: &str) -> Value {
    let mut lines = stdout.lines();
    let v: Value = serde_json::from_str(lines.next().expect("a line")).expect("JSON");
    assert_eq!(lines.next(), None, "one object only: {stdout}");
    let e = v.get("error").cloned().expect("an error object");
    for k in ["kind", "message", "file"] {
        assert!(e.get(k).is_some(), "missing {k}: {v}");
    }
    e
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn inspect_json_unreadable_file_is_an_io_error() {
    let missing = root().join("content/C-00000291-99999999.chan");
    let (code, out, err) = changuard(&["inspect", &p(&missing), "--json"]);
    assert_eq!(code, 2, "{err}");
    let e = json_error(&out);
    assert_eq!(e["kind"], "io");
    assert_eq!(e["file"], p(&missing));
    assert!(err.is_empty(), "nothing on stderr under --json: {err}");
    // Without --json: the text error, on stderr, same code.
    let (code, out, err) = changuard(&["inspect", &p(&missing)]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn inspect_json_bad_key_file_is_a_key_error() {
    let file = root().join("content/C-00000300-00000001.chan");
    let secret = root().join("keys/TEST-ONLY-changuard.key");
    let (code, out, _) = changuard(&["inspect", &p(&file), "--pubkey", &p(&secret), "--json"]);
    assert_eq!(code, 2);
    let e = json_error(&out);
    assert_eq!(e["kind"], "key");
    assert_eq!(e["file"], p(&secret));
    assert!(
        e["message"].as_str().unwrap().contains("SECRET"),
        "{}",
        e["message"]
    );
}

#[test]
fn inspect_json_rejection_is_a_rejected_error_with_the_rule() {
    let file = root().join("bad/channel-291-replay.C-00000291-00000002.chan");
    let public = root().join("keys/TEST-ONLY-changuard.pub");
    let (code, out, _) = changuard(&["inspect", &p(&file), "--pubkey", &p(&public), "--json"]);
    assert_eq!(code, 1);
    let e = json_error(&out);
    assert_eq!(e["kind"], "rejected");
    assert_eq!(e["file"], p(&file));
    assert_eq!(e["rule"], "criteria-count-mismatch");
    assert_eq!(e["offset"], 134);
    assert!(e.get("valid").is_none());
}

#[test]
fn inspect_prints_criteria_as_the_spec_writes_them() {
    let file = root().join("content/C-00000300-00000001.chan");
    let public = root().join("keys/TEST-ONLY-changuard.pub");
    let (code, out, err) = changuard(&["inspect", &p(&file), "--pubkey", &p(&public)]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(r"image_path                 suffix '\certutil.exe' (case-insensitive)"),
        "{out}"
    );
    assert!(
        out.contains("command_line               regex '(?i)-urlcache.*https?://'"),
        "{out}"
    );
    assert!(
        !out.contains("\"kind\""),
        "no raw JSON in the text output: {out}"
    );
    // --json is unchanged: structured criteria.
    let (code, out, _) = changuard(&["inspect", &p(&file), "--pubkey", &p(&public), "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["instances"][0]["criteria"][0]["kind"], "suffix");
}

/// `inspect` says how each regex is anchored. The pipe example's Cobalt
/// Strike alternation is anchored on its literal set; a family of such
/// regexes is a group anchored on the union of the sets.
#[test]
fn inspect_counts_regex_anchors() {
    let public = root().join("keys/TEST-ONLY-changuard.pub");
    let secret = root().join("keys/TEST-ONLY-changuard.key");
    let anchors = |file: &std::path::Path| {
        let (code, out, err) = changuard(&["inspect", &p(file), "--pubkey", &p(&public), "--json"]);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        let a = &v["regex_anchors"];
        let n = |k: &str| a[k].as_u64().unwrap();
        let (code, text, _) = changuard(&["inspect", &p(file), "--pubkey", &p(&public)]);
        assert_eq!(code, 0);
        let line = format!(
            "regex anchors: {} with a required literal, {} with a literal set, {} with neither",
            n("literal"),
            n("literal_set"),
            n("none")
        );
        assert!(text.contains(&line), "{text}");
        assert_eq!(
            n("literal") + n("literal_set") + n("none"),
            v["dfas"].as_u64().unwrap()
        );
        (n("literal"), n("literal_set"), n("none"))
    };
    assert_eq!(
        anchors(&root().join("content/C-00000291-00000001.chan")),
        (1, 1, 0)
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("family.toml");
    let mut src = String::from("channel = 292\nversion = 1\n");
    for (id, n) in [(1, 2), (2, 3), (3, 4)] {
        src.push_str(&format!(
            "[[instance]]\nid = {id}\ntemplate = \"NamedPipeCreate\"\naction = \"report\"\n\
             [instance.criteria]\npipe_name = {{ regex = '\\\\(postex|msagent)_[0-9a-f]{{{n}}}$' }}\n"
        ));
    }
    std::fs::write(&spec, src).unwrap();
    let out = dir.path().join("C-00000292-00000001.chan");
    let (code, _, err) = changuard(&["build", &p(&spec), "--key", &p(&secret), "-o", &p(&out)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(anchors(&out), (0, 3, 0));
}

#[cfg(not(windows))]
#[test]
fn driver_json_errors_on_a_host_without_the_driver() {
    let (code, out, err) = changuard(&["driver", "status", "--json"]);
    assert_eq!(code, 2);
    assert!(err.is_empty(), "{err}");
    let e = json_error(&out);
    assert_eq!(e["kind"], "unsupported-platform");
    assert_eq!(e["file"], Value::Null);

    // A mistake in the arguments shows on any host, before "needs Windows".
    let (code, out, _) = changuard(&[
        "driver",
        "submit",
        "--template",
        "NamedPipeCreate",
        "--field",
        "pipe_nme=x",
        "--json",
    ]);
    assert_eq!(code, 2);
    let e = json_error(&out);
    assert_eq!(e["kind"], "usage");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("did you mean \"pipe_name\""),
        "{e}"
    );
    let (code, _, err) = changuard(&[
        "driver",
        "submit",
        "--template",
        "2",
        "--field",
        "pipe_nme=x",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean \"pipe_name\""), "{err}");

    // Named and positional forms that are right get as far as the device.
    for args in [
        &[
            "driver",
            "submit",
            "--template",
            "2",
            "--field",
            "creating_pid=4",
        ][..],
        &["driver", "submit", "--template", "2", "s:\\pipe", "i:4"][..],
    ] {
        let (code, _, err) = changuard(args);
        assert_eq!(code, 2);
        assert!(err.contains("needs Windows"), "{args:?}: {err}");
    }
    // Both forms at once: refused by the parser.
    let (code, _, err) = changuard(&[
        "driver",
        "submit",
        "--template",
        "2",
        "--field",
        "creating_pid=4",
        "s:x",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used with"), "{err}");
}
