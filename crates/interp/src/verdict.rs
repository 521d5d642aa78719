//! The result of one evaluation: fixed capacity, allocation-free.

use changuard_format::Action;

/// Most matches a [`Verdict`] holds. Past this, [`Verdict::truncated`] is set
/// and the verdict keeps the `MAX_MATCHES` smallest `(channel, instance)` keys,
/// so what is kept does not depend on evaluation order.
pub const MAX_MATCHES: usize = 32;

/// One matching instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Match {
    /// Channel id of the content it came from.
    pub channel: u32,
    /// Content-assigned instance id.
    pub instance: u32,
    /// What the instance asks for.
    pub action: Action,
}

impl Match {
    const EMPTY: Match = Match {
        channel: 0,
        instance: 0,
        action: Action::Report,
    };
    fn key(&self) -> (u32, u32) {
        (self.channel, self.instance)
    }
}

/// What an evaluation found. Reuse one per thread/CPU: [`Verdict::clear`] is
/// cheap and nothing here allocates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    matches: [Match; MAX_MATCHES],
    len: usize,
    /// More than [`MAX_MATCHES`] instances matched; the smallest keys were kept.
    pub truncated: bool,
    /// Checked accesses that failed (a value of the wrong type for its field,
    /// a missing input, a DFA search error, an internal inconsistency). Each is
    /// a non-match, never a panic; any non-zero count is worth telemetry.
    pub faults: u32,
    /// Fuel consumed (see [`crate::engine`] for the unit).
    pub fuel_used: u64,
    /// The budget ran out: evaluation stopped early and the matches are those
    /// found before it stopped (possibly none). See [`crate::engine`].
    pub fuel_exhausted: bool,
    /// DFA scans run: one per regex searched on its own, one per regex group
    /// scanned (a group's result is reused by its other patterns). Where
    /// regex time goes; each scan's bytes are also charged as fuel.
    pub dfa_scans: u32,
    /// Bytes charged for those scans: the field's length each. A scan that
    /// stops early in a quiet state (engine docs) reads fewer.
    pub scanned_bytes: u64,
}

impl Default for Verdict {
    fn default() -> Self {
        Verdict::new()
    }
}

impl Verdict {
    /// An empty verdict.
    pub const fn new() -> Verdict {
        Verdict {
            matches: [Match::EMPTY; MAX_MATCHES],
            len: 0,
            truncated: false,
            faults: 0,
            fuel_used: 0,
            fuel_exhausted: false,
            dfa_scans: 0,
            scanned_bytes: 0,
        }
    }

    /// Reset to empty (no allocation, O(1)).
    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
        self.faults = 0;
        self.fuel_used = 0;
        self.fuel_exhausted = false;
        self.dfa_scans = 0;
        self.scanned_bytes = 0;
    }

    /// The matches, sorted by channel, then instance id.
    pub fn matches(&self) -> &[Match] {
        self.matches.get(..self.len).unwrap_or(&[])
    }

    /// Whether nothing matched.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Record a match. Keeps the `MAX_MATCHES` smallest keys; the caller sorts
    /// once at the end ([`Verdict::finish`]). Duplicate keys are ignored.
    pub(crate) fn push(&mut self, m: Match) {
        let live = self.matches.get(..self.len).unwrap_or(&[]);
        if live.iter().any(|x| x.key() == m.key()) {
            return;
        }
        if let Some(slot) = self.matches.get_mut(self.len) {
            *slot = m;
            self.len = self.len.saturating_add(1);
            return;
        }
        self.truncated = true;
        // Full: replace the largest key if the new one is smaller.
        let mut max_at = None;
        let mut max_key = (0u32, 0u32);
        for (k, x) in self.matches.iter().enumerate() {
            if max_at.is_none() || x.key() > max_key {
                max_at = Some(k);
                max_key = x.key();
            }
        }
        if let Some(k) = max_at {
            if m.key() < max_key {
                if let Some(slot) = self.matches.get_mut(k) {
                    *slot = m;
                }
            }
        }
    }

    pub(crate) fn fault(&mut self) {
        self.faults = self.faults.saturating_add(1);
    }

    /// Count one DFA scan of `len` bytes.
    pub(crate) fn scanned(&mut self, len: usize) {
        self.dfa_scans = self.dfa_scans.saturating_add(1);
        self.scanned_bytes = self
            .scanned_bytes
            .saturating_add(u64::try_from(len).unwrap_or(u64::MAX));
    }

    pub(crate) fn faults_add(&mut self, n: u32) {
        self.faults = self.faults.saturating_add(n);
    }

    /// Sort the live matches (core's in-place unstable sort: no allocation).
    pub(crate) fn finish(&mut self) {
        if let Some(live) = self.matches.get_mut(..self.len) {
            live.sort_unstable_by_key(Match::key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_smallest_keys_when_full() {
        let mut v = Verdict::new();
        for i in (0..100u32).rev() {
            v.push(Match {
                channel: 1,
                instance: i,
                action: Action::Report,
            });
        }
        v.finish();
        assert!(v.truncated);
        let ids: alloc::vec::Vec<u32> = v.matches().iter().map(|m| m.instance).collect();
        assert_eq!(ids, (0..MAX_MATCHES as u32).collect::<alloc::vec::Vec<_>>());
    }
}
