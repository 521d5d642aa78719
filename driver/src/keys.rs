//! The trusted content-signing keys (compiled in by build.rs from
//! `CHANGUARD_TRUSTED_PUBKEYS`), the root keys that sign keyrings
//! (`CHANGUARD_ROOT_PUBKEYS`, `CHANGUARD_ROOT_THRESHOLD`; issue 15) and the
//! loader [`Setup`] built from them.
//!
//! The same `Setup` is used for `boot` and `promote` (the loader needs it for
//! both). The `mutation` field of `Setup` exists only with the loader's
//! `mutations` feature, which the driver never enables. Without root keys the
//! setup has no roots: the loader trusts the compiled content keys, as before
//! the release gate. With them, `Setup::with_roots` puts keyrings in force.
//!
//! Stack: `Keys` is a local of the load and promotion paths (on the expanded
//! stack), so its arrays are exactly as long as the compiled lists (no root
//! keys, no bytes).

use changuard_format::{KeyId, Trust, TrustedKey};
use changuard_loader::Setup;
use changuard_loader::config::DEFAULT_ALLOWED_ROOTS;
use changuard_release::Roots;

include!(concat!(env!("OUT_DIR"), "/trusted_keys.rs"));

/// Most keys build.rs accepts.
pub const MAX_KEYS: usize = 8;
/// Most root keys build.rs accepts.
pub const MAX_ROOTS: usize = 8;
const KEY_COUNT: usize = TRUSTED_PUBLIC_KEYS.len();
const ROOT_COUNT: usize = ROOT_PUBLIC_KEYS.len();
// Always true for some builds (no roots: 0 <= 8), which clippy notices; they are
// there for the builds where they are not.
#[allow(clippy::absurd_extreme_comparisons)]
const _: () = assert!(KEY_COUNT <= MAX_KEYS && ROOT_COUNT <= MAX_ROOTS);
// build.rs enforces it; restated so a hand-edited file cannot slip through (an
// invalid threshold would otherwise make `Roots::new` refuse, i.e. no keyring mode).
#[allow(clippy::absurd_extreme_comparisons)]
const _: () = assert!(ROOT_COUNT == 0 || (ROOT_THRESHOLD >= 1 && ROOT_THRESHOLD <= ROOT_COUNT));

const NO_KEY: TrustedKey = TrustedKey { id: KeyId([0; 8]), public: [0; 32], test_only: false };

/// The trusted keys and root keys with their ids (computed at run time: `KeyId::of` hashes).
pub struct Keys {
    keys: [TrustedKey; KEY_COUNT],
    roots: [TrustedKey; ROOT_COUNT],
}

impl Keys {
    /// Computes the key ids of the compiled-in keys.
    #[must_use]
    pub fn load() -> Self {
        let mut keys = [NO_KEY; KEY_COUNT];
        for (slot, (public, test_only)) in keys.iter_mut().zip(TRUSTED_PUBLIC_KEYS) {
            *slot = if *test_only { TrustedKey::new_test_only(*public) } else { TrustedKey::new(*public) };
        }
        let mut roots = [NO_KEY; ROOT_COUNT];
        for (slot, public) in roots.iter_mut().zip(ROOT_PUBLIC_KEYS) {
            *slot = TrustedKey::new(*public);
        }
        Self { keys, roots }
    }

    /// The loader's setup: these keys and the default allowed content roots,
    /// plus the root keys and threshold when there are any.
    #[must_use]
    pub fn setup(&self) -> Setup<'_> {
        let setup = Setup::new(Trust::new(&self.keys), DEFAULT_ALLOWED_ROOTS);
        match Roots::new(&self.roots, ROOT_THRESHOLD) {
            Some(roots) => setup.with_roots(roots),
            None => setup,
        }
    }
}
