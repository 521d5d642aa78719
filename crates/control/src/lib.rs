//! The changuard control device's wire format, shared by the driver and the CLI.
//!
//! Everything that crosses the user/kernel boundary through `DeviceIoControl` is
//! defined here, once: the IOCTL codes ([`ctl_code`], the `CTL_CODE` macro as a
//! `const fn`), the `QUERY_STATUS` reply ([`status`]), the `RELOAD` request
//! ([`reload`]) and the `SUBMIT_EVENT` request and reply ([`submit`]).
//!
//! # Rules
//! - Every fixed layout is a `#[repr(C)]` struct of zerocopy's little-endian,
//!   alignment-1 integers (`U16`, `U32`, `U64`, `u8`), so a view over any
//!   `&[u8]` is sound at any address and means the same on every host.
//! - Decoding is total: for any input it returns `Ok` or a precise
//!   [`DecodeError`] (what, where, expected, found); it never panics and never
//!   reads past the input. Lengths are checked before anything is read, every
//!   reserved field must be zero, trailing bytes are rejected.
//! - Encoding writes into a caller-provided buffer (the driver's IRP system
//!   buffer, the CLI's `Vec`) and fails with [`EncodeError`] instead of
//!   truncating.
//! - `#![no_std]`, no `alloc`, no `unsafe`: this crate runs in the kernel, where a
//!   panic is a bugcheck.
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

#[cfg(test)]
extern crate std;

pub mod ioctl;
pub mod ntpath;
pub mod reload;
pub mod status;
pub mod submit;
mod wire;

pub use ioctl::{
    DEVICE_NT_NAME, DEVICE_SYMLINK_NT_NAME, DEVICE_WIN32_PATH, IOCTL_QUERY_STATUS, IOCTL_RELOAD,
    IOCTL_SUBMIT_EVENT, ctl_code,
};
pub use wire::{DecodeError, DecodeErrorKind, EncodeError};
