//! changuard boot simulator: a user-mode [`changuard_loader::Platform`] over a
//! simulated disk and registry with NTFS-like crash semantics (fault model in
//! [`disk`]), poison content run through the real `changuard-interp` engine,
//! crash-point enumeration over named scenarios ([`scenario`]) and seeded
//! multi-boot campaigns ([`random`]). Invariants I1-I6 are checked after every
//! boot ([`machine::Machine::boot`]):
//!
//! - I1 nothing interpreted that did not pass validation in that boot;
//! - I2 once an LKG exists it is never lost;
//! - I3 at most MaxTrialBoots crashes per bad version, then never tried again automatically;
//! - I4 every boot ends with the best valid content the policy allows;
//! - I5 the floor never decreases and never blocks the LKG;
//! - I6 bounded boot-time work (platform ops per boot).
//!
//! Long runs ([`random::campaign_with`], [`scenario::exhaustive_with`],
//! [`scenario::july19_fleet_with`]) report their progress through
//! [`Progress`], at a bounded rate, so a front end can draw a progress bar
//! without this crate depending on one.
#![forbid(unsafe_code)]

pub mod content;
pub mod disk;
pub mod fleet;
mod gate_oracle;
pub mod machine;
pub mod random;
pub mod scenario;
pub mod timeline;
pub mod vendor;

pub use changuard_loader::Mutation;

/// Progress of a long run, reported by the run at a bounded rate (every few
/// dozen boots or machines, never per op).
///
/// Any `FnMut(u64, u64)` closure is a `Progress` (`&mut |done, total| ...`).
pub trait Progress {
    /// `done` units of `total` in the current phase (`total` 0: not known in
    /// advance). Units are boots, machines or replays; see the caller.
    fn update(&mut self, done: u64, total: u64);
    /// A new phase starts (for example `"shrinking"` after a campaign found a
    /// violation); `update` counts restart from 0.
    fn phase(&mut self, _name: &'static str) {}
}

impl<F: FnMut(u64, u64)> Progress for F {
    fn update(&mut self, done: u64, total: u64) {
        self(done, total);
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&mut self, _done: u64, _total: u64) {}
}

/// Stable kebab-case name of a mutation (`--mutation`, `--json`).
pub const fn mutation_name(m: Mutation) -> &'static str {
    match m {
        Mutation::ActivateBeforePersist => "activate-before-persist",
        Mutation::RaiseFloorBeforeLkgDurable => "raise-floor-before-lkg-durable",
        Mutation::SkipFlushOnLkgWrite => "skip-flush-on-lkg-write",
        Mutation::NoQuarantine => "no-quarantine",
        Mutation::LkgInPlace => "lkg-in-place",
        Mutation::CountCleanEnds => "count-clean-ends",
        Mutation::EvictQuarantine => "evict-quarantine",
        Mutation::IgnoreHalt => "ignore-halt",
        Mutation::IgnoreRing => "ignore-ring",
    }
}

/// Parse [`mutation_name`].
pub fn mutation_from_name(name: &str) -> Option<Mutation> {
    Mutation::ALL
        .iter()
        .copied()
        .find(|m| mutation_name(*m) == name)
}
