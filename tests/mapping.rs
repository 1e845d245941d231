//! Mapping onto `N` cores (`"mapping": {"cores": N}`, `docs/hw_model.md`,
//! "Mapping onto N cores"): the greedy rule's assignment in closed form;
//! one core of `N = 1` counts as the shared core and `N` equal layers on
//! `N` cores as one core per layer, for every rule; a mixed assignment's
//! per-core work is the sum of its layers' and its link words are those of
//! the layer boundaries that cross cores; ResNet-50 maps onto 4 cores of
//! 2 MiB with its weights streamed, for every rule (estimate = train is
//! checked on 2 cores in `tests/estimate.rs`).

mod common;

use common::{four_classes, locus, ok, root, s};
use locus::data::Dataset;
use locus::hw::core::{NetSpec, layer_cores};
use locus::hw::counters::{Class, Phase, Rw, Unit};
use locus::hw::datapath::Activation;
use locus::hw::model::{HwModel, Mapping};
use locus::rules::{BpPolicy, Rule};
use locus::sim::{RunResult, TrainConfig, run};
use serde_json::Value;

fn model(mapping: Mapping) -> HwModel {
    let path = root().join("hw_models/feedback-rom.json");
    let mut m = locus::hw::model::load(&path).expect("model loads");
    m.mapping = mapping;
    m
}

fn data(len: usize) -> (Dataset, Dataset) {
    four_classes(len, 3)
}

fn train(m: &HwModel, rule: Rule, text: &str, batch: usize, d: &(Dataset, Dataset)) -> RunResult {
    let act = match rule {
        Rule::Gaitprop(_) | Rule::Predsim => Activation::LeakyRelu,
        _ => Activation::Relu,
    };
    let c = TrainConfig {
        lr: 1.0 / 64.0,
        train_limit: Some(9),
        ..TrainConfig::new(rule, NetSpec::parse(text, act).unwrap(), batch)
    };
    run(m, &c, &d.0, &d.1, &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{} {text}: {e}", rule.label()))
        .0
}

fn batch(rule: Rule) -> usize {
    if rule.needs_batch() { 3 } else { 1 }
}

#[test]
fn the_greedy_rule_gives_each_core_its_share_of_the_weights() {
    let m = model(Mapping::Cores(2));
    // 16-bit weights in 512-bit words: layers of 16·17 = 272 values (9
    // words), 4·17 = 68 (3 words), 16·5 = 80 (3 words): T = 15; P = 0, 9,
    // 12: floor(2·P/15) = 0, 1, 1.
    let net = NetSpec::parse("16,16,4,16", Activation::Relu).unwrap();
    assert_eq!(layer_cores(&m, &net).unwrap(), vec![0, 1, 1]);
    // More cores than layers: some stay empty; fewer: contiguous runs.
    assert_eq!(
        layer_cores(&model(Mapping::Cores(8)), &net).unwrap(),
        vec![0, 4, 6]
    );
    assert_eq!(
        layer_cores(&model(Mapping::Cores(1)), &net).unwrap(),
        vec![0, 0, 0]
    );
    let even = NetSpec::parse("16,16,16,16,16", Activation::Relu).unwrap();
    assert_eq!(
        layer_cores(&model(Mapping::Cores(2)), &even).unwrap(),
        vec![0, 0, 1, 1]
    );
    assert_eq!(
        layer_cores(&model(Mapping::Cores(4)), &even).unwrap(),
        vec![0, 1, 2, 3]
    );
}

/// `N = 1` is the shared core and `N` equal layers on `N` cores one core
/// per layer, count for count, for every rule.
#[test]
fn one_core_is_the_shared_core_and_one_layer_per_core_is_core_per_layer() {
    let d = data(16);
    let d_conv = data(36);
    for rule in Rule::every() {
        let b = batch(rule);
        let a = train(&model(Mapping::SharedCore), rule, "16,16,16,16", b, &d);
        let c = train(&model(Mapping::Cores(1)), rule, "16,16,16,16", b, &d);
        assert_eq!(a.counts, c.counts, "{} shared", rule.label());
        let a = train(&model(Mapping::CorePerLayer), rule, "16,16,16,16", b, &d);
        let c = train(&model(Mapping::Cores(3)), rule, "16,16,16,16", b, &d);
        assert_eq!(a.counts, c.counts, "{} per layer", rule.label());
        if rule.trains_cnns() {
            let net = "1x6x6,conv3x3x4p1,maxpool2,conv3x3x4p1,4";
            let a = train(&model(Mapping::SharedCore), rule, net, b, &d_conv);
            let c = train(&model(Mapping::Cores(1)), rule, net, b, &d_conv);
            assert_eq!(a.counts, c.counts, "{} conv shared", rule.label());
        }
    }
}

/// Four equal layers on two cores ([0, 0, 1, 1]): each core's MACs and
/// weight-bank words are the sum of its layers' (from the one-core-per-
/// layer run), and the link carries the label to each core and, per
/// sample, the activations across the one boundary between cores (local)
/// — or, for backprop, also the error back across it.
#[test]
fn two_cores_do_their_layers_work_and_link_only_across_cores() {
    let d = data(16);
    let net = "16,16,16,16,16";
    let w_noc = model(Mapping::CorePerLayer).interconnect.word_bits;
    let words16 = |n: u64| (n * 16).div_ceil(w_noc as u64);
    for rule in [Rule::Local, Rule::Bp(BpPolicy::Spill)] {
        let per = train(&model(Mapping::CorePerLayer), rule, net, 1, &d);
        let two = train(&model(Mapping::Cores(2)), rule, net, 1, &d);
        assert_eq!(two.counts.len(), 2);
        let s = two.samples;
        for (core, layers) in [(0, [0, 1]), (1, [2, 3])] {
            let label = format!("{} core {core}", rule.label());
            for p in Phase::ALL {
                let sum: u64 = layers.iter().map(|&l| per.counts[l].macs[p.index()]).sum();
                assert_eq!(two.counts[core].macs[p.index()], sum, "{label} {p}");
                for rw in Rw::ALL {
                    let get = |c: &locus::hw::counters::CoreCounts| {
                        c.get_words(Unit::Weight, Class::Weight, *p, *rw)
                    };
                    let sum: u64 = layers.iter().map(|&l| get(&per.counts[l])).sum();
                    assert_eq!(get(&two.counts[core]), sum, "{label} {p} {rw}");
                }
            }
        }
        let hops: u64 = two.counts.iter().flat_map(|c| c.noc_word_hops).sum();
        let crossing = s * words16(16); // the activation of layer 1 → 2
        let want = match rule {
            // The label to both cores, and the activations once forward.
            Rule::Local => s * 2 * words16(1) + crossing,
            // The label to the last core, activations forward, the error
            // of layer 1 back.
            _ => s * words16(1) + 2 * crossing,
        };
        assert_eq!(hops, want, "{}", rule.label());
    }
}

/// ResNet-50 (the zoo's ONNX file) on `hw_models/four-core-2mib.json`, 4
/// cores of 2 MiB weight banks with its weights streamed: every rule that
/// trains residual networks is estimated, its report has 4 cores, each with
/// layers, and DRAM weight traffic in the forward and update passes.
#[test]
fn resnet50_maps_onto_four_cores_of_two_mib() {
    let tmp = tempfile::tempdir().unwrap();
    let path = root().join("hw_models/four-core-2mib.json");
    let out = tmp.path().join("e.json");
    let csv = tmp.path().join("e.csv");
    let net = root().join("nets/resnet50.onnx");
    let args = [
        "estimate",
        "--net",
        s(&net),
        "--model",
        s(&path),
        "--rules",
        "local,local-learned,drtp,dfa,bp",
        "--samples",
        "10",
        "--out",
        s(&out),
        "--csv",
        s(&csv),
    ];
    let text = ok(&locus(&args), "estimate");
    let rep: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let runs = rep["runs"].as_array().unwrap();
    // bp's stash policy cannot hold a sample's inputs in 2 MiB: reported
    // as not run, the other six run.
    assert_eq!(runs.len(), 6, "{text}");
    let infeasible = rep["infeasible"].as_array().unwrap();
    assert_eq!(infeasible.len(), 1, "{text}");
    assert_eq!(infeasible[0]["rule"], "bp/stash");
    for r in runs {
        let rule = r["run"]["config"]["rule"].to_string();
        let cores = r["measured"]["cores"].as_array().unwrap();
        assert_eq!(cores.len(), 4, "{rule}");
        let by_class = r["measured"]["totals"]["dram_bytes_by_class"]
            .as_array()
            .unwrap();
        let weight = by_class.iter().find(|c| c[0] == "weight").unwrap();
        assert!(weight[1]["read"].as_u64().unwrap() > 0, "{rule}");
        assert!(weight[1]["write"].as_u64().unwrap() > 0, "{rule}");
        for c in cores {
            assert!(c["streamed_weight_words"].as_u64().unwrap() > 0, "{rule}");
            // DRAM read in the forward and update passes on every core.
            assert!(c["dram_bytes"][0][0].as_u64().unwrap() > 0, "{rule}");
            assert!(c["dram_bytes"][3][0].as_u64().unwrap() > 0, "{rule}");
        }
    }
    // The CSV names each core's run of layers; all 50 weight layers (49
    // convolutions, projections inside their blocks, and the classifier)
    // once.
    let csv = std::fs::read_to_string(&csv).unwrap();
    let first: Vec<&str> = csv.lines().skip(1).take(4).collect();
    let layers: usize = first
        .iter()
        .map(|l| l.split(',').nth(2).unwrap().split(' ').count())
        .sum();
    assert_eq!(layers, 50, "{csv}");
}

/// An explicit `layer_cores` list counts as the greedy rule when they
/// agree, for every rule; a list that does not name every layer is refused
/// naming the field.
#[test]
fn an_explicit_layer_list_maps_as_listed() {
    let d = data(16);
    let net = "16,16,16,16,16";
    let listed = model(Mapping::LayerCores(vec![0, 0, 1, 1]));
    for rule in Rule::every() {
        let b = batch(rule);
        let a = train(&model(Mapping::Cores(2)), rule, net, b, &d);
        let c = train(&listed, rule, net, b, &d);
        assert_eq!(a.counts, c.counts, "{}", rule.label());
    }
    // Another split than the greedy rule's: the last layer alone.
    let other = model(Mapping::LayerCores(vec![0, 0, 0, 2]));
    let r = train(&other, Rule::Local, net, 1, &d);
    assert_eq!(r.counts.len(), 3);
    assert_eq!(r.counts[1].macs, [0; 4], "core 1 holds no layer");
    let n = NetSpec::parse(net, Activation::Relu).unwrap();
    assert_eq!(layer_cores(&other, &n).unwrap(), vec![0, 0, 0, 2]);
    let short = model(Mapping::LayerCores(vec![0, 1]));
    let e = layer_cores(&short, &n).unwrap_err().to_string();
    assert!(
        e.contains("mapping.layer_cores names 2 layers") && e.contains("4 weight layers"),
        "{e}"
    );
}
