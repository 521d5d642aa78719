//! The simulated `Platform`: every loader I/O against the disk and registry
//! image, with crash points and injected failures per operation.

use std::collections::BTreeMap;
use std::hash::Hash;

use changuard_format::AlignedBytes;
use changuard_loader::platform::{LkgFile, RegValue};
use changuard_loader::{Decision, IoError, IoErrorKind, Platform, RegType};

use super::{CONTENT_DIR, CONTENT_PREFIX};
use crate::disk::{Bytes, Disk};

/// Which platform operation (for traces and crash triggers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `read_param`.
    ReadParam,
    /// `list_content`.
    List,
    /// `read_content`.
    ReadContent,
    /// `golden`/`golden_channel`.
    Golden,
    /// `state_read`.
    StateRead,
    /// `state_write`.
    StateWrite,
    /// `state_flush`.
    StateFlush,
    /// `lkg_read`.
    LkgRead,
    /// `lkg_write_temp`.
    LkgWriteTemp,
    /// `lkg_flush_temp`.
    LkgFlushTemp,
    /// `lkg_rename_temp`.
    LkgRename,
    /// `lkg_sync`.
    LkgSync,
    /// `lkg_delete_temp`.
    LkgDeleteTemp,
    /// `uptime_secs`.
    Uptime,
}

impl Op {
    /// Does it change the disk (a crash point follows it)?
    pub const fn mutates(self) -> bool {
        matches!(
            self,
            Op::StateWrite
                | Op::StateFlush
                | Op::LkgWriteTemp
                | Op::LkgFlushTemp
                | Op::LkgRename
                | Op::LkgSync
                | Op::LkgDeleteTemp
        )
    }
}

/// Where to crash a boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrashAt {
    /// Right after the n-th (1-based) mutating op of this boot.
    Nth(u64),
    /// Right after the first op of this kind.
    After(Op),
}

/// An injected promotion I/O failure: the LKG store op `op` fails (as a
/// sharing violation on the rename would) during promotion, once or for the
/// whole boot. Nothing is changed on disk by the failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FailOp {
    /// Which op fails (`LkgWriteTemp`, `LkgFlushTemp`, `LkgRename`, `LkgSync`).
    pub op: Op,
    /// Every call this boot (else only the first).
    pub persistent: bool,
}

impl FailOp {
    /// The LKG store ops a promotion makes, in order.
    pub const PROMOTION_OPS: [Op; 4] = [
        Op::LkgWriteTemp,
        Op::LkgFlushTemp,
        Op::LkgRename,
        Op::LkgSync,
    ];

    /// Stable short name (`rename`, `rename-always`, ...).
    pub fn name(&self) -> String {
        let op = match self.op {
            Op::LkgWriteTemp => "write-temp",
            Op::LkgFlushTemp => "flush-temp",
            Op::LkgRename => "rename",
            Op::LkgSync => "sync",
            other => return format!("{other:?}"),
        };
        if self.persistent {
            format!("{op}-always")
        } else {
            op.to_owned()
        }
    }

    /// Parse [`FailOp::name`].
    pub fn parse(s: &str) -> Option<FailOp> {
        let (op, persistent) = match s.strip_suffix("-always") {
            Some(op) => (op, true),
            None => (s, false),
        };
        let op = match op {
            "write-temp" => Op::LkgWriteTemp,
            "flush-temp" => Op::LkgFlushTemp,
            "rename" => Op::LkgRename,
            "sync" => Op::LkgSync,
            _ => return None,
        };
        Some(FailOp { op, persistent })
    }
}

/// Hook the explorer uses to snapshot the disk after each mutating op.
pub type Probe<'a> = &'a mut dyn FnMut(u64, &Disk);

/// The `Platform` over a [`Machine`]'s disk and registry.
#[allow(missing_debug_implementations)]
pub struct SimPlatform<'a, 'p> {
    pub(super) disk: &'a mut Disk,
    pub(super) registry: &'a BTreeMap<String, (u32, Vec<u8>)>,
    pub(super) golden: &'a BTreeMap<u32, Bytes>,
    pub(super) crash_at: Option<CrashAt>,
    /// Dead after the crash point: every op fails and changes nothing.
    pub crashed: bool,
    pub(super) mutating: u64,
    /// All ops this boot (I6).
    pub ops: u64,
    /// Ops in order (trace).
    pub log: Vec<Op>,
    pub(super) uptime: u64,
    /// Decisions reported this boot.
    pub decisions: Vec<Decision>,
    /// Wall clock (Unix seconds) this boot sees.
    pub(super) now: Option<u64>,
    pub(super) probe: Option<Probe<'p>>,
    /// Injected I/O failure (set only while promotion runs).
    pub(super) fail: Option<FailOp>,
    /// Calls failed by `fail`.
    pub failed: u32,
}

impl<'a, 'p> SimPlatform<'a, 'p> {
    /// The platform of one boot over `disk`, `registry` and `golden`: power
    /// is lost at `crash_at`, and the wall clock reads `now`.
    pub(super) fn new(
        disk: &'a mut Disk,
        registry: &'a BTreeMap<String, (u32, Vec<u8>)>,
        golden: &'a BTreeMap<u32, Bytes>,
        crash_at: Option<CrashAt>,
        now: Option<u64>,
        probe: Option<Probe<'p>>,
    ) -> Self {
        SimPlatform {
            disk,
            registry,
            golden,
            crash_at,
            crashed: false,
            mutating: 0,
            ops: 0,
            log: vec![],
            uptime: 0,
            decisions: vec![],
            now,
            probe,
            fail: None,
            failed: 0,
        }
    }
}

fn dead() -> IoError {
    IoError::new(IoErrorKind::Io)
}

impl SimPlatform<'_, '_> {
    fn op(&mut self, op: Op) -> Result<(), IoError> {
        if self.crashed {
            return Err(dead());
        }
        self.ops += 1;
        self.log.push(op);
        if let Some(f) = self.fail {
            if f.op == op && (f.persistent || self.failed == 0) {
                self.failed += 1;
                // A sharing violation: the call fails and changes nothing.
                return Err(IoError::with_status(
                    IoErrorKind::Io,
                    0xC000_0043_u32 as i32,
                ));
            }
        }
        Ok(())
    }
    /// After a mutating op was applied: maybe crash here.
    fn after(&mut self, op: Op) {
        self.mutating += 1;
        if let Some(p) = self.probe.as_mut() {
            p(self.mutating, self.disk);
        }
        let hit = match self.crash_at {
            Some(CrashAt::Nth(n)) => n == self.mutating,
            Some(CrashAt::After(k)) => k == op,
            None => false,
        };
        if hit {
            self.crashed = true;
        }
    }
    fn lkg_name(channel: u32, which: LkgFile) -> String {
        match which {
            LkgFile::Current => format!("lkg/{channel}.lkg"),
            LkgFile::Temp => format!("lkg/{channel}.tmp"),
        }
    }
    fn read_capped(&self, name: &str, cap: usize) -> Result<AlignedBytes, IoError> {
        let b = self
            .disk
            .read(name)
            .ok_or(IoError::new(IoErrorKind::NotFound))?;
        if b.len() > cap {
            return Err(IoError::too_large(b.len() as u64));
        }
        Ok(AlignedBytes::from_slice(&b))
    }
}

impl Platform for SimPlatform<'_, '_> {
    type Buf = AlignedBytes;

    fn read_param(&mut self, name: &str, out: &mut [u8]) -> Result<RegValue, IoError> {
        self.op(Op::ReadParam)?;
        let (ty, data) = self
            .registry
            .get(name)
            .ok_or(IoError::new(IoErrorKind::NotFound))?;
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        Ok(RegValue {
            ty: RegType::from_raw(*ty),
            len: data.len(),
        })
    }

    fn list_content(
        &mut self,
        dir: &str,
        visit: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), IoError> {
        self.op(Op::List)?;
        if !dir.eq_ignore_ascii_case(CONTENT_DIR) {
            return Err(IoError::new(IoErrorKind::NotFound));
        }
        for name in self.disk.list(CONTENT_PREFIX) {
            if !visit(&name) {
                break;
            }
        }
        Ok(())
    }

    fn read_content(&mut self, dir: &str, name: &str, cap: usize) -> Result<AlignedBytes, IoError> {
        self.op(Op::ReadContent)?;
        if !dir.eq_ignore_ascii_case(CONTENT_DIR) {
            return Err(IoError::new(IoErrorKind::NotFound));
        }
        self.read_capped(&format!("{CONTENT_PREFIX}{name}"), cap)
    }

    fn golden(&mut self, channel: u32, cap: usize) -> Result<Option<AlignedBytes>, IoError> {
        self.op(Op::Golden)?;
        match self.golden.get(&channel) {
            Some(b) if b.len() > cap => Err(IoError::too_large(b.len() as u64)),
            Some(b) => Ok(Some(AlignedBytes::from_slice(b))),
            None => Ok(None),
        }
    }

    fn golden_channel(&mut self, index: usize) -> Option<u32> {
        if self.op(Op::Golden).is_err() {
            return None;
        }
        self.golden.keys().nth(index).copied()
    }

    fn state_read(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, IoError> {
        self.op(Op::StateRead)?;
        let b = self
            .disk
            .read(&format!("state/{slot}"))
            .ok_or(IoError::new(IoErrorKind::NotFound))?;
        let n = b.len().min(out.len());
        out[..n].copy_from_slice(&b[..n]);
        Ok(n)
    }

    fn state_write(&mut self, slot: u8, data: &[u8]) -> Result<(), IoError> {
        self.op(Op::StateWrite)?;
        self.disk.write(&format!("state/{slot}"), data);
        self.after(Op::StateWrite);
        Ok(())
    }

    fn state_flush(&mut self, slot: u8) -> Result<(), IoError> {
        self.op(Op::StateFlush)?;
        let ok = self.disk.flush(&format!("state/{slot}"));
        self.after(Op::StateFlush);
        if ok {
            Ok(())
        } else {
            Err(IoError::new(IoErrorKind::NotFound))
        }
    }

    fn lkg_read(
        &mut self,
        channel: u32,
        which: LkgFile,
        cap: usize,
    ) -> Result<AlignedBytes, IoError> {
        self.op(Op::LkgRead)?;
        self.read_capped(&Self::lkg_name(channel, which), cap)
    }

    fn lkg_write_temp(&mut self, channel: u32, data: &[u8]) -> Result<(), IoError> {
        self.op(Op::LkgWriteTemp)?;
        self.disk
            .write(&Self::lkg_name(channel, LkgFile::Temp), data);
        self.after(Op::LkgWriteTemp);
        Ok(())
    }

    fn lkg_flush_temp(&mut self, channel: u32) -> Result<(), IoError> {
        self.op(Op::LkgFlushTemp)?;
        let ok = self.disk.flush(&Self::lkg_name(channel, LkgFile::Temp));
        self.after(Op::LkgFlushTemp);
        if ok {
            Ok(())
        } else {
            Err(IoError::new(IoErrorKind::NotFound))
        }
    }

    fn lkg_rename_temp(&mut self, channel: u32) -> Result<(), IoError> {
        self.op(Op::LkgRename)?;
        let ok = self.disk.rename(
            &Self::lkg_name(channel, LkgFile::Temp),
            &Self::lkg_name(channel, LkgFile::Current),
        );
        self.after(Op::LkgRename);
        if ok {
            Ok(())
        } else {
            Err(IoError::new(IoErrorKind::NotFound))
        }
    }

    fn lkg_sync(&mut self, _channel: u32) -> Result<(), IoError> {
        self.op(Op::LkgSync)?;
        self.disk.sync();
        self.after(Op::LkgSync);
        Ok(())
    }

    fn lkg_delete_temp(&mut self, channel: u32) -> Result<(), IoError> {
        self.op(Op::LkgDeleteTemp)?;
        self.disk.delete(&Self::lkg_name(channel, LkgFile::Temp));
        self.after(Op::LkgDeleteTemp);
        Ok(())
    }

    fn uptime_secs(&mut self) -> u64 {
        if self.op(Op::Uptime).is_err() {
            return 0;
        }
        self.uptime
    }

    fn now_unix_secs(&mut self) -> Option<u64> {
        if self.crashed {
            return None;
        }
        self.now
    }

    fn report(&mut self, decision: &Decision) {
        if !self.crashed {
            self.decisions.push(*decision);
        }
    }
}
