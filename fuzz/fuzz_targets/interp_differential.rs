//! Arbitrary spec -> `build` -> `validate` -> `interp::Engine` vs the naive
//! `interp::reference` on arbitrary events. Any panic, any difference in
//! matches/truncation/faults, or an exhausted default budget (fields here are
//! far below the engine's field cap) is a crash.
//!
//! Strings are drawn mostly from a small token alphabet (so needles and fields
//! collide and anchors fire) with arbitrary UTF-8, case flips and long repeats
//! mixed in; some event values have the wrong type on purpose.
#![no_main]

use arbitrary::{Result, Unstructured};
use changuard_format::build::{
    BuildOptions, ChannelSpec, CriterionSpec, InstanceSpec, SigningKey, build_with,
};
use changuard_format::schema::{FieldType, TEMPLATE_TYPES};
use changuard_format::{Action, AlignedBytes, SCHEMA_ID, StrOp, Trust, ValidChannel, validate};
use changuard_interp::reference::Reference;
use changuard_interp::{Engine, EvalScratch, Event, Value, Verdict};
use libfuzzer_sys::fuzz_target;

const TOKENS: &[&str] = &[
    "a", "b", "A", "B", "\\", "é", "É", "ß", ".exe", ".EXE", "cmd", "CMD", "c:\\", "C:\\", "pipe",
    "😀", "-enc", " ", "0", "msagent_", "ab",
];

const PATTERNS: &[&str] = &[
    "cmd",
    "a+b",
    "^c",
    "exe$",
    "[0-9]{2}",
    "é",
    r"\\",
    "a|b",
    "",
    "^$",
    r"msagent_[0-9a-f]{2}$",
    "ß+",
];

fn string(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=9u8)? {
        0 => {
            let s: &str = u.arbitrary()?;
            s.chars().take(32).collect()
        }
        1 => {
            let t = string_tokens(u, 3)?;
            let n = u.int_in_range(1..=40usize)?;
            t.repeat(n)
        }
        _ => string_tokens(u, 6)?,
    })
}

fn string_tokens(u: &mut Unstructured, max: usize) -> Result<String> {
    let n = u.int_in_range(0..=max)?;
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(u.choose(TOKENS)?);
    }
    Ok(s)
}

fn criterion(u: &mut Unstructured, ty: FieldType) -> Result<CriterionSpec> {
    let ints = [0u64, 1, 2, 3, 5, 0xffff, u64::MAX];
    Ok(match (ty, u.int_in_range(0..=9u8)?) {
        (_, 0..=5) => CriterionSpec::Any,
        (FieldType::Str, 6..=8) => CriterionSpec::Str {
            op: *u.choose(&[StrOp::Equals, StrOp::Prefix, StrOp::Suffix, StrOp::Contains])?,
            value: string(u)?,
            case_insensitive: u.arbitrary()?,
        },
        (FieldType::Str, _) => CriterionSpec::Regex {
            pattern: (*u.choose(PATTERNS)?).to_string(),
            case_insensitive: u.arbitrary()?,
        },
        (FieldType::Int, 6 | 7) => CriterionSpec::IntEquals(*u.choose(&ints)?),
        (FieldType::Int, 8) => {
            let (a, b) = (*u.choose(&ints)?, *u.choose(&ints)?);
            CriterionSpec::IntRange {
                lo: a.min(b),
                hi: a.max(b),
            }
        }
        (FieldType::Int, _) => {
            let (m, v) = (*u.choose(&ints)?, *u.choose(&ints)?);
            CriterionSpec::IntMask {
                mask: m,
                value: v & m,
            }
        }
    })
}

fn specs(u: &mut Unstructured) -> Result<Vec<ChannelSpec>> {
    let nch = u.int_in_range(1..=3u32)?;
    let mut out = Vec::new();
    for c in 0..nch {
        let n = u.int_in_range(0..=48u32)?;
        let mut instances = Vec::new();
        for i in 0..n {
            let t = u.choose(TEMPLATE_TYPES)?;
            let mut criteria = Vec::with_capacity(t.input_count());
            for f in t.fields {
                criteria.push(criterion(u, f.ty)?);
            }
            // AND rows test only fields the row above tests (the canonical
            // form); UNLESS rows any field. Rows that test nothing are dropped.
            let mut also: Vec<Vec<CriterionSpec>> = Vec::new();
            for _ in 0..u.int_in_range(0..=2u8)? {
                let above = also.last().unwrap_or(&criteria).clone();
                let mut row = Vec::with_capacity(t.input_count());
                for (f, a) in t.fields.iter().zip(&above) {
                    row.push(if *a == CriterionSpec::Any { CriterionSpec::Any } else { criterion(u, f.ty)? });
                }
                if row.iter().all(|c| *c == CriterionSpec::Any) {
                    break;
                }
                also.push(row);
            }
            let mut unless = Vec::new();
            for _ in 0..u.int_in_range(0..=2u8)? {
                let mut row = Vec::with_capacity(t.input_count());
                for f in t.fields {
                    row.push(criterion(u, f.ty)?);
                }
                if row.iter().any(|c| *c != CriterionSpec::Any) {
                    unless.push(row);
                }
            }
            instances.push(InstanceSpec {
                also,
                unless,
                metadata: Default::default(),
                id: i * 2 + 1,
                template: t.id,
                action: *u.choose(&[Action::Report, Action::BlockCandidate])?,
                criteria,
            });
        }
        out.push(ChannelSpec {
            channel: 100 + c,
            version: 1,
            schema_id: SCHEMA_ID,
            instances,
        });
    }
    Ok(out)
}

enum Owned {
    Str(String),
    Int(u64),
}

fn event(u: &mut Unstructured) -> Result<(u16, Vec<Owned>)> {
    let t = u.choose(TEMPLATE_TYPES)?;
    let mut vals = Vec::new();
    for f in t.fields {
        let wrong = u.ratio(1u8, 40)?;
        let as_str = (f.ty == FieldType::Str) != wrong;
        vals.push(if as_str {
            let mut s = string(u)?;
            if u.arbitrary()? {
                s = s.to_uppercase();
            }
            Owned::Str(s)
        } else {
            Owned::Int(*u.choose(&[0u64, 1, 2, 3, 4, 5, 0xffff, u64::MAX])?)
        });
    }
    Ok((t.id, vals))
}

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let specs = specs(&mut u)?;
    // Regex groups (shared multi-pattern DFAs) or one DFA per regex: the
    // engine and the reference must agree either way.
    let options = BuildOptions {
        group_regexes: u.arbitrary()?,
    };
    let key = SigningKey::from_seed([3u8; 32]);
    let mut bufs = Vec::new();
    for s in &specs {
        match build_with(s, &key, &options) {
            Ok(b) => bufs.push(AlignedBytes::from_slice(&b)),
            Err(_) => return Ok(()), // e.g. a string too long to encode
        }
    }
    let keys = [key.trusted_key()];
    let trust = Trust::new(&keys);
    let chans: Vec<ValidChannel<&[u8]>> = bufs
        .iter()
        .zip(&specs)
        .map(|(b, s)| {
            validate(b.as_ref(), &trust, s.channel).expect("well-formed spec must validate")
        })
        .collect();
    let engine = Engine::new(&chans).expect("engine must build from validated content");
    let reference = Reference::new(&chans).expect("reference");
    let (mut a, mut b) = (Verdict::new(), Verdict::new());
    // One working memory for every evaluation, as the driver's sensor keeps
    // it: nothing an evaluation leaves there (an exhausted one included)
    // may change the next one's verdict.
    let mut scratch = EvalScratch::new();
    while !u.is_empty() {
        let (t, owned) = event(&mut u)?;
        let vals: Vec<Value<'_>> = owned
            .iter()
            .map(|v| match v {
                Owned::Str(s) => Value::Str(s),
                Owned::Int(i) => Value::Int(*i),
            })
            .collect();
        let ev = Event::from_values(t, &vals).expect("shape");
        engine.evaluate_in(&ev, &mut a, &mut scratch);
        reference.evaluate(&ev, &mut b);
        assert!(
            !a.fuel_exhausted,
            "default budget exhausted on small fields: {a:?}"
        );
        assert_eq!(a.matches(), b.matches(), "matches differ on {ev:?}");
        assert_eq!(a.truncated, b.truncated);
        assert_eq!(a.faults, b.faults, "faults differ on {ev:?}");
        // A tiny budget must stop cleanly, never panic.
        let small = u.int_in_range(0..=64u64)?;
        engine.evaluate_with_fuel_in(&ev, small, &mut a, &mut scratch);
        assert!(a.fuel_used <= small);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
