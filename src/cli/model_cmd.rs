//! `locus model check FILE`.

use std::path::Path;

/// Validates the model at `file` and prints a summary.
pub fn check(file: &Path) -> anyhow::Result<()> {
    anyhow::bail!("{}: model check is not implemented yet", file.display())
}
