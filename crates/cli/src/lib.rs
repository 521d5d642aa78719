//! The `changuard` command-line tool, as a library so its pieces (spec
//! parsing, key files, subcommands) are testable. The binary is `src/main.rs`.
#![deny(unsafe_code)]

pub mod content_cmd;
pub mod cost_report;
pub mod driver_cmd;
pub mod events;
pub mod files;
pub mod harness;
pub mod import;
pub mod json_error;
pub mod keys;
pub mod lint;
pub mod pack_cmd;
pub mod release_cmd;
pub mod release_report;
pub mod replay_cmd;
pub mod schema_cmd;
pub mod simulate_cmd;
pub mod spec;
pub mod style;
pub mod test_cmd;
pub mod unix_time;
