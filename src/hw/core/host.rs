//! What a chip allocates on the host: the one description of every buffer's
//! length that [`Chip::build`](super::Chip), `ConvState::new`,
//! `attach_feedback` and the rules' kept tensors allocate from, and that
//! `limits::run_memory` sums to refuse a run above `--max-memory` before
//! anything is allocated. Lengths are in values of the datapath's lanes
//! unless a name says bytes.

use super::ChipError;
use super::feedback::FeedbackKind;
use crate::hw::model::{HwModel, RomStorage};
use crate::net::spec::{ConvGeom, NetSpec};

/// Lengths of one layer's own buffers, in values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerAlloc {
    /// Weights, `rows × cols` (a conv layer: `out_c × in_c·k·k`).
    pub weights: usize,
    /// Biases, `rows` (a conv layer: `out_c`).
    pub biases: usize,
    /// Fixed classifier values, `classes × rows` (hidden layers of rules
    /// that use one).
    pub classifier: usize,
    /// Input vector.
    pub x: usize,
    /// Output vector.
    pub h: usize,
    /// Error vector.
    pub e: usize,
}

impl LayerAlloc {
    /// The buffers of layer `i` (`cols` inputs, `rows` outputs, conv shape
    /// `geom`) of a net with `classes` classes and `layers` layers.
    pub fn of(
        i: usize,
        layers: usize,
        (cols, rows): (usize, usize),
        geom: Option<ConvGeom>,
        classes: usize,
        classifiers: bool,
    ) -> Self {
        let (wr, wc) = geom.map_or((rows, cols), |g| (g.out_c, g.patch_len()));
        let hidden = i + 1 < layers;
        LayerAlloc {
            weights: wr * wc,
            biases: wr,
            classifier: if hidden && classifiers {
                classes * rows
            } else {
                0
            },
            x: cols,
            h: rows,
            e: rows,
        }
    }
}

/// Lengths of a conv layer's working buffers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConvAlloc {
    /// The pool tensor (`u16` each).
    pub aux: usize,
    /// One position's input patch over every channel, `in_c·k·k`.
    pub patch: usize,
    /// One output column, `out_c`.
    pub col: usize,
    /// Every output before its activation, `out_c·positions` (the
    /// datapath's whole-layer forward path).
    pub pre: usize,
    /// A pooling window of every channel, `out_c·n·n`.
    pub win: usize,
    /// The error at the conv output, `out_c·positions`.
    pub delta: usize,
    /// The whole activated conv output, `out_c·positions`, when the pooling
    /// windows overlap or are padded (0 when they tile the map).
    pub map: usize,
    /// A residual block's last layer: its copy of the skip tensor (the
    /// block's input), and the skip's error parked at the block's first
    /// layer, each the skip tensor's length (0 without a skip).
    pub skip: usize,
    /// A projection skip's `1 × 1` kernels and biases, `out_c·in_c + out_c`.
    pub projection: usize,
    /// A projection's patch and output column, `in_c + out_c`.
    pub projection_scratch: usize,
}

impl ConvAlloc {
    /// The buffers of conv layer `g`.
    pub fn of(g: &ConvGeom) -> Self {
        let nn = g.pool_n() * g.pool_n();
        ConvAlloc {
            aux: g.pool_tensor().0,
            patch: g.in_patch_len(),
            col: g.out_c,
            pre: g.conv_len(),
            win: g.out_c * nn,
            delta: g.conv_len(),
            map: if g.fused_pool() { 0 } else { g.conv_len() },
            skip: g.skip.map_or(0, |s| s.values()),
            projection: g
                .skip
                .and_then(|s| s.projection_geom(g))
                .map_or(0, |p| p.out_c * (p.in_c + 1)),
            projection_scratch: g
                .skip
                .and_then(|s| s.projection_geom(g))
                .map_or(0, |p| p.out_c + p.in_c),
        }
    }
}

/// Lengths of one layer's feedback tensors (`FeedbackKind`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedbackAlloc {
    /// Fixed feedback ROM entries (their values; the ROM's own storage is
    /// `rom_entries` more entries in the ROM's format).
    pub rom_entries: usize,
    /// Learned classifier, `classes × rows`.
    pub m: usize,
    /// Learned classifier biases, `classes`.
    pub mb: usize,
    /// A classifier's error or a received output error, `classes`.
    pub e_cls: usize,
    /// A kept hidden output, `rows`.
    pub h1: usize,
    /// GAIT-prop's received target, `rows`.
    pub tau: usize,
}

impl FeedbackAlloc {
    /// The feedback tensors of layer `i` of `layers` for `kind`; `weight`
    /// is the layer's weight shape `(rows, cols)` (a conv layer's
    /// `out_c × in_c·k·k`).
    pub fn of(
        kind: FeedbackKind,
        i: usize,
        layers: usize,
        (cols, rows): (usize, usize),
        weight: (usize, usize),
        classes: usize,
    ) -> Self {
        let hidden = i + 1 < layers;
        let mut a = FeedbackAlloc::default();
        match kind {
            FeedbackKind::Fixed if i > 0 => a.rom_entries = weight.0 * weight.1,
            FeedbackKind::Direct if i > 0 => {
                a.rom_entries = classes * cols;
                if hidden {
                    a.e_cls = classes;
                }
            }
            FeedbackKind::Modulated => {
                if i == 0 {
                    a.rom_entries = cols * classes;
                    if layers > 1 {
                        a.e_cls = classes;
                    }
                }
                if hidden {
                    a.h1 = rows;
                }
            }
            FeedbackKind::Target { .. } if hidden => {
                a.h1 = rows;
                a.tau = rows;
            }
            FeedbackKind::Learned if hidden => {
                a.m = classes * rows;
                a.mb = classes;
                a.e_cls = classes;
            }
            _ => {}
        }
        a
    }
}

/// Bytes of a ROM's host storage for `entries` entries: a bit each for sign
/// bits and LFSR-generated entries, an `i32` each for `k`-bit values.
pub fn rom_storage_bytes(storage: RomStorage, entries: usize) -> u64 {
    match storage {
        RomStorage::Values { .. } => entries as u64 * 4,
        RomStorage::SignBits | RomStorage::Lfsr => (entries as u64).div_ceil(64) * 8,
    }
}

/// What a rule keeps per sample of a batch, besides the chip's own state
/// (the rules say which: `rules::Rule::keeps`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Keeps {
    /// Which layers' inputs are stashed per sample (backprop's stash and
    /// spill policies: all; recompute: layer 0 only).
    pub stash: StashKeeps,
    /// The output layer's error is kept per sample (backprop, batch > 1).
    pub output_errors: bool,
    /// Every hidden output is kept per sample with the batch's similarity
    /// coefficients (predsim).
    pub hidden_outputs: bool,
}

/// Which layers' inputs a rule stashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StashKeeps {
    /// None.
    #[default]
    None,
    /// Layer 0's input only.
    First,
    /// Every layer's input.
    All,
}

/// Host memory of a chip in values and bytes, by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostAlloc {
    /// Weights and biases, values.
    pub weight_values: u64,
    /// Classifier and feedback values (fixed ROMs' values and learned
    /// classifiers), values.
    pub classifier_values: u64,
    /// ROM storage (sign bits or `k`-bit values), bytes.
    pub rom_bytes: u64,
    /// Vectors: inputs, outputs, errors, conv and feedback working buffers,
    /// and what the rule keeps for a whole batch, values.
    pub buffer_values: u64,
    /// Pool tensors and the kept ones (`u16` each), and predsim's
    /// coefficients (8 bytes each), bytes.
    pub buffer_bytes: u64,
    /// The widest vector of any layer, values: the datapath's per-vector
    /// scratch grows with it.
    pub widest: u64,
}

/// The host allocation of a chip for `net` on `model`, with fixed
/// classifiers when `classifiers`, feedback tensors of `feedback`, and what
/// a rule `keeps` for a batch of `batch` samples. The same `*Alloc::of`
/// functions give the chip its buffers.
pub fn host_alloc(
    model: &HwModel,
    net: &NetSpec,
    classifiers: bool,
    feedback: Option<FeedbackKind>,
    keeps: Keeps,
    batch: usize,
) -> Result<HostAlloc, ChipError> {
    let geoms = net.geometry()?;
    let n = geoms.len();
    let classes = net.classes();
    let b = batch as u64;
    let mut a = HostAlloc::default();
    for (i, geom) in geoms.iter().enumerate() {
        let shape = (net.sizes[i], net.sizes[i + 1]);
        let l = LayerAlloc::of(i, n, shape, *geom, classes, classifiers);
        a.weight_values += (l.weights + l.biases) as u64;
        a.classifier_values += l.classifier as u64;
        a.rom_bytes += rom_storage_bytes(model.rom.storage, l.classifier);
        a.buffer_values += (l.x + l.h + l.e) as u64;
        // The datapath's scratch follows the vectors its mat-vecs take: a
        // dense layer's input and output, a conv layer's patch and column.
        let widest = geom.map_or(shape.0.max(shape.1), |g| g.in_patch_len().max(g.out_c));
        a.widest = a.widest.max(widest as u64);
        let (mut aux, mut skip_stash) = (0u64, 0u64);
        if let Some(g) = geom {
            let c = ConvAlloc::of(g);
            a.buffer_values += (c.patch + c.col + c.pre + c.win + c.delta + c.map) as u64;
            // The skip copy, the parked skip error and the projection.
            a.buffer_values += (2 * c.skip + c.projection_scratch) as u64;
            a.weight_values += c.projection as u64;
            if c.projection > 0 {
                skip_stash = c.skip as u64;
            }
            aux = c.aux as u64;
            a.buffer_bytes += 2 * aux;
            // The fast conv kernels' scratch (one layer's at a time; the
            // largest is counted for each layer, an upper bound).
            a.buffer_bytes += crate::hw::datapath::conv_fast_scratch_bytes(g);
        }
        if let Some(kind) = feedback {
            let weight = (l.biases, l.weights / l.biases.max(1));
            let f = FeedbackAlloc::of(kind, i, n, shape, weight, classes);
            a.classifier_values += (f.rom_entries + f.m + f.mb) as u64;
            a.rom_bytes += rom_storage_bytes(model.rom.storage, f.rom_entries);
            a.buffer_values += (f.e_cls + f.h1 + f.tau) as u64;
        }
        let stashed = match keeps.stash {
            StashKeeps::All => true,
            StashKeeps::First => i == 0,
            StashKeeps::None => false,
        };
        // Per-batch parts saturate: a huge batch gives a huge estimate.
        if stashed {
            let slot = l.x as u64 + skip_stash;
            a.buffer_values = a.buffer_values.saturating_add(b.saturating_mul(slot));
            a.buffer_bytes = a.buffer_bytes.saturating_add(b.saturating_mul(2 * aux));
        }
        if keeps.output_errors && i + 1 == n && batch > 1 {
            a.buffer_values = a.buffer_values.saturating_add(b.saturating_mul(l.e as u64));
        }
        if keeps.hidden_outputs && i + 1 < n {
            // The kept outputs and their gathered copy; the coefficients
            // (`B² + 2B`).
            let kept = b.saturating_mul(2 * l.h as u64);
            let coef = b.saturating_mul(b).saturating_add(2 * b).saturating_mul(8);
            a.buffer_values = a.buffer_values.saturating_add(kept);
            a.buffer_bytes = a.buffer_bytes.saturating_add(coef);
        }
    }
    Ok(a)
}
