//! Outputs are written through temporary files (`output::AtomicFile`, and a
//! temporary directory for golden vectors), which are created owner-only;
//! the rename keeps the mode. Outputs must instead get the mode of a plain
//! new file or directory (0666 / 0777 less the umask), so that reports and
//! traces can be shared like any other file.
#![cfg(unix)]

mod common;

use common::{files_under, locus, ok, s, synth};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn reports_traces_and_golden_vectors_get_plain_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 40, 10);
    let (plain_file, plain_dir) = (tmp.path().join("plain"), tmp.path().join("plain-dir"));
    std::fs::File::create(&plain_file).unwrap();
    std::fs::create_dir(&plain_dir).unwrap();
    let run = ["--data", s(&data), "--layers", "16,8,4"];

    let report = tmp.path().join("r.json");
    let mut args = vec!["train", "--out", s(&report)];
    args.extend(run);
    ok(&locus(&args), "train");
    let trace = tmp.path().join("e.csv");
    let mut args = vec!["trace", "events", "--out", s(&trace)];
    args.extend(run);
    ok(&locus(&args), "trace events");
    let golden = tmp.path().join("golden");
    let mut args = vec!["trace", "golden", "--out", s(&golden)];
    args.extend(run);
    ok(&locus(&args), "trace golden");

    for f in [&report, &trace] {
        assert_eq!(mode(f), mode(&plain_file), "{}", f.display());
    }
    for f in files_under(&data).iter().chain(&files_under(&golden)) {
        assert_eq!(mode(f), mode(&plain_file), "{}", f.display());
    }
    assert_eq!(mode(&golden), mode(&plain_dir), "golden directory");
}
