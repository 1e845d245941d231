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
//! - [`net`] — the network description (dense sizes or CNN layers,
//!   `net::spec`) and its readers: the `--layers` text, ONNX graphs and
//!   SCALE-Sim topology CSV files. It knows no hardware.
//! - [`hw`] — the hardware: the JSON chip description and its validation,
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

/// `ALL`, `name`, `Display` and `FromStr` of a plain enum whose values have
/// command-line names: the one definition of how such a value is printed
/// and parsed. `FromStr`'s error names the text and every accepted name, as
/// `unknown <what> '<text>' (one of: a, b)`.
macro_rules! named_values {
    ($ty:ident, $what:literal, { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order the command line lists them.
            pub const ALL: [$ty; [$($s),+].len()] = [$($ty::$v),+];

            /// The name on the command line and in reports (and `Display`,
            /// `FromStr`).
            pub const fn name(&self) -> &'static str {
                match self {
                    $($ty::$v => $s),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            /// The error names the text and the accepted names.
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.into_iter().find(|v| v.name() == s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
                    format!("unknown {} '{s}' (one of: {})", $what, names.join(", "))
                })
            }
        }
    };
}

pub mod data;
pub mod hw;
pub mod limits;
pub mod net;
pub mod output;
pub mod quant;
pub mod report;
pub mod rules;
pub mod sim;
pub mod sweep;
pub mod trace;
