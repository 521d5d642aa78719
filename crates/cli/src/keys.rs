//! Key files.
//!
//! - `<name>.key`: the Ed25519 secret seed, 64 lowercase hex characters and a newline.
//! - `<name>.pub`: the Ed25519 public key, 64 lowercase hex characters and a newline.
//!
//! Both are plain text so they can be inspected, diffed and pasted into a
//! provisioning system. The key id that channel files name is the first 8 bytes
//! of SHA-512 of the public key (docs/FORMAT.md).

use changuard_format::TrustedKey;
use changuard_format::build::SigningKey;
use std::path::Path;

fn read_hex32(path: &Path, what: &str) -> Result<[u8; 32], String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read {what}: {e}", path.display()))?;
    let line = text.trim();
    let bytes =
        hex::decode(line).map_err(|e| format!("{}: {what} is not hex: {e}", path.display()))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "{}: {what} must be 32 bytes (64 hex characters), found {}",
            path.display(),
            bytes.len()
        )
    })
}

/// Read a public key file into a trusted key.
pub fn read_public(path: &Path) -> Result<TrustedKey, String> {
    let pk = read_hex32(path, "public key")?;
    Ok(TrustedKey::new(pk))
}

/// Read a secret key file.
pub fn read_secret(path: &Path) -> Result<SigningKey, String> {
    Ok(SigningKey::from_seed(read_hex32(path, "secret key")?))
}

/// Write a fresh key pair as `<dir>/<name>.key` and `<dir>/<name>.pub`.
/// Refuses to overwrite an existing secret key (nothing lost on a typo).
pub fn generate(
    dir: &Path,
    name: &str,
) -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let key = SigningKey::generate();
    let sk = dir.join(format!("{name}.key"));
    let pk = dir.join(format!("{name}.pub"));
    if sk.exists() {
        return Err(format!(
            "{}: exists; refusing to overwrite a secret key",
            sk.display()
        ));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&sk)
        .map_err(|e| format!("{}: {e}", sk.display()))?;
    use std::io::Write;
    writeln!(f, "{}", hex::encode(key.seed())).map_err(|e| format!("{}: {e}", sk.display()))?;
    std::fs::write(&pk, format!("{}\n", hex::encode(key.public())))
        .map_err(|e| format!("{}: {e}", pk.display()))?;
    Ok((sk, pk))
}
