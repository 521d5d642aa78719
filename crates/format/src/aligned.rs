//! A 16-byte aligned owned byte buffer for host tools (std only).
//!
//! The validator checks serialized DFAs at their actual address, and the
//! kernel reads channel files into 16-byte aligned pool buffers. Host tools
//! (CLI, simulator, tests) must read files into equally aligned buffers, or
//! valid content with DFAs is rejected with `bad-dfa`.
//!
//! No `unsafe`: the buffer over-allocates by 15 bytes and starts the data at
//! the first 16-aligned address (`<*const u8>::align_offset` is safe). The
//! heap block never moves: the `Vec` is never grown after construction.

use std::vec::Vec;

/// Alignment guaranteed by [`AlignedBytes`].
pub const ALIGN: usize = 16;

/// An owned, immutable byte buffer whose first byte is 16-byte aligned.
pub struct AlignedBytes {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBytes {
    /// Copy `data` into a new aligned buffer.
    pub fn from_slice(data: &[u8]) -> AlignedBytes {
        let mut storage = std::vec![0u8; data.len().saturating_add(ALIGN)];
        let start = storage.as_ptr().align_offset(ALIGN);
        let start = if start < ALIGN { start } else { 0 };
        let end = start.saturating_add(data.len());
        if let Some(dst) = storage.get_mut(start..end) {
            dst.copy_from_slice(data);
        }
        AlignedBytes {
            storage,
            start,
            len: data.len(),
        }
    }

    /// Read a whole file into an aligned buffer.
    ///
    /// # Errors
    /// Any I/O error from reading `path`.
    pub fn read(path: impl AsRef<std::path::Path>) -> std::io::Result<AlignedBytes> {
        std::fs::read(path).map(|v| AlignedBytes::from_slice(&v))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        let end = self.start.saturating_add(self.len);
        self.storage.get(self.start..end).unwrap_or(&[])
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl AsRef<[u8]> for AlignedBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl core::ops::Deref for AlignedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Clone for AlignedBytes {
    fn clone(&self) -> AlignedBytes {
        AlignedBytes::from_slice(self.as_slice())
    }
}

impl PartialEq for AlignedBytes {
    fn eq(&self, other: &AlignedBytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl Eq for AlignedBytes {}

impl core::fmt::Debug for AlignedBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AlignedBytes")
            .field("len", &self.len)
            .finish()
    }
}

impl From<&[u8]> for AlignedBytes {
    fn from(data: &[u8]) -> AlignedBytes {
        AlignedBytes::from_slice(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_for_every_length() {
        for n in 0..64usize {
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let a = AlignedBytes::from_slice(&data);
            assert_eq!(a.as_slice(), &data[..]);
            assert_eq!(a.as_slice().as_ptr() as usize % ALIGN, 0);
            let moved = a;
            assert_eq!(moved.as_slice().as_ptr() as usize % ALIGN, 0);
            assert_eq!(moved.clone(), moved);
        }
    }
}
