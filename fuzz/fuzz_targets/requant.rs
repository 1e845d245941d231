//! The requantiser on arbitrary formats, shifts, policies and values,
//! checked against the independent `i128` reference: the scalar `apply`
//! and the slice `apply_slice` (into `i32` lanes, and `i16` lanes when the
//! format fits) must give the reference's value, count the reference's
//! overflow event, and step the LFSR exactly once per value in stochastic
//! mode (never otherwise).
//!
//! Input layout: bits, frac, shift, rounding, overflow (one byte each), an
//! LFSR seed (4 bytes), then any number of 8-byte little-endian values.

#![no_main]

use libfuzzer_sys::fuzz_target;
use locus::quant::{
    Lfsr, MAX_SHIFT, Overflow, OverflowEvent, OverflowStats, QFormat, Requantizer, Rounding,
    reference_requantize,
};

fuzz_target!(|input: &[u8]| {
    if input.len() < 9 {
        return;
    }
    let (head, rest) = input.split_at(9);
    let bits = 2 + u32::from(head[0]) % 31; // 2..=32
    let frac = u32::from(head[1]) % bits;
    let span = 2 * MAX_SHIFT as i32 + 1;
    let shift = i32::from(head[2]) % span - MAX_SHIFT as i32; // -62..=62
    let rounding = Rounding::ALL[usize::from(head[3]) % 3];
    let overflow = if head[4] % 2 == 0 {
        Overflow::Saturate
    } else {
        Overflow::Wrap
    };
    let seed = u32::from_le_bytes([head[5], head[6], head[7], head[8]]);
    let Ok(mut lfsr) = Lfsr::new(seed) else {
        return;
    };
    let dst = QFormat::new(bits, frac).expect("bits 2..=32, frac < bits");
    let rq = Requantizer::with_shift(shift, dst, rounding, overflow).expect("shift within range");
    let xs: Vec<i64> = rest
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .take(64)
        .collect();

    let start = lfsr;
    let mut expected = Vec::with_capacity(xs.len());
    let mut expected_stats = OverflowStats::default();
    let mut stats = OverflowStats::default();
    for &x in &xs {
        let mut probe = lfsr;
        let rnd = probe.next_state();
        let (want, event) = reference_requantize(x, shift, dst, rounding, overflow, rnd);
        let before = lfsr;
        let got = rq.apply(x, &mut lfsr, &mut stats);
        assert_eq!(
            got, want,
            "x = {x}, shift = {shift}, {dst:?}, {rounding}, {overflow}, rnd = {rnd:#x}"
        );
        if rounding == Rounding::Stochastic {
            assert_eq!(lfsr, probe, "one LFSR step per stochastic value");
        } else {
            assert_eq!(lfsr, before, "no LFSR step without stochastic rounding");
        }
        match (event, overflow) {
            (OverflowEvent::None, _) => {}
            (OverflowEvent::High, Overflow::Saturate) => expected_stats.saturated_high += 1,
            (OverflowEvent::Low, Overflow::Saturate) => expected_stats.saturated_low += 1,
            (_, Overflow::Wrap) => expected_stats.wrapped += 1,
        }
        assert_eq!(stats, expected_stats, "overflow counted as the reference says");
        expected.push(want);
    }

    // Slice forms take i32 (or i16) sources: keep the values that fit.
    let src: Vec<i32> = xs.iter().map(|&x| x as i32).collect();
    let want: Vec<i32> = {
        let mut l = start;
        let mut st = OverflowStats::default();
        src.iter().map(|&x| rq.apply(i64::from(x), &mut l, &mut st)).collect()
    };
    let mut l32 = start;
    let mut out32 = vec![0i32; src.len()];
    rq.apply_slice(&src, &mut out32, &mut l32, &mut OverflowStats::default());
    assert_eq!(out32, want, "apply_slice into i32 lanes");
    if bits <= 16 {
        let mut l16 = start;
        let mut out16 = vec![0i16; src.len()];
        rq.apply_slice(&src, &mut out16, &mut l16, &mut OverflowStats::default());
        let widened: Vec<i32> = out16.iter().map(|&v| i32::from(v)).collect();
        assert_eq!(widened, want, "apply_slice into i16 lanes");
        assert_eq!(l16, l32, "same LFSR steps in both lane widths");
    }
});
