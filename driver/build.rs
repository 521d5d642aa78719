//! Build script: wdk-build reads the WDK configuration from the Cargo metadata
//! above and emits the linker arguments a kernel driver needs (/DRIVER,
//! /INTEGRITYCHECK, /ENTRY:DriverEntry via the KMDF stub, the WDK libraries).
//! It also compiles in the trusted content-signing keys (`build_keys.rs`:
//! `CHANGUARD_TRUSTED_PUBKEYS`).

include!("build_keys.rs");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A test-hooks build can bugcheck on purpose: it must never be the release package.
    if std::env::var_os("CARGO_FEATURE_TEST_HOOKS").is_some() && std::env::var("PROFILE").as_deref() == Ok("release") {
        return Err("the test-hooks feature is refused in the release profile: build the VM test package in the dev profile (cargo make without --release)".into());
    }
    trusted_keys()?;
    wdk_build::configure_wdk_binary_build()?;
    Ok(())
}
