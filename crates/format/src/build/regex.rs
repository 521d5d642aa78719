//! Regexes compiled the one way changuard compiles them.

use std::string::{String, ToString};
use std::vec::Vec;

use crate::limits;

/// The one syntax configuration changuard compiles (and analyses) regexes with.
pub(crate) fn syntax_config(ci: bool) -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new()
        .unicode(true)
        .utf8(true)
        .case_insensitive(ci)
}

/// Compile `pattern` the one way changuard compiles regexes; the serialized
/// little-endian DFA without leading padding.
pub(crate) fn compile_regex(pattern: &str, ci: bool) -> Result<Vec<u8>, (bool, String)> {
    let limit = limits::MAX_DFA_LEN as usize;
    let dfa = dense_dfa(pattern, ci)?;
    let (bytes, pad) = dfa.to_bytes_little_endian();
    let blob = bytes.get(pad..).unwrap_or(&[]).to_vec();
    if blob.len() > limit {
        return Err((true, String::from("serialized DFA too large")));
    }
    Ok(blob)
}

/// The dense DFA [`compile_regex`] serializes.
pub(super) fn dense_dfa(
    pattern: &str,
    ci: bool,
) -> Result<regex_automata::dfa::dense::DFA<Vec<u32>>, (bool, String)> {
    use regex_automata::dfa::{StartKind, dense};
    use regex_automata::nfa::thompson;
    let limit = limits::MAX_DFA_LEN as usize;
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Unanchored)
                .dfa_size_limit(Some(limit))
                .determinize_size_limit(Some(limit)),
        )
        .syntax(syntax_config(ci))
        .thompson(thompson::Config::new().nfa_size_limit(Some(limit)))
        .build(pattern)
        .map_err(|e| (is_size_limit(&e), error_chain(&e)))
}

/// The DFA's size limit, or the NFA's on the way there (regex-automata
/// reports the latter as a bare "error building NFA").
fn is_size_limit(e: &regex_automata::dfa::dense::BuildError) -> bool {
    use regex_automata::nfa::thompson;
    use std::error::Error as _;
    e.is_size_limit_exceeded()
        || e.source()
            .and_then(|s| s.downcast_ref::<thompson::BuildError>())
            .is_some_and(|n| n.size_limit().is_some())
}

/// An error with its causes: "error building NFA: ..." says why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// `pattern` parsed as [`build`] compiles it.
pub(super) fn parse(pattern: &str, case_insensitive: bool) -> Option<regex_syntax::hir::Hir> {
    regex_automata::util::syntax::parse_with(pattern, &syntax_config(case_insensitive)).ok()
}

/// `f` on the DFA serialized in `blob` (as [`compile_regex`] and the group
/// planner write it), or `None` when it does not deserialize.
pub(crate) fn with_dfa<R>(
    blob: &[u8],
    f: impl FnOnce(&regex_automata::dfa::dense::DFA<&[u32]>) -> R,
) -> Option<R> {
    let aligned = crate::AlignedBytes::from_slice(blob);
    let (dfa, _) = regex_automata::dfa::dense::DFA::from_bytes(aligned.as_slice()).ok()?;
    Some(f(&dfa))
}
