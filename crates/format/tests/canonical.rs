//! One encoding per content (issue 13): each test re-encodes valid content
//! without changing what it means, re-signs it, and expects the rule that
//! pins the canonical encoding. Before these rules every variant validated.

mod common;

use changuard_format::build::{raw, resign, sign};
use changuard_format::layout::{self, SectionKind};
use changuard_format::{AlignedBytes, Rejection, Rule, Trust, validate};
use common::*;

fn check(bytes: &[u8]) -> Result<(), Rejection> {
    let buf = AlignedBytes::from_slice(bytes);
    let keys = trusted();
    validate(&buf[..], &Trust::new(&keys), CHANNEL).map(|_| ())
}

#[track_caller]
fn expect(b: &[u8], rule: Rule, offset: usize) -> Rejection {
    let r = check(b).expect_err("a second encoding must be rejected");
    assert_eq!((r.rule, r.offset), (rule, offset as u64), "{r}");
    r
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    assert!(raw::put(b, at, &v.to_le_bytes()));
}

/// The same sections, laid out (table and body) in `order`.
fn relayout(b: &[u8], order: [SectionKind; 4]) -> Vec<u8> {
    let table_end = layout::HEADER_LEN + 4 * layout::SECTION_ENTRY_LEN;
    let mut out = b[..table_end].to_vec();
    for (k, kind) in order.iter().enumerate() {
        let (off, len, count) = raw::section(b, *kind).unwrap();
        while out.len() % layout::SECTION_ALIGN != 0 {
            out.push(0);
        }
        let e = layout::HEADER_LEN + k * layout::SECTION_ENTRY_LEN;
        let at = out.len();
        out.extend_from_slice(&b[off..off + len]);
        assert!(raw::put(&mut out, e, &kind.code().to_le_bytes()));
        put_u32(&mut out, e + layout::section::OFFSET.start, at as u32);
        put_u32(&mut out, e + layout::section::LENGTH.start, len as u32);
        put_u32(&mut out, e + layout::section::COUNT.start, count);
    }
    out.extend_from_slice(&[0; layout::TRAILER_LEN]);
    resign(&mut out, &key()).unwrap();
    out
}

#[test]
fn sections_in_another_order() {
    let b = built();
    // The relayout itself is faithful: the canonical order reproduces the file.
    assert_eq!(relayout(&b, SectionKind::ALL), b);
    let moved = relayout(
        &b,
        [
            SectionKind::Dfas,
            SectionKind::Strings,
            SectionKind::Criteria,
            SectionKind::Instances,
        ],
    );
    let r = expect(&moved, Rule::SectionOrder, layout::HEADER_LEN);
    assert_eq!((r.expected, r.found), (1, 4));
    // A table entry swap alone is caught at the first out-of-place entry.
    let moved = relayout(
        &b,
        [
            SectionKind::Instances,
            SectionKind::Criteria,
            SectionKind::Dfas,
            SectionKind::Strings,
        ],
    );
    expect(&moved, Rule::SectionOrder, layout::HEADER_LEN + 32);
}

#[test]
fn folded_flag_cleared_on_a_folded_string() {
    let mut b = built();
    let (_, _, count) = raw::section(&b, SectionKind::Strings).unwrap();
    // The regex source: lower-case, used by no case-insensitive criterion.
    let pattern = br"(?i)mimikatz|lsass\.dmp";
    let i = (0..count as usize)
        .find(|&i| {
            let s = raw::string_bytes(&b, i).unwrap();
            b.get(s..s + pattern.len()) == Some(&pattern[..])
        })
        .expect("fixture has the pattern string");
    let flags = raw::string_entry(&b, i).unwrap() + layout::string_entry::FLAGS.start;
    assert_eq!(b[flags], 1, "the writer marks it FOLDED");
    b[flags] = 0;
    sign(&mut b, &key()).unwrap();
    let r = expect(&b, Rule::FoldedFlagMismatch, flags);
    assert_eq!((r.expected, r.found), (1, 0));
}

/// Every DFA byte regex-automata reads but does not check, edited alone.
#[test]
fn dfa_bytes_from_bytes_does_not_check() {
    let b = built();
    let blob = raw::dfa_blob(&b, 0).unwrap();
    // Label NUL padding (bytes 30, 31), the unused word, unknown flag bits.
    for (at, v) in [
        (blob + 30, 1u8),
        (blob + 31, 0x80),
        (blob + layout::dfa_blob::UNUSED.start, 1),
        (blob + layout::dfa_blob::UNUSED.start + 3, 0x10),
        (blob + layout::dfa_blob::FLAGS.start, 0x08),
        (blob + layout::dfa_blob::FLAGS.start + 3, 0x80),
    ] {
        let mut m = b.clone();
        m[at] = v;
        sign(&mut m, &key()).unwrap();
        let field = if at < blob + 32 {
            at
        } else {
            blob + (at - blob) / 4 * 4
        };
        expect(&m, Rule::DfaNotCanonical, field);
    }
}

#[test]
fn dfa_with_leading_zero_padding() {
    let b = built();
    let (off, len, count) = raw::section(&b, SectionKind::Dfas).unwrap();
    assert_eq!(off + len, b.len() - layout::TRAILER_LEN, "DFAS is last");
    let last = count as usize - 1;
    let blob = raw::dfa_blob(&b, last).unwrap();
    let entry = raw::dfa_entry(&b, last).unwrap();
    // Four zero bytes before the last DFA: from_bytes skips them and the DFA
    // proper stays 4-aligned, so only the canonical-prefix check notices.
    let mut m = b[..blob].to_vec();
    m.extend_from_slice(&[0; 4]);
    m.extend_from_slice(&b[blob..b.len() - layout::TRAILER_LEN]);
    m.extend_from_slice(&[0; layout::TRAILER_LEN]);
    let dlen = u32_at(&m, entry + layout::dfa_entry::LEN.start);
    put_u32(&mut m, entry + layout::dfa_entry::LEN.start, dlen + 4);
    let e = raw::section_entry(&m, SectionKind::Dfas).unwrap();
    put_u32(&mut m, e + layout::section::LENGTH.start, len as u32 + 4);
    resign(&mut m, &key()).unwrap();
    let r = expect(&m, Rule::DfaNotCanonical, blob);
    assert_eq!((r.expected, r.found), (u64::from(b'r'), 0));
}

#[test]
fn unknown_key_names_the_key_id() {
    let mut b = built();
    let other = changuard_format::build::SigningKey::from_seed([9; 32]);
    sign(&mut b, &other).unwrap();
    let r = expect(&b, Rule::UnknownKey, raw::trailer(&b).unwrap());
    assert_eq!(r.found.to_be_bytes(), other.key_id().0);
    assert!(
        r.to_string()
            .contains(&format!("key id {:016x} is not trusted", r.found)),
        "{r}"
    );
}
