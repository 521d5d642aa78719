//! Shared test helpers: build signed channels from specs, validate them into
//! aligned buffers, and generate random content and events (proptest).
#![allow(dead_code)]

use changuard_format::build::{
    BuildOptions, ChannelSpec, CriterionSpec, InstanceSpec, SigningKey, build_with,
};
use changuard_format::schema::{FieldType, TEMPLATE_TYPES, TemplateType};
use changuard_format::{
    Action, AlignedBytes, SCHEMA_ID, StrOp, Trust, TrustedKey, ValidChannel, validate,
};
use changuard_interp::{Event, Value};
use proptest::prelude::*;

pub fn key() -> SigningKey {
    SigningKey::from_seed([7u8; 32])
}

/// Build + validate; panics (test only) on failure.
pub fn build_aligned(specs: &[ChannelSpec]) -> (Vec<AlignedBytes>, TrustedKey) {
    build_aligned_with(specs, &BuildOptions::default())
}

/// [`build_aligned`] with writer options (regex groups).
pub fn build_aligned_with(
    specs: &[ChannelSpec],
    options: &BuildOptions,
) -> (Vec<AlignedBytes>, TrustedKey) {
    let k = key();
    let bufs = specs
        .iter()
        .map(|s| AlignedBytes::from_slice(&build_with(s, &k, options).expect("build")))
        .collect();
    (bufs, k.trusted_key())
}

/// Regex-heavy content, laid out so the writer can group: runs of regexes on
/// one string field of one template type, the case mode changing every few,
/// from [`PATTERNS`] and IOC-style families (`\\postex_[0-9a-f]{n}`, and
/// `(postex_|pipe)[0-9a-f]{n}` with a literal set), some
/// instances with a literal criterion too (so group members are also
/// evaluated as candidates of other anchors).
pub fn regex_heavy_specs() -> impl Strategy<Value = Vec<ChannelSpec>> {
    let family = (
        prop::sample::select(&["postex_", "msagent_", "cmd", "exe"][..]),
        1u32..4,
    )
        .prop_map(|(f, n)| format!(r"{f}[0-9a-f]{{{n}}}"));
    // Families without a single literal but with a literal set (one member
    // per branch; the second needs its members shortened to fit).
    let set_family = (
        prop::sample::select(&["(postex_|pipe)", r"(cmd|\.exe)[0-9]", "(windows|😀pipe)"][..]),
        1u32..4,
    )
        .prop_map(|(f, n)| format!(r"{f}[0-9a-f]{{{n}}}"));
    let pattern = prop_oneof![
        2 => prop::sample::select(PATTERNS).prop_map(String::from),
        1 => family,
        2 => set_family.clone(),
    ];
    // Some blocks are set families only: the writer keeps regexes with
    // literal sets in a group of their own only when no regex of their
    // field lacks both a literal and a set.
    let patterns = prop_oneof![
        3 => prop::collection::vec(pattern, 1..6),
        1 => prop::collection::vec(set_family, 2..6),
    ];
    let inst = (
        template(),
        0usize..2,
        patterns,
        any::<bool>(),
        prop::option::of(token_string(2)),
    );
    prop::collection::vec(prop::collection::vec(inst, 1..8), 1..=3).prop_map(|chans| {
        chans
            .into_iter()
            .enumerate()
            .map(|(c, blocks)| {
                let mut instances = Vec::new();
                for (t, which, patterns, ci, extra) in blocks {
                    let strs: Vec<usize> = (0..t.input_count())
                        .filter(|&k| t.fields[k].ty == FieldType::Str)
                        .collect();
                    let k = strs[which % strs.len()];
                    for p in patterns {
                        let mut criteria = vec![CriterionSpec::Any; t.input_count()];
                        criteria[k] = CriterionSpec::Regex {
                            pattern: p,
                            case_insensitive: ci,
                        };
                        if let Some(e) = &extra {
                            let other = strs[(which + 1) % strs.len()];
                            if other != k {
                                criteria[other] = s(StrOp::Contains, e, false);
                            }
                        }
                        let id = instances.len() as u32 + 1;
                        instances.push(InstanceSpec {
                            also: Vec::new(),
                            unless: Vec::new(),
                            metadata: Default::default(),
                            id,
                            template: t.id,
                            action: Action::Report,
                            criteria,
                        });
                    }
                }
                spec(290 + c as u32, instances)
            })
            .collect()
    })
}

pub fn validate_all<'a>(
    bufs: &'a [AlignedBytes],
    specs: &[ChannelSpec],
    tk: &TrustedKey,
) -> Vec<ValidChannel<&'a [u8]>> {
    let keys = [*tk];
    let trust = Trust::new(&keys);
    bufs.iter()
        .zip(specs)
        .map(|(b, s)| validate(b.as_ref(), &trust, s.channel).expect("validate"))
        .collect()
}

pub fn spec(channel: u32, instances: Vec<InstanceSpec>) -> ChannelSpec {
    ChannelSpec {
        channel,
        version: 1,
        schema_id: SCHEMA_ID,
        instances,
    }
}

/// An instance of `t` with all-Any criteria except `set` (field name -> criterion).
pub fn inst(
    id: u32,
    t: &TemplateType,
    action: Action,
    set: &[(&str, CriterionSpec)],
) -> InstanceSpec {
    let mut criteria = vec![CriterionSpec::Any; t.input_count()];
    for (name, c) in set {
        let k = t
            .field_index(name)
            .unwrap_or_else(|| panic!("no field {name}"));
        criteria[k] = c.clone();
    }
    InstanceSpec {
        also: Vec::new(),
        unless: Vec::new(),
        metadata: Default::default(),
        id,
        template: t.id,
        action,
        criteria,
    }
}

pub fn s(op: StrOp, v: &str, ci: bool) -> CriterionSpec {
    CriterionSpec::Str {
        op,
        value: v.to_string(),
        case_insensitive: ci,
    }
}

/// Owned event values (strings owned), convertible to an [`Event`].
#[derive(Clone, Debug)]
pub enum OwnedValue {
    Str(String),
    Int(u64),
}

#[derive(Clone, Debug)]
pub struct OwnedEvent {
    pub template: u16,
    pub values: Vec<OwnedValue>,
}

impl OwnedEvent {
    pub fn values(&self) -> Vec<Value<'_>> {
        self.values
            .iter()
            .map(|v| match v {
                OwnedValue::Str(s) => Value::Str(s),
                OwnedValue::Int(i) => Value::Int(*i),
            })
            .collect()
    }
    pub fn with<R>(&self, f: impl FnOnce(&Event<'_>) -> R) -> R {
        let vals = self.values();
        let ev = Event::from_values(self.template, &vals).expect("event shape");
        f(&ev)
    }
}

// --- generators --------------------------------------------------------------

const TOKENS: &[&str] = &[
    "a", "b", "A", "B", "ab", "\\", "é", "É", "ß", "x", ".exe", ".EXE", "cmd", "CMD", "C:\\",
    "c:\\", "Windows", "wIndows", "pipe", "😀", "-enc", " ", "0", "12", "postex_", "9f",
];

pub fn token_string(max: usize) -> impl Strategy<Value = String> + use<> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..=max).prop_map(|v| v.concat())
}

/// Field strings: token strings, sometimes long (adversarial), sometimes empty.
pub fn field_string() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => token_string(8),
        1 => Just(String::new()),
        1 => (token_string(3), 50usize..400).prop_map(|(t, n)| t.repeat(n.min(2000 / t.len().max(1)))),
    ]
}

const PATTERNS: &[&str] = &[
    "cmd",
    "a+b",
    "^x",
    "exe$",
    "[0-9]{2}",
    "é",
    r"\\",
    "a|b",
    "",
    "(?i)windows",
    r"c:\\w",
    "ß+",
    r"\.exe$",
    "^$",
    "b{3,}",
    // Required literals of >= 4 bytes (regex anchors): folded, exact, non-ASCII.
    r"(?i)c:\\windows",
    r"pipe[0-9]*\.exe",
    r"(?i)\.EXE$",
    r"😀pipe",
    r"(cmd)+\.exe",
    r"ÉWindows",
];

pub fn criterion(ty: FieldType) -> BoxedStrategy<CriterionSpec> {
    let ints = prop::sample::select(&[0u64, 1, 2, 3, 5, 12, 0xffff, u64::MAX][..]);
    match ty {
        FieldType::Str => prop_oneof![
            16 => Just(CriterionSpec::Any),
            3 => (prop::sample::select(&[StrOp::Equals, StrOp::Prefix, StrOp::Suffix, StrOp::Contains][..]),
                  token_string(4), any::<bool>())
                .prop_map(|(op, value, ci)| CriterionSpec::Str { op, value, case_insensitive: ci }),
            1 => (prop::sample::select(PATTERNS), any::<bool>())
                .prop_map(|(p, ci)| CriterionSpec::Regex { pattern: p.to_string(), case_insensitive: ci }),
        ]
        .boxed(),
        FieldType::Int => prop_oneof![
            20 => Just(CriterionSpec::Any),
            2 => ints.clone().prop_map(CriterionSpec::IntEquals),
            1 => (ints.clone(), ints.clone()).prop_map(|(a, b)| CriterionSpec::IntRange { lo: a.min(b), hi: a.max(b) }),
            1 => (ints.clone(), ints).prop_map(|(m, v)| CriterionSpec::IntMask { mask: m, value: v & m }),
        ]
        .boxed(),
    }
}

pub fn template() -> impl Strategy<Value = &'static TemplateType> {
    (0..TEMPLATE_TYPES.len()).prop_map(|k| &TEMPLATE_TYPES[k])
}

/// One instance's template, action and rows: row 0, then AND rows, then
/// UNLESS rows, made canonical ([`canonical_rows`]).
pub type RandomInstance = (u16, Action, Vec<CriterionSpec>, Rows);
/// AND rows and UNLESS rows.
pub type Rows = (Vec<Vec<CriterionSpec>>, Vec<Vec<CriterionSpec>>);

pub fn instance_spec() -> impl Strategy<Value = RandomInstance> {
    (
        template(),
        prop::sample::select(&[Action::Report, Action::BlockCandidate][..]),
        0..=2usize,
        prop_oneof![3 => Just(0usize), 1 => 1..=3usize],
    )
        .prop_flat_map(|(t, a, n_and, n_unless)| {
            let row = move || -> Vec<_> { t.fields.iter().map(|f| criterion(f.ty)).collect() };
            (
                Just(t.id),
                Just(a),
                row(),
                prop::collection::vec(row(), n_and),
                prop::collection::vec(row(), n_unless),
            )
                .prop_map(|(t, a, first, also, unless)| {
                    let (also, unless) = canonical_rows(&first, also, unless);
                    (t, a, first, (also, unless))
                })
        })
}

/// The rows the validator accepts (docs/FORMAT.md, "Rows"): an AND row tests
/// a field only where the row above does, and no row after the first is
/// all wildcards.
pub fn canonical_rows(
    first: &[CriterionSpec],
    also: Vec<Vec<CriterionSpec>>,
    unless: Vec<Vec<CriterionSpec>>,
) -> Rows {
    let mut above = first.to_vec();
    let mut out_also = Vec::new();
    for mut row in also {
        for (c, a) in row.iter_mut().zip(&above) {
            if *a == CriterionSpec::Any {
                *c = CriterionSpec::Any;
            }
        }
        if row.iter().all(|c| *c == CriterionSpec::Any) {
            break;
        }
        above = row.clone();
        out_also.push(row);
    }
    let unless = unless
        .into_iter()
        .filter(|r| r.iter().any(|c| *c != CriterionSpec::Any))
        .collect();
    (out_also, unless)
}

pub fn channel_specs() -> impl Strategy<Value = Vec<ChannelSpec>> {
    prop::collection::vec(prop::collection::vec(instance_spec(), 0..40), 1..=3).prop_map(|chans| {
        chans
            .into_iter()
            .enumerate()
            .map(|(c, insts)| {
                let instances = insts
                    .into_iter()
                    .enumerate()
                    .map(
                        |(i, (template, action, criteria, (also, unless)))| InstanceSpec {
                            also,
                            unless,
                            metadata: Default::default(),
                            id: (i as u32) * 3 + 1,
                            template,
                            action,
                            criteria,
                        },
                    )
                    .collect();
                spec(290 + c as u32, instances)
            })
            .collect()
    })
}

/// An event; field strings are sometimes taken from the content's needles
/// (with case changes and affixes) so that anchors actually fire.
pub fn event_for(specs: &[ChannelSpec]) -> impl Strategy<Value = OwnedEvent> + use<> {
    let mut needles: Vec<String> = specs
        .iter()
        .flat_map(|s| s.instances.iter())
        .flat_map(|i| {
            std::iter::once(&i.criteria)
                .chain(&i.also)
                .chain(&i.unless)
                .flatten()
        })
        .filter_map(|c| match c {
            CriterionSpec::Str { value, .. } => Some(value.clone()),
            _ => None,
        })
        .collect();
    needles.push(String::new());
    let needles = std::sync::Arc::new(needles);
    (template(), any::<u64>()).prop_flat_map(move |(t, _)| {
        let n = needles.clone();
        let vals: Vec<BoxedStrategy<OwnedValue>> = t
            .fields
            .iter()
            .map(|f| {
                let n = n.clone();
                let str_v = prop_oneof![
                    2 => field_string(),
                    3 => (prop::sample::select((*n).clone()), token_string(2), token_string(2), 0u8..4)
                        .prop_map(|(nd, pre, suf, how)| {
                            let core = match how {
                                0 => nd.to_ascii_uppercase(),
                                1 => nd.to_ascii_lowercase(),
                                _ => nd,
                            };
                            match how {
                                3 => core,
                                _ => format!("{pre}{core}{suf}"),
                            }
                        }),
                ];
                let int_v = prop::sample::select(&[0u64, 1, 2, 3, 4, 5, 12, 13, 0xffff, u64::MAX][..]);
                let wrong = 1u32; // weight of a wrong-typed value
                match f.ty {
                    FieldType::Str => prop_oneof![
                        300 => str_v.prop_map(OwnedValue::Str),
                        wrong => int_v.prop_map(OwnedValue::Int),
                    ]
                    .boxed(),
                    FieldType::Int => prop_oneof![
                        300 => int_v.prop_map(OwnedValue::Int),
                        wrong => field_string().prop_map(OwnedValue::Str),
                    ]
                    .boxed(),
                }
            })
            .collect();
        (Just(t.id), vals).prop_map(|(template, values)| OwnedEvent { template, values })
    })
}
