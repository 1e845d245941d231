//! Learning rules, written only against the chip's counted primitives
//! ([`crate::hw::core::Chip`]): a rule decides what to compute and in which
//! order; the primitives compute it and count it. `docs/rules.md` gives each
//! rule's equations, loss and buffering.

pub mod bp;
pub mod drtp;
pub mod gaitprop;
pub mod local;
pub mod local_learned;
pub mod pepita;
pub mod predsim;

use crate::hw::core::host::{Keeps, StashKeeps};
use crate::hw::core::{Chip, ChipError, FeedbackKind, Fusion};
use crate::hw::datapath::Datapath;
use crate::hw::trace_sink::TraceSink;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How backprop keeps the activations its backward pass needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

named_values!(BpPolicy, "policy", {
    Stash => "stash",
    Spill => "spill",
    Recompute => "recompute",
});

/// The learning rate of every rule without one of its own
/// ([`Rule::default_lr`]).
pub const DEFAULT_LR: f64 = 0.01;

/// The layers of every rule without its own ([`Rule::default_layers`]):
/// MNIST's 784 inputs, two hidden layers of 1024, 10 classes.
pub const DEFAULT_LAYERS: &str = "784,1024,1024,10";

/// A learning rule with its options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule", content = "policy")]
pub enum Rule {
    /// Backprop with a buffering policy.
    Bp(BpPolicy),
    /// Local errors from fixed random classifiers (Mostafa et al. 2018).
    Local,
    /// Feedback alignment (Lillicrap et al. 2016): backprop's dataflow with
    /// fixed random matrices in place of `Wᵀ`; buffers like backprop.
    Fa(BpPolicy),
    /// Direct feedback alignment (Nøkland 2016): the output error projected
    /// to every hidden layer by a fixed random matrix; buffers the layer
    /// inputs until the output error exists.
    Dfa(BpPolicy),
    /// Direct random target projection (Frenkel et al. 2021): each hidden
    /// layer's error is a fixed random projection of the label; no buffering.
    Drtp,
    /// Local errors from learned classifiers held in SRAM (Nøkland &
    /// Eidnes 2019, "pred" loss); no buffering.
    LocalLearned,
    /// PEPITA (Dellaferrera & Kreiman 2022): a second forward pass on the
    /// input modulated by the output error; each layer learns from the
    /// difference of its two outputs. Keeps the first-pass hidden outputs.
    Pepita,
    /// GAIT-prop (Ahmad et al. 2020) with `γ = 2^-shift`: targets carried
    /// down through each layer's inverse (its transpose); keeps every
    /// layer's input and hidden output until the target comes back.
    Gaitprop(u32),
    /// Predsim (Nøkland & Eidnes 2019): the learned classifiers' prediction
    /// loss plus the similarity-matching loss of each hidden layer's batch
    /// of outputs; keeps the batch's layer inputs and outputs. Needs a
    /// batch of at least 2.
    Predsim,
}

impl Rule {
    /// Short label for tables, e.g. `bp/spill`.
    pub fn label(&self) -> String {
        match self {
            Rule::Bp(p) => format!("bp/{}", p.name()),
            Rule::Local => "local".to_string(),
            Rule::Fa(p) => format!("fa/{}", p.name()),
            Rule::Dfa(p) => format!("dfa/{}", p.name()),
            Rule::Drtp => "drtp".to_string(),
            Rule::LocalLearned => "local-learned".to_string(),
            Rule::Pepita => "pepita".to_string(),
            Rule::Gaitprop(gaitprop::DEFAULT_GAMMA_SHIFT) => "gaitprop".to_string(),
            Rule::Gaitprop(g) => format!("gaitprop/g{g}"),
            Rule::Predsim => "predsim".to_string(),
        }
    }

    /// Every rule name `locus compare --rules` accepts, in report order.
    pub const NAMES: &'static [&'static str] = &[
        "local",
        "local-learned",
        "drtp",
        "pepita",
        "gaitprop",
        "gaitprop/g<0-15>",
        "predsim",
        "dfa",
        "fa",
        "bp",
        "bp/stash",
        "bp/spill",
        "bp/recompute",
        "fa/stash",
        "fa/spill",
        "fa/recompute",
        "dfa/stash",
        "dfa/spill",
        "dfa/recompute",
    ];

    /// The names of `--rules` that stand for one rule each at its default
    /// options (`bp` stands for all three of its policies; see
    /// [`Rule::expand`]).
    pub const PLAIN_NAMES: [&'static str; 9] = [
        "local",
        "local-learned",
        "drtp",
        "pepita",
        "gaitprop",
        "predsim",
        "dfa",
        "fa",
        "bp",
    ];

    /// Every rule at its default options, and each backprop-family rule
    /// (bp, fa, dfa) under every buffering policy: 15 configurations.
    pub fn every() -> Vec<Rule> {
        let mut v: Vec<Rule> = Rule::PLAIN_NAMES
            .iter()
            .filter(|n| !matches!(**n, "bp" | "fa" | "dfa"))
            .flat_map(|n| Rule::expand(n).unwrap_or_default())
            .collect();
        for p in BpPolicy::ALL {
            v.extend([Rule::Dfa(p), Rule::Fa(p), Rule::Bp(p)]);
        }
        v
    }

    /// The rules one name stands for: `bp` is backprop under every
    /// buffering policy (compare's baseline is the best of them); `fa` and
    /// `dfa` alone use the `spill` policy (stash on chip while it fits, as
    /// `stash` does, DRAM beyond); `x/policy` names one policy. `None` for
    /// an unknown name.
    pub fn expand(name: &str) -> Option<Vec<Rule>> {
        let policy = |p: &str| BpPolicy::ALL.into_iter().find(|q| q.name() == p);
        Some(match name {
            "local" => vec![Rule::Local],
            "local-learned" => vec![Rule::LocalLearned],
            "drtp" => vec![Rule::Drtp],
            "pepita" => vec![Rule::Pepita],
            "gaitprop" => vec![Rule::Gaitprop(gaitprop::DEFAULT_GAMMA_SHIFT)],
            "predsim" => vec![Rule::Predsim],
            "bp" => BpPolicy::ALL.iter().map(|&p| Rule::Bp(p)).collect(),
            "fa" => vec![Rule::Fa(BpPolicy::Spill)],
            "dfa" => vec![Rule::Dfa(BpPolicy::Spill)],
            _ => {
                let (rule, p) = name.split_once('/')?;
                if rule == "gaitprop" {
                    let g: u32 = p.strip_prefix('g')?.parse().ok()?;
                    return (g <= gaitprop::MAX_GAMMA_SHIFT && p == format!("g{g}"))
                        .then(|| vec![Rule::Gaitprop(g)]);
                }
                let p = policy(p)?;
                vec![match rule {
                    "bp" => Rule::Bp(p),
                    "fa" => Rule::Fa(p),
                    "dfa" => Rule::Dfa(p),
                    _ => return None,
                }]
            }
        })
    }

    /// The rules a network with conv layers trains with, and those it
    /// refuses, as `--rules` names for error messages (kept in step with
    /// [`Rule::trains_cnns`]).
    pub const CNN_RULES: (&'static str, &'static str) = (
        "local, local-learned, drtp, dfa, fa or bp",
        "pepita, predsim and gaitprop",
    );

    /// The rules that train networks with residual blocks, and those that
    /// do not, as named in messages.
    pub const RESIDUAL_RULES: (&'static str, &'static str) = (
        "local, local-learned, drtp, dfa or bp",
        "fa, pepita, predsim and gaitprop",
    );

    /// Whether the rule is modelled on networks with residual blocks: the
    /// forward pass adds the skip; backprop also sends its error back along
    /// the skip; the rules whose errors reach each layer directly (local,
    /// local-learned, DRTP, DFA) send nothing along it (`docs/rules.md`,
    /// "Residual blocks"). FA would need a fixed feedback matrix for each
    /// projection and is not modelled on them.
    pub fn trains_residuals(&self) -> bool {
        matches!(
            self,
            Rule::Local | Rule::LocalLearned | Rule::Drtp | Rule::Dfa(_) | Rule::Bp(_)
        )
    }

    /// Whether the rule is modelled (and its counts checked) on networks
    /// with conv layers: its error tensors are defined on feature maps
    /// (`docs/rules.md`, the "Conv layers" paragraph of each rule).
    pub fn trains_cnns(&self) -> bool {
        matches!(
            self,
            Rule::Local
                | Rule::LocalLearned
                | Rule::Drtp
                | Rule::Dfa(_)
                | Rule::Fa(_)
                | Rule::Bp(_)
        )
    }

    /// What the rule keeps per sample of a batch on the chip (stashed
    /// inputs, kept output errors, predsim's kept outputs): the per-batch
    /// part of the host allocation (`hw::core::host::host_alloc`).
    pub fn keeps(&self) -> Keeps {
        let stash = |p: &BpPolicy| match p {
            BpPolicy::Stash | BpPolicy::Spill => StashKeeps::All,
            BpPolicy::Recompute => StashKeeps::First,
        };
        match self {
            Rule::Bp(p) | Rule::Fa(p) | Rule::Dfa(p) => Keeps {
                stash: stash(p),
                output_errors: true,
                hidden_outputs: false,
            },
            Rule::Predsim => Keeps {
                hidden_outputs: true,
                ..Keeps::default()
            },
            _ => Keeps::default(),
        }
    }

    /// The fused dataflows of `asked` (the model's `fusion`) that this
    /// rule's order allows (`docs/hw_model.md`, "Fused dataflows"):
    /// update–forward fusion for the rules that update each layer right
    /// after its forward pass, from the input up (local, drtp,
    /// local-learned, pepita), so that the next sample's input to layer `i`
    /// exists when layer `i` updates; backward–update fusion for the rules
    /// whose backward step reads the layer's weights right before the
    /// layer's update (bp, gaitprop). FA, DFA and predsim take neither.
    pub fn fusion(&self, asked: Fusion) -> Fusion {
        let forward_order = matches!(
            self,
            Rule::Local | Rule::Drtp | Rule::LocalLearned | Rule::Pepita
        );
        let reads_weights_back = matches!(self, Rule::Bp(_) | Rule::Gaitprop(_));
        Fusion {
            update_forward: asked.update_forward && forward_order,
            backward_update: asked.backward_update && reads_weights_back,
        }
    }

    /// Whether the rule uses each hidden layer's fixed random classifier ROM.
    pub fn uses_classifiers(&self) -> bool {
        matches!(self, Rule::Local | Rule::Drtp)
    }

    /// The feedback tensors the rule adds to the chip, if any.
    pub fn feedback(&self) -> Option<FeedbackKind> {
        match self {
            Rule::Fa(_) => Some(FeedbackKind::Fixed),
            Rule::Dfa(_) => Some(FeedbackKind::Direct),
            Rule::LocalLearned | Rule::Predsim => Some(FeedbackKind::Learned),
            Rule::Pepita => Some(FeedbackKind::Modulated),
            Rule::Gaitprop(g) => Some(FeedbackKind::Target { gamma_shift: *g }),
            _ => None,
        }
    }

    /// Whether a layer updates as soon as its own forward step is done (no
    /// wait for a later error): then, with one core per layer, the cores
    /// pipeline consecutive samples. Backprop, FA, DFA, PEPITA (whose
    /// second pass needs the output error) and GAIT-prop (whose targets
    /// come down from the output) are update-locked.
    pub fn is_forward_only(&self) -> bool {
        matches!(self, Rule::Local | Rule::Drtp | Rule::LocalLearned)
    }

    /// Whether the rule needs a batch of at least two samples (its loss
    /// compares the samples of a batch).
    pub fn needs_batch(&self) -> bool {
        matches!(self, Rule::Predsim)
    }

    /// The hidden activation the rule trains with when none is given
    /// (`docs/rules.md`, "Defaults"): hard-tanh for DRTP, whose error does
    /// not shrink as the output improves (ReLU units grow without bound),
    /// and for FA, whose ReLU units grow until the output layer's step
    /// `lr·(‖h‖²+1)` passes 2 and it diverges (measured on MNIST at 2^-7,
    /// 2^-8 and 2^-9); leaky ReLU for GAIT-prop, which needs invertible
    /// layers; ReLU for the others.
    pub fn default_activation(&self) -> crate::hw::datapath::Activation {
        use crate::hw::datapath::Activation;
        match self {
            Rule::Drtp | Rule::Fa(_) => Activation::HardTanh,
            Rule::Gaitprop(_) => Activation::LeakyRelu,
            _ => Activation::Relu,
        }
    }

    /// The learning rate the rule trains with when none is given
    /// (`docs/rules.md`, "Defaults"): 2^-10 for DRTP, whose fixed-size
    /// learning signal drives 784-1024-1024-10 to chance at 2^-8 in 16 bits,
    /// and for FA, whose output step `lr·(‖h‖²+1)` stays below 2 with 1024
    /// hard-tanh units only from 2^-10 (measured); [`DEFAULT_LR`] for the
    /// others.
    pub fn default_lr(&self) -> f64 {
        match self {
            Rule::Drtp | Rule::Fa(_) => 1.0 / 1024.0,
            _ => DEFAULT_LR,
        }
    }

    /// The batch the rule trains with when none is given: 16 for predsim,
    /// whose similarity loss compares the samples of a batch; 1 (online,
    /// as a chip learns) for the others.
    pub fn default_batch(&self) -> usize {
        match self {
            Rule::Predsim => 16,
            _ => 1,
        }
    }

    /// The layers the rule trains when neither `--layers` nor `--net` is
    /// given: [`DEFAULT_LAYERS`], or for GAIT-prop, whose hidden layers
    /// must be square, `784,784,784,10`.
    pub fn default_layers(&self) -> &'static str {
        match self {
            Rule::Gaitprop(_) => "784,784,784,10",
            _ => DEFAULT_LAYERS,
        }
    }

    /// Whether a batch of `B` applies each sample's update at `lr / B`
    /// (backprop, FA, DFA: the batch's forward passes come first); the other
    /// rules finish each sample before the next and update at `lr`.
    pub fn scales_lr_by_batch(&self) -> bool {
        matches!(self, Rule::Bp(_) | Rule::Fa(_) | Rule::Dfa(_))
    }

    /// The buffering policy of a rule with a backward pass.
    pub fn policy(&self) -> Option<BpPolicy> {
        match self {
            Rule::Bp(p) | Rule::Fa(p) | Rule::Dfa(p) => Some(*p),
            _ => None,
        }
    }

    /// Trains on one batch of `(pixels, label)` samples; returns how many the
    /// chip classified correctly during the forward passes.
    pub fn train_batch<D: Datapath, T: TraceSink>(
        &self,
        chip: &mut Chip<D, T>,
        batch: &[(&[u8], usize)],
    ) -> Result<usize, ChipError> {
        let per_sample = |chip: &mut Chip<D, T>, f: fn(&mut Chip<D, T>, &[u8], usize) -> bool| {
            batch
                .iter()
                .map(|&(px, label)| f(chip, px, label) as usize)
                .sum()
        };
        match self {
            Rule::Bp(policy) => bp::train_batch(chip, *policy, bp::Feedback::Weights, batch),
            Rule::Fa(policy) => bp::train_batch(chip, *policy, bp::Feedback::Fixed, batch),
            Rule::Dfa(policy) => bp::train_batch(chip, *policy, bp::Feedback::Direct, batch),
            Rule::Local => Ok(per_sample(chip, local::train_sample)),
            Rule::Drtp => Ok(per_sample(chip, drtp::train_sample)),
            Rule::LocalLearned => Ok(per_sample(chip, local_learned::train_sample)),
            Rule::Pepita => Ok(per_sample(chip, pepita::train_sample)),
            Rule::Gaitprop(_) => {
                let mut correct = 0;
                for &(px, label) in batch {
                    correct += gaitprop::train_sample(chip, px, label)? as usize;
                }
                Ok(correct)
            }
            Rule::Predsim => predsim::train_batch(chip, batch),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::core::NetSpec;

    /// `train` falls back to a placeholder if a default layer text did
    /// not parse: every rule's must.
    #[test]
    fn every_rules_default_layers_parse() {
        for r in Rule::every() {
            let net = NetSpec::parse(r.default_layers(), r.default_activation());
            assert!(net.is_ok(), "{r}: {}", r.default_layers());
        }
    }
}
