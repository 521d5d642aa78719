//! The envelope every release record shares: header, body, signature block.
//!
//! # Invariants enforced here
//! - the record is at most [`MAX_RECORD_LEN`] bytes and exactly
//!   `HEADER_LEN + body + 8 + 72 * count` long: no trailing bytes;
//! - the magic is the one the caller expects, so a keyring can never be read
//!   as a halt (the magic is signed, too);
//! - 1..=[`MAX_SIGNATURES`] signatures, in strictly increasing key id order,
//!   every one by a key the caller accepts and every one valid.

use core::ops::Range;

use changuard_format::KeyId;

use crate::error::{RecordError, RecordRule};
use crate::layout::{self, header as h, signature as s, signatures as sb};
use crate::limits::{MAX_RECORD_LEN, MAX_SIGNATURES};
use crate::wire;

/// A record whose framing was checked (signatures not yet).
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    pub(crate) flags: u32,
    pub(crate) channel: u32,
    pub(crate) sequence: u64,
    pub(crate) issued: u64,
    /// Body span (absolute).
    pub(crate) body: Range<usize>,
    /// Start of the first signature.
    sigs: usize,
    sig_count: usize,
}

/// Check the framing of `b` as a record with magic `magic`.
pub(crate) fn open(b: &[u8], magic: [u8; 8]) -> Result<Envelope, RecordError> {
    if b.len() > MAX_RECORD_LEN {
        return Err(
            RecordError::at(RecordRule::TooLarge, 0).values(MAX_RECORD_LEN as u64, b.len() as u64)
        );
    }
    if wire::array::<8>(b, 0, h::MAGIC)? != magic {
        return Err(RecordError::at(RecordRule::BadMagic, h::MAGIC.start));
    }
    let version = wire::u16_at(b, 0, h::VERSION)?;
    if version != layout::FORMAT_VERSION {
        return Err(
            RecordError::at(RecordRule::UnsupportedVersion, h::VERSION.start)
                .values(layout::FORMAT_VERSION.into(), version.into()),
        );
    }
    let header_len = wire::u16_at(b, 0, h::HEADER_LEN)?;
    if usize::from(header_len) != layout::HEADER_LEN {
        return Err(
            RecordError::at(RecordRule::LengthMismatch, h::HEADER_LEN.start)
                .values(layout::HEADER_LEN as u64, header_len.into()),
        );
    }
    let flags = wire::u32_at(b, 0, h::FLAGS)?;
    let channel = wire::u32_at(b, 0, h::CHANNEL)?;
    let body_len = wire::u32_at(b, 0, h::BODY_LEN)?;
    let sequence = wire::u64_at(b, 0, h::SEQUENCE)?;
    let issued = wire::u64_at(b, 0, h::ISSUED)?;
    // Bounded by MAX_RECORD_LEN above, so these sums cannot overflow; checked anyway.
    let too_short = RecordError::at(RecordRule::TooShort, h::BODY_LEN.start);
    let body_end = layout::HEADER_LEN
        .checked_add(body_len as usize)
        .ok_or(too_short)?;
    if body_end > b.len() {
        return Err(too_short.values(body_end as u64, b.len() as u64));
    }
    let count = wire::u32_at(b, body_end, sb::COUNT)?;
    let reserved = wire::u32_at(b, body_end, sb::RESERVED)?;
    if reserved != 0 {
        return Err(RecordError::at(
            RecordRule::ReservedNonZero,
            body_end.saturating_add(sb::RESERVED.start),
        ));
    }
    let count_at = body_end.saturating_add(sb::COUNT.start);
    if count == 0 || count as usize > MAX_SIGNATURES {
        return Err(RecordError::at(RecordRule::SignatureCount, count_at)
            .values(MAX_SIGNATURES as u64, count.into()));
    }
    let sigs = body_end
        .checked_add(layout::SIGNATURES_HEAD_LEN)
        .ok_or(too_short)?;
    let total = wire::entry(sigs, count as usize, layout::SIGNATURE_LEN).ok_or(too_short)?;
    if total != b.len() {
        let rule = if total > b.len() {
            RecordRule::TooShort
        } else {
            RecordRule::TooLarge
        };
        return Err(RecordError::at(rule, count_at).values(total as u64, b.len() as u64));
    }
    Ok(Envelope {
        flags,
        channel,
        sequence,
        issued,
        body: layout::HEADER_LEN..body_end,
        sigs,
        sig_count: count as usize,
    })
}

impl Envelope {
    /// Verify every signature: strictly increasing key ids, each key known to
    /// `public_of` (else [`RecordRule::UnknownKey`]) and each signature valid
    /// over the header and body. Returns the number of signatures, all valid.
    ///
    /// Generic over `public_of` (not `dyn`): the loader's signer check is
    /// inlined here, so no indirect call sits on top of this frame, which
    /// holds the Ed25519 verification (a leaf: it calls nothing outside).
    pub(crate) fn verify<F: FnMut(KeyId) -> Option<[u8; 32]>>(
        &self,
        b: &[u8],
        mut public_of: F,
    ) -> Result<usize, RecordError> {
        let signed = b
            .get(..self.body.end)
            .ok_or(RecordError::at(RecordRule::TooShort, self.body.end))?;
        let mut last: Option<KeyId> = None;
        for i in 0..self.sig_count {
            let at = wire::entry(self.sigs, i, layout::SIGNATURE_LEN)
                .ok_or(RecordError::at(RecordRule::TooShort, self.sigs))?;
            let id = KeyId(wire::array::<8>(b, at, s::KEY_ID)?);
            if last.is_some_and(|l| l.0 >= id.0) {
                return Err(RecordError::at(RecordRule::SignaturesNotCanonical, at));
            }
            last = Some(id);
            let Some(public) = public_of(id) else {
                return Err(RecordError::at(RecordRule::UnknownKey, at));
            };
            let sig = wire::array::<64>(b, at, s::SIGNATURE)?;
            let ok = ed25519_compact::PublicKey::new(public)
                .verify(signed, &ed25519_compact::Signature::new(sig))
                .is_ok();
            if !ok {
                return Err(RecordError::at(
                    RecordRule::BadSignature,
                    at.saturating_add(s::SIGNATURE.start),
                ));
            }
        }
        Ok(self.sig_count)
    }

    /// Check that the header flags use only `allowed` bits.
    pub(crate) fn flags_within(&self, allowed: u32) -> Result<(), RecordError> {
        if self.flags & !allowed != 0 {
            return Err(RecordError::at(RecordRule::ReservedNonZero, h::FLAGS.start)
                .values(u64::from(allowed), u64::from(self.flags)));
        }
        Ok(())
    }

    /// Check a body that is a `head`-byte head and `count` entries of
    /// `entry` bytes, `count` read at `count_at`: `1..=max` entries (else
    /// `rule`) and exactly that length. Returns the first entry's offset.
    pub(crate) fn table(
        &self,
        count_at: usize,
        count: usize,
        (max, rule): (usize, RecordRule),
        (head, entry): (usize, usize),
    ) -> Result<usize, RecordError> {
        if count == 0 || count > max {
            return Err(RecordError::at(rule, count_at).values(max as u64, count as u64));
        }
        let want = count
            .checked_mul(entry)
            .and_then(|n| n.checked_add(head))
            .ok_or(RecordError::at(
                RecordRule::LengthMismatch,
                h::BODY_LEN.start,
            ))?;
        self.body_len_is(want)?;
        Ok(self.body.start.saturating_add(head))
    }

    /// Check the body length is exactly `len`.
    pub(crate) fn body_len_is(&self, len: usize) -> Result<(), RecordError> {
        let got = self.body.end.saturating_sub(self.body.start);
        if got != len {
            return Err(
                RecordError::at(RecordRule::LengthMismatch, h::BODY_LEN.start)
                    .values(len as u64, got as u64),
            );
        }
        Ok(())
    }

    /// Check the record is for `channel`.
    pub(crate) fn channel_is(&self, channel: u32) -> Result<(), RecordError> {
        if self.channel != channel {
            return Err(RecordError::at(RecordRule::WrongChannel, h::CHANNEL.start)
                .values(channel.into(), self.channel.into()));
        }
        Ok(())
    }
}
