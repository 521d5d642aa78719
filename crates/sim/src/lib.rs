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
#![forbid(unsafe_code)]

pub mod content;
pub mod disk;
pub mod machine;
pub mod random;
pub mod scenario;
pub mod timeline;

pub use changuard_loader::Mutation;
