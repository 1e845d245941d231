//! Watching a run's numerics while it trains (`locus train --watch N`): every
//! `N` training samples the host measures each layer's weights and, by an
//! uncounted inference of a fixed probe set (the first [`WATCH_PROBE`] test
//! samples), each layer's output power. A fixed-point run that drifts towards
//! overflow or instability shows it here before its accuracy falls.
//!
//! The linear output layer learns from `h − y`: it is a least-mean-squares
//! filter on its input `x`, stable only while `lr·(‖x‖² + 1)` stays below 2
//! (the `+ 1` is the bias) on average. [`WatchPoint::output_step_gain`] is
//! that product for the mean `‖x‖²` of the probe samples,
//! [`WatchPoint::output_step_gain_max`] for the largest.

use crate::data::Dataset;
use crate::hw::core::Chip;
use crate::hw::datapath::Datapath;
use crate::hw::model::TensorClass;
use crate::hw::trace_sink::TraceSink;
use serde::{Deserialize, Serialize};

/// Test samples inferred at each watch point (fewer if the test set is
/// smaller).
pub const WATCH_PROBE: usize = 100;

/// The output layer's least-mean-squares step is unstable above this gain.
pub const LMS_STABLE_GAIN: f64 = 2.0;

/// One layer at one watch point. Real units (the stored values decoded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerWatch {
    /// Largest `|w|` of the weights and biases.
    pub weight_max_abs: f64,
    /// Root mean square of the weights and biases.
    pub weight_rms: f64,
    /// Mean over the probe samples of `‖h‖²`, the squared norm of the
    /// layer's output (after the activation; the output layer's is linear).
    pub output_power: f64,
    /// Largest `|h|` over the probe samples.
    pub output_max_abs: f64,
}

/// The state of a run after `samples` training samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchPoint {
    /// Training samples seen so far (over all epochs).
    pub samples: u64,
    /// Share of the probe samples classified right, in [0, 1].
    pub probe_accuracy: f64,
    /// `lr · (mean ‖x‖² + 1)` of the output layer's input `x` over the probe
    /// samples: above [`LMS_STABLE_GAIN`] its updates overshoot on average.
    pub output_step_gain: f64,
    /// `lr · (max ‖x‖² + 1)` over the probe samples: above
    /// [`LMS_STABLE_GAIN`] the update of at least one sample overshoots.
    pub output_step_gain_max: f64,
    /// Per layer, input side first.
    pub layers: Vec<LayerWatch>,
}

/// Measures `chip` after `samples` training samples. The inference is the
/// uncounted one of the accuracy evaluation: counters, the rounding LFSR and
/// the overflow statistics are left as they were.
pub fn observe<D: Datapath, T: TraceSink>(
    chip: &mut Chip<D, T>,
    test: &Dataset,
    samples: u64,
    lr: f64,
) -> WatchPoint {
    let n = chip.layers().len();
    let mut layers: Vec<LayerWatch> = chip
        .layers()
        .iter()
        .map(|l| {
            let w: Vec<f64> = l
                .w()
                .iter()
                .chain(l.b())
                .map(|&v| chip.datapath().decode_real(TensorClass::Weight, v))
                .collect();
            LayerWatch {
                weight_max_abs: w.iter().fold(0.0, |m, v| m.max(v.abs())),
                weight_rms: (w.iter().map(|v| v * v).sum::<f64>() / w.len().max(1) as f64).sqrt(),
                output_power: 0.0,
                output_max_abs: 0.0,
            }
        })
        .collect();
    let probe = test.len().min(WATCH_PROBE);
    let (mut correct, mut sum_input_power, mut max_input_power) = (0usize, 0.0, 0.0f64);
    for k in 0..probe {
        correct += usize::from(chip.infer(test.sample(k)) == test.label(k));
        for (lw, l) in layers.iter_mut().zip(chip.layers()) {
            let (power, max) = power_and_max(
                l.h()
                    .iter()
                    .map(|&v| chip.datapath().decode_real(TensorClass::Activation, v)),
            );
            lw.output_power += power / probe as f64;
            lw.output_max_abs = lw.output_max_abs.max(max);
        }
        let x = chip.layer(n - 1).x();
        let (power, _) = power_and_max(
            x.iter()
                .map(|&v| chip.datapath().decode_real(TensorClass::Activation, v)),
        );
        sum_input_power += power;
        max_input_power = max_input_power.max(power);
    }
    WatchPoint {
        samples,
        probe_accuracy: correct as f64 / probe.max(1) as f64,
        output_step_gain: lr * (sum_input_power / probe.max(1) as f64 + 1.0),
        output_step_gain_max: lr * (max_input_power + 1.0),
        layers,
    }
}

/// `(Σ v², max |v|)`.
fn power_and_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((0.0, 0.0), |(p, m), v| (p + v * v, f64::max(m, v.abs())))
}
