//! The committed example content is exactly what the toolchain builds, and
//! every file in `examples/bad/` is rejected with its documented rule at the
//! offset computed here independently of the validator.
//!
//! Regenerate after an intended format change:
//! `UPDATE_EXAMPLES=1 cargo test -p changuard-cli --test examples`.

use changuard_cli::{keys, spec};
use changuard_format::build::{self, SigningKey, raw};
use changuard_format::layout::{self, SectionKind};
use changuard_format::{AlignedBytes, Rule, Trust};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn update() -> bool {
    std::env::var_os("UPDATE_EXAMPLES").is_some()
}

fn test_key() -> SigningKey {
    keys::read_secret(&root().join("keys/TEST-ONLY-changuard.key"))
        .expect("test key")
        .key
}

fn build_spec(path: &Path, key: &SigningKey) -> (u32, u64, Vec<u8>) {
    let src = std::fs::read_to_string(path).unwrap();
    let s = spec::parse(&src).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    (s.channel, s.version, build::build(&s, key).unwrap())
}

/// Compare with the committed file, or write it under UPDATE_EXAMPLES.
fn check_committed(path: &Path, bytes: &[u8]) {
    if update() {
        std::fs::write(path, bytes).unwrap();
        return;
    }
    let committed = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_EXAMPLES=1 to generate)",
            path.display()
        )
    });
    assert!(
        committed == bytes,
        "{} differs from what the toolchain builds now; regenerate with UPDATE_EXAMPLES=1 if intended",
        path.display()
    );
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

#[test]
fn good_content_builds_reproducibly_and_validates() {
    let key = test_key();
    let trust_keys = [key.trusted_key()];
    for name in ["pipes.toml", "pipes-v2.toml", "process.toml"] {
        let (channel, version, bytes) = build_spec(&root().join("content").join(name), &key);
        let out = root()
            .join("content")
            .join(format!("C-{channel:08}-{version:08}.chan"));
        check_committed(&out, &bytes);
        let v = changuard_format::validate(
            AlignedBytes::from_slice(&bytes),
            &Trust::new(&trust_keys),
            channel,
        )
        .unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!((v.channel(), v.version()), (channel, version));
        assert!(v.instance_count() >= 4);
    }
}

struct Case {
    file: &'static str,
    bytes: Vec<u8>,
    rule: Rule,
    offset: usize,
}

fn bad_cases() -> Vec<Case> {
    let key = test_key();
    let (_, _, good) = build_spec(&root().join("content/pipes-v2.toml"), &key);
    let mut cases = Vec::new();
    // 1. The 291 replay, twice: non-wildcard and wildcard 21st criterion.
    for (file, spec_name) in [
        (
            "channel-291-replay.C-00000291-00000002.chan",
            "channel-291-replay.toml",
        ),
        (
            "channel-291-replay-wildcard.C-00000291-00000002.chan",
            "channel-291-replay-wildcard.toml",
        ),
    ] {
        let (_, _, b) = build_spec(&root().join("bad/specs").join(spec_name), &key);
        let offset = raw::instance(&b, 0).unwrap() + layout::instance::CRITERIA_COUNT.start;
        cases.push(Case {
            file,
            bytes: b,
            rule: Rule::CriteriaCountMismatch,
            offset,
        });
    }
    let mut mutate = |file: &'static str, rule: Rule, f: &dyn Fn(&mut Vec<u8>) -> usize| {
        let mut b = good.clone();
        let offset = f(&mut b);
        cases.push(Case {
            file,
            bytes: b,
            rule,
            offset,
        });
    };

    // 2. Truncated in the middle (a torn download): the header's length disagrees.
    mutate(
        "truncated.C-00000291-00000002.chan",
        Rule::LengthMismatch,
        &|b| {
            b.truncate(b.len() / 2);
            layout::header::FILE_LEN.start
        },
    );
    // 3. One body byte changed after signing.
    mutate(
        "bad-signature.C-00000291-00000002.chan",
        Rule::BadSignature,
        &|b| {
            let at = raw::instance(b, 0).unwrap() + layout::instance::ID.start;
            b[at] ^= 0x40;
            raw::trailer(b).unwrap() + layout::trailer::SIGNATURE.start
        },
    );
    // 4. Signed by a key the sensor does not trust.
    mutate(
        "unknown-key.C-00000291-00000002.chan",
        Rule::UnknownKey,
        &|b| {
            build::sign(b, &SigningKey::from_seed([7; 32])).unwrap();
            raw::trailer(b).unwrap() + layout::trailer::KEY_ID.start
        },
    );
    // 5. Built for another sensor schema.
    mutate(
        "wrong-schema.C-00000291-00000002.chan",
        Rule::WrongSchema,
        &|b| {
            let other = changuard_format::SCHEMA_ID ^ 1;
            assert!(raw::put(
                b,
                layout::header::SCHEMA_ID.start,
                &other.to_le_bytes()
            ));
            build::sign(b, &key).unwrap();
            layout::header::SCHEMA_ID.start
        },
    );
    // 6. Channel 292's content delivered under channel 291's name.
    mutate(
        "wrong-channel.C-00000291-00000002.chan",
        Rule::WrongChannel,
        &|b| {
            assert!(raw::put(
                b,
                layout::header::CHANNEL.start,
                &292u32.to_le_bytes()
            ));
            build::sign(b, &key).unwrap();
            layout::header::CHANNEL.start
        },
    );
    // 7. An instance count far above the cap.
    mutate(
        "oversized-counts.C-00000291-00000002.chan",
        Rule::CountTooLarge,
        &|b| {
            let e = raw::section_entry(b, SectionKind::Instances).unwrap();
            assert!(raw::put(
                b,
                e + layout::section::COUNT.start,
                &u32::MAX.to_le_bytes()
            ));
            build::sign(b, &key).unwrap();
            e + layout::section::COUNT.start
        },
    );
    // 8. A section that points past the end of the file.
    mutate(
        "offsets-out-of-range.C-00000291-00000002.chan",
        Rule::SectionOutOfRange,
        &|b| {
            let e = raw::section_entry(b, SectionKind::Strings).unwrap();
            assert!(raw::put(
                b,
                e + layout::section::OFFSET.start,
                &0x00ff_0000u32.to_le_bytes()
            ));
            build::sign(b, &key).unwrap();
            e + layout::section::OFFSET.start
        },
    );
    // 9. CRITERIA moved to start inside INSTANCES.
    mutate(
        "overlapping-sections.C-00000291-00000002.chan",
        Rule::SectionOverlap,
        &|b| {
            let inst = raw::section_entry(b, SectionKind::Instances).unwrap();
            let crit = raw::section_entry(b, SectionKind::Criteria).unwrap();
            let inst_off = u32_at(b, inst + layout::section::OFFSET.start);
            assert!(raw::put(
                b,
                crit + layout::section::OFFSET.start,
                &(inst_off + 16).to_le_bytes()
            ));
            build::sign(b, &key).unwrap();
            crit + layout::section::OFFSET.start
        },
    );
    // 10. A serialized DFA whose header was damaged (signed anyway).
    mutate("invalid-dfa.C-00000291-00000002.chan", Rule::BadDfa, &|b| {
        let at = raw::dfa_blob(b, 0).unwrap();
        for byte in &mut b[at..at + 16] {
            *byte = 0xAA;
        }
        build::sign(b, &key).unwrap();
        at
    });
    // 11. A string criterion on an integer input (pid), signed anyway.
    mutate(
        "type-mismatch.C-00000291-00000002.chan",
        Rule::CriterionTypeMismatch,
        &|b| {
            let pid_field = changuard_format::schema::NAMED_PIPE_CREATE
                .field_index("creating_pid")
                .unwrap();
            let at =
                raw::instance_criterion(b, 0, pid_field).unwrap() + layout::criterion::KIND.start;
            b[at] = layout::kind::CONTAINS;
            build::sign(b, &key).unwrap();
            at
        },
    );
    cases
}

#[test]
fn every_bad_example_is_rejected_with_its_rule_and_offset() {
    let key = test_key();
    let trust_keys = [key.trusted_key()];
    let trust = Trust::new(&trust_keys);
    let mut expected = BTreeMap::new();
    for case in bad_cases() {
        let path = root().join("bad").join(case.file);
        check_committed(&path, &case.bytes);
        let r = changuard_format::validate(AlignedBytes::from_slice(&case.bytes), &trust, 291)
            .err()
            .unwrap_or_else(|| panic!("{} was accepted", case.file));
        assert_eq!(
            (r.rule, r.offset),
            (case.rule, case.offset as u64),
            "{}: got `{r}`",
            case.file
        );
        expected.insert(
            case.file,
            serde_json::json!({"rule": case.rule.code(), "offset": case.offset}),
        );
    }
    // The table examples/check.sh compares the CLI's --json output against.
    let table = serde_json::to_string_pretty(&expected).unwrap() + "\n";
    check_committed(&root().join("bad/EXPECTED.json"), table.as_bytes());
}

#[test]
fn the_291_replay_message_names_template_instance_and_counts() {
    let key = test_key();
    let (_, _, b) = build_spec(&root().join("bad/specs/channel-291-replay.toml"), &key);
    let keys = [key.trusted_key()];
    let r = changuard_format::validate(AlignedBytes::from_slice(&b), &Trust::new(&keys), 291)
        .unwrap_err();
    let msg = r.to_string();
    assert!(msg.contains("template NamedPipeCreate"), "{msg}");
    assert!(msg.contains("instance 0"), "{msg}");
    assert!(msg.contains("21 criteria, sensor supplies 20"), "{msg}");
}

/// Issue 11 finding 10: `test-crash` content validates only against a key whose
/// `.pub` file carries `purpose: test-only` (as examples/keys' does); the same
/// bytes trusted through an unmarked (production) key are rejected at the action.
#[test]
fn test_crash_content_needs_the_test_only_mark() {
    let key = test_key();
    let src = std::fs::read_to_string(root().join("content/process.toml")).unwrap();
    let src = src.replacen("action = \"report\"", "action = \"test-crash\"", 1);
    assert!(src.contains("test-crash"));
    let s = spec::parse(&src).unwrap();
    let b = build::build(&s, &key).unwrap();
    let marked = keys::read_public(&root().join("keys/TEST-ONLY-changuard.pub")).unwrap();
    assert!(marked.test_only);
    let ok = changuard_format::validate(
        AlignedBytes::from_slice(&b),
        &Trust::new(&[marked]),
        s.channel,
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
    let production = [key.trusted_key()];
    let r = changuard_format::validate(
        AlignedBytes::from_slice(&b),
        &Trust::new(&production),
        s.channel,
    )
    .unwrap_err();
    assert_eq!(
        (r.rule.code(), r.instance, r.found),
        ("test-action-needs-test-key", Some(0), 0xF0),
        "{r}"
    );
}
