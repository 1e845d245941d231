//! Helpers shared by the integration tests that run the `locus` binary:
//! running it, reading its output, asserting user errors, and writing small
//! inputs (IDX bytes, synthetic datasets, edited models).
//!
//! Each test file uses only some of them.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The crate root (the binary's default working directory in tests).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `locus args` in the crate root.
pub fn locus(args: &[&str]) -> Output {
    locus_in(root(), args)
}

/// Runs `locus args` with working directory `dir`.
pub fn locus_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_locus"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run locus")
}

/// Lossy UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A path as `&str` (temporary paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Asserts exit code 0 and no panic; returns stdout.
pub fn ok(out: &Output, case: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{case}: stderr = {}",
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains("panicked"), "{case}");
    text(&out.stdout)
}

/// Asserts a user error — exit code 2, no panic, exactly one stderr line
/// starting with `error:` — and returns that line.
pub fn user_error(out: &Output, case: &str) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{case}: stderr = {stderr}");
    assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{case}: {stderr}");
    errors[0].to_string()
}

/// IDX bytes of a u8 array.
pub fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// Writes a synthetic dataset into `dir` with `locus data synth`: 4 classes
/// of 16 pixels, `train` and `test` samples.
pub fn synth(dir: &Path, train: usize, test: usize) {
    let (tr, te) = (train.to_string(), test.to_string());
    let out = locus(&[
        "data",
        "synth",
        s(dir),
        "--classes",
        "4",
        "--sample-len",
        "16",
        "--train",
        &tr,
        "--test",
        &te,
        "--noise",
        "40",
        "--seed",
        "1",
    ]);
    ok(&out, "data synth");
}

/// The default model as JSON.
pub fn default_model() -> Value {
    let t = std::fs::read_to_string(root().join("hw_models/default.json")).expect("default model");
    serde_json::from_str(&t).expect("default model parses")
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).expect("json")).expect("write json");
}

/// Every file under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// ONNX files built in tests with the reader's own `prost` messages.
pub mod onnx {
    use locus::net::onnx::proto::*;
    use prost::Message;

    /// A tensor shape with static sizes (`None`: the symbolic `N`).
    pub fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TensorTypeProto {
                    elem_type: 1,
                    shape: Some(TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|d| Dimension {
                                dim_value: *d,
                                dim_param: d.is_none().then(|| "N".to_string()),
                            })
                            .collect(),
                    }),
                }),
            }),
        }
    }

    /// A node `op` named `name` from `inputs` to `outputs`, with int-list
    /// attributes.
    pub fn node(
        name: &str,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        ints: &[(&str, &[i64])],
    ) -> NodeProto {
        NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: name.into(),
            op_type: op.into(),
            attribute: ints
                .iter()
                .map(|(n, v)| AttributeProto {
                    name: n.to_string(),
                    ints: v.to_vec(),
                    ..Default::default()
                })
                .collect(),
            domain: String::new(),
        }
    }

    /// The encoded model of `nodes` with graph inputs `inputs` (data first,
    /// then weights) and output `output`.
    pub fn model(nodes: Vec<NodeProto>, inputs: Vec<ValueInfoProto>, output: &str) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            graph: Some(GraphProto {
                node: nodes,
                name: "g".into(),
                initializer: Vec::new(),
                input: inputs,
                output: vec![value(output, &[None, Some(10)])],
                value_info: Vec::new(),
            }),
        }
        .encode_to_vec()
    }

    /// A one-layer network `input[N, 16] → Gemm(10)` with an extra node
    /// `extra` (op, inputs, outputs) whose output is the graph output.
    pub fn dense_with(
        extra: Option<(&str, &[&str], &[&str])>,
        input_dims: &[Option<i64>],
    ) -> Vec<u8> {
        let mut nodes = vec![node("fc", "Gemm", &["x", "w", "b"], &["y"], &[])];
        let mut out = "y";
        if let Some((op, i, o)) = extra {
            nodes.push(node("extra", op, i, o, &[]));
            out = o[0];
        }
        let inputs = vec![
            value("x", input_dims),
            value("w", &[Some(16), Some(10)]),
            value("b", &[Some(10)]),
        ];
        model(nodes, inputs, out)
    }
}

/// The networks a count test runs `rule` on: `dense`, and `conv` where the
/// rule trains conv networks; GAIT-prop, whose hidden layers must be square
/// with the input, gets `16,16,16,4` instead.
pub fn nets_for(
    rule: locus::rules::Rule,
    dense: &'static str,
    conv: &'static str,
) -> Vec<&'static str> {
    match rule {
        locus::rules::Rule::Gaitprop(_) => vec!["16,16,16,4"],
        r if r.trains_cnns() => vec![dense, conv],
        _ => vec![dense],
    }
}

/// The batch sizes a count test runs `rule` at: 1 and 3, or 3 alone for a
/// rule that needs a batch (predsim).
pub fn batches_for(rule: locus::rules::Rule) -> &'static [usize] {
    if rule.needs_batch() { &[3] } else { &[1, 3] }
}

/// A small synthetic dataset in memory: 4 classes of `len` pixels, 60
/// training and 20 test samples, noise 30, from `seed` (count tests need
/// few samples; their values do not change a count).
pub fn four_classes(len: usize, seed: u64) -> (locus::data::Dataset, locus::data::Dataset) {
    locus::data::generate(&locus::data::SyntheticSpec {
        classes: 4,
        sample_len: len,
        train: 60,
        test: 20,
        noise: 30,
        seed,
    })
    .expect("synthetic data")
}

/// A shipped model, `hw_models/<name>`.
pub fn shipped_model(name: &str) -> locus::hw::model::HwModel {
    locus::hw::model::load(&root().join("hw_models").join(name)).expect("model loads")
}

/// A count test's configuration: 12 samples of one epoch at `batch`,
/// `lr = 2^-6`, seed 1.
pub fn count_config(
    rule: locus::rules::Rule,
    net: locus::hw::core::NetSpec,
    batch: usize,
) -> locus::sim::TrainConfig {
    locus::sim::TrainConfig {
        lr: 1.0 / 64.0,
        train_limit: Some(12),
        batch,
        ..locus::sim::TrainConfig::new(rule, net, 1)
    }
}

/// Trains `c` on `m` with dataset `d` (training, test), no progress.
pub fn train_run(
    m: &locus::hw::model::HwModel,
    c: &locus::sim::TrainConfig,
    d: &(locus::data::Dataset, locus::data::Dataset),
) -> Result<locus::sim::RunResult, locus::sim::SimError> {
    locus::sim::run(m, c, &d.0, &d.1, &mut |_, _| {}).map(|(r, _)| r)
}

/// The hidden activation a count test gives `rule`: leaky ReLU where the
/// rule needs it (GAIT-prop, predsim), ReLU otherwise.
pub fn count_activation(rule: locus::rules::Rule) -> locus::hw::datapath::Activation {
    use locus::hw::datapath::Activation;
    use locus::rules::Rule;
    match rule {
        Rule::Gaitprop(_) | Rule::Predsim => Activation::LeakyRelu,
        _ => Activation::Relu,
    }
}

/// Trains every rule on its count networks (dense `16,12,8,4`, conv
/// `1x4x4,conv3x3x2p1,maxpool2,4`) at its batch sizes, on model `a` and on
/// model `b` with the same data (seed `seed`), and hands both runs to
/// `check` with a label naming the case.
pub fn each_rule_on_both(
    a: &locus::hw::model::HwModel,
    b: &locus::hw::model::HwModel,
    seed: u64,
    mut check: impl FnMut(&str, locus::sim::RunResult, locus::sim::RunResult),
) {
    let d = four_classes(16, seed);
    for rule in locus::rules::Rule::every() {
        for text in nets_for(rule, "16,12,8,4", "1x4x4,conv3x3x2p1,maxpool2,4") {
            let net = locus::hw::core::NetSpec::parse(text, count_activation(rule)).unwrap();
            for &batch in batches_for(rule) {
                let c = count_config(rule, net.clone(), batch);
                let label = format!("{} {text} batch {batch}", rule.label());
                let ra = train_run(a, &c, &d).unwrap();
                let rb = train_run(b, &c, &d).unwrap();
                check(&label, ra, rb);
            }
        }
    }
}
