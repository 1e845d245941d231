//! Cycle estimate from the counts. Per core and phase:
//! `cycles = max(ceil(MACs / lanes), ceil(bank words / ports) for every bank
//! and direction, ROM words, ceil(DRAM bytes / bandwidth)) + latencies`.
//! With one core per layer the forward-only rules (local, local-learned,
//! drtp) pipeline samples across layers (throughput set by the busiest core);
//! backprop, FA, DFA and PEPITA are update-locked (a sample's learning pass
//! must finish before the next forward pass uses the weights), so their
//! cores' times add up. A shared core always adds up.

use super::counters::{CoreCounts, CountOverflow, Phase, Rw, Unit, fit_u64, wide_sum};
use super::model::HwModel;
use serde::{Deserialize, Serialize};

/// Estimated cycles and throughput.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Busy cycles of each core, per phase `[core][phase]`, in phase order
    /// forward, local_error, backward, update.
    pub core_phase_cycles: Vec<[u64; 4]>,
    /// Busy cycles of each core, summed over phases.
    pub core_cycles: Vec<u64>,
    /// Whether samples overlap across cores (a forward-only rule, one core per layer).
    pub pipelined: bool,
    /// Modelled cycles for the whole training run.
    pub total_cycles: u64,
    /// Modelled cycles per training sample.
    pub cycles_per_sample: f64,
    /// Modelled training throughput at the model's clock, samples per second.
    pub samples_per_s: f64,
}

/// Ports of `unit` in direction `rw` (the ROM has one read port).
pub fn ports(model: &HwModel, unit: Unit, rw: Rw) -> u64 {
    match unit.bank_role() {
        Some(role) => {
            let b = model.bank(role);
            match rw {
                Rw::Read => b.read_ports as u64,
                Rw::Write => b.write_ports as u64,
            }
        }
        None => 1,
    }
}

/// Cycles `unit` is busy moving `words` words in direction `rw`,
/// `ceil(words / ports)`.
pub fn port_cycles(model: &HwModel, unit: Unit, rw: Rw, words: u64) -> u64 {
    words.div_ceil(ports(model, unit, rw))
}

/// Cycles of the MAC array for `macs` multiply-accumulates,
/// `ceil(MACs / lanes)`.
pub fn mac_cycles(model: &HwModel, macs: u64) -> u64 {
    macs.div_ceil(model.mac_lanes as u64)
}

/// The cycle formula, the one place it is written: `max(ceil(MACs /
/// lanes), each bank and direction's busy cycles (`busy`, from
/// [`port_cycles`]), ceil(DRAM bytes / bandwidth)) + latency`, in 128 bits
/// (the caller checks the result into 64). Used per core and phase by
/// [`estimate`] and per primitive call by the trace schedule.
pub fn cycles(
    model: &HwModel,
    macs: u64,
    busy: impl IntoIterator<Item = u64>,
    dram_bytes: u128,
    latency: u64,
) -> u128 {
    let dram = (dram_bytes as f64 / model.dram.bandwidth_bytes_per_cycle).ceil() as u128;
    let bound = busy
        .into_iter()
        .map(u128::from)
        .fold(u128::from(mac_cycles(model, macs)).max(dram), u128::max);
    bound + u128::from(latency)
}

/// Busy cycles of one core in one phase; an error names the core's phase
/// (`core_phase_cycles[core][phase]`) or the counter whose sum passes 64
/// bits. The bound and latencies are summed in 128 bits and checked.
pub fn phase_cycles(
    model: &HwModel,
    c: &CoreCounts,
    core: usize,
    phase: Phase,
) -> Result<u64, CountOverflow> {
    let p = phase.index();
    let mut busy = Vec::with_capacity(2 * Unit::COUNT);
    for &unit in Unit::ALL {
        for &rw in Rw::ALL {
            busy.push(port_cycles(
                model,
                unit,
                rw,
                c.unit_phase_words(unit, phase, rw)?,
            ));
        }
    }
    let dram = wide_sum(c.dram_bytes[p]);
    fit_u64(
        || format!("core_phase_cycles[{core}][{phase}]"),
        cycles(model, c.macs[p], busy, dram, c.latency_cycles[p]),
    )
}

/// Cycles and throughput of a run of `samples` training samples;
/// `forward_only`: the rule updates each layer right after its forward step
/// ([`crate::rules::Rule::is_forward_only`]). Cycle totals are `u64`,
/// checked: a total past 64 bits is a [`CountOverflow`] naming it
/// (`core_phase_cycles[c][p]`, `core_cycles[c]` or `total_cycles`).
pub fn estimate(
    model: &HwModel,
    counts: &[CoreCounts],
    samples: u64,
    forward_only: bool,
) -> Result<Timing, CountOverflow> {
    let mut core_phase_cycles: Vec<[u64; 4]> = Vec::with_capacity(counts.len());
    let mut core_cycles: Vec<u64> = Vec::with_capacity(counts.len());
    for (core, c) in counts.iter().enumerate() {
        let mut phases = [0u64; 4];
        for (slot, &phase) in phases.iter_mut().zip(Phase::ALL) {
            *slot = phase_cycles(model, c, core, phase)?;
        }
        core_phase_cycles.push(phases);
        core_cycles.push(fit_u64(
            || format!("core_cycles[{core}]"),
            wide_sum(phases),
        )?);
    }
    let pipelined = forward_only && model.mapping.pipelines() && counts.len() > 1;
    let total_cycles = if pipelined {
        core_cycles.iter().copied().max().unwrap_or(0)
    } else {
        fit_u64(
            || "total_cycles".into(),
            wide_sum(core_cycles.iter().copied()),
        )?
    };
    let cycles_per_sample = if samples == 0 {
        0.0
    } else {
        total_cycles as f64 / samples as f64
    };
    let samples_per_s = if cycles_per_sample > 0.0 {
        model.clock_mhz * 1e6 / cycles_per_sample
    } else {
        0.0
    };
    Ok(Timing {
        core_phase_cycles,
        core_cycles,
        pipelined,
        total_cycles,
        cycles_per_sample,
        samples_per_s,
    })
}
