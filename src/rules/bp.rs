//! Backprop and the rules that share its dataflow (feedback alignment,
//! direct feedback alignment): forward every sample of the batch keeping what the backward pass
//! needs (by [`BpPolicy`]), then for each sample propagate `δ_{i-1} =
//! (Wᵢᵀ δᵢ) ⊙ f'(xᵢ)` from the output error `h − y` down, updating each layer
//! right after its error has been passed on. The update is applied per
//! sample during the backward passes (the weights a later sample's backward
//! pass sees already include earlier samples' updates).

use super::BpPolicy;
use crate::hw::core::{Chip, ChipError};
use crate::hw::counters::Phase;
use crate::hw::datapath::Datapath;
use crate::hw::trace_sink::TraceSink;

/// What carries the error from layer `i` down to layer `i−1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feedback {
    /// Backprop: `Wᵢᵀ δᵢ`.
    Weights,
    /// Feedback alignment: `Bᵢᵀ δᵢ`, `Bᵢ` fixed random (`rows × cols`, ROM).
    Fixed,
    /// Direct feedback alignment: `Dᵢᵀ e_out`, `Dᵢ` fixed random
    /// (`classes × cols`, ROM), the output error sent to core `i` first.
    Direct,
}

/// Trains on one batch; returns how many samples the forward pass got right.
pub fn train_batch<D: Datapath, T: TraceSink>(
    chip: &mut Chip<D, T>,
    policy: BpPolicy,
    feedback: Feedback,
    batch: &[(&[u8], usize)],
) -> Result<usize, ChipError> {
    let n = chip.num_layers();
    let keep = batch.len() > 1;
    if keep {
        chip.check_kept_errors_fit(n - 1, batch.len())?;
    }
    if policy == BpPolicy::Stash {
        chip.check_stash_fits(batch.len())?;
    }
    let mut correct = 0;
    for &(pixels, label) in batch {
        chip.load_input(pixels);
        chip.broadcast_label(label, std::iter::once(n - 1));
        for i in 0..n {
            match policy {
                BpPolicy::Stash => chip.stash_input(i, false)?,
                BpPolicy::Spill => chip.stash_input(i, true)?,
                BpPolicy::Recompute if i == 0 => chip.stash_input(0, true)?,
                BpPolicy::Recompute => {}
            }
            chip.forward(i, Phase::Forward);
            if i + 1 < n {
                chip.send_activation(i, Phase::Forward);
            }
        }
        correct += (chip.predicted() == label) as usize;
        if keep {
            chip.output_error_kept(n - 1, Phase::Backward)?;
        } else {
            chip.output_error(n - 1, Phase::Backward);
        }
    }
    for s in 0..batch.len() {
        if keep {
            chip.select_saved_error(n - 1, s);
        }
        for i in (0..n).rev() {
            match policy {
                BpPolicy::Stash | BpPolicy::Spill => chip.unstash_input(i, s),
                BpPolicy::Recompute => {
                    chip.unstash_input(0, s);
                    for j in 0..i {
                        chip.forward(j, Phase::Backward);
                        chip.send_activation(j, Phase::Backward);
                    }
                    // A pooled conv layer also needs its own pool tensor.
                    if i > 0 && chip.pooled(i) {
                        chip.forward(i, Phase::Backward);
                    }
                }
            }
            if i > 0 {
                match feedback {
                    Feedback::Weights => chip.backward(i),
                    Feedback::Fixed => chip.backward_feedback(i),
                    Feedback::Direct => {
                        if i + 1 < n {
                            chip.send_output_error(i);
                        }
                        chip.backward_feedback(i);
                    }
                }
            }
            chip.update(i);
        }
    }
    for i in 0..n {
        chip.release_stash(i);
    }
    chip.clear_saved_errors(n - 1);
    Ok(correct)
}
