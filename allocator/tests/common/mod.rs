//! Helpers shared by the integration tests: the cdylib's path and a small
//! deterministic random generator. Each test binary uses only some of them.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// `libhz4.so` (absolute path): `HZ4_PRELOAD_LIB` if set, else the one
/// cargo built next to the running test, else a fresh `cargo build -p hz4`
/// into the same target dir.
pub fn find_or_build_lib() -> PathBuf {
    if let Some(p) = std::env::var_os("HZ4_PRELOAD_LIB") {
        let p = std::fs::canonicalize(&p).unwrap_or_else(|e| panic!("HZ4_PRELOAD_LIB={p:?}: {e}"));
        return p;
    }
    // current_exe() is <target>/<profile>/deps/preload-<hash>. The same cargo
    // invocation that built this test built the cdylib in deps/; `cargo
    // build` copies it up to <target>/<profile>/. Take the newer one.
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let profile_dir = deps.parent().unwrap();
    let newest = [deps.join("libhz4.so"), profile_dir.join("libhz4.so")]
        .into_iter()
        .filter_map(|p| {
            let t = std::fs::metadata(&p).ok()?.modified().ok()?;
            Some((t, p))
        })
        .max();
    if let Some((_, p)) = newest {
        return std::fs::canonicalize(p).unwrap();
    }
    // Not there: build it into the same target dir.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let release = profile_dir.file_name() == Some("release".as_ref());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "hz4"])
        .arg("--target-dir")
        .arg(profile_dir.parent().unwrap())
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    let st = cmd.status().expect("run cargo build -p hz4");
    assert!(st.success(), "cargo build -p hz4 failed: {st}");
    let p = profile_dir.join("libhz4.so");
    assert!(p.exists(), "{} missing after cargo build", p.display());
    std::fs::canonicalize(p).unwrap()
}

/// A small deterministic generator (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

/// The functions under test, called through opaque function pointers.
///
/// LLVM knows `malloc`, `calloc`, `realloc`, ... by name: a direct call of
/// `hz4::ffi::calloc` whose result is only compared with null may be elided
/// and folded to "non-null", and realloc/free get builtin aliasing
/// semantics. Going through `black_box`ed pointers makes every call a real
/// call whose result the test actually observes.
pub mod c {
    use core::ffi::c_void;
    use hz4::ffi;
    use std::hint::black_box;

    pub fn malloc(n: usize) -> *mut c_void {
        black_box(ffi::malloc as extern "C" fn(usize) -> *mut c_void)(n)
    }
    pub fn calloc(n: usize, size: usize) -> *mut c_void {
        black_box(ffi::calloc as extern "C" fn(usize, usize) -> *mut c_void)(n, size)
    }
    pub fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
        black_box(ffi::aligned_alloc as extern "C" fn(usize, usize) -> *mut c_void)(align, size)
    }
    pub fn memalign(align: usize, size: usize) -> *mut c_void {
        black_box(ffi::memalign as extern "C" fn(usize, usize) -> *mut c_void)(align, size)
    }
    pub fn valloc(size: usize) -> *mut c_void {
        black_box(ffi::valloc as extern "C" fn(usize) -> *mut c_void)(size)
    }
    pub fn pvalloc(size: usize) -> *mut c_void {
        black_box(ffi::pvalloc as extern "C" fn(usize) -> *mut c_void)(size)
    }
    pub fn hz4_build_info() -> *const core::ffi::c_char {
        black_box(ffi::hz4_build_info as extern "C" fn() -> *const core::ffi::c_char)()
    }
    /// # Safety
    /// As C `free`.
    pub unsafe fn free(p: *mut c_void) {
        let f = black_box(ffi::free as unsafe extern "C" fn(*mut c_void));
        // SAFETY: forwarded contract.
        unsafe { f(p) }
    }
    /// # Safety
    /// As C `realloc`.
    pub unsafe fn realloc(p: *mut c_void, n: usize) -> *mut c_void {
        let f = black_box(ffi::realloc as unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void);
        // SAFETY: forwarded contract.
        unsafe { f(p, n) }
    }
    /// # Safety
    /// As C `reallocarray`.
    pub unsafe fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
        let f = black_box(
            ffi::reallocarray as unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void,
        );
        // SAFETY: forwarded contract.
        unsafe { f(p, n, size) }
    }
    /// # Safety
    /// As C `posix_memalign`.
    pub unsafe fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
        let f = black_box(
            ffi::posix_memalign as unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> i32,
        );
        // SAFETY: forwarded contract.
        unsafe { f(out, align, size) }
    }
    /// # Safety
    /// As C `malloc_usable_size`.
    pub unsafe fn malloc_usable_size(p: *mut c_void) -> usize {
        let f = black_box(ffi::malloc_usable_size as unsafe extern "C" fn(*mut c_void) -> usize);
        // SAFETY: forwarded contract.
        unsafe { f(p) }
    }
}
