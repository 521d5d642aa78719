//! Raw bytes -> `validate`. Seeded (fuzz/seeds/validate_raw) with valid files
//! signed by the fixed fuzz key, so mutations start from deep, valid content;
//! each input is also validated a second time with its header length and
//! trailer key id fixed up, so the fuzzer need not rediscover them.
#![no_main]

#[path = "common.rs"]
mod common;

use changuard_format::layout;
use changuard_format::{AlignedBytes, Trust, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = common::trusted();
    let trust = Trust::new(&keys);
    let buf = AlignedBytes::from_slice(data);
    if let Ok(v) = validate(&buf[..], &trust, common::FUZZ_CHANNEL) {
        common::walk(&v);
    }

    if data.len() < layout::MIN_FILE_LEN {
        return;
    }
    let mut fixed = data.to_vec();
    let len = fixed.len() as u64;
    fixed[layout::header::FILE_LEN].copy_from_slice(&len.to_le_bytes());
    let t = fixed.len() - layout::TRAILER_LEN;
    fixed[t..t + 8].copy_from_slice(&common::key().key_id().0);
    let buf = AlignedBytes::from_slice(&fixed);
    if let Ok(v) = validate(&buf[..], &trust, common::FUZZ_CHANNEL) {
        common::walk(&v);
    }
});
