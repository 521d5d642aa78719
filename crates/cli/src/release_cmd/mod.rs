//! `changuard keyring|release|halt build|inspect` and `release placement`:
//! write the three release records (docs/FORMAT.md "Release records") with
//! `changuard_release::build`, validate what was written with the very
//! validators the loader runs, and show records in user terms.
//!
//! Exit codes as for every subcommand: 0 success, 1 the record is rejected
//! (nothing is written by `build`), 2 usage or I/O error.

mod files;
mod halt;
mod keyring;
mod release;
mod trust;

pub use files::{halt_file_name, release_file_name};
pub use halt::{HaltArgs, halt};
pub use keyring::{KeyringArgs, keyring};
pub use release::{ReleaseArgs, parse_rings, release};

use crate::json_error::{ErrorKind, report};
use crate::keys;
use crate::unix_time::{self, parse_time};
use std::path::{Path, PathBuf};

/// A time argument: RFC 3339, Unix seconds, or `now`.
fn time_arg(s: &str) -> Result<u64, String> {
    if s == "now" {
        return Ok(unix_time::now());
    }
    parse_time(s)
}

/// An error that is not a rejection: (kind, message, file, exit code).
struct Failure {
    kind: ErrorKind,
    message: String,
    file: Option<PathBuf>,
}

impl Failure {
    fn key(message: String, file: &Path) -> Failure {
        Failure {
            kind: ErrorKind::Key,
            message,
            file: Some(file.to_path_buf()),
        }
    }
    fn usage(message: String) -> Failure {
        Failure {
            kind: ErrorKind::Usage,
            message,
            file: None,
        }
    }
    fn io(e: &std::io::Error, file: &Path) -> Failure {
        Failure {
            kind: ErrorKind::Io,
            message: format!("{}: {e}", file.display()),
            file: Some(file.to_path_buf()),
        }
    }
    fn report(&self, json: bool) -> i32 {
        report(
            json,
            "error",
            self.kind,
            &self.message,
            self.file.as_deref(),
            2,
        )
    }
}

/// The record's file name (or the usage error) and the signing key (or the
/// key file error), for the `release build` and `halt build` commands; `Err`
/// is the exit code, the problem already reported.
fn name_and_key(
    name: Result<String, String>,
    key: &Path,
) -> Result<(String, keys::SecretKey), i32> {
    let name = name.map_err(|e| report(false, "error", ErrorKind::Usage, &e, None, 2))?;
    let key = keys::read_secret(key).map_err(|e| Failure::key(e, key).report(false))?;
    Ok((name, key))
}
