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

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::wire::{
    DecodeError, DecodeErrorKind, EncodeError, magic, reserved_zero, take, take_mut,
};

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

/// One loader decision, as the driver recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct DecisionRecord {
    /// Wall-clock time, Unix seconds (0: the driver had no clock).
    pub time: u64,
    /// Channel id (0: driver-wide, e.g. configuration).
    pub channel: u32,
    /// Content version concerned (0 if none).
    pub version: u64,
    /// Trial attempt (0 if none).
    pub attempt: u32,
    /// The loader's reason code (`changuard_loader::Reason::code`; [`reason_name`]).
    pub reason: u16,
    /// The reason's detail (`Reason::detail`).
    pub detail: u16,
    /// The reason's offset (`Reason::offset`).
    pub offset: u64,
    /// Sequence number since the driver loaded (1 = first).
    pub seq: u32,
    /// `DECISION_FLAG_*` bits.
    pub flags: u8,
}

impl DecisionRecord {
    /// Whether the decision was written to the System event log.
    #[must_use]
    pub const fn logged(&self) -> bool {
        self.flags & DECISION_FLAG_LOGGED != 0
    }

    /// Whether the decision is an operator event.
    #[must_use]
    pub const fn operator_event(&self) -> bool {
        self.flags & DECISION_FLAG_OPERATOR_EVENT != 0
    }

    fn to_wire(self) -> Result<DecisionWire, EncodeError> {
        if self.flags & !DECISION_FLAGS_KNOWN != 0 {
            return Err(EncodeError::ValueOutOfRange {
                what: "decision.flags",
            });
        }
        Ok(DecisionWire {
            time: U64::new(self.time),
            version: U64::new(self.version),
            offset: U64::new(self.offset),
            channel: U32::new(self.channel),
            attempt: U32::new(self.attempt),
            seq: U32::new(self.seq),
            reason: U16::new(self.reason),
            detail: U16::new(self.detail),
            flags: self.flags,
            reserved0: 0,
            reserved1: U16::new(0),
            reserved2: U32::new(0),
        })
    }

    fn from_wire(w: &DecisionWire, at: usize) -> Result<Self, DecodeError> {
        let field = |off: usize| at.saturating_add(off);
        reserved_zero(
            u64::from(w.flags & !DECISION_FLAGS_KNOWN),
            "decision.flags",
            field(40),
        )?;
        reserved_zero(u64::from(w.reserved0), "decision.reserved0", field(41))?;
        reserved_zero(
            u64::from(w.reserved1.get()),
            "decision.reserved1",
            field(42),
        )?;
        reserved_zero(
            u64::from(w.reserved2.get()),
            "decision.reserved2",
            field(44),
        )?;
        Ok(Self {
            time: w.time.get(),
            channel: w.channel.get(),
            version: w.version.get(),
            attempt: w.attempt.get(),
            reason: w.reason.get(),
            detail: w.detail.get(),
            offset: w.offset.get(),
            seq: w.seq.get(),
            flags: w.flags,
        })
    }
}

/// The stable kebab-case name of a loader reason code (the names of
/// `changuard_loader::Reason::name`, which stays the only place they are
/// spelled), or `None` for a code this build does not know (a newer driver).
/// The decision ring carries codes; the CLI prints names.
#[must_use]
pub fn reason_name(code: u16) -> Option<&'static str> {
    reason_of_code(code)
        .filter(|r| r.code() == code)
        .map(Reason::name)
}

/// A representative loader `Reason` for `code` (payloads are placeholders:
/// only `code()` and `name()` are used).
fn reason_of_code(code: u16) -> Option<Reason> {
    use changuard_loader::reason::{ConfigKey as K, ConfigProblem as P};
    let rej = Rejection0::rejection();
    let rec = Rejection0::record();
    Some(match code {
        101 => Reason::Config(K::ContentDirectory, P::WrongType),
        102 => Reason::Config(K::Policy, P::WrongType),
        103 => Reason::Config(K::PinnedVersion, P::WrongType),
        104 => Reason::Config(K::MaxTrialBoots, P::WrongType),
        105 => Reason::Config(K::HealthWindowSeconds, P::WrongType),
        106 => Reason::Config(K::ClearQuarantine, P::WrongType),
        107 => Reason::Config(K::MemoryBudgetMiB, P::WrongType),
        108 => Reason::Config(K::LatencyBudgetUs, P::WrongType),
        109 => Reason::Config(K::MachineId, P::WrongType),
        110 => Reason::Config(K::RolloutDelayHours, P::WrongType),
        201 => Reason::NoCandidate,
        202 => Reason::DirUnreadable,
        203 => Reason::ListingTruncated,
        204 => Reason::CandidateUnreadable,
        205 => Reason::CandidateTooLarge,
        206 => Reason::CandidateRejected(rej),
        207 => Reason::NameVersionMismatch,
        208 => Reason::PinnedQuarantined,
        209 => Reason::PinnedMissing,
        210 => Reason::TrialNotRecorded,
        211 => Reason::OnTrial,
        212 => Reason::Proven,
        213 => Reason::TrialRetried,
        214 => Reason::Quarantined,
        215 => Reason::PromotionRolledForward,
        216 => Reason::QuarantineCleared,
        217 => Reason::TrialSuperseded,
        218 => Reason::TrialContinued,
        219 => Reason::TrialDropped,
        220 => Reason::CandidateKnownRejected,
        221 => Reason::RecoveryBoot,
        301 => Reason::LkgActivated,
        302 => Reason::LkgMissing,
        303 => Reason::LkgUnreadable,
        304 => Reason::LkgRejected(rej),
        305 => Reason::LkgRecoveredFromTemp,
        306 => Reason::LkgNotRecorded,
        401 => Reason::GoldenActivated,
        402 => Reason::GoldenMissing,
        403 => Reason::GoldenRejected(rej),
        404 => Reason::NoContent,
        405 => Reason::OverMemoryBudget,
        406 => Reason::OverCostCeiling,
        501 => Reason::Promoted,
        502 => Reason::PromotionFailed,
        503 => Reason::FaultedDuringTrial,
        601 => Reason::StateRecordLost,
        602 => Reason::StateSlotIgnored,
        603 => Reason::StateWriteFailed,
        604 => Reason::TooManyChannels,
        701 => Reason::KeyringAccepted,
        702 => Reason::KeyringRejected(rec),
        703 => Reason::KeyringRollback,
        704 => Reason::KeyringUnavailable,
        705 => Reason::KeyringStale { since: 0 },
        706 => Reason::ReleaseMissing,
        707 => Reason::ReleaseRejected(rec),
        708 => Reason::NotYetEligible { at: 0 },
        709 => Reason::VersionJump,
        710 => Reason::Halted,
        711 => Reason::TrialHalted,
        712 => Reason::HaltAccepted,
        713 => Reason::HaltRejected(rec),
        714 => Reason::HaltRollback,
        715 => Reason::KeyNotAllowed,
        716 => Reason::ClockUnknown,
        _ => return None,
    })
}

/// Placeholder payloads for [`reason_of_code`].
struct Rejection0;

impl Rejection0 {
    fn rejection() -> changuard_format::Rejection {
        changuard_format::Rejection {
            rule: changuard_format::Rule::TooShort,
            offset: 0,
            template: None,
            instance: None,
            field: None,
            expected: 0,
            found: 0,
        }
    }

    fn record() -> changuard_release::RecordError {
        changuard_release::RecordError {
            rule: changuard_release::RecordRule::TooShort,
            offset: 0,
            values: None,
        }
    }
}

use changuard_loader::Reason;

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
const fn reply_len_v(version: u16, channels: usize) -> Option<usize> {
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
        let n = encode_status(&d, &chans, Decisions::default(), &mut buf).unwrap();
        assert_eq!(n, HEADER_LEN + MEMORY_LEN + 2 * RECORD_LEN + DECISIONS_LEN);
        let r = decode_status(&buf[..n]).unwrap();
        assert_eq!(r.driver, d);
        assert_eq!(r.channels(), &chans);
        assert_eq!(r.channels()[0].quarantined(), &[9, 8]);
    }

    #[test]
    fn precise_errors() {
        let (d, chans) = sample();
        let mut buf = [0u8; MAX_REPLY_LEN];
        let n = encode_status(&d, &chans, Decisions::default(), &mut buf).unwrap();
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
            encode_status(&over, &chans, Decisions::default(), &mut buf),
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
        // Below the version 3 length a version 2 reply is written; below that, nothing.
        let v2 = n - DECISIONS_LEN;
        assert_eq!(
            encode_status(&d, &chans, Decisions::default(), &mut buf[..n - 1]),
            Ok(v2)
        );
        assert_eq!(
            encode_status(&d, &chans, Decisions::default(), &mut buf[..v2 - 1]),
            Err(EncodeError::BufferTooSmall { needed: n })
        );
        let many = [ChannelStatus::empty(1); MAX_CHANNELS + 1];
        assert_eq!(
            encode_status(&d, &many, Decisions::default(), &mut [0u8; 4096]),
            Err(EncodeError::TooMany { max: MAX_CHANNELS })
        );
    }

    /// A version 1 reply (before issue 11 finding 9: no memory block) still
    /// decodes, with the memory figures unknown (0).
    #[test]
    fn version_1_replies_still_decode() {
        let (d, chans) = sample();
        // A buffer too small for version 3 gets version 2 (no decisions block).
        let mut buf = [0u8; MAX_REPLY_LEN_V2];
        let v2 = HEADER_LEN + MEMORY_LEN + 2 * RECORD_LEN;
        let n = encode_status(&d, &chans, Decisions::default(), &mut buf[..v2]).unwrap();
        assert_eq!(n, HEADER_LEN + MEMORY_LEN + 2 * RECORD_LEN);
        assert_eq!(decode_status(&buf[..n]).unwrap().version, STATUS_VERSION_2);
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
        bad[4] = 4;
        assert_eq!(
            decode_status(&bad[..n]).unwrap_err().kind,
            DecodeErrorKind::BadVersion
        );
    }

    fn decision(seq: u32, reason: u16) -> DecisionRecord {
        DecisionRecord {
            time: 1_767_225_600 + u64::from(seq),
            channel: 291,
            version: 7,
            attempt: 2,
            reason,
            detail: 0,
            offset: 0,
            seq,
            flags: DECISION_FLAG_LOGGED | DECISION_FLAG_OPERATOR_EVENT,
        }
    }

    /// Version 3: the decisions round-trip after the channel records, and a
    /// buffer sized for version 2 (an older CLI) gets version 2 without them.
    #[test]
    fn decisions_round_trip_and_fall_back_to_version_2() {
        let (d, chans) = sample();
        let recs = [decision(40, 711), decision(41, 206)];
        let list = Decisions {
            records: &recs,
            recorded: 41,
        };
        let mut buf = [0u8; MAX_REPLY_LEN];
        let n = encode_status(&d, &chans, list, &mut buf).unwrap();
        assert_eq!(n, reply_len(2, 2).unwrap());
        let r = decode_status(&buf[..n]).unwrap();
        assert_eq!(r.version, STATUS_VERSION);
        assert_eq!(r.decisions(), &recs);
        assert_eq!(r.decisions_recorded, 41);
        assert_eq!(r.decision_list(), list);
        assert!(r.decisions()[0].logged() && r.decisions()[0].operator_event());
        let v2 = HEADER_LEN + MEMORY_LEN + 2 * RECORD_LEN;
        let mut small = [0u8; MAX_REPLY_LEN_V2];
        let m = encode_status(&d, &chans, list, &mut small[..n - 1]).unwrap();
        assert_eq!(m, v2);
        let r2 = decode_status(&small[..m]).unwrap();
        assert_eq!((r2.version, r2.decisions().len()), (STATUS_VERSION_2, 0));
        assert_eq!(r2.channels(), &chans);
        assert_eq!(
            encode_status(&d, &chans, list, &mut small[..m - 1]),
            Err(EncodeError::BufferTooSmall { needed: n })
        );
        // More records than recorded, or than the wire holds, is refused.
        let bad = Decisions {
            records: &recs,
            recorded: 1,
        };
        assert_eq!(
            encode_status(&d, &chans, bad, &mut buf),
            Err(EncodeError::ValueOutOfRange {
                what: "decisions.recorded"
            })
        );
        let many = [decision(1, 211); MAX_DECISIONS + 1];
        let over = Decisions {
            records: &many,
            recorded: 99,
        };
        assert_eq!(
            encode_status(&d, &chans, over, &mut [0u8; 8192]),
            Err(EncodeError::TooMany { max: MAX_DECISIONS })
        );
    }

    #[test]
    fn decision_decode_errors_are_precise() {
        let (d, chans) = sample();
        let recs = [decision(1, 501)];
        let list = Decisions {
            records: &recs,
            recorded: 1,
        };
        let mut buf = [0u8; MAX_REPLY_LEN];
        let n = encode_status(&d, &chans, list, &mut buf).unwrap();
        let block = HEADER_LEN + MEMORY_LEN + 2 * RECORD_LEN;
        let rec = block + DECISIONS_LEN;
        let mut bad = buf;
        bad[block] = 2; // count 2: the declared length no longer matches
        assert_eq!(
            decode_status(&bad[..n]).unwrap_err().kind,
            DecodeErrorKind::TooMany,
            "count above recorded"
        );
        bad[block + 4] = 9; // recorded 9
        let e = decode_status(&bad[..n]).unwrap_err();
        assert_eq!((e.kind, e.offset), (DecodeErrorKind::LengthMismatch, 8));
        let mut bad = buf;
        bad[block] = 33;
        bad[block + 4] = 40;
        let e = decode_status(&bad[..n]).unwrap_err();
        assert_eq!((e.kind, e.offset), (DecodeErrorKind::TooMany, block));
        let mut bad = buf;
        bad[block + 2] = 1;
        let e = decode_status(&bad[..n]).unwrap_err();
        assert_eq!(
            (e.kind, e.offset),
            (DecodeErrorKind::ReservedNonZero, block + 2)
        );
        for (off, what) in [
            (40, "decision.flags"),
            (41, "decision.reserved0"),
            (42, "decision.reserved1"),
            (44, "decision.reserved2"),
        ] {
            let mut bad = buf;
            bad[rec + off] = 0x80;
            let e = decode_status(&bad[..n]).unwrap_err();
            assert_eq!(
                (e.kind, e.offset, e.what),
                (DecodeErrorKind::ReservedNonZero, rec + off, what)
            );
        }
        // Cut inside the decisions block header.
        let e = decode_status(&buf[..block + 3]).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TooShort);
    }

    /// Every code the loader defines has its name, and the names are the loader's.
    #[test]
    fn reason_names_are_the_loaders() {
        use changuard_loader::Reason;
        assert_eq!(reason_name(711), Some(Reason::TrialHalted.name()));
        assert_eq!(reason_name(211), Some("on-trial"));
        assert_eq!(reason_name(705), Some("keyring-stale"));
        assert_eq!(reason_name(104), Some("config-value"));
        assert_eq!(reason_name(206), Some("candidate-rejected"));
        assert_eq!(reason_name(713), Some("halt-rejected"));
        assert_eq!(reason_name(0), None);
        assert_eq!(reason_name(799), None);
        let mut known = 0;
        for code in 0..=u16::MAX {
            if let Some(r) = reason_of_code(code) {
                assert_eq!(r.code(), code, "placeholder for {code} has another code");
                assert_eq!(reason_name(code), Some(r.name()));
                known += 1;
            }
        }
        assert_eq!(
            known, 66,
            "a reason code was added or removed: update reason_of_code"
        );
    }

    fn arb_decision() -> impl Strategy<Value = DecisionRecord> {
        (
            (any::<u64>(), any::<u32>(), any::<u64>(), any::<u32>()),
            (any::<u16>(), any::<u16>(), any::<u64>(), any::<u32>()),
            0u8..=DECISION_FLAGS_KNOWN,
        )
            .prop_map(
                |((time, channel, version, attempt), (reason, detail, offset, seq), flags)| {
                    DecisionRecord {
                        time,
                        channel,
                        version,
                        attempt,
                        reason,
                        detail,
                        offset,
                        seq,
                        flags,
                    }
                },
            )
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
            let n = encode_status(&d, &chans, Decisions::default(), &mut buf).unwrap();
            let r = decode_status(&buf[..n]).unwrap();
            prop_assert_eq!(r.driver, d);
            prop_assert_eq!(r.channels(), &chans[..]);
        }

        #[test]
        fn round_trips_with_decisions(chans in proptest::collection::vec(arb_channel(), 0..=MAX_CHANNELS), recs in proptest::collection::vec(arb_decision(), 0..=MAX_DECISIONS), extra in 0u32..1000) {
            let list = Decisions { records: &recs, recorded: u32::try_from(recs.len()).unwrap() + extra };
            let mut buf = [0u8; MAX_REPLY_LEN];
            let n = encode_status(&DriverStatus::default(), &chans, list, &mut buf).unwrap();
            prop_assert_eq!(n, reply_len(chans.len(), recs.len()).unwrap());
            let r = decode_status(&buf[..n]).unwrap();
            prop_assert_eq!(r.channels(), &chans[..]);
            prop_assert_eq!(r.decision_list(), list);
        }

        #[test]
        fn mutated_decisions_never_panic(recs in proptest::collection::vec(arb_decision(), 0..=MAX_DECISIONS), pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
            let list = Decisions { records: &recs, recorded: u32::try_from(recs.len()).unwrap() };
            let mut buf = [0u8; MAX_REPLY_LEN];
            let n = encode_status(&DriverStatus::default(), &[], list, &mut buf).unwrap();
            buf[pos % n] = byte;
            match decode_status(&buf[..n]) {
                Ok(r) => prop_assert!(r.decisions().len() <= MAX_DECISIONS && r.decisions().len() as u64 <= u64::from(r.decisions_recorded)),
                Err(e) => prop_assert!(e.offset <= n),
            }
            let cut = cut % (n + 1);
            if let Err(e) = decode_status(&buf[..cut]) {
                prop_assert!(e.offset <= n);
            }
        }

        #[test]
        fn any_bytes_decode_or_fail_precisely(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            match decode_status(&bytes) {
                Ok(r) => prop_assert!(r.channels().len() <= MAX_CHANNELS),
                Err(e) => prop_assert!(e.offset <= bytes.len()),
            }
        }

        #[test]
        fn mutated_replies_never_panic(chans in proptest::collection::vec(arb_channel(), 0..4), pos in any::<usize>(), byte in any::<u8>()) {
            let mut buf = [0u8; MAX_REPLY_LEN];
            let n = encode_status(&DriverStatus::default(), &chans, Decisions::default(), &mut buf).unwrap();
            buf[pos % n] = byte;
            let _ = decode_status(&buf[..n]);
        }
    }
}
