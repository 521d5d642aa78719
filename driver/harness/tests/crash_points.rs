//! Exhaustive crash points through the real driver: the machine loses power on
//! entry to each Windows call the driver makes (numbered from DriverEntry), on the
//! first-install boot (load onto trial, promotion, RELOAD, unload) and on an
//! update boot (new versions onto trial over an LKG, promotion, unload). For every
//! call, every distinct crash image of the disks at that moment (unflushed file
//! data lost, torn or kept; names durable, current or a replacing rename half
//! done; the hive as flushed or as now: `model/src/durable.rs`) is booted twice.
//!
//! After any crash, with only valid content on disk:
//! - the next boot loads cleanly (no bugcheck, no verifier finding);
//! - every channel runs content (candidate or LKG), except the one case the
//!   design accepts: the crash hit a trial boot (the loader cannot tell a power
//!   cut from content that crashed the machine), so at `MaxTrialBoots` = 1 the
//!   version on trial is quarantined, and with no LKG yet the channel is empty.
//!   With an LKG (the update sweep) a channel is never empty;
//! - the active version is one the machine was given, not quarantined, and never
//!   below the LKG;
//! - a crash counts exactly when it should: a crash while the new version ran on
//!   trial (after DriverEntry returned, before the promotion timer) quarantines
//!   it; a crash after the promotion completed never does (crashes inside
//!   DriverEntry or the promotion callback may go either way: the record of the
//!   trial or of the promotion may or may not have reached the disk);
//! - an LKG file, when present, is byte for byte one of the delivered versions;
//! - the boot after (past the health window) is clean too and every channel is
//!   promoted (LKG = active): recovery converges in one more boot.
//!
//! Figures (crash points, images, boots) go to stdout (`--nocapture`) and to
//! `target/crash-points.txt`.
mod common;

use std::sync::Mutex;

use changuard_control::status::{ChannelStatus, Source};
use changuard_kmodel::{BootEnd, Machine, Persist, Session};
use common::content::{channels, file_name};
use common::{CONTENT_DIR, ENTRY, machine, reload, status};

const LKG_DIR: &str = "\\SystemRoot\\changuard\\lkg";
/// Channels in play (two keep the sweep fast; the per-channel paths are the same).
const CHANNELS: usize = 2;

fn ids() -> Vec<u32> {
    common::content::channel_ids().into_iter().take(CHANNELS).collect()
}

fn deliver(m: &mut Machine, version: u64) {
    for (name, bytes) in channels(version).into_iter().take(CHANNELS) {
        m.persist.fs.write(&format!("{CONTENT_DIR}\\{name}"), &bytes);
    }
}

/// DriverEntry, then the content runs on trial (a status query: calls into
/// Windows while it does), then the promotion timer. Marks: `running` (DriverEntry
/// returned), `promoting` (the timer is about to fire), `promoted`.
fn load_and_promote(s: &mut Session) {
    assert_eq!(s.driver_entry(ENTRY), 0);
    s.mark("running");
    let _ = status(s);
    s.mark("promoting");
    assert!(s.run_timers_for(61) >= 1);
    s.mark("promoted");
}

/// The first-install boot: load onto trial, promotion after the health window,
/// RELOAD, unload.
fn first_boot(s: &mut Session) {
    load_and_promote(s);
    assert_eq!(reload(s), 0);
    s.unload();
}

/// The update boot: the new versions onto trial over the LKG, promotion, unload.
fn update_boot(s: &mut Session) {
    load_and_promote(s);
    s.unload();
}

/// What a crash at some call must do to the version that went on trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counted {
    /// It ran on trial and crashed: quarantined.
    Must,
    /// It never ran, or was promoted: not quarantined.
    MustNot,
    /// Inside DriverEntry or the promotion callback: either.
    Either,
}

/// Checks one channel after recovery; `versions` were delivered.
fn check_channel(c: &ChannelStatus, versions: &[u64]) -> Result<(), String> {
    let quarantined = &c.quarantined[..usize::from(c.quarantined_count)];
    if !matches!(c.source, Source::Candidate | Source::Lkg) {
        if c.lkg_version.is_none() && versions.iter().all(|v| quarantined.contains(v)) {
            return Ok(());
        }
        return Err(format!("channel {} runs no content: {c:?}", c.channel_id));
    }
    if quarantined.contains(&c.active_version) {
        return Err(format!("channel {} runs quarantined version {}: {c:?}", c.channel_id, c.active_version));
    }
    if !versions.contains(&c.active_version) {
        return Err(format!("channel {} runs version {} never delivered: {c:?}", c.channel_id, c.active_version));
    }
    if let Some(l) = c.lkg_version {
        if c.active_version < l {
            return Err(format!("channel {} runs {} below its LKG {l}: {c:?}", c.channel_id, c.active_version));
        }
    }
    Ok(())
}

/// The LKG files on `p`, each one of the delivered versions.
fn check_lkg_files(p: &Persist, versions: &[u64]) -> Result<(), String> {
    for id in ids() {
        let Some(bytes) = p.fs.read(&format!("{LKG_DIR}\\C-{id}.lkg")) else { continue };
        let ok = versions.iter().any(|v| p.fs.read(&format!("{CONTENT_DIR}\\{}", file_name(id, *v))) == Some(bytes));
        if !ok {
            return Err(format!("LKG file of channel {id} ({} bytes) is none of versions {versions:?}", bytes.len()));
        }
    }
    Ok(())
}

/// Boots `image` twice (the recovery boot, then one past the health window) and
/// checks the invariants; an error names what broke.
fn recover(image: Persist, versions: &'static [u64], counted: Counted) -> Result<(), String> {
    let trial = versions.last().copied().unwrap_or(0);
    let mut m = machine();
    m.persist = image;
    check_lkg_files(&m.persist, versions)?;
    for boot in 1..=2 {
        let r = m.boot(10, |s| {
            assert_eq!(s.driver_entry(ENTRY), 0, "DriverEntry failed");
            let st = status(s);
            let mut errs = Vec::new();
            if st.channels().len() != CHANNELS {
                errs.push(format!("{} channels, expected {CHANNELS}: {st:?}", st.channels().len()));
            }
            for c in st.channels() {
                if let Err(e) = check_channel(c, versions) {
                    errs.push(e);
                }
                let q = c.quarantined[..usize::from(c.quarantined_count)].contains(&trial);
                match counted {
                    Counted::Must if !q => errs.push(format!("channel {}: v{trial} crashed on trial but is not quarantined: {c:?}", c.channel_id)),
                    Counted::MustNot if q => errs.push(format!("channel {}: v{trial} quarantined though it did not crash on trial: {c:?}", c.channel_id)),
                    _ => {}
                }
                if boot == 2 && c.source != Source::None && (c.lkg_version != Some(c.active_version) || c.trial_attempt.is_some()) {
                    // Boot 1 ran past the health window: all must be promoted by now,
                    // unless boot 2 put something newer on trial.
                    if c.source != Source::Candidate || c.trial_attempt.is_none() {
                        errs.push(format!("channel {} not converged on boot 2: {c:?}", c.channel_id));
                    }
                }
            }
            s.run_timers_for(61);
            s.unload();
            assert!(errs.is_empty(), "{}", errs.join("\n"));
        });
        if r.end != BootEnd::Completed || !r.violations.is_empty() {
            return Err(format!(
                "recovery boot {boot}: {:?}\n  violations: {:?}\n  log tail: {:?}",
                r.end,
                r.violations,
                r.log.iter().rev().take(12).rev().collect::<Vec<_>>()
            ));
        }
        check_lkg_files(&m.persist, versions)?;
    }
    Ok(())
}

struct Sweep {
    calls: u64,
    images: u64,
    boots: u64,
    failures: Vec<String>,
}

/// Crashes `base` at every call of `script`, recovers every image.
fn sweep(name: &str, base: &Machine, script: fn(&mut Session), versions: &'static [u64]) -> Sweep {
    // The clean run: how many calls the script makes, and that it is clean.
    let mut m = base.clone();
    let r = m.boot(10, script);
    r.assert_clean();
    let points: Vec<u64> = (1..=r.driver_calls).collect();
    let mark = |n: &str| r.mark(n).unwrap_or_else(|| panic!("mark {n}"));
    let (running, promoting, promoted) = (mark("running"), mark("promoting"), mark("promoted"));
    assert!(running < promoting && promoting < promoted, "{running} {promoting} {promoted}");
    let counted = |call: u64| {
        if call <= running {
            Counted::Either
        } else if call <= promoting {
            Counted::Must
        } else if call <= promoted {
            Counted::Either
        } else {
            Counted::MustNot
        }
    };
    let next = Mutex::new(0usize);
    let out = Mutex::new(Sweep { calls: 0, images: 0, boots: 0, failures: Vec::new() });
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                        *n += 1;
                        *n - 1
                    };
                    let Some(&call) = points.get(i) else { break };
                    let mut m = base.clone();
                    let r = m.boot(10, |s| {
                        s.crash_at(call);
                        script(s);
                    });
                    let (images, fail) = match (&r.end, &r.persist) {
                        (BootEnd::Crash { call: c, .. }, Some(p)) if *c == call => {
                            let images = p.crash_images();
                            let mut fail = Vec::new();
                            for (k, img) in images.iter().enumerate() {
                                if let Err(e) = recover(img.clone(), versions, counted(call)) {
                                    fail.push(format!("{name}: crash at call {call} ({:?}), image {k}: {e}", r.end));
                                }
                            }
                            (images.len() as u64, fail)
                        }
                        _ => (0, vec![format!("{name}: crash at call {call}: boot ended {:?}", r.end)]),
                    };
                    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                    o.calls += 1;
                    o.images += images;
                    o.boots += 1 + 2 * images;
                    o.failures.extend(fail);
                }
            });
        }
    });
    out.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn report(name: &str, s: &Sweep) {
    let line = format!("{name}: {} crash points, {} distinct crash images, {} boots, {} failures", s.calls, s.images, s.boots, s.failures.len());
    println!("{line}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/target/crash-points.txt");
    let _ = std::fs::OpenOptions::new().create(true).append(true).open(path).and_then(|mut f| {
        use std::io::Write as _;
        writeln!(f, "{line}")
    });
    assert!(s.failures.is_empty(), "{} failures, first ones:\n{}", s.failures.len(), s.failures.iter().take(5).cloned().collect::<Vec<_>>().join("\n\n"));
}

#[test]
fn first_install_survives_a_crash_at_every_call() {
    let mut base = machine();
    deliver(&mut base, 1);
    let s = sweep("first install (load, promotion, reload, unload)", &base, first_boot, &[1]);
    report("first-install", &s);
    assert!(s.calls > 50, "the sweep covered {} calls", s.calls);
}

#[test]
fn update_survives_a_crash_at_every_call() {
    let mut base = machine();
    deliver(&mut base, 1);
    base.boot(10, first_boot).assert_clean();
    deliver(&mut base, 2);
    let s = sweep("update (v2 over LKG v1: load, promotion, unload)", &base, update_boot, &[1, 2]);
    report("update", &s);
    assert!(s.calls > 50, "the sweep covered {} calls", s.calls);
}
