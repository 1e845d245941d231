//! Count-only estimation (`locus estimate`): the counts, energy and timing
//! of training a network without computing a value. The same rule drives
//! the same [`Chip`] primitives as in training, on the value-free
//! [`CountDatapath`]; counts are closed forms of the shapes, so the counts
//! of one batch, scaled by the number of batches, are those of any number of
//! samples. An epoch of `n` samples at batch `B` is `⌊n/B⌋` full batches and
//! one batch of `n mod B` (as training chunks it); epochs repeat it. What
//! depends on values — accuracy, overflow events, update rounding, the
//! datapath's own LFSR tally — is not known and is zero in the result.

use super::{RunResult, SimError, TrainConfig, check_rule, lr_shift, step_lr};
use crate::hw::core::Chip;
use crate::hw::counters::{CoreCounts, CountOverflow, fit_u64};
use crate::hw::datapath::{CountDatapath, OverflowByClass, UpdateRounding};
use crate::hw::model::HwModel;
use crate::hw::trace_sink::NoTrace;

/// The counts of training `config` (its rule, network, batch, learning
/// rate, seed and epochs; `arith` and the data limits are not used) on
/// `model` for `samples` samples per epoch, as a [`RunResult`] with no
/// epochs (no accuracy) and `samples · epochs` samples. Refused where
/// training would be refused for the same model and network.
pub fn estimate(
    model: &HwModel,
    config: &TrainConfig,
    samples: u64,
) -> Result<RunResult, SimError> {
    check_rule(config)?;
    if samples == 0 {
        return Err(SimError::Config {
            field: "samples",
            value: "0".into(),
            why: "must be at least 1".into(),
        });
    }
    config
        .net
        .validate()
        .map_err(crate::hw::core::ChipError::from)?;
    let (shift, lr_realised) = lr_shift(step_lr(config))?;
    let b = config.batch as u64;
    let (full, rest) = (samples / b, samples % b);
    // One epoch: the full batches, then the partial one.
    let mut epoch = match full {
        0 => None,
        n => Some(scale(
            &batch_counts(model, config, shift, config.batch)?,
            n,
        )?),
    };
    if rest > 0 {
        let last = batch_counts(model, config, shift, rest as usize)?;
        epoch = Some(match epoch {
            Some(e) => e
                .iter()
                .zip(&last)
                .map(|(a, b)| a.checked_add(b))
                .collect::<Result<_, _>>()?,
            None => last,
        });
    }
    let epochs = u64::from(config.epochs);
    let counts = scale(&epoch.unwrap_or_default(), epochs)?;
    Ok(RunResult {
        config: config.clone(),
        lr_shift: shift,
        lr_realised,
        epochs: Vec::new(),
        samples: fit_u64(
            || "samples".into(),
            u128::from(samples) * u128::from(epochs),
        )?,
        counts,
        datapath_lfsr_draws: 0,
        overflow: OverflowByClass::default(),
        update_rounding: UpdateRounding::default(),
        train_seconds: 0.0,
        watch: Vec::new(),
        unchanged_layers: Vec::new(),
        error_writes: Vec::new(),
    })
}

/// Every core's counts times `n` (peaks kept).
fn scale(counts: &[CoreCounts], n: u64) -> Result<Vec<CoreCounts>, CountOverflow> {
    counts.iter().map(|c| c.checked_scale(n)).collect()
}

/// The counts of one batch of `k` samples on a fresh count-only chip.
fn batch_counts(
    model: &HwModel,
    config: &TrainConfig,
    shift: u32,
    k: usize,
) -> Result<Vec<CoreCounts>, SimError> {
    let dp = CountDatapath::new(model, shift)?;
    let rule = config.rule;
    let classifiers = rule.uses_classifiers();
    let mut chip = Chip::with_sink(model, &config.net, dp, config.seed, classifiers, NoTrace)?;
    if let Some(kind) = rule.feedback() {
        chip.attach_feedback(kind, config.seed)?;
    }
    if let Some((m, _)) = super::momentum_shift(config.momentum)? {
        chip.enable_momentum(m)?;
    }
    chip.set_fusion(config.rule.fusion(model.fusion));
    // Pixel values do not change a count; the input's size does.
    let pixels = vec![0u8; config.net.sizes[0]];
    let batch: Vec<(&[u8], usize)> = vec![(&pixels, 0); k];
    rule.train_batch(&mut chip, &batch)?;
    Ok(chip.counts().to_vec())
}
