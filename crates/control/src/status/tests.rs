use proptest::prelude::*;

use super::decision::reason_of_code;
use super::*;
use crate::wire::{DecodeError, DecodeErrorKind, EncodeError};

fn sample() -> (DriverStatus, [ChannelStatus; 2]) {
    let d = DriverStatus {
        flags: DRIVER_FLAG_EVENT_SOURCE,
        events_seen: 10,
        detections: 2,
        eval_faults: 0,
        reloads: 1,
        reload_fallbacks: 1,
        last_platform_status: -1_073_741_772,
        memory_budget: 512 << 20,
        memory_charged: 151_519_232,
    };
    let mut a = ChannelStatus::empty(291);
    a.source = Source::Lkg;
    a.active_version = 7;
    a.lkg_version = Some(7);
    a.last_rejection = Some(Rejection {
        reason: 5,
        rule: 12,
        offset: 0x40,
    });
    a.quarantined = [9, 8, 0, 0];
    a.quarantined_count = 2;
    let mut b = ChannelStatus::empty(2);
    b.source = Source::Candidate;
    b.active_version = 3;
    b.trial_attempt = Some(1);
    (d, [a, b])
}

#[test]
fn round_trip_sample() {
    let (d, chans) = sample();
    let mut buf = [0u8; MAX_REPLY_LEN];
    let n = encode_status(&d, &chans, Decisions::default(), &mut buf).unwrap();
    assert_eq!(n, HEADER_LEN + MEMORY_LEN + 2 * RECORD_LEN + DECISIONS_LEN);
    let r = decode_status(&buf[..n]).unwrap();
    assert_eq!(r.driver, d);
    assert_eq!(r.channels(), &chans);
    assert_eq!(r.channels()[0].quarantined(), &[9, 8]);
}

#[test]
fn precise_errors() {
    let (d, chans) = sample();
    let mut buf = [0u8; MAX_REPLY_LEN];
    let n = encode_status(&d, &chans, Decisions::default(), &mut buf).unwrap();
    assert_eq!(
        decode_status(&buf[..n - 1]).unwrap_err().kind,
        DecodeErrorKind::TooShort
    );
    assert_eq!(
        decode_status(&buf[..n + 1]).unwrap_err().kind,
        DecodeErrorKind::TrailingBytes
    );
    assert_eq!(
        decode_status(&buf[..10]).unwrap_err(),
        DecodeError::new(DecodeErrorKind::TooShort, "status header", 0, 56, 10)
    );
    const R0: usize = HEADER_LEN + MEMORY_LEN;
    let mut bad = buf;
    bad[R0 + 4] = 9; // source of record 0
    let e = decode_status(&bad[..n]).unwrap_err();
    assert_eq!((e.kind, e.offset), (DecodeErrorKind::BadEnum, R0 + 4));
    let mut bad = buf;
    bad[R0 + RECORD_LEN + 40] = 1; // unused quarantine slot of record 1
    let e = decode_status(&bad[..n]).unwrap_err();
    assert_eq!(
        (e.kind, e.offset),
        (DecodeErrorKind::ReservedNonZero, R0 + RECORD_LEN + 40)
    );
    let mut bad = buf;
    bad[HEADER_LEN + 15] = 0xFF; // charged far above the limit
    let e = decode_status(&bad[..n]).unwrap_err();
    assert_eq!(
        (e.kind, e.offset),
        (DecodeErrorKind::TooMany, HEADER_LEN + 8)
    );
    let mut over = d;
    over.memory_charged = over.memory_budget + 1;
    assert_eq!(
        encode_status(&over, &chans, Decisions::default(), &mut buf),
        Err(EncodeError::ValueOutOfRange {
            what: "driver.memory_charged"
        })
    );
    let mut bad = buf;
    bad[6] = 17; // channel_count
    assert_eq!(
        decode_status(&bad[..n]).unwrap_err().kind,
        DecodeErrorKind::TooMany
    );
    let mut bad = buf;
    bad[8] ^= 1; // total_len
    assert_eq!(
        decode_status(&bad[..n]).unwrap_err().kind,
        DecodeErrorKind::LengthMismatch
    );
    // Below the version 3 length a version 2 reply is written; below that, nothing.
    let v2 = n - DECISIONS_LEN;
    assert_eq!(
        encode_status(&d, &chans, Decisions::default(), &mut buf[..n - 1]),
        Ok(v2)
    );
    assert_eq!(
        encode_status(&d, &chans, Decisions::default(), &mut buf[..v2 - 1]),
        Err(EncodeError::BufferTooSmall { needed: n })
    );
    let many = [ChannelStatus::empty(1); MAX_CHANNELS + 1];
    assert_eq!(
        encode_status(&d, &many, Decisions::default(), &mut [0u8; 4096]),
        Err(EncodeError::TooMany { max: MAX_CHANNELS })
    );
}

/// A version 1 reply (before issue 11 finding 9: no memory block) still
/// decodes, with the memory figures unknown (0).
#[test]
fn version_1_replies_still_decode() {
    let (d, chans) = sample();
    // A buffer too small for version 3 gets version 2 (no decisions block).
    let mut buf = [0u8; MAX_REPLY_LEN_V2];
    let v2 = HEADER_LEN + MEMORY_LEN + 2 * RECORD_LEN;
    let n = encode_status(&d, &chans, Decisions::default(), &mut buf[..v2]).unwrap();
    assert_eq!(n, HEADER_LEN + MEMORY_LEN + 2 * RECORD_LEN);
    assert_eq!(decode_status(&buf[..n]).unwrap().version, STATUS_VERSION_2);
    let mut v1 = std::vec::Vec::from(&buf[..HEADER_LEN]);
    v1.extend_from_slice(&buf[HEADER_LEN + MEMORY_LEN..n]);
    v1[4..6].copy_from_slice(&STATUS_VERSION_1.to_le_bytes());
    let len = u32::try_from(v1.len()).unwrap();
    v1[8..12].copy_from_slice(&len.to_le_bytes());
    let r = decode_status(&v1).unwrap();
    let mut want = d;
    (want.memory_budget, want.memory_charged) = (0, 0);
    assert_eq!(r.driver, want);
    assert_eq!(r.channels(), &chans);
    // A version 2 length with a version 1 header is refused.
    let mut bad = buf;
    bad[4..6].copy_from_slice(&STATUS_VERSION_1.to_le_bytes());
    assert_eq!(
        decode_status(&bad[..n]).unwrap_err().kind,
        DecodeErrorKind::LengthMismatch
    );
    bad[4] = 4;
    assert_eq!(
        decode_status(&bad[..n]).unwrap_err().kind,
        DecodeErrorKind::BadVersion
    );
}

fn decision(seq: u32, reason: u16) -> DecisionRecord {
    DecisionRecord {
        time: 1_767_225_600 + u64::from(seq),
        channel: 291,
        version: 7,
        attempt: 2,
        reason,
        detail: 0,
        offset: 0,
        seq,
        flags: DECISION_FLAG_LOGGED | DECISION_FLAG_OPERATOR_EVENT,
    }
}

/// Version 3: the decisions round-trip after the channel records, and a
/// buffer sized for version 2 (an older CLI) gets version 2 without them.
#[test]
fn decisions_round_trip_and_fall_back_to_version_2() {
    let (d, chans) = sample();
    let recs = [decision(40, 711), decision(41, 206)];
    let list = Decisions {
        records: &recs,
        recorded: 41,
    };
    let mut buf = [0u8; MAX_REPLY_LEN];
    let n = encode_status(&d, &chans, list, &mut buf).unwrap();
    assert_eq!(n, reply_len(2, 2).unwrap());
    let r = decode_status(&buf[..n]).unwrap();
    assert_eq!(r.version, STATUS_VERSION);
    assert_eq!(r.decisions(), &recs);
    assert_eq!(r.decisions_recorded, 41);
    assert_eq!(r.decision_list(), list);
    assert!(r.decisions()[0].logged() && r.decisions()[0].operator_event());
    let v2 = HEADER_LEN + MEMORY_LEN + 2 * RECORD_LEN;
    let mut small = [0u8; MAX_REPLY_LEN_V2];
    let m = encode_status(&d, &chans, list, &mut small[..n - 1]).unwrap();
    assert_eq!(m, v2);
    let r2 = decode_status(&small[..m]).unwrap();
    assert_eq!((r2.version, r2.decisions().len()), (STATUS_VERSION_2, 0));
    assert_eq!(r2.channels(), &chans);
    assert_eq!(
        encode_status(&d, &chans, list, &mut small[..m - 1]),
        Err(EncodeError::BufferTooSmall { needed: n })
    );
    // More records than recorded, or than the wire holds, is refused.
    let bad = Decisions {
        records: &recs,
        recorded: 1,
    };
    assert_eq!(
        encode_status(&d, &chans, bad, &mut buf),
        Err(EncodeError::ValueOutOfRange {
            what: "decisions.recorded"
        })
    );
    let many = [decision(1, 211); MAX_DECISIONS + 1];
    let over = Decisions {
        records: &many,
        recorded: 99,
    };
    assert_eq!(
        encode_status(&d, &chans, over, &mut [0u8; 8192]),
        Err(EncodeError::TooMany { max: MAX_DECISIONS })
    );
}

#[test]
fn decision_decode_errors_are_precise() {
    let (d, chans) = sample();
    let recs = [decision(1, 501)];
    let list = Decisions {
        records: &recs,
        recorded: 1,
    };
    let mut buf = [0u8; MAX_REPLY_LEN];
    let n = encode_status(&d, &chans, list, &mut buf).unwrap();
    let block = HEADER_LEN + MEMORY_LEN + 2 * RECORD_LEN;
    let rec = block + DECISIONS_LEN;
    let mut bad = buf;
    bad[block] = 2; // count 2: the declared length no longer matches
    assert_eq!(
        decode_status(&bad[..n]).unwrap_err().kind,
        DecodeErrorKind::TooMany,
        "count above recorded"
    );
    bad[block + 4] = 9; // recorded 9
    let e = decode_status(&bad[..n]).unwrap_err();
    assert_eq!((e.kind, e.offset), (DecodeErrorKind::LengthMismatch, 8));
    let mut bad = buf;
    bad[block] = 33;
    bad[block + 4] = 40;
    let e = decode_status(&bad[..n]).unwrap_err();
    assert_eq!((e.kind, e.offset), (DecodeErrorKind::TooMany, block));
    let mut bad = buf;
    bad[block + 2] = 1;
    let e = decode_status(&bad[..n]).unwrap_err();
    assert_eq!(
        (e.kind, e.offset),
        (DecodeErrorKind::ReservedNonZero, block + 2)
    );
    for (off, what) in [
        (40, "decision.flags"),
        (41, "decision.reserved0"),
        (42, "decision.reserved1"),
        (44, "decision.reserved2"),
    ] {
        let mut bad = buf;
        bad[rec + off] = 0x80;
        let e = decode_status(&bad[..n]).unwrap_err();
        assert_eq!(
            (e.kind, e.offset, e.what),
            (DecodeErrorKind::ReservedNonZero, rec + off, what)
        );
    }
    // Cut inside the decisions block header.
    let e = decode_status(&buf[..block + 3]).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::TooShort);
}

/// Every code the loader defines has its name, and the names are the loader's.
#[test]
fn reason_names_are_the_loaders() {
    use changuard_loader::Reason;
    assert_eq!(reason_name(711), Some(Reason::TrialHalted.name()));
    assert_eq!(reason_name(211), Some("on-trial"));
    assert_eq!(reason_name(705), Some("keyring-stale"));
    assert_eq!(reason_name(104), Some("config-value"));
    assert_eq!(reason_name(206), Some("candidate-rejected"));
    assert_eq!(reason_name(713), Some("halt-rejected"));
    assert_eq!(reason_name(0), None);
    assert_eq!(reason_name(799), None);
    let mut known = 0;
    for code in 0..=u16::MAX {
        if let Some(r) = reason_of_code(code) {
            assert_eq!(r.code(), code, "placeholder for {code} has another code");
            assert_eq!(reason_name(code), Some(r.name()));
            known += 1;
        }
    }
    assert_eq!(
        known, 66,
        "a reason code was added or removed: update reason_of_code"
    );
}

fn arb_decision() -> impl Strategy<Value = DecisionRecord> {
    (
        (any::<u64>(), any::<u32>(), any::<u64>(), any::<u32>()),
        (any::<u16>(), any::<u16>(), any::<u64>(), any::<u32>()),
        0u8..=DECISION_FLAGS_KNOWN,
    )
        .prop_map(
            |((time, channel, version, attempt), (reason, detail, offset, seq), flags)| {
                DecisionRecord {
                    time,
                    channel,
                    version,
                    attempt,
                    reason,
                    detail,
                    offset,
                    seq,
                    flags,
                }
            },
        )
}

fn arb_channel() -> impl Strategy<Value = ChannelStatus> {
    (
        any::<u32>(),
        0u8..4,
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of((any::<u16>(), any::<u16>(), any::<u64>())),
        proptest::array::uniform4(any::<u64>()),
        0u8..=4,
        (any::<u64>(), any::<u64>(), any::<u64>()),
    )
        .prop_map(|(id, src, ver, lkg, trial, rej, q, qn, (ev, det, fl))| {
            let source = Source::from_code(src).unwrap();
            let mut quarantined = [0u64; MAX_QUARANTINED];
            quarantined[..usize::from(qn)].copy_from_slice(&q[..usize::from(qn)]);
            ChannelStatus {
                channel_id: id,
                source,
                active_version: if source == Source::None { 0 } else { ver },
                lkg_version: lkg,
                trial_attempt: trial,
                last_rejection: rej.map(|(reason, rule, offset)| Rejection {
                    reason,
                    rule,
                    offset,
                }),
                quarantined,
                quarantined_count: qn,
                events: ev,
                detections: det,
                faults: fl,
            }
        })
}

proptest! {
    #[test]
    fn round_trips(flags in 0u32..=DRIVER_FLAGS_KNOWN, ev in any::<u64>(), st in any::<i32>(), (limit, used) in (any::<u64>(), any::<u64>()), chans in proptest::collection::vec(arb_channel(), 0..=MAX_CHANNELS)) {
        let d = DriverStatus { flags, events_seen: ev, detections: ev / 2, eval_faults: 3, reloads: 4, reload_fallbacks: 1, last_platform_status: st, memory_budget: limit.max(used), memory_charged: limit.min(used) };
        let mut buf = [0u8; MAX_REPLY_LEN];
        let n = encode_status(&d, &chans, Decisions::default(), &mut buf).unwrap();
        let r = decode_status(&buf[..n]).unwrap();
        prop_assert_eq!(r.driver, d);
        prop_assert_eq!(r.channels(), &chans[..]);
    }

    #[test]
    fn round_trips_with_decisions(chans in proptest::collection::vec(arb_channel(), 0..=MAX_CHANNELS), recs in proptest::collection::vec(arb_decision(), 0..=MAX_DECISIONS), extra in 0u32..1000) {
        let list = Decisions { records: &recs, recorded: u32::try_from(recs.len()).unwrap() + extra };
        let mut buf = [0u8; MAX_REPLY_LEN];
        let n = encode_status(&DriverStatus::default(), &chans, list, &mut buf).unwrap();
        prop_assert_eq!(n, reply_len(chans.len(), recs.len()).unwrap());
        let r = decode_status(&buf[..n]).unwrap();
        prop_assert_eq!(r.channels(), &chans[..]);
        prop_assert_eq!(r.decision_list(), list);
    }

    #[test]
    fn mutated_decisions_never_panic(recs in proptest::collection::vec(arb_decision(), 0..=MAX_DECISIONS), pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let list = Decisions { records: &recs, recorded: u32::try_from(recs.len()).unwrap() };
        let mut buf = [0u8; MAX_REPLY_LEN];
        let n = encode_status(&DriverStatus::default(), &[], list, &mut buf).unwrap();
        buf[pos % n] = byte;
        match decode_status(&buf[..n]) {
            Ok(r) => prop_assert!(r.decisions().len() <= MAX_DECISIONS && r.decisions().len() as u64 <= u64::from(r.decisions_recorded)),
            Err(e) => prop_assert!(e.offset <= n),
        }
        let cut = cut % (n + 1);
        if let Err(e) = decode_status(&buf[..cut]) {
            prop_assert!(e.offset <= n);
        }
    }

    #[test]
    fn any_bytes_decode_or_fail_precisely(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        match decode_status(&bytes) {
            Ok(r) => prop_assert!(r.channels().len() <= MAX_CHANNELS),
            Err(e) => prop_assert!(e.offset <= bytes.len()),
        }
    }

    #[test]
    fn mutated_replies_never_panic(chans in proptest::collection::vec(arb_channel(), 0..4), pos in any::<usize>(), byte in any::<u8>()) {
        let mut buf = [0u8; MAX_REPLY_LEN];
        let n = encode_status(&DriverStatus::default(), &chans, Decisions::default(), &mut buf).unwrap();
        buf[pos % n] = byte;
        let _ = decode_status(&buf[..n]);
    }
}
