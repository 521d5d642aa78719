//! Laying content out over channel files (feature `build`): which file each
//! instance goes to, so that regexes of one family share files.
//!
//! Why it matters: the writer groups a file's regexes that share a field, a
//! case mode and an anchor (a required literal, or literal sets: module
//! `group`), and the interpreter scans a group once per event where its
//! anchor occurs. Groups are per file, so a family spread over every file
//! of a set costs one scan per file whenever its literal occurs: content
//! authored in any order and cut into files of N instances grows in scans
//! with its number of files. [`pack_by_family`] sorts instances by the
//! anchor the writer would group them on, then fills files in that order,
//! so a family takes as few files, and groups, as the budgets allow.
//!
//! Packing changes no verdict: each instance is written as given (its id
//! included), only its file differs, and files keep their instances in id
//! order, as the validator requires.

use std::collections::HashSet;
use std::string::String;
use std::vec::Vec;

use super::group::compile_regexes;
use super::{BuildError, InstanceSpec};
use crate::limits;

/// How full [`pack_by_family`] fills a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackLimits {
    /// Bytes of DFA per file, counting each distinct regex's own DFA once.
    /// The writer keeps a group only when its DFA is no larger than the
    /// DFAs it replaces, so a file's DFA section stays within this.
    pub dfa_bytes: usize,
    /// Instances per file.
    pub instances: usize,
}

impl PackLimits {
    /// The format's per-file DFA cap less 64 KiB for the DFA index entries
    /// and alignment, and 1,000 instances per file (a regex criterion on a
    /// 2,047-byte command line is bounded at 2,048 fuel: 1,000 of them stay
    /// well within the per-file cost ceiling, `cost::TEMPLATE_CEILING`).
    pub const DEFAULT: PackLimits = PackLimits {
        dfa_bytes: (limits::MAX_TOTAL_DFA_LEN as usize).saturating_sub(64 * 1024),
        instances: 1_000,
    };
}

/// What the writer would group an instance's regex on: template, field,
/// case mode, and its anchor (the required literal or literal set, as
/// written; `None` for a regex without one, which groups by field alone).
type Family = (u16, usize, bool, Option<String>);

/// The instances of `instances` laid out in files: sorted by their family
/// (the smallest of their regexes' families; instances without a regex
/// first, then by first appearance), each file filled in that order up to
/// `limits`, and each file's instances in id order. An instance whose own
/// DFAs are over `limits.dfa_bytes` gets a file of its own (the writer or
/// the validator then says what is wrong with it).
///
/// # Errors
/// [`BuildError::Regex`], [`BuildError::RegexTooLarge`] or
/// [`BuildError::StringTooLong`] for a regex the writer would refuse, naming
/// the instance by its position in `instances`.
pub fn pack_by_family(
    instances: &[InstanceSpec],
    limits: PackLimits,
) -> Result<Vec<Vec<InstanceSpec>>, BuildError> {
    let regexes = compile_regexes(instances)?;
    // Per instance: its family and its distinct regexes (first-use indexes).
    let mut keyed: Vec<(Option<Family>, usize, Vec<usize>)> = Vec::with_capacity(instances.len());
    for (pos, inst) in instances.iter().enumerate() {
        let mut family: Option<Family> = None;
        let mut own: Vec<usize> = Vec::new();
        for (field, pattern, case_insensitive) in inst.regexes() {
            let i = regexes.position(&(pattern.into(), case_insensitive));
            let Some(r) = regexes.get(i) else { continue };
            if !own.contains(&i) {
                own.push(i);
            }
            let anchor = r.literal.as_ref().map(|h| h.text.clone());
            let f = (inst.template, field, case_insensitive, anchor);
            if family.as_ref().is_none_or(|old| f < *old) {
                family = Some(f);
            }
        }
        keyed.push((family, pos, own));
    }
    // Stable: one family's instances keep their order.
    keyed.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut files: Vec<Vec<InstanceSpec>> = Vec::new();
    let mut file: Vec<usize> = Vec::new();
    let mut in_file: HashSet<usize> = HashSet::new();
    let mut dfa = 0usize;
    for (_, pos, own) in keyed {
        let added: usize = own
            .iter()
            .filter(|i| !in_file.contains(i))
            .filter_map(|&i| regexes.get(i))
            .map(|r| r.blob.len())
            .sum();
        let full = file.len() >= limits.instances || dfa.saturating_add(added) > limits.dfa_bytes;
        if full && !file.is_empty() {
            files.push(take_file(instances, &mut file));
            in_file.clear();
            dfa = 0;
        }
        for i in own {
            if in_file.insert(i) {
                dfa = dfa.saturating_add(regexes.get(i).map_or(0, |r| r.blob.len()));
            }
        }
        file.push(pos);
    }
    if !file.is_empty() {
        files.push(take_file(instances, &mut file));
    }
    Ok(files)
}

/// The instances at positions `file` (emptied), in id order.
fn take_file(instances: &[InstanceSpec], file: &mut Vec<usize>) -> Vec<InstanceSpec> {
    let mut out: Vec<InstanceSpec> = file
        .drain(..)
        .filter_map(|p| instances.get(p).cloned())
        .collect();
    out.sort_by_key(|i| i.id);
    out
}

#[cfg(test)]
mod tests;
