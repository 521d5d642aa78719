//! Fuzz what the driver does with values it copies out of the kernel (a
//! token's SIDs, a process's image name): any bytes give text or `None`,
//! never a panic or a write past the buffer, and the results keep their
//! promises (SID text only for a well-formed SID; image names transcoded
//! within the cap, as valid UTF-8).
#![no_main]

use changuard_sensor::kernel_values::{SID_TEXT_CAP, image_path, integrity_rid, sid_len, sid_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = [0u8; SID_TEXT_CAP];
    match sid_text(data, &mut out) {
        Some(t) => {
            assert!(sid_len(data).is_some());
            assert!(t.starts_with("S-1-"));
        }
        None => assert!(sid_len(data).is_none()),
    }
    if integrity_rid(data).is_some() {
        assert!(sid_len(data).is_some());
    }
    let units: Vec<u16> = data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    for cap in [0, 1, 3, 64, 1024] {
        let mut buf = vec![0u8; cap];
        let (text, _) = image_path(&units, &mut buf);
        assert!(text.len() <= cap);
    }
});
