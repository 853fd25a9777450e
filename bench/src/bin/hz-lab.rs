//! `hz-lab`: the lab runner. Builds hz4 variants from knob strings, runs the
//! work order's lanes interleaved under LD_PRELOAD, keeps every log and a
//! manifest, and hands the logs to the analyzer (Stage A, A/B gates,
//! mechanism checks, verdict, peers). See docs/protocol.md.

#[path = "../lab/mod.rs"]
mod lab;

fn main() {
    std::process::exit(lab::cli::main());
}
