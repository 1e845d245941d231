//! Predsim (Nøkland & Eidnes, "Training neural networks with local error
//! signals", ICML 2019): each hidden layer learns from a weighted sum of
//! two local losses, the prediction loss of its learned classifier (as in
//! [`super::local_learned`]) and the similarity-matching loss between the
//! cosine similarity matrix of the batch's outputs and that of their
//! labels. The similarity needs the whole batch, so every hidden core keeps
//! the batch's inputs (for the updates) and outputs until the batch's last
//! forward pass; then per sample: prediction error, similarity error, the
//! layer's and the classifier's update. The output layer learns from
//! `h − y` right after each forward pass.

use crate::hw::core::Chip;
use crate::hw::counters::Phase;
use crate::hw::datapath::Datapath;
use crate::hw::trace_sink::TraceSink;

/// The paper's weight of the similarity loss, `β` in `(1−β)·L_pred +
/// β·L_sim`.
pub const BETA: f64 = 0.99;

/// The shift `k` with which the prediction error joins the similarity error
/// (`e = e_sim + 2^-k·e_pred`): `2^-k` nearest `(1−β)/β` (`β = 0.99`:
/// `k = 7`, `2^-7 = 0.0078` against `0.0101`).
pub fn pred_shift() -> u32 {
    ((BETA / (1.0 - BETA)).log2().round().max(0.0)) as u32
}

/// The shift `σ` of the similarity error at batch `b`: locus's similarity
/// loss is `(1/B)·‖S − T‖²_F`, whose gradient carries `4/B`, realised as
/// `2^-σ` with `σ = round(log2(B/4))` (batch 16: `σ = 2`; batch 2: `σ = −1`).
pub fn sim_shift(b: usize) -> i32 {
    (b.max(1) as f64 / 4.0).log2().round() as i32
}

/// Trains on one batch (at least two samples); returns how many the forward
/// passes classified correctly. Fails, before anything is counted, when the
/// batch's similarity coefficients do not fit the error bank.
pub fn train_batch<D: Datapath, T: TraceSink>(
    chip: &mut Chip<D, T>,
    batch: &[(&[u8], usize)],
) -> Result<usize, crate::hw::core::ChipError> {
    let n = chip.num_layers();
    chip.check_similarity_fits(batch.len())?;
    let mut correct = 0;
    for &(pixels, label) in batch {
        chip.load_input(pixels);
        chip.broadcast_label(label, 0..n);
        for i in 0..n {
            if i + 1 < n {
                chip.stash_input(i, true)?;
            }
            chip.forward(i, Phase::Forward);
            if i + 1 < n {
                chip.keep_output(i);
                chip.send_activation(i, Phase::Forward);
            } else {
                chip.output_error(i, Phase::LocalError);
                chip.update(i);
            }
        }
        correct += (chip.predicted() == label) as usize;
    }
    let (sigma, k) = (sim_shift(batch.len()), pred_shift());
    for i in 0..n - 1 {
        chip.similarity(i);
        for a in 0..batch.len() {
            chip.restore_output(i, a);
            chip.learned_error(i);
            chip.similarity_error(i, a, sigma, k);
            chip.unstash_input(i, a);
            chip.update(i);
            chip.update_classifier(i);
        }
        chip.release_kept(i);
        chip.release_stash(i);
    }
    Ok(correct)
}
