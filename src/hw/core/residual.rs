//! Residual blocks on the cores (`docs/rules.md`, "Residual blocks";
//! counts in `docs/hw_model.md`, "Residual blocks"). A block runs from
//! conv layer `b` to conv layer `j`; its skip tensor is `x_b`, the input of
//! layer `b`.
//!
//! - **Forward.** When `x_b` arrives at core `b`, core `b` also sends it to
//!   core `j`, which keeps it in its activation bank. Layer `j` adds it to
//!   each conv output (as is, or through a learned `1 × 1` projection)
//!   before the activation, in the activation format.
//! - **Backward** (backprop). Core `j` sends the error at its conv outputs
//!   back along the skip (through the projection's transpose) to core `b`,
//!   which parks it in its error bank; core `b`'s backward step masks it by
//!   `f'(x_b)` and adds it to its own error for layer `b−1`.
//! - **Update.** A projection learns like a conv layer, from layer `j`'s
//!   conv-output error and the kept `x_b` (backprop stashes `x_b` with
//!   layer `j`'s input for that).

use super::{Chip, Src};
use crate::hw::counters::{Class, Phase, Rw, Unit};
use crate::hw::datapath::{Datapath, Matrix};
use crate::hw::model::{BankRole, TensorClass};
use crate::hw::trace_sink::TraceSink;
use crate::net::spec::{ConvGeom, Skip};

/// The skip path held by a block's last conv layer.
#[derive(Clone, Debug)]
pub(super) struct SkipState<V> {
    /// The projection as a `1 × 1` convolution (`None`: identity).
    pub(super) proj: Option<ConvGeom>,
    /// The skip tensor `x_b` received from core `b` (activation bank).
    pub(super) x: Vec<V>,
    /// Projection kernels `out_c × in_c` (weight format) and biases.
    pub(super) w: Vec<V>,
    pub(super) b: Vec<V>,
    /// Projection scratch: one position's `in_c` inputs, `out_c` outputs.
    patch: Vec<V>,
    col: Vec<V>,
}

impl<V: Copy + Default> SkipState<V> {
    /// The skip of conv layer `g` with projection parameters `w`, `b`
    /// (empty for an identity skip).
    pub(super) fn new(g: &ConvGeom, skip: Skip, w: Vec<V>, b: Vec<V>) -> Self {
        let proj = skip.projection_geom(g);
        let (pin, pout) = proj.map_or((0, 0), |p| (p.in_c, p.out_c));
        SkipState {
            proj,
            x: vec![V::default(); skip.values()],
            w,
            b,
            patch: vec![V::default(); pin],
            col: vec![V::default(); pout],
        }
    }
}

/// Adds the skip at conv output position `(oy, ox)` of `g` to that
/// position's `out_c` pre-activations `col` (activation format): `x_b` at
/// the same position and channel, or the projection's output there.
pub(super) fn add_skip<D: Datapath>(
    dp: &mut D,
    s: &mut SkipState<D::V>,
    g: &ConvGeom,
    (oy, ox): (usize, usize),
    col: &mut [D::V],
) {
    let pos = oy * g.out_w + ox;
    match s.proj {
        None => {
            let p = g.positions();
            for (o, v) in col.iter_mut().enumerate() {
                *v = dp.add_activations(*v, s.x[o * p + pos]);
            }
        }
        Some(pg) => {
            pg.patch(&s.x, oy, ox, &mut s.patch);
            dp.matvec(&s.w, &s.b, &s.patch, &mut s.col);
            for (v, &t) in col.iter_mut().zip(&s.col) {
                *v = dp.add_activations(*v, t);
            }
        }
    }
}

impl<D: Datapath, T: TraceSink> Chip<D, T> {
    /// The skip of layer `j` (the last layer of a block), if any.
    fn skip_of(&self, j: usize) -> Option<Skip> {
        self.layers[j].conv.as_ref().and_then(|c| c.geom.skip)
    }

    /// Activation-bank words of layer `j`'s copy of its skip tensor.
    pub(super) fn skip_words(&self, j: usize) -> u64 {
        self.skip_of(j).map_or(0, |s| {
            self.words(BankRole::Activation, s.values(), self.bits.activation)
        })
    }

    /// Stash-bank words of the skip tensor layer `j` keeps per sample for
    /// its projection's update (0 without a projection).
    pub(super) fn skip_slot_words(&self, j: usize) -> u64 {
        match self.skip_of(j) {
            Some(s) if s.projection.is_some() => {
                self.words(BankRole::Stash, s.values(), self.bits.activation)
            }
            _ => 0,
        }
    }

    /// DRAM bytes of the skip tensor in a spilled stash slot of layer `j`.
    pub(super) fn skip_slot_bytes(&self, j: usize) -> u64 {
        match self.skip_of(j) {
            Some(s) if s.projection.is_some() => {
                (s.values() as u64 * self.bits.activation as u64).div_ceil(8)
            }
            _ => 0,
        }
    }

    /// Error-bank words of the skip error parked at layer `b` (0 unless `b`
    /// starts a block).
    pub(super) fn park_words(&self, b: usize) -> u64 {
        let n = self.layers[b].skip_e.len();
        if n == 0 {
            0
        } else {
            self.words(BankRole::Error, n, self.bits.error)
        }
    }

    /// When layer `b` starts a block, sends its input `x_b` (just arrived)
    /// on to the block's last core. Counts (in `phase`): activation-bank
    /// read at core `b`, the transfer, the write at core `j`.
    pub(super) fn send_skip(&mut self, b: usize, phase: Phase) {
        let Some(j) = self.layers[b].skip_to else {
            return;
        };
        deliver_skip(&mut self.layers, b, j);
        let cols = self.layers[b].cols;
        let ab = self.bits.activation;
        let w = self.words(BankRole::Activation, cols, ab);
        let (u, a) = (Unit::Activation, Class::Activation);
        let (x, to) = (self.place[b].x, self.place[j].skip);
        self.begin(b, phase, "send_skip");
        self.access(b, u, a, phase, Rw::Read, x, w, Src::None);
        self.count_transfer(b, j, a, phase, cols, ab);
        self.access(j, u, a, phase, Rw::Write, to, w, Src::None);
        self.end();
    }

    /// Counts of adding layer `j`'s skip to its conv outputs in its forward
    /// pass (the values are added by `add_skip`): the skip tensor read (an
    /// identity's whole tensor; a projection's `in_c` inputs per output
    /// position), a projection's kernels and biases read, its
    /// `positions·out_c·in_c` MACs and LFSR draws, and one add per conv
    /// output. Inside the caller's `conv_forward` call.
    pub(super) fn count_skip_forward(&mut self, j: usize, g: ConvGeom, phase: Phase) {
        let Some(s) = self.skip_of(j) else {
            return;
        };
        let ab = self.bits.activation;
        let (ua, ca) = (Unit::Activation, Class::Activation);
        let addr = self.place[j].skip;
        match s.projection_geom(&g) {
            None => {
                let w = self.skip_words(j);
                self.access(j, ua, ca, phase, Rw::Read, addr, w, Src::None);
            }
            Some(pg) => {
                let p = pg.positions() as u64;
                let w = p * self.words(BankRole::Activation, pg.in_c, ab);
                self.access(j, ua, ca, phase, Rw::Read, addr, w, Src::None);
                let pw = self.projection_words(pg, true);
                let wa = self.place[j].projection;
                let (uw, cw) = (Unit::Weight, Class::Weight);
                self.access(j, uw, cw, phase, Rw::Read, wa, pw, Src::None);
                self.add_macs(j, phase, (pg.positions() * pg.out_c * pg.in_c) as u64);
                let draws = self.requant_draws(TensorClass::Activation, g.conv_len());
                self.core(j).lfsr_draws[phase.index()] += draws;
            }
        }
        self.core(j).adds[phase.index()] += g.conv_len() as u64;
    }

    /// Weight-bank words of projection `pg`'s kernels (and biases when
    /// `biases`).
    fn projection_words(&self, pg: ConvGeom, biases: bool) -> u64 {
        let n = pg.out_c * pg.in_c + if biases { pg.out_c } else { 0 };
        self.words(BankRole::Weight, n, self.bits.weight)
    }

    /// Backprop at layer `j`, the last of a block: the error at its conv
    /// outputs (`delta`, from its backward step) sent back along the skip —
    /// as is, or through the projection's transpose (error format) — and
    /// parked in the error bank of the block's first core. Counts (phase
    /// `Backward`): `eⱼ` and the pool tensor read again, a projection's
    /// kernels read (no biases) with `positions·out_c·in_c` MACs and the
    /// error's LFSR draws, the transfer and the write at core `b`.
    pub(super) fn skip_backward(&mut self, j: usize, g: ConvGeom) {
        let Some(s) = self.skip_of(j) else {
            return;
        };
        let b = s.from;
        self.skip_backward_values(b, j);
        let (ab, eb) = (self.bits.activation, self.bits.error);
        let rows = self.layers[j].rows;
        let p = Phase::Backward;
        let (ue, ce) = (Unit::Error, Class::Error);
        let (ua, ca) = (Unit::Activation, Class::Activation);
        let e_words = self.words(BankRole::Error, rows, eb);
        let aux_words = self.pool_words(j, BankRole::Activation);
        let e_addr = self.err_addr(j, self.err_slot);
        let aux_addr = self.place[j].h + self.words(BankRole::Activation, rows, ab);
        self.begin(j, p, "skip_backward");
        self.access(j, ue, ce, p, Rw::Read, e_addr, e_words, Src::None);
        self.access(j, ua, ca, p, Rw::Read, aux_addr, aux_words, Src::None);
        let macs = match s.projection_geom(&g) {
            Some(pg) => {
                let pw = self.projection_words(pg, false);
                let wa = self.place[j].projection;
                let (uw, cw) = (Unit::Weight, Class::Weight);
                self.access(j, uw, cw, p, Rw::Read, wa, pw, Src::None);
                pg.positions() * pg.out_c * pg.in_c
            }
            None => 0,
        };
        // The transpose's requantisation, or an identity's scaling by an
        // average pool's 1/(n·n) (none without one).
        let rounds = macs > 0 || g.avg_scale() != (1, 0);
        let draws = if rounds {
            self.requant_draws(TensorClass::Error, s.values())
        } else {
            0
        };
        self.add_macs(j, p, (macs + g.scaled(s.values())) as u64);
        self.core(j).lfsr_draws[p.index()] += draws;
        self.count_transfer(j, b, ce, p, s.values(), eb);
        let (park, words) = (self.error_vectors_end(b), self.park_words(b));
        self.access(b, ue, ce, p, Rw::Write, park, words, Src::None);
        let c = self.core(b);
        c.error_peak_words = c.error_peak_words.max(park + words);
        self.end();
    }

    /// The values of [`Chip::skip_backward`]: layer `j`'s conv-output
    /// error, or its projection's transpose, into layer `b`'s parked error.
    fn skip_backward_values(&mut self, b: usize, j: usize) {
        if !D::COMPUTES_VALUES {
            return;
        }
        let mut park = std::mem::take(&mut self.layers[b].skip_e);
        {
            let cs = self.layers[j]
                .conv
                .as_deref()
                .unwrap_or_else(|| unreachable!());
            match cs.skip.as_ref().and_then(|s| s.proj.map(|pg| (pg, s))) {
                None => {
                    park.copy_from_slice(&cs.delta);
                    self.dp.scale_errors(cs.geom.avg_scale(), &mut park);
                }
                Some((pg, s)) => {
                    self.dp
                        .conv_transpose(&pg, Matrix::Weights, &s.w, &cs.delta, &mut park);
                }
            }
        }
        self.layers[b].skip_e = park;
    }

    /// Backprop at layer `b`, the first of a block, once its own error for
    /// layer `b−1` is computed: the parked skip error, masked by `f'(x_b)`,
    /// added to it (error format). Counts (phase `Backward`): the parked
    /// error read at core `b` and one add per value (the derivative's input
    /// `x_b` was read by the backward step).
    pub(super) fn skip_join(&mut self, b: usize) {
        if self.layers[b].skip_e.is_empty() {
            return;
        }
        if D::COMPUTES_VALUES {
            let act = self.net.activation;
            let (prev, l) = super::split_pair(&mut self.layers, b - 1);
            self.dp.mask_derivative(act, &l.x, &mut l.skip_e);
            for (e, &u) in prev.e.iter_mut().zip(&l.skip_e) {
                *e = self.dp.add_errors(*e, u);
            }
        }
        let p = Phase::Backward;
        let (park, words) = (self.error_vectors_end(b), self.park_words(b));
        let n = self.layers[b].skip_e.len() as u64;
        self.begin(b, p, "skip_join");
        self.access(
            b,
            Unit::Error,
            Class::Error,
            p,
            Rw::Read,
            park,
            words,
            Src::None,
        );
        self.core(b).adds[p.index()] += n;
        self.end();
    }

    /// The update of layer `j`'s projection (if any) from its conv-output
    /// error (`delta`, from its update step) and the skip tensor: a `1 × 1`
    /// conv layer's update. Counts (phase `Update`): the skip tensor's
    /// `in_c` inputs per position read, kernels and biases read and written,
    /// `positions·out_c·(in_c + 1)` MACs and the update's LFSR draws.
    pub(super) fn skip_update(&mut self, j: usize) {
        let Some(pg) = self
            .skip_of(j)
            .and_then(|s| s.projection_geom(&self.layers[j].conv_geom()?))
        else {
            return;
        };
        if D::COMPUTES_VALUES {
            let cs = self.layers[j]
                .conv
                .as_deref_mut()
                .unwrap_or_else(|| unreachable!());
            if let Some(s) = cs.skip.as_mut() {
                self.dp
                    .conv_update(&pg, &mut s.w, &mut s.b, &cs.delta, &s.x);
            }
        }
        let ab = self.bits.activation;
        let p = Phase::Update;
        let (ua, ca) = (Unit::Activation, Class::Activation);
        let (uw, cw) = (Unit::Weight, Class::Weight);
        let x_words = pg.positions() as u64 * self.words(BankRole::Activation, pg.in_c, ab);
        let pw = self.projection_words(pg, true);
        let (xa, wa) = (self.place[j].skip, self.place[j].projection);
        let draws = self.update_draws(pg.out_c, pg.in_c);
        self.begin(j, p, "skip_update");
        self.access(j, ua, ca, p, Rw::Read, xa, x_words, Src::None);
        self.access(j, uw, cw, p, Rw::Read, wa, pw, Src::None);
        self.access(j, uw, cw, p, Rw::Write, wa, pw, Src::None);
        let params = pg.out_c * (pg.in_c + 1);
        self.add_macs(j, p, (pg.positions() * params + pg.scaled(params)) as u64);
        self.core(j).lfsr_draws[p.index()] += draws;
        self.end();
    }
}

/// Copies layer `b`'s input into the skip copy of layer `j`, the last layer
/// of its block (values only).
pub(super) fn deliver_skip<V: Copy>(layers: &mut [super::Layer<V>], b: usize, j: usize) {
    let (head, tail) = layers.split_at_mut(j);
    let (src, dst) = if b < j {
        (&head[b].x, &mut tail[0])
    } else {
        let l = &mut tail[0];
        let x = std::mem::take(&mut l.x);
        if let Some(s) = l.conv.as_deref_mut().and_then(|c| c.skip.as_mut()) {
            s.x.copy_from_slice(&x);
        }
        l.x = x;
        return;
    };
    if let Some(s) = dst.conv.as_deref_mut().and_then(|c| c.skip.as_mut()) {
        s.x.copy_from_slice(src);
    }
}
