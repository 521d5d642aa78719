//! The key part of driver/build.rs: compiles in the trusted content-signing keys
//! (`CHANGUARD_TRUSTED_PUBKEYS`). Not wdk-build: nothing here links against the WDK.
//! Unset, the harness trusts the TEST-ONLY key in examples/keys (the tests sign
//! their content with it); the harness never produces a driver image.
include!("../build_keys.rs");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("CHANGUARD_TRUSTED_PUBKEYS").is_none() {
        let dir = std::env::var("CARGO_MANIFEST_DIR")?;
        let key = std::path::Path::new(&dir).join("../../examples/keys/TEST-ONLY-changuard.pub");
        // SAFETY: single-threaded build script; read back by trusted_keys() below.
        unsafe { std::env::set_var("CHANGUARD_TRUSTED_PUBKEYS", key) };
    }
    trusted_keys()
}
