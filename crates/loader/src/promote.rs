//! After boot: promotion, the clean-shutdown record, and what a reload
//! carries over (issue 11 findings 1 and 2, loader side).
//!
//! # Promotion (after the health window, [`HealthConfirmed`])
//! Health is per channel: [`HealthConfirmed`] proves only the machine-level
//! condition (uptime past the window, still `Booted`); the caller names the
//! channels whose content made the interpreter fault during the window. Those
//! are not promoted (`Promotion::Failed`, [`Reason::FaultedDuringTrial`]) and
//! their trial stays open and unsurvived, so the next boot quarantines them at
//! `MaxTrialBoots` like a crash: content that passed validation yet made the
//! interpreter fault is not trusted. One channel's fault never withholds
//! another's promotion (promise 3).
//!
//! For each other channel whose active content is on trial:
//! 1. write LKG temp, flush it, rename it over Current, sync (-> [`LkgDurable`]);
//! 2. state: `lkg_version = V` (and its content hash), trial closed; write + flush;
//! 3. state: `floor = max(floor, V)`; write + flush.
//!
//! An LKG store step that fails (a sharing violation on the rename, a full
//! disk) is not the content's fault: the health window passed. The trial is
//! marked `survived` (written + flushed), so no later boot counts it as a
//! crash, and the channel stays `Pending`: the caller may run promotion again
//! this boot, at most [`MAX_PROMOTION_TRIES`] runs in all; the next boot
//! continues the trial and promotes it after its window.
//!
//! # Clean shutdown ([`Loader::shutdown`])
//! The driver calls it from its shutdown notification (and unload): every
//! trial running in this boot that did not fault is marked `survived`
//! (written + flushed), so the next boot continues it at the same attempt
//! instead of counting a crash. A crash or power loss before the record is
//! durable leaves it unsurvived: that boot did not end cleanly.
//!
//! # Reload ([`Loader::resume`], [`crate::boot::reload`])
//! The trials running now, minus faulted ones, are handed to the new loader:
//! nothing crashed, so they continue without a new attempt.

use changuard_format::ValidChannel;

use crate::boot::{
    Booted, ChannelOutcome, HealthConfirmed, Loader, Phase, Promotion, Rec, Resume, Settled, Setup,
};
use crate::digest::content_hash;
use crate::error::LoadError;
use crate::limits::MAX_PROMOTION_TRIES;
use crate::platform::Platform;
use crate::reason::Reason;

/// Proof that a channel's LKG copy of a version is durable (only the LKG copy step makes it).
#[derive(Debug)]
pub struct LkgDurable {
    channel: u32,
    version: u64,
    hash: u64,
}

impl<B: AsRef<[u8]>> Loader<B> {
    /// Is anything on trial waiting for promotion (or for a promotion retry)?
    pub fn promotion_pending(&self) -> bool {
        matches!(self.phase, Ok(Phase::Booted(_)))
            && self
                .channels
                .iter()
                .any(|c| c.promotion == Promotion::Pending)
    }

    /// The machine-level health proof: still `Booted` (no promotion finished,
    /// no sticky error) and uptime >= `HealthWindowSeconds`. It says nothing
    /// about faults: those are per channel, passed to [`Loader::promote`].
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
    /// are not on trial are ignored. A channel whose LKG store step failed
    /// stays `Pending` while retries are left ([`Loader::promotion_pending`]);
    /// call again later (a new [`HealthConfirmed`]).
    /// Transition `Booted -> Promoted` (or `Booted` while retries are pending);
    /// a failure to persist the state record is sticky (no more transitions
    /// this boot; the active content stays active).
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
            Ok(Phase::Promoted(_) | Phase::ShutDown(_)) => {
                Err(LoadError::Misuse("promote: already promoted this boot"))
            }
            Err(e) => Err(e),
        };
        self.settle(next)
    }

    /// The clean end of this boot (module docs, "Clean shutdown"): mark every
    /// trial running in this boot `survived`, except the channels in `faulted`
    /// (and those the loader saw fault), and make that durable. Call it from
    /// the shutdown notification once no content is evaluated any more (a
    /// crash after the record is not counted), and on unload. Idempotent:
    /// a second call does nothing.
    ///
    /// # Errors
    /// `Platform` when the record could not be written (the next boot then
    /// counts the trials as crashed: safe); the sticky error if one is stored.
    pub fn shutdown<P: Platform>(&mut self, p: &mut P, faulted: &[u32]) -> Result<(), LoadError> {
        let phase = core::mem::replace(
            &mut self.phase,
            Err(LoadError::Unreachable("shutdown in progress")),
        );
        let settled = match phase {
            Ok(Phase::Booted(b)) => Ok(Settled {
                config: b.config,
                state: b.state,
                store: b.store,
                state_durable: b.state_durable,
            }),
            Ok(Phase::Promoted(s)) => Ok(s),
            Ok(Phase::ShutDown(s)) => {
                self.phase = Ok(Phase::ShutDown(s));
                return Ok(());
            }
            Err(e) => Err(e),
        };
        let next = settled.and_then(|s| shutdown(s, p, &self.channels, faulted));
        self.settle(next)
    }

    /// What a reload carries over (pass it to [`crate::boot::reload`]): the
    /// trials running in this boot, which a reload must not count as a new
    /// attempt (every channel active on trial, not promoted, and not faulted:
    /// `faulted` or seen by [`Loader::promote`]), and the channels in a
    /// recovery boot, which must not start a trial in this boot.
    pub fn resume(&self, faulted: &[u32]) -> Resume {
        let mut r = Resume::none();
        self.resume_into(faulted, &mut r);
        r
    }

    /// [`Loader::resume`] into `out` (reset first), so a kernel caller can
    /// keep the ~350-byte value in static or pool memory, off the stack.
    pub fn resume_into(&self, faulted: &[u32], out: &mut Resume) {
        *out = Resume::none();
        for c in self.running_trials(faulted) {
            if let (Some(a), Some(v)) = (c.trial_attempt, c.active_version()) {
                out.push(c.channel, v, a);
            }
        }
        for c in self.channels.iter().filter(|c| c.recovery) {
            out.push_recovering(c.channel);
        }
    }

    fn running_trials<'a>(
        &'a self,
        faulted: &'a [u32],
    ) -> impl Iterator<Item = &'a ChannelOutcome<B>> + 'a {
        self.channels.iter().filter(move |c| running(c, faulted))
    }

    fn settle(&mut self, next: Result<Phase, LoadError>) -> Result<(), LoadError> {
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

/// Is `c` a trial running in this boot that did not fault (nor was named in `faulted`)?
fn running<B>(c: &ChannelOutcome<B>, faulted: &[u32]) -> bool {
    c.trial_attempt.is_some()
        && c.active.is_some()
        && c.promotion != Promotion::Done
        && !c.faulted
        && !faulted.contains(&c.channel)
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
    b.promotion_tries = b.promotion_tries.saturating_add(1);
    let retry_left = b.promotion_tries < MAX_PROMOTION_TRIES;
    let mut survived = false;
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
        let attempt = out.trial_attempt.unwrap_or(0);
        if faulted.contains(&channel) {
            // Not trusted: the trial stays open (state untouched), so the next
            // boot counts this attempt and quarantines at MaxTrialBoots.
            out.promotion = Promotion::Failed;
            out.faulted = true;
            out.last_problem = Some(Rec { p: &mut *p }.note(
                channel,
                version,
                attempt,
                Reason::FaultedDuringTrial,
            ));
            continue;
        }
        // Not the content's fault from here on: the health window passed.
        let copied = if out.lkg_needs_repair {
            // Temp holds the only LKG copy: never overwrite it (L3).
            None
        } else {
            if mutated!(setup, RaiseFloorBeforeLkgDurable) {
                if let Some(cs) = b.state.get_or_insert(channel) {
                    cs.floor = cs.floor.max(version);
                }
                b.store
                    .persist(p, &mut b.state, true)
                    .map_err(LoadError::Platform)?;
            }
            copy_to_lkg(p, setup, channel, active).ok()
        };
        let Some(token) = copied else {
            out.promotion = if retry_left && !out.lkg_needs_repair {
                Promotion::Pending
            } else {
                Promotion::Failed
            };
            out.last_problem =
                Some(Rec { p: &mut *p }.note(channel, version, attempt, Reason::PromotionFailed));
            if let Some(t) = b
                .state
                .get_or_insert(channel)
                .and_then(|cs| cs.trial.as_mut())
            {
                if t.version == version && !t.survived {
                    t.survived = true;
                    survived = true;
                }
            }
            continue;
        };
        record_lkg(&mut b, p, token)?;
        out.lkg_version = Some(version);
        out.trial_attempt = None;
        out.promotion = Promotion::Done;
        Rec { p: &mut *p }.note(channel, version, 0, Reason::Promoted);
    }
    if survived {
        // The failed promotions' trials survived this boot, whatever comes next.
        b.store
            .persist(p, &mut b.state, true)
            .map_err(LoadError::Platform)?;
    }
    if channels.iter().any(|c| c.promotion == Promotion::Pending) {
        return Ok(Phase::Booted(b));
    }
    Ok(Phase::Promoted(Settled {
        config: b.config,
        state: b.state,
        store: b.store,
        state_durable: b.state_durable,
    }))
}

/// Step 1: temp, flush, rename, sync. Only this makes an [`LkgDurable`].
fn copy_to_lkg<P: Platform, B: AsRef<[u8]>>(
    p: &mut P,
    setup: &Setup<'_>,
    channel: u32,
    active: &ValidChannel<B>,
) -> Result<LkgDurable, LoadError> {
    let e = LoadError::Platform;
    let version = active.version();
    let bytes = active.as_bytes();
    let hash = content_hash(bytes);
    if mutated!(setup, LkgInPlace) {
        // Broken on purpose: the "temp" is renamed first, then rewritten in place.
        p.lkg_write_temp(channel, &[]).map_err(e)?;
        p.lkg_rename_temp(channel).map_err(e)?;
        p.lkg_sync(channel).map_err(e)?;
        p.lkg_write_temp(channel, bytes).map_err(e)?;
        p.lkg_flush_temp(channel).map_err(e)?;
        p.lkg_rename_temp(channel).map_err(e)?;
        p.lkg_sync(channel).map_err(e)?;
        return Ok(LkgDurable {
            channel,
            version,
            hash,
        });
    }
    p.lkg_write_temp(channel, bytes).map_err(e)?;
    if !mutated!(setup, SkipFlushOnLkgWrite) {
        p.lkg_flush_temp(channel).map_err(e)?;
    }
    p.lkg_rename_temp(channel).map_err(e)?;
    p.lkg_sync(channel).map_err(e)?;
    Ok(LkgDurable {
        channel,
        version,
        hash,
    })
}

/// Steps 2 and 3: record the LKG, close the trial, then raise the floor (L4).
fn record_lkg<P: Platform>(b: &mut Booted, p: &mut P, proof: LkgDurable) -> Result<(), LoadError> {
    let cs = b
        .state
        .get_or_insert(proof.channel)
        .ok_or(LoadError::Unreachable("promoted channel not in state"))?;
    cs.lkg_version = proof.version;
    cs.lkg_hash = proof.hash;
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

fn shutdown<P: Platform, B: AsRef<[u8]>>(
    mut s: Settled,
    p: &mut P,
    channels: &[ChannelOutcome<B>],
    faulted: &[u32],
) -> Result<Phase, LoadError> {
    let mut changed = false;
    if s.state_durable {
        for c in channels.iter().filter(|c| running(c, faulted)) {
            let version = c.active_version();
            if let Some(t) = s
                .state
                .get_or_insert(c.channel)
                .and_then(|cs| cs.trial.as_mut())
            {
                if Some(t.version) == version && !t.survived {
                    t.survived = true;
                    changed = true;
                }
            }
        }
    }
    if changed {
        s.store
            .persist(p, &mut s.state, true)
            .map_err(LoadError::Platform)?;
    }
    Ok(Phase::ShutDown(s))
}
