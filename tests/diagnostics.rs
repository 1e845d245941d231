//! Diagnostics read off a finished run, on runs built to trigger them: a
//! run whose training accuracy falls 5 points or more below its best epoch
//! is diagnosed (`accuracy_fell`, naming both epochs and the fix); one that
//! dips less, or keeps improving, is not. (The other diagnostics are
//! triggered by real runs in `tests/cli_train.rs`.)

use locus::hw::core::NetSpec;
use locus::hw::counters::CoreCounts;
use locus::hw::datapath::Activation;
use locus::report::RunReport;
use locus::rules::Rule;
use locus::sim::{Arith, EpochResult, RunResult, TrainConfig};
use std::path::Path;

/// A finished fixed-point run of 16-8-4 (two cores, no counts) whose
/// epochs reached these training accuracies.
fn run_with(train: &[f64]) -> RunReport {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
    let model = locus::hw::model::load(&path).expect("default model loads");
    let epochs = train
        .iter()
        .enumerate()
        .map(|(i, &a)| EpochResult {
            epoch: i as u32 + 1,
            train_accuracy: a,
            test_accuracy: a,
        })
        .collect();
    let result = RunResult {
        config: TrainConfig {
            rule: Rule::Local,
            net: NetSpec::dense(vec![16, 8, 4], Activation::Relu),
            epochs: train.len() as u32,
            batch: 1,
            lr: 1.0 / 128.0,
            seed: 1,
            arith: Arith::Fixed,
            train_limit: None,
            test_limit: None,
        },
        lr_shift: 7,
        lr_realised: 1.0 / 128.0,
        epochs,
        samples: 1,
        counts: vec![CoreCounts::default(); 2],
        datapath_lfsr_draws: 0,
        overflow: Default::default(),
        update_rounding: Default::default(),
        train_seconds: 0.0,
        watch: Vec::new(),
        unchanged_layers: Vec::new(),
        error_writes: Vec::new(),
    };
    RunReport::new(&model, &result).expect("report")
}

fn kinds(r: &RunReport) -> Vec<&str> {
    r.run.diagnostics.iter().map(|d| d.kind.as_str()).collect()
}

#[test]
fn a_run_that_unlearns_is_diagnosed_and_one_that_dips_is_not() {
    let fell = run_with(&[0.80, 0.90, 0.88, 0.84]);
    assert_eq!(kinds(&fell), ["accuracy_fell"]);
    let d = &fell.run.diagnostics[0];
    assert!((d.figure - 0.06).abs() < 1e-12, "{}", d.figure);
    assert_eq!(d.threshold, 0.05);
    assert!(
        d.message
            .contains("from 90.00 % (epoch 2) to 84.00 % (epoch 4)")
            && d.message.contains("stochastically")
            && d.message.contains("train for 2 epoch(s)"),
        "{}",
        d.message
    );
    assert!(kinds(&run_with(&[0.80, 0.90, 0.86])).is_empty());
    assert!(kinds(&run_with(&[0.50, 0.70, 0.90])).is_empty());
    assert!(kinds(&run_with(&[])).is_empty());
}
