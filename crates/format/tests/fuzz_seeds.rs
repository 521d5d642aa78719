//! The committed seed corpus for `fuzz/ validate_raw` (fuzz/seeds/validate_raw).
//!
//! Normally this checks that every committed seed still validates with the
//! fuzz key (so format changes cannot silently leave the fuzzer starting from
//! garbage). With `CHANGUARD_WRITE_SEEDS=1` it (re)writes them:
//!   CHANGUARD_WRITE_SEEDS=1 cargo test -p changuard-format --features build --test fuzz_seeds

mod common;

use changuard_format::build::{
    BuildOptions, ChannelSpec, CriterionSpec, InstanceSpec, SigningKey, build_with,
};
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE, TemplateType};
use changuard_format::{Action, AlignedBytes, FieldType, SCHEMA_ID, StrOp, Trust, validate};
use std::path::PathBuf;

/// Must equal `FUZZ_KEY_SEED` / `FUZZ_CHANNEL` in fuzz/fuzz_targets/common.rs.
const FUZZ_KEY_SEED: [u8; 32] = [0x5a; 32];
const FUZZ_CHANNEL: u32 = 291;

fn inst(id: u32, t: &TemplateType, salt: usize) -> InstanceSpec {
    InstanceSpec {
        also: Vec::new(),
        unless: Vec::new(),
        metadata: Default::default(),
        id,
        template: t.id,
        action: if salt % 2 == 0 {
            Action::Report
        } else {
            Action::BlockCandidate
        },
        criteria: t
            .fields
            .iter()
            .enumerate()
            .map(|(k, f)| match (f.ty, (k + salt) % 5) {
                (_, 0) => CriterionSpec::Any,
                (FieldType::Str, 1) => CriterionSpec::Str {
                    op: StrOp::Contains,
                    value: format!("pipe\\x{salt}"),
                    case_insensitive: true,
                },
                (FieldType::Str, 2) => CriterionSpec::Regex {
                    pattern: "lsass\\.(dmp|exe)".into(),
                    case_insensitive: true,
                },
                (FieldType::Str, _) => CriterionSpec::Str {
                    op: StrOp::Suffix,
                    value: "É.exe".into(),
                    case_insensitive: false,
                },
                (FieldType::Int, 1) => CriterionSpec::IntEquals(salt as u64),
                (FieldType::Int, 2) => CriterionSpec::IntRange { lo: 2, hi: 9 },
                (FieldType::Int, _) => CriterionSpec::IntMask {
                    mask: 0xf0,
                    value: 0x30,
                },
            })
            .collect(),
    }
}

/// Pipe instances with regex families sharing literals (`\\postex_`,
/// `\\msagent_`) and literal-free ones: built with regex groups.
fn families() -> Vec<InstanceSpec> {
    let k = NAMED_PIPE_CREATE.field_index("pipe_name").unwrap();
    (0..12u32)
        .map(|i| {
            let mut criteria = vec![CriterionSpec::Any; NAMED_PIPE_CREATE.input_count()];
            let pattern = match i % 3 {
                0 => format!(r"\\postex_[0-9a-f]{{{}}}$", 2 + i),
                1 => format!(r"\\msagent_[0-9a-f]{{{}}}-(in|out)$", 2 + i),
                _ => format!(r"[0-9]{{{}}}$", 3 + i),
            };
            criteria[k] = CriterionSpec::Regex {
                pattern,
                case_insensitive: i % 2 == 0,
            };
            common::report(i + 1, NAMED_PIPE_CREATE.id, criteria)
        })
        .collect()
}

fn seeds() -> Vec<(&'static str, ChannelSpec, BuildOptions)> {
    let spec = |instances| ChannelSpec {
        channel: FUZZ_CHANNEL,
        version: 1,
        schema_id: SCHEMA_ID,
        instances,
    };
    let single = BuildOptions::default();
    let grouped = BuildOptions {
        group_regexes: true,
    };
    vec![
        ("empty", spec(vec![]), single),
        (
            "one-process",
            spec(vec![inst(1, &PROCESS_CREATE, 0)]),
            single,
        ),
        (
            "one-pipe",
            spec(vec![inst(1, &NAMED_PIPE_CREATE, 1)]),
            single,
        ),
        (
            "mixed",
            spec(vec![
                inst(1, &PROCESS_CREATE, 2),
                inst(3, &NAMED_PIPE_CREATE, 3),
                inst(4, &PROCESS_CREATE, 4),
            ]),
            single,
        ),
        ("regex-groups", spec(families()), grouped),
    ]
}

#[test]
fn fuzz_seeds_are_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/validate_raw");
    let key = SigningKey::from_seed(FUZZ_KEY_SEED);
    let keys = [key.trusted_key()];
    let write = std::env::var_os("CHANGUARD_WRITE_SEEDS").is_some();
    if write {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, spec, options) in seeds() {
        let bytes = build_with(&spec, &key, &options).unwrap();
        validate(
            &AlignedBytes::from_slice(&bytes)[..],
            &Trust::new(&keys),
            FUZZ_CHANNEL,
        )
        .unwrap();
        let path = dir.join(format!("{name}.chan"));
        if write {
            std::fs::write(&path, &bytes).unwrap();
        } else if let Ok(committed) = std::fs::read(&path) {
            assert_eq!(
                committed,
                bytes,
                "{} is stale: rerun with CHANGUARD_WRITE_SEEDS=1",
                path.display()
            );
        }
    }
}
