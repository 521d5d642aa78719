//! Host stand-in for `wdk::fmt::FormatBuffer` (our own, minimal): the two calls
//! the host-checked modules make are `FormatBuffer::<N>::new()` and `as_str()`
//! after `core::fmt::Write`. Like the real type, it keeps one byte for a NUL,
//! so at most `N - 1` bytes of text are kept, and a write that does not fit is
//! an error after keeping what fits (cut at a char boundary).
use core::fmt;

/// A fixed-size, stack-allocated text buffer.
#[derive(Debug)]
pub struct FormatBuffer<const N: usize = 512> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> FormatBuffer<N> {
    /// An empty buffer.
    #[must_use]
    pub const fn new() -> Self {
        Self { buf: [0; N], len: 0 }
    }

    /// The text written so far.
    #[must_use]
    pub fn as_str(&self) -> &str {
        let written = self.buf.get(..self.len).unwrap_or_default();
        match core::str::from_utf8(written) {
            Ok(s) => s,
            // Only whole chars are ever stored, so this is unreachable; be total anyway.
            Err(e) => core::str::from_utf8(written.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or_default(),
        }
    }
}

impl<const N: usize> Default for FormatBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for FormatBuffer<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N.saturating_sub(1).saturating_sub(self.len);
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take = take.saturating_sub(1);
        }
        let src = s.as_bytes().get(..take).unwrap_or_default();
        let end = self.len.saturating_add(take);
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(src);
            self.len = end;
        }
        if take == s.len() { Ok(()) } else { Err(fmt::Error) }
    }
}

#[cfg(test)]
mod tests {
    use super::FormatBuffer;
    use core::fmt::Write;

    #[test]
    fn keeps_n_minus_one_bytes_and_whole_chars() {
        let mut b = FormatBuffer::<8>::new();
        assert!(write!(b, "0123").is_ok());
        assert!(write!(b, "45678").is_err());
        assert_eq!(b.as_str(), "0123456");
        let mut b = FormatBuffer::<5>::new();
        assert!(write!(b, "aé€").is_err()); // 1 + 2 + 3 bytes; room 4: "aé" fits
        assert_eq!(b.as_str(), "aé");
    }
}
