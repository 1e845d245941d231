//! PEPITA (Dellaferrera & Kreiman, "Error-driven input modulation: solving
//! the credit assignment problem without a backward pass", ICML 2022).
//! A standard forward pass gives the output error `e`; a second forward
//! pass runs on the modulated input `x − F e` (`F` fixed random, ROM of
//! core 0). A hidden layer learns from the difference of its two outputs,
//! `ΔW_l = (h_l − h_l^mod) (x_l^mod)ᵀ`, the output layer from `e (x^mod)ᵀ`.
//! The first-pass hidden outputs wait in the stash banks for the second pass.

use crate::hw::core::Chip;
use crate::hw::counters::Phase;
use crate::hw::datapath::Datapath;
use crate::hw::trace_sink::TraceSink;

/// Trains on one sample; returns whether the first pass predicted `label`.
pub fn train_sample<D: Datapath, T: TraceSink>(
    chip: &mut Chip<D, T>,
    pixels: &[u8],
    label: usize,
) -> bool {
    let n = chip.num_layers();
    chip.load_input(pixels);
    chip.broadcast_label(label, std::iter::once(n - 1));
    for i in 0..n {
        chip.forward(i, Phase::Forward);
        if i + 1 < n {
            chip.stash_output(i);
            chip.send_activation(i, Phase::Forward);
        }
    }
    let correct = chip.predicted() == label;
    chip.output_error(n - 1, Phase::Backward);
    if n > 1 {
        chip.send_output_error(0);
    }
    chip.modulate_input();
    // The modulated pass, each hidden layer updated as soon as its second
    // output exists; the output layer from the first pass's error and its
    // modulated input.
    for i in 0..n - 1 {
        chip.forward(i, Phase::Backward);
        chip.pepita_error(i);
        chip.update(i);
        chip.send_activation(i, Phase::Backward);
    }
    chip.update(n - 1);
    correct
}
