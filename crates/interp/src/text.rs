//! UTF-16 -> UTF-8 transcoding for the driver's `UNICODE_STRING` fields.
//!
//! Bounded (writes at most `buf.len()` bytes, reads each `u16` once),
//! allocation-free, and total: unpaired surrogates become U+FFFD, and
//! truncation never splits a code point, so the result is always valid UTF-8.

/// Transcode `src` (UTF-16, as in a kernel `UNICODE_STRING`) into `buf`.
///
/// Returns the UTF-8 text written (a prefix of `buf`) and whether the input
/// was truncated because `buf` was too small. When truncated, the text holds
/// every whole code point that fit; a code point that did not fit entirely is
/// dropped, never split.
///
/// Unpaired surrogates (a high surrogate not followed by a low one, or a lone
/// low surrogate) are replaced with U+FFFD (3 bytes), like
/// `String::from_utf16_lossy`.
///
/// # Panics
/// Never, for any input.
pub fn utf16_to_utf8<'b>(src: &[u16], buf: &'b mut [u8]) -> (&'b str, bool) {
    let mut written = 0usize;
    let mut truncated = false;
    for unit in core::char::decode_utf16(src.iter().copied()) {
        let c = unit.unwrap_or(core::char::REPLACEMENT_CHARACTER);
        let mut tmp = [0u8; 4];
        let enc = c.encode_utf8(&mut tmp).as_bytes();
        let end = match written.checked_add(enc.len()) {
            Some(e) => e,
            None => {
                truncated = true;
                break;
            }
        };
        match buf.get_mut(written..end) {
            Some(dst) => {
                dst.copy_from_slice(enc);
                written = end;
            }
            None => {
                truncated = true;
                break;
            }
        }
    }
    let out: &'b [u8] = match buf.get(..written) {
        Some(s) => s,
        None => &[],
    };
    // Only whole UTF-8 encodings of chars were written, so this cannot fail;
    // if it somehow did, return nothing rather than panic.
    match core::str::from_utf8(out) {
        Ok(s) => (s, truncated),
        Err(e) => {
            let valid = out.get(..e.valid_up_to()).unwrap_or(&[]);
            (core::str::from_utf8(valid).unwrap_or(""), true)
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::string::String;
    use std::vec::Vec;

    fn enc(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn ascii_and_non_ascii_paths() {
        let mut buf = [0u8; 256];
        for s in [
            r"C:\Windows\System32\cmd.exe",
            r"C:\Users\José\Документы\报告.exe",
            r"\Device\NamedPipe\ØÆÅ-pipe",
            r"C:\Users\😀\a.exe",
            "",
        ] {
            let (out, t) = utf16_to_utf8(&enc(s), &mut buf);
            assert_eq!(out, s);
            assert!(!t);
        }
    }

    #[test]
    fn unpaired_surrogates_become_replacement() {
        let mut buf = [0u8; 64];
        let src = [0x0041, 0xD800, 0x0042, 0xDC00, 0xD83D];
        let (out, t) = utf16_to_utf8(&src, &mut buf);
        assert_eq!(out, "A\u{FFFD}B\u{FFFD}\u{FFFD}");
        assert!(!t);
    }

    #[test]
    fn truncation_never_splits() {
        // "é" is 2 bytes, "😀" 4 bytes.
        let src = enc("aé😀");
        for cap in 0..10 {
            let mut buf = std::vec![0u8; cap];
            let (out, t) = utf16_to_utf8(&src, &mut buf);
            let want = match cap {
                0 => "",
                1 | 2 => "a",
                3..=6 => "aé",
                _ => "aé😀",
            };
            assert_eq!(out, want, "cap {cap}");
            assert_eq!(t, cap < 7);
        }
    }

    proptest! {
        #[test]
        fn matches_std_lossy(src in proptest::collection::vec(any::<u16>(), 0..64), cap in 0usize..300) {
            let mut buf = std::vec![0u8; cap];
            let (out, t) = utf16_to_utf8(&src, &mut buf);
            let full = String::from_utf16_lossy(&src);
            prop_assert!(full.starts_with(out));
            prop_assert_eq!(t, out.len() < full.len());
            if t {
                // The next char did not fit.
                let next = full[out.len()..].chars().next().unwrap();
                prop_assert!(out.len() + next.len_utf8() > cap);
            }
        }
    }
}
