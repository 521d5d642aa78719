//! Differential tests: the indexed engine and the naive reference agree on
//! random content and random (including adversarial) events.

mod common;

use changuard_format::build::CriterionSpec;
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE, PROCESS_CREATE_INPUTS};
use changuard_format::{Action, StrOp};
use changuard_interp::reference::Reference;
use changuard_interp::{Engine, Event, MAX_MATCHES, Value, Verdict};
use common::*;
use proptest::prelude::*;

fn compare(e: &Engine<'_>, r: &Reference<'_>, ev: &Event<'_>) -> Result<(), TestCaseError> {
    let mut a = Verdict::new();
    let mut b = Verdict::new();
    e.evaluate(ev, &mut a);
    r.evaluate(ev, &mut b);
    prop_assert!(
        !a.fuel_exhausted,
        "default budget exhausted: used {} of {}",
        a.fuel_used,
        e.max_fuel_per_event(ev.template())
    );
    prop_assert_eq!(a.matches(), b.matches(), "event {:?}", ev);
    prop_assert_eq!(a.truncated, b.truncated);
    prop_assert_eq!(a.faults, b.faults);
    prop_assert!(a.fuel_used <= e.max_fuel_per_event(ev.template()));
    MATCHES.fetch_add(a.matches().len() as u64, Ordering::Relaxed);
    EVENTS.fetch_add(1, Ordering::Relaxed);
    if a.faults > 0 {
        FAULTY.fetch_add(1, Ordering::Relaxed);
    }
    if a.truncated {
        TRUNC.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

use std::sync::atomic::{AtomicU64, Ordering};
static MATCHES: AtomicU64 = AtomicU64::new(0);
static EVENTS: AtomicU64 = AtomicU64::new(0);
static FAULTY: AtomicU64 = AtomicU64::new(0);
static TRUNC: AtomicU64 = AtomicU64::new(0);

/// The generators must exercise matches, faults and truncation, or the
/// differential test proves little. Runs after the property (same process).
#[test]
fn zz_generators_are_not_vacuous() {
    // Run the property's body on its own here so this test does not depend on
    // test ordering.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &channel_specs().prop_flat_map(|specs| {
                let evs = prop::collection::vec(event_for(&specs), 1..24);
                (Just(specs), evs)
            }),
            |(specs, events)| {
                let (bufs, tk) = build_aligned(&specs);
                let chans = validate_all(&bufs, &specs, &tk);
                let engine = Engine::new(&chans).expect("engine");
                let reference = Reference::new(&chans).expect("reference");
                for ev in &events {
                    ev.with(|ev| compare(&engine, &reference, ev))?;
                }
                Ok(())
            },
        )
        .unwrap();
    let (m, e, f, t) = (
        MATCHES.load(Ordering::Relaxed),
        EVENTS.load(Ordering::Relaxed),
        FAULTY.load(Ordering::Relaxed),
        TRUNC.load(Ordering::Relaxed),
    );
    eprintln!("events {e}, matches {m}, events with faults {f}, truncated {t}");
    assert!(m > e / 4, "too few matches: {m} in {e} events");
    assert!(f > 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn engine_equals_reference(
        (specs, events) in channel_specs().prop_flat_map(|specs| {
            let evs = prop::collection::vec(event_for(&specs), 1..24);
            (Just(specs), evs)
        })
    ) {
        let (bufs, tk) = build_aligned(&specs);
        let chans = validate_all(&bufs, &specs, &tk);
        let engine = Engine::new(&chans).expect("engine");
        let reference = Reference::new(&chans).expect("reference");
        for ev in &events {
            ev.with(|ev| compare(&engine, &reference, ev))?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Issue 12 item 2: regex groups change no verdict. The same content built
    /// with and without groups gives the same matches, faults and truncation
    /// on every event; the grouped engine agrees with the reference (which
    /// reads a group with regex-automata's overlapping search, not the
    /// engine's hand-written scan) and stays within its fuel bound. So does
    /// an engine with one group cache slot per template type, whose other
    /// groups are scanned on every use (the path of content with more groups
    /// than `GROUP_SLOTS`).
    #[test]
    fn regex_groups_change_no_verdict(
        (specs, events) in regex_heavy_specs().prop_flat_map(|specs| {
            let evs = prop::collection::vec(event_for(&specs), 1..24);
            (Just(specs), evs)
        })
    ) {
        let grouped = changuard_format::build::BuildOptions { group_regexes: true };
        let (gb, tk) = build_aligned_with(&specs, &grouped);
        let (sb, _) = build_aligned(&specs);
        let gc = validate_all(&gb, &specs, &tk);
        let sc = validate_all(&sb, &specs, &tk);
        let ge = Engine::new(&gc).expect("engine");
        let se = Engine::new(&sc).expect("engine");
        let one_slot = changuard_interp::EngineConfig {
            group_slots: 1,
            ..changuard_interp::EngineConfig::default()
        };
        let oe = Engine::with_config(&gc, one_slot).expect("engine");
        let reference = Reference::new(&gc).expect("reference");
        GROUPS.fetch_add(u64::from(ge.stats().groups), Ordering::Relaxed);
        for ev in &events {
            ev.with(|ev| {
                compare(&ge, &reference, ev)?;
                compare(&oe, &reference, ev)?;
                let (mut a, mut b) = (Verdict::new(), Verdict::new());
                ge.evaluate(ev, &mut a);
                se.evaluate(ev, &mut b);
                prop_assert_eq!(a.matches(), b.matches());
                prop_assert_eq!((a.faults, a.truncated), (b.faults, b.truncated));
                GROUP_MATCHES.fetch_add(a.matches().len() as u64, Ordering::Relaxed);
                Ok(())
            })?;
        }
    }
}

static GROUPS: AtomicU64 = AtomicU64::new(0);
static GROUP_MATCHES: AtomicU64 = AtomicU64::new(0);

/// The grouped property must have built groups and seen matches.
#[test]
fn zz_regex_groups_were_exercised() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 32,
        ..ProptestConfig::default()
    });
    let grouped = changuard_format::build::BuildOptions {
        group_regexes: true,
    };
    let (groups, matches, sets) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    runner
        .run(
            &regex_heavy_specs().prop_flat_map(|specs| {
                let evs = prop::collection::vec(event_for(&specs), 1..24);
                (Just(specs), evs)
            }),
            |(specs, events)| {
                let (gb, tk) = build_aligned_with(&specs, &grouped);
                let gc = validate_all(&gb, &specs, &tk);
                let ge = Engine::new(&gc).expect("engine");
                groups.fetch_add(u64::from(ge.stats().groups), Ordering::Relaxed);
                sets.fetch_add(u64::from(ge.literal_stats().sets), Ordering::Relaxed);
                let mut v = Verdict::new();
                for ev in &events {
                    ev.with(|ev| ge.evaluate(ev, &mut v));
                    matches.fetch_add(v.matches().len() as u64, Ordering::Relaxed);
                }
                Ok(())
            },
        )
        .unwrap();
    let (groups, matches, sets) = (groups.into_inner(), matches.into_inner(), sets.into_inner());
    eprintln!("groups {groups} ({sets} on a literal set), matches {matches}");
    assert!(groups > 32, "too few groups: {groups}");
    assert!(sets > 8, "too few groups on a literal set: {sets}");
    assert!(matches > 32, "too few matches: {matches}");
}

#[test]
fn basic_detections_and_order() {
    let pc = &PROCESS_CREATE;
    let specs = vec![
        spec(
            300,
            vec![
                inst(
                    5,
                    pc,
                    Action::Report,
                    &[("image_path", s(StrOp::Suffix, "\\mimikatz.exe", true))],
                ),
                inst(
                    9,
                    pc,
                    Action::BlockCandidate,
                    &[
                        ("command_line", s(StrOp::Contains, "-EncodedCommand", true)),
                        (
                            "integrity_level",
                            CriterionSpec::IntRange {
                                lo: 0x2000,
                                hi: 0x3000,
                            },
                        ),
                    ],
                ),
            ],
        ),
        spec(
            291,
            vec![
                inst(
                    1,
                    pc,
                    Action::Report,
                    &[(
                        "image_path",
                        CriterionSpec::Regex {
                            pattern: r"(?i)\\users\\[^\\]+\\appdata\\.*\.exe$".into(),
                            case_insensitive: false,
                        },
                    )],
                ),
                inst(
                    2,
                    pc,
                    Action::Report,
                    &[(
                        "parent_image_path",
                        s(StrOp::Equals, r"C:\Windows\explorer.exe", true),
                    )],
                ),
                inst(
                    3,
                    pc,
                    Action::Report,
                    &[("pid", CriterionSpec::IntEquals(4))],
                ),
            ],
        ),
    ];
    let (bufs, tk) = build_aligned(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    let mut v = Verdict::new();
    let ev = Event::ProcessCreate([
        Value::Str(r"C:\Users\José\AppData\Local\Temp\MIMIKATZ.EXE"),
        Value::Str("powershell -encodedcommand SQBFAFgA"),
        Value::Str(r"c:\windows\EXPLORER.exe"),
        Value::Str("S-1-5-21-1-2-3-1001"),
        Value::Int(4242),
        Value::Int(1000),
        Value::Int(1000),
        Value::Int(1),
        Value::Int(0x2000),
        Value::Int(0),
        Value::Str(r"C:\Windows\Explorer.EXE"),
    ]);
    engine.evaluate(&ev, &mut v);
    let got: Vec<(u32, u32)> = v
        .matches()
        .iter()
        .map(|m| (m.channel, m.instance))
        .collect();
    assert_eq!(got, vec![(291, 1), (291, 2), (300, 5), (300, 9)]);
    assert_eq!(v.faults, 0);
    assert!(!v.fuel_exhausted);
    let st = engine.stats();
    assert_eq!(st.instances, 5);
    // The regex-only instance is anchored on its required literal
    // `\appdata\` (folded; `\users\` is cut by (?i)s, which also matches ſ).
    assert_eq!(st.always, 0, "{st:?}");
    let ls = engine.literal_stats();
    assert_eq!(
        (ls.hints, ls.proven, ls.unproven, ls.anchors),
        (1, 1, 0, 1),
        "{ls:?}"
    );
    assert_eq!(st.dfas_prefiltered, 1, "{st:?}"); // needs '\\', 'a', 'p', '.', ...
}

fn all_any_specs(n: u32) -> Vec<changuard_format::build::ChannelSpec> {
    let pc = &PROCESS_CREATE;
    vec![spec(
        7,
        (1..=n)
            .map(|i| {
                inst(
                    i,
                    pc,
                    Action::Report,
                    &[("image_path", s(StrOp::Contains, "e", false))],
                )
            })
            .collect(),
    )]
}

fn pc_event(image: &str) -> [Value<'_>; PROCESS_CREATE_INPUTS] {
    [
        Value::Str(image),
        Value::Str(""),
        Value::Str(""),
        Value::Str(""),
        Value::Int(1),
        Value::Int(2),
        Value::Int(3),
        Value::Int(4),
        Value::Int(5),
        Value::Int(6),
        Value::Str(""),
    ]
}

#[test]
fn truncation_keeps_smallest_ids() {
    let specs = all_any_specs(100);
    let (bufs, tk) = build_aligned(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    let mut v = Verdict::new();
    engine.evaluate(&Event::ProcessCreate(pc_event("e.exe")), &mut v);
    assert!(v.truncated);
    let ids: Vec<u32> = v.matches().iter().map(|m| m.instance).collect();
    assert_eq!(ids, (1..=MAX_MATCHES as u32).collect::<Vec<_>>());
}

#[test]
fn fuel_exhaustion_stops_and_reports_matches_so_far() {
    let specs = all_any_specs(10);
    let (bufs, tk) = build_aligned(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    let ev = Event::ProcessCreate(pc_event("e.exe"));
    let mut full = Verdict::new();
    engine.evaluate(&ev, &mut full);
    assert_eq!(full.matches().len(), 10);
    assert!(!full.fuel_exhausted);
    // Each instance costs 1 + len(field) = 6 fuel; the type check costs one
    // per field (11).
    let check = PROCESS_CREATE_INPUTS as u64;
    assert_eq!(full.fuel_used, check + 10 * 6);
    for budget in 0..full.fuel_used {
        let mut v = Verdict::new();
        engine.evaluate_with_fuel(&ev, budget, &mut v);
        assert!(v.fuel_exhausted, "budget {budget}");
        assert!(v.fuel_used <= budget);
        // Matches so far: a prefix (in evaluation order) of the full result.
        let expect = (budget.saturating_sub(check) / 6) as usize;
        assert_eq!(v.matches().len(), expect, "budget {budget}");
        assert_eq!(v.matches(), &full.matches()[..expect]);
    }
    let mut v = Verdict::new();
    engine.evaluate_with_fuel(&ev, full.fuel_used, &mut v);
    assert!(!v.fuel_exhausted);
    assert_eq!(v, full);
    // An event with a field far over the cap still stays within the budget.
    let long = "x".repeat(100_000);
    engine.evaluate(&Event::ProcessCreate(pc_event(&long)), &mut v);
    assert!(v.fuel_exhausted);
    assert!(v.fuel_used <= engine.max_fuel_per_event(&PROCESS_CREATE));
}

#[test]
fn wrong_value_type_is_a_fault_not_a_match() {
    let pc = &PROCESS_CREATE;
    let np = &NAMED_PIPE_CREATE;
    let specs = vec![spec(
        1,
        vec![
            inst(
                1,
                pc,
                Action::Report,
                &[("pid", CriterionSpec::IntEquals(4))],
            ),
            inst(
                2,
                pc,
                Action::Report,
                &[("image_path", s(StrOp::Prefix, "c:\\", true))],
            ),
            inst(
                3,
                np,
                Action::Report,
                &[("pipe_name", s(StrOp::Contains, "msagent_", true))],
            ),
        ],
    )];
    let (bufs, tk) = build_aligned(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    let reference = Reference::new(&chans).unwrap();
    let mut vals = pc_event("C:\\x.exe");
    vals[4] = Value::Str("4"); // pid as a string
    vals[0] = Value::Int(7); // image path as an integer
    let ev = Event::ProcessCreate(vals);
    let mut v = Verdict::new();
    engine.evaluate(&ev, &mut v);
    assert!(v.is_empty());
    assert_eq!(v.faults, 2);
    let mut r = Verdict::new();
    reference.evaluate(&ev, &mut r);
    assert_eq!(r.faults, 2);
    assert!(r.is_empty());
    let mut pipe = [Value::Int(0); 20];
    pipe[0] = Value::Str(r"\Device\NamedPipe\MSAgent_7f");
    let mut v = Verdict::new();
    engine.evaluate(&Event::NamedPipeCreate(pipe), &mut v);
    assert_eq!(v.faults, 5, "fields 1..=5 are strings given as ints");
    assert_eq!(v.matches().len(), 1);
}

#[test]
fn regex_prefilter_is_exact() {
    // Required classes skip the DFA only when a match is impossible.
    let pc = &PROCESS_CREATE;
    let pats = [
        r"mimikatz",
        r"(?i)MIMIKATZ",
        r"a|b",
        r"^\\x",
        r"[0-9]{3}$",
        r"é",
        r"(?i)ß",
        r"x*",
        r"(foo|bar)baz",
    ];
    let specs = vec![spec(
        1,
        pats.iter()
            .enumerate()
            .map(|(i, p)| {
                inst(
                    i as u32 + 1,
                    pc,
                    Action::Report,
                    &[(
                        "command_line",
                        CriterionSpec::Regex {
                            pattern: p.to_string(),
                            case_insensitive: false,
                        },
                    )],
                )
            })
            .collect(),
    )];
    let (bufs, tk) = build_aligned(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    let reference = Reference::new(&chans).unwrap();
    assert!(engine.stats().dfas_prefiltered >= 5, "{:?}", engine.stats());
    for cmd in [
        "mimikatz",
        "MimiKatz.exe",
        "mimikat",
        "a",
        "b",
        "\\x",
        "abc123",
        "é",
        "SS",
        "ẞ",
        "ß",
        "",
        "foobaz",
        "barbaz",
        "fooba",
        "zzzz",
    ] {
        let mut vals = pc_event("");
        vals[1] = Value::Str(cmd);
        let ev = Event::ProcessCreate(vals);
        let (mut a, mut b) = (Verdict::new(), Verdict::new());
        engine.evaluate(&ev, &mut a);
        reference.evaluate(&ev, &mut b);
        assert_eq!(a.matches(), b.matches(), "{cmd:?}");
    }
}

/// Field strings for the regex-literal tests: case variants, KELVIN SIGN and
/// LONG S (which (?i)k / (?i)s match), other non-ASCII, near misses.
const LIT_FIELDS: &[&str] = &[
    "",
    "certutil -urlcache -f http://x/y",
    "CERTUTIL -URLCACHE -F HTTPS://X/Y",
    "certutil -UrlCache https://",
    "certutil -urlcach https://",
    "-urlcache",
    r"\\.\pipe\MSSE-123-server",
    r"\\.\pipe\msse-123-server",
    r"\\.\pipe\MSSE-123-SERVER",
    r"\\.\pipe\MSSE--server",
    "mimikatz.exe",
    "MIMIKATZ",
    "mimiKatz",
    "mimi\u{212A}atz",
    "mimikatſ",
    "MIMI\u{212A}ATZ and mimi",
    "powerſhell -enc",
    "POWERSHELL -ENC",
    "PowerShell.exe -EncodedCommand",
    r"C:\Users\Олег\AppData\Local\Temp\счет_2024.exe",
    r"c:\users\олег\appdata\local\temp\счет_2024.EXE",
    r"C:\USERS\X\APPDATA\LOCAL\TEMP\É.exe",
    r"C:\Users\x\AppData\Local\Temp\plain.exe",
    "счет_42",
    "СЧЕТ_42",
    "😀pipe😀",
    "éxe.exe",
    "ÉXE.EXE",
];

const LIT_PATTERNS: &[(&str, bool)] = &[
    (r"-urlcache.*https?://", true),
    (r"\\MSSE-[0-9]{1,5}-server$", false),
    (r"(?i)mimikatz", false),
    (r"mimikatz", true),
    (r"(?i)power[s]hell.*-enc", false),
    (r"(?i-u)powershell", false),
    (
        r"(?i)\\appdata\\local\\temp\\[^\\]*[^\x00-\x7f][^\\]*\.exe$",
        false,
    ),
    (r"счет_\d+", false),
    (r"(?i)счет_\d+", false),
    (r"😀pipe", false),
    (r"(?i)éxe\.exe", false),
    (r"[Mm]imi[Kk]atz", false),
];

fn lit_specs() -> Vec<changuard_format::build::ChannelSpec> {
    let pc = &PROCESS_CREATE;
    let re = |p: &str, ci: bool| CriterionSpec::Regex {
        pattern: p.to_string(),
        case_insensitive: ci,
    };
    let mut insts = Vec::new();
    for (i, &(p, ci)) in LIT_PATTERNS.iter().enumerate() {
        let id = 10 * i as u32;
        // Regex-only, on two fields.
        insts.push(inst(
            id + 1,
            pc,
            Action::Report,
            &[("command_line", re(p, ci))],
        ));
        insts.push(inst(
            id + 2,
            pc,
            Action::Report,
            &[("image_path", re(p, ci))],
        ));
        // Regex + a short literal (regex literal wins the anchor) ...
        insts.push(inst(
            id + 3,
            pc,
            Action::Report,
            &[
                ("command_line", re(p, ci)),
                ("image_path", s(StrOp::Contains, ".e", true)),
            ],
        ));
        // ... and regex + a long suffix (the suffix wins).
        insts.push(inst(
            id + 4,
            pc,
            Action::Report,
            &[
                ("command_line", re(p, ci)),
                (
                    "parent_image_path",
                    s(StrOp::Suffix, "\\explorer.exe", true),
                ),
            ],
        ));
    }
    vec![spec(5, insts)]
}

/// Literal-set hints of DFAs outside a regex group.
fn single_sets(ch: &changuard_format::ValidChannel<&[u8]>) -> u32 {
    let n = (0..ch.dfa_count())
        .filter(|&d| {
            ch.dfa_group(d) == Some(None) && ch.dfa_literal(d).flatten().is_some_and(|l| l.set)
        })
        .count();
    u32::try_from(n).unwrap()
}

/// Regex criteria anchored on their required literal (case-insensitive ones,
/// non-ASCII fields and literals, Kelvin sign and long s) agree with the
/// reference on every combination of fields.
#[test]
fn regex_literal_anchors_equal_reference() {
    let specs = lit_specs();
    let (bufs, tk) = build_aligned(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    let reference = Reference::new(&chans).unwrap();
    let ls = engine.literal_stats();
    // Every hint is proven, literal sets on regexes outside a group too.
    assert_eq!(ls.unproven, 0, "{ls:?}");
    assert_eq!(ls.single_sets, single_sets(&chans[0]), "{ls:?}");
    assert!(ls.single_sets > 0, "{ls:?}");
    assert!(ls.proven >= 10 && ls.anchors >= 20, "{ls:?}");
    let mut matched = 0;
    for cmd in LIT_FIELDS {
        for image in LIT_FIELDS {
            for parent in ["", r"C:\Windows\EXPLORER.EXE"] {
                let mut vals = pc_event(image);
                vals[1] = Value::Str(cmd);
                vals[2] = Value::Str(parent);
                let ev = Event::ProcessCreate(vals);
                let (mut a, mut b) = (Verdict::new(), Verdict::new());
                engine.evaluate(&ev, &mut a);
                reference.evaluate(&ev, &mut b);
                assert!(!a.fuel_exhausted);
                assert_eq!(a.matches(), b.matches(), "cmd {cmd:?} image {image:?}");
                matched += a.matches().len();
            }
        }
    }
    assert!(matched > 200, "{matched}");
}

/// A forged hint (a literal the pattern does not require, re-signed: the
/// validator accepts its shape) is caught by the engine's load-time proof and
/// ignored, so it cannot hide a detection.
#[test]
fn unsound_literal_hint_is_not_used() {
    use changuard_format::build::{raw, sign};
    use changuard_format::layout;
    let specs = lit_specs();
    let k = key();
    let mut bytes = changuard_format::build::build(&specs[0], &k).unwrap();
    // Make every DFA's hint unsound: rewrite each character of each literal
    // string to as many `q` as it has bytes (`Q` for upper case; a literal
    // set's separators stay: same length, so the string stays valid and
    // first-use order holds: only the signer's claim changes). No pattern
    // requires a run of q's.
    let (_, _, ndfa) = raw::section(&bytes, layout::SectionKind::Dfas).unwrap();
    let mut forged = std::collections::BTreeSet::new();
    for d in 0..ndfa as usize {
        let e = raw::dfa_entry(&bytes, d).unwrap();
        let at = e + layout::dfa_entry::LITERAL.start;
        let lit = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        if lit == layout::NO_LITERAL || !forged.insert(lit) {
            continue;
        }
        let se = raw::string_entry(&bytes, lit as usize).unwrap() + layout::string_entry::LEN.start;
        let len = usize::from(u16::from_le_bytes(bytes[se..se + 2].try_into().unwrap()));
        let start = raw::string_bytes(&bytes, lit as usize).unwrap();
        let text = std::str::from_utf8(&bytes[start..start + len]).unwrap();
        let forged_text: Vec<u8> = text
            .chars()
            .flat_map(|c| {
                let q = match c {
                    '\0' => 0, // a literal set's separator
                    'A'..='Z' => b'Q',
                    _ => b'q',
                };
                std::iter::repeat_n(q, c.len_utf8())
            })
            .collect();
        bytes[start..start + len].copy_from_slice(&forged_text);
    }
    assert!(!forged.is_empty(), "the fixture has literal hints");
    sign(&mut bytes, &k).unwrap();
    let bufs = vec![changuard_format::AlignedBytes::from_slice(&bytes)];
    let chans = validate_all(&bufs, &specs, &k.trusted_key());
    let hints: Vec<&str> = (0..ndfa)
        .filter_map(|d| chans[0].dfa_literal(d).unwrap())
        .map(|l| l.text)
        .collect();
    assert!(
        hints
            .iter()
            .all(|t| t.bytes().all(|c| c == b'q' || c == b'Q' || c == 0)),
        "{hints:?}"
    );
    let hinted = u32::try_from(hints.len()).unwrap();
    let engine = Engine::new(&chans).unwrap();
    let reference = Reference::new(&chans).unwrap();
    let ls = engine.literal_stats();
    assert_eq!((ls.proven, ls.anchors), (0, 0), "{ls:?}");
    assert_eq!(ls.unproven, hinted, "{ls:?}");
    for cmd in LIT_FIELDS {
        let mut vals = pc_event(cmd);
        vals[1] = Value::Str(cmd);
        let ev = Event::ProcessCreate(vals);
        let (mut a, mut b) = (Verdict::new(), Verdict::new());
        engine.evaluate(&ev, &mut a);
        reference.evaluate(&ev, &mut b);
        assert_eq!(a.matches(), b.matches(), "{cmd:?}");
    }
}

/// The proven bound covers the worst case (issue 12: it was one fuel unit short
/// per prefiltered regex criterion, whose byte-class test was charged but not
/// counted): one instance with a prefiltered regex on every string field, an
/// event whose string fields are all at the cap and pass every prefilter and
/// every DFA, evaluated with exactly the proven budget, completes and matches.
#[test]
fn the_bound_covers_prefiltered_regexes_at_the_field_cap() {
    use changuard_format::FieldType;
    use changuard_interp::EngineConfig;
    let cap = 64;
    let regex = CriterionSpec::Regex {
        pattern: "q[0-9]+z".into(),
        case_insensitive: false,
    };
    let set: Vec<(&str, CriterionSpec)> = PROCESS_CREATE
        .fields
        .iter()
        .filter(|f| f.ty == FieldType::Str)
        .map(|f| (f.name, regex.clone()))
        .collect();
    let specs = vec![spec(
        400,
        vec![inst(1, &PROCESS_CREATE, Action::Report, &set)],
    )];
    let (bufs, tk) = build_aligned(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let config = EngineConfig {
        field_cap: cap,
        ..EngineConfig::default()
    };
    let e = Engine::with_config(&chans, config).unwrap();
    assert_eq!(e.stats().dfas_prefiltered, 1, "{:?}", e.stats());
    let field = format!("q{}z", "1".repeat(cap - 2));
    let vals: [Value<'_>; PROCESS_CREATE_INPUTS] =
        core::array::from_fn(|k| match PROCESS_CREATE.fields[k].ty {
            FieldType::Str => Value::Str(&field),
            FieldType::Int => Value::Int(1),
        });
    let ev = Event::ProcessCreate(vals);
    let mut v = Verdict::new();
    e.evaluate(&ev, &mut v);
    let bound = e.max_fuel_per_event(&PROCESS_CREATE);
    assert!(
        !v.fuel_exhausted,
        "used {} of the proven {bound}",
        v.fuel_used
    );
    assert_eq!(v.matches().len(), 1);
    assert!(v.fuel_used <= bound);
}

/// Load-time analysis is bounded for the whole build (issue 12), not only per
/// DFA (a base plus an allowance per DFA byte): with no budget every analysis is skipped, nothing is prefiltered and
/// no hint is used, and every verdict is still the same.
#[test]
fn the_load_time_proof_budget_bounds_the_build_and_changes_no_verdict() {
    use changuard_interp::EngineConfig;
    let specs = lit_specs();
    let (bufs, tk) = build_aligned(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let full = Engine::new(&chans).unwrap();
    let none = Engine::with_config(
        &chans,
        EngineConfig {
            proof_steps: 0,
            proof_steps_per_dfa_byte: 0,
            ..EngineConfig::default()
        },
    )
    .unwrap();
    let (fs, ns) = (full.stats(), none.stats());
    assert!(
        fs.dfas_prefiltered > 0 && full.literal_stats().proven > 0,
        "{fs:?}"
    );
    assert_eq!(fs.proofs_skipped, 0, "{fs:?}");
    assert_eq!(
        (ns.dfas_prefiltered, none.literal_stats().proven),
        (0, 0),
        "{ns:?}"
    );
    assert!(ns.proofs_skipped >= ns.dfas, "{ns:?}");
    for cmd in LIT_FIELDS {
        let mut vals = pc_event(cmd);
        vals[1] = Value::Str(cmd);
        let ev = Event::ProcessCreate(vals);
        let (mut a, mut b) = (Verdict::new(), Verdict::new());
        full.evaluate(&ev, &mut a);
        none.evaluate(&ev, &mut b);
        assert_eq!(a.matches(), b.matches(), "{cmd}");
        assert!(!a.fuel_exhausted && !b.fuel_exhausted);
    }
}

/// A two-letter alphabet makes grams occur without their needle, repeat
/// inside one needle (where only the first offset is recorded) and be shared
/// by several needles: the in-place confirmation of a gram hit, its budget
/// and its fallback must change no verdict.
fn gram_confirmation_case() -> impl Strategy<Value = (Vec<(String, bool, bool)>, String)> {
    let text = |lo: usize, hi: usize| {
        prop::collection::vec(prop::sample::select(&['a', 'b', 'A', 'B'][..]), lo..hi)
            .prop_map(|v| v.into_iter().collect::<String>())
    };
    let needle = (text(4, 10), any::<bool>(), any::<bool>());
    let field = prop_oneof![
        4 => text(0, 80),
        1 => (text(4, 8), 100usize..600).prop_map(|(t, n)| t.repeat(n / t.len())),
    ];
    (prop::collection::vec(needle, 1..5), field)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn confirmed_grams_equal_reference((needles, field) in gram_confirmation_case()) {
        let insts = needles
            .iter()
            .zip(1..)
            .map(|((n, ci, regex), id)| {
                let c = if *regex {
                    CriterionSpec::Regex { pattern: n.clone(), case_insensitive: *ci }
                } else if *ci {
                    s(StrOp::Contains, &n.to_ascii_lowercase(), true)
                } else {
                    s(StrOp::Contains, n, false)
                };
                inst(id, &PROCESS_CREATE, Action::Report, &[("image_path", c)])
            })
            .collect();
        let specs = vec![spec(7, insts)];
        let (bufs, tk) = build_aligned(&specs);
        let chans = validate_all(&bufs, &specs, &tk);
        let engine = Engine::new(&chans).expect("engine");
        let reference = Reference::new(&chans).expect("reference");
        let vals = pc_event(&field);
        compare(&engine, &reference, &Event::ProcessCreate(vals))?;
    }
}

/// More candidates on one field than the engine batches at once (32 held
/// single regexes, 32 held literal groups, 8 DFAs per lockstep scan): every
/// batch boundary still gives the reference's verdicts, each candidate
/// scanned once, within the proven bound.
#[test]
fn scans_batched_past_their_capacity_equal_reference() {
    let pc = &PROCESS_CREATE;
    let re = |p: String| CriterionSpec::Regex {
        pattern: p,
        case_insensitive: true,
    };
    // Distinct, each with `dropper` as its only literal.
    let pattern = |k: u32| format!("dropper[0-9]{{0,{}}}-", k + 1);
    // 100 regexes of their own, and 40 channels of three grouped ones,
    // all found through `dropper`.
    let singles: Vec<_> = (0..100)
        .map(|k| {
            inst(
                k + 1,
                pc,
                Action::Report,
                &[("command_line", re(pattern(k)))],
            )
        })
        .collect();
    let mut specs = vec![spec(7, singles)];
    let grouped: Vec<_> = (0..40)
        .map(|c| {
            let insts = (0..3)
                .map(|j| {
                    let k = 3 * c + j;
                    inst(
                        k + 1,
                        pc,
                        Action::Report,
                        &[("command_line", re(format!("{}z?", pattern(k))))],
                    )
                })
                .collect();
            spec(100 + c, insts)
        })
        .collect();
    let (mut bufs, tk) = build_aligned(&specs);
    let (gbufs, _) = build_aligned_with(
        &grouped,
        &changuard_format::build::BuildOptions {
            group_regexes: true,
        },
    );
    bufs.extend(gbufs);
    specs.extend(grouped);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    let reference = Reference::new(&chans).unwrap();
    assert!(engine.stats().groups >= 40, "{:?}", engine.stats());
    let filler = "a".repeat(300);
    for cmd in [
        format!("run DROPPER- and dropper12345- {filler}"),
        format!("{filler} dropper dropper0 dropper3_ -"),
        format!("dropper1234567890123456789012345678901234567- {filler} dropper99"),
    ] {
        let mut vals = pc_event("");
        vals[1] = Value::Str(&cmd);
        // Every candidate scanned once: 100 held single regexes (32 at a
        // time) and 40 held groups (likewise).
        agree(&engine, &reference, &Event::ProcessCreate(vals), 140, &cmd);
    }
}

/// Regexes with no literal to index are evaluated for every event; those
/// that are an instance's first criterion are batched a field at a time
/// (up to 32 held, so 70 on one field cross two batch boundaries). Verdicts
/// equal the reference's, each is scanned once, and an event whose field
/// has the wrong type evaluates them without scanning.
#[test]
fn always_list_regexes_batched_equal_reference() {
    let pc = &PROCESS_CREATE;
    let re = |p: String| CriterionSpec::Regex {
        pattern: p,
        case_insensitive: false,
    };
    // No literal of 4 bytes: each is on the always list.
    let mut insts: Vec<_> = (0..70)
        .map(|k| {
            inst(
                k + 1,
                pc,
                Action::Report,
                &[("command_line", re(format!("x[0-9]{{{}}}y", k % 9 + 1)))],
            )
        })
        .collect();
    insts.extend((0..3).map(|k| {
        inst(
            100 + k,
            pc,
            Action::Report,
            &[("image_path", re(format!("[a-c]{{{}}}$", k + 2)))],
        )
    }));
    let specs = vec![spec(7, insts)];
    let (bufs, tk) = build_aligned(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    let reference = Reference::new(&chans).unwrap();
    assert_eq!(engine.stats().always, 73, "{:?}", engine.stats());
    let mut matched = 0;
    for (image, cmd) in [
        ("C:\\tools\\abcab", "run x1y x1234y x123456789y and x12345y"),
        ("C:\\a", "nothing x y here x12 y"),
        ("C:\\bb", "x99999y"),
    ] {
        let mut vals = pc_event(image);
        vals[1] = Value::Str(cmd);
        let a = agree(&engine, &reference, &Event::ProcessCreate(vals), 73, cmd);
        matched += a.matches().len();
    }
    assert!(
        matched >= 20,
        "{matched} matches: the events exercise the regexes"
    );
    // The command line as an integer: a type fault, and its regexes are
    // non-matches without a scan.
    let mut vals = pc_event("C:\\abc");
    vals[1] = Value::Int(5);
    let (a, b) = both(&engine, &reference, &Event::ProcessCreate(vals));
    assert_eq!(a.matches(), b.matches());
    assert_eq!(a.faults, b.faults);
    assert_eq!(a.dfa_scans, 3);
}

/// `ev` evaluated by the engine and by the reference.
fn both(engine: &Engine<'_>, reference: &Reference<'_>, ev: &Event<'_>) -> (Verdict, Verdict) {
    let (mut a, mut b) = (Verdict::new(), Verdict::new());
    engine.evaluate(ev, &mut a);
    reference.evaluate(ev, &mut b);
    (a, b)
}

/// `ev` (labelled `what`) gives the reference's verdict, with no fault, in
/// exactly `scans` DFA scans, within fuel and its proven bound.
fn agree(
    engine: &Engine<'_>,
    reference: &Reference<'_>,
    ev: &Event<'_>,
    scans: u32,
    what: &str,
) -> Verdict {
    let (a, b) = both(engine, reference, ev);
    assert!(!a.fuel_exhausted, "{what:?}");
    assert_eq!(a.matches(), b.matches(), "{what:?}");
    assert_eq!(a.faults, 0, "{what:?}");
    assert_eq!(a.dfa_scans, scans, "{what:?}");
    assert!(
        a.fuel_used <= engine.max_fuel_per_event(ev.template()),
        "{what:?}"
    );
    a
}

/// Scans that stop in a quiet state (engine docs, "quiet states") find what
/// whole-field scans find. One family shares `dropper` (some patterns close
/// their match right after it, some leave it open with `.*`, some need text
/// before it), another a literal set (`stager` or `beacon`); regexes of their
/// own (batched) and in groups, some groups scanned outside a batch (their
/// instances anchored on the image path). Command lines put the members early, late,
/// several times, in either case and cut short, before long tails. Every
/// verdict equals the reference's.
#[test]
fn scans_stopped_in_quiet_states_equal_reference() {
    let pc = &PROCESS_CREATE;
    let re = |p: String| CriterionSpec::Regex {
        pattern: p,
        case_insensitive: true,
    };
    let pattern = |k: u32| match k % 5 {
        0 => format!("dropper[0-9]{{{}}}-", k % 7 + 1),
        1 => format!("dropper_{k}.*\\.exe"),
        2 => format!("run{k} +dropper"),
        3 => format!("(stager|beacon)[0-9]{{{}}}x", k % 4 + 1),
        _ => format!("(beacon|stager)_{k}.*end"),
    };
    // Anchored on the image path, a grouped regex is scanned when its
    // instance is checked, outside any batch (`group_mask`).
    let image = || CriterionSpec::Str {
        op: StrOp::Equals,
        value: "c:\\w\\x.exe".into(),
        case_insensitive: true,
    };
    let insts = |base: u32, n: u32, anchored: Option<&'static str>| -> Vec<_> {
        (0..n)
            .map(|k| {
                let crits = match anchored {
                    // Small DFAs on one literal, so the writer groups them
                    // and the groups keep quiet states.
                    // (A class for the parent's, so no regex serves both
                    // fields: those are never grouped.)
                    Some(field) => {
                        let dash = if field == "command_line" { "-" } else { "[-]" };
                        let p = format!("dropper[0-9]{{{}}}{dash}", k % 7 + 1);
                        vec![("image_path", image()), (field, re(p))]
                    }
                    None => vec![("command_line", re(pattern(k)))],
                };
                inst(base + k + 1, pc, Action::Report, &crits)
            })
            .collect()
    };
    let mut specs = vec![spec(7, insts(0, 40, None))];
    // Two fields in one file, with the same literal (one string of the
    // file), so a scan outside a batch must not take one field's search
    // for the other's.
    let mut two_fields = insts(200, 40, Some("command_line"));
    two_fields.extend(insts(240, 40, Some("parent_command_line")));
    let grouped = vec![spec(8, insts(100, 40, None)), spec(9, two_fields)];
    let (mut bufs, tk) = build_aligned(&specs);
    let (gbufs, _) = build_aligned_with(
        &grouped,
        &changuard_format::build::BuildOptions {
            group_regexes: true,
        },
    );
    bufs.extend(gbufs);
    specs.extend(grouped);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    let reference = Reference::new(&chans).unwrap();
    assert!(engine.stats().groups > 0, "{:?}", engine.stats());
    assert!(
        engine.literal_stats().sets > 0,
        "{:?}",
        engine.literal_stats()
    );
    const PIECES: [&str; 16] = [
        "dropper",
        "DROPPER",
        "droppe",
        "dropper_3",
        "123-",
        "4",
        "run2 ",
        "run7  ",
        ".exe",
        "stager",
        "BEACON",
        "beaco",
        "_4",
        "_9",
        "end",
        " ",
    ];
    let filler = "a".repeat(200);
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut matched = 0;
    // One scratch for every event, as the driver's sensor keeps it: what a
    // scan remembers of one event's fields must not reach the next.
    let mut scratch = changuard_interp::EvalScratch::new();
    let mut line = || {
        let mut cmd = String::new();
        for _ in 0..12 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x % (PIECES.len() as u64 + 2)) as usize;
            cmd.push_str(PIECES.get(k).copied().unwrap_or(&filler));
        }
        cmd
    };
    for _ in 0..400 {
        let (cmd, parent) = (line(), line());
        let mut vals = pc_event("C:\\W\\x.exe");
        vals[1] = Value::Str(&cmd);
        vals[10] = Value::Str(&parent);
        let ev = Event::ProcessCreate(vals);
        let (a, b) = both(&engine, &reference, &ev);
        assert!(!a.fuel_exhausted, "{cmd:?}");
        assert_eq!(a.matches(), b.matches(), "{cmd:?}");
        let mut c = Verdict::new();
        engine.evaluate_in(&ev, &mut c, &mut scratch);
        assert_eq!(c.matches(), b.matches(), "{cmd:?} (scratch reused)");
        assert_eq!(a.faults, 0, "{cmd:?}");
        matched += a.matches().len();
    }
    assert!(
        matched > 400,
        "{matched} matches: the events exercise the regexes"
    );
}

/// A group as wide as the format allows (`MAX_GROUP_PATTERNS`, 64): one
/// family of pipe regexes, pattern `k` matching exactly `k + 1` hex digits
/// after the family's literal, built as one group. Each event reaches
/// exactly its pattern's instance, the highest member bits included, as in
/// the reference; a family two larger is two groups (64 and 2).
#[test]
fn a_group_of_the_widest_size_reports_every_member() {
    let n = changuard_format::limits::MAX_GROUP_PATTERNS;
    let family = |n: u32| {
        let instances = (0..n)
            .map(|i| {
                let pattern = format!(r"\\postex_[0-9a-f]{{{}}}$", i + 1);
                let re = CriterionSpec::Regex {
                    pattern,
                    case_insensitive: false,
                };
                inst(i, &NAMED_PIPE_CREATE, Action::Report, &[("pipe_name", re)])
            })
            .collect();
        vec![spec(1, instances)]
    };
    let grouped = changuard_format::build::BuildOptions {
        group_regexes: true,
    };
    let specs = family(n);
    let (bufs, tk) = build_aligned_with(&specs, &grouped);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).expect("engine");
    assert_eq!((engine.stats().groups, engine.stats().dfas_grouped), (1, n));
    let reference = Reference::new(&chans).expect("reference");
    for digits in 0..=n + 1 {
        let name = format!(r"\Device\NamedPipe\postex_{}", "a".repeat(digits as usize));
        let mut pipe = [Value::Str(""); 20];
        pipe[0] = Value::Str(&name);
        for v in &mut pipe[6..] {
            *v = Value::Int(0);
        }
        let ev = Event::NamedPipeCreate(pipe);
        let (mut a, mut b) = (Verdict::new(), Verdict::new());
        engine.evaluate(&ev, &mut a);
        reference.evaluate(&ev, &mut b);
        let ids: Vec<u32> = a.matches().iter().map(|m| m.instance).collect();
        let want: Vec<u32> = (1..=n)
            .contains(&digits)
            .then(|| digits - 1)
            .into_iter()
            .collect();
        assert_eq!(ids, want, "{digits} digits");
        assert_eq!(a.matches(), b.matches(), "{digits} digits");
        assert_eq!((a.faults, a.fuel_exhausted), (0, false));
    }
    let specs = family(n + 2);
    let (bufs, tk) = build_aligned_with(&specs, &grouped);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).expect("engine");
    let stats = engine.stats();
    assert_eq!((stats.groups, stats.dfas_grouped), (2, n + 2));
}
