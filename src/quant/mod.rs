//! The arithmetic contract: run-time fixed-point formats, requantisation with
//! explicit rounding and overflow, accumulators, overflow counters and the
//! in-hardware rounding LFSR. Everything the modelled datapath computes goes
//! through this module; `docs/arithmetic.md` is its specification for RTL.

mod format;

pub use format::{FormatError, Overflow, QFormat, Rounding, MAX_BITS, MIN_BITS};
