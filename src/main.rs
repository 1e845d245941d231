//! The `locus` command line: argument parsing, printing and exit codes only.
//! All modelling lives in the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
