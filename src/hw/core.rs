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
//! Convolution layers (child module `conv`) keep `rows`/`cols` as their
//! flattened output/input maps; `forward`, `backward` and `update` hand them
//! to that module, which reads input patches per output position.
//!
//! Tracing: the chip is generic over a [`TraceSink`] (default [`NoTrace`],
//! which compiles all of this away). Every counted access goes through one
//! helper that adds it to the counters *and* emits it as an [`AccessEvent`]
//! at a word address of the documented layout (`docs/formats.md`, "Access
//! traces"), so a trace cannot drift from the counts. Each primitive call is
//! scheduled on its core's cycle counter: its bursts start at the call's
//! first cycle, and the call lasts `max(ceil(MACs/lanes), ceil(words/ports)
//! per bank and direction, ceil(DRAM bytes/bandwidth)) + latencies` — the
//! formula of `hw::timing`, applied per call.

use super::counters::{Class, CoreCounts, Phase, Rw, Unit};
use super::datapath::{Datapath, DatapathError, Matrix};
pub use super::model::Fusion;
use super::model::{BankRole, HwModel, Mapping, RomStorage, TensorClass};
use super::rom::ClassifierRom;
use super::timing;
use super::trace_sink::{AccessEvent, Bank, NoTrace, OpEvent, OpKind, TraceSink, Values};
pub use crate::net::spec::NetSpec;
use crate::net::spec::NetSpecError;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod feedback;
mod momentum;
pub use feedback::{FeedbackKind, modulation_exponent};
pub use momentum::MAX_MOMENTUM_SHIFT;
mod conv;
pub mod host;
mod residual;
mod similarity;
pub use similarity::{SIM_COEF_BITS, coefficient_macs};

/// A network that cannot be mapped onto the modelled chip.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChipError {
    /// A `layer_cores` mapping whose list does not name every weight layer.
    #[error(
        "mapping.layer_cores names {given} layers, but the network has {layers} weight layers: give one core per layer"
    )]
    MappingLength {
        /// Entries in the list.
        given: usize,
        /// Weight layers of the network.
        layers: usize,
    },
    /// A trace of a network whose residual block ends on a core that holds
    /// other layers too.
    #[error(
        "traces of residual blocks are written when each block's last layer has a core of its own: set \"mapping\": \"core_per_layer\" in the model to trace (a shared core's activation layout has no address for the skip tensor; counts and estimates need none)"
    )]
    ResidualOnSharedCore,
    /// A momentum shift beyond [`MAX_MOMENTUM_SHIFT`].
    #[error("momentum: 1 - 2^-{shift} needs a shift of at most 15")]
    MomentumShift {
        /// The shift asked for.
        shift: u32,
    },
    /// Momentum on a network with conv layers (not modelled yet).
    #[error(
        "momentum is modelled for dense layers only: a network with conv layers trains without --momentum"
    )]
    MomentumOnConv,
    /// A layer's velocity does not fit the weight bank after the weights.
    #[error(
        "momentum: layer {layer} ({rows}x{cols}) keeps a velocity per weight and bias, and with them the weight bank needs {need} words, but sram.weight holds {capacity} words; use a larger weight bank, no momentum, or \"offchip\": {{\"weights\": \"stream\"}} in the model"
    )]
    MomentumDoesNotFit {
        /// Layer index (0-based).
        layer: usize,
        /// Outputs.
        rows: usize,
        /// Inputs.
        cols: usize,
        /// Words the bank must hold.
        need: u64,
        /// Words it holds.
        capacity: u64,
    },
    /// Fewer than two sizes, or a zero size.
    #[error("layers = {sizes}: need at least an input and an output size, all nonzero")]
    Shape {
        /// The sizes as given.
        sizes: String,
    },
    /// A layer's weights and biases exceed the weight bank.
    #[error(
        "layer {layer} ({rows}x{cols}) needs {need} words of {word_bits} bits for weights and biases, but sram.weight holds {capacity} words ({capacity_bytes} bytes); use a larger weight bank, or set \"offchip\": {{\"weights\": \"stream\"}} in the model to stream them from DRAM"
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
        "layer {layer}: its {classes}x{units} {matrix} needs {need} ROM words, but rom holds {capacity} words"
    )]
    RomTooSmall {
        /// Layer index.
        layer: usize,
        /// What the matrix is: `classifier` (local errors, DRTP),
        /// `feedback matrix` (FA, DFA) or `input projection` (PEPITA).
        matrix: &'static str,
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
    /// The layer description is inconsistent (e.g. `sizes` that do not
    /// match its convolutions).
    #[error(transparent)]
    Net(#[from] NetSpecError),
    /// A conv layer's fixed feedback kernel (feedback alignment, the shape
    /// of the layer's kernels) exceeds its core's ROM.
    #[error(
        "layer {layer}: its feedback kernel of {out_c} {in_c}x{k}x{k} kernels ({bits} bits) needs {need} ROM words, but rom holds {capacity} words"
    )]
    FeedbackKernelTooBig {
        /// Layer index.
        layer: usize,
        /// Kernels (output channels).
        out_c: usize,
        /// Input channels.
        in_c: usize,
        /// Kernel side.
        k: usize,
        /// Stored bits of the kernel.
        bits: u64,
        /// ROM words needed on the core (with what it already holds).
        need: u64,
        /// ROM capacity in words.
        capacity: u64,
    },
    /// An average pool's division shifts a requantisation beyond 62 bits.
    #[error(
        "layer {layer}: its average pool adds {extra} bits to requantisation shifts that the formats already make too long (limit 62)"
    )]
    ConvShift {
        /// Layer index.
        layer: usize,
        /// Extra shift of the pool, in bits.
        extra: u32,
    },
    /// Predsim's similarity coefficients of a batch do not fit the error
    /// bank next to the layer's error and its classifier's error.
    #[error(
        "layer {layer}: predsim's similarity coefficients for a batch of {batch} need {need} words of sram.error (with the layer's errors), but it holds {capacity} words; use a smaller batch or a larger error bank"
    )]
    SimilarityDoesNotFit {
        /// Layer index.
        layer: usize,
        /// Samples in the batch.
        batch: usize,
        /// Error-bank words needed: the end of the coefficients' region.
        need: u64,
        /// Capacity in words.
        capacity: u64,
    },
    /// The output errors backprop keeps for a batch exceed the error bank.
    #[error(
        "layer {layer}: keeping {kept} output errors of {values} values (one per sample of the batch) needs {need} words of sram.error (with what the bank already holds), but it holds {capacity} words; use a smaller batch or a larger error bank"
    )]
    ErrorsDoNotFit {
        /// Output layer index.
        layer: usize,
        /// Errors kept, counting the one that did not fit.
        kept: usize,
        /// Values of one error (the classes).
        values: usize,
        /// Error-bank words needed.
        need: u64,
        /// Capacity in words.
        capacity: u64,
    },
    /// An access trace of a model whose weights stream from DRAM (the trace
    /// layout has no addresses for streamed tiles yet).
    #[error(
        "core {core} streams its weights from DRAM (offchip.weights = \"stream\" and they do not fit sram.weight); traces are written for chips that hold their weights: use a larger weight bank to trace"
    )]
    StreamedTrace {
        /// The first core that streams.
        core: usize,
    },
    /// An access trace of a model whose fixed random matrices are in DRAM
    /// (the trace layout has no DRAM addresses for them).
    #[error(
        "offchip.rom = \"dram\": the fixed random matrices are read from DRAM, which traces do not lay out yet; trace with offchip.rom = \"on_chip\""
    )]
    RomInDramTrace,
    /// The stash exceeds its SRAM bank and spilling was not allowed.
    #[error(
        "layer {layer}: the activation stash of {} needs {need} words of sram.stash on the layer's core, but it holds {capacity} words; use the spill or recompute policy, a smaller batch, or a larger stash bank",
        samples_text(*samples)
    )]
    StashFull {
        /// Layer index: the first, in stash order, whose vector does not fit.
        layer: usize,
        /// Samples whose vectors the stash holds at once: the batch for
        /// backprop, FA and DFA, 1 for PEPITA and GAIT-prop.
        samples: usize,
        /// Words those samples stash on the layer's core.
        need: u64,
        /// Capacity in words.
        capacity: u64,
    },
}

/// `one sample` or `a batch of N samples`.
fn samples_text(n: usize) -> String {
    if n == 1 {
        "one sample".into()
    } else {
        format!("a batch of {n} samples")
    }
}

/// One stashed vector: its values and where it is held.
#[derive(Clone, Debug)]
struct StashSlot<V> {
    values: Vec<V>,
    /// The skip tensor of a block's projection (empty otherwise).
    skip: Vec<V>,
    /// A pooled conv layer's pool tensor (empty otherwise).
    aux: Vec<u16>,
    in_dram: bool,
    /// Stash-bank word address, or DRAM byte address when `in_dram`.
    addr: u64,
}

/// State of one layer's core: parameters and buffers. Read through the
/// getters; only the chip's counted primitives write it.
pub struct Layer<V> {
    /// Outputs (a conv layer's pooled output map, flattened CHW).
    rows: usize,
    /// Inputs (a conv layer's input map, flattened CHW).
    cols: usize,
    /// Weights, row-major `rows × cols` (a conv layer: `out_c × (in_c·k·k)`,
    /// kernel order `[out][c][ky][kx]`).
    w: Vec<V>,
    /// Biases, `rows` (a conv layer: `out_c`).
    b: Vec<V>,
    /// Fixed random classifier (hidden layers).
    rom: Option<ClassifierRom>,
    /// Classifier entries in the datapath's representation, row-major.
    classifier: Vec<V>,
    /// Input buffer (activation bank).
    x: Vec<V>,
    /// Output buffer (activation bank).
    h: Vec<V>,
    /// This layer's error (error bank).
    e: Vec<V>,
    stash: Vec<StashSlot<V>>,
    saved_errors: Vec<Vec<V>>,
    /// Conv layer state (`None` for a dense layer).
    conv: Option<Box<conv::ConvState<V>>>,
    /// When this layer starts a residual block: the block's last layer.
    skip_to: Option<usize>,
    /// When this layer starts a residual block: the skip's error parked
    /// for the backward step (error bank; empty otherwise).
    skip_e: Vec<V>,
}

impl<V> Layer<V> {
    /// Outputs (a conv layer's pooled output map, flattened CHW).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Inputs (a conv layer's input map, flattened CHW).
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Weights, row-major `rows × cols` (a conv layer: `out_c × (in_c·k·k)`).
    pub fn w(&self) -> &[V] {
        &self.w
    }
    /// Biases, `rows` (a conv layer: `out_c`).
    pub fn b(&self) -> &[V] {
        &self.b
    }
    /// Fixed random classifier (hidden layers).
    pub fn rom(&self) -> Option<&ClassifierRom> {
        self.rom.as_ref()
    }
    /// Classifier entries in the datapath's representation, row-major.
    pub fn classifier(&self) -> &[V] {
        &self.classifier
    }
    /// Input buffer (activation bank).
    pub fn x(&self) -> &[V] {
        &self.x
    }
    /// Output buffer (activation bank).
    pub fn h(&self) -> &[V] {
        &self.h
    }
    /// This layer's error (error bank).
    pub fn e(&self) -> &[V] {
        &self.e
    }
    /// The conv shape of this layer, `None` for a dense layer.
    pub fn conv_geom(&self) -> Option<crate::net::spec::ConvGeom> {
        self.conv.as_ref().map(|c| c.geom)
    }
    /// The kernels (`out_c × in_c`) and biases of the `1 × 1` projection of
    /// a residual block ending at this layer (`None` without one).
    pub fn projection(&self) -> Option<(&[V], &[V])> {
        let s = self.conv.as_ref()?.skip.as_ref()?;
        s.proj.map(|_| (&s.w[..], &s.b[..]))
    }
}

/// The modelled chip: the model, the datapath, every layer's core state,
/// the counters and the trace sink.
///
/// The datapath and the layers are read through [`Chip::datapath`],
/// [`Chip::layers`] and [`Chip::layer`]; only the counted primitives change
/// them, so no caller (a rule included) can write a value the counts do not
/// see. Neither compiles:
///
/// ```compile_fail,E0616
/// # use locus::hw::core::Chip;
/// # use locus::hw::datapath::FloatDatapath;
/// fn poke(chip: &mut Chip<FloatDatapath>) {
///     chip.layers[0].w[0] = 1.0;
/// }
/// ```
///
/// ```compile_fail,E0616
/// # use locus::hw::core::Chip;
/// # use locus::hw::datapath::FloatDatapath;
/// fn swap(chip: &mut Chip<FloatDatapath>, other: FloatDatapath) {
///     chip.dp = other;
/// }
/// ```
///
/// while reading does:
///
/// ```
/// # use locus::hw::core::Chip;
/// # use locus::hw::datapath::FloatDatapath;
/// fn first_weight(chip: &Chip<FloatDatapath>) -> f32 {
///     chip.layer(0).w()[0]
/// }
/// ```
pub struct Chip<D: Datapath, T: TraceSink = NoTrace> {
    model: HwModel,
    /// The datapath computing the values.
    dp: D,
    net: NetSpec,
    /// Per-layer state.
    layers: Vec<Layer<D::V>>,
    counts: Vec<CoreCounts>,
    label: usize,
    scratch: Vec<D::V>,
    bits: ClassBits,
    sink: T,
    sched: Schedule,
    place: Vec<Place>,
    /// The kept output error in use (its slot in the error bank).
    err_slot: usize,
    /// Fixed feedback ROMs and learned classifiers of the further rules.
    fb: feedback::Feedback<D::V>,
    /// Predsim's kept outputs and similarity coefficients.
    sim: similarity::SimState<D::V, D::Coef>,
    /// Fill levels of the weight banks and ROMs.
    fill: Fill,
    /// Velocities of SGD with momentum, when on ([`Chip::enable_momentum`]).
    momentum: Option<momentum::Momentum<D::V>>,
    /// Per core, whether its weight-bank contents stream from DRAM.
    streamed: Vec<bool>,
    /// The fused dataflows in use ([`Chip::set_fusion`]).
    fusion: Fusion,
    /// The core of each layer ([`layer_cores`]).
    core_of: Vec<usize>,
    /// Per layer, `[error writes, writes of an all-zero error]` (runs
    /// that compute values only): how often a layer's error was entirely
    /// below one LSB of its format, a value-dependent figure kept apart
    /// from the counts.
    error_writes: Vec<[u64; 2]>,
}

/// Fill levels, in words, of each core's weight bank and ROM: the one bump
/// allocation of the address layout (`docs/formats.md`). Build places the
/// layers' weights and classifiers, `attach_feedback` the further rules'
/// learned classifiers and feedback ROMs after them; one core per layer
/// fills each core from 0, a shared core fills one bank layer after layer.
#[derive(Clone, Debug, Default)]
struct Fill {
    weight: Vec<u64>,
    rom: Vec<u64>,
}

impl Fill {
    fn new(cores: usize) -> Self {
        Fill {
            weight: vec![0; cores],
            rom: vec![0; cores],
        }
    }

    /// Takes `words` at the fill level of `levels[core]`: the address they
    /// start at, and the new fill level (what the bank must hold).
    fn take(levels: &mut [u64], core: usize, words: u64) -> (u64, u64) {
        let addr = levels[core];
        levels[core] += words;
        (addr, levels[core])
    }
}

/// Word addresses of one layer's tensors in its core's banks
/// (`docs/formats.md`, "Address layout").
#[derive(Clone, Copy, Debug, Default)]
struct Place {
    /// Weights and biases (weight bank).
    weight: u64,
    /// Classifier (ROM).
    rom: u64,
    /// Input vector (activation bank).
    x: u64,
    /// Output vector (activation bank).
    h: u64,
    /// Words of this layer's error vector (error bank).
    e_words: u64,
    /// Address of this layer's error (error bank); for the output layer,
    /// of its kept-error slot 0.
    e: u64,
    /// Whether the output layer's kept-error slots grow down from `e`
    /// (a shared core: slot `k` at `e − k·e_words`) instead of up.
    e_down: bool,
    /// The copy of the skip tensor of a block's last layer (activation
    /// bank, after the output, pool tensor and stored map).
    skip: u64,
    /// A block's projection kernels and biases (weight bank, after the
    /// layer's own).
    projection: u64,
}

/// First byte of the DRAM region a sample's input is read from.
const DRAM_INPUT_ADDR: u64 = 0;

/// Where a burst's written values come from (traces that want data).
#[derive(Clone, Copy, Debug)]
enum Src {
    /// Nothing to report (reads).
    None,
    /// Layer `i`'s input vector.
    X(usize),
    /// Layer `i`'s output vector.
    H(usize),
    /// Layer `i`'s error vector.
    E(usize),
    /// Layer `i`'s weights (row-major) then biases.
    Params(usize),
}

/// The call in progress on one core (tracing only).
#[derive(Clone, Copy, Debug)]
struct Call {
    core: usize,
    layer: usize,
    phase: Phase,
    kind: &'static str,
    start: u64,
    /// Cycles each bank and direction is busy so far in this call.
    busy: [[u64; 2]; Unit::COUNT],
    dram_bytes: u64,
    macs: u64,
    latency: u64,
}

impl Default for Call {
    fn default() -> Self {
        Call {
            core: 0,
            layer: 0,
            phase: Phase::Forward,
            kind: "",
            start: 0,
            busy: [[0; 2]; Unit::COUNT],
            dram_bytes: 0,
            macs: 0,
            latency: 0,
        }
    }
}

/// A write to another core's bank, delivered when the sending call ends.
#[derive(Clone, Debug)]
struct Pending {
    layer: usize,
    core: usize,
    unit: Unit,
    class: Class,
    phase: Phase,
    addr: u64,
    words: u64,
    data: Option<(Vec<i64>, u32)>,
}

/// The per-core cycle schedule of a traced run.
#[derive(Clone, Debug, Default)]
struct Schedule {
    /// Next free cycle of each core.
    clock: Vec<u64>,
    call: Call,
    pending: Vec<Pending>,
    /// Next free byte of the DRAM spill region (relative to its base).
    spill_next: u64,
    /// First byte of the DRAM spill region.
    spill_base: u64,
    /// Scratch for the raw values of a write.
    raw: Vec<i64>,
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

impl<D: Datapath> Chip<D, NoTrace> {
    /// Maps `net` onto `model`, initialising weights (uniform in
    /// `±1/sqrt(fan_in)`, as PyTorch's `nn.Linear`) and classifier ROMs from
    /// `seed`. Fails if weights or classifiers do not fit.
    pub fn new(model: &HwModel, net: &NetSpec, dp: D, seed: u64) -> Result<Self, ChipError> {
        Self::build(model, net, dp, seed, true, NoTrace)
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
        Self::build(model, net, dp, seed, false, NoTrace)
    }
}

impl<D: Datapath, T: TraceSink> Chip<D, T> {
    /// As [`Chip::new`] (`classifiers = true`) or
    /// [`Chip::without_classifiers`] (`false`), feeding every counted access
    /// and primitive call to `sink`. Weights, ROMs and counts are the same as
    /// an untraced chip's for the same seed.
    pub fn with_sink(
        model: &HwModel,
        net: &NetSpec,
        dp: D,
        seed: u64,
        classifiers: bool,
        sink: T,
    ) -> Result<Self, ChipError> {
        Self::build(model, net, dp, seed, classifiers, sink)
    }

    fn build(
        model: &HwModel,
        net: &NetSpec,
        mut dp: D,
        seed: u64,
        classifiers: bool,
        sink: T,
    ) -> Result<Self, ChipError> {
        if net.sizes.len() < 2 || net.sizes.contains(&0) {
            return Err(ChipError::Shape {
                sizes: format!("{:?}", net.sizes),
            });
        }
        let geoms = net.geometry()?;
        for (i, g) in geoms.iter().enumerate() {
            if let Some(g) = g.filter(|g| !dp.conv_shift_ok(g.avg_scale().1)) {
                return Err(ChipError::ConvShift {
                    layer: i,
                    extra: g.avg_scale().1,
                });
            }
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
        let cores = model.mapping.cores(n_layers as u32) as usize;
        // Each layer's weights and biases (and projection) in weight-bank
        // words: what the greedy mapping balances and each bank holds.
        let weight_words = layer_weight_words(model, net, &geoms);
        let core_of = assign_cores(&model.mapping, &weight_words)?;
        // A block's skip copy where its last layer's core holds other
        // layers has no address of its own in the shared layout: counted,
        // not traced.
        let skip_ends = geoms
            .iter()
            .enumerate()
            .filter(|(_, g)| g.and_then(|g| g.skip).is_some());
        for (j, _) in skip_ends {
            if T::ENABLED && core_of.iter().filter(|&&c| c == core_of[j]).count() > 1 {
                return Err(ChipError::ResidualOnSharedCore);
            }
        }
        let mut fill = Fill::new(cores);
        let (mut weight_addr, mut rom_addr) = (vec![0; n_layers], vec![0; n_layers]);
        for (i, geom) in geoms.iter().enumerate() {
            let core = core_of[i];
            let (cols, rows) = (net.sizes[i], net.sizes[i + 1]);
            let alloc =
                host::LayerAlloc::of(i, n_layers, (cols, rows), *geom, classes, classifiers);
            // `net.geometry()` bounded the weights and biases by
            // MAX_TENSOR_VALUES (2^48), so neither this nor any per-call
            // count below wraps.
            let need_in_bank;
            (weight_addr[i], need_in_bank) = Fill::take(&mut fill.weight, core, weight_words[i]);
            if need_in_bank > wbank.capacity_words() && !model.streams_weights() {
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
            // Uniform in ±1/sqrt(fan-in); a conv layer's fan-in is its patch.
            let fan_in = geom.map_or(cols, |g| g.patch_len());
            let bound = 1.0 / (fan_in as f64).sqrt();
            let w = init_uniform(&mut dp, alloc.weights, bound, &mut rng);
            let b = init_uniform(&mut dp, alloc.biases, bound, &mut rng);
            // A projection's kernels and biases (fan-in: its input channels).
            let skip = geom.and_then(|g| g.skip.map(|s| (g, s))).map(|(g, s)| {
                let (pw, pb) = match s.projection_geom(&g) {
                    Some(pg) => {
                        let bound = 1.0 / (pg.in_c as f64).sqrt();
                        let pw = init_uniform(&mut dp, pg.out_c * pg.in_c, bound, &mut rng);
                        (pw, init_uniform(&mut dp, pg.out_c, bound, &mut rng))
                    }
                    None => (Vec::new(), Vec::new()),
                };
                residual::SkipState::new(&g, s, pw, pb)
            });
            let rom_seed: u64 = rng.random();
            let (rom, classifier) = if alloc.classifier > 0 {
                let rom = ClassifierRom::generate_with(
                    model.rom.storage,
                    classes,
                    rows,
                    rom_seed,
                    D::COMPUTES_VALUES,
                );
                let own = model.rom.words_for(rom.entries());
                // A shared core's ROM holds every hidden layer's classifier.
                let need;
                (rom_addr[i], need) = Fill::take(&mut fill.rom, core, own);
                if need > model.rom_limit_words() {
                    return Err(ChipError::RomTooSmall {
                        layer: i,
                        matrix: "classifier",
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
                let vals = rom_values(&mut dp, &rom, alloc.classifier);
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
                x: vec![D::V::default(); alloc.x],
                h: vec![D::V::default(); alloc.h],
                e: vec![D::V::default(); alloc.e],
                stash: Vec::new(),
                saved_errors: Vec::new(),
                conv: geom.map(|g| {
                    let mut cs = conv::ConvState::new(g);
                    cs.skip = skip;
                    Box::new(cs)
                }),
                skip_to: None,
                skip_e: Vec::new(),
            });
        }
        for (j, g) in geoms.iter().enumerate() {
            if let Some(s) = g.and_then(|g| g.skip) {
                layers[s.from].skip_to = Some(j);
                layers[s.from].skip_e = vec![D::V::default(); s.values()];
            }
        }
        let mut counts = vec![CoreCounts::default(); cores];
        let abank = model.bank(BankRole::Activation);
        let ebank = model.bank(BankRole::Error);
        // A block's skip copy sits in its last layer's activation bank from
        // the block's start until that layer's forward pass: on every layer
        // of the block that runs on the same core.
        let skip_held = |i: usize| -> u64 {
            geoms
                .iter()
                .enumerate()
                .filter_map(|(j, g)| g.and_then(|g| g.skip).map(|s| (j, s)))
                .filter(|&(j, s)| s.from <= i && i <= j && core_of[i] == core_of[j])
                .map(|(_, s)| abank.words_for(s.values() as u64, bits.activation))
                .sum()
        };
        for (i, l) in layers.iter().enumerate() {
            let c = &mut counts[core_of[i]];
            let pool = conv_extra_words(model, l, bits);
            let skip = skip_held(i);
            let act = abank.words_for(l.cols as u64, bits.activation)
                + abank.words_for(l.rows as u64, bits.activation)
                + pool
                + skip;
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
        let place = layout(model, &layers, bits, &weight_addr, &rom_addr, &core_of);
        let bytes0 = (net.sizes[0] as u64 * bits.activation as u64).div_ceil(8);
        let burst = model.dram.burst_bytes as u64;
        let sched = Schedule {
            clock: vec![0; cores],
            spill_base: DRAM_INPUT_ADDR + bytes0.div_ceil(burst) * burst,
            ..Schedule::default()
        };
        let mut chip = Chip {
            model: model.clone(),
            dp,
            net: net.clone(),
            layers,
            counts,
            label: 0,
            scratch: vec![D::V::default(); classes],
            bits,
            sink,
            sched,
            place,
            err_slot: 0,
            fb: feedback::Feedback::default(),
            error_writes: vec![[0; 2]; n_layers],
            sim: similarity::SimState::default(),
            fill,
            momentum: None,
            streamed: vec![false; cores],
            fusion: Fusion::default(),
            core_of,
        };
        chip.sync_weight_occupancy()?;
        chip.check_error_bank()?;
        if T::ENABLED && chip.sink.wants_data() {
            chip.preload();
        }
        Ok(chip)
    }

    /// Tells the sink the initial contents of every weight bank and ROM.
    fn preload(&mut self) {
        for i in 0..self.layers.len() {
            let core = self.core_of[i] as u32;
            if let Some(bits) = self.raw_data(Src::Params(i)) {
                let v = Values {
                    raw: &self.sched.raw,
                    bits,
                };
                self.sink
                    .preload(core, Bank::Weight, self.place[i].weight, v);
            }
            let Some(rom) = &self.layers[i].rom else {
                continue;
            };
            let (raw, bits): (Vec<i64>, u32) = match rom.storage {
                RomStorage::SignBits => (rom.signs.iter().map(|b| *b as i64).collect(), 1),
                RomStorage::Values { bits } => {
                    (rom.values.iter().map(|&v| v as i64).collect(), bits)
                }
                RomStorage::Lfsr => continue,
            };
            let v = Values { raw: &raw, bits };
            self.sink.preload(core, Bank::Rom, self.place[i].rom, v);
        }
    }

    /// The trace sink.
    pub fn sink(&self) -> &T {
        &self.sink
    }

    /// The trace sink, mutably.
    pub fn sink_mut(&mut self) -> &mut T {
        &mut self.sink
    }

    /// Gives the trace sink back, ending the chip.
    pub fn into_sink(self) -> T {
        self.sink
    }

    /// The next free cycle of each core on the trace schedule: the cycle
    /// after its last traced work (all 0 when untraced).
    pub fn trace_cycles(&self) -> &[u64] {
        &self.sched.clock
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
    /// The datapath, read-only (its LFSR, overflow and draw counts).
    pub fn datapath(&self) -> &D {
        &self.dp
    }
    /// Sets the learning rate to `2^-lr_shift` from the next update on (a
    /// schedule's step between epochs); counts do not depend on it.
    pub fn set_lr_shift(&mut self, lr_shift: u32) -> Result<(), DatapathError> {
        self.dp.set_lr_shift(lr_shift)
    }
    /// Every layer's state, read-only.
    pub fn layers(&self) -> &[Layer<D::V>] {
        &self.layers
    }
    /// Layer `i`'s state, read-only. Panics if `i >= num_layers()`.
    pub fn layer(&self, i: usize) -> &Layer<D::V> {
        &self.layers[i]
    }
    /// Counters, one entry per core.
    pub fn counts(&self) -> &[CoreCounts] {
        &self.counts
    }
    /// Per layer, `[error writes, writes of an all-zero error]` since the
    /// chip was built (always zero on a datapath that computes no values).
    pub fn error_writes(&self) -> &[[u64; 2]] {
        &self.error_writes
    }
    /// Sets each core's weight occupancy from the fill levels: a core
    /// whose contents fit holds them (`weight_words`); one that streams
    /// (`docs/hw_model.md`, "Weights streamed from DRAM") uses its whole
    /// bank as the tile buffer and keeps them in DRAM
    /// (`streamed_weight_words`). Refuses a traced chip that streams, or
    /// whose fixed random matrices are in DRAM.
    fn sync_weight_occupancy(&mut self) -> Result<(), ChipError> {
        let cap = self.model.bank(BankRole::Weight).capacity_words();
        self.streamed = self.fill.weight.iter().map(|&w| w > cap).collect();
        for (c, &w) in self.counts.iter_mut().zip(&self.fill.weight) {
            (c.weight_words, c.streamed_weight_words) = if w > cap { (cap, w) } else { (w, 0) };
        }
        match self.streamed.iter().position(|&s| s) {
            Some(core) if T::ENABLED => Err(ChipError::StreamedTrace { core }),
            _ if T::ENABLED && self.model.rom_in_dram() => Err(ChipError::RomInDramTrace),
            _ => Ok(()),
        }
    }

    /// Turns on the fused dataflows of `fusion` (`docs/hw_model.md`,
    /// "Fused dataflows"). The caller enables only what its rule's order
    /// allows ([`crate::rules::Rule`] decides): with `update_forward` every
    /// forward pass of phase `forward` reads no weights (the previous
    /// update's pass, or the initial load, delivered them); with
    /// `backward_update` no backward step reads them (the update that
    /// follows it does, once for both). Values are unchanged.
    pub fn set_fusion(&mut self, fusion: Fusion) {
        self.fusion = fusion;
    }

    /// Whether a pass of `phase` that would read layer weights shares the
    /// read with an update (`backward` marks a backward step's read).
    fn fused_read(&self, phase: Phase, backward: bool) -> bool {
        if backward {
            self.fusion.backward_update
        } else {
            self.fusion.update_forward && phase == Phase::Forward
        }
    }

    /// Whether `core` streams its weight-bank contents from DRAM.
    pub fn streams_weights(&self, core: usize) -> bool {
        self.streamed[core]
    }

    /// Resets every counter, keeping static occupancy (weights, buffers).
    pub fn reset_counts(&mut self) {
        for c in &mut self.counts {
            *c = CoreCounts {
                weight_words: c.weight_words,
                streamed_weight_words: c.streamed_weight_words,
                activation_peak_words: c.activation_peak_words,
                error_peak_words: c.error_peak_words,
                ..CoreCounts::default()
            };
        }
    }

    fn core(&mut self, layer: usize) -> &mut CoreCounts {
        let i = self.core_of[layer];
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
        self.core_of[from].abs_diff(self.core_of[to]) as u64
    }

    /// The core that holds layer `i` ([`layer_cores`]).
    pub fn core_of(&self, i: usize) -> usize {
        self.core_of[i]
    }

    /// Whether layer `i`'s core holds other layers too (its banks use the
    /// shared layout of `docs/formats.md`, "Address layout").
    fn shares_core(&self, i: usize) -> bool {
        self.core_of
            .iter()
            .filter(|&&c| c == self.core_of[i])
            .count()
            > 1
    }

    /// Starts a primitive call of `layer`'s core (tracing only).
    #[inline(always)]
    fn begin(&mut self, layer: usize, phase: Phase, kind: &'static str) {
        if T::ENABLED {
            let core = self.core_of[layer];
            self.sched.call = Call {
                core,
                layer,
                phase,
                kind,
                start: self.sched.clock[core],
                ..Call::default()
            };
        }
    }

    /// Counts one access burst of `words` words of `unit` at `layer`'s core
    /// and emits it, at word address `addr`. The only place SRAM and ROM
    /// words are counted, so events and counts cannot differ.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn access(
        &mut self,
        layer: usize,
        unit: Unit,
        class: Class,
        phase: Phase,
        rw: Rw,
        addr: u64,
        words: u64,
        src: Src,
    ) {
        if unit == Unit::Rom && self.model.rom_in_dram() {
            self.rom_from_dram(layer, class, phase, words);
            return;
        }
        self.core(layer).add_words(unit, class, phase, rw, words);
        if unit == Unit::Weight && self.streamed[self.core_of[layer]] {
            self.stream_weights(layer, class, phase, rw, words);
        }
        if let (true, Rw::Write, Src::E(l)) = (D::COMPUTES_VALUES, rw, src) {
            let zero = self.layers[l].e.iter().all(|v| *v == D::V::default());
            let w = &mut self.error_writes[l];
            w[0] += 1;
            w[1] += zero as u64;
        }
        if T::ENABLED && words > 0 {
            self.emit(layer, unit, class, phase, rw, addr, words, src);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        layer: usize,
        unit: Unit,
        class: Class,
        phase: Phase,
        rw: Rw,
        addr: u64,
        words: u64,
        src: Src,
    ) {
        let core = self.core_of[layer];
        let bits = if rw == Rw::Write && self.sink.wants_data() {
            self.raw_data(src)
        } else {
            None
        };
        if core != self.sched.call.core {
            let data = bits.map(|b| (self.sched.raw.clone(), b));
            self.sched.pending.push(Pending {
                layer,
                core,
                unit,
                class,
                phase,
                addr,
                words,
                data,
            });
            return;
        }
        let add = timing::port_cycles(&self.model, unit, rw, words);
        let busy = &mut self.sched.call.busy[unit.index()][rw.index()];
        let cycle = self.sched.call.start + *busy;
        *busy += add;
        let ev = AccessEvent {
            cycle,
            layer: layer as u32,
            core: core as u32,
            bank: Bank::from_unit(unit),
            rw,
            addr,
            words,
            class,
            phase,
            data: bits.map(|bits| Values {
                raw: &self.sched.raw,
                bits,
            }),
        };
        self.sink.access(&ev);
    }

    /// The raw values of `src` into `self.sched.raw`, and their width; `None`
    /// in `f32` arithmetic or for [`Src::None`].
    fn raw_data(&mut self, src: Src) -> Option<u32> {
        if !D::HAS_RAW_VALUES {
            return None;
        }
        let (class, bits) = match src {
            Src::None => return None,
            Src::X(_) | Src::H(_) => (TensorClass::Activation, self.bits.activation),
            Src::E(_) => (TensorClass::Error, self.bits.error),
            Src::Params(_) => (TensorClass::Weight, self.bits.weight),
        };
        let scale = (self.model.format(class).frac as f64).exp2();
        let (a, b): (&[D::V], &[D::V]) = match src {
            Src::None => return None,
            Src::X(i) => (&self.layers[i].x, &[]),
            Src::H(i) => (&self.layers[i].h, &[]),
            Src::E(i) => (&self.layers[i].e, &[]),
            Src::Params(i) => (&self.layers[i].w, &self.layers[i].b),
        };
        let dp = &self.dp;
        self.sched.raw.clear();
        self.sched.raw.extend(
            a.iter()
                .chain(b)
                .map(|&v| (dp.decode_real(class, v) * scale).round() as i64),
        );
        Some(bits)
    }

    /// Counts `n` MACs of the call in progress.
    #[inline(always)]
    fn add_macs(&mut self, layer: usize, phase: Phase, n: u64) {
        self.core(layer).macs[phase.index()] += n;
        if T::ENABLED {
            self.sched.call.macs += n;
        }
    }

    /// Counts fixed latency cycles of the call in progress.
    #[inline(always)]
    fn add_latency(&mut self, layer: usize, phase: Phase, cycles: u64) {
        self.core(layer).latency_cycles[phase.index()] += cycles;
        if T::ENABLED {
            self.sched.call.latency += cycles;
        }
    }

    /// Ends the call in progress: emits it, advances its core's clock, then
    /// delivers its writes to other cores, each on the receiving core at
    /// the later of its clock and the end of this call.
    #[inline(always)]
    fn end(&mut self) {
        if T::ENABLED {
            self.end_call();
        }
    }

    fn end_call(&mut self) {
        let call = self.sched.call;
        let mac_cycles = timing::mac_cycles(&self.model, call.macs);
        let busy = call.busy.iter().flatten().copied();
        let dram = u128::from(call.dram_bytes);
        // One call's counts are bounded by the network's size limit.
        let cycles = timing::cycles(&self.model, call.macs, busy, dram, call.latency) as u64;
        self.sink.op(&OpEvent {
            cycle: call.start,
            cycles,
            mac_cycles,
            core: call.core as u32,
            layer: call.layer as u32,
            phase: call.phase,
            kind: OpKind::Primitive(call.kind),
        });
        let end = call.start + cycles;
        self.sched.clock[call.core] = end;
        let pending = std::mem::take(&mut self.sched.pending);
        for p in &pending {
            let start = self.sched.clock[p.core].max(end);
            let busy = timing::port_cycles(&self.model, p.unit, Rw::Write, p.words);
            let ev = AccessEvent {
                cycle: start,
                layer: p.layer as u32,
                core: p.core as u32,
                bank: Bank::from_unit(p.unit),
                rw: Rw::Write,
                addr: p.addr,
                words: p.words,
                class: p.class,
                phase: p.phase,
                data: p
                    .data
                    .as_ref()
                    .map(|(raw, bits)| Values { raw, bits: *bits }),
            };
            self.sink.access(&ev);
            self.sink.op(&OpEvent {
                cycle: start,
                cycles: busy,
                mac_cycles: 0,
                core: p.core as u32,
                layer: p.layer as u32,
                phase: p.phase,
                kind: OpKind::Receive,
            });
            self.sched.clock[p.core] = start + busy;
        }
        self.sched.pending = pending;
        self.sched.pending.clear();
    }

    /// Counts the DRAM side of a weight-bank access of `words` words on a
    /// streaming core (`docs/hw_model.md`, "Weights streamed from DRAM"):
    /// a read is preceded by fetching the words from DRAM into the bank
    /// (DRAM read, bank write), a write followed by draining them to DRAM
    /// (bank read, DRAM write), in tiles of the bank's capacity: one DRAM
    /// transfer, with its bursts and latency, per tile.
    fn stream_weights(&mut self, layer: usize, class: Class, phase: Phase, rw: Rw, words: u64) {
        let bank = self.model.bank(BankRole::Weight);
        let (tile, word_bytes) = (bank.capacity_words().max(1), u64::from(bank.word_bits / 8));
        let tiles = words.div_ceil(tile);
        if tiles == 0 {
            return;
        }
        let last = words - (tiles - 1) * tile;
        let dram = &self.model.dram;
        let bursts =
            (tiles - 1) * dram.bursts_for(tile * word_bytes) + dram.bursts_for(last * word_bytes);
        let lat = tiles * u64::from(dram.latency_cycles);
        let (bytes, other) = (words * word_bytes, rw.other());
        let c = self.core(layer);
        c.add_words(Unit::Weight, class, phase, other, words);
        let (p, r) = (phase.index(), rw.index());
        c.dram_bytes[p][r] += bytes;
        c.dram_bursts[p][r] += bursts;
        c.dram_class_bytes[class.index()][r] += bytes;
        self.add_latency(layer, phase, lat);
    }

    /// Counts a read of `words` ROM words of fixed random entries held in
    /// DRAM (`offchip.rom = "dram"`, `docs/hw_model.md`): one DRAM transfer
    /// of `words × rom.word_bits / 8` bytes, with its bursts and latency, in
    /// place of the ROM read.
    fn rom_from_dram(&mut self, layer: usize, class: Class, phase: Phase, words: u64) {
        if words == 0 {
            return;
        }
        let bytes = words * u64::from(self.model.rom.word_bits / 8);
        let bursts = self.model.dram.bursts_for(bytes);
        let lat = u64::from(self.model.dram.latency_cycles);
        let (p, r) = (phase.index(), Rw::Read.index());
        let c = self.core(layer);
        c.dram_bytes[p][r] += bytes;
        c.dram_bursts[p][r] += bursts;
        c.dram_class_bytes[class.index()][r] += bytes;
        self.add_latency(layer, phase, lat);
    }

    /// Counts (and emits) a DRAM transfer of `bytes` activations from byte
    /// `addr`: bytes, bursts and the DRAM latency on `layer`'s core.
    fn count_dram(&mut self, layer: usize, phase: Phase, rw: Rw, addr: u64, bytes: u64) {
        let bursts = self.model.dram.bursts_for(bytes);
        let lat = self.model.dram.latency_cycles as u64;
        let c = self.core(layer);
        c.dram_bytes[phase.index()][rw.index()] += bytes;
        c.dram_bursts[phase.index()][rw.index()] += bursts;
        c.dram_class_bytes[Class::Activation.index()][rw.index()] += bytes;
        self.add_latency(layer, phase, lat);
        if T::ENABLED {
            self.sched.call.dram_bytes += bytes;
            let ev = AccessEvent {
                cycle: self.sched.call.start,
                layer: layer as u32,
                core: self.core_of[layer] as u32,
                bank: Bank::Dram,
                rw,
                addr,
                words: bytes,
                class: Class::Activation,
                phase,
                data: None,
            };
            self.sink.access(&ev);
        }
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
        self.add_latency(from, phase, lat);
        if T::ENABLED {
            let ev = AccessEvent {
                cycle: self.sched.call.start,
                layer: from as u32,
                core: self.core_of[from] as u32,
                bank: Bank::Noc,
                rw: Rw::Write,
                addr: self.core_of[to] as u64,
                words,
                class,
                phase,
                data: None,
            };
            self.sink.access(&ev);
        }
    }

    /// Loads a sample's pixels from DRAM into layer 0's input buffer.
    /// Counts: DRAM read of `ceil(n·a/8)` bytes, activation-bank write.
    pub fn load_input(&mut self, pixels: &[u8]) {
        let n = self.layers[0].cols;
        self.dp.load_pixels(pixels, &mut self.layers[0].x);
        let bytes = (n as u64 * self.bits.activation as u64).div_ceil(8);
        let p = Phase::Forward;
        self.begin(0, p, "load_input");
        self.count_dram(0, p, Rw::Read, DRAM_INPUT_ADDR, bytes);
        let w = self.words(BankRole::Activation, n, self.bits.activation);
        let x = self.place[0].x;
        let (u, a) = (Unit::Activation, Class::Activation);
        self.access(0, u, a, p, Rw::Write, x, w, Src::X(0));
        self.end();
    }

    /// Delivers the sample's label to the cores of `layers` (one interconnect
    /// word per receiving core, one hop from the host link). A core receives
    /// it once however many of its layers are listed (a shared core: once).
    pub fn broadcast_label(&mut self, label: usize, layers: impl Iterator<Item = usize>) {
        self.label = label;
        let mut cores: Vec<(usize, usize)> = layers.map(|l| (self.core_of[l], l)).collect();
        cores.sort_unstable();
        cores.dedup_by_key(|c| c.0);
        let words = self.model.interconnect.words_for(1, LABEL_BITS);
        for (core, layer) in cores {
            let c = &mut self.counts[core];
            c.noc_words[Phase::Forward.index()][Class::Label.index()] += words;
            c.noc_word_hops[Phase::Forward.index()] += words;
            if T::ENABLED {
                let ev = AccessEvent {
                    cycle: self.sched.clock[core],
                    layer: layer as u32,
                    core: core as u32,
                    bank: Bank::Noc,
                    rw: Rw::Write,
                    addr: core as u64,
                    words,
                    class: Class::Label,
                    phase: Phase::Forward,
                    data: None,
                };
                self.sink.access(&ev);
            }
        }
    }

    /// Forward mat-vec of layer `i`: `h = f(W x + b)` (no `f` on the output
    /// layer). Counts: input read, weights+biases read, `rows·cols` MACs,
    /// output write and, when activations round stochastically, one LFSR
    /// draw per output — in `phase` (`Forward`, or `Backward` when recomputing).
    pub fn forward(&mut self, i: usize, phase: Phase) {
        let last = i + 1 == self.layers.len();
        forward_values(&mut self.dp, self.net.activation, &mut self.layers[i], last);
        if let Some(g) = self.layers[i].conv_geom() {
            return self.conv_forward(i, g, phase);
        }
        let (rows, cols) = (self.layers[i].rows, self.layers[i].cols);
        let (ab, wb) = (self.bits.activation, self.bits.weight);
        let x_words = self.words(BankRole::Activation, cols, ab);
        let h_words = self.words(BankRole::Activation, rows, ab);
        let w_words = self.words(BankRole::Weight, rows * cols + rows, wb);
        let lat = self.bank_latency(BankRole::Weight) + self.bank_latency(BankRole::Activation);
        let draws = self.requant_draws(TensorClass::Activation, rows);
        let pl = self.place[i];
        let (ua, ca) = (Unit::Activation, Class::Activation);
        let (uw, cw) = (Unit::Weight, Class::Weight);
        self.begin(i, phase, "forward");
        self.access(i, ua, ca, phase, Rw::Read, pl.x, x_words, Src::None);
        if !self.fused_read(phase, false) {
            self.access(i, uw, cw, phase, Rw::Read, pl.weight, w_words, Src::None);
        }
        self.access(i, ua, ca, phase, Rw::Write, pl.h, h_words, Src::H(i));
        self.add_macs(i, phase, (rows * cols) as u64);
        self.core(i).lfsr_draws[phase.index()] += draws;
        self.add_latency(i, phase, lat);
        self.end();
    }

    /// Moves layer `i`'s output into layer `i+1`'s input buffer. Counts:
    /// activation-bank read at core `i`, interconnect words × hops, write at
    /// core `i+1`. On a shared core the output buffer becomes the next input
    /// buffer in place: nothing is counted.
    pub fn send_activation(&mut self, i: usize, phase: Phase) {
        let (src, dst) = split_pair(&mut self.layers, i);
        dst.x.copy_from_slice(&src.h);
        if self.hops(i, i + 1) == 0 {
            return self.send_skip(i + 1, phase);
        }
        let rows = self.layers[i].rows;
        let ab = self.bits.activation;
        let w = self.words(BankRole::Activation, rows, ab);
        let (u, a) = (Unit::Activation, Class::Activation);
        let (h, x) = (self.place[i].h, self.place[i + 1].x);
        self.begin(i, phase, "send_activation");
        self.access(i, u, a, phase, Rw::Read, h, w, Src::None);
        self.count_transfer(i, i + 1, a, phase, rows, ab);
        self.access(i + 1, u, a, phase, Rw::Write, x, w, Src::X(i + 1));
        self.end();
        self.send_skip(i + 1, phase);
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
        let pl = self.place[i];
        let e_addr = self.err_addr(i, 0);
        let (ua, ca) = (Unit::Activation, Class::Activation);
        let (ur, cr) = (Unit::Rom, Class::Classifier);
        self.begin(i, p, "local_error");
        // M h, then Mᵀ(M h − y) ⊙ f'(h): h and the classifier are read twice.
        for _ in 0..2 {
            self.access(i, ua, ca, p, Rw::Read, pl.h, h_words, Src::None);
            self.access(i, ur, cr, p, Rw::Read, pl.rom, rom_words, Src::None);
        }
        self.core(i).rom_generator_steps[p.index()] += 2 * gen_steps;
        self.add_macs(i, p, 2 * entries);
        let (ue, ce) = (Unit::Error, Class::Error);
        self.access(i, ue, ce, p, Rw::Write, e_addr, e_words, Src::E(i));
        self.core(i).lfsr_draws[p.index()] += draws;
        self.add_latency(i, p, lat);
        self.end();
    }

    /// Output error of the last layer `i`: `e = h − onehot(label)` (squared
    /// error on the linear outputs). Counts (phase `LocalError` for local
    /// rules, `Backward` for backprop): `h` read, `e` written and, when errors
    /// round stochastically, one LFSR draw per element of `e`.
    pub fn output_error(&mut self, i: usize, phase: Phase) {
        self.output_error_values(i, false);
        self.count_output_error(i, phase);
    }

    /// As [`Chip::output_error`], and the error is also kept in a slot of
    /// the error bank for a later backward pass (backprop with batch > 1);
    /// the error bank then holds every kept error. Refused with
    /// [`ChipError::ErrorsDoNotFit`] (nothing computed or counted) when one
    /// more kept error does not fit the error bank next to what it holds
    /// (the address layout of `docs/formats.md`).
    pub fn output_error_kept(&mut self, i: usize, phase: Phase) -> Result<(), ChipError> {
        self.check_kept_errors_fit(i, self.layers[i].saved_errors.len() + 1)?;
        self.output_error_values(i, true);
        self.count_output_error(i, phase);
        Ok(())
    }

    /// Checks that `kept` output errors of the output layer `i` fit its
    /// core's error bank next to what it holds ([`ChipError::ErrorsDoNotFit`]
    /// otherwise): backprop checks a batch before it starts, and
    /// [`Chip::output_error_kept`] each error as it is kept.
    pub fn check_kept_errors_fit(&self, i: usize, kept: usize) -> Result<(), ChipError> {
        let need = self.error_bank_need(i, kept as u64);
        let capacity = self.model.bank(BankRole::Error).capacity_words();
        if need > capacity {
            return Err(ChipError::ErrorsDoNotFit {
                layer: i,
                kept,
                values: self.layers[i].rows,
                need,
                capacity,
            });
        }
        Ok(())
    }

    /// Words of layer `j`'s core's error bank in use (`docs/formats.md`,
    /// "Address layout") with `kept` output errors kept. One core per
    /// layer: the output layer's `kept·words(C)` from 0, a hidden layer's
    /// error and the vector after it (a classifier's error or a received
    /// output error, `words(C)`). A shared core (any `j`): the kept errors
    /// at the top plus the end of the hidden layers' regions at the bottom.
    fn error_bank_need(&self, j: usize, kept: u64) -> u64 {
        let last = self.layers.len() - 1;
        let end = |k: usize| self.error_vectors_end(k) + self.park_words(k);
        let slots = kept * self.place[last].e_words;
        let core = self.core_of[j];
        if self.shares_core(j) {
            // The core's hidden layers' regions, and the kept output errors
            // at the top when it holds the output layer.
            let hidden = (0..last).filter(|&k| self.core_of[k] == core);
            let top = if self.core_of[last] == core { slots } else { 0 };
            hidden.map(end).max().unwrap_or(0) + top
        } else if j == last {
            slots
        } else {
            end(j)
        }
    }

    /// Word address in layer `k`'s core's error bank just past its error and
    /// the vector after it (a classifier's error or a received output
    /// error, `words(C)`, when the layer has one): where a residual block's
    /// parked skip error starts.
    fn error_vectors_end(&self, k: usize) -> u64 {
        let extra = if self.fb.has_error_vector(k) {
            self.words(BankRole::Error, self.net.classes(), self.bits.error)
        } else {
            0
        };
        self.place[k].e + self.place[k].e_words + extra
    }

    /// Checks that every core's error bank holds what the layout puts in it
    /// with one output error (`error_bank_need`).
    fn check_error_bank(&self) -> Result<(), ChipError> {
        let capacity = self.model.bank(BankRole::Error).capacity_words();
        for j in 0..self.layers.len() {
            let need = self.error_bank_need(j, 1);
            if need > capacity {
                return Err(ChipError::BufferDoesNotFit {
                    layer: j,
                    bank: "error",
                    need,
                    capacity,
                });
            }
        }
        Ok(())
    }

    /// The values of the output error into layer `i`'s `e` (and a kept
    /// copy when `keep`).
    fn output_error_values(&mut self, i: usize, keep: bool) {
        let label = self.label;
        let l = &mut self.layers[i];
        self.dp.activation_to_error(&l.h, &mut l.e);
        self.dp.subtract_one_hot(&mut l.e, label);
        if keep {
            l.saved_errors.push(l.e.clone());
        }
    }

    /// Counts one output error of layer `i` (into the last kept slot).
    fn count_output_error(&mut self, i: usize, phase: Phase) {
        let rows = self.layers[i].rows;
        let kept = self.layers[i].saved_errors.len().max(1);
        self.err_slot = kept - 1;
        let h_words = self.words(BankRole::Activation, rows, self.bits.activation);
        let e_words = self.words(BankRole::Error, rows, self.bits.error);
        let draws = self.requant_draws(TensorClass::Error, rows);
        let (h, e_addr) = (self.place[i].h, self.err_addr(i, self.err_slot));
        self.begin(i, phase, "output_error");
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.access(i, ua, ca, phase, Rw::Read, h, h_words, Src::None);
        let (ue, ce) = (Unit::Error, Class::Error);
        self.access(i, ue, ce, phase, Rw::Write, e_addr, e_words, Src::E(i));
        let c = self.core(i);
        c.lfsr_draws[phase.index()] += draws;
        c.error_peak_words = c.error_peak_words.max(e_words * kept as u64);
        self.end();
    }

    /// Makes the `k`-th kept output error of layer `i` current (a pointer
    /// change in the error bank: nothing moves, nothing is counted).
    pub fn select_saved_error(&mut self, i: usize, k: usize) {
        let l = &mut self.layers[i];
        l.e.copy_from_slice(&l.saved_errors[k]);
        self.err_slot = k;
    }

    /// Forgets the kept output errors of layer `i`.
    pub fn clear_saved_errors(&mut self, i: usize) {
        self.layers[i].saved_errors.clear();
        self.err_slot = 0;
    }

    /// Word address of layer `i`'s error (kept-error slot `slot` of the
    /// output layer) in its core's error bank.
    fn err_addr(&self, i: usize, slot: usize) -> u64 {
        let pl = &self.place[i];
        let slot = if i + 1 == self.layers.len() { slot } else { 0 } as u64;
        if pl.e_down {
            // In range: `output_error_kept` refuses a slot below 0.
            pl.e - slot * pl.e_words
        } else {
            pl.e + slot * pl.e_words
        }
    }

    /// Backprop's transposed mat-vec at layer `i > 0`: the error of layer
    /// `i−1`, `(Wᵢᵀ eᵢ) ⊙ f'(xᵢ)`, delivered to core `i−1`'s error bank.
    /// Counts (phase `Backward`): weights read (no biases), `eᵢ` read, `xᵢ`
    /// read (derivative), `rows·cols` MACs, interconnect transfer, write at
    /// core `i−1` and, when errors round stochastically, one LFSR draw per
    /// element of the new error (`cols`).
    pub fn backward(&mut self, i: usize) {
        assert!(i > 0, "backward: layer 0 has no upstream error");
        if let Some(g) = self.layers[i].conv_geom() {
            return self.conv_backward(i, g);
        }
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
        let pl = self.place[i];
        let (e_addr, out_addr) = (self.err_addr(i, self.err_slot), self.err_addr(i - 1, 0));
        let (ue, ce) = (Unit::Error, Class::Error);
        self.begin(i, p, "backward");
        if !self.fused_read(p, true) {
            let (uw, cw) = (Unit::Weight, Class::Weight);
            self.access(i, uw, cw, p, Rw::Read, pl.weight, w_words, Src::None);
        }
        self.access(i, ue, ce, p, Rw::Read, e_addr, e_words, Src::None);
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.access(i, ua, ca, p, Rw::Read, pl.x, x_words, Src::None);
        self.add_macs(i, p, (rows * cols) as u64);
        self.core(i).lfsr_draws[p.index()] += draws;
        self.add_latency(i, p, lat);
        self.send_error_down(i, p, cols, out_addr, out_words);
        self.end();
    }

    /// Counts layer `i`'s new error for layer `i−1` (`cols` values) moving
    /// to core `i−1` and its write there into the error bank at word
    /// `addr` (`words` words).
    fn send_error_down(&mut self, i: usize, p: Phase, cols: usize, addr: u64, words: u64) {
        let eb = self.bits.error;
        self.count_transfer(i, i - 1, Class::Error, p, cols, eb);
        let (ue, ce) = (Unit::Error, Class::Error);
        self.access(i - 1, ue, ce, p, Rw::Write, addr, words, Src::E(i - 1));
    }

    /// Outer-product SGD update of layer `i` from its current error and input:
    /// `W -= lr·e xᵀ`, `b -= lr·e`. Counts (phase `Update`): `e` read, `x`
    /// read, weights and biases read and written, `rows·(cols+1)` MACs and,
    /// when updates round stochastically, one LFSR draw per weight and bias.
    pub fn update(&mut self, i: usize) {
        if let Some(g) = self.layers[i].conv_geom() {
            return self.conv_update(i, g);
        }
        let l = &mut self.layers[i];
        match self.momentum.as_mut() {
            Some(mo) => {
                self.dp
                    .update_momentum(&mut l.w, &mut l.b, &mut mo.v[i], &l.e, &l.x, mo.shift)
            }
            None => self.dp.update(&mut l.w, &mut l.b, &l.e, &l.x),
        }
        let (rows, cols) = (self.layers[i].rows, self.layers[i].cols);
        let (ab, eb, wb) = (self.bits.activation, self.bits.error, self.bits.weight);
        let w_words = self.words(BankRole::Weight, rows * cols + rows, wb);
        let e_words = self.words(BankRole::Error, rows, eb);
        let x_words = self.words(BankRole::Activation, cols, ab);
        let draws = self.update_draws(rows, cols);
        let lat = 2 * self.bank_latency(BankRole::Weight);
        let p = Phase::Update;
        let pl = self.place[i];
        let e_addr = self.err_addr(i, self.err_slot);
        let (uw, cw) = (Unit::Weight, Class::Weight);
        self.begin(i, p, "update");
        self.access(
            i,
            Unit::Error,
            Class::Error,
            p,
            Rw::Read,
            e_addr,
            e_words,
            Src::None,
        );
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.access(i, ua, ca, p, Rw::Read, pl.x, x_words, Src::None);
        self.access(i, uw, cw, p, Rw::Read, pl.weight, w_words, Src::None);
        self.access(i, uw, cw, p, Rw::Write, pl.weight, w_words, Src::Params(i));
        if let Some(addr) = self.momentum.as_ref().map(|m| m.addr[i]) {
            // The velocity, read and written with the weights; two adds
            // per value (`v − 2^-m·v + u`).
            let n = rows * (cols + 1);
            let v_words = self.words(BankRole::Weight, n, self.model.formats.update.bits);
            let cu = Class::Update;
            self.access(i, uw, cu, p, Rw::Read, addr, v_words, Src::None);
            self.access(i, uw, cu, p, Rw::Write, addr, v_words, Src::None);
            self.core(i).adds[p.index()] += 2 * n as u64;
        }
        self.add_macs(i, p, (rows * (cols + 1)) as u64);
        self.core(i).lfsr_draws[p.index()] += draws;
        self.add_latency(i, p, lat);
        self.end();
    }

    /// Rounding-LFSR draws of requantising `n` values into `class` in fixed
    /// point: one per value when the class rounds stochastically
    /// (`docs/arithmetic.md`), none otherwise and none in `f32`.
    fn requant_draws(&self, class: TensorClass, n: usize) -> u64 {
        let stochastic = self.model.format(class).rounding == crate::quant::Rounding::Stochastic;
        if stochastic && D::ROUNDS_FIXED_POINT {
            n as u64
        } else {
            0
        }
    }

    /// LFSR draws of one update of a `rows × cols` layer in fixed point: one
    /// per weight and bias for a stochastic update format, and as many again
    /// for a stochastic weight write-back with `frac_u > frac_w`.
    fn update_draws(&self, rows: usize, cols: usize) -> u64 {
        if !D::ROUNDS_FIXED_POINT {
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
        if self.momentum.is_some() && stoch(f.update.rounding) {
            // The velocity's decay `2^-m·v`, one draw per value.
            d += n;
        }
        d
    }

    /// Checks, before a batch of `batch` samples that keeps every layer's
    /// input on chip (the `stash` policy of backprop, FA and DFA), that each
    /// core's stash bank holds what the batch stashes there. Otherwise
    /// [`ChipError::StashFull`] names the first layer, in stash order
    /// (sample by sample, layer by layer), whose input would not fit, and
    /// the words the whole batch stashes on that layer's core. Nothing is
    /// computed or counted.
    pub fn check_stash_fits(&self, batch: usize) -> Result<(), ChipError> {
        let cap = self.model.bank(BankRole::Stash).capacity_words();
        let core_of = |i| self.core_of[i];
        let mut per_sample = vec![0u64; self.counts.len()];
        for i in 0..self.layers.len() {
            per_sample[core_of(i)] += self.slot_words(i);
        }
        let now: Vec<u64> = self.counts.iter().map(|c| c.stash_words_now).collect();
        let need = |c: usize| now[c] + batch as u64 * per_sample[c];
        if (0..now.len()).all(|c| need(c) <= cap) {
            return Ok(());
        }
        let mut held = now.clone();
        for _ in 0..batch {
            for i in 0..self.layers.len() {
                let c = core_of(i);
                held[c] += self.slot_words(i);
                if held[c] > cap {
                    return Err(ChipError::StashFull {
                        layer: i,
                        samples: batch,
                        need: need(c),
                        capacity: cap,
                    });
                }
            }
        }
        unreachable!("a core whose batch exceeds the stash overflows within the batch")
    }

    /// Keeps a copy of layer `i`'s input for a later phase. It goes to the
    /// stash bank while it fits; beyond that, to DRAM when `spill` is true,
    /// else the call fails (backprop checks a whole batch first,
    /// [`Chip::check_stash_fits`]). Counts (phase `Forward`): stash-bank
    /// write, or DRAM write of `ceil(cols·a/8)` bytes.
    pub fn stash_input(&mut self, i: usize, spill: bool) -> Result<(), ChipError> {
        let words = self.slot_words(i);
        let cap = self.model.bank(BankRole::Stash).capacity_words();
        let core_now = self.core(i).stash_words_now;
        let in_dram = core_now + words > cap;
        if in_dram && !spill {
            return Err(ChipError::StashFull {
                layer: i,
                samples: self.layers[i].stash.len() + 1,
                need: core_now + words,
                capacity: cap,
            });
        }
        let bytes = self.slot_bytes(i);
        let addr = if in_dram {
            let burst = self.model.dram.burst_bytes as u64;
            let a = self.sched.spill_base + self.sched.spill_next;
            self.sched.spill_next += bytes.div_ceil(burst) * burst;
            a
        } else {
            core_now
        };
        let values = self.layers[i].x.clone();
        let skip = match self.layers[i].conv.as_deref().and_then(|c| c.skip.as_ref()) {
            Some(s) if s.proj.is_some() => s.x.clone(),
            _ => Vec::new(),
        };
        self.layers[i].stash.push(StashSlot {
            values,
            skip,
            aux: Vec::new(),
            in_dram,
            addr,
        });
        // A pooled conv layer's next forward pass adds its pool tensor.
        if let Some(cs) = self.layers[i].conv.as_mut() {
            cs.pending = cs.geom.pool.is_some();
        }
        self.begin(i, Phase::Forward, "stash_input");
        self.count_kept_write(i, in_dram, addr, words, bytes, Src::X(i));
        self.end();
        Ok(())
    }

    /// Counts the write of a vector kept for later (forward phase): `bytes`
    /// to DRAM at `addr` when `in_dram` (spill occupancy and peak), else
    /// `words` to the stash bank at word `addr` (stash occupancy, peak and
    /// the bank's latency). Shared by backprop's stash and predsim's kept
    /// outputs.
    fn count_kept_write(
        &mut self,
        i: usize,
        in_dram: bool,
        addr: u64,
        words: u64,
        bytes: u64,
        src: Src,
    ) {
        let p = Phase::Forward;
        if in_dram {
            self.count_dram(i, p, Rw::Write, addr, bytes);
            let c = self.core(i);
            c.spill_bytes_now += bytes;
            c.spill_peak_bytes = c.spill_peak_bytes.max(c.spill_bytes_now);
        } else {
            let lat = self.bank_latency(BankRole::Stash);
            let (us, ca) = (Unit::Stash, Class::Activation);
            self.access(i, us, ca, p, Rw::Write, addr, words, src);
            let c = self.core(i);
            c.stash_words_now += words;
            c.stash_peak_words = c.stash_peak_words.max(c.stash_words_now);
            self.add_latency(i, p, lat);
        }
    }

    /// Restores stash slot `k` of layer `i` into its input buffer. Counts
    /// (phase `Backward`): stash-bank read (or DRAM read), activation-bank write.
    pub fn unstash_input(&mut self, i: usize, k: usize) {
        let cols = self.layers[i].cols;
        let ab = self.bits.activation;
        let (in_dram, addr) = {
            let l = &mut self.layers[i];
            l.x.copy_from_slice(&l.stash[k].values);
            let kept = &l.stash[k].skip;
            if let Some(s) = l.conv.as_deref_mut().and_then(|c| c.skip.as_mut())
                && !kept.is_empty()
            {
                s.x.copy_from_slice(kept);
            }
            let pooled = l.conv.as_mut().filter(|c| c.geom.pool.is_some());
            if let Some(cs) = pooled.filter(|_| D::COMPUTES_VALUES) {
                cs.aux.copy_from_slice(&l.stash[k].aux);
            }
            (l.stash[k].in_dram, l.stash[k].addr)
        };
        let p = Phase::Backward;
        let words = self.slot_words(i);
        self.begin(i, p, "unstash_input");
        if in_dram {
            let bytes = self.slot_bytes(i);
            self.count_dram(i, p, Rw::Read, addr, bytes);
        } else {
            let lat = self.bank_latency(BankRole::Stash);
            let (us, ca) = (Unit::Stash, Class::Activation);
            self.access(i, us, ca, p, Rw::Read, addr, words, Src::None);
            self.add_latency(i, p, lat);
        }
        let aw = self.words(BankRole::Activation, cols, ab);
        let x = self.place[i].x;
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.access(i, ua, ca, p, Rw::Write, x, aw, Src::X(i));
        // A pooled conv layer's pool tensor returns next to its output.
        let pool = self.pool_words(i, BankRole::Activation);
        let rows_words = self.words(BankRole::Activation, self.layers[i].rows, ab);
        let aux_addr = self.place[i].h + rows_words;
        self.access(i, ua, ca, p, Rw::Write, aux_addr, pool, Src::None);
        // A projection's skip tensor returns to its copy.
        if self.skip_slot_words(i) > 0 {
            let (sa, sw) = (self.place[i].skip, self.skip_words(i));
            self.access(i, ua, ca, p, Rw::Write, sa, sw, Src::None);
        }
        self.end();
    }

    /// Frees every stash slot of layer `i` (no access is counted).
    pub fn release_stash(&mut self, i: usize) {
        let words = self.slot_words(i);
        let bytes = self.slot_bytes(i);
        let slots = std::mem::take(&mut self.layers[i].stash);
        let c = self.core(i);
        for s in slots {
            if s.in_dram {
                c.spill_bytes_now -= bytes;
            } else {
                c.stash_words_now -= words;
            }
        }
        if self.counts.iter().all(|c| c.spill_bytes_now == 0) {
            self.sched.spill_next = 0;
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
            forward_values(&mut self.dp, act, &mut self.layers[i], i + 1 == n);
            if i + 1 < n {
                let (src, dst) = split_pair(&mut self.layers, i);
                dst.x.copy_from_slice(&src.h);
                if let Some(j) = self.layers[i + 1].skip_to {
                    residual::deliver_skip(&mut self.layers, i + 1, j);
                }
            }
        }
        D::argmax(&self.layers[n - 1].h)
    }

    /// The class predicted from the last forward pass's output.
    pub fn predicted(&self) -> usize {
        D::argmax(&self.layers[self.layers.len() - 1].h)
    }
}

/// Weight-bank words of each layer's own weights and biases (and a
/// residual projection's), as the chip places them; what the greedy
/// mapping balances.
fn layer_weight_words(
    model: &HwModel,
    net: &NetSpec,
    geoms: &[Option<crate::net::spec::ConvGeom>],
) -> Vec<u64> {
    let wbank = model.bank(BankRole::Weight);
    let (n, classes) = (net.layers(), net.classes());
    geoms
        .iter()
        .enumerate()
        .map(|(i, geom)| {
            let shape = (net.sizes[i], net.sizes[i + 1]);
            let alloc = host::LayerAlloc::of(i, n, shape, *geom, classes, false);
            let conv = geom.map(|g| host::ConvAlloc::of(&g)).unwrap_or_default();
            let own = (alloc.weights + alloc.biases) as u64;
            let bits = model.formats.weight.bits;
            wbank.words_for(own, bits) + wbank.words_for(conv.projection as u64, bits)
        })
        .collect()
}

/// The core of each layer under `mapping`: layer `i` with one core per
/// layer, 0 on a shared core, and with `N` cores the greedy rule: layer `i`
/// goes to core `min(N − 1, floor(N · P_i / T))`, where `P_i` is the weight
/// words of the layers before it and `T` of all (`words`), so each core
/// takes a contiguous run of layers holding about `1/N` of the weights;
/// with `layer_cores` the list itself, which must name every layer.
fn assign_cores(mapping: &Mapping, words: &[u64]) -> Result<Vec<usize>, ChipError> {
    Ok(match mapping {
        Mapping::CorePerLayer => (0..words.len()).collect(),
        Mapping::SharedCore => vec![0; words.len()],
        Mapping::LayerCores(v) if v.len() != words.len() => {
            return Err(ChipError::MappingLength {
                given: v.len(),
                layers: words.len(),
            });
        }
        Mapping::LayerCores(v) => v.iter().map(|&c| c as usize).collect(),
        &Mapping::Cores(n) => {
            let total = u128::from(words.iter().sum::<u64>().max(1));
            let last = n.saturating_sub(1) as usize;
            let mut before = 0u128;
            words
                .iter()
                .map(|&w| {
                    let core = (u128::from(n) * before / total) as usize;
                    before += u128::from(w);
                    core.min(last)
                })
                .collect()
        }
    })
}

/// The core of each layer of `net` on `model` (`docs/hw_model.md`,
/// "Mapping onto N cores").
pub fn layer_cores(model: &HwModel, net: &NetSpec) -> Result<Vec<usize>, ChipError> {
    let geoms = net.geometry()?;
    assign_cores(&model.mapping, &layer_weight_words(model, net, &geoms))
}

/// The values of layer `l`'s forward pass, `h = f(W x + b)` (the output
/// layer, `last`, stays linear; a conv layer is activated before pooling):
/// the one computation both the counted [`Chip::forward`] and the uncounted
/// inference use.
fn forward_values<D: Datapath>(
    dp: &mut D,
    act: super::datapath::Activation,
    l: &mut Layer<D::V>,
    last: bool,
) {
    if !D::COMPUTES_VALUES {
        return;
    }
    if l.conv.is_some() {
        conv::forward_values(dp, act, l);
    } else {
        dp.matvec(&l.w, &l.b, &l.x, &mut l.h);
        if !last {
            dp.activate(act, &mut l.h);
        }
    }
}

/// `n` weights drawn uniformly in `±bound` from `rng`, one draw per value
/// in order (initial weights and learned classifiers); default values and
/// no draw for a datapath that computes no values.
fn init_uniform<D: Datapath>(dp: &mut D, n: usize, bound: f64, rng: &mut ChaCha8Rng) -> Vec<D::V> {
    if D::COMPUTES_VALUES {
        (0..n)
            .map(|_| dp.encode_real(TensorClass::Weight, rng.random_range(-bound..bound)))
            .collect()
    } else {
        vec![D::V::default(); n]
    }
}

/// The first `n` entries of `rom` in `dp`'s classifier representation;
/// default values (nothing drawn) for a datapath that computes no values.
fn rom_values<D: Datapath>(dp: &mut D, rom: &ClassifierRom, n: usize) -> Vec<D::V> {
    if D::COMPUTES_VALUES {
        (0..n)
            .map(|k| dp.encode_real(TensorClass::Classifier, rom.real(k)))
            .collect()
    } else {
        vec![D::V::default(); n]
    }
}

/// Activation-bank words a conv layer keeps after its output: the pool
/// tensor and, for overlapping pooling windows, the whole activated map.
fn conv_extra_words<V>(model: &HwModel, l: &Layer<V>, bits: ClassBits) -> u64 {
    let abank = model.bank(BankRole::Activation);
    l.conv.as_ref().map_or(0, |cs| {
        let (n, b) = cs.geom.pool_tensor();
        let map = if cs.geom.fused_pool() {
            0
        } else {
            abank.words_for(cs.geom.conv_len() as u64, bits.activation)
        };
        map + if n == 0 {
            0
        } else {
            abank.words_for(n as u64, b)
        }
    })
}

/// Mutable access to layers `i` and `i + 1` at once.
fn split_pair<V>(layers: &mut [Layer<V>], i: usize) -> (&mut Layer<V>, &mut Layer<V>) {
    let (a, b) = layers.split_at_mut(i + 1);
    (&mut a[i], &mut b[0])
}

/// The address layout of `docs/formats.md` ("Address layout"): per layer,
/// where its weights, classifier, input, output and error sit in its core's
/// banks. One core per layer: everything at address 0, the output right after
/// the input. A shared core: weights and classifiers one layer after the
/// other; activations alternate between the bottom and the top of their bank
/// by layer parity (even layers read their input at the bottom and write
/// their output at the top, odd layers the other way round), so a layer's
/// output is the next layer's input in place; the output layer's errors sit
/// at the top of the error bank, growing down, and the hidden layers' errors
/// alternate between two regions at the bottom, so a backward step never
/// writes over the error it reads or a kept output error. With `N` cores,
/// each core that holds several layers lays them out as a shared core does
/// (parity counted from the core's first layer), one that holds a single
/// layer as with one core per layer.
fn layout<V>(
    model: &HwModel,
    layers: &[Layer<V>],
    bits: ClassBits,
    weight_addr: &[u64],
    rom_addr: &[u64],
    core_of: &[usize],
) -> Vec<Place> {
    let abank = model.bank(BankRole::Activation);
    let ebank = model.bank(BankRole::Error);
    let a_cap = abank.capacity_words();
    let e_cap = ebank.capacity_words();
    let n = layers.len();
    let first = |c: usize| core_of.iter().position(|&k| k == c).unwrap_or(0);
    let sharing = |c: usize| core_of.iter().filter(|&&k| k == c).count() > 1;
    // The largest hidden-layer error of each core: the size of each of its
    // bottom regions.
    let hidden_e = |c: usize| {
        layers[..n - 1]
            .iter()
            .enumerate()
            .filter(|(i, _)| core_of[*i] == c)
            .map(|(_, l)| ebank.words_for(l.rows as u64, bits.error))
            .max()
            .unwrap_or(0)
    };
    let mut out = Vec::with_capacity(layers.len());
    for (i, l) in layers.iter().enumerate() {
        let c = core_of[i];
        let shared = sharing(c);
        let hidden_e = hidden_e(c);
        let x_words = abank.words_for(l.cols as u64, bits.activation);
        let h_words = abank.words_for(l.rows as u64, bits.activation);
        let odd = shared && (i - first(c)) % 2 == 1;
        let e_words = ebank.words_for(l.rows as u64, bits.error);
        let (x, h) = match (shared, odd) {
            (false, _) => (0, x_words),
            (true, false) => (0, a_cap.saturating_sub(h_words)),
            (true, true) => (a_cap.saturating_sub(x_words), 0),
        };
        let p = Place {
            weight: weight_addr[i],
            rom: rom_addr[i],
            x,
            h,
            e_words,
            e: match (shared, i + 1 == n) {
                (false, _) => 0,
                (true, true) => e_cap.saturating_sub(e_words),
                (true, false) if (n - 2 - i).is_multiple_of(2) => 0,
                (true, false) => hidden_e,
            },
            e_down: shared && i + 1 == n,
            skip: h + h_words + conv_extra_words(model, l, bits),
            projection: weight_addr[i]
                + model
                    .bank(BankRole::Weight)
                    .words_for((l.w.len() + l.b.len()) as u64, bits.weight),
        };
        out.push(p);
    }
    out
}
