//! `hz-bench mem`: every scenario runs at a tiny scale under the system
//! allocator and prints its `[HZ_MEM]` line with every common field.

use std::process::Command;

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hz-bench"));
    c.env_remove("LD_PRELOAD");
    c
}

#[test]
fn every_scenario_runs_small_and_prints_its_fields() {
    let list = bench().args(["mem", "--list"]).output().unwrap();
    assert!(list.status.success());
    let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    for want in [
        "phases", "threads", "idle", "huge", "mid40k", "aslimit", "larson", "prodcons",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "scenario {want} missing: {names:?}"
        );
    }
    for name in &names {
        let out = bench()
            .args(["mem", name, "--scale", "0.01"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {out:?}");
        let line = text
            .lines()
            .find(|l| l.starts_with("[HZ_MEM] "))
            .unwrap_or_else(|| panic!("{name}: no [HZ_MEM] line in {text}"));
        assert!(line.contains(&format!(" scenario={name} ")), "{line}");
        for field in ["time_ms", "peak_rss_kb", "final_rss_kb", "metric", "unit"] {
            let v = line
                .split(' ')
                .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
                .unwrap_or_else(|| panic!("{name}: no {field} in {line}"));
            assert!(!v.is_empty(), "{name}: empty {field}");
            if field != "unit" {
                let x: f64 = v.parse().unwrap_or_else(|_| panic!("{name}: {field}={v}"));
                assert!(x >= 0.0, "{name}: {field}={v}");
            }
        }
        let peak: u64 = line
            .split(' ')
            .find_map(|kv| kv.strip_prefix("peak_rss_kb="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(peak > 0, "{name}: peak RSS 0");
    }
    if let Some(l) = names.iter().find(|n| *n == "aslimit") {
        let out = bench()
            .args(["mem", l, "--scale", "0.01"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // glibc gets every size back after the fill is freed.
        assert!(text.contains("failed_sizes=none"), "{text}");
    }
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let out = bench().args(["mem", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown scenario 'nosuch'"), "{err}");
    let out = bench()
        .args(["mem", "huge", "--scale", "-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
