//! The boot algorithm (and reload): which content each channel runs.
//!
//! # Per channel, at every boot (channels are independent)
//! 1. Read the LKG copy (Current, else Temp after an interrupted rename, which is
//!    then renamed back) and validate it; it must be the LKG the state record
//!    names, or the trial whose promotion got past its rename ([`crate::lkg`]).
//! 2. Open trial from the last boot? If the LKG copy already holds that version,
//!    the promotion got past its rename: roll it forward. If its last boot ended
//!    cleanly (the trial `survived`: a recorded shutdown, or a promotion that
//!    failed on I/O after the health window) or it is still running in this boot
//!    (a reload, [`reload`]), it may continue at the same attempt: nothing
//!    crashed. Else it crashed: at `attempt >= MaxTrialBoots` it is quarantined;
//!    below, it may be retried at `attempt + 1`. A trial that is not continued
//!    is dropped if no crash was ever counted against it, else quarantined (its
//!    crash count must not be forgotten, I3).
//! 3. Choose a candidate by policy and read it, newest first until one
//!    validates, within a per-boot budget ([`crate::candidate`]; never
//!    quarantined; Latest/NMinus1 never below the floor and only newer than a
//!    valid LKG, since equal means "use the LKG"). The directory listing is
//!    bounded so junk cannot hide valid files ([`crate::listing`]).
//! 4. Memory budget ([`crate::budget`]): the candidate is planned if its
//!    charge fits what is left, else the LKG copy, else nothing yet (reason
//!    405 for each that does not fit). Only the planned buffer is kept: the
//!    LKG buffer is dropped when a candidate is planned and read again in
//!    step 6 only if the candidate is not activated. A candidate over budget
//!    never gets a trial record.
//! 5. Record "V on trial, attempt k" for every channel at once and flush it
//!    (one state write), BEFORE anything is activated ([`TrialDurable`]).
//! 6. Activate: candidate -> LKG -> golden -> none, recording each step down;
//!    content not reserved in step 4 is admitted to the budget here.
//!
//! Channels the loader knows (state record, golden content) come first; a
//! channel named only by files in the directory is admitted into the state
//! record only with a validated candidate (S6), so names of fake channels
//! never crowd out a real one.
//!
//! Promotion, the clean-shutdown record and reload support are in
//! [`crate::promote`].
//!
//! # Invariants (checked by crates/sim after every boot)
//! - L1: everything in [`ChannelOutcome::active`] passed `validate` in this boot.
//! - L2: trial content is never activated unless its trial record is durable
//!   (with `survived` cleared: a crash in this boot counts).
//! - L3: the only durable LKG copy is never overwritten before a newer copy is durable
//!   (temp is written only while Current is valid, or after Temp was renamed back).
//! - L4: the floor is raised only after the LKG copy of that version is durable,
//!   so it never blocks the LKG; LKG activation ignores the floor anyway.
//! - L5: bounded work: every loop is bounded by `MAX_DIR_ENTRIES`,
//!   `MAX_LISTED_CHANNELS`, `MAX_CHANNELS` or a candidate budget.
//! - L6: a version is quarantined only when a crash was counted against it: a
//!   clean shutdown, a reload or a promotion I/O failure never counts.
//! - L7: the charges of the active channels sum to at most the memory budget
//!   (B1 in [`crate::budget`]); between phases a channel holds one buffer.

mod outcome;
mod setup;

pub use outcome::{
    Booted, ChannelOutcome, HealthConfirmed, Loader, Phase, Promotion, Resume, Settled,
    TrialDurable,
};
#[cfg(feature = "mutations")]
pub use setup::Mutation;
pub use setup::{Setup, Source};

use alloc::vec::Vec;
use changuard_format::{ValidChannel, limits::MAX_FILE_LEN, validate};

use crate::budget::{self, Budget, Over};
use crate::candidate::{self, Walk};
use crate::config::{Config, DEFAULT_MEMORY_BUDGET_MIB};
use crate::error::LoadError;
use crate::gate;
use crate::limits::{MAX_CANDIDATE_TRIES, MAX_CHANNELS, MAX_NEW_CHANNEL_TRIES};
use crate::listing::Listing;
use crate::lkg;
use crate::platform::Platform;
use crate::reason::{Decision, Reason};
use crate::state::{self, ChannelState, Heap, Recovered, State, Store, Trial};

/// Reports decisions through the platform.
pub(crate) struct Rec<'a, P> {
    pub(crate) p: &'a mut P,
}
impl<P: Platform> Rec<'_, P> {
    pub(crate) fn note(
        &mut self,
        channel: u32,
        version: u64,
        attempt: u32,
        reason: Reason,
    ) -> Decision {
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

/// Run the boot algorithm. Never fails and never panics: every problem is a
/// recorded decision and a step down the fallback chain (promise 3).
pub fn boot<P: Platform>(p: &mut P, setup: &Setup<'_>) -> Loader<P::Buf> {
    // A static, not a ~340-byte temporary in this frame (kernel stack).
    static NOTHING_RUNNING: Resume = Resume::none();
    boot_with(p, setup, &NOTHING_RUNNING)
}

/// `IOCTL_RELOAD`: run the boot algorithm again in the same boot. The trials
/// in `resume` ([`Loader::resume`] of the loader being replaced) are still
/// running, not crashed: they continue at the same attempt instead of opening
/// a new one (issue 11 finding 1). Build the new loader before dropping the
/// old one (its content stays active meanwhile). The new loader's memory
/// budget covers its own content only: while both exist the peak is at most
/// twice the budget ([`crate::budget`], "Reload").
pub fn reload<P: Platform>(p: &mut P, setup: &Setup<'_>, resume: &Resume) -> Loader<P::Buf> {
    boot_with(p, setup, resume)
}

/// What phase A works with, besides the platform.
struct Ctx<'a, 's> {
    setup: &'a Setup<'s>,
    config: &'a Config,
    resume: &'a Resume,
    /// No valid state record: any valid LKG copy is accepted ([`crate::lkg`]).
    tofu: bool,
}

fn boot_with<P: Platform>(p: &mut P, setup: &Setup<'_>, resume: &Resume) -> Loader<P::Buf> {
    // Configuration and state record live on the heap (kernel stack budget).
    // Without memory for them (or for the slot buffer) nothing can be read, so
    // nothing may be written either (S1): run with no content, as when the
    // outcomes cannot be held (promise 3).
    let no_memory = |p: &mut P| {
        Rec { p: &mut *p }.note(0, 0, 0, Reason::NoContent);
        Loader {
            channels: Vec::new(),
            phase: Err(LoadError::NoMemory),
            budget: Budget::new(DEFAULT_MEMORY_BUDGET_MIB),
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

    // The release gate: the keyring in force (a newer one stored durably
    // first), or the compiled keys. Every validation below goes through it.
    let Some((gate, raised)) = gate::open(&mut Rec { p: &mut *p }, setup, &config, &mut st) else {
        return no_memory(p);
    };
    dirty |= raised;
    let gated = Setup {
        gate: Some(&*gate),
        ..*setup
    };
    let setup = &gated;

    // Known channels: state record, then golden; sorted, at most MAX_CHANNELS.
    let mut known = [0u32; MAX_CHANNELS];
    let mut known_len = 0usize;
    let mut too_many = false;
    let mut add = |c: u32| {
        if c == 0 || known.get(..known_len).is_some_and(|s| s.contains(&c)) {
            return;
        }
        match known.get_mut(known_len) {
            Some(slot) => {
                *slot = c;
                known_len = known_len.saturating_add(1);
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
    if let Some(s) = known.get_mut(..known_len) {
        s.sort_unstable();
    }
    let known = known.get(..known_len).unwrap_or(&[]);

    // Directory listing, bounded; known channels are always tracked.
    let Some(mut listing) = Listing::new(known) else {
        return no_memory(p);
    };
    listing.read(p, config.content_dir.as_str());
    {
        let mut r = Rec { p: &mut *p };
        if listing.unreadable {
            r.note(0, 0, 0, Reason::DirUnreadable);
        }
        if listing.truncated {
            r.note(0, 0, 0, Reason::ListingTruncated);
        }
        if too_many {
            r.note(0, 0, 0, Reason::TooManyChannels);
        }
    }

    let Some(mut building) = Building::new(Budget::new(config.memory_budget_mib)) else {
        // Cannot even hold the outcomes: run with no content (promise 3).
        Rec { p: &mut *p }.note(0, 0, 0, Reason::NoContent);
        return Loader {
            channels: Vec::new(),
            phase: Err(LoadError::NoMemory),
            budget: Budget::new(config.memory_budget_mib),
        };
    };
    let ctx = Ctx {
        setup,
        config: &config,
        resume,
        tofu: recovered_slot.is_none(),
    };

    // Phase A: per channel, LKG, trial bookkeeping, candidate choice and validation.
    dirty |= phase_a_known(p, &ctx, &mut st, known, &listing, &mut building);
    dirty |= phase_a_new(p, &ctx, &mut st, &listing, &mut building);

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
    let (channels, budget) = phase_c(p, setup, &st, building, durable.as_ref());

    Loader {
        channels,
        budget,
        phase: Ok(Phase::Booted(Booted {
            config,
            state: st,
            store,
            state_durable,
            promotion_tries: 0,
        })),
    }
}

/// A channel's candidate and LKG slots (phase A fills them, phase C takes them).
type Held<'a, B> = (
    &'a mut Option<ValidChannel<B>>,
    &'a mut Option<ValidChannel<B>>,
);

/// An opened outcome: the outcome, its candidate and LKG slots, the
/// scratch channel state and the memory budget.
type Slots<'a, B> = (
    &'a mut ChannelOutcome<B>,
    &'a mut Option<ValidChannel<B>>,
    &'a mut Option<ValidChannel<B>>,
    &'a mut ChannelState,
    &'a mut Budget,
);

/// The outcomes being built: one per channel with the candidate and LKG
/// copy it takes to phase C, and the new channels whose files were all
/// rejected (shown only if room remains). Heap only: `boot_with`'s frame
/// stays small, and the validated copies are written straight into
/// `pending` (kernel stack).
struct Building<B> {
    channels: Vec<ChannelOutcome<B>>,
    pending: Vec<Pending<B>>,
    failed: Vec<(u32, Option<Decision>)>,
    /// A channel's state before phase A changed it (dirty check).
    before: Heap<ChannelState>,
    /// The memory budget, charged in admission order.
    budget: Budget,
}

impl<B: AsRef<[u8]>> Building<B> {
    /// Room for `MAX_CHANNELS` of each; `None` without memory.
    fn new(budget: Budget) -> Option<Building<B>> {
        let mut b = Building {
            channels: Vec::new(),
            pending: Vec::new(),
            failed: Vec::new(),
            before: Heap::new(ChannelState::new(0))?,
            budget,
        };
        b.channels.try_reserve_exact(MAX_CHANNELS).ok()?;
        b.pending.try_reserve_exact(MAX_CHANNELS).ok()?;
        b.failed.try_reserve_exact(MAX_CHANNELS).ok()?;
        Some(b)
    }

    /// Open an outcome for `channel` (within the reserved capacity): the
    /// outcome, and the candidate and LKG slots phase A fills in place.
    fn open(&mut self, channel: u32) -> Option<Slots<'_, B>> {
        if self.channels.len() >= MAX_CHANNELS {
            return None;
        }
        self.channels.push(ChannelOutcome::new(channel));
        let idx = self.channels.len().saturating_sub(1);
        self.pending.push((idx, None, None));
        let out = self.channels.last_mut()?;
        let (_, cand, lkg) = self.pending.last_mut()?;
        Some((out, cand, lkg, &mut self.before, &mut self.budget))
    }

    /// Take back the outcome just opened (a new channel whose files were all
    /// rejected): kept as failed, shown only if room remains.
    fn fail_last(&mut self) {
        self.pending.pop();
        if let Some(out) = self.channels.pop() {
            if self.failed.len() < MAX_CHANNELS {
                self.failed.push((out.channel, out.last_problem));
            }
        }
    }
}

/// Phase A for the known channels (state record, golden content); `true`
/// when the state record changed.
#[inline(never)]
fn phase_a_known<P: Platform>(
    p: &mut P,
    ctx: &Ctx<'_, '_>,
    st: &mut State,
    known: &[u32],
    listing: &Listing,
    b: &mut Building<P::Buf>,
) -> bool {
    let mut dirty = false;
    for &channel in known {
        let Some((out, cand, lkg, before, budget)) = b.open(channel) else {
            break;
        };
        match st.get_or_insert(channel) {
            // The entry exists, or there is room: a golden-only channel's entry
            // is dropped again below unless it recorded something (S6).
            Some(cs) => {
                *before = *cs;
                known_channel(p, ctx, cs, listing, out, (cand, lkg), budget);
                dirty |= *cs != *before;
            }
            None => {
                out.last_problem =
                    Some(Rec { p: &mut *p }.note(channel, 0, 0, Reason::TooManyChannels));
            }
        }
        st.retain_recorded();
    }
    dirty
}

/// Phase A for the channels named only by the directory: admitted with a
/// validated candidate only, while the state record and the outcomes have
/// room (S6); `true` when one was admitted.
#[inline(never)]
fn phase_a_new<P: Platform>(
    p: &mut P,
    ctx: &Ctx<'_, '_>,
    st: &mut State,
    listing: &Listing,
    b: &mut Building<P::Buf>,
) -> bool {
    let mut dirty = false;
    for channel in listing.new_channels() {
        let Some((out, cand, _, scratch, budget)) = b.open(channel) else {
            Rec { p: &mut *p }.note(channel, 0, 0, Reason::TooManyChannels);
            continue;
        };
        if new_channel(p, ctx, st, listing, out, cand, (scratch, budget)) {
            dirty = true;
        } else {
            b.fail_last();
        }
    }
    dirty
}

/// Phase C: activate every channel down the fallback chain (in phase A's
/// order, so budget admission is deterministic), then show the new channels
/// whose files were all rejected while room remains. Sorted by channel id.
#[inline(never)]
fn phase_c<P: Platform>(
    p: &mut P,
    setup: &Setup<'_>,
    st: &State,
    b: Building<P::Buf>,
    durable: Option<&TrialDurable>,
) -> (Vec<ChannelOutcome<P::Buf>>, Budget) {
    let Building {
        mut channels,
        mut pending,
        failed,
        mut budget,
        ..
    } = b;
    for (idx, cand, lkg) in pending.iter_mut() {
        let Some(out) = channels.get_mut(*idx) else {
            continue;
        };
        let cs = st.get(out.channel);
        let trial = cs.and_then(|c| c.trial);
        let lkg_hash = cs.map_or(0, |c| c.lkg_hash);
        activate(
            p,
            setup,
            out,
            (cand, lkg),
            (trial, lkg_hash),
            (durable, &mut budget),
        );
    }
    drop(pending);
    for (id, problem) in failed {
        if channels.len() >= MAX_CHANNELS {
            break;
        }
        let mut out = ChannelOutcome::new(id);
        let d = Rec { p: &mut *p }.note(id, 0, 0, Reason::NoContent);
        out.last_problem = Some(problem.unwrap_or(d));
        channels.push(out);
    }
    channels.sort_unstable_by_key(|c| c.channel);
    (channels, budget)
}

/// Phase A for a channel the loader knows (state record or golden content):
/// its validated candidate and LKG copy go into `cand` and `lkg`.
#[inline(never)]
fn known_channel<P: Platform>(
    p: &mut P,
    ctx: &Ctx<'_, '_>,
    cs: &mut ChannelState,
    listing: &Listing,
    out: &mut ChannelOutcome<P::Buf>,
    (cand, lkg): Held<'_, P::Buf>,
    budget: &mut Budget,
) {
    let channel = cs.channel;
    let setup = ctx.setup;
    let mut r = Rec { p: &mut *p };

    // 0. A newer signed halt for this channel is recorded (S7) before
    // anything is chosen (G3).
    if let Some(g) = setup.gate {
        g.read_halt(&mut r, ctx.config, cs);
    }

    // 1. LKG copy.
    let expect = lkg::Expect::new(Some(&*cs), ctx.tofu);
    let lkg_hash = lkg::read(&mut r, setup, channel, &expect, out, lkg);
    let lkg_v = lkg.as_ref().map(ValidChannel::version);
    out.lkg_version = lkg_v;

    // 2. Open trial from the last boot: `(trial, clean)`. `crashed`: it did
    // not end cleanly, so this is a recovery boot (step 3).
    let mut open: Option<(Trial, bool)> = None;
    // A reload in a recovery boot is still a recovery boot.
    let mut crashed = ctx.resume.recovering().contains(&channel);
    if let Some(t) = cs.trial {
        let running = ctx.resume.contains(channel, &t);
        if lkg_v == Some(t.version) {
            if let Some(h) = lkg_hash {
                cs.lkg_hash = h;
            }
            cs.lkg_version = t.version;
            cs.floor = cs.floor.max(t.version);
            cs.trial = None;
            r.note(
                channel,
                t.version,
                t.attempt,
                Reason::PromotionRolledForward,
            );
        } else if (t.survived || running) && !mutated!(setup, CountCleanEnds) {
            open = Some((t, true));
        } else if t.attempt >= ctx.config.max_trial_boots && !mutated!(setup, NoQuarantine) {
            quarantine(setup, cs, t.version);
            cs.trial = None;
            crashed = true;
            out.last_problem = Some(r.note(channel, t.version, t.attempt, Reason::Quarantined));
        } else {
            open = Some((t, false));
            crashed = true;
        }
    }
    if let (Some(v), Some(h)) = (lkg_v, lkg_hash) {
        // First use after a lost record, or a record from before hashes.
        if cs.lkg_version != v || cs.lkg_hash != h {
            cs.lkg_version = v;
            cs.lkg_hash = h;
        }
    }

    // 3. Candidate choice, read + validate, newest first. After a crash on
    // trial content this is a recovery boot: only a retry of the same version
    // (below MaxTrialBoots) may run on trial; another version waits for the
    // next boot, so bad versions never crash two boots in a row (Windows
    // sends a machine to WinRE after two failed boots).
    let keep = open.map(|(t, _)| t.version);
    let all = listing.versions(channel);
    let present = match &keep {
        _ if !crashed => all,
        Some(v) if all.contains(v) => core::slice::from_ref(v),
        _ => &[],
    };
    out.recovery = crashed;
    if crashed && present.is_empty() {
        r.note(channel, 0, 0, Reason::RecoveryBoot);
    }
    let walk = Walk {
        present,
        lkg_v,
        tries: MAX_CANDIDATE_TRIES,
        remember: true,
        trial: keep,
    };
    let cand_hash = candidate::pick(&mut r, setup, ctx.config, cs, &walk, out, cand);
    if crashed && !present.is_empty() && cand.is_none() {
        // The trial's version may not run again (a halt, a gate refusal, a
        // file gone bad): still a recovery boot, so nothing else starts.
        r.note(channel, 0, 0, Reason::RecoveryBoot);
    }
    // 4. Budget: plan one buffer; an over-budget candidate gets no trial record.
    plan(&mut r, budget, out, cand, lkg);
    let cand_v = cand.as_ref().map(ValidChannel::version);

    // An unfinished trial that is not continued now: dropped if no crash was
    // counted against it, else quarantined (forgetting its count would allow
    // more than MaxTrialBoots crashes later, I3).
    if let Some((t, clean)) = open {
        if cand_v != Some(t.version) {
            let counted = if clean {
                t.attempt.saturating_sub(1)
            } else {
                t.counted_crashes()
            };
            if counted == 0 && cs.halt.halts(t.version) {
                // Halted mid-trial: back to the LKG, not quarantined (nothing
                // crashed here; quarantine stays the machine's own decision).
                out.last_problem = Some(r.note(channel, t.version, t.attempt, Reason::TrialHalted));
            } else if counted == 0 {
                r.note(channel, t.version, t.attempt, Reason::TrialDropped);
            } else {
                quarantine(setup, cs, t.version);
                out.last_problem =
                    Some(r.note(channel, t.version, t.attempt, Reason::TrialSuperseded));
            }
        }
    }

    // Trial bookkeeping for phase B.
    match (cand_v, cand_hash) {
        (Some(v), _) if v == cs.lkg_version && cs.lkg_version != 0 => {
            cs.trial = None;
            r.note(channel, v, 0, Reason::Proven);
        }
        (Some(v), Some(hash)) => {
            let attempt = match open {
                Some((t, true)) if t.version == v => {
                    r.note(channel, v, t.attempt, Reason::TrialContinued);
                    t.attempt
                }
                Some((t, false)) if t.version == v => {
                    r.note(channel, v, t.attempt, Reason::TrialRetried);
                    t.attempt.saturating_add(1)
                }
                _ => 1,
            };
            // `survived` cleared: a crash in this boot must count (L2).
            cs.trial = Some(Trial {
                version: v,
                attempt,
                survived: false,
                hash,
            });
        }
        _ => cs.trial = None,
    }
}

/// `cs.quarantine(v)` (or, mutated, the eviction it replaced).
fn quarantine(setup: &Setup<'_>, cs: &mut ChannelState, v: u64) {
    #[cfg(feature = "mutations")]
    let floor = cs.quarantine_floor();
    cs.quarantine(v);
    if mutated!(setup, EvictQuarantine) {
        #[cfg(feature = "mutations")]
        cs.set_quarantine_floor(floor);
    }
}

/// Phase A for a channel named only by the directory: its candidate (with a
/// smaller budget, nothing remembered) goes into `cand`; the channel is
/// admitted into `st` with its trial record only when it validated and the
/// record has room (S6). `cs` is scratch. `true` when admitted.
#[inline(never)]
fn new_channel<P: Platform>(
    p: &mut P,
    ctx: &Ctx<'_, '_>,
    st: &mut State,
    listing: &Listing,
    out: &mut ChannelOutcome<P::Buf>,
    cand: &mut Option<ValidChannel<P::Buf>>,
    (cs, budget): (&mut ChannelState, &mut Budget),
) -> bool {
    let channel = out.channel;
    let mut r = Rec { p: &mut *p };
    *cs = ChannelState::new(channel);
    if let Some(g) = ctx.setup.gate {
        g.read_halt(&mut r, ctx.config, cs);
    }
    let walk = Walk {
        present: listing.versions(channel),
        lkg_v: None,
        tries: MAX_NEW_CHANNEL_TRIES,
        remember: false,
        trial: None,
    };
    let Some(hash) = candidate::pick(&mut r, ctx.setup, ctx.config, cs, &walk, out, cand) else {
        return false;
    };
    // Over budget: not admitted (no trial record, no state entry).
    plan(&mut r, budget, out, cand, &mut None);
    let Some(version) = cand.as_ref().map(ValidChannel::version) else {
        return false;
    };
    let Some(entry) = st.get_or_insert(channel) else {
        *cand = None;
        release(budget, out);
        out.last_problem = Some(r.note(channel, version, 0, Reason::TooManyChannels));
        return false;
    };
    entry.trial = Some(Trial::first(version, hash));
    entry.halt = cs.halt;
    true
}

/// Phase A, step 4 (budget): keep the candidate if its charge fits, else
/// the LKG copy if its charge fits, else neither (reason 405 for each that
/// does not). The reservation goes to `out.charged`; a planned candidate
/// drops the LKG buffer (read again in phase C if needed).
fn plan<P: Platform>(
    r: &mut Rec<'_, P>,
    budget: &mut Budget,
    out: &mut ChannelOutcome<P::Buf>,
    cand: &mut Option<ValidChannel<P::Buf>>,
    lkg: &mut Option<ValidChannel<P::Buf>>,
) {
    // Candidate first, then the LKG copy. A candidate over budget is not
    // remembered as rejected: it is valid, and may fit at a later boot.
    for slot in [cand, lkg] {
        let Some(c) = slot.as_ref() else {
            continue;
        };
        if out.charged != 0 {
            // The candidate is planned: the LKG buffer is not held (step 4).
            *slot = None;
            out.lkg_deferred = true;
            continue;
        }
        if let Err(why) = reserve(budget, out, c) {
            let v = c.version();
            *slot = None;
            out.last_problem = Some(r.note(out.channel, v, 0, why));
        }
    }
}

/// Charge `c` (memory and proven cost) to the budget for `out`; the reason
/// to record when it does not fit.
fn reserve<B: AsRef<[u8]>, C: AsRef<[u8]>>(
    budget: &mut Budget,
    out: &mut ChannelOutcome<B>,
    c: &ValidChannel<C>,
) -> Result<(), Reason> {
    let bytes = budget::charge(c.as_bytes().len());
    let cost = c.cost_bound();
    match budget.admit_with(bytes, &cost) {
        Ok(()) => {
            out.charged = bytes;
            out.cost = cost;
            Ok(())
        }
        Err(Over::Memory) => Err(Reason::OverMemoryBudget),
        Err(Over::Cost) => Err(Reason::OverCostCeiling),
    }
}

/// Give back `out`'s reservation.
fn release<B>(budget: &mut Budget, out: &mut ChannelOutcome<B>) {
    budget.release(
        core::mem::take(&mut out.charged),
        &core::mem::take(&mut out.cost),
    );
}

/// Admit `c` to the budget in phase C unless phase A reserved it; `false`
/// (reason 405 recorded) when it does not fit.
fn admit_now<P: Platform, B: AsRef<[u8]>>(
    r: &mut Rec<'_, P>,
    budget: &mut Budget,
    out: &mut ChannelOutcome<B>,
    c: &ValidChannel<B>,
) -> bool {
    if out.charged != 0 {
        return true;
    }
    match reserve(budget, out, c) {
        Ok(()) => true,
        Err(why) => {
            out.last_problem = Some(r.note(out.channel, c.version(), 0, why));
            false
        }
    }
}

/// Phase C for one channel: the candidate on trial (if its record is
/// durable), or proven; else the LKG (read again if phase A dropped it);
/// else golden content; else none. Content phase A did not reserve is
/// admitted to the budget here, or steps down (reason 405).
// Not inlined: the golden read and its validation stay out of `boot_with`'s frame.
#[inline(never)]
fn activate<P: Platform>(
    p: &mut P,
    setup: &Setup<'_>,
    out: &mut ChannelOutcome<P::Buf>,
    (cand, lkg): Held<'_, P::Buf>,
    (trial, lkg_hash): (Option<Trial>, u64),
    (durable, budget): (Option<&TrialDurable>, &mut Budget),
) {
    let channel = out.channel;
    let mut r = Rec { p: &mut *p };
    if let Some(c) = cand.take() {
        match (durable, trial) {
            (Some(proof), Some(t)) if t.version == c.version() => {
                activate_trial(out, c, t, proof);
                r.note(channel, t.version, t.attempt, Reason::OnTrial);
                return;
            }
            (_, None) => {
                // Proven: the LKG version, no trial needed.
                out.source = Source::Candidate;
                out.active = Some(c);
                return;
            }
            _ => {
                out.last_problem = Some(r.note(channel, c.version(), 0, Reason::TrialNotRecorded));
            }
        }
        // Not activated: its reservation is given back.
        release(budget, out);
    }
    if core::mem::take(&mut out.lkg_deferred) && lkg.is_none() {
        // Read again only now that the candidate failed; it must be the very
        // copy phase A validated (same version and content hash).
        if let Some(v) = out.lkg_version {
            let expect = lkg::Expect::exact(v, lkg_hash);
            lkg::read(&mut r, setup, channel, &expect, out, lkg);
        }
    }
    if let Some(l) = lkg.take() {
        if admit_now(&mut r, budget, out, &l) {
            r.note(channel, l.version(), 0, Reason::LkgActivated);
            out.source = Source::Lkg;
            out.active = Some(l);
            return;
        }
    }
    match r.p.golden(channel, MAX_FILE_LEN) {
        Ok(Some(buf)) => match validate(buf, &setup.trust, channel) {
            Ok(g) if !admit_now(&mut r, budget, out, &g) => {}
            Ok(g) => {
                r.note(channel, g.version(), 0, Reason::GoldenActivated);
                out.source = Source::Golden;
                out.active = Some(g);
                return;
            }
            Err(rej) => out.last_problem = Some(r.note(channel, 0, 0, Reason::GoldenRejected(rej))),
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
