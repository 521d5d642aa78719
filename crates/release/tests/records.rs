//! The release records against their validators: every rule at its offset,
//! thresholds, windows, revocation, rings and halts, and property tests that
//! no bytes panic and no single-byte change of a valid record is accepted.

use changuard_format::build::SigningKey;
use changuard_format::{Trust, TrustedKey};
use changuard_release::build::{HaltSpec, KeyringSpec, ReleaseSpec, standard_rings};
use changuard_release::layout::{self, ANY_CHANNEL};
use changuard_release::{
    Halt, KeyEntry, Keyring, RecordRule, Release, Ring, Roots, ring_point, trust_of,
};
use proptest::prelude::*;

const T0: u64 = 1_780_000_000;
const DAY: u64 = 86_400;

fn root(i: u8) -> SigningKey {
    SigningKey::from_seed([0x10 + i; 32])
}
fn content(i: u8) -> SigningKey {
    SigningKey::from_seed([0x40 + i; 32])
}
fn roots_keys() -> Vec<TrustedKey> {
    (0..3).map(|i| root(i).trusted_key()).collect()
}
fn entry(k: &SigningKey, channel: u32) -> KeyEntry {
    KeyEntry {
        public: k.public(),
        channel,
        test_only: false,
        not_before: T0 - DAY,
        not_after: T0 + 365 * DAY,
        max_version: u64::MAX,
    }
}
fn keyring_spec() -> KeyringSpec {
    KeyringSpec {
        version: 1,
        issued: T0,
        expires: T0 + 30 * DAY,
        keys: vec![entry(&content(0), 291), entry(&content(1), ANY_CHANNEL)],
    }
    .canonical()
}
fn two_of_three() -> Vec<u8> {
    keyring_spec().to_bytes(&[&root(0), &root(2)])
}
fn release_spec() -> ReleaseSpec {
    ReleaseSpec {
        channel: 291,
        version: 7,
        issued: T0,
        start: T0 + 3600,
        fast_forward: false,
        rings: standard_rings(6 * 3600),
    }
}

#[test]
fn keyring_needs_the_threshold_of_distinct_root_signatures() {
    let keys = roots_keys();
    let roots = Roots::new(&keys, 2).unwrap();
    let k = Keyring::validate(two_of_three(), &roots).unwrap();
    assert_eq!((k.version(), k.len(), k.expires()), (1, 2, T0 + 30 * DAY));

    let one = keyring_spec().to_bytes(&[&root(1)]);
    let e = Keyring::validate(&one[..], &roots).unwrap_err();
    assert_eq!(e.rule, RecordRule::BelowThreshold);
    assert_eq!(e.values, Some((2, 1)));

    // A content key cannot stand in for a root.
    let forged = keyring_spec().to_bytes(&[&root(0), &content(0)]);
    let e = Keyring::validate(&forged[..], &roots).unwrap_err();
    assert_eq!(e.rule, RecordRule::UnknownKey);
    assert!(Roots::new(&keys, 0).is_none() && Roots::new(&keys, 4).is_none());
}

#[test]
fn keyring_gives_each_channel_its_keys_in_their_window() {
    let keys = roots_keys();
    let k = Keyring::validate(two_of_three(), &Roots::new(&keys, 2).unwrap()).unwrap();
    let mut out = [TrustedKey::new([0; 32]); 16];
    assert_eq!(k.keys_for(291, Some(T0), &mut out), 2);
    assert_eq!(k.keys_for(300, Some(T0), &mut out), 1);
    assert_eq!(out[0].public, content(1).public());
    // Outside the window: no key for a new candidate, but the LKG (any window) keeps its key.
    assert_eq!(k.keys_for(300, Some(T0 + 400 * DAY), &mut out), 0);
    assert_eq!(k.keys_for(300, None, &mut out), 1);
    assert!(k.is_stale(T0 + 30 * DAY) && !k.is_stale(T0 + 30 * DAY - 1));
}

#[test]
fn a_revoked_key_keeps_what_it_signed_before_and_nothing_after() {
    let keys = roots_keys();
    let roots = Roots::new(&keys, 2).unwrap();
    let mut spec = keyring_spec();
    spec.version = 2;
    for e in &mut spec.keys {
        if e.public == content(0).public() {
            e.max_version = 6;
        }
    }
    let k = Keyring::validate(spec.to_bytes(&[&root(0), &root(1)]), &roots).unwrap();
    let id = content(0).key_id();
    assert!(k.allows(id, 291, 6));
    assert!(!k.allows(id, 291, 7));
    assert!(!k.allows(id, 300, 1), "listed for 291 only");
    assert!(k.allows(content(1).key_id(), 300, u64::MAX));
}

#[test]
fn keyring_entries_must_be_canonical() {
    let keys = roots_keys();
    let roots = Roots::new(&keys, 2).unwrap();
    let mut spec = keyring_spec();
    spec.keys.reverse();
    let e = Keyring::validate(spec.to_bytes(&[&root(0), &root(1)]), &roots).unwrap_err();
    assert_eq!(e.rule, RecordRule::KeysNotCanonical);
    assert_eq!(
        e.offset as usize,
        layout::HEADER_LEN + layout::KEYRING_HEAD_LEN + layout::KEY_ENTRY_LEN
    );

    // A key for every channel listed again for one channel.
    let mut spec = keyring_spec();
    spec.keys.push(entry(&content(1), 291));
    let spec = spec.canonical();
    let e = Keyring::validate(spec.to_bytes(&[&root(0), &root(1)]), &roots).unwrap_err();
    assert_eq!(e.rule, RecordRule::KeysNotCanonical);

    let mut spec = keyring_spec();
    spec.keys[0].not_after = spec.keys[0].not_before;
    let e = Keyring::validate(spec.to_bytes(&[&root(0), &root(1)]), &roots).unwrap_err();
    assert_eq!(e.rule, RecordRule::BadWindow);

    let mut spec = keyring_spec();
    spec.expires = spec.issued;
    let e = Keyring::validate(spec.to_bytes(&[&root(0), &root(1)]), &roots).unwrap_err();
    assert_eq!(e.rule, RecordRule::BadWindow);

    let mut spec = keyring_spec();
    spec.keys.clear();
    let e = Keyring::validate(spec.to_bytes(&[&root(0), &root(1)]), &roots).unwrap_err();
    assert_eq!(e.rule, RecordRule::KeyCount);
}

fn signers_for(k: &Keyring<Vec<u8>>, channel: u32, now: u64) -> (Vec<TrustedKey>, usize) {
    let mut out = vec![TrustedKey::new([0; 32]); 16];
    let n = k.keys_for(channel, Some(now), &mut out);
    (out, n)
}

#[test]
fn release_places_machines_in_rings_and_times_them() {
    let keys = roots_keys();
    let k = Keyring::validate(two_of_three(), &Roots::new(&keys, 2).unwrap()).unwrap();
    let (tk, n) = signers_for(&k, 291, T0);
    let r = Release::validate(
        &release_spec().to_bytes(&content(0)),
        &trust_of(&tk, n),
        291,
        7,
    )
    .unwrap();
    assert_eq!(r.rings().len(), 5);
    assert_eq!(r.ring_of(0), 0);
    assert_eq!(r.ring_of(999), 0);
    assert_eq!(r.ring_of(1_000), 1);
    assert_eq!(r.ring_of(999_999), 4);
    assert_eq!(r.eligible_at(0, 0), T0 + 3600);
    assert_eq!(r.eligible_at(999_999, 60), T0 + 3600 + 4 * 6 * 3600 + 60);

    // Wrong channel and wrong version are refused, with the expected value.
    let e = Release::validate(
        &release_spec().to_bytes(&content(0)),
        &trust_of(&tk, n),
        291,
        8,
    )
    .unwrap_err();
    assert_eq!((e.rule, e.values), (RecordRule::WrongVersion, Some((8, 7))));
    // Signed by a key the keyring does not list for the channel.
    let (tk300, n300) = signers_for(&k, 300, T0);
    let mut spec = release_spec();
    spec.channel = 300;
    let e = Release::validate(&spec.to_bytes(&content(0)), &trust_of(&tk300, n300), 300, 7)
        .unwrap_err();
    assert_eq!(e.rule, RecordRule::UnknownKey);
}

#[test]
fn rings_must_be_canonical() {
    let trust_keys = [content(0).trusted_key()];
    let t = Trust::new(&trust_keys);
    let bad = [
        vec![Ring {
            fraction_ppm: 500_000,
            delay_secs: 0,
        }],
        vec![
            Ring {
                fraction_ppm: 10_000,
                delay_secs: 0,
            },
            Ring {
                fraction_ppm: 10_000,
                delay_secs: 0,
            },
            Ring {
                fraction_ppm: 1_000_000,
                delay_secs: 0,
            },
        ],
        vec![
            Ring {
                fraction_ppm: 10_000,
                delay_secs: 100,
            },
            Ring {
                fraction_ppm: 1_000_000,
                delay_secs: 99,
            },
        ],
        vec![Ring {
            fraction_ppm: 1_000_000,
            delay_secs: 91 * DAY,
        }],
        vec![
            Ring {
                fraction_ppm: 0,
                delay_secs: 0,
            },
            Ring {
                fraction_ppm: 1_000_000,
                delay_secs: 0,
            },
        ],
    ];
    for rings in bad {
        let mut spec = release_spec();
        spec.rings = rings.clone();
        let e = Release::validate(&spec.to_bytes(&content(0)), &t, 291, 7).unwrap_err();
        assert_eq!(e.rule, RecordRule::RingsNotCanonical, "{rings:?}");
    }
    let mut spec = release_spec();
    spec.rings = (0..9)
        .map(|i| Ring {
            fraction_ppm: 100_000 * (i + 1) + 100_000 * u32::from(i == 8),
            delay_secs: 0,
        })
        .collect();
    let e = Release::validate(&spec.to_bytes(&content(0)), &t, 291, 7).unwrap_err();
    assert_eq!(e.rule, RecordRule::RingCount);
}

#[test]
fn version_jumps_need_the_fast_forward_flag() {
    let trust_keys = [content(0).trusted_key()];
    let t = Trust::new(&trust_keys);
    let mut spec = release_spec();
    spec.version = 7 + changuard_release::limits::MAX_VERSION_JUMP + 1;
    let r = Release::validate(&spec.to_bytes(&content(0)), &t, 291, spec.version).unwrap();
    assert!(!r.jump_allowed(Some(7)));
    assert!(r.jump_allowed(Some(8)));
    assert!(r.jump_allowed(None));
    spec.fast_forward = true;
    let r = Release::validate(&spec.to_bytes(&content(0)), &t, 291, spec.version).unwrap();
    assert!(r.jump_allowed(Some(7)));
}

#[test]
fn ring_points_are_stable_spread_and_independent_per_channel() {
    let id = |i: u32| {
        let mut m = [0u8; 16];
        m[..4].copy_from_slice(&i.to_le_bytes());
        m
    };
    assert_eq!(ring_point(&id(1), 291), ring_point(&id(1), 291));
    let n = 100_000u32;
    let canary = (0..n).filter(|&i| ring_point(&id(i), 291) < 1_000).count();
    // 0.1% of 100,000 = 100; a binomial's 5 sigma is about 50.
    assert!((50..=150).contains(&canary), "{canary}");
    let both = (0..n)
        .filter(|&i| ring_point(&id(i), 291) < 10_000 && ring_point(&id(i), 292) < 10_000)
        .count();
    // Independent channels: about 1% of 1% = 10 machines.
    assert!(both <= 40, "{both}");
}

#[test]
fn halts_cover_their_range_and_the_empty_range_lifts() {
    let trust_keys = [content(0).trusted_key()];
    let t = Trust::new(&trust_keys);
    let spec = HaltSpec {
        channel: 291,
        sequence: 3,
        issued: T0,
        first: 7,
        last: 9,
    };
    let h = Halt::validate(&spec.to_bytes(&content(0)), &t, 291).unwrap();
    assert!(!h.halts(6) && h.halts(7) && h.halts(9) && !h.halts(10));
    let lift = HaltSpec {
        first: 0,
        last: 0,
        sequence: 4,
        ..spec
    };
    let h = Halt::validate(&lift.to_bytes(&content(0)), &t, 291).unwrap();
    assert!(!h.halts(0) && !h.halts(7));
    for (first, last) in [(9, 7), (0, 5)] {
        let bad = HaltSpec {
            first,
            last,
            ..spec
        };
        let e = Halt::validate(&bad.to_bytes(&content(0)), &t, 291).unwrap_err();
        assert_eq!(e.rule, RecordRule::BadRange);
    }
    // A halt is not a release or a keyring.
    let e = Release::validate(&spec.to_bytes(&content(0)), &t, 291, 3).unwrap_err();
    assert_eq!((e.rule, e.offset), (RecordRule::BadMagic, 0));
    let e = Halt::validate(&spec.to_bytes(&content(0)), &t, 292).unwrap_err();
    assert_eq!(e.rule, RecordRule::WrongChannel);
}

#[test]
fn rule_codes_round_trip() {
    for r in RecordRule::ALL {
        assert_eq!(RecordRule::from_code(r.code()), Some(*r));
    }
    assert_eq!(RecordRule::from_code(0), None);
}

fn valid_records() -> Vec<Vec<u8>> {
    vec![
        two_of_three(),
        release_spec().to_bytes(&content(0)),
        HaltSpec {
            channel: 291,
            sequence: 1,
            issued: T0,
            first: 7,
            last: 7,
        }
        .to_bytes(&content(0)),
    ]
}

fn accepts(b: &[u8]) -> bool {
    let keys = roots_keys();
    let roots = Roots::new(&keys, 2).unwrap();
    let ck = [content(0).trusted_key()];
    let t = Trust::new(&ck);
    Keyring::validate(b, &roots).is_ok()
        || Release::validate(b, &t, 291, 7).is_ok()
        || Halt::validate(b, &t, 291).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = accepts(&b);
    }

    #[test]
    fn no_single_byte_change_is_accepted(which in 0usize..3, at in any::<prop::sample::Index>(), x in 1u8..=255) {
        let mut b = valid_records().swap_remove(which);
        prop_assert!(accepts(&b));
        let i = at.index(b.len());
        b[i] ^= x;
        prop_assert!(!accepts(&b), "byte {i} ^ {x:#x} accepted");
    }

    #[test]
    fn truncation_and_extension_are_rejected(which in 0usize..3, cut in 1usize..100, extra in proptest::collection::vec(any::<u8>(), 1..80)) {
        let b = valid_records().swap_remove(which);
        let short = &b[..b.len().saturating_sub(cut)];
        prop_assert!(!accepts(short));
        let mut long = b.clone();
        long.extend_from_slice(&extra);
        prop_assert!(!accepts(&long));
    }
}
