//! Portable helpers the driver uses to turn untrusted registry strings into NT
//! paths and to build `UNICODE_STRING`-ready UTF-16 buffers, so this logic is
//! tested on the host instead of only in the kernel.
//!
//! The registry path is untrusted input (ARCHITECTURE.md, content security):
//! [`parse_reg_sz_path`] accepts only an absolute NT path (`\??\C:\...` or
//! `\SystemRoot\...`), without `.`/`..` components, stream or wildcard
//! characters, embedded NULs, or more than [`MAX_PATH_UNITS`] UTF-16 units.

/// Longest path the driver builds, in UTF-16 code units. `UNICODE_STRING`
/// lengths are byte counts in a `u16`, so the hard limit is 32767 units; paths
/// are kept far below it so every join fits a stack buffer.
pub const MAX_PATH_UNITS: usize = 512;

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PathError {
    /// `REG_SZ` data of odd length (not UTF-16).
    OddLength,
    /// Empty after stripping terminating NULs.
    Empty,
    /// A NUL inside the string.
    EmbeddedNul,
    /// Longer than [`MAX_PATH_UNITS`] (or the output buffer).
    TooLong,
    /// Not an absolute NT path with an accepted prefix.
    NotAbsolute,
    /// A `.` or `..` component, or an empty component (`\\`).
    BadComponent,
    /// `:` outside the drive letter, or `*`, `?`, `"`, `<`, `>`, `|`, `/`.
    BadCharacter,
}

const BACKSLASH: u16 = b'\\' as u16;

/// Validates `REG_SZ`/`REG_EXPAND_SZ` data (UTF-16LE bytes, optionally
/// NUL-terminated) as a directory path and decodes it into `out`; returns the
/// number of UTF-16 units (a trailing backslash is removed).
///
/// # Errors
/// The first [`PathError`] rule that fails.
///
/// # Panics
/// Never, for any input.
pub fn parse_reg_sz_path(data: &[u8], out: &mut [u16]) -> Result<usize, PathError> {
    if data.len() % 2 != 0 {
        return Err(PathError::OddLength);
    }
    let mut n = 0usize;
    let mut saw_nul = false;
    for pair in data.chunks_exact(2) {
        let unit = match pair {
            [lo, hi] => u16::from_le_bytes([*lo, *hi]),
            _ => return Err(PathError::OddLength),
        };
        if unit == 0 {
            saw_nul = true;
            continue;
        }
        if saw_nul {
            return Err(PathError::EmbeddedNul);
        }
        if n >= MAX_PATH_UNITS {
            return Err(PathError::TooLong);
        }
        let slot = out.get_mut(n).ok_or(PathError::TooLong)?;
        *slot = unit;
        n = n.checked_add(1).ok_or(PathError::TooLong)?;
    }
    // Drop one trailing backslash ("\??\C:\dir\" == "\??\C:\dir").
    if n > 1 && out.get(n.saturating_sub(1)) == Some(&BACKSLASH) {
        n = n.saturating_sub(1);
    }
    if n == 0 {
        return Err(PathError::Empty);
    }
    check_nt_path(out.get(..n).ok_or(PathError::TooLong)?)?;
    Ok(n)
}

fn units_eq_ascii_ci(units: &[u16], ascii: &str) -> bool {
    units.len() == ascii.len()
        && units
            .iter()
            .zip(ascii.bytes())
            .all(|(u, a)| u8::try_from(*u).is_ok_and(|b| b.eq_ignore_ascii_case(&a)))
}

/// Checks an NT path: accepted prefix, components, characters.
///
/// # Errors
/// The first [`PathError`] rule that fails.
pub fn check_nt_path(path: &[u16]) -> Result<(), PathError> {
    // Components after the leading backslash.
    let rest = match path.split_first() {
        Some((&BACKSLASH, rest)) => rest,
        _ => return Err(PathError::NotAbsolute),
    };
    let mut comps = rest.split(|u| *u == BACKSLASH);
    let first = comps.next().ok_or(PathError::NotAbsolute)?;
    if units_eq_ascii_ci(first, "??") {
        // \??\X:\...
        let drive = comps.next().ok_or(PathError::NotAbsolute)?;
        let ok = matches!(drive, [l, c] if u8::try_from(*l).is_ok_and(|b| b.is_ascii_alphabetic()) && *c == u16::from(b':'));
        if !ok {
            return Err(PathError::NotAbsolute);
        }
    } else if !units_eq_ascii_ci(first, "SystemRoot") {
        return Err(PathError::NotAbsolute);
    }
    for comp in comps {
        if comp.is_empty() || units_eq_ascii_ci(comp, ".") || units_eq_ascii_ci(comp, "..") {
            return Err(PathError::BadComponent);
        }
        if comp.iter().any(|u| {
            matches!(
                u8::try_from(*u),
                Ok(b':' | b'*' | b'?' | b'"' | b'<' | b'>' | b'|' | b'/')
            ) || *u < 0x20
        }) {
            return Err(PathError::BadCharacter);
        }
    }
    Ok(())
}

/// Writes `dir` + `\` + `name` (ASCII/UTF-8 file name) as UTF-16 into `out`;
/// returns the number of units. `name` must be a single component.
///
/// # Errors
/// `TooLong` when it does not fit `out` or [`MAX_PATH_UNITS`];
/// `BadComponent`/`BadCharacter` when `name` is not a plain file name.
pub fn join(dir: &[u16], name: &str, out: &mut [u16]) -> Result<usize, PathError> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(PathError::BadComponent);
    }
    if name
        .chars()
        .any(|c| matches!(c, '\\' | '/' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || c < ' ')
    {
        return Err(PathError::BadCharacter);
    }
    let mut n = 0usize;
    let mut push = |u: u16| -> Result<(), PathError> {
        if n >= MAX_PATH_UNITS {
            return Err(PathError::TooLong);
        }
        *out.get_mut(n).ok_or(PathError::TooLong)? = u;
        n = n.checked_add(1).ok_or(PathError::TooLong)?;
        Ok(())
    };
    for u in dir {
        push(*u)?;
    }
    push(BACKSLASH)?;
    for u in name.encode_utf16() {
        push(u)?;
    }
    Ok(n)
}

/// Encodes `s` as UTF-16 into `out`; returns the number of units.
///
/// # Errors
/// `TooLong` when it does not fit, `EmbeddedNul` for a NUL.
pub fn utf16(s: &str, out: &mut [u16]) -> Result<usize, PathError> {
    let mut n = 0usize;
    for u in s.encode_utf16() {
        if u == 0 {
            return Err(PathError::EmbeddedNul);
        }
        *out.get_mut(n).ok_or(PathError::TooLong)? = u;
        n = n.checked_add(1).ok_or(PathError::TooLong)?;
    }
    Ok(n)
}

/// `UNICODE_STRING.Length` (bytes) for `units` UTF-16 units, if it fits a `u16`.
#[must_use]
pub fn byte_len_u16(units: usize) -> Option<u16> {
    units.checked_mul(2).and_then(|b| u16::try_from(b).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{string::String, vec::Vec};

    fn reg(s: &str, nul: bool) -> Vec<u8> {
        let mut v: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        if nul {
            v.extend_from_slice(&[0, 0]);
        }
        v
    }
    fn parse(s: &str) -> Result<String, PathError> {
        let mut out = [0u16; MAX_PATH_UNITS];
        let n = parse_reg_sz_path(&reg(s, true), &mut out)?;
        Ok(String::from_utf16(&out[..n]).unwrap())
    }

    #[test]
    fn accepts_nt_paths() {
        assert_eq!(
            parse(r"\??\C:\ProgramData\changuard\content"),
            Ok(r"\??\C:\ProgramData\changuard\content".into())
        );
        assert_eq!(
            parse(r"\SystemRoot\changuard\content\"),
            Ok(r"\SystemRoot\changuard\content".into())
        );
        assert_eq!(parse(r"\systemroot\x"), Ok(r"\systemroot\x".into()));
    }

    #[test]
    fn refuses_untrusted_shapes() {
        assert_eq!(parse(r"C:\x"), Err(PathError::NotAbsolute));
        assert_eq!(
            parse(r"\Device\HarddiskVolume1\x"),
            Err(PathError::NotAbsolute)
        );
        assert_eq!(parse(r"\??\C:\a\..\Windows"), Err(PathError::BadComponent));
        assert_eq!(parse(r"\??\C:\a\\b"), Err(PathError::BadComponent));
        assert_eq!(parse(r"\??\C:\a\b:stream"), Err(PathError::BadCharacter));
        assert_eq!(parse(r"\??\C:\a\b*"), Err(PathError::BadCharacter));
        assert_eq!(parse(r"\??\UNC\server\share"), Err(PathError::NotAbsolute));
        assert_eq!(parse(""), Err(PathError::Empty));
        let mut out = [0u16; MAX_PATH_UNITS];
        assert_eq!(
            parse_reg_sz_path(&[0x5c, 0, 0x41], &mut out),
            Err(PathError::OddLength)
        );
        let mut data = reg(r"\SystemRoot\a", true);
        data.extend_from_slice(&reg("b", false));
        assert_eq!(
            parse_reg_sz_path(&data, &mut out),
            Err(PathError::EmbeddedNul)
        );
        let long = String::from(r"\SystemRoot\") + &"a".repeat(MAX_PATH_UNITS);
        assert_eq!(parse(&long), Err(PathError::TooLong));
    }

    #[test]
    fn join_builds_and_refuses() {
        let dir: Vec<u16> = r"\SystemRoot\changuard\lkg".encode_utf16().collect();
        let mut out = [0u16; MAX_PATH_UNITS];
        let n = join(&dir, "291.cgc", &mut out).unwrap();
        assert_eq!(
            String::from_utf16(&out[..n]).unwrap(),
            r"\SystemRoot\changuard\lkg\291.cgc"
        );
        assert_eq!(join(&dir, "..", &mut out), Err(PathError::BadComponent));
        assert_eq!(join(&dir, r"a\b", &mut out), Err(PathError::BadCharacter));
        assert_eq!(join(&dir, "x", &mut out[..5]), Err(PathError::TooLong));
        assert_eq!(byte_len_u16(n), Some(u16::try_from(n * 2).unwrap()));
        assert_eq!(byte_len_u16(40_000), None);
    }

    proptest::proptest! {
        #[test]
        fn any_registry_bytes_are_total(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1200)) {
            let mut out = [0u16; MAX_PATH_UNITS];
            if let Ok(n) = parse_reg_sz_path(&data, &mut out) {
                proptest::prop_assert!(n <= MAX_PATH_UNITS);
                proptest::prop_assert!(check_nt_path(&out[..n]).is_ok());
            }
        }
    }
}
