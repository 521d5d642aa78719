//! Signing keys, and the trailer every channel file ends with.

use core::fmt;

use super::BuildError;
use super::sections::field_put;
use crate::layout;
use crate::trust::{KeyId, TrustedKey};

/// An Ed25519 signing key.
#[derive(Clone)]
pub struct SigningKey {
    kp: ed25519_compact::KeyPair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh random key (OS randomness).
    pub fn generate() -> SigningKey {
        SigningKey {
            kp: ed25519_compact::KeyPair::generate(),
        }
    }
    /// The key derived from a 32-byte seed (deterministic).
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        SigningKey {
            kp: ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed)),
        }
    }
    /// The seed (the secret: store it like one).
    pub fn seed(&self) -> [u8; 32] {
        *self.kp.sk.seed()
    }
    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        *self.kp.pk
    }
    /// Its key id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public())
    }
    /// The public half, to put in a [`crate::Trust`] (a production key).
    pub fn trusted_key(&self) -> TrustedKey {
        TrustedKey::new(self.public())
    }
    /// The public half trusted as a test-only key (may sign `test-crash`).
    pub fn trusted_test_key(&self) -> TrustedKey {
        TrustedKey::new_test_only(self.public())
    }
    /// Sign `msg` (deterministic, RFC 8032): the release records' writer
    /// (`changuard-release`) signs its envelopes with this.
    pub fn sign_message(&self, msg: &[u8]) -> [u8; 64] {
        self.sign_bytes(msg)
    }
    fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        // Deterministic (RFC 8032): same key + same bytes = same file.
        *self.kp.sk.sign(msg, None)
    }
}

/// (Re)compute the trailer of `bytes` in place: the last 72 bytes become
/// `key`'s id and the Ed25519 signature over everything before them. Nothing
/// else changes (the header's file length is not touched: see [`resign`]).
///
/// # Errors
/// [`BuildError::TooShort`] if `bytes` is shorter than a trailer.
pub fn sign(bytes: &mut [u8], key: &SigningKey) -> Result<(), BuildError> {
    let body_end = bytes
        .len()
        .checked_sub(layout::TRAILER_LEN)
        .ok_or(BuildError::TooShort)?;
    let (body, trailer) = bytes
        .split_at_mut_checked(body_end)
        .ok_or(BuildError::TooShort)?;
    let sig = key.sign_bytes(body);
    field_put(trailer, 0, layout::trailer::KEY_ID, &key.key_id().0)?;
    field_put(trailer, 0, layout::trailer::SIGNATURE, &sig)?;
    Ok(())
}

/// After raw edits that may change the length (truncation, extension): set
/// the header's file length to `bytes.len()` (if the header is there) and
/// [`sign`] again, so the result tests the parser, not the signature.
///
/// # Errors
/// [`BuildError::TooShort`] if `bytes` is shorter than a trailer.
pub fn resign(bytes: &mut [u8], key: &SigningKey) -> Result<(), BuildError> {
    let len = bytes.len() as u64;
    if bytes.len() >= layout::header::FILE_LEN.end {
        field_put(bytes, 0, layout::header::FILE_LEN, &len.to_le_bytes())?;
    }
    sign(bytes, key)
}
