//! The table of bad inputs in `docs/reliability.md`: every kind of
//! malformed file, value and flag tried, run through the binary. Each row
//! must exit with 2, print exactly one `error:` line, name the file and the
//! field (or flag) at fault, and write nothing. The table in the doc is
//! this test's output: the messages there are the binary's, copied from
//! these runs, and the test fails when they differ. After a deliberate
//! change of message, regenerate the table with
//! `LOCUS_BLESS=1 cargo test --release --test bad_inputs`.
//!
//! Every command runs in a scratch directory holding the inputs under short
//! relative names, so the messages are the same on every machine.

mod common;

use common::{default_model, idx, locus_in, synth, user_error, write_json};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

/// One row: a short description, the arguments, and the substrings the
/// `error:` line must contain (the file and the field or flag at fault).
struct Row {
    case: &'static str,
    args: Vec<String>,
    names: Vec<&'static str>,
}

fn row(case: &'static str, args: &str, names: &[&'static str]) -> Row {
    Row {
        case,
        args: args.split_whitespace().map(str::to_string).collect(),
        names: names.to_vec(),
    }
}

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// Copies the good dataset `data` to `dir` with `file` replaced by `bytes`
/// (or removed when `None`).
fn data_with(root: &Path, dir: &str, file: &str, bytes: Option<Vec<u8>>) {
    let d = root.join(dir);
    std::fs::create_dir_all(&d).unwrap();
    for f in [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS] {
        std::fs::copy(root.join("data").join(f), d.join(f)).unwrap();
    }
    match bytes {
        Some(b) => {
            if file.ends_with(".gz") {
                std::fs::remove_file(d.join(file.trim_end_matches(".gz"))).unwrap();
            }
            std::fs::write(d.join(file), b).unwrap();
        }
        None => std::fs::remove_file(d.join(file)).unwrap(),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The default model with `edit` applied, written to `name`.
fn model_with(root: &Path, name: &str, edit: impl FnOnce(&mut Value)) {
    let mut m = default_model();
    edit(&mut m);
    write_json(&root.join(name), &m);
}

/// A sweep spec over the synthetic data with `edit` applied, written to
/// `sweeps/<name>`.
fn spec_with(root: &Path, name: &str, edit: impl FnOnce(&mut Value)) {
    let mut v = json!({
        "name": "t",
        "base": {
            "model": "../model.json", "data": "../data", "rule": "local",
            "layers": [16, 8, 4], "activation": "relu", "epochs": 1, "batch": 1,
            "lr": 0.01, "seed": 1, "arith": "fixed",
            "train_limit": 10, "test_limit": 10
        },
        "axes": [
            { "path": "model.formats.weight.bits", "values": [16, 15] }
        ]
    });
    edit(&mut v);
    std::fs::create_dir_all(root.join("sweeps")).unwrap();
    write_json(&root.join("sweeps").join(name), &v);
}

/// Writes every input the rows use into `root`.
fn inputs(root: &Path) {
    synth(&root.join("data"), 40, 20);
    write_json(&root.join("model.json"), &default_model());

    // IDX files.
    let images = |dims: &[u32], n: usize| idx(dims, &vec![7u8; n]);
    data_with(root, "no-labels", TEST_LABELS, None);
    data_with(root, "empty", TRAIN_IMAGES, Some(Vec::new()));
    data_with(root, "short-header", TRAIN_IMAGES, Some(vec![0, 0, 8]));
    data_with(
        root,
        "bad-magic",
        TRAIN_IMAGES,
        Some(vec![1, 2, 3, 4, 0, 0, 0, 1]),
    );
    data_with(
        root,
        "i32-data",
        TRAIN_IMAGES,
        Some(vec![0, 0, 0x0c, 1, 0, 0, 0, 1, 0, 0, 0, 5]),
    );
    data_with(root, "rank-0", TRAIN_IMAGES, Some(vec![0, 0, 8, 0]));
    data_with(
        root,
        "rank-5",
        TRAIN_IMAGES,
        Some(idx(&[1, 1, 1, 1, 1], &[0])),
    );
    data_with(root, "zero-dim", TRAIN_IMAGES, Some(idx(&[40, 0, 16], &[])));
    data_with(
        root,
        "overflow",
        TRAIN_IMAGES,
        Some(idx(&[u32::MAX, u32::MAX, u32::MAX], &[])),
    );
    data_with(
        root,
        "too-large",
        TRAIN_IMAGES,
        Some(idx(&[60000, 200, 200], &[])),
    );
    data_with(
        root,
        "truncated",
        TRAIN_IMAGES,
        Some(images(&[40, 16], 40 * 16 - 1)),
    );
    data_with(
        root,
        "trailing",
        TRAIN_IMAGES,
        Some(images(&[40, 16], 40 * 16 + 3)),
    );
    let raw = std::fs::read(root.join("data").join(TRAIN_IMAGES)).unwrap();
    data_with(
        root,
        "gz-not-gzip",
        &format!("{TRAIN_IMAGES}.gz"),
        Some(raw.clone()),
    );
    let mut bad_crc = gzip(&raw);
    let n = bad_crc.len();
    bad_crc[n - 6] ^= 0xff; // inside the CRC-32 trailer
    data_with(
        root,
        "gz-bad-crc",
        &format!("{TRAIN_IMAGES}.gz"),
        Some(bad_crc),
    );
    let mut cut = gzip(&raw);
    cut.truncate(cut.len() / 2);
    data_with(root, "gz-cut", &format!("{TRAIN_IMAGES}.gz"), Some(cut));
    data_with(
        root,
        "count-mismatch",
        TRAIN_LABELS,
        Some(idx(&[39], &[0; 39])),
    );
    data_with(
        root,
        "labels-rank-2",
        TRAIN_LABELS,
        Some(idx(&[40, 1], &[0; 40])),
    );
    data_with(
        root,
        "test-size",
        TEST_IMAGES,
        Some(images(&[20, 9], 20 * 9)),
    );
    data_with(
        root,
        "label-255",
        TRAIN_LABELS,
        Some(idx(&[40], &[[0u8; 39].as_slice(), &[255]].concat())),
    );

    // Model files.
    std::fs::write(root.join("m-empty.json"), "").unwrap();
    std::fs::write(root.join("m-syntax.json"), "{\"name\": \"x\",,}").unwrap();
    // Accelergy energy reference tables.
    std::fs::write(
        root.join("ert-syntax.yaml"),
        "ERT: {version: 1, tables: [}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("ert-unknown.yaml"),
        "ERT:\n  version: 0.3\n  tables:\n  - name: chip.cache\n    actions:\n    - {name: read, energy: 2}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("ert-negative.yaml"),
        "ERT:\n  version: 0.3\n  tables:\n  - name: chip.weight_sram\n    actions:\n    - {name: read, energy: -5}\n",
    )
    .unwrap();
    let good = std::fs::read_to_string(root.join("model.json")).unwrap();
    std::fs::write(root.join("m-trailing.json"), format!("{good} {{}}")).unwrap();
    model_with(root, "m-unknown.json", |m| {
        m["formats"]["weight"]["bitz"] = 16.into()
    });
    model_with(root, "m-missing.json", |m| {
        m["sram"]["weight"]
            .as_object_mut()
            .unwrap()
            .remove("word_bits");
    });
    model_with(root, "m-type.json", |m| {
        m["formats"]["weight"]["bits"] = "16".into()
    });
    model_with(root, "m-enum.json", |m| {
        m["formats"]["error"]["rounding"] = "up".into()
    });
    model_with(root, "m-version.json", |m| m["version"] = 99.into());
    model_with(root, "m-bits.json", |m| {
        m["formats"]["activation"]["bits"] = 33.into()
    });
    model_with(root, "m-frac.json", |m| {
        m["formats"]["weight"]["frac"] = 16.into()
    });
    model_with(root, "m-word.json", |m| {
        m["sram"]["activation"]["word_bits"] = 12.into()
    });
    model_with(root, "m-capacity.json", |m| {
        m["sram"]["stash"]["capacity_bytes"] = 0.into()
    });
    model_with(root, "m-energy.json", |m| {
        m["energy"]["mac_pj"]["pj"] = json!(-1.0)
    });
    model_with(root, "m-clock.json", |m| m["clock_mhz"] = json!(0.0));
    // 8 words of 64 bits: backprop's kept output errors (1 word each for
    // 4 classes) of a batch of 10 do not fit.
    model_with(root, "m-8-word-error.json", |m| {
        m["sram"]["error"]["capacity_bytes"] = 64.into()
    });
    // A shared core with 4 error words: two hidden regions of 3 words (12
    // values) and the output error at the top need 7.
    model_with(root, "m-shared-4-word-error.json", |m| {
        m["mapping"] = "shared_core".into();
        m["sram"]["error"]["capacity_bytes"] = 32.into()
    });
    model_with(root, "m-array.json", |m| {
        m["sram"]["weight"] = json!([1, 2])
    });
    model_with(root, "m-tiny-weights.json", |m| {
        m["sram"]["weight"]["capacity_bytes"] = 64.into()
    });
    model_with(root, "m-stream-tiny-weights.json", |m| {
        m["sram"]["weight"]["capacity_bytes"] = 64.into();
        m["offchip"] = json!({"weights": "stream"})
    });
    model_with(root, "m-cores.json", |m| m["mapping"] = json!({"cores": 0}));
    model_with(root, "m-layer-cores.json", |m| {
        m["mapping"] = json!({"layer_cores": [0, 1, 0]})
    });
    model_with(root, "m-offchip.json", |m| {
        m["offchip"] = json!({"weights": "dram"})
    });
    model_with(root, "m-rom-dram-lfsr.json", |m| {
        m["offchip"] = json!({"rom": "dram"});
        m["rom"]["storage"] = json!({"kind": "lfsr"})
    });
    model_with(root, "m-rom-place.json", |m| {
        m["offchip"] = json!({"rom": "disk"})
    });
    // Layer 0 of 16,8,4 (8x17 weights and biases, 5 words) fits, its
    // velocity does not.
    model_with(root, "m-5-word-weights.json", |m| {
        m["sram"]["weight"]["capacity_bytes"] = 320.into()
    });
    model_with(root, "m-small-error.json", |m| {
        m["sram"]["error"]["capacity_bytes"] = 64.into()
    });
    model_with(root, "m-tiny-stash.json", |m| {
        m["sram"]["stash"]["capacity_bytes"] = 8.into()
    });
    std::fs::create_dir_all(root.join("m-dir.json")).unwrap();

    // Sweep specs and results files.
    spec_with(root, "ok.json", |_| {});
    std::fs::write(root.join("sweeps/syntax.json"), "{\"name\": ").unwrap();
    let ok_spec = std::fs::read_to_string(root.join("sweeps/ok.json")).unwrap();
    std::fs::write(root.join("sweeps/trailing.json"), format!("{ok_spec} {{}}")).unwrap();
    spec_with(root, "unknown.json", |v| v["base"]["epoch"] = 1.into());
    spec_with(root, "no-axes.json", |v| v["axes"] = json!([]));
    spec_with(root, "no-values.json", |v| {
        v["axes"][0]["values"] = json!([])
    });
    spec_with(root, "root.json", |v| {
        v["axes"][0]["path"] = "formats.weight.bits".into()
    });
    spec_with(root, "field.json", |v| {
        v["axes"][0]["path"] = "model.formats.weight.bitz".into()
    });
    spec_with(root, "value.json", |v| {
        v["axes"][0]["values"] = json!([16, 40])
    });
    spec_with(root, "rule.json", |v| {
        v["axes"][0] = json!({"path": "config.rule", "values": ["local", "hebb"]})
    });
    spec_with(root, "points.json", |v| {
        let many: Vec<u32> = (0..400).collect();
        v["axes"] = json!([
            {"path": "config.seed", "values": many},
            {"path": "config.epochs", "values": many}
        ]);
    });
    spec_with(root, "model-missing.json", |v| {
        v["base"]["model"] = "../no-model.json".into()
    });
    spec_with(root, "big.json", |v| {
        v["base"]["layers"] = json!([16, 2000000, 4]);
        v["axes"][0] = json!({"path": "config.seed", "values": [1, 2]});
    });
    let line = r#"{"spec_hash":"0000000000000000","index":0,"settings":{},"rule":"local","bits":{"weight":8,"activation":8,"error":8,"update":8},"error":null,"epochs":[],"samples":0,"totals":null,"energy_per_sample_pj":null,"cycles_per_sample":null}"#;
    std::fs::write(root.join("other-spec.jsonl"), format!("{line}\n")).unwrap();
    std::fs::write(root.join("garbage.jsonl"), "not json\n{}\n").unwrap();
    std::fs::write(root.join("a-file"), "x").unwrap();

    // Network files (--net).
    use common::onnx::{dense_with, model, node, value};
    let cnn = std::fs::read(common::root().join("nets/mnist_cnn.onnx")).unwrap();
    std::fs::write(root.join("cut.onnx"), &cnn[..cnn.len() / 2]).unwrap();
    let cycle = model(
        vec![
            node("r1", "Relu", &["b"], &["a"], &[]),
            node("r2", "Relu", &["a"], &["b"], &[]),
        ],
        vec![value("x", &[None, Some(16)])],
        "b",
    );
    std::fs::write(root.join("cycle.onnx"), cycle).unwrap();
    let dangling = model(
        vec![node("fc", "Gemm", &["x", "w"], &["y"], &[])],
        vec![value("x", &[None, Some(16)])],
        "y",
    );
    std::fs::write(root.join("dangling.onnx"), dangling).unwrap();
    let lstm = dense_with(Some(("LSTM", &["y"], &["z"])), &[None, Some(16)]);
    std::fs::write(root.join("lstm.onnx"), lstm).unwrap();
    std::fs::write(root.join("zero.onnx"), dense_with(None, &[None, Some(0)])).unwrap();
    std::fs::write(
        root.join("huge.onnx"),
        dense_with(None, &[None, Some(1 << 50)]),
    )
    .unwrap();
    let header = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,";
    std::fs::write(
        root.join("no-strides.csv"),
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter,\nc1,28,28,5,5,1,16,\n",
    )
    .unwrap();
    std::fs::write(
        root.join("nan.csv"),
        format!("{header}\nc1,28,28,five,5,1,16,1,\n"),
    )
    .unwrap();
    std::fs::write(
        root.join("branch.csv"),
        format!("{header}\nc1,28,28,5,5,1,16,1,\nc2,28,28,1,1,1,16,1,\n"),
    )
    .unwrap();
}

/// Options of a small training run on the synthetic data, followed by
/// `extra`, which replaces the defaults of the options it names.
fn run(extra: &str) -> String {
    let mut out = String::new();
    for (opt, default) in [
        ("--data", "data"),
        ("--model", "model.json"),
        ("--layers", "16,8,4"),
    ] {
        if !extra.split_whitespace().any(|w| w == opt) {
            out.push_str(&format!("{opt} {default} "));
        }
    }
    out.push_str("--train-limit 10 --test-limit 10 ");
    out.push_str(extra);
    out
}

fn rows() -> Vec<Row> {
    let train = |extra: &str| format!("train {}", run(&format!("--out r.json {extra}")));
    let info = |dir: &str| format!("data info {dir}");
    let check = |file: &str| format!("model check {file}");
    let sweep = |spec: &str| format!("sweep --spec sweeps/{spec} --results out.jsonl");
    let trace = |kind: &str, extra: &str| format!("trace {kind} {}", run(extra));
    let owned = |v: Vec<(&'static str, String, Vec<&'static str>)>| {
        v.into_iter()
            .map(|(c, a, n)| row(c, &a, &n))
            .collect::<Vec<_>>()
    };
    owned(vec![
        // Datasets (IDX files).
        ("data directory missing", info("nodata"), vec!["nodata"]),
        (
            "data directory without a file",
            info("no-labels"),
            vec!["no-labels", TEST_LABELS],
        ),
        (
            "empty IDX file",
            info("empty"),
            vec![TRAIN_IMAGES, "header"],
        ),
        (
            "IDX header cut short",
            info("short-header"),
            vec![TRAIN_IMAGES, "header"],
        ),
        (
            "IDX magic wrong",
            info("bad-magic"),
            vec![TRAIN_IMAGES, "magic"],
        ),
        (
            "IDX element type not u8",
            info("i32-data"),
            vec![TRAIN_IMAGES, "element type"],
        ),
        ("IDX rank 0", info("rank-0"), vec![TRAIN_IMAGES, "rank 0"]),
        (
            "IDX rank above 4",
            info("rank-5"),
            vec![TRAIN_IMAGES, "rank 5"],
        ),
        (
            "IDX dimension 0",
            info("zero-dim"),
            vec![TRAIN_IMAGES, "dimension 1"],
        ),
        (
            "IDX dimensions overflow 64 bits",
            info("overflow"),
            vec![TRAIN_IMAGES, "overflow"],
        ),
        (
            "IDX array above 1 GiB",
            info("too-large"),
            vec![TRAIN_IMAGES, "limit"],
        ),
        (
            "IDX data cut short",
            info("truncated"),
            vec![TRAIN_IMAGES, "truncated data"],
        ),
        (
            "IDX bytes after the data",
            info("trailing"),
            vec![TRAIN_IMAGES, "trailing bytes"],
        ),
        (
            ".gz name, raw content",
            info("gz-not-gzip"),
            vec!["train-images-idx3-ubyte.gz", "not gzip"],
        ),
        (
            "gzip CRC wrong",
            info("gz-bad-crc"),
            vec!["train-images-idx3-ubyte.gz", "gzip"],
        ),
        (
            "gzip stream cut short",
            info("gz-cut"),
            vec!["train-images-idx3-ubyte.gz", "gzip"],
        ),
        (
            "images and labels differ in count",
            info("count-mismatch"),
            vec![TRAIN_IMAGES, TRAIN_LABELS],
        ),
        (
            "labels of rank 2",
            info("labels-rank-2"),
            vec![TRAIN_LABELS, "rank"],
        ),
        (
            "test samples of another size",
            train("--data test-size"),
            vec!["data", "t10k"],
        ),
        (
            "a label beyond the network's outputs",
            train("--data label-255"),
            vec!["layers", "256 classes"],
        ),
        // Hardware model files.
        (
            "model file missing",
            check("nomodel.json"),
            vec!["nomodel.json", "cannot read"],
        ),
        (
            "model file is a directory",
            check("m-dir.json"),
            vec!["m-dir.json", "cannot read"],
        ),
        (
            "model file empty",
            check("m-empty.json"),
            vec!["m-empty.json", "EOF"],
        ),
        (
            "model not JSON",
            check("m-syntax.json"),
            vec!["m-syntax.json", "line 1"],
        ),
        (
            "model with text after the object",
            check("m-trailing.json"),
            vec!["m-trailing.json", "trailing"],
        ),
        (
            "model field unknown",
            check("m-unknown.json"),
            vec!["m-unknown.json", "formats.weight", "bitz"],
        ),
        (
            "model field missing",
            check("m-missing.json"),
            vec!["m-missing.json", "sram.weight", "word_bits"],
        ),
        (
            "model field of the wrong type",
            check("m-type.json"),
            vec!["m-type.json", "formats.weight.bits"],
        ),
        (
            "model enum value unknown",
            check("m-enum.json"),
            vec!["m-enum.json", "formats.error.rounding", "up"],
        ),
        (
            "energy table not YAML",
            "model import-ert ert-syntax.yaml --model model.json --out m-ert.json".to_string(),
            vec!["ert-syntax.yaml", "line 1"],
        ),
        (
            "energy table with an unknown component",
            "model import-ert ert-unknown.yaml --model model.json --out m-ert.json".to_string(),
            vec!["ert-unknown.yaml", "ERT.tables[0].name", "chip.cache"],
        ),
        (
            "energy table with a negative energy",
            "model import-ert ert-negative.yaml --model model.json --out m-ert.json".to_string(),
            vec!["ert-negative.yaml", "ERT.tables[0].actions[0].energy", "-5"],
        ),
        (
            "mapping onto 0 cores",
            check("m-cores.json"),
            vec!["m-cores.json", "mapping.cores", "0"],
        ),
        (
            "layer-to-core list that decreases",
            check("m-layer-cores.json"),
            vec!["m-layer-cores.json", "mapping.layer_cores[2]"],
        ),
        (
            "weight storage unknown",
            check("m-offchip.json"),
            vec!["m-offchip.json", "offchip.weights", "dram"],
        ),
        (
            "generated ROM entries held in DRAM",
            check("m-rom-dram-lfsr.json"),
            vec![
                "m-rom-dram-lfsr.json",
                "offchip.rom",
                "rom.storage.kind",
                "lfsr",
            ],
        ),
        (
            "ROM placement unknown",
            check("m-rom-place.json"),
            vec!["m-rom-place.json", "offchip.rom", "disk"],
        ),
        (
            "model array for an object",
            check("m-array.json"),
            vec!["m-array.json", "sram.weight"],
        ),
        (
            "model schema version",
            check("m-version.json"),
            vec!["m-version.json", "version = 99"],
        ),
        (
            "format wider than 32 bits",
            check("m-bits.json"),
            vec!["m-bits.json", "formats.activation.bits = 33"],
        ),
        (
            "fractional bits not below bits",
            check("m-frac.json"),
            vec!["m-frac.json", "formats.weight.frac = 16"],
        ),
        (
            "SRAM word not whole bytes",
            check("m-word.json"),
            vec!["m-word.json", "sram.activation.word_bits = 12"],
        ),
        (
            "SRAM capacity 0",
            check("m-capacity.json"),
            vec!["m-capacity.json", "sram.stash.capacity_bytes = 0"],
        ),
        (
            "negative energy",
            check("m-energy.json"),
            vec!["m-energy.json", "energy.mac_pj"],
        ),
        (
            "clock 0 MHz",
            check("m-clock.json"),
            vec!["m-clock.json", "clock_mhz"],
        ),
        // Training options and the network against model and data.
        (
            "layers do not match the data",
            train("--layers 10,4"),
            vec!["layers", "sample size 16"],
        ),
        (
            "fewer outputs than classes",
            train("--layers 16,8,3"),
            vec!["layers", "4 classes"],
        ),
        (
            "a layer of size 0",
            train("--layers 16,0,4"),
            vec!["--layers", "`0`", "token 2"],
        ),
        (
            "layer size not a number",
            train("--layers 16,x,4"),
            vec!["--layers", "`x`", "token 2"],
        ),
        ("epochs 0", train("--epochs 0"), vec!["--epochs", "'0'"]),
        ("batch 0", train("--batch 0"), vec!["--batch", "'0'"]),
        (
            "watch every 0 samples",
            train("--watch 0"),
            vec!["--watch", "'0'"],
        ),
        ("learning rate 0", train("--lr 0"), vec!["--lr", "(0, 1]"]),
        (
            "learning rate above 1",
            train("--lr 2"),
            vec!["--lr", "(0, 1]"],
        ),
        (
            "learning rate below 2^-30",
            train("--lr 1e-12"),
            vec!["--lr", "2^-40"],
        ),
        (
            "momentum of 1",
            train("--momentum 1"),
            vec!["--momentum", "'1'", "[0, 1)"],
        ),
        (
            "momentum that rounds to none",
            train("--momentum 0.2"),
            vec!["--momentum", "'0.2'", "1 - 2^-m"],
        ),
        (
            "momentum with a learned classifier",
            train("--momentum 0.9 --rule local-learned"),
            vec!["momentum", "local-learned"],
        ),
        (
            "learning-rate milestone 0",
            train("--epochs 2 --lr-milestones 0"),
            vec!["--lr-milestones", "'0'"],
        ),
        (
            "learning-rate milestones not increasing",
            train("--epochs 3 --lr-milestones 2,1"),
            vec!["lr-milestones", "[2, 1]", "increasing"],
        ),
        (
            "learning-rate factor above 1",
            train("--epochs 2 --lr-milestones 1 --lr-gamma 2"),
            vec!["--lr-gamma", "'2'", "(0, 1]"],
        ),
        (
            "learning-rate factor without milestones",
            train("--lr-gamma 0.5"),
            vec!["--lr-gamma", "--lr-milestones"],
        ),
        (
            "learning-rate step below 2^-30",
            train("--epochs 3 --lr-milestones 1,2 --lr-gamma 1e-5"),
            vec!["lr-milestones", "epoch 3", "2^-30"],
        ),
        (
            "unknown rule",
            train("--rule hebb"),
            vec!["--rule", "'hebb'"],
        ),
        (
            "unknown buffering policy",
            train("--rule bp --policy cache"),
            vec!["--policy", "'cache'"],
        ),
        (
            "unknown arithmetic",
            train("--arith f64"),
            vec!["--arith", "'f64'"],
        ),
        ("unknown option", train("--epoch 2"), vec!["--epoch"]),
        (
            "weights do not fit the weight SRAM",
            train("--model m-tiny-weights.json"),
            vec!["m-tiny-weights.json", "sram.weight"],
        ),
        (
            "momentum's velocity does not fit the weight SRAM",
            train("--model m-5-word-weights.json --momentum 0.9"),
            vec!["m-5-word-weights.json", "momentum", "sram.weight"],
        ),
        (
            "stash does not fit (bp, stash policy)",
            train("--model m-tiny-stash.json --rule bp --policy stash"),
            vec!["m-tiny-stash.json", "sram.stash"],
        ),
        (
            "backprop's kept output errors do not fit the error bank",
            train("--model m-8-word-error.json --rule bp --batch 10"),
            vec!["m-8-word-error.json", "sram.error", "10 output errors"],
        ),
        (
            "a shared core's error regions overlap",
            train("--model m-shared-4-word-error.json --layers 16,12,12,4"),
            vec!["m-shared-4-word-error.json", "sram.error", "7 words"],
        ),
        (
            "predsim's batch does not fit the error bank",
            train("--model m-small-error.json --rule predsim --batch 4"),
            vec!["m-small-error.json", "sram.error", "batch of 4", "predsim"],
        ),
        (
            "a rule not modelled on conv layers",
            train("--layers 1x4x4,conv3x3x2p1,maxpool2,4 --rule pepita"),
            vec![
                "rule = pepita",
                "conv layers",
                "pepita, predsim and gaitprop",
            ],
        ),
        (
            "report under a regular file",
            format!("train {}", run("--out a-file/r.json")),
            vec!["a-file", "cannot create directory"],
        ),
        (
            "report path is a directory",
            format!("train {}", run("--out data")),
            vec!["data", "cannot write"],
        ),
        (
            "network above --max-memory",
            train("--layers 16,100000000,4"),
            vec!["--max-memory", "about", "4.0 GiB"],
        ),
        (
            "layer size overflowing 64 bits, any limit",
            train("--layers 16,18446744073709551615,4 --max-memory 18446744073709551615"),
            vec![
                "--layers",
                "`18446744073709551615` (token 2)",
                "18446744073709551615 outputs",
                "2^48",
            ],
        ),
        (
            "input shape whose product wraps 64 bits",
            train("--layers 1x4294967296x4294967296,10"),
            vec![
                "--layers",
                "`1x4294967296x4294967296`",
                "18446744073709551616 values",
                "2^48",
            ],
        ),
        (
            "dense layer whose weights wrap 64 bits",
            train("--layers 4294967296,4294967296,10"),
            vec![
                "--layers",
                "`4294967296` (token 2)",
                "biases are 18446744078004518912 values",
                "2^48",
            ],
        ),
        (
            "--max-memory not a size",
            train("--max-memory 1.5G"),
            vec!["--max-memory", "'1.5G'"],
        ),
        (
            "compare above --max-memory",
            format!(
                "compare {}",
                run("--layers 16,3000,4 --max-memory 1M --out-dir c")
            ),
            vec!["--max-memory", "runs at once"],
        ),
        // Traces.
        (
            "trace above --max-disk",
            trace("events", "--out e.csv --max-disk 10K"),
            vec!["e.csv", "--max-disk = 10.0 KiB"],
        ),
        (
            "trace of a chip that streams its weights",
            trace("events", "--out e.csv --model m-stream-tiny-weights.json"),
            vec!["m-stream-tiny-weights.json", "stream"],
        ),
        (
            "VCD window of 0 cycles",
            trace("vcd", "--out w.vcd --cycles 0"),
            vec!["--cycles", "'0'"],
        ),
        (
            "VCD window past the end",
            trace("vcd", "--out w.vcd --from-cycle 100000000"),
            vec!["--from-cycle 100000000"],
        ),
        (
            "SCALE-Sim directory is a file",
            trace("scalesim", "--out a-file"),
            vec!["a-file"],
        ),
        // Sweeps.
        (
            "sweep spec missing",
            sweep("nospec.json"),
            vec!["sweeps/nospec.json", "cannot read"],
        ),
        (
            "sweep spec not JSON",
            sweep("syntax.json"),
            vec!["sweeps/syntax.json", "EOF"],
        ),
        (
            "sweep spec with text after the object",
            sweep("trailing.json"),
            vec!["sweeps/trailing.json", "trailing characters"],
        ),
        (
            "sweep spec field unknown",
            sweep("unknown.json"),
            vec!["sweeps/unknown.json", "base", "epoch"],
        ),
        (
            "sweep with no axes",
            sweep("no-axes.json"),
            vec!["sweeps/no-axes.json", "axes"],
        ),
        (
            "sweep axis with no values",
            sweep("no-values.json"),
            vec!["sweeps/no-values.json", "axes[0].values"],
        ),
        (
            "sweep axis path outside model./config.",
            sweep("root.json"),
            vec!["sweeps/root.json", "axes[0].path"],
        ),
        (
            "sweep axis path to no field",
            sweep("field.json"),
            vec!["sweeps/field.json", "model.formats.weight.bitz"],
        ),
        (
            "sweep value makes the model invalid",
            sweep("value.json"),
            vec!["sweeps/value.json", "point 1", "formats.weight.bits = 40"],
        ),
        (
            "sweep rule unknown",
            sweep("rule.json"),
            vec!["sweeps/rule.json", "point 1", "config.rule"],
        ),
        (
            "sweep of too many points",
            sweep("points.json"),
            vec!["sweeps/points.json", "axes", "160000 points"],
        ),
        (
            "sweep base model missing",
            sweep("model-missing.json"),
            vec!["no-model.json", "cannot read"],
        ),
        (
            "sweep above --max-memory",
            format!("{} --max-memory 64M", sweep("big.json")),
            // The sweep's dataset is counted too (16-pixel synthetic data).
            vec!["--max-memory", "2 runs at once", "data 1020 B"],
        ),
        (
            "results file of another spec",
            "sweep --spec sweeps/ok.json --results other-spec.jsonl".to_string(),
            vec!["other-spec.jsonl", "line 1", "different spec"],
        ),
        (
            "results file with a bad line",
            "sweep --spec sweeps/ok.json --results garbage.jsonl".to_string(),
            vec!["garbage.jsonl", "line 1"],
        ),
        (
            "--shard out of range",
            format!("{} --shard 3/2", sweep("ok.json")),
            vec!["--shard = 3/2"],
        ),
        (
            "--threads 0",
            format!("{} --threads 0", sweep("ok.json")),
            vec!["--threads"],
        ),
        (
            "sweep merge with a shard missing",
            "sweep merge --spec sweeps/ok.json --out m.jsonl none.jsonl".to_string(),
            vec!["none.jsonl", "no such file"],
        ),
        // Count-only estimates.
        (
            "estimate of 0 samples",
            "estimate --model model.json --samples 0".to_string(),
            vec!["--samples"],
        ),
        (
            "estimate of a rule not modelled on conv layers",
            "estimate --model model.json --layers 1x4x4,conv3x3x2p1,4 --rules predsim --batch 2"
                .to_string(),
            vec!["rule = predsim"],
        ),
        (
            "a rule not modelled on residual blocks",
            "estimate --model model.json --layers 1x4x4,conv3x3x2p1,conv3x3x2p1,res1,4 --rules fa"
                .to_string(),
            vec!["rule = fa/spill", "residual"],
        ),
        (
            "a residual block whose input and output differ in shape",
            "estimate --model model.json --layers 1x4x4,conv3x3x2p1,conv3x3x3p1,res1,4".to_string(),
            vec!["res1", "token 4", "resNp"],
        ),
        (
            "a residual block starting at the first layer",
            "estimate --model model.json --layers 1x4x4,conv3x3x2p1,res1,4".to_string(),
            vec!["res1", "layer 2 or later"],
        ),
        (
            "estimate where no rule fits the model",
            "estimate --model m-tiny-weights.json --rules local,bp".to_string(),
            vec!["m-tiny-weights.json", "no rule fits"],
        ),
        // Network files (--net).
        (
            "truncated ONNX file",
            "estimate --net cut.onnx".to_string(),
            vec!["cut.onnx", "protobuf"],
        ),
        (
            "ONNX graph with a cycle",
            "estimate --net cycle.onnx".to_string(),
            vec!["cycle.onnx", "cycle", "\"r1\" (Relu)"],
        ),
        (
            "ONNX node reading a tensor nothing provides",
            "estimate --net dangling.onnx".to_string(),
            vec!["dangling.onnx", "\"fc\" (Gemm)", "\"w\""],
        ),
        (
            "ONNX operator not supported",
            "estimate --net lstm.onnx".to_string(),
            vec!["lstm.onnx", "\"extra\" (LSTM)", "supported: Conv"],
        ),
        (
            "ONNX input of size 0",
            "estimate --net zero.onnx".to_string(),
            vec!["zero.onnx", "\"x\"", "size 0"],
        ),
        (
            "ONNX input of absurd size",
            "estimate --net huge.onnx".to_string(),
            vec!["huge.onnx", "\"x\"", "1125899906842624"],
        ),
        (
            "SCALE-Sim topology without a Strides column",
            "estimate --net no-strides.csv".to_string(),
            vec!["no-strides.csv", "Strides"],
        ),
        (
            "SCALE-Sim row with a non-number",
            "estimate --net nan.csv".to_string(),
            vec!["nan.csv", "row 2 (c1)", "Filter Height", "five"],
        ),
        (
            "SCALE-Sim rows that do not chain",
            "estimate --net branch.csv".to_string(),
            vec!["branch.csv", "row 3 (c2)", "row 2 (c1)"],
        ),
        (
            "network file missing",
            "estimate --net none.onnx".to_string(),
            vec!["none.onnx", "No such file"],
        ),
        // Synthetic data.
        (
            "synthetic data with 1 class",
            "data synth s --classes 1".to_string(),
            vec!["--classes", "1"],
        ),
        (
            "synthetic data of 0 pixels",
            "data synth s --sample-len 0".to_string(),
            vec!["--sample-len"],
        ),
        (
            "synthetic data into a file",
            "data synth a-file".to_string(),
            vec!["a-file"],
        ),
    ])
}

/// `` `msg` `` for a markdown table cell (pipes escaped).
fn cell(s: &str) -> String {
    format!("`` {} ``", s.replace('|', "\\|"))
}

const BEGIN: &str = "<!-- bad-inputs table: generated by tests/bad_inputs.rs -->\n";
const END: &str = "<!-- end of bad-inputs table -->\n";

#[test]
fn every_bad_input_exits_2_naming_file_and_field_and_matches_the_doc() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    inputs(root);
    let before = common::files_under(root);
    let mut table =
        String::from("| # | input | command | message (exit code 2) |\n|---|---|---|---|\n");
    for (k, r) in rows().iter().enumerate() {
        let args: Vec<&str> = r.args.iter().map(String::as_str).collect();
        let out = locus_in(root, &args);
        let line = user_error(&out, r.case);
        for name in &r.names {
            assert!(line.contains(name), "{}: want {name:?} in {line:?}", r.case);
        }
        table.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            k + 1,
            r.case,
            cell(&format!("locus {}", r.args.join(" "))),
            cell(&line)
        ));
    }
    // Nothing was written by any row (temporary files included).
    assert_eq!(
        common::files_under(root),
        before,
        "a failing command wrote a file"
    );

    let doc_path = common::root().join("docs/reliability.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let (start, end) = (
        doc.find(BEGIN).expect("table start marker") + BEGIN.len(),
        doc.find(END).expect("table end marker"),
    );
    if std::env::var_os("LOCUS_BLESS").is_some() {
        let new = format!("{}{table}{}", &doc[..start], &doc[end..]);
        std::fs::write(&doc_path, new).unwrap();
        return;
    }
    assert_eq!(
        doc[start..end],
        table,
        "docs/reliability.md's table differs from the messages; if the change is meant, rerun with LOCUS_BLESS=1"
    );
}
