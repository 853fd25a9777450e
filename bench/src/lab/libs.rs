//! Finding a shared library (the peer allocators `hz-lab peers` preloads)
//! the way the dynamic loader would: its cache first (`ldconfig -p`), then
//! the directories of `LD_LIBRARY_PATH`, of `/etc/ld.so.conf` and the usual
//! system folders. No
//! distribution's layout is assumed, and a library of the wrong word size
//! (a 32-bit copy on a multiarch system) is passed over.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The path of the shared library named `file` (e.g. `libjemalloc.so.2`)
/// that this process could load, if any.
pub fn find_lib(file: &str) -> Option<PathBuf> {
    from_loader_cache(file).or_else(|| from_dirs(file))
}

fn from_loader_cache(file: &str) -> Option<PathBuf> {
    let out = ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]
        .iter()
        .find_map(|cmd| Command::new(cmd).arg("-p").output().ok())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let found = cache_entries(&text, file).find(|p| same_word_size(p));
    found
}

/// Paths of `file` in `ldconfig -p` output, whose lines read
/// `\tNAME (FLAGS) => PATH`.
fn cache_entries<'a>(text: &'a str, file: &'a str) -> impl Iterator<Item = PathBuf> + 'a {
    text.lines().filter_map(move |l| {
        let (name, rest) = l.trim_start().split_once(' ')?;
        let (_, path) = rest.split_once("=> ")?;
        (name == file).then(|| PathBuf::from(path.trim()))
    })
}

/// The directories named in `/etc/ld.so.conf` and `/etc/ld.so.conf.d/*`
/// (for a loader cache that is out of date).
fn configured_dirs() -> Vec<PathBuf> {
    let mut confs = vec![PathBuf::from("/etc/ld.so.conf")];
    if let Ok(rd) = std::fs::read_dir("/etc/ld.so.conf.d") {
        let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        v.sort();
        confs.extend(v);
    }
    confs
        .iter()
        .filter_map(|c| std::fs::read_to_string(c).ok())
        .flat_map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| l.starts_with('/'))
                .map(PathBuf::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn from_dirs(file: &str) -> Option<PathBuf> {
    let arch = std::env::consts::ARCH;
    let env_dirs = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    env_dirs
        .split(':')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .chain(configured_dirs())
        .chain(
            [
                format!("/usr/lib/{arch}-linux-gnu"),
                format!("/lib/{arch}-linux-gnu"),
                "/usr/lib64".into(),
                "/lib64".into(),
                "/usr/lib".into(),
                "/usr/local/lib".into(),
            ]
            .map(PathBuf::from),
        )
        .map(|d| d.join(file))
        .find(|p| same_word_size(p))
}

/// True when `p` is an ELF file of this process's word size.
fn same_word_size(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 5];
    let ok = std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok();
    let class = if cfg!(target_pointer_width = "64") {
        2
    } else {
        1
    };
    ok && head[..4] == *b"\x7fELF" && head[4] == class
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_loader_cache_lines() {
        let text = "3 libs found in cache `/etc/ld.so.cache'\n\
            \tlibfoo.so.2 (libc6,x86-64) => /opt/a/libfoo.so.2\n\
            \tlibfoo.so.2 (libc6) => /opt/b/libfoo.so.2\n\
            \tlibfoobar.so.2 (libc6,x86-64) => /opt/a/libfoobar.so.2\n";
        let got: Vec<PathBuf> = cache_entries(text, "libfoo.so.2").collect();
        assert_eq!(
            got,
            [
                PathBuf::from("/opt/a/libfoo.so.2"),
                PathBuf::from("/opt/b/libfoo.so.2")
            ]
        );
        assert_eq!(cache_entries(text, "libnone.so").count(), 0);
    }

    #[test]
    fn finds_the_c_library_and_not_a_missing_one() {
        // Every glibc system has libc.so.6; a musl one is skipped.
        if let Some(p) = find_lib("libc.so.6") {
            assert!(same_word_size(&p), "{}", p.display());
        } else {
            eprintln!("skipped: no libc.so.6 on this system");
        }
        assert_eq!(find_lib("libhz4-no-such-library.so.9"), None);
    }

    #[test]
    fn word_size_check_rejects_non_elf_files() {
        let dir = std::env::temp_dir().join(format!("hz-lab-libs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("libtext.so");
        std::fs::write(&f, "not an ELF file").unwrap();
        assert!(!same_word_size(&f));
        assert!(!same_word_size(&dir.join("missing.so")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
