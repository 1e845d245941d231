//! GAIT-prop (Ahmad, van Gerven & Ambrogioni, "GAIT-prop: A biologically
//! plausible learning rule derived from backpropagation of error", NeurIPS
//! 2020). The output layer's target is the label; going down, each layer
//! forms an incremental target `t = h + γ·f'²·(τ − h)` a small step from
//! its forward output towards the target `τ` it received, learns from `h −
//! t` rescaled by `γ^-k`, and passes `τ` to the layer below through its
//! inverse (here the transpose, in incremental form: `docs/rules.md`).
//! Every layer's input and every hidden layer's output wait in the stash
//! bank until the target comes back down.

use crate::hw::core::{Chip, ChipError};
use crate::hw::counters::Phase;
use crate::hw::datapath::Datapath;
use crate::hw::trace_sink::TraceSink;

/// `γ = 2^-DEFAULT_GAMMA_SHIFT` of `gaitprop`: `γ = 1`, which learns in
/// 16-bit fixed point (MNIST 784-784-784-10, one epoch: 94.91 %). The
/// paper's `γ = 10^-3` is `gaitprop/g10` (its nearest power of two,
/// `2^-10`): in 16 bits its targets fall below one LSB of the error format
/// and nothing learns (diagnosed as `errors_below_lsb`).
pub const DEFAULT_GAMMA_SHIFT: u32 = 0;

/// Largest `γ` shift a rule name may ask for (`gaitprop/g15`).
pub const MAX_GAMMA_SHIFT: u32 = 15;

/// Trains on one sample; returns whether the forward pass predicted `label`.
pub fn train_sample<D: Datapath, T: TraceSink>(
    chip: &mut Chip<D, T>,
    pixels: &[u8],
    label: usize,
) -> Result<bool, ChipError> {
    let n = chip.num_layers();
    chip.load_input(pixels);
    chip.broadcast_label(label, std::iter::once(n - 1));
    for i in 0..n {
        chip.stash_input(i, false)?;
        chip.forward(i, Phase::Forward);
        if i + 1 < n {
            chip.stash_output(i);
            chip.send_activation(i, Phase::Forward);
        }
    }
    let correct = chip.predicted() == label;
    for i in (0..n).rev() {
        chip.unstash_input(i, 0);
        chip.gait_step(i);
        chip.update(i);
        chip.release_stash(i);
    }
    Ok(correct)
}
