//! Record file names, and reading and writing record files.

use changuard_release::layout;
use changuard_release::limits::MAX_RECORD_LEN;
use changuard_release::{RecordError, RecordRule};
use std::io::Read;
use std::path::{Path, PathBuf};

/// `C-<channel 8 digits>-<version>.rel`, or why no name carries them.
pub fn release_file_name(channel: u32, version: u64) -> Result<String, String> {
    crate::files::loadable_name(channel, version)
        .and_then(|n| n.strip_suffix(".chan").map(|s| format!("{s}.rel")))
        .ok_or_else(|| {
            format!(
                "channel {channel} version {version} has no file name: the loader needs channel \
                 1..=99999999 and version >= 1"
            )
        })
}

/// `C-<channel 8 digits>.halt`, or why no name carries it.
pub fn halt_file_name(channel: u32) -> Result<String, String> {
    crate::files::loadable_name(channel, 1)
        .and_then(|n| n.get(..10).map(|s| format!("{s}.halt")))
        .ok_or_else(|| {
            format!("channel {channel} has no file name: the loader needs channel 1..=99999999")
        })
}

/// `(channel, version)` from an exact `C-<8 digits>-<8..20 digits>.rel`.
pub(super) fn parse_release_name(path: &Path) -> Option<(u32, u64)> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".rel")?;
    changuard_loader::names::parse(&format!("{stem}.chan"))
}

/// The channel from an exact `C-<8 digits>.halt`.
pub(super) fn parse_halt_name(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_prefix("C-")?.strip_suffix(".halt")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|c| *c != 0)
}

/// The header's (unverified) channel and sequence.
pub(super) fn header_claim(bytes: &[u8]) -> (u32, u64) {
    let channel = bytes
        .get(layout::header::CHANNEL)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_le_bytes);
    let seq = bytes
        .get(layout::header::SEQUENCE)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes);
    (channel, seq)
}

/// Read at most `MAX_RECORD_LEN + 1` bytes; `too-large` then names the real size.
pub(super) fn read_record(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(MAX_RECORD_LEN as u64 + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

pub(super) fn true_size(path: &Path, mut e: RecordError) -> RecordError {
    if let (RecordRule::TooLarge, Some((want, found))) = (e.rule, e.values) {
        if let Ok(m) = std::fs::metadata(path) {
            e.values = Some((want, found.max(m.len())));
        }
    }
    e
}

/// Write to a temp file beside `path`, then rename.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ranges() {
        assert_eq!(
            release_file_name(291, 7).unwrap(),
            "C-00000291-00000007.rel"
        );
        assert!(release_file_name(0, 7).is_err());
        assert!(release_file_name(291, 0).is_err());
        assert_eq!(halt_file_name(291).unwrap(), "C-00000291.halt");
        assert!(halt_file_name(100_000_000).is_err());
        assert_eq!(
            parse_release_name(Path::new("x/C-00000291-00000007.rel")),
            Some((291, 7))
        );
        assert_eq!(parse_release_name(Path::new("C-291-7.rel")), None);
        assert_eq!(parse_halt_name(Path::new("C-00000291.halt")), Some(291));
        assert_eq!(parse_halt_name(Path::new("C-00000000.halt")), None);
    }
}
