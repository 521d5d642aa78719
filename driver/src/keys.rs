//! The trusted content-signing keys (compiled in by build.rs from
//! `CHANGUARD_TRUSTED_PUBKEYS`) and the loader [`Setup`] built from them.
//!
//! The same `Setup` is used for `boot` and `promote` (the loader needs it for
//! both). The `mutation` field of `Setup` exists only with the loader's
//! `mutations` feature, which the driver never enables, so the struct literal
//! below names exactly `trust` and `allowed_roots`.

use changuard_format::{KeyId, Trust, TrustedKey};
use changuard_loader::Setup;
use changuard_loader::config::DEFAULT_ALLOWED_ROOTS;

include!(concat!(env!("OUT_DIR"), "/trusted_keys.rs"));

/// Most keys build.rs accepts.
pub const MAX_KEYS: usize = 8;
const _: () = assert!(TRUSTED_PUBLIC_KEYS.len() <= MAX_KEYS);

/// The trusted keys with their ids (computed at run time: `KeyId::of` hashes).
pub struct Keys {
    keys: [TrustedKey; MAX_KEYS],
    len: usize,
}

impl Keys {
    /// Computes the key ids of the compiled-in keys.
    #[must_use]
    pub fn load() -> Self {
        let mut keys = [TrustedKey { id: KeyId([0; 8]), public: [0; 32], test_only: false }; MAX_KEYS];
        let mut len = 0usize;
        for (slot, (public, test_only)) in keys.iter_mut().zip(TRUSTED_PUBLIC_KEYS) {
            *slot = if *test_only { TrustedKey::new_test_only(*public) } else { TrustedKey::new(*public) };
            len = len.saturating_add(1);
        }
        Self { keys, len }
    }

    /// The loader's setup: these keys and the default allowed content roots.
    #[must_use]
    pub fn setup(&self) -> Setup<'_> {
        Setup::new(Trust::new(self.keys.get(..self.len).unwrap_or(&[])), DEFAULT_ALLOWED_ROOTS)
    }
}
