//! `locus estimate` run as a user would: its report equals `locus compare`'s
//! counted and derived parts on the same network, samples and batch; its
//! CSV has one row per rule × core whose columns add up to the report's
//! totals; bad values exit with 2 naming the option.

mod common;

use common::{locus, ok, s, synth, user_error};
use serde_json::Value;

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A run's counted part: per-core counters, totals without the
/// value-dependent overflow count, and the derived energy and timing.
fn counted(run: &Value) -> Value {
    let mut totals = run["measured"]["totals"].clone();
    totals.as_object_mut().unwrap().remove("overflow_events");
    serde_json::json!({
        "samples": run["measured"]["samples"],
        "cores": run["measured"]["cores"],
        "accesses": run["measured"]["accesses"],
        "totals": totals,
        "estimated": run["estimated"],
    })
}

#[test]
fn estimate_report_equals_compare_and_the_csv_adds_up() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    synth(&data, 50, 10);
    let common = [
        "--layers",
        "16,12,4",
        "--rules",
        "local,bp,dfa,drtp",
        "--batch",
        "3",
    ];
    let dir = tmp.path().join("c");
    let mut args = vec!["compare", "--data", s(&data), "--out-dir", s(&dir)];
    args.extend(common);
    ok(&locus(&args), "compare");
    let (json, csv) = (tmp.path().join("e.json"), tmp.path().join("e.csv"));
    let svg = tmp.path().join("plots/layers.svg");
    let mut args = vec![
        "estimate",
        "--svg",
        s(&svg),
        "--samples",
        "50",
        "--out",
        s(&json),
        "--csv",
        s(&csv),
    ];
    args.extend(common);
    let out = ok(&locus(&args), "estimate");
    assert!(!out.contains("test accuracy"), "{out}");
    let (trained, estimated) = (read(&dir.join("compare.json")), read(&json));
    let runs = |v: &Value| v["runs"].as_array().unwrap().clone();
    assert_eq!(runs(&trained).len(), 6, "local, bp x 3 policies, dfa, drtp");
    for (t, e) in runs(&trained).iter().zip(runs(&estimated).iter()) {
        let rule = &t["run"]["config"]["rule"];
        // The whole configuration, the rule's own defaults included (DRTP:
        // hard-tanh at 2^-10), as compare takes them.
        assert_eq!(t["run"]["config"], e["run"]["config"], "{rule}");
        assert_eq!(counted(t), counted(e), "{rule}");
    }
    assert_eq!(trained["savings"], estimated["savings"]);
    // The per-layer plot: a bar per layer and rule.
    let plot = std::fs::read_to_string(&svg).unwrap();
    for label in ["L0 local", "L1 bp/recompute", "L1 dfa/spill"] {
        assert!(plot.contains(label), "{label} missing from the plot");
    }
    // The CSV: one row per rule × core (2 cores), columns summing to the
    // report's MACs and DRAM read bytes.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 6 * 2);
    for e in runs(&estimated) {
        let label = rule_label(&e);
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == label).collect();
        assert_eq!(mine.len(), 2, "{label}");
        let sum = |c: usize| -> u64 { mine.iter().map(|r| r[c].parse::<u64>().unwrap()).sum() };
        assert_eq!(
            sum(col("macs")),
            e["measured"]["totals"]["macs"].as_u64().unwrap()
        );
        assert_eq!(
            sum(col("dram_read_bytes")),
            e["measured"]["totals"]["dram_bytes"]["read"]
                .as_u64()
                .unwrap()
        );
    }
}

/// The label `estimate` writes in its CSV for a run of the report (the
/// report's rule is an object such as `{"rule": "bp", "policy": "stash"}`).
fn rule_label(run: &Value) -> String {
    let all = [
        "local",
        "bp/stash",
        "bp/spill",
        "bp/recompute",
        "dfa/spill",
        "drtp",
    ];
    let cfg = run["run"]["config"]["rule"].to_string().to_lowercase();
    all.iter()
        .find(|l| {
            let (name, policy) = l.split_once('/').unwrap_or((l, ""));
            cfg.contains(name) && cfg.contains(policy)
        })
        .unwrap()
        .to_string()
}

#[test]
fn estimate_bad_values_exit_2_naming_the_option() {
    for (args, want) in [
        (vec!["estimate", "--samples", "0"], "--samples"),
        (vec!["estimate", "--samples", "svhn"], "imagenet"),
        (vec!["estimate", "--batch", "0"], "--batch"),
        (
            vec![
                "estimate",
                "--layers",
                "1x6x6,conv3x3x4p1,4",
                "--rules",
                "pepita",
            ],
            "rule = pepita",
        ),
        (
            vec!["estimate", "--layers", "1x4294967296x4294967296,10"],
            "2^48",
        ),
    ] {
        let line = user_error(&locus(&args), want);
        assert!(line.contains(want), "{args:?}: {line}");
    }
}

/// VGG-16 at 224×224 on `hw_models/large.json`: every rule of the chain
/// fits (the model's sizing claims), and the forward MACs per sample equal
/// the closed form over its layers and the published ~15.5 G.
#[test]
fn vgg16_fits_the_large_model_and_its_forward_macs_match_the_published_count() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("vgg.json");
    let mut layers = vec!["3x224x224".to_string()];
    // (convolutions, channels) per stage, each stage closed by a 2x2 max pool.
    let stages = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)];
    let (mut c, mut side, mut macs) = (3u64, 224u64, 0u64);
    for (convs, out) in stages {
        for k in 0..convs {
            layers.push(format!("conv3x3x{out}p1"));
            macs += side * side * out * c * 9;
            c = out;
            if k + 1 == convs {
                layers.push("maxpool2".into());
            }
        }
        side /= 2;
    }
    let mut inputs = c * side * side;
    for out in [4096u64, 4096, 1000] {
        layers.push(out.to_string());
        macs += inputs * out;
        inputs = out;
    }
    let text = layers.join(",");
    let out = ok(
        &locus(&[
            "estimate",
            "--model",
            "hw_models/large.json",
            "--layers",
            &text,
            "--rules",
            "local,drtp,dfa,fa,bp",
            "--batch",
            "32",
            "--samples",
            "imagenet",
            "--out",
            s(&json),
        ]),
        "vgg16",
    );
    assert!(!out.contains("not run"), "{out}");
    let report = read(&json);
    assert!(report["infeasible"].as_array().unwrap().is_empty());
    let local = &report["runs"][0];
    let forward: u64 = local["measured"]["cores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["macs"][0].as_u64().unwrap())
        .sum();
    assert_eq!(forward, 1_281_167 * macs);
    let per_sample = macs as f64;
    assert!((per_sample / 15.5e9 - 1.0).abs() < 0.01, "{per_sample}");
}

/// `locus estimate | true`: the reader is gone before the table is
/// printed; locus stops quietly with status 0, as Unix tools do, instead of
/// reporting a broken pipe.
#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("e.json");
    let script = format!(
        "set -o pipefail; '{}' estimate --layers 16,8,4 --out '{}' | (exec 0<&-; true); echo status=$?",
        env!("CARGO_BIN_EXE_locus"),
        out.display()
    );
    let o = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(!stderr.contains("error"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stdout.contains("status=0"), "{stdout} {stderr}");
}
