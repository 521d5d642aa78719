//! The vendor side of the release records (issue 15): the keyrings, release
//! records and halts the scenarios publish, built by the real writers
//! (`changuard_release::build`) with the simulator's fixed keys.

use std::sync::Arc;

use changuard_release::KeyEntry;
use changuard_release::build::{HaltSpec, KeyringSpec, ReleaseSpec, standard_rings};
use changuard_release::layout::ANY_CHANNEL;

use crate::content;
use crate::disk::Bytes;

/// The scenarios' start of time (Unix seconds; 2026-05-28T20:26:40Z).
pub const T0: u64 = 1_780_000_000;
/// Seconds per hour.
pub const HOUR: u64 = 3600;
/// Seconds per day.
pub const DAY: u64 = 86_400;
/// The rollout start of a staged release: one hour after [`T0`].
pub const STAGED_START: u64 = T0 + HOUR;
/// Ring interval of a staged release (0.1%, 1%, 10%, 50%, 100% at 6 h steps).
pub const STAGED_STEP: u64 = 6 * HOUR;

/// Which keyring the vendor publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyringKind {
    /// Version 1: the sim key signs every channel; expires after 30 days.
    Initial,
    /// Version 2: the sim key leaked after signing v6: capped at v6; the
    /// second key signs every channel from now on. Expires after 60 days.
    RevokeLeaked,
    /// Version 3: the sim key, every channel, expires after 90 days (a
    /// fresh keyring after an expired one).
    Fresh,
}

impl KeyringKind {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            KeyringKind::Initial => "initial",
            KeyringKind::RevokeLeaked => "revoke-leaked",
            KeyringKind::Fresh => "fresh",
        }
    }
}

/// A rollout plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plan {
    /// One ring, everyone at [`T0`] (how 19 July was delivered).
    AllAtOnce,
    /// [`standard_rings`] of [`STAGED_STEP`] from [`STAGED_START`].
    Staged,
    /// All at once, with the fast-forward flag.
    FastForward,
}

impl Plan {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            Plan::AllAtOnce => "all-at-once",
            Plan::Staged => "staged",
            Plan::FastForward => "fast-forward",
        }
    }
}

/// Which content key signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signer {
    /// [`content::key`].
    Sim,
    /// [`content::key2`].
    Second,
}

impl Signer {
    fn key(self) -> &'static changuard_format::build::SigningKey {
        match self {
            Signer::Sim => content::key(),
            Signer::Second => content::key2(),
        }
    }
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            Signer::Sim => "sim-key",
            Signer::Second => "second-key",
        }
    }
}

fn entry(key: &changuard_format::build::SigningKey, max_version: u64) -> KeyEntry {
    KeyEntry {
        public: key.public(),
        channel: ANY_CHANNEL,
        // Poison content carries `test-crash`: only a test-only key signs it.
        test_only: true,
        not_before: T0 - DAY,
        not_after: T0 + 365 * DAY,
        max_version,
    }
}

/// The keyring `kind`, signed by root keys 0 and 2 (2 of 3).
pub fn keyring(kind: KeyringKind) -> Bytes {
    let (version, expires, keys) = match kind {
        KeyringKind::Initial => (1, T0 + 30 * DAY, vec![entry(content::key(), u64::MAX)]),
        KeyringKind::RevokeLeaked => (
            2,
            T0 + 60 * DAY,
            vec![entry(content::key(), 6), entry(content::key2(), u64::MAX)],
        ),
        KeyringKind::Fresh => (3, T0 + 90 * DAY, vec![entry(content::key(), u64::MAX)]),
    };
    let spec = KeyringSpec {
        version,
        issued: T0 - DAY,
        expires,
        keys,
    }
    .canonical();
    Arc::from(spec.to_bytes(&[content::root_key(0), content::root_key(2)]))
}

/// The release record of `(channel, version)` with `plan`, signed by `signer`.
pub fn release(channel: u32, version: u64, plan: Plan, signer: Signer) -> Bytes {
    let (start, rings) = match plan {
        Plan::AllAtOnce | Plan::FastForward => (T0, standard_rings(0).split_off(4)),
        Plan::Staged => (STAGED_START, standard_rings(STAGED_STEP)),
    };
    let spec = ReleaseSpec {
        channel,
        version,
        issued: T0 - HOUR,
        start,
        fast_forward: plan == Plan::FastForward,
        rings,
    };
    Arc::from(spec.to_bytes(signer.key()))
}

/// Halt `sequence` of `channel` over `first..=last` (0..=0: lift), signed
/// by the sim key.
pub fn halt(channel: u32, sequence: u64, first: u64, last: u64) -> Bytes {
    let spec = HaltSpec {
        channel,
        sequence,
        issued: T0,
        first,
        last,
    };
    Arc::from(spec.to_bytes(content::key()))
}
