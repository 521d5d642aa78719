//! The content identity the loader records: which exact file was rejected,
//! is on trial, or is the LKG copy (issue 11 findings 3 and 5).
//!
//! CRC-64 (XZ), not a cryptographic hash, on purpose: it never decides what is
//! trusted (only `validate`'s Ed25519 check does). It tells two files of the
//! same version apart, so a re-delivered file is looked at again and an LKG
//! copy must be the very file that was promoted; forging a collision gains
//! nothing, since the colliding file must still be vendor-signed to be used.
//! 0 is reserved for "not recorded" (records from before issue 11).

const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_XZ);

/// The content hash of `bytes` (never 0).
pub fn content_hash(bytes: &[u8]) -> u64 {
    match CRC64.checksum(bytes) {
        0 => 1,
        h => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinguishes_and_is_never_zero() {
        assert_ne!(content_hash(b"a"), content_hash(b"b"));
        assert_eq!(content_hash(b"abc"), content_hash(b"abc"));
        assert_ne!(content_hash(&[]), 0);
    }
}
