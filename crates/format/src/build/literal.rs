//! Required literals: the literal (or literal set) every match of a regex
//! contains, which the interpreter anchors the regex on once it has proven
//! it over the DFA (docs/FORMAT.md, "Required literals").

use std::string::String;
use std::vec::Vec;

use super::literal_set::{SET_MEMBER_MIN, literal_set};
use super::regex::{parse, with_dfa};
use crate::limits;

/// A regex's required literal, as [`super::build`] lays it out in the DFA entry
/// (docs/FORMAT.md, "Required literals").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiteralHint {
    /// The literal; ASCII-lower-cased when `folded`. A set's members,
    /// separated by NUL.
    pub text: String,
    /// To be found ASCII case-insensitively.
    pub folded: bool,
    /// A literal set (docs/FORMAT.md, "Literal sets"): every match contains
    /// at least one member.
    pub set: bool,
}

/// Shortest literal [`required_literal`] returns.
pub const MIN_LITERAL_LEN: usize = 3;

/// One byte of a literal run: exact, or an ASCII letter in either case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Atom {
    Exact(u8),
    Fold(u8),
}

#[derive(Default)]
struct Runs {
    cur: Vec<Atom>,
    done: Vec<Vec<Atom>>,
}

impl Runs {
    fn cut(&mut self) {
        if !self.cur.is_empty() {
            self.done.push(std::mem::take(&mut self.cur));
        }
    }
}

/// The bytes a class stands for when it is one literal character: one code
/// point (exact), or exactly the two cases of one ASCII letter (folded).
/// Anything else, e.g. `(?i)k` = `[Kk\u{212A}]` (KELVIN SIGN) or `(?i)s` =
/// `[Ssſ]`, is not a literal: an ASCII-case-insensitive search for `k` or
/// `s` would miss the non-ASCII variants the DFA matches.
pub(super) fn class_atoms(c: &regex_syntax::hir::Class) -> Option<Vec<Atom>> {
    use regex_syntax::hir::Class;
    let pair = |lo: u32, hi: u32| -> Option<Vec<Atom>> {
        let (lo, hi) = (u8::try_from(lo).ok()?, u8::try_from(hi).ok()?);
        (lo.is_ascii_uppercase() && hi == lo.to_ascii_lowercase())
            .then(|| std::vec![Atom::Fold(hi)])
    };
    match c {
        Class::Unicode(u) => {
            let r = u.ranges();
            match r {
                [one] if one.start() == one.end() => {
                    let mut buf = [0u8; 4];
                    Some(
                        one.start()
                            .encode_utf8(&mut buf)
                            .bytes()
                            .map(Atom::Exact)
                            .collect(),
                    )
                }
                [a, b] if a.start() == a.end() && b.start() == b.end() => {
                    pair(u32::from(a.start()), u32::from(b.start()))
                }
                _ => None,
            }
        }
        Class::Bytes(bc) => match bc.ranges() {
            [one] if one.start() == one.end() => Some(std::vec![Atom::Exact(one.start())]),
            [a, b] if a.start() == a.end() && b.start() == b.end() => {
                pair(a.start().into(), b.start().into())
            }
            _ => None,
        },
    }
}

/// Collect the literal runs of `h` that every match of `h` contains. A run
/// grows through literals, single-character classes, captures, exactly-once
/// repetitions and zero-width assertions (they consume nothing), and is cut
/// by anything else. Inside a repetition with `min >= 1` the sub-expression's
/// own runs are required too; of an alternation, the atoms all its branches
/// begin with (continuing the run) and end with (starting the next); nothing
/// inside an optional repetition. Recursion depth is bounded by
/// regex-syntax's nest limit (writer only, never in the kernel).
fn literal_runs(h: &regex_syntax::hir::Hir, r: &mut Runs) {
    use regex_syntax::hir::HirKind;
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(lit) => r.cur.extend(lit.0.iter().map(|&b| Atom::Exact(b))),
        HirKind::Class(c) => match class_atoms(c) {
            Some(atoms) => r.cur.extend(atoms),
            None => r.cut(),
        },
        HirKind::Capture(cap) => literal_runs(&cap.sub, r),
        HirKind::Concat(items) => {
            for it in items {
                literal_runs(it, r);
            }
        }
        HirKind::Repetition(rep) if rep.min == 1 && rep.max == Some(1) => {
            literal_runs(&rep.sub, r);
        }
        HirKind::Repetition(rep) => {
            r.cut();
            if rep.min >= 1 {
                let mut inner = Runs::default();
                literal_runs(&rep.sub, &mut inner);
                inner.cut();
                r.done.extend(inner.done);
            }
        }
        HirKind::Alternation(branches) => {
            // Every match of the alternation starts with the branches'
            // common leading atoms and ends with their common trailing ones:
            // the first continue the current run, the second start the next
            // (`x(abc|abd)y` requires `xab`, `(zbcd|ybcd)ef` `bcdef`).
            r.cur
                .extend(common(branches.iter().map(|b| edge_atoms(b, End::Lead))));
            r.cut();
            let mut tail = common(branches.iter().map(|b| {
                let mut t = edge_atoms(b, End::Trail);
                t.reverse();
                t
            }));
            tail.reverse();
            r.cur.extend(tail);
        }
    }
}

/// Which end of a sub-expression [`edge_atoms`] reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Lead,
    Trail,
}

/// The atoms every match of `h` begins with (`Lead`) or ends with (`Trail`,
/// in reading order), by the same rules as [`literal_runs`]; the `bool` is
/// whether all of `h` is such atoms (so a concatenation's neighbour continues
/// the edge).
fn edge_atoms_full(h: &regex_syntax::hir::Hir, end: End) -> (Vec<Atom>, bool) {
    use regex_syntax::hir::HirKind;
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => (Vec::new(), true),
        HirKind::Literal(lit) => (lit.0.iter().map(|&b| Atom::Exact(b)).collect(), true),
        HirKind::Class(c) => class_atoms(c).map_or((Vec::new(), false), |a| (a, true)),
        HirKind::Capture(cap) => edge_atoms_full(&cap.sub, end),
        HirKind::Repetition(rep) if rep.min == 1 && rep.max == Some(1) => {
            edge_atoms_full(&rep.sub, end)
        }
        HirKind::Repetition(rep) if rep.min >= 1 => (edge_atoms_full(&rep.sub, end).0, false),
        HirKind::Repetition(_) => (Vec::new(), false),
        HirKind::Concat(items) => {
            let mut out = Vec::new();
            let mut step = |it: &regex_syntax::hir::Hir| {
                let (atoms, whole) = edge_atoms_full(it, end);
                match end {
                    End::Lead => out.extend(atoms),
                    End::Trail => out.splice(0..0, atoms).for_each(drop),
                }
                whole
            };
            let whole = match end {
                End::Lead => items.iter().all(&mut step),
                End::Trail => items.iter().rev().all(&mut step),
            };
            (out, whole)
        }
        HirKind::Alternation(branches) => {
            let edges = branches.iter().map(|b| {
                let mut t = edge_atoms(b, end);
                if end == End::Trail {
                    t.reverse();
                }
                t
            });
            let mut c = common(edges);
            if end == End::Trail {
                c.reverse();
            }
            (c, false)
        }
    }
}

fn edge_atoms(h: &regex_syntax::hir::Hir, end: End) -> Vec<Atom> {
    edge_atoms_full(h, end).0
}

/// The longest common prefix of `seqs` (empty when there are none).
fn common(mut seqs: impl Iterator<Item = Vec<Atom>>) -> Vec<Atom> {
    let Some(mut acc) = seqs.next() else {
        return Vec::new();
    };
    for s in seqs {
        let n = acc.iter().zip(&s).take_while(|(a, b)| a == b).count();
        acc.truncate(n);
    }
    acc
}

/// Distinct bytes: a crude "rarer-looking" tie-break (`----` is commoner
/// than `-urlcache`).
fn distinct_bytes(s: &[u8]) -> usize {
    let mut seen = [0u64; 4];
    s.iter()
        .filter(|&&b| {
            let bit = 1u64 << (b & 63);
            seen.get_mut(usize::from(b >> 6))
                .is_some_and(|w| !std::mem::replace(w, *w | bit) & bit != 0)
        })
        .count()
}

/// The required literal of `pattern` (compiled with `case_insensitive` the way
/// [`super::build`] compiles it): the longest literal that every match contains,
/// taken from a run of the pattern's top-level concatenation (see
/// `literal_runs`); ties go to the one with more distinct bytes, then the
/// first. A run with an ASCII-case-insensitive letter is folded (all of it
/// ASCII-lower-cased; finding it case-insensitively is weaker, hence still
/// sound). Truncated to [`limits::MAX_DFA_LITERAL_LEN`] bytes at a character
/// boundary (a prefix of a required literal is required). A literal set
/// (docs/FORMAT.md, "Literal sets") is taken instead when there is no such literal of at
/// least [`SET_MEMBER_MIN`] bytes, or when it is whole and longer
/// (`literal_candidates`). `None` when the pattern does not parse or
/// has neither.
///
/// Soundness (every haystack the DFA matches contains the literal) is what the
/// engine relies on; `tests::required_literal_is_sound` checks it against the
/// compiled DFA on random patterns and haystacks.
pub fn required_literal(pattern: &str, case_insensitive: bool) -> Option<LiteralHint> {
    let hir = parse(pattern, case_insensitive)?;
    let (single, set) =
        literal_candidates(&hir, case_insensitive, limits::MAX_LITERAL_SET as usize);
    set.or(single)
}

/// The hint [`super::build`] writes for a regex whose own serialized DFA (as
/// `compile_regex` makes it) `dfa` returns: [`required_literal`], unless
/// the interpreter's proof of its set over that DFA is over the proof's
/// per-DFA cap ([`crate::analysis::literal_proof_fits`]): then the same
/// choice with at most 16, then 8 members (fewer, shorter members cost less
/// to prove), and failing that the single literal, if there is one. More
/// members cost more to prove, and an unproven hint leaves the regex scanned
/// on every event: far worse than a smaller set or a shorter literal. `dfa`
/// is called only when there is a set; a DFA that is missing or does not
/// deserialize keeps [`required_literal`]'s choice.
pub fn literal_hint(
    pattern: &str,
    case_insensitive: bool,
    dfa: impl FnOnce() -> Option<Vec<u8>>,
) -> Option<LiteralHint> {
    let hir = parse(pattern, case_insensitive)?;
    let max = limits::MAX_LITERAL_SET as usize;
    let (single, set) = literal_candidates(&hir, case_insensitive, max);
    let Some(set) = set else {
        return single;
    };
    let Some(blob) = dfa() else {
        return Some(set);
    };
    // A replacement for `set` when its proof is over the cap.
    let replacement = with_dfa(&blob, |dfa| {
        let fits = |h: &LiteralHint| {
            let members: Vec<&[u8]> = h.text.split('\0').map(str::as_bytes).collect();
            crate::analysis::literal_proof_fits(dfa, &members, h.folded)
        };
        if fits(&set) {
            return None;
        }
        [16, 8]
            .into_iter()
            .find_map(|fewer| {
                literal_candidates(&hir, case_insensitive, fewer)
                    .1
                    .filter(|h| fits(h))
            })
            .or(single)
    });
    Some(replacement.flatten().unwrap_or(set))
}

/// How much longer than the single literal a whole literal set's every
/// member must be to be taken instead of it: a longer needle occurs in fewer
/// fields. On the command-line benchmark, `\temp\host27.exe`, ... (12
/// members) over `\appdata\` took a family off every Office and VS Code
/// command line (4.8 scans per event to 0.02).
pub const SET_OVER_LITERAL: usize = 4;

/// [`required_literal`]'s choice before any proof cost: `(single, set)`,
/// at most one of them `Some`, unless both are and the set is preferred
/// (the single literal is then the fallback [`literal_hint`] needs). The
/// single literal when it is at least [`SET_MEMBER_MIN`] bytes, unless the
/// set is whole (every member a complete match of its part, none shortened)
/// and every member is [`SET_OVER_LITERAL`] bytes longer; otherwise the set
/// if there is one. Only whole sets: a shortened set says little more than
/// its single literal (`https?://[0-9]...` gives `https://`, as common as
/// `http`), and the prefixes of a family's sets split the family's group
/// on its shared literal into many single regexes (the pipe families went
/// from 4.1 to 64 scans per event when any longer set was taken).
/// Sets have at most `max_members` members.
fn literal_candidates(
    hir: &regex_syntax::hir::Hir,
    case_insensitive: bool,
    max_members: usize,
) -> (Option<LiteralHint>, Option<LiteralHint>) {
    let single = single_literal(hir);
    match single.as_ref().map(|h| h.text.len()) {
        Some(n) if n >= SET_MEMBER_MIN => match literal_set(hir, case_insensitive, max_members) {
            Some((set, whole)) => {
                let shortest = set.text.split('\0').map(str::len).min().unwrap_or(0);
                if whole && shortest >= n.saturating_add(SET_OVER_LITERAL) {
                    (single, Some(set))
                } else {
                    (single, None)
                }
            }
            None => (single, None),
        },
        _ => match literal_set(hir, case_insensitive, max_members.min(SET_ALONE_MAX)) {
            Some((set, _)) => (None, Some(set)),
            None => (single, None),
        },
    }
}

/// Most members of a set taken where there is no single literal of
/// [`SET_MEMBER_MIN`] bytes (a set replacing a single literal may have up to
/// [`limits::MAX_LITERAL_SET`]): each member adds to the interpreter's
/// load-time proof, and on the SigmaHQ import (345 such sets) 32 members ran
/// its per-build analysis budget out (3 DFAs left without a prefilter).
pub const SET_ALONE_MAX: usize = 16;

/// [`required_literal`]'s single literal.
fn single_literal(hir: &regex_syntax::hir::Hir) -> Option<LiteralHint> {
    let mut runs = Runs::default();
    literal_runs(hir, &mut runs);
    runs.cut();
    let mut best: Option<LiteralHint> = None;
    for run in runs.done {
        let folded = run.iter().any(|a| matches!(a, Atom::Fold(_)));
        let bytes: Vec<u8> = run
            .iter()
            .map(|a| match *a {
                Atom::Fold(b) => b,
                Atom::Exact(b) if folded => b.to_ascii_lowercase(),
                Atom::Exact(b) => b,
            })
            .collect();
        let Ok(mut text) = String::from_utf8(bytes) else {
            continue;
        };
        let cap = limits::MAX_DFA_LITERAL_LEN as usize;
        if text.len() > cap {
            let end = (0..=cap)
                .rev()
                .find(|&e| text.is_char_boundary(e))
                .unwrap_or(0);
            text.truncate(end);
        }
        if text.len() < MIN_LITERAL_LEN {
            continue;
        }
        let better = best.as_ref().is_none_or(|b| {
            (text.len(), distinct_bytes(text.as_bytes()))
                > (b.text.len(), distinct_bytes(b.text.as_bytes()))
        });
        if better {
            best = Some(LiteralHint {
                text,
                folded,
                set: false,
            });
        }
    }
    best
}

#[cfg(test)]
mod tests;
