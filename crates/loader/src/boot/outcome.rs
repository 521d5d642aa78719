//! What a boot leaves: per channel the active content and its promotion
//! progress ([`ChannelOutcome`]), the [`Loader`] that owns them, its phase,
//! the proofs that gate promotion, and what a reload carries over
//! ([`Resume`]).

use alloc::vec::Vec;
use changuard_format::{CostBound, ValidChannel};

use super::setup::Source;
use crate::budget::Budget;
use crate::config::Config;
use crate::error::LoadError;
use crate::limits::MAX_CHANNELS;
use crate::reason::Decision;
use crate::state::{Heap, State, Store, Trial};

/// Proof that every trial record of this boot is durable (only [`super::boot`] makes it).
#[derive(Debug)]
pub struct TrialDurable(pub(super) ());

/// Proof that the machine stayed up for the health window in this boot (only
/// [`Loader::health_confirmed`] makes it). Faults are per channel ([`Loader::promote`]).
#[derive(Debug)]
pub struct HealthConfirmed(pub(crate) ());

/// Promotion progress of one channel in this boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Promotion {
    /// Nothing on trial.
    NotNeeded,
    /// On trial, waiting for the health window (or for a retry after an LKG
    /// store I/O failure, [`Reason::PromotionFailed`]).
    Pending,
    /// Promoted to LKG.
    Done,
    /// Not promoted this boot: the content faulted ([`Reason::FaultedDuringTrial`]),
    /// or the LKG store failed and no retry is left (see the recorded decision).
    Failed,
}

/// One channel after boot: what is active and why.
#[derive(Debug)]
pub struct ChannelOutcome<B> {
    /// Channel id.
    pub channel: u32,
    /// Where the active content came from.
    pub source: Source,
    /// The active content (validated in this boot).
    pub active: Option<ValidChannel<B>>,
    /// `Some(k)` while the active candidate is on trial (attempt k).
    pub trial_attempt: Option<u32>,
    /// Version of the valid LKG copy found this boot (or promoted since).
    pub lkg_version: Option<u64>,
    /// Last problem decision (a step down, a quarantine...).
    pub last_problem: Option<Decision>,
    /// Promotion progress.
    pub promotion: Promotion,
    /// Temp holds the only LKG copy and could not be renamed back: no
    /// promotion may overwrite it this boot (L3).
    pub(crate) lkg_needs_repair: bool,
    /// The content faulted during its trial in this boot: its trial counts
    /// as failed (never marked `survived`, never resumed by a reload).
    pub(crate) faulted: bool,
    /// A recovery boot for this channel (its trial did not survive the last
    /// boot): only that version may run on trial in this boot, a reload
    /// included ([`Reason::RecoveryBoot`] when it cannot).
    pub(crate) recovery: bool,
    /// Budget bytes reserved (phase A) or charged (after boot) for this
    /// channel's content; 0 when nothing is.
    pub(crate) charged: u64,
    /// The proven cost bound reserved with `charged` (zero when nothing is).
    pub(crate) cost: CostBound,
    /// The valid LKG copy was dropped in phase A because a candidate was
    /// planned: phase C reads it again if the candidate is not activated.
    pub(crate) lkg_deferred: bool,
}

impl<B: AsRef<[u8]>> ChannelOutcome<B> {
    /// Active version, if any.
    pub fn active_version(&self) -> Option<u64> {
        self.active.as_ref().map(ValidChannel::version)
    }

    /// Memory budget bytes charged for the active content (0 with none).
    pub fn charged(&self) -> u64 {
        self.charged
    }

    pub(super) fn new(channel: u32) -> ChannelOutcome<B> {
        ChannelOutcome {
            channel,
            source: Source::None,
            active: None,
            trial_attempt: None,
            lkg_version: None,
            last_problem: None,
            promotion: Promotion::NotNeeded,
            lkg_needs_repair: false,
            faulted: false,
            recovery: false,
            charged: 0,
            cost: CostBound {
                fuel: [0; changuard_format::cost::TEMPLATE_COUNT],
            },
            lkg_deferred: false,
        }
    }
}

/// The bookkeeping part of the loader state machine (STYLE 12).
#[derive(Debug)]
pub enum Phase {
    /// Booted: content active, trials open, waiting for the health window
    /// (or for a promotion retry).
    Booted(Booted),
    /// Promotion ran (done or failed per channel); only [`Loader::shutdown`] is left.
    Promoted(Settled),
    /// [`Loader::shutdown`] ran: nothing is left to do this boot.
    ShutDown(Settled),
}

/// State of [`Phase::Booted`].
#[derive(Debug)]
pub struct Booted {
    pub(crate) config: Heap<Config>,
    pub(crate) state: Heap<State>,
    pub(crate) store: Store,
    pub(crate) state_durable: bool,
    /// Promotion runs so far this boot ([`crate::limits::MAX_PROMOTION_TRIES`]).
    pub(crate) promotion_tries: u32,
}

/// State of [`Phase::Promoted`] and [`Phase::ShutDown`].
#[derive(Debug)]
pub struct Settled {
    pub(crate) config: Heap<Config>,
    pub(crate) state: Heap<State>,
    pub(crate) store: Store,
    pub(crate) state_durable: bool,
}

/// The loader after boot: the active content per channel (owned here, borrowed
/// by the caller's engine) and the sticky state machine.
#[derive(Debug)]
pub struct Loader<B> {
    pub(crate) channels: Vec<ChannelOutcome<B>>,
    pub(crate) phase: Result<Phase, LoadError>,
    /// The memory budget and what the active channels are charged (L7).
    pub(crate) budget: Budget,
}

/// What a reload carries over from the loader it replaces ([`Loader::resume`],
/// [`super::reload`]): the trials running in this boot, `(channel, version,
/// attempt)`, which continue; and the channels in a recovery boot, which
/// start no new trial. At most `MAX_CHANNELS` each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    running: [(u32, u64, u32); MAX_CHANNELS],
    len: usize,
    recovering: [u32; MAX_CHANNELS],
    recovering_len: usize,
}

impl Resume {
    /// Nothing is running (a boot).
    pub const fn none() -> Resume {
        Resume {
            running: [(0, 0, 0); MAX_CHANNELS],
            len: 0,
            recovering: [0; MAX_CHANNELS],
            recovering_len: 0,
        }
    }

    /// Add a channel in a recovery boot.
    pub(crate) fn push_recovering(&mut self, channel: u32) {
        if let Some(s) = self.recovering.get_mut(self.recovering_len) {
            *s = channel;
            self.recovering_len = self.recovering_len.saturating_add(1);
        }
    }

    /// The channels in a recovery boot.
    pub fn recovering(&self) -> &[u32] {
        self.recovering.get(..self.recovering_len).unwrap_or(&[])
    }

    /// Add a running trial (ignored when full: it then counts like a crash).
    pub(crate) fn push(&mut self, channel: u32, version: u64, attempt: u32) {
        if let Some(s) = self.running.get_mut(self.len) {
            *s = (channel, version, attempt);
            self.len = self.len.saturating_add(1);
        }
    }

    /// The running trials.
    pub fn running(&self) -> &[(u32, u64, u32)] {
        self.running.get(..self.len).unwrap_or(&[])
    }

    pub(super) fn contains(&self, channel: u32, t: &Trial) -> bool {
        self.running().contains(&(channel, t.version, t.attempt))
    }
}

impl<B: AsRef<[u8]>> Loader<B> {
    /// Per-channel outcomes (sorted by channel id).
    pub fn channels(&self) -> &[ChannelOutcome<B>] {
        &self.channels
    }

    /// The current phase, or the sticky error.
    pub fn phase(&self) -> Result<&Phase, &LoadError> {
        self.phase.as_ref()
    }

    /// The in-memory state record (for status and the simulator).
    pub fn state(&self) -> Option<&State> {
        match &self.phase {
            Ok(Phase::Booted(b)) => Some(&*b.state),
            Ok(Phase::Promoted(s) | Phase::ShutDown(s)) => Some(&*s.state),
            Err(_) => None,
        }
    }

    /// The memory budget of this load: its limit, and what the active
    /// channels are charged (never above the limit, L7).
    pub fn memory(&self) -> Budget {
        self.budget
    }

    /// The effective configuration.
    pub fn config(&self) -> Option<&Config> {
        match &self.phase {
            Ok(Phase::Booted(b)) => Some(&*b.config),
            Ok(Phase::Promoted(s) | Phase::ShutDown(s)) => Some(&*s.config),
            Err(_) => None,
        }
    }
}
