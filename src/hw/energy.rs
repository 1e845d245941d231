//! Energy estimate: action counts × the model's energy table, in one place
//! (Accelergy's split). Changing an energy never needs a rerun: the report
//! keeps the counts and this multiplies them.

use super::counters::{CoreCounts, Rw, Unit};
use super::model::HwModel;
use serde::{Deserialize, Serialize};

/// Estimated energy by component, in picojoules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyBreakdown {
    /// Weight-bank reads and writes, pJ.
    pub sram_weight_pj: f64,
    /// Activation-bank reads and writes, pJ.
    pub sram_activation_pj: f64,
    /// Error-bank reads and writes, pJ.
    pub sram_error_pj: f64,
    /// Stash-bank reads and writes, pJ.
    pub sram_stash_pj: f64,
    /// Classifier ROM reads, pJ.
    pub rom_pj: f64,
    /// DRAM bytes read and written, pJ.
    pub dram_pj: f64,
    /// Interconnect word-hops, pJ.
    pub interconnect_pj: f64,
    /// Multiply-accumulates, pJ.
    pub mac_pj: f64,
    /// LFSR steps (rounding draws and classifier generation), pJ.
    pub lfsr_pj: f64,
    /// Pooling unit: compares (max pooling) and adds (average pooling), pJ.
    #[serde(default)]
    pub pool_pj: f64,
    /// Sum of the above, pJ.
    pub total_pj: f64,
}

/// The energy of the counted actions under `model`'s energy table.
pub fn estimate(model: &HwModel, counts: &[CoreCounts]) -> EnergyBreakdown {
    let mut e = EnergyBreakdown::default();
    for c in counts {
        for unit in Unit::ALL {
            let (r, w) = (
                c.unit_words(*unit, Rw::Read) as f64,
                c.unit_words(*unit, Rw::Write) as f64,
            );
            let pj = match unit.bank_role() {
                Some(role) => {
                    let b = model.bank(role);
                    r * b.read_energy_pj.pj + w * b.write_energy_pj.pj
                }
                None => r * model.rom.read_energy_pj.pj,
            };
            match unit {
                Unit::Weight => e.sram_weight_pj += pj,
                Unit::Activation => e.sram_activation_pj += pj,
                Unit::Error => e.sram_error_pj += pj,
                Unit::Stash => e.sram_stash_pj += pj,
                Unit::Rom => e.rom_pj += pj,
            }
        }
        e.dram_pj += c.dram_total(Rw::Read) as f64 * model.dram.read_energy_pj_per_byte.pj
            + c.dram_total(Rw::Write) as f64 * model.dram.write_energy_pj_per_byte.pj;
        e.interconnect_pj += c.noc_word_hops.iter().sum::<u64>() as f64
            * model.interconnect.energy_pj_per_word_hop.pj;
        e.mac_pj += c.macs.iter().sum::<u64>() as f64 * model.energy.mac_pj.pj;
        let steps = c.lfsr_draws.iter().sum::<u64>() + c.rom_generator_steps.iter().sum::<u64>();
        e.lfsr_pj += steps as f64 * model.energy.lfsr_step_pj.pj;
        e.pool_pj += c.compares.iter().sum::<u64>() as f64 * model.energy.compare_pj.pj
            + c.adds.iter().sum::<u64>() as f64 * model.energy.add_pj.pj;
    }
    e.total_pj = e.sram_weight_pj
        + e.sram_activation_pj
        + e.sram_error_pj
        + e.sram_stash_pj
        + e.rom_pj
        + e.dram_pj
        + e.interconnect_pj
        + e.mac_pj
        + e.lfsr_pj
        + e.pool_pj;
    e
}
