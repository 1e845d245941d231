//! The convolution operations of the datapath that a dense layer's
//! operations cannot express: average pooling, the transposed convolution
//! (input gradient) and the weight update summed over output positions.
//! The conv forward pass itself is one dense mat-vec per output position
//! (`crate::hw::core`), so it shares the dense accumulate/requantise code.
//!
//! Fixed point follows `docs/arithmetic.md` ("Convolution"): exact products,
//! the accumulator's overflow policy applied after every addition in the
//! stated order (computed exactly and replayed step by step only when the
//! sum of the positive or of the negative products leaves the register),
//! one requantisation per result.

use super::{FixedDatapath, Matrix, rounding};
use crate::hw::kernels::{exact_sum_limit, max_abs_i16, sum_abs_i16};
use crate::net::spec::ConvGeom;
use crate::quant::{Raw, Requantizer, Rounding};

/// A requantiser like `base` with `extra` more bits of right shift.
#[allow(
    clippy::expect_used,
    reason = "the chip refuses a conv layer whose shift would not fit when it is built"
)]
fn shifted(base: Requantizer, extra: u32) -> Requantizer {
    Requantizer::with_shift(
        base.shift() + extra as i32,
        base.dst(),
        base.rounding(),
        base.overflow(),
    )
    .expect("conv shifts are checked when the chip is built (Datapath::conv_shift_ok)")
}

/// Average of one pooling window, in the activation format: the sum times
/// `scale.0` in the accumulator, requantised by `scale.1` bits.
#[allow(clippy::expect_used, reason = "avg_scale's shift is at most 16 bits")]
pub(super) fn fixed_average<V: Raw>(dp: &mut FixedDatapath<V>, vals: &[V], scale: (i64, u32)) -> V {
    let mut acc = 0i64;
    for v in vals {
        acc = dp.acc.add(acc, v.to_i64(), &mut dp.overflow.accumulator);
    }
    let acc = dp.acc.scale(acc, scale.0, &mut dp.overflow.accumulator);
    let (f, a) = (dp.fwd, dp.activation);
    let rq = Requantizer::with_shift(scale.1 as i32, a, f.rounding(), f.overflow())
        .expect("avg_scale shifts by at most 16 bits");
    if rq.rounding() == Rounding::Stochastic {
        dp.draws += 1;
    }
    V::from_i64_unchecked(rq.apply(acc, &mut dp.lfsr, &mut dp.overflow.activation) as i64)
}

/// Errors times an average pool's `m·2^-s`, requantised by `s` bits into
/// the error format with its rounding (one LFSR draw per value when
/// stochastic); nothing for `(1, 0)`.
#[allow(clippy::expect_used, reason = "avg_scale's shift is at most 16 bits")]
pub(super) fn fixed_scale_errors<V: Raw>(
    dp: &mut FixedDatapath<V>,
    (m, s): (i64, u32),
    e: &mut [V],
) {
    if (m, s) == (1, 0) {
        return;
    }
    let b = dp.bwd;
    let rq = Requantizer::with_shift(s as i32, b.dst(), b.rounding(), b.overflow())
        .expect("avg_scale shifts by at most 16 bits");
    for v in e.iter_mut() {
        let t = dp.acc.scale(v.to_i64(), m, &mut dp.overflow.accumulator);
        if rq.rounding() == Rounding::Stochastic {
            dp.draws += 1;
        }
        *v = V::from_i64_unchecked(rq.apply(t, &mut dp.lfsr, &mut dp.overflow.error) as i64);
    }
}

/// An average pool's `m·2^-s` as an `f32` factor.
pub(super) fn float_scale((m, s): (i64, u32)) -> f32 {
    m as f32 * (-(s as f32)).exp2()
}

/// Calls `visit(o, pos, idx_in)` for every (output channel, output position,
/// input index) of a product `w[o][j] · delta[o][pos]` whose input pixel is
/// not padding, with `j` the kernel index; in order `o`, `pos`, `j`.
#[inline]
fn for_each_tap(g: &ConvGeom, mut visit: impl FnMut(usize, usize, usize, usize)) {
    let (k, hw) = (g.k, g.in_h * g.in_w);
    let cg = g.in_c / g.groups;
    for o in 0..g.out_c {
        let c0 = o / g.group_out() * cg;
        for oy in 0..g.out_h {
            for ox in 0..g.out_w {
                let pos = oy * g.out_w + ox;
                let mut j = 0;
                for c in c0..c0 + cg {
                    for ky in 0..k {
                        let y = (oy * g.stride + ky).wrapping_sub(g.pad);
                        for kx in 0..k {
                            let x = (ox * g.stride + kx).wrapping_sub(g.pad);
                            if y < g.in_h && x < g.in_w {
                                visit(o, pos, j, c * hw + y * g.in_w + x);
                            }
                            j += 1;
                        }
                    }
                }
            }
        }
    }
}

/// Transposed convolution into the error format (the caller masks by
/// `f'(x)`); the kernel `w` in the weight format or (`Matrix::Classifier`)
/// the classifier format of a fixed feedback kernel.
pub(super) fn fixed_transpose<V: Raw>(
    dp: &mut FixedDatapath<V>,
    g: &ConvGeom,
    which: Matrix,
    w: &[V],
    delta: &[V],
    out: &mut [V],
) {
    let n = g.in_len();
    let (p, kk) = (g.positions(), g.patch_len());
    if let Some(sums) = exact_transpose(dp, g, w, delta) {
        return requantise_transpose(dp, g, which, &sums, out);
    }
    let mut pos_sum = vec![0i64; n];
    let mut neg_sum = vec![0i64; n];
    for o in 0..g.out_c {
        for pos in 0..p {
            let d = delta[o * p + pos].to_i64();
            if d == 0 {
                continue;
            }
            let (oy, ox) = (pos / g.out_w, pos % g.out_w);
            let row = &w[o * kk..(o + 1) * kk];
            let cg = g.in_c / g.groups;
            let c0 = o / g.group_out() * cg;
            let mut j = 0;
            for c in c0..c0 + cg {
                for ky in 0..g.k {
                    let y = (oy * g.stride + ky).wrapping_sub(g.pad);
                    for kx in 0..g.k {
                        let xx = (ox * g.stride + kx).wrapping_sub(g.pad);
                        if y < g.in_h && xx < g.in_w {
                            let t = row[j].to_i64() * d;
                            let idx = c * g.in_h * g.in_w + y * g.in_w + xx;
                            if t > 0 {
                                pos_sum[idx] += t;
                            } else {
                                neg_sum[idx] += t;
                            }
                        }
                        j += 1;
                    }
                }
            }
        }
    }
    let acc = dp.acc;
    let replay: Vec<usize> = (0..n)
        .filter(|&i| pos_sum[i] > acc.max() || neg_sum[i] < acc.min())
        .collect();
    let mut sums: Vec<i64> = (0..n).map(|i| pos_sum[i] + neg_sum[i]).collect();
    if !replay.is_empty() {
        // Step by step in the contract's order (o, then output position).
        let mut reg = vec![0i64; n];
        let mut want = vec![false; n];
        for &i in &replay {
            want[i] = true;
        }
        let stats = &mut dp.overflow.accumulator;
        for_each_tap(g, |o, pos, j, idx| {
            if want[idx] {
                let t = w[o * kk + j].to_i64() * delta[o * p + pos].to_i64();
                reg[idx] = acc.add(reg[idx], t, stats);
            }
        });
        for &i in &replay {
            sums[i] = reg[i];
        }
    }
    requantise_transpose(dp, g, which, &sums, out);
}

/// The exact sums of the transposed convolution in `i32` lanes, when `V`
/// is `i16` and, for every input channel `c`, `Σ_o max|δ_o| · Σ_(ky,kx)
/// |w[o][c][ky][kx]|` fits both `i32` and the accumulator (an input
/// receives each kernel tap of each output channel at most once): then no
/// partial sum, positive or negative, can leave the accumulator and the
/// sums need no order. `None` otherwise.
fn exact_transpose<V: Raw>(
    dp: &FixedDatapath<V>,
    g: &ConvGeom,
    w: &[V],
    delta: &[V],
) -> Option<Vec<i32>> {
    let (w16, d16) = (V::as_i16(w)?, V::as_i16(delta)?);
    let (p, kk, k, hw) = (g.positions(), g.patch_len(), g.k, g.in_h * g.in_w);
    let cg = g.in_c / g.groups;
    let limit = exact_sum_limit(&dp.acc);
    let mut bound = vec![0i64; g.in_c];
    for o in 0..g.out_c {
        let max_d = max_abs_i16(&d16[o * p..(o + 1) * p]);
        let c0 = o / g.group_out() * cg;
        for (ci, taps) in w16[o * kk..(o + 1) * kk].chunks(k * k).enumerate() {
            let s = sum_abs_i16(taps);
            bound[c0 + ci] += max_d * s;
        }
    }
    if bound.iter().any(|&b| b > limit) {
        return None;
    }
    // Per output position: the patch-shaped gradient Σ_o δ[o][pos]·w[o]
    // (each kernel row added in `i32` lanes), then added into the input
    // pixels the patch covers (col2im).
    let ik = g.in_patch_len();
    let mut acc = vec![0i32; g.in_len()];
    let mut row = vec![0i32; ik];
    for pos in 0..p {
        row.fill(0);
        let mut any = false;
        for o in 0..g.out_c {
            let dv = d16[o * p + pos] as i32;
            if dv == 0 {
                continue;
            }
            any = true;
            let j0 = o / g.group_out() * kk;
            for (r, &wv) in row[j0..j0 + kk].iter_mut().zip(&w16[o * kk..(o + 1) * kk]) {
                *r += dv * wv as i32;
            }
        }
        if !any {
            continue;
        }
        let (oy, ox) = (pos / g.out_w, pos % g.out_w);
        for c in 0..g.in_c {
            for ky in 0..k {
                let y = (oy * g.stride + ky).wrapping_sub(g.pad);
                if y >= g.in_h {
                    continue;
                }
                let base = c * hw + y * g.in_w;
                let taps = &row[(c * k + ky) * k..(c * k + ky + 1) * k];
                for (kx, &t) in taps.iter().enumerate() {
                    let x = (ox * g.stride + kx).wrapping_sub(g.pad);
                    if x < g.in_w {
                        acc[base + x] += t;
                    }
                }
            }
        }
    }
    Some(acc)
}

/// The transposed convolution's exact `sums` into the error format: an
/// average pool's scale, then the backward requantiser (one LFSR draw per
/// value when stochastic), in input order.
fn requantise_transpose<V: Raw, S: Copy + Into<i64>>(
    dp: &mut FixedDatapath<V>,
    g: &ConvGeom,
    which: Matrix,
    sums: &[S],
    out: &mut [V],
) {
    let base = match which {
        Matrix::Weights => dp.bwd,
        Matrix::Classifier => dp.cls_bwd,
    };
    let (m, sh) = g.avg_scale();
    let rq = shifted(base, sh);
    for (o, &v) in out.iter_mut().zip(sums) {
        let v = dp.acc.scale(v.into(), m, &mut dp.overflow.accumulator);
        if rq.rounding() == Rounding::Stochastic {
            dp.draws += 1;
        }
        *o = V::from_i64_unchecked(rq.apply(v, &mut dp.lfsr, &mut dp.overflow.error) as i64);
    }
}

/// Output positions per band of [`fixed_preactivations`]: whole output
/// rows, about this many positions (at least one row).
const BAND_POSITIONS: usize = 256;

/// Host bytes of the scratch the `i16` fast paths of conv layer `g`
/// allocate while they run (one at a time): the forward's band of
/// transposed patches, channel sums and requantiser inputs; the
/// transposed convolution's `i32` sums and one patch row; the update's transposed patches and per-channel sums. For the
/// host-memory estimate ([`crate::limits::run_memory`]).
pub fn fast_scratch_bytes(g: &ConvGeom) -> u64 {
    let (ik, kk, p) = (
        g.in_patch_len() as u64,
        g.patch_len() as u64,
        g.positions() as u64,
    );
    let rows = (BAND_POSITIONS / g.out_w.max(1)).max(1).min(g.out_h) as u64;
    let bp = rows * g.out_w as u64;
    let forward = 2 * ik * bp + 4 * g.out_c as u64 * bp + 8 * bp;
    let transpose = 4 * g.in_len() as u64 + 4 * ik;
    let update = 2 * ik * p + 8 * 3 * (kk + 1);
    forward.max(transpose).max(update)
}

/// The whole-layer forward of [`super::Datapath::conv_preactivations`] in
/// fixed point. Applies with `i16` lanes, a forward rounding that draws no
/// LFSR state (so the order of requantisation is free), and when every
/// channel's `Σ_j |w[o][j]| · max|x|` fits both `i32` and the accumulator:
/// then no partial sum of a dot product can leave the accumulator, its
/// overflow policy never acts, and the sums are exact in `i32` lanes. The
/// input is laid out a band of output rows at a time as `patch index ×
/// position` (im2col, transposed), so each weight multiplies a run of
/// positions. Each sum then takes the bias as the mat-vec does (added in
/// the accumulator with its overflow policy) and is requantised.
pub(super) fn fixed_preactivations<V: Raw>(
    dp: &mut FixedDatapath<V>,
    g: &ConvGeom,
    w: &[V],
    b: &[V],
    x: &[V],
    out: &mut [V],
) -> bool {
    let rq = dp.fwd;
    let (Some(x16), Some(w16)) = (V::as_i16(x), V::as_i16(w)) else {
        return false;
    };
    if rq.rounding() == Rounding::Stochastic {
        return false;
    }
    let (kk, p) = (g.patch_len(), g.positions());
    let max_x = max_abs_i16(x16);
    let limit = exact_sum_limit(&dp.acc);
    let exact = w16.chunks(kk.max(1)).all(|row| {
        let s = sum_abs_i16(row);
        s * max_x <= limit
    });
    if !exact {
        return false;
    }
    let rows = (BAND_POSITIONS / g.out_w.max(1)).max(1);
    let ik = g.in_patch_len();
    let shift_b = dp.activation.frac;
    let mut cols = vec![0i16; ik * rows * g.out_w];
    let mut acc = vec![0i32; g.out_c * rows * g.out_w];
    let mut pre = vec![0i64; rows * g.out_w];
    let mut oy0 = 0;
    while oy0 < g.out_h {
        let band = rows.min(g.out_h - oy0);
        let bp = band * g.out_w;
        im2col_t(g, x16, oy0, band, &mut cols[..ik * bp]);
        let sums = &mut acc[..g.out_c * bp];
        band_sums(g, w16, &cols[..ik * bp], bp, sums);
        for o in 0..g.out_c {
            let a = &sums[o * bp..(o + 1) * bp];
            let bias = b[o].to_i64() << shift_b;
            let stats = &mut dp.overflow.accumulator;
            for (q, &s) in pre[..bp].iter_mut().zip(a.iter()) {
                *q = if bias != 0 {
                    dp.acc.add(s as i64, bias, stats)
                } else {
                    s as i64
                };
            }
            let at = o * p + oy0 * g.out_w;
            rq.apply_slice(
                &pre[..bp],
                &mut out[at..at + bp],
                &mut dp.lfsr,
                &mut dp.overflow.activation,
            );
        }
        oy0 += band;
    }
    true
}

/// Positions per register tile of [`band_sums`].
const TILE_POSITIONS: usize = 32;
/// Output channels per register tile of [`band_sums`].
const TILE_CHANNELS: usize = 4;

/// `sums[o·bp + t] = Σ_j w[o][j] · cols[(j0(o) + j)·bp + t]` in `i32` lanes
/// (the caller has proved every partial sum fits): tiles of 4 channels ×
/// 32 positions kept in registers while the patch index runs, so each
/// loaded input row serves four channels; the rest one channel at a time.
fn band_sums(g: &ConvGeom, w16: &[i16], cols: &[i16], bp: usize, sums: &mut [i32]) {
    let kk = g.patch_len();
    let (tc, tp) = (TILE_CHANNELS, TILE_POSITIONS);
    // Channels in whole tiles that share one group's inputs.
    let tiled = if g.groups == 1 { g.out_c / tc * tc } else { 0 };
    let full = bp / tp * tp;
    for o0 in (0..tiled).step_by(tc) {
        for t0 in (0..full).step_by(tp) {
            let mut r = [[0i32; TILE_POSITIONS]; TILE_CHANNELS];
            for j in 0..kk {
                let row = &cols[j * bp + t0..j * bp + t0 + tp];
                for (q, rq) in r.iter_mut().enumerate() {
                    let wq = w16[(o0 + q) * kk + j] as i32;
                    for (s, &v) in rq.iter_mut().zip(row) {
                        *s += wq * v as i32;
                    }
                }
            }
            for (q, rq) in r.iter().enumerate() {
                let at = (o0 + q) * bp + t0;
                sums[at..at + tp].copy_from_slice(rq);
            }
        }
    }
    // Untiled channels over the whole band, and the tiled channels' last
    // positions.
    for o in 0..g.out_c {
        let t0 = if o < tiled { full } else { 0 };
        if t0 == bp {
            continue;
        }
        let j0 = o / g.group_out() * kk;
        let a = &mut sums[o * bp + t0..(o + 1) * bp];
        a.fill(0);
        for (j, &wj) in w16[o * kk..(o + 1) * kk].iter().enumerate() {
            if wj == 0 {
                continue;
            }
            let wj = wj as i32;
            let row = &cols[(j0 + j) * bp + t0..(j0 + j + 1) * bp];
            for (s, &v) in a.iter_mut().zip(row) {
                *s += wj * v as i32;
            }
        }
    }
}

/// The input patches of output rows `oy0..oy0 + band` laid out patch
/// index by position: `out[j·bp + t]` is patch element `j = (c, ky, kx)`
/// (the order of [`ConvGeom::patch`]) at band position `t` (`bp = band ·
/// out_w`), 0 in the padding.
fn im2col_t(g: &ConvGeom, x16: &[i16], oy0: usize, band: usize, out: &mut [i16]) {
    let bp = band * g.out_w;
    let hw = g.in_h * g.in_w;
    for c in 0..g.in_c {
        for ky in 0..g.k {
            for kx in 0..g.k {
                let j = (c * g.k + ky) * g.k + kx;
                let row = &mut out[j * bp..(j + 1) * bp];
                for dy in 0..band {
                    let y = ((oy0 + dy) * g.stride + ky).wrapping_sub(g.pad);
                    let dst = &mut row[dy * g.out_w..(dy + 1) * g.out_w];
                    if y >= g.in_h {
                        dst.fill(0);
                        continue;
                    }
                    let src = &x16[c * hw + y * g.in_w..c * hw + (y + 1) * g.in_w];
                    for (ox, d) in dst.iter_mut().enumerate() {
                        let xx = (ox * g.stride + kx).wrapping_sub(g.pad);
                        *d = if xx < g.in_w { src[xx] } else { 0 };
                    }
                }
            }
        }
    }
}

/// The weight update of a conv layer, row-major over `[W | b]`.
pub(super) fn fixed_update<V: Raw>(
    dp: &mut FixedDatapath<V>,
    g: &ConvGeom,
    w: &mut [V],
    b: &mut [V],
    delta: &[V],
    x: &[V],
) {
    let (p, kk, ik) = (g.positions(), g.patch_len(), g.in_patch_len());
    let patch_at = |pos: usize, o: usize| pos * ik + o / g.group_out() * kk;
    let (m, sh) = g.avg_scale();
    let upd = shifted(dp.upd, sh);
    let wb = dp.write_back;
    let k = wb.shift();
    let acc = dp.acc;
    let one = dp.one_act;
    let mut pos_sum = vec![0i64; kk + 1];
    let mut neg_sum = vec![0i64; kk + 1];
    let mut sums = vec![0i64; kk + 1];
    // With `i16` lanes: the patches laid out patch index by position, and
    // the largest input magnitude (padding is 0). Σ|d|·max|x| bounds every
    // partial sum of a channel's products, positive or negative, so where
    // it fits both `i32` and the accumulator each sum is an exact `i32`
    // dot product over the positions and no order can overflow.
    let fast = V::as_i16(x).map(|x16| {
        let mut t = vec![0i16; ik * p];
        im2col_t(g, x16, 0, g.out_h, &mut t);
        let max_x = max_abs_i16(x16);
        (t, max_x)
    });
    // Every position's patch over all channels (output channel `o` reads
    // its group's run of `kk` at `patch_at(pos, o)`), built for the first
    // channel that needs the step-by-step path.
    let mut cols: Vec<V> = Vec::new();
    let limit = exact_sum_limit(&acc);
    for o in 0..g.out_c {
        let ds = &delta[o * p..(o + 1) * p];
        if let (Some((cols_t, mx)), Some(d16)) = (&fast, V::as_i16(ds)) {
            let sum_d = sum_abs_i16(d16);
            if sum_d * (*mx).max(one.abs()) <= limit {
                let j0 = o / g.group_out() * kk;
                for (j, sj) in sums[..kk].iter_mut().enumerate() {
                    let row = &cols_t[(j0 + j) * p..(j0 + j + 1) * p];
                    let dot: i32 = d16
                        .iter()
                        .zip(row)
                        .map(|(&d, &v)| d as i32 * v as i32)
                        .sum();
                    *sj = dot as i64;
                }
                sums[kk] = sum_d_signed(d16) * one;
                finish_channel(dp, g, o, &mut sums, w, b, upd, wb, k, m);
                continue;
            }
        }
        if cols.is_empty() {
            cols = vec![V::default(); p * ik];
            for pos in 0..p {
                let patch = &mut cols[pos * ik..(pos + 1) * ik];
                g.patch(x, pos / g.out_w, pos % g.out_w, patch);
            }
        }
        pos_sum.fill(0);
        neg_sum.fill(0);
        for (pos, &d) in ds.iter().enumerate() {
            let d = d.to_i64();
            if d == 0 {
                continue;
            }
            let at = patch_at(pos, o);
            let patch = &cols[at..at + kk];
            for j in 0..kk {
                let t = d * patch[j].to_i64();
                if t > 0 {
                    pos_sum[j] += t;
                } else {
                    neg_sum[j] += t;
                }
            }
            let t = d * one;
            if t > 0 {
                pos_sum[kk] += t;
            } else {
                neg_sum[kk] += t;
            }
        }
        for j in 0..=kk {
            sums[j] = if pos_sum[j] > acc.max() || neg_sum[j] < acc.min() {
                // Step by step in position order.
                let mut r = 0i64;
                for (pos, &d) in ds.iter().enumerate() {
                    let xin = if j < kk {
                        cols[patch_at(pos, o) + j].to_i64()
                    } else {
                        one
                    };
                    r = acc.add(r, d.to_i64() * xin, &mut dp.overflow.accumulator);
                }
                r
            } else {
                pos_sum[j] + neg_sum[j]
            };
        }
        finish_channel(dp, g, o, &mut sums, w, b, upd, wb, k, m);
    }
}

/// `Σ d` over a channel's output positions.
fn sum_d_signed(d: &[i16]) -> i64 {
    d.iter().map(|&v| v as i64).sum()
}

/// Applies output channel `o`'s summed updates `sums` (`kk` weights, then
/// the bias): the average pool's scale, the rounding counters, the update
/// and write-back of each weight and the bias, and the LFSR draws.
#[allow(clippy::too_many_arguments)]
fn finish_channel<V: Raw>(
    dp: &mut FixedDatapath<V>,
    g: &ConvGeom,
    o: usize,
    sums: &mut [i64],
    w: &mut [V],
    b: &mut [V],
    upd: Requantizer,
    wb: Requantizer,
    k: i32,
    m: i64,
) {
    let kk = g.patch_len();
    if m != 1 {
        for sj in sums.iter_mut() {
            *sj = dp.acc.scale(*sj, m, &mut dp.overflow.accumulator);
        }
    }
    for &sj in sums.iter() {
        rounding::count_one(&mut dp.update_rounding, sj, upd.shift(), upd.rounding());
    }
    if k == 0 && V::as_i16(b).is_some() {
        // The same steps a slice at a time (same LFSR states in the same
        // order: each weight's update draw, then the bias's; the weight
        // format's fit draws nothing). `i16` lanes only: the `i32` lanes
        // keep the per-element path as the reference `tests/kernel_props.rs`
        // holds this one to.
        let n = kk + 1;
        let mut d = std::mem::take(&mut dp.scratch_sum);
        d.resize(n, 0);
        upd.apply_slice(&sums[..n], &mut d, &mut dp.lfsr, &mut dp.overflow.update);
        let ws = &mut w[o * kk..(o + 1) * kk];
        for (dj, &wj) in d.iter_mut().zip(ws.iter()) {
            *dj = wj.to_i64() - *dj;
        }
        d[kk] = b[o].to_i64() - d[kk];
        let fit = dp.weight_fit;
        fit.apply_slice(&d[..kk], ws, &mut dp.lfsr, &mut dp.overflow.weight);
        fit.apply_slice(
            &d[kk..n],
            &mut b[o..o + 1],
            &mut dp.lfsr,
            &mut dp.overflow.weight,
        );
        dp.scratch_sum = d;
        if upd.rounding() == Rounding::Stochastic {
            dp.draws += n as u64;
        }
        return;
    }
    for (wj, &sj) in w[o * kk..(o + 1) * kk].iter_mut().zip(&sums[..kk]) {
        *wj = dp.apply_update(*wj, sj, upd, wb, k);
    }
    b[o] = dp.apply_update(b[o], sums[kk], upd, wb, k);
    if upd.rounding() == Rounding::Stochastic {
        dp.draws += kk as u64 + 1;
    }
    if wb.rounding() == Rounding::Stochastic && k > 0 {
        dp.draws += kk as u64 + 1;
    }
}

/// Transposed convolution in `f32` (no derivative mask; the caller masks).
pub(super) fn float_backward(g: &ConvGeom, w: &[f32], delta: &[f32], out: &mut [f32]) {
    let (p, kk) = (g.positions(), g.patch_len());
    out.fill(0.0);
    for_each_tap(g, |o, pos, j, idx| {
        let d = delta[o * p + pos];
        if d != 0.0 {
            out[idx] += w[o * kk + j] * d;
        }
    });
    let scale = float_scale(g.avg_scale());
    if scale != 1.0 {
        for v in out.iter_mut() {
            *v *= scale;
        }
    }
}

/// The conv weight update in `f32` with learning rate `lr`.
pub(super) fn float_update(
    g: &ConvGeom,
    lr: f32,
    w: &mut [f32],
    b: &mut [f32],
    delta: &[f32],
    x: &[f32],
) {
    let (p, kk) = (g.positions(), g.patch_len());
    let scale = lr * float_scale(g.avg_scale());
    let mut grad = vec![0f32; kk];
    let mut patch = vec![0f32; g.in_patch_len()];
    for o in 0..g.out_c {
        let at = o / g.group_out() * kk;
        grad.fill(0.0);
        let mut gb = 0f32;
        for pos in 0..p {
            let d = delta[o * p + pos];
            if d == 0.0 {
                continue;
            }
            g.patch(x, pos / g.out_w, pos % g.out_w, &mut patch);
            for (gj, &xj) in grad.iter_mut().zip(&patch[at..at + kk]) {
                *gj += d * xj;
            }
            gb += d;
        }
        for (wj, gj) in w[o * kk..(o + 1) * kk].iter_mut().zip(&grad) {
            *wj -= scale * gj;
        }
        b[o] -= scale * gb;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::model::from_json_str;

    /// A 3×3 average (a reciprocal multiply, `round(2^16/9)`, then a 16-bit
    /// shift) is within one LSB of the exact mean, and a 2×2 average (a
    /// shift) is the sum shifted by 2 as before.
    #[test]
    fn averages_over_windows_that_are_not_a_power_of_two_are_the_mean() {
        let text = include_str!("../../../hw_models/default.json");
        let model = from_json_str(text, "default.json").unwrap();
        let mut dp = FixedDatapath::<i16>::new(&model, 0).unwrap();
        let m = ((1i64 << 16) + 4) / 9;
        for vals in [
            [9i16; 9],
            [1, 2, 3, 4, 5, 6, 7, 8, 9],
            [100, -7, 33, 0, 0, 5, 12, 90, -1],
            [4000, 4000, 4000, 4000, 4000, 4000, 4000, 4000, 3999],
        ] {
            let sum: i64 = vals.iter().map(|&v| i64::from(v)).sum();
            let got = i64::from(fixed_average(&mut dp, &vals, (m, 16)));
            let mean = sum as f64 / 9.0;
            assert!(
                (got as f64 - mean).abs() <= 1.0,
                "{vals:?}: {got} vs {mean}"
            );
        }
        let got = fixed_average(&mut dp, &[4i16, 8, 12, 16], (1, 2));
        assert_eq!(got, 10);
    }
}
