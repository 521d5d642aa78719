//! STYLE 10, "pair assertions": for every rule, corrupt exactly one field of
//! valid content (re-signing unless the rule is about the signature) and
//! expect exactly that rule at exactly that offset.

mod common;

use changuard_format::build::{raw, resign, sign};
use changuard_format::layout::{self, SectionKind, criterion as cf, instance as inf, kind};
use changuard_format::{AlignedBytes, Rejection, Rule, Trust, limits, validate};
use common::*;

fn check(bytes: &[u8]) -> Result<(), Rejection> {
    let buf = AlignedBytes::from_slice(bytes);
    let keys = trusted();
    validate(&buf[..], &Trust::new(&keys), CHANNEL).map(|_| ())
}

/// Apply `edit` to valid content, re-sign, and expect `rule` at `offset`.
#[track_caller]
fn expect(rule: Rule, edit: impl FnOnce(&mut Vec<u8>) -> usize) {
    let mut b = built();
    check(&b).expect("fixture is valid");
    let offset = edit(&mut b);
    sign(&mut b, &key()).unwrap();
    expect_raw(&b, rule, offset);
}

#[track_caller]
fn expect_raw(b: &[u8], rule: Rule, offset: usize) {
    let r = check(b).expect_err("corrupted content must be rejected");
    assert_eq!((r.rule, r.offset), (rule, offset as u64), "{r}");
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    assert!(raw::put(b, at, &v.to_le_bytes()));
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    assert!(raw::put(b, at, &v.to_le_bytes()));
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    assert!(raw::put(b, at, &v.to_le_bytes()));
}
fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn entry(b: &[u8], k: SectionKind) -> usize {
    raw::section_entry(b, k).unwrap()
}
/// Criterion `k` of instance `i`.
fn crit(b: &[u8], i: usize, k: usize) -> usize {
    raw::instance_criterion(b, i, k).unwrap()
}

#[test]
fn every_rule_has_a_test() {
    // Keep in sync with the tests below and in canonical.rs (section-order,
    // folded-flag-mismatch, dfa-not-canonical), cost.rs (cost-ceiling) and
    // rows.rs (row-not-canonical), metadata.rs (metadata-mismatch) and
    // groups.rs (regex-group); Internal is unreachable by design.
    assert_eq!(Rule::ALL.len(), 44);
}

/// Issue 11 finding 10: `test-crash` only from a key trusted as test-only.
#[test]
fn test_crash_needs_a_test_only_key() {
    let mut b = built();
    let i = raw::instance(&b, 2).unwrap();
    b[i + inf::ACTION.start] = changuard_format::Action::TestCrash.code();
    sign(&mut b, &key()).unwrap();
    expect_raw(&b, Rule::TestActionNeedsTestKey, i + 12);
    let r = check(&b).unwrap_err();
    assert_eq!((r.expected, r.found, r.instance), (0, 0xF0, Some(2)), "{r}");
    let buf = AlignedBytes::from_slice(&b);
    let keys = trusted_test();
    let valid =
        validate(&buf[..], &Trust::new(&keys), CHANNEL).expect("a test-only key may sign it");
    assert_eq!(
        valid.instances().nth(2).map(|x| x.action),
        Some(changuard_format::Action::TestCrash)
    );
}

/// Strings are numbered in first-use order (issue 13: one encoding): a
/// criterion that is the first to use a string must use the next number.
#[test]
fn strings_out_of_first_use_order() {
    let b = built();
    let first_string_criterion = (0..)
        .map(|k| raw::criterion(&b, k).unwrap())
        .find(|&c| (kind::EQUALS..=kind::CONTAINS).contains(&b[c + cf::KIND.start]))
        .unwrap();
    assert_eq!(
        get_u32(&b, first_string_criterion + cf::INDEX.start),
        0,
        "the first use is string 0"
    );
    let mut m = b.clone();
    put_u32(&mut m, first_string_criterion + cf::INDEX.start, 1);
    sign(&mut m, &key()).unwrap();
    let r = check(&m).unwrap_err();
    assert_eq!(
        (r.rule, r.offset, r.expected, r.found),
        (
            Rule::FirstUseOrder,
            (first_string_criterion + 4) as u64,
            0,
            1
        ),
        "{r}"
    );
}

#[test]
fn too_short_and_too_large() {
    let b = built();
    expect_raw(&b[..layout::MIN_FILE_LEN - 1], Rule::TooShort, 0);
    let big = vec![0u8; limits::MAX_FILE_LEN + 1];
    expect_raw(&big, Rule::TooLarge, 0);
}

#[test]
fn header_constants() {
    expect(Rule::BadMagic, |b| {
        b[3] ^= 0x20;
        3 - 3
    });
    expect(Rule::UnsupportedVersion, |b| {
        put_u16(b, 8, 2);
        8
    });
    expect(Rule::LengthMismatch, |b| {
        put_u16(b, 10, 65);
        10
    });
    expect(Rule::ReservedNonZero, |b| {
        put_u32(b, 12, 1);
        12
    });
    expect(Rule::ReservedNonZero, |b| {
        b[61] = 1;
        61
    });
    expect(Rule::LengthMismatch, |b| {
        let n = b.len() as u64 + 8;
        put_u64(b, 40, n);
        40
    });
}

#[test]
fn trust() {
    let mut b = built();
    let t = raw::trailer(&b).unwrap();
    b[t] ^= 1;
    expect_raw(&b, Rule::UnknownKey, t);

    let mut b = built();
    let s = raw::string_bytes(&b, 0).unwrap();
    b[s] ^= 1; // not re-signed
    expect_raw(&b, Rule::BadSignature, t + 8);

    // Signed by another key whose id is not trusted.
    let mut b = built();
    sign(
        &mut b,
        &changuard_format::build::SigningKey::from_seed([9; 32]),
    )
    .unwrap();
    expect_raw(&b, Rule::UnknownKey, t);
}

#[test]
fn identity() {
    expect(Rule::WrongChannel, |b| {
        put_u32(b, 16, 292);
        16
    });
    expect(Rule::WrongSchema, |b| {
        let s = u64::from_le_bytes(b[32..40].try_into().unwrap());
        put_u64(b, 32, s ^ 1);
        32
    });
}

#[test]
fn section_table() {
    expect(Rule::CountTooLarge, |b| {
        put_u32(b, 20, layout::MAX_SECTIONS + 1);
        20
    });
    expect(Rule::BadSectionTable, |b| {
        let e = entry(b, SectionKind::Criteria);
        put_u16(b, e, 9);
        e
    });
    expect(Rule::BadSectionTable, |b| {
        let e = entry(b, SectionKind::Criteria);
        put_u16(b, e, SectionKind::Instances.code());
        e
    });
    expect(Rule::ReservedNonZero, |b| {
        let e = entry(b, SectionKind::Strings);
        put_u16(b, e + 2, 1);
        e + 2
    });
    expect(Rule::SectionMisaligned, |b| {
        let e = entry(b, SectionKind::Instances);
        let o = get_u32(b, e + 4);
        put_u32(b, e + 4, o + 1);
        e + 4
    });
    expect(Rule::SectionOutOfRange, |b| {
        let e = entry(b, SectionKind::Dfas);
        put_u32(b, e + 4, 0x0100_0000);
        e + 4
    });
    expect(Rule::SectionOutOfRange, |b| {
        let e = entry(b, SectionKind::Dfas);
        put_u32(b, e + 8, 0x0100_0000);
        e + 8
    });
    expect(Rule::SectionOverlap, |b| {
        let i = entry(b, SectionKind::Instances);
        let e = entry(b, SectionKind::Criteria);
        let o = get_u32(b, i + 4);
        put_u32(b, e + 4, o);
        e + 4
    });
    expect(Rule::UnaccountedBytes, |b| {
        // A gap of 8 bytes before CRITERIA.
        let e = entry(b, SectionKind::Criteria);
        let o = get_u32(b, e + 4);
        put_u32(b, e + 4, o + 8);
        e + 4
    });
    expect(Rule::CountTooLarge, |b| {
        let e = entry(b, SectionKind::Instances);
        put_u32(b, e + 12, limits::MAX_INSTANCES + 1);
        e + 12
    });
    expect(Rule::SectionLengthMismatch, |b| {
        let e = entry(b, SectionKind::Instances);
        let n = get_u32(b, e + 12);
        put_u32(b, e + 12, n + 1);
        e + 8
    });
}

#[test]
fn trailing_bytes_are_unaccounted() {
    let mut b = built();
    let t = raw::trailer(&b).unwrap();
    let trailer = b.split_off(t);
    b.extend_from_slice(&[0u8; 8]);
    b.extend_from_slice(&trailer);
    resign(&mut b, &key()).unwrap();
    expect_raw(&b, Rule::UnaccountedBytes, t);
}

#[test]
fn instances() {
    expect(Rule::UnknownTemplate, |b| {
        let i = raw::instance(b, 0).unwrap();
        put_u16(b, i + inf::TEMPLATE.start, 99);
        i + 4
    });
    expect(Rule::CriteriaCountMismatch, |b| {
        let i = raw::instance(b, 0).unwrap();
        // One more than instance 0's template supplies.
        let n = get_u16(b, i + inf::CRITERIA_COUNT.start);
        put_u16(b, i + inf::CRITERIA_COUNT.start, n + 1);
        i + 6
    });
    expect(Rule::CriteriaOutOfRange, |b| {
        let i = raw::instance(b, 1).unwrap();
        let f = get_u32(b, i + 8);
        put_u32(b, i + inf::FIRST_CRITERION.start, f + 1);
        i + 8
    });
    expect(Rule::InstanceIdOrder, |b| {
        let i = raw::instance(b, 1).unwrap();
        put_u32(b, i + inf::ID.start, 1);
        i
    });
    expect(Rule::UnknownAction, |b| {
        let i = raw::instance(b, 2).unwrap();
        b[i + inf::ACTION.start] = 9;
        i + 12
    });
    expect(Rule::TooManyRows, |b| {
        let i = raw::instance(b, 3).unwrap();
        b[i + inf::AND_ROWS.start] = limits::MAX_AND_ROWS + 1;
        i + 13
    });
    expect(Rule::TooManyRows, |b| {
        let i = raw::instance(b, 3).unwrap();
        put_u16(b, i + inf::UNLESS_ROWS.start, limits::MAX_UNLESS_ROWS + 1);
        i + 14
    });
    // One UNLESS row more than the CRITERIA section holds.
    expect(Rule::CriteriaOutOfRange, |b| {
        let i = raw::instance(b, 3).unwrap();
        put_u16(b, i + inf::UNLESS_ROWS.start, 1);
        i + 6
    });
}

#[test]
fn criteria() {
    // Instance 0 is ProcessCreate with salt 0: field k gets criterion_for(ty, k).
    // fields 0..4 str, 4..10 int; k%4: 0 any, 1 contains/int-eq, 2 regex/range, 3 equals/mask.
    expect(Rule::UnknownCriterionKind, |b| {
        let c = crit(b, 0, 0);
        b[c] = 200;
        c
    });
    expect(Rule::CriterionTypeMismatch, |b| {
        let c = crit(b, 0, 5); // int-equals on "parent_pid"
        b[c] = kind::CONTAINS;
        c
    });
    expect(Rule::CriterionTypeMismatch, |b| {
        let c = crit(b, 0, 1); // contains on "command_line"
        b[c] = kind::INT_EQUALS;
        c
    });
    expect(Rule::BadIntOperands, |b| {
        let c = crit(b, 0, 6); // range 1..=100
        put_u64(b, c + cf::A.start, 101);
        c + cf::B.start
    });
    expect(Rule::BadIntOperands, |b| {
        let c = crit(b, 0, 7); // mask 0xff value 0x12
        put_u64(b, c + cf::B.start, 0x112);
        c + cf::B.start
    });
    expect(Rule::ReservedNonZero, |b| {
        let c = crit(b, 0, 4); // any
        put_u64(b, c + cf::A.start, 1);
        c + cf::A.start
    });
    expect(Rule::ReservedNonZero, |b| {
        let c = crit(b, 0, 5); // case-insensitive flag on an int criterion
        b[c + cf::FLAGS.start] = 1;
        c + 1
    });
    expect(Rule::StringOutOfRange, |b| {
        let c = crit(b, 0, 1);
        let (_, _, n) = raw::section(b, SectionKind::Strings).unwrap();
        put_u32(b, c + cf::INDEX.start, n);
        c + 4
    });
    expect(Rule::DfaOutOfRange, |b| {
        let c = crit(b, 0, 2);
        let (_, _, n) = raw::section(b, SectionKind::Dfas).unwrap();
        put_u32(b, c + cf::INDEX.start, n);
        c + 4
    });
    expect(Rule::NeedleNotFolded, |b| {
        // The case-insensitive needle's string loses its FOLDED flag.
        let c = crit(b, 0, 1);
        let s = get_u32(b, c + 4) as usize;
        let e = raw::string_entry(b, s).unwrap();
        put_u16(b, e + 6, 0);
        c + 1
    });
}

#[test]
fn strings() {
    // String 0 is the first needle interned: "\pipe\evil" (case-insensitive).
    expect(Rule::NeedleNotFolded, |b| {
        let s = raw::string_bytes(b, 0).unwrap();
        assert_eq!(b[s + 1], b'p');
        b[s + 1] = b'P';
        s + 1
    });
    expect(Rule::StringNotUtf8, |b| {
        let s = raw::string_bytes(b, 1).unwrap();
        b[s + 2] = 0xff;
        s + 2
    });
    expect(Rule::StringTooLong, |b| {
        let e = raw::string_entry(b, 0).unwrap();
        put_u16(b, e + 4, limits::MAX_STRING_LEN as u16 + 1);
        e + 4
    });
    expect(Rule::UnaccountedBytes, |b| {
        let e = raw::string_entry(b, 1).unwrap();
        let o = get_u32(b, e);
        put_u32(b, e, o + 1);
        e
    });
    expect(Rule::ReservedNonZero, |b| {
        let e = raw::string_entry(b, 0).unwrap();
        put_u16(b, e + 6, 3);
        e + 6
    });
}

#[test]
fn dfas() {
    expect(Rule::BadDfa, |b| {
        let d = raw::dfa_blob(b, 0).unwrap();
        b[d] ^= 0xff;
        d
    });
    expect(Rule::DfaTooLarge, |b| {
        let e = raw::dfa_entry(b, 0).unwrap();
        put_u32(b, e + 4, limits::MAX_DFA_LEN + 1);
        e + 4
    });
    expect(Rule::SectionOutOfRange, |b| {
        let e = raw::dfa_entry(b, 0).unwrap();
        let n = get_u32(b, e + 4);
        put_u32(b, e + 4, n + 8);
        e + 4
    });
    expect(Rule::SectionMisaligned, |b| {
        let e = raw::dfa_entry(b, 0).unwrap();
        let o = get_u32(b, e);
        put_u32(b, e, o + 4);
        e
    });
    expect(Rule::StringOutOfRange, |b| {
        let e = raw::dfa_entry(b, 0).unwrap();
        put_u32(b, e + 8, 10_000);
        e + 8
    });
    // An undefined flag bit (bit 1 without a literal: dfa_literal_hint).
    expect(Rule::ReservedNonZero, |b| {
        let e = raw::dfa_entry(b, 0).unwrap();
        put_u32(b, e + 12, 16);
        e + 12
    });
}

/// A transition out of an accelerated state on a byte its accelerator does
/// not list: `from_bytes` accepts it (every transition is a valid state), a
/// walk of the transitions would take it and regex-automata's search would
/// skip it, so the validator rejects the DFA (`bad-dfa`, the state's index,
/// the bytes that leave it). The fuzz target `validate_raw` found such a file.
#[test]
fn an_accelerator_that_disagrees_with_its_transitions_is_bad_dfa() {
    use changuard_format::regex_automata::dfa::{Automaton, dense::DFA};
    // The transition table's first cell in a serialized dense DFA: the
    // 48-byte prefix (docs/FORMAT.md), the state count and stride (u32
    // each), the 256-byte class map. Asserted below against the DFA itself.
    const TABLE: usize = 48 + 4 + 4 + 256;
    use changuard_format::build::CriterionSpec;
    use changuard_format::schema::NAMED_PIPE_CREATE;
    // `zebra`'s unanchored start state leaves only on `z`: accelerated.
    let mut criteria = vec![CriterionSpec::Any; NAMED_PIPE_CREATE.fields.len()];
    criteria[0] = CriterionSpec::Regex {
        pattern: "zebra".into(),
        case_insensitive: false,
    };
    let mut content = spec();
    content
        .instances
        .push(report(11, NAMED_PIPE_CREATE.id, criteria));
    let mut b = changuard_format::build::build(&content, &key()).unwrap();
    check(&b).expect("fixture is valid");
    // The first DFA with an accelerated state, and that state.
    let (_, _, dfas) = raw::section(&b, SectionKind::Dfas).unwrap();
    let (blob, copy, k, id) = (0..dfas as usize)
        .map(|d| {
            let blob = raw::dfa_blob(&b, d).unwrap();
            let len = get_u32(&b, raw::dfa_entry(&b, d).unwrap() + 4) as usize;
            (blob, AlignedBytes::from_slice(&b[blob..blob + len]))
        })
        .find_map(|(blob, copy)| {
            let (dfa, _) = DFA::from_bytes(&copy[..]).expect("the fixture's DFAs load");
            let (k, id) = changuard_format::analysis::special_states(&dfa)
                .find(|&(_, id)| dfa.is_accel_state(id))?;
            Some((blob, copy, k, id))
        })
        .expect("a DFA of the fixture has an accelerated state");
    let (dfa, _) = DFA::from_bytes(&copy[..]).unwrap();
    let stay = (0..=255u8)
        .find(|&x| dfa.next_state(id, x) == id)
        .expect("a byte the state loops on");
    let class = usize::from(dfa.byte_classes().get(stay));
    let cell = blob + TABLE + 4 * (id.as_usize() + class);
    assert_eq!(
        get_u32(&b, cell) as usize,
        id.as_usize(),
        "the table is where expected"
    );
    let leaving = (0..=255u8).filter(|&x| dfa.next_state(id, x) != id).count();
    let class_bytes = (0..=255u8)
        .filter(|&x| usize::from(dfa.byte_classes().get(x)) == class)
        .count();
    // To the dead state: still a valid transition for `from_bytes`.
    put_u32(&mut b, cell, 0);
    sign(&mut b, &key()).unwrap();
    let r = check(&b).expect_err("an accelerator missing a leaving byte");
    assert_eq!(
        (r.rule, r.offset, r.expected, r.found),
        (
            Rule::BadDfa,
            blob as u64,
            k as u64,
            (leaving + class_bytes) as u64
        ),
        "{r}"
    );
}

#[test]
fn misaligned_buffer_is_a_rejection_not_a_panic() {
    let b = built();
    let mut shifted = vec![0u8];
    shifted.extend_from_slice(&b);
    let buf = AlignedBytes::from_slice(&shifted);
    let keys = trusted();
    let r = validate(&buf[1..], &Trust::new(&keys), CHANNEL).expect_err("misaligned");
    assert_eq!(r.rule, Rule::BadDfa);
    assert_eq!(r.offset, raw::dfa_blob(&b, 0).unwrap() as u64);
}

#[test]
fn wrong_expected_channel() {
    let buf = AlignedBytes::from_slice(&built());
    let keys = trusted();
    let r = validate(&buf[..], &Trust::new(&keys), 292).expect_err("wrong channel");
    assert_eq!(
        (r.rule, r.offset, r.expected, r.found),
        (Rule::WrongChannel, 16, 292, 291)
    );
}

/// The required-literal hint of DFA entries (docs/FORMAT.md, "Required
/// literals"): index in range or NONE, length cap, FOLDED when flagged,
/// reserved word zero. Its own fixture: DFA 0 has a folded literal, DFA 1 an
/// exact one with an upper-case letter, DFA 2 none; string 600 bytes long.
#[test]
fn dfa_literal_hint() {
    use changuard_format::build::{ChannelSpec, CriterionSpec, build};
    use changuard_format::schema::PROCESS_CREATE;
    use changuard_format::{SCHEMA_ID, StrOp};
    let re = |p: &str| CriterionSpec::Regex {
        pattern: p.into(),
        case_insensitive: false,
    };
    let mut criteria = vec![CriterionSpec::Any; PROCESS_CREATE.input_count()];
    criteria[0] = re(r"(?i)-urlcache.*https?://");
    criteria[1] = re(r"\\msse-[0-9]{1,5}-Server$");
    criteria[2] = re(r"x|y");
    criteria[3] = CriterionSpec::Str {
        op: StrOp::Contains,
        value: "a".repeat(600),
        case_insensitive: false,
    };
    let spec = ChannelSpec {
        channel: CHANNEL,
        version: 1,
        schema_id: SCHEMA_ID,
        instances: vec![changuard_format::build::InstanceSpec {
            also: Vec::new(),
            unless: Vec::new(),
            metadata: Default::default(),
            id: 1,
            template: PROCESS_CREATE.id,
            action: changuard_format::Action::Report,
            criteria,
        }],
    };
    let good = build(&spec, &key()).unwrap();
    {
        let buf = AlignedBytes::from_slice(&good);
        let keys = trusted();
        let v = validate(&buf[..], &Trust::new(&keys), CHANNEL).expect("valid");
        let l = |d| {
            v.dfa_literal(d)
                .unwrap()
                .map(|l| (l.text.to_string(), l.folded))
        };
        assert_eq!(l(0), Some(("-urlcache".into(), true)));
        assert_eq!(l(1), Some(("-Server".into(), false)));
        assert_eq!(l(2), None);
        assert_eq!(v.dfa_literal(3), None);
    }
    let (_, _, nstrings) = raw::section(&good, SectionKind::Strings).unwrap();
    let long = (0..nstrings as usize)
        .find(|&i| {
            let e = raw::string_entry(&good, i).unwrap();
            u16::from_le_bytes([good[e + 4], good[e + 5]]) == 600
        })
        .unwrap() as u32;
    let f = |d: usize, r: std::ops::Range<usize>| raw::dfa_entry(&good, d).unwrap() + r.start;
    use layout::dfa_entry as de;
    // (rule, expected offset, u32 field written, value)
    let cases = [
        (
            Rule::StringOutOfRange,
            f(0, de::LITERAL),
            f(0, de::LITERAL),
            nstrings,
        ),
        (
            Rule::StringTooLong,
            f(0, de::LITERAL),
            f(0, de::LITERAL),
            long,
        ),
        (
            Rule::NeedleNotFolded,
            f(1, de::FLAGS),
            f(1, de::FLAGS),
            layout::DFA_FLAG_LITERAL_FOLDED,
        ),
        (
            Rule::ReservedNonZero,
            f(2, de::FLAGS),
            f(2, de::FLAGS),
            layout::DFA_FLAG_LITERAL_FOLDED,
        ),
        (Rule::ReservedNonZero, f(0, de::FLAGS), f(0, de::FLAGS), 16),
        // A single literal flagged as a set: one member.
        (
            Rule::LiteralSet,
            f(1, de::LITERAL),
            f(1, de::FLAGS),
            layout::DFA_FLAG_LITERAL_SET,
        ),
        // A group word on an entry that is not grouped.
        (Rule::ReservedNonZero, f(1, de::GROUP), f(1, de::GROUP), 1),
        // The grouped flag on an entry whose word names another owner than
        // the criterion using it (ProcessCreate field 0): caught at the
        // criterion (groups.rs has the rest of regex-group).
        (
            Rule::RegexGroup,
            crit(&good, 0, 0) + layout::criterion::INDEX.start,
            f(0, de::FLAGS),
            layout::DFA_FLAG_GROUPED,
        ),
    ];
    for (rule, at, field, value) in cases {
        let mut b = good.clone();
        put_u32(&mut b, field, value);
        sign(&mut b, &key()).unwrap();
        expect_raw(&b, rule, at);
    }
    // An in-range hint the writer would not have chosen is accepted: the
    // validator checks the hint's shape, not that it is required (the signer
    // vouches for that, and the engine proves it before using it).
    let mut b = good.clone();
    put_u32(&mut b, f(2, de::LITERAL), 0);
    sign(&mut b, &key()).unwrap();
    check(&b).expect("a well-formed hint is the signer's claim");
}

/// A literal set (docs/FORMAT.md, "Literal sets"): the writer's set is
/// accepted and decodes to its members; an empty member is `literal-set`.
#[test]
fn literal_set_shape() {
    use changuard_format::build::{CriterionSpec, build};
    use changuard_format::schema::PROCESS_CREATE;
    let mut criteria = vec![CriterionSpec::Any; PROCESS_CREATE.input_count()];
    criteria[0] = CriterionSpec::Regex {
        pattern: r"(abcd|efgh)[0-9]".into(),
        case_insensitive: false,
    };
    let mut spec = spec();
    spec.instances = vec![report(1, PROCESS_CREATE.id, criteria)];
    let good = build(&spec, &key()).unwrap();
    let buf = AlignedBytes::from_slice(&good);
    let keys = trusted();
    let v = validate(&buf[..], &Trust::new(&keys), CHANNEL).expect("valid");
    let hint = v.dfa_literal(0).unwrap().unwrap();
    assert!(hint.set && !hint.folded);
    let members: Vec<&[u8]> = hint.members().collect();
    assert_eq!(members, [&b"abcd"[..], b"efgh"]);
    // "abcd\0efgh" -> "abcd\0\0fgh": an empty member.
    let at = good.windows(9).position(|w| w == b"abcd\0efgh").unwrap();
    let mut b = good.clone();
    b[at + 5] = 0;
    sign(&mut b, &key()).unwrap();
    let lit = raw::dfa_entry(&b, 0).unwrap() + layout::dfa_entry::LITERAL.start;
    expect_raw(&b, Rule::LiteralSet, lit);
}
