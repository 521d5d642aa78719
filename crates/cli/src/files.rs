//! Reading channel files the way the driver does, and naming them.

use changuard_format::{AlignedBytes, limits};
use std::io::Read;
use std::path::Path;

/// Read at most `MAX_FILE_LEN + 1` bytes into a 16-byte aligned buffer (the
/// kernel reads into 16-aligned pool; DFAs need it). An oversized file is then
/// rejected by the validator's first check without reading the rest.
pub fn read_capped(path: &Path) -> std::io::Result<AlignedBytes> {
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    let cap = u64::try_from(limits::MAX_FILE_LEN)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    f.take(cap).read_to_end(&mut buf)?;
    Ok(AlignedBytes::from_slice(&buf))
}

/// The channel a file is validated for, and where that came from.
pub fn expected_channel(path: &Path, bytes: &[u8], flag: Option<u32>) -> (u32, &'static str) {
    if let Some(c) = flag {
        return (c, "--channel");
    }
    if let Some((c, _)) = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_file_name)
    {
        return (c, "file name");
    }
    (
        peek_channel(bytes).unwrap_or(0),
        "header (unverified claim)",
    )
}

/// The channel id the (unverified) header claims, for files whose name does
/// not say which channel they are loaded as.
fn peek_channel(bytes: &[u8]) -> Option<u32> {
    let field = bytes.get(changuard_format::layout::header::CHANNEL)?;
    Some(u32::from_le_bytes(field.try_into().ok()?))
}

/// `C-<channel>-<version>.chan`, decimal (docs/FORMAT.md), optionally after a
/// descriptive prefix ending in `.` (`truncated.C-00000291-00000002.chan`), so
/// fixtures can say what they are and still say which channel they are for.
pub fn parse_file_name(name: &str) -> Option<(u32, u64)> {
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".chan")?;
    let canonical = stem.rsplit('.').next()?;
    let rest = canonical.strip_prefix("c-")?;
    let (c, v) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(c) || !digits(v) {
        return None;
    }
    Some((c.parse().ok()?, v.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::parse_file_name;

    #[test]
    fn file_names() {
        assert_eq!(parse_file_name("C-00000291-00000007.chan"), Some((291, 7)));
        assert_eq!(parse_file_name("c-291-7.CHAN"), Some((291, 7)));
        assert_eq!(
            parse_file_name("truncated.C-00000291-00000002.chan"),
            Some((291, 2))
        );
        assert_eq!(parse_file_name("C-00000291-00000007.chan.tmp"), None);
        assert_eq!(parse_file_name("C-00000291.chan"), None);
        assert_eq!(parse_file_name("C--1-2.chan"), None);
        assert_eq!(parse_file_name("xC-1-2.chan"), None);
        assert_eq!(parse_file_name("C-99999999999-1.chan"), None);
    }
}
