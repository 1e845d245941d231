//! The `locus` command line: argument parsing, printing and exit codes only.
//! All modelling lives in the library.

// No panics reachable from user input: `unwrap`/`expect` are refused
// outside tests; each remaining one is an `#[allow]` with its reason.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
