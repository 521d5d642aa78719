//! Host stand-in for the two `wdk` items the host-checked driver modules use:
//! `wdk::fmt::FormatBuffer` (a minimal re-implementation, not the real code) and `wdk::println!` (discarded).
#![no_std]
pub mod fmt;
#[macro_export]
macro_rules! println { ($($arg:tt)*) => {{ let _ = format_args!($($arg)*); }} }
