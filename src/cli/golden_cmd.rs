//! `locus trace golden`: golden vectors and `$readmemh` memory images of the
//! first training steps of a run, with a manifest, for the Verilog replay
//! bench in `traces/rtl/` (`docs/formats.md`, "Golden vectors and memory images").

use super::values;
use anyhow::Context;
use clap::Args;
use clap::builder::RangedU64ValueParser;
use locus::data::load_split;
use locus::hw::core::NetSpec;
use locus::hw::datapath::Activation;
use locus::hw::model;
use locus::rules::Rule;
use locus::sim::{self, SimError};
use locus::trace::golden::{GoldenConfig, GoldenError, write_golden};
use std::path::PathBuf;

/// `locus trace golden` options.
#[derive(Args, Debug)]
pub struct GoldenArgs {
    /// Output directory. Written as a whole (into a temporary directory
    /// beside it, renamed at the end); an existing directory is replaced only
    /// if it is empty or holds an earlier `trace golden` output.
    #[arg(long)]
    pub out: PathBuf,
    /// Training steps (samples) to record, >= 1.
    #[arg(long, default_value_t = 2, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub steps: usize,
    /// Hardware model JSON (formats, rounding, overflow, accumulator, LFSR seed).
    #[arg(long, default_value = "hw_models/default.json")]
    pub model: PathBuf,
    /// Layer sizes, input first. The first must equal the data's sample
    /// size, the last be at least its number of classes.
    #[arg(
        long,
        value_delimiter = ',',
        action = clap::ArgAction::Set,
        default_value = "784,32,10",
        value_parser = RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub layers: Vec<usize>,
    /// Hidden-layer activation.
    #[arg(long, value_parser = values::parser::<Activation>(), default_value_t = Activation::Relu)]
    pub activation: Activation,
    /// Dataset directory; only its training split (train-images/-labels,
    /// raw or .gz) is read.
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Seed of initialisation, classifier ROMs and sample order (as `train --seed`).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Learning rate in (0, 1], realised as the nearest power of two 2^-k.
    #[arg(long, default_value_t = 0.01, value_parser = parse_lr)]
    pub lr: f64,
    /// Learning rule (golden vectors are written for the local rule).
    #[arg(long, value_parser = ["local"], default_value = "local")]
    pub rule: String,
}

/// `--lr`: a number that [`sim::lr_shift`] accepts.
fn parse_lr(s: &str) -> Result<f64, String> {
    let lr: f64 = s.parse().map_err(|e| format!("{e}"))?;
    match sim::lr_shift(lr) {
        Err(SimError::Config { why, .. }) => Err(why),
        Err(e) => Err(e.to_string()),
        Ok(_) => Ok(lr),
    }
}

/// Writes golden vectors.
pub fn run(args: &GoldenArgs) -> anyhow::Result<()> {
    let model = model::load(&args.model)?;
    let train = load_split(&args.data, "train")?;
    let config = GoldenConfig {
        net: NetSpec::dense(args.layers.clone(), args.activation),
        rule: Rule::Local,
        seed: args.seed,
        lr: args.lr,
        steps: args.steps,
    };
    let summary = match write_golden(&model, &config, &train, &args.out) {
        Ok(s) => s,
        // Capacities and formats of the model are what cannot hold the net.
        Err(e @ (GoldenError::Chip(_) | GoldenError::Datapath(_))) => {
            return Err(anyhow::Error::new(e)).context(args.model.display().to_string());
        }
        Err(e) => return Err(e.into()),
    };
    let out = summary.out.display();
    println!(
        "wrote {} files ({:.1} kB) to {out}: {} steps x {} layers, lr = 2^-{}, {} LFSR draws, {} overflow events",
        summary.files,
        summary.bytes as f64 / 1000.0,
        summary.steps,
        summary.layers,
        summary.lr_shift,
        summary.lfsr_draws,
        summary.overflow.total(),
    );
    let params: Vec<String> = summary
        .verilog_parameters
        .iter()
        .map(|(k, v)| format!("-Ptb_layer.{k}={v}"))
        .collect();
    println!(
        "replay: iverilog -g2012 -o tb_layer.vvp {} traces/rtl/layer_datapath.v traces/rtl/tb_layer.v",
        params.join(" ")
    );
    println!("        vvp -n tb_layer.vvp +dir={out}/step0/layer0");
    Ok(())
}
