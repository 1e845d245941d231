//! Every counter of CNN training runs checked against closed-form formulas.
//!
//! As `tests/counts.rs` does for dense networks: small CNNs (3×3 and 5×5
//! kernels, stride 1 and 2, padding, max and average pooling, dense layers
//! after the convolutions) train on synthetic data through the library, and
//! each field of every core's `CoreCounts` is compared with a value computed
//! here. The conv shapes are worked out in this file from the kernel,
//! stride, padding and pool sizes (`(h + 2p − k)/s + 1`), independently of
//! `locus::net::spec`; the dataflow is the one `docs/hw_model.md`
//! ("Convolution layers") states: kernels read once per call, one input
//! patch of `c·k·k` values (padding included) read per output position,
//! pooling fused (the pooled output and the pool tensor written), the pool
//! tensor kept with the layer input in backprop's stash.

mod conv_layers;

use conv_layers::{Lay, conv, grouped};
use locus::data::{Dataset, SyntheticSpec, generate};
use locus::hw::core::NetSpec;
use locus::hw::counters::{Class, CoreCounts, Phase, Rw, Unit};
use locus::hw::datapath::Activation;
use locus::hw::model::{HwModel, Mapping, RomStorage, TensorFormat};
use locus::quant::Rounding;
use locus::rules::{BpPolicy, Rule};
use locus::sim::{Arith, RunResult, TrainConfig, run};
use std::path::Path;

fn default_model() -> HwModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
    locus::hw::model::load(&path).expect("default model loads")
}

fn fmt(bits: u32, frac: u32, rounding: Rounding) -> TensorFormat {
    TensorFormat {
        bits,
        frac,
        rounding,
        overflow: locus::quant::Overflow::Saturate,
    }
}

/// 8-bit formats, stochastic activations, errors, updates and weights
/// (update.frac > weight.frac: two update draws per weight); 24-bit words in
/// every bank, the ROM and the link; a 40-byte stash bank (spills).
fn narrow_model() -> HwModel {
    let mut m = default_model();
    let f = &mut m.formats;
    f.weight = fmt(8, 6, Rounding::Stochastic);
    f.activation = fmt(8, 4, Rounding::Stochastic);
    f.error = fmt(8, 6, Rounding::Stochastic);
    f.update = fmt(8, 7, Rounding::Stochastic);
    for bank in [
        &mut m.sram.weight,
        &mut m.sram.activation,
        &mut m.sram.error,
        &mut m.sram.stash,
    ] {
        bank.word_bits = 24;
    }
    m.rom.word_bits = 24;
    m.interconnect.word_bits = 24;
    m.sram.stash.capacity_bytes = 40;
    m
}

impl Lay {
    fn pool_n(&self) -> usize {
        match *self {
            Lay::Conv {
                pool: Some((_, n)), ..
            } => n,
            _ => 1,
        }
    }
    /// Inputs (flattened map).
    fn cols(&self) -> usize {
        match *self {
            Lay::Dense { c, .. } => c,
            Lay::Conv { ic, h, w, .. } => ic * h * w,
        }
    }
    /// Outputs (flattened pooled map).
    fn rows(&self) -> usize {
        match *self {
            Lay::Dense { r, .. } => r,
            Lay::Conv { o, .. } => {
                let (a, b) = self.conv_hw();
                o * self.pooled_side(a) * self.pooled_side(b)
            }
        }
    }
    /// Weight matrix `(rows, cols)`: dense `r × c`, conv `o × ic·k·k`.
    fn wshape(&self) -> (usize, usize) {
        match *self {
            Lay::Dense { r, c } => (r, c),
            Lay::Conv { g, ic, k, o, .. } => (o, ic / g * k * k),
        }
    }
    /// Pool tensor `(values, bits)`: max — one `ceil(log2 n²)`-bit index
    /// per pooled output; average — one derivative bit per conv output.
    fn pool_tensor(&self) -> (usize, u32) {
        match *self {
            Lay::Conv {
                o,
                pool: Some((max, n)),
                ..
            } => {
                if max {
                    let bits = (((n * n) as f64).log2().ceil() as u32).max(1);
                    (self.rows(), bits)
                } else {
                    (o * self.positions(), 1)
                }
            }
            _ => (0, 0),
        }
    }
    fn pooled(&self) -> bool {
        matches!(self, Lay::Conv { pool: Some(_), .. })
    }
    /// One position's patch over every input channel, `ic·k·k` (all
    /// groups): what the im2col read fetches.
    fn patch_in(&self) -> usize {
        match *self {
            Lay::Conv { ic, k, .. } => ic * k * k,
            Lay::Dense { c, .. } => c,
        }
    }
    /// Reciprocal multiplies of an average pool whose side is not a power
    /// of two: one per scaled result, else none.
    fn recip(&self, results: usize) -> usize {
        match *self {
            Lay::Conv {
                pool: Some((false, n)),
                ..
            } if !n.is_power_of_two() => results,
            _ => 0,
        }
    }
}

/// Test net: text for the CLI/library and the layers worked out by hand.
struct Net {
    text: &'static str,
    layers: Vec<Lay>,
}

fn nets() -> Vec<Net> {
    vec![
        // 3×3, stride 1, max pool: 8 → 6 → 3.
        Net {
            text: "1x8x8,conv3x3x4,maxpool2,5",
            layers: vec![
                conv(1, 8, 3, 4, 1, 0, Some((true, 2))),
                Lay::Dense { r: 5, c: 36 },
            ],
        },
        // 5×5, stride 2, padding 2, no pool: (9 + 4 − 5)/2 + 1 = 5.
        Net {
            text: "2x9x9,conv5x5x3s2p2,6",
            layers: vec![conv(2, 9, 5, 3, 2, 2, None), Lay::Dense { r: 6, c: 75 }],
        },
        // Padding 1 + average pool (12 → 12 → 6), then 5×5 + max pool
        // (6 → 2 → 1).
        Net {
            text: "1x12x12,conv3x3x4p1,avgpool2,conv5x5x6,maxpool2,4",
            layers: vec![
                conv(1, 12, 3, 4, 1, 1, Some((false, 2))),
                conv(4, 6, 5, 6, 1, 0, Some((true, 2))),
                Lay::Dense { r: 4, c: 6 },
            ],
        },
        // Average pool, then a strided padded conv ((5 + 2 − 3)/2 + 1 = 3),
        // two dense layers; a 3×3 max pool (4-bit indices) in the first.
        Net {
            text: "1x10x10,conv3x3x2p1,avgpool2,conv3x3x3s2p1,7,5",
            layers: vec![
                conv(1, 10, 3, 2, 1, 1, Some((false, 2))),
                conv(2, 5, 3, 3, 2, 1, None),
                Lay::Dense { r: 7, c: 27 },
                Lay::Dense { r: 5, c: 7 },
            ],
        },
        // A stride the input does not divide (floor: (11 − 3)/2 + 1 = 5
        // positions a side; the last row and column are read by none), then
        // a 2×2 kernel with padding 1 (5 + 2 − 2 + 1 = 6) and a 3×3 average
        // pool (6 → 2), whose division is a reciprocal multiply.
        Net {
            text: "2x11x11,conv3x3x3s2,conv2x2x4p1,avgpool3,5",
            layers: vec![
                conv(2, 11, 3, 3, 2, 0, None),
                conv(3, 5, 2, 4, 1, 1, Some((false, 3))),
                Lay::Dense { r: 5, c: 16 },
            ],
        },
        // Grouped convolutions: 2 groups of 1 → 2 channels at stride 2
        // ((13 − 3)/2 + 1 = 6), then depthwise (4 groups of 1 → 1) with a
        // 3×3 average pool (6 → 2).
        Net {
            text: "2x13x13,conv3x3x4s2g2,conv3x3x4p1g4,avgpool3,5",
            layers: vec![
                grouped(2, 13, 3, 4, 2, 0, 2, None),
                grouped(4, 6, 3, 4, 1, 1, 4, Some((false, 3))),
                Lay::Dense { r: 5, c: 16 },
            ],
        },
        // ResNet's stem pool, overlapping and padded: 3×3 windows at
        // stride 2 over the 8×8 map padded by 1, (8 + 2 − 3)/2 + 1 = 4.
        Net {
            text: "1x8x8,conv3x3x3p1,maxpool3s2p1,4",
            layers: vec![
                conv(1, 8, 3, 3, 1, 1, Some((true, 3))).pool_at(2, 1),
                Lay::Dense { r: 4, c: 48 },
            ],
        },
        Net {
            text: "1x6x6,conv1x1x2,maxpool3,3",
            layers: vec![
                conv(1, 6, 1, 2, 1, 0, Some((true, 3))),
                Lay::Dense { r: 3, c: 8 },
            ],
        },
    ]
}

/// Packing: `n` values of `b` bits in `w`-bit words.
fn words(n: usize, b: u32, w: u32) -> u64 {
    let n = n as u64;
    if n == 0 {
        0
    } else if b <= w {
        n.div_ceil((w / b) as u64)
    } else {
        n * b.div_ceil(w) as u64
    }
}

fn dram_bytes(n: usize, b: u32) -> u64 {
    (n as u64 * b as u64).div_ceil(8)
}

const F: usize = Phase::Forward as usize;
const LE: usize = Phase::LocalError as usize;
const BW: usize = Phase::Backward as usize;
const UP: usize = Phase::Update as usize;
const R: usize = 0;
const W: usize = 1;
const A: usize = Unit::Activation as usize;
const CA: usize = Class::Activation as usize;

struct Geo<'a> {
    m: &'a HwModel,
    l: &'a [Lay],
    fixed: bool,
}

impl Geo<'_> {
    fn n(&self) -> usize {
        self.l.len()
    }
    /// The core of layer `i`: `i`, or 0 on a shared core.
    fn core(&self, i: usize) -> usize {
        match &self.m.mapping {
            Mapping::CorePerLayer => i,
            Mapping::SharedCore => 0,
            Mapping::Cores(_) | Mapping::LayerCores(_) => unreachable!("N cores: tests/mapping.rs"),
        }
    }
    fn cores(&self) -> usize {
        self.core(self.n() - 1) + 1
    }
    /// Hops between neighbouring layers: 1, or 0 on a shared core.
    fn hop(&self) -> u64 {
        match &self.m.mapping {
            Mapping::CorePerLayer => 1,
            Mapping::SharedCore => 0,
            Mapping::Cores(_) | Mapping::LayerCores(_) => unreachable!("N cores: tests/mapping.rs"),
        }
    }
    fn classes(&self) -> usize {
        self.l[self.n() - 1].rows()
    }
    fn ab(&self) -> u32 {
        self.m.formats.activation.bits
    }
    fn act(&self, n: usize) -> u64 {
        words(n, self.ab(), self.m.sram.activation.word_bits)
    }
    fn wgt(&self, n: usize) -> u64 {
        words(n, self.m.formats.weight.bits, self.m.sram.weight.word_bits)
    }
    fn err(&self, n: usize) -> u64 {
        words(n, self.m.formats.error.bits, self.m.sram.error.word_bits)
    }
    /// Pool-tensor words in a bank of `wb`-bit words.
    fn pool_words(&self, i: usize, wb: u32) -> u64 {
        let (n, b) = self.l[i].pool_tensor();
        words(n, b, wb)
    }
    fn pool_act(&self, i: usize) -> u64 {
        self.pool_words(i, self.m.sram.activation.word_bits)
    }
    /// The stored conv output of an overlapping pool (else 0), words.
    fn map_act(&self, i: usize) -> u64 {
        match self.l[i] {
            l @ Lay::Conv { o, .. } if l.overlapping() => self.act(o * l.positions()),
            _ => 0,
        }
    }
    /// Stash words of one slot: input and pool tensor.
    fn slot_words(&self, i: usize) -> u64 {
        let ws = self.m.sram.stash.word_bits;
        words(self.l[i].cols(), self.ab(), ws) + self.pool_words(i, ws)
    }
    /// DRAM bytes of one spilled slot.
    fn slot_bytes(&self, i: usize) -> u64 {
        let (n, b) = self.l[i].pool_tensor();
        dram_bytes(self.l[i].cols(), self.ab()) + dram_bytes(n, b)
    }
    fn bursts(&self, bytes: u64) -> u64 {
        bytes.div_ceil(self.m.dram.burst_bytes as u64)
    }
    fn lat(&self, unit: &str) -> u64 {
        let s = &self.m.sram;
        (match unit {
            "w" => s.weight.latency_cycles,
            "a" => s.activation.latency_cycles,
            "e" => s.error.latency_cycles,
            "s" => s.stash.latency_cycles,
            "dram" => self.m.dram.latency_cycles,
            _ => self.m.interconnect.hop_latency_cycles,
        }) as u64
    }
    fn draws(&self, rounding: Rounding, n: usize) -> u64 {
        if self.fixed && rounding == Rounding::Stochastic {
            n as u64
        } else {
            0
        }
    }

    fn add_static(&self, cs: &mut [CoreCounts]) {
        for (i, l) in self.l.iter().enumerate() {
            let (wr, wc) = l.wshape();
            let act = self.act(l.cols()) + self.act(l.rows()) + self.pool_act(i) + self.map_act(i);
            let k = &mut cs[self.core(i)];
            k.weight_words += self.wgt(wr * wc + wr);
            k.activation_peak_words = k.activation_peak_words.max(act);
            k.error_peak_words = k.error_peak_words.max(self.err(l.rows()));
        }
    }

    fn add_load_input(&self, cs: &mut [CoreCounts], k: u64) {
        let bytes = dram_bytes(self.l[0].cols(), self.ab());
        let c = &mut cs[self.core(0)];
        c.dram_bytes[F][R] += k * bytes;
        c.dram_bursts[F][R] += k * self.bursts(bytes);
        c.latency_cycles[F] += k * self.lat("dram");
        c.words[A][CA][F][W] += k * self.act(self.l[0].cols());
    }

    fn add_label(&self, cs: &mut [CoreCounts], layers: std::ops::Range<usize>, k: u64) {
        let w = words(1, 16, self.m.interconnect.word_bits);
        let mut cores: Vec<usize> = layers.map(|i| self.core(i)).collect();
        cores.dedup();
        for core in cores {
            cs[core].noc_words[F][Class::Label as usize] += k * w;
            cs[core].noc_word_hops[F] += k * w;
        }
    }

    /// Forward of layer `i` in phase `p`. Conv: `P·words(ic·k·k, a)` patch
    /// reads, `words(o·ic·k·k + o, w)` kernel reads, `words(r, a)` output
    /// and the pool tensor written, `P·o·ic·k·k` MACs, activation draws for
    /// the `o·P` conv outputs (+ `r` averages), `(n²−1)·r` compares (max) or
    /// adds (average). Dense as in `tests/counts.rs`.
    fn add_forward(&self, cs: &mut [CoreCounts], i: usize, p: usize, k: u64) {
        let l = self.l[i];
        let ar = self.m.formats.activation.rounding;
        let (wr, wc) = l.wshape();
        let (xr, macs, mut draws) = match l {
            Lay::Dense { r, c } => (self.act(c), r * c, self.draws(ar, r)),
            Lay::Conv { o, .. } => {
                let pp = l.positions();
                (
                    pp as u64 * self.act(l.patch_in()),
                    pp * o * wc + l.recip(l.rows()),
                    self.draws(ar, o * pp),
                )
            }
        };
        let nn = (l.pool_n() * l.pool_n()) as u64;
        let c = &mut cs[self.core(i)];
        if let Lay::Conv {
            pool: Some((max, _)),
            ..
        } = l
        {
            let ops = (nn - 1) * l.rows() as u64;
            if max {
                c.compares[p] += k * ops;
            } else {
                c.adds[p] += k * ops;
                draws += self.draws(ar, l.rows());
            }
        }
        c.words[A][CA][p][R] += k * (xr + self.map_act(i));
        c.words[Unit::Weight as usize][Class::Weight as usize][p][R] += k * self.wgt(wr * wc + wr);
        c.words[A][CA][p][W] += k * (self.act(l.rows()) + self.pool_act(i) + self.map_act(i));
        c.macs[p] += k * macs as u64;
        c.latency_cycles[p] += k * (self.lat("w") + self.lat("a"));
        c.lfsr_draws[p] += k * draws;
    }

    fn add_send(&self, cs: &mut [CoreCounts], i: usize, p: usize, k: u64) {
        if self.hop() == 0 {
            return;
        }
        let r = self.l[i].rows();
        let aw = self.act(r);
        let nw = words(r, self.ab(), self.m.interconnect.word_bits);
        cs[i].words[A][CA][p][R] += k * aw;
        cs[i].noc_words[p][CA] += k * nw;
        cs[i].noc_word_hops[p] += k * nw;
        cs[i].latency_cycles[p] += k * self.lat("hop");
        cs[i + 1].words[A][CA][p][W] += k * aw;
    }

    fn add_local_error(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let r = self.l[i].rows();
        let entries = self.classes() * r;
        let rom = words(entries, 1, self.m.rom.word_bits);
        let draws = self.draws(self.m.formats.error.rounding, self.classes() + r);
        let c = &mut cs[self.core(i)];
        c.words[A][CA][LE][R] += k * 2 * self.act(r);
        c.words[Unit::Rom as usize][Class::Classifier as usize][LE][R] += k * 2 * rom;
        c.macs[LE] += k * 2 * entries as u64;
        c.words[Unit::Error as usize][Class::Error as usize][LE][W] += k * self.err(r);
        c.latency_cycles[LE] += k * (self.lat("a") + self.lat("e"));
        c.lfsr_draws[LE] += k * draws;
    }

    /// Local-learned error of hidden layer `i` over its pooled output `r`
    /// (phase local_error): `h` read twice, the classifier read from the
    /// weight bank (class classifier) as `words(C·r + C, w)` then
    /// `words(C·r, w)`, the classifier error written and read back
    /// (`words(C, e)` each), `2·C·r` MACs, `words(r, e)` written, latency
    /// `λ_w + λ_a + λ_e`; stochastic errors draw `C + r`.
    fn add_learned_error(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let (r, cl) = (self.l[i].rows(), self.classes());
        let draws = self.draws(self.m.formats.error.rounding, cl + r);
        let lat = self.lat("w") + self.lat("a") + self.lat("e");
        let (hw, ew, cw) = (self.act(r), self.err(r), self.err(cl));
        let (mcw, mw) = (self.wgt(cl * r + cl), self.wgt(cl * r));
        let (ue, ce) = (Unit::Error as usize, Class::Error as usize);
        let c = &mut cs[self.core(i)];
        c.words[A][CA][LE][R] += k * 2 * hw;
        c.words[Unit::Weight as usize][Class::Classifier as usize][LE][R] += k * (mcw + mw);
        c.words[ue][ce][LE][W] += k * (cw + ew);
        c.words[ue][ce][LE][R] += k * cw;
        c.macs[LE] += k * 2 * (cl * r) as u64;
        c.latency_cycles[LE] += k * lat;
        c.lfsr_draws[LE] += k * draws;
    }

    /// Update of hidden layer `i`'s learned classifier (phase update):
    /// `words(C, e)` and `words(r, a)` read, `words(C·r + C, w)` classifier
    /// words read and written, `C·(r+1)` MACs, latency `2·λ_w`, the draws
    /// of a `C × r` dense update.
    fn add_update_classifier(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let (r, cl) = (self.l[i].rows(), self.classes());
        let f = &self.m.formats;
        let n = cl * (r + 1);
        let mut draws = self.draws(f.update.rounding, n);
        if f.update.frac > f.weight.frac {
            draws += self.draws(f.weight.rounding, n);
        }
        let (cw, hw, mw) = (self.err(cl), self.act(r), self.wgt(cl * r + cl));
        let (uw, cc) = (Unit::Weight as usize, Class::Classifier as usize);
        let c = &mut cs[self.core(i)];
        c.words[Unit::Error as usize][Class::Error as usize][UP][R] += k * cw;
        c.words[A][CA][UP][R] += k * hw;
        c.words[uw][cc][UP][R] += k * mw;
        c.words[uw][cc][UP][W] += k * mw;
        c.macs[UP] += k * n as u64;
        c.latency_cycles[UP] += k * 2 * self.lat("w");
        c.lfsr_draws[UP] += k * draws;
    }

    /// Occupancy of hidden layer `i`'s learned classifier: weight bank
    /// `+words(C·r + C, w)`, error-bank peak at least `words(r, e) +
    /// words(C, e)`.
    fn add_learned_static(&self, cs: &mut [CoreCounts], i: usize) {
        let (r, cl) = (self.l[i].rows(), self.classes());
        let (mw, e) = (self.wgt(cl * r + cl), self.err(r) + self.err(cl));
        let c = &mut cs[self.core(i)];
        c.weight_words += mw;
        c.error_peak_words = c.error_peak_words.max(e);
    }

    /// ROM words read and generator steps of one use of `n` entries:
    /// `words(n, k_rom, W_rom)` and none, or with `lfsr` storage no read
    /// and `n` steps.
    fn rom_use(&self, n: usize) -> (u64, u64) {
        match self.m.rom.storage.entry_bits() {
            Some(bits) => (words(n, bits, self.m.rom.word_bits), 0),
            None => (0, n as u64),
        }
    }

    /// DRTP's error of hidden layer `i` over its pooled output `r` (phase
    /// local_error): one ROM row read, `words(r, k_rom, W_rom)` (`lfsr`
    /// storage: no read, `C·r` generator steps), `h` read once, `r` MACs,
    /// `words(r, e)` written, latency `λ_a + λ_e`; stochastic errors draw `r`.
    fn add_target_error(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let r = self.l[i].rows();
        let (rom_words, steps) = match self.m.rom.storage.entry_bits() {
            Some(bits) => (words(r, bits, self.m.rom.word_bits), 0),
            None => (0, (self.classes() * r) as u64),
        };
        let draws = self.draws(self.m.formats.error.rounding, r);
        let lat = self.lat("a") + self.lat("e");
        let (hw, ew) = (self.act(r), self.err(r));
        let c = &mut cs[self.core(i)];
        c.words[Unit::Rom as usize][Class::Classifier as usize][LE][R] += k * rom_words;
        c.rom_generator_steps[LE] += k * steps;
        c.words[A][CA][LE][R] += k * hw;
        c.macs[LE] += k * r as u64;
        c.words[Unit::Error as usize][Class::Error as usize][LE][W] += k * ew;
        c.latency_cycles[LE] += k * lat;
        c.lfsr_draws[LE] += k * draws;
    }

    /// DFA's backward at layer `i > 0` through its fixed `C × c` ROM
    /// (`c` the layer's input, a conv layer's input map flattened): the ROM
    /// read once (`words(C·c, 1, W_rom)`), `words(C, e)` error and `words(c,
    /// a)` input read, `C·c` MACs, latency `λ_e` (+ one hop); `words(c, e,
    /// W_noc)` link words; `words(c, e)` written at core `i−1`; stochastic
    /// errors draw `c`.
    fn add_backward_direct(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let (c, cl) = (self.l[i].cols(), self.classes());
        let reads = (self.err(cl), self.act(c));
        self.add_backward_through_rom(cs, i, k, cl * c, reads, (cl * c) as u64);
    }

    /// FA's backward at layer `i > 0` through its fixed ROM of the layer's
    /// weight shape: the ROM read once (`words(o·K, 1, W_rom)` for a conv
    /// layer's kernels, `words(r·c, 1, W_rom)` dense), `words(r, e)` error
    /// and `words(c, a)` input (+ a conv layer's pool tensor) read, `P·o·K`
    /// (conv) or `r·c` MACs, latency `λ_e` (+ one hop); the transfer and
    /// write at core `i−1` as backprop's; stochastic errors draw `c`.
    fn add_backward_fixed(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let l = self.l[i];
        let (r, c) = (l.rows(), l.cols());
        let (wr, wc) = l.wshape();
        let macs = match l {
            Lay::Dense { .. } => r * c,
            Lay::Conv { o, .. } => l.positions() * o * wc + l.recip(c),
        };
        let reads = (self.err(r), self.act(c) + self.pool_act(i));
        self.add_backward_through_rom(cs, i, k, wr * wc, reads, macs as u64);
    }

    /// What DFA's and FA's backward at layer `i > 0` share: `rom_entries`
    /// feedback entries read from ROM, `reads` = (error-bank, activation-
    /// bank) words read, `macs` MACs, latency `λ_e` (+ one hop), the
    /// layer's input error (`c` values) sent to core `i−1` and written
    /// there; stochastic errors draw `c`.
    fn add_backward_through_rom(
        &self,
        cs: &mut [CoreCounts],
        i: usize,
        k: u64,
        rom_entries: usize,
        reads: (u64, u64),
        macs: u64,
    ) {
        let c = self.l[i].cols();
        let (rom, steps) = self.rom_use(rom_entries);
        let draws = self.draws(self.m.formats.error.rounding, c);
        let nw = words(c, self.m.formats.error.bits, self.m.interconnect.word_bits);
        let hop = self.hop();
        let (ue, ce) = (Unit::Error as usize, Class::Error as usize);
        let core = &mut cs[self.core(i)];
        core.words[Unit::Rom as usize][Class::Classifier as usize][BW][R] += k * rom;
        core.rom_generator_steps[BW] += k * steps;
        core.words[ue][ce][BW][R] += k * reads.0;
        core.words[A][CA][BW][R] += k * reads.1;
        core.macs[BW] += k * macs;
        core.latency_cycles[BW] += k * (self.lat("e") + hop * self.lat("hop"));
        core.lfsr_draws[BW] += k * draws;
        core.noc_words[BW][ce] += k * nw * hop;
        core.noc_word_hops[BW] += k * nw * hop;
        cs[self.core(i - 1)].words[ue][ce][BW][W] += k * self.err(c);
    }

    /// DFA: the output error sent from the last core to hidden layer `i`'s
    /// core: `words(C, e)` read there, `words(C, e, W_noc)` link words over
    /// `L−1−i` hops (and their latency), `words(C, e)` written at core `i`;
    /// nothing on a shared core.
    fn add_send_output_error(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        if self.hop() == 0 {
            return;
        }
        let last = self.n() - 1;
        let hops = (last - i) as u64;
        let cl = self.classes();
        let ew = self.err(cl);
        let nw = words(cl, self.m.formats.error.bits, self.m.interconnect.word_bits);
        let (ue, ce) = (Unit::Error as usize, Class::Error as usize);
        let src = &mut cs[self.core(last)];
        src.words[ue][ce][BW][R] += k * ew;
        src.noc_words[BW][ce] += k * nw;
        src.noc_word_hops[BW] += k * nw * hops;
        src.latency_cycles[BW] += k * hops * self.lat("hop");
        cs[self.core(i)].words[ue][ce][BW][W] += k * ew;
    }

    fn add_output_error(&self, cs: &mut [CoreCounts], p: usize, k: u64) {
        let last = self.n() - 1;
        let n = self.classes();
        let draws = self.draws(self.m.formats.error.rounding, n);
        let c = &mut cs[self.core(last)];
        c.words[A][CA][p][R] += k * self.act(n);
        c.words[Unit::Error as usize][Class::Error as usize][p][W] += k * self.err(n);
        c.lfsr_draws[p] += k * draws;
    }

    /// Backward of layer `i > 0`. Conv: kernels (no biases), error, pool
    /// tensor and input read once each; `P·o·ic·k·k` MACs.
    fn add_backward(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let l = self.l[i];
        let (r, c) = (l.rows(), l.cols());
        let (wr, wc) = l.wshape();
        let macs = match l {
            Lay::Dense { .. } => r * c,
            Lay::Conv { o, .. } => l.positions() * o * wc + l.recip(c),
        };
        let draws = self.draws(self.m.formats.error.rounding, c);
        let nw = words(c, self.m.formats.error.bits, self.m.interconnect.word_bits);
        let hop = self.hop();
        let core = &mut cs[self.core(i)];
        core.words[Unit::Weight as usize][Class::Weight as usize][BW][R] += k * self.wgt(wr * wc);
        core.words[Unit::Error as usize][Class::Error as usize][BW][R] += k * self.err(r);
        core.words[A][CA][BW][R] += k * (self.act(c) + self.pool_act(i));
        core.macs[BW] += k * macs as u64;
        core.latency_cycles[BW] += k * (self.lat("w") + self.lat("e") + hop * self.lat("hop"));
        core.lfsr_draws[BW] += k * draws;
        core.noc_words[BW][Class::Error as usize] += k * nw * hop;
        core.noc_word_hops[BW] += k * nw * hop;
        cs[self.core(i - 1)].words[Unit::Error as usize][Class::Error as usize][BW][W] +=
            k * self.err(c);
    }

    /// Update of layer `i`. Conv: error and pool tensor read, `P` patches
    /// read again, kernels and biases read and written,
    /// `P·o·(ic·k·k + 1)` MACs; draws as a dense `o × ic·k·k` update.
    fn add_update(&self, cs: &mut [CoreCounts], i: usize, k: u64) {
        let l = self.l[i];
        let (wr, wc) = l.wshape();
        let f = &self.m.formats;
        let n = wr * (wc + 1);
        let mut draws = self.draws(f.update.rounding, n);
        if f.update.frac > f.weight.frac {
            draws += self.draws(f.weight.rounding, n);
        }
        let (xr, macs) = match l {
            Lay::Dense { r, c } => (self.act(c), r * (c + 1)),
            Lay::Conv { o, .. } => {
                let pp = l.positions();
                (
                    pp as u64 * self.act(l.patch_in()) + self.pool_act(i),
                    pp * o * (wc + 1) + l.recip(o * (wc + 1)),
                )
            }
        };
        let ww = self.wgt(wr * wc + wr);
        let c = &mut cs[self.core(i)];
        c.words[Unit::Error as usize][Class::Error as usize][UP][R] += k * self.err(l.rows());
        c.words[A][CA][UP][R] += k * xr;
        c.words[Unit::Weight as usize][Class::Weight as usize][UP][R] += k * ww;
        c.words[Unit::Weight as usize][Class::Weight as usize][UP][W] += k * ww;
        c.macs[UP] += k * macs as u64;
        c.latency_cycles[UP] += k * 2 * self.lat("w");
        c.lfsr_draws[UP] += k * draws;
    }

    /// `k` slots of layer `i` stashed, each restored `reads` times; every
    /// restore writes the input and the pool tensor to the activation bank.
    fn add_stash(&self, cs: &mut [CoreCounts], i: usize, dram: bool, k: u64, reads: u64) {
        let (sw, bytes) = (self.slot_words(i), self.slot_bytes(i));
        let bursts = self.bursts(bytes);
        let aw = self.act(self.l[i].cols()) + self.pool_act(i);
        let (ls, ld) = (self.lat("s"), self.lat("dram"));
        let c = &mut cs[self.core(i)];
        if dram {
            c.dram_bytes[F][W] += k * bytes;
            c.dram_bursts[F][W] += k * bursts;
            c.latency_cycles[F] += k * ld;
            c.dram_bytes[BW][R] += k * reads * bytes;
            c.dram_bursts[BW][R] += k * reads * bursts;
            c.latency_cycles[BW] += k * reads * ld;
        } else {
            c.words[Unit::Stash as usize][CA][F][W] += k * sw;
            c.latency_cycles[F] += k * ls;
            c.words[Unit::Stash as usize][CA][BW][R] += k * reads * sw;
            c.latency_cycles[BW] += k * reads * ls;
        }
        c.words[A][CA][BW][W] += k * reads * aw;
    }
}

fn batch_sizes(n: usize, b: usize) -> Vec<usize> {
    let mut one = vec![b; n / b];
    if !n.is_multiple_of(b) {
        one.push(n % b);
    }
    one
}

struct Case {
    model: HwModel,
    net: usize,
    rule: Rule,
    batch: usize,
    n: usize,
    arith: Arith,
}

fn expected(case: &Case, layers: &[Lay]) -> Vec<CoreCounts> {
    let g = Geo {
        m: &case.model,
        l: layers,
        fixed: case.arith == Arith::Fixed,
    };
    let l = g.n();
    let mut cs = vec![CoreCounts::default(); g.cores()];
    g.add_static(&mut cs);
    let batches = batch_sizes(case.n, case.batch);
    let s = case.n as u64;
    g.add_load_input(&mut cs, s);
    match case.rule {
        other @ (Rule::Pepita | Rule::Gaitprop(_) | Rule::Predsim) => {
            unreachable!("{other} is not modelled on conv networks")
        }
        Rule::Local | Rule::LocalLearned | Rule::Drtp => {
            // The hidden layers' errors are over their pooled outputs;
            // local-learned's classifier is learned in the weight bank.
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
        Rule::Bp(policy) | Rule::Dfa(policy) | Rule::Fa(policy) => {
            g.add_label(&mut cs, l - 1..l, s);
            for i in 0..l {
                g.add_forward(&mut cs, i, F, s);
                if i + 1 < l {
                    g.add_send(&mut cs, i, F, s);
                }
                if i > 0 {
                    match case.rule {
                        Rule::Bp(_) => g.add_backward(&mut cs, i, s),
                        Rule::Fa(_) => g.add_backward_fixed(&mut cs, i, s),
                        _ => {
                            if i + 1 < l {
                                g.add_send_output_error(&mut cs, i, s);
                            }
                            g.add_backward_direct(&mut cs, i, s);
                        }
                    }
                }
                g.add_update(&mut cs, i, s);
            }
            g.add_output_error(&mut cs, BW, s);
            let (stashed, reads): (Vec<usize>, u64) = match policy {
                BpPolicy::Stash | BpPolicy::Spill => ((0..l).collect(), 1),
                BpPolicy::Recompute => (vec![0], l as u64),
            };
            if policy == BpPolicy::Recompute {
                for (i, lay) in layers.iter().enumerate() {
                    for j in 0..i {
                        g.add_forward(&mut cs, j, BW, s);
                        g.add_send(&mut cs, j, BW, s);
                    }
                    // A pooled conv layer recomputes its own pool tensor.
                    if i > 0 && lay.pooled() {
                        g.add_forward(&mut cs, i, BW, s);
                    }
                }
            }
            let cap =
                case.model.sram.stash.capacity_bytes * 8 / case.model.sram.stash.word_bits as u64;
            for &b in &batches {
                // Slots go on chip while the core's stash holds them.
                let mut held = vec![(0u64, 0u64); g.cores()];
                for _ in 0..b {
                    for &i in &stashed {
                        let w = g.slot_words(i);
                        let h = &mut held[g.core(i)];
                        let dram = h.0 + w > cap;
                        if dram {
                            h.1 += g.slot_bytes(i);
                        } else {
                            h.0 += w;
                        }
                        g.add_stash(&mut cs, i, dram, 1, reads);
                    }
                }
                for (c, (w, by)) in cs.iter_mut().zip(held) {
                    c.stash_peak_words = c.stash_peak_words.max(w);
                    c.spill_peak_bytes = c.spill_peak_bytes.max(by);
                }
            }
            let kept = batches.iter().copied().max().unwrap_or(1) as u64;
            let e = g.err(g.classes());
            let c = &mut cs[g.core(l - 1)];
            c.error_peak_words = c.error_peak_words.max(kept * e);
            // DFA: a hidden core above layer 0 holds the output error it
            // receives next to its own error.
            if matches!(case.rule, Rule::Dfa(_)) {
                for (i, lay) in layers.iter().enumerate().take(l - 1).skip(1) {
                    let need = g.err(lay.rows()) + g.err(g.classes());
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

fn train(case: &Case, text: &str) -> RunResult {
    let net = NetSpec::parse(text, Activation::Relu).expect("net parses");
    let (tr, te) = generate(&SyntheticSpec {
        classes: net.classes(),
        sample_len: net.sizes[0],
        train: case.n,
        test: 2,
        noise: 30,
        seed: 11,
    })
    .expect("synthetic data");
    let tr: Dataset = tr;
    let config = TrainConfig {
        rule: case.rule,
        net,
        epochs: 1,
        batch: case.batch,
        lr: 1.0 / 16.0,
        seed: 5,
        arith: case.arith,
        train_limit: None,
        test_limit: Some(2),
        lr_schedule: Default::default(),
        momentum: 0.0,
    };
    run(&case.model, &config, &tr, &te, &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{text} {}: {e}", case.rule.label()))
        .0
}

fn check(case: &Case) {
    let all = nets();
    let net = &all[case.net];
    let what = format!(
        "{} {} B={} {:?} {}",
        net.text,
        case.rule.label(),
        case.batch,
        case.arith,
        case.model.sram.weight.word_bits
    );
    let got = train(case, net.text).counts;
    let want = expected(case, &net.layers);
    assert_eq!(got.len(), want.len(), "{what}");
    for (core, (g, w)) in got.iter().zip(&want).enumerate() {
        if g == w {
            continue;
        }
        let gv = serde_json::to_value(g).expect("json");
        let wv = serde_json::to_value(w).expect("json");
        let mut diffs = Vec::new();
        for (key, wf) in wv.as_object().expect("object") {
            if key != "words" && &gv[key] != wf {
                diffs.push(format!("  {key}: got {}, want {wf}", gv[key]));
            }
        }
        for &u in Unit::ALL {
            for &c in Class::ALL {
                for &p in Phase::ALL {
                    for &rw in Rw::ALL {
                        let (a, b) = (g.get_words(u, c, p, rw), w.get_words(u, c, p, rw));
                        if a != b {
                            diffs.push(format!("  words[{u}][{c}][{p}][{rw}]: got {a}, want {b}"));
                        }
                    }
                }
            }
        }
        panic!("{what}\ncore {core} differs:\n{}", diffs.join("\n"));
    }
}

const RULES: [Rule; 12] = [
    Rule::Local,
    Rule::LocalLearned,
    Rule::Drtp,
    Rule::Dfa(BpPolicy::Stash),
    Rule::Dfa(BpPolicy::Spill),
    Rule::Dfa(BpPolicy::Recompute),
    Rule::Fa(BpPolicy::Stash),
    Rule::Fa(BpPolicy::Spill),
    Rule::Fa(BpPolicy::Recompute),
    Rule::Bp(BpPolicy::Stash),
    Rule::Bp(BpPolicy::Spill),
    Rule::Bp(BpPolicy::Recompute),
];

#[test]
fn hand_worked_shapes_match_the_parser() {
    for net in nets() {
        let spec = NetSpec::parse(net.text, Activation::Relu).expect("parses");
        let mut sizes = vec![net.layers[0].cols()];
        sizes.extend(net.layers.iter().map(|l| l.rows()));
        assert_eq!(spec.sizes, sizes, "{}", net.text);
    }
}

#[test]
fn every_cnn_and_rule_with_the_default_model_batches_1_and_3() {
    for net in 0..nets().len() {
        for rule in RULES {
            for batch in [1, 3] {
                check(&Case {
                    model: default_model(),
                    net,
                    rule,
                    batch,
                    n: 5,
                    arith: Arith::Fixed,
                });
            }
        }
    }
}

#[test]
fn narrow_formats_draw_and_a_small_stash_spills() {
    // Stochastic rounding everywhere (draws), 24-bit words, a 40-byte stash
    // bank: spill and recompute move slots to DRAM.
    for net in 0..nets().len() {
        for rule in [
            Rule::Local,
            Rule::LocalLearned,
            Rule::Drtp,
            Rule::Dfa(BpPolicy::Spill),
            Rule::Dfa(BpPolicy::Recompute),
            Rule::Fa(BpPolicy::Spill),
            Rule::Fa(BpPolicy::Recompute),
            Rule::Bp(BpPolicy::Spill),
            Rule::Bp(BpPolicy::Recompute),
        ] {
            check(&Case {
                model: narrow_model(),
                net,
                rule,
                batch: 2,
                n: 4,
                arith: Arith::Fixed,
            });
        }
    }
}

#[test]
fn one_shared_core_holds_every_layer() {
    // One time-multiplexed core: weights and classifiers of every layer in
    // its banks, no transfers between layers, one stash for all layers.
    for model in [default_model(), narrow_model()] {
        let mut model = model;
        model.mapping = Mapping::SharedCore;
        model.sram.stash.capacity_bytes = 120;
        for net in 0..nets().len() {
            for rule in [
                Rule::Local,
                Rule::LocalLearned,
                Rule::Drtp,
                Rule::Dfa(BpPolicy::Spill),
                Rule::Dfa(BpPolicy::Recompute),
                Rule::Fa(BpPolicy::Spill),
                Rule::Fa(BpPolicy::Recompute),
                Rule::Bp(BpPolicy::Spill),
                Rule::Bp(BpPolicy::Recompute),
            ] {
                check(&Case {
                    model: model.clone(),
                    net,
                    rule,
                    batch: 2,
                    n: 3,
                    arith: Arith::Fixed,
                });
            }
        }
    }
}

#[test]
fn f32_counts_the_same_words_without_draws() {
    for net in [0, 2, 3] {
        for rule in [
            Rule::Local,
            Rule::LocalLearned,
            Rule::Drtp,
            Rule::Dfa(BpPolicy::Recompute),
            Rule::Fa(BpPolicy::Recompute),
            Rule::Bp(BpPolicy::Recompute),
        ] {
            check(&Case {
                model: narrow_model(),
                net,
                rule,
                batch: 1,
                n: 3,
                arith: Arith::F32,
            });
        }
    }
}

/// The fixed feedback ROMs of DRTP, DFA and FA stored as 4-bit values or
/// generated by the LFSR (no ROM reads, one generator step per entry used).
#[test]
fn feedback_roms_of_values_or_an_lfsr() {
    for storage in [RomStorage::Values { bits: 4 }, RomStorage::Lfsr] {
        let mut model = narrow_model();
        model.rom.storage = storage;
        for net in 0..nets().len() {
            for rule in [
                Rule::Drtp,
                Rule::Dfa(BpPolicy::Spill),
                Rule::Fa(BpPolicy::Recompute),
            ] {
                check(&Case {
                    model: model.clone(),
                    net,
                    rule,
                    batch: 2,
                    n: 3,
                    arith: Arith::Fixed,
                });
            }
        }
    }
}

/// The backprop stash of a CNN holds every layer's input map and the pool
/// tensors: for the first net, `words(64, 16, 64) + words(36, 2, 64)` on
/// core 0 (16 + 2: 32 two-bit indices per word) and `words(36, 16, 64)` on
/// core 1 (9), per sample.
#[test]
fn stash_peak_of_a_small_cnn_by_hand() {
    let case = Case {
        model: default_model(),
        net: 0,
        rule: Rule::Bp(BpPolicy::Stash),
        batch: 3,
        n: 3,
        arith: Arith::Fixed,
    };
    let r = train(&case, nets()[0].text);
    assert_eq!(r.counts[0].stash_peak_words, 3 * (16 + 2));
    assert_eq!(r.counts[1].stash_peak_words, 3 * 9);
    // MACs per sample forward: 36 positions × 4 × 9 and 5 × 36.
    assert_eq!(r.counts[0].macs[F], 3 * 36 * 4 * 9);
    assert_eq!(r.counts[1].macs[F], 3 * 5 * 36);
    // A 2×2 max pool compares 3 times per output, 36 outputs.
    assert_eq!(r.counts[0].compares[F], 3 * 3 * 36);
}
