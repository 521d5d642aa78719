//! Build script: wdk-build reads the WDK configuration from the Cargo metadata
//! above and emits the linker arguments a kernel driver needs (/DRIVER,
//! /INTEGRITYCHECK, /ENTRY:DriverEntry via the KMDF stub, the WDK libraries).

fn main() -> Result<(), wdk_build::ConfigError> {
    wdk_build::configure_wdk_binary_build()
}
