//! `IOCTL_QUERY_STATUS` reply: one header, then one fixed record per channel.
//!
//! ```text
//! StatusHeaderWire (56 bytes)   magic "CGST", version, channel_count, total_len,
//!                               driver flags and counters
//! MemoryWire (16 bytes)         version 2 only: memory budget limit, charged
//! ChannelStatusWire (96 bytes)  x channel_count (<= MAX_CHANNELS)
//! ```
//! `total_len` must equal `56 + 16 + 96 * channel_count` (version 2, what
//! [`encode_status`] writes) or `56 + 96 * channel_count` (version 1, still
//! decoded: no memory figures) and the input length.

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::wire::{
    DecodeError, DecodeErrorKind, EncodeError, magic, reserved_zero, take, take_mut,
};

/// `"CGST"`.
pub const STATUS_MAGIC: u32 = magic(*b"CGST");
/// Wire version of the status reply (2: adds [`MemoryWire`], issue 11 finding 9).
pub const STATUS_VERSION: u16 = 2;
/// The previous version, still decoded (no memory figures).
pub const STATUS_VERSION_1: u16 = 1;
/// Most channels a reply can describe.
pub const MAX_CHANNELS: usize = 16;
/// Most quarantined versions listed per channel (the newest ones).
pub const MAX_QUARANTINED: usize = 4;
/// Size of the common reply header (the minimum output buffer).
pub const HEADER_LEN: usize = core::mem::size_of::<StatusHeaderWire>();
/// Size of the version 2 memory block after the header.
pub const MEMORY_LEN: usize = core::mem::size_of::<MemoryWire>();
/// Size of one channel record.
pub const RECORD_LEN: usize = core::mem::size_of::<ChannelStatusWire>();
/// Largest possible reply: the output buffer size the CLI passes.
pub const MAX_REPLY_LEN: usize = HEADER_LEN + MEMORY_LEN + MAX_CHANNELS * RECORD_LEN;

const _: () = assert!(HEADER_LEN == 56);
const _: () = assert!(MEMORY_LEN == 16);
const _: () = assert!(RECORD_LEN == 96);

/// Driver flag: built with `test-hooks` AND `Parameters\TestHooks` = 1.
pub const DRIVER_FLAG_TEST_HOOKS_ARMED: u32 = 1 << 0;
/// Driver flag: the event source (process notify routine) is registered.
pub const DRIVER_FLAG_EVENT_SOURCE: u32 = 1 << 1;
/// Driver flag: the health-window promotion has run this boot.
pub const DRIVER_FLAG_PROMOTION_DONE: u32 = 1 << 2;
/// Driver flag: the registry configuration was unusable and defaults were used.
pub const DRIVER_FLAG_CONFIG_DEFAULTED: u32 = 1 << 3;
/// Driver flag: this is a `test-hooks` build (never for production), armed or not.
pub const DRIVER_FLAG_TEST_HOOKS_BUILD: u32 = 1 << 4;
/// Driver flag: the process table exists, so `parent_image_path` and
/// `parent_command_line` are filled.
pub const DRIVER_FLAG_PROCESS_TABLE: u32 = 1 << 5;
/// Driver flag: the process table was full at least once this boot: some
/// processes were not recorded and their children's `parent_image_path` and
/// `parent_command_line` are empty.
pub const DRIVER_FLAG_PROCESS_TABLE_FULL: u32 = 1 << 6;
const DRIVER_FLAGS_KNOWN: u32 = 0x7F;

const CH_FLAG_HAS_LKG: u8 = 1 << 0;
const CH_FLAG_ON_TRIAL: u8 = 1 << 1;
const CH_FLAG_HAS_REJECTION: u8 = 1 << 2;
const CH_FLAGS_KNOWN: u8 = 0x7;

/// Wire layout of the reply header.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct StatusHeaderWire {
    /// [`STATUS_MAGIC`].
    pub magic: U32,
    /// [`STATUS_VERSION`].
    pub version: U16,
    /// Number of channel records that follow.
    pub channel_count: U16,
    /// Length of the whole reply.
    pub total_len: U32,
    /// `DRIVER_FLAG_*` bits.
    pub flags: U32,
    /// Events handed to the interpreter since load.
    pub events_seen: U64,
    /// Events that matched an instance.
    pub detections: U64,
    /// Interpreter faults (counted, never fatal).
    pub eval_faults: U64,
    /// Completed reloads (boot load included).
    pub reloads: U32,
    /// Reloads that ended in a fallback for at least one channel.
    pub reload_fallbacks: U32,
    /// NTSTATUS of the last platform failure seen by the loader, as its bits (0 = none).
    pub last_platform_status: U32,
    /// Must be zero.
    pub reserved: U32,
}

/// Wire layout of the version 2 memory block: the loader's memory budget
/// (content bytes plus interpreter memory of the active channels).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct MemoryWire {
    /// `MemoryBudgetMiB` in bytes.
    pub budget_limit: U64,
    /// Bytes charged to the active channels (<= `budget_limit`).
    pub budget_charged: U64,
}

/// Wire layout of one channel record.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ChannelStatusWire {
    /// Channel id.
    pub channel_id: U32,
    /// [`Source`] code.
    pub source: u8,
    /// `CH_FLAG_*` bits.
    pub flags: u8,
    /// How many entries of `quarantined` are used.
    pub quarantined_count: u8,
    /// Must be zero.
    pub reserved0: u8,
    /// Version of the active content (0 when `source` is `None`).
    pub active_version: U64,
    /// Version held in the LKG store (0 unless the has-LKG flag is set).
    pub lkg_version: U64,
    /// Trial boot attempt of the candidate on trial (0 when not on trial).
    pub trial_attempt: U32,
    /// Loader's machine-readable reason code of the last rejection.
    pub reject_reason: U16,
    /// Format rule code of the last rejection (0 when not a format rule).
    pub reject_rule: U16,
    /// Byte offset in the rejected file (0 when not applicable).
    pub reject_offset: U64,
    /// Quarantined versions, newest first; unused entries are zero.
    pub quarantined: [U64; MAX_QUARANTINED],
    /// Events evaluated against this channel.
    pub events: U64,
    /// Matches in this channel.
    pub detections: U64,
    /// Interpreter faults in this channel.
    pub faults: U64,
}

/// Where a channel's active content came from: the loader's own type, so the
/// wire codes cannot drift from what the loader decided.
pub use changuard_loader::Source;

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

    fn to_wire(self) -> Result<ChannelStatusWire, EncodeError> {
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

    fn from_wire(w: &ChannelStatusWire, at: usize) -> Result<Self, DecodeError> {
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

/// Exact (version 2) reply length for `channels` channel records, if
/// `channels <= MAX_CHANNELS`.
#[must_use]
pub const fn reply_len(channels: usize) -> Option<usize> {
    reply_len_v(STATUS_VERSION, channels)
}

/// Exact reply length of wire `version` (1 or 2).
const fn reply_len_v(version: u16, channels: usize) -> Option<usize> {
    if channels > MAX_CHANNELS {
        return None;
    }
    let head = if version == STATUS_VERSION_1 {
        HEADER_LEN
    } else {
        HEADER_LEN + MEMORY_LEN
    };
    // Cannot overflow: channels <= 16.
    match RECORD_LEN.checked_mul(channels) {
        Some(r) => head.checked_add(r),
        None => None,
    }
}

/// Encodes a status reply into `out`; returns the number of bytes written.
///
/// # Errors
/// `TooMany` for more than [`MAX_CHANNELS`] channels, `BufferTooSmall` when
/// `out` cannot hold the reply, `TooMany`/`ValueOutOfRange` for a channel whose
/// fields cannot be represented.
pub fn encode_status(
    driver: &DriverStatus,
    channels: &[ChannelStatus],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let total = reply_len(channels.len()).ok_or(EncodeError::TooMany { max: MAX_CHANNELS })?;
    if out.len() < total {
        return Err(EncodeError::BufferTooSmall { needed: total });
    }
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
    let header = StatusHeaderWire {
        magic: U32::new(STATUS_MAGIC),
        version: U16::new(STATUS_VERSION),
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
    Ok(total)
}

/// A decoded, fully validated status reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusReply {
    /// Driver-wide status.
    pub driver: DriverStatus,
    channels: [ChannelStatus; MAX_CHANNELS],
    count: usize,
}

impl StatusReply {
    /// The channel records, in reply order.
    #[must_use]
    pub fn channels(&self) -> &[ChannelStatus] {
        self.channels.get(..self.count).unwrap_or(&[])
    }
}

/// Decodes and validates a status reply.
///
/// Validation order: header length, magic, version (1 or 2), reserved, known
/// flag bits, channel count <= MAX, declared total_len == computed length ==
/// input length, the memory block (version 2: charged <= limit), then each
/// record (enum codes, flags, counts, fields that must be zero).
///
/// # Errors
/// A [`DecodeError`] naming the first rule that fails.
///
/// # Panics
/// Never, for any input.
#[allow(
    clippy::large_stack_arrays,
    clippy::large_stack_frames,
    reason = "user mode only (CLI): the ~1.9 KiB StatusReply by value is the API; \
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
    if version != STATUS_VERSION && version != STATUS_VERSION_1 {
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
    let expected = reply_len_v(version, count).ok_or(DecodeError::new(
        DecodeErrorKind::TooMany,
        "status.channel_count",
        6,
        MAX_CHANNELS as u64,
        count as u64,
    ))?;
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
    if version == STATUS_VERSION {
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
        channels,
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> (DriverStatus, [ChannelStatus; 2]) {
        let d = DriverStatus {
            flags: DRIVER_FLAG_EVENT_SOURCE,
            events_seen: 10,
            detections: 2,
            eval_faults: 0,
            reloads: 1,
            reload_fallbacks: 1,
            last_platform_status: -1_073_741_772,
            memory_budget: 512 << 20,
            memory_charged: 151_519_232,
        };
        let mut a = ChannelStatus::empty(291);
        a.source = Source::Lkg;
        a.active_version = 7;
        a.lkg_version = Some(7);
        a.last_rejection = Some(Rejection {
            reason: 5,
            rule: 12,
            offset: 0x40,
        });
        a.quarantined = [9, 8, 0, 0];
        a.quarantined_count = 2;
        let mut b = ChannelStatus::empty(2);
        b.source = Source::Candidate;
        b.active_version = 3;
        b.trial_attempt = Some(1);
        (d, [a, b])
    }

    #[test]
    fn round_trip_sample() {
        let (d, chans) = sample();
        let mut buf = [0u8; MAX_REPLY_LEN];
        let n = encode_status(&d, &chans, &mut buf).unwrap();
        assert_eq!(n, HEADER_LEN + MEMORY_LEN + 2 * RECORD_LEN);
        let r = decode_status(&buf[..n]).unwrap();
        assert_eq!(r.driver, d);
        assert_eq!(r.channels(), &chans);
        assert_eq!(r.channels()[0].quarantined(), &[9, 8]);
    }

    #[test]
    fn precise_errors() {
        let (d, chans) = sample();
        let mut buf = [0u8; MAX_REPLY_LEN];
        let n = encode_status(&d, &chans, &mut buf).unwrap();
        assert_eq!(
            decode_status(&buf[..n - 1]).unwrap_err().kind,
            DecodeErrorKind::TooShort
        );
        assert_eq!(
            decode_status(&buf[..n + 1]).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        assert_eq!(
            decode_status(&buf[..10]).unwrap_err(),
            DecodeError::new(DecodeErrorKind::TooShort, "status header", 0, 56, 10)
        );
        const R0: usize = HEADER_LEN + MEMORY_LEN;
        let mut bad = buf;
        bad[R0 + 4] = 9; // source of record 0
        let e = decode_status(&bad[..n]).unwrap_err();
        assert_eq!((e.kind, e.offset), (DecodeErrorKind::BadEnum, R0 + 4));
        let mut bad = buf;
        bad[R0 + RECORD_LEN + 40] = 1; // unused quarantine slot of record 1
        let e = decode_status(&bad[..n]).unwrap_err();
        assert_eq!(
            (e.kind, e.offset),
            (DecodeErrorKind::ReservedNonZero, R0 + RECORD_LEN + 40)
        );
        let mut bad = buf;
        bad[HEADER_LEN + 15] = 0xFF; // charged far above the limit
        let e = decode_status(&bad[..n]).unwrap_err();
        assert_eq!(
            (e.kind, e.offset),
            (DecodeErrorKind::TooMany, HEADER_LEN + 8)
        );
        let mut over = d;
        over.memory_charged = over.memory_budget + 1;
        assert_eq!(
            encode_status(&over, &chans, &mut buf),
            Err(EncodeError::ValueOutOfRange {
                what: "driver.memory_charged"
            })
        );
        let mut bad = buf;
        bad[6] = 17; // channel_count
        assert_eq!(
            decode_status(&bad[..n]).unwrap_err().kind,
            DecodeErrorKind::TooMany
        );
        let mut bad = buf;
        bad[8] ^= 1; // total_len
        assert_eq!(
            decode_status(&bad[..n]).unwrap_err().kind,
            DecodeErrorKind::LengthMismatch
        );
        assert_eq!(
            encode_status(&d, &chans, &mut buf[..n - 1]),
            Err(EncodeError::BufferTooSmall { needed: n })
        );
        let many = [ChannelStatus::empty(1); MAX_CHANNELS + 1];
        assert_eq!(
            encode_status(&d, &many, &mut [0u8; 4096]),
            Err(EncodeError::TooMany { max: MAX_CHANNELS })
        );
    }

    /// A version 1 reply (before issue 11 finding 9: no memory block) still
    /// decodes, with the memory figures unknown (0).
    #[test]
    fn version_1_replies_still_decode() {
        let (d, chans) = sample();
        let mut buf = [0u8; MAX_REPLY_LEN];
        let n = encode_status(&d, &chans, &mut buf).unwrap();
        let mut v1 = std::vec::Vec::from(&buf[..HEADER_LEN]);
        v1.extend_from_slice(&buf[HEADER_LEN + MEMORY_LEN..n]);
        v1[4..6].copy_from_slice(&STATUS_VERSION_1.to_le_bytes());
        let len = u32::try_from(v1.len()).unwrap();
        v1[8..12].copy_from_slice(&len.to_le_bytes());
        let r = decode_status(&v1).unwrap();
        let mut want = d;
        (want.memory_budget, want.memory_charged) = (0, 0);
        assert_eq!(r.driver, want);
        assert_eq!(r.channels(), &chans);
        // A version 2 length with a version 1 header is refused.
        let mut bad = buf;
        bad[4..6].copy_from_slice(&STATUS_VERSION_1.to_le_bytes());
        assert_eq!(
            decode_status(&bad[..n]).unwrap_err().kind,
            DecodeErrorKind::LengthMismatch
        );
        bad[4] = 3;
        assert_eq!(
            decode_status(&bad[..n]).unwrap_err().kind,
            DecodeErrorKind::BadVersion
        );
    }

    fn arb_channel() -> impl Strategy<Value = ChannelStatus> {
        (
            any::<u32>(),
            0u8..4,
            any::<u64>(),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u32>()),
            proptest::option::of((any::<u16>(), any::<u16>(), any::<u64>())),
            proptest::array::uniform4(any::<u64>()),
            0u8..=4,
            (any::<u64>(), any::<u64>(), any::<u64>()),
        )
            .prop_map(|(id, src, ver, lkg, trial, rej, q, qn, (ev, det, fl))| {
                let source = Source::from_code(src).unwrap();
                let mut quarantined = [0u64; MAX_QUARANTINED];
                quarantined[..usize::from(qn)].copy_from_slice(&q[..usize::from(qn)]);
                ChannelStatus {
                    channel_id: id,
                    source,
                    active_version: if source == Source::None { 0 } else { ver },
                    lkg_version: lkg,
                    trial_attempt: trial,
                    last_rejection: rej.map(|(reason, rule, offset)| Rejection {
                        reason,
                        rule,
                        offset,
                    }),
                    quarantined,
                    quarantined_count: qn,
                    events: ev,
                    detections: det,
                    faults: fl,
                }
            })
    }

    proptest! {
        #[test]
        fn round_trips(flags in 0u32..=DRIVER_FLAGS_KNOWN, ev in any::<u64>(), st in any::<i32>(), (limit, used) in (any::<u64>(), any::<u64>()), chans in proptest::collection::vec(arb_channel(), 0..=MAX_CHANNELS)) {
            let d = DriverStatus { flags, events_seen: ev, detections: ev / 2, eval_faults: 3, reloads: 4, reload_fallbacks: 1, last_platform_status: st, memory_budget: limit.max(used), memory_charged: limit.min(used) };
            let mut buf = [0u8; MAX_REPLY_LEN];
            let n = encode_status(&d, &chans, &mut buf).unwrap();
            let r = decode_status(&buf[..n]).unwrap();
            prop_assert_eq!(r.driver, d);
            prop_assert_eq!(r.channels(), &chans[..]);
        }

        #[test]
        fn any_bytes_decode_or_fail_precisely(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            match decode_status(&bytes) {
                Ok(r) => prop_assert!(r.channels().len() <= MAX_CHANNELS),
                Err(e) => prop_assert!(e.offset <= bytes.len()),
            }
        }

        #[test]
        fn mutated_replies_never_panic(chans in proptest::collection::vec(arb_channel(), 0..4), pos in any::<usize>(), byte in any::<u8>()) {
            let mut buf = [0u8; MAX_REPLY_LEN];
            let n = encode_status(&DriverStatus::default(), &chans, &mut buf).unwrap();
            buf[pos % n] = byte;
            let _ = decode_status(&buf[..n]);
        }
    }
}
