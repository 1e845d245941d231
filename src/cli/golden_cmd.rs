//! `locus trace golden`.

use clap::Args;
use std::path::PathBuf;

/// `locus trace golden` options.
#[derive(Args, Debug)]
pub struct GoldenArgs {
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes golden vectors.
pub fn run(args: &GoldenArgs) -> anyhow::Result<()> {
    anyhow::bail!("{}: golden vectors are not implemented yet", args.out.display())
}
