//! The modelled hardware. [`model`] is the chip's fixed description (the
//! JSON file under `hw_models/`, typed and validated); [`datapath`] computes
//! the values (fixed point or `f32`); the counted primitives of [`core`]
//! compute through the datapath and count every access they make, and feed
//! each one to a [`trace_sink::TraceSink`] (compiled away when untraced).

pub mod datapath;
pub mod model;

pub use model::{
    BankRole, ComputeEnergy, Dram, EnergyEntry, Formats, Fusion, HwModel, Interconnect, Mapping,
    ModelError, Offchip, Rom, RomStorage, SCHEMA_VERSION, Sram, SramBank, TensorClass,
    TensorFormat, ValidationError, WeightStorage, from_json_str, load, words_for,
};

pub mod core;
pub mod counters;
pub mod energy;
pub mod kernels;
pub mod rom;
pub mod timing;
pub mod trace_sink;
