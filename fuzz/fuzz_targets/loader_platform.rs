//! Fuzz the loader against an arbitrary platform: every registry value, directory
//! entry, file, state slot, LKG copy and golden blob is fuzzer bytes, and any call
//! may fail. The loader must never panic, never activate anything that does not
//! validate, and stay within its bounded work; promotion must not panic either.
//!
//! A valid channel file (built once with a fixed key) is available to the fuzzer by
//! index, so it can reach trial, promotion and LKG recovery, not just rejection.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, SigningKey, build};
use changuard_format::schema::PROCESS_CREATE;
use changuard_format::{Action, AlignedBytes, SCHEMA_ID, Trust, TrustedKey, validate};
use changuard_loader::platform::{LkgFile, RegValue};
use changuard_loader::{Decision, IoError, IoErrorKind, Platform, Promotion, RegType, Setup};
use libfuzzer_sys::fuzz_target;

fn fixtures() -> &'static (Vec<Vec<u8>>, [TrustedKey; 1]) {
    static F: OnceLock<(Vec<Vec<u8>>, [TrustedKey; 1])> = OnceLock::new();
    F.get_or_init(|| {
        let key = SigningKey::from_seed([7; 32]);
        let mut files = vec![];
        for (ch, v) in [(291u32, 6u64), (291, 7), (17, 1)] {
            let spec = ChannelSpec {
                channel: ch,
                version: v,
                schema_id: SCHEMA_ID,
                instances: vec![InstanceSpec {
                    also: Vec::new(),
                    unless: Vec::new(),
                    metadata: Default::default(),
                    id: 1,
                    template: PROCESS_CREATE.id,
                    action: Action::Report,
                    criteria: PROCESS_CREATE.fields.iter().map(|_| CriterionSpec::Any).collect(),
                }],
            };
            files.push(build(&spec, &key).unwrap_or_default());
        }
        (files, [key.trusted_key()])
    })
}

struct FuzzPlatform<'a> {
    u: Unstructured<'a>,
    ops: u64,
}

impl FuzzPlatform<'_> {
    fn fail(&mut self) -> Option<IoError> {
        self.ops += 1;
        match self.u.int_in_range(0u8..=9).unwrap_or(0) {
            0 => Some(IoError::new(IoErrorKind::NotFound)),
            1 => Some(IoError::new(IoErrorKind::Io)),
            2 => Some(IoError::too_large(u64::arbitrary(&mut self.u).unwrap_or(0))),
            _ => None,
        }
    }
    fn blob(&mut self, cap: usize) -> Result<AlignedBytes, IoError> {
        if let Some(e) = self.fail() {
            return Err(e);
        }
        let (files, _) = fixtures();
        let pick = self.u.int_in_range(0u8..=3).unwrap_or(3);
        let mut bytes: Vec<u8> = match files.get(usize::from(pick)) {
            Some(f) => f.clone(),
            None => Vec::<u8>::arbitrary(&mut self.u).unwrap_or_default(),
        };
        if bool::arbitrary(&mut self.u).unwrap_or(false) {
            if let Ok(i) = self.u.choose_index(bytes.len().max(1)) {
                if let Some(b) = bytes.get_mut(i) {
                    *b ^= 1 << (u8::arbitrary(&mut self.u).unwrap_or(0) % 8);
                }
            }
        }
        if bytes.len() > cap {
            return Err(IoError::too_large(bytes.len() as u64));
        }
        Ok(AlignedBytes::from_slice(&bytes))
    }
}

impl Platform for FuzzPlatform<'_> {
    type Buf = AlignedBytes;
    fn read_param(&mut self, _name: &str, out: &mut [u8]) -> Result<RegValue, IoError> {
        if let Some(e) = self.fail() {
            return Err(e);
        }
        let ty = RegType::from_raw(self.u.int_in_range(0u32..=12).unwrap_or(0));
        let data = Vec::<u8>::arbitrary(&mut self.u).unwrap_or_default();
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        let len = if bool::arbitrary(&mut self.u).unwrap_or(false) { usize::arbitrary(&mut self.u).unwrap_or(0) } else { data.len() };
        Ok(RegValue { ty, len })
    }
    fn list_content(&mut self, _dir: &str, visit: &mut dyn FnMut(&str) -> bool) -> Result<(), IoError> {
        if let Some(e) = self.fail() {
            return Err(e);
        }
        let n = self.u.int_in_range(0u16..=5000).unwrap_or(0);
        for _ in 0..n {
            let name = match self.u.int_in_range(0u8..=3).unwrap_or(0) {
                0 => "C-00000291-00000007.chan".to_owned(),
                1 => "C-00000291-00000006.chan".to_owned(),
                2 => "C-00000017-00000001.chan".to_owned(),
                _ => String::arbitrary(&mut self.u).unwrap_or_default(),
            };
            if !visit(&name) {
                break;
            }
        }
        Ok(())
    }
    fn read_content(&mut self, _dir: &str, _name: &str, cap: usize) -> Result<AlignedBytes, IoError> {
        self.blob(cap)
    }
    fn golden(&mut self, _channel: u32, cap: usize) -> Result<Option<AlignedBytes>, IoError> {
        if bool::arbitrary(&mut self.u).unwrap_or(true) {
            return Ok(None);
        }
        self.blob(cap).map(Some)
    }
    fn golden_channel(&mut self, _index: usize) -> Option<u32> {
        self.ops += 1;
        Option::<u32>::arbitrary(&mut self.u).unwrap_or(None)
    }
    fn state_read(&mut self, _slot: u8, out: &mut [u8]) -> Result<usize, IoError> {
        if let Some(e) = self.fail() {
            return Err(e);
        }
        let data = Vec::<u8>::arbitrary(&mut self.u).unwrap_or_default();
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }
    fn state_write(&mut self, _slot: u8, data: &[u8]) -> Result<(), IoError> {
        assert!(data.len() <= changuard_loader::platform::MAX_STATE_LEN);
        self.fail().map_or(Ok(()), Err)
    }
    fn state_flush(&mut self, _slot: u8) -> Result<(), IoError> {
        self.fail().map_or(Ok(()), Err)
    }
    fn lkg_read(&mut self, _channel: u32, _which: LkgFile, cap: usize) -> Result<AlignedBytes, IoError> {
        self.blob(cap)
    }
    fn lkg_write_temp(&mut self, _channel: u32, _data: &[u8]) -> Result<(), IoError> {
        self.fail().map_or(Ok(()), Err)
    }
    fn lkg_flush_temp(&mut self, _channel: u32) -> Result<(), IoError> {
        self.fail().map_or(Ok(()), Err)
    }
    fn lkg_rename_temp(&mut self, _channel: u32) -> Result<(), IoError> {
        self.fail().map_or(Ok(()), Err)
    }
    fn lkg_sync(&mut self, _channel: u32) -> Result<(), IoError> {
        self.fail().map_or(Ok(()), Err)
    }
    fn lkg_delete_temp(&mut self, _channel: u32) -> Result<(), IoError> {
        self.fail().map_or(Ok(()), Err)
    }
    fn uptime_secs(&mut self) -> u64 {
        self.ops += 1;
        u64::arbitrary(&mut self.u).unwrap_or(0)
    }
    fn report(&mut self, _decision: &Decision) {}
}

fuzz_target!(|data: &[u8]| {
    let (_, keys) = fixtures();
    let setup = Setup::new(Trust::new(keys), changuard_loader::config::DEFAULT_ALLOWED_ROOTS);
    let mut p = FuzzPlatform { u: Unstructured::new(data), ops: 0 };
    let mut loader = changuard_loader::boot(&mut p, &setup);
    // Bounded work: config + listing + per channel a fixed number of ops.
    assert!(p.ops < 1_000, "{} platform ops in one boot", p.ops);
    for c in loader.channels() {
        if let Some(a) = &c.active {
            // Nothing is active that does not validate as its own channel.
            let re = validate(a.as_bytes(), &Trust::new(keys), c.channel).expect("active content validates");
            assert_eq!(re.version(), a.version());
        }
    }
    if let Some(proof) = loader.health_confirmed(&mut p) {
        // An arbitrary per-channel fault set (ids on trial or not): a faulted
        // channel is never promoted, the others are promoted or fail on their own.
        let mut faulted = [0u32; changuard_loader::limits::MAX_CHANNELS];
        let mut n = 0usize;
        for c in loader.channels() {
            if bool::arbitrary(&mut p.u).unwrap_or(false) {
                faulted[n] = c.channel;
                n += 1;
            }
        }
        if let Ok(stray) = u32::arbitrary(&mut p.u) {
            if n < faulted.len() {
                faulted[n] = stray;
                n += 1;
            }
        }
        let faulted = &faulted[..n];
        let pending: Vec<u32> = loader
            .channels()
            .iter()
            .filter(|c| c.promotion == Promotion::Pending)
            .map(|c| c.channel)
            .collect();
        let promoted = loader.promote(&mut p, &setup, proof, faulted).is_ok();
        for c in loader.channels().iter().filter(|_| promoted) {
            if faulted.contains(&c.channel) && pending.contains(&c.channel) {
                assert_eq!(c.promotion, Promotion::Failed, "faulted channel {} promoted", c.channel);
                assert!(c.trial_attempt.is_some(), "faulted channel {} trial closed", c.channel);
            }
        }
    }
});
