//! The byte layout of the three release records, as `Range` consts.
//!
//! docs/FORMAT.md "Release records" is the prose version; the two must agree.
//! All integers are little-endian; ranges are relative to the structure they
//! belong to (the record for the envelope, the body or the entry otherwise).
//!
//! Every record is one envelope: a 40-byte header, the body, and a signature
//! block (`u32 count`, `u32 reserved`, then `count` signatures of 72 bytes:
//! key id and Ed25519 signature over the header and the body).

/// Magic of a keyring record.
pub const KEYRING_MAGIC: [u8; 8] = *b"CHGDKEYR";
/// Magic of a release (rollout plan) record.
pub const RELEASE_MAGIC: [u8; 8] = *b"CHGDRELS";
/// Magic of a halt record.
pub const HALT_MAGIC: [u8; 8] = *b"CHGDHALT";
/// The only record format version this validator reads.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the envelope header.
pub const HEADER_LEN: usize = 40;
/// Length of the signature block's count and reserved words.
pub const SIGNATURES_HEAD_LEN: usize = 8;
/// Length of one signature (key id + Ed25519 signature).
pub const SIGNATURE_LEN: usize = 72;
/// Length of the keyring body before its entries.
pub const KEYRING_HEAD_LEN: usize = 16;
/// Length of one keyring entry.
pub const KEY_ENTRY_LEN: usize = 64;
/// Length of the release body before its rings.
pub const RELEASE_HEAD_LEN: usize = 16;
/// Length of one ring.
pub const RING_LEN: usize = 16;
/// Length of the halt body.
pub const HALT_BODY_LEN: usize = 16;
/// Release flag: the version may jump more than
/// [`crate::limits::MAX_VERSION_JUMP`] past the machine's current version.
pub const RELEASE_FLAG_FAST_FORWARD: u32 = 1;
/// Keyring entry flag: a test-only key (may sign `test-crash` content).
pub const KEY_FLAG_TEST_ONLY: u32 = 1;
/// A keyring entry for every channel.
pub const ANY_CHANNEL: u32 = 0;
/// Parts per million: the whole fleet.
pub const ALL_MACHINES_PPM: u32 = 1_000_000;

/// Envelope header fields (from the record start).
pub mod header {
    use core::ops::Range;
    /// Magic: which record this is.
    pub const MAGIC: Range<usize> = 0..8;
    /// u16 format version (1).
    pub const VERSION: Range<usize> = 8..10;
    /// u16 header length (40).
    pub const HEADER_LEN: Range<usize> = 10..12;
    /// u32 flags (release: [`super::RELEASE_FLAG_FAST_FORWARD`]; others 0).
    pub const FLAGS: Range<usize> = 12..16;
    /// u32 channel (keyring: 0).
    pub const CHANNEL: Range<usize> = 16..20;
    /// u32 body length.
    pub const BODY_LEN: Range<usize> = 20..24;
    /// u64 sequence: keyring version, release content version, halt sequence.
    pub const SEQUENCE: Range<usize> = 24..32;
    /// u64 time it was issued (Unix seconds).
    pub const ISSUED: Range<usize> = 32..40;
}

/// Signature block fields (from the block start, after the body).
pub mod signatures {
    use core::ops::Range;
    /// u32 number of signatures.
    pub const COUNT: Range<usize> = 0..4;
    /// u32 reserved (0).
    pub const RESERVED: Range<usize> = 4..8;
}

/// One signature (from its start).
pub mod signature {
    use core::ops::Range;
    /// Key id (first 8 bytes of SHA-512 of the public key).
    pub const KEY_ID: Range<usize> = 0..8;
    /// Ed25519 signature over the header and body.
    pub const SIGNATURE: Range<usize> = 8..72;
}

/// Keyring body fields (from the body start).
pub mod keyring {
    use core::ops::Range;
    /// u64 expiry (Unix seconds): past it the keyring is stale.
    pub const EXPIRES: Range<usize> = 0..8;
    /// u32 number of entries.
    pub const KEY_COUNT: Range<usize> = 8..12;
    /// u32 reserved (0).
    pub const RESERVED: Range<usize> = 12..16;
}

/// Keyring entry fields (from the entry start).
pub mod key {
    use core::ops::Range;
    /// Ed25519 public key.
    pub const PUBLIC: Range<usize> = 0..32;
    /// u32 channel it may sign for ([`super::ANY_CHANNEL`]: every channel).
    pub const CHANNEL: Range<usize> = 32..36;
    /// u32 flags ([`super::KEY_FLAG_TEST_ONLY`]).
    pub const FLAGS: Range<usize> = 36..40;
    /// u64 first second of its signing window (Unix seconds).
    pub const NOT_BEFORE: Range<usize> = 40..48;
    /// u64 end of its signing window (exclusive).
    pub const NOT_AFTER: Range<usize> = 48..56;
    /// u64 highest content version it may sign (`u64::MAX`: no cap). Revoking
    /// a leaked key keeps what it signed before the leak and refuses the rest.
    pub const MAX_VERSION: Range<usize> = 56..64;
}

/// Release body fields (from the body start).
pub mod release {
    use core::ops::Range;
    /// u64 rollout start (Unix seconds).
    pub const START: Range<usize> = 0..8;
    /// u32 number of rings.
    pub const RING_COUNT: Range<usize> = 8..12;
    /// u32 reserved (0).
    pub const RESERVED: Range<usize> = 12..16;
}

/// Ring fields (from the ring start).
pub mod ring {
    use core::ops::Range;
    /// u32 cumulative share of machines in this ring and the ones before, in
    /// parts per million.
    pub const FRACTION_PPM: Range<usize> = 0..4;
    /// u32 reserved (0).
    pub const RESERVED: Range<usize> = 4..8;
    /// u64 delay after the start before this ring may activate (seconds).
    pub const DELAY: Range<usize> = 8..16;
}

/// Halt body fields (from the body start).
pub mod halt {
    use core::ops::Range;
    /// u64 first halted version (0 with `LAST` 0: nothing halted).
    pub const FIRST: Range<usize> = 0..8;
    /// u64 last halted version (inclusive).
    pub const LAST: Range<usize> = 8..16;
}
