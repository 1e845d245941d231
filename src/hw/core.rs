//! The chip and its counted primitives. Each primitive computes its values
//! through the [`Datapath`] *and* counts every memory access, MAC, DRAM byte
//! and interconnect word it makes, from the shapes it works on (one closed
//! form per call, never per element). Learning rules are written only against
//! these primitives, so their traffic cannot drift from what they computed.
//!
//! Dataflow of one core (layer `i`, `rows × cols` weights, row-major):
//! the input `x` sits in the activation bank; a forward mat-vec reads `x`
//! once into the core's input registers, streams the weights and biases once,
//! and writes the output `h` back to the activation bank. Word counts use the
//! bank's packing (`words_for`). The exact formulas are in `docs/hw_model.md`.

use super::counters::{Class, CoreCounts, Phase, Rw, Unit};
use super::datapath::{Activation, Datapath, Matrix};
use super::model::{BankRole, HwModel, Mapping, RomStorage, TensorClass};
use super::rom::ClassifierRom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A network that cannot be mapped onto the modelled chip.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChipError {
    /// Fewer than two sizes, or a zero size.
    #[error("layers = {sizes}: need at least an input and an output size, all nonzero")]
    Shape {
        /// The sizes as given.
        sizes: String,
    },
    /// A layer's weights and biases exceed the weight bank.
    #[error(
        "layer {layer} ({rows}x{cols}) needs {need} words of {word_bits} bits for weights and biases, but sram.weight holds {capacity} words ({capacity_bytes} bytes)"
    )]
    WeightsDoNotFit {
        /// Layer index (0-based).
        layer: usize,
        /// Outputs.
        rows: usize,
        /// Inputs.
        cols: usize,
        /// Words needed.
        need: u64,
        /// Bank word width.
        word_bits: u32,
        /// Bank capacity in words.
        capacity: u64,
        /// Bank capacity in bytes.
        capacity_bytes: u64,
    },
    /// A layer's working vectors exceed its activation or error bank.
    #[error(
        "layer {layer} needs {need} words of sram.{bank} for one sample's vectors, but it holds {capacity} words"
    )]
    BufferDoesNotFit {
        /// Layer index.
        layer: usize,
        /// The bank role.
        bank: &'static str,
        /// Words needed.
        need: u64,
        /// Capacity in words.
        capacity: u64,
    },
    /// A layer's classifier exceeds the ROM.
    #[error(
        "layer {layer}: its {classes}x{units} classifier needs {need} ROM words, but rom holds {capacity} words"
    )]
    RomTooSmall {
        /// Layer index.
        layer: usize,
        /// Classes.
        classes: usize,
        /// Units.
        units: usize,
        /// Words needed.
        need: u64,
        /// ROM capacity in words.
        capacity: u64,
    },
    /// The classifier format cannot represent the classifier's scale.
    #[error(
        "layer {layer}: classifier entries of magnitude 2^-{shift} need formats.classifier.frac >= {shift} (it is {frac})"
    )]
    ClassifierScale {
        /// Layer index.
        layer: usize,
        /// Required fractional bits.
        shift: u32,
        /// The format's fractional bits.
        frac: u32,
    },
    /// The stash exceeds its SRAM bank and spilling was not allowed.
    #[error(
        "layer {layer}: the activation stash needs {need} words but sram.stash holds {capacity} words; use the spill or recompute policy, a smaller batch, or a larger stash bank"
    )]
    StashFull {
        /// Layer index.
        layer: usize,
        /// Words that would be held.
        need: u64,
        /// Capacity in words.
        capacity: u64,
    },
}

/// Shape of a dense network: `sizes[0]` inputs, then each layer's outputs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetSpec {
    /// Layer sizes, input first, e.g. `[784, 1024, 1024, 10]`.
    pub sizes: Vec<usize>,
    /// Hidden-layer activation (the output layer is linear).
    pub activation: Activation,
}

impl NetSpec {
    /// Number of weight layers.
    pub fn layers(&self) -> usize {
        self.sizes.len().saturating_sub(1)
    }
    /// Number of classes (the output size).
    pub fn classes(&self) -> usize {
        self.sizes.last().copied().unwrap_or(0)
    }
}

/// One stashed vector: its values and where it is held.
#[derive(Clone, Debug)]
struct StashSlot<V> {
    values: Vec<V>,
    in_dram: bool,
}

/// State of one layer's core: parameters and buffers.
pub struct Layer<V> {
    /// Outputs.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// Weights, row-major `rows × cols`.
    pub w: Vec<V>,
    /// Biases, `rows`.
    pub b: Vec<V>,
    /// Fixed random classifier (hidden layers).
    pub rom: Option<ClassifierRom>,
    /// Classifier entries in the datapath's representation, row-major.
    pub classifier: Vec<V>,
    /// Input buffer (activation bank).
    pub x: Vec<V>,
    /// Output buffer (activation bank).
    pub h: Vec<V>,
    /// This layer's error (error bank).
    pub e: Vec<V>,
    stash: Vec<StashSlot<V>>,
    saved_errors: Vec<Vec<V>>,
}

/// The modelled chip: the model, the datapath, every layer's core state and
/// the counters.
pub struct Chip<D: Datapath> {
    model: HwModel,
    /// The datapath computing the values.
    pub dp: D,
    net: NetSpec,
    /// Per-layer state.
    pub layers: Vec<Layer<D::V>>,
    counts: Vec<CoreCounts>,
    label: usize,
    scratch: Vec<D::V>,
    bits: ClassBits,
}

/// Element widths of the tensor classes, in bits (from the model, also used
/// in `f32` mode so that both arithmetics count the same words).
#[derive(Clone, Copy, Debug)]
struct ClassBits {
    weight: u32,
    activation: u32,
    error: u32,
}

/// Width of a label index on the interconnect, in bits.
const LABEL_BITS: u32 = 16;

impl<D: Datapath> Chip<D> {
    /// Maps `net` onto `model`, initialising weights (uniform in
    /// `±1/sqrt(fan_in)`, as PyTorch's `nn.Linear`) and classifier ROMs from
    /// `seed`. Fails if weights or classifiers do not fit.
    pub fn new(model: &HwModel, net: &NetSpec, dp: D, seed: u64) -> Result<Self, ChipError> {
        Self::build(model, net, dp, seed, true)
    }

    /// As [`Chip::new`] for rules that use no classifier (backprop): the ROM
    /// is left empty and not checked; the weights are the same as `new`'s
    /// for the same seed. `local_error` must not be called on such a chip.
    pub fn without_classifiers(
        model: &HwModel,
        net: &NetSpec,
        dp: D,
        seed: u64,
    ) -> Result<Self, ChipError> {
        Self::build(model, net, dp, seed, false)
    }

    fn build(
        model: &HwModel,
        net: &NetSpec,
        mut dp: D,
        seed: u64,
        classifiers: bool,
    ) -> Result<Self, ChipError> {
        if net.sizes.len() < 2 || net.sizes.contains(&0) {
            return Err(ChipError::Shape {
                sizes: format!("{:?}", net.sizes),
            });
        }
        let f = &model.formats;
        let bits = ClassBits {
            weight: f.weight.bits,
            activation: f.activation.bits,
            error: f.error.bits,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let classes = net.classes();
        let n_layers = net.layers();
        let wbank = model.bank(BankRole::Weight);
        let mut layers = Vec::with_capacity(n_layers);
        let mut shared_weight_words = 0u64;
        let mut shared_rom_words = 0u64;
        for i in 0..n_layers {
            let (cols, rows) = (net.sizes[i], net.sizes[i + 1]);
            let need = wbank.words_for((rows * cols + rows) as u64, bits.weight);
            shared_weight_words += need;
            let need_in_bank = match model.mapping {
                Mapping::CorePerLayer => need,
                Mapping::SharedCore => shared_weight_words,
            };
            if need_in_bank > wbank.capacity_words() {
                return Err(ChipError::WeightsDoNotFit {
                    layer: i,
                    rows,
                    cols,
                    need: need_in_bank,
                    word_bits: wbank.word_bits,
                    capacity: wbank.capacity_words(),
                    capacity_bytes: wbank.capacity_bytes,
                });
            }
            let bound = 1.0 / (cols as f64).sqrt();
            let w = (0..rows * cols)
                .map(|_| dp.encode_real(TensorClass::Weight, rng.random_range(-bound..bound)))
                .collect();
            let b = (0..rows)
                .map(|_| dp.encode_real(TensorClass::Weight, rng.random_range(-bound..bound)))
                .collect();
            let hidden = i + 1 < n_layers && classifiers;
            let rom_seed: u64 = rng.random();
            let (rom, classifier) = if hidden {
                let rom = ClassifierRom::generate(model.rom.storage, classes, rows, rom_seed);
                let own = model.rom.words_for(rom.entries());
                shared_rom_words += own;
                // A shared core's ROM holds every hidden layer's classifier.
                let need = match model.mapping {
                    Mapping::CorePerLayer => own,
                    Mapping::SharedCore => shared_rom_words,
                };
                if need > model.rom.capacity_words() {
                    return Err(ChipError::RomTooSmall {
                        layer: i,
                        classes,
                        units: rows,
                        need,
                        capacity: model.rom.capacity_words(),
                    });
                }
                if rom.scale_shift > f.classifier.frac {
                    return Err(ChipError::ClassifierScale {
                        layer: i,
                        shift: rom.scale_shift,
                        frac: f.classifier.frac,
                    });
                }
                let vals = (0..rom.entries() as usize)
                    .map(|k| dp.encode_real(TensorClass::Classifier, rom.real(k)))
                    .collect();
                (Some(rom), vals)
            } else {
                (None, Vec::new())
            };
            layers.push(Layer {
                rows,
                cols,
                w,
                b,
                rom,
                classifier,
                x: vec![D::V::default(); cols],
                h: vec![D::V::default(); rows],
                e: vec![D::V::default(); rows],
                stash: Vec::new(),
                saved_errors: Vec::new(),
            });
        }
        let cores = model.mapping.cores(n_layers as u32) as usize;
        let mut counts = vec![CoreCounts::default(); cores];
        let abank = model.bank(BankRole::Activation);
        let ebank = model.bank(BankRole::Error);
        for (i, l) in layers.iter().enumerate() {
            let c = &mut counts[core_index(model.mapping, i)];
            c.weight_words += wbank.words_for((l.rows * l.cols + l.rows) as u64, bits.weight);
            let act = abank.words_for(l.cols as u64, bits.activation)
                + abank.words_for(l.rows as u64, bits.activation);
            c.activation_peak_words = c.activation_peak_words.max(act);
            c.error_peak_words = c
                .error_peak_words
                .max(ebank.words_for(l.rows as u64, bits.error));
            // A layer's input and output must fit its activation bank, and
            // its error (and the upstream error it receives) the error bank.
            let err = ebank.words_for(l.rows.max(l.cols) as u64, bits.error);
            for (bank, role, need) in [(abank, "activation", act), (ebank, "error", err)] {
                if need > bank.capacity_words() {
                    return Err(ChipError::BufferDoesNotFit {
                        layer: i,
                        bank: role,
                        need,
                        capacity: bank.capacity_words(),
                    });
                }
            }
        }
        Ok(Chip {
            model: model.clone(),
            dp,
            net: net.clone(),
            layers,
            counts,
            label: 0,
            scratch: vec![D::V::default(); classes],
            bits,
        })
    }

    /// The hardware model.
    pub fn model(&self) -> &HwModel {
        &self.model
    }
    /// The network shape.
    pub fn net(&self) -> &NetSpec {
        &self.net
    }
    /// Number of weight layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
    /// Counters, one entry per core.
    pub fn counts(&self) -> &[CoreCounts] {
        &self.counts
    }
    /// Resets every counter, keeping static occupancy (weights, buffers).
    pub fn reset_counts(&mut self) {
        for c in &mut self.counts {
            *c = CoreCounts {
                weight_words: c.weight_words,
                activation_peak_words: c.activation_peak_words,
                error_peak_words: c.error_peak_words,
                ..CoreCounts::default()
            };
        }
    }

    fn core(&mut self, layer: usize) -> &mut CoreCounts {
        let i = core_index(self.model.mapping, layer);
        &mut self.counts[i]
    }

    fn words(&self, role: BankRole, elements: usize, bits: u32) -> u64 {
        self.model.bank(role).words_for(elements as u64, bits)
    }

    fn bank_latency(&self, role: BankRole) -> u64 {
        self.model.bank(role).latency_cycles as u64
    }

    /// Hops between the cores of two layers (0 on a shared core).
    fn hops(&self, from: usize, to: usize) -> u64 {
        match self.model.mapping {
            Mapping::CorePerLayer => from.abs_diff(to) as u64,
            Mapping::SharedCore => 0,
        }
    }

    fn count_dram(&mut self, layer: usize, phase: Phase, rw: Rw, bytes: u64) {
        let bursts = self.model.dram.bursts_for(bytes);
        let lat = self.model.dram.latency_cycles as u64;
        let c = self.core(layer);
        c.dram_bytes[phase.index()][rw.index()] += bytes;
        c.dram_bursts[phase.index()][rw.index()] += bursts;
        c.latency_cycles[phase.index()] += lat;
    }

    /// Sends `elements` values of `bits` from layer `from`'s core to layer
    /// `to`'s core: interconnect words × hops (nothing on a shared core).
    fn count_transfer(
        &mut self,
        from: usize,
        to: usize,
        class: Class,
        phase: Phase,
        elements: usize,
        bits: u32,
    ) {
        let hops = self.hops(from, to);
        if hops == 0 {
            return;
        }
        let words = self.model.interconnect.words_for(elements as u64, bits);
        let lat = hops * self.model.interconnect.hop_latency_cycles as u64;
        let c = self.core(from);
        c.noc_words[phase.index()][class.index()] += words;
        c.noc_word_hops[phase.index()] += words * hops;
        c.latency_cycles[phase.index()] += lat;
    }

    /// Loads a sample's pixels from DRAM into layer 0's input buffer.
    /// Counts: DRAM read of `ceil(n·a/8)` bytes, activation-bank write.
    pub fn load_input(&mut self, pixels: &[u8]) {
        let n = self.layers[0].cols;
        self.dp.load_pixels(pixels, &mut self.layers[0].x);
        let bytes = (n as u64 * self.bits.activation as u64).div_ceil(8);
        self.count_dram(0, Phase::Forward, Rw::Read, bytes);
        let w = self.words(BankRole::Activation, n, self.bits.activation);
        self.core(0).add_words(
            Unit::Activation,
            Class::Activation,
            Phase::Forward,
            Rw::Write,
            w,
        );
    }

    /// Delivers the sample's label to the cores of `layers` (one interconnect
    /// word per receiving core, one hop from the host link). A core receives
    /// it once however many of its layers are listed (a shared core: once).
    pub fn broadcast_label(&mut self, label: usize, layers: impl Iterator<Item = usize>) {
        self.label = label;
        let mapping = self.model.mapping;
        let mut cores: Vec<usize> = layers.map(|l| core_index(mapping, l)).collect();
        cores.sort_unstable();
        cores.dedup();
        let words = self.model.interconnect.words_for(1, LABEL_BITS);
        for core in cores {
            let c = &mut self.counts[core];
            c.noc_words[Phase::Forward.index()][Class::Label.index()] += words;
            c.noc_word_hops[Phase::Forward.index()] += words;
        }
    }

    /// Forward mat-vec of layer `i`: `h = f(W x + b)` (no `f` on the output
    /// layer). Counts: input read, weights+biases read, `rows·cols` MACs,
    /// output write and, when activations round stochastically, one LFSR
    /// draw per output — in `phase` (`Forward`, or `Backward` when recomputing).
    pub fn forward(&mut self, i: usize, phase: Phase) {
        let last = i + 1 == self.layers.len();
        let act = self.net.activation;
        {
            let l = &mut self.layers[i];
            self.dp.matvec(&l.w, &l.b, &l.x, &mut l.h);
            if !last {
                self.dp.activate(act, &mut l.h);
            }
        }
        let (rows, cols) = (self.layers[i].rows, self.layers[i].cols);
        let (ab, wb) = (self.bits.activation, self.bits.weight);
        let x_words = self.words(BankRole::Activation, cols, ab);
        let h_words = self.words(BankRole::Activation, rows, ab);
        let w_words = self.words(BankRole::Weight, rows * cols + rows, wb);
        let lat = self.bank_latency(BankRole::Weight) + self.bank_latency(BankRole::Activation);
        let draws = self.requant_draws(TensorClass::Activation, rows);
        let c = self.core(i);
        c.add_words(
            Unit::Activation,
            Class::Activation,
            phase,
            Rw::Read,
            x_words,
        );
        c.add_words(Unit::Weight, Class::Weight, phase, Rw::Read, w_words);
        c.add_words(
            Unit::Activation,
            Class::Activation,
            phase,
            Rw::Write,
            h_words,
        );
        c.macs[phase.index()] += (rows * cols) as u64;
        c.lfsr_draws[phase.index()] += draws;
        c.latency_cycles[phase.index()] += lat;
    }

    /// Moves layer `i`'s output into layer `i+1`'s input buffer. Counts:
    /// activation-bank read at core `i`, interconnect words × hops, write at
    /// core `i+1`. On a shared core the output buffer becomes the next input
    /// buffer in place: nothing is counted.
    pub fn send_activation(&mut self, i: usize, phase: Phase) {
        let (src, dst) = split_pair(&mut self.layers, i);
        dst.x.copy_from_slice(&src.h);
        if self.hops(i, i + 1) == 0 {
            return;
        }
        let rows = self.layers[i].rows;
        let ab = self.bits.activation;
        let w = self.words(BankRole::Activation, rows, ab);
        self.core(i)
            .add_words(Unit::Activation, Class::Activation, phase, Rw::Read, w);
        self.count_transfer(i, i + 1, Class::Activation, phase, rows, ab);
        self.core(i + 1)
            .add_words(Unit::Activation, Class::Activation, phase, Rw::Write, w);
    }

    /// Local error of hidden layer `i` from its fixed random classifier:
    /// `e = (Mᵀ(M h − y)) ⊙ f'(h)`. Counts (phase `LocalError`): `h` read
    /// twice (projection, derivative), the ROM read twice (`M`, `Mᵀ`) or
    /// regenerated twice (`lfsr` storage), `2·classes·rows` MACs, `e` written
    /// and, when errors round stochastically, `classes + rows` LFSR draws
    /// (the classifier output, then `e`).
    pub fn local_error(&mut self, i: usize) {
        let label = self.label;
        let act = self.net.activation;
        {
            let l = &mut self.layers[i];
            self.dp.classify(&l.classifier, &l.h, &mut self.scratch);
            self.dp.subtract_one_hot(&mut self.scratch, label);
            self.dp.backprop(
                Matrix::Classifier,
                &l.classifier,
                &self.scratch,
                &l.h,
                act,
                &mut l.e,
            );
        }
        let rows = self.layers[i].rows;
        let classes = self.net.classes();
        let entries = (classes * rows) as u64;
        let (ab, eb) = (self.bits.activation, self.bits.error);
        let h_words = self.words(BankRole::Activation, rows, ab);
        let e_words = self.words(BankRole::Error, rows, eb);
        let (rom_words, gen_steps) = match self.model.rom.storage {
            RomStorage::Lfsr => (0, entries),
            _ => (self.model.rom.words_for(entries), 0),
        };
        let lat = self.bank_latency(BankRole::Activation) + self.bank_latency(BankRole::Error);
        let draws = self.requant_draws(TensorClass::Error, classes + rows);
        let p = Phase::LocalError;
        let c = self.core(i);
        c.add_words(
            Unit::Activation,
            Class::Activation,
            p,
            Rw::Read,
            2 * h_words,
        );
        c.add_words(Unit::Rom, Class::Classifier, p, Rw::Read, 2 * rom_words);
        c.rom_generator_steps[p.index()] += 2 * gen_steps;
        c.macs[p.index()] += 2 * entries;
        c.add_words(Unit::Error, Class::Error, p, Rw::Write, e_words);
        c.lfsr_draws[p.index()] += draws;
        c.latency_cycles[p.index()] += lat;
    }

    /// Output error of the last layer `i`: `e = h − onehot(label)` (squared
    /// error on the linear outputs). Counts (phase `LocalError` for local
    /// rules, `Backward` for backprop): `h` read, `e` written and, when errors
    /// round stochastically, one LFSR draw per element of `e`. With
    /// `keep = true` the error is also kept for a later backward pass
    /// (backprop with batch > 1); the error bank then holds every kept error.
    pub fn output_error(&mut self, i: usize, phase: Phase, keep: bool) {
        let label = self.label;
        {
            let l = &mut self.layers[i];
            self.dp.activation_to_error(&l.h, &mut l.e);
            self.dp.subtract_one_hot(&mut l.e, label);
            if keep {
                l.saved_errors.push(l.e.clone());
            }
        }
        let rows = self.layers[i].rows;
        let kept = self.layers[i].saved_errors.len().max(1);
        let h_words = self.words(BankRole::Activation, rows, self.bits.activation);
        let e_words = self.words(BankRole::Error, rows, self.bits.error);
        let draws = self.requant_draws(TensorClass::Error, rows);
        let c = self.core(i);
        c.add_words(
            Unit::Activation,
            Class::Activation,
            phase,
            Rw::Read,
            h_words,
        );
        c.add_words(Unit::Error, Class::Error, phase, Rw::Write, e_words);
        c.lfsr_draws[phase.index()] += draws;
        c.error_peak_words = c.error_peak_words.max(e_words * kept as u64);
    }

    /// Makes the `k`-th kept output error of layer `i` current (a pointer
    /// change in the error bank: nothing moves, nothing is counted).
    pub fn select_saved_error(&mut self, i: usize, k: usize) {
        let l = &mut self.layers[i];
        l.e.copy_from_slice(&l.saved_errors[k]);
    }

    /// Forgets the kept output errors of layer `i`.
    pub fn clear_saved_errors(&mut self, i: usize) {
        self.layers[i].saved_errors.clear();
    }

    /// Backprop's transposed mat-vec at layer `i > 0`: the error of layer
    /// `i−1`, `(Wᵢᵀ eᵢ) ⊙ f'(xᵢ)`, delivered to core `i−1`'s error bank.
    /// Counts (phase `Backward`): weights read (no biases), `eᵢ` read, `xᵢ`
    /// read (derivative), `rows·cols` MACs, interconnect transfer, write at
    /// core `i−1` and, when errors round stochastically, one LFSR draw per
    /// element of the new error (`cols`).
    pub fn backward(&mut self, i: usize) {
        assert!(i > 0, "backward: layer 0 has no upstream error");
        let act = self.net.activation;
        {
            let (prev, l) = split_pair(&mut self.layers, i - 1);
            self.dp
                .backprop(Matrix::Weights, &l.w, &l.e, &l.x, act, &mut prev.e);
        }
        let (rows, cols) = (self.layers[i].rows, self.layers[i].cols);
        let (ab, eb, wb) = (self.bits.activation, self.bits.error, self.bits.weight);
        let w_words = self.words(BankRole::Weight, rows * cols, wb);
        let e_words = self.words(BankRole::Error, rows, eb);
        let x_words = self.words(BankRole::Activation, cols, ab);
        let out_words = self.words(BankRole::Error, cols, eb);
        let lat = self.bank_latency(BankRole::Weight) + self.bank_latency(BankRole::Error);
        let draws = self.requant_draws(TensorClass::Error, cols);
        let p = Phase::Backward;
        let c = self.core(i);
        c.add_words(Unit::Weight, Class::Weight, p, Rw::Read, w_words);
        c.add_words(Unit::Error, Class::Error, p, Rw::Read, e_words);
        c.add_words(Unit::Activation, Class::Activation, p, Rw::Read, x_words);
        c.macs[p.index()] += (rows * cols) as u64;
        c.lfsr_draws[p.index()] += draws;
        c.latency_cycles[p.index()] += lat;
        self.count_transfer(i, i - 1, Class::Error, p, cols, eb);
        self.core(i - 1)
            .add_words(Unit::Error, Class::Error, p, Rw::Write, out_words);
    }

    /// Outer-product SGD update of layer `i` from its current error and input:
    /// `W -= lr·e xᵀ`, `b -= lr·e`. Counts (phase `Update`): `e` read, `x`
    /// read, weights and biases read and written, `rows·(cols+1)` MACs and,
    /// when updates round stochastically, one LFSR draw per weight and bias.
    pub fn update(&mut self, i: usize) {
        {
            let l = &mut self.layers[i];
            self.dp.update(&mut l.w, &mut l.b, &l.e, &l.x);
        }
        let (rows, cols) = (self.layers[i].rows, self.layers[i].cols);
        let (ab, eb, wb) = (self.bits.activation, self.bits.error, self.bits.weight);
        let w_words = self.words(BankRole::Weight, rows * cols + rows, wb);
        let e_words = self.words(BankRole::Error, rows, eb);
        let x_words = self.words(BankRole::Activation, cols, ab);
        let draws = self.update_draws(rows, cols);
        let lat = 2 * self.bank_latency(BankRole::Weight);
        let p = Phase::Update;
        let c = self.core(i);
        c.add_words(Unit::Error, Class::Error, p, Rw::Read, e_words);
        c.add_words(Unit::Activation, Class::Activation, p, Rw::Read, x_words);
        c.add_words(Unit::Weight, Class::Weight, p, Rw::Read, w_words);
        c.add_words(Unit::Weight, Class::Weight, p, Rw::Write, w_words);
        c.macs[p.index()] += (rows * (cols + 1)) as u64;
        c.lfsr_draws[p.index()] += draws;
        c.latency_cycles[p.index()] += lat;
    }

    /// Rounding-LFSR draws of requantising `n` values into `class` in fixed
    /// point: one per value when the class rounds stochastically
    /// (`docs/arithmetic.md`), none otherwise and none in `f32`.
    fn requant_draws(&self, class: TensorClass, n: usize) -> u64 {
        let stochastic = self.model.format(class).rounding == crate::quant::Rounding::Stochastic;
        if stochastic && self.dp.arith_name() != "f32" {
            n as u64
        } else {
            0
        }
    }

    /// LFSR draws of one update of a `rows × cols` layer in fixed point: one
    /// per weight and bias for a stochastic update format, and as many again
    /// for a stochastic weight write-back with `frac_u > frac_w`.
    fn update_draws(&self, rows: usize, cols: usize) -> u64 {
        if self.dp.arith_name() == "f32" {
            return 0;
        }
        let f = &self.model.formats;
        let n = (rows * (cols + 1)) as u64;
        let stoch = |r| r == crate::quant::Rounding::Stochastic;
        let mut d = 0;
        if stoch(f.update.rounding) {
            d += n;
        }
        if stoch(f.weight.rounding) && f.update.frac > f.weight.frac {
            d += n;
        }
        d
    }

    /// Keeps a copy of layer `i`'s input for a later phase. It goes to the
    /// stash bank while it fits; beyond that, to DRAM when `spill` is true,
    /// else the call fails. Counts (phase `Forward`): stash-bank write, or
    /// DRAM write of `ceil(cols·a/8)` bytes.
    pub fn stash_input(&mut self, i: usize, spill: bool) -> Result<(), ChipError> {
        let cols = self.layers[i].cols;
        let ab = self.bits.activation;
        let words = self.words(BankRole::Stash, cols, ab);
        let cap = self.model.bank(BankRole::Stash).capacity_words();
        let core_now = self.core(i).stash_words_now;
        let in_dram = core_now + words > cap;
        if in_dram && !spill {
            return Err(ChipError::StashFull {
                layer: i,
                need: core_now + words,
                capacity: cap,
            });
        }
        let values = self.layers[i].x.clone();
        self.layers[i].stash.push(StashSlot { values, in_dram });
        let p = Phase::Forward;
        if in_dram {
            let bytes = (cols as u64 * ab as u64).div_ceil(8);
            self.count_dram(i, p, Rw::Write, bytes);
            let c = self.core(i);
            c.spill_bytes_now += bytes;
            c.spill_peak_bytes = c.spill_peak_bytes.max(c.spill_bytes_now);
        } else {
            let lat = self.bank_latency(BankRole::Stash);
            let c = self.core(i);
            c.add_words(Unit::Stash, Class::Activation, p, Rw::Write, words);
            c.stash_words_now += words;
            c.stash_peak_words = c.stash_peak_words.max(c.stash_words_now);
            c.latency_cycles[p.index()] += lat;
        }
        Ok(())
    }

    /// Restores stash slot `k` of layer `i` into its input buffer. Counts
    /// (phase `Backward`): stash-bank read (or DRAM read), activation-bank write.
    pub fn unstash_input(&mut self, i: usize, k: usize) {
        let cols = self.layers[i].cols;
        let ab = self.bits.activation;
        let in_dram = {
            let l = &mut self.layers[i];
            l.x.copy_from_slice(&l.stash[k].values);
            l.stash[k].in_dram
        };
        let p = Phase::Backward;
        let words = self.words(BankRole::Stash, cols, ab);
        if in_dram {
            let bytes = (cols as u64 * ab as u64).div_ceil(8);
            self.count_dram(i, p, Rw::Read, bytes);
        } else {
            let lat = self.bank_latency(BankRole::Stash);
            let c = self.core(i);
            c.add_words(Unit::Stash, Class::Activation, p, Rw::Read, words);
            c.latency_cycles[p.index()] += lat;
        }
        let aw = self.words(BankRole::Activation, cols, ab);
        self.core(i)
            .add_words(Unit::Activation, Class::Activation, p, Rw::Write, aw);
    }

    /// Frees every stash slot of layer `i` (no access is counted).
    pub fn release_stash(&mut self, i: usize) {
        let cols = self.layers[i].cols;
        let ab = self.bits.activation;
        let words = self.words(BankRole::Stash, cols, ab);
        let bytes = (cols as u64 * ab as u64).div_ceil(8);
        let slots = std::mem::take(&mut self.layers[i].stash);
        let c = self.core(i);
        for s in slots {
            if s.in_dram {
                c.spill_bytes_now -= bytes;
            } else {
                c.stash_words_now -= words;
            }
        }
    }

    /// Uncounted inference of one sample (the host measuring accuracy, not
    /// part of the modelled training traffic): the predicted class. It
    /// leaves the training state untouched: the rounding LFSR, its draw
    /// count and the overflow counters are restored afterwards, so training
    /// results do not depend on how often or on how much data it runs.
    pub fn infer(&mut self, pixels: &[u8]) -> usize {
        let saved = self.dp.save_state();
        let class = self.infer_values(pixels);
        self.dp.restore_state(saved);
        class
    }

    fn infer_values(&mut self, pixels: &[u8]) -> usize {
        let n = self.layers.len();
        let act = self.net.activation;
        self.dp.load_pixels(pixels, &mut self.layers[0].x);
        for i in 0..n {
            let l = &mut self.layers[i];
            self.dp.matvec(&l.w, &l.b, &l.x, &mut l.h);
            if i + 1 < n {
                self.dp.activate(act, &mut l.h);
                let (src, dst) = split_pair(&mut self.layers, i);
                dst.x.copy_from_slice(&src.h);
            }
        }
        D::argmax(&self.layers[n - 1].h)
    }

    /// The class predicted from the last forward pass's output.
    pub fn predicted(&self) -> usize {
        D::argmax(&self.layers[self.layers.len() - 1].h)
    }
}

/// The core that holds layer `i`.
pub fn core_index(mapping: Mapping, i: usize) -> usize {
    match mapping {
        Mapping::CorePerLayer => i,
        Mapping::SharedCore => 0,
    }
}

/// Mutable access to layers `i` and `i + 1` at once.
fn split_pair<V>(layers: &mut [Layer<V>], i: usize) -> (&mut Layer<V>, &mut Layer<V>) {
    let (a, b) = layers.split_at_mut(i + 1);
    (&mut a[i], &mut b[0])
}
