//! Counted primitives of the learning rules beyond local errors and
//! backprop: fixed random feedback (feedback alignment, direct feedback
//! alignment, direct random target projection) and a learned local
//! classifier. Like the primitives of the parent module, each computes its
//! values through the datapath and counts its own accesses in closed form;
//! the formulas are in `docs/hw_model.md` ("Further rules").
//!
//! Where the tensors live:
//!
//! - the fixed feedback matrix of layer `i` ([`FeedbackKind::Fixed`]:
//!   `rows_i × cols_i`; [`FeedbackKind::Direct`]: `classes × cols_i`) is in
//!   the ROM of layer `i`'s core, stored like a classifier ROM
//!   ([`ClassifierRom`], scale `2^-round(log2 √cols_i)`); layer 0 has none;
//!   for a conv layer, feedback alignment's is a fixed random kernel of the
//!   layer's kernel shape (`out_c × in_c·k·k`, scale
//!   `2^-round(log2 √(in_c·k·k))`), used by a transposed convolution;
//! - a learned classifier ([`FeedbackKind::Learned`], `classes × rows_i` plus
//!   `classes` biases, weight format) is in the weight bank of hidden layer
//!   `i`'s core, counted as class `classifier`; its output error
//!   (`classes` values) sits in the error bank after the layer's error;
//! - the output error a hidden core receives for direct feedback sits in
//!   its error bank after the layer's error.

use super::{Chip, ChipError, Fill, Src, conv, host};
use crate::hw::counters::{Class, Phase, Rw, Unit};
use crate::hw::datapath::{Datapath, Matrix};
use crate::hw::model::{BankRole, RomStorage, TensorClass};
use crate::hw::rom::ClassifierRom;
use crate::hw::trace_sink::TraceSink;
use crate::net::spec::ConvGeom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a rule adds to the chip besides weights and the local classifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedbackKind {
    /// Feedback alignment: a fixed random `rows_i × cols_i` matrix `B_i`
    /// per layer `i ≥ 1` replaces `W_i` in the backward pass.
    Fixed,
    /// Direct feedback alignment: a fixed random `classes × cols_i` matrix
    /// `D_i` per layer `i ≥ 1` projects the output error onto layer `i`'s
    /// input (layer `i−1`'s output).
    Direct,
    /// A learned `classes × rows_i` classifier (and biases) per hidden layer,
    /// in SRAM.
    Learned,
    /// PEPITA: a fixed random `cols_0 × classes` matrix `F` in core 0's ROM
    /// that modulates the input with the output error, and each hidden
    /// layer's first-pass output kept in its stash bank.
    Modulated,
    /// GAIT-prop: every layer's input and every hidden layer's output kept
    /// in the stash bank until the target comes back down, a target buffer
    /// per hidden layer, and the perturbation `γ = 2^-gamma_shift`.
    Target {
        /// `γ = 2^-gamma_shift`.
        gamma_shift: u32,
    },
}

/// Per-layer state of the feedback tensors (empty when not used).
#[derive(Clone, Debug, Default)]
pub(super) struct FbLayer<V> {
    /// The fixed feedback ROM of this layer's core.
    rom: Option<ClassifierRom>,
    /// Its entries in the datapath's representation (classifier format).
    b: Vec<V>,
    /// Learned classifier, `classes × rows`, weight format.
    m: Vec<V>,
    /// Learned classifier biases, `classes`, weight format.
    mb: Vec<V>,
    /// The learned classifier's output error, or the received output error
    /// (`classes` values, error format).
    e_cls: Vec<V>,
    /// ROM word address of `rom`.
    rom_addr: u64,
    /// Weight-bank word address of the learned classifier.
    m_addr: u64,
    /// PEPITA: the first-pass output of a hidden layer (stash bank);
    /// GAIT-prop: a hidden layer's forward output (stash bank).
    h1: Vec<V>,
    /// GAIT-prop: the target a hidden layer receives from the layer above
    /// (activation bank, in its output buffer).
    tau: Vec<V>,
}

/// The feedback tensors of every layer.
#[derive(Clone, Debug, Default)]
pub(super) struct Feedback<V> {
    kind: Option<FeedbackKind>,
    layers: Vec<FbLayer<V>>,
    /// PEPITA: `F = 2^-shift · R`, `R` the ROM matrix (`shift` bits beyond
    /// the ROM's own scale, applied by the requantisation); GAIT-prop:
    /// `γ = 2^-shift`.
    shift: u32,
}

impl<V> Feedback<V> {
    /// Whether layer `j` keeps a `classes`-value vector after its error in
    /// the error bank (a learned classifier's error, or a received output
    /// error).
    pub(super) fn has_error_vector(&self, j: usize) -> bool {
        self.layers.get(j).is_some_and(|l| !l.e_cls.is_empty())
    }
}

/// Power-of-two exponent `k` of PEPITA's input-modulation matrix for `d`
/// inputs: `2^-k` nearest the standard deviation of the paper's
/// `0.05 · U(−√(6/d), √(6/d))`, which is `0.05·√(2/d)` (784 inputs: `k = 9`).
pub fn modulation_exponent(d: usize) -> u32 {
    let std = 0.05 * (2.0 / d.max(1) as f64).sqrt();
    (-std.log2()).round().max(0.0) as u32
}

/// Seed of layer `i`'s feedback tensors, derived from the run seed so that
/// the weights (drawn first, from the seed itself) do not change.
fn layer_seed(seed: u64, i: usize) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xfeed_bacc_0000_0000 ^ i as u64);
    rng.random()
}

impl<D: Datapath, T: TraceSink> Chip<D, T> {
    /// Adds the tensors of `kind` to a chip built for `seed`: generates the
    /// fixed feedback ROMs or initialises the learned classifiers
    /// (`U(±1/√rows)`, like a layer's weights), and checks that they fit
    /// (ROM capacity and classifier scale, or weight-bank capacity). The
    /// learned classifier's words are added to the weight bank's occupancy,
    /// and its output error (or the received output error) to the error
    /// bank's peak.
    pub fn attach_feedback(&mut self, kind: FeedbackKind, seed: u64) -> Result<(), ChipError> {
        let n = self.layers.len();
        let classes = self.net.classes();
        let cores = self.counts.len();
        let storage = self.model.rom.storage;
        let wb = self.bits.weight;
        let eb = self.bits.error;
        let wbank = self.model.bank(BankRole::Weight).clone();
        let ebank = self.model.bank(BankRole::Error).clone();
        // The banks' fill levels after the layers' own weights and
        // classifiers; kept only when every layer's tensors fit.
        let mut fill = self.fill.clone();
        let mut shift = 0;
        let sbank = self.model.bank(BankRole::Stash).clone();
        let ab = self.bits.activation;
        let mut stash_used = vec![0u64; cores];
        let mut fb = Vec::with_capacity(n);
        for i in 0..n {
            let (rows, cols) = (self.layers[i].rows, self.layers[i].cols);
            let core = self.core_of[i];
            let mut l = FbLayer::default();
            let weight = conv::weight_shape(&self.layers[i]);
            let a = host::FeedbackAlloc::of(kind, i, n, (cols, rows), weight, classes);
            let mut rng = ChaCha8Rng::seed_from_u64(layer_seed(seed, i));
            match kind {
                FeedbackKind::Fixed | FeedbackKind::Direct if i > 0 => {
                    // FA: the layer's weight shape (a conv layer's kernels,
                    // `out_c × in_c·k·k`); DFA: `classes × cols`.
                    let (src, units) = if kind == FeedbackKind::Fixed {
                        weight
                    } else {
                        (classes, cols)
                    };
                    let rom = ClassifierRom::generate_with(
                        storage,
                        src,
                        units,
                        rng.random(),
                        D::COMPUTES_VALUES,
                    );
                    let need = self.model.rom.words_for(rom.entries());
                    let rom_used;
                    (l.rom_addr, rom_used) = Fill::take(&mut fill.rom, core, need);
                    let geom = self.layers[i]
                        .conv_geom()
                        .filter(|_| kind == FeedbackKind::Fixed);
                    if let Some(g) = geom.filter(|_| rom_used > self.model.rom_limit_words()) {
                        return Err(ChipError::FeedbackKernelTooBig {
                            layer: i,
                            out_c: g.out_c,
                            in_c: g.in_c,
                            k: g.k,
                            bits: rom.entries() * storage.entry_bits().unwrap_or(0) as u64,
                            need: rom_used,
                            capacity: self.model.rom.capacity_words(),
                        });
                    }
                    if rom_used > self.model.rom_limit_words() {
                        return Err(ChipError::RomTooSmall {
                            layer: i,
                            matrix: "feedback matrix",
                            classes: src,
                            units,
                            need: rom_used,
                            capacity: self.model.rom.capacity_words(),
                        });
                    }
                    if rom.scale_shift > self.model.formats.classifier.frac {
                        return Err(ChipError::ClassifierScale {
                            layer: i,
                            shift: rom.scale_shift,
                            frac: self.model.formats.classifier.frac,
                        });
                    }
                    l.b = super::rom_values(&mut self.dp, &rom, a.rom_entries);
                    l.rom = Some(rom);
                    if a.e_cls > 0 {
                        l.e_cls = vec![D::V::default(); a.e_cls];
                        let c = &mut self.counts[core];
                        let need =
                            ebank.words_for(rows as u64, eb) + ebank.words_for(classes as u64, eb);
                        c.error_peak_words = c.error_peak_words.max(need);
                    }
                }
                FeedbackKind::Modulated => {
                    if i == 0 {
                        let rom = ClassifierRom::generate_with(
                            storage,
                            cols,
                            classes,
                            rng.random(),
                            D::COMPUTES_VALUES,
                        );
                        let need = self.model.rom.words_for(rom.entries());
                        let rom_used;
                        (l.rom_addr, rom_used) = Fill::take(&mut fill.rom, core, need);
                        if rom_used > self.model.rom_limit_words() {
                            return Err(ChipError::RomTooSmall {
                                layer: 0,
                                matrix: "input projection",
                                classes: cols,
                                units: classes,
                                need: rom_used,
                                capacity: self.model.rom.capacity_words(),
                            });
                        }
                        if rom.scale_shift > self.model.formats.classifier.frac {
                            return Err(ChipError::ClassifierScale {
                                layer: 0,
                                shift: rom.scale_shift,
                                frac: self.model.formats.classifier.frac,
                            });
                        }
                        shift = modulation_exponent(cols).saturating_sub(rom.scale_shift);
                        l.b = super::rom_values(&mut self.dp, &rom, a.rom_entries);
                        l.rom = Some(rom);
                        if a.e_cls > 0 {
                            l.e_cls = vec![D::V::default(); a.e_cls];
                            let c = &mut self.counts[core];
                            let need = ebank.words_for(rows as u64, eb)
                                + ebank.words_for(classes as u64, eb);
                            c.error_peak_words = c.error_peak_words.max(need);
                        }
                    }
                    if a.h1 > 0 {
                        l.h1 = vec![D::V::default(); a.h1];
                        stash_used[core] += sbank.words_for(rows as u64, ab);
                        if stash_used[core] > sbank.capacity_words() {
                            return Err(ChipError::StashFull {
                                layer: i,
                                samples: 1,
                                need: stash_used[core],
                                capacity: sbank.capacity_words(),
                            });
                        }
                    }
                }
                FeedbackKind::Target { gamma_shift } => {
                    shift = gamma_shift;
                    // The layer's input, and a hidden layer's output.
                    stash_used[core] += sbank.words_for(cols as u64, ab);
                    if a.h1 > 0 {
                        l.h1 = vec![D::V::default(); a.h1];
                        l.tau = vec![D::V::default(); a.tau];
                        stash_used[core] += sbank.words_for(rows as u64, ab);
                    }
                    if stash_used[core] > sbank.capacity_words() {
                        return Err(ChipError::StashFull {
                            layer: i,
                            samples: 1,
                            need: stash_used[core],
                            capacity: sbank.capacity_words(),
                        });
                    }
                }
                FeedbackKind::Learned if i + 1 < n => {
                    let need = wbank.words_for((classes * rows + classes) as u64, wb);
                    // Per core: after the weights of every layer it holds.
                    let w_used;
                    (l.m_addr, w_used) = Fill::take(&mut fill.weight, core, need);
                    if w_used > wbank.capacity_words() && !self.model.streams_weights() {
                        return Err(ChipError::WeightsDoNotFit {
                            layer: i,
                            rows: classes,
                            cols: rows,
                            need: w_used,
                            word_bits: wbank.word_bits,
                            capacity: wbank.capacity_words(),
                            capacity_bytes: wbank.capacity_bytes,
                        });
                    }
                    // Drawn once the classifier is known to fit.
                    let bound = 1.0 / (rows as f64).sqrt();
                    l.m = super::init_uniform(&mut self.dp, a.m, bound, &mut rng);
                    l.mb = super::init_uniform(&mut self.dp, a.mb, bound, &mut rng);
                    l.e_cls = vec![D::V::default(); a.e_cls];
                    let c = &mut self.counts[core];
                    let e = ebank.words_for(rows as u64, eb) + ebank.words_for(classes as u64, eb);
                    c.error_peak_words = c.error_peak_words.max(e);
                }
                _ => {}
            }
            fb.push(l);
        }
        self.fill = fill;
        self.fb = Feedback {
            kind: Some(kind),
            layers: fb,
            shift,
        };
        self.sync_weight_occupancy()?;
        self.check_error_bank()
    }

    /// ROM words read and generator steps of one use of `entries` entries.
    fn rom_use(&self, entries: u64) -> (u64, u64) {
        match self.model.rom.storage {
            RomStorage::Lfsr => (0, entries),
            _ => (self.model.rom.words_for(entries), 0),
        }
    }

    /// Error-bank word address of layer `i`'s feedback vector (after its error).
    fn fb_err_addr(&self, i: usize) -> u64 {
        self.err_addr(i, 0) + self.place[i].e_words
    }

    /// Sends the current output error from the last core to hidden layer
    /// `i`'s core (direct feedback alignment, layer `i ≥ 1`, below the
    /// output layer). Counts (phase `Backward`): `words(classes, e)` read at
    /// the last core, interconnect words × hops, the same words written at
    /// core `i`. On a shared core the error is already in the bank: nothing
    /// is counted.
    /// PEPITA sends it to layer 0's core (`i = 0`) the same way.
    pub fn send_output_error(&mut self, i: usize) {
        let last = self.layers.len() - 1;
        let ok = match self.fb.kind {
            Some(FeedbackKind::Direct) => i > 0 && i < last,
            Some(FeedbackKind::Modulated) => i == 0 && last > 0,
            _ => false,
        };
        assert!(ok, "send_output_error: not a receiving layer of this rule");
        let (src, dst) = (&self.layers[last].e, &mut self.fb.layers[i].e_cls);
        dst.copy_from_slice(src);
        if self.hops(last, i) == 0 {
            return;
        }
        let classes = self.net.classes();
        let eb = self.bits.error;
        let w = self.words(BankRole::Error, classes, eb);
        let p = Phase::Backward;
        let (ue, ce) = (Unit::Error, Class::Error);
        let (from, to) = (self.err_addr(last, self.err_slot), self.fb_err_addr(i));
        self.begin(last, p, "send_output_error");
        self.access(last, ue, ce, p, Rw::Read, from, w, Src::None);
        self.count_transfer(last, i, ce, p, classes, eb);
        self.access(i, ue, ce, p, Rw::Write, to, w, Src::None);
        self.end();
    }

    /// The error of layer `i−1` from layer `i`'s fixed feedback ROM `B`:
    /// `(Bᵀ s) ⊙ f'(xᵢ)`, with `s` = layer `i`'s error (feedback alignment,
    /// `B` is `rows × cols`) or the output error (direct feedback alignment,
    /// `B` is `classes × cols`; at the output layer the two coincide),
    /// delivered to core `i−1`'s error bank. Counts (phase `Backward`): the
    /// ROM read once (`words(len(s)·cols)` ROM words, or as many generator
    /// steps with `lfsr` storage), `s` read, `xᵢ` read (derivative),
    /// `len(s)·cols` MACs, latency `lat_e` (plus the hops), the transfer,
    /// the write at core `i−1` and, when errors round stochastically, `cols`
    /// LFSR draws. Feedback alignment at a conv layer runs a transposed
    /// convolution instead ([`Chip::conv_backward_fixed`]).
    pub fn backward_feedback(&mut self, i: usize) {
        assert!(i > 0, "backward_feedback: layer 0 has no upstream error");
        let last = self.layers.len() - 1;
        let direct = self.fb.kind == Some(FeedbackKind::Direct);
        if let Some(g) = self.layers[i].conv_geom().filter(|_| !direct) {
            return self.conv_backward_fixed(i, g);
        }
        let act = self.net.activation;
        let received = direct && i < last;
        {
            let (prev, l) = super::split_pair(&mut self.layers, i - 1);
            let f = &self.fb.layers[i];
            let s = if received { &f.e_cls } else { &l.e };
            self.dp
                .backprop(Matrix::Classifier, &f.b, s, &l.x, act, &mut prev.e);
        }
        let cols = self.layers[i].cols;
        let src = if direct {
            self.net.classes()
        } else {
            self.layers[i].rows
        };
        let entries = (src * cols) as u64;
        let (ab, eb) = (self.bits.activation, self.bits.error);
        let s_words = self.words(BankRole::Error, src, eb);
        let x_words = self.words(BankRole::Activation, cols, ab);
        let out_words = self.words(BankRole::Error, cols, eb);
        let (rom_words, steps) = self.rom_use(entries);
        let lat = self.bank_latency(BankRole::Error);
        let draws = self.requant_draws(TensorClass::Error, cols);
        let p = Phase::Backward;
        let s_addr = if received {
            self.fb_err_addr(i)
        } else {
            self.err_addr(i, self.err_slot)
        };
        let (rom_addr, x_addr) = (self.fb.layers[i].rom_addr, self.place[i].x);
        let out_addr = self.err_addr(i - 1, 0);
        let (ue, ce) = (Unit::Error, Class::Error);
        self.begin(i, p, "backward_feedback");
        let (ur, cr) = (Unit::Rom, Class::Classifier);
        self.access(i, ur, cr, p, Rw::Read, rom_addr, rom_words, Src::None);
        self.core(i).rom_generator_steps[p.index()] += steps;
        self.access(i, ue, ce, p, Rw::Read, s_addr, s_words, Src::None);
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.access(i, ua, ca, p, Rw::Read, x_addr, x_words, Src::None);
        self.add_macs(i, p, entries);
        self.core(i).lfsr_draws[p.index()] += draws;
        self.add_latency(i, p, lat);
        self.send_error_down(i, p, cols, out_addr, out_words);
        self.end();
    }

    /// Feedback alignment's backward step at conv layer `i > 0`: the error
    /// of layer `i−1`, the transposed convolution with the fixed random
    /// kernel `B` (ROM, the layer's kernel shape) of the conv-output error
    /// (from `eᵢ` and the pool tensor), masked by `f'(xᵢ)`, delivered to
    /// core `i−1`. Counted like backprop's conv backward with the kernel
    /// read from the ROM instead of the weight bank (phase `Backward`): ROM
    /// read `words(out_c·in_c·k·k)` (or as many generator steps), `eᵢ` and
    /// the pool tensor read, `xᵢ` read (derivative),
    /// `positions·out_c·in_c·k·k` MACs, latency `lat_e` (plus the hops), the
    /// transfer, the write at core `i−1` and, when errors round
    /// stochastically, `cols` LFSR draws.
    fn conv_backward_fixed(&mut self, i: usize, g: ConvGeom) {
        let act = self.net.activation;
        {
            let (prev, l) = super::split_pair(&mut self.layers, i - 1);
            let b = &self.fb.layers[i].b;
            if let Some(cs) = l.conv.as_deref_mut().filter(|_| D::COMPUTES_VALUES) {
                conv::unpool(&mut self.dp, cs, &l.e);
                let m = Matrix::Classifier;
                self.dp
                    .conv_backward(&g, m, b, &cs.delta, &l.x, act, &mut prev.e);
            }
        }
        let (rows, cols) = (self.layers[i].rows, self.layers[i].cols);
        let (p, kk, oc) = (g.positions(), g.patch_len(), g.out_c);
        let (ab, eb) = (self.bits.activation, self.bits.error);
        let e_words = self.words(BankRole::Error, rows, eb);
        let aux_words = self.pool_words(i, BankRole::Activation);
        let x_words = self.words(BankRole::Activation, cols, ab);
        let out_words = self.words(BankRole::Error, cols, eb);
        let (rom_words, steps) = self.rom_use((oc * kk) as u64);
        let lat = self.bank_latency(BankRole::Error);
        let draws = self.requant_draws(TensorClass::Error, cols);
        let ph = Phase::Backward;
        let pl = self.place[i];
        let (e_addr, out_addr) = (self.err_addr(i, self.err_slot), self.err_addr(i - 1, 0));
        let aux_addr = pl.h + self.words(BankRole::Activation, rows, ab);
        let (ue, ce) = (Unit::Error, Class::Error);
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.begin(i, ph, "backward_feedback");
        let (ur, cr) = (Unit::Rom, Class::Classifier);
        let rom_addr = self.fb.layers[i].rom_addr;
        self.access(i, ur, cr, ph, Rw::Read, rom_addr, rom_words, Src::None);
        self.core(i).rom_generator_steps[ph.index()] += steps;
        self.access(i, ue, ce, ph, Rw::Read, e_addr, e_words, Src::None);
        self.access(i, ua, ca, ph, Rw::Read, aux_addr, aux_words, Src::None);
        self.access(i, ua, ca, ph, Rw::Read, pl.x, x_words, Src::None);
        self.add_macs(i, ph, (p * oc * kk + g.scaled(cols)) as u64);
        self.core(i).lfsr_draws[ph.index()] += draws;
        self.add_latency(i, ph, lat);
        self.send_error_down(i, ph, cols, out_addr, out_words);
        self.end();
    }

    /// Direct random target projection at hidden layer `i`: its error from
    /// the label alone, `e = (Mᵀ(−y)) ⊙ f'(h)` with `M` its fixed random
    /// classifier (`classes × rows`, ROM) and `y` one-hot: the label's row of
    /// `M`, negated, masked by the derivative. Counts (phase `LocalError`):
    /// one ROM row read (`words(rows)` ROM words; with `lfsr` storage the
    /// generator runs through the whole matrix, `classes·rows` steps), `h`
    /// read (derivative), `rows` MACs, `e` written, latency `lat_a + lat_e`
    /// and, when errors round stochastically, `rows` LFSR draws.
    pub fn target_error(&mut self, i: usize) {
        let label = self.label;
        let act = self.net.activation;
        let rows = self.layers[i].rows;
        {
            let minus_one = &mut self.scratch[..1];
            minus_one[0] = D::V::default();
            self.dp.subtract_one_hot(minus_one, 0);
            let l = &mut self.layers[i];
            let row = &l.classifier[label * rows..(label + 1) * rows];
            self.dp.backprop(
                Matrix::Classifier,
                row,
                &self.scratch[..1],
                &l.h,
                act,
                &mut l.e,
            );
        }
        let classes = self.net.classes();
        let (ab, eb) = (self.bits.activation, self.bits.error);
        let h_words = self.words(BankRole::Activation, rows, ab);
        let e_words = self.words(BankRole::Error, rows, eb);
        let (rom_words, steps) = match self.model.rom.storage {
            RomStorage::Lfsr => (0, (classes * rows) as u64),
            _ => (self.model.rom.words_for(rows as u64), 0),
        };
        let lat = self.bank_latency(BankRole::Activation) + self.bank_latency(BankRole::Error);
        let draws = self.requant_draws(TensorClass::Error, rows);
        let p = Phase::LocalError;
        let pl = self.place[i];
        let e_addr = self.err_addr(i, 0);
        self.begin(i, p, "target_error");
        let (ur, cr) = (Unit::Rom, Class::Classifier);
        let row_addr = pl.rom + self.model.rom.words_for((label * rows) as u64);
        self.access(i, ur, cr, p, Rw::Read, row_addr, rom_words, Src::None);
        self.core(i).rom_generator_steps[p.index()] += steps;
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.access(i, ua, ca, p, Rw::Read, pl.h, h_words, Src::None);
        self.add_macs(i, p, rows as u64);
        let (ue, ce) = (Unit::Error, Class::Error);
        self.access(i, ue, ce, p, Rw::Write, e_addr, e_words, Src::E(i));
        self.core(i).lfsr_draws[p.index()] += draws;
        self.add_latency(i, p, lat);
        self.end();
    }

    /// Local error of hidden layer `i` from its learned classifier `M`, `c`
    /// (weight bank): `ŷ = M h + c`, `e_c = ŷ − y` (kept for
    /// [`Chip::update_classifier`]), `e = (Mᵀ e_c) ⊙ f'(h)`. Counts (phase
    /// `LocalError`): `h` read twice, `words(classes·rows + classes, w)`
    /// classifier words read for `ŷ` and `words(classes·rows, w)` for `Mᵀ`
    /// (weight bank, class `classifier`), `e_c` written and read back
    /// (`words(classes, e)` each), `2·classes·rows` MACs, `e` written,
    /// latency `lat_w + lat_a + lat_e` and, when errors round
    /// stochastically, `classes + rows` LFSR draws.
    pub fn learned_error(&mut self, i: usize) {
        let label = self.label;
        let act = self.net.activation;
        {
            let l = &mut self.layers[i];
            let f = &mut self.fb.layers[i];
            self.dp.classify_learned(&f.m, &f.mb, &l.h, &mut f.e_cls);
            self.dp.subtract_one_hot(&mut f.e_cls, label);
            self.dp
                .backprop(Matrix::Weights, &f.m, &f.e_cls, &l.h, act, &mut l.e);
        }
        let rows = self.layers[i].rows;
        let classes = self.net.classes();
        let (ab, eb, wb) = (self.bits.activation, self.bits.error, self.bits.weight);
        let h_words = self.words(BankRole::Activation, rows, ab);
        let e_words = self.words(BankRole::Error, rows, eb);
        let c_words = self.words(BankRole::Error, classes, eb);
        let mc_words = self.words(BankRole::Weight, classes * rows + classes, wb);
        let m_words = self.words(BankRole::Weight, classes * rows, wb);
        let lat = self.bank_latency(BankRole::Weight)
            + self.bank_latency(BankRole::Activation)
            + self.bank_latency(BankRole::Error);
        let draws = self.requant_draws(TensorClass::Error, classes + rows);
        let p = Phase::LocalError;
        let pl = self.place[i];
        let (m_addr, c_addr, e_addr) = (self.fb.layers[i].m_addr, self.fb_err_addr(i), pl.e);
        let (ua, ca) = (Unit::Activation, Class::Activation);
        let (uw, cc) = (Unit::Weight, Class::Classifier);
        let (ue, ce) = (Unit::Error, Class::Error);
        self.begin(i, p, "learned_error");
        self.access(i, ua, ca, p, Rw::Read, pl.h, h_words, Src::None);
        self.access(i, uw, cc, p, Rw::Read, m_addr, mc_words, Src::None);
        self.access(i, ue, ce, p, Rw::Write, c_addr, c_words, Src::None);
        self.access(i, ue, ce, p, Rw::Read, c_addr, c_words, Src::None);
        self.access(i, uw, cc, p, Rw::Read, m_addr, m_words, Src::None);
        self.access(i, ua, ca, p, Rw::Read, pl.h, h_words, Src::None);
        self.add_macs(i, p, 2 * (classes * rows) as u64);
        self.access(i, ue, ce, p, Rw::Write, e_addr, e_words, Src::E(i));
        self.core(i).lfsr_draws[p.index()] += draws;
        self.add_latency(i, p, lat);
        self.end();
    }

    /// SGD step of hidden layer `i`'s learned classifier from the output
    /// error [`Chip::learned_error`] kept: `M −= lr·e_c hᵀ`, `c −= lr·e_c`.
    /// Counts (phase `Update`): `e_c` read (`words(classes, e)`), `h` read,
    /// `words(classes·rows + classes, w)` classifier words read and written
    /// (weight bank, class `classifier`), `classes·(rows+1)` MACs, latency
    /// `2·lat_w` and the LFSR draws of an update of a `classes × rows` layer.
    pub fn update_classifier(&mut self, i: usize) {
        {
            let l = &self.layers[i];
            let f = &mut self.fb.layers[i];
            self.dp.update(&mut f.m, &mut f.mb, &f.e_cls, &l.h);
        }
        let rows = self.layers[i].rows;
        let classes = self.net.classes();
        let (ab, eb, wb) = (self.bits.activation, self.bits.error, self.bits.weight);
        let h_words = self.words(BankRole::Activation, rows, ab);
        let c_words = self.words(BankRole::Error, classes, eb);
        let mc_words = self.words(BankRole::Weight, classes * rows + classes, wb);
        let draws = self.update_draws(classes, rows);
        let lat = 2 * self.bank_latency(BankRole::Weight);
        let p = Phase::Update;
        let (m_addr, c_addr, h_addr) = (
            self.fb.layers[i].m_addr,
            self.fb_err_addr(i),
            self.place[i].h,
        );
        let (uw, cc) = (Unit::Weight, Class::Classifier);
        self.begin(i, p, "update_classifier");
        self.access(
            i,
            Unit::Error,
            Class::Error,
            p,
            Rw::Read,
            c_addr,
            c_words,
            Src::None,
        );
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.access(i, ua, ca, p, Rw::Read, h_addr, h_words, Src::None);
        self.access(i, uw, cc, p, Rw::Read, m_addr, mc_words, Src::None);
        self.access(i, uw, cc, p, Rw::Write, m_addr, mc_words, Src::None);
        self.add_macs(i, p, (classes * (rows + 1)) as u64);
        self.core(i).lfsr_draws[p.index()] += draws;
        self.add_latency(i, p, lat);
        self.end();
    }

    /// The learned classifier of hidden layer `i` as real values (`classes ×
    /// rows` row-major, then `classes` biases); empty for other layers and rules.
    pub fn learned_classifier(&self, i: usize) -> (Vec<f64>, Vec<f64>) {
        let f = &self.fb.layers.get(i);
        let dec = |v: &Vec<D::V>| {
            v.iter()
                .map(|&x| self.dp.decode_real(TensorClass::Weight, x))
                .collect()
        };
        match f {
            Some(f) => (dec(&f.m), dec(&f.mb)),
            None => (Vec::new(), Vec::new()),
        }
    }

    /// The fixed feedback matrix of layer `i` as real values (row-major), if any.
    pub fn feedback_matrix(&self, i: usize) -> Option<Vec<f64>> {
        let rom = self.fb.layers.get(i)?.rom.as_ref()?;
        Some((0..rom.entries() as usize).map(|k| rom.real(k)).collect())
    }
}

impl<D: Datapath, T: TraceSink> Chip<D, T> {
    /// PEPITA: keeps hidden layer `i`'s first-pass output `h_i` in its stash
    /// bank until the modulated pass. Counts (phase `Forward`): stash write
    /// `words(rows, a, W_s)`, latency `λ_s`; the stash occupancy rises by
    /// those words (released by [`Chip::pepita_error`]).
    pub fn stash_output(&mut self, i: usize) {
        let f = &mut self.fb.layers[i];
        f.h1.copy_from_slice(&self.layers[i].h);
        let rows = self.layers[i].rows;
        let words = self.words(BankRole::Stash, rows, self.bits.activation);
        let p = Phase::Forward;
        let lat = self.bank_latency(BankRole::Stash);
        let addr = self.core(i).stash_words_now;
        self.begin(i, p, "stash_output");
        let (us, ca) = (Unit::Stash, Class::Activation);
        self.access(i, us, ca, p, Rw::Write, addr, words, Src::H(i));
        let c = self.core(i);
        c.stash_words_now += words;
        c.stash_peak_words = c.stash_peak_words.max(c.stash_words_now);
        self.add_latency(i, p, lat);
        self.end();
    }

    /// PEPITA's input modulation at layer 0: `x_0 ← x_0 − F e`, `F =
    /// 2^-shift·R` (`cols_0 × classes`, ROM), `e` the output error (sent to
    /// core 0, or already there for a one-layer network). Counts (phase
    /// `Backward`): ROM read of `cols_0·classes` entries, error read
    /// `words(classes, e, W_e)`, activation read and write `words(cols_0, a,
    /// W_a)`, `cols_0·classes` MACs, latency `λ_a + λ_e` and, when
    /// activations round stochastically, `cols_0` LFSR draws.
    pub fn modulate_input(&mut self) {
        let last = self.layers.len() - 1;
        let shift = self.fb.shift;
        {
            let l0 = &mut self.layers[0];
            let f0 = &self.fb.layers[0];
            let e = if last == 0 { &l0.e } else { &f0.e_cls };
            self.dp.modulate(&f0.b, e, shift, &mut l0.x);
        }
        let cols = self.layers[0].cols;
        let classes = self.net.classes();
        let (ab, eb) = (self.bits.activation, self.bits.error);
        let x_words = self.words(BankRole::Activation, cols, ab);
        let e_words = self.words(BankRole::Error, classes, eb);
        let (rom_words, steps) = self.rom_use((cols * classes) as u64);
        let lat = self.bank_latency(BankRole::Activation) + self.bank_latency(BankRole::Error);
        let draws = self.requant_draws(TensorClass::Activation, cols);
        let p = Phase::Backward;
        let e_addr = if last == 0 {
            self.err_addr(0, self.err_slot)
        } else {
            self.fb_err_addr(0)
        };
        let (rom_addr, x_addr) = (self.fb.layers[0].rom_addr, self.place[0].x);
        self.begin(0, p, "modulate_input");
        let (ur, cr) = (Unit::Rom, Class::Classifier);
        self.access(0, ur, cr, p, Rw::Read, rom_addr, rom_words, Src::None);
        self.core(0).rom_generator_steps[p.index()] += steps;
        self.access(
            0,
            Unit::Error,
            Class::Error,
            p,
            Rw::Read,
            e_addr,
            e_words,
            Src::None,
        );
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.access(0, ua, ca, p, Rw::Read, x_addr, x_words, Src::None);
        self.access(0, ua, ca, p, Rw::Write, x_addr, x_words, Src::X(0));
        self.add_macs(0, p, (cols * classes) as u64);
        self.core(0).lfsr_draws[p.index()] += draws;
        self.add_latency(0, p, lat);
        self.end();
    }

    /// PEPITA's error of hidden layer `i` after its modulated pass: `e =
    /// h¹ − h` (first-pass output from the stash minus the modulated
    /// output), in error format. Counts (phase `Backward`): stash read
    /// `words(rows, a, W_s)` (then released), activation read `words(rows,
    /// a, W_a)`, error write `words(rows, e, W_e)`, latency `λ_s + λ_e` and,
    /// when errors round stochastically, `rows` LFSR draws.
    pub fn pepita_error(&mut self, i: usize) {
        {
            let l = &mut self.layers[i];
            self.dp
                .difference_to_error(&self.fb.layers[i].h1, &l.h, &mut l.e);
        }
        let rows = self.layers[i].rows;
        let (ab, eb) = (self.bits.activation, self.bits.error);
        let s_words = self.words(BankRole::Stash, rows, ab);
        let h_words = self.words(BankRole::Activation, rows, ab);
        let e_words = self.words(BankRole::Error, rows, eb);
        let lat = self.bank_latency(BankRole::Stash) + self.bank_latency(BankRole::Error);
        let draws = self.requant_draws(TensorClass::Error, rows);
        let p = Phase::Backward;
        let (h_addr, e_addr) = (self.place[i].h, self.err_addr(i, 0));
        let s_addr = self.core(i).stash_words_now.saturating_sub(s_words);
        self.begin(i, p, "pepita_error");
        let (us, ca) = (Unit::Stash, Class::Activation);
        self.access(i, us, ca, p, Rw::Read, s_addr, s_words, Src::None);
        self.access(
            i,
            Unit::Activation,
            ca,
            p,
            Rw::Read,
            h_addr,
            h_words,
            Src::None,
        );
        self.access(
            i,
            Unit::Error,
            Class::Error,
            p,
            Rw::Write,
            e_addr,
            e_words,
            Src::E(i),
        );
        let c = self.core(i);
        c.stash_words_now -= s_words;
        c.lfsr_draws[p.index()] += draws;
        self.add_latency(i, p, lat);
        self.end();
    }
}

impl<D: Datapath, T: TraceSink> Chip<D, T> {
    /// GAIT-prop's step at layer `i`, run from the output layer down
    /// (`docs/rules.md`, "gaitprop"): from the layer's forward output `h`
    /// (the stash, or for the output layer its activation bank) and the
    /// target `τ` it received (the one-hot label for the output layer),
    /// the incremental target `t = h + γ·f'²·(τ − h)` and the error `e =
    /// γ^-k·(h − t)/f'` (`k` = layers from the top, 1 at the output) into
    /// the error bank; then, for `i > 0`, the target of layer `i − 1`,
    /// `x + Wᵀ(f⁻¹(t) − f⁻¹(h))` (the inverse of the layer realised by its
    /// transpose, exact for orthogonal `W`), sent to core `i − 1`'s
    /// activation bank. Must run before `update(i)` (it reads the old `W`).
    ///
    /// Counts (phase `Backward`): activation read `words(r, a, W_a)` (`τ`
    /// of a hidden layer, `h` of the output layer); a hidden layer's `h`
    /// read from the stash `words(r, a, W_s)` and released; error write
    /// `words(r, e, W_e)`; `r` MACs; draws `(activation, r) + (error, r)`;
    /// and for `i > 0`: weight read `words(r·c, w, W_w)`, `x` read
    /// `words(c, a, W_a)`, `r·c` MACs, draws `(activation, c)`, the link
    /// transfer of `c` activations (one hop) and their write at core `i −
    /// 1`. Latency `λ_e`, plus `λ_s` (hidden) or `λ_a` (output), plus `λ_w`
    /// for `i > 0`.
    pub fn gait_step(&mut self, i: usize) {
        let n = self.layers.len();
        let hidden = i + 1 < n;
        let g = self.fb.shift;
        let k = (n - i) as u32;
        let (rows, cols) = (self.layers[i].rows, self.layers[i].cols);
        let mut t = vec![D::V::default(); rows];
        {
            let l = &mut self.layers[i];
            let f = &self.fb.layers[i];
            if hidden {
                self.dp
                    .gait_error(true, g, k, &f.h1, &f.tau, &mut t, &mut l.e);
            } else {
                let mut y = vec![D::V::default(); rows];
                y[self.label] = self.dp.encode_real(TensorClass::Activation, 1.0);
                self.dp.gait_error(false, g, k, &l.h, &y, &mut t, &mut l.e);
            }
        }
        if i > 0 {
            let (below, l) = super::split_pair(&mut self.layers, i - 1);
            let (fb_below, fb_here) = self.fb.layers.split_at_mut(i);
            let h = if hidden { &fb_here[0].h1 } else { &l.h };
            let out = &mut fb_below[i - 1].tau;
            self.dp.gait_inverse(hidden, &l.w, &t, h, &l.x, out);
            below.h.copy_from_slice(out);
        }
        let (ab, eb, wb) = (self.bits.activation, self.bits.error, self.bits.weight);
        let p = Phase::Backward;
        let (ua, ca) = (Unit::Activation, Class::Activation);
        let pl = self.place[i];
        let mut lat = self.bank_latency(BankRole::Error);
        self.begin(i, p, "gait_step");
        if hidden {
            let s_words = self.words(BankRole::Stash, rows, ab);
            let s_addr = self.core(i).stash_words_now.saturating_sub(s_words);
            let (us, cs) = (Unit::Stash, Class::Activation);
            self.access(i, us, cs, p, Rw::Read, s_addr, s_words, Src::None);
            self.core(i).stash_words_now -= s_words;
            lat += self.bank_latency(BankRole::Stash);
        } else {
            lat += self.bank_latency(BankRole::Activation);
        }
        // Hidden: the received target; output: the forward output.
        let h_words = self.words(BankRole::Activation, rows, ab);
        self.access(i, ua, ca, p, Rw::Read, pl.h, h_words, Src::None);
        let e_words = self.words(BankRole::Error, rows, eb);
        let e_addr = self.err_addr(i, 0);
        let (ue, ce) = (Unit::Error, Class::Error);
        self.access(i, ue, ce, p, Rw::Write, e_addr, e_words, Src::E(i));
        let mut macs = rows as u64;
        let mut draws = self.requant_draws(TensorClass::Activation, rows)
            + self.requant_draws(TensorClass::Error, rows);
        if i > 0 {
            let w_words = self.words(BankRole::Weight, rows * cols, wb);
            let x_words = self.words(BankRole::Activation, cols, ab);
            let (uw, cw) = (Unit::Weight, Class::Weight);
            if !self.fused_read(p, true) {
                self.access(i, uw, cw, p, Rw::Read, pl.weight, w_words, Src::None);
            }
            self.access(i, ua, ca, p, Rw::Read, pl.x, x_words, Src::None);
            macs += (rows * cols) as u64;
            draws += self.requant_draws(TensorClass::Activation, cols);
            lat += self.bank_latency(BankRole::Weight);
        }
        self.add_macs(i, p, macs);
        self.core(i).lfsr_draws[p.index()] += draws;
        self.add_latency(i, p, lat);
        if i > 0 {
            self.count_transfer(i, i - 1, ca, p, cols, ab);
            let words = self.words(BankRole::Activation, cols, ab);
            let to = self.place[i - 1].h;
            self.access(i - 1, ua, ca, p, Rw::Write, to, words, Src::H(i - 1));
        }
        self.end();
    }
}
