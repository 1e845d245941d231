//! SGD with momentum (`--momentum`): the velocity's arithmetic against an
//! `f64` reference, `μ = 0` against plain SGD bit for bit, its traffic
//! against a closed form for every rule that takes it, estimate = train,
//! learning, and the refusals.

use locus::data::{Dataset, SyntheticSpec, generate};
use locus::hw::core::{Chip, ChipError, NetSpec};
use locus::hw::counters::{Class, Phase, Rw, Unit};
use locus::hw::datapath::{Activation, Datapath, FixedDatapath, FloatDatapath};
use locus::hw::model::HwModel;
use locus::rules::{BpPolicy, Rule};
use locus::sim::{Arith, RunResult, SimError, TrainConfig, momentum_shift, run};
use std::path::Path;

fn model(name: &str) -> HwModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("hw_models")
        .join(name);
    locus::hw::model::load(&path).expect("model loads")
}

fn data(len: usize, seed: u64) -> (Dataset, Dataset) {
    generate(&SyntheticSpec {
        classes: 4,
        sample_len: len,
        train: 300,
        test: 100,
        noise: 30,
        seed,
    })
    .expect("synthetic data")
}

fn config(rule: Rule, sizes: &[usize], momentum: f64) -> TrainConfig {
    let activation = if matches!(rule, Rule::Gaitprop(_)) {
        Activation::LeakyRelu
    } else {
        Activation::Relu
    };
    TrainConfig {
        lr: 1.0 / 64.0,
        momentum,
        train_limit: Some(40),
        ..TrainConfig::new(rule, NetSpec::dense(sizes.to_vec(), activation), 1)
    }
}

fn train(m: &HwModel, c: &TrainConfig, d: &(Dataset, Dataset)) -> Result<RunResult, SimError> {
    run(m, c, &d.0, &d.1, &mut |_, _| {}).map(|(r, _)| r)
}

#[test]
fn momentum_is_realised_as_one_minus_a_power_of_two() {
    assert_eq!(momentum_shift(0.0).unwrap(), None);
    assert_eq!(momentum_shift(0.9).unwrap(), Some((3, 0.875)));
    assert_eq!(momentum_shift(0.99).unwrap(), Some((7, 1.0 - 1.0 / 128.0)));
    assert_eq!(momentum_shift(0.5).unwrap(), Some((1, 0.5)));
    for bad in [-0.1, 1.0, 0.2, f64::NAN, 1.0 - 1e-9] {
        let e = momentum_shift(bad).unwrap_err().to_string();
        assert!(e.starts_with("momentum = "), "{bad}: {e}");
    }
}

/// Three `f32` steps of the velocity against `v ← μv + lr·g`, `w −= v` in
/// `f64`.
#[test]
#[allow(clippy::needless_range_loop)] // weights and biases side by side
fn f32_velocity_follows_the_reference() {
    let (rows, cols, m) = (3, 4, 2u32);
    let mu = 1.0 - (-(m as f64)).exp2();
    let lr_shift = 3;
    let lr = (-(lr_shift as f64)).exp2();
    let mut dp = FloatDatapath::new(lr_shift);
    let mut w: Vec<f32> = (0..rows * cols).map(|k| 0.1 * k as f32 - 0.5).collect();
    let mut b = vec![0.25f32, -0.125, 0.5];
    let mut v = vec![0f32; rows * (cols + 1)];
    let (mut rw, mut rb): (Vec<f64>, Vec<f64>) = (
        w.iter().map(|&x| x as f64).collect(),
        b.iter().map(|&x| x as f64).collect(),
    );
    let mut rv = vec![0f64; rows * (cols + 1)];
    for step in 0..3 {
        let e: Vec<f32> = (0..rows).map(|i| 0.3 * (i + step) as f32 - 0.4).collect();
        let x: Vec<f32> = (0..cols)
            .map(|j| 0.2 * j as f32 + 0.1 * step as f32)
            .collect();
        dp.update_momentum(&mut w, &mut b, &mut v, &e, &x, m);
        for i in 0..rows {
            for j in 0..=cols {
                let (g, k) = if j < cols {
                    (e[i] as f64 * x[j] as f64, i * cols + j)
                } else {
                    (e[i] as f64, rows * cols + i)
                };
                rv[k] = mu * rv[k] + lr * g;
                if j < cols {
                    rw[k] -= rv[k];
                } else {
                    rb[i] -= rv[k];
                }
            }
        }
    }
    let close = |a: &[f32], b: &[f64]| a.iter().zip(b).all(|(x, y)| (*x as f64 - y).abs() < 1e-6);
    assert!(close(&w, &rw), "{w:?} vs {rw:?}");
    assert!(close(&b, &rb), "{b:?} vs {rb:?}");
    assert!(close(&v, &rv), "{v:?} vs {rv:?}");
    assert!(rv.iter().all(|&x| x != 0.0));
}

/// `μ = 1 − 2^0 = 0`: the velocity is each step's update, so the weights
/// are plain SGD's bit for bit, in fixed point (nearest) and `f32`.
#[test]
fn zero_momentum_is_plain_sgd() {
    let m = model("default.json");
    let d = data(12, 4);
    let net = NetSpec::dense(vec![12, 10, 4], Activation::Relu);
    fn steps<D: Datapath>(chip: &mut Chip<D>, d: &(Dataset, Dataset)) {
        for k in 0..30 {
            let s = [(d.0.sample(k), d.0.label(k))];
            Rule::Bp(BpPolicy::Spill).train_batch(chip, &s).unwrap();
        }
    }
    let weights = |chip: &Chip<FixedDatapath<i16>>| -> Vec<Vec<i16>> {
        chip.layers()
            .iter()
            .map(|l| l.w().iter().chain(l.b()).copied().collect())
            .collect()
    };
    let mk = || {
        Chip::without_classifiers(&m, &net, FixedDatapath::<i16>::new(&m, 5).unwrap(), 3).unwrap()
    };
    let (mut plain, mut zero) = (mk(), mk());
    zero.enable_momentum(0).unwrap();
    steps(&mut plain, &d);
    steps(&mut zero, &d);
    assert_eq!(weights(&plain), weights(&zero));
    assert_ne!(weights(&plain), weights(&mk()), "the steps changed nothing");
    let fw = |chip: &Chip<FloatDatapath>| -> Vec<Vec<u32>> {
        chip.layers()
            .iter()
            .map(|l| l.w().iter().chain(l.b()).map(|v| v.to_bits()).collect())
            .collect()
    };
    let fk = || Chip::without_classifiers(&m, &net, FloatDatapath::new(5), 3).unwrap();
    let (mut plain, mut zero) = (fk(), fk());
    zero.enable_momentum(0).unwrap();
    steps(&mut plain, &d);
    steps(&mut zero, &d);
    assert_eq!(fw(&plain), fw(&zero));
}

/// Every rule that takes momentum, every policy, batch 1 and 3: the
/// counts with momentum minus those without are exactly the velocity's
/// traffic — per layer and per update, `⌈n·u_bits / word_bits⌉` words of
/// class `update` read and as many written in the weight bank (`n =
/// rows·(cols+1)`), `2n` adds, and with stochastic update rounding `n`
/// more LFSR draws — and nothing else. Every layer updates once per sample
/// in these rules.
#[test]
fn momentum_counts_are_the_velocitys_closed_form() {
    let sizes = [12usize, 12, 12, 4];
    let d = data(12, 5);
    for name in ["default.json", "feedback-rom-stochastic.json"] {
        let m = model(name);
        let stochastic = name.contains("stochastic");
        let word = m.sram.weight.word_bits;
        let ubits = m.formats.update.bits;
        let rules = [
            Rule::Local,
            Rule::Drtp,
            Rule::Pepita,
            Rule::Gaitprop(0),
            Rule::Bp(BpPolicy::Stash),
            Rule::Bp(BpPolicy::Spill),
            Rule::Bp(BpPolicy::Recompute),
            Rule::Fa(BpPolicy::Spill),
            Rule::Dfa(BpPolicy::Recompute),
        ];
        for rule in rules {
            for batch in [1, 3] {
                let plain = TrainConfig {
                    batch,
                    ..config(rule, &sizes, 0.0)
                };
                let with = TrainConfig {
                    momentum: 0.875,
                    ..plain.clone()
                };
                let (a, b) = (
                    train(&m, &plain, &d).unwrap(),
                    train(&m, &with, &d).unwrap(),
                );
                let label = format!("{name} {} batch {batch}", rule.label());
                assert_eq!(a.samples, 40, "{label}");
                for (l, (ca, cb)) in a.counts.iter().zip(&b.counts).enumerate() {
                    let n = (sizes[l + 1] * (sizes[l] + 1)) as u64;
                    let words = (n * ubits as u64).div_ceil(word as u64);
                    let mut want = ca.clone();
                    let (u, c, p) = (
                        Unit::Weight.index(),
                        Class::Update.index(),
                        Phase::Update.index(),
                    );
                    want.words[u][c][p][Rw::Read.index()] += a.samples * words;
                    want.words[u][c][p][Rw::Write.index()] += a.samples * words;
                    want.adds[p] += a.samples * 2 * n;
                    if stochastic {
                        want.lfsr_draws[p] += a.samples * n;
                    }
                    // Timing follows the words; compare the counted fields.
                    assert_eq!(cb.words, want.words, "{label} layer {l}");
                    assert_eq!(cb.adds, want.adds, "{label} layer {l}");
                    assert_eq!(cb.macs, want.macs, "{label} layer {l}");
                    assert_eq!(cb.lfsr_draws, want.lfsr_draws, "{label} layer {l}");
                    assert_eq!(cb.dram_bytes, want.dram_bytes, "{label} layer {l}");
                    assert_eq!(cb.noc_words, want.noc_words, "{label} layer {l}");
                }
                assert_eq!(
                    b.datapath_lfsr_draws,
                    b.counts
                        .iter()
                        .map(|c| c.lfsr_draws.iter().sum::<u64>())
                        .sum::<u64>(),
                    "{label}: the datapath draws what is counted"
                );
                // estimate counts what training counts.
                let est = locus::sim::estimate(&m, &with, 40).unwrap();
                assert_eq!(est.counts, b.counts, "{label}: estimate = train");
            }
        }
    }
}

/// With momentum (and the learning rate scaled by `1 − μ`), bp and PEPITA
/// learn in fixed point and in `f32`.
#[test]
fn rules_learn_with_momentum() {
    let m = model("default.json");
    let d = data(16, 6);
    for rule in [Rule::Bp(BpPolicy::Spill), Rule::Pepita, Rule::Local] {
        for arith in [Arith::Fixed, Arith::F32] {
            let c = TrainConfig {
                arith,
                epochs: 3,
                lr: 1.0 / 256.0,
                train_limit: None,
                ..config(rule, &[16, 24, 4], 0.875)
            };
            let r = train(&m, &c, &d).unwrap();
            let acc = r.epochs.last().unwrap().test_accuracy;
            assert!(acc > 0.8, "{} {arith:?}: {acc}", rule.label());
        }
    }
}

#[test]
fn momentum_refusals_name_the_cause() {
    let m = model("default.json");
    let d = data(16, 7);
    let err = |c: TrainConfig| train(&m, &c, &d).unwrap_err().to_string();
    let e = err(config(Rule::LocalLearned, &[16, 8, 4], 0.9));
    assert!(e.contains("momentum") && e.contains("local-learned"), "{e}");
    let conv = TrainConfig {
        net: NetSpec::parse("1x4x4,conv3x3x2p1,4", Activation::Relu).unwrap(),
        ..config(Rule::Local, &[16, 4], 0.9)
    };
    assert!(matches!(
        train(&m, &conv, &d),
        Err(SimError::Chip(ChipError::MomentumOnConv))
    ));
    // 784-1024: weights 25 120 words, with the velocity 50 240 > 40 960.
    let mut big = config(Rule::Local, &[16, 1024, 4], 0.9);
    big.net.sizes[0] = 784;
    let e = locus::sim::estimate(&m, &big, 1).unwrap_err().to_string();
    assert!(
        e.contains("momentum: layer 1") || e.contains("momentum: layer 0"),
        "{e}"
    );
    assert!(e.contains("sram.weight holds 40960 words"), "{e}");
    assert!(locus::sim::estimate(&model("momentum.json"), &big, 1).is_ok());
}
