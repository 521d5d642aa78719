//! The halt record: stop a channel's rollout of a version range, on every
//! machine, at its next load or reload.
//!
//! What a machine does with it (the loader's side): a halted version that is
//! not yet activated is never activated; one on trial goes back to the LKG
//! (not quarantined: nothing crashed); one already promoted stays (only the
//! machine's own crash count quarantines). Halts are versioned: a machine
//! never accepts a lower sequence than the one it recorded, so an old halt
//! cannot be replayed to lift a newer one. Lifting is publishing the empty
//! range `0..=0` with a higher sequence.
//!
//! # Invariants enforced by [`Halt::validate`]
//! - for exactly the channel it is read for; body of 16 bytes, flags 0;
//! - `first <= last`, and `first == 0` only in the empty range `0..=0`;
//! - 1..=8 signatures, every one by a key the caller's keyring lists for the channel.

use changuard_format::{KeyId, Trust};

use crate::envelope;
use crate::error::{RecordError, RecordRule};
use crate::layout::{self, halt as hb};
use crate::wire;

/// A validated halt record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Halt {
    /// Channel.
    pub channel: u32,
    /// Sequence (monotonic per channel).
    pub sequence: u64,
    /// When it was issued (Unix seconds).
    pub issued: u64,
    /// First halted version (0: nothing halted).
    pub first: u64,
    /// Last halted version (inclusive).
    pub last: u64,
}

impl Halt {
    /// Validate `b` as a halt of `channel` signed by a key in `signers`.
    ///
    /// # Errors
    /// The first rule broken, at its offset.
    pub fn validate(b: &[u8], signers: &Trust<'_>, channel: u32) -> Result<Halt, RecordError> {
        Halt::validate_by(b, |id| signers.key(id).map(|k| k.public), channel)
    }

    /// [`Halt::validate`] with the signer check as a function (see
    /// [`crate::Release::validate_by`]).
    ///
    /// # Errors
    /// The first rule broken, at its offset.
    pub fn validate_by<F: FnMut(KeyId) -> Option<[u8; 32]>>(
        b: &[u8],
        public_of: F,
        channel: u32,
    ) -> Result<Halt, RecordError> {
        let env = envelope::open(b, layout::HALT_MAGIC)?;
        env.flags_within(0)?;
        env.channel_is(channel)?;
        env.body_len_is(layout::HALT_BODY_LEN)?;
        let base = env.body.start;
        let first = wire::u64_at(b, base, hb::FIRST)?;
        let last = wire::u64_at(b, base, hb::LAST)?;
        if first > last || (first == 0 && last != 0) {
            return Err(RecordError::at(
                RecordRule::BadRange,
                base.saturating_add(hb::FIRST.start),
            )
            .values(first, last));
        }
        env.verify(b, public_of)?;
        Ok(Halt {
            channel,
            sequence: env.sequence,
            issued: env.issued,
            first,
            last,
        })
    }

    /// Is `version` halted?
    pub const fn halts(&self, version: u64) -> bool {
        self.first != 0 && self.first <= version && version <= self.last
    }
}
