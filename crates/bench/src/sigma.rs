//! The SigmaHQ process-creation content as a benchmark set (issue 16 item 5):
//! the rules in `../shared/sigma` imported at run time (so the figures follow
//! the importer), SigmaHQ's captured Sysmon events and this crate's generated
//! process events. `../shared` is test data that users' clones do not have:
//! [`load`] then returns `None` and callers skip.

use std::path::{Path, PathBuf};

use changuard_cli::import::{self, report::Outcome, sysmon};
use changuard_format::StrOp;
use changuard_format::build::{ChannelSpec, CriterionSpec};
use changuard_format::schema::PROCESS_CREATE;

use crate::{OwnedEvent, cmdline_events, process_events};

/// Where the SigmaHQ checkout lives, relative to this crate.
pub const SIGMA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/sigma");

/// Channel id of the imported content's first channel.
pub const CHANNEL: u32 = 1600;

/// Channels the importer may fill: four, all the loader's set ceiling holds
/// at the per-file ceiling, so no rule is refused for room alone.
pub const CHANNELS: usize = 4;

/// The imported content and the events to run it on.
#[derive(Debug)]
pub struct SigmaSet {
    /// The imported rules, one spec per non-empty channel.
    pub specs: Vec<ChannelSpec>,
    /// Rule files read.
    pub rule_files: usize,
    /// Rules that produced instances (fully or approximately).
    pub rules_imported: usize,
    /// SigmaHQ's captured Sysmon event 1 records, converted.
    pub captured: Vec<OwnedEvent>,
    /// For each captured event, the `(channel, instance)` keys of the rule
    /// it was captured for (empty when that rule was refused).
    pub captured_own: Vec<Vec<(u32, u32)>>,
    /// This crate's generated process events (short and long command lines).
    pub generated: Vec<OwnedEvent>,
}

impl SigmaSet {
    /// Every criterion of the content.
    fn criteria(&self) -> impl Iterator<Item = &CriterionSpec> {
        self.specs
            .iter()
            .flat_map(|s| &s.instances)
            .flat_map(|i| &i.criteria)
    }

    /// Instances in the content.
    pub fn instance_count(&self) -> usize {
        self.specs.iter().map(|s| s.instances.len()).sum()
    }

    /// Regex criteria in the content.
    pub fn regex_count(&self) -> usize {
        self.criteria()
            .filter(|c| matches!(c, CriterionSpec::Regex { .. }))
            .count()
    }

    /// String criteria (literal tests and regexes) in the content.
    pub fn string_count(&self) -> usize {
        self.criteria()
            .filter(|c| matches!(c, CriterionSpec::Str { .. } | CriterionSpec::Regex { .. }))
            .count()
    }
}

/// Import the rules and read the events; `Ok(None)` when `../shared/sigma`
/// is absent.
///
/// # Errors
/// A read, parse or import failure, as text.
pub fn load() -> Result<Option<SigmaSet>, String> {
    let root = Path::new(SIGMA_DIR);
    let rules_dir = root.join("rules/windows/process_creation");
    if !rules_dir.is_dir() {
        return Ok(None);
    }
    let files = import::collect_files(&[rules_dir])?;
    let out = import::import_files(&files, CHANNEL, 1, CHANNELS)?;
    let rules_imported = out
        .rules
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Refused(_)))
        .count();
    let reg = root.join("regression_data/rules/windows/process_creation");
    let mut captured = Vec::new();
    let mut captured_own = Vec::new();
    if reg.is_dir() {
        for dir in sorted_entries(&reg)? {
            let rule_file = format!(
                "{}.yml",
                dir.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
            let own: Vec<(u32, u32)> = out
                .rules
                .iter()
                .find(|r| Path::new(&r.file).file_name() == Some(rule_file.as_ref()))
                .and_then(|r| {
                    r.channel
                        .map(|ch| r.instances.iter().map(|&i| (ch, i)).collect())
                })
                .unwrap_or_default();
            for f in sorted_entries(&dir)? {
                if f.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                for ev in sysmon_process_events(&f)? {
                    captured.push(ev);
                    captured_own.push(own.clone());
                }
            }
        }
    }
    let mut generated = process_events(64);
    generated.extend(cmdline_events(64));
    Ok(Some(SigmaSet {
        specs: out
            .channels
            .into_iter()
            .map(|c| c.spec)
            .filter(|s| !s.instances.is_empty())
            .collect(),
        rule_files: files.len(),
        rules_imported,
        captured,
        captured_own,
        generated,
    }))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .map(|e| e.map(|e| e.path()).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    v.sort();
    Ok(v)
}

/// The Sysmon event 1 records of one file, converted by the importer's own
/// `sysmon` module as the driver delivers them (image names through the
/// kernel's form and back, strings cut to their caps): the ground-truth
/// test's events.
fn sysmon_process_events(f: &Path) -> Result<Vec<OwnedEvent>, String> {
    let mut out = Vec::new();
    for p in sysmon::read_file(f)? {
        let p = p.as_driver_delivers();
        let mut ints = vec![0; 6];
        if let Some(k) = int_index("integrity_level") {
            ints[k] = p.integrity_level;
        }
        out.push(OwnedEvent {
            template: PROCESS_CREATE.id,
            strs: vec![
                p.image_path,
                p.command_line,
                p.parent_image_path,
                String::new(),
                p.parent_command_line,
            ],
            ints,
        });
    }
    Ok(out)
}

/// Position of int field `name` among ProcessCreate's int fields.
fn int_index(name: &str) -> Option<usize> {
    PROCESS_CREATE
        .fields
        .iter()
        .filter(|f| f.ty == changuard_format::FieldType::Int)
        .position(|f| f.name == name)
}

/// A string criterion as one Hyperscan expression: `(expression, caseless)`.
/// Literal tests are escaped and anchored with `\A` / `\z` as their op needs;
/// regexes go as written (regex-crate syntax; Hyperscan refuses some).
/// `None` for non-string criteria.
pub fn vectorscan_expr(c: &CriterionSpec) -> Option<(String, bool)> {
    match c {
        CriterionSpec::Str {
            op,
            value,
            case_insensitive,
        } => {
            let lit = escape(value);
            let e = match op {
                StrOp::Equals => format!(r"\A{lit}\z"),
                StrOp::Prefix => format!(r"\A{lit}"),
                StrOp::Suffix => format!(r"{lit}\z"),
                StrOp::Contains => lit,
            };
            Some((e, *case_insensitive))
        }
        CriterionSpec::Regex {
            pattern,
            case_insensitive,
        } => Some((pattern.clone(), *case_insensitive)),
        _ => None,
    }
}

/// Backslash before every ASCII punctuation character (literal in PCRE);
/// control bytes as `\xHH` (the pattern string is a C string); the rest as is.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for ch in s.chars() {
        if ch.is_ascii_punctuation() {
            out.push('\\');
            out.push(ch);
        } else if ch.is_ascii_control() {
            out.push_str(&format!(r"\x{:02x}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out
}

/// Does literal criterion `c` hold for `hay`? The engine's semantics (ASCII
/// case folding of the needle and the field), used to check that
/// [`vectorscan_expr`]'s escaping and anchors mean what the content means.
pub fn literal_holds(c: &CriterionSpec, hay: &str) -> Option<bool> {
    let CriterionSpec::Str {
        op,
        value,
        case_insensitive,
    } = c
    else {
        return None;
    };
    let (h, n) = if *case_insensitive {
        (hay.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (hay.to_string(), value.clone())
    };
    Some(match op {
        StrOp::Equals => h == n,
        StrOp::Prefix => h.starts_with(&n),
        StrOp::Suffix => h.ends_with(&n),
        StrOp::Contains => h.contains(&n),
    })
}
