//! `locus data synth`, `locus train` and `locus compare` run as a user would,
//! on a small synthetic dataset written by `locus data synth` into a temporary
//! directory: the rules learn, the reports parse and are deterministic, every
//! kind of bad input exits with 2 and one `error:` line naming the option,
//! field or file, and a learning rate too small for fixed point is warned of.

mod common;

use common::{locus, ok, s, text, user_error};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The synthetic dataset every test trains on: small enough that a run takes
/// milliseconds, separable enough that every rule learns it.
const SYNTH: &[&str] = &[
    "--classes",
    "4",
    "--sample-len",
    "16",
    "--train",
    "400",
    "--test",
    "200",
    "--noise",
    "40",
    "--seed",
    "1",
];

/// The network for that dataset.
const LAYERS: &str = "16,12,4";

/// Writes the synthetic dataset into `dir`; `extra` options replace those
/// of [`SYNTH`] with the same name.
fn synth(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["data", "synth", s(dir)];
    for pair in SYNTH.chunks(2) {
        if !extra.contains(&pair[0]) {
            args.extend_from_slice(pair);
        }
    }
    args.extend_from_slice(extra);
    locus(&args)
}

/// A temporary directory holding the synthetic dataset in `data/`.
fn dataset() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    ok(&synth(&data, &[]), "data synth");
    (tmp, data)
}

fn read_json(path: &Path) -> Value {
    let t = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Test accuracies (percent) of the `epoch N: ... test accuracy X%` lines.
fn test_accuracies(stdout: &str) -> Vec<f64> {
    stdout
        .lines()
        .filter(|l| l.starts_with("epoch "))
        .map(|l| {
            let v = l
                .split("test accuracy ")
                .nth(1)
                .and_then(|r| r.strip_suffix('%'))
                .unwrap_or_else(|| panic!("no test accuracy in {l:?}"));
            v.parse().unwrap_or_else(|e| panic!("{l:?}: {e}"))
        })
        .collect()
}

/// Asserts a user error: exit code 2, no panic, exactly one stderr line
/// starting with `error:`, and that line contains every expected substring.
fn assert_user_error(out: &Output, case: &str, expected: &[&str]) {
    let error = user_error(out, case);
    for want in expected {
        assert!(
            error.contains(want),
            "{case}: expected {want:?} in {error:?}"
        );
    }
    assert!(
        !text(&out.stdout).contains("wrote"),
        "{case}: wrote a report"
    );
}

#[test]
fn data_synth_writes_a_dataset_that_data_info_reads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A directory two levels deep that does not exist yet.
    let raw = tmp.path().join("a/raw");
    let stdout = ok(&synth(&raw, &[]), "synth raw");
    let names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ];
    for n in names {
        assert!(raw.join(n).is_file(), "{n} missing; stdout:\n{stdout}");
        assert!(stdout.contains(n), "{stdout}");
    }
    let images = std::fs::read(raw.join(names[0])).expect("read images");
    // Magic 0x00000802 (u8, rank 2), then 400 × 16, then the pixels.
    assert_eq!(images[..12], [0, 0, 8, 2, 0, 0, 1, 144, 0, 0, 0, 16]);
    assert_eq!(images.len(), 12 + 400 * 16);

    let info = ok(&locus(&["data", "info", s(&raw)]), "data info raw");
    for want in ["400", "200", "sample shape", "class 3", "100", "50"] {
        assert!(info.contains(want), "want {want:?} in\n{info}");
    }
    assert!(!info.contains("class 4"), "{info}");

    // Same options ⇒ byte-identical files.
    let again = tmp.path().join("again");
    ok(&synth(&again, &[]), "synth again");
    for n in names {
        assert_eq!(
            std::fs::read(raw.join(n)).unwrap(),
            std::fs::read(again.join(n)).unwrap(),
            "{n}"
        );
    }
    // Another seed ⇒ other pixels.
    let other = tmp.path().join("other");
    ok(&synth(&other, &["--seed", "2"]), "synth seed 2");
    assert_ne!(
        std::fs::read(raw.join(names[0])).unwrap(),
        std::fs::read(other.join(names[0])).unwrap()
    );

    // --gzip: .gz names, gzip content that decompresses to the raw files.
    let gz = tmp.path().join("gz");
    ok(&synth(&gz, &["--gzip"]), "synth gzip");
    for n in names {
        let bytes = std::fs::read(gz.join(format!("{n}.gz"))).expect("read .gz");
        assert_eq!(bytes[..2], [0x1f, 0x8b], "{n}.gz is not gzip");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut plain)
            .expect("gunzip");
        assert_eq!(plain, std::fs::read(raw.join(n)).unwrap(), "{n}");
        assert!(!gz.join(n).exists());
    }
    let info_gz = ok(&locus(&["data", "info", s(&gz)]), "data info gzip");
    assert!(info_gz.contains("train-images-idx3-ubyte.gz"), "{info_gz}");
    // Raw over gzip: the stale .gz files (which would shadow the new raw
    // ones) are removed.
    let stdout = ok(&synth(&gz, &["--seed", "2"]), "synth raw over gzip");
    assert!(stdout.contains("removed older copy"), "{stdout}");
    for n in names {
        assert!(gz.join(n).is_file() && !gz.join(format!("{n}.gz")).exists());
    }
}

#[test]
fn data_synth_bad_options() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out_dir = tmp.path().join("out");
    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        (
            "one class",
            vec!["--classes", "1"],
            vec!["--classes 1", "2..=256"],
        ),
        (
            "too many classes",
            vec!["--classes", "300"],
            vec!["--classes 300"],
        ),
        (
            "empty samples",
            vec!["--sample-len", "0"],
            vec!["--sample-len 0", "at least 1"],
        ),
        (
            "no training samples",
            vec!["--train", "0"],
            vec!["--train 0"],
        ),
        ("no test samples", vec!["--test", "0"], vec!["--test 0"]),
        (
            "noise above 255",
            vec!["--noise", "300"],
            vec!["--noise", "300"],
        ),
        (
            "count not a number",
            vec!["--train", "x"],
            vec!["--train", "'x'"],
        ),
    ];
    for (case, extra, expected) in cases {
        let mut args = vec!["data", "synth", s(&out_dir)];
        args.extend_from_slice(&extra);
        assert_user_error(&locus(&args), case, &expected);
        assert!(!out_dir.exists(), "{case}: created the directory");
    }
    let out = locus(&["data", "synth", s(&file)]);
    assert_user_error(
        &out,
        "output is a file",
        &[s(&file), "cannot create directory"],
    );
}

#[test]
fn train_every_rule_learns_and_writes_its_report() {
    let (tmp, data) = dataset();
    let cases: [(&str, &[&str]); 5] = [
        ("local", &["--rule", "local"]),
        ("bp/spill", &["--rule", "bp", "--policy", "spill"]),
        ("bp/recompute", &["--rule", "bp", "--policy", "recompute"]),
        ("local f32", &["--rule", "local", "--arith", "f32"]),
        (
            "bp/stash f32",
            &["--rule", "bp", "--policy", "stash", "--arith", "f32"],
        ),
    ];
    for (i, (case, rule)) in cases.iter().enumerate() {
        let report = tmp.path().join(format!("r{i}.json"));
        let mut args = vec![
            "train",
            "--layers",
            LAYERS,
            "--data",
            s(&data),
            "--epochs",
            "2",
            "--lr",
            "0.05",
            "--out",
            s(&report),
        ];
        args.extend_from_slice(rule);
        let out = locus(&args);
        let stdout = ok(&out, case);
        assert!(!text(&out.stderr).contains("warning:"), "{case}");
        let acc = test_accuracies(&stdout);
        assert_eq!(acc.len(), 2, "{case}: two epoch lines in\n{stdout}");
        assert!(
            acc[1] > 60.0,
            "{case}: test accuracy {acc:?} (chance is 25%)"
        );
        assert!(
            stdout.contains(&format!("wrote {}", report.display())),
            "{stdout}"
        );

        let v = read_json(&report);
        assert!(v["schema"].as_u64().is_some(), "{case}: schema");
        assert!(v["estimated"].is_object(), "{case}: estimated");
        let epochs = v["run"]["epochs"].as_array().expect("run.epochs");
        assert_eq!(epochs.len(), 2, "{case}");
        let last = epochs[1]["test_accuracy"].as_f64().expect("test_accuracy");
        assert!(
            (100.0 * last - acc[1]).abs() < 0.01,
            "{case}: {last} vs {acc:?}"
        );
        let macs = v["measured"]["totals"]["macs"].as_u64().expect("macs");
        assert!(macs > 0, "{case}");
        assert_eq!(v["measured"]["samples"], 800, "{case}");
        let config = &v["run"]["config"];
        assert_eq!(config["net"]["sizes"], serde_json::json!([16, 12, 4]));
        let want_arith = if case.ends_with("f32") {
            "f32"
        } else {
            "fixed"
        };
        assert_eq!(config["arith"], want_arith, "{case}");
        let want_rule = if case.starts_with("local") {
            "local"
        } else {
            "bp"
        };
        assert_eq!(config["rule"]["rule"], want_rule, "{case}");
    }
}

#[test]
fn compare_prints_the_table_and_writes_json_and_svg() {
    let (tmp, data) = dataset();
    let out_dir = tmp.path().join("out");
    let out = locus(&[
        "compare",
        "--layers",
        LAYERS,
        "--data",
        s(&data),
        "--out-dir",
        s(&out_dir),
    ]);
    let stdout = ok(&out, "compare");
    let header = stdout.lines().next().expect("a table");
    let columns: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        [
            "local",
            "bp/stash",
            "bp/spill",
            "bp/recompute",
            "local saves",
            "unit"
        ],
        "{stdout}"
    );
    assert!(stdout.contains("test accuracy"), "{stdout}");
    // No compared rule learns a classifier: its all-zero SRAM rows are left
    // out (compare_runs_the_selected_rules sees them with local-learned).
    assert!(!stdout.contains("SRAM classifier"), "{stdout}");
    assert!(stdout.contains("SRAM weight read"), "{stdout}");

    let v = read_json(&out_dir.join("compare.json"));
    let runs = v["runs"].as_array().expect("runs");
    let labels: Vec<String> = runs
        .iter()
        .map(|r| {
            let rule = &r["run"]["config"]["rule"];
            match rule["policy"].as_str() {
                Some(p) => format!("bp/{p}"),
                None => rule["rule"].as_str().expect("rule").to_string(),
            }
        })
        .collect();
    assert_eq!(labels, ["local", "bp/stash", "bp/spill", "bp/recompute"]);
    assert!(!v["savings"].as_array().expect("savings").is_empty());
    assert_eq!(v["infeasible"], serde_json::json!([]));
    for (r, label) in runs.iter().zip(&labels) {
        let t = &r["measured"]["totals"];
        let stash = t["peak_stash_bytes"].as_u64().expect("peak_stash_bytes");
        let spill = t["peak_spill_bytes"].as_u64().expect("peak_spill_bytes");
        if label == "local" {
            assert_eq!((stash, spill), (0, 0), "local stashes nothing");
        } else {
            assert!(stash > 0 || spill > 0, "{label} stashes nothing");
        }
        assert!(t["macs"].as_u64().unwrap() > 0, "{label}");
    }

    let svg = std::fs::read_to_string(out_dir.join("compare-traffic.svg")).expect("svg");
    assert!(
        svg.starts_with("<svg") || svg.starts_with("<?xml"),
        "{}",
        &svg[..40]
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    for label in &labels {
        assert!(
            svg.contains(&format!("\n{label}\n")),
            "no {label} label in the SVG"
        );
    }
    assert!(
        stdout.contains("compare.json") && stdout.contains("compare-traffic.svg"),
        "{stdout}"
    );
}

/// Runs `train` on the synthetic dataset with `LAYERS` and `extra` options,
/// writing `name` under `tmp`: its stdout and its report without the host's
/// `run.train_seconds` (which must be there).
fn train_report(tmp: &Path, data: &Path, name: &str, extra: &[&str]) -> (String, Value) {
    let path = tmp.join(name);
    let mut args = vec!["train", "--layers", LAYERS, "--data", s(data)];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", s(&path)]);
    let stdout = ok(&locus(&args), name);
    let mut v = read_json(&path);
    let run = v["run"].as_object_mut().expect("run");
    assert!(
        run.remove("train_seconds").is_some(),
        "{name}: train_seconds"
    );
    (stdout, v)
}

/// `--lr-milestones` and `--lr-gamma`: the note names each stretch's
/// rate, and the report keeps the schedule and each epoch's rate.
#[test]
fn a_learning_rate_schedule_is_noted_and_reported() {
    let (tmp, data) = dataset();
    let path = tmp.path().join("sched.json");
    let out = locus(&[
        "train",
        "--layers",
        LAYERS,
        "--data",
        s(&data),
        "--epochs",
        "3",
        "--lr",
        "0.05",
        "--lr-milestones",
        "1,2",
        "--lr-gamma",
        "0.5",
        "--out",
        s(&path),
    ]);
    ok(&out, "train with a schedule");
    let err = text(&out.stderr);
    assert!(
        err.contains("note: local: lr by epoch: 2^-4 (1-1), 2^-5 (2-2), 2^-6 (3-3)"),
        "{err}"
    );
    let v = read_json(&path);
    let cfg = &v["run"]["config"]["lr_schedule"];
    assert_eq!(cfg["milestones"], serde_json::json!([1, 2]));
    assert_eq!(cfg["gamma"], 0.5);
    let rates: Vec<f64> = v["run"]["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["lr_realised"].as_f64().unwrap())
        .collect();
    assert_eq!(rates, [0.0625, 0.03125, 0.015625]);
    // Without a schedule, neither is written.
    let (_, plain) = train_report(tmp.path(), &data, "plain.json", &["--epochs", "2"]);
    assert!(plain["run"]["config"].get("lr_schedule").is_none());
    assert!(plain["run"]["epochs"][0].get("lr_realised").is_none());
}

#[test]
fn same_seed_gives_identical_reports() {
    let (tmp, data) = dataset();
    let report = |name: &str, rule: &[&str]| -> Value {
        let opts = ["--epochs", "2", "--lr", "0.05", "--seed", "7"];
        train_report(tmp.path(), &data, name, &[&opts[..], rule].concat()).1
    };
    // Local (stochastic rounding draws from the LFSR) and backprop.
    for rule in [
        &["--rule", "local"][..],
        &["--rule", "bp", "--policy", "spill"],
    ] {
        let a = report("a.json", rule);
        let b = report("b.json", rule);
        assert_eq!(
            serde_json::to_string(&a["measured"]).unwrap(),
            serde_json::to_string(&b["measured"]).unwrap(),
            "{rule:?}"
        );
        assert_eq!(
            serde_json::to_string_pretty(&a).unwrap(),
            serde_json::to_string_pretty(&b).unwrap(),
            "{rule:?}"
        );
    }
}

#[test]
fn bad_inputs_exit_2_with_one_error_line_naming_the_culprit() {
    let (tmp, data) = dataset();
    // A model whose weight bank holds one 512-bit word.
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
    let mut model: Value = read_json(&default);
    model["sram"]["weight"]["capacity_bytes"] = 64.into();
    let tiny = tmp.path().join("tiny-weights.json");
    std::fs::write(&tiny, serde_json::to_string_pretty(&model).unwrap()).unwrap();
    // A dataset directory missing one file.
    let partial = tmp.path().join("partial");
    ok(&synth(&partial, &[]), "synth partial");
    std::fs::remove_file(partial.join("t10k-labels-idx1-ubyte")).unwrap();
    let missing_dir = tmp.path().join("no-such-data");
    let missing_model = tmp.path().join("no-such-model.json");

    // (case, arguments replacing the defaults below, expected substrings,
    // whether `compare` takes the same options)
    let cases: Vec<(&str, Vec<&str>, Vec<&str>, bool)> = vec![
        (
            "layers do not match the data",
            vec!["--layers", "10,4"],
            vec!["layers = [10, 4]", "sample size 16"],
            true,
        ),
        (
            "fewer outputs than classes",
            vec!["--layers", "16,12,3"],
            vec!["layers = [16, 12, 3]", "4 classes"],
            true,
        ),
        (
            "a single layer size",
            vec!["--layers", "16"],
            vec!["'16'", "--layers", "need an input"],
            true,
        ),
        (
            "weights do not fit the SRAM",
            vec!["--model", s(&tiny)],
            vec![s(&tiny), "sram.weight", "64 bytes"],
            true,
        ),
        (
            "unknown rule",
            vec!["--rule", "foo"],
            vec!["'foo'", "--rule"],
            false,
        ),
        (
            "unknown policy",
            vec!["--policy", "foo"],
            vec!["'foo'", "--policy"],
            false,
        ),
        (
            "unknown arithmetic",
            vec!["--arith", "f64"],
            vec!["'f64'", "--arith"],
            true,
        ),
        (
            "zero epochs",
            vec!["--epochs", "0"],
            vec!["'0'", "--epochs"],
            true,
        ),
        (
            "zero batch",
            vec!["--batch", "0"],
            vec!["'0'", "--batch"],
            true,
        ),
        (
            "zero learning rate",
            vec!["--lr", "0"],
            vec!["'0'", "--lr", "(0, 1]"],
            true,
        ),
        (
            "learning rate above 1",
            vec!["--lr", "2"],
            vec!["'2'", "--lr", "(0, 1]"],
            true,
        ),
        (
            "learning rate below 2^-30",
            vec!["--lr", "1e-12"],
            vec!["'1e-12'", "--lr", "2^-40"],
            true,
        ),
        (
            "learning rate not a number",
            vec!["--lr", "fast"],
            vec!["'fast'", "--lr"],
            true,
        ),
        (
            "missing data directory",
            vec!["--data", s(&missing_dir)],
            vec![s(&missing_dir), "dataset directory not found"],
            true,
        ),
        (
            "data directory missing a file",
            vec!["--data", s(&partial)],
            vec!["t10k-labels-idx1-ubyte", "not found"],
            true,
        ),
        (
            "missing model file",
            vec!["--model", s(&missing_model)],
            vec![s(&missing_model), "cannot read"],
            true,
        ),
        (
            "empty layer size",
            vec!["--layers", "16,,4"],
            vec!["'16,,4'", "--layers", "token 2"],
            true,
        ),
        (
            "layer size not a number",
            vec!["--layers", "abc"],
            vec!["'abc'", "--layers"],
            true,
        ),
        (
            "zero layer size",
            vec!["--layers", "16,0,4"],
            vec!["'16,0,4'", "--layers", "`0` (token 2)"],
            true,
        ),
    ];

    for (i, (case, opts, expected, compare_too)) in cases.into_iter().enumerate() {
        let report = tmp.path().join(format!("bad-{i}.json"));
        let out_dir = tmp.path().join(format!("bad-{i}"));
        let mut common: Vec<&str> = Vec::new();
        for (name, default) in [("--layers", LAYERS), ("--data", s(&data))] {
            if !opts.contains(&name) {
                common.extend([name, default]);
            }
        }
        common.extend(&opts);
        common.extend(["--train-limit", "20", "--test-limit", "20"]);

        let mut args = vec!["train"];
        args.extend(&common);
        args.extend(["--out", s(&report)]);
        assert_user_error(&locus(&args), &format!("train: {case}"), &expected);
        assert!(
            !report.exists(),
            "train: {case}: wrote {}",
            report.display()
        );

        if compare_too {
            let mut args = vec!["compare"];
            args.extend(&common);
            args.extend(["--out-dir", s(&out_dir)]);
            assert_user_error(&locus(&args), &format!("compare: {case}"), &expected);
            assert!(
                !out_dir.exists(),
                "compare: {case}: wrote {}",
                out_dir.display()
            );
        }
    }
}

#[test]
fn tiny_learning_rate_warns_in_fixed_point_only() {
    let (tmp, data) = dataset();
    let report = tmp.path().join("r.json");
    let run = |cmd: &str, lr: &str, extra: &[&str]| -> Output {
        let mut args = vec![
            cmd,
            "--layers",
            LAYERS,
            "--data",
            s(&data),
            "--lr",
            lr,
            "--train-limit",
            "10",
            "--test-limit",
            "10",
        ];
        if cmd == "train" {
            args.extend(["--out", s(&report)]);
        } else {
            args.extend(["--out-dir", s(tmp.path())]);
        }
        args.extend_from_slice(extra);
        locus(&args)
    };
    let warnings = |out: &Output| -> Vec<String> {
        text(&out.stderr)
            .lines()
            .filter(|l| l.starts_with("warning:"))
            .map(String::from)
            .collect()
    };

    // The default model with each rounding mode of the update format Q2.14.
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
    let with_rounding = |mode: &str| -> PathBuf {
        let mut model: Value = read_json(&default);
        model["formats"]["update"]["rounding"] = mode.into();
        let path = tmp.path().join(format!("{mode}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&model).unwrap()).unwrap();
        path
    };
    let stochastic = with_rounding("stochastic");
    for cmd in ["train", "compare"] {
        let out = run(cmd, "1e-9", &["--model", s(&stochastic)]);
        ok(&out, cmd);
        let w = warnings(&out);
        assert_eq!(w.len(), 1, "{cmd}: {}", text(&out.stderr));
        for want in [
            "lr 1e-9 realised as 2^-30",
            "2^-20",
            "half an LSB of the update format Q2.14",
            "formats.update",
            "stochastic",
        ] {
            assert!(w[0].contains(want), "{cmd}: want {want:?} in {}", w[0]);
        }
        assert!(!text(&out.stderr).contains("error:"), "{cmd}");
    }

    for (mode, want) in [
        ("nearest", "no weight will change"),
        ("truncate", "truncate (floor)"),
    ] {
        let out = run("train", "1e-9", &["--model", s(&with_rounding(mode))]);
        ok(&out, mode);
        let w = warnings(&out);
        assert_eq!(w.len(), 1, "{mode}: {}", text(&out.stderr));
        assert!(w[0].contains(want), "{mode}: {}", w[0]);
    }

    // f32 has no LSB; an ordinary rate warns of nothing.
    for (lr, extra) in [("1e-9", &["--arith", "f32"][..]), ("0.05", &[])] {
        let out = run("train", lr, extra);
        ok(&out, "no warning");
        assert!(
            warnings(&out).is_empty(),
            "{extra:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn help_mentions_every_option() {
    let common = [
        "--layers",
        "--activation",
        "--epochs",
        "--batch",
        "--lr",
        "--seed",
        "--model",
        "--data",
        "--arith",
        "--train-limit",
        "--test-limit",
        "--watch",
    ];
    let cases: [(&[&str], Vec<&str>); 4] = [
        (
            &["train", "--help"],
            [&common[..], &["--rule", "--policy", "--out"][..]].concat(),
        ),
        (
            &["compare", "--help"],
            [&common[..], &["--out-dir"][..]].concat(),
        ),
        (
            &["data", "synth", "--help"],
            vec![
                "OUT_DIR",
                "--classes",
                "--sample-len",
                "--train",
                "--test",
                "--noise",
                "--seed",
                "--gzip",
            ],
        ),
        (&["data", "--help"], vec!["info", "synth"]),
    ];
    for (args, options) in cases {
        let stdout = ok(&locus(args), &args.join(" "));
        for o in options {
            assert!(stdout.contains(o), "{args:?}: no {o} in\n{stdout}");
        }
    }
}

/// `compare` runs its rules in parallel: with 1 and with 2 worker threads
/// (`RAYON_NUM_THREADS`) the reports are identical, host timings aside.
#[test]
fn compare_is_independent_of_the_thread_count() {
    let (tmp, data) = dataset();
    let report = |threads: &str| -> Value {
        let out_dir = tmp.path().join(format!("out{threads}"));
        let out = Command::new(env!("CARGO_BIN_EXE_locus"))
            .args([
                "compare",
                "--layers",
                LAYERS,
                "--data",
                s(&data),
                "--batch",
                "3",
                "--out-dir",
                s(&out_dir),
            ])
            .env("RAYON_NUM_THREADS", threads)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run locus");
        ok(&out, threads);
        let mut v = read_json(&out_dir.join("compare.json"));
        for run in v["runs"].as_array_mut().expect("runs") {
            run["run"]
                .as_object_mut()
                .expect("run")
                .remove("train_seconds")
                .expect("train_seconds");
        }
        v
    };
    assert_eq!(report("1"), report("2"));
}

/// The rule label of a report's `run.config.rule` (`fa/spill`, `drtp`, ...).
fn rule_label(rule: &Value) -> String {
    let name = rule["rule"].as_str().expect("rule").replace('_', "-");
    match rule["policy"].as_str() {
        Some(p) => format!("{name}/{p}"),
        None => name,
    }
}

/// `train --rule` runs every further rule, each learning the synthetic data.
#[test]
fn train_further_rules_learn() {
    let (tmp, data) = dataset();
    for (rule, extra) in [
        ("fa", &["--policy", "recompute"][..]),
        ("dfa", &[][..]),
        ("drtp", &["--activation", "hard-tanh"][..]),
        ("local-learned", &[][..]),
        ("pepita", &[][..]),
    ] {
        let report = tmp.path().join(format!("{rule}.json"));
        let mut args = vec![
            "train",
            "--rule",
            rule,
            "--layers",
            "16,12,12,4",
            "--data",
            s(&data),
            "--epochs",
            "2",
            "--lr",
            "0.05",
            "--out",
            s(&report),
        ];
        args.extend_from_slice(extra);
        let stdout = ok(&locus(&args), rule);
        let acc = test_accuracies(&stdout);
        assert!(
            acc[1] > 60.0,
            "{rule}: test accuracy {acc:?} (chance is 25%)"
        );
        let v = read_json(&report);
        let want = match rule {
            "fa" => "fa/recompute",
            "dfa" => "dfa/spill",
            r => r,
        };
        assert_eq!(rule_label(&v["run"]["config"]["rule"]), want);
    }
}

/// `compare --rules` runs exactly the rules named (`bp` = every policy, `fa`
/// and `dfa` = spill), in that order, in the table, the JSON and the SVG; a
/// rule whose feedback ROM does not fit the model is reported as not run
/// while the others run; an unknown name is one `error:` naming `--rules`.
#[test]
fn compare_runs_the_selected_rules() {
    let (tmp, data) = dataset();
    let run = |rules: &str, model: &str, out_dir: &Path| {
        locus(&[
            "compare",
            "--rules",
            rules,
            "--layers",
            "16,32,32,4",
            "--data",
            s(&data),
            "--model",
            model,
            "--out-dir",
            s(out_dir),
            "--train-limit",
            "100",
            "--test-limit",
            "50",
        ])
    };
    let out_dir = tmp.path().join("all");
    let rules = "drtp,local-learned,pepita,fa,dfa/recompute,local,bp";
    let stdout = ok(
        &run(rules, "hw_models/default.json", &out_dir),
        "compare --rules",
    );
    assert!(stdout.contains("SRAM classifier read"), "{stdout}");
    let want = [
        "drtp",
        "local-learned",
        "pepita",
        "fa/spill",
        "dfa/recompute",
        "local",
        "bp/stash",
        "bp/spill",
        "bp/recompute",
    ];
    let header: Vec<&str> = stdout
        .lines()
        .next()
        .expect("a table")
        .split_whitespace()
        .collect();
    assert_eq!(&header[..want.len()], want, "{stdout}");
    let v = read_json(&out_dir.join("compare.json"));
    let labels: Vec<String> = v["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| rule_label(&r["run"]["config"]["rule"]))
        .collect();
    assert_eq!(labels, want);
    assert_eq!(v["infeasible"], serde_json::json!([]));
    assert!(!v["savings"].as_array().expect("savings").is_empty());
    let svg = std::fs::read_to_string(out_dir.join("compare-traffic.svg")).expect("svg");
    for label in want {
        assert!(
            svg.contains(&format!("\n{label}\n")),
            "no {label} in the SVG"
        );
    }

    // A 64-byte ROM (8 words) holds the 4×32 classifiers and DFA matrices
    // (2 words each) but not FA's 32×32 matrix (16 words): FA runs with its
    // matrices generated by the LFSR, and its report says so.
    let mut m = read_json(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("hw_models/default.json")
            .as_path(),
    );
    m["rom"]["capacity_bytes"] = serde_json::json!(64);
    let small = tmp.path().join("small-rom.json");
    std::fs::write(&small, m.to_string()).expect("write model");
    let out_dir = tmp.path().join("small");
    ok(&run("local,fa,dfa", s(&small), &out_dir), "small ROM");
    let v = read_json(&out_dir.join("compare.json"));
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 3);
    assert_eq!(v["infeasible"], serde_json::json!([]));
    let changed: Vec<&Value> = runs.iter().map(|r| &r["model_changes"]).collect();
    assert!(changed[0].is_null() && changed[2].is_null(), "{changed:?}");
    let fa = changed[1][0].as_str().expect("fa's change");
    assert!(
        fa.contains("rom.storage = lfsr for fa/spill")
            && fa.contains("its 32x32 feedback matrix needs 16 ROM words"),
        "{fa}"
    );
    // No baseline and no local run: no savings, still a table.
    let out_dir = tmp.path().join("dfa");
    let stdout = ok(&run("dfa", "hw_models/default.json", &out_dir), "dfa alone");
    assert!(stdout.starts_with(&format!("{:26}", "")), "{stdout}");
    assert_eq!(
        read_json(&out_dir.join("compare.json"))["savings"],
        serde_json::json!([])
    );

    let bad = run(
        "local,hebb",
        "hw_models/default.json",
        &tmp.path().join("bad"),
    );
    assert_user_error(
        &bad,
        "unknown rule",
        &["'hebb'", "--rules", "known rules: local"],
    );
}

/// GAIT-prop refuses a non-square hidden layer and a non-invertible
/// activation, naming `--layers` (or the activation) and the rule; a conv
/// network refuses leaky ReLU; on a square network with leaky ReLU
/// GAIT-prop learns.
#[test]
fn gaitprop_needs_square_hidden_layers_and_leaky_relu() {
    let (tmp, data) = dataset();
    let report = tmp.path().join("g.json");
    let base = |layers: &'static str, act: &'static str| {
        vec![
            "train",
            "--rule",
            "gaitprop/g1",
            "--layers",
            layers,
            "--activation",
            act,
            "--data",
            s(&data),
            "--epochs",
            "2",
            "--lr",
            "0.05",
            "--out",
            s(&report),
        ]
    };
    assert_user_error(
        &locus(&base("16,12,4", "leaky-relu")),
        "non-square",
        &["--layers", "gaitprop/g1", "square", "12x16"],
    );
    assert_user_error(
        &locus(&base("16,16,4", "relu")),
        "relu",
        &["leaky-relu", "gaitprop/g1"],
    );
    let mut conv = base("1x4x4,conv3x3x2,4", "leaky-relu");
    conv[2] = "local";
    assert_user_error(&locus(&conv), "conv", &["leaky-relu", "conv"]);
    let stdout = ok(&locus(&base("16,16,16,4", "leaky-relu")), "gaitprop");
    let acc = test_accuracies(&stdout);
    assert!(
        acc[1] > 60.0,
        "gaitprop: test accuracy {acc:?} (chance is 25%)"
    );
    assert_eq!(
        read_json(&report)["run"]["config"]["rule"]["rule"],
        "gaitprop"
    );
}

/// `train --watch N` prints one line per point and writes them to the
/// report as `run.watch`; the rest of the report is the unwatched one.
#[test]
fn train_watch_prints_and_reports_points_and_changes_nothing_else() {
    let (tmp, data) = dataset();
    let run = |name: &str, extra: &[&str]| {
        train_report(
            tmp.path(),
            &data,
            name,
            &[&["--lr", "0.05"][..], extra].concat(),
        )
    };
    let (plain_out, plain) = run("plain.json", &[]);
    let (out, mut watched) = run("watched.json", &["--watch", "150"]);
    assert!(!plain_out.contains("watch ("), "{plain_out}");
    assert!(plain["run"].get("watch").is_none());
    let points = watched["run"]
        .as_object_mut()
        .expect("run")
        .remove("watch")
        .expect("run.watch");
    // 400 training samples: points after 150 and 300.
    let samples: Vec<u64> = points
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["samples"].as_u64().expect("samples"))
        .collect();
    assert_eq!(samples, [150, 300]);
    for p in points.as_array().unwrap() {
        assert_eq!(p["layers"].as_array().expect("layers").len(), 2, "{p}");
        let line = format!("{:>9} ", p["samples"].as_u64().unwrap());
        assert!(
            out.lines().any(|l| l.starts_with(&line)),
            "no line for {p} in\n{out}"
        );
    }
    assert_eq!(plain, watched);
}

/// The output-step warning: a run whose output layer's input power makes
/// `lr·(‖x‖²+1)` pass 2 on a probe sample is warned of once, at the first
/// such watch point of its report; a run that stays below is not.
#[test]
fn watch_warns_of_an_unstable_output_step() {
    let (tmp, data) = dataset();
    let mut args = vec!["train", "--data", s(&data), "--watch", "100"];
    let path = tmp.path().join("r.json");
    args.extend_from_slice(&["--out", s(&path)]);
    // 32 hidden units at lr 2^-2: the output step diverges at once.
    let wide = [&args[..], &["--layers", "16,32,4", "--lr", "0.25"]].concat();
    let out = locus(&wide);
    ok(&out, "wide");
    let report = read_json(&path);
    let points = report["run"]["watch"].as_array().expect("run.watch");
    let first = points
        .iter()
        .find(|p| p["output_step_gain_max"].as_f64().unwrap() > 2.0)
        .expect("a point above 2");
    let stderr = text(&out.stderr);
    // Each point is also printed as it is taken.
    for p in points {
        let live = format!("watch local: {} samples, probe accuracy", p["samples"]);
        assert!(stderr.contains(&live), "no `{live}` in\n{stderr}");
    }
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: local: at"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    let want = format!(
        "warning: local: at {} samples the output layer's step lr·(‖x‖²+1) reached {:.2} on a probe sample (mean {:.2})",
        first["samples"],
        first["output_step_gain_max"].as_f64().unwrap(),
        first["output_step_gain"].as_f64().unwrap()
    );
    assert!(
        warnings[0].starts_with(&want),
        "{}\nwant {want}",
        warnings[0]
    );
    // The same finding is the report's diagnostic, with its figure.
    let unstable: Vec<&Value> = report["run"]["diagnostics"]
        .as_array()
        .expect("run.diagnostics")
        .iter()
        .filter(|d| d["kind"] == "output_step_unstable")
        .collect();
    assert_eq!(unstable.len(), 1);
    assert_eq!(unstable[0]["figure"], first["output_step_gain_max"]);
    assert_eq!(unstable[0]["layer"], 1, "the output layer");
    // The default network at lr 0.05 stays far below.
    let calm = [&args[..], &["--layers", LAYERS, "--lr", "0.05"]].concat();
    let out = locus(&calm);
    ok(&out, "calm");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("output layer's step"), "{stderr}");
    let report = read_json(&path);
    for p in report["run"]["watch"].as_array().expect("run.watch") {
        assert!(p["output_step_gain_max"].as_f64().unwrap() < 2.0, "{p}");
    }
    assert!(
        !report["run"]["diagnostics"]
            .as_array()
            .expect("run.diagnostics")
            .iter()
            .any(|d| d["kind"] == "output_step_unstable")
    );
}

/// `compare --watch N` watches every rule: each run of compare.json holds
/// its points, stdout a table per rule, and the rest equals a plain compare.
#[test]
fn compare_watch_watches_every_rule() {
    let (tmp, data) = dataset();
    let run = |dir: &str, extra: &[&str]| -> (String, Value) {
        let out_dir = tmp.path().join(dir);
        let mut args = vec![
            "compare",
            "--layers",
            LAYERS,
            "--data",
            s(&data),
            "--lr",
            "0.05",
        ];
        args.extend_from_slice(&["--rules", "local,bp/spill", "--out-dir", s(&out_dir)]);
        args.extend_from_slice(extra);
        let stdout = ok(&locus(&args), dir);
        let mut v = read_json(&out_dir.join("compare.json"));
        for r in v["runs"].as_array_mut().expect("runs") {
            r["run"]
                .as_object_mut()
                .expect("run")
                .remove("train_seconds");
        }
        (stdout, v)
    };
    let (_, plain) = run("plain", &[]);
    let (out, mut watched) = run("watched", &["--watch", "200"]);
    for r in watched["runs"].as_array_mut().expect("runs") {
        let label = rule_label(&r["run"]["config"]["rule"]);
        let points = r["run"]
            .as_object_mut()
            .unwrap()
            .remove("watch")
            .expect("run.watch");
        let samples: Vec<u64> = points
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["samples"].as_u64().unwrap())
            .collect();
        assert_eq!(samples, [200, 400], "{label}");
        assert!(
            out.lines().any(|l| l == format!("{label}:")),
            "no {label}: in\n{out}"
        );
    }
    assert_eq!(plain, watched);
}

/// The case: backprop at batch 400 on 784-256-10 keeps 400 output
/// errors of 3 words each (10 values of 16 bits in 64-bit words) in the
/// default model's 1024-word error bank. It used to train with an error
/// peak of 1200 words; now it is refused before the batch, naming the bank,
/// the need and the capacity. At batch 300 (900 words) it trains.
#[test]
fn backprop_batch_whose_kept_errors_overflow_the_error_bank_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    // 400 training samples of 784 pixels in 10 classes.
    let extra = ["--classes", "10", "--sample-len", "784", "--test", "10"];
    ok(&synth(&data, &extra), "synth");
    let out = tmp.path().join("r.json");
    let run = |batch: &str| {
        locus(&[
            "train",
            "--data",
            s(&data),
            "--rule",
            "bp",
            "--batch",
            batch,
            "--layers",
            "784,256,10",
            "--out",
            s(&out),
        ])
    };
    let line = user_error(&run("400"), "batch 400");
    for want in [
        "sram.error",
        "400 output errors",
        "1200 words",
        "1024 words",
    ] {
        assert!(line.contains(want), "want {want:?} in {line}");
    }
    assert!(!out.exists(), "a refused run wrote its report");
    ok(&run("300"), "batch 300");
    let report = read_json(&out);
    let peak = report["measured"]["cores"][1]["error_peak_words"].as_u64();
    assert_eq!(peak, Some(900), "{}", report["measured"]["cores"][1]);
}

/// The kinds of a report's `run.diagnostics`.
fn diagnostic_kinds(report: &Value) -> Vec<String> {
    report["run"]["diagnostics"]
        .as_array()
        .expect("run.diagnostics")
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect()
}

/// A run that cannot learn (a learning rate that rounds every update away
/// on the default model's nearest-rounded updates) is diagnosed: its
/// updates vanished and its training accuracy is at chance, each a
/// `warning:` line with the fix, both in `run.diagnostics`; `--strict`
/// makes it exit 2 after the report is written. A run that learns has no
/// diagnostic and passes `--strict`.
#[test]
fn a_run_that_does_not_learn_is_diagnosed_and_strict_fails_it() {
    let (tmp, data) = dataset();
    let out = tmp.path().join("r.json");
    let run = |lr: &str, strict: bool| {
        let mut args = vec![
            "train",
            "--data",
            s(&data),
            "--layers",
            "16,12,4",
            "--lr",
            lr,
            "--out",
            s(&out),
        ];
        if strict {
            args.push("--strict");
        }
        locus(&args)
    };
    let stuck = run("1e-9", false);
    let stderr = text(&stuck.stderr);
    assert!(stuck.status.success(), "{stderr}");
    let report = read_json(&out);
    let kinds = diagnostic_kinds(&report);
    assert_eq!(
        kinds,
        [
            "updates_vanished",
            "weights_frozen",
            "weights_frozen",
            "chance_accuracy"
        ],
        "{stderr}"
    );
    let frozen = &report["run"]["diagnostics"][1];
    assert_eq!(frozen["layer"], 0);
    // The learning rate's own warning explains the frozen weights: only
    // the chance diagnostic adds a line.
    assert!(!stderr.contains("did not change"), "{stderr}");
    let message = frozen["message"].as_str().unwrap();
    assert!(
        message.contains("did not change in 1 of 1 epoch(s)"),
        "{message}"
    );
    assert!(
        stderr.contains("is at chance (4 classes: 25.00 %)") && stderr.contains("raise --lr"),
        "{stderr}"
    );
    let chance = &report["run"]["diagnostics"][3];
    assert!(chance["figure"].as_f64().unwrap() < chance["threshold"].as_f64().unwrap());
    std::fs::remove_file(&out).unwrap();
    let line = user_error(&run("1e-9", true), "strict");
    assert!(
        line.contains("--strict") && line.contains("local chance_accuracy"),
        "{line}"
    );
    assert!(out.exists(), "--strict writes the report before failing");
    let learns = run("0.01", true);
    assert!(learns.status.success(), "{}", text(&learns.stderr));
    assert!(diagnostic_kinds(&read_json(&out)).is_empty());
    assert!(
        !text(&learns.stderr).contains("warning:"),
        "{}",
        text(&learns.stderr)
    );
}

/// SHA-256 of a file's bytes, lowercase hexadecimal, computed here
/// independently of locus.
fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn reports_record_the_model_file_as_given_and_its_sha256() {
    let (tmp, data) = dataset();
    // The shipped model by a path relative to the working directory (the
    // crate root), and an edited copy by an absolute path with a space.
    let copy = tmp.path().join("my model.json");
    let text = std::fs::read_to_string(common::root().join("hw_models/default.json")).unwrap();
    std::fs::write(
        &copy,
        text.replace("\"clock_mhz\": 500.0", "\"clock_mhz\": 400.0"),
    )
    .unwrap();
    let mut hashes = Vec::new();
    for model in ["hw_models/default.json", s(&copy)] {
        let want = sha256_file(&common::root().join(model));
        let check = |run: &Value, case: &str| {
            assert_eq!(run["model_file"], model, "{case}");
            assert_eq!(run["model_sha256"], want.as_str(), "{case}");
        };
        let (_, mut v) = train_report(tmp.path(), &data, "t.json", &["--model", model]);
        check(&v, "train");
        // The report reads back, and one written before the fields existed
        // reads as having none.
        v["run"]["train_seconds"] = 0.0.into();
        let back: locus::report::RunReport = serde_json::from_value(v.clone()).expect("reads");
        assert_eq!(back.model_file.as_deref(), Some(model));
        let old = v.as_object_mut().expect("object");
        old.remove("model_file");
        old.remove("model_sha256");
        let back: locus::report::RunReport = serde_json::from_value(v).expect("old reads");
        assert_eq!((back.model_file, back.model_sha256), (None, None));
        let out_dir = tmp.path().join("cmp");
        let args = [
            "--rules",
            "local,bp",
            "--model",
            model,
            "--out-dir",
            s(&out_dir),
        ];
        let cmd = [
            &["compare", "--layers", LAYERS, "--data", s(&data)][..],
            &args,
        ]
        .concat();
        ok(&locus(&cmd), "compare");
        let v = read_json(&out_dir.join("compare.json"));
        for run in v["runs"].as_array().expect("runs") {
            check(run, "compare");
        }
        let est = tmp.path().join("est.json");
        let cmd = [
            "estimate",
            "--layers",
            LAYERS,
            "--samples",
            "10",
            "--rules",
            "local,bp",
            "--model",
            model,
            "--out",
            s(&est),
        ];
        ok(&locus(&cmd), "estimate");
        for run in read_json(&est)["runs"].as_array().expect("runs") {
            check(run, "estimate");
        }
        hashes.push(want);
    }
    assert_ne!(hashes[0], hashes[1], "the edited copy is another file");
}

/// FA whose feedback matrices do not fit the model's ROM as stored values
/// runs with them generated by the LFSR, says so, and records the change in
/// its report; on a model whose ROM holds them nothing changes.
#[test]
fn fa_whose_feedback_does_not_fit_the_rom_generates_it_and_says_so() {
    let (tmp, data) = dataset();
    let mut tiny = common::default_model();
    tiny["rom"]["capacity_bytes"] = 8.into();
    let tiny_path = tmp.path().join("tiny-rom.json");
    common::write_json(&tiny_path, &tiny);
    let run = |model: &str, name: &str| {
        let path = tmp.path().join(name);
        let out = locus(&[
            "train",
            "--rule",
            "fa",
            "--layers",
            "16,12,12,4",
            "--data",
            s(&data),
            "--model",
            model,
            "--out",
            s(&path),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        (text(&out.stderr), read_json(&path))
    };
    let steps = |r: &Value| -> u64 {
        r["measured"]["cores"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["rom_generator_steps"].as_array().unwrap().clone())
            .map(|v| v.as_u64().unwrap())
            .sum()
    };
    let (err, report) = run(s(&tiny_path), "tiny.json");
    assert!(
        err.contains("note: ") && err.contains("rom.storage = lfsr for fa/spill"),
        "{err}"
    );
    let changes = report["model_changes"].as_array().unwrap();
    assert!(
        changes[0].as_str().unwrap().contains("rom holds 1 words"),
        "{changes:?}"
    );
    assert!(steps(&report) > 0);
    let (err, report) = run("hw_models/default.json", "default.json");
    assert!(!err.contains("rom.storage"), "{err}");
    assert!(report.get("model_changes").is_none());
    assert_eq!(steps(&report), 0);
}

/// The diagnostics of a cause: GAIT-prop at the paper's γ (`gaitprop/g10`)
/// on a 16-16-16-4 leaky-ReLU net never gets an error above one LSB of Q4.12 (each hidden
/// layer's error is all zero at every write: `errors_below_lsb`, naming the
/// layer, the format and γ as the fix); DRTP at `--lr 0.5` overflows its
/// errors and weights (`saturation`, naming the class and format). A run
/// that learns has neither (`a_run_that_does_not_learn_is_diagnosed_and_strict_fails_it`).
#[test]
fn errors_below_one_lsb_and_saturation_are_diagnosed() {
    let (tmp, data) = dataset();
    let out = tmp.path().join("r.json");
    let run = |extra: &[&str]| {
        let mut args = vec!["train", "--data", s(&data), "--out", s(&out)];
        args.extend(extra);
        let o = locus(&args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        (read_json(&out), text(&o.stderr))
    };
    let (report, stderr) = run(&[
        "--rule",
        "gaitprop/g10",
        "--activation",
        "leaky-relu",
        "--layers",
        "16,16,16,4",
    ]);
    let below: Vec<&Value> = report["run"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "errors_below_lsb")
        .collect();
    assert!(below.len() >= 2, "{stderr}");
    for d in &below {
        assert_eq!(d["class"], "error");
        assert!(d["figure"].as_f64().unwrap() >= d["threshold"].as_f64().unwrap());
    }
    assert_eq!(below[0]["layer"], 0);
    assert!(
        stderr.contains("layer 0's error was all zero")
            && stderr.contains("Q4.12")
            && stderr.contains("gaitprop/g0"),
        "{stderr}"
    );
    let (report, stderr) = run(&[
        "--rule",
        "drtp",
        "--activation",
        "relu",
        "--layers",
        LAYERS,
        "--lr",
        "0.5",
    ]);
    let classes: Vec<&str> = report["run"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "saturation")
        .map(|d| d["class"].as_str().unwrap())
        .collect();
    assert!(
        classes.contains(&"error") && classes.contains(&"weight"),
        "{classes:?}: {stderr}"
    );
    assert!(
        stderr.contains("error values saturated in Q4.12"),
        "{stderr}"
    );
}

/// A rule with defaults of its own trains with them when the command line
/// leaves them open, says so in a note, and records them in the report:
/// DRTP hard-tanh at 2^-10, GAIT-prop leaky ReLU. Given options win, and
/// a rule without defaults of its own prints no note.
#[test]
fn rules_train_with_their_own_defaults_unless_given() {
    let (tmp, data) = dataset();
    let out = tmp.path().join("r.json");
    let run = |extra: &[&str]| {
        let mut args = vec!["train", "--data", s(&data), "--out", s(&out), "--no-watch"];
        args.extend(extra);
        let o = locus(&args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        (read_json(&out)["run"]["config"].clone(), text(&o.stderr))
    };
    let (cfg, stderr) = run(&["--rule", "drtp", "--layers", LAYERS]);
    assert_eq!(cfg["net"]["activation"], "hard_tanh", "{cfg}");
    assert_eq!(cfg["lr"], 1.0 / 1024.0, "{cfg}");
    assert!(
        stderr.contains("note: drtp trains with --activation hard-tanh --lr 2^-10 unless given"),
        "{stderr}"
    );
    let (cfg, stderr) = run(&[
        "--rule",
        "drtp",
        "--layers",
        LAYERS,
        "--lr",
        "0.01",
        "--activation",
        "relu",
    ]);
    assert_eq!(cfg["net"]["activation"], "relu", "{cfg}");
    assert_eq!(cfg["lr"], 0.01, "{cfg}");
    assert!(!stderr.contains("note: drtp"), "{stderr}");
    let (cfg, stderr) = run(&["--rule", "gaitprop", "--layers", "16,16,16,4"]);
    assert_eq!(cfg["net"]["activation"], "leaky_relu", "{cfg}");
    assert_eq!(cfg["lr"], 0.01, "{cfg}");
    assert!(
        stderr.contains("--activation leaky-relu unless given"),
        "{stderr}"
    );
    let (cfg, stderr) = run(&["--rule", "predsim", "--layers", LAYERS]);
    assert_eq!(cfg["batch"], 16, "{cfg}");
    assert!(stderr.contains("--batch 16 unless given"), "{stderr}");
    let (cfg, stderr) = run(&["--rule", "local", "--layers", LAYERS]);
    assert_eq!(cfg["net"]["activation"], "relu", "{cfg}");
    assert_eq!(cfg["batch"], 1, "{cfg}");
    assert!(!stderr.contains("note:"), "{stderr}");
    // compare gives each rule its activation and rate, on one network.
    let dir = tmp.path().join("cmp");
    let o = locus(&[
        "compare",
        "--data",
        s(&data),
        "--layers",
        LAYERS,
        "--rules",
        "local,drtp",
        "--out-dir",
        s(&dir),
        "--no-watch",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v = read_json(&dir.join("compare.json"));
    let cfgs: Vec<&Value> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["run"]["config"])
        .collect();
    assert_eq!(cfgs[0]["net"]["activation"], "relu");
    assert_eq!(cfgs[1]["net"]["activation"], "hard_tanh");
    assert_eq!(cfgs[1]["lr"], 1.0 / 1024.0);
    assert_eq!(cfgs[0]["net"]["sizes"], cfgs[1]["net"]["sizes"]);
    // Without --layers, GAIT-prop takes square hidden layers (the MNIST
    // input's 784); the run is refused here only because the synthetic
    // samples have 16 values, which names the layers it took.
    let o = locus(&[
        "train",
        "--rule",
        "gaitprop",
        "--data",
        s(&data),
        "--out",
        s(&out),
    ]);
    let err = text(&o.stderr);
    assert!(
        err.contains("--layers 784,784,784,10 unless given") && err.contains("[784, 784, 784, 10]"),
        "{err}"
    );
}

/// Momentum on a model that rounds updates to nearest warns of the
/// velocity's dead zone (docs/arithmetic.md, "Momentum"); with stochastic
/// update rounding, or in `f32`, it does not.
#[test]
fn momentum_with_nearest_updates_warns_of_the_dead_zone() {
    let (tmp, data) = dataset();
    let stochastic = tmp.path().join("stochastic.json");
    let mut m = common::default_model();
    m["formats"]["update"]["rounding"] = "stochastic".into();
    std::fs::write(&stochastic, m.to_string()).unwrap();
    let run = |extra: &[&str]| {
        let out = tmp.path().join("m.json");
        let mut args = vec![
            "train",
            "--layers",
            LAYERS,
            "--data",
            s(&data),
            "--momentum",
            "0.9",
            "--out",
            s(&out),
        ];
        args.extend(extra);
        let o = locus(&args);
        ok(&o, "train with momentum");
        text(&o.stderr)
    };
    let err = run(&[]);
    assert!(
        err.contains("warning: local: momentum with nearest update rounding")
            && err.contains("2^-3*v rounds to 0 while |v| < 2^2 LSB"),
        "{err}"
    );
    let model = s(&stochastic).to_string();
    let err = run(&["--model", &model]);
    assert!(!err.contains("warning: local: momentum"), "{err}");
    assert!(!run(&["--arith", "f32"]).contains("warning: local: momentum"));
}
