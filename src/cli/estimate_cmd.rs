//! `locus estimate`: the counts, energy and timing of training a network
//! with each rule, without computing a value (`sim::estimate`), as the
//! terminal table of `compare`, a JSON report and a CSV of one row per
//! rule × core.

use super::train_cmd::{
    NetArgs, fitting_model, lr_note, parse_lr, parse_rule_name, rule_specific, selected_rules,
    sim_error, write_json,
};
use anyhow::Context;
use clap::Args;
use clap::builder::RangedU64ValueParser;
use locus::hw::counters::{Rw, Unit};
use locus::hw::model::{self, HwModel};
use locus::output::write_atomic;
use locus::report::{CompareReport, Infeasible, RunReport, table};
use locus::sim::{self, SimError, TrainConfig};
use std::io::Write;
use std::path::PathBuf;

/// `locus estimate` options.
#[derive(Args, Debug)]
pub struct EstimateArgs {
    #[command(flatten)]
    pub net: NetArgs,
    /// Rules, comma-separated, as for `compare` (bp = every buffering
    /// policy; bp/stash, fa/recompute, ... one policy).
    #[arg(long, value_delimiter = ',', default_value = "local,bp", value_parser = parse_rule_name)]
    pub rules: Vec<String>,
    /// Samples per batch (>= 1).
    #[arg(long, default_value_t = 1, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub batch: usize,
    /// Training samples per epoch: a number >= 1, or the training-set size
    /// of mnist (60000), cifar10 (50000) or imagenet (1281167).
    #[arg(long, default_value = "mnist", value_parser = parse_samples)]
    pub samples: u64,
    /// Epochs (>= 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: u32,
    /// Learning rate, checked as `train` checks it (counts do not depend
    /// on it). [default: each rule's, as `compare` takes it]
    #[arg(long, value_parser = parse_lr)]
    pub lr: Option<f64>,
    /// Seed (classifier ROMs; counts do not depend on it).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Hardware model JSON.
    #[arg(long, default_value = "hw_models/default.json")]
    pub model: PathBuf,
    /// Where to write the report JSON (a `compare` report without
    /// accuracies).
    #[arg(long, default_value = "reports/estimate.json")]
    pub out: PathBuf,
    /// Also write each rule's counts as Accelergy action counts
    /// (action_counts.yaml), to price them with your own ERT; with several
    /// rules, one file per rule: FILE's stem, `.rule`, its extension.
    #[arg(long, value_name = "FILE")]
    pub accelergy_out: Option<PathBuf>,
    /// Also write a CSV of one row per rule × core (MACs, SRAM bytes per
    /// bank, DRAM bytes, peaks, cycles, energy).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Also write an SVG of stacked bars, one per layer (core) and rule:
    /// bytes per sample by memory.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Print the per-core (per-layer with one core per layer) rows too.
    #[arg(long)]
    pub per_layer: bool,
}

/// Training-set sizes `--samples` accepts by name.
const DATASETS: [(&str, u64); 3] = [
    ("mnist", 60_000),
    ("cifar10", 50_000),
    ("imagenet", 1_281_167),
];

/// `--samples`: a whole number >= 1 or a dataset's name.
fn parse_samples(s: &str) -> Result<u64, String> {
    if let Some((_, n)) = DATASETS.iter().find(|(name, _)| *name == s) {
        return Ok(*n);
    }
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("expected a number of samples >= 1, or mnist, cifar10 or imagenet".into()),
    }
}

/// `locus estimate`.
pub fn estimate(args: &EstimateArgs) -> anyhow::Result<()> {
    let (model, source) = model::load_with_source(&args.model)?;
    let net = args.net.spec();
    let names = args.net.layer_names();
    eprintln!(
        "estimate: {net} on {} ({}, batch {}, {} samples x {} epoch(s), counts only)",
        model.name,
        lr_note(args.lr.unwrap_or(locus::rules::DEFAULT_LR))?,
        args.batch,
        args.samples,
        args.epochs
    );
    let start = std::time::Instant::now();
    let mut runs = Vec::new();
    let mut infeasible = Vec::new();
    for rule in selected_rules(&args.rules) {
        // The rule's own activation and rate where none is given, as
        // `compare` configures it (counts depend on neither).
        let config = TrainConfig {
            epochs: args.epochs,
            lr: args.lr.unwrap_or(rule.default_lr()),
            seed: args.seed,
            ..TrainConfig::new(rule, args.net.shared_spec_for(rule), args.batch)
        };
        let (model, changes) = fitting_model(&model, &config);
        for c in &changes {
            eprintln!("note: {}: {c}", args.model.display());
        }
        match sim::estimate(&model, &config, args.samples) {
            Ok(r) => {
                let rep = RunReport::new(&model, &r)?
                    .with_model_source(&source)
                    .with_model_changes(&changes);
                if let Some(n) = rep.streaming_note() {
                    eprintln!("note: {n}");
                }
                runs.push(rep)
            }
            Err(SimError::Chip(e)) if rule_specific(&e) => infeasible.push(Infeasible {
                rule: rule.label(),
                reason: e.to_string(),
            }),
            Err(e) => return Err(sim_error(&args.model, e)),
        }
    }
    if runs.is_empty() {
        // One reason for all (the network does not fit), or one per rule.
        let first = infeasible
            .first()
            .map(|i| i.reason.clone())
            .unwrap_or_default();
        let why = if infeasible.iter().all(|i| i.reason == first) {
            first
        } else {
            let each: Vec<String> = infeasible
                .iter()
                .map(|i| format!("{}: {}", i.rule, i.reason))
                .collect();
            each.join("; ")
        };
        anyhow::bail!("{}: no rule fits: {why}", args.model.display());
    }
    let seconds = start.elapsed().as_secs_f64();
    let report = CompareReport::new(runs, infeasible);
    let mut out = std::io::stdout().lock();
    table::write_compare(&mut out, &report)?;
    if args.per_layer {
        write_per_core(&mut out, &model, &names, &report)?;
    }
    write_json(&args.out, &report)?;
    writeln!(out, "wrote {}", args.out.display())?;
    if let Some(path) = &args.accelergy_out {
        let runs: Vec<&RunReport> = report.runs.iter().collect();
        super::write_accelergy(path, &runs, &mut out)?;
    }
    if let Some(csv) = &args.csv {
        write_csv(csv, &model, &names, &report)?;
        writeln!(out, "wrote {}", csv.display())?;
    }
    if let Some(svg) = &args.svg {
        if let Some(dir) = svg.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create directory", dir.display()))?;
        }
        locus::report::plot::write_layer_traffic_svg(svg, &report)?;
        writeln!(out, "wrote {}", svg.display())?;
    }
    eprintln!("estimated in {:.2} ms", 1e3 * seconds);
    Ok(())
}

/// The CSV header: one row per rule × core, counts for the whole run.
const CSV_HEADER: &str = "rule,core,layers,macs,weight_read_bytes,weight_write_bytes,activation_read_bytes,activation_write_bytes,error_read_bytes,error_write_bytes,stash_read_bytes,stash_write_bytes,rom_read_bytes,dram_read_bytes,dram_write_bytes,stash_peak_words,spill_peak_bytes,activation_peak_words,error_peak_words,weight_words,cycles,energy_pj";

/// The names of the layers on core `core` (one core per layer: its layer;
/// a shared core: every layer; `N` cores: the greedy rule's run of layers),
/// space-separated, commas made semicolons so the CSV keeps its columns.
fn core_layers(model: &HwModel, r: &RunReport, names: &[String], core: usize) -> String {
    let cores = locus::hw::core::layer_cores(model, &r.run.config.net).unwrap_or_default();
    names
        .iter()
        .enumerate()
        .filter(|&(i, _)| cores.get(i) == Some(&core))
        .map(|(_, n)| n.replace([',', ' '], ";"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One CSV or table row of core `core`'s counts `c` under `rule`.
fn core_row(model: &HwModel, names: &[String], r: &RunReport, core: usize, cycles: u64) -> String {
    let c = &r.measured.cores[core];
    let rule = r.run.config.rule.label();
    let bank_bytes = |u: Unit, rw: Rw| r.core_unit_bytes(core, u, rw).to_string();
    let energy = locus::hw::energy::estimate(model, std::slice::from_ref(c)).total_pj;
    let mut cells = vec![
        rule,
        core.to_string(),
        core_layers(model, r, names, core),
        c.macs.iter().sum::<u64>().to_string(),
    ];
    for u in [Unit::Weight, Unit::Activation, Unit::Error, Unit::Stash] {
        cells.push(bank_bytes(u, Rw::Read));
        cells.push(bank_bytes(u, Rw::Write));
    }
    cells.push(bank_bytes(Unit::Rom, Rw::Read));
    cells.push(c.dram_total(Rw::Read).unwrap_or(u64::MAX).to_string());
    cells.push(c.dram_total(Rw::Write).unwrap_or(u64::MAX).to_string());
    for v in [
        c.stash_peak_words,
        c.spill_peak_bytes,
        c.activation_peak_words,
        c.error_peak_words,
        c.weight_words,
        cycles,
    ] {
        cells.push(v.to_string());
    }
    cells.push(format!("{energy:.1}"));
    cells.join(",")
}

fn rows(model: &HwModel, names: &[String], report: &CompareReport) -> Vec<String> {
    let mut rows = Vec::new();
    for r in &report.runs {
        for core in 0..r.measured.cores.len() {
            let cycles = r.estimated.timing.core_cycles[core];
            rows.push(core_row(model, names, r, core, cycles));
        }
    }
    rows
}

fn write_csv(
    path: &std::path::Path,
    model: &HwModel,
    names: &[String],
    report: &CompareReport,
) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    }
    write_atomic(path, |w| {
        writeln!(w, "{CSV_HEADER}")?;
        for row in rows(model, names, report) {
            writeln!(w, "{row}")?;
        }
        Ok(())
    })?;
    Ok(())
}

fn write_per_core(
    out: &mut impl Write,
    model: &HwModel,
    names: &[String],
    report: &CompareReport,
) -> std::io::Result<()> {
    writeln!(
        out,
        "per core (one core per layer: core i = layer i), whole run:"
    )?;
    writeln!(out, "{CSV_HEADER}")?;
    for row in rows(model, names, report) {
        writeln!(out, "{row}")?;
    }
    Ok(())
}
