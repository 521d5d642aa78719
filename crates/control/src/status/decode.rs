//! Reading a status reply (the CLI's side): versions 1 to 3, every length,
//! count and reserved byte checked.

use zerocopy::FromBytes;

use super::channel::{ChannelStatus, DriverStatus};
use super::decision::DecisionRecord;
use super::encode::{Decisions, reply_len_v};
use super::{
    ChannelStatusWire, DECISION_LEN, DECISIONS_LEN, DRIVER_FLAGS_KNOWN, DecisionWire,
    DecisionsWire, HEADER_LEN, MAX_CHANNELS, MAX_DECISIONS, MEMORY_LEN, MemoryWire, RECORD_LEN,
    STATUS_MAGIC, STATUS_VERSION, STATUS_VERSION_1, STATUS_VERSION_2, StatusHeaderWire,
};
use crate::wire::{DecodeError, DecodeErrorKind, reserved_zero, take};

/// A decoded, fully validated status reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusReply {
    /// Driver-wide status.
    pub driver: DriverStatus,
    /// The reply's wire version (1, 2 or 3).
    pub version: u16,
    channels: [ChannelStatus; MAX_CHANNELS],
    count: usize,
    decisions: [DecisionRecord; MAX_DECISIONS],
    decision_count: usize,
    /// Decisions the driver recorded since it loaded (0 before version 3).
    pub decisions_recorded: u32,
}

impl StatusReply {
    /// The channel records, in reply order.
    #[must_use]
    pub fn channels(&self) -> &[ChannelStatus] {
        self.channels.get(..self.count).unwrap_or(&[])
    }

    /// The most recent loader decisions, oldest first (empty before version 3).
    #[must_use]
    pub fn decisions(&self) -> &[DecisionRecord] {
        self.decisions.get(..self.decision_count).unwrap_or(&[])
    }

    /// The decisions as [`encode_status`] takes them.
    #[must_use]
    pub fn decision_list(&self) -> Decisions<'_> {
        Decisions {
            records: self.decisions(),
            recorded: self.decisions_recorded,
        }
    }
}

/// Decodes and validates a status reply.
///
/// Validation order: header length, magic, version (1, 2 or 3), reserved,
/// known flag bits, channel count <= MAX, then (version 3) the decisions
/// block header (count <= MAX, <= recorded, reserved zero), declared
/// total_len == computed length == input length, the memory block (versions 2
/// and 3: charged <= limit), then each channel record (enum codes, flags,
/// counts, fields that must be zero) and each decision record (known flags,
/// reserved zero).
///
/// # Errors
/// A [`DecodeError`] naming the first rule that fails.
///
/// # Panics
/// Never, for any input.
#[allow(
    clippy::large_stack_arrays,
    clippy::large_stack_frames,
    reason = "user mode only (CLI): the ~3.5 KiB StatusReply by value is the API; \
              the driver encodes replies and never decodes one (scripts/frame-allowlist.txt)"
)]
pub fn decode_status(input: &[u8]) -> Result<StatusReply, DecodeError> {
    let hb = take(input, 0, HEADER_LEN, "status header")?;
    let h = StatusHeaderWire::read_from_bytes(hb).map_err(|_| {
        DecodeError::new(
            DecodeErrorKind::TooShort,
            "status header",
            0,
            HEADER_LEN as u64,
            hb.len() as u64,
        )
    })?;
    if h.magic.get() != STATUS_MAGIC {
        return Err(DecodeError::new(
            DecodeErrorKind::BadMagic,
            "status.magic",
            0,
            u64::from(STATUS_MAGIC),
            u64::from(h.magic.get()),
        ));
    }
    let version = h.version.get();
    if !matches!(
        version,
        STATUS_VERSION | STATUS_VERSION_2 | STATUS_VERSION_1
    ) {
        return Err(DecodeError::new(
            DecodeErrorKind::BadVersion,
            "status.version",
            4,
            u64::from(STATUS_VERSION),
            u64::from(h.version.get()),
        ));
    }
    reserved_zero(u64::from(h.reserved.get()), "status.reserved", 52)?;
    reserved_zero(
        u64::from(h.flags.get() & !DRIVER_FLAGS_KNOWN),
        "status.flags",
        12,
    )?;
    let count = usize::from(h.channel_count.get());
    let head = reply_len_v(version, count).ok_or(DecodeError::new(
        DecodeErrorKind::TooMany,
        "status.channel_count",
        6,
        MAX_CHANNELS as u64,
        count as u64,
    ))?;
    // Version 3: the decisions block header sits right after the channel
    // records; its count completes the expected length.
    let mut block: Option<(usize, DecisionsWire)> = None;
    let mut expected = head;
    if version == STATUS_VERSION {
        // The block header is read only once the input reaches it, so an error
        // offset never lies past the input.
        if input.len() < head {
            return Err(DecodeError::new(
                DecodeErrorKind::TooShort,
                "status records",
                HEADER_LEN,
                head as u64,
                input.len() as u64,
            ));
        }
        let at = head.saturating_sub(DECISIONS_LEN);
        let bb = take(input, at, DECISIONS_LEN, "status decisions")?;
        let b = DecisionsWire::read_from_bytes(bb).map_err(|_| {
            DecodeError::new(
                DecodeErrorKind::TooShort,
                "status decisions",
                at,
                DECISIONS_LEN as u64,
                bb.len() as u64,
            )
        })?;
        let n = usize::from(b.count.get());
        if n > MAX_DECISIONS {
            return Err(DecodeError::new(
                DecodeErrorKind::TooMany,
                "status.decisions.count",
                at,
                MAX_DECISIONS as u64,
                n as u64,
            ));
        }
        if u64::from(b.count.get()) > u64::from(b.recorded.get()) {
            return Err(DecodeError::new(
                DecodeErrorKind::TooMany,
                "status.decisions.count (above recorded)",
                at,
                u64::from(b.recorded.get()),
                n as u64,
            ));
        }
        reserved_zero(
            u64::from(b.reserved.get()),
            "status.decisions.reserved",
            at.saturating_add(2),
        )?;
        // Cannot overflow: n <= 32 and head <= MAX_REPLY_LEN.
        expected = head.saturating_add(DECISION_LEN.saturating_mul(n));
        block = Some((at, b));
    }
    let declared = h.total_len.get();
    if u64::from(declared) != expected as u64 {
        return Err(DecodeError::new(
            DecodeErrorKind::LengthMismatch,
            "status.total_len",
            8,
            expected as u64,
            u64::from(declared),
        ));
    }
    if input.len() < expected {
        return Err(DecodeError::new(
            DecodeErrorKind::TooShort,
            "status records",
            HEADER_LEN,
            expected as u64,
            input.len() as u64,
        ));
    }
    if input.len() > expected {
        return Err(DecodeError::new(
            DecodeErrorKind::TrailingBytes,
            "status reply",
            expected,
            expected as u64,
            input.len() as u64,
        ));
    }
    let (mut memory_budget, mut memory_charged) = (0, 0);
    let mut at = HEADER_LEN;
    if version != STATUS_VERSION_1 {
        let mb = take(input, at, MEMORY_LEN, "status memory")?;
        let m = MemoryWire::read_from_bytes(mb).map_err(|_| {
            DecodeError::new(
                DecodeErrorKind::TooShort,
                "status memory",
                at,
                MEMORY_LEN as u64,
                mb.len() as u64,
            )
        })?;
        (memory_budget, memory_charged) = (m.budget_limit.get(), m.budget_charged.get());
        if memory_charged > memory_budget {
            return Err(DecodeError::new(
                DecodeErrorKind::TooMany,
                "status.memory.budget_charged",
                at.saturating_add(8),
                memory_budget,
                memory_charged,
            ));
        }
        at = at.saturating_add(MEMORY_LEN);
    }
    let mut channels = [ChannelStatus::empty(0); MAX_CHANNELS];
    for slot in channels.iter_mut().take(count) {
        let rb = take(input, at, RECORD_LEN, "channel record")?;
        let w = ChannelStatusWire::read_from_bytes(rb).map_err(|_| {
            DecodeError::new(
                DecodeErrorKind::TooShort,
                "channel record",
                at,
                RECORD_LEN as u64,
                rb.len() as u64,
            )
        })?;
        *slot = ChannelStatus::from_wire(&w, at)?;
        at = at.saturating_add(RECORD_LEN);
    }
    let mut decisions = [DecisionRecord::default(); MAX_DECISIONS];
    let (mut decision_count, mut decisions_recorded) = (0, 0);
    if let Some((block_at, b)) = block {
        decision_count = usize::from(b.count.get());
        decisions_recorded = b.recorded.get();
        let mut at = block_at.saturating_add(DECISIONS_LEN);
        for slot in decisions.iter_mut().take(decision_count) {
            let rb = take(input, at, DECISION_LEN, "decision record")?;
            let w = DecisionWire::read_from_bytes(rb).map_err(|_| {
                DecodeError::new(
                    DecodeErrorKind::TooShort,
                    "decision record",
                    at,
                    DECISION_LEN as u64,
                    rb.len() as u64,
                )
            })?;
            *slot = DecisionRecord::from_wire(&w, at)?;
            at = at.saturating_add(DECISION_LEN);
        }
    }
    Ok(StatusReply {
        driver: DriverStatus {
            flags: h.flags.get(),
            events_seen: h.events_seen.get(),
            detections: h.detections.get(),
            eval_faults: h.eval_faults.get(),
            reloads: h.reloads.get(),
            reload_fallbacks: h.reload_fallbacks.get(),
            last_platform_status: i32::from_le_bytes(h.last_platform_status.get().to_le_bytes()),
            memory_budget,
            memory_charged,
        },
        version,
        channels,
        count,
        decisions,
        decision_count,
        decisions_recorded,
    })
}
