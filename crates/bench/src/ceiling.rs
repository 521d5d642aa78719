//! The dearest content the per-file cost ceiling admits, and the event that
//! makes it work hardest (the fuel-to-time factor).

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec};
use changuard_format::schema::PROCESS_CREATE;
use changuard_format::{Action, SCHEMA_ID, StrOp};

use crate::cmdline::re_cs;
use crate::{OwnedEvent, any, st};

/// The dearest content of one shape that still fits the per-file cost
/// ceiling (issue 12): ProcessCreate instances whose only criterion is on the
/// command line, added while the proven bound stays within
/// `changuard_format::cost::TEMPLATE_CEILING`. `regex`: distinct unindexable
/// patterns (`[0-9a-X]{r}$`, no required literal: every one scans the field);
/// else distinct `contains` needles (every gram present in [`ceiling_event`]).
pub fn ceiling_spec(regex: bool) -> ChannelSpec {
    ceiling_spec_of(regex, false)
}

/// [`ceiling_spec`]'s regexes, each after an integer range that every value
/// matches (`0..=u64::MAX` on `pid`). Evaluation checks the range first, so
/// the regex is not the instance's first criterion and its scan runs alone,
/// not batched with the field's others: the dearer shape per fuel.
pub fn ceiling_spec_after_range() -> ChannelSpec {
    ceiling_spec_of(true, true)
}

fn ceiling_spec_of(regex: bool, after_range: bool) -> ChannelSpec {
    use changuard_format::cost::{TEMPLATE_CEILING, Tally};
    let cl = PROCESS_CREATE.field_index("command_line").unwrap_or(1);
    let pid = PROCESS_CREATE.field_index("pid").unwrap_or(4);
    let make = |k: usize| {
        let mut c = any(&PROCESS_CREATE);
        if after_range {
            c[pid] = CriterionSpec::IntRange {
                lo: 0,
                hi: u64::MAX,
            };
        }
        c[cl] = if regex {
            let end = char::from(b'a' + (k % 26) as u8);
            re_cs(format!("[0-9a-{end}]{{{}}}$", k / 26 % 60 + 1))
        } else {
            st(StrOp::Contains, ceiling_needle(k))
        };
        c
    };
    let k_template = changuard_format::schema::TEMPLATE_TYPES
        .iter()
        .position(|t| t.id == PROCESS_CREATE.id)
        .unwrap_or(0);
    let mut tally = Tally::new(k_template);
    let mut insts = Vec::new();
    for k in 0.. {
        let crits = make(k);
        let mut next = tally;
        next.add(crits.iter().map(|c| match c {
            CriterionSpec::Regex { .. } => changuard_format::Criterion::Regex { dfa: 0 },
            CriterionSpec::Str {
                op,
                value,
                case_insensitive,
            } => changuard_format::Criterion::Str {
                op: *op,
                needle: value.as_str(),
                case_insensitive: *case_insensitive,
            },
            CriterionSpec::IntRange { lo, hi } => {
                changuard_format::Criterion::IntRange { lo: *lo, hi: *hi }
            }
            _ => changuard_format::Criterion::Any,
        }));
        if next.total() > TEMPLATE_CEILING {
            break;
        }
        tally = next;
        insts.push(InstanceSpec {
            also: Vec::new(),
            unless: Vec::new(),
            metadata: Default::default(),
            id: k as u32 + 1,
            template: PROCESS_CREATE.id,
            action: Action::Report,
            criteria: crits,
        });
    }
    ChannelSpec {
        channel: 4000,
        version: 1,
        schema_id: SCHEMA_ID,
        instances: insts,
    }
}

fn ceiling_needle(k: usize) -> String {
    format!("{k:04}")
}

/// A process creation with every string field at its cap: the command line
/// holds every [`ceiling_spec`] needle and ends in a digit (every pattern
/// scans all of it).
pub fn ceiling_event() -> OwnedEvent {
    let strs = PROCESS_CREATE
        .fields
        .iter()
        .filter(|f| f.ty == changuard_format::FieldType::Str)
        .map(|f| {
            let all: String = (0..f.cap as usize / 4).map(ceiling_needle).collect();
            all[..(f.cap as usize).min(all.len())].to_string()
        })
        .collect();
    let ints = PROCESS_CREATE
        .fields
        .iter()
        .filter(|f| f.ty == changuard_format::FieldType::Int)
        .map(|_| 1)
        .collect();
    OwnedEvent {
        template: PROCESS_CREATE.id,
        strs,
        ints,
    }
}
