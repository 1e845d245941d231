//! The modelled hardware. [`model`] is the chip's fixed description (the
//! JSON file under `hw_models/`, typed and validated); the counted
//! primitives, bank state and statistics build on it.

pub mod model;

pub use model::{
    BankRole, ComputeEnergy, Dram, EnergyEntry, Formats, HwModel, Interconnect, Mapping,
    ModelError, Rom, RomStorage, SCHEMA_VERSION, Sram, SramBank, TensorClass, TensorFormat,
    ValidationError, from_json_str, load, words_for,
};
