//! The ONNX reader: a model file (weights optional: shapes come from
//! initialisers, graph inputs or value infos) into the layer tokens of a
//! [`NetSpec`](super::spec::NetSpec).
//!
//! Decoding is `prost`'s (messages in [`proto`]); this module checks the
//! graph (every input provided, no tensor produced twice, no cycle), orders
//! it, and walks it as a chain from the data input, inferring every shape
//! itself from the operators' attributes and the weights' dimensions:
//!
//! - `Conv` (square kernel, equal strides, symmetric padding, dilation 1,
//!   any groups) → `convKxKxO[sS][pP][gG]`; its bias is part of the layer;
//! - `Gemm` (`transA = 0`) and `MatMul` with a constant right-hand side
//!   → a dense layer; an `Add` of a constant right after one of them (or
//!   after a `Conv`) is its bias;
//! - `BatchNormalization` after a `Conv` or dense layer is folded into it
//!   (`docs/hw_model.md`, "Imported networks");
//! - `Relu`, `LeakyRelu` and `Clip(-1, 1)` set the hidden activation
//!   (`relu`, `leaky-relu`, `hard-tanh`); one kind per network;
//! - `MaxPool` (square window, any stride, padding below the window) and
//!   `AveragePool` (windows that tile: kernel = stride, no padding) after a
//!   `Conv` → `maxpoolN[sS][pP]` / `avgpoolN`, and a
//!   `GlobalAveragePool` over a square map of side 2..=16 → `avgpoolN`;
//! - `Flatten` and `Reshape` to rank 2 are free (a target computed from
//!   the input's `Shape`, as exporters write a flatten, is read from the
//!   declared output shape; the shape computation is free); `Identity` and
//!   `Dropout`
//!   (an identity in inference) are free; `Softmax` / `LogSoftmax` at the
//!   output are ignored (the core has none); `Constant` feeds `Reshape`.
//!
//! Anything else is an error naming the node, its op type and the supported
//! list: a residual `Add` is not yet part of the network description.

pub mod proto;

use super::spec::{Activation, LayerSpec, PoolKind};
use prost::Message;
use prost::bytes::Bytes;
use proto::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto};
use std::collections::{HashMap, HashSet, VecDeque};

/// The operators the reader accepts, for error messages.
pub const SUPPORTED_OPS: &str = "Conv, Gemm, MatMul, Add (bias or residual), BatchNormalization, Relu, LeakyRelu, Clip, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Identity, Dropout, Constant, Softmax, LogSoftmax";

/// A network read from a file: its layer tokens (input first), the hidden
/// activation it names (`None` when it has no hidden activation node, e.g.
/// one layer), and notes on what was folded or ignored, for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// Layer tokens, input first.
    pub stack: Vec<LayerSpec>,
    /// The hidden layers' activation, if the file names one.
    pub activation: Option<Activation>,
    /// What was folded or ignored, one line each (e.g. `2 BatchNormalization
    /// nodes folded into the preceding layer`).
    pub notes: Vec<String>,
    /// The name of each weight layer's node (`Conv`, `Gemm` or `MatMul`),
    /// in layer order, for per-layer outputs.
    pub names: Vec<String>,
}

/// A tensor shape without the batch: a feature map or a flat vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Map(usize, usize, usize),
    Flat(usize),
}

impl Shape {
    fn text(self) -> String {
        match self {
            Shape::Map(c, h, w) => format!("{c}x{h}x{w}"),
            Shape::Flat(n) => n.to_string(),
        }
    }
}

/// Where the walk stands after the last weight layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    /// Nothing yet (at the input).
    Input,
    /// A weight layer (`conv` true for a convolution) with no activation.
    Weight { conv: bool },
    /// A weight layer with its activation (and, for a conv, maybe a pool).
    Activated { conv: bool, pooled: bool },
}

/// A residual block being read: its input tensor, where it starts, and the
/// skip path's nodes (a projection `Conv` and the nodes folded after it)
/// up to the `Add` that closes it.
#[derive(Clone, Debug)]
struct Block<'g> {
    /// The block's input tensor.
    input_name: &'g str,
    /// The block's first weight layer (0-based).
    first: usize,
    /// The block's input shape.
    input: Shape,
    /// The skip path's nodes before the `Add` (empty for an identity).
    side: Vec<usize>,
    /// The tensor the skip path hands the `Add`.
    side_out: &'g str,
    /// The `Add` node.
    add: usize,
    /// The projection's output shape and stride, once read.
    projection: Option<(Shape, usize)>,
}

/// Reads an ONNX model. `input` (`[c, h, w]`) fills in input dimensions
/// the file leaves open and must agree with those it fixes. Errors are one
/// line naming the node (name and op type), tensor or field.
pub fn read(bytes: impl Into<Bytes>, input: Option<[usize; 3]>) -> Result<Imported, String> {
    let model = ModelProto::decode(bytes.into())
        .map_err(|e| format!("not an ONNX model (protobuf decoding failed: {e})"))?;
    let graph = model
        .graph
        .ok_or_else(|| "the model has no graph (field `graph` is missing)".to_string())?;
    Walk::new(&graph, input)?.run()
}

/// A node as named in messages: `node "layer1.conv" (Conv)` or, unnamed,
/// `node 3 (Conv)`.
fn node_label(graph: &GraphProto, i: usize) -> String {
    let n = &graph.node[i];
    if n.name.is_empty() {
        format!("node {} ({})", i + 1, n.op_type)
    } else {
        format!("node \"{}\" ({})", n.name, n.op_type)
    }
}

/// The static dimensions of a value info; `None` for a symbolic or unknown
/// dimension, and no list at all without a shape.
fn dims_of(v: &ValueInfoProto) -> Option<Vec<Option<i64>>> {
    let shape = v.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?;
    Some(shape.dim.iter().map(|d| d.dim_value).collect())
}

/// A positive size from a file's `i64`, bounded so products stay exact
/// (the network description bounds tensors further).
fn size(v: i64, what: &dyn Fn() -> String) -> Result<usize, String> {
    if (1..=1 << 40).contains(&v) {
        Ok(v as usize)
    } else {
        Err(format!("{}: size {v} is not in 1..=2^40", what()))
    }
}

struct Walk<'g> {
    graph: &'g GraphProto,
    input: Option<[usize; 3]>,
    /// Constant tensors by name (initialisers and `Constant` nodes).
    consts: HashMap<&'g str, &'g TensorProto>,
    /// Declared shapes by name (graph inputs, value infos, outputs).
    declared: HashMap<&'g str, &'g ValueInfoProto>,
    /// Nodes in dependency order.
    order: Vec<usize>,
    /// The nodes that read each tensor, in file order (shape computations
    /// not counted).
    readers: HashMap<&'g str, Vec<usize>>,
    /// Nodes that compute only a tensor's shape (see [`SHAPE_OPS`]).
    shape_only: Vec<bool>,
    /// Tensors made by shape-only nodes.
    shape_tensors: HashSet<&'g str>,
}

/// Operators that, fed only by a `Shape` node and constants, compute a
/// shape, as exporters write `x.view(x.size(0), -1)` (`Shape` → `Gather` →
/// `Unsqueeze` → `Concat` → `Reshape`): they cost nothing on the core and
/// are not branches of the network.
const SHAPE_OPS: [&str; 12] = [
    "Shape",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Slice",
    "Cast",
    "Mul",
    "Div",
    "Add",
    "Sub",
    "ConstantOfShape",
];

impl<'g> Walk<'g> {
    fn new(graph: &'g GraphProto, input: Option<[usize; 3]>) -> Result<Self, String> {
        let mut consts: HashMap<&str, &TensorProto> = HashMap::new();
        for t in &graph.initializer {
            consts.insert(&t.name, t);
        }
        let mut declared = HashMap::new();
        for v in graph
            .input
            .iter()
            .chain(&graph.value_info)
            .chain(&graph.output)
        {
            declared.entry(v.name.as_str()).or_insert(v);
        }
        // Producers: every tensor made by exactly one node.
        let mut producer: HashMap<&str, usize> = HashMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            for o in n.output.iter().filter(|o| !o.is_empty()) {
                if producer.insert(o, i).is_some() || consts.contains_key(o.as_str()) {
                    return Err(format!(
                        "{}: tensor \"{o}\" is produced more than once",
                        node_label(graph, i)
                    ));
                }
            }
            if n.op_type == "Constant"
                && let Some(t) = n
                    .attribute
                    .iter()
                    .find(|a| a.name == "value")
                    .and_then(|a| a.t.as_ref())
                && let Some(o) = n.output.first()
            {
                consts.insert(o, t);
            }
        }
        let graph_inputs: HashSet<&str> = graph.input.iter().map(|v| v.name.as_str()).collect();
        let mut pending = vec![0usize; graph.node.len()];
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); graph.node.len()];
        for (i, n) in graph.node.iter().enumerate() {
            for x in n.input.iter().filter(|x| !x.is_empty()) {
                if let Some(&p) = producer.get(x.as_str()) {
                    pending[i] += 1;
                    users[p].push(i);
                } else if !consts.contains_key(x.as_str()) && !graph_inputs.contains(x.as_str()) {
                    return Err(format!(
                        "{} reads tensor \"{x}\", which no node, initializer or graph input provides",
                        node_label(graph, i)
                    ));
                }
            }
        }
        // Kahn's algorithm, in file order among ready nodes.
        let mut ready: VecDeque<usize> =
            (0..graph.node.len()).filter(|&i| pending[i] == 0).collect();
        let mut order = Vec::with_capacity(graph.node.len());
        while let Some(i) = ready.pop_front() {
            order.push(i);
            for &u in &users[i] {
                pending[u] -= 1;
                if pending[u] == 0 {
                    ready.push_back(u);
                }
            }
        }
        if let Some(stuck) = (0..graph.node.len()).find(|&i| pending[i] > 0) {
            return Err(format!(
                "the graph has a cycle: {} waits on its own output",
                node_label(graph, stuck)
            ));
        }
        // Shape computations: a `Shape` node, and any shape operator whose
        // inputs are all constants or shape tensors, one of them a shape.
        let mut shape_only = vec![false; graph.node.len()];
        let mut shape_tensors: HashSet<&str> = HashSet::new();
        for &i in &order {
            let n = &graph.node[i];
            let inputs = || n.input.iter().filter(|x| !x.is_empty());
            shape_only[i] = n.op_type == "Shape"
                || (SHAPE_OPS.contains(&n.op_type.as_str())
                    && inputs().any(|x| shape_tensors.contains(x.as_str()))
                    && inputs().all(|x| {
                        shape_tensors.contains(x.as_str()) || consts.contains_key(x.as_str())
                    }));
            if shape_only[i] {
                shape_tensors.extend(n.output.iter().map(String::as_str));
            }
        }
        // Readers of each tensor, shape computations not counted.
        let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            if !shape_only[i] {
                for x in n.input.iter().filter(|x| !x.is_empty()) {
                    let r = readers.entry(x.as_str()).or_default();
                    if r.last() != Some(&i) {
                        r.push(i);
                    }
                }
            }
        }
        Ok(Walk {
            graph,
            input,
            consts,
            declared,
            order,
            readers,
            shape_only,
            shape_tensors,
        })
    }

    fn label(&self, i: usize) -> String {
        node_label(self.graph, i)
    }

    /// Node `i`'s name, or `node N` when it has none.
    fn node_name(&self, i: usize) -> String {
        let n = &self.graph.node[i];
        if n.name.is_empty() {
            format!("node {}", i + 1)
        } else {
            n.name.clone()
        }
    }

    /// The data input: the one graph input that is not a constant and is
    /// read as some node's first input.
    fn data_input(&self) -> Result<&'g ValueInfoProto, String> {
        let firsts: HashSet<&str> = self
            .graph
            .node
            .iter()
            .filter(|n| n.op_type != "Constant")
            .filter_map(|n| n.input.first().map(String::as_str))
            .collect();
        let found: Vec<&ValueInfoProto> = self
            .graph
            .input
            .iter()
            .filter(|v| {
                !self.consts.contains_key(v.name.as_str()) && firsts.contains(v.name.as_str())
            })
            .collect();
        match found[..] {
            [v] => Ok(v),
            [] => Err("no graph input is read as data (the first input of a node)".into()),
            _ => Err(format!(
                "more than one graph input is read as data ({}); locus reads one input",
                found
                    .iter()
                    .map(|v| format!("\"{}\"", v.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The input shape without the batch, from the file and `--input`.
    fn input_shape(&self, v: &ValueInfoProto) -> Result<Shape, String> {
        let what = || format!("graph input \"{}\"", v.name);
        let dims = dims_of(v).ok_or_else(|| format!("{} has no shape", what()))?;
        match dims[..] {
            [_, c, h, w] => {
                let file = [c, h, w];
                let mut out = [0usize; 3];
                for (k, (&d, o)) in file.iter().zip(&mut out).enumerate() {
                    *o = match (d, self.input) {
                        (Some(d), Some(given)) => {
                            let d = size(d, &what)?;
                            if d != given[k] {
                                return Err(format!(
                                    "{} is {}, but --input gives {}x{}x{}",
                                    what(),
                                    dims_text(&file),
                                    given[0],
                                    given[1],
                                    given[2]
                                ));
                            }
                            d
                        }
                        (Some(d), None) => size(d, &what)?,
                        (None, Some(given)) => given[k],
                        (None, None) => {
                            return Err(format!(
                                "{} is {}: give its size with --input CxHxW",
                                what(),
                                dims_text(&file)
                            ));
                        }
                    };
                }
                Ok(Shape::Map(out[0], out[1], out[2]))
            }
            [_, n] => {
                if self.input.is_some() {
                    return Err(format!(
                        "{} is a vector; --input CxHxW is for image inputs",
                        what()
                    ));
                }
                let n = n.ok_or_else(|| format!("{} has a symbolic feature size", what()))?;
                Ok(Shape::Flat(size(n, &what)?))
            }
            _ => Err(format!(
                "{} has rank {}; locus reads NxCxHxW images or NxF vectors",
                what(),
                dims.len()
            )),
        }
    }

    /// The static shape of a weight-like input `name` of node `i`.
    fn param_dims(&self, i: usize, name: &str) -> Result<Vec<usize>, String> {
        let what = || format!("{}: weight \"{name}\"", self.label(i));
        let raw: Vec<Option<i64>> = if let Some(t) = self.consts.get(name) {
            t.dims.iter().map(|&d| Some(d)).collect()
        } else if let Some(v) = self.declared.get(name) {
            dims_of(v).ok_or_else(|| format!("{} has no shape", what()))?
        } else {
            return Err(format!(
                "{} has no shape (not an initializer, graph input or value info)",
                what()
            ));
        };
        raw.iter()
            .map(|d| {
                d.ok_or_else(|| format!("{} has a symbolic dimension", what()))
                    .and_then(|d| size(d, &what))
            })
            .collect()
    }

    fn attr(&self, i: usize, name: &str) -> Option<&'g AttributeProto> {
        self.graph.node[i].attribute.iter().find(|a| a.name == name)
    }

    fn attr_int(&self, i: usize, name: &str, default: i64) -> i64 {
        self.attr(i, name).map_or(default, |a| a.i)
    }

    fn attr_ints(&self, i: usize, name: &str) -> Option<&'g [i64]> {
        self.attr(i, name).map(|a| a.ints.as_slice())
    }

    /// The int64 values of a constant (a `Reshape`'s target shape).
    fn const_ints(&self, name: &str) -> Option<Vec<i64>> {
        let t = self.consts.get(name)?;
        if !t.int64_data.is_empty() {
            return Some(t.int64_data.clone());
        }
        if t.data_type == 7 && t.raw_data.len() % 8 == 0 && t.raw_data.len() <= 64 {
            return Some(
                t.raw_data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            );
        }
        None
    }

    fn run(&self) -> Result<Imported, String> {
        let data = self.data_input()?;
        let mut shape = self.input_shape(data)?;
        let mut stack = vec![match shape {
            Shape::Map(c, h, w) => LayerSpec::Input { c, h, w },
            Shape::Flat(n) => LayerSpec::Dense(n),
        }];
        let mut current: &str = &data.name;
        let mut open = Open::Input;
        let mut block: Option<Block<'g>> = None;
        let mut activation: Option<(Activation, usize)> = None;
        let mut folded_bn = 0usize;
        let mut names = Vec::new();
        let mut ignored: Vec<String> = Vec::new();
        let (mut leaky_noted, mut ignored_slope) = (false, Vec::new());
        let outputs: HashSet<&str> = self.graph.output.iter().map(|v| v.name.as_str()).collect();
        for &i in &self.order {
            let n: &NodeProto = &self.graph.node[i];
            let op = n.op_type.as_str();
            if op == "Constant" || self.shape_only[i] {
                continue;
            }
            if !n.domain.is_empty() && n.domain != "ai.onnx" {
                return Err(format!(
                    "{}: operator domain \"{}\" is not the standard ONNX domain",
                    self.label(i),
                    n.domain
                ));
            }
            let x = n.input.first().map(String::as_str).unwrap_or("");
            let y = n
                .output
                .first()
                .map(String::as_str)
                .filter(|o| !o.is_empty())
                .ok_or_else(|| format!("{} has no output", self.label(i)))?;
            // A tensor read twice opens a residual block.
            let branches = self.readers.get(current).map_or(0, Vec::len);
            let reads_current = n.input.iter().any(|t| t == current);
            if reads_current
                && branches > 1
                && block.as_ref().is_none_or(|b| b.input_name != current)
            {
                if let Some(b) = &block {
                    return Err(format!(
                        "tensor \"{current}\" branches (at {}) inside the residual block that starts at tensor \"{}\"; blocks follow one another",
                        self.label(i),
                        b.input_name
                    ));
                }
                if names.is_empty() {
                    return Err(format!(
                        "tensor \"{current}\" branches (at {}) before the first layer: a residual block starts after a layer",
                        self.label(i)
                    ));
                }
                block = Some(self.open_block(current, shape, names.len())?);
            }
            if let Some(b) = block.as_mut().filter(|b| b.side.contains(&i)) {
                if op == "Conv" {
                    let (_, out) = self.conv_layer(i, b.input)?;
                    let stride = self
                        .attr_ints(i, "strides")
                        .and_then(|v| v.first().copied());
                    b.projection = Some((out, stride.map_or(1, |v| v as usize)));
                } else if op == "BatchNormalization" {
                    folded_bn += 1;
                }
                continue;
            }
            if let Some(b) = block.take_if(|b| b.add == i) {
                stack.push(self.close_block(
                    i,
                    &b,
                    current,
                    shape,
                    open,
                    stack.last(),
                    names.len(),
                )?);
                current = y;
                continue;
            }
            if op == "Add"
                && n.input
                    .iter()
                    .filter(|t| !self.consts.contains_key(t.as_str()))
                    .count()
                    > 1
            {
                return Err(format!(
                    "{}: an Add of two computed tensors that is not a residual block's (a block's input read by its first Conv and by the Add, directly or through a 1x1 Conv); supported: {SUPPORTED_OPS}",
                    self.label(i)
                ));
            }
            if x != current {
                return Err(format!(
                    "{} reads \"{x}\", not \"{current}\" (the output of the layer before): locus reads a chain of layers and residual blocks",
                    self.label(i)
                ));
            }
            match op {
                "Conv" => {
                    let (layer, out) = self.conv_layer(i, shape)?;
                    names.push(self.node_name(i));
                    stack.push(layer);
                    self.close_hidden(i, open)?;
                    open = Open::Weight { conv: true };
                    shape = out;
                }
                "Gemm" | "MatMul" => {
                    let (layer, out) = self.dense_layer(i, shape)?;
                    names.push(self.node_name(i));
                    stack.push(layer);
                    self.close_hidden(i, open)?;
                    open = Open::Weight { conv: false };
                    shape = out;
                }
                "Add" => {
                    if !matches!(open, Open::Weight { .. }) {
                        return Err(format!(
                            "{}: adds a constant away from a layer's output (only a bias right after Conv, Gemm or MatMul is read)",
                            self.label(i)
                        ));
                    }
                }
                "BatchNormalization" => {
                    if !matches!(open, Open::Weight { .. }) {
                        return Err(format!(
                            "{}: BatchNormalization must follow a Conv, Gemm or MatMul directly (it is folded into that layer)",
                            self.label(i)
                        ));
                    }
                    folded_bn += 1;
                }
                "Relu" | "LeakyRelu" | "Clip" => {
                    let f = match op {
                        "Relu" => Activation::Relu,
                        "LeakyRelu" => {
                            let alpha = self.attr(i, "alpha").map_or(0.01, |a| a.f);
                            if alpha != 0.125 && !leaky_noted {
                                leaky_noted = true;
                                ignored_slope.push(alpha);
                            }
                            Activation::LeakyRelu
                        }
                        _ => self.clip_kind(i)?,
                    };
                    let Open::Weight { conv } = open else {
                        return Err(format!(
                            "{}: an activation must follow a Conv, Gemm or MatMul (with its bias and BatchNormalization)",
                            self.label(i)
                        ));
                    };
                    match activation {
                        Some((g, first)) if g != f => {
                            return Err(format!(
                                "{}: activation {f} differs from {g} at {}; locus uses one hidden activation",
                                self.label(i),
                                self.label(first)
                            ));
                        }
                        _ => activation = Some((f, i)),
                    }
                    open = Open::Activated {
                        conv,
                        pooled: false,
                    };
                }
                "MaxPool" | "AveragePool" | "GlobalAveragePool" => {
                    if !matches!(
                        open,
                        Open::Activated {
                            conv: true,
                            pooled: false
                        }
                    ) {
                        return Err(format!(
                            "{}: pooling must follow a Conv and its activation, once per layer",
                            self.label(i)
                        ));
                    }
                    let (layer, out) = self.pool_layer(i, shape)?;
                    stack.push(layer);
                    open = Open::Activated {
                        conv: true,
                        pooled: true,
                    };
                    shape = out;
                }
                "Flatten" | "Reshape" => {
                    if op == "Flatten" && self.attr_int(i, "axis", 1) != 1 {
                        return Err(format!(
                            "{}: only axis 1 (keep the batch) is supported",
                            self.label(i)
                        ));
                    }
                    if op == "Reshape" {
                        self.check_flatten(i, y)?;
                    }
                    shape = match shape {
                        Shape::Map(c, h, w) => Shape::Flat(c * h * w),
                        flat => flat,
                    };
                }
                "Identity" | "Dropout" => {}
                "Softmax" | "LogSoftmax" => {
                    if !outputs.contains(y) {
                        return Err(format!(
                            "{}: a softmax is read only at the network's output",
                            self.label(i)
                        ));
                    }
                    ignored.push(op.to_string());
                }
                _ => {
                    return Err(format!(
                        "{}: operator {op} is not supported; supported: {SUPPORTED_OPS}",
                        self.label(i)
                    ));
                }
            }
            current = y;
        }
        if let Some(b) = block {
            return Err(format!(
                "the residual block that starts at tensor \"{}\" never closes: {} is not reached",
                b.input_name,
                self.label(b.add)
            ));
        }
        if !outputs.contains(current) {
            return Err(format!(
                "the chain ends at tensor \"{current}\", which is not a graph output"
            ));
        }
        if stack.len() < 2 {
            return Err("the graph has no Conv, Gemm or MatMul layer".into());
        }
        let mut notes = Vec::new();
        if folded_bn > 0 {
            notes.push(format!(
                "{folded_bn} BatchNormalization node(s) folded into the layer before"
            ));
        }
        if matches!(open, Open::Activated { .. }) {
            notes.push(
                "the output layer's activation is dropped: the core's output layer is linear"
                    .into(),
            );
        }
        for alpha in ignored_slope {
            notes.push(format!(
                "LeakyRelu slope {alpha} is modelled with the core's leaky ReLU, slope 1/8"
            ));
        }
        for op in ignored {
            notes.push(format!("{op} at the output ignored: the core has none"));
        }
        Ok(Imported {
            stack,
            activation: activation.map(|(f, _)| f),
            notes,
            names,
        })
    }

    /// The residual block whose input is tensor `t` (of `shape`, read by
    /// two nodes), starting at weight layer `first`: of the two readers,
    /// the skip path is an `Add` (identity) or a `1 × 1` `Conv` followed
    /// only by `BatchNormalization` or `Identity` nodes into an `Add`
    /// (projection); the other reader starts the block's layers.
    fn open_block(&self, t: &'g str, shape: Shape, first: usize) -> Result<Block<'g>, String> {
        let readers = &self.readers[t];
        let skip_path = |start: usize| -> Option<Block<'g>> {
            let (mut i, mut at, mut side) = (start, t, Vec::new());
            loop {
                let n = &self.graph.node[i];
                match n.op_type.as_str() {
                    "Add" => {
                        return Some(Block {
                            input_name: t,
                            first,
                            input: shape,
                            side,
                            side_out: at,
                            add: i,
                            projection: None,
                        });
                    }
                    "Conv" if side.is_empty() => {
                        let w = n.input.get(1)?;
                        let dims = self.param_dims(i, w).ok()?;
                        if dims.len() != 4 || dims[2] != 1 || dims[3] != 1 {
                            return None;
                        }
                    }
                    "BatchNormalization" | "Identity" if !side.is_empty() => {}
                    _ => return None,
                }
                side.push(i);
                at = n.output.first()?;
                match self.readers.get(at).map(Vec::as_slice) {
                    Some(&[next]) => i = next,
                    _ => return None,
                }
            }
        };
        let found: Vec<Block<'g>> = match readers[..] {
            [a, b] => [a, b].into_iter().filter_map(skip_path).collect(),
            _ => Vec::new(),
        };
        // An identity before a projection; of two projections, the later
        // reader (the other is the block's own 1x1 conv).
        let pick = found
            .iter()
            .find(|b| b.side.is_empty())
            .or_else(|| found.last())
            .cloned();
        pick.ok_or_else(|| {
            let names: Vec<String> = readers.iter().map(|&r| self.label(r)).collect();
            format!(
                "tensor \"{t}\" is read by {} ({}), which do not form a residual block: the skip path must be an Add, or a 1x1 Conv (with BatchNormalization) into an Add",
                readers.len(),
                names.join(", ")
            )
        })
    }

    /// The `resN[p]` token of the residual block `b` closed by its `Add`
    /// node `i`: the `Add` must add the skip path's tensor to `current`,
    /// the output (of `shape`) of the block's last `Conv` and its
    /// `BatchNormalization`, before the activation; the skip's shape must
    /// be `shape`, and a projection's stride the one the layer text infers.
    #[allow(clippy::too_many_arguments)]
    fn close_block(
        &self,
        i: usize,
        b: &Block<'g>,
        current: &str,
        shape: Shape,
        open: Open,
        last: Option<&LayerSpec>,
        layers: usize,
    ) -> Result<LayerSpec, String> {
        let n = &self.graph.node[i];
        let mut ins: Vec<&str> = n.input.iter().map(String::as_str).collect();
        ins.sort_unstable();
        let mut want = vec![current, b.side_out];
        want.sort_unstable();
        if ins != want {
            return Err(format!(
                "{}: a residual Add must add the block's skip \"{}\" to \"{current}\", the output of the block's last layer; it reads {:?}",
                self.label(i),
                b.side_out,
                n.input
            ));
        }
        if !matches!(open, Open::Weight { conv: true })
            || !matches!(last, Some(LayerSpec::Conv { .. }))
        {
            return Err(format!(
                "{}: a residual Add must follow the block's last Conv (and its BatchNormalization) directly, before the activation and any pooling",
                self.label(i)
            ));
        }
        let skip = b.projection.map_or(b.input, |(out, _)| out);
        if skip != shape {
            return Err(format!(
                "{}: adds a skip of {} to a layer output of {}",
                self.label(i),
                skip.text(),
                shape.text()
            ));
        }
        if let (Some((_, stride)), Shape::Map(_, h, _), Shape::Map(_, oh, _)) =
            (b.projection, b.input, shape)
        {
            let inferred = h.div_ceil(oh).max(1);
            if stride != inferred {
                return Err(format!(
                    "{}: stride {stride} of a 1x1 projection from {h} to {oh} rows; locus models the smallest stride that gives them, {inferred}",
                    self.label(b.side[0])
                ));
            }
        }
        Ok(LayerSpec::Residual {
            back: layers - b.first,
            project: !b.side.is_empty(),
        })
    }

    /// A `Conv` node `i` on `shape`: its layer token and output shape.
    fn conv_layer(&self, i: usize, shape: Shape) -> Result<(LayerSpec, Shape), String> {
        let n = &self.graph.node[i];
        let in_text = shape.text();
        let Shape::Map(c, h, w) = shape else {
            return Err(format!(
                "{}: a convolution needs a feature map, but its input is a vector of {in_text}",
                self.label(i)
            ));
        };
        let wname = n
            .input
            .get(1)
            .ok_or_else(|| format!("{} has no weight input", self.label(i)))?;
        let wd = self.param_dims(i, wname)?;
        let [o, ci, kh, kw] = wd[..] else {
            return Err(format!(
                "{}: weight \"{wname}\" has rank {}, expected 4",
                self.label(i),
                wd.len()
            ));
        };
        let group = self.attr_int(i, "group", 1);
        let groups = size(group, &|| format!("{}: group", self.label(i)))?;
        if !c.is_multiple_of(groups) || ci != c / groups {
            return Err(format!(
                "{}: weight \"{wname}\" has {ci} input channels per group, but the input has {c} channels in {groups} group(s)",
                self.label(i)
            ));
        }
        if kh != kw {
            return Err(format!("{}: kernel {kh}x{kw} is not square", self.label(i)));
        }
        if let Some(ks) = self.attr_ints(i, "kernel_shape")
            && ks != [kh as i64, kw as i64]
        {
            return Err(format!(
                "{}: kernel_shape {ks:?} differs from the weight's {kh}x{kw}",
                self.label(i)
            ));
        }
        if self
            .attr_ints(i, "dilations")
            .is_some_and(|d| d.iter().any(|&v| v != 1))
        {
            return Err(format!(
                "{}: dilated convolutions are not supported",
                self.label(i)
            ));
        }
        let stride = match self.attr_ints(i, "strides") {
            None => 1,
            Some([s, t]) if s == t => size(*s, &|| format!("{}: strides", self.label(i)))?,
            Some(s) => {
                return Err(format!(
                    "{}: strides {s:?} are not one equal pair",
                    self.label(i)
                ));
            }
        };
        let pad = self.conv_pad(i, kh, stride, h, w)?;
        if h + 2 * pad < kh || w + 2 * pad < kw {
            return Err(format!(
                "{}: kernel {kh}x{kw} is larger than the padded input {in_text}",
                self.label(i)
            ));
        }
        if pad >= kh {
            return Err(format!(
                "{}: padding {pad} is not less than the kernel side {kh}",
                self.label(i)
            ));
        }
        let (oh, ow) = (
            (h + 2 * pad - kh) / stride + 1,
            (w + 2 * pad - kw) / stride + 1,
        );
        let layer = LayerSpec::Conv {
            k: kh,
            out: o,
            stride,
            pad,
            groups,
        };
        Ok((layer, Shape::Map(o, oh, ow)))
    }

    /// A `Gemm` or `MatMul` node `i` on `shape`: its layer token and output
    /// shape.
    fn dense_layer(&self, i: usize, shape: Shape) -> Result<(LayerSpec, Shape), String> {
        let n = &self.graph.node[i];
        let op = n.op_type.as_str();
        let in_text = shape.text();
        let Shape::Flat(nin) = shape else {
            return Err(format!(
                "{}: a dense layer needs a vector, but its input is a feature map {in_text} (add a Flatten)",
                self.label(i)
            ));
        };
        if op == "Gemm" && self.attr_int(i, "transA", 0) != 0 {
            return Err(format!("{}: transA = 1 is not supported", self.label(i)));
        }
        let wname = n
            .input
            .get(1)
            .ok_or_else(|| format!("{} has no weight input", self.label(i)))?;
        let wd = self.param_dims(i, wname)?;
        let [a, b] = wd[..] else {
            return Err(format!(
                "{}: weight \"{wname}\" has rank {}, expected 2",
                self.label(i),
                wd.len()
            ));
        };
        let (wi, wo) = if op == "Gemm" && self.attr_int(i, "transB", 0) != 0 {
            (b, a)
        } else {
            (a, b)
        };
        if wi != nin {
            return Err(format!(
                "{}: weight \"{wname}\" takes {wi} inputs, but the input has {nin}",
                self.label(i)
            ));
        }
        Ok((LayerSpec::Dense(wo), Shape::Flat(wo)))
    }

    /// A pooling node `i` on `shape`: its layer token and output shape.
    fn pool_layer(&self, i: usize, shape: Shape) -> Result<(LayerSpec, Shape), String> {
        let op = self.graph.node[i].op_type.as_str();
        let Shape::Map(c, h, w) = shape else {
            return Err(format!(
                "{}: pooling needs a feature map, but its input is a vector of {}",
                self.label(i),
                shape.text()
            ));
        };
        let (kind, k, stride, pad) = if op == "GlobalAveragePool" {
            if h != w {
                return Err(format!(
                    "{}: global pooling over a {h}x{w} map is not square",
                    self.label(i)
                ));
            }
            (PoolKind::Avg, h, h, 0)
        } else {
            let max = op == "MaxPool";
            let (n, s, p) = self.pool_window(i, max)?;
            let kind = if max { PoolKind::Max } else { PoolKind::Avg };
            (kind, n, s, p)
        };
        let tiles = stride == k && pad == 0;
        if !(2..=16).contains(&k)
            || (tiles && (h % k != 0 || w % k != 0))
            || h + 2 * pad < k
            || w + 2 * pad < k
        {
            return Err(format!(
                "{}: {k}x{k} windows do not fit the {h}x{w} map (locus pools with windows of 2..=16 that tile it, or max-pools at any stride)",
                self.label(i)
            ));
        }
        let side = |v: usize| (v + 2 * pad - k) / stride + 1;
        let layer = LayerSpec::Pool {
            kind,
            n: k,
            stride,
            pad,
        };
        Ok((layer, Shape::Map(c, side(h), side(w))))
    }

    /// A hidden weight layer must have its activation before the next one.
    fn close_hidden(&self, i: usize, open: Open) -> Result<(), String> {
        if matches!(open, Open::Weight { .. }) {
            return Err(format!(
                "{} follows a layer with no activation: locus applies the hidden activation after every hidden layer",
                self.label(i)
            ));
        }
        Ok(())
    }

    /// A `Reshape` (node `i`, output `y`) must flatten: to a constant
    /// rank-2 shape, or, where the target is computed from the input's
    /// `Shape`, to the rank-2 shape the file declares for `y`.
    fn check_flatten(&self, i: usize, y: &str) -> Result<(), String> {
        let target = self.graph.node[i]
            .input
            .get(1)
            .map(String::as_str)
            .unwrap_or("");
        let rank = if self.shape_tensors.contains(target) {
            match self.declared.get(y).and_then(|v| dims_of(v)) {
                Some(d) => Some(d.len()),
                None => {
                    return Err(format!(
                        "{}: its target shape is computed and the file declares no shape for \"{y}\"; store the model shape-inferred (onnx.shape_inference.infer_shapes)",
                        self.label(i)
                    ));
                }
            }
        } else {
            self.const_ints(target).map(|t| t.len())
        };
        if rank == Some(2) {
            Ok(())
        } else {
            Err(format!(
                "{}: only a Reshape to a rank-2 shape (a flatten) is supported",
                self.label(i)
            ))
        }
    }

    /// `Clip(-1, 1)` is hard-tanh; its bounds are attributes (opset < 11)
    /// or constant inputs.
    fn clip_kind(&self, i: usize) -> Result<Activation, String> {
        let n = &self.graph.node[i];
        let bound = |k: usize, attr: &str| -> Option<f32> {
            if let Some(a) = self.attr(i, attr) {
                return Some(a.f);
            }
            let t = self.consts.get(n.input.get(k)?.as_str())?;
            (t.data_type == 1 && t.raw_data.len() == 4).then(|| {
                f32::from_le_bytes([t.raw_data[0], t.raw_data[1], t.raw_data[2], t.raw_data[3]])
            })
        };
        match (bound(1, "min"), bound(2, "max")) {
            (Some(lo), Some(hi)) if lo == -1.0 && hi == 1.0 => Ok(Activation::HardTanh),
            (lo, hi) => Err(format!(
                "{}: Clip({}, {}) is not an activation locus has (Clip(-1, 1) is hard-tanh)",
                self.label(i),
                lo.map_or("?".into(), |v| v.to_string()),
                hi.map_or("?".into(), |v| v.to_string())
            )),
        }
    }

    /// A conv's symmetric padding from `pads` or `auto_pad`.
    fn conv_pad(
        &self,
        i: usize,
        k: usize,
        stride: usize,
        h: usize,
        w: usize,
    ) -> Result<usize, String> {
        let auto = self
            .attr(i, "auto_pad")
            .map(|a| a.s.as_ref())
            .unwrap_or(b"NOTSET");
        match auto {
            b"NOTSET" | b"" => match self.attr_ints(i, "pads") {
                None => Ok(0),
                Some(&[a, b, c, d]) if a == b && b == c && c == d && (0..=1 << 20).contains(&a) => {
                    Ok(a as usize)
                }
                Some(p) => Err(format!(
                    "{}: pads {p:?} are not one padding on every side",
                    self.label(i)
                )),
            },
            b"VALID" => Ok(0),
            b"SAME_UPPER" | b"SAME_LOWER" => {
                // Total padding (out − 1)·s + k − in with out = ceil(in / s).
                let total = |n: usize| {
                    (n.div_ceil(stride) - 1) * stride + k
                        - n.min((n.div_ceil(stride) - 1) * stride + k)
                };
                let (ph, pw) = (total(h), total(w));
                if ph == pw && ph % 2 == 0 {
                    Ok(ph / 2)
                } else {
                    Err(format!(
                        "{}: auto_pad SAME pads unevenly here, which locus does not model",
                        self.label(i)
                    ))
                }
            }
            other => Err(format!(
                "{}: auto_pad \"{}\" is not supported",
                self.label(i),
                String::from_utf8_lossy(other)
            )),
        }
    }

    /// The window of a non-overlapping pool: kernel = strides, no padding.
    /// A pool's square window, stride and symmetric padding `(n, s, p)`:
    /// windows that tile (`s = n`, `p = 0`), or, for `MaxPool`, any stride
    /// and a padding below the window side.
    fn pool_window(&self, i: usize, max: bool) -> Result<(usize, usize, usize), String> {
        let ks = self.attr_ints(i, "kernel_shape").unwrap_or(&[]);
        let [k, k2] = ks[..] else {
            return Err(format!(
                "{}: kernel_shape {ks:?} is not two sizes",
                self.label(i)
            ));
        };
        let strides = self.attr_ints(i, "strides").unwrap_or(&[1, 1]);
        let pads = self.attr_ints(i, "pads").unwrap_or(&[0, 0, 0, 0]);
        let bad = |why: &str| {
            Err(format!(
                "{}: kernel {ks:?}, strides {strides:?}, pads {pads:?}: {why}",
                self.label(i)
            ))
        };
        if k != k2 || self.attr_int(i, "ceil_mode", 0) != 0 {
            return bad("only square windows with ceil_mode 0 are supported");
        }
        if self
            .attr_ints(i, "dilations")
            .is_some_and(|d| d.iter().any(|&v| v != 1))
        {
            return bad("dilated pooling is not supported");
        }
        let [s, s2] = strides[..] else {
            return bad("strides are not two sizes");
        };
        let [p, q, r, t] = pads[..] else {
            return bad("pads are not four sizes");
        };
        if s != s2 || !(p == q && q == r && r == t) {
            return bad("strides and padding must be the same in both directions");
        }
        if !max && (s != k || p != 0) {
            return bad("an average pool must tile its map (kernel = stride, no padding)");
        }
        let what = || format!("{}: pooling", self.label(i));
        let n = size(k, &what)?;
        let stride = size(s, &what)?;
        let pad = usize::try_from(p).ok().filter(|&p| p < n);
        let Some(pad) = pad else {
            return bad("padding must be less than the window side");
        };
        Ok((n, stride, pad))
    }
}

fn dims_text(d: &[Option<i64>]) -> String {
    d.iter()
        .map(|v| v.map_or("?".to_string(), |v| v.to_string()))
        .collect::<Vec<_>>()
        .join("x")
}
