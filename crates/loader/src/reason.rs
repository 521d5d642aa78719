//! Machine-readable reasons for every loader decision.
//!
//! Codes ([`Reason::code`], [`Reason::name`]) are stable: the driver publishes
//! them under `Parameters\Status` and in `IOCTL_QUERY_STATUS`
//! (`reject_reason`), `changuard driver status --json` and `changuard simulate
//! --json` print the names, and docs/RUNBOOK.md lists them all. New reasons get
//! new codes; codes are never reused.

use changuard_format::Rejection;
use changuard_release::RecordError;

/// Which `Parameters` value a configuration reason is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigKey {
    /// `ContentDirectory` (REG_SZ).
    ContentDirectory,
    /// `Policy` (REG_SZ: `Latest` | `NMinus1` | `Pinned`).
    Policy,
    /// `PinnedVersion` (REG_QWORD/REG_DWORD, global) or `Pinned.<channel>`.
    PinnedVersion,
    /// `MaxTrialBoots` (REG_DWORD).
    MaxTrialBoots,
    /// `HealthWindowSeconds` (REG_DWORD).
    HealthWindowSeconds,
    /// `ClearQuarantine` (REG_DWORD token).
    ClearQuarantine,
    /// `MemoryBudgetMiB` (REG_DWORD).
    MemoryBudgetMiB,
    /// `LatencyBudgetUs` (REG_DWORD).
    LatencyBudgetUs,
    /// `MachineId` (REG_BINARY, 16 bytes).
    MachineId,
    /// `RolloutDelayHours` (REG_DWORD).
    RolloutDelayHours,
}

impl ConfigKey {
    /// Registry value name.
    pub const fn name(self) -> &'static str {
        match self {
            ConfigKey::ContentDirectory => "ContentDirectory",
            ConfigKey::Policy => "Policy",
            ConfigKey::PinnedVersion => "PinnedVersion",
            ConfigKey::MaxTrialBoots => "MaxTrialBoots",
            ConfigKey::HealthWindowSeconds => "HealthWindowSeconds",
            ConfigKey::ClearQuarantine => "ClearQuarantine",
            ConfigKey::MemoryBudgetMiB => "MemoryBudgetMiB",
            ConfigKey::LatencyBudgetUs => "LatencyBudgetUs",
            ConfigKey::MachineId => "MachineId",
            ConfigKey::RolloutDelayHours => "RolloutDelayHours",
        }
    }
}

/// What was wrong with a `Parameters` value (the documented default was used).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigProblem {
    /// Wrong registry type (e.g. REG_EXPAND_SZ or REG_BINARY where REG_SZ is required).
    WrongType,
    /// Data length impossible for the type (odd UTF-16, DWORD not 4 bytes, too long).
    WrongSize,
    /// REG_SZ without a terminating NUL, or with an embedded NUL.
    NotTerminated,
    /// A character outside printable ASCII.
    BadCharacter,
    /// Not an absolute `X:\...` path.
    Relative,
    /// A device or namespace path (`\\.\`, `\\?\`, `\??\`, `\Device\`, UNC).
    DevicePath,
    /// A `.` or `..` path component, or an empty one (`\\`).
    DotDot,
    /// An alternate data stream (`:` beyond the drive letter).
    AlternateStream,
    /// Not under an allowed root.
    OutsideRoots,
    /// A number outside its accepted range.
    OutOfRange,
    /// A keyword that is not one of the accepted ones.
    UnknownKeyword,
    /// Accepted, with a warning (e.g. `MaxTrialBoots = 2`).
    AcceptedWithWarning,
    /// Policy `Pinned` with no usable pinned version for a channel.
    PinMissing,
    /// The registry read itself failed (other than "not set").
    ReadFailed,
}

impl ConfigProblem {
    /// Stable sub-code (the status `reject_rule` slot for config reasons).
    pub const fn code(self) -> u16 {
        match self {
            ConfigProblem::WrongType => 1,
            ConfigProblem::WrongSize => 2,
            ConfigProblem::NotTerminated => 3,
            ConfigProblem::BadCharacter => 4,
            ConfigProblem::Relative => 5,
            ConfigProblem::DevicePath => 6,
            ConfigProblem::DotDot => 7,
            ConfigProblem::AlternateStream => 8,
            ConfigProblem::OutsideRoots => 9,
            ConfigProblem::OutOfRange => 10,
            ConfigProblem::UnknownKeyword => 11,
            ConfigProblem::AcceptedWithWarning => 12,
            ConfigProblem::PinMissing => 13,
            ConfigProblem::ReadFailed => 14,
        }
    }
    /// Stable kebab-case name.
    pub const fn name(self) -> &'static str {
        match self {
            ConfigProblem::WrongType => "wrong-type",
            ConfigProblem::WrongSize => "wrong-size",
            ConfigProblem::NotTerminated => "not-terminated",
            ConfigProblem::BadCharacter => "bad-character",
            ConfigProblem::Relative => "relative-path",
            ConfigProblem::DevicePath => "device-path",
            ConfigProblem::DotDot => "dot-dot",
            ConfigProblem::AlternateStream => "alternate-stream",
            ConfigProblem::OutsideRoots => "outside-allowed-roots",
            ConfigProblem::OutOfRange => "out-of-range",
            ConfigProblem::UnknownKeyword => "unknown-keyword",
            ConfigProblem::AcceptedWithWarning => "accepted-with-warning",
            ConfigProblem::PinMissing => "pin-missing",
            ConfigProblem::ReadFailed => "read-failed",
        }
    }
}

/// Why the loader did what it did. `Copy`, no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    // ---- configuration (1xx) ----
    /// A `Parameters` value was unusable; its documented default was used.
    Config(ConfigKey, ConfigProblem),
    // ---- candidate (2xx) ----
    /// No file in the directory is allowed by the policy (none, all quarantined, all below floor).
    NoCandidate,
    /// The content directory could not be listed.
    DirUnreadable,
    /// The directory had more entries than the loader looks at; the rest were ignored.
    ListingTruncated,
    /// The chosen file is gone or unreadable.
    CandidateUnreadable,
    /// The chosen file is larger than `MAX_FILE_LEN` (nothing was read).
    CandidateTooLarge,
    /// The chosen file failed validation (format rule + offset).
    CandidateRejected(Rejection),
    /// The file name's version differs from the signed header's version.
    NameVersionMismatch,
    /// The pinned version is quarantined (clear the quarantine to retry it).
    PinnedQuarantined,
    /// The pinned version is not in the directory.
    PinnedMissing,
    /// The trial record could not be made durable, so the candidate was not activated.
    TrialNotRecorded,
    /// Candidate activated on trial (attempt in the decision).
    OnTrial,
    /// Candidate activated without trial: it is the LKG version (already proven).
    Proven,
    /// An unfinished trial was found below `MaxTrialBoots`: retried.
    TrialRetried,
    /// An unfinished trial was found at `MaxTrialBoots`: the version is quarantined.
    Quarantined,
    /// An unfinished trial of a version that reached the LKG store: promotion completed at boot.
    PromotionRolledForward,
    /// Operator cleared quarantines (`ClearQuarantine` token changed).
    QuarantineCleared,
    /// An unfinished trial with a counted crash was not continued (a newer
    /// candidate was chosen, or it is gone): the version is quarantined, since its
    /// crash count would otherwise be forgotten (found by the random simulator).
    TrialSuperseded,
    /// An unfinished trial whose last boot ended cleanly (a shutdown the driver
    /// recorded, or a promotion that failed on I/O after the health window) or
    /// that is still running in this boot (`IOCTL_RELOAD`): continued at the
    /// same attempt, not counted as a crash (issue 11 finding 1).
    TrialContinued,
    /// An unfinished trial with no counted crash was not continued (a newer
    /// candidate was chosen, or it is gone): dropped, not quarantined.
    TrialDropped,
    /// A file rejected in an earlier boot, unchanged (same version and content
    /// hash): skipped without being validated again; an older version was tried.
    CandidateKnownRejected,
    /// The last boot did not end cleanly while this channel's content was on
    /// trial: this boot runs the LKG (no new trial); newer candidates wait for
    /// the next boot, so bad versions never crash two boots in a row.
    RecoveryBoot,
    // ---- LKG (3xx) ----
    /// LKG copy activated.
    LkgActivated,
    /// No LKG copy exists.
    LkgMissing,
    /// The LKG copy is unreadable.
    LkgUnreadable,
    /// The LKG copy failed validation.
    LkgRejected(Rejection),
    /// The LKG copy was found under the temp name (interrupted rename) and restored.
    LkgRecoveredFromTemp,
    /// The LKG store holds a valid file that is neither the recorded LKG
    /// (version and content hash) nor the trial being promoted: refused, never
    /// activated and never renamed over the LKG copy (a downgrade, or a stale
    /// temp copy; issue 11 finding 5).
    LkgNotRecorded,
    // ---- golden / none (4xx) ----
    /// Golden content activated.
    GoldenActivated,
    /// No golden content for this channel.
    GoldenMissing,
    /// Golden content failed validation (a build defect).
    GoldenRejected(Rejection),
    /// The channel runs with no content (the sensor still runs).
    NoContent,
    /// This content (candidate, LKG or golden: version in the decision) did
    /// not fit what was left of the memory budget (`MemoryBudgetMiB`, content
    /// plus interpreter memory): not activated, the next step down was tried.
    /// Channels admitted before it are unaffected (issue 11 finding 9).
    OverMemoryBudget,
    /// This content's proven per-event cost bound did not fit what was left
    /// of the active set's cost ceiling (`changuard_format::cost::SET_CEILING`,
    /// summed per template type over the channels admitted before it): not
    /// activated, the next step down was tried (issue 12).
    OverCostCeiling,
    // ---- promotion (5xx) ----
    /// The trial version was copied to the LKG store and the floor raised.
    Promoted,
    /// Promotion failed at a platform step (an LKG store I/O failure). The
    /// health window passed, so the trial is marked as having survived: no boot
    /// counts it as a crash. Promotion is retried (this boot, at most
    /// [`crate::limits::MAX_PROMOTION_TRIES`] times, and at the next boot).
    PromotionFailed,
    /// The interpreter counted a fault against this channel's content during the
    /// health window: it is not promoted, its trial stays open, and the next boot
    /// quarantines it (at `MaxTrialBoots`). Content that passed validation but
    /// still made the interpreter fault is not trusted. Other channels are
    /// promoted normally (promise 3).
    FaultedDuringTrial,
    // ---- state record (6xx) ----
    /// No valid state record slot: started from an empty state.
    StateRecordLost,
    /// One slot was torn or stale; the newest valid one was used.
    StateSlotIgnored,
    /// The state record could not be written (decisions not persisted this boot).
    StateWriteFailed,
    /// More channels with content, state or golden content than
    /// `MAX_CHANNELS`; the rest were ignored. Names in the content directory
    /// alone never count: a channel is admitted with a valid file only.
    TooManyChannels,
    // ---- release records: keyring, rollout, halt (7xx; issue 15) ----
    /// A keyring with a higher version (in the decision) was accepted and
    /// stored: content keys rotate or are revoked from this boot on.
    KeyringAccepted,
    /// The keyring in the content directory failed validation (record rule
    /// and offset); the stored one stays in force.
    KeyringRejected(RecordError),
    /// The keyring in the content directory is older than the one accepted
    /// before (version in the decision): a replay, ignored.
    KeyringRollback,
    /// A keyring was accepted before but no valid copy is left (the private
    /// store was lost): the driver's compiled keys are used until a keyring
    /// at or above the recorded version arrives.
    KeyringUnavailable,
    /// The keyring expired at `since` (Unix seconds): the machine keeps its
    /// current content and starts no new trial until a fresh keyring arrives
    /// (an indefinite freeze is visible, protection is never dropped).
    KeyringStale {
        /// Expiry of the keyring in force.
        since: u64,
    },
    /// No signed release record beside this version: not eligible.
    ReleaseMissing,
    /// This version's release record failed validation (record rule and offset).
    ReleaseRejected(RecordError),
    /// This machine's ring may activate this version only from `at` (Unix
    /// seconds; the customer's `RolloutDelayHours` included).
    NotYetEligible {
        /// When this machine's ring opens.
        at: u64,
    },
    /// The version jumps more than `changuard_release::limits::MAX_VERSION_JUMP`
    /// past the channel's LKG or floor and its release is not flagged
    /// fast-forward: refused.
    VersionJump,
    /// A signed halt covers this version: not activated.
    Halted,
    /// A signed halt covers the version on trial: the trial ends (not
    /// quarantined: nothing crashed) and the LKG runs.
    TrialHalted,
    /// A halt with a higher sequence (in the decision's version) was accepted.
    HaltAccepted,
    /// The halt record failed validation (record rule and offset); the last
    /// accepted halt stays in force.
    HaltRejected(RecordError),
    /// The halt record is older than the one accepted before: ignored.
    HaltRollback,
    /// Content signed by a key the keyring does not allow for this channel
    /// and version (a revoked key: its `max_version` is below it).
    KeyNotAllowed,
    /// The platform has no wall-clock time: no rollout can be timed, so no
    /// new version is activated.
    ClockUnknown,
}

impl Reason {
    /// The validator's rejection behind this reason, if it is one.
    pub const fn rejection(self) -> Option<Rejection> {
        match self {
            Reason::CandidateRejected(r) | Reason::LkgRejected(r) | Reason::GoldenRejected(r) => {
                Some(r)
            }
            _ => None,
        }
    }

    /// The release record rejection behind this reason, if it is one.
    pub const fn record_error(self) -> Option<RecordError> {
        match self {
            Reason::KeyringRejected(e) | Reason::ReleaseRejected(e) | Reason::HaltRejected(e) => {
                Some(e)
            }
            _ => None,
        }
    }

    /// Stable numeric code.
    pub const fn code(self) -> u16 {
        match self {
            Reason::Config(key, _) => match key {
                ConfigKey::ContentDirectory => 101,
                ConfigKey::Policy => 102,
                ConfigKey::PinnedVersion => 103,
                ConfigKey::MaxTrialBoots => 104,
                ConfigKey::HealthWindowSeconds => 105,
                ConfigKey::ClearQuarantine => 106,
                ConfigKey::MemoryBudgetMiB => 107,
                ConfigKey::LatencyBudgetUs => 108,
                ConfigKey::MachineId => 109,
                ConfigKey::RolloutDelayHours => 110,
            },
            Reason::NoCandidate => 201,
            Reason::DirUnreadable => 202,
            Reason::ListingTruncated => 203,
            Reason::CandidateUnreadable => 204,
            Reason::CandidateTooLarge => 205,
            Reason::CandidateRejected(_) => 206,
            Reason::NameVersionMismatch => 207,
            Reason::PinnedQuarantined => 208,
            Reason::PinnedMissing => 209,
            Reason::TrialNotRecorded => 210,
            Reason::OnTrial => 211,
            Reason::Proven => 212,
            Reason::TrialRetried => 213,
            Reason::Quarantined => 214,
            Reason::PromotionRolledForward => 215,
            Reason::QuarantineCleared => 216,
            Reason::TrialSuperseded => 217,
            Reason::TrialContinued => 218,
            Reason::TrialDropped => 219,
            Reason::CandidateKnownRejected => 220,
            Reason::RecoveryBoot => 221,
            Reason::LkgActivated => 301,
            Reason::LkgMissing => 302,
            Reason::LkgUnreadable => 303,
            Reason::LkgRejected(_) => 304,
            Reason::LkgRecoveredFromTemp => 305,
            Reason::LkgNotRecorded => 306,
            Reason::GoldenActivated => 401,
            Reason::GoldenMissing => 402,
            Reason::GoldenRejected(_) => 403,
            Reason::NoContent => 404,
            Reason::OverMemoryBudget => 405,
            Reason::OverCostCeiling => 406,
            Reason::Promoted => 501,
            Reason::PromotionFailed => 502,
            Reason::FaultedDuringTrial => 503,
            Reason::StateRecordLost => 601,
            Reason::StateSlotIgnored => 602,
            Reason::StateWriteFailed => 603,
            Reason::TooManyChannels => 604,
            Reason::KeyringAccepted => 701,
            Reason::KeyringRejected(_) => 702,
            Reason::KeyringRollback => 703,
            Reason::KeyringUnavailable => 704,
            Reason::KeyringStale { .. } => 705,
            Reason::ReleaseMissing => 706,
            Reason::ReleaseRejected(_) => 707,
            Reason::NotYetEligible { .. } => 708,
            Reason::VersionJump => 709,
            Reason::Halted => 710,
            Reason::TrialHalted => 711,
            Reason::HaltAccepted => 712,
            Reason::HaltRejected(_) => 713,
            Reason::HaltRollback => 714,
            Reason::KeyNotAllowed => 715,
            Reason::ClockUnknown => 716,
        }
    }

    /// Stable kebab-case name (`--json`).
    pub const fn name(self) -> &'static str {
        match self {
            Reason::Config(..) => "config-value",
            Reason::NoCandidate => "no-candidate",
            Reason::DirUnreadable => "dir-unreadable",
            Reason::ListingTruncated => "listing-truncated",
            Reason::CandidateUnreadable => "candidate-unreadable",
            Reason::CandidateTooLarge => "candidate-too-large",
            Reason::CandidateRejected(_) => "candidate-rejected",
            Reason::NameVersionMismatch => "name-version-mismatch",
            Reason::PinnedQuarantined => "pinned-quarantined",
            Reason::PinnedMissing => "pinned-missing",
            Reason::TrialNotRecorded => "trial-not-recorded",
            Reason::OnTrial => "on-trial",
            Reason::Proven => "proven",
            Reason::TrialRetried => "trial-retried",
            Reason::Quarantined => "quarantined",
            Reason::PromotionRolledForward => "promotion-rolled-forward",
            Reason::QuarantineCleared => "quarantine-cleared",
            Reason::TrialSuperseded => "trial-superseded",
            Reason::TrialContinued => "trial-continued",
            Reason::TrialDropped => "trial-dropped",
            Reason::CandidateKnownRejected => "candidate-known-rejected",
            Reason::RecoveryBoot => "recovery-boot",
            Reason::LkgActivated => "lkg-activated",
            Reason::LkgMissing => "lkg-missing",
            Reason::LkgUnreadable => "lkg-unreadable",
            Reason::LkgRejected(_) => "lkg-rejected",
            Reason::LkgRecoveredFromTemp => "lkg-recovered-from-temp",
            Reason::LkgNotRecorded => "lkg-not-recorded",
            Reason::GoldenActivated => "golden-activated",
            Reason::GoldenMissing => "golden-missing",
            Reason::GoldenRejected(_) => "golden-rejected",
            Reason::NoContent => "no-content",
            Reason::OverMemoryBudget => "over-memory-budget",
            Reason::OverCostCeiling => "over-cost-ceiling",
            Reason::Promoted => "promoted",
            Reason::PromotionFailed => "promotion-failed",
            Reason::FaultedDuringTrial => "faulted-during-trial",
            Reason::StateRecordLost => "state-record-lost",
            Reason::StateSlotIgnored => "state-slot-ignored",
            Reason::StateWriteFailed => "state-write-failed",
            Reason::TooManyChannels => "too-many-channels",
            Reason::KeyringAccepted => "keyring-accepted",
            Reason::KeyringRejected(_) => "keyring-rejected",
            Reason::KeyringRollback => "keyring-rollback",
            Reason::KeyringUnavailable => "keyring-unavailable",
            Reason::KeyringStale { .. } => "keyring-stale",
            Reason::ReleaseMissing => "release-missing",
            Reason::ReleaseRejected(_) => "release-rejected",
            Reason::NotYetEligible { .. } => "not-yet-eligible",
            Reason::VersionJump => "version-jump",
            Reason::Halted => "halted",
            Reason::TrialHalted => "trial-halted",
            Reason::HaltAccepted => "halt-accepted",
            Reason::HaltRejected(_) => "halt-rejected",
            Reason::HaltRollback => "halt-rollback",
            Reason::KeyNotAllowed => "key-not-allowed",
            Reason::ClockUnknown => "clock-unknown",
        }
    }

    /// Detail sub-code: the format rule id for rejections, the config problem code
    /// for config reasons, else 0 (status `reject_rule`).
    pub const fn detail(self) -> u16 {
        match self {
            Reason::Config(_, p) => p.code(),
            Reason::CandidateRejected(r) | Reason::LkgRejected(r) | Reason::GoldenRejected(r) => {
                r.rule.id()
            }
            Reason::KeyringRejected(e) | Reason::ReleaseRejected(e) | Reason::HaltRejected(e) => {
                e.rule.code()
            }
            _ => 0,
        }
    }

    /// Byte offset for rejections (channel file or release record), the
    /// time for `keyring-stale` (expiry) and `not-yet-eligible` (when the
    /// ring opens), else 0 (status `reject_offset`).
    pub const fn offset(self) -> u64 {
        match self {
            Reason::CandidateRejected(r) | Reason::LkgRejected(r) | Reason::GoldenRejected(r) => {
                r.offset
            }
            Reason::KeyringRejected(e) | Reason::ReleaseRejected(e) | Reason::HaltRejected(e) => {
                e.offset
            }
            Reason::KeyringStale { since } => since,
            Reason::NotYetEligible { at } => at,
            _ => 0,
        }
    }

    /// True when this reason is a step down the fallback chain or a fault (as
    /// opposed to a normal activation or bookkeeping decision).
    pub const fn is_problem(self) -> bool {
        !matches!(
            self,
            Reason::OnTrial
                | Reason::Proven
                | Reason::LkgActivated
                | Reason::GoldenActivated
                | Reason::Promoted
                | Reason::QuarantineCleared
                | Reason::PromotionRolledForward
                | Reason::TrialContinued
                | Reason::TrialDropped
                | Reason::KeyringAccepted
                | Reason::HaltAccepted
                | Reason::NotYetEligible { .. }
        )
    }
}

/// One recorded decision: the channel (0 for driver-wide decisions such as
/// configuration), the version it concerns (0 if none), the trial attempt
/// (0 if none) and the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Channel id, or 0.
    pub channel: u32,
    /// Content version concerned, or 0.
    pub version: u64,
    /// Trial attempt, or 0.
    pub attempt: u32,
    /// Why.
    pub reason: Reason,
}

impl core::fmt::Display for Reason {
    /// The stable name, then the detail an operator needs: the registry value
    /// and problem for configuration reasons, the rule and offset for rejections.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())?;
        match *self {
            Reason::Config(key, problem) => write!(f, ": {} {}", key.name(), problem.name()),
            Reason::KeyringStale { since } => write!(f, ": stale since {since} (Unix seconds)"),
            Reason::NotYetEligible { at } => write!(f, ": eligible at {at} (Unix seconds)"),
            _ => match (self.rejection(), self.record_error()) {
                (Some(r), _) => write!(f, ": {r}"),
                (None, Some(e)) => write!(f, ": {e}"),
                (None, None) => Ok(()),
            },
        }
    }
}
