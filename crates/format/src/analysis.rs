//! The cost of the interpreter's load-time literal proof, in one place: the
//! interpreter charges it against its per-DFA cap
//! ([`limits::LITERAL_PROOF_STEPS`]) and its per-build budget, and the writer
//! uses it to choose only hints the interpreter will prove (a hint over the
//! cap leaves its regex on the every-event list, which costs more than a
//! shorter literal would have).
//!
//! The proof walks the product of the DFA with the Aho-Corasick automaton of
//! the members (docs/PERFORMANCE.md, "How an event is evaluated"): at most
//! `states * trie nodes` pairs, each tried on every letter of its alphabet.
//! No allocation: this runs in the kernel.
//!
//! Also the walk over a DFA's special states that the validator (accelerator
//! check) and the interpreter (watch states) share: [`special_states`].

use regex_automata::dfa::Automaton;
use regex_automata::dfa::dense::DFA;
use regex_automata::util::primitives::StateID;

use crate::limits;

/// More than a DFA of `limits::MAX_DFA_LEN` bytes has states (each state is
/// at least one 4-byte transition): the most steps [`special_states`] takes.
pub const MAX_DFA_STATES: usize = limits::MAX_DFA_LEN as usize / 4 + 1;

/// The special states of `dfa` in id order, each with its index.
/// regex-automata numbers them before every other state (the dead state, the
/// quit state, match states, then accelerated and start states), and its
/// checked deserialization keeps every kind at or below the last special
/// state. One step per state, at most [`MAX_DFA_STATES`].
pub fn special_states<'d>(dfa: &'d DFA<&[u32]>) -> impl Iterator<Item = (usize, StateID)> + 'd {
    let stride2 = u32::try_from(dfa.stride2()).unwrap_or(u32::MAX);
    (0..MAX_DFA_STATES)
        .map_while(move |k| Some((k, StateID::new(k.checked_shl(stride2)?).ok()?)))
        .take_while(|&(_, id)| dfa.is_special_state(id))
}

/// States the proof counts for `dfa`: its transition table's rows, plus one.
pub fn dfa_states(dfa: &DFA<&[u32]>) -> usize {
    let stride2 = u32::try_from(dfa.stride2()).unwrap_or(u32::MAX);
    (dfa.memory_usage() / 4)
        .checked_shr(stride2)
        .unwrap_or(0)
        .saturating_add(1)
}

/// The proof's alphabet for `dfa` and `lits`: the distinct pairs (byte
/// class, column), where a byte's column is its (ASCII-lower-cased when
/// `folded`) value if some member holds that value, and "other" for the
/// rest. One representative byte per pair is tried from every product state.
pub fn literal_proof_alphabet(dfa: &DFA<&[u32]>, lits: &[&[u8]], folded: bool) -> usize {
    let fold = |b: u8| if folded { b.to_ascii_lowercase() } else { b };
    let bit = |set: &[u64; 4], b: u8| {
        set.get(usize::from(b >> 6))
            .is_some_and(|w| w & (1u64 << (b & 63)) != 0)
    };
    let put = |set: &mut [u64; 4], b: u8| {
        if let Some(w) = set.get_mut(usize::from(b >> 6)) {
            *w |= 1u64 << (b & 63);
        }
    };
    let mut member = [0u64; 4];
    for l in lits {
        for &b in *l {
            put(&mut member, fold(b));
        }
    }
    let classes = dfa.byte_classes();
    // Classes (at most 256, so a byte each) with a non-member byte.
    let mut other = [0u64; 4];
    let mut n = 0usize;
    for b in 0..=255u8 {
        let (k, f) = (classes.get(b), fold(b));
        if !bit(&member, f) {
            if !bit(&other, k) {
                put(&mut other, k);
                n = n.saturating_add(1);
            }
            continue;
        }
        // A member column: counted once per class, at its folded byte (or
        // at this byte when that one lies in another class).
        if f == b || classes.get(f) != k {
            n = n.saturating_add(1);
        }
    }
    n
}

/// The nodes of the members' trie (the Aho-Corasick automaton's states):
/// one per distinct non-empty prefix, compared ASCII case-insensitively when
/// `folded`, plus the root. Members sharing a prefix share its nodes:
/// `http://0` .. `http://9` are 18 nodes, not 81. Quadratic in the members
/// (at most 64 of them at load), without allocation.
pub fn literal_trie_nodes(lits: &[&[u8]], folded: bool) -> usize {
    let same = |a: u8, b: u8| {
        if folded {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let mut nodes = 1usize;
    for (i, m) in lits.iter().enumerate() {
        // The longest prefix of `m` an earlier member already put in the trie.
        let shared = lits
            .get(..i)
            .unwrap_or(&[])
            .iter()
            .map(|o| {
                m.iter()
                    .zip(o.iter())
                    .take_while(|(a, b)| same(**a, **b))
                    .count()
            })
            .max()
            .unwrap_or(0);
        nodes = nodes.saturating_add(m.len().saturating_sub(shared));
    }
    nodes
}

/// The steps of proving that every match of `dfa` contains a member of
/// `lits` (saturating): `states * trie nodes * alphabet`.
pub fn literal_proof_steps(dfa: &DFA<&[u32]>, lits: &[&[u8]], folded: bool) -> usize {
    dfa_states(dfa)
        .saturating_mul(literal_trie_nodes(lits, folded))
        .saturating_mul(literal_proof_alphabet(dfa, lits, folded))
}

/// Whether the interpreter proves `lits` on `dfa` within its per-DFA cap
/// (its per-build budget aside, which depends on the other content loaded).
pub fn literal_proof_fits(dfa: &DFA<&[u32]>, lits: &[&[u8]], folded: bool) -> bool {
    literal_proof_steps(dfa, lits, folded) <= limits::LITERAL_PROOF_STEPS
}
