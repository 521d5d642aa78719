//! One encoding per content: strings and DFAs numbered in first-use order.

use super::channel::{Layout, string_at};
use super::dfas::group_run;
use super::{R, ck, internal, rej};
use crate::error::Rule;
use crate::layout::{self, kind};
use crate::wire;

/// One encoding per content (issue 13): strings and DFAs are numbered in the
/// order the writer first uses them, walking the criteria in order (a new
/// regex's DFA names its pattern string, then its literal string), and every
/// one is used. Any other numbering of the same content would be a second
/// encoding. Runs last: every index is already known to be in range. One
/// linear pass, no allocation.
pub(super) fn check_first_use_order(b: &[u8], l: &Layout) -> R<()> {
    use layout::criterion as f;
    use layout::dfa_entry as d;
    let (mut next_string, mut next_dfa) = (0u32, 0u32);
    for c in 0..l.criteria.count as usize {
        let base = ck(
            wire::record(l.criteria.off, c, layout::CRITERION_LEN),
            l.criteria.off,
        )?;
        let k = wire::u8_at(b, base, f::KIND, "criterion kind").map_err(internal)?;
        let index = wire::u32_at(b, base, f::INDEX, "criterion index").map_err(internal)?;
        let at = base.saturating_add(f::INDEX.start);
        match k {
            kind::EQUALS | kind::PREFIX | kind::SUFFIX | kind::CONTAINS => {
                claim(&mut next_string, index, at)?;
            }
            // A new DFA, or a new regex group: numbered as a whole at the
            // first use of any of its members, members in pattern-source
            // order.
            kind::REGEX
                if index >= next_dfa
                    && index < next_dfa.saturating_add(group_run(b, l, next_dfa)) =>
            {
                let (first, run) = (next_dfa, group_run(b, l, next_dfa));
                let mut prev: Option<&str> = None;
                for d in first..first.saturating_add(run) {
                    claim(&mut next_dfa, d, at)?;
                    let e = ck(
                        wire::record(l.dfas.off, d as usize, layout::DFA_ENTRY_LEN),
                        at,
                    )?;
                    let pat_at = e.saturating_add(d::PATTERN.start);
                    let pattern =
                        wire::u32_at(b, e, d::PATTERN, "dfa pattern").map_err(internal)?;
                    claim(&mut next_string, pattern, pat_at)?;
                    let source = string_at(b, l.strings, pattern);
                    if run > 1 && prev >= source {
                        return Err(rej(Rule::FirstUseOrder, pat_at).values(0, d.into()));
                    }
                    prev = source;
                    let literal =
                        wire::u32_at(b, e, d::LITERAL, "dfa literal").map_err(internal)?;
                    if literal != layout::NO_LITERAL {
                        claim(
                            &mut next_string,
                            literal,
                            e.saturating_add(d::LITERAL.start),
                        )?;
                    }
                }
            }
            kind::REGEX => claim(&mut next_dfa, index, at)?,
            _ => {}
        }
    }
    // Then the metadata strings, record by record, field by field.
    for i in 0..l.metadata.count as usize {
        let e = ck(
            wire::record(l.metadata.off, i, layout::METADATA_LEN),
            l.metadata.off,
        )?;
        for r in layout::metadata::ALL {
            let index = wire::u32_at(b, e, r.clone(), "metadata string").map_err(internal)?;
            if index != layout::NO_STRING {
                claim(&mut next_string, index, e.saturating_add(r.start))?;
            }
        }
    }
    if next_string != l.strings.count {
        let e = ck(
            wire::record(
                l.strings.off,
                next_string as usize,
                layout::STRING_ENTRY_LEN,
            ),
            l.strings.off,
        )?;
        return Err(rej(Rule::FirstUseOrder, e).values(next_string.into(), l.strings.count.into()));
    }
    if next_dfa != l.dfas.count {
        let e = ck(
            wire::record(l.dfas.off, next_dfa as usize, layout::DFA_ENTRY_LEN),
            l.dfas.off,
        )?;
        return Err(rej(Rule::FirstUseOrder, e).values(next_dfa.into(), l.dfas.count.into()));
    }
    Ok(())
}

/// A use of string or DFA `index` where `*next` is the next unused number:
/// an earlier one, or exactly the next (which it then claims).
pub(super) fn claim(next: &mut u32, index: u32, at: usize) -> R<()> {
    if index == *next {
        *next = next.saturating_add(1);
        Ok(())
    } else if index < *next {
        Ok(())
    } else {
        Err(rej(Rule::FirstUseOrder, at).values((*next).into(), index.into()))
    }
}
