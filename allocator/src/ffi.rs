//! The C malloc family for `libhz4.so` (LD_PRELOAD). Thin wrappers over
//! `api.rs`, following glibc's conventions for the edge cases.

use crate::api;
use core::ffi::c_void;
use core::ptr::null_mut;

fn set_errno(e: i32) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

#[inline(always)]
fn nomem(p: *mut u8) -> *mut c_void {
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p as *mut c_void
}

/// C `malloc` (`api::malloc` sets errno itself, off the fast path).
#[no_mangle]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    api::malloc(size) as *mut c_void
}

/// C `free`.
///
/// # Safety
/// `ptr` is null or a live block from this allocator.
#[no_mangle]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    // SAFETY: forwarded contract.
    unsafe { api::free(ptr as *mut u8) }
}

/// C `calloc`: overflow of `n * size` gives NULL with ENOMEM.
#[no_mangle]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    nomem(api::calloc(n, size))
}

/// C `realloc`: NULL ptr is malloc; size 0 with a live ptr frees it and returns NULL (glibc).
///
/// # Safety
/// `ptr` is null or a live block from this allocator.
#[no_mangle]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if !ptr.is_null() && size == 0 {
        // SAFETY: forwarded contract.
        unsafe { api::free(ptr as *mut u8) };
        return null_mut();
    }
    // SAFETY: forwarded contract.
    nomem(unsafe { api::realloc(ptr as *mut u8, size) })
}

/// C `reallocarray`: realloc of `n * size` with overflow → NULL/ENOMEM.
///
/// # Safety
/// `ptr` is null or a live block from this allocator.
#[no_mangle]
pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: forwarded contract.
        Some(total) => unsafe { realloc(ptr, total) },
        None => {
            set_errno(libc::ENOMEM);
            null_mut()
        }
    }
}

/// C `posix_memalign`: EINVAL unless `align` is a power of two multiple of sizeof(void*).
///
/// # Safety
/// `out` is a valid pointer to write the result to.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    if !align.is_power_of_two() || !align.is_multiple_of(core::mem::size_of::<usize>()) {
        return libc::EINVAL;
    }
    let p = api::malloc_aligned(size, align);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: caller's contract.
    unsafe { *out = p as *mut c_void };
    0
}

/// C11 `aligned_alloc`: EINVAL/NULL unless `align` is a power of two.
#[no_mangle]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return null_mut();
    }
    nomem(api::malloc_aligned(size, align))
}

/// `memalign`: like glibc, a non-power-of-two alignment is rounded up.
#[no_mangle]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(a) = align.max(1).checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return null_mut();
    };
    if a > api::MAX_ALIGN {
        // Like glibc: an alignment beyond what can exist is EINVAL.
        set_errno(libc::EINVAL);
        return null_mut();
    }
    nomem(api::malloc_aligned(size, a))
}

/// `valloc`: page (4 KiB) aligned.
#[no_mangle]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    nomem(api::malloc_aligned(size, 4096))
}

/// `pvalloc`: page aligned, size rounded up to whole pages.
#[no_mangle]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let Some(s) = size.max(1).checked_next_multiple_of(4096) else {
        set_errno(libc::ENOMEM);
        return null_mut();
    };
    nomem(api::malloc_aligned(s, 4096))
}

/// `malloc_usable_size`: bytes usable in a live block (0 for NULL).
///
/// # Safety
/// `ptr` is null or a live block from this allocator.
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(ptr: *mut c_void) -> usize {
    // SAFETY: forwarded contract.
    unsafe { api::usable_size(ptr as *mut u8) }
}

/// glibc's `malloc_trim`: give every free page, cached span and spare
/// segment back to the OS now (`pad` is ignored: hz4 keeps no heap top).
/// Returns 1 if any memory was released, else 0.
#[no_mangle]
pub extern "C" fn malloc_trim(pad: usize) -> i32 {
    let _ = pad;
    (api::trim() > 0) as i32
}

/// The effective knob set of this build, as a NUL-terminated `[HZ4_BUILD] ...` line.
#[no_mangle]
pub extern "C" fn hz4_build_info() -> *const core::ffi::c_char {
    crate::config::knobs::BUILD_LINE_C.as_ptr() as *const core::ffi::c_char
}

/// Write the stats dump now (a no-op line-less call when stats are not built).
#[no_mangle]
pub extern "C" fn hz4_stats_dump() {
    crate::stats::dump_now();
}

/// glibc `mallinfo2`: hz4's own figures (see `info::Mallinfo2` for what
/// each field holds). Walks the segment map under the segment lock.
#[no_mangle]
pub extern "C" fn mallinfo2() -> crate::info::Mallinfo2 {
    crate::info::mallinfo2_of(&crate::info::snapshot())
}

/// glibc `mallinfo`: `mallinfo2` in `int`s, saturating at `INT_MAX`.
#[no_mangle]
pub extern "C" fn mallinfo() -> crate::info::Mallinfo {
    crate::info::mallinfo_of(&mallinfo2())
}

/// glibc `malloc_stats`: a short hz4 summary on stderr (no allocation).
#[no_mangle]
pub extern "C" fn malloc_stats() {
    crate::info::print_stats();
}
