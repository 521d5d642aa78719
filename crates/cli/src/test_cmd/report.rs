//! What `changuard test` says as it runs: as text (problems on stderr, results
//! on stdout) or, under `--json`, as one JSON object per spec problem and per
//! events file, then `{"summary": {..}}`. Keeps the run's exit code: the worst
//! of everything reported.

use super::Built;
use crate::harness::{self, EXIT_FAIL, EXIT_OK, EXIT_USAGE, LineResult, Options, Tally};
use changuard_format::ValidChannel;
use serde_json::{Value as Json, json};
use std::io::Write;
use std::path::Path;

/// The `specs` entry of a channel built from `file` and validated as `v`.
pub(super) fn loaded_json(file: &str, v: &ValidChannel<&[u8]>) -> Json {
    json!({"spec": file, "channel": v.channel(), "version": v.version(),
           "instances": v.instance_count()})
}

/// The output streams of a run, its format, and its exit code so far.
pub(super) struct Report<'w> {
    json: bool,
    out: &'w mut dyn Write,
    err: &'w mut dyn Write,
    code: i32,
}

/// What an events file reported line by line, kept for its JSON object.
#[derive(Default)]
pub(super) struct Lines {
    failures: Vec<Json>,
    errors: Vec<Json>,
}

/// The totals of a run that ran its events files.
pub(super) struct Summary<'t> {
    pub(super) total: &'t Tally,
    pub(super) specs: Vec<Json>,
    pub(super) events_files: usize,
    pub(super) events_files_failed: usize,
    pub(super) opts: Options,
}

impl<'w> Report<'w> {
    pub(super) fn new(json: bool, out: &'w mut dyn Write, err: &'w mut dyn Write) -> Report<'w> {
        Report {
            json,
            out,
            err,
            code: EXIT_OK,
        }
    }

    /// The worst exit code reported so far.
    pub(super) fn code(&self) -> i32 {
        self.code
    }

    /// A spec (`file`) that does not build into content the driver would load.
    pub(super) fn spec_problem(&mut self, code: i32, file: &str, msg: String) {
        self.code = self.code.max(code);
        if self.json {
            let _ = writeln!(
                self.out,
                "{}",
                json!({"spec": file, "error": msg, "exit_code": code})
            );
        } else {
            let _ = writeln!(self.err, "{msg}");
        }
    }

    /// The run stops before the events files: `unbuilt` specs failed.
    pub(super) fn no_events_run(&mut self, unbuilt: usize, specs: Vec<Json>) {
        let _ = writeln!(
            self.err,
            "no events file run: {unbuilt} spec(s) do not build into content the driver would load"
        );
        if self.json {
            let _ = writeln!(
                self.out,
                "{}",
                json!({"summary": {"specs": specs, "events_files": 0, "exit_code": self.code}})
            );
        }
    }

    /// The interpreter could not be built from the validated channels.
    pub(super) fn interpreter_error(&mut self, e: &dyn std::fmt::Display) {
        self.code = self.code.max(EXIT_FAIL);
        let _ = writeln!(self.err, "error: cannot build the interpreter: {e}");
    }

    /// The specs built (text only).
    pub(super) fn built(&mut self, chans: &[ValidChannel<&[u8]>], built: &[Built]) {
        if self.json {
            return;
        }
        let specs: Vec<String> = chans
            .iter()
            .zip(built)
            .map(|(v, b)| {
                format!(
                    "{} (channel {} v{}, {} instance(s))",
                    b.file,
                    v.channel(),
                    v.version(),
                    v.instance_count()
                )
            })
            .collect();
        let _ = writeln!(
            self.out,
            "built {} spec(s): {}",
            specs.len(),
            specs.join(", ")
        );
    }

    /// The events file `file` at `path` could not be read.
    pub(super) fn unreadable_events_file(&mut self, file: &str, path: &Path, e: &std::io::Error) {
        self.code = self.code.max(EXIT_USAGE);
        if self.json {
            let _ = writeln!(
                self.out,
                "{}",
                json!({"file": file, "error": e.to_string(), "exit_code": EXIT_USAGE})
            );
        } else {
            let _ = writeln!(self.err, "error: {}: {e}", path.display());
        }
    }

    /// One line of the events file `file` at `path`: a malformed line, or an
    /// event that failed its expectation, faulted or ran out of fuel, is said
    /// now as text, or kept in `lines` for the file's JSON object.
    pub(super) fn line(&mut self, file: &str, path: &Path, r: &LineResult<'_>, lines: &mut Lines) {
        match r {
            LineResult::Malformed { line, message } => {
                if self.json {
                    lines.errors.push(json!({"line": line, "error": message}));
                } else {
                    let _ = writeln!(self.err, "{}:{line}: {message}", path.display());
                }
            }
            LineResult::Event(o) if o.failed() || o.unhealthy() => {
                if self.json {
                    lines.failures.push(harness::outcome_json(o));
                } else {
                    let _ = writeln!(self.out, "{file} {}", harness::outcome_text(o));
                }
            }
            LineResult::Event(_) => {}
        }
    }

    /// The events file `file` ran: its summary line, or its JSON object with
    /// the `lines` kept.
    pub(super) fn events_file(&mut self, file: &str, tally: &Tally, opts: Options, lines: Lines) {
        let file_code = tally.exit_code();
        self.code = self.code.max(file_code);
        let note = tally.health_note(opts);
        if self.json {
            let mut o = harness::tally_json(tally);
            if let Some(m) = o.as_object_mut() {
                m.insert("file".into(), json!(file));
                m.insert("failures".into(), Json::Array(lines.failures));
                m.insert("errors".into(), Json::Array(lines.errors));
                m.insert("note".into(), json!(note));
                m.insert("exit_code".into(), json!(file_code));
            }
            let _ = writeln!(self.out, "{o}");
        } else {
            let _ = writeln!(
                self.out,
                "{file}: {} {} event(s): {} expectation(s) met, {} not met, {} without expect{}{}",
                if file_code == EXIT_OK { "ok  " } else { "FAIL" },
                tally.events,
                tally.met,
                tally.failed,
                tally.unchecked,
                if tally.malformed > 0 {
                    format!(", {} malformed line(s)", tally.malformed)
                } else {
                    String::new()
                },
                if tally.unhealthy() > 0 {
                    format!(", {} fault(s) / exhausted budget(s)", tally.unhealthy())
                } else {
                    String::new()
                },
            );
            if let Some(n) = note {
                let _ = writeln!(self.out, "  {n}");
            }
        }
    }

    /// The run's last line, or its `{"summary": {..}}` object.
    pub(super) fn summary(&mut self, s: Summary<'_>) {
        let code = self.code;
        if self.json {
            let mut o = harness::tally_json(s.total);
            if let Some(m) = o.as_object_mut() {
                m.insert("specs".into(), Json::Array(s.specs));
                m.insert("events_files".into(), json!(s.events_files));
                m.insert("events_files_failed".into(), json!(s.events_files_failed));
                m.insert("truncate".into(), json!(s.opts.truncate));
                m.insert("exit_code".into(), json!(code));
            }
            let _ = writeln!(self.out, "{}", json!({ "summary": o }));
        } else {
            let _ = writeln!(
                self.out,
                "{}: {} events file(s), {} event(s), {} expectation(s) met, {} not met, {} fault(s) / exhausted budget(s)",
                if code == EXIT_OK { "ok" } else { "FAILED" },
                s.events_files,
                s.total.events,
                s.total.met,
                s.total.failed,
                s.total.unhealthy()
            );
        }
    }
}
