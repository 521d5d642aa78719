//! Regex groups, writer side (feature `build`): which DFA entries share one
//! multi-pattern DFA, and that DFA.
//!
//! A group's DFA is compiled from its members' sources in entry order with
//! [`MatchKind::All`], so pattern `k` of the DFA is the member with pattern id
//! `k`, and scanning a field once visits a match state holding `k` exactly
//! when member `k`'s regex occurs in the field (docs/FORMAT.md, "Regex
//! groups"). Grouping is the writer's choice and changes no verdict; the
//! interpreter's payoff is one scan per group and field instead of one per
//! regex.
//!
//! Which regexes: those whose every use is one field of one template type,
//! grouped by (that field, case mode, required literal), in first-use order,
//! at most [`limits::MAX_GROUP_PATTERNS`] per group and at most
//! [`limits::MAX_GROUPS_PER_TEMPLATE`] groups per template type. A regex with
//! a required literal of its own (no other regex of its field has it) stays
//! single: the interpreter finds it through that literal and scans it only
//! when the literal occurs, which a group cannot beat. Regexes sharing a
//! literal (an IOC family: `\\postex_...`) form groups that keep it: every
//! match of any member contains it, so the interpreter can prove the literal
//! once for the whole group and scan the group only when the literal occurs.
//! Regexes without a usable literal are grouped by field and case mode;
//! those with a literal set (docs/FORMAT.md, "Literal sets") form groups of
//! their own when every such regex of their field and case mode has one, so
//! the interpreter can prove the union of the members' sets for the group
//! and scan it only when a member occurs. Otherwise they stay single, each
//! anchored on its own set, rather than join the group of those without
//! (scanned every event).
//! Members are ordered by pattern source (the validator checks it: one
//! encoding per grouping). A group is kept only if its DFA is no larger than
//! the single DFAs it replaces (so grouping never makes a file larger;
//! regexes with `.*` in the middle multiply states when combined), and only
//! if the interpreter can prove its anchor (the shared literal, or the union
//! of the sets) over its DFA within `limits::LITERAL_PROOF_STEPS`: an
//! unproven group is scanned on every event. Otherwise it is halved and
//! tried again, down to pairs.

use std::collections::HashMap;
use std::string::String;
use std::vec::Vec;

use super::{BuildError, InstanceSpec, LiteralHint, compile_regex, literal_hint, with_dfa};
use crate::limits;

/// Who uses a regex: one (template id, field index) or several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Owner {
    /// Every criterion using the regex is on this (template id, field index).
    One(u16, usize),
    /// Criteria on different fields or template types use it.
    Mixed,
}

impl Owner {
    /// The owner after one more use by (template, field).
    pub(crate) fn and(self, template: u16, field: usize) -> Owner {
        match self {
            Owner::One(t, f) if (t, f) == (template, field) => self,
            _ => Owner::Mixed,
        }
    }
}

/// One distinct regex as the planner sees it (in first-use order).
pub(crate) struct Member<'a> {
    pub(crate) pattern: &'a str,
    pub(crate) case_insensitive: bool,
    pub(crate) owner: Owner,
    /// Length of the regex's own (single-pattern) DFA.
    pub(crate) single_len: usize,
    /// The regex's required literal (text, folded), when it has one of at
    /// least 4 bytes (an anchor the interpreter can use).
    pub(crate) literal: Option<(&'a str, bool)>,
    /// The regex has a literal set instead (docs/FORMAT.md, "Literal sets"):
    /// its NUL-separated members, and whether they are found folded.
    pub(crate) set: Option<(&'a str, bool)>,
}

/// A planned group: members (indexes into the planner's input) in entry
/// order, i.e. sorted by pattern source, and its DFA (the writer) or the
/// DFA's length (the packer).
pub(crate) struct Planned<B = Vec<u8>> {
    pub(crate) members: Vec<usize>,
    pub(crate) template: u16,
    pub(crate) field: u8,
    pub(crate) blob: B,
}

/// The groups for `members` (distinct regexes in first-use order), largest
/// first (the writer lays each out at its first member's first use), each
/// DFA compiled with [`compile_group`].
pub(crate) fn plan(members: &[Member<'_>]) -> Vec<Planned> {
    plan_with(members, |sources, ci, limit, keep| {
        compile_group(sources, ci, limit).ok().filter(|b| keep(b))
    })
}

/// Whether the interpreter proves a candidate group's anchor over its DFA.
pub(crate) type Keep<'k> = &'k dyn Fn(&[u8]) -> bool;

/// [`plan`], with `group` making each candidate group's DFA: from its
/// sources (sorted), case mode and the size it may not exceed, `None` when
/// it does not compile within that or `keep` refuses it (the planner then
/// halves the candidate). The same sources always give the same answer,
/// so the packer keeps only sizes, cached across the files it measures.
pub(crate) fn plan_with<B>(
    members: &[Member<'_>],
    mut group: impl FnMut(&[&str], bool, usize, Keep<'_>) -> Option<B>,
) -> Vec<Planned<B>> {
    let max = limits::MAX_GROUP_PATTERNS as usize;
    // Candidate sets: (template, field, case, literal, literal set) ->
    // members in first-use order. Regexes with literal sets group apart,
    // so the group keeps an anchor (the union of their sets), when there
    // are at least two and no regex of their field and case mode lacks
    // both a literal and a set. Otherwise they stay single, anchored on
    // their own sets: on the SigmaHQ import this beat both joining the
    // every-event group of those without and a set group beside it.
    type Key<'a> = (u16, usize, bool, Option<(&'a str, bool)>, bool);
    // (with a set, with neither) per (template, field, case)
    let mut counts: HashMap<(u16, usize, bool), (usize, usize)> = HashMap::new();
    for m in members {
        if let Owner::One(t, f) = m.owner {
            let n = counts.entry((t, f, m.case_insensitive)).or_insert((0, 0));
            if m.set.is_some() {
                n.0 = n.0.saturating_add(1);
            } else if m.literal.is_none() {
                n.1 = n.1.saturating_add(1);
            }
        }
    }
    let mut sets: Vec<(Key<'_>, Vec<usize>)> = Vec::new();
    let mut by_key: HashMap<Key<'_>, usize> = HashMap::new();
    for (i, m) in members.iter().enumerate() {
        let Owner::One(template, field) = m.owner else {
            continue;
        };
        let set = m.set.is_some()
            && counts
                .get(&(template, field, m.case_insensitive))
                .is_some_and(|&(with, neither)| with >= 2 && neither == 0);
        if m.set.is_some() && !set {
            continue;
        }
        let key = (template, field, m.case_insensitive, m.literal, set);
        let k = *by_key.entry(key).or_insert_with(|| {
            sets.push((key, Vec::new()));
            sets.len().saturating_sub(1)
        });
        if let Some((_, v)) = sets.get_mut(k) {
            v.push(i);
        }
    }
    // Chunks of each set; then halved until each DFA fits.
    let mut chunks: Vec<(Key<'_>, Vec<usize>)> = Vec::new();
    for (key, set) in sets {
        // A literal of its own: single (see the module docs).
        if key.3.is_some() && set.len() < 2 {
            continue;
        }
        if key.4 {
            for c in set_chunks(members, &set) {
                chunks.push((key, c));
            }
            continue;
        }
        for c in set.chunks(max) {
            chunks.push((key, c.to_vec()));
        }
    }
    // Largest first (then first use): when a template's groups run out
    // (MAX_GROUPS_PER_TEMPLATE), the regexes left single are the fewest.
    chunks.sort_by_key(|(_, c)| (std::cmp::Reverse(c.len()), c.first().copied()));
    let mut out: Vec<Planned<B>> = Vec::new();
    let mut per_template: HashMap<u16, u32> = HashMap::new();
    let mut work: Vec<(Key<'_>, Vec<usize>)> = chunks.into_iter().rev().collect();
    // Bounded: each step either emits a chunk, drops it, or splits it into
    // two strictly smaller ones.
    while let Some((key, chunk)) = work.pop() {
        let (template, field, ci, _, _) = key;
        let Ok(field_u8) = u8::try_from(field) else {
            continue;
        };
        let used = per_template.get(&template).copied().unwrap_or(0);
        if chunk.len() < 2 || used >= limits::MAX_GROUPS_PER_TEMPLATE {
            continue;
        }
        let mut sorted = chunk.clone();
        sorted.sort_by(|&a, &b| {
            let (pa, pb) = (members.get(a), members.get(b));
            pa.map(|m| m.pattern).cmp(&pb.map(|m| m.pattern))
        });
        let singles: usize = sorted
            .iter()
            .filter_map(|&i| members.get(i))
            .map(|m| m.single_len)
            .sum();
        let sources: Vec<&str> = sorted
            .iter()
            .filter_map(|&i| members.get(i))
            .map(|m| m.pattern)
            .collect();
        let keep = |blob: &[u8]| anchor_fits(members, &sorted, key.3, key.4, blob);
        match group(&sources, ci, singles, &keep) {
            Some(blob) => {
                let n = per_template.entry(template).or_insert(0);
                *n = n.saturating_add(1);
                out.push(Planned {
                    members: sorted,
                    template,
                    field: field_u8,
                    blob,
                });
            }
            None => {
                let (a, b) = chunk.split_at(chunk.len() / 2);
                work.push((key, b.to_vec()));
                work.push((key, a.to_vec()));
            }
        }
    }
    out
}

/// Whether the interpreter proves the anchor of a group of `list` (indexes
/// into `members`) compiled into `blob` within its per-DFA cap
/// ([`crate::analysis::literal_proof_fits`]): the shared `literal`, or for a
/// set group the union of the members' sets (sorted, without duplicates,
/// folded if any is: as the interpreter stages it). A group whose anchor
/// is not proven is scanned on every event, so the planner splits it
/// instead. A group without either has nothing to prove.
fn anchor_fits(
    members: &[Member<'_>],
    list: &[usize],
    literal: Option<(&str, bool)>,
    set_group: bool,
    blob: &[u8],
) -> bool {
    let sep = char::from(crate::layout::LITERAL_SET_SEPARATOR);
    let (union, folded): (Vec<&[u8]>, bool) = match literal {
        _ if set_group => {
            let mut union = Vec::new();
            let mut folded = false;
            for (set, f) in list.iter().filter_map(|&i| members.get(i)?.set) {
                union.extend(set.split(sep).map(str::as_bytes));
                folded |= f;
            }
            union.sort_unstable();
            union.dedup();
            (union, folded)
        }
        Some((text, folded)) => (std::vec![text.as_bytes()], folded),
        None => return true,
    };
    with_dfa(blob, |dfa| {
        crate::analysis::literal_proof_fits(dfa, &union, folded)
    })
    .unwrap_or(false)
}

/// Regexes with literal sets (`list`, indexes into `members`) in chunks of at
/// most [`limits::MAX_GROUP_PATTERNS`] whose union of sets stays within
/// [`limits::GROUP_SET_MEMBERS`] members and [`limits::GROUP_SET_BYTES`]
/// bytes, in order: a larger union would leave its group scanned on every
/// event. A regex whose set alone is over them gets a chunk of its own (it
/// stays single).
fn set_chunks(members: &[Member<'_>], list: &[usize]) -> Vec<Vec<usize>> {
    use std::collections::BTreeSet;
    let max = limits::MAX_GROUP_PATTERNS as usize;
    let sep = char::from(crate::layout::LITERAL_SET_SEPARATOR);
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut chunk: Vec<usize> = Vec::new();
    let mut union: BTreeSet<&str> = BTreeSet::new();
    // Regexes with the same set side by side (stable: first use breaks
    // ties): a family sharing one set then costs one group and its scan,
    // not one in every chunk it would be spread over.
    let mut list = list.to_vec();
    list.sort_by_key(|&i| members.get(i).and_then(|m| m.set));
    for &i in &list {
        let Some((set, _)) = members.get(i).and_then(|m| m.set) else {
            continue;
        };
        let mut grown = union.clone();
        grown.extend(set.split(sep));
        let bytes: usize = grown.iter().map(|m| m.len()).sum();
        let fits = grown.len() <= limits::GROUP_SET_MEMBERS && bytes <= limits::GROUP_SET_BYTES;
        if fits && chunk.len() < max {
            chunk.push(i);
            union = grown;
            continue;
        }
        if !chunk.is_empty() {
            out.push(std::mem::take(&mut chunk));
        }
        union = set.split(sep).collect();
        chunk.push(i);
    }
    if !chunk.is_empty() {
        out.push(chunk);
    }
    out
}

/// Compile `patterns` (one case mode) into one unanchored multi-pattern DFA
/// with [`MatchKind::All`], serialized little-endian without leading padding;
/// refused when its serialization is larger than `limit` or
/// [`limits::MAX_DFA_LEN`] (determinization itself may use up to four times
/// `MAX_DFA_LEN` of memory on the way).
pub(crate) fn compile_group(patterns: &[&str], ci: bool, limit: usize) -> Result<Vec<u8>, String> {
    use regex_automata::MatchKind;
    use regex_automata::dfa::{StartKind, dense};
    use regex_automata::nfa::thompson;
    let max = limits::MAX_DFA_LEN as usize;
    let limit = limit.min(max);
    let work = max.saturating_mul(4);
    // Stop determinizing once the DFA is twice the size it may have: a
    // group that will be refused is refused early (the SigmaHQ set built in
    // 42 s instead of under 1 s while failing groups ran to `work`). Twice,
    // because the serialization is about the DFA's memory, not at most it.
    let grow = limit.saturating_mul(2).min(work);
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Unanchored)
                .match_kind(MatchKind::All)
                .dfa_size_limit(Some(grow))
                .determinize_size_limit(Some(work)),
        )
        .syntax(super::syntax_config(ci))
        .thompson(thompson::Config::new().nfa_size_limit(Some(work)))
        .build_many(patterns)
        .map_err(|e| std::string::ToString::to_string(&e))?;
    let (bytes, pad) = dfa.to_bytes_little_endian();
    let blob = bytes.get(pad..).unwrap_or(&[]).to_vec();
    if blob.len() > limit {
        return Err(String::from("group DFA larger than the DFAs it replaces"));
    }
    Ok(blob)
}

/// One distinct regex of a spec, compiled on its own.
pub(crate) struct Regex {
    pub(crate) pattern: String,
    pub(crate) case_insensitive: bool,
    /// Its single-pattern DFA.
    pub(crate) blob: Vec<u8>,
    pub(crate) literal: Option<LiteralHint>,
    owner: Owner,
}

/// Group DFA sizes by (sources, case mode), `None` for a candidate the
/// planner refuses: what packing measures, kept across files.
pub(crate) type GroupSizes = HashMap<(Vec<String>, bool), Option<usize>>;

/// The distinct regexes of a spec, in first-use order.
pub(crate) struct Regexes {
    list: Vec<Regex>,
    index: HashMap<(String, bool), usize>,
}

impl Regexes {
    /// Regex `i` (first-use order).
    pub(crate) fn get(&self, i: usize) -> Option<&Regex> {
        self.list.get(i)
    }

    /// The first-use position of `key` (a regex of the spec).
    pub(crate) fn position(&self, key: &(String, bool)) -> usize {
        self.index.get(key).copied().unwrap_or(usize::MAX)
    }

    /// The groups to write, and for each grouped regex its group's index.
    pub(crate) fn plan(&self) -> (Vec<Planned>, HashMap<(String, bool), usize>) {
        let members: Vec<Member<'_>> = self.list.iter().map(|r| r.member(r.owner)).collect();
        let planned = plan(&members);
        let mut of = HashMap::new();
        for (g, p) in planned.iter().enumerate() {
            for &m in &p.members {
                if let Some(r) = self.list.get(m) {
                    of.insert((r.pattern.clone(), r.case_insensitive), g);
                }
            }
        }
        (planned, of)
    }
}

impl Regexes {
    /// The DFA bytes the writer lays out for a file of `file` (instances
    /// in the order they are written, all of this set): each planned
    /// group's DFA once, and the own DFA of every regex left single. The
    /// planner runs as the writer runs it on that file (first-use order and
    /// owners within the file), so this compiles the file's groups.
    pub(crate) fn laid_out_bytes<'a>(
        &self,
        file: impl Iterator<Item = &'a InstanceSpec>,
        sizes: &mut GroupSizes,
    ) -> usize {
        // (regex index, owner within the file), in first-use order.
        let mut used: Vec<(usize, Owner)> = Vec::new();
        let mut at: HashMap<usize, usize> = HashMap::new();
        for inst in file {
            for (field, pattern, case_insensitive) in inst.regexes() {
                let i = self.position(&(pattern.into(), case_insensitive));
                if self.get(i).is_none() {
                    continue;
                }
                match at.get(&i).and_then(|&k| used.get_mut(k)) {
                    Some((_, owner)) => *owner = owner.and(inst.template, field),
                    None => {
                        at.insert(i, used.len());
                        used.push((i, Owner::One(inst.template, field)));
                    }
                }
            }
        }
        let members: Vec<Member<'_>> = used
            .iter()
            .filter_map(|&(i, owner)| Some(self.get(i)?.member(owner)))
            .collect();
        let planned = plan_with(&members, |sources, ci, limit, keep| {
            let key = (sources.iter().map(|&p| String::from(p)).collect(), ci);
            *sizes.entry(key).or_insert_with(|| {
                compile_group(sources, ci, limit)
                    .ok()
                    .filter(|b| keep(b))
                    .map(|b| b.len())
            })
        });
        let mut grouped = std::vec![false; members.len()];
        let mut bytes = 0usize;
        for p in &planned {
            bytes = bytes.saturating_add(p.blob);
            for &m in &p.members {
                if let Some(g) = grouped.get_mut(m) {
                    *g = true;
                }
            }
        }
        for (m, g) in members.iter().zip(grouped) {
            if !g {
                bytes = bytes.saturating_add(m.single_len);
            }
        }
        bytes
    }
}

impl Regex {
    /// This regex as the planner sees it, used as `owner` says.
    fn member(&self, owner: Owner) -> Member<'_> {
        Member {
            pattern: &self.pattern,
            case_insensitive: self.case_insensitive,
            owner,
            single_len: self.blob.len(),
            literal: self
                .literal
                .as_ref()
                .filter(|h| !h.set && h.text.len() >= 4)
                .map(|h| (h.text.as_str(), h.folded)),
            set: self
                .literal
                .as_ref()
                .filter(|h| h.set)
                .map(|h| (h.text.as_str(), h.folded)),
        }
    }
}

/// Compile every distinct regex of `instances` on its own, walking the
/// criteria in the writer's order (so errors name the first instance and
/// field using a bad regex, as before groups).
pub(crate) fn compile_regexes(instances: &[InstanceSpec]) -> Result<Regexes, BuildError> {
    let mut out = Regexes {
        list: Vec::new(),
        index: HashMap::new(),
    };
    for (ii, inst) in instances.iter().enumerate() {
        for (fi, pattern, case_insensitive) in inst.regexes() {
            let key = (String::from(pattern), case_insensitive);
            if let Some(r) = out.index.get(&key).and_then(|&i| out.list.get_mut(i)) {
                r.owner = r.owner.and(inst.template, fi);
                continue;
            }
            if pattern.len() > usize::from(u16::MAX) {
                return Err(BuildError::StringTooLong {
                    instance: ii,
                    field: fi,
                    len: pattern.len(),
                });
            }
            let blob =
                compile_regex(pattern, case_insensitive).map_err(|(too_large, message)| {
                    if too_large {
                        BuildError::RegexTooLarge {
                            instance: ii,
                            field: fi,
                            pattern: pattern.into(),
                        }
                    } else {
                        BuildError::Regex {
                            instance: ii,
                            field: fi,
                            pattern: pattern.into(),
                            message,
                        }
                    }
                })?;
            // Derived (to_spec drops it, build recomputes it).
            let literal = literal_hint(pattern, case_insensitive, || Some(blob.clone()));
            out.index.insert(key, out.list.len());
            out.list.push(Regex {
                pattern: pattern.into(),
                case_insensitive,
                blob,
                literal,
                owner: Owner::One(inst.template, fi),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member<'a>(pattern: &'a str, literal: &'a str) -> Member<'a> {
        Member {
            pattern,
            case_insensitive: false,
            owner: Owner::One(1, 0),
            single_len: compile_group(&[pattern], false, usize::MAX)
                .map(|b| b.len())
                .unwrap_or(0),
            literal: Some((literal, false)),
            set: None,
        }
    }

    /// Two regexes sharing a literal group only when the interpreter can
    /// prove that literal over the group's DFA: `x[a-z]{11}` gives the DFA
    /// thousands of states, and the proof over them is past
    /// `LITERAL_PROOF_STEPS` (an unproven group is scanned on every event).
    #[test]
    fn a_group_whose_literal_is_over_the_proof_cap_is_not_formed() {
        let lit = "-urlcache-urlcache-urlcache-urlcache-urlcache-urlcache";
        let small = [
            r"[0-9]-urlcache-urlcache-urlcache-urlcache-urlcache-urlcache$",
            r"[a-z]-urlcache-urlcache-urlcache-urlcache-urlcache-urlcache$",
        ];
        let members: Vec<Member<'_>> = small.iter().map(|p| member(p, lit)).collect();
        assert_eq!(plan(&members).len(), 1);
        let big = [
            r"x[a-z]{11}-urlcache-urlcache-urlcache-urlcache-urlcache-urlcache$",
            r"x[a-z]{11}-urlcache-urlcache-urlcache-urlcache-urlcache-urlcache[0-9]",
        ];
        let members: Vec<Member<'_>> = big.iter().map(|p| member(p, lit)).collect();
        let blob = compile_group(&big, false, usize::MAX).unwrap();
        let steps = with_dfa(&blob, |dfa| {
            crate::analysis::literal_proof_steps(dfa, &[lit.as_bytes()], false)
        })
        .unwrap();
        assert!(steps > limits::LITERAL_PROOF_STEPS, "{steps}");
        assert!(!anchor_fits(
            &members,
            &[0, 1],
            Some((lit, false)),
            false,
            &blob
        ));
        assert!(plan(&members).is_empty());
    }
}
