//! `changuard`: the content toolchain and the boot simulator.
//!
//! Exit codes, for every subcommand: 0 success, 1 content rejected or an
//! invariant violated (the answer is "no"), 2 usage or I/O error (no answer).
//! No input makes it panic; a panic (exit 101) is a bug.

use changuard_cli::{
    content_cmd, driver_cmd, import, pack_cmd, release_cmd, replay_cmd, schema_cmd, simulate_cmd,
    test_cmd,
};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "changuard",
    version,
    about = "Build, validate, inspect and replay changuard channel files; simulate the crash-safe loader"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a new Ed25519 key pair (`NAME.key`, `NAME.pub`).
    Keygen(content_cmd::KeygenArgs),
    /// Compile a TOML content spec into a signed channel file (validated before it is written).
    Build(content_cmd::BuildArgs),
    /// Validate channel files exactly as the driver does.
    Validate(content_cmd::ValidateArgs),
    /// Show a channel file's header, instances and criteria.
    Inspect(content_cmd::InspectArgs),
    /// Print the sensor schema: template types and their fields (type, cap, source).
    Schema(schema_cmd::SchemaArgs),
    /// Run recorded sensor events (JSON lines) through the driver's interpreter.
    Replay(replay_cmd::ReplayArgs),
    /// Build every spec in DIR in memory and check every events file's expectations (CI).
    Test(test_cmd::TestArgs),
    /// Boot-simulate the crash-safe loader: scenarios, exhaustive crash points, random campaigns.
    Simulate(simulate_cmd::SimulateArgs),
    /// Talk to the loaded driver (Windows only).
    Driver(driver_cmd::DriverArgs),
    /// Convert rules from other formats (SigmaHQ) into a spec, with a per-rule report.
    Import(import::ImportArgs),
    /// Lay the instances of several specs out anew, each regex family in as few files as possible.
    Pack(pack_cmd::PackArgs),
    /// Build or inspect the root-signed keyring of content-signing keys (`keyring.ckr`).
    Keyring(release_cmd::KeyringArgs),
    /// Build or inspect a content version's signed rollout plan (`C-<channel>-<version>.rel`).
    Release(release_cmd::ReleaseArgs),
    /// Build or inspect a channel's signed halt (`C-<channel>.halt`).
    Halt(release_cmd::HaltArgs),
}

/// Rust ignores SIGPIPE, so writing to a closed pipe (`changuard inspect f |
/// head`) makes `println!` panic. Restore the default: the process ends
/// quietly when the reader goes away, as Unix tools do.
#[cfg(unix)]
#[allow(unsafe_code)]
fn default_sigpipe() {
    // SAFETY: signal(2) with a valid signal number and SIG_DFL, before any
    // thread is started; no handler code runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    #[cfg(unix)]
    default_sigpipe();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Keygen(a) => content_cmd::keygen(&a),
        Command::Build(a) => content_cmd::build(&a),
        Command::Validate(a) => content_cmd::validate(&a),
        Command::Inspect(a) => content_cmd::inspect(&a),
        Command::Schema(a) => schema_cmd::run(&a),
        Command::Replay(a) => replay_cmd::run(&a),
        Command::Test(a) => test_cmd::run(&a),
        Command::Simulate(a) => simulate_cmd::run(&a),
        Command::Driver(a) => driver_cmd::run(a),
        Command::Import(a) => import::run(&a),
        Command::Pack(a) => pack_cmd::run(&a),
        Command::Keyring(a) => release_cmd::keyring(&a),
        Command::Release(a) => release_cmd::release(&a),
        Command::Halt(a) => release_cmd::halt(&a),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
