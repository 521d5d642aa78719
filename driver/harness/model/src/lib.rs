//! In-memory model of the Windows side the changuard driver calls, for the Linux
//! driver harness (`driver/harness`): registry, files and object-manager names,
//! handle table, pool, the KMDF objects the driver uses, the process notify
//! callback, a controllable clock; verifier-style checks; stack probes. Each boot
//! runs in a forked child ([`Machine::boot`]); the test drives the driver's entry
//! points through a [`Session`] and gets a [`BootReport`] back.
//!
//! What is modeled and what is not: README.md in driver/harness.
#![allow(clippy::missing_panics_doc, clippy::missing_errors_doc)]

pub mod durable;
pub mod fs;
pub mod irql;
pub mod machine;
pub mod nt;
pub mod probe;
pub mod registry;
pub mod report;
pub mod security;
pub mod state;
pub mod status;
pub mod wdf;

pub use machine::{DriverEntry, Ioctl, Machine, ProcessCreate, Session};
pub use nt::eventlog::EventLogEntry;
pub use nt::token::Token;
pub use report::{BootEnd, BootReport, Persist, StackRow};
