//! The boot algorithm and the promotion protocol.
//!
//! # Per channel, at every boot (channels are independent)
//! 1. Read the LKG copy (Current, else Temp after an interrupted rename, which is
//!    then renamed back), validate it.
//! 2. Open trial from the last boot? If the LKG copy already holds that version,
//!    the promotion got past its rename: roll it forward. Else, at
//!    `attempt >= MaxTrialBoots`, quarantine the version; else it may be retried,
//!    and if it is not retried in this boot (superseded), it is quarantined too.
//! 3. Choose a candidate by policy (never quarantined; Latest/NMinus1 never below
//!    the floor; only newer than a valid LKG, since equal means "use the LKG").
//! 4. Read it once (size cap checked by the platform before allocating), validate
//!    it as this channel, check the name's version equals the signed one.
//! 5. Record "V on trial, attempt k" for every channel at once and flush it
//!    (one state write), BEFORE anything is activated ([`TrialDurable`]).
//! 6. Activate: candidate -> LKG -> golden -> none, recording each step down.
//!
//! # Promotion (after the health window, [`HealthConfirmed`])
//! Health is per channel: [`HealthConfirmed`] proves only the machine-level
//! condition (uptime past the window, still `Booted`); the caller names the
//! channels whose content made the interpreter fault during the window. Those
//! are not promoted (`Promotion::Failed`, [`Reason::FaultedDuringTrial`]) and
//! their trial stays open, so the next boot quarantines them at `MaxTrialBoots`
//! like a crash: content that passed validation yet made the interpreter fault
//! is not trusted. One channel's fault never withholds another's promotion
//! (promise 3).
//!
//! For each other channel whose active content is on trial:
//! 1. write LKG temp, flush it, rename it over Current, sync (-> [`LkgDurable`]);
//! 2. state: `lkg_version = V`, trial closed; write + flush;
//! 3. state: `floor = max(floor, V)`; write + flush.
//!
//! # Invariants (checked by crates/sim after every boot)
//! - L1: everything in [`ChannelOutcome::active`] passed `validate` in this boot.
//! - L2: trial content is never activated unless its trial record is durable.
//! - L3: the only durable LKG copy is never overwritten before a newer copy is durable
//!   (temp is written only while Current is valid, or after Temp was renamed back).
//! - L4: the floor is raised only after the LKG copy of that version is durable,
//!   so it never blocks the LKG; LKG activation ignores the floor anyway.
//! - L5: bounded work: every loop is bounded by `MAX_DIR_ENTRIES` or `MAX_CHANNELS`.

use alloc::vec::Vec;
use changuard_format::{Trust, ValidChannel, limits::MAX_FILE_LEN, validate};

use crate::config::{Config, Policy};
use crate::error::LoadError;
use crate::limits::{MAX_CHANNELS, MAX_DIR_ENTRIES};
use crate::names::{self, FileName};
use crate::platform::{IoErrorKind, LkgFile, Platform};
use crate::reason::{ConfigKey, ConfigProblem, Decision, Reason};
use crate::state::{self, ChannelState, Heap, Recovered, State, Store, Trial};

/// Deliberate protocol bugs (feature `mutations`, for the simulator only).
#[cfg(feature = "mutations")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutation {
    /// The trial record is written but not flushed before activation.
    ActivateBeforePersist,
    /// Promotion raises the floor before the LKG copy is durable.
    RaiseFloorBeforeLkgDurable,
    /// Promotion renames the LKG temp copy without flushing its data.
    SkipFlushOnLkgWrite,
    /// An unfinished trial at `MaxTrialBoots` is retried instead of quarantined.
    NoQuarantine,
    /// Promotion overwrites Current in place instead of temp + rename.
    LkgInPlace,
}

#[cfg(feature = "mutations")]
impl Mutation {
    /// Every mutation.
    pub const ALL: &'static [Mutation] = &[
        Mutation::ActivateBeforePersist,
        Mutation::RaiseFloorBeforeLkgDurable,
        Mutation::SkipFlushOnLkgWrite,
        Mutation::NoQuarantine,
        Mutation::LkgInPlace,
    ];
}

/// What the loader needs besides the platform.
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    /// Trusted signing keys.
    pub trust: Trust<'a>,
    /// Allowed content directory roots ([`crate::config::DEFAULT_ALLOWED_ROOTS`]).
    pub allowed_roots: &'a [&'a str],
    /// A deliberate bug to inject (simulator only).
    #[cfg(feature = "mutations")]
    pub mutation: Option<Mutation>,
}

#[cfg(feature = "mutations")]
impl Setup<'_> {
    fn mutated(&self, m: Mutation) -> bool {
        self.mutation == Some(m)
    }
}

macro_rules! mutated {
    ($setup:expr, $m:ident) => {{
        #[cfg(feature = "mutations")]
        let r = $setup.mutated(Mutation::$m);
        #[cfg(not(feature = "mutations"))]
        let r = {
            let _ = &$setup;
            false
        };
        r
    }};
}

/// Where a channel's active content came from (same codes as the control crate's `Source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// No content: the channel is off (the sensor still runs).
    None,
    /// A candidate from the content directory (on trial unless proven).
    Candidate,
    /// The LKG copy.
    Lkg,
    /// Golden content embedded in the driver.
    Golden,
}

impl Source {
    /// Wire code.
    pub const fn code(self) -> u8 {
        match self {
            Source::None => 0,
            Source::Candidate => 1,
            Source::Lkg => 2,
            Source::Golden => 3,
        }
    }
    /// Decodes a wire code.
    pub const fn from_code(code: u8) -> Option<Source> {
        match code {
            0 => Some(Source::None),
            1 => Some(Source::Candidate),
            2 => Some(Source::Lkg),
            3 => Some(Source::Golden),
            _ => None,
        }
    }
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            Source::None => "none",
            Source::Candidate => "candidate",
            Source::Lkg => "lkg",
            Source::Golden => "golden",
        }
    }
}

/// Proof that every trial record of this boot is durable (only [`boot`] makes it).
#[derive(Debug)]
pub struct TrialDurable(());

/// Proof that the machine stayed up for the health window in this boot (only
/// [`Loader::health_confirmed`] makes it). Faults are per channel ([`Loader::promote`]).
#[derive(Debug)]
pub struct HealthConfirmed(());

/// Proof that a channel's LKG copy of a version is durable (only the LKG copy step makes it).
#[derive(Debug)]
pub struct LkgDurable {
    channel: u32,
    version: u64,
}

/// Promotion progress of one channel in this boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Promotion {
    /// Nothing on trial.
    NotNeeded,
    /// On trial, waiting for the health window.
    Pending,
    /// Promoted to LKG.
    Done,
    /// A promotion step failed (see the recorded decision).
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
    lkg_needs_repair: bool,
}

impl<B: AsRef<[u8]>> ChannelOutcome<B> {
    /// Active version, if any.
    pub fn active_version(&self) -> Option<u64> {
        self.active.as_ref().map(ValidChannel::version)
    }
}

/// The bookkeeping part of the loader state machine (STYLE 12).
#[derive(Debug)]
pub enum Phase {
    /// Booted: content active, trials open, waiting for the health window.
    Booted(Booted),
    /// Promotion ran (done or failed per channel); nothing left to do this boot.
    Promoted(Promoted),
}

/// State of [`Phase::Booted`].
#[derive(Debug)]
pub struct Booted {
    config: Heap<Config>,
    state: Heap<State>,
    store: Store,
    state_durable: bool,
}

/// State of [`Phase::Promoted`].
#[derive(Debug)]
pub struct Promoted {
    config: Heap<Config>,
    state: Heap<State>,
}

/// The loader after boot: the active content per channel (owned here, borrowed
/// by the caller's engine) and the sticky state machine.
#[derive(Debug)]
pub struct Loader<B> {
    channels: Vec<ChannelOutcome<B>>,
    phase: Result<Phase, LoadError>,
}

struct Rec<'a, P> {
    p: &'a mut P,
}
impl<P: Platform> Rec<'_, P> {
    fn note(&mut self, channel: u32, version: u64, attempt: u32, reason: Reason) -> Decision {
        let d = Decision {
            channel,
            version,
            attempt,
            reason,
        };
        self.p.report(&d);
        d
    }
}

/// A channel between phase A and C: outcome index, validated candidate, validated LKG.
type Pending<B> = (usize, Option<ValidChannel<B>>, Option<ValidChannel<B>>);

/// Versions of one channel seen in the directory.
fn versions_of(entries: &[(u32, u64)], channel: u32) -> impl Iterator<Item = u64> + '_ {
    entries
        .iter()
        .filter(move |(c, _)| *c == channel)
        .map(|(_, v)| *v)
}

/// Run the boot algorithm. Never fails and never panics: every problem is a
/// recorded decision and a step down the fallback chain (promise 3).
pub fn boot<P: Platform>(p: &mut P, setup: &Setup<'_>) -> Loader<P::Buf> {
    // Configuration and state record live on the heap (kernel stack budget).
    // Without memory for them (or for the slot buffer) nothing can be read, so
    // nothing may be written either (S1): run with no content, as when the
    // outcomes cannot be held (promise 3).
    let no_memory = |p: &mut P| {
        Rec { p: &mut *p }.note(0, 0, 0, Reason::NoContent);
        Loader {
            channels: Vec::new(),
            phase: Err(LoadError::NoMemory),
        }
    };
    let Some(mut config) = Heap::new(Config::default()) else {
        return no_memory(p);
    };
    config.read_into(p, setup.allowed_roots, &mut |p: &mut P, d: Decision| {
        p.report(&d);
    });

    // State record: newest valid slot.
    let Ok(recovered) = state::recover(p) else {
        return no_memory(p);
    };
    let mut store = Store::new(&recovered);
    let Recovered {
        state: mut st,
        slot: recovered_slot,
        ignored: recovered_ignored,
    } = recovered;
    let mut dirty = false;
    {
        let mut r = Rec { p: &mut *p };
        if recovered_slot.is_none() && recovered_ignored > 0 {
            r.note(0, 0, 0, Reason::StateRecordLost);
        } else if recovered_ignored > 0 {
            r.note(0, 0, 0, Reason::StateSlotIgnored);
        }
        if let Some(token) = config.clear_token {
            if st.clear_token != Some(token) {
                for c in st.channels_mut() {
                    c.clear_quarantine();
                }
                st.clear_token = Some(token);
                dirty = true;
                r.note(0, 0, 0, Reason::QuarantineCleared);
            }
        }
    }

    // Directory listing, bounded.
    let mut entries: Vec<(u32, u64)> = Vec::new();
    let mut seen = 0usize;
    let mut truncated = false;
    let mut oom = false;
    let listed = p.list_content(config.content_dir.as_str(), &mut |name: &str| {
        if seen >= MAX_DIR_ENTRIES {
            truncated = true;
            return false;
        }
        seen = seen.saturating_add(1);
        if let Some(cv) = names::parse(name) {
            if entries.try_reserve(1).is_err() {
                oom = true;
                return false;
            }
            entries.push(cv);
        }
        true
    });
    {
        let mut r = Rec { p: &mut *p };
        if listed.is_err() {
            r.note(0, 0, 0, Reason::DirUnreadable);
        }
        if truncated || oom {
            r.note(0, 0, 0, Reason::ListingTruncated);
        }
    }

    // Channel set: directory, state record, golden; sorted, at most MAX_CHANNELS.
    let mut set = [0u32; MAX_CHANNELS];
    let mut set_len = 0usize;
    let mut too_many = false;
    let mut add = |c: u32| {
        if c == 0 || set.get(..set_len).is_some_and(|s| s.contains(&c)) {
            return;
        }
        match set.get_mut(set_len) {
            Some(slot) => {
                *slot = c;
                set_len = set_len.saturating_add(1);
            }
            None => too_many = true,
        }
    };
    for c in st.channels() {
        add(c.channel);
    }
    let mut golden_ids = [0u32; MAX_CHANNELS];
    for (i, g) in golden_ids.iter_mut().enumerate() {
        if let Some(c) = p.golden_channel(i) {
            *g = c;
        }
    }
    for c in golden_ids {
        add(c);
    }
    for (c, _) in &entries {
        add(*c);
    }
    if let Some(s) = set.get_mut(..set_len) {
        s.sort_unstable();
    }
    if too_many {
        Rec { p: &mut *p }.note(0, 0, 0, Reason::TooManyChannels);
    }

    let mut channels: Vec<ChannelOutcome<P::Buf>> = Vec::new();
    if channels.try_reserve_exact(set_len).is_err() {
        // Cannot even hold the outcomes: run with no content (promise 3).
        Rec { p: &mut *p }.note(0, 0, 0, Reason::NoContent);
        return Loader {
            channels,
            phase: Err(LoadError::NoMemory),
        };
    }

    // Phase A: per channel, LKG, trial bookkeeping, candidate choice and validation.
    let mut pending: Vec<Pending<P::Buf>> = Vec::new();
    if pending.try_reserve_exact(set_len).is_err() {
        return Loader {
            channels,
            phase: Err(LoadError::NoMemory),
        };
    }
    for &channel in set.get(..set_len).unwrap_or(&[]) {
        let mut out = ChannelOutcome {
            channel,
            source: Source::None,
            active: None,
            trial_attempt: None,
            lkg_version: None,
            last_problem: None,
            promotion: Promotion::NotNeeded,
            lkg_needs_repair: false,
        };
        let mut r = Rec { p: &mut *p };

        // 1. LKG copy.
        let lkg = read_lkg(&mut r, setup, channel, &mut out);
        let lkg_v = lkg.as_ref().map(ValidChannel::version);
        out.lkg_version = lkg_v;

        let Some(cs) = st.get_or_insert(channel) else {
            out.last_problem = Some(r.note(channel, 0, 0, Reason::TooManyChannels));
            channels.push(out);
            pending.push((channels.len().saturating_sub(1), None, lkg));
            continue;
        };
        let before = *cs;

        // 2. Open trial from the last boot.
        let mut retry: Option<Trial> = None;
        if let Some(t) = cs.trial {
            if lkg_v == Some(t.version) {
                cs.lkg_version = t.version;
                cs.floor = cs.floor.max(t.version);
                cs.trial = None;
                r.note(
                    channel,
                    t.version,
                    t.attempt,
                    Reason::PromotionRolledForward,
                );
            } else if t.attempt >= config.max_trial_boots && !mutated!(setup, NoQuarantine) {
                cs.quarantine(t.version);
                cs.trial = None;
                out.last_problem = Some(r.note(channel, t.version, t.attempt, Reason::Quarantined));
            } else {
                retry = Some(t);
            }
        }
        if let Some(v) = lkg_v {
            if cs.lkg_version != v {
                cs.lkg_version = v;
            }
        }

        // 3. Candidate choice.
        let chosen = choose(&mut r, &config, cs, &entries, lkg_v, &mut out);

        // 4. Read + validate.
        let mut cand: Option<ValidChannel<P::Buf>> = None;
        if let Some(v) = chosen {
            cand = read_candidate(&mut r, setup, &config, channel, v, &mut out);
        }

        // An unfinished trial that is not retried now is quarantined: forgetting
        // its attempt count would allow more than MaxTrialBoots crashes later (I3).
        if let Some(t) = retry {
            if cand.as_ref().is_none_or(|c| c.version() != t.version) {
                cs.quarantine(t.version);
                out.last_problem =
                    Some(r.note(channel, t.version, t.attempt, Reason::TrialSuperseded));
            }
        }

        // Trial bookkeeping for step 5.
        match &cand {
            Some(c) if c.version() == cs.lkg_version && cs.lkg_version != 0 => {
                cs.trial = None;
                r.note(channel, c.version(), 0, Reason::Proven);
            }
            Some(c) => {
                let v = c.version();
                let attempt = match retry {
                    Some(t) if t.version == v => {
                        r.note(channel, v, t.attempt, Reason::TrialRetried);
                        t.attempt.saturating_add(1)
                    }
                    _ => 1,
                };
                cs.trial = Some(Trial {
                    version: v,
                    attempt,
                });
            }
            None => cs.trial = None,
        }
        if *cs != before {
            dirty = true;
        }
        channels.push(out);
        pending.push((channels.len().saturating_sub(1), cand, lkg));
    }

    // Phase B: make every trial record durable before anything is activated.
    let mut durable: Option<TrialDurable> = None;
    let mut state_durable = true;
    if dirty {
        let flush = !mutated!(setup, ActivateBeforePersist);
        match store.persist(p, &mut st, flush) {
            Ok(()) => durable = Some(TrialDurable(())),
            Err(_) => {
                state_durable = false;
                Rec { p: &mut *p }.note(0, 0, 0, Reason::StateWriteFailed);
            }
        }
    } else {
        durable = Some(TrialDurable(()));
    }

    // Phase C: activation, down the fallback chain.
    for (idx, cand, lkg) in pending {
        let Some(out) = channels.get_mut(idx) else {
            continue;
        };
        let channel = out.channel;
        let mut r = Rec { p: &mut *p };
        let trial = st.get(channel).and_then(|c| c.trial);
        if let Some(c) = cand {
            match (&durable, trial) {
                (Some(proof), Some(t)) if t.version == c.version() => {
                    activate_trial(out, c, t, proof);
                    r.note(channel, t.version, t.attempt, Reason::OnTrial);
                    continue;
                }
                (_, None) => {
                    // Proven: the LKG version, no trial needed.
                    out.source = Source::Candidate;
                    out.active = Some(c);
                    continue;
                }
                _ => {
                    out.last_problem =
                        Some(r.note(channel, c.version(), 0, Reason::TrialNotRecorded));
                }
            }
        }
        if let Some(l) = lkg {
            r.note(channel, l.version(), 0, Reason::LkgActivated);
            out.source = Source::Lkg;
            out.active = Some(l);
            continue;
        }
        match r.p.golden(channel, MAX_FILE_LEN) {
            Ok(Some(buf)) => match validate(buf, &setup.trust, channel) {
                Ok(g) => {
                    r.note(channel, g.version(), 0, Reason::GoldenActivated);
                    out.source = Source::Golden;
                    out.active = Some(g);
                    continue;
                }
                Err(rej) => {
                    out.last_problem = Some(r.note(channel, 0, 0, Reason::GoldenRejected(rej)))
                }
            },
            Ok(None) => {
                r.note(channel, 0, 0, Reason::GoldenMissing);
            }
            Err(_) => out.last_problem = Some(r.note(channel, 0, 0, Reason::GoldenMissing)),
        }
        let d = r.note(channel, 0, 0, Reason::NoContent);
        if out.last_problem.is_none() {
            out.last_problem = Some(d);
        }
    }

    Loader {
        channels,
        phase: Ok(Phase::Booted(Booted {
            config,
            state: st,
            store,
            state_durable,
        })),
    }
}

fn activate_trial<B>(
    out: &mut ChannelOutcome<B>,
    c: ValidChannel<B>,
    t: Trial,
    _proof: &TrialDurable,
) {
    out.source = Source::Candidate;
    out.active = Some(c);
    out.trial_attempt = Some(t.attempt);
    out.promotion = Promotion::Pending;
}

fn read_lkg<P: Platform>(
    r: &mut Rec<'_, P>,
    setup: &Setup<'_>,
    channel: u32,
    out: &mut ChannelOutcome<P::Buf>,
) -> Option<ValidChannel<P::Buf>> {
    let mut first: Option<Reason> = None;
    for which in [LkgFile::Current, LkgFile::Temp] {
        match r.p.lkg_read(channel, which, MAX_FILE_LEN) {
            Ok(buf) => match validate(buf, &setup.trust, channel) {
                Ok(v) => {
                    if which == LkgFile::Temp {
                        // Interrupted rename: put it back under its name before
                        // anything may overwrite Temp (L3).
                        r.note(channel, v.version(), 0, Reason::LkgRecoveredFromTemp);
                        let ok =
                            r.p.lkg_rename_temp(channel).is_ok() && r.p.lkg_sync(channel).is_ok();
                        out.lkg_needs_repair = !ok;
                    }
                    return Some(v);
                }
                Err(rej) => {
                    if which == LkgFile::Current {
                        first = Some(Reason::LkgRejected(rej));
                    }
                }
            },
            Err(e) => {
                if which == LkgFile::Current {
                    first = Some(if e.kind == IoErrorKind::NotFound {
                        Reason::LkgMissing
                    } else {
                        Reason::LkgUnreadable
                    });
                }
            }
        }
    }
    if let Some(reason) = first {
        let d = r.note(channel, 0, 0, reason);
        if reason != Reason::LkgMissing {
            out.last_problem = Some(d);
        }
    }
    None
}

fn choose<P: Platform>(
    r: &mut Rec<'_, P>,
    config: &Config,
    cs: &ChannelState,
    entries: &[(u32, u64)],
    lkg_v: Option<u64>,
    out: &mut ChannelOutcome<P::Buf>,
) -> Option<u64> {
    let channel = cs.channel;
    let allowed = |v: u64| !cs.is_quarantined(v) && v >= cs.floor && lkg_v.is_none_or(|l| v > l);
    let mut policy = config.policy;
    let mut pin = None;
    if policy == Policy::Pinned {
        pin = config.pin_for(r.p, channel, &mut |p: &mut P, d: Decision| p.report(&d));
        if pin.is_none() {
            r.note(
                channel,
                0,
                0,
                Reason::Config(ConfigKey::PinnedVersion, ConfigProblem::PinMissing),
            );
            policy = Policy::Latest;
        }
    }
    let chosen = match (policy, pin) {
        (Policy::Pinned, Some(v)) => {
            if lkg_v == Some(v) {
                return None;
            }
            if cs.is_quarantined(v) {
                out.last_problem = Some(r.note(channel, v, 0, Reason::PinnedQuarantined));
                return None;
            }
            if !versions_of(entries, channel).any(|x| x == v) {
                out.last_problem = Some(r.note(channel, v, 0, Reason::PinnedMissing));
                return None;
            }
            Some(v)
        }
        (Policy::NMinus1, _) => {
            let newest = versions_of(entries, channel).max()?;
            versions_of(entries, channel)
                .filter(|&v| v < newest && allowed(v))
                .max()
        }
        _ => versions_of(entries, channel).filter(|&v| allowed(v)).max(),
    };
    if chosen.is_none() && versions_of(entries, channel).any(|v| lkg_v.is_none_or(|l| v > l)) {
        // Something newer exists but policy refused it (quarantined or below the floor).
        out.last_problem = Some(r.note(channel, 0, 0, Reason::NoCandidate));
    }
    chosen
}

fn read_candidate<P: Platform>(
    r: &mut Rec<'_, P>,
    setup: &Setup<'_>,
    config: &Config,
    channel: u32,
    v: u64,
    out: &mut ChannelOutcome<P::Buf>,
) -> Option<ValidChannel<P::Buf>> {
    let name = FileName::new(channel, v);
    let buf = match r
        .p
        .read_content(config.content_dir.as_str(), name.as_str(), MAX_FILE_LEN)
    {
        Ok(b) => b,
        Err(e) => {
            let reason = if e.kind == IoErrorKind::TooLarge {
                Reason::CandidateTooLarge
            } else {
                Reason::CandidateUnreadable
            };
            out.last_problem = Some(r.note(channel, v, 0, reason));
            return None;
        }
    };
    if buf.as_ref().len() > MAX_FILE_LEN {
        out.last_problem = Some(r.note(channel, v, 0, Reason::CandidateTooLarge));
        return None;
    }
    match validate(buf, &setup.trust, channel) {
        Ok(c) if c.version() == v => Some(c),
        Ok(_) => {
            out.last_problem = Some(r.note(channel, v, 0, Reason::NameVersionMismatch));
            None
        }
        Err(rej) => {
            out.last_problem = Some(r.note(channel, v, 0, Reason::CandidateRejected(rej)));
            None
        }
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
            Ok(Phase::Promoted(p)) => Some(&*p.state),
            Err(_) => None,
        }
    }

    /// The effective configuration.
    pub fn config(&self) -> Option<&Config> {
        match &self.phase {
            Ok(Phase::Booted(b)) => Some(&*b.config),
            Ok(Phase::Promoted(p)) => Some(&*p.config),
            Err(_) => None,
        }
    }

    /// Is anything on trial waiting for promotion?
    pub fn promotion_pending(&self) -> bool {
        matches!(self.phase, Ok(Phase::Booted(_)))
            && self
                .channels
                .iter()
                .any(|c| c.promotion == Promotion::Pending)
    }

    /// The machine-level health proof: still `Booted` (no promotion ran, no
    /// sticky error) and uptime >= `HealthWindowSeconds`. It says nothing about
    /// faults: those are per channel, passed to [`Loader::promote`].
    pub fn health_confirmed<P: Platform>(&self, p: &mut P) -> Option<HealthConfirmed> {
        let Ok(Phase::Booted(b)) = &self.phase else {
            return None;
        };
        let window = b.config.health_window_secs;
        (p.uptime_secs() >= u64::from(window)).then_some(HealthConfirmed(()))
    }

    /// Promote every channel on trial to LKG (module docs, "Promotion"), except
    /// the channels in `faulted` (the interpreter counted a fault against their
    /// content during the health window): those get `Promotion::Failed` and a
    /// [`Reason::FaultedDuringTrial`] decision, and their trial stays open, so
    /// the next boot quarantines them at `MaxTrialBoots`. Ids in `faulted` that
    /// are not on trial are ignored.
    /// Transition `Booted -> Promoted`; a failure to persist the state record is
    /// sticky (no more transitions this boot; the active content stays active).
    ///
    /// # Errors
    /// `Misuse` when not in `Booted`; `Platform` when the state record could not
    /// be written; the sticky error if one is already stored.
    pub fn promote<P: Platform>(
        &mut self,
        p: &mut P,
        setup: &Setup<'_>,
        proof: HealthConfirmed,
        faulted: &[u32],
    ) -> Result<(), LoadError> {
        let phase = core::mem::replace(
            &mut self.phase,
            Err(LoadError::Unreachable("promotion in progress")),
        );
        let next = match phase {
            Ok(Phase::Booted(b)) => promote(b, p, setup, &mut self.channels, proof, faulted),
            Ok(Phase::Promoted(_)) => Err(LoadError::Misuse("promote: already promoted this boot")),
            Err(e) => Err(e),
        };
        match next {
            Ok(ph) => {
                self.phase = Ok(ph);
                Ok(())
            }
            Err(e) => {
                self.phase = Err(e);
                Err(e)
            }
        }
    }
}

fn promote<P: Platform, B: AsRef<[u8]>>(
    mut b: Booted,
    p: &mut P,
    setup: &Setup<'_>,
    channels: &mut [ChannelOutcome<B>],
    _proof: HealthConfirmed,
    faulted: &[u32],
) -> Result<Phase, LoadError> {
    if !b.state_durable {
        return Err(LoadError::Misuse(
            "promote: trial record not durable this boot",
        ));
    }
    for out in channels
        .iter_mut()
        .filter(|c| c.promotion == Promotion::Pending)
    {
        let channel = out.channel;
        let Some(active) = out.active.as_ref() else {
            out.promotion = Promotion::Failed;
            continue;
        };
        let version = active.version();
        if faulted.contains(&channel) {
            // Not trusted: the trial stays open (state untouched), so the next
            // boot counts this attempt and quarantines at MaxTrialBoots.
            out.promotion = Promotion::Failed;
            let attempt = out.trial_attempt.unwrap_or(0);
            out.last_problem = Some(Rec { p: &mut *p }.note(
                channel,
                version,
                attempt,
                Reason::FaultedDuringTrial,
            ));
            continue;
        }
        if out.lkg_needs_repair {
            // Temp holds the only LKG copy: never overwrite it (L3).
            out.promotion = Promotion::Failed;
            out.last_problem =
                Some(Rec { p: &mut *p }.note(channel, version, 0, Reason::PromotionFailed));
            continue;
        }
        if mutated!(setup, RaiseFloorBeforeLkgDurable) {
            if let Some(cs) = b.state.get_or_insert(channel) {
                cs.floor = cs.floor.max(version);
            }
            b.store
                .persist(p, &mut b.state, true)
                .map_err(LoadError::Platform)?;
        }
        let token = match copy_to_lkg(p, setup, channel, version, active.as_bytes()) {
            Ok(t) => t,
            Err(_) => {
                out.promotion = Promotion::Failed;
                out.last_problem =
                    Some(Rec { p: &mut *p }.note(channel, version, 0, Reason::PromotionFailed));
                continue;
            }
        };
        record_lkg(&mut b, p, token)?;
        out.lkg_version = Some(version);
        out.trial_attempt = None;
        out.promotion = Promotion::Done;
        Rec { p: &mut *p }.note(channel, version, 0, Reason::Promoted);
    }
    Ok(Phase::Promoted(Promoted {
        config: b.config,
        state: b.state,
    }))
}

/// Steps 1: temp, flush, rename, sync. Only this makes an [`LkgDurable`].
fn copy_to_lkg<P: Platform>(
    p: &mut P,
    setup: &Setup<'_>,
    channel: u32,
    version: u64,
    bytes: &[u8],
) -> Result<LkgDurable, LoadError> {
    let e = LoadError::Platform;
    if mutated!(setup, LkgInPlace) {
        // Broken on purpose: the "temp" is renamed first, then rewritten in place.
        p.lkg_write_temp(channel, &[]).map_err(e)?;
        p.lkg_rename_temp(channel).map_err(e)?;
        p.lkg_sync(channel).map_err(e)?;
        p.lkg_write_temp(channel, bytes).map_err(e)?;
        p.lkg_flush_temp(channel).map_err(e)?;
        p.lkg_rename_temp(channel).map_err(e)?;
        p.lkg_sync(channel).map_err(e)?;
        return Ok(LkgDurable { channel, version });
    }
    p.lkg_write_temp(channel, bytes).map_err(e)?;
    if !mutated!(setup, SkipFlushOnLkgWrite) {
        p.lkg_flush_temp(channel).map_err(e)?;
    }
    p.lkg_rename_temp(channel).map_err(e)?;
    p.lkg_sync(channel).map_err(e)?;
    Ok(LkgDurable { channel, version })
}

/// Steps 2 and 3: record the LKG, close the trial, then raise the floor (L4).
fn record_lkg<P: Platform>(b: &mut Booted, p: &mut P, proof: LkgDurable) -> Result<(), LoadError> {
    let cs = b
        .state
        .get_or_insert(proof.channel)
        .ok_or(LoadError::Unreachable("promoted channel not in state"))?;
    cs.lkg_version = proof.version;
    cs.trial = None;
    b.store
        .persist(p, &mut b.state, true)
        .map_err(LoadError::Platform)?;
    let cs = b
        .state
        .get_or_insert(proof.channel)
        .ok_or(LoadError::Unreachable("promoted channel not in state"))?;
    cs.floor = cs.floor.max(proof.version);
    b.store
        .persist(p, &mut b.state, true)
        .map_err(LoadError::Platform)?;
    Ok(())
}
