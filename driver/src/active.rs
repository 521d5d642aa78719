//! The active content as ONE value: the interpreter engine, the validated
//! views it borrows, and the loader that owns the pool buffers behind those
//! views.
//!
//! # The self-reference and how it is resolved
//! `changuard_loader::boot` returns a `Loader<PoolBuf>` that owns every active
//! channel's buffer (`ChannelOutcome::active: Option<ValidChannel<PoolBuf>>`).
//! `changuard_interp::Engine::new` takes `&'a [ValidChannel<&'a [u8]>]`: the
//! engine borrows a slice of views, and each view borrows a buffer. A
//! long-lived engine stored next to what it borrows is self-referential, which
//! safe Rust cannot name. [`Active::build`] gives both borrows the `'static`
//! lifetime. It does this in two `unsafe` blocks that are one construction,
//! argued once with the invariants below. Nothing else in the driver extends
//! a lifetime.
//!
//! # Module invariants (cited by the SAFETY comments in [`Active::build`])
//! - A1: every byte slice a view points at is the memory of a `PoolBuf`, a
//!   separate non-paged pool allocation owned through a raw `NonNull` pointer
//!   (nt.rs I3), not a `Box` or `&mut`. So moving the `Loader` (into
//!   `Active`, into a [`LentLoader`], into `sensor`'s static) or taking
//!   `&mut Loader` (`promote`) moves or covers only the 24-byte `PoolBuf`
//!   headers inside the loader's `Vec<ChannelOutcome>`, never the bytes the
//!   views point at. `ValidChannel::as_view` returns `bytes.as_ref()`, and
//!   `PoolBuf::as_ref` builds that slice from the raw pointer.
//! - A2: those bytes are never written after `validate`: a `ValidChannel<PoolBuf>`
//!   gives no access to `&mut PoolBuf` (only `as_bytes`/`as_view`, and
//!   `into_inner`, which needs to own it), and the loader never takes one out of
//!   a `ChannelOutcome` once `boot` returned.
//! - A3: nothing frees such a buffer while the `Active` exists. In
//!   crates/loader/src/boot/, `ChannelOutcome::active` is assigned only inside
//!   `boot`, before the `Loader` is returned. `Loader::promote(&mut self, ..)`
//!   passes `&mut self.channels` (a slice, so no element can be removed) to the
//!   private `promote`. That function only reads `out.active.as_ref()` and
//!   `active.as_bytes()`, and writes `promotion`, `last_problem`, `lkg_version`
//!   and `trial_attempt`. It replaces `self.phase`, which holds no buffer.
//!   `Loader::shutdown(&mut self, ..)` passes `&self.channels` (shared: no
//!   write at all) to the private `shutdown` and replaces only `self.phase`.
//!   No other `Loader` method takes `&mut self`. Checked against the tree at
//!   the commit that introduced this file and again when `shutdown` was added
//!   (issue 11); re-check on every loader change (the post-promotion check in
//!   `LentLoader::promote` catches a replaced buffer). This module never hands
//!   out `&mut Loader` or a way to replace the loader: `Active::loader` is `&`,
//!   [`LentLoader`] exposes only `health_confirmed` and `promote`, and
//!   [`Active::record_shutdown`] calls only `shutdown`. A `LentLoader` that is dropped without
//!   being given back *leaks* its loader instead of freeing the buffers.
//! - A4: `Active`'s fields are declared `engine`, `solo`, `views`, `loader`,
//!   and Rust drops fields in declaration order. The engines (which borrow the
//!   views and the bytes) go first, then the views (which borrow the bytes),
//!   then the loader (which frees the bytes). `Active` has no `Drop` impl that
//!   could observe a half-dropped state. `solo` may also be cleared earlier
//!   ([`Active::restore_loader`]): dropping an engine early only ends a borrow.
//! - A5: `views` is a `Vec` filled once (capacity reserved with
//!   `try_reserve_exact`, so no reallocation) before the engine is built, and
//!   never touched again except by `&self` reads. Its heap buffer does not
//!   move when the `Vec` or the `Active` moves. A `Vec` (unlike a `Box`)
//!   asserts no uniqueness over that buffer when moved.
//! - A6: an `Active` is reachable only through `sensor`'s locks. The data plane
//!   evaluates under the sensor lock (S2), and the control plane (load, reload,
//!   promote, unload) runs under the control lock (S3). A replaced `Active` is
//!   dropped only after the swap under the sensor lock, so no evaluation is in
//!   flight on it.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use changuard_format::ValidChannel;
use changuard_interp::{Engine, EngineError, EngineStats, EvalScratch, Event, Verdict};
use changuard_loader::limits::MAX_CHANNELS;
use changuard_loader::{HealthConfirmed, LoadError, Loader, Platform, Promotion, Setup};

use crate::nt::{PoolBuf, try_box};

/// Source of [`Active`] identities (never reused within a boot).
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// A set of at most `MAX_CHANNELS` channel ids, no allocation. Used for the
/// channels the engine refused ([`Excluded`]) and for the channels an
/// evaluation fault is attributed to ([`Active::attribute_faults`]).
#[derive(Clone, Copy)]
pub struct ChannelSet {
    ids: [u32; MAX_CHANNELS],
    len: usize,
}

/// Channels whose validated content the engine refused (an
/// `EngineError::Inconsistent`/`DuplicateChannel`: a validator/engine
/// disagreement, i.e. a bug, reported instead of panicking).
pub type Excluded = ChannelSet;

impl Default for ChannelSet {
    fn default() -> Self {
        Self::new()
    }
}

impl ChannelSet {
    /// The empty set.
    #[must_use]
    pub const fn new() -> Self {
        Self { ids: [0; MAX_CHANNELS], len: 0 }
    }

    /// The excluded channel ids.
    #[must_use]
    pub fn ids(&self) -> &[u32] {
        self.ids.get(..self.len).unwrap_or(&[])
    }

    /// Whether `channel` is excluded.
    #[must_use]
    pub fn contains(&self, channel: u32) -> bool {
        self.ids().contains(&channel)
    }

    /// Adds `channel`; `false` if it was already there or there is no room
    /// (then the caller stops retrying).
    pub fn insert(&mut self, channel: u32) -> bool {
        if self.contains(channel) {
            return false;
        }
        let Some(slot) = self.ids.get_mut(self.len) else { return false };
        *slot = channel;
        self.len = self.len.saturating_add(1);
        true
    }

    /// Adds every id of `other` (as far as there is room).
    pub fn extend(&mut self, other: &Self) {
        for &c in other.ids() {
            let _ = self.insert(c);
        }
    }
}

/// A one-channel engine over one of [`Active`]'s views, used only to attribute
/// evaluation faults to channels while a trial is open.
struct Solo {
    channel: u32,
    /// Borrows one element of `Active::views` (A5) and its pool bytes (A1).
    engine: Engine<'static>,
}

/// The engine could not be built at all: the loader is handed back so the
/// caller can report its outcomes and then drop it (no engine borrows it).
pub struct BuildFailed {
    /// The loader, unchanged.
    pub loader: Box<Loader<PoolBuf>>,
    /// Why.
    pub error: EngineError,
}

/// The active content: engine, solo engines, views, loader, in this drop order (A4).
pub struct Active {
    /// Borrows `views` (A5) and the pool bytes (A1).
    engine: Engine<'static>,
    /// While a trial is open: one engine per evaluated channel, over a
    /// one-element subslice of `views` (fault attribution). Dropped once no
    /// promotion is pending.
    solo: Vec<Solo>,
    /// One view per engine channel; borrows the pool bytes (A1). Never mutated (A5).
    views: Vec<ValidChannel<&'static [u8]>>,
    /// Owns the pool bytes. `None` only while lent for promotion ([`LentLoader`]).
    /// Boxed so that lending, restoring and installing move a pointer, not the
    /// loader's state (kernel stack, docs/DRIVER.md).
    loader: Option<Box<Loader<PoolBuf>>>,
    generation: u64,
    excluded: Excluded,
    /// Channels evaluated whose content is on trial (fault attribution fallback).
    trial: ChannelSet,
    /// `LatencyBudgetUs` in fuel (`u64::MAX` when off): an evaluation that
    /// costs more is a content fault (issue 12: trial health sees cost).
    fuel_budget: u64,
}

impl Active {
    /// Builds the engine over every channel the loader activated. A channel
    /// the engine refuses is excluded and the engine is rebuilt without it
    /// (promise 3: one channel's failure never disables the others). At most
    /// `MAX_CHANNELS + 1` attempts.
    ///
    /// The result is pool-allocated (fallibly), so installing it moves a pointer.
    ///
    /// # Errors
    /// [`BuildFailed`] (loader handed back) when an allocation fails or no
    /// engine can be built.
    pub fn build(loader: Box<Loader<PoolBuf>>) -> Result<Box<Self>, BuildFailed> {
        let mut excluded = Excluded::new();
        let mut last = EngineError::OutOfMemory;
        for _ in 0..=MAX_CHANNELS {
            let mut views: Vec<ValidChannel<&'static [u8]>> = Vec::new();
            // Fallible, exact: `views` never reallocates after this (A5).
            if views.try_reserve_exact(loader.channels().len()).is_err() {
                return Err(BuildFailed { loader, error: EngineError::OutOfMemory });
            }
            for out in loader.channels() {
                let Some(content) = out.active.as_ref() else { continue };
                if excluded.contains(out.channel) {
                    continue;
                }
                let view: ValidChannel<&[u8]> = content.as_view();
                let short: *const ValidChannel<&[u8]> = &raw const view;
                // SAFETY: extends the view's byte slice from the `&loader` borrow to 'static.
                // 1. A1: the slice points into a PoolBuf's pool allocation, not into `loader`,
                //    so it stays valid when `loader` is moved into the returned Active.
                // 2. A2: those bytes are never written afterwards.
                // 3. A3: they are freed only when `loader` drops, and A4: inside Active that
                //    happens after `views` and `engine`, the only holders of this view. On
                //    the error paths below, `views` is dropped before `loader` is handed back.
                // 4. The two types differ only in a lifetime (same layout). `ValidChannel<&[u8]>`
                //    is `Copy`, so reading it through the cast pointer copies it.
                let long: ValidChannel<&'static [u8]> = unsafe { *short.cast::<ValidChannel<&'static [u8]>>() };
                // Cannot reallocate: capacity reserved above for every channel.
                views.push(long);
            }
            // SAFETY: extends the engine's borrow of the views slice to 'static.
            // 1. A5: the slice is the heap buffer of `views`. It is filled, its capacity
            //    never changes, and it is never mutated again. It does not move when
            //    `views` moves into the Active.
            // 2. A4: `views` is dropped after `engine` and the `solo` engines (field
            //    order), the only other holders of this slice or its subslices. On the
            //    error paths no engine exists (`Engine::new` failed), so nothing else
            //    holds this slice.
            // 3. as_ptr/len describe `len` initialized elements of one allocation.
            let all: &'static [ValidChannel<&'static [u8]>] =
                unsafe { &*core::ptr::slice_from_raw_parts(views.as_ptr(), views.len()) };
            match Engine::new(all) {
                Ok(engine) => {
                    let trial = trial_channels(&loader, all);
                    // Built here, not inside `assemble`: each is an engine build, as deep as
                    // the one above, and must not stack on assemble's frame.
                    let solo = if trial.ids().is_empty() { Vec::new() } else { solo_engines(all) };
                    return Self::assemble(engine, solo, views, loader, excluded, trial);
                }
                Err(e @ (EngineError::Inconsistent { channel, .. } | EngineError::DuplicateChannel(channel))) => {
                    last = e;
                    drop(views);
                    if !excluded.insert(channel) {
                        break;
                    }
                    note_refused(channel);
                }
                Err(e) => {
                    drop(views);
                    return Err(BuildFailed { loader, error: e });
                }
            }
        }
        Err(BuildFailed { loader, error: last })
    }

    /// The engines were built: the identity and one pool allocation. Out of
    /// line, so none of this is on the stack while an engine is built (the
    /// deepest part of a load).
    #[inline(never)]
    fn assemble(
        engine: Engine<'static>,
        solo: Vec<Solo>,
        views: Vec<ValidChannel<&'static [u8]>>,
        loader: Box<Loader<PoolBuf>>,
        excluded: Excluded,
        trial: ChannelSet,
    ) -> Result<Box<Self>, BuildFailed> {
        let generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
        let fuel_budget = loader.config().and_then(changuard_loader::config::Config::latency_budget_fuel).unwrap_or(u64::MAX);
        let active = Self { engine, solo, views, loader: None, generation, excluded, trial, fuel_budget };
        match try_box(active) {
            Ok(mut active) => {
                active.loader = Some(loader);
                Ok(active)
            }
            // A4: the engines drop before the views, and both before `loader`
            // is handed back (it was never moved into the Active).
            Err(active) => {
                drop(active);
                Err(BuildFailed { loader, error: EngineError::OutOfMemory })
            }
        }
    }

    /// Evaluates one event (no allocation; fuel-bounded; `&self`), with the
    /// caller's working memory (sensor.rs keeps it off the notify stack).
    pub fn evaluate(&self, event: &Event<'_>, verdict: &mut Verdict, scratch: &mut EvalScratch) {
        self.engine.evaluate_in(event, verdict, scratch);
    }

    /// The channels `verdict` (this Active's verdict for `event`) faulted on,
    /// for per-channel health (promise 3: one channel's fault never withholds
    /// another channel's promotion). No allocation; at most one fuel-bounded
    /// evaluation per channel, and only when the verdict has a fault.
    /// - Faults that are the event's own (a value of the wrong type for its
    ///   field: counted once per evaluation whatever the content) blame no channel.
    /// - Otherwise each channel's solo engine re-evaluates the event (into the
    ///   caller's `alone` verdict and `scratch`, so no 1 KiB of locals); the
    ///   channels that fault (or run out of fuel, or cost more than the
    ///   latency budget) alone are blamed.
    /// - A channel on trial without a solo engine (its build failed), or every
    ///   channel on trial when no solo engine reproduces the fault, is blamed:
    ///   a content fault is never left unattributed.
    #[must_use]
    pub fn attribute_faults(
        &self,
        event: &Event<'_>,
        verdict: &Verdict,
        alone: &mut Verdict,
        scratch: &mut EvalScratch,
    ) -> ChannelSet {
        let mut blamed = ChannelSet::new();
        let own = event_faults(event);
        let content_fault = |v: &Verdict| v.faults > own || v.fuel_exhausted || v.fuel_used > self.fuel_budget;
        if !content_fault(verdict) {
            return blamed;
        }
        for s in &self.solo {
            s.engine.evaluate_in(event, alone, scratch);
            if content_fault(alone) {
                let _ = blamed.insert(s.channel);
            }
        }
        for &c in self.trial.ids() {
            if !self.solo.iter().any(|s| s.channel == c) {
                let _ = blamed.insert(c);
            }
        }
        if blamed.ids().is_empty() {
            blamed = self.trial;
        }
        blamed
    }

    /// Whether `verdict` (this Active's) cost more than the latency budget.
    #[must_use]
    pub const fn over_budget(&self, verdict: &Verdict) -> bool {
        verdict.fuel_used > self.fuel_budget
    }

    /// The engine's load-time statistics.
    #[must_use]
    pub fn stats(&self) -> EngineStats {
        self.engine.stats()
    }

    /// Channel ids the engine evaluates.
    pub fn channel_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.views.iter().map(ValidChannel::channel)
    }

    /// Channels the engine refused (their content is not evaluated).
    #[must_use]
    pub const fn excluded(&self) -> &Excluded {
        &self.excluded
    }

    /// The loader (for status and `promotion_pending`); `None` while lent.
    #[must_use]
    pub fn loader(&self) -> Option<&Loader<PoolBuf>> {
        self.loader.as_deref()
    }

    /// Lends the loader for promotion. The engine keeps evaluating while the
    /// loader is out (A1: the lent loader owns the bytes but does not move or
    /// cover them; A3: promotion only reads them). `None` if already lent.
    pub fn lend_loader(&mut self) -> Option<LentLoader> {
        let loader = self.loader.take()?;
        Some(LentLoader { loader: Some(loader), generation: self.generation })
    }

    /// Takes back a lent loader. If it is not this Active's (cannot happen
    /// under the control lock), it is dropped, which leaks it (never frees).
    pub fn restore_loader(&mut self, mut lent: LentLoader) -> bool {
        if lent.generation != self.generation || self.loader.is_some() {
            return false;
        }
        self.loader = lent.loader.take();
        if !self.loader.as_deref().is_some_and(Loader::promotion_pending) {
            // No trial left to judge: free the attribution engines (A4: early drop is fine).
            self.solo.clear();
            self.trial = ChannelSet::new();
        }
        self.loader.is_some()
    }

    /// `Loader::shutdown`: the clean end of this boot; every trial running
    /// now (not faulted, not in `faulted`) is recorded as having survived it.
    /// Only reads the active buffers (A3). Call it once no event is evaluated
    /// any more (the caller took this `Active` out of the sensor).
    ///
    /// # Errors
    /// The loader's `LoadError` (`Misuse` while the loader is lent).
    pub fn record_shutdown<P: Platform>(&mut self, p: &mut P, faulted: &[u32]) -> Result<(), LoadError> {
        match self.loader.as_deref_mut() {
            Some(l) => l.shutdown(p, faulted),
            None => Err(LoadError::Misuse("shutdown: loader lent")),
        }
    }

    /// A3 check after promotion: every view still points at the bytes of a
    /// channel the loader holds active (same address and length). `false`
    /// means the loader replaced a buffer, and the caller must drop this
    /// Active before any further evaluation.
    #[must_use]
    pub fn buffers_intact(&self) -> bool {
        let Some(loader) = self.loader.as_ref() else { return false };
        self.views.iter().all(|v| {
            loader.channels().iter().any(|c| {
                c.active.as_ref().is_some_and(|a| {
                    let (x, y) = (a.as_bytes(), v.as_bytes());
                    core::ptr::eq(x.as_ptr(), y.as_ptr()) && x.len() == y.len()
                })
            })
        })
    }
}

/// A loader lent out of an [`Active`] for promotion. Exposes only the two
/// promotion calls, never `&mut Loader`. If dropped without being given back
/// ([`Active::restore_loader`]), it leaks the loader rather than free
/// buffers an engine may still read (A3).
pub struct LentLoader {
    loader: Option<Box<Loader<PoolBuf>>>,
    generation: u64,
}

impl LentLoader {
    /// `Loader::config().health_window_secs`, if the loader has a config.
    #[must_use]
    pub fn health_window_secs(&self) -> Option<u32> {
        self.loader.as_deref().and_then(Loader::config).map(|c| c.health_window_secs)
    }

    /// `Loader::health_confirmed` (machine level: uptime past the window).
    pub fn health_confirmed<P: Platform>(&self, p: &mut P) -> Option<HealthConfirmed> {
        self.loader.as_ref()?.health_confirmed(p)
    }

    /// `Loader::promote` (LKG copy, state record, floor) of every channel on
    /// trial except those in `faulted` (not promoted; the next boot quarantines
    /// them at `MaxTrialBoots`). Only reads the active buffers (A3).
    ///
    /// # Errors
    /// The loader's sticky `LoadError`.
    pub fn promote<P: Platform>(
        &mut self,
        p: &mut P,
        setup: &Setup<'_>,
        proof: HealthConfirmed,
        faulted: &[u32],
    ) -> Result<(), LoadError> {
        match self.loader.as_mut() {
            Some(l) => l.promote(p, setup, proof, faulted),
            None => Err(LoadError::Unreachable("lent loader missing")),
        }
    }
}

impl Drop for LentLoader {
    fn drop(&mut self) {
        // A3: never free buffers that a live engine may read. A loader that was
        // not given back is leaked (a protocol slip costs memory, not safety).
        if let Some(l) = self.loader.take() {
            core::mem::forget(l);
        }
    }
}

/// The channels of `all` whose content is on trial (fault attribution).
fn trial_channels(loader: &Loader<PoolBuf>, all: &[ValidChannel<&'static [u8]>]) -> ChannelSet {
    let mut trial = ChannelSet::new();
    for out in loader.channels() {
        if out.promotion == Promotion::Pending && all.iter().any(|v| v.channel() == out.channel) {
            let _ = trial.insert(out.channel);
        }
    }
    trial
}

#[cold]
#[inline(never)]
fn note_refused(channel: u32) {
    wdk::println!("changuard: engine refused channel {channel}; rebuilding without it");
}

/// One engine per channel of `all`, each over a one-element subslice of it
/// (no new lifetime extension: a subslice of the same `'static` slice, A5).
/// A channel whose solo engine cannot be built (allocation) gets none; fault
/// attribution then blames it conservatively.
// Out of line: its engine builds are not on the main build's stack path.
#[inline(never)]
fn solo_engines(all: &'static [ValidChannel<&'static [u8]>]) -> Vec<Solo> {
    let mut solo: Vec<Solo> = Vec::new();
    if solo.try_reserve_exact(all.len()).is_err() {
        return solo;
    }
    for (i, v) in all.iter().enumerate() {
        let Some(one) = all.get(i..=i) else { continue };
        if let Ok(engine) = Engine::new(one) {
            // Cannot reallocate: capacity reserved above for every channel.
            solo.push(Solo { channel: v.channel(), engine });
        }
    }
    solo
}

/// Faults an evaluation of `event` counts whatever the content: one per value
/// whose type is not its schema field's (the engine's type-fault rule).
fn event_faults(event: &Event<'_>) -> u32 {
    let fields = event.template().fields;
    let bad = event
        .values()
        .iter()
        .enumerate()
        .filter(|(k, v)| fields.get(*k).is_none_or(|f| f.ty != v.field_type()))
        .count();
    u32::try_from(bad).unwrap_or(u32::MAX)
}
