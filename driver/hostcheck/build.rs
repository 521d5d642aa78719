//! Same trusted-key generation as the driver (no WDK needed).
include!("../build_keys.rs");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    trusted_keys()
}
