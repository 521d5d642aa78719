//! Test DFAs with bytes the writer never emits, for paths only such files
//! reach.

use alloc::vec::Vec;

use changuard_format::AlignedBytes;
use changuard_format::layout::dfa_blob;
use changuard_format::regex_automata::dfa::{StartKind, dense};
use changuard_format::regex_automata::nfa::thompson;
use changuard_format::regex_automata::util::syntax;

/// A serialized DFA for `(?-u:\xC3)`, whose one match ends inside the UTF-8
/// character `é` (C3 A9), with flag bits 0 and 1 (has-empty, UTF-8) set
/// although the pattern matches no empty string and is not UTF-8:
/// regex-automata's search then skips that match, and a walk of the
/// transitions finds it. Load it with `DFA::from_bytes`.
pub(crate) fn split_match_claiming_utf8_empty() -> AlignedBytes {
    let dfa = dense::Builder::new()
        .configure(dense::Config::new().start_kind(StartKind::Unanchored))
        .syntax(syntax::Config::new().utf8(false))
        .thompson(thompson::Config::new().utf8(false))
        .build(r"(?-u:\xC3)")
        .expect("byte DFA");
    let (bytes, pad) = dfa.to_bytes_little_endian();
    let mut blob: Vec<u8> = bytes.get(pad..).expect("padding").to_vec();
    // Bits 0 and 1 of the little-endian flag word: its first byte.
    if let Some(flags) = blob.get_mut(dfa_blob::FLAGS.start) {
        *flags |= 0b11;
    }
    AlignedBytes::from_slice(&blob)
}
