//! The one shape of an error under `--json`, for every subcommand that has
//! `--json` (issue 14 item 5): a single object on stdout,
//!
//! ```text
//! {"error": {"kind": "<kind>", "message": "<text>", "file": "<path>" | null, ...}}
//! ```
//!
//! `kind` is one of the [`ErrorKind`] names; `message` is the text the plain
//! output prints; `file` is the file the error is about, or `null`. A
//! rejection adds the validator's fields (`rule`, `rule_id`, `offset`, ...)
//! beside these three. The exit code is the one the plain output has
//! (2 I/O or usage, 1 rejected or the driver said no). `validate --json`
//! keeps its own per-file objects (`{"file", "valid": false, ...}`), since it
//! reports on many files at once.

use serde_json::{Value, json};
use std::path::Path;

/// What went wrong, as the `kind` of the JSON error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A file could not be read or written.
    Io,
    /// A key file is unreadable, malformed, or the wrong kind of key.
    Key,
    /// An argument is wrong in a way the parser could not see.
    Usage,
    /// The content was rejected (the validator's rule is in the object).
    Rejected,
    /// The command needs another platform (the `driver` commands need Windows).
    Unsupported,
    /// The driver could not be reached or answered with an error.
    Driver,
}

impl ErrorKind {
    /// The stable `kind` string.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::Key => "key",
            ErrorKind::Usage => "usage",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Unsupported => "unsupported-platform",
            ErrorKind::Driver => "driver",
        }
    }
}

/// `{"error": {"kind", "message", "file"}}`.
#[must_use]
pub fn error_json(kind: ErrorKind, message: &str, file: Option<&Path>) -> Value {
    json!({"error": {
        "kind": kind.name(),
        "message": message,
        "file": file.map(|f| f.display().to_string()),
    }})
}

/// A rejection: `details` (an object such as `validate --json` prints for a
/// rejected file) inside the error object, with `kind` "rejected" and the
/// same `message` and `file` keys as every other error.
#[must_use]
pub fn rejection_error_json(details: Value, message: &str, file: &Path) -> Value {
    let mut base = error_json(ErrorKind::Rejected, message, Some(file));
    if let (Some(inner), Value::Object(extra)) = (
        base.get_mut("error").and_then(Value::as_object_mut),
        details,
    ) {
        for (k, v) in extra {
            // The three common keys win; `valid` belongs to validate's shape.
            if !inner.contains_key(&k) && k != "valid" {
                inner.insert(k, v);
            }
        }
    }
    base
}

/// Prints the error: as one JSON object on stdout under `--json`, else as
/// `<prefix>: <message>` on stderr. Returns `code`, for `return report(...)`.
pub fn report(
    json: bool,
    prefix: &str,
    kind: ErrorKind,
    message: &str,
    file: Option<&Path>,
    code: i32,
) -> i32 {
    if json {
        println!("{}", error_json(kind, message, file));
    } else {
        eprintln!("{prefix}: {message}");
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_kind_message_and_file() {
        let v = error_json(ErrorKind::Io, "no such file", Some(Path::new("a.chan")));
        assert_eq!(
            v,
            json!({"error": {"kind": "io", "message": "no such file", "file": "a.chan"}})
        );
        let v = error_json(ErrorKind::Unsupported, "needs Windows", None);
        assert_eq!(v["error"]["file"], Value::Null);
        assert_eq!(v["error"]["kind"], "unsupported-platform");
    }

    #[test]
    fn a_rejection_keeps_the_validator_fields() {
        let details = json!({"file": "x.chan", "valid": false, "rule": "bad-magic",
                             "offset": 0, "message": "bad magic"});
        let v = rejection_error_json(details, "bad magic", Path::new("x.chan"));
        let e = &v["error"];
        assert_eq!(e["kind"], "rejected");
        assert_eq!(e["message"], "bad magic");
        assert_eq!(e["file"], "x.chan");
        assert_eq!(e["rule"], "bad-magic");
        assert_eq!(e["offset"], 0);
        assert!(e.get("valid").is_none());
    }
}
