//! Host type-check of driver/src/{active,status,keys}.rs against the real portable crates.
#![cfg_attr(not(test), no_std)]
#![allow(missing_docs, clippy::missing_errors_doc, clippy::missing_panics_doc)]
extern crate alloc;

#[path = "../../src/active.rs"]
pub mod active;
#[path = "../../src/keys.rs"]
pub mod keys;
#[path = "../../src/status.rs"]
pub mod status;

/// Stand-ins for the WDK-dependent modules (same shape as driver/src/nt.rs, platform.rs).
pub mod nt {
    use alloc::alloc::{Layout, alloc_zeroed, dealloc};
    use alloc::boxed::Box;
    /// Same contract as driver/src/nt.rs `try_box` (the host allocator does not fail here).
    #[allow(clippy::unnecessary_wraps)]
    pub fn try_box<T>(value: T) -> Result<Box<T>, T> {
        Ok(Box::new(value))
    }
    pub struct PoolBuf {
        ptr: core::ptr::NonNull<u8>,
        len: usize,
        filled: usize,
    }
    impl PoolBuf {
        #[must_use]
        pub fn from_slice(d: &[u8]) -> Option<Self> {
            let layout = Layout::from_size_align(d.len().max(1), 16).ok()?;
            // SAFETY: 1. layout has non-zero size.
            let raw = unsafe { alloc_zeroed(layout) };
            let ptr = core::ptr::NonNull::new(raw)?;
            // SAFETY: 1. ptr valid for d.len() writes; 2. no overlap.
            unsafe { core::ptr::copy_nonoverlapping(d.as_ptr(), ptr.as_ptr(), d.len()) };
            Some(Self { ptr, len: d.len().max(1), filled: d.len() })
        }
    }
    impl AsRef<[u8]> for PoolBuf {
        fn as_ref(&self) -> &[u8] {
            // SAFETY: 1. ptr valid for filled initialized bytes, immutable while shared.
            unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.filled) }
        }
    }
    impl Drop for PoolBuf {
        fn drop(&mut self) {
            #[allow(clippy::unwrap_used)]
            let layout = Layout::from_size_align(self.len, 16).unwrap();
            // SAFETY: 1. allocated with this layout, freed once.
            unsafe { dealloc(self.ptr.as_ptr(), layout) };
        }
    }
}
pub mod platform {
    use changuard_loader::platform::IoError;
    pub struct RegKey;
    impl RegKey {
        pub fn set_dword(&self, _n: &str, _v: u32) -> Result<(), IoError> { Ok(()) }
        pub fn set_sz(&self, _n: &str, _s: &str) -> Result<(), IoError> { Ok(()) }
    }
}

#[cfg(test)]
mod tests;
