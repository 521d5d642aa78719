//! `changuard halt build|inspect`.

use super::files::{
    halt_file_name, header_claim, parse_halt_name, read_record, true_size, write_atomically,
};
use super::trust::{TrustArgs, keyring_failure, load_keyring, signer_context, signers};
use super::{Failure, name_and_key, time_arg};
use crate::json_error::{ErrorKind, report};
use crate::keys::key_id_hex;
use crate::release_report::{Kind, Rejected, channel_text, signer_ids, time_fields, time_text};
use crate::unix_time;
use changuard_format::Trust;
use changuard_release::build::HaltSpec;
use changuard_release::{Halt, RecordError, RecordRule};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;

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

pub fn halt(a: &HaltArgs) -> i32 {
    match &a.command {
        HaltCommand::Build(b) => halt_build(b),
        HaltCommand::Inspect(i) => halt_inspect(i),
    }
}

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
            rej.report(&a.file, &bytes, a.json);
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
        rej.report(&a.file, &bytes, a.json);
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
    fn versions_parse_as_inclusive_ranges() {
        assert_eq!(parse_versions("7..=9"), Ok((7, 9)));
        assert_eq!(parse_versions("7"), Ok((7, 7)));
        assert!(parse_versions("7..9").unwrap_err().contains("inclusive"));
    }
}
