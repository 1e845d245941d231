//! Requantisation: an integer with `s` more fractional bits than the
//! destination format is shifted right by `s` with an explicit rounding mode,
//! then saturated or wrapped into the destination width, counting every
//! overflow. A negative `s` is an exact left shift (then saturate or wrap).
//!
//! [`Requantizer::apply`] is the datapath's scalar operation and
//! [`Requantizer::apply_slice`] its allocation-free slice form; both are
//! checked against the independent `i128` [`reference_requantize`] in tests.

use super::{Lfsr, LfsrBlock, Overflow, OverflowStats, QFormat, Raw, Rounding};

/// Largest right or left shift a requantiser accepts, in bits. Source values
/// are `i64`; products of two 32-bit formats need at most 62 fractional bits.
pub const MAX_SHIFT: u32 = 62;

/// A requantiser whose shift lies outside `-62..=62`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("requantisation shift = {shift} bits: must be within -{MAX_SHIFT}..={MAX_SHIFT}")]
pub struct ShiftError {
    /// The rejected shift.
    pub shift: i32,
}

/// Moves values from a source with some number of fractional bits into a
/// destination [`QFormat`], with the rounding and overflow policy named once
/// here and applied identically by every call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requantizer {
    shift: i32,
    dst: QFormat,
    rounding: Rounding,
    overflow: Overflow,
}

impl Requantizer {
    /// From a source with `src_frac` fractional bits into `dst`: the shift is
    /// `src_frac - dst.frac` bits to the right.
    pub fn new(
        src_frac: u32,
        dst: QFormat,
        rounding: Rounding,
        overflow: Overflow,
    ) -> Result<Self, ShiftError> {
        Self::with_shift(src_frac as i32 - dst.frac as i32, dst, rounding, overflow)
    }

    /// With an explicit right shift in bits (negative: left shift).
    pub fn with_shift(
        shift: i32,
        dst: QFormat,
        rounding: Rounding,
        overflow: Overflow,
    ) -> Result<Self, ShiftError> {
        if shift.unsigned_abs() > MAX_SHIFT {
            return Err(ShiftError { shift });
        }
        Ok(Requantizer {
            shift,
            dst,
            rounding,
            overflow,
        })
    }

    /// Shift 0, no rounding: only the overflow policy of `dst` (e.g. the
    /// result of an addition written back in its own format). Never draws.
    pub const fn fit_only(dst: QFormat, overflow: Overflow) -> Self {
        Requantizer {
            shift: 0,
            dst,
            rounding: Rounding::Truncate,
            overflow,
        }
    }

    /// Right shift in bits (negative: left shift).
    pub fn shift(&self) -> i32 {
        self.shift
    }
    /// Destination format.
    pub fn dst(&self) -> QFormat {
        self.dst
    }
    /// Rounding of the shifted-out bits.
    pub fn rounding(&self) -> Rounding {
        self.rounding
    }
    /// Overflow policy of the destination.
    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// Requantises one value. In stochastic mode the LFSR steps exactly once,
    /// whatever the shift; otherwise it is untouched.
    #[inline]
    pub fn apply(&self, x: i64, lfsr: &mut Lfsr, stats: &mut OverflowStats) -> i32 {
        let rnd = match self.rounding {
            Rounding::Stochastic => lfsr.next_state(),
            _ => 0,
        };
        let fit = Fit::new(self.dst, self.overflow);
        let mut c = Counts::default();
        let v = if self.shift >= 0 {
            fit.apply(
                round_shift(x, self.shift as u32, self.rounding, rnd),
                &mut c,
            )
        } else {
            fit.apply_wide((x as i128) << (-self.shift) as u32, &mut c)
        };
        c.add_to(stats, self.overflow);
        v as i32
    }

    /// Requantises `src` into `dst` element by element in index order (the
    /// LFSR draw order is row-major over the destination). Allocation-free;
    /// the rounding mode is resolved once, outside the loop.
    ///
    /// Panics if the slices differ in length or the destination format is
    /// wider than the lane `D` (programming errors, not user input).
    #[inline]
    pub fn apply_slice<S: Raw, D: Raw>(
        &self,
        src: &[S],
        dst: &mut [D],
        lfsr: &mut Lfsr,
        stats: &mut OverflowStats,
    ) {
        assert_eq!(src.len(), dst.len(), "requantise: length mismatch");
        assert!(
            self.dst.bits <= D::BITS,
            "requantise: lane narrower than format"
        );
        let fit = Fit::new(self.dst, self.overflow);
        let mut c = Counts::default();
        if self.shift < 0 {
            let k = (-self.shift) as u32;
            for (d, &s) in dst.iter_mut().zip(src) {
                if self.rounding == Rounding::Stochastic {
                    lfsr.next_state();
                }
                *d = D::from_i64_unchecked(fit.apply_wide((s.to_i64() as i128) << k, &mut c));
            }
        } else {
            let s = self.shift as u32;
            match self.rounding {
                Rounding::Truncate => map_slice(src, dst, |x| fit.apply(x >> s, &mut c)),
                Rounding::Nearest => map_slice(src, dst, |x| fit.apply(shr_nearest(x, s), &mut c)),
                Rounding::Stochastic => {
                    // Draw the LFSR states a chunk at a time (16 steps per
                    // table lookup), then round: same states, same order.
                    const CHUNK: usize = 256;
                    let block = LfsrBlock::shared();
                    let mut rnd = [0u32; CHUNK];
                    for (sc, dc) in src.chunks(CHUNK).zip(dst.chunks_mut(CHUNK)) {
                        let r = &mut rnd[..sc.len()];
                        block.fill(lfsr, r);
                        for ((d, &x), &u) in dc.iter_mut().zip(sc).zip(r.iter()) {
                            *d = D::from_i64_unchecked(
                                fit.apply(shr_stochastic(x.to_i64(), s, u), &mut c),
                            );
                        }
                    }
                }
            }
        }
        c.add_to(stats, self.overflow);
    }
}

#[inline(always)]
fn map_slice<S: Raw, D: Raw>(src: &[S], dst: &mut [D], mut f: impl FnMut(i64) -> i64) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = D::from_i64_unchecked(f(s.to_i64()));
    }
}

/// `floor(x / 2^s)` rounded by `rounding`; `rnd` is the LFSR state drawn for
/// this value (used only by `Stochastic`). `s <= 62`.
#[inline(always)]
pub(crate) fn round_shift(x: i64, s: u32, rounding: Rounding, rnd: u32) -> i64 {
    match rounding {
        Rounding::Truncate => x >> s,
        Rounding::Nearest => shr_nearest(x, s),
        Rounding::Stochastic => shr_stochastic(x, s, rnd),
    }
}

/// Right shift by `s` rounding to nearest, ties to even. Cannot overflow.
#[inline(always)]
pub(crate) fn shr_nearest(x: i64, s: u32) -> i64 {
    if s == 0 {
        return x;
    }
    let q = x >> s;
    let rem = x & ((1i64 << s) - 1);
    let half = 1i64 << (s - 1);
    q + ((rem > half) | ((rem == half) & (q & 1 == 1))) as i64
}

/// Right shift by `s` after adding the random addend taken from LFSR state
/// `rnd`: its low `min(s, 32)` bits, placed at the top of the `s` discarded
/// bits (for `s <= 32` simply the low `s` bits). Cannot overflow.
#[inline(always)]
pub(crate) fn shr_stochastic(x: i64, s: u32, rnd: u32) -> i64 {
    if s == 0 {
        return x;
    }
    let q = x >> s;
    let mask = (1i64 << s) - 1;
    let rem = x & mask;
    let addend = if s <= 32 {
        rnd as i64 & mask
    } else {
        (rnd as i64) << (s - 32)
    };
    q + ((rem + addend) >> s)
}

/// Overflow events counted locally in a loop, folded into stats once.
#[derive(Default)]
struct Counts {
    high: u64,
    low: u64,
}

impl Counts {
    #[inline(always)]
    fn add_to(&self, stats: &mut OverflowStats, overflow: Overflow) {
        stats.record(self.high, self.low, overflow);
    }
}

/// Saturation or wrap into a signed width of at most 62 bits.
#[derive(Clone, Copy)]
pub(crate) struct Fit {
    min: i64,
    max: i64,
    bits: u32,
    overflow: Overflow,
}

impl Fit {
    #[inline(always)]
    pub(crate) fn new(dst: QFormat, overflow: Overflow) -> Self {
        Self::width(dst.bits, overflow)
    }

    #[inline(always)]
    pub(crate) fn width(bits: u32, overflow: Overflow) -> Self {
        Fit {
            min: -(1i64 << (bits - 1)),
            max: (1i64 << (bits - 1)) - 1,
            bits,
            overflow,
        }
    }

    #[inline(always)]
    fn apply(&self, v: i64, c: &mut Counts) -> i64 {
        c.high += (v > self.max) as u64;
        c.low += (v < self.min) as u64;
        match self.overflow {
            Overflow::Saturate => v.clamp(self.min, self.max),
            Overflow::Wrap => (v << (64 - self.bits)) >> (64 - self.bits),
        }
    }

    #[inline]
    fn apply_wide(&self, v: i128, c: &mut Counts) -> i64 {
        let hi = v > self.max as i128;
        let lo = v < self.min as i128;
        c.high += hi as u64;
        c.low += lo as u64;
        match self.overflow {
            Overflow::Saturate => v.clamp(self.min as i128, self.max as i128) as i64,
            // Low 64 bits keep every bit of the destination (bits <= 62).
            Overflow::Wrap => ((v as i64) << (64 - self.bits)) >> (64 - self.bits),
        }
    }

    /// Applies the policy and records the event in `stats`.
    #[inline(always)]
    pub(crate) fn apply_counted(&self, v: i64, stats: &mut OverflowStats) -> i64 {
        let mut c = Counts::default();
        let r = self.apply(v, &mut c);
        c.add_to(stats, self.overflow);
        r
    }
}

/// What happened to a value in [`reference_requantize`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverflowEvent {
    /// The rounded value was in range.
    None,
    /// Above the maximum (saturated or wrapped by the policy).
    High,
    /// Below the minimum (saturated or wrapped by the policy).
    Low,
}

/// The plain reference requantiser, written independently in `i128` with
/// division instead of shifts; tests hold every fast path to it. `rnd` is the
/// LFSR state drawn for this value (used only by `Stochastic`).
pub fn reference_requantize(
    x: i64,
    shift: i32,
    dst: QFormat,
    rounding: Rounding,
    overflow: Overflow,
    rnd: u32,
) -> (i32, OverflowEvent) {
    let x = x as i128;
    let rounded: i128 = if shift <= 0 {
        x * (1i128 << (-shift) as u32)
    } else {
        let d = 1i128 << shift as u32;
        let floor = x.div_euclid(d);
        let rem = x.rem_euclid(d);
        match rounding {
            Rounding::Truncate => floor,
            Rounding::Nearest => {
                if 2 * rem > d || (2 * rem == d && floor % 2 != 0) {
                    floor + 1
                } else {
                    floor
                }
            }
            Rounding::Stochastic => {
                let take = (shift as u32).min(32);
                let r = ((rnd as i128) % (1i128 << take)) * (1i128 << (shift as u32 - take));
                (x + r).div_euclid(d)
            }
        }
    };
    let (min, max) = (dst.min_raw() as i128, dst.max_raw() as i128);
    let event = if rounded > max {
        OverflowEvent::High
    } else if rounded < min {
        OverflowEvent::Low
    } else {
        OverflowEvent::None
    };
    let v = match overflow {
        Overflow::Saturate => rounded.clamp(min, max),
        Overflow::Wrap => {
            let m = 1i128 << dst.bits;
            let w = rounded.rem_euclid(m);
            if w > max { w - m } else { w }
        }
    };
    (v as i32, event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(bits: u32, frac: u32) -> QFormat {
        QFormat::new(bits, frac).unwrap()
    }

    fn one(x: i64, shift: i32, dst: QFormat, r: Rounding, o: Overflow) -> (i32, OverflowStats) {
        let rq = Requantizer::with_shift(shift, dst, r, o).unwrap();
        let mut lfsr = Lfsr::new(1).unwrap();
        let mut st = OverflowStats::default();
        (rq.apply(x, &mut lfsr, &mut st), st)
    }

    #[test]
    fn hand_computed_truncate_and_nearest() {
        let d = q(8, 0);
        let s = Overflow::Saturate;
        // 2.5 -> truncate 2, nearest 2 (tie to even); 3.5 -> 3, 4; -2.5 -> -3, -2
        assert_eq!(one(5, 1, d, Rounding::Truncate, s).0, 2);
        assert_eq!(one(5, 1, d, Rounding::Nearest, s).0, 2);
        assert_eq!(one(7, 1, d, Rounding::Truncate, s).0, 3);
        assert_eq!(one(7, 1, d, Rounding::Nearest, s).0, 4);
        assert_eq!(one(-5, 1, d, Rounding::Truncate, s).0, -3);
        assert_eq!(one(-5, 1, d, Rounding::Nearest, s).0, -2);
        assert_eq!(one(-7, 1, d, Rounding::Nearest, s).0, -4);
        // -2.75 (x = -11, s = 2): truncate -3, nearest -3
        assert_eq!(one(-11, 2, d, Rounding::Nearest, s).0, -3);
        // shift 0 is the identity
        assert_eq!(one(-128, 0, d, Rounding::Nearest, s).0, -128);
    }

    #[test]
    fn saturation_at_both_ends_is_counted() {
        let d = q(8, 4);
        let (v, st) = one(128 << 3, 3, d, Rounding::Truncate, Overflow::Saturate);
        assert_eq!((v, st.saturated_high, st.saturated_low), (127, 1, 0));
        let (v, st) = one(-129 << 3, 3, d, Rounding::Truncate, Overflow::Saturate);
        assert_eq!((v, st.saturated_high, st.saturated_low), (-128, 0, 1));
        // the most negative value itself is in range
        let (v, st) = one(-128 << 3, 3, d, Rounding::Nearest, Overflow::Saturate);
        assert_eq!((v, st.total()), (-128, 0));
        // 127.5 LSB rounds up to 128, which saturates
        let (v, st) = one(255, 1, d, Rounding::Nearest, Overflow::Saturate);
        assert_eq!((v, st.saturated_high), (127, 1));
    }

    #[test]
    fn wrap_keeps_low_bits_and_counts() {
        let d = q(8, 0);
        let (v, st) = one(128, 0, d, Rounding::Truncate, Overflow::Wrap);
        assert_eq!((v, st.wrapped), (-128, 1));
        let (v, st) = one(-129, 0, d, Rounding::Truncate, Overflow::Wrap);
        assert_eq!((v, st.wrapped), (127, 1));
        let (v, st) = one(300 << 2, 2, d, Rounding::Nearest, Overflow::Wrap);
        assert_eq!((v, st.wrapped), (300 - 256, 1));
    }

    #[test]
    fn left_shift_is_exact_then_saturates() {
        let d = q(16, 8);
        assert_eq!(one(3, -4, d, Rounding::Nearest, Overflow::Saturate).0, 48);
        let (v, st) = one(i64::MAX, -62, d, Rounding::Nearest, Overflow::Saturate);
        assert_eq!((v, st.saturated_high), (32767, 1));
        let (v, st) = one(i64::MIN, -62, d, Rounding::Nearest, Overflow::Wrap);
        assert_eq!((v, st.wrapped), (0, 1));
    }

    #[test]
    fn shift_limits() {
        let d = q(8, 0);
        assert!(Requantizer::with_shift(62, d, Rounding::Nearest, Overflow::Wrap).is_ok());
        assert_eq!(
            Requantizer::with_shift(63, d, Rounding::Nearest, Overflow::Wrap).unwrap_err(),
            ShiftError { shift: 63 }
        );
        assert!(Requantizer::with_shift(-63, d, Rounding::Nearest, Overflow::Wrap).is_err());
        // shift by 62 of the extremes: floor gives 1 and -2, nearest 2 and -2
        assert_eq!(
            one(i64::MAX, 62, d, Rounding::Truncate, Overflow::Saturate).0,
            1
        );
        assert_eq!(
            one(i64::MIN, 62, d, Rounding::Truncate, Overflow::Saturate).0,
            -2
        );
        assert_eq!(
            one(i64::MAX, 62, d, Rounding::Nearest, Overflow::Saturate).0,
            2
        );
    }

    #[test]
    fn stochastic_uses_the_next_lfsr_state() {
        // From seed 1 the first state is 0x80200003: low 2 bits = 3.
        // x = 1 (0.25 at s = 2): (1 + 3) >> 2 = 1.
        let d = q(8, 0);
        assert_eq!(one(1, 2, d, Rounding::Stochastic, Overflow::Saturate).0, 1);
        // low bit of 0x80200003 = 1: x = 0 with s = 1 -> (0 + 1) >> 1 = 0; x = 1 -> 1
        assert_eq!(one(0, 1, d, Rounding::Stochastic, Overflow::Saturate).0, 0);
        assert_eq!(one(1, 1, d, Rounding::Stochastic, Overflow::Saturate).0, 1);
        // s > 32: the 32 random bits sit at the top of the discarded field
        let x = 3i64 << 40; // 3 * 2^40 / 2^40 = 3 exactly: no carry possible beyond 1 LSB
        assert_eq!(
            one(x, 40, q(8, 0), Rounding::Stochastic, Overflow::Saturate).0,
            3
        );
    }

    #[test]
    fn slice_equals_scalar_for_every_mode() {
        let src: Vec<i32> = (-3000..3000).map(|i| i * 37 + (i % 7)).collect();
        for rounding in Rounding::ALL {
            for overflow in [Overflow::Saturate, Overflow::Wrap] {
                for shift in [-3, 0, 1, 5, 9] {
                    let rq = Requantizer::with_shift(shift, q(12, 4), rounding, overflow).unwrap();
                    let (mut la, mut lb) = (Lfsr::new(7).unwrap(), Lfsr::new(7).unwrap());
                    let (mut sa, mut sb) = (OverflowStats::default(), OverflowStats::default());
                    let mut out = vec![0i16; src.len()];
                    rq.apply_slice(&src, &mut out, &mut la, &mut sa);
                    for (i, &x) in src.iter().enumerate() {
                        assert_eq!(out[i] as i32, rq.apply(x as i64, &mut lb, &mut sb));
                    }
                    assert_eq!((sa, la), (sb, lb));
                }
            }
        }
    }
}
