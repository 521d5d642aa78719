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

use super::group::{GroupSizes, Regexes, compile_regexes};
use super::{BuildError, InstanceSpec};
use crate::limits;

/// How full [`pack_by_family`] fills a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackLimits {
    /// Bytes of DFA per file as the writer lays them out with regex groups
    /// (`BuildOptions::group_regexes`, as `changuard build` does): each
    /// group's DFA once, and the own DFA of each regex left single.
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
    let mut keyed: Vec<Keyed> = Vec::with_capacity(instances.len());
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
    let mut start = 0;
    let mut sizes = GroupSizes::new();
    // Bounded: `fill` returns an end past `start`.
    while start < keyed.len() {
        let end = fill(instances, &regexes, &keyed, start, limits, &mut sizes);
        files.push(in_id_order(instances, keyed.get(start..end).unwrap_or(&[])));
        start = end;
    }
    Ok(files)
}

/// Per instance (sorted for packing): its family, its position in the
/// input, and its distinct regexes (indexes into `Regexes`).
type Keyed = (Option<Family>, usize, Vec<usize>);

/// Layouts of one file measured at most (each compiles the file's groups
/// not measured before: up to a second or so for a large family).
const MEASURES: usize = 4;

/// The end of the file that starts at `keyed[start]`: past `start`, and as
/// far as `limits` allow.
///
/// A file is filled while the sum of its distinct regexes' own DFAs fits
/// the budget, which bounds what the writer lays out (it keeps a group
/// only when it is no larger than the DFAs it replaces). That sum
/// overcounts a family that forms groups, often several times over (a
/// group of 18 command-line regexes of about 450 KB each took 494 KB), so
/// when it is over the budget the file is measured as the writer lays it
/// out, and filling goes on from the measure. What is added after a
/// measure is checked by measuring again before the file is closed; if it
/// does not fit, the file ends at the last end known to fit.
fn fill(
    instances: &[InstanceSpec],
    regexes: &Regexes,
    keyed: &[Keyed],
    start: usize,
    limits: PackLimits,
    sizes: &mut GroupSizes,
) -> usize {
    let mut measure = |end: usize| {
        let file = in_id_order(instances, keyed.get(start..end).unwrap_or(&[]));
        regexes.laid_out_bytes(file.iter(), sizes)
    };
    let mut in_file: HashSet<usize> = HashSet::new();
    // DFA bytes of `keyed[start..end]`: the sum of own DFAs, or a measure
    // plus the own DFAs added since.
    let mut dfa = 0usize;
    let mut end = start;
    // The end known to fit, and where the last measure was taken.
    let mut fits = start;
    let mut measured_at: Option<usize> = None;
    let mut measures = 0;
    while let Some((_, _, own)) = keyed.get(end) {
        if end.saturating_sub(start) >= limits.instances {
            break;
        }
        let added: usize = own
            .iter()
            .filter(|i| !in_file.contains(i))
            .filter_map(|&i| regexes.get(i))
            .map(|r| r.blob.len())
            .sum();
        if end > start && dfa.saturating_add(added) > limits.dfa_bytes {
            if measured_at == Some(end) || measures >= MEASURES {
                break;
            }
            measures = measures.saturating_add(1);
            measured_at = Some(end);
            dfa = measure(end);
            if dfa > limits.dfa_bytes {
                return fits.max(start.saturating_add(1));
            }
            fits = end;
            if dfa.saturating_add(added) > limits.dfa_bytes {
                break;
            }
        }
        in_file.extend(own.iter().copied());
        dfa = dfa.saturating_add(added);
        end = end.saturating_add(1);
        if measured_at.is_none() && dfa <= limits.dfa_bytes {
            fits = end;
        }
    }
    if measured_at.is_some() && fits < end && measure(end) > limits.dfa_bytes {
        return fits.max(start.saturating_add(1));
    }
    end
}

/// The instances at the positions `keyed` names, in id order.
fn in_id_order(instances: &[InstanceSpec], keyed: &[Keyed]) -> Vec<InstanceSpec> {
    let mut out: Vec<InstanceSpec> = keyed
        .iter()
        .filter_map(|k| instances.get(k.1).cloned())
        .collect();
    out.sort_by_key(|i| i.id);
    out
}

#[cfg(test)]
mod tests;
