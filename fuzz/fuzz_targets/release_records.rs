//! The three release-record validators (keyring, release, halt), with fixed
//! root and content keys. The first input byte picks the mode:
//!
//! - 0: the rest is a record: every validator reads it (seeded with valid
//!   records signed by the fixed keys, fuzz/seeds/release_records);
//! - 1: a well-formed record built by the writers from the input, which must
//!   be accepted, then mutated (byte flips, truncation, extension, count
//!   fields set to large values): no panic, and a record changed inside its
//!   signed span (header and body) is never accepted by any validator;
//! - 2: an arbitrary body framed and signed by the writers' `envelope`, so
//!   the body checks run behind a valid signature: whatever is accepted must
//!   decode consistently.
//!
//! The release validators verify Ed25519 signatures under `cfg(fuzzing)` too
//! (unlike the channel file validator), so modes 1 and 2 are what reaches
//! past the signature check.
#![no_main]

use arbitrary::{Result, Unstructured};
use changuard_format::build::SigningKey;
use changuard_format::{Trust, TrustedKey};
use changuard_release::build::{HaltSpec, KeyringSpec, ReleaseSpec, envelope, standard_rings};
use changuard_release::layout::{self, ALL_MACHINES_PPM, ANY_CHANNEL};
use changuard_release::limits::{MAX_KEYS, MAX_RING_DELAY_SECS, MAX_RINGS};
use changuard_release::{Halt, KeyEntry, Keyring, Release, Ring, Roots, trust_of};
use libfuzzer_sys::fuzz_target;

/// Channel and version the release and halt validators are run for.
const CHANNEL: u32 = 291;
const VERSION: u64 = 7;
/// Root signatures a keyring needs (of three roots).
const THRESHOLD: usize = 2;

fn root(i: u8) -> SigningKey {
    SigningKey::from_seed([0x10 + i; 32])
}
fn content() -> SigningKey {
    SigningKey::from_seed([0x40; 32])
}
/// A key for keyring entries (`i` < 16).
fn entry_key(i: u8) -> SigningKey {
    SigningKey::from_seed([0x60 + i; 32])
}

struct Keys {
    roots: Vec<TrustedKey>,
    content: [TrustedKey; 1],
}

impl Keys {
    fn new() -> Keys {
        Keys {
            roots: (0..3).map(|i| root(i).trusted_key()).collect(),
            content: [content().trusted_key()],
        }
    }
}

/// Which validators accept `b`; each accepted record is walked.
fn accepted(k: &Keys, b: &[u8]) -> [bool; 3] {
    let roots = Roots::new(&k.roots, THRESHOLD).expect("2 of 3");
    let t = Trust::new(&k.content);
    let keyring = Keyring::validate(b, &roots)
        .map(|r| walk_keyring(&r))
        .is_ok();
    let release = Release::validate(b, &t, CHANNEL, VERSION)
        .map(|r| walk_release(&r))
        .is_ok();
    let halt = Halt::validate(b, &t, CHANNEL)
        .map(|h| walk_halt(&h))
        .is_ok();
    [keyring, release, halt]
}

fn walk_keyring(k: &Keyring<&[u8]>) {
    assert!(k.issued() < k.expires());
    assert!((1..=MAX_KEYS).contains(&k.len()));
    assert_eq!(k.entries().count(), k.len());
    let mut last: Option<([u8; 8], u32)> = None;
    for e in k.entries() {
        assert!(e.not_before < e.not_after);
        let this = (e.id().0, e.channel);
        assert!(last.is_none_or(|l| l < this), "entries canonical");
        last = Some(this);
        let _ = k.allows(e.id(), CHANNEL, VERSION);
    }
    let mut out = [TrustedKey::new([0; 32]); MAX_KEYS];
    for now in [None, Some(0), Some(k.issued()), Some(u64::MAX)] {
        let n = k.keys_for(CHANNEL, now, &mut out);
        assert!(n <= k.len());
        let _ = trust_of(&out, n);
    }
    assert!(k.entry(k.len()).is_none());
}

fn walk_release(r: &Release) {
    let rings = r.rings();
    assert!((1..=MAX_RINGS).contains(&rings.len()));
    assert_eq!(rings.last().map(|g| g.fraction_ppm), Some(ALL_MACHINES_PPM));
    for w in rings.windows(2) {
        assert!(w[0].fraction_ppm < w[1].fraction_ppm && w[0].delay_secs <= w[1].delay_secs);
    }
    for p in [0, 1, 999, 500_000, ALL_MACHINES_PPM - 1] {
        assert!(r.ring_of(p) < rings.len());
        assert!(r.eligible_at(p, u64::MAX) >= r.start);
    }
    let _ = (
        r.jump_allowed(None),
        r.jump_allowed(Some(0)),
        r.jump_allowed(Some(u64::MAX)),
    );
}

fn walk_halt(h: &Halt) {
    assert!(h.first <= h.last && (h.first != 0 || h.last == 0));
    let _ = (
        h.halts(0),
        h.halts(h.first),
        h.halts(h.last),
        h.halts(u64::MAX),
    );
}

/// A keyring the validator must accept.
fn keyring(u: &mut Unstructured) -> Result<(Vec<u8>, &'static [u8; 8])> {
    let n = u.int_in_range(1..=MAX_KEYS)?;
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let not_before: u64 = u.arbitrary()?;
        let not_after = not_before.saturating_add(u.int_in_range(1..=u64::MAX / 2)?);
        if not_after == not_before {
            continue;
        }
        keys.push(KeyEntry {
            // Distinct keys: no (key, channel) twice, no key for any channel and one.
            public: entry_key(i as u8).public(),
            channel: if u.arbitrary()? {
                ANY_CHANNEL
            } else {
                u.int_in_range(1..=u32::MAX)?
            },
            test_only: u.arbitrary()?,
            not_before,
            not_after,
            max_version: u.arbitrary()?,
        });
    }
    if keys.is_empty() {
        keys.push(KeyEntry {
            public: entry_key(0).public(),
            channel: CHANNEL,
            test_only: false,
            not_before: 0,
            not_after: 1,
            max_version: u64::MAX,
        });
    }
    let issued: u64 = u.int_in_range(0..=u64::MAX - 1)?;
    let spec = KeyringSpec {
        version: u.arbitrary()?,
        issued,
        expires: u.int_in_range(issued + 1..=u64::MAX)?,
        keys,
    }
    .canonical();
    let signers: Vec<SigningKey> = match u.int_in_range(0..=3u8)? {
        0 => vec![root(0), root(1)],
        1 => vec![root(1), root(2)],
        2 => vec![root(0), root(2)],
        _ => vec![root(0), root(1), root(2)],
    };
    let refs: Vec<&SigningKey> = signers.iter().collect();
    Ok((spec.to_bytes(&refs), &layout::KEYRING_MAGIC))
}

/// Canonical rings: strictly increasing shares ending at the whole fleet,
/// non-decreasing delays within the cap.
fn rings(u: &mut Unstructured) -> Result<Vec<Ring>> {
    if u.arbitrary()? {
        return Ok(standard_rings(u.int_in_range(0..=MAX_RING_DELAY_SECS / 4)?));
    }
    let n = u.int_in_range(1..=MAX_RINGS)?;
    let mut shares: Vec<u32> = (0..n - 1)
        .map(|_| u.int_in_range(1..=ALL_MACHINES_PPM - 1))
        .collect::<Result<_>>()?;
    shares.sort_unstable();
    shares.dedup();
    shares.push(ALL_MACHINES_PPM);
    let mut delays: Vec<u64> = (0..shares.len())
        .map(|_| u.int_in_range(0..=MAX_RING_DELAY_SECS))
        .collect::<Result<_>>()?;
    delays.sort_unstable();
    Ok(shares
        .into_iter()
        .zip(delays)
        .map(|(fraction_ppm, delay_secs)| Ring {
            fraction_ppm,
            delay_secs,
        })
        .collect())
}

fn release(u: &mut Unstructured) -> Result<(Vec<u8>, &'static [u8; 8])> {
    let spec = ReleaseSpec {
        channel: CHANNEL,
        version: VERSION,
        issued: u.arbitrary()?,
        start: u.arbitrary()?,
        fast_forward: u.arbitrary()?,
        rings: rings(u)?,
    };
    Ok((spec.to_bytes(&content()), &layout::RELEASE_MAGIC))
}

fn halt(u: &mut Unstructured) -> Result<(Vec<u8>, &'static [u8; 8])> {
    let (first, last) = if u.arbitrary()? {
        (0, 0)
    } else {
        let first = u.int_in_range(1..=u64::MAX)?;
        (first, u.int_in_range(first..=u64::MAX)?)
    };
    let spec = HaltSpec {
        channel: CHANNEL,
        sequence: u.arbitrary()?,
        issued: u.arbitrary()?,
        first,
        last,
    };
    Ok((spec.to_bytes(&content()), &layout::HALT_MAGIC))
}

/// The count fields of a record, as absolute offsets, for its magic.
fn count_fields(b: &[u8], magic: &[u8; 8]) -> Vec<usize> {
    let body_len = u32::from_le_bytes(b[layout::header::BODY_LEN].try_into().unwrap()) as usize;
    let mut at = vec![
        layout::header::BODY_LEN.start,
        layout::HEADER_LEN + body_len + layout::signatures::COUNT.start,
    ];
    if magic == &layout::KEYRING_MAGIC {
        at.push(layout::HEADER_LEN + layout::keyring::KEY_COUNT.start);
    } else if magic == &layout::RELEASE_MAGIC {
        at.push(layout::HEADER_LEN + layout::release::RING_COUNT.start);
    }
    at
}

fn mutated(k: &Keys, u: &mut Unstructured) -> Result<()> {
    let (valid, magic) = match u.int_in_range(0..=2u8)? {
        0 => keyring(u)?,
        1 => release(u)?,
        _ => halt(u)?,
    };
    let which = if magic == &layout::KEYRING_MAGIC {
        0
    } else if magic == &layout::RELEASE_MAGIC {
        1
    } else {
        2
    };
    let ok = accepted(k, &valid);
    assert!(ok[which], "the writer's well-formed record is accepted");
    assert_eq!(ok.iter().filter(|a| **a).count(), 1, "one kind only");
    let body_len = u32::from_le_bytes(valid[layout::header::BODY_LEN].try_into().unwrap()) as usize;
    let signed = layout::HEADER_LEN + body_len;

    let mut b = valid.clone();
    for _ in 0..u.int_in_range(1..=4u8)? {
        match u.int_in_range(0..=4u8)? {
            // Flip bits of one byte.
            0 | 1 => {
                if b.is_empty() {
                    continue;
                }
                let i = u.choose_index(b.len())?;
                let x: u8 = u.int_in_range(1..=255)?;
                b[i] ^= x;
            }
            // Truncate.
            2 => {
                let cut = u.int_in_range(1..=b.len().max(1))?;
                b.truncate(b.len().saturating_sub(cut));
            }
            // Extend.
            3 => {
                let extra: Vec<u8> = u.arbitrary()?;
                b.extend_from_slice(if extra.is_empty() { &[0] } else { &extra });
            }
            // A count field set to a large value.
            _ => {
                let fields = count_fields(&valid, magic);
                let at = *u.choose(&fields)?;
                let big: u32 = u.int_in_range(0x100..=u32::MAX)?;
                if let Some(f) = b.get_mut(at..at + 4) {
                    f.copy_from_slice(&big.to_le_bytes());
                }
            }
        }
    }
    // A record whose header or body differs from what was signed (bytes
    // changed, or cut short) fails the signature or the framing. Changes
    // behind the signed span alone may be valid (one of three root
    // signatures dropped and the count lowered is a valid keyring), so they
    // are only checked not to panic.
    let now = accepted(k, &b);
    if b.get(..signed) != valid.get(..signed) {
        assert!(
            !now.iter().any(|a| *a),
            "a record changed inside its signed span was accepted: {now:?}"
        );
    }
    Ok(())
}

fn resigned(k: &Keys, u: &mut Unstructured) -> Result<()> {
    let magic = *u.choose(&[
        layout::KEYRING_MAGIC,
        layout::RELEASE_MAGIC,
        layout::HALT_MAGIC,
    ])?;
    let flags: u32 = if u.arbitrary()? { 0 } else { u.arbitrary()? };
    let channel = if u.arbitrary()? {
        if magic == layout::KEYRING_MAGIC {
            0
        } else {
            CHANNEL
        }
    } else {
        u.arbitrary()?
    };
    let sequence = if u.arbitrary()? {
        VERSION
    } else {
        u.arbitrary()?
    };
    let issued: u64 = u.arbitrary()?;
    let body: Vec<u8> = u.arbitrary()?;
    let signers: Vec<SigningKey> = match u.int_in_range(0..=3u8)? {
        0 => vec![root(0), root(1)],
        1 => vec![root(2)],
        2 => vec![content()],
        _ => vec![content(), root(0), root(1), root(2)],
    };
    let refs: Vec<&SigningKey> = signers.iter().collect();
    let b = envelope(magic, flags, channel, sequence, issued, &body, &refs);
    let _ = accepted(k, &b);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let k = Keys::new();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let _ = accepted(&k, rest);
        }
        1 => {
            let _ = mutated(&k, &mut Unstructured::new(rest));
        }
        _ => {
            let _ = resigned(&k, &mut Unstructured::new(rest));
        }
    }
});
