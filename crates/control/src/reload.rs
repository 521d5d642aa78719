//! `IOCTL_RELOAD` request: a fixed 8-byte record, so that a stray call with a
//! random buffer (or a buffer meant for another IOCTL) is refused rather than
//! triggering a reload.

use zerocopy::byteorder::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::wire::{DecodeError, DecodeErrorKind, EncodeError, magic, reserved_zero, take_mut};

/// `"CGRL"`.
pub const RELOAD_MAGIC: u32 = magic(*b"CGRL");
/// Wire version of the reload request.
pub const RELOAD_VERSION: u16 = 1;
/// Exact length of a reload request.
pub const RELOAD_REQUEST_LEN: usize = core::mem::size_of::<ReloadRequestWire>();

/// Wire layout of the reload request.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ReloadRequestWire {
    /// [`RELOAD_MAGIC`].
    pub magic: U32,
    /// [`RELOAD_VERSION`].
    pub version: U16,
    /// Must be zero.
    pub reserved: U16,
}

/// Writes a reload request into `out`; returns its length.
///
/// # Errors
/// [`EncodeError::BufferTooSmall`] if `out` is shorter than [`RELOAD_REQUEST_LEN`].
pub fn encode_reload(out: &mut [u8]) -> Result<usize, EncodeError> {
    let req = ReloadRequestWire {
        magic: U32::new(RELOAD_MAGIC),
        version: U16::new(RELOAD_VERSION),
        reserved: U16::new(0),
    };
    let dst = take_mut(out, 0, RELOAD_REQUEST_LEN, RELOAD_REQUEST_LEN)?;
    dst.copy_from_slice(req.as_bytes());
    Ok(RELOAD_REQUEST_LEN)
}

/// Checks a reload request.
///
/// # Errors
/// `LengthMismatch` unless `input` is exactly [`RELOAD_REQUEST_LEN`] bytes;
/// `BadMagic`, `BadVersion`, `ReservedNonZero` for the fields.
///
/// # Panics
/// Never, for any input.
pub fn decode_reload(input: &[u8]) -> Result<(), DecodeError> {
    let req = ReloadRequestWire::read_from_bytes(input).map_err(|_| {
        DecodeError::new(
            DecodeErrorKind::LengthMismatch,
            "reload request",
            0,
            RELOAD_REQUEST_LEN as u64,
            input.len() as u64,
        )
    })?;
    if req.magic.get() != RELOAD_MAGIC {
        return Err(DecodeError::new(
            DecodeErrorKind::BadMagic,
            "reload.magic",
            0,
            u64::from(RELOAD_MAGIC),
            u64::from(req.magic.get()),
        ));
    }
    if req.version.get() != RELOAD_VERSION {
        return Err(DecodeError::new(
            DecodeErrorKind::BadVersion,
            "reload.version",
            4,
            u64::from(RELOAD_VERSION),
            u64::from(req.version.get()),
        ));
    }
    reserved_zero(u64::from(req.reserved.get()), "reload.reserved", 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let mut buf = [0u8; 16];
        let n = encode_reload(&mut buf).unwrap();
        assert_eq!(n, 8);
        assert_eq!(decode_reload(&buf[..n]), Ok(()));
        assert_eq!(
            decode_reload(&buf[..n - 1]).unwrap_err().kind,
            DecodeErrorKind::LengthMismatch
        );
        assert_eq!(
            decode_reload(&buf[..n + 1]).unwrap_err().kind,
            DecodeErrorKind::LengthMismatch
        );
        assert_eq!(
            decode_reload(&[]).unwrap_err().kind,
            DecodeErrorKind::LengthMismatch
        );
        let mut bad = buf;
        bad[0] ^= 1;
        assert_eq!(
            decode_reload(&bad[..n]).unwrap_err().kind,
            DecodeErrorKind::BadMagic
        );
        let mut bad = buf;
        bad[4] = 2;
        assert_eq!(
            decode_reload(&bad[..n]).unwrap_err().kind,
            DecodeErrorKind::BadVersion
        );
        let mut bad = buf;
        bad[7] = 1;
        let e = decode_reload(&bad[..n]).unwrap_err();
        assert_eq!(
            (e.kind, e.offset, e.found),
            (DecodeErrorKind::ReservedNonZero, 6, 256)
        );
        assert_eq!(
            encode_reload(&mut [0u8; 7]),
            Err(EncodeError::BufferTooSmall { needed: 8 })
        );
    }
}
