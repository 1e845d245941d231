//! The training loop: builds the chip for a configuration, trains for some
//! epochs on a dataset (seeded shuffling), measures test accuracy after each
//! epoch and returns the counts with the results. Library code only: it
//! reports progress through a callback and never prints.

use crate::data::{Dataset, epoch_order};
use crate::hw::core::{Chip, ChipError, NetSpec};
use crate::hw::counters::CoreCounts;
use crate::hw::datapath::{Datapath, DatapathError, FixedDatapath, FloatDatapath, OverflowByClass};
use crate::hw::model::{HwModel, TensorClass};
use crate::rules::Rule;
use serde::{Deserialize, Serialize};

/// Arithmetic of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Arith {
    /// Bit-exact fixed point in the model's formats.
    Fixed,
    /// `f32` with no rounding: the same operations and counts.
    F32,
}

/// Everything that defines a training run besides the model and the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Learning rule.
    pub rule: Rule,
    /// Network shape and activation.
    pub net: NetSpec,
    /// Passes over the training set.
    pub epochs: u32,
    /// Samples per batch.
    pub batch: usize,
    /// Requested learning rate; realised as `2^-lr_shift`.
    pub lr: f64,
    /// Seed of initialisation, classifier ROMs and shuffling.
    pub seed: u64,
    /// Arithmetic.
    pub arith: Arith,
    /// Train on the first `n` samples of each epoch's order only.
    pub train_limit: Option<usize>,
    /// Evaluate on the first `n` test samples only.
    pub test_limit: Option<usize>,
}

/// A configuration or data problem found before or during training.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The network cannot be mapped onto the chip.
    #[error(transparent)]
    Chip(#[from] ChipError),
    /// The datapath cannot realise the formats or learning rate.
    #[error(transparent)]
    Datapath(#[from] DatapathError),
    /// A configuration value out of range.
    #[error("{field} = {value}: {why}")]
    Config {
        /// The option.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        why: String,
    },
}

/// The learning rate as a power-of-two shift: `lr = 2^-shift` with
/// `shift = round(-log2(lr))`. Returns the shift and the realised rate.
pub fn lr_shift(lr: f64) -> Result<(u32, f64), SimError> {
    if !(lr.is_finite() && lr > 0.0 && lr <= 1.0) {
        return Err(SimError::Config {
            field: "lr",
            value: lr.to_string(),
            why: "must be in (0, 1]".into(),
        });
    }
    let shift = (-lr.log2()).round() as u32;
    if shift > 30 {
        return Err(SimError::Config {
            field: "lr",
            value: lr.to_string(),
            why: format!("2^-{shift} is below what the datapath can shift (2^-30)"),
        });
    }
    Ok((shift, (-(shift as f64)).exp2()))
}

/// Accuracy after one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochResult {
    /// Epoch number, from 1.
    pub epoch: u32,
    /// Fraction of training samples classified right during training.
    pub train_accuracy: f64,
    /// Fraction of test samples classified right after the epoch.
    pub test_accuracy: f64,
}

/// What a run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The configuration.
    pub config: TrainConfig,
    /// `lr = 2^-lr_shift`.
    pub lr_shift: u32,
    /// The learning rate actually used.
    pub lr_realised: f64,
    /// Accuracy after each epoch.
    pub epochs: Vec<EpochResult>,
    /// Samples trained on.
    pub samples: u64,
    /// Counters of every core.
    pub counts: Vec<CoreCounts>,
    /// LFSR draws as the datapath made them (cross-check of the counts).
    pub datapath_lfsr_draws: u64,
    /// Overflow events per class.
    pub overflow: OverflowByClass,
    /// Host wall-clock seconds spent training (not evaluating).
    pub train_seconds: f64,
}

/// Final weights and biases per layer as real values (for tests and golden
/// comparisons).
pub type RealParams = Vec<(Vec<f64>, Vec<f64>)>;

/// Trains `config` on `train`, evaluating on `test`; `progress(done, total)`
/// is called every few samples.
pub fn run(
    model: &HwModel,
    config: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(RunResult, RealParams), SimError> {
    let (shift, _) = lr_shift(config.lr)?;
    match config.arith {
        Arith::F32 => run_with(
            model,
            config,
            FloatDatapath::new(shift),
            train,
            test,
            progress,
        ),
        Arith::Fixed => {
            let widest = TensorClass::ALL
                .iter()
                .map(|c| model.format(*c).bits)
                .max()
                .unwrap_or(32);
            if widest <= 16 {
                run_with(
                    model,
                    config,
                    FixedDatapath::<i16>::new(model, shift)?,
                    train,
                    test,
                    progress,
                )
            } else {
                run_with(
                    model,
                    config,
                    FixedDatapath::<i32>::new(model, shift)?,
                    train,
                    test,
                    progress,
                )
            }
        }
    }
}

fn check_config(config: &TrainConfig, train: &Dataset, test: &Dataset) -> Result<(), SimError> {
    let bad = |field, value: String, why: String| Err(SimError::Config { field, value, why });
    if config.epochs == 0 {
        return bad("epochs", "0".into(), "must be at least 1".into());
    }
    if config.batch == 0 {
        return bad("batch", "0".into(), "must be at least 1".into());
    }
    let sizes = &config.net.sizes;
    if sizes.len() < 2 {
        return bad(
            "layers",
            format!("{sizes:?}"),
            "need at least input and output sizes".into(),
        );
    }
    if sizes[0] != train.sample_len() {
        return bad(
            "layers",
            format!("{sizes:?}"),
            format!(
                "the input size must equal the data's sample size {} ({})",
                train.sample_len(),
                train.name
            ),
        );
    }
    let classes = train.num_classes.max(test.num_classes);
    if config.net.classes() < classes {
        return bad(
            "layers",
            format!("{sizes:?}"),
            format!("the output size must be at least the data's {classes} classes"),
        );
    }
    if test.sample_len() != train.sample_len() {
        return bad(
            "data",
            test.name.clone(),
            "test samples differ in size from training samples".into(),
        );
    }
    Ok(())
}

fn run_with<D: Datapath>(
    model: &HwModel,
    config: &TrainConfig,
    dp: D,
    train: &Dataset,
    test: &Dataset,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(RunResult, RealParams), SimError> {
    check_config(config, train, test)?;
    let (shift, lr_realised) = lr_shift(config.lr)?;
    let mut chip = Chip::new(model, &config.net, dp, config.seed)?;
    let per_epoch = config
        .train_limit
        .map_or(train.len(), |n| n.min(train.len()));
    let total = per_epoch as u64 * config.epochs as u64;
    let mut epochs = Vec::new();
    let mut samples = 0u64;
    let mut train_seconds = 0.0;
    let mut batch: Vec<(&[u8], usize)> = Vec::with_capacity(config.batch);
    for epoch in 0..config.epochs {
        let order = epoch_order(train.len(), config.seed, epoch as u64);
        let start = std::time::Instant::now();
        let mut correct = 0usize;
        for chunk in order[..per_epoch].chunks(config.batch) {
            batch.clear();
            batch.extend(
                chunk
                    .iter()
                    .map(|&k| (train.sample(k as usize), train.label(k as usize))),
            );
            correct += config.rule.train_batch(&mut chip, &batch)?;
            samples += chunk.len() as u64;
            if samples % 256 < chunk.len() as u64 || samples == total {
                progress(samples, total);
            }
        }
        train_seconds += start.elapsed().as_secs_f64();
        let test_accuracy = evaluate(&mut chip, test, config.test_limit);
        epochs.push(EpochResult {
            epoch: epoch + 1,
            train_accuracy: correct as f64 / per_epoch.max(1) as f64,
            test_accuracy,
        });
    }
    let params = chip
        .layers
        .iter()
        .map(|l| {
            (
                l.w.iter()
                    .map(|&v| chip.dp.decode_real(TensorClass::Weight, v))
                    .collect(),
                l.b.iter()
                    .map(|&v| chip.dp.decode_real(TensorClass::Weight, v))
                    .collect(),
            )
        })
        .collect();
    Ok((
        RunResult {
            config: config.clone(),
            lr_shift: shift,
            lr_realised,
            epochs,
            samples,
            counts: chip.counts().to_vec(),
            datapath_lfsr_draws: chip.dp.lfsr_draws(),
            overflow: chip.dp.overflow(),
            train_seconds,
        },
        params,
    ))
}

/// Test accuracy by uncounted inference.
fn evaluate<D: Datapath>(chip: &mut Chip<D>, test: &Dataset, limit: Option<usize>) -> f64 {
    let n = limit.map_or(test.len(), |l| l.min(test.len()));
    let correct = (0..n)
        .filter(|&i| chip.infer(test.sample(i)) == test.label(i))
        .count();
    correct as f64 / n.max(1) as f64
}
