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
    /// Marked test-only by whoever provisioned it (a key file's
    /// `purpose: test-only` line): only such a key may sign content with the
    /// `test-crash` action (rule `test-action-needs-test-key`).
    pub test_only: bool,
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

    /// Every trusted key.
    pub const fn keys(&self) -> &'k [TrustedKey] {
        self.keys
    }

    /// The trusted key with id `id`.
    pub fn key(&self, id: KeyId) -> Option<&'k TrustedKey> {
        self.keys.iter().find(|k| k.id == id)
    }
}

impl KeyId {
    /// The id of `public`: the first 8 bytes of SHA-512 of the public key
    /// (ed25519-compact's own pure-Rust SHA-512; no extra dependency).
    pub fn of(public: &[u8; 32]) -> KeyId {
        let h = ed25519_compact::sha512::Hash::hash(public);
        let mut id = [0u8; 8];
        for (d, s) in id.iter_mut().zip(h.iter()) {
            *d = *s;
        }
        KeyId(id)
    }
}

impl TrustedKey {
    /// Trust `public` (a production key), with its id computed by [`KeyId::of`].
    pub fn new(public: [u8; 32]) -> TrustedKey {
        TrustedKey {
            id: KeyId::of(&public),
            public,
            test_only: false,
        }
    }

    /// Trust `public` as a test-only key: it may also sign `test-crash` content.
    pub fn new_test_only(public: [u8; 32]) -> TrustedKey {
        TrustedKey {
            test_only: true,
            ..TrustedKey::new(public)
        }
    }
}
