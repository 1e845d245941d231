//! `sim::estimate` (the count-only path of `locus estimate`) against
//! training: for every rule and backprop policy, batch 1, 3 and 16, dense
//! and conv networks, one core per layer and a shared core, round-to-nearest
//! and stochastic rounding, the estimate's counters, peaks, energy and
//! timing equal those of a real training run of the same samples — exactly,
//! every field of the report's counted and derived parts but those that
//! depend on values (overflow events, update rounding), which an estimate
//! leaves at zero. 35 samples per epoch over 2 epochs: the batches of 3 and
//! 16 end each epoch with a partial batch, as training chunks them.

use locus::data::{SyntheticSpec, generate};
use locus::hw::datapath::Activation;
use locus::hw::model::HwModel;
use locus::net::spec::NetSpec;
use locus::report::RunReport;
use locus::rules::Rule;
use locus::sim::{TrainConfig, estimate, run};
use serde_json::Value;

const SAMPLES: u64 = 35;

fn model(file: &str, mapping: impl Into<Value>) -> HwModel {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("hw_models")
        .join(file);
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    m["mapping"] = mapping.into();
    // Room for a batch of 16 kept errors and stashed inputs, so no rule is
    // refused (spilling is still exercised: the stash bank is kept small).
    m["sram"]["error"]["capacity_bytes"] = (1u64 << 16).into();
    m["rom"]["capacity_bytes"] = (1u64 << 20).into();
    m["sram"]["stash"]["capacity_bytes"] = 256.into();
    locus::hw::model::from_json_str(&m.to_string(), file).unwrap()
}

fn rules() -> Vec<Rule> {
    Rule::every()
}

/// The report with the value-dependent fields removed.
fn counted(model: &HwModel, r: &locus::sim::RunResult) -> Value {
    let rep = RunReport::new(model, r).unwrap();
    let mut measured = serde_json::to_value(&rep.measured).unwrap();
    let m = measured.as_object_mut().unwrap();
    m.remove("overflow");
    m.remove("update_rounding");
    m["totals"]
        .as_object_mut()
        .unwrap()
        .remove("overflow_events");
    serde_json::json!({ "measured": measured, "estimated": rep.estimated })
}

/// Trains and estimates every rule on `layers`; returns how many were
/// compared.
fn check(model: &HwModel, layers: &str, activation: Activation, inputs: usize) -> usize {
    let (train, test) = generate(&SyntheticSpec {
        classes: 4,
        sample_len: inputs,
        train: SAMPLES as usize,
        test: 4,
        noise: 30,
        seed: 5,
    })
    .unwrap();
    let net = NetSpec::parse(layers, activation).unwrap();
    let (mut compared, mut refused) = (0, 0);
    for rule in rules() {
        if net.has_conv() && !rule.trains_cnns() {
            continue;
        }
        if net.has_residual() && !rule.trains_residuals() {
            continue;
        }
        if matches!(rule, Rule::Gaitprop(_)) && activation != Activation::LeakyRelu {
            continue;
        }
        for batch in [1, 3, 16] {
            if batch == 1 && rule.needs_batch() {
                continue;
            }
            let config = TrainConfig {
                epochs: 2,
                seed: 9,
                ..TrainConfig::new(rule, net.clone(), batch)
            };
            let case = format!("{} {rule} batch {batch} on {layers}", model.name);
            let trained = run(model, &config, &train, &test, &mut |_, _| {});
            let est = estimate(model, &config, SAMPLES);
            let (trained, est) = match (trained, est) {
                (Ok((t, _)), Ok(e)) => (t, e),
                // A chip that cannot hold the run is refused by both, alike.
                (Err(t), Err(e)) => {
                    assert_eq!(e.to_string(), t.to_string(), "{case}");
                    refused += 1;
                    continue;
                }
                (t, e) => panic!("{case}: train {:?}, estimate {:?}", t.err(), e.err()),
            };
            assert_eq!(est.samples, trained.samples, "{case}");
            for (core, (a, b)) in est.counts.iter().zip(&trained.counts).enumerate() {
                assert_eq!(a, b, "{case}: core {core}");
            }
            assert_eq!(counted(model, &est), counted(model, &trained), "{case}");
            compared += 1;
        }
    }
    assert!(refused < compared, "{layers}: {refused} refused");
    compared
}

#[test]
fn estimate_equals_training_for_every_rule_policy_and_batch() {
    let mut n = 0;
    for (file, mapping) in [
        ("default.json", serde_json::json!("core_per_layer")),
        ("default.json", serde_json::json!("shared_core")),
        ("default.json", serde_json::json!({"cores": 2})),
        (
            "feedback-rom-stochastic.json",
            serde_json::json!("core_per_layer"),
        ),
    ] {
        let m = model(file, mapping.clone());
        n += check(&m, "16,16,16,4", Activation::LeakyRelu, 16);
        n += check(
            &m,
            "2x8x8,conv3x3x4p1,avgpool2,conv3x3x6,maxpool2,5",
            Activation::Relu,
            128,
        );
        n += check(
            &m,
            "1x6x6,conv3x3x4p1,maxpool2,16,4",
            Activation::HardTanh,
            36,
        );
        n += check(
            &m,
            "2x13x13,conv3x3x4s2g2,conv3x3x6p1g2,avgpool3,5",
            Activation::Relu,
            338,
        );
        n += check(
            &m,
            "1x8x8,conv3x3x4p1,maxpool3s2p1,conv3x3x4p1,maxpool2,5",
            Activation::Relu,
            64,
        );
        // Residual blocks on every mapping: a core that holds a block's
        // layers keeps the skip copy in its activation bank.
        {
            n += check(
                &m,
                "2x8x8,conv3x3x4p1,conv3x3x4p1,conv3x3x4p1,res2,conv3x3x6s2p1,conv3x3x6p1,res2p,avgpool4,5",
                Activation::Relu,
                128,
            );
            n += check(
                &m,
                "1x6x6,conv3x3x3p1,conv3x3x3p1,res1p,maxpool3s2p1,conv3x3x3p1,res1,avgpool3,4",
                Activation::HardTanh,
                36,
            );
        }
    }
    // 15 dense rules × 3 batches (predsim: 2), twice for the hard-tanh CNN's
    // 8 CNN rules, per model.
    assert!(n > 100, "only {n} cases compared");
}

#[test]
fn estimate_refuses_what_training_refuses() {
    let m = model("default.json", "core_per_layer");
    let config = |rule: &str, batch: usize, layers: &str, act: Activation| {
        let rule = Rule::expand(rule).unwrap()[0];
        TrainConfig::new(rule, NetSpec::parse(layers, act).unwrap(), batch)
    };
    for (c, want) in [
        (config("predsim", 1, "16,8,4", Activation::Relu), "batch"),
        (
            config("pepita", 1, "1x6x6,conv3x3x4p1,4", Activation::Relu),
            "conv",
        ),
        (
            config("gaitprop", 1, "16,8,4", Activation::Relu),
            "leaky-relu",
        ),
        (
            config(
                "fa",
                1,
                "1x6x6,conv3x3x4p1,conv3x3x4p1,res1,4",
                Activation::Relu,
            ),
            "residual",
        ),
    ] {
        let e = estimate(&m, &c, 10).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
    let e = estimate(&m, &config("local", 1, "16,8,4", Activation::Relu), 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("samples"), "{e}");
}
