//! changuard channel files: the byte format, the sensor schema, and the one
//! validator that the driver, the CLI and the publishing pipeline all run.
//!
//! The only way to get a [`ValidChannel`] is [`validate`], and the interpreter
//! only accepts a `ValidChannel`: bytes that did not pass validation cannot be
//! interpreted. After `validate` succeeds, every count, offset, index, string and
//! DFA the accessors decode has been checked, so nothing the interpreter does
//! with the content can fail a check (the accessors are still total: they return
//! `None` rather than panic, and the interpreter counts that as a fault).
//!
//! `#![no_std]`, no `alloc`, no `unsafe`: this crate runs in the kernel. The
//! writer lives behind the `build` feature, which the driver never enables.
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

#[cfg(feature = "std")]
extern crate std;

pub mod schema;

#[cfg(feature = "std")]
mod aligned;
#[cfg(feature = "build")]
#[allow(
    clippy::large_stack_frames,
    reason = "the writer: std, user mode only (the kernel build never enables `build`)"
)]
pub mod build;
#[cfg(feature = "build")]
pub mod deep;
#[cfg(feature = "std")]
pub use aligned::AlignedBytes;

pub use regex_automata;
pub use schema::{Field, FieldType, SCHEMA_ID, TemplateType};

pub mod analysis;
mod content;
pub mod cost;
mod error;
pub mod layout;
pub mod limits;
mod trust;
mod validate;
mod wire;

pub use content::{Action, Criterion, StrOp};
pub use cost::CostBound;
pub use error::{Rejection, Rule};
pub use trust::{KeyId, Trust, TrustedKey};
pub use validate::{
    DfaGroup, Header, Instance, Instances, Metadata, RequiredLiteral, RowKind, ValidChannel,
    validate,
};
