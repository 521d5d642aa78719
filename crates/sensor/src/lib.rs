//! changuard's sensor bookkeeping, portable: what the driver's process
//! callback turns kernel values into before the interpreter sees them.
//!
//! - [`kernel_values`]: a kernel image name in the form rules use, and a
//!   token's user SID and integrity label as event fields;
//! - [`process_table`]: the processes the sensor saw start and not yet exit,
//!   so a child's event can carry its parent's image path.
//!
//! Everything here is total (no input panics), allocation-free after
//! construction, and bounded: the driver calls it under the sensor lock on
//! every process creation.
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

pub mod kernel_values;
pub mod process_table;
pub mod version_info;
