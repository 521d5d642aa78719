//! Caps on everything a release record can make the loader iterate over.

/// Largest record in bytes.
pub const MAX_RECORD_LEN: usize = 4096;
/// Most signatures on one record.
pub const MAX_SIGNATURES: usize = 8;
/// Most entries in a keyring (content keys x channels).
pub const MAX_KEYS: usize = 16;
/// Most rings in a rollout plan.
pub const MAX_RINGS: usize = 8;
/// Longest delay of a ring after the rollout start: 90 days.
pub const MAX_RING_DELAY_SECS: u64 = 90 * 24 * 3600;
/// Most a content version may jump past the machine's current version of
/// the channel without the release's fast-forward flag. Versions are
/// assigned by the publishing pipeline and grow by one per release; 2^20
/// leaves room for any realistic gap, while a version near `u64::MAX`
/// (which would block every later version behind the anti-rollback floor)
/// needs a deliberate, signed flag.
pub const MAX_VERSION_JUMP: u64 = 1 << 20;
