//! Channel file names: `C-<channel, exactly 8 digits>-<version, 8..=20 digits>.chan`,
//! e.g. `C-00000291-00000007.chan`. Parsed strictly: anything else in the
//! content directory (junk, temp files, other case, extra characters) is ignored.
//! Channel 0 and version 0 are reserved ("none") and rejected.
//!
//! Release records live beside them (issue 15): the keyring is
//! [`KEYRING_NAME`], a version's rollout plan is the channel file's name with
//! `.rel` for `.chan` ([`FileName::release`]), and a channel's halt is
//! `C-<channel, 8 digits>.halt` ([`FileName::halt`]). None of them parses as
//! a channel file name, so the listing never takes one for content.

/// Longest valid name: `C-` + 8 + `-` + 20 + `.chan`.
pub const MAX_NAME_LEN: usize = 2 + 8 + 1 + 20 + 5;

/// Parse a channel file name into `(channel, version)`.
///
/// # Panics
/// Never.
pub fn parse(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix("C-")?.strip_suffix(".chan")?;
    let (ch, ver) = rest.split_once('-')?;
    if ch.len() != 8 || ver.len() < 8 || ver.len() > 20 {
        return None;
    }
    let channel = u32::try_from(digits(ch)?).ok()?;
    let version = digits(ver)?;
    if channel == 0 || version == 0 {
        return None;
    }
    Some((channel, version))
}

fn digits(s: &str) -> Option<u64> {
    let mut v: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v
            .checked_mul(10)?
            .checked_add(u64::from(b.wrapping_sub(b'0')))?;
    }
    Some(v)
}

/// A formatted channel file name, without allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileName {
    buf: [u8; MAX_NAME_LEN],
    len: usize,
}

/// The keyring's name in the content directory.
pub const KEYRING_NAME: &str = "keyring.ckr";

impl FileName {
    /// The canonical name of `(channel, version)`.
    pub fn new(channel: u32, version: u64) -> FileName {
        FileName::with(channel, Some(version), b".chan")
    }

    /// The release record of `(channel, version)`: `C-...-....rel`.
    pub fn release(channel: u32, version: u64) -> FileName {
        FileName::with(channel, Some(version), b".rel")
    }

    /// The halt record of `channel`: `C-<channel>.halt`.
    pub fn halt(channel: u32) -> FileName {
        FileName::with(channel, None, b".halt")
    }

    fn with(channel: u32, version: Option<u64>, ext: &[u8]) -> FileName {
        let mut buf = [0u8; MAX_NAME_LEN];
        let mut len = 0usize;
        let mut push = |b: u8| {
            if let Some(slot) = buf.get_mut(len) {
                *slot = b;
                len = len.saturating_add(1);
            }
        };
        push(b'C');
        push(b'-');
        let mut tmp = [0u8; 20];
        for b in dec(u64::from(channel), 8, &mut tmp) {
            push(*b);
        }
        if let Some(version) = version {
            push(b'-');
            let mut tmp2 = [0u8; 20];
            for b in dec(version, 8, &mut tmp2) {
                push(*b);
            }
        }
        for b in ext {
            push(*b);
        }
        FileName { buf, len }
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
}

/// Decimal digits of `v`, zero-padded to at least `width`, into `tmp`.
fn dec(mut v: u64, width: usize, tmp: &mut [u8; 20]) -> &[u8] {
    let mut i = tmp.len();
    loop {
        i = i.saturating_sub(1);
        if let Some(slot) = tmp.get_mut(i) {
            // `v % 10 < 10`, so the cast and the add cannot overflow.
            *slot = b'0'.saturating_add((v % 10) as u8);
        }
        v /= 10;
        let written = tmp.len().saturating_sub(i);
        if (v == 0 && written >= width) || i == 0 {
            break;
        }
    }
    tmp.get(i..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(parse("C-00000291-00000007.chan"), Some((291, 7)));
        assert_eq!(
            parse("C-00000291-123456789012.chan"),
            Some((291, 123_456_789_012))
        );
        for bad in [
            "C-0000291-00000007.chan",
            "C-00000291-0000007.chan",
            "c-00000291-00000007.chan",
            "C-00000291-00000007.CHAN",
            "C-00000291-00000007.chan.tmp",
            "C-00000291-00000007.chan:ads",
            "C-00000000-00000007.chan",
            "C-00000291-00000000.chan",
            "C-00000291-+0000007.chan",
            "C-00000291-99999999999999999999.chan",
            "C-99999999-00000007.chan",
            "",
        ] {
            if bad == "C-99999999-00000007.chan" {
                assert_eq!(parse(bad), Some((99_999_999, 7)));
                continue;
            }
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(FileName::new(291, 7).as_str(), "C-00000291-00000007.chan");
        assert_eq!(
            FileName::release(291, 7).as_str(),
            "C-00000291-00000007.rel"
        );
        assert_eq!(FileName::halt(291).as_str(), "C-00000291.halt");
        for other in [
            FileName::release(291, 7),
            FileName::halt(291),
            FileName::halt(u32::MAX),
        ] {
            assert_eq!(parse(other.as_str()), None);
        }
        assert_eq!(parse(KEYRING_NAME), None);
    }

    proptest! {
        #[test]
        fn roundtrip(ch in 1u32..100_000_000, v in 1u64..u64::MAX) {
            let n = FileName::new(ch, v);
            prop_assert_eq!(parse(n.as_str()), Some((ch, v)));
        }
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }
    }
}
