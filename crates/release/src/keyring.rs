//! The keyring: which content keys may sign for which channel, when, and up
//! to which version; signed by a threshold of root keys compiled into the
//! driver (TUF's root and targets roles, kept small).
//!
//! Rotating or revoking a content key is publishing a keyring with a higher
//! version: no driver rebuild. Revoking a leaked key sets its `max_version`
//! to the last version signed before the leak (what it signed before stays
//! valid, LKG copies included) or drops the entry (nothing it signed is
//! trusted any more).
//!
//! # Invariants enforced by [`Keyring::validate`]
//! - 1..=[`MAX_KEYS`] entries, strictly increasing by (key id, channel); a
//!   key listed for every channel is listed once, and a key listed for
//!   several channels is test-only for all of them or for none;
//! - every window has `not_before < not_after`, and `issued < expires`;
//! - reserved bytes and undefined flags are zero;
//! - at least `threshold` signatures, every one by a distinct root key and valid.

use changuard_format::{KeyId, Trust, TrustedKey};

use crate::envelope;
use crate::error::{RecordError, RecordRule};
use crate::layout::{self, key as k, keyring as kr};
use crate::limits::MAX_KEYS;
use crate::wire;

/// The root keys compiled into the driver and how many must sign a keyring.
#[derive(Clone, Copy, Debug)]
pub struct Roots<'k> {
    keys: &'k [TrustedKey],
    threshold: usize,
}

impl<'k> Roots<'k> {
    /// `threshold` of `keys` must sign. `None` unless `1 <= threshold <= keys.len()`.
    pub const fn new(keys: &'k [TrustedKey], threshold: usize) -> Option<Roots<'k>> {
        if threshold == 0 || threshold > keys.len() {
            return None;
        }
        Some(Roots { keys, threshold })
    }
    /// How many root signatures a keyring needs.
    pub const fn threshold(&self) -> usize {
        self.threshold
    }
    /// The root keys.
    pub const fn keys(&self) -> &'k [TrustedKey] {
        self.keys
    }
}

/// One keyring entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyEntry {
    /// The content key.
    pub public: [u8; 32],
    /// Channel it may sign for ([`layout::ANY_CHANNEL`]: every channel).
    pub channel: u32,
    /// May sign `test-crash` content.
    pub test_only: bool,
    /// Start of its signing window (Unix seconds).
    pub not_before: u64,
    /// End of its signing window (exclusive).
    pub not_after: u64,
    /// Highest content version it may sign.
    pub max_version: u64,
}

impl KeyEntry {
    /// Its key id.
    pub fn id(&self) -> KeyId {
        KeyId::of(&self.public)
    }
    /// Does it cover `channel`?
    pub const fn covers(&self, channel: u32) -> bool {
        self.channel == layout::ANY_CHANNEL || self.channel == channel
    }
    /// Is `now` inside its window?
    pub const fn in_window(&self, now: u64) -> bool {
        self.not_before <= now && now < self.not_after
    }
}

/// A keyring that passed [`Keyring::validate`]; owns (or borrows) its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Keyring<B> {
    bytes: B,
    version: u64,
    issued: u64,
    expires: u64,
    count: usize,
}

impl<B: AsRef<[u8]>> Keyring<B> {
    /// Validate `bytes` as a keyring signed by `roots`.
    ///
    /// # Errors
    /// The first rule broken, at its offset.
    pub fn validate(bytes: B, roots: &Roots<'_>) -> Result<Keyring<B>, RecordError> {
        let b = bytes.as_ref();
        let env = envelope::open(b, layout::KEYRING_MAGIC)?;
        env.flags_within(0)?;
        env.channel_is(0)?;
        let base = env.body.start;
        let expires = wire::u64_at(b, base, kr::EXPIRES)?;
        let count = wire::u32_at(b, base, kr::KEY_COUNT)? as usize;
        if wire::u32_at(b, base, kr::RESERVED)? != 0 {
            return Err(RecordError::at(
                RecordRule::ReservedNonZero,
                base.saturating_add(kr::RESERVED.start),
            ));
        }
        if env.issued >= expires {
            return Err(RecordError::at(
                RecordRule::BadWindow,
                base.saturating_add(kr::EXPIRES.start),
            )
            .values(env.issued, expires));
        }
        let first = env.table(
            base.saturating_add(kr::KEY_COUNT.start),
            count,
            (MAX_KEYS, RecordRule::KeyCount),
            (layout::KEYRING_HEAD_LEN, layout::KEY_ENTRY_LEN),
        )?;
        let mut last: Option<(KeyId, u32, bool)> = None;
        for i in 0..count {
            let at = wire::entry(first, i, layout::KEY_ENTRY_LEN)
                .ok_or(RecordError::at(RecordRule::TooShort, first))?;
            let e = read_entry(b, at)?;
            let flags = wire::u32_at(b, at, k::FLAGS)?;
            if flags & !layout::KEY_FLAG_TEST_ONLY != 0 {
                return Err(RecordError::at(
                    RecordRule::ReservedNonZero,
                    at.saturating_add(k::FLAGS.start),
                ));
            }
            if e.not_before >= e.not_after {
                return Err(RecordError::at(
                    RecordRule::BadWindow,
                    at.saturating_add(k::NOT_BEFORE.start),
                )
                .values(e.not_before, e.not_after));
            }
            let this = (e.id(), e.channel, e.test_only);
            if let Some((id, ch, test_only)) = last {
                let ordered = (id.0, ch) < (this.0.0, this.1);
                let same_key = id == this.0;
                // A key is test-only or not for every channel it signs: the
                // loader trusts each key once.
                if !ordered || (same_key && (ch == layout::ANY_CHANNEL || test_only != this.2)) {
                    return Err(RecordError::at(RecordRule::KeysNotCanonical, at));
                }
            }
            last = Some(this);
        }
        let valid = env.verify(b, |id| {
            roots.keys.iter().find(|r| r.id == id).map(|r| r.public)
        })?;
        if valid < roots.threshold {
            return Err(RecordError::at(RecordRule::BelowThreshold, env.body.end)
                .values(roots.threshold as u64, valid as u64));
        }
        Ok(Keyring {
            bytes,
            version: env.sequence,
            issued: env.issued,
            expires,
            count,
        })
    }

    /// Its version (monotonic: a machine never accepts a lower one).
    pub const fn version(&self) -> u64 {
        self.version
    }
    /// When it was issued (Unix seconds).
    pub const fn issued(&self) -> u64 {
        self.issued
    }
    /// When it goes stale (Unix seconds).
    pub const fn expires(&self) -> u64 {
        self.expires
    }
    /// Past its expiry at `now`: keep the current content, report staleness.
    pub const fn is_stale(&self, now: u64) -> bool {
        now >= self.expires
    }
    /// Number of entries.
    pub const fn len(&self) -> usize {
        self.count
    }
    /// Never true for a validated keyring (it has at least one entry).
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }
    /// Gives the bytes back.
    pub fn into_inner(self) -> B {
        self.bytes
    }

    /// Entry `i` (`None` past the end).
    pub fn entry(&self, i: usize) -> Option<KeyEntry> {
        if i >= self.count {
            return None;
        }
        let first = layout::HEADER_LEN.checked_add(layout::KEYRING_HEAD_LEN)?;
        let at = wire::entry(first, i, layout::KEY_ENTRY_LEN)?;
        read_entry(self.bytes.as_ref(), at).ok()
    }

    /// The entries, in order.
    pub fn entries(&self) -> impl Iterator<Item = KeyEntry> + '_ {
        (0..self.count).filter_map(|i| self.entry(i))
    }

    /// Fill `out` with the keys that may sign content of `channel`: inside
    /// their window at `now` (a new candidate), or any window (`now` `None`:
    /// content accepted earlier, such as the LKG copy). Returns how many.
    pub fn keys_for(&self, channel: u32, now: Option<u64>, out: &mut [TrustedKey]) -> usize {
        let mut n = 0usize;
        for e in self.entries() {
            if !e.covers(channel) || now.is_some_and(|t| !e.in_window(t)) {
                continue;
            }
            let Some(slot) = out.get_mut(n) else { break };
            *slot = if e.test_only {
                TrustedKey::new_test_only(e.public)
            } else {
                TrustedKey::new(e.public)
            };
            n = n.saturating_add(1);
        }
        n
    }

    /// May `key` sign version `version` of `channel`? (Listed for the
    /// channel, and `version` at most its `max_version`.)
    pub fn allows(&self, key: KeyId, channel: u32, version: u64) -> bool {
        self.entries()
            .any(|e| e.covers(channel) && e.id() == key && version <= e.max_version)
    }
}

/// Decode one entry at `at` (bounds only; [`Keyring::validate`] checks the rest).
fn read_entry(b: &[u8], at: usize) -> Result<KeyEntry, RecordError> {
    Ok(KeyEntry {
        public: wire::array::<32>(b, at, k::PUBLIC)?,
        channel: wire::u32_at(b, at, k::CHANNEL)?,
        test_only: wire::u32_at(b, at, k::FLAGS)? & layout::KEY_FLAG_TEST_ONLY != 0,
        not_before: wire::u64_at(b, at, k::NOT_BEFORE)?,
        not_after: wire::u64_at(b, at, k::NOT_AFTER)?,
        max_version: wire::u64_at(b, at, k::MAX_VERSION)?,
    })
}

/// A [`Trust`] over the keys [`Keyring::keys_for`] wrote into `keys`.
pub fn trust_of(keys: &[TrustedKey], n: usize) -> Trust<'_> {
    Trust::new(keys.get(..n).unwrap_or(&[]))
}
