//! Data behind a WDF wait lock.
//!
//! A `WDFWAITLOCK` is a kernel event plus `KeEnterCriticalRegion`; acquired
//! with a NULL timeout it waits forever, so only at `PASSIVE_LEVEL`. Every
//! caller in this driver runs there (sensor.rs, lifecycle.rs).
//!
//! Module invariants:
//! - L1: a [`Locked`]'s lock handle is set once in `DriverEntry` ([`Locked::create`])
//!   before any callback that uses it is registered, and never changed. WDF
//!   deletes it with the driver object after `EvtDriverUnload`, by which time the
//!   notify routine is removed and the timer stopped (lifecycle.rs `shutdown`).
//! - L2: the data of a [`Locked`] is only reached through a [`LockGuard`],
//!   i.e. while its wait lock is held, so accesses are exclusive.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicPtr, Ordering};

use wdk_sys::{NTSTATUS, WDF_NO_OBJECT_ATTRIBUTES, WDFWAITLOCK, WDFWAITLOCK__, call_unsafe_wdf_function_binding};

use crate::nt::nt_success;

/// Data behind a WDF wait lock (L1, L2).
pub struct Locked<T> {
    lock: AtomicPtr<WDFWAITLOCK__>,
    data: UnsafeCell<T>,
}

// SAFETY:
// 1. L2: `data` is only reached through a LockGuard, which holds the wait lock, so no two
//    threads access it at once; `lock` is an atomic.
// 2. The payloads (Active: engine tables, pool buffers; the WDF timer handle) have no thread
//    affinity: kernel pool memory and WDF handles may be used from any thread.
unsafe impl<T> Sync for Locked<T> {}

impl<T> Locked<T> {
    pub const fn new(data: T) -> Self {
        Self { lock: AtomicPtr::new(core::ptr::null_mut()), data: UnsafeCell::new(data) }
    }

    /// `WdfWaitLockCreate` (`DriverEntry`, before any callback is registered).
    pub fn create(&self) -> Result<(), NTSTATUS> {
        let mut lock: WDFWAITLOCK = core::ptr::null_mut();
        // SAFETY:
        // 1. WDF_NO_OBJECT_ATTRIBUTES: parented to the driver object, deleted with it.
        // 2. lock is valid for writes; PASSIVE_LEVEL (DriverEntry).
        let status: NTSTATUS =
            unsafe { call_unsafe_wdf_function_binding!(WdfWaitLockCreate, WDF_NO_OBJECT_ATTRIBUTES, &raw mut lock) };
        if !nt_success(status) {
            return Err(status);
        }
        self.lock.store(lock, Ordering::Release);
        Ok(())
    }

    /// Acquires the lock (`PASSIVE_LEVEL` only). `None` before `DriverEntry` created it.
    pub fn acquire(&self) -> Option<LockGuard<'_, T>> {
        let lock = self.lock.load(Ordering::Acquire);
        if lock.is_null() {
            return None;
        }
        // SAFETY:
        // 1. L1: lock is a valid WDFWAITLOCK created in DriverEntry, alive until unload.
        // 2. Timeout NULL = wait forever, allowed at PASSIVE_LEVEL; every caller runs there
        //    (module docs). It always returns STATUS_SUCCESS with a NULL timeout.
        let status: NTSTATUS =
            unsafe { call_unsafe_wdf_function_binding!(WdfWaitLockAcquire, lock, core::ptr::null_mut()) };
        nt_success(status).then_some(LockGuard { owner: self, lock })
    }
}

/// Exclusive access to a [`Locked`]'s data while its wait lock is held.
pub struct LockGuard<'a, T> {
    owner: &'a Locked<T>,
    lock: WDFWAITLOCK,
}

impl<T> LockGuard<'_, T> {
    /// The guarded data.
    pub fn get(&mut self) -> &mut T {
        // SAFETY: 1. L2: the wait lock is held for the life of `self`, and `&mut self`
        // makes this the only live reference to the data.
        unsafe { &mut *self.owner.data.get() }
    }
}

impl<T> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: 1. self.lock was acquired by `acquire` and is released once, here (PASSIVE_LEVEL).
        unsafe { call_unsafe_wdf_function_binding!(WdfWaitLockRelease, self.lock) };
    }
}

