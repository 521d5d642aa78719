//! `build` reports what it refuses in spec terms (instance id, field name,
//! decimal values, the TOML line), never as a `REJECTED` file it did not
//! write; regex errors carry regex-syntax's message and position; `validate`
//! says what a file that is not a channel file looks like. Through the binary.

use changuard_cli::{keys, spec};
use changuard_format::build;
use changuard_format::{AlignedBytes, Rule, Trust};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn test_key() -> PathBuf {
    examples().join("keys/TEST-ONLY-changuard.key")
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

/// The report with miette's frame and line wrapping taken out, so a message
/// can be matched whatever the terminal width.
fn flat(s: &str) -> String {
    s.replace(['│', '×'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Build `src` (written as `name` in a fresh directory) with `key`; the
/// directory is returned so the test can check nothing was written.
fn build_spec(name: &str, src: &str, key: &Path) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join(name);
    std::fs::write(&spec, src).unwrap();
    let o = changuard(&["build", path(&spec), "--key", path(key)]);
    (dir, o)
}

fn assert_nothing_written(dir: &Path, out: &str, err: &str) {
    let chans: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".chan"))
        .collect();
    assert!(chans.is_empty(), "wrote {chans:?}\n{out}{err}");
    assert!(
        !out.contains("REJECTED") && !err.contains("REJECTED"),
        "{out}{err}"
    );
}

const DUP: &str = r#"channel = 402
version = 1

[[instance]]
id = 1
template = "ProcessCreate"
[instance.criteria]
image_path = { suffix = '\cmd.exe' }

[[instance]]
id = 1
template = "ProcessCreate"
[instance.criteria]
image_path = { suffix = '\powershell.exe' }
"#;

#[test]
fn duplicate_id_is_a_spec_error_at_the_second_id() {
    let (dir, o) = build_spec("dupid.toml", DUP, &test_key());
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let f = flat(&err);
    assert!(
        f.contains("instance ids must be unique and increasing: id 1 is used twice"),
        "{err}"
    );
    assert!(f.contains("[instance-id-order (rule 20)]"), "{err}");
    // Line 11, column 6: the second `id = 1`'s value.
    assert!(err.contains("dupid.toml:11:6]"), "{err}");
    assert!(
        f.contains("dupid.toml: not built: the validator would reject it (instance-id-order); nothing was written"),
        "{err}"
    );
    assert!(!f.contains("expected 0x1"), "{err}");
    assert_nothing_written(dir.path(), &out, &err);
}

#[test]
fn decreasing_ids_name_both_ids_in_decimal() {
    let src = DUP.replacen("id = 1", "id = 12", 1);
    let (dir, o) = build_spec("order.toml", &src, &test_key());
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(flat(&err).contains("id 1 comes after id 12"), "{err}");
    assert_nothing_written(dir.path(), &out, &err);
}

const PIPE: &str = r#"channel = 402
version = 1

[[instance]]
id = 7
template = "NamedPipeCreate"
[instance.criteria]
pipe_name = { contains = "msagent_" }
creating_pid = { range = [9000, 8192] }
desired_access = { mask = 3, value = 5 }
"#;

#[test]
fn int_operands_are_named_by_field_with_decimal_values() {
    let (dir, o) = build_spec("pipe.toml", PIPE, &test_key());
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let f = flat(&err);
    assert!(
        f.contains("instance id 7, field `creating_pid`: range [9000, 8192] is empty: its low end 9000 is above its high end 8192 [bad-int-operands (rule 24)]"),
        "{err}"
    );
    assert!(
        f.contains("instance id 7, field `desired_access`: value 5 has bits outside mask 3 (0x4)"),
        "{err}"
    );
    assert!(err.contains("pipe.toml:9:16]"), "{err}");
    assert!(
        f.contains("not built: the validator would reject it (bad-int-operands); nothing"),
        "{err}"
    );
    assert!(!f.contains("0x2328") && !f.contains("offset"), "{err}");
    assert_nothing_written(dir.path(), &out, &err);
}

#[test]
fn test_crash_needs_a_test_key_said_at_the_action() {
    let dir = tempfile::tempdir().unwrap();
    let k = changuard(&["keygen", "--out", path(dir.path()), "--name", "prod"]);
    assert_eq!(k.status.code(), Some(0), "{}", text(&k.stderr));
    let src = PIPE
        .replace("[9000, 8192]", "[4, 8192]")
        .replace("value = 5", "value = 1")
        .replace(
            "template = \"NamedPipeCreate\"",
            "template = \"NamedPipeCreate\"\naction = \"test-crash\"",
        );
    let (spec_dir, o) = build_spec("crash.toml", &src, &dir.path().join("prod.key"));
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        flat(&err).contains("instance id 7: action `test-crash` needs a key marked test-only"),
        "{err}"
    );
    assert!(
        err.contains("would reject it (test-action-needs-test-key); nothing was written"),
        "{err}"
    );
    assert!(err.contains("crash.toml:7:10]"), "{err}");
    assert_nothing_written(spec_dir.path(), &out, &err);
}

#[test]
fn regex_syntax_error_has_message_and_position() {
    let src = "channel = 402\nversion = 1\n\n[[instance]]\nid = 1\ntemplate = \"ProcessCreate\"\n[instance.criteria]\ncommand_line = { regex = 'certutil(\\.exe -urlcache' }\n";
    let (dir, o) = build_spec("re.toml", src, &test_key());
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    let f = flat(&err);
    assert!(
        f.contains("does not compile: unclosed group (at column 9 of the pattern)"),
        "{err}"
    );
    // Line 8, column 35: the `(` inside the TOML string.
    assert!(err.contains("re.toml:8:35]"), "{err}");
    assert!(!f.contains("error building NFA"), "{err}");
    assert_nothing_written(dir.path(), &out, &err);

    // With escapes in a basic string the whole string is shown instead.
    let src = src.replace("'certutil(\\.exe -urlcache'", "\"a\\\\d(\"");
    let (_dir, o) = build_spec("re2.toml", &src, &test_key());
    let err = text(&o.stderr);
    assert!(flat(&err).contains("unclosed group (at column 4"), "{err}");
    assert!(err.contains("re2.toml:8:26]"), "{err}");
}

#[test]
fn oversized_regex_says_dfa_too_large() {
    let src = "channel = 402\nversion = 1\n\n[[instance]]\nid = 3\ntemplate = \"ProcessCreate\"\n[instance.criteria]\ncommand_line = { regex = '\\w{500}[a-z]{300}\\w{500}' }\n";
    let (dir, o) = build_spec("big.toml", src, &test_key());
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    let f = flat(&err);
    assert!(f.contains("instance id 3, field `command_line`"), "{err}");
    assert!(f.contains("DFA too large (limit 1048576 bytes)"), "{err}");
    assert!(f.contains("big.toml: not built"), "{err}");
    assert!(!f.contains("error building NFA"), "{err}");
    assert_nothing_written(dir.path(), &out, &err);
}

#[test]
fn cost_ceiling_names_the_instance_id_that_crossed_it() {
    let mut src = String::from("channel = 402\nversion = 1\n");
    for k in 0..2200 {
        src.push_str(&format!(
            "\n[[instance]]\nid = {}\ntemplate = \"ProcessCreate\"\n[instance.criteria]\ncommand_line = {{ contains = \"needle{k}\" }}\n",
            100 + k
        ));
    }
    // Where the validator says the bound crossed, by position.
    let key = keys::read_secret(&test_key()).unwrap();
    let s = spec::parse(&src).unwrap();
    let bytes = build::build(&s, &key.key).unwrap();
    let trusted = [key.trusted()];
    let r = changuard_format::validate(
        AlignedBytes::from_slice(&bytes),
        &Trust::new(&trusted),
        s.channel,
    )
    .expect_err("over the ceiling");
    assert_eq!(r.rule, Rule::CostCeiling);
    let id = s.instances[r.instance.unwrap() as usize].id;

    let (dir, o) = build_spec("cost.toml", &src, &test_key());
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let f = flat(&err);
    assert!(
        f.contains(&format!(
            "instance id {id}: one event can cost up to {} fuel, over the ceiling of {}",
            r.found, r.expected
        )),
        "{err}"
    );
    assert!(f.contains("[cost-ceiling (rule 38)]"), "{err}");
    assert!(
        f.contains(
            "cost.toml: not built: the validator rejects it (cost-ceiling); nothing was written"
        ),
        "{err}"
    );
    assert_nothing_written(dir.path(), &out, &err);
}

#[test]
fn allow_invalid_still_writes_and_shows_the_file_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("dupid.toml");
    std::fs::write(&spec, DUP).unwrap();
    let o = changuard(&[
        "build",
        path(&spec),
        "--key",
        path(&test_key()),
        "--allow-invalid",
    ]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(flat(&err).contains("instance ids must be unique"), "{err}");
    assert!(
        out.contains("REJECTED") && out.contains("instance-id-order"),
        "{out}"
    );
    assert!(
        dir.path().join("C-00000402-00000001.chan").exists(),
        "{out}{err}"
    );
}

#[test]
fn validate_hints_at_what_a_non_channel_file_is() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("lolbins.chan");
    std::fs::write(&spec, DUP).unwrap();
    let readme = dir.path().join("README.chan");
    std::fs::write(
        &readme,
        "Detection content\n=================\n\nThis folder holds the channel files.\n".repeat(4),
    )
    .unwrap();
    let bin = dir.path().join("blob.chan");
    std::fs::write(&bin, [0xffu8; 200]).unwrap();
    let pubkey = examples().join("keys/TEST-ONLY-changuard.pub");
    let o = changuard(&[
        "validate",
        path(&spec),
        path(&readme),
        path(&bin),
        "--pubkey",
        path(&pubkey),
    ]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("  hint:   this looks like a content spec (TOML), not a channel file: build it with `changuard build"),
        "{out}"
    );
    assert!(
        out.contains("  hint:   this is a text file, not a channel file"),
        "{out}"
    );
    assert!(
        out.contains(
            "  hint:   channel files start with the magic `CHGDCHAN`; this file starts with ff ff"
        ),
        "{out}"
    );

    let o = changuard(&["validate", path(&spec), "--json", "--pubkey", path(&pubkey)]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        v["hint"]
            .as_str()
            .unwrap_or("")
            .contains("looks like a content spec"),
        "{v}"
    );
}
