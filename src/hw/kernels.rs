//! Fast paths of the fixed-point datapath for 16-bit lanes, each exact to the
//! plain per-element reference in `quant` (property tests in
//! `tests/kernel_props.rs`). They are written as simple loops over slices
//! that the compiler vectorises (`i16 × i16 → i32` multiply-add, compares,
//! clamps); a fast path that cannot prove it is exact returns `None` and the
//! caller takes the reference path.

use crate::quant::{AccFormat, Overflow, QFormat, Rounding};

/// `Σ x[j]` of `|x|`, for the accumulator bound of a mat-vec.
#[inline]
pub fn sum_abs_i16(x: &[i16]) -> i64 {
    x.iter().map(|&v| v.unsigned_abs() as i64).sum()
}

/// `max |x|` (0 for an empty slice), for the accumulator bounds of the
/// conv kernels.
#[inline]
pub fn max_abs_i16(x: &[i16]) -> i64 {
    x.iter()
        .map(|&v| v.unsigned_abs() as i64)
        .max()
        .unwrap_or(0)
}

/// The largest magnitude a sum may reach and stay exact both in `i32`
/// lanes and in the accumulator register: `min(2^(bits−1) − 1, i32::MAX)`
/// (the register's negative end is one further, so this bounds both signs).
#[inline]
pub fn exact_sum_limit(acc: &AccFormat) -> i64 {
    acc.max().min(i32::MAX as i64)
}

/// Dot product of two `i16` slices if no partial sum can leave the
/// accumulator: with `sum_abs_x = Σ|x|`, every partial sum is bounded by
/// `max|w| · Σ|x|`; when that is within the register (and `i32`), the `i32`
/// sum is exact and equals the per-step result. `None` otherwise.
#[inline]
pub fn dot_i16_if_exact(w: &[i16], x: &[i16], sum_abs_x: i64, acc: &AccFormat) -> Option<i64> {
    let mut sum = 0i32;
    let mut max_w = 0u16;
    for (&a, &b) in w.iter().zip(x) {
        sum = sum.wrapping_add(a as i32 * b as i32);
        max_w = max_w.max(a.unsigned_abs());
    }
    let limit = exact_sum_limit(acc);
    (max_w as i64 * sum_abs_x <= limit).then_some(sum as i64)
}

/// `out[j] = Σ_i m[i][j]·e[i]` for a row-major `rows × cols` matrix, summed in
/// `i32` if no partial sum can leave the accumulator (`max|m| · Σ|e|` within
/// the register and `i32`); `false` (and `out` unspecified) otherwise.
pub fn matvec_t_i16_if_exact(m: &[i16], e: &[i16], out: &mut [i32], acc: &AccFormat) -> bool {
    let cols = out.len();
    out.fill(0);
    let mut max_m = 0u16;
    let mut sum_abs_e = 0i64;
    for (i, &ei) in e.iter().enumerate() {
        if ei == 0 {
            continue;
        }
        sum_abs_e += ei.unsigned_abs() as i64;
        let ei = ei as i32;
        let row = &m[i * cols..(i + 1) * cols];
        let mut row_max = 0u16;
        for (o, &w) in out.iter_mut().zip(row) {
            *o = o.wrapping_add(w as i32 * ei);
            row_max = row_max.max(w.unsigned_abs());
        }
        max_m = max_m.max(row_max);
    }
    let limit = exact_sum_limit(acc);
    max_m as i64 * sum_abs_e <= limit
}

/// Overflow events of one kernel call, by direction, folded into the
/// datapath's statistics by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// Update values above the update format's range.
    pub update_high: u64,
    /// Update values below it.
    pub update_low: u64,
    /// Weights above the weight format's range after the subtraction.
    pub weight_high: u64,
    /// Weights below it.
    pub weight_low: u64,
}

/// The outer-product update of one row of 16-bit weights, `w[j] ← fit_w(w[j]
/// − fit_u(round(e·x[j] / 2^s)))`, for a shift `1 <= s <= 29` and equal update
/// and weight fractional bits (the write-back is a plain saturating or
/// wrapping subtract). Exact to the reference requantiser.
#[derive(Clone, Copy, Debug)]
pub struct RowUpdate {
    shift: u32,
    rounding: Rounding,
    umin: i32,
    umax: i32,
    ubits: u32,
    uwrap: bool,
    wmin: i32,
    wmax: i32,
    wbits: u32,
    wwrap: bool,
    /// Write-back shift `k = frac_u − frac_w` (0: plain subtract).
    wb_shift: u32,
    /// Rounding of the write-back when `k > 0`.
    wb_rounding: Rounding,
}

/// `self.f::<RU, RW>(args)` with the update's and the write-back's
/// roundings as const codes (0 truncate, 1 nearest, 2 stochastic), so each
/// combination gets its own branch-free loop.
macro_rules! by_roundings {
    ($self:ident . $f:ident ($($arg:expr),*)) => {
        match (rounding_code($self.rounding), rounding_code($self.wb_rounding)) {
            (0, 0) => $self.$f::<0, 0>($($arg),*),
            (0, 1) => $self.$f::<0, 1>($($arg),*),
            (0, _) => $self.$f::<0, 2>($($arg),*),
            (1, 0) => $self.$f::<1, 0>($($arg),*),
            (1, 1) => $self.$f::<1, 1>($($arg),*),
            (1, _) => $self.$f::<1, 2>($($arg),*),
            (_, 0) => $self.$f::<2, 0>($($arg),*),
            (_, 1) => $self.$f::<2, 1>($($arg),*),
            (_, _) => $self.$f::<2, 2>($($arg),*),
        }
    };
}

/// A rounding as the const code of the kernels' loops.
const fn rounding_code(r: Rounding) -> u8 {
    match r {
        Rounding::Truncate => 0,
        Rounding::Nearest => 1,
        Rounding::Stochastic => 2,
    }
}

impl RowUpdate {
    /// The kernel for these formats, or `None` when the fast path does not
    /// apply (shift outside `1..=29`, formats wider than 16 bits, a
    /// write-back shift `k = frac_u − frac_w` outside `0..=14`). With
    /// `k > 0` the weight is written back as `fit_w(round((w·2^k − Δ) / 2^k))`
    /// with `wb_rounding`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shift: i32,
        rounding: Rounding,
        update: QFormat,
        update_overflow: Overflow,
        weight: QFormat,
        weight_overflow: Overflow,
        wb_rounding: Rounding,
    ) -> Option<Self> {
        if !(1..=29).contains(&shift) || update.bits > 16 || weight.bits > 16 {
            return None;
        }
        let k = update.frac.checked_sub(weight.frac)?;
        if k > 14 {
            return None;
        }
        Some(RowUpdate {
            shift: shift as u32,
            rounding,
            umin: update.min_raw(),
            umax: update.max_raw(),
            ubits: update.bits,
            uwrap: update_overflow == Overflow::Wrap,
            wmin: weight.min_raw(),
            wmax: weight.max_raw(),
            wbits: weight.bits,
            wwrap: weight_overflow == Overflow::Wrap,
            wb_shift: k,
            wb_rounding,
        })
    }

    /// LFSR draws per element (weight or bias): one for a stochastic update,
    /// one more for a stochastic write-back with `k > 0`, in that order.
    pub fn draws_per_element(&self) -> usize {
        (self.rounding == Rounding::Stochastic) as usize
            + (self.wb_shift > 0 && self.wb_rounding == Rounding::Stochastic) as usize
    }

    /// The row update with a write-back shift `k > 0`: each element rounds
    /// its update, then its write-back, drawing (when stochastic) in that
    /// order from `rnd` with stride [`RowUpdate::draws_per_element`].
    /// Dispatches to a loop specialised for both roundings and both
    /// overflow policies.
    fn apply_write_back(&self, w: &mut [i16], x: &[i16], e: i16, rnd: &[u32], ev: &mut Events) {
        by_roundings!(self.wb_wraps(w, x, e, rnd, ev))
    }

    #[inline(always)]
    fn wb_wraps<const RU: u8, const RW: u8>(
        &self,
        w: &mut [i16],
        x: &[i16],
        e: i16,
        rnd: &[u32],
        ev: &mut Events,
    ) {
        match (self.uwrap, self.wwrap) {
            (false, false) => self.wb_run::<RU, RW, false, false>(w, x, e, rnd, ev),
            (false, true) => self.wb_run::<RU, RW, false, true>(w, x, e, rnd, ev),
            (true, false) => self.wb_run::<RU, RW, true, false>(w, x, e, rnd, ev),
            (true, true) => self.wb_run::<RU, RW, true, true>(w, x, e, rnd, ev),
        }
    }

    #[inline(always)]
    fn wb_run<const RU: u8, const RW: u8, const UWRAP: bool, const WWRAP: bool>(
        &self,
        w: &mut [i16],
        x: &[i16],
        e: i16,
        rnd: &[u32],
        ev: &mut Events,
    ) {
        let e = e as i32;
        let (s, k) = (self.shift, self.wb_shift);
        let su = (RU == 2) as usize;
        let stride = su + (RW == 2) as usize;
        let (umin, umax, ubits) = (self.umin, self.umax, self.ubits);
        let (wmin, wmax, wbits) = (self.wmin, self.wmax, self.wbits);
        let (mut uh, mut ul, mut wh, mut wl) = (0u32, 0u32, 0u32, 0u32);
        let n = w.len();
        let x = &x[..n];
        let rnd = &rnd[..n * stride];
        for j in 0..n {
            let ru = if RU == 2 { rnd[j * stride] } else { 0 };
            let d = round_i32::<RU>(e * x[j] as i32, s, ru);
            uh += (d > umax) as u32;
            ul += (d < umin) as u32;
            let d = fit::<UWRAP>(d, umin, umax, ubits);
            let rw = if RW == 2 { rnd[j * stride + su] } else { 0 };
            let v = round_i32::<RW>(((w[j] as i32) << k) - d, k, rw);
            wh += (v > wmax) as u32;
            wl += (v < wmin) as u32;
            w[j] = fit::<WWRAP>(v, wmin, wmax, wbits) as i16;
        }
        ev.update_high += uh as u64;
        ev.update_low += ul as u64;
        ev.weight_high += wh as u64;
        ev.weight_low += wl as u64;
    }

    /// Rounding of the update.
    pub fn rounding(&self) -> Rounding {
        self.rounding
    }

    /// LFSR draws per element of [`RowUpdate::apply_momentum`]: the update
    /// and the velocity's decay (stochastic update rounding), then the
    /// write-back (stochastic, `k > 0`), in that order.
    pub fn momentum_draws_per_element(&self) -> usize {
        2 * (self.rounding == Rounding::Stochastic) as usize
            + (self.wb_shift > 0 && self.wb_rounding == Rounding::Stochastic) as usize
    }

    /// SGD with momentum `μ = 1 − 2^-m` (`1 <= m <= 15`) on one row: per
    /// element, `u = fit_u(round(e·x[j] / 2^s))`, `d = round(v[j] / 2^m)`
    /// (the update's rounding), `v[j] ← fit_u(v[j] − d + u)`, then `w[j] ←
    /// fit_w(round((w[j]·2^k − v[j]) / 2^k))` (a plain subtract when `k =
    /// 0`). `rnd` holds the element's draws with stride
    /// [`RowUpdate::momentum_draws_per_element`]. Exact to the reference
    /// requantiser, overflow events included (the update's and the
    /// velocity's both count as update overflows).
    #[allow(clippy::too_many_arguments)]
    pub fn apply_momentum(
        &self,
        w: &mut [i16],
        v: &mut [i16],
        x: &[i16],
        e: i16,
        m: u32,
        rnd: &[u32],
        ev: &mut Events,
    ) {
        by_roundings!(self.momentum_run(w, v, x, e, m, rnd, ev))
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn momentum_run<const RU: u8, const RW: u8>(
        &self,
        w: &mut [i16],
        v: &mut [i16],
        x: &[i16],
        e: i16,
        m: u32,
        rnd: &[u32],
        ev: &mut Events,
    ) {
        match (self.uwrap, self.wwrap) {
            (false, false) => self.momentum_loop::<RU, RW, false, false>(w, v, x, e, m, rnd, ev),
            (false, true) => self.momentum_loop::<RU, RW, false, true>(w, v, x, e, m, rnd, ev),
            (true, false) => self.momentum_loop::<RU, RW, true, false>(w, v, x, e, m, rnd, ev),
            (true, true) => self.momentum_loop::<RU, RW, true, true>(w, v, x, e, m, rnd, ev),
        }
    }

    /// The loop of [`RowUpdate::apply_momentum`] for one choice of
    /// roundings and overflow policies (branch-free when no rounding is
    /// stochastic, so it vectorises).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn momentum_loop<const RU: u8, const RW: u8, const UWRAP: bool, const WWRAP: bool>(
        &self,
        w: &mut [i16],
        v: &mut [i16],
        x: &[i16],
        e: i16,
        m: u32,
        rnd: &[u32],
        ev: &mut Events,
    ) {
        debug_assert!((1..=15).contains(&m));
        let e = e as i32;
        let (s, k) = (self.shift, self.wb_shift);
        let su = (RU == 2) as usize;
        let sw = (RW == 2 && k > 0) as usize;
        let stride = 2 * su + sw;
        let (umin, umax, ubits) = (self.umin, self.umax, self.ubits);
        let (wmin, wmax, wbits) = (self.wmin, self.wmax, self.wbits);
        let (mut uh, mut ul, mut wh, mut wl) = (0u32, 0u32, 0u32, 0u32);
        let n = w.len();
        let (x, v) = (&x[..n], &mut v[..n]);
        let rnd = &rnd[..n * stride];
        for j in 0..n {
            let ru = if RU == 2 { rnd[j * stride] } else { 0 };
            let u = round_i32::<RU>(e * x[j] as i32, s, ru);
            uh += (u > umax) as u32;
            ul += (u < umin) as u32;
            let u = fit::<UWRAP>(u, umin, umax, ubits);
            let rd = if RU == 2 { rnd[j * stride + 1] } else { 0 };
            let old = v[j] as i32;
            let nv = old - round_i32::<RU>(old, m, rd) + u;
            uh += (nv > umax) as u32;
            ul += (nv < umin) as u32;
            let nv = fit::<UWRAP>(nv, umin, umax, ubits);
            v[j] = nv as i16;
            let y = ((w[j] as i32) << k) - nv;
            let y = if k > 0 {
                let rw = if RW == 2 { rnd[j * stride + 2 * su] } else { 0 };
                round_i32::<RW>(y, k, rw)
            } else {
                y
            };
            wh += (y > wmax) as u32;
            wl += (y < wmin) as u32;
            w[j] = fit::<WWRAP>(y, wmin, wmax, wbits) as i16;
        }
        ev.update_high += uh as u64;
        ev.update_low += ul as u64;
        ev.weight_high += wh as u64;
        ev.weight_low += wl as u64;
    }

    /// Applies the row with error `e` (a raw error value) and inputs `x`,
    /// where `max_abs_x = max |x[j]|`; the weights `w` must be inside the
    /// weight format, as every stored weight is. `rnd[j]` is the LFSR state drawn for
    /// element `j` (stochastic only). Dispatches once to a loop specialised
    /// for the rounding and overflow policies, so the loop body is
    /// branch-free and vectorises; when `|e|·max|x|` proves that no update can
    /// leave its format, the update's range check is left out.
    #[inline]
    pub fn apply(
        &self,
        w: &mut [i16],
        x: &[i16],
        max_abs_x: i32,
        e: i16,
        rnd: &[u32],
        ev: &mut Events,
    ) {
        if self.wb_shift > 0 {
            return self.apply_write_back(w, x, e, rnd, ev);
        }
        match self.rounding {
            Rounding::Truncate => self.dispatch::<0>(w, x, max_abs_x, e, rnd, ev),
            Rounding::Nearest => self.dispatch::<1>(w, x, max_abs_x, e, rnd, ev),
            Rounding::Stochastic => self.dispatch::<2>(w, x, max_abs_x, e, rnd, ev),
        }
    }

    #[inline(always)]
    fn dispatch<const R: u8>(
        &self,
        w: &mut [i16],
        x: &[i16],
        max_abs_x: i32,
        e: i16,
        rnd: &[u32],
        ev: &mut Events,
    ) {
        let largest = (e as i64).abs() * max_abs_x as i64;
        // Nearest rounds every |p| <= 2^(s-1) to 0 (the tie -2^(s-1) too:
        // its floor -1 is odd): the row keeps its weights, which are inside
        // their format like every stored value.
        if R == 1 && largest <= 1 << (self.shift - 1) {
            debug_assert!(
                w.iter()
                    .all(|&v| (self.wmin..=self.wmax).contains(&(v as i32)))
            );
            return;
        }
        // |round(p / 2^s)| <= (|p| >> s) + 1 for every rounding mode.
        let bound = (largest >> self.shift) + 1;
        let update_in_range = bound <= self.umax as i64 && -bound >= self.umin as i64;
        // The row's weights move by at most `bound`: if that cannot leave the
        // weight format, the weight's range check is left out too.
        let (lo, hi) = w
            .iter()
            .fold((i16::MAX, i16::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let weight_in_range = update_in_range
            && hi as i64 + bound <= self.wmax as i64
            && lo as i64 - bound >= self.wmin as i64;
        match (update_in_range, weight_in_range, self.uwrap, self.wwrap) {
            (true, true, _, _) if R < 2 && self.shift <= 16 => self.run_i16::<R>(w, x, e),
            (true, true, _, _) => self.run::<R, false, false, false, false>(w, x, e, rnd, ev),
            (true, false, _, false) => self.run::<R, false, true, false, false>(w, x, e, rnd, ev),
            (true, false, _, true) => self.run::<R, false, true, false, true>(w, x, e, rnd, ev),
            (false, _, false, false) => self.run::<R, true, true, false, false>(w, x, e, rnd, ev),
            (false, _, false, true) => self.run::<R, true, true, false, true>(w, x, e, rnd, ev),
            (false, _, true, false) => self.run::<R, true, true, true, false>(w, x, e, rnd, ev),
            (false, _, true, true) => self.run::<R, true, true, true, true>(w, x, e, rnd, ev),
        }
    }

    /// The row loop for rounding `R` (0 truncate, 1 nearest, 2 stochastic),
    /// with or without the update's and the weight's range checks, and wrap
    /// (`true`) or saturate (`false`) of the update and the weight.
    #[inline(always)]
    fn run<
        const R: u8,
        const CHECK_U: bool,
        const CHECK_W: bool,
        const UWRAP: bool,
        const WWRAP: bool,
    >(
        &self,
        w: &mut [i16],
        x: &[i16],
        e: i16,
        rnd: &[u32],
        ev: &mut Events,
    ) {
        let e = e as i32;
        let s = self.shift;
        let half_m1 = (1i32 << (s - 1)) - 1;
        let mask = (1i32 << s) - 1;
        let (umin, umax, ubits) = (self.umin, self.umax, self.ubits);
        let (wmin, wmax, wbits) = (self.wmin, self.wmax, self.wbits);
        let (mut uh, mut ul, mut wh, mut wl) = (0u32, 0u32, 0u32, 0u32);
        let n = w.len();
        let x = &x[..n];
        let rnd = if R == 2 { &rnd[..n] } else { &rnd[..0] };
        for j in 0..n {
            let p = e * x[j] as i32;
            let d = match R {
                0 => p >> s,
                1 => (p + half_m1 + ((p >> s) & 1)) >> s,
                _ => (p + (rnd[j] as i32 & mask)) >> s,
            };
            let d = if CHECK_U {
                uh += (d > umax) as u32;
                ul += (d < umin) as u32;
                fit::<UWRAP>(d, umin, umax, ubits)
            } else {
                d
            };
            let v = w[j] as i32 - d;
            w[j] = if CHECK_W {
                wh += (v > wmax) as u32;
                wl += (v < wmin) as u32;
                fit::<WWRAP>(v, wmin, wmax, wbits) as i16
            } else {
                v as i16
            };
        }
        ev.update_high += uh as u64;
        ev.update_low += ul as u64;
        ev.weight_high += wh as u64;
        ev.weight_low += wl as u64;
    }
}

impl RowUpdate {
    /// The row loop of [`RowUpdate::run`] without range checks, for truncate
    /// (`R = 0`) or nearest (`R = 1`) and a shift `1 <= s <= 16`, in `i16`
    /// lanes (twice as many per vector as `i32`): the product `e·x[j]` is
    /// kept as its high and low 16-bit halves (a `mulhi`/`mullo` pair), the
    /// floor `p >> s` is assembled from bits `s..s+16` of the two, and the
    /// rounding looks at the low `s` bits, all in the low half. The caller
    /// has proved that every update and every new weight is in range, so
    /// the floor and the result fit `i16` and nothing is counted.
    #[inline(always)]
    fn run_i16<const R: u8>(&self, w: &mut [i16], x: &[i16], e: i16) {
        let s = self.shift;
        let n = w.len();
        let x = &x[..n];
        if s == 16 {
            // p >> 16 is the high half; the rounding bits are the low half.
            for j in 0..n {
                let p = e as i32 * x[j] as i32;
                let q = (p >> 16) as i16;
                w[j] = w[j].wrapping_sub(round_low::<R>(q, p as u16, u16::MAX, 1 << 15));
            }
        } else {
            let mask = ((1u32 << s) - 1) as u16;
            let half = (1u32 << (s - 1)) as u16;
            let up = 16 - s;
            for j in 0..n {
                let p = e as i32 * x[j] as i32;
                let (hi, lo) = ((p >> 16) as u16, p as u16);
                let q = ((hi << up) | (lo >> s)) as i16;
                w[j] = w[j].wrapping_sub(round_low::<R>(q, lo, mask, half));
            }
        }
    }
}

/// `q` (a floor) rounded by mode `R` (0 truncate, 1 nearest with ties to
/// even) given the dropped bits `lo & mask` and half an LSB `half`.
#[inline(always)]
fn round_low<const R: u8>(q: i16, lo: u16, mask: u16, half: u16) -> i16 {
    if R == 0 {
        return q;
    }
    let rem = lo & mask;
    q + ((rem > half) | ((rem == half) & (q & 1 == 1))) as i16
}

/// `x / 2^s` rounded by mode `R` (0 truncate, 1 nearest, 2 stochastic) in
/// `i32` (`|x| < 2^30`, `1 <= s <= 29`); `r` is the LFSR state drawn for it
/// (stochastic only).
#[inline(always)]
fn round_i32<const R: u8>(x: i32, s: u32, r: u32) -> i32 {
    match R {
        0 => x >> s,
        1 => (x + (1i32 << (s - 1)) - 1 + ((x >> s) & 1)) >> s,
        _ => (x + (r as i32 & ((1i32 << s) - 1))) >> s,
    }
}

#[inline(always)]
fn fit<const WRAP: bool>(v: i32, min: i32, max: i32, bits: u32) -> i32 {
    if WRAP {
        (v << (32 - bits)) >> (32 - bits)
    } else {
        v.clamp(min, max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kernel(shift: i32, rounding: Rounding) -> RowUpdate {
        let q = QFormat::new(16, 14).unwrap();
        RowUpdate::new(
            shift,
            rounding,
            q,
            Overflow::Saturate,
            q,
            Overflow::Saturate,
            Rounding::Nearest,
        )
        .unwrap()
    }

    proptest! {
        /// The i16-lane loop equals the i32-lane loop without range checks
        /// for every shift it takes and any values: both compute modulo
        /// 2^16 once the range checks are off, so equality holds even where
        /// the caller's range proof would have failed.
        #[test]
        fn i16_lanes_equal_i32_lanes(
            w in prop::collection::vec(any::<i16>(), 0..70),
            xs in prop::collection::vec(any::<i16>(), 70),
            e in any::<i16>(),
            shift in 1i32..=16,
            nearest in any::<bool>(),
        ) {
            let r = if nearest { Rounding::Nearest } else { Rounding::Truncate };
            let k = kernel(shift, r);
            let x = &xs[..w.len()];
            let (mut a, mut b) = (w.clone(), w.clone());
            let mut ev = Events::default();
            if nearest {
                k.run::<1, false, false, false, false>(&mut a, x, e, &[], &mut ev);
                k.run_i16::<1>(&mut b, x, e);
            } else {
                k.run::<0, false, false, false, false>(&mut a, x, e, &[], &mut ev);
                k.run_i16::<0>(&mut b, x, e);
            }
            prop_assert_eq!(a, b);
        }
    }

    /// A nearest row whose largest product is at most half an LSB is
    /// skipped; at and around that edge `apply` equals the plain loop.
    #[test]
    fn skipped_rows_are_the_rows_nearest_leaves_unchanged() {
        for s in 1..=16i32 {
            let k = kernel(s, Rounding::Nearest);
            let half = 1i32 << (s - 1);
            for e in [1i16, 3, -1, -3] {
                for x0 in [
                    half / e.abs() as i32 - 1,
                    half / e.abs() as i32,
                    half / e.abs() as i32 + 1,
                ] {
                    let x0 = x0.clamp(0, i16::MAX as i32) as i16;
                    let x: Vec<i16> = vec![x0, 0, x0 / 2, x0];
                    let w: Vec<i16> = vec![7, -7, 0, 100];
                    let (mut a, mut b) = (w.clone(), w.clone());
                    let mut ev = Events::default();
                    k.apply(&mut a, &x, x0 as i32, e, &[], &mut ev);
                    k.run::<1, true, true, false, false>(&mut b, &x, e, &[], &mut ev);
                    assert_eq!(a, b, "s {s} e {e} x {x0}");
                }
            }
        }
    }

    /// Ties round to even in the i16 lanes: e·x = (2k + 1)·2^(s−1) exactly.
    #[test]
    fn i16_lanes_round_ties_to_even() {
        for s in 1..=16u32 {
            let k = kernel(s as i32, Rounding::Nearest);
            // e = 2^(s-1) (as an i32 product with x = 2k + 1)
            let e = if s == 16 { i16::MIN } else { 1i16 << (s - 1) };
            let x: Vec<i16> = (-5..5).map(|k| 2 * k + 1).collect();
            let mut w = vec![0i16; x.len()];
            k.run_i16::<1>(&mut w, &x, e);
            for (xi, wi) in x.iter().zip(&w) {
                let exact = (e as f64 * *xi as f64) / (s as f64).exp2();
                let d = -(*wi as f64);
                assert_eq!((d - exact).abs(), 0.5, "s {s} x {xi}");
                assert_eq!(d as i64 % 2, 0, "s {s} x {xi}: {d} not even");
            }
        }
    }
}
