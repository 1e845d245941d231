//! Atomic output files: every report, trace and image is written to a
//! temporary file in the destination directory and renamed into place only
//! when complete, so an interrupted run never leaves a half file under the
//! final name.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Why an output file could not be written; names the path.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Creating, writing, syncing or renaming the file failed.
    #[error("{path}: cannot write: {cause}")]
    Io {
        /// The final path that was being written.
        path: PathBuf,
        /// The underlying I/O error.
        cause: io::Error,
    },
}

/// Writes `path` atomically: `fill` writes the contents to a buffered
/// temporary file in the same directory, which is flushed, synced and renamed
/// over `path`. On any error the temporary file is removed and `path` is left
/// as it was.
pub fn write_atomic<F>(path: &Path, fill: F) -> Result<(), OutputError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let err = |cause| OutputError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".locus-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    let mut w = BufWriter::new(tmp);
    fill(&mut w).map_err(err)?;
    let tmp = w.into_inner().map_err(|e| err(e.into_error()))?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        write_atomic(&p, |w| w.write_all(b"hello")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_fill_keeps_old_contents() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        std::fs::write(&p, b"old").unwrap();
        let r = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("interrupted"))
        });
        assert!(r.unwrap_err().to_string().contains("out.txt"));
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_names_the_path() {
        let e = write_atomic(Path::new("/nonexistent-dir/x.json"), |_| Ok(())).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent-dir/x.json: cannot write")
        );
    }
}
