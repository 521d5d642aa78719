//! The publishing pipeline's deep check: what runs is what is shown.
//!
//! The validator proves a DFA is well formed, not that it is the DFA of the
//! regex source the file shows next to it: the kernel cannot compile regexes.
//! A signer could point a DFA's pattern index at any other string, and
//! `inspect` (and a reviewer) would read a source the driver never runs. This
//! check recompiles every DFA's source with the pinned builder (the one way
//! [`crate::build::build`] compiles) and requires the serialized DFA and the
//! required-literal hint to be byte for byte what the builder emits, and no
//! string or (pattern, case) DFA to appear twice (the writer deduplicates; a
//! duplicate is a second encoding the kernel validator cannot afford to look
//! for). A regex group's DFA must be its members' sources compiled together,
//! in entry order (docs/FORMAT.md, "Regex groups"). It needs std and regex-syntax: host tools only (`changuard validate
//! --deep`).

use std::collections::HashMap;
use std::string::String;

use crate::ValidChannel;
use crate::build::group::compile_group;
use crate::build::{LiteralHint, compile_regex, literal_hint};

/// The first DFA that is not what its shown source compiles to (or the
/// first duplicate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeepMismatch {
    /// DFA index (`u32::MAX` for a duplicate string).
    pub dfa: u32,
    /// The source the file shows for it.
    pub pattern: String,
    /// What differs.
    pub what: Difference,
}

/// How a DFA differs from its source's compilation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// The serialized DFA: first differing byte (offset in the blob), or the
    /// shorter length when one is a prefix of the other.
    DfaBytes {
        /// Offset in the blob.
        at: usize,
    },
    /// The required-literal hint (text, folded): signed vs rebuilt.
    Literal {
        /// The file's hint.
        signed: Option<LiteralHint>,
        /// The builder's.
        rebuilt: Option<LiteralHint>,
    },
    /// The builder cannot compile the source at all.
    Uncompilable(String),
    /// The same string (or the same pattern and case for a DFA) appears
    /// again at this index: the writer would have reused the first.
    Duplicate {
        /// The string index (for a string) or the DFA index (for a DFA).
        index: u32,
        /// The first one.
        first: u32,
    },
    /// The validated file did not decode (a validator bug; fail closed).
    Undecodable,
}

impl core::fmt::Display for DeepMismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (d, p) = (self.dfa, &self.pattern);
        match &self.what {
            Difference::DfaBytes { at } => write!(
                f,
                "DFA {d} is not the DFA of its shown source `{p}` (first difference at blob byte {at}): \
                 what runs is not what inspect shows"
            ),
            Difference::Literal { signed, rebuilt } => write!(
                f,
                "DFA {d} (source `{p}`) carries the literal hint {signed:?}; its source gives {rebuilt:?}"
            ),
            Difference::Uncompilable(e) => {
                write!(f, "DFA {d}: its source `{p}` does not compile: {e}")
            }
            Difference::Duplicate { index, first } => write!(
                f,
                "`{p}` appears twice (index {index} repeats index {first}): the writer stores it once"
            ),
            Difference::Undecodable => write!(f, "DFA {d} did not decode (validator bug)"),
        }
    }
}

/// Recompile every DFA of `v` from its source; `Ok(n)`: all `n` DFAs are
/// exactly the builder's output for their sources (and literal hints).
///
/// # Errors
/// The first DFA that differs, and how.
pub fn deep_check<B: AsRef<[u8]>>(v: &ValidChannel<B>) -> Result<u32, DeepMismatch> {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for s in 0..v.string_count() {
        let text = v.string(s).unwrap_or("");
        if let Some(&first) = seen.get(text) {
            return Err(DeepMismatch {
                dfa: u32::MAX,
                pattern: text.into(),
                what: Difference::Duplicate { index: s, first },
            });
        }
        seen.insert(text, s);
    }
    let mut sources: HashMap<(&str, bool), u32> = HashMap::new();
    let n = v.dfa_count();
    for i in 0..n {
        let undecodable = |pattern: &str| DeepMismatch {
            dfa: i,
            pattern: pattern.into(),
            what: Difference::Undecodable,
        };
        let pattern = v.dfa_pattern(i).ok_or_else(|| undecodable(""))?;
        let ci = v
            .dfa_case_insensitive(i)
            .ok_or_else(|| undecodable(pattern))?;
        let shown = v.dfa_bytes(i).ok_or_else(|| undecodable(pattern))?;
        let mismatch = |what| DeepMismatch {
            dfa: i,
            pattern: pattern.into(),
            what,
        };
        if let Some(&first) = sources.get(&(pattern, ci)) {
            return Err(mismatch(Difference::Duplicate { index: i, first }));
        }
        sources.insert((pattern, ci), i);
        let group = v.dfa_group(i).ok_or_else(|| undecodable(pattern))?;
        let rebuilt = match group {
            // A group's DFA is its members' sources compiled together, in
            // entry order; checked once, at its first member.
            Some(g) if g.pattern == 0 => {
                let mut members = std::vec::Vec::new();
                let mut j = i;
                while v.dfa_group(j).flatten().is_some_and(|h| h.first == i) {
                    members.push(v.dfa_pattern(j).ok_or_else(|| undecodable(pattern))?);
                    j = j.saturating_add(1);
                }
                compile_group(&members, ci, usize::MAX)
                    .map_err(|e| mismatch(Difference::Uncompilable(e)))?
            }
            Some(_) => shown.to_vec(),
            None => compile_regex(pattern, ci)
                .map_err(|(_, e)| mismatch(Difference::Uncompilable(e)))?,
        };
        if rebuilt != shown {
            let at = rebuilt
                .iter()
                .zip(shown)
                .position(|(a, b)| a != b)
                .unwrap_or(rebuilt.len().min(shown.len()));
            return Err(mismatch(Difference::DfaBytes { at }));
        }
        let signed = v
            .dfa_literal(i)
            .ok_or_else(|| undecodable(pattern))?
            .map(|l| LiteralHint {
                text: String::from(l.text),
                folded: l.folded,
                set: l.set,
            });
        // The hint is the regex's own (single-pattern DFA), grouped or not.
        let want = literal_hint(pattern, ci, || match group {
            None => Some(rebuilt.clone()),
            Some(_) => compile_regex(pattern, ci).ok(),
        });
        if signed != want {
            return Err(mismatch(Difference::Literal {
                signed,
                rebuilt: want,
            }));
        }
    }
    Ok(n)
}
