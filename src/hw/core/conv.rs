//! Convolution layers on a core: the conv forward pass with fused pooling,
//! the transposed convolution and the conv weight update, each computing
//! through the datapath and counting its accesses in closed form per call
//! (formulas in `docs/hw_model.md`, "Convolution layers").
//!
//! Dataflow of a conv core (weight-stationary, im2col input): the kernels
//! and biases (`out_c × (in_c·k·k)` plus `out_c`) are read from the weight
//! bank once per call and held by the MAC array; for every output position
//! the input patch (`in_c·k·k` values, padding included) is read from the
//! activation bank; the `out_c` results go straight into the pooling unit,
//! which reduces each window in registers as its positions are produced
//! (positions are visited window by window), so the unpooled map is never
//! stored. The pooled output and the pool tensor (max pool: argmax index per
//! output; average pool: the derivative bit of every conv output) are
//! written to the activation bank. The update reads the patches again and
//! accumulates each weight's gradient over all positions in the array's
//! accumulators before one requantisation per weight. The backward pass
//! reads the error, pool tensor, kernels and input once each.
//!
//! The closed-form counts multiply `positions`, `patch_len` and `out_c`
//! (and word counts of at most 64 bits per value) in plain `usize`/`u64`:
//! [`crate::net::spec::NetSpec`] bounded each layer's MACs
//! `out_c·patch_len·positions`, weights and tensors by
//! [`crate::net::spec::MAX_TENSOR_VALUES`] (2^48), so these products stay
//! below 2^55 and cannot wrap.

use super::{Chip, Layer, Src};
use crate::hw::counters::{Class, Phase, Rw, Unit};
use crate::hw::datapath::{Activation, Datapath, Matrix};
use crate::hw::model::{BankRole, TensorClass};
use crate::hw::trace_sink::TraceSink;
use crate::net::spec::{ConvGeom, PoolKind};

/// The conv-specific state of a layer's core.
#[derive(Clone, Debug)]
pub(super) struct ConvState<V> {
    /// Shape.
    pub(super) geom: ConvGeom,
    /// Pool tensor of the last forward pass (argmax indices or derivative
    /// bits; empty without pooling).
    pub(super) aux: Vec<u16>,
    /// A stash slot opened by `stash_input` waits for this layer's pool
    /// tensor from the next forward pass.
    pub(super) pending: bool,
    patch: Vec<V>,
    col: Vec<V>,
    /// Every output before its activation (`out_c × positions`), when the
    /// datapath computes the whole layer at once
    /// ([`Datapath::conv_preactivations`]).
    pre: Vec<V>,
    /// Whether `pre` holds this forward pass's outputs.
    whole: bool,
    win: Vec<V>,
    /// The activated conv output of an overlapping pool (empty otherwise).
    map: Vec<V>,
    /// The error at the conv outputs (`out_c × positions`), expanded from
    /// the pooled error by [`unpool`].
    pub(super) delta: Vec<V>,
    /// The skip path when this layer ends a residual block.
    pub(super) skip: Option<super::residual::SkipState<V>>,
}

impl<V: Copy + Default> ConvState<V> {
    pub(super) fn new(geom: ConvGeom) -> Self {
        let a = super::host::ConvAlloc::of(&geom);
        ConvState {
            geom,
            aux: vec![0; a.aux],
            pending: false,
            patch: vec![V::default(); a.patch],
            col: vec![V::default(); a.col],
            pre: vec![V::default(); a.pre],
            whole: false,
            win: vec![V::default(); a.win],
            map: vec![V::default(); a.map],
            delta: vec![V::default(); a.delta],
            skip: None,
        }
    }
}

/// `(rows, cols)` of a layer's weight matrix: a dense layer's `rows × cols`,
/// a conv layer's `out_c × (in_c·k·k)`.
pub(super) fn weight_shape<V>(l: &Layer<V>) -> (usize, usize) {
    match &l.conv {
        Some(c) => (c.geom.out_c, c.geom.patch_len()),
        None => (l.rows, l.cols),
    }
}

/// The forward values of conv layer `l`: `h` (pooled, activated) and the
/// pool tensor, from `l.x`. Fixed-point LFSR draws, in order: window by
/// window (row-major over the pooled output), each position of the window
/// in row-major order with its `out_c` conv outputs, then (average pool)
/// the window's `out_c` averages.
pub(super) fn forward_values<D: Datapath>(dp: &mut D, act: Activation, l: &mut Layer<D::V>) {
    let Some(cs) = l.conv.as_deref_mut() else {
        return;
    };
    let g = cs.geom;
    cs.whole = dp.conv_preactivations(&g, &l.w, &l.b, &l.x, &mut cs.pre);
    if !g.fused_pool() {
        return overlapping_forward_values(dp, act, &l.x, &l.w, &l.b, &mut l.h, cs);
    }
    let (n, ph, pw) = (g.pool_n(), g.pooled_h(), g.pooled_w());
    let nn = n * n;
    let p = g.positions();
    for py in 0..ph {
        for px in 0..pw {
            for widx in 0..nn {
                let (oy, ox) = (py * n + widx / n, px * n + widx % n);
                conv_position(dp, act, &g, &l.x, &l.w, &l.b, (oy, ox), cs);
                for (o, &v) in cs.col.iter().enumerate() {
                    cs.win[o * nn + widx] = v;
                }
            }
            for o in 0..g.out_c {
                let out = o * ph * pw + py * pw + px;
                let win = &cs.win[o * nn..(o + 1) * nn];
                match g.pool {
                    None => l.h[out] = win[0],
                    Some((PoolKind::Max, _)) => {
                        let mut best = 0;
                        for (k, v) in win.iter().enumerate() {
                            if *v > win[best] {
                                best = k;
                            }
                        }
                        l.h[out] = win[best];
                        cs.aux[out] = best as u16;
                    }
                    Some((PoolKind::Avg, _)) => {
                        l.h[out] = dp.average(win, g.avg_scale());
                        for (widx, &v) in win.iter().enumerate() {
                            let pos = (py * n + widx / n) * g.out_w + px * n + widx % n;
                            cs.aux[o * p + pos] = dp.active(act, v) as u16;
                        }
                    }
                }
            }
        }
    }
}

/// The activated conv outputs of position `(oy, ox)` into `cs.col`: the
/// patch, one mat-vec per channel group, a residual block's skip, the
/// activation.
#[allow(clippy::too_many_arguments)]
fn conv_position<D: Datapath>(
    dp: &mut D,
    act: Activation,
    g: &ConvGeom,
    x: &[D::V],
    w: &[D::V],
    b: &[D::V],
    (oy, ox): (usize, usize),
    cs: &mut ConvState<D::V>,
) {
    if cs.whole {
        let (p, pos) = (g.positions(), oy * g.out_w + ox);
        for (o, c) in cs.col.iter_mut().enumerate() {
            *c = cs.pre[o * p + pos];
        }
    } else {
        g.patch(x, oy, ox, &mut cs.patch);
        let (kk, og) = (g.patch_len(), g.group_out());
        for gi in 0..g.groups {
            dp.matvec(
                &w[gi * og * kk..(gi + 1) * og * kk],
                &b[gi * og..(gi + 1) * og],
                &cs.patch[gi * kk..(gi + 1) * kk],
                &mut cs.col[gi * og..(gi + 1) * og],
            );
        }
    }
    if let Some(s) = cs.skip.as_mut() {
        super::residual::add_skip(dp, s, g, (oy, ox), &mut cs.col);
    }
    dp.activate(act, &mut cs.col);
}

/// Forward values of a conv layer whose max-pool windows overlap or are
/// padded: every position in row-major order (LFSR draws in that order,
/// each position's `out_c` outputs) into the whole map, then each window's
/// first maximum over its positions inside the map (padding is never the
/// maximum), its window index kept.
fn overlapping_forward_values<D: Datapath>(
    dp: &mut D,
    act: Activation,
    x: &[D::V],
    w: &[D::V],
    b: &[D::V],
    h: &mut [D::V],
    cs: &mut ConvState<D::V>,
) {
    let g = cs.geom;
    let p = g.positions();
    for pos in 0..p {
        conv_position(dp, act, &g, x, w, b, (pos / g.out_w, pos % g.out_w), cs);
        for (o, &v) in cs.col.iter().enumerate() {
            cs.map[o * p + pos] = v;
        }
    }
    let (nn, ph, pw) = (g.pool_n() * g.pool_n(), g.pooled_h(), g.pooled_w());
    for o in 0..g.out_c {
        let map = &cs.map[o * p..(o + 1) * p];
        for py in 0..ph {
            for px in 0..pw {
                let mut best: Option<(usize, D::V)> = None;
                for widx in 0..nn {
                    if let Some((y, xx)) = g.window_position(py, px, widx) {
                        let v = map[y * g.out_w + xx];
                        if best.is_none_or(|(_, bv)| v > bv) {
                            best = Some((widx, v));
                        }
                    }
                }
                let out = o * ph * pw + py * pw + px;
                // Every window reaches into the map (padding < window side).
                let (widx, v) = best.unwrap_or((0, D::V::default()));
                h[out] = v;
                cs.aux[out] = widx as u16;
            }
        }
    }
}

/// The error at the conv output from the error `e` at the pooled output
/// and the pool tensor: max pool, `e` at each window's kept position and 0
/// elsewhere (overlapping windows that kept the same position add their
/// errors there, in output order; windows that tile never share one);
/// average pool, `e` of the window where the derivative bit is 1 (the
/// `1/(n·n)` is left to the requantisation); no pooling, `e`.
pub(super) fn unpool<D: Datapath>(dp: &mut D, cs: &mut ConvState<D::V>, e: &[D::V]) {
    let g = cs.geom;
    let (n, ph, pw) = (g.pool_n(), g.pooled_h(), g.pooled_w());
    let p = g.positions();
    match g.pool {
        None => cs.delta.copy_from_slice(e),
        Some((PoolKind::Max, _)) => {
            cs.delta.fill(D::V::default());
            for o in 0..g.out_c {
                for py in 0..ph {
                    for px in 0..pw {
                        let out = o * ph * pw + py * pw + px;
                        if let Some((y, x)) = g.window_position(py, px, cs.aux[out] as usize) {
                            let d = &mut cs.delta[o * p + y * g.out_w + x];
                            *d = dp.add_errors(*d, e[out]);
                        }
                    }
                }
            }
        }
        Some((PoolKind::Avg, _)) => {
            for o in 0..g.out_c {
                for oy in 0..g.out_h {
                    for ox in 0..g.out_w {
                        let i = o * p + oy * g.out_w + ox;
                        cs.delta[i] = if cs.aux[i] != 0 {
                            e[o * ph * pw + (oy / n) * pw + ox / n]
                        } else {
                            D::V::default()
                        };
                    }
                }
            }
        }
    }
}

impl<D: Datapath, T: TraceSink> Chip<D, T> {
    /// Whether layer `i` is a conv layer with pooling, whose backward step
    /// needs the pool tensor of its own forward pass (backprop's
    /// `recompute` policy recomputes that forward pass).
    pub fn pooled(&self, i: usize) -> bool {
        self.layers[i]
            .conv
            .as_ref()
            .is_some_and(|c| c.geom.pool.is_some())
    }

    /// Words of layer `i`'s pool tensor in bank `role` (0 unless pooled).
    pub(super) fn pool_words(&self, i: usize, role: BankRole) -> u64 {
        match &self.layers[i].conv {
            Some(c) => {
                let (n, bits) = c.geom.pool_tensor();
                if n == 0 {
                    0
                } else {
                    self.model.bank(role).words_for(n as u64, bits)
                }
            }
            None => 0,
        }
    }

    /// Stash-bank words of one stash slot of layer `i`: its input, a
    /// pooled conv layer's pool tensor, and the skip tensor of a block's
    /// projection.
    pub(super) fn slot_words(&self, i: usize) -> u64 {
        let cols = self.layers[i].cols;
        self.words(BankRole::Stash, cols, self.bits.activation)
            + self.pool_words(i, BankRole::Stash)
            + self.skip_slot_words(i)
    }

    /// DRAM bytes of one spilled stash slot of layer `i`: `ceil(cols·a/8)`
    /// plus, for a pooled conv layer, `ceil(values·bits/8)` of its pool tensor.
    pub(super) fn slot_bytes(&self, i: usize) -> u64 {
        let cols = self.layers[i].cols as u64;
        let x = (cols * self.bits.activation as u64).div_ceil(8);
        let aux = match &self.layers[i].conv {
            Some(c) => {
                let (n, bits) = c.geom.pool_tensor();
                (n as u64 * bits as u64).div_ceil(8)
            }
            None => 0,
        };
        x + aux + self.skip_slot_bytes(i)
    }

    /// Counts of conv layer `i`'s forward pass with its pooling (the values
    /// are computed by `forward_values` first). Counts (in `phase`):
    /// weights and biases read once, one input patch read per output
    /// position, `positions·out_c·in_c·k·k` MACs, the pooled output and the
    /// pool tensor written, the pooling unit's compares (max) or adds
    /// (average), and LFSR draws when activations round stochastically.
    pub(super) fn conv_forward(&mut self, i: usize, g: ConvGeom, phase: Phase) {
        let l = &mut self.layers[i];
        if let Some(cs) = l.conv.as_deref_mut().filter(|c| c.pending) {
            cs.pending = false;
            // The pool tensor's values (none in a count-only run).
            if let Some(slot) = l.stash.last_mut().filter(|_| D::COMPUTES_VALUES) {
                slot.aux.clone_from(&cs.aux);
            }
        }
        let (ab, wb) = (self.bits.activation, self.bits.weight);
        let (p, kk, oc) = (g.positions(), g.patch_len(), g.out_c);
        let rows = self.layers[i].rows;
        let patch_words = p as u64 * self.words(BankRole::Activation, g.in_patch_len(), ab);
        let w_words = self.words(BankRole::Weight, oc * kk + oc, wb);
        let h_words = self.words(BankRole::Activation, rows, ab);
        let aux_words = self.pool_words(i, BankRole::Activation);
        let lat = self.bank_latency(BankRole::Weight) + self.bank_latency(BankRole::Activation);
        let avg = matches!(g.pool, Some((PoolKind::Avg, _)));
        let draws = self.requant_draws(TensorClass::Activation, oc * p)
            + if avg {
                self.requant_draws(TensorClass::Activation, rows)
            } else {
                0
            };
        let (compares, adds) = g.pool_ops();
        let pl = self.place[i];
        let (ua, ca) = (Unit::Activation, Class::Activation);
        let (uw, cw) = (Unit::Weight, Class::Weight);
        self.begin(i, phase, "conv_forward");
        self.access(i, ua, ca, phase, Rw::Read, pl.x, patch_words, Src::None);
        if !self.fused_read(phase, false) {
            self.access(i, uw, cw, phase, Rw::Read, pl.weight, w_words, Src::None);
        }
        self.access(i, ua, ca, phase, Rw::Write, pl.h, h_words, Src::H(i));
        let aux_addr = pl.h + h_words;
        self.access(i, ua, ca, phase, Rw::Write, aux_addr, aux_words, Src::None);
        if !g.fused_pool() {
            // Overlapping windows: the whole activated map is stored after
            // the pool tensor, then read once by the pooling unit.
            let map_words = self.words(BankRole::Activation, g.conv_len(), ab);
            let map_addr = aux_addr + aux_words;
            self.access(i, ua, ca, phase, Rw::Write, map_addr, map_words, Src::None);
            self.access(i, ua, ca, phase, Rw::Read, map_addr, map_words, Src::None);
        }
        self.add_macs(i, phase, (p * oc * kk + g.scaled(rows)) as u64);
        let c = self.core(i);
        c.lfsr_draws[phase.index()] += draws;
        c.compares[phase.index()] += compares;
        c.adds[phase.index()] += adds;
        self.count_skip_forward(i, g, phase);
        self.add_latency(i, phase, lat);
        self.end();
    }

    /// Backward step of conv layer `i > 0`: the error of layer `i−1`,
    /// the transposed convolution of the conv-output error (from `eᵢ` and
    /// the pool tensor) masked by `f'(xᵢ)`, delivered to core `i−1`.
    /// Counts (phase `Backward`): kernels read (no biases), `eᵢ` and the pool
    /// tensor read, `xᵢ` read (derivative), `positions·out_c·in_c·k·k` MACs,
    /// the transfer and the write at core `i−1`, and one LFSR draw per
    /// element of the new error when errors round stochastically.
    pub(super) fn conv_backward(&mut self, i: usize, g: ConvGeom) {
        assert!(i > 0, "backward: layer 0 has no upstream error");
        let act = self.net.activation;
        {
            let (prev, l) = super::split_pair(&mut self.layers, i - 1);
            if let Some(cs) = l.conv.as_deref_mut().filter(|_| D::COMPUTES_VALUES) {
                unpool(&mut self.dp, cs, &l.e);
                let w = &l.w;
                self.dp
                    .conv_backward(&g, Matrix::Weights, w, &cs.delta, &l.x, act, &mut prev.e);
            }
        }
        let (rows, cols) = (self.layers[i].rows, self.layers[i].cols);
        let (p, kk, oc) = (g.positions(), g.patch_len(), g.out_c);
        let (ab, eb, wb) = (self.bits.activation, self.bits.error, self.bits.weight);
        let w_words = self.words(BankRole::Weight, oc * kk, wb);
        let e_words = self.words(BankRole::Error, rows, eb);
        let aux_words = self.pool_words(i, BankRole::Activation);
        let x_words = self.words(BankRole::Activation, cols, ab);
        let out_words = self.words(BankRole::Error, cols, eb);
        let lat = self.bank_latency(BankRole::Weight) + self.bank_latency(BankRole::Error);
        let draws = self.requant_draws(TensorClass::Error, cols);
        let ph = Phase::Backward;
        let pl = self.place[i];
        let (e_addr, out_addr) = (self.err_addr(i, self.err_slot), self.err_addr(i - 1, 0));
        let (ue, ce) = (Unit::Error, Class::Error);
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.begin(i, ph, "conv_backward");
        let (uw, cw) = (Unit::Weight, Class::Weight);
        if !self.fused_read(ph, true) {
            self.access(i, uw, cw, ph, Rw::Read, pl.weight, w_words, Src::None);
        }
        self.access(i, ue, ce, ph, Rw::Read, e_addr, e_words, Src::None);
        let aux_addr = pl.h + self.words(BankRole::Activation, rows, ab);
        self.access(i, ua, ca, ph, Rw::Read, aux_addr, aux_words, Src::None);
        self.access(i, ua, ca, ph, Rw::Read, pl.x, x_words, Src::None);
        self.add_macs(i, ph, (p * oc * kk + g.scaled(cols)) as u64);
        self.core(i).lfsr_draws[ph.index()] += draws;
        self.add_latency(i, ph, lat);
        self.count_transfer(i, i - 1, ce, ph, cols, eb);
        let src = Src::E(i - 1);
        self.access(i - 1, ue, ce, ph, Rw::Write, out_addr, out_words, src);
        self.end();
        self.skip_backward(i, g);
        self.skip_join(i);
    }

    /// SGD update of conv layer `i` from its error, pool tensor and input:
    /// each kernel weight moves by `lr ·` its gradient summed over all output
    /// positions, each bias by `lr · Σ` of its channel's errors. Counts
    /// (phase `Update`): `e` and the pool tensor read, one input patch per
    /// position read, kernels and biases read and written,
    /// `positions·out_c·(in_c·k·k + 1)` MACs, and the dense update's LFSR
    /// draws for an `out_c × (in_c·k·k)` matrix.
    pub(super) fn conv_update(&mut self, i: usize, g: ConvGeom) {
        {
            let l = &mut self.layers[i];
            if let Some(cs) = l.conv.as_deref_mut().filter(|_| D::COMPUTES_VALUES) {
                unpool(&mut self.dp, cs, &l.e);
                self.dp.conv_update(&g, &mut l.w, &mut l.b, &cs.delta, &l.x);
            }
        }
        let rows = self.layers[i].rows;
        let (p, kk, oc) = (g.positions(), g.patch_len(), g.out_c);
        let (ab, eb, wb) = (self.bits.activation, self.bits.error, self.bits.weight);
        let w_words = self.words(BankRole::Weight, oc * kk + oc, wb);
        let e_words = self.words(BankRole::Error, rows, eb);
        let aux_words = self.pool_words(i, BankRole::Activation);
        let patch_words = p as u64 * self.words(BankRole::Activation, g.in_patch_len(), ab);
        let draws = self.update_draws(oc, kk);
        let lat = 2 * self.bank_latency(BankRole::Weight);
        let ph = Phase::Update;
        let pl = self.place[i];
        let e_addr = self.err_addr(i, self.err_slot);
        let (uw, cw) = (Unit::Weight, Class::Weight);
        let (ua, ca) = (Unit::Activation, Class::Activation);
        self.begin(i, ph, "conv_update");
        let (ue, ce) = (Unit::Error, Class::Error);
        self.access(i, ue, ce, ph, Rw::Read, e_addr, e_words, Src::None);
        let aux_addr = pl.h + self.words(BankRole::Activation, rows, ab);
        self.access(i, ua, ca, ph, Rw::Read, aux_addr, aux_words, Src::None);
        self.access(i, ua, ca, ph, Rw::Read, pl.x, patch_words, Src::None);
        self.access(i, uw, cw, ph, Rw::Read, pl.weight, w_words, Src::None);
        self.access(i, uw, cw, ph, Rw::Write, pl.weight, w_words, Src::Params(i));
        self.add_macs(i, ph, (p * oc * (kk + 1) + g.scaled(oc * (kk + 1))) as u64);
        self.core(i).lfsr_draws[ph.index()] += draws;
        self.add_latency(i, ph, lat);
        self.end();
        self.skip_update(i);
    }
}
