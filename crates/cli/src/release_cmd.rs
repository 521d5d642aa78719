//! `changuard keyring|release|halt build|inspect` and `release placement`:
//! write the three release records (docs/FORMAT.md "Release records") with
//! `changuard_release::build`, validate what was written with the very
//! validators the loader runs, and show records in user terms.
//!
//! Exit codes as for every subcommand: 0 success, 1 the record is rejected
//! (nothing is written by `build`), 2 usage or I/O error.

use crate::json_error::{ErrorKind, report};
use crate::keys::{self, key_id_hex};
use crate::release_report::{
    Kind, Rejected, channel_text, entry_json, hours, key_id_at, percent, print_entry, ring_json,
    signer_ids, time_fields, time_text,
};
use crate::unix_time::{
    self, format_duration, format_rfc3339, format_span, parse_duration, parse_time,
};
use changuard_format::{KeyId, Trust, TrustedKey};
use changuard_release::build::{HaltSpec, KeyringSpec, ReleaseSpec, standard_rings};
use changuard_release::layout::{self, ANY_CHANNEL};
use changuard_release::limits::{MAX_KEYS, MAX_RECORD_LEN};
use changuard_release::{
    Halt, KeyEntry, Keyring, RecordError, RecordRule, Release, Ring, Roots, ring_point,
};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------- arguments

/// A time argument: RFC 3339, Unix seconds, or `now`.
fn time_arg(s: &str) -> Result<u64, String> {
    if s == "now" {
        return Ok(unix_time::now());
    }
    parse_time(s)
}

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

/// The trust a release or halt is checked with.
#[derive(Args, Debug)]
pub struct TrustArgs {
    /// The keyring (`keyring.ckr`) that lists the content keys.
    #[arg(long)]
    keyring: PathBuf,
    /// Public root key the driver trusts (repeat).
    #[arg(long = "root", required = true)]
    roots: Vec<PathBuf>,
    /// Root signatures the keyring needs (default: the number of --root).
    #[arg(long)]
    threshold: Option<usize>,
    /// Check as a machine would at this time (RFC 3339, Unix seconds or
    /// `now`; default now): key windows and staleness.
    #[arg(long, value_parser = time_arg)]
    at: Option<u64>,
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

#[derive(Args, Debug)]
pub struct ReleaseArgs {
    #[command(subcommand)]
    command: ReleaseCommand,
}

#[derive(Subcommand, Debug)]
enum ReleaseCommand {
    /// Write the rollout plan `C-<channel>-<version>.rel` of one content version.
    Build(ReleaseBuildArgs),
    /// Validate a rollout plan against a keyring and show its rings.
    Inspect(ReleaseInspectArgs),
    /// Where a machine falls in the rings of rollout plans, and when it may activate.
    Placement(PlacementArgs),
}

#[derive(Args, Debug)]
pub struct ReleaseBuildArgs {
    /// Channel.
    #[arg(long)]
    channel: u32,
    /// Content version it releases (the channel file's).
    #[arg(long)]
    version: u64,
    /// Rollout start: RFC 3339, Unix seconds, or `now`.
    #[arg(long, value_parser = time_arg)]
    start: u64,
    /// Rings, `SHARE@DELAY,...`: cumulative share of machines (`0.1%`,
    /// `1000ppm`) and the delay after the start (`0h`, `90m`, `2d`); the last
    /// share is 100%. `standard:STEP` is 0.1%, 1%, 10%, 50%, 100% at STEP
    /// intervals.
    #[arg(long, default_value = "standard:6h")]
    rings: String,
    /// Content signing key (secret), listed in the keyring for the channel.
    #[arg(long)]
    key: PathBuf,
    /// Allow a jump of more than 2^20 versions past a machine's current version.
    #[arg(long)]
    fast_forward: bool,
    /// Issue time (default now).
    #[arg(long, value_parser = time_arg)]
    issued: Option<u64>,
    /// Output directory (default: the current directory).
    #[arg(short, long)]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReleaseInspectArgs {
    /// The rollout plan (`C-<channel>-<version>.rel`).
    file: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    /// Channel it is read for (default: from the file name, else the
    /// header's unverified claim).
    #[arg(long)]
    channel: Option<u32>,
    /// Content version it is read for (default as for --channel).
    #[arg(long)]
    version: Option<u64>,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct PlacementArgs {
    /// The machine id: 32 hex digits (16 bytes).
    #[arg(long = "machine-id")]
    machine_id: String,
    /// Channel (default: from each file name).
    #[arg(long)]
    channel: Option<u32>,
    /// Delay the customer's policy adds (`0h`, `2d`).
    #[arg(long, default_value = "0h", value_parser = parse_duration)]
    policy_delay: u64,
    /// Rollout plans (`C-<channel>-<version>.rel`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    /// One JSON object per file on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct HaltArgs {
    #[command(subcommand)]
    command: HaltCommand,
}

#[derive(Subcommand, Debug)]
enum HaltCommand {
    /// Write the halt `C-<channel>.halt` of a channel's version range (or lift it).
    Build(HaltBuildArgs),
    /// Validate a halt against a keyring and show what it stops.
    Inspect(HaltInspectArgs),
}

#[derive(Args, Debug)]
pub struct HaltBuildArgs {
    /// Channel.
    #[arg(long)]
    channel: u32,
    /// Sequence: higher than every halt published for the channel before.
    #[arg(long)]
    sequence: u64,
    /// Versions to halt: `FIRST..=LAST` or one version.
    #[arg(long, required_unless_present = "lift", conflicts_with = "lift")]
    versions: Option<String>,
    /// Lift every halt of the channel (the empty range 0..=0).
    #[arg(long)]
    lift: bool,
    /// Content signing key (secret), listed in the keyring for the channel.
    #[arg(long)]
    key: PathBuf,
    /// Issue time (default now).
    #[arg(long, value_parser = time_arg)]
    issued: Option<u64>,
    /// Output directory (default: the current directory).
    #[arg(short, long)]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct HaltInspectArgs {
    /// The halt (`C-<channel>.halt`).
    file: PathBuf,
    #[command(flatten)]
    trust: TrustArgs,
    /// Channel it is read for (default: from the file name, else the
    /// header's unverified claim).
    #[arg(long)]
    channel: Option<u32>,
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

pub fn release(a: &ReleaseArgs) -> i32 {
    match &a.command {
        ReleaseCommand::Build(b) => release_build(b),
        ReleaseCommand::Inspect(i) => release_inspect(i),
        ReleaseCommand::Placement(p) => placement(p),
    }
}

pub fn halt(a: &HaltArgs) -> i32 {
    match &a.command {
        HaltCommand::Build(b) => halt_build(b),
        HaltCommand::Inspect(i) => halt_inspect(i),
    }
}

// ---------------------------------------------------------------- file names

/// `C-<channel 8 digits>-<version>.rel`, or why no name carries them.
pub fn release_file_name(channel: u32, version: u64) -> Result<String, String> {
    crate::files::loadable_name(channel, version)
        .and_then(|n| n.strip_suffix(".chan").map(|s| format!("{s}.rel")))
        .ok_or_else(|| {
            format!(
                "channel {channel} version {version} has no file name: the loader needs channel \
                 1..=99999999 and version >= 1"
            )
        })
}

/// `C-<channel 8 digits>.halt`, or why no name carries it.
pub fn halt_file_name(channel: u32) -> Result<String, String> {
    crate::files::loadable_name(channel, 1)
        .and_then(|n| n.get(..10).map(|s| format!("{s}.halt")))
        .ok_or_else(|| {
            format!("channel {channel} has no file name: the loader needs channel 1..=99999999")
        })
}

/// `(channel, version)` from an exact `C-<8 digits>-<8..20 digits>.rel`.
fn parse_release_name(path: &Path) -> Option<(u32, u64)> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".rel")?;
    changuard_loader::names::parse(&format!("{stem}.chan"))
}

/// The channel from an exact `C-<8 digits>.halt`.
fn parse_halt_name(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_prefix("C-")?.strip_suffix(".halt")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|c| *c != 0)
}

/// The header's (unverified) channel and sequence.
fn header_claim(bytes: &[u8]) -> (u32, u64) {
    let channel = bytes
        .get(layout::header::CHANNEL)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_le_bytes);
    let seq = bytes
        .get(layout::header::SEQUENCE)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes);
    (channel, seq)
}

// ---------------------------------------------------------------- reading

/// Read at most `MAX_RECORD_LEN + 1` bytes; `too-large` then names the real size.
fn read_record(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(MAX_RECORD_LEN as u64 + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

fn true_size(path: &Path, mut e: RecordError) -> RecordError {
    if let (RecordRule::TooLarge, Some((want, found))) = (e.rule, e.values) {
        if let Ok(m) = std::fs::metadata(path) {
            e.values = Some((want, found.max(m.len())));
        }
    }
    e
}

/// Write to a temp file beside `path`, then rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// An error that is not a rejection: (kind, message, file, exit code).
struct Failure {
    kind: ErrorKind,
    message: String,
    file: Option<PathBuf>,
}

impl Failure {
    fn key(message: String, file: &Path) -> Failure {
        Failure {
            kind: ErrorKind::Key,
            message,
            file: Some(file.to_path_buf()),
        }
    }
    fn usage(message: String) -> Failure {
        Failure {
            kind: ErrorKind::Usage,
            message,
            file: None,
        }
    }
    fn io(e: &std::io::Error, file: &Path) -> Failure {
        Failure {
            kind: ErrorKind::Io,
            message: format!("{}: {e}", file.display()),
            file: Some(file.to_path_buf()),
        }
    }
    fn report(&self, json: bool) -> i32 {
        report(
            json,
            "error",
            self.kind,
            &self.message,
            self.file.as_deref(),
            2,
        )
    }
}

fn read_roots(paths: &[PathBuf]) -> Result<Vec<TrustedKey>, Failure> {
    let mut out: Vec<TrustedKey> = Vec::new();
    for p in paths {
        let k = keys::read_public(p).map_err(|e| Failure::key(e, p))?;
        if !out.iter().any(|o| o.id == k.id) {
            out.push(k);
        }
    }
    Ok(out)
}

fn threshold_of(roots: &[TrustedKey], threshold: Option<usize>) -> Result<usize, Failure> {
    let t = threshold.unwrap_or(roots.len());
    if t == 0 || t > roots.len() {
        return Err(Failure::usage(format!(
            "--threshold {t}: must be 1..={} (the number of distinct root keys)",
            roots.len()
        )));
    }
    Ok(t)
}

fn root_ids(roots: &[TrustedKey]) -> String {
    let ids: Vec<String> = roots.iter().map(|k| key_id_hex(k.id)).collect();
    ids.join(", ")
}

/// What a keyring rejection means in terms of the root keys.
fn keyring_context(r: &mut Rejected, bytes: &[u8], roots: &[TrustedKey], threshold: usize) {
    match r.error.rule {
        RecordRule::UnknownKey => {
            let id = key_id_at(bytes, r.error.offset).map_or_else(|| "?".into(), key_id_hex);
            r.note(
                "key",
                format!(
                    "signed by key id {id}, which is not a --root key (roots: {})",
                    root_ids(roots)
                ),
            );
            r.extra.insert("key_id".into(), json!(id));
            r.extra
                .insert("root_key_ids".into(), json!(root_ids_vec(roots)));
        }
        RecordRule::BelowThreshold => {
            let signed: Vec<String> = signer_ids(bytes).into_iter().map(key_id_hex).collect();
            r.note(
                "roots",
                format!(
                    "signed by {} of the {} root key(s) ({}); the driver requires {threshold}",
                    signed.len(),
                    roots.len(),
                    signed.join(", ")
                ),
            );
            r.extra.insert("signed_by".into(), json!(signed));
            r.extra.insert("threshold".into(), json!(threshold));
        }
        _ => {}
    }
}

fn root_ids_vec(roots: &[TrustedKey]) -> Vec<String> {
    roots.iter().map(|k| key_id_hex(k.id)).collect()
}

/// Why the keyring of an inspect command cannot be used.
enum KeyringFailure {
    /// The validator rejects it (its bytes, for the dump).
    Rejected(Box<Rejected>, Vec<u8>),
    /// It, or a root key, cannot be read, or the threshold is wrong.
    Other(Failure),
}

/// Validate the keyring of `t`: the roots, the threshold, the bytes.
fn load_keyring(t: &TrustArgs) -> Result<(Keyring<Vec<u8>>, u64), KeyringFailure> {
    let roots = read_roots(&t.roots).map_err(KeyringFailure::Other)?;
    let threshold = threshold_of(&roots, t.threshold).map_err(KeyringFailure::Other)?;
    let Some(r) = Roots::new(&roots, threshold) else {
        return Err(KeyringFailure::Other(Failure::usage(
            "bad --threshold".into(),
        )));
    };
    let bytes =
        read_record(&t.keyring).map_err(|e| KeyringFailure::Other(Failure::io(&e, &t.keyring)))?;
    let at = t.at.unwrap_or_else(unix_time::now);
    match Keyring::validate(bytes.clone(), &r) {
        Ok(k) => Ok((k, at)),
        Err(e) => {
            let mut rej = Rejected::new(Kind::Keyring, true_size(&t.keyring, e));
            keyring_context(&mut rej, &bytes, &roots, threshold);
            Err(KeyringFailure::Rejected(Box::new(rej), bytes))
        }
    }
}

/// The keys of `keyring` that may sign a new record for `channel` at `at`.
fn signers(keyring: &Keyring<Vec<u8>>, channel: u32, at: u64) -> Vec<TrustedKey> {
    let mut out = vec![TrustedKey::new([0; 32]); MAX_KEYS];
    let n = keyring.keys_for(channel, Some(at), &mut out);
    out.truncate(n);
    out
}

/// Why the keyring does not let key `id` sign for `channel` at `at`.
fn why_not_listed(keyring: &Keyring<Vec<u8>>, id: KeyId, channel: u32, at: u64) -> String {
    let entries: Vec<KeyEntry> = keyring.entries().filter(|e| e.id() == id).collect();
    if entries.is_empty() {
        let listed: Vec<String> = keyring
            .entries()
            .filter(|e| e.covers(channel))
            .map(|e| key_id_hex(e.id()))
            .collect();
        return format!(
            "signed by key id {}, which keyring version {} does not list (keys for channel {channel}: {})",
            key_id_hex(id),
            keyring.version(),
            if listed.is_empty() {
                "none".into()
            } else {
                listed.join(", ")
            }
        );
    }
    let reasons: Vec<String> = entries
        .iter()
        .map(|e| {
            if !e.covers(channel) {
                format!("listed for channel {} only", e.channel)
            } else {
                format!(
                    "its signing window is {} .. {}, which does not contain {} (see --at)",
                    format_rfc3339(e.not_before),
                    format_rfc3339(e.not_after),
                    format_rfc3339(at)
                )
            }
        })
        .collect();
    format!(
        "signed by key id {}: keyring version {} lists it, but {}",
        key_id_hex(id),
        keyring.version(),
        reasons.join("; ")
    )
}

/// Report a failure to load the keyring of an inspect command.
fn keyring_failure(e: KeyringFailure, keyring_path: &Path, json: bool) -> i32 {
    match e {
        KeyringFailure::Other(f) => f.report(json),
        KeyringFailure::Rejected(r, bytes) => {
            if json {
                println!("{}", r.json(keyring_path));
            } else {
                r.print(keyring_path, &bytes);
            }
            1
        }
    }
}

fn signer_context(
    r: &mut Rejected,
    bytes: &[u8],
    keyring: &Keyring<Vec<u8>>,
    channel: u32,
    at: u64,
) {
    if r.error.rule == RecordRule::UnknownKey {
        if let Some(id) = key_id_at(bytes, r.error.offset) {
            r.note("key", why_not_listed(keyring, id, channel, at));
            r.extra.insert("key_id".into(), json!(key_id_hex(id)));
        }
        let ids: Vec<String> = signers(keyring, channel, at)
            .iter()
            .map(|k| key_id_hex(k.id))
            .collect();
        r.extra.insert("allowed_key_ids".into(), json!(ids));
    }
}

// ---------------------------------------------------------------- keyring build

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

// ---------------------------------------------------------------- keyring inspect

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

// ---------------------------------------------------------------- release build

/// `0.1%`, `12.5%`, `1000ppm` as parts per million.
fn parse_share(s: &str) -> Result<u32, String> {
    if let Some(n) = s.strip_suffix("ppm") {
        return n
            .parse::<u32>()
            .map_err(|_| format!("`{s}`: expected whole parts per million"));
    }
    let n = s
        .strip_suffix('%')
        .ok_or_else(|| format!("`{s}`: a share ends in % (0.1%) or ppm (1000ppm)"))?;
    let (whole, frac) = n.split_once('.').unwrap_or((n, ""));
    let ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !ok(whole) || !ok(frac) || (n.contains('.') && frac.is_empty()) {
        return Err(format!("`{s}`: expected a percentage such as 0.1% or 50%"));
    }
    if frac.len() > 4 {
        return Err(format!(
            "`{s}`: at most 4 decimals (the unit is 1 ppm = 0.0001%)"
        ));
    }
    let whole: u64 = whole.parse().map_err(|_| format!("`{s}`: too large"))?;
    let frac_ppm: u64 = format!("{frac:0<4}").parse().unwrap_or(0);
    let ppm = whole.saturating_mul(10_000).saturating_add(frac_ppm);
    u32::try_from(ppm).map_err(|_| format!("`{s}`: too large"))
}

/// `--rings`: `SHARE@DELAY,...` or `standard:STEP`.
pub fn parse_rings(s: &str) -> Result<Vec<Ring>, String> {
    if let Some(step) = s.strip_prefix("standard:") {
        return Ok(standard_rings(parse_duration(step)?));
    }
    s.split(',')
        .map(|part| {
            let part = part.trim();
            let (share, delay) = part
                .split_once('@')
                .ok_or_else(|| format!("`{part}`: a ring is SHARE@DELAY, such as 1%@2h"))?;
            Ok(Ring {
                fraction_ppm: parse_share(share.trim())?,
                delay_secs: parse_duration(delay.trim())?,
            })
        })
        .collect()
}

fn ring_text(r: &Ring) -> String {
    format!(
        "{}%@{}",
        percent(r.fraction_ppm),
        format_duration(r.delay_secs)
    )
}

/// The record's file name (or the usage error) and the signing key (or the
/// key file error), for the `release build` and `halt build` commands; `Err`
/// is the exit code, the problem already reported.
fn name_and_key(
    name: Result<String, String>,
    key: &Path,
) -> Result<(String, keys::SecretKey), i32> {
    let name = name.map_err(|e| report(false, "error", ErrorKind::Usage, &e, None, 2))?;
    let key = keys::read_secret(key).map_err(|e| Failure::key(e, key).report(false))?;
    Ok((name, key))
}

fn release_build(a: &ReleaseBuildArgs) -> i32 {
    let rings = match parse_rings(&a.rings) {
        Ok(r) => r,
        Err(e) => {
            return report(
                false,
                "error",
                ErrorKind::Usage,
                &format!("--rings {e}"),
                None,
                2,
            );
        }
    };
    let (name, key) = match name_and_key(release_file_name(a.channel, a.version), &a.key) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let spec = ReleaseSpec {
        channel: a.channel,
        version: a.version,
        issued: a.issued.unwrap_or_else(unix_time::now),
        start: a.start,
        fast_forward: a.fast_forward,
        rings,
    };
    let bytes = spec.to_bytes(&key.key);
    let trusted = [key.trusted()];
    if let Err(e) = Release::validate(&bytes, &Trust::new(&trusted), a.channel, a.version) {
        let mut r = Rejected::new(Kind::Release, e);
        let first = (layout::HEADER_LEN + layout::RELEASE_HEAD_LEN) as u64;
        if let Some(rel) = r.error.offset.checked_sub(first) {
            let i = (rel / layout::RING_LEN as u64) as usize;
            if let Some(ring) = spec.rings.get(i) {
                r.note(
                    "ring",
                    format!("ring {i} of --rings, `{}`", ring_text(ring)),
                );
            }
        }
        eprintln!(
            "error: {name}: not written: the release validator rejects it: {}",
            r.message()
        );
        for (label, text) in &r.context {
            eprintln!("  {label}: {text}");
        }
        return 1;
    }
    let out = a
        .out
        .as_ref()
        .map_or_else(|| PathBuf::from(&name), |d| d.join(&name));
    if let Err(e) = write_atomically(&out, &bytes) {
        return Failure::io(&e, &out).report(false);
    }
    let rings: Vec<String> = spec.rings.iter().map(ring_text).collect();
    println!(
        "wrote {} ({} bytes, channel {}, version {}, start {}, rings {}{}, signed by {})",
        out.display(),
        bytes.len(),
        a.channel,
        a.version,
        format_rfc3339(a.start),
        rings.join(","),
        if a.fast_forward { ", fast-forward" } else { "" },
        key_id_hex(key.key.key_id())
    );
    0
}

// ---------------------------------------------------------------- release inspect

/// The channel and version a release file is read for, and where they came from.
fn release_identity(
    path: &Path,
    bytes: &[u8],
    channel: Option<u32>,
    version: Option<u64>,
) -> (u32, u64, &'static str) {
    let named = parse_release_name(path);
    let claim = header_claim(bytes);
    let from = match (channel.is_some() || version.is_some(), named.is_some()) {
        (true, _) => "--channel/--version",
        (false, true) => "file name",
        (false, false) => "header (unverified claim)",
    };
    let (nc, nv) = named.unwrap_or(claim);
    (channel.unwrap_or(nc), version.unwrap_or(nv), from)
}

/// Validate a release file as a machine would at `at`; `Err` is the rejection.
fn check_release(
    path: &Path,
    bytes: &[u8],
    keyring: &Keyring<Vec<u8>>,
    channel: u32,
    version: u64,
    at: u64,
) -> Result<Release, Box<Rejected>> {
    let keys = signers(keyring, channel, at);
    let r = Release::validate(bytes, &Trust::new(&keys), channel, version).map_err(|e| {
        let mut r = Rejected::new(Kind::Release, true_size(path, e));
        signer_context(&mut r, bytes, keyring, channel, at);
        Box::new(r)
    })?;
    // The loader's check after the validator: the keyring's version cap.
    for (i, id) in signer_ids(bytes).into_iter().enumerate() {
        if !keyring.allows(id, channel, version) {
            let cap = keyring
                .entries()
                .filter(|e| e.id() == id && e.covers(channel))
                .map(|e| e.max_version)
                .max()
                .unwrap_or(0);
            let body = bytes
                .get(layout::header::BODY_LEN)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_le_bytes) as u64;
            let at_sig = layout::HEADER_LEN as u64
                + body
                + layout::SIGNATURES_HEAD_LEN as u64
                + (i * layout::SIGNATURE_LEN) as u64;
            let mut rej = Rejected::new(
                Kind::Release,
                RecordError {
                    rule: RecordRule::UnknownKey,
                    offset: at_sig,
                    values: Some((cap, version)),
                },
            );
            rej.loader_rule = Some("key-not-allowed");
            rej.loader_meaning = Some(format!(
                "keyring version {} lets key {} sign versions up to {cap} of channel {channel} \
                 (revoked past it); this is version {version}",
                keyring.version(),
                key_id_hex(id)
            ));
            rej.extra.insert("key_id".into(), json!(key_id_hex(id)));
            return Err(Box::new(rej));
        }
    }
    Ok(r)
}

fn release_inspect(a: &ReleaseInspectArgs) -> i32 {
    let (keyring, at) = match load_keyring(&a.trust) {
        Ok(x) => x,
        Err(e) => return keyring_failure(e, &a.trust.keyring, a.json),
    };
    let bytes = match read_record(&a.file) {
        Ok(b) => b,
        Err(e) => return Failure::io(&e, &a.file).report(a.json),
    };
    let (channel, version, from) = release_identity(&a.file, &bytes, a.channel, a.version);
    let r = match check_release(&a.file, &bytes, &keyring, channel, version, at) {
        Ok(r) => r,
        Err(mut rej) => {
            rej.extra.insert("expected_channel".into(), json!(channel));
            rej.extra.insert("expected_version".into(), json!(version));
            rej.extra.insert("expected_from".into(), json!(from));
            if matches!(
                rej.error.rule,
                RecordRule::WrongChannel | RecordRule::WrongVersion
            ) {
                rej.note(
                    "read as",
                    format!("channel {channel} version {version} (from the {from})"),
                );
            }
            if a.json {
                println!("{}", rej.json(&a.file));
            } else {
                rej.print(&a.file, &bytes);
            }
            return 1;
        }
    };
    let signed: Vec<String> = signer_ids(&bytes).into_iter().map(key_id_hex).collect();
    let open_ppm = r
        .rings()
        .iter()
        .filter(|g| at >= r.start.saturating_add(g.delay_secs))
        .map(|g| g.fraction_ppm)
        .max()
        .unwrap_or(0);
    if a.json {
        let mut o = serde_json::Map::new();
        o.insert("file".into(), json!(a.file.display().to_string()));
        o.insert("record".into(), json!("release"));
        o.insert("valid".into(), json!(true));
        o.insert("channel".into(), json!(r.channel));
        o.insert("version".into(), json!(r.version));
        time_fields(&mut o, "issued", r.issued);
        time_fields(&mut o, "start", r.start);
        o.insert("fast_forward".into(), json!(r.fast_forward));
        o.insert("signed_by".into(), json!(signed));
        o.insert("keyring_version".into(), json!(keyring.version()));
        o.insert("keyring_stale".into(), json!(keyring.is_stale(at)));
        time_fields(&mut o, "at", at);
        let mut prev = 0;
        let rings: Vec<Value> = r
            .rings()
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let v = ring_json(i, g, prev, r.start, at);
                prev = g.fraction_ppm;
                v
            })
            .collect();
        o.insert("rings".into(), json!(rings));
        o.insert("open_ppm".into(), json!(open_ppm));
        o.insert("open_percent".into(), json!(percent(open_ppm)));
        println!("{}", Value::Object(o));
        return 0;
    }
    println!(
        "{} {}  release of channel {} version {}{}",
        crate::style::good("ok", crate::style::stdout_coloured()),
        a.file.display(),
        r.channel,
        r.version,
        if r.fast_forward {
            "  (fast-forward: may jump more than 2^20 versions)"
        } else {
            ""
        }
    );
    println!("issued   {}", time_text(r.issued));
    println!("start    {}", time_text(r.start));
    println!(
        "signed   by {} (listed in keyring version {}{})",
        signed.join(", "),
        keyring.version(),
        if keyring.is_stale(at) {
            ", which is STALE at --at"
        } else {
            ""
        }
    );
    println!(
        "\n  ring  machines (cumulative)  this ring  delay   eligible from (before policy delay)"
    );
    let mut prev = 0;
    for (i, g) in r.rings().iter().enumerate() {
        let eligible = r.start.saturating_add(g.delay_secs);
        println!(
            "  {i:<4}  {:>21}  {:>9}  {:>5}h  {}{}",
            format!("{}%", percent(g.fraction_ppm)),
            format!("{}%", percent(g.fraction_ppm - prev)),
            hours(g.delay_secs),
            time_text(eligible),
            if at >= eligible { "  open" } else { "" }
        );
        prev = g.fraction_ppm;
    }
    println!(
        "\nat {}: {}% of machines may activate it (those without a policy delay)",
        format_rfc3339(at),
        percent(open_ppm)
    );
    0
}

// ---------------------------------------------------------------- placement

fn placement(a: &PlacementArgs) -> i32 {
    let id = match hex::decode(a.machine_id.trim())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
    {
        Some(id) => id,
        None => {
            return report(
                a.json,
                "error",
                ErrorKind::Usage,
                &format!(
                    "--machine-id `{}`: expected 32 hex digits (16 bytes)",
                    a.machine_id
                ),
                None,
                2,
            );
        }
    };
    let (keyring, at) = match load_keyring(&a.trust) {
        Ok(x) => x,
        Err(e) => return keyring_failure(e, &a.trust.keyring, a.json),
    };
    let mut worst = 0;
    for path in &a.files {
        let bytes = match read_record(path) {
            Ok(b) => b,
            Err(e) => {
                worst = 2;
                Failure::io(&e, path).report(a.json);
                continue;
            }
        };
        let (channel, version, _) = release_identity(path, &bytes, a.channel, None);
        let r = match check_release(path, &bytes, &keyring, channel, version, at) {
            Ok(r) => r,
            Err(rej) => {
                worst = worst.max(1);
                if a.json {
                    println!("{}", rej.json(path));
                } else {
                    rej.print(path, &bytes);
                }
                continue;
            }
        };
        let point = ring_point(&id, r.channel);
        let ring = r.ring_of(point);
        let eligible = r.eligible_at(point, a.policy_delay);
        if a.json {
            let mut o = serde_json::Map::new();
            o.insert("file".into(), json!(path.display().to_string()));
            o.insert("channel".into(), json!(r.channel));
            o.insert("version".into(), json!(r.version));
            o.insert("machine_id".into(), json!(hex::encode(id)));
            o.insert("ring_point".into(), json!(point));
            o.insert("ring".into(), json!(ring));
            o.insert("policy_delay_secs".into(), json!(a.policy_delay));
            time_fields(&mut o, "eligible_at", eligible);
            time_fields(&mut o, "at", at);
            o.insert("eligible".into(), json!(at >= eligible));
            println!("{}", Value::Object(o));
        } else {
            println!(
                "{}  channel {} version {}: ring point {point} ppm ({}%), ring {ring}, eligible from {}{}",
                path.display(),
                r.channel,
                r.version,
                percent(point),
                time_text(eligible),
                if at >= eligible {
                    format!(" (eligible at {})", format_rfc3339(at))
                } else {
                    format!(
                        " (in {} from {})",
                        format_span(eligible - at),
                        format_rfc3339(at)
                    )
                }
            );
        }
    }
    worst
}

// ---------------------------------------------------------------- halt

/// `FIRST..=LAST` or a single version.
fn parse_versions(s: &str) -> Result<(u64, u64), String> {
    let num = |p: &str| {
        p.trim()
            .parse::<u64>()
            .map_err(|_| format!("--versions `{s}`: expected FIRST..=LAST or one version"))
    };
    match s.split_once("..=") {
        Some((f, l)) => Ok((num(f)?, num(l)?)),
        None if s.contains("..") => Err(format!(
            "--versions `{s}`: write an inclusive range FIRST..=LAST"
        )),
        None => {
            let v = num(s)?;
            Ok((v, v))
        }
    }
}

fn halt_build(a: &HaltBuildArgs) -> i32 {
    let (first, last) = match (&a.versions, a.lift) {
        (_, true) => (0, 0),
        (Some(v), false) => match parse_versions(v) {
            Ok(r) => r,
            Err(e) => return report(false, "error", ErrorKind::Usage, &e, None, 2),
        },
        (None, false) => {
            return report(
                false,
                "error",
                ErrorKind::Usage,
                "--versions or --lift is required",
                None,
                2,
            );
        }
    };
    let (name, key) = match name_and_key(halt_file_name(a.channel), &a.key) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let spec = HaltSpec {
        channel: a.channel,
        sequence: a.sequence,
        issued: a.issued.unwrap_or_else(unix_time::now),
        first,
        last,
    };
    let bytes = spec.to_bytes(&key.key);
    let trusted = [key.trusted()];
    if let Err(e) = Halt::validate(&bytes, &Trust::new(&trusted), a.channel) {
        let r = Rejected::new(Kind::Halt, e);
        let hint = if e.rule == RecordRule::BadRange {
            if first > last {
                format!(
                    "; --versions {first}..={last} is empty (first above last): write {last}..={first}"
                )
            } else {
                "; version 0 is \"none\": to lift every halt use --lift".into()
            }
        } else {
            String::new()
        };
        eprintln!(
            "error: {name}: not written: the halt validator rejects it: {}{hint}",
            r.message()
        );
        return 1;
    }
    let out = a
        .out
        .as_ref()
        .map_or_else(|| PathBuf::from(&name), |d| d.join(&name));
    if let Err(e) = write_atomically(&out, &bytes) {
        return Failure::io(&e, &out).report(false);
    }
    println!(
        "wrote {} ({} bytes, channel {}, sequence {}, {}, signed by {})",
        out.display(),
        bytes.len(),
        a.channel,
        a.sequence,
        if first == 0 {
            "lifts every halt".to_string()
        } else {
            format!("halts versions {first}..={last}")
        },
        key_id_hex(key.key.key_id())
    );
    0
}

fn halt_inspect(a: &HaltInspectArgs) -> i32 {
    let (keyring, at) = match load_keyring(&a.trust) {
        Ok(x) => x,
        Err(e) => return keyring_failure(e, &a.trust.keyring, a.json),
    };
    let bytes = match read_record(&a.file) {
        Ok(b) => b,
        Err(e) => return Failure::io(&e, &a.file).report(a.json),
    };
    let (channel, from) = match (a.channel, parse_halt_name(&a.file)) {
        (Some(c), _) => (c, "--channel"),
        (None, Some(c)) => (c, "file name"),
        (None, None) => (header_claim(&bytes).0, "header (unverified claim)"),
    };
    let keys = signers(&keyring, channel, at);
    let h = match Halt::validate(&bytes, &Trust::new(&keys), channel) {
        Ok(h) => h,
        Err(e) => {
            let mut rej = Rejected::new(Kind::Halt, true_size(&a.file, e));
            signer_context(&mut rej, &bytes, &keyring, channel, at);
            rej.extra.insert("expected_channel".into(), json!(channel));
            rej.extra.insert("expected_from".into(), json!(from));
            if rej.error.rule == RecordRule::WrongChannel {
                rej.note("read as", format!("channel {channel} (from the {from})"));
            }
            if a.json {
                println!("{}", rej.json(&a.file));
            } else {
                rej.print(&a.file, &bytes);
            }
            return 1;
        }
    };
    // The loader's check after the validator: a capped (revoked) key signs
    // no halt, so a leaked key can neither halt everything nor lift a halt.
    if let Some(id) = signer_ids(&bytes).into_iter().find(|id| {
        keyring
            .entries()
            .any(|e| e.id() == *id && e.covers(channel) && e.max_version != u64::MAX)
    }) {
        let mut rej = Rejected::new(
            Kind::Halt,
            RecordError {
                rule: RecordRule::UnknownKey,
                offset: 0,
                values: None,
            },
        );
        rej.loader_rule = Some("key-not-allowed");
        rej.loader_meaning = Some(format!(
            "keyring version {} caps key {} (revoked): a capped key signs no halt",
            keyring.version(),
            key_id_hex(id)
        ));
        rej.extra.insert("key_id".into(), json!(key_id_hex(id)));
        if a.json {
            println!("{}", rej.json(&a.file));
        } else {
            rej.print(&a.file, &bytes);
        }
        return 1;
    }
    let signed: Vec<String> = signer_ids(&bytes).into_iter().map(key_id_hex).collect();
    let lift = h.first == 0;
    if a.json {
        let mut o = serde_json::Map::new();
        o.insert("file".into(), json!(a.file.display().to_string()));
        o.insert("record".into(), json!("halt"));
        o.insert("valid".into(), json!(true));
        o.insert("channel".into(), json!(h.channel));
        o.insert("sequence".into(), json!(h.sequence));
        time_fields(&mut o, "issued", h.issued);
        o.insert("first".into(), json!(h.first));
        o.insert("last".into(), json!(h.last));
        o.insert("lift".into(), json!(lift));
        o.insert("signed_by".into(), json!(signed));
        o.insert("keyring_version".into(), json!(keyring.version()));
        o.insert("keyring_stale".into(), json!(keyring.is_stale(at)));
        time_fields(&mut o, "at", at);
        println!("{}", Value::Object(o));
        return 0;
    }
    println!(
        "{} {}  halt of channel {} sequence {}",
        crate::style::good("ok", crate::style::stdout_coloured()),
        a.file.display(),
        h.channel,
        h.sequence
    );
    println!("issued   {}", time_text(h.issued));
    if lift {
        println!("halts    nothing: lifts every earlier halt of the channel (range 0..=0)");
    } else {
        println!(
            "halts    versions {}..={}: never activated; one on trial goes back to the last known good; \
             one already promoted stays",
            h.first, h.last
        );
    }
    println!(
        "signed   by {} (listed in keyring version {} for {})",
        signed.join(", "),
        keyring.version(),
        channel_text(channel)
    );
    println!(
        "replay   machines accept it only if sequence {} is above the last they recorded for channel {}",
        h.sequence, h.channel
    );
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_parse_in_user_terms() {
        let r = parse_rings("0.1%@0h,1%@2h,10%@6h,50%@12h,100%@24h").unwrap();
        let want: Vec<(u32, u64)> = vec![
            (1_000, 0),
            (10_000, 7_200),
            (100_000, 21_600),
            (500_000, 43_200),
            (1_000_000, 86_400),
        ];
        let got: Vec<(u32, u64)> = r.iter().map(|g| (g.fraction_ppm, g.delay_secs)).collect();
        assert_eq!(got, want);
        assert_eq!(parse_rings("standard:6h").unwrap(), standard_rings(21_600));
        assert_eq!(
            parse_rings("250ppm@0h, 100%@1d").unwrap()[0].fraction_ppm,
            250
        );
        assert_eq!(parse_share("0.0001%"), Ok(1));
        assert!(parse_share("0.00001%").unwrap_err().contains("4 decimals"));
        assert!(parse_share("1.%").is_err());
        assert!(parse_share("50").unwrap_err().contains("ends in %"));
        assert!(parse_rings("50%").unwrap_err().contains("SHARE@DELAY"));
        assert!(parse_rings("100%@6").unwrap_err().contains("unit"));
    }

    #[test]
    fn names_and_ranges() {
        assert_eq!(
            release_file_name(291, 7).unwrap(),
            "C-00000291-00000007.rel"
        );
        assert!(release_file_name(0, 7).is_err());
        assert!(release_file_name(291, 0).is_err());
        assert_eq!(halt_file_name(291).unwrap(), "C-00000291.halt");
        assert!(halt_file_name(100_000_000).is_err());
        assert_eq!(
            parse_release_name(Path::new("x/C-00000291-00000007.rel")),
            Some((291, 7))
        );
        assert_eq!(parse_release_name(Path::new("C-291-7.rel")), None);
        assert_eq!(parse_halt_name(Path::new("C-00000291.halt")), Some(291));
        assert_eq!(parse_halt_name(Path::new("C-00000000.halt")), None);
        assert_eq!(parse_versions("7..=9"), Ok((7, 9)));
        assert_eq!(parse_versions("7"), Ok((7, 7)));
        assert!(parse_versions("7..9").unwrap_err().contains("inclusive"));
    }
}
