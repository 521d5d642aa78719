//! The driver's status book: per-channel status fed by the loader's decisions,
//! served by `IOCTL_QUERY_STATUS` (encoded by `changuard-control`) and
//! mirrored under `Parameters\Status` for `reg query`.
//!
//! Safe code only: the book is plain data guarded by the sensor's lock.

use changuard_control::status::{ChannelStatus, DriverStatus, MAX_CHANNELS, MAX_QUARANTINED, Rejection, Source};
use changuard_loader::reason::{Decision, Reason};

use crate::platform::RegKey;

/// Per-channel status, at most `MAX_CHANNELS` channels, no allocation.
pub struct StatusBook {
    channels: [ChannelStatus; MAX_CHANNELS],
    count: usize,
    /// Driver-wide part.
    pub driver: DriverStatus,
}

impl StatusBook {
    /// Empty book.
    #[must_use]
    pub const fn new() -> Self {
        Self { channels: [ChannelStatus::empty(0); MAX_CHANNELS], count: 0, driver: DriverStatus {
            flags: 0, events_seen: 0, detections: 0, eval_faults: 0, reloads: 0, reload_fallbacks: 0, last_platform_status: 0,
        } }
    }

    /// The used records.
    #[must_use]
    pub fn channels(&self) -> &[ChannelStatus] {
        self.channels.get(..self.count).unwrap_or(&[])
    }

    /// The record of `channel`, created if there is room.
    pub fn channel_mut(&mut self, channel: u32) -> Option<&mut ChannelStatus> {
        let pos = self.channels().iter().position(|c| c.channel_id == channel);
        let idx = match pos {
            Some(i) => i,
            None => {
                let slot = self.channels.get_mut(self.count)?;
                *slot = ChannelStatus::empty(channel);
                let i = self.count;
                self.count = self.count.saturating_add(1);
                i
            }
        };
        self.channels.get_mut(idx)
    }

    /// Applies one loader decision to the book.
    pub fn record(&mut self, d: &Decision) {
        if d.channel == 0 {
            return; // driver-wide (configuration): reflected by DRIVER_FLAG_CONFIG_DEFAULTED
        }
        let Some(ch) = self.channel_mut(d.channel) else { return };
        match d.reason {
            Reason::OnTrial | Reason::TrialRetried => {
                ch.source = Source::Candidate;
                ch.active_version = d.version;
                ch.trial_attempt = Some(d.attempt);
            }
            Reason::Proven | Reason::PromotionRolledForward => {
                ch.source = Source::Candidate;
                ch.active_version = d.version;
                ch.trial_attempt = None;
                ch.lkg_version = Some(d.version);
            }
            Reason::LkgActivated | Reason::LkgRecoveredFromTemp => {
                ch.source = Source::Lkg;
                ch.active_version = d.version;
                ch.lkg_version = Some(d.version);
                ch.trial_attempt = None;
            }
            Reason::GoldenActivated => {
                ch.source = Source::Golden;
                ch.active_version = d.version;
                ch.trial_attempt = None;
            }
            Reason::NoContent => {
                ch.source = Source::None;
                ch.active_version = 0;
                ch.trial_attempt = None;
            }
            Reason::Promoted => {
                ch.lkg_version = Some(d.version);
                ch.trial_attempt = None;
            }
            Reason::Quarantined => {
                if usize::from(ch.quarantined_count) < MAX_QUARANTINED {
                    if let Some(slot) = ch.quarantined.get_mut(usize::from(ch.quarantined_count)) {
                        *slot = d.version;
                        ch.quarantined_count = ch.quarantined_count.saturating_add(1);
                    }
                }
            }
            _ => {}
        }
        if d.reason.is_problem() {
            ch.last_rejection = Some(Rejection { reason: d.reason.code(), rule: d.reason.detail(), offset: d.reason.offset() });
        }
    }

    /// Mirrors the book under `Parameters\Status` (best effort: a failure is
    /// counted in the status, never fatal). Values:
    /// `Reloads`, `EventsSeen`, `Detections` (REG_DWORD, saturated) and one
    /// `Channel<id>` REG_SZ per channel, e.g.
    /// `source=lkg active=7 lkg=7 trial=- reject=206/12@64 quarantined=9,8`.
    pub fn publish(&self, status_key: &RegKey) -> bool {
        let sat = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        let mut ok = status_key.set_dword("Reloads", self.driver.reloads).is_ok();
        ok &= status_key.set_dword("EventsSeen", sat(self.driver.events_seen)).is_ok();
        ok &= status_key.set_dword("Detections", sat(self.driver.detections)).is_ok();
        ok &= status_key.set_dword("Flags", self.driver.flags).is_ok();
        for ch in self.channels() {
            let mut name = wdk::fmt::FormatBuffer::<32>::new();
            let mut text = wdk::fmt::FormatBuffer::<256>::new();
            let _ = core::fmt::Write::write_fmt(&mut name, format_args!("Channel{}", ch.channel_id));
            let _ = core::fmt::Write::write_fmt(
                &mut text,
                format_args!("source={} active={} lkg=", ch.source.name(), ch.active_version),
            );
            let _ = match ch.lkg_version {
                Some(v) => core::fmt::Write::write_fmt(&mut text, format_args!("{v}")),
                None => core::fmt::Write::write_str(&mut text, "-"),
            };
            let _ = match ch.trial_attempt {
                Some(a) => core::fmt::Write::write_fmt(&mut text, format_args!(" trial={a}")),
                None => core::fmt::Write::write_str(&mut text, " trial=-"),
            };
            let _ = match ch.last_rejection {
                Some(r) => core::fmt::Write::write_fmt(&mut text, format_args!(" reject={}/{}@{}", r.reason, r.rule, r.offset)),
                None => core::fmt::Write::write_str(&mut text, " reject=-"),
            };
            let _ = core::fmt::Write::write_str(&mut text, " quarantined=");
            for (i, q) in ch.quarantined().iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = core::fmt::Write::write_fmt(&mut text, format_args!("{sep}{q}"));
            }
            ok &= status_key.set_sz(name.as_str(), text.as_str()).is_ok();
        }
        ok
    }
}
