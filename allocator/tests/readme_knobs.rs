//! The README's knob table is derived from the one knob table
//! (allocator/knobs.rs): this test fails when they drift, and prints the
//! rows the README should have.

#[path = "../knobs.rs"]
#[allow(dead_code)]
mod knobs;

fn row(k: &knobs::Knob) -> String {
    let range = if k.pow2 {
        format!("{}..={}, power of two", k.min, k.max)
    } else {
        format!("{}..={}", k.min, k.max)
    };
    let req = if k.requires.is_empty() {
        String::new()
    } else {
        format!(
            " Requires {}.",
            k.requires
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "| `{}` | {} | {} | {}.{} |",
        k.name, k.default, range, k.doc, req
    )
}

#[test]
fn readme_knob_table_matches_knobs_rs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let rows: Vec<String> = knobs::KNOBS.iter().map(row).collect();
    let missing: Vec<&String> = rows
        .iter()
        .filter(|r| !readme.contains(r.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md knob table is out of date; expected rows:\n{}",
        rows.join("\n")
    );
    // And no stale rows for knobs that no longer exist.
    let listed = readme.lines().filter(|l| l.starts_with("| `HZ4_")).count();
    assert_eq!(
        listed,
        knobs::KNOBS.len(),
        "README lists {listed} knob rows"
    );
}
