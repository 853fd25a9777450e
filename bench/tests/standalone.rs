//! The repository stands alone: the README's commands work in the order
//! written on a machine that has only this checkout, and no tracked file
//! reads or names a folder outside it.
//!
//! - Every `target/…/FILE` a README shell block uses must have been built
//!   by an earlier `cargo build` line of the README, with the same target
//!   directory and profile. Which package builds which file comes from
//!   `cargo metadata` (binaries and the cdylib), not from a list here.
//! - Every file a README block writes with `>` lands in `runs/` (ignored
//!   by git) or `/dev/null`.
//! - No tracked file names the project's shared folder that lies beside
//!   our own checkouts (a user's clone has none).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One logical shell line of a README code block (backslash continuations
/// joined) and the README line it starts on.
struct ShellLine {
    line: usize,
    text: String,
}

/// The lines of every ```sh / ```bash / ```console block, in order.
fn shell_lines(markdown: &str) -> Vec<ShellLine> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending: Option<ShellLine> = None;
    for (i, raw) in markdown.lines().enumerate() {
        let t = raw.trim_start();
        if let Some(lang) = t.strip_prefix("```") {
            if in_block {
                in_block = false;
            } else {
                in_block = matches!(lang.trim(), "sh" | "bash" | "console" | "shell");
            }
            continue;
        }
        if !in_block {
            continue;
        }
        let cont = raw.trim_end().ends_with('\\');
        let piece = raw.trim_end().trim_end_matches('\\');
        match &mut pending {
            Some(p) => {
                p.text.push(' ');
                p.text.push_str(piece.trim());
            }
            None => {
                pending = Some(ShellLine {
                    line: i + 1,
                    text: piece.to_owned(),
                })
            }
        }
        if !cont {
            out.extend(pending.take());
        }
    }
    out
}

/// Package name → the files `cargo build` puts in `target/<profile>/` for it.
fn artifacts_by_package() -> BTreeMap<String, Vec<String>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let mut map = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let mut files = Vec::new();
        for t in p["targets"].as_array().expect("targets") {
            let name = t["name"].as_str().unwrap_or_default();
            for kind in t["kind"].as_array().into_iter().flatten() {
                match kind.as_str() {
                    Some("bin") => files.push(name.to_owned()),
                    Some("cdylib") => files.push(format!("lib{}.so", name.replace('-', "_"))),
                    _ => {}
                }
            }
        }
        map.insert(p["name"].as_str().unwrap_or_default().to_owned(), files);
    }
    map
}

/// What one `cargo build` line builds: (target dir, profile, file) triples.
fn built_by(words: &[&str], pkgs: &BTreeMap<String, Vec<String>>) -> Vec<(String, String, String)> {
    let mut packages: Vec<String> = Vec::new();
    let mut target_dir = "target".to_owned();
    let mut profile = "debug".to_owned();
    let mut i = 0;
    while i < words.len() {
        match words[i] {
            "-p" | "--package" => {
                if let Some(p) = words.get(i + 1) {
                    packages.push((*p).to_owned());
                }
                i += 1;
            }
            "--target-dir" => {
                if let Some(d) = words.get(i + 1) {
                    target_dir = d.trim_end_matches('/').to_owned();
                }
                i += 1;
            }
            "--release" | "-r" => profile = "release".into(),
            "--workspace" | "--all" => packages.extend(pkgs.keys().cloned()),
            _ => {}
        }
        i += 1;
    }
    if packages.is_empty() {
        // A bare `cargo build` at the root builds the workspace's members.
        packages.extend(pkgs.keys().cloned());
    }
    packages
        .iter()
        .flat_map(|p| pkgs.get(p).cloned().unwrap_or_default())
        .map(|f| (target_dir.clone(), profile.clone(), f))
        .collect()
}

/// `target/…/(release|debug)/FILE` paths used on a line, as (target dir,
/// profile, file).
fn used_on(text: &str) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || c == '=' || c == '"' || c == '\'') {
        let w = word.trim_start_matches("$PWD/").trim_start_matches("./");
        if !w.starts_with("target/") {
            continue;
        }
        let parts: Vec<&str> = w.split('/').collect();
        let Some(pos) = parts.iter().rposition(|p| *p == "release" || *p == "debug") else {
            continue;
        };
        if pos + 1 != parts.len() - 1 {
            continue; // a folder, not an artifact
        }
        found.push((
            parts[..pos].join("/"),
            parts[pos].to_owned(),
            parts[pos + 1].to_owned(),
        ));
    }
    found
}

/// Problems of a README: artifacts used before a `cargo build` line made
/// them, and output redirected outside `runs/`.
fn check_readme(markdown: &str, pkgs: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut built: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut problems = Vec::new();
    for l in shell_lines(markdown) {
        for cmd in l.text.split("&&").flat_map(|c| c.split(';')) {
            let words: Vec<&str> = cmd.split_whitespace().collect();
            for (d, p, f) in used_on(cmd) {
                if !built.contains(&(d.clone(), p.clone(), f.clone())) {
                    problems.push(format!(
                        "README.md:{}: uses {d}/{p}/{f}, which no earlier `cargo build` line builds",
                        l.line
                    ));
                }
            }
            if let Some(at) = words.iter().position(|w| *w == "cargo") {
                if words.get(at + 1) == Some(&"build") {
                    built.extend(built_by(&words[at + 2..], pkgs));
                }
            }
            for (k, w) in words.iter().enumerate() {
                let target = match *w {
                    ">" | ">>" => words.get(k + 1).copied(),
                    _ => w
                        .strip_prefix(">>")
                        .or_else(|| w.strip_prefix('>'))
                        .filter(|t| !t.is_empty() && !t.starts_with('&')),
                };
                if let Some(t) = target {
                    if !(t.starts_with("runs/") || t == "/dev/null" || t.starts_with('&')) {
                        problems.push(format!(
                            "README.md:{}: writes {t}; outputs belong in runs/ (git-ignored)",
                            l.line
                        ));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn readme_builds_every_binary_before_using_it() {
    let path = root().join("README.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let pkgs = artifacts_by_package();
    assert!(
        pkgs.get("hz-bench")
            .is_some_and(|f| f.contains(&"hz-lab".to_owned())),
        "cargo metadata should list hz-lab under hz-bench: {pkgs:?}"
    );
    let problems = check_readme(&text, &pkgs);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_an_unbuilt_binary_and_a_stray_output() {
    let pkgs = artifacts_by_package();
    let md = "```sh\n\
        cargo build --release -p hz-bench\n\
        target/release/hz-bench 1 2 3 > out.log\n\
        target/release/hz-analyze report runs/x\n\
        LD_PRELOAD=$PWD/target/stats/release/libhz4.so \\\n  target/release/hz-bench 1\n\
        cargo build --release -p hz4 --target-dir target/stats\n\
        ```\n";
    let p = check_readme(md, &pkgs);
    assert_eq!(p.len(), 3, "{p:#?}");
    assert!(p[0].starts_with("README.md:3: writes out.log"), "{}", p[0]);
    assert!(
        p[1].contains("README.md:4: uses target/release/hz-analyze"),
        "{}",
        p[1]
    );
    assert!(
        p[2].contains("README.md:5: uses target/stats/release/libhz4.so"),
        "{}",
        p[2]
    );
    // Built first, both uses are fine.
    let ok = "```sh\ncargo build --release --workspace && target/release/hz-analyze x\n```\n";
    assert!(check_readme(ok, &pkgs).is_empty());
}

#[test]
fn no_tracked_file_points_outside_the_repository() {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root())
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        _ => {
            eprintln!("skipped: not a git checkout (or git missing)");
            return;
        }
    };
    let this = Path::new(file!()).file_name().unwrap().to_owned();
    let needles = [
        concat!("../", "shared"),
        concat!("shared/", "fixtures"),
        concat!("shared/", "seed"),
    ];
    let mut hits = Vec::new();
    for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let rel = String::from_utf8_lossy(name).into_owned();
        let p = root().join(&rel);
        if p.file_name() == Some(this.as_os_str()) {
            continue;
        }
        let Ok(text) = std::fs::read(&p) else {
            continue;
        };
        let text = String::from_utf8_lossy(&text);
        for (n, line) in text.lines().enumerate() {
            if needles.iter().any(|w| line.contains(w)) {
                hits.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "tracked files point outside the repository:\n{}",
        hits.join("\n")
    );
}
