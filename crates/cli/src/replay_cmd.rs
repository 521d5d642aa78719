//! `changuard replay`: evaluate recorded sensor events (JSON lines) against
//! channel files, with the same validator and interpreter the driver runs.
//!
//! # Inputs
//! - `--content FILE...`: channel files. Each is read into a 16-byte aligned
//!   buffer ([`AlignedBytes`], as the kernel's pool buffers are) and validated
//!   for the channel id taken from its **file name** when it is
//!   `C-<channel>-<version>.chan` (the loader's naming, e.g.
//!   `C-00000291-00000007.chan`), otherwise from the file's **own header**
//!   (bytes 16..20, little-endian; `changuard_format::layout::header::CHANNEL`).
//!   The second case only replays what the file claims to be; the signature
//!   still has to verify. A rejected file is reported and skipped (exit 1).
//! - `--pubkey PUB`: the trusted Ed25519 public key, one line of 64 hex
//!   characters (what `changuard keygen` writes to `<name>.pub`).
//! - `--events EVENTS.jsonl`: one event per line,
//!   `{"template":"ProcessCreate","fields":{"image_path":"C:\\...","pid":1234,...}}`.
//!   Every field of the template type must be present, with the schema's type
//!   (strings for `str` fields, non-negative integers for `int` fields); an
//!   optional top-level `"label"` string is echoed. A missing, extra or
//!   wrongly typed field, an unknown template, or bad JSON is reported with its
//!   line number and the line is skipped (exit 1). Blank lines are ignored.
//!
//! # Output
//! Text: one line per event with its matches (`channel/instance action`),
//! then a summary (events, matches per instance, faults, exhausted budgets).
//! `--json`: one object per event line (`{"line":..,"matches":[..],..}` or
//! `{"line":..,"error":".."}`), then `{"summary":{..}}`.
//!
//! # Exit codes
//! 0 all content valid and every line replayed; 1 some content rejected or
//! some event line malformed; 2 usage or I/O error (unreadable file, bad key).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use changuard_format::schema::{self, FieldType, TemplateType};
use changuard_format::{AlignedBytes, Trust, ValidChannel, validate};
use changuard_interp::{Engine, Event, Value, Verdict};
use serde_json::{Map, Value as Json, json};

/// Arguments of `changuard replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Channel files to load (`C-<channel>-<version>.chan`; for other names the
    /// channel id is read from the file's header).
    #[arg(long = "content", required = true, num_args = 1.., value_name = "FILE")]
    pub content: Vec<PathBuf>,
    /// Trusted public key file (64 hex characters, as written by `changuard keygen`).
    #[arg(long, value_name = "PUB")]
    pub pubkey: PathBuf,
    /// Events, one JSON object per line.
    #[arg(long, value_name = "EVENTS.jsonl")]
    pub events: PathBuf,
    /// Machine-readable output: one JSON object per event, then a summary object.
    #[arg(long)]
    pub json: bool,
}

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: content rejected or an event line malformed.
pub const EXIT_INVALID: i32 = 1;
/// Exit code: usage or I/O error.
pub const EXIT_USAGE: i32 = 2;

/// Run `changuard replay`, printing to stdout/stderr. Returns the exit code.
pub fn run(args: &ReplayArgs) -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run_to(args, &mut stdout.lock(), &mut stderr.lock())
}

/// [`run`] with explicit output streams (for tests).
pub fn run_to(args: &ReplayArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match replay(args, out, err) {
        Ok(code) => code,
        Err(msg) => {
            let _ = writeln!(err, "error: {msg}");
            EXIT_USAGE
        }
    }
}

fn replay(args: &ReplayArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32, String> {
    let key = crate::keys::read_public(&args.pubkey)?;
    let keys = [key];
    let trust = Trust::new(&keys);
    let events_text = std::fs::read_to_string(&args.events)
        .map_err(|e| format!("{}: {e}", args.events.display()))?;

    let mut bufs: Vec<(PathBuf, AlignedBytes)> = Vec::new();
    for path in &args.content {
        let b = crate::files::read_capped(path).map_err(|e| format!("{}: {e}", path.display()))?;
        bufs.push((path.clone(), b));
    }
    let mut code = EXIT_OK;
    let mut chans: Vec<ValidChannel<&[u8]>> = Vec::new();
    for (path, b) in &bufs {
        let bytes: &[u8] = b.as_ref();
        let (channel, _) = crate::files::expected_channel(path, bytes, None);
        match validate(bytes, &trust, channel) {
            Ok(v) if chans.iter().any(|c| c.channel() == v.channel()) => {
                let _ = writeln!(
                    err,
                    "{}: skipped: channel {channel} already loaded from another file",
                    path.display()
                );
                code = EXIT_INVALID;
            }
            Ok(v) => chans.push(v),
            Err(r) => {
                let _ = writeln!(err, "{}: rejected: {r}", path.display());
                code = EXIT_INVALID;
            }
        }
    }
    let engine = match Engine::new(&chans) {
        Ok(e) => e,
        Err(e) => {
            let _ = writeln!(err, "error: cannot build the interpreter: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    if !args.json {
        let st = engine.stats();
        let _ = writeln!(
            out,
            "loaded {} channel(s), {} instance(s) ({} always checked, {} DFA(s))",
            st.channels, st.instances, st.always, st.dfas
        );
    }

    let mut verdict = Verdict::new();
    let mut events = 0u64;
    let mut malformed = 0u64;
    let mut faults = 0u64;
    let mut exhausted = 0u64;
    let mut per_instance: BTreeMap<(u32, u32), (u64, &'static str)> = BTreeMap::new();
    for (k, line) in events_text.lines().enumerate() {
        let lineno = k + 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = match parse_line(line) {
            Ok(p) => p,
            Err(msg) => {
                malformed += 1;
                code = EXIT_INVALID;
                if args.json {
                    let _ = writeln!(out, "{}", json!({"line": lineno, "error": msg}));
                } else {
                    let _ = writeln!(err, "{}:{lineno}: {msg}", args.events.display());
                }
                continue;
            }
        };
        let values: Vec<Value<'_>> = parsed
            .values
            .iter()
            .map(|v| match v {
                Owned::Str(s) => Value::Str(s),
                Owned::Int(i) => Value::Int(*i),
            })
            .collect();
        let Some(event) = Event::from_values(parsed.template.id, &values) else {
            malformed += 1;
            code = EXIT_INVALID;
            let _ = writeln!(
                err,
                "{}:{lineno}: internal: event shape",
                args.events.display()
            );
            continue;
        };
        engine.evaluate(&event, &mut verdict);
        events += 1;
        faults += u64::from(verdict.faults);
        exhausted += u64::from(verdict.fuel_exhausted);
        for m in verdict.matches() {
            per_instance
                .entry((m.channel, m.instance))
                .or_insert((0, m.action.name()))
                .0 += 1;
        }
        if args.json {
            let matches: Vec<Json> = verdict
                .matches()
                .iter()
                .map(|m| json!({"channel": m.channel, "instance": m.instance, "action": m.action.name()}))
                .collect();
            let mut obj = json!({
                "line": lineno,
                "template": parsed.template.name,
                "matches": matches,
                "truncated": verdict.truncated,
                "faults": verdict.faults,
                "fuel_used": verdict.fuel_used,
                "fuel_exhausted": verdict.fuel_exhausted,
            });
            if let (Some(label), Some(o)) = (&parsed.label, obj.as_object_mut()) {
                o.insert("label".into(), Json::String(label.clone()));
            }
            let _ = writeln!(out, "{obj}");
        } else {
            let label = parsed
                .label
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            let found: Vec<String> = verdict
                .matches()
                .iter()
                .map(|m| format!("{}/{} {}", m.channel, m.instance, m.action.name()))
                .collect();
            let mut extra = String::new();
            if verdict.truncated {
                extra.push_str(" [truncated]");
            }
            if verdict.faults > 0 {
                extra.push_str(&format!(" [faults {}]", verdict.faults));
            }
            if verdict.fuel_exhausted {
                extra.push_str(" [fuel exhausted]");
            }
            let _ = writeln!(
                out,
                "line {lineno}: {}{label}: {}{extra}",
                parsed.template.name,
                if found.is_empty() {
                    "no match".to_string()
                } else {
                    found.join(", ")
                }
            );
        }
    }

    if args.json {
        let per: Map<String, Json> = per_instance
            .iter()
            .map(|((c, i), (n, a))| (format!("{c}/{i}"), json!({"matches": n, "action": a})))
            .collect();
        let _ = writeln!(
            out,
            "{}",
            json!({"summary": {
                "channels": chans.iter().map(|c| json!({"channel": c.channel(), "version": c.version()})).collect::<Vec<_>>(),
                "events": events,
                "malformed": malformed,
                "matches": per,
                "faults": faults,
                "fuel_exhausted": exhausted,
                "exit_code": code,
            }})
        );
    } else {
        let _ = writeln!(
            out,
            "summary: {events} event(s) replayed, {malformed} malformed line(s), {faults} fault(s), {exhausted} exhausted budget(s)"
        );
        for ((c, i), (n, a)) in &per_instance {
            let _ = writeln!(out, "  {c}/{i} ({a}): {n} match(es)");
        }
    }
    Ok(code)
}

enum Owned {
    Str(String),
    Int(u64),
}

struct Parsed {
    template: &'static TemplateType,
    values: Vec<Owned>,
    label: Option<String>,
}

/// Parse and check one event line against the schema.
fn parse_line(line: &str) -> Result<Parsed, String> {
    let v: Json = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("an event must be a JSON object")?;
    for k in obj.keys() {
        if !matches!(k.as_str(), "template" | "fields" | "label") {
            return Err(format!(
                "unknown key {k:?} (expected template, fields, label)"
            ));
        }
    }
    let tname = obj
        .get("template")
        .ok_or("missing \"template\"")?
        .as_str()
        .ok_or("\"template\" must be a string")?;
    let template = schema::template_type_by_name(tname).ok_or_else(|| {
        let known: Vec<&str> = schema::TEMPLATE_TYPES.iter().map(|t| t.name).collect();
        format!("unknown template {tname:?} (known: {})", known.join(", "))
    })?;
    let label = match obj.get("label") {
        None => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(_) => return Err("\"label\" must be a string".into()),
    };
    let fields = obj
        .get("fields")
        .ok_or("missing \"fields\"")?
        .as_object()
        .ok_or("\"fields\" must be an object")?;
    for k in fields.keys() {
        if template.field_index(k).is_none() {
            return Err(format!("{tname} has no field {k:?}"));
        }
    }
    let mut values = Vec::with_capacity(template.input_count());
    for f in template.fields {
        let v = fields
            .get(f.name)
            .ok_or_else(|| format!("missing field {:?} ({})", f.name, f.ty.name()))?;
        values.push(match (f.ty, v) {
            (FieldType::Str, Json::String(s)) => Owned::Str(s.clone()),
            (FieldType::Int, Json::Number(n)) => Owned::Int(n.as_u64().ok_or_else(|| {
                format!(
                    "field {:?} must be an integer in 0..=2^64-1, found {n}",
                    f.name
                )
            })?),
            (ty, other) => {
                return Err(format!(
                    "field {:?} must be {}, found {}",
                    f.name,
                    if ty == FieldType::Str {
                        "a string"
                    } else {
                        "an integer"
                    },
                    json_kind(other)
                ));
            }
        });
    }
    Ok(Parsed {
        template,
        values,
        label,
    })
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, SigningKey, build};
    use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE};
    use changuard_format::{Action, SCHEMA_ID, StrOp};
    use std::path::Path;

    fn inst(
        id: u32,
        t: &TemplateType,
        action: Action,
        set: &[(&str, CriterionSpec)],
    ) -> InstanceSpec {
        let mut criteria = vec![CriterionSpec::Any; t.input_count()];
        for (name, c) in set {
            criteria[t.field_index(name).unwrap()] = c.clone();
        }
        InstanceSpec {
            id,
            template: t.id,
            action,
            criteria,
        }
    }
    fn st(op: StrOp, v: &str) -> CriterionSpec {
        CriterionSpec::Str {
            op,
            value: v.into(),
            case_insensitive: true,
        }
    }
    fn re(p: &str, ci: bool) -> CriterionSpec {
        CriterionSpec::Regex {
            pattern: p.into(),
            case_insensitive: ci,
        }
    }

    /// The detections of examples/content/{process,pipes}.toml, as specs.
    fn example_specs() -> Vec<ChannelSpec> {
        let pc = &PROCESS_CREATE;
        let np = &NAMED_PIPE_CREATE;
        let range = |lo, hi| CriterionSpec::IntRange { lo, hi };
        vec![
            ChannelSpec {
                channel: 300,
                version: 1,
                schema_id: SCHEMA_ID,
                instances: vec![
                    inst(
                        1,
                        pc,
                        Action::Report,
                        &[
                            ("image_path", st(StrOp::Suffix, "\\certutil.exe")),
                            ("command_line", re(r"(?i)-urlcache.*https?://", false)),
                        ],
                    ),
                    inst(
                        2,
                        pc,
                        Action::BlockCandidate,
                        &[
                            ("image_path", st(StrOp::Suffix, "\\vssadmin.exe")),
                            ("command_line", st(StrOp::Contains, "delete shadows")),
                        ],
                    ),
                    inst(
                        3,
                        pc,
                        Action::Report,
                        &[
                            ("image_path", st(StrOp::Suffix, "\\powershell.exe")),
                            (
                                "command_line",
                                re(
                                    r"(?i)\s-(e|ec|enc|encodedcommand)\s+[A-Za-z0-9+/=]{20,}",
                                    false,
                                ),
                            ),
                            ("parent_image_path", st(StrOp::Suffix, "\\winword.exe")),
                        ],
                    ),
                    inst(
                        4,
                        pc,
                        Action::Report,
                        &[
                            ("image_path", st(StrOp::Suffix, "\\rundll32.exe")),
                            ("command_line", st(StrOp::Contains, "javascript:")),
                        ],
                    ),
                    inst(
                        5,
                        pc,
                        Action::Report,
                        &[
                            ("image_path", st(StrOp::Suffix, "\\cmd.exe")),
                            ("integrity_level", range(0, 4096)),
                            ("session_id", range(1, 4_294_967_295)),
                        ],
                    ),
                    inst(
                        6,
                        pc,
                        Action::Report,
                        &[(
                            "image_path",
                            re(
                                r"(?i)\\appdata\\local\\temp\\[^\\]*[^\x00-\x7f][^\\]*\.exe$",
                                false,
                            ),
                        )],
                    ),
                ],
            },
            ChannelSpec {
                channel: 291,
                version: 1,
                schema_id: SCHEMA_ID,
                instances: vec![
                    inst(
                        10,
                        np,
                        Action::BlockCandidate,
                        &[(
                            "pipe_name",
                            re(
                                r"\\(msagent_|postex_|status_|postex_ssh_)[0-9a-f]{2,4}$",
                                true,
                            ),
                        )],
                    ),
                    inst(
                        11,
                        np,
                        Action::Report,
                        &[
                            ("pipe_name", re(r"\\MSSE-[0-9]{1,5}-server$", false)),
                            ("creating_image_path", st(StrOp::Prefix, "c:\\users\\")),
                        ],
                    ),
                    inst(
                        20,
                        np,
                        Action::Report,
                        &[
                            ("pipe_name", st(StrOp::Suffix, "\\psexesvc")),
                            ("creating_session_id", range(1, 4_294_967_295)),
                        ],
                    ),
                    inst(
                        30,
                        np,
                        Action::Report,
                        &[
                            ("pipe_name", st(StrOp::Contains, "\\lsarpc")),
                            ("is_remote", CriterionSpec::IntEquals(1)),
                            (
                                "desired_access",
                                CriterionSpec::IntMask { mask: 2, value: 2 },
                            ),
                        ],
                    ),
                ],
            },
        ]
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        args: ReplayArgs,
    }

    fn fixture(events: &Path) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_seed([42u8; 32]);
        let pubkey = dir.path().join("changuard.pub");
        let hexkey: String = key.public().iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(&pubkey, format!("{hexkey}\n")).unwrap();
        let mut content = Vec::new();
        for (k, spec) in example_specs().iter().enumerate() {
            // One file named like the loader's, one with another name (channel from the header).
            let name = if k == 0 {
                format!("C-{:08}-{:08}.chan", spec.channel, spec.version)
            } else {
                "pipes.chan".to_string()
            };
            let path = dir.path().join(name);
            std::fs::write(&path, build(spec, &key).unwrap()).unwrap();
            content.push(path);
        }
        Fixture {
            args: ReplayArgs {
                content,
                pubkey,
                events: events.to_path_buf(),
                json: false,
            },
            _dir: dir,
        }
    }

    fn examples_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/events")
    }

    fn run_json(args: &ReplayArgs) -> (i32, Vec<Json>, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let args = ReplayArgs {
            json: true,
            content: args.content.clone(),
            pubkey: args.pubkey.clone(),
            events: args.events.clone(),
        };
        let code = run_to(&args, &mut out, &mut err);
        let objs = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (code, objs, String::from_utf8(err).unwrap())
    }

    fn detections(objs: &[Json]) -> BTreeMap<String, Vec<String>> {
        objs.iter()
            .filter_map(|o| {
                let label = o.get("label")?.as_str()?.to_string();
                let m = o
                    .get("matches")?
                    .as_array()?
                    .iter()
                    .map(|m| format!("{}/{}", m["channel"], m["instance"]))
                    .collect();
                Some((label, m))
            })
            .collect()
    }

    #[test]
    fn example_events_give_expected_detections() {
        let f = fixture(&examples_dir().join("process.jsonl"));
        let (code, objs, err) = run_json(&f.args);
        assert_eq!(code, EXIT_OK, "{err}");
        let d = detections(&objs);
        let want: &[(&str, &[&str])] = &[
            ("explorer-starts-notepad", &[]),
            ("certutil-download", &["300/1"]),
            ("vssadmin-delete-shadows", &["300/2"]),
            ("word-spawns-encoded-powershell", &["300/3"]),
            ("powershell-encoded-from-explorer", &[]),
            ("rundll32-javascript", &["300/4"]),
            ("low-integrity-cmd", &["300/5"]),
            ("system-cmd", &[]),
            ("cyrillic-invoice-in-temp", &["300/6"]),
            ("ascii-exe-in-temp", &[]),
            ("cjk-user-profile-certutil-download", &["300/1"]),
        ];
        for (label, m) in want {
            assert_eq!(
                d.get(*label).map(Vec::as_slice),
                Some(&m.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]),
                "{label}"
            );
        }
        let summary = objs.last().unwrap()["summary"].clone();
        assert_eq!(summary["faults"], 0);
        assert_eq!(summary["malformed"], 0);

        let f = fixture(&examples_dir().join("pipes.jsonl"));
        let (code, objs, err) = run_json(&f.args);
        assert_eq!(code, EXIT_OK, "{err}");
        let d = detections(&objs);
        let want: &[(&str, &[&str])] = &[
            ("cobalt-strike-msagent", &["291/10"]),
            ("cobalt-strike-postex-upper", &["291/10"]),
            ("smb-beacon-from-user-dir", &["291/11"]),
            ("smb-beacon-from-system32", &[]),
            ("psexec-interactive", &["291/20"]),
            ("psexec-service-session0", &[]),
            ("remote-lsarpc-write", &["291/30"]),
            ("local-lsarpc", &[]),
            ("chrome-mojo", &[]),
            ("non-ascii-pipe", &[]),
        ];
        for (label, m) in want {
            assert_eq!(
                d.get(*label).map(Vec::as_slice),
                Some(&m.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]),
                "{label}"
            );
        }
    }

    #[test]
    fn malformed_lines_are_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("bad.jsonl");
        let good = std::fs::read_to_string(examples_dir().join("process.jsonl")).unwrap();
        let first = good.lines().next().unwrap();
        let v: Json = serde_json::from_str(first).unwrap();
        let mut missing = v.clone();
        missing["fields"].as_object_mut().unwrap().remove("pid");
        let mut extra = v.clone();
        extra["fields"]["pipe_name"] = json!("x");
        let mut wrong = v.clone();
        wrong["fields"]["pid"] = json!("1234");
        let mut negative = v.clone();
        negative["fields"]["pid"] = json!(-1);
        let text = [
            first.to_string(),
            missing.to_string(),
            extra.to_string(),
            wrong.to_string(),
            "{not json".to_string(),
            json!({"template": "FileWrite", "fields": {}}).to_string(),
            negative.to_string(),
            String::new(),
            first.to_string(),
        ]
        .join("\n");
        std::fs::write(&events, text).unwrap();
        let f = fixture(&events);
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = run_to(&f.args, &mut out, &mut err);
        assert_eq!(code, EXIT_INVALID);
        let err = String::from_utf8(err).unwrap();
        for needle in [
            ":2: missing field \"pid\"",
            ":3: ProcessCreate has no field \"pipe_name\"",
            ":4: field \"pid\" must be an integer, found a string",
            ":5: not JSON",
            ":6: unknown template \"FileWrite\"",
            ":7: field \"pid\" must be an integer in 0..=2^64-1",
        ] {
            assert!(err.contains(needle), "missing {needle:?} in\n{err}");
        }
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("summary: 2 event(s) replayed, 6 malformed line(s)"),
            "{out}"
        );
    }

    #[test]
    fn rejected_content_and_bad_key_exit_codes() {
        let f = fixture(&examples_dir().join("pipes.jsonl"));
        // Wrong key: every file rejected -> 1, replay still runs with no content.
        let other = f.args.pubkey.with_file_name("other.pub");
        std::fs::write(&other, "00".repeat(32)).unwrap();
        let args = ReplayArgs {
            pubkey: other.clone(),
            content: f.args.content.clone(),
            events: f.args.events.clone(),
            json: false,
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
        assert_eq!(run_to(&args, &mut out, &mut err), EXIT_INVALID);
        assert!(String::from_utf8(err).unwrap().contains("rejected"));
        // Unreadable key -> 2.
        std::fs::write(&other, "not hex").unwrap();
        assert_eq!(run_to(&args, &mut Vec::new(), &mut Vec::new()), EXIT_USAGE);
        // Missing events file -> 2.
        let args = ReplayArgs {
            events: other.with_file_name("nope.jsonl"),
            ..args
        };
        assert_eq!(run_to(&args, &mut Vec::new(), &mut Vec::new()), EXIT_USAGE);
    }
}
