//! `validate`: bytes in, [`ValidChannel`] or [`Rejection`] out.
//!
//! CONTRACT (public API other crates code against):
//! - `validate` never panics, for any input, and does work linear in the input
//!   (every loop is bounded by a count that was checked against a cap and
//!   against the section length first).
//! - `ValidChannel` accessors never panic; `None` means "validator bug", which
//!   callers count as a fault and fail closed on.
//!
//! Validation order (docs/FORMAT.md, "Validation order", is the reference):
//! 1. size caps (before any other work), 2. constant header checks,
//! 3. trust (key id, signature), 4. identity (channel, schema),
//! 5. section table, 6. instances and their criteria, 7. strings, 8. DFAs.
//!
//! The first broken rule is reported, with the offset of the field that broke it.

use crate::error::{Rejection, Rule};
use crate::layout;
use crate::limits;
use crate::trust::{KeyId, Trust};
use crate::wire::{self, WireError};

mod ceiling;
mod channel;
mod dfas;
mod instances;
mod order;
mod sections;
mod strings;

use ceiling::check_cost;
pub(crate) use channel::Layout;
pub use channel::{
    DfaGroup, Header, Instance, Instances, Metadata, RequiredLiteral, RowKind, ValidChannel,
};
use dfas::check_dfas;
use instances::{check_instances, check_metadata};
use order::check_first_use_order;
use sections::check_sections;
use strings::check_strings;

/// Validate `bytes` as a channel file for channel `expected_channel`, trusting `trust`.
///
/// The buffer must be 16-byte aligned (kernel pool buffers are; host tools use
/// `AlignedBytes`): serialized DFAs are checked at their actual address, so a
/// misaligned buffer is rejected with [`Rule::BadDfa`] (never a panic).
///
/// Under `cfg(fuzzing)` only, the signature's *result* is ignored (it is still
/// computed) so fuzzers reach the parser; the key id is still checked.
///
/// # Errors
/// The first rule broken, in validation order (see docs/FORMAT.md).
///
/// # Panics
/// Never, for any input.
pub fn validate<B: AsRef<[u8]>>(
    bytes: B,
    trust: &Trust<'_>,
    expected_channel: u32,
) -> Result<ValidChannel<B>, Rejection> {
    let layout = check(bytes.as_ref(), trust, expected_channel)?;
    Ok(ValidChannel { bytes, layout })
}

type R<T> = Result<T, Rejection>;

fn rej(rule: Rule, offset: usize) -> Rejection {
    Rejection::new(rule, offset as u64)
}

/// A read that the preceding checks proved in bounds failed: a validator bug.
fn internal(e: WireError) -> Rejection {
    debug_assert!(false, "validator read out of bounds: {}", e.what);
    rej(Rule::Internal, e.offset)
}

/// Checked arithmetic that the preceding checks proved cannot overflow.
fn ck(x: Option<usize>, offset: usize) -> R<usize> {
    x.ok_or_else(|| {
        debug_assert!(false, "validator arithmetic overflow");
        rej(Rule::Internal, offset)
    })
}

fn check(b: &[u8], trust: &Trust<'_>, expected_channel: u32) -> R<Layout> {
    use layout::header as h;
    let len = b.len();

    // 1. Size caps, before any other work.
    if len > limits::MAX_FILE_LEN {
        return Err(rej(Rule::TooLarge, 0).values(limits::MAX_FILE_LEN as u64, len as u64));
    }
    if len < layout::MIN_FILE_LEN {
        return Err(rej(Rule::TooShort, 0).values(layout::MIN_FILE_LEN as u64, len as u64));
    }

    // 2. Constant header checks.
    let magic: [u8; 8] = wire::bytes_at(b, 0, h::MAGIC, "magic").map_err(internal)?;
    if magic != layout::MAGIC {
        return Err(rej(Rule::BadMagic, h::MAGIC.start));
    }
    let version = wire::u16_at(b, 0, h::VERSION, "version").map_err(internal)?;
    if version != layout::FORMAT_VERSION {
        return Err(rej(Rule::UnsupportedVersion, h::VERSION.start)
            .values(layout::FORMAT_VERSION.into(), version.into()));
    }
    let header_len = wire::u16_at(b, 0, h::HEADER_LEN, "header length").map_err(internal)?;
    if usize::from(header_len) != layout::HEADER_LEN {
        return Err(rej(Rule::LengthMismatch, h::HEADER_LEN.start)
            .values(layout::HEADER_LEN as u64, header_len.into()));
    }
    let flags = wire::u32_at(b, 0, h::FLAGS, "flags").map_err(internal)?;
    if flags != 0 {
        return Err(rej(Rule::ReservedNonZero, h::FLAGS.start).values(0, flags.into()));
    }
    let reserved = wire::field(b, 0, h::RESERVED, "header reserved").map_err(internal)?;
    if let Some(at) = wire::first_nonzero(reserved, h::RESERVED.start) {
        return Err(rej(Rule::ReservedNonZero, at));
    }
    let file_len = wire::u64_at(b, 0, h::FILE_LEN, "file length").map_err(internal)?;
    if file_len != len as u64 {
        return Err(rej(Rule::LengthMismatch, h::FILE_LEN.start).values(len as u64, file_len));
    }

    // 3. Trust: the key must be known and the signature must verify.
    let body_end = ck(len.checked_sub(layout::TRAILER_LEN), 0)?;
    let key_id =
        KeyId(wire::bytes_at(b, body_end, layout::trailer::KEY_ID, "key id").map_err(internal)?);
    let Some(key) = trust.key(key_id) else {
        // `found` carries the id so tools can name it next to the trusted ones.
        return Err(rej(Rule::UnknownKey, body_end).values(0, u64::from_be_bytes(key_id.0)));
    };
    let sig: [u8; 64] =
        wire::bytes_at(b, body_end, layout::trailer::SIGNATURE, "signature").map_err(internal)?;
    let signed = wire::slice(b, 0, body_end, "signed bytes").map_err(internal)?;
    let verified = ed25519_compact::PublicKey::new(key.public)
        .verify(signed, &ed25519_compact::Signature::new(sig))
        .is_ok();
    // STYLE 11: fuzz builds compute the signature but ignore its result, so
    // the fuzzer reaches the parser. Never set outside cargo-fuzz.
    if !verified && !cfg!(fuzzing) {
        return Err(rej(
            Rule::BadSignature,
            ck(
                body_end.checked_add(layout::trailer::SIGNATURE.start),
                body_end,
            )?,
        ));
    }

    // 4. Identity: the signed header must name what we are loading.
    let channel = wire::u32_at(b, 0, h::CHANNEL, "channel").map_err(internal)?;
    if channel != expected_channel {
        return Err(rej(Rule::WrongChannel, h::CHANNEL.start)
            .values(expected_channel.into(), channel.into()));
    }
    let schema_id = wire::u64_at(b, 0, h::SCHEMA_ID, "schema id").map_err(internal)?;
    if schema_id != crate::SCHEMA_ID {
        return Err(rej(Rule::WrongSchema, h::SCHEMA_ID.start).values(crate::SCHEMA_ID, schema_id));
    }
    let content_version =
        wire::u64_at(b, 0, h::CONTENT_VERSION, "content version").map_err(internal)?;
    let header = Header {
        format_version: version,
        flags,
        channel,
        version: content_version,
        schema_id,
        key_id,
    };

    // 5. Section table.
    let [instances, criteria, strings, dfas, metadata] = check_sections(b, body_end)?;
    let layout = Layout {
        header,
        instances,
        criteria,
        strings,
        dfas,
        metadata,
    };

    // 6-8. Contents.
    check_instances(b, &layout, key.test_only)?;
    check_strings(b, strings)?;
    check_dfas(b, dfas, strings)?;
    check_metadata(b, &layout)?;
    check_first_use_order(b, &layout)?;
    check_cost(b, &layout)?;
    Ok(layout)
}
