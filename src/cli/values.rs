//! Parsers of the library's named values (`--activation`, `--arith`,
//! `--policy`, `--format`). The library types know their names (`ALL`,
//! `name`, `Display`, `FromStr`) but nothing of clap; here each gets its
//! command-line help per value, and [`parser`] lists the names as clap's
//! possible values, so `--help` and the "possible values" of an error list
//! them.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use locus::hw::datapath::Activation;
use locus::rules::BpPolicy;
use locus::sim::Arith;
use locus::trace::events::EventFormat;

/// A library enum named on the command line.
pub trait Named: Copy + Send + Sync + 'static {
    /// Every value, in the order `--help` lists them.
    fn all() -> &'static [Self];
    /// The value's name on the command line.
    fn name(self) -> &'static str;
    /// The value's line in `--help`.
    fn help(self) -> &'static str;
}

/// The value parser of a [`Named`] argument: one of its names, else clap's
/// "invalid value" error listing them.
pub fn parser<T: Named>() -> impl TypedValueParser<Value = T> {
    let values = T::all()
        .iter()
        .map(|&v| PossibleValue::new(v.name()).help(v.help()));
    // `PossibleValuesParser` accepts only the listed names, so the lookup
    // cannot miss.
    PossibleValuesParser::new(values).try_map(|s: String| {
        T::all()
            .iter()
            .copied()
            .find(|v| v.name() == s)
            .ok_or("not a listed name")
    })
}

impl Named for Activation {
    fn all() -> &'static [Self] {
        &Activation::ALL
    }
    fn name(self) -> &'static str {
        Activation::name(&self)
    }
    fn help(self) -> &'static str {
        match self {
            Activation::Relu => "`max(x, 0)`; derivative 1 where the output is > 0, else 0",
            Activation::HardTanh => {
                "`clamp(x, -1, 1)`; derivative 1 where the output is strictly inside (-1, 1)"
            }
            Activation::LeakyRelu => {
                "Leaky ReLU, `x` for `x ≥ 0` and `2^-LEAKY_SHIFT · x` below (slope 1/8, the \
                 power of two nearest GAIT-prop's 0.1): invertible, so a target can be carried \
                 back through it. Derivative 1 where the output is `≥ 0`, else \
                 `2^-LEAKY_SHIFT`; in fixed point both the activation and the derivative's \
                 product are arithmetic right shifts (floor)"
            }
        }
    }
}

impl Named for Arith {
    fn all() -> &'static [Self] {
        &Arith::ALL
    }
    fn name(self) -> &'static str {
        Arith::name(&self)
    }
    fn help(self) -> &'static str {
        match self {
            Arith::Fixed => "Bit-exact fixed point in the model's formats",
            Arith::F32 => "`f32` with no rounding: the same operations and counts",
        }
    }
}

impl Named for BpPolicy {
    fn all() -> &'static [Self] {
        &BpPolicy::ALL
    }
    fn name(self) -> &'static str {
        BpPolicy::name(&self)
    }
    fn help(self) -> &'static str {
        match self {
            BpPolicy::Stash => {
                "Every layer input stays in the on-chip stash bank (an error if it does not fit)"
            }
            BpPolicy::Spill => {
                "Stash on chip while it fits, the rest in DRAM, read back when needed"
            }
            BpPolicy::Recompute => {
                "Keep only the network input; recompute the forward pass up to each layer \
                 during the backward pass (more MACs and weight reads, less buffer)"
            }
        }
    }
}

impl Named for EventFormat {
    fn all() -> &'static [Self] {
        &EventFormat::ALL
    }
    fn name(self) -> &'static str {
        EventFormat::name(&self)
    }
    fn help(self) -> &'static str {
        match self {
            EventFormat::Csv => "Comma-separated values with a header line",
            EventFormat::Jsonl => "One JSON object per line",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name parses back through the library's `FromStr` to its value.
    fn round_trip<T: Named + std::str::FromStr + PartialEq + std::fmt::Debug>() {
        for &v in T::all() {
            assert_eq!(v.name().parse::<T>().ok(), Some(v));
            assert!(!v.help().is_empty());
        }
    }

    #[test]
    fn names_round_trip() {
        round_trip::<Activation>();
        round_trip::<Arith>();
        round_trip::<BpPolicy>();
        round_trip::<EventFormat>();
    }
}
