//! The content directory listing, bounded so that junk cannot hide valid
//! files (issue 11 finding 3).
//!
//! - Names that are not channel file names ([`crate::names::parse`]) cost one
//!   comparison and are otherwise ignored: only [`MAX_DIR_ENTRIES`] names are
//!   looked at in all, far more than junk listing first could fill.
//! - Per channel, only the newest [`MAX_VERSIONS_LISTED`] versions are kept:
//!   the loader tries candidates newest first and never looks further down
//!   than its per-boot budget plus the quarantined and known-rejected versions
//!   it skips (a pinned version is read by name, not looked up here).
//! - At most [`MAX_LISTED_CHANNELS`] channels are tracked. The channels the
//!   loader already knows (state record, golden content) are tracked first,
//!   whatever the listing order; new channels are admitted in listing order
//!   while room remains, and the rest is reported as truncation.
//!
//! Everything lives in one fallible heap allocation (about 17 KiB).

use alloc::vec::Vec;

use crate::limits::{MAX_DIR_ENTRIES, MAX_LISTED_CHANNELS, MAX_VERSIONS_LISTED};
use crate::names;
use crate::platform::Platform;

/// One channel's newest versions in the directory.
#[derive(Clone, Copy, Debug)]
struct Versions {
    channel: u32,
    /// Descending, no duplicates; `len` used.
    newest: [u64; MAX_VERSIONS_LISTED],
    len: usize,
}

impl Versions {
    const fn new(channel: u32) -> Versions {
        Versions {
            channel,
            newest: [0; MAX_VERSIONS_LISTED],
            len: 0,
        }
    }

    fn used(&self) -> &[u64] {
        self.newest.get(..self.len).unwrap_or(&[])
    }

    /// Insert `v`, keeping the newest `MAX_VERSIONS_LISTED` (descending).
    fn insert(&mut self, v: u64) {
        let used = self.used();
        let pos = used.iter().position(|&x| x <= v).unwrap_or(used.len());
        if used.get(pos) == Some(&v) || pos >= MAX_VERSIONS_LISTED {
            return; // already listed, or older than every kept one of a full list
        }
        let new_len = self.len.saturating_add(1).min(MAX_VERSIONS_LISTED);
        // `pos < new_len`: the window is non-empty; its last slot (unused, or
        // the oldest of a full list) rotates to `pos` and is overwritten.
        if let Some(window) = self.newest.get_mut(pos..new_len) {
            window.rotate_right(1);
            if let Some(first) = window.first_mut() {
                *first = v;
            }
            self.len = new_len;
        }
    }
}

/// What the listing found.
#[derive(Debug)]
pub struct Listing {
    chans: Vec<Versions>,
    /// Known channels (tracked before the listing), a prefix of `chans`.
    known: usize,
    /// More than `MAX_DIR_ENTRIES` names, or new channels beyond the cap.
    pub truncated: bool,
    /// The directory could not be listed.
    pub unreadable: bool,
}

impl Listing {
    /// An empty listing tracking `known` channels (0 ignored); `None` without memory.
    pub fn new(known: &[u32]) -> Option<Listing> {
        let mut chans = Vec::new();
        chans.try_reserve_exact(MAX_LISTED_CHANNELS).ok()?;
        for &c in known {
            if c != 0
                && chans.len() < MAX_LISTED_CHANNELS
                && !chans.iter().any(|v: &Versions| v.channel == c)
            {
                chans.push(Versions::new(c));
            }
        }
        let known = chans.len();
        Some(Listing {
            chans,
            known,
            truncated: false,
            unreadable: false,
        })
    }

    /// List `dir` through `p` (one platform op), bounded as the module docs say.
    pub fn read<P: Platform>(&mut self, p: &mut P, dir: &str) {
        let mut seen = 0usize;
        let mut truncated = false;
        let chans = &mut self.chans;
        let listed = p.list_content(dir, &mut |name: &str| {
            if seen >= MAX_DIR_ENTRIES {
                truncated = true;
                return false;
            }
            seen = seen.saturating_add(1);
            let Some((c, v)) = names::parse(name) else {
                return true;
            };
            if let Some(e) = chans.iter_mut().find(|e| e.channel == c) {
                e.insert(v);
            } else if chans.len() < MAX_LISTED_CHANNELS {
                // Within the reserved capacity: no reallocation.
                let mut e = Versions::new(c);
                e.insert(v);
                chans.push(e);
            } else {
                truncated = true;
            }
            true
        });
        self.unreadable = listed.is_err();
        self.truncated |= truncated;
        // New channels in ascending order (in place: no id array on the stack).
        if let Some(new) = self.chans.get_mut(self.known..) {
            new.sort_unstable_by_key(|e| e.channel);
        }
    }

    /// The newest versions of `channel` in the directory, descending.
    pub fn versions(&self, channel: u32) -> &[u64] {
        self.chans
            .iter()
            .find(|e| e.channel == channel)
            .map_or(&[], Versions::used)
    }

    /// Channels seen in the directory that the loader did not know, ascending.
    pub fn new_channels(&self) -> impl Iterator<Item = u32> + '_ {
        self.chans
            .get(self.known..)
            .unwrap_or(&[])
            .iter()
            .map(|e| e.channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_versions_descending() {
        let mut v = Versions::new(1);
        for x in (1..=100u64).chain([50, 7, 1000]) {
            v.insert(x);
        }
        assert_eq!(v.used().len(), MAX_VERSIONS_LISTED);
        assert_eq!(v.used()[0], 1000);
        assert_eq!(v.used()[1], 100);
        assert!(v.used().windows(2).all(|w| w[0] > w[1]));
        let mut w = Versions::new(1);
        for x in [3u64, 9, 3, 5] {
            w.insert(x);
        }
        assert_eq!(w.used(), &[9, 5, 3]);
    }
}
