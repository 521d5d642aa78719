//! `changuard release build|inspect|placement`.

use super::files::{
    header_claim, parse_release_name, read_record, release_file_name, true_size, write_atomically,
};
use super::trust::{TrustArgs, keyring_failure, load_keyring, signer_context, signers};
use super::{Failure, name_and_key, time_arg};
use crate::json_error::{ErrorKind, report};
use crate::keys::key_id_hex;
use crate::release_report::{
    Kind, Rejected, hours, percent, ring_json, signer_ids, time_fields, time_text,
};
use crate::unix_time::{self, format_duration, format_rfc3339, format_span, parse_duration};
use changuard_format::Trust;
use changuard_release::build::{ReleaseSpec, standard_rings};
use changuard_release::layout;
use changuard_release::{Keyring, RecordError, RecordRule, Release, Ring, ring_point};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

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

pub fn release(a: &ReleaseArgs) -> i32 {
    match &a.command {
        ReleaseCommand::Build(b) => release_build(b),
        ReleaseCommand::Inspect(i) => release_inspect(i),
        ReleaseCommand::Placement(p) => placement(p),
    }
}

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
            rej.report(&a.file, &bytes, a.json);
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
                rej.report(path, &bytes, a.json);
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
}
