//! The datapath: the values the modelled core computes, in fixed point
//! ([`FixedDatapath`], bit-exact to `docs/arithmetic.md`) or in `f32`
//! ([`FloatDatapath`], the same operations with no rounding). It computes
//! values only; the counted primitives in [`crate::hw::core`] call it and do
//! all the counting, so both arithmetics produce the same counts.

use super::kernels::{self, Events, RowUpdate};
use super::model::{HwModel, TensorClass};
use crate::net::spec::ConvGeom;
use crate::quant::{
    AccFormat, Lfsr, LfsrBlock, LfsrJump, OverflowStats, QFormat, Raw, Requantizer, Rounding,
};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

mod conv;
mod count;
mod rounding;
pub mod similarity;

pub use conv::fast_scratch_bytes as conv_fast_scratch_bytes;
pub use count::CountDatapath;
pub use rounding::UpdateRounding;

pub use crate::net::spec::Activation;

/// Leaky ReLU's negative slope is `2^-LEAKY_SHIFT` (1/8).
pub const LEAKY_SHIFT: u32 = 3;

/// Which matrix a (transposed) mat-vec reads: its format differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matrix {
    /// A layer's weights (weight format).
    Weights,
    /// A layer's fixed random classifier (classifier format).
    Classifier,
}

/// Overflow events per tensor class and in the accumulator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverflowByClass {
    /// Weights written back after an update.
    pub weight: OverflowStats,
    /// Pre-activations requantised from the accumulator.
    pub activation: OverflowStats,
    /// Errors requantised from the accumulator or from activations.
    pub error: OverflowStats,
    /// Updates requantised from error × input products.
    pub update: OverflowStats,
    /// Classifier values placed into the classifier format.
    pub classifier: OverflowStats,
    /// Accumulator additions that left the register's range.
    pub accumulator: OverflowStats,
}

impl OverflowByClass {
    /// All events of every class.
    pub fn total(&self) -> u64 {
        [
            self.weight,
            self.activation,
            self.error,
            self.update,
            self.classifier,
            self.accumulator,
        ]
        .iter()
        .map(OverflowStats::total)
        .sum()
    }
}

/// Mutable state of a datapath besides the tensors: the rounding LFSR, the
/// number of draws, the overflow counters and the update-rounding counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatapathState {
    lfsr: Option<Lfsr>,
    draws: u64,
    overflow: OverflowByClass,
    update_rounding: UpdateRounding,
}

/// The operations of the modelled core on values. Shapes: weights are
/// row-major `rows × cols` (`rows` outputs, `cols` inputs), biases `rows`.
pub trait Datapath: Send {
    /// A stored value: `i16`/`i32` raw fixed point, or `f32`.
    type V: Copy + Default + Send + Sync + Debug + PartialEq + PartialOrd + 'static;
    /// Coefficient registers of predsim's similarity unit (`i64` raw
    /// `Q·.24` in fixed point, `f32` in float); see [`similarity`].
    type Coef: Copy + Default + Send + Sync + Debug + 'static;

    /// Whether requantisations of this datapath round as the fixed-point
    /// contract says (`docs/arithmetic.md`): a stochastic format draws the
    /// rounding LFSR once per value, and those draws are counted. `false`
    /// for `f32`, which has no rounding and no draws. A count-only datapath
    /// modelling a fixed-point chip says `true`: its counts are the fixed
    /// chip's. Counting paths key on this constant, never on a name.
    const ROUNDS_FIXED_POINT: bool;
    /// Whether stored values are raw fixed-point integers that traces can
    /// report (the `$readmemh`-ready data of written bursts): `false` for
    /// `f32` and for a datapath that holds no values.
    const HAS_RAW_VALUES: bool;
    /// Whether the datapath computes values at all: `false` for the
    /// count-only datapath, whose callers skip loops that only move values
    /// (conv patches, pooling) since their counts are closed forms.
    const COMPUTES_VALUES: bool = true;
    /// Host-side conversion of a real value into `class`'s representation
    /// (initialisation and ROM contents only).
    fn encode_real(&mut self, class: TensorClass, x: f64) -> Self::V;
    /// The real value of a stored value (reports and tests only).
    fn decode_real(&self, class: TensorClass, v: Self::V) -> f64;
    /// Pixels `p` (real value `p / 255`) into the activation representation.
    fn load_pixels(&self, px: &[u8], out: &mut [Self::V]);
    /// Pre-activations `out[i] = Σ_j w[i][j]·x[j] + b[i]` in activation format.
    fn matvec(&mut self, w: &[Self::V], b: &[Self::V], x: &[Self::V], out: &mut [Self::V]);
    /// Applies `f` in place.
    fn activate(&self, f: Activation, v: &mut [Self::V]);
    /// Classifier output `out[i] = Σ_j m[i][j]·h[j]` in error format.
    fn classify(&mut self, m: &[Self::V], h: &[Self::V], out: &mut [Self::V]);
    /// Learned classifier output `out[i] = Σ_j m[i][j]·h[j] + c[i]` in error
    /// format, where `m` (`out.len() × h.len()`, row-major) and `c` are held in
    /// the weight format (a classifier trained like a layer's weights).
    fn classify_learned(
        &mut self,
        m: &[Self::V],
        c: &[Self::V],
        h: &[Self::V],
        out: &mut [Self::V],
    );
    /// PEPITA's input modulation, `x[j] −= 2^-shift · Σ_k f[j][k]·e[k]` in
    /// activation format, with `f` (`x.len() × e.len()`, row-major) in the
    /// classifier format and `e` in the error format: one requantisation per
    /// element (activation rounding and overflow).
    fn modulate(&mut self, f: &[Self::V], e: &[Self::V], shift: u32, x: &mut [Self::V]);
    /// `out = a − b` for activations `a`, `b`, in error format (PEPITA's
    /// hidden-layer error, first-pass minus second-pass output).
    fn difference_to_error(&mut self, a: &[Self::V], b: &[Self::V], out: &mut [Self::V]);
    /// Output activations into error format, in place semantics: `e = a`.
    fn activation_to_error(&mut self, a: &[Self::V], e: &mut [Self::V]);
    /// `e[label] -= 1` (one-hot target), in error format.
    fn subtract_one_hot(&mut self, e: &mut [Self::V], label: usize);
    /// `out[j] = (Σ_i m[i][j]·e[i]) · f'(h[j])` in error format, where `m` is
    /// `rows × cols`, `e` has `rows` and `h` (the layer's output, from which
    /// the derivative is read) `cols` entries.
    fn backprop(
        &mut self,
        which: Matrix,
        m: &[Self::V],
        e: &[Self::V],
        h: &[Self::V],
        f: Activation,
        out: &mut [Self::V],
    );
    /// GAIT-prop's incremental target and rescaled error of one layer
    /// (`docs/rules.md`, "gaitprop"; `docs/arithmetic.md`, "GAIT-prop").
    /// Per unit, with `s = LEAKY_SHIFT` where `hidden` and the output `h` is
    /// negative (else `s = 0`): the target `t = h + 2^-(g+2s)·(τ − h)` in
    /// activation format (`γ·f'²` is a shift), then the error `e =
    /// 2^(g·k+s)·(h − t)` in error format (`γ^-k / f'`, a shift).
    #[allow(clippy::too_many_arguments)]
    fn gait_error(
        &mut self,
        hidden: bool,
        g: u32,
        k: u32,
        h: &[Self::V],
        tau: &[Self::V],
        t: &mut [Self::V],
        e: &mut [Self::V],
    );
    /// GAIT-prop's target of the layer below, through the transposed
    /// weights in incremental form: `out[c] = x[c] + Σ_r w[r][c]·(f⁻¹(t[r])
    /// − f⁻¹(h[r]))` in activation format, `w` row-major `rows × cols`,
    /// `f⁻¹` the leaky ReLU's inverse when `hidden` (negative values `·
    /// 2^LEAKY_SHIFT`), the identity for the linear output layer.
    fn gait_inverse(
        &mut self,
        hidden: bool,
        w: &[Self::V],
        t: &[Self::V],
        h: &[Self::V],
        x: &[Self::V],
        out: &mut [Self::V],
    );
    /// `e[j] *= f'(h[j])`: zero the errors of inactive units.
    fn mask_derivative(&self, f: Activation, h: &[Self::V], e: &mut [Self::V]);
    /// SGD step `w[i][j] -= lr·e[i]·x[j]`, `b[i] -= lr·e[i]` (bias = a weight
    /// whose input is 1.0), with `lr = 2^-lr_shift`.
    fn update(&mut self, w: &mut [Self::V], b: &mut [Self::V], e: &[Self::V], x: &[Self::V]);
    /// SGD with momentum `μ = 1 − 2^-m`: per weight and bias (row by row,
    /// each row's bias after its weights), the velocity `v ← v − 2^-m·v +
    /// lr·e[i]·x[j]` in the update format, then `w −= v`. `v` holds the
    /// `rows·cols` weights' velocities, then the `rows` biases'
    /// (`docs/arithmetic.md`, "Momentum").
    fn update_momentum(
        &mut self,
        w: &mut [Self::V],
        b: &mut [Self::V],
        v: &mut [Self::V],
        e: &[Self::V],
        x: &[Self::V],
        m: u32,
    );
    /// Changes the learning rate to `2^-lr_shift` between batches (a
    /// schedule's step), keeping the LFSR, draw and overflow counters.
    fn set_lr_shift(&mut self, lr_shift: u32) -> Result<(), DatapathError>;
    /// Index of the largest value (first on ties): the predicted class.
    fn argmax(v: &[Self::V]) -> usize {
        let mut best = 0;
        for (i, x) in v.iter().enumerate() {
            if *x > v[best] {
                best = i;
            }
        }
        best
    }
    /// Whether `f'(v)` is 1 for a stored activation `v` (ReLU `v > 0`,
    /// hard-tanh strictly inside `(-1, 1)`).
    fn active(&self, f: Activation, v: Self::V) -> bool;
    /// Average pooling of one window: `vals` (activations) summed in the
    /// accumulator in index order, multiplied by `scale.0` in the
    /// accumulator, then requantised into the activation format by
    /// `scale.1` more bits (`ConvGeom::avg_scale`: `1/n²` as a shift, or a
    /// rounded reciprocal and a shift).
    fn average(&mut self, vals: &[Self::V], scale: (i64, u32)) -> Self::V;
    /// `a + b` in the error format with its overflow rule (counted as an
    /// error-class overflow), no rounding: where overlapping max-pool
    /// windows chose the same conv output, their errors add there.
    fn add_errors(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `a + b` in the activation format with its overflow rule (counted as
    /// an activation-class overflow), no rounding: a residual block's skip
    /// added to its conv output before the activation.
    fn add_activations(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `e · m·2^-s` in the error format, `(m, s)` an average pool's
    /// `1/(n·n)` ([`ConvGeom::avg_scale`]): the error a residual block's
    /// identity skip carries back from conv outputs an average pool
    /// reduced. Each value is multiplied in the accumulator and requantised
    /// by `s` bits with the error format's rounding; nothing for `(1, 0)`.
    fn scale_errors(&mut self, scale: (i64, u32), e: &mut [Self::V]);
    /// Transposed convolution of conv layer `g` (`docs/arithmetic.md`,
    /// "Convolution"): `out[c][y][x] = (Σ w[o][c][ky][kx]·delta[o][oy][ox])
    /// · f'(x[c][y][x])` over the output positions that used input pixel
    /// `(y, x)`, in error format; `delta` is the error at the conv output
    /// (`out_c × positions`), an average pool's `1/(n·n)` folded into the
    /// requantisation shift. `which` says the kernel's format: the layer's
    /// weights (backprop) or a fixed feedback kernel in classifier format
    /// (feedback alignment).
    #[allow(clippy::too_many_arguments)]
    fn conv_backward(
        &mut self,
        g: &ConvGeom,
        which: Matrix,
        w: &[Self::V],
        delta: &[Self::V],
        x: &[Self::V],
        f: Activation,
        out: &mut [Self::V],
    ) {
        self.conv_transpose(g, which, w, delta, out);
        self.mask_derivative(f, x, out);
    }
    /// The transposed convolution of [`Datapath::conv_backward`] without
    /// the derivative mask: `out = Wᵀ delta` in error format (a residual
    /// block's projection passing its error back to the block's input).
    fn conv_transpose(
        &mut self,
        g: &ConvGeom,
        which: Matrix,
        w: &[Self::V],
        delta: &[Self::V],
        out: &mut [Self::V],
    );
    /// Every output of conv layer `g` before its activation (and before a
    /// residual skip), channel-major `out[o·positions + pos]`, exactly as
    /// one mat-vec per position computes them, when a faster whole-layer
    /// path applies; `false` (and `out` untouched) when it does not, and
    /// the caller computes position by position. The fixed-point datapath
    /// takes it with `i16` lanes, a rounding that draws nothing and a
    /// bound proving every sum exact (`docs/arithmetic.md`,
    /// "Convolution").
    fn conv_preactivations(
        &mut self,
        g: &ConvGeom,
        w: &[Self::V],
        b: &[Self::V],
        x: &[Self::V],
        out: &mut [Self::V],
    ) -> bool {
        let _ = (g, w, b, x, out);
        false
    }
    /// SGD step of conv layer `g`: for each weight the sum over output
    /// positions of `delta · input` (the bias: of `delta · 1.0`) is
    /// accumulated, then requantised once into the update format and
    /// subtracted, as a dense layer's product is (`lr = 2^-lr_shift`).
    fn conv_update(
        &mut self,
        g: &ConvGeom,
        w: &mut [Self::V],
        b: &mut [Self::V],
        delta: &[Self::V],
        x: &[Self::V],
    );
    /// Whether the requantisations of a conv layer whose average pool
    /// divides by `2^extra` stay within the 62-bit shift limit.
    fn conv_shift_ok(&self, extra: u32) -> bool {
        let _ = extra;
        true
    }
    /// Predsim: the similarity coefficients `J` (`B × B`) and `r` (`B`) of a
    /// batch's vectors `hs` (`B × rows`, activation format) with labels
    /// `labels` (`B`) of `classes` classes, and the vectors' sums, into
    /// `coef` (`B² + 2B` values); equations in
    /// [`similarity`].
    fn similarity_coefficients(
        &mut self,
        hs: &[Self::V],
        rows: usize,
        labels: &[usize],
        classes: usize,
        coef: &mut [Self::Coef],
    );
    /// Predsim's error of sample `a` of the batch: `e ← (2^-sim_shift · r_a
    /// Σ_b J_ab h̃_b + 2^-pred_shift · e) ⊙ f'(h_a)` in error format (`h̃`
    /// centred), where `e` holds the sample's prediction error on entry
    /// (`rows` values).
    #[allow(clippy::too_many_arguments)]
    fn similarity_error(
        &mut self,
        coef: &[Self::Coef],
        a: usize,
        hs: &[Self::V],
        rows: usize,
        sim_shift: i32,
        pred_shift: u32,
        f: Activation,
        e: &mut [Self::V],
    );
    /// LFSR draws made so far (0 in `f32`).
    fn lfsr_draws(&self) -> u64;
    /// The training state that computing values changes (LFSR, draw and
    /// overflow counters), to be restored after uncounted work.
    fn save_state(&self) -> DatapathState;
    /// Restores a state saved by [`Datapath::save_state`].
    fn restore_state(&mut self, state: DatapathState);
    /// Overflow events so far (all zero in `f32`).
    fn overflow(&self) -> OverflowByClass;
    /// Weight-update products so far and those rounding made vanish
    /// (`docs/arithmetic.md`, "Updates rounded to zero"); all zero in
    /// `f32`, which models no rounding.
    fn update_rounding(&self) -> UpdateRounding;
}

/// The bit-exact fixed-point datapath, storing every tensor in lane `V`
/// (`i16` when all formats are at most 16 bits wide, else `i32`).
pub struct FixedDatapath<V: Raw> {
    /// The model's formats and LFSR seed, kept to rebuild the update
    /// path when the learning rate changes.
    formats: crate::hw::model::Formats,
    lfsr_seed: u32,
    weight: QFormat,
    activation: QFormat,
    error: QFormat,
    classifier: QFormat,
    acc: AccFormat,
    fwd: Requantizer,
    cls_fwd: Requantizer,
    /// Learned classifier (weight format) times activations into errors.
    learned_fwd: Requantizer,
    /// Rounding and overflow of the activation format.
    act_rounding: (Rounding, crate::quant::Overflow),
    bwd: Requantizer,
    cls_bwd: Requantizer,
    act_to_err: Requantizer,
    upd: Requantizer,
    /// Write-back of `w·2^k − Δ` into the weight format, `k = frac_u − frac_w`.
    write_back: Requantizer,
    /// Write-back when `k = 0`: the weight format's overflow policy only.
    weight_fit: Requantizer,
    /// Error format's overflow policy only (for `e[label] -= 1`).
    error_fit: Requantizer,
    /// Activation format's overflow policy only (a residual add).
    activation_fit: Requantizer,
    /// Scratch of the transposed mat-vec: exact sums and |product| bounds.
    scratch_sum: Vec<i64>,
    scratch_bound: Vec<i64>,
    scratch_i32: Vec<i32>,
    /// The 16-bit update kernel, when it applies to these formats.
    row_update: Option<RowUpdate>,
    /// LFSR states drawn for one row of a stochastic update.
    rnd: Vec<u32>,
    block: LfsrBlock,
    one_act: i64,
    lfsr: Lfsr,
    draws: u64,
    jump_cache: Option<(usize, LfsrJump)>,
    overflow: OverflowByClass,
    /// Update products and those rounded to zero (dense, conv, learned
    /// classifiers), with the dense update's counter.
    update_rounding: UpdateRounding,
    zeros: rounding::ZeroCounter,
    pixel_table: [i32; 256],
    _lane: std::marker::PhantomData<V>,
}

/// A learning rate or format combination the datapath cannot realise.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DatapathError {
    /// A lane narrower than one of the formats.
    #[error("{class} format has {bits} bits: more than the {lane}-bit lane")]
    Lane {
        /// The class whose format is too wide.
        class: &'static str,
        /// Its width.
        bits: u32,
        /// The lane width.
        lane: u32,
    },
    /// A requantisation shift outside the supported range.
    #[error("{what}: {source}")]
    Shift {
        /// Which requantisation.
        what: &'static str,
        /// The shift error.
        source: crate::quant::ShiftError,
    },
    /// The model's LFSR seed is zero.
    #[error("lfsr_seed = 0: must be nonzero")]
    ZeroSeed,
    /// The update format has fewer fractional bits than the weight format.
    #[error(
        "formats.update.frac = {update}: must be at least formats.weight.frac = {weight} (updates are added to weights)"
    )]
    UpdateFrac {
        /// Update fractional bits.
        update: u32,
        /// Weight fractional bits.
        weight: u32,
    },
}

impl<V: Raw> FixedDatapath<V> {
    /// The datapath of `model` with learning rate `2^-lr_shift`.
    pub fn new(model: &HwModel, lr_shift: u32) -> Result<Self, DatapathError> {
        Self::with_formats(&model.formats, model.lfsr_seed, lr_shift)
    }

    /// The datapath of formats `f`, rounding LFSR seeded with `lfsr_seed`
    /// and learning rate `2^-lr_shift`.
    fn with_formats(
        f: &crate::hw::model::Formats,
        lfsr_seed: u32,
        lr_shift: u32,
    ) -> Result<Self, DatapathError> {
        for class in TensorClass::ALL {
            let bits = f.get(class).bits;
            if bits > V::BITS {
                return Err(DatapathError::Lane {
                    class: class.name(),
                    bits,
                    lane: V::BITS,
                });
            }
        }
        if f.update.frac < f.weight.frac {
            return Err(DatapathError::UpdateFrac {
                update: f.update.frac,
                weight: f.weight.frac,
            });
        }
        let (w, a, e, u, c) = (
            f.weight.qformat(),
            f.activation.qformat(),
            f.error.qformat(),
            f.update.qformat(),
            f.classifier.qformat(),
        );
        let rq = |what, shift: i32, class: TensorClass| {
            let t = f.get(class);
            Requantizer::with_shift(shift, t.qformat(), t.rounding, t.overflow)
                .map_err(|source| DatapathError::Shift { what, source })
        };
        let sf = |x: u32| x as i32;
        Ok(FixedDatapath {
            formats: *f,
            lfsr_seed,
            weight: w,
            activation: a,
            error: e,
            classifier: c,
            acc: f.accumulator,
            fwd: rq(
                "forward",
                sf(w.frac + a.frac) - sf(a.frac),
                TensorClass::Activation,
            )?,
            cls_fwd: rq(
                "classifier",
                sf(c.frac + a.frac) - sf(e.frac),
                TensorClass::Error,
            )?,
            act_rounding: (f.activation.rounding, f.activation.overflow),
            learned_fwd: rq(
                "learned classifier",
                sf(w.frac + a.frac) - sf(e.frac),
                TensorClass::Error,
            )?,
            bwd: rq(
                "backward",
                sf(w.frac + e.frac) - sf(e.frac),
                TensorClass::Error,
            )?,
            cls_bwd: rq(
                "classifier backward",
                sf(c.frac + e.frac) - sf(e.frac),
                TensorClass::Error,
            )?,
            act_to_err: rq("output error", sf(a.frac) - sf(e.frac), TensorClass::Error)?,
            upd: rq(
                "update",
                sf(e.frac + a.frac + lr_shift) - sf(u.frac),
                TensorClass::Update,
            )?,
            write_back: rq(
                "weight write-back",
                sf(u.frac) - sf(w.frac),
                TensorClass::Weight,
            )?,
            one_act: 1i64 << a.frac,
            weight_fit: Requantizer::fit_only(w, f.weight.overflow),
            error_fit: Requantizer::fit_only(e, f.error.overflow),
            activation_fit: Requantizer::fit_only(a, f.activation.overflow),
            scratch_sum: Vec::new(),
            scratch_bound: Vec::new(),
            scratch_i32: Vec::new(),
            row_update: if a.frac <= 14 {
                RowUpdate::new(
                    sf(e.frac + a.frac + lr_shift) - sf(u.frac),
                    f.update.rounding,
                    u,
                    f.update.overflow,
                    w,
                    f.weight.overflow,
                    f.weight.rounding,
                )
            } else {
                None
            },
            rnd: Vec::new(),
            block: LfsrBlock::new(),
            lfsr: Lfsr::new(lfsr_seed).map_err(|_| DatapathError::ZeroSeed)?,
            draws: 0,
            jump_cache: None,
            overflow: OverflowByClass::default(),
            update_rounding: UpdateRounding::new(f.update.rounding),
            zeros: rounding::ZeroCounter::new(
                sf(e.frac + a.frac + lr_shift) - sf(u.frac),
                f.update.rounding,
            ),
            pixel_table: pixel_table(a),
            _lane: std::marker::PhantomData,
        })
    }

    /// The rounding LFSR (its state is part of the golden vectors).
    pub fn lfsr(&self) -> Lfsr {
        self.lfsr
    }

    fn format(&self, class: TensorClass) -> QFormat {
        match class {
            TensorClass::Weight => self.weight,
            TensorClass::Activation => self.activation,
            TensorClass::Error => self.error,
            TensorClass::Update => self.upd.dst(),
            TensorClass::Classifier => self.classifier,
        }
    }

    /// Steps the LFSR `n` times in O(1) amortised (a cached jump matrix).
    fn skip_draws(&mut self, n: usize) {
        let jump = match &self.jump_cache {
            Some((len, j)) if *len == n => *j,
            _ => {
                let j = LfsrJump::new(n as u64);
                self.jump_cache = Some((n, j));
                j
            }
        };
        self.lfsr = jump.apply(self.lfsr);
    }

    /// One dot product, bias added last, requantised by `rq`.
    #[inline]
    fn dot_requant(
        &mut self,
        w: &[V],
        x: &[V],
        sum_abs_x: Option<i64>,
        bias: i64,
        rq: Requantizer,
        class_stats: fn(&mut OverflowByClass) -> &mut OverflowStats,
    ) -> V {
        let fast = match (sum_abs_x, V::as_i16(w), V::as_i16(x)) {
            (Some(sx), Some(w16), Some(x16)) => kernels::dot_i16_if_exact(w16, x16, sx, &self.acc),
            _ => None,
        };
        let mut acc = match fast {
            Some(v) => v,
            None => self.acc.dot(w, x, &mut self.overflow.accumulator),
        };
        if bias != 0 {
            acc = self.acc.add(acc, bias, &mut self.overflow.accumulator);
        }
        if rq.rounding() == Rounding::Stochastic {
            self.draws += 1;
        }
        V::from_i64_unchecked(rq.apply(acc, &mut self.lfsr, class_stats(&mut self.overflow)) as i64)
    }
}

/// `round_half_up(p · 2^frac / 255)` saturated: the pixel mapping of `data`.
fn pixel_table(a: QFormat) -> [i32; 256] {
    let scale = crate::quant::PixelScale::new(a);
    std::array::from_fn(|p| scale.raw(p as u8))
}

impl<V: Raw> Datapath for FixedDatapath<V> {
    type Coef = i64;

    fn similarity_coefficients(
        &mut self,
        hs: &[V],
        rows: usize,
        labels: &[usize],
        classes: usize,
        coef: &mut [i64],
    ) {
        similarity::sim_coefficients_fixed(hs, rows, labels, classes, self.activation.frac, coef);
    }

    fn similarity_error(
        &mut self,
        coef: &[i64],
        a: usize,
        hs: &[V],
        rows: usize,
        sim_shift: i32,
        pred_shift: u32,
        f: Activation,
        e: &mut [V],
    ) {
        self.sim_error_fixed(coef, a, hs, rows, sim_shift, pred_shift, f, e);
    }

    type V = V;

    const ROUNDS_FIXED_POINT: bool = true;
    const HAS_RAW_VALUES: bool = true;

    fn encode_real(&mut self, class: TensorClass, x: f64) -> V {
        let f = self.format(class);
        V::from_i64_unchecked(f.from_f64(x) as i64)
    }

    fn decode_real(&self, class: TensorClass, v: V) -> f64 {
        self.format(class).to_f64(v.to_i64() as i32)
    }

    fn load_pixels(&self, px: &[u8], out: &mut [V]) {
        for (o, &p) in out.iter_mut().zip(px) {
            *o = V::from_i64_unchecked(self.pixel_table[p as usize] as i64);
        }
    }

    fn matvec(&mut self, w: &[V], b: &[V], x: &[V], out: &mut [V]) {
        let cols = x.len();
        let shift_b = self.activation.frac;
        let fwd = self.fwd;
        let sx = V::as_i16(x).map(kernels::sum_abs_i16);
        for (i, o) in out.iter_mut().enumerate() {
            let bias = b[i].to_i64() << shift_b;
            *o = self.dot_requant(&w[i * cols..(i + 1) * cols], x, sx, bias, fwd, |s| {
                &mut s.activation
            });
        }
    }

    fn activate(&self, f: Activation, v: &mut [V]) {
        let one = self.one_act.min(self.activation.max_raw() as i64);
        for x in v.iter_mut() {
            let r = x.to_i64();
            let y = match f {
                Activation::Relu => r.max(0),
                Activation::HardTanh => r.clamp(-one, one),
                Activation::LeakyRelu if r < 0 => r >> LEAKY_SHIFT,
                Activation::LeakyRelu => r,
            };
            *x = V::from_i64_unchecked(y);
        }
    }

    fn classify(&mut self, m: &[V], h: &[V], out: &mut [V]) {
        let cols = h.len();
        let rq = self.cls_fwd;
        let sx = V::as_i16(h).map(kernels::sum_abs_i16);
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.dot_requant(&m[i * cols..(i + 1) * cols], h, sx, 0, rq, |s| &mut s.error);
        }
    }

    fn classify_learned(&mut self, m: &[V], c: &[V], h: &[V], out: &mut [V]) {
        let cols = h.len();
        let rq = self.learned_fwd;
        let shift_c = self.activation.frac;
        let sx = V::as_i16(h).map(kernels::sum_abs_i16);
        for (i, o) in out.iter_mut().enumerate() {
            let bias = c[i].to_i64() << shift_c;
            *o = self.dot_requant(&m[i * cols..(i + 1) * cols], h, sx, bias, rq, |s| {
                &mut s.error
            });
        }
    }

    fn modulate(&mut self, f: &[V], e: &[V], shift: u32, x: &mut [V]) {
        let classes = e.len();
        let a = self.activation;
        // x·2^s − F e, requantised by s = c + e + shift − a fractional bits.
        let s = (self.classifier.frac + self.error.frac + shift) as i32 - a.frac as i32;
        let t = self.act_rounding;
        let rq = match Requantizer::with_shift(s.max(0), a, t.0, t.1) {
            Ok(rq) => rq,
            Err(_) => unreachable!("modulation shift {s} is within the supported range"),
        };
        for (j, xj) in x.iter_mut().enumerate() {
            let row = &f[j * classes..(j + 1) * classes];
            let dot: i64 = row
                .iter()
                .zip(e)
                .map(|(m, v)| m.to_i64() * v.to_i64())
                .sum();
            let v = (xj.to_i64() << s.max(0)) - dot;
            if rq.rounding() == Rounding::Stochastic {
                self.draws += 1;
            }
            *xj = V::from_i64_unchecked(
                rq.apply(v, &mut self.lfsr, &mut self.overflow.activation) as i64
            );
        }
    }

    fn difference_to_error(&mut self, a: &[V], b: &[V], out: &mut [V]) {
        let rq = self.act_to_err;
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            if rq.rounding() == Rounding::Stochastic {
                self.draws += 1;
            }
            let v = x.to_i64() - y.to_i64();
            *o =
                V::from_i64_unchecked(rq.apply(v, &mut self.lfsr, &mut self.overflow.error) as i64);
        }
    }

    fn activation_to_error(&mut self, a: &[V], e: &mut [V]) {
        if self.act_to_err.rounding() == Rounding::Stochastic {
            self.draws += a.len() as u64;
        }
        self.act_to_err
            .apply_slice(a, e, &mut self.lfsr, &mut self.overflow.error);
    }

    fn subtract_one_hot(&mut self, e: &mut [V], label: usize) {
        let v = e[label].to_i64() - (1i64 << self.error.frac);
        let fit = self.error_fit;
        e[label] =
            V::from_i64_unchecked(fit.apply(v, &mut self.lfsr, &mut self.overflow.error) as i64);
    }

    fn backprop(&mut self, which: Matrix, m: &[V], e: &[V], h: &[V], f: Activation, out: &mut [V]) {
        let cols = out.len();
        let rq = match which {
            Matrix::Weights => self.bwd,
            Matrix::Classifier => self.cls_bwd,
        };
        if let (Some(m16), Some(e16)) = (V::as_i16(m), V::as_i16(e)) {
            let mut sums = std::mem::take(&mut self.scratch_i32);
            sums.resize(cols, 0);
            if kernels::matvec_t_i16_if_exact(m16, e16, &mut sums, &self.acc) {
                for (o, &v) in out.iter_mut().zip(&sums) {
                    if rq.rounding() == Rounding::Stochastic {
                        self.draws += 1;
                    }
                    *o = V::from_i64_unchecked(rq.apply(
                        v as i64,
                        &mut self.lfsr,
                        &mut self.overflow.error,
                    ) as i64);
                }
                self.scratch_i32 = sums;
                self.mask_derivative(f, h, out);
                return;
            }
            self.scratch_i32 = sums;
        }
        // out[j] = Σ_i m[i][j]·e[i], summed in order i = 0..rows per output j:
        // exact i64 partial sums, plus the sum of |products| that bounds every
        // partial sum; columns whose bound leaves the register replay step by step.
        let mut sum = std::mem::take(&mut self.scratch_sum);
        let mut bound = std::mem::take(&mut self.scratch_bound);
        sum.clear();
        sum.resize(cols, 0);
        bound.clear();
        bound.resize(cols, 0);
        for (i, &ei) in e.iter().enumerate() {
            let ei = ei.to_i64();
            if ei == 0 {
                continue;
            }
            let row = &m[i * cols..(i + 1) * cols];
            for ((s, b), &w) in sum.iter_mut().zip(bound.iter_mut()).zip(row) {
                let p = w.to_i64() * ei;
                *s += p;
                *b += p.abs();
            }
        }
        let acc = self.acc;
        if bound.iter().any(|&b| b > acc.max()) {
            // Replay every column step by step, all columns at once (row by
            // row, so the loop runs along memory and vectorises): a column
            // whose bound fits gets its exact sum and no event, as before.
            sum.fill(0);
            let (min, max, bits) = (acc.min(), acc.max(), acc.bits);
            let wrap = acc.overflow == crate::quant::Overflow::Wrap;
            let (mut high, mut low) = (0u64, 0u64);
            for (i, &ei) in e.iter().enumerate() {
                let ei = ei.to_i64();
                if ei == 0 {
                    continue; // adds 0 to in-range registers: no change, no event
                }
                let row = &m[i * cols..(i + 1) * cols];
                for (a, &w) in sum.iter_mut().zip(row) {
                    let v = *a + w.to_i64() * ei;
                    high += (v > max) as u64;
                    low += (v < min) as u64;
                    *a = if wrap {
                        (v << (64 - bits)) >> (64 - bits)
                    } else {
                        v.clamp(min, max)
                    };
                }
            }
            self.overflow.accumulator.record(high, low, acc.overflow);
        }
        for (j, &v) in sum.iter().enumerate() {
            if rq.rounding() == Rounding::Stochastic {
                self.draws += 1;
            }
            let r = rq.apply(v, &mut self.lfsr, &mut self.overflow.error) as i64;
            out[j] = V::from_i64_unchecked(r);
        }
        self.scratch_sum = sum;
        self.scratch_bound = bound;
        self.mask_derivative(f, h, out);
    }

    fn gait_error(
        &mut self,
        hidden: bool,
        g: u32,
        k: u32,
        h: &[V],
        tau: &[V],
        t: &mut [V],
        e: &mut [V],
    ) {
        let (a, er) = (self.activation, self.error);
        let (ar, ao) = self.act_rounding;
        let (erd, eov) = (self.act_to_err.rounding(), self.act_to_err.overflow());
        for j in 0..h.len() {
            let hv = h[j].to_i64();
            let s = if hidden && hv < 0 { LEAKY_SHIFT } else { 0 };
            let rq_t = Requantizer::with_shift((g + 2 * s) as i32, a, ar, ao);
            // A left shift of 40 bits already saturates any nonzero
            // difference (at most 33 bits) in a format of at most 32 bits,
            // so longer shifts are clamped to it without changing a result.
            let shift_e = (a.frac as i32 - er.frac as i32 - (g * k + s) as i32).max(-40);
            let rq_e = Requantizer::with_shift(shift_e, er, erd, eov);
            let (Ok(rq_t), Ok(rq_e)) = (rq_t, rq_e) else {
                unreachable!("GAIT-prop shifts are checked when the rule is attached")
            };
            let d = rq_t.apply(
                tau[j].to_i64() - hv,
                &mut self.lfsr,
                &mut self.overflow.activation,
            ) as i64;
            let tv = Requantizer::fit_only(a, ao).apply(
                hv + d,
                &mut self.lfsr,
                &mut self.overflow.activation,
            ) as i64;
            t[j] = V::from_i64_unchecked(tv);
            e[j] =
                V::from_i64_unchecked(
                    rq_e.apply(hv - tv, &mut self.lfsr, &mut self.overflow.error) as i64,
                );
            self.draws +=
                (ar == Rounding::Stochastic) as u64 + (erd == Rounding::Stochastic) as u64;
        }
    }

    fn gait_inverse(&mut self, hidden: bool, w: &[V], t: &[V], h: &[V], x: &[V], out: &mut [V]) {
        let cols = out.len();
        let finv = |v: i64| if hidden && v < 0 { v << LEAKY_SHIFT } else { v };
        let u: Vec<i64> = t
            .iter()
            .zip(h)
            .map(|(&tv, &hv)| finv(tv.to_i64()) - finv(hv.to_i64()))
            .collect();
        let wf = self.weight.frac;
        let (ar, ao) = self.act_rounding;
        let Ok(rq) = Requantizer::with_shift(wf as i32, self.activation, ar, ao) else {
            unreachable!("the weight format's fraction is a valid shift")
        };
        let acc = self.acc;
        // Exact i64 sums row by row (contiguous weights), with the sum of
        // |terms| that bounds every partial sum; a column whose bound leaves
        // the accumulator is replayed step by step in its order.
        let mut sum: Vec<i64> = x.iter().map(|&v| v.to_i64() << wf).collect();
        let mut bound: Vec<i64> = sum.iter().map(|v| v.abs()).collect();
        for (r, &ur) in u.iter().enumerate() {
            if ur == 0 {
                continue;
            }
            let row = &w[r * cols..(r + 1) * cols];
            for ((s, b), &wv) in sum.iter_mut().zip(bound.iter_mut()).zip(row) {
                let p = wv.to_i64() * ur;
                *s += p;
                *b += p.abs();
            }
        }
        for c in 0..cols {
            let mut v = sum[c];
            if bound[c] > acc.max() {
                v = x[c].to_i64() << wf;
                for (r, &ur) in u.iter().enumerate() {
                    let p = w[r * cols + c].to_i64() * ur;
                    v = acc.add(v, p, &mut self.overflow.accumulator);
                }
            }
            if ar == Rounding::Stochastic {
                self.draws += 1;
            }
            out[c] =
                V::from_i64_unchecked(
                    rq.apply(v, &mut self.lfsr, &mut self.overflow.activation) as i64
                );
        }
    }

    fn mask_derivative(&self, f: Activation, h: &[V], e: &mut [V]) {
        let one = self.one_act.min(self.activation.max_raw() as i64);
        for (x, &hv) in e.iter_mut().zip(h) {
            if f.slope_is_one(hv.to_i64(), one) {
                continue;
            }
            *x = match f {
                Activation::LeakyRelu => V::from_i64_unchecked(x.to_i64() >> LEAKY_SHIFT),
                _ => V::default(),
            };
        }
    }

    fn update(&mut self, w: &mut [V], b: &mut [V], e: &[V], x: &[V]) {
        self.zeros
            .count_dense(&mut self.update_rounding, e, x, self.one_act);
        if let (Some(k), Some(x16), Some(e16)) = (self.row_update, V::as_i16(x), V::as_i16(e)) {
            let (Some(w16), Some(b16)) = (V::as_i16_mut(w), V::as_i16_mut(b)) else {
                unreachable!("lanes of one datapath are all the same type")
            };
            self.update_rows_i16(k, w16, b16, e16, x16);
            return;
        }
        let cols = x.len();
        let upd = self.upd;
        let wb = self.write_back;
        let k = wb.shift();
        let stochastic = upd.rounding() == Rounding::Stochastic;
        let wb_draws = wb.rounding() == Rounding::Stochastic && k > 0;
        for (i, &ei) in e.iter().enumerate() {
            let ei = ei.to_i64();
            let row = &mut w[i * cols..(i + 1) * cols];
            // Row i then its bias: the row-major draw order of [W | b].
            if ei == 0 && !wb_draws {
                // Δ = 0 for every element; only the LFSR advances.
                if stochastic {
                    self.skip_draws(cols + 1);
                    self.draws += cols as u64 + 1;
                }
                continue;
            }
            for (wj, &xj) in row.iter_mut().zip(x) {
                *wj = self.apply_update(*wj, ei * xj.to_i64(), upd, wb, k);
            }
            b[i] = self.apply_update(b[i], ei * self.one_act, upd, wb, k);
            if stochastic {
                self.draws += cols as u64 + 1;
            }
            if wb_draws {
                self.draws += cols as u64 + 1;
            }
        }
    }

    fn update_momentum(&mut self, w: &mut [V], b: &mut [V], v: &mut [V], e: &[V], x: &[V], m: u32) {
        self.zeros
            .count_dense(&mut self.update_rounding, e, x, self.one_act);
        let (rows, cols) = (e.len(), x.len());
        if let (Some(k), Some(x16), Some(e16), true) =
            (self.row_update, V::as_i16(x), V::as_i16(e), m >= 1)
        {
            let (Some(w16), Some(b16)) = (V::as_i16_mut(w), V::as_i16_mut(b)) else {
                unreachable!("lanes of one datapath are all the same type")
            };
            let Some(v16) = V::as_i16_mut(v) else {
                unreachable!("lanes of one datapath are all the same type")
            };
            return self.momentum_rows_i16(k, m, w16, b16, v16, e16, x16);
        }
        let uf = self.formats.update;
        let Ok(decay) = Requantizer::with_shift(m as i32, uf.qformat(), uf.rounding, uf.overflow)
        else {
            unreachable!("the momentum shift is at most 15")
        };
        let fit_v = Requantizer::fit_only(uf.qformat(), uf.overflow);
        let (upd, wb) = (self.upd, self.write_back);
        let k = wb.shift();
        let per_value = u64::from(upd.rounding() == Rounding::Stochastic) * 2
            + u64::from(wb.rounding() == Rounding::Stochastic && k > 0);
        for i in 0..rows {
            let ei = e[i].to_i64();
            for j in 0..=cols {
                let (xj, vi) = if j < cols {
                    (x[j].to_i64(), i * cols + j)
                } else {
                    (self.one_act, rows * cols + i)
                };
                let u = upd.apply(ei * xj, &mut self.lfsr, &mut self.overflow.update) as i64;
                let old = v[vi].to_i64();
                let d = decay.apply(old, &mut self.lfsr, &mut self.overflow.update) as i64;
                let vn = fit_v.apply(old - d + u, &mut self.lfsr, &mut self.overflow.update) as i64;
                v[vi] = V::from_i64_unchecked(vn);
                let wj = if j < cols {
                    &mut w[i * cols + j]
                } else {
                    &mut b[i]
                };
                *wj = self.subtract_update(*wj, vn, wb, k);
            }
            self.draws += per_value * (cols as u64 + 1);
        }
    }

    fn set_lr_shift(&mut self, lr_shift: u32) -> Result<(), DatapathError> {
        let mut fresh = Self::with_formats(&self.formats, self.lfsr_seed, lr_shift)?;
        fresh.restore_state(self.save_state());
        *self = fresh;
        Ok(())
    }

    fn active(&self, f: Activation, v: V) -> bool {
        let one = self.one_act.min(self.activation.max_raw() as i64);
        f.slope_is_one(v.to_i64(), one)
    }

    fn average(&mut self, vals: &[V], scale: (i64, u32)) -> V {
        conv::fixed_average(self, vals, scale)
    }

    fn add_errors(&mut self, a: V, b: V) -> V {
        let fit = self.error_fit;
        let v = a.to_i64() + b.to_i64();
        V::from_i64_unchecked(fit.apply(v, &mut self.lfsr, &mut self.overflow.error) as i64)
    }

    fn add_activations(&mut self, a: V, b: V) -> V {
        let v = a.to_i64() + b.to_i64();
        let fit = self.activation_fit;
        V::from_i64_unchecked(fit.apply(v, &mut self.lfsr, &mut self.overflow.activation) as i64)
    }

    fn conv_transpose(&mut self, g: &ConvGeom, which: Matrix, w: &[V], d: &[V], out: &mut [V]) {
        conv::fixed_transpose(self, g, which, w, d, out);
    }

    fn scale_errors(&mut self, scale: (i64, u32), e: &mut [V]) {
        conv::fixed_scale_errors(self, scale, e);
    }

    fn conv_update(&mut self, g: &ConvGeom, w: &mut [V], b: &mut [V], d: &[V], x: &[V]) {
        conv::fixed_update(self, g, w, b, d, x);
    }

    fn conv_preactivations(
        &mut self,
        g: &ConvGeom,
        w: &[V],
        b: &[V],
        x: &[V],
        out: &mut [V],
    ) -> bool {
        conv::fixed_preactivations(self, g, w, b, x, out)
    }

    fn conv_shift_ok(&self, extra: u32) -> bool {
        let e = extra as i32;
        [self.bwd.shift(), self.cls_bwd.shift(), self.upd.shift()]
            .iter()
            .all(|s| (s + e).unsigned_abs() <= crate::quant::MAX_SHIFT)
    }

    fn lfsr_draws(&self) -> u64 {
        self.draws
    }

    fn overflow(&self) -> OverflowByClass {
        self.overflow
    }

    fn update_rounding(&self) -> UpdateRounding {
        self.update_rounding
    }

    fn save_state(&self) -> DatapathState {
        DatapathState {
            lfsr: Some(self.lfsr),
            draws: self.draws,
            overflow: self.overflow,
            update_rounding: self.update_rounding,
        }
    }

    fn restore_state(&mut self, state: DatapathState) {
        if let Some(l) = state.lfsr {
            self.lfsr = l;
        }
        self.draws = state.draws;
        self.overflow = state.overflow;
        self.update_rounding = state.update_rounding;
    }
}

impl<V: Raw> FixedDatapath<V> {
    /// The 16-bit fast path of [`Datapath::update`]: row by row, the LFSR
    /// states of the row's weights and bias drawn as one block.
    fn update_rows_i16(
        &mut self,
        k: RowUpdate,
        w: &mut [i16],
        b: &mut [i16],
        e: &[i16],
        x: &[i16],
    ) {
        let cols = x.len();
        // LFSR draws per weight (update, then write-back when k > 0).
        let stride = k.draws_per_element();
        let per_row = (cols + 1) * stride;
        let one = [self.one_act as i16];
        let max_x = x.iter().map(|v| v.unsigned_abs() as i32).max().unwrap_or(0);
        let mut ev = Events::default();
        let mut rnd = std::mem::take(&mut self.rnd);
        rnd.resize(per_row, 0);
        for (i, &ei) in e.iter().enumerate() {
            self.draws += per_row as u64;
            if ei == 0 {
                // Δ = 0: every weight keeps its value (w·2^k has no bits
                // below 2^k to round); only the LFSR advances.
                if per_row > 0 {
                    self.skip_draws(per_row);
                }
                continue;
            }
            if per_row > 0 {
                self.block.fill(&mut self.lfsr, &mut rnd);
            }
            let (rw, rb) = rnd.split_at(cols * stride);
            k.apply(&mut w[i * cols..(i + 1) * cols], x, max_x, ei, rw, &mut ev);
            k.apply(&mut b[i..i + 1], &one, one[0] as i32, ei, rb, &mut ev);
        }
        self.rnd = rnd;
        let (u, wt) = (&mut self.overflow.update, &mut self.overflow.weight);
        u.record(ev.update_high, ev.update_low, self.upd.overflow());
        wt.record(ev.weight_high, ev.weight_low, self.weight_fit.overflow());
    }

    /// The 16-bit fast path of [`Datapath::update_momentum`]: row by row,
    /// the LFSR states of the row's weights and bias drawn as one block.
    #[allow(clippy::too_many_arguments)]
    fn momentum_rows_i16(
        &mut self,
        k: RowUpdate,
        m: u32,
        w: &mut [i16],
        b: &mut [i16],
        v: &mut [i16],
        e: &[i16],
        x: &[i16],
    ) {
        let (rows, cols) = (e.len(), x.len());
        let stride = k.momentum_draws_per_element();
        let per_row = (cols + 1) * stride;
        let one = [self.one_act as i16];
        let mut ev = Events::default();
        let mut rnd = std::mem::take(&mut self.rnd);
        rnd.resize(per_row, 0);
        let (vw, vb) = v.split_at_mut(rows * cols);
        for (i, &ei) in e.iter().enumerate() {
            self.draws += per_row as u64;
            if per_row > 0 {
                self.block.fill(&mut self.lfsr, &mut rnd);
            }
            let (rw, rb) = rnd.split_at(cols * stride);
            let span = i * cols..(i + 1) * cols;
            k.apply_momentum(&mut w[span.clone()], &mut vw[span], x, ei, m, rw, &mut ev);
            k.apply_momentum(
                &mut b[i..i + 1],
                &mut vb[i..i + 1],
                &one,
                ei,
                m,
                rb,
                &mut ev,
            );
        }
        self.rnd = rnd;
        let (u, wt) = (&mut self.overflow.update, &mut self.overflow.weight);
        u.record(ev.update_high, ev.update_low, self.upd.overflow());
        wt.record(ev.weight_high, ev.weight_low, self.weight_fit.overflow());
    }

    /// `w ← fit_w(w·2^k − requant_u(product))`, with `k = frac_u − frac_w`:
    /// a plain saturating/wrapping subtract when `k = 0`, else a
    /// requantisation by `k` bits with the weight's rounding.
    #[inline(always)]
    fn apply_update(&mut self, w: V, product: i64, upd: Requantizer, wb: Requantizer, k: i32) -> V {
        let delta = upd.apply(product, &mut self.lfsr, &mut self.overflow.update) as i64;
        self.subtract_update(w, delta, wb, k)
    }

    /// `w ← fit_w(w·2^k − delta)` for `delta` in the update format (the
    /// write-back of [`Self::apply_update`]).
    #[inline(always)]
    fn subtract_update(&mut self, w: V, delta: i64, wb: Requantizer, k: i32) -> V {
        let v = (w.to_i64() << k) - delta;
        let r = if k == 0 {
            let fit = self.weight_fit;
            fit.apply(v, &mut self.lfsr, &mut self.overflow.weight)
        } else {
            wb.apply(v, &mut self.lfsr, &mut self.overflow.weight)
        };
        V::from_i64_unchecked(r as i64)
    }
}

/// The `f32` datapath: the same operations with no rounding or saturation,
/// and the same learning rate `2^-lr_shift`.
pub struct FloatDatapath {
    lr: f32,
}

impl FloatDatapath {
    /// An `f32` datapath with learning rate `2^-lr_shift`.
    pub fn new(lr_shift: u32) -> Self {
        FloatDatapath {
            lr: (-(lr_shift as f32)).exp2(),
        }
    }
}

/// `Σ a[j]·b[j]` in `f32` with 16 partial sums (so it vectorises); the
/// summation order is fixed, so results are deterministic.
#[inline]
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..16 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Leaky ReLU's slope below zero, `2^-LEAKY_SHIFT`, in `f32`.
const LEAKY_SLOPE: f32 = 1.0 / (1u32 << LEAKY_SHIFT) as f32;

impl Datapath for FloatDatapath {
    type V = f32;
    type Coef = f32;

    fn similarity_coefficients(
        &mut self,
        hs: &[f32],
        rows: usize,
        labels: &[usize],
        classes: usize,
        coef: &mut [f32],
    ) {
        similarity::sim_coefficients_f32(hs, rows, labels, classes, coef);
    }

    fn similarity_error(
        &mut self,
        coef: &[f32],
        a: usize,
        hs: &[f32],
        rows: usize,
        sim_shift: i32,
        pred_shift: u32,
        f: Activation,
        e: &mut [f32],
    ) {
        similarity::sim_error_f32(coef, a, hs, rows, sim_shift, pred_shift, f, e);
    }

    const ROUNDS_FIXED_POINT: bool = false;
    const HAS_RAW_VALUES: bool = false;

    fn encode_real(&mut self, _class: TensorClass, x: f64) -> f32 {
        x as f32
    }
    fn decode_real(&self, _class: TensorClass, v: f32) -> f64 {
        v as f64
    }
    fn load_pixels(&self, px: &[u8], out: &mut [f32]) {
        for (o, &p) in out.iter_mut().zip(px) {
            *o = p as f32 / 255.0;
        }
    }
    fn matvec(&mut self, w: &[f32], b: &[f32], x: &[f32], out: &mut [f32]) {
        let cols = x.len();
        for (i, o) in out.iter_mut().enumerate() {
            *o = dot_f32(&w[i * cols..(i + 1) * cols], x) + b[i];
        }
    }
    fn activate(&self, f: Activation, v: &mut [f32]) {
        for x in v.iter_mut() {
            *x = match f {
                Activation::Relu => x.max(0.0),
                Activation::HardTanh => x.clamp(-1.0, 1.0),
                Activation::LeakyRelu if *x < 0.0 => *x * LEAKY_SLOPE,
                Activation::LeakyRelu => *x,
            };
        }
    }
    fn classify(&mut self, m: &[f32], h: &[f32], out: &mut [f32]) {
        let cols = h.len();
        for (i, o) in out.iter_mut().enumerate() {
            *o = dot_f32(&m[i * cols..(i + 1) * cols], h);
        }
    }
    fn classify_learned(&mut self, m: &[f32], c: &[f32], h: &[f32], out: &mut [f32]) {
        let cols = h.len();
        for (i, o) in out.iter_mut().enumerate() {
            *o = dot_f32(&m[i * cols..(i + 1) * cols], h) + c[i];
        }
    }
    fn modulate(&mut self, f: &[f32], e: &[f32], shift: u32, x: &mut [f32]) {
        let scale = (-(shift as f32)).exp2();
        let classes = e.len();
        for (j, xj) in x.iter_mut().enumerate() {
            *xj -= scale * dot_f32(&f[j * classes..(j + 1) * classes], e);
        }
    }
    fn difference_to_error(&mut self, a: &[f32], b: &[f32], out: &mut [f32]) {
        for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
            *o = x - y;
        }
    }
    fn activation_to_error(&mut self, a: &[f32], e: &mut [f32]) {
        e.copy_from_slice(a);
    }
    fn subtract_one_hot(&mut self, e: &mut [f32], label: usize) {
        e[label] -= 1.0;
    }
    fn backprop(
        &mut self,
        _which: Matrix,
        m: &[f32],
        e: &[f32],
        h: &[f32],
        f: Activation,
        out: &mut [f32],
    ) {
        let cols = out.len();
        out.fill(0.0);
        for (i, &ei) in e.iter().enumerate() {
            for (o, &w) in out.iter_mut().zip(&m[i * cols..(i + 1) * cols]) {
                *o += w * ei;
            }
        }
        self.mask_derivative(f, h, out);
    }
    fn gait_error(
        &mut self,
        hidden: bool,
        g: u32,
        k: u32,
        h: &[f32],
        tau: &[f32],
        t: &mut [f32],
        e: &mut [f32],
    ) {
        let gamma = (-(g as f32)).exp2();
        for j in 0..h.len() {
            let fd = if hidden && h[j] < 0.0 {
                LEAKY_SLOPE
            } else {
                1.0
            };
            t[j] = h[j] + gamma * fd * fd * (tau[j] - h[j]);
            e[j] = (h[j] - t[j]) * gamma.powi(-(k as i32)) / fd;
        }
    }
    fn gait_inverse(
        &mut self,
        hidden: bool,
        w: &[f32],
        t: &[f32],
        h: &[f32],
        x: &[f32],
        out: &mut [f32],
    ) {
        let cols = out.len();
        let finv = |v: f32| {
            if hidden && v < 0.0 {
                v / LEAKY_SLOPE
            } else {
                v
            }
        };
        out.copy_from_slice(x);
        for (r, (&tv, &hv)) in t.iter().zip(h).enumerate() {
            let u = finv(tv) - finv(hv);
            for (o, &wv) in out.iter_mut().zip(&w[r * cols..(r + 1) * cols]) {
                *o += wv * u;
            }
        }
    }
    fn mask_derivative(&self, f: Activation, h: &[f32], e: &mut [f32]) {
        for (x, &hv) in e.iter_mut().zip(h) {
            if f.slope_is_one(hv, 1.0) {
                continue;
            }
            *x = match f {
                Activation::LeakyRelu => *x * LEAKY_SLOPE,
                _ => 0.0,
            };
        }
    }
    fn update_momentum(
        &mut self,
        w: &mut [f32],
        b: &mut [f32],
        v: &mut [f32],
        e: &[f32],
        x: &[f32],
        m: u32,
    ) {
        let (rows, cols) = (e.len(), x.len());
        let decay = (-(m as f32)).exp2();
        let (vw, vb) = v.split_at_mut(rows * cols);
        for i in 0..rows {
            let g = self.lr * e[i];
            let (wr, vr) = (
                &mut w[i * cols..(i + 1) * cols],
                &mut vw[i * cols..(i + 1) * cols],
            );
            for ((wj, vj), &xj) in wr.iter_mut().zip(vr.iter_mut()).zip(x) {
                *vj = *vj - decay * *vj + g * xj;
                *wj -= *vj;
            }
            vb[i] = vb[i] - decay * vb[i] + g;
            b[i] -= vb[i];
        }
    }

    fn set_lr_shift(&mut self, lr_shift: u32) -> Result<(), DatapathError> {
        *self = FloatDatapath::new(lr_shift);
        Ok(())
    }

    fn update(&mut self, w: &mut [f32], b: &mut [f32], e: &[f32], x: &[f32]) {
        let cols = x.len();
        for (i, &ei) in e.iter().enumerate() {
            let g = self.lr * ei;
            if g == 0.0 {
                continue;
            }
            for (wj, &xj) in w[i * cols..(i + 1) * cols].iter_mut().zip(x) {
                *wj -= g * xj;
            }
            b[i] -= g;
        }
    }
    fn active(&self, f: Activation, v: f32) -> bool {
        f.slope_is_one(v, 1.0)
    }
    fn average(&mut self, vals: &[f32], scale: (i64, u32)) -> f32 {
        vals.iter().sum::<f32>() * conv::float_scale(scale)
    }
    fn add_errors(&mut self, a: f32, b: f32) -> f32 {
        a + b
    }
    fn add_activations(&mut self, a: f32, b: f32) -> f32 {
        a + b
    }
    fn conv_transpose(&mut self, g: &ConvGeom, _: Matrix, w: &[f32], d: &[f32], out: &mut [f32]) {
        conv::float_backward(g, w, d, out);
    }
    fn scale_errors(&mut self, scale: (i64, u32), e: &mut [f32]) {
        let f = conv::float_scale(scale);
        for v in e.iter_mut() {
            *v *= f;
        }
    }
    fn conv_update(&mut self, g: &ConvGeom, w: &mut [f32], b: &mut [f32], d: &[f32], x: &[f32]) {
        conv::float_update(g, self.lr, w, b, d, x);
    }
    fn lfsr_draws(&self) -> u64 {
        0
    }
    fn overflow(&self) -> OverflowByClass {
        OverflowByClass::default()
    }
    fn update_rounding(&self) -> UpdateRounding {
        UpdateRounding::new(Rounding::Nearest)
    }
    fn save_state(&self) -> DatapathState {
        DatapathState {
            lfsr: None,
            draws: 0,
            overflow: OverflowByClass::default(),
            update_rounding: self.update_rounding(),
        }
    }
    fn restore_state(&mut self, _state: DatapathState) {}
}
