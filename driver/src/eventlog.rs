//! Operator events in the System event log, through the I/O manager's error
//! log (`IoAllocateErrorLogEntry` / `IoWriteErrorLogEntry`): readable with
//! `Get-WinEvent`, `wevtutil` and Event Viewer, no manifest, no ETW session.
//! Why this channel and not ETW: docs/DRIVER.md "Operator events".
//!
//! One entry per loader decision that is an operator event ([`operator_event`]:
//! activation, trial start, promotion, fallback, quarantine, halt, rejection,
//! staleness). Written only from `Platform::report` (platform.rs), i.e. inside
//! a loader run at `PASSIVE_LEVEL` (`DriverEntry`, `IOCTL_RELOAD`, the promotion
//! timer, end of boot), never on the event path. Both calls are documented for
//! `IRQL <= DISPATCH_LEVEL`.
//!
//! The entry: `ErrorCode` = severity | customer bit | `FACILITY_IO_ERROR_CODE`
//! | reason code, so the event's Id is the loader's reason code (711 =
//! `trial-halted`) and its level is Information, Warning or Error. Insertion
//! strings (%2..%5; %1 is the driver's name, added by the I/O manager):
//! `channel <id>`, `v<version>`, the reason name, and the detail (`rule <r> at
//! <offset>`, `since <unix>`, `at <unix>`, `<value> <problem>`, `attempt <n>`
//! or `-`). `UniqueErrorValue` is the channel, `SequenceNumber` the decision's
//! sequence number (the status ring's `seq`), `DeviceOffset` the reason's
//! offset. The message file is `IoLogMsg.dll` (the INF registers the source),
//! which has no text for these ids: the viewer shows the strings as "the
//! following information was included with the event".
//!
//! Bounded: one entry of at most `ERROR_LOG_LIMIT_SIZE` (240) bytes per
//! decision, each string cut to its share; no stack buffer (the strings are
//! written straight into the entry), no allocation of ours.

use core::sync::atomic::{AtomicPtr, Ordering};

use changuard_loader::reason::{Decision, Reason};
use wdk_sys::{
    DRIVER_OBJECT, ERROR_LOG_LIMIT_SIZE, FACILITY_IO_ERROR_CODE, IO_ERROR_LOG_PACKET,
    ntddk::{IoAllocateErrorLogEntry, IoWriteErrorLogEntry},
};

/// The driver object the entries are logged for (its name is the event source).
static SOURCE: AtomicPtr<DRIVER_OBJECT> = AtomicPtr::new(core::ptr::null_mut());

/// Sets the driver object entries are logged for (`DriverEntry`, before the
/// first load). Null: nothing is logged.
pub fn set_source(driver: *mut DRIVER_OBJECT) {
    SOURCE.store(driver, Ordering::Release);
}

/// Event level of an operator event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Activation, trial start, promotion, accepted records.
    Information,
    /// Fallback, rejection of a candidate, staleness, halts.
    Warning,
    /// Quarantine, no content, a damaged store, rejected release records.
    Error,
}

impl Level {
    /// The NTSTATUS severity bits.
    const fn severity(self) -> u32 {
        match self {
            Level::Information => 0x4000_0000,
            Level::Warning => 0x8000_0000,
            Level::Error => 0xC000_0000,
        }
    }
}

/// Whether a decision is an operator event, and its level. The table in
/// docs/DRIVER.md "Operator events" is this function; a reason not listed
/// (bookkeeping, or one added to the loader later) is kept in the status ring
/// only.
#[must_use]
pub const fn operator_event(reason: Reason) -> Option<Level> {
    Some(match reason {
        // Activation and trial start; promotion; quarantines cleared; release
        // records accepted; a rollout waiting for this machine's ring.
        Reason::OnTrial
        | Reason::Proven
        | Reason::Promoted
        | Reason::PromotionRolledForward
        | Reason::QuarantineCleared
        | Reason::KeyringAccepted
        | Reason::HaltAccepted
        | Reason::NotYetEligible { .. } => Level::Information,
        // A retried trial (the last boot crashed on it) or a recovery boot; a
        // failed promotion; fallback to the LKG or golden copy; a rejected
        // candidate (with the rule and offset where there is one) or
        // configuration value; a store or state problem; halts and staleness.
        Reason::TrialRetried
        | Reason::RecoveryBoot
        | Reason::PromotionFailed
        | Reason::LkgActivated
        | Reason::GoldenActivated
        | Reason::CandidateRejected(_)
        | Reason::CandidateUnreadable
        | Reason::CandidateTooLarge
        | Reason::NameVersionMismatch
        | Reason::DirUnreadable
        | Reason::ListingTruncated
        | Reason::PinnedQuarantined
        | Reason::PinnedMissing
        | Reason::TrialNotRecorded
        | Reason::OverMemoryBudget
        | Reason::OverCostCeiling
        | Reason::Config(..)
        | Reason::ReleaseMissing
        | Reason::VersionJump
        | Reason::KeyringRollback
        | Reason::HaltRollback
        | Reason::KeyringUnavailable
        | Reason::ClockUnknown
        | Reason::LkgUnreadable
        | Reason::LkgNotRecorded
        | Reason::StateRecordLost
        | Reason::StateWriteFailed
        | Reason::TooManyChannels
        | Reason::Halted
        | Reason::TrialHalted
        | Reason::KeyringStale { .. } => Level::Warning,
        // Quarantine; faults on trial; no content at all; a damaged LKG or
        // golden copy; rejected release records; a revoked key.
        Reason::Quarantined
        | Reason::TrialSuperseded
        | Reason::FaultedDuringTrial
        | Reason::NoContent
        | Reason::LkgRejected(_)
        | Reason::GoldenRejected(_)
        | Reason::KeyringRejected(_)
        | Reason::ReleaseRejected(_)
        | Reason::HaltRejected(_)
        | Reason::KeyNotAllowed => Level::Error,
        // Bookkeeping: NoCandidate, TrialContinued, TrialDropped, CandidateKnownRejected
        // (logged when first rejected), LkgMissing, LkgRecoveredFromTemp, GoldenMissing,
        // StateSlotIgnored, and any reason added later.
        _ => return None,
    })
}

const _: () = assert!(FACILITY_IO_ERROR_CODE == 4);
/// `FACILITY_IO_ERROR_CODE` in place, and the customer bit (not a Microsoft code).
const FACILITY_AND_CUSTOMER: u32 = 0x2004_0000;

/// The event's `ErrorCode`: severity, customer bit, `FACILITY_IO_ERROR_CODE`, reason code.
#[must_use]
pub fn error_code(level: Level, reason_code: u16) -> u32 {
    level.severity() | FACILITY_AND_CUSTOMER | u32::from(reason_code)
}

/// UTF-16 units per insertion string, NUL included: channel, version,
/// reason name, detail (100 units: 200 bytes after the 40-byte header).
const STRING_UNITS: [usize; 4] = [19, 22, 25, 34];
/// Where the strings start: right after the fixed part (no dump data).
const STRINGS_AT: usize = core::mem::offset_of!(IO_ERROR_LOG_PACKET, DumpData);
const MAX_ENTRY: usize = ERROR_LOG_LIMIT_SIZE as usize;
const _: () = assert!(STRINGS_AT + 2 * (19 + 22 + 25 + 34) <= MAX_ENTRY);

/// Writes ASCII text as UTF-16LE into `buf` (or only counts, without a
/// buffer), at most `limit - 1` units then a NUL per string.
struct Utf16Out<'b> {
    buf: Option<&'b mut [u8]>,
    at: usize,
    /// Units left in the current string (the NUL excluded).
    left: usize,
}

impl Utf16Out<'_> {
    fn begin(&mut self, units: usize) {
        self.left = units.saturating_sub(1);
    }

    fn unit(&mut self, u: u16) {
        if let Some(dst) = self.buf.as_deref_mut().and_then(|b| b.get_mut(self.at..self.at.saturating_add(2))) {
            dst.copy_from_slice(&u.to_le_bytes());
        }
        self.at = self.at.saturating_add(2);
    }

    fn str(&mut self, s: &str) {
        for b in s.bytes() {
            if self.left == 0 {
                return;
            }
            self.left = self.left.saturating_sub(1);
            self.unit(u16::from(if b.is_ascii() { b } else { b'?' }));
        }
    }

    fn num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut n = 0usize;
        for d in digits.iter_mut().rev() {
            // `v % 10` is below 10: the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation)]
            let digit = (v % 10) as u8;
            *d = b'0'.saturating_add(digit);
            n = n.saturating_add(1);
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let start = digits.len().saturating_sub(n);
        if let Some(text) = digits.get(start..).and_then(|d| core::str::from_utf8(d).ok()) {
            self.str(text);
        }
    }

    fn end(&mut self) {
        self.unit(0);
    }
}

/// The four insertion strings of `d`.
fn strings(d: &Decision, w: &mut Utf16Out<'_>) {
    let [ch, ver, name, detail] = STRING_UNITS;
    w.begin(ch);
    w.str("channel ");
    w.num(u64::from(d.channel));
    w.end();
    w.begin(ver);
    w.str("v");
    w.num(d.version);
    w.end();
    w.begin(name);
    w.str(d.reason.name());
    w.end();
    w.begin(detail);
    let r = d.reason;
    match r {
        Reason::KeyringStale { since } => {
            w.str("since ");
            w.num(since);
        }
        Reason::NotYetEligible { at } => {
            w.str("at ");
            w.num(at);
        }
        Reason::Config(key, problem) => {
            w.str(key.name());
            w.str(" ");
            w.str(problem.name());
        }
        _ if r.rejection().is_some() || r.record_error().is_some() => {
            w.str("rule ");
            w.num(u64::from(r.detail()));
            w.str(" at ");
            w.num(r.offset());
        }
        _ if d.attempt != 0 => {
            w.str("attempt ");
            w.num(u64::from(d.attempt));
        }
        _ => w.str("-"),
    }
    w.end();
}

/// Little-endian `bytes` at `at` of `entry` (silently nothing if out of range:
/// every offset is a field of the fixed part, which the entry always holds).
fn put(entry: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = entry.get_mut(at..at.saturating_add(bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}

/// Writes `d` (an operator event of `level`) to the System event log.
/// Returns whether an entry was handed to the I/O manager (false: no source,
/// or the error log had no room, which Windows reports as a NULL entry).
pub fn write(d: &Decision, level: Level, seq: u32) -> bool {
    const CODE_AT: usize = core::mem::offset_of!(IO_ERROR_LOG_PACKET, ErrorCode);
    const NSTR_AT: usize = core::mem::offset_of!(IO_ERROR_LOG_PACKET, NumberOfStrings);
    const SOFF_AT: usize = core::mem::offset_of!(IO_ERROR_LOG_PACKET, StringOffset);
    const UNIQUE_AT: usize = core::mem::offset_of!(IO_ERROR_LOG_PACKET, UniqueErrorValue);
    const SEQ_AT: usize = core::mem::offset_of!(IO_ERROR_LOG_PACKET, SequenceNumber);
    const OFFSET_AT: usize = core::mem::offset_of!(IO_ERROR_LOG_PACKET, DeviceOffset);
    let source = SOURCE.load(Ordering::Acquire);
    if source.is_null() {
        return false;
    }
    let mut count = Utf16Out { buf: None, at: STRINGS_AT, left: 0 };
    strings(d, &mut count);
    let size = count.at.max(core::mem::size_of::<IO_ERROR_LOG_PACKET>()).min(MAX_ENTRY);
    let Ok(size_u8) = u8::try_from(size) else { return false };
    // SAFETY:
    // 1. source is the driver object DriverEntry received (set_source), valid while
    //    the driver is loaded, which it is while a loader run reports.
    // 2. size is within sizeof(IO_ERROR_LOG_PACKET)..=ERROR_LOG_LIMIT_SIZE.
    // 3. PASSIVE_LEVEL (a loader run; the call allows <= DISPATCH_LEVEL).
    let entry = unsafe { IoAllocateErrorLogEntry(source.cast(), size_u8) };
    if entry.is_null() {
        return false;
    }
    // SAFETY:
    // 1. IoAllocateErrorLogEntry returned an entry of `size` bytes, ours until
    //    IoWriteErrorLogEntry; 8-byte aligned, any bytes valid (plain integers).
    // 2. No other reference to it exists.
    let bytes = unsafe { core::slice::from_raw_parts_mut(entry.cast::<u8>(), size) };
    bytes.fill(0);
    put(bytes, CODE_AT, &error_code(level, d.reason.code()).to_le_bytes());
    put(bytes, NSTR_AT, &4u16.to_le_bytes());
    // STRINGS_AT (40) fits a u16.
    #[allow(clippy::cast_possible_truncation)]
    put(bytes, SOFF_AT, &(STRINGS_AT as u16).to_le_bytes());
    put(bytes, UNIQUE_AT, &d.channel.to_le_bytes());
    put(bytes, SEQ_AT, &seq.to_le_bytes());
    put(bytes, OFFSET_AT, &i64::try_from(d.reason.offset()).unwrap_or(i64::MAX).to_le_bytes());
    let mut out = Utf16Out { buf: Some(bytes), at: STRINGS_AT, left: 0 };
    strings(d, &mut out);
    // SAFETY:
    // 1. entry came from IoAllocateErrorLogEntry and is filled in; ownership passes
    //    to the I/O manager (never touched again: `bytes` is dead here).
    // 2. PASSIVE_LEVEL (the call allows <= DISPATCH_LEVEL).
    unsafe { IoWriteErrorLogEntry(entry) };
    true
}
