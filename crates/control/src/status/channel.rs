//! One channel's status and the driver's counters, to and from their wire
//! records.

use zerocopy::byteorder::little_endian::{U16, U32, U64};

use super::{
    CH_FLAG_HAS_LKG, CH_FLAG_HAS_REJECTION, CH_FLAG_ON_TRIAL, CH_FLAGS_KNOWN, ChannelStatusWire,
    MAX_QUARANTINED, Source,
};
use crate::wire::{DecodeError, DecodeErrorKind, EncodeError, reserved_zero};

/// The last reason a channel stepped down the fallback chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rejection {
    /// Loader reason code (file missing, too large, bad signature, ...).
    pub reason: u16,
    /// Format rule code, when the reason is a validation failure.
    pub rule: u16,
    /// Byte offset in the file, when known.
    pub offset: u64,
}

/// Driver-wide part of the status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct DriverStatus {
    /// `DRIVER_FLAG_*` bits.
    pub flags: u32,
    /// Events handed to the interpreter.
    pub events_seen: u64,
    /// Matches.
    pub detections: u64,
    /// Interpreter faults.
    pub eval_faults: u64,
    /// Completed loads (boot + reloads).
    pub reloads: u32,
    /// Loads where some channel fell back.
    pub reload_fallbacks: u32,
    /// Last platform NTSTATUS seen (0 = none).
    pub last_platform_status: i32,
    /// Memory budget limit in bytes (0: unknown, a version 1 reply).
    pub memory_budget: u64,
    /// Bytes of the budget charged to the active channels (<= `memory_budget`).
    pub memory_charged: u64,
}

/// One channel's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelStatus {
    /// Channel id.
    pub channel_id: u32,
    /// Where the active content came from.
    pub source: Source,
    /// Active content version (0 when `source` is `None`).
    pub active_version: u64,
    /// LKG version, if the store holds one.
    pub lkg_version: Option<u64>,
    /// `Some(attempt)` while the active candidate is on trial.
    pub trial_attempt: Option<u32>,
    /// Last rejection, if any.
    pub last_rejection: Option<Rejection>,
    /// Quarantined versions, newest first (first `quarantined_count` used).
    pub quarantined: [u64; MAX_QUARANTINED],
    /// How many of `quarantined` are used.
    pub quarantined_count: u8,
    /// Events evaluated.
    pub events: u64,
    /// Matches.
    pub detections: u64,
    /// Faults.
    pub faults: u64,
}

impl ChannelStatus {
    /// A channel with no content and no history.
    #[must_use]
    pub const fn empty(channel_id: u32) -> Self {
        Self {
            channel_id,
            source: Source::None,
            active_version: 0,
            lkg_version: None,
            trial_attempt: None,
            last_rejection: None,
            quarantined: [0; MAX_QUARANTINED],
            quarantined_count: 0,
            events: 0,
            detections: 0,
            faults: 0,
        }
    }

    /// The used part of `quarantined`.
    #[must_use]
    pub fn quarantined(&self) -> &[u64] {
        self.quarantined
            .get(..usize::from(self.quarantined_count))
            .unwrap_or(&[])
    }

    pub(super) fn to_wire(self) -> Result<ChannelStatusWire, EncodeError> {
        if usize::from(self.quarantined_count) > MAX_QUARANTINED {
            return Err(EncodeError::TooMany {
                max: MAX_QUARANTINED,
            });
        }
        if self.source == Source::None && self.active_version != 0 {
            return Err(EncodeError::ValueOutOfRange {
                what: "active_version without content",
            });
        }
        let mut flags = 0u8;
        if self.lkg_version.is_some() {
            flags |= CH_FLAG_HAS_LKG;
        }
        if self.trial_attempt.is_some() {
            flags |= CH_FLAG_ON_TRIAL;
        }
        if self.last_rejection.is_some() {
            flags |= CH_FLAG_HAS_REJECTION;
        }
        let mut quarantined = [U64::new(0); MAX_QUARANTINED];
        for (dst, src) in quarantined.iter_mut().zip(self.quarantined()) {
            *dst = U64::new(*src);
        }
        let rej = self.last_rejection.unwrap_or(Rejection {
            reason: 0,
            rule: 0,
            offset: 0,
        });
        Ok(ChannelStatusWire {
            channel_id: U32::new(self.channel_id),
            source: self.source.code(),
            flags,
            quarantined_count: self.quarantined_count,
            reserved0: 0,
            active_version: U64::new(self.active_version),
            lkg_version: U64::new(self.lkg_version.unwrap_or(0)),
            trial_attempt: U32::new(self.trial_attempt.unwrap_or(0)),
            reject_reason: U16::new(rej.reason),
            reject_rule: U16::new(rej.rule),
            reject_offset: U64::new(rej.offset),
            quarantined,
            events: U64::new(self.events),
            detections: U64::new(self.detections),
            faults: U64::new(self.faults),
        })
    }

    pub(super) fn from_wire(w: &ChannelStatusWire, at: usize) -> Result<Self, DecodeError> {
        let field = |off: usize| at.saturating_add(off);
        let source = Source::from_code(w.source).ok_or(DecodeError::new(
            DecodeErrorKind::BadEnum,
            "channel.source",
            field(4),
            3,
            u64::from(w.source),
        ))?;
        reserved_zero(
            u64::from(w.flags & !CH_FLAGS_KNOWN),
            "channel.flags",
            field(5),
        )?;
        if usize::from(w.quarantined_count) > MAX_QUARANTINED {
            return Err(DecodeError::new(
                DecodeErrorKind::TooMany,
                "channel.quarantined_count",
                field(6),
                MAX_QUARANTINED as u64,
                u64::from(w.quarantined_count),
            ));
        }
        reserved_zero(u64::from(w.reserved0), "channel.reserved0", field(7))?;
        if source == Source::None {
            reserved_zero(
                w.active_version.get(),
                "channel.active_version (no content)",
                field(8),
            )?;
        }
        let has_lkg = w.flags & CH_FLAG_HAS_LKG != 0;
        if !has_lkg {
            reserved_zero(
                w.lkg_version.get(),
                "channel.lkg_version (no lkg)",
                field(16),
            )?;
        }
        let on_trial = w.flags & CH_FLAG_ON_TRIAL != 0;
        if !on_trial {
            reserved_zero(
                u64::from(w.trial_attempt.get()),
                "channel.trial_attempt (not on trial)",
                field(24),
            )?;
        }
        let has_rej = w.flags & CH_FLAG_HAS_REJECTION != 0;
        if !has_rej {
            reserved_zero(
                u64::from(w.reject_reason.get()),
                "channel.reject_reason (none)",
                field(28),
            )?;
            reserved_zero(
                u64::from(w.reject_rule.get()),
                "channel.reject_rule (none)",
                field(30),
            )?;
            reserved_zero(
                w.reject_offset.get(),
                "channel.reject_offset (none)",
                field(32),
            )?;
        }
        let mut quarantined = [0u64; MAX_QUARANTINED];
        for (i, (dst, src)) in quarantined.iter_mut().zip(w.quarantined.iter()).enumerate() {
            if i < usize::from(w.quarantined_count) {
                *dst = src.get();
            } else {
                reserved_zero(
                    src.get(),
                    "channel.quarantined (unused slot)",
                    field(40usize.saturating_add(i.saturating_mul(8))),
                )?;
            }
        }
        Ok(Self {
            channel_id: w.channel_id.get(),
            source,
            active_version: w.active_version.get(),
            lkg_version: has_lkg.then_some(w.lkg_version.get()),
            trial_attempt: on_trial.then_some(w.trial_attempt.get()),
            last_rejection: has_rej.then_some(Rejection {
                reason: w.reject_reason.get(),
                rule: w.reject_rule.get(),
                offset: w.reject_offset.get(),
            }),
            quarantined,
            quarantined_count: w.quarantined_count,
            events: w.events.get(),
            detections: w.detections.get(),
            faults: w.faults.get(),
        })
    }
}
