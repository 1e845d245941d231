//! The accumulator: a signed register of configurable width (e.g. 24, 32 or
//! 48 bits) into which products are summed. Overflow is checked after every
//! addition, in input order, and saturates or wraps by the accumulator's
//! policy — the semantics an RTL MAC with a narrow register has.
//!
//! [`AccFormat::dot`] is the multiply-accumulate inner loop. Its fast path sums
//! exactly in `i64` and proves that no partial sum can leave the range (every
//! partial sum lies between the sum of the negative products and the sum of
//! the positive ones); only when that proof fails does it fall back to the
//! step-by-step loop, so the result is always the per-step one.

use super::requant::Fit;
use super::{Overflow, OverflowStats, Raw};
use serde::{Deserialize, Serialize};

/// Narrowest accumulator, in bits.
pub const MIN_ACC_BITS: u32 = 8;
/// Widest accumulator, in bits (partial sums of 32×32-bit products stay exact in `i64`).
pub const MAX_ACC_BITS: u32 = 62;

/// Width and overflow policy of the accumulator register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccFormat {
    /// Register width in bits, sign included: `8..=62`.
    pub bits: u32,
    /// What an addition whose result leaves the range does.
    pub overflow: Overflow,
}

/// An accumulator width outside `8..=62`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("accumulator bits = {bits}: must be {MIN_ACC_BITS}..={MAX_ACC_BITS}")]
pub struct AccBitsError {
    /// The rejected width.
    pub bits: u32,
}

impl AccFormat {
    /// A checked accumulator format.
    pub fn new(bits: u32, overflow: Overflow) -> Result<Self, AccBitsError> {
        let a = AccFormat { bits, overflow };
        a.validate()?;
        Ok(a)
    }

    /// Checks the width of a format built by hand or by deserialisation.
    pub fn validate(&self) -> Result<(), AccBitsError> {
        if (MIN_ACC_BITS..=MAX_ACC_BITS).contains(&self.bits) {
            Ok(())
        } else {
            Err(AccBitsError { bits: self.bits })
        }
    }

    /// Largest register value, `2^(bits-1) - 1`.
    pub fn max(&self) -> i64 {
        (1i64 << (self.bits - 1)) - 1
    }

    /// Smallest register value, `-2^(bits-1)`.
    pub fn min(&self) -> i64 {
        -(1i64 << (self.bits - 1))
    }

    /// One accumulation step: `acc + x`, saturated or wrapped into the
    /// register and counted. `acc` must be in range and `|x| < 2^62`.
    #[inline(always)]
    pub fn add(&self, acc: i64, x: i64, stats: &mut OverflowStats) -> i64 {
        Fit::width(self.bits, self.overflow).apply_counted(acc + x, stats)
    }

    /// The register times a constant, `v · m` (an average pool's reciprocal,
    /// `docs/arithmetic.md`): the exact product, then the register's
    /// overflow rule once, counted. `v` must be in range; `m = 1` returns `v`.
    pub fn scale(&self, v: i64, m: i64, stats: &mut OverflowStats) -> i64 {
        if m == 1 {
            return v;
        }
        let p = i128::from(v) * i128::from(m);
        let (lo, hi) = (i128::from(self.min()), i128::from(self.max()));
        if (lo..=hi).contains(&p) {
            return p as i64;
        }
        match self.overflow {
            Overflow::Saturate => {
                if p > hi {
                    stats.saturated_high += 1;
                    self.max()
                } else {
                    stats.saturated_low += 1;
                    self.min()
                }
            }
            Overflow::Wrap => {
                stats.wrapped += 1;
                let sh = 128 - self.bits;
                ((p << sh) >> sh) as i64
            }
        }
    }

    /// The per-step reference dot product: `acc = add(acc, w[j] * x[j])` for
    /// `j = 0..n` from zero. Tests hold [`AccFormat::dot`] to it.
    pub fn dot_reference<W: Raw, X: Raw>(
        &self,
        w: &[W],
        x: &[X],
        stats: &mut OverflowStats,
    ) -> i64 {
        assert_eq!(w.len(), x.len(), "dot: length mismatch");
        assert!(
            W::BITS <= 32 && X::BITS <= 32,
            "dot: lanes wider than 32 bits"
        );
        let mut acc = 0i64;
        for (&a, &b) in w.iter().zip(x) {
            acc = self.add(acc, a.to_i64() * b.to_i64(), stats);
        }
        acc
    }

    /// Dot product with per-step overflow semantics (see the module doc).
    /// Allocation-free. Panics if the slices differ in length.
    #[inline]
    pub fn dot<W: Raw, X: Raw>(&self, w: &[W], x: &[X], stats: &mut OverflowStats) -> i64 {
        assert_eq!(w.len(), x.len(), "dot: length mismatch");
        // Sums of products of lanes up to 16 bits cannot overflow i64 for any
        // slice that fits in memory; wider lanes go step by step.
        if W::BITS <= 16 && X::BITS <= 16 {
            let (mut pos, mut neg) = (0i64, 0i64);
            for (&a, &b) in w.iter().zip(x) {
                let p = a.to_i64() * b.to_i64();
                pos += p.max(0);
                neg += p.min(0);
            }
            if pos <= self.max() && neg >= self.min() {
                return pos + neg;
            }
        }
        assert!(
            W::BITS <= 32 && X::BITS <= 32,
            "dot: lanes wider than 32 bits"
        );
        match self.overflow {
            Overflow::Saturate => self.dot_stepwise::<W, X, false>(w, x, stats),
            Overflow::Wrap => self.dot_stepwise::<W, X, true>(w, x, stats),
        }
    }

    /// The per-step loop of [`AccFormat::dot_reference`] with the policy a
    /// constant and the events counted in registers, added to `stats` once:
    /// the same values and counts, fewer operations per step.
    #[inline]
    fn dot_stepwise<W: Raw, X: Raw, const WRAP: bool>(
        &self,
        w: &[W],
        x: &[X],
        stats: &mut OverflowStats,
    ) -> i64 {
        let (min, max, sh) = (self.min(), self.max(), 64 - self.bits);
        let (mut acc, mut high, mut low) = (0i64, 0u64, 0u64);
        for (&a, &b) in w.iter().zip(x) {
            let v = acc + a.to_i64() * b.to_i64();
            high += (v > max) as u64;
            low += (v < min) as u64;
            acc = if WRAP {
                (v << sh) >> sh
            } else {
                v.clamp(min, max)
            };
        }
        stats.record(high, low, self.overflow);
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_are_checked() {
        assert!(AccFormat::new(32, Overflow::Saturate).is_ok());
        assert_eq!(
            AccFormat::new(7, Overflow::Wrap),
            Err(AccBitsError { bits: 7 })
        );
        assert!(AccFormat::new(63, Overflow::Wrap).is_err());
        let a = AccFormat::new(24, Overflow::Wrap).unwrap();
        assert_eq!((a.min(), a.max()), (-(1 << 23), (1 << 23) - 1));
    }

    #[test]
    fn scaling_saturates_or_wraps_once_and_counts_it() {
        let mut st = OverflowStats::default();
        let sat = AccFormat::new(16, Overflow::Saturate).unwrap();
        assert_eq!(sat.scale(1000, 1, &mut st), 1000);
        assert_eq!(sat.scale(100, 300, &mut st), 30_000);
        assert_eq!(sat.scale(-100, 300, &mut st), -30_000);
        assert_eq!(st.total(), 0);
        assert_eq!(sat.scale(1000, 1337, &mut st), 32_767);
        assert_eq!(sat.scale(-1000, 1337, &mut st), -32_768);
        assert_eq!((st.saturated_high, st.saturated_low), (1, 1));
        let wrap = AccFormat::new(16, Overflow::Wrap).unwrap();
        // 1000·1337 = 1 337 000 = 20·65536 + 26 280: the low 16 bits.
        assert_eq!(wrap.scale(1000, 1337, &mut st), 26_280);
        assert_eq!(st.wrapped, 1);
        // The widest register and the largest product stay exact in i128.
        let wide = AccFormat::new(62, Overflow::Saturate).unwrap();
        assert_eq!(wide.scale(wide.max(), 1 << 13, &mut st), wide.max());
        assert_eq!(wide.scale(wide.min(), 1 << 13, &mut st), wide.min());
    }

    #[test]
    fn saturation_is_per_step_not_at_the_end() {
        // 8-bit register: 100 + 100 saturates at 127, then -100 gives 27,
        // whereas the exact sum is 100.
        let a = AccFormat::new(8, Overflow::Saturate).unwrap();
        let w = [1i16, 1, 1];
        let x = [100i16, 100, -100];
        let mut st = OverflowStats::default();
        assert_eq!(a.dot(&w, &x, &mut st), 27);
        assert_eq!(st.saturated_high, 1);
        // wrap is modular: per step equals the exact sum wrapped
        let a = AccFormat::new(8, Overflow::Wrap).unwrap();
        let mut st = OverflowStats::default();
        assert_eq!(a.dot(&w, &x, &mut st), 100);
        assert_eq!(st.wrapped, 2); // 200 wraps to -56 (event), -56-100 = -156 wraps (event)
    }

    #[test]
    fn fast_path_agrees_with_reference_without_overflow() {
        let a = AccFormat::new(32, Overflow::Saturate).unwrap();
        let w: Vec<i16> = (0..1000)
            .map(|i| ((i * 7919) % 65536 - 32768) as i16)
            .collect();
        let x: Vec<i16> = (0..1000)
            .map(|i| ((i * 104729) % 511 - 255) as i16)
            .collect();
        let (mut s1, mut s2) = (OverflowStats::default(), OverflowStats::default());
        assert_eq!(a.dot(&w, &x, &mut s1), a.dot_reference(&w, &x, &mut s2));
        assert_eq!(s1, s2);
    }
}
