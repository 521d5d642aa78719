//! Stack-frame probe for `scripts/check-frames.sh` (not a runnable example).
//!
//! The loader's entry points are generic over [`Platform`], so the loader's own
//! object file holds no code for `boot`, `recover`, `persist`, `promote`: they
//! are monomorphized in the crate that instantiates them (the driver). This
//! crate instantiates them once, with a platform whose methods the optimizer
//! cannot see through (`#[inline(never)]` + `black_box`), so the frame check
//! measures the same inlining the driver gets. Built as a `no_std` lib
//! (`crate-type = ["lib"]` in Cargo.toml); never linked, never shipped.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use core::hint::black_box;

use changuard_format::{Trust, TrustedKey};
use changuard_loader::platform::{IoError, IoErrorKind, LkgFile, Platform, RegType, RegValue};
use changuard_loader::reason::Decision;
use changuard_loader::{HealthConfirmed, LoadError, Loader, Resume, Setup, boot, reload};
use changuard_release::Roots;

/// A platform the optimizer knows nothing about.
#[derive(Debug)]
pub struct Opaque;

fn io<T>() -> Result<T, IoError> {
    Err(black_box(IoError::new(IoErrorKind::Io)))
}

impl Platform for Opaque {
    type Buf = Vec<u8>;

    #[inline(never)]
    fn read_param(&mut self, name: &str, out: &mut [u8]) -> Result<RegValue, IoError> {
        black_box((name, out));
        if black_box(false) {
            return Ok(RegValue {
                ty: RegType::from_raw(black_box(4)),
                len: black_box(4),
            });
        }
        io()
    }
    #[inline(never)]
    fn list_content(
        &mut self,
        dir: &str,
        visit: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), IoError> {
        let _ = visit(black_box(dir));
        black_box(Ok(()))
    }
    #[inline(never)]
    fn read_content(&mut self, dir: &str, name: &str, cap: usize) -> Result<Vec<u8>, IoError> {
        black_box((dir, name, cap));
        black_box(Ok(Vec::new()))
    }
    #[inline(never)]
    fn golden(&mut self, channel: u32, cap: usize) -> Result<Option<Vec<u8>>, IoError> {
        black_box((channel, cap));
        black_box(Ok(None))
    }
    #[inline(never)]
    fn golden_channel(&mut self, index: usize) -> Option<u32> {
        black_box(u32::try_from(index).ok())
    }
    #[inline(never)]
    fn state_read(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, IoError> {
        black_box((slot, out));
        black_box(Ok(0))
    }
    #[inline(never)]
    fn state_write(&mut self, slot: u8, data: &[u8]) -> Result<(), IoError> {
        black_box((slot, data));
        black_box(Ok(()))
    }
    #[inline(never)]
    fn state_flush(&mut self, slot: u8) -> Result<(), IoError> {
        black_box(slot);
        black_box(Ok(()))
    }
    #[inline(never)]
    fn lkg_read(&mut self, channel: u32, which: LkgFile, cap: usize) -> Result<Vec<u8>, IoError> {
        black_box((channel, which, cap));
        black_box(Ok(Vec::new()))
    }
    #[inline(never)]
    fn lkg_write_temp(&mut self, channel: u32, data: &[u8]) -> Result<(), IoError> {
        black_box((channel, data));
        black_box(Ok(()))
    }
    #[inline(never)]
    fn lkg_flush_temp(&mut self, channel: u32) -> Result<(), IoError> {
        black_box(channel);
        black_box(Ok(()))
    }
    #[inline(never)]
    fn lkg_rename_temp(&mut self, channel: u32) -> Result<(), IoError> {
        black_box(channel);
        black_box(Ok(()))
    }
    #[inline(never)]
    fn lkg_sync(&mut self, channel: u32) -> Result<(), IoError> {
        black_box(channel);
        black_box(Ok(()))
    }
    #[inline(never)]
    fn lkg_delete_temp(&mut self, channel: u32) -> Result<(), IoError> {
        black_box(channel);
        black_box(Ok(()))
    }
    #[inline(never)]
    fn uptime_secs(&mut self) -> u64 {
        black_box(0)
    }
    #[inline(never)]
    fn now_unix_secs(&mut self) -> Option<u64> {
        black_box(Some(0))
    }
    #[inline(never)]
    fn report(&mut self, decision: &Decision) {
        black_box(decision);
    }
}

/// The driver's setup: compiled keys, and the same keys as roots, so the
/// keyring paths of the release gate are instantiated and measured too.
fn setup<'a>(keys: &'a [TrustedKey], roots: &'a [&'a str]) -> Setup<'a> {
    let s = Setup::new(Trust::new(keys), roots);
    match Roots::new(keys, 1) {
        Some(r) => s.with_roots(r),
        None => s,
    }
}

/// What the driver does at boot: `boot`, then (later) health check and promotion.
/// The loader's functions are called through opaque function pointers so they
/// are emitted (and measured) under their own names, not inlined in here.
#[inline(never)]
pub fn probe_boot(p: &mut Opaque, keys: &[TrustedKey], roots: &[&str]) -> Loader<Vec<u8>> {
    let setup = setup(keys, roots);
    let f: fn(&mut Opaque, &Setup<'_>) -> Loader<Vec<u8>> = boot;
    black_box(f)(p, &setup)
}

/// The promotion path (`health_confirmed` + `promote`).
#[inline(never)]
pub fn probe_promote(
    l: &mut Loader<Vec<u8>>,
    p: &mut Opaque,
    keys: &[TrustedKey],
    roots: &[&str],
    faulted: &[u32],
) -> Result<(), LoadError> {
    let setup = setup(keys, roots);
    let health: fn(&Loader<Vec<u8>>, &mut Opaque) -> Option<HealthConfirmed> =
        Loader::health_confirmed;
    type Promote = fn(
        &mut Loader<Vec<u8>>,
        &mut Opaque,
        &Setup<'_>,
        HealthConfirmed,
        &[u32],
    ) -> Result<(), LoadError>;
    let promote: Promote = Loader::promote;
    match black_box(health)(l, p) {
        Some(h) => black_box(promote)(l, p, &setup, h, faulted),
        None => Ok(()),
    }
}

/// `IOCTL_RELOAD`: the running loader's `resume_into` (into static memory in
/// the driver), then `reload`.
#[inline(never)]
pub fn probe_reload(
    old: &Loader<Vec<u8>>,
    p: &mut Opaque,
    keys: &[TrustedKey],
    roots: &[&str],
    faulted: &[u32],
    resume: &mut Resume,
) -> Loader<Vec<u8>> {
    let setup = setup(keys, roots);
    let into: fn(&Loader<Vec<u8>>, &[u32], &mut Resume) = Loader::resume_into;
    black_box(into)(old, faulted, resume);
    let f: fn(&mut Opaque, &Setup<'_>, &Resume) -> Loader<Vec<u8>> = reload;
    black_box(f)(p, &setup, resume)
}

/// The shutdown notification: `shutdown` (the clean-shutdown record).
#[inline(never)]
pub fn probe_shutdown(
    l: &mut Loader<Vec<u8>>,
    p: &mut Opaque,
    faulted: &[u32],
) -> Result<(), LoadError> {
    type Shutdown = fn(&mut Loader<Vec<u8>>, &mut Opaque, &[u32]) -> Result<(), LoadError>;
    let f: Shutdown = Loader::shutdown;
    black_box(f)(l, p, faulted)
}
