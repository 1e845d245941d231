//! Diagnostics: signs, read off a finished run, that it did not learn or
//! learned from less than it seems — each with the figure measured, the
//! threshold it crossed and the concrete fix. A numerics user must not
//! read "the rule does not work in 16 bits" into a run that a setting
//! stopped. They go into the report (`run.diagnostics`, `docs/report.md`),
//! the CLI prints each as a `warning:` line, and `--strict` makes a run
//! with any of them exit non-zero.

use super::RunReport;
use crate::sim::LMS_STABLE_GAIN;
use serde::{Deserialize, Serialize};

/// Share of the nonzero weight-update products rounded to zero at and
/// above which a run is diagnosed: it learns from almost none of its
/// updates.
pub const VANISHED_THRESHOLD: f64 = 0.99;

/// A run whose last epoch's training accuracy is below this many times
/// chance (`1 / classes`) is diagnosed as not learning.
pub const CHANCE_FACTOR: f64 = 1.5;

/// Samples per class a run must have trained on before its accuracy is
/// judged against chance (fewer say nothing).
pub const CHANCE_MIN_SAMPLES_PER_CLASS: u64 = 50;

/// One diagnostic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// What was found: `updates_vanished`, `weights_frozen`,
    /// `chance_accuracy` or `output_step_unstable`.
    pub kind: String,
    /// The layer at fault, where one is (0-based).
    pub layer: Option<usize>,
    /// The tensor class at fault, where one is (`update`, ...).
    pub class: Option<String>,
    /// The measured figure (a fraction, or the step gain).
    pub figure: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// One line for people: the rule, what was measured, and the fix.
    pub message: String,
}

/// The diagnostics of `report` (empty for a run that learns, and for a
/// count-only estimate, which has no values to judge).
/// `lr_underflows`: the learning rate is below what the update format can
/// hold at all (`sim::lr_underflow`), which changes the fix;
/// `unchanged_layers`: per epoch, the layers whose weights did not change
/// (`RunResult::unchanged_layers`).
pub fn diagnose(
    report: &RunReport,
    lr_underflows: bool,
    unchanged_layers: &[Vec<usize>],
) -> Vec<Diagnostic> {
    let rule = report.run.config.rule.label();
    let mut out = Vec::new();
    let r = &report.measured.update_rounding;
    let vanished = r.vanished_fraction().filter(|_| r.products > 0);
    if let (Some(f), Some(v)) = (vanished, r.vanished)
        && f >= VANISHED_THRESHOLD
    {
        out.push(Diagnostic {
            kind: "updates_vanished".into(),
            layer: None,
            class: Some("update".into()),
            figure: f,
            threshold: VANISHED_THRESHOLD,
            message: format!(
                "{rule}: {v} of the {} nonzero weight updates rounded to zero; round updates \
                 stochastically (formats.update.rounding in the model) or raise --lr",
                r.products
            ),
        });
    }
    // A layer that did not change in some epoch: the epochs it stood still.
    let layers = report.run.config.net.layers();
    for layer in 0..layers {
        let still = unchanged_layers
            .iter()
            .filter(|e| e.contains(&layer))
            .count();
        if still == 0 {
            continue;
        }
        let first = unchanged_layers
            .iter()
            .position(|e| e.contains(&layer))
            .unwrap_or(0);
        let fix = if lr_underflows {
            "raise --lr: it is below what the update format holds"
        } else {
            "round updates stochastically (formats.update.rounding), use a finer update \
             format or a larger --lr; for a local rule check the layer's error reaches it"
        };
        out.push(Diagnostic {
            kind: "weights_frozen".into(),
            layer: Some(layer),
            class: Some("weight".into()),
            figure: still as f64,
            threshold: 1.0,
            message: format!(
                "{rule}: layer {layer}'s weights and biases did not change in {still} of {} \
                 epoch(s) (first: epoch {}); {fix}",
                unchanged_layers.len(),
                first + 1
            ),
        });
    }
    let classes = report.run.config.net.classes().max(1);
    let chance = 1.0 / classes as f64;
    let judged = report.measured.samples >= CHANCE_MIN_SAMPLES_PER_CLASS * classes as u64;
    if let Some(last) = report.run.epochs.last()
        && judged
        && last.train_accuracy < CHANCE_FACTOR * chance
    {
        let fix = if lr_underflows {
            "its learning rate is below what the update format holds: raise --lr"
        } else if vanished.is_some_and(|f| f >= VANISHED_THRESHOLD) {
            "its updates round to zero (above): round them stochastically \
             (hw_models/feedback-rom-stochastic.json) or use a finer update format"
        } else {
            "try a smaller --lr (2^-10 and below), --activation hard-tanh, or for gaitprop \
             a larger γ (gaitprop/g0); docs/results.md has settings that learn"
        };
        out.push(Diagnostic {
            kind: "chance_accuracy".into(),
            layer: None,
            class: None,
            figure: last.train_accuracy,
            threshold: CHANCE_FACTOR * chance,
            message: format!(
                "{rule}: training accuracy {:.2} % after {} samples is at chance ({classes} \
                 classes: {:.2} %): the run did not learn; {fix}",
                100.0 * last.train_accuracy,
                report.measured.samples,
                100.0 * chance
            ),
        });
    }
    if let Some(p) = report
        .run
        .watch
        .iter()
        .find(|p| p.output_step_gain_max > LMS_STABLE_GAIN)
    {
        out.push(Diagnostic {
            kind: "output_step_unstable".into(),
            layer: Some(report.run.config.net.layers().saturating_sub(1)),
            class: None,
            figure: p.output_step_gain_max,
            threshold: LMS_STABLE_GAIN,
            message: format!(
                "{rule}: at {} samples the output layer's step lr·(‖x‖²+1) reached {:.2} on a \
                 probe sample (mean {:.2}); above {} its least-mean-squares update overshoots, \
                 and a run whose mean gets there diverges: its input's power grew \
                 (docs/results.md, the local rule on 784-784-784-784-784-10)",
                p.samples, p.output_step_gain_max, p.output_step_gain, LMS_STABLE_GAIN
            ),
        });
    }
    out
}
