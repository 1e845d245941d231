//! `QFormat`: a run-time two's-complement fixed-point format, and the
//! rounding / overflow policies that every requantisation names explicitly.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Smallest total width a format may have, in bits.
pub const MIN_BITS: u32 = 2;
/// Largest total width a format may have, in bits (values are held in `i32`).
pub const MAX_BITS: u32 = 32;

/// A two's-complement fixed-point format `Q(bits, frac)`: `bits` total bits
/// (sign included) of which `frac` are fractional. The real value of a raw
/// integer `r` is `r / 2^frac`.
///
/// Formats are run-time values (not types) because sweeps change them without
/// recompiling; `fixed` is used as the oracle in tests where it can express one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QFormat {
    /// Total width in bits, sign included: `2..=32`.
    pub bits: u32,
    /// Fractional bits: `0..bits`.
    pub frac: u32,
}

/// Why a `QFormat` is not valid; the message names the offending value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Total width outside `2..=32`.
    #[error("bits = {bits}: must be {MIN_BITS}..={MAX_BITS}")]
    Bits {
        /// The rejected width.
        bits: u32,
    },
    /// Fractional bits not below the total width.
    #[error("frac = {frac}: must be less than bits = {bits}")]
    Frac {
        /// The rejected fractional width.
        frac: u32,
        /// The format's total width.
        bits: u32,
    },
}

impl QFormat {
    /// A checked format: `bits` in `2..=32`, `frac < bits`.
    pub fn new(bits: u32, frac: u32) -> Result<Self, FormatError> {
        let f = QFormat { bits, frac };
        f.validate()?;
        Ok(f)
    }

    /// Checks the invariants of a format built by hand or by deserialisation.
    pub fn validate(&self) -> Result<(), FormatError> {
        if !(MIN_BITS..=MAX_BITS).contains(&self.bits) {
            return Err(FormatError::Bits { bits: self.bits });
        }
        if self.frac >= self.bits {
            return Err(FormatError::Frac {
                frac: self.frac,
                bits: self.bits,
            });
        }
        Ok(())
    }

    /// Largest raw value, `2^(bits-1) - 1`.
    #[inline]
    pub const fn max_raw(&self) -> i32 {
        ((1i64 << (self.bits - 1)) - 1) as i32
    }

    /// Smallest (most negative) raw value, `-2^(bits-1)`.
    #[inline]
    pub const fn min_raw(&self) -> i32 {
        (-(1i64 << (self.bits - 1))) as i32
    }

    /// Value of one least significant bit, `2^-frac`.
    pub fn resolution(&self) -> f64 {
        (-(self.frac as f64)).exp2()
    }

    /// Largest representable real value.
    pub fn max_value(&self) -> f64 {
        self.max_raw() as f64 * self.resolution()
    }

    /// Smallest (most negative) representable real value.
    pub fn min_value(&self) -> f64 {
        self.min_raw() as f64 * self.resolution()
    }

    /// Real value of a raw integer (for I/O and reports, never in the datapath).
    pub fn to_f64(&self, raw: i32) -> f64 {
        raw as f64 * self.resolution()
    }

    /// Real value of a raw integer as `f32` (for I/O and the float mode's inputs).
    pub fn to_f32(&self, raw: i32) -> f32 {
        self.to_f64(raw) as f32
    }

    /// Nearest raw integer to a real value (ties to even), saturated to the
    /// range; NaN maps to 0. For I/O only: the datapath never sees floats.
    pub fn from_f64(&self, x: f64) -> i32 {
        if x.is_nan() {
            return 0;
        }
        let scaled = (x * (self.frac as f64).exp2()).round_ties_even();
        scaled.clamp(self.min_raw() as f64, self.max_raw() as f64) as i32
    }

    /// As [`QFormat::from_f64`], from an `f32`.
    pub fn from_f32(&self, x: f32) -> i32 {
        self.from_f64(x as f64)
    }

    /// Hex digits needed for one raw word, `ceil(bits/4)` (for `$readmemh`).
    pub const fn hex_digits(&self) -> u32 {
        self.bits.div_ceil(4)
    }
}

impl fmt::Display for QFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Q{}.{}", self.bits - self.frac, self.frac)
    }
}

/// How the bits shifted out by a requantisation are rounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Floor: plain arithmetic right shift (rounds towards minus infinity).
    Truncate,
    /// Nearest, ties to even.
    Nearest,
    /// Add the low `s` bits of the next rounding-LFSR state, then floor.
    Stochastic,
}

impl Rounding {
    /// All modes, in documentation order.
    pub const ALL: [Rounding; 3] = [Rounding::Truncate, Rounding::Nearest, Rounding::Stochastic];

    /// The name used in model files, reports and manifests.
    pub const fn name(&self) -> &'static str {
        match self {
            Rounding::Truncate => "truncate",
            Rounding::Nearest => "nearest",
            Rounding::Stochastic => "stochastic",
        }
    }
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happens to a value outside the destination range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Clamp to the nearest representable value.
    Saturate,
    /// Keep the low `bits` bits (two's-complement wrap-around).
    Wrap,
}

impl Overflow {
    /// The name used in model files, reports and manifests.
    pub const fn name(&self) -> &'static str {
        match self {
            Overflow::Saturate => "saturate",
            Overflow::Wrap => "wrap",
        }
    }
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_edge_formats() {
        let q = QFormat::new(8, 4).unwrap();
        assert_eq!((q.min_raw(), q.max_raw()), (-128, 127));
        assert_eq!(q.max_value(), 127.0 / 16.0);
        assert_eq!(q.min_value(), -8.0);
        let q = QFormat::new(32, 0).unwrap();
        assert_eq!((q.min_raw(), q.max_raw()), (i32::MIN, i32::MAX));
        let q = QFormat::new(2, 1).unwrap();
        assert_eq!((q.min_raw(), q.max_raw()), (-2, 1));
        assert_eq!(q.to_string(), "Q1.1");
    }

    #[test]
    fn invalid_formats_name_the_value() {
        assert_eq!(
            QFormat::new(33, 0).unwrap_err().to_string(),
            "bits = 33: must be 2..=32"
        );
        assert_eq!(
            QFormat::new(1, 0).unwrap_err(),
            FormatError::Bits { bits: 1 }
        );
        assert_eq!(
            QFormat::new(8, 8).unwrap_err().to_string(),
            "frac = 8: must be less than bits = 8"
        );
    }

    #[test]
    fn float_conversion_rounds_and_saturates() {
        let q = QFormat::new(8, 4).unwrap();
        assert_eq!(q.from_f64(0.5), 8);
        assert_eq!(q.from_f64(1.0 / 32.0), 0); // 0.5 LSB ties to even (0)
        assert_eq!(q.from_f64(3.0 / 32.0), 2); // 1.5 LSB ties to even (2)
        assert_eq!(q.from_f64(100.0), 127);
        assert_eq!(q.from_f64(-100.0), -128);
        assert_eq!(q.from_f64(f64::NAN), 0);
        assert_eq!(q.to_f64(-128), -8.0);
        assert_eq!(QFormat::new(13, 0).unwrap().hex_digits(), 4);
        assert_eq!(QFormat::new(16, 0).unwrap().hex_digits(), 4);
    }
}
