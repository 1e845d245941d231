//! Learning rules, written only against the chip's counted primitives
//! ([`crate::hw::core::Chip`]): a rule decides what to compute and in which
//! order; the primitives compute it and count it. `docs/rules.md` gives each
//! rule's equations, loss and buffering.

pub mod bp;
pub mod local;

use crate::hw::core::{Chip, ChipError};
use crate::hw::datapath::Datapath;
use crate::hw::trace_sink::TraceSink;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How backprop keeps the activations its backward pass needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum BpPolicy {
    /// Every layer input stays in the on-chip stash bank (an error if it
    /// does not fit).
    Stash,
    /// Stash on chip while it fits, the rest in DRAM, read back when needed.
    Spill,
    /// Keep only the network input; recompute the forward pass up to each
    /// layer during the backward pass (more MACs and weight reads, less buffer).
    Recompute,
}

impl BpPolicy {
    /// Every policy, in report order.
    pub const ALL: [BpPolicy; 3] = [BpPolicy::Stash, BpPolicy::Spill, BpPolicy::Recompute];

    /// The name used on the command line and in reports.
    pub const fn name(&self) -> &'static str {
        match self {
            BpPolicy::Stash => "stash",
            BpPolicy::Spill => "spill",
            BpPolicy::Recompute => "recompute",
        }
    }
}

/// A learning rule with its options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule", content = "policy")]
pub enum Rule {
    /// Backprop with a buffering policy.
    Bp(BpPolicy),
    /// Local errors from fixed random classifiers (Mostafa et al. 2018).
    Local,
}

impl Rule {
    /// Short label for tables, e.g. `bp/spill`.
    pub fn label(&self) -> String {
        match self {
            Rule::Bp(p) => format!("bp/{}", p.name()),
            Rule::Local => "local".to_string(),
        }
    }

    /// Trains on one batch of `(pixels, label)` samples; returns how many the
    /// chip classified correctly during the forward passes.
    pub fn train_batch<D: Datapath, T: TraceSink>(
        &self,
        chip: &mut Chip<D, T>,
        batch: &[(&[u8], usize)],
    ) -> Result<usize, ChipError> {
        match self {
            Rule::Bp(policy) => bp::train_batch(chip, *policy, batch),
            Rule::Local => Ok(batch
                .iter()
                .map(|&(px, label)| local::train_sample(chip, px, label) as usize)
                .sum()),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}
