//! `changuard import sigma`: SigmaHQ Windows process-creation rules to a
//! changuard TOML spec, with a per-rule report.
//!
//! Exact or refused, never silently weaker: each rule is `imported` (exact),
//! `approximated` (with the approximation stated) or `refused` (with the
//! reason). The condition is expanded to disjunctive normal form over field
//! tests; each conjunct is one `ProcessCreate` instance (all its criteria
//! ANDed; further tests of one field go to AND rows), so a rule is the OR of
//! its instances. Negations are pushed down to the selections (De Morgan):
//! a term's negated selections become UNLESS rows of each of its instances
//! (`selection and not filter`). A rule that expands past
//! [`MAX_INSTANCES_PER_RULE`] instances, or an instance past 64 UNLESS rows,
//! is refused.
//!
//! Every imported rule is built and validated on its own before it is kept
//! (a regex past the 1 MiB DFA cap refuses that rule, not the channel), and
//! the whole spec is built and validated at the end.
//!
//! The rules are under the Detection Rule License 1.1: each rule's title,
//! id, author and file name travel into the content as instance metadata
//! (the channel file's METADATA section, shown with every match) and into
//! the spec as comments above its instances.
//!
//! Files: `convert.rs` turns one parsed rule into instances; `packing.rs`
//! places the rules in channels under each channel's budgets;
//! `build_check.rs` builds and validates a channel; this file reads the
//! rules, costs each on its own and writes the specs.

mod build_check;
pub mod condition;
mod convert;
pub mod modifiers;
mod packing;
pub mod pcre;
pub mod report;
pub mod sysmon;
pub mod yaml;

use crate::spec;
use build_check::{Refusal, build_checked};
use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, MetadataSpec, SigningKey};
use changuard_format::limits;
use changuard_format::schema;
use clap::{Args, Subcommand};
pub use convert::{AND_CAP, FILTER_ONLY_MISSING, NO_POSITIVE, NULL_AS_EMPTY, UNLESS_CAP};
use convert::{convert, convert_with};
use packing::{CHANNEL_CAPS, Candidate, row_fuel};
use report::{Outcome, RuleReport};
use std::path::{Path, PathBuf};

/// Instances one rule may expand to.
pub const MAX_INSTANCES_PER_RULE: usize = 64;

/// Longest regex a field's merged alternatives are written as (a longer
/// alternation is cut into several, ORed): half the format's string cap,
/// which also keeps most such DFAs well under the 1 MiB cap.
pub const MAX_ALTERNATION_LEN: usize = limits::MAX_STRING_LEN as usize / 2;

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

/// Row fuel past which a rule's values are also tried merged into regex
/// alternations (some 24 `contains` tests of the command line).
const MERGE_ABOVE_FUEL: u64 = 50_000;

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
    let build = |insts: &[InstanceSpec], id: u32| build_checked(insts, id, version, &key, &trusted);
    let (empty_len, empty_fuel) = build(&[], channel)
        .map_err(|(r, d)| format!("empty channel: {r} {}", d.unwrap_or_default()))?;
    // Pass 1: convert and check each rule on its own.
    let (mut rules, mut ok): (Vec<RuleReport>, Vec<Option<Candidate>>) = sources
        .iter()
        .map(|(file, src)| convert_rule(file, src, channel, build, empty_len, empty_fuel))
        .unzip();
    // Pass 2: each channel's DFA, file and fuel budgets, cheapest rules
    // first (so one expensive rule does not crowd out many cheap ones; a
    // rule's cost is its largest share of any of the three budgets); a rule
    // goes to the first channel it fits. Then rules move out of any channel
    // whose assembled build passes the fuel ceiling.
    let (mut slot, mut used) = packing::assign_channels(&mut rules, &mut ok, empty_len, channels);
    packing::fit_fuel_ceiling(&mut rules, &mut ok, &mut slot, &mut used, channel, build)?;
    // Pass 3: per channel, ids in file order, the TOML.
    let out = assemble_channels(&mut rules, ok, &slot, channels, channel, version, build)?;
    Ok(Imported {
        channels: out,
        rules,
    })
}

/// Pass 1 for one rule file: its report and, if it converted and builds on
/// its own as channel `channel` (with `build`), its candidate with the costs
/// it adds to the empty channel (`empty_len` bytes, `empty_fuel` fuel).
fn convert_rule(
    file: &str,
    src: &Result<String, String>,
    channel: u32,
    build: impl Fn(&[InstanceSpec], u32) -> Result<(usize, u64), Refusal>,
    empty_len: usize,
    empty_fuel: u64,
) -> (RuleReport, Option<Candidate>) {
    let mut rep = RuleReport {
        file: file.to_string(),
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
            return (rep, None);
        }
    };
    rep.id = rule.id.clone();
    rep.title = rule.title.clone();
    rep.author = rule.author.clone();
    // Every instance carries its rule (the licence asks that matches keep
    // the author): title, id, author, and the rule file's name.
    let metadata = MetadataSpec {
        title: meta_text(&rule.title),
        rule_id: meta_text(&rule.id),
        author: meta_text(&rule.author),
        reference: std::path::Path::new(file)
            .file_name()
            .and_then(|n| meta_text(&n.to_string_lossy())),
    };
    let costed = |(mut insts, approx): (Vec<InstanceSpec>, Option<String>)| {
        for i in &mut insts {
            i.metadata = metadata.clone();
        }
        let (full, fuel) = build(&insts, channel)?;
        // The same rows with each regex a plain string test (not `Any`,
        // which would leave AND or UNLESS rows empty).
        let no_regex: Vec<InstanceSpec> = insts
            .iter()
            .map(|i| {
                let mut i = i.clone();
                let rows = std::iter::once(&mut i.criteria)
                    .chain(i.also.iter_mut())
                    .chain(i.unless.iter_mut());
                for c in rows.flatten() {
                    if matches!(c, CriterionSpec::Regex { .. }) {
                        *c = CriterionSpec::Str {
                            op: changuard_format::StrOp::Equals,
                            value: String::new(),
                            case_insensitive: false,
                        };
                    }
                }
                i
            })
            .collect();
        let (plain, _) = build(&no_regex, channel)?;
        Ok::<_, Refusal>(Candidate {
            rule: rule.clone(),
            approx,
            dfa_cost: full.saturating_sub(plain),
            file_cost: full.saturating_sub(empty_len),
            fuel_cost: fuel.saturating_sub(empty_fuel),
            row_fuel: row_fuel(&insts),
            insts,
        })
    };
    // The rule as literal criteria (one instance or row per value) and,
    // when that costs much fuel, with each field's values merged into
    // regex alternations (fewer instances and rows, so less fuel, but
    // DFA bytes): the one that takes the smaller share of a channel's
    // budgets, or whichever builds.
    let caps = CHANNEL_CAPS;
    let literal = convert(&rule).and_then(costed);
    let merged = match &literal {
        Ok(l) if l.row_fuel <= MERGE_ABOVE_FUEL => None,
        _ => convert_with(&rule, false, true).and_then(costed).ok(),
    };
    let converted = match (literal, merged) {
        (Ok(l), Some(m)) if caps.share(&m.budget()) < caps.share(&l.budget()) => Ok(m),
        (Err(_), Some(m)) => Ok(m),
        (literal, _) => literal,
    };
    match converted {
        Err((reason, detail)) => {
            rep.outcome = Outcome::Refused(reason);
            rep.detail = detail;
            (rep, None)
        }
        Ok(c) => (rep, Some(c)),
    }
}

/// Pass 3: each rule's instance ids (per channel, in file order), outcome
/// and channel in its report, and each channel's spec and TOML, checked
/// with `build`. Channel `n` of `channels` has id `channel + n` and holds
/// the candidates whose `slot` is `n`.
///
/// # Errors
/// A channel that fails to build (a bug, as for [`import_files`]).
fn assemble_channels(
    rules: &mut [RuleReport],
    ok: Vec<Option<Candidate>>,
    slot: &[usize],
    channels: usize,
    channel: u32,
    version: u64,
    build: impl Fn(&[InstanceSpec], u32) -> Result<(usize, u64), Refusal>,
) -> Result<Vec<ImportedChannel>, String> {
    // Channels after the first are written only if some rule went there.
    let mut bodies = vec![(Vec::new(), String::new()); channels];
    let mut next_id = vec![1u32; channels];
    for ((rep, cand), &n) in rules.iter_mut().zip(ok).zip(slot) {
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
        build(&spec.instances, id).map_err(|(r, d)| {
            format!(
                "the assembled spec of channel {id} does not build: {r} {}",
                d.unwrap_or_default()
            )
        })?;
        out.push(ImportedChannel { spec, toml });
    }
    Ok(out)
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A rule's title, id or author as instance metadata: one line, at most
/// 1,024 bytes (cut at a character boundary), `None` when empty.
fn meta_text(s: &str) -> Option<String> {
    let mut t = one_line(s.trim());
    if t.len() > 1024 {
        let mut end = 1024;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t.truncate(end);
    }
    (!t.is_empty()).then_some(t)
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

#[cfg(test)]
mod tests {
    use super::convert::*;
    use super::*;
    use changuard_format::StrOp;
    use changuard_format::schema::PROCESS_CREATE;

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
            reason("  sel:\n    Image: x\n  filter:\n    Image: y\n  condition: not filter\n"),
            Outcome::Refused(NO_POSITIVE.into())
        );
        assert_eq!(
            reason("  sel:\n    OriginalFileName: x\n  condition: sel\n"),
            Outcome::Refused("needs field OriginalFileName".into())
        );
        assert_eq!(
            reason(
                "  sel:\n    Image|contains|all: [a, b, c, d, e, f, g, h, i]\n  condition: sel\n"
            ),
            Outcome::Refused(AND_CAP.into())
        );
        assert_eq!(
            reason("  sel:\n    - foo\n  condition: sel\n"),
            Outcome::Refused("needs keyword search (values without a field)".into())
        );
        // Regex values are not merged into one alternation.
        let many = "  sel:\n    Image|re: [a, b, c, d, e, f, g, h, i]\n    CommandLine|re: [a, b, c, d, e, f, g, h]\n  condition: sel\n";
        assert_eq!(
            reason(many),
            Outcome::Refused("expands past 64 instances".into())
        );
    }

    #[test]
    fn alternatives_merge_into_one_regex_past_the_instance_cap() {
        let (o, insts) = one(
            "  sel:\n    Image|endswith: [a, b, c, d, e, f, g, h, i]\n    CommandLine: [a, b, c, d, e, f, g, h]\n  condition: sel\n",
        );
        assert_eq!(o, Outcome::Imported);
        assert_eq!(insts.len(), 1);
        let c = &insts[0].criteria;
        assert_eq!(
            c[0],
            CriterionSpec::Regex {
                pattern: "[Aa]\\z|[Bb]\\z|[Cc]\\z|[Dd]\\z|[Ee]\\z|[Ff]\\z|[Gg]\\z|[Hh]\\z|[Ii]\\z"
                    .into(),
                case_insensitive: false
            }
        );
        assert!(
            matches!(&c[1], CriterionSpec::Regex { pattern, .. } if pattern.starts_with("\\A[Aa]\\z|"))
        );
        // A filter of 80 values: one UNLESS row once merged.
        let vals: Vec<String> = (0..80).map(|k| format!("v{k}")).collect();
        let (o, insts) = one(&format!(
            "  sel:\n    Image: x\n  filter:\n    CommandLine|contains: [{}]\n  condition: sel and not filter\n",
            vals.join(", ")
        ));
        assert_eq!(o, Outcome::Imported);
        assert_eq!(insts[0].unless.len(), 1);
    }

    #[test]
    fn null_is_taken_as_empty() {
        let (o, insts) = one(
            "  sel:\n    Image|endswith: '\\a.exe'\n  filter:\n    CommandLine: null\n  condition: sel and not filter\n",
        );
        assert_eq!(o, Outcome::Approximated(NULL_AS_EMPTY.into()));
        assert_eq!(
            insts[0].unless,
            vec![row(&[(
                "command_line",
                CriterionSpec::Str {
                    op: StrOp::Equals,
                    value: String::new(),
                    case_insensitive: false
                }
            )])]
        );
        let (o, _) = one("  sel:\n    Image|contains: null\n  condition: sel\n");
        assert!(matches!(o, Outcome::Refused(_)), "{o:?}");
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

    fn contains(v: &str) -> CriterionSpec {
        CriterionSpec::Str {
            op: StrOp::Contains,
            value: v.into(),
            case_insensitive: true,
        }
    }

    fn suffix(v: &str) -> CriterionSpec {
        CriterionSpec::Str {
            op: StrOp::Suffix,
            value: v.into(),
            case_insensitive: true,
        }
    }

    /// A full row testing only `tests` (field name, criterion).
    fn row(tests: &[(&str, CriterionSpec)]) -> Vec<CriterionSpec> {
        let mut r = vec![CriterionSpec::Any; PROCESS_CREATE.input_count()];
        for (f, c) in tests {
            r[PROCESS_CREATE.field_index(f).unwrap()] = c.clone();
        }
        r
    }

    /// The rule's only report and its channel's instances.
    fn one(det: &str) -> (Outcome, Vec<InstanceSpec>) {
        let out = import(det);
        let insts = out.channels[0].spec.instances.clone();
        (out.rules[0].outcome.clone(), insts)
    }

    #[test]
    fn selection_and_not_filter_is_an_unless_row() {
        let (o, insts) = one(
            "  sel:\n    Image|endswith: '\\a.exe'\n  filter:\n    CommandLine|contains: ' -safe'\n    ParentImage|endswith: '\\p.exe'\n  condition: sel and not filter\n",
        );
        assert_eq!(o, Outcome::Imported);
        assert_eq!(insts.len(), 1);
        assert_eq!(insts[0].criteria, row(&[("image_path", suffix("\\a.exe"))]));
        assert!(insts[0].also.is_empty());
        // One filter conjunct: one UNLESS row testing both fields.
        assert_eq!(
            insts[0].unless,
            vec![row(&[
                ("command_line", contains(" -safe")),
                ("parent_image_path", suffix("\\p.exe"))
            ])]
        );
    }

    #[test]
    fn not_one_of_filters_is_every_filter_alternative() {
        let (o, insts) = one(
            "  sel:\n    Image|endswith: '\\a.exe'\n  filter_a:\n    CommandLine|contains: [x, y]\n  filter_b:\n    ParentImage|endswith: '\\p.exe'\n  condition: sel and not 1 of filter_*\n",
        );
        assert_eq!(o, Outcome::Imported);
        assert_eq!(insts.len(), 1);
        assert_eq!(
            insts[0].unless,
            vec![
                row(&[("command_line", contains("x"))]),
                row(&[("command_line", contains("y"))]),
                row(&[("parent_image_path", suffix("\\p.exe"))]),
            ]
        );
        // `not all of filter_*` = not filter_a or not filter_b: one instance per filter.
        let (o, insts) = one(
            "  sel:\n    Image|endswith: '\\a.exe'\n  filter_a:\n    CommandLine|contains: x\n  filter_b:\n    ParentImage|endswith: '\\p.exe'\n  condition: sel and not all of filter_*\n",
        );
        assert_eq!(o, Outcome::Imported);
        assert_eq!(insts.len(), 2);
        assert_eq!(
            insts[0].unless,
            vec![row(&[("command_line", contains("x"))])]
        );
        assert_eq!(
            insts[1].unless,
            vec![row(&[("parent_image_path", suffix("\\p.exe"))])]
        );
    }

    #[test]
    fn de_morgan_over_or_and_double_negation() {
        let (o, insts) = one(
            "  a:\n    Image|endswith: '\\a.exe'\n  b:\n    Image|endswith: '\\b.exe'\n  f1:\n    CommandLine|contains: x\n  f2:\n    CommandLine|contains: y\n  condition: (a or b) and not (f1 or f2)\n",
        );
        assert_eq!(o, Outcome::Imported);
        assert_eq!(insts.len(), 2);
        let filters = vec![
            row(&[("command_line", contains("x"))]),
            row(&[("command_line", contains("y"))]),
        ];
        for (i, img) in insts.iter().zip(["\\a.exe", "\\b.exe"]) {
            assert_eq!(i.criteria, row(&[("image_path", suffix(img))]));
            assert_eq!(i.unless, filters);
        }
        // not not a = a.
        let (o, insts) = one("  a:\n    Image|endswith: '\\a.exe'\n  condition: not not a\n");
        assert_eq!(o, Outcome::Imported);
        assert!(insts[0].unless.is_empty());
        // a and not a never matches.
        let (o, _) = one("  a:\n    Image|endswith: '\\a.exe'\n  condition: a and not a\n");
        assert_eq!(o, Outcome::Refused("matches nothing".into()));
    }

    #[test]
    fn a_term_without_a_positive_selection_is_refused() {
        for cond in [
            "not filter",
            "sel or not filter",
            "not (sel and filter)",
            "not 1 of them",
        ] {
            let (o, _) = one(&format!(
                "  sel:\n    Image: x\n  filter:\n    Image: y\n  condition: {cond}\n"
            ));
            assert_eq!(o, Outcome::Refused(NO_POSITIVE.into()), "{cond}");
        }
    }

    #[test]
    fn contains_all_fills_and_rows_top_down() {
        let (o, insts) = one(
            "  sel:\n    Image|contains|all: [a, b, c]\n    CommandLine|contains|all: [x, y]\n  condition: sel\n",
        );
        assert_eq!(o, Outcome::Imported);
        assert_eq!(insts.len(), 1);
        let i = &insts[0];
        assert_eq!(
            i.criteria,
            row(&[
                ("image_path", contains("a")),
                ("command_line", contains("x"))
            ])
        );
        // Second tests of both fields in also[0]; the third of Image in also[1].
        assert_eq!(
            i.also,
            vec![
                row(&[
                    ("image_path", contains("b")),
                    ("command_line", contains("y"))
                ]),
                row(&[("image_path", contains("c"))]),
            ]
        );
        // Eight tests fit (row 0 and seven AND rows); nine do not.
        let (o, insts) = one(
            "  sel:\n    CommandLine|contains|all: [a, b, c, d, e, f, g, h]\n  condition: sel\n",
        );
        assert_eq!(o, Outcome::Imported);
        assert_eq!(insts[0].also.len(), 7);
    }

    #[test]
    fn row_caps_refuse_with_their_reason() {
        // A filter of 65 regex alternatives (not merged): past 64 UNLESS rows.
        let vals: Vec<String> = (0..65).map(|k| format!("v{k}")).collect();
        let (o, _) = one(&format!(
            "  sel:\n    Image: x\n  filter:\n    CommandLine|re: [{}]\n  condition: sel and not filter\n",
            vals.join(", ")
        ));
        assert_eq!(o, Outcome::Refused(UNLESS_CAP.into()));
        // Two filters of 40 alternatives each: 80 rows in one instance.
        let vals: Vec<String> = (0..40).map(|k| format!("v{k}")).collect();
        let (o, _) = one(&format!(
            "  sel:\n    Image: x\n  f1:\n    CommandLine|re: [{0}]\n  f2:\n    ParentImage|re: [{0}]\n  condition: sel and not 1 of f*\n",
            vals.join(", ")
        ));
        assert_eq!(o, Outcome::Refused(UNLESS_CAP.into()));
        // 64 rows fit.
        let vals: Vec<String> = (0..64).map(|k| format!("v{k}")).collect();
        let (o, insts) = one(&format!(
            "  sel:\n    Image: x\n  filter:\n    CommandLine|re: [{}]\n  condition: sel and not filter\n",
            vals.join(", ")
        ));
        assert_eq!(o, Outcome::Imported);
        assert_eq!(insts[0].unless.len(), 64);
    }

    #[test]
    fn anded_tests_in_a_filter_merge_or_refuse() {
        // Plain substrings: one exact "contains all" regex in the UNLESS row.
        let (o, insts) = one(
            "  sel:\n    Image: x\n  filter:\n    CommandLine|contains|all: [ab, cd]\n  condition: sel and not filter\n",
        );
        assert_eq!(o, Outcome::Imported);
        let idx = PROCESS_CREATE.field_index("command_line").unwrap();
        assert!(
            matches!(&insts[0].unless[0][idx], CriterionSpec::Regex { .. }),
            "{:?}",
            insts[0].unless
        );
        // Anchored tests on one field: an UNLESS row cannot AND them, so
        // `not (starts and ends)` = `not starts or not ends`: two instances,
        // the other fields' tests repeated in both rows.
        let (o, insts) = one(
            "  sel:\n    Image: x\n  filter:\n    Image|startswith: 'C:\\'\n    Image|endswith: '.exe'\n    ParentImage: p\n  other:\n    CommandLine|contains: y\n  condition: sel and not filter and not other\n",
        );
        assert_eq!(o, Outcome::Imported);
        assert_eq!(insts.len(), 2);
        let other = row(&[("command_line", contains("y"))]);
        let parent = (
            "parent_image_path",
            CriterionSpec::Str {
                op: StrOp::Equals,
                value: "p".into(),
                case_insensitive: true,
            },
        );
        let start = CriterionSpec::Str {
            op: StrOp::Prefix,
            value: "C:\\".into(),
            case_insensitive: true,
        };
        assert_eq!(
            insts[0].unless,
            vec![row(&[("image_path", start), parent.clone()]), other.clone()]
        );
        assert_eq!(
            insts[1].unless,
            vec![row(&[("image_path", suffix(".exe")), parent]), other]
        );
    }

    #[test]
    fn missing_fields_inside_a_filter_are_said_apart() {
        // One filter alternative on a missing field: the other still applies.
        let out = import(
            "  sel:\n    Image|endswith: '\\a.exe'\n  filter:\n    - CommandLine|contains: ' -safe'\n    - Hashes|contains: 'MD5=00'\n  condition: sel and not filter\n",
        );
        let Outcome::Approximated(a) = &out.rules[0].outcome else {
            panic!("{:?}", out.rules[0].outcome)
        };
        assert_eq!(a, &format!("{}: Hashes", report::DROPPED_FILTER_FIELDS));
        let i = &out.channels[0].spec.instances[0];
        assert_eq!(i.unless, vec![row(&[("command_line", contains(" -safe"))])]);
        // A filter entirely on missing fields: the rule would report all it
        // excludes, so it is refused, naming the fields.
        let (o, insts) = one(
            "  sel:\n    Image|endswith: '\\a.exe'\n  filter:\n    OriginalFileName: a.exe\n  condition: sel and not filter\n",
        );
        assert_eq!(
            o,
            Outcome::Refused(format!("{FILTER_ONLY_MISSING}: OriginalFileName"))
        );
        assert!(insts.is_empty());
        // Missing fields on both sides, the filter keeping one alternative:
        // both stated, and bucketed apart.
        let out = import(
            "  sel:\n    - Image|endswith: '\\a.exe'\n    - OriginalFileName: a.exe\n  filter:\n    - Company: Good\n    - CommandLine|contains: ' -safe'\n  condition: sel and not filter\n",
        );
        let r = out.rules[0].outcome.reason().unwrap().to_string();
        assert!(r.contains(report::DROPPED_FIELDS), "{r}");
        assert!(r.contains(report::DROPPED_FILTER_FIELDS), "{r}");
        let b = report::buckets(&out.rules);
        assert_eq!(
            b.keys().next().unwrap().1,
            format!(
                "{}; {}",
                report::DROPPED_FILTER_FIELDS,
                report::DROPPED_FIELDS
            )
        );
    }

    #[test]
    fn a_filter_that_matches_everything_drops_its_term() {
        // `CommandLine|contains: ''` tests nothing: `not filter` is false.
        let (o, _) = one(
            "  sel:\n    Image: x\n  filter:\n    CommandLine|contains: ''\n  condition: sel and not filter\n",
        );
        assert_eq!(o, Outcome::Refused("matches nothing".into()));
    }

    #[test]
    fn costly_rules_are_merged_and_spill_to_later_channels() {
        // 30 command-line tests, each copying the filter's row: merged into
        // one alternation (with the filter's row once), since that is cheaper.
        let vals: Vec<String> = (0..30).map(|k| format!("v{k}")).collect();
        let (o, insts) = one(&format!(
            "  sel:\n    CommandLine|contains: [{}]\n  filter:\n    ParentImage|contains: [p, q]\n  condition: sel and not filter\n",
            vals.join(", ")
        ));
        assert_eq!(o, Outcome::Imported);
        assert_eq!(insts.len(), 1);
        assert_eq!(insts[0].unless.len(), 1);
        // 1,900 rules of one command-line `contains` each: past one channel's
        // cost ceiling, within two.
        let sources: Vec<(String, Result<String, String>)> = (0..1900)
            .map(|k| {
                (
                    format!("r{k}.yml"),
                    Ok(rule(&format!(
                        "  sel:\n    CommandLine|contains: 'needle{k}'\n  condition: sel\n"
                    ))),
                )
            })
            .collect();
        let refused = |out: &Imported| {
            out.rules
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Refused(_)))
                .count()
        };
        let one_channel = import_sources(&sources, 1000, 1, 1).unwrap();
        assert!(refused(&one_channel) > 0);
        assert_eq!(one_channel.channels.len(), 1);
        let two = import_sources(&sources, 1000, 1, 2).unwrap();
        assert_eq!(refused(&two), 0);
        assert_eq!(two.channels.len(), 2);
    }
}
