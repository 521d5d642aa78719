//! changuard boot-time content loader.
//!
//! Decides, at every boot and for every channel independently, which channel
//! file content to activate: a candidate from the content directory (on trial),
//! the last-known-good (LKG) copy, golden content embedded in the driver, or
//! none. It never fails to load and never panics: every problem is a recorded
//! [`reason::Decision`] with a stable code and a step down the fallback chain.
//!
//! The loader depends on `changuard-format` only: it returns validated channels
//! ([`boot::ChannelOutcome::active`]); building the interpreter engine from them
//! is the caller's job (driver, simulator), which keeps this state machine
//! independent of the interpreter.
//!
//! Everything outside goes through [`platform::Platform`]. See [`boot`] for the
//! algorithm and its invariants, [`state`] for the persistent record and its
//! monotonic counters, [`config`] for the registry values.
//!
//! # Invariants (summary; the sim checks them after every boot)
//! - Nothing is activated that did not pass `validate` in this boot.
//! - Trial content is activated only after "V on trial, attempt k" is durable.
//! - At most `MaxTrialBoots` activations of a version that never reached its health
//!   window; then it is quarantined and never chosen automatically again.
//! - The LKG copy is replaced only by temp + flush + rename + sync; the floor is
//!   raised only after that, so it never blocks the LKG.
//!
//! # Monotonic counters
//! - state record `generation` (per successful write);
//! - per channel `floor` (never decreases).
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        // Kernel stack budget (x64 kernel stack: 24 KiB); thresholds in
        // /clippy.toml, measured for real by scripts/check-frames.sh.
        clippy::large_stack_frames,
        clippy::large_stack_arrays
    )
)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod boot;
pub mod config;
pub mod error;
pub mod names;
pub mod platform;
pub mod reason;
pub mod state;

#[cfg(feature = "mutations")]
pub use boot::Mutation;
pub use boot::{ChannelOutcome, HealthConfirmed, Loader, Promotion, Setup, Source, boot};
pub use error::LoadError;
pub use platform::{IoError, IoErrorKind, LkgFile, Platform, RegType, RegValue};
pub use reason::{Decision, Reason};

/// Caps on everything the loader iterates over.
pub mod limits {
    /// Most directory entries looked at per boot.
    pub const MAX_DIR_ENTRIES: usize = 4096;
    /// Most channels handled.
    pub const MAX_CHANNELS: usize = 16;
}
