//! How `changuard keyring|release|halt` say what a release record is, or why
//! it is rejected: the rule's stable name and code, the byte offset, the
//! expected and found values, the bytes around the offset, and what the rule
//! means, in the style of `changuard validate` (text) and of
//! [`crate::json_error`] (`--json`).

use crate::json_error::rejection_error_json;
use crate::keys::key_id_hex;
use crate::unix_time::{format_rfc3339, format_span};
use changuard_format::KeyId;
use changuard_release::layout::{self, ANY_CHANNEL};
use changuard_release::{KeyEntry, RecordError, RecordRule, Ring};
use serde_json::{Value, json};
use std::path::Path;

/// Which record a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `keyring.ckr`.
    Keyring,
    /// `C-<channel>-<version>.rel`.
    Release,
    /// `C-<channel>.halt`.
    Halt,
}

impl Kind {
    /// `keyring`, `release` or `halt`.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Keyring => "keyring",
            Kind::Release => "release",
            Kind::Halt => "halt",
        }
    }
}

/// What `rule` means, in one sentence (docs/FORMAT.md "Release record rules").
pub const fn meaning(rule: RecordRule) -> &'static str {
    match rule {
        RecordRule::TooShort => "shorter than the envelope, or than its counts say",
        RecordRule::TooLarge => "longer than 4096 bytes, or longer than its counts say",
        RecordRule::BadMagic => "not the magic of the record kind expected here",
        RecordRule::UnsupportedVersion => "a record format version this validator does not read",
        RecordRule::LengthMismatch => "a length field disagrees with the layout",
        RecordRule::ReservedNonZero => "a reserved field or an undefined flag is not zero",
        RecordRule::WrongChannel => "signed for another channel than the one it is read for",
        RecordRule::WrongVersion => "signed for another content version than the file beside it",
        RecordRule::SignatureCount => "no signature, or more than 8",
        RecordRule::UnknownKey => "signed by a key this record kind does not accept here",
        RecordRule::BadSignature => "a signature does not verify",
        RecordRule::SignaturesNotCanonical => {
            "signatures not in strictly increasing key id order (duplicates included)"
        }
        RecordRule::BelowThreshold => "fewer valid root signatures than the threshold",
        RecordRule::KeyCount => "no keyring entry, or more than 16",
        RecordRule::KeysNotCanonical => {
            "keyring entries not in strictly increasing (key id, channel) order, or a key \
             listed for every channel and for one channel too"
        }
        RecordRule::BadWindow => "a window that ends before it starts (a key's, or the keyring's)",
        RecordRule::RingCount => "no ring, or more than 8",
        RecordRule::RingsNotCanonical => {
            "ring shares must strictly increase within 0.0001%..=100% and the last be 100%; \
             delays must not decrease and be at most 90 days"
        }
        RecordRule::BadRange => {
            "a halt range whose first version is above its last, or that starts at 0 without \
             being the empty range 0..=0"
        }
        _ => "see docs/FORMAT.md",
    }
}

/// A rejection with what the tools add to it: where it came from in user
/// terms (`context`), and extra JSON fields.
#[derive(Debug)]
pub struct Rejected {
    /// The record kind.
    pub kind: Kind,
    /// The validator's error, or a loader-side rule (`loader_rule`).
    pub error: RecordError,
    /// A rule the loader applies after the validator (no [`RecordRule`]).
    pub loader_rule: Option<&'static str>,
    /// Its meaning, for `loader_rule`.
    pub loader_meaning: Option<String>,
    /// Lines of context (`key:`, `ring:`, ...), label and text.
    pub context: Vec<(&'static str, String)>,
    /// Extra `--json` fields.
    pub extra: serde_json::Map<String, Value>,
}

impl Rejected {
    /// A validator rejection with no context yet.
    pub fn new(kind: Kind, error: RecordError) -> Rejected {
        Rejected {
            kind,
            error,
            loader_rule: None,
            loader_meaning: None,
            context: Vec::new(),
            extra: serde_json::Map::new(),
        }
    }

    /// Add a context line.
    pub fn note(&mut self, label: &'static str, text: String) {
        self.context.push((label, text));
    }

    fn rule_name(&self) -> &'static str {
        self.loader_rule.unwrap_or(self.error.rule.name())
    }

    fn meaning(&self) -> String {
        self.loader_meaning
            .clone()
            .unwrap_or_else(|| meaning(self.error.rule).to_string())
    }

    /// The one-line message (`--json` `message`, and the text `why:`).
    pub fn message(&self) -> String {
        let mut m = format!("{} at offset {:#x}", self.rule_name(), self.error.offset);
        if let Some((e, f)) = self.error.values {
            m.push_str(&format!(" (expected {e}, found {f})"));
        }
        format!("{m}: {}", self.meaning())
    }

    /// The `--json` object (one line): `{"error": {...}}`.
    pub fn json(&self, file: &Path) -> Value {
        let (expected, found) = self
            .error
            .values
            .map_or((Value::Null, Value::Null), |(e, f)| (json!(e), json!(f)));
        let mut details = json!({
            "file": file.display().to_string(),
            "record": self.kind.name(),
            "rule": self.rule_name(),
            "rule_id": if self.loader_rule.is_some() { Value::Null } else { json!(self.error.rule.code()) },
            "offset": self.error.offset,
            "expected": expected,
            "found": found,
        });
        if let Some(o) = details.as_object_mut() {
            for (k, v) in &self.extra {
                o.insert(k.clone(), v.clone());
            }
            if !self.context.is_empty() {
                let notes: Vec<String> = self
                    .context
                    .iter()
                    .map(|(l, t)| format!("{l}: {t}"))
                    .collect();
                o.insert("notes".into(), json!(notes));
            }
        }
        rejection_error_json(
            details,
            &format!("{} rejected: {}", self.kind.name(), self.message()),
            file,
        )
    }

    /// Either form on stdout: one JSON object with `json`, else the text.
    pub fn report(&self, file: &Path, bytes: &[u8], json: bool) {
        if json {
            println!("{}", self.json(file));
        } else {
            self.print(file, bytes);
        }
    }

    /// The text form, on stdout (as `changuard validate` prints rejections).
    fn print(&self, file: &Path, bytes: &[u8]) {
        let coloured = crate::style::stdout_coloured();
        println!(
            "{} {} ({})",
            crate::style::bad("REJECTED", coloured),
            file.display(),
            self.kind.name()
        );
        match self.loader_rule {
            Some(r) => println!("  rule:   {r} (loader)"),
            None => println!(
                "  rule:   {} (record rule {})",
                self.error.rule.name(),
                self.error.rule.code()
            ),
        }
        println!("  why:    {}", self.message());
        for (label, text) in &self.context {
            println!("  {:<7} {text}", format!("{label}:"));
        }
        hex_around(bytes, self.error.offset);
    }
}

/// The 16 bytes around `offset`, with a caret under it.
fn hex_around(bytes: &[u8], offset: u64) {
    let off = usize::try_from(offset).unwrap_or(usize::MAX);
    let row = off & !15;
    match bytes.get(row..bytes.len().min(row.saturating_add(16))) {
        Some(chunk) if !chunk.is_empty() && off < bytes.len() => {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            println!("  {row:#010x}  {}", hex.join(" "));
            println!("  {:10}  {}^^", "", "   ".repeat(off - row));
        }
        _ => println!(
            "  (offset {offset:#x} is at or past the end of the {}-byte file)",
            bytes.len()
        ),
    }
}

/// The key id of the signature at `offset` (a signature's start).
pub fn key_id_at(bytes: &[u8], offset: u64) -> Option<KeyId> {
    let at = usize::try_from(offset).ok()?;
    let id = bytes.get(at..at.checked_add(8)?)?;
    Some(KeyId(id.try_into().ok()?))
}

/// The key ids of a framed record's signatures (after validation).
pub fn signer_ids(bytes: &[u8]) -> Vec<KeyId> {
    let body_len = bytes
        .get(layout::header::BODY_LEN)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_le_bytes) as usize;
    let block = layout::HEADER_LEN.saturating_add(body_len);
    let count = bytes
        .get(block..block.saturating_add(4))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_le_bytes) as usize;
    (0..count.min(changuard_release::limits::MAX_SIGNATURES))
        .filter_map(|i| {
            let at = block + layout::SIGNATURES_HEAD_LEN + i * layout::SIGNATURE_LEN;
            key_id_at(bytes, at as u64)
        })
        .collect()
}

/// `{"<name>": secs, "<name>_utc": "..."}` fields.
pub fn time_fields(o: &mut serde_json::Map<String, Value>, name: &str, secs: u64) {
    o.insert(name.into(), json!(secs));
    o.insert(format!("{name}_utc"), json!(format_rfc3339(secs)));
}

/// `2026-12-01T04:09:00Z (1796098140)`.
pub fn time_text(secs: u64) -> String {
    format!("{} ({secs})", format_rfc3339(secs))
}

/// A share in parts per million as a percentage, without trailing zeros
/// (`1000` is `0.1`, `1000000` is `100`).
pub fn percent(ppm: u32) -> String {
    let whole = ppm / 10_000;
    let frac = ppm % 10_000;
    if frac == 0 {
        return whole.to_string();
    }
    let f = format!("{frac:04}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// Which machines a keyring entry's channel covers.
pub fn channel_text(channel: u32) -> String {
    if channel == ANY_CHANNEL {
        "any: every channel, on every machine".into()
    } else {
        format!("{channel} only: machines loading channel {channel}")
    }
}

/// A keyring entry as `--json` shows it, at time `at`.
pub fn entry_json(e: &KeyEntry, at: u64) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("key_id".into(), json!(key_id_hex(e.id())));
    o.insert("public".into(), json!(hex::encode(e.public)));
    o.insert(
        "channel".into(),
        if e.channel == ANY_CHANNEL {
            json!("any")
        } else {
            json!(e.channel)
        },
    );
    o.insert("test_only".into(), json!(e.test_only));
    time_fields(&mut o, "not_before", e.not_before);
    time_fields(&mut o, "not_after", e.not_after);
    o.insert(
        "max_version".into(),
        if e.max_version == u64::MAX {
            Value::Null
        } else {
            json!(e.max_version)
        },
    );
    o.insert("in_window".into(), json!(e.in_window(at)));
    Value::Object(o)
}

/// A keyring entry as text, at time `at`.
pub fn print_entry(e: &KeyEntry, at: u64) {
    println!("\nkey {}", key_id_hex(e.id()));
    println!("  public      {}", hex::encode(e.public));
    println!("  channel     {}", channel_text(e.channel));
    let state = if e.in_window(at) {
        "in window".to_string()
    } else if at < e.not_before {
        format!(
            "NOT yet in window (opens in {})",
            format_span(e.not_before - at)
        )
    } else {
        "NOT in window (closed)".to_string()
    };
    println!(
        "  window      {} .. {} (exclusive): {state} at {}",
        time_text(e.not_before),
        time_text(e.not_after),
        format_rfc3339(at)
    );
    if e.max_version == u64::MAX {
        println!("  max version none: may sign every version");
    } else {
        println!(
            "  max version {}: may sign versions up to {} (revoked past it)",
            e.max_version, e.max_version
        );
    }
    if e.test_only {
        println!("  test-only   yes: may sign content with the test-crash action");
    }
}

/// A ring as `--json` shows it.
pub fn ring_json(i: usize, r: &Ring, prev_ppm: u32, start: u64, at: u64) -> Value {
    let eligible = start.saturating_add(r.delay_secs);
    let mut o = serde_json::Map::new();
    o.insert("ring".into(), json!(i));
    o.insert("fraction_ppm".into(), json!(r.fraction_ppm));
    o.insert("cumulative_percent".into(), json!(percent(r.fraction_ppm)));
    o.insert(
        "share_percent".into(),
        json!(percent(r.fraction_ppm.saturating_sub(prev_ppm))),
    );
    o.insert("delay_secs".into(), json!(r.delay_secs));
    o.insert("delay_hours".into(), json!(r.delay_secs as f64 / 3600.0));
    time_fields(&mut o, "eligible_from", eligible);
    o.insert("open".into(), json!(at >= eligible));
    Value::Object(o)
}

/// Hours with at most two decimals (`6`, `0.5`, `1.25`).
pub fn hours(secs: u64) -> String {
    let h = format!("{:.2}", secs as f64 / 3600.0);
    h.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_hours() {
        assert_eq!(percent(1_000), "0.1");
        assert_eq!(percent(10_000), "1");
        assert_eq!(percent(1_000_000), "100");
        assert_eq!(percent(1), "0.0001");
        assert_eq!(percent(125_500), "12.55");
        assert_eq!(hours(0), "0");
        assert_eq!(hours(21_600), "6");
        assert_eq!(hours(1_800), "0.5");
    }

    #[test]
    fn every_rule_has_a_meaning() {
        for r in RecordRule::ALL {
            assert_ne!(meaning(*r), "see docs/FORMAT.md", "{r:?}");
        }
    }
}
