//! Issue 12: the validator's proven per-event bound (changuard_format::cost),
//! computed from the content alone, is never exceeded by the engine's actual
//! fuel on events the driver can deliver (string fields truncated to the
//! schema's caps), for random content and random or cap-filling adversarial
//! events, with one engine built from every channel (as the driver does).

mod common;

use changuard_format::CostBound;
use changuard_format::schema::template_type;
use changuard_interp::{Engine, Verdict};
use common::*;
use proptest::prelude::*;

/// `s` cut to at most `cap` bytes at a char boundary (the driver's truncation).
fn truncate(s: &str, cap: usize) -> String {
    let mut end = s.len().min(cap);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// `ev` as the driver would deliver it.
fn deliverable(mut ev: OwnedEvent) -> OwnedEvent {
    let t = template_type(ev.template).expect("template");
    for (v, f) in ev.values.iter_mut().zip(t.fields) {
        if let OwnedValue::Str(s) = v {
            *s = truncate(s, usize::from(f.cap));
        }
    }
    ev
}

/// Every string field filled to its cap by repeating `seed` (worst case for
/// contains, regex and the gram scan).
fn filled(mut ev: OwnedEvent, seed: &str) -> OwnedEvent {
    let t = template_type(ev.template).expect("template");
    let seed = if seed.is_empty() { "a" } else { seed };
    for (v, f) in ev.values.iter_mut().zip(t.fields) {
        if let OwnedValue::Str(s) = v {
            let cap = usize::from(f.cap);
            *s = truncate(&seed.repeat(cap / seed.len() + 1), cap);
        }
    }
    ev
}

fn check(
    specs: &[changuard_format::build::ChannelSpec],
    events: &[OwnedEvent],
    seed: &str,
) -> Result<(), TestCaseError> {
    check_with(specs, events, seed, &Default::default())
}

fn check_with(
    specs: &[changuard_format::build::ChannelSpec],
    events: &[OwnedEvent],
    seed: &str,
    options: &changuard_format::build::BuildOptions,
) -> Result<(), TestCaseError> {
    // Every needle of the content, repeated: makes every gram and most
    // anchored candidates fire.
    let needles: String = specs
        .iter()
        .flat_map(|s| s.instances.iter())
        .flat_map(|i| i.criteria.iter())
        .filter_map(|c| match c {
            changuard_format::build::CriterionSpec::Str { value, .. } => Some(value.as_str()),
            _ => None,
        })
        .chain([seed])
        .collect();
    let (bufs, tk) = build_aligned_with(specs, options);
    let chans = validate_all(&bufs, specs, &tk);
    let bound = chans
        .iter()
        .fold(CostBound::default(), |acc, c| acc.plus(&c.cost_bound()));
    let engine = Engine::new(&chans).expect("engine");
    let mut v = Verdict::new();
    for raw in events {
        for ev in [deliverable(raw.clone()), filled(raw.clone(), &needles)] {
            ev.with(|e| engine.evaluate(e, &mut v));
            let b = bound.of(ev.template).expect("template");
            prop_assert!(!v.fuel_exhausted);
            // Every byte a DFA scan reads was charged (len + 1 per scan).
            prop_assert!(
                v.scanned_bytes + u64::from(v.dfa_scans) <= v.fuel_used,
                "{} scans of {} bytes, fuel {}",
                v.dfa_scans,
                v.scanned_bytes,
                v.fuel_used
            );
            prop_assert!(
                v.fuel_used <= b,
                "fuel used {} > proven bound {} (template {})",
                v.fuel_used,
                b,
                ev.template
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn fuel_used_never_exceeds_the_proven_bound(
        (specs, events, seed) in channel_specs().prop_flat_map(|specs| {
            let evs = prop::collection::vec(event_for(&specs), 1..12);
            (Just(specs), evs, token_string(3))
        })
    ) {
        check(&specs, &events, &seed)?;
    }

    /// Regex groups (issue 12 item 2): one scan per group and event is what
    /// the bound counts, and what the engine does.
    #[test]
    fn fuel_used_never_exceeds_the_proven_bound_with_regex_groups(
        (specs, events, seed) in regex_heavy_specs().prop_flat_map(|specs| {
            let evs = prop::collection::vec(event_for(&specs), 1..12);
            (Just(specs), evs, token_string(3))
        })
    ) {
        let grouped = changuard_format::build::BuildOptions { group_regexes: true };
        check_with(&specs, &events, &seed, &grouped)?;
    }
}

/// The bound is not vacuous: a content set whose worst event is dear gets a
/// bound of the same order as what that event really costs (within 4x).
#[test]
fn the_bound_is_tight_enough_to_mean_something() {
    use changuard_format::StrOp;
    use changuard_format::build::CriterionSpec;
    use changuard_format::schema::PROCESS_CREATE;
    let cl = PROCESS_CREATE.field_index("command_line").unwrap();
    let instances = (0..200)
        .map(|k| {
            let mut crits = vec![CriterionSpec::Any; PROCESS_CREATE.input_count()];
            crits[cl] = s(StrOp::Contains, &format!("needle{k:03}x"), false);
            changuard_format::build::InstanceSpec {
                also: Vec::new(),
                unless: Vec::new(),
                metadata: Default::default(),
                id: k + 1,
                template: PROCESS_CREATE.id,
                action: changuard_format::Action::Report,
                criteria: crits,
            }
        })
        .collect();
    let specs = vec![spec(300, instances)];
    let (bufs, tk) = build_aligned(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let bound = chans[0].cost_bound().of(PROCESS_CREATE.id).unwrap();
    // Every needle's gram present: every instance is a candidate.
    let all: String = (0..200).map(|k| format!("needle{k:03}x")).collect();
    let mut vals = vec![OwnedValue::Int(0); PROCESS_CREATE.input_count()];
    for (k, f) in PROCESS_CREATE.fields.iter().enumerate() {
        if f.ty == changuard_format::FieldType::Str {
            vals[k] = OwnedValue::Str(truncate(&all, usize::from(f.cap)));
        }
    }
    let ev = OwnedEvent {
        template: PROCESS_CREATE.id,
        values: vals,
    };
    let engine = Engine::new(&chans).unwrap();
    let mut v = Verdict::new();
    ev.with(|e| engine.evaluate(e, &mut v));
    assert!(v.fuel_used <= bound);
    assert!(
        v.fuel_used * 4 >= bound,
        "bound {bound} is over 4x the dearest event's {}",
        v.fuel_used
    );
}

/// The scan counters: a regex group is scanned once per event however many of
/// its patterns are candidates; a regex on its own is one scan; both read the
/// whole field.
#[test]
fn scan_counters_count_each_dfa_scan_once() {
    use changuard_format::Action;
    use changuard_format::build::CriterionSpec;
    use changuard_format::schema::PROCESS_CREATE;
    let re = |p: &str| CriterionSpec::Regex {
        pattern: p.to_string(),
        case_insensitive: false,
    };
    let instances = vec![
        inst(
            1,
            &PROCESS_CREATE,
            Action::Report,
            &[("command_line", re("evil[0-9]a"))],
        ),
        inst(
            2,
            &PROCESS_CREATE,
            Action::Report,
            &[("command_line", re("evil[0-9]b"))],
        ),
        inst(
            3,
            &PROCESS_CREATE,
            Action::Report,
            &[("command_line", re("[xy]z[0-9]{3}"))],
        ),
    ];
    let specs = vec![spec(300, instances)];
    let (bufs, tk) = build_grouped(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    assert_eq!(
        engine.stats().groups,
        1,
        "the two `evil` regexes form one group"
    );
    let cmd = "run evil1a and evil2b then yz123";
    let mut v = process_event(&engine, "command_line", cmd);
    assert_eq!(v.matches().len(), 3);
    assert_eq!(v.dfa_scans, 2, "one group scan, one single search");
    assert_eq!(v.scanned_bytes, 2 * cmd.len() as u64);
    v.clear();
    assert_eq!((v.dfa_scans, v.scanned_bytes), (0, 0));
}

/// A literal set (docs/FORMAT.md, "Literal sets") makes a regex group an
/// entry of the gram index under each member's gram. A field containing two
/// members fires the group once: the second hit costs one fuel unit, not a
/// second pass over the group's instances. A field with no member does not
/// scan the group at all.
#[test]
fn a_literal_set_fires_its_group_once() {
    use changuard_format::Action;
    use changuard_format::build::CriterionSpec;
    use changuard_format::schema::PROCESS_CREATE;
    let re = |p: &str| CriterionSpec::Regex {
        pattern: p.to_string(),
        case_insensitive: false,
    };
    // Two regexes of one family (a group), each used by 12 instances (all
    // 24 matches fit in a verdict).
    let instances = (0..24u32)
        .map(|i| {
            let p = if i % 2 == 0 {
                "(postex_|pipe)[0-9a-f]{2}"
            } else {
                "(postex_|pipe)[0-9a-f]{3}"
            };
            inst(
                i + 1,
                &PROCESS_CREATE,
                Action::Report,
                &[("command_line", re(p))],
            )
        })
        .collect();
    let specs = vec![spec(301, instances)];
    with_one_set_group(&specs, |engine| {
        let run = |cmd: &str| process_event(engine, "command_line", cmd);
        // Same length; the second also holds the other member.
        let one = run("x postex_9fa zzzz");
        let two = run("x postex_9fa pipe");
        assert_eq!((one.matches().len(), two.matches().len()), (24, 24));
        assert_eq!((one.dfa_scans, two.dfa_scans), (1, 1));
        let extra = two.fuel_used - one.fuel_used;
        assert!(
            extra < 10,
            "a second member's hit cost {extra} fuel: the group fired twice"
        );
        let none = run("x p0stex_9fa zzzzzz");
        assert_eq!((none.matches().len(), none.dfa_scans), (0, 0));
    });
}

/// A regex family repeats its set in every member's hint: 40 regexes with
/// the same 8 members are 320 members before deduplication and 8 after.
/// The group is anchored on the 8 (it was scanned on every event while the
/// engine capped the members before deduplicating them).
#[test]
fn a_set_group_repeating_its_members_is_anchored() {
    use changuard_format::Action;
    use changuard_format::build::CriterionSpec;
    use changuard_format::schema::PROCESS_CREATE;
    let instances = (0..40u32)
        .map(|i| {
            let pattern = format!(
                "(aaaa|bbbb|cccc|dddd|eeee|ffff|gggg|hhhh)[0-9]{{{}}}z",
                i + 1
            );
            inst(
                i + 1,
                &PROCESS_CREATE,
                Action::Report,
                &[(
                    "command_line",
                    CriterionSpec::Regex {
                        pattern,
                        case_insensitive: false,
                    },
                )],
            )
        })
        .collect();
    let specs = vec![spec(302, instances)];
    with_one_set_group(&specs, |engine| {
        let none = process_event(engine, "command_line", "no member here 123z");
        assert_eq!((none.matches().len(), none.dfa_scans), (0, 0));
        let hit = process_event(engine, "command_line", "x gggg123z");
        assert_eq!((hit.matches().len(), hit.dfa_scans), (1, 1));
    });
}

/// A gram hit is confirmed before it fires: a field holding every 4-byte
/// gram of a regex's literal but not the literal scans nothing; the case of
/// a case-sensitive literal counts; a field full of failed confirmations
/// runs out of budget and falls back to firing on the gram, so the match at
/// its end is still found.
#[test]
fn a_gram_fires_only_where_its_needle_occurs() {
    use changuard_format::Action;
    use changuard_format::build::CriterionSpec;
    use changuard_format::schema::PROCESS_CREATE;
    let re = |p: &str, ci: bool| CriterionSpec::Regex {
        pattern: p.to_string(),
        case_insensitive: ci,
    };
    let instances = vec![
        inst(
            1,
            &PROCESS_CREATE,
            Action::Report,
            &[("command_line", re("certutil[0-9]", false))],
        ),
        inst(
            2,
            &PROCESS_CREATE,
            Action::Report,
            &[("image_path", re("CertUtil[0-9]", false))],
        ),
        inst(
            3,
            &PROCESS_CREATE,
            Action::Report,
            &[("parent_image_path", re("bitsadmin[0-9]", true))],
        ),
    ];
    let specs = vec![spec(302, instances)];
    let (bufs, tk) = build_grouped(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    assert_eq!(engine.literal_stats().proven, 3);
    let run = |field: &str, value: &str| {
        let v = process_event(&engine, field, value);
        (v.matches().len(), v.dfa_scans)
    };
    // Every gram of `certutil`, never the literal.
    assert_eq!(run("command_line", "cert ertu rtut tuti util 5"), (0, 0));
    assert_eq!(run("command_line", "x certutil5"), (1, 1));
    // Case-sensitive: the folded gram occurs, the literal does not.
    assert_eq!(run("image_path", "c:\\certutil5"), (0, 0));
    assert_eq!(run("image_path", "c:\\CertUtil5"), (1, 1));
    // Folded: any case confirms.
    assert_eq!(run("parent_image_path", "c:\\BITSADMIN5"), (1, 1));
    // 600 failed confirmations of 8 bytes each exceed the field's budget.
    let mut long = "cert".repeat(600);
    long.push_str("certutil5");
    assert_eq!(run("command_line", &long), (1, 1));
}

/// A regex of its own with a literal set is reached through each member's
/// gram and evaluated once however many members occur (a second evaluation
/// would report the instance twice); a field with no member scans nothing.
#[test]
fn a_single_regex_with_a_literal_set_is_evaluated_once() {
    use changuard_format::Action;
    use changuard_format::build::CriterionSpec;
    use changuard_format::schema::PROCESS_CREATE;
    let re = |p: &str| CriterionSpec::Regex {
        pattern: p.to_string(),
        case_insensitive: false,
    };
    let instances = vec![inst(
        1,
        &PROCESS_CREATE,
        Action::Report,
        &[("command_line", re("(postex_|pipe)[0-9a-f]{2}"))],
    )];
    let specs = vec![spec(303, instances)];
    let (bufs, tk) = build_aligned(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    let ls = engine.literal_stats();
    assert_eq!((ls.single_sets, ls.anchors), (1, 1), "{ls:?}");
    let run = |cmd: &str| {
        let v = process_event(&engine, "command_line", cmd);
        (v.matches().len(), v.dfa_scans)
    };
    assert_eq!(run("x postex_9f and pipe0a"), (1, 1));
    assert_eq!(run("x pipe0a"), (1, 1));
    assert_eq!(run("x p0stex_9f p1pe0a"), (0, 0));
}

/// Evaluate a ProcessCreate event whose string fields are empty but `field`,
/// which holds `value` (integers 0).
fn process_event(engine: &Engine<'_>, field: &str, value: &str) -> Verdict {
    use changuard_format::schema::PROCESS_CREATE;
    let mut vals = vec![OwnedValue::Int(0); PROCESS_CREATE.input_count()];
    for (k, f) in PROCESS_CREATE.fields.iter().enumerate() {
        if f.ty == changuard_format::FieldType::Str {
            vals[k] = OwnedValue::Str(String::new());
        }
    }
    vals[PROCESS_CREATE.field_index(field).unwrap()] = OwnedValue::Str(value.to_string());
    let ev = OwnedEvent {
        template: PROCESS_CREATE.id,
        values: vals,
    };
    let mut v = Verdict::new();
    ev.with(|e| engine.evaluate(e, &mut v));
    v
}

/// Build `specs` with regex groups, check that they make one group anchored
/// on its literal set, and run `f` on the engine.
fn with_one_set_group(specs: &[changuard_format::build::ChannelSpec], f: impl FnOnce(&Engine<'_>)) {
    let (bufs, tk) = build_grouped(specs);
    let chans = validate_all(&bufs, specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    assert_eq!(engine.stats().groups, 1);
    assert_eq!(
        engine.literal_stats().sets,
        1,
        "{:?}",
        engine.literal_stats()
    );
    f(&engine);
}

/// `specs` built with regex groups.
fn build_grouped(
    specs: &[changuard_format::build::ChannelSpec],
) -> (
    Vec<changuard_format::AlignedBytes>,
    changuard_format::TrustedKey,
) {
    build_aligned_with(
        specs,
        &changuard_format::build::BuildOptions {
            group_regexes: true,
        },
    )
}
