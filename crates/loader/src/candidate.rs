//! Choosing and reading the candidate of a channel (issue 11 finding 3).
//!
//! The policy names the versions that may run ([`allowed`]); the directory
//! listing names the versions present. Candidates are tried newest first
//! until one validates, within a per-boot budget: at most `tries` files are
//! validated and at most [`MAX_CANDIDATE_READS`] read per channel, so one bad
//! file (junk, unsigned, torn) never freezes a channel, and a directory full
//! of bad files costs a bounded amount of work.
//!
//! A rejected file is remembered in the channel's state as `(version, content
//! hash)`: at the next boot the same file is read and hashed but not
//! validated again, and does not use up a try. A file re-delivered under the
//! same name has another hash and is validated afresh. Channels that are not
//! in the state record yet (new channels) remember nothing: they get a
//! smaller budget instead ([`crate::limits::MAX_NEW_CHANNEL_TRIES`]).
//!
//! Policies: `Latest` walks down from the newest version present; `NMinus1`
//! from the newest strictly older than the newest present; `Pinned` reads
//! exactly the pinned file by name (never another version).

use changuard_format::{Rule, ValidChannel, limits::MAX_FILE_LEN};

use crate::boot::{ChannelOutcome, Rec, Setup};
use crate::config::{Config, Policy};
use crate::digest::content_hash;
use crate::gate::{Gate, Refusal, Use};
use crate::limits::MAX_CANDIDATE_READS;
use crate::names::FileName;
use crate::platform::{IoErrorKind, Platform};
use crate::reason::{ConfigKey, ConfigProblem, Decision, Reason};
use crate::state::ChannelState;

/// May the policy run `v` (Latest/NMinus1)? Never quarantined, never below the
/// anti-rollback floor, only newer than a valid LKG (equal means "use the LKG").
fn allowed(cs: &ChannelState, lkg_v: Option<u64>, v: u64) -> bool {
    !cs.is_quarantined(v) && v >= cs.floor && lkg_v.is_none_or(|l| v > l)
}

/// Why one file was not taken.
enum Miss {
    /// Not validated: a transient problem (unreadable, too large) or a known rejection.
    Skipped,
    /// Validated and rejected (now remembered).
    Rejected,
}

/// What one channel's walk works with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Walk<'a> {
    /// Versions present in the directory, descending ([`crate::listing`]).
    pub present: &'a [u64],
    /// Version of the valid LKG copy, if any.
    pub lkg_v: Option<u64>,
    /// Most files validated this boot.
    pub tries: usize,
    /// Record rejections in the state (false for channels not in the record yet).
    pub remember: bool,
    /// The version on trial from the last boot, if any: it continues
    /// without a new ring check ([`crate::gate::Gate::eligible`]).
    pub trial: Option<u64>,
}

/// Choose and read the candidate of `cs.channel`: newest allowed first, until
/// one validates or the budget is spent. Puts it in `slot` (in place: no copy
/// in the caller's frame, kernel stack) and returns its content hash.
#[inline(always)]
pub(crate) fn pick<P: Platform>(
    r: &mut Rec<'_, P>,
    setup: &Setup<'_>,
    config: &Config,
    cs: &mut ChannelState,
    walk: &Walk<'_>,
    out: &mut ChannelOutcome<P::Buf>,
    slot: &mut Option<ValidChannel<P::Buf>>,
) -> Option<u64> {
    let Walk {
        present,
        lkg_v,
        tries,
        remember,
        trial,
    } = *walk;
    let channel = cs.channel;
    let file = File {
        setup,
        config,
        remember,
    };
    let mut policy = config.policy;
    let mut pin = None;
    if policy == Policy::Pinned {
        pin = config.pin_for(r.p, channel, &mut |p: &mut P, d: Decision| p.report(&d));
        if pin.is_none() {
            r.note(
                channel,
                0,
                0,
                Reason::Config(ConfigKey::PinnedVersion, ConfigProblem::PinMissing),
            );
            policy = Policy::Latest;
        }
    }
    if let (Policy::Pinned, Some(v)) = (policy, pin) {
        if lkg_v == Some(v) {
            return None;
        }
        if cs.is_quarantined(v) {
            out.last_problem = Some(r.note(channel, v, 0, Reason::PinnedQuarantined));
            return None;
        }
        if !eligible(r, setup, config, cs, (v, trial == Some(v), lkg_v), out) {
            return None;
        }
        return read_one(r, &file, cs, v, true, out, slot).ok();
    }
    // Latest: from the newest present; NMinus1: from the newest strictly older.
    let below = match policy {
        Policy::NMinus1 => present.first().copied(),
        _ => None,
    };
    let mut validated = 0usize;
    let mut reads = 0usize;
    let mut any_allowed = false;
    for &v in present {
        if below.is_some_and(|n| v >= n) || !allowed(cs, lkg_v, v) {
            continue;
        }
        any_allowed = true;
        if validated >= tries || reads >= MAX_CANDIDATE_READS {
            break;
        }
        reads = reads.saturating_add(1);
        // The release gate: halts, the keyring's freshness, the signed
        // rollout plan (one release record read, counted as a read).
        if !eligible(r, setup, config, cs, (v, trial == Some(v), lkg_v), out) {
            continue;
        }
        match read_one(r, &file, cs, v, false, out, slot) {
            Ok(hash) => return Some(hash),
            Err(Miss::Rejected) => validated = validated.saturating_add(1),
            Err(Miss::Skipped) => {}
        }
    }
    if !any_allowed && present.iter().any(|&v| lkg_v.is_none_or(|l| v > l)) {
        // Something newer exists but policy refused it (quarantined or below the floor).
        out.last_problem = Some(r.note(channel, 0, 0, Reason::NoCandidate));
    }
    None
}

/// Does this boot's gate let `v` start (or continue) a trial? Records the
/// reason when it does not (a problem reason also as the channel's last).
fn eligible<P: Platform>(
    r: &mut Rec<'_, P>,
    setup: &Setup<'_>,
    config: &Config,
    cs: &ChannelState,
    (v, continuing, lkg_v): (u64, bool, Option<u64>),
    out: &mut ChannelOutcome<P::Buf>,
) -> bool {
    let Some(gate) = setup.gate else {
        return true;
    };
    let base = lkg_v.unwrap_or(0).max(cs.floor);
    let base = (base != 0).then_some(base);
    match gate.eligible(r, config, cs, v, continuing, base) {
        Ok(()) => true,
        Err(why) => {
            let d = r.note(cs.channel, v, 0, why);
            if why.is_problem() {
                out.last_problem = Some(d);
            }
            false
        }
    }
}

/// What reading one file needs besides the channel state.
struct File<'a, 's> {
    setup: &'a Setup<'s>,
    config: &'a Config,
    remember: bool,
}

/// Read file `v` once (size cap checked by the platform before allocating),
/// skip it if it is a remembered rejection, else validate it as this channel
/// and check the name's version equals the signed one. `pinned`: `v` is the
/// pin (a missing file is reason 209). A valid file goes into `slot`; its
/// content hash is returned.
#[inline(never)]
fn read_one<P: Platform>(
    r: &mut Rec<'_, P>,
    f: &File<'_, '_>,
    cs: &mut ChannelState,
    v: u64,
    pinned: bool,
    out: &mut ChannelOutcome<P::Buf>,
    slot: &mut Option<ValidChannel<P::Buf>>,
) -> Result<u64, Miss> {
    let File {
        setup,
        config,
        remember,
    } = *f;
    let channel = cs.channel;
    let name = FileName::new(channel, v);
    let buf = match r
        .p
        .read_content(config.content_dir.as_str(), name.as_str(), MAX_FILE_LEN)
    {
        Ok(b) => b,
        Err(e) => {
            let reason = match e.kind {
                IoErrorKind::TooLarge => Reason::CandidateTooLarge,
                IoErrorKind::NotFound if pinned => Reason::PinnedMissing,
                _ => Reason::CandidateUnreadable,
            };
            out.last_problem = Some(r.note(channel, v, 0, reason));
            return Err(Miss::Skipped);
        }
    };
    if buf.as_ref().len() > MAX_FILE_LEN {
        out.last_problem = Some(r.note(channel, v, 0, Reason::CandidateTooLarge));
        return Err(Miss::Skipped);
    }
    let hash = content_hash(buf.as_ref());
    if cs.is_rejected(v, hash) {
        out.last_problem = Some(r.note(channel, v, 0, Reason::CandidateKnownRejected));
        return Err(Miss::Skipped);
    }
    let reason = match setup.validate_content(buf, channel, Use::Candidate) {
        Ok(c) if c.version() == v => {
            *slot = Some(c);
            return Ok(hash);
        }
        Ok(_) => Reason::NameVersionMismatch,
        Err(Refusal::Rejected(rej)) => Reason::CandidateRejected(rej),
        Err(Refusal::KeyNotAllowed) => Reason::KeyNotAllowed,
    };
    // A refusal by key policy is not remembered: the next keyring may allow
    // the key (a window that opens, a channel added), and the same file
    // must then be taken.
    let policy = match reason {
        Reason::KeyNotAllowed => true,
        Reason::CandidateRejected(rej) => {
            rej.rule == Rule::UnknownKey && setup.gate.is_some_and(Gate::keyring_mode)
        }
        _ => false,
    };
    if remember && !policy {
        cs.remember_rejected(v, hash);
    }
    out.last_problem = Some(r.note(channel, v, 0, reason));
    Err(Miss::Rejected)
}
