//! Shared test helpers: the TEST-ONLY signing key, content, IOCTL encoding, status.
#![allow(dead_code)]
pub mod content;
pub mod kit;
pub mod scenario;

use changuard_control::status::{StatusReply, decode_status, MAX_REPLY_LEN};
use changuard_control::{IOCTL_QUERY_STATUS, IOCTL_RELOAD, IOCTL_SUBMIT_EVENT, reload, submit};
use changuard_format::build::SigningKey;
use changuard_kmodel::{Machine, Session};

pub use changuard_kmodel::registry::PARAMETERS_KEY;

/// The driver under test.
pub const ENTRY: changuard_kmodel::DriverEntry = changuard::driver_entry;

/// Content directory the tests configure (an allowed root the driver can open).
pub const CONTENT_DIR: &str = "\\SystemRoot\\changuard\\content";

/// The TEST-ONLY key pair in examples/keys (the harness build trusts its public key).
pub fn test_key() -> SigningKey {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/keys/TEST-ONLY-changuard.key"))
        .expect("examples/keys/TEST-ONLY-changuard.key");
    // The v1 key file (`changuard keygen`): the seed is on its `seed:` line.
    let hex = text.lines().find_map(|l| l.trim().strip_prefix("seed:")).map_or(text.trim(), str::trim);
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex key");
    }
    SigningKey::from_seed(seed)
}

/// A machine whose Parameters point the driver at [`CONTENT_DIR`].
pub fn machine() -> Machine {
    let mut m = Machine::new();
    m.persist.registry.set_sz(PARAMETERS_KEY, "ContentDirectory", CONTENT_DIR);
    m.persist.registry.set_dword(PARAMETERS_KEY, "HealthWindowSeconds", 60);
    m.persist.fs.mkdir_p(CONTENT_DIR);
    m
}

/// `IOCTL_QUERY_STATUS`, decoded.
pub fn status(s: &mut Session) -> StatusReply {
    let r = s.ioctl("QUERY_STATUS", IOCTL_QUERY_STATUS, &[], MAX_REPLY_LEN).expect("control device");
    assert_eq!(r.status, 0, "QUERY_STATUS status {:#x}", r.status);
    decode_status(&r.output).expect("status reply decodes")
}

/// `IOCTL_RELOAD`: the completion status.
pub fn reload(s: &mut Session) -> i32 {
    let mut buf = [0u8; reload::RELOAD_REQUEST_LEN];
    let n = reload::encode_reload(&mut buf).expect("encode reload");
    s.ioctl("RELOAD", IOCTL_RELOAD, &buf[..n], 0).expect("control device").status
}

/// `IOCTL_SUBMIT_EVENT`: (status, decoded reply).
pub fn submit_event(s: &mut Session, template: u16, fields: &[submit::FieldValue<'_>]) -> (i32, Option<submit::SubmitReply>) {
    let mut buf = vec![0u8; submit::MAX_REQUEST_LEN];
    let n = submit::encode_submit(template, fields, &mut buf).expect("encode submit");
    let r = s.ioctl("SUBMIT_EVENT", IOCTL_SUBMIT_EVENT, &buf[..n], submit::REPLY_LEN).expect("control device");
    let reply = (r.status == 0).then(|| submit::decode_reply(&r.output).expect("reply decodes"));
    (r.status, reply)
}
