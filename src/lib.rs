//! # locus — LOCal-Update Simulator
//!
//! A cycle-approximate, bit-exact model of an on-chip learning core. It trains
//! networks in fixed-point arithmetic with local errors and with backprop, and
//! counts every memory access and word moved while doing so.
//!
//! Modules, each one concept, dependencies pointing downward:
//!
//! - [`quant`] — the arithmetic contract: `QFormat`, requantisation with
//!   explicit rounding and overflow, accumulators, overflow counters and the
//!   rounding LFSR. The datapath's inner loops live here.
//! - [`data`] — IDX (raw or gzip) reader, the `Dataset` of images and labels,
//!   the seeded synthetic dataset and seeded shuffling.
//! - [`hw`] — the hardware model: the JSON chip description (formats, SRAM
//!   banks, ROM, DRAM, interconnect, clock, energy table) and its validation.
//! - [`output`] — atomic file output (temp file in the same directory + rename).
//!
//! The binary (`src/main.rs`, `src/cli/`) owns argv, printing and exit codes;
//! the library only returns typed errors and writes to `impl Write`.

pub mod data;
pub mod hw;
pub mod output;
pub mod quant;
pub mod report;
pub mod rules;
pub mod sim;
pub mod trace;
