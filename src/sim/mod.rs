//! The training loop: builds the chip for a configuration, trains for some
//! epochs on a dataset (seeded shuffling), measures test accuracy after each
//! epoch and returns the counts with the results. Library code only: it
//! reports progress through a callback and never prints.

use crate::data::{Dataset, epoch_order};
use crate::hw::core::{Chip, ChipError, NetSpec};
use crate::hw::counters::CoreCounts;
use crate::hw::datapath::{
    Activation, Datapath, DatapathError, FixedDatapath, FloatDatapath, OverflowByClass,
    UpdateRounding,
};
use crate::hw::model::{HwModel, TensorClass};
use crate::hw::trace_sink::{NoTrace, TraceSink};
use crate::rules::Rule;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU64;

mod estimate;
mod watch;
pub use estimate::estimate;
pub use watch::{LMS_STABLE_GAIN, LayerWatch, WATCH_PROBE, WatchPoint};

/// Arithmetic of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arith {
    /// Bit-exact fixed point in the model's formats.
    Fixed,
    /// `f32` with no rounding: the same operations and counts.
    F32,
}

named_values!(Arith, "arithmetic", {
    Fixed => "fixed",
    F32 => "f32",
});

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
    /// Steps of the learning rate between epochs (none: constant).
    #[serde(default, skip_serializing_if = "LrSchedule::is_constant")]
    pub lr_schedule: LrSchedule,
    /// Requested SGD momentum `μ` in [0, 1), realised as `1 − 2^-m`
    /// ([`momentum_shift`]); 0: none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub momentum: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// The momentum `μ` as a shift: `μ = 1 − 2^-m` with `m = round(−log2(1 −
/// μ))` (a tie to the larger `m`, as [`lr_shift`]), so the decay `μ·v` is
/// `v − 2^-m·v`, a shift and a subtract. `None` for `μ = 0`. Errors name
/// `momentum` for `μ` outside [0, 1) or rounding to `m = 0` or past 15.
pub fn momentum_shift(mu: f64) -> Result<Option<(u32, f64)>, SimError> {
    let bad = |why: String| SimError::Config {
        field: "momentum",
        value: mu.to_string(),
        why,
    };
    if mu == 0.0 {
        return Ok(None);
    }
    if !(mu.is_finite() && mu > 0.0 && mu < 1.0) {
        return Err(bad("must be in [0, 1)".into()));
    }
    let m = (-(1.0 - mu).log2()).round();
    let max = crate::hw::core::MAX_MOMENTUM_SHIFT;
    if m < 1.0 || m > f64::from(max) {
        return Err(bad(format!(
            "realised as 1 - 2^-m with m = round(-log2(1 - momentum)) = {m}, outside 1..={max}: use 0 (none) or 0.293 to 0.99997 (m = 1 to {max})"
        )));
    }
    let m = m as u32;
    Ok(Some((m, 1.0 - (-f64::from(m)).exp2())))
}

/// A step schedule of the learning rate, as PyTorch's `MultiStepLR`: after
/// each milestone's count of epochs the requested rate is multiplied by
/// `gamma`, and each stepped rate is realised as its own nearest power of
/// two ([`lr_shift`]), so `0.01 · 0.1` is `2^-10`, not `2^-7 · 2^-3`. The
/// rate changes only between epochs; counts do not depend on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// Epoch counts (from 1, increasing) after which the rate steps: with
    /// `[60, 90]`, epochs 1–60 train at `lr`, 61–90 at `lr·gamma` and the
    /// rest at `lr·gamma²`.
    pub milestones: Vec<u32>,
    /// The factor of each step, in (0, 1].
    pub gamma: f64,
}

impl Default for LrSchedule {
    /// No steps (and PyTorch's default factor, 0.1).
    fn default() -> Self {
        LrSchedule {
            milestones: Vec::new(),
            gamma: 0.1,
        }
    }
}

impl LrSchedule {
    /// Whether the rate never changes.
    pub fn is_constant(&self) -> bool {
        self.milestones.is_empty()
    }

    /// The requested rate of epoch `epoch` (from 0), starting from `lr`.
    pub fn lr_at(&self, lr: f64, epoch: u32) -> f64 {
        let steps = self.milestones.iter().filter(|&&m| m <= epoch).count();
        lr * self.gamma.powi(steps as i32)
    }
}

impl TrainConfig {
    /// `rule` on `net` at `batch`, the rest at the command line's
    /// defaults: one epoch, learning rate 0.01, seed 1, fixed point, every
    /// sample. Set other fields with struct update syntax.
    pub fn new(rule: Rule, net: NetSpec, batch: usize) -> Self {
        TrainConfig {
            rule,
            net,
            epochs: 1,
            batch,
            lr: 0.01,
            seed: 1,
            arith: Arith::Fixed,
            train_limit: None,
            test_limit: None,
            lr_schedule: LrSchedule::default(),
            momentum: 0.0,
        }
    }
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
    /// A count of an estimate passes 64 bits.
    #[error(transparent)]
    Count(#[from] crate::hw::counters::CountOverflow),
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

/// The learning rate of one per-sample update. Backprop, FA and DFA apply
/// each of a batch's `B` per-sample updates at `lr / B` (the mean of the
/// batch's gradients, with no gradient-accumulation buffer; see
/// `docs/rules.md`); the other rules finish each sample before the next and
/// apply its update at `lr`.
pub fn step_lr(config: &TrainConfig) -> f64 {
    step_lr_at(config, 0)
}

/// [`step_lr`] in epoch `epoch` (from 0), after the schedule's steps.
pub fn step_lr_at(config: &TrainConfig, epoch: u32) -> f64 {
    let lr = config.lr_schedule.lr_at(config.lr, epoch);
    if config.rule.scales_lr_by_batch() {
        lr / config.batch.max(1) as f64
    } else {
        lr
    }
}

/// The realised per-sample rate's shift of each epoch (from 0) of `config`
/// ([`step_lr_at`], [`lr_shift`]). Errors name `lr-milestones` and
/// `lr-gamma` when a stepped rate cannot be realised.
pub fn lr_shifts(config: &TrainConfig) -> Result<Vec<u32>, SimError> {
    let schedule = &config.lr_schedule;
    let bad = |field, value: String, why: String| Err(SimError::Config { field, value, why });
    if !(schedule.gamma > 0.0 && schedule.gamma <= 1.0) {
        return bad(
            "lr-gamma",
            schedule.gamma.to_string(),
            "must be in (0, 1]".into(),
        );
    }
    let m = &schedule.milestones;
    if m.first() == Some(&0) || m.windows(2).any(|w| w[0] >= w[1]) {
        return bad(
            "lr-milestones",
            format!("{m:?}"),
            "must be epoch counts >= 1 in increasing order".into(),
        );
    }
    (0..config.epochs)
        .map(|epoch| {
            let lr = step_lr_at(config, epoch);
            lr_shift(lr).map(|(k, _)| k).map_err(|e| match e {
                SimError::Config { why, .. } if epoch > 0 => SimError::Config {
                    field: "lr-milestones",
                    value: format!("{m:?}"),
                    why: format!("epoch {}'s rate {lr:.2e}: {why}", epoch + 1),
                },
                e => e,
            })
        })
        .collect()
}

/// A warning when the learning rate `2^-lr_shift` is so small that even the
/// largest update the fixed-point datapath can form is below half an LSB of
/// the update format, else `None`. Only meaningful for [`Arith::Fixed`].
///
/// The largest `|error × activation|` product is `2^(e.bits−1−e.frac) ·
/// 2^(a.bits−1−a.frac)` (the magnitudes of the most negative values); times
/// the learning rate it is a power of two, compared with half an LSB of the
/// update format, `2^−(u.frac+1)`. The message says what the update format's
/// rounding then does: nearest makes every update 0; truncate (floor) makes
/// each 0 or −1 LSB by the product's sign alone; stochastic makes it nonzero
/// with probability at most largest update / LSB.
pub fn lr_underflow(model: &HwModel, lr_shift: u32) -> Option<String> {
    let f = &model.formats;
    let (e, a, u) = (
        f.error.qformat(),
        f.activation.qformat(),
        f.update.qformat(),
    );
    let magnitude = |q: crate::quant::QFormat| i64::from(q.bits) - 1 - i64::from(q.frac);
    let largest = magnitude(e) + magnitude(a) - i64::from(lr_shift);
    let half_lsb = -i64::from(u.frac) - 1;
    if largest >= half_lsb {
        return None;
    }
    let pow2 = |k: i64| format!("2^{k}");
    let effect = match f.update.rounding {
        crate::quant::Rounding::Nearest => {
            "with its nearest rounding every update is 0 and no weight will change".to_string()
        }
        crate::quant::Rounding::Truncate => "with its truncate (floor) rounding every update is 0 \
             or -1 LSB by the sign of the product alone, so weights drift instead of learning"
            .to_string(),
        crate::quant::Rounding::Stochastic => {
            let p = largest + i64::from(u.frac);
            format!(
                "with its stochastic rounding an update is nonzero with probability at most {} \
                 ({:.2}%), so learning is mostly noise",
                pow2(p),
                100.0 * (p as f64).exp2()
            )
        }
    };
    Some(format!(
        "even the largest update, max |error| × max |activation| × lr = {} ({e}) × {} ({a}) × {} \
         = {} ({:.1e}), is below half an LSB of the update format {u} (formats.update: {} = \
         {:.1e}); {effect}",
        pow2(magnitude(e)),
        pow2(magnitude(a)),
        pow2(-i64::from(lr_shift)),
        pow2(largest),
        (largest as f64).exp2(),
        pow2(half_lsb),
        (half_lsb as f64).exp2(),
    ))
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
    /// The epoch's realised per-sample learning rate, recorded when the
    /// rate follows a schedule ([`TrainConfig::lr_schedule`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_realised: Option<f64>,
}

/// What a run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The configuration.
    pub config: TrainConfig,
    /// `lr = 2^-lr_shift`.
    pub lr_shift: u32,
    /// The learning rate of one per-sample update, `2^-lr_shift` (for backprop with batch `B`, about `lr / B`: see [`step_lr`]).
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
    /// Weight-update products and those rounded to zero (all zero in `f32`;
    /// absent in results written before it was counted, read as zero).
    #[serde(default)]
    pub update_rounding: UpdateRounding,
    /// Host wall-clock seconds spent training (not evaluating).
    pub train_seconds: f64,
    /// The watch points of a watched run ([`run_watched`]), in order; empty
    /// otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<WatchPoint>,
    /// Per epoch (in order), the layers whose weights and biases did not
    /// change in a single value over that epoch (a fingerprint of each
    /// layer's stored values is compared at the epoch's ends).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchanged_layers: Vec<Vec<usize>>,
    /// Per layer, `[error writes, writes of an all-zero error]` over the
    /// run (`Chip::error_writes`; empty for an estimate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_writes: Vec<[u64; 2]>,
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
    run_traced(model, config, train, test, NoTrace, progress).map(|(r, p, _)| (r, p))
}

/// As [`run`], feeding every counted access and primitive call to `sink`
/// (`crate::trace` has the writers), and returning the sink. Counts,
/// weights and accuracies are the same as [`run`]'s. When the sink reports
/// [`TraceSink::done`] the run stops after the current batch, without
/// evaluating the unfinished epoch.
pub fn run_traced<T: TraceSink>(
    model: &HwModel,
    config: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
    sink: T,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(RunResult, RealParams, T), SimError> {
    dispatch(model, config, train, test, sink, None, progress)
}

/// How often to watch a run, and who hears of each point as it is taken.
pub struct Watch<'a> {
    /// Measure the chip every this many training samples.
    pub every: NonZeroU64,
    /// Called with each point as soon as it is measured (a long run can
    /// show it while training goes on).
    pub on_point: &'a mut dyn FnMut(&WatchPoint),
}

/// As [`run`], measuring the chip every `watch.every` training samples (at
/// the end of the batch that reaches the multiple) into
/// [`RunResult::watch`] (see `watch`). Counts, weights and accuracies are
/// the same as [`run`]'s.
pub fn run_watched(
    model: &HwModel,
    config: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
    mut watch: Watch<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RunResult, SimError> {
    dispatch(
        model,
        config,
        train,
        test,
        NoTrace,
        Some(&mut watch),
        progress,
    )
    .map(|(r, _, _)| r)
}

/// Picks the datapath of `config.arith` and the model's widest format.
fn dispatch<T: TraceSink>(
    model: &HwModel,
    config: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
    sink: T,
    watch: Option<&mut Watch<'_>>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(RunResult, RealParams, T), SimError> {
    let shift = lr_shifts(config)?.first().copied().unwrap_or(0);
    let run = Run {
        model,
        config,
        train,
        test,
    };
    match config.arith {
        Arith::F32 => run_with(&run, watch, FloatDatapath::new(shift), sink, progress),
        Arith::Fixed => {
            let widest = TensorClass::ALL
                .iter()
                .map(|c| model.format(*c).bits)
                .max()
                .unwrap_or(32);
            if widest <= 16 {
                run_with(
                    &run,
                    watch,
                    FixedDatapath::<i16>::new(model, shift)?,
                    sink,
                    progress,
                )
            } else {
                run_with(
                    &run,
                    watch,
                    FixedDatapath::<i32>::new(model, shift)?,
                    sink,
                    progress,
                )
            }
        }
    }
}

/// Checks a network against the data it trains on: at least an input and
/// an output size, all nonzero and within [`NetSpec::validate`]'s limits;
/// the input size equal to the data's sample
/// size; at least `classes` outputs. Errors name `layers`.
pub fn check_network(net: &NetSpec, train: &Dataset, classes: usize) -> Result<(), SimError> {
    let bad = |field, value: String, why: String| Err(SimError::Config { field, value, why });
    let sizes = &net.sizes;
    if sizes.len() < 2 || sizes.contains(&0) {
        return bad(
            "layers",
            format!("{sizes:?}"),
            "need an input and an output size, all nonzero".into(),
        );
    }
    // Sizes past the netspec limit (a dense network from a JSON
    // configuration is checked here first).
    net.validate().map_err(ChipError::from)?;
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
    if net.classes() < classes {
        return bad(
            "layers",
            format!("{sizes:?}"),
            format!("the output size must be at least the data's {classes} classes"),
        );
    }
    Ok(())
}

fn check_config(config: &TrainConfig, train: &Dataset, test: &Dataset) -> Result<(), SimError> {
    check_network(&config.net, train, train.num_classes.max(test.num_classes))?;
    check_rule(config)?;
    if test.sample_len() != train.sample_len() {
        return Err(SimError::Config {
            field: "data",
            value: test.name.clone(),
            why: "test samples differ in size from training samples".into(),
        });
    }
    Ok(())
}

/// The checks of a configuration that need no data: epochs and batch, and
/// whether the rule runs on the network (a batch for predsim, the rules and
/// activations of CNNs, GAIT-prop's shapes). Shared by training and
/// estimation, so `estimate` refuses what `train` refuses.
pub fn check_rule(config: &TrainConfig) -> Result<(), SimError> {
    let bad = |field, value: String, why: String| Err(SimError::Config { field, value, why });
    if config.epochs == 0 {
        return bad("epochs", "0".into(), "must be at least 1".into());
    }
    if config.batch == 0 {
        return bad("batch", "0".into(), "must be at least 1".into());
    }
    if config.batch < 2 && config.rule.needs_batch() {
        return bad(
            "batch",
            config.batch.to_string(),
            format!(
                "rule {} needs --batch of at least 2 (its similarity loss compares the samples of a batch)",
                config.rule.label()
            ),
        );
    }
    // A rule not modelled on the network's kind of layer: the rules that
    // are, and those that are not, as `Rule::CNN_RULES` names them.
    let not_modelled = |what: &str, (yes, no): (&str, &str), see: &str| {
        bad(
            "rule",
            config.rule.label(),
            format!("networks with {what} train with {yes} ({no} are not modelled on them{see})"),
        )
    };
    if config.net.has_conv() && !config.rule.trains_cnns() {
        return not_modelled("conv layers", Rule::CNN_RULES, "");
    }
    if config.net.has_residual() && !config.rule.trains_residuals() {
        let see = ": docs/rules.md, \"Residual blocks\"";
        return not_modelled("residual blocks", Rule::RESIDUAL_RULES, see);
    }
    if config.net.has_conv() && config.net.activation == Activation::LeakyRelu {
        return bad(
            "activation",
            "leaky-relu".into(),
            "networks with conv layers use relu or hard-tanh".into(),
        );
    }
    if let Rule::Gaitprop(g) = config.rule {
        check_gaitprop(&config.net, g)?;
    }
    if momentum_shift(config.momentum)?.is_some()
        && config.rule.feedback() == Some(crate::hw::core::FeedbackKind::Learned)
    {
        return bad(
            "momentum",
            config.momentum.to_string(),
            format!(
                "{}'s learned classifiers are updated without momentum (not modelled); train it without --momentum",
                config.rule.label()
            ),
        );
    }
    Ok(())
}

/// GAIT-prop carries targets down through each layer's inverse: the layers
/// must be invertible (leaky ReLU) and every hidden layer square (each
/// hidden size equal to the input size); the error's rescaling `γ^-L`
/// must stay within `f32`'s range (`2^100` here).
fn check_gaitprop(net: &NetSpec, g: u32) -> Result<(), SimError> {
    let bad = |field, value: String, why: String| Err(SimError::Config { field, value, why });
    let rule = Rule::Gaitprop(g).label();
    if net.activation != Activation::LeakyRelu {
        return bad(
            "activation",
            net.activation.to_string(),
            format!("{rule} needs invertible layers: use --activation leaky-relu"),
        );
    }
    let sizes = &net.sizes;
    let hidden = &sizes[1..sizes.len() - 1];
    if let Some(k) = hidden.iter().position(|&r| r != sizes[0]) {
        return bad(
            "layers",
            format!("{sizes:?}"),
            format!(
                "--layers: {rule} needs square hidden layers (every hidden size equal to the input size {}); layer {k} is {}x{}",
                sizes[0], hidden[k], sizes[k]
            ),
        );
    }
    if g * net.layers() as u32 > 100 {
        return bad(
            "rule",
            rule.clone(),
            format!(
                "{rule}: gamma 2^-{g} over {} layers rescales errors by more than 2^100 (beyond f32)",
                net.layers()
            ),
        );
    }
    Ok(())
}

/// One training run's inputs, apart from the datapath and the sink.
#[derive(Clone, Copy)]
struct Run<'a> {
    model: &'a HwModel,
    config: &'a TrainConfig,
    train: &'a Dataset,
    test: &'a Dataset,
}

fn run_with<D: Datapath, T: TraceSink>(
    run: &Run<'_>,
    mut watch: Option<&mut Watch<'_>>,
    dp: D,
    sink: T,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(RunResult, RealParams, T), SimError> {
    let Run {
        model,
        config,
        train,
        test,
    } = *run;
    check_config(config, train, test)?;
    let (shift, lr_first) = lr_shift(step_lr(config))?;
    let shifts = lr_shifts(config)?;
    let classifiers = config.rule.uses_classifiers();
    let mut chip = Chip::with_sink(model, &config.net, dp, config.seed, classifiers, sink)?;
    if let Some(kind) = config.rule.feedback() {
        chip.attach_feedback(kind, config.seed)?;
    }
    if let Some((m, _)) = momentum_shift(config.momentum)? {
        chip.enable_momentum(m)?;
    }
    chip.set_fusion(config.rule.fusion(model.fusion));
    let per_epoch = config
        .train_limit
        .map_or(train.len(), |n| n.min(train.len()));
    let total = per_epoch as u64 * config.epochs as u64;
    let mut epochs = Vec::new();
    let mut samples = 0u64;
    let mut train_seconds = 0.0;
    let mut watched = Vec::new();
    let mut batch: Vec<(&[u8], usize)> = Vec::with_capacity(config.batch);
    let mut fingerprint = fingerprints(&chip);
    let mut unchanged_layers = Vec::new();
    for epoch in 0..config.epochs {
        let epoch_shift = shifts[epoch as usize];
        if epoch > 0 && epoch_shift != shifts[epoch as usize - 1] {
            chip.set_lr_shift(epoch_shift)?;
        }
        let lr_realised = (-f64::from(epoch_shift)).exp2();
        let order = epoch_order(train.len(), config.seed, epoch as u64);
        let start = std::time::Instant::now();
        let mut watch_seconds = 0.0;
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
            if let Some(w) = watch.as_deref_mut()
                && samples % w.every.get() < chunk.len() as u64
            {
                let t = std::time::Instant::now();
                let point = watch::observe(&mut chip, test, samples, lr_realised);
                (w.on_point)(&point);
                watched.push(point);
                watch_seconds += t.elapsed().as_secs_f64();
            }
            if samples % 256 < chunk.len() as u64 || samples == total {
                progress(samples, total);
            }
            if T::ENABLED && chip.sink().done() {
                break;
            }
        }
        train_seconds += start.elapsed().as_secs_f64() - watch_seconds;
        if T::ENABLED && chip.sink().done() {
            break;
        }
        let now = fingerprints(&chip);
        unchanged_layers.push(
            (0..now.len())
                .filter(|&i| now[i] == fingerprint[i])
                .collect(),
        );
        fingerprint = now;
        let test_accuracy = evaluate(&mut chip, test, config.test_limit);
        epochs.push(EpochResult {
            epoch: epoch + 1,
            train_accuracy: correct as f64 / per_epoch.max(1) as f64,
            test_accuracy,
            lr_realised: (!config.lr_schedule.is_constant()).then_some(lr_realised),
        });
    }
    let params = chip
        .layers()
        .iter()
        .map(|l| {
            (
                l.w()
                    .iter()
                    .map(|&v| chip.datapath().decode_real(TensorClass::Weight, v))
                    .collect(),
                l.b()
                    .iter()
                    .map(|&v| chip.datapath().decode_real(TensorClass::Weight, v))
                    .collect(),
            )
        })
        .collect();
    let counts = chip.counts().to_vec();
    let datapath_lfsr_draws = chip.datapath().lfsr_draws();
    let overflow = chip.datapath().overflow();
    let update_rounding = chip.datapath().update_rounding();
    let error_writes = chip.error_writes().to_vec();
    Ok((
        RunResult {
            config: config.clone(),
            lr_shift: shift,
            lr_realised: lr_first,
            epochs,
            samples,
            counts,
            datapath_lfsr_draws,
            overflow,
            update_rounding,
            train_seconds,
            watch: watched,
            unchanged_layers,
            error_writes,
        },
        params,
        chip.into_sink(),
    ))
}

/// A fingerprint of each layer's stored weights and biases (a hash of
/// their real values' bits): equal fingerprints mean no value changed,
/// up to a 2^-64 chance of a collision.
fn fingerprints<D: Datapath, T: TraceSink>(chip: &Chip<D, T>) -> Vec<u64> {
    use std::hash::{Hash, Hasher};
    chip.layers()
        .iter()
        .map(|l| {
            let mut h = std::hash::DefaultHasher::new();
            for &v in l.w().iter().chain(l.b()) {
                chip.datapath()
                    .decode_real(TensorClass::Weight, v)
                    .to_bits()
                    .hash(&mut h);
            }
            h.finish()
        })
        .collect()
}

/// Test accuracy by uncounted inference.
fn evaluate<D: Datapath, T: TraceSink>(
    chip: &mut Chip<D, T>,
    test: &Dataset,
    limit: Option<usize>,
) -> f64 {
    let n = limit.map_or(test.len(), |l| l.min(test.len()));
    let correct = (0..n)
        .filter(|&i| chip.infer(test.sample(i)) == test.label(i))
        .count();
    correct as f64 / n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::Rounding;

    fn default_model() -> HwModel {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
        crate::hw::model::load(&path).unwrap()
    }

    /// `k = round(-log2 lr)` rounds a tie away from zero, to the larger
    /// `k` (the smaller rate), judged on the `f64` value of `-log2 lr`
    /// (docs/rules.md, "Update").
    #[test]
    fn lr_shift_rounds_a_tie_to_the_smaller_rate() {
        use std::f64::consts::FRAC_1_SQRT_2;
        // 2^-2.5 and 2^-10.5: -log2 computes to exactly 2.5 and 10.5.
        for (lr, k) in [(FRAC_1_SQRT_2 / 4.0, 3), (FRAC_1_SQRT_2 / 1024.0, 11)] {
            assert_eq!(-lr.log2(), k as f64 - 0.5, "{lr}: an exact tie");
            assert_eq!(lr_shift(lr).unwrap(), (k, (-(k as f64)).exp2()), "{lr}");
        }
        // 2^-0.5 as an f64 is a little above 1/sqrt(2): -log2 computes to
        // just below 0.5, no tie, so k = 0.
        assert!(-FRAC_1_SQRT_2.log2() < 0.5);
        assert_eq!(lr_shift(FRAC_1_SQRT_2).unwrap().0, 0);
        // The default --lr 0.01 is 6.64: k = 7.
        assert_eq!(lr_shift(0.01).unwrap().0, 7);
    }

    /// MultiStepLR's convention: a milestone `m` steps the rate after `m`
    /// epochs; each stepped rate is realised on its own.
    #[test]
    fn schedule_steps_after_each_milestone_and_rounds_each_rate() {
        let sched = LrSchedule {
            milestones: vec![2, 4],
            gamma: 0.1,
        };
        let rates: Vec<f64> = (0..6).map(|e| sched.lr_at(0.01, e)).collect();
        assert_eq!(rates[..2], [0.01, 0.01]);
        assert!((rates[2] - 0.001).abs() < 1e-12 && (rates[3] - 0.001).abs() < 1e-12);
        assert!((rates[4] - 1e-4).abs() < 1e-15 && (rates[5] - 1e-4).abs() < 1e-15);
        let net = NetSpec::dense(vec![4, 3], Activation::Relu);
        let mut cfg = TrainConfig {
            epochs: 6,
            lr_schedule: sched,
            ..TrainConfig::new(Rule::Local, net, 1)
        };
        // 0.01 → 2^-7, 0.001 → 2^-10 (not 2^-7·2^-3 by luck: 2^-9.97),
        // 1e-4 → 2^-13.
        assert_eq!(lr_shifts(&cfg).unwrap(), [7, 7, 10, 10, 13, 13]);
        // Backprop at batch 4 divides each stepped rate by 4 first.
        cfg.rule = Rule::Bp(crate::rules::BpPolicy::Spill);
        cfg.batch = 4;
        assert_eq!(lr_shifts(&cfg).unwrap(), [9, 9, 12, 12, 15, 15]);
        // Constant: one shift per epoch, the same.
        cfg.lr_schedule = LrSchedule::default();
        assert!(cfg.lr_schedule.is_constant());
        assert_eq!(lr_shifts(&cfg).unwrap(), [9; 6]);
    }

    #[test]
    fn schedule_errors_name_the_option() {
        let net = NetSpec::dense(vec![4, 3], Activation::Relu);
        let cfg = |milestones: Vec<u32>, gamma: f64| TrainConfig {
            epochs: 3,
            lr_schedule: LrSchedule { milestones, gamma },
            ..TrainConfig::new(Rule::Local, net.clone(), 1)
        };
        let field = |c: TrainConfig| match lr_shifts(&c) {
            Err(SimError::Config { field, why, .. }) => (field, why),
            other => panic!("expected a configuration error, got {other:?}"),
        };
        assert_eq!(field(cfg(vec![1], 0.0)).0, "lr-gamma");
        assert_eq!(field(cfg(vec![1], 1.5)).0, "lr-gamma");
        assert_eq!(field(cfg(vec![0], 0.5)).0, "lr-milestones");
        assert_eq!(field(cfg(vec![2, 2], 0.5)).0, "lr-milestones");
        let (f, why) = field(cfg(vec![1, 2], 1e-5));
        assert_eq!(f, "lr-milestones");
        assert!(why.contains("epoch 3") && why.contains("2^-30"), "{why}");
        // A milestone past the last epoch steps nothing and is no error.
        assert_eq!(lr_shifts(&cfg(vec![5], 1e-9)).unwrap(), [7, 7, 7]);
    }

    #[test]
    fn lr_underflow_only_below_half_an_update_lsb() {
        // Default: error Q4.12 (max 2^3), activation Q8.8 (2^7), update Q2.14
        // (half LSB 2^-15): the largest update 2^(10-k) underflows for k > 25.
        let mut m = default_model();
        m.formats.update.rounding = Rounding::Stochastic;
        for k in 0..=25 {
            assert_eq!(lr_underflow(&m, k), None, "2^-{k}");
        }
        let w = lr_underflow(&m, 30).unwrap();
        for s in [
            "2^3 (Q4.12) × 2^7 (Q8.8) × 2^-30 = 2^-20",
            "update format Q2.14 (formats.update: 2^-15",
            "stochastic",
            "at most 2^-6 (1.56%)",
        ] {
            assert!(w.contains(s), "want {s:?} in {w}");
        }
        assert!(
            lr_underflow(&m, 26)
                .unwrap()
                .contains("at most 2^-2 (25.00%)")
        );
        m.formats.update.rounding = Rounding::Nearest;
        assert!(
            lr_underflow(&m, 26)
                .unwrap()
                .contains("no weight will change")
        );
        m.formats.update.rounding = Rounding::Truncate;
        assert!(lr_underflow(&m, 26).unwrap().contains("truncate (floor)"));
        // A wider update fraction moves the threshold.
        m.formats.update.frac = 15;
        assert_eq!(lr_underflow(&m, 26), None);
        assert!(lr_underflow(&m, 27).is_some());
    }
}
