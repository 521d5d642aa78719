//! `changuard pack`: lay the instances of several specs out anew over
//! channel files, each regex family in as few files as the budgets allow
//! (`changuard_format::build::pack_by_family`; docs/CONTENT.md, "Regular
//! expressions"). The verdicts stay the same; the scans per event fall.

use crate::content_cmd::report_spec_error;
use crate::spec;
use changuard_format::build::{
    BuildError, BuildOptions, ChannelSpec, InstanceSpec, PackLimits, SigningKey, build_with,
    pack_by_family,
};
use changuard_format::cost::TEMPLATE_CEILING;
use changuard_format::{AlignedBytes, Trust, validate};
use changuard_loader::limits::MAX_CHANNELS;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct PackArgs {
    /// TOML content specs whose instances are laid out anew (one schema;
    /// instance ids unique across them).
    #[arg(required = true)]
    specs: Vec<PathBuf>,
    /// Directory for the packed specs (`channel-<id>.toml`), created if
    /// missing; an existing file there is never overwritten.
    #[arg(short, long)]
    out: PathBuf,
    /// Channel id of the first packed file; the others follow it. Default:
    /// the lowest channel id of the inputs.
    #[arg(long)]
    channel: Option<u32>,
    /// Most instances per packed file.
    #[arg(long, default_value_t = PackLimits::DEFAULT.instances)]
    per_file: usize,
    /// One JSON object on stdout instead of the text report.
    #[arg(long)]
    json: bool,
}

/// An instance of the inputs, and where it came from.
struct Source<'a> {
    file: &'a Path,
    id: u32,
}

pub fn run(a: &PackArgs) -> i32 {
    let mut inputs: Vec<(&Path, ChannelSpec)> = Vec::new();
    for path in &a.specs {
        let src = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return 2;
            }
        };
        match spec::parse_spanned(&src) {
            Ok((s, _)) => inputs.push((path.as_path(), s)),
            Err(e) => {
                report_spec_error(path, &src, &e);
                eprintln!(
                    "error: {}: the spec has an error; nothing was written",
                    path.display()
                );
                return 2;
            }
        }
    }
    let (instances, sources) = match gather(&inputs) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}; nothing was written");
            return 1;
        }
    };
    let limits = PackLimits {
        instances: a.per_file.max(1),
        ..PackLimits::DEFAULT
    };
    // Packing measures each file's groups and checking builds each file:
    // minutes for thousands of command-line regexes, so a terminal sees
    // what is going on (stdout keeps only the report).
    let show = std::io::stderr().is_terminal();
    let spinner = show.then(|| {
        let b = ProgressBar::new_spinner();
        b.set_message(format!("packing {} instances", instances.len()));
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let packed = pack_by_family(&instances, limits);
    if let Some(b) = spinner {
        b.finish_and_clear();
    }
    let files = match packed {
        Ok(f) => f,
        Err(e) => {
            // As `build`: a regex that does not compile is exit 2.
            eprintln!("error: {}; nothing was written", located(&e, &sources));
            return 2;
        }
    };
    let first = a
        .channel
        .unwrap_or_else(|| inputs.iter().map(|(_, s)| s.channel).min().unwrap_or(0));
    let version = inputs.iter().map(|(_, s)| s.version).max().unwrap_or(1);
    let schema_id = inputs.first().map_or(0, |(_, s)| s.schema_id);
    let mut planned = Vec::with_capacity(files.len());
    for (k, instances) in files.into_iter().enumerate() {
        let Some(channel) = u32::try_from(k).ok().and_then(|k| first.checked_add(k)) else {
            eprintln!(
                "error: channel ids from {first} run past {}; nothing was written",
                u32::MAX
            );
            return 1;
        };
        let path = a.out.join(format!("channel-{channel}.toml"));
        if path.exists() {
            eprintln!("error: {} exists; nothing was written", path.display());
            return 2;
        }
        let spec = ChannelSpec {
            channel,
            version,
            schema_id,
            instances,
        };
        planned.push((path, spec));
    }
    // Each file must build and validate before any is written: a budget
    // the packer does not count (the fuel ceiling) is found here, not by
    // the author's next `build`.
    let bar = show.then(|| {
        let b = ProgressBar::new(planned.len() as u64);
        if let Ok(style) = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} files") {
            b.set_style(style);
        }
        b.set_message("building and validating");
        b
    });
    let mut bounds = Vec::with_capacity(planned.len());
    for (path, spec) in &planned {
        let checked = check(spec);
        if let Some(b) = &bar {
            b.inc(1);
        }
        match checked {
            Ok(bound) => bounds.push(bound),
            Err(why) => {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                eprintln!(
                    "error: {} ({} instances) would not build: {why}; nothing was written (a smaller --per-file makes smaller files)",
                    path.display(),
                    spec.instances.len()
                );
                return 1;
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        eprintln!("error: {}: {e}", a.out.display());
        return 2;
    }
    for (path, spec) in &planned {
        if let Err(e) = std::fs::write(path, spec::render(spec)) {
            eprintln!("error: {}: {e}", path.display());
            return 2;
        }
    }
    report(a, &inputs, &planned, &bounds);
    0
}

/// Build `spec` with a throwaway test key and validate it as the driver
/// would (test-only, so content with the `test-crash` action passes here;
/// `build` with the author's key applies the signing rules): its proven
/// per-event bound, or why it fails.
fn check(spec: &ChannelSpec) -> Result<u64, String> {
    let key = SigningKey::from_seed([7; 32]);
    let options = BuildOptions {
        group_regexes: true,
    };
    let bytes = build_with(spec, &key, &options).map_err(|e| e.to_string())?;
    let aligned = AlignedBytes::from_slice(&bytes);
    let keys = [key.trusted_test_key()];
    let valid = validate(aligned.as_ref(), &Trust::new(&keys), spec.channel)
        .map_err(|r| format!("the validator rejects it: {r}"))?;
    Ok(valid.cost_bound().max())
}

/// Every instance of the inputs, in input order, and where each came from.
/// Refused: inputs of different schemas, and an instance id used twice
/// (the driver reports matches by channel and instance id, and packing
/// moves instances between channels).
fn gather<'a>(
    inputs: &'a [(&'a Path, ChannelSpec)],
) -> Result<(Vec<InstanceSpec>, Vec<Source<'a>>), String> {
    let mut instances = Vec::new();
    let mut sources = Vec::new();
    let mut seen: HashMap<u32, &Path> = HashMap::new();
    let schema = inputs.first().map(|(_, s)| s.schema_id);
    for (file, spec) in inputs {
        if Some(spec.schema_id) != schema {
            return Err(format!(
                "{}: schema {:#x}, not the first spec's {:#x}",
                file.display(),
                spec.schema_id,
                schema.unwrap_or(0)
            ));
        }
        for inst in &spec.instances {
            if let Some(other) = seen.insert(inst.id, file) {
                return Err(format!(
                    "instance id {} is in {} and in {}: ids must be unique across the packed specs",
                    inst.id,
                    other.display(),
                    file.display()
                ));
            }
            instances.push(inst.clone());
            sources.push(Source { file, id: inst.id });
        }
    }
    Ok((instances, sources))
}

/// `e` (whose instance is a position in the gathered list) with the spec
/// file and instance id it names.
fn located(e: &BuildError, sources: &[Source<'_>]) -> String {
    let at = match e {
        BuildError::Regex { instance, .. }
        | BuildError::RegexTooLarge { instance, .. }
        | BuildError::StringTooLong { instance, .. } => sources.get(*instance),
        _ => None,
    };
    match at {
        Some(s) => format!("{} instance id {}: {e}", s.file.display(), s.id),
        None => e.to_string(),
    }
}

fn report(
    a: &PackArgs,
    inputs: &[(&Path, ChannelSpec)],
    planned: &[(PathBuf, ChannelSpec)],
    bounds: &[u64],
) {
    let total: usize = planned.iter().map(|(_, s)| s.instances.len()).sum();
    // The driver loads at most MAX_CHANNELS channels: more files than that
    // cannot all be active on one machine, whatever their budgets.
    if planned.len() > MAX_CHANNELS {
        eprintln!(
            "warning: {} files; the driver loads at most {MAX_CHANNELS} channels (a larger --per-file makes fewer files)",
            planned.len()
        );
    }
    if a.json {
        let files: Vec<_> = planned
            .iter()
            .zip(bounds)
            .map(|((p, s), b)| {
                json!({"file": p.display().to_string(), "channel": s.channel,
                       "version": s.version, "instances": s.instances.len(),
                       "cost_bound": b})
            })
            .collect();
        println!(
            "{}",
            json!({"inputs": inputs.len(), "instances": total, "files": files,
                   "cost_ceiling": TEMPLATE_CEILING, "driver_channels": MAX_CHANNELS})
        );
        return;
    }
    for ((p, s), b) in planned.iter().zip(bounds) {
        println!(
            "wrote {}: channel {}, version {}, {} instances, cost bound {b} of {TEMPLATE_CEILING} fuel per event",
            p.display(),
            s.channel,
            s.version,
            s.instances.len()
        );
    }
    println!(
        "{total} instances of {} specs packed into {} files; build each with `changuard build`",
        inputs.len(),
        planned.len()
    );
}
