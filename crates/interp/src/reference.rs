//! The reference evaluator: a naive linear scan, written to be obviously
//! correct rather than fast. Every instance of every channel is checked against
//! every event, row by row (every AND row matches and no UNLESS row does) and
//! criterion by criterion, straight from the
//! [`ValidChannel`] accessors, with the simplest string algorithms. The engine
//! is tested (proptest, fuzzing) to produce the same matches and faults (the
//! faults of DFAs that quit excepted: engine module docs, "Faults").
//!
//! Differences from the engine, by design: no fuel (never exhausted;
//! `fuel_used` counts criteria checked), and a criterion that fails to decode
//! is a fault at evaluation (the engine refuses such content at load time).

use alloc::vec::Vec;

use changuard_format::regex_automata::Input;
use changuard_format::regex_automata::dfa::Automaton;
use changuard_format::regex_automata::dfa::dense::DFA;
use changuard_format::{Criterion, Instance, RowKind, StrOp, ValidChannel};

use crate::engine::EngineError;
use crate::event::{Event, Value};
use crate::verdict::{Match, Verdict};

/// A DFA, and its pattern id when it is a regex group's.
type LoadedDfa<'a> = (Option<DFA<&'a [u32]>>, Option<u8>);
type LoadedChannel<'a> = (&'a ValidChannel<&'a [u8]>, Vec<LoadedDfa<'a>>);

/// Naive evaluator over the same channels as an [`crate::Engine`].
#[derive(Debug)]
pub struct Reference<'a> {
    /// Channels in channel-id order, each with its DFAs loaded once.
    channels: Vec<LoadedChannel<'a>>,
}

impl<'a> Reference<'a> {
    /// Load the DFAs of `channels` (once; `DFA::from_bytes` is O(size)).
    ///
    /// # Errors
    /// Allocation failure or a duplicate channel id.
    pub fn new(channels: &'a [ValidChannel<&'a [u8]>]) -> Result<Reference<'a>, EngineError> {
        let mut out: Vec<LoadedChannel<'a>> = Vec::new();
        out.try_reserve_exact(channels.len())?;
        for ch in channels {
            if out.iter().any(|(c, _)| c.channel() == ch.channel()) {
                return Err(EngineError::DuplicateChannel(ch.channel()));
            }
            let mut dfas = Vec::new();
            for d in 0..ch.dfa_count() {
                dfas.try_reserve(1)?;
                push_dfa(&mut dfas, ch, d);
            }
            out.push((ch, dfas));
        }
        out.sort_unstable_by_key(|(c, _)| c.channel());
        Ok(Reference { channels: out })
    }

    /// Evaluate `event` against every instance. Clears `verdict` first.
    pub fn evaluate(&self, event: &Event<'_>, verdict: &mut Verdict) {
        verdict.clear();
        let template = event.template();
        let values = event.values();
        // A value of the wrong type: one fault per field per event.
        let mut wrong_type = [false; 64];
        for (k, v) in values.iter().enumerate() {
            let ok = template
                .fields
                .get(k)
                .is_some_and(|f| f.ty == v.field_type());
            if !ok {
                verdict.fault();
                if let Some(w) = wrong_type.get_mut(k) {
                    *w = true;
                }
            }
        }
        let mut checked = 0u64;
        for (ch, dfas) in &self.channels {
            for i in 0..ch.instance_count() {
                let Some(inst) = ch.instance(i) else {
                    verdict.fault();
                    continue;
                };
                if inst.template.id != template.id {
                    continue;
                }
                // Every AND row matches and no UNLESS row does.
                let mut all = true;
                let mut vetoed = false;
                for r in 0..inst.row_count() {
                    let m = row_matches(&inst, r, values, &wrong_type, dfas, verdict, &mut checked);
                    match inst.row_kind(r) {
                        Some(RowKind::And) if !m => {
                            all = false;
                            break;
                        }
                        Some(RowKind::Unless) if m => {
                            vetoed = true;
                            break;
                        }
                        _ => {}
                    }
                }
                all &= !vetoed;
                if all {
                    verdict.push(Match {
                        channel: ch.channel(),
                        instance: inst.id,
                        action: inst.action,
                    });
                }
            }
        }
        verdict.fuel_used = checked;
        verdict.finish();
    }
}

/// Whether every criterion of row `r` of `inst` matches `values`, checked in
/// field order and stopping at the first that does not.
fn row_matches(
    inst: &Instance<'_>,
    r: usize,
    values: &[Value<'_>],
    wrong_type: &[bool; 64],
    dfas: &[LoadedDfa<'_>],
    verdict: &mut Verdict,
    checked: &mut u64,
) -> bool {
    let mut all = true;
    for k in 0..inst.criteria_len() {
        let Some(c) = inst.row_criterion(r, k) else {
            verdict.fault();
            all = false;
            break;
        };
        if c == Criterion::Any {
            continue;
        }
        *checked = checked.saturating_add(1);
        if wrong_type.get(k).copied().unwrap_or(true) {
            all = false;
            break;
        }
        let Some(v) = values.get(k) else {
            verdict.fault();
            all = false;
            break;
        };
        let ok = match (c, *v) {
            (
                Criterion::Str {
                    op,
                    needle,
                    case_insensitive,
                },
                Value::Str(s),
            ) => str_matches(op, s, needle, case_insensitive),
            (Criterion::IntEquals(x), Value::Int(v)) => v == x,
            (Criterion::IntRange { lo, hi }, Value::Int(v)) => lo <= v && v <= hi,
            (Criterion::IntMask { mask, value }, Value::Int(v)) => v & mask == value,
            (Criterion::Regex { dfa }, Value::Str(s)) => {
                let d = usize::try_from(dfa).ok().and_then(|d| dfas.get(d));
                match d {
                    Some((Some(d), p)) if d.has_empty() && d.is_utf8() => {
                        match walk_has(d, s, *p) {
                            Some(m) => m,
                            None => {
                                verdict.fault();
                                false
                            }
                        }
                    }
                    Some((Some(d), None)) => match d.try_search_fwd(&Input::new(s)) {
                        Ok(m) => m.is_some(),
                        Err(_) => {
                            verdict.fault();
                            false
                        }
                    },
                    Some((Some(d), Some(p))) => match overlapping_has(d, s, *p) {
                        Some(m) => m,
                        None => {
                            verdict.fault();
                            false
                        }
                    },
                    _ => {
                        verdict.fault();
                        false
                    }
                }
            }
            _ => false,
        };
        if !ok {
            all = false;
            break;
        }
    }
    all
}

/// Load DFA `d` of `ch` (with its pattern id when it is a regex group's)
/// onto `dfas` (reserved by the caller). Not inlined: the ~800-byte DFA value
/// stays out of `Reference::new`'s frame.
#[inline(never)]
fn push_dfa<'a>(dfas: &mut Vec<LoadedDfa<'a>>, ch: &'a ValidChannel<&'a [u8]>, d: u32) {
    let pattern = ch.dfa_group(d).flatten().map(|g| g.pattern);
    dfas.push((ch.dfa(d), pattern));
}

/// Whether pattern `p` of a group's DFA matches somewhere in `s`, by
/// regex-automata's own overlapping search (the engine walks the DFA by
/// hand: two implementations of one definition). `None` on a search error.
fn overlapping_has(dfa: &DFA<&[u32]>, s: &str, p: u8) -> Option<bool> {
    use changuard_format::regex_automata::dfa::OverlappingState;
    let input = Input::new(s);
    let mut state = OverlappingState::start();
    // Bounded: each call reports a new (pattern, end) pair, at most
    // (s.len() + 1) * patterns of them.
    loop {
        dfa.try_search_overlapping_fwd(&input, &mut state).ok()?;
        match state.get_match() {
            None => return Some(false),
            Some(m) if m.pattern().as_usize() == usize::from(p) => return Some(true),
            Some(_) => {}
        }
    }
}

/// Whether `dfa` (pattern `p` of it, for a regex group's) passes through a
/// match state in one walk of `s`: the start state, one transition per byte,
/// then the end-of-input one. This is what a regex criterion means
/// (docs/FORMAT.md); regex-automata's searches mean the same except for a DFA
/// whose flag bits claim both has-empty and UTF-8, which they search skipping
/// matches that end inside a UTF-8 character. Only such DFAs come here.
/// `None` on a quit state.
fn walk_has(dfa: &DFA<&[u32]>, s: &str, p: Option<u8>) -> Option<bool> {
    let holds = |sid| {
        dfa.is_match_state(sid)
            && (0..dfa.match_len(sid))
                .any(|i| p.is_none_or(|p| dfa.match_pattern(sid, i).as_usize() == usize::from(p)))
    };
    let mut sid = dfa.start_state_forward(&Input::new(s)).ok()?;
    for &b in s.as_bytes() {
        sid = dfa.next_state(sid, b);
        if holds(sid) {
            return Some(true);
        }
        if dfa.is_quit_state(sid) {
            return None;
        }
    }
    let eoi = dfa.next_eoi_state(sid);
    if dfa.is_quit_state(eoi) {
        return None;
    }
    Some(holds(eoi))
}

fn fold_eq(field: &[u8], needle: &[u8], ci: bool) -> bool {
    if ci {
        field.len() == needle.len()
            && field
                .iter()
                .zip(needle)
                .all(|(f, n)| f.to_ascii_lowercase() == *n)
    } else {
        field == needle
    }
}

fn str_matches(op: StrOp, field: &str, needle: &str, ci: bool) -> bool {
    let (f, n) = (field.as_bytes(), needle.as_bytes());
    match op {
        StrOp::Equals => fold_eq(f, n, ci),
        StrOp::Prefix => f.get(..n.len()).is_some_and(|h| fold_eq(h, n, ci)),
        StrOp::Suffix => f
            .len()
            .checked_sub(n.len())
            .and_then(|s| f.get(s..))
            .is_some_and(|t| fold_eq(t, n, ci)),
        StrOp::Contains => n.is_empty() || f.windows(n.len()).any(|w| fold_eq(w, n, ci)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dfa_claiming_utf8_and_empty_is_walked_so_a_match_inside_a_character_counts() {
        let bytes = crate::forged::split_match_claiming_utf8_empty();
        let (dfa, _) = DFA::from_bytes(&bytes).expect("forged DFA loads");
        assert!(dfa.has_empty() && dfa.is_utf8());
        let search = dfa.try_search_fwd(&Input::new("xé")).expect("search");
        assert!(search.is_none(), "the search skips the match inside `é`");
        assert_eq!(walk_has(&dfa, "xé", None), Some(true));
        assert_eq!(walk_has(&dfa, "xé", Some(0)), Some(true));
        assert_eq!(walk_has(&dfa, "xé", Some(1)), Some(false));
        assert_eq!(walk_has(&dfa, "x", None), Some(false));
    }
}
