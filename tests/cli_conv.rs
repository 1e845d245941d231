//! `locus train` with a CNN on synthetic 1x4x4 "images": it learns and its
//! report records the layer description; bad layer descriptions exit with 2
//! and one `error:` line naming the value and what is wrong.

mod common;

use common::{locus, s, synth, text};
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
        ("1x4x4,conv3x3x2s2,4", "non-integer output size"),
        ("1x4x4,conv3x3x2,maxpool3,4", "non-integer output size"),
        ("16,maxpool2,4", "directly follow a convolution"),
        ("1x4x4,conv3x3x2p1,avgpool3,4", "power of two"),
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
