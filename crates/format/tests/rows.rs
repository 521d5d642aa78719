//! AND and UNLESS rows (docs/FORMAT.md, "Rows"): what valid rows decode to,
//! and the canonical-form rule that keeps one encoding per content.

mod common;

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, build, raw, to_spec};
use changuard_format::schema::PROCESS_CREATE;
use changuard_format::{Action, AlignedBytes, Criterion, Rejection, RowKind, Rule, SCHEMA_ID};
use changuard_format::{StrOp, Trust, ValidChannel, validate};
use common::*;

fn field(name: &str) -> usize {
    PROCESS_CREATE.field_index(name).unwrap()
}

fn contains(v: &str) -> CriterionSpec {
    CriterionSpec::Str {
        op: StrOp::Contains,
        value: v.into(),
        case_insensitive: true,
    }
}

fn row(tests: &[(&str, CriterionSpec)]) -> Vec<CriterionSpec> {
    let mut r = vec![CriterionSpec::Any; PROCESS_CREATE.input_count()];
    for (n, c) in tests {
        r[field(n)] = c.clone();
    }
    r
}

/// `CommandLine|contains|all: [-enc, hidden, bypass]` and not started by
/// explorer or at System integrity.
fn rows_spec() -> ChannelSpec {
    ChannelSpec {
        channel: CHANNEL,
        version: 1,
        schema_id: SCHEMA_ID,
        instances: vec![
            instance(1, &PROCESS_CREATE, 1),
            InstanceSpec {
                id: 2,
                template: PROCESS_CREATE.id,
                action: Action::Report,
                criteria: row(&[("command_line", contains("-enc"))]),
                also: vec![
                    row(&[("command_line", contains("hidden"))]),
                    row(&[("command_line", contains("bypass"))]),
                ],
                unless: vec![
                    row(&[("parent_image_path", contains("\\explorer.exe"))]),
                    row(&[("integrity_level", CriterionSpec::IntEquals(0x4000))]),
                ],
                metadata: Default::default(),
            },
        ],
    }
}

fn check(spec: &ChannelSpec) -> (AlignedBytes, Result<(), Rejection>) {
    let buf = AlignedBytes::from_slice(&build(spec, &key()).expect("builds"));
    let keys = trusted();
    let r = validate(&buf[..], &Trust::new(&keys), CHANNEL).map(|_| ());
    (buf, r)
}

#[test]
fn rows_decode_in_order_and_round_trip() {
    let spec = rows_spec();
    let (buf, r) = check(&spec);
    r.expect("valid rows");
    let keys = trusted();
    let chan: ValidChannel<&[u8]> = validate(&buf[..], &Trust::new(&keys), CHANNEL).unwrap();
    let inst = chan.instance(1).unwrap();
    assert_eq!(
        (inst.and_rows, inst.unless_rows, inst.row_count()),
        (2, 2, 5)
    );
    let kinds: Vec<_> = (0..6).map(|r| inst.row_kind(r)).collect();
    use RowKind::{And, Unless};
    assert_eq!(
        kinds,
        [
            Some(And),
            Some(And),
            Some(And),
            Some(Unless),
            Some(Unless),
            None
        ]
    );
    let cmd = field("command_line");
    let needle = |r| match inst.row_criterion(r, cmd) {
        Some(Criterion::Str { needle, .. }) => needle,
        other => panic!("row {r}: {other:?}"),
    };
    assert_eq!(
        [needle(0), needle(1), needle(2)],
        ["-enc", "hidden", "bypass"]
    );
    assert_eq!(
        inst.row_criterion(4, field("integrity_level")),
        Some(Criterion::IntEquals(0x4000))
    );
    assert_eq!(inst.row_criterion(5, 0), None, "past the last row");
    // The instance before it has no rows; the partition still holds.
    assert_eq!(chan.instance(0).unwrap().row_count(), 1);
    assert_eq!(to_spec(&chan).unwrap(), spec);
}

#[test]
fn an_and_row_testing_a_field_the_row_above_leaves_open_is_rejected() {
    let mut spec = rows_spec();
    // Row 0 tests only the command line; an AND row on the image is the
    // same content as that test moved into row 0.
    spec.instances[1].also[0] = row(&[("image_path", contains("powershell"))]);
    let (buf, r) = check(&spec);
    let r = r.unwrap_err();
    let rec = raw::criterion(&buf[..], PROCESS_CREATE.input_count() * 2).unwrap();
    assert_eq!(
        (r.rule, r.offset, r.instance, r.field),
        (Rule::RowNotCanonical, rec as u64, Some(1), Some(0)),
        "{r}"
    );
    assert_eq!(r.found, 1, "the first AND row");
}

#[test]
fn a_row_that_tests_nothing_is_rejected() {
    for which in ["also", "unless"] {
        let mut spec = rows_spec();
        let empty = row(&[]);
        let at_row = if which == "also" {
            spec.instances[1].also[1] = empty;
            2
        } else {
            spec.instances[1].unless[0] = empty;
            3
        };
        let (buf, r) = check(&spec);
        let r = r.unwrap_err();
        let n = PROCESS_CREATE.input_count();
        let rec = raw::criterion(&buf[..], n + at_row * n).unwrap();
        assert_eq!(
            (r.rule, r.offset, r.found),
            (Rule::RowNotCanonical, rec as u64, at_row as u64),
            "{which}: {r}"
        );
    }
}

#[test]
fn every_row_counts_in_the_cost_bound() {
    let keys = trusted();
    let bound = |spec: &ChannelSpec| {
        let buf = AlignedBytes::from_slice(&build(spec, &key()).unwrap());
        let chan = validate(&buf[..], &Trust::new(&keys), CHANNEL).unwrap();
        chan.cost_bound().of(PROCESS_CREATE.id).unwrap()
    };
    let with = rows_spec();
    let mut without = with.clone();
    without.instances[1].also.clear();
    without.instances[1].unless.clear();
    let cap = u64::from(PROCESS_CREATE.fields[field("command_line")].cap);
    // Two more command-line contains tests cost at least a scan each.
    assert!(
        bound(&with) >= bound(&without) + 2 * cap,
        "{} {}",
        bound(&with),
        bound(&without)
    );
}
