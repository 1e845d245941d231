//! Property tests of the arithmetic contract: the requantiser against the
//! `fixed` crate (for every format `fixed` can express here) and against the
//! independent `i128` reference; nearest's ties; stochastic rounding's mean;
//! the accumulator's fast dot product against its per-step reference.

use fixed::types::extra::{U0, U2, U4, U6, U8, U12, U16, U24};
use fixed::{FixedI8, FixedI16, FixedI32, FixedI64};
use locus::quant::{
    AccFormat, LFSR_MASK, Lfsr, Overflow, OverflowEvent, OverflowStats, QFormat, Requantizer,
    Rounding, galois_step, reference_requantize,
};
use proptest::prelude::*;

fn requant(x: i64, src_frac: u32, dst: QFormat, r: Rounding, o: Overflow) -> (i32, OverflowStats) {
    let rq = Requantizer::new(src_frac, dst, r, o).unwrap();
    let mut lfsr = Lfsr::new(1).unwrap();
    let mut st = OverflowStats::default();
    (rq.apply(x, &mut lfsr, &mut st), st)
}

/// One `fixed` oracle case: source type with its frac, destination type with
/// its frac, and `Sh` = the shift as a typenum (for nearest via round_ties_even).
macro_rules! fixed_oracle {
    ($name:ident, $src:ident, $sraw:ty, $sfrac:ty, $sf:expr, $dst:ident, $dfrac:ty, $dbits:expr, $df:expr, $wide:ident, $sh:ty) => {
        proptest! {
            #[test]
            fn $name(x in any::<$sraw>()) {
                let dst = QFormat::new($dbits, $df).unwrap();
                let v = $src::<$sfrac>::from_bits(x);
                // truncate = floor: fixed discards extra fractional bits towards -inf
                let sat = $dst::<$dfrac>::saturating_from_num(v).to_bits() as i32;
                let (got, st) = requant(x as i64, $sf, dst, Rounding::Truncate, Overflow::Saturate);
                prop_assert_eq!(got, sat);
                let oracle_overflow = $dst::<$dfrac>::checked_from_num(v).is_none();
                prop_assert_eq!(st.total() == 1, oracle_overflow);
                let wrap = $dst::<$dfrac>::wrapping_from_num(v).to_bits() as i32;
                let (got, st) = requant(x as i64, $sf, dst, Rounding::Truncate, Overflow::Wrap);
                prop_assert_eq!(got, wrap);
                prop_assert_eq!(st.wrapped == 1, oracle_overflow);
                // nearest, ties to even: round x / 2^shift to an integer with
                // fixed's round_ties_even, then saturate into the destination
                let r = $wide::<$sh>::from_bits(x as i64).round_ties_even().to_num::<i64>();
                let near = $dst::<U0>::saturating_from_num(r).to_bits() as i32;
                let (got, _) = requant(x as i64, $sf, dst, Rounding::Nearest, Overflow::Saturate);
                prop_assert_eq!(got, near);
            }
        }
    };
}

fixed_oracle!(
    i32f16_to_i16f8,
    FixedI32,
    i32,
    U16,
    16,
    FixedI16,
    U8,
    16,
    8,
    FixedI64,
    U8
);
fixed_oracle!(
    i16f8_to_i8f4,
    FixedI16,
    i16,
    U8,
    8,
    FixedI8,
    U4,
    8,
    4,
    FixedI64,
    U4
);
fixed_oracle!(
    i32f24_to_i16f12,
    FixedI32,
    i32,
    U24,
    24,
    FixedI16,
    U12,
    16,
    12,
    FixedI64,
    U12
);
fixed_oracle!(
    i32f8_to_i8f2,
    FixedI32,
    i32,
    U8,
    8,
    FixedI8,
    U2,
    8,
    2,
    FixedI64,
    U6
);
fixed_oracle!(
    i64f24_to_i32f8,
    FixedI64,
    i64,
    U24,
    24,
    FixedI32,
    U8,
    32,
    8,
    FixedI64,
    U16
);
fixed_oracle!(
    i32f8_to_i16f8_no_shift,
    FixedI32,
    i32,
    U8,
    8,
    FixedI16,
    U8,
    16,
    8,
    FixedI64,
    U0
);

fn any_format() -> impl Strategy<Value = QFormat> {
    (2u32..=32)
        .prop_flat_map(|bits| (Just(bits), 0..bits))
        .prop_map(|(b, f)| QFormat::new(b, f).unwrap())
}

fn any_rounding() -> impl Strategy<Value = Rounding> {
    prop_oneof![
        Just(Rounding::Truncate),
        Just(Rounding::Nearest),
        Just(Rounding::Stochastic)
    ]
}

fn any_overflow() -> impl Strategy<Value = Overflow> {
    prop_oneof![Just(Overflow::Saturate), Just(Overflow::Wrap)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// The datapath requantiser equals the i128 reference for any format,
    /// shift, value, mode and LFSR state, and counts the same event.
    #[test]
    fn requantiser_matches_i128_reference(
        x in any::<i64>(), shift in -62i32..=62, dst in any_format(),
        r in any_rounding(), o in any_overflow(), seed in 1u32..,
    ) {
        let rq = Requantizer::with_shift(shift, dst, r, o).unwrap();
        let mut lfsr = Lfsr::new(seed).unwrap();
        let mut st = OverflowStats::default();
        let got = rq.apply(x, &mut lfsr, &mut st);
        let drawn = galois_step(seed, LFSR_MASK);
        let (want, ev) = reference_requantize(x, shift, dst, r, o, drawn);
        prop_assert_eq!(got, want);
        prop_assert!(got >= dst.min_raw() && got <= dst.max_raw());
        let expect_steps = if r == Rounding::Stochastic { drawn } else { seed };
        prop_assert_eq!(lfsr.state(), expect_steps);
        let (hi, lo) = match o {
            Overflow::Saturate => (st.saturated_high, st.saturated_low),
            Overflow::Wrap => (st.wrapped * (ev == OverflowEvent::High) as u64,
                               st.wrapped * (ev == OverflowEvent::Low) as u64),
        };
        prop_assert_eq!((hi, lo), ((ev == OverflowEvent::High) as u64, (ev == OverflowEvent::Low) as u64));
    }

    /// The slice form equals element-by-element scalar calls, for i32 and
    /// i64 sources and i16/i32 destinations, LFSR state included.
    #[test]
    fn slice_matches_scalar(
        xs in prop::collection::vec(any::<i32>(), 0..200), shift in -20i32..=40,
        bits in 2u32..=16, r in any_rounding(), o in any_overflow(), seed in 1u32..,
    ) {
        let dst = QFormat::new(bits, bits / 2).unwrap();
        let rq = Requantizer::with_shift(shift, dst, r, o).unwrap();
        let (mut la, mut lb, mut lc) = (Lfsr::new(seed).unwrap(), Lfsr::new(seed).unwrap(), Lfsr::new(seed).unwrap());
        let (mut sa, mut sb, mut sc) = (OverflowStats::default(), OverflowStats::default(), OverflowStats::default());
        let mut out16 = vec![0i16; xs.len()];
        rq.apply_slice(&xs, &mut out16, &mut la, &mut sa);
        let wide: Vec<i64> = xs.iter().map(|&x| (x as i64) << 7).collect();
        let rq7 = Requantizer::with_shift(shift + 7, dst, r, o).unwrap();
        let mut out32 = vec![0i32; xs.len()];
        rq7.apply_slice(&wide, &mut out32, &mut lc, &mut sc);
        for (i, &x) in xs.iter().enumerate() {
            prop_assert_eq!(out16[i] as i32, rq.apply(x as i64, &mut lb, &mut sb));
        }
        prop_assert_eq!((sa, la), (sb, lb));
        // 7 more fractional bits and a 7 bits larger shift: identical values
        // except stochastic, whose random addend is placed differently
        if r != Rounding::Stochastic {
            prop_assert_eq!(out32.iter().map(|&v| v as i16).collect::<Vec<_>>(), out16);
        }
    }

    /// Nearest is unbiased on ties: over ties symmetric around any centre k,
    /// +half and -half errors cancel exactly (ties go to the even neighbour,
    /// i.e. up and down alternately).
    #[test]
    fn nearest_is_unbiased_on_ties(s in 1u32..=20, k0 in -1000i64..1000, n in 1i64..200) {
        let dst = QFormat::new(32, 0).unwrap();
        let mut err_half_lsbs = 0i64;
        for k in k0..k0 + 2 * n {
            let x = (2 * k + 1) << (s - 1); // exactly (k + 0.5) LSB
            let (r, _) = requant(x, s, dst, Rounding::Nearest, Overflow::Saturate);
            let e = 2 * r as i64 - (2 * k + 1); // error in half LSBs: +1 or -1
            prop_assert!(e == 1 || e == -1);
            prop_assert_eq!((r as i64) % 2, 0);
            err_half_lsbs += e;
        }
        prop_assert_eq!(err_half_lsbs, 0);
    }

    /// Stochastic rounding is unbiased in expectation: the mean of 100 000
    /// rounded draws of one value is within 12 binomial standard deviations
    /// of the exact quotient. Successive draws share LFSR bits (one step per
    /// draw, the low `s` bits used), so the mean's spread is wider than for
    /// independent draws: measured up to 1.8x over 400 seeds and s = 1..24.
    /// 12 = 2 (that widening, rounded up) x 6 sigma, so a correct rounder
    /// fails about once in 10^9 cases; a fraction exactly 0 must be exact.
    #[test]
    fn stochastic_is_unbiased(x in -(1i64 << 31)..(1i64 << 31), s in 1u32..=24, seed in 1u32..) {
        let dst = QFormat::new(32, 0).unwrap();
        let rq = Requantizer::with_shift(s as i32, dst, Rounding::Stochastic, Overflow::Saturate).unwrap();
        let mut lfsr = Lfsr::new(seed).unwrap();
        let mut st = OverflowStats::default();
        let n = 100_000;
        let sum: f64 = (0..n).map(|_| rq.apply(x, &mut lfsr, &mut st) as f64).sum();
        let exact = x as f64 / (s as f64).exp2();
        let p = exact - exact.floor();
        let sigma = (p * (1.0 - p) / n as f64).sqrt();
        let err = (sum / n as f64 - exact).abs();
        prop_assert!(err <= 12.0 * sigma, "mean {} vs {}: {} sigma", sum / n as f64, exact, err / sigma);
    }

    /// The accumulator's fast dot product equals the per-step reference,
    /// with narrow registers that do overflow, in both policies.
    #[test]
    fn dot_matches_per_step_reference(
        pairs in prop::collection::vec((any::<i16>(), any::<i8>()), 0..300),
        bits in 8u32..=40, o in any_overflow(),
    ) {
        let acc = AccFormat::new(bits, o).unwrap();
        let (w, x): (Vec<i16>, Vec<i8>) = pairs.into_iter().unzip();
        let (mut s1, mut s2) = (OverflowStats::default(), OverflowStats::default());
        prop_assert_eq!(acc.dot(&w, &x, &mut s1), acc.dot_reference(&w, &x, &mut s2));
        prop_assert_eq!(s1, s2);
    }
}

/// Truncation is biased by -0.5 LSB on average, nearest and stochastic are
/// not: the mean error over every residue of a 10-bit shift.
#[test]
fn mean_rounding_error_over_all_residues() {
    let s = 10u32;
    let dst = QFormat::new(32, 0).unwrap();
    let mean = |r: Rounding| {
        let rq = Requantizer::with_shift(s as i32, dst, r, Overflow::Saturate).unwrap();
        let mut lfsr = Lfsr::new(0xACE1).unwrap();
        let mut st = OverflowStats::default();
        let mut total = 0f64;
        let reps = 64;
        for _ in 0..reps {
            for x in 0..(1i64 << s) {
                let v = (5i64 << s) + x;
                total += rq.apply(v, &mut lfsr, &mut st) as f64 - v as f64 / 1024.0;
            }
        }
        total / (reps as f64 * 1024.0)
    };
    assert!((mean(Rounding::Truncate) + 0.5).abs() < 1e-3);
    assert!(mean(Rounding::Nearest).abs() < 1e-3);
    assert!(mean(Rounding::Stochastic).abs() < 0.01);
}
