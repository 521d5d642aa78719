//! changuard's content interpreter: evaluates validated channel files
//! ([`changuard_format::ValidChannel`]) against sensor events.
//!
//! # Promises
//! - **Total.** No input (event or content) makes anything here panic. Every
//!   access is checked; a failed check is a non-match plus a counted fault
//!   ([`Verdict::faults`]), never a panic. (19 July 2024: the interpreter read
//!   input 21 of an array of 20.)
//! - **No allocation on the event path.** [`Engine::evaluate`] writes into a
//!   caller-owned, fixed-capacity [`Verdict`]. Load-time allocation
//!   ([`Engine::new`]) goes only through `try_reserve` and is bounded by the
//!   validated content's size; failure is an [`EngineError`], not an abort.
//! - **Bounded work.** Each evaluation runs on a fuel budget (see
//!   [`engine`] for the unit); the worst case per template type is computed at
//!   load time ([`Engine::cost`]) and is the default budget.
//! - **Sublinear in content size.** Instances are indexed at load time by their
//!   most selective criterion (their *anchor*); an event evaluates only the
//!   instances whose anchors fire, plus the instances without an indexable
//!   criterion. See docs/PERFORMANCE.md.
//!
//! [`reference`] is the obviously-correct linear scan the engine is
//! differentially tested against; [`text`] transcodes the kernel's UTF-16.
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
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        // Kernel stack budget (x64 kernel stack: 24 KiB); thresholds in
        // /clippy.toml, measured for real by scripts/check-frames.sh.
        clippy::large_stack_frames,
        clippy::large_stack_arrays
    )
)]

extern crate alloc;

pub mod engine;
mod event;
#[cfg(test)]
mod forged;
pub mod reference;
mod strops;
pub mod text;
mod verdict;

pub use engine::{Cost, Engine, EngineConfig, EngineError, EngineStats, EvalScratch, LiteralStats};
pub use event::{Event, Value};
pub use verdict::{MAX_MATCHES, Match, Verdict};
