//! The release record: a content version's signed rollout plan, and the
//! machine's side of it (its ring, and when it may activate).
//!
//! A machine's place in the fleet is [`ring_point`]: a stable hash of its
//! per-install machine id and the channel, so rings are independent per
//! channel and a machine cannot choose its ring. Ring `i` holds the points
//! below its cumulative share; it may activate the version `delay[i]`
//! seconds after the start, plus any delay the customer's policy adds.
//!
//! # Invariants enforced by [`Release::validate`]
//! - for exactly the channel and version of the channel file beside it;
//! - 1..=[`MAX_RINGS`] rings, shares strictly increasing in 1..=1,000,000
//!   ppm and the last is the whole fleet, delays non-decreasing and at most
//!   [`MAX_RING_DELAY_SECS`] (so start + delay + policy delay never overflows
//!   a `u64` of seconds for any start the format allows);
//! - 1..=8 signatures, every one by a key the caller's keyring lists for the channel.

use changuard_format::{KeyId, Trust};

use crate::envelope;
use crate::error::{RecordError, RecordRule};
use crate::layout::{self, release as r, ring as rg};
use crate::limits::{MAX_RING_DELAY_SECS, MAX_RINGS, MAX_VERSION_JUMP};
use crate::wire;

/// One ring of a rollout plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ring {
    /// Cumulative share of machines, in parts per million.
    pub fraction_ppm: u32,
    /// Seconds after the start before this ring may activate.
    pub delay_secs: u64,
}

/// A validated release record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    /// Channel.
    pub channel: u32,
    /// Content version it releases.
    pub version: u64,
    /// When it was issued (Unix seconds).
    pub issued: u64,
    /// Rollout start (Unix seconds).
    pub start: u64,
    /// May jump more than [`MAX_VERSION_JUMP`] past the machine's version.
    pub fast_forward: bool,
    rings: [Ring; MAX_RINGS],
    ring_count: usize,
}

impl Release {
    /// Validate `b` as the release of `channel` version `version`, signed by
    /// a key in `signers` (the keyring's keys for the channel, in window now).
    ///
    /// # Errors
    /// The first rule broken, at its offset.
    pub fn validate(
        b: &[u8],
        signers: &Trust<'_>,
        channel: u32,
        version: u64,
    ) -> Result<Release, RecordError> {
        Release::validate_by(b, |id| signers.key(id).map(|k| k.public), channel, version)
    }

    /// [`Release::validate`] with the signer check as a function: `public_of`
    /// returns the public key of a key id allowed to sign this release (the
    /// loader answers from its keyring: listed for the channel, in window).
    ///
    /// # Errors
    /// The first rule broken, at its offset.
    pub fn validate_by<F: FnMut(KeyId) -> Option<[u8; 32]>>(
        b: &[u8],
        public_of: F,
        channel: u32,
        version: u64,
    ) -> Result<Release, RecordError> {
        let env = envelope::open(b, layout::RELEASE_MAGIC)?;
        env.flags_within(layout::RELEASE_FLAG_FAST_FORWARD)?;
        env.channel_is(channel)?;
        if env.sequence != version {
            return Err(
                RecordError::at(RecordRule::WrongVersion, layout::header::SEQUENCE.start)
                    .values(version, env.sequence),
            );
        }
        let base = env.body.start;
        let start = wire::u64_at(b, base, r::START)?;
        let count = wire::u32_at(b, base, r::RING_COUNT)? as usize;
        if wire::u32_at(b, base, r::RESERVED)? != 0 {
            return Err(RecordError::at(
                RecordRule::ReservedNonZero,
                base.saturating_add(r::RESERVED.start),
            ));
        }
        let first = env.table(
            base.saturating_add(r::RING_COUNT.start),
            count,
            (MAX_RINGS, RecordRule::RingCount),
            (layout::RELEASE_HEAD_LEN, layout::RING_LEN),
        )?;
        let mut rings = [Ring::default(); MAX_RINGS];
        let mut prev: Option<Ring> = None;
        for (i, slot) in rings.iter_mut().enumerate().take(count) {
            let at = wire::entry(first, i, layout::RING_LEN)
                .ok_or(RecordError::at(RecordRule::TooShort, first))?;
            let ring = Ring {
                fraction_ppm: wire::u32_at(b, at, rg::FRACTION_PPM)?,
                delay_secs: wire::u64_at(b, at, rg::DELAY)?,
            };
            if wire::u32_at(b, at, rg::RESERVED)? != 0 {
                return Err(RecordError::at(
                    RecordRule::ReservedNonZero,
                    at.saturating_add(rg::RESERVED.start),
                ));
            }
            let last = i.saturating_add(1) == count;
            let ok = ring.fraction_ppm >= 1
                && ring.fraction_ppm <= layout::ALL_MACHINES_PPM
                && (!last || ring.fraction_ppm == layout::ALL_MACHINES_PPM)
                && ring.delay_secs <= MAX_RING_DELAY_SECS
                && prev.is_none_or(|p| {
                    p.fraction_ppm < ring.fraction_ppm && p.delay_secs <= ring.delay_secs
                });
            if !ok {
                return Err(RecordError::at(RecordRule::RingsNotCanonical, at));
            }
            prev = Some(ring);
            *slot = ring;
        }
        env.verify(b, public_of)?;
        Ok(Release {
            channel,
            version,
            issued: env.issued,
            start,
            fast_forward: env.flags & layout::RELEASE_FLAG_FAST_FORWARD != 0,
            rings,
            ring_count: count,
        })
    }

    /// The rings, in order.
    pub fn rings(&self) -> &[Ring] {
        self.rings.get(..self.ring_count).unwrap_or(&[])
    }

    /// The index of the ring holding `point` (a [`ring_point`]).
    pub fn ring_of(&self, point: u32) -> usize {
        self.rings()
            .iter()
            .position(|r| point < r.fraction_ppm)
            .unwrap_or(self.ring_count.saturating_sub(1))
    }

    /// When a machine at `point` may activate it, with `policy_delay_secs`
    /// added by the customer's policy (Unix seconds; saturating).
    pub fn eligible_at(&self, point: u32, policy_delay_secs: u64) -> u64 {
        let delay = self
            .rings()
            .get(self.ring_of(point))
            .map_or(0, |r| r.delay_secs);
        self.start
            .saturating_add(delay)
            .saturating_add(policy_delay_secs)
    }

    /// May a machine whose newest version of the channel is `current` (LKG
    /// or floor; `None`: it has none) take this version? Not more than
    /// [`MAX_VERSION_JUMP`] past it unless the release says fast-forward.
    pub fn jump_allowed(&self, current: Option<u64>) -> bool {
        self.fast_forward
            || current.is_none_or(|c| self.version <= c.saturating_add(MAX_VERSION_JUMP))
    }
}

/// A machine's stable place in the fleet for `channel`: in `0..1,000,000`
/// (ppm), from SHA-512 of a domain tag, the machine id and the channel.
pub fn ring_point(machine_id: &[u8; 16], channel: u32) -> u32 {
    let mut h = ed25519_compact::sha512::Hash::new();
    h.update(b"changuard ring v1");
    h.update(machine_id);
    h.update(channel.to_le_bytes());
    let d = h.finalize();
    let mut x = [0u8; 8];
    for (o, i) in x.iter_mut().zip(d.iter()) {
        *o = *i;
    }
    // The bias of a 64-bit value mod 10^6 is below 2^-44: negligible.
    u64::from_le_bytes(x)
        .checked_rem(u64::from(layout::ALL_MACHINES_PPM))
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0)
}
