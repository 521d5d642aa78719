//! The reference model of the release gate (issue 15), written from the
//! rules in docs/FORMAT.md "Release records", not from the loader's code.
//!
//! The loader reports why it did not start a version that is itself valid
//! (a halt, a closed ring, a stale keyring, ...). Invariant I4 ("every boot
//! ends with the best content the policy allows") accepts such a refusal only
//! when this model, looking at the machine's disk, registry and clock,
//! reaches the same verdict.

use changuard_format::{AlignedBytes, KeyId, Rule, Trust, validate};
use changuard_loader::names::{FileName, KEYRING_NAME};
use changuard_loader::reason::Reason;
use changuard_loader::state::ChannelState;
use changuard_release::{KeyEntry, Keyring, Release, Roots, ring_point};

use crate::content;
use crate::machine::Machine;

/// The sim's keyring threshold (2 of [`content::roots`]).
pub const ROOT_THRESHOLD: usize = 2;

/// A validated keyring's version, entries and expiry.
type KeyringFacts = (u64, Vec<KeyEntry>, u64);

/// [`Keyring::validate`] with the sim's roots, remembered per content (the
/// model looks at every boot's keyrings; their root signatures dominate a
/// fleet run's time otherwise).
fn validated_keyring(bytes: &[u8], roots: &Roots<'_>) -> Option<KeyringFacts> {
    use std::collections::HashMap;
    use std::hash::{Hash, Hasher};
    thread_local! {
        static CACHE: std::cell::RefCell<HashMap<(u64, usize), Option<KeyringFacts>>> =
            std::cell::RefCell::new(HashMap::new());
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    let key = (h.finish(), bytes.len());
    if let Some(v) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return v;
    }
    let v = Keyring::validate(bytes, roots)
        .ok()
        .map(|k| (k.version(), k.entries().collect(), k.expires()));
    CACHE.with(|c| c.borrow_mut().insert(key, v.clone()));
    v
}

/// The gate's facts as this model sees them on `m`.
pub(crate) struct GateModel<'a> {
    m: &'a Machine,
    /// Entries of the newest valid keyring on the machine (keyring mode).
    keys: Vec<KeyEntry>,
    expires: Option<u64>,
}

impl<'a> GateModel<'a> {
    /// Read the keyring in force: the newest valid one among the content
    /// directory and the private store's current copy (channel 0 of the LKG
    /// store).
    pub(crate) fn new(m: &'a Machine) -> GateModel<'a> {
        let mut best: Option<(u64, Vec<KeyEntry>, u64)> = None;
        if m.keyring_mode {
            let roots = Roots::new(content::roots(), ROOT_THRESHOLD);
            // The store's temp copy is never read: a keyring counts once its
            // rename is durable (docs/FORMAT.md "Release records").
            for name in [format!("content/{KEYRING_NAME}"), "lkg/0.lkg".to_owned()] {
                let (Some(b), Some(r)) = (m.disk.read(&name), roots.as_ref()) else {
                    continue;
                };
                if let Some((version, keys, expires)) = validated_keyring(&b, r) {
                    if best.as_ref().is_none_or(|(v, ..)| version > *v) {
                        best = Some((version, keys, expires));
                    }
                }
            }
        }
        match best {
            Some((_, keys, expires)) => GateModel {
                m,
                keys,
                expires: Some(expires),
            },
            None => GateModel {
                m,
                keys: Vec::new(),
                expires: None,
            },
        }
    }

    fn keyring(&self) -> bool {
        self.expires.is_some()
    }

    /// May `key` sign a record of `channel` now (compiled mode: the sim
    /// key)? A release of `Some(version)` needs the key's cap at or above
    /// it; a halt (`None`) an uncapped key.
    fn signer(&self, key: KeyId, channel: u32, version: Option<u64>) -> Option<[u8; 32]> {
        if !self.keyring() {
            return content::trusted()
                .iter()
                .find(|k| k.id == key)
                .map(|k| k.public);
        }
        let now = self.m.clock?;
        self.keys
            .iter()
            .find(|e| {
                e.id() == key
                    && (e.channel == 0 || e.channel == channel)
                    && e.not_before <= now
                    && now < e.not_after
                    && version.map_or(e.max_version == u64::MAX, |v| v <= e.max_version)
            })
            .map(|e| e.public)
    }

    fn release(&self, c: u32, v: u64) -> Option<Result<Release, changuard_release::RecordError>> {
        let b = self
            .m
            .disk
            .read(&format!("content/{}", FileName::release(c, v).as_str()))?;
        Some(Release::validate_by(
            &b[..],
            |id| self.signer(id, c, Some(v)),
            c,
            v,
        ))
    }

    fn point(&self, c: u32) -> u32 {
        match self.m.registry.get("MachineId") {
            Some((3, id)) if id.len() == 16 && id.iter().any(|b| *b != 0) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(id);
                ring_point(&a, c)
            }
            _ => 999_999,
        }
    }

    fn delay_secs(&self) -> u64 {
        match self.m.registry.get("RolloutDelayHours") {
            Some((4, d)) if d.len() == 4 => {
                u64::from(u32::from_le_bytes([d[0], d[1], d[2], d[3]])) * 3600
            }
            _ => 0,
        }
    }

    /// The key id that signed content file `(c, v)`, if it is one.
    fn content_key(&self, c: u32, v: u64) -> Option<KeyId> {
        let b = self
            .m
            .disk
            .read(&format!("content/{}", FileName::new(c, v).as_str()))?;
        let a = AlignedBytes::from_slice(&b);
        validate(&a[..], &Trust::new(content::oracle_keys()), c)
            .ok()
            .map(|x| x.header().key_id)
    }

    /// Why the gate must not let `v` of channel `c` run on trial now, if it
    /// must not (I10): a halt covers it, or, in keyring mode and for a new
    /// trial, its release is missing, invalid, not yet open for this
    /// machine's ring or past the jump bound, or the keyring is stale.
    pub(crate) fn refuses(
        &self,
        c: u32,
        v: u64,
        continuing: bool,
        cs: Option<&ChannelState>,
        base: Option<u64>,
    ) -> Option<String> {
        let recorded = cs.map(|s| s.halt);
        let on_disk = self
            .m
            .disk
            .read(&format!("content/{}", FileName::halt(c).as_str()))
            .and_then(|b| {
                changuard_release::Halt::validate_by(&b[..], |id| self.signer(id, c, None), c).ok()
            });
        let newest_on_disk = on_disk.filter(|h| recorded.is_none_or(|r| h.sequence >= r.sequence));
        if newest_on_disk.is_some_and(|h| h.halts(v)) || recorded.is_some_and(|r| r.halts(v)) {
            return Some("a halt covers it".to_owned());
        }
        if !self.keyring() || continuing {
            return None;
        }
        let now = self.m.clock?;
        if self.expires.is_some_and(|e| now >= e) {
            return Some("the keyring is stale".to_owned());
        }
        match self.release(c, v) {
            None => Some("it has no release record".to_owned()),
            Some(Err(e)) => Some(format!("its release record is invalid ({e})")),
            Some(Ok(r)) if !r.jump_allowed(base) => Some("it jumps past the bound".to_owned()),
            Some(Ok(r)) => {
                let at = r.eligible_at(self.point(c), self.delay_secs());
                (now < at).then(|| format!("its ring opens at {at}, now is {now}"))
            }
        }
    }

    /// Is the loader's refusal `why` of valid version `v` of channel `c`
    /// justified? `cs`: the channel's state after the boot; `base`: its
    /// newest version here (LKG or floor).
    pub(crate) fn justified(
        &self,
        c: u32,
        v: u64,
        why: Reason,
        cs: Option<&ChannelState>,
        base: Option<u64>,
    ) -> bool {
        let now = self.m.clock;
        match why {
            Reason::Halted => cs.is_some_and(|s| s.halt.halts(v)),
            Reason::KeyringStale { since } => {
                self.expires == Some(since) && now.is_none_or(|t| t >= since)
            }
            Reason::ReleaseMissing => self.keyring() && self.release(c, v).is_none(),
            Reason::ReleaseRejected(_) => matches!(self.release(c, v), Some(Err(_))),
            Reason::NotYetEligible { at } => match self.release(c, v) {
                Some(Ok(r)) => {
                    r.eligible_at(self.point(c), self.delay_secs()) == at
                        && now.is_some_and(|t| t < at)
                }
                _ => false,
            },
            Reason::VersionJump => {
                matches!(self.release(c, v), Some(Ok(r)) if !r.jump_allowed(base))
            }
            Reason::ClockUnknown => self.keyring() && now.is_none(),
            Reason::KeyNotAllowed => self.content_key(c, v).is_some_and(|k| {
                self.keyring()
                    && !self.keys.iter().any(|e| {
                        e.id() == k
                            && (e.channel == 0 || e.channel == c)
                            && v <= e.max_version
                            && now.is_some_and(|t| e.not_before <= t && t < e.not_after)
                    })
            }),
            // Signed by a key the keyring in force does not list at all.
            Reason::CandidateRejected(r) if r.rule == Rule::UnknownKey => self
                .content_key(c, v)
                .is_some_and(|k| self.keyring() && !self.keys.iter().any(|e| e.id() == k)),
            _ => false,
        }
    }
}
