//! Resource estimates against reality. Refusals above `--max-memory` and
//! `--max-disk` are rows of the bad-input table (`tests/bad_inputs.rs`);
//! here the estimates themselves are held to what a run really uses:
//!
//! - the trace size estimated from a 256-sample probe and extrapolated to
//!   2000 samples, against the size of the file written (within 5 %);
//! - the host-memory estimate of a network of 9 million weights, against
//!   the peak resident memory of the process (`VmHWM`; Linux only): between
//!   80 % and 110 % of it.

mod common;

use common::{locus, ok, s, synth, text};
use serde_json::Value;

/// The number in the `(N bytes)` that follows `after` in `stderr`.
fn bytes_after(stderr: &str, after: &str) -> u64 {
    let rest = &stderr[stderr
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} in {stderr}"))..];
    let open = rest.find('(').expect("(") + 1;
    let close = rest[open..].find(" bytes)").expect(" bytes)") + open;
    rest[open..close].parse().expect("a byte count")
}

#[test]
fn trace_size_estimate_is_within_5_percent_of_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 2000, 20);
    for (name, extra) in [("e.csv", &[][..]), ("e.csv.gz", &["--gzip"][..])] {
        let out = tmp.path().join(name);
        let mut args = vec![
            "trace",
            "events",
            "--data",
            s(&data),
            "--layers",
            "16,32,4",
            "--out",
            s(&out),
        ];
        args.extend(extra);
        let r = locus(&args);
        ok(&r, name);
        let estimate = bytes_after(&text(&r.stderr), &format!("{name}: about"));
        let actual = std::fs::metadata(&out).unwrap().len();
        let ratio = estimate as f64 / actual as f64;
        eprintln!("{name}: estimated {estimate} bytes, wrote {actual} bytes, ratio {ratio:.4}");
        assert!(
            (0.95..=1.05).contains(&ratio),
            "{name}: estimate {estimate} vs {actual} bytes"
        );
    }
}

#[test]
#[cfg(target_os = "linux")]
fn memory_estimate_is_within_80_to_110_percent_of_the_peak() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 40, 10);
    // Banks large enough for 3000x3000 layers.
    let mut m: Value = common::default_model();
    for bank in ["weight", "activation", "error", "stash"] {
        m["sram"][bank]["capacity_bytes"] = (1u64 << 30).into();
    }
    m["rom"]["capacity_bytes"] = (1u64 << 30).into();
    let model = tmp.path().join("big.json");
    common::write_json(&model, &m);
    let report = tmp.path().join("r.json");
    let r = locus(&[
        "train",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--layers",
        "16,3000,3000,4",
        "--train-limit",
        "8",
        "--out",
        s(&report),
    ]);
    ok(&r, "train");
    let stderr = text(&r.stderr);
    let estimate = bytes_after(&stderr, "host memory: estimated");
    let peak = bytes_after(&stderr, "peak resident");
    let ratio = estimate as f64 / peak as f64;
    eprintln!("estimated {estimate} bytes, peak resident {peak} bytes, ratio {ratio:.3}");
    assert!(
        (0.8..=1.1).contains(&ratio),
        "estimate {estimate} vs peak {peak} bytes"
    );
}
