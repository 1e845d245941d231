//! `locus data info DIR`.

use std::path::Path;

/// Prints shapes and class counts of the dataset in `dir`.
pub fn info(dir: &Path) -> anyhow::Result<()> {
    anyhow::bail!("{}: data info is not implemented yet", dir.display())
}
