//! validate() throughput on realistic content vs SHA-512 over the same bytes
//! (the hash Ed25519 verification runs over the whole file). Goal: at 8 MiB,
//! validate (signature included) costs at most 1.3x the bare hash.
//!
//! cargo bench -p changuard-format --features build -- --warm-up-time 1 --measurement-time 3

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, SigningKey, build};
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE};
use changuard_format::{
    Action, AlignedBytes, FieldType, SCHEMA_ID, StrOp, Trust, TrustedKey, validate,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const PATTERNS: &[&str] = &[
    r"mimikatz",
    r"^\\\\\.\\pipe\\msagent_[0-9a-f]{2,4}$",
    r"lsass\.(dmp|exe)",
    r"(?i)power(shell)?\.exe.*-e(nc|ncodedcommand)?\s",
    r"\\AppData\\Local\\Temp\\[a-z0-9]{8}\.(exe|dll|ps1)$",
    r"^S-1-5-21-\d+-\d+-\d+-500$",
    r"rundll32(\.exe)?\s+[^,]+,#?\w+",
    r"\\\\\.\\pipe\\(postex|status|mojo)_[0-9a-f]{4}",
];

/// Realistic content of about `target` bytes: mostly distinct needles, a
/// mix of int tests and wildcards, and a fixed set of regexes.
fn content(target: usize, key: &SigningKey) -> Vec<u8> {
    // ~490 bytes per instance (measured); regexes scale with size since
    // each distinct one adds a DFA of 1-600 KiB.
    let patterns = &PATTERNS[..if target < (1 << 20) {
        1
    } else if target < (8 << 20) {
        3
    } else {
        PATTERNS.len()
    }];
    let per = 490;
    let n = target.saturating_sub(if patterns.len() == PATTERNS.len() {
        1_700_000
    } else {
        0
    }) / per;
    let mut instances = Vec::with_capacity(n);
    for i in 0..n {
        let t = if i % 3 == 0 {
            &PROCESS_CREATE
        } else {
            &NAMED_PIPE_CREATE
        };
        let criteria = t
            .fields
            .iter()
            .enumerate()
            .map(|(k, f)| match (f.ty, (i + k) % 7) {
                (FieldType::Str, 0) => CriterionSpec::Str {
                    op: StrOp::Contains,
                    value: format!("\\device\\harddiskvolume3\\users\\evil{i:06}\\x{k}.exe"),
                    case_insensitive: true,
                },
                (FieldType::Str, 1) => CriterionSpec::Str {
                    op: StrOp::Prefix,
                    value: format!("C:\\ProgramData\\Sample-{i:06}-{k}\\"),
                    case_insensitive: false,
                },
                (FieldType::Str, 2) => CriterionSpec::Regex {
                    pattern: patterns[(i + k) % patterns.len()].to_string(),
                    case_insensitive: k % 2 == 0,
                },
                (FieldType::Int, 0) => CriterionSpec::IntEquals(i as u64),
                (FieldType::Int, 1) => CriterionSpec::IntRange {
                    lo: 0x1000,
                    hi: 0x4000 + i as u64,
                },
                (FieldType::Int, 2) => CriterionSpec::IntMask {
                    mask: 0x0012_019f,
                    value: 0x0000_0003,
                },
                _ => CriterionSpec::Any,
            })
            .collect();
        instances.push(InstanceSpec {
            also: Vec::new(),
            unless: Vec::new(),
            metadata: Default::default(),
            id: i as u32 + 1,
            template: t.id,
            action: Action::Report,
            criteria,
        });
    }
    let spec = ChannelSpec {
        channel: 291,
        version: 1,
        schema_id: SCHEMA_ID,
        instances,
    };
    build(&spec, key).expect("bench content builds")
}

fn bench(c: &mut Criterion) {
    let key = SigningKey::from_seed([1; 32]);
    let keys: [TrustedKey; 1] = [key.trusted_key()];
    let trust = Trust::new(&keys);
    for (name, size) in [("64KiB", 64 << 10), ("1MiB", 1 << 20), ("8MiB", 8 << 20)] {
        let bytes = AlignedBytes::from_slice(&content(size, &key));
        validate(&bytes[..], &trust, 291).expect("bench content validates");
        let mut g = c.benchmark_group(format!("size-{name}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::new("validate", bytes.len()), |b| {
            b.iter(|| validate(black_box(&bytes[..]), &trust, 291).map(|v| v.instance_count()))
        });
        g.bench_function(BenchmarkId::new("sha512", bytes.len()), |b| {
            b.iter(|| ed25519_compact::sha512::Hash::hash(black_box(&bytes[..])))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
