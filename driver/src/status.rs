//! The driver's status book, derived from the loader's per-channel outcomes
//! (`ChannelOutcome` fields and the state record's quarantine list), plus the
//! evaluation counters and the engine's load-time stats. It is served by
//! `IOCTL_QUERY_STATUS` (encoded by `changuard_control::status::encode_status`)
//! and mirrored under `Parameters\Status` for `reg query`.
//!
//! Safe code only: the book is plain data guarded by the sensor lock. It is
//! `Copy` so the control plane can take a snapshot under the lock and write
//! the registry outside it.

use changuard_control::status::{
    self as wire, ChannelStatus, DecisionRecord, Decisions, DriverStatus, MAX_CHANNELS, MAX_DECISIONS, MAX_QUARANTINED,
    Rejection, Source,
};
use changuard_control::EncodeError;
use changuard_interp::EngineStats;
use changuard_loader::{ChannelOutcome, Decision, Loader};

use crate::platform::RegKey;

/// Per-channel status (at most `MAX_CHANNELS`), driver counters, engine stats. No allocation.
#[derive(Clone, Copy)]
pub struct StatusBook {
    channels: [ChannelStatus; MAX_CHANNELS],
    count: usize,
    /// Driver-wide part.
    pub driver: DriverStatus,
    /// Load-time statistics of the active engine (zero when there is none).
    pub engine: EngineStats,
}

impl Default for StatusBook {
    fn default() -> Self {
        Self::new()
    }
}

/// The status rejection of a loader decision.
const fn rejection(d: &Decision) -> Rejection {
    Rejection { reason: d.reason.code(), rule: d.reason.detail(), offset: d.reason.offset() }
}

/// One channel's record from its loader outcome. `quarantined` is the state
/// record's list (ascending); the newest `MAX_QUARANTINED` are reported, newest first.
#[must_use]
pub fn channel_status<B: AsRef<[u8]>>(out: &ChannelOutcome<B>, quarantined: &[u64]) -> ChannelStatus {
    let mut ch = ChannelStatus::empty(out.channel);
    // `changuard_control::status::Source` is the loader's `Source` (one type).
    ch.source = out.source;
    // The wire requires active_version == 0 when there is no content.
    ch.active_version = if out.source == Source::None { 0 } else { out.active_version().unwrap_or(0) };
    if out.active.is_none() {
        ch.source = Source::None;
        ch.active_version = 0;
    }
    ch.lkg_version = out.lkg_version;
    ch.trial_attempt = out.trial_attempt;
    ch.last_rejection = out.last_problem.as_ref().map(rejection);
    for (dst, v) in ch.quarantined.iter_mut().zip(quarantined.iter().rev()) {
        *dst = *v;
        ch.quarantined_count = ch.quarantined_count.saturating_add(1);
    }
    debug_assert!(usize::from(ch.quarantined_count) <= MAX_QUARANTINED);
    ch
}

impl StatusBook {
    /// Empty book. Only for static initializers (evaluated at compile time);
    /// at run time [`StatusBook::reset`] empties a book in place.
    #[must_use]
    #[allow(clippy::large_stack_arrays)] // const-evaluated into the statics' data
    pub const fn new() -> Self {
        Self {
            channels: [ChannelStatus::empty(0); MAX_CHANNELS],
            count: 0,
            driver: DriverStatus {
                flags: 0,
                events_seen: 0,
                detections: 0,
                eval_faults: 0,
                reloads: 0,
                reload_fallbacks: 0,
                last_platform_status: 0,
                memory_budget: 0,
                memory_charged: 0,
            },
            engine: EngineStats {
                channels: 0,
                instances: 0,
                anchored_int: 0,
                anchored_equals: 0,
                anchored_affix: 0,
                anchored_contains: 0,
                anchored_group: 0,
                always: 0,
                dfas: 0,
                dfas_prefiltered: 0,
                dfa_bytes: 0,
                index_bytes: 0,
                proofs_skipped: 0,
                groups: 0,
                dfas_grouped: 0,
            },
        }
    }

    /// The used records.
    #[must_use]
    pub fn channels(&self) -> &[ChannelStatus] {
        self.channels.get(..self.count).unwrap_or(&[])
    }

    /// The record of `channel`, if it has one.
    pub fn channel_mut(&mut self, channel: u32) -> Option<&mut ChannelStatus> {
        let idx = self.channels().iter().position(|c| c.channel_id == channel)?;
        self.channels.get_mut(idx)
    }

    /// Rebuilds the per-channel records from `loader`'s outcomes. With
    /// `keep_counters` (same content, e.g. after promotion) each channel keeps
    /// its events/detections/faults; otherwise (new content) they restart at 0.
    /// Channels in `excluded` (refused by the engine) are reported with no
    /// active content and one fault.
    pub fn refresh<B: AsRef<[u8]>>(&mut self, loader: &Loader<B>, excluded: &[u32], keep_counters: bool) {
        let old = *self;
        self.count = 0;
        let state = loader.state();
        let memory = loader.memory();
        self.driver.memory_budget = memory.limit();
        self.driver.memory_charged = memory.charged();
        for out in loader.channels() {
            let Some(slot) = self.channels.get_mut(self.count) else { break };
            let q = state.and_then(|s| s.get(out.channel)).map_or(&[][..], |c| c.quarantined());
            let mut ch = channel_status(out, q);
            let prev = old.channels().iter().find(|c| c.channel_id == out.channel).filter(|_| keep_counters);
            if let Some(prev) = prev {
                ch.events = prev.events;
                ch.detections = prev.detections;
                ch.faults = prev.faults;
            }
            if excluded.contains(&out.channel) {
                ch.source = Source::None;
                ch.active_version = 0;
                ch.faults = ch.faults.max(1);
            }
            *slot = ch;
            self.count = self.count.saturating_add(1);
        }
    }

    /// Empties the book in place (a `*self = Self::new()` would build the 2 KiB
    /// value on the stack first). Channel records past `count` are never read.
    pub fn reset(&mut self) {
        self.count = 0;
        self.driver = DriverStatus::default();
        self.engine = EngineStats::default();
    }

    /// Forgets every channel record (no loader: nothing loaded).
    pub fn clear_channels(&mut self) {
        self.count = 0;
    }

    /// Whether any channel stepped down the fallback chain or was refused.
    #[must_use]
    pub fn any_fallback(&self) -> bool {
        self.channels().iter().any(|c| c.last_rejection.is_some() || (c.source == Source::None && c.faults > 0))
    }

    /// Whether `channel`'s active content is on trial.
    #[must_use]
    pub fn on_trial(&self, channel: u32) -> bool {
        self.channels().iter().any(|c| c.channel_id == channel && c.trial_attempt.is_some())
    }

    /// `IOCTL_QUERY_STATUS` reply into `out` (control crate encoder), with the
    /// recent loader decisions of `ring` (version 3; a buffer sized for
    /// version 2 gets version 2 without them).
    ///
    /// # Errors
    /// The encoder's error (buffer too small, unrepresentable record).
    pub fn encode(&self, ring: &DecisionRing, out: &mut [u8]) -> Result<usize, EncodeError> {
        wire::encode_status(&self.driver, self.channels(), ring.list(), out)
    }

    /// Mirrors the book under `Parameters\Status` (best effort: a failure is
    /// reported by the return value, never fatal). Values:
    /// `Reloads`, `EventsSeen`, `Detections`, `EvalFaults`, `Flags`, `Instances`,
    /// `Dfas` (`REG_DWORD`, saturated) and one `Channel<id>` `REG_SZ` per channel, e.g.
    /// `source=lkg active=7 lkg=7 trial=- reject=206/12@64 quarantined=9,8 events=5 detections=1 faults=0`.
    /// Called outside the sensor lock (registry I/O), on a snapshot.
    #[must_use]
    pub fn publish(&self, status_key: &RegKey) -> bool {
        let sat = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        let mut ok = status_key.set_dword("Reloads", self.driver.reloads).is_ok();
        ok &= status_key.set_dword("EventsSeen", sat(self.driver.events_seen)).is_ok();
        ok &= status_key.set_dword("Detections", sat(self.driver.detections)).is_ok();
        ok &= status_key.set_dword("EvalFaults", sat(self.driver.eval_faults)).is_ok();
        ok &= status_key.set_dword("Flags", self.driver.flags).is_ok();
        ok &= status_key.set_dword("Instances", self.engine.instances).is_ok();
        ok &= status_key.set_dword("Dfas", self.engine.dfas).is_ok();
        // Issue 11 finding 9: the memory budget, in MiB (charged rounded up).
        let mib = |v: u64| sat(v.div_ceil(1 << 20));
        ok &= status_key.set_dword("MemoryBudgetMiB", mib(self.driver.memory_budget)).is_ok();
        ok &= status_key.set_dword("MemoryChargedMiB", mib(self.driver.memory_charged)).is_ok();
        for ch in self.channels() {
            let mut name = wdk::fmt::FormatBuffer::<32>::new();
            let mut text = wdk::fmt::FormatBuffer::<320>::new();
            let _ = core::fmt::Write::write_fmt(&mut name, format_args!("Channel{}", ch.channel_id));
            let _ = core::fmt::Write::write_fmt(
                &mut text,
                format_args!("source={} active={} lkg=", ch.source.name(), ch.active_version),
            );
            let _ = match ch.lkg_version {
                Some(v) => core::fmt::Write::write_fmt(&mut text, format_args!("{v}")),
                None => core::fmt::Write::write_str(&mut text, "-"),
            };
            let _ = match ch.trial_attempt {
                Some(a) => core::fmt::Write::write_fmt(&mut text, format_args!(" trial={a}")),
                None => core::fmt::Write::write_str(&mut text, " trial=-"),
            };
            let _ = match ch.last_rejection {
                Some(r) => core::fmt::Write::write_fmt(&mut text, format_args!(" reject={}/{}@{}", r.reason, r.rule, r.offset)),
                None => core::fmt::Write::write_str(&mut text, " reject=-"),
            };
            let _ = core::fmt::Write::write_str(&mut text, " quarantined=");
            for (i, q) in ch.quarantined().iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = core::fmt::Write::write_fmt(&mut text, format_args!("{sep}{q}"));
            }
            let _ = core::fmt::Write::write_fmt(
                &mut text,
                format_args!(" events={} detections={} faults={}", ch.events, ch.detections, ch.faults),
            );
            ok &= status_key.set_sz(name.as_str(), text.as_str()).is_ok();
        }
        ok
    }
}

/// The most recent loader decisions (at most `MAX_DECISIONS`, oldest first),
/// for `IOCTL_QUERY_STATUS` and `changuard driver status`.
///
/// Fixed size, no allocation: the loader's `Platform::report` appends to it
/// (platform.rs), and `report` runs only inside a loader run: `DriverEntry`,
/// `IOCTL_RELOAD` (passive-level queue), the passive promotion timer and the
/// end of boot (unload, shutdown notification), all at `PASSIVE_LEVEL` under
/// the control lock, never on the event path (docs/DRIVER.md "Operator
/// events"). The control plane keeps the ring in `Control` and copies it to
/// the sensor side after each run, as it does the status book.
#[derive(Clone, Copy)]
pub struct DecisionRing {
    records: [DecisionRecord; MAX_DECISIONS],
    len: usize,
    recorded: u32,
}

impl Default for DecisionRing {
    fn default() -> Self {
        Self::new()
    }
}

impl DecisionRing {
    /// An empty ring (for static initializers).
    #[must_use]
    #[allow(clippy::large_stack_arrays)] // const-evaluated into the statics' data
    pub const fn new() -> Self {
        const EMPTY: DecisionRecord =
            DecisionRecord { time: 0, channel: 0, version: 0, attempt: 0, reason: 0, detail: 0, offset: 0, seq: 0, flags: 0 };
        Self { records: [EMPTY; MAX_DECISIONS], len: 0, recorded: 0 }
    }

    /// The sequence number the next decision gets (1 for the first).
    #[must_use]
    pub const fn next_seq(&self) -> u32 {
        self.recorded.saturating_add(1)
    }

    /// Appends `record` (its `seq` set to [`DecisionRing::next_seq`]); when
    /// full, the oldest record is dropped. O(`MAX_DECISIONS`), no allocation.
    pub fn push(&mut self, mut record: DecisionRecord) {
        record.seq = self.next_seq();
        self.recorded = record.seq;
        if self.len >= MAX_DECISIONS {
            self.records.copy_within(1.., 0);
            self.len = MAX_DECISIONS.saturating_sub(1);
        }
        if let Some(slot) = self.records.get_mut(self.len) {
            *slot = record;
            self.len = self.len.saturating_add(1);
        }
    }

    /// The records, oldest first.
    #[must_use]
    pub fn records(&self) -> &[DecisionRecord] {
        self.records.get(..self.len).unwrap_or(&[])
    }

    /// The records and the total recorded, as the wire encoder takes them.
    #[must_use]
    pub fn list(&self) -> Decisions<'_> {
        Decisions { records: self.records(), recorded: self.recorded }
    }
}
