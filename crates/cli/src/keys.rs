//! Key files: self-describing, so a secret key and a public key cannot be
//! passed for each other (docs/FORMAT.md, "Key files").
//!
//! - `<name>.key`, secret (mode 0600):
//!   `changuard secret signing key v1` / `key-id: <16 hex>` / `seed: <64 hex>`
//! - `<name>.pub`, public:
//!   `changuard public key v1` / `key-id: <16 hex>` / `public-key: <64 hex>`
//!
//! A key made with `keygen --test-only` has a fourth line in both files,
//! `purpose: test-only`: the validator accepts the `test-crash` action only
//! from a key trusted with that mark (rule `test-action-needs-test-key`).
//!
//! One `name: value` per line, in that order, newline-terminated. The key id
//! (the first 8 bytes of SHA-512 of the public key, as channel file trailers
//! name it) is checked against the key on read, so an edited file is refused.
//!
//! The old format, 64 bare hex digits, is still read (examples/keys and the
//! driver's build use it), but it does not say which kind it is: only the file
//! extension decides (`.key` secret, `.pub` public), and any other name is
//! refused as ambiguous.

use changuard_format::build::SigningKey;
use changuard_format::{KeyId, TrustedKey};
use std::path::{Path, PathBuf};

/// First line of a secret key file.
pub const SECRET_HEADER: &str = "changuard secret signing key v1";
/// First line of a public key file.
pub const PUBLIC_HEADER: &str = "changuard public key v1";

/// The optional fourth line of a test-only key's files.
pub const TEST_ONLY_LINE: &str = "purpose: test-only";

/// A signing key and its mark.
#[derive(Debug)]
pub struct SecretKey {
    /// The Ed25519 signing seed.
    pub key: SigningKey,
    /// Made with `keygen --test-only`.
    pub test_only: bool,
}

impl SecretKey {
    /// The public half as the driver would trust it (with its mark).
    pub fn trusted(&self) -> TrustedKey {
        if self.test_only {
            self.key.trusted_test_key()
        } else {
            self.key.trusted_key()
        }
    }
}

/// What a key file holds.
#[derive(Debug)]
pub enum KeyFile {
    /// An Ed25519 signing seed.
    Secret(SecretKey),
    /// An Ed25519 public key (its `test_only` from the purpose line).
    Public(TrustedKey),
}

/// How the kind of a key file was decided, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Its first line names the kind.
    V1,
    /// 64 bare hex digits; the extension named the kind.
    Legacy,
}

/// The key id as channel files and `inspect` print it.
pub fn key_id_hex(id: KeyId) -> String {
    hex::encode(id.0)
}

fn decode<const N: usize>(path: &Path, what: &str, text: &str) -> Result<[u8; N], String> {
    let bytes =
        hex::decode(text).map_err(|e| format!("{}: {what} is not hex: {e}", path.display()))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "{}: {what} must be {N} bytes ({} hex digits), found {}",
            path.display(),
            2 * N,
            bytes.len()
        )
    })
}

/// `name: value` on line `line`, or an error naming what was expected.
fn field<'t>(path: &Path, lines: &[&'t str], line: usize, name: &str) -> Result<&'t str, String> {
    lines
        .get(line)
        .and_then(|l| l.strip_prefix(name))
        .and_then(|l| l.strip_prefix(": "))
        .ok_or_else(|| {
            format!(
                "{}: line {}: expected `{name}: <hex>`",
                path.display(),
                line + 1
            )
        })
}

/// Lines 4.. of a v1 file: nothing, or exactly the test-only mark.
fn test_only_mark(path: &Path, body: &[&str], kind: &str) -> Result<bool, String> {
    match body.get(3..) {
        Some([]) | None => Ok(false),
        Some([l]) if *l == TEST_ONLY_LINE => Ok(true),
        _ => Err(format!(
            "{}: a {kind} key file has 3 lines, or 4 with `{TEST_ONLY_LINE}` last",
            path.display()
        )),
    }
}

fn check_id(path: &Path, lines: &[&str], public: &[u8; 32]) -> Result<(), String> {
    let stated = KeyId(decode::<8>(
        path,
        "key-id",
        field(path, lines, 1, "key-id")?,
    )?);
    let real = KeyId::of(public);
    if stated != real {
        return Err(format!(
            "{}: key-id {} does not match the key (its id is {}): the file was edited or corrupted",
            path.display(),
            key_id_hex(stated),
            key_id_hex(real)
        ));
    }
    Ok(())
}

/// Parse the text of a key file read from `path`.
///
/// # Errors
/// A message naming `path`: not a key file, malformed, a key id that does not
/// match the key, or an old bare-hex file whose name does not say its kind.
pub fn parse(path: &Path, text: &str) -> Result<(KeyFile, Format), String> {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let body: Vec<&str> = match lines.iter().rposition(|l| !l.is_empty()) {
        Some(last) => lines.get(..=last).unwrap_or(&[]).to_vec(),
        None => Vec::new(),
    };
    match body.first().copied() {
        Some(SECRET_HEADER) => {
            let test_only = test_only_mark(path, &body, "secret")?;
            let key = SigningKey::from_seed(decode(path, "seed", field(path, &body, 2, "seed")?)?);
            check_id(path, &body, &key.public())?;
            Ok((KeyFile::Secret(SecretKey { key, test_only }), Format::V1))
        }
        Some(PUBLIC_HEADER) => {
            let test_only = test_only_mark(path, &body, "public")?;
            let public = decode(path, "public-key", field(path, &body, 2, "public-key")?)?;
            check_id(path, &body, &public)?;
            let key = if test_only {
                TrustedKey::new_test_only(public)
            } else {
                TrustedKey::new(public)
            };
            Ok((KeyFile::Public(key), Format::V1))
        }
        Some(first)
            if body.len() == 1
                && first.len() == 64
                && first.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            let bytes = decode::<32>(path, "key", first)?;
            match path.extension().and_then(|e| e.to_str()) {
                Some("key") => Ok((
                    KeyFile::Secret(SecretKey {
                        key: SigningKey::from_seed(bytes),
                        test_only: false,
                    }),
                    Format::Legacy,
                )),
                Some("pub") => Ok((KeyFile::Public(TrustedKey::new(bytes)), Format::Legacy)),
                _ => Err(format!(
                    "{}: 64 bare hex digits is the old key format, which cannot say whether it is a \
                     secret seed or a public key; name it `.key` (secret) or `.pub` (public), or make \
                     a new pair with `changuard keygen`",
                    path.display()
                )),
            }
        }
        Some(first) if first.starts_with("changuard ") => Err(format!(
            "{}: unknown key file kind `{first}` (this changuard reads `{SECRET_HEADER}` and `{PUBLIC_HEADER}`)",
            path.display()
        )),
        _ => Err(format!(
            "{}: not a changuard key file (expected a first line `{SECRET_HEADER}` or `{PUBLIC_HEADER}`)",
            path.display()
        )),
    }
}

fn read(path: &Path) -> Result<(KeyFile, Format), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read key file: {e}", path.display()))?;
    parse(path, &text)
}

fn how(f: Format) -> &'static str {
    match f {
        Format::V1 => "",
        Format::Legacy => ", old bare-hex format, judged by its file name",
    }
}

/// `path` with extension `ext`, for "pass this instead" hints.
fn sibling(path: &Path, ext: &str) -> PathBuf {
    path.with_extension(ext)
}

/// Read a public key file into a trusted key (for `validate`, `inspect`, `replay`).
///
/// # Errors
/// As [`parse`], and a secret key file, with a message saying to pass the
/// `.pub` file instead.
pub fn read_public(path: &Path) -> Result<TrustedKey, String> {
    match read(path)? {
        (KeyFile::Public(k), _) => Ok(k),
        (KeyFile::Secret(k), f) => Err(format!(
            "{}: this is a SECRET signing key (key id {}{}); checking a signature needs the PUBLIC \
             key: pass --pubkey {} (the .pub file `changuard keygen` wrote beside it). Never copy \
             the .key file to where public keys go",
            path.display(),
            key_id_hex(k.key.key_id()),
            how(f),
            sibling(path, "pub").display()
        )),
    }
}

/// Read a secret key file (for `build`).
///
/// # Errors
/// As [`parse`], and a public key file, with a message saying to pass the
/// `.key` file instead (signing with a public key's bytes would produce files
/// every validator rejects as `unknown-key`).
pub fn read_secret(path: &Path) -> Result<SecretKey, String> {
    match read(path)? {
        (KeyFile::Secret(k), _) => Ok(k),
        (KeyFile::Public(k), f) => Err(format!(
            "{}: this is a PUBLIC key (key id {}{}); signing needs the SECRET key: pass --key {} \
             (the .key file `changuard keygen` wrote beside it)",
            path.display(),
            key_id_hex(k.id),
            how(f),
            sibling(path, "key").display()
        )),
    }
}

fn mark(test_only: bool) -> String {
    if test_only {
        format!("{TEST_ONLY_LINE}\n")
    } else {
        String::new()
    }
}

/// The text of a secret key file for `key`.
pub fn secret_file_text(key: &SecretKey) -> String {
    format!(
        "{SECRET_HEADER}\nkey-id: {}\nseed: {}\n{}",
        key_id_hex(key.key.key_id()),
        hex::encode(key.key.seed()),
        mark(key.test_only)
    )
}

/// The text of a public key file for `key`.
pub fn public_file_text(key: &TrustedKey) -> String {
    format!(
        "{PUBLIC_HEADER}\nkey-id: {}\npublic-key: {}\n{}",
        key_id_hex(key.id),
        hex::encode(key.public),
        mark(key.test_only)
    )
}

/// Write a fresh key pair as `<dir>/<name>.key` and `<dir>/<name>.pub`.
/// Refuses to overwrite an existing secret key (nothing lost on a typo).
///
/// # Errors
/// I/O errors, or `<name>.key` already exists.
pub fn generate(
    dir: &Path,
    name: &str,
    test_only: bool,
) -> Result<(PathBuf, PathBuf, KeyId), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let key = SecretKey {
        key: SigningKey::generate(),
        test_only,
    };
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
    f.write_all(secret_file_text(&key).as_bytes())
        .map_err(|e| format!("{}: {e}", sk.display()))?;
    std::fs::write(&pk, public_file_text(&key.trusted()))
        .map_err(|e| format!("{}: {e}", pk.display()))?;
    Ok((sk, pk, key.key.key_id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn v1_round_trip_and_kinds_are_not_interchangeable() {
        for test_only in [false, true] {
            let key = SecretKey {
                key: SigningKey::from_seed([3; 32]),
                test_only,
            };
            let sk = secret_file_text(&key);
            let pk = public_file_text(&key.trusted());
            assert!(sk.starts_with("changuard secret signing key v1\nkey-id: "));
            assert!(pk.starts_with("changuard public key v1\nkey-id: "));
            assert_eq!(sk.ends_with("purpose: test-only\n"), test_only, "{sk}");
            match parse(&p("a.key"), &sk).unwrap() {
                (KeyFile::Secret(k), Format::V1) => {
                    assert_eq!((k.key.seed(), k.test_only), (key.key.seed(), test_only))
                }
                other => panic!("{other:?}"),
            }
            // The extension does not matter for v1 files; the first line does.
            match parse(&p("a.key"), &pk).unwrap() {
                (KeyFile::Public(k), Format::V1) => assert_eq!(k, key.trusted()),
                other => panic!("{other:?}"),
            }
        }
        let key = SigningKey::from_seed([3; 32]);
        let pk = public_file_text(&key.trusted_key());
        // CRLF line ends (a file edited on Windows) read the same.
        assert!(parse(&p("a.pub"), &pk.replace('\n', "\r\n")).is_ok());
    }

    #[test]
    fn wrong_kind_messages_name_the_file_and_the_fix() {
        let dir = std::env::temp_dir().join(format!("changuard-keys-{}", std::process::id()));
        let (sk, pk, id) = generate(&dir, "k", false).unwrap();
        let e = read_secret(&pk).unwrap_err();
        assert!(e.contains("k.pub: this is a PUBLIC key"), "{e}");
        assert!(
            e.contains(&key_id_hex(id)) && e.contains("--key") && e.contains("k.key"),
            "{e}"
        );
        let e = read_public(&sk).unwrap_err();
        assert!(e.contains("k.key: this is a SECRET signing key"), "{e}");
        assert!(e.contains("--pubkey") && e.contains("k.pub"), "{e}");
        assert_eq!(read_public(&pk).unwrap().id, id);
        assert_eq!(read_secret(&sk).unwrap().key.key_id(), id);
        assert!(generate(&dir, "k", true).unwrap_err().contains("refusing"));
        let (tsk, tpk, _) = generate(&dir, "t", true).unwrap();
        assert!(read_secret(&tsk).unwrap().test_only);
        assert!(read_public(&tpk).unwrap().test_only);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn legacy_hex_is_judged_by_extension_and_otherwise_refused() {
        let hex = format!("{}\n", "ab".repeat(32));
        assert!(matches!(
            parse(&p("x.key"), &hex),
            Ok((KeyFile::Secret(_), Format::Legacy))
        ));
        assert!(matches!(
            parse(&p("x.pub"), &hex),
            Ok((KeyFile::Public(_), Format::Legacy))
        ));
        let e = parse(&p("x.txt"), &hex).unwrap_err();
        assert!(e.contains("x.txt") && e.contains("old key format"), "{e}");
    }

    #[test]
    fn malformed_files_are_refused() {
        let key = SigningKey::from_seed([3; 32]);
        let pk = public_file_text(&key.trusted_key());
        // An edited key id.
        let bad = pk.replacen("key-id: ", "key-id: 00", 1).replacen(
            &key_id_hex(key.key_id()),
            &key_id_hex(key.key_id())[2..],
            1,
        );
        assert!(
            parse(&p("a.pub"), &bad)
                .unwrap_err()
                .contains("does not match")
        );
        assert!(
            parse(&p("a.pub"), "changuard public key v2\n")
                .unwrap_err()
                .contains("unknown key file kind")
        );
        assert!(
            parse(&p("a.pub"), "")
                .unwrap_err()
                .contains("not a changuard key file")
        );
        assert!(parse(&p("a.pub"), &format!("{pk}extra: 1\n")).is_err());
        let e = parse(&p("a.pub"), &format!("{pk}purpose: production\n")).unwrap_err();
        assert!(e.contains("purpose: test-only"), "{e}");
        assert!(
            parse(
                &p("a.pub"),
                &format!("{pk}{TEST_ONLY_LINE}\n{TEST_ONLY_LINE}\n")
            )
            .is_err()
        );
        assert!(
            parse(
                &p("a.pub"),
                "changuard public key v1\npublic-key: 00\nkey-id: 00\n"
            )
            .is_err()
        );
    }
}
