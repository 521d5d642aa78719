//! Portable helpers the driver uses to turn untrusted registry strings into NT
//! paths and to build `UNICODE_STRING`-ready UTF-16 buffers, so this logic is
//! tested on the host instead of only in the kernel.
//!
//! The registry path is untrusted input (docs/THREAT-MODEL.md). The loader's
//! `changuard_loader::path` is the one validator of directory paths: config
//! parsing accepts `ContentDirectory` through it, and [`nt_object_name`] runs
//! it again before mapping a path to the name `NtCreateFile` takes, so the two
//! sides accept exactly the same set (issue 11 finding 6).

use changuard_loader::path::{self, PathKind};
use changuard_loader::reason::ConfigProblem;

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

/// The object-manager name `NtCreateFile` takes for a directory that passes
/// the loader's one path validator (`changuard_loader::path::check`, which
/// also vets `ContentDirectory`); it admits `X:\...` and `\SystemRoot\...` only.
/// `NtCreateFile` refuses a DOS path like `C:\x` with no root directory
/// (`STATUS_OBJECT_PATH_SYNTAX_BAD`), and `\??\` resolves through the
/// caller's device map, so a drive letter is named through `\GLOBAL??\`,
/// which is the same for every caller:
///
/// - `X:\rest` becomes `\GLOBAL??\X:\rest`;
/// - `\SystemRoot\rest` stays as it is (an object-manager symbolic link).
///
/// Writes UTF-16 into `out` and returns the number of units.
///
/// # Errors
/// What the validator refuses, mapped: `NotAbsolute` for another shape,
/// `BadComponent` for an empty, `.` or `..` component, `BadCharacter`,
/// `EmbeddedNul`, `TooLong`.
///
/// # Panics
/// Never, for any input.
pub fn nt_object_name(path: &str, out: &mut [u16]) -> Result<usize, PathError> {
    let prefix = match path::check(path).map_err(|e| refused(path, e))? {
        PathKind::Drive => "\\GLOBAL??\\",
        PathKind::SystemRoot => "",
    };
    let n = utf16(prefix, out)?;
    let rest = out.get_mut(n..).ok_or(PathError::TooLong)?;
    let m = utf16(path, rest)?;
    let total = n.checked_add(m).ok_or(PathError::TooLong)?;
    if total > MAX_PATH_UNITS {
        return Err(PathError::TooLong);
    }
    Ok(total)
}

/// The [`PathError`] for a path the validator refused with `problem`.
fn refused(path: &str, problem: ConfigProblem) -> PathError {
    match problem {
        _ if path.contains('\0') => PathError::EmbeddedNul,
        ConfigProblem::WrongSize if path.is_empty() => PathError::NotAbsolute,
        ConfigProblem::WrongSize => PathError::TooLong,
        ConfigProblem::DotDot => PathError::BadComponent,
        ConfigProblem::BadCharacter | ConfigProblem::AlternateStream => PathError::BadCharacter,
        _ => PathError::NotAbsolute,
    }
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

    fn name(s: &str) -> Result<String, PathError> {
        let mut out = [0u16; MAX_PATH_UNITS];
        let n = nt_object_name(s, &mut out)?;
        Ok(String::from_utf16(&out[..n]).unwrap())
    }

    #[test]
    fn drive_paths_are_named_through_global() {
        assert_eq!(
            name(r"C:\ProgramData\changuard\Content"),
            Ok(r"\GLOBAL??\C:\ProgramData\changuard\Content".into())
        );
        assert_eq!(name(r"d:\x"), Ok(r"\GLOBAL??\d:\x".into()));
        assert_eq!(
            name(r"\SystemRoot\changuard\content"),
            Ok(r"\SystemRoot\changuard\content".into())
        );
        assert_eq!(name(r"\systemroot\x"), Ok(r"\systemroot\x".into()));
    }

    #[test]
    fn other_shapes_are_refused() {
        for bad in [
            r"C:x",
            r"\??\C:\x",
            r"\Device\HarddiskVolume1\x",
            r"\\server\share",
            r"relative\x",
            "",
            r"\SystemRootX\y",
        ] {
            assert_eq!(name(bad), Err(PathError::NotAbsolute), "{bad}");
        }
        assert_eq!(name("C:\\a\0b"), Err(PathError::EmbeddedNul));
        let long = String::from(r"C:\") + &"a".repeat(MAX_PATH_UNITS);
        assert_eq!(name(&long), Err(PathError::TooLong));
    }

    /// Every directory the loader's validator accepts has an NT name, with the
    /// same tail: the two sides cannot disagree about a value.
    #[test]
    fn every_path_the_loader_accepts_has_a_name() {
        use changuard_loader::config::{DEFAULT_ALLOWED_ROOTS, DEFAULT_CONTENT_DIR};
        assert!(path::check_under(DEFAULT_CONTENT_DIR, DEFAULT_ALLOWED_ROOTS).is_ok());
        let mut runner = proptest::test_runner::TestRunner::default();
        let comp = "[A-Za-z0-9_ .-]{1,12}";
        let strat = (
            proptest::prop_oneof![
                proptest::strategy::Just(r"C:\ProgramData\changuard\"),
                proptest::strategy::Just(r"\SystemRoot\changuard\")
            ],
            proptest::collection::vec(comp, 0..5),
        );
        runner
            .run(&strat, |(root, comps)| {
                let p = std::format!("{root}{}", comps.join("\\"));
                if path::check_under(&p, DEFAULT_ALLOWED_ROOTS).is_ok() {
                    let n = name(&p).unwrap();
                    proptest::prop_assert!(n.ends_with(&p));
                    proptest::prop_assert!(
                        n.starts_with(r"\GLOBAL??\") || n.starts_with(r"\SystemRoot\")
                    );
                }
                Ok(())
            })
            .unwrap();
    }

    /// Issue 11 finding 6: the driver's mapping and the loader's validator
    /// accept exactly the same set. Before, the mapping took any `X:\` or
    /// `\SystemRoot\` prefix, `..`, streams and empty components included.
    #[test]
    fn the_driver_and_the_loader_accept_the_same_paths() {
        for bad in [
            r"C:\ProgramData\changuard\..\..\Windows",
            r"C:\ProgramData\changuard\x:stream",
            r"C:\ProgramData\\changuard",
            r"C:\ProgramData\changuard\x.",
            r"C:\ProgramData\changuard\x ",
            r"C:\ProgramData\changuard\*",
            r"\SystemRoot\..\x",
            "C:\\ProgramData\\changuard/x",
        ] {
            assert!(path::check(bad).is_err(), "{bad}");
            assert!(name(bad).is_err(), "{bad}: the driver would open it");
        }
        let mut runner = proptest::test_runner::TestRunner::default();
        let strat = "(C:|c:|Z:|\\\\SystemRoot|\\\\systemroot|\\\\\\?\\?|\\\\Device)?(\\\\[A-Za-z0-9 .:*?/-]{0,6}){0,4}\\\\?";
        runner
            .run(&strat, |p| {
                let mut out = [0u16; MAX_PATH_UNITS];
                proptest::prop_assert_eq!(
                    nt_object_name(&p, &mut out).is_ok(),
                    path::check(&p).is_ok(),
                    "{}",
                    p
                );
                Ok(())
            })
            .unwrap();
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
        fn any_string_is_total(s in "\\PC{0,600}") {
            let mut out = [0u16; MAX_PATH_UNITS];
            if let Ok(n) = nt_object_name(&s, &mut out) {
                proptest::prop_assert!(n <= MAX_PATH_UNITS);
            }
        }
    }
}
