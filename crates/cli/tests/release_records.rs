//! `changuard keyring|release|halt build|inspect` and `release placement`,
//! run as the built binary: what they write is what the validators accept,
//! what they refuse is refused with the validator's rule, and `--json`
//! round-trips the values given on the command line and in the spec.

use changuard_release::{Halt, Keyring, Release, Roots, ring_point, trust_of};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Exit code, stdout, stderr.
fn changuard(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_changuard"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run changuard");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = changuard(dir, args);
    assert_eq!(code, 0, "changuard {args:?}\nstdout: {out}\nstderr: {err}");
    out
}

/// The one JSON object on stdout.
fn one_json(stdout: &str) -> Value {
    let mut lines = stdout.lines();
    let v: Value = serde_json::from_str(lines.next().expect("a line")).expect("JSON");
    assert_eq!(lines.next(), None, "one object only: {stdout}");
    v
}

const ISSUED: u64 = 1_796_083_200; // 2026-12-01T00:00:00Z
const EXPIRES: u64 = 1_803_859_200; // 2027-03-01T00:00:00Z
const NOT_BEFORE: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const NOT_AFTER: u64 = 1_893_456_000; // 2030-01-01T00:00:00Z
const AT: &str = "2026-12-02T07:00:00Z";

/// A scratch directory with three root keys, two content keys and a
/// stranger's key, and a keyring spec listing `content` for channel 291 and
/// `shared` for every channel up to version 6.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        for name in ["root1", "root2", "root3", "content", "shared", "stranger"] {
            ok(dir.path(), &["keygen", "--out", "keys", "--name", name]);
        }
        let spec = format!(
            r#"version = 4
issued = "2026-12-01T00:00:00Z"
expires = 2027-03-01T00:00:00Z

[[key]]
public = "keys/content.pub"
channel = 291
not_before = "2026-01-01T00:00:00Z"
not_after = {NOT_AFTER}

[[key]]
public = "keys/shared.pub"
channel = "any"
not_before = {NOT_BEFORE}
not_after = "2030-01-01T00:00:00Z"
max_version = 6
test_only = true
"#
        );
        std::fs::write(dir.path().join("keyring.toml"), spec).unwrap();
        Fixture { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        changuard(self.path(), args)
    }
    fn ok(&self, args: &[&str]) -> String {
        ok(self.path(), args)
    }
    /// The keyring signed by roots 1 and 3, for a driver that trusts all three.
    fn keyring(&self) {
        self.ok(&[
            "keyring",
            "build",
            "keyring.toml",
            "--root-key",
            "keys/root1.key",
            "--root-key",
            "keys/root3.key",
            "--root",
            "keys/root1.pub",
            "--root",
            "keys/root2.pub",
            "--root",
            "keys/root3.pub",
            "--threshold",
            "2",
        ]);
    }
    fn roots_keys(&self) -> Vec<changuard_format::TrustedKey> {
        ["root1", "root2", "root3"]
            .iter()
            .map(|n| {
                changuard_cli::keys::read_public(&self.file(&format!("keys/{n}.pub"))).unwrap()
            })
            .collect()
    }
}

const ROOTS: [&str; 8] = [
    "--root",
    "keys/root1.pub",
    "--root",
    "keys/root2.pub",
    "--root",
    "keys/root3.pub",
    "--threshold",
    "2",
];

fn with<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    head.iter().chain(tail).copied().collect()
}

#[test]
fn a_keyring_signed_by_one_of_three_roots_with_threshold_two_is_refused() {
    let f = Fixture::new();
    // build refuses to write it.
    let (code, out, err) = f.run(&[
        "keyring",
        "build",
        "keyring.toml",
        "--root-key",
        "keys/root2.key",
        "--root",
        "keys/root1.pub",
        "--root",
        "keys/root2.pub",
        "--root",
        "keys/root3.pub",
        "--threshold",
        "2",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("below-threshold") && err.contains("expected 2, found 1"),
        "{err}"
    );
    assert!(err.contains("not written"), "{err}");
    assert!(!f.file("keyring.ckr").exists());

    // Signed by one root for a one-root driver, it is written; a driver that
    // trusts three and needs two refuses it.
    f.ok(&[
        "keyring",
        "build",
        "keyring.toml",
        "--root-key",
        "keys/root2.key",
        "-o",
        "one.ckr",
    ]);
    let (code, out, _) = f.run(&with(&["keyring", "inspect", "one.ckr", "--json"], &ROOTS));
    assert_eq!(code, 1);
    let e = one_json(&out)["error"].clone();
    assert_eq!(e["kind"], "rejected");
    assert_eq!(e["record"], "keyring");
    assert_eq!(e["rule"], "below-threshold");
    assert_eq!(
        (e["expected"].as_u64(), e["found"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(e["file"], "one.ckr");
    assert!(e["offset"].as_u64().unwrap() > 0);
    // The text form names the file, the rule and the offset.
    let (code, out, _) = f.run(&with(&["keyring", "inspect", "one.ckr"], &ROOTS));
    assert_eq!(code, 1);
    assert!(out.starts_with("REJECTED one.ckr (keyring)"), "{out}");
    assert!(
        out.contains("rule:   below-threshold (record rule 13)"),
        "{out}"
    );
    assert!(out.contains("expected 2, found 1"), "{out}");

    // A threshold no root set can meet is a usage error.
    let (code, out, _) = f.run(&[
        "keyring",
        "inspect",
        "one.ckr",
        "--root",
        "keys/root1.pub",
        "--threshold",
        "2",
        "--json",
    ]);
    assert_eq!(code, 2);
    assert_eq!(one_json(&out)["error"]["kind"], "usage");
}

#[test]
fn keyring_inspect_json_round_trips_the_spec() {
    let f = Fixture::new();
    f.keyring();
    let bytes = std::fs::read(f.file("keyring.ckr")).unwrap();
    let roots = f.roots_keys();
    let k = Keyring::validate(&bytes[..], &Roots::new(&roots, 2).unwrap()).unwrap();
    assert_eq!(
        (k.version(), k.issued(), k.expires(), k.len()),
        (4, ISSUED, EXPIRES, 2)
    );

    let out = f.ok(&with(
        &["keyring", "inspect", "keyring.ckr", "--json", "--at", AT],
        &ROOTS,
    ));
    let v = one_json(&out);
    assert_eq!(v["valid"], true);
    assert_eq!(v["version"], 4);
    assert_eq!(v["issued"], ISSUED);
    assert_eq!(v["issued_utc"], "2026-12-01T00:00:00Z");
    assert_eq!(v["expires"], EXPIRES);
    assert_eq!(v["expires_utc"], "2027-03-01T00:00:00Z");
    assert_eq!(v["stale"], false);
    assert_eq!(v["threshold"], 2);
    assert_eq!(v["signed_by"].as_array().unwrap().len(), 2);
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let content = changuard_cli::keys::read_public(&f.file("keys/content.pub")).unwrap();
    let shared = changuard_cli::keys::read_public(&f.file("keys/shared.pub")).unwrap();
    let by_id = |id: changuard_format::KeyId| {
        keys.iter()
            .find(|k| k["key_id"] == changuard_cli::keys::key_id_hex(id))
            .unwrap_or_else(|| panic!("{id:?} in {v}"))
            .clone()
    };
    let c = by_id(content.id);
    assert_eq!(c["channel"], 291);
    assert_eq!(c["public"], hex::encode(content.public));
    assert_eq!(c["not_before"], NOT_BEFORE);
    assert_eq!(c["not_after"], NOT_AFTER);
    assert_eq!(c["max_version"], Value::Null);
    assert_eq!(c["test_only"], false);
    assert_eq!(c["in_window"], true);
    let s = by_id(shared.id);
    assert_eq!(s["channel"], "any");
    assert_eq!(s["max_version"], 6);
    assert_eq!(s["test_only"], true);
    assert_eq!(s["not_after_utc"], "2030-01-01T00:00:00Z");

    // Past its expiry the keyring is still valid, and stale.
    let out = f.ok(&with(
        &[
            "keyring",
            "inspect",
            "keyring.ckr",
            "--json",
            "--at",
            "2027-03-01T00:00:00Z",
        ],
        &ROOTS,
    ));
    assert_eq!(one_json(&out)["stale"], true);
    let out = f.ok(&with(
        &["keyring", "inspect", "keyring.ckr", "--at", AT],
        &ROOTS,
    ));
    assert!(out.contains("channel     any: every channel"), "{out}");
    assert!(
        out.contains("max version 6: may sign versions up to 6"),
        "{out}"
    );

    // One byte of the signed span changed (entry 0's max version, which no
    // other rule judges): rejected by the signature, at its offset.
    let mut bad = bytes.clone();
    bad[56 + 56] ^= 1;
    std::fs::write(f.file("bad.ckr"), &bad).unwrap();
    let (code, out, _) = f.run(&with(&["keyring", "inspect", "bad.ckr", "--json"], &ROOTS));
    assert_eq!(code, 1);
    let e = one_json(&out)["error"].clone();
    assert_eq!(e["rule"], "bad-signature", "{e}");
    // Header 40 + body 16 + 2 entries of 64, then the count and reserved
    // words; the signature follows the first key id.
    assert_eq!(e["offset"], 40 + 16 + 2 * 64 + 8 + 8, "{e}");
}

#[test]
fn release_build_writes_what_inspect_reads_back() {
    let f = Fixture::new();
    f.keyring();
    let out = f.ok(&[
        "release",
        "build",
        "--channel",
        "291",
        "--version",
        "7",
        "--start",
        "2026-12-02T00:00:00Z",
        "--issued",
        "1796083200",
        "--rings",
        "0.1%@0h,1%@2h,10%@6h,50%@12h,100%@24h",
        "--key",
        "keys/content.key",
        "--fast-forward",
        "-o",
        "out",
    ]);
    assert!(
        out.starts_with("wrote out/C-00000291-00000007.rel"),
        "{out}"
    );
    let rel = "out/C-00000291-00000007.rel";

    // The library's validator agrees.
    let roots = f.roots_keys();
    let kb = std::fs::read(f.file("keyring.ckr")).unwrap();
    let k = Keyring::validate(kb, &Roots::new(&roots, 2).unwrap()).unwrap();
    let mut tk = vec![changuard_format::TrustedKey::new([0; 32]); 16];
    let n = k.keys_for(291, Some(ISSUED), &mut tk);
    let r = Release::validate(
        &std::fs::read(f.file(rel)).unwrap(),
        &trust_of(&tk, n),
        291,
        7,
    )
    .unwrap();
    assert_eq!(
        (r.start, r.issued, r.fast_forward),
        (1_796_169_600, ISSUED, true)
    );

    let out = f.ok(&with(
        &[
            "release",
            "inspect",
            rel,
            "--keyring",
            "keyring.ckr",
            "--json",
            "--at",
            AT,
        ],
        &ROOTS,
    ));
    let v = one_json(&out);
    assert_eq!(v["valid"], true);
    assert_eq!(
        (v["channel"].as_u64(), v["version"].as_u64()),
        (Some(291), Some(7))
    );
    assert_eq!(v["start_utc"], "2026-12-02T00:00:00Z");
    assert_eq!(v["issued"], ISSUED);
    assert_eq!(v["fast_forward"], true);
    assert_eq!(v["keyring_version"], 4);
    let rings: Vec<(u64, u64, String)> = v["rings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["fraction_ppm"].as_u64().unwrap(),
                g["delay_secs"].as_u64().unwrap(),
                g["cumulative_percent"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, u64, String)> = [
        (1_000, 0, "0.1"),
        (10_000, 7_200, "1"),
        (100_000, 21_600, "10"),
        (500_000, 43_200, "50"),
        (1_000_000, 86_400, "100"),
    ]
    .iter()
    .map(|(p, d, s)| (*p, *d, s.to_string()))
    .collect();
    assert_eq!(rings, want);
    // At 07:00, seven hours after the start, rings 0..=2 (10% of machines) are open.
    assert_eq!(v["open_ppm"], 100_000);
    assert_eq!(v["rings"][2]["open"], true);
    assert_eq!(v["rings"][3]["open"], false);

    // standard:6h is standard_rings(6h).
    f.ok(&[
        "release",
        "build",
        "--channel",
        "291",
        "--version",
        "8",
        "--start",
        "now",
        "--rings",
        "standard:6h",
        "--key",
        "keys/content.key",
    ]);
    let out = f.ok(&with(
        &[
            "release",
            "inspect",
            "C-00000291-00000008.rel",
            "--keyring",
            "keyring.ckr",
            "--json",
        ],
        &ROOTS,
    ));
    let delays: Vec<u64> = one_json(&out)["rings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["delay_secs"].as_u64().unwrap())
        .collect();
    assert_eq!(delays, [0, 21_600, 43_200, 64_800, 86_400]);

    // Placement: the library's ring point, and the ring's time.
    let id = "00112233445566778899aabbccddeeff";
    let out = f.ok(&with(
        &[
            "release",
            "placement",
            "--machine-id",
            id,
            rel,
            "--keyring",
            "keyring.ckr",
            "--json",
            "--at",
            AT,
        ],
        &ROOTS,
    ));
    let p = one_json(&out);
    let mid: [u8; 16] = hex::decode(id).unwrap().try_into().unwrap();
    let point = ring_point(&mid, 291);
    assert_eq!(p["ring_point"], point);
    assert_eq!(p["ring"], r.ring_of(point));
    assert_eq!(p["eligible_at"], r.eligible_at(point, 0));
}

#[test]
fn a_release_signed_by_a_key_the_keyring_does_not_list_is_refused() {
    let f = Fixture::new();
    f.keyring();
    f.ok(&[
        "release",
        "build",
        "--channel",
        "291",
        "--version",
        "7",
        "--start",
        "now",
        "--key",
        "keys/stranger.key",
    ]);
    let rel = "C-00000291-00000007.rel";
    let (code, out, _) = f.run(&with(
        &[
            "release",
            "inspect",
            rel,
            "--keyring",
            "keyring.ckr",
            "--json",
        ],
        &ROOTS,
    ));
    assert_eq!(code, 1, "{out}");
    let e = one_json(&out)["error"].clone();
    assert_eq!(e["rule"], "unknown-key");
    assert_eq!(e["record"], "release");
    assert_eq!(e["file"], rel);
    let stranger = changuard_cli::keys::read_public(&f.file("keys/stranger.pub")).unwrap();
    assert_eq!(e["key_id"], changuard_cli::keys::key_id_hex(stranger.id));
    // The signature block starts after the 40-byte header and the 96-byte body.
    assert_eq!(e["offset"], 40 + 16 + 5 * 16 + 8);
    let (code, out, _) = f.run(&with(
        &["release", "inspect", rel, "--keyring", "keyring.ckr"],
        &ROOTS,
    ));
    assert_eq!(code, 1);
    assert!(
        out.contains("rule:   unknown-key (record rule 10)"),
        "{out}"
    );
    assert!(out.contains("does not list"), "{out}");

    // A key listed for channel 291 only cannot sign for 292.
    f.ok(&[
        "release",
        "build",
        "--channel",
        "292",
        "--version",
        "1",
        "--start",
        "now",
        "--key",
        "keys/content.key",
    ]);
    let (code, out, _) = f.run(&with(
        &[
            "release",
            "inspect",
            "C-00000292-00000001.rel",
            "--keyring",
            "keyring.ckr",
        ],
        &ROOTS,
    ));
    assert_eq!(code, 1);
    assert!(out.contains("listed for channel 291 only"), "{out}");

    // A key capped at version 6 signs 6, not 7 (the loader's check).
    for (version, want) in [("6", 0), ("7", 1)] {
        f.ok(&[
            "release",
            "build",
            "--channel",
            "300",
            "--version",
            version,
            "--start",
            "now",
            "--key",
            "keys/shared.key",
        ]);
        let file = format!("C-00000300-0000000{version}.rel");
        let (code, out, _) = f.run(&with(
            &[
                "release",
                "inspect",
                &file,
                "--keyring",
                "keyring.ckr",
                "--json",
            ],
            &ROOTS,
        ));
        assert_eq!(code, want, "{out}");
        if want == 1 {
            assert_eq!(one_json(&out)["error"]["rule"], "key-not-allowed");
        }
    }

    // Renamed to another version: the name is what the file is read for.
    std::fs::copy(f.file(rel), f.file("C-00000291-00000009.rel")).unwrap();
    let (code, out, _) = f.run(&with(
        &[
            "release",
            "inspect",
            "C-00000291-00000009.rel",
            "--keyring",
            "keyring.ckr",
            "--json",
        ],
        &ROOTS,
    ));
    assert_eq!(code, 1);
    let e = one_json(&out)["error"].clone();
    assert_eq!(e["rule"], "wrong-version");
    assert_eq!(
        (e["expected"].as_u64(), e["found"].as_u64()),
        (Some(9), Some(7))
    );
    assert_eq!(e["offset"], 24);
}

#[test]
fn bad_rings_are_refused_before_anything_is_written() {
    let f = Fixture::new();
    let (code, _, err) = f.run(&[
        "release",
        "build",
        "--channel",
        "291",
        "--version",
        "7",
        "--start",
        "now",
        "--rings",
        "1%@2h,0.5%@3h,100%@4h",
        "--key",
        "keys/content.key",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("rings-not-canonical") && err.contains("`0.5%@3h`"),
        "{err}"
    );
    assert!(!f.file("C-00000291-00000007.rel").exists());
    let (code, _, err) = f.run(&[
        "release",
        "build",
        "--channel",
        "291",
        "--version",
        "7",
        "--start",
        "now",
        "--rings",
        "50%@2h",
        "--key",
        "keys/content.key",
    ]);
    assert_eq!(code, 1, "the last ring must be everyone: {err}");
    let (code, _, err) = f.run(&[
        "release",
        "build",
        "--channel",
        "291",
        "--version",
        "7",
        "--start",
        "tomorrow",
        "--key",
        "keys/content.key",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("RFC 3339"), "{err}");
    let (code, _, err) = f.run(&[
        "release",
        "build",
        "--channel",
        "0",
        "--version",
        "7",
        "--start",
        "now",
        "--key",
        "keys/content.key",
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn halts_build_inspect_and_refuse_an_empty_range() {
    let f = Fixture::new();
    f.keyring();
    let (code, _, err) = f.run(&[
        "halt",
        "build",
        "--channel",
        "291",
        "--sequence",
        "3",
        "--versions",
        "9..=7",
        "--key",
        "keys/content.key",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("bad-range") && err.contains("write 7..=9"),
        "{err}"
    );
    assert!(!f.file("C-00000291.halt").exists());

    let out = f.ok(&[
        "halt",
        "build",
        "--channel",
        "291",
        "--sequence",
        "3",
        "--versions",
        "7..=9",
        "--key",
        "keys/content.key",
        "--issued",
        "2026-12-01T00:00:00Z",
    ]);
    assert!(out.starts_with("wrote C-00000291.halt"), "{out}");
    let bytes = std::fs::read(f.file("C-00000291.halt")).unwrap();
    let content = changuard_cli::keys::read_public(&f.file("keys/content.pub")).unwrap();
    let h = Halt::validate(&bytes, &changuard_format::Trust::new(&[content]), 291).unwrap();
    assert!(h.halts(7) && h.halts(9) && !h.halts(10));

    let out = f.ok(&with(
        &[
            "halt",
            "inspect",
            "C-00000291.halt",
            "--keyring",
            "keyring.ckr",
            "--json",
        ],
        &ROOTS,
    ));
    let v = one_json(&out);
    assert_eq!(
        (v["channel"].as_u64(), v["sequence"].as_u64()),
        (Some(291), Some(3))
    );
    assert_eq!(
        (v["first"].as_u64(), v["last"].as_u64()),
        (Some(7), Some(9))
    );
    assert_eq!(v["lift"], false);
    assert_eq!(v["issued"], ISSUED);

    // Lifting is the empty range, with a higher sequence.
    f.ok(&[
        "halt",
        "build",
        "--channel",
        "291",
        "--sequence",
        "4",
        "--lift",
        "--key",
        "keys/content.key",
        "-o",
        "lift",
    ]);
    let out = f.ok(&with(
        &[
            "halt",
            "inspect",
            "lift/C-00000291.halt",
            "--keyring",
            "keyring.ckr",
            "--json",
        ],
        &ROOTS,
    ));
    let v = one_json(&out);
    assert_eq!(
        (v["first"].as_u64(), v["last"].as_u64(), v["lift"].as_bool()),
        (Some(0), Some(0), Some(true))
    );
    assert_eq!(v["sequence"], 4);

    // A halt of 291 renamed for 292 is read for 292 and refused.
    std::fs::copy(f.file("C-00000291.halt"), f.file("C-00000292.halt")).unwrap();
    let (code, out, _) = f.run(&with(
        &[
            "halt",
            "inspect",
            "C-00000292.halt",
            "--keyring",
            "keyring.ckr",
            "--json",
        ],
        &ROOTS,
    ));
    assert_eq!(code, 1);
    let e = one_json(&out)["error"].clone();
    assert_eq!(
        (e["rule"].as_str(), e["offset"].as_u64()),
        (Some("wrong-channel"), Some(16))
    );
    // A halt is not a release.
    let (code, out, _) = f.run(&with(
        &[
            "release",
            "inspect",
            "C-00000291.halt",
            "--channel",
            "291",
            "--version",
            "3",
            "--keyring",
            "keyring.ckr",
            "--json",
        ],
        &ROOTS,
    ));
    assert_eq!(code, 1);
    assert_eq!(one_json(&out)["error"]["rule"], "bad-magic");
}

#[test]
fn keyring_spec_errors_name_the_entry() {
    let f = Fixture::new();
    let spec = r#"version = 1
issued = "2026-12-01T00:00:00Z"
expires = "2027-03-01T00:00:00Z"

[[key]]
public = "keys/content.pub"
channel = 291
not_before = "2027-01-01T00:00:00Z"
not_after = "2026-01-01T00:00:00Z"
"#;
    // Build `text` as a keyring spec: (exit code, stderr).
    let build = |text: &str| {
        std::fs::write(f.file("bad.toml"), text).unwrap();
        let (code, _, err) = f.run(&[
            "keyring",
            "build",
            "bad.toml",
            "--root-key",
            "keys/root1.key",
        ]);
        (code, err)
    };
    let (code, err) = build(spec);
    assert_eq!(code, 1);
    assert!(
        err.contains("bad-window") && err.contains("[[key]] #1"),
        "{err}"
    );
    let (code, err) = build(&spec.replace("2027-01-01T00:00:00Z", "2026-13-01T00:00:00Z"));
    assert_eq!(code, 2);
    assert!(
        err.contains("not_before") && err.contains("no such date"),
        "{err}"
    );
    let (code, err) = build(&spec.replace("channel = 291", "channel = 0"));
    assert_eq!(code, 2);
    assert!(err.contains("\"any\""), "{err}");
}

#[test]
fn format_md_lists_every_record_rule_with_its_code_and_meaning() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/FORMAT.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let section = doc
        .split_once("### Release record rules")
        .expect("FORMAT.md has the release record rules")
        .1;
    let rows: Vec<(u16, String)> = section
        .lines()
        .skip_while(|l| !l.starts_with("| code |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                cells[1].parse().unwrap(),
                cells[2].trim_matches('`').to_string(),
            )
        })
        .collect();
    let want: Vec<(u16, String)> = changuard_release::RecordRule::ALL
        .iter()
        .map(|r| (r.code(), r.name().to_string()))
        .collect();
    assert_eq!(
        rows, want,
        "docs/FORMAT.md \"Release record rules\" vs RecordRule::ALL"
    );
}
