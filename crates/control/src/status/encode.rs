//! Writing a status reply (the driver's side): as many decisions as the
//! caller's buffer holds a version for.

use zerocopy::IntoBytes;
use zerocopy::byteorder::little_endian::{U16, U32, U64};

use super::channel::{ChannelStatus, DriverStatus};
use super::decision::DecisionRecord;
use super::{
    DECISION_LEN, DECISIONS_LEN, DRIVER_FLAGS_KNOWN, DecisionsWire, HEADER_LEN, MAX_CHANNELS,
    MAX_DECISIONS, MEMORY_LEN, MemoryWire, RECORD_LEN, STATUS_MAGIC, STATUS_VERSION,
    STATUS_VERSION_1, STATUS_VERSION_2, StatusHeaderWire,
};
use crate::wire::{EncodeError, take_mut};

/// Exact (version 3) reply length for `channels` channel records and
/// `decisions` decision records, if within [`MAX_CHANNELS`] / [`MAX_DECISIONS`].
#[must_use]
pub const fn reply_len(channels: usize, decisions: usize) -> Option<usize> {
    if decisions > MAX_DECISIONS {
        return None;
    }
    match reply_len_v(STATUS_VERSION, channels) {
        // Cannot overflow: decisions <= 32.
        Some(head) => match DECISION_LEN.checked_mul(decisions) {
            Some(d) => head.checked_add(d),
            None => None,
        },
        None => None,
    }
}

/// Reply length of wire `version` (1, 2 or 3) up to the end of the channel
/// records (version 3: and the decisions block header).
pub(super) const fn reply_len_v(version: u16, channels: usize) -> Option<usize> {
    if channels > MAX_CHANNELS {
        return None;
    }
    let head = match version {
        STATUS_VERSION_1 => HEADER_LEN,
        STATUS_VERSION_2 => HEADER_LEN + MEMORY_LEN,
        _ => HEADER_LEN + MEMORY_LEN + DECISIONS_LEN,
    };
    // Cannot overflow: channels <= 16.
    match RECORD_LEN.checked_mul(channels) {
        Some(r) => head.checked_add(r),
        None => None,
    }
}

/// The loader decisions a reply carries: the newest ones, oldest first, and
/// how many were recorded in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Decisions<'a> {
    /// The records, oldest first (at most [`MAX_DECISIONS`]).
    pub records: &'a [DecisionRecord],
    /// Decisions recorded since the driver loaded (>= `records.len()`).
    pub recorded: u32,
}

/// Encodes a status reply into `out`; returns the number of bytes written.
///
/// Writes version 3 (with `decisions`) when `out` holds it, else version 2
/// (no decisions) when `out` holds that: a CLI built before version 3 passes
/// a buffer of [`MAX_REPLY_LEN_V2`] bytes and still gets a reply it decodes.
///
/// # Errors
/// `TooMany` for more than [`MAX_CHANNELS`] channels or [`MAX_DECISIONS`]
/// decisions, `BufferTooSmall` when `out` cannot hold even the version 2
/// reply, `TooMany`/`ValueOutOfRange` for a channel or decision whose fields
/// cannot be represented (`recorded` below the number of records included).
pub fn encode_status(
    driver: &DriverStatus,
    channels: &[ChannelStatus],
    decisions: Decisions<'_>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let v3 = reply_len(channels.len(), decisions.records.len()).ok_or(EncodeError::TooMany {
        max: if channels.len() > MAX_CHANNELS {
            MAX_CHANNELS
        } else {
            MAX_DECISIONS
        },
    })?;
    let v2 = reply_len_v(STATUS_VERSION_2, channels.len())
        .ok_or(EncodeError::TooMany { max: MAX_CHANNELS })?;
    let (version, total) = if out.len() >= v3 {
        (STATUS_VERSION, v3)
    } else if out.len() >= v2 {
        (STATUS_VERSION_2, v2)
    } else {
        return Err(EncodeError::BufferTooSmall { needed: v3 });
    };
    if driver.flags & !DRIVER_FLAGS_KNOWN != 0 {
        return Err(EncodeError::ValueOutOfRange {
            what: "driver.flags",
        });
    }
    if driver.memory_charged > driver.memory_budget {
        return Err(EncodeError::ValueOutOfRange {
            what: "driver.memory_charged",
        });
    }
    let count = u16::try_from(decisions.records.len())
        .map_err(|_| EncodeError::TooMany { max: MAX_DECISIONS })?;
    if u32::from(count) > decisions.recorded {
        return Err(EncodeError::ValueOutOfRange {
            what: "decisions.recorded",
        });
    }
    let header = StatusHeaderWire {
        magic: U32::new(STATUS_MAGIC),
        version: U16::new(version),
        channel_count: U16::new(
            u16::try_from(channels.len())
                .map_err(|_| EncodeError::TooMany { max: MAX_CHANNELS })?,
        ),
        total_len: U32::new(
            u32::try_from(total).map_err(|_| EncodeError::ValueOutOfRange { what: "total_len" })?,
        ),
        flags: U32::new(driver.flags),
        events_seen: U64::new(driver.events_seen),
        detections: U64::new(driver.detections),
        eval_faults: U64::new(driver.eval_faults),
        reloads: U32::new(driver.reloads),
        reload_fallbacks: U32::new(driver.reload_fallbacks),
        last_platform_status: U32::new(u32::from_le_bytes(
            driver.last_platform_status.to_le_bytes(),
        )),
        reserved: U32::new(0),
    };
    take_mut(out, 0, HEADER_LEN, total)?.copy_from_slice(header.as_bytes());
    let memory = MemoryWire {
        budget_limit: U64::new(driver.memory_budget),
        budget_charged: U64::new(driver.memory_charged),
    };
    take_mut(out, HEADER_LEN, MEMORY_LEN, total)?.copy_from_slice(memory.as_bytes());
    let mut at = HEADER_LEN + MEMORY_LEN;
    for ch in channels {
        let wire = ch.to_wire()?;
        take_mut(out, at, RECORD_LEN, total)?.copy_from_slice(wire.as_bytes());
        at = at
            .checked_add(RECORD_LEN)
            .ok_or(EncodeError::BufferTooSmall { needed: total })?;
    }
    if version == STATUS_VERSION {
        let block = DecisionsWire {
            count: U16::new(count),
            reserved: U16::new(0),
            recorded: U32::new(decisions.recorded),
        };
        take_mut(out, at, DECISIONS_LEN, total)?.copy_from_slice(block.as_bytes());
        at = at
            .checked_add(DECISIONS_LEN)
            .ok_or(EncodeError::BufferTooSmall { needed: total })?;
        for d in decisions.records {
            let wire = d.to_wire()?;
            take_mut(out, at, DECISION_LEN, total)?.copy_from_slice(wire.as_bytes());
            at = at
                .checked_add(DECISION_LEN)
                .ok_or(EncodeError::BufferTooSmall { needed: total })?;
        }
    }
    Ok(total)
}
