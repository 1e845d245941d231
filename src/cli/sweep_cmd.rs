//! `locus sweep`: run a sweep spec (resumable, shardable, parallel), merge
//! shard files, and report the results with their Pareto fronts.

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use locus::limits::ByteSize;
use locus::report::pareto;
use locus::report::plot::{SweepPoint, write_sweep_svgs};
use locus::report::table::si;
use locus::sweep::{self, LoadedSpec, Narrowest, PointResult, SeedGroup, Shard};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// `locus sweep` options.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    #[command(flatten)]
    pub run: SweepRunArgs,
}

/// Running a sweep.
#[derive(Args, Debug)]
pub struct SweepRunArgs {
    /// Sweep spec JSON (docs/sweeps.md), e.g. sweeps/bits.json.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Results file (JSON lines); rerunning resumes it.
    #[arg(long, default_value = "results.jsonl")]
    pub results: PathBuf,
    /// Points run in parallel.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Run only every n-th point: i/n runs points with index % n == i.
    #[arg(long)]
    pub shard: Option<String>,
    /// Refuse, before running anything, a sweep whose datasets and largest
    /// `--threads` points (run at once) are estimated to need more host
    /// memory than this many bytes (suffix K, M, G or T: powers of 1024).
    #[arg(long, default_value = "4G")]
    pub max_memory: ByteSize,
}

/// `locus sweep merge` and `locus sweep report`.
#[derive(Subcommand, Debug)]
pub enum SweepCommand {
    /// Combine shard results files into one, checking that every point is
    /// present exactly once.
    Merge {
        /// The sweep spec the shards ran.
        #[arg(long)]
        spec: PathBuf,
        /// Merged results file.
        #[arg(long)]
        out: PathBuf,
        /// Shard results files.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Print a table per rule and mark the Pareto fronts (accuracy vs
    /// energy, accuracy vs SRAM+DRAM bytes).
    Report {
        /// The sweep spec.
        #[arg(long)]
        spec: PathBuf,
        /// Results file.
        results: PathBuf,
        /// Directory for the SVG plots (accuracy and energy against bits,
        /// Pareto front).
        #[arg(long, default_value = "reports/sweep")]
        out_dir: PathBuf,
        /// Tolerance for the narrowest-widths table, in accuracy points
        /// (percent) below each rule's widest configuration.
        #[arg(long, default_value_t = 1.0, value_parser = parse_within)]
        within: f64,
    },
}

/// `locus sweep ...`.
pub fn run(args: &SweepArgs) -> anyhow::Result<()> {
    match &args.command {
        Some(SweepCommand::Merge { spec, out, inputs }) => {
            let spec = LoadedSpec::load(spec)?;
            let n = sweep::merge(&spec, inputs, out)?;
            println!("merged {n} points into {}", out.display());
            Ok(())
        }
        Some(SweepCommand::Report {
            spec,
            results,
            out_dir,
            within,
        }) => report(&LoadedSpec::load(spec)?, results, out_dir, *within),
        None => {
            let Some(spec_path) = &args.run.spec else {
                anyhow::bail!(
                    "--spec FILE is required to run a sweep (or use `sweep merge` / `sweep report`)"
                );
            };
            let spec = LoadedSpec::load(spec_path)?;
            let shard = match &args.run.shard {
                Some(s) => Shard::parse(s)?,
                None => Shard { shard: 0, count: 1 },
            };
            if args.run.threads == 0 {
                anyhow::bail!("--threads 0: must be at least 1");
            }
            let points = sweep::shard_points(&spec, shard)?;
            let data = sweep::load_datasets(&points)?;
            let data_bytes = data
                .values()
                .map(|(train, test)| super::limits_cmd::data_bytes(train, test))
                .sum();
            let runs: Vec<_> = points.iter().map(|p| (&p.model, &p.config)).collect();
            let limit = args.run.max_memory.0;
            super::limits_cmd::check_runs(&runs, args.run.threads, data_bytes, limit)?;
            let pb = ProgressBar::new(0);
            if std::io::stderr().is_terminal() {
                pb.set_style(
                    ProgressStyle::with_template("sweep [{bar:30}] {pos}/{len} points eta {eta}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
            } else {
                pb.set_draw_target(ProgressDrawTarget::hidden());
            }
            let summary = sweep::run(
                &spec,
                &points,
                &data,
                &args.run.results,
                args.run.threads,
                &|done, total| {
                    pb.set_length(total as u64);
                    pb.set_position(done as u64);
                },
            )?;
            pb.finish_and_clear();
            println!(
                "sweep {}: {} points in shard {}/{}, {} already done, {} run now; results in {}",
                spec.spec.name,
                summary.points,
                shard.shard,
                shard.count,
                summary.skipped,
                summary.ran,
                args.run.results.display()
            );
            Ok(())
        }
    }
}

fn parse_within(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s}: expected accuracy points between 0 and 100, e.g. 1.0"
        )),
    }
}

fn report(spec: &LoadedSpec, path: &Path, out_dir: &Path, within: f64) -> anyhow::Result<()> {
    let (results, truncated) = sweep::read_results(path, &spec.hash)?;
    if truncated {
        eprintln!("warning: {}: last line cut short; ignored", path.display());
    }
    let mut rules: Vec<String> = results.iter().map(|r| r.rule.clone()).collect();
    rules.sort();
    rules.dedup();
    let mut out = std::io::stdout().lock();
    for rule in rules {
        let rs: Vec<&PointResult> = results.iter().filter(|r| r.rule == rule).collect();
        let acc = |r: &PointResult| r.test_accuracy().unwrap_or(f64::NAN);
        let energy: Vec<(f64, f64)> = rs
            .iter()
            .map(|r| (acc(r), r.energy_per_sample_pj.unwrap_or(f64::NAN)))
            .collect();
        let bytes: Vec<(f64, f64)> = rs
            .iter()
            .map(|r| (acc(r), r.bytes_per_sample().unwrap_or(f64::NAN)))
            .collect();
        let (fe, fb) = (pareto::front(&energy), pareto::front(&bytes));
        writeln!(
            out,
            "rule {rule} ({} points)  E = on the accuracy/energy front, B = on the accuracy/bytes front",
            rs.len()
        )?;
        writeln!(
            out,
            "{:>6} {:>3} {:>3} {:>3} {:>3} {:>9} {:>12} {:>12}  front  settings",
            "point", "w", "a", "e", "u", "accuracy", "pJ/sample", "B/sample"
        )?;
        for (k, r) in rs.iter().enumerate() {
            let marks = format!(
                "{}{}",
                if fe[k] { "E" } else { " " },
                if fb[k] { "B" } else { " " }
            );
            let accuracy = match (r.test_accuracy(), &r.error) {
                (Some(a), _) => format!("{:.2}%", 100.0 * a),
                (None, Some(_)) => "not run".to_string(),
                (None, None) => "-".to_string(),
            };
            writeln!(
                out,
                "{:>6} {:>3} {:>3} {:>3} {:>3} {:>9} {:>12} {:>12}  {:>5}  {}",
                r.index,
                r.bits.weight,
                r.bits.activation,
                r.bits.error,
                r.bits.update,
                accuracy,
                r.energy_per_sample_pj.map_or("-".into(), si),
                r.bytes_per_sample().map_or("-".into(), si),
                marks,
                r.settings
            )?;
            if let Some(e) = &r.error {
                writeln!(out, "{:>6} not run: {e}", "")?;
            }
        }
        writeln!(out)?;
    }
    let groups = sweep::seed_groups(&results);
    if groups.iter().any(|g| g.indices.len() > 1) {
        write_seed_table(&mut out, &groups)?;
    }
    write_narrowest(
        &mut out,
        &sweep::narrowest_within(&groups, within / 100.0),
        within,
    )?;
    let points: Vec<SweepPoint> = groups
        .iter()
        .map(|g| SweepPoint {
            rule: g.rule.clone(),
            bits: [
                g.bits.weight,
                g.bits.activation,
                g.bits.error,
                g.bits.update,
            ],
            accuracy: g.mean_accuracy,
            energy_pj: g.energy_per_sample_pj,
        })
        .collect();
    std::fs::create_dir_all(out_dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot create directory: {e}", out_dir.display()))?;
    let files = write_sweep_svgs(out_dir, &points)?;
    writeln!(out, "wrote {} plots in {}", files.len(), out_dir.display())?;
    Ok(())
}

/// Points that differ only in their seed, averaged (the plots use these
/// means too).
fn write_seed_table(out: &mut dyn Write, groups: &[SeedGroup]) -> std::io::Result<()> {
    writeln!(out, "mean over seeds")?;
    writeln!(
        out,
        "{:>9} {:>3} {:>3} {:>3} {:>3} {:>5} {:>9} {:>15} {:>12} {:>12}  settings",
        "rule", "w", "a", "e", "u", "seeds", "mean", "min..max", "pJ/sample", "B/sample"
    )?;
    for g in groups {
        writeln!(
            out,
            "{:>9} {:>3} {:>3} {:>3} {:>3} {:>5} {:>8.2}% {:>15} {:>12} {:>12}  {}",
            g.rule,
            g.bits.weight,
            g.bits.activation,
            g.bits.error,
            g.bits.update,
            g.indices.len(),
            100.0 * g.mean_accuracy,
            format!(
                "{:.2}..{:.2}%",
                100.0 * g.min_accuracy,
                100.0 * g.max_accuracy
            ),
            si(g.energy_per_sample_pj),
            si(g.bytes_per_sample),
            g.settings
        )?;
    }
    writeln!(out)
}

/// Each rule's narrowest weight, activation and error widths within
/// `within` points of its widest configuration, and their combination.
fn write_narrowest(out: &mut dyn Write, rows: &[Narrowest], within: f64) -> std::io::Result<()> {
    writeln!(
        out,
        "narrowest weight/activation/error widths within {within} points of each rule's widest configuration (means over seeds)"
    )?;
    writeln!(
        out,
        "{:>9} {:>10} {:>9} {:>10} {:>10} {:>9} {:>10} {:>8} {:>8}",
        "rule",
        "widest",
        "accuracy",
        "pJ/sample",
        "narrowest",
        "accuracy",
        "pJ/sample",
        "energy",
        "bytes"
    )?;
    let pct = |a: f64| format!("{:.2}%", 100.0 * a);
    let less = |new: f64, old: f64| format!("-{:.1}%", 100.0 * (1.0 - new / old));
    for n in rows {
        let r = &n.reference;
        let widest = format!("{}/{}/{}", r.bits.weight, r.bits.activation, r.bits.error);
        let w = |c: usize| {
            n.per_class[c]
                .as_ref()
                .map_or("-".to_string(), |(w, _)| w.to_string())
        };
        let narrowest = format!("{}/{}/{}", w(0), w(1), w(2));
        let (acc, pj, de, db) = match &n.combined {
            Some(g) => (
                pct(g.mean_accuracy),
                si(g.energy_per_sample_pj),
                less(g.energy_per_sample_pj, r.energy_per_sample_pj),
                less(g.bytes_per_sample, r.bytes_per_sample),
            ),
            None => ("not run".into(), "-".into(), "-".into(), "-".into()),
        };
        writeln!(
            out,
            "{:>9} {:>10} {:>9} {:>10} {:>10} {:>9} {:>10} {:>8} {:>8}",
            n.rule,
            widest,
            pct(r.mean_accuracy),
            si(r.energy_per_sample_pj),
            narrowest,
            acc,
            pj,
            de,
            db
        )?;
    }
    writeln!(out)
}
