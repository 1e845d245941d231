//! The dense `f64` reference the rule tests check one `f32` step against,
//! written from the equations in `docs/rules.md` (independently of
//! `src/hw`): layers, mat-vecs, the SGD step and a ReLU forward pass.
#![allow(dead_code)]

use locus::hw::core::Chip;
use locus::hw::datapath::FloatDatapath;

/// A dense layer in f64: `w` row-major `rows × cols`.
#[derive(Clone, Debug)]
pub struct RefLayer {
    pub w: Vec<f64>,
    pub b: Vec<f64>,
}

/// `m x` for a row-major `m` with `x.len()` columns, plus `b` if given.
pub fn matvec(m: &[f64], x: &[f64], b: Option<&[f64]>) -> Vec<f64> {
    m.chunks(x.len())
        .enumerate()
        .map(|(i, row)| {
            row.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + b.map_or(0.0, |b| b[i])
        })
        .collect()
}

/// `mᵀ d` for a row-major `m` with `cols` columns.
pub fn tmatvec(m: &[f64], d: &[f64], cols: usize) -> Vec<f64> {
    (0..cols)
        .map(|j| {
            d.iter()
                .enumerate()
                .map(|(i, di)| m[i * cols + j] * di)
                .sum()
        })
        .collect()
}

/// `w −= lr d xᵀ`, `b −= lr d`.
pub fn sgd(w: &mut [f64], b: &mut [f64], lr: f64, d: &[f64], x: &[f64]) {
    for ((row, b), di) in w.chunks_mut(x.len()).zip(b.iter_mut()).zip(d) {
        for (w, xj) in row.iter_mut().zip(x) {
            *w -= lr * di * xj;
        }
        *b -= lr * di;
    }
}

/// Inputs of every layer and the output: `acts[0] = x`, ReLU hidden layers.
pub fn forward(net: &[RefLayer], x: &[f64]) -> Vec<Vec<f64>> {
    let mut acts = vec![x.to_vec()];
    for (i, l) in net.iter().enumerate() {
        let mut h = matvec(&l.w, &acts[i], Some(&l.b));
        if i + 1 < net.len() {
            h.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        acts.push(h);
    }
    acts
}

/// The `f32` chip's weights and biases as f64 layers.
pub fn snapshot(chip: &Chip<FloatDatapath>) -> Vec<RefLayer> {
    chip.layers()
        .iter()
        .map(|l| RefLayer {
            w: l.w().iter().map(|&v| v as f64).collect(),
            b: l.b().iter().map(|&v| v as f64).collect(),
        })
        .collect()
}

/// Every value within 1e-5 of the reference.
pub fn assert_near(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5, "{what}[{k}]: f32 {g} vs f64 {w}");
    }
}

/// Parameters within 1e-5 of the reference, and every layer moved (by more
/// than 1e-6 somewhere), so the step was not a no-op.
pub fn assert_close(got: &[RefLayer], want: &[RefLayer], before: &[RefLayer], what: &str) {
    for (i, ((g, w), b)) in got.iter().zip(want).zip(before).enumerate() {
        assert_near(&g.w, &w.w, &format!("{what}: layer {i} w"));
        assert_near(&g.b, &w.b, &format!("{what}: layer {i} b"));
        assert!(
            g.w.iter().zip(&b.w).any(|(g, b)| (g - b).abs() > 1e-6),
            "{what}: layer {i} did not learn"
        );
    }
}
