//! Fuzz `changuard import sigma` on one rule file (untrusted input: rule
//! sets come from public repositories): any text imports, or is refused with
//! a reason, never a panic; an imported rule's instances are in the spec, and
//! the spec built from whatever was imported validates (the importer builds
//! and checks every rule before admitting it).
#![no_main]

use changuard_cli::import::import_sources;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let sources = [("fuzz.yml".to_string(), Ok(text.to_string()))];
    // Err only when the assembled spec fails to build or validate, which the
    // per-rule checks exclude: a bug.
    // Two channels, so the spill-over path runs too.
    let imported = import_sources(&sources, 500, 1, 2).expect("imported rules build and validate together");
    assert_eq!(imported.rules.len(), 1, "one report per rule file");
    let listed: usize = imported.rules.iter().map(|r| r.instances.len()).sum();
    let written: usize = imported.channels.iter().map(|c| c.spec.instances.len()).sum();
    assert_eq!(listed, written, "every instance belongs to its rule's report");
    for r in &imported.rules {
        // An imported rule names the channel its instances are in; a refused one none.
        assert_eq!(r.channel.is_some(), !r.instances.is_empty());
    }
});
