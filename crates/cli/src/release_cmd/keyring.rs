//! `changuard keyring build|inspect`.

use super::files::write_atomically;
use super::trust::{
    TrustArgs, keyring_context, keyring_failure, load_keyring, read_roots, root_ids_vec,
};
use super::{Failure, time_arg};
use crate::json_error::ErrorKind;
use crate::keys::{self, key_id_hex};
use crate::release_report::{
    Kind, Rejected, entry_json, print_entry, signer_ids, time_fields, time_text,
};
use crate::unix_time::{format_rfc3339, format_span, parse_time};
use changuard_release::build::KeyringSpec;
use changuard_release::layout::{self, ANY_CHANNEL};
use changuard_release::{KeyEntry, Keyring, RecordRule, Roots};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct KeyringArgs {
    #[command(subcommand)]
    command: KeyringCommand,
}

#[derive(Subcommand, Debug)]
enum KeyringCommand {
    /// Write a keyring (`keyring.ckr`) from a TOML spec, signed by root keys.
    Build(KeyringBuildArgs),
    /// Validate a keyring against the root keys and show its entries.
    Inspect(KeyringInspectArgs),
}

#[derive(Args, Debug)]
pub struct KeyringBuildArgs {
    /// The TOML keyring spec: `version`, `issued`, `expires`, and `[[key]]`
    /// entries with `public` (a `.pub` file), `channel` (a number or "any"),
    /// `not_before`, `not_after`, optional `max_version` and `test_only`.
    /// Times: RFC 3339 (`2026-12-01T04:09:00Z`) or Unix seconds.
    spec: PathBuf,
    /// Secret root key that signs (repeat for each signer).
    #[arg(long = "root-key", required = true)]
    root_keys: Vec<PathBuf>,
    /// Public root key the driver trusts (repeat). Default: the signers'
    /// public halves. Give the driver's full set to check the threshold
    /// against it.
    #[arg(long = "root")]
    roots: Vec<PathBuf>,
    /// Root signatures the driver requires (default: the number of --root-key).
    #[arg(long)]
    threshold: Option<usize>,
    /// Output file (default `keyring.ckr` beside the spec).
    #[arg(short, long)]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct KeyringInspectArgs {
    /// The keyring file.
    file: PathBuf,
    /// Public root key the driver trusts (repeat).
    #[arg(long = "root", required = true)]
    roots: Vec<PathBuf>,
    /// Root signatures required (default: the number of --root).
    #[arg(long)]
    threshold: Option<usize>,
    /// Show windows and staleness at this time (default now).
    #[arg(long, value_parser = time_arg)]
    at: Option<u64>,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn keyring(a: &KeyringArgs) -> i32 {
    match &a.command {
        KeyringCommand::Build(b) => keyring_build(b),
        KeyringCommand::Inspect(i) => keyring_inspect(i),
    }
}

/// The TOML keyring spec.
#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct KeyringToml {
    version: u64,
    issued: toml::Value,
    expires: toml::Value,
    #[serde(default, rename = "key")]
    keys: Vec<KeyToml>,
}

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct KeyToml {
    public: PathBuf,
    channel: toml::Value,
    not_before: toml::Value,
    not_after: toml::Value,
    max_version: Option<u64>,
    test_only: Option<bool>,
}

/// A TOML time: a string (RFC 3339 or digits), an integer, or a TOML datetime.
fn toml_time(v: &toml::Value, what: &str) -> Result<u64, String> {
    match v {
        toml::Value::Integer(i) => {
            u64::try_from(*i).map_err(|_| format!("{what}: {i} is negative"))
        }
        toml::Value::String(s) => parse_time(s).map_err(|e| format!("{what}: {e}")),
        toml::Value::Datetime(d) => parse_time(&d.to_string()).map_err(|e| format!("{what}: {e}")),
        other => Err(format!(
            "{what}: expected a time (RFC 3339 or Unix seconds), found {}",
            other.type_str()
        )),
    }
}

fn toml_channel(v: &toml::Value, what: &str) -> Result<u32, String> {
    match v {
        toml::Value::String(s) if s == "any" => Ok(ANY_CHANNEL),
        toml::Value::Integer(0) => Err(format!(
            "{what}: 0 is not a channel; write channel = \"any\" for every channel"
        )),
        toml::Value::Integer(i) => {
            u32::try_from(*i).map_err(|_| format!("{what}: {i} is not a channel (1..=4294967295)"))
        }
        other => Err(format!(
            "{what}: expected a channel number or \"any\", found {other}"
        )),
    }
}

/// The spec, with each entry's source (the spec index and `.pub` path).
fn parse_keyring_spec(
    spec_path: &Path,
    src: &str,
) -> Result<(KeyringSpec, Vec<(usize, PathBuf)>), Failure> {
    let spec_err = |m: String| Failure {
        kind: ErrorKind::Usage,
        message: format!("{}: {m}", spec_path.display()),
        file: Some(spec_path.to_path_buf()),
    };
    let t: KeyringToml = toml::from_str(src).map_err(|e| spec_err(e.to_string()))?;
    let issued = toml_time(&t.issued, "issued").map_err(spec_err)?;
    let expires = toml_time(&t.expires, "expires").map_err(spec_err)?;
    let base = spec_path.parent().unwrap_or(Path::new(""));
    let mut keys = Vec::new();
    let mut sources = Vec::new();
    for (i, k) in t.keys.iter().enumerate() {
        let what = |f: &str| format!("key #{} ({}): {f}", i + 1, k.public.display());
        let path = if k.public.is_absolute() {
            k.public.clone()
        } else {
            base.join(&k.public)
        };
        let public = keys::read_public(&path).map_err(|e| Failure::key(e, &path))?;
        let test_only = match (k.test_only, public.test_only) {
            (Some(false), true) => {
                return Err(spec_err(format!(
                    "{}: the key file is marked `purpose: test-only`; a test key cannot be listed \
                     as a production key (drop `test_only = false`)",
                    what("test_only")
                )));
            }
            (Some(t), _) => t,
            (None, mark) => mark,
        };
        keys.push(KeyEntry {
            public: public.public,
            channel: toml_channel(&k.channel, &what("channel")).map_err(spec_err)?,
            test_only,
            not_before: toml_time(&k.not_before, &what("not_before")).map_err(spec_err)?,
            not_after: toml_time(&k.not_after, &what("not_after")).map_err(spec_err)?,
            max_version: k.max_version.unwrap_or(u64::MAX),
        });
        sources.push((i + 1, path));
    }
    let spec = KeyringSpec {
        version: t.version,
        issued,
        expires,
        keys,
    };
    Ok((spec, sources))
}

fn keyring_build(a: &KeyringBuildArgs) -> i32 {
    match keyring_build_inner(a) {
        Ok(code) => code,
        Err(f) => f.report(false),
    }
}

fn keyring_build_inner(a: &KeyringBuildArgs) -> Result<i32, Failure> {
    let src = std::fs::read_to_string(&a.spec).map_err(|e| Failure::io(&e, &a.spec))?;
    let (spec, sources) = parse_keyring_spec(&a.spec, &src)?;
    let mut signing = Vec::new();
    for p in &a.root_keys {
        signing.push(keys::read_secret(p).map_err(|e| Failure::key(e, p))?);
    }
    let mut trusted = read_roots(&a.roots)?;
    if a.roots.is_empty() {
        for s in &signing {
            if !trusted.iter().any(|t| t.id == s.key.key_id()) {
                trusted.push(s.key.trusted_key());
            }
        }
    }
    let threshold = a.threshold.unwrap_or(signing.len());
    let Some(roots) = Roots::new(&trusted, threshold) else {
        return Err(Failure::usage(format!(
            "--threshold {threshold}: must be 1..={} (the number of distinct root keys{})",
            trusted.len(),
            if a.roots.is_empty() {
                ", here the --root-key signers; pass the driver's full set with --root"
            } else {
                " given with --root"
            }
        )));
    };
    // What the spec says, in order: the writer sorts entries the way the validator requires.
    let canonical = spec.clone().canonical();
    let signers: Vec<_> = signing.iter().map(|s| &s.key).collect();
    let bytes = canonical.to_bytes(&signers);
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| a.spec.with_file_name("keyring.ckr"));
    if let Err(e) = Keyring::validate(&bytes[..], &roots) {
        let mut r = Rejected::new(Kind::Keyring, e);
        keyring_context(&mut r, &bytes, &trusted, threshold);
        entry_context(&mut r, &canonical, &sources, &spec);
        eprintln!(
            "error: {}: not written: the keyring validator rejects it: {}",
            a.spec.display(),
            r.message()
        );
        for (label, text) in &r.context {
            eprintln!("  {label}: {text}");
        }
        return Ok(1);
    }
    write_atomically(&out, &bytes).map_err(|e| Failure::io(&e, &out))?;
    println!(
        "wrote {} ({} bytes, keyring version {}, {} key(s), signed by {} root key(s), threshold {threshold} of {})",
        out.display(),
        bytes.len(),
        spec.version,
        spec.keys.len(),
        signer_ids(&bytes).len(),
        trusted.len()
    );
    Ok(0)
}

/// Name the spec entry a keyring-entry rejection is about.
fn entry_context(
    r: &mut Rejected,
    canonical: &KeyringSpec,
    sources: &[(usize, PathBuf)],
    spec: &KeyringSpec,
) {
    let first = (layout::HEADER_LEN + layout::KEYRING_HEAD_LEN) as u64;
    let Some(rel) = r.error.offset.checked_sub(first) else {
        if r.error.rule == RecordRule::BadWindow {
            r.note(
                "spec",
                format!(
                    "issued {} is not before expires {}",
                    time_text(spec.issued),
                    time_text(spec.expires)
                ),
            );
        }
        return;
    };
    let i = (rel / layout::KEY_ENTRY_LEN as u64) as usize;
    let Some(e) = canonical.keys.get(i) else {
        return;
    };
    let from: Vec<String> = spec
        .keys
        .iter()
        .zip(sources)
        .filter(|(s, _)| s.public == e.public && s.channel == e.channel)
        .map(|(_, (n, p))| format!("[[key]] #{n} ({})", p.display()))
        .collect();
    let what = match r.error.rule {
        RecordRule::KeysNotCanonical => {
            "a key may be listed once per channel, and a key listed for \"any\" channel not again"
        }
        RecordRule::BadWindow => "not_before must be before not_after",
        _ => "",
    };
    r.note(
        "spec",
        format!(
            "{}: key id {}, channel {}{}{what}",
            from.join(" and "),
            key_id_hex(e.id()),
            if e.channel == ANY_CHANNEL {
                "any".into()
            } else {
                e.channel.to_string()
            },
            if what.is_empty() { "" } else { ": " }
        ),
    );
}

fn keyring_inspect(a: &KeyringInspectArgs) -> i32 {
    let t = TrustArgs {
        keyring: a.file.clone(),
        roots: a.roots.clone(),
        threshold: a.threshold,
        at: a.at,
    };
    let (k, at) = match load_keyring(&t) {
        Ok(x) => x,
        Err(e) => return keyring_failure(e, &a.file, a.json),
    };
    let roots = read_roots(&a.roots).unwrap_or_default();
    let threshold = a.threshold.unwrap_or(roots.len());
    let signed: Vec<String> = signer_ids(k.as_bytes())
        .into_iter()
        .map(key_id_hex)
        .collect();
    if a.json {
        let mut o = serde_json::Map::new();
        o.insert("file".into(), json!(a.file.display().to_string()));
        o.insert("record".into(), json!("keyring"));
        o.insert("valid".into(), json!(true));
        o.insert("version".into(), json!(k.version()));
        time_fields(&mut o, "issued", k.issued());
        time_fields(&mut o, "expires", k.expires());
        time_fields(&mut o, "at", at);
        o.insert("stale".into(), json!(k.is_stale(at)));
        o.insert("threshold".into(), json!(threshold));
        o.insert("root_key_ids".into(), json!(root_ids_vec(&roots)));
        o.insert("signed_by".into(), json!(signed));
        o.insert("size".into(), json!(k.as_bytes().len()));
        let entries: Vec<Value> = k.entries().map(|e| entry_json(&e, at)).collect();
        o.insert("keys".into(), json!(entries));
        println!("{}", Value::Object(o));
        return 0;
    }
    println!(
        "{} {}  keyring version {}  ({} key(s), {} bytes)",
        crate::style::good("ok", crate::style::stdout_coloured()),
        a.file.display(),
        k.version(),
        k.len(),
        k.as_bytes().len()
    );
    println!("issued   {}", time_text(k.issued()));
    let state = if k.is_stale(at) {
        format!(
            "STALE at {}: machines keep their content and report the keyring stale",
            format_rfc3339(at)
        )
    } else {
        format!(
            "fresh at {} (stale in {})",
            format_rfc3339(at),
            format_span(k.expires() - at)
        )
    };
    println!("expires  {}: {state}", time_text(k.expires()));
    println!(
        "signed   by {} of {} root key(s), threshold {threshold}: {}",
        signed.len(),
        roots.len(),
        signed.join(", ")
    );
    for e in k.entries() {
        print_entry(&e, at);
    }
    0
}
