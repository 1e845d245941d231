//! Predsim (Nøkland & Eidnes 2019): one f32 batch step against an
//! independent f64 computation (the similarity gradient itself checked by
//! finite differences of the loss), learning on synthetic data in fixed
//! point close to f32, its counters against closed forms, and batch 1
//! refused.

mod common;
mod f64_reference;

use f64_reference::{assert_close, assert_near, forward, matvec, sgd, snapshot, tmatvec};
use locus::data::{SyntheticSpec, generate};
use locus::hw::core::{Chip, ChipError, FeedbackKind, NetSpec, coefficient_macs};
use locus::hw::counters::{Class, Phase, Rw, Unit};
use locus::hw::datapath::{Activation, FixedDatapath, FloatDatapath};
use locus::hw::model::HwModel;
use locus::rules::Rule;
use locus::rules::predsim::{pred_shift, sim_shift};
use locus::sim::{Arith, SimError, TrainConfig, run};
use std::path::Path;

fn default_model() -> HwModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
    locus::hw::model::load(&path).expect("default model loads")
}

/// The similarity loss `¼‖S − T‖²_F` of the rows of `h` (cosine of the
/// centred rows; `T` 1 for equal labels, `−1/(C−1)` otherwise).
fn sim_loss(h: &[Vec<f64>], labels: &[usize], classes: usize) -> f64 {
    let n: Vec<Vec<f64>> = h
        .iter()
        .map(|v| {
            let mu = v.iter().sum::<f64>() / v.len() as f64;
            let c: Vec<f64> = v.iter().map(|x| x - mu).collect();
            let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
            c.iter().map(|x| x / norm).collect()
        })
        .collect();
    let mut l = 0.0;
    for a in 0..h.len() {
        for b in 0..h.len() {
            let s: f64 = n[a].iter().zip(&n[b]).map(|(p, q)| p * q).sum();
            let t = if labels[a] == labels[b] {
                1.0
            } else {
                -1.0 / (classes - 1) as f64
            };
            l += 0.25 * (s - t) * (s - t);
        }
    }
    l
}

/// Its gradient at every row, written directly: `r_a (I − ĥ_a ĥ_aᵀ) Σ_b G_ab ĥ_b`
/// (centring subtracts the mean of that vector, which is already 0).
fn sim_grad(h: &[Vec<f64>], labels: &[usize], classes: usize) -> Vec<Vec<f64>> {
    let rows = h[0].len();
    let (mut hat, mut r) = (Vec::new(), Vec::new());
    for v in h {
        let mu = v.iter().sum::<f64>() / rows as f64;
        let c: Vec<f64> = v.iter().map(|x| x - mu).collect();
        let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
        r.push(1.0 / norm);
        hat.push(c.iter().map(|x| x / norm).collect::<Vec<f64>>());
    }
    let dot = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(a, b)| a * b).sum::<f64>();
    (0..h.len())
        .map(|a| {
            let mut d = vec![0.0; rows];
            for b in 0..h.len() {
                let t = if labels[a] == labels[b] {
                    1.0
                } else {
                    -1.0 / (classes - 1) as f64
                };
                let g = dot(&hat[a], &hat[b]) - t;
                d.iter_mut().zip(&hat[b]).for_each(|(d, x)| *d += g * x);
            }
            let p = dot(&hat[a], &d);
            let g: Vec<f64> = d
                .iter()
                .zip(&hat[a])
                .map(|(d, x)| r[a] * (d - p * x))
                .collect();
            let mean = g.iter().sum::<f64>() / rows as f64;
            g.iter().map(|v| v - mean).collect()
        })
        .collect()
}

#[test]
fn similarity_gradient_matches_finite_differences() {
    let h = vec![
        vec![0.3, 1.2, 0.0, 0.7, 0.1],
        vec![0.9, 0.2, 0.4, 0.0, 0.5],
        vec![0.1, 1.0, 0.2, 0.6, 0.0],
    ];
    let labels = [0, 1, 0];
    let grad = sim_grad(&h, &labels, 3);
    let eps = 1e-6;
    for a in 0..3 {
        for j in 0..5 {
            let (mut p, mut m) = (h.clone(), h.clone());
            p[a][j] += eps;
            m[a][j] -= eps;
            let num = (sim_loss(&p, &labels, 3) - sim_loss(&m, &labels, 3)) / (2.0 * eps);
            assert!(
                (num - grad[a][j]).abs() < 1e-6,
                "[{a}][{j}]: {num} vs {}",
                grad[a][j]
            );
        }
    }
}

#[test]
fn f32_batch_step_matches_an_f64_computation() {
    let model = default_model();
    let net = NetSpec::dense(vec![6, 5, 4, 3], Activation::Relu);
    let (shift, lr) = (2, 0.25);
    let batch: [([u8; 6], usize); 3] = [
        ([0, 51, 102, 153, 204, 255], 0),
        ([255, 0, 30, 200, 10, 90], 1),
        ([20, 60, 140, 120, 230, 250], 0),
    ];
    let seed = 5;
    let mut chip =
        Chip::without_classifiers(&model, &net, FloatDatapath::new(shift), seed).expect("maps");
    chip.attach_feedback(FeedbackKind::Learned, seed)
        .expect("fits");
    let n = chip.num_layers();
    let before = snapshot(&chip);
    let mut want = before.clone();
    let mut cls: Vec<(Vec<f64>, Vec<f64>)> = (0..n).map(|i| chip.learned_classifier(i)).collect();
    // Forward passes; the output layer learns from h − y after each.
    let xs: Vec<Vec<f64>> = batch
        .iter()
        .map(|(p, _)| p.iter().map(|&v| v as f64 / 255.0).collect())
        .collect();
    let labels: Vec<usize> = batch.iter().map(|b| b.1).collect();
    let mut acts = Vec::new();
    for (x, &label) in xs.iter().zip(&labels) {
        let a = forward(&want, x);
        let mut e = a[n].clone();
        e[label] -= 1.0;
        let l = &mut want[n - 1];
        sgd(&mut l.w, &mut l.b, lr, &e, &a[n - 1]);
        acts.push(a);
    }
    // Hidden layers: e = (2^-σ g_sim + 2^-k Mᵀ e_c) ⊙ f'(h), then W and M.
    let (sigma, k) = (sim_shift(3), pred_shift());
    assert_eq!((sigma, k), (0, 7));
    for i in 0..n - 1 {
        let hs: Vec<Vec<f64>> = acts.iter().map(|a| a[i + 1].clone()).collect();
        let g = sim_grad(&hs, &labels, 3);
        for a in 0..3 {
            let h = &hs[a];
            let (m, c) = &mut cls[i];
            let mut ec = matvec(m, h, Some(c));
            ec[labels[a]] -= 1.0;
            let pred = tmatvec(m, &ec, h.len());
            let e: Vec<f64> = (0..h.len())
                .map(|j| {
                    let v = (-(sigma as f64)).exp2() * g[a][j] + (-(k as f64)).exp2() * pred[j];
                    if h[j] > 0.0 { v } else { 0.0 }
                })
                .collect();
            let l = &mut want[i];
            sgd(&mut l.w, &mut l.b, lr, &e, &acts[a][i]);
            sgd(m, c, lr, &ec, h);
        }
    }
    let px: Vec<(&[u8], usize)> = batch.iter().map(|(p, l)| (&p[..], *l)).collect();
    Rule::Predsim.train_batch(&mut chip, &px).expect("trains");
    assert_close(&snapshot(&chip), &want, &before, "predsim batch step");
    for (i, (m, c)) in cls.iter().enumerate().take(n - 1) {
        let (gm, gc) = chip.learned_classifier(i);
        assert_near(&gm, m, &format!("classifier {i} weights"));
        assert_near(&gc, c, &format!("classifier {i} biases"));
    }
}

/// 64-64-64-10 on noisy synthetic data (chance 10 %), batch 16, lr 2^-7,
/// 3 epochs: predsim learns far above chance in 16-bit fixed point (about
/// 83 %; f32 about 86 %) and within 5 points of f32.
#[test]
fn predsim_learns_in_fixed_point_close_to_f32() {
    let model = default_model();
    let data = generate(&SyntheticSpec {
        classes: 10,
        sample_len: 64,
        train: 2000,
        test: 1000,
        noise: 255,
        seed: 3,
    })
    .expect("synthetic data");
    let acc = |arith| {
        let cfg = TrainConfig {
            rule: Rule::Predsim,
            net: NetSpec::dense(vec![64, 64, 64, 10], Activation::Relu),
            epochs: 3,
            batch: 16,
            lr: 1.0 / 128.0,
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
    let (fixed, f32) = (acc(Arith::Fixed), acc(Arith::F32));
    eprintln!("predsim: fixed {fixed:.4}, f32 {f32:.4}");
    assert!(fixed > 0.7, "fixed-point accuracy {fixed}");
    assert!((fixed - f32).abs() <= 0.05, "fixed {fixed} vs f32 {f32}");
}

/// One batch of `B = 3` on 8-6-3 (one hidden core, everything on chip),
/// worked out by hand: the predsim counters of the hidden core against
/// their closed form (`docs/hw_model.md`, "predsim"). `tests/counts.rs`
/// checks every counter of whole runs (spills, short batches, widths).
#[test]
fn predsim_counts_equal_their_closed_form() {
    let model = default_model();
    let net = NetSpec::dense(vec![8, 6, 3], Activation::Relu);
    let (rows, cols, c, b) = (6u64, 8u64, 3u64, 3u64);
    let dp = FixedDatapath::<i16>::new(&model, 4).expect("datapath");
    let mut chip = Chip::without_classifiers(&model, &net, dp, 1).expect("maps");
    chip.attach_feedback(FeedbackKind::Learned, 1)
        .expect("fits");
    let batch: Vec<([u8; 8], usize)> = (0..3)
        .map(|k| (std::array::from_fn(|j| (40 * k + 25 * j) as u8), k % 2))
        .collect();
    let px: Vec<(&[u8], usize)> = batch.iter().map(|(p, l)| (&p[..], *l)).collect();
    chip.reset_counts();
    Rule::Predsim.train_batch(&mut chip, &px).expect("trains");
    let k = &chip.counts()[0];
    // 16-bit values in 64-bit words; 32-bit coefficients two to a word.
    let w16 = |n: u64| n.div_ceil(4);
    let w32 = |n: u64| n.div_ceil(2);
    let (le, bw, f, up) = (
        Phase::LocalError,
        Phase::Backward,
        Phase::Forward,
        Phase::Update,
    );
    let get = |u, cl, p, rw| k.get_words(u, cl, p, rw);
    // Stash: B inputs and B outputs written; outputs read B times by the
    // similarity, once by each restore, B times by each sample's error;
    // inputs read once each.
    assert_eq!(
        get(Unit::Stash, Class::Activation, f, Rw::Write),
        b * (w16(cols) + w16(rows))
    );
    assert_eq!(
        get(Unit::Stash, Class::Activation, le, Rw::Read),
        b * w16(rows) + b * (1 + b) * w16(rows)
    );
    assert_eq!(
        get(Unit::Stash, Class::Activation, bw, Rw::Read),
        b * w16(cols)
    );
    assert_eq!(k.stash_peak_words, b * (w16(cols) + w16(rows)));
    assert_eq!(k.stash_words_now, 0);
    // Nothing spilled: DRAM only supplies the input pixels.
    assert_eq!(k.dram_total(Rw::Write), Ok(0));
    assert_eq!(k.dram_bytes[le.index()], [0, 0]);
    assert_eq!(k.dram_bytes[bw.index()], [0, 0]);
    // MACs of the local-error phase: Gram and sums, coefficients, and per
    // sample the prediction error (2·C·rows) and the similarity error.
    assert_eq!(coefficient_macs(b), 5 * b * b + 2 * b);
    assert_eq!(
        k.macs[le.index()],
        (b * b + b) * rows + coefficient_macs(b) + b * (2 * c * rows + (2 * b + 1) * rows)
    );
    // Error bank in the local-error phase: coefficients written once, read
    // per sample (row of J, r_a, the sums); per sample the learned error's
    // e_c (written, read) and e (written), the similarity error's e (read,
    // written).
    assert_eq!(
        get(Unit::Error, Class::Error, le, Rw::Write),
        w32(b * b + 2 * b) + b * (w16(c) + 2 * w16(rows))
    );
    assert_eq!(
        get(Unit::Error, Class::Error, le, Rw::Read),
        b * (w32(2 * b + 1) + w16(c) + w16(rows))
    );
    // Activation bank: restored outputs written; h read twice by the
    // learned error and once by the similarity error.
    assert_eq!(
        get(Unit::Activation, Class::Activation, le, Rw::Write),
        b * w16(rows)
    );
    assert_eq!(
        get(Unit::Activation, Class::Activation, le, Rw::Read),
        b * 3 * w16(rows)
    );
    // Updates: layer and classifier per sample.
    assert_eq!(k.macs[up.index()], b * (rows * (cols + 1) + c * (rows + 1)));
}

#[test]
fn batch_one_is_refused_naming_the_option_and_the_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::synth(dir.path(), 16, 4);
    let out = common::locus(&[
        "train",
        "--rule",
        "predsim",
        "--data",
        common::s(dir.path()),
        "--layers",
        "16,8,4",
        "--batch",
        "1",
    ]);
    let err = common::user_error(&out, "predsim at batch 1");
    assert!(err.contains("--batch") && err.contains("predsim"), "{err}");
}

/// `locus compare --rules local,predsim --batch 4` runs both rules and
/// reports predsim's stash; `--batch 1` is refused there too.
#[test]
fn compare_runs_predsim_beside_local() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::synth(dir.path(), 32, 8);
    let out_dir = dir.path().join("out");
    let args = |batch: &'static str| {
        vec![
            "compare",
            "--rules",
            "local,predsim",
            "--layers",
            "16,8,4",
            "--batch",
            batch,
            "--data",
            common::s(dir.path()),
            "--out-dir",
            common::s(&out_dir),
        ]
    };
    let stdout = common::ok(&common::locus(&args("4")), "compare with predsim");
    assert!(
        stdout.lines().next().expect("a table").contains("predsim"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(out_dir.join("compare.json")).expect("json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid json");
    let runs = v["runs"].as_array().expect("runs");
    let predsim = runs
        .iter()
        .find(|r| r["run"]["config"]["rule"]["rule"] == "predsim")
        .expect("a predsim run");
    // 4·(16 + 8) 16-bit values kept on core 0 at the end of a batch.
    assert_eq!(
        predsim["measured"]["totals"]["peak_stash_bytes"],
        4 * (16 + 8) * 2
    );
    let err = common::user_error(&common::locus(&args("1")), "compare predsim at batch 1");
    assert!(err.contains("--batch") && err.contains("predsim"), "{err}");
}

/// The similarity coefficients of a batch (`B² + 2B` registers of 32 bits)
/// sit in the error bank after the layer's error and its classifier's
/// error. 16-8-4 with 64-bit error words and a 7-word error bank: at batch
/// 2 layer 0 needs `words(8) + words(4) + words(8 coefficients) = 2 + 1 +
/// 4 = 7` words, exactly the bank; at batch 3 it needs `2 + 1 + 8 = 11`,
/// and the run is refused naming the layer, the batch and the bank.
#[test]
fn similarity_coefficients_must_fit_the_error_bank() {
    let mut model = default_model();
    model.sram.error.capacity_bytes = 7 * 8;
    let data = generate(&SyntheticSpec {
        classes: 4,
        sample_len: 16,
        train: 5,
        test: 2,
        noise: 30,
        seed: 2,
    })
    .expect("synthetic data");
    let cfg = |batch| TrainConfig {
        rule: Rule::Predsim,
        net: NetSpec::dense(vec![16, 8, 4], Activation::Relu),
        epochs: 1,
        batch,
        lr: 1.0 / 16.0,
        seed: 1,
        arith: Arith::Fixed,
        train_limit: None,
        test_limit: None,
        lr_schedule: Default::default(),
        momentum: 0.0,
    };
    let (r, _) = run(&model, &cfg(2), &data.0, &data.1, &mut |_, _| {}).expect("batch 2 fits");
    assert_eq!(r.counts[0].error_peak_words, 7);
    let err = run(&model, &cfg(3), &data.0, &data.1, &mut |_, _| {}).expect_err("batch 3");
    let msg = err.to_string();
    let SimError::Chip(err) = err else {
        panic!("not a mapping error: {msg}")
    };
    assert_eq!(
        err,
        ChipError::SimilarityDoesNotFit {
            layer: 0,
            batch: 3,
            need: 11,
            capacity: 7,
        }
    );
    assert!(
        msg.contains("sram.error") && msg.contains("batch of 3"),
        "{msg}"
    );
}
