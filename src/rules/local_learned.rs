//! Local errors from learned classifiers (Nøkland & Eidnes, "Training
//! neural networks with local error signals", 2019, the "pred" loss). Each
//! hidden layer has its own linear classifier `M h + c` held in SRAM and
//! trained with the layer: the layer learns from `(Mᵀ(M h + c − y)) ⊙ f'(h)`
//! and the classifier from `M h + c − y`, both as soon as the layer's
//! forward step is done. Nothing is buffered; the output layer learns from
//! `h − y`. (The paper uses cross-entropy; locus uses the squared error of
//! every other rule: the core has no exponential unit.)

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
            chip.learned_error(i);
            chip.update(i);
            chip.update_classifier(i);
        } else {
            chip.output_error(i, Phase::LocalError);
            chip.update(i);
        }
    }
    chip.predicted() == label
}
