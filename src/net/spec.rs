//! The network description: the layer text of `--layers` (dense sizes, or a
//! CNN such as `1x28x28,conv5x5x16,maxpool2,conv5x5x32,maxpool2,10`), its
//! validation with errors that name the offending token, and the shape
//! arithmetic of convolution and pooling (output sizes, positions, patch
//! lengths) that the counted core and its tests use.
//!
//! Feature maps are stored channel-major, `[c][y][x]` (CHW), and flattened
//! in that order when a dense layer follows; a conv kernel is stored
//! `[out][c][ky][kx]`, so the weights of one output channel are one row of an
//! `out × (c·K·K)` matrix, like a dense layer's.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Hidden-layer activation function, defined on the stored values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(x, 0)`; derivative 1 where the output is > 0, else 0.
    Relu,
    /// `clamp(x, -1, 1)`; derivative 1 where the output is strictly inside (-1, 1).
    HardTanh,
    /// Leaky ReLU, `x` for `x ≥ 0` and `2^-LEAKY_SHIFT · x` below (slope
    /// 1/8, the power of two nearest GAIT-prop's 0.1): invertible, so a
    /// target can be carried back through it. Derivative 1 where the output
    /// is `≥ 0`, else `2^-LEAKY_SHIFT`; in fixed point both the activation
    /// and the derivative's product are arithmetic right shifts (floor).
    LeakyRelu,
}

impl Activation {
    /// Whether the derivative at the output `h` is 1, where `one` is the
    /// value 1.0 in `h`'s representation (the largest activation when 1.0
    /// does not fit): ReLU `h > 0`, hard-tanh `−one < h < one`, leaky ReLU
    /// `h ≥ 0`. Elsewhere the derivative is 0, or `2^-LEAKY_SHIFT` for
    /// leaky ReLU. The one definition both datapaths use.
    #[inline]
    pub fn slope_is_one<T: PartialOrd + std::ops::Neg<Output = T> + Copy + Default>(
        self,
        h: T,
        one: T,
    ) -> bool {
        match self {
            Activation::Relu => h > T::default(),
            Activation::HardTanh => h > -one && h < one,
            Activation::LeakyRelu => h >= T::default(),
        }
    }
}

named_values!(Activation, "activation", {
    Relu => "relu",
    HardTanh => "hard-tanh",
    LeakyRelu => "leaky-relu",
});

/// Pooling of a conv layer's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolKind {
    /// Maximum over the window (first maximum in window order on ties).
    Max,
    /// Mean over the window: a shift when the window side is a power of
    /// two, else a multiply by the rounded reciprocal
    /// ([`ConvGeom::avg_scale`]).
    Avg,
}

/// One token of a layer description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerSpec {
    /// The input: `channels × height × width` values, written `CxHxW`
    /// (first token only).
    Input {
        /// Channels.
        c: usize,
        /// Height in pixels.
        h: usize,
        /// Width in pixels.
        w: usize,
    },
    /// A square convolution `convKxKxO[sS][pP][gG]`: `O` output channels, a
    /// `K × K` kernel, stride `S` (default 1), `P` zero pixels of padding on
    /// every side (default 0), and `G` groups (default 1): the channels are
    /// split into `G` groups, each output channel reading the `C/G` input
    /// channels of its group (`G = C = O` is a depthwise convolution).
    Conv {
        /// Kernel side in pixels.
        k: usize,
        /// Output channels.
        out: usize,
        /// Stride in pixels.
        stride: usize,
        /// Padding in pixels on each side.
        pad: usize,
        /// Channel groups (1: every output reads every input channel).
        groups: usize,
    },
    /// Pooling `maxpoolN[sS][pP]` / `avgpoolN` of the preceding conv layer's
    /// output: `N × N` windows at stride `N` (tiling the map), or, for a max
    /// pool, at stride `S` over the map padded by `P` (ResNet's
    /// `maxpool3s2p1`; windows may overlap, padding is never the maximum).
    Pool {
        /// Max or average.
        kind: PoolKind,
        /// Window side in pixels.
        n: usize,
        /// Stride in pixels (`n` unless given).
        stride: usize,
        /// Padding in pixels on each side (0 unless given; max pools only).
        pad: usize,
    },
    /// A dense layer with this many outputs (or, as the first token, an
    /// input of this many values with no spatial shape).
    Dense(usize),
    /// The end of a residual block, `resN` or `resNp`, right after the
    /// block's last convolution: the input of the conv layer `N` weight
    /// layers back (the block's first layer, `N = 1` the conv itself) is
    /// added to this conv's output before its activation (and pooling) —
    /// as is (`resN`, same shape), or through a learned `1 × 1` projection
    /// convolution (`resNp`: ResNet's downsample shortcut; its stride is the
    /// smallest that gives the conv's output size).
    Residual {
        /// Weight layers back to the block's first layer (1 or more).
        back: usize,
        /// Whether the skip passes through a `1 × 1` projection.
        project: bool,
    },
}

impl LayerSpec {
    /// A max pool of `n × n` windows that tile the map (`maxpoolN`).
    pub fn tiling_max_pool(n: usize) -> Self {
        LayerSpec::Pool {
            kind: PoolKind::Max,
            n,
            stride: n,
            pad: 0,
        }
    }
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayerSpec::Input { c, h, w } => write!(f, "{c}x{h}x{w}"),
            LayerSpec::Conv {
                k,
                out,
                stride,
                pad,
                groups,
            } => {
                write!(f, "conv{k}x{k}x{out}")?;
                if stride != 1 {
                    write!(f, "s{stride}")?;
                }
                if pad != 0 {
                    write!(f, "p{pad}")?;
                }
                if groups != 1 {
                    write!(f, "g{groups}")?;
                }
                Ok(())
            }
            LayerSpec::Pool {
                kind,
                n,
                stride,
                pad,
            } => {
                match kind {
                    PoolKind::Max => write!(f, "maxpool{n}")?,
                    PoolKind::Avg => write!(f, "avgpool{n}")?,
                }
                if stride != n {
                    write!(f, "s{stride}")?;
                }
                if pad != 0 {
                    write!(f, "p{pad}")?;
                }
                Ok(())
            }
            LayerSpec::Dense(n) => write!(f, "{n}"),
            LayerSpec::Residual { back, project } => {
                write!(f, "res{back}{}", if project { "p" } else { "" })
            }
        }
    }
}

impl Serialize for LayerSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for LayerSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_token(&s, 1).map_err(serde::de::Error::custom)
    }
}

/// A layer description that cannot be built: names the token and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("layers: `{token}`{at}: {why}")]
pub struct NetSpecError {
    /// The offending token (or the whole text).
    pub token: String,
    /// ` (token n)` or empty.
    pub at: String,
    /// What is wrong.
    pub why: String,
}

fn err(token: &str, index: Option<usize>, why: impl Into<String>) -> NetSpecError {
    NetSpecError {
        token: token.to_string(),
        at: index.map_or(String::new(), |i| format!(" (token {})", i + 1)),
        why: why.into(),
    }
}

/// Fractional bits of the reciprocal `1/n²` by which an average pool whose
/// window side `n` is not a power of two divides (`round(2^16/n²)`, at most
/// 0.5 LSB from the exact reciprocal: within 0.04 % for `n ≤ 16`).
pub const AVG_RECIP_BITS: u32 = 16;

/// The most values any one tensor of a network may hold, and the most
/// weights and biases of one layer and multiply-accumulates of one layer's
/// forward pass per sample: 2^48.
///
/// Why this bound: sizes, weight counts and MAC counts are used as `u64`
/// (and `usize`) throughout the counted core, times a width of at most 64
/// bits (2^48 · 64 = 2^54 bits), or summed a few at a time (a patch matrix,
/// a layer's input, output and pool tensor, a backward pass's MACs plus an
/// update's), so every such product and sum stays far below 2^64 once each
/// factor is at most 2^48. It refuses nothing that could run: 2^48 values
/// are 256 TiB even at one byte each (`--max-memory` refuses far smaller
/// networks first), and ResNet-50's largest layer has about 2^21 weights and
/// 2^27 MACs per sample.
pub const MAX_TENSOR_VALUES: u64 = 1 << 48;

/// `MAX_TENSOR_VALUES` as written in messages.
const MAX_TENSOR_TEXT: &str = "2^48";

/// Checks that `value` (the exact count, `None` when it does not even fit
/// 128 bits) is at most [`MAX_TENSOR_VALUES`], returning it as a `usize`;
/// the error names the token and the value, which `describe` puts in words
/// (e.g. `the input has {} values`).
fn bounded(
    token: &str,
    index: Option<usize>,
    value: Option<u128>,
    describe: impl Fn(&str) -> String,
) -> Result<usize, NetSpecError> {
    let Some(v) = value.filter(|&v| v <= u128::from(MAX_TENSOR_VALUES)) else {
        let shown = value.map_or_else(|| "more than 2^128".to_string(), |v| v.to_string());
        let why = describe(&shown);
        return Err(err(
            token,
            index,
            format!("{why} (more than {MAX_TENSOR_TEXT})"),
        ));
    };
    // At most 2^48: fits `usize` on every 64-bit host.
    usize::try_from(v).map_err(|_| {
        let why = describe(&v.to_string());
        err(
            token,
            index,
            format!("{why}, more than this host's {}-bit sizes", usize::BITS),
        )
    })
}

/// The exact product of `factors`, `None` past 128 bits.
fn product(factors: &[usize]) -> Option<u128> {
    factors
        .iter()
        .try_fold(1u128, |acc, &f| acc.checked_mul(f as u128))
}

/// Checks a dense layer of `rows` outputs on `cols` inputs: its weights and
/// biases `rows·cols + rows` (which bound its MACs, `rows·cols`) at most
/// [`MAX_TENSOR_VALUES`].
fn check_dense_layer(
    token: &str,
    index: Option<usize>,
    cols: usize,
    rows: usize,
) -> Result<(), NetSpecError> {
    let weights = product(&[rows, cols]).and_then(|m| m.checked_add(rows as u128));
    bounded(token, index, weights, |v| {
        format!("the layer's {rows}x{cols} weights and {rows} biases are {v} values")
    })
    .map(|_| ())
}

/// Parses an integer `>= 1`.
fn positive(s: &str) -> Option<usize> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 && !s.starts_with('+') => Some(n),
        _ => None,
    }
}

/// Splits `s` at the first of `marks` not at its start: `("5", "s2p1")`.
fn split_num(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// The digits after option letter `mark` at the start of `rest` (e.g. the
/// `2` of `s2p1` for `s`), advancing `rest` past them; `None` without it.
fn take_suffix<'a>(rest: &mut &'a str, mark: char) -> Option<&'a str> {
    let (digits, after) = split_num(rest.strip_prefix(mark)?);
    *rest = after;
    Some(digits)
}

/// Parses `CxHxW` (three whole numbers >= 1, no sign): an input's channels,
/// height and width, as the first token of `--layers` and `--input` give it.
pub fn parse_chw(t: &str) -> Option<[usize; 3]> {
    let dims: Vec<&str> = t.split('x').collect();
    match dims[..] {
        [c, h, w] => Some([positive(c)?, positive(h)?, positive(w)?]),
        _ => None,
    }
}

/// Parses one token (`index` is 0-based, for messages).
fn parse_token(tok: &str, index: usize) -> Result<LayerSpec, NetSpecError> {
    let at = Some(index);
    let t = tok.trim();
    if let Some(n) = positive(t) {
        return Ok(LayerSpec::Dense(n));
    }
    for (prefix, kind) in [("maxpool", PoolKind::Max), ("avgpool", PoolKind::Avg)] {
        if let Some(rest) = t.strip_prefix(prefix) {
            let bad = || {
                err(
                    t,
                    at,
                    "expected maxpoolN[sS][pP] or avgpoolN with a window N in 2..=16, e.g. maxpool2 or maxpool3s2p1",
                )
            };
            let (n, mut rest) = split_num(rest);
            let n = positive(n)
                .filter(|&n| (2..=16).contains(&n))
                .ok_or_else(bad)?;
            let (mut stride, mut pad) = (n, 0);
            if let Some(v) = take_suffix(&mut rest, 's') {
                stride = positive(v).ok_or_else(bad)?;
            }
            if let Some(v) = take_suffix(&mut rest, 'p') {
                pad = v.parse::<usize>().map_err(|_| bad())?;
            }
            if !rest.is_empty() {
                return Err(bad());
            }
            if (stride != n || pad != 0) && kind == PoolKind::Avg {
                return Err(err(
                    t,
                    at,
                    "an average pool tiles its map (no stride or padding of its own)",
                ));
            }
            if pad >= n {
                return Err(err(
                    t,
                    at,
                    format!("padding {pad} must be less than the window side {n}"),
                ));
            }
            return Ok(LayerSpec::Pool {
                kind,
                n,
                stride,
                pad,
            });
        }
    }
    if let Some(rest) = t.strip_prefix("res") {
        let (n, rest) = split_num(rest);
        let back = positive(n).filter(|_| rest.is_empty() || rest == "p");
        let back = back.ok_or_else(|| {
            err(
                t,
                at,
                "expected resN or resNp (the input of the conv N layers back added to this conv's output; p: through a 1x1 projection), e.g. res2 or res3p",
            )
        })?;
        return Ok(LayerSpec::Residual {
            back,
            project: rest == "p",
        });
    }
    if let Some(rest) = t.strip_prefix("conv") {
        let bad = || {
            err(
                t,
                at,
                "expected convKxKxC[sS][pP][gG] (kernel K, C output channels, optional stride S, padding P and groups G), e.g. conv5x5x16, conv3x3x8s2p1 or conv3x3x32p1g32",
            )
        };
        let (k1, rest) = split_num(rest);
        let rest = rest.strip_prefix('x').ok_or_else(bad)?;
        let (k2, rest) = split_num(rest);
        let rest = rest.strip_prefix('x').ok_or_else(bad)?;
        let (c, mut rest) = split_num(rest);
        let (k1, k2, out) = (
            positive(k1).ok_or_else(bad)?,
            positive(k2).ok_or_else(bad)?,
            positive(c).ok_or_else(bad)?,
        );
        if k1 != k2 {
            return Err(err(
                t,
                at,
                format!("kernels must be square ({k1}x{k2} is not)"),
            ));
        }
        let (mut stride, mut pad, mut groups) = (1, 0, 1);
        if let Some(v) = take_suffix(&mut rest, 's') {
            stride = positive(v).ok_or_else(bad)?;
        }
        if let Some(v) = take_suffix(&mut rest, 'p') {
            pad = v.parse::<usize>().map_err(|_| bad())?;
        }
        if let Some(v) = take_suffix(&mut rest, 'g') {
            groups = positive(v).ok_or_else(bad)?;
        }
        if !rest.is_empty() {
            return Err(bad());
        }
        if pad >= k1 {
            return Err(err(
                t,
                at,
                format!("padding {pad} must be less than the kernel side {k1}"),
            ));
        }
        return Ok(LayerSpec::Conv {
            k: k1,
            out,
            stride,
            pad,
            groups,
        });
    }
    if let Some([c, h, w]) = parse_chw(t) {
        return Ok(LayerSpec::Input { c, h, w });
    }
    Err(err(
        t,
        at,
        "expected a size >= 1, an input CxHxW, convKxKxC[sS][pP][gG], maxpoolN[sS][pP], avgpoolN or resN[p]",
    ))
}

/// Shape of one convolution layer (with its optional pooling) as mapped on a
/// core: input map `in_c × in_h × in_w`, `out_c` kernels of `k × k × in_c`,
/// conv output `out_c × out_h × out_w`, then pooled to
/// `out_c × pooled_h × pooled_w` (the layer's output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeom {
    /// Input channels.
    pub in_c: usize,
    /// Input height, pixels.
    pub in_h: usize,
    /// Input width, pixels.
    pub in_w: usize,
    /// Kernel side, pixels.
    pub k: usize,
    /// Output channels (kernels).
    pub out_c: usize,
    /// Stride, pixels.
    pub stride: usize,
    /// Zero padding on each side, pixels.
    pub pad: usize,
    /// Channel groups: output channel `o` reads the `in_c/groups` input
    /// channels of group `o / (out_c/groups)`.
    pub groups: usize,
    /// Conv output height, `(in_h + 2·pad − k) / stride + 1`.
    pub out_h: usize,
    /// Conv output width.
    pub out_w: usize,
    /// Pooling after the conv, if any: kind and window side.
    pub pool: Option<(PoolKind, usize)>,
    /// Pooling stride in pixels (the window side for tiling windows; 1
    /// without pooling).
    pub pool_stride: usize,
    /// Pooling padding in pixels on each side (0 for tiling windows).
    pub pool_pad: usize,
    /// The skip path added to this conv's output when it ends a residual
    /// block (`None` otherwise).
    pub skip: Option<Skip>,
}

/// The skip path of a residual block, held by the block's last conv layer:
/// the block's input `x_b` (the input of weight layer `from`), added to the
/// conv output before the activation, as is or through a learned `1 × 1`
/// projection of stride `stride` (`docs/rules.md`, "Residual blocks").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Skip {
    /// The block's first weight layer, whose input is the skip tensor.
    pub from: usize,
    /// Skip tensor channels.
    pub in_c: usize,
    /// Skip tensor height, pixels.
    pub in_h: usize,
    /// Skip tensor width, pixels.
    pub in_w: usize,
    /// The projection's stride, pixels, or `None` for an identity skip
    /// (same shape as the conv output).
    pub projection: Option<usize>,
}

impl Skip {
    /// Values of the skip tensor, `in_c · in_h · in_w`.
    pub fn values(&self) -> usize {
        self.in_c * self.in_h * self.in_w
    }
    /// The projection as a `1 × 1` convolution onto the output of `end`,
    /// the block's last conv layer (`None` for an identity skip). It takes
    /// `end`'s pooling so that an average pool's `1/(n·n)` scales the
    /// projection's error and update as it scales the layer's own.
    pub fn projection_geom(&self, end: &ConvGeom) -> Option<ConvGeom> {
        let stride = self.projection?;
        let out_c = end.out_c;
        let side = |n: usize| (n - 1) / stride + 1;
        Some(ConvGeom {
            in_c: self.in_c,
            in_h: self.in_h,
            in_w: self.in_w,
            k: 1,
            out_c,
            stride,
            pad: 0,
            groups: 1,
            out_h: side(self.in_h),
            out_w: side(self.in_w),
            pool: end.pool,
            pool_stride: end.pool_stride,
            pool_pad: end.pool_pad,
            skip: None,
        })
    }
}

impl ConvGeom {
    /// Output positions of the conv (before pooling), `out_h · out_w`.
    pub fn positions(&self) -> usize {
        self.out_h * self.out_w
    }
    /// Values of one kernel (one output channel's weights),
    /// `(in_c/groups) · k · k`: the columns of the weight matrix and the
    /// patch of one group.
    pub fn patch_len(&self) -> usize {
        self.in_c / self.groups * self.k * self.k
    }
    /// Values of one position's patch over every input channel (all groups'
    /// patches, group by group), `in_c · k · k`: what the im2col read of one
    /// output position fetches.
    pub fn in_patch_len(&self) -> usize {
        self.in_c * self.k * self.k
    }
    /// Output channels per group.
    pub fn group_out(&self) -> usize {
        self.out_c / self.groups
    }
    /// Pooling window side (1 without pooling).
    pub fn pool_n(&self) -> usize {
        self.pool.map_or(1, |(_, n)| n)
    }
    /// Whether the pooling windows tile the conv output (stride = window,
    /// no padding; or no pooling): the pooling unit then reduces each window
    /// as its positions are produced, and the unpooled map is never stored.
    pub fn fused_pool(&self) -> bool {
        self.pool.is_none() || (self.pool_stride == self.pool_n() && self.pool_pad == 0)
    }
    /// Height of the layer's output (after pooling):
    /// `⌊(out_h + 2·pool_pad − n)/pool_stride⌋ + 1` (`out_h/n` for tiling
    /// windows).
    pub fn pooled_h(&self) -> usize {
        self.pooled_side(self.out_h)
    }
    /// Width of the layer's output (after pooling).
    pub fn pooled_w(&self) -> usize {
        self.pooled_side(self.out_w)
    }
    fn pooled_side(&self, side: usize) -> usize {
        if self.pool.is_none() {
            side
        } else {
            (side + 2 * self.pool_pad - self.pool_n()) / self.pool_stride + 1
        }
    }
    /// The conv output position `(y, x)` of window index `widx` (row-major
    /// in the `n × n` window) of pooled output `(py, px)`, or `None` in the
    /// padding.
    pub fn window_position(&self, py: usize, px: usize, widx: usize) -> Option<(usize, usize)> {
        let n = self.pool_n();
        let y = (py * self.pool_stride + widx / n).wrapping_sub(self.pool_pad);
        let x = (px * self.pool_stride + widx % n).wrapping_sub(self.pool_pad);
        (y < self.out_h && x < self.out_w).then_some((y, x))
    }
    /// Values of the layer's input map, `in_c · in_h · in_w`.
    pub fn in_len(&self) -> usize {
        self.in_c * self.in_h * self.in_w
    }
    /// Values of the conv output before pooling, `out_c · positions`.
    pub fn conv_len(&self) -> usize {
        self.out_c * self.positions()
    }
    /// Values of the layer's output (after pooling).
    pub fn out_len(&self) -> usize {
        self.out_c * self.pooled_h() * self.pooled_w()
    }
    /// An average pool's division by `n·n` as `(m, s)`: the value times
    /// `m`, shifted right by `s` bits. A power-of-two `n` divides exactly by
    /// a shift, `(1, 2·log2 n)`; any other `n` (a global average over a 7×7
    /// map) multiplies by the reciprocal rounded to [`AVG_RECIP_BITS`]
    /// fractional bits, `(round(2^16 / n²), 16)` (`docs/arithmetic.md`,
    /// "Convolution"). `(1, 0)` without an average pool.
    pub fn avg_scale(&self) -> (i64, u32) {
        match self.pool {
            Some((PoolKind::Avg, n)) if n.is_power_of_two() => (1, 2 * n.trailing_zeros()),
            Some((PoolKind::Avg, n)) => {
                let nn = (n * n) as i64;
                (((1i64 << AVG_RECIP_BITS) + nn / 2) / nn, AVG_RECIP_BITS)
            }
            _ => (1, 0),
        }
    }
    /// The reciprocal multiplies of an average pool whose window side is
    /// not a power of two, one per result it scales (`results`: the pooled
    /// outputs forward, the input errors backward, the weights and biases of
    /// an update); 0 for any other layer. Counted as MACs.
    pub fn scaled(&self, results: usize) -> usize {
        if self.avg_scale().0 != 1 { results } else { 0 }
    }
    /// The pool tensor the backward step needs, as (values, bits per value):
    /// a max pool keeps the argmax's index within its window for every
    /// output (`ceil(log2(n·n))` bits); an average pool keeps the
    /// derivative bit `f'` of every conv output (1 bit); no pooling keeps
    /// nothing (the layer's output carries the derivative).
    pub fn pool_tensor(&self) -> (usize, u32) {
        match self.pool {
            Some((PoolKind::Max, n)) => {
                let bits = usize::BITS - (n * n - 1).leading_zeros();
                (self.out_len(), bits.max(1))
            }
            Some((PoolKind::Avg, _)) => (self.conv_len(), 1),
            None => (0, 0),
        }
    }
    /// Gathers the input patch of conv output position `(oy, ox)` from the
    /// map `x` into `patch` (`in_patch_len` values in kernel order `c, ky,
    /// kx`, so group `g`'s patch is the `g`-th run of `patch_len`); padding
    /// pixels read as zero (`V::default()`).
    pub fn patch<V: Copy + Default>(&self, x: &[V], oy: usize, ox: usize, patch: &mut [V]) {
        let (k, hw) = (self.k, self.in_h * self.in_w);
        let mut j = 0;
        for c in 0..self.in_c {
            for ky in 0..k {
                let y = (oy * self.stride + ky).wrapping_sub(self.pad);
                for kx in 0..k {
                    let xx = (ox * self.stride + kx).wrapping_sub(self.pad);
                    patch[j] = if y < self.in_h && xx < self.in_w {
                        x[c * hw + y * self.in_w + xx]
                    } else {
                        V::default()
                    };
                    j += 1;
                }
            }
        }
    }
    /// Comparisons (max pool) or additions (average pool) of the pooling
    /// unit per forward pass: `n·n − 1` per output; 0 without pooling.
    pub fn pool_ops(&self) -> (u64, u64) {
        let per = (self.pool_n() * self.pool_n()) as u64 - 1;
        match self.pool {
            Some((PoolKind::Max, _)) => (per * self.out_len() as u64, 0),
            Some((PoolKind::Avg, _)) => (0, per * self.out_len() as u64),
            None => (0, 0),
        }
    }
}

/// Network shape: the sizes the dense code reads, plus, for a CNN, the layer
/// description they were derived from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Values at the input, then at each weight layer's output (a conv
    /// layer's output flattened after pooling), e.g. `[784, 1024, 1024, 10]`
    /// or, for `1x28x28,conv5x5x16,maxpool2,10`, `[784, 2304, 10]`.
    pub sizes: Vec<usize>,
    /// Hidden-layer activation (the output layer is linear).
    pub activation: Activation,
    /// The layer tokens of a network with convolutions (empty for a dense
    /// network, which `sizes` describes alone; omitted from JSON then, so
    /// dense reports keep their shape).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<LayerSpec>,
}

impl NetSpec {
    /// A dense network of `sizes` (input first).
    pub fn dense(sizes: Vec<usize>, activation: Activation) -> Self {
        NetSpec {
            sizes,
            activation,
            stack: Vec::new(),
        }
    }

    /// Parses a layer description, e.g. `784,256,10` or
    /// `1x28x28,conv5x5x16,maxpool2,conv5x5x32s1p2,avgpool2,10`.
    pub fn parse(text: &str, activation: Activation) -> Result<Self, NetSpecError> {
        let stack = text
            .split(',')
            .enumerate()
            .map(|(i, t)| parse_token(t, i))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_stack(stack, activation)
    }

    /// Builds and validates a network from its tokens.
    pub fn from_stack(stack: Vec<LayerSpec>, activation: Activation) -> Result<Self, NetSpecError> {
        let (sizes, geoms) = shapes(&stack)?;
        let stack = if geoms.iter().any(Option::is_some) {
            stack
        } else {
            Vec::new()
        };
        Ok(NetSpec {
            sizes,
            activation,
            stack,
        })
    }

    /// A label per weight layer from its tokens: `conv5x5x16+maxpool2` for
    /// a conv layer with its pooling, the output size for a dense layer.
    pub fn layer_labels(&self) -> Vec<String> {
        if self.stack.is_empty() {
            return self.sizes.iter().skip(1).map(|n| n.to_string()).collect();
        }
        let mut labels: Vec<String> = Vec::new();
        for t in self.stack.iter().skip(1) {
            match t {
                LayerSpec::Pool { .. } | LayerSpec::Residual { .. } => {
                    if let Some(last) = labels.last_mut() {
                        last.push('+');
                        last.push_str(&t.to_string());
                    }
                }
                _ => labels.push(t.to_string()),
            }
        }
        labels
    }

    /// Number of weight layers.
    pub fn layers(&self) -> usize {
        self.sizes.len().saturating_sub(1)
    }
    /// Number of classes (the output size).
    pub fn classes(&self) -> usize {
        self.sizes.last().copied().unwrap_or(0)
    }
    /// Whether any layer is a convolution.
    pub fn has_conv(&self) -> bool {
        !self.stack.is_empty()
    }
    /// Whether the network has a residual block.
    pub fn has_residual(&self) -> bool {
        self.stack
            .iter()
            .any(|t| matches!(t, LayerSpec::Residual { .. }))
    }

    /// Checks the sizes as [`NetSpec::parse`] would: at least an input and
    /// one layer, every size nonzero and at most [`MAX_TENSOR_VALUES`], and
    /// every dense layer's weights and biases (`rows·cols + rows`) at most
    /// [`MAX_TENSOR_VALUES`]; for a CNN, the layer tokens are checked again
    /// and must give `sizes`. A dense network built with [`NetSpec::dense`]
    /// (from a JSON configuration, a sweep or `golden --layers`) is checked
    /// here only, so every path that runs a network calls this (through
    /// [`NetSpec::geometry`]). Errors name the offending size as the token.
    pub fn validate(&self) -> Result<(), NetSpecError> {
        self.geometry().map(|_| ())
    }

    /// Checks a dense network's sizes (see [`NetSpec::validate`]).
    fn validate_dense(&self) -> Result<(), NetSpecError> {
        if self.sizes.len() < 2 {
            return Err(err(
                &self.to_string(),
                None,
                "need an input and at least one layer, e.g. 784,10",
            ));
        }
        for (i, &n) in self.sizes.iter().enumerate() {
            let t = n.to_string();
            if n == 0 {
                return Err(err(&t, Some(i), "expected a size >= 1"));
            }
            bounded(&t, Some(i), Some(n as u128), |v| {
                if i == 0 {
                    format!("the input has {v} values")
                } else {
                    format!("the layer has {v} outputs")
                }
            })?;
            if i > 0 {
                check_dense_layer(&t, Some(i), self.sizes[i - 1], n)?;
            }
        }
        Ok(())
    }

    /// The conv geometry of each weight layer (`None` for dense layers),
    /// with the sizes validated ([`NetSpec::validate`]) and, for a CNN,
    /// checked against the layer tokens.
    pub fn geometry(&self) -> Result<Vec<Option<ConvGeom>>, NetSpecError> {
        if self.stack.is_empty() {
            self.validate_dense()?;
            return Ok(vec![None; self.layers()]);
        }
        let (sizes, geoms) = shapes(&self.stack)?;
        if sizes != self.sizes {
            return Err(err(
                &self.to_string(),
                None,
                format!(
                    "sizes {:?} do not match the layers, which give {sizes:?}",
                    self.sizes
                ),
            ));
        }
        Ok(geoms)
    }
}

impl fmt::Display for NetSpec {
    /// `784-256-10` for a dense network, the tokens joined by `,` for a CNN.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.stack.is_empty() {
            let s: Vec<String> = self.sizes.iter().map(|s| s.to_string()).collect();
            f.write_str(&s.join("-"))
        } else {
            let s: Vec<String> = self.stack.iter().map(|t| t.to_string()).collect();
            f.write_str(&s.join(","))
        }
    }
}

/// Sizes and per-weight-layer conv geometry of a token list.
#[allow(clippy::type_complexity)]
fn shapes(stack: &[LayerSpec]) -> Result<(Vec<usize>, Vec<Option<ConvGeom>>), NetSpecError> {
    let whole = stack
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(",");
    if stack.len() < 2 {
        return Err(err(
            &whole,
            None,
            "need an input and at least one layer, e.g. 784,10 or 1x28x28,conv5x5x8,maxpool2,10",
        ));
    }
    // The current map (c, h, w), or None once flattened.
    let mut map: Option<(usize, usize, usize)> = None;
    let mut sizes = Vec::new();
    let mut geoms: Vec<Option<ConvGeom>> = Vec::new();
    for (i, tok) in stack.iter().enumerate() {
        let t = tok.to_string();
        let at = Some(i);
        match *tok {
            LayerSpec::Input { c, h, w } if i == 0 => {
                let n = bounded(&t, at, product(&[c, h, w]), |v| {
                    format!("the input has {v} values")
                })?;
                map = Some((c, h, w));
                sizes.push(n);
            }
            LayerSpec::Dense(n) if i == 0 => {
                bounded(&t, at, Some(n as u128), |v| {
                    format!("the input has {v} values")
                })?;
                sizes.push(n);
            }
            LayerSpec::Input { .. } => {
                return Err(err(
                    &t,
                    at,
                    "an input shape CxHxW may only be the first token",
                ));
            }
            LayerSpec::Dense(n) => {
                bounded(&t, at, Some(n as u128), |v| {
                    format!("the layer has {v} outputs")
                })?;
                let cols = sizes.last().copied().unwrap_or(0);
                check_dense_layer(&t, at, cols, n)?;
                map = None;
                sizes.push(n);
                geoms.push(None);
            }
            LayerSpec::Conv {
                k,
                out,
                stride,
                pad,
                groups,
            } => {
                if i == 0 {
                    return Err(err(
                        &t,
                        at,
                        "the first token must be the input size or CxHxW",
                    ));
                }
                let Some((c, h, w)) = map else {
                    return Err(err(
                        &t,
                        at,
                        "a convolution needs a spatial input: start with CxHxW (e.g. 1x28x28) and put convolutions before dense layers",
                    ));
                };
                if !c.is_multiple_of(groups) || !out.is_multiple_of(groups) {
                    return Err(err(
                        &t,
                        at,
                        format!(
                            "{groups} groups must divide both the {c} input and the {out} output channels"
                        ),
                    ));
                }
                // Side arithmetic in u128: `n + 2·pad` of two `usize`s
                // cannot overflow there, nor can the output side.
                let side = |n: usize, what: &str| -> Result<u128, NetSpecError> {
                    let (n, k, pad, stride) = (n as u128, k as u128, pad as u128, stride as u128);
                    let padded = n + 2 * pad;
                    if k > padded {
                        return Err(err(
                            &t,
                            at,
                            format!(
                                "kernel {k} is larger than the input {what} {n} plus padding ({padded})"
                            ),
                        ));
                    }
                    // Floor, as PyTorch and ONNX: the last rows or columns a
                    // stride does not reach are read by no output.
                    Ok((padded - k) / stride + 1)
                };
                let (oh, ow) = (side(h, "height")?, side(w, "width")?);
                let positions = oh.checked_mul(ow);
                let conv_len = positions.and_then(|p| p.checked_mul(out as u128));
                let len = bounded(&t, at, conv_len, |v| {
                    format!("the convolution's output has {v} values")
                })?;
                // Both sides are factors of `len`, at most 2^48.
                let (oh, ow) = (oh as usize, ow as usize);
                let cg = c / groups;
                let patch = product(&[cg, k, k]);
                let weights = patch
                    .and_then(|p| p.checked_mul(out as u128))
                    .and_then(|m| m.checked_add(out as u128));
                bounded(&t, at, weights, |v| {
                    format!(
                        "the layer's {out} kernels of {cg}x{k}x{k} and {out} biases are {v} values"
                    )
                })?;
                // One position's patch over every channel, `c·k·k`.
                bounded(&t, at, product(&[c, k, k]), |v| {
                    format!("the layer's patch has {v} values")
                })?;
                let macs = patch.and_then(|p| p.checked_mul(len as u128));
                bounded(&t, at, macs, |v| {
                    format!("the layer has {v} multiply-accumulates per sample")
                })?;
                map = Some((out, oh, ow));
                sizes.push(len);
                geoms.push(Some(ConvGeom {
                    in_c: c,
                    in_h: h,
                    in_w: w,
                    k,
                    out_c: out,
                    stride,
                    pad,
                    groups,
                    out_h: oh,
                    out_w: ow,
                    pool: None,
                    pool_stride: 1,
                    pool_pad: 0,
                    skip: None,
                }));
            }
            LayerSpec::Residual { back, project } => {
                let after_conv =
                    matches!(stack.get(i.wrapping_sub(1)), Some(LayerSpec::Conv { .. }));
                let skip = residual_skip(&geoms, back, project, after_conv)
                    .map_err(|why| err(&t, at, why))?;
                let bound = skip
                    .projection
                    .and_then(|_| geoms.last().copied().flatten())
                    .map(|g| {
                        let w = product(&[g.out_c, skip.in_c + 1]);
                        let macs = product(&[g.out_c, skip.in_c, g.positions()]);
                        w.zip(macs).map(|(w, m)| w.max(m))
                    });
                if let Some(v) = bound {
                    bounded(&t, at, v, |v| {
                        format!("the projection's weights or MACs per sample are {v}")
                    })?;
                }
                if let Some(Some(g)) = geoms.last_mut() {
                    g.skip = Some(skip);
                }
            }
            LayerSpec::Pool {
                kind,
                n,
                stride,
                pad,
            } => {
                let prev = matches!(
                    stack.get(i.wrapping_sub(1)),
                    Some(LayerSpec::Conv { .. } | LayerSpec::Residual { .. })
                );
                let g = match geoms.last_mut() {
                    Some(Some(g)) if prev => g,
                    _ => {
                        return Err(err(&t, at, "pooling must directly follow a convolution"));
                    }
                };
                g.pool = Some((kind, n));
                g.pool_stride = stride;
                g.pool_pad = pad;
                if !g.fused_pool() || n > g.out_h || n > g.out_w {
                    if g.out_h + 2 * pad < n || g.out_w + 2 * pad < n {
                        return Err(err(
                            &t,
                            at,
                            format!(
                                "the {n}x{n} window is larger than the {}x{} conv output plus padding",
                                g.out_h, g.out_w
                            ),
                        ));
                    }
                } else if !g.out_h.is_multiple_of(n) || !g.out_w.is_multiple_of(n) {
                    return Err(err(
                        &t,
                        at,
                        format!(
                            "non-integer output size: the {}x{} conv output does not divide into {n}x{n} windows",
                            g.out_h, g.out_w
                        ),
                    ));
                }
                g.pool = Some((kind, n));
                map = Some((g.out_c, g.pooled_h(), g.pooled_w()));
                if let Some(last) = sizes.last_mut() {
                    *last = g.out_len();
                }
            }
        }
    }
    if !matches!(stack.last(), Some(LayerSpec::Dense(_))) {
        return Err(err(
            &stack.last().map(|t| t.to_string()).unwrap_or_default(),
            Some(stack.len() - 1),
            "the last layer must be dense (its size is the number of classes)",
        ));
    }
    Ok((sizes, geoms))
}

/// The skip path of a `resN[p]` token after weight layer `geoms.len() − 1`
/// (`after_conv`: the token directly follows that layer's conv token), or
/// why there is none.
fn residual_skip(
    geoms: &[Option<ConvGeom>],
    back: usize,
    project: bool,
    after_conv: bool,
) -> Result<Skip, String> {
    let j = geoms.len().wrapping_sub(1);
    let end = match geoms.last() {
        Some(Some(g)) if after_conv => *g,
        _ => {
            return Err(
                "a residual block must end right after a convolution (before its pooling)".into(),
            );
        }
    };
    if back > j {
        return Err(format!(
            "the block would start at weight layer {} (counting from 1); a block starts at layer 2 or later, its input being a layer's output",
            j as i64 + 2 - back as i64
        ));
    }
    let b = j + 1 - back;
    if let Some(k) = (b..=j).find(|&k| geoms[k].is_none()) {
        return Err(format!(
            "weight layer {} inside the block is not a convolution",
            k + 1
        ));
    }
    // A block ending before `b` started before it too (`from <= k`): only
    // one ending inside this block's layers overlaps it.
    if let Some(k) = (b..j).find(|&k| geoms[k].and_then(|g| g.skip).is_some()) {
        return Err(format!(
            "the block (weight layers {}..={}) overlaps the block ending at weight layer {}: blocks follow one another",
            b + 1,
            j + 1,
            k + 1
        ));
    }
    let start = geoms[b].unwrap_or(end);
    let (c, h, w) = (start.in_c, start.in_h, start.in_w);
    let mut skip = Skip {
        from: b,
        in_c: c,
        in_h: h,
        in_w: w,
        projection: None,
    };
    let out = (end.out_c, end.out_h, end.out_w);
    if !project {
        if (c, h, w) != out {
            return Err(format!(
                "the block's input {c}x{h}x{w} and its output {}x{}x{} differ: add a projection (resNp)",
                out.0, out.1, out.2
            ));
        }
        return Ok(skip);
    }
    // The smallest stride whose 1x1 output matches the conv's.
    let stride = h.div_ceil(end.out_h).max(1);
    skip.projection = Some(stride);
    let g = skip.projection_geom(&end).unwrap_or(end);
    if (g.out_h, g.out_w) != (end.out_h, end.out_w) {
        return Err(format!(
            "no 1x1 projection stride maps the block's {h}x{w} input onto its {}x{} output",
            end.out_h, end.out_w
        ));
    }
    Ok(skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<NetSpec, NetSpecError> {
        NetSpec::parse(s, Activation::Relu)
    }

    #[test]
    fn residual_blocks_follow_one_another() {
        let base = "1x8x8,conv3x3x4p1,conv3x3x4p1,conv3x3x4p1,res2,conv3x3x4p1";
        assert!(parse(&format!("{base},res1,4")).is_ok());
        let e = parse(&format!("{base},res2,4")).unwrap_err();
        assert!(
            e.why
                .contains("overlaps the block ending at weight layer 3"),
            "{e}"
        );
        assert!(parse("1x8x8,conv3x3x4p1,conv3x3x4p1,res1,res1,4").is_err());
    }

    #[test]
    fn dense_text_is_a_plain_dense_net() {
        let n = parse("784,256,10").unwrap();
        assert_eq!(n, NetSpec::dense(vec![784, 256, 10], Activation::Relu));
        assert_eq!(n.to_string(), "784-256-10");
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(json, r#"{"sizes":[784,256,10],"activation":"relu"}"#);
    }

    #[test]
    fn cnn_sizes_and_geometry() {
        let n = parse("1x28x28,conv5x5x16,maxpool2,conv5x5x32,maxpool2,10").unwrap();
        // 28-5+1 = 24 -> 12; 12-5+1 = 8 -> 4.
        assert_eq!(n.sizes, vec![784, 16 * 12 * 12, 32 * 4 * 4, 10]);
        let g = n.geometry().unwrap();
        let g1 = g[1].unwrap();
        assert_eq!((g1.in_c, g1.in_h, g1.out_h, g1.pooled_h()), (16, 12, 8, 4));
        assert_eq!(g1.patch_len(), 16 * 25);
        assert_eq!(g[2], None);
        assert_eq!(g1.pool_tensor(), (512, 2));
        // (9 + 2 - 3)/2 + 1 = 5 does not divide into 2x2 windows.
        assert!(parse("2x9x9,conv3x3x4s2p1,avgpool2,7").is_err());
        let s = parse("2x9x9,conv3x3x4s2p1,7").unwrap();
        assert_eq!(s.sizes, vec![162, 4 * 5 * 5, 7]);
    }

    #[test]
    fn stride_padding_and_round_trip() {
        let n = parse("3x10x10,conv3x3x4s1p1,avgpool2,conv3x3x2s2p1,5").unwrap();
        // 10 -> 10 (pad 1) -> pool 2 -> 5; (5 + 2 - 3)/2 + 1 = 3.
        assert_eq!(n.sizes, vec![300, 4 * 5 * 5, 2 * 3 * 3, 5]);
        assert_eq!(
            n.to_string(),
            "3x10x10,conv3x3x4p1,avgpool2,conv3x3x2s2p1,5"
        );
        let json = serde_json::to_string(&n).unwrap();
        let back: NetSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, n);
        assert_eq!(back.geometry().unwrap()[0].unwrap().avg_scale(), (1, 2));
        // Groups, a floor stride and an overlapping padded max pool: 11 ->
        // (11 - 3)/2 + 1 = 5 -> (5 + 2 - 3)/2 + 1 = 3; a 7x7 average by a
        // reciprocal, round(2^16/49) = 1337.
        let n = parse("4x11x11,conv3x3x8s2g4,maxpool3s2p1,conv1x1x8,avgpool3,5").unwrap();
        assert_eq!(n.sizes, vec![484, 8 * 3 * 3, 8, 5]);
        assert_eq!(
            n.to_string(),
            "4x11x11,conv3x3x8s2g4,maxpool3s2p1,conv1x1x8,avgpool3,5"
        );
        let g = n.geometry().unwrap();
        let (g0, g1) = (g[0].unwrap(), g[1].unwrap());
        assert_eq!(
            (g0.patch_len(), g0.in_patch_len(), g0.fused_pool()),
            (9, 36, false)
        );
        assert_eq!(g0.window_position(0, 0, 0), None);
        assert_eq!(g0.window_position(0, 0, 4), Some((0, 0)));
        assert_eq!(g1.avg_scale(), (7282, 16));
        let gap = parse("1x9x9,conv3x3x2,avgpool7,3").unwrap();
        assert_eq!(gap.geometry().unwrap()[0].unwrap().avg_scale(), (1337, 16));
    }

    #[test]
    fn errors_name_the_token() {
        for (text, token, why) in [
            (
                "1x4x4,conv5x5x2,3",
                "conv5x5x2",
                "larger than the input height 4",
            ),
            (
                "1x8x8,conv3x3x2,avgpool4,3",
                "avgpool4",
                "non-integer output size",
            ),
            (
                "1x6x6,conv3x3x2,maxpool3,3",
                "maxpool3",
                "non-integer output size",
            ),
            ("1x8x8,conv3x5x2,3", "conv3x5x2", "square"),
            (
                "1x8x8,conv3x3x2,avgpool3s2,3",
                "avgpool3s2",
                "tiles its map",
            ),
            (
                "1x8x8,conv3x3x2,maxpool3s2p3,3",
                "maxpool3s2p3",
                "padding 3",
            ),
            (
                "1x8x8,conv3x3x2,maxpool3x,3",
                "maxpool3x",
                "expected maxpoolN",
            ),
            (
                "1x8x8,conv7x7x2,maxpool5s1p1,3",
                "maxpool5s1p1",
                "larger than the 2x2",
            ),
            ("784,conv3x3x2,10", "conv3x3x2", "spatial input"),
            (
                "1x8x8,maxpool2,10",
                "maxpool2",
                "directly follow a convolution",
            ),
            ("1x8x8,conv3x3x2", "conv3x3x2", "last layer must be dense"),
            (
                "1x8x8,conv3x3x2,12,conv3x3x2,4",
                "conv3x3x2",
                "spatial input",
            ),
            ("1x8x8,conv3x3x0,4", "conv3x3x0", "expected convKxKxC"),
            ("1x8x8,conv3x3x2p3,4", "conv3x3x2p3", "padding 3"),
            ("784,0,10", "0", "expected a size"),
            ("784", "784", "need an input"),
            ("784,1x2x2", "1x2x2", "first token"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(&format!("`{token}`")), "{text}: {e}");
            assert!(e.contains(why), "{text}: want {why:?} in {e}");
        }
    }

    #[test]
    fn sizes_past_the_limit_are_refused_not_wrapped() {
        let big = u64::MAX.to_string();
        let cases = [
            // 2^64 values: wrapped to 0 before.
            (
                "1x4294967296x4294967296,10".to_string(),
                "1x4294967296x4294967296",
                "the input has 18446744073709551616 values (more than 2^48)",
            ),
            (
                format!("{big}x{big}x{big},10"),
                "`18446744073709551615x18446744073709551615x18446744073709551615` (token 1)",
                "more than 2^128 values",
            ),
            (
                "4294967296,4294967296,10".to_string(),
                "4294967296` (token 2)",
                "biases are 18446744078004518912 values",
            ),
            (
                format!("16,{big},4"),
                "18446744073709551615` (token 2)",
                "the layer has 18446744073709551615 outputs",
            ),
            // 2^48 + 1 outputs; 2^48 is the largest size allowed.
            (
                "1,281474976710657".to_string(),
                "281474976710657",
                "more than 2^48",
            ),
            // Padding that wrapped `n + 2·pad` before.
            (
                format!("1x1x1,conv{big}x{big}x1p9223372036854775808,10"),
                "p9223372036854775808",
                "biases are 340282366920938463426481119284349108226 values",
            ),
            // 2^24 kernels of 2^24·3·3 values: 9·2^48 weights, while the
            // maps (9·2^24 and 2^24 values) are small.
            (
                "16777216x3x3,conv3x3x16777216,10".to_string(),
                "conv3x3x16777216",
                "16777216 kernels of 16777216x3x3 and 16777216 biases",
            ),
            // MACs past the limit with weights and maps within it:
            // 2^20 positions x 2^15·1 x 2^14 kernels = 2^49.
            (
                "32768x1024x1024,conv1x1x16384,10".to_string(),
                "conv1x1x16384",
                "multiply-accumulates per sample",
            ),
        ];
        for (text, token, why) in cases {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.contains(token), "{text}: want {token:?} in {e}");
            assert!(e.contains(why), "{text}: want {why:?} in {e}");
        }
        // At the limit exactly, and dense networks built from sizes.
        let at = 1u64 << 47;
        assert!(parse(&format!("1,{at}")).is_ok());
        let dense = NetSpec::dense(vec![4_294_967_296, 4_294_967_296, 10], Activation::Relu);
        let e = dense.validate().unwrap_err().to_string();
        assert!(e.contains("`4294967296` (token 2)"), "{e}");
        assert!(e.contains("more than 2^48"), "{e}");
        assert_eq!(dense.geometry().unwrap_err().to_string(), e);
        let zero = NetSpec::dense(vec![16, 0, 4], Activation::Relu);
        assert!(zero.validate().unwrap_err().to_string().contains("`0`"));
        assert!(
            NetSpec::dense(vec![784, 256, 10], Activation::Relu)
                .validate()
                .is_ok()
        );
    }
}
