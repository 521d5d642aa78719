//! Which signing keys the validator trusts.

/// Identifies a signing key: the first 8 bytes of SHA-512 of its public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

/// An Ed25519 public key the validator accepts signatures from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedKey {
    /// Its id, as a channel file's trailer names it.
    pub id: KeyId,
    /// The 32-byte Ed25519 public key.
    pub public: [u8; 32],
}

/// The set of trusted keys (compiled into the driver or provisioned).
#[derive(Clone, Copy, Debug)]
pub struct Trust<'k> {
    pub(crate) keys: &'k [TrustedKey],
}

impl<'k> Trust<'k> {
    /// Trust exactly `keys`.
    pub const fn new(keys: &'k [TrustedKey]) -> Trust<'k> {
        Trust { keys }
    }

    /// The trusted key with id `id`.
    pub fn key(&self, id: KeyId) -> Option<&'k TrustedKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}
