//! Determinism across thread counts: the same trainings run side by side on
//! a pool of 1 thread and on a pool of 2 threads (as `compare` and `sweep`
//! run them) give bit-identical final weights, counts, accuracies and
//! reports. Stochastic rounding (edge-small's 8-bit stochastic weights and
//! updates) is included, so any LFSR shared between threads would show.
//!
//! Byte-identical trace files for the same seed are checked in
//! `tests/trace.rs` (`same_seed_gives_identical_trace_files`) and golden
//! vectors in `tests/trace_golden.rs`.

use locus::data::{SyntheticSpec, generate};
use locus::hw::core::NetSpec;
use locus::hw::datapath::Activation;
use locus::hw::model::{HwModel, load};
use locus::report::RunReport;
use locus::rules::{BpPolicy, Rule};
use locus::sim::{self, Arith, TrainConfig};
use rayon::prelude::*;
use std::path::Path;

fn model(name: &str) -> HwModel {
    load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("hw_models/{name}.json")))
        .expect("shipped model loads")
}

/// Everything a run produces, with the weights as raw `f64` bits and the
/// report as JSON text without its host timing.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    label: String,
    weight_bits: Vec<u64>,
    report: String,
}

fn outcome(
    m: &HwModel,
    cfg: &TrainConfig,
    data: &(locus::data::Dataset, locus::data::Dataset),
) -> Outcome {
    let (result, params) = sim::run(m, cfg, &data.0, &data.1, &mut |_, _| {}).expect("trains");
    let weight_bits = params
        .iter()
        .flat_map(|(w, b)| w.iter().chain(b))
        .map(|x| x.to_bits())
        .collect();
    let mut report =
        serde_json::to_value(RunReport::new(m, &result).expect("counts fit")).expect("report json");
    report["run"]
        .as_object_mut()
        .expect("run object")
        .remove("train_seconds")
        .expect("train_seconds present");
    Outcome {
        label: format!("{} {} {:?}", m.name, cfg.rule.label(), cfg.arith),
        weight_bits,
        report: report.to_string(),
    }
}

#[test]
fn trainings_on_1_and_2_threads_are_bit_identical() {
    let data = generate(&SyntheticSpec {
        classes: 4,
        sample_len: 16,
        train: 120,
        test: 40,
        noise: 50,
        seed: 3,
    })
    .expect("synthetic data");
    let models = [model("default"), model("edge-small")];
    let mut jobs = Vec::new();
    for m in &models {
        for rule in [
            Rule::Local,
            Rule::Bp(BpPolicy::Stash),
            Rule::Bp(BpPolicy::Spill),
            Rule::Bp(BpPolicy::Recompute),
        ] {
            for arith in [Arith::Fixed, Arith::F32] {
                let cfg = TrainConfig {
                    rule,
                    net: NetSpec::dense(vec![16, 24, 12, 4], Activation::Relu),
                    epochs: 2,
                    batch: 3,
                    lr: 1.0 / 16.0,
                    seed: 11,
                    arith,
                    train_limit: None,
                    test_limit: None,
                    lr_schedule: Default::default(),
                    momentum: 0.0,
                };
                jobs.push((m, cfg));
            }
        }
    }
    let on = |threads: usize| -> Vec<Outcome> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
            .install(|| {
                jobs.par_iter()
                    .map(|(m, cfg)| outcome(m, cfg, &data))
                    .collect()
            })
    };
    let (one, two) = (on(1), on(2));
    assert_eq!(one.len(), 16);
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(a, b, "{}", a.label);
    }
    // The runs differ from each other, so equality above is not vacuous.
    for (k, a) in one.iter().enumerate() {
        for b in &one[k + 1..] {
            assert_ne!(a.report, b.report, "{} vs {}", a.label, b.label);
        }
    }
}
