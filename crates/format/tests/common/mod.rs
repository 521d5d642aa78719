//! Shared fixtures for the format tests.
#![allow(dead_code)]

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, SigningKey};
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE, TemplateType};
use changuard_format::{Action, FieldType, SCHEMA_ID, StrOp, TrustedKey};

pub const CHANNEL: u32 = 291;

pub fn key() -> SigningKey {
    SigningKey::from_seed([7u8; 32])
}

pub fn trusted() -> [TrustedKey; 1] {
    [key().trusted_key()]
}

/// The same key trusted as test-only (it may sign `test-crash` content).
pub fn trusted_test() -> [TrustedKey; 1] {
    [key().trusted_test_key()]
}

/// A criterion of every kind that fits `ty`, chosen by `k`.
pub fn criterion_for(ty: FieldType, k: usize) -> CriterionSpec {
    match (ty, k % 4) {
        (_, 0) => CriterionSpec::Any,
        (FieldType::Str, 1) => CriterionSpec::Str {
            op: StrOp::Contains,
            value: "\\pipe\\evil".into(),
            case_insensitive: true,
        },
        (FieldType::Str, 2) => CriterionSpec::Regex {
            pattern: r"(?i)mimikatz|lsass\.dmp".into(),
            case_insensitive: false,
        },
        (FieldType::Str, _) => CriterionSpec::Str {
            op: StrOp::Equals,
            value: "C:\\Windows\\System32\\cmd.exe".into(),
            case_insensitive: false,
        },
        (FieldType::Int, 1) => CriterionSpec::IntEquals(4),
        (FieldType::Int, 2) => CriterionSpec::IntRange { lo: 1, hi: 100 },
        (FieldType::Int, _) => CriterionSpec::IntMask {
            mask: 0xff,
            value: 0x12,
        },
    }
}

pub fn instance(id: u32, t: &TemplateType, salt: usize) -> InstanceSpec {
    let criteria = t
        .fields
        .iter()
        .enumerate()
        .map(|(k, f)| criterion_for(f.ty, k + salt))
        .collect();
    report(id, t.id, criteria)
}

/// A reporting instance of template `template` with `criteria` and no rows.
pub fn report(id: u32, template: u16, criteria: Vec<CriterionSpec>) -> InstanceSpec {
    InstanceSpec {
        also: Vec::new(),
        unless: Vec::new(),
        metadata: Default::default(),
        id,
        template,
        action: Action::Report,
        criteria,
    }
}

/// Valid content exercising every criterion kind on both templates.
pub fn spec() -> ChannelSpec {
    ChannelSpec {
        channel: CHANNEL,
        version: 7,
        schema_id: SCHEMA_ID,
        instances: vec![
            instance(1, &PROCESS_CREATE, 0),
            instance(2, &NAMED_PIPE_CREATE, 1),
            instance(5, &NAMED_PIPE_CREATE, 2),
            instance(9, &PROCESS_CREATE, 3),
        ],
    }
}

pub fn built() -> Vec<u8> {
    changuard_format::build::build(&spec(), &key()).expect("valid spec builds")
}
