//! Reports: the `RunReport` (JSON, schema in `docs/report.md`) built from a
//! run's counters, with measured counts and derived estimates (energy,
//! cycles) in separate fields; the comparison of rules; terminal tables.

pub mod accelergy;
pub mod diagnostics;
pub mod pareto;
pub mod plot;
pub mod table;

use crate::hw::counters::{Class, CoreCounts, CountOverflow, Phase, Rw, Unit, fit_u64, wide_sum};
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
    /// DRAM bytes per tensor class, in class order (activation: inputs and
    /// stash spills; weight, classifier, update: streamed weight-bank
    /// contents); absent in reports written before it was counted.
    #[serde(default)]
    pub dram_bytes_by_class: Vec<(Class, ReadWrite)>,
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
    /// Weight-bank bytes in use (weights and biases, learned classifiers,
    /// velocities; a streaming core's whole bank).
    pub weight_bytes: u64,
    /// Weight-bank contents kept in DRAM and streamed, bytes (0 when every
    /// core holds its own).
    #[serde(default)]
    pub streamed_weight_bytes: u64,
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
    /// The hardware model file as given (`--model`), so that the report
    /// names the exact model it was derived from; absent when the model
    /// did not come unchanged from one file (a sweep point) and in reports
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_file: Option<String>,
    /// SHA-256 of that file's bytes as read, lowercase hexadecimal; absent
    /// exactly when `model_file` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
    /// Changes the run made to the model file's chip so the rule fits it,
    /// one line each (e.g. FA's feedback matrices generated by the LFSR
    /// because the ROM cannot store them); empty, and omitted, otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_changes: Vec<String>,
    /// Word width of the model's classifier ROM, bits.
    pub rom_word_bits: u32,
    /// Whether the fixed random matrices were read from DRAM rather than
    /// the ROM (`offchip.rom = "dram"`); absent (false) otherwise and in
    /// older reports.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rom_in_dram: bool,
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
    /// Signs that the run did not learn, or learned from less than it
    /// seems ([`diagnostics::diagnose`]); empty for a run that learns and
    /// for an estimate. Absent in reports written before, read as empty.
    #[serde(default)]
    pub diagnostics: Vec<diagnostics::Diagnostic>,
}

impl RunReport {
    /// A note when some core streams its weights from DRAM
    /// (`offchip.weights = "stream"`): how many cores and how many bytes
    /// live off chip; and one when the fixed random matrices are read from
    /// DRAM (`offchip.rom = "dram"`): how many bytes. `None` when neither.
    pub fn streaming_note(&self) -> Option<String> {
        let cores = &self.measured.cores;
        let n = cores.iter().filter(|c| c.streamed_weight_words > 0).count();
        let rule = self.run.config.rule.label();
        let weights = (n > 0).then(|| {
            format!(
                "{rule}: {n} of {} cores stream their weights from DRAM ({}B kept off chip, fetched on every pass; docs/hw_model.md \"Weights streamed from DRAM\")",
                cores.len(),
                table::si(self.measured.totals.streamed_weight_bytes as f64)
            )
        });
        let read: u64 = self
            .measured
            .totals
            .dram_bytes_by_class
            .iter()
            .filter(|(c, _)| *c == Class::Classifier)
            .map(|(_, rw)| rw.read)
            .sum();
        let rom = (self.rom_in_dram && read > 0).then(|| {
            format!(
                "{rule}: {}B of classifier entries read from DRAM (offchip.rom = \"dram\": the fixed random matrices are read on every use)",
                table::si(read as f64)
            )
        });
        match (weights, rom) {
            (Some(w), Some(r)) => Some(format!("{w}\nnote: {r}")),
            (w, r) => w.or(r),
        }
    }

    /// Builds the report of `result` under `model`. Every total over
    /// counters, cores, phases or classes is summed exactly and must fit 64
    /// bits, like the counters themselves; one that does not is a
    /// [`CountOverflow`] naming it (e.g. `totals.macs`), never a wrapped
    /// number (`docs/report.md`, "Counts near 2^64").
    pub fn new(model: &HwModel, result: &RunResult) -> Result<Self, CountOverflow> {
        let counts = &result.counts;
        let totals = totals(model, counts, result.overflow.total())?;
        let energy = energy::estimate(model, counts);
        let forward_only = result.config.rule.is_forward_only();
        let timing = timing::estimate(model, counts, result.samples, forward_only)?;
        let accesses = access_records(model, counts)?;
        let mut report = RunReport {
            schema: REPORT_SCHEMA,
            locus_version: env!("CARGO_PKG_VERSION").to_string(),
            model_changes: Vec::new(),
            model_name: model.name.clone(),
            model_file: None,
            model_sha256: None,
            rom_word_bits: model.rom.word_bits,
            rom_in_dram: model.rom_in_dram(),
            run: RunSummary {
                config: result.config.clone(),
                lr_shift: result.lr_shift,
                lr_realised: result.lr_realised,
                epochs: result.epochs.clone(),
                train_seconds: result.train_seconds,
                watch: result.watch.clone(),
                diagnostics: Vec::new(),
            },
            measured: Measured {
                samples: result.samples,
                totals,
                accesses,
                cores: counts.clone(),
                overflow: result.overflow,
                update_rounding: result.update_rounding,
            },
            estimated: Estimated {
                energy_per_sample_pj: energy.total_pj / result.samples.max(1) as f64,
                energy,
                timing,
            },
        };
        let underflow = result.config.arith == crate::sim::Arith::Fixed
            && crate::sim::lr_underflow(model, smallest_rate_shift(result)).is_some();
        report.run.diagnostics = diagnostics::diagnose(&report, model, result, underflow);
        Ok(report)
    }

    /// Records the file the model was read from (`model_file`,
    /// `model_sha256`).
    pub fn with_model_source(mut self, source: &crate::hw::model::ModelSource) -> Self {
        self.model_file = Some(source.path.clone());
        self.model_sha256 = Some(source.sha256.clone());
        self
    }

    /// The report with `changes` to the model file's chip recorded
    /// (`model_changes`).
    pub fn with_model_changes(mut self, changes: &[String]) -> Self {
        self.model_changes = changes.to_vec();
        self
    }

    /// Bytes `core` moved through `unit` in direction `rw` over the run:
    /// the sum of its access records (`measured.accesses`, whose bytes are
    /// already checked), so per-core figures agree with the report's.
    pub fn core_unit_bytes(&self, core: usize, unit: Unit, rw: Rw) -> u64 {
        self.measured
            .accesses
            .iter()
            .filter(|a| a.core == core && a.unit == unit && a.rw == rw)
            .map(|a| a.bytes)
            .sum()
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

/// Every nonzero counter with its bytes (`words × word bytes`, checked).
fn access_records(
    model: &HwModel,
    counts: &[CoreCounts],
) -> Result<Vec<AccessRecord>, CountOverflow> {
    let mut out = Vec::new();
    for (core, c) in counts.iter().enumerate() {
        for &unit in Unit::ALL {
            for &class in Class::ALL {
                for &phase in Phase::ALL {
                    for &rw in Rw::ALL {
                        let words = c.get_words(unit, class, phase, rw);
                        if words > 0 {
                            let bytes = u128::from(words) * u128::from(word_bytes(model, unit));
                            let bytes = fit_u64(
                                || {
                                    format!(
                                        "accesses[core {core}][{unit}][{class}][{phase}][{rw}].bytes"
                                    )
                                },
                                bytes,
                            )?;
                            out.push(AccessRecord {
                                core,
                                unit,
                                class,
                                phase,
                                rw,
                                words,
                                bytes,
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Exact read and write totals, checked into a [`ReadWrite`] named `name`.
#[derive(Clone, Copy, Default)]
struct WideRw {
    read: u128,
    write: u128,
}

impl WideRw {
    fn fit(self, name: &str) -> Result<ReadWrite, CountOverflow> {
        Ok(ReadWrite {
            read: fit_u64(|| format!("totals.{name}.read"), self.read)?,
            write: fit_u64(|| format!("totals.{name}.write"), self.write)?,
        })
    }
}

/// Totals over all cores, summed exactly in 128 bits (a per-core counter is
/// at most 2^64 − 1 and there are few of them, so these sums cannot
/// overflow) and checked into 64 bits at the end: an error names the total
/// (`totals.<field>`) and gives its exact value.
fn totals(
    model: &HwModel,
    counts: &[CoreCounts],
    overflow_events: u64,
) -> Result<Totals, CountOverflow> {
    let fit = |name: &str, v: u128| fit_u64(|| format!("totals.{name}"), v);
    let mut t = Totals::default();
    let sram_units = [Unit::Weight, Unit::Activation, Unit::Error, Unit::Stash];
    let word = |c: &CoreCounts, u: Unit, class: Class, p: Phase, rw: Rw| {
        u128::from(c.get_words(u, class, p, rw))
    };
    for &class in Class::ALL {
        let mut rw = WideRw::default();
        for c in counts {
            for u in sram_units {
                let wb = u128::from(word_bytes(model, u));
                for &p in Phase::ALL {
                    rw.read += word(c, u, class, p, Rw::Read) * wb;
                    rw.write += word(c, u, class, p, Rw::Write) * wb;
                }
            }
        }
        let rw = rw.fit(&format!("sram_bytes_by_class[{class}]"))?;
        t.sram_bytes_by_class.push((class, rw));
    }
    let (mut words, mut all_bytes) = (WideRw::default(), WideRw::default());
    for u in sram_units {
        let wb = u128::from(word_bytes(model, u));
        let mut bytes = WideRw::default();
        for c in counts {
            for &class in Class::ALL {
                for &p in Phase::ALL {
                    let (r, w) = (
                        word(c, u, class, p, Rw::Read),
                        word(c, u, class, p, Rw::Write),
                    );
                    words.read += r;
                    words.write += w;
                    bytes.read += r * wb;
                    bytes.write += w * wb;
                }
            }
        }
        all_bytes.read += bytes.read;
        all_bytes.write += bytes.write;
        t.sram_bytes_by_bank
            .push((u, bytes.fit(&format!("sram_bytes_by_bank[{u}]"))?));
    }
    t.sram_words = words.fit("sram_words")?;
    t.sram_bytes = all_bytes.fit("sram_bytes")?;
    let sum = |f: &dyn Fn(&CoreCounts) -> u128| counts.iter().map(f).sum::<u128>();
    let stash_wb = u128::from(word_bytes(model, Unit::Stash));
    let act_wb = u128::from(word_bytes(model, Unit::Activation));
    let weight_wb = u128::from(word_bytes(model, Unit::Weight));
    let rom = |c: &CoreCounts| {
        wide_sum(
            c.words[Unit::Rom.index()]
                .iter()
                .flatten()
                .map(|p| p[Rw::Read.index()]),
        )
    };
    t.rom_read_words = fit("rom_read_words", sum(&rom))?;
    t.rom_generator_steps = fit(
        "rom_generator_steps",
        sum(&|c| wide_sum(c.rom_generator_steps)),
    )?;
    let dram = |c: &CoreCounts, r: usize| wide_sum(c.dram_bytes.iter().map(|p| p[r]));
    let bursts = |c: &CoreCounts, r: usize| wide_sum(c.dram_bursts.iter().map(|p| p[r]));
    t.dram_bytes = WideRw {
        read: sum(&|c| dram(c, 0)),
        write: sum(&|c| dram(c, 1)),
    }
    .fit("dram_bytes")?;
    t.dram_bursts = WideRw {
        read: sum(&|c| bursts(c, 0)),
        write: sum(&|c| bursts(c, 1)),
    }
    .fit("dram_bursts")?;
    for &class in Class::ALL {
        let one = |c: &CoreCounts, r: usize| u128::from(c.dram_class_bytes[class.index()][r]);
        let rw = WideRw {
            read: sum(&|c| one(c, 0)),
            write: sum(&|c| one(c, 1)),
        };
        let rw = rw.fit(&format!("dram_bytes_by_class[{class}]"))?;
        t.dram_bytes_by_class.push((class, rw));
    }
    t.interconnect_words = fit(
        "interconnect_words",
        sum(&|c| wide_sum(c.noc_words.iter().flatten().copied())),
    )?;
    t.interconnect_word_hops = fit(
        "interconnect_word_hops",
        sum(&|c| wide_sum(c.noc_word_hops)),
    )?;
    t.macs = fit("macs", sum(&|c| wide_sum(c.macs)))?;
    t.lfsr_draws = fit("lfsr_draws", sum(&|c| wide_sum(c.lfsr_draws)))?;
    let stash = |c: &CoreCounts| u128::from(c.stash_peak_words) * stash_wb;
    t.peak_stash_bytes = fit("peak_stash_bytes", sum(&stash))?;
    t.peak_spill_bytes = fit("peak_spill_bytes", sum(&|c| u128::from(c.spill_peak_bytes)))?;
    t.peak_activation_storage_bytes = fit(
        "peak_activation_storage_bytes",
        sum(&|c| {
            u128::from(c.activation_peak_words) * act_wb + stash(c) + u128::from(c.spill_peak_bytes)
        }),
    )?;
    t.weight_bytes = fit(
        "weight_bytes",
        sum(&|c| u128::from(c.weight_words) * weight_wb),
    )?;
    t.streamed_weight_bytes = fit(
        "streamed_weight_bytes",
        sum(&|c| u128::from(c.streamed_weight_words) * weight_wb),
    )?;
    t.overflow_events = overflow_events;
    Ok(t)
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

/// The shift of the smallest per-sample rate a run trained at: the last
/// step of its schedule, or its one rate.
fn smallest_rate_shift(result: &RunResult) -> u32 {
    crate::sim::lr_shifts(&result.config)
        .ok()
        .and_then(|shifts| shifts.into_iter().max())
        .unwrap_or(result.lr_shift)
}
