//! `IOCTL_SUBMIT_EVENT`: a synthetic event of any template type, and the reply.
//!
//! ```text
//! SubmitHeaderWire (16 bytes)  magic "CGEV", version, template_id, field_count,
//!                              reserved, total_len
//! then field_count times:
//!   FieldHeaderWire (4 bytes)  kind (1 = str, 2 = int), reserved, len
//!   payload (len bytes)        str: UTF-8, len <= MAX_STR_LEN; int: u64 LE, len == 8
//! ```
//! This crate checks the framing and the value encodings; whether the template
//! id exists and the field kinds match its schema is checked by the driver
//! against `changuard-format`'s schema (the one definition of inputs).

use zerocopy::byteorder::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::wire::{
    DecodeError, DecodeErrorKind, EncodeError, magic, reserved_zero, take, take_mut,
};

/// `"CGEV"`.
pub const SUBMIT_MAGIC: u32 = magic(*b"CGEV");
/// Wire version of the submit request.
pub const SUBMIT_VERSION: u16 = 1;
/// Most fields in one event (>= the schema's largest input count).
pub const MAX_FIELDS: usize = 32;
/// Longest string value, in bytes (the schema's cap of submitted strings, so
/// a submitted event is within the validator's cost bound).
pub const MAX_STR_LEN: usize = changuard_format::schema::SUBMITTED_CAP as usize;
/// Size of the request header.
pub const HEADER_LEN: usize = core::mem::size_of::<SubmitHeaderWire>();
/// Size of a field header.
pub const FIELD_HEADER_LEN: usize = core::mem::size_of::<FieldHeaderWire>();
/// Largest valid request.
pub const MAX_REQUEST_LEN: usize = HEADER_LEN + MAX_FIELDS * (FIELD_HEADER_LEN + MAX_STR_LEN);
/// Wire kind of a string field.
pub const KIND_STR: u8 = 1;
/// Wire kind of an integer field.
pub const KIND_INT: u8 = 2;

const _: () = assert!(HEADER_LEN == 16);
const _: () = assert!(FIELD_HEADER_LEN == 4);

/// Wire layout of the request header.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SubmitHeaderWire {
    /// [`SUBMIT_MAGIC`].
    pub magic: U32,
    /// [`SUBMIT_VERSION`].
    pub version: U16,
    /// Template type id (schema).
    pub template_id: U16,
    /// Number of fields that follow.
    pub field_count: U16,
    /// Must be zero.
    pub reserved: U16,
    /// Length of the whole request.
    pub total_len: U32,
}

/// Wire layout of a field header.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct FieldHeaderWire {
    /// [`KIND_STR`] or [`KIND_INT`].
    pub kind: u8,
    /// Must be zero.
    pub reserved: u8,
    /// Payload length in bytes.
    pub len: U16,
}

/// One input value of a synthetic event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldValue<'a> {
    /// A string input (UTF-8).
    Str(&'a str),
    /// An integer input.
    Int(u64),
}

impl FieldValue<'_> {
    fn payload_len(&self) -> usize {
        match self {
            Self::Str(s) => s.len(),
            Self::Int(_) => 8,
        }
    }
}

/// A decoded, validated synthetic event borrowing from the request buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubmitEvent<'a> {
    /// Template type id.
    pub template_id: u16,
    fields: [FieldValue<'a>; MAX_FIELDS],
    count: usize,
}

impl<'a> SubmitEvent<'a> {
    /// The fields, in criterion order.
    #[must_use]
    pub fn fields(&self) -> &[FieldValue<'a>] {
        self.fields.get(..self.count).unwrap_or(&[])
    }
}

/// Exact encoded length of an event with these fields.
///
/// # Errors
/// `TooMany` or `StringTooLong` when the event cannot be encoded.
pub fn request_len(fields: &[FieldValue<'_>]) -> Result<usize, EncodeError> {
    if fields.len() > MAX_FIELDS {
        return Err(EncodeError::TooMany { max: MAX_FIELDS });
    }
    let mut total = HEADER_LEN;
    for (index, f) in fields.iter().enumerate() {
        let len = f.payload_len();
        if len > MAX_STR_LEN {
            return Err(EncodeError::StringTooLong {
                index,
                max: MAX_STR_LEN,
            });
        }
        // Bounded: <= 16 + 32 * 1028.
        total = total
            .checked_add(FIELD_HEADER_LEN)
            .and_then(|t| t.checked_add(len))
            .ok_or(EncodeError::ValueOutOfRange { what: "total_len" })?;
    }
    Ok(total)
}

/// Encodes a synthetic event into `out`; returns its length.
///
/// # Errors
/// `TooMany`, `StringTooLong`, or `BufferTooSmall` when `out` is too short.
pub fn encode_submit(
    template_id: u16,
    fields: &[FieldValue<'_>],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let total = request_len(fields)?;
    if out.len() < total {
        return Err(EncodeError::BufferTooSmall { needed: total });
    }
    let header = SubmitHeaderWire {
        magic: U32::new(SUBMIT_MAGIC),
        version: U16::new(SUBMIT_VERSION),
        template_id: U16::new(template_id),
        field_count: U16::new(
            u16::try_from(fields.len()).map_err(|_| EncodeError::TooMany { max: MAX_FIELDS })?,
        ),
        reserved: U16::new(0),
        total_len: U32::new(
            u32::try_from(total).map_err(|_| EncodeError::ValueOutOfRange { what: "total_len" })?,
        ),
    };
    take_mut(out, 0, HEADER_LEN, total)?.copy_from_slice(header.as_bytes());
    let mut at = HEADER_LEN;
    for f in fields {
        let (kind, payload_len) = match f {
            FieldValue::Str(s) => (KIND_STR, s.len()),
            FieldValue::Int(_) => (KIND_INT, 8),
        };
        let fh = FieldHeaderWire {
            kind,
            reserved: 0,
            len: U16::new(
                u16::try_from(payload_len)
                    .map_err(|_| EncodeError::ValueOutOfRange { what: "field.len" })?,
            ),
        };
        take_mut(out, at, FIELD_HEADER_LEN, total)?.copy_from_slice(fh.as_bytes());
        at = at
            .checked_add(FIELD_HEADER_LEN)
            .ok_or(EncodeError::BufferTooSmall { needed: total })?;
        let dst = take_mut(out, at, payload_len, total)?;
        match f {
            FieldValue::Str(s) => dst.copy_from_slice(s.as_bytes()),
            FieldValue::Int(v) => dst.copy_from_slice(&v.to_le_bytes()),
        }
        at = at
            .checked_add(payload_len)
            .ok_or(EncodeError::BufferTooSmall { needed: total })?;
    }
    Ok(total)
}

/// Decodes and validates a synthetic-event request.
///
/// Validation order: header length, magic, version, reserved, field count
/// <= MAX_FIELDS, declared total_len == input length (<= MAX_REQUEST_LEN),
/// then each field: header present, known kind, reserved zero, length rule for
/// its kind, payload present, UTF-8 for strings; finally no trailing bytes.
///
/// # Errors
/// A [`DecodeError`] naming the first rule that fails.
///
/// # Panics
/// Never, for any input.
pub fn decode_submit(input: &[u8]) -> Result<SubmitEvent<'_>, DecodeError> {
    let hb = take(input, 0, HEADER_LEN, "submit header")?;
    let h = SubmitHeaderWire::read_from_bytes(hb).map_err(|_| {
        DecodeError::new(
            DecodeErrorKind::TooShort,
            "submit header",
            0,
            HEADER_LEN as u64,
            hb.len() as u64,
        )
    })?;
    if h.magic.get() != SUBMIT_MAGIC {
        return Err(DecodeError::new(
            DecodeErrorKind::BadMagic,
            "submit.magic",
            0,
            u64::from(SUBMIT_MAGIC),
            u64::from(h.magic.get()),
        ));
    }
    if h.version.get() != SUBMIT_VERSION {
        return Err(DecodeError::new(
            DecodeErrorKind::BadVersion,
            "submit.version",
            4,
            u64::from(SUBMIT_VERSION),
            u64::from(h.version.get()),
        ));
    }
    reserved_zero(u64::from(h.reserved.get()), "submit.reserved", 10)?;
    let count = usize::from(h.field_count.get());
    if count > MAX_FIELDS {
        return Err(DecodeError::new(
            DecodeErrorKind::TooMany,
            "submit.field_count",
            8,
            MAX_FIELDS as u64,
            count as u64,
        ));
    }
    let declared = h.total_len.get();
    if u64::from(declared) != input.len() as u64 || input.len() > MAX_REQUEST_LEN {
        return Err(DecodeError::new(
            DecodeErrorKind::LengthMismatch,
            "submit.total_len",
            12,
            input.len() as u64,
            u64::from(declared),
        ));
    }
    let mut fields = [FieldValue::Int(0); MAX_FIELDS];
    let mut at = HEADER_LEN;
    for slot in fields.iter_mut().take(count) {
        let fb = take(input, at, FIELD_HEADER_LEN, "field header")?;
        let fh = FieldHeaderWire::read_from_bytes(fb).map_err(|_| {
            DecodeError::new(
                DecodeErrorKind::TooShort,
                "field header",
                at,
                FIELD_HEADER_LEN as u64,
                fb.len() as u64,
            )
        })?;
        reserved_zero(
            u64::from(fh.reserved),
            "field.reserved",
            at.saturating_add(1),
        )?;
        let len = usize::from(fh.len.get());
        let payload_at = at.saturating_add(FIELD_HEADER_LEN);
        *slot = match fh.kind {
            KIND_STR => {
                if len > MAX_STR_LEN {
                    return Err(DecodeError::new(
                        DecodeErrorKind::StringTooLong,
                        "field.len",
                        at.saturating_add(2),
                        MAX_STR_LEN as u64,
                        len as u64,
                    ));
                }
                let p = take(input, payload_at, len, "string payload")?;
                let s = core::str::from_utf8(p).map_err(|e| {
                    DecodeError::new(
                        DecodeErrorKind::BadUtf8,
                        "string payload",
                        payload_at.saturating_add(e.valid_up_to()),
                        0,
                        0,
                    )
                })?;
                FieldValue::Str(s)
            }
            KIND_INT => {
                if len != 8 {
                    return Err(DecodeError::new(
                        DecodeErrorKind::BadFieldLength,
                        "field.len",
                        at.saturating_add(2),
                        8,
                        len as u64,
                    ));
                }
                let p = take(input, payload_at, 8, "int payload")?;
                let mut le = [0u8; 8];
                le.copy_from_slice(p);
                FieldValue::Int(u64::from_le_bytes(le))
            }
            other => {
                return Err(DecodeError::new(
                    DecodeErrorKind::BadEnum,
                    "field.kind",
                    at,
                    u64::from(KIND_INT),
                    u64::from(other),
                ));
            }
        };
        at = payload_at.saturating_add(len);
    }
    if at != input.len() {
        return Err(DecodeError::new(
            DecodeErrorKind::TrailingBytes,
            "submit request",
            at,
            at as u64,
            input.len() as u64,
        ));
    }
    Ok(SubmitEvent {
        template_id: h.template_id.get(),
        fields,
        count,
    })
}

/// `"CGVR"`.
pub const REPLY_MAGIC: u32 = magic(*b"CGVR");
/// Wire version of the submit reply.
pub const REPLY_VERSION: u16 = 1;
/// Exact length of a submit reply.
pub const REPLY_LEN: usize = core::mem::size_of::<SubmitReplyWire>();
const _: () = assert!(REPLY_LEN == 24);

/// Wire layout of the submit reply.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SubmitReplyWire {
    /// [`REPLY_MAGIC`].
    pub magic: U32,
    /// [`REPLY_VERSION`].
    pub version: U16,
    /// [`Outcome`] code.
    pub outcome: u8,
    /// Action code (format's `Action::code`) of the first match, 0 otherwise.
    pub action: u8,
    /// Channels whose content matched.
    pub matches: U32,
    /// Channel id of the first match (0 if none).
    pub channel_id: U32,
    /// Instance index of the first match (0 if none).
    pub instance: U32,
    /// Channels whose evaluation faulted (counted, not fatal).
    pub faults: U32,
}

/// Summary outcome of a submitted event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Evaluated against every active channel; nothing matched.
    NoMatch,
    /// At least one channel matched.
    Match,
    /// No channel has active content for this template type.
    NoContent,
}

impl Outcome {
    /// Wire code.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::NoMatch => 0,
            Self::Match => 1,
            Self::NoContent => 2,
        }
    }
    /// Decodes a wire code.
    #[must_use]
    pub const fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(Self::NoMatch),
            1 => Some(Self::Match),
            2 => Some(Self::NoContent),
            _ => None,
        }
    }
    /// Stable name (`--json`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::NoMatch => "no-match",
            Self::Match => "match",
            Self::NoContent => "no-content",
        }
    }
}

/// Decoded submit reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubmitReply {
    /// Outcome.
    pub outcome: Outcome,
    /// Action code of the first match (0 unless `Match`).
    pub action: u8,
    /// Number of matching channels.
    pub matches: u32,
    /// First matching channel (0 unless `Match`).
    pub channel_id: u32,
    /// First matching instance (0 unless `Match`).
    pub instance: u32,
    /// Channels that faulted.
    pub faults: u32,
}

/// Encodes a submit reply.
///
/// # Errors
/// `BufferTooSmall` when `out` is shorter than [`REPLY_LEN`].
pub fn encode_reply(r: &SubmitReply, out: &mut [u8]) -> Result<usize, EncodeError> {
    let w = SubmitReplyWire {
        magic: U32::new(REPLY_MAGIC),
        version: U16::new(REPLY_VERSION),
        outcome: r.outcome.code(),
        action: r.action,
        matches: U32::new(r.matches),
        channel_id: U32::new(r.channel_id),
        instance: U32::new(r.instance),
        faults: U32::new(r.faults),
    };
    take_mut(out, 0, REPLY_LEN, REPLY_LEN)?.copy_from_slice(w.as_bytes());
    Ok(REPLY_LEN)
}

/// Decodes a submit reply.
///
/// # Errors
/// `LengthMismatch`, `BadMagic`, `BadVersion`, `BadEnum`, or `ReservedNonZero`
/// when a non-match reply carries match details.
///
/// # Panics
/// Never, for any input.
pub fn decode_reply(input: &[u8]) -> Result<SubmitReply, DecodeError> {
    let w = SubmitReplyWire::read_from_bytes(input).map_err(|_| {
        DecodeError::new(
            DecodeErrorKind::LengthMismatch,
            "submit reply",
            0,
            REPLY_LEN as u64,
            input.len() as u64,
        )
    })?;
    if w.magic.get() != REPLY_MAGIC {
        return Err(DecodeError::new(
            DecodeErrorKind::BadMagic,
            "reply.magic",
            0,
            u64::from(REPLY_MAGIC),
            u64::from(w.magic.get()),
        ));
    }
    if w.version.get() != REPLY_VERSION {
        return Err(DecodeError::new(
            DecodeErrorKind::BadVersion,
            "reply.version",
            4,
            u64::from(REPLY_VERSION),
            u64::from(w.version.get()),
        ));
    }
    let outcome = Outcome::from_code(w.outcome).ok_or(DecodeError::new(
        DecodeErrorKind::BadEnum,
        "reply.outcome",
        6,
        2,
        u64::from(w.outcome),
    ))?;
    if outcome != Outcome::Match {
        reserved_zero(u64::from(w.action), "reply.action (no match)", 7)?;
        reserved_zero(u64::from(w.matches.get()), "reply.matches (no match)", 8)?;
        reserved_zero(
            u64::from(w.channel_id.get()),
            "reply.channel_id (no match)",
            12,
        )?;
        reserved_zero(u64::from(w.instance.get()), "reply.instance (no match)", 16)?;
    }
    Ok(SubmitReply {
        outcome,
        action: w.action,
        matches: w.matches.get(),
        channel_id: w.channel_id.get(),
        instance: w.instance.get(),
        faults: w.faults.get(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::{string::String, vec, vec::Vec};

    #[test]
    fn round_trip_and_precise_errors() {
        let fields = [
            FieldValue::Str("C:\\Windows\\System32\\cmd.exe"),
            FieldValue::Int(4242),
            FieldValue::Str(""),
        ];
        let mut buf = [0u8; 256];
        let n = encode_submit(1, &fields, &mut buf).unwrap();
        assert_eq!(n, request_len(&fields).unwrap());
        let ev = decode_submit(&buf[..n]).unwrap();
        assert_eq!(ev.template_id, 1);
        assert_eq!(ev.fields(), &fields);

        assert_eq!(
            decode_submit(&buf[..n - 1]).unwrap_err().kind,
            DecodeErrorKind::LengthMismatch
        );
        let mut bad = buf;
        bad[HEADER_LEN] = 3; // kind of field 0
        let e = decode_submit(&bad[..n]).unwrap_err();
        assert_eq!((e.kind, e.offset), (DecodeErrorKind::BadEnum, HEADER_LEN));
        let mut bad = buf;
        bad[HEADER_LEN + FIELD_HEADER_LEN] = 0xFF; // first byte of string payload
        let e = decode_submit(&bad[..n]).unwrap_err();
        assert_eq!(
            (e.kind, e.offset),
            (DecodeErrorKind::BadUtf8, HEADER_LEN + FIELD_HEADER_LEN)
        );
        // int field with length 4
        let int_at = HEADER_LEN + FIELD_HEADER_LEN + 27;
        let mut bad = buf;
        bad[int_at + 2] = 4;
        let e = decode_submit(&bad[..n]).unwrap_err();
        assert_eq!(
            (e.kind, e.expected, e.found),
            (DecodeErrorKind::BadFieldLength, 8, 4)
        );
        // one more field declared than present
        let mut bad = buf;
        bad[8] = 4;
        assert_eq!(
            decode_submit(&bad[..n]).unwrap_err().kind,
            DecodeErrorKind::TooShort
        );
        // one fewer field declared: the last field's bytes become trailing
        let mut bad = buf;
        bad[8] = 2;
        assert_eq!(
            decode_submit(&bad[..n]).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        );
        let long = "x".repeat(MAX_STR_LEN + 1);
        assert_eq!(
            request_len(&[FieldValue::Str(&long)]),
            Err(EncodeError::StringTooLong {
                index: 0,
                max: MAX_STR_LEN
            })
        );
        assert_eq!(
            encode_submit(1, &fields, &mut buf[..n - 1]),
            Err(EncodeError::BufferTooSmall { needed: n })
        );
    }

    #[test]
    fn reply_round_trip() {
        let r = SubmitReply {
            outcome: Outcome::Match,
            action: 1,
            matches: 2,
            channel_id: 291,
            instance: 20,
            faults: 0,
        };
        let mut buf = [0u8; REPLY_LEN];
        encode_reply(&r, &mut buf).unwrap();
        assert_eq!(decode_reply(&buf), Ok(r));
        let none = SubmitReply {
            outcome: Outcome::NoMatch,
            action: 1,
            matches: 0,
            channel_id: 0,
            instance: 0,
            faults: 0,
        };
        encode_reply(&none, &mut buf).unwrap();
        assert_eq!(
            decode_reply(&buf).unwrap_err().kind,
            DecodeErrorKind::ReservedNonZero
        );
    }

    fn arb_field() -> impl Strategy<Value = (bool, String, u64)> {
        (any::<bool>(), "\\PC{0,40}", any::<u64>())
    }

    proptest! {
        #[test]
        fn round_trips(tid in any::<u16>(), raw in proptest::collection::vec(arb_field(), 0..=MAX_FIELDS)) {
            let fields: Vec<FieldValue<'_>> = raw.iter().map(|(is_str, s, v)| if *is_str { FieldValue::Str(s) } else { FieldValue::Int(*v) }).collect();
            let mut buf = vec![0u8; MAX_REQUEST_LEN];
            let n = encode_submit(tid, &fields, &mut buf).unwrap();
            let ev = decode_submit(&buf[..n]).unwrap();
            prop_assert_eq!(ev.template_id, tid);
            prop_assert_eq!(ev.fields(), &fields[..]);
        }

        #[test]
        fn any_bytes_decode_or_fail_precisely(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            match decode_submit(&bytes) {
                Ok(ev) => prop_assert!(ev.fields().len() <= MAX_FIELDS),
                Err(e) => prop_assert!(e.offset <= bytes.len()),
            }
            let _ = decode_reply(&bytes);
        }

        #[test]
        fn header_prefixed_garbage_never_panics(count in 0u16..40, body in proptest::collection::vec(any::<u8>(), 0..512)) {
            // Valid header so the decoder goes deep into the field loop.
            let total = (HEADER_LEN + body.len()) as u32;
            let mut buf = Vec::new();
            buf.extend_from_slice(&SUBMIT_MAGIC.to_le_bytes());
            buf.extend_from_slice(&SUBMIT_VERSION.to_le_bytes());
            buf.extend_from_slice(&1u16.to_le_bytes());
            buf.extend_from_slice(&count.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
            buf.extend_from_slice(&total.to_le_bytes());
            buf.extend_from_slice(&body);
            match decode_submit(&buf) {
                Ok(ev) => prop_assert_eq!(ev.fields().len(), usize::from(count)),
                Err(e) => prop_assert!(e.offset <= buf.len()),
            }
        }
    }
}
