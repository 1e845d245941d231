//! Updates rounded to zero: per run, how many weight-update products
//! `e·x ≠ 0` there were, how many were smaller than one LSB of the update
//! format, and how many the update's rounding turned into `Δ = 0`, so that
//! the stored weight did not move (definitions in `docs/arithmetic.md`,
//! "Updates rounded to zero").
//!
//! A dense update is counted once per call, outside the vectorised update
//! loop: the input `x` is shared by every row, so its nonzero magnitudes
//! are sorted once (into reused buffers) and each row's count is a binary
//! search for the largest `|x|` whose product with `|e[i]|` is below the
//! threshold. The conv update, which already visits each weight's
//! accumulated sum one by one, counts element by element with the same rule.

use crate::quant::Raw;
use crate::quant::Rounding;
use serde::{Deserialize, Serialize};

/// Weight-update products of a run and those that rounding made vanish.
/// `vanished ≤ sub_lsb ≤ products` (all counts of elements of `[W | b]`,
/// one per element per update).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRounding {
    /// Elements of `[W | b]` updated with a nonzero exact product `e·x`
    /// (a conv weight: a nonzero accumulated sum over positions), count.
    pub products: u64,
    /// Of those, the products smaller in magnitude than one LSB of the
    /// update (`|e·x| < 2^s`, `s` the update's requantisation shift): the
    /// updates that only survive rounding by chance or in expectation.
    /// Independent of the rounding mode; 0 when `s ≤ 0` (no rounding).
    pub sub_lsb: u64,
    /// Of those, the products whose update rounded to `Δ = 0` (nearest:
    /// `|e·x| ≤ 2^(s-1)`, ties to even; truncate: `0 < e·x < 2^s`).
    /// `None` when the update format rounds stochastically: whether a
    /// product rounds to 0 then depends on its LFSR draw, and in
    /// expectation no update vanishes (read `sub_lsb` instead).
    pub vanished: Option<u64>,
}

impl UpdateRounding {
    /// Zero counts for an update format rounding by `rounding`: `vanished`
    /// is counted (`Some(0)`) unless the rounding is stochastic.
    pub fn new(rounding: Rounding) -> Self {
        UpdateRounding {
            products: 0,
            sub_lsb: 0,
            vanished: (rounding != Rounding::Stochastic).then_some(0),
        }
    }

    /// `vanished / products` (0 with no products), or `None` when not counted.
    pub fn vanished_fraction(&self) -> Option<f64> {
        self.vanished
            .map(|v| v as f64 / self.products.max(1) as f64)
    }

    /// `sub_lsb / products` (0 with no products).
    pub fn sub_lsb_fraction(&self) -> f64 {
        self.sub_lsb as f64 / self.products.max(1) as f64
    }
}

/// Magnitude thresholds of one update shift `s`: a product `p ≠ 0` is
/// below one LSB when `|p| < sub`, and rounds to 0 by nearest when
/// `|p| < near` (`|p| ≤ 2^(s-1)`: a tie `±2^(s-1)` goes to the even 0) and
/// by truncate (floor) when `0 < p < sub`.
#[derive(Clone, Copy, Debug)]
struct Limits {
    sub: u64,
    near: u64,
}

impl Limits {
    /// `None` when `s ≤ 0`: the update is exact (a left shift) and nothing
    /// is rounded.
    fn new(shift: i32) -> Option<Self> {
        (shift > 0).then(|| Limits {
            sub: 1u64 << shift,
            near: (1u64 << (shift - 1)) + 1,
        })
    }
}

/// Counts one product (or accumulated sum) `p` requantised by `shift` bits
/// with `rounding` into `stats`, by the rule of [`UpdateRounding`].
#[inline]
pub(super) fn count_one(stats: &mut UpdateRounding, p: i64, shift: i32, rounding: Rounding) {
    if p == 0 {
        return;
    }
    stats.products += 1;
    let Some(lim) = Limits::new(shift) else {
        return;
    };
    let a = p.unsigned_abs();
    stats.sub_lsb += (a < lim.sub) as u64;
    if let Some(v) = &mut stats.vanished {
        *v += match rounding {
            Rounding::Nearest => (a < lim.near) as u64,
            Rounding::Truncate => (p > 0 && a < lim.sub) as u64,
            Rounding::Stochastic => 0,
        };
    }
}

/// The counter of a dense update: the update's shift and rounding, and
/// scratch buffers reused between calls (no allocation once grown).
#[derive(Clone, Debug)]
pub(super) struct ZeroCounter {
    shift: i32,
    rounding: Rounding,
    /// `|x|` of the positive and of the negative inputs, ascending (with
    /// a rounding other than truncation, all nonzero `|x|` in `x_pos`).
    x_pos: Vec<u32>,
    x_neg: Vec<u32>,
    /// `|e|` of the rows with positive and with negative errors, likewise.
    e_pos: Vec<u32>,
    e_neg: Vec<u32>,
    tmp: Vec<u32>,
}

/// Sorts `v` ascending: LSD radix sort on 8-bit digits, as many passes as
/// the largest key needs (two for 16-bit values, whose digit histograms are
/// taken in one pass), a pass skipped when all keys share its digit; `tmp`
/// is scratch. Short inputs use the standard sort.
fn radix_sort(v: &mut Vec<u32>, tmp: &mut Vec<u32>) {
    let n = v.len();
    if n <= 64 {
        v.sort_unstable();
        return;
    }
    let max = v.iter().copied().max().unwrap_or(0);
    let passes = (32 - max.leading_zeros()).div_ceil(8) as usize;
    let mut hist = [[0u32; 256]; 4];
    if passes <= 2 {
        let [h0, h1, ..] = &mut hist;
        for &k in v.iter() {
            h0[(k & 255) as usize] += 1;
            h1[((k >> 8) & 255) as usize] += 1;
        }
    } else {
        for &k in v.iter() {
            for (p, h) in hist.iter_mut().enumerate() {
                h[((k >> (8 * p)) & 255) as usize] += 1;
            }
        }
    }
    tmp.clear();
    tmp.resize(n, 0);
    for (p, h) in hist.iter().enumerate().take(passes) {
        if h.iter().any(|&c| c as usize == n) {
            continue;
        }
        let mut off = [0u32; 256];
        let mut acc = 0;
        for (o, &c) in off.iter_mut().zip(h) {
            *o = acc;
            acc += c;
        }
        for &k in v.iter() {
            let d = ((k >> (8 * p)) & 255) as usize;
            tmp[off[d] as usize] = k;
            off[d] += 1;
        }
        std::mem::swap(v, tmp);
    }
}

/// For ascending magnitudes `xs` (inputs) and `es` (errors):
/// `(Σ_a #{x : x·a < sub}, Σ_a #{x : x·a < near})` over `a` in `es`, by one
/// merge-like walk (the count of each row can only fall as `a` grows);
/// the second sum only when `NEAR`. O(`xs.len() + es.len()`).
fn walk<const NEAR: bool>(xs: &[u32], es: &[u32], lim: Limits) -> (u64, u64) {
    let (mut ks, mut kn) = (xs.len(), xs.len());
    let (mut sub, mut near) = (0u64, 0u64);
    for &a in es {
        let a = a as u64;
        while ks > 0 && xs[ks - 1] as u64 * a >= lim.sub {
            ks -= 1;
        }
        if ks == 0 {
            break;
        }
        sub += ks as u64;
        if NEAR {
            // near <= sub: every x at or above ks is out already.
            kn = kn.min(ks);
            while kn > 0 && xs[kn - 1] as u64 * a >= lim.near {
                kn -= 1;
            }
            near += kn as u64;
        }
    }
    (sub, near)
}

impl ZeroCounter {
    /// The counter of an update requantised by `shift` bits with `rounding`.
    pub(super) fn new(shift: i32, rounding: Rounding) -> Self {
        ZeroCounter {
            shift,
            rounding,
            x_pos: Vec::new(),
            x_neg: Vec::new(),
            e_pos: Vec::new(),
            e_neg: Vec::new(),
            tmp: Vec::new(),
        }
    }

    /// Counts the update of `[W | b]` by errors `e` (rows) and inputs `x`
    /// (columns; the bias column's input is `one`, i.e. 1.0, at most
    /// `2^31`) into `stats`.
    /// The nonzero magnitudes of `x` and of `e` are sorted (radix sort; by
    /// sign for truncation), then one walk (per pair of signs) counts every
    /// row: O(rows + cols) per call.
    pub(super) fn count_dense<V: Raw>(
        &mut self,
        stats: &mut UpdateRounding,
        e: &[V],
        x: &[V],
        one: i64,
    ) {
        /// The nonzero magnitudes of `v`, compacted branch-free (the signs
        /// and zeros of activations and errors are unpredictable); by sign
        /// into `pos` and `neg` when `by_sign`, else all into `pos`.
        fn split<V: Raw>(v: &[V], by_sign: bool, pos: &mut Vec<u32>, neg: &mut Vec<u32>) {
            pos.resize(v.len(), 0);
            neg.resize(if by_sign { v.len() } else { 0 }, 0);
            let (mut np, mut nn) = (0, 0);
            if by_sign {
                for v in v {
                    let v = v.to_i64();
                    let m = v.unsigned_abs() as u32;
                    pos[np] = m;
                    neg[nn] = m;
                    np += (v > 0) as usize;
                    nn += (v < 0) as usize;
                }
            } else {
                for v in v {
                    let m = v.to_i64().unsigned_abs() as u32;
                    pos[np] = m;
                    np += (m != 0) as usize;
                }
            }
            pos.truncate(np);
            neg.truncate(nn);
        }
        // Only truncation depends on the sign of e·x: it rounds 0 < e·x <
        // 2^s to 0 but not -2^s < e·x < 0.
        let by_sign = self.rounding == Rounding::Truncate;
        split(e, by_sign, &mut self.e_pos, &mut self.e_neg);
        let ne = (self.e_pos.len() + self.e_neg.len()) as u64;
        if ne == 0 {
            return;
        }
        split(x, by_sign, &mut self.x_pos, &mut self.x_neg);
        // The bias column: one more input, 1.0 (`one > 0`).
        self.x_pos.push(one as u32);
        let nx = (self.x_pos.len() + self.x_neg.len()) as u64;
        stats.products += ne * nx;
        let Some(lim) = Limits::new(self.shift) else {
            return;
        };
        for v in [
            &mut self.x_pos,
            &mut self.x_neg,
            &mut self.e_pos,
            &mut self.e_neg,
        ] {
            radix_sort(v, &mut self.tmp);
        }
        let (xp, xn, ep, en) = (&self.x_pos, &self.x_neg, &self.e_pos, &self.e_neg);
        match self.rounding {
            Rounding::Nearest => {
                // All magnitudes are in `xp` and `ep`.
                let (sub, near) = walk::<true>(xp, ep, lim);
                stats.sub_lsb += sub;
                if let Some(v) = &mut stats.vanished {
                    *v += near;
                }
            }
            Rounding::Stochastic => stats.sub_lsb += walk::<false>(xp, ep, lim).0,
            Rounding::Truncate => {
                // Products e·x > 0 (same signs) round to 0 below 2^s.
                let same = walk::<false>(xp, ep, lim).0 + walk::<false>(xn, en, lim).0;
                let other = walk::<false>(xp, en, lim).0 + walk::<false>(xn, ep, lim).0;
                stats.sub_lsb += same + other;
                if let Some(v) = &mut stats.vanished {
                    *v += same;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::datapath::{Datapath, FixedDatapath};
    use crate::hw::model::HwModel;
    use crate::quant::{Lfsr, OverflowStats, QFormat, Requantizer};

    /// Error Q16.4, activation Q16.2 (so the bias input 1.0 is raw 4),
    /// weights and updates Q16.9, lr 2^-6: the update shift is
    /// `s = 4 + 2 + 6 − 9 = 3`, one update LSB is `|e·x| = 8` and half of it 4.
    const LR_SHIFT: u32 = 6;
    const SHIFT: i32 = 3;
    const ONE: i64 = 4;
    /// Rows with positive, negative and zero errors.
    const E: [i64; 5] = [1, -1, 0, 3, -2];
    /// Columns with a zero, both signs, and products on both sides of 4 and 8.
    const X: [i64; 7] = [0, 1, -1, 2, 3, -4, 5];

    fn model(rounding: Rounding) -> HwModel {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
        let mut m = crate::hw::model::load(&path).unwrap();
        let f = &mut m.formats;
        (f.error.frac, f.activation.frac) = (4, 2);
        (f.weight.frac, f.update.frac) = (9, 9);
        f.update.rounding = rounding;
        m
    }

    /// Runs the datapath's update on `E`, `X` from weights of 100 (far from
    /// the range): the counts, and how many weights with a nonzero product
    /// kept their value.
    fn run<V: Raw>(rounding: Rounding) -> (UpdateRounding, usize) {
        let mut dp = FixedDatapath::<V>::new(&model(rounding), LR_SHIFT).unwrap();
        let v = |s: &[i64]| -> Vec<V> { s.iter().map(|&x| V::from_i64_unchecked(x)).collect() };
        let (e, x) = (v(&E), v(&X));
        let mut w = v(&[100; 35]);
        let mut b = v(&[100; 5]);
        dp.update(&mut w, &mut b, &e, &x);
        let mut kept = 0;
        for (i, &ei) in E.iter().enumerate() {
            for (j, &xj) in X.iter().chain(&[ONE]).enumerate() {
                let after = if j < X.len() {
                    w[i * X.len() + j]
                } else {
                    b[i]
                };
                kept += (ei * xj != 0 && after.to_i64() == 100) as usize;
            }
        }
        (dp.update_rounding(), kept)
    }

    /// The update requantiser of the hand-worked cases: `SHIFT` bits into
    /// a saturating Q7.9 with `rounding`.
    fn update_requantizer(rounding: Rounding) -> Requantizer {
        let q = QFormat::new(16, 9).unwrap();
        Requantizer::with_shift(SHIFT, q, rounding, crate::quant::Overflow::Saturate).unwrap()
    }

    /// The documented rule applied element by element with the real
    /// requantiser: products `e·x ≠ 0`, those with `|e·x| < 2^s`, and those
    /// whose requantised `Δ` is 0 with no overflow event.
    fn reference(rounding: Rounding) -> (u64, u64, u64) {
        let rq = update_requantizer(rounding);
        let mut lfsr = Lfsr::new(1).unwrap();
        let (mut products, mut sub, mut vanished) = (0, 0, 0);
        for &e in &E {
            for &x in X.iter().chain(&[ONE]) {
                let p = e * x;
                if p == 0 {
                    continue;
                }
                let mut st = OverflowStats::default();
                let d = rq.apply(p, &mut lfsr, &mut st);
                products += 1;
                sub += (p.abs() < 1 << SHIFT) as u64;
                vanished += (d == 0 && st.total() == 0) as u64;
            }
        }
        (products, sub, vanished)
    }

    #[test]
    fn hand_worked_update_counts_ties_signs_bias_and_zeros() {
        // Products per row with e ≠ 0: 6 nonzero x + the bias = 7, 4 rows: 28.
        // Below one LSB (|p| < 8): e=1: 7 (p = 1,-1,2,3,-4,5, bias 4);
        // e=-1: 7; e=3: 3 (3,-3,6); e=-2: 4 (-2,2,-4,-6): 21.
        // Nearest, |p| <= 4 (the ties ±4 go to the even 0): 6 + 6 + 2 + 3 = 17.
        // Truncate (floor), 0 < p < 8: e=1: 1,2,3,5,bias 4 (5); e=-1: 1,4 (2);
        // e=3: 3,6 (2); e=-2: 2 (1): 10.
        for (rounding, want) in [
            (Rounding::Nearest, Some(17)),
            (Rounding::Truncate, Some(10)),
            (Rounding::Stochastic, None),
        ] {
            let (p, s, v) = reference(rounding);
            assert_eq!((p, s), (28, 21), "{rounding:?}: reference");
            if let Some(want) = want {
                assert_eq!(v, want, "{rounding:?}: reference");
            }
            for (lane, (got, kept)) in
                [("i16", run::<i16>(rounding)), ("i32", run::<i32>(rounding))]
            {
                let expect = UpdateRounding {
                    products: 28,
                    sub_lsb: 21,
                    vanished: want,
                };
                assert_eq!(got, expect, "{rounding:?}, {lane} lanes");
                if let Some(want) = want {
                    // A vanished update is exactly a weight that kept its value.
                    assert_eq!(kept as u64, want, "{rounding:?}, {lane} lanes");
                }
            }
        }
    }

    #[test]
    fn updates_accumulate_and_an_exact_update_rounds_nothing() {
        // Two calls add up.
        let mut dp = FixedDatapath::<i16>::new(&model(Rounding::Nearest), LR_SHIFT).unwrap();
        let (e, x): (Vec<i16>, Vec<i16>) = (
            E.iter().map(|&v| v as i16).collect(),
            X.iter().map(|&v| v as i16).collect(),
        );
        let (mut w, mut b) = (vec![0i16; 35], vec![0i16; 5]);
        dp.update(&mut w, &mut b, &e, &x);
        dp.update(&mut w, &mut b, &e, &x);
        assert_eq!(
            dp.update_rounding(),
            UpdateRounding {
                products: 56,
                sub_lsb: 42,
                vanished: Some(34)
            }
        );
        // lr 2^0 with an update fraction of 9 > 4 + 2: a left shift, exact.
        let mut dp = FixedDatapath::<i16>::new(&model(Rounding::Nearest), 0).unwrap();
        dp.update(&mut w, &mut b, &e, &x);
        assert_eq!(
            dp.update_rounding(),
            UpdateRounding {
                products: 28,
                sub_lsb: 0,
                vanished: Some(0)
            }
        );
    }

    #[test]
    fn count_one_follows_the_rule_at_the_edges() {
        let at = |p: i64, shift: i32, r: Rounding| {
            let mut s = UpdateRounding::new(r);
            count_one(&mut s, p, shift, r);
            (s.products, s.sub_lsb, s.vanished.unwrap_or(9))
        };
        let n = Rounding::Nearest;
        let t = Rounding::Truncate;
        assert_eq!(at(0, 3, n), (0, 0, 0));
        assert_eq!(at(4, 3, n), (1, 1, 1)); // tie 0.5 → 0
        assert_eq!(at(-4, 3, n), (1, 1, 1)); // tie −0.5 → 0
        assert_eq!(at(5, 3, n), (1, 1, 0));
        assert_eq!(at(-8, 3, n), (1, 0, 0));
        assert_eq!(at(7, 3, t), (1, 1, 1));
        assert_eq!(at(-1, 3, t), (1, 1, 0)); // floor(−1/8) = −1
        assert_eq!(at(8, 3, t), (1, 0, 0));
        assert_eq!(at(1, 0, n), (1, 0, 0));
        assert_eq!(at(1, -2, t), (1, 0, 0));
        assert_eq!(at(1 << 61, 62, n), (1, 1, 1));
        assert_eq!(at(3, 3, Rounding::Stochastic), (1, 1, 9));
    }

    #[test]
    fn conv_update_counts_each_weights_accumulated_sum() {
        use crate::net::spec::ConvGeom;
        // 1×3×3 input, two 2×2 kernels, stride 1: 4 positions, patches of 4.
        let g = ConvGeom {
            in_c: 1,
            in_h: 3,
            in_w: 3,
            k: 2,
            out_c: 2,
            stride: 1,
            pad: 0,
            groups: 1,
            out_h: 2,
            out_w: 2,
            pool: None,
            pool_stride: 1,
            pool_pad: 0,
            skip: None,
        };
        let x: [i64; 9] = [1, -1, 2, 0, 3, -2, 1, 1, 0];
        // Kernel 0's errors per position; kernel 1's are all 0.
        let d: [i64; 8] = [1, 0, -1, 2, 0, 0, 0, 0];
        for rounding in [Rounding::Nearest, Rounding::Truncate, Rounding::Stochastic] {
            // Reference: each weight's sum over positions, requantised once.
            let rq = update_requantizer(rounding);
            let mut lfsr = Lfsr::new(1).unwrap();
            let (mut products, mut sub, mut vanished) = (0, 0, 0);
            for o in 0..2 {
                for j in 0..=4 {
                    let sum: i64 = (0..4)
                        .map(|pos| {
                            let (oy, ox) = (pos / 2, pos % 2);
                            let xin = if j < 4 {
                                x[(oy + j / 2) * 3 + ox + j % 2]
                            } else {
                                ONE
                            };
                            d[o * 4 + pos] * xin
                        })
                        .sum();
                    if sum == 0 {
                        continue;
                    }
                    let mut st = OverflowStats::default();
                    let r = rq.apply(sum, &mut lfsr, &mut st);
                    products += 1;
                    sub += (sum.abs() < 1 << SHIFT) as u64;
                    vanished += (r == 0 && st.total() == 0) as u64;
                }
            }
            let mut dp = FixedDatapath::<i16>::new(&model(rounding), LR_SHIFT).unwrap();
            let v = |s: &[i64]| -> Vec<i16> { s.iter().map(|&x| x as i16).collect() };
            let (mut w, mut b) = (v(&[100; 8]), v(&[100; 2]));
            dp.conv_update(&g, &mut w, &mut b, &v(&d), &v(&x));
            let want = UpdateRounding {
                products,
                sub_lsb: sub,
                vanished: (rounding != Rounding::Stochastic).then_some(vanished),
            };
            assert_eq!(dp.update_rounding(), want, "{rounding:?}");
            // By hand, kernel 0's sums: 7, -8, 1, 2 and the bias 2·4 = 8;
            // kernel 1 has none. Below 8: 7, 1, 2; nearest (≤ 4): 1, 2;
            // truncate (0 < sum < 8): 7, 1, 2.
            assert_eq!((products, sub), (5, 3), "{rounding:?}");
            let by_hand = [(Rounding::Nearest, 2), (Rounding::Truncate, 3)];
            if let Some(&(_, n)) = by_hand.iter().find(|(r, _)| *r == rounding) {
                assert_eq!(vanished, n, "{rounding:?}");
            }
        }
    }

    #[test]
    fn radix_sort_sorts() {
        let mut tmp = Vec::new();
        for n in [0usize, 5, 64, 65, 300, 1000] {
            for max in [1u32, 255, 256, 65535, 70000, u32::MAX] {
                let mut v: Vec<u32> = (0..n as u64)
                    .map(|i| ((i * 2654435761) % (max as u64 + 1)) as u32)
                    .collect();
                let mut want = v.clone();
                want.sort_unstable();
                radix_sort(&mut v, &mut tmp);
                assert_eq!(v, want, "n = {n}, max = {max}");
            }
        }
    }
}
