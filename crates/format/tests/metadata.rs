//! The METADATA section (docs/FORMAT.md): the rule an instance came from
//! travels in the signed file, and files without it are unchanged.

mod common;

use changuard_format::build::{ChannelSpec, MetadataSpec, build, raw, sign, to_spec};
use changuard_format::layout::{self, SectionKind};
use changuard_format::{AlignedBytes, Metadata, Rejection, Rule, Trust, validate};
use common::*;

fn sigma_meta() -> MetadataSpec {
    MetadataSpec {
        title: Some("Suspicious Encoded PowerShell Command Line".into()),
        rule_id: Some("ca2092a1-c273-4878-9b4b-0d60115bf5ea".into()),
        author: Some("Florian Roth (Nextron Systems)".into()),
        reference: None,
    }
}

fn with_metadata() -> ChannelSpec {
    let mut s = spec();
    s.instances[1].metadata = sigma_meta();
    s
}

fn check(bytes: &[u8]) -> Result<(), Rejection> {
    let buf = AlignedBytes::from_slice(bytes);
    let keys = trusted();
    validate(&buf[..], &Trust::new(&keys), CHANNEL).map(|_| ())
}

#[test]
fn metadata_comes_back_per_instance_and_round_trips() {
    let spec = with_metadata();
    let buf = AlignedBytes::from_slice(&build(&spec, &key()).unwrap());
    let keys = trusted();
    let chan = validate(&buf[..], &Trust::new(&keys), CHANNEL).expect("valid");
    let m = chan.instance(1).unwrap().metadata();
    assert_eq!(
        m,
        Metadata {
            title: Some("Suspicious Encoded PowerShell Command Line"),
            rule_id: Some("ca2092a1-c273-4878-9b4b-0d60115bf5ea"),
            author: Some("Florian Roth (Nextron Systems)"),
            reference: None,
        }
    );
    assert!(chan.instance(0).unwrap().metadata().is_empty());
    assert_eq!(to_spec(&chan).unwrap(), spec);
    let (_, _, n) = raw::section(&buf[..], SectionKind::Metadata).expect("a fifth section");
    assert_eq!(n, 4, "one record per instance");
}

#[test]
fn content_without_metadata_has_exactly_the_four_sections() {
    let b = built();
    assert!(raw::section(&b, SectionKind::Metadata).is_none());
    let count = u32::from_le_bytes(b[20..24].try_into().unwrap());
    assert_eq!(count, 4);
    // Metadata costs bytes only in the files that carry it.
    assert!(build(&with_metadata(), &key()).unwrap().len() > b.len());
}

/// Offset of field `r` of instance `i`'s METADATA record.
fn field_at(b: &[u8], i: usize, r: std::ops::Range<usize>) -> usize {
    let (off, _, _) = raw::section(b, SectionKind::Metadata).unwrap();
    off + i * layout::METADATA_LEN + r.start
}

#[test]
fn a_section_that_names_nothing_is_rejected() {
    let mut b = build(&with_metadata(), &key()).unwrap();
    for r in layout::metadata::ALL {
        let at = field_at(&b, 1, r);
        b[at..at + 4].copy_from_slice(&layout::NO_STRING.to_le_bytes());
    }
    sign(&mut b, &key()).unwrap();
    let r = check(&b).unwrap_err();
    let entry = raw::section_entry(&b, SectionKind::Metadata).unwrap();
    assert_eq!(
        (r.rule, r.offset),
        (Rule::MetadataMismatch, entry as u64),
        "{r}"
    );
}

#[test]
fn metadata_string_indexes_are_checked() {
    let mut b = build(&with_metadata(), &key()).unwrap();
    let at = field_at(&b, 1, layout::metadata::AUTHOR);
    b[at..at + 4].copy_from_slice(&1_000_000u32.to_le_bytes());
    sign(&mut b, &key()).unwrap();
    let r = check(&b).unwrap_err();
    assert_eq!(
        (r.rule, r.offset, r.found, r.instance),
        (Rule::StringOutOfRange, at as u64, 1_000_000, Some(1)),
        "{r}"
    );
    // The title's string named before anything uses the one before it: out of
    // first-use order (metadata strings are numbered after the criteria's).
    let mut b = build(&with_metadata(), &key()).unwrap();
    let title = field_at(&b, 1, layout::metadata::TITLE);
    let author = field_at(&b, 1, layout::metadata::AUTHOR);
    let (t, a) = (b[title], b[author]);
    b[title] = a;
    b[author] = t;
    sign(&mut b, &key()).unwrap();
    let r = check(&b).unwrap_err();
    assert_eq!(
        (r.rule, r.offset),
        (Rule::FirstUseOrder, title as u64),
        "{r}"
    );
}
