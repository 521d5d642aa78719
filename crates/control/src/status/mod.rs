//! `IOCTL_QUERY_STATUS` reply: one header, then one fixed record per channel,
//! then (version 3) the most recent loader decisions.
//!
//! ```text
//! StatusHeaderWire (56 bytes)   magic "CGST", version, channel_count, total_len,
//!                               driver flags and counters
//! MemoryWire (16 bytes)         versions 2 and 3: memory budget limit, charged
//! ChannelStatusWire (96 bytes)  x channel_count (<= MAX_CHANNELS)
//! DecisionsWire (8 bytes)       version 3 only: decision_count, recorded
//! DecisionWire (48 bytes)       x decision_count (<= MAX_DECISIONS), oldest first
//! ```
//! `total_len` must equal the input length and
//! `56 + 16 + 96 * channel_count + 8 + 48 * decision_count` (version 3, what
//! [`encode_status`] writes when the buffer holds it),
//! `56 + 16 + 96 * channel_count` (version 2: no decisions; [`encode_status`]
//! writes it into a buffer sized for version 2, an older CLI's) or
//! `56 + 96 * channel_count` (version 1, still decoded: no memory figures).

mod channel;
mod decision;
mod decode;
mod encode;

pub use channel::{ChannelStatus, DriverStatus, Rejection};
pub use decision::{DecisionRecord, reason_name};
pub use decode::{StatusReply, decode_status};
pub use encode::{Decisions, encode_status, reply_len};

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::wire::magic;

/// `"CGST"`.
pub const STATUS_MAGIC: u32 = magic(*b"CGST");
/// Wire version of the status reply (3: adds the recent decisions, issue 15).
pub const STATUS_VERSION: u16 = 3;
/// Version 2 (adds [`MemoryWire`], issue 11 finding 9): still decoded, and
/// written into a buffer too small for version 3 (no decisions).
pub const STATUS_VERSION_2: u16 = 2;
/// The first version, still decoded (no memory figures, no decisions).
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
/// Most loader decisions a reply lists (the newest ones; the driver keeps this many).
pub const MAX_DECISIONS: usize = 32;
/// Size of the version 3 decisions block header.
pub const DECISIONS_LEN: usize = core::mem::size_of::<DecisionsWire>();
/// Size of one decision record.
pub const DECISION_LEN: usize = core::mem::size_of::<DecisionWire>();
/// Largest version 2 reply (no decisions).
pub const MAX_REPLY_LEN_V2: usize = HEADER_LEN + MEMORY_LEN + MAX_CHANNELS * RECORD_LEN;
/// Largest possible reply: the output buffer size the CLI passes.
pub const MAX_REPLY_LEN: usize = MAX_REPLY_LEN_V2 + DECISIONS_LEN + MAX_DECISIONS * DECISION_LEN;

const _: () = assert!(HEADER_LEN == 56);
const _: () = assert!(MEMORY_LEN == 16);
const _: () = assert!(RECORD_LEN == 96);
const _: () = assert!(DECISIONS_LEN == 8);
const _: () = assert!(DECISION_LEN == 48);
const _: () = assert!(MAX_REPLY_LEN == 3152);

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

/// Wire layout of the version 3 decisions block header.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct DecisionsWire {
    /// Number of decision records that follow (<= [`MAX_DECISIONS`]).
    pub count: U16,
    /// Must be zero.
    pub reserved: U16,
    /// Decisions recorded since the driver loaded (>= `count`; the older
    /// ones were dropped from the driver's ring).
    pub recorded: U32,
}

/// Decision flag: the decision was written to the System event log.
pub const DECISION_FLAG_LOGGED: u8 = 1 << 0;
/// Decision flag: the decision is an operator event (docs/DRIVER.md
/// "Operator events"), whether or not the log write succeeded.
pub const DECISION_FLAG_OPERATOR_EVENT: u8 = 1 << 1;
const DECISION_FLAGS_KNOWN: u8 = 0x3;

/// Wire layout of one loader decision.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct DecisionWire {
    /// Wall-clock time of the decision, Unix seconds (0: unknown).
    pub time: U64,
    /// Content version concerned (0 if none).
    pub version: U64,
    /// The reason's offset: a byte offset for rejections, a time (Unix
    /// seconds) for `keyring-stale` and `not-yet-eligible`, else 0.
    pub offset: U64,
    /// Channel id (0: driver-wide).
    pub channel: U32,
    /// Trial attempt (0 if none).
    pub attempt: U32,
    /// Sequence number since the driver loaded (1 = the first decision).
    pub seq: U32,
    /// The loader's reason code.
    pub reason: U16,
    /// The reason's detail (format or record rule, configuration problem).
    pub detail: U16,
    /// `DECISION_FLAG_*` bits.
    pub flags: u8,
    /// Must be zero.
    pub reserved0: u8,
    /// Must be zero.
    pub reserved1: U16,
    /// Must be zero.
    pub reserved2: U32,
}

/// Where a channel's active content came from: the loader's own type, so the
/// wire codes cannot drift from what the loader decided.
pub use changuard_loader::Source;

#[cfg(test)]
mod tests;
