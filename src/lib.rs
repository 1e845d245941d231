//! # locus — LOCal-Update Simulator
//!
//! A cycle-approximate, bit-exact model of an on-chip learning core. It trains
//! networks in fixed-point arithmetic with local errors and with backprop, and
//! counts every memory access and word moved while doing so.
//!
//! Modules, each one concept, dependencies pointing downward
//! (`docs/architecture.md` has the map):
//!
//! - [`quant`] — the arithmetic contract: `QFormat`, requantisation with
//!   explicit rounding and overflow, accumulators, overflow counters and the
//!   rounding LFSR. The datapath's inner loops live here.
//! - [`data`] — IDX (raw or gzip) reader and writer, the `Dataset` of images
//!   and labels, the seeded synthetic dataset and seeded shuffling.
//! - [`hw`] — the hardware: the JSON chip description and its validation,
//!   the network description (dense sizes or CNN layers, `hw::netspec`),
//!   the datapath (fixed point or `f32`), the counted primitives of the chip
//!   (dense and convolution layers),
//!   the classifier ROM, counters, and the energy and timing estimates.
//! - [`rules`] — learning rules (local errors, backprop with its buffering
//!   policies), written only against the chip's counted primitives.
//! - [`sim`] — the training loop: configuration, epochs, evaluation, results.
//! - [`report`] — `RunReport` / `CompareReport` JSON, terminal tables, SVG plots.
//! - [`trace`] — outputs for RTL designers (golden vectors, access traces).
//! - [`output`] — atomic file output (temp file in the same directory + rename).
//! - [`limits`] — host memory and disk estimates, refused above `--max-memory`
//!   / `--max-disk` before anything is allocated or written.
//!
//! The binary (`src/main.rs`, `src/cli/`) owns argv, printing and exit codes;
//! the library only returns typed errors and writes to `impl Write`.

// No panics reachable from user input: `unwrap`/`expect` are refused
// outside tests; each remaining one is an `#[allow]` with its reason.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod data;
pub mod hw;
pub mod limits;
pub mod output;
pub mod quant;
pub mod report;
pub mod rules;
pub mod sim;
pub mod sweep;
pub mod trace;
