//! Energy estimate: action counts × the model's energy table, in one place
//! (Accelergy's split). Changing an energy never needs a rerun: the report
//! keeps the counts and this multiplies them.

use super::counters::{CoreCounts, Rw, Unit, wide_sum};
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
    /// Standalone compares and adds, pJ: pooling's (max pooling compares,
    /// average pooling adds), the residual add and momentum's velocity
    /// adds.
    #[serde(default)]
    pub pool_pj: f64,
    /// Sum of the above, pJ.
    pub total_pj: f64,
}

/// The energy of the counted actions under `model`'s energy table. Counts
/// are summed exactly in 128 bits before the conversion to `f64`, so a
/// total past 64 bits cannot wrap here (the report's 64-bit totals are
/// checked separately).
pub fn estimate(model: &HwModel, counts: &[CoreCounts]) -> EnergyBreakdown {
    let total = |v: &[u64]| wide_sum(v.iter().copied()) as f64;
    let mut e = EnergyBreakdown::default();
    for c in counts {
        for unit in Unit::ALL {
            let words = |rw: Rw| {
                wide_sum(
                    c.words[unit.index()]
                        .iter()
                        .flatten()
                        .map(|p| p[rw.index()]),
                ) as f64
            };
            let (r, w) = (words(Rw::Read), words(Rw::Write));
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
        let dram = |rw: Rw| wide_sum(c.dram_bytes.iter().map(|p| p[rw.index()])) as f64;
        e.dram_pj += dram(Rw::Read) * model.dram.read_energy_pj_per_byte.pj
            + dram(Rw::Write) * model.dram.write_energy_pj_per_byte.pj;
        e.interconnect_pj += total(&c.noc_word_hops) * model.interconnect.energy_pj_per_word_hop.pj;
        e.mac_pj += total(&c.macs) * model.energy.mac_pj.pj;
        let steps = total(&c.lfsr_draws) + total(&c.rom_generator_steps);
        e.lfsr_pj += steps * model.energy.lfsr_step_pj.pj;
        e.pool_pj += total(&c.compares) * model.energy.compare_pj.pj
            + total(&c.adds) * model.energy.add_pj.pj;
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
