//! Reading the LKG copy of a channel at boot (issue 11 finding 5).
//!
//! The LKG store may hold only what the state record says it holds: the
//! recorded LKG (version and content hash), or the version on trial whose
//! promotion got past its rename before a crash (then the boot rolls it
//! forward). A valid, signed file of any other version or content is a
//! downgrade or a stale copy: it is refused with [`Reason::LkgNotRecorded`],
//! never activated, and a leftover temp copy is never renamed over Current.
//!
//! Only when no valid state record exists at all (first install, or both
//! slots lost: reason 601) is any valid copy accepted, since nothing records
//! what it should be; it is then recorded (trust on first use).

use changuard_format::{ValidChannel, limits::MAX_FILE_LEN};

use crate::boot::{ChannelOutcome, Rec, Setup};
use crate::digest::content_hash;
use crate::gate::{Refusal, Use};
use crate::platform::{IoErrorKind, LkgFile, Platform};
use crate::reason::{Decision, Reason};
use crate::state::ChannelState;

/// What the state record allows the LKG store of one channel to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expect {
    /// The recorded LKG `(version, hash)`; hash 0: recorded before hashes were.
    recorded: Option<(u64, u64)>,
    /// The open trial `(version, hash)`: its promotion may have got past the rename.
    trial: Option<(u64, u64)>,
    /// No state record at all: accept any valid copy.
    any: bool,
}

impl Expect {
    /// From the channel's state (`None`: not in the record); `any` when no
    /// valid state record was recovered.
    pub(crate) fn new(cs: Option<&ChannelState>, any: bool) -> Expect {
        Expect {
            recorded: cs
                .filter(|c| c.lkg_version != 0)
                .map(|c| (c.lkg_version, c.lkg_hash)),
            trial: cs.and_then(|c| c.trial).map(|t| (t.version, t.hash)),
            any,
        }
    }

    /// Exactly `(version, hash)`: the copy phase A validated, read again in
    /// phase C (hash 0: recorded before hashes were).
    pub(crate) fn exact(version: u64, hash: u64) -> Expect {
        Expect {
            recorded: Some((version, hash)),
            trial: None,
            any: false,
        }
    }

    fn accepts(&self, version: u64, hash: u64) -> bool {
        let is =
            |e: Option<(u64, u64)>| e.is_some_and(|(v, h)| v == version && (h == 0 || h == hash));
        self.any || is(self.recorded) || is(self.trial)
    }
}

/// Read, validate and check the LKG copy: Current, else Temp after an
/// interrupted rename (then renamed back under its name before anything may
/// overwrite Temp, L3). Puts the copy in `slot` (written in place: the
/// caller's frame holds no copy, kernel stack) and returns its content hash.
// Not inlined: its validation frame is never on the stack with the candidate's.
#[inline(never)]
pub(crate) fn read<P: Platform>(
    r: &mut Rec<'_, P>,
    setup: &Setup<'_>,
    channel: u32,
    expect: &Expect,
    out: &mut ChannelOutcome<P::Buf>,
    slot: &mut Option<ValidChannel<P::Buf>>,
) -> Option<u64> {
    // Current's problem, reported when nothing is accepted; a refused valid
    // copy (306) is reported at once and is the channel's last problem.
    let mut problem: Option<Reason> = None;
    let mut refused: Option<Decision> = None;
    for which in [LkgFile::Current, LkgFile::Temp] {
        let found = match r.p.lkg_read(channel, which, MAX_FILE_LEN) {
            Ok(buf) => {
                let hash = content_hash(buf.as_ref());
                match setup.validate_content(buf, channel, Use::Lkg) {
                    Ok(v) if expect.accepts(v.version(), hash) => {
                        let version = v.version();
                        *slot = Some(v);
                        Some((version, hash))
                    }
                    Ok(v) => {
                        refused = Some(r.note(channel, v.version(), 0, Reason::LkgNotRecorded));
                        None
                    }
                    Err(refusal) => {
                        if which == LkgFile::Current {
                            problem = Some(match refusal {
                                Refusal::Rejected(rej) => Reason::LkgRejected(rej),
                                Refusal::KeyNotAllowed => Reason::KeyNotAllowed,
                            });
                        }
                        None
                    }
                }
            }
            Err(e) => {
                if which == LkgFile::Current {
                    problem = Some(if e.kind == IoErrorKind::NotFound {
                        Reason::LkgMissing
                    } else {
                        Reason::LkgUnreadable
                    });
                }
                None
            }
        };
        let Some((version, hash)) = found else {
            continue;
        };
        if which == LkgFile::Temp {
            // Interrupted rename: put it back under its name before anything
            // may overwrite Temp (L3).
            r.note(channel, version, 0, Reason::LkgRecoveredFromTemp);
            let ok = r.p.lkg_rename_temp(channel).is_ok() && r.p.lkg_sync(channel).is_ok();
            out.lkg_needs_repair = !ok;
        }
        return Some(hash);
    }
    if let Some(reason) = problem {
        let d = r.note(channel, 0, 0, reason);
        if reason != Reason::LkgMissing {
            out.last_problem = Some(d);
        }
    }
    if refused.is_some() {
        out.last_problem = refused;
    }
    None
}
