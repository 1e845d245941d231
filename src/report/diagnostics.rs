//! Diagnostics: signs, read off a finished run, that it did not learn or
//! learned from less than it seems — each with the figure measured, the
//! threshold it crossed and the concrete fix. A numerics user must not
//! read "the rule does not work in 16 bits" into a run that a setting
//! stopped. They go into the report (`run.diagnostics`, `docs/report.md`),
//! the CLI prints each as a `warning:` line, and `--strict` makes a run
//! with any of them exit non-zero.

use super::RunReport;
use crate::hw::model::HwModel;
use crate::sim::{LMS_STABLE_GAIN, RunResult};
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

/// Share of a layer's error writes that were all zero (every value below
/// one LSB of the error format) at and above which a run is diagnosed.
pub const ZERO_ERROR_THRESHOLD: f64 = 0.9;

/// Error writes a layer must have made before its zero share is judged.
pub const ZERO_ERROR_MIN_WRITES: u64 = 50;

/// Overflow events per value of a tensor class the run computes at and
/// above which a run is diagnosed. Some clipping is harmless (a ReLU
/// saturating at the format's top acts as a bounded activation: a 16-12-4
/// net with Q1.7 activations clips 6 % of them and learns to 100 %), so
/// the bar is high.
pub const SATURATION_THRESHOLD: f64 = 0.10;

/// Accumulator overflows per MAC at and above which a run is diagnosed: an
/// overflowing sum is wrong wherever it happens.
pub const ACCUMULATOR_THRESHOLD: f64 = 0.01;

/// Training accuracy points (a fraction) by which a run's last epoch must
/// fall below its best epoch to be diagnosed as having unlearned.
pub const ACCURACY_FALL: f64 = 0.05;

/// One diagnostic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// What was found: `updates_vanished`, `weights_frozen`,
    /// `errors_below_lsb`, `saturation`, `chance_accuracy`,
    /// `accuracy_fell` or `output_step_unstable`.
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

/// The diagnostics of `report`, made from `result` on `model` (empty for a
/// run that learns, and for a count-only estimate, which has no values to
/// judge). `lr_underflows`: the learning rate is below what the update
/// format can hold at all (`sim::lr_underflow`), which changes the fix.
pub fn diagnose(
    report: &RunReport,
    model: &HwModel,
    result: &RunResult,
    lr_underflows: bool,
) -> Vec<Diagnostic> {
    let unchanged_layers = &result.unchanged_layers;
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
    out.extend(errors_below_lsb(report, model, result));
    out.extend(saturation(report, model, result));
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
    out.extend(accuracy_fell(report));
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

/// Layers whose error was all zero — every value below one LSB of the
/// error format — in at least [`ZERO_ERROR_THRESHOLD`] of their error
/// writes: they receive no learning signal.
fn errors_below_lsb(report: &RunReport, model: &HwModel, result: &RunResult) -> Vec<Diagnostic> {
    let rule = report.run.config.rule;
    let label = rule.label();
    let e = model.formats.error;
    let fix = match rule {
        crate::rules::Rule::Gaitprop(_) => {
            "GAIT-prop's targets shrink by γ per layer: use a larger γ (gaitprop/g0) or a \
             finer error format (formats.error.frac)"
        }
        crate::rules::Rule::Pepita => {
            "PEPITA's learning signal is the difference of two forward passes: use finer \
             activation and error formats (more frac bits) or a larger --lr"
        }
        _ => {
            "use a finer error format (formats.error.frac) or stochastic error rounding \
             (formats.error.rounding); a ReLU layer with no active unit passes no error: \
             try a smaller --lr or --activation hard-tanh"
        }
    };
    let mut out = Vec::new();
    for (layer, &[writes, zero]) in result.error_writes.iter().enumerate() {
        if writes < ZERO_ERROR_MIN_WRITES {
            continue;
        }
        let share = zero as f64 / writes as f64;
        if share < ZERO_ERROR_THRESHOLD {
            continue;
        }
        out.push(Diagnostic {
            kind: "errors_below_lsb".into(),
            layer: Some(layer),
            class: Some("error".into()),
            figure: share,
            threshold: ZERO_ERROR_THRESHOLD,
            message: format!(
                "{label}: layer {layer}'s error was all zero (every value below one LSB, \
                 2^-{}, of the error format Q{}.{}) in {zero} of its {writes} error writes \
                 ({:.1} %): it gets no learning signal; {fix}",
                e.frac,
                e.bits - e.frac,
                e.frac,
                100.0 * share
            ),
        });
    }
    out
}

/// Tensor classes whose overflow events reach [`SATURATION_THRESHOLD`] of
/// the values of that class the run computed: about, per sample, each
/// layer's conv or dense outputs (activations), each layer's error
/// (errors), every weight and bias (updates and weights); the accumulator's
/// reach [`ACCUMULATOR_THRESHOLD`] of the MACs.
fn saturation(report: &RunReport, model: &HwModel, result: &RunResult) -> Vec<Diagnostic> {
    let net = &report.run.config.net;
    let Ok(geoms) = net.geometry() else {
        return Vec::new();
    };
    let samples = result.samples as f64;
    let (mut outputs, mut params) = (0u64, 0u64);
    for (i, g) in geoms.iter().enumerate() {
        let (cols, rows) = (net.sizes[i] as u64, net.sizes[i + 1] as u64);
        match g {
            Some(g) => {
                outputs += g.conv_len() as u64;
                params += (g.out_c * (g.patch_len() + 1)) as u64;
            }
            None => {
                outputs += rows;
                params += rows * (cols + 1);
            }
        }
    }
    let errors: u64 = net.sizes[1..].iter().map(|&n| n as u64).sum();
    let macs: u64 = result
        .counts
        .iter()
        .map(|c| c.macs.iter().sum::<u64>())
        .sum();
    let o = &result.overflow;
    let f = &model.formats;
    let q = |t: crate::hw::model::TensorFormat| format!("Q{}.{}", t.bits - t.frac, t.frac);
    let rows = [
        (
            "activation",
            o.activation,
            outputs as f64 * samples,
            q(f.activation),
            "more integer bits in formats.activation, --activation hard-tanh (bounded), or a smaller --lr",
        ),
        (
            "error",
            o.error,
            errors as f64 * samples,
            q(f.error),
            "more integer bits in formats.error or a smaller --lr",
        ),
        (
            "update",
            o.update,
            params as f64 * samples,
            q(f.update),
            "more integer bits in formats.update or a smaller --lr",
        ),
        (
            "weight",
            o.weight,
            params as f64 * samples,
            q(f.weight),
            "more integer bits in formats.weight or a smaller --lr",
        ),
        (
            "accumulator",
            o.accumulator,
            macs as f64,
            format!("{} bits", f.accumulator.bits),
            "a wider accumulator (formats.accumulator.bits) or a smaller --lr",
        ),
    ];
    let label = report.run.config.rule.label();
    let mut out = Vec::new();
    for (class, stats, values, format, fix) in rows {
        let events = stats.total();
        if values <= 0.0 || events == 0 {
            continue;
        }
        let share = events as f64 / values;
        let (threshold, what, of) = if class == "accumulator" {
            let what = "accumulator additions".to_string();
            (ACCUMULATOR_THRESHOLD, what, "the run's MACs".to_string())
        } else {
            let of = format!("the {class} values the run computed");
            (SATURATION_THRESHOLD, format!("{class} values"), of)
        };
        if share < threshold {
            continue;
        }
        let how = if stats.wrapped > 0 {
            "wrapped"
        } else {
            "saturated"
        };
        out.push(Diagnostic {
            kind: "saturation".into(),
            layer: None,
            class: Some(class.into()),
            figure: share,
            threshold,
            message: format!(
                "{label}: {events} {what} {how} in {format} (about {:.2} % of {of}); {fix}",
                100.0 * share
            ),
        });
    }
    out
}

/// A run whose last epoch's training accuracy fell [`ACCURACY_FALL`] or
/// more below its best epoch's: it learned, then unlearned.
fn accuracy_fell(report: &RunReport) -> Option<Diagnostic> {
    let epochs = &report.run.epochs;
    let (best_at, best) = epochs
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.train_accuracy.total_cmp(&b.1.train_accuracy))?;
    let last = epochs.last()?;
    let fall = best.train_accuracy - last.train_accuracy;
    if fall < ACCURACY_FALL {
        return None;
    }
    Some(Diagnostic {
        kind: "accuracy_fell".into(),
        layer: None,
        class: None,
        figure: fall,
        threshold: ACCURACY_FALL,
        message: format!(
            "{}: training accuracy fell from {:.2} % (epoch {}) to {:.2} % (epoch {}): the run \
             learned, then unlearned; try a smaller --lr, a step schedule \
             (--lr-milestones) or training for {} epoch(s); this run's other diagnostics \
             say whether rounding or saturation is the cause",
            report.run.config.rule.label(),
            100.0 * best.train_accuracy,
            best_at + 1,
            100.0 * last.train_accuracy,
            epochs.len(),
            best_at + 1
        ),
    })
}
