//! Range checks of a parsed [`HwModel`], in model-file order, stopping at the
//! first problem. Each error names the field path and the offending value.

use super::{
    BankRole, EnergyEntry, HwModel, Rom, RomStorage, SCHEMA_VERSION, SramBank, TensorClass,
};
use crate::quant::{FormatError, MAX_ACC_BITS, MIN_ACC_BITS};

/// Narrowest SRAM, ROM or link word, in bits.
pub const MIN_WORD_BITS: u32 = 8;
/// Widest SRAM, ROM or link word, in bits.
pub const MAX_WORD_BITS: u32 = 512;
/// Narrowest stored ROM value (`rom.storage.kind = "values"`), in bits.
pub const MIN_ROM_VALUE_BITS: u32 = 2;
/// Widest stored ROM value (`rom.storage.kind = "values"`), in bits.
pub const MAX_ROM_VALUE_BITS: u32 = 16;

/// The first out-of-range value in a model: its field path (e.g.
/// `sram.weight.capacity_bytes`), the value and the rule it breaks.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ValidationError {
    /// The schema version is not the one this build reads.
    #[error("{field} = {value}: unsupported schema version, must be {expected}")]
    Version {
        /// Field path.
        field: String,
        /// The version found.
        value: u64,
        /// The version this build reads.
        expected: u32,
    },
    /// A list entry below the one before it (a list that must not
    /// decrease).
    #[error(
        "{field} = {value}: below the entry before it ({before}); the list must not decrease (each core a contiguous run of layers)"
    )]
    Order {
        /// Field path.
        field: String,
        /// The rejected value.
        value: u64,
        /// The entry before it.
        before: u64,
    },
    /// An integer below its minimum.
    #[error("{field} = {value}: must be at least {min}")]
    TooSmall {
        /// Field path.
        field: String,
        /// The rejected value.
        value: u64,
        /// Smallest allowed value.
        min: u64,
    },
    /// An integer outside an inclusive range.
    #[error("{field} = {value}: must be {min}..={max}")]
    OutOfRange {
        /// Field path.
        field: String,
        /// The rejected value.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// An integer that is not a multiple of a required step.
    #[error("{field} = {value}: must be a multiple of {step}")]
    NotMultiple {
        /// Field path.
        field: String,
        /// The rejected value.
        value: u64,
        /// The required step.
        step: u64,
    },
    /// An integer that is not a power of two.
    #[error("{field} = {value}: must be a power of two")]
    NotPowerOfTwo {
        /// Field path.
        field: String,
        /// The rejected value.
        value: u64,
    },
    /// An integer larger than another field allows.
    #[error("{field} = {value}: must be at most {limit_field} = {limit}")]
    ExceedsField {
        /// Field path.
        field: String,
        /// The rejected value.
        value: u64,
        /// Path of the field that bounds it.
        limit_field: String,
        /// That field's value.
        limit: u64,
    },
    /// A real number that must be finite and strictly positive.
    #[error("{field} = {value}: must be a finite number greater than 0")]
    NotPositive {
        /// Field path.
        field: String,
        /// The rejected value.
        value: f64,
    },
    /// An energy that is negative or not finite.
    #[error("{field} = {value}: must be a finite number at least 0")]
    BadEnergy {
        /// Field path.
        field: String,
        /// The rejected value.
        value: f64,
    },
    /// A string that must say something.
    #[error("{field} = {value:?}: must not be empty")]
    Empty {
        /// Field path.
        field: String,
        /// The rejected value.
        value: String,
    },
    /// A value that another field's value rules out.
    #[error("{field} = {value}: not allowed with {other_field} = {other_value}: {why}")]
    Conflict {
        /// Field path.
        field: &'static str,
        /// The rejected value, as written.
        value: &'static str,
        /// The field that rules it out.
        other_field: &'static str,
        /// That field's value, as written.
        other_value: &'static str,
        /// What to do instead.
        why: &'static str,
    },
    /// A tensor format rejected by [`crate::quant::QFormat::validate`]; the
    /// inner error names `bits` or `frac` and its value.
    #[error("{field}.{error}")]
    Format {
        /// Path of the format, e.g. `formats.weight`.
        field: String,
        /// The format's own error.
        error: FormatError,
    },
}

impl ValidationError {
    /// Path of the offending field, e.g. `sram.weight.capacity_bytes`.
    pub fn field(&self) -> String {
        match self {
            ValidationError::Format { field, error } => match error {
                FormatError::Bits { .. } => format!("{field}.bits"),
                FormatError::Frac { .. } => format!("{field}.frac"),
            },
            ValidationError::Version { field, .. }
            | ValidationError::TooSmall { field, .. }
            | ValidationError::Order { field, .. }
            | ValidationError::OutOfRange { field, .. }
            | ValidationError::NotMultiple { field, .. }
            | ValidationError::NotPowerOfTwo { field, .. }
            | ValidationError::ExceedsField { field, .. }
            | ValidationError::NotPositive { field, .. }
            | ValidationError::BadEnergy { field, .. }
            | ValidationError::Empty { field, .. } => field.clone(),
            ValidationError::Conflict { field, .. } => field.to_string(),
        }
    }
}

type Check = Result<(), ValidationError>;

fn at_least(field: &str, value: u64, min: u64) -> Check {
    if value >= min {
        Ok(())
    } else {
        Err(ValidationError::TooSmall {
            field: field.to_string(),
            value,
            min,
        })
    }
}

fn in_range(field: &str, value: u64, min: u64, max: u64) -> Check {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ValidationError::OutOfRange {
            field: field.to_string(),
            value,
            min,
            max,
        })
    }
}

fn positive(field: &str, value: f64) -> Check {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ValidationError::NotPositive {
            field: field.to_string(),
            value,
        })
    }
}

fn non_empty(field: &str, value: &str) -> Check {
    if value.trim().is_empty() {
        Err(ValidationError::Empty {
            field: field.to_string(),
            value: value.to_string(),
        })
    } else {
        Ok(())
    }
}

fn word_bits(field: &str, value: u32) -> Check {
    in_range(
        field,
        value.into(),
        MIN_WORD_BITS.into(),
        MAX_WORD_BITS.into(),
    )?;
    if !value.is_multiple_of(8) {
        return Err(ValidationError::NotMultiple {
            field: field.to_string(),
            value: value.into(),
            step: 8,
        });
    }
    Ok(())
}

fn energy(field: &str, e: &EnergyEntry) -> Check {
    if !(e.pj.is_finite() && e.pj >= 0.0) {
        return Err(ValidationError::BadEnergy {
            field: format!("{field}.pj"),
            value: e.pj,
        });
    }
    non_empty(&format!("{field}.source"), &e.source)
}

fn bank(field: &str, b: &SramBank) -> Check {
    at_least(&format!("{field}.capacity_bytes"), b.capacity_bytes, 1)?;
    word_bits(&format!("{field}.word_bits"), b.word_bits)?;
    at_least(&format!("{field}.read_ports"), b.read_ports.into(), 1)?;
    at_least(&format!("{field}.write_ports"), b.write_ports.into(), 1)?;
    energy(&format!("{field}.read_energy_pj"), &b.read_energy_pj)?;
    energy(&format!("{field}.write_energy_pj"), &b.write_energy_pj)
}

fn rom(r: &Rom, classifier_bits: u32) -> Check {
    if let RomStorage::Values { bits } = r.storage {
        let field = "rom.storage.bits";
        in_range(
            field,
            bits.into(),
            MIN_ROM_VALUE_BITS.into(),
            MAX_ROM_VALUE_BITS.into(),
        )?;
        if bits > classifier_bits {
            return Err(ValidationError::ExceedsField {
                field: field.to_string(),
                value: bits.into(),
                limit_field: "formats.classifier.bits".to_string(),
                limit: classifier_bits.into(),
            });
        }
    }
    word_bits("rom.word_bits", r.word_bits)?;
    at_least("rom.capacity_bytes", r.capacity_bytes, 1)?;
    energy("rom.read_energy_pj", &r.read_energy_pj)
}

/// The most cores `"mapping": {"cores": N}` may ask for.
pub const MAX_CORES: u64 = 4096;

impl HwModel {
    /// Checks every range and cross-field rule, in model-file order, and
    /// returns the first problem. [`super::load`] and [`super::from_json_str`]
    /// call this; call it again after changing a model in code (e.g. a sweep).
    pub fn validate(&self) -> Result<(), ValidationError> {
        non_empty("name", &self.name)?;
        if self.version != SCHEMA_VERSION {
            return Err(ValidationError::Version {
                field: "version".to_string(),
                value: self.version.into(),
                expected: SCHEMA_VERSION,
            });
        }
        positive("clock_mhz", self.clock_mhz)?;
        match &self.mapping {
            super::Mapping::Cores(n) => in_range("mapping.cores", (*n).into(), 1, MAX_CORES)?,
            super::Mapping::LayerCores(v) => {
                if v.is_empty() {
                    return Err(ValidationError::TooSmall {
                        field: "mapping.layer_cores: its length".into(),
                        value: 0,
                        min: 1,
                    });
                }
                for (i, &c) in v.iter().enumerate() {
                    in_range(
                        &format!("mapping.layer_cores[{i}]"),
                        c.into(),
                        0,
                        MAX_CORES - 1,
                    )?;
                    if i > 0 && c < v[i - 1] {
                        return Err(ValidationError::Order {
                            field: format!("mapping.layer_cores[{i}]"),
                            value: c.into(),
                            before: v[i - 1].into(),
                        });
                    }
                }
            }
            _ => {}
        }
        at_least("mac_lanes", self.mac_lanes.into(), 1)?;
        at_least("lfsr_seed", self.lfsr_seed.into(), 1)?;

        for class in TensorClass::ALL {
            let field = format!("formats.{class}");
            self.format(class)
                .qformat()
                .validate()
                .map_err(|error| ValidationError::Format { field, error })?;
        }
        in_range(
            "formats.accumulator.bits",
            self.formats.accumulator.bits.into(),
            MIN_ACC_BITS.into(),
            MAX_ACC_BITS.into(),
        )?;

        for role in BankRole::ALL {
            bank(&format!("sram.{role}"), self.bank(role))?;
        }

        rom(&self.rom, self.formats.classifier.bits)?;
        if self.rom_in_dram() && self.rom.storage == RomStorage::Lfsr {
            return Err(ValidationError::Conflict {
                field: "offchip.rom",
                value: "\"dram\"",
                other_field: "rom.storage.kind",
                other_value: "\"lfsr\"",
                why: "lfsr entries are regenerated on use, nothing is stored to hold in DRAM; use kind \"sign_bits\" or \"values\"",
            });
        }

        let d = &self.dram;
        positive(
            "dram.bandwidth_bytes_per_cycle",
            d.bandwidth_bytes_per_cycle,
        )?;
        if !d.burst_bytes.is_power_of_two() {
            return Err(ValidationError::NotPowerOfTwo {
                field: "dram.burst_bytes".to_string(),
                value: d.burst_bytes.into(),
            });
        }
        energy("dram.read_energy_pj_per_byte", &d.read_energy_pj_per_byte)?;
        energy("dram.write_energy_pj_per_byte", &d.write_energy_pj_per_byte)?;

        let i = &self.interconnect;
        word_bits("interconnect.word_bits", i.word_bits)?;
        energy(
            "interconnect.energy_pj_per_word_hop",
            &i.energy_pj_per_word_hop,
        )?;

        let e = &self.energy;
        energy("energy.mac_pj", &e.mac_pj)?;
        energy("energy.add_pj", &e.add_pj)?;
        energy("energy.lfsr_step_pj", &e.lfsr_step_pj)?;
        energy("energy.compare_pj", &e.compare_pj)
    }
}
