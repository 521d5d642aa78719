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
//! algorithm and its invariants, `promote` for promotion, the clean-shutdown
//! record and reload, [`state`] for the persistent record and its monotonic
//! counters, [`config`] for the registry values, [`budget`] for the memory
//! budget, [`path`] for the one path
//! validator the driver shares.
//!
//! # Invariants (summary; the sim checks them after every boot)
//! - Nothing is activated that did not pass `validate` in this boot.
//! - Trial content is activated only after "V on trial, attempt k" is durable.
//! - At most `MaxTrialBoots` boots of a version on trial that did not end
//!   cleanly (crash, power loss, fault); then it is quarantined and never
//!   chosen automatically again (no quarantine is ever evicted). A clean
//!   shutdown, a reload or a promotion I/O failure is not counted.
//! - The LKG copy is replaced only by temp + flush + rename + sync; the floor is
//!   raised only after that, so it never blocks the LKG.
//!
//! # Monotonic counters
//! - state record `generation` (per successful write);
//! - per channel `floor` (never decreases);
//! - per channel quarantine floor (never decreases, except by `ClearQuarantine`).
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

/// `true` when the simulator injected deliberate protocol bug `$m` (feature
/// `mutations`); always `false` in the driver build.
macro_rules! mutated {
    ($setup:expr, $m:ident) => {{
        #[cfg(feature = "mutations")]
        let r = $setup.mutated(crate::boot::Mutation::$m);
        #[cfg(not(feature = "mutations"))]
        let r = {
            let _ = &$setup;
            false
        };
        r
    }};
}

pub mod boot;
pub mod budget;
mod candidate;
pub mod config;
pub mod digest;
pub mod error;
pub mod gate;
mod listing;
mod lkg;
pub mod names;
pub mod path;
pub mod platform;
mod promote;
pub mod reason;
pub mod state;

#[cfg(feature = "mutations")]
pub use boot::Mutation;
pub use boot::{
    ChannelOutcome, HealthConfirmed, Loader, Promotion, Resume, Setup, Source, boot, reload,
};
pub use budget::Budget;
pub use error::LoadError;
pub use platform::{IoError, IoErrorKind, LkgFile, Platform, RegType, RegValue};
pub use reason::{Decision, Reason};

/// Caps on everything the loader iterates over.
pub mod limits {
    /// Most directory entries looked at per boot. Names that are not channel
    /// file names cost one comparison each, so junk listing first cannot hide
    /// the channel files behind it (issue 11 finding 3).
    pub const MAX_DIR_ENTRIES: usize = 65_536;
    /// Most channels handled (outcomes, state record entries).
    pub const MAX_CHANNELS: usize = 16;
    /// Most channels tracked in one directory listing (known ones first).
    pub const MAX_LISTED_CHANNELS: usize = 64;
    /// Newest versions kept per channel from the listing.
    pub const MAX_VERSIONS_LISTED: usize = 32;
    /// Most candidate files validated per channel and boot (newest first).
    pub const MAX_CANDIDATE_TRIES: usize = 8;
    /// Most candidate files read per channel and boot (remembered rejections
    /// are read and hashed, not validated).
    pub const MAX_CANDIDATE_READS: usize = 16;
    /// Most candidate files validated per boot for a channel not in the state
    /// record yet (it cannot remember rejections).
    pub const MAX_NEW_CHANNEL_TRIES: usize = 2;
    /// Most promotion runs per boot when LKG store steps fail.
    pub const MAX_PROMOTION_TRIES: u32 = 3;
}
