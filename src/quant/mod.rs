//! The arithmetic contract: run-time fixed-point formats, requantisation with
//! explicit rounding and overflow, accumulators, overflow counters and the
//! in-hardware rounding LFSR. Everything the modelled datapath computes goes
//! through this module; `docs/arithmetic.md` is its specification for RTL.

mod accum;
mod format;
mod lfsr;
mod overflow;
mod pixel;
mod raw;
mod requant;

pub use accum::{AccBitsError, AccFormat, MAX_ACC_BITS, MIN_ACC_BITS};
pub use format::{FormatError, MAX_BITS, MIN_BITS, Overflow, QFormat, Rounding};
pub use lfsr::{LFSR_MASK, LFSR_PERIOD, Lfsr, LfsrBlock, LfsrJump, ZeroSeed, galois_step};
pub use overflow::OverflowStats;
pub use pixel::PixelScale;
pub use raw::Raw;
pub use requant::{MAX_SHIFT, OverflowEvent, Requantizer, ShiftError, reference_requantize};
