//! `locus trace ...`: traces, waveforms and golden vectors for RTL work.

use clap::Subcommand;

use super::golden_cmd;

/// Trace subcommands.
#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Write $readmemh memory images, golden vectors and a manifest of the
    /// first training steps, for a Verilog testbench.
    Golden(golden_cmd::GoldenArgs),
}

/// Runs a trace subcommand.
pub fn run(cmd: &TraceCommand) -> anyhow::Result<()> {
    match cmd {
        TraceCommand::Golden(a) => golden_cmd::run(a),
    }
}
