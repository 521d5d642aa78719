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

/// `too-large` names the file's real size: the validator only sees the first
/// `MAX_FILE_LEN + 1` bytes `read_capped` read (it said 16,777,217 for a
/// 20,000,000-byte file).
pub fn true_size(path: &Path, mut r: changuard_format::Rejection) -> changuard_format::Rejection {
    if r.rule == changuard_format::Rule::TooLarge {
        if let Ok(m) = std::fs::metadata(path) {
            r.found = r.found.max(m.len());
        }
    }
    r
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

/// What the loader would make of a file name (`crates/loader/src/names.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameVerdict {
    /// No `C-<digits>-<digits>.chan` in it: not meant as a channel file, so
    /// no name rules apply (the channel comes from `--channel` or the header).
    NotChannelName,
    /// The loader's grammar accepts it as `(channel, version)`. `prefixed`:
    /// it carries a descriptive fixture prefix (`truncated.C-...chan`), which
    /// the tools allow and the loader would not load (it lists exact names).
    Loadable {
        channel: u32,
        version: u64,
        prefixed: bool,
    },
    /// Meant as a channel file name, but the loader would ignore the file.
    Refused {
        /// Why, in the loader's terms.
        why: String,
        /// The name the loader would load for the same numbers, if any.
        canonical: Option<String>,
    },
}

/// Apply the loader's strict name grammar to `name` when it has the
/// channel-file form (see [`NameVerdict`]).
pub fn check_name(name: &str) -> NameVerdict {
    use changuard_loader::names;
    // Loose form first: where the `c-<digits>-<digits>.chan` part starts.
    let lower = name.to_ascii_lowercase();
    let Some(stem) = lower.strip_suffix(".chan") else {
        return NameVerdict::NotChannelName;
    };
    let start = stem.rfind('.').map_or(0, |p| p.saturating_add(1));
    let part = stem.get(start..).unwrap_or("");
    let Some((ch, ver)) = part.strip_prefix("c-").and_then(|r| r.split_once('-')) else {
        return NameVerdict::NotChannelName;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(ch) || !digits(ver) {
        return NameVerdict::NotChannelName;
    }
    // ASCII lower-casing keeps byte positions, so `start` indexes `name` too.
    let exact = name.get(start..).unwrap_or("");
    if let Some((channel, version)) = names::parse(exact) {
        return NameVerdict::Loadable {
            channel,
            version,
            prefixed: start > 0,
        };
    }
    let (c, v) = (ch.parse::<u64>().ok(), ver.parse::<u64>().ok());
    let why = if !exact.starts_with("C-") || !exact.ends_with(".chan") {
        "the loader matches `C-` and `.chan` exactly (upper-case C, lower-case chan)"
    } else if ch.len() != 8 {
        "the channel must be exactly 8 decimal digits"
    } else if ver.len() < 8 || ver.len() > 20 {
        "the version must be 8 to 20 decimal digits (zero-padded to 8)"
    } else if v.is_none() {
        "the version does not fit in 64 bits"
    } else {
        "channel 0 and version 0 are reserved (\"none\")"
    };
    let canonical = match (c.and_then(|c| u32::try_from(c).ok()), v) {
        (Some(c), Some(v)) => {
            let n = names::FileName::new(c, v);
            names::parse(n.as_str()).map(|_| n.as_str().to_string())
        }
        _ => None,
    };
    NameVerdict::Refused {
        why: why.to_string(),
        canonical,
    }
}

/// The exact name the loader loads for `(channel, version)`, or `None` when
/// no name can carry them (channel 0 or over 8 digits, version 0).
pub fn loadable_name(channel: u32, version: u64) -> Option<String> {
    use changuard_loader::names;
    let n = names::FileName::new(channel, version);
    (names::parse(n.as_str()) == Some((channel, version))).then(|| n.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::{
        NameVerdict, check_name, limits, loadable_name, parse_file_name, read_capped, true_size,
    };

    #[test]
    fn name_verdicts_follow_the_loader() {
        assert_eq!(
            check_name("C-00000291-00000007.chan"),
            NameVerdict::Loadable {
                channel: 291,
                version: 7,
                prefixed: false
            }
        );
        assert_eq!(
            check_name("truncated.C-00000291-00000002.chan"),
            NameVerdict::Loadable {
                channel: 291,
                version: 2,
                prefixed: true
            }
        );
        for n in ["spec.toml", "x.chan", "C-00000291.chan", "C-291-x.chan"] {
            assert_eq!(check_name(n), NameVerdict::NotChannelName, "{n}");
        }
        let refused = |n: &str| match check_name(n) {
            NameVerdict::Refused { why, canonical } => (why, canonical),
            other => panic!("{n}: {other:?}"),
        };
        let (why, canon) = refused("C-291-7.chan");
        assert!(why.contains("8 decimal digits"), "{why}");
        assert_eq!(canon.as_deref(), Some("C-00000291-00000007.chan"));
        assert!(refused("c-00000291-00000007.chan").0.contains("exactly"));
        assert!(refused("C-00000000-00000000.chan").0.contains("reserved"));
        assert_eq!(refused("C-00000000-00000001.chan").1, None);
        assert!(refused("C-100000000-00000001.chan").0.contains("8 decimal"));
        assert_eq!(
            loadable_name(291, 1).as_deref(),
            Some("C-00000291-00000001.chan")
        );
        assert_eq!(loadable_name(0, 1), None);
        assert_eq!(loadable_name(291, 0), None);
        assert_eq!(loadable_name(100_000_000, 1), None);
    }

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

    #[test]
    fn too_large_names_the_real_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.chan");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(20_000_000).unwrap();
        let bytes = read_capped(&path).unwrap();
        let keys: [changuard_format::TrustedKey; 0] = [];
        let r =
            changuard_format::validate(bytes.as_ref(), &changuard_format::Trust::new(&keys), 291)
                .unwrap_err();
        assert_eq!(
            r.found,
            limits::MAX_FILE_LEN as u64 + 1,
            "what the validator saw"
        );
        let r = true_size(&path, r);
        assert_eq!(r.found, 20_000_000);
        assert!(r.to_string().contains("found 20000000 (0x1312d00)"), "{r}");
    }
}
