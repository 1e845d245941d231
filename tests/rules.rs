//! The further learning rules (fa, dfa, drtp, local-learned): one `f32`
//! step against an independent `f64` computation of each rule's equations
//! (`docs/rules.md`), and training on synthetic data: well above chance in
//! 16-bit fixed point, and within a stated distance of the same run in `f32`.

mod f64_reference;

use f64_reference::{RefLayer, assert_close, assert_near, forward, matvec, sgd, snapshot, tmatvec};
use locus::data::{Dataset, SyntheticSpec, generate};
use locus::hw::core::{Chip, FeedbackKind, NetSpec, modulation_exponent};
use locus::hw::datapath::{Activation, FloatDatapath};
use locus::hw::model::HwModel;
use locus::rules::{BpPolicy, Rule};
use locus::sim::{Arith, TrainConfig, run};
use std::path::Path;

fn default_model() -> HwModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
    locus::hw::model::load(&path).expect("default model loads")
}

// ---------------------------------------------------------------------------
// One f32 step against an f64 reference
// ---------------------------------------------------------------------------

/// `mᵀ d ⊙ [h > 0]` for a row-major `m` with `h.len()` columns.
fn back(m: &[f64], d: &[f64], h: &[f64]) -> Vec<f64> {
    let s = tmatvec(m, d, h.len());
    s.into_iter()
        .zip(h)
        .map(|(s, &h)| if h > 0.0 { s } else { 0.0 })
        .collect()
}

fn minus_one_hot(v: &[f64], label: usize) -> Vec<f64> {
    let mut e = v.to_vec();
    e[label] -= 1.0;
    e
}

/// FA (`fb[i]` = `B_i`, `rows × cols`) or DFA (`fb[i]` = `D_i`, `classes ×
/// cols`): `δ_{i−1} = (fb_iᵀ s) ⊙ [x_i > 0]`, `s = δ_i` or the output error;
/// each layer updated after passing its error on.
fn feedback_step(
    net: &mut [RefLayer],
    fb: &[Vec<f64>],
    direct: bool,
    x: &[f64],
    label: usize,
    lr: f64,
) {
    let acts = forward(net, x);
    let n = net.len();
    let out = minus_one_hot(&acts[n], label);
    let mut d = out.clone();
    for i in (0..n).rev() {
        let below = if i > 0 {
            back(&fb[i], if direct { &out } else { &d }, &acts[i])
        } else {
            Vec::new()
        };
        let l = &mut net[i];
        sgd(&mut l.w, &mut l.b, lr, &d, &acts[i]);
        d = below;
    }
}

/// DRTP: hidden `e_i = (M_iᵀ(−y)) ⊙ [h_i > 0]`, output `h − y`.
fn drtp_step(net: &mut [RefLayer], ms: &[Vec<f64>], x: &[f64], label: usize, lr: f64) {
    let acts = forward(net, x);
    let n = net.len();
    for i in 0..n {
        let h = &acts[i + 1];
        let e = if i + 1 < n {
            let classes = ms[i].len() / h.len();
            let mut y = vec![0.0; classes];
            y[label] = -1.0;
            back(&ms[i], &y, h)
        } else {
            minus_one_hot(h, label)
        };
        let l = &mut net[i];
        sgd(&mut l.w, &mut l.b, lr, &e, &acts[i]);
    }
}

/// Local-learned: hidden `e_c = M h + c − y`, `e = (Mᵀ e_c) ⊙ [h > 0]`
/// with `M` before its update, `M −= lr e_c hᵀ`, `c −= lr e_c`.
fn learned_step(
    net: &mut [RefLayer],
    cls: &mut [(Vec<f64>, Vec<f64>)],
    x: &[f64],
    label: usize,
    lr: f64,
) {
    let acts = forward(net, x);
    let n = net.len();
    for i in 0..n {
        let h = &acts[i + 1];
        let e = if i + 1 < n {
            let (m, c) = &mut cls[i];
            let ec = minus_one_hot(&matvec(m, h, Some(c)), label);
            let e = back(m, &ec, h);
            sgd(m, c, lr, &ec, h);
            e
        } else {
            minus_one_hot(h, label)
        };
        let l = &mut net[i];
        sgd(&mut l.w, &mut l.b, lr, &e, &acts[i]);
    }
}

/// PEPITA: `e = out − y`, modulated input `x − F e` (`F` is `cols_0 ×
/// classes`), second pass through the hidden layers; hidden `W_i −= lr (h_i −
/// h_i^mod) (x_i^mod)ᵀ`, output `W −= lr e (x^mod)ᵀ`.
fn pepita_step(net: &mut [RefLayer], f: &[f64], x: &[f64], label: usize, lr: f64) {
    let acts = forward(net, x);
    let n = net.len();
    let e = minus_one_hot(&acts[n], label);
    let fe = matvec(f, &e, None);
    let xm: Vec<f64> = x.iter().zip(&fe).map(|(a, b)| a - b).collect();
    let mods = forward(net, &xm);
    for i in 0..n {
        let d: Vec<f64> = if i + 1 < n {
            acts[i + 1]
                .iter()
                .zip(&mods[i + 1])
                .map(|(a, b)| a - b)
                .collect()
        } else {
            e.clone()
        };
        let l = &mut net[i];
        sgd(&mut l.w, &mut l.b, lr, &d, &mods[i]);
    }
}

#[test]
fn f32_step_matches_an_f64_computation_of_each_rule() {
    let model = default_model();
    let net = NetSpec::dense(vec![6, 5, 4, 3], Activation::Relu);
    let (shift, lr) = (2, 0.25);
    let pixels: [u8; 6] = [0, 51, 102, 153, 204, 255];
    let x: Vec<f64> = pixels.iter().map(|&p| p as f64 / 255.0).collect();
    let seed = 21;
    for (rule, label) in [
        (Rule::Fa(BpPolicy::Stash), 0),
        (Rule::Fa(BpPolicy::Recompute), 2),
        (Rule::Dfa(BpPolicy::Spill), 1),
        (Rule::Dfa(BpPolicy::Recompute), 2),
        (Rule::Drtp, 1),
        (Rule::LocalLearned, 0),
        (Rule::LocalLearned, 2),
        (Rule::Pepita, 1),
        (Rule::Pepita, 2),
    ] {
        let dp = FloatDatapath::new(shift);
        let mut chip = if rule.uses_classifiers() {
            Chip::new(&model, &net, dp, seed)
        } else {
            Chip::without_classifiers(&model, &net, dp, seed)
        }
        .expect("maps");
        if let Some(kind) = rule.feedback() {
            chip.attach_feedback(kind, seed).expect("feedback fits");
        }
        let before = snapshot(&chip);
        let mut want = before.clone();
        let n = chip.num_layers();
        let mut cls: Vec<(Vec<f64>, Vec<f64>)> =
            (0..n).map(|i| chip.learned_classifier(i)).collect();
        match rule {
            Rule::Fa(_) | Rule::Dfa(_) => {
                let fb: Vec<Vec<f64>> = (0..n)
                    .map(|i| chip.feedback_matrix(i).unwrap_or_default())
                    .collect();
                assert!(fb[0].is_empty() && fb[1..].iter().all(|m| !m.is_empty()));
                // Shapes: FA rows × cols, DFA classes × cols; entries ±2^-k.
                for (i, m) in fb.iter().enumerate().skip(1) {
                    let src = if matches!(rule, Rule::Fa(_)) {
                        net.sizes[i + 1]
                    } else {
                        3
                    };
                    assert_eq!(m.len(), src * net.sizes[i], "layer {i}");
                    let k = (net.sizes[i] as f64).sqrt().log2().round();
                    assert!(m.iter().all(|v| v.abs() == (-k).exp2()));
                }
                let direct = matches!(rule, Rule::Dfa(_));
                feedback_step(&mut want, &fb, direct, &x, label, lr);
            }
            Rule::Drtp => {
                let ms: Vec<Vec<f64>> = chip.layers()[..n - 1]
                    .iter()
                    .map(|l| l.classifier().iter().map(|&v| v as f64).collect())
                    .collect();
                drtp_step(&mut want, &ms, &x, label, lr);
            }
            Rule::LocalLearned => learned_step(&mut want, &mut cls, &x, label, lr),
            Rule::Pepita => {
                // ROM entries ±2^-round(log2 √C); F = ±2^-k, k for 6 inputs.
                let rom = chip.feedback_matrix(0).expect("F in core 0's ROM");
                assert_eq!(rom.len(), 6 * 3);
                assert!(rom.iter().all(|v| v.abs() == 0.5));
                let k = modulation_exponent(6);
                assert_eq!(k, 5); // 0.05·√(2/6) = 0.029 ≈ 2^-5
                let f: Vec<f64> = rom
                    .iter()
                    .map(|v| v.signum() * (-(k as f64)).exp2())
                    .collect();
                // A large step so that the tiny modulation moves the hidden
                // layers measurably (it is 2^-5 of the output error).
                pepita_step(&mut want, &f, &x, label, lr);
            }
            _ => unreachable!(),
        }
        rule.train_batch(&mut chip, &[(&pixels, label)])
            .expect("trains");
        assert_close(&snapshot(&chip), &want, &before, &rule.label());
        if rule == Rule::LocalLearned {
            for (i, want) in cls.iter().enumerate().take(n - 1) {
                let got = chip.learned_classifier(i);
                let before = chip_before_classifier(&model, &net, seed, i);
                assert_near(&got.0, &want.0, &format!("classifier {i}"));
                assert_near(&got.1, &want.1, &format!("classifier bias {i}"));
                assert!(
                    got.0
                        .iter()
                        .zip(&before.0)
                        .any(|(a, b)| (a - b).abs() > 1e-4)
                );
            }
        }
    }
}

/// Hidden layer `i`'s learned classifier as initialised for `seed`.
fn chip_before_classifier(
    model: &HwModel,
    net: &NetSpec,
    seed: u64,
    i: usize,
) -> (Vec<f64>, Vec<f64>) {
    let mut chip =
        Chip::without_classifiers(model, net, FloatDatapath::new(2), seed).expect("maps");
    chip.attach_feedback(FeedbackKind::Learned, seed)
        .expect("fits");
    chip.learned_classifier(i)
}

/// The rules that add tensors leave the weights' initialisation alone: the
/// same seed gives the same initial weights with or without them.
#[test]
fn feedback_tensors_do_not_change_the_initial_weights() {
    let model = default_model();
    let net = NetSpec::dense(vec![16, 12, 8, 4], Activation::Relu);
    let plain = Chip::without_classifiers(&model, &net, FloatDatapath::new(2), 3).expect("maps");
    for kind in [
        FeedbackKind::Fixed,
        FeedbackKind::Direct,
        FeedbackKind::Learned,
    ] {
        let mut c =
            Chip::without_classifiers(&model, &net, FloatDatapath::new(2), 3).expect("maps");
        c.attach_feedback(kind, 3).expect("fits");
        for (a, b) in c.layers().iter().zip(plain.layers()) {
            assert_eq!(a.w(), b.w(), "{kind:?}");
            assert_eq!(a.b(), b.b(), "{kind:?}");
        }
    }
}

/// A feedback ROM that does not fit is refused, naming the layer.
#[test]
fn fa_feedback_rom_too_small_is_refused() {
    let mut model = default_model();
    // 64-bit words; FA's 32 × 64 sign matrix of layer 1 needs 32 words.
    model.rom.capacity_bytes = 31 * 8;
    let net = NetSpec::dense(vec![64, 64, 32, 10], Activation::Relu);
    let mut c = Chip::without_classifiers(&model, &net, FloatDatapath::new(2), 1).expect("maps");
    match c.attach_feedback(FeedbackKind::Fixed, 1) {
        Err(e @ locus::hw::core::ChipError::RomTooSmall { .. }) => {
            assert_eq!(
                e,
                locus::hw::core::ChipError::RomTooSmall {
                    layer: 1,
                    matrix: "feedback matrix",
                    classes: 32,
                    units: 64,
                    need: 32,
                    capacity: 31
                }
            );
        }
        other => panic!("expected RomTooSmall, got {other:?}"),
    }
    // DFA's 10 × 64 matrices need 10 words each: they fit.
    let mut c = Chip::without_classifiers(&model, &net, FloatDatapath::new(2), 1).expect("maps");
    c.attach_feedback(FeedbackKind::Direct, 1).expect("fits");
}

// ---------------------------------------------------------------------------
// Learning on synthetic data
// ---------------------------------------------------------------------------

/// 10 classes of 64 pixels with heavy noise (±255), 2000 training and 1000
/// test samples: chance is 10 %.
fn data() -> (Dataset, Dataset) {
    generate(&SyntheticSpec {
        classes: 10,
        sample_len: 64,
        train: 2000,
        test: 1000,
        noise: 255,
        seed: 3,
    })
    .expect("synthetic data")
}

/// Test accuracy of `rule` after 3 epochs of 64-64-64-10 at `lr`, fixed
/// point and f32. (At 2^-5 feedback alignment is unstable here: its f32 run
/// falls from 93.8 % to 87.9 % in epoch 3 and its fixed-point weights
/// saturate, ending at chance; docs/rules.md.)
fn accuracies(
    rule: Rule,
    activation: Activation,
    lr: f64,
    data: &(Dataset, Dataset),
) -> (f64, f64) {
    let model = default_model();
    let acc = |arith| {
        let cfg = TrainConfig {
            rule,
            net: NetSpec::dense(vec![64, 64, 64, 10], activation),
            epochs: 3,
            batch: 1,
            lr,
            seed: 1,
            arith,
            train_limit: None,
            test_limit: None,
            lr_schedule: Default::default(),
            momentum: 0.0,
        };
        let (r, _) = run(&model, &cfg, &data.0, &data.1, &mut |_, _| {}).expect("trains");
        r.epochs.last().expect("an epoch").test_accuracy
    };
    (acc(Arith::Fixed), acc(Arith::F32))
}

/// Every rule learns in 16-bit fixed point, far above the 10 % of chance
/// (the local rule reaches about 95 % here), and within 2 points of its own
/// f32 run, at lr 2^-6 (PEPITA, which learns more slowly, at 2^-5: about 82 %).
/// DRTP uses hard-tanh, as its paper does: with ReLU its constant
/// target-driven updates grow activations without bound (docs/rules.md).
#[test]
fn every_rule_learns_in_fixed_point_close_to_f32() {
    let data = data();
    for (rule, act, lr, min) in [
        (Rule::Fa(BpPolicy::Spill), Activation::Relu, 1.0 / 64.0, 0.8),
        (
            Rule::Dfa(BpPolicy::Spill),
            Activation::Relu,
            1.0 / 64.0,
            0.8,
        ),
        (Rule::Drtp, Activation::HardTanh, 1.0 / 64.0, 0.8),
        (Rule::LocalLearned, Activation::Relu, 1.0 / 64.0, 0.8),
        (Rule::Pepita, Activation::Relu, 1.0 / 32.0, 0.7),
    ] {
        let (fixed, f32) = accuracies(rule, act, lr, &data);
        eprintln!("{}: fixed {fixed:.4}, f32 {f32:.4}", rule.label());
        assert!(
            fixed > min,
            "{}: fixed-point accuracy {fixed}",
            rule.label()
        );
        assert!(
            (fixed - f32).abs() <= 0.02,
            "{}: fixed {fixed} vs f32 {f32}",
            rule.label()
        );
    }
}

/// Only the rules that update each layer right after its forward step
/// pipeline samples across the cores (throughput set by the busiest core);
/// the others wait for a later error and add their cores' cycles.
#[test]
fn forward_only_rules_pipeline_the_others_are_update_locked() {
    let model = default_model();
    let data = generate(&SyntheticSpec {
        classes: 4,
        sample_len: 16,
        train: 20,
        test: 4,
        noise: 40,
        seed: 1,
    })
    .expect("synthetic data");
    for (rule, pipelined) in [
        (Rule::Local, true),
        (Rule::LocalLearned, true),
        (Rule::Drtp, true),
        (Rule::Fa(BpPolicy::Spill), false),
        (Rule::Dfa(BpPolicy::Spill), false),
        (Rule::Pepita, false),
        (Rule::Bp(BpPolicy::Spill), false),
    ] {
        let cfg = TrainConfig {
            rule,
            net: NetSpec::dense(vec![16, 12, 8, 4], Activation::Relu),
            epochs: 1,
            batch: 1,
            lr: 1.0 / 16.0,
            seed: 1,
            arith: Arith::Fixed,
            train_limit: None,
            test_limit: None,
            lr_schedule: Default::default(),
            momentum: 0.0,
        };
        let (r, _) = run(&model, &cfg, &data.0, &data.1, &mut |_, _| {}).expect("trains");
        let t = locus::report::RunReport::new(&model, &r)
            .unwrap()
            .estimated
            .timing;
        assert_eq!(t.pipelined, pipelined, "{}", rule.label());
        let max = *t.core_cycles.iter().max().expect("cores");
        let sum: u64 = t.core_cycles.iter().sum();
        assert!(max < sum, "{}: several busy cores", rule.label());
        assert_eq!(
            t.total_cycles,
            if pipelined { max } else { sum },
            "{}",
            rule.label()
        );
    }
}

// ---------------------------------------------------------------------------
// GAIT-prop
// ---------------------------------------------------------------------------

/// Forward pass with leaky-ReLU hidden layers (slope 1/8).
fn forward_leaky(net: &[RefLayer], x: &[f64]) -> Vec<Vec<f64>> {
    let mut acts = vec![x.to_vec()];
    for (i, l) in net.iter().enumerate() {
        let mut h = matvec(&l.w, &acts[i], Some(&l.b));
        if i + 1 < net.len() {
            h.iter_mut()
                .for_each(|v| *v = if *v < 0.0 { *v / 8.0 } else { *v });
        }
        acts.push(h);
    }
    acts
}

/// One GAIT-prop step in f64 as `docs/rules.md` states it: from the top,
/// `t = h + γ f'² (τ − h)`, `e = γ^-k (h − t) / f'`, the target below
/// `x + Wᵀ(f⁻¹(t) − f⁻¹(h))` (old `W`), then `W −= lr e xᵀ`.
fn gait_step_f64(net: &mut [RefLayer], x: &[f64], label: usize, lr: f64, gamma: f64) {
    let acts = forward_leaky(net, x);
    let n = net.len();
    let mut tau = vec![0.0; acts[n].len()];
    tau[label] = 1.0;
    for i in (0..n).rev() {
        let h = &acts[i + 1];
        let hidden = i + 1 < n;
        let fd: Vec<f64> = h
            .iter()
            .map(|&v| if hidden && v < 0.0 { 0.125 } else { 1.0 })
            .collect();
        let t: Vec<f64> = (0..h.len())
            .map(|j| h[j] + gamma * fd[j] * fd[j] * (tau[j] - h[j]))
            .collect();
        let k = (n - i) as i32;
        let e: Vec<f64> = (0..h.len())
            .map(|j| (h[j] - t[j]) * gamma.powi(-k) / fd[j])
            .collect();
        let finv = |v: f64| if hidden && v < 0.0 { 8.0 * v } else { v };
        let u: Vec<f64> = t.iter().zip(h).map(|(&a, &b)| finv(a) - finv(b)).collect();
        let cols = acts[i].len();
        let below: Vec<f64> = (0..cols)
            .map(|c| {
                acts[i][c]
                    + (0..h.len())
                        .map(|r| net[i].w[r * cols + c] * u[r])
                        .sum::<f64>()
            })
            .collect();
        let l = &mut net[i];
        sgd(&mut l.w, &mut l.b, lr, &e, &acts[i]);
        tau = below;
    }
}

/// Backprop in f64 with leaky-ReLU derivatives (`f' = 1/8` below zero).
fn bp_leaky_step(net: &mut [RefLayer], x: &[f64], label: usize, lr: f64) {
    let acts = forward_leaky(net, x);
    let n = net.len();
    let mut d = minus_one_hot(&acts[n], label);
    for i in (0..n).rev() {
        let cols = acts[i].len();
        let below: Vec<f64> = (0..cols)
            .map(|c| {
                let s: f64 = d
                    .iter()
                    .enumerate()
                    .map(|(r, dr)| net[i].w[r * cols + c] * dr)
                    .sum();
                if acts[i][c] < 0.0 { s / 8.0 } else { s }
            })
            .collect();
        let l = &mut net[i];
        sgd(&mut l.w, &mut l.b, lr, &d, &acts[i]);
        d = below;
    }
}

/// The f32 chip's GAIT-prop step equals the f64 statement of the rule on a
/// square 6-6-6-3 network (γ = 2^-1 and 2^-3); and, in f64, at small γ
/// the step is backprop's with the transpose in place of the inverse (the
/// paper's equivalence for orthogonal weights).
#[test]
fn gaitprop_f32_step_matches_f64_and_tends_to_backprop() {
    let model = default_model();
    let net = NetSpec::dense(vec![6, 6, 6, 3], Activation::LeakyRelu);
    let pixels: [u8; 6] = [0, 51, 102, 153, 204, 255];
    let x: Vec<f64> = pixels.iter().map(|&p| p as f64 / 255.0).collect();
    let seed = 21;
    for (g, label) in [(1u32, 0usize), (3, 2)] {
        let rule = Rule::Gaitprop(g);
        let mut chip =
            Chip::without_classifiers(&model, &net, FloatDatapath::new(2), seed).expect("maps");
        chip.attach_feedback(rule.feedback().expect("gaitprop tensors"), seed)
            .expect("fits");
        let before = snapshot(&chip);
        // Some hidden unit is negative, so the leaky branch is exercised.
        let acts = forward_leaky(&before, &x);
        assert!(acts[1..3].iter().flatten().any(|&v| v < 0.0));
        let mut want = before.clone();
        gait_step_f64(&mut want, &x, label, 0.25, (-(g as f64)).exp2());
        rule.train_batch(&mut chip, &[(&pixels, label)])
            .expect("trains");
        assert_close(&snapshot(&chip), &want, &before, &rule.label());
    }
    let init = {
        let chip =
            Chip::without_classifiers(&model, &net, FloatDatapath::new(2), seed).expect("maps");
        snapshot(&chip)
    };
    let mut bp = init.clone();
    bp_leaky_step(&mut bp, &x, 1, 0.25);
    let dist = |gamma: f64| {
        let mut gp = init.clone();
        gait_step_f64(&mut gp, &x, 1, 0.25, gamma);
        gp.iter()
            .zip(&bp)
            .flat_map(|(a, b)| a.w.iter().zip(&b.w).map(|(x, y)| (x - y).abs()))
            .fold(0.0f64, f64::max)
    };
    // Small γ: equal up to rounding (leaky ReLU is piecewise linear, so
    // only a target crossing zero departs from backprop). A very small γ
    // loses the perturbation below f64's precision (γ^3 = 2^-60 here): the
    // paper's reason for simulating in f64.
    let (near, tiny) = (dist(2f64.powi(-8)), dist(2f64.powi(-20)));
    eprintln!("max |ΔW| vs backprop: γ = 2^-8: {near:e}, 2^-20: {tiny:e}");
    assert!(near < 1e-6, "γ = 2^-8: {near}");
    assert!(tiny > 1e-4, "γ = 2^-20 is lost to f64 rounding: {tiny}");
}

/// GAIT-prop learns the noisy synthetic data in 16-bit fixed point with
/// γ = 2^-1, within 2 points of f32; with the paper's γ = 2^-10 its targets
/// are below the activation format's resolution and it stays at chance in
/// fixed point while f32 learns (docs/rules.md, "Fixed point").
#[test]
fn gaitprop_learns_at_large_gamma_and_not_at_the_papers_in_16_bits() {
    let data = data();
    let (fixed, f32) = accuracies(Rule::Gaitprop(1), Activation::LeakyRelu, 1.0 / 64.0, &data);
    eprintln!("gaitprop/g1: fixed {fixed:.4}, f32 {f32:.4}");
    assert!(fixed > 0.8, "gaitprop/g1 fixed {fixed}");
    assert!((fixed - f32).abs() <= 0.02, "fixed {fixed} vs f32 {f32}");
    let (fixed, f32) = accuracies(Rule::Gaitprop(10), Activation::LeakyRelu, 1.0 / 64.0, &data);
    eprintln!("gaitprop (2^-10): fixed {fixed:.4}, f32 {f32:.4}");
    assert!(
        fixed < 0.15,
        "16-bit targets at γ = 2^-10 carry no signal: {fixed}"
    );
    assert!(f32 > 0.5, "f32 at γ = 2^-10: {f32}");
}

/// Leaky ReLU in 16-bit fixed point: negative values are shifted right by
/// 3 (floor), and so are errors where the stored output is negative.
#[test]
fn leaky_relu_in_fixed_point_is_a_floor_shift() {
    use locus::hw::datapath::{Datapath, FixedDatapath};
    let dp = FixedDatapath::<i16>::new(&default_model(), 7).expect("datapath");
    let mut v: Vec<i16> = vec![-16, -9, -1, 0, 5, 300];
    dp.activate(Activation::LeakyRelu, &mut v);
    assert_eq!(v, vec![-2, -2, -1, 0, 5, 300]);
    let mut e: Vec<i16> = vec![80, -80, 80, 7];
    dp.mask_derivative(Activation::LeakyRelu, &[-3, -3, 0, 4], &mut e);
    assert_eq!(e, vec![10, -10, 80, 7]);
}
