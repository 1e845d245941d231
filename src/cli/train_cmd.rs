//! `locus train` and `locus compare`: argument handling, progress bars,
//! printing and report files around the library's training loop.

use super::values;
use anyhow::Context;
use clap::Args;
use clap::builder::RangedU64ValueParser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use locus::data::{Dataset, load_mnist_dir};
use locus::hw::core::{ChipError, NetSpec};
use locus::hw::counters::CountOverflow;
use locus::hw::datapath::Activation;
use locus::hw::model::{self, HwModel, ModelSource};
use locus::limits::ByteSize;
use locus::output::write_atomic;
use locus::report::{CompareReport, Infeasible, RunReport, table};
use locus::rules::{BpPolicy, Rule};
use locus::sim::{self, Arith, LrSchedule, SimError, TrainConfig};
use std::io::{IsTerminal, Write};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

/// The network options shared by `train`, `compare`, `trace` and
/// `estimate`.
#[derive(Args, Debug, Clone)]
pub struct NetArgs {
    /// Layers, input first: dense sizes (784,1024,1024,10) or a CNN
    /// (1x28x28,conv5x5x16,maxpool2,conv5x5x32s1p0,avgpool2,10: input
    /// CxHxW, convKxKxC[sS][pP][gG] (G channel groups), maxpoolN[sS][pP] /
    /// avgpoolN, resN / resNp after a conv to add the input of the conv N
    /// layers back (p: through a 1x1 projection), dense sizes last).
    /// When training, the input must have the data's sample size, the last
    /// layer at least its number of classes.
    /// [default: 784,1024,1024,10; gaitprop: 784,784,784,10]
    #[arg(long, value_parser = parse_layers)]
    pub layers: Option<NetSpec>,
    /// A network file instead of --layers: ONNX (.onnx), a SCALE-Sim
    /// topology (.csv), or a file holding --layers text (any other name).
    #[arg(long, value_name = "FILE", conflicts_with = "layers")]
    pub net: Option<PathBuf>,
    /// The input (channels x height x width) where the --net file leaves it
    /// open: an ONNX input with symbolic sizes, or the image of a SCALE-Sim
    /// topology.
    #[arg(long, value_name = "CxHxW", requires = "net", value_parser = parse_input)]
    pub input: Option<[usize; 3]>,
    /// Hidden-layer activation [default: relu (drtp and fa: hard-tanh;
    /// gaitprop: leaky-relu), or the one the --net file names].
    #[arg(long, value_parser = values::parser::<Activation>())]
    pub activation: Option<Activation>,
    /// The network read from --net by [`NetArgs::resolve`], with a name
    /// per weight layer.
    #[arg(skip)]
    loaded: Option<(NetSpec, Vec<String>)>,
}

impl NetArgs {
    /// Reads the --net file, once, before the command runs; prints what the
    /// reader folded or ignored as `note:` lines. A --activation that
    /// differs from the one the file names is an error.
    pub(super) fn resolve(&mut self) -> anyhow::Result<()> {
        let Some(path) = &self.net else {
            return Ok(());
        };
        let loaded = locus::net::load(
            path,
            self.input,
            self.activation.unwrap_or(Activation::Relu),
        )?;
        if let Some(a) = self.activation
            && loaded.activation_from_file
            && a != loaded.spec.activation
        {
            anyhow::bail!(
                "{}: the network's hidden activation is {}, but --activation gives {a}",
                path.display(),
                loaded.spec.activation
            );
        }
        for n in &loaded.notes {
            eprintln!("note: {}: {n}", path.display());
        }
        self.loaded = Some((loaded.spec, loaded.names));
        Ok(())
    }

    /// A name per weight layer: the --net file's node or row names, else
    /// the layer tokens.
    pub(super) fn layer_names(&self) -> Vec<String> {
        match &self.loaded {
            Some((_, names)) => names.clone(),
            None => self.spec().layer_labels(),
        }
    }

    /// The network: the --net file's (after [`NetArgs::resolve`]), or the
    /// layers with the activation (ReLU unless given).
    pub(super) fn spec(&self) -> NetSpec {
        self.spec_of(locus::rules::DEFAULT_LAYERS, Activation::Relu)
    }

    /// The network `rule` trains: as [`NetArgs::spec`], with the rule's
    /// own default activation where neither --activation nor the file
    /// names one ([`Rule::default_activation`]).
    pub(super) fn spec_for(&self, rule: Rule) -> NetSpec {
        self.spec_of(rule.default_layers(), rule.default_activation())
    }

    /// As [`NetArgs::spec_for`] but on the common default layers: the
    /// network every rule of a comparison shares (a comparison of
    /// different networks would compare nothing).
    pub(super) fn shared_spec_for(&self, rule: Rule) -> NetSpec {
        self.spec_of(locus::rules::DEFAULT_LAYERS, rule.default_activation())
    }

    /// The network: the file's, the --layers, or `layers` (a text
    /// [`NetSpec::parse`] accepts), with --activation or `default`.
    fn spec_of(&self, layers: &str, default: Activation) -> NetSpec {
        match (&self.loaded, &self.layers) {
            (Some((spec, _)), _) => spec.clone(),
            (None, given) => {
                let parsed = given.clone().map_or_else(|| parse_layers(layers), Ok);
                NetSpec {
                    activation: self.activation.unwrap_or(default),
                    // The defaults are valid layer texts (`rules` tests them).
                    ..parsed.unwrap_or_else(|_| NetSpec::dense(vec![784, 10], default))
                }
            }
        }
    }
}

/// `--input CxHxW`.
fn parse_input(s: &str) -> Result<[usize; 3], String> {
    locus::net::spec::parse_chw(s)
        .ok_or_else(|| format!("expected CxHxW with three sizes >= 1, e.g. 3x224x224, found '{s}'"))
}

/// The fewest samples between two points of the quiet default watch: at
/// most 100 probe inferences per 1000 trained samples.
pub(super) const QUIET_WATCH_MIN: u64 = 1000;

/// Options shared by `train` and `compare`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub net: NetArgs,
    /// Also write the counts as Accelergy action counts
    /// (action_counts.yaml), to price them with your own ERT; `compare`
    /// writes one file per rule: FILE's stem, `.rule`, its extension.
    #[arg(long, value_name = "FILE")]
    pub accelergy_out: Option<PathBuf>,
    /// Passes over the training set (>= 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: u32,
    /// Samples per batch (>= 1); 1 is online learning as a chip does it.
    /// [default: 1; predsim: 16]
    #[arg(long, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub batch: Option<usize>,
    /// Learning rate in (0, 1]; realised as the nearest power of two, 2^-k
    /// with k <= 30. A warning says when it is too small for any fixed-point
    /// update to survive rounding. [default: 0.01; drtp and fa: 2^-10]
    #[arg(long, value_parser = parse_lr)]
    pub lr: Option<f64>,
    /// Epoch counts after which the learning rate is multiplied by
    /// --lr-gamma, comma-separated and increasing (PyTorch's MultiStepLR
    /// milestones: `60,90` steps after epochs 60 and 90). Each stepped rate
    /// is realised as its own nearest power of two.
    #[arg(long, value_delimiter = ',', value_name = "EPOCHS", value_parser = clap::value_parser!(u32).range(1..))]
    pub lr_milestones: Vec<u32>,
    /// SGD momentum in [0, 1): each weight and bias keeps a velocity (in
    /// the update format, in the weight bank; counted as the `update`
    /// class), `v <- mu*v + lr*grad`, `w -= v`. Realised as mu = 1 - 2^-m
    /// (0.9 is 1 - 2^-3 = 0.875). Dense layers; not for local-learned or
    /// predsim. [default: 0, none]
    #[arg(long, value_parser = parse_momentum)]
    pub momentum: Option<f64>,
    /// The factor of each --lr-milestones step, in (0, 1]. [default: 0.1]
    #[arg(long, value_parser = parse_gamma)]
    pub lr_gamma: Option<f64>,
    /// Seed of initialisation, classifier ROMs and shuffling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Hardware model JSON.
    #[arg(long, default_value = "hw_models/default.json")]
    pub model: PathBuf,
    /// Dataset directory with train-/t10k- IDX files (raw or .gz).
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Arithmetic: bit-exact fixed point, or f32 with the same counts.
    #[arg(long, value_parser = values::parser::<Arith>(), default_value_t = Arith::Fixed)]
    pub arith: Arith,
    /// Train on only the first N samples of each epoch.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Evaluate on only the first N test samples.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Refuse, before allocating anything, a run whose estimated host
    /// memory exceeds this many bytes (suffix K, M, G or T: powers of 1024).
    #[arg(long, default_value = "4G")]
    pub max_memory: ByteSize,
    /// Every N training samples, measure each layer's weights and, on the
    /// first 100 test samples (uncounted), its output power and the output
    /// layer's step gain; print each point to stderr as it is taken and all
    /// of them with the results, and add them to the report as `run.watch`.
    /// Training results are unchanged. Without --watch the run is watched
    /// quietly every tenth of an epoch (at least 1000 samples apart): the
    /// points go into the report and its unstable-step diagnostic only.
    #[arg(long, value_name = "N", conflicts_with = "no_watch")]
    pub watch: Option<NonZeroU64>,
    /// Do not watch the run at all (no run.watch, so no unstable-step
    /// diagnostic).
    #[arg(long)]
    pub no_watch: bool,
    /// Exit non-zero (after writing the report) when a run has a
    /// diagnostic: training at chance, updates rounded away, an unstable
    /// output step (run.diagnostics, docs/report.md).
    #[arg(long)]
    pub strict: bool,
}

/// `locus train` options.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Learning rule (docs/rules.md).
    #[arg(long, value_parser = parse_train_rule, default_value = "local")]
    pub rule: String,
    /// Buffering policy of the rules with a backward pass (bp, fa, dfa).
    #[arg(long, value_parser = values::parser::<BpPolicy>(), default_value_t = BpPolicy::Spill)]
    pub policy: BpPolicy,
    #[command(flatten)]
    pub run: RunArgs,
    /// Where to write the RunReport JSON.
    #[arg(long, default_value = "reports/train.json")]
    pub out: PathBuf,
}

/// `locus compare` options.
#[derive(Args, Debug)]
pub struct CompareArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Rules to compare, comma-separated: local, local-learned, drtp, pepita, predsim,
    /// gaitprop (or gaitprop/gN, γ = 2^-N), dfa, fa, bp (every buffering
    /// policy), or one policy as bp/stash, fa/recompute, ... (fa and dfa
    /// alone use spill).
    #[arg(long, value_delimiter = ',', default_value = "local,bp", value_parser = parse_rule_name)]
    pub rules: Vec<String>,
    /// Directory for compare.json and compare-traffic.svg.
    #[arg(long, default_value = "reports")]
    pub out_dir: PathBuf,
}

/// `--rule`: local, bp, fa, dfa (with `--policy`), drtp, local-learned,
/// pepita, gaitprop or gaitprop/gN (`γ = 2^-N`).
fn parse_train_rule(s: &str) -> Result<String, String> {
    let plain = [
        "local",
        "bp",
        "fa",
        "dfa",
        "drtp",
        "local-learned",
        "pepita",
        "predsim",
    ];
    if plain.contains(&s) || (s.starts_with("gaitprop") && Rule::expand(s).is_some()) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "known rules: {}, gaitprop, gaitprop/g<0-15>",
            plain.join(", ")
        ))
    }
}

/// `--rules`: one name [`Rule::expand`] knows.
pub(super) fn parse_rule_name(s: &str) -> Result<String, String> {
    match Rule::expand(s) {
        Some(_) => Ok(s.to_string()),
        None => Err(format!("known rules: {}", Rule::NAMES.join(", "))),
    }
}

/// `--layers`: a layer description [`NetSpec::parse`] accepts (the
/// activation is set from `--activation` afterwards).
pub(super) fn parse_layers(s: &str) -> Result<NetSpec, String> {
    NetSpec::parse(s, Activation::Relu).map_err(|e| e.to_string())
}

/// `--momentum`: a value [`sim::momentum_shift`] accepts.
fn parse_momentum(s: &str) -> Result<f64, String> {
    let mu: f64 = s.parse().map_err(|e| format!("{e}"))?;
    match sim::momentum_shift(mu) {
        Err(SimError::Config { why, .. }) => Err(why),
        Err(e) => Err(e.to_string()),
        Ok(_) => Ok(mu),
    }
}

/// `--lr-gamma`: a factor in (0, 1].
fn parse_gamma(s: &str) -> Result<f64, String> {
    let g: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if g > 0.0 && g <= 1.0 {
        Ok(g)
    } else {
        Err("must be in (0, 1]".into())
    }
}

/// `--lr`: a number that [`sim::lr_shift`] accepts.
pub(super) fn parse_lr(s: &str) -> Result<f64, String> {
    let lr: f64 = s.parse().map_err(|e| format!("{e}"))?;
    match sim::lr_shift(lr) {
        // clap already names the option and the value.
        Err(SimError::Config { why, .. }) => Err(why),
        Err(e) => Err(e.to_string()),
        Ok(_) => Ok(lr),
    }
}

/// The model (and the file it came from, for the reports) and the data.
fn load(run: &RunArgs) -> anyhow::Result<(HwModel, ModelSource, Dataset, Dataset)> {
    if let (Some(g), true) = (run.lr_gamma, run.lr_milestones.is_empty()) {
        anyhow::bail!(
            "--lr-gamma {g}: steps nothing without --lr-milestones (the epochs after which the rate steps)"
        );
    }
    let (model, source) = model::load_with_source(&run.model)?;
    let (train, test) = load_mnist_dir(&run.data)?;
    Ok((model, source, train, test))
}

/// Prints one `warning:` line when, in fixed point, the learning rate makes
/// every update smaller than half an LSB of the update format; returns
/// whether it did.
fn warn_lr_underflow(model: &HwModel, arith: Arith, lr: f64) -> anyhow::Result<bool> {
    if arith == Arith::Fixed {
        let (shift, _) = sim::lr_shift(lr)?;
        if let Some(why) = sim::lr_underflow(model, shift) {
            eprintln!("warning: {}: {why}", lr_note(lr)?);
            return Ok(true);
        }
    }
    Ok(false)
}

/// Prints a `note:` naming what `rule` takes from its own defaults, if
/// anything (`RunArgs::rule_defaults`).
fn note_rule_defaults(run: &RunArgs, rule: Rule, own_layers: bool) -> anyhow::Result<()> {
    let taken = run.rule_defaults(rule, own_layers)?;
    if !taken.is_empty() {
        eprintln!(
            "note: {} trains with {taken} unless given (its defaults, docs/rules.md \"Defaults\")",
            rule.label()
        );
    }
    Ok(())
}

/// Prints each of `report`'s diagnostics as one `warning:` line; those
/// the learning rate alone explains (vanished updates, frozen weights) not
/// when it was already warned about (`lr_warned`); the report has them all.
/// Returns how many the report has.
fn print_diagnostics(report: &RunReport, lr_warned: bool) -> usize {
    for d in &report.run.diagnostics {
        let explained = matches!(d.kind.as_str(), "updates_vanished" | "weights_frozen");
        if !(lr_warned && explained) {
            eprintln!("warning: {}", d.message);
        }
    }
    report.run.diagnostics.len()
}

/// `--strict`: an error when any run has a diagnostic (after the reports
/// are written).
fn strict_check(strict: bool, reports: &[&RunReport]) -> anyhow::Result<()> {
    let kinds: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            let rule = r.run.config.rule.label();
            r.run
                .diagnostics
                .iter()
                .map(move |d| format!("{rule} {}", d.kind))
        })
        .collect();
    if strict && !kinds.is_empty() {
        anyhow::bail!(
            "--strict: the run has {} diagnostic(s) ({}); see the warnings above and run.diagnostics in the report",
            kinds.len(),
            kinds.join(", ")
        );
    }
    Ok(())
}

/// A simulation error, prefixed with the model file when the model's
/// capacities or formats are what cannot hold the network.
pub(super) fn sim_error(model: &std::path::Path, e: SimError) -> anyhow::Error {
    match e {
        SimError::Chip(ChipError::Shape { .. } | ChipError::Net(_))
        | SimError::Config { .. }
        | SimError::Count(_) => e.into(),
        SimError::Chip(_) | SimError::Datapath(_) => {
            anyhow::Error::new(e).context(model.display().to_string())
        }
    }
}

impl RunArgs {
    /// The training configuration of `rule` under these options.
    /// How the run is watched on `train`: every `--watch N` samples,
    /// printed; by default quietly every tenth of an epoch, at least
    /// [`QUIET_WATCH_MIN`] samples apart; not with `--no-watch`.
    pub(super) fn watch_plan(&self, train: &Dataset) -> Option<(NonZeroU64, bool)> {
        if self.no_watch {
            return None;
        }
        if let Some(n) = self.watch {
            return Some((n, true));
        }
        let per_epoch = self.train_limit.map_or(train.len(), |n| n.min(train.len()));
        let every = (per_epoch as u64 / 10).max(QUIET_WATCH_MIN);
        NonZeroU64::new(every).map(|n| (n, false))
    }

    /// The learning rate `rule` trains at: --lr, else the rule's default
    /// ([`Rule::default_lr`]).
    pub(super) fn lr_for(&self, rule: Rule) -> f64 {
        self.lr.unwrap_or(rule.default_lr())
    }

    /// The batch `rule` trains with: --batch, else the rule's default
    /// ([`Rule::default_batch`]).
    pub(super) fn batch_for(&self, rule: Rule) -> usize {
        self.batch.unwrap_or(rule.default_batch())
    }

    /// What `rule` takes from its own defaults because the command line
    /// leaves it open and the rule's differs from the common one, as
    /// options (`--activation hard-tanh --lr 2^-10`); empty otherwise.
    pub(super) fn rule_defaults(&self, rule: Rule, own_layers: bool) -> anyhow::Result<String> {
        let mut taken = Vec::new();
        let file_names_it = self.net.loaded.is_some();
        if self.net.activation.is_none()
            && !file_names_it
            && rule.default_activation() != Activation::Relu
        {
            taken.push(format!("--activation {}", rule.default_activation()));
        }
        if self.lr.is_none() && rule.default_lr() != locus::rules::DEFAULT_LR {
            let (shift, _) = sim::lr_shift(rule.default_lr())?;
            taken.push(format!("--lr 2^-{shift}"));
        }
        if self.batch.is_none() && rule.default_batch() != 1 {
            taken.push(format!("--batch {}", rule.default_batch()));
        }
        let default_layers = rule.default_layers();
        if own_layers
            && self.net.layers.is_none()
            && !file_names_it
            && default_layers != locus::rules::DEFAULT_LAYERS
        {
            taken.push(format!("--layers {default_layers}"));
        }
        Ok(taken.join(" "))
    }

    /// `rule`'s configuration, on its own default layers where --layers and
    /// --net are not given (`train`).
    pub(super) fn config(&self, rule: Rule) -> TrainConfig {
        TrainConfig {
            net: self.net.spec_for(rule),
            ..self.shared_config(rule)
        }
    }

    /// `rule`'s configuration on the network every rule of a comparison
    /// shares ([`NetArgs::shared_spec_for`]; `compare`).
    pub(super) fn shared_config(&self, rule: Rule) -> TrainConfig {
        TrainConfig {
            rule,
            net: self.net.shared_spec_for(rule),
            epochs: self.epochs,
            batch: self.batch_for(rule),
            lr: self.lr_for(rule),
            seed: self.seed,
            arith: self.arith,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            lr_schedule: LrSchedule {
                milestones: self.lr_milestones.clone(),
                gamma: self.lr_gamma.unwrap_or(LrSchedule::default().gamma),
            },
            momentum: self.momentum.unwrap_or(0.0),
        }
    }
}

/// A progress bar on stderr when it is a terminal, hidden otherwise.
pub(super) fn progress_bar(label: &str) -> ProgressBar {
    let pb = ProgressBar::new(0);
    if std::io::stderr().is_terminal() {
        pb.set_style(
            ProgressStyle::with_template(
                "{prefix:>14} [{bar:30}] {pos}/{len} samples {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_prefix(label.to_string());
    } else {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb
}

/// `0.0625`, or `1e-9` for rates too small to read in decimal.
fn fmt_lr(x: f64, precise: bool) -> String {
    if x >= 1e-3 {
        x.to_string()
    } else if precise {
        format!("{x:e}")
    } else {
        format!("{x:.2e}")
    }
}

pub(super) fn lr_note(lr: f64) -> anyhow::Result<String> {
    let (shift, real) = sim::lr_shift(lr)?;
    Ok(if real == lr {
        format!("lr = 2^-{shift}")
    } else {
        format!(
            "lr {} realised as 2^-{shift} = {}",
            fmt_lr(lr, true),
            fmt_lr(real, false)
        )
    })
}

pub(super) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    }
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        w.write_all(b"\n")
    })?;
    Ok(())
}

/// `locus train`.
pub fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let rule = match args.rule.as_str() {
        "bp" => Rule::Bp(args.policy),
        "fa" => Rule::Fa(args.policy),
        "dfa" => Rule::Dfa(args.policy),
        "drtp" => Rule::Drtp,
        "local-learned" => Rule::LocalLearned,
        "pepita" => Rule::Pepita,
        "predsim" => Rule::Predsim,
        name if name.starts_with("gaitprop") => match Rule::expand(name).as_deref() {
            Some([rule]) => *rule,
            _ => Rule::Local,
        },
        _ => Rule::Local,
    };
    let (file_model, source, train, test) = load(&args.run)?;
    let cfg = args.run.config(rule);
    let (model, changes) = fitting_model(&file_model, &cfg);
    eprintln!(
        "{}: {} on {} ({})",
        rule.label(),
        cfg.net,
        model.name,
        lr_note(cfg.lr)?
    );
    for c in &changes {
        eprintln!("note: {}: {c}", args.run.model.display());
    }
    note_rule_defaults(&args.run, rule, true)?;
    note_schedule(&model, &cfg)?;
    let lr_warned = warn_lr_underflow(&model, cfg.arith, cfg.lr)?;
    let bytes = super::limits_cmd::data_bytes(&train, &test);
    let estimate =
        super::limits_cmd::check_runs(&[(&model, &cfg)], 1, bytes, args.run.max_memory.0)?;
    let pb = progress_bar(&rule.label());
    let watch = args.run.watch_plan(&train);
    let result = run_one(&model, &cfg, (&train, &test), watch, &pb)
        .map_err(|e| sim_error(&args.run.model, e))?;
    pb.finish_and_clear();
    let report = RunReport::new(&model, &result)?
        .with_model_source(&source)
        .with_model_changes(&changes);
    if let Some(n) = report.streaming_note() {
        eprintln!("note: {n}");
    }
    print_diagnostics(&report, lr_warned);
    let mut out = std::io::stdout().lock();
    for e in &report.run.epochs {
        writeln!(
            out,
            "epoch {}: train accuracy {:.2}%, test accuracy {:.2}%",
            e.epoch,
            100.0 * e.train_accuracy,
            100.0 * e.test_accuracy
        )?;
    }
    if args.run.watch.is_some() {
        write_watch(&mut out, &report.run.watch)?;
    }
    let compare = CompareReport::new(vec![report.clone()], Vec::new());
    table::write_compare(&mut out, &compare)?;
    writeln!(
        out,
        "trained {} samples in {:.2} s ({:.0} samples/s on this host)",
        result.samples,
        result.train_seconds,
        result.samples as f64 / result.train_seconds.max(1e-9)
    )?;
    write_json(&args.out, &report)?;
    writeln!(out, "wrote {}", args.out.display())?;
    if let Some(path) = &args.run.accelergy_out {
        super::write_accelergy(path, &[&report], &mut out)?;
    }
    super::limits_cmd::report_peak(&estimate);
    strict_check(args.run.strict, &[&report])
}

/// The chip a run of `config` uses: `model`, or, when the rule's fixed
/// feedback matrices (FA, DFA) do not fit the ROM in the model's storage,
/// the same chip with `rom.storage = lfsr` (entries regenerated on every
/// use, counted as generator steps; nothing stored), with the change in
/// words for the user and the report. Checked with a one-sample count-only
/// estimate, so nothing is trained twice.
pub(super) fn fitting_model<'m>(
    model: &'m HwModel,
    config: &TrainConfig,
) -> (std::borrow::Cow<'m, HwModel>, Vec<String>) {
    use locus::hw::core::FeedbackKind;
    use locus::hw::model::RomStorage;
    use std::borrow::Cow;
    let fixed = matches!(
        config.rule.feedback(),
        Some(FeedbackKind::Fixed | FeedbackKind::Direct)
    );
    if !fixed || model.rom.storage == RomStorage::Lfsr {
        return (Cow::Borrowed(model), Vec::new());
    }
    let probe = TrainConfig {
        epochs: 1,
        ..config.clone()
    };
    let why = match sim::estimate(model, &probe, 1) {
        Err(SimError::Chip(
            e @ (ChipError::RomTooSmall { .. } | ChipError::FeedbackKernelTooBig { .. }),
        )) => e.to_string(),
        _ => return (Cow::Borrowed(model), Vec::new()),
    };
    let mut lfsr = model.clone();
    lfsr.rom.storage = RomStorage::Lfsr;
    let change = format!(
        "rom.storage = lfsr for {}: its fixed feedback matrices do not fit the ROM as stored ({why}), so they are generated by the LFSR on every use instead",
        config.rule.label()
    );
    (Cow::Owned(lfsr), vec![change])
}

/// Whether a mapping error depends on the rule (what it keeps or adds),
/// not only on the network.
pub(super) fn rule_specific(e: &ChipError) -> bool {
    matches!(
        e,
        ChipError::StashFull { .. }
            | ChipError::ErrorsDoNotFit { .. }
            | ChipError::SimilarityDoesNotFit { .. }
            | ChipError::RomTooSmall { .. }
            | ChipError::FeedbackKernelTooBig { .. }
            | ChipError::ClassifierScale { .. }
            | ChipError::WeightsDoNotFit { .. }
            | ChipError::MomentumDoesNotFit { .. }
    )
}

/// Prints how a momentum is realised (and a `warning:` when `model` rounds
/// updates other than stochastically: the velocity's decay has a dead
/// zone, `docs/arithmetic.md` "Momentum"), and the per-sample rate of each
/// stretch of epochs when the rate follows a schedule (`--lr-milestones`): `note: local: lr by epoch: 2^-7
/// (1-60), 2^-10 (61-90), 2^-13 (91-100)`.
fn note_schedule(model: &HwModel, cfg: &TrainConfig) -> anyhow::Result<()> {
    if let Some((m, mu)) = sim::momentum_shift(cfg.momentum)? {
        eprintln!(
            "note: {}: momentum {} realised as 1 - 2^-{m} = {mu}",
            cfg.rule.label(),
            cfg.momentum
        );
        let rounding = model.formats.update.rounding;
        if cfg.arith == Arith::Fixed && rounding != locus::quant::Rounding::Stochastic {
            eprintln!(
                "warning: {}: momentum with {} update rounding: the velocity's decay 2^-{m}*v rounds to 0 while |v| < 2^{} LSB, so a small velocity never decays and drifts its weight once the steps shrink; use formats.update.rounding = \"stochastic\" (docs/arithmetic.md, \"Momentum\")",
                cfg.rule.label(),
                rounding.name(),
                m.saturating_sub(1)
            );
        }
    }
    if cfg.lr_schedule.is_constant() {
        return Ok(());
    }
    let shifts = sim::lr_shifts(cfg)?;
    let mut spans: Vec<(u32, usize, usize)> = Vec::new();
    for (epoch, &k) in shifts.iter().enumerate() {
        match spans.last_mut() {
            Some((last, _, end)) if *last == k => *end = epoch + 1,
            _ => spans.push((k, epoch + 1, epoch + 1)),
        }
    }
    let text: Vec<String> = spans
        .iter()
        .map(|(k, a, b)| format!("2^-{k} ({a}-{b})"))
        .collect();
    eprintln!(
        "note: {}: lr by epoch: {}",
        cfg.rule.label(),
        text.join(", ")
    );
    Ok(())
}

/// The rules `--rules` names, in the order given, each once.
pub(super) fn selected_rules(names: &[String]) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    for r in names.iter().filter_map(|n| Rule::expand(n)).flatten() {
        if !rules.contains(&r) {
            rules.push(r);
        }
    }
    rules
}

/// `locus compare`: the selected rules (default: local errors against
/// backprop with every buffering policy) on the same data and model.
pub fn compare(args: &CompareArgs) -> anyhow::Result<()> {
    let (model, source, train, test) = load(&args.run)?;
    let rules = selected_rules(&args.rules);
    eprintln!(
        "compare: {} on {} ({}, {} epoch(s), batch {}, {} arithmetic)",
        args.run.net.spec(),
        model.name,
        lr_note(args.run.lr.unwrap_or(locus::rules::DEFAULT_LR))?,
        args.run.epochs,
        args.run.batch.unwrap_or(1),
        match args.run.arith {
            Arith::Fixed => "fixed-point",
            Arith::F32 => "f32",
        }
    );
    let batch = args.run.batch_for(Rule::Bp(BpPolicy::Spill));
    if batch > 1 && rules.iter().any(|r| r.scales_lr_by_batch()) {
        let bp = args.run.shared_config(Rule::Bp(BpPolicy::Spill));
        let (shift, real) = sim::lr_shift(sim::step_lr(&bp))?;
        eprintln!(
            "bp, fa and dfa apply each sample's update at lr/{batch} = 2^-{shift} = {}",
            fmt_lr(real, false)
        );
    }
    let cfgs: Vec<TrainConfig> = rules.iter().map(|&r| args.run.shared_config(r)).collect();
    // Each learning rate once: those too small for any update to survive.
    let (mut seen, mut underflowing) = (Vec::new(), Vec::new());
    for (&rule, c) in rules.iter().zip(&cfgs) {
        note_rule_defaults(&args.run, rule, false)?;
        note_schedule(&model, c)?;
        if !seen.contains(&c.lr) {
            seen.push(c.lr);
            if warn_lr_underflow(&model, c.arith, c.lr)? {
                underflowing.push(c.lr);
            }
        }
    }
    // Each rule's chip: the model's, or with generated feedback (a note).
    let models: Vec<_> = cfgs.iter().map(|c| fitting_model(&model, c)).collect();
    for c in models.iter().flat_map(|(_, c)| c) {
        eprintln!("note: {}: {c}", args.run.model.display());
    }
    let bytes = super::limits_cmd::data_bytes(&train, &test);
    let parallel = rayon::current_num_threads();
    let runs: Vec<_> = cfgs
        .iter()
        .zip(&models)
        .map(|(c, (m, _))| (m.as_ref(), c))
        .collect();
    super::limits_cmd::check_runs(&runs, parallel, bytes, args.run.max_memory.0)?;
    let watch = args.run.watch_plan(&train);
    let multi = indicatif::MultiProgress::new();
    if !std::io::stderr().is_terminal() {
        multi.set_draw_target(ProgressDrawTarget::hidden());
    }
    // A run that failed, or ran with a report or a total past 64 bits.
    type Outcome = Result<Result<RunReport, CountOverflow>, SimError>;
    let results: Vec<(Rule, Outcome)> = {
        use rayon::prelude::*;
        rules
            .par_iter()
            .zip(&models)
            .map(|(&rule, (model, changes))| {
                let cfg = args.run.shared_config(rule);
                let pb = multi.add(progress_bar(&rule.label()));
                let r = run_one(model, &cfg, (&train, &test), watch, &pb);
                pb.finish_and_clear();
                let report = |res| {
                    RunReport::new(model, &res)
                        .map(|r| r.with_model_source(&source).with_model_changes(changes))
                };
                (rule, r.map(report))
            })
            .collect()
    };
    // A rule the model cannot hold (a stash, ROM or classifier that does
    // not fit) is reported as not run, as long as another rule ran.
    let any_ran = results.iter().any(|(_, r)| r.is_ok());
    let mut runs = Vec::new();
    let mut infeasible = Vec::new();
    for (rule, r) in results {
        match r {
            Ok(rep) => {
                let rep = rep?;
                if let Some(n) = rep.streaming_note() {
                    eprintln!("note: {n}");
                }
                runs.push(rep)
            }
            Err(SimError::Chip(e)) if any_ran && rule_specific(&e) => infeasible.push(Infeasible {
                rule: rule.label(),
                reason: e.to_string(),
            }),
            Err(e) => return Err(sim_error(&args.run.model, e)),
        }
    }
    for r in &runs {
        print_diagnostics(r, underflowing.contains(&r.run.config.lr));
    }
    let report = CompareReport::new(runs, infeasible);
    let mut out = std::io::stdout().lock();
    let printed = args.run.watch.is_some();
    for r in report
        .runs
        .iter()
        .filter(|r| printed && !r.run.watch.is_empty())
    {
        writeln!(out, "{}:", r.run.config.rule.label())?;
        write_watch(&mut out, &r.run.watch)?;
    }
    table::write_compare(&mut out, &report)?;
    let json = args.out_dir.join("compare.json");
    write_json(&json, &report)?;
    let svg = args.out_dir.join("compare-traffic.svg");
    locus::report::plot::write_traffic_svg(&svg, &report)?;
    writeln!(out, "wrote {} and {}", json.display(), svg.display())?;
    let reports: Vec<&RunReport> = report.runs.iter().collect();
    if let Some(path) = &args.run.accelergy_out {
        super::write_accelergy(path, &reports, &mut out)?;
    }
    strict_check(args.run.strict, &reports)
}

/// Trains `cfg` on `data` (training set, test set), watched every `watch`
/// samples when given (each point also printed to stderr as it is taken
/// when the plan says so), showing progress on `pb`.
fn run_one(
    model: &HwModel,
    cfg: &TrainConfig,
    (train, test): (&Dataset, &Dataset),
    watch: Option<(NonZeroU64, bool)>,
    pb: &ProgressBar,
) -> Result<sim::RunResult, SimError> {
    let mut progress = |done, total| {
        pb.set_length(total);
        pb.set_position(done);
    };
    match watch {
        Some((every, print)) => {
            let label = cfg.rule.label();
            let mut on_point = |p: &sim::WatchPoint| {
                if !print {
                    return;
                }
                pb.suspend(|| {
                    eprintln!(
                        "watch {label}: {} samples, probe accuracy {:.2}%, output step gain {:.3} \
                         (largest {:.3})",
                        p.samples,
                        100.0 * p.probe_accuracy,
                        p.output_step_gain,
                        p.output_step_gain_max
                    )
                })
            };
            let watch = sim::Watch {
                every,
                on_point: &mut on_point,
            };
            sim::run_watched(model, cfg, train, test, watch, &mut progress)
        }
        None => sim::run(model, cfg, train, test, &mut progress).map(|(r, _)| r),
    }
}

/// The watch points of `--watch`, one line each: samples, accuracy on
/// the probe samples, the output layer's step gain, then per layer (input
/// side first) the mean output power `‖h‖²` and the largest `|w|`.
fn write_watch(out: &mut impl Write, watch: &[sim::WatchPoint]) -> std::io::Result<()> {
    if watch.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "watch ({} probe samples): samples, probe accuracy, output step gain lr·(‖x‖²+1) for \
         the mean and the largest ‖x‖² (unstable above {}), per layer mean ‖h‖² | max |w|",
        sim::WATCH_PROBE,
        sim::LMS_STABLE_GAIN
    )?;
    for p in watch {
        let power: Vec<String> = p
            .layers
            .iter()
            .map(|l| format!("{:.3}", l.output_power))
            .collect();
        let wmax: Vec<String> = p
            .layers
            .iter()
            .map(|l| format!("{:.3}", l.weight_max_abs))
            .collect();
        writeln!(
            out,
            "{:>9} {:>7.2}% {:>7.3} {:>7.3}  {} | {}",
            p.samples,
            100.0 * p.probe_accuracy,
            p.output_step_gain,
            p.output_step_gain_max,
            power.join(" "),
            wmax.join(" ")
        )?;
    }
    Ok(())
}
