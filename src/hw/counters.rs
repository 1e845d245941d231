//! Statistics: plain counters of every access the counted primitives make.
//! Spec (the model), state (the chip) and stats (this) are three things:
//! reports and the energy / timing estimates read only these counters.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),* }
        impl $name {
            /// Every value, in index order.
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// Number of values.
            pub const COUNT: usize = Self::ALL.len();
            /// The name used in reports and traces.
            pub const fn name(self) -> &'static str {
                match self { $($name::$v => $s),* }
            }
            /// Dense index for counter arrays.
            pub const fn index(self) -> usize {
                self as usize
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum! {
    /// Phase of a training step in which an access happens.
    Phase {
        /// Inference-direction pass (and the input load).
        Forward => "forward",
        /// Local error: classifier projection and the layer's own error.
        LocalError => "local_error",
        /// Backprop's backward pass (including recomputation and unstash).
        Backward => "backward",
        /// Weight update (read-modify-write of weights and biases).
        Update => "update",
    }
}

named_enum! {
    /// Tensor class of the data accessed.
    Class {
        /// Weights and biases.
        Weight => "weight",
        /// Layer inputs and outputs.
        Activation => "activation",
        /// Error signals.
        Error => "error",
        /// Weight updates held in memory (none in the dense rules so far: an
        /// update is applied as it is computed).
        Update => "update",
        /// Classifier entries: the local rules' fixed random classifiers and
        /// the fixed feedback matrices (ROM), and learned classifiers (SRAM).
        Classifier => "classifier",
        /// Class labels.
        Label => "label",
    }
}

named_enum! {
    /// A memory of one core: its four SRAM banks and its classifier ROM.
    Unit {
        /// Weight bank.
        Weight => "weight",
        /// Activation bank (input and output of the sample in flight).
        Activation => "activation",
        /// Error bank.
        Error => "error",
        /// Activation stash (kept for a later phase).
        Stash => "stash",
        /// ROM: fixed random classifiers and feedback matrices.
        Rom => "rom",
    }
}

named_enum! {
    /// Direction of an access.
    Rw {
        /// Read.
        Read => "read",
        /// Write.
        Write => "write",
    }
}

impl Unit {
    /// The SRAM bank role of this unit, `None` for the ROM.
    pub const fn bank_role(self) -> Option<super::BankRole> {
        match self {
            Unit::Weight => Some(super::BankRole::Weight),
            Unit::Activation => Some(super::BankRole::Activation),
            Unit::Error => Some(super::BankRole::Error),
            Unit::Stash => Some(super::BankRole::Stash),
            Unit::Rom => None,
        }
    }
}

const NU: usize = Unit::COUNT;
const NC: usize = Class::COUNT;
const NP: usize = Phase::COUNT;

/// Every counter of one core (one layer with `core_per_layer`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreCounts {
    /// Words accessed, `[unit][class][phase][rw]`.
    pub words: [[[[u64; 2]; NP]; NC]; NU],
    /// Multiply-accumulates per phase.
    pub macs: [u64; NP],
    /// Rounding-LFSR draws (stochastic rounding) per phase.
    pub lfsr_draws: [u64; NP],
    /// Classifier-generator LFSR steps (ROM storage `lfsr`) per phase.
    pub rom_generator_steps: [u64; NP],
    /// DRAM bytes, `[phase][rw]`.
    pub dram_bytes: [[u64; 2]; NP],
    /// DRAM bursts, `[phase][rw]`.
    pub dram_bursts: [[u64; 2]; NP],
    /// Interconnect words sent by this core, per phase and class.
    pub noc_words: [[u64; NC]; NP],
    /// Interconnect word-hops sent by this core, per phase.
    pub noc_word_hops: [u64; NP],
    /// Comparisons of the pooling unit (max pooling) per phase.
    #[serde(default)]
    pub compares: [u64; NP],
    /// Additions of the pooling unit (average pooling) per phase.
    #[serde(default)]
    pub adds: [u64; NP],
    /// Fixed latencies paid by this core's operations, in cycles, per phase.
    pub latency_cycles: [u64; NP],
    /// Stash words held now (SRAM part).
    pub stash_words_now: u64,
    /// Peak stash words held in SRAM.
    pub stash_peak_words: u64,
    /// Stash bytes held in DRAM now (spilled).
    pub spill_bytes_now: u64,
    /// Peak stash bytes held in DRAM.
    pub spill_peak_bytes: u64,
    /// Peak words of the activation bank (input + output of one sample).
    pub activation_peak_words: u64,
    /// Words of the weight bank in use (weights and biases).
    pub weight_words: u64,
    /// Peak words of the error bank.
    pub error_peak_words: u64,
}

impl CoreCounts {
    /// Adds `words` to one counter.
    #[inline]
    pub fn add_words(&mut self, unit: Unit, class: Class, phase: Phase, rw: Rw, words: u64) {
        self.words[unit.index()][class.index()][phase.index()][rw.index()] += words;
    }

    /// One counter.
    pub fn get_words(&self, unit: Unit, class: Class, phase: Phase, rw: Rw) -> u64 {
        self.words[unit.index()][class.index()][phase.index()][rw.index()]
    }

    /// Words of `unit` in direction `rw`, summed over classes and phases.
    pub fn unit_words(&self, unit: Unit, rw: Rw) -> u64 {
        self.words[unit.index()]
            .iter()
            .flat_map(|c| c.iter())
            .map(|p| p[rw.index()])
            .sum()
    }

    /// Words of `unit` in `phase` (both directions, all classes).
    pub fn unit_phase_words(&self, unit: Unit, phase: Phase, rw: Rw) -> u64 {
        self.words[unit.index()]
            .iter()
            .map(|c| c[phase.index()][rw.index()])
            .sum()
    }

    /// Words of `class` in direction `rw` over every SRAM bank (not the ROM).
    pub fn class_sram_words(&self, class: Class, rw: Rw) -> u64 {
        Unit::ALL
            .iter()
            .filter(|u| **u != Unit::Rom)
            .map(|u| {
                self.words[u.index()][class.index()]
                    .iter()
                    .map(|p| p[rw.index()])
                    .sum::<u64>()
            })
            .sum()
    }

    /// Total DRAM bytes in direction `rw`.
    pub fn dram_total(&self, rw: Rw) -> u64 {
        self.dram_bytes.iter().map(|p| p[rw.index()]).sum()
    }
}
