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
