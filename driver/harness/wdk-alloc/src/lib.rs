//! Host twin of `wdk-alloc` 0.4.2: `WdkAllocator`.
//!
//! The driver declares `#[global_allocator] static GLOBAL_ALLOCATOR: WdkAllocator`,
//! so in the harness this is the allocator of the whole test process. While driver
//! code runs on a thread (`__harness::driver_context()`: set by the harness around
//! every driver entry point, cleared inside every model function), it behaves like
//! the real one: `ExAllocatePool2(POOL_FLAG_NON_PAGED, size, 'rust')` and
//! `ExFreePool`, i.e. the model's pool, with its accounting, zeroing, alignment and
//! leak checks, and its fault injection. Everything else (the test harness, std,
//! the model itself) goes to the system allocator.
//!
//! Like the real allocator it ignores `layout.align()` (the pool returns 16-byte
//! aligned blocks); the model flags a driver allocation whose alignment the pool
//! does not give. `realloc` is GlobalAlloc's default (alloc, copy, free), as there.
#![no_std]

use core::alloc::{GlobalAlloc, Layout};

extern crate std;
use std::alloc::System;

use wdk_sys::{
    __harness::driver_context,
    ntddk::{ExAllocatePool2, ExFreePool},
    POOL_FLAG_NON_PAGED, SIZE_T, ULONG,
};

/// The driver's global allocator (see the crate docs).
pub struct WdkAllocator;

/// The real crate's tag (`u32::from_ne_bytes(*b"rust")`).
const RUST_TAG: ULONG = u32::from_ne_bytes(*b"rust");

// SAFETY: both paths return blocks valid for `layout.size()` bytes or null; a block
// is freed by the path that allocated it (driver blocks are allocated and freed while
// driver code runs; the driver never frees memory it did not allocate).
unsafe impl GlobalAlloc for WdkAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if driver_context() {
            // SAFETY: model function with the real signature.
            unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, layout.size() as SIZE_T, RUST_TAG) }.cast()
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if driver_context() {
            // SAFETY: a block the driver allocated (see above).
            unsafe { ExFreePool(ptr.cast()) }
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}
