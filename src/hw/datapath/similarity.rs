//! Predsim's similarity unit (Nøkland & Eidnes 2019): the cosine similarity
//! of a batch's centred activation vectors against the similarity of their
//! centred one-hot labels, and the gradient of the similarity loss at each
//! vector.
//!
//! With `B` vectors `h_a` (`rows` activations each), centred `h̃_a = h_a −
//! mean(h_a)`, `r_a = 1/‖h̃_a‖`, `S_ab = r_a r_b (h̃_a·h̃_b)`, `T_ab = 1` for
//! equal labels and `−1/(C−1)` otherwise, `G = S − T` and the loss
//! `¼‖S − T‖²_F`, the gradient at `h_a` is `r_a (I − ĥ_a ĥ_aᵀ) Σ_b G_ab ĥ_b`
//! (`ĥ = r h̃`; already centred, so centring adds nothing to it), which is
//! `r_a Σ_b J_ab h̃_b` with the `B × B` coefficients `J_ab = r_b G_ab − [a = b]
//! r_a p_a`, `p_a = Σ_b G_ab S_ab`. The unit computes `J`, `r` and the sums
//! `s_b = Σ_j h_b[j]` once per batch ([`sim_coefficients_fixed`]), then one
//! error vector per sample as a `B`-term weighted sum of the kept vectors,
//! scaled by `2^-σ` (the rule's loss weight). Fixed point
//! (`docs/arithmetic.md`, "Similarity"): exact 128-bit products and sums
//! (centring as `rows·h − s`, so no division by `rows` is rounded before
//! the end), coefficients in `Q·.SIM_FRAC` rounded to nearest (ties to
//! even), one requantisation into the error format with the error class's
//! rounding.

use super::{Activation, Datapath, FixedDatapath};
use crate::quant::{Raw, Requantizer, Rounding};

/// Fractional bits of the similarity unit's coefficient registers (`r`,
/// `S`, `G`, `p`, `J`): 24.
pub const SIM_FRAC: u32 = 24;

/// `x · 2^-s` rounded to nearest, ties to even (`s ≥ 0`).
fn rne(x: i128, s: u32) -> i128 {
    if s == 0 {
        return x;
    }
    let q = x >> s;
    let rem = x - (q << s);
    let half = 1i128 << (s - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q + 1
    } else {
        q
    }
}

/// `x / d` rounded to nearest, ties to even (`d > 0`).
fn div_rne(x: i128, d: i128) -> i128 {
    let q = x.div_euclid(d);
    let twice = 2 * (x - q * d);
    if twice > d || (twice == d && q & 1 == 1) {
        q + 1
    } else {
        q
    }
}

/// `1/‖h̃‖` in `Q·.SIM_FRAC`, truncated, from `G' = rows·‖h̃‖²·2^2a` (the
/// centred vector's sum of squares scaled by `rows`, exact):
/// `⌊√⌊rows·2^(2a+2·SIM_FRAC) / G'⌋⌋`; 0 when `G' = 0` (a constant vector
/// has no direction and gets no gradient).
pub fn rsqrt_fixed(g: i128, rows: usize, a_frac: u32) -> i128 {
    if g <= 0 {
        return 0;
    }
    let num = (rows as u128) << (2 * a_frac + 2 * SIM_FRAC);
    (num / g as u128).isqrt() as i128
}

/// Label similarity of two different classes in `Q·.SIM_FRAC`: the cosine
/// of two centred one-hot vectors, `−1/(classes − 1)`, rounded to nearest.
pub fn label_off_fixed(classes: usize) -> i128 {
    -div_rne(1i128 << SIM_FRAC, (classes.max(2) - 1) as i128)
}

/// Layout of the coefficient vector: `B × B` values of `J` (row-major),
/// then the `B` values of `r`, then the `B` sums `s_b = Σ_j h_b[j]`.
pub fn coef_len(b: usize) -> usize {
    b * b + 2 * b
}

/// Computes `J`, `r` (`Q·.SIM_FRAC`) and the sums `s` (activation format,
/// exact), [`coef_len`] values, from the batch's vectors `hs` (`B × rows`,
/// activation format with `a_frac` fractional bits) and labels.
pub fn sim_coefficients_fixed<V: Raw>(
    hs: &[V],
    rows: usize,
    labels: &[usize],
    classes: usize,
    a_frac: u32,
    coef: &mut [i64],
) {
    let b = labels.len();
    let h = |k: usize| &hs[k * rows..(k + 1) * rows];
    let sum: Vec<i128> = (0..b)
        .map(|k| h(k).iter().map(|v| v.to_i64() as i128).sum())
        .collect();
    // G' = rows·(h_a·h_b) − s_a s_b = rows · (h̃_a·h̃_b), exact.
    let mut gram = vec![0i128; b * b];
    for x in 0..b {
        for y in 0..b {
            let dot: i128 = h(x)
                .iter()
                .zip(h(y))
                .map(|(p, q)| p.to_i64() as i128 * q.to_i64() as i128)
                .sum();
            gram[x * b + y] = rows as i128 * dot - sum[x] * sum[y];
        }
    }
    let r: Vec<i128> = (0..b)
        .map(|k| rsqrt_fixed(gram[k * b + k], rows, a_frac))
        .collect();
    let one = 1i128 << SIM_FRAC;
    let off = label_off_fixed(classes);
    let denom = (rows as i128) << (2 * a_frac + SIM_FRAC);
    let mut g = vec![0i128; b * b];
    let mut s = vec![0i128; b * b];
    for x in 0..b {
        for y in 0..b {
            let sxy = div_rne(gram[x * b + y] * r[x] * r[y], denom);
            s[x * b + y] = sxy;
            g[x * b + y] = sxy - if labels[x] == labels[y] { one } else { off };
        }
    }
    for x in 0..b {
        let p = rne((0..b).map(|y| g[x * b + y] * s[x * b + y]).sum(), SIM_FRAC);
        for y in 0..b {
            let diag = if x == y { r[x] * p } else { 0 };
            coef[x * b + y] = rne(r[y] * g[x * b + y] - diag, SIM_FRAC) as i64;
        }
        coef[b * b + x] = r[x] as i64;
        coef[b * b + b + x] = sum[x] as i64;
    }
}

impl<V: Raw> FixedDatapath<V> {
    /// See [`crate::hw::datapath::Datapath::similarity_error`].
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sim_error_fixed(
        &mut self,
        coef: &[i64],
        a: usize,
        hs: &[V],
        rows: usize,
        sim_shift: i32,
        pred_shift: u32,
        f: Activation,
        e: &mut [V],
    ) {
        let b = labels_of(coef.len());
        let (af, ef) = (self.activation.frac, self.error.frac);
        // 2^-σ · r_a Σ_b J_ab (h_b − s_b/rows) has SIM_FRAC + a fractional
        // bits; the prediction error (e fractional bits) joins it scaled by
        // 2^-pred_shift; one requantisation into the error format.
        let frac = SIM_FRAC + af;
        let join = frac as i64 - ef as i64 - pred_shift as i64;
        let rq = match Requantizer::with_shift(
            frac as i32 - ef as i32,
            self.error,
            self.bwd.rounding(),
            self.bwd.overflow(),
        ) {
            Ok(rq) => rq,
            Err(_) => unreachable!("similarity shift {frac} - {ef} is within the supported range"),
        };
        let ra = coef[b * b + a] as i128;
        let row = &coef[a * b..(a + 1) * b];
        let sums = &coef[b * b + b..];
        let ha = &hs[a * rows..(a + 1) * rows];
        let n = rows as i128;
        let (num_shift, denom) = if SIM_FRAC as i32 + sim_shift >= 0 {
            (0, n << (SIM_FRAC as i32 + sim_shift))
        } else {
            (-(SIM_FRAC as i32 + sim_shift), n)
        };
        for j in 0..rows {
            let u: i128 = (0..b)
                .map(|k| row[k] as i128 * (n * hs[k * rows + j].to_i64() as i128 - sums[k] as i128))
                .sum();
            let sim = div_rne((u * ra) << num_shift, denom);
            let pred = e[j].to_i64() as i128;
            let pred = if join >= 0 {
                pred << join
            } else {
                rne(pred, (-join) as u32)
            };
            let v = (sim + pred).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
            if rq.rounding() == Rounding::Stochastic {
                self.draws += 1;
            }
            let out = rq.apply(v, &mut self.lfsr, &mut self.overflow.error) as i64;
            e[j] = if self.active(f, ha[j]) {
                V::from_i64_unchecked(out)
            } else {
                V::from_i64_unchecked(0)
            };
        }
    }
}

/// `f32` coefficients: the same equations without rounding.
pub fn sim_coefficients_f32(
    hs: &[f32],
    rows: usize,
    labels: &[usize],
    classes: usize,
    coef: &mut [f32],
) {
    let b = labels.len();
    let centred: Vec<f32> = hs
        .chunks(rows)
        .flat_map(|h| {
            let mu = h.iter().sum::<f32>() / rows as f32;
            h.iter().map(move |v| v - mu)
        })
        .collect();
    let h = |k: usize| &centred[k * rows..(k + 1) * rows];
    let gram: Vec<f32> = (0..b * b)
        .map(|k| super::dot_f32(h(k / b), h(k % b)))
        .collect();
    let r: Vec<f32> = (0..b)
        .map(|k| {
            let g = gram[k * b + k];
            if g > 0.0 { 1.0 / g.sqrt() } else { 0.0 }
        })
        .collect();
    let s: Vec<f32> = (0..b * b).map(|k| gram[k] * r[k / b] * r[k % b]).collect();
    let off = label_off_f32(classes);
    let g: Vec<f32> = (0..b * b)
        .map(|k| {
            s[k] - if labels[k / b] == labels[k % b] {
                1.0
            } else {
                off
            }
        })
        .collect();
    for x in 0..b {
        let p: f32 = (0..b).map(|y| g[x * b + y] * s[x * b + y]).sum();
        for y in 0..b {
            let diag = if x == y { r[x] * p } else { 0.0 };
            coef[x * b + y] = r[y] * g[x * b + y] - diag;
        }
        coef[b * b + x] = r[x];
        coef[b * b + b + x] = hs[x * rows..(x + 1) * rows].iter().sum();
    }
}

/// Label similarity of two different classes: the cosine of two centred
/// one-hot vectors of `classes` entries, `−1/(classes − 1)`.
fn label_off_f32(classes: usize) -> f32 {
    -1.0 / (classes.max(2) - 1) as f32
}

/// `f32` error of sample `a`: `e ← (2^-sim_shift r_a Σ_b J_ab (h_b − μ_b) +
/// 2^-pred_shift e) ⊙ f'(h_a)`.
#[allow(clippy::too_many_arguments)]
pub fn sim_error_f32(
    coef: &[f32],
    a: usize,
    hs: &[f32],
    rows: usize,
    sim_shift: i32,
    pred_shift: u32,
    f: Activation,
    e: &mut [f32],
) {
    let b = labels_of(coef.len());
    let ra = coef[b * b + a];
    let row = &coef[a * b..(a + 1) * b];
    let scale = (-(pred_shift as f32)).exp2();
    let sim_scale = (-(sim_shift as f32)).exp2();
    let mu: Vec<f32> = hs
        .chunks(rows)
        .map(|h| h.iter().sum::<f32>() / rows as f32)
        .collect();
    for j in 0..rows {
        let u: f32 = (0..b).map(|k| row[k] * (hs[k * rows + j] - mu[k])).sum();
        let v = sim_scale * ra * u + scale * e[j];
        e[j] = if f.slope_is_one(hs[a * rows + j], 1.0) {
            v
        } else {
            0.0
        };
    }
}

/// The batch size `B` of a coefficient vector of `len = B² + 2B` values.
pub fn labels_of(len: usize) -> usize {
    let mut b = 0;
    while coef_len(b + 1) <= len {
        b += 1;
    }
    b
}
