//! The recent loader decisions of a status reply, and the names of their
//! reason codes.

use changuard_loader::Reason;
use zerocopy::byteorder::little_endian::{U16, U32, U64};

use super::{
    DECISION_FLAG_LOGGED, DECISION_FLAG_OPERATOR_EVENT, DECISION_FLAGS_KNOWN, DecisionWire,
};
use crate::wire::{DecodeError, EncodeError, reserved_zero};

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

    pub(super) fn to_wire(self) -> Result<DecisionWire, EncodeError> {
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

    pub(super) fn from_wire(w: &DecisionWire, at: usize) -> Result<Self, DecodeError> {
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
pub(super) fn reason_of_code(code: u16) -> Option<Reason> {
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
