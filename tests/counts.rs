//! Every counter of a training run checked against a closed-form formula.
//!
//! The tests train small networks through the library (`locus::sim::run`) and
//! compare each field of every core's `CoreCounts` with a value computed here
//! from the network shape, the number of samples `N`, the batch size `B`, the
//! word widths of the banks and the element widths of the tensor classes.
//! The formulas are written out independently of the counted primitives in
//! `src/hw/core.rs` (only the dataflow their doc comments describe is used);
//! `docs/hw_model.md` ("Counts: closed-form formulas") states them.
//!
//! Notation: layer `i` has `r = rows` outputs and `c = cols` inputs,
//! `C` classes, `L` layers; `words(n, b, W)` is the packing rule: `n` values
//! of `b` bits in `W`-bit words.

use locus::data::{Dataset, SyntheticSpec, generate};
use locus::hw::core::NetSpec;
use locus::hw::counters::{Class, CoreCounts, Phase, Rw, Unit};
use locus::hw::datapath::Activation;
use locus::hw::model::{HwModel, Mapping, RomStorage, TensorFormat};
use locus::quant::Rounding;
use locus::rules::{BpPolicy, Rule};
use locus::sim::{Arith, RunResult, TrainConfig, run};
use std::path::Path;

// ---------------------------------------------------------------------------
// Set-up
// ---------------------------------------------------------------------------

/// The shipped default model (16-bit formats, one core per layer).
fn default_model() -> HwModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
    locus::hw::model::load(&path).expect("default model loads")
}

/// Sets every SRAM bank, the ROM and the interconnect to `bits`-bit words.
fn with_word_bits(mut m: HwModel, bits: u32) -> HwModel {
    for bank in [
        &mut m.sram.weight,
        &mut m.sram.activation,
        &mut m.sram.error,
        &mut m.sram.stash,
    ] {
        bank.word_bits = bits;
    }
    m.rom.word_bits = bits;
    m.interconnect.word_bits = bits;
    m
}

/// Formats with 8-bit weights, activations, errors and updates. The update
/// format has one more fractional bit than the weights, so a stochastic
/// weight write-back draws a second LFSR value per element.
fn with_8bit_formats(mut m: HwModel) -> HwModel {
    let f = &mut m.formats;
    f.weight = fmt(8, 6, Rounding::Stochastic);
    f.activation = fmt(8, 4, Rounding::Nearest);
    f.error = fmt(8, 6, Rounding::Nearest);
    f.update = fmt(8, 7, Rounding::Stochastic);
    m
}

fn fmt(bits: u32, frac: u32, rounding: Rounding) -> TensorFormat {
    TensorFormat {
        bits,
        frac,
        rounding,
        overflow: locus::quant::Overflow::Saturate,
    }
}

/// Sets every tensor class to round to nearest (no LFSR draws anywhere).
fn all_nearest(mut m: HwModel) -> HwModel {
    let f = &mut m.formats;
    for t in [
        &mut f.weight,
        &mut f.activation,
        &mut f.error,
        &mut f.update,
        &mut f.classifier,
    ] {
        t.rounding = Rounding::Nearest;
    }
    m
}

/// One training run to check.
#[derive(Clone)]
struct Case {
    model: HwModel,
    sizes: Vec<usize>,
    rule: Rule,
    batch: usize,
    /// Training samples per epoch.
    n: usize,
    epochs: u32,
    arith: Arith,
}

impl Case {
    fn new(model: HwModel, sizes: &[usize], rule: Rule, batch: usize, n: usize) -> Self {
        Case {
            model,
            sizes: sizes.to_vec(),
            rule,
            batch,
            n,
            epochs: 1,
            arith: Arith::Fixed,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} {:?} B={} N={} epochs={} {:?} {} words w/a/e/s/rom/noc={}/{}/{}/{}/{}/{} bits w/a/e={}/{}/{} rom={}",
            self.rule.label(),
            self.sizes,
            self.batch,
            self.n,
            self.epochs,
            self.arith,
            self.model.mapping,
            self.model.sram.weight.word_bits,
            self.model.sram.activation.word_bits,
            self.model.sram.error.word_bits,
            self.model.sram.stash.word_bits,
            self.model.rom.word_bits,
            self.model.interconnect.word_bits,
            self.model.formats.weight.bits,
            self.model.formats.activation.bits,
            self.model.formats.error.bits,
            self.model.rom.storage.name(),
        )
    }
}

/// Synthetic data whose sample length and class count match `sizes`.
fn data(sizes: &[usize], n: usize) -> (Dataset, Dataset) {
    generate(&SyntheticSpec {
        classes: *sizes.last().expect("sizes"),
        sample_len: sizes[0],
        train: n,
        test: 2,
        noise: 30,
        seed: 11,
    })
    .expect("synthetic data")
}

fn train(case: &Case) -> RunResult {
    case.model.validate().expect("edited model is valid");
    let (tr, te) = data(&case.sizes, case.n);
    let config = TrainConfig {
        rule: case.rule,
        net: NetSpec::dense(
            case.sizes.clone(),
            if matches!(case.rule, Rule::Gaitprop(_)) {
                Activation::LeakyRelu
            } else {
                Activation::Relu
            },
        ),
        epochs: case.epochs,
        batch: case.batch,
        lr: 1.0 / 16.0,
        seed: 5,
        arith: case.arith,
        train_limit: None,
        test_limit: Some(2),
        lr_schedule: Default::default(),
        momentum: 0.0,
    };
    let (result, _) = run(&case.model, &config, &tr, &te, &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{}: {e}", case.describe()));
    result
}

// ---------------------------------------------------------------------------
// Closed forms
// ---------------------------------------------------------------------------

/// Packing rule: `n` values of `b` bits in `w`-bit words. A value never
/// straddles a word: `ceil(n / floor(w/b))` when `b <= w`, else
/// `n * ceil(b/w)` words.
fn words(n: usize, b: u32, w: u32) -> u64 {
    let n = n as u64;
    if b <= w {
        n.div_ceil((w / b) as u64)
    } else {
        n * b.div_ceil(w) as u64
    }
}

/// Bytes of `n` values of `b` bits in DRAM (packed bit-contiguously).
fn dram_bytes(n: usize, b: u32) -> u64 {
    (n as u64 * b as u64).div_ceil(8)
}

/// Width of a label on the interconnect.
const LABEL_BITS: u32 = 16;

/// Width of one predsim similarity coefficient register (`J`, `r`, the
/// sums), in bits; they are counted in the error bank.
const SIM_COEF_BITS: u32 = 32;

const F: usize = Phase::Forward as usize;
const LE: usize = Phase::LocalError as usize;
const BW: usize = Phase::Backward as usize;
const UP: usize = Phase::Update as usize;
const R: usize = 0;
const W: usize = 1;

/// Shape, mapping and widths of one case, with the per-primitive formulas.
/// Each `add_*` adds `k` executions of one primitive's accesses to the
/// expected counters.
struct Geo<'a> {
    m: &'a HwModel,
    sizes: &'a [usize],
    fixed: bool,
}

impl Geo<'_> {
    fn layers(&self) -> usize {
        self.sizes.len() - 1
    }
    fn rows(&self, i: usize) -> usize {
        self.sizes[i + 1]
    }
    fn cols(&self, i: usize) -> usize {
        self.sizes[i]
    }
    fn classes(&self) -> usize {
        *self.sizes.last().expect("sizes")
    }
    fn cores(&self) -> usize {
        match &self.m.mapping {
            Mapping::CorePerLayer => self.layers(),
            Mapping::SharedCore => 1,
            Mapping::Cores(_) | Mapping::LayerCores(_) => unreachable!("N cores: tests/mapping.rs"),
        }
    }
    /// The core holding layer `i`.
    fn core(&self, i: usize) -> usize {
        match &self.m.mapping {
            Mapping::CorePerLayer => i,
            Mapping::SharedCore => 0,
            Mapping::Cores(_) | Mapping::LayerCores(_) => unreachable!("N cores: tests/mapping.rs"),
        }
    }
    /// Hops between neighbouring layers' cores: 1, or 0 on a shared core.
    fn hop(&self) -> u64 {
        match &self.m.mapping {
            Mapping::CorePerLayer => 1,
            Mapping::SharedCore => 0,
            Mapping::Cores(_) | Mapping::LayerCores(_) => unreachable!("N cores: tests/mapping.rs"),
        }
    }
    fn ab(&self) -> u32 {
        self.m.formats.activation.bits
    }
    fn wb(&self) -> u32 {
        self.m.formats.weight.bits
    }
    fn eb(&self) -> u32 {
        self.m.formats.error.bits
    }
    /// Activation-bank words of `n` activations.
    fn act(&self, n: usize) -> u64 {
        words(n, self.ab(), self.m.sram.activation.word_bits)
    }
    /// Weight-bank words of `n` weights.
    fn wgt(&self, n: usize) -> u64 {
        words(n, self.wb(), self.m.sram.weight.word_bits)
    }
    /// Error-bank words of `n` errors.
    fn err(&self, n: usize) -> u64 {
        words(n, self.eb(), self.m.sram.error.word_bits)
    }
    /// Stash-bank words of layer `i`'s input.
    fn stash_words(&self, i: usize) -> u64 {
        words(self.cols(i), self.ab(), self.m.sram.stash.word_bits)
    }
    /// DRAM bytes of layer `i`'s input.
    fn spill_bytes(&self, i: usize) -> u64 {
        dram_bytes(self.cols(i), self.ab())
    }
    fn bursts(&self, bytes: u64) -> u64 {
        bytes.div_ceil(self.m.dram.burst_bytes as u64)
    }
    fn lat_w(&self) -> u64 {
        self.m.sram.weight.latency_cycles as u64
    }
    fn lat_a(&self) -> u64 {
        self.m.sram.activation.latency_cycles as u64
    }
    fn lat_e(&self) -> u64 {
        self.m.sram.error.latency_cycles as u64
    }
    fn lat_s(&self) -> u64 {
        self.m.sram.stash.latency_cycles as u64
    }
    fn lat_dram(&self) -> u64 {
        self.m.dram.latency_cycles as u64
    }
    fn lat_hop(&self) -> u64 {
        self.m.interconnect.hop_latency_cycles as u64
    }
    /// LFSR draws of requantising `n` values into a class with `rounding`:
    /// one per value when it rounds stochastically (fixed point only).
    fn draws(&self, rounding: Rounding, n: usize) -> u64 {
        if self.fixed && rounding == Rounding::Stochastic {
            n as u64
        } else {
            0
        }
    }

    /// Static occupancy, set when the network is mapped: weight-bank words
    /// in use `Σ words(r·c + r, w)`, activation-bank peak
    /// `max(words(c, a) + words(r, a))` and error-bank peak `max words(r, e)`
    /// over the layers of the core.
    fn add_static(&self, cs: &mut [CoreCounts]) {
        for i in 0..self.layers() {
            let (r, c) = (self.rows(i), self.cols(i));
            let k = &mut cs[self.core(i)];
            k.weight_words += self.wgt(r * c + r);
            k.activation_peak_words = k.activation_peak_words.max(self.act(c) + self.act(r));
            k.error_peak_words = k.error_peak_words.max(self.err(r));
        }
    }

    /// Input load at core 0: DRAM read of `ceil(c0·a/8)` bytes (one
    /// transfer: its bursts and one DRAM latency), activation write of
    /// `words(c0, a)`.
    fn add_load_input(&self, cs: &mut [CoreCounts], k: u64) {
        let bytes = dram_bytes(self.cols(0), self.ab());
        let c = &mut cs[self.core(0)];
        c.dram_bytes[F][R] += k * bytes;
        c.dram_bursts[F][R] += k * self.bursts(bytes);
        c.latency_cycles[F] += k * self.lat_dram();
        c.words[Unit::Activation as usize][Class::Activation as usize][F][W] +=
            k * self.act(self.cols(0));
    }

    /// Label delivery: one link word of 16 bits (`words(1, 16, W_noc)`) and
    /// one hop from the host to each distinct receiving core.
    fn add_label(&self, cs: &mut [CoreCounts], layers: std::ops::Range<usize>, k: u64) {
        let mut cores: Vec<usize> = layers.map(|i| self.core(i)).collect();
        cores.dedup();
        let w = words(1, LABEL_BITS, self.m.interconnect.word_bits);
        for core in cores {
            cs[core].noc_words[F][Class::Label as usize] += k * w;
            cs[core].noc_word_hops[F] += k * w;
        }
    }

    /// Forward mat-vec of layer `i` in `phase`: reads `words(c, a)` input
    /// and `words(r·c + r, w)` weights and biases, writes `words(r, a)`,
    /// `r·c` MACs, latency `lat_w + lat_a`; stochastic activation rounding
    /// draws `r` values.
    fn add_forward(&self, cs: &mut [CoreCounts], i: usize, p: usize, k: u64) {
        let (r, c) = (self.rows(i), self.cols(i));
        let draws = self.draws(self.m.formats.activation.rounding, r);
        let (xw, ww, hw) = (self.act(c), self.wgt(r * c + r), self.act(r));
        let lat = self.lat_w() + self.lat_a();
        let core = &mut cs[self.core(i)];
        core.words[Unit::Activation as usize][Class::Activation as usize][p][R] += k * xw;
        core.words[Unit::Weight as usize][Class::Weight as usize][p][R] += k * ww;
        core.words[Unit::Activation as usize][Class::Activation as usize][p][W] += k * hw;
        core.macs[p] += k * (r * c) as u64;
        core.latency_cycles[p] += k * lat;
        core.lfsr_draws[p] += k * draws;
    }

    /// Activation transfer from layer `i` to `i+1`: on separate cores an
    /// activation read of `words(r, a)` at core `i`, `words(r, a, W_noc)`
    /// link words over one hop (and its latency), the same activation words
    /// written at core `i+1`; nothing on a shared core.
    fn add_send(&self, cs: &mut [CoreCounts], i: usize, p: usize, k: u64) {
        if self.hop() == 0 {
            return;
        }
        let r = self.rows(i);
        let aw = self.act(r);
        let nw = words(r, self.ab(), self.m.interconnect.word_bits);
        let lat = self.hop() * self.lat_hop();
        let hop = self.hop();
        let src = &mut cs[self.core(i)];
        src.words[Unit::Activation as usize][Class::Activation as usize][p][R] += k * aw;
        src.noc_words[p][Class::Activation as usize] += k * nw;
        src.noc_word_hops[p] += k * nw * hop;
        src.latency_cycles[p] += k * lat;
        cs[self.core(i + 1)].words[Unit::Activation as usize][Class::Activation as usize][p][W] +=
            k * aw;
    }

    /// Local error of hidden layer `i` (phase local_error): `h` read twice
    /// (`2·words(r, a)`), the classifier read twice (`2·words(C·r, k_rom,
    /// W_rom)` ROM words, or `2·C·r` generator steps and no ROM read with
    /// `lfsr` storage), `2·C·r` MACs, `words(r, e)` error written, latency
    /// `lat_a + lat_e`; stochastic error rounding draws `C + r` values
    /// (classifier output, then the error).
    fn add_local_error(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let r = self.rows(i);
        let entries = self.classes() * r;
        let (rom_words, steps) = match self.m.rom.storage.entry_bits() {
            Some(bits) => (words(entries, bits, self.m.rom.word_bits), 0),
            None => (0, entries as u64),
        };
        let draws = self.draws(self.m.formats.error.rounding, self.classes() + r);
        let (hw, ew) = (self.act(r), self.err(r));
        let lat = self.lat_a() + self.lat_e();
        let c = &mut cs[self.core(i)];
        c.words[Unit::Activation as usize][Class::Activation as usize][LE][R] += k * 2 * hw;
        c.words[Unit::Rom as usize][Class::Classifier as usize][LE][R] += k * 2 * rom_words;
        c.rom_generator_steps[LE] += k * 2 * steps;
        c.macs[LE] += k * 2 * entries as u64;
        c.words[Unit::Error as usize][Class::Error as usize][LE][W] += k * ew;
        c.latency_cycles[LE] += k * lat;
        c.lfsr_draws[LE] += k * draws;
    }

    /// Output error `h − onehot` of the last layer in phase `p`: reads
    /// `words(C, a)`, writes `words(C, e)`, no latency; stochastic error
    /// rounding draws `C` values.
    fn add_output_error(&self, cs: &mut [CoreCounts], p: usize, k: u64) {
        let last = self.layers() - 1;
        let n = self.classes();
        let draws = self.draws(self.m.formats.error.rounding, n);
        let (hw, ew) = (self.act(n), self.err(n));
        let c = &mut cs[self.core(last)];
        c.words[Unit::Activation as usize][Class::Activation as usize][p][R] += k * hw;
        c.words[Unit::Error as usize][Class::Error as usize][p][W] += k * ew;
        c.lfsr_draws[p] += k * draws;
    }

    /// Backprop's transposed mat-vec at layer `i > 0` (phase backward): at
    /// core `i` reads `words(r·c, w)` weights (no biases), `words(r, e)`
    /// error, `words(c, a)` input (derivative); `r·c` MACs; latency
    /// `lat_w + lat_e`; `words(c, e, W_noc)` link words over one hop to core
    /// `i−1` (none on a shared core); `words(c, e)` error written at core
    /// `i−1`; stochastic error rounding draws `c` values.
    fn add_backward(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let (r, c) = (self.rows(i), self.cols(i));
        let draws = self.draws(self.m.formats.error.rounding, c);
        let nw = words(c, self.eb(), self.m.interconnect.word_bits);
        let (ww, ew, xw, ow) = (self.wgt(r * c), self.err(r), self.act(c), self.err(c));
        let lat = self.lat_w() + self.lat_e() + self.hop() * self.lat_hop();
        let hop = self.hop();
        let core = &mut cs[self.core(i)];
        core.words[Unit::Weight as usize][Class::Weight as usize][BW][R] += k * ww;
        core.words[Unit::Error as usize][Class::Error as usize][BW][R] += k * ew;
        core.words[Unit::Activation as usize][Class::Activation as usize][BW][R] += k * xw;
        core.macs[BW] += k * (r * c) as u64;
        core.latency_cycles[BW] += k * lat;
        core.lfsr_draws[BW] += k * draws;
        if hop > 0 {
            core.noc_words[BW][Class::Error as usize] += k * nw;
            core.noc_word_hops[BW] += k * nw * hop;
        }
        cs[self.core(i - 1)].words[Unit::Error as usize][Class::Error as usize][BW][W] += k * ow;
    }

    /// Update of layer `i` (phase update): reads `words(r, e)` error and
    /// `words(c, a)` input, reads and writes `words(r·c + r, w)` weights and
    /// biases, `r·(c+1)` MACs, latency `2·lat_w`; LFSR draws `r·(c+1)` for a
    /// stochastic update format plus `r·(c+1)` for a stochastic weight
    /// write-back when `frac_u > frac_w` (fixed point only).
    fn add_update(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let (r, c) = (self.rows(i), self.cols(i));
        let f = &self.m.formats;
        let n = r * (c + 1);
        let mut draws = self.draws(f.update.rounding, n);
        if f.update.frac > f.weight.frac {
            draws += self.draws(f.weight.rounding, n);
        }
        let (ew, xw, ww) = (self.err(r), self.act(c), self.wgt(r * c + r));
        let lat = 2 * self.lat_w();
        let core = &mut cs[self.core(i)];
        core.words[Unit::Error as usize][Class::Error as usize][UP][R] += k * ew;
        core.words[Unit::Activation as usize][Class::Activation as usize][UP][R] += k * xw;
        core.words[Unit::Weight as usize][Class::Weight as usize][UP][R] += k * ww;
        core.words[Unit::Weight as usize][Class::Weight as usize][UP][W] += k * ww;
        core.macs[UP] += k * n as u64;
        core.latency_cycles[UP] += k * lat;
        core.lfsr_draws[UP] += k * draws;
    }

    /// ROM words and generator steps of one use of `n` entries: `words(n,
    /// k_rom, W_rom)` ROM words, or `n` generator steps with `lfsr` storage.
    fn rom_use(&self, n: usize) -> (u64, u64) {
        match self.m.rom.storage.entry_bits() {
            Some(bits) => (words(n, bits, self.m.rom.word_bits), 0),
            None => (0, n as u64),
        }
    }

    /// DRTP's error of hidden layer `i` (phase local_error): one ROM row
    /// read, `words(r, k_rom, W_rom)` (with `lfsr` storage no read and
    /// `C·r` generator steps), `h` read once (`words(r, a)`), `r` MACs,
    /// `words(r, e)` written, latency `lat_a + lat_e`; stochastic error
    /// rounding draws `r` values.
    fn add_target_error(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let r = self.rows(i);
        let (rom_words, steps) = match self.m.rom.storage.entry_bits() {
            Some(bits) => (words(r, bits, self.m.rom.word_bits), 0),
            None => (0, (self.classes() * r) as u64),
        };
        let draws = self.draws(self.m.formats.error.rounding, r);
        let lat = self.lat_a() + self.lat_e();
        let (hw, ew) = (self.act(r), self.err(r));
        let c = &mut cs[self.core(i)];
        c.words[Unit::Rom as usize][Class::Classifier as usize][LE][R] += k * rom_words;
        c.rom_generator_steps[LE] += k * steps;
        c.words[Unit::Activation as usize][Class::Activation as usize][LE][R] += k * hw;
        c.macs[LE] += k * r as u64;
        c.words[Unit::Error as usize][Class::Error as usize][LE][W] += k * ew;
        c.latency_cycles[LE] += k * lat;
        c.lfsr_draws[LE] += k * draws;
    }

    /// Local-learned error of hidden layer `i` (phase local_error): `h` read
    /// twice, the classifier read from the weight bank (class classifier)
    /// as `words(C·r + C, w)` (with biases) then `words(C·r, w)`, the
    /// classifier error written and read back (`words(C, e)` each), `2·C·r`
    /// MACs, `words(r, e)` error written, latency `lat_w + lat_a + lat_e`;
    /// stochastic error rounding draws `C + r`.
    fn add_learned_error(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let (r, cl) = (self.rows(i), self.classes());
        let draws = self.draws(self.m.formats.error.rounding, cl + r);
        let lat = self.lat_w() + self.lat_a() + self.lat_e();
        let (hw, ew, cw) = (self.act(r), self.err(r), self.err(cl));
        let (mcw, mw) = (self.wgt(cl * r + cl), self.wgt(cl * r));
        let c = &mut cs[self.core(i)];
        c.words[Unit::Activation as usize][Class::Activation as usize][LE][R] += k * 2 * hw;
        c.words[Unit::Weight as usize][Class::Classifier as usize][LE][R] += k * (mcw + mw);
        c.words[Unit::Error as usize][Class::Error as usize][LE][W] += k * (cw + ew);
        c.words[Unit::Error as usize][Class::Error as usize][LE][R] += k * cw;
        c.macs[LE] += k * 2 * (cl * r) as u64;
        c.latency_cycles[LE] += k * lat;
        c.lfsr_draws[LE] += k * draws;
    }

    /// Update of hidden layer `i`'s learned classifier (phase update):
    /// `words(C, e)` classifier error and `words(r, a)` output read,
    /// `words(C·r + C, w)` classifier words read and written (weight bank,
    /// class classifier), `C·(r+1)` MACs, latency `2·lat_w`, and the draws
    /// of an update of a `C × r` layer.
    fn add_update_classifier(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let (r, cl) = (self.rows(i), self.classes());
        let f = &self.m.formats;
        let n = cl * (r + 1);
        let mut draws = self.draws(f.update.rounding, n);
        if f.update.frac > f.weight.frac {
            draws += self.draws(f.weight.rounding, n);
        }
        let (cw, hw, mw) = (self.err(cl), self.act(r), self.wgt(cl * r + cl));
        let lat = 2 * self.lat_w();
        let c = &mut cs[self.core(i)];
        c.words[Unit::Error as usize][Class::Error as usize][UP][R] += k * cw;
        c.words[Unit::Activation as usize][Class::Activation as usize][UP][R] += k * hw;
        c.words[Unit::Weight as usize][Class::Classifier as usize][UP][R] += k * mw;
        c.words[Unit::Weight as usize][Class::Classifier as usize][UP][W] += k * mw;
        c.macs[UP] += k * n as u64;
        c.latency_cycles[UP] += k * lat;
        c.lfsr_draws[UP] += k * draws;
    }

    /// Static occupancy of hidden layer `i`'s learned classifier: weight
    /// bank `+words(C·r + C, w)`; error bank peak at least `words(r, e) +
    /// words(C, e)` (the layer's error and the classifier's).
    fn add_learned_static(&self, cs: &mut [CoreCounts], i: usize) {
        let (r, cl) = (self.rows(i), self.classes());
        let (mw, e) = (self.wgt(cl * r + cl), self.err(r) + self.err(cl));
        let c = &mut cs[self.core(i)];
        c.weight_words += mw;
        c.error_peak_words = c.error_peak_words.max(e);
    }

    /// FA / DFA backward at layer `i > 0` (phase backward) through a fixed
    /// `src × c` feedback ROM (`src` = `r` for FA, `C` for DFA): at core
    /// `i` the ROM read once (`words(src·c, k_rom, W_rom)`, or `src·c`
    /// generator steps), `words(src, e)` error and `words(c, a)` input
    /// read, `src·c` MACs, latency `lat_e` (+ one hop); `words(c, e,
    /// W_noc)` link words over one hop; `words(c, e)` written at core
    /// `i−1`; stochastic error rounding draws `c`.
    fn add_backward_feedback(&self, cs: &mut [CoreCounts], i: usize, src: usize, k: u64) {
        let c = self.cols(i);
        let (rom_words, steps) = self.rom_use(src * c);
        let draws = self.draws(self.m.formats.error.rounding, c);
        let nw = words(c, self.eb(), self.m.interconnect.word_bits);
        let (ew, xw, ow) = (self.err(src), self.act(c), self.err(c));
        let hop = self.hop();
        let lat = self.lat_e() + hop * self.lat_hop();
        let core = &mut cs[self.core(i)];
        core.words[Unit::Rom as usize][Class::Classifier as usize][BW][R] += k * rom_words;
        core.rom_generator_steps[BW] += k * steps;
        core.words[Unit::Error as usize][Class::Error as usize][BW][R] += k * ew;
        core.words[Unit::Activation as usize][Class::Activation as usize][BW][R] += k * xw;
        core.macs[BW] += k * (src * c) as u64;
        core.latency_cycles[BW] += k * lat;
        core.lfsr_draws[BW] += k * draws;
        if hop > 0 {
            core.noc_words[BW][Class::Error as usize] += k * nw;
            core.noc_word_hops[BW] += k * nw * hop;
        }
        cs[self.core(i - 1)].words[Unit::Error as usize][Class::Error as usize][BW][W] += k * ow;
    }

    /// DFA: the output error sent from the last core to hidden layer `i`'s
    /// core (phase backward): `words(C, e)` read at the last core,
    /// `words(C, e, W_noc)` link words over `L−1−i` hops (and their
    /// latency), `words(C, e)` written at core `i`; nothing on a shared core.
    fn add_send_output_error(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        if self.hop() == 0 {
            return;
        }
        let last = self.layers() - 1;
        let hops = (last - i) as u64;
        let cl = self.classes();
        let ew = self.err(cl);
        let nw = words(cl, self.eb(), self.m.interconnect.word_bits);
        let lat = hops * self.lat_hop();
        let src = &mut cs[self.core(last)];
        src.words[Unit::Error as usize][Class::Error as usize][BW][R] += k * ew;
        src.noc_words[BW][Class::Error as usize] += k * nw;
        src.noc_word_hops[BW] += k * nw * hops;
        src.latency_cycles[BW] += k * lat;
        cs[self.core(i)].words[Unit::Error as usize][Class::Error as usize][BW][W] += k * ew;
    }

    /// Stash-bank words of hidden layer `i`'s output.
    fn stash_out_words(&self, i: usize) -> u64 {
        words(self.rows(i), self.ab(), self.m.sram.stash.word_bits)
    }

    /// PEPITA keeps hidden layer `i`'s first-pass output (phase forward):
    /// stash write `words(r, a, W_s)`, latency `lat_s`.
    fn add_stash_output(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let w = self.stash_out_words(i);
        let lat = self.lat_s();
        let c = &mut cs[self.core(i)];
        c.words[Unit::Stash as usize][Class::Activation as usize][F][W] += k * w;
        c.latency_cycles[F] += k * lat;
    }

    /// PEPITA's error of hidden layer `i` (phase backward): stash read
    /// `words(r, a, W_s)`, activation read `words(r, a)`, error write
    /// `words(r, e)`, latency `lat_s + lat_e`; stochastic error rounding
    /// draws `r`.
    fn add_pepita_error(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let r = self.rows(i);
        let (sw, hw, ew) = (self.stash_out_words(i), self.act(r), self.err(r));
        let draws = self.draws(self.m.formats.error.rounding, r);
        let lat = self.lat_s() + self.lat_e();
        let c = &mut cs[self.core(i)];
        c.words[Unit::Stash as usize][Class::Activation as usize][BW][R] += k * sw;
        c.words[Unit::Activation as usize][Class::Activation as usize][BW][R] += k * hw;
        c.words[Unit::Error as usize][Class::Error as usize][BW][W] += k * ew;
        c.latency_cycles[BW] += k * lat;
        c.lfsr_draws[BW] += k * draws;
    }

    /// PEPITA's input modulation at core 0 (phase backward): ROM read of
    /// `c_0·C` entries, error read `words(C, e)`, activation read and write
    /// `words(c_0, a)`, `c_0·C` MACs, latency `lat_a + lat_e`; stochastic
    /// activation rounding draws `c_0`.
    fn add_modulate(&self, cs: &mut [CoreCounts], k: u64) {
        let (c0, cl) = (self.cols(0), self.classes());
        let (rom_words, steps) = self.rom_use(c0 * cl);
        let (xw, ew) = (self.act(c0), self.err(cl));
        let draws = self.draws(self.m.formats.activation.rounding, c0);
        let lat = self.lat_a() + self.lat_e();
        let c = &mut cs[self.core(0)];
        c.words[Unit::Rom as usize][Class::Classifier as usize][BW][R] += k * rom_words;
        c.rom_generator_steps[BW] += k * steps;
        c.words[Unit::Error as usize][Class::Error as usize][BW][R] += k * ew;
        c.words[Unit::Activation as usize][Class::Activation as usize][BW][R] += k * xw;
        c.words[Unit::Activation as usize][Class::Activation as usize][BW][W] += k * xw;
        c.macs[BW] += k * (c0 * cl) as u64;
        c.latency_cycles[BW] += k * lat;
        c.lfsr_draws[BW] += k * draws;
    }

    /// GAIT-prop's step at layer `i` (phase backward): activation read
    /// `words(r, a)` (the received target, or the output layer's output); a
    /// hidden layer's output read from the stash (`words(r, a, W_s)`,
    /// latency `lat_s`, else `lat_a`); error write `words(r, e)`; `r` MACs;
    /// draws `r` per stochastic activation and error rounding; latency
    /// `lat_e`. For `i > 0` also: weights read `words(r·c, w)`, input read
    /// `words(c, a)`, `r·c` MACs, draws `c` (activation), latency `lat_w`,
    /// the target of `c` activations over one hop and written at core `i−1`.
    fn add_gait_step(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let (r, c) = (self.rows(i), self.cols(i));
        let hidden = i + 1 < self.layers();
        let (ar, er) = (
            self.m.formats.activation.rounding,
            self.m.formats.error.rounding,
        );
        let mut draws = self.draws(ar, r) + self.draws(er, r);
        let mut lat = self.lat_e() + if hidden { self.lat_s() } else { self.lat_a() };
        let mut macs = r as u64;
        let (aw, ew, so) = (self.act(r), self.err(r), self.stash_out_words(i));
        let hop = self.hop();
        let nw = words(c, self.ab(), self.m.interconnect.word_bits);
        let core = &mut cs[self.core(i)];
        core.words[Unit::Activation as usize][Class::Activation as usize][BW][R] += k * aw;
        if hidden {
            core.words[Unit::Stash as usize][Class::Activation as usize][BW][R] += k * so;
        }
        core.words[Unit::Error as usize][Class::Error as usize][BW][W] += k * ew;
        if i > 0 {
            core.words[Unit::Weight as usize][Class::Weight as usize][BW][R] +=
                k * words(r * c, self.wb(), self.m.sram.weight.word_bits);
            core.words[Unit::Activation as usize][Class::Activation as usize][BW][R] +=
                k * words(c, self.ab(), self.m.sram.activation.word_bits);
            macs += (r * c) as u64;
            draws += self.draws(ar, c);
            lat += self.lat_w() + hop * self.lat_hop();
            if hop > 0 {
                core.noc_words[BW][Class::Activation as usize] += k * nw;
                core.noc_word_hops[BW] += k * nw * hop;
            }
        }
        core.macs[BW] += k * macs;
        core.lfsr_draws[BW] += k * draws;
        core.latency_cycles[BW] += k * lat;
        if i > 0 {
            let below = &mut cs[self.core(i - 1)];
            below.words[Unit::Activation as usize][Class::Activation as usize][BW][W] +=
                k * words(c, self.ab(), self.m.sram.activation.word_bits);
        }
    }

    /// `k` stashes of layer `i`'s input (phase forward) and `reads` restores
    /// of each (phase backward), held in the stash bank (`words(c, a,
    /// W_stash)` written / read, stash latency) or, when `dram`, in DRAM
    /// (`ceil(c·a/8)` bytes written / read, their bursts, DRAM latency).
    /// Every restore also writes `words(c, a)` to the activation bank.
    fn add_stash(&self, cs: &mut [CoreCounts], i: usize, dram: bool, k: u64, reads: u64) {
        let sw = self.stash_words(i);
        let bytes = self.spill_bytes(i);
        let bursts = self.bursts(bytes);
        let aw = self.act(self.cols(i));
        let (lat_s, lat_d) = (self.lat_s(), self.lat_dram());
        let c = &mut cs[self.core(i)];
        if dram {
            c.dram_bytes[F][W] += k * bytes;
            c.dram_bursts[F][W] += k * bursts;
            c.latency_cycles[F] += k * lat_d;
            c.dram_bytes[BW][R] += k * reads * bytes;
            c.dram_bursts[BW][R] += k * reads * bursts;
            c.latency_cycles[BW] += k * reads * lat_d;
        } else {
            c.words[Unit::Stash as usize][Class::Activation as usize][F][W] += k * sw;
            c.latency_cycles[F] += k * lat_s;
            c.words[Unit::Stash as usize][Class::Activation as usize][BW][R] += k * reads * sw;
            c.latency_cycles[BW] += k * reads * lat_s;
        }
        c.words[Unit::Activation as usize][Class::Activation as usize][BW][W] += k * reads * aw;
    }

    /// Stash-bank words of hidden layer `i`'s kept output (predsim).
    fn kept_words(&self, i: usize) -> u64 {
        self.stash_out_words(i)
    }

    /// DRAM bytes of hidden layer `i`'s kept output (predsim).
    fn kept_bytes(&self, i: usize) -> u64 {
        dram_bytes(self.rows(i), self.ab())
    }

    /// Similarity-coefficient registers: `n` values of [`SIM_COEF_BITS`]
    /// bits in error-bank words.
    fn coef(&self, n: usize) -> u64 {
        words(n, SIM_COEF_BITS, self.m.sram.error.word_bits)
    }

    /// Predsim keeps hidden layer `i`'s output (phase forward): `on_chip`
    /// times in the stash bank (`words(r, a, W_s)` written, latency
    /// `lat_s` each), `in_dram` times in DRAM (`ceil(r·a/8)` bytes written,
    /// their bursts, one DRAM latency each).
    fn add_keep_output(&self, cs: &mut [CoreCounts], i: usize, on_chip: u64, in_dram: u64) {
        let (sw, bytes) = (self.kept_words(i), self.kept_bytes(i));
        let (bursts, lat_s, lat_d) = (self.bursts(bytes), self.lat_s(), self.lat_dram());
        let c = &mut cs[self.core(i)];
        c.words[Unit::Stash as usize][Class::Activation as usize][F][W] += on_chip * sw;
        c.latency_cycles[F] += on_chip * lat_s;
        c.dram_bytes[F][W] += in_dram * bytes;
        c.dram_bursts[F][W] += in_dram * bursts;
        c.latency_cycles[F] += in_dram * lat_d;
    }

    /// Reads of hidden layer `i`'s kept outputs (phase local_error):
    /// `on_chip` stash reads of `words(r, a, W_s)` and `in_dram` DRAM reads
    /// of `ceil(r·a/8)` bytes (their bursts and one DRAM latency each). The
    /// stash bank's latency belongs to the calling primitive.
    fn add_kept_reads(&self, cs: &mut [CoreCounts], i: usize, on_chip: u64, in_dram: u64) {
        let (sw, bytes) = (self.kept_words(i), self.kept_bytes(i));
        let (bursts, lat_d) = (self.bursts(bytes), self.lat_dram());
        let c = &mut cs[self.core(i)];
        c.words[Unit::Stash as usize][Class::Activation as usize][LE][R] += on_chip * sw;
        c.dram_bytes[LE][R] += in_dram * bytes;
        c.dram_bursts[LE][R] += in_dram * bursts;
        c.latency_cycles[LE] += in_dram * lat_d;
    }

    /// Stash latency of a predsim call that reads the kept outputs of a
    /// batch of which `on_chip` are in the stash bank: `lat_s` once when it
    /// reads the bank at all (DRAM reads carry their own latency).
    fn kept_lat_s(&self, on_chip: u64) -> u64 {
        if on_chip > 0 { self.lat_s() } else { 0 }
    }

    /// Predsim's similarity of hidden layer `i` over a batch of `b` kept
    /// outputs, `on_chip` of them in the stash bank and `in_dram` in DRAM
    /// (phase local_error): each kept output read once; `(b² + b)·r` MACs
    /// (Gram matrix and sums) plus `5b² + 2b` (coefficients); `words(b² +
    /// 2b, 32, W_e)` coefficient words written; latency `lat_s` (if the
    /// stash is read) `+ lat_e`; error-bank peak at least `words(r, e) +
    /// words(C, e) + words(b² + 2b, 32, W_e)`.
    fn add_similarity(&self, cs: &mut [CoreCounts], i: usize, on_chip: u64, in_dram: u64) {
        let b = (on_chip + in_dram) as usize;
        let r = self.rows(i);
        self.add_kept_reads(cs, i, on_chip, in_dram);
        let cw = self.coef(b * b + 2 * b);
        let peak = self.err(r) + self.err(self.classes()) + cw;
        let lat = self.kept_lat_s(on_chip) + self.lat_e();
        let c = &mut cs[self.core(i)];
        c.macs[LE] += ((b * b + b) * r + 5 * b * b + 2 * b) as u64;
        c.words[Unit::Error as usize][Class::Error as usize][LE][W] += cw;
        c.latency_cycles[LE] += lat;
        c.error_peak_words = c.error_peak_words.max(peak);
    }

    /// Predsim's restores of hidden layer `i`'s `b = on_chip + in_dram`
    /// kept outputs, one per sample (phase local_error): the kept output
    /// read (stash, latency `lat_s`, or DRAM), `words(r, a)` written to the
    /// activation bank.
    fn add_restore_output(&self, cs: &mut [CoreCounts], i: usize, on_chip: u64, in_dram: u64) {
        self.add_kept_reads(cs, i, on_chip, in_dram);
        let (hw, lat_s) = (self.act(self.rows(i)), self.lat_s());
        let c = &mut cs[self.core(i)];
        c.words[Unit::Activation as usize][Class::Activation as usize][LE][W] +=
            (on_chip + in_dram) * hw;
        c.latency_cycles[LE] += on_chip * lat_s;
    }

    /// Predsim's similarity errors of hidden layer `i`, one per sample of a
    /// batch of `b = on_chip + in_dram` (phase local_error). Each reads
    /// every kept output again, the coefficient row, `r_a` and the sums
    /// (`words(2b + 1, 32, W_e)`), the error (`words(r, e)`, read and
    /// written) and `h` (`words(r, a)`); `(2b + 1)·r` MACs; latency `lat_s`
    /// (if the stash is read) `+ lat_a + lat_e`; stochastic error rounding
    /// draws `r`.
    fn add_similarity_error(&self, cs: &mut [CoreCounts], i: usize, on_chip: u64, in_dram: u64) {
        let b = on_chip + in_dram;
        let r = self.rows(i);
        for _ in 0..b {
            self.add_kept_reads(cs, i, on_chip, in_dram);
        }
        let (cw, ew, hw) = (self.coef(2 * b as usize + 1), self.err(r), self.act(r));
        let lat = self.kept_lat_s(on_chip) + self.lat_a() + self.lat_e();
        let draws = self.draws(self.m.formats.error.rounding, r);
        let c = &mut cs[self.core(i)];
        c.words[Unit::Error as usize][Class::Error as usize][LE][R] += b * (cw + ew);
        c.words[Unit::Error as usize][Class::Error as usize][LE][W] += b * ew;
        c.words[Unit::Activation as usize][Class::Activation as usize][LE][R] += b * hw;
        c.macs[LE] += b * (2 * b + 1) * r as u64;
        c.latency_cycles[LE] += b * lat;
        c.lfsr_draws[LE] += b * draws;
    }
}

/// Batch sizes of `epochs` passes over `n` samples in batches of `b`:
/// `floor(n/b)` full batches and one of `n mod b` if nonzero, per epoch.
fn batch_sizes(n: usize, b: usize, epochs: u32) -> Vec<usize> {
    let mut one = vec![b; n / b];
    if !n.is_multiple_of(b) {
        one.push(n % b);
    }
    (0..epochs).flat_map(|_| one.clone()).collect()
}

/// Per kept vector (copies in SRAM, copies in DRAM); per core (SRAM words,
/// DRAM bytes) held.
type Split = (Vec<(u64, u64)>, Vec<(u64, u64)>);

/// One vector a rule keeps per sample for a later phase: its layer (hence
/// its core), its stash-bank words and its DRAM bytes.
#[derive(Clone, Copy)]
struct KeptVec {
    layer: usize,
    words: u64,
    bytes: u64,
}

/// Where the kept vectors of one batch of `b` samples go: sample by sample,
/// in the order of `vectors`, a vector goes to the stash bank of its core
/// when the words that core already holds plus its own fit the capacity,
/// else to DRAM. Returns, per entry of `vectors`, (copies in SRAM, copies
/// in DRAM), and per core the SRAM words and DRAM bytes held at the end of
/// the batch's forward passes (the batch's peak).
fn kept_split(g: &Geo, vectors: &[KeptVec], b: usize) -> Split {
    let cap = g.m.sram.stash.capacity_bytes * 8 / g.m.sram.stash.word_bits as u64;
    let mut split = vec![(0, 0); vectors.len()];
    let mut held = vec![(0, 0); g.cores()];
    for _ in 0..b {
        for (v, place) in vectors.iter().zip(&mut split) {
            let h = &mut held[g.core(v.layer)];
            if h.0 + v.words <= cap {
                h.0 += v.words;
                place.0 += 1;
            } else {
                h.1 += v.bytes;
                place.1 += 1;
            }
        }
    }
    (split, held)
}

/// Backprop's stash: the inputs of `layers`, sample by sample, layer by
/// layer (`kept_split`). Returns, per stashed layer (in the order of
/// `layers`), (vectors in SRAM, vectors in DRAM), and per core what it
/// holds.
fn stash_split(g: &Geo, layers: &[usize], b: usize) -> Split {
    let vectors: Vec<KeptVec> = layers
        .iter()
        .map(|&i| KeptVec {
            layer: i,
            words: g.stash_words(i),
            bytes: g.spill_bytes(i),
        })
        .collect();
    kept_split(g, &vectors, b)
}

/// The expected counters of `case`, every field.
fn expected(case: &Case) -> Vec<CoreCounts> {
    let g = Geo {
        m: &case.model,
        sizes: &case.sizes,
        fixed: case.arith == Arith::Fixed,
    };
    let l = g.layers();
    let mut cs = vec![CoreCounts::default(); g.cores()];
    g.add_static(&mut cs);
    let batches = batch_sizes(case.n, case.batch, case.epochs);
    // S: samples trained on.
    let s: u64 = batches.iter().sum::<usize>() as u64;
    g.add_load_input(&mut cs, s);
    match case.rule {
        Rule::Local | Rule::Drtp | Rule::LocalLearned => {
            // Per sample: label to every layer's core; per layer forward,
            // then (hidden) transfer + the rule's local error or (output)
            // output error, then the update (and, local-learned, the
            // classifier's update). Nothing is stashed.
            g.add_label(&mut cs, 0..l, s);
            for i in 0..l {
                g.add_forward(&mut cs, i, F, s);
                if i + 1 < l {
                    g.add_send(&mut cs, i, F, s);
                    match case.rule {
                        Rule::Local => g.add_local_error(&mut cs, i, s),
                        Rule::Drtp => g.add_target_error(&mut cs, i, s),
                        _ => {
                            g.add_learned_error(&mut cs, i, s);
                            g.add_update_classifier(&mut cs, i, s);
                            g.add_learned_static(&mut cs, i);
                        }
                    }
                } else {
                    g.add_output_error(&mut cs, LE, s);
                }
                g.add_update(&mut cs, i, s);
            }
        }
        Rule::Pepita => {
            // Per sample: label to the output core; forward of every layer,
            // each hidden output stashed and sent on; output error (phase
            // backward), sent to core 0; input modulation; the modulated
            // pass of the hidden layers, each followed by its error (stash
            // read), update and transfer; the output layer's update.
            g.add_label(&mut cs, l - 1..l, s);
            for i in 0..l {
                g.add_forward(&mut cs, i, F, s);
                if i + 1 < l {
                    g.add_stash_output(&mut cs, i, s);
                    g.add_send(&mut cs, i, F, s);
                    g.add_forward(&mut cs, i, BW, s);
                    g.add_pepita_error(&mut cs, i, s);
                    g.add_send(&mut cs, i, BW, s);
                }
                g.add_update(&mut cs, i, s);
            }
            g.add_output_error(&mut cs, BW, s);
            if l > 1 {
                g.add_send_output_error(&mut cs, 0, s);
            }
            g.add_modulate(&mut cs, s);
            // Occupancy: each hidden core holds its first-pass output until
            // its modulated pass (a shared core holds all of them at once);
            // core 0 also holds the received output error.
            let mut held = vec![0u64; g.cores()];
            for i in 0..l - 1 {
                held[g.core(i)] += g.stash_out_words(i);
            }
            for (c, h) in cs.iter_mut().zip(held) {
                c.stash_peak_words = c.stash_peak_words.max(h);
            }
            if l > 1 {
                let need = g.err(g.rows(0)) + g.err(g.classes());
                let c = &mut cs[g.core(0)];
                c.error_peak_words = c.error_peak_words.max(need);
            }
        }
        Rule::Gaitprop(_) => {
            // Per sample: label to the output core; per layer its input
            // stashed, forward, and (hidden) its output stashed and sent
            // on; then from the top: the input restored, the GAIT-prop
            // step (target, error, target of the layer below), update.
            g.add_label(&mut cs, l - 1..l, s);
            let mut held = vec![0u64; g.cores()];
            for i in 0..l {
                g.add_stash(&mut cs, i, false, s, 1);
                held[g.core(i)] += g.stash_words(i);
                g.add_forward(&mut cs, i, F, s);
                if i + 1 < l {
                    g.add_stash_output(&mut cs, i, s);
                    held[g.core(i)] += g.stash_out_words(i);
                    g.add_send(&mut cs, i, F, s);
                }
                g.add_gait_step(&mut cs, i, s);
                g.add_update(&mut cs, i, s);
            }
            // Occupancy: a core holds its layers' inputs and hidden
            // outputs from the forward pass until the target comes back.
            for (c, h) in cs.iter_mut().zip(held) {
                c.stash_peak_words = c.stash_peak_words.max(h);
            }
        }
        Rule::Predsim => {
            // Per sample: label to every layer's core; per hidden layer its
            // input stashed, forward, its output kept and sent on; the
            // output layer's forward, output error (phase local_error) and
            // update. After the batch's forward passes, per hidden layer:
            // the similarity, then per sample restore, learned error,
            // similarity error, unstash, update, classifier update.
            g.add_label(&mut cs, 0..l, s);
            for i in 0..l {
                g.add_forward(&mut cs, i, F, s);
                if i + 1 < l {
                    g.add_send(&mut cs, i, F, s);
                    g.add_learned_error(&mut cs, i, s);
                    g.add_update_classifier(&mut cs, i, s);
                    g.add_learned_static(&mut cs, i);
                } else {
                    g.add_output_error(&mut cs, LE, s);
                }
                g.add_update(&mut cs, i, s);
            }
            // Per sample and hidden layer: the input, then the output kept.
            let kept: Vec<KeptVec> = (0..l - 1)
                .flat_map(|i| {
                    [
                        KeptVec {
                            layer: i,
                            words: g.stash_words(i),
                            bytes: g.spill_bytes(i),
                        },
                        KeptVec {
                            layer: i,
                            words: g.kept_words(i),
                            bytes: g.kept_bytes(i),
                        },
                    ]
                })
                .collect();
            for &b in &batches {
                let (split, held) = kept_split(&g, &kept, b);
                for i in 0..l - 1 {
                    let ((x_sram, x_dram), (h_sram, h_dram)) = (split[2 * i], split[2 * i + 1]);
                    g.add_stash(&mut cs, i, false, x_sram, 1);
                    g.add_stash(&mut cs, i, true, x_dram, 1);
                    g.add_keep_output(&mut cs, i, h_sram, h_dram);
                    g.add_similarity(&mut cs, i, h_sram, h_dram);
                    g.add_restore_output(&mut cs, i, h_sram, h_dram);
                    g.add_similarity_error(&mut cs, i, h_sram, h_dram);
                }
                for (c, (words, bytes)) in cs.iter_mut().zip(held) {
                    c.stash_peak_words = c.stash_peak_words.max(words);
                    c.spill_peak_bytes = c.spill_peak_bytes.max(bytes);
                }
            }
        }
        Rule::Bp(policy) | Rule::Fa(policy) | Rule::Dfa(policy) => {
            // Per sample: label to the output core; forward + transfer of
            // every layer; output error (phase backward); per layer from the
            // top: restore the input, backward (i > 0: through the weights,
            // FA's feedback ROM, or DFA's after the output error is sent to
            // a hidden core), update.
            g.add_label(&mut cs, l - 1..l, s);
            for i in 0..l {
                g.add_forward(&mut cs, i, F, s);
                if i + 1 < l {
                    g.add_send(&mut cs, i, F, s);
                }
                if i > 0 {
                    match case.rule {
                        Rule::Bp(_) => g.add_backward(&mut cs, i, s),
                        Rule::Fa(_) => g.add_backward_feedback(&mut cs, i, g.rows(i), s),
                        _ => {
                            if i + 1 < l {
                                g.add_send_output_error(&mut cs, i, s);
                            }
                            g.add_backward_feedback(&mut cs, i, g.classes(), s);
                        }
                    }
                }
                g.add_update(&mut cs, i, s);
            }
            g.add_output_error(&mut cs, BW, s);
            // Stashed layers and how often each stashed vector is restored:
            // stash/spill keep every layer's input, restored once; recompute
            // keeps only the network input, restored once per layer, and
            // re-runs the forward pass of layers 0..i−1 before layer i.
            let (stashed, reads): (Vec<usize>, u64) = match policy {
                BpPolicy::Stash | BpPolicy::Spill => ((0..l).collect(), 1),
                BpPolicy::Recompute => (vec![0], l as u64),
            };
            if policy == BpPolicy::Recompute {
                for i in 0..l {
                    for j in 0..i {
                        g.add_forward(&mut cs, j, BW, s);
                        g.add_send(&mut cs, j, BW, s);
                    }
                }
            }
            for &b in &batches {
                let (split, held) = stash_split(&g, &stashed, b);
                for (&i, &(sram, dram)) in stashed.iter().zip(&split) {
                    g.add_stash(&mut cs, i, false, sram, reads);
                    g.add_stash(&mut cs, i, true, dram, reads);
                }
                for (c, (words, bytes)) in cs.iter_mut().zip(held) {
                    c.stash_peak_words = c.stash_peak_words.max(words);
                    c.spill_peak_bytes = c.spill_peak_bytes.max(bytes);
                }
            }
            // With B > 1 the output errors of the whole batch are kept:
            // the error bank of the output core peaks at b·words(C, e).
            let kept = batches.iter().copied().max().unwrap_or(1) as u64;
            let e = g.err(g.classes());
            let c = &mut cs[g.core(l - 1)];
            c.error_peak_words = c.error_peak_words.max(kept * e);
            // DFA: a hidden core above layer 0 also holds the output error
            // it receives, next to its own error.
            if matches!(case.rule, Rule::Dfa(_)) {
                for i in 1..l.saturating_sub(1) {
                    let need = g.err(g.rows(i)) + g.err(g.classes());
                    let c = &mut cs[g.core(i)];
                    c.error_peak_words = c.error_peak_words.max(need);
                }
            }
        }
    }
    // No weights stream here: every DRAM byte is an activation (the
    // input, or a spilled stash vector).
    for c in &mut cs {
        for rw in 0..2 {
            c.dram_class_bytes[Class::Activation.index()][rw] =
                c.dram_bytes.iter().map(|p| p[rw]).sum();
        }
    }
    cs
}

/// Asserts that `got` equals `want` field by field, naming the first
/// differing fields and the case.
fn assert_counts(case: &Case, got: &[CoreCounts], want: &[CoreCounts]) {
    assert_eq!(got.len(), want.len(), "cores: {}", case.describe());
    for (core, (g, w)) in got.iter().zip(want).enumerate() {
        if g == w {
            continue;
        }
        let gv = serde_json::to_value(g).expect("serialise");
        let wv = serde_json::to_value(w).expect("serialise");
        let mut diffs = Vec::new();
        for (key, wf) in wv.as_object().expect("object") {
            let gf = &gv[key];
            if gf != wf {
                diffs.push(format!("  {key}: got {gf}, want {wf}"));
            }
        }
        let mut words = Vec::new();
        for &u in Unit::ALL {
            for &c in Class::ALL {
                for &p in Phase::ALL {
                    for &rw in Rw::ALL {
                        let (a, b) = (g.get_words(u, c, p, rw), w.get_words(u, c, p, rw));
                        if a != b {
                            words.push(format!("  words[{u}][{c}][{p}][{rw}]: got {a}, want {b}"));
                        }
                    }
                }
            }
        }
        panic!(
            "{}\ncore {core} differs:\n{}\n{}",
            case.describe(),
            diffs.join("\n"),
            words.join("\n")
        );
    }
}

/// Trains `case` and checks every counter; returns the result.
fn check(case: &Case) -> RunResult {
    let result = train(case);
    let s: usize = batch_sizes(case.n, case.batch, case.epochs).iter().sum();
    assert_eq!(result.samples, s as u64, "{}", case.describe());
    assert_counts(case, &result.counts, &expected(case));
    for c in &result.counts {
        assert_eq!(c.stash_words_now, 0, "stash released: {}", case.describe());
        assert_eq!(c.spill_bytes_now, 0, "spill released: {}", case.describe());
    }
    result
}

const SHAPES: [&[usize]; 3] = [&[16, 8, 4], &[20, 12, 12, 3], &[64, 32, 16, 8, 5]];
const RULES: [Rule; 12] = [
    Rule::Local,
    Rule::Bp(BpPolicy::Stash),
    Rule::Bp(BpPolicy::Spill),
    Rule::Bp(BpPolicy::Recompute),
    Rule::Fa(BpPolicy::Spill),
    Rule::Fa(BpPolicy::Recompute),
    Rule::Dfa(BpPolicy::Stash),
    Rule::Dfa(BpPolicy::Recompute),
    Rule::Drtp,
    Rule::LocalLearned,
    Rule::Pepita,
    Rule::Predsim,
];

/// The batch sizes to run `rule` at: `batches`, except that a rule whose
/// loss compares the samples of a batch (predsim) refuses batch 1 and runs
/// at batch 2 instead.
fn batches_for(rule: Rule, batches: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = batches
        .iter()
        .map(|&b| if rule.needs_batch() { b.max(2) } else { b })
        .collect();
    out.dedup();
    out
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// Self-check of the packing formula used above on the documented examples.
#[test]
fn packing_formula_matches_documented_examples() {
    assert_eq!(words(1000, 16, 64), 250);
    assert_eq!(words(1001, 16, 64), 251);
    assert_eq!(words(3, 24, 64), 2);
    assert_eq!(words(5, 72, 64), 10);
    assert_eq!(words(7, 16, 24), 7);
    assert_eq!(words(65, 1, 64), 2);
    for (n, b, w) in [(7, 16, 24), (100, 8, 128), (33, 16, 512), (5, 16, 8)] {
        assert_eq!(words(n, b, w), locus::hw::model::words_for(n as u64, b, w));
    }
}

#[test]
fn every_rule_and_shape_with_default_model_and_batches_1_3_4() {
    for shape in SHAPES {
        for rule in RULES {
            for batch in batches_for(rule, &[1, 3, 4]) {
                // N = 10 is divisible by neither 3 nor 4: a short last batch
                // (predsim at 3: a last batch of one sample).
                check(&Case::new(default_model(), shape, rule, batch, 10));
            }
        }
    }
}

#[test]
fn two_epochs_accumulate_and_peaks_do_not() {
    for rule in RULES {
        let mut case = Case::new(default_model(), &[20, 12, 12, 3], rule, 4, 9);
        case.epochs = 2;
        check(&case);
    }
}

#[test]
fn word_widths_64_128_512_and_24() {
    // 24-bit words hold floor(24/16) = 1 sixteen-bit value each.
    for bits in [64, 128, 512, 24] {
        for shape in SHAPES {
            for rule in RULES {
                for batch in batches_for(rule, &[1, 3]) {
                    let m = with_word_bits(default_model(), bits);
                    check(&Case::new(m, shape, rule, batch, 7));
                }
            }
        }
    }
}

#[test]
fn mixed_word_widths_per_bank() {
    let mut m = default_model();
    m.sram.weight.word_bits = 128;
    m.sram.activation.word_bits = 24;
    m.sram.error.word_bits = 40;
    m.sram.stash.word_bits = 512;
    m.rom.word_bits = 16;
    // 8-bit link words: a 16-bit value (or label) takes two words.
    m.interconnect.word_bits = 8;
    for shape in SHAPES {
        for rule in RULES {
            check(&Case::new(m.clone(), shape, rule, 3, 7));
        }
    }
}

#[test]
fn element_widths_8_and_16_and_mixed() {
    let eight = with_8bit_formats(default_model());
    let mut mixed = default_model();
    mixed.formats.activation = fmt(8, 4, Rounding::Nearest);
    mixed.formats.error = fmt(12, 8, Rounding::Nearest);
    for m in [eight, mixed] {
        for shape in SHAPES {
            for rule in RULES {
                for batch in batches_for(rule, &[1, 4]) {
                    check(&Case::new(m.clone(), shape, rule, batch, 10));
                }
            }
        }
    }
}

#[test]
fn shared_core_has_one_core_and_no_hops() {
    for shape in SHAPES {
        for rule in RULES {
            for batch in batches_for(rule, &[1, 3]) {
                let mut m = default_model();
                m.mapping = Mapping::SharedCore;
                let r = check(&Case::new(m, shape, rule, batch, 7));
                assert_eq!(r.counts.len(), 1);
                let c = &r.counts[0];
                // Only the label comes over a link, one word and hop per sample.
                assert_eq!(c.noc_word_hops.iter().sum::<u64>(), 7);
                assert_eq!(c.noc_words[F][Class::Label as usize], 7);
            }
        }
    }
}

#[test]
fn rom_storage_sign_bits_values_and_lfsr() {
    for storage in [
        RomStorage::SignBits,
        RomStorage::Values { bits: 4 },
        RomStorage::Lfsr,
    ] {
        for shape in SHAPES {
            let mut m = default_model();
            m.rom.storage = storage;
            // The other ROM users: every counter checked for each storage.
            for rule in [
                Rule::Fa(BpPolicy::Spill),
                Rule::Dfa(BpPolicy::Spill),
                Rule::Drtp,
                Rule::Pepita,
            ] {
                check(&Case::new(m.clone(), shape, rule, 2, 5));
            }
            let r = check(&Case::new(m, shape, Rule::Local, 1, 5));
            let rom: u64 = r
                .counts
                .iter()
                .map(|c| c.unit_words(Unit::Rom, Rw::Read).unwrap())
                .sum();
            let steps: u64 = r
                .counts
                .iter()
                .map(|c| c.rom_generator_steps.iter().sum::<u64>())
                .sum();
            // Σ over hidden layers of 2·C·r per sample.
            let entries: u64 = (1..shape.len() - 1)
                .map(|i| 2 * (shape[i] * shape[shape.len() - 1]) as u64)
                .sum();
            match storage {
                RomStorage::Lfsr => {
                    assert_eq!(rom, 0);
                    assert_eq!(steps, 5 * entries);
                }
                _ => {
                    assert!(rom > 0);
                    assert_eq!(steps, 0);
                }
            }
        }
    }
}

/// A stash bank of 9 words (64-bit words, 16-bit activations): a 16-input
/// layer's vector takes 4 words, so 2 of a batch of 4 stay on chip and 2
/// go to DRAM; the 8-input layer's 2-word vectors all fit.
#[test]
fn spill_splits_between_stash_bank_and_dram_exactly() {
    let mut m = default_model();
    m.sram.stash.capacity_bytes = 9 * 8;
    let case = Case::new(m.clone(), &[16, 8, 4], Rule::Bp(BpPolicy::Spill), 4, 10);
    let r = check(&case);
    // Batches 4, 4, 2: layer 0 keeps min(b, 2) on chip, the rest in DRAM.
    let l0 = &r.counts[0];
    let sram_vectors = 2 + 2 + 2;
    let dram_vectors = 2 + 2;
    assert_eq!(
        l0.words[Unit::Stash as usize][Class::Activation as usize][F][W],
        4 * sram_vectors
    );
    assert_eq!(l0.dram_bytes[F][W], 32 * dram_vectors);
    assert_eq!(l0.dram_bytes[BW][R], 32 * dram_vectors);
    assert_eq!(l0.dram_bursts[F][W], dram_vectors);
    assert_eq!(l0.stash_peak_words, 8);
    assert_eq!(l0.spill_peak_bytes, 64);
    let l1 = &r.counts[1];
    assert_eq!(l1.dram_bytes, [[0; 2]; 4]);
    assert_eq!(l1.stash_peak_words, 4 * 2);

    // Wider inputs: 64 inputs = 128 bytes = 2 bursts of 64; 20 inputs of
    // 16 bits = 40 bytes = 2 bursts of 32; various capacities.
    for (shape, cap_words, burst) in [
        (&[64, 32, 16, 8, 5][..], 40, 64),
        (&[20, 12, 12, 3][..], 12, 32),
        (&[20, 12, 12, 3][..], 5, 16),
    ] {
        for mapping in [Mapping::CorePerLayer, Mapping::SharedCore] {
            for rule in [Rule::Bp(BpPolicy::Spill), Rule::Bp(BpPolicy::Recompute)] {
                for batch in [1, 3, 4] {
                    let mut m = default_model();
                    m.sram.stash.capacity_bytes = cap_words * 8;
                    m.dram.burst_bytes = burst;
                    m.mapping = mapping.clone();
                    let r = check(&Case::new(m, shape, rule, batch, 10));
                    let spilled: u64 = r
                        .counts
                        .iter()
                        .map(|c| c.dram_total(Rw::Write).unwrap())
                        .sum();
                    let stashed: u64 = r
                        .counts
                        .iter()
                        .map(|c| c.unit_words(Unit::Stash, Rw::Write).unwrap())
                        .sum();
                    if batch > 1 {
                        assert!(spilled > 0 && stashed > 0, "some but not all spill");
                    }
                }
            }
        }
    }
}

/// Predsim keeps every hidden layer's input and output of the batch, in
/// the stash bank while they fit and in DRAM beyond. 16-8-4 with a stash
/// bank of 9 words (64-bit words, 16-bit activations): per sample core 0
/// keeps its input (4 words, 32 bytes) then its output (2 words, 16
/// bytes). Batch of 4: sample 1 keeps both on chip (6 words); sample 2's
/// input would make 10 and goes to DRAM, its output fits (8); samples 3
/// and 4 keep both in DRAM. Batch of 2: input 1 of 2 and both outputs on
/// chip. Each kept output is read `B + 2` times (similarity, restore,
/// every sample's similarity error), each input once (unstash).
#[test]
fn predsim_keeps_inputs_and_outputs_in_stash_then_dram() {
    let mut m = default_model();
    m.sram.stash.capacity_bytes = 9 * 8;
    let r = check(&Case::new(m.clone(), &[16, 8, 4], Rule::Predsim, 4, 10));
    // Batches 4, 4, 2.
    let c = &r.counts[0];
    let stash =
        |p: usize, rw: usize| c.words[Unit::Stash as usize][Class::Activation as usize][p][rw];
    // Inputs on chip 1 + 1 + 1, in DRAM 3 + 3 + 1; outputs on chip
    // 2 + 2 + 2, in DRAM 2 + 2 + 0.
    assert_eq!(stash(F, W), 3 * 4 + 6 * 2);
    assert_eq!(c.dram_bytes[F][W], 7 * 32 + 4 * 16);
    assert_eq!(c.dram_bursts[F][W], 7 + 4, "one 64-byte burst each");
    assert_eq!(stash(LE, R), 2 * 6 * 2 + 2 * 6 * 2 + 2 * 4 * 2);
    assert_eq!(c.dram_bytes[LE][R], 2 * (2 * 6 * 16));
    assert_eq!(stash(BW, R), 3 * 4);
    assert_eq!(c.dram_bytes[BW][R], 7 * 32);
    assert_eq!(c.stash_peak_words, 8);
    assert_eq!(c.spill_peak_bytes, 3 * 32 + 2 * 16);
    // The output core keeps nothing.
    assert_eq!(r.counts[1].stash_peak_words, 0);
    assert_eq!(r.counts[1].dram_total(Rw::Write), Ok(0));

    // A one-word stash bank: everything in DRAM, the stash bank untouched.
    m.sram.stash.capacity_bytes = 8;
    let r = check(&Case::new(m, &[16, 8, 4], Rule::Predsim, 4, 10));
    let c = &r.counts[0];
    assert_eq!(c.unit_words(Unit::Stash, Rw::Write).unwrap(), 0);
    assert_eq!(c.unit_words(Unit::Stash, Rw::Read).unwrap(), 0);
    assert_eq!(c.stash_peak_words, 0);
    assert_eq!(c.spill_peak_bytes, 4 * (32 + 16));

    // A wide layer in the default 64 KiB (8192-word) stash bank:
    // 16-2048-4 at batch 16 keeps 4 + 512 words per sample; the 16th
    // output would make 16·516 = 8256 words and goes to DRAM (4096 bytes,
    // 64 bursts), read back 16 + 2 times.
    let r = check(&Case::new(
        default_model(),
        &[16, 2048, 4],
        Rule::Predsim,
        16,
        16,
    ));
    let c = &r.counts[0];
    assert_eq!(c.dram_bytes[F][W], 4096);
    assert_eq!(c.dram_bursts[F][W], 64);
    assert_eq!(c.dram_bytes[LE][R], 18 * 4096);
    assert_eq!(c.dram_bytes[BW][R], 0);
    assert_eq!(c.stash_peak_words, 16 * 4 + 15 * 512);
    assert_eq!(c.spill_peak_bytes, 4096);

    // Other shapes, capacities, bursts, both mappings, batches 2 to 4
    // (N = 10: short last batches of 1 and 2).
    let mut outputs_spilled = 0;
    for (shape, cap_words, burst) in [
        (&[64, 32, 16, 8, 5][..], 40, 64),
        (&[20, 12, 12, 3][..], 12, 32),
        (&[20, 12, 12, 3][..], 5, 16),
    ] {
        for mapping in [Mapping::CorePerLayer, Mapping::SharedCore] {
            for batch in [2, 3, 4] {
                let mut m = default_model();
                m.sram.stash.capacity_bytes = cap_words * 8;
                m.dram.burst_bytes = burst;
                m.mapping = mapping.clone();
                let case = Case::new(m, shape, Rule::Predsim, batch, 10);
                let r = check(&case);
                let spilled: u64 = r.counts.iter().map(|c| c.dram_bytes[F][W]).sum();
                let stashed: u64 = r
                    .counts
                    .iter()
                    .map(|c| c.unit_words(Unit::Stash, Rw::Write).unwrap())
                    .sum();
                assert!(
                    spilled > 0 && stashed > 0,
                    "some but not all spill: {}",
                    case.describe()
                );
                outputs_spilled += r.counts.iter().any(|c| c.dram_bytes[LE][R] > 0) as usize;
            }
        }
    }
    assert!(outputs_spilled > 0, "some cases spill kept outputs");
}

#[test]
fn bp_peak_stash_is_batch_times_input_words_local_is_zero() {
    for shape in SHAPES {
        for batch in [1, 3, 4] {
            let n = 10;
            let m = with_word_bits(default_model(), 128);
            let bp = check(&Case::new(
                m.clone(),
                shape,
                Rule::Bp(BpPolicy::Stash),
                batch,
                n,
            ));
            for (i, c) in bp.counts.iter().enumerate() {
                // B × words(c_i, a, W_stash), W_stash = 128: 8 values a word.
                assert_eq!(
                    c.stash_peak_words,
                    batch as u64 * (shape[i] as u64).div_ceil(8),
                    "layer {i}"
                );
                assert_eq!(c.spill_peak_bytes, 0);
            }
            let local = check(&Case::new(m, shape, Rule::Local, batch, n));
            for c in &local.counts {
                assert_eq!(c.stash_peak_words, 0);
                assert_eq!(c.spill_peak_bytes, 0);
                assert_eq!(c.unit_words(Unit::Stash, Rw::Write).unwrap(), 0);
            }
        }
    }
}

#[test]
fn stochastic_update_draws_one_per_weight_and_bias_and_matches_datapath() {
    for shape in SHAPES {
        for rule in RULES {
            let r = check(&Case::new(
                stochastic_update(default_model()),
                shape,
                rule,
                3,
                7,
            ));
            // Update and weight round stochastically with equal frac: one
            // draw per weight and bias per update, all in phase update
            // (local-learned and predsim: and per classifier entry and
            // bias, C·(r+1) per hidden layer).
            let mut per_sample: u64 = shape.windows(2).map(|w| (w[1] * (w[0] + 1)) as u64).sum();
            if matches!(rule, Rule::LocalLearned | Rule::Predsim) {
                let c = shape[shape.len() - 1];
                per_sample += shape[1..shape.len() - 1]
                    .iter()
                    .map(|&r| (c * (r + 1)) as u64)
                    .sum::<u64>();
            }
            let total: u64 = r
                .counts
                .iter()
                .map(|c| c.lfsr_draws.iter().sum::<u64>())
                .sum();
            let update: u64 = r.counts.iter().map(|c| c.lfsr_draws[UP]).sum();
            assert_eq!(total, 7 * per_sample);
            assert_eq!(update, total);
            assert_eq!(r.datapath_lfsr_draws, total);
        }
    }
}

/// The model with weights and updates rounded stochastically (the shipped
/// default rounds them to nearest).
fn stochastic_update(mut m: HwModel) -> HwModel {
    m.formats.weight.rounding = Rounding::Stochastic;
    m.formats.update.rounding = Rounding::Stochastic;
    m
}

#[test]
fn nearest_rounding_everywhere_draws_nothing() {
    for shape in SHAPES {
        for rule in RULES {
            let r = check(&Case::new(all_nearest(default_model()), shape, rule, 3, 7));
            let total: u64 = r
                .counts
                .iter()
                .map(|c| c.lfsr_draws.iter().sum::<u64>())
                .sum();
            assert_eq!(total, 0);
            assert_eq!(r.datapath_lfsr_draws, 0);
        }
    }
}

/// Stochastic rounding of activations and errors draws too (forward,
/// local-error, output-error and backward requantisations): the counted
/// draws equal the datapath's in every such configuration (the uncounted
/// evaluation after each epoch restores the LFSR and its draw count).
#[test]
fn stochastic_activation_and_error_rounding_draws_are_counted() {
    let mut variants = Vec::new();
    for (act, err) in [
        (Rounding::Stochastic, Rounding::Nearest),
        (Rounding::Nearest, Rounding::Stochastic),
        (Rounding::Stochastic, Rounding::Stochastic),
    ] {
        for mut m in [default_model(), with_8bit_formats(default_model())] {
            m.formats.activation.rounding = act;
            m.formats.error.rounding = err;
            variants.push(m);
        }
    }
    for m in variants {
        for shape in SHAPES {
            for rule in RULES {
                let r = check(&Case::new(m.clone(), shape, rule, 3, 7));
                let total: u64 = r
                    .counts
                    .iter()
                    .map(|c| c.lfsr_draws.iter().sum::<u64>())
                    .sum();
                let training: u64 = r.counts.iter().map(|c| c.lfsr_draws[UP]).sum();
                assert!(total > training, "draws outside the update phase");
                assert_eq!(r.datapath_lfsr_draws, total, "{:?} {}", shape, rule.label());
            }
        }
    }
}

#[test]
fn f32_counts_equal_fixed_counts_except_lfsr_draws() {
    for m in [
        stochastic_update(default_model()),
        with_8bit_formats(default_model()),
    ] {
        for shape in SHAPES {
            for rule in RULES {
                let fixed = Case::new(m.clone(), shape, rule, 3, 7);
                let mut float = fixed.clone();
                float.arith = Arith::F32;
                let a = check(&fixed);
                let b = check(&float);
                assert_eq!(b.datapath_lfsr_draws, 0);
                for (x, y) in a.counts.iter().zip(&b.counts) {
                    assert!(y.lfsr_draws.iter().all(|&d| d == 0));
                    assert!(x.lfsr_draws.iter().any(|&d| d > 0));
                    let mut x = x.clone();
                    x.lfsr_draws = y.lfsr_draws;
                    assert_eq!(&x, y, "{:?} {}", shape, rule.label());
                }
            }
        }
    }
}

/// Recompute against stash, same run otherwise: the backward phase has
/// `N · Σ_i Σ_{j<i} r_j·c_j` more MACs and `N · Σ_i Σ_{j<i} words(r_j·c_j +
/// r_j, w)` more weight reads (the forward cost of layers `0..i−1` per layer
/// `i`, per sample).
#[test]
fn recompute_adds_the_forward_cost_of_lower_layers_to_backward() {
    for shape in SHAPES {
        for batch in [1, 3] {
            let n = 7u64;
            let m = default_model();
            let stash = check(&Case::new(
                m.clone(),
                shape,
                Rule::Bp(BpPolicy::Stash),
                batch,
                7,
            ));
            let rec = check(&Case::new(
                m,
                shape,
                Rule::Bp(BpPolicy::Recompute),
                batch,
                7,
            ));
            let l = shape.len() - 1;
            let wb = 512 / 16;
            let mut macs = vec![0u64; l];
            let mut wreads = vec![0u64; l];
            for i in 0..l {
                for j in 0..i {
                    let (r, c) = (shape[j + 1] as u64, shape[j] as u64);
                    macs[j] += n * r * c;
                    wreads[j] += n * (r * c + r).div_ceil(wb);
                }
            }
            let wr = |c: &CoreCounts| c.words[Unit::Weight as usize][Class::Weight as usize][BW][R];
            for j in 0..l {
                let (s, r) = (&stash.counts[j], &rec.counts[j]);
                assert_eq!(r.macs[BW] - s.macs[BW], macs[j], "layer {j}");
                assert_eq!(wr(r) - wr(s), wreads[j], "layer {j}");
                assert_eq!(r.macs[F], s.macs[F]);
                assert_eq!(r.macs[UP], s.macs[UP]);
            }
        }
    }
}

/// Edge shapes of the further rules: PEPITA on a single layer (the output
/// error is already on core 0: no transfer, no stash, no second pass),
/// predsim on a single layer (no hidden layer: nothing kept, no
/// similarity), and DFA / FA with one hidden layer (no output error to
/// send), both mappings.
#[test]
fn further_rules_on_one_and_two_layer_networks() {
    for mapping in [Mapping::CorePerLayer, Mapping::SharedCore] {
        let mut m = default_model();
        m.mapping = mapping.clone();
        let r = check(&Case::new(m.clone(), &[16, 4], Rule::Pepita, 2, 5));
        assert_eq!(r.counts[0].stash_peak_words, 0);
        assert_eq!(r.counts[0].macs[BW], 5 * 16 * 4, "modulation only");
        let r = check(&Case::new(m.clone(), &[16, 4], Rule::Predsim, 2, 5));
        assert_eq!(r.counts[0].stash_peak_words, 0);
        assert_eq!(
            r.counts[0].macs[LE], 0,
            "no similarity without a hidden layer"
        );
        for rule in [
            Rule::Dfa(BpPolicy::Spill),
            Rule::Fa(BpPolicy::Spill),
            Rule::Pepita,
            Rule::Drtp,
            Rule::LocalLearned,
            Rule::Predsim,
        ] {
            check(&Case::new(m.clone(), &[16, 8, 4], rule, 3, 7));
        }
    }
}

/// GAIT-prop on square networks (every hidden size equal to the input
/// size), a single layer, both mappings, batches 1 and 3, 64- and 24-bit
/// words, and stochastic activation and error rounding (draws counted).
#[test]
fn gaitprop_counts_in_closed_form() {
    let shapes: [&[usize]; 3] = [&[16, 16, 4], &[12, 12, 12, 3], &[8, 5]];
    for mapping in [Mapping::CorePerLayer, Mapping::SharedCore] {
        for bits in [64, 24] {
            let mut m = with_word_bits(default_model(), bits);
            m.mapping = mapping.clone();
            for shape in shapes {
                for g in [10, 1] {
                    for batch in [1, 3] {
                        check(&Case::new(m.clone(), shape, Rule::Gaitprop(g), batch, 7));
                    }
                }
            }
        }
    }
    let mut m = default_model();
    m.formats.activation.rounding = Rounding::Stochastic;
    m.formats.error.rounding = Rounding::Stochastic;
    let r = check(&Case::new(m, &[12, 12, 12, 3], Rule::Gaitprop(2), 2, 5));
    let counted: u64 = r.counts.iter().flat_map(|c| c.lfsr_draws).sum();
    assert!(counted > 0);
    assert_eq!(
        counted, r.datapath_lfsr_draws,
        "counted draws = datapath draws"
    );
}
