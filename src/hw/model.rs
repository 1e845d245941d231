//! The hardware model: one typed, validated description of the modelled chip,
//! read from a JSON file under `hw_models/`.
//!
//! Everything the simulator assumes about the hardware lives here — clock, core
//! mapping, MAC lanes, the number format of every tensor class, the SRAM banks
//! of a core, the classifier ROM, DRAM, interconnect and the energy table. The
//! file is parsed with unknown fields denied and no defaults, then checked
//! once by [`HwModel::validate`]; every error names the file, the field path
//! and the offending value. `docs/hw_model.md` documents each field.

use crate::quant::{AccFormat, Overflow, QFormat, Rounding};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

pub mod ert;
mod validate;

pub use validate::{
    MAX_ROM_VALUE_BITS, MAX_WORD_BITS, MIN_ROM_VALUE_BITS, MIN_WORD_BITS, ValidationError,
};

/// The model-file schema version this build reads; any other value is rejected.
pub const SCHEMA_VERSION: u32 = 1;

/// A complete hardware model: the fixed spec of the chip (no runtime state,
/// no counters). Valid once [`HwModel::validate`] has returned `Ok`, which
/// [`load`] and [`from_json_str`] guarantee.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HwModel {
    /// Short identifier shown in reports, e.g. `default`. Non-empty.
    pub name: String,
    /// One-line human description of the chip.
    pub description: String,
    /// Schema version of the file; must equal [`SCHEMA_VERSION`].
    pub version: u32,
    /// Core clock in MHz (finite, > 0); converts cycles to seconds in reports.
    pub clock_mhz: f64,
    /// How network layers map onto cores.
    pub mapping: Mapping,
    /// Multiply-accumulates each core completes per cycle (≥ 1).
    pub mac_lanes: u32,
    /// Seed of the in-hardware rounding LFSR (nonzero: a zero state never changes).
    pub lfsr_seed: u32,
    /// Number formats of every tensor class and of the accumulator.
    pub formats: Formats,
    /// The SRAM banks of one core, by role.
    pub sram: Sram,
    /// The ROM holding each layer's fixed random classifier (one per core).
    pub rom: Rom,
    /// Off-chip DRAM, where the activation stash spills.
    pub dram: Dram,
    /// What may live off chip. The one optional field of the file: absent,
    /// everything is on chip ([`WeightStorage::OnChip`]), so files written
    /// before it existed keep their meaning.
    #[serde(default, skip_serializing_if = "Offchip::is_default")]
    pub offchip: Offchip,
    /// Fused dataflows, each sharing one pass over a layer's weights
    /// between two steps. Optional like `offchip`: absent, none.
    #[serde(default, skip_serializing_if = "Fusion::is_none")]
    pub fusion: Fusion,
    /// The links that move words between cores.
    pub interconnect: Interconnect,
    /// Energy per compute action.
    pub energy: ComputeEnergy,
}

/// How layers are placed on cores.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mapping {
    /// One core per layer, each with its own banks and ROM; layers can pipeline.
    CorePerLayer,
    /// One core, time-multiplexed over all layers; its banks hold every layer.
    SharedCore,
    /// `N` cores, `{"cores": N}`, each time-multiplexed over a contiguous
    /// run of layers chosen by a greedy rule that balances weights
    /// (`docs/hw_model.md`, "Mapping onto N cores").
    Cores(u32),
    /// The core of each weight layer, in layer order, `{"layer_cores":
    /// [0, 0, 1, 2, 2]}`: non-decreasing, so each core holds a contiguous
    /// run of layers; `max + 1` cores (a skipped index is a core with no
    /// layer).
    LayerCores(Vec<u32>),
}

impl Mapping {
    /// The name used in model files and reports.
    pub const fn name(&self) -> &'static str {
        match self {
            Mapping::CorePerLayer => "core_per_layer",
            Mapping::SharedCore => "shared_core",
            Mapping::Cores(_) => "cores",
            Mapping::LayerCores(_) => "layer_cores",
        }
    }

    /// Number of cores of a network of `layers` layers (with `cores: N`,
    /// `N`, some possibly holding no layer).
    pub fn cores(&self, layers: u32) -> u32 {
        match self {
            Mapping::CorePerLayer => layers,
            Mapping::SharedCore => 1,
            Mapping::Cores(n) => *n,
            Mapping::LayerCores(v) => v.iter().max().map_or(1, |m| m + 1),
        }
    }

    /// Whether each core runs its own layers at the same time as the others
    /// (several cores: a forward-only run pipelines across them).
    pub const fn pipelines(&self) -> bool {
        !matches!(self, Mapping::SharedCore)
    }
}

impl fmt::Display for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mapping::Cores(n) => write!(f, "{n} cores"),
            Mapping::LayerCores(v) => {
                write!(f, "{} cores by layer_cores", self.cores(v.len() as u32))
            }
            _ => f.write_str(self.name()),
        }
    }
}

/// What may be held off chip, in DRAM (`docs/hw_model.md`, "`offchip`").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offchip {
    /// Where the weight bank's contents live: weights and biases, learned
    /// classifiers and momentum's velocities.
    #[serde(default)]
    pub weights: WeightStorage,
    /// Where the fixed random matrices (local classifiers, feedback
    /// matrices, PEPITA's projection) live: in each core's ROM, or in DRAM,
    /// read on every use (the baseline of chips that generate them instead).
    #[serde(default, skip_serializing_if = "RomPlacement::is_on_chip")]
    pub rom: RomPlacement,
}

/// Where the fixed random matrices of the ROM live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RomPlacement {
    /// In each core's classifier ROM (`rom`), which must hold them.
    #[default]
    OnChip,
    /// In DRAM: every use reads its entries from DRAM (bytes, bursts and
    /// latency counted like any DRAM transfer; the ROM is neither read nor
    /// sized). Needs stored entries (`rom.storage` not `lfsr`).
    Dram,
}

impl RomPlacement {
    /// The name used in model files and reports.
    pub const fn name(&self) -> &'static str {
        match self {
            RomPlacement::OnChip => "on_chip",
            RomPlacement::Dram => "dram",
        }
    }

    fn is_on_chip(&self) -> bool {
        *self == RomPlacement::OnChip
    }
}

impl Offchip {
    /// Whether this is the default (everything on chip); such a model is
    /// written without the field.
    pub fn is_default(&self) -> bool {
        *self == Offchip::default()
    }
}

/// Fused dataflows (`docs/hw_model.md`, "Fused dataflows"): each lets two
/// steps share one pass over a layer's weights, where the rule's order
/// allows it. They change counts only, never values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fusion {
    /// A layer's update for one sample and its forward pass for the next
    /// share one pass (rules that update each layer right after its
    /// forward pass: local, drtp, local-learned, pepita).
    pub update_forward: bool,
    /// A layer's backward step (`Wᵀδ`, or GAIT-prop's target through `Wᵀ`)
    /// and its update share one pass (bp, gaitprop).
    pub backward_update: bool,
}

impl Fusion {
    /// Neither fusion; such a model is written without the field.
    pub fn is_none(&self) -> bool {
        *self == Fusion::default()
    }
}

/// Where a core's weight-bank contents live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightStorage {
    /// In the core's weight bank; a network whose weights do not fit is
    /// refused.
    #[default]
    OnChip,
    /// On chip where they fit; a core whose weight bank cannot hold its
    /// contents keeps them in DRAM and streams them through the bank, in
    /// tiles of the bank's capacity, on every pass that uses them.
    Stream,
}

impl WeightStorage {
    /// The name used in model files and reports.
    pub const fn name(&self) -> &'static str {
        match self {
            WeightStorage::OnChip => "on_chip",
            WeightStorage::Stream => "stream",
        }
    }
}

/// The classes of tensors that have their own number format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorClass {
    /// Layer weights (and biases).
    Weight,
    /// Layer inputs, pre-activations and outputs.
    Activation,
    /// Error signals (deltas) propagated or computed locally.
    Error,
    /// Weight updates (learning rate already applied) before they are added.
    Update,
    /// Values of the fixed random classifiers held in ROM.
    Classifier,
}

impl TensorClass {
    /// All classes, in model-file order.
    pub const ALL: [TensorClass; 5] = [
        TensorClass::Weight,
        TensorClass::Activation,
        TensorClass::Error,
        TensorClass::Update,
        TensorClass::Classifier,
    ];

    /// The name used in model files, reports and traces.
    pub const fn name(&self) -> &'static str {
        match self {
            TensorClass::Weight => "weight",
            TensorClass::Activation => "activation",
            TensorClass::Error => "error",
            TensorClass::Update => "update",
            TensorClass::Classifier => "classifier",
        }
    }
}

impl fmt::Display for TensorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Number format, rounding and overflow policy of one tensor class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorFormat {
    /// Total width in bits, sign included (see [`QFormat`]).
    pub bits: u32,
    /// Fractional bits, `< bits`.
    pub frac: u32,
    /// Rounding used whenever a value is requantised into this format.
    pub rounding: Rounding,
    /// What a value outside this format's range does.
    pub overflow: Overflow,
}

impl TensorFormat {
    /// The fixed-point format `Q(bits, frac)`. Meaningful once the model is
    /// validated (which checks it with [`QFormat::validate`]).
    pub const fn qformat(&self) -> QFormat {
        QFormat {
            bits: self.bits,
            frac: self.frac,
        }
    }
}

/// Formats of every tensor class, plus the accumulator register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Formats {
    /// Weight format.
    pub weight: TensorFormat,
    /// Activation format.
    pub activation: TensorFormat,
    /// Error-signal format.
    pub error: TensorFormat,
    /// Weight-update format.
    pub update: TensorFormat,
    /// Classifier (ROM) value format.
    pub classifier: TensorFormat,
    /// Accumulator width and overflow policy; products are summed here.
    pub accumulator: AccFormat,
}

impl Formats {
    /// The format of one tensor class.
    pub const fn get(&self, class: TensorClass) -> TensorFormat {
        match class {
            TensorClass::Weight => self.weight,
            TensorClass::Activation => self.activation,
            TensorClass::Error => self.error,
            TensorClass::Update => self.update,
            TensorClass::Classifier => self.classifier,
        }
    }
}

/// Roles of the SRAM banks every core has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankRole {
    /// The layer's weights (and biases).
    Weight,
    /// Layer input and output activations of the samples in flight.
    Activation,
    /// Error signals of the samples in flight.
    Error,
    /// Activations kept for a later phase (e.g. backprop's backward pass).
    Stash,
}

impl BankRole {
    /// All roles, in model-file order.
    pub const ALL: [BankRole; 4] = [
        BankRole::Weight,
        BankRole::Activation,
        BankRole::Error,
        BankRole::Stash,
    ];

    /// The name used in model files, reports and traces.
    pub const fn name(&self) -> &'static str {
        match self {
            BankRole::Weight => "weight",
            BankRole::Activation => "activation",
            BankRole::Error => "error",
            BankRole::Stash => "stash",
        }
    }
}

impl fmt::Display for BankRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The SRAM banks of one core, one per role, each with its own capacity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sram {
    /// Weight bank.
    pub weight: SramBank,
    /// Activation bank.
    pub activation: SramBank,
    /// Error bank.
    pub error: SramBank,
    /// Activation-stash bank.
    pub stash: SramBank,
}

impl Sram {
    /// The bank of one role.
    pub const fn get(&self, role: BankRole) -> &SramBank {
        match role {
            BankRole::Weight => &self.weight,
            BankRole::Activation => &self.activation,
            BankRole::Error => &self.error,
            BankRole::Stash => &self.stash,
        }
    }
}

/// One SRAM bank: capacity, word width, ports, latency and energy per access.
/// An access reads or writes one whole word.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SramBank {
    /// Capacity in bytes (≥ 1).
    pub capacity_bytes: u64,
    /// Width of one word in bits: `8..=512`, a multiple of 8.
    pub word_bits: u32,
    /// Word reads the bank can serve per cycle (≥ 1).
    pub read_ports: u32,
    /// Word writes the bank can accept per cycle (≥ 1).
    pub write_ports: u32,
    /// Energy of one word read, pJ.
    pub read_energy_pj: EnergyEntry,
    /// Energy of one word write, pJ.
    pub write_energy_pj: EnergyEntry,
    /// Fixed latency of an access, cycles.
    pub latency_cycles: u32,
}

impl SramBank {
    /// Words needed to hold `elements` values of `element_bits` bits each,
    /// by the packing rule of [`words_for`].
    pub fn words_for(&self, elements: u64, element_bits: u32) -> u64 {
        words_for(elements, element_bits, self.word_bits)
    }

    /// Whole words the bank holds: `floor(capacity_bytes * 8 / word_bits)`.
    pub fn capacity_words(&self) -> u64 {
        self.capacity_bytes.saturating_mul(8) / u64::from(self.word_bits.max(1))
    }

    /// Whether `elements` values of `element_bits` bits fit in the bank.
    pub fn fits(&self, elements: u64, element_bits: u32) -> bool {
        self.words_for(elements, element_bits) <= self.capacity_words()
    }
}

/// Words needed to store `elements` values of `element_bits` bits in words of
/// `word_bits` bits. Values never straddle a word boundary:
///
/// - `element_bits <= word_bits`: each word holds `floor(word_bits /
///   element_bits)` values (leftover bits unused), so the count is
///   `ceil(elements / floor(word_bits / element_bits))`;
/// - `element_bits > word_bits`: each value takes `ceil(element_bits /
///   word_bits)` words of its own, so the count is that times `elements`.
///
/// The result saturates at `u64::MAX`. Panics if `element_bits` or
/// `word_bits` is 0 (widths come from validated formats and models).
pub fn words_for(elements: u64, element_bits: u32, word_bits: u32) -> u64 {
    assert!(
        element_bits > 0 && word_bits > 0,
        "words_for: zero width (element_bits = {element_bits}, word_bits = {word_bits})"
    );
    if element_bits <= word_bits {
        let per_word = u64::from(word_bits / element_bits);
        elements.div_ceil(per_word)
    } else {
        elements.saturating_mul(u64::from(element_bits.div_ceil(word_bits)))
    }
}

/// How the fixed random classifier of each layer is held. In the file it is
/// an object tagged by `kind`: `{"kind": "sign_bits"}`, `{"kind": "values",
/// "bits": 4}` or `{"kind": "lfsr"}`; `bits` is required for `values` and
/// rejected for the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawRomStorage", into = "RawRomStorage")]
pub enum RomStorage {
    /// One sign bit per classifier entry (entries are ± one magnitude),
    /// packed into ROM words.
    SignBits,
    /// `bits`-bit two's-complement values per entry, packed into ROM words.
    Values {
        /// Stored bits per entry: `2..=16`, and at most the classifier format's bits.
        bits: u32,
    },
    /// No storage: entries are regenerated by an LFSR on every use, counted
    /// as generator steps (`energy.lfsr_step_pj`), not ROM reads.
    Lfsr,
}

/// The `kind` tag of [`RomStorage`] as written in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RomKind {
    SignBits,
    Values,
    Lfsr,
}

/// [`RomStorage`] as written in the file. Parsed as a plain struct (not a
/// serde-tagged enum) so that unknown fields are rejected and every error
/// keeps its field path and position.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRomStorage {
    kind: RomKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bits: Option<u32>,
}

impl TryFrom<RawRomStorage> for RomStorage {
    type Error = String;

    fn try_from(raw: RawRomStorage) -> Result<Self, String> {
        match (raw.kind, raw.bits) {
            (RomKind::Values, Some(bits)) => Ok(RomStorage::Values { bits }),
            (RomKind::Values, None) => {
                Err("missing field `bits` (required when kind = \"values\")".to_string())
            }
            (RomKind::SignBits, None) => Ok(RomStorage::SignBits),
            (RomKind::Lfsr, None) => Ok(RomStorage::Lfsr),
            (kind @ (RomKind::SignBits | RomKind::Lfsr), Some(bits)) => {
                let name = if kind == RomKind::Lfsr {
                    "lfsr"
                } else {
                    "sign_bits"
                };
                Err(format!(
                    "field `bits` = {bits} is only allowed when kind = \"values\", not \"{name}\""
                ))
            }
        }
    }
}

impl From<RomStorage> for RawRomStorage {
    fn from(s: RomStorage) -> Self {
        match s {
            RomStorage::SignBits => RawRomStorage {
                kind: RomKind::SignBits,
                bits: None,
            },
            RomStorage::Values { bits } => RawRomStorage {
                kind: RomKind::Values,
                bits: Some(bits),
            },
            RomStorage::Lfsr => RawRomStorage {
                kind: RomKind::Lfsr,
                bits: None,
            },
        }
    }
}

impl RomStorage {
    /// The name used in model files and reports.
    pub const fn name(&self) -> &'static str {
        match self {
            RomStorage::SignBits => "sign_bits",
            RomStorage::Values { .. } => "values",
            RomStorage::Lfsr => "lfsr",
        }
    }

    /// Bits stored per classifier entry, or `None` when nothing is stored.
    pub const fn entry_bits(&self) -> Option<u32> {
        match self {
            RomStorage::SignBits => Some(1),
            RomStorage::Values { bits } => Some(*bits),
            RomStorage::Lfsr => None,
        }
    }
}

/// The classifier ROM of one core. Its word width, capacity and read energy
/// are required and checked for every storage kind, so a model can switch
/// `storage` alone; with `lfsr` storage the ROM is never read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rom {
    /// How classifier entries are held.
    pub storage: RomStorage,
    /// Width of one ROM word in bits: `8..=512`, a multiple of 8.
    pub word_bits: u32,
    /// Capacity of one core's ROM in bytes (≥ 1).
    pub capacity_bytes: u64,
    /// Energy of one word read, pJ.
    pub read_energy_pj: EnergyEntry,
}

impl Rom {
    /// ROM words holding `entries` classifier entries (0 for `lfsr` storage).
    pub fn words_for(&self, entries: u64) -> u64 {
        match self.storage.entry_bits() {
            Some(bits) => words_for(entries, bits, self.word_bits),
            None => 0,
        }
    }

    /// Whole words the ROM holds: `floor(capacity_bytes * 8 / word_bits)`.
    pub fn capacity_words(&self) -> u64 {
        self.capacity_bytes.saturating_mul(8) / u64::from(self.word_bits.max(1))
    }
}

/// Off-chip DRAM: bandwidth, burst size, latency and energy per byte.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dram {
    /// Sustained bandwidth in bytes per core clock cycle (finite, > 0).
    pub bandwidth_bytes_per_cycle: f64,
    /// Bytes per burst, the transfer granule (a power of two ≥ 1).
    pub burst_bytes: u32,
    /// Fixed latency of a transfer, core clock cycles.
    pub latency_cycles: u32,
    /// Energy per byte read, pJ.
    pub read_energy_pj_per_byte: EnergyEntry,
    /// Energy per byte written, pJ.
    pub write_energy_pj_per_byte: EnergyEntry,
}

impl Dram {
    /// Bursts needed to move `bytes` bytes: `ceil(bytes / burst_bytes)`.
    pub fn bursts_for(&self, bytes: u64) -> u64 {
        bytes.div_ceil(u64::from(self.burst_bytes.max(1)))
    }
}

/// The links between cores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interconnect {
    /// Width of one transferred word in bits: `8..=512`, a multiple of 8.
    pub word_bits: u32,
    /// Latency of one hop, cycles.
    pub hop_latency_cycles: u32,
    /// Energy to move one word across one hop, pJ.
    pub energy_pj_per_word_hop: EnergyEntry,
}

impl Interconnect {
    /// Link words carrying `elements` values of `element_bits` bits
    /// (packing rule of [`words_for`]).
    pub fn words_for(&self, elements: u64, element_bits: u32) -> u64 {
        words_for(elements, element_bits, self.word_bits)
    }
}

/// Energy per compute action at the model's formats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeEnergy {
    /// One multiply-accumulate (multiply plus accumulator add), pJ.
    pub mac_pj: EnergyEntry,
    /// One addition outside a MAC (average pooling, residual skips,
    /// momentum's velocity), pJ.
    pub add_pj: EnergyEntry,
    /// One step of an LFSR (rounding or classifier generation), pJ.
    pub lfsr_step_pj: EnergyEntry,
    /// One comparison (max pooling only; activations and their derivatives
    /// count none), pJ.
    pub compare_pj: EnergyEntry,
}

/// One entry of the energy table: a value and where it comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyEntry {
    /// Energy in picojoules (finite, ≥ 0).
    pub pj: f64,
    /// Citation or stated assumption behind the value (non-empty).
    pub source: String,
}

impl HwModel {
    /// Whether a core whose weight-bank contents do not fit streams them
    /// from DRAM (`offchip.weights = "stream"`) rather than refusing the
    /// network.
    pub fn streams_weights(&self) -> bool {
        self.offchip.weights == WeightStorage::Stream
    }

    /// Whether the fixed random matrices are held in DRAM (`offchip.rom =
    /// "dram"`) rather than in each core's ROM.
    pub fn rom_in_dram(&self) -> bool {
        self.offchip.rom == RomPlacement::Dram
    }

    /// ROM words a core can hold: the ROM's capacity, or unbounded when the
    /// matrices live in DRAM.
    pub fn rom_limit_words(&self) -> u64 {
        if self.rom_in_dram() {
            u64::MAX
        } else {
            self.rom.capacity_words()
        }
    }

    /// The format of one tensor class.
    pub const fn format(&self, class: TensorClass) -> TensorFormat {
        self.formats.get(class)
    }

    /// The SRAM bank of one role (every core has one of each).
    pub const fn bank(&self, role: BankRole) -> &SramBank {
        self.sram.get(role)
    }

    /// The energy entries, each with its field path, in model-file order
    /// (for reports and the `model check` summary).
    pub fn energy_entries(&self) -> Vec<(String, &EnergyEntry)> {
        let mut out = Vec::new();
        for role in BankRole::ALL {
            let b = self.bank(role);
            out.push((format!("sram.{role}.read_energy_pj"), &b.read_energy_pj));
            out.push((format!("sram.{role}.write_energy_pj"), &b.write_energy_pj));
        }
        out.push(("rom.read_energy_pj".to_string(), &self.rom.read_energy_pj));
        let d = &self.dram;
        out.push((
            "dram.read_energy_pj_per_byte".to_string(),
            &d.read_energy_pj_per_byte,
        ));
        out.push((
            "dram.write_energy_pj_per_byte".to_string(),
            &d.write_energy_pj_per_byte,
        ));
        out.push((
            "interconnect.energy_pj_per_word_hop".to_string(),
            &self.interconnect.energy_pj_per_word_hop,
        ));
        let e = &self.energy;
        out.push(("energy.mac_pj".to_string(), &e.mac_pj));
        out.push(("energy.add_pj".to_string(), &e.add_pj));
        out.push(("energy.lfsr_step_pj".to_string(), &e.lfsr_step_pj));
        out.push(("energy.compare_pj".to_string(), &e.compare_pj));
        out
    }
}

/// Why a model file could not be used. Every message starts with the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("{}: cannot read: {cause}", path.display())]
    Read {
        /// The path that was opened.
        path: PathBuf,
        /// The I/O error (kept out of `source()` because it is in the message).
        cause: std::io::Error,
    },
    /// The text is not valid JSON or does not match the schema (missing,
    /// unknown or duplicate field, wrong type, unknown enum value).
    #[error("{file}: {}{message}", field_prefix(field))]
    Parse {
        /// Name of the file (or other source) being read.
        file: String,
        /// Path of the field where parsing stopped, e.g. `formats.weight`;
        /// empty at the top level.
        field: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The file parsed but a value is out of its allowed range.
    #[error("{file}: {error}")]
    Invalid {
        /// Name of the file (or other source) being read.
        file: String,
        /// The first problem found, naming the field and value.
        error: ValidationError,
    },
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

/// Reads, parses and validates the model file at `path`.
pub fn load(path: &Path) -> Result<HwModel, ModelError> {
    load_with_source(path).map(|(model, _)| model)
}

/// Which file a model was read from, so that a report names it exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSource {
    /// The path as given (e.g. on the command line), not canonicalised.
    pub path: String,
    /// SHA-256 of the file's bytes, lowercase hexadecimal (64 digits).
    pub sha256: String,
}

/// As [`load`], and also the file's path as given and the SHA-256 of the
/// very bytes that were parsed.
pub fn load_with_source(path: &Path) -> Result<(HwModel, ModelSource), ModelError> {
    let read_error = |cause| ModelError::Read {
        path: path.to_path_buf(),
        cause,
    };
    let bytes = std::fs::read(path).map_err(read_error)?;
    let sha256 = sha256_hex(&bytes);
    let text = String::from_utf8(bytes).map_err(|_| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })?;
    let name = path.display().to_string();
    let model = from_json_str(&text, &name)?;
    Ok((model, ModelSource { path: name, sha256 }))
}

/// SHA-256 of `bytes`, lowercase hexadecimal.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Parses and validates a model from JSON `text`; `source` names it in errors
/// (usually the file path).
///
/// A file declaring a `version` other than [`SCHEMA_VERSION`] is rejected
/// for its version before any other field is looked at.
pub fn from_json_str(text: &str, source: &str) -> Result<HwModel, ModelError> {
    /// Just the version, read leniently so a future schema is reported as
    /// such rather than as unknown fields.
    #[derive(Deserialize)]
    struct VersionProbe {
        version: Option<u64>,
    }
    if let Ok(VersionProbe {
        version: Some(found),
    }) = serde_json::from_str::<VersionProbe>(text)
        && found != u64::from(SCHEMA_VERSION)
    {
        return Err(ModelError::Invalid {
            file: source.to_string(),
            error: ValidationError::Version {
                field: "version".to_string(),
                value: found,
                expected: SCHEMA_VERSION,
            },
        });
    }

    let de = &mut serde_json::Deserializer::from_str(text);
    let model: HwModel =
        serde_path_to_error::deserialize(&mut *de).map_err(|e| parse_error(source, e))?;
    // Anything but whitespace after the top-level object is an error too.
    de.end().map_err(|e| ModelError::Parse {
        file: source.to_string(),
        field: String::new(),
        message: e.to_string(),
    })?;
    // The typed parse succeeded, so the text is valid JSON.
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text)
        && let Some(field) = first_array(&value, "")
    {
        return Err(ModelError::Parse {
            file: source.to_string(),
            field,
            message: "invalid type: array, expected an object with named fields".to_string(),
        });
    }
    model.validate().map_err(|error| ModelError::Invalid {
        file: source.to_string(),
        error,
    })?;
    Ok(model)
}

fn parse_error(source: &str, e: serde_path_to_error::Error<serde_json::Error>) -> ModelError {
    let field = field_path(e.path());
    ModelError::Parse {
        file: source.to_string(),
        field,
        message: e.into_inner().to_string(),
    }
}

/// `a.b[2].c` from parser path segments; segments the parser could not name
/// (e.g. a key cut off by the end of the file) are left out.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// The path of the first JSON array in `v`, if any. The schema has one list
/// (`mapping.layer_cores`) and no other arrays, but serde accepts an array
/// in place of a struct (fields by position); that spelling is refused so
/// each setting has one form.
fn first_array(v: &serde_json::Value, path: &str) -> Option<String> {
    match v {
        // The one list of the format.
        serde_json::Value::Array(_) if path == "mapping.layer_cores" => None,
        serde_json::Value::Array(_) => Some(path.to_string()),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, child)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            first_array(child, &p)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> HwModel {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("hw_models")
            .join(name);
        load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    fn default_text() -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
        std::fs::read_to_string(path).unwrap()
    }

    /// Parses the default model after `edit` changes its JSON value.
    fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> Result<HwModel, ModelError> {
        let mut v: serde_json::Value = serde_json::from_str(&default_text()).unwrap();
        edit(&mut v);
        from_json_str(&v.to_string(), "x.json")
    }

    /// Every model file in `hw_models/`, sorted.
    fn shipped_names() -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        assert!(names.len() >= 12, "{names:?}");
        names
    }

    #[test]
    fn shipped_models_load_and_validate() {
        for name in &shipped_names() {
            let m = shipped(name);
            m.validate().unwrap();
            assert_eq!(m.version, SCHEMA_VERSION);
            assert_eq!(&format!("{}.json", m.name), name);
        }
    }

    #[test]
    fn packing_rule() {
        // Four 16-bit values per 64-bit word.
        assert_eq!(words_for(4, 16, 64), 1);
        assert_eq!(words_for(1000, 16, 64), 250);
        assert_eq!(words_for(1001, 16, 64), 251);
        assert_eq!(words_for(0, 16, 64), 0);
        // 24-bit values: two per 64-bit word, 16 bits unused.
        assert_eq!(words_for(2, 24, 64), 1);
        assert_eq!(words_for(3, 24, 64), 2);
        // Wider than a word: 72 bits take two 64-bit words each.
        assert_eq!(words_for(1, 72, 64), 2);
        assert_eq!(words_for(5, 72, 64), 10);
        // Exactly one word each; sign bits 64 per word.
        assert_eq!(words_for(7, 64, 64), 7);
        assert_eq!(words_for(65, 1, 64), 2);
        assert_eq!(words_for(u64::MAX, 72, 64), u64::MAX);
    }

    #[test]
    fn bank_rom_and_dram_helpers() {
        let m = shipped("default.json");
        let stash = m.bank(BankRole::Stash);
        assert_eq!(stash.capacity_words(), 65536 * 8 / 64);
        assert_eq!(stash.words_for(1000, 16), 250);
        assert!(stash.fits(4 * 8192, 16));
        assert!(!stash.fits(4 * 8192 + 1, 16));
        assert_eq!(m.rom.words_for(1024 * 10), 160);
        let mut lfsr = m.rom.clone();
        lfsr.storage = RomStorage::Lfsr;
        assert_eq!(lfsr.words_for(1024 * 10), 0);
        assert_eq!(m.dram.bursts_for(0), 0);
        assert_eq!(m.dram.bursts_for(64), 1);
        assert_eq!(m.dram.bursts_for(65), 2);
        assert_eq!(m.interconnect.words_for(10, 16), 3);
        assert_eq!(Mapping::CorePerLayer.cores(3), 3);
        assert_eq!(Mapping::SharedCore.cores(3), 1);
        assert_eq!(m.format(TensorClass::Weight).qformat().to_string(), "Q2.14");
        assert_eq!(m.energy_entries().len(), 16);
    }

    /// Elements one core stashes per sample for backprop: the layer's input,
    /// in the activation format (no pre-activation is kept).
    fn stash_elements(n_in: u64) -> u64 {
        n_in
    }

    #[test]
    fn sha256_hex_matches_the_standard_vectors() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Guards the sizing stated in hw_models/README.md.
    #[test]
    fn default_sizing_matches_readme() {
        let m = shipped("default.json");
        let w = m.format(TensorClass::Weight).bits;
        let a = m.format(TensorClass::Activation).bits;
        let bank = m.bank(BankRole::Weight);
        for (n_in, n_out) in [(784, 1024), (1024, 1024), (1024, 10)] {
            assert!(bank.fits(n_in * n_out + n_out, w), "{n_in}x{n_out}");
        }
        let stash = m.bank(BankRole::Stash);
        assert_eq!(stash.capacity_words(), 8192);
        // The 1024-input cores bound the batch: 32 samples fit, 33 do not;
        // core 0 (784 inputs) holds 41 and spills at 42.
        assert!(stash.fits(32 * stash_elements(1024), a));
        assert!(!stash.fits(33 * stash_elements(1024), a));
        assert!(stash.fits(41 * stash_elements(784), a));
        assert!(!stash.fits(42 * stash_elements(784), a));
        for n_in in [784, 1024, 1024] {
            assert!(stash.fits(stash_elements(n_in), a));
            assert!(!stash.fits(64 * stash_elements(n_in), a));
        }
        // 1 sign bit per entry of a 10x1024 classifier fits the ROM.
        assert!(m.rom.words_for(10 * 1024) <= m.rom.capacity_words());
    }

    /// Guards the sizing stated in hw_models/README.md.
    #[test]
    fn edge_small_sizing_matches_readme() {
        let m = shipped("edge-small.json");
        let w = m.format(TensorClass::Weight).bits;
        let a = m.format(TensorClass::Activation).bits;
        let layers = [(784, 256), (256, 256), (256, 10)];
        for (n_in, n_out) in layers {
            assert!(m.bank(BankRole::Weight).fits(n_in * n_out + n_out, w));
        }
        let stash = m.bank(BankRole::Stash);
        assert_eq!(stash.capacity_words(), 512);
        // Core 0 (784 inputs) holds 5 samples and spills at 6; the
        // 256-input cores hold exactly 16 and spill at 17.
        assert!(stash.fits(5 * stash_elements(784), a));
        assert!(!stash.fits(6 * stash_elements(784), a));
        assert!(stash.fits(16 * stash_elements(256), a));
        assert!(!stash.fits(17 * stash_elements(256), a));
        assert!(m.rom.words_for(10 * 256) <= m.rom.capacity_words());
    }

    /// Guards the sizing stated in hw_models/README.md.
    #[test]
    fn feedback_rom_sizing_matches_readme() {
        let m = shipped("feedback-rom.json");
        let d = shipped("default.json");
        // 1024x1024 sign bits fill the ROM exactly; the default ROM is 32x smaller.
        assert_eq!(m.rom.words_for(1024 * 1024), m.rom.capacity_words());
        assert!(d.rom.words_for(1024 * 1024) > d.rom.capacity_words());
        assert!(d.rom.words_for(10 * 1024) <= d.rom.capacity_words());
        assert_eq!(m.rom.read_energy_pj.pj, 20.0);
        // Nothing else differs from the default model.
        let mut same = m.clone();
        same.name = d.name.clone();
        same.description = d.description.clone();
        same.rom = d.rom.clone();
        assert_eq!(same, d);
    }

    /// Guards hw_models/README.md: the stochastic variant differs from
    /// `feedback-rom.json` only in the weight and update rounding.
    #[test]
    fn feedback_rom_stochastic_differs_only_in_update_rounding() {
        let m = shipped("feedback-rom-stochastic.json");
        let f = shipped("feedback-rom.json");
        for class in [TensorClass::Weight, TensorClass::Update] {
            assert_eq!(m.format(class).rounding, Rounding::Stochastic);
            assert_eq!(f.format(class).rounding, Rounding::Nearest);
        }
        let mut same = m.clone();
        same.name = f.name.clone();
        same.description = f.description.clone();
        same.formats.weight.rounding = Rounding::Nearest;
        same.formats.update.rounding = Rounding::Nearest;
        assert_eq!(same, f);
    }

    #[test]
    fn serialises_back_to_the_same_model() {
        for name in &shipped_names() {
            let m = shipped(name);
            let text = serde_json::to_string_pretty(&m).unwrap();
            assert_eq!(from_json_str(&text, name).unwrap(), m);
        }
        let m = edited(|v| v["rom"]["storage"] = serde_json::json!({"kind": "values", "bits": 4}))
            .unwrap();
        assert_eq!(m.rom.storage, RomStorage::Values { bits: 4 });
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(from_json_str(&text, "y").unwrap(), m);
        let m = edited(|v| v["rom"]["storage"] = serde_json::json!({"kind": "lfsr"})).unwrap();
        assert_eq!(m.rom.storage.entry_bits(), None);
    }

    #[test]
    fn validation_errors_name_field_and_value() {
        type Edit = fn(&mut serde_json::Value);
        let cases: Vec<(Edit, &str, &str)> = vec![
            (
                |v| v["sram"]["weight"]["capacity_bytes"] = 0.into(),
                "sram.weight.capacity_bytes",
                "x.json: sram.weight.capacity_bytes = 0: must be at least 1",
            ),
            (
                |v| v["formats"]["weight"]["frac"] = 16.into(),
                "formats.weight.frac",
                "x.json: formats.weight.frac = 16: must be less than bits = 16",
            ),
            (
                |v| v["formats"]["update"]["bits"] = 1.into(),
                "formats.update.bits",
                "x.json: formats.update.bits = 1: must be 2..=32",
            ),
            (
                |v| v["sram"]["error"]["word_bits"] = 520.into(),
                "sram.error.word_bits",
                "x.json: sram.error.word_bits = 520: must be 8..=512",
            ),
            (
                |v| v["interconnect"]["word_bits"] = 20.into(),
                "interconnect.word_bits",
                "x.json: interconnect.word_bits = 20: must be a multiple of 8",
            ),
            (
                |v| v["clock_mhz"] = (-1.5).into(),
                "clock_mhz",
                "x.json: clock_mhz = -1.5: must be a finite number greater than 0",
            ),
            (
                |v| v["energy"]["compare_pj"]["pj"] = (-0.25).into(),
                "energy.compare_pj.pj",
                "x.json: energy.compare_pj.pj = -0.25: must be a finite number at least 0",
            ),
            (
                |v| v["energy"]["compare_pj"]["source"] = "".into(),
                "energy.compare_pj.source",
                "x.json: energy.compare_pj.source = \"\": must not be empty",
            ),
            (
                |v| v["dram"]["burst_bytes"] = 0.into(),
                "dram.burst_bytes",
                "x.json: dram.burst_bytes = 0: must be a power of two",
            ),
            (
                |v| v["rom"]["storage"] = serde_json::json!({"kind": "values", "bits": 9}),
                "rom.storage.bits",
                "x.json: rom.storage.bits = 9: must be at most formats.classifier.bits = 8",
            ),
            (
                |v| v["lfsr_seed"] = 0.into(),
                "lfsr_seed",
                "x.json: lfsr_seed = 0: must be at least 1",
            ),
            (
                |v| v["version"] = 7.into(),
                "version",
                "x.json: version = 7: unsupported schema version, must be 1",
            ),
        ];
        for (edit, field, message) in cases {
            match edited(edit) {
                Err(ModelError::Invalid { file, error }) => {
                    assert_eq!(file, "x.json");
                    assert_eq!(error.field(), field);
                    assert_eq!(format!("{file}: {error}"), message);
                }
                other => panic!("{field}: expected a validation error, got {other:?}"),
            }
        }
    }

    #[test]
    fn validate_checks_models_changed_in_code() {
        let mut m = shipped("default.json");
        m.formats.activation.frac = 16;
        let e = m.validate().unwrap_err();
        assert_eq!(e.field(), "formats.activation.frac");
        m.formats.activation.frac = 8;
        m.sram.stash.read_energy_pj.pj = f64::NAN;
        assert_eq!(
            m.validate().unwrap_err().to_string(),
            "sram.stash.read_energy_pj.pj = NaN: must be a finite number at least 0"
        );
        m.sram.stash.read_energy_pj.pj = f64::INFINITY;
        assert!(m.validate().is_err());
    }

    #[test]
    fn parse_errors_name_file_and_field() {
        let e = edited(|v| {
            v["sram"]["weight"]
                .as_object_mut()
                .unwrap()
                .remove("read_ports");
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("x.json: sram.weight: missing field `read_ports` at line"),
            "{e}"
        );
        let e = edited(|v| v["formats"]["weight"]["bitz"] = 3.into())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.json: formats.weight"), "{e}");
        assert!(e.contains("unknown field `bitz`"), "{e}");
        let e = edited(|v| v["rom"]["storage"] = serde_json::json!({"kind": "lfsr", "bits": 2}))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x.json: rom.storage: field `bits` = 2"),
            "{e}"
        );
        let e = from_json_str("{\"name\": ", "x.json")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "x.json: name: EOF while parsing a value at line 1 column 9"
        );
        let e = from_json_str(&format!("{} x", default_text()), "x.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.json: trailing characters at line"), "{e}");
        let e = edited(|v| v["formats"]["weight"] = serde_json::json!([16, 14, "nearest", "wrap"]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "x.json: formats.weight: invalid type: array, expected an object with named fields"
        );
        let e = load(Path::new("no/such/model.json"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("no/such/model.json: cannot read: "), "{e}");
    }
}
