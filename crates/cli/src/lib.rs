//! The `changuard` command-line tool, as a library so its pieces (spec
//! parsing, key files, subcommands) are testable. The binary is `src/main.rs`.
#![deny(unsafe_code)]

pub mod content_cmd;
pub mod driver_cmd;
pub mod files;
pub mod keys;
pub mod replay_cmd;
pub mod simulate_cmd;
pub mod spec;
