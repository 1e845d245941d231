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

/// A file being written atomically: a buffered temporary file
/// (`.locus-*.tmp`) in the directory of its final path. Write to it, then
/// [`AtomicFile::commit`] (or [`AtomicFile::finish`] and later
/// [`Finished::persist`], to rename several files only once all are
/// complete). Dropped before that, the temporary file is removed; if the
/// process is killed, only the temporary file can remain, never a partial
/// file under the final name.
///
/// Every report, trace, plot and rewritten results file goes through this
/// type (directly or through [`write_atomic`]).
pub struct AtomicFile {
    path: PathBuf,
    file: BufWriter<tempfile::NamedTempFile>,
}

/// Prefix of every temporary file, so that tools and tests can tell them
/// from outputs.
pub const TEMP_PREFIX: &str = ".locus-";
/// Suffix of every temporary file.
pub const TEMP_SUFFIX: &str = ".tmp";

impl AtomicFile {
    /// Creates the temporary file for final path `path` (whose directory
    /// must exist).
    pub fn create(path: &Path) -> Result<Self, OutputError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
        // The mode of a plain new file (0666 less the umask), not the
        // owner-only 0600 of a temporary file: the rename keeps the mode,
        // and outputs are meant to be shared.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let tmp = builder
            .tempfile_in(dir)
            .map_err(|cause| io_error(path, cause))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            file: BufWriter::new(tmp),
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and syncs the contents to disk; the file is complete but not
    /// yet under its final name.
    pub fn finish(self) -> Result<Finished, OutputError> {
        let path = self.path;
        let tmp = self
            .file
            .into_inner()
            .map_err(|e| io_error(&path, e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|cause| io_error(&path, cause))?;
        Ok(Finished { path, tmp })
    }

    /// [`AtomicFile::finish`], then [`Finished::persist`].
    pub fn commit(self) -> Result<(), OutputError> {
        self.finish()?.persist()
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A complete, synced temporary file waiting to be renamed into place.
pub struct Finished {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl Finished {
    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file over its final path (atomic on POSIX file systems),
    /// then syncs the directory so the rename itself survives a crash.
    pub fn persist(self) -> Result<(), OutputError> {
        let path = self.path;
        self.tmp
            .persist(&path)
            .map_err(|e| io_error(&path, e.error))?;
        #[cfg(unix)]
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            // Best effort: some file systems refuse to sync a directory.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

fn io_error(path: &Path, cause: io::Error) -> OutputError {
    OutputError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// Writes `path` atomically through an [`AtomicFile`]: `fill` writes the
/// contents to a buffered temporary file in the same directory, which is
/// flushed, synced and renamed over `path`. On any error the temporary file
/// is removed and `path` is left as it was.
pub fn write_atomic<F>(path: &Path, fill: F) -> Result<(), OutputError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let mut f = AtomicFile::create(path)?;
    fill(&mut f).map_err(|cause| io_error(path, cause))?;
    f.commit()
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

    #[test]
    fn dropped_atomic_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("trace.csv");
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"cycle,layer\n").unwrap();
        f.flush().unwrap();
        // The partial contents sit in a temporary file, never under the final name.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with(TEMP_PREFIX) && names[0].ends_with(TEMP_SUFFIX));
        drop(f);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn finished_files_appear_only_on_persist() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let mut fa = AtomicFile::create(&a).unwrap();
        let mut fb = AtomicFile::create(&b).unwrap();
        fa.write_all(b"1").unwrap();
        fb.write_all(b"2").unwrap();
        let (fa, fb) = (fa.finish().unwrap(), fb.finish().unwrap());
        assert!(!a.exists() && !b.exists());
        assert_eq!(fa.path(), a);
        fa.persist().unwrap();
        fb.persist().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"1");
        assert_eq!(std::fs::read(&b).unwrap(), b"2");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    #[cfg(unix)]
    fn outputs_get_the_mode_of_a_plain_new_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (plain, atomic) = (dir.path().join("plain"), dir.path().join("atomic"));
        std::fs::File::create(&plain).unwrap();
        write_atomic(&atomic, |w| w.write_all(b"x")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&plain));
    }
}
