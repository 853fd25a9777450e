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
