//! Cycle estimate from the counts. Per core and phase:
//! `cycles = max(ceil(MACs / lanes), ceil(bank words / ports) for every bank
//! and direction, ROM words, ceil(DRAM bytes / bandwidth)) + latencies`.
//! With one core per layer the forward-only rules (local, local-learned,
//! drtp) pipeline samples across layers (throughput set by the busiest core);
//! backprop, FA, DFA and PEPITA are update-locked (a sample's learning pass
//! must finish before the next forward pass uses the weights), so their
//! cores' times add up. A shared core always adds up.

use super::counters::{CoreCounts, Phase, Rw, Unit};
use super::model::{HwModel, Mapping};
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

fn div_ceil_f(n: u64, d: f64) -> u64 {
    (n as f64 / d).ceil() as u64
}

/// Busy cycles of one core in one phase.
pub fn phase_cycles(model: &HwModel, c: &CoreCounts, phase: Phase) -> u64 {
    let p = phase.index();
    let mut bound = c.macs[p].div_ceil(model.mac_lanes as u64);
    for unit in Unit::ALL {
        let (r, w) = (
            c.unit_phase_words(*unit, phase, Rw::Read),
            c.unit_phase_words(*unit, phase, Rw::Write),
        );
        let (rp, wp) = match unit.bank_role() {
            Some(role) => {
                let b = model.bank(role);
                (b.read_ports as u64, b.write_ports as u64)
            }
            None => (1, 1),
        };
        bound = bound.max(r.div_ceil(rp)).max(w.div_ceil(wp));
    }
    let dram = c.dram_bytes[p][0] + c.dram_bytes[p][1];
    bound = bound.max(div_ceil_f(dram, model.dram.bandwidth_bytes_per_cycle));
    bound + c.latency_cycles[p]
}

/// Cycles and throughput of a run of `samples` training samples;
/// `forward_only`: the rule updates each layer right after its forward step
/// ([`crate::rules::Rule::is_forward_only`]).
pub fn estimate(
    model: &HwModel,
    counts: &[CoreCounts],
    samples: u64,
    forward_only: bool,
) -> Timing {
    let core_phase_cycles: Vec<[u64; 4]> = counts
        .iter()
        .map(|c| std::array::from_fn(|p| phase_cycles(model, c, Phase::ALL[p])))
        .collect();
    let core_cycles: Vec<u64> = core_phase_cycles.iter().map(|p| p.iter().sum()).collect();
    let pipelined = forward_only && model.mapping == Mapping::CorePerLayer && counts.len() > 1;
    let total_cycles = if pipelined {
        core_cycles.iter().copied().max().unwrap_or(0)
    } else {
        core_cycles.iter().sum()
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
    Timing {
        core_phase_cycles,
        core_cycles,
        pipelined,
        total_cycles,
        cycles_per_sample,
        samples_per_s,
    }
}
