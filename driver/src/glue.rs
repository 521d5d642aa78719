//! The only two calls into portable APIs that were not yet in the tree when
//! this shell was written: the loader's top-level boot/reload/promote entry
//! points and the interpreter's `Engine` constructor/evaluation. They are
//! isolated here so the adaptation is one file; docs/DRIVER.md ("Residual
//! uncertainties") tracks them. Everything they need from the kernel goes
//! through `KernelPlatform`; nothing here is `unsafe`.
//!
//! STATUS (checked against the tree at commit time): `changuard_loader::boot::boot(p, &Setup)`
//! now exists and returns `Loader<P::Buf>`; `changuard_interp::Engine::new` takes
//! `&'a [ValidChannel<&'a [u8]>]`, i.e. the engine borrows the loader's buffers. A
//! long-lived kernel engine next to the buffers it borrows is self-referential; without
//! `unsafe` the only options are leaking each load (`Box::leak`, one leak per RELOAD) or
//! an interp API that owns `ValidChannel<B: AsRef<[u8]>>`. Reported to the interp owner;
//! this file must be adapted once that is decided. It is NOT compiled here.
//!
//! Shape originally assumed (from ARCHITECTURE.md): `loader::boot(&mut impl Platform)`
//! returns the per-channel validated content (`ValidChannel<PoolBuf>`, which
//! owns its buffer); `interp::Engine::new(&[ValidChannel<_>], EngineConfig)`
//! builds the engine, `engine.evaluate(&event, &mut verdict)` fills a verdict;
//! `loader::promote(&mut impl Platform)` runs the health-window promotion.

use changuard_interp::{Engine, EngineConfig, Event, Verdict};

use crate::nt::PoolBuf;
use crate::platform::KernelPlatform;

/// The active content and its engine; dropped as one unit on reload/unload.
pub struct Active {
    /// Interpreter over the validated channels (owns their buffers).
    pub engine: Engine<PoolBuf>,
}

/// Runs the loader over the kernel platform. `None` means "no content at all"
/// (every channel fell through the chain, or the engine could not be built):
/// the driver stays loaded and the sensor runs with nothing to match.
pub fn load(platform: &mut KernelPlatform<'_>) -> Option<Active> {
    let channels = changuard_loader::boot(platform);
    Engine::new(channels, EngineConfig::default()).ok().map(|engine| Active { engine })
}

/// Health-window promotion (PASSIVE_LEVEL, no lock held).
pub fn promote(platform: &mut KernelPlatform<'_>) {
    changuard_loader::promote(platform);
}

/// Evaluates one event; the verdict is caller-owned (no allocation).
pub fn evaluate(active: &Active, event: &Event<'_>, verdict: &mut Verdict) {
    active.engine.evaluate(event, verdict);
}
