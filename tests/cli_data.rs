//! `locus data info`: the bundled MNIST directory prints its shapes; bad
//! inputs exit with 2 and one `error:` line naming the file, never a panic.

mod common;

use common::{idx, locus};
use std::path::Path;
use std::process::Output;

/// A valid raw two-sample split `prefix` in `dir`.
fn write_split(dir: &Path, prefix: &str) {
    std::fs::write(
        dir.join(format!("{prefix}-images-idx3-ubyte")),
        idx(&[2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 255]),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{prefix}-labels-idx1-ubyte")),
        idx(&[2], &[0, 1]),
    )
    .unwrap();
}

/// Asserts exit code 2 and a single `error:` line that contains `needle`.
fn assert_user_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains(needle), "want {needle:?} in {stderr}");
}

#[test]
fn data_info_on_bundled_mnist() {
    let out = locus(&["data", "info", "data/mnist"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "60000",
        "10000",
        "28×28",
        "train-images-idx3-ubyte.gz",
        "6742",
        "5421",
    ] {
        assert!(stdout.contains(needle), "want {needle:?} in\n{stdout}");
    }
}

#[test]
fn data_info_on_small_valid_dir() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), "train");
    write_split(dir.path(), "t10k");
    let out = locus(&["data", "info", dir.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2×2"));
}

#[test]
fn data_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let out = locus(&["data", "info", missing.to_str().unwrap()]);
    assert_user_error(&out, "no-such-dir");
}

#[test]
fn data_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), "train");
    let out = locus(&["data", "info", dir.path().to_str().unwrap()]);
    assert_user_error(&out, "t10k-images-idx3-ubyte");
}

#[test]
fn data_truncated_idx() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), "train");
    write_split(dir.path(), "t10k");
    let p = dir.path().join("t10k-images-idx3-ubyte");
    std::fs::write(&p, idx(&[2, 2, 2], &[1, 2, 3])).unwrap();
    let out = locus(&["data", "info", dir.path().to_str().unwrap()]);
    assert_user_error(&out, "t10k-images-idx3-ubyte: truncated data");
}

#[test]
fn data_wrong_magic() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), "train");
    write_split(dir.path(), "t10k");
    let p = dir.path().join("train-labels-idx1-ubyte");
    let mut bytes = idx(&[2], &[0, 1]);
    bytes[0] = 0xAB;
    std::fs::write(&p, bytes).unwrap();
    let out = locus(&["data", "info", dir.path().to_str().unwrap()]);
    assert_user_error(&out, "train-labels-idx1-ubyte: bad magic 0xab000801");
}

#[test]
fn data_gz_name_without_gzip_content() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), "train");
    write_split(dir.path(), "t10k");
    // The .gz form is preferred, so this file is the one that is read.
    let p = dir.path().join("train-images-idx3-ubyte.gz");
    std::fs::write(&p, idx(&[2, 2, 2], &[0; 8])).unwrap();
    let out = locus(&["data", "info", dir.path().to_str().unwrap()]);
    assert_user_error(
        &out,
        "train-images-idx3-ubyte.gz: name ends in .gz but the content is not gzip",
    );
}

#[test]
fn data_count_mismatch_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), "train");
    write_split(dir.path(), "t10k");
    std::fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        idx(&[3], &[0, 1, 2]),
    )
    .unwrap();
    let out = locus(&["data", "info", dir.path().to_str().unwrap()]);
    assert_user_error(&out, "t10k-images-idx3-ubyte: 2 images but");
    assert!(String::from_utf8_lossy(&out.stderr).contains("t10k-labels-idx1-ubyte: 3 labels"));
}
