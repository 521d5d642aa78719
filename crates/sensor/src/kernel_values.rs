//! Kernel values as event fields: a process's image name in the form rules
//! are written against, and its token's user SID and mandatory label.
//!
//! The driver hands these functions raw bytes and UTF-16 copied out of the
//! kernel (`PS_CREATE_NOTIFY_INFO::ImageFileName`, `TOKEN_USER`,
//! `TOKEN_MANDATORY_LABEL`); everything that decides what the bytes mean is
//! here, portable and tested. All functions are total and allocation-free:
//! a malformed SID is `None` (the driver then sends the field empty), never a
//! panic or a read past the slice.

use changuard_interp::text::utf16_to_utf8;

/// Most sub-authorities a SID has (`SID_MAX_SUB_AUTHORITIES`).
pub const MAX_SUB_AUTHORITIES: usize = 15;

/// Longest binary SID: revision, count, 6-byte authority, 15 sub-authorities.
pub const MAX_SID_LEN: usize = 8 + 4 * MAX_SUB_AUTHORITIES;

/// Longest SID text: `S-1-`, a hex authority `0x` + 12 digits, then 15 times
/// `-` and a 10-digit sub-authority (`ConvertSidToStringSid`'s form).
pub const SID_TEXT_CAP: usize = 4 + 14 + MAX_SUB_AUTHORITIES * 11;

/// `SECURITY_MANDATORY_LABEL_AUTHORITY`: the authority of integrity labels.
const MANDATORY_LABEL_AUTHORITY: u64 = 16;

/// A SID's parts, read from its binary form (`SID`: revision 1, then the
/// count, the big-endian 48-bit authority, little-endian sub-authorities).
struct Sid<'a> {
    authority: u64,
    subs: &'a [u8],
}

impl<'a> Sid<'a> {
    /// The SID at the start of `bytes`; `None` unless revision 1 with at
    /// most 15 sub-authorities, all inside `bytes`.
    fn parse(bytes: &'a [u8]) -> Option<Sid<'a>> {
        let len = sid_len(bytes)?;
        let authority = bytes
            .get(2..8)?
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b));
        Some(Sid {
            authority,
            subs: bytes.get(8..len)?,
        })
    }

    fn sub_authorities(&self) -> impl Iterator<Item = u32> + 'a {
        self.subs
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
    }
}

/// The length of the well-formed SID at the start of `bytes` (revision 1, at
/// most 15 sub-authorities, all present), or `None`.
pub fn sid_len(bytes: &[u8]) -> Option<usize> {
    let (&revision, &count) = (bytes.first()?, bytes.get(1)?);
    let count = usize::from(count);
    if revision != 1 || count > MAX_SUB_AUTHORITIES {
        return None;
    }
    // count <= 15, so this is at most MAX_SID_LEN.
    let len = 8usize.checked_add(count.checked_mul(4)?)?;
    (len <= bytes.len()).then_some(len)
}

/// The SID at the start of `sid` as text (`S-1-5-21-...-1001`), written into
/// `out`. The authority is decimal below 2^32 and `0x` + 12 hex digits
/// otherwise, as `ConvertSidToStringSid` prints it. `None` for a malformed
/// SID or an `out` shorter than the text ([`SID_TEXT_CAP`] always suffices).
pub fn sid_text<'b>(sid: &[u8], out: &'b mut [u8]) -> Option<&'b str> {
    let sid = Sid::parse(sid)?;
    let mut w = Writer { out, len: 0 };
    w.bytes(b"S-1-")?;
    if sid.authority < (1 << 32) {
        w.decimal(sid.authority)?;
    } else {
        w.bytes(b"0x")?;
        // Twelve hex digits, most significant first (the authority is 48 bits).
        for shift in [44u32, 40, 36, 32, 28, 24, 20, 16, 12, 8, 4, 0] {
            let digit = usize::try_from((sid.authority >> shift) & 0xF).ok()?;
            w.bytes(b"0123456789ABCDEF".get(digit..=digit)?)?;
        }
    }
    for s in sid.sub_authorities() {
        w.bytes(b"-")?;
        w.decimal(u64::from(s))?;
    }
    let Writer { out, len } = w;
    core::str::from_utf8(out.get(..len)?).ok()
}

/// The integrity level of a token's mandatory label SID (`S-1-16-RID`): the
/// RID, e.g. 0x2000 for Medium, 0x4000 for System. `None` for any other SID.
pub fn integrity_rid(label: &[u8]) -> Option<u32> {
    let sid = Sid::parse(label)?;
    if sid.authority != MANDATORY_LABEL_AUTHORITY {
        return None;
    }
    sid.sub_authorities().last()
}

/// Prefixes of the kernel's image names and what replaces each: the object
/// manager's `\??\` (and Win32's `\\?\`) before a drive path go, and their
/// UNC forms become `\\server\share`. Longest first.
const IMAGE_PREFIXES: [(&str, &str); 4] = [
    ("\\??\\UNC\\", "\\\\"),
    ("\\\\?\\UNC\\", "\\\\"),
    ("\\??\\", ""),
    ("\\\\?\\", ""),
];

/// A kernel image name (`PS_CREATE_NOTIFY_INFO::ImageFileName`, UTF-16) in
/// the form detection rules and Sysmon use: `\??\C:\Windows\x.exe` becomes
/// `C:\Windows\x.exe` and `\??\UNC\srv\share\x.exe` becomes
/// `\\srv\share\x.exe`; other names (`\Device\...`) are kept as they are.
/// Transcoded into `out` like [`utf16_to_utf8`], with its truncation flag.
pub fn image_path<'b>(units: &[u16], out: &'b mut [u8]) -> (&'b str, bool) {
    for (prefix, replacement) in IMAGE_PREFIXES {
        let Some(rest) = strip_ascii_prefix(units, prefix) else {
            continue;
        };
        let Some((head, tail)) = out.split_at_mut_checked(replacement.len()) else {
            return ("", true);
        };
        head.copy_from_slice(replacement.as_bytes());
        let (text, truncated) = utf16_to_utf8(rest, tail);
        let len = replacement.len().saturating_add(text.len());
        // `replacement` is ASCII and `text` valid UTF-8, so the join is too.
        let joined = out.get(..len).and_then(|b| core::str::from_utf8(b).ok());
        return (joined.unwrap_or(""), truncated);
    }
    utf16_to_utf8(units, out)
}

/// `units` after the ASCII `prefix`, if it starts with it.
fn strip_ascii_prefix<'u>(units: &'u [u16], prefix: &str) -> Option<&'u [u16]> {
    let p = prefix.as_bytes();
    let head = units.get(..p.len())?;
    head.iter()
        .zip(p)
        .all(|(&u, &b)| u == u16::from(b))
        .then(|| units.get(p.len()..))
        .flatten()
}

/// A bounded writer over a byte buffer: every write is checked.
struct Writer<'b> {
    out: &'b mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) -> Option<()> {
        let end = self.len.checked_add(b.len())?;
        self.out.get_mut(self.len..end)?.copy_from_slice(b);
        self.len = end;
        Some(())
    }

    fn decimal(&mut self, mut v: u64) -> Option<()> {
        let mut digits = [0u8; 20];
        let mut n = digits.len();
        loop {
            n = n.checked_sub(1)?;
            *digits.get_mut(n)? = b'0'.checked_add(u8::try_from(v % 10).ok()?)?;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.bytes(digits.get(n..)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn sid(authority: u64, subs: &[u32]) -> Vec<u8> {
        let mut b = alloc::vec![1, u8::try_from(subs.len()).unwrap()];
        b.extend_from_slice(&authority.to_be_bytes()[2..]);
        for s in subs {
            b.extend_from_slice(&s.to_le_bytes());
        }
        b
    }

    fn text(b: &[u8]) -> Option<String> {
        let mut out = [0u8; SID_TEXT_CAP];
        sid_text(b, &mut out).map(String::from)
    }

    fn utf16(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    fn image(s: &str) -> String {
        let mut out = [0u8; 64];
        String::from(image_path(&utf16(s), &mut out).0)
    }

    #[test]
    fn well_known_sids_print_as_windows_prints_them() {
        assert_eq!(text(&sid(5, &[18])).unwrap(), "S-1-5-18");
        assert_eq!(
            text(&sid(
                5,
                &[21, 1_004_336_348, 1_177_238_915, 682_003_330, 1001]
            ))
            .unwrap(),
            "S-1-5-21-1004336348-1177238915-682003330-1001"
        );
        assert_eq!(text(&sid(1, &[0])).unwrap(), "S-1-1-0");
        assert_eq!(text(&sid(16, &[0x3000])).unwrap(), "S-1-16-12288");
        // An authority of 2^32 or more is hex, as ConvertSidToStringSid prints it.
        assert_eq!(text(&sid(1 << 40, &[7])).unwrap(), "S-1-0x010000000000-7");
        assert_eq!(text(&sid(5, &[])).unwrap(), "S-1-5");
    }

    #[test]
    fn malformed_sids_are_none() {
        assert_eq!(text(&[]), None);
        assert_eq!(text(&[1]), None);
        let mut two = sid(5, &[21, 42]);
        assert_eq!(
            text(&two[..two.len() - 1]),
            None,
            "a sub-authority cut short"
        );
        two[0] = 2;
        assert_eq!(text(&two), None, "revision 2");
        let mut many = sid(5, &[1; 15]);
        many[1] = 16;
        assert_eq!(text(&many), None, "16 sub-authorities");
        // Bytes after the SID are not part of it.
        let mut tail = sid(5, &[18]);
        tail.extend_from_slice(&[9, 9, 9]);
        assert_eq!(text(&tail).unwrap(), "S-1-5-18");
        // A buffer one byte short is refused, not overrun.
        let mut small = [0u8; 7];
        assert_eq!(sid_text(&sid(5, &[18]), &mut small), None);
        let mut exact = [0u8; 8];
        assert_eq!(sid_text(&sid(5, &[18]), &mut exact), Some("S-1-5-18"));
    }

    #[test]
    fn integrity_labels_give_their_rid() {
        assert_eq!(integrity_rid(&sid(16, &[0x2000])), Some(0x2000));
        assert_eq!(integrity_rid(&sid(16, &[0x4000])), Some(0x4000));
        assert_eq!(integrity_rid(&sid(5, &[18])), None, "not a label");
        assert_eq!(integrity_rid(&sid(16, &[])), None, "no RID");
    }

    #[test]
    fn kernel_image_names_take_the_form_rules_use() {
        assert_eq!(image("\\??\\C:\\Windows\\x.exe"), "C:\\Windows\\x.exe");
        assert_eq!(image("\\\\?\\C:\\x.exe"), "C:\\x.exe");
        assert_eq!(image("\\??\\UNC\\srv\\s\\x.exe"), "\\\\srv\\s\\x.exe");
        assert_eq!(image("\\\\?\\UNC\\srv\\s\\x.exe"), "\\\\srv\\s\\x.exe");
        assert_eq!(image("C:\\x.exe"), "C:\\x.exe");
        assert_eq!(
            image("\\Device\\HarddiskVolume3\\x.exe"),
            "\\Device\\HarddiskVolume3\\x.exe"
        );
        assert_eq!(image("\\??"), "\\??");
        assert_eq!(image(""), "");
        // Truncation still never splits a code point, prefix or not.
        let mut out = [0u8; 5];
        let (t, cut) = image_path(&utf16("\\??\\UNC\\é"), &mut out);
        assert_eq!((t, cut), ("\\\\é", false));
        let mut out = [0u8; 3];
        assert_eq!(image_path(&utf16("\\??\\UNC\\é"), &mut out), ("\\\\", true));
        let mut out = [0u8; 1];
        assert_eq!(image_path(&utf16("\\??\\UNC\\x"), &mut out), ("", true));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic_and_text_parses_back(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut out = [0u8; SID_TEXT_CAP];
            if let Some(t) = sid_text(&bytes, &mut out) {
                // Valid text implies a valid SID, and the text names its parts.
                let len = sid_len(&bytes).unwrap();
                let parts: Vec<&str> = t.split('-').collect();
                prop_assert_eq!(parts.len(), 3 + (len - 8) / 4);
                prop_assert_eq!(parts[0], "S");
                prop_assert_eq!(parts[1], "1");
                for (k, p) in parts[3..].iter().enumerate() {
                    let at = 8 + 4 * k;
                    let v = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
                    prop_assert_eq!(p.parse::<u32>().unwrap(), v);
                }
            } else {
                prop_assert!(sid_len(&bytes).is_none());
            }
            let _ = integrity_rid(&bytes);
        }

        #[test]
        fn every_well_formed_sid_fits_the_cap(authority in 0u64..(1 << 48), subs in proptest::collection::vec(any::<u32>(), 0..=15)) {
            let b = sid(authority, &subs);
            let mut out = [0u8; SID_TEXT_CAP];
            prop_assert!(sid_text(&b, &mut out).is_some());
        }

        #[test]
        fn image_names_lose_only_the_prefix(units in proptest::collection::vec(any::<u16>(), 0..40), k in 0usize..5) {
            let prefixes = ["", "\\??\\", "\\\\?\\", "\\??\\UNC\\", "\\\\?\\UNC\\"];
            let mut name = utf16(prefixes[k]);
            name.extend_from_slice(&units);
            let mut out = [0u8; 256];
            let (t, cut) = image_path(&name, &mut out);
            prop_assert!(!cut);
            let lossy = String::from_utf16_lossy(&units);
            prop_assert!(t.ends_with(lossy.as_str()), "{t:?} {lossy:?}");
        }
    }
}
