//! `changuard import sigma`: SigmaHQ Windows process-creation rules to a
//! changuard TOML spec, with a per-rule report.
//!
//! Exact or refused, never silently weaker: each rule is `imported` (exact),
//! `approximated` (with the approximation stated) or `refused` (with the
//! reason). The condition is expanded to disjunctive normal form over field
//! tests; each conjunct is one `ProcessCreate` instance (all its criteria
//! ANDed), so a rule is the OR of its instances. Negation is not expressible
//! yet, and a rule that expands past [`MAX_INSTANCES_PER_RULE`] is refused.
//!
//! Every imported rule is built and validated on its own before it is kept
//! (a regex past the 1 MiB DFA cap refuses that rule, not the channel), and
//! the whole spec is built and validated at the end.
//!
//! The rules are under the Detection Rule License 1.1: each rule's id,
//! title, author and file name travel into the spec as comments above its
//! instances, and the spec's header links the rule set.

pub mod condition;
pub mod modifiers;
pub mod pcre;
pub mod report;
pub mod sysmon;
pub mod yaml;

use crate::spec;
use changuard_format::build::{self, ChannelSpec, CriterionSpec, InstanceSpec, SigningKey};
use changuard_format::schema::{self, PROCESS_CREATE};
use changuard_format::{Action, AlignedBytes, Trust, limits};
use clap::{Args, Subcommand};
use condition::{CondError, Dnf, Expr};
use modifiers::{Elem, MatchType};
use report::{Outcome, RuleReport};
use serde_yaml_ng::Value;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Instances one rule may expand to.
pub const MAX_INSTANCES_PER_RULE: usize = 64;

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub from: ImportFrom,
}

#[derive(Subcommand, Debug)]
pub enum ImportFrom {
    /// SigmaHQ Windows process-creation rules (files or directories of .yml).
    Sigma(SigmaArgs),
}

#[derive(Args, Debug)]
pub struct SigmaArgs {
    /// Rule files, or directories searched recursively for .yml/.yaml.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The TOML spec to write.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Channel id of the spec.
    #[arg(long, default_value_t = 1000)]
    pub channel: u32,
    /// Content version of the spec.
    #[arg(long, default_value_t = 1)]
    pub version: u64,
    /// Channels the rules may fill: rules that do not fit the first channel's
    /// budgets go to the next id, written beside `--out` as `STEM-2.toml`, ...
    /// The loader's set ceiling holds four channels at their per-file ceiling.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4))]
    pub channels: u32,
    /// One JSON object per rule on stdout (the summary goes to stderr).
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &ImportArgs) -> i32 {
    match &a.from {
        ImportFrom::Sigma(s) => run_sigma(s),
    }
}

fn run_sigma(a: &SigmaArgs) -> i32 {
    let files = match collect_files(&a.inputs) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if files.is_empty() {
        eprintln!("error: no .yml/.yaml rule files found");
        return 2;
    }
    let channels = usize::try_from(a.channels).unwrap_or(1);
    let out = match import_files(&files, a.channel, a.version, channels) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let mut wrote = Vec::with_capacity(out.channels.len());
    for (k, c) in out.channels.iter().enumerate() {
        let path = spec_path(&a.out, k);
        if let Err(e) = std::fs::write(&path, &c.toml) {
            eprintln!("error: {}: {e}", path.display());
            return 2;
        }
        wrote.push(format!(
            "wrote {} (channel {}, {} instances)",
            path.display(),
            c.spec.channel,
            c.spec.instances.len()
        ));
    }
    let summary = report::summary(&out.rules);
    if a.json {
        for r in &out.rules {
            println!("{}", r.json());
        }
        eprint!("{summary}");
        for w in &wrote {
            eprintln!("{w}");
        }
    } else {
        print!("{summary}");
        for w in &wrote {
            println!("{w}");
        }
    }
    0
}

/// Where channel `k` of an import is written: `out` itself for the first,
/// `STEM-{k+1}.EXT` beside it for the others.
pub fn spec_path(out: &Path, k: usize) -> PathBuf {
    if k == 0 {
        return out.to_path_buf();
    }
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("sigma");
    let name = match out.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!("{stem}-{}.{ext}", k + 1),
        None => format!("{stem}-{}", k + 1),
    };
    out.with_file_name(name)
}

/// Rule files under `inputs` (directories recursively), sorted per input.
///
/// # Errors
/// An input that cannot be read, named.
pub fn collect_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), String> {
        if depth > 32 {
            return Err(format!("{}: directories nested too deeply", dir.display()));
        }
        let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out, depth + 1)?;
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "yml" || e == "yaml")
            {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for i in inputs {
        let md = std::fs::metadata(i).map_err(|e| format!("{}: {e}", i.display()))?;
        if md.is_dir() {
            walk(i, &mut out, 0)?;
        } else {
            out.push(i.clone());
        }
    }
    Ok(out)
}

/// The result of an import.
#[derive(Debug)]
pub struct Imported {
    /// One spec per channel filled, in channel-id order (at least one, which
    /// may be empty).
    pub channels: Vec<ImportedChannel>,
    /// One report per input file, in input order.
    pub rules: Vec<RuleReport>,
}

/// One channel's share of an import.
#[derive(Debug)]
pub struct ImportedChannel {
    /// The spec (what `toml` parses to).
    pub spec: ChannelSpec,
    /// The spec as TOML, with each rule's attribution as comments.
    pub toml: String,
}

/// Import rule files.
///
/// # Errors
/// Only if the assembled spec fails to build or validate (every rule was
/// checked on its own, so this is a bug).
pub fn import_files(
    files: &[PathBuf],
    channel: u32,
    version: u64,
    channels: usize,
) -> Result<Imported, String> {
    let mut sources = Vec::with_capacity(files.len());
    for f in files {
        let name = f.display().to_string();
        let src = read_rule(f);
        sources.push((name, src));
    }
    import_sources(&sources, channel, version, channels)
}

fn read_rule(f: &Path) -> Result<String, String> {
    let md = std::fs::metadata(f).map_err(|e| e.to_string())?;
    if md.len() > yaml::MAX_RULE_LEN {
        return Err(format!("larger than {} bytes", yaml::MAX_RULE_LEN));
    }
    std::fs::read_to_string(f).map_err(|e| e.to_string())
}

/// A rule that converted and builds on its own, with its costs.
struct Candidate {
    rule: yaml::SigmaRule,
    insts: Vec<InstanceSpec>,
    approx: Option<String>,
    /// Bytes of DFA its regexes add.
    dfa_cost: usize,
    /// Bytes it adds to the file.
    file_cost: usize,
    /// Fuel it adds to the channel's per-event bound.
    fuel_cost: u64,
}

/// Refuse rule `k` for the channel's budgets.
fn over_budget(rules: &mut [RuleReport], ok: &mut [Option<Candidate>], k: usize) {
    let Some(slot) = ok.get_mut(k) else { return };
    if let (Some(c), Some(r)) = (slot.take(), rules.get_mut(k)) {
        r.outcome = Outcome::Refused(
            "channel budget exhausted (8 MiB DFA, 16 MiB file or fuel ceiling): import with more --channels"
                .into(),
        );
        r.detail = Some(format!(
            "it needs {} bytes of DFA, {} bytes of file, {} fuel per event on its own",
            c.dfa_cost, c.file_cost, c.fuel_cost
        ));
    }
}

/// A refusal: the bucket reason and an optional detail.
type Refusal = (String, Option<String>);

fn refuse(reason: impl Into<String>) -> Refusal {
    (reason.into(), None)
}

/// Import rules given as (file name, text or read error).
///
/// # Errors
/// As [`import_files`].
pub fn import_sources(
    sources: &[(String, Result<String, String>)],
    channel: u32,
    version: u64,
    channels: usize,
) -> Result<Imported, String> {
    let channels = channels.clamp(1, 4);
    let key = SigningKey::from_seed([0x5a; 32]);
    let trusted = [key.trusted_key()];
    let (empty_len, empty_fuel) = build_checked(&[], channel, version, &key, &trusted)
        .map_err(|(r, d)| format!("empty channel: {r} {}", d.unwrap_or_default()))?;
    // Pass 1: convert and check each rule on its own.
    let mut rules: Vec<RuleReport> = Vec::new();
    let mut ok: Vec<Option<Candidate>> = Vec::new();
    for (file, src) in sources {
        let mut rep = RuleReport {
            file: file.clone(),
            id: String::new(),
            title: String::new(),
            author: String::new(),
            outcome: Outcome::Imported,
            detail: None,
            channel: None,
            instances: Vec::new(),
        };
        let rule = match src
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|s| yaml::parse(s))
        {
            Ok(r) => r,
            Err(e) => {
                rep.outcome = Outcome::Refused("invalid rule file".into());
                rep.detail = Some(format!("{file}: {e}"));
                rules.push(rep);
                ok.push(None);
                continue;
            }
        };
        rep.id = rule.id.clone();
        rep.title = rule.title.clone();
        rep.author = rule.author.clone();
        let converted = convert(&rule).and_then(|(insts, approx)| {
            let (full, fuel) = build_checked(&insts, channel, version, &key, &trusted)?;
            let no_regex: Vec<InstanceSpec> = insts
                .iter()
                .map(|i| {
                    let mut i = i.clone();
                    for c in &mut i.criteria {
                        if matches!(c, CriterionSpec::Regex { .. }) {
                            *c = CriterionSpec::Any;
                        }
                    }
                    i
                })
                .collect();
            let (plain, _) = build_checked(&no_regex, channel, version, &key, &trusted)?;
            Ok(Candidate {
                rule,
                insts,
                approx,
                dfa_cost: full.saturating_sub(plain),
                file_cost: full.saturating_sub(empty_len),
                fuel_cost: fuel.saturating_sub(empty_fuel),
            })
        });
        match converted {
            Err((reason, detail)) => {
                rep.outcome = Outcome::Refused(reason);
                rep.detail = detail;
                ok.push(None);
            }
            Ok(c) => ok.push(Some(c)),
        }
        rules.push(rep);
    }
    // Pass 2: each channel's DFA and file budgets, cheapest rules first (so
    // one expensive rule does not crowd out many cheap ones); a rule goes to
    // the first channel it fits.
    let mut order: Vec<usize> = (0..ok.len()).filter(|&k| ok[k].is_some()).collect();
    order.sort_by_key(|&k| ok[k].as_ref().map(|c| (c.dfa_cost, c.file_cost, k)));
    let mut used = vec![(0usize, empty_len); channels];
    let mut slot = vec![0usize; ok.len()];
    // Headroom for the DFA index entries and alignment the per-rule deltas share.
    let dfa_cap = (limits::MAX_TOTAL_DFA_LEN as usize).saturating_sub(64 * 1024);
    let file_cap = limits::MAX_FILE_LEN.saturating_sub(64 * 1024);
    for k in order {
        let Some(c) = &ok[k] else { continue };
        let fits = used.iter().position(|&(d, f)| {
            d.saturating_add(c.dfa_cost) <= dfa_cap && f.saturating_add(c.file_cost) <= file_cap
        });
        match fits {
            Some(n) => {
                used[n].0 += c.dfa_cost;
                used[n].1 += c.file_cost;
                slot[k] = n;
            }
            None => over_budget(&mut rules, &mut ok, k),
        }
    }
    // The fuel bound is not additive over rules (the validator's bound is
    // computed over the whole file), so check each assembled channel and
    // drop its costliest rules until it fits under the ceiling.
    for n in 0..channels {
        let id = channel.saturating_add(u32::try_from(n).unwrap_or(0));
        loop {
            let mine: Vec<usize> = (0..ok.len())
                .filter(|&k| ok[k].is_some() && slot[k] == n)
                .collect();
            let all: Vec<InstanceSpec> = mine
                .iter()
                .filter_map(|&k| ok[k].as_ref())
                .flat_map(|c| c.insts.iter().cloned())
                .collect();
            match build_checked(&all, id, version, &key, &trusted) {
                Ok(_) => break,
                Err((_, Some(d))) if d.contains("CostCeiling") => {
                    let mut by_fuel = mine;
                    by_fuel.sort_by_key(|&k| {
                        std::cmp::Reverse(ok[k].as_ref().map_or(0, |c| c.fuel_cost))
                    });
                    let drop = (by_fuel.len() / 20).max(1);
                    for &k in by_fuel.iter().take(drop) {
                        over_budget(&mut rules, &mut ok, k);
                    }
                }
                Err((r, d)) => {
                    return Err(format!(
                        "the assembled spec of channel {id} does not build: {r} {}",
                        d.unwrap_or_default()
                    ));
                }
            }
        }
    }
    // Pass 3: per channel, ids in file order, the TOML. Channels after the
    // first are written only if some rule went there.
    let mut bodies = vec![(Vec::new(), String::new()); channels];
    let mut next_id = vec![1u32; channels];
    for ((rep, cand), &n) in rules.iter_mut().zip(ok).zip(&slot) {
        let Some(Candidate {
            rule,
            mut insts,
            approx,
            ..
        }) = cand
        else {
            continue;
        };
        let id = channel.saturating_add(u32::try_from(n).unwrap_or(0));
        if let Some(a) = approx {
            rep.outcome = Outcome::Approximated(a);
        }
        rep.channel = Some(id);
        for i in &mut insts {
            i.id = next_id[n];
            rep.instances.push(next_id[n]);
            next_id[n] = next_id[n].saturating_add(1);
        }
        let short = Path::new(&rep.file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&rep.file)
            .to_string();
        let (instances, body) = &mut bodies[n];
        body.push_str(&rule_toml(&rule, &short, rep, &insts, id, version));
        instances.extend(insts);
    }
    let mut out = Vec::with_capacity(channels);
    for (n, (instances, body)) in bodies.into_iter().enumerate() {
        if n > 0 && instances.is_empty() {
            continue;
        }
        let id = channel.saturating_add(u32::try_from(n).unwrap_or(0));
        let spec = ChannelSpec {
            channel: id,
            version,
            schema_id: schema::SCHEMA_ID,
            instances,
        };
        let mut toml = String::new();
        toml.push_str(
            "# Imported by `changuard import sigma` from SigmaHQ rules (https://github.com/SigmaHQ/sigma),\n\
             # licensed under the Detection Rule License 1.1: whoever shares them or reports matches\n\
             # produced with them keeps each rule's author (in the comments above its instances).\n",
        );
        toml.push_str(&format!("channel = {id}\nversion = {version}\n"));
        toml.push_str(&body);
        build_checked(&spec.instances, id, version, &key, &trusted).map_err(|(r, d)| {
            format!(
                "the assembled spec of channel {id} does not build: {r} {}",
                d.unwrap_or_default()
            )
        })?;
        out.push(ImportedChannel { spec, toml });
    }
    Ok(Imported {
        channels: out,
        rules,
    })
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn rule_toml(
    rule: &yaml::SigmaRule,
    short: &str,
    rep: &RuleReport,
    insts: &[InstanceSpec],
    channel: u32,
    version: u64,
) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "\n# sigma: {}\n# id: {}\n# title: {}\n# author: {}\n",
        one_line(short),
        one_line(&rule.id),
        one_line(&rule.title),
        one_line(&rule.author)
    ));
    if let Outcome::Approximated(a) = &rep.outcome {
        s.push_str(&format!("# approximated: {}\n", one_line(a)));
    }
    let rendered = spec::render(&ChannelSpec {
        channel,
        version,
        schema_id: schema::SCHEMA_ID,
        instances: insts.to_vec(),
    });
    // Drop the `channel = ` / `version = ` header lines and the blank line.
    for line in rendered.lines().skip(3) {
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// Build and validate `insts` as a channel of their own; the file size and
/// the proven per-event fuel bound (the largest over template types).
fn build_checked(
    insts: &[InstanceSpec],
    channel: u32,
    version: u64,
    key: &SigningKey,
    trusted: &[changuard_format::TrustedKey],
) -> Result<(usize, u64), Refusal> {
    let mut v = insts.to_vec();
    for (k, i) in v.iter_mut().enumerate() {
        i.id = u32::try_from(k).unwrap_or(u32::MAX).saturating_add(1);
    }
    let spec = ChannelSpec {
        channel,
        version,
        schema_id: schema::SCHEMA_ID,
        instances: v,
    };
    let bytes = build::build(&spec, key).map_err(|e| match e {
        build::BuildError::RegexTooLarge { .. } => (
            "regex exceeds the 1 MiB DFA cap".to_string(),
            Some(e.to_string()),
        ),
        build::BuildError::Regex { .. } => {
            ("regex does not compile".to_string(), Some(e.to_string()))
        }
        _ => ("does not build".to_string(), Some(e.to_string())),
    })?;
    let aligned = AlignedBytes::from_slice(&bytes);
    let valid = changuard_format::validate(aligned.as_ref(), &Trust::new(trusted), channel)
        .map_err(|r| {
            let reason = if r.rule == changuard_format::Rule::DfaTooLarge {
                "regexes exceed the channel's 8 MiB DFA cap"
            } else {
                "rejected by the validator"
            };
            (reason.to_string(), Some(format!("{r:?}")))
        })?;
    Ok((bytes.len(), valid.cost_bound().max()))
}

/// One field test within a conjunct.
#[derive(Clone, Debug, PartialEq)]
struct Atom {
    field: usize,
    crit: CriterionSpec,
    /// For unanchored, `*`-free patterns: the elements (so several can be
    /// combined into one "contains all" regex).
    needle: Option<Vec<Elem>>,
}

/// Where a Sigma field goes.
enum Target {
    Str(usize),
    Integrity(usize),
}

/// The sensor field a Sigma field maps to; `None` when the sensor has none.
fn field_target(name: &str) -> Option<Target> {
    let idx = |n: &str| PROCESS_CREATE.field_index(n);
    match name {
        "Image" => idx("image_path").map(Target::Str),
        "CommandLine" => idx("command_line").map(Target::Str),
        "ParentImage" => idx("parent_image_path").map(Target::Str),
        "IntegrityLevel" => idx("integrity_level").map(Target::Integrity),
        _ => None,
    }
}

/// Why a rule that only tests fields the sensor lacks is refused.
fn missing_field_reason(name: &str) -> String {
    match name {
        "User" => "needs field User (an account name; the sensor has user_sid)".into(),
        _ => format!("needs field {name}"),
    }
}

/// Sysmon's IntegrityLevel names and the mandatory-label RIDs they stand for.
const INTEGRITY: &[(&str, u64)] = &[
    ("untrusted", 0x0000),
    ("low", 0x1000),
    ("medium", 0x2000),
    ("high", 0x3000),
    ("system", 0x4000),
];

fn integrity_rid(v: &str) -> Option<u64> {
    if let Some(n) = v.strip_prefix("S-1-16-") {
        return n.parse().ok();
    }
    INTEGRITY
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(v))
        .map(|(_, r)| *r)
}

fn scalar(v: &Value) -> Result<String, Refusal> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(refuse("needs a null (field absent or empty) test")),
        _ => Err(refuse("needs a nested value (not a string)")),
    }
}

/// One `Field|mods: value(s)` entry as DNF.
fn entry_dnf(key: &str, value: &Value, ctx: &Ctx) -> Result<Dnf<Atom>, Refusal> {
    let approx = &ctx.approx;
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or("");
    let mods: Vec<&str> = parts.collect();
    let mut m = modifiers::parse_mods(&mods).map_err(refuse)?;
    let Some(target) = field_target(field) else {
        // A test on a field the sensor lacks is taken as false: an empty DNF.
        // Sound only because conditions are monotone (negation is refused
        // before any selection is expanded), so the rule can only match less.
        let mut missing = ctx.missing.borrow_mut();
        if !missing.iter().any(|f| f == field) {
            missing.push(field.to_string());
        }
        return Ok(Vec::new());
    };
    m.expand_windash = ctx.expand_windash;
    let values: Vec<&Value> = match value {
        Value::Sequence(xs) => xs.iter().collect(),
        v => vec![v],
    };
    if values.is_empty() {
        return Err(refuse("needs an empty value list"));
    }
    let mut per_value: Vec<Dnf<Atom>> = Vec::with_capacity(values.len());
    for v in values {
        let s = scalar(v)?;
        let alts: Vec<Atom> = match target {
            Target::Integrity(field) => {
                if m.ty != MatchType::Equals || m.windash || !m.encodings.is_empty() {
                    return Err(refuse("needs IntegrityLevel with a modifier"));
                }
                let rid = integrity_rid(&s)
                    .ok_or_else(|| (format!("needs IntegrityLevel value {s}"), None))?;
                vec![Atom {
                    field,
                    crit: CriterionSpec::IntEquals(rid),
                    needle: None,
                }]
            }
            Target::Str(field) => {
                if m.ty == MatchType::Re {
                    let crit = modifiers::regex_value(&s, &m)
                        .map_err(|e| (e, Some(format!("{key}: {s}"))))?;
                    if m.re_i || s.contains("(?i") {
                        approx.borrow_mut().insert(
                            "regex case-insensitivity uses Unicode simple case folding (PCRE: ASCII)"
                                .into(),
                        );
                    }
                    vec![Atom {
                        field,
                        crit,
                        needle: None,
                    }]
                } else {
                    modifiers::value_pats(&s, &m)
                        .map_err(refuse)?
                        .into_iter()
                        .map(|p| Atom {
                            field,
                            crit: modifiers::lower(&p),
                            needle: (!p.start && !p.end && !p.elems.contains(&Elem::Star))
                                .then(|| p.elems.clone()),
                        })
                        .collect()
                }
            }
        };
        per_value.push(alts.into_iter().map(|a| vec![a]).collect());
    }
    let cap = MAX_INSTANCES_PER_RULE;
    if m.all {
        condition::dnf_and(per_value, cap)
    } else {
        condition::dnf_or(per_value, cap)
    }
    .map_err(|e| refuse(e.to_string()))
}

/// A selection (a map of field tests, or a list of such maps = OR) as DNF.
fn selection_dnf(v: &Value, ctx: &Ctx) -> Result<Dnf<Atom>, Refusal> {
    let cap = MAX_INSTANCES_PER_RULE;
    match v {
        Value::Mapping(m) => {
            if m.is_empty() {
                return Err(refuse("needs an empty selection"));
            }
            let mut parts = Vec::with_capacity(m.len());
            for (k, v) in m {
                let Value::String(k) = k else {
                    return Err(refuse("needs a non-string field name"));
                };
                parts.push(entry_dnf(k, v, ctx)?);
            }
            condition::dnf_and(parts, cap).map_err(|e| refuse(e.to_string()))
        }
        Value::Sequence(xs) if !xs.is_empty() && xs.iter().all(|x| x.is_mapping()) => {
            let parts = xs
                .iter()
                .map(|x| selection_dnf(x, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            condition::dnf_or(parts, cap).map_err(|e| refuse(e.to_string()))
        }
        _ => Err(refuse("needs keyword search (values without a field)")),
    }
}

/// Conversion settings and what a conversion noticed on the way.
struct Ctx {
    expand_windash: bool,
    approx: RefCell<BTreeSet<String>>,
    /// Fields the rule tests that the sensor does not have, first use first.
    missing: RefCell<Vec<String>>,
}

/// One conjunct's atoms as the template's criteria.
fn conjunct_criteria(atoms: &[Atom]) -> Result<Vec<CriterionSpec>, Refusal> {
    let mut out = vec![CriterionSpec::Any; PROCESS_CREATE.input_count()];
    let mut fields: Vec<usize> = atoms.iter().map(|a| a.field).collect();
    fields.sort_unstable();
    fields.dedup();
    for f in fields {
        let mut mine: Vec<&Atom> = Vec::new();
        for a in atoms.iter().filter(|a| a.field == f) {
            if a.crit != CriterionSpec::Any && !mine.iter().any(|m| m.crit == a.crit) {
                mine.push(a);
            }
        }
        let crit = match mine.as_slice() {
            [] => CriterionSpec::Any,
            [one] => one.crit.clone(),
            many => {
                let needles: Option<Vec<Vec<Elem>>> =
                    many.iter().map(|a| a.needle.clone()).collect();
                match needles {
                    Some(n) => modifiers::contains_all(&n).map_err(refuse)?,
                    None => return Err(refuse("needs several ANDed criteria on one field")),
                }
            }
        };
        if let Some(slot) = out.get_mut(f) {
            *slot = crit;
        }
    }
    Ok(out)
}

/// A rule's instances (ids unset) and its approximation, if any. Windash
/// values are first expanded into literal variants (no DFA); if that takes
/// the rule past the instance limit, they become dash-class regexes instead.
fn convert(rule: &yaml::SigmaRule) -> Result<(Vec<InstanceSpec>, Option<String>), Refusal> {
    match convert_with(rule, true) {
        Err((r, _)) if r == CondError::TooMany(MAX_INSTANCES_PER_RULE).to_string() => {
            convert_with(rule, false)
        }
        other => other,
    }
}

fn convert_with(
    rule: &yaml::SigmaRule,
    expand_windash: bool,
) -> Result<(Vec<InstanceSpec>, Option<String>), Refusal> {
    if !rule.product.eq_ignore_ascii_case("windows") {
        return Err(refuse(format!("needs logsource product {}", rule.product)));
    }
    if !rule.category.eq_ignore_ascii_case("process_creation") {
        return Err(refuse(format!(
            "needs logsource category {}",
            rule.category
        )));
    }
    if !rule.service.is_empty() {
        return Err(refuse(format!("needs logsource service {}", rule.service)));
    }
    if rule.timeframe {
        return Err(refuse("needs aggregation (timeframe)"));
    }
    let mut exprs = Vec::with_capacity(rule.conditions.len());
    for c in &rule.conditions {
        exprs.push(condition::parse(c).map_err(|e| (e.to_string(), Some(c.clone())))?);
    }
    let expr = if exprs.len() == 1 {
        exprs.remove(0)
    } else {
        Expr::Or(exprs)
    };
    if condition::has_not(&expr) {
        return Err(refuse(CondError::Negation.to_string()));
    }
    let names: Vec<String> = rule.selections.iter().map(|(n, _)| n.clone()).collect();
    let ctx = Ctx {
        expand_windash,
        approx: RefCell::new(BTreeSet::new()),
        missing: RefCell::new(Vec::new()),
    };
    // Selection refusals carry their reason out through this cell (the
    // condition expander only knows CondError).
    let sel_err: RefCell<Option<Refusal>> = RefCell::new(None);
    let sel = |n: &str| -> Result<Dnf<Atom>, CondError> {
        let v = rule
            .selections
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v)
            .ok_or_else(|| CondError::Unknown(n.to_string()))?;
        selection_dnf(v, &ctx).map_err(|e| {
            let msg = e.0.clone();
            *sel_err.borrow_mut() = Some(e);
            CondError::Unsupported(msg)
        })
    };
    let dnf = condition::expand(&expr, &names, &sel, MAX_INSTANCES_PER_RULE).map_err(|e| {
        sel_err
            .borrow_mut()
            .take()
            .unwrap_or_else(|| refuse(e.to_string()))
    })?;
    let missing = ctx.missing.into_inner();
    if dnf.is_empty() {
        return Err(refuse(missing.first().map_or_else(
            || "matches nothing".to_string(),
            |f| missing_field_reason(f),
        )));
    }
    if !missing.is_empty() {
        ctx.approx.borrow_mut().insert(format!(
            "{}: {}",
            report::DROPPED_FIELDS,
            missing.join(", ")
        ));
    }
    let mut insts = Vec::with_capacity(dnf.len());
    for conj in &dnf {
        let criteria = conjunct_criteria(conj)?;
        if criteria.iter().all(|c| *c == CriterionSpec::Any) {
            return Err(refuse("needs no field test at all (matches every process)"));
        }
        let inst = InstanceSpec {
            also: Vec::new(),
            unless: Vec::new(),
            metadata: Default::default(),
            id: 0,
            template: PROCESS_CREATE.id,
            action: Action::Report,
            criteria,
        };
        if !insts.contains(&inst) {
            insts.push(inst);
        }
    }
    let approx: Vec<String> = ctx.approx.into_inner().into_iter().collect();
    Ok((insts, (!approx.is_empty()).then(|| approx.join("; "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use changuard_format::StrOp;

    fn rule(det: &str) -> String {
        format!(
            "title: T\nid: 1\nauthor: Someone\nlogsource:\n  category: process_creation\n  product: windows\ndetection:\n{det}"
        )
    }

    fn import(det: &str) -> Imported {
        import_sources(&[("r.yml".into(), Ok(rule(det)))], 1000, 1, 1).unwrap()
    }

    #[test]
    fn simple_rule_imports_exactly() {
        let out = import(
            "  sel_img:\n    Image|endswith: ['\\a.exe', '\\b.exe']\n  sel_cli:\n    CommandLine|contains: ' -x '\n  condition: all of sel_*\n",
        );
        assert_eq!(out.rules[0].outcome, Outcome::Imported);
        assert_eq!(out.channels[0].spec.instances.len(), 2);
        assert_eq!(out.rules[0].instances, vec![1, 2]);
        assert_eq!(
            out.channels[0].spec.instances[0].criteria[0],
            CriterionSpec::Str {
                op: StrOp::Suffix,
                value: "\\a.exe".into(),
                case_insensitive: true
            }
        );
        // The TOML round-trips to the same spec and keeps the attribution.
        assert_eq!(
            spec::parse(&out.channels[0].toml).unwrap(),
            out.channels[0].spec
        );
        assert!(out.channels[0].toml.contains("# author: Someone"));
        assert!(out.channels[0].toml.contains("# sigma: r.yml"));
    }

    #[test]
    fn refusals_name_the_reason() {
        let reason = |det: &str| import(det).rules[0].outcome.clone();
        assert_eq!(
            reason(
                "  sel:\n    Image: x\n  filter:\n    Image: y\n  condition: sel and not filter\n"
            ),
            Outcome::Refused("needs negation".into())
        );
        assert_eq!(
            reason("  sel:\n    OriginalFileName: x\n  condition: sel\n"),
            Outcome::Refused("needs field OriginalFileName".into())
        );
        assert_eq!(
            reason("  sel:\n    Image|contains|all: [a, b, c, d]\n  condition: sel\n"),
            Outcome::Refused("needs several ANDed criteria on one field".into())
        );
        assert_eq!(
            reason("  sel:\n    - foo\n  condition: sel\n"),
            Outcome::Refused("needs keyword search (values without a field)".into())
        );
        let many = "  sel:\n    Image: [a, b, c, d, e, f, g, h, i]\n    CommandLine: [a, b, c, d, e, f, g, h]\n  condition: sel\n";
        assert_eq!(
            reason(many),
            Outcome::Refused("expands past 64 instances".into())
        );
    }

    #[test]
    fn alternatives_on_missing_fields_are_dropped_and_said() {
        let out = import(
            "  img:\n    - Image|endswith: '\\x.exe'\n    - OriginalFileName: x.exe\n  cli:\n    CommandLine|contains: ' -e '\n  condition: img and cli\n",
        );
        let r = &out.rules[0];
        let Outcome::Approximated(a) = &r.outcome else {
            panic!("{:?}", r.outcome)
        };
        assert!(a.contains("OriginalFileName"), "{a}");
        // Only the Image alternative is left, ANDed with the command line.
        assert_eq!(out.channels[0].spec.instances.len(), 1);
        let c = &out.channels[0].spec.instances[0].criteria;
        assert!(matches!(
            c[0],
            CriterionSpec::Str {
                op: StrOp::Suffix,
                ..
            }
        ));
        assert!(matches!(
            c[1],
            CriterionSpec::Str {
                op: StrOp::Contains,
                ..
            }
        ));
        // ANDed with a missing field, a selection is false, never "any".
        let gone =
            import("  sel:\n    Image|endswith: '\\x.exe'\n    Company: Evil\n  condition: sel\n");
        assert_eq!(
            gone.rules[0].outcome,
            Outcome::Refused("needs field Company".into())
        );
        // An unknown modifier is still refused, missing field or not.
        let bad = import("  sel:\n    Hashes|nosuch: x\n  condition: sel\n");
        assert!(matches!(bad.rules[0].outcome, Outcome::Refused(_)));
    }

    #[test]
    fn integrity_levels_map_to_rids() {
        let out = import(
            "  sel:\n    IntegrityLevel: [High, S-1-16-16384]\n    Image: x\n  condition: sel\n",
        );
        let idx = PROCESS_CREATE.field_index("integrity_level").unwrap();
        assert_eq!(
            out.channels[0].spec.instances[0].criteria[idx],
            CriterionSpec::IntEquals(0x3000)
        );
        assert_eq!(
            out.channels[0].spec.instances[1].criteria[idx],
            CriterionSpec::IntEquals(0x4000)
        );
        let bad = import("  sel:\n    IntegrityLevel: AppContainer\n  condition: sel\n");
        assert!(matches!(bad.rules[0].outcome, Outcome::Refused(_)));
    }

    #[test]
    fn bad_files_are_refused_by_name() {
        let out = import_sources(
            &[
                ("bad.yml".into(), Ok("{{{".into())),
                ("gone.yml".into(), Err("No such file".into())),
            ],
            1000,
            1,
            1,
        )
        .unwrap();
        for r in &out.rules {
            assert_eq!(r.outcome, Outcome::Refused("invalid rule file".into()));
            assert!(r.detail.as_deref().unwrap().starts_with(&r.file));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Untrusted rule text: never a panic, always one report naming the file.
        #[test]
        fn arbitrary_rules_never_panic(det in "[ -~\n]{0,200}", cond in "[a-z_*() 1]{0,40}", pat in "\\PC{0,40}") {
            let text = format!("{}  condition: {cond}\n", rule(&det));
            let out = import_sources(&[("p.yml".into(), Ok(text))], 1000, 1, 1).unwrap();
            proptest::prop_assert_eq!(out.rules.len(), 1);
            let _ = pcre::translate(&pat);
            let _ = condition::parse(&pat);
            let _ = yaml::parse(&pat);
            let m = modifiers::parse_mods(&["contains", "windash"]).unwrap();
            let _ = modifiers::value_pats(&pat, &m).map(|ps| ps.iter().map(modifiers::lower).count());
            let r = import_sources(
                &[("q.yml".into(), Ok(rule(&format!("  sel:\n    CommandLine|re: {}\n  condition: sel\n", serde_json::json!(pat)))))],
                1000,
                1, 1,
            )
            .unwrap();
            proptest::prop_assert_eq!(r.rules.len(), 1);
        }
    }

    #[test]
    fn huge_regex_refuses_only_its_rule() {
        let det = "  sel:\n    CommandLine|re: '[a-z]{200}x[a-z]{60}y'\n  condition: sel\n";
        let good = "  sel:\n    Image: x\n  condition: sel\n";
        let out = import_sources(
            &[
                ("big.yml".into(), Ok(rule(det))),
                ("ok.yml".into(), Ok(rule(good))),
            ],
            1000,
            1,
            1,
        )
        .unwrap();
        assert!(
            matches!(out.rules[0].outcome, Outcome::Refused(_)),
            "{:?}",
            out.rules[0]
        );
        assert_eq!(out.rules[1].outcome, Outcome::Imported);
        assert_eq!(out.rules[1].instances, vec![1]);
    }
}
