//! Reports: the `RunReport` (JSON, schema in `docs/report.md`) built from a
//! run's counters, with measured counts and derived estimates (energy,
//! cycles) in separate fields; the comparison of rules; terminal tables.

pub mod pareto;
pub mod plot;
pub mod table;

use crate::hw::counters::{Class, CoreCounts, Phase, Rw, Unit};
use crate::hw::energy::{self, EnergyBreakdown};
use crate::hw::model::HwModel;
use crate::hw::timing::{self, Timing};
use crate::rules::Rule;
use crate::sim::RunResult;
use serde::{Deserialize, Serialize};

/// Version of the report schema; bumped on any incompatible change.
pub const REPORT_SCHEMA: u32 = 1;

/// One nonzero access counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// Core index.
    pub core: usize,
    /// Memory unit (bank role or `rom`).
    pub unit: Unit,
    /// Tensor class.
    pub class: Class,
    /// Phase.
    pub phase: Phase,
    /// Direction.
    pub rw: Rw,
    /// Words accessed (the unit's word width).
    pub words: u64,
    /// Bytes moved: words × word width / 8.
    pub bytes: u64,
}

/// Read and write counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadWrite {
    /// Reads.
    pub read: u64,
    /// Writes.
    pub write: u64,
}

/// Totals over all cores of what was measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// SRAM bytes (all banks) per tensor class, in class order
    /// weight, activation, error, update, classifier, label.
    pub sram_bytes_by_class: Vec<(Class, ReadWrite)>,
    /// SRAM bytes per bank role, in order weight, activation, error, stash.
    pub sram_bytes_by_bank: Vec<(Unit, ReadWrite)>,
    /// SRAM words, all banks.
    pub sram_words: ReadWrite,
    /// SRAM bytes, all banks.
    pub sram_bytes: ReadWrite,
    /// Classifier ROM words read.
    pub rom_read_words: u64,
    /// Classifier-generator LFSR steps (`lfsr` ROM storage).
    pub rom_generator_steps: u64,
    /// DRAM bytes.
    pub dram_bytes: ReadWrite,
    /// DRAM bursts.
    pub dram_bursts: ReadWrite,
    /// Interconnect words sent.
    pub interconnect_words: u64,
    /// Interconnect word-hops.
    pub interconnect_word_hops: u64,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Rounding-LFSR draws.
    pub lfsr_draws: u64,
    /// Peak stash occupancy in SRAM, summed over cores, bytes.
    pub peak_stash_bytes: u64,
    /// Peak stash spilled to DRAM, summed over cores, bytes.
    pub peak_spill_bytes: u64,
    /// Peak activation storage: activation-bank working sets + stash + spill, bytes.
    pub peak_activation_storage_bytes: u64,
    /// Weight-bank bytes in use (weights and biases).
    pub weight_bytes: u64,
    /// Overflow (saturation and wrap) events of every class.
    pub overflow_events: u64,
}

/// Counts that were measured while training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Samples trained on.
    pub samples: u64,
    /// Totals over all cores.
    pub totals: Totals,
    /// Every nonzero access counter.
    pub accesses: Vec<AccessRecord>,
    /// Per-core counters as kept by the simulator.
    pub cores: Vec<CoreCounts>,
    /// Overflow events per class.
    pub overflow: crate::hw::datapath::OverflowByClass,
    /// Weight-update products and those rounding made vanish
    /// (`docs/arithmetic.md`, "Updates rounded to zero"); absent in reports
    /// written before it was counted, read as zero.
    #[serde(default)]
    pub update_rounding: crate::hw::datapath::UpdateRounding,
}

/// Quantities derived from the counts with the model's tables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimated {
    /// Energy by component.
    pub energy: EnergyBreakdown,
    /// Energy per training sample, pJ.
    pub energy_per_sample_pj: f64,
    /// Cycles and throughput.
    pub timing: Timing,
}

/// The report of one training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Report schema version.
    pub schema: u32,
    /// locus version that wrote it.
    pub locus_version: String,
    /// Name of the hardware model.
    pub model_name: String,
    /// Word width of the model's classifier ROM, bits.
    pub rom_word_bits: u32,
    /// The run's configuration, results and raw counters.
    pub run: RunSummary,
    /// Measured counts.
    pub measured: Measured,
    /// Derived estimates.
    pub estimated: Estimated,
}

/// Configuration echo and accuracy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The configuration.
    pub config: crate::sim::TrainConfig,
    /// `lr = 2^-lr_shift`.
    pub lr_shift: u32,
    /// Learning rate used.
    pub lr_realised: f64,
    /// Accuracy after each epoch.
    pub epochs: Vec<crate::sim::EpochResult>,
    /// Host seconds spent training.
    pub train_seconds: f64,
    /// Watch points of `train --watch N` (per-layer weights and output
    /// power every N samples); absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<crate::sim::WatchPoint>,
}

impl RunReport {
    /// Builds the report of `result` under `model`.
    pub fn new(model: &HwModel, result: &RunResult) -> Self {
        let counts = &result.counts;
        let totals = totals(model, result);
        let energy = energy::estimate(model, counts);
        let forward_only = result.config.rule.is_forward_only();
        let timing = timing::estimate(model, counts, result.samples, forward_only);
        RunReport {
            schema: REPORT_SCHEMA,
            locus_version: env!("CARGO_PKG_VERSION").to_string(),
            model_name: model.name.clone(),
            rom_word_bits: model.rom.word_bits,
            run: RunSummary {
                config: result.config.clone(),
                lr_shift: result.lr_shift,
                lr_realised: result.lr_realised,
                epochs: result.epochs.clone(),
                train_seconds: result.train_seconds,
                watch: result.watch.clone(),
            },
            measured: Measured {
                samples: result.samples,
                totals,
                accesses: access_records(model, counts),
                cores: counts.clone(),
                overflow: result.overflow,
                update_rounding: result.update_rounding,
            },
            estimated: Estimated {
                energy_per_sample_pj: energy.total_pj / result.samples.max(1) as f64,
                energy,
                timing,
            },
        }
    }

    /// Word width of the classifier ROM, bits (for converting ROM words to bytes).
    pub fn measured_rom_word_bits(&self) -> u32 {
        self.rom_word_bits
    }

    /// Final test accuracy (0 if no epoch ran).
    pub fn test_accuracy(&self) -> f64 {
        self.run.epochs.last().map_or(0.0, |e| e.test_accuracy)
    }
}

/// Bytes per word of a unit.
fn word_bytes(model: &HwModel, unit: Unit) -> u64 {
    let bits = match unit.bank_role() {
        Some(role) => model.bank(role).word_bits,
        None => model.rom.word_bits,
    };
    (bits as u64).div_ceil(8)
}

fn access_records(model: &HwModel, counts: &[CoreCounts]) -> Vec<AccessRecord> {
    let mut out = Vec::new();
    for (core, c) in counts.iter().enumerate() {
        for &unit in Unit::ALL {
            for &class in Class::ALL {
                for &phase in Phase::ALL {
                    for &rw in Rw::ALL {
                        let words = c.get_words(unit, class, phase, rw);
                        if words > 0 {
                            out.push(AccessRecord {
                                core,
                                unit,
                                class,
                                phase,
                                rw,
                                words,
                                bytes: words * word_bytes(model, unit),
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

fn totals(model: &HwModel, result: &RunResult) -> Totals {
    let counts = &result.counts;
    let mut t = Totals::default();
    let sram_units = [Unit::Weight, Unit::Activation, Unit::Error, Unit::Stash];
    for &class in Class::ALL {
        let mut rw = ReadWrite::default();
        for c in counts {
            for u in sram_units {
                let wb = word_bytes(model, u);
                for &p in Phase::ALL {
                    rw.read += c.get_words(u, class, p, Rw::Read) * wb;
                    rw.write += c.get_words(u, class, p, Rw::Write) * wb;
                }
            }
        }
        t.sram_bytes_by_class.push((class, rw));
    }
    for u in sram_units {
        let wb = word_bytes(model, u);
        let mut bytes = ReadWrite::default();
        for c in counts {
            let (r, w) = (c.unit_words(u, Rw::Read), c.unit_words(u, Rw::Write));
            t.sram_words.read += r;
            t.sram_words.write += w;
            bytes.read += r * wb;
            bytes.write += w * wb;
        }
        t.sram_bytes.read += bytes.read;
        t.sram_bytes.write += bytes.write;
        t.sram_bytes_by_bank.push((u, bytes));
    }
    let stash_wb = word_bytes(model, Unit::Stash);
    let act_wb = word_bytes(model, Unit::Activation);
    for c in counts {
        t.rom_read_words += c.unit_words(Unit::Rom, Rw::Read);
        t.rom_generator_steps += c.rom_generator_steps.iter().sum::<u64>();
        t.dram_bytes.read += c.dram_total(Rw::Read);
        t.dram_bytes.write += c.dram_total(Rw::Write);
        t.dram_bursts.read += c.dram_bursts.iter().map(|p| p[0]).sum::<u64>();
        t.dram_bursts.write += c.dram_bursts.iter().map(|p| p[1]).sum::<u64>();
        t.interconnect_words += c.noc_words.iter().flatten().sum::<u64>();
        t.interconnect_word_hops += c.noc_word_hops.iter().sum::<u64>();
        t.macs += c.macs.iter().sum::<u64>();
        t.lfsr_draws += c.lfsr_draws.iter().sum::<u64>();
        t.peak_stash_bytes += c.stash_peak_words * stash_wb;
        t.peak_spill_bytes += c.spill_peak_bytes;
        t.peak_activation_storage_bytes +=
            c.activation_peak_words * act_wb + c.stash_peak_words * stash_wb + c.spill_peak_bytes;
        t.weight_bytes += c.weight_words * word_bytes(model, Unit::Weight);
    }
    t.overflow_events = result.overflow.total();
    t
}

/// A metric compared between the local rule and the best backprop policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Saving {
    /// Metric name.
    pub metric: String,
    /// Unit of the values.
    pub unit: String,
    /// The local rule's value.
    pub local: f64,
    /// The best (lowest) value among the feasible backprop policies.
    pub best_bp: f64,
    /// Which policy achieved it.
    pub best_bp_policy: String,
    /// `100 · (best_bp − local) / best_bp`; positive when local saves.
    /// `None` when backprop's best is 0 and local's is not (e.g. ROM reads,
    /// which only local makes): no percentage exists.
    pub saving_percent: Option<f64>,
}

/// A backprop policy that could not run on the model (e.g. the stash did not fit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Infeasible {
    /// The rule and policy.
    pub rule: String,
    /// Why.
    pub reason: String,
}

/// The result of `locus compare`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    /// Report schema version.
    pub schema: u32,
    /// Every run that completed.
    pub runs: Vec<RunReport>,
    /// Runs that could not be mapped, with the reason.
    pub infeasible: Vec<Infeasible>,
    /// Savings of local over the best backprop policy, metric by metric.
    pub savings: Vec<Saving>,
}

/// The metrics compared, as (name, unit, extractor).
type Metric = (&'static str, &'static str, fn(&RunReport) -> f64);

/// Metrics where lower is better, compared in `locus compare`.
pub const METRICS: &[Metric] = &[
    ("sram_bytes", "B", |r| {
        let s = r.measured.totals.sram_bytes;
        (s.read + s.write) as f64
    }),
    ("rom_read_words", "words", |r| {
        r.measured.totals.rom_read_words as f64
    }),
    ("dram_bytes", "B", |r| {
        let d = r.measured.totals.dram_bytes;
        (d.read + d.write) as f64
    }),
    ("interconnect_word_hops", "word-hops", |r| {
        r.measured.totals.interconnect_word_hops as f64
    }),
    ("peak_stash_bytes", "B", |r| {
        (r.measured.totals.peak_stash_bytes + r.measured.totals.peak_spill_bytes) as f64
    }),
    ("peak_activation_storage_bytes", "B", |r| {
        r.measured.totals.peak_activation_storage_bytes as f64
    }),
    ("macs", "MACs", |r| r.measured.totals.macs as f64),
    ("cycles_per_sample", "cycles", |r| {
        r.estimated.timing.cycles_per_sample
    }),
    ("energy_per_sample", "pJ", |r| {
        r.estimated.energy_per_sample_pj
    }),
];

impl CompareReport {
    /// Compares the local run with every feasible backprop run, metric by
    /// metric, against the best backprop policy for each metric.
    pub fn new(runs: Vec<RunReport>, infeasible: Vec<Infeasible>) -> Self {
        let mut savings = Vec::new();
        if let Some(local) = runs.iter().find(|r| r.run.config.rule == Rule::Local) {
            for (name, unit, get) in METRICS {
                let best = runs
                    .iter()
                    .filter(|r| matches!(r.run.config.rule, Rule::Bp(_)))
                    .map(|r| (get(r), r.run.config.rule.label()))
                    .min_by(|a, b| a.0.total_cmp(&b.0));
                if let Some((best_bp, policy)) = best {
                    let l = get(local);
                    savings.push(Saving {
                        metric: name.to_string(),
                        unit: unit.to_string(),
                        local: l,
                        best_bp,
                        best_bp_policy: policy,
                        saving_percent: if best_bp > 0.0 {
                            Some(100.0 * (best_bp - l) / best_bp)
                        } else if l == 0.0 {
                            Some(0.0)
                        } else {
                            None
                        },
                    });
                }
            }
        }
        CompareReport {
            schema: REPORT_SCHEMA,
            runs,
            infeasible,
            savings,
        }
    }
}
