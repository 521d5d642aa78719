//! The one validator of directory paths the driver opens (issue 11 finding 6).
//!
//! `Parameters\ContentDirectory` is untrusted (docs/THREAT-MODEL.md). Config
//! parsing ([`crate::config`]) accepts it only through [`check_under`], and
//! the driver names every directory it opens through
//! `changuard_control::ntpath::nt_object_name`, which calls [`check`] first:
//! both sides accept exactly the same set of shapes, so a value cannot pass one
//! and be reinterpreted by the other.
//!
//! Accepted shapes ([`PathKind`]): `X:\a\b` (drive letter, colon, backslash) or
//! `\SystemRoot\a\b`; at most [`MAX_PATH_LEN`] printable ASCII characters; no
//! `/`; no empty, `.` or `..` component, nor one ending in `.` or space (Win32
//! strips those, NT does not: the two would name different objects); no `:`
//! other than the drive colon (alternate data streams); none of `*?"<>|`.
//! Device and namespace prefixes (`\\`, `\??\`, `\Device\`, `\GLOBAL??\`,
//! `\DosDevices\`) are refused: they bypass the roots.

use crate::reason::ConfigProblem;

/// Longest accepted path, in characters.
pub const MAX_PATH_LEN: usize = 200;

/// The two accepted shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathKind {
    /// `X:\...`: named through `\GLOBAL??\X:\...` by the driver.
    Drive,
    /// `\SystemRoot\...`: an object-manager symbolic link, used as is.
    SystemRoot,
}

const SYSTEM_ROOT: &str = "\\SystemRoot\\";

fn eq_ignore_case_prefix(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.as_bytes()
            .get(..prefix.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Check the shape of `p` (module docs); roots are not considered.
///
/// # Errors
/// The first problem found.
///
/// # Panics
/// Never, for any input.
pub fn check(p: &str) -> Result<PathKind, ConfigProblem> {
    if p.is_empty() || p.len() > MAX_PATH_LEN {
        return Err(ConfigProblem::WrongSize);
    }
    if p.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        return Err(ConfigProblem::BadCharacter);
    }
    if p.contains('/') {
        return Err(ConfigProblem::DevicePath);
    }
    for dev in [
        "\\\\",
        "\\??\\",
        "\\Device\\",
        "\\GLOBAL??\\",
        "\\DosDevices\\",
    ] {
        if eq_ignore_case_prefix(p, dev) {
            return Err(ConfigProblem::DevicePath);
        }
    }
    let b = p.as_bytes();
    let (kind, body) = match b {
        [d, b':', b'\\', ..] if d.is_ascii_alphabetic() => (PathKind::Drive, p.get(3..)),
        _ if eq_ignore_case_prefix(p, SYSTEM_ROOT) => {
            (PathKind::SystemRoot, p.get(SYSTEM_ROOT.len()..))
        }
        [_, b':', ..] => return Err(ConfigProblem::Relative),
        [b'\\', ..] => return Err(ConfigProblem::DevicePath),
        _ => return Err(ConfigProblem::Relative),
    };
    let body = body.unwrap_or("");
    if body.contains(':') {
        return Err(ConfigProblem::AlternateStream);
    }
    let body = body.strip_suffix('\\').unwrap_or(body);
    if !body.is_empty() {
        for comp in body.split('\\') {
            if comp.is_empty()
                || comp.contains("..")
                || comp == "."
                || comp.ends_with('.')
                || comp.ends_with(' ')
            {
                return Err(ConfigProblem::DotDot);
            }
            if comp
                .bytes()
                .any(|c| matches!(c, b'*' | b'?' | b'"' | b'<' | b'>' | b'|'))
            {
                return Err(ConfigProblem::BadCharacter);
            }
        }
    }
    Ok(kind)
}

/// [`check`], then: `p` is one of `roots` or below it (each root ends in `\`;
/// the directory may equal a root without it). ASCII case-insensitive.
///
/// # Errors
/// The first problem found (`OutsideRoots` last).
///
/// # Panics
/// Never, for any input.
pub fn check_under(p: &str, roots: &[&str]) -> Result<PathKind, ConfigProblem> {
    let kind = check(p)?;
    let under = roots.iter().any(|root| {
        let bare = root.strip_suffix('\\').unwrap_or(root);
        p.eq_ignore_ascii_case(bare) || eq_ignore_case_prefix(p, root)
    });
    if under {
        Ok(kind)
    } else {
        Err(ConfigProblem::OutsideRoots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_ALLOWED_ROOTS as R;
    use proptest::prelude::*;

    #[test]
    fn shapes_and_roots() {
        let ok = |p: &str| check_under(p, R).map(|_| ());
        assert_eq!(ok("C:\\ProgramData\\changuard\\Content"), Ok(()));
        assert_eq!(ok("c:\\programdata\\CHANGUARD\\Content\\"), Ok(()));
        assert_eq!(ok("C:\\ProgramData\\changuard"), Ok(()));
        assert_eq!(
            check_under("\\SystemRoot\\changuard\\content", R),
            Ok(PathKind::SystemRoot)
        );
        assert_eq!(check("D:\\x"), Ok(PathKind::Drive));
        assert_eq!(ok("Content"), Err(ConfigProblem::Relative));
        assert_eq!(ok("C:Content"), Err(ConfigProblem::Relative));
        for dev in [
            "\\\\.\\PhysicalDrive0",
            "\\\\?\\GLOBALROOT\\Device\\X",
            "\\Device\\HarddiskVolume1\\x",
            "\\??\\C:\\ProgramData\\changuard\\x",
            "\\GLOBAL??\\C:\\ProgramData\\changuard\\x",
            "\\\\server\\share\\x",
            "C:/ProgramData/changuard/x",
            "\\SystemRootX\\y",
        ] {
            assert_eq!(ok(dev), Err(ConfigProblem::DevicePath), "{dev}");
        }
        assert_eq!(
            ok("C:\\ProgramData\\changuard\\..\\..\\Windows"),
            Err(ConfigProblem::DotDot)
        );
        assert_eq!(
            ok("C:\\ProgramData\\changuard\\x."),
            Err(ConfigProblem::DotDot)
        );
        assert_eq!(
            ok("C:\\ProgramData\\changuard\\x:stream"),
            Err(ConfigProblem::AlternateStream)
        );
        assert_eq!(
            ok("C:\\Windows\\System32"),
            Err(ConfigProblem::OutsideRoots)
        );
        assert_eq!(
            ok("C:\\ProgramData\\changuardX"),
            Err(ConfigProblem::OutsideRoots)
        );
        assert_eq!(ok("C:\\a\0b"), Err(ConfigProblem::BadCharacter));
    }

    proptest! {
        #[test]
        fn accepted_paths_are_safe(s in "[A-Za-z\\\\:.?/ ]{0,60}|C:\\\\ProgramData\\\\changuard\\\\[A-Za-z\\\\:. ]{0,40}") {
            if check_under(&s, R).is_ok() {
                let lower = s.to_ascii_lowercase();
                prop_assert!(lower.starts_with("c:\\programdata\\changuard") || lower.starts_with("\\systemroot\\changuard"));
                prop_assert!(!s.contains(".."));
                prop_assert!(!s[2..].contains(':'));
                prop_assert!(!s.contains("\\\\"));
            }
        }

        #[test]
        fn total(s in "\\PC{0,300}") {
            let _ = check(&s);
        }
    }
}
