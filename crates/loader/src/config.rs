//! Configuration from `HKLM\SYSTEM\CurrentControlSet\Services\changuard\Parameters`.
//!
//! Every value is untrusted input. A value that is missing uses its default
//! silently; a value that is present but unusable (wrong type, wrong size,
//! missing NUL, relative/device/`..`/ADS path, outside the allowed roots, out of
//! range, unknown keyword) uses its documented default and records a
//! [`Reason::Config`] decision. Configuration never makes the load fail.
//!
//! | value | type | accepted | default |
//! |---|---|---|---|
//! | `ContentDirectory` | REG_SZ | absolute `X:\...` or `\SystemRoot\...` under an allowed root, ASCII, <= 200 chars | [`DEFAULT_CONTENT_DIR`] |
//! | `Policy` | REG_SZ | `Latest`, `NMinus1`, `Pinned` (ASCII case-insensitive) | `Latest` |
//! | `PinnedVersion` | REG_QWORD or REG_DWORD | 1..=u64::MAX, global pin for every channel | none |
//! | `Pinned.<channel>` | REG_QWORD or REG_DWORD | per-channel pin, decimal channel without leading zeros (`Pinned.291`); overrides `PinnedVersion` | none |
//! | `MaxTrialBoots` | REG_DWORD | 1; 2 with a recorded warning | 1 |
//! | `HealthWindowSeconds` | REG_DWORD | 30..=86400 | 300 |
//! | `ClearQuarantine` | REG_DWORD | any token; when it differs from the last applied token, every quarantine is cleared once | none |
//! | `MemoryBudgetMiB` | REG_DWORD | 64..=2048 ([`MEMORY_BUDGET_RANGE_MIB`], the upper end is the hard cap): content bytes plus interpreter memory of all active channels ([`crate::budget`]) | [`DEFAULT_MEMORY_BUDGET_MIB`] (512) |
//! | `LatencyBudgetUs` | REG_DWORD | 0 (off) or 100..=1,000,000 ([`LATENCY_BUDGET_RANGE_US`]): an event whose evaluation costs more than this many microseconds of fuel ([`Config::latency_budget_fuel`]) counts as a fault against the channels on trial that cause it, so they are not promoted | [`DEFAULT_LATENCY_BUDGET_US`] (50,000) |
//!
//! Allowed roots are configuration of the loader, passed by the platform owner
//! ([`DEFAULT_ALLOWED_ROOTS`] in the driver): a content directory must be the
//! root itself or below it. Comparison is ASCII case-insensitive. The path
//! rules are [`crate::path`]'s, the one validator the driver also applies
//! before it opens a directory.

use crate::platform::{IoErrorKind, Platform, RegType};
use crate::reason::{ConfigKey, ConfigProblem, Decision, Reason};

pub use crate::path::MAX_PATH_LEN;
/// Default content directory.
pub const DEFAULT_CONTENT_DIR: &str = "C:\\ProgramData\\changuard\\Content";
/// Default allowed roots (the %ProgramData% equivalent and the driver's own tree).
pub const DEFAULT_ALLOWED_ROOTS: &[&str] =
    &["C:\\ProgramData\\changuard\\", "\\SystemRoot\\changuard\\"];
/// Default `MaxTrialBoots`.
pub const DEFAULT_MAX_TRIAL_BOOTS: u32 = 1;
/// Default `HealthWindowSeconds`.
pub const DEFAULT_HEALTH_WINDOW_SECS: u32 = 300;
/// Accepted `HealthWindowSeconds` range.
pub const HEALTH_WINDOW_RANGE: core::ops::RangeInclusive<u32> = 30..=86_400;

/// Default `MemoryBudgetMiB`: three maximal (16 MiB) channels, each charged
/// 144.5 MiB ([`crate::budget::charge`]), or any number of typical ones.
pub const DEFAULT_MEMORY_BUDGET_MIB: u32 = 512;
/// Accepted `MemoryBudgetMiB` range. The upper end is the hard cap: a reload
/// holds two generations for a moment, so the peak stays under 4 GiB.
pub const MEMORY_BUDGET_RANGE_MIB: core::ops::RangeInclusive<u32> = 64..=2048;

/// Default `LatencyBudgetUs`: 50 ms, three times the worst event of one file
/// at the per-file cost ceiling (17 ms at the measured 4 ns per fuel), so
/// valid content fails it only when it really runs that long.
pub const DEFAULT_LATENCY_BUDGET_US: u32 = 50_000;
/// Accepted nonzero `LatencyBudgetUs` range (0 turns the check off).
pub const LATENCY_BUDGET_RANGE_US: core::ops::RangeInclusive<u32> = 100..=1_000_000;

/// Which version of each channel the loader offers as candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    /// The newest version in the directory, newer than the LKG.
    Latest,
    /// The newest version strictly older than the newest in the directory.
    NMinus1,
    /// Exactly the pinned version (`Pinned.<channel>` or `PinnedVersion`); may be
    /// below the anti-rollback floor; never a quarantined one.
    Pinned,
}

impl Policy {
    /// Registry keyword.
    pub const fn name(self) -> &'static str {
        match self {
            Policy::Latest => "Latest",
            Policy::NMinus1 => "NMinus1",
            Policy::Pinned => "Pinned",
        }
    }
}

/// A bounded ASCII path, no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PathBuf {
    buf: [u8; MAX_PATH_LEN],
    len: usize,
}

impl core::fmt::Debug for PathBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PathBuf {
    /// Copy `s` if it fits (ASCII checked by the caller).
    pub fn new(s: &str) -> Option<PathBuf> {
        let mut buf = [0u8; MAX_PATH_LEN];
        buf.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
        Some(PathBuf { buf, len: s.len() })
    }
    /// Replace the path with `s` in place if it fits (else leave it and return
    /// `false`): no ~200-byte `PathBuf` temporaries on the stack.
    pub fn set(&mut self, s: &str) -> bool {
        let Some(dst) = self.buf.get_mut(..s.len()) else {
            return false;
        };
        dst.copy_from_slice(s.as_bytes());
        // Zero the tail, as `new` leaves it (equality compares the whole buffer).
        if let Some(tail) = self.buf.get_mut(s.len()..) {
            tail.fill(0);
        }
        self.len = s.len();
        true
    }
    /// The path.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
}

/// Largest `RolloutDelayHours`: 90 days.
pub const MAX_ROLLOUT_DELAY_HOURS: u32 = 90 * 24;

/// The effective configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Content directory (checked).
    pub content_dir: PathBuf,
    /// Candidate policy.
    pub policy: Policy,
    /// Global pin (`PinnedVersion`).
    pub pinned_global: Option<u64>,
    /// 1 or 2.
    pub max_trial_boots: u32,
    /// Health window.
    pub health_window_secs: u32,
    /// `ClearQuarantine` token, if set.
    pub clear_token: Option<u32>,
    /// `MemoryBudgetMiB`.
    pub memory_budget_mib: u32,
    /// `LatencyBudgetUs` (0: off).
    pub latency_budget_us: u32,
    /// `MachineId` (REG_BINARY, 16 bytes, random per install): places the
    /// machine in each channel's rollout rings (`changuard_release::ring_point`).
    /// `None`: the machine takes the last ring of every rollout.
    pub machine_id: Option<[u8; 16]>,
    /// `RolloutDelayHours`: the customer's own delay added to every ring's
    /// time (0..=[`MAX_ROLLOUT_DELAY_HOURS`]).
    pub rollout_delay_hours: u32,
}

impl Config {
    /// `LatencyBudgetUs` in fuel, at the measured fuel-to-time factor
    /// ([`changuard_format::cost::FUEL_PER_MICROSECOND`]): fuel is the
    /// interpreter's deterministic measure of work, so the budget holds the
    /// same on every machine and in every test. `None` when off.
    pub fn latency_budget_fuel(&self) -> Option<u64> {
        (self.latency_budget_us != 0).then(|| {
            u64::from(self.latency_budget_us)
                .saturating_mul(changuard_format::cost::FUEL_PER_MICROSECOND)
        })
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            content_dir: PathBuf::new(DEFAULT_CONTENT_DIR).unwrap_or(PathBuf {
                buf: [0; MAX_PATH_LEN],
                len: 0,
            }),
            policy: Policy::Latest,
            pinned_global: None,
            max_trial_boots: DEFAULT_MAX_TRIAL_BOOTS,
            health_window_secs: DEFAULT_HEALTH_WINDOW_SECS,
            clear_token: None,
            memory_budget_mib: DEFAULT_MEMORY_BUDGET_MIB,
            latency_budget_us: DEFAULT_LATENCY_BUDGET_US,
            machine_id: None,
            rollout_delay_hours: 0,
        }
    }
}

/// Decode a REG_SZ (UTF-16LE, NUL-terminated) holding printable ASCII into `out`.
/// Returns the length. Trailing data after the first NUL must be NULs only
/// (some writers pad); an embedded NUL followed by text is rejected.
///
/// # Errors
/// The problem found. # Panics: never.
pub fn decode_sz(ty: RegType, data: &[u8], out: &mut [u8]) -> Result<usize, ConfigProblem> {
    if ty != RegType::Sz {
        return Err(ConfigProblem::WrongType);
    }
    if data.len() % 2 != 0 {
        return Err(ConfigProblem::WrongSize);
    }
    let mut len = 0usize;
    let mut terminated = false;
    for pair in data.chunks_exact(2) {
        let (lo, hi) = match pair {
            [lo, hi] => (*lo, *hi),
            _ => return Err(ConfigProblem::WrongSize),
        };
        let unit = u16::from_le_bytes([lo, hi]);
        if terminated {
            if unit != 0 {
                return Err(ConfigProblem::NotTerminated);
            }
            continue;
        }
        if unit == 0 {
            terminated = true;
            continue;
        }
        if !(0x20..0x7f).contains(&unit) {
            return Err(ConfigProblem::BadCharacter);
        }
        let slot = out.get_mut(len).ok_or(ConfigProblem::WrongSize)?;
        *slot = lo;
        len = len.checked_add(1).ok_or(ConfigProblem::WrongSize)?;
    }
    if !terminated {
        return Err(ConfigProblem::NotTerminated);
    }
    Ok(len)
}

/// Decode a REG_DWORD.
///
/// # Errors
/// Wrong type or size.
pub fn decode_dword(ty: RegType, data: &[u8]) -> Result<u32, ConfigProblem> {
    if ty != RegType::Dword {
        return Err(ConfigProblem::WrongType);
    }
    match data {
        [a, b, c, d] => Ok(u32::from_le_bytes([*a, *b, *c, *d])),
        _ => Err(ConfigProblem::WrongSize),
    }
}

/// Decode a REG_QWORD or REG_DWORD as `u64`.
///
/// # Errors
/// Wrong type or size.
pub fn decode_u64(ty: RegType, data: &[u8]) -> Result<u64, ConfigProblem> {
    match (ty, data) {
        (RegType::Qword, [a, b, c, d, e, f, g, h]) => {
            Ok(u64::from_le_bytes([*a, *b, *c, *d, *e, *f, *g, *h]))
        }
        (RegType::Dword, _) => decode_dword(ty, data).map(u64::from),
        (RegType::Qword, _) => Err(ConfigProblem::WrongSize),
        _ => Err(ConfigProblem::WrongType),
    }
}

/// Parse a policy keyword (ASCII case-insensitive).
///
/// # Errors
/// `UnknownKeyword`.
pub fn parse_policy(s: &str) -> Result<Policy, ConfigProblem> {
    for p in [Policy::Latest, Policy::NMinus1, Policy::Pinned] {
        if s.eq_ignore_ascii_case(p.name()) {
            return Ok(p);
        }
    }
    if s.eq_ignore_ascii_case("N-1") {
        return Ok(Policy::NMinus1);
    }
    Err(ConfigProblem::UnknownKeyword)
}

/// `MaxTrialBoots` from a DWORD: `Ok(1)`, `Ok(2)` with a warning, else the problem.
///
/// # Errors
/// `OutOfRange` (default 1 is used).
pub fn check_max_trial_boots(v: u32) -> Result<(u32, bool), ConfigProblem> {
    match v {
        1 => Ok((1, false)),
        2 => Ok((2, true)),
        _ => Err(ConfigProblem::OutOfRange),
    }
}

/// Buffer size for registry reads: big enough for the longest accepted path in UTF-16 plus slack.
pub const REG_BUF_LEN: usize = (MAX_PATH_LEN + 2) * 2;

/// Read one raw value. `Ok(None)` when not set.
fn read_raw<P: Platform>(
    p: &mut P,
    name: &str,
    buf: &mut [u8; REG_BUF_LEN],
) -> Result<Option<(RegType, usize)>, ConfigProblem> {
    match p.read_param(name, buf) {
        Ok(v) if v.len > REG_BUF_LEN => Err(ConfigProblem::WrongSize),
        Ok(v) => Ok(Some((v.ty, v.len))),
        Err(e) if e.kind == IoErrorKind::NotFound => Ok(None),
        Err(_) => Err(ConfigProblem::ReadFailed),
    }
}

/// `buf` is scratch (zeroed here): one buffer serves every read of a caller,
/// so its frame holds one `REG_BUF_LEN` buffer, not one per value.
fn raw_u64<P: Platform>(
    p: &mut P,
    name: &str,
    buf: &mut [u8; REG_BUF_LEN],
) -> Result<Option<u64>, ConfigProblem> {
    buf.fill(0);
    match read_raw(p, name, buf)? {
        None => Ok(None),
        Some((ty, len)) => decode_u64(ty, buf.get(..len).unwrap_or(&[])).map(Some),
    }
}

/// As [`raw_u64`], for a `REG_DWORD`.
fn raw_dword<P: Platform>(
    p: &mut P,
    name: &str,
    buf: &mut [u8; REG_BUF_LEN],
) -> Result<Option<u32>, ConfigProblem> {
    buf.fill(0);
    match read_raw(p, name, buf)? {
        None => Ok(None),
        Some((ty, len)) => decode_dword(ty, buf.get(..len).unwrap_or(&[])).map(Some),
    }
}

impl Config {
    /// Read every value through `p`, reporting each problem to `note`.
    ///
    /// # Panics
    /// Never: every problem becomes a default plus a decision.
    pub fn read<P: Platform>(
        p: &mut P,
        roots: &[&str],
        note: &mut dyn FnMut(&mut P, Decision),
    ) -> Config {
        let mut c = Config::default();
        c.read_into(p, roots, note);
        c
    }

    /// [`Config::read`] into `self` (reset to the defaults first), so a caller
    /// can keep the configuration off the stack.
    ///
    /// # Panics
    /// Never: every problem becomes a default plus a decision.
    // Not inlined: its two registry buffers (2 x 404 bytes) are dead once it
    // returns, so they must not sit in `boot`'s frame while `boot` goes on to
    // validate content (the deepest call chain of the loader).
    #[inline(never)]
    pub fn read_into<P: Platform>(
        &mut self,
        p: &mut P,
        roots: &[&str],
        note: &mut dyn FnMut(&mut P, Decision),
    ) {
        let c = self;
        *c = Config::default();
        let mut rec = |p: &mut P, key: ConfigKey, problem: ConfigProblem| {
            note(
                p,
                Decision {
                    channel: 0,
                    version: 0,
                    attempt: 0,
                    reason: Reason::Config(key, problem),
                },
            );
        };

        // One raw and one decoded buffer for every value (zeroed before each
        // use): seven values with buffers of their own made a ~1.5 KiB frame.
        let mut buf = [0u8; REG_BUF_LEN];
        let mut ascii = [0u8; REG_BUF_LEN];
        match read_raw(p, ConfigKey::ContentDirectory.name(), &mut buf) {
            Ok(None) => {}
            Err(e) => rec(p, ConfigKey::ContentDirectory, e),
            Ok(Some((ty, len))) => {
                let parsed =
                    decode_sz(ty, buf.get(..len).unwrap_or(&[]), &mut ascii).and_then(|n| {
                        let s = core::str::from_utf8(ascii.get(..n).unwrap_or(&[]))
                            .map_err(|_| ConfigProblem::BadCharacter)?;
                        crate::path::check_under(s, roots)?;
                        if c.content_dir.set(s) {
                            Ok(())
                        } else {
                            Err(ConfigProblem::WrongSize)
                        }
                    });
                if let Err(e) = parsed {
                    rec(p, ConfigKey::ContentDirectory, e);
                }
            }
        }

        buf.fill(0);
        match read_raw(p, ConfigKey::Policy.name(), &mut buf) {
            Ok(None) => {}
            Err(e) => rec(p, ConfigKey::Policy, e),
            Ok(Some((ty, len))) => {
                ascii.fill(0);
                let parsed =
                    decode_sz(ty, buf.get(..len).unwrap_or(&[]), &mut ascii).and_then(|n| {
                        let s = core::str::from_utf8(ascii.get(..n).unwrap_or(&[]))
                            .map_err(|_| ConfigProblem::BadCharacter)?;
                        parse_policy(s)
                    });
                match parsed {
                    Ok(pol) => c.policy = pol,
                    Err(e) => rec(p, ConfigKey::Policy, e),
                }
            }
        }

        match raw_u64(p, ConfigKey::PinnedVersion.name(), &mut buf) {
            Ok(Some(0)) => rec(p, ConfigKey::PinnedVersion, ConfigProblem::OutOfRange),
            Ok(v) => c.pinned_global = v,
            Err(e) => rec(p, ConfigKey::PinnedVersion, e),
        }

        match raw_dword(p, ConfigKey::MaxTrialBoots.name(), &mut buf)
            .and_then(|v| v.map(check_max_trial_boots).transpose())
        {
            Ok(None) => {}
            Ok(Some((n, warn))) => {
                c.max_trial_boots = n;
                if warn {
                    rec(
                        p,
                        ConfigKey::MaxTrialBoots,
                        ConfigProblem::AcceptedWithWarning,
                    );
                }
            }
            Err(e) => rec(p, ConfigKey::MaxTrialBoots, e),
        }

        match raw_dword(p, ConfigKey::HealthWindowSeconds.name(), &mut buf) {
            Ok(None) => {}
            Ok(Some(v)) if HEALTH_WINDOW_RANGE.contains(&v) => c.health_window_secs = v,
            Ok(Some(_)) => rec(p, ConfigKey::HealthWindowSeconds, ConfigProblem::OutOfRange),
            Err(e) => rec(p, ConfigKey::HealthWindowSeconds, e),
        }

        match raw_dword(p, ConfigKey::ClearQuarantine.name(), &mut buf) {
            Ok(v) => c.clear_token = v,
            Err(e) => rec(p, ConfigKey::ClearQuarantine, e),
        }

        match raw_dword(p, ConfigKey::MemoryBudgetMiB.name(), &mut buf) {
            Ok(None) => {}
            Ok(Some(v)) if MEMORY_BUDGET_RANGE_MIB.contains(&v) => c.memory_budget_mib = v,
            Ok(Some(_)) => rec(p, ConfigKey::MemoryBudgetMiB, ConfigProblem::OutOfRange),
            Err(e) => rec(p, ConfigKey::MemoryBudgetMiB, e),
        }

        match raw_dword(p, ConfigKey::LatencyBudgetUs.name(), &mut buf) {
            Ok(None) => {}
            Ok(Some(v)) if v == 0 || LATENCY_BUDGET_RANGE_US.contains(&v) => {
                c.latency_budget_us = v;
            }
            Ok(Some(_)) => rec(p, ConfigKey::LatencyBudgetUs, ConfigProblem::OutOfRange),
            Err(e) => rec(p, ConfigKey::LatencyBudgetUs, e),
        }

        buf.fill(0);
        match read_raw(p, ConfigKey::MachineId.name(), &mut buf) {
            Ok(None) => {}
            Ok(Some((RegType::Binary, 16))) => {
                let mut id = [0u8; 16];
                for (d, s) in id.iter_mut().zip(buf.iter()) {
                    *d = *s;
                }
                // All zeros is the value an imaging tool left unset.
                if id == [0; 16] {
                    rec(p, ConfigKey::MachineId, ConfigProblem::OutOfRange);
                } else {
                    c.machine_id = Some(id);
                }
            }
            Ok(Some((RegType::Binary, _))) => {
                rec(p, ConfigKey::MachineId, ConfigProblem::WrongSize)
            }
            Ok(Some(_)) => rec(p, ConfigKey::MachineId, ConfigProblem::WrongType),
            Err(e) => rec(p, ConfigKey::MachineId, e),
        }

        match raw_dword(p, ConfigKey::RolloutDelayHours.name(), &mut buf) {
            Ok(None) => {}
            Ok(Some(v)) if v <= MAX_ROLLOUT_DELAY_HOURS => c.rollout_delay_hours = v,
            Ok(Some(_)) => rec(p, ConfigKey::RolloutDelayHours, ConfigProblem::OutOfRange),
            Err(e) => rec(p, ConfigKey::RolloutDelayHours, e),
        }
    }

    /// The pinned version for `channel`: `Pinned.<channel>` if set and usable,
    /// else `PinnedVersion`. Problems with `Pinned.<channel>` are reported.
    // Not inlined, for the reason given on `read`: its 404-byte registry buffer
    // stays out of `boot`'s frame.
    #[inline(never)]
    pub fn pin_for<P: Platform>(
        &self,
        p: &mut P,
        channel: u32,
        note: &mut dyn FnMut(&mut P, Decision),
    ) -> Option<u64> {
        let mut name = [0u8; 24];
        let prefix = b"Pinned.";
        let mut len = 0usize;
        for b in prefix {
            if let Some(s) = name.get_mut(len) {
                *s = *b;
                len = len.saturating_add(1);
            }
        }
        let mut digits = [0u8; 10];
        let mut n = channel;
        let mut i = digits.len();
        loop {
            i = i.saturating_sub(1);
            if let Some(s) = digits.get_mut(i) {
                *s = b'0'.saturating_add((n % 10) as u8);
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        for b in digits.get(i..).unwrap_or(&[]) {
            if let Some(s) = name.get_mut(len) {
                *s = *b;
                len = len.saturating_add(1);
            }
        }
        let name = core::str::from_utf8(name.get(..len).unwrap_or(&[])).unwrap_or("Pinned.");
        let mut buf = [0u8; REG_BUF_LEN];
        match raw_u64(p, name, &mut buf) {
            Ok(Some(v)) if v != 0 => Some(v),
            Ok(Some(_)) => {
                note(
                    p,
                    Decision {
                        channel,
                        version: 0,
                        attempt: 0,
                        reason: Reason::Config(ConfigKey::PinnedVersion, ConfigProblem::OutOfRange),
                    },
                );
                self.pinned_global
            }
            Ok(None) => self.pinned_global,
            Err(e) => {
                note(
                    p,
                    Decision {
                        channel,
                        version: 0,
                        attempt: 0,
                        reason: Reason::Config(ConfigKey::PinnedVersion, e),
                    },
                );
                self.pinned_global
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sz(s: &str) -> alloc::vec::Vec<u8> {
        let mut v = alloc::vec::Vec::new();
        for u in s.encode_utf16().chain(core::iter::once(0)) {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v
    }
    const R: &[&str] = DEFAULT_ALLOWED_ROOTS;

    #[test]
    fn sz_decoding() {
        let mut out = [0u8; REG_BUF_LEN];
        let d = sz("Latest");
        assert_eq!(decode_sz(RegType::Sz, &d, &mut out), Ok(6));
        assert_eq!(
            decode_sz(RegType::ExpandSz, &d, &mut out),
            Err(ConfigProblem::WrongType)
        );
        assert_eq!(
            decode_sz(RegType::Sz, d.get(..d.len() - 2).unwrap(), &mut out),
            Err(ConfigProblem::NotTerminated)
        );
        assert_eq!(
            decode_sz(RegType::Sz, d.get(..d.len() - 1).unwrap(), &mut out),
            Err(ConfigProblem::WrongSize)
        );
        let mut emb = sz("La");
        emb.extend_from_slice(&sz("x"));
        assert_eq!(
            decode_sz(RegType::Sz, &emb, &mut out),
            Err(ConfigProblem::NotTerminated)
        );
        assert_eq!(parse_policy("nminus1"), Ok(Policy::NMinus1));
        assert_eq!(parse_policy("Newest"), Err(ConfigProblem::UnknownKeyword));
        assert_eq!(check_max_trial_boots(0), Err(ConfigProblem::OutOfRange));
        assert_eq!(check_max_trial_boots(2), Ok((2, true)));
    }

    proptest! {
        #[test]
        fn decode_sz_total(ty in 0u32..12, data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut out = [0u8; REG_BUF_LEN];
            if let Ok(n) = decode_sz(RegType::from_raw(ty), &data, &mut out) {
                // Accepted strings are printable ASCII and came from a NUL-terminated REG_SZ.
                prop_assert!(out[..n].iter().all(|b| (0x20..0x7f).contains(b)));
                prop_assert_eq!(ty, 1);
            }
        }

        #[test]
        fn roundtrip_good_dirs(sub in proptest::collection::vec("[A-Za-z0-9_-]{1,12}", 0..5)) {
            let mut p = std::string::String::from("C:\\ProgramData\\changuard");
            for c in &sub { p.push('\\'); p.push_str(c); }
            prop_assert!(crate::path::check_under(&p, R).is_ok());
            let mut out = [0u8; REG_BUF_LEN];
            let n = decode_sz(RegType::Sz, &sz(&p), &mut out).unwrap();
            prop_assert_eq!(&out[..n], p.as_bytes());
        }

        #[test]
        fn numbers(ty in 0u32..12, data in proptest::collection::vec(any::<u8>(), 0..12)) {
            let t = RegType::from_raw(ty);
            if let Ok(v) = decode_dword(t, &data) { prop_assert_eq!(data.len(), 4); let _ = v; }
            if decode_u64(t, &data).is_ok() { prop_assert!(data.len() == 4 || data.len() == 8); }
            if let Ok(v) = decode_dword(t, &data) { prop_assert!(check_max_trial_boots(v).is_ok() == (v == 1 || v == 2)); }
        }
    }
}
