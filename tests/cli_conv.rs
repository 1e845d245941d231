//! `locus train` with a CNN on synthetic 1x4x4 "images": it learns and its
//! report records the layer description; bad layer descriptions exit with 2
//! and one `error:` line naming the value and what is wrong.

mod common;

use common::{locus, ok, s, synth, text, user_error};
use serde_json::Value;

/// A 4-class synthetic dataset of 16-pixel samples in `dir`.
fn dataset(dir: &std::path::Path) {
    synth(dir, 400, 200);
}

#[test]
fn a_cnn_trains_from_the_command_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    dataset(tmp.path());
    for rule in [
        vec!["--rule", "local"],
        vec!["--rule", "local-learned"],
        vec!["--rule", "drtp", "--activation", "hard-tanh"],
        vec!["--rule", "dfa", "--policy", "recompute"],
        vec!["--rule", "fa", "--policy", "stash"],
        vec!["--rule", "bp", "--policy", "recompute"],
    ] {
        let report = tmp.path().join("r.json");
        let mut args = vec![
            "train",
            "--data",
            s(tmp.path()),
            "--layers",
            "1x4x4,conv3x3x4p1,maxpool2,4",
            "--lr",
            "0.03",
            "--out",
            s(&report),
        ];
        args.extend(&rule);
        let out = locus(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
        let net = &v["run"]["config"]["net"];
        assert_eq!(net["sizes"], serde_json::json!([16, 16, 4]), "{net}");
        assert_eq!(
            net["stack"],
            serde_json::json!(["1x4x4", "conv3x3x4p1", "maxpool2", "4"])
        );
        let acc = v["run"]["epochs"][0]["test_accuracy"]
            .as_f64()
            .expect("accuracy");
        assert!(acc > 0.6, "{rule:?}: test accuracy {acc} near chance 0.25");
    }
}

#[test]
fn bad_layer_descriptions_exit_2_naming_the_value() {
    let tmp = tempfile::tempdir().expect("tempdir");
    dataset(tmp.path());
    for (layers, want) in [
        (
            "1x4x4,conv5x5x2,4",
            "kernel 5 is larger than the input height 4",
        ),
        ("1x4x4,conv3x3x2p1,avgpool3,4", "non-integer output size"),
        (
            "1x4x4,conv3x3x2,maxpool3,4",
            "larger than the 2x2 conv output",
        ),
        ("16,maxpool2,4", "directly follow a convolution"),
        ("1x4x4,conv3x3x2p1", "last layer must be dense"),
        ("1x4x4,conv3x3,4", "expected convKxKxC"),
        ("1x4x4,pool2,4", "expected a size"),
    ] {
        let out = locus(&["train", "--data", s(tmp.path()), "--layers", layers]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{layers}: {err}");
        assert!(!err.contains("panicked"), "{layers}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "{layers}: {err}");
        assert!(
            lines[0].contains(&format!("'{layers}'")),
            "{layers}: {}",
            lines[0]
        );
        assert!(
            lines[0].contains(want),
            "{layers}: want {want:?} in {}",
            lines[0]
        );
    }
    // A well-formed CNN whose input does not match the data.
    let out = locus(&[
        "train",
        "--data",
        s(tmp.path()),
        "--layers",
        "1x5x5,conv3x3x2,4",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("sample size 16"), "{err}");
    // `compare` parses --layers the same way.
    let out = locus(&[
        "compare",
        "--data",
        s(tmp.path()),
        "--layers",
        "1x4x4,conv9x9x2,4",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("conv9x9x2"));
}

/// The rules modelled on CNNs run side by side in `compare`, each in
/// `compare.json` with its accuracy above chance; the others are refused
/// with one `error:` line naming the rule and listing the rules that train
/// CNNs.
#[test]
fn compare_runs_the_cnn_rules_and_refuses_the_others() {
    let tmp = tempfile::tempdir().expect("tempdir");
    dataset(tmp.path());
    let out_dir = tmp.path().join("cmp");
    let rules = "local,local-learned,dfa/spill,fa/spill,bp/spill";
    let out = locus(&[
        "compare",
        "--data",
        s(tmp.path()),
        "--layers",
        "1x4x4,conv3x3x4p1,maxpool2,4",
        "--rules",
        rules,
        "--lr",
        "0.03",
        "--out-dir",
        s(&out_dir),
    ]);
    ok(&out, "compare");
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("compare.json")).expect("compare.json"),
    )
    .expect("json");
    let runs = v["runs"].as_array().expect("runs");
    let labels: Vec<String> = runs
        .iter()
        .map(|r| {
            let rule = &r["run"]["config"]["rule"];
            let name = rule["rule"].as_str().expect("rule").replace('_', "-");
            match rule["policy"].as_str() {
                Some(p) => format!("{name}/{p}"),
                None => name,
            }
        })
        .collect();
    assert_eq!(labels.join(","), rules);
    for r in runs {
        let acc = r["run"]["epochs"][0]["test_accuracy"]
            .as_f64()
            .expect("accuracy");
        assert!(
            acc > 0.6,
            "{}: test accuracy {acc}",
            r["run"]["config"]["rule"]
        );
    }
    for rule in ["pepita", "gaitprop", "predsim"] {
        let mut args = vec![
            "train",
            "--data",
            s(tmp.path()),
            "--layers",
            "1x4x4,conv3x3x4p1,maxpool2,4",
            "--rule",
            rule,
        ];
        if rule == "predsim" {
            args.extend(["--batch", "4"]);
        }
        let line = user_error(&locus(&args), rule);
        assert!(line.contains(&format!("rule = {rule}")), "{line}");
        assert!(
            line.contains(
                "networks with conv layers train with local, local-learned, drtp, dfa, fa or bp"
            ),
            "{line}"
        );
        let refused = line.rsplit_once('(').expect("the refused rules").1;
        assert!(refused.contains(rule), "{line}");
    }
}
