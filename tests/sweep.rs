//! Sweeps: deterministic whatever the thread count, shards that merge into
//! the unsharded results, resumption after a cut-short results file, and
//! bad specs refused before anything is written.

use locus::data::{SyntheticSpec, generate, write_split};
use locus::sweep::{self, LoadedSpec, PointResult, Shard};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A temp dir with synthetic data in `data/`, the default model copied to
/// `model.json` and a spec of 8 points (rule × weight format × seed).
fn setup() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = generate(&SyntheticSpec {
        classes: 4,
        sample_len: 16,
        train: 120,
        test: 60,
        noise: 40,
        seed: 3,
    })
    .unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_split(&data, "train", &train, false).unwrap();
    write_split(&data, "t10k", &test, false).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("hw_models/default.json"),
        tmp.path().join("model.json"),
    )
    .unwrap();
    let spec = json!({
        "name": "test",
        "base": {
            "model": "model.json", "data": "data", "rule": "local", "layers": [16, 12, 4],
            "activation": "relu", "epochs": 1, "batch": 1, "lr": 0.0625, "seed": 1,
            "arith": "fixed", "train_limit": null, "test_limit": null
        },
        "axes": [
            {"path": "config.rule", "values": ["local", "bp/spill"]},
            {"path": "model.formats.weight", "values": [{"bits": 8, "frac": 6}, {"bits": 16, "frac": 14}]},
            {"path": "config.seed", "values": [1, 2]}
        ]
    });
    let path = tmp.path().join("spec.json");
    std::fs::write(&path, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    (tmp, path)
}

fn run(spec: &LoadedSpec, results: &Path, threads: usize, shard: Shard) -> sweep::RunSummary {
    let points = sweep::shard_points(spec, shard).unwrap();
    let data = sweep::load_datasets(&points).unwrap();
    sweep::run(spec, &points, &data, results, threads, &|_, _| {}).unwrap()
}

fn sorted(path: &Path, hash: &str) -> Vec<PointResult> {
    let (mut rs, truncated) = sweep::read_results(path, hash).unwrap();
    assert!(!truncated);
    rs.sort_by_key(|r| r.index);
    rs
}

const ALL: Shard = Shard { shard: 0, count: 1 };

/// `lines` sorted by their point index, each followed by a newline.
fn lines_by_index(mut lines: Vec<String>, hash: &str) -> String {
    let index = |l: &String| {
        let r: PointResult = serde_json::from_str(l).unwrap();
        assert_eq!(r.spec_hash, hash);
        r.index
    };
    lines.sort_by_key(index);
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn merge_and_resume_copy_every_line_verbatim() {
    let (tmp, spec_path) = setup();
    let spec = LoadedSpec::load(&spec_path).unwrap();
    let shards: Vec<PathBuf> = (0..2)
        .map(|i| {
            let p = tmp.path().join(format!("shard{i}.jsonl"));
            run(&spec, &p, 1, Shard { shard: i, count: 2 });
            p
        })
        .collect();
    // Rewrite shard 0's lines in a spelling locus never writes itself (a
    // space after every comma, a number whose shortest form is different):
    // merge and resume must keep them as they are, not re-serialise them.
    let text = std::fs::read_to_string(&shards[0]).unwrap();
    let odd: String = text
        .lines()
        .map(|l| {
            let l = l.replacen(",\"rule\"", ", \"rule\"", 1);
            let l = l.replacen("\"samples\":", "\"samples\": ", 1);
            format!("{l}\n")
        })
        .collect();
    assert_ne!(odd, text);
    std::fs::write(&shards[0], &odd).unwrap();
    let merged = tmp.path().join("merged.jsonl");
    assert_eq!(sweep::merge(&spec, &shards, &merged).unwrap(), 8);
    let mut lines: Vec<String> = odd.lines().map(String::from).collect();
    lines.extend(
        std::fs::read_to_string(&shards[1])
            .unwrap()
            .lines()
            .map(String::from),
    );
    assert_eq!(
        std::fs::read_to_string(&merged).unwrap(),
        lines_by_index(lines, &spec.hash)
    );
    // Resume after a cut-short last line: the earlier lines stay untouched.
    let mut cut = odd.clone();
    cut.truncate(odd.trim_end().rfind('\n').unwrap() + 1);
    let kept = cut.clone();
    cut.push_str("{\"spec_hash\":\"");
    std::fs::write(&shards[0], &cut).unwrap();
    let s = run(&spec, &shards[0], 1, Shard { shard: 0, count: 2 });
    assert_eq!(s.ran, 1);
    let resumed = std::fs::read_to_string(&shards[0]).unwrap();
    assert!(resumed.starts_with(&kept), "earlier lines rewritten");
}

#[test]
fn numbers_read_back_are_the_numbers_written() {
    // serde_json's default parser is off by one ulp on some inputs; results,
    // reports and models are re-read, so parsing must round-trip exactly.
    for text in [
        "0.9220666666666667",
        "0.1",
        "2.2250738585072014e-308",
        "1e23",
    ] {
        let x: f64 = serde_json::from_str(text).unwrap();
        let back = serde_json::to_string(&x).unwrap();
        let again: f64 = serde_json::from_str(&back).unwrap();
        assert_eq!(x.to_bits(), again.to_bits(), "{text} -> {back}");
        assert_eq!(
            x.to_bits(),
            text.parse::<f64>().unwrap().to_bits(),
            "{text}"
        );
    }
}

#[test]
fn threads_shards_and_resume_give_the_same_results() {
    let (tmp, spec_path) = setup();
    let spec = LoadedSpec::load(&spec_path).unwrap();
    assert_eq!(spec.len(), 8);
    let one = tmp.path().join("one.jsonl");
    let two = tmp.path().join("two.jsonl");
    assert_eq!(run(&spec, &one, 1, ALL).ran, 8);
    run(&spec, &two, 2, ALL);
    let reference = sorted(&one, &spec.hash);
    assert_eq!(reference.len(), 8);
    assert!(
        reference
            .iter()
            .all(|r| r.error.is_none() && r.test_accuracy().unwrap() > 0.5)
    );
    assert_eq!(sorted(&two, &spec.hash), reference, "1 vs 2 threads");

    // Shards 0/3, 1/3, 2/3 merged equal the unsharded sweep.
    let shards: Vec<PathBuf> = (0..3)
        .map(|i| {
            let p = tmp.path().join(format!("shard{i}.jsonl"));
            run(&spec, &p, 2, Shard { shard: i, count: 3 });
            p
        })
        .collect();
    let merged = tmp.path().join("merged.jsonl");
    assert_eq!(sweep::merge(&spec, &shards, &merged).unwrap(), 8);
    assert_eq!(sorted(&merged, &spec.hash), reference);
    // Byte for byte: the merged file is the shards' lines in index order, and
    // the unsharded run's lines in index order.
    let merged_text = std::fs::read_to_string(&merged).unwrap();
    let mut shard_lines: Vec<String> = Vec::new();
    for p in &shards {
        shard_lines.extend(
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(String::from),
        );
    }
    assert_eq!(merged_text, lines_by_index(shard_lines, &spec.hash));
    let one_lines = std::fs::read_to_string(&one).unwrap();
    assert_eq!(
        merged_text,
        lines_by_index(one_lines.lines().map(String::from).collect(), &spec.hash),
        "merged shards vs the unsharded run"
    );
    // Missing or duplicated shards are refused.
    let e = sweep::merge(&spec, &shards[..2], &tmp.path().join("m2.jsonl")).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    let dup = vec![
        shards[0].clone(),
        shards[0].clone(),
        shards[1].clone(),
        shards[2].clone(),
    ];
    let e = sweep::merge(&spec, &dup, &tmp.path().join("m3.jsonl")).unwrap_err();
    assert!(e.to_string().contains("duplicated"), "{e}");

    // A kill mid-write: drop two whole lines and cut the next in half.
    let text = std::fs::read_to_string(&one).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut cut = lines[..5].join("\n");
    cut.push('\n');
    cut.push_str(&lines[5][..lines[5].len() / 2]);
    std::fs::write(&one, cut).unwrap();
    let s = run(&spec, &one, 2, ALL);
    assert_eq!((s.skipped, s.ran), (5, 3));
    assert_eq!(sorted(&one, &spec.hash), reference, "resumed");
    // Rerunning a finished sweep runs nothing.
    assert_eq!(run(&spec, &one, 2, ALL).ran, 0);

    // The report: a table per rule with front marks, and the plots.
    let plots = tmp.path().join("plots");
    let out = locus(&[
        "sweep",
        "report",
        "--spec",
        spec_path.to_str().unwrap(),
        one.to_str().unwrap(),
        "--out-dir",
        plots.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("rule local (4 points)") && stdout.contains("rule bp/spill (4 points)"),
        "{stdout}"
    );
    assert!(stdout.contains(" EB "), "no point on both fronts: {stdout}");
    // The seed axis is averaged: local at 16-bit weights over seeds 1 and 2.
    let local16: Vec<f64> = reference
        .iter()
        .filter(|r| r.rule == "local" && r.bits.weight == 16)
        .filter_map(|r| r.test_accuracy())
        .collect();
    assert_eq!(local16.len(), 2);
    let mean = format!("{:.2}%", 50.0 * (local16[0] + local16[1]));
    let seed_row = stdout
        .lines()
        .skip_while(|l| !l.starts_with("mean over seeds"))
        .find(|l| l.trim_start().starts_with("local  16"))
        .unwrap_or_else(|| panic!("no seed-mean row for local/16: {stdout}"));
    assert!(
        seed_row.contains(&mean) && seed_row.contains("    2 "),
        "{seed_row} vs {mean}"
    );
    assert!(stdout.contains("narrowest weight/activation/error widths within 1 points"));
    for f in [
        "accuracy-vs-weight-bits.svg",
        "energy-vs-weight-bits.svg",
        "pareto.svg",
    ] {
        let svg = std::fs::read_to_string(plots.join(f)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("local") && svg.contains("bp/spill"),
            "{f}"
        );
    }
}

#[test]
fn a_model_axis_loads_each_model_and_applies_model_settings_to_it() {
    let (tmp, spec_path) = setup();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("hw_models/edge-small.json"),
        tmp.path().join("edge.json"),
    )
    .unwrap();
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec_path).unwrap()).unwrap();
    v["axes"][0] = json!({"path": "config.model", "values": ["model.json", "edge.json"]});
    std::fs::write(&spec_path, v.to_string()).unwrap();
    let spec = LoadedSpec::load(&spec_path).unwrap();
    let names: Vec<String> = (0..spec.len())
        .map(|i| spec.point(i).unwrap().model.name)
        .collect();
    let default = locus::hw::model::load(&root.join("hw_models/default.json")).unwrap();
    let edge = locus::hw::model::load(&root.join("hw_models/edge-small.json")).unwrap();
    assert_eq!(names[..4], vec![default.name.clone(); 4][..]);
    assert_eq!(names[4..], vec![edge.name.clone(); 4][..]);
    // The weight axis applies to the chosen model: point 4 is edge-small
    // with the first weight format of the axis.
    let p4 = spec.point(4).unwrap();
    assert_eq!(
        (p4.model.formats.weight.bits, p4.model.formats.weight.frac),
        (8, 6)
    );
    assert_eq!(
        p4.model.formats.accumulator.bits,
        edge.formats.accumulator.bits
    );
    // Editing the second model changes the hash (results cannot be resumed
    // against it).
    let mut e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("edge.json")).unwrap())
            .unwrap();
    e["clock_mhz"] = json!(123);
    std::fs::write(tmp.path().join("edge.json"), e.to_string()).unwrap();
    assert_ne!(LoadedSpec::load(&spec_path).unwrap().hash, spec.hash);
}

fn locus(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_locus"))
        .args(args)
        .output()
        .unwrap()
}

/// A change made to a good spec.
type Mutation = Box<dyn Fn(&mut serde_json::Value)>;

/// Each bad spec or option: exit 2, one `error:` line naming the file and
/// the field, and no results file written.
#[test]
fn bad_specs_are_refused_before_anything_is_written() {
    let (tmp, spec_path) = setup();
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec_path).unwrap()).unwrap();
    let cases: Vec<(&str, Mutation, &[&str])> = vec![
        (
            "empty grid",
            Box::new(|v| v["axes"] = json!([])),
            &["axes", "empty"],
        ),
        (
            "empty axis",
            Box::new(|v| v["axes"][1]["values"] = json!([])),
            &["axes[1].values", "empty"],
        ),
        (
            "impossible format",
            Box::new(|v| v["axes"][1]["values"][0] = json!({"bits": 40, "frac": 6})),
            &["point 0", "formats.weight.bits = 40"],
        ),
        (
            "unknown path",
            Box::new(|v| v["axes"][2]["path"] = json!("config.sead")),
            &["config.sead", "sead"],
        ),
        (
            "unknown field",
            Box::new(|v| v["base"]["epoch"] = json!(1)),
            &["base", "epoch"],
        ),
        (
            "missing model of a model axis",
            Box::new(|v| {
                v["axes"][2] =
                    json!({"path": "config.model", "values": ["model.json", "nope.json"]})
            }),
            &["nope.json", "cannot read"],
        ),
        (
            "unknown rule",
            Box::new(|v| v["axes"][0]["values"][1] = json!("hebb")),
            &["config.rule", "hebb"],
        ),
    ];
    for (name, mutate, want) in cases {
        let mut v = base.clone();
        mutate(&mut v);
        let path = tmp.path().join("bad.json");
        std::fs::write(&path, v.to_string()).unwrap();
        let results = tmp.path().join("bad.jsonl");
        let out = locus(&[
            "sweep",
            "--spec",
            path.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "{name}: {err}");
        assert!(lines[0].contains("bad.json"), "{name}: {err}");
        for w in want {
            assert!(lines[0].contains(w), "{name}: want {w:?} in {err}");
        }
        assert!(!results.exists(), "{name}: results written");
    }
    // A shard out of range, and a results file from another spec.
    let spec = spec_path.to_str().unwrap();
    let out = locus(&["sweep", "--spec", spec, "--shard", "3/3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shard = 3/3"));
    let other = tmp.path().join("other.jsonl");
    let line = r#"{"spec_hash":"0000000000000000","index":0,"settings":{},"rule":"local","bits":{"weight":8,"activation":8,"error":8,"update":8},"error":null,"epochs":[],"samples":0,"totals":null,"energy_per_sample_pj":null,"cycles_per_sample":null}"#;
    std::fs::write(&other, format!("{line}\n")).unwrap();
    let out = locus(&[
        "sweep",
        "--spec",
        spec,
        "--results",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different spec"));
    assert_eq!(
        std::fs::read_to_string(&other).unwrap(),
        format!("{line}\n"),
        "overwritten"
    );
}

/// The bit-width study in `docs/results.md` is reproducible from the
/// checked-in results: each file belongs to its spec (same hash), and the
/// report derives the narrowest-widths table quoted there.
#[test]
fn the_checked_in_bit_width_study_reports_from_its_results() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("docs/sweeps");
    let plots = tempfile::tempdir().unwrap();
    for name in [
        "weight",
        "activation",
        "error",
        "error-stochastic",
        "combined",
    ] {
        let spec = dir.join(format!("widths-{name}.json"));
        let results = dir.join(format!("widths-{name}.jsonl"));
        let loaded = LoadedSpec::load(&spec).unwrap();
        let rs = sorted(&results, &loaded.hash);
        assert_eq!(rs.len(), loaded.len(), "{name}: every point present");
        let out = locus(&[
            "sweep",
            "report",
            "--spec",
            spec.to_str().unwrap(),
            results.to_str().unwrap(),
            "--out-dir",
            plots.path().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{name}");
        if name == "combined" {
            let stdout = String::from_utf8_lossy(&out.stdout);
            for rule in ["local", "bp/spill"] {
                let row = stdout
                    .lines()
                    .skip_while(|l| !l.starts_with("narrowest"))
                    .find(|l| l.trim_start().starts_with(rule))
                    .unwrap_or_else(|| panic!("no row for {rule}: {stdout}"));
                assert!(row.contains("16/16/16") && row.contains("10/6/8"), "{row}");
            }
        }
    }
}

#[test]
fn a_spec_can_sweep_a_cnn_written_as_layers_text() {
    let (tmp, spec_path) = setup();
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec_path).unwrap()).unwrap();
    // 16 inputs = 1x4x4; conv 3x3 -> 2x2, max pool 2 -> 2 channels x 1x1.
    v["base"]["layers"] = json!("1x4x4,conv3x3x2,maxpool2,4");
    v["axes"] = json!([{"path": "config.rule", "values": ["local", "bp/spill"]}]);
    std::fs::write(&spec_path, v.to_string()).unwrap();
    let spec = LoadedSpec::load(&spec_path).unwrap();
    let p = spec.point(1).unwrap();
    assert_eq!(p.config.net.sizes, vec![16, 2, 4]);
    assert!(p.config.net.has_conv());
    let results = tmp.path().join("cnn.jsonl");
    assert_eq!(run(&spec, &results, 2, ALL).ran, 2);
    let rs = sorted(&results, &spec.hash);
    assert!(
        rs.iter()
            .all(|r| r.error.is_none() && r.test_accuracy().is_some())
    );

    // A bad layer text is refused before anything runs, naming the field.
    v["base"]["layers"] = json!("1x4x4,conv5x5x2,4");
    let bad = tmp.path().join("bad-cnn.json");
    std::fs::write(&bad, v.to_string()).unwrap();
    let out = locus(&[
        "sweep",
        "--spec",
        bad.to_str().unwrap(),
        "--results",
        tmp.path().join("bad.jsonl").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad-cnn.json") && err.contains("config.layers") && err.contains("conv5x5x2"),
        "{err}"
    );
}

/// `base.lr_schedule` steps each point's rate as `--lr-milestones` does;
/// a spec without it keeps its hash (the field is not written when absent).
#[test]
fn a_spec_can_step_the_learning_rate() {
    let (tmp, spec_path) = setup();
    let plain_hash = LoadedSpec::load(&spec_path).unwrap().hash;
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec_path).unwrap()).unwrap();
    v["base"]["epochs"] = json!(2);
    v["base"]["lr_schedule"] = json!({"milestones": [1], "gamma": 0.25});
    v["axes"] = json!([{"path": "config.rule", "values": ["local", "bp/spill"]}]);
    std::fs::write(&spec_path, v.to_string()).unwrap();
    let spec = LoadedSpec::load(&spec_path).unwrap();
    assert_ne!(spec.hash, plain_hash);
    let results = tmp.path().join("sched.jsonl");
    assert_eq!(run(&spec, &results, 1, ALL).ran, 2);
    for r in sorted(&results, &spec.hash) {
        let rates: Vec<Option<f64>> = r.epochs.iter().map(|e| e.lr_realised).collect();
        assert_eq!(rates, [Some(0.0625), Some(0.015625)], "{}", r.rule);
    }
    // A schedule whose step falls below 2^-30 is refused before running.
    v["base"]["lr_schedule"] = json!({"milestones": [1], "gamma": 1e-9});
    std::fs::write(&spec_path, v.to_string()).unwrap();
    let err = LoadedSpec::load(&spec_path)
        .unwrap()
        .point(0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lr-milestones") && err.contains("2^-30"),
        "{err}"
    );
}

/// A model's optional fields can be swept although the base file leaves
/// them out: streaming, fusion and the mapping onto cores.
#[test]
fn a_spec_can_sweep_the_optional_model_fields() {
    let (_tmp, spec_path) = setup();
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec_path).unwrap()).unwrap();
    v["axes"] = json!([
        {"path": "model.offchip.weights", "values": ["on_chip", "stream"]},
        {"path": "model.fusion", "values": [{"update_forward": true}, {"backward_update": true}]},
        {"path": "model.mapping", "values": ["core_per_layer", {"cores": 2}]}
    ]);
    std::fs::write(&spec_path, v.to_string()).unwrap();
    let spec = LoadedSpec::load(&spec_path).unwrap();
    assert_eq!(spec.len(), 8);
    let last = spec.point(7).unwrap().model;
    assert_eq!(
        last.offchip.weights,
        locus::hw::model::WeightStorage::Stream
    );
    assert!(last.fusion.backward_update && !last.fusion.update_forward);
    assert_eq!(last.mapping, locus::hw::model::Mapping::Cores(2));
    let first = spec.point(0).unwrap().model;
    assert_eq!(
        first.offchip.weights,
        locus::hw::model::WeightStorage::OnChip
    );
    assert!(first.fusion.update_forward && !first.fusion.backward_update);
}
