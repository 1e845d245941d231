//! Killed runs: the binary is started as a child process and sent SIGKILL
//! after a random delay (seeded, so a failure replays), several times over.
//!
//! - A trace being streamed: the final file name either does not exist or
//!   holds exactly the bytes of an uninterrupted run; a complete file from
//!   an earlier run is never replaced by a partial one. Only temporary files
//!   (`.locus-*.tmp`) may be left beside it.
//! - A sweep: after every kill the results file reads back (at most its last
//!   line cut short) and holds only points equal to those of an
//!   uninterrupted sweep; rerunning resumes it (a run that finishes is
//!   checked whole, then the file is removed to start over); a last rerun
//!   completes it to exactly the uninterrupted results.
//!
//! Delays are drawn in `[0, half the uninterrupted run's time)`; each test
//! prints how many runs were killed (`--nocapture`).
#![cfg(unix)]

mod common;

use common::{files_under, locus, ok, s, synth};
use locus::output::{TEMP_PREFIX, TEMP_SUFFIX};
use locus::sweep::{LoadedSpec, PointResult, read_results};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `locus args`, kills it with SIGKILL after `delay` (unless it has
/// finished), and waits for it. Returns whether it was killed.
fn run_and_kill(args: &[&str], delay: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_locus"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn locus");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("poll child").is_some() {
            return false;
        }
        if start.elapsed() >= delay {
            child.kill().expect("SIGKILL"); // `kill` is SIGKILL on Unix
            child.wait().expect("reap child");
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `locus args` to completion and returns how long it took.
fn timed(args: &[&str], case: &str) -> Duration {
    let start = Instant::now();
    ok(&locus(args), case);
    start.elapsed()
}

fn is_temp(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

/// A random delay in `[0, max)`.
fn delay(rng: &mut ChaCha8Rng, max: Duration) -> Duration {
    let us = max.as_micros().max(1) as u64;
    Duration::from_micros(rng.random_range(0..us))
}

#[test]
fn killed_trace_leaves_no_partial_file_under_the_final_name() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 2000, 20);
    let reference = tmp.path().join("reference.csv");
    let args = |out: &Path| -> Vec<String> {
        [
            "trace",
            "events",
            "--data",
            s(&data),
            "--layers",
            "16,64,64,4",
            "--epochs",
            "2",
            "--out",
            s(out),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let reference_args = args(&reference);
    let full = timed(
        &reference_args
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "reference trace",
    );
    let want = std::fs::read(&reference).unwrap();
    assert!(
        want.len() > 1 << 20,
        "trace of {} bytes is too short to cut",
        want.len()
    );

    let dir = tmp.path().join("killed");
    std::fs::create_dir(&dir).unwrap();
    let out = dir.join("trace.csv");
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut killed = 0;
    for round in 0..8 {
        // From round 4 on, a complete file from an earlier run is in place:
        // a killed rerun must leave it whole.
        if round == 4 {
            std::fs::copy(&reference, &out).unwrap();
        }
        let a = args(&out);
        let d = delay(&mut rng, full / 2);
        killed += run_and_kill(&a.iter().map(String::as_str).collect::<Vec<_>>(), d) as usize;
        for f in files_under(&dir) {
            if f == out {
                assert_eq!(
                    std::fs::read(&f).unwrap(),
                    want,
                    "round {round}: {} is partial",
                    f.display()
                );
            } else {
                assert!(
                    is_temp(&f),
                    "round {round}: unexpected file {}",
                    f.display()
                );
            }
        }
        if round >= 4 {
            assert!(
                out.exists(),
                "round {round}: the earlier complete file was removed"
            );
        }
    }
    let temps = files_under(&dir).iter().filter(|f| is_temp(f)).count();
    eprintln!(
        "trace: {killed} of 8 runs killed; {temps} temporary files left behind, no partial output"
    );
    assert!(
        killed >= 3,
        "only {killed} of 8 runs were killed before finishing"
    );
}

/// A sweep of 8 small points on the synthetic data in `dir`.
fn sweep_spec(dir: &Path) -> PathBuf {
    let spec = serde_json::json!({
        "name": "kill",
        "base": {
            "model": s(&common::root().join("hw_models/default.json")),
            "data": s(&dir.join("data")),
            "rule": "local",
            "layers": [16, 256, 4], "activation": "relu", "epochs": 2, "batch": 1,
            "lr": 0.01, "seed": 1, "arith": "fixed",
            "train_limit": null, "test_limit": null
        },
        "axes": [
            { "path": "config.rule", "values": ["local", "bp/spill"] },
            { "path": "model.formats.weight", "values": [
                { "bits": 16, "frac": 14 }, { "bits": 12, "frac": 10 },
                { "bits": 10, "frac": 8 }, { "bits": 8, "frac": 6 } ] }
        ]
    });
    let path = dir.join("spec.json");
    common::write_json(&path, &spec);
    path
}

fn sorted(path: &Path, hash: &str) -> (Vec<PointResult>, bool) {
    let (mut rs, truncated) = read_results(path, hash).expect("results file reads back");
    rs.sort_by_key(|r| r.index);
    (rs, truncated)
}

#[test]
fn killed_sweep_resumes_to_the_uninterrupted_results() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("data"), 2000, 100);
    let spec = sweep_spec(tmp.path());
    let hash = LoadedSpec::load(&spec).unwrap().hash;
    let args = |results: &Path| -> Vec<String> {
        [
            "sweep",
            "--spec",
            s(&spec),
            "--results",
            s(results),
            "--threads",
            "2",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let reference = tmp.path().join("reference.jsonl");
    let ra = args(&reference);
    let full = timed(
        &ra.iter().map(String::as_str).collect::<Vec<_>>(),
        "reference sweep",
    );
    let (want, truncated) = sorted(&reference, &hash);
    assert!(!truncated);
    assert_eq!(want.len(), 8);

    let dir = tmp.path().join("killed");
    std::fs::create_dir(&dir).unwrap();
    let results = dir.join("results.jsonl");
    let a = args(&results);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (mut killed, mut seen, mut truncated_lines) = (0, 0, 0);
    for round in 0..10 {
        let was_killed = run_and_kill(&a, delay(&mut rng, full / 2));
        killed += was_killed as usize;
        for f in files_under(&dir) {
            assert!(
                f == results || is_temp(&f),
                "round {round}: unexpected file {}",
                f.display()
            );
        }
        if results.exists() {
            // Whatever was written reads back; finished points only grow.
            let (got, cut) = sorted(&results, &hash);
            truncated_lines += cut as usize;
            assert!(got.len() >= seen, "round {round}: points lost");
            seen = got.len();
            for r in &got {
                assert_eq!(
                    r, &want[r.index],
                    "round {round}: point {} differs",
                    r.index
                );
            }
            if !was_killed {
                // Finished: every point is there; start over so that later
                // rounds are killed mid-sweep again.
                assert_eq!(got, want, "round {round}: finished sweep differs");
                std::fs::remove_file(&results).unwrap();
                seen = 0;
            }
        }
    }
    eprintln!(
        "sweep: {killed} of 10 runs killed; {truncated_lines} results files ended in a cut line"
    );
    assert!(
        killed >= 4,
        "only {killed} of 10 runs were killed before finishing"
    );
    // A last, uninterrupted run finishes the sweep.
    ok(&locus(&a), "resume");
    let (got, truncated) = sorted(&results, &hash);
    assert!(!truncated);
    assert_eq!(
        got, want,
        "resumed results differ from the uninterrupted sweep"
    );
}
