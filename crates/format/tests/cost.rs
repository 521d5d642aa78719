//! Issue 12: the validator proves a per-event cost bound and rejects content
//! over the per-file ceiling, naming the instance where the bound crossed it.

mod common;

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, build};
use changuard_format::cost::TEMPLATE_CEILING;
use changuard_format::schema::PROCESS_CREATE;
use changuard_format::{
    Action, AlignedBytes, Rejection, Rule, SCHEMA_ID, StrOp, Trust, ValidChannel, validate,
};
use common::*;

fn regex(p: &str) -> CriterionSpec {
    CriterionSpec::Regex {
        pattern: p.into(),
        case_insensitive: false,
    }
}

/// `n` ProcessCreate instances made by `crits(k)`.
fn spec_of(n: u32, crits: impl Fn(u32) -> Vec<CriterionSpec>) -> ChannelSpec {
    ChannelSpec {
        channel: CHANNEL,
        version: 1,
        schema_id: SCHEMA_ID,
        instances: (0..n)
            .map(|k| InstanceSpec {
                also: Vec::new(),
                unless: Vec::new(),
                metadata: Default::default(),
                id: k + 1,
                template: PROCESS_CREATE.id,
                action: Action::Report,
                criteria: crits(k),
            })
            .collect(),
    }
}

fn check(spec: &ChannelSpec) -> Result<ValidChannel<AlignedBytes>, Rejection> {
    let buf = AlignedBytes::from_slice(&build(spec, &key()).expect("builds"));
    validate(buf, &Trust::new(&trusted()), CHANNEL)
}

fn contains_on_command_line(k: u32) -> Vec<CriterionSpec> {
    let mut c = vec![CriterionSpec::Any; PROCESS_CREATE.input_count()];
    c[PROCESS_CREATE.field_index("command_line").unwrap()] = CriterionSpec::Str {
        op: StrOp::Contains,
        value: format!("needle-{k}"),
        case_insensitive: false,
    };
    c
}

#[test]
fn the_rejection_names_the_instance_where_the_bound_crossed_the_ceiling() {
    let spec = spec_of(2_200, contains_on_command_line);
    let r = check(&spec).expect_err("over the ceiling");
    assert_eq!(r.rule, Rule::CostCeiling, "{r}");
    assert_eq!(r.expected, TEMPLATE_CEILING);
    assert_eq!(r.template, Some(PROCESS_CREATE.id));
    let i = r.instance.expect("an instance");
    // The first `i` instances fit, the first `i + 1` do not.
    let under = spec_of(i, contains_on_command_line);
    let v = check(&under).expect("just under the ceiling");
    let b = v.cost_bound().of(PROCESS_CREATE.id).unwrap();
    assert!(b <= TEMPLATE_CEILING, "{b}");
    let over = check(&spec_of(i + 1, contains_on_command_line)).unwrap_err();
    assert_eq!((over.rule, over.instance), (Rule::CostCeiling, Some(i)));
    // `found` is the whole file's bound, and grows with the file.
    assert!(
        r.found > over.found && over.found > TEMPLATE_CEILING,
        "{r} / {over}"
    );
    // The offset is the instance record's.
    let bytes = build(&spec, &key()).unwrap();
    assert_eq!(
        r.offset,
        changuard_format::build::raw::instance(&bytes, i as usize).unwrap() as u64
    );
}

/// The measurement: 65,000 ProcessCreate instances with two
/// unindexable regexes each was valid, signed, and cost 199,813,080 fuel
/// (about 1 s) for one process creation with driver-sized fields. Now it is
/// rejected, and the figure says why. Since `parent_command_line` made every
/// instance one criterion longer, 65,000 of them no longer fit the 16 MiB file
/// cap (refused as too large before their cost is looked at), so 55,000 stand
/// in for them: the cost ceiling, not the size cap, must refuse them.
#[test]
fn the_65000_instance_regex_content_is_rejected() {
    const INSTANCES: u32 = 55_000;
    let ip = PROCESS_CREATE.field_index("image_path").unwrap();
    let cl = PROCESS_CREATE.field_index("command_line").unwrap();
    let spec = spec_of(INSTANCES, |_| {
        let mut c = vec![CriterionSpec::Any; PROCESS_CREATE.input_count()];
        c[ip] = regex("[a-z]$");
        c[cl] = regex("[0-9]$");
        c
    });
    let r = check(&spec).expect_err("over the ceiling");
    assert_eq!(r.rule, Rule::CostCeiling, "{r}");
    // 55,000 x (1,025 + 2,049 + 8) for the instances alone.
    assert!(r.found >= u64::from(INSTANCES) * 3_082, "{r}");
    let text = r.to_string();
    assert!(text.contains("cost-ceiling"), "{text}");
}
