//! The release gate (issue 15): which keys sign content, when a version may
//! activate on this machine, and which versions a halt stops.
//!
//! Built once per boot or reload ([`open`]), before any channel is looked at:
//! - **Keyring mode** (the driver has root keys, [`crate::Setup::with_roots`],
//!   and a keyring was ever accepted or is offered): content keys come from
//!   the keyring in force. A keyring with a higher version in the content
//!   directory is validated against the roots and copied to the private
//!   store (the LKG store's reserved channel 0, temp + flush + rename +
//!   sync) before the state record's keyring version is raised (S7), so a
//!   deleted or replayed keyring never brings back a revoked key. Every
//!   candidate needs a valid release record, and its ring must be open.
//! - **Compiled mode** (no keyring): the driver's compiled keys sign content
//!   for every channel as before; a release record or halt signed by them is
//!   honoured when present, and a missing release record is no obstacle.
//!
//! # Invariants
//! - G1: content is validated with keys of the mode in force only; in keyring
//!   mode the signing key must be listed for the channel, and for a candidate
//!   inside its window at `now`, and the version at most its `max_version`.
//! - G2: in keyring mode no version is activated for the first time before
//!   its release says this machine's ring may (`now >= eligible_at`), nor
//!   with a stale keyring or an unknown clock, nor past the version-jump bound
//!   without the release's fast-forward flag.
//! - G3: a halted version is never started or continued on trial; promoted
//!   content is not touched by a halt.
//! - G4: bounded work: one keyring read from the directory and one from the
//!   store per boot (each validated at most once), one halt read per
//!   channel, one release read per candidate version considered (at most
//!   `MAX_CANDIDATE_READS`).

use changuard_format::{KeyId, Rejection, TrustedKey, ValidChannel, validate};
use changuard_release::limits::{MAX_KEYS, MAX_RECORD_LEN};
use changuard_release::{Halt, KeyEntry, Keyring, Release, Roots, ring_point};

use crate::boot::Rec;
use crate::config::Config;
use crate::names::{FileName, KEYRING_NAME};
use crate::platform::{LkgFile, Platform};
use crate::reason::Reason;
use crate::state::{ChannelState, HaltState, Heap, State};

/// The LKG store channel that holds the keyring in force (channel 0 is
/// reserved: no content file names it).
pub const KEYRING_STORE_CHANNEL: u32 = 0;

/// Where a ring point is taken from when the machine has no `MachineId`: the
/// last point, so the machine is in the last ring of every rollout.
const LAST_POINT: u32 = 999_999;

/// What content is validated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Use {
    /// A candidate: the key must be in its window now.
    Candidate,
    /// The LKG copy (accepted earlier): any window.
    Lkg,
}

/// Why content was refused by [`Gate::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The channel file validator rejected it.
    Rejected(Rejection),
    /// Valid and signed, but the keyring does not allow its key for this
    /// channel, version or time.
    KeyNotAllowed,
}

/// One keyring entry, as the gate checks it.
#[derive(Clone, Copy, Debug)]
struct Grant {
    key: KeyId,
    entry: KeyEntry,
}

const NO_GRANT: Grant = Grant {
    key: KeyId([0; 8]),
    entry: KeyEntry {
        public: [0; 32],
        channel: 0,
        test_only: false,
        not_before: 0,
        not_after: 0,
        max_version: 0,
    },
};

const NO_KEY: TrustedKey = TrustedKey {
    id: KeyId([0; 8]),
    public: [0; 32],
    test_only: false,
};

/// A gate that trusts nothing yet.
const EMPTY_GATE: Gate = Gate {
    keyring: false,
    keyring_version: 0,
    expires: 0,
    keys: [NO_KEY; MAX_KEYS],
    keys_len: 0,
    grants: [NO_GRANT; MAX_KEYS],
    grants_len: 0,
    now: None,
    machine_id: None,
    policy_delay_secs: 0,
    ignore_halt: false,
    ignore_ring: false,
};

/// The gate of one boot (heap only: about 2 KiB).
#[derive(Clone, Copy, Debug)]
pub struct Gate {
    /// A keyring is in force (else the compiled keys).
    keyring: bool,
    /// Version and expiry of the keyring in force (0 without).
    keyring_version: u64,
    expires: u64,
    /// Distinct signing keys, for the channel file validator.
    keys: [TrustedKey; MAX_KEYS],
    keys_len: usize,
    /// What each key may sign.
    grants: [Grant; MAX_KEYS],
    grants_len: usize,
    now: Option<u64>,
    machine_id: Option<[u8; 16]>,
    policy_delay_secs: u64,
    /// Deliberate bugs (simulator only): halts and ring times ignored.
    ignore_halt: bool,
    ignore_ring: bool,
}

impl Gate {
    /// A keyring is in force.
    pub const fn keyring_mode(&self) -> bool {
        self.keyring
    }
    /// Version of the keyring in force (0: compiled keys).
    pub const fn keyring_version(&self) -> u64 {
        self.keyring_version
    }
    /// The keyring in force expired (or the clock is unknown).
    pub fn stale(&self) -> bool {
        self.keyring && self.now.is_none_or(|t| t >= self.expires)
    }

    fn grants(&self) -> &[Grant] {
        self.grants.get(..self.grants_len).unwrap_or(&[])
    }

    /// May `key` sign `version` of `channel`, for `use_`?
    fn allows(&self, key: KeyId, channel: u32, version: u64, use_: Use) -> bool {
        self.grants().iter().any(|g| {
            g.key == key
                && g.entry.covers(channel)
                && version <= g.entry.max_version
                && match use_ {
                    Use::Lkg => true,
                    Use::Candidate => {
                        !self.keyring || self.now.is_some_and(|t| g.entry.in_window(t))
                    }
                }
        })
    }

    /// The public key of `key` if it may sign a record of `channel` now:
    /// listed for the channel and in its window, and for a release of
    /// `Some(version)` allowed up to it. A capped (revoked) key signs no
    /// halt (`None`): a leaked key must not halt every version, nor lift
    /// the vendor's halt.
    fn record_signer(&self, key: KeyId, channel: u32, version: Option<u64>) -> Option<[u8; 32]> {
        self.grants()
            .iter()
            .find(|g| {
                g.key == key
                    && g.entry.covers(channel)
                    && (!self.keyring || self.now.is_some_and(|t| g.entry.in_window(t)))
                    && match version {
                        Some(v) => v <= g.entry.max_version,
                        None => g.entry.max_version == u64::MAX,
                    }
            })
            .map(|g| g.entry.public)
    }

    /// Validate content of `channel` (G1).
    pub(crate) fn validate<B: AsRef<[u8]>>(
        &self,
        buf: B,
        channel: u32,
        use_: Use,
    ) -> Result<ValidChannel<B>, Refusal> {
        let keys = self.keys.get(..self.keys_len).unwrap_or(&[]);
        let c = validate(buf, &changuard_format::Trust::new(keys), channel)
            .map_err(Refusal::Rejected)?;
        let h = c.header();
        if self.allows(h.key_id, channel, h.version, use_) {
            Ok(c)
        } else {
            Err(Refusal::KeyNotAllowed)
        }
    }

    /// May version `v` of `cs.channel` start (or continue, `continuing`) a
    /// trial on this machine now (G2, G3)? `base` is the channel's newest
    /// version here (LKG or floor) for the jump bound.
    pub(crate) fn eligible<P: Platform>(
        &self,
        r: &mut Rec<'_, P>,
        config: &Config,
        cs: &ChannelState,
        v: u64,
        continuing: bool,
        base: Option<u64>,
    ) -> Result<(), Reason> {
        let channel = cs.channel;
        if cs.halt.halts(v) && !self.ignore_halt {
            return Err(Reason::Halted);
        }
        if self.keyring && !continuing && self.stale() {
            return Err(Reason::KeyringStale {
                since: self.expires,
            });
        }
        let name = FileName::release(channel, v);
        let buf = match r
            .p
            .read_content(config.content_dir.as_str(), name.as_str(), MAX_RECORD_LEN)
        {
            Ok(b) => b,
            // Compiled mode: releases are optional.
            Err(_) if !self.keyring => return Ok(()),
            Err(_) => return Err(Reason::ReleaseMissing),
        };
        let release = Release::validate_by(
            buf.as_ref(),
            |id| self.record_signer(id, channel, Some(v)),
            channel,
            v,
        )
        .map_err(Reason::ReleaseRejected)?;
        if continuing {
            // It was eligible when its trial started; rings only open with time.
            return Ok(());
        }
        if !release.jump_allowed(base) {
            return Err(Reason::VersionJump);
        }
        let Some(now) = self.now else {
            return Err(Reason::ClockUnknown);
        };
        let point = self
            .machine_id
            .as_ref()
            .map_or(LAST_POINT, |id| ring_point(id, channel));
        let at = release.eligible_at(point, self.policy_delay_secs);
        if now < at && !self.ignore_ring {
            return Err(Reason::NotYetEligible { at });
        }
        Ok(())
    }

    /// Read the halt of `cs.channel` and record it if its sequence is higher
    /// (S7). Returns the decision worth reporting, if any.
    pub(crate) fn read_halt<P: Platform>(
        &self,
        r: &mut Rec<'_, P>,
        config: &Config,
        cs: &mut ChannelState,
    ) {
        let channel = cs.channel;
        let name = FileName::halt(channel);
        let Ok(buf) =
            r.p.read_content(config.content_dir.as_str(), name.as_str(), MAX_RECORD_LEN)
        else {
            return;
        };
        match Halt::validate_by(
            buf.as_ref(),
            |id| self.record_signer(id, channel, None),
            channel,
        ) {
            Ok(h) if h.sequence > cs.halt.sequence => {
                cs.halt = HaltState {
                    sequence: h.sequence,
                    first: h.first,
                    last: h.last,
                };
                r.note(channel, h.sequence, 0, Reason::HaltAccepted);
            }
            Ok(h) if h.sequence < cs.halt.sequence => {
                r.note(channel, h.sequence, 0, Reason::HaltRollback);
            }
            Ok(_) => {}
            Err(e) => {
                r.note(channel, 0, 0, Reason::HaltRejected(e));
            }
        }
    }

    fn grant(&mut self, key: TrustedKey, entry: KeyEntry) {
        if !self.keys().iter().any(|k| k.id == key.id) {
            if let Some(slot) = self.keys.get_mut(self.keys_len) {
                *slot = key;
                self.keys_len = self.keys_len.saturating_add(1);
            }
        }
        if let Some(slot) = self.grants.get_mut(self.grants_len) {
            *slot = Grant { key: key.id, entry };
            self.grants_len = self.grants_len.saturating_add(1);
        }
    }

    fn keys(&self) -> &[TrustedKey] {
        self.keys.get(..self.keys_len).unwrap_or(&[])
    }
}

/// Build the gate of this boot: the keyring in force (storing a newer one
/// first), or the compiled keys. `st.keyring_version` is raised only to a
/// keyring whose store copy is durable (S7); `true` when it was.
pub(crate) fn open<P: Platform>(
    r: &mut Rec<'_, P>,
    setup: &crate::boot::Setup<'_>,
    config: &Config,
    st: &mut State,
) -> Option<(Heap<Gate>, bool)> {
    // Copied from read-only data into the heap: no ~2 KiB temporary on the
    // stack (kernel stack).
    let mut gate = Heap::new_from(&EMPTY_GATE)?;
    gate.now = r.p.now_unix_secs();
    gate.machine_id = config.machine_id;
    gate.policy_delay_secs = u64::from(config.rollout_delay_hours).saturating_mul(3600);
    gate.ignore_halt = mutated!(setup, IgnoreHalt);
    gate.ignore_ring = mutated!(setup, IgnoreRing);
    let mut raised = false;
    if let Some(roots) = setup.roots {
        raised = keyring_in_force(r, &roots, config, st, &mut gate);
    }
    if !gate.keyring {
        if st.keyring_version != 0 {
            r.note(0, st.keyring_version, 0, Reason::KeyringUnavailable);
        }
        for k in setup.trust.keys() {
            gate.grant(
                *k,
                KeyEntry {
                    public: k.public,
                    channel: changuard_release::layout::ANY_CHANNEL,
                    test_only: k.test_only,
                    not_before: 0,
                    not_after: u64::MAX,
                    max_version: u64::MAX,
                },
            );
        }
    } else if gate.stale() {
        r.note(
            0,
            gate.keyring_version,
            0,
            Reason::KeyringStale {
                since: gate.expires,
            },
        );
    }
    Some((gate, raised))
}

/// Keyring mode: take the newest valid keyring at or above the recorded
/// version, from the store or the content directory; store a newer one
/// durably first. Returns `true` when `st.keyring_version` was raised.
///
/// Each keyring is validated once (its root signatures are most of a boot's
/// loader time): the directory copy is not validated again when its bytes
/// are the stored copy's. The store's temp copy is not read: a keyring is
/// recorded only after its rename over the current copy is durable (S7), so
/// an interrupted store leaves the recorded keyring in place, and the
/// directory copy is stored again at the next boot.
fn keyring_in_force<P: Platform>(
    r: &mut Rec<'_, P>,
    roots: &Roots<'_>,
    config: &Config,
    st: &mut State,
    gate: &mut Gate,
) -> bool {
    let floor = st.keyring_version;
    let stored =
        r.p.lkg_read(KEYRING_STORE_CHANNEL, LkgFile::Current, MAX_RECORD_LEN)
            .ok()
            .and_then(|buf| Keyring::validate(buf, roots).ok())
            .filter(|k| k.version() >= floor);
    let stored_v = stored.as_ref().map(Keyring::version);
    let mut raised = false;
    let mut in_force = stored;
    match r
        .p
        .read_content(config.content_dir.as_str(), KEYRING_NAME, MAX_RECORD_LEN)
    {
        Ok(buf)
            if in_force
                .as_ref()
                .is_some_and(|k| k.as_bytes() == buf.as_ref()) => {}
        Ok(buf) => match Keyring::validate(buf, roots) {
            Ok(k) if stored_v.is_none_or(|s| k.version() > s) && k.version() >= floor => {
                let v = k.version();
                if store(r, k.as_bytes()) {
                    raised = v > st.keyring_version;
                    st.keyring_version = st.keyring_version.max(v);
                }
                r.note(0, v, 0, Reason::KeyringAccepted);
                in_force = Some(k);
            }
            Ok(k) if k.version() < stored_v.unwrap_or(floor).max(floor) => {
                r.note(0, k.version(), 0, Reason::KeyringRollback);
            }
            Ok(_) => {}
            Err(e) => {
                r.note(0, 0, 0, Reason::KeyringRejected(e));
            }
        },
        Err(_) => {}
    }
    let Some(k) = in_force else {
        return raised;
    };
    if stored_v.is_some_and(|v| v > st.keyring_version) {
        // A stored copy newer than the record: its store completed before a
        // crash took the record's write; the record catches up now.
        st.keyring_version = k.version().max(st.keyring_version);
        raised = true;
    }
    gate.keyring = true;
    gate.keyring_version = k.version();
    gate.expires = k.expires();
    for e in k.entries() {
        let key = if e.test_only {
            TrustedKey::new_test_only(e.public)
        } else {
            TrustedKey::new(e.public)
        };
        gate.grant(key, e);
    }
    raised
}

/// Store a keyring durably: temp, flush, rename over Current, sync.
fn store<P: Platform>(r: &mut Rec<'_, P>, bytes: &[u8]) -> bool {
    let c = KEYRING_STORE_CHANNEL;
    r.p.lkg_write_temp(c, bytes).is_ok()
        && r.p.lkg_flush_temp(c).is_ok()
        && r.p.lkg_rename_temp(c).is_ok()
        && r.p.lkg_sync(c).is_ok()
}
