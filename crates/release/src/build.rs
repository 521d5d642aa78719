//! The writers (feature `build`; user mode only): the CLI's `keyring`,
//! `release` and `halt` commands, the simulator and the tests.
//!
//! The writers write what they are given: [`KeyringSpec::canonical`] sorts
//! entries the way the validator requires; tests that need a non-canonical
//! record write one on purpose.

use std::vec::Vec;

use changuard_format::build::SigningKey;

use crate::keyring::KeyEntry;
use crate::layout;
use crate::rollout::Ring;

/// A keyring to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyringSpec {
    /// Version (monotonic).
    pub version: u64,
    /// Issued (Unix seconds).
    pub issued: u64,
    /// Expiry (Unix seconds).
    pub expires: u64,
    /// Entries.
    pub keys: Vec<KeyEntry>,
}

impl KeyringSpec {
    /// Entries in the order the validator requires: by key id, then channel.
    #[must_use]
    pub fn canonical(mut self) -> KeyringSpec {
        self.keys.sort_by_key(|e| (e.id().0, e.channel));
        self
    }

    /// The record, signed by every key in `roots` (in key id order).
    pub fn to_bytes(&self, roots: &[&SigningKey]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.expires.to_le_bytes());
        body.extend_from_slice(&(self.keys.len() as u32).to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        for e in &self.keys {
            body.extend_from_slice(&e.public);
            body.extend_from_slice(&e.channel.to_le_bytes());
            let flags = if e.test_only {
                layout::KEY_FLAG_TEST_ONLY
            } else {
                0
            };
            body.extend_from_slice(&flags.to_le_bytes());
            body.extend_from_slice(&e.not_before.to_le_bytes());
            body.extend_from_slice(&e.not_after.to_le_bytes());
            body.extend_from_slice(&e.max_version.to_le_bytes());
        }
        envelope(
            layout::KEYRING_MAGIC,
            0,
            0,
            self.version,
            self.issued,
            &body,
            roots,
        )
    }
}

/// A release (rollout plan) to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseSpec {
    /// Channel.
    pub channel: u32,
    /// Content version.
    pub version: u64,
    /// Issued (Unix seconds).
    pub issued: u64,
    /// Rollout start (Unix seconds).
    pub start: u64,
    /// Allow a jump past [`crate::limits::MAX_VERSION_JUMP`].
    pub fast_forward: bool,
    /// Rings.
    pub rings: Vec<Ring>,
}

impl ReleaseSpec {
    /// The record, signed by `key`.
    pub fn to_bytes(&self, key: &SigningKey) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.start.to_le_bytes());
        body.extend_from_slice(&(self.rings.len() as u32).to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        for r in &self.rings {
            body.extend_from_slice(&r.fraction_ppm.to_le_bytes());
            body.extend_from_slice(&0u32.to_le_bytes());
            body.extend_from_slice(&r.delay_secs.to_le_bytes());
        }
        let flags = if self.fast_forward {
            layout::RELEASE_FLAG_FAST_FORWARD
        } else {
            0
        };
        envelope(
            layout::RELEASE_MAGIC,
            flags,
            self.channel,
            self.version,
            self.issued,
            &body,
            &[key],
        )
    }
}

/// A halt to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HaltSpec {
    /// Channel.
    pub channel: u32,
    /// Sequence (monotonic per channel).
    pub sequence: u64,
    /// Issued (Unix seconds).
    pub issued: u64,
    /// First halted version (0 with `last` 0: lift every halt).
    pub first: u64,
    /// Last halted version.
    pub last: u64,
}

impl HaltSpec {
    /// The record, signed by `key`.
    pub fn to_bytes(&self, key: &SigningKey) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.first.to_le_bytes());
        body.extend_from_slice(&self.last.to_le_bytes());
        envelope(
            layout::HALT_MAGIC,
            0,
            self.channel,
            self.sequence,
            self.issued,
            &body,
            &[key],
        )
    }
}

/// The standard rings: 0.1% canary at once, then 1%, 10%, 50% and everyone
/// at `step_secs` intervals.
pub fn standard_rings(step_secs: u64) -> Vec<Ring> {
    [1_000u32, 10_000, 100_000, 500_000, 1_000_000]
        .iter()
        .enumerate()
        .map(|(i, &f)| Ring {
            fraction_ppm: f,
            delay_secs: step_secs.saturating_mul(i as u64),
        })
        .collect()
}

/// Frame and sign a record: header, body, then one signature per key in
/// key id order (duplicates dropped).
pub fn envelope(
    magic: [u8; 8],
    flags: u32,
    channel: u32,
    sequence: u64,
    issued: u64,
    body: &[u8],
    signers: &[&SigningKey],
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&magic);
    out.extend_from_slice(&layout::FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(layout::HEADER_LEN as u16).to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&channel.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&issued.to_le_bytes());
    out.extend_from_slice(body);
    let mut keys: Vec<&SigningKey> = signers.to_vec();
    keys.sort_by_key(|k| k.key_id().0);
    keys.dedup_by_key(|k| k.key_id().0);
    let signed_len = out.len();
    out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for k in keys {
        let sig = k.sign_message(out.get(..signed_len).unwrap_or(&[]));
        out.extend_from_slice(&k.key_id().0);
        out.extend_from_slice(&sig);
    }
    out
}
