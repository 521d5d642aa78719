//! keygen, build, validate, inspect.

use crate::files::{
    NameVerdict, check_name, expected_channel, loadable_name, read_capped, true_size,
};
use crate::{cost_report, keys, spec};
use changuard_format::AlignedBytes;
use changuard_format::build::{self, ChannelSpec, CriterionSpec, SigningKey};
use changuard_format::deep::{DeepMismatch, deep_check};
use changuard_format::layout;
use changuard_format::{KeyId, Rejection, Rule, Trust, TrustedKey, ValidChannel, schema};
use clap::Args;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Directory to write the key pair into.
    #[arg(long)]
    out: PathBuf,
    /// File name stem of the key pair.
    #[arg(long, default_value = "changuard")]
    name: String,
    /// Mark the pair test-only (`purpose: test-only`): only such a key may
    /// sign content with the `test-crash` action. Never provision it in production.
    #[arg(long)]
    test_only: bool,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The TOML content spec.
    spec: PathBuf,
    /// Secret key file (from `changuard keygen`).
    #[arg(long)]
    key: PathBuf,
    /// Output channel file. Defaults to `C-<channel>-<version>.chan` beside the
    /// spec; any other name is refused, since the loader would not load it.
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Write the file even if the validator rejects it or the loader would
    /// refuse its name (for test fixtures only; the problem is still printed
    /// and the exit code is still 1).
    #[arg(long)]
    allow_invalid: bool,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Channel files to validate.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Trusted public key file(s).
    #[arg(long = "pubkey", required = true)]
    pubkeys: Vec<PathBuf>,
    /// Channel the files are loaded as. Default: from the file name
    /// (`C-<channel>-<version>.chan`), else the header's own claim.
    #[arg(long)]
    channel: Option<u32>,
    /// One JSON object per file on stdout.
    #[arg(long)]
    json: bool,
    /// The publishing pipeline's check: also recompile every regex from the
    /// source the file shows for it, with the pinned builder, and require the
    /// same DFA bytes and literal hints (what runs is what is shown).
    #[arg(long)]
    deep: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Channel file.
    file: PathBuf,
    /// Trusted public key file. Without it the structure is checked but the
    /// signature is NOT verified (and the output says so).
    #[arg(long = "pubkey")]
    pubkey: Option<PathBuf>,
    /// Channel the file is loaded as (default as for `validate`).
    #[arg(long)]
    channel: Option<u32>,
    /// Print the content back as a TOML spec.
    #[arg(long, conflicts_with = "json")]
    spec: bool,
    /// Recompile every regex from its shown source (as `validate --deep`) and
    /// mark the result; without it the regex sources are marked unchecked.
    #[arg(long)]
    deep: bool,
    /// JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn keygen(a: &KeygenArgs) -> i32 {
    match keys::generate(&a.out, &a.name, a.test_only) {
        Ok((sk, pk, id)) => {
            println!(
                "secret key: {}  (sign with `build --key`; keep it secret)\npublic key: {}  (trust with `validate --pubkey`)\nkey id:     {}",
                sk.display(),
                pk.display(),
                keys::key_id_hex(id)
            );
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

pub fn build(a: &BuildArgs) -> i32 {
    let src = match std::fs::read_to_string(&a.spec) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", a.spec.display());
            return 2;
        }
    };
    let (spec, spans) = match spec::parse_spanned(&src) {
        Ok(s) => s,
        Err(e) => {
            report_spec_error(&a.spec, &src, &e);
            eprintln!(
                "error: {}: not built: the spec has an error; nothing was written",
                a.spec.display()
            );
            return 2;
        }
    };
    // Content that validates but depends on a field the driver does not fill.
    for w in crate::lint::condensed(&crate::lint::lint(&spec)) {
        eprintln!("warning: {}: {w}", a.spec.display());
    }
    let out = a.out.clone().unwrap_or_else(|| {
        a.spec
            .with_file_name(format!("C-{:08}-{:08}.chan", spec.channel, spec.version))
    });
    // A name the loader would not load is a file that silently never runs.
    let name_problem = out_name_problem(&out, spec.channel, spec.version);
    if let Some(p) = &name_problem {
        eprintln!("{}: {p}", out.display());
        if !a.allow_invalid {
            eprintln!("not written (use --allow-invalid only for test fixtures)");
            return 1;
        }
    }
    let key = match keys::read_secret(&a.key) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    // What the validator would reject, said in spec terms at the TOML line,
    // before anything is built or written.
    let problems = spec::check(&spec, &spans, key.test_only);
    for p in &problems {
        report_spec_error(&a.spec, &src, p);
    }
    if !problems.is_empty() && !a.allow_invalid {
        let mut rules: Vec<&str> = Vec::new();
        for r in problems.iter().filter_map(|p| p.rule) {
            if !rules.contains(&r.code()) {
                rules.push(r.code());
            }
        }
        eprintln!(
            "error: {}: not built: the validator would reject it ({}); nothing was written",
            a.spec.display(),
            rules.join(", ")
        );
        return 1;
    }
    let bytes = match build::build_with(
        &spec,
        &key.key,
        &build::BuildOptions {
            group_regexes: true,
        },
    ) {
        Ok(b) => b,
        Err(e) => {
            report_spec_error(
                &a.spec,
                &src,
                &spec::errors::from_build_error(&spec, &spans, &e),
            );
            eprintln!(
                "error: {}: not built: it cannot be compiled; nothing was written",
                a.spec.display()
            );
            return 2;
        }
    };
    // The publishing pipeline runs the very validator the driver runs.
    let aligned = AlignedBytes::from_slice(&bytes);
    let keys = [key.trusted()];
    let verdict = changuard_format::validate(aligned.as_ref(), &Trust::new(&keys), spec.channel);
    if let Err(r) = verdict {
        if !a.allow_invalid {
            // Nothing is written: say it about the spec, not about a file.
            report_spec_error(
                &a.spec,
                &src,
                &spec::errors::from_rejection(&spec, &spans, &r),
            );
            eprintln!(
                "error: {}: not built: the validator rejects it ({}); nothing was written \
                 (use --allow-invalid only for test fixtures)",
                a.spec.display(),
                r.rule.code()
            );
            return 1;
        }
        // --allow-invalid: the file is written, so its rejection is shown as for `validate`.
        print_rejection(&out, aligned.as_ref(), &r, &keys);
    }
    if let Err(e) = write_atomically(&out, &bytes) {
        eprintln!("error: {}: {e}", out.display());
        return 2;
    }
    println!(
        "wrote {} ({} bytes, channel {}, version {})",
        out.display(),
        bytes.len(),
        spec.channel,
        spec.version
    );
    if let Ok(v) = &verdict {
        println!("{}", cost_report::line(&v.cost_bound()));
    }
    i32::from(verdict.is_err() || name_problem.is_some())
}

/// Why the loader would not load `out` as `(channel, version)`, if it would not.
fn out_name_problem(out: &Path, channel: u32, version: u64) -> Option<String> {
    let Some(want) = loadable_name(channel, version) else {
        return Some(format!(
            "the spec's channel {channel} / version {version} cannot be loaded under any name \
             (the loader needs channel 1..=99999999 and version >= 1: C-<8 digits>-<8..20 digits>.chan)"
        ));
    };
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == want {
        return None;
    }
    let why = match check_name(name) {
        NameVerdict::Refused { why, .. } => why,
        NameVerdict::Loadable { prefixed: true, .. } => {
            "the loader loads exact names only, without a prefix".to_string()
        }
        NameVerdict::Loadable {
            channel: c,
            version: v,
            ..
        } => format!("the name says channel {c} version {v}"),
        NameVerdict::NotChannelName => "the loader only loads C-<channel>-<version>.chan".into(),
    };
    Some(format!(
        "the loader would not load this file as channel {channel} version {version}: {why}; name it {want}"
    ))
}

/// Write to a temp file beside `path`, then rename: an interrupted build never
/// leaves a half-written channel file where a loader might pick it up.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("chan.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// A spec error with the spec's source and the place it names.
pub(crate) fn report_spec_error(path: &Path, src: &str, e: &spec::SpecError) {
    use miette::{NamedSource, SourceSpan};
    match &e.span {
        Some(span) => {
            let report = miette::miette!(
                labels = vec![miette::LabeledSpan::at(
                    SourceSpan::from(span.clone()),
                    "here"
                )],
                "{}",
                e.message
            )
            .with_source_code(NamedSource::new(
                path.display().to_string(),
                src.to_string(),
            ));
            eprintln!("{report:?}");
        }
        None => eprintln!("error: {}: {}", path.display(), e.message),
    }
}

fn load_trust(paths: &[PathBuf]) -> Result<Vec<TrustedKey>, String> {
    paths.iter().map(|p| keys::read_public(p)).collect()
}

pub fn validate(a: &ValidateArgs) -> i32 {
    let keys = match load_trust(&a.pubkeys) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let trust = Trust::new(&keys);
    let (mut rejected, mut io_errors) = (0usize, 0usize);
    for path in &a.files {
        // The loader reads nothing whose name it refuses: neither do we.
        let verdict = check_name(path.file_name().and_then(|n| n.to_str()).unwrap_or(""));
        if let NameVerdict::Refused { why, canonical } = &verdict {
            rejected += 1;
            let fix = canonical
                .as_ref()
                .map_or(String::new(), |c| format!("; rename it {c}"));
            let message = format!("the loader ignores a file with this name: {why}{fix}");
            if a.json {
                println!(
                    "{}",
                    json!({"file": path.display().to_string(), "valid": false, "rule": "bad-file-name",
                           "rule_id": null, "offset": null, "message": message})
                );
            } else {
                println!(
                    "{} {}\n  rule:   bad-file-name (loader)\n  why:    {message}",
                    crate::style::bad("REJECTED", crate::style::stdout_coloured()),
                    path.display()
                );
            }
            continue;
        }
        let bytes = match read_capped(path) {
            Ok(b) => b,
            Err(e) => {
                io_errors += 1;
                if a.json {
                    println!(
                        "{}",
                        json!({"file": path.display().to_string(), "valid": false, "error": e.to_string()})
                    );
                } else {
                    eprintln!("error: {}: {e}", path.display());
                }
                continue;
            }
        };
        let (channel, from) = expected_channel(path, bytes.as_ref(), a.channel);
        let result = changuard_format::validate(bytes.as_ref(), &trust, channel);
        // The deep check recompiles every regex: once per file, and only with --deep.
        let deep = match (&result, a.deep) {
            (Ok(v), true) => deep_check(v).err(),
            _ => None,
        };
        match result {
            Ok(v) if name_mismatch(&verdict, &v).is_some() => {
                rejected += 1;
                let (rule, expected, found) = name_mismatch(&verdict, &v).unwrap_or_default();
                let at = if rule == "name-version-mismatch" {
                    layout::header::CONTENT_VERSION.start
                } else {
                    layout::header::CHANNEL.start
                };
                let message = format!(
                    "{rule} at offset {at:#x}: the file name says {expected}, the signed header says {found}; \
                     the loader refuses it (rename it {})",
                    loadable_name(v.channel(), v.version())
                        .unwrap_or_else(|| "after its header".into())
                );
                if a.json {
                    println!(
                        "{}",
                        json!({"file": path.display().to_string(), "valid": false, "rule": rule,
                               "rule_id": null, "offset": at, "expected": expected, "found": found,
                               "message": message})
                    );
                } else {
                    println!(
                        "{} {}\n  rule:   {rule} (loader)\n  why:    {message}",
                        crate::style::bad("REJECTED", crate::style::stdout_coloured()),
                        path.display()
                    );
                }
            }
            Ok(_) if deep.is_some() => {
                rejected += 1;
                let m = deep.as_ref().map(ToString::to_string).unwrap_or_default();
                if a.json {
                    println!(
                        "{}",
                        json!({"file": path.display().to_string(), "valid": false, "rule": "dfa-source-mismatch",
                               "rule_id": null, "offset": null, "message": m})
                    );
                } else {
                    println!(
                        "{} {}\n  rule:   dfa-source-mismatch (--deep)\n  why:    {m}",
                        crate::style::bad("REJECTED", crate::style::stdout_coloured()),
                        path.display()
                    );
                }
            }
            Ok(v) => {
                if a.json {
                    println!(
                        "{}",
                        json!({"file": path.display().to_string(), "valid": true, "rule": null, "offset": null,
                               "channel": v.channel(), "version": v.version(), "instances": v.instance_count(),
                               "deep": a.deep, "cost": cost_report::json(&v.cost_bound())})
                    );
                } else {
                    println!(
                        "{}       {}  channel {} version {} ({} instances)",
                        crate::style::good("ok", crate::style::stdout_coloured()),
                        path.display(),
                        v.channel(),
                        v.version(),
                        v.instance_count()
                    );
                    println!("         {}", cost_report::line(&v.cost_bound()));
                }
            }
            Err(r) => {
                let r = true_size(path, r);
                rejected += 1;
                // Not a channel file at all: say what it looks like instead.
                let hint = spec::errors::not_channel_hint(r.rule, bytes.as_ref());
                if a.json {
                    let mut o = rejection_json(path, channel, from, &r, &keys);
                    if let (Some(obj), Some(h)) = (o.as_object_mut(), &hint) {
                        obj.insert("hint".into(), json!(h));
                    }
                    println!("{o}");
                } else {
                    print_rejection(path, bytes.as_ref(), &r, &keys);
                    if let Some(h) = &hint {
                        println!("  hint:   {h}");
                    }
                }
            }
        }
    }
    if !a.json {
        eprintln!(
            "{} file(s): {} valid, {} rejected, {} unreadable",
            a.files.len(),
            a.files.len() - rejected - io_errors,
            rejected,
            io_errors
        );
    }
    if io_errors > 0 {
        2
    } else {
        i32::from(rejected > 0)
    }
}

/// The loader's own check after validation: the name's channel and version
/// must be the signed header's. `(rule, name says, header says)`.
fn name_mismatch<B: AsRef<[u8]>>(
    verdict: &NameVerdict,
    v: &ValidChannel<B>,
) -> Option<(&'static str, u64, u64)> {
    let NameVerdict::Loadable {
        channel, version, ..
    } = *verdict
    else {
        return None;
    };
    if channel != v.channel() {
        return Some(("name-channel-mismatch", channel.into(), v.channel().into()));
    }
    (version != v.version()).then_some(("name-version-mismatch", version, v.version()))
}

fn key_ids(keys: &[TrustedKey]) -> Vec<String> {
    keys.iter().map(|k| keys::key_id_hex(k.id)).collect()
}

fn rejection_json(
    path: &Path,
    channel: u32,
    from: &str,
    r: &Rejection,
    trusted: &[TrustedKey],
) -> serde_json::Value {
    let mut o = json!({
        "file": path.display().to_string(),
        "valid": false,
        "rule": r.rule.code(),
        "rule_id": r.rule.id(),
        "offset": r.offset,
        "template": r.template.and_then(schema::template_type).map(|t| t.name),
        "instance": r.instance,
        "field": r.field,
        "expected": r.expected,
        "found": r.found,
        "expected_channel": channel,
        "expected_channel_from": from,
        "message": r.to_string(),
    });
    if r.rule == Rule::UnknownKey {
        if let Some(obj) = o.as_object_mut() {
            obj.insert("key_id".into(), json!(format!("{:016x}", r.found)));
            obj.insert("trusted_key_ids".into(), json!(key_ids(trusted)));
        }
    }
    o
}

/// Human form: the rule, the offset, and the bytes around it.
fn print_rejection(path: &Path, bytes: &[u8], r: &Rejection, trusted: &[TrustedKey]) {
    println!(
        "{} {}\n  rule:   {} (id {})\n  why:    {r}",
        crate::style::bad("REJECTED", crate::style::stdout_coloured()),
        path.display(),
        r.rule.code(),
        r.rule.id()
    );
    if r.rule == Rule::UnknownKey {
        let ids = key_ids(trusted);
        println!(
            "  key:    signed by key id {:016x}; trusted: {} (pass that key's .pub with --pubkey)",
            r.found,
            if ids.is_empty() {
                "none".into()
            } else {
                ids.join(", ")
            }
        );
    }
    let off = usize::try_from(r.offset).unwrap_or(usize::MAX);
    let row = off & !15;
    if let Some(chunk) = bytes.get(row..bytes.len().min(row.saturating_add(16))) {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        println!("  {row:#010x}  {}", hex.join(" "));
        println!("  {:10}  {}^^", "", "   ".repeat(off - row));
    } else {
        println!(
            "  (offset {:#x} is past the end of the {}-byte file)",
            r.offset,
            bytes.len()
        );
    }
}

pub fn inspect(a: &InspectArgs) -> i32 {
    use crate::json_error::{ErrorKind, rejection_error_json, report};
    let bytes = match read_capped(&a.file) {
        Ok(b) => b,
        Err(e) => {
            let m = e.to_string();
            if a.json {
                return report(true, "error", ErrorKind::Io, &m, Some(&a.file), 2);
            }
            eprintln!("error: {}: {m}", a.file.display());
            return 2;
        }
    };
    let (channel, from) = expected_channel(&a.file, bytes.as_ref(), a.channel);
    let keys = match a
        .pubkey
        .as_ref()
        .map(|p| load_trust(std::slice::from_ref(p)))
        .transpose()
    {
        Ok(k) => k,
        Err(e) => return report(a.json, "error", ErrorKind::Key, &e, a.pubkey.as_deref(), 2),
    };
    let verified = keys.is_some();
    // The trailer's key id as the file states it: without --pubkey the copy
    // validated below is re-signed with a throwaway key.
    let key_id = trailer_key_id(bytes.as_ref());
    let result = match &keys {
        Some(k) => changuard_format::validate(
            AlignedBytes::from_slice(bytes.as_ref()),
            &Trust::new(k),
            channel,
        ),
        None => structure_only(bytes.as_ref(), channel),
    };
    let v = match result {
        Ok(v) => v,
        Err(r) => {
            let r = true_size(&a.file, r);
            let trusted = keys.as_deref().unwrap_or(&[]);
            if a.json {
                let details = rejection_json(&a.file, channel, from, &r, trusted);
                println!("{}", rejection_error_json(details, &r.to_string(), &a.file));
            } else {
                print_rejection(&a.file, bytes.as_ref(), &r, trusted);
            }
            return 1;
        }
    };
    let spec = match build::to_spec(&v) {
        Ok(s) => s,
        Err(r) => {
            if a.json {
                let details = rejection_json(&a.file, channel, from, &r, &[]);
                println!("{}", rejection_error_json(details, &r.to_string(), &a.file));
            } else {
                print_rejection(&a.file, v.as_bytes(), &r, &[]);
            }
            return 1;
        }
    };
    let sources = if a.deep {
        Sources::from(deep_check(&v))
    } else {
        Sources::Unchecked
    };
    if a.spec {
        if let Sources::Mismatch(m) = &sources {
            // The spec would rebuild other content than the file runs.
            eprintln!("error: {}: {m}; no spec printed", a.file.display());
            return 1;
        }
        print!("{}", spec::render(&spec));
    } else if a.json {
        println!("{}", inspect_json(&v, &spec, verified, key_id, &sources));
    } else {
        print_inspect(&v, &spec, verified, key_id, &sources);
    }
    i32::from(matches!(sources, Sources::Mismatch(_)))
}

/// Whether the regex sources `inspect` shows are what runs.
enum Sources {
    /// Not checked (no `--deep`): a DFA may not be its shown source's.
    Unchecked,
    /// `--deep`: every DFA recompiled from its shown source, identical.
    Checked(u32),
    /// `--deep`: this DFA differs.
    Mismatch(DeepMismatch),
}

impl From<Result<u32, DeepMismatch>> for Sources {
    fn from(r: Result<u32, DeepMismatch>) -> Self {
        r.map_or_else(Sources::Mismatch, Sources::Checked)
    }
}

impl Sources {
    fn describe(&self, dfas: u32) -> String {
        match self {
            _ if dfas == 0 => "no regexes".into(),
            Sources::Unchecked => {
                "NOT deep-checked: a DFA may not be what its shown source compiles to (use --deep)"
                    .into()
            }
            Sources::Checked(n) => {
                format!("deep-checked: all {n} DFA(s) are their shown sources' output")
            }
            Sources::Mismatch(m) => format!("MISMATCH: {m}"),
        }
    }
}

/// The key id in the trailer of `bytes` (validation has checked the length).
fn trailer_key_id(bytes: &[u8]) -> Option<KeyId> {
    let t = bytes.len().checked_sub(layout::TRAILER_LEN)?;
    let at = t.checked_add(layout::trailer::KEY_ID.start)?
        ..t.checked_add(layout::trailer::KEY_ID.end)?;
    Some(KeyId(bytes.get(at)?.try_into().ok()?))
}

/// Without a trusted key, check everything but the signature: re-sign a
/// private copy with a throwaway key and validate the copy against that key.
/// The caller says "NOT verified" in its output.
fn structure_only(bytes: &[u8], channel: u32) -> Result<ValidChannel<AlignedBytes>, Rejection> {
    let key = SigningKey::generate();
    let mut copy = bytes.to_vec();
    if build::sign(&mut copy, &key).is_err() {
        // Too short for a trailer: let the validator name the rule.
        return changuard_format::validate(
            AlignedBytes::from_slice(bytes),
            &Trust::new(&[]),
            channel,
        );
    }
    // Structure only: the throwaway key may sign anything, test-crash included.
    let keys = [key.trusted_test_key()];
    changuard_format::validate(AlignedBytes::from_slice(&copy), &Trust::new(&keys), channel)
}

fn criterion_json(c: &CriterionSpec) -> serde_json::Value {
    match c {
        CriterionSpec::Any => json!({"kind": "any"}),
        CriterionSpec::Str {
            op,
            value,
            case_insensitive,
        } => {
            json!({"kind": op.name(), "value": value, "case_insensitive": case_insensitive})
        }
        CriterionSpec::IntEquals(v) => json!({"kind": "int-equals", "value": v}),
        CriterionSpec::IntRange { lo, hi } => json!({"kind": "int-range", "lo": lo, "hi": hi}),
        CriterionSpec::IntMask { mask, value } => {
            json!({"kind": "int-mask", "mask": mask, "value": value})
        }
        CriterionSpec::Regex {
            pattern,
            case_insensitive,
        } => {
            json!({"kind": "regex", "pattern": pattern, "case_insensitive": case_insensitive})
        }
    }
}

fn inspect_json<B: AsRef<[u8]>>(
    v: &ValidChannel<B>,
    spec: &ChannelSpec,
    verified: bool,
    key_id: Option<KeyId>,
    sources: &Sources,
) -> serde_json::Value {
    let h = v.header();
    let instances: Vec<serde_json::Value> = spec
        .instances
        .iter()
        .map(|i| {
            let t = schema::template_type(i.template);
            let row_json = |row: &[CriterionSpec]| -> Vec<serde_json::Value> {
                row.iter()
                    .enumerate()
                    .map(|(k, c)| {
                        let mut o = criterion_json(c);
                        if let (Some(obj), Some(f)) = (o.as_object_mut(), t.and_then(|t| t.fields.get(k))) {
                            obj.insert("field".into(), json!(f.name));
                        }
                        o
                    })
                    .collect()
            };
            let rows = |list: &[Vec<CriterionSpec>]| -> Vec<Vec<serde_json::Value>> { list.iter().map(|r| row_json(r)).collect() };
            json!({"id": i.id, "template": t.map(|t| t.name), "action": i.action.name(), "criteria": row_json(&i.criteria),
                   "also": rows(&i.also), "unless": rows(&i.unless), "rule": crate::harness::rule_json(&i.metadata)})
        })
        .collect();
    json!({
        "channel": h.channel, "version": h.version, "format_version": h.format_version,
        "schema_id": format!("{:#018x}", h.schema_id), "key_id": key_id.map(keys::key_id_hex),
        "signature_verified": verified, "size": v.as_bytes().len(), "dfas": v.dfa_count(),
        "regex_groups": {"groups": group_counts(v).0, "grouped_dfas": group_counts(v).1},
        "regex_anchors": {"literal": anchor_counts(v)[0], "literal_set": anchor_counts(v)[1], "none": anchor_counts(v)[2]},
        "regex_sources": match sources {
            Sources::Unchecked => json!("unchecked"),
            Sources::Checked(_) => json!("deep-checked"),
            Sources::Mismatch(m) => json!({"mismatch": {"dfa": m.dfa, "pattern": m.pattern, "message": m.to_string()}}),
        },
        "cost": cost_report::json(&v.cost_bound()),
        "instances": instances,
    })
}

/// (regex groups, DFA entries in them) of `v` (docs/FORMAT.md, "Regex groups").
fn group_counts<B: AsRef<[u8]>>(v: &ValidChannel<B>) -> (u32, u32) {
    (0..v.dfa_count())
        .filter_map(|d| v.dfa_group(d).flatten())
        .fold((0, 0), |(g, m), x| (g + u32::from(x.pattern == 0), m + 1))
}

/// DFAs by the anchor their hint gives the interpreter: a required literal of
/// at least 4 bytes, a literal set (every member at least 4 bytes), or
/// neither (docs/FORMAT.md, "Required literals", "Literal sets").
fn anchor_counts<B: AsRef<[u8]>>(v: &ValidChannel<B>) -> [u32; 3] {
    let mut n = [0u32; 3];
    for d in 0..v.dfa_count() {
        let k = match v.dfa_literal(d).flatten() {
            Some(h) if h.set && h.members().all(|m| m.len() >= 4) => 1,
            Some(h) if !h.set && h.text.len() >= 4 => 0,
            _ => 2,
        };
        n[k] += 1;
    }
    n
}

fn print_inspect<B: AsRef<[u8]>>(
    v: &ValidChannel<B>,
    spec: &ChannelSpec,
    verified: bool,
    key_id: Option<KeyId>,
    sources: &Sources,
) {
    let h = v.header();
    println!(
        "channel {}  version {}  format v{}",
        h.channel, h.version, h.format_version
    );
    println!(
        "schema  {:#018x}  key {}  size {} bytes",
        h.schema_id,
        key_id.map_or_else(|| "?".into(), keys::key_id_hex),
        v.as_bytes().len()
    );
    println!(
        "signature {}",
        if verified {
            "verified"
        } else {
            "NOT verified (no --pubkey): structure checked only"
        }
    );
    let (groups, grouped) = group_counts(v);
    println!(
        "{} instance(s), {} DFA(s){}",
        spec.instances.len(),
        v.dfa_count(),
        if groups > 0 {
            format!(" ({grouped} of them in {groups} regex group(s): one scan per group and event)")
        } else {
            String::new()
        }
    );
    if v.dfa_count() > 0 {
        let [lit, set, none] = anchor_counts(v);
        println!(
            "regex anchors: {lit} with a required literal, {set} with a literal set, {none} with neither (found by scanning)"
        );
    }
    println!("regex sources {}", sources.describe(v.dfa_count()));
    println!("{}", cost_report::line(&v.cost_bound()));
    for i in &spec.instances {
        let t = schema::template_type(i.template);
        println!(
            "\ninstance {}  {}  action {}",
            i.id,
            t.map(|t| t.name).unwrap_or("?"),
            i.action.name()
        );
        let print_row = |row: &[CriterionSpec], indent: &str| {
            for (k, c) in row.iter().enumerate() {
                if *c == CriterionSpec::Any {
                    continue;
                }
                let name = t
                    .and_then(|t| t.fields.get(k))
                    .map(|f| f.name)
                    .unwrap_or("?");
                println!("{indent}{name:<26} {}", criterion_text(c));
            }
        };
        if let Some(r) = crate::harness::rule_text(&i.metadata) {
            println!("  rule: {r}");
        }
        print_row(&i.criteria, "  ");
        for row in &i.also {
            println!("  and also (AND row):");
            print_row(row, "    ");
        }
        for row in &i.unless {
            println!("  unless (UNLESS row):");
            print_row(row, "    ");
        }
    }
}

/// One criterion as `inspect` prints it, in the words of the TOML spec:
/// `suffix '\certutil.exe' (case-insensitive)`, `regex '(?i)-urlcache'`,
/// `range 1..=4`. `--json` keeps the structured form (`criterion_json`).
fn criterion_text(c: &CriterionSpec) -> String {
    // A TOML literal string when one can hold it (what docs/CONTENT.md
    // recommends for paths and regexes), else a basic string with escapes.
    let quoted = |s: &str| {
        if s.contains('\'') || s.chars().any(char::is_control) {
            toml::Value::String(s.to_string()).to_string()
        } else {
            format!("'{s}'")
        }
    };
    let ci = |b: bool| if b { " (case-insensitive)" } else { "" };
    match c {
        CriterionSpec::Any => "any".into(),
        CriterionSpec::Str {
            op,
            value,
            case_insensitive,
        } => format!("{} {}{}", op.name(), quoted(value), ci(*case_insensitive)),
        CriterionSpec::IntEquals(v) => format!("equals {v}"),
        CriterionSpec::IntRange { lo, hi } => format!("range {lo}..={hi}"),
        CriterionSpec::IntMask { mask, value } => format!("mask {mask:#x} value {value:#x}"),
        CriterionSpec::Regex {
            pattern,
            case_insensitive,
        } => format!("regex {}{}", quoted(pattern), ci(*case_insensitive)),
    }
}

#[cfg(test)]
mod inspect_text_tests {
    use super::*;
    use changuard_format::StrOp;

    #[test]
    fn criteria_print_in_spec_form() {
        let suffix = CriterionSpec::Str {
            op: StrOp::Suffix,
            value: "\\certutil.exe".into(),
            case_insensitive: true,
        };
        assert_eq!(
            criterion_text(&suffix),
            r"suffix '\certutil.exe' (case-insensitive)"
        );
        let regex = CriterionSpec::Regex {
            pattern: "(?i)-urlcache.*https?://".into(),
            case_insensitive: false,
        };
        assert_eq!(criterion_text(&regex), "regex '(?i)-urlcache.*https?://'");
        assert_eq!(
            criterion_text(&CriterionSpec::IntRange { lo: 1, hi: 4 }),
            "range 1..=4"
        );
        assert_eq!(criterion_text(&CriterionSpec::IntEquals(7)), "equals 7");
        let quote = CriterionSpec::Str {
            op: StrOp::Contains,
            value: "it's".into(),
            case_insensitive: false,
        };
        assert_eq!(criterion_text(&quote), r#"contains "it's""#);
        assert_eq!(
            criterion_text(&CriterionSpec::IntMask { mask: 3, value: 1 }),
            "mask 0x3 value 0x1"
        );
    }
}
