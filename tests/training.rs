//! The training core: one `f32` step against an independent `f64`
//! computation of the rules' equations, fixed point against `f32` accuracy,
//! determinism, backprop's buffering policies computing the same weights,
//! and the errors of bad configurations.

use locus::data::{Dataset, SyntheticSpec, epoch_order, generate};
use locus::hw::core::{Chip, ChipError, NetSpec};
use locus::hw::datapath::{Activation, FloatDatapath};
use locus::hw::model::HwModel;
use locus::rules::{BpPolicy, Rule};
use locus::sim::{Arith, RealParams, RunResult, SimError, TrainConfig, run};
use std::path::Path;

fn default_model() -> HwModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
    locus::hw::model::load(&path).expect("default model loads")
}

fn config(rule: Rule, sizes: &[usize]) -> TrainConfig {
    TrainConfig {
        rule,
        net: NetSpec::dense(sizes.to_vec(), Activation::Relu),
        epochs: 1,
        batch: 1,
        lr: 1.0 / 16.0,
        seed: 9,
        arith: Arith::Fixed,
        train_limit: None,
        test_limit: None,
        lr_schedule: Default::default(),
        momentum: 0.0,
    }
}

fn synthetic(
    classes: usize,
    len: usize,
    train: usize,
    test: usize,
    noise: u8,
    seed: u64,
) -> (Dataset, Dataset) {
    generate(&SyntheticSpec {
        classes,
        sample_len: len,
        train,
        test,
        noise,
        seed,
    })
    .expect("synthetic data")
}

fn train(
    model: &HwModel,
    config: &TrainConfig,
    data: &(Dataset, Dataset),
) -> Result<(RunResult, RealParams), SimError> {
    run(model, config, &data.0, &data.1, &mut |_, _| {})
}

// ---------------------------------------------------------------------------
// One f32 step against an f64 reference
// ---------------------------------------------------------------------------

/// A dense layer in f64: `w` row-major `rows × cols`.
#[derive(Clone, Debug)]
struct RefLayer {
    rows: usize,
    cols: usize,
    w: Vec<f64>,
    b: Vec<f64>,
}

impl RefLayer {
    /// `W x + b`.
    fn affine(&self, x: &[f64]) -> Vec<f64> {
        (0..self.rows)
            .map(|i| {
                let row = &self.w[i * self.cols..(i + 1) * self.cols];
                row.iter().zip(x).map(|(w, x)| w * x).sum::<f64>() + self.b[i]
            })
            .collect()
    }
    /// `Wᵀ δ`.
    fn transposed(&self, d: &[f64]) -> Vec<f64> {
        (0..self.cols)
            .map(|j| {
                (0..self.rows)
                    .map(|i| self.w[i * self.cols + j] * d[i])
                    .sum()
            })
            .collect()
    }
    /// `W −= lr δ xᵀ`, `b −= lr δ`.
    fn sgd(&mut self, lr: f64, d: &[f64], x: &[f64]) {
        for ((row, b), di) in self.w.chunks_mut(self.cols).zip(&mut self.b).zip(d) {
            for (w, xj) in row.iter_mut().zip(x) {
                *w -= lr * di * xj;
            }
            *b -= lr * di;
        }
    }
}

/// Layer inputs and outputs of a forward pass: `acts[0] = x`, `acts[i+1] =
/// relu(W_i acts[i] + b_i)` for hidden layers, linear for the last.
fn forward(net: &[RefLayer], x: &[f64]) -> Vec<Vec<f64>> {
    let mut acts = vec![x.to_vec()];
    for (i, l) in net.iter().enumerate() {
        let mut h = l.affine(&acts[i]);
        if i + 1 < net.len() {
            h.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        acts.push(h);
    }
    acts
}

fn minus_one_hot(v: &[f64], label: usize) -> Vec<f64> {
    let mut e = v.to_vec();
    e[label] -= 1.0;
    e
}

/// One local-error step: hidden layer `i` learns from `e = (Mᵀ(M h − y)) ⊙
/// [h > 0]` with its classifier `M` (`classes × rows`), the output layer
/// from `h − y`.
fn local_step(net: &mut [RefLayer], ms: &[Vec<f64>], x: &[f64], label: usize, lr: f64) {
    let acts = forward(net, x);
    let n = net.len();
    for i in 0..n {
        let h = &acts[i + 1];
        let e = if i + 1 < n {
            let rows = net[i].rows;
            let classes = ms[i].len() / rows;
            let m = &ms[i];
            let mh: Vec<f64> = (0..classes)
                .map(|k| (0..rows).map(|j| m[k * rows + j] * h[j]).sum())
                .collect();
            let y = minus_one_hot(&mh, label);
            (0..rows)
                .map(|j| {
                    let s: f64 = (0..classes).map(|k| m[k * rows + j] * y[k]).sum();
                    if h[j] > 0.0 { s } else { 0.0 }
                })
                .collect()
        } else {
            minus_one_hot(h, label)
        };
        net[i].sgd(lr, &e, &acts[i]);
    }
}

/// One backprop step: `δ_L = out − y`, `δ_{i−1} = (W_iᵀ δ_i) ⊙ [x_i > 0]`
/// with `W_i` before its update, `W_i −= lr δ_i x_iᵀ`.
fn bp_step(net: &mut [RefLayer], x: &[f64], label: usize, lr: f64) {
    let acts = forward(net, x);
    let n = net.len();
    let mut d = minus_one_hot(&acts[n], label);
    for i in (0..n).rev() {
        let below = if i > 0 {
            let t = net[i].transposed(&d);
            t.iter()
                .zip(&acts[i])
                .map(|(v, x)| if *x > 0.0 { *v } else { 0.0 })
                .collect()
        } else {
            Vec::new()
        };
        net[i].sgd(lr, &d, &acts[i]);
        d = below;
    }
}

fn snapshot(chip: &Chip<FloatDatapath>) -> Vec<RefLayer> {
    chip.layers()
        .iter()
        .map(|l| RefLayer {
            rows: l.rows(),
            cols: l.cols(),
            w: l.w().iter().map(|&v| v as f64).collect(),
            b: l.b().iter().map(|&v| v as f64).collect(),
        })
        .collect()
}

/// The classifiers from the ROM signs: entry `±2^-k`, negative where the
/// sign bit is set, `k = round(log2(sqrt(units)))`.
fn classifiers(chip: &Chip<FloatDatapath>) -> Vec<Vec<f64>> {
    let n = chip.layers().len();
    chip.layers()[..n - 1]
        .iter()
        .map(|l| {
            let rom = l.rom().expect("hidden layer has a ROM");
            let k = (l.rows() as f64).sqrt().log2().round();
            let mag = (-k).exp2();
            let m: Vec<f64> = (0..rom.entries() as usize)
                .map(|e| if rom.signs[e] { -mag } else { mag })
                .collect();
            // The datapath uses exactly these values.
            let used: Vec<f64> = l.classifier().iter().map(|&v| v as f64).collect();
            assert_eq!(m, used, "classifier entries");
            m
        })
        .collect()
}

/// Every parameter within 1e-5 of the reference, and every layer's weights
/// moved (by more than 1e-3 somewhere), so the step was not a no-op.
fn assert_close(got: &[RefLayer], want: &[RefLayer], before: &[RefLayer], what: &str) {
    for (i, ((g, w), b)) in got.iter().zip(want).zip(before).enumerate() {
        let pairs =
            g.w.iter()
                .zip(&w.w)
                .zip(&b.w)
                .chain(g.b.iter().zip(&w.b).zip(&b.b));
        for (k, ((g, w), _)) in pairs.enumerate() {
            assert!(
                (g - w).abs() <= 1e-5,
                "{what}: layer {i} param {k}: f32 {g} vs f64 {w}"
            );
        }
        assert!(
            g.w.iter().zip(&b.w).any(|(g, b)| (g - b).abs() > 1e-3),
            "{what}: layer {i} did not learn"
        );
    }
}

#[test]
fn f32_step_matches_an_f64_computation_of_local_and_bp() {
    let model = default_model();
    let sizes = [6, 5, 4, 3];
    let net = NetSpec::dense(sizes.to_vec(), Activation::Relu);
    let shift = 2; // lr = 1/4
    let lr = 0.25;
    let pixels: [u8; 6] = [0, 51, 102, 153, 204, 255];
    let x: Vec<f64> = pixels.iter().map(|&p| p as f64 / 255.0).collect();
    for (rule, label) in [
        (Rule::Local, 1),
        (Rule::Local, 2),
        (Rule::Bp(BpPolicy::Stash), 0),
        (Rule::Bp(BpPolicy::Recompute), 2),
    ] {
        let mut chip = Chip::new(&model, &net, FloatDatapath::new(shift), 21).expect("maps");
        let before = snapshot(&chip);
        let mut want = before.clone();
        match rule {
            Rule::Local => local_step(&mut want, &classifiers(&chip), &x, label, lr),
            Rule::Bp(_) => bp_step(&mut want, &x, label, lr),
            _ => unreachable!("only local and bp here (tests/rules.rs has the others)"),
        }
        rule.train_batch(&mut chip, &[(&pixels, label)])
            .expect("trains");
        assert_close(&snapshot(&chip), &want, &before, &rule.label());
    }
}

/// The same check through `sim::run`: a run over 0 samples returns the
/// initial parameters, a run over 1 sample (the first of epoch 0's order)
/// the parameters after one step.
#[test]
fn f32_run_of_one_sample_matches_the_f64_step() {
    let model = default_model();
    let sizes = [6, 5, 4, 3];
    let data = synthetic(3, 6, 20, 3, 40, 2);
    for rule in [Rule::Local, Rule::Bp(BpPolicy::Spill)] {
        let mut cfg = config(rule, &sizes);
        cfg.arith = Arith::F32;
        cfg.lr = 0.25;
        cfg.train_limit = Some(0);
        let (r0, p0) = train(&model, &cfg, &data).expect("0-sample run");
        assert_eq!(r0.samples, 0);
        let chip = Chip::new(&model, &cfg.net, FloatDatapath::new(2), cfg.seed).expect("maps");
        let before = snapshot(&chip);
        for (l, (w, b)) in before.iter().zip(&p0) {
            assert_eq!(&l.w, w, "initial weights");
            assert_eq!(&l.b, b, "initial biases");
        }
        cfg.train_limit = Some(1);
        let (r1, p1) = train(&model, &cfg, &data).expect("1-sample run");
        assert_eq!(r1.samples, 1);
        let k = epoch_order(data.0.len(), cfg.seed, 0)[0] as usize;
        let x: Vec<f64> = data.0.sample(k).iter().map(|&p| p as f64 / 255.0).collect();
        let mut want = before.clone();
        match rule {
            Rule::Local => local_step(&mut want, &classifiers(&chip), &x, data.0.label(k), 0.25),
            Rule::Bp(_) => bp_step(&mut want, &x, data.0.label(k), 0.25),
            _ => unreachable!("only local and bp here"),
        }
        let got: Vec<RefLayer> = p1
            .into_iter()
            .zip(&before)
            .map(|((w, b), l)| RefLayer {
                rows: l.rows,
                cols: l.cols,
                w,
                b,
            })
            .collect();
        assert_close(&got, &want, &before, &rule.label());
    }
}

// ---------------------------------------------------------------------------
// Accuracy, determinism, policies
// ---------------------------------------------------------------------------

/// 10 classes of 64 pixels with heavy noise (±255), 2000 training and 1000
/// test samples, 64-64-64-10, lr 2^-5, 3 epochs: `f32` reaches ~95%, not
/// 100%, so the comparison has room to fail.
#[test]
fn fixed_point_local_training_is_within_1_point_of_f32() {
    let model = default_model();
    let data = synthetic(10, 64, 2000, 1000, 255, 3);
    let mut cfg = config(Rule::Local, &[64, 64, 64, 10]);
    cfg.lr = 1.0 / 32.0;
    cfg.epochs = 3;
    cfg.seed = 1;
    let acc = |arith| {
        let mut c = cfg.clone();
        c.arith = arith;
        let (r, _) = train(&model, &c, &data).expect("trains");
        r.epochs.last().expect("an epoch").test_accuracy
    };
    let (f32_acc, fixed_acc) = (acc(Arith::F32), acc(Arith::Fixed));
    assert!(f32_acc > 0.90 && f32_acc < 0.995, "f32 accuracy {f32_acc}");
    assert!(
        fixed_acc >= f32_acc - 0.01,
        "fixed {fixed_acc} vs f32 {f32_acc}"
    );
}

#[test]
fn same_seed_gives_identical_params_and_counts_other_seed_differs() {
    let model = default_model();
    let data = synthetic(4, 16, 60, 20, 60, 4);
    for rule in [Rule::Local, Rule::Bp(BpPolicy::Spill)] {
        let mut cfg = config(rule, &[16, 12, 4]);
        cfg.epochs = 2;
        cfg.batch = 3;
        let (a, pa) = train(&model, &cfg, &data).expect("trains");
        let (b, pb) = train(&model, &cfg, &data).expect("trains");
        assert_eq!(pa, pb, "{}: params", rule.label());
        assert_eq!(a.counts, b.counts);
        assert_eq!(a.epochs, b.epochs);
        assert_eq!(a.overflow, b.overflow);
        assert_eq!(a.datapath_lfsr_draws, b.datapath_lfsr_draws);
        cfg.seed += 1;
        let (_, pc) = train(&model, &cfg, &data).expect("trains");
        assert_ne!(pa, pc, "{}: another seed", rule.label());
    }
}

/// With nearest activation rounding and batch 1, backprop's policies change
/// what is buffered, not what is computed: identical weights, different
/// counts. The spill run uses a stash bank too small for layer 0's input.
#[test]
fn bp_policies_compute_identical_weights_at_batch_1() {
    let model = default_model();
    let mut small_stash = default_model();
    // 3 words: a 16-input vector (4 words) always spills, 12 inputs fit.
    small_stash.sram.stash.capacity_bytes = 24;
    let data = synthetic(4, 16, 50, 10, 60, 5);
    let mut cfg = config(Rule::Bp(BpPolicy::Stash), &[16, 12, 8, 4]);
    cfg.epochs = 2;
    let mut runs = Vec::new();
    for (policy, m) in [
        (BpPolicy::Stash, &model),
        (BpPolicy::Spill, &model),
        (BpPolicy::Spill, &small_stash),
        (BpPolicy::Recompute, &model),
        (BpPolicy::Recompute, &small_stash),
    ] {
        cfg.rule = Rule::Bp(policy);
        runs.push(train(m, &cfg, &data).expect("trains"));
    }
    let (stash, p_stash) = &runs[0];
    for (r, p) in &runs[1..] {
        assert_eq!(p, p_stash, "{} weights", r.config.rule.label());
        assert_eq!(r.epochs, stash.epochs);
    }
    // Counts differ: spilling moves stash words to DRAM bytes; recompute
    // adds backward MACs.
    let dram = |r: &RunResult| -> u64 { r.counts.iter().map(|c| c.dram_bytes[0][1]).sum() };
    let macs = |r: &RunResult| -> u64 { r.counts.iter().map(|c| c.macs.iter().sum::<u64>()).sum() };
    assert_eq!(dram(stash), 0);
    assert!(dram(&runs[2].0) > 0);
    assert_ne!(runs[2].0.counts, stash.counts);
    assert!(macs(&runs[3].0) > macs(stash));
    assert_ne!(runs[3].0.counts, stash.counts);
    // The default stash bank holds everything: spill = stash exactly.
    assert_eq!(runs[1].0.counts, stash.counts);
}

/// Spilling never changes values, at any batch size.
#[test]
fn bp_stash_and_spill_compute_identical_weights_at_batch_3() {
    let mut small_stash = default_model();
    small_stash.sram.stash.capacity_bytes = 40;
    let data = synthetic(4, 16, 40, 10, 60, 6);
    let mut cfg = config(Rule::Bp(BpPolicy::Stash), &[16, 12, 4]);
    cfg.batch = 3;
    let (_, stash) = train(&default_model(), &cfg, &data).expect("trains");
    cfg.rule = Rule::Bp(BpPolicy::Spill);
    let (r, spill) = train(&small_stash, &cfg, &data).expect("trains");
    assert!(r.counts.iter().any(|c| c.spill_peak_bytes > 0));
    assert_eq!(stash, spill);
}

// ---------------------------------------------------------------------------
// Bad configurations
// ---------------------------------------------------------------------------

/// The field named by a configuration error, and the error's message.
fn config_error(result: Result<(RunResult, RealParams), SimError>) -> (&'static str, String) {
    match result {
        Err(e @ SimError::Config { .. }) => {
            let SimError::Config { field, .. } = e else {
                unreachable!()
            };
            (field, e.to_string())
        }
        Err(e) => panic!("expected a configuration error, got {e}"),
        Ok(_) => panic!("expected a configuration error, got a run"),
    }
}

#[test]
fn layer_sizes_that_do_not_match_the_data_name_layers() {
    let model = default_model();
    let data = synthetic(4, 16, 10, 5, 30, 7);
    for sizes in [&[15, 8, 4][..], &[16, 8, 3], &[17, 4]] {
        let (field, msg) = config_error(train(&model, &config(Rule::Local, sizes), &data));
        assert_eq!(field, "layers", "{sizes:?}");
        assert!(msg.starts_with("layers = ["), "{msg}");
    }
}

#[test]
fn zero_epochs_zero_batch_and_bad_lr_are_refused() {
    let model = default_model();
    let data = synthetic(4, 16, 10, 5, 30, 7);
    let mut cfg = config(Rule::Local, &[16, 8, 4]);
    cfg.epochs = 0;
    assert_eq!(config_error(train(&model, &cfg, &data)).0, "epochs");
    cfg.epochs = 1;
    cfg.batch = 0;
    assert_eq!(config_error(train(&model, &cfg, &data)).0, "batch");
    cfg.batch = 1;
    for lr in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY, 1e-12] {
        cfg.lr = lr;
        let (field, msg) = config_error(train(&model, &cfg, &data));
        assert_eq!(field, "lr", "lr {lr}");
        assert!(msg.starts_with("lr = "), "{msg}");
    }
    cfg.lr = 1.0;
    assert!(train(&model, &cfg, &data).is_ok(), "lr = 1 is allowed");
}

#[test]
fn weights_that_do_not_fit_the_weight_bank_are_refused() {
    let mut model = default_model();
    // 16 words of 512 bits = 512 sixteen-bit values: 8x16 + 8 = 136 values
    // (5 words) fit, 64x8 + 64 = 576 values (18 words) do not.
    model.sram.weight.capacity_bytes = 16 * 64;
    let data = synthetic(4, 16, 10, 5, 30, 7);
    let ok = train(&model, &config(Rule::Local, &[16, 8, 4]), &data);
    assert!(ok.is_ok());
    match train(&model, &config(Rule::Local, &[16, 8, 64, 4]), &data) {
        Err(SimError::Chip(ChipError::WeightsDoNotFit {
            layer,
            rows,
            cols,
            need,
            capacity,
            ..
        })) => {
            assert_eq!((layer, rows, cols), (1, 64, 8));
            assert_eq!(need, 18);
            assert_eq!(capacity, 16);
        }
        other => panic!(
            "expected WeightsDoNotFit, got {:?}",
            other.map(|r| r.0.samples)
        ),
    }
    // A shared core's bank must hold every layer: layer 0 takes 5 words of
    // 9, layer 1 (16x8 + 16 = 144 values) another 5: 10 > 9.
    model.mapping = locus::hw::model::Mapping::SharedCore;
    model.sram.weight.capacity_bytes = 9 * 64;
    match train(&model, &config(Rule::Local, &[16, 8, 16, 4]), &data) {
        Err(SimError::Chip(ChipError::WeightsDoNotFit {
            layer,
            need,
            capacity,
            ..
        })) => {
            assert_eq!(layer, 1);
            assert_eq!(need, 5 + 5);
            assert_eq!(capacity, 9);
        }
        other => panic!(
            "expected WeightsDoNotFit, got {:?}",
            other.map(|r| r.0.samples)
        ),
    }
}

#[test]
fn bp_stash_policy_with_a_too_small_stash_bank_is_refused() {
    let mut model = default_model();
    // 5 words: one 16-input vector (4 words) fits, a batch of 2 does not.
    model.sram.stash.capacity_bytes = 40;
    let data = synthetic(4, 16, 10, 5, 30, 7);
    let mut cfg = config(Rule::Bp(BpPolicy::Stash), &[16, 8, 4]);
    assert!(train(&model, &cfg, &data).is_ok(), "batch 1 fits");
    cfg.batch = 2;
    match train(&model, &cfg, &data) {
        Err(SimError::Chip(e @ ChipError::StashFull { .. })) => {
            assert_eq!(
                e,
                ChipError::StashFull {
                    layer: 0,
                    samples: 2,
                    need: 8,
                    capacity: 5
                }
            );
            assert!(e.to_string().contains("spill or recompute"), "{e}");
        }
        other => panic!("expected StashFull, got {:?}", other.map(|r| r.0.samples)),
    }
    // The other policies and the local rule run on the same chip.
    for rule in [
        Rule::Bp(BpPolicy::Spill),
        Rule::Bp(BpPolicy::Recompute),
        Rule::Local,
    ] {
        cfg.rule = rule;
        assert!(train(&model, &cfg, &data).is_ok(), "{}", rule.label());
    }
}

/// `StashFull` gives what the whole batch stashes on the core, not the
/// occupancy at the first input that did not fit, and is raised before the
/// batch computes anything.
#[test]
fn stash_full_names_what_the_whole_batch_needs() {
    let mut model = default_model();
    // 9 words of 64 bits: layer 0's 16-input vectors are 4 words, layer 1's
    // 8-input vectors 2.
    model.sram.stash.capacity_bytes = 72;
    let data = synthetic(4, 16, 10, 5, 30, 7);
    let mut cfg = config(Rule::Bp(BpPolicy::Stash), &[16, 8, 4]);
    cfg.batch = 4;
    let refused = |model: &HwModel, cfg: &TrainConfig| match train(model, cfg, &data) {
        Err(SimError::Chip(e @ ChipError::StashFull { .. })) => e,
        other => panic!("expected StashFull, got {:?}", other.map(|r| r.0.samples)),
    };
    // One core per layer: core 0 holds two inputs (8 words); the third
    // would make 12, but the batch of 4 needs 16. Core 1 holds its 8.
    let e = refused(&model, &cfg);
    let ChipError::StashFull {
        layer,
        need,
        capacity,
        ..
    } = e
    else {
        unreachable!()
    };
    assert_eq!((layer, need, capacity), (0, 16, 9), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("a batch of 4 samples needs 16 words"), "{msg}");
    assert!(msg.contains("holds 9 words"), "{msg}");
    // FA and DFA share backprop's stash.
    for rule in [Rule::Fa(BpPolicy::Stash), Rule::Dfa(BpPolicy::Stash)] {
        let mut model = model.clone();
        model.rom.capacity_bytes = 1 << 16;
        cfg.rule = rule;
        assert_eq!(refused(&model, &cfg), e, "{}", rule.label());
    }
    // A shared core stashes both layers, 6 words per sample: the second
    // sample's layer-0 input passes 9 words; the batch of 2 needs 12.
    model.mapping = locus::hw::model::Mapping::SharedCore;
    cfg.rule = Rule::Bp(BpPolicy::Stash);
    cfg.batch = 2;
    let ChipError::StashFull {
        layer,
        need,
        capacity,
        ..
    } = refused(&model, &cfg)
    else {
        unreachable!()
    };
    assert_eq!((layer, need, capacity), (0, 12, 9));
}

/// The uncounted test-set evaluation leaves the training state alone: with
/// stochastic activation rounding (evaluation requantises with the same
/// LFSR), training over two epochs gives the same weights, counts and
/// overflow whether 1 or all test samples are evaluated between epochs.
#[test]
fn evaluation_does_not_disturb_training() {
    let mut model = default_model();
    model.formats.activation.rounding = locus::quant::Rounding::Stochastic;
    let data = synthetic(4, 16, 80, 40, 60, 5);
    let mut cfg = config(Rule::Local, &[16, 12, 4]);
    cfg.epochs = 2;
    cfg.test_limit = Some(1);
    let (a, pa) = train(&model, &cfg, &data).expect("trains");
    cfg.test_limit = None;
    let (b, pb) = train(&model, &cfg, &data).expect("trains");
    assert_eq!(pa, pb);
    assert_eq!(a.counts, b.counts);
    assert_eq!(a.overflow, b.overflow);
    assert_eq!(a.datapath_lfsr_draws, b.datapath_lfsr_draws);
}

/// One sample's input and output must fit the activation bank: a
/// 20 000-unit hidden layer needs 5004 words of the default 4096-word bank.
/// (Backprop needs no classifier ROM, so the ROM, too small for this layer's
/// classifier, is not what refuses it.)
#[test]
fn vectors_that_do_not_fit_the_activation_bank_are_refused() {
    let model = default_model();
    let data = synthetic(4, 16, 8, 4, 60, 1);
    let cfg = config(Rule::Bp(BpPolicy::Spill), &[16, 20_000, 4]);
    match train(&model, &cfg, &data) {
        Err(SimError::Chip(ChipError::BufferDoesNotFit {
            layer,
            bank,
            need,
            capacity,
        })) => {
            assert_eq!(
                (layer, bank, need, capacity),
                (0, "activation", 4 + 5000, 4096)
            );
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a 20 000-unit layer was accepted"),
    }
}

// ---------------------------------------------------------------------------
// Learning-rate schedule
// ---------------------------------------------------------------------------

/// A schedule leaves the epochs before its first step as the constant run
/// trains them, and the step takes effect: stepping to 2^-30 makes every
/// fixed-point update round to 0 (default model, round to nearest), so the
/// second epoch changes no weight, and the final weights are those after
/// one epoch. Counts do not depend on the rate: two epochs count twice one.
#[test]
fn schedule_step_takes_effect_between_epochs() {
    let model = default_model();
    let data = synthetic(4, 24, 200, 50, 30, 3);
    for rule in [Rule::Local, Rule::Bp(BpPolicy::Spill)] {
        let one = TrainConfig {
            lr: 1.0 / 64.0,
            ..config(rule, &[24, 16, 4])
        };
        let stepped = TrainConfig {
            epochs: 2,
            lr_schedule: locus::sim::LrSchedule {
                milestones: vec![1],
                gamma: 2f64.powi(-24),
            },
            ..one.clone()
        };
        let (r1, p1) = train(&model, &one, &data).unwrap();
        let (r2, p2) = train(&model, &stepped, &data).unwrap();
        let label = rule.label();
        assert_eq!(
            r2.epochs[0].test_accuracy, r1.epochs[0].test_accuracy,
            "{label}"
        );
        assert_eq!(r2.epochs[0].lr_realised, Some(2f64.powi(-6)), "{label}");
        assert_eq!(r2.epochs[1].lr_realised, Some(2f64.powi(-30)), "{label}");
        assert_eq!(r1.epochs[0].lr_realised, None, "constant: not recorded");
        assert_eq!(p2, p1, "{label}: epoch 2 at 2^-30 changed a weight");
        assert_eq!(r2.unchanged_layers[1], vec![0, 1], "{label}");
        for (c2, c1) in r2.counts.iter().zip(&r1.counts) {
            assert_eq!(c2.macs, c1.macs.map(|m| 2 * m), "{label}");
            assert_eq!(
                c2.words,
                c1.words.map(|u| u.map(|c| c.map(|p| p.map(|w| 2 * w))))
            );
        }
        // The same two epochs at a constant rate change the weights.
        let (_, p_const) = train(
            &model,
            &TrainConfig {
                epochs: 2,
                ..one.clone()
            },
            &data,
        )
        .unwrap();
        assert_ne!(p_const, p1, "{label}");
    }
}

/// With stochastic update rounding the step keeps the rounding LFSR's
/// sequence: the datapath's draws still equal the counted draws, and the
/// run is deterministic.
#[test]
fn schedule_step_keeps_the_rounding_lfsr() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/feedback-rom-stochastic.json");
    let model = locus::hw::model::load(&path).unwrap();
    let data = synthetic(4, 24, 120, 40, 30, 5);
    let cfg = TrainConfig {
        epochs: 3,
        lr: 1.0 / 64.0,
        lr_schedule: locus::sim::LrSchedule {
            milestones: vec![1, 2],
            gamma: 0.125,
        },
        ..config(Rule::Local, &[24, 16, 4])
    };
    let (a, pa) = train(&model, &cfg, &data).unwrap();
    let (b, pb) = train(&model, &cfg, &data).unwrap();
    assert_eq!(pa, pb);
    assert_eq!(a.epochs, b.epochs);
    let counted: u64 = a
        .counts
        .iter()
        .map(|c| c.lfsr_draws.iter().sum::<u64>())
        .sum();
    assert!(counted > 0);
    assert_eq!(a.datapath_lfsr_draws, counted);
    let shifts: Vec<f64> = a.epochs.iter().filter_map(|e| e.lr_realised).collect();
    assert_eq!(shifts, [2f64.powi(-6), 2f64.powi(-9), 2f64.powi(-12)]);
}
