//! The trust a record is checked against: root keys, the keyring, and
//! what to tell the user when a signer is not trusted.

use super::files::{read_record, true_size};
use super::{Failure, time_arg};
use crate::keys::{self, key_id_hex};
use crate::release_report::{Kind, Rejected, key_id_at, signer_ids};
use crate::unix_time::{self, format_rfc3339};
use changuard_format::{KeyId, TrustedKey};
use changuard_release::limits::MAX_KEYS;
use changuard_release::{KeyEntry, Keyring, RecordRule, Roots};
use clap::Args;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The trust a release or halt is checked with.
#[derive(Args, Debug)]
pub struct TrustArgs {
    /// The keyring (`keyring.ckr`) that lists the content keys.
    #[arg(long)]
    pub(super) keyring: PathBuf,
    /// Public root key the driver trusts (repeat).
    #[arg(long = "root", required = true)]
    pub(super) roots: Vec<PathBuf>,
    /// Root signatures the keyring needs (default: the number of --root).
    #[arg(long)]
    pub(super) threshold: Option<usize>,
    /// Check as a machine would at this time (RFC 3339, Unix seconds or
    /// `now`; default now): key windows and staleness.
    #[arg(long, value_parser = time_arg)]
    pub(super) at: Option<u64>,
}

pub(super) fn read_roots(paths: &[PathBuf]) -> Result<Vec<TrustedKey>, Failure> {
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
pub(super) fn keyring_context(
    r: &mut Rejected,
    bytes: &[u8],
    roots: &[TrustedKey],
    threshold: usize,
) {
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

pub(super) fn root_ids_vec(roots: &[TrustedKey]) -> Vec<String> {
    roots.iter().map(|k| key_id_hex(k.id)).collect()
}

/// Why the keyring of an inspect command cannot be used.
pub(super) enum KeyringFailure {
    /// The validator rejects it (its bytes, for the dump).
    Rejected(Box<Rejected>, Vec<u8>),
    /// It, or a root key, cannot be read, or the threshold is wrong.
    Other(Failure),
}

/// Validate the keyring of `t`: the roots, the threshold, the bytes.
pub(super) fn load_keyring(t: &TrustArgs) -> Result<(Keyring<Vec<u8>>, u64), KeyringFailure> {
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
pub(super) fn signers(keyring: &Keyring<Vec<u8>>, channel: u32, at: u64) -> Vec<TrustedKey> {
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
pub(super) fn keyring_failure(e: KeyringFailure, keyring_path: &Path, json: bool) -> i32 {
    match e {
        KeyringFailure::Other(f) => f.report(json),
        KeyringFailure::Rejected(r, bytes) => {
            r.report(keyring_path, &bytes, json);
            1
        }
    }
}

pub(super) fn signer_context(
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
