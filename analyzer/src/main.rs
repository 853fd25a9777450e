//! `hz-analyze` binary: a thin wrapper over [`hz_analyze::app::run`].

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use hz_analyze::app::{self, EXIT_INPUT};
use hz_analyze::cli::{normalize_args, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize_args(std::env::args_os()));
    init_tracing(cli.verbose);
    match app::run(cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = stdout.write_all(out.output.as_bytes());
            let _ = stdout.flush();
            ExitCode::from(out.code)
        }
        Err(e) => {
            eprintln!("hz-analyze: error: {e}");
            ExitCode::from(EXIT_INPUT)
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
}
