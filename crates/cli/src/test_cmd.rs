//! `changuard test DIR`: what a content repository's CI runs.
//!
//! `DIR` holds content specs (`*.toml`, as `changuard build` takes them) and
//! events files (`*.jsonl`, the format of `changuard replay`, with `expect`).
//! Every spec is compiled in memory with the code `changuard build` uses and
//! signed with a key made for this run only (nothing is written; the key is
//! trusted as a production key, so `test-crash` content is rejected as the
//! driver would reject it with one), then validated by the driver's validator.
//! Every events file runs against all the channels built, and its
//! expectations are checked.
//!
//! Output: per events file a summary line (events, expectations met / failed)
//! and, for every event that failed its expectation, faulted or ran out of
//! fuel, the event and its diff. `--json`: one object per events file, then
//! `{"summary": {..}}`.
//!
//! Exit codes as `replay`: 0 every event ran and every expectation was met;
//! 1 content rejected, an expectation not met, a fault or fuel exhausted; 2 a
//! spec that does not compile, a malformed event line, usage or I/O error.

mod report;

use crate::harness::{self, Content, EXIT_FAIL, EXIT_OK, EXIT_USAGE, Options, Tally};
use crate::spec::SpecError;
use changuard_format::build::{self, SigningKey};
use changuard_format::{AlignedBytes, Trust, ValidChannel};
use report::{Lines, Report, Summary};
use serde_json::Value as Json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `changuard test --help` says first, after the options.
const TEST_HELP: &str =
    "DIR holds content specs (*.toml, as `changuard build` takes them) and events
files (*.jsonl, as `changuard replay` takes them, with \"expect\"). Every spec is
built in memory, signed with a key made for this run (nothing is written; the key
is trusted as a production key, so test-crash content is rejected), and validated
as the driver does; then every events file runs against all the channels built.
What a content repository's CI runs.";

/// Arguments of `changuard test`.
#[derive(clap::Args, Debug)]
#[command(after_help = format!("{TEST_HELP}\n\n{}", harness::EVENTS_HELP))]
pub struct TestArgs {
    /// Folder with content specs (`*.toml`) and events files (`*.jsonl`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Evaluate strings at full length instead of cutting them to the field's
    /// cap as the driver does.
    #[arg(long)]
    pub no_truncate: bool,
    /// One JSON object per events file, then a summary object.
    #[arg(long)]
    pub json: bool,
}

/// Run `changuard test`, printing to stdout/stderr. Returns the exit code.
pub fn run(args: &TestArgs) -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run_to(args, &mut stdout.lock(), &mut stderr.lock())
}

/// [`run`] with explicit output streams (for tests).
pub fn run_to(args: &TestArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    harness::exit_code(test(args, out, err), args.json, out, err)
}

/// The `*.toml` and `*.jsonl` files of `dir`, each sorted by name.
fn list(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut specs = Vec::new();
    let mut events = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if !path.is_file() {
            continue;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => specs.push(path),
            Some("jsonl") => events.push(path),
            _ => {}
        }
    }
    specs.sort();
    events.sort();
    if specs.is_empty() {
        return Err(format!(
            "{}: no content spec (*.toml) to build",
            dir.display()
        ));
    }
    if events.is_empty() {
        return Err(format!(
            "{}: no events file (*.jsonl) to run",
            dir.display()
        ));
    }
    Ok((specs, events))
}

/// `line:column` (1-based) of byte `at` in `src`.
fn line_col(src: &str, at: usize) -> (usize, usize) {
    let before = src.get(..at).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before, |n| &before[n + 1..])
        .chars()
        .count()
        + 1;
    (line, col)
}

fn name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// A spec built and signed in memory.
struct Built {
    file: String,
    channel: u32,
    bytes: AlignedBytes,
}

fn test(args: &TestArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32, String> {
    let (spec_files, events_files) = list(&args.dir)?;
    // A key for this run only: nothing signed with it leaves this process.
    let key = SigningKey::generate();
    let keys = [key.trusted_key()];
    let trust = Trust::new(&keys);

    let mut report = Report::new(args.json, out, err);
    let built = build_specs(&spec_files, &key, &mut report)?;
    let (chans, loaded) = validate(&built, &trust, &args.dir, &mut report);
    if report.code() != EXIT_OK {
        report.no_events_run(spec_files.len() - chans.len(), loaded);
        return Ok(report.code());
    }
    let content = match Content::new(&chans) {
        Ok(c) => c,
        Err(e) => {
            report.interpreter_error(&e);
            return Ok(EXIT_FAIL);
        }
    };
    report.built(&chans, &built);
    let opts = Options {
        truncate: !args.no_truncate,
    };
    let (total, files_failed) = run_events_files(&events_files, &content, opts, &mut report);
    report.summary(Summary {
        total: &total,
        specs: loaded,
        events_files: events_files.len(),
        events_files_failed: files_failed,
        opts,
    });
    Ok(report.code())
}

/// `path`'s `e` as `build` says it: at its TOML `line:column` when it has one.
fn spec_error(path: &Path, src: &str, e: &SpecError) -> String {
    let at = e.span.as_ref().map_or(String::new(), |s| {
        let (l, c) = line_col(src, s.start);
        format!(":{l}:{c}")
    });
    format!("{}{at}: {}", path.display(), e.message)
}

/// Every spec of `spec_files` built and signed with `key`, in order; a spec
/// that does not build is reported and left out. `Err` when a spec cannot be
/// read.
fn build_specs(
    spec_files: &[PathBuf],
    key: &SigningKey,
    report: &mut Report<'_>,
) -> Result<Vec<Built>, String> {
    let mut built: Vec<Built> = Vec::new();
    for path in spec_files {
        if let Some(b) = build_spec(path, key, &built, report)? {
            built.push(b);
        }
    }
    Ok(built)
}

/// The spec at `path` built and signed with `key`, or `None` (reported) when
/// it does not compile, would be rejected, or builds a channel `built`
/// already has. `Err` when it cannot be read.
fn build_spec(
    path: &Path,
    key: &SigningKey,
    built: &[Built],
    report: &mut Report<'_>,
) -> Result<Option<Built>, String> {
    let file = name(path);
    let src = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (spec, spans) = match crate::spec::parse_spanned(&src) {
        Ok(s) => s,
        Err(e) => {
            report.spec_problem(EXIT_USAGE, &file, spec_error(path, &src, &e));
            return Ok(None);
        }
    };
    // What the validator would reject, in spec terms at the TOML line (as
    // `build` says it); the run key is a production key.
    let problems = crate::spec::check(&spec, &spans, false);
    if !problems.is_empty() {
        for p in problems {
            report.spec_problem(EXIT_FAIL, &file, spec_error(path, &src, &p));
        }
        return Ok(None);
    }
    let bytes = match build::build(&spec, key) {
        Ok(b) => b,
        Err(e) => {
            report.spec_problem(EXIT_USAGE, &file, format!("{}: {e}", path.display()));
            return Ok(None);
        }
    };
    if let Some(other) = built.iter().find(|b| b.channel == spec.channel) {
        let msg = format!(
            "{}: channel {} is also built from {}; a sensor loads one file per channel",
            path.display(),
            spec.channel,
            other.file
        );
        report.spec_problem(EXIT_FAIL, &file, msg);
        return Ok(None);
    }
    Ok(Some(Built {
        file,
        channel: spec.channel,
        bytes: AlignedBytes::from_slice(&bytes),
    }))
}

/// The channels of `built` the driver's validator accepts under `trust`, and
/// their `specs` JSON; a rejected one is reported and left out.
fn validate<'b>(
    built: &'b [Built],
    trust: &Trust<'_>,
    dir: &Path,
    report: &mut Report<'_>,
) -> (Vec<ValidChannel<&'b [u8]>>, Vec<Json>) {
    let mut chans: Vec<ValidChannel<&[u8]>> = Vec::new();
    let mut loaded: Vec<Json> = Vec::new();
    for b in built {
        match changuard_format::validate(b.bytes.as_ref(), trust, b.channel) {
            Ok(v) => {
                loaded.push(report::loaded_json(&b.file, &v));
                chans.push(v);
            }
            Err(r) => {
                let msg = format!("{}: rejected: {r}", dir.join(&b.file).display());
                report.spec_problem(EXIT_FAIL, &b.file, msg);
            }
        }
    }
    (chans, loaded)
}

/// Run every events file against `content`, reporting each: the tally of
/// them all and how many failed (or could not be read).
fn run_events_files(
    events_files: &[PathBuf],
    content: &Content<'_>,
    opts: Options,
    report: &mut Report<'_>,
) -> (Tally, usize) {
    let mut total = Tally::default();
    let mut files_failed = 0usize;
    for path in events_files {
        match run_events_file(path, content, opts, report) {
            Some(tally) => {
                if tally.exit_code() != EXIT_OK {
                    files_failed += 1;
                }
                total.merge(&tally);
            }
            None => files_failed += 1,
        }
    }
    (total, files_failed)
}

/// Run the events file at `path` against `content`, reporting its failed
/// events and its summary: its tally, or `None` (reported) when it cannot be
/// read.
fn run_events_file(
    path: &Path,
    content: &Content<'_>,
    opts: Options,
    report: &mut Report<'_>,
) -> Option<Tally> {
    let file = name(path);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            report.unreadable_events_file(&file, path, &e);
            return None;
        }
    };
    let mut lines = Lines::default();
    let tally = content.run(&text, opts, &mut |r| {
        report.line(&file, path, r, &mut lines);
    });
    report.events_file(&file, &tally, opts, lines);
    Some(tally)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: &str = r#"
channel = 300
version = 1

[[instance]]
id = 1
template = "ProcessCreate"
[instance.criteria]
image_path = { suffix = "\\certutil.exe", case_insensitive = true }
"#;

    fn run_dir(dir: &Path, json: bool) -> (i32, String, String) {
        let args = TestArgs {
            dir: dir.to_path_buf(),
            no_truncate: false,
            json,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_to(&args, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (n, t) in files {
            std::fs::write(d.path().join(n), t).unwrap();
        }
        d
    }

    const CERTUTIL: &str = r#"{"template": "ProcessCreate", "fields": {"image_path": "C:\\Windows\\certutil.exe"}, "expect": ["300/1"]}
{"template": "ProcessCreate", "fields": {"image_path": "C:\\Windows\\notepad.exe"}, "expect": []}
{"template": "ProcessCreate", "fields": {"image_path": "C:\\Windows\\notepad.exe"}}
"#;

    #[test]
    fn passes_and_fails_with_a_diff() {
        let d = dir_with(&[("a.toml", SPEC), ("a.jsonl", CERTUTIL)]);
        let (code, out, err) = run_dir(d.path(), false);
        assert_eq!(code, EXIT_OK, "{out}{err}");
        assert!(
            out.contains("built 1 spec(s): a.toml (channel 300 v1, 1 instance(s))"),
            "{out}"
        );
        assert!(
            out.contains(
                "a.jsonl: ok   3 event(s): 2 expectation(s) met, 0 not met, 1 without expect"
            ),
            "{out}"
        );
        // No file is written.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);

        let wrong = CERTUTIL.replacen("\"expect\": []", "\"expect\": [\"300/1\"]", 1);
        let d = dir_with(&[("a.toml", SPEC), ("a.jsonl", &wrong)]);
        let (code, out, _) = run_dir(d.path(), false);
        assert_eq!(code, EXIT_FAIL, "{out}");
        assert!(
            out.contains("a.jsonl line 2: ProcessCreate: no match [EXPECTATION NOT MET]"),
            "{out}"
        );
        assert!(
            out.contains("  - 300/1                        expected, did not match"),
            "{out}"
        );
        assert!(
            out.contains("a.jsonl: FAIL 3 event(s): 1 expectation(s) met, 1 not met"),
            "{out}"
        );
        assert!(
            out.contains("FAILED: 1 events file(s), 3 event(s)"),
            "{out}"
        );

        let (code, out, _) = run_dir(d.path(), true);
        assert_eq!(code, EXIT_FAIL);
        let objs: Vec<Json> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0]["file"], "a.jsonl");
        assert_eq!(
            objs[0]["expectations"],
            json!({"met": 1, "failed": 1, "unchecked": 1})
        );
        assert_eq!(objs[0]["failures"][0]["line"], 2);
        assert_eq!(objs[0]["failures"][0]["missing"], json!(["300/1"]));
        assert_eq!(objs[0]["exit_code"], EXIT_FAIL);
        assert_eq!(objs[1]["summary"]["exit_code"], EXIT_FAIL);
        assert_eq!(objs[1]["summary"]["specs"][0]["channel"], 300);
    }

    #[test]
    fn spec_errors_and_bad_dirs_exit_2() {
        let bad = SPEC.replace("image_path", "image_pth");
        let d = dir_with(&[("a.toml", &bad), ("a.jsonl", CERTUTIL)]);
        let (code, out, err) = run_dir(d.path(), false);
        assert_eq!(code, EXIT_USAGE, "{out}{err}");
        assert!(err.contains("a.toml:9:1: template ProcessCreate has no input `image_pth` (did you mean `image_path`?)"), "{err}");
        assert!(!out.contains("a.jsonl"), "{out}");
        // A malformed event line.
        let d = dir_with(&[
            ("a.toml", SPEC),
            (
                "a.jsonl",
                "{\"template\": \"ProcessCreate\", \"expct\": []}\n",
            ),
        ]);
        let (code, _, err) = run_dir(d.path(), false);
        assert_eq!(code, EXIT_USAGE);
        assert!(
            err.contains("a.jsonl:1: unknown key \"expct\" (did you mean \"expect\"?)"),
            "{err}"
        );
        // Nothing to build / nothing to run / no such folder.
        let d = dir_with(&[("a.jsonl", CERTUTIL)]);
        let (code, _, err) = run_dir(d.path(), false);
        assert_eq!(code, EXIT_USAGE);
        assert!(err.contains("no content spec (*.toml)"), "{err}");
        let d = dir_with(&[("a.toml", SPEC)]);
        assert_eq!(run_dir(d.path(), false).0, EXIT_USAGE);
        assert_eq!(run_dir(&d.path().join("nope"), false).0, EXIT_USAGE);
    }

    #[test]
    fn content_the_driver_rejects_exits_1_without_running_events() {
        // test-crash needs a test-only key; the run's key is a production one.
        let crash = SPEC.replace(
            "[instance.criteria]",
            "action = \"test-crash\"\n[instance.criteria]",
        );
        let d = dir_with(&[("a.toml", &crash), ("a.jsonl", CERTUTIL)]);
        let (code, out, err) = run_dir(d.path(), false);
        assert_eq!(code, EXIT_FAIL, "{out}{err}");
        // Said at the spec line, in spec terms, as `build` says it.
        assert!(
            err.contains("a.toml:") && err.contains("test-crash"),
            "{err}"
        );
        assert!(err.contains("no events file run"), "{err}");
        assert!(!out.contains("no match"), "{out}");
        // Two specs for one channel.
        let d = dir_with(&[("a.toml", SPEC), ("b.toml", SPEC), ("a.jsonl", CERTUTIL)]);
        let (code, _, err) = run_dir(d.path(), false);
        assert_eq!(code, EXIT_FAIL);
        assert!(
            err.contains("b.toml: channel 300 is also built from a.toml"),
            "{err}"
        );
    }

    #[test]
    fn line_col_is_one_based() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
