//! Fuzz the PE version-resource parser (untrusted input: any process can start
//! any file): any bytes as a file give version strings or `None`, never a
//! panic, and every string is a slice of the resource section it came from.
#![no_main]

use changuard_sensor::version_info::{resource_section, strings, version_info};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(at) = resource_section(data) {
        let start = at.file_offset as usize;
        if let Some(section) = data.get(start..start.saturating_add(at.len as usize)) {
            if let Some(v) = strings(&at, section) {
                for s in [v.original_filename, v.company_name, v.product_name, v.file_description, v.file_version]
                    .into_iter()
                    .flatten()
                {
                    let range = section.as_ptr_range();
                    assert!(range.contains(&s.as_ptr()) || s.is_empty());
                }
            }
        }
    }
    // The version block alone, as the data entry would hand it over.
    let _ = version_info(data);
});
