//! Counters of saturation and wrap-around events, kept per tensor class so a
//! report can show where a bit width is too narrow.

use serde::{Deserialize, Serialize};
use std::ops::AddAssign;

/// How many values left the destination range, by direction and policy.
/// Every saturating or wrapping operation in `quant` adds to one of these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverflowStats {
    /// Values clamped to the format's maximum (saturate policy).
    pub saturated_high: u64,
    /// Values clamped to the format's minimum (saturate policy).
    pub saturated_low: u64,
    /// Values outside the range that wrapped around (wrap policy).
    pub wrapped: u64,
}

impl OverflowStats {
    /// All overflow events, of either policy.
    pub fn total(&self) -> u64 {
        self.saturated_high + self.saturated_low + self.wrapped
    }

    /// Records `high` values above and `low` values below a range, as
    /// saturations or as wraps by `policy`.
    #[inline]
    pub fn record(&mut self, high: u64, low: u64, policy: super::Overflow) {
        match policy {
            super::Overflow::Saturate => {
                self.saturated_high += high;
                self.saturated_low += low;
            }
            super::Overflow::Wrap => self.wrapped += high + low,
        }
    }
}

impl AddAssign for OverflowStats {
    fn add_assign(&mut self, o: Self) {
        self.saturated_high += o.saturated_high;
        self.saturated_low += o.saturated_low;
        self.wrapped += o.wrapped;
    }
}
