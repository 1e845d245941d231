//! The fast 16-bit datapath kernels (momentum's included) against the generic reference path: the
//! same model run with `i16` lanes (fast paths: `i32` dot products with an
//! accumulator bound, vectorised row update, block LFSR) and with `i32`
//! lanes (plain per-element reference) must give identical values, LFSR
//! states and overflow counts, for random formats, rounding and overflow
//! policies, and data that does and does not overflow.

use locus::hw::datapath::{Activation, Datapath, FixedDatapath, Matrix};
use locus::hw::model::{self, HwModel};
use locus::quant::{Overflow, Rounding};
use proptest::prelude::*;
use std::path::Path;

fn base_model() -> HwModel {
    model::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json")).unwrap()
}

fn rounding() -> impl Strategy<Value = Rounding> {
    prop_oneof![
        Just(Rounding::Truncate),
        Just(Rounding::Nearest),
        Just(Rounding::Stochastic)
    ]
}

fn overflow() -> impl Strategy<Value = Overflow> {
    prop_oneof![Just(Overflow::Saturate), Just(Overflow::Wrap)]
}

#[derive(Debug, Clone)]
struct Case {
    wbits: u32,
    wfrac: u32,
    abits: u32,
    afrac: u32,
    ebits: u32,
    efrac: u32,
    acc_bits: u32,
    rounding: [Rounding; 3],
    overflow: [Overflow; 4],
    lr_shift: u32,
    rows: usize,
    cols: usize,
    seed: u64,
    scale: i32,
    /// Extra fractional bits of the update over the weight (write-back shift).
    extra: u32,
    /// All weights and errors non-negative: partial sums grow monotonically,
    /// so the accumulator bound is tight and overflow is reached.
    positive: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (8u32..=16, 8u32..=16, 8u32..=16),
        (0u32..8, 0u32..8, 0u32..8),
        prop_oneof![Just(20u32), Just(24), Just(32), Just(40)],
        [rounding(), rounding(), rounding()],
        [overflow(), overflow(), overflow(), overflow()],
        0u32..10,
        (1usize..40, 1usize..70),
        any::<u64>(),
        prop_oneof![
            Just(1i32),
            Just(16),
            Just(64),
            Just(256),
            Just(1024),
            Just(i16::MAX as i32)
        ],
        (any::<bool>(), 0u32..=4),
    )
        .prop_map(
            |(
                (wb, ab, eb),
                (wf, af, ef),
                acc,
                r,
                o,
                lr,
                (rows, cols),
                seed,
                scale,
                (positive, extra),
            )| {
                Case {
                    wbits: wb,
                    wfrac: wf.min(wb - 2),
                    abits: ab,
                    afrac: af.min(ab - 2),
                    ebits: eb,
                    efrac: ef.min(eb - 2),
                    acc_bits: acc,
                    rounding: r,
                    overflow: o,
                    lr_shift: lr,
                    rows,
                    cols,
                    seed,
                    scale,
                    positive,
                    extra,
                }
            },
        )
}

fn model_for(c: &Case) -> HwModel {
    let mut m = base_model();
    let f = &mut m.formats;
    f.weight.bits = c.wbits;
    f.weight.frac = c.wfrac;
    f.update.bits = c.wbits;
    f.update.frac = (c.wfrac + c.extra).min(c.wbits - 1);
    f.activation.bits = c.abits;
    f.activation.frac = c.afrac;
    f.error.bits = c.ebits;
    f.error.frac = c.efrac;
    f.accumulator.bits = c.acc_bits;
    f.weight.rounding = c.rounding[0];
    f.update.rounding = c.rounding[1];
    f.activation.rounding = c.rounding[2];
    f.error.rounding = c.rounding[2];
    f.weight.overflow = c.overflow[0];
    f.update.overflow = c.overflow[1];
    f.activation.overflow = c.overflow[2];
    f.error.overflow = c.overflow[3];
    f.accumulator.overflow = c.overflow[3];
    m
}

/// Deterministic pseudo-random raw values within a `bits`-bit format,
/// scaled down by `scale` (large scale = small values, no overflow).
fn values(n: usize, bits: u32, seed: u64, scale: i32) -> Vec<i64> {
    let max = (1i64 << (bits - 1)) - 1;
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = (s % (2 * max as u64 + 2)) as i64 - max - 1;
            v / scale as i64
        })
        .collect()
}

fn run<V: locus::quant::Raw>(m: &HwModel, c: &Case) -> (Vec<i64>, u32, String) {
    let mut dp = FixedDatapath::<V>::new(m, c.lr_shift).unwrap();
    let pos = c.positive;
    // Stored values are always inside their format (every write fits them),
    // so a magnitude is capped at the format's largest value: |min| is not.
    let conv = |v: Vec<i64>, bits: u32, abs: bool| -> Vec<V> {
        let max = (1i64 << (bits - 1)) - 1;
        v.into_iter()
            .map(|x| V::from_i64_unchecked(if abs { x.abs().min(max) } else { x }))
            .collect()
    };
    let mut w = conv(
        values(c.rows * c.cols, c.wbits, c.seed, c.scale),
        c.wbits,
        pos,
    );
    let mut b = conv(values(c.rows, c.wbits, c.seed ^ 1, c.scale), c.wbits, pos);
    let x = conv(values(c.cols, c.abits, c.seed ^ 2, c.scale), c.abits, true);
    let e = conv(values(c.rows, c.ebits, c.seed ^ 3, c.scale), c.ebits, pos);
    let mut out = vec![V::default(); c.rows];
    dp.matvec(&w, &b, &x, &mut out);
    let mut back = vec![V::default(); c.cols];
    dp.backprop(Matrix::Weights, &w, &e, &x, Activation::Relu, &mut back);
    dp.update(&mut w, &mut b, &e, &x);
    // Two momentum steps (μ = 1 − 2^-m) from a random velocity in the
    // update format (its bits are the weight's).
    let mut v = conv(
        values(c.rows * (c.cols + 1), c.wbits, c.seed ^ 4, c.scale),
        c.wbits,
        false,
    );
    let m = 1 + (c.seed % 15) as u32;
    dp.update_momentum(&mut w, &mut b, &mut v, &e, &x, m);
    dp.update_momentum(&mut w, &mut b, &mut v, &e, &x, m);
    fingerprint(&dp, &[&out, &back, &w, &b, &v])
}

/// What a run must reproduce: every value of `parts` in order, the LFSR
/// state, and the overflow counts and draws.
fn fingerprint<V: locus::quant::Raw>(
    dp: &FixedDatapath<V>,
    parts: &[&[V]],
) -> (Vec<i64>, u32, String) {
    let all = parts
        .iter()
        .flat_map(|p| p.iter())
        .map(|v| v.to_i64())
        .collect();
    (
        all,
        dp.lfsr().state(),
        format!("{:?} {}", dp.overflow(), dp.lfsr_draws()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn i16_fast_paths_equal_i32_reference(c in case()) {
        let m = model_for(&c);
        prop_assume!(m.validate().is_ok());
        let fast = run::<i16>(&m, &c);
        let reference = run::<i32>(&m, &c);
        prop_assert_eq!(fast, reference);
    }
}

/// The transposed mat-vec of the backward pass, `out[j] = Σ_i m[i][j]·e[i]`
/// summed per step in `i = 0..rows` order, against an independent
/// per-column reference: each column through `AccFormat::dot_reference`,
/// then the backward requantiser (shift = the weight's fractional bits, into
/// the error format). Narrow accumulators make most columns overflow.
fn backprop_case()
-> impl Strategy<Value = (u32, Overflow, Overflow, Rounding, usize, usize, u64, bool)> {
    (
        8u32..=24,
        overflow(),
        overflow(),
        prop_oneof![Just(Rounding::Truncate), Just(Rounding::Nearest)],
        1usize..40,
        1usize..40,
        any::<u64>(),
        any::<bool>(),
    )
}

fn backprop_against_reference<V: locus::quant::Raw>(
    (acc_bits, acc_o, err_o, r, rows, cols, seed, positive): (
        u32,
        Overflow,
        Overflow,
        Rounding,
        usize,
        usize,
        u64,
        bool,
    ),
) -> Result<(), TestCaseError> {
    use locus::quant::{AccFormat, OverflowStats, Requantizer};
    let mut m = base_model();
    m.formats.accumulator.bits = acc_bits;
    m.formats.accumulator.overflow = acc_o;
    m.formats.error.rounding = r;
    m.formats.error.overflow = err_o;
    let f = m.formats;
    let mut dp = FixedDatapath::<V>::new(&m, 7).unwrap();
    let val = |v: i64| {
        if positive {
            v.abs().min(i16::MAX as i64)
        } else {
            v
        }
    };
    let w: Vec<i64> = values(rows * cols, 16, seed, 1)
        .into_iter()
        .map(val)
        .collect();
    let e: Vec<i64> = values(rows, 16, seed ^ 7, 1).into_iter().map(val).collect();
    // Stored activations all positive: ReLU's derivative passes every column.
    let h: Vec<V> = vec![V::from_i64_unchecked(1); cols];
    let (wv, ev): (Vec<V>, Vec<V>) = (
        w.iter().map(|&v| V::from_i64_unchecked(v)).collect(),
        e.iter().map(|&v| V::from_i64_unchecked(v)).collect(),
    );
    let mut out = vec![V::default(); cols];
    dp.backprop(Matrix::Weights, &wv, &ev, &h, Activation::Relu, &mut out);
    let acc = AccFormat::new(acc_bits, acc_o).unwrap();
    let rq = Requantizer::with_shift(
        f.weight.frac as i32,
        f.error.qformat(),
        f.error.rounding,
        f.error.overflow,
    )
    .unwrap();
    let (mut acc_stats, mut err_stats) = (OverflowStats::default(), OverflowStats::default());
    let mut lfsr = locus::quant::Lfsr::new(1).unwrap();
    for j in 0..cols {
        let col: Vec<i32> = (0..rows).map(|i| w[i * cols + j] as i32).collect();
        let e32: Vec<i32> = e.iter().map(|&v| v as i32).collect();
        let a = acc.dot_reference(&col, &e32, &mut acc_stats);
        let want = rq.apply(a, &mut lfsr, &mut err_stats) as i64;
        prop_assert_eq!(out[j].to_i64(), want, "column {}", j);
    }
    let o = dp.overflow();
    prop_assert_eq!(o.accumulator, acc_stats);
    prop_assert_eq!(o.error, err_stats);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn backprop_equals_per_column_reference_i16(c in backprop_case()) {
        backprop_against_reference::<i16>(c)?;
    }

    #[test]
    fn backprop_equals_per_column_reference_i32(c in backprop_case()) {
        backprop_against_reference::<i32>(c)?;
    }
}

/// A conv layer's geometry and data for [`conv_run`]: the network text's
/// first layer, and the case's formats, seed and value scale.
#[derive(Debug, Clone)]
struct ConvCase {
    c: Case,
    text: String,
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        case(),
        (1usize..=3, 3usize..=12, 1usize..=3, 1usize..=9),
        (1usize..=2, 0usize..=1, any::<bool>()),
        prop_oneof![Just(""), Just(",maxpool2"), Just(",avgpool2")],
    )
        .prop_map(
            |(c, (in_c, side, k, out_c), (stride, pad, grouped), pool)| {
                // Channel groups where both channel counts divide: depthwise
                // when out_c = in_c.
                let groups = if grouped && in_c > 1 && out_c % in_c == 0 {
                    format!("g{in_c}")
                } else {
                    String::new()
                };
                let k = k.min(side);
                let pad = if pad < k { pad } else { 0 };
                let out = (side + 2 * pad - k) / stride + 1;
                let pool = if out >= 2 && out % 2 == 0 { pool } else { "" };
                ConvCase {
                    c,
                    text: format!(
                        "{in_c}x{side}x{side},conv{k}x{k}x{out_c}s{stride}p{pad}{groups}{pool},4"
                    ),
                }
            },
        )
}

/// The conv update and the transposed convolution with `V` lanes: the
/// weights and biases after the update, the transposed result, the LFSR
/// state, the overflow counts and the draws.
fn conv_run<V: locus::quant::Raw>(m: &HwModel, cc: &ConvCase) -> (Vec<i64>, u32, String) {
    let c = &cc.c;
    let net = locus::hw::core::NetSpec::parse(&cc.text, Activation::Relu).unwrap();
    let g = net.geometry().unwrap()[0].unwrap();
    let mut dp = FixedDatapath::<V>::new(m, c.lr_shift).unwrap();
    let conv = |v: Vec<i64>, bits: u32, abs: bool| -> Vec<V> {
        let max = (1i64 << (bits - 1)) - 1;
        v.into_iter()
            .map(|x| V::from_i64_unchecked(if abs { x.abs().min(max) } else { x }))
            .collect()
    };
    let pos = c.positive;
    let kk = g.patch_len();
    let mut w = conv(values(g.out_c * kk, c.wbits, c.seed, c.scale), c.wbits, pos);
    let mut b = conv(values(g.out_c, c.wbits, c.seed ^ 1, c.scale), c.wbits, pos);
    let x = conv(
        values(g.in_len(), c.abits, c.seed ^ 2, c.scale),
        c.abits,
        true,
    );
    // Errors at every conv output position, some of them zero.
    let mut d = conv(
        values(g.out_c * g.positions(), c.ebits, c.seed ^ 3, c.scale),
        c.ebits,
        pos,
    );
    for (i, v) in d.iter_mut().enumerate() {
        if (c.seed >> (i % 61)) & 3 == 0 {
            *v = V::default();
        }
    }
    // The forward before activation: the whole-layer path where it
    // applies, else (and always in `i32` lanes) one mat-vec per position.
    let (p, kk) = (g.positions(), g.patch_len());
    let mut pre = vec![V::default(); g.conv_len()];
    if !dp.conv_preactivations(&g, &w, &b, &x, &mut pre) {
        let og = g.group_out();
        let mut patch = vec![V::default(); g.in_patch_len()];
        let mut col = vec![V::default(); g.out_c];
        for pos in 0..p {
            g.patch(&x, pos / g.out_w, pos % g.out_w, &mut patch);
            for gi in 0..g.groups {
                dp.matvec(
                    &w[gi * og * kk..(gi + 1) * og * kk],
                    &b[gi * og..(gi + 1) * og],
                    &patch[gi * kk..(gi + 1) * kk],
                    &mut col[gi * og..(gi + 1) * og],
                );
            }
            for (o, &v) in col.iter().enumerate() {
                pre[o * p + pos] = v;
            }
        }
    }
    let mut back = vec![V::default(); g.in_len()];
    dp.conv_transpose(&g, Matrix::Weights, &w, &d, &mut back);
    dp.conv_update(&g, &mut w, &mut b, &d, &x);
    fingerprint(&dp, &[&pre, &w, &b, &back])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The conv kernels' `i16` fast paths (exact `i32` sums under a bound,
    /// slice requantisation) equal the generic per-element path in `i32`
    /// lanes: both widths, narrow accumulators, saturation and wrap, every
    /// rounding, average pools.
    #[test]
    fn conv_i16_fast_paths_equal_i32_reference(cc in conv_case()) {
        let m = model_for(&cc.c);
        prop_assume!(m.validate().is_ok());
        let fast = conv_run::<i16>(&m, &cc);
        let reference = conv_run::<i32>(&m, &cc);
        prop_assert_eq!(fast, reference);
    }
}
