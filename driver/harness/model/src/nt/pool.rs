//! Pool: `ExAllocatePool2` (flags/tag checks, zeroed or 0xCD with `UNINITIALIZED`,
//! 16-byte / page alignment, per-tag counters, fault injection per API and per tag)
//! and `ExFreePool` (a free of anything but a live block is fatal). Blocks come from
//! the system allocator and are tracked in the kernel state for the unload leak check.

use wdk_sys::{POOL_FLAG_NON_PAGED, POOL_FLAG_NON_PAGED_EXECUTE, POOL_FLAG_PAGED, POOL_FLAG_UNINITIALIZED, POOL_FLAGS, PVOID, SIZE_T, ULONG};

use crate::probe::enter;
use crate::state::{Block, fatal, with};
use crate::{check_sig, nt_export};

unsafe extern "C" fn ex_allocate_pool2(flags: POOL_FLAGS, size: SIZE_T, tag: ULONG) -> PVOID {
    let _e = enter("ExAllocatePool2");
    let seg = crate::probe::current_seg();
    let r = with(|k| {
        let kinds = flags & (POOL_FLAG_NON_PAGED | POOL_FLAG_PAGED | POOL_FLAG_NON_PAGED_EXECUTE);
        if kinds.count_ones() != 1 {
            k.violation(format!("ExAllocatePool2: flags {flags:#x} name no single pool type (BAD_POOL_CALLER)"));
            return Err(());
        }
        if tag == 0 {
            k.violation("ExAllocatePool2: tag 0 (BAD_POOL_CALLER)".to_string());
        }
        if size == 0 {
            k.violation(format!("ExAllocatePool2: zero-byte allocation, tag {}", tag_name(tag)));
        }
        if k.faults.hit("ExAllocatePool2").is_some() || k.faults.hit(&format!("ExAllocatePool2:{}", tag_name(tag))).is_some() {
            return Err(());
        }
        Ok(())
    });
    if r.is_err() {
        return core::ptr::null_mut();
    }
    let size = size as usize;
    // Pool blocks below a page are 16-byte aligned on x64, a page or more page-aligned.
    let align = if size >= 4096 { 4096 } else { 16 };
    let Ok(layout) = std::alloc::Layout::from_size_align(size.max(1), align) else { return core::ptr::null_mut() };
    // SAFETY: non-zero size layout; the system allocator, not the global one.
    let p = unsafe { std::alloc::GlobalAlloc::alloc(&std::alloc::System, layout) };
    if p.is_null() {
        return p.cast();
    }
    let fill = if flags & POOL_FLAG_UNINITIALIZED != 0 { 0xCD } else { 0 };
    // SAFETY: p is a fresh block of layout.size() bytes.
    unsafe { core::ptr::write_bytes(p, fill, layout.size()) };
    track(p, Block { size, tag, layout, seg });
    p.cast()
}

/// Records a live block (for `ExFreePool` and the unload leak check) and counts it under its tag.
fn track(p: *mut u8, block: Block) {
    with(|k| {
        let t = k.tags.entry(block.tag).or_default();
        t.allocs += 1;
        t.live += block.size;
        t.peak = t.peak.max(t.live);
        k.pool.insert(p as usize, block);
    });
}
nt_export!(ExAllocatePool2 => ex_allocate_pool2);
check_sig!(wdk_sys::ntddk::ExAllocatePool2, ex_allocate_pool2);

/// A paged-pool block the model hands to the driver (what Windows allocates
/// for the caller in `SeQueryInformationToken`): tracked like the driver's own,
/// so a missing `ExFreePool` is a leak at unload. Null if the system allocator fails.
pub fn model_block(size: usize, tag: u32) -> *mut u8 {
    let Ok(layout) = std::alloc::Layout::from_size_align(size.max(1), 16) else { return core::ptr::null_mut() };
    // SAFETY: non-zero size layout; the system allocator, not the global one.
    let p = unsafe { std::alloc::GlobalAlloc::alloc_zeroed(&std::alloc::System, layout) };
    if !p.is_null() {
        track(p, Block { size, tag, layout, seg: crate::probe::current_seg() });
    }
    p
}

/// A pool tag as text (`'CgCh'`).
pub fn tag_name(tag: u32) -> String {
    tag.to_le_bytes().iter().map(|b| if b.is_ascii_graphic() { *b as char } else { '.' }).collect()
}

unsafe extern "C" fn ex_free_pool(p: PVOID) {
    let _e = enter("ExFreePool");
    let block = with(|k| {
        let b = k.pool.remove(&(p as usize));
        if let Some(b) = &b {
            let t = k.tags.entry(b.tag).or_default();
            t.frees += 1;
            t.live -= b.size;
        }
        b
    });
    match block {
        // SAFETY: allocated by ex_allocate_pool2 with this layout, freed once (removed above).
        Some(b) => unsafe { std::alloc::GlobalAlloc::dealloc(&std::alloc::System, p.cast(), b.layout) },
        None => fatal(format!("ExFreePool({p:p}): not a live pool block (BAD_POOL_CALLER: double free or foreign pointer)")),
    }
}
nt_export!(ExFreePool => ex_free_pool);
check_sig!(wdk_sys::ntddk::ExFreePool, ex_free_pool);
