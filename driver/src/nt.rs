//! Small safe wrappers over NT primitives: counted UTF-16 strings, object
//! attributes, owned kernel handles, owned pool buffers, NTSTATUS mapping.
//!
//! Module invariants (cited by the SAFETY comments below):
//! - I1: a [`NtPath`] always holds `len <= MAX_PATH_UNITS` initialized units of its
//!   `MAX_PATH_UNITS`-unit buffer,
//!   and `len * 2` fits the `u16` length of a `UNICODE_STRING`.
//! - I2: a [`KernelHandle`] holds a handle opened by this module with
//!   `OBJ_KERNEL_HANDLE`, owned exclusively; it is closed exactly once, in `Drop`.
//! - I3: a [`PoolBuf`] owns `len` bytes (`len >= 1`) from `ExAllocatePool2`
//!   (non-paged, zeroed, 16-byte aligned on x64), freed exactly once in `Drop`;
//!   `filled <= len` bytes have been written by a completed read. Ownership is
//!   through a raw `NonNull` (not a `Box`): moving a `PoolBuf`, or a `&mut` to
//!   it, moves/covers only its (ptr, len, filled) header, never the bytes, and
//!   the bytes are written only through `as_mut_ptr`/`bytes_mut` (`&mut self`)
//!   before the buffer is handed to `validate`. active.rs A1/A2 rely on this.

use alloc::alloc::Layout;
use alloc::boxed::Box;
use alloc::vec::Vec;

use changuard_control::ntpath::{self, MAX_PATH_UNITS};
use changuard_loader::platform::{IoError, IoErrorKind};
use wdk_sys::{
    HANDLE, NTSTATUS, OBJ_CASE_INSENSITIVE, OBJ_KERNEL_HANDLE, OBJECT_ATTRIBUTES, POOL_FLAG_NON_PAGED,
    SIZE_T, ULONG, UNICODE_STRING,
    ntddk::{ExAllocatePool2, ExFreePool, ZwClose},
};

/// Pool tag `"CgCh"` (reads as "`CgCh`" in `!pool`/poolmon).
pub const POOL_TAG: ULONG = u32::from_le_bytes(*b"CgCh");

/// `NT_SUCCESS`.
#[must_use]
pub const fn nt_success(status: NTSTATUS) -> bool {
    status >= 0
}

/// Maps an NTSTATUS to the loader's error kinds (the only branch it takes is
/// `NotFound` vs the rest; the status is kept for telemetry).
#[must_use]
pub fn io_error(status: NTSTATUS) -> IoError {
    let kind = match status {
        wdk_sys::STATUS_OBJECT_NAME_NOT_FOUND
        | wdk_sys::STATUS_OBJECT_PATH_NOT_FOUND
        | wdk_sys::STATUS_NO_SUCH_FILE
        | wdk_sys::STATUS_NO_MORE_FILES => IoErrorKind::NotFound,
        wdk_sys::STATUS_INSUFFICIENT_RESOURCES | wdk_sys::STATUS_NO_MEMORY => IoErrorKind::NoMemory,
        wdk_sys::STATUS_FILE_IS_A_DIRECTORY
        | wdk_sys::STATUS_NOT_A_DIRECTORY
        | wdk_sys::STATUS_REPARSE_POINT_ENCOUNTERED
        | wdk_sys::STATUS_STOPPED_ON_SYMLINK
        | wdk_sys::STATUS_OBJECT_TYPE_MISMATCH => IoErrorKind::WrongKind,
        _ => IoErrorKind::Io,
    };
    IoError::with_status(kind, status)
}

/// A counted UTF-16 NT path (I1) in a pool buffer of [`MAX_PATH_UNITS`] units:
/// a 1 KiB array was the largest local of most control-plane frames (measured
/// by `scripts/stack_depth.py`), and paths are built only on the control plane.
pub struct NtPath {
    units: Box<[u16]>,
    len: usize,
}

impl NtPath {
    /// An empty path with room for `MAX_PATH_UNITS` units (fallible allocation).
    fn empty() -> Result<Self, NTSTATUS> {
        let mut v: Vec<u16> = Vec::new();
        v.try_reserve_exact(MAX_PATH_UNITS).map_err(|_| wdk_sys::STATUS_INSUFFICIENT_RESOURCES)?;
        v.resize(MAX_PATH_UNITS, 0); // within the reserved capacity: no reallocation
        Ok(Self { units: v.into_boxed_slice(), len: 0 })
    }

    /// Encodes an ASCII/UTF-8 path (the loader's names are ASCII).
    ///
    /// # Errors
    /// `STATUS_NAME_TOO_LONG` / `STATUS_OBJECT_NAME_INVALID` when it does not fit
    /// or contains a NUL; `STATUS_INSUFFICIENT_RESOURCES` without pool.
    pub fn from_str(s: &str) -> Result<Self, NTSTATUS> {
        let mut p = Self::empty()?;
        p.len = ntpath::utf16(s, &mut p.units).map_err(|_| wdk_sys::STATUS_NAME_TOO_LONG)?;
        Ok(p)
    }

    /// The NT object name of a directory the loader validated
    /// (`changuard_control::ntpath::nt_object_name`): `X:\...` becomes
    /// `\GLOBAL??\X:\...`, `\SystemRoot\...` stays. `ZwCreateFile` refuses the
    /// DOS form with `STATUS_OBJECT_PATH_SYNTAX_BAD`.
    ///
    /// # Errors
    /// `STATUS_OBJECT_PATH_SYNTAX_BAD` for any other shape, `STATUS_NAME_TOO_LONG`,
    /// `STATUS_INSUFFICIENT_RESOURCES` without pool.
    pub fn directory(dir: &str) -> Result<Self, NTSTATUS> {
        let mut p = Self::empty()?;
        p.len = ntpath::nt_object_name(dir, &mut p.units).map_err(|e| match e {
            ntpath::PathError::TooLong => wdk_sys::STATUS_NAME_TOO_LONG,
            _ => wdk_sys::STATUS_OBJECT_PATH_SYNTAX_BAD,
        })?;
        Ok(p)
    }

    /// [`NtPath::directory`] of `dir`, then `\` + `name`, with `name` a single plain component.
    ///
    /// # Errors
    /// `STATUS_OBJECT_NAME_INVALID` for a bad name, `STATUS_NAME_TOO_LONG` when too long,
    /// `STATUS_INSUFFICIENT_RESOURCES` without pool.
    pub fn join(dir: &str, name: &str) -> Result<Self, NTSTATUS> {
        // One buffer: `dir` first, then `\` + `name` validated and appended by
        // `ntpath::join` into the rest.
        let mut p = Self::directory(dir)?;
        let tail = p.units.get_mut(p.len..).ok_or(wdk_sys::STATUS_NAME_TOO_LONG)?;
        let added = ntpath::join(&[], name, tail).map_err(|e| match e {
            ntpath::PathError::TooLong => wdk_sys::STATUS_NAME_TOO_LONG,
            _ => wdk_sys::STATUS_OBJECT_NAME_INVALID,
        })?;
        p.len = p.len.checked_add(added).filter(|n| *n <= MAX_PATH_UNITS).ok_or(wdk_sys::STATUS_NAME_TOO_LONG)?;
        Ok(p)
    }

    /// The used units.
    #[must_use]
    pub fn units(&self) -> &[u16] {
        self.units.get(..self.len).unwrap_or(&[])
    }

    /// A `UNICODE_STRING` describing this path. The result borrows `self`'s
    /// buffer through a raw pointer: keep `self` alive and unmoved while it is used.
    #[must_use]
    pub fn as_unicode(&mut self) -> UNICODE_STRING {
        // I1: len * 2 <= 1024 fits u16.
        let bytes = ntpath::byte_len_u16(self.len).unwrap_or(0);
        UNICODE_STRING { Length: bytes, MaximumLength: bytes, Buffer: self.units.as_mut_ptr() }
    }
}

/// `InitializeObjectAttributes(p, name, OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE, root, NULL)`
/// (a macro in the headers, so written by hand). `name` must outlive every use
/// of the result.
#[must_use]
pub fn object_attributes(name: &mut UNICODE_STRING, root: HANDLE) -> OBJECT_ATTRIBUTES {
    const SIZE: usize = core::mem::size_of::<OBJECT_ATTRIBUTES>();
    const { assert!(SIZE <= u32::MAX as usize) }
    #[allow(clippy::cast_possible_truncation)] // checked by the const assert above
    OBJECT_ATTRIBUTES {
        Length: SIZE as ULONG,
        RootDirectory: root,
        ObjectName: name,
        Attributes: OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE,
        SecurityDescriptor: core::ptr::null_mut(),
        SecurityQualityOfService: core::ptr::null_mut(),
    }
}

/// Moves `value` into a pool allocation of the global allocator (`WdkAllocator`:
/// non-paged pool), or hands it back when the allocation fails. `Box::new`
/// would bugcheck on failure instead.
///
/// # Errors
/// `value`, unchanged, when the allocation fails.
pub fn try_box<T>(value: T) -> Result<Box<T>, T> {
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        return Ok(Box::new(value)); // a zero-sized Box never allocates
    }
    // SAFETY: 1. layout has a non-zero size (checked above).
    let raw = unsafe { alloc::alloc::alloc(layout) }.cast::<T>();
    let Some(ptr) = core::ptr::NonNull::new(raw) else { return Err(value) };
    // SAFETY: 1. ptr is non-null, allocated for Layout::new::<T>() (size and alignment
    // of T), and uninitialized: writing does not drop anything.
    unsafe { ptr.as_ptr().write(value) };
    // SAFETY: 1. ptr was allocated by the global allocator with T's layout and holds
    // an initialized T; the Box becomes its only owner (ptr is not used again).
    Ok(unsafe { Box::from_raw(ptr.as_ptr()) })
}

/// An owned kernel handle (I2).
pub struct KernelHandle(HANDLE);

impl KernelHandle {
    /// Takes ownership of `h`.
    ///
    /// # Safety
    /// 1. `h` is a valid kernel handle (opened with `OBJ_KERNEL_HANDLE`).
    /// 2. Nobody else closes it.
    pub const unsafe fn from_raw(h: HANDLE) -> Self {
        Self(h)
    }

    /// The raw handle, valid while `self` lives.
    #[must_use]
    pub const fn raw(&self) -> HANDLE {
        self.0
    }
}

impl Drop for KernelHandle {
    fn drop(&mut self) {
        // SAFETY:
        // 1. I2: self.0 is a valid kernel handle owned only by self.
        // 2. Drop runs once, so it is closed exactly once.
        // 3. ZwClose runs at PASSIVE_LEVEL; every KernelHandle is created and
        //    dropped on the loader's/unload's PASSIVE_LEVEL paths.
        let status = unsafe { ZwClose(self.0) };
        // Nothing to do on failure: the handle is gone either way.
        let _ = status;
    }
}

/// An owned, 16-byte aligned, non-paged pool buffer (I3): the loader's `Buf`.
pub struct PoolBuf {
    ptr: core::ptr::NonNull<u8>,
    len: usize,
    filled: usize,
}

// SAFETY: PoolBuf exclusively owns non-paged memory with no thread affinity;
// moving it to another thread (the timer's work item, an IOCTL) is sound.
unsafe impl Send for PoolBuf {}
// SAFETY: &PoolBuf only gives out &[u8] to initialized, immutable-after-fill bytes.
unsafe impl Sync for PoolBuf {}

impl PoolBuf {
    /// Allocates `len` zeroed bytes of non-paged pool (`ExAllocatePool2`
    /// zero-fills unless `POOL_FLAG_UNINITIALIZED`).
    ///
    /// # Errors
    /// `NoMemory` when the allocation fails or `len == 0`.
    pub fn alloc(len: usize) -> Result<Self, IoError> {
        if len == 0 {
            return Err(IoError::new(IoErrorKind::NoMemory));
        }
        // SAFETY:
        // 1. ExAllocatePool2 may be called at IRQL <= DISPATCH_LEVEL for non-paged pool.
        // 2. Flags are a valid combination (POOL_FLAG_NON_PAGED alone); tag is non-zero.
        let raw = unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, len as SIZE_T, POOL_TAG) };
        let ptr = core::ptr::NonNull::new(raw.cast::<u8>()).ok_or(IoError::new(IoErrorKind::NoMemory))?;
        debug_assert!(ptr.as_ptr().align_offset(16) == 0, "pool allocations are 16-byte aligned on x64");
        Ok(Self { ptr, len, filled: 0 })
    }

    /// Writable view of the whole allocation (for the single read).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Allocation length.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        self.len
    }

    /// Records that the first `n` bytes were written by a completed read.
    pub fn set_filled(&mut self, n: usize) {
        self.filled = n.min(self.len);
    }

    /// The whole allocation (zeroed at allocation), to be written in place, and
    /// marked filled. For small structures built for one call (rename information).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.filled = self.len;
        // SAFETY:
        // 1. I3: ptr is valid for reads and writes of len bytes, all initialized (zeroed).
        // 2. `&mut self` makes this the only reference to those bytes while it lives.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl AsRef<[u8]> for PoolBuf {
    fn as_ref(&self) -> &[u8] {
        // SAFETY:
        // 1. I3: ptr is valid for reads of len >= filled bytes, all initialized
        //    (zeroed by ExAllocatePool2, then possibly overwritten by a read).
        // 2. The memory is not mutated while a shared borrow of self exists
        //    (mutation needs &mut self).
        // 3. filled <= len <= isize::MAX (pool allocations are far smaller).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.filled) }
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        // SAFETY:
        // 1. I3: ptr came from ExAllocatePool2 and is freed exactly once, here.
        // 2. ExFreePool may be called at IRQL <= DISPATCH_LEVEL for non-paged pool.
        unsafe { ExFreePool(self.ptr.as_ptr().cast()) };
    }
}
