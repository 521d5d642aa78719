//! Realistic content and events for the benchmarks (and for anyone who wants
//! big fixtures). Deterministic: a fixed xorshift seed, no `rand` dependency.

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, SigningKey, build};
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE, TemplateType};
use changuard_format::{
    Action, AlignedBytes, SCHEMA_ID, StrOp, Trust, TrustedKey, ValidChannel, validate,
};
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

/// `n` realistic instances (70% ProcessCreate, 30% NamedPipeCreate) spread
/// over channels of [`PER_CHANNEL`]. With `regex`, about 10% of the non-`Any`
/// criteria are regexes: most refine a literal anchor (as real detections
/// do), and 1% of instances are regex-only.
pub fn mixed_specs(n: usize, regex: bool) -> Vec<ChannelSpec> {
    let mut r = Rng::new(0x5eed_0000 ^ n as u64);
    let pc = &PROCESS_CREATE;
    let np = &NAMED_PIPE_CREATE;
    let mut insts = Vec::with_capacity(n);
    for k in 0..n {
        let w = word(&mut r, k);
        let roll = r.below(100);
        let (t, c) = if r.below(10) < 7 {
            let mut c = any(pc);
            match (roll, regex) {
                (0, true) => set(
                    pc,
                    &mut c,
                    "command_line",
                    re(format!(r"-{w}\s+[a-z0-9+/=]{{16,}}")),
                ),
                (1..=18, true) => {
                    set(
                        pc,
                        &mut c,
                        "image_path",
                        st(StrOp::Suffix, format!("\\{w}.exe")),
                    );
                    set(
                        pc,
                        &mut c,
                        "command_line",
                        re(format!(r"\s/{w}:[0-9]{{2,5}}(\s|$)")),
                    );
                }
                (0..=24, _) => {
                    set(
                        pc,
                        &mut c,
                        "image_path",
                        st(StrOp::Suffix, format!("\\{w}.exe")),
                    );
                    set(
                        pc,
                        &mut c,
                        "command_line",
                        st(StrOp::Contains, format!("--{w}")),
                    );
                }
                (25..=44, _) => {
                    set(
                        pc,
                        &mut c,
                        "image_path",
                        st(StrOp::Equals, format!("c:\\program files\\{w}\\{w}.exe")),
                    );
                    set(
                        pc,
                        &mut c,
                        "integrity_level",
                        CriterionSpec::IntRange {
                            lo: 0x2000,
                            hi: 0x3000,
                        },
                    );
                }
                (45..=59, _) => {
                    set(
                        pc,
                        &mut c,
                        "command_line",
                        st(StrOp::Contains, format!("{:08x}", r.next_u64() as u32)),
                    );
                }
                (60..=74, _) => {
                    set(
                        pc,
                        &mut c,
                        "parent_image_path",
                        st(StrOp::Suffix, format!("\\{w}.exe")),
                    );
                    set(pc, &mut c, "image_path", st(StrOp::Suffix, "\\cmd.exe"));
                    set(
                        pc,
                        &mut c,
                        "session_id",
                        CriterionSpec::IntRange {
                            lo: 1,
                            hi: u32::MAX as u64,
                        },
                    );
                }
                (75..=89, _) => {
                    set(
                        pc,
                        &mut c,
                        "image_path",
                        st(StrOp::Prefix, format!("c:\\users\\public\\{w}")),
                    );
                    set(pc, &mut c, "token_elevated", CriterionSpec::IntEquals(1));
                }
                _ => {
                    set(
                        pc,
                        &mut c,
                        "user_sid",
                        st(
                            StrOp::Equals,
                            format!("s-1-5-21-1004336348-1177238915-682003330-{}", 1000 + k),
                        ),
                    );
                    set(
                        pc,
                        &mut c,
                        "command_line",
                        st(StrOp::Contains, format!(" -{w} ")),
                    );
                }
            }
            (pc, c)
        } else {
            let mut c = any(np);
            match (roll, regex) {
                (0, true) => set(
                    np,
                    &mut c,
                    "pipe_name",
                    re(format!(r"\\{w}_[0-9a-f]{{2,4}}$")),
                ),
                (1..=18, true) => {
                    set(
                        np,
                        &mut c,
                        "pipe_name",
                        st(StrOp::Prefix, format!("\\device\\namedpipe\\{w}")),
                    );
                    set(
                        np,
                        &mut c,
                        "creating_image_path",
                        re(format!(r"\\{w}[0-9]*\.exe$")),
                    );
                }
                (0..=39, _) => {
                    set(
                        np,
                        &mut c,
                        "pipe_name",
                        st(StrOp::Equals, format!("\\device\\namedpipe\\{w}")),
                    );
                }
                (40..=69, _) => {
                    set(
                        np,
                        &mut c,
                        "pipe_name",
                        st(StrOp::Contains, format!("{w}-")),
                    );
                    set(np, &mut c, "is_remote", CriterionSpec::IntEquals(1));
                }
                _ => {
                    set(
                        np,
                        &mut c,
                        "creating_image_path",
                        st(StrOp::Suffix, format!("\\{w}.exe")),
                    );
                    set(
                        np,
                        &mut c,
                        "desired_access",
                        CriterionSpec::IntMask { mask: 2, value: 2 },
                    );
                }
            }
            (np, c)
        };
        let action = if k % 5 == 0 {
            Action::BlockCandidate
        } else {
            Action::Report
        };
        insts.push(InstanceSpec {
            id: k as u32 + 1,
            template: t.id,
            action,
            criteria: c,
        });
    }
    chunk(insts)
}

/// `n` regex-only instances per string field kind: NamedPipeCreate pipe-name
/// patterns (the Cobalt-Strike style `prefix_[0-9a-f]{2,4}$` family and
/// friends), all on `pipe_name`. Returns the specs and the pattern strings.
pub fn regex_only_specs(n: usize) -> (Vec<ChannelSpec>, Vec<String>) {
    let mut r = Rng::new(0xdead_beef ^ n as u64);
    let np = &NAMED_PIPE_CREATE;
    let mut pats = Vec::with_capacity(n);
    let mut insts = Vec::with_capacity(n);
    for k in 0..n {
        let w = word(&mut r, k);
        let p = match k % 4 {
            0 => format!(r"\\{w}_[0-9a-f]{{2,4}}$"),
            1 => format!(r"\\{w}-[0-9]{{1,5}}-(server|client)$"),
            2 => format!(r"\\(ipc|rpc)_{w}_[a-z]{{3}}"),
            _ => format!(r"{w}\.[0-9]+\.[0-9]+"),
        };
        let mut c = any(np);
        set(np, &mut c, "pipe_name", re(p.clone()));
        pats.push(format!("(?i){p}"));
        insts.push(InstanceSpec {
            id: k as u32 + 1,
            template: np.id,
            action: Action::Report,
            criteria: c,
        });
    }
    (chunk(insts), pats)
}

fn chunk(insts: Vec<InstanceSpec>) -> Vec<ChannelSpec> {
    insts
        .chunks(PER_CHANNEL)
        .enumerate()
        .map(|(c, part)| ChannelSpec {
            channel: 1000 + c as u32,
            version: 1,
            schema_id: SCHEMA_ID,
            instances: part.to_vec(),
        })
        .collect()
}

/// The benchmark signing key.
pub fn key() -> SigningKey {
    SigningKey::from_seed([9u8; 32])
}

/// Build every spec into an aligned, signed file.
pub fn build_all(specs: &[ChannelSpec]) -> Vec<AlignedBytes> {
    let k = key();
    specs
        .iter()
        .map(|s| AlignedBytes::from_slice(&build(s, &k).expect("build")))
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
    /// The event view.
    pub fn event(&self) -> Event<'_> {
        let t = if self.template == PROCESS_CREATE.id {
            &PROCESS_CREATE
        } else {
            &NAMED_PIPE_CREATE
        };
        let (mut s, mut i) = (self.strs.iter(), self.ints.iter());
        let vals: Vec<Value<'_>> = t
            .fields
            .iter()
            .map(|f| match f.ty {
                changuard_format::FieldType::Str => Value::Str(s.next().map_or("", String::as_str)),
                changuard_format::FieldType::Int => Value::Int(i.next().copied().unwrap_or(0)),
            })
            .collect();
        Event::from_values(t.id, &vals).expect("shape")
    }
}

const IMAGES: &[&str] = &[
    r"C:\Windows\System32\svchost.exe",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Windows\System32\cmd.exe",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
    r"C:\Windows\explorer.exe",
    r"C:\Windows\System32\conhost.exe",
    r"C:\Users\Олег\AppData\Local\Temp\счет_2024.exe",
    r"C:\Program Files (x86)\Steam\steamapps\common\game\bin\win64\game.exe",
];

/// `n` process events: benign-looking, with a few built from content words
/// so that some anchors fire and some instances match.
pub fn process_events(n: usize) -> Vec<OwnedEvent> {
    let mut r = Rng::new(42);
    (0..n)
        .map(|k| {
            let image = if k % 8 == 0 {
                format!(r"C:\Users\Public\{}\{}.exe", word(&mut r, k), word(&mut r, k))
            } else {
                r.pick(IMAGES).to_string()
            };
            let cmd = format!(
                r#""{image}" --type=renderer --field-trial-handle={},{} --lang=en-US --{} /{}:{} {}"#,
                r.next_u64() % 100_000,
                r.next_u64(),
                { let k = (r.next_u64() % 200) as usize; word(&mut r, k) },
                { let k = (r.next_u64() % 200) as usize; word(&mut r, k) },
                r.next_u64() % 9999,
                if k % 3 == 0 { "-enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA" } else { "" }
            );
            OwnedEvent {
                template: PROCESS_CREATE.id,
                strs: vec![
                    image,
                    cmd,
                    r.pick(IMAGES).to_string(),
                    format!("S-1-5-21-1004336348-1177238915-682003330-{}", 1000 + r.below(300)),
                ],
                ints: vec![4000 + r.below(4000), 600 + r.below(400), 600, r.below(3), 0x2000, r.below(2)],
            }
        })
        .collect()
}

/// `n` pipe events.
pub fn pipe_events(n: usize) -> Vec<OwnedEvent> {
    let mut r = Rng::new(7);
    (0..n)
        .map(|k| {
            let pipe = match k % 4 {
                0 => format!(
                    r"\Device\NamedPipe\mojo.{}.{}.{}",
                    r.below(9000),
                    r.below(9000),
                    r.next_u64()
                ),
                1 => {
                    let k = (r.next_u64() % 300) as usize;
                    format!(
                        r"\Device\NamedPipe\{}_{:x}",
                        word(&mut r, k),
                        r.below(0xfff)
                    )
                }
                2 => r"\Device\NamedPipe\lsarpc".to_string(),
                _ => format!(
                    r"\Device\NamedPipe\crashpad_{}_{}",
                    r.below(9000),
                    r.next_u64() % 100_000
                ),
            };
            OwnedEvent {
                template: NAMED_PIPE_CREATE.id,
                strs: vec![
                    pipe,
                    r.pick(IMAGES).to_string(),
                    r.pick(IMAGES).to_string(),
                    String::new(),
                    "S-1-5-18".into(),
                    "S-1-5-18".into(),
                ],
                ints: vec![
                    4000,
                    0,
                    1,
                    1,
                    0x0012019f,
                    3,
                    3,
                    0,
                    255,
                    4096,
                    4096,
                    50,
                    0x2000,
                    r.below(2),
                ],
            }
        })
        .collect()
}

/// Serialized size of every DFA in `chans` and their count.
pub fn dfa_bytes(chans: &[ValidChannel<&[u8]>]) -> (usize, usize) {
    let mut total = 0;
    let mut n = 0;
    for c in chans {
        for d in 0..c.dfa_count() {
            total += c.dfa_bytes(d).map_or(0, <[u8]>::len);
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
