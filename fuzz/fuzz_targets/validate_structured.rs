//! Arbitrary spec -> `build` -> a few byte edits -> re-sign -> `validate`.
//! Specs are mostly well-formed (so content gets past the instance checks)
//! with deliberate near-misses (criteria count off by one, wrong kinds, bad
//! operands). Accepted content must decode fully without a `None`; content
//! built from a valid spec without edits must be accepted.
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::{Result, Unstructured};
use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, MetadataSpec, build, sign};
use changuard_format::schema::TEMPLATE_TYPES;
use changuard_format::{Action, AlignedBytes, SCHEMA_ID, StrOp, Trust, validate};
use libfuzzer_sys::fuzz_target;

const PATTERNS: &[&str] = &[
    "mimikatz",
    r"^\\\\\.\\pipe\\msagent_[0-9a-f]{2}$",
    r"lsass\.(dmp|exe)",
    "[a-z]+@[a-z]+",
    "é+",
];

fn criterion(u: &mut Unstructured) -> Result<CriterionSpec> {
    Ok(match u.int_in_range(0..=8u8)? {
        0 => CriterionSpec::Any,
        1..=4 => CriterionSpec::Str {
            op: *u.choose(&[StrOp::Equals, StrOp::Prefix, StrOp::Suffix, StrOp::Contains])?,
            value: String::arbitrary_take(u)?,
            case_insensitive: u.arbitrary()?,
        },
        5 => CriterionSpec::IntEquals(u.arbitrary()?),
        6 => CriterionSpec::IntRange { lo: u.arbitrary()?, hi: u.arbitrary()? },
        7 => CriterionSpec::IntMask { mask: u.arbitrary()?, value: u.arbitrary()? },
        _ => CriterionSpec::Regex {
            pattern: (*u.choose(PATTERNS)?).to_string(),
            case_insensitive: u.arbitrary()?,
        },
    })
}

trait TakeString {
    fn arbitrary_take(u: &mut Unstructured) -> Result<String>;
}
impl TakeString for String {
    fn arbitrary_take(u: &mut Unstructured) -> Result<String> {
        let s: &str = u.arbitrary()?;
        Ok(s.chars().take(24).collect())
    }
}

fn spec(u: &mut Unstructured) -> Result<ChannelSpec> {
    let n = u.int_in_range(0..=6usize)?;
    let mut instances = Vec::with_capacity(n);
    let mut id = 0u32;
    for _ in 0..n {
        let t = u.choose(TEMPLATE_TYPES)?;
        let count = match u.int_in_range(0..=15u8)? {
            0 => t.input_count() + 1, // the 19 July 2024 shape
            1 => t.input_count().saturating_sub(1),
            _ => t.input_count(),
        };
        let mut criteria = Vec::with_capacity(count);
        for _ in 0..count {
            criteria.push(criterion(u)?);
        }
        id = id.wrapping_add(u.int_in_range(0..=50u32)?);
        // AND and UNLESS rows, canonical or not: the validator judges.
        let mut rows = [Vec::new(), Vec::new()];
        for list in &mut rows {
            for _ in 0..u.int_in_range(0..=2u8)? {
                let mut row = Vec::with_capacity(count);
                for _ in 0..count {
                    row.push(criterion(u)?);
                }
                list.push(row);
            }
        }
        let [also, unless] = rows;
        // METADATA: sometimes, each field sometimes (the writer adds the
        // section only when one is set).
        let text = |u: &mut Unstructured| -> Result<Option<String>> {
            Ok(if u.ratio(1, 3)? { Some(String::arbitrary_take(u)?) } else { None })
        };
        let metadata = MetadataSpec { title: text(u)?, rule_id: text(u)?, author: text(u)?, reference: text(u)? };
        instances.push(InstanceSpec {
            also,
            unless,
            metadata,
            id,
            template: if u.ratio(1, 32)? { u.arbitrary()? } else { t.id },
            action: *u.choose(&[Action::Report, Action::BlockCandidate, Action::TestCrash])?,
            criteria,
        });
    }
    Ok(ChannelSpec { channel: common::FUZZ_CHANNEL, version: u.arbitrary()?, schema_id: SCHEMA_ID, instances })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(s) = spec(&mut u) else { return };
    let key = common::key();
    let Ok(mut bytes) = build(&s, &key) else { return };
    let original = bytes.clone();
    let body = bytes.len() - changuard_format::layout::TRAILER_LEN;
    let edits = u.int_in_range(0..=4u8).unwrap_or(0);
    for _ in 0..edits {
        let (Ok(at), Ok(v)) = (u.int_in_range(0..=body - 1), u.arbitrary::<u8>()) else { break };
        bytes[at] = v;
    }
    sign(&mut bytes, &key).expect("trailer fits");
    let keys = common::trusted();
    let buf = AlignedBytes::from_slice(&bytes);
    match validate(&buf[..], &Trust::new(&keys), common::FUZZ_CHANNEL) {
        Ok(v) => common::walk(&v),
        Err(r) => {
            // A rejection of unedited content must be a semantic problem of
            // the spec, never a layout problem of the writer.
            if bytes == original {
                assert!(
                    !matches!(
                        r.rule,
                        changuard_format::Rule::BadSectionTable
                            | changuard_format::Rule::SectionOutOfRange
                            | changuard_format::Rule::SectionOverlap
                            | changuard_format::Rule::SectionMisaligned
                            | changuard_format::Rule::SectionLengthMismatch
                            | changuard_format::Rule::UnaccountedBytes
                            | changuard_format::Rule::BadDfa
                            | changuard_format::Rule::Internal
                            | changuard_format::Rule::BadSignature
                    ),
                    "writer produced a malformed layout: {r}"
                );
            }
        }
    }
});
