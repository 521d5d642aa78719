//! Realistic content and events for the benchmarks (and for anyone who wants
//! big fixtures). Deterministic: a fixed xorshift seed, no `rand` dependency.

mod ceiling;
mod cmdline;
mod mixed;
mod pipes;
pub mod sigma;

pub use ceiling::{ceiling_event, ceiling_spec, ceiling_spec_after_range};
pub use cmdline::{
    CMDLINE_FAMILIES, CMDLINE_PER_CHANNEL, base64, cmdline_events, cmdline_ioc, cmdline_pattern,
    cmdline_word, ps_encode, regex_only_command_line_packed_specs, regex_only_command_line_specs,
};
pub use mixed::{mixed_specs, pipe_events, process_events};
pub use pipes::{
    family_pipe_events, regex_only_family_packed_specs, regex_only_family_specs, regex_only_specs,
};

use changuard_format::build::{
    BuildOptions, ChannelSpec, CriterionSpec, InstanceSpec, PackLimits, SigningKey, build_with,
    pack_by_family,
};
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE, TemplateType};
use changuard_format::{AlignedBytes, SCHEMA_ID, StrOp, Trust, TrustedKey, ValidChannel, validate};
use changuard_interp::{Event, Value};

/// Instances per channel file: keeps each file under the format's DFA caps.
pub const PER_CHANNEL: usize = 500;

/// Tiny deterministic PRNG.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Pick one.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "update", "helper", "sync", "agent", "svc", "loader", "drop", "stage", "beacon", "relay",
    "tool", "patch", "host", "setup", "dump", "scan", "proxy", "shell", "task", "cache",
];

fn word(r: &mut Rng, k: usize) -> String {
    format!("{}{}", r.pick(WORDS), k)
}

fn any(t: &TemplateType) -> Vec<CriterionSpec> {
    vec![CriterionSpec::Any; t.input_count()]
}

fn set(t: &TemplateType, c: &mut [CriterionSpec], name: &str, v: CriterionSpec) {
    c[t.field_index(name).expect("field")] = v;
}

fn st(op: StrOp, v: impl Into<String>) -> CriterionSpec {
    CriterionSpec::Str {
        op,
        value: v.into(),
        case_insensitive: true,
    }
}

fn re(p: impl Into<String>) -> CriterionSpec {
    CriterionSpec::Regex {
        pattern: p.into(),
        case_insensitive: true,
    }
}

fn chunk(insts: Vec<InstanceSpec>) -> Vec<ChannelSpec> {
    chunk_by(insts, PER_CHANNEL)
}

fn pack(insts: Vec<InstanceSpec>) -> Vec<ChannelSpec> {
    pack_by(insts, PER_CHANNEL)
}

fn chunk_by(insts: Vec<InstanceSpec>, per: usize) -> Vec<ChannelSpec> {
    channels(insts.chunks(per).map(<[InstanceSpec]>::to_vec))
}

/// `insts` laid out by the toolchain's packer
/// ([`changuard_format::build::pack_by_family`]): at most `per` instances
/// per file, as [`chunk_by`], and the format's DFA budget per file.
fn pack_by(insts: Vec<InstanceSpec>, per: usize) -> Vec<ChannelSpec> {
    let limits = PackLimits {
        instances: per,
        ..PackLimits::DEFAULT
    };
    channels(
        pack_by_family(&insts, limits)
            .expect("benchmark regexes compile")
            .into_iter(),
    )
}

/// One channel spec per file, ids from 1000.
fn channels(files: impl Iterator<Item = Vec<InstanceSpec>>) -> Vec<ChannelSpec> {
    files
        .enumerate()
        .map(|(c, instances)| ChannelSpec {
            channel: 1000 + c as u32,
            version: 1,
            schema_id: SCHEMA_ID,
            instances,
        })
        .collect()
}

/// The benchmark signing key.
pub fn key() -> SigningKey {
    SigningKey::from_seed([9u8; 32])
}

/// Build every spec into an aligned, signed file, regexes in groups (as
/// `changuard build` writes them).
pub fn build_all(specs: &[ChannelSpec]) -> Vec<AlignedBytes> {
    build_all_with(specs, &GROUPED)
}

/// The writer options `changuard build` uses: regex groups on.
pub const GROUPED: BuildOptions = BuildOptions {
    group_regexes: true,
};

/// [`build_all`] with explicit writer options (`BuildOptions::default()`:
/// one DFA per regex, the layout before regex groups).
pub fn build_all_with(specs: &[ChannelSpec], options: &BuildOptions) -> Vec<AlignedBytes> {
    let k = key();
    specs
        .iter()
        .map(|s| AlignedBytes::from_slice(&build_with(s, &k, options).expect("build")))
        .collect()
}

/// Validate every file (panics on rejection: benchmark fixtures are valid).
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

/// Owned event data; [`OwnedEvent::event`] borrows it as an [`Event`].
#[derive(Debug, Clone)]
pub struct OwnedEvent {
    /// Template id.
    pub template: u16,
    /// Strings of the string fields, in field order.
    pub strs: Vec<String>,
    /// Integers of the int fields, in field order.
    pub ints: Vec<u64>,
}

impl OwnedEvent {
    /// The event view (built on every call: a small allocation).
    pub fn event(&self) -> Event<'_> {
        Event::from_values(self.template, &self.values()).expect("shape")
    }

    /// The field values in schema order, for an event view built once
    /// ([`Event::from_values`] with `self.template`), as the driver's sensor
    /// builds one per kernel callback without allocating.
    pub fn values(&self) -> Vec<Value<'_>> {
        let t = if self.template == PROCESS_CREATE.id {
            &PROCESS_CREATE
        } else {
            &NAMED_PIPE_CREATE
        };
        let (mut s, mut i) = (self.strs.iter(), self.ints.iter());
        t.fields
            .iter()
            .map(|f| match f.ty {
                changuard_format::FieldType::Str => Value::Str(s.next().map_or("", String::as_str)),
                changuard_format::FieldType::Int => Value::Int(i.next().copied().unwrap_or(0)),
            })
            .collect()
    }
}

/// Serialized size of every DFA in `chans` and their count.
pub fn dfa_bytes(chans: &[ValidChannel<&[u8]>]) -> (usize, usize) {
    let mut total = 0;
    let mut n = 0;
    for c in chans {
        for d in 0..c.dfa_count() {
            // A regex group's DFA is stored once, with its first member.
            let shared = c.dfa_group(d).flatten().is_some_and(|g| g.pattern > 0);
            if !shared {
                total += c.dfa_bytes(d).map_or(0, <[u8]>::len);
            }
            n += 1;
        }
    }
    (total, n)
}

/// Make every `every`-th event satisfy one (non-regex) instance of `specs` of
/// its template type, so that benchmarks see real detections.
pub fn inject_hits(events: &mut [OwnedEvent], specs: &[ChannelSpec], every: usize) {
    let candidates: Vec<&InstanceSpec> = specs
        .iter()
        .flat_map(|s| s.instances.iter())
        .filter(|i| {
            !i.criteria
                .iter()
                .any(|c| matches!(c, CriterionSpec::Regex { .. }))
        })
        .collect();
    let mut r = Rng::new(99);
    for (k, e) in events.iter_mut().enumerate() {
        if k % every != 0 {
            continue;
        }
        let mine: Vec<&&InstanceSpec> = candidates
            .iter()
            .filter(|i| i.template == e.template)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let inst = r.pick(&mine);
        let t = if e.template == PROCESS_CREATE.id {
            &PROCESS_CREATE
        } else {
            &NAMED_PIPE_CREATE
        };
        let (mut si, mut ii) = (0, 0);
        for (f, c) in t.fields.iter().zip(&inst.criteria) {
            match (f.ty, c) {
                (changuard_format::FieldType::Str, CriterionSpec::Str { op, value, .. }) => {
                    e.strs[si] = match op {
                        StrOp::Equals => value.clone(),
                        StrOp::Prefix => format!("{value}\\x.EXE"),
                        StrOp::Suffix => format!("C:\\Some Dir\\{value}"),
                        StrOp::Contains => format!("{} {value} --verbose", e.strs[si]),
                    };
                }
                (_, CriterionSpec::IntEquals(v)) => e.ints[ii] = *v,
                (_, CriterionSpec::IntRange { lo, .. }) => e.ints[ii] = *lo,
                (_, CriterionSpec::IntMask { value, .. }) => e.ints[ii] = *value,
                _ => {}
            }
            match f.ty {
                changuard_format::FieldType::Str => si += 1,
                changuard_format::FieldType::Int => ii += 1,
            }
        }
    }
}
