//! DFAS: entries, regex groups, required literals, and every blob loaded
//! with the checked deserializer.

use super::channel::{Layout, Span, dfa_entry, string_at};
use super::{R, ck, internal, rej};
use crate::analysis;
use crate::cost;
use crate::error::Rule;
use crate::layout;
use crate::limits;
use crate::schema::{FieldType, TEMPLATE_TYPES};
use crate::wire;
use regex_automata::dfa::dense::DFA;
use regex_automata::dfa::{Automaton, StartKind};

/// A DFA's required-literal hint: string in range, not over
/// [`limits::MAX_DFA_LITERAL_LEN`], and marked FOLDED when the DFA flag says so
/// (the string pass, which runs first, proved every string UTF-8 and every
/// FOLDED flag true). Whether the literal really is required is *not*
/// checked here (docs/FORMAT.md, "Required literals").
fn check_dfa_literal(
    b: &[u8],
    strings: Span,
    literal: u32,
    flags: u32,
    at_literal: usize,
    at_flags: usize,
) -> R<()> {
    if literal >= strings.count {
        return Err(
            rej(Rule::StringOutOfRange, at_literal).values(strings.count.into(), literal.into())
        );
    }
    let e = ck(
        wire::record(strings.off, literal as usize, layout::STRING_ENTRY_LEN),
        at_literal,
    )?;
    let len = wire::u16_at(b, e, layout::string_entry::LEN, "string length").map_err(internal)?;
    if u32::from(len) > limits::MAX_DFA_LITERAL_LEN {
        return Err(rej(Rule::StringTooLong, at_literal)
            .values(limits::MAX_DFA_LITERAL_LEN.into(), len.into()));
    }
    if flags & layout::DFA_FLAG_LITERAL_FOLDED != 0 {
        let sflags =
            wire::u16_at(b, e, layout::string_entry::FLAGS, "string flags").map_err(internal)?;
        if sflags & layout::STRING_FLAG_FOLDED == 0 {
            return Err(rej(Rule::NeedleNotFolded, at_flags).values(1, sflags.into()));
        }
    }
    if flags & layout::DFA_FLAG_LITERAL_SET != 0 {
        // The string pass ran first: in range and UTF-8.
        let text = string_at(b, strings, literal).ok_or_else(|| rej(Rule::Internal, at_literal))?;
        check_literal_set(text.as_bytes(), at_literal)?;
    }
    Ok(())
}

/// A literal set's shape (docs/FORMAT.md, "Literal sets"): 2 to
/// [`limits::MAX_LITERAL_SET`] members, none empty. One pass, no allocation.
fn check_literal_set(text: &[u8], at: usize) -> R<()> {
    let mut members = 0u64;
    for m in text.split(|&c| c == layout::LITERAL_SET_SEPARATOR) {
        if m.is_empty() {
            return Err(rej(Rule::LiteralSet, at).values(1, 0));
        }
        members = members.saturating_add(1);
    }
    let max = u64::from(limits::MAX_LITERAL_SET);
    if !(2..=max).contains(&members) {
        return Err(rej(Rule::LiteralSet, at).values(max, members));
    }
    Ok(())
}

/// The regex group an entry opens (docs/FORMAT.md, "Regex groups"): the
/// entries that follow with pattern ids 1, 2, ... share its DFA.
#[derive(Clone, Copy)]
struct Run {
    /// File offset of the entry that opened it (where a bad length is reported).
    entry: usize,
    off: usize,
    len: usize,
    group: u32,
    grouped: bool,
    /// The DFA's pattern count.
    patterns: usize,
    members: usize,
}

impl Run {
    /// A finished run has exactly one entry per pattern of its DFA, and a
    /// group has at least two (a group of one is another encoding of a
    /// single entry).
    fn finish(self) -> R<()> {
        if self.members != self.patterns {
            return Err(
                rej(Rule::RegexGroup, self.entry).values(self.patterns as u64, self.members as u64)
            );
        }
        if self.grouped && self.members < 2 {
            return Err(rej(Rule::RegexGroup, self.entry).values(2, self.members as u64));
        }
        Ok(())
    }
}

/// The number of DFA entries in the run that starts at entry `index`: its
/// regex group's member count, or 1 (runs are already checked).
pub(super) fn group_run(b: &[u8], l: &Layout, index: u32) -> u32 {
    let mut n = 1u32;
    // Bounded: a group has at most MAX_GROUP_PATTERNS members.
    while n < limits::MAX_GROUP_PATTERNS {
        let Some(g) = index
            .checked_add(n)
            .and_then(|d| dfa_entry(b, l, d))
            .and_then(|e| e.group)
        else {
            break;
        };
        if u32::from(g.pattern) != n {
            break;
        }
        n = n.saturating_add(1);
    }
    n
}

/// A regex criterion (at file offset `at`, of `owner` = (template id, field))
/// may use a grouped DFA entry only if the entry declares that owner: a group
/// is scanned once per event for one field (docs/FORMAT.md, "Regex groups").
/// The entry's own fields are checked later, with the DFAs.
pub(super) fn check_group_owner(
    b: &[u8],
    l: &Layout,
    index: u32,
    owner: (u16, usize),
    at: usize,
) -> R<()> {
    use layout::dfa_entry as f;
    let e = ck(
        wire::record(l.dfas.off, index as usize, layout::DFA_ENTRY_LEN),
        at,
    )?;
    let flags = wire::u32_at(b, e, f::FLAGS, "dfa flags").map_err(internal)?;
    if flags & layout::DFA_FLAG_GROUPED == 0 {
        return Ok(());
    }
    let group = wire::u32_at(b, e, f::GROUP, "dfa group").map_err(internal)?;
    let [_, field, t0, t1] = group.to_le_bytes();
    let want = (u32::from(owner.0) << 16) | (owner.1 as u32 & 0xff) << 8;
    let found = group & !0xff;
    if u16::from_le_bytes([t0, t1]) != owner.0 || usize::from(field) != owner.1 {
        return Err(rej(Rule::RegexGroup, at).values(want.into(), found.into()));
    }
    Ok(())
}

/// The template position ([`TEMPLATE_TYPES`]) of a group word, if its
/// template is known and its field is a string field of it.
fn group_owner(group: u32) -> Option<usize> {
    let [_, field, t0, t1] = group.to_le_bytes();
    let template = u16::from_le_bytes([t0, t1]);
    let k = TEMPLATE_TYPES.iter().position(|t| t.id == template)?;
    let f = TEMPLATE_TYPES.get(k)?.fields.get(usize::from(field))?;
    (f.ty == FieldType::Str).then_some(k)
}

pub(super) fn check_dfas(b: &[u8], d: Span, strings: Span) -> R<()> {
    use layout::dfa_entry as f;
    // Relative to the section start: the index, then the blobs.
    let mut running = ck((d.count as usize).checked_mul(layout::DFA_ENTRY_LEN), d.off)?;
    let mut total: usize = 0;
    let mut run: Option<Run> = None;
    let mut groups = [0u32; cost::TEMPLATE_COUNT];
    for i in 0..d.count as usize {
        let e = ck(wire::record(d.off, i, layout::DFA_ENTRY_LEN), d.off)?;
        let at = |r: core::ops::Range<usize>| e.saturating_add(r.start);
        let off = wire::u32_at(b, e, f::OFFSET, "dfa offset").map_err(internal)? as usize;
        let len = wire::u32_at(b, e, f::LEN, "dfa length").map_err(internal)? as usize;
        let pattern = wire::u32_at(b, e, f::PATTERN, "dfa pattern").map_err(internal)?;
        let flags = wire::u32_at(b, e, f::FLAGS, "dfa flags").map_err(internal)?;
        let group = wire::u32_at(b, e, f::GROUP, "dfa group").map_err(internal)?;
        let grouped = flags & layout::DFA_FLAG_GROUPED != 0;
        let pid = group & 0xff;
        if pattern >= strings.count {
            return Err(rej(Rule::StringOutOfRange, at(f::PATTERN))
                .values(strings.count.into(), pattern.into()));
        }
        let literal = wire::u32_at(b, e, f::LITERAL, "dfa literal").map_err(internal)?;
        let mut allowed = layout::DFA_FLAG_CASE_INSENSITIVE | layout::DFA_FLAG_GROUPED;
        if literal != layout::NO_LITERAL {
            allowed |= layout::DFA_FLAG_LITERAL_FOLDED | layout::DFA_FLAG_LITERAL_SET;
        }
        if flags & !allowed != 0 {
            return Err(
                rej(Rule::ReservedNonZero, at(f::FLAGS)).values(allowed.into(), flags.into())
            );
        }
        if literal != layout::NO_LITERAL {
            check_dfa_literal(b, strings, literal, flags, at(f::LITERAL), at(f::FLAGS))?;
        }
        if !grouped && group != 0 {
            return Err(rej(Rule::ReservedNonZero, at(f::GROUP)).values(0, group.into()));
        }
        if pid > 0 {
            // A further member of the open group: the same blob, the same
            // owner, the next pattern id.
            let Some(r) = run.as_mut() else {
                return Err(rej(Rule::RegexGroup, at(f::GROUP)).values(0, pid.into()));
            };
            let want = (r.group & !0xff) | r.members as u32;
            if !r.grouped || !grouped || group != want {
                return Err(rej(Rule::RegexGroup, at(f::GROUP)).values(want.into(), group.into()));
            }
            if off != r.off || len != r.len {
                return Err(rej(Rule::RegexGroup, at(f::OFFSET)).values(r.off as u64, off as u64));
            }
            r.members = r.members.saturating_add(1);
            continue;
        }
        if let Some(r) = run.take() {
            r.finish()?;
        }
        // d.off is a multiple of 8, so this is alignment relative to the file.
        if off % layout::DFA_ALIGN != 0 {
            return Err(rej(Rule::SectionMisaligned, at(f::OFFSET)).values(0, off as u64));
        }
        let expected = ck(wire::align_up(running, layout::DFA_ALIGN), e)?;
        if off != expected {
            return Err(
                rej(Rule::UnaccountedBytes, at(f::OFFSET)).values(expected as u64, off as u64)
            );
        }
        if len > limits::MAX_DFA_LEN as usize {
            return Err(
                rej(Rule::DfaTooLarge, at(f::LEN)).values(limits::MAX_DFA_LEN.into(), len as u64)
            );
        }
        total = total.saturating_add(len);
        if total > limits::MAX_TOTAL_DFA_LEN as usize {
            return Err(rej(Rule::DfaTooLarge, at(f::LEN))
                .values(limits::MAX_TOTAL_DFA_LEN.into(), total as u64));
        }
        let end = ck(off.checked_add(len), e)?;
        if end > d.len {
            return Err(rej(Rule::SectionOutOfRange, at(f::LEN)).values(d.len as u64, end as u64));
        }
        if grouped {
            let Some(k) = group_owner(group) else {
                return Err(rej(Rule::RegexGroup, at(f::GROUP)).values(0, group.into()));
            };
            let n = groups.get_mut(k).ok_or_else(|| rej(Rule::Internal, e))?;
            *n = n.saturating_add(1);
            if *n > limits::MAX_GROUPS_PER_TEMPLATE {
                return Err(rej(Rule::RegexGroup, at(f::GROUP))
                    .values(limits::MAX_GROUPS_PER_TEMPLATE.into(), (*n).into()));
            }
        }
        let pad_at = ck(d.off.checked_add(running), e)?;
        let pad =
            wire::slice(b, pad_at, off.saturating_sub(running), "dfa padding").map_err(internal)?;
        if let Some(p) = wire::first_nonzero(pad, pad_at) {
            return Err(rej(Rule::UnaccountedBytes, p));
        }
        let patterns = check_dfa_blob(b, d, e, off, len)?;
        run = Some(Run {
            entry: e,
            off,
            len,
            group,
            grouped,
            patterns,
            members: 1,
        });
        running = end;
    }
    if let Some(r) = run.take() {
        r.finish()?;
    }
    if running != d.len {
        return Err(rej(Rule::UnaccountedBytes, d.off.saturating_add(running))
            .values(d.len as u64, running as u64));
    }
    Ok(())
}

/// The blob of DFA entry `e` (at `off`, `len` bytes from the section start):
/// loads with the checked deserializer, has unanchored start states, at most
/// [`limits::MAX_GROUP_PATTERNS`] patterns and the builder's prefix. Returns
/// its pattern count. Not inlined: the ~800-byte DFA value lives in this
/// frame only, not in `check_dfas`'s (kernel stack).
#[inline(never)]
fn check_dfa_blob(b: &[u8], d: Span, e: usize, off: usize, len: usize) -> R<usize> {
    let start = ck(d.off.checked_add(off), e)?;
    let blob = wire::slice(b, start, len, "dfa").map_err(internal)?;
    // The checked deserializer (never `from_bytes_unchecked`): it verifies
    // alignment at the actual address, the transition table, start states,
    // match states and accelerators.
    let (dfa, read) = DFA::from_bytes(blob).map_err(|_| rej(Rule::BadDfa, start))?;
    if read != len {
        return Err(rej(Rule::BadDfa, start).values(len as u64, read as u64));
    }
    // The interpreter runs unanchored searches; a DFA without unanchored
    // start states would make them fail.
    if !matches!(dfa.start_kind(), StartKind::Unanchored | StartKind::Both) {
        return Err(rej(Rule::BadDfa, start));
    }
    let patterns = dfa.pattern_len();
    if patterns > limits::MAX_GROUP_PATTERNS as usize {
        return Err(
            rej(Rule::RegexGroup, start).values(limits::MAX_GROUP_PATTERNS.into(), patterns as u64)
        );
    }
    check_dfa_prefix(blob, start)?;
    check_accelerators(&dfa, start)?;
    Ok(patterns)
}

/// Every accelerated state's bytes are exactly the bytes that leave it
/// (docs/FORMAT.md, "What regex-automata checks"). `from_bytes` checks the
/// accelerator table's shape, not this; regex-automata's search skips
/// through an accelerated state to its next accelerated byte, so a
/// transition out on any other byte would be seen by a walk of the
/// transitions and missed by the search. Rejected as `bad-dfa`, with the
/// state's index and the number of bytes that leave it.
///
/// Linear in the DFA: the special states are walked in id order
/// ([`analysis::special_states`]), and each accelerated one costs one
/// transition per byte class and one per accelerated byte (at most 3).
#[inline(never)]
fn check_accelerators(dfa: &DFA<&[u32]>, start: usize) -> R<()> {
    let classes = dfa.byte_classes();
    // Bytes per class (saturating: a class of all 256 bytes reads 255, which
    // no accelerator of at most 3 bytes equals either).
    let mut size = [0u8; 256];
    for b in 0..=255u8 {
        let c = size
            .get_mut(usize::from(classes.get(b)))
            .ok_or_else(|| rej(Rule::Internal, start))?;
        *c = c.saturating_add(1);
    }
    for (k, id) in analysis::special_states(dfa) {
        if !dfa.is_accel_state(id) {
            continue;
        }
        let acc = dfa.accelerator(id);
        let mut distinct = 0usize;
        for (i, &b) in acc.iter().enumerate() {
            if dfa.next_state(id, b) == id {
                return Err(rej(Rule::BadDfa, start).values(k as u64, 0));
            }
            if !acc.get(..i).unwrap_or_default().contains(&b) {
                distinct = distinct.saturating_add(1);
            }
        }
        let mut leaving = 0usize;
        for unit in classes.representatives(0..=255) {
            let Some(r) = unit.as_u8() else { continue };
            if dfa.next_state(id, r) != id {
                let n = size
                    .get(usize::from(classes.get(r)))
                    .copied()
                    .unwrap_or(u8::MAX);
                leaving = leaving.saturating_add(usize::from(n));
            }
        }
        if leaving != distinct {
            return Err(rej(Rule::BadDfa, start).values(k as u64, leaving as u64));
        }
    }
    Ok(())
}

/// The bytes at the start of a serialized DFA that `DFA::from_bytes` reads
/// but does not check, pinned to what the builder writes (docs/FORMAT.md,
/// "What regex-automata checks"). Runs after `from_bytes` accepted `blob`, so
/// the prefix is there; `start` is the blob's file offset.
fn check_dfa_prefix(blob: &[u8], start: usize) -> R<()> {
    use layout::dfa_blob as f;
    // `from_bytes` skips up to 7 leading zero bytes and ignores the label's
    // NUL padding: requiring the exact label bytes at offset 0 pins both.
    let label =
        wire::field(blob, 0, f::LABEL, "dfa label").map_err(|_| rej(Rule::BadDfa, start))?;
    if let Some(p) = label
        .iter()
        .zip(layout::DFA_LABEL.iter())
        .position(|(got, want)| got != want)
    {
        let got = label.get(p).copied().unwrap_or(0);
        let want = layout::DFA_LABEL.get(p).copied().unwrap_or(0);
        return Err(
            rej(Rule::DfaNotCanonical, start.saturating_add(p)).values(want.into(), got.into())
        );
    }
    let at = |r: core::ops::Range<usize>| start.saturating_add(r.start);
    let unused = wire::u32_at(blob, 0, f::UNUSED, "dfa unused word")
        .map_err(|_| rej(Rule::BadDfa, start))?;
    if unused != 0 {
        return Err(rej(Rule::DfaNotCanonical, at(f::UNUSED)).values(0, unused.into()));
    }
    let flags =
        wire::u32_at(blob, 0, f::FLAGS, "dfa flag bits").map_err(|_| rej(Rule::BadDfa, start))?;
    if flags & !layout::DFA_BLOB_KNOWN_FLAGS != 0 {
        return Err(rej(Rule::DfaNotCanonical, at(f::FLAGS))
            .values(layout::DFA_BLOB_KNOWN_FLAGS.into(), flags.into()));
    }
    Ok(())
}

#[cfg(all(test, feature = "build"))]
mod tests {
    use super::*;
    use crate::AlignedBytes;
    use crate::build::group::compile_group;

    /// The pattern cap is checked on the blob itself: a group DFA (the
    /// writer's) of as many patterns as a group holds passes (and its count
    /// is returned); one more is `regex-group`, at the blob, with the cap
    /// and the count.
    #[test]
    fn a_blob_with_more_patterns_than_a_group_holds_is_rejected() {
        let cap = limits::MAX_GROUP_PATTERNS as usize;
        for n in [cap, cap + 1] {
            let patterns: std::vec::Vec<std::string::String> =
                (0..n).map(|i| std::format!("p{i}x")).collect();
            let sources: std::vec::Vec<&str> = patterns.iter().map(|p| p.as_str()).collect();
            let blob =
                AlignedBytes::from_slice(&compile_group(&sources, false, usize::MAX).unwrap());
            let span = Span {
                off: 0,
                len: blob.len(),
                count: 1,
            };
            match check_dfa_blob(&blob, span, 0, 0, blob.len()) {
                Ok(patterns) => assert_eq!((n, patterns), (cap, cap)),
                Err(r) => {
                    assert_eq!(n, cap + 1, "{r}");
                    assert_eq!((r.rule, r.offset), (Rule::RegexGroup, 0), "{r}");
                    assert_eq!((r.expected, r.found), (cap as u64, n as u64), "{r}");
                }
            }
        }
    }
}
