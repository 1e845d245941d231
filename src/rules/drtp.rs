//! Direct random target projection (Frenkel, Lefebvre & Bol, "Learning
//! without feedback: fixed random learning signals allow for feedforward
//! training of deep neural networks", 2021). Each hidden layer's error is a
//! fixed random projection of the one-hot label alone, `e = (Mᵀ(−y)) ⊙
//! f'(h)`, with `M` the layer's fixed random classifier ROM (the same ROM as
//! the local rule's). It needs no output error, so a layer updates as soon as
//! its forward step is done and nothing is buffered; the output layer learns
//! from `h − y`.

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
            chip.target_error(i);
        } else {
            chip.output_error(i, Phase::LocalError);
        }
        chip.update(i);
    }
    chip.predicted() == label
}
