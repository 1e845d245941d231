//! Golden vectors and memory images of the first training steps of a run,
//! for RTL designers (`locus trace golden`; `docs/formats.md`, "Golden
//! vectors and memory images").
//!
//! For every step (one sample) and every layer, the values the layer reads
//! and produces are written as `$readmemh` images (one two's-complement hex
//! word per line), with a `manifest.json` that lists every file (shape,
//! format, layout) and, with `docs/arithmetic.md`, specifies the datapath
//! completely: formats, rounding and overflow of every requantisation, their
//! shifts, the accumulator, the learning-rate shift and the LFSR with its
//! seed and draw order.
//!
//! The values come from the real [`Chip`] with a [`FixedDatapath`], stepped
//! sample by sample through the local rule's primitives in the order of
//! [`crate::rules::local::train_sample`], with snapshots between the
//! primitives. What the chip does not expose (accumulator values,
//! pre-activations before the activation function, classifier outputs,
//! update values) is recomputed here from the snapshots by a plain
//! element-by-element implementation of the contract, replaying the LFSR
//! from the recorded states; every value the chip does expose (outputs,
//! errors, updated weights, LFSR states, overflow counters) must equal the
//! recomputation, or nothing is written and [`GoldenError::Inconsistent`]
//! says where they differ. A second chip trained with [`Rule::train_batch`]
//! on the same samples must end each step with the same weights, LFSR state,
//! overflow counters and access counts.
//!
//! Output directory: everything is written into a temporary directory beside
//! `out`, which is renamed to `out` only when complete. An existing `out` is
//! replaced only if it is empty or was written by `locus trace golden` (its
//! `manifest.json` says so); anything else is refused.

use crate::data::{Dataset, epoch_order};
use crate::hw::core::{Chip, ChipError, NetSpec};
use crate::hw::counters::Phase;
use crate::hw::datapath::{Activation, Datapath, DatapathError, FixedDatapath, OverflowByClass};
use crate::hw::model::{HwModel, RomStorage, TensorClass, TensorFormat};
use crate::output::{OutputError, write_atomic};
use crate::quant::{
    AccFormat, LFSR_MASK, Lfsr, Overflow, OverflowEvent, OverflowStats, Raw, Rounding,
    reference_requantize,
};
use crate::rules::Rule;
use crate::sim::{SimError, lr_shift};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Name of the manifest in the output directory.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's `generator` field; an existing output directory whose
/// manifest has it may be replaced.
pub const GENERATOR: &str = "locus trace golden";
/// Version of the directory layout and manifest schema.
pub const FORMAT_VERSION: u32 = 1;

/// What to record: the run whose first `steps` training steps are written.
#[derive(Clone, Debug, PartialEq)]
pub struct GoldenConfig {
    /// Network shape and hidden activation.
    pub net: NetSpec,
    /// Learning rule (only [`Rule::Local`] is supported).
    pub rule: Rule,
    /// Seed of initialisation, classifier ROMs and the sample order (as `locus train --seed`).
    pub seed: u64,
    /// Learning rate, realised as `2^-lr_shift` ([`crate::sim::lr_shift`]).
    pub lr: f64,
    /// Training steps (samples) to record, at least 1.
    pub steps: usize,
}

/// Why golden vectors could not be written; names the value, field or path.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// A configuration value out of range.
    #[error("{field} = {value}: {why}")]
    Config {
        /// The option.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        why: String,
    },
    /// The network cannot be mapped onto the chip.
    #[error(transparent)]
    Chip(#[from] ChipError),
    /// The datapath cannot realise the formats or learning rate.
    #[error(transparent)]
    Datapath(#[from] DatapathError),
    /// A file-system operation on the output failed.
    #[error("{}: {what}: {cause}", .path.display())]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The underlying error.
        cause: io::Error,
    },
    /// Writing one file failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The output path exists and is not a directory.
    #[error("{}: exists and is not a directory", .path.display())]
    NotADirectory {
        /// The output path.
        path: PathBuf,
    },
    /// An ancestor of the output path is a file, not a directory.
    #[error("{}: cannot create it: {} is not a directory", .path.display(), .parent.display())]
    ParentNotADirectory {
        /// The output path.
        path: PathBuf,
        /// The ancestor that is not a directory.
        parent: PathBuf,
    },
    /// The output directory holds files not written by this command.
    #[error(
        "{}: directory is not empty and has no {MANIFEST} written by `{GENERATOR}`; refusing to overwrite it (remove it or choose another --out)",
        .path.display()
    )]
    NotOurs {
        /// The output directory.
        path: PathBuf,
    },
    /// The chip computed a value the arithmetic contract does not give (a
    /// bug in locus, not in the input).
    #[error(
        "internal check failed at step {step}, layer {layer}, {tensor}[{index}]: the chip computed {chip} but the arithmetic contract (docs/arithmetic.md) gives {reference}"
    )]
    Inconsistent {
        /// Training step.
        step: usize,
        /// Layer.
        layer: usize,
        /// Which value.
        tensor: String,
        /// Element index (row-major).
        index: usize,
        /// What the chip computed.
        chip: i64,
        /// What the element-by-element recomputation gives.
        reference: i64,
    },
}

impl From<SimError> for GoldenError {
    fn from(e: SimError) -> Self {
        match e {
            SimError::Chip(c) => GoldenError::Chip(c),
            SimError::Datapath(d) => GoldenError::Datapath(d),
            SimError::Config { field, value, why } => GoldenError::Config { field, value, why },
            SimError::Count(c) => GoldenError::Config {
                field: "counts",
                value: c.counter.clone(),
                why: c.to_string(),
            },
        }
    }
}

/// One tensor of a layer's step: its values as raw integers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    /// File stem, e.g. `w_before` (written as `w_before.hex`).
    pub name: &'static str,
    /// `weight`, `activation`, `error`, `update`, `classifier`,
    /// `accumulator`, `lfsr` or `meta`.
    pub class: &'static str,
    /// Dimensions, outermost first (row-major).
    pub shape: Vec<usize>,
    /// Width of one word in bits (two's complement unless `signed` is false).
    pub bits: u32,
    /// Fractional bits of the raw values.
    pub frac: u32,
    /// Whether the words are two's-complement signed (LFSR states, counts
    /// and meta words are unsigned).
    pub signed: bool,
    /// Raw values, row-major.
    pub values: Vec<i64>,
}

impl Tensor {
    /// The word of `v`, two's complement in `bits` bits, `ceil(bits/4)`
    /// lowercase hex digits (unused high bits of the top digit are zero).
    pub fn hex_word(v: i64, bits: u32) -> String {
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        format!("{:0w$x}", (v as u64) & mask, w = bits.div_ceil(4) as usize)
    }

    /// The `$readmemh` text: one word per line.
    pub fn hex_text(&self) -> String {
        let mut s = String::with_capacity(self.values.len() * (self.bits.div_ceil(4) as usize + 1));
        for &v in &self.values {
            s.push_str(&Self::hex_word(v, self.bits));
            s.push('\n');
        }
        s
    }
}

/// Overflow events of one layer in one step, by phase and class (each the
/// sum of `saturated_high`, `saturated_low` and `wrapped` is also written to
/// `ovf.hex`, in this field order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LayerOverflow {
    /// Accumulator additions of the forward mat-vec (products and bias).
    pub forward_accumulator: OverflowStats,
    /// Pre-activations requantised into the activation format.
    pub activation: OverflowStats,
    /// Accumulator additions of the error computation (classifier mat-vecs).
    pub error_accumulator: OverflowStats,
    /// Values requantised or fitted into the error format.
    pub error: OverflowStats,
    /// Update values requantised into the update format.
    pub update: OverflowStats,
    /// Weights and biases written back into the weight format.
    pub weight: OverflowStats,
}

impl LayerOverflow {
    fn totals(&self) -> [u64; 6] {
        [
            self.forward_accumulator.total(),
            self.activation.total(),
            self.error_accumulator.total(),
            self.error.total(),
            self.update.total(),
            self.weight.total(),
        ]
    }
}

/// LFSR draws of one layer in one step, by phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LayerDraws {
    /// Forward: one per pre-activation when activations round stochastically.
    pub forward: u64,
    /// Error: one per classifier output and per error element (hidden
    /// layers) or per output element (last layer), when errors round stochastically.
    pub error: u64,
    /// Update: one per weight and bias for a stochastic update format, and
    /// one more each for a stochastic weight write-back when `k > 0`.
    pub update: u64,
}

/// What one layer read and produced in one step.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerStep {
    /// Layer index.
    pub layer: usize,
    /// Outputs.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// Whether this is the (linear) output layer.
    pub output: bool,
    /// The tensors, in file order.
    pub tensors: Vec<Tensor>,
    /// LFSR state before the forward step, before the error, before the
    /// update and after the update.
    pub lfsr: [u32; 4],
    /// Draws per phase.
    pub draws: LayerDraws,
    /// Overflow events per phase and class.
    pub overflow: LayerOverflow,
}

/// One training step (one sample).
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    /// Step index, from 0.
    pub step: usize,
    /// Index of the sample in the training set.
    pub sample: usize,
    /// Its label.
    pub label: usize,
    /// Every layer, in order.
    pub layers: Vec<LayerStep>,
}

/// The recorded steps, checked against the contract and against
/// [`Rule::train_batch`].
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    /// `lr = 2^-lr_shift`.
    pub lr_shift: u32,
    /// The steps.
    pub steps: Vec<StepRecord>,
    /// Overflow events of the datapath over all recorded steps.
    pub overflow: OverflowByClass,
    /// LFSR draws of the datapath over all recorded steps.
    pub lfsr_draws: u64,
    /// Per layer, the classifier scale `k` (entries `±2^-k`), hidden layers only.
    pub classifier_shift: Vec<Option<u32>>,
}

/// What [`write_golden`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct GoldenSummary {
    /// The output directory.
    pub out: PathBuf,
    /// Files written, the manifest included.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Steps recorded.
    pub steps: usize,
    /// Layers per step.
    pub layers: usize,
    /// `lr = 2^-lr_shift`.
    pub lr_shift: u32,
    /// Overflow events of the datapath over the recorded steps.
    pub overflow: OverflowByClass,
    /// LFSR draws over the recorded steps.
    pub lfsr_draws: u64,
    /// The `iverilog` parameters of the replay bench for these formats
    /// (`-Ptb_layer.NAME=VALUE`).
    pub verilog_parameters: BTreeMap<&'static str, i64>,
}

/// Records the first `config.steps` training steps (samples in the order of
/// `epoch_order(train.len(), seed, 0)`, as `locus train --seed` with batch 1
/// trains them) and writes them to `out`.
pub fn write_golden(
    model: &HwModel,
    config: &GoldenConfig,
    train: &Dataset,
    out: &Path,
) -> Result<GoldenSummary, GoldenError> {
    check_out(out)?;
    let rec = record(model, config, train)?;
    let files = render(model, config, train, &rec)?;
    let bytes = files.iter().map(|(_, t)| t.len() as u64).sum();
    write_dir(out, &files)?;
    Ok(GoldenSummary {
        out: out.to_path_buf(),
        files: files.len(),
        bytes,
        steps: rec.steps.len(),
        layers: config.net.layers(),
        lr_shift: rec.lr_shift,
        overflow: rec.overflow,
        lfsr_draws: rec.lfsr_draws,
        verilog_parameters: verilog_parameters(model, &rec, config),
    })
}

/// Records the steps in memory without writing anything (see [`write_golden`]).
pub fn record(
    model: &HwModel,
    config: &GoldenConfig,
    train: &Dataset,
) -> Result<Recording, GoldenError> {
    let shift = check_config(config, train)?;
    let order = epoch_order(train.len(), config.seed, 0);
    let order = &order[..config.steps];
    let widest = TensorClass::ALL
        .iter()
        .map(|c| model.format(*c).bits)
        .max()
        .unwrap_or(32);
    if widest <= 16 {
        record_with::<i16>(model, config, train, order, shift)
    } else {
        record_with::<i32>(model, config, train, order, shift)
    }
}

fn check_config(config: &GoldenConfig, train: &Dataset) -> Result<u32, GoldenError> {
    let bad = |field, value: String, why: String| Err(GoldenError::Config { field, value, why });
    if config.rule != Rule::Local {
        return bad(
            "rule",
            config.rule.label(),
            "golden vectors are written for the local rule only".into(),
        );
    }
    if config.steps == 0 {
        return bad("steps", "0".into(), "must be at least 1".into());
    }
    if config.net.activation == Activation::LeakyRelu {
        return bad(
            "activation",
            "leaky-relu".into(),
            "golden vectors are written for relu and hard-tanh only".into(),
        );
    }
    if config.net.has_conv() {
        return bad(
            "layers",
            config.net.to_string(),
            "golden vectors are written for dense networks only (no convolution layers)".into(),
        );
    }
    if config.steps > train.len() {
        return bad(
            "steps",
            config.steps.to_string(),
            format!(
                "more than the {} training samples of {}",
                train.len(),
                train.name
            ),
        );
    }
    crate::sim::check_network(&config.net, train, train.num_classes)?;
    Ok(lr_shift(config.lr)?.0)
}

// ---------------------------------------------------------------------------
// The contract, element by element (docs/arithmetic.md)
// ---------------------------------------------------------------------------

/// The formats and shifts of one datapath, and a plain per-element
/// implementation of every operation of a local-rule training step.
#[derive(Clone, Copy, Debug)]
struct Contract {
    w: TensorFormat,
    a: TensorFormat,
    e: TensorFormat,
    u: TensorFormat,
    c: TensorFormat,
    acc: AccFormat,
    lr_shift: u32,
    act: Activation,
}

/// Accumulator and requantisation events of one phase.
#[derive(Default)]
struct Events {
    acc: OverflowStats,
    dst: OverflowStats,
    dst2: OverflowStats,
    draws: u64,
}

fn count(ev: OverflowEvent, policy: Overflow, st: &mut OverflowStats) {
    match (ev, policy) {
        (OverflowEvent::None, _) => {}
        (_, Overflow::Wrap) => st.wrapped += 1,
        (OverflowEvent::High, Overflow::Saturate) => st.saturated_high += 1,
        (OverflowEvent::Low, Overflow::Saturate) => st.saturated_low += 1,
    }
}

impl Contract {
    fn new(model: &HwModel, lr_shift: u32, act: Activation) -> Self {
        let f = &model.formats;
        Contract {
            w: f.weight,
            a: f.activation,
            e: f.error,
            u: f.update,
            c: f.classifier,
            acc: f.accumulator,
            lr_shift,
            act,
        }
    }

    fn fr(t: TensorFormat) -> i32 {
        t.frac as i32
    }
    /// Forward: accumulator (`w.frac + a.frac`) → activation.
    fn s_forward(&self) -> i32 {
        Self::fr(self.w) + Self::fr(self.a) - Self::fr(self.a)
    }
    /// Classifier projection: accumulator (`c.frac + a.frac`) → error.
    fn s_classify(&self) -> i32 {
        Self::fr(self.c) + Self::fr(self.a) - Self::fr(self.e)
    }
    /// Classifier transpose: accumulator (`c.frac + e.frac`) → error.
    fn s_classifier_back(&self) -> i32 {
        Self::fr(self.c) + Self::fr(self.e) - Self::fr(self.e)
    }
    /// Output error: activation → error.
    fn s_output_error(&self) -> i32 {
        Self::fr(self.a) - Self::fr(self.e)
    }
    /// Update: product `e·x` (`e.frac + a.frac`), times `2^-lr_shift` → update.
    fn s_update(&self) -> i32 {
        Self::fr(self.e) + Self::fr(self.a) + self.lr_shift as i32 - Self::fr(self.u)
    }
    /// Write-back: `w·2^k − Δ` (`u.frac` fractional bits) → weight.
    fn k_write_back(&self) -> i32 {
        Self::fr(self.u) - Self::fr(self.w)
    }
    /// The bias's input, 1.0 in the activation's fractional bits (not
    /// saturated: `2^a.frac` even when it exceeds the activation range).
    fn one_act(&self) -> i64 {
        1i64 << self.a.frac
    }

    /// One accumulator addition, per-step overflow, in `i128`.
    fn acc_add(&self, acc: i64, p: i64, st: &mut OverflowStats) -> i64 {
        let bits = self.acc.bits;
        let (min, max) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
        let v = acc as i128 + p as i128;
        if v > max {
            count(OverflowEvent::High, self.acc.overflow, st);
        } else if v < min {
            count(OverflowEvent::Low, self.acc.overflow, st);
        }
        let r = match self.acc.overflow {
            Overflow::Saturate => v.clamp(min, max),
            Overflow::Wrap => {
                let m = 1i128 << bits;
                let w = v.rem_euclid(m);
                if w > max { w - m } else { w }
            }
        };
        r as i64
    }

    /// Requantises `x` by `shift` into `t`, drawing the LFSR once if `t`
    /// rounds stochastically.
    fn rq(&self, x: i64, shift: i32, t: TensorFormat, lfsr: &mut Lfsr, ev: &mut Events) -> i64 {
        self.rq_into(x, shift, t, lfsr, &mut ev.dst, &mut ev.draws)
    }

    fn rq_into(
        &self,
        x: i64,
        shift: i32,
        t: TensorFormat,
        lfsr: &mut Lfsr,
        st: &mut OverflowStats,
        draws: &mut u64,
    ) -> i64 {
        let u = if t.rounding == Rounding::Stochastic {
            *draws += 1;
            lfsr.next_state()
        } else {
            0
        };
        let (v, e) = reference_requantize(x, shift, t.qformat(), t.rounding, t.overflow, u);
        count(e, t.overflow, st);
        v as i64
    }

    /// The overflow policy of `t` only: no shift, no rounding, no draw.
    fn fit(&self, x: i64, t: TensorFormat, st: &mut OverflowStats) -> i64 {
        let (v, e) = reference_requantize(x, 0, t.qformat(), Rounding::Truncate, t.overflow, 0);
        count(e, t.overflow, st);
        v as i64
    }

    fn one(&self) -> i64 {
        self.one_act().min(self.a.qformat().max_raw() as i64)
    }

    fn activate(&self, v: i64) -> i64 {
        match self.act {
            Activation::Relu => v.max(0),
            Activation::HardTanh => v.clamp(-self.one(), self.one()),
            Activation::LeakyRelu => unreachable!("golden vectors refuse leaky ReLU"),
        }
    }

    fn active(&self, h: i64) -> bool {
        match self.act {
            Activation::Relu => h > 0,
            Activation::HardTanh => h > -self.one() && h < self.one(),
            Activation::LeakyRelu => unreachable!("golden vectors refuse leaky ReLU"),
        }
    }

    /// Forward mat-vec: `(acc, pre, h)`; products in index order, the bias
    /// (`b << a.frac`) added last, requantised row by row.
    fn forward(
        &self,
        w: &[i64],
        b: &[i64],
        x: &[i64],
        output: bool,
        lfsr: &mut Lfsr,
        ev: &mut Events,
    ) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
        let cols = x.len();
        let (mut acc, mut pre, mut h) = (vec![], vec![], vec![]);
        for (i, &bi) in b.iter().enumerate() {
            let mut s = 0i64;
            for j in 0..cols {
                s = self.acc_add(s, w[i * cols + j] * x[j], &mut ev.acc);
            }
            s = self.acc_add(s, bi << self.a.frac, &mut ev.acc);
            let p = self.rq(s, self.s_forward(), self.a, lfsr, ev);
            acc.push(s);
            pre.push(p);
            h.push(if output { p } else { self.activate(p) });
        }
        (acc, pre, h)
    }

    /// Local error of a hidden layer from its classifier `m` (`classes ×
    /// rows`): `(yhat_acc, yhat, e_acc, e)`.
    #[allow(clippy::type_complexity)]
    fn local_error(
        &self,
        m: &[i64],
        h: &[i64],
        label: usize,
        lfsr: &mut Lfsr,
        ev: &mut Events,
    ) -> (Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>) {
        let rows = h.len();
        let classes = m.len() / rows;
        let (mut yacc, mut yhat) = (vec![], vec![]);
        for k in 0..classes {
            let mut s = 0i64;
            for j in 0..rows {
                s = self.acc_add(s, m[k * rows + j] * h[j], &mut ev.acc);
            }
            yacc.push(s);
            yhat.push(self.rq(s, self.s_classify(), self.e, lfsr, ev));
        }
        let mut d = yhat.clone();
        d[label] = self.fit(d[label] - (1i64 << self.e.frac), self.e, &mut ev.dst);
        let (mut eacc, mut e) = (vec![], vec![]);
        for j in 0..rows {
            let mut s = 0i64;
            for k in 0..classes {
                s = self.acc_add(s, m[k * rows + j] * d[k], &mut ev.acc);
            }
            eacc.push(s);
            let r = self.rq(s, self.s_classifier_back(), self.e, lfsr, ev);
            e.push(if self.active(h[j]) { r } else { 0 });
        }
        (yacc, yhat, eacc, e)
    }

    /// Output error `e = requant(h) − onehot(label)`: `(yhat, e)` where
    /// `yhat` is `h` in the error format.
    fn output_error(
        &self,
        h: &[i64],
        label: usize,
        lfsr: &mut Lfsr,
        ev: &mut Events,
    ) -> (Vec<i64>, Vec<i64>) {
        let yhat: Vec<i64> = h
            .iter()
            .map(|&v| self.rq(v, self.s_output_error(), self.e, lfsr, ev))
            .collect();
        let mut e = yhat.clone();
        e[label] = self.fit(e[label] - (1i64 << self.e.frac), self.e, &mut ev.dst);
        (yhat, e)
    }

    /// Outer-product update of `[W | b]` row-major: `(upd, w_after, b_after)`
    /// with `upd` of shape `rows × (cols + 1)` (the bias last). `ev.dst`
    /// counts update events, `ev.dst2` weight events.
    fn update(
        &self,
        w: &[i64],
        b: &[i64],
        e: &[i64],
        x: &[i64],
        lfsr: &mut Lfsr,
        ev: &mut Events,
    ) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
        let cols = x.len();
        let k = self.k_write_back();
        let (mut upd, mut w1, mut b1) = (vec![], vec![], vec![]);
        for (i, &ei) in e.iter().enumerate() {
            for j in 0..=cols {
                let (wij, xj) = if j < cols {
                    (w[i * cols + j], x[j])
                } else {
                    (b[i], self.one_act())
                };
                let delta = self.rq_into(
                    ei * xj,
                    self.s_update(),
                    self.u,
                    lfsr,
                    &mut ev.dst,
                    &mut ev.draws,
                );
                let v = (wij << k) - delta;
                let nw = if k == 0 {
                    self.fit(v, self.w, &mut ev.dst2)
                } else {
                    self.rq_into(v, k, self.w, lfsr, &mut ev.dst2, &mut ev.draws)
                };
                upd.push(delta);
                if j < cols {
                    w1.push(nw);
                } else {
                    b1.push(nw);
                }
            }
        }
        (upd, w1, b1)
    }
}

// ---------------------------------------------------------------------------
// Recording
// ---------------------------------------------------------------------------

fn raw<V: Raw>(v: &[V]) -> Vec<i64> {
    v.iter().map(|x| x.to_i64()).collect()
}

fn minus(a: OverflowStats, b: OverflowStats) -> OverflowStats {
    OverflowStats {
        saturated_high: a.saturated_high - b.saturated_high,
        saturated_low: a.saturated_low - b.saturated_low,
        wrapped: a.wrapped - b.wrapped,
    }
}

/// Compares what the chip exposed with the recomputation.
struct Checker {
    step: usize,
    layer: usize,
}

impl Checker {
    fn values(&self, tensor: &str, chip: &[i64], reference: &[i64]) -> Result<(), GoldenError> {
        let n = chip.len().max(reference.len());
        for index in 0..n {
            let (c, r) = (chip.get(index), reference.get(index));
            if c != r {
                return Err(self.fail(tensor, index, c.copied(), r.copied()));
            }
        }
        Ok(())
    }

    fn stats(
        &self,
        what: &str,
        chip: OverflowStats,
        reference: OverflowStats,
    ) -> Result<(), GoldenError> {
        let c = [chip.saturated_high, chip.saturated_low, chip.wrapped];
        let r = [
            reference.saturated_high,
            reference.saturated_low,
            reference.wrapped,
        ];
        let c: Vec<i64> = c.iter().map(|&v| v as i64).collect();
        let r: Vec<i64> = r.iter().map(|&v| v as i64).collect();
        self.values(
            &format!("{what} overflow events [saturated_high, saturated_low, wrapped]"),
            &c,
            &r,
        )
    }

    fn fail(&self, tensor: &str, index: usize, c: Option<i64>, r: Option<i64>) -> GoldenError {
        GoldenError::Inconsistent {
            step: self.step,
            layer: self.layer,
            tensor: tensor.to_string(),
            index,
            chip: c.unwrap_or(i64::MIN),
            reference: r.unwrap_or(i64::MIN),
        }
    }
}

fn tensor(
    name: &'static str,
    class: &'static str,
    shape: Vec<usize>,
    (bits, frac): (u32, u32),
    values: Vec<i64>,
) -> Tensor {
    Tensor {
        name,
        class,
        shape,
        bits,
        frac,
        signed: !matches!(class, "lfsr" | "meta" | "overflow"),
        values,
    }
}

fn bf(t: TensorFormat) -> (u32, u32) {
    (t.bits, t.frac)
}

fn record_with<V: Raw>(
    model: &HwModel,
    config: &GoldenConfig,
    train: &Dataset,
    order: &[u32],
    shift: u32,
) -> Result<Recording, GoldenError> {
    let net = &config.net;
    let mut chip = Chip::new(
        model,
        net,
        FixedDatapath::<V>::new(model, shift)?,
        config.seed,
    )?;
    let mut twin = Chip::new(
        model,
        net,
        FixedDatapath::<V>::new(model, shift)?,
        config.seed,
    )?;
    let ct = Contract::new(model, shift, net.activation);
    let n = chip.num_layers();
    let classes = net.classes();
    let acc_bits = model.formats.accumulator.bits;
    let lfsr_of = |s: u32| Lfsr::new(s).map_err(|_| DatapathError::ZeroSeed);
    let mut steps = Vec::with_capacity(order.len());
    for (s, &k) in order.iter().enumerate() {
        let (px, label) = (train.sample(k as usize), train.label(k as usize));
        // The local rule's primitives, in the order of `local::train_sample`.
        chip.load_input(px);
        chip.broadcast_label(label, 0..n);
        let mut layers = Vec::with_capacity(n);
        for i in 0..n {
            let output = i + 1 == n;
            let (rows, cols) = (chip.layer(i).rows(), chip.layer(i).cols());
            let (w0, b0, x, m) = {
                let l = chip.layer(i);
                (raw(l.w()), raw(l.b()), raw(l.x()), raw(l.classifier()))
            };
            let st0 = chip.datapath().lfsr().state();
            let ov0 = chip.datapath().overflow();
            chip.forward(i, Phase::Forward);
            let h_chip = raw(chip.layer(i).h());
            let st1 = chip.datapath().lfsr().state();
            let ov1 = chip.datapath().overflow();
            if output {
                chip.output_error(i, Phase::LocalError);
            } else {
                chip.send_activation(i, Phase::Forward);
                chip.local_error(i);
            }
            let e_chip = raw(chip.layer(i).e());
            let st2 = chip.datapath().lfsr().state();
            let ov2 = chip.datapath().overflow();
            chip.update(i);
            let (w1_chip, b1_chip) = (raw(chip.layer(i).w()), raw(chip.layer(i).b()));
            let st3 = chip.datapath().lfsr().state();
            let ov3 = chip.datapath().overflow();

            // The same step, element by element, from the snapshots.
            let chk = Checker { step: s, layer: i };
            let mut lf = lfsr_of(st0)?;
            let mut fe = Events::default();
            let (acc, pre, h) = ct.forward(&w0, &b0, &x, output, &mut lf, &mut fe);
            chk.values("h (forward output)", &h_chip, &h)?;
            chk.values("lfsr after forward", &[st1 as i64], &[lf.state() as i64])?;
            chk.stats(
                "forward accumulator",
                minus(ov1.accumulator, ov0.accumulator),
                fe.acc,
            )?;
            chk.stats("activation", minus(ov1.activation, ov0.activation), fe.dst)?;

            let mut ee = Events::default();
            let mut lf = lfsr_of(st1)?;
            let mut err_tensors = Vec::new();
            let e = if output {
                let (yhat, e) = ct.output_error(&h, label, &mut lf, &mut ee);
                err_tensors.push(tensor("yhat", "error", vec![rows], bf(ct.e), yhat));
                e
            } else {
                let (yacc, yhat, eacc, e) = ct.local_error(&m, &h, label, &mut lf, &mut ee);
                let cf = ct.c.frac;
                err_tensors.push(tensor(
                    "classifier",
                    "classifier",
                    vec![classes, rows],
                    bf(ct.c),
                    m.clone(),
                ));
                err_tensors.push(tensor(
                    "yhat_acc",
                    "accumulator",
                    vec![classes],
                    (acc_bits, cf + ct.a.frac),
                    yacc,
                ));
                err_tensors.push(tensor("yhat", "error", vec![classes], bf(ct.e), yhat));
                err_tensors.push(tensor(
                    "e_acc",
                    "accumulator",
                    vec![rows],
                    (acc_bits, cf + ct.e.frac),
                    eacc,
                ));
                e
            };
            chk.values("e (layer error)", &e_chip, &e)?;
            chk.values("lfsr after error", &[st2 as i64], &[lf.state() as i64])?;
            chk.stats(
                "error accumulator",
                minus(ov2.accumulator, ov1.accumulator),
                ee.acc,
            )?;
            chk.stats("error", minus(ov2.error, ov1.error), ee.dst)?;

            let mut ue = Events::default();
            let mut lf = lfsr_of(st2)?;
            let (upd, w1, b1) = ct.update(&w0, &b0, &e, &x, &mut lf, &mut ue);
            chk.values("w_after", &w1_chip, &w1)?;
            chk.values("b_after", &b1_chip, &b1)?;
            chk.values("lfsr after update", &[st3 as i64], &[lf.state() as i64])?;
            chk.stats("update", minus(ov3.update, ov2.update), ue.dst)?;
            chk.stats("weight", minus(ov3.weight, ov2.weight), ue.dst2)?;

            let overflow = LayerOverflow {
                forward_accumulator: fe.acc,
                activation: fe.dst,
                error_accumulator: ee.acc,
                error: ee.dst,
                update: ue.dst,
                weight: ue.dst2,
            };
            let meta = [s, i, rows, cols, classes, output as usize, label, n];
            let w_acc = (acc_bits, ct.w.frac + ct.a.frac);
            let mut tensors = vec![
                tensor(
                    "meta",
                    "meta",
                    vec![meta.len()],
                    (32, 0),
                    meta.iter().map(|&v| v as i64).collect(),
                ),
                tensor("x", "activation", vec![cols], bf(ct.a), x),
                tensor("w_before", "weight", vec![rows, cols], bf(ct.w), w0),
                tensor("b_before", "weight", vec![rows], bf(ct.w), b0),
                tensor("acc", "accumulator", vec![rows], w_acc, acc),
                tensor("pre", "activation", vec![rows], bf(ct.a), pre),
                tensor("h", "activation", vec![rows], bf(ct.a), h),
            ];
            tensors.extend(err_tensors);
            tensors.extend([
                tensor("e", "error", vec![rows], bf(ct.e), e),
                tensor("upd", "update", vec![rows, cols + 1], bf(ct.u), upd),
                tensor("w_after", "weight", vec![rows, cols], bf(ct.w), w1),
                tensor("b_after", "weight", vec![rows], bf(ct.w), b1),
                tensor(
                    "lfsr",
                    "lfsr",
                    vec![4],
                    (32, 0),
                    [st0, st1, st2, st3].iter().map(|&v| v as i64).collect(),
                ),
                tensor(
                    "ovf",
                    "overflow",
                    vec![6],
                    (32, 0),
                    overflow.totals().iter().map(|&v| v as i64).collect(),
                ),
            ]);
            layers.push(LayerStep {
                layer: i,
                rows,
                cols,
                output,
                tensors,
                lfsr: [st0, st1, st2, st3],
                draws: LayerDraws {
                    forward: fe.draws,
                    error: ee.draws,
                    update: ue.draws,
                },
                overflow,
            });
        }
        // The same sample through the rule itself must give the same chip.
        Rule::Local.train_batch(&mut twin, &[(px, label)])?;
        let chk = Checker {
            step: s,
            layer: n - 1,
        };
        for i in 0..n {
            let chk = Checker { step: s, layer: i };
            let (a, b) = (chip.layer(i), twin.layer(i));
            chk.values("w (vs Rule::train_batch)", &raw(a.w()), &raw(b.w()))?;
            chk.values("b (vs Rule::train_batch)", &raw(a.b()), &raw(b.b()))?;
        }
        chk.values(
            "lfsr state (vs Rule::train_batch)",
            &[chip.datapath().lfsr().state() as i64],
            &[twin.datapath().lfsr().state() as i64],
        )?;
        chk.values(
            "overflow events (vs Rule::train_batch)",
            &[chip.datapath().overflow().total() as i64],
            &[twin.datapath().overflow().total() as i64],
        )?;
        if chip.counts() != twin.counts() {
            return Err(chk.fail("access counts (vs Rule::train_batch)", 0, None, None));
        }
        steps.push(StepRecord {
            step: s,
            sample: k as usize,
            label,
            layers,
        });
    }
    Ok(Recording {
        lr_shift: shift,
        steps,
        overflow: chip.datapath().overflow(),
        lfsr_draws: chip.datapath().lfsr_draws(),
        classifier_shift: chip
            .layers()
            .iter()
            .map(|l| l.rom().as_ref().map(|r| r.scale_shift))
            .collect(),
    })
}

// ---------------------------------------------------------------------------
// Manifest
// ---------------------------------------------------------------------------

/// Rounding code of the Verilog bench: 0 truncate, 1 nearest, 2 stochastic.
fn rounding_code(r: Rounding) -> i64 {
    match r {
        Rounding::Truncate => 0,
        Rounding::Nearest => 1,
        Rounding::Stochastic => 2,
    }
}

/// Overflow code of the Verilog bench: 0 saturate, 1 wrap.
fn overflow_code(o: Overflow) -> i64 {
    match o {
        Overflow::Saturate => 0,
        Overflow::Wrap => 1,
    }
}

/// The parameters of `traces/rtl/tb_layer.v` for this model and recording.
fn verilog_parameters(
    model: &HwModel,
    rec: &Recording,
    config: &GoldenConfig,
) -> BTreeMap<&'static str, i64> {
    let f = &model.formats;
    let mut p = BTreeMap::new();
    for (names, t) in [
        (["W_BITS", "W_FRAC", "W_ROUND", "W_OVF"], f.weight),
        (["A_BITS", "A_FRAC", "A_ROUND", "A_OVF"], f.activation),
        (["E_BITS", "E_FRAC", "E_ROUND", "E_OVF"], f.error),
        (["U_BITS", "U_FRAC", "U_ROUND", "U_OVF"], f.update),
    ] {
        p.insert(names[0], t.bits as i64);
        p.insert(names[1], t.frac as i64);
        p.insert(names[2], rounding_code(t.rounding));
        p.insert(names[3], overflow_code(t.overflow));
    }
    p.insert("C_BITS", f.classifier.bits as i64);
    p.insert("C_FRAC", f.classifier.frac as i64);
    p.insert("ACC_BITS", f.accumulator.bits as i64);
    p.insert("ACC_OVF", overflow_code(f.accumulator.overflow));
    p.insert("LR_SHIFT", rec.lr_shift as i64);
    p.insert(
        "ACT_FN",
        match config.net.activation {
            Activation::Relu => 0,
            Activation::HardTanh => 1,
            Activation::LeakyRelu => 2,
        },
    );
    p.insert("LFSR_SEED", model.lfsr_seed as i64);
    let sizes = &config.net.sizes;
    let classes = config.net.classes();
    let maxn = sizes
        .windows(2)
        .map(|w| (w[1] * (w[0] + 1)).max(classes * w[1]).max(w[0]))
        .max()
        .unwrap_or(1);
    p.insert("MAXN", maxn as i64);
    p
}

#[derive(Serialize)]
struct Manifest<'a> {
    generator: &'static str,
    format_version: u32,
    locus_version: &'static str,
    description: &'static str,
    model: &'a str,
    net: &'a NetSpec,
    rule: String,
    seed: u64,
    lr: f64,
    lr_shift: u32,
    lr_realised: f64,
    steps: usize,
    data: DataDoc,
    hex: HexDoc,
    formats: BTreeMap<&'static str, FormatDoc>,
    accumulator: AccDoc,
    lfsr: LfsrDoc,
    datapath: Vec<OpDoc>,
    update: UpdateDoc,
    activation: ActivationDoc,
    classifier: ClassifierDoc,
    verilog: VerilogDoc,
    tensors: BTreeMap<&'static str, TensorDoc>,
    files: Vec<FileDoc>,
    records: Vec<StepDoc>,
}

#[derive(Serialize)]
struct DataDoc {
    name: String,
    sample_len: usize,
    order: &'static str,
    samples: Vec<usize>,
    labels: Vec<usize>,
    input_mapping: &'static str,
}

#[derive(Serialize)]
struct HexDoc {
    encoding: &'static str,
    digits: &'static str,
    layout: &'static str,
}

#[derive(Serialize)]
struct FormatDoc {
    bits: u32,
    frac: u32,
    q: String,
    rounding: Rounding,
    overflow: Overflow,
    used_for: &'static str,
}

#[derive(Serialize)]
struct AccDoc {
    bits: u32,
    overflow: Overflow,
    rule: &'static str,
}

#[derive(Serialize)]
struct LfsrDoc {
    width: u32,
    polynomial: &'static str,
    mask: String,
    taps: [u32; 4],
    kind: &'static str,
    step: &'static str,
    value_used: &'static str,
    seed: String,
    seed_decimal: u32,
    draw_order: Vec<String>,
    draws_per_layer_step: &'static str,
}

#[derive(Serialize)]
struct OpDoc {
    name: &'static str,
    computes: &'static str,
    source: &'static str,
    source_frac: i64,
    destination: &'static str,
    shift: i64,
    rounding: Rounding,
    overflow: Overflow,
    draws_lfsr: bool,
}

#[derive(Serialize)]
struct UpdateDoc {
    formula: &'static str,
    update_shift: i64,
    write_back_k: i64,
    bias_input_raw: i64,
    order: &'static str,
}

#[derive(Serialize)]
struct ActivationDoc {
    hidden: Activation,
    output: &'static str,
    definition: &'static str,
    derivative: &'static str,
}

#[derive(Serialize)]
struct ClassifierDoc {
    storage: RomStorage,
    entry: &'static str,
    scale_shift: Vec<Option<u32>>,
    error: &'static str,
}

#[derive(Serialize)]
struct VerilogDoc {
    module: &'static str,
    bench: &'static str,
    parameters: BTreeMap<&'static str, i64>,
    build: String,
    run: &'static str,
}

#[derive(Serialize)]
struct TensorDoc {
    class: &'static str,
    shape: &'static str,
    layout: &'static str,
    description: &'static str,
}

#[derive(Serialize)]
struct FmtBF {
    bits: u32,
    frac: u32,
}

#[derive(Serialize)]
struct FileDoc {
    path: String,
    tensor: &'static str,
    step: usize,
    layer: usize,
    class: &'static str,
    shape: Vec<usize>,
    format: FmtBF,
    q: String,
    signed: bool,
    hex_digits: u32,
    words: usize,
    layout: String,
}

#[derive(Serialize)]
struct StepDoc {
    step: usize,
    sample: usize,
    label: usize,
    layers: Vec<LayerDoc>,
}

#[derive(Serialize)]
struct LayerDoc {
    layer: usize,
    dir: String,
    rows: usize,
    cols: usize,
    output: bool,
    lfsr: BTreeMap<&'static str, String>,
    draws: LayerDraws,
    overflow: LayerOverflow,
}

/// Description, shape and layout of each tensor name.
fn tensor_docs() -> BTreeMap<&'static str, TensorDoc> {
    let t = |class, shape, layout, description| TensorDoc {
        class,
        shape,
        layout,
        description,
    };
    let rm = "row-major [rows][cols]";
    BTreeMap::from([
        (
            "meta",
            t(
                "meta",
                "[8]",
                "words: step, layer, rows, cols, classes, is_output (0/1), label, layers",
                "the layer's dimensions and the sample's label (unsigned 32-bit words)",
            ),
        ),
        (
            "x",
            t(
                "activation",
                "[cols]",
                "vector",
                "the layer's input (layer 0: the sample's pixels; else the previous layer's h)",
            ),
        ),
        (
            "w_before",
            t(
                "weight",
                "[rows][cols]",
                rm,
                "weights before this step's update (the weight SRAM image)",
            ),
        ),
        (
            "b_before",
            t("weight", "[rows]", "vector", "biases before the update"),
        ),
        (
            "acc",
            t(
                "accumulator",
                "[rows]",
                "vector",
                "accumulator after sum_j w[i][j]*x[j] (in order j = 0..cols-1) and the bias b[i] << a.frac added last; frac = w.frac + a.frac",
            ),
        ),
        (
            "pre",
            t(
                "activation",
                "[rows]",
                "vector",
                "pre-activations: acc requantised into the activation format (op forward)",
            ),
        ),
        (
            "h",
            t(
                "activation",
                "[rows]",
                "vector",
                "outputs: f(pre) on hidden layers, pre on the (linear) output layer",
            ),
        ),
        (
            "classifier",
            t(
                "classifier",
                "[classes][rows]",
                "row-major [classes][rows]",
                "hidden layers: the fixed random classifier M (the ROM image)",
            ),
        ),
        (
            "yhat_acc",
            t(
                "accumulator",
                "[classes]",
                "vector",
                "hidden layers: accumulator after sum_j M[k][j]*h[j]; frac = c.frac + a.frac",
            ),
        ),
        (
            "yhat",
            t(
                "error",
                "hidden: [classes]; output layer: [rows]",
                "vector",
                "hidden: M h requantised into the error format (op classify); output layer: h requantised into the error format (op output_error); both before the label's 1.0 is subtracted",
            ),
        ),
        (
            "e_acc",
            t(
                "accumulator",
                "[rows]",
                "vector",
                "hidden layers: accumulator after sum_k M[k][j]*d[k] (in order k = 0..classes-1), d = yhat with d[label] = fit_e(yhat[label] - 2^e.frac); frac = c.frac + e.frac",
            ),
        ),
        (
            "e",
            t(
                "error",
                "[rows]",
                "vector",
                "the layer's error: hidden: requant(e_acc) (op classifier_back) where f'(h[j]) = 1, else 0; output layer: yhat with e[label] = fit_e(yhat[label] - 2^e.frac)",
            ),
        ),
        (
            "upd",
            t(
                "update",
                "[rows][cols+1]",
                "row-major [rows][cols+1]; column cols is the bias",
                "update values delta[i][j] = requant(e[i]*x[j]) (op update), x[cols] = 2^a.frac (1.0, the bias input)",
            ),
        ),
        (
            "w_after",
            t(
                "weight",
                "[rows][cols]",
                rm,
                "weights after the update: fit_w(w*2^k - delta) (k = 0) or requant by k bits (op write_back)",
            ),
        ),
        (
            "b_after",
            t("weight", "[rows]", "vector", "biases after the update"),
        ),
        (
            "lfsr",
            t(
                "lfsr",
                "[4]",
                "words: state before forward, before the error, before the update, after the update",
                "the rounding LFSR's state (unsigned 32-bit) at the layer's phase boundaries",
            ),
        ),
        (
            "ovf",
            t(
                "overflow",
                "[6]",
                "words: forward accumulator, activation, error accumulator, error, update, weight",
                "overflow events (saturated + wrapped) of this layer's step, by phase and class (unsigned 32-bit)",
            ),
        ),
    ])
}

fn q_name(bits: u32, frac: u32) -> String {
    format!("Q{}.{}", bits as i64 - frac as i64, frac)
}

fn layer_dir(step: usize, layer: usize) -> String {
    format!("step{step}/layer{layer}")
}

/// Every file of the output directory, relative path and contents, the
/// manifest last.
fn render(
    model: &HwModel,
    config: &GoldenConfig,
    train: &Dataset,
    rec: &Recording,
) -> Result<Vec<(String, String)>, GoldenError> {
    let f = &model.formats;
    let ct = Contract::new(model, rec.lr_shift, config.net.activation);
    let mut files = Vec::new();
    let mut docs = Vec::new();
    let mut records = Vec::new();
    for st in &rec.steps {
        let mut layers = Vec::new();
        for l in &st.layers {
            let dir = layer_dir(st.step, l.layer);
            for t in &l.tensors {
                let path = format!("{dir}/{}.hex", t.name);
                let layout = match t.shape.as_slice() {
                    [n] => format!("vector [{n}]"),
                    [r, c] => format!("row-major [{r}][{c}]"),
                    s => format!("{s:?}"),
                };
                docs.push(FileDoc {
                    path: path.clone(),
                    tensor: t.name,
                    step: st.step,
                    layer: l.layer,
                    class: t.class,
                    shape: t.shape.clone(),
                    format: FmtBF {
                        bits: t.bits,
                        frac: t.frac,
                    },
                    q: if t.signed {
                        q_name(t.bits, t.frac)
                    } else {
                        format!("U{}", t.bits)
                    },
                    signed: t.signed,
                    hex_digits: t.bits.div_ceil(4),
                    words: t.values.len(),
                    layout,
                });
                files.push((path, t.hex_text()));
            }
            let hx = |v: u32| format!("0x{v:08x}");
            layers.push(LayerDoc {
                layer: l.layer,
                dir,
                rows: l.rows,
                cols: l.cols,
                output: l.output,
                lfsr: BTreeMap::from([
                    ("0_before_forward", hx(l.lfsr[0])),
                    ("1_before_error", hx(l.lfsr[1])),
                    ("2_before_update", hx(l.lfsr[2])),
                    ("3_after_update", hx(l.lfsr[3])),
                ]),
                draws: l.draws,
                overflow: l.overflow,
            });
        }
        records.push(StepDoc {
            step: st.step,
            sample: st.sample,
            label: st.label,
            layers,
        });
    }
    let fmt = |t: TensorFormat, used_for| FormatDoc {
        bits: t.bits,
        frac: t.frac,
        q: q_name(t.bits, t.frac),
        rounding: t.rounding,
        overflow: t.overflow,
        used_for,
    };
    let stoch = |t: TensorFormat| t.rounding == Rounding::Stochastic;
    let op = |name,
              computes,
              source,
              source_frac: u32,
              dst: &'static str,
              shift: i32,
              t: TensorFormat| OpDoc {
        name,
        computes,
        source,
        source_frac: source_frac as i64,
        destination: dst,
        shift: shift as i64,
        rounding: t.rounding,
        overflow: t.overflow,
        draws_lfsr: stoch(t),
    };
    let (w, a, e, u, c) = (f.weight, f.activation, f.error, f.update, f.classifier);
    let k = ct.k_write_back();
    let params = verilog_parameters(model, rec, config);
    let build = format!(
        "iverilog -g2012 -o tb_layer.vvp {} traces/rtl/layer_datapath.v traces/rtl/tb_layer.v",
        params
            .iter()
            .map(|(k, v)| format!("-Ptb_layer.{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (_, lr_realised) = lr_shift(config.lr)?;
    let manifest = Manifest {
        generator: GENERATOR,
        format_version: FORMAT_VERSION,
        locus_version: env!("CARGO_PKG_VERSION"),
        description: "Golden vectors of the first training steps of a run of the local rule: every layer's inputs, weights, accumulators, pre-activations, activations, errors, updates and updated weights, as $readmemh images (docs/formats.md); the arithmetic is docs/arithmetic.md with the parameters below",
        model: &model.name,
        net: &config.net,
        rule: config.rule.label(),
        seed: config.seed,
        lr: config.lr,
        lr_shift: rec.lr_shift,
        lr_realised,
        steps: rec.steps.len(),
        data: DataDoc {
            name: train.name.clone(),
            sample_len: train.sample_len(),
            order: "step s trains sample epoch_order(n, seed, 0)[s] (ChaCha8 shuffle, docs/data.md), as `locus train --seed` with batch 1",
            samples: rec.steps.iter().map(|s| s.sample).collect(),
            labels: rec.steps.iter().map(|s| s.label).collect(),
            input_mapping: "layer 0's x: pixel p (0..255) -> min((2*p*2^a.frac + 255) / 510, a.max) (round half up of p/255, saturated)",
        },
        hex: HexDoc {
            encoding: "one word per line, two's complement (signed tensors) or unsigned (lfsr, meta, ovf), lowercase hex, no prefix, no comments",
            digits: "ceil(bits/4) per word; the low `bits` bits hold the value, unused high bits of the top digit are 0 (sign-extend from bit bits-1 when reading)",
            layout: "tensors are row-major: element [i][j] of a [rows][cols] tensor is word i*cols + j",
        },
        formats: BTreeMap::from([
            ("weight", fmt(w, "weights and biases; the weight write-back")),
            ("activation", fmt(a, "inputs, pre-activations, outputs")),
            ("error", fmt(e, "errors; the classifier projection yhat")),
            ("update", fmt(u, "update values delta = lr * e * x")),
            ("classifier", fmt(c, "ROM entries only (no value is requantised into it; rounding/overflow unused by the datapath)")),
        ]),
        accumulator: AccDoc {
            bits: f.accumulator.bits,
            overflow: f.accumulator.overflow,
            rule: "starts at 0; products are added one at a time in index order; after each addition the register is saturated or wrapped to acc.bits and an event counted; the forward mat-vec adds the bias (b << a.frac) last, as one more addition",
        },
        lfsr: LfsrDoc {
            width: 32,
            polynomial: "x^32 + x^22 + x^2 + x + 1",
            mask: format!("0x{LFSR_MASK:08x}"),
            taps: [32, 22, 2, 1],
            kind: "Galois, right-shifting",
            step: "lsb = s & 1; s = s >> 1 (logical); if lsb == 1: s = s ^ mask",
            value_used: "a draw steps once and uses the NEW state u; the stochastic addend for a shift s is u & (2^s - 1) (s <= 32) or u << (s - 32) (s > 32); a stochastic requantisation draws once whatever s is (also s <= 0)",
            seed: format!("0x{:08x}", model.lfsr_seed),
            seed_decimal: model.lfsr_seed,
            draw_order: vec![
                "the simulator has one rounding LFSR for the whole chip: its state carries over from layer to layer and from step to step (each layer's lfsr.hex records it at the layer's phase boundaries)".into(),
                "per step, layers 0..L-1 in order; per layer: forward, then error, then update".into(),
                format!("forward: one draw per pre-activation, i = 0..rows-1, iff activation rounding is stochastic (here: {})", stoch(a)),
                format!("error, hidden layer: one draw per yhat[k], k = 0..classes-1, then one per e[j], j = 0..rows-1 (also where f'(h[j]) = 0), iff error rounding is stochastic (here: {}); the label subtraction never draws", stoch(e)),
                format!("error, output layer: one draw per yhat[j] = requant(h[j]), j = 0..rows-1, iff error rounding is stochastic (here: {})", stoch(e)),
                format!("update: for i = 0..rows-1, for j = 0..cols (j = cols is the bias): one draw for delta[i][j] iff update rounding is stochastic (here: {}), then one for the write-back of w[i][j] iff k = u.frac - w.frac > 0 and weight rounding is stochastic (here: {}); rows whose error is 0 draw exactly like the others (delta = 0 but the LFSR still advances)", stoch(u), k > 0 && stoch(w)),
            ],
            draws_per_layer_step: "forward: rows*[a stochastic]; error: (classes + rows)*[e stochastic] (hidden) or rows*[e stochastic] (output); update: rows*(cols+1)*([u stochastic] + [k > 0 and w stochastic])",
        },
        datapath: vec![
            op("forward", "pre[i] = requant(acc[i])", "accumulator", w.frac + a.frac, "activation", ct.s_forward(), a),
            op("classify", "yhat[k] = requant(sum_j M[k][j]*h[j])", "accumulator", c.frac + a.frac, "error", ct.s_classify(), e),
            op("label", "d[label] = fit(yhat[label] - 2^e.frac): overflow policy only, no rounding, no draw", "error", e.frac, "error", 0, TensorFormat { rounding: Rounding::Truncate, ..e }),
            op("classifier_back", "e[j] = requant(sum_k M[k][j]*d[k]) * f'(h[j])", "accumulator", c.frac + e.frac, "error", ct.s_classifier_back(), e),
            op("output_error", "yhat[j] = requant(h[j]) (output layer)", "activation", a.frac, "error", ct.s_output_error(), e),
            op("update", "delta[i][j] = requant(e[i]*x[j]), x[cols] = 2^a.frac; the shift includes lr_shift", "product e*x", e.frac + a.frac, "update", ct.s_update(), u),
            op("write_back", "w'[i][j] = requant(w[i][j]*2^k - delta[i][j]) with k = u.frac - w.frac; for k = 0 only the weight's overflow policy applies (no rounding, no draw)", "w*2^k - delta", u.frac, "weight", k, if k == 0 { TensorFormat { rounding: Rounding::Truncate, ..w } } else { w }),
        ],
        update: UpdateDoc {
            formula: "w'[i][j] = fit_w(w[i][j]*2^k - fit_u(round((e[i]*x[j]) / 2^update_shift))), b as column cols with input 2^a.frac",
            update_shift: ct.s_update() as i64,
            write_back_k: k as i64,
            bias_input_raw: ct.one_act(),
            order: "row-major over [W | b]: for i = 0..rows-1: w[i][0..cols-1], then b[i]",
        },
        activation: ActivationDoc {
            hidden: config.net.activation,
            output: "linear (h = pre)",
            definition: "relu: h = max(pre, 0); hard_tanh: h = clamp(pre, -one, one), one = min(2^a.frac, a.max)",
            derivative: "read from h: relu: f'(h) = [h > 0]; hard_tanh: f'(h) = [-one < h < one]",
        },
        classifier: ClassifierDoc {
            storage: model.rom.storage,
            entry: match model.rom.storage {
                RomStorage::Values { .. } => "r * 2^-scale_shift, r a signed integer, placed into the classifier format (round to nearest even, saturate)",
                _ => "+-2^-scale_shift (sign bits), placed into the classifier format",
            },
            scale_shift: rec.classifier_shift.clone(),
            error: "hidden layer: e = (M^T (requant(M h) - onehot(label))) * f'(h); output layer: e = requant(h) - onehot(label)",
        },
        verilog: VerilogDoc {
            module: "traces/rtl/layer_datapath.v",
            bench: "traces/rtl/tb_layer.v",
            parameters: params,
            build,
            run: "vvp -n tb_layer.vvp +dir=<this directory>/step<S>/layer<L>  (prints PASS <n> values, or MISMATCH ... and exits 1)",
        },
        tensors: tensor_docs(),
        files: docs,
        records,
    };
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| GoldenError::Io {
        path: PathBuf::from(MANIFEST),
        what: "cannot serialise the manifest",
        cause: e.into(),
    })?;
    let mut text = compact_arrays(&text);
    text.push('\n');
    files.push((MANIFEST.to_string(), text));
    Ok(files)
}

/// Pretty JSON in which every array or object whose one-line form fits in
/// [`LINE`] columns is written on one line (`"shape": [12, 16]`, one line
/// per file entry), so the manifest stays short to read. Keys keep their order.
fn compact_arrays(pretty: &str) -> String {
    let b = pretty.as_bytes();
    let mut pos = 0;
    let node = parse_node(b, &mut pos);
    let mut out = String::with_capacity(pretty.len());
    print_node(pretty, &node, 0, &mut out);
    out
}

/// Widest line of the compacted manifest.
const LINE: usize = 100;

/// A JSON value as spans of the source text.
enum Node {
    /// A string, number, `true`, `false` or `null`: its text.
    Scalar(std::ops::Range<usize>),
    /// Elements.
    Array(Vec<Node>),
    /// Keys (with quotes) and values.
    Object(Vec<(std::ops::Range<usize>, Node)>),
}

fn skip_ws(b: &[u8], pos: &mut usize) {
    while *pos < b.len() && b[*pos].is_ascii_whitespace() {
        *pos += 1;
    }
}

fn parse_string(b: &[u8], pos: &mut usize) -> std::ops::Range<usize> {
    let start = *pos;
    *pos += 1;
    while *pos < b.len() && b[*pos] != b'"' {
        *pos += if b[*pos] == b'\\' { 2 } else { 1 };
    }
    *pos += 1;
    start..*pos
}

/// Parses well-formed JSON (as serde_json writes it) from `pos`.
fn parse_node(b: &[u8], pos: &mut usize) -> Node {
    skip_ws(b, pos);
    match b.get(*pos) {
        Some(b'[') | Some(b'{') => {
            let object = b[*pos] == b'{';
            *pos += 1;
            let (mut items, mut fields) = (Vec::new(), Vec::new());
            loop {
                skip_ws(b, pos);
                match b.get(*pos) {
                    Some(b']') | Some(b'}') | None => {
                        *pos += 1;
                        break;
                    }
                    Some(b',') => *pos += 1,
                    _ if object => {
                        let key = parse_string(b, pos);
                        skip_ws(b, pos);
                        *pos += 1; // ':'
                        fields.push((key, parse_node(b, pos)));
                    }
                    _ => items.push(parse_node(b, pos)),
                }
            }
            if object {
                Node::Object(fields)
            } else {
                Node::Array(items)
            }
        }
        Some(b'"') => Node::Scalar(parse_string(b, pos)),
        _ => {
            let start = *pos;
            while *pos < b.len() && !matches!(b[*pos], b',' | b']' | b'}') {
                *pos += 1;
            }
            Node::Scalar(start..start + b[start..*pos].trim_ascii_end().len())
        }
    }
}

/// The one-line form of a node.
fn flat(src: &str, n: &Node, out: &mut String) {
    match n {
        Node::Scalar(r) => out.push_str(&src[r.clone()]),
        Node::Array(items) => {
            out.push('[');
            for (k, v) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                flat(src, v, out);
            }
            out.push(']');
        }
        Node::Object(fields) => {
            out.push('{');
            for (k, (key, v)) in fields.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                out.push_str(&src[key.clone()]);
                out.push_str(": ");
                flat(src, v, out);
            }
            out.push('}');
        }
    }
}

/// Writes `n` at the end of `out`, whose current line is indented by
/// `indent` spaces: on one line if the line then fits in [`LINE`] columns
/// (the root is always expanded), else one element or field per line.
fn print_node(src: &str, n: &Node, indent: usize, out: &mut String) {
    let mut one = String::new();
    flat(src, n, &mut one);
    let line_start = out.rfind('\n').map_or(0, |p| p + 1);
    let used = out.len() - line_start;
    if matches!(n, Node::Scalar(_)) || (indent > 0 && used + one.len() <= LINE) {
        out.push_str(&one);
        return;
    }
    let pad = |k: usize| " ".repeat(k);
    match n {
        Node::Scalar(_) => unreachable!("handled above"),
        Node::Array(items) if items.is_empty() => out.push_str("[]"),
        Node::Object(fields) if fields.is_empty() => out.push_str("{}"),
        Node::Array(items) => {
            out.push('[');
            for (k, v) in items.iter().enumerate() {
                out.push_str(if k > 0 { ",\n" } else { "\n" });
                out.push_str(&pad(indent + 2));
                print_node(src, v, indent + 2, out);
            }
            out.push('\n');
            out.push_str(&pad(indent));
            out.push(']');
        }
        Node::Object(fields) => {
            out.push('{');
            for (k, (key, v)) in fields.iter().enumerate() {
                out.push_str(if k > 0 { ",\n" } else { "\n" });
                out.push_str(&pad(indent + 2));
                out.push_str(&src[key.clone()]);
                out.push_str(": ");
                print_node(src, v, indent + 2, out);
            }
            out.push('\n');
            out.push_str(&pad(indent));
            out.push('}');
        }
    }
}

// ---------------------------------------------------------------------------
// Output directory
// ---------------------------------------------------------------------------

fn io_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> GoldenError + 'a {
    move |cause| GoldenError::Io {
        path: path.to_path_buf(),
        what,
        cause,
    }
}

/// Whether `dir` holds a manifest written by this command.
fn is_ours(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST)) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("generator")
                .and_then(|g| g.as_str())
                .map(|g| g == GENERATOR)
        })
        .unwrap_or(false)
}

/// What is at `out` now.
enum Existing {
    Nothing,
    Empty,
    Ours,
}

fn check_out(out: &Path) -> Result<Existing, GoldenError> {
    match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Existing::Nothing),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            let parent = out
                .ancestors()
                .skip(1)
                .find(|a| a.is_file())
                .unwrap_or(out)
                .to_path_buf();
            Err(GoldenError::ParentNotADirectory {
                path: out.to_path_buf(),
                parent,
            })
        }
        Err(e) => Err(io_err(out, "cannot inspect the output path")(e)),
        Ok(m) if !m.is_dir() => Err(GoldenError::NotADirectory {
            path: out.to_path_buf(),
        }),
        Ok(_) => {
            let mut entries =
                std::fs::read_dir(out).map_err(io_err(out, "cannot read the directory"))?;
            if entries.next().is_none() {
                Ok(Existing::Empty)
            } else if is_ours(out) {
                Ok(Existing::Ours)
            } else {
                Err(GoldenError::NotOurs {
                    path: out.to_path_buf(),
                })
            }
        }
    }
}

/// Creates the missing ancestors of `dir`, returning those it created
/// (deepest last) so a failure can remove them again.
fn create_parents(dir: &Path) -> Result<Vec<PathBuf>, GoldenError> {
    let mut missing = Vec::new();
    let mut p = dir;
    while !p.as_os_str().is_empty() && std::fs::symlink_metadata(p).is_err() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(q) => p = q,
            None => break,
        }
    }
    missing.reverse();
    let mut created = Vec::new();
    for m in missing {
        if let Err(e) = std::fs::create_dir(&m) {
            remove_created(&created);
            return Err(io_err(&m, "cannot create directory")(e));
        }
        created.push(m);
    }
    Ok(created)
}

fn remove_created(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
}

/// Writes `files` into a temporary directory beside `out`, then renames it
/// to `out` (replacing an empty directory or one this command wrote).
fn write_dir(out: &Path, files: &[(String, String)]) -> Result<(), GoldenError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let created = create_parents(&parent)?;
    let result = write_dir_in(&parent, out, files);
    if result.is_err() {
        remove_created(&created);
    }
    result
}

fn write_dir_in(parent: &Path, out: &Path, files: &[(String, String)]) -> Result<(), GoldenError> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".locus-golden-");
    // The mode of a plain new directory (0777 less the umask), not the
    // owner-only 0700 of a temporary one: the rename keeps the mode.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o777));
    let tmp = builder
        .tempdir_in(parent)
        .map_err(io_err(parent, "cannot create a temporary directory"))?;
    for (rel, text) in files {
        let path = tmp.path().join(rel);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(io_err(d, "cannot create directory"))?;
        }
        write_atomic(&path, |w: &mut dyn Write| w.write_all(text.as_bytes()))?;
    }
    // Checked again: the directory may have changed while computing.
    match check_out(out)? {
        Existing::Nothing => {}
        Existing::Empty => {
            std::fs::remove_dir(out).map_err(io_err(out, "cannot replace the empty directory"))?
        }
        Existing::Ours => {
            // Move the old output aside, put the new one in place, then
            // delete the old one (restored if the rename fails).
            let trash = tempfile::Builder::new()
                .prefix(".locus-golden-old-")
                .tempdir_in(parent)
                .map_err(io_err(parent, "cannot create a temporary directory"))?;
            let old = trash.path().join("old");
            std::fs::rename(out, &old).map_err(io_err(out, "cannot move the old output aside"))?;
            if let Err(e) = std::fs::rename(tmp.path(), out) {
                let _ = std::fs::rename(&old, out);
                return Err(io_err(out, "cannot rename the new output into place")(e));
            }
            let _ = tmp.keep();
            return Ok(());
        }
    }
    std::fs::rename(tmp.path(), out)
        .map_err(io_err(out, "cannot rename the new output into place"))?;
    let _ = tmp.keep();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_words_are_twos_complement_of_the_width() {
        assert_eq!(Tensor::hex_word(-1, 16), "ffff");
        assert_eq!(Tensor::hex_word(5, 16), "0005");
        assert_eq!(Tensor::hex_word(-128, 8), "80");
        assert_eq!(Tensor::hex_word(-1, 13), "1fff");
        assert_eq!(Tensor::hex_word(-2, 24), "fffffe");
        assert_eq!(Tensor::hex_word(-1, 62), "3fffffffffffffff");
        assert_eq!(Tensor::hex_word(0x8020_0003, 32), "80200003");
        let t = tensor("x", "activation", vec![3], (12, 4), vec![-1, 0, 2047]);
        assert_eq!(t.hex_text(), "fff\n000\n7ff\n");
        assert!(t.signed);
        assert!(!tensor("lfsr", "lfsr", vec![1], (32, 0), vec![1]).signed);
    }

    #[test]
    fn manifest_arrays_of_scalars_are_on_one_line() {
        let v = serde_json::json!({
            "shape": [12, 16],
            "s": ["a, [b]", "c\\\"]"],
            "empty": [],
            "files": [{"shape": [3], "q": "Q2.14"}],
        });
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        let c = compact_arrays(&pretty);
        assert!(c.contains(r#""shape": [12, 16]"#), "{c}");
        assert!(c.contains(r#""s": ["a, [b]", "c\\\"]"]"#), "{c}");
        assert!(c.contains(r#""empty": []"#), "{c}");
        assert!(c.contains(r#""shape": [3]"#), "{c}");
        let back: serde_json::Value = serde_json::from_str(&c).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn config_errors_name_the_field() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
        let model = crate::hw::model::load(&path).unwrap();
        let (train, _) = crate::data::generate(&crate::data::SyntheticSpec {
            classes: 4,
            sample_len: 8,
            train: 10,
            test: 2,
            noise: 10,
            seed: 1,
        })
        .unwrap();
        let ok = GoldenConfig {
            net: NetSpec::dense(vec![8, 6, 4], Activation::Relu),
            rule: Rule::Local,
            seed: 1,
            lr: 0.25,
            steps: 2,
        };
        let rec = record(&model, &ok, &train).unwrap();
        assert_eq!(rec.steps.len(), 2);
        assert_eq!(rec.lr_shift, 2);
        let bad = |c: GoldenConfig| record(&model, &c, &train).unwrap_err().to_string();
        let e = bad(GoldenConfig {
            rule: Rule::Bp(crate::rules::BpPolicy::Stash),
            ..ok.clone()
        });
        assert!(e.starts_with("rule = bp/stash:"), "{e}");
        let e = bad(GoldenConfig {
            steps: 0,
            ..ok.clone()
        });
        assert!(e.starts_with("steps = 0:"), "{e}");
        let e = bad(GoldenConfig {
            steps: 11,
            ..ok.clone()
        });
        assert!(e.contains("more than the 10 training samples"), "{e}");
        let e = bad(GoldenConfig {
            lr: 2.0,
            ..ok.clone()
        });
        assert!(e.starts_with("lr = 2:"), "{e}");
        let mut net = ok.net.clone();
        net.sizes = vec![9, 4];
        let e = bad(GoldenConfig { net, ..ok.clone() });
        assert!(e.contains("sample size 8"), "{e}");
    }

    #[test]
    fn existing_output_is_refused_unless_empty_or_ours() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("g");
        assert!(matches!(check_out(&out), Ok(Existing::Nothing)));
        std::fs::create_dir(&out).unwrap();
        assert!(matches!(check_out(&out), Ok(Existing::Empty)));
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let e = check_out(&out).err().unwrap();
        assert!(e.to_string().contains("refusing to overwrite"), "{e}");
        std::fs::write(out.join(MANIFEST), r#"{"generator": "something else"}"#).unwrap();
        assert!(matches!(check_out(&out), Err(GoldenError::NotOurs { .. })));
        std::fs::write(
            out.join(MANIFEST),
            format!(r#"{{"generator": "{GENERATOR}"}}"#),
        )
        .unwrap();
        assert!(matches!(check_out(&out), Ok(Existing::Ours)));
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(
            check_out(&file),
            Err(GoldenError::NotADirectory { .. })
        ));
    }

    #[test]
    fn write_dir_replaces_only_its_own_output_and_leaves_no_temp() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("a/b/g");
        let files = vec![
            ("step0/layer0/x.hex".to_string(), "01\n".to_string()),
            (
                MANIFEST.to_string(),
                format!(r#"{{"generator": "{GENERATOR}"}}"#),
            ),
        ];
        write_dir(&out, &files).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("step0/layer0/x.hex")).unwrap(),
            "01\n"
        );
        let files2 = vec![(
            MANIFEST.to_string(),
            format!(r#"{{"generator": "{GENERATOR}", "v": 2}}"#),
        )];
        write_dir(&out, &files2).unwrap();
        assert!(!out.join("step0").exists(), "old output removed");
        let names: Vec<_> = std::fs::read_dir(out.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("g")]);
    }

    #[test]
    fn unwritable_parent_fails_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let out = file.join("sub/g");
        let e = write_dir(&out, &[("a.hex".into(), "0\n".into())]).unwrap_err();
        assert!(e.to_string().contains("cannot create directory"), "{e}");
        assert!(e.to_string().contains("file"), "{e}");
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    }
}
