//! `#[global_allocator]` support: `static A: hz4::Hz4 = hz4::Hz4;`

use core::alloc::{GlobalAlloc, Layout};

/// The hz4 allocator as a Rust global allocator.
pub struct Hz4;

// SAFETY: every method forwards to the internal API, which returns blocks of
// at least the requested size and alignment (or null) and accepts back
// exactly the pointers it handed out.
unsafe impl GlobalAlloc for Hz4 {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        crate::api::malloc_aligned(layout.size(), layout.align())
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc` (GlobalAlloc contract).
        unsafe { crate::api::free(ptr) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = crate::api::malloc_aligned(layout.size(), layout.align());
        if !p.is_null() {
            // SAFETY: fresh block of at least `layout.size()` bytes.
            unsafe { crate::api::zero_new(p, layout.size()) };
        }
        p
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= 16 {
            // SAFETY: `ptr` is live with this layout (GlobalAlloc contract).
            return unsafe { crate::api::realloc(ptr, new_size.max(1)) };
        }
        let q = crate::api::malloc_aligned(new_size, layout.align());
        if !q.is_null() {
            // SAFETY: both blocks are live and at least min(old, new) long.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                crate::api::free(ptr);
            }
        }
        q
    }
}
