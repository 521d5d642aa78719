//! Where a scan may stop before the end of its field.
//!
//! The load-time proof that a DFA needs a literal (or one member of a
//! literal set; `proofs::any_literal_required`) also yields the DFA's
//! *quiet states*: those it reached with no progress into any member. From a
//! quiet state every match, and every quit state, needs a whole member
//! occurrence still to come. So a scan that is in a quiet state once it has
//! read past the start of the field's last member occurrence can stop: the
//! rest of the field cannot change its result. The engine keeps them for
//! DFAs proven to need one literal, not a set ([`Engine::quiet_for`]).
//!
//! Invariant: stopping is exact. `from` is never smaller than one past the
//! start of the last occurrence (when the search for it would cost too much
//! it gives up, and the scan reads to the end), and the quiet bits are only
//! those the proof explored. Fuel is charged for the whole field all the
//! same: the cost bound does not assume a scan stops.
//!
//! Invariant: a [`QuietMemo`] answers only for the evaluation that filled
//! it. Each evaluation resets it before its first scan, and its key holds
//! the field and the literal, so a search serves no other field, literal
//! or event. Equal literals share one address ([`Engine::share_literals`]),
//! so one search serves every DFA that needs those bytes, in any file.

use super::*;

/// How often (in bytes read) a scan tests for a quiet state: testing at
/// only some positions is as exact (any quiet position past the point ends
/// the scan) and keeps the test off most steps.
pub(super) const QUIET_EVERY: usize = 16;

/// When a scan of one DFA over one field may stop (module docs).
#[derive(Clone, Copy, Debug)]
pub(super) struct Quiet<'q> {
    /// One bit per state index (`StateID >> stride2`).
    bits: &'q [u64],
    /// Bytes to read first: one past the start of the last occurrence (0
    /// when no member occurs).
    from: usize,
}

impl<'q> Quiet<'q> {
    /// A scan that reads to the end.
    pub(super) const NEVER: Quiet<'static> = Quiet {
        bits: &[],
        from: usize::MAX,
    };

    /// `bits` from the proof; `from` from [`quiet_from`] (`None`: unknown,
    /// never stop).
    pub(super) fn new(bits: &'q [u64], from: Option<usize>) -> Quiet<'q> {
        match from {
            Some(from) => Quiet { bits, from },
            None => Quiet::NEVER,
        }
    }

    /// Whether a scan in state `sid` after reading `read` bytes may stop.
    #[inline]
    pub(super) fn ends(&self, dfa: &DFA<&[u32]>, sid: StateID, read: usize) -> bool {
        if read < self.from {
            return false;
        }
        let i = sid
            .as_usize()
            .checked_shr(dfa.stride2().try_into().unwrap_or(u32::MAX));
        i.and_then(|i| Some(self.bits.get(i >> 6)? >> (i & 63) & 1 == 1))
            .unwrap_or(false)
    }
}

/// The last literal search of one evaluation ([`Engine::quiet_for`]): the
/// field, the literal (by address and length: the engine's own bytes, fixed
/// while it lives), its case mode, and the result. Reset at the start of
/// every evaluation: a field's value, hence the result, changes from one
/// event to the next.
#[derive(Clone, Copy, Debug)]
pub(super) struct QuietMemo {
    key: Option<(usize, usize, usize, bool)>,
    from: Option<usize>,
}

impl QuietMemo {
    /// No search yet.
    pub(super) const NONE: QuietMemo = QuietMemo {
        key: None,
        from: None,
    };
}

impl<'a> Engine<'a> {
    /// When a scan of `rec`'s DFA over field `f` (value `s`) may stop: in a
    /// quiet state past the start of `s`'s last occurrence of the literal it
    /// was proven to need (never, for a DFA without quiet states). Reuses
    /// `memo`'s search when it was of the same literal in the same field
    /// this evaluation: a family's regexes share a literal and reach their
    /// scans one after another, in a batch or not.
    pub(super) fn quiet_for(
        &self,
        rec: &DfaRec<'a>,
        f: usize,
        s: &[u8],
        memo: &mut QuietMemo,
    ) -> Quiet<'_> {
        let Some((bits, lit, folded)) = self.quiet_literal(rec) else {
            return Quiet::NEVER;
        };
        // The address identifies the literal: equal keys, the same bytes.
        let key = Some((f, lit.as_ptr() as usize, lit.len(), folded));
        if memo.key != key {
            *memo = QuietMemo {
                key,
                from: quiet_from(s, &[lit], folded),
            };
        }
        Quiet::new(bits, memo.from)
    }

    /// Make equal literals one slice (load time): each DFA's `lit` becomes
    /// the first of the DFAs with the same bytes. Nothing that reads the
    /// bytes changes; [`QuietMemo`] then knows a literal by its address,
    /// whichever channel file holds it (a family spread over several files
    /// has one literal, and one search per field).
    pub(super) fn share_literals(&mut self) -> Result<(), EngineError> {
        let mut lits: Vec<(&'a [u8], usize)> = Vec::new();
        lits.try_reserve_exact(self.dfas.len())?;
        lits.extend(
            self.dfas
                .iter()
                .enumerate()
                .filter_map(|(d, rec)| Some((rec.lit?, d))),
        );
        // By bytes, then by DFA: the first of each run is the lowest DFA.
        lits.sort_unstable();
        for run in lits.chunk_by(|a, b| a.0 == b.0) {
            let Some(&(first, _)) = run.first() else {
                continue;
            };
            for &(_, d) in run {
                if let Some(rec) = self.dfas.get_mut(d) {
                    rec.lit = Some(first);
                }
            }
        }
        Ok(())
    }

    /// `rec`'s quiet states, and the literal its scans stop on.
    fn quiet_literal(&self, rec: &DfaRec<'a>) -> Option<(&[u64], &'a [u8], bool)> {
        let (start, len) = rec.quiet;
        let s0 = usize::try_from(start).ok()?;
        let bits = s0
            .checked_add(usize::try_from(len).ok()?)
            .and_then(|e| self.quiet_bits.get(s0..e))
            .filter(|b| !b.is_empty())?;
        // Literal sets keep no quiet states: searching a field for the last
        // of several members cost more than the scans it shortened (command
        // lines at 1,000 patterns: 437 µs per 64 events with single literals
        // only, 505 with sets of up to four members, 560 with every set).
        let (None, Some(lit)) = (rec.set, rec.lit) else {
            return None;
        };
        Some((bits, lit, rec.lit_folded))
    }
}

/// [`Quiet`]'s `from` for `members` in `s` (ASCII case-insensitively when
/// `folded`): one past the start of the last occurrence of any of them, 0
/// when none occurs. A reverse search from the end, testing each position's
/// byte against the members' first bytes; `None` (never stop) once it has
/// compared `2 * s.len()` bytes plus the members' lengths: at most about
/// two readings of the field, in plain byte comparisons (cheaper than DFA
/// steps); an ordinary field takes one.
pub(super) fn quiet_from(s: &[u8], members: &[&[u8]], folded: bool) -> Option<usize> {
    let fold = |b: u8| if folded { b.to_ascii_lowercase() } else { b };
    let mut firsts = [0u64; 4];
    let mut budget = s.len().saturating_mul(2);
    for m in members {
        let b = usize::from(fold(*m.first()?));
        *firsts.get_mut(b >> 6)? |= 1u64 << (b & 63);
        budget = budget.saturating_add(m.len());
    }
    // Bounded: `i` goes down from the end to 0, and `budget` bounds the rest.
    for i in (0..s.len()).rev() {
        budget = budget.checked_sub(1)?;
        let b = fold(*s.get(i)?);
        if firsts.get(usize::from(b >> 6))? >> (b & 63) & 1 == 0 {
            continue;
        }
        let here = s.get(i..)?;
        for m in members {
            if m.len() > here.len() {
                continue;
            }
            // The bytes compared, up to the first that differs.
            let mut same = 0usize;
            for (&a, &c) in here.iter().zip(*m) {
                budget = budget.checked_sub(1)?;
                if fold(a) != fold(c) {
                    break;
                }
                same = same.saturating_add(1);
            }
            if same == m.len() {
                return Some(i.saturating_add(1));
            }
        }
    }
    Some(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn finds_the_last_occurrence_of_any_member() {
        assert_eq!(quiet_from(b"abcabc", &[b"abc"], false), Some(4));
        assert_eq!(quiet_from(b"xxABCxx", &[b"abc"], true), Some(3));
        assert_eq!(quiet_from(b"xxABCxx", &[b"abc"], false), Some(0));
        assert_eq!(quiet_from(b"ab", &[b"abc"], false), Some(0));
        assert_eq!(quiet_from(b"", &[b"abc"], false), Some(0));
        assert_eq!(quiet_from(b"xyz..abc..", &[b"abc", b"xyz"], false), Some(6));
        assert_eq!(quiet_from(b"abc..xyz", &[b"abc", b"xyz"], false), Some(6));
        // A member at the very end.
        assert_eq!(quiet_from(b"....abc", &[b"abc"], false), Some(5));
    }

    #[test]
    fn gives_up_rather_than_go_quadratic() {
        let near = vec![b'a'; 2000];
        let mut lit = vec![b'a'; 40];
        lit.push(b'b');
        assert_eq!(quiet_from(&near, &[&lit], false), None);
        // An empty member proves nothing about positions: never stop.
        assert_eq!(quiet_from(b"abc", &[b""], false), None);
    }
}
