//! The subset of ONNX's protobuf messages (`onnx/onnx.proto`, IR version 3
//! and later) that the importer reads, as `prost` messages: the graph, its
//! nodes and their attributes, value infos with their tensor shapes, and
//! tensors' names and dimensions. Field numbers are those of `onnx.proto`;
//! every field not listed here (weights' float data, doc strings, subgraphs,
//! training info, …) is skipped by the decoder without being stored, and
//! the raw bytes of small constant tensors (a `Reshape`'s target shape) are
//! slices of the file's buffer, not copies.

use prost::bytes::Bytes;

/// `ModelProto`: the file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    /// `ir_version` (field 1).
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// `graph` (field 7).
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
}

/// `GraphProto`: nodes in any order, with the tensors they read.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    /// `node` (field 1).
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// `name` (field 2).
    #[prost(string, tag = "2")]
    pub name: String,
    /// `initializer` (field 5): constant tensors (weights), by name.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// `input` (field 11): the graph's inputs (data, and in older files or
    /// files with weights stripped, the weights too).
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// `output` (field 12).
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    /// `value_info` (field 13): shapes of intermediate tensors.
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// `NodeProto`: one operator call.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    /// `input` (field 1): tensor names; an empty name is an omitted
    /// optional input.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// `output` (field 2).
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// `name` (field 3), may be empty.
    #[prost(string, tag = "3")]
    pub name: String,
    /// `op_type` (field 4), e.g. `Conv`.
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// `attribute` (field 5).
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// `domain` (field 7): empty or `ai.onnx` for the standard operators.
    #[prost(string, tag = "7")]
    pub domain: String,
}

/// `AttributeProto`: the int, float, ints and tensor forms the importer
/// reads (strings, graphs and the rest are skipped).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    /// `name` (field 1).
    #[prost(string, tag = "1")]
    pub name: String,
    /// `f` (field 2).
    #[prost(float, tag = "2")]
    pub f: f32,
    /// `i` (field 3).
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// `s` (field 4), e.g. `auto_pad`.
    #[prost(bytes = "bytes", tag = "4")]
    pub s: Bytes,
    /// `t` (field 5): a `Constant` node's value.
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// `ints` (field 8), packed or not.
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
}

/// `ValueInfoProto`: a tensor's name and type.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    /// `name` (field 1).
    #[prost(string, tag = "1")]
    pub name: String,
    /// `type` (field 2).
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// `TypeProto`: only its tensor form (field 1 of the `value` oneof).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    /// `tensor_type` (field 1).
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TensorTypeProto>,
}

/// `TypeProto.Tensor`: element type and shape.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorTypeProto {
    /// `elem_type` (field 1).
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    /// `shape` (field 2); absent when the rank is unknown.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// `TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// `dim` (field 1).
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// `TensorShapeProto.Dimension`: a size, a symbol, or neither (unknown).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Dimension {
    /// `dim_value` (field 1).
    #[prost(int64, optional, tag = "1")]
    pub dim_value: Option<i64>,
    /// `dim_param` (field 2), e.g. `N`.
    #[prost(string, optional, tag = "2")]
    pub dim_param: Option<String>,
}

/// `TensorProto`: a constant's name, dimensions and, for the small integer
/// tensors the importer reads, its data.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// `dims` (field 1), packed or not.
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// `data_type` (field 2): 7 is INT64.
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// `int64_data` (field 7).
    #[prost(int64, repeated, packed = "false", tag = "7")]
    pub int64_data: Vec<i64>,
    /// `name` (field 8).
    #[prost(string, tag = "8")]
    pub name: String,
    /// `raw_data` (field 9): little-endian values, a slice of the file.
    #[prost(bytes = "bytes", tag = "9")]
    pub raw_data: Bytes,
}
