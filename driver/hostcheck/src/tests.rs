#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, clippy::arithmetic_side_effects)]
use std::collections::BTreeMap;
use changuard_loader::platform::*;
use changuard_loader::reason::Decision;
use changuard_interp::{Event, Value, Verdict};
use crate::active::{Active, ChannelSet};
use crate::nt::PoolBuf;
use crate::status::StatusBook;

#[derive(Default)]
struct Mem { files: BTreeMap<String, Vec<u8>>, lkg: BTreeMap<(u32, bool), Vec<u8>>, slots: [Option<Vec<u8>>; 2], uptime: u64, params: BTreeMap<String, u32> }
impl Platform for Mem {
    type Buf = PoolBuf;
    fn read_param(&mut self, name: &str, out: &mut [u8]) -> Result<RegValue, IoError> {
        let v = self.params.get(name).ok_or(IoError::new(IoErrorKind::NotFound))?;
        out[..4].copy_from_slice(&v.to_le_bytes());
        Ok(RegValue { ty: RegType::Dword, len: 4 })
    }
    fn list_content(&mut self, _dir: &str, visit: &mut dyn FnMut(&str) -> bool) -> Result<(), IoError> {
        for n in self.files.keys() { if !visit(n) { break; } }
        Ok(())
    }
    fn read_content(&mut self, _dir: &str, name: &str, cap: usize) -> Result<PoolBuf, IoError> {
        let d = self.files.get(name).ok_or(IoError::new(IoErrorKind::NotFound))?;
        if d.len() > cap { return Err(IoError::too_large(d.len() as u64)); }
        PoolBuf::from_slice(d).ok_or(IoError::new(IoErrorKind::NoMemory))
    }
    fn golden(&mut self, _c: u32, _cap: usize) -> Result<Option<PoolBuf>, IoError> { Ok(None) }
    fn golden_channel(&mut self, _i: usize) -> Option<u32> { None }
    fn state_read(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, IoError> {
        let s = self.slots[slot as usize].as_ref().ok_or(IoError::new(IoErrorKind::NotFound))?;
        let n = s.len().min(out.len()); out[..n].copy_from_slice(&s[..n]); Ok(n)
    }
    fn state_write(&mut self, slot: u8, data: &[u8]) -> Result<(), IoError> { self.slots[slot as usize] = Some(data.to_vec()); Ok(()) }
    fn state_flush(&mut self, _slot: u8) -> Result<(), IoError> { Ok(()) }
    fn lkg_read(&mut self, c: u32, w: LkgFile, _cap: usize) -> Result<PoolBuf, IoError> {
        let d = self.lkg.get(&(c, w == LkgFile::Temp)).ok_or(IoError::new(IoErrorKind::NotFound))?;
        PoolBuf::from_slice(d).ok_or(IoError::new(IoErrorKind::NoMemory))
    }
    fn lkg_write_temp(&mut self, c: u32, data: &[u8]) -> Result<(), IoError> { self.lkg.insert((c, true), data.to_vec()); Ok(()) }
    fn lkg_flush_temp(&mut self, _c: u32) -> Result<(), IoError> { Ok(()) }
    fn lkg_rename_temp(&mut self, c: u32) -> Result<(), IoError> {
        let d = self.lkg.remove(&(c, true)).ok_or(IoError::new(IoErrorKind::NotFound))?; self.lkg.insert((c, false), d); Ok(())
    }
    fn lkg_sync(&mut self, _c: u32) -> Result<(), IoError> { Ok(()) }
    fn lkg_delete_temp(&mut self, c: u32) -> Result<(), IoError> { self.lkg.remove(&(c, true)); Ok(()) }
    fn uptime_secs(&mut self) -> u64 { self.uptime }
    fn report(&mut self, _d: &Decision) {}
}

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, SigningKey, build};
use changuard_format::schema::PROCESS_CREATE;
use changuard_format::{Action, SCHEMA_ID, StrOp, Trust, TrustedKey};

fn key() -> SigningKey { SigningKey::from_seed([7; 32]) }

fn chan(channel: u32, version: u64) -> Vec<u8> {
    let mut crit: Vec<CriterionSpec> = PROCESS_CREATE.fields.iter().map(|_| CriterionSpec::Any).collect();
    crit[0] = CriterionSpec::Str { op: StrOp::Contains, value: "cmd.exe".into(), case_insensitive: true };
    let mut crit2: Vec<CriterionSpec> = PROCESS_CREATE.fields.iter().map(|_| CriterionSpec::Any).collect();
    crit2[1] = CriterionSpec::Regex { pattern: "who(ami|is)".into(), case_insensitive: true };
    let spec = ChannelSpec { channel, version, schema_id: SCHEMA_ID, instances: vec![
        InstanceSpec { id: 1, template: PROCESS_CREATE.id, action: Action::Report, criteria: crit, also: Vec::new(), unless: Vec::new(), metadata: Default::default() },
        InstanceSpec { id: 2, template: PROCESS_CREATE.id, action: Action::Report, criteria: crit2, also: Vec::new(), unless: Vec::new(), metadata: Default::default() },
    ] };
    build(&spec, &key()).unwrap()
}

fn mem() -> Mem {
    let mut m = Mem::default();
    m.files.insert("C-00000291-00000002.chan".into(), chan(291, 2));
    m.files.insert("C-00000300-00000001.chan".into(), chan(300, 1));
    m
}

fn event() -> Event<'static> {
    let values = [Value::Str("C:\\Windows\\System32\\cmd.exe"), Value::Str("cmd /c whoami"), Value::Str(""), Value::Str(""),
        Value::Int(4), Value::Int(8), Value::Int(8), Value::Int(0), Value::Int(0), Value::Int(0), Value::Str("")];
    Event::from_values(changuard_format::schema::PROCESS_CREATE.id, &values).unwrap()
}

#[test]
fn boot_build_evaluate_promote_reload_unload() {
    let _compiled = crate::keys::Keys::load().setup(); // keys.rs + build.rs output type-check
    let trusted: [TrustedKey; 1] = [key().trusted_key()];
    let setup = changuard_loader::Setup::new(Trust::new(&trusted), changuard_loader::config::DEFAULT_ALLOWED_ROOTS);
    let mut p = mem();
    let loader = changuard_loader::boot(&mut p, &setup);
    assert!(loader.channels().iter().all(|c| c.active.is_some()), "{:?}", loader.channels().iter().map(|c| (c.channel, c.source, c.last_problem)).collect::<Vec<_>>());
    assert!(loader.promotion_pending());
    let active = Active::build(Box::new(loader)).ok().unwrap();
    assert!(active.excluded().ids().is_empty());
    assert_eq!(active.channel_ids().count(), 2);
    let mut book = StatusBook::new();
    book.refresh(active.loader().unwrap(), active.excluded().ids(), false);
    assert_eq!(book.channels().len(), 2);
    assert!(book.channels().iter().all(|c| c.trial_attempt == Some(1)));
    let mut v = Verdict::new();
    active.evaluate(&event(), &mut v, &mut changuard_interp::EvalScratch::new());
    assert_eq!(v.matches().len(), 4, "{v:?}");
    assert_eq!(v.faults, 0);
    let before = v.clone();
    // Move the whole Active (as into the driver's static): views must stay valid.
    let moved = Box::new(active);
    let mut active = *moved;
    active.evaluate(&event(), &mut v, &mut changuard_interp::EvalScratch::new());
    assert_eq!(v, before);
    // Promotion with the loader lent out while the engine keeps evaluating.
    let mut lent = active.lend_loader().unwrap();
    assert!(active.lend_loader().is_none());
    active.evaluate(&event(), &mut v, &mut changuard_interp::EvalScratch::new());
    assert_eq!(v, before);
    p.uptime = 10;
    assert!(lent.health_confirmed(&mut p).is_none(), "window not passed");
    p.uptime = u64::from(lent.health_window_secs().unwrap());
    let proof = lent.health_confirmed(&mut p).unwrap();
    lent.promote(&mut p, &setup, proof, &[]).unwrap();
    active.evaluate(&event(), &mut v, &mut changuard_interp::EvalScratch::new());
    assert_eq!(v, before);
    assert!(active.restore_loader(lent));
    assert!(active.buffers_intact());
    let l = active.loader().unwrap();
    assert!(!l.promotion_pending());
    book.refresh(l, active.excluded().ids(), true);
    assert!(book.channels().iter().all(|c| c.trial_attempt.is_none() && c.lkg_version.is_some()));
    let mut out = [0u8; changuard_control::status::MAX_REPLY_LEN];
    let n = book.encode(&crate::status::DecisionRing::new(), &mut out).unwrap();
    let r = changuard_control::status::decode_status(&out[..n]).unwrap();
    assert_eq!(r.channels().len(), 2);
    // Reload: new content fully built, swapped, old dropped (engine, views, loader).
    let loader2 = changuard_loader::boot(&mut p, &setup);
    let new = Active::build(Box::new(loader2)).ok().unwrap();
    let old = core::mem::replace(&mut active, new);
    drop(old);
    active.evaluate(&event(), &mut v, &mut changuard_interp::EvalScratch::new());
    assert_eq!(v.matches(), before.matches());
    drop(active);
}

#[test]
fn wrong_active_refuses_and_leaks() {
    if std::env::var_os("SKIP_LEAK_TEST").is_some() { return; }
    let trusted: [TrustedKey; 1] = [key().trusted_key()];
    let setup = changuard_loader::Setup::new(Trust::new(&trusted), changuard_loader::config::DEFAULT_ALLOWED_ROOTS);
    let mut a = Active::build(Box::new(changuard_loader::boot(&mut mem(), &setup))).ok().unwrap();
    let mut b = Active::build(Box::new(changuard_loader::boot(&mut mem(), &setup))).ok().unwrap();
    let lent = a.lend_loader().unwrap();
    assert!(!b.restore_loader(lent)); // refused; the loader leaks instead of being freed
    let mut v = Verdict::new();
    a.evaluate(&event(), &mut v, &mut changuard_interp::EvalScratch::new()); // a's buffers are still alive (leaked, not freed)
    assert_eq!(v.matches().len(), 4);
    assert!(!a.buffers_intact()); // no loader to check against
    drop(a);
    drop(b);
}

/// A channel with one integer criterion only: no string is ever scanned.
fn int_chan(channel: u32, version: u64) -> Vec<u8> {
    let mut crit: Vec<CriterionSpec> = PROCESS_CREATE.fields.iter().map(|_| CriterionSpec::Any).collect();
    let k = PROCESS_CREATE.fields.iter().position(|f| f.ty == changuard_format::schema::FieldType::Int).unwrap();
    crit[k] = CriterionSpec::IntEquals(4);
    let spec = ChannelSpec { channel, version, schema_id: SCHEMA_ID, instances: vec![
        InstanceSpec { id: 1, template: PROCESS_CREATE.id, action: Action::Report, criteria: crit, also: Vec::new(), unless: Vec::new(), metadata: Default::default() },
    ] };
    build(&spec, &key()).unwrap()
}

fn long_event(cmd: &'static str) -> Event<'static> {
    let values = [Value::Str("C:\\Windows\\System32\\cmd.exe"), Value::Str(cmd), Value::Str(""), Value::Str(""),
        Value::Int(4), Value::Int(8), Value::Int(8), Value::Int(0), Value::Int(0), Value::Int(0), Value::Str("")];
    Event::from_values(changuard_format::schema::PROCESS_CREATE.id, &values).unwrap()
}

/// Promise 3: a fault attributable to one channel on trial withholds only that
/// channel's promotion; the other channel on trial is promoted in the same boot.
#[test]
fn per_channel_health_promotes_the_healthy_channel() {
    let trusted: [TrustedKey; 1] = [key().trusted_key()];
    let setup = changuard_loader::Setup::new(Trust::new(&trusted), changuard_loader::config::DEFAULT_ALLOWED_ROOTS);
    let mut p = Mem::default();
    p.files.insert("C-00000291-00000002.chan".into(), chan(291, 2));
    p.files.insert("C-00000300-00000001.chan".into(), int_chan(300, 1));
    let active = Active::build(Box::new(changuard_loader::boot(&mut p, &setup))).ok().unwrap();
    let mut active = *Box::new(active);
    let mut faulted = ChannelSet::new();

    // A clean event blames nobody.
    let mut v = Verdict::new();
    active.evaluate(&event(), &mut v, &mut changuard_interp::EvalScratch::new());
    assert_eq!(v.faults, 0);
    assert!(active.attribute_faults(&event(), &v, &mut Verdict::new(), &mut changuard_interp::EvalScratch::new()).ids().is_empty());

    // A wrongly typed event is the event's fault, not the content's: nobody is blamed.
    let bad_values = [Value::Int(1), Value::Str("x"), Value::Str(""), Value::Str(""),
        Value::Int(4), Value::Int(8), Value::Int(8), Value::Int(0), Value::Int(0), Value::Int(0), Value::Str("")];
    let bad = Event::from_values(PROCESS_CREATE.id, &bad_values).unwrap();
    active.evaluate(&bad, &mut v, &mut changuard_interp::EvalScratch::new());
    assert!(v.faults > 0, "{v:?}");
    assert!(active.attribute_faults(&bad, &v, &mut Verdict::new(), &mut changuard_interp::EvalScratch::new()).ids().is_empty());

    // A field far beyond the engine's cost bound exhausts channel 291's fuel
    // (contains + regex scans); channel 300 never scans strings.
    let huge: &'static str = Box::leak("whoam ".repeat(200_000).into_boxed_str());
    let ev = long_event(huge);
    active.evaluate(&ev, &mut v, &mut changuard_interp::EvalScratch::new());
    assert!(v.fuel_exhausted || v.faults > 0, "{v:?}");
    let blamed = active.attribute_faults(&ev, &v, &mut Verdict::new(), &mut changuard_interp::EvalScratch::new());
    assert_eq!(blamed.ids(), &[291], "only channel 291 faults alone");
    faulted.extend(&blamed);

    let mut lent = active.lend_loader().unwrap();
    p.uptime = u64::from(lent.health_window_secs().unwrap());
    let proof = lent.health_confirmed(&mut p).unwrap();
    lent.promote(&mut p, &setup, proof, faulted.ids()).unwrap();
    assert!(active.restore_loader(lent));
    assert!(active.buffers_intact());
    let l = active.loader().unwrap();
    let c291 = l.channels().iter().find(|c| c.channel == 291).unwrap();
    let c300 = l.channels().iter().find(|c| c.channel == 300).unwrap();
    assert_eq!(c300.promotion, changuard_loader::Promotion::Done);
    assert_eq!(c300.lkg_version, Some(1));
    assert_eq!(c291.promotion, changuard_loader::Promotion::Failed);
    assert_eq!(c291.trial_attempt, Some(1), "trial stays open");
    assert_eq!(c291.last_problem.unwrap().reason, changuard_loader::Reason::FaultedDuringTrial);
    assert_eq!(c291.last_problem.unwrap().reason.code(), 503);
    let mut book = StatusBook::new();
    book.refresh(l, active.excluded().ids(), false);
    let s291 = book.channels().iter().find(|c| c.channel_id == 291).unwrap();
    assert_eq!(s291.last_rejection.unwrap().reason, 503);
    // No trial left: the attribution engines are gone and nothing is blamed.
    active.evaluate(&ev, &mut v, &mut changuard_interp::EvalScratch::new());
    assert!(active.attribute_faults(&ev, &v, &mut Verdict::new(), &mut changuard_interp::EvalScratch::new()).ids().is_empty());

    // Next boot (MaxTrialBoots = 1): 291 v2 is quarantined, 300 v1 is the LKG.
    let l2 = changuard_loader::boot(&mut p, &setup);
    let c291 = l2.channels().iter().find(|c| c.channel == 291).unwrap();
    assert!(c291.active.is_none());
    assert!(l2.state().unwrap().get(291).unwrap().quarantined().contains(&2));
    let c300 = l2.channels().iter().find(|c| c.channel == 300).unwrap();
    assert_eq!(c300.active_version(), Some(1));
    assert_eq!(c300.source, changuard_loader::Source::Lkg);
    drop(active);
}


/// driver/build_keys.rs's root-key rules (the pure part; the build itself reads
/// the environment): default threshold 2 of 3+, all of fewer, 0 or more than the
/// roots refused, a threshold without roots refused.
mod build_keys {
    #![allow(dead_code, clippy::all, clippy::pedantic)]
    include!("../../build_keys.rs");

    #[test]
    fn root_threshold_rules() {
        assert_eq!(root_threshold(0, None), Ok(0));
        assert_eq!(root_threshold(1, None), Ok(1));
        assert_eq!(root_threshold(2, None), Ok(2));
        assert_eq!(root_threshold(3, None), Ok(2));
        assert_eq!(root_threshold(8, None), Ok(2));
        assert_eq!(root_threshold(3, Some("3")), Ok(3));
        assert_eq!(root_threshold(3, Some(" 1 ")), Ok(1));
        assert_eq!(root_threshold(3, Some("")), Ok(2));
        assert!(root_threshold(3, Some("0")).is_err());
        assert!(root_threshold(3, Some("4")).is_err());
        assert!(root_threshold(0, Some("1")).is_err());
        assert!(root_threshold(2, Some("two")).is_err());
    }
}

/// The decision ring: oldest first, newest 32 kept, every decision counted, and
/// the status reply carries it (version 3).
#[test]
fn decision_ring_keeps_the_newest_and_encodes() {
    use changuard_control::status::{DecisionRecord, MAX_DECISIONS, MAX_REPLY_LEN, decode_status};
    let mut ring = crate::status::DecisionRing::new();
    assert!(ring.records().is_empty());
    for i in 0..40u32 {
        ring.push(DecisionRecord { channel: i, reason: 211, ..DecisionRecord::default() });
    }
    assert_eq!(ring.records().len(), MAX_DECISIONS);
    assert_eq!(ring.list().recorded, 40);
    assert_eq!(ring.records()[0].seq, 9);
    assert_eq!(ring.records()[0].channel, 8);
    assert_eq!(ring.records()[31].seq, 40);
    assert_eq!(ring.next_seq(), 41);
    let book = StatusBook::new();
    let mut out = [0u8; MAX_REPLY_LEN];
    let n = book.encode(&ring, &mut out).unwrap();
    let r = decode_status(&out[..n]).unwrap();
    assert_eq!(r.decisions(), ring.records());
    assert_eq!(r.decisions_recorded, 40);
}

/// The compiled setup has roots exactly when build.rs was given some.
#[test]
fn setup_has_roots_only_when_configured() {
    let keys = crate::keys::Keys::load();
    let setup = keys.setup();
    assert_eq!(setup.roots.is_some(), !crate::keys::ROOT_PUBLIC_KEYS.is_empty());
    if let Some(r) = setup.roots {
        assert_eq!(r.threshold(), crate::keys::ROOT_THRESHOLD);
        assert_eq!(r.keys().len(), crate::keys::ROOT_PUBLIC_KEYS.len());
    }
}
