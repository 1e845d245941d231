//! Local errors with fixed random classifiers (Mostafa, Ramesh & Cauwenberghs,
//! "Deep Supervised Learning Using Local Errors", 2018). Each hidden layer
//! projects its output through its own fixed random classifier `M`, compares
//! with the one-hot label and updates from `(Mᵀ(M h − y)) ⊙ f'(h)` as soon as
//! its own forward step is done; the output layer learns from `h − y`.
//! Nothing is stashed; every update is applied per sample.

use crate::hw::core::Chip;
use crate::hw::counters::Phase;
use crate::hw::datapath::Datapath;
use crate::hw::trace_sink::TraceSink;

/// Trains on one sample; returns whether the output predicted `label`.
pub fn train_sample<D: Datapath, T: TraceSink>(
    chip: &mut Chip<D, T>,
    pixels: &[u8],
    label: usize,
) -> bool {
    let n = chip.num_layers();
    chip.load_input(pixels);
    chip.broadcast_label(label, 0..n);
    for i in 0..n {
        chip.forward(i, Phase::Forward);
        if i + 1 < n {
            chip.send_activation(i, Phase::Forward);
            chip.local_error(i);
        } else {
            chip.output_error(i, Phase::LocalError);
        }
        chip.update(i);
    }
    chip.predicted() == label
}
