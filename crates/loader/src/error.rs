//! Loader errors, grouped by blame (STYLE 9), and the one mapping to NTSTATUS.
//!
//! Most failures are not errors at all: a bad candidate, a missing LKG or a
//! broken registry value is a [`crate::reason::Decision`] and a step down the
//! fallback chain. `LoadError` is for what stops a *transition* of the loader
//! state machine (promotion), which is then sticky for the rest of the boot.

use crate::platform::IoError;
use changuard_format::Rejection;

/// Why a loader transition failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    // ---- bad content ----
    /// Content failed validation.
    Content(Rejection),
    // ---- caller misuse ----
    /// The caller asked for a transition the current state does not allow
    /// (e.g. promote twice); names the state found.
    Misuse(&'static str),
    // ---- environment / I-O ----
    /// A platform call failed.
    Platform(IoError),
    /// A bounded, fallible allocation failed.
    NoMemory,
    // ---- internal bug ----
    /// A state the code believes impossible (fail closed, never panic).
    Unreachable(&'static str),
}

/// `STATUS_INVALID_IMAGE_HASH`.
pub const STATUS_INVALID_IMAGE_HASH: i32 = 0xC000_0428_u32 as i32;
/// `STATUS_INVALID_DEVICE_STATE`.
pub const STATUS_INVALID_DEVICE_STATE: i32 = 0xC000_0184_u32 as i32;
/// `STATUS_UNSUCCESSFUL`.
pub const STATUS_UNSUCCESSFUL: i32 = 0xC000_0001_u32 as i32;
/// `STATUS_INSUFFICIENT_RESOURCES`.
pub const STATUS_INSUFFICIENT_RESOURCES: i32 = 0xC000_009A_u32 as i32;
/// `STATUS_INTERNAL_ERROR`.
pub const STATUS_INTERNAL_ERROR: i32 = 0xC000_00E5_u32 as i32;

impl LoadError {
    /// The NTSTATUS the driver reports for this error (telemetry, status `last_platform_status`).
    pub const fn status(&self) -> i32 {
        match self {
            LoadError::Content(_) => STATUS_INVALID_IMAGE_HASH,
            LoadError::Misuse(_) => STATUS_INVALID_DEVICE_STATE,
            LoadError::Platform(e) if e.status != 0 => e.status,
            LoadError::Platform(_) => STATUS_UNSUCCESSFUL,
            LoadError::NoMemory => STATUS_INSUFFICIENT_RESOURCES,
            LoadError::Unreachable(_) => STATUS_INTERNAL_ERROR,
        }
    }
    /// Stable kebab-case blame group.
    pub const fn blame(&self) -> &'static str {
        match self {
            LoadError::Content(_) => "bad-content",
            LoadError::Misuse(_) => "caller-misuse",
            LoadError::Platform(_) | LoadError::NoMemory => "environment",
            LoadError::Unreachable(_) => "internal-bug",
        }
    }
}
