//! Subcommands of the `locus` binary. Each returns `anyhow::Result`; any error
//! is printed once as `error: ...` (with its context chain) and exits with 2.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod data_cmd;
mod estimate_cmd;
mod golden_cmd;
mod limits_cmd;
mod model_cmd;
mod sweep_cmd;
mod trace_cmd;
mod train_cmd;
mod values;

/// Exit code for every user-facing error (bad file, field, value or path).
const EXIT_USER_ERROR: u8 = 2;

/// locus: a cycle-approximate, bit-exact simulator of an on-chip learning
/// core that counts memory traffic, for local-error learning and backprop.
#[derive(Parser, Debug)]
#[command(name = "locus", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train with local errors and with backprop (every buffering policy) on
    /// the same data and model, and compare accuracy, traffic, buffers,
    /// cycles and energy. Writes reports/compare.json and
    /// reports/compare-traffic.svg.
    Compare(train_cmd::CompareArgs),
    /// Train one rule with every option and write its RunReport JSON.
    Train(train_cmd::TrainArgs),
    /// Count-only: the traffic, buffers, cycles and energy of training a
    /// network with each rule, exactly as `train` would count them, without
    /// computing a value (milliseconds for large networks). Writes
    /// reports/estimate.json.
    Estimate(estimate_cmd::EstimateArgs),
    /// Sweep bit widths (or any model or training setting) over a grid:
    /// parallel, resumable, shardable; merge shards; report Pareto fronts.
    Sweep(sweep_cmd::SweepArgs),
    /// Traces, waveforms and golden vectors for RTL designers.
    Trace {
        #[command(subcommand)]
        command: trace_cmd::TraceCommand,
    },
    /// Hardware model files (hw_models/*.json): validate and summarise.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Datasets in IDX format (raw or gzip): inspect, or write a synthetic one.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ModelCommand {
    /// Validate a hardware model JSON file and print its capacities, formats
    /// and energy table. Exits with 2 and names the field on any error.
    Check {
        /// Path to the model, e.g. hw_models/default.json.
        file: PathBuf,
    },
    /// Fill a model's energy table from an Accelergy energy reference table
    /// (ERT.yaml): components named mac, adder, comparator, lfsr,
    /// weight_sram, activation_sram, error_sram, stash_sram, rom, dram, noc
    /// (last name segment) set their entries, each sourced "ERT
    /// <component>.<action>"; the rest are the base model's.
    ImportErt {
        /// The Accelergy ERT, e.g. hw_models/accelergy/ERT.yaml.
        ert: PathBuf,
        /// The model whose other fields are kept.
        #[arg(long, default_value = "hw_models/default.json")]
        model: PathBuf,
        /// Where to write the new model (JSON).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum DataCommand {
    /// Print the shapes and class counts of an IDX dataset directory holding
    /// train-images/-labels and t10k-images/-labels (raw or .gz).
    Info {
        /// Dataset directory, e.g. data/mnist.
        dir: PathBuf,
    },
    /// Write a deterministic synthetic dataset (one noisy prototype per
    /// class) as IDX files in the MNIST layout: train-images/-labels and
    /// t10k-images/-labels, raw or .gz. Small and fast to train on.
    Synth(data_cmd::SynthArgs),
}

/// Writes each run's counts as Accelergy action counts
/// (`report::accelergy`): to `path` for one run; for several, one file per
/// rule beside it, `<stem>.<rule>.<ext>` (`/` in a rule's label becomes
/// `-`). Prints each path written.
fn write_accelergy(
    path: &std::path::Path,
    runs: &[&locus::report::RunReport],
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    for r in runs {
        let file = if runs.len() == 1 {
            path.to_path_buf()
        } else {
            let label = r.run.config.rule.label().replace('/', "-");
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            let name = match path.extension() {
                Some(ext) => format!("{stem}.{label}.{}", ext.to_string_lossy()),
                None => format!("{stem}.{label}"),
            };
            path.with_file_name(name)
        };
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("{}: cannot create directory: {e}", dir.display()))?;
        }
        let yaml = locus::report::accelergy::action_counts(&r.measured.cores)
            .to_yaml()
            .map_err(|e| anyhow::anyhow!("{}: cannot write action counts: {e}", file.display()))?;
        locus::output::write_atomic(&file, |w| w.write_all(yaml.as_bytes()))?;
        writeln!(out, "wrote {}", file.display())?;
    }
    Ok(())
}

/// Parses argv, runs the subcommand and maps errors to exit code 2.
/// Whether `e` comes from writing to a pipe whose reader has closed it.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compare(mut args) => args
            .run
            .net
            .resolve()
            .and_then(|()| train_cmd::compare(&args)),
        Command::Train(mut args) => args
            .run
            .net
            .resolve()
            .and_then(|()| train_cmd::train(&args)),
        Command::Estimate(mut args) => args
            .net
            .resolve()
            .and_then(|()| estimate_cmd::estimate(&args)),
        Command::Sweep(args) => sweep_cmd::run(&args),
        Command::Trace { mut command } => command
            .net_mut()
            .map_or(Ok(()), |n| n.resolve())
            .and_then(|()| trace_cmd::run(&command)),
        Command::Model {
            command: ModelCommand::Check { file },
        } => model_cmd::check(&file),
        Command::Model {
            command: ModelCommand::ImportErt { ert, model, out },
        } => model_cmd::import_ert(&ert, &model, &out),
        Command::Data {
            command: DataCommand::Info { dir },
        } => data_cmd::info(&dir),
        Command::Data {
            command: DataCommand::Synth(args),
        } => data_cmd::synth(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`locus ... | head`): stop quietly, as
        // Unix tools do, rather than report an error nobody asked about.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_USER_ERROR)
        }
    }
}
