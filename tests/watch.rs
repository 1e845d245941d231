//! `sim::run_watched` (`train --watch`): watching leaves the run as it is,
//! points come at the batch that reaches each multiple, and each point's
//! values equal those computed in f64 from the weights of a run stopped at
//! that sample (`--train-limit`, same sample order).

mod f64_reference;

use f64_reference::{RefLayer, forward};
use locus::data::{Dataset, SyntheticSpec, generate};
use locus::hw::core::NetSpec;
use locus::hw::datapath::Activation;
use locus::hw::model::{self, HwModel};
use locus::rules::{BpPolicy, Rule};
use locus::sim::{self, Arith, RealParams, RunResult, TrainConfig, WATCH_PROBE, Watch};
use std::num::NonZeroU64;

fn data() -> (Dataset, Dataset) {
    generate(&SyntheticSpec {
        classes: 4,
        sample_len: 16,
        train: 300,
        test: 150,
        noise: 40,
        seed: 5,
    })
    .expect("synthetic data")
}

fn default_model() -> HwModel {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
    model::load(&path).expect("default model")
}

fn config(rule: Rule, arith: Arith, batch: usize, limit: Option<usize>) -> TrainConfig {
    TrainConfig {
        rule,
        net: NetSpec::dense(vec![16, 12, 8, 4], Activation::Relu),
        epochs: 2,
        batch,
        lr: 1.0 / 32.0,
        seed: 9,
        arith,
        train_limit: limit,
        test_limit: None,
        lr_schedule: Default::default(),
        momentum: 0.0,
    }
}

fn without_timing(mut r: RunResult) -> RunResult {
    r.train_seconds = 0.0;
    r.watch.clear();
    r
}

/// Watched and unwatched runs agree in everything but the watch points, for
/// a rule with a backward pass and one with stochastic-free local errors, in
/// both arithmetics and with a batch that does not divide the interval.
#[test]
fn watching_leaves_the_run_unchanged() {
    let (train, test) = data();
    let m = default_model();
    for rule in [Rule::Local, Rule::Bp(BpPolicy::Spill)] {
        for arith in [Arith::Fixed, Arith::F32] {
            for batch in [1, 7] {
                let cfg = config(rule, arith, batch, None);
                let every = NonZeroU64::new(50).unwrap();
                let (plain, _) = sim::run(&m, &cfg, &train, &test, &mut |_, _| {}).unwrap();
                let mut heard = Vec::new();
                let watch = Watch {
                    every,
                    on_point: &mut |p| heard.push(p.clone()),
                };
                let watched =
                    sim::run_watched(&m, &cfg, &train, &test, watch, &mut |_, _| {}).unwrap();
                assert_eq!(
                    heard, watched.watch,
                    "each point is passed on as it is taken"
                );
                // One point after each batch during which the count of
                // samples passed a multiple of 50 (epochs of 300 samples,
                // the last batch of an epoch shorter).
                let mut want = Vec::new();
                let mut seen = 0u64;
                for _ in 0..2 {
                    for len in (0..300).step_by(batch).map(|k| (300 - k).min(batch) as u64) {
                        if (seen + len) / 50 != seen / 50 {
                            want.push(seen + len);
                        }
                        seen += len;
                    }
                }
                let got: Vec<u64> = watched.watch.iter().map(|p| p.samples).collect();
                assert_eq!(got, want, "{rule:?} {arith:?} batch {batch}");
                assert_eq!(without_timing(plain), without_timing(watched));
            }
        }
    }
}

/// Largest `|v|` and root mean square of the weights and biases of a layer.
fn weight_stats(w: &[f64], b: &[f64]) -> (f64, f64) {
    let all: Vec<f64> = w.iter().chain(b).copied().collect();
    let max = all.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    (
        max,
        (all.iter().map(|v| v * v).sum::<f64>() / all.len() as f64).sqrt(),
    )
}

fn ref_layers(params: &RealParams) -> Vec<RefLayer> {
    params
        .iter()
        .map(|(w, b)| RefLayer {
            w: w.clone(),
            b: b.clone(),
        })
        .collect()
}

/// Each watch point holds the weights of a run stopped at that sample
/// exactly (both arithmetics), and in f32 its powers, accuracy and step
/// gains equal an f64 forward pass over the probe samples with those
/// weights (pixels p/255).
#[test]
fn watch_points_match_a_run_stopped_there() {
    let (train, test) = data();
    let m = default_model();
    let every = 120u64;
    for arith in [Arith::Fixed, Arith::F32] {
        let cfg = TrainConfig {
            epochs: 1,
            ..config(Rule::Local, arith, 1, Some(300))
        };
        let watched = sim::run_watched(
            &m,
            &cfg,
            &train,
            &test,
            Watch {
                every: NonZeroU64::new(every).unwrap(),
                on_point: &mut |_| {},
            },
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(watched.watch.len(), 2, "{arith:?}: points at 120 and 240");
        for p in &watched.watch {
            let stopped = config(Rule::Local, arith, 1, Some(p.samples as usize));
            let stopped = TrainConfig {
                epochs: 1,
                ..stopped
            };
            let (_, params) = sim::run(&m, &stopped, &train, &test, &mut |_, _| {}).unwrap();
            for (i, ((w, b), lw)) in params.iter().zip(&p.layers).enumerate() {
                let (max, rms) = weight_stats(w, b);
                assert_eq!(lw.weight_max_abs, max, "{arith:?} {} layer {i}", p.samples);
                let tol = 1e-12 * rms.max(1.0);
                assert!(
                    (lw.weight_rms - rms).abs() <= tol,
                    "{arith:?} layer {i}: rms {} vs {rms}",
                    lw.weight_rms
                );
            }
            if arith != Arith::F32 {
                continue;
            }
            let net = ref_layers(&params);
            let probe = test.len().min(WATCH_PROBE);
            let mut power = vec![0.0; net.len()];
            let mut max_h = vec![0.0f64; net.len()];
            let (mut correct, mut input_sum, mut input_max) = (0usize, 0.0, 0.0f64);
            for k in 0..probe {
                let x: Vec<f64> = test.sample(k).iter().map(|&v| v as f64 / 255.0).collect();
                let acts = forward(&net, &x);
                for (i, h) in acts[1..].iter().enumerate() {
                    power[i] += h.iter().map(|v| v * v).sum::<f64>() / probe as f64;
                    max_h[i] = h.iter().fold(max_h[i], |m, v| m.max(v.abs()));
                }
                let out = acts.last().unwrap();
                let class = (0..out.len()).fold(0, |b, j| if out[j] > out[b] { j } else { b });
                correct += usize::from(class == test.label(k));
                let x_out: f64 = acts[net.len() - 1].iter().map(|v| v * v).sum();
                input_sum += x_out;
                input_max = input_max.max(x_out);
            }
            let close = |got: f64, want: f64, what: &str| {
                assert!(
                    (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                    "{} samples, {what}: {got} vs f64 {want}",
                    p.samples
                );
            };
            for (i, lw) in p.layers.iter().enumerate() {
                close(lw.output_power, power[i], &format!("layer {i} power"));
                close(lw.output_max_abs, max_h[i], &format!("layer {i} max |h|"));
            }
            let lr = watched.lr_realised;
            close(
                p.output_step_gain,
                lr * (input_sum / probe as f64 + 1.0),
                "mean gain",
            );
            close(p.output_step_gain_max, lr * (input_max + 1.0), "max gain");
            assert_eq!(
                p.probe_accuracy,
                correct as f64 / probe as f64,
                "{} samples",
                p.samples
            );
        }
    }
}
