//! What a boot (a forked child running the driver) hands back to the test: the
//! machine's disks afterwards, stack statistics, the DbgPrint log, verifier
//! findings, how it ended. Encoded with a small length-prefixed binary format.
use std::collections::BTreeMap;

use crate::durable::{Stable, StableEntry};
use crate::fs::{Fs, Node};
use crate::security::{Ace, Dacl};
use crate::registry::{Key, Registry, Value};

/// What survives a reboot: the registry and the volume (durability: `durable.rs`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Persist {
    /// The registry as every call sees it now.
    pub registry: Registry,
    /// The registry as last flushed (what a crash keeps at worst).
    pub hive: Registry,
    /// The system volume.
    pub fs: Fs,
    /// DACLs the driver set, by folded object path (files and keys).
    pub security: BTreeMap<String, Dacl>,
}

/// How a boot ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootEnd {
    /// The script ran to its end.
    Completed,
    /// The test script panicked (an assertion in the child): the message.
    ScriptPanic(String),
    /// The harness crashed the machine (power loss, or a bugcheck elsewhere) on
    /// entry to Windows call number `call` (1-based, counting every call the
    /// driver made this boot), `api`.
    Crash {
        /// Call number.
        call: u64,
        /// The call.
        api: String,
    },
    /// `KeBugCheckEx` was called.
    Bugcheck {
        /// Bugcheck code.
        code: u32,
        /// Parameters 1..4.
        params: [u64; 4],
    },
    /// A fatal verifier finding or a driver panic (a bugcheck on a real machine).
    Fatal(String),
    /// The child died without a report (signal, stack overflow in a guard page).
    Died(String),
    /// The script ended with `Session::power_off`: power lost, no shutdown
    /// notification, only what was durable survives.
    PowerOff,
}

/// One stack statistic: a driver entry point (or its expanded-stack callout).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackRow {
    /// Path name (`DriverEntry`, `ioctl:RELOAD`, `process-notify`, ...).
    pub path: String,
    /// `entry` or `expanded` (a `KeExpandKernelStackAndCallout` callout).
    pub segment: String,
    /// Deepest driver frames at a call into Windows (bytes above the call).
    pub deepest: u64,
    /// The Windows call where that was.
    pub at: String,
    /// High-water mark: deepest driver frame anywhere (bytes).
    pub hwm: u64,
    /// Times the path ran.
    pub runs: u64,
    /// Calls into Windows measured.
    pub probes: u64,
    /// The segment's stack size (overflow limit).
    pub limit: u64,
    /// Driver call chain at the deepest call (only with `CHANGUARD_HARNESS_TRACE=1`).
    pub trace: String,
}

/// Everything a boot reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootReport {
    /// How it ended.
    pub end: BootEnd,
    /// The disks afterwards (None if the child died without reporting).
    pub persist: Option<Persist>,
    /// Stack statistics per path.
    pub stacks: Vec<StackRow>,
    /// DbgPrint output, one entry per line.
    pub log: Vec<String>,
    /// Verifier findings (each fails the test unless expected).
    pub violations: Vec<String>,
    /// Calls per Windows API.
    pub calls: Vec<(String, u64)>,
    /// Windows calls the driver made (the numbers `Session::crash_at` takes).
    pub driver_calls: u64,
}

impl BootReport {
    /// Panics with everything useful unless the boot completed without findings.
    pub fn assert_clean(&self) {
        if self.end != BootEnd::Completed || !self.violations.is_empty() {
            panic!(
                "boot did not end clean: {:?}\nviolations:\n  {}\nlog tail:\n  {}",
                self.end,
                self.violations.join("\n  "),
                self.log.iter().rev().take(30).rev().cloned().collect::<Vec<_>>().join("\n  ")
            );
        }
    }

    /// The stack row of `path`/`segment`.
    pub fn stack(&self, path: &str, segment: &str) -> Option<&StackRow> {
        self.stacks.iter().find(|r| r.path == path && r.segment == segment)
    }

    /// Calls of one API.
    pub fn calls_of(&self, api: &str) -> u64 {
        self.calls.iter().find(|(n, _)| n == api).map_or(0, |(_, c)| *c)
    }

    /// Does any log line contain `needle`?
    pub fn logged(&self, needle: &str) -> bool {
        self.log.iter().any(|l| l.contains(needle))
    }

    /// The driver call count at `Session::mark(name)`.
    pub fn mark(&self, name: &str) -> Option<u64> {
        let prefix = format!("{MARK}{name} ");
        self.log.iter().find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
    }
}

/// Log prefix of [`crate::Session::mark`] lines.
pub const MARK: &str = "#harness-mark ";

/// Encoder.
#[derive(Default)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn bool(&mut self, b: bool) {
        self.u8(u8::from(b));
    }

    fn registry(&mut self, r: &Registry) {
        self.u64(r.keys.len() as u64);
        for (k, key) in &r.keys {
            self.str(k);
            self.str(&key.path);
            self.u64(key.flushes);
            self.u64(key.values.len() as u64);
            for (vn, v) in &key.values {
                self.str(vn);
                self.str(&v.name);
                self.u32(v.ty);
                self.bytes(&v.data);
            }
        }
    }

    fn persist(&mut self, p: &Persist) {
        self.registry(&p.registry);
        self.registry(&p.hive);
        self.u64(p.fs.nodes.len() as u64);
        for (k, n) in &p.fs.nodes {
            self.str(k);
            self.str(&n.path);
            self.bool(n.dir);
            self.bool(n.reparse);
            self.u64(n.flushes);
            self.u64(n.ino);
            self.bytes(&n.data);
        }
        let st = &p.fs.stable;
        self.u64(st.names.len() as u64);
        for (k, e) in &st.names {
            self.str(k);
            self.str(&e.path);
            self.u64(e.ino);
            self.bool(e.dir);
            self.bool(e.reparse);
        }
        self.u64(st.data.len() as u64);
        for (ino, d) in &st.data {
            self.u64(*ino);
            self.bytes(d);
        }
        self.u64(st.replaced.len() as u64);
        for k in &st.replaced {
            self.str(k);
        }
        self.u64(p.security.len() as u64);
        for (k, d) in &p.security {
            self.str(k);
            self.bool(d.protected);
            self.u64(d.aces.len() as u64);
            for a in &d.aces {
                self.str(&a.sid);
                self.u32(a.mask);
                self.u8(a.flags);
            }
        }
    }

    /// Encodes a report.
    pub fn report(&mut self, r: &BootReport) {
        match &r.end {
            BootEnd::Completed => self.u8(0),
            BootEnd::ScriptPanic(m) => {
                self.u8(1);
                self.str(m);
            }
            BootEnd::Bugcheck { code, params } => {
                self.u8(2);
                self.u32(*code);
                for p in params {
                    self.u64(*p);
                }
            }
            BootEnd::Fatal(m) => {
                self.u8(3);
                self.str(m);
            }
            BootEnd::Died(m) => {
                self.u8(4);
                self.str(m);
            }
            BootEnd::PowerOff => self.u8(6),
            BootEnd::Crash { call, api } => {
                self.u8(5);
                self.u64(*call);
                self.str(api);
            }
        }
        match &r.persist {
            Some(p) => {
                self.u8(1);
                self.persist(p);
            }
            None => self.u8(0),
        }
        self.u64(r.stacks.len() as u64);
        for s in &r.stacks {
            self.str(&s.path);
            self.str(&s.segment);
            self.u64(s.deepest);
            self.str(&s.at);
            self.u64(s.hwm);
            self.u64(s.runs);
            self.u64(s.probes);
            self.u64(s.limit);
            self.str(&s.trace);
        }
        for list in [&r.log, &r.violations] {
            self.u64(list.len() as u64);
            for l in list {
                self.str(l);
            }
        }
        self.u64(r.calls.len() as u64);
        for (n, c) in &r.calls {
            self.str(n);
            self.u64(*c);
        }
        self.u64(r.driver_calls);
    }
}

/// Decoder (None on any malformed input).
pub struct Dec<'a>(pub &'a [u8]);

impl Dec<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n).map(<[u8]>::to_vec)
    }
    fn str(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }
    fn bool(&mut self) -> Option<bool> {
        Some(self.u8()? != 0)
    }

    fn registry(&mut self) -> Option<Registry> {
        let mut registry = Registry::default();
        for _ in 0..self.u64()? {
            let k = self.str()?;
            let path = self.str()?;
            let flushes = self.u64()?;
            let mut values = BTreeMap::new();
            for _ in 0..self.u64()? {
                let vn = self.str()?;
                let name = self.str()?;
                let ty = self.u32()?;
                let data = self.bytes()?;
                values.insert(vn, Value { name, ty, data });
            }
            registry.keys.insert(k, Key { path, values, flushes });
        }
        Some(registry)
    }

    fn persist(&mut self) -> Option<Persist> {
        let registry = self.registry()?;
        let hive = self.registry()?;
        let mut fs = Fs { nodes: BTreeMap::new(), stable: Stable::default() };
        for _ in 0..self.u64()? {
            let k = self.str()?;
            let path = self.str()?;
            let dir = self.bool()?;
            let reparse = self.bool()?;
            let flushes = self.u64()?;
            let ino = self.u64()?;
            let data = self.bytes()?;
            fs.nodes.insert(k, Node { path, dir, data, reparse, flushes, ino });
        }
        for _ in 0..self.u64()? {
            let k = self.str()?;
            let path = self.str()?;
            let ino = self.u64()?;
            let dir = self.bool()?;
            let reparse = self.bool()?;
            fs.stable.names.insert(k, StableEntry { path, ino, dir, reparse });
        }
        for _ in 0..self.u64()? {
            let ino = self.u64()?;
            let d = self.bytes()?;
            fs.stable.data.insert(ino, d);
        }
        for _ in 0..self.u64()? {
            let k = self.str()?;
            fs.stable.replaced.insert(k);
        }
        let mut security = BTreeMap::new();
        for _ in 0..self.u64()? {
            let k = self.str()?;
            let protected = self.bool()?;
            let mut aces = Vec::new();
            for _ in 0..self.u64()? {
                aces.push(Ace { sid: self.str()?, mask: self.u32()?, flags: self.u8()? });
            }
            security.insert(k, Dacl { aces, protected });
        }
        Some(Persist { registry, hive, fs, security })
    }

    /// Decodes a report.
    pub fn report(&mut self) -> Option<BootReport> {
        let end = match self.u8()? {
            0 => BootEnd::Completed,
            1 => BootEnd::ScriptPanic(self.str()?),
            2 => {
                let code = self.u32()?;
                let mut params = [0u64; 4];
                for p in &mut params {
                    *p = self.u64()?;
                }
                BootEnd::Bugcheck { code, params }
            }
            3 => BootEnd::Fatal(self.str()?),
            4 => BootEnd::Died(self.str()?),
            5 => BootEnd::Crash { call: self.u64()?, api: self.str()? },
            6 => BootEnd::PowerOff,
            _ => return None,
        };
        let persist = if self.u8()? == 1 { Some(self.persist()?) } else { None };
        let mut stacks = Vec::new();
        for _ in 0..self.u64()? {
            stacks.push(StackRow {
                path: self.str()?,
                segment: self.str()?,
                deepest: self.u64()?,
                at: self.str()?,
                hwm: self.u64()?,
                runs: self.u64()?,
                probes: self.u64()?,
                limit: self.u64()?,
                trace: self.str()?,
            });
        }
        let mut lists = [Vec::new(), Vec::new()];
        for list in &mut lists {
            for _ in 0..self.u64()? {
                list.push(self.str()?);
            }
        }
        let [log, violations] = lists;
        let mut calls = Vec::new();
        for _ in 0..self.u64()? {
            calls.push((self.str()?, self.u64()?));
        }
        let driver_calls = self.u64()?;
        Some(BootReport { end, persist, stacks, log, violations, calls, driver_calls })
    }
}
