//! changuard boot-time loader (see the crate docs filled in below).
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

extern crate alloc;

pub mod platform;
pub mod reason;

/// Caps on everything the loader iterates over.
pub mod limits {
    /// Most directory entries looked at per boot.
    pub const MAX_DIR_ENTRIES: usize = 4096;
    /// Most channels handled.
    pub const MAX_CHANNELS: usize = 16;
}
