//! Reports built from runs made by hand. A report's totals over cores never
//! wrap: two cores whose counters are each just above half of 2^64 make
//! `RunReport::new` fail with an error naming the total, and counters whose
//! sum still fits give the exact sum. A run whose training accuracy falls 5
//! points or more below its best epoch is diagnosed (`accuracy_fell`,
//! naming both epochs and the fix); one that dips less, or keeps improving,
//! is not (the other diagnostics are triggered by real runs in
//! `tests/cli_train.rs`).

use locus::hw::core::NetSpec;
use locus::hw::counters::{Class, CoreCounts, Phase, Rw, Unit};
use locus::hw::datapath::Activation;
use locus::hw::model::{HwModel, Mapping};
use locus::report::RunReport;
use locus::rules::Rule;
use locus::sim::{Arith, EpochResult, RunResult, TrainConfig};
use std::path::Path;

fn default_model() -> HwModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
    locus::hw::model::load(&path).expect("default model loads")
}

/// A finished run of a 2-layer network on two cores with these counts.
fn result(counts: Vec<CoreCounts>) -> RunResult {
    RunResult {
        config: TrainConfig {
            rule: Rule::Local,
            net: NetSpec::dense(vec![16, 8, 4], Activation::Relu),
            epochs: 1,
            batch: 1,
            lr: 1.0 / 128.0,
            seed: 1,
            arith: Arith::Fixed,
            train_limit: None,
            test_limit: None,
            lr_schedule: Default::default(),
            momentum: 0.0,
        },
        lr_shift: 7,
        lr_realised: 1.0 / 128.0,
        epochs: Vec::new(),
        samples: 1,
        counts,
        datapath_lfsr_draws: 0,
        overflow: Default::default(),
        update_rounding: Default::default(),
        train_seconds: 0.0,
        watch: Vec::new(),
        unchanged_layers: Vec::new(),
        error_writes: Vec::new(),
    }
}

/// Sets one counter of a core's counts.
type Setter = fn(&mut CoreCounts, u64);

const HALF: u64 = u64::MAX / 2; // 2^63 - 1

/// Two cores, each with `set` applied to its counts with value `v`.
fn two_cores(v: u64, set: Setter) -> Vec<CoreCounts> {
    (0..2)
        .map(|_| {
            let mut c = CoreCounts::default();
            set(&mut c, v);
            c
        })
        .collect()
}

#[test]
fn totals_over_cores_error_instead_of_wrapping() {
    let model = default_model();
    assert_eq!(model.mapping, Mapping::CorePerLayer);
    let cases: [(&str, Setter); 6] = [
        ("totals.macs", |c, v| c.macs[Phase::Forward.index()] = v),
        ("totals.interconnect_word_hops", |c, v| {
            c.noc_word_hops[Phase::Backward.index()] = v
        }),
        ("totals.dram_bytes.write", |c, v| {
            c.dram_bytes[Phase::Update.index()][Rw::Write.index()] = v
        }),
        ("totals.lfsr_draws", |c, v| {
            c.lfsr_draws[Phase::Update.index()] = v
        }),
        ("totals.rom_read_words", |c, v| {
            c.add_words(Unit::Rom, Class::Classifier, Phase::LocalError, Rw::Read, v)
        }),
        ("totals.peak_spill_bytes", |c, v| c.spill_peak_bytes = v),
    ];
    for (name, set) in cases {
        // Just above half: the sum over the two cores is 2^64.
        let r = result(two_cores(HALF + 1, set));
        let e = RunReport::new(&model, &r).unwrap_err();
        assert_eq!(e.counter, name);
        assert_eq!(e.value, 1u128 << 64, "{name}");
        assert!(e.to_string().contains("18446744073709551616"), "{e}");

        // Just below: the sum 2^64 - 2 fits and is exact (but a ROM word
        // count that large has more than 2^64 bytes in its access record).
        let r = result(two_cores(HALF, set));
        if name == "totals.rom_read_words" {
            let e = RunReport::new(&model, &r).unwrap_err();
            assert_eq!(
                e.counter,
                "accesses[core 0][rom][classifier][local_error][read].bytes"
            );
            continue;
        }
        let rep = RunReport::new(&model, &r).expect("the total fits 64 bits");
        let t = &rep.measured.totals;
        let got = match name {
            "totals.macs" => t.macs,
            "totals.interconnect_word_hops" => t.interconnect_word_hops,
            "totals.dram_bytes.write" => t.dram_bytes.write,
            "totals.lfsr_draws" => t.lfsr_draws,
            "totals.rom_read_words" => t.rom_read_words,
            _ => t.peak_spill_bytes,
        };
        assert_eq!(got, 2 * HALF, "{name}");
    }
}

#[test]
fn sram_bytes_and_cycles_are_checked_too() {
    let model = default_model();
    // SRAM words whose bytes (words × word bytes) pass 2^64 in one core.
    let mut c = CoreCounts::default();
    c.add_words(Unit::Weight, Class::Weight, Phase::Forward, Rw::Read, HALF);
    let e = RunReport::new(&model, &result(vec![c.clone(), c])).unwrap_err();
    assert!(e.counter.starts_with("totals.sram_bytes"), "{e}");
    assert!(e.value > u128::from(u64::MAX), "{e}");

    // Latency cycles: each core fits, their sum (update-locked rule, so
    // cores add up) does not.
    let r = {
        let mut r = result(two_cores(HALF + 1, |c, v| {
            c.latency_cycles[Phase::Forward.index()] = v
        }));
        r.config.rule = Rule::Bp(locus::rules::BpPolicy::Spill);
        r
    };
    let e = RunReport::new(&model, &r).unwrap_err();
    assert_eq!(e.counter, "total_cycles");
    assert_eq!(e.value, 1u128 << 64);
}

/// The report of a run of 16-8-4 on two cores, no counts, whose epochs
/// reached these training accuracies.
fn run_with(train: &[f64]) -> RunReport {
    let epochs = train
        .iter()
        .enumerate()
        .map(|(i, &a)| EpochResult {
            epoch: i as u32 + 1,
            train_accuracy: a,
            test_accuracy: a,
            lr_realised: None,
        })
        .collect();
    let mut r = result(vec![CoreCounts::default(); 2]);
    r.config.epochs = train.len() as u32;
    r.epochs = epochs;
    RunReport::new(&default_model(), &r).expect("report")
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
            && d.message.contains("smaller --lr")
            && d.message.contains("training for 2 epoch(s)")
            && d.message.contains("--lr-milestones"),
        "{}",
        d.message
    );
    assert!(kinds(&run_with(&[0.80, 0.90, 0.86])).is_empty());
    assert!(kinds(&run_with(&[0.50, 0.70, 0.90])).is_empty());
    assert!(kinds(&run_with(&[])).is_empty());
}
