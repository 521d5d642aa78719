//! Build script: wdk-build reads the WDK configuration from the Cargo metadata
//! above and emits the linker arguments a kernel driver needs (/DRIVER,
//! /INTEGRITYCHECK, /ENTRY:DriverEntry via the KMDF stub, the WDK libraries).
//! It also compiles in the trusted content-signing keys (`build_keys.rs`:
//! `CHANGUARD_TRUSTED_PUBKEYS`).

include!("build_keys.rs");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    trusted_keys()?;
    wdk_build::configure_wdk_binary_build()?;
    Ok(())
}
