//! changuard release records: what a vendor signs besides channel files, and
//! what every machine checks before it activates content.
//!
//! - [`Keyring`]: the content-signing keys, per channel, with signing windows,
//!   version caps and an expiry; signed by a threshold of root keys compiled
//!   into the driver ([`Roots`]). Rotation and revocation without a rebuild.
//! - [`Release`]: one content version's rollout plan (start time, rings) and
//!   the fast-forward flag; [`ring_point`] places a machine in the rings.
//! - [`Halt`]: a versioned stop of a channel's version range.
//!
//! The loader (`changuard-loader`) decides with them; this crate only says
//! whether bytes are a valid record and what it means. Like the channel file
//! validator: `no_std`, no `alloc`, no `unsafe`, total (every input gets a
//! value or a [`RecordError`] naming the rule and the offset, never a panic),
//! and the writers are behind the `build` feature, which the driver never
//! enables. The byte layout is in [`layout`] and docs/FORMAT.md.
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
        clippy::large_stack_frames,
        clippy::large_stack_arrays
    )
)]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "build")]
pub mod build;
mod envelope;
mod error;
mod halt;
mod keyring;
pub mod layout;
pub mod limits;
mod rollout;
mod wire;

pub use error::{RecordError, RecordRule};
pub use halt::Halt;
pub use keyring::{KeyEntry, Keyring, Roots, trust_of};
pub use rollout::{Release, Ring, ring_point};
