//! Literal sets: a few literals, one of which every match of a regex
//! contains (one per alternation branch, docs/FORMAT.md "Literal sets"),
//! for regexes whose single literal is short or missing.

use std::string::String;
use std::vec::Vec;

use super::literal::{Atom, LiteralHint, class_atoms};
use crate::layout;
use crate::limits;

/// Most tails and runs of a pattern's concatenations [`literal_set`] tries
/// (writer time: one prefix extraction each).
const MAX_SET_PARTS: usize = 512;
/// Member bytes [`literal_set`] may shorten and sort for one pattern
/// before it settles for the best set found so far (writer time: a rule of
/// forty `windash` dashes gave 1,024-member prefix sets at a hundred
/// lengths for each of hundreds of parts, seconds per rule).
const MAX_SET_WORK: usize = 1 << 22;
/// Runs [`literal_set`] tries from each item: ending before each of the
/// next this many items that are not literals (`s?` in `https?://[0-9]`).
const RUN_BOUNDARIES: usize = 3;

/// Shortest member of a literal set, and the length a single literal must
/// reach before no set is tried: the interpreter anchors on 4-byte grams.
pub const SET_MEMBER_MIN: usize = 4;

/// The sub-expressions every match of `h` contains a match of: `h`, and
/// recursively the items of its concatenations (through captures and
/// repetitions with `min >= 1`). Depth is bounded by regex-syntax's nest
/// limit (writer only).
fn mandatory_parts<'h>(h: &'h regex_syntax::hir::Hir, out: &mut Vec<&'h regex_syntax::hir::Hir>) {
    use regex_syntax::hir::HirKind;
    out.push(h);
    match h.kind() {
        HirKind::Capture(cap) => mandatory_parts(&cap.sub, out),
        HirKind::Repetition(rep) if rep.min >= 1 => mandatory_parts(&rep.sub, out),
        HirKind::Concat(items) => {
            for it in items {
                mandatory_parts(it, out);
            }
        }
        _ => {}
    }
}

/// A literal set for a pattern (docs/FORMAT.md, "Literal sets"): of the
/// pattern's mandatory parts ([`mandatory_parts`], every tail of a
/// mandatory concatenation, and its runs of items ending where a literal
/// stops), the one whose finite set of match prefixes (regex-syntax's prefix
/// extractor: every match of the part begins with one of them) gives the
/// best set: every member at least [`SET_MEMBER_MIN`] bytes (longest
/// shortest member wins, then a whole set, then fewer members), 2 to `max`
/// (at most [`limits::MAX_LITERAL_SET`]) members after shortening them to a
/// common length when there are more, no NUL, NUL-joined within
/// [`limits::MAX_DFA_LITERAL_LEN`]. Case-insensitive patterns get their
/// members ASCII-lower-cased and are found folded (weaker, hence sound).
/// A member containing another is dropped (the other is found wherever it
/// is). The `bool` says whether the set is whole: every member a complete
/// match of its part (the extraction was exact), none shortened.
pub(super) fn literal_set(
    hir: &regex_syntax::hir::Hir,
    case_insensitive: bool,
    max: usize,
) -> Option<(LiteralHint, bool)> {
    literal_set_within(hir, case_insensitive, max, MAX_SET_WORK).0
}

/// [`literal_set`], shortening and sorting at most `budget` member bytes;
/// also the bytes it did.
fn literal_set_within(
    hir: &regex_syntax::hir::Hir,
    case_insensitive: bool,
    max: usize,
    budget: usize,
) -> (Option<(LiteralHint, bool)>, usize) {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let mut parts = Vec::new();
    mandatory_parts(hir, &mut parts);
    // Every suffix of a mandatory concatenation is mandatory too: the run
    // `\\temp\\stage5` after `(local|roaming)` is no item of its own, and
    // `(?i)s` splits it into items.
    // So is every run of consecutive items; those ending where a literal
    // stops (before a class of several characters, a repetition, ...) give
    // whole sets where the tail's members are too many and get shortened:
    // `https?://[0-9]` in `https?://[0-9]{1,3}...` (30 members with LONG S
    // spellings) where the tail gives `https://`, no longer than `http`.
    let literal_like = |h: &regex_syntax::hir::Hir| match h.kind() {
        regex_syntax::hir::HirKind::Literal(_) | regex_syntax::hir::HirKind::Look(_) => true,
        regex_syntax::hir::HirKind::Class(c) => class_atoms(c).is_some(),
        _ => false,
    };
    let mut tails = Vec::new();
    for p in &parts {
        if let regex_syntax::hir::HirKind::Concat(items) = p.kind() {
            for i in 0..items.len() {
                if i > 0 && i.saturating_add(1) < items.len() {
                    if let Some(rest) = items.get(i..) {
                        tails.push(regex_syntax::hir::Hir::concat(rest.to_vec()));
                    }
                }
                // Up to RUN_BOUNDARIES non-literal items into the run.
                let mut boundaries = 0;
                for j in i.saturating_add(2)..items.len() {
                    if tails.len() >= MAX_SET_PARTS || boundaries >= RUN_BOUNDARIES {
                        break;
                    }
                    let Some(next) = items.get(j).filter(|h| !literal_like(h)) else {
                        continue;
                    };
                    boundaries = boundaries.saturating_add(1);
                    let Some(run) = items.get(i..j) else {
                        continue;
                    };
                    tails.push(regex_syntax::hir::Hir::concat(run.to_vec()));
                    // Into a repetition's first iteration: `[0-9]{1,3}`
                    // begins with `[0-9]`.
                    if let regex_syntax::hir::HirKind::Repetition(rep) = next.kind() {
                        if rep.min >= 1 {
                            let mut run = run.to_vec();
                            run.push((*rep.sub).clone());
                            tails.push(regex_syntax::hir::Hir::concat(run));
                        }
                    }
                }
            }
        }
    }
    let mut ex = Extractor::new();
    // Room for the case variants of two 8-letter words: folding merges them.
    ex.kind(ExtractKind::Prefix).limit_total(1024);
    let max = max.min(limits::MAX_LITERAL_SET as usize);
    // (longest shortest member, whole, fewest members), members, folded, whole
    type Scored = (
        (usize, bool, std::cmp::Reverse<usize>),
        Vec<Vec<u8>>,
        bool,
        bool,
    );
    let mut best: Option<Scored> = None;
    let mut work = 0usize;
    'parts: for part in parts.into_iter().chain(tails.iter()) {
        // `[Cc][Mm][Dd]` would give 8 case variants per member: extract from
        // the part with such classes lower-cased, and find the members
        // folded (every match of the part, ASCII-lower-cased there, is a
        // match of that one).
        let (part, pairs) = fold_case_pairs(part);
        let folded = case_insensitive || pairs;
        let seq = ex.extract(&part);
        let Some(longest) = seq.max_literal_len() else {
            continue; // infinite: some match begins with anything
        };
        // Too many members: shorten them all (a prefix of a prefix is one),
        // counting after folding. A length below the best set's shortest
        // member cannot beat it.
        let floor = best
            .as_ref()
            .map_or(SET_MEMBER_MIN, |(k, ..)| k.0.max(SET_MEMBER_MIN));
        let count = seq.len().unwrap_or(0);
        let mut found = None;
        for len in (floor..=longest).rev() {
            let step = count.saturating_mul(len);
            if work.saturating_add(step) > budget {
                break 'parts;
            }
            work = work.saturating_add(step);
            let mut short = seq.clone();
            short.keep_first_bytes(len);
            if let Some(m) = set_members(&short, folded).filter(|m| m.len() <= max) {
                found = Some((len, m));
                break;
            }
        }
        let Some((len, members)) = found else {
            continue;
        };
        // Every member a whole match of the part, none shortened.
        let whole = seq.is_exact() && len == longest;
        let joined = members
            .iter()
            .map(Vec::len)
            .fold(members.len().saturating_sub(1), usize::saturating_add);
        if members.len() < 2 || joined > limits::MAX_DFA_LITERAL_LEN as usize {
            continue;
        }
        let shortest = members.iter().map(Vec::len).min().unwrap_or(0);
        let key = (shortest, whole, std::cmp::Reverse(members.len()));
        if best.as_ref().is_none_or(|(k, _, _, _)| key > *k) {
            best = Some((key, members, folded, whole));
        }
    }
    let Some((_, members, folded, whole)) = best else {
        return (None, work);
    };
    let Ok(text) = String::from_utf8(members.join(&layout::LITERAL_SET_SEPARATOR)) else {
        return (None, work);
    };
    let folded = folded && text.bytes().any(|b| b.is_ascii_alphabetic());
    let hint = LiteralHint {
        text,
        folded,
        set: true,
    };
    (Some((hint, whole)), work)
}

/// `h` with every class of exactly the two cases of one ASCII letter
/// (`[Cc]`) replaced by the lower-case letter, and whether there was one.
/// Depth is bounded by regex-syntax's nest limit (writer only).
fn fold_case_pairs(h: &regex_syntax::hir::Hir) -> (regex_syntax::hir::Hir, bool) {
    use regex_syntax::hir::{Capture, Hir, HirKind, Repetition};
    let all = |hs: &[Hir]| -> (Vec<Hir>, bool) {
        let mut any = false;
        let v = hs
            .iter()
            .map(|x| {
                let (y, f) = fold_case_pairs(x);
                any |= f;
                y
            })
            .collect();
        (v, any)
    };
    match h.kind() {
        HirKind::Class(c) => match class_atoms(c).as_deref() {
            Some(&[Atom::Fold(b)]) => (Hir::literal([b]), true),
            _ => (h.clone(), false),
        },
        HirKind::Concat(items) => {
            let (v, f) = all(items);
            (Hir::concat(v), f)
        }
        HirKind::Alternation(branches) => {
            let (v, f) = all(branches);
            (Hir::alternation(v), f)
        }
        HirKind::Repetition(rep) => {
            let (sub, f) = fold_case_pairs(&rep.sub);
            let rep = Repetition {
                sub: std::boxed::Box::new(sub),
                ..rep.clone()
            };
            (Hir::repetition(rep), f)
        }
        HirKind::Capture(cap) => {
            let (sub, f) = fold_case_pairs(&cap.sub);
            let cap = Capture {
                sub: std::boxed::Box::new(sub),
                ..cap.clone()
            };
            (Hir::capture(cap), f)
        }
        HirKind::Empty | HirKind::Literal(_) | HirKind::Look(_) => (h.clone(), false),
    }
}

/// The members a finite prefix sequence gives: folded when
/// `case_insensitive`, cut to whole characters, sorted, without duplicates
/// or members containing another; `None` when one is shorter than
/// [`SET_MEMBER_MIN`] or holds the separator.
fn set_members(
    seq: &regex_syntax::hir::literal::Seq,
    case_insensitive: bool,
) -> Option<Vec<Vec<u8>>> {
    let mut members: Vec<Vec<u8>> = Vec::new();
    for l in seq.literals()? {
        let mut m = l.as_bytes().to_vec();
        if case_insensitive {
            m.make_ascii_lowercase();
        }
        // Whole characters only (the string is UTF-8).
        while std::str::from_utf8(&m).is_err() {
            m.pop();
        }
        if m.len() < SET_MEMBER_MIN || m.contains(&layout::LITERAL_SET_SEPARATOR) {
            return None;
        }
        members.push(m);
    }
    members.sort();
    members.dedup();
    // Only a shorter member can be inside another (equal ones are gone):
    // look each of a member's windows of those lengths up, rather than
    // comparing every pair (a 1,024-member set is a million pairs per
    // length tried).
    let all: std::collections::HashSet<Vec<u8>> = members.iter().cloned().collect();
    let mut lens: Vec<usize> = members.iter().map(Vec::len).collect();
    lens.sort_unstable();
    lens.dedup();
    members.retain(|m| {
        !lens
            .iter()
            .take_while(|&&l| l < m.len())
            .any(|&l| m.windows(l).any(|w| all.contains(w)))
    });
    Some(members)
}

#[cfg(test)]
mod tests;
