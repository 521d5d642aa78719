//! The data plane: the state the sensor lock guards, and the evaluation of
//! one event under it (process notify and `IOCTL_SUBMIT_EVENT`).
//!
//! The sensor lock is held for a whole evaluation: exclusive and short
//! (fuel-bounded evaluation, no I/O, no allocation). The control plane
//! (lifecycle.rs) holds it only for a swap, a lend/restore or a status copy.
//!
//! Stack: everything larger than a few words that an evaluation needs (the
//! UTF-8 transcoding buffers, the verdict) lives in [`Shared`], i.e. in the
//! driver image's static data, not on the stack of the thread that created a
//! process (the event path's budget is 4 KiB of our frames, docs/DRIVER.md).
//!
//! Module invariants:
//! - S1: `Shared::active` is replaced or taken only with the control lock held
//!   (lifecycle.rs), and the swap itself happens under the sensor lock. An
//!   evaluation takes its `&Active` under the sensor lock and finishes before
//!   releasing it, so once a swap has completed no evaluation can be using the
//!   old `Active`. The old one is dropped after the swap, outside the sensor
//!   lock (active.rs A6).

use alloc::boxed::Box;

use changuard_control::status::{DRIVER_FLAG_PROCESS_TABLE, DRIVER_FLAG_PROCESS_TABLE_FULL};
use changuard_format::Action;
use changuard_sensor::kernel_values::{self, SID_TEXT_CAP};
use changuard_sensor::process_table::ProcessTable;
use changuard_interp::{EvalScratch, Event, Match, Value, Verdict, text::utf16_to_utf8};
use wdk_sys::NTSTATUS;

use crate::active::{Active, ChannelSet};
use crate::lock::Locked;
use crate::status::{DecisionRing, StatusBook};
use crate::token::TokenFields;

/// Longest image path evaluated, in UTF-8 bytes (longer ones are truncated at
/// a code point boundary).
/// The schema's cap (the validator's cost bound assumes it).
pub const IMAGE_PATH_CAP: usize = changuard_format::schema::IMAGE_PATH_CAP as usize;
/// Longest command line evaluated, in UTF-8 bytes (truncated likewise).
pub const COMMAND_LINE_CAP: usize = changuard_format::schema::COMMAND_LINE_CAP as usize;

/// Slots of the process table: 1,023 running processes, 3 MiB of pool (1 KiB
/// of image path and 2 KiB of command line each). Children of processes beyond
/// that, or started before the driver, get an empty `parent_image_path` and
/// `parent_command_line`.
pub const PROCESS_TABLE_SLOTS: usize = 1024;

/// State guarded by the sensor lock.
pub struct Shared {
    /// Active content, if any (pool: the swap moves a pointer, S1).
    pub active: Option<Box<Active>>,
    /// Status: loader outcomes, counters, engine stats.
    pub book: StatusBook,
    /// The recent loader decisions (a copy of the control plane's ring, taken
    /// with the book; read only by `IOCTL_QUERY_STATUS`, never by an evaluation).
    pub decisions: DecisionRing,
    /// `Parameters\TestHooks == 1` (only consulted with the `test-hooks` feature).
    pub test_hooks: bool,
    /// Channels whose current content the engine refused or an evaluation
    /// faulted on (per channel, [`Active::attribute_faults`]): their promotion is
    /// withheld and their trial stays open; every other channel on trial is
    /// promoted after the health window (promise 3).
    pub faulted: ChannelSet,
    /// The processes seen starting and not yet exiting, with their image
    /// paths and command lines (pool; `None` before `start_process_table` or
    /// if it failed).
    processes: Option<ProcessTable>,
    /// UTF-8 transcoding buffers of the process-notify path (module docs: off the stack).
    text: Text,
    /// Evaluation working memory (likewise).
    work: Work,
}

/// Where a process creation's UTF-16 strings are transcoded to.
struct Text {
    image: [u8; IMAGE_PATH_CAP],
    command_line: [u8; COMMAND_LINE_CAP],
    user_sid: [u8; SID_TEXT_CAP],
}

/// What one evaluation writes besides the status book.
struct Work {
    verdict: Verdict,
    /// The one-channel verdict of fault attribution (active.rs).
    alone: Verdict,
    eval: EvalScratch,
}

/// The sensor lock and the state it guards.
pub static SENSOR: Locked<Shared> = Locked::new(Shared {
    active: None,
    book: StatusBook::new(),
    decisions: DecisionRing::new(),
    test_hooks: false,
    faulted: ChannelSet::new(),
    processes: None,
    text: Text {
        image: [0; IMAGE_PATH_CAP],
        command_line: [0; COMMAND_LINE_CAP],
        user_sid: [0; SID_TEXT_CAP],
    },
    work: Work { verdict: Verdict::new(), alone: Verdict::new(), eval: EvalScratch::new() },
});

/// What an evaluation found, small enough to return by value.
#[derive(Clone, Copy)]
pub struct Summary {
    /// Matches reported (at most `MAX_MATCHES`).
    pub matches: u32,
    /// The first match in the verdict's deterministic order.
    pub first: Option<Match>,
    /// Faults counted by the evaluation.
    pub faults: u32,
}

/// The raw fields of one process creation, as the notify routine received them.
pub struct ProcessCreation<'a> {
    /// `PS_CREATE_NOTIFY_INFO::ImageFileName` (UTF-16, possibly empty).
    pub image: &'a [u16],
    /// `PS_CREATE_NOTIFY_INFO::CommandLine` (UTF-16, possibly empty).
    pub command_line: &'a [u16],
    /// The new process id.
    pub process_id: u64,
    /// `ParentProcessId`.
    pub parent_id: u64,
    /// `CreatingThreadId.UniqueProcess`.
    pub creator_id: u64,
    /// The new process's token, as far as it could be read (token.rs).
    pub token: &'a TokenFields,
}

/// Allocates the process table (before the notify routine is registered).
/// Without the memory the driver runs on, with empty parent image paths and
/// command lines.
pub fn start_process_table() {
    // The allocation (3 MiB) happens outside the lock.
    let Some(table) = ProcessTable::try_new(PROCESS_TABLE_SLOTS) else {
        wdk::println!("changuard: no memory for the process table; parent image paths and command lines stay empty");
        return;
    };
    if let Some(mut g) = SENSOR.acquire() {
        let s = g.get();
        s.processes = Some(table);
        s.book.driver.flags |= DRIVER_FLAG_PROCESS_TABLE;
    }
}

/// Frees the process table (after the notify routine is removed).
pub fn stop_process_table() {
    let table = SENSOR.acquire().and_then(|mut g| {
        let s = g.get();
        s.book.driver.flags &= !DRIVER_FLAG_PROCESS_TABLE;
        s.processes.take()
    });
    drop(table); // outside the lock
}

/// Forgets an exited process.
pub fn process_exit(process_id: u64) {
    if let Some(mut g) = SENSOR.acquire()
        && let Some(t) = g.get().processes.as_mut()
    {
        t.remove(process_id);
    }
}

/// Transcodes a process creation into the lock-protected scratch, evaluates it
/// and counts it, and records the process in the process table (content or
/// not). `None` when there is no lock or no content.
pub fn evaluate_process(p: &ProcessCreation<'_>) -> Option<Summary> {
    let mut g = SENSOR.acquire()?;
    let Shared { active, book, test_hooks, faulted, processes, text, work, .. } = g.get();
    let Text { image: image_buf, command_line: command_line_buf, user_sid: user_sid_buf } = text;
    // `\??\C:\...` as rules write it: `C:\...` (kernel_values::image_path).
    let image = kernel_values::image_path(p.image, image_buf).0;
    // Transcoded with or without content: the process table keeps it for the children.
    let command_line = utf16_to_utf8(p.command_line, command_line_buf).0;
    let summary = active.as_deref().map(|active| {
        let user_sid = kernel_values::sid_text(p.token.user_sid(), user_sid_buf).unwrap_or("");
        // The parent's image and command line as this driver recorded them when
        // the parent started, read in place (borrowed from the table, which is
        // only written after the evaluation; no copy on the stack).
        let (parent_image, parent_command_line) = processes.as_ref().and_then(|t| t.get(p.parent_id)).unwrap_or(("", ""));
        // Built as the event itself (no separate values array to copy from).
        let event = Event::ProcessCreate([
            Value::Str(image),
            Value::Str(command_line),
            Value::Str(parent_image),
            Value::Str(user_sid),
            Value::Int(p.process_id),
            Value::Int(p.parent_id),
            Value::Int(p.creator_id),
            Value::Int(p.token.session_id),
            Value::Int(p.token.integrity_level),
            Value::Int(p.token.elevated),
            Value::Str(parent_command_line),
        ]);
        run(active, book, *test_hooks, faulted, work, &event)
    });
    if let Some(t) = processes.as_mut()
        && t.insert(p.process_id, image, command_line).is_err()
    {
        // Its children get an empty parent image and command line (PROCESS_TABLE_SLOTS); `driver status` says so.
        book.driver.flags |= DRIVER_FLAG_PROCESS_TABLE_FULL;
    }
    summary
}

/// Evaluates an already decoded event (`IOCTL_SUBMIT_EVENT`) under the sensor
/// lock, as a dry run: no counter, no fault attribution, no test-hook action. A
/// submitted event is an administrator's test traffic, not the machine's; letting
/// it count would let it withhold (or hasten) a promotion. `None` when there is no
/// lock or no content.
pub fn evaluate(event: &Event<'_>) -> Option<Summary> {
    let mut g = SENSOR.acquire()?;
    let Shared { active, work, .. } = g.get();
    let active = active.as_deref()?;
    let Work { verdict, eval, .. } = work;
    active.evaluate(event, verdict, eval);
    Some(summary(verdict))
}

fn summary(verdict: &Verdict) -> Summary {
    Summary {
        matches: u32::try_from(verdict.matches().len()).unwrap_or(u32::MAX),
        first: verdict.matches().first().copied(),
        faults: verdict.faults,
    }
}

/// One evaluation and its accounting (sensor lock held by the caller).
fn run(
    active: &Active,
    book: &mut StatusBook,
    test_hooks: bool,
    faulted: &mut ChannelSet,
    work: &mut Work,
    event: &Event<'_>,
) -> Summary {
    let Work { verdict, alone, eval } = work;
    active.evaluate(event, verdict, eval);
    book.driver.events_seen = book.driver.events_seen.saturating_add(1);
    for id in active.channel_ids() {
        if let Some(ch) = book.channel_mut(id) {
            ch.events = ch.events.saturating_add(1);
        }
    }
    if verdict.faults > 0 || verdict.fuel_exhausted || active.over_budget(verdict) {
        // Health, per channel: a fault withholds the promotion of the channels it is
        // attributed to, never of the others (promise 3). Rare path: at most one
        // fuel-bounded solo evaluation per channel, no allocation.
        book.driver.eval_faults = book.driver.eval_faults.saturating_add(u64::from(verdict.faults.max(1)));
        let blamed = active.attribute_faults(event, verdict, alone, eval);
        for &c in blamed.ids() {
            if let Some(ch) = book.channel_mut(c) {
                ch.faults = ch.faults.saturating_add(1);
            }
        }
        faulted.extend(&blamed);
    }
    if !verdict.is_empty() {
        book.driver.detections = book.driver.detections.saturating_add(1);
    }
    for m in verdict.matches() {
        let on_trial = book.on_trial(m.channel);
        if let Some(ch) = book.channel_mut(m.channel) {
            ch.detections = ch.detections.saturating_add(1);
        }
        wdk::println!("changuard: detection channel {} instance {} action {}", m.channel, m.instance, m.action.name());
        if m.action == Action::TestCrash && on_trial && test_hooks {
            test_crash(m.channel, m.instance);
        }
    }
    summary(verdict)
}

/// Encodes the `IOCTL_QUERY_STATUS` reply from the status book into `out`.
///
/// # Errors
/// `STATUS_DEVICE_NOT_READY` without the lock, `STATUS_BUFFER_TOO_SMALL` if
/// the encoder refuses (the caller sized `out` for the largest reply).
pub fn encode_status(out: &mut [u8]) -> Result<usize, NTSTATUS> {
    let mut g = SENSOR.acquire().ok_or(wdk_sys::STATUS_DEVICE_NOT_READY)?;
    let s = g.get();
    s.book.encode(&s.decisions, out).map_err(|_| wdk_sys::STATUS_BUFFER_TOO_SMALL)
}

/// Private bugcheck code of the `test-hooks` crash action.
#[cfg(feature = "test-hooks")]
pub const TEST_CRASH_BUGCHECK: u32 = 0xC4A6_D000;

#[cfg(feature = "test-hooks")]
fn test_crash(channel: u32, instance: u32) {
    // SAFETY: 1. Deliberate bugcheck for VM crash tests: only reachable with the
    // test-hooks feature, Parameters\TestHooks = 1 and the content on trial.
    unsafe { wdk_sys::ntddk::KeBugCheckEx(TEST_CRASH_BUGCHECK, u64::from(channel), u64::from(instance), 0, 0) };
}

#[cfg(not(feature = "test-hooks"))]
const fn test_crash(_channel: u32, _instance: u32) {}
