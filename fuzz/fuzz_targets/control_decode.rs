//! Fuzz every decoder of the control-device wire format (untrusted input from
//! user mode): any bytes must decode to Ok or a precise Err, never panic, and
//! whatever decodes must re-encode to the same bytes.
#![no_main]

use changuard_control::{reload, status, submit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the decoder so one corpus covers all of them.
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 4 {
        0 => {
            if let Ok(reply) = status::decode_status(rest) {
                let mut buf = [0u8; status::MAX_REPLY_LEN];
                let n = status::encode_status(&reply.driver, reply.channels(), reply.decision_list(), &mut buf)
                    .expect("a decoded reply re-encodes");
                // The encoder writes the current version (3, with the recent
                // decisions); an older reply (still decoded, no decisions)
                // round-trips in meaning, a current one byte for byte.
                if reply.version == status::STATUS_VERSION {
                    assert_eq!(&buf[..n], rest, "status reply round-trip");
                } else {
                    let again = status::decode_status(&buf[..n]).expect("the re-encoding decodes");
                    assert_eq!(again.driver, reply.driver, "status reply round-trip (older version)");
                    assert_eq!(again.channels(), reply.channels(), "status reply round-trip (older version)");
                    assert!(again.decisions().is_empty() && reply.decisions().is_empty());
                }
                // A buffer sized for version 2 (an older CLI) gets version 2, which decodes
                // to the same driver and channel status.
                let v2 = n.min(status::MAX_REPLY_LEN_V2).min(
                    status::HEADER_LEN + status::MEMORY_LEN + status::RECORD_LEN * reply.channels().len(),
                );
                if let Ok(m) = status::encode_status(&reply.driver, reply.channels(), reply.decision_list(), &mut buf[..v2]) {
                    let old = status::decode_status(&buf[..m]).expect("the version 2 encoding decodes");
                    assert_eq!(old.channels(), reply.channels(), "version 2 fallback");
                    assert_eq!(old.driver, reply.driver, "version 2 fallback");
                }
            }
        }
        1 => {
            if let Ok(ev) = submit::decode_submit(rest) {
                let mut buf = vec![0u8; submit::MAX_REQUEST_LEN];
                let n = submit::encode_submit(ev.template_id, ev.fields(), &mut buf)
                    .expect("a decoded request re-encodes");
                assert_eq!(&buf[..n], rest, "submit request round-trip");
            }
        }
        2 => {
            if let Ok(r) = submit::decode_reply(rest) {
                let mut buf = [0u8; submit::REPLY_LEN];
                submit::encode_reply(&r, &mut buf).expect("a decoded reply re-encodes");
                assert_eq!(&buf[..], rest, "submit reply round-trip");
            }
        }
        _ => {
            let _ = reload::decode_reload(rest);
        }
    }
});
