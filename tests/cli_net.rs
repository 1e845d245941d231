//! `--net FILE` run as a user would: the zoo's ONNX files give the forward
//! MACs that their generator computed from its own graph (and the published
//! figures); an ONNX file and the `--layers` text of the same network give
//! the same report; what the reader cannot read yet is refused naming the
//! node.

mod common;

use common::{locus, ok, s, user_error};
use serde_json::Value;

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Forward-pass MACs of one sample of `net` under `estimate`.
fn forward_macs(net: &str) -> u64 {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("e.json");
    ok(
        &locus(&[
            "estimate",
            "--model",
            "hw_models/large.json",
            "--net",
            net,
            "--rules",
            "local",
            "--samples",
            "1",
            "--out",
            s(&json),
        ]),
        net,
    );
    let report = read(&json);
    report["runs"][0]["measured"]["cores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["macs"][0].as_u64().unwrap())
        .sum()
}

/// The per-sample forward MACs `scripts/make_nets.py` prints for each
/// file (O·(I/group)·k·k·Hout·Wout per Conv, in·out per Gemm, from the graph
/// it built), and the published figure where there is one (1 %).
#[test]
fn zoo_forward_macs_match_the_generator_and_the_published_counts() {
    for (net, macs, published) in [
        ("nets/lenet5.onnx", 416_520u64, None),
        ("nets/mnist_cnn.onnx", 1_054_720, None),
        ("nets/vgg8.onnx", 949_364_736, None),
        ("nets/vgg16.onnx", 15_470_264_320, Some(15.5e9)),
        // Depthwise convolutions; the 7x7 global average adds one
        // reciprocal multiply per output (1024), which the generator's
        // Conv/Gemm count leaves out.
        ("nets/mobilenet_v1.onnx", 568_740_352 + 1024, Some(569e6)),
        // Residual blocks with their projections; the 7x7 global average's
        // reciprocal multiplies again (512, 2048).
        ("nets/resnet18.onnx", 1_814_073_344 + 512, Some(1.8e9)),
        ("nets/resnet50.onnx", 4_089_184_256 + 2048, Some(4.1e9)),
    ] {
        let got = forward_macs(net);
        assert_eq!(got, macs, "{net}");
        if let Some(p) = published {
            assert!((got as f64 / p - 1.0).abs() < 0.01, "{net}: {got}");
        }
    }
}

/// The counted part of a report (the config echo differs only in how the
/// network was given, which it does not record).
fn counted(report: &Value) -> Value {
    let mut r = report.clone();
    r.as_object_mut().unwrap().remove("version");
    r
}

#[test]
fn an_onnx_file_and_its_layer_text_give_the_same_report() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |how: &[&str], out: &str| {
        let json = tmp.path().join(out);
        let mut args = vec![
            "estimate",
            "--rules",
            "local,bp,dfa",
            "--batch",
            "4",
            "--samples",
            "100",
            "--out",
            s(&json),
        ];
        args.extend(how);
        ok(&locus(&args), out);
        read(&json)
    };
    let onnx = run(&["--net", "nets/mnist_cnn.onnx"], "onnx.json");
    let text = run(
        &[
            "--layers",
            "1x28x28,conv5x5x16,maxpool2,conv5x5x32,maxpool2,10",
        ],
        "text.json",
    );
    assert_eq!(counted(&onnx), counted(&text));
    // A file holding the layer text is read as --layers.
    let file = tmp.path().join("cnn.txt");
    std::fs::write(
        &file,
        "1x28x28,conv5x5x16,maxpool2,conv5x5x32,maxpool2,10\n",
    )
    .unwrap();
    let from_file = run(&["--net", s(&file)], "file.json");
    assert_eq!(counted(&from_file), counted(&text));
    // So is a SCALE-Sim topology whose rows chain (2x2 max pools between
    // rows, the classifier as a 1x1 filter on a 1x1 IFMAP).
    let topo = tmp.path().join("cnn.csv");
    std::fs::write(
        &topo,
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n\
         conv1,28,28,5,5,1,16,1,\n\
         conv2,12,12,5,5,16,32,1,\n\
         fc,1,1,1,1,512,10,1,\n",
    )
    .unwrap();
    let csv = run(&["--net", s(&topo)], "csv.json");
    let text = run(
        &[
            "--layers",
            "1x28x28,conv5x5x16,maxpool2,conv5x5x32,maxpool2,10",
        ],
        "text2.json",
    );
    assert_eq!(counted(&csv), counted(&text));
}

/// The per-core CSV names each core's layer: the ONNX node names.
#[test]
fn the_csv_names_each_layer_by_its_node() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("e.csv");
    let args = [
        "estimate",
        "--net",
        "nets/lenet5.onnx",
        "--rules",
        "local",
        "--samples",
        "1",
    ];
    let mut args = args.to_vec();
    args.extend(["--csv", s(&csv)]);
    ok(&locus(&args), "lenet5");
    let text = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "layers").unwrap();
    let names: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap().to_string())
        .collect();
    assert_eq!(names, ["conv1", "conv2", "fc1", "fc2", "fc3"]);
}

#[test]
fn batch_norm_is_folded_and_the_softmax_ignored_with_a_note() {
    for (net, note) in [
        ("nets/vgg8.onnx", "6 BatchNormalization node(s) folded"),
        ("nets/vgg16.onnx", "Softmax at the output ignored"),
    ] {
        let out = locus(&[
            "estimate",
            "--net",
            net,
            "--rules",
            "local",
            "--samples",
            "1",
            "--model",
            "hw_models/large.json",
        ]);
        let err = common::text(&out.stderr);
        assert!(out.status.success() && err.contains(note), "{net}: {err}");
    }
}

/// ResNet-18's ONNX file reads as its layer text: a `resN` token after
/// each block's last conv (`resNp` where a 1x1 downsample projects the skip),
/// and both give the same report.
#[test]
fn resnet18_reads_as_its_residual_layer_text() {
    let text = "3x224x224,conv7x7x64s2p3,maxpool3s2p1,\
        conv3x3x64p1,conv3x3x64p1,res2,conv3x3x64p1,conv3x3x64p1,res2,\
        conv3x3x128s2p1,conv3x3x128p1,res2p,conv3x3x128p1,conv3x3x128p1,res2,\
        conv3x3x256s2p1,conv3x3x256p1,res2p,conv3x3x256p1,conv3x3x256p1,res2,\
        conv3x3x512s2p1,conv3x3x512p1,res2p,conv3x3x512p1,conv3x3x512p1,res2,avgpool7,1000";
    let tmp = tempfile::tempdir().unwrap();
    let run = |how: &[&str], out: &str| {
        let json = tmp.path().join(out);
        let mut args = vec![
            "estimate",
            "--model",
            "hw_models/large.json",
            "--rules",
            "local,bp",
            "--batch",
            "2",
            "--samples",
            "10",
            "--out",
            s(&json),
        ];
        args.extend(how);
        let o = locus(&args);
        assert!(o.status.success(), "{}", common::text(&o.stderr));
        (read(&json), common::text(&o.stderr))
    };
    let (onnx, err) = run(&["--net", "nets/resnet18.onnx"], "onnx.json");
    assert!(err.contains(text), "{err}");
    let (layers, _) = run(&["--layers", text], "text.json");
    assert_eq!(counted(&onnx), counted(&layers));
}

/// A small residual graph built by hand: a stem conv, then a block of two
/// convs whose input is also read by a 1x1 projection (listed before the
/// block's first conv), joined by `Add` before the ReLU.
fn residual_graph(skip: &str, add_after_relu: bool) -> Vec<u8> {
    use common::onnx::{node, value};
    let p1 = &[("pads", &[1i64, 1, 1, 1][..])];
    let mut nodes = vec![
        node("stem", "Conv", &["x", "w0", "b0"], &["s"], p1),
        node("stem.relu", "Relu", &["s"], &["a"], &[]),
    ];
    let mut inputs = vec![
        value("x", &[None, Some(1), Some(4), Some(4)]),
        value("w0", &[Some(2), Some(1), Some(3), Some(3)]),
        value("b0", &[Some(2)]),
        value("w1", &[Some(3), Some(2), Some(3), Some(3)]),
        value("w2", &[Some(3), Some(3), Some(3), Some(3)]),
        value("fw", &[Some(48), Some(10)]),
    ];
    let side = match skip {
        "projection" => {
            nodes.push(node("down", "Conv", &["a", "wd"], &["d"], &[]));
            inputs.push(value("wd", &[Some(3), Some(2), Some(1), Some(1)]));
            "d"
        }
        _ => {
            // A 3x3 conv on the skip: a branch, but not a residual block.
            nodes.push(node("down", "Conv", &["a", "wd"], &["d"], p1));
            inputs.push(value("wd", &[Some(3), Some(2), Some(3), Some(3)]));
            "d"
        }
    };
    nodes.push(node("conv1", "Conv", &["a", "w1"], &["c1"], p1));
    nodes.push(node("relu1", "Relu", &["c1"], &["r1"], &[]));
    nodes.push(node("conv2", "Conv", &["r1", "w2"], &["c2"], p1));
    if add_after_relu {
        nodes.push(node("relu2", "Relu", &["c2"], &["r2"], &[]));
        nodes.push(node("add", "Add", &["r2", side], &["y2"], &[]));
    } else {
        nodes.push(node("add", "Add", &["c2", side], &["z"], &[]));
        nodes.push(node("relu2", "Relu", &["z"], &["y2"], &[]));
    }
    nodes.push(node("flat", "Flatten", &["y2"], &["f"], &[]));
    nodes.push(node("fc", "Gemm", &["f", "fw"], &["y"], &[]));
    common::onnx::model(nodes, inputs, "y")
}

/// A residual block in ONNX becomes a `resNp` token; an Add after the
/// block's activation, or a skip path through a 3x3 conv, is refused naming
/// the node.
#[test]
fn onnx_residual_blocks_are_read_or_refused_naming_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: Vec<u8>| {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let good = write("good.onnx", residual_graph("projection", false));
    let out = locus(&["estimate", "--net", s(&good), "--samples", "1"]);
    let err = common::text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("1x4x4,conv3x3x2p1,conv3x3x3p1,conv3x3x3p1,res2p,10"),
        "{err}"
    );
    let late = write("late.onnx", residual_graph("projection", true));
    let msg = user_error(&locus(&["estimate", "--net", s(&late)]), "late.onnx");
    assert!(
        msg.contains("node \"add\" (Add)") && msg.contains("before the activation"),
        "{msg}"
    );
    let wide = write("wide.onnx", residual_graph("3x3", false));
    let msg = user_error(&locus(&["estimate", "--net", s(&wide)]), "wide.onnx");
    assert!(
        msg.contains("tensor \"a\"") && msg.contains("do not form a residual block"),
        "{msg}"
    );
}

#[test]
fn input_sizes_fill_in_what_the_file_leaves_open_and_must_agree_with_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    // A dense network whose feature size is symbolic cannot be given --input.
    let open = tmp.path().join("open.onnx");
    std::fs::write(&open, common::onnx::dense_with(None, &[None, None])).unwrap();
    let msg = user_error(&locus(&["estimate", "--net", s(&open)]), "symbolic");
    assert!(msg.contains("symbolic feature size"), "{msg}");
    // The MNIST CNN fixes 1x28x28.
    let msg = user_error(
        &locus(&[
            "estimate",
            "--net",
            "nets/mnist_cnn.onnx",
            "--input",
            "3x32x32",
        ]),
        "disagreeing --input",
    );
    assert!(
        msg.contains("--input gives 3x32x32") && msg.contains("1x28x28"),
        "{msg}"
    );
    let out = locus(&["estimate", "--input", "3x32x32"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::text(&out.stderr).contains("--net <FILE>"));
    let msg = user_error(
        &locus(&[
            "estimate",
            "--net",
            "nets/vgg8.onnx",
            "--activation",
            "hard-tanh",
        ]),
        "activation",
    );
    assert!(msg.contains("relu") && msg.contains("hard-tanh"), "{msg}");
}

/// The flatten exporters write for `x.view(x.size(0), -1)`: `Shape` →
/// `Gather` → `Unsqueeze` → `Concat` → `Reshape`. The shape computation is
/// free and not a branch; the flatten is read from the declared output
/// shape, and without one the error says how to get it.
#[test]
fn a_flatten_computed_from_the_input_shape_is_read() {
    use common::onnx::{node, value};
    use locus::net::onnx::proto::{GraphProto, ModelProto, TensorProto};
    use prost::Message;
    let int64 = |name: &str, v: &[i64]| TensorProto {
        dims: vec![v.len() as i64],
        data_type: 7,
        int64_data: v.to_vec(),
        name: name.into(),
        raw_data: Default::default(),
    };
    let model = |declare: bool| {
        let nodes = vec![
            node(
                "conv",
                "Conv",
                &["x", "w", "b"],
                &["c"],
                &[("pads", &[1, 1, 1, 1])],
            ),
            node("relu", "Relu", &["c"], &["r"], &[]),
            node("shape", "Shape", &["r"], &["s"], &[]),
            node("gather", "Gather", &["s", "zero"], &["n"], &[]),
            node("unsq", "Unsqueeze", &["n", "axes"], &["n1"], &[]),
            node("concat", "Concat", &["n1", "minus1"], &["t"], &[]),
            node("flat", "Reshape", &["r", "t"], &["f"], &[]),
            node("fc", "Gemm", &["f", "fw", "fb"], &["y"], &[]),
        ];
        ModelProto {
            ir_version: 8,
            graph: Some(GraphProto {
                node: nodes,
                name: "g".into(),
                initializer: vec![
                    int64("zero", &[0]),
                    int64("axes", &[0]),
                    int64("minus1", &[-1]),
                ],
                input: vec![
                    value("x", &[None, Some(1), Some(4), Some(4)]),
                    value("w", &[Some(2), Some(1), Some(3), Some(3)]),
                    value("b", &[Some(2)]),
                    value("fw", &[Some(32), Some(10)]),
                    value("fb", &[Some(10)]),
                ],
                output: vec![value("y", &[None, Some(10)])],
                value_info: if declare {
                    vec![value("f", &[None, Some(32)])]
                } else {
                    Vec::new()
                },
            }),
        }
        .encode_to_vec()
    };
    let tmp = tempfile::tempdir().unwrap();
    let (good, bare) = (tmp.path().join("good.onnx"), tmp.path().join("bare.onnx"));
    std::fs::write(&good, model(true)).unwrap();
    std::fs::write(&bare, model(false)).unwrap();
    let out = locus(&["estimate", "--net", s(&good), "--samples", "1"]);
    let err = common::text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("1x4x4,conv3x3x2p1,10"), "{err}");
    let msg = user_error(&locus(&["estimate", "--net", s(&bare)]), "bare");
    assert!(
        msg.contains("node \"flat\" (Reshape)") && msg.contains("shape_inference"),
        "{msg}"
    );
}

/// A file with its weights (here 64 MiB, which is mapped rather than read)
/// gives the same report as the same network with its weights stripped.
#[test]
fn a_file_with_its_weights_reads_as_the_stripped_one() {
    use common::onnx::{node, value};
    use locus::net::onnx::proto::{GraphProto, ModelProto, TensorProto};
    use prost::Message;
    let n = 4096i64;
    let model = |weights: bool| {
        let w = TensorProto {
            dims: vec![n, n],
            data_type: 1,
            int64_data: Vec::new(),
            name: "w".into(),
            raw_data: vec![0u8; (n * n * 4) as usize].into(),
        };
        let mut inputs = vec![value("x", &[None, Some(n)])];
        if !weights {
            inputs.push(value("w", &[Some(n), Some(n)]));
        }
        ModelProto {
            ir_version: 8,
            graph: Some(GraphProto {
                node: vec![node("fc", "Gemm", &["x", "w"], &["y"], &[])],
                name: "g".into(),
                initializer: if weights { vec![w] } else { Vec::new() },
                input: inputs,
                output: vec![value("y", &[None, Some(n)])],
                value_info: Vec::new(),
            }),
        }
        .encode_to_vec()
    };
    let tmp = tempfile::tempdir().unwrap();
    let run = |weights: bool| {
        let file = tmp.path().join(format!("fc-{weights}.onnx"));
        let bytes = model(weights);
        assert_eq!(bytes.len() >= 64 << 20, weights);
        std::fs::write(&file, bytes).unwrap();
        let json = tmp.path().join(format!("fc-{weights}.json"));
        ok(
            &locus(&[
                "estimate",
                "--net",
                s(&file),
                "--model",
                "hw_models/large.json",
                "--rules",
                "local,bp",
                "--samples",
                "2",
                "--out",
                s(&json),
            ]),
            "fc",
        );
        counted(&read(&json))
    };
    assert_eq!(run(true), run(false));
}
