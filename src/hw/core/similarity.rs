//! Counted primitives of predsim (Nøkland & Eidnes 2019): each hidden core
//! keeps its layer's outputs for the whole batch, computes the batch's
//! similarity coefficients once, then each sample's error as a weighted sum
//! of the kept outputs (the values: [`crate::hw::datapath::similarity`]).
//! Closed forms: `docs/hw_model.md` ("predsim").
//!
//! Where the tensors live: a kept output `h` (`rows` activations) and its
//! label go to the core's stash bank after the layer inputs stashed before
//! it, or to DRAM once the bank is full (the `spill` policy of backprop's
//! stash); the coefficients `J` and `r` (`B² + B` values of
//! [`SIM_COEF_BITS`] bits) sit in the error bank after the learned
//! classifier's output error; the batch's labels are in the core's label
//! registers (not counted, like the label itself).

use super::{Chip, ChipError, Src};
use crate::hw::counters::{Class, Phase, Rw, Unit};
use crate::hw::datapath::{Datapath, similarity};
use crate::hw::model::BankRole;
use crate::hw::trace_sink::TraceSink;

/// Width of one similarity coefficient register, in bits (`Q8.24`).
pub const SIM_COEF_BITS: u32 = 32;

/// One kept output of the batch.
#[derive(Clone, Debug)]
struct Kept<V> {
    h: Vec<V>,
    label: usize,
    in_dram: bool,
    /// Stash-bank word address, or DRAM byte address when `in_dram`.
    addr: u64,
}

/// Predsim's state of one hidden layer's core.
#[derive(Clone, Debug, Default)]
pub(super) struct SimLayer<V, C> {
    kept: Vec<Kept<V>>,
    /// The kept outputs side by side (`B × rows`), for the datapath.
    hs: Vec<V>,
    coef: Vec<C>,
}

/// Predsim's state of every layer.
#[derive(Clone, Debug, Default)]
pub(super) struct SimState<V, C> {
    layers: Vec<SimLayer<V, C>>,
}

/// Multiplications of the coefficient stage for a batch of `b`, counted as
/// MACs: `S = g·r_a·r_b` (2 per entry), the label compare and `G = S − T`
/// (1), `p_a = Σ_b G_ab S_ab` (1), `J = r_b G_ab` (1), and per sample one
/// reciprocal square root and `r_a p_a` (2): `5·B² + 2·B`.
pub fn coefficient_macs(b: u64) -> u64 {
    5 * b * b + 2 * b
}

impl<D: Datapath, T: TraceSink> Chip<D, T> {
    fn sim_layer(&mut self, i: usize) -> &mut SimLayer<D::V, D::Coef> {
        if self.sim.layers.len() <= i {
            self.sim.layers.resize_with(i + 1, SimLayer::default);
        }
        &mut self.sim.layers[i]
    }

    /// Stash words and DRAM bytes of one kept output of layer `i`.
    fn kept_size(&self, i: usize) -> (u64, u64) {
        let rows = self.layers[i].rows;
        let ab = self.bits.activation;
        let words = self.words(BankRole::Stash, rows, ab);
        (words, (rows as u64 * ab as u64).div_ceil(8))
    }

    /// The stash bank's latency, in cycles, for a call that reads the
    /// kept outputs `ks` of layer `i`: `λ_s` once when at least one of them
    /// is in the stash bank, 0 when all come from DRAM (each DRAM read
    /// carries the DRAM latency itself, as a spilled stash slot does).
    fn kept_stash_latency(&self, i: usize, mut ks: impl Iterator<Item = usize>) -> u64 {
        let kept = &self.sim.layers[i].kept;
        if ks.any(|k| !kept[k].in_dram) {
            self.bank_latency(BankRole::Stash)
        } else {
            0
        }
    }

    /// Counts the read of kept output `k` of layer `i` in phase `p`: a
    /// stash read of `words(rows, a, W_s)` (no latency: the caller adds the
    /// stash bank's once per call) or a DRAM read of `ceil(rows·a/8)` bytes
    /// with its bursts and the DRAM latency.
    fn read_kept(&mut self, i: usize, k: usize, p: Phase) {
        let (words, bytes) = self.kept_size(i);
        let (in_dram, addr) = {
            let s = &self.sim.layers[i].kept[k];
            (s.in_dram, s.addr)
        };
        if in_dram {
            self.count_dram(i, p, Rw::Read, addr, bytes);
        } else {
            let (us, ca) = (Unit::Stash, Class::Activation);
            self.access(i, us, ca, p, Rw::Read, addr, words, Src::None);
        }
    }

    /// Predsim: keeps hidden layer `i`'s output `h` and the current label
    /// until the batch's similarity is computed. Counts (phase `Forward`):
    /// a stash write of `words(rows, a, W_s)` (latency `λ_s`) while the
    /// stash bank has room, else a DRAM write of `ceil(rows·a/8)` bytes;
    /// the stash occupancy (or spilled bytes) rises by that much until
    /// [`Chip::release_kept`].
    pub fn keep_output(&mut self, i: usize) {
        let (words, bytes) = self.kept_size(i);
        let cap = self.model.bank(BankRole::Stash).capacity_words();
        let now = self.core(i).stash_words_now;
        let in_dram = now + words > cap;
        let addr = if in_dram {
            let burst = self.model.dram.burst_bytes as u64;
            let a = self.sched.spill_base + self.sched.spill_next;
            self.sched.spill_next += bytes.div_ceil(burst) * burst;
            a
        } else {
            now
        };
        let (h, label) = (self.layers[i].h.clone(), self.label);
        let s = self.sim_layer(i);
        s.kept.push(Kept {
            h,
            label,
            in_dram,
            addr,
        });
        self.begin(i, Phase::Forward, "keep_output");
        self.count_kept_write(i, in_dram, addr, words, bytes, Src::H(i));
        self.end();
    }

    /// Error-bank word address of layer `i`'s similarity coefficients
    /// (after its error and its learned classifier's output error).
    fn coef_addr(&self, i: usize) -> u64 {
        let classes = self.net.classes();
        self.err_addr(i, 0)
            + self.place[i].e_words
            + self.words(BankRole::Error, classes, self.bits.error)
    }

    /// Predsim: checks that the similarity coefficients of a batch of `b`
    /// samples (`words(b² + 2b, 32, W_e)`) fit every hidden layer's error
    /// bank after the layer's error and its classifier's error, before the
    /// batch is trained; [`ChipError::SimilarityDoesNotFit`] otherwise.
    pub fn check_similarity_fits(&self, b: usize) -> Result<(), ChipError> {
        let capacity = self.model.bank(BankRole::Error).capacity_words();
        let c_words = self.words(BankRole::Error, similarity::coef_len(b), SIM_COEF_BITS);
        for i in 0..self.layers.len().saturating_sub(1) {
            let need = self.coef_addr(i) + c_words;
            if need > capacity {
                return Err(ChipError::SimilarityDoesNotFit {
                    layer: i,
                    batch: b,
                    need,
                    capacity,
                });
            }
        }
        Ok(())
    }

    /// Predsim: the similarity coefficients `J`, `r` of the `B` outputs
    /// layer `i` kept ([`similarity`]). Counts (phase `LocalError`): each
    /// kept output read once (stash `words(rows, a, W_s)` or DRAM
    /// `ceil(rows·a/8)` bytes), `(B² + B)·rows` MACs for the Gram matrix
    /// and the vectors' sums (centring) plus [`coefficient_macs`]`(B)`,
    /// `words(B² + 2B, 32, W_e)` (`J`, `r`, the sums) written to the
    /// error bank, latency `λ_s + λ_e` (`λ_s` only when a kept output is in
    /// the stash bank; each DRAM read adds `λ_dram`); the error bank's peak
    /// grows by those words.
    pub fn similarity(&mut self, i: usize) {
        let rows = self.layers[i].rows;
        let b = self.sim_layer(i).kept.len();
        {
            let s = &mut self.sim.layers[i];
            s.hs.clear();
            for k in &s.kept {
                s.hs.extend_from_slice(&k.h);
            }
            let labels: Vec<usize> = s.kept.iter().map(|k| k.label).collect();
            s.coef = vec![D::Coef::default(); similarity::coef_len(b)];
            let classes = self.net.classes();
            self.dp
                .similarity_coefficients(&s.hs, rows, &labels, classes, &mut s.coef);
        }
        let c_words = self.words(BankRole::Error, similarity::coef_len(b), SIM_COEF_BITS);
        let c_addr = self.coef_addr(i);
        let lat = self.kept_stash_latency(i, 0..b) + self.bank_latency(BankRole::Error);
        let p = Phase::LocalError;
        self.begin(i, p, "similarity");
        for k in 0..b {
            self.read_kept(i, k, p);
        }
        let macs = ((b * b + b) * rows) as u64 + coefficient_macs(b as u64);
        self.add_macs(i, p, macs);
        let (ue, ce) = (Unit::Error, Class::Error);
        self.access(i, ue, ce, p, Rw::Write, c_addr, c_words, Src::None);
        let peak = c_addr + c_words - self.err_addr(i, 0);
        let c = self.core(i);
        c.error_peak_words = c.error_peak_words.max(peak);
        self.add_latency(i, p, lat);
        self.end();
    }

    /// Predsim: brings kept output `a` of layer `i` back into the activation
    /// bank (and its label into the label register) for the sample's
    /// prediction error and updates. Counts (phase `LocalError`): the kept
    /// output read (stash or DRAM, as in [`Chip::similarity`]) and
    /// `words(rows, a, W_a)` activation-bank words written, latency `λ_s`
    /// from the stash bank or `λ_dram` from DRAM (as a spilled stash slot's
    /// restore).
    pub fn restore_output(&mut self, i: usize, a: usize) {
        {
            let k = &self.sim.layers[i].kept[a];
            self.layers[i].h.copy_from_slice(&k.h);
            self.label = k.label;
        }
        let rows = self.layers[i].rows;
        let h_words = self.words(BankRole::Activation, rows, self.bits.activation);
        let h_addr = self.place[i].h;
        let lat = self.kept_stash_latency(i, a..a + 1);
        let p = Phase::LocalError;
        self.begin(i, p, "restore_output");
        self.read_kept(i, a, p);
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.access(i, ua, ca, p, Rw::Write, h_addr, h_words, Src::H(i));
        self.add_latency(i, p, lat);
        self.end();
    }

    /// Predsim's error of sample `a` at hidden layer `i`: `e ← (2^-sim_shift
    /// · r_a Σ_b J_ab h̃_b + 2^-pred_shift · e) ⊙ f'(h_a)`, where `e` holds the sample's
    /// prediction error ([`Chip::learned_error`]). Counts (phase
    /// `LocalError`): every kept output read again (stash or DRAM), the
    /// coefficient row, `r_a` and the sums read (`words(2B + 1, 32, W_e)`),
    /// `e` read and written (`words(rows, e, W_e)` each), `h` read for the
    /// derivative (`words(rows, a, W_a)`), `(2B + 1)·rows` MACs (centring
    /// `rows·h − s` and the weighted sum per term, `r_a` per value), latency
    /// `λ_s + λ_a + λ_e` (`λ_s` and `λ_dram` as in [`Chip::similarity`])
    /// and, when errors round stochastically, `rows` LFSR draws.
    pub fn similarity_error(&mut self, i: usize, a: usize, sim_shift: i32, pred_shift: u32) {
        let rows = self.layers[i].rows;
        let act = self.net.activation;
        let b = self.sim.layers[i].kept.len();
        {
            let s = &self.sim.layers[i];
            let l = &mut self.layers[i];
            self.dp.similarity_error(
                &s.coef, a, &s.hs, rows, sim_shift, pred_shift, act, &mut l.e,
            );
        }
        let (ab, eb) = (self.bits.activation, self.bits.error);
        let e_words = self.words(BankRole::Error, rows, eb);
        let h_words = self.words(BankRole::Activation, rows, ab);
        let c_words = self.words(BankRole::Error, 2 * b + 1, SIM_COEF_BITS);
        let lat = self.kept_stash_latency(i, 0..b)
            + self.bank_latency(BankRole::Activation)
            + self.bank_latency(BankRole::Error);
        let draws = self.requant_draws(crate::hw::model::TensorClass::Error, rows);
        let p = Phase::LocalError;
        let (c_addr, e_addr, h_addr) = (self.coef_addr(i), self.err_addr(i, 0), self.place[i].h);
        self.begin(i, p, "similarity_error");
        for k in 0..b {
            self.read_kept(i, k, p);
        }
        let (ue, ce) = (Unit::Error, Class::Error);
        self.access(i, ue, ce, p, Rw::Read, c_addr, c_words, Src::None);
        self.access(i, ue, ce, p, Rw::Read, e_addr, e_words, Src::None);
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.access(i, ua, ca, p, Rw::Read, h_addr, h_words, Src::None);
        self.add_macs(i, p, ((2 * b + 1) * rows) as u64);
        self.access(i, ue, ce, p, Rw::Write, e_addr, e_words, Src::E(i));
        self.core(i).lfsr_draws[p.index()] += draws;
        self.add_latency(i, p, lat);
        self.end();
    }

    /// Frees the outputs layer `i` kept for the batch (no access is counted).
    pub fn release_kept(&mut self, i: usize) {
        let (words, bytes) = self.kept_size(i);
        let kept = std::mem::take(&mut self.sim_layer(i).kept);
        let c = self.core(i);
        for k in kept {
            if k.in_dram {
                c.spill_bytes_now -= bytes;
            } else {
                c.stash_words_now -= words;
            }
        }
        if self.counts.iter().all(|c| c.spill_bytes_now == 0) {
            self.sched.spill_next = 0;
        }
    }
}
