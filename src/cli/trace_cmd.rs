//! `locus trace ...`: traces, waveforms and golden vectors for RTL work.
//!
//! `events`, `scalesim` and `vcd` run a traced training run
//! (`locus::sim::run_traced`) with the same options as `locus train` and
//! stream its accesses into temporary files that are renamed into place only
//! when complete (`docs/formats.md`, "Access traces"). Before writing, the
//! size is estimated (events and SCALE-Sim: from a traced run of the first
//! samples, extrapolated; VCD: exactly, from the collected window); above
//! `--max-disk` (default 1 GiB) the command stops unless `--force`, and it
//! always stops when the estimate exceeds the free space of the output's
//! file system.

use super::values;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use flate2::Compression;
use flate2::write::GzEncoder;
use locus::data::{Dataset, load_mnist_dir};
use locus::hw::model::{self, HwModel};
use locus::hw::trace_sink::TraceSink;
use locus::limits::{ByteSize, fmt_bytes};
use locus::output::{AtomicFile, write_atomic};
use locus::rules::{BpPolicy, Rule};
use locus::sim::{self, TrainConfig};
use locus::trace::events::{EventFormat, EventWriter};
use locus::trace::scalesim::{STREAMS, ScaleSimWriter, stream_path};
use locus::trace::vcd::VcdWindow;
use locus::trace::{CountingWriter, Tee};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::golden_cmd;
use super::train_cmd::RunArgs;

/// Longest VCD window, in cycles (the window is held in memory).
pub const MAX_VCD_CYCLES: u64 = 1_000_000;

/// Samples of the first epoch traced to estimate the size of a trace.
const PROBE_SAMPLES: usize = 256;

/// Trace subcommands.
#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Write $readmemh memory images, golden vectors and a manifest of the
    /// first training steps, for a Verilog testbench.
    Golden(golden_cmd::GoldenArgs),
    /// Event trace of a training run: one CSV or JSONL row per access burst
    /// (cycle, layer, unit, bank, rw, addr, words, class, phase).
    Events(EventsArgs),
    /// SCALE-Sim-style address traces of a training run: per core, memory
    /// and direction a CSV of `cycle,addr,addr,...` rows, unused ports -1.
    Scalesim(ScalesimArgs),
    /// VCD waveform of the cores' ports (clock, per bank en/we/addr/data,
    /// per core phase/layer/mac_valid) for a window of cycles of a training run.
    Vcd(VcdArgs),
}

impl TraceCommand {
    /// The network options of a traced run (`golden` has its own).
    pub(super) fn net_mut(&mut self) -> Option<&mut super::train_cmd::NetArgs> {
        match self {
            TraceCommand::Golden(_) => None,
            TraceCommand::Events(a) => Some(&mut a.traced.run.net),
            TraceCommand::Scalesim(a) => Some(&mut a.traced.run.net),
            TraceCommand::Vcd(a) => Some(&mut a.traced.run.net),
        }
    }
}

/// The run to trace: `locus train`'s options.
#[derive(Args, Debug, Clone)]
pub struct TracedRun {
    /// Learning rule.
    #[arg(long, value_parser = ["local", "bp"], default_value = "local")]
    pub rule: String,
    /// Backprop's buffering policy.
    #[arg(long, value_parser = values::parser::<BpPolicy>(), default_value_t = BpPolicy::Spill)]
    pub policy: BpPolicy,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Where and how to write.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Compress with gzip (the file name is used as given).
    #[arg(long)]
    pub gzip: bool,
    /// Refuse, before writing anything, a trace whose estimated size
    /// exceeds this many bytes (suffix K, M, G or T: powers of 1024).
    #[arg(long, default_value = "1G")]
    pub max_disk: ByteSize,
    /// Write whatever the estimated size (the free space of the output's
    /// file system is still checked): the same as a huge --max-disk.
    #[arg(long)]
    pub force: bool,
}

/// `locus trace events` options.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Output file, e.g. trace.csv (trace.csv.gz with --gzip).
    #[arg(long)]
    pub out: PathBuf,
    /// Row format.
    #[arg(long, value_parser = values::parser::<EventFormat>(), default_value_t = EventFormat::Csv)]
    pub format: EventFormat,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub traced: TracedRun,
}

/// `locus trace scalesim` options.
#[derive(Args, Debug)]
pub struct ScalesimArgs {
    /// Output directory; files go to DIR/core<k>/<MEMORY>_..._TRACE.csv
    /// (.csv.gz with --gzip), replacing files of the same name.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub traced: TracedRun,
}

/// `locus trace vcd` options.
#[derive(Args, Debug)]
pub struct VcdArgs {
    /// Output file, e.g. window.vcd.
    #[arg(long)]
    pub out: PathBuf,
    /// First cycle of the window.
    #[arg(long, default_value_t = 0)]
    pub from_cycle: u64,
    /// Cycles in the window (1 to 1,000,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=MAX_VCD_CYCLES))]
    pub cycles: u64,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub traced: TracedRun,
}

/// Runs a trace subcommand.
pub fn run(cmd: &TraceCommand) -> anyhow::Result<()> {
    match cmd {
        TraceCommand::Golden(a) => golden_cmd::run(a),
        TraceCommand::Events(a) => events(a),
        TraceCommand::Scalesim(a) => scalesim(a),
        TraceCommand::Vcd(a) => vcd(a),
    }
}

/// The model, data and configuration of the run to trace.
struct Setup {
    model: HwModel,
    train: Dataset,
    test: Dataset,
    config: TrainConfig,
    cores: usize,
}

impl Setup {
    fn load(t: &TracedRun) -> anyhow::Result<Self> {
        let r = &t.run;
        let model = model::load(&r.model)?;
        let (train, test) = load_mnist_dir(&r.data)?;
        let rule = match t.rule.as_str() {
            "bp" => Rule::Bp(t.policy),
            _ => Rule::Local,
        };
        let config = r.config(rule);
        let cores = model.mapping.cores(config.net.layers() as u32) as usize;
        let bytes = super::limits_cmd::data_bytes(&train, &test);
        super::limits_cmd::check_runs(&[(&model, &config)], 1, bytes, r.max_memory.0)?;
        Ok(Setup {
            model,
            train,
            test,
            config,
            cores,
        })
    }

    /// Samples the whole run trains on.
    fn samples(&self) -> u64 {
        let per_epoch = self
            .config
            .train_limit
            .map_or(self.train.len(), |n| n.min(self.train.len()));
        per_epoch as u64 * self.config.epochs as u64
    }

    /// Runs the configuration (or `config`) traced into `sink`, with a
    /// progress bar; returns the sink and the host seconds of training.
    fn run<T: TraceSink>(
        &self,
        config: &TrainConfig,
        sink: T,
        label: &str,
        model_path: &Path,
    ) -> anyhow::Result<(T, f64)> {
        let pb = super::train_cmd::progress_bar(label);
        let (result, _, sink) = sim::run_traced(
            &self.model,
            config,
            &self.train,
            &self.test,
            sink,
            &mut |d, t| {
                pb.set_length(t);
                pb.set_position(d);
            },
        )
        .map_err(|e| super::train_cmd::sim_error(model_path, e))?;
        pb.finish_and_clear();
        Ok((sink, result.train_seconds))
    }

    /// The first [`PROBE_SAMPLES`] samples (at least one batch) of the
    /// run's first epoch, with no test-set evaluation, and how many samples
    /// that is (the whole run when it is that short).
    fn probe_config(&self) -> (TrainConfig, u64) {
        let per_epoch = self
            .config
            .train_limit
            .map_or(self.train.len(), |n| n.min(self.train.len()));
        let n = PROBE_SAMPLES.max(self.config.batch).min(per_epoch);
        let mut c = self.config.clone();
        c.epochs = 1;
        c.train_limit = Some(n);
        c.test_limit = Some(0);
        (c, n as u64)
    }
}

/// Decimal digits of `n`.
fn digits(n: u64) -> u64 {
    n.checked_ilog10().map_or(1, |d| d as u64 + 1)
}

/// Extrapolates a probe of `probe` samples that wrote `bytes` in `rows`
/// rows up to cycle `last_cycle` to `total` samples: bytes scale with the
/// samples, plus the extra digits of later cycle numbers on every row.
fn extrapolate(bytes: u64, rows: u64, last_cycle: u64, probe: u64, total: u64) -> u64 {
    let f = total as f64 / probe.max(1) as f64;
    let end = (last_cycle as f64 * f) as u64;
    let extra = digits(end).saturating_sub(digits(last_cycle));
    (bytes as f64 * f + rows as f64 * f * extra as f64).ceil() as u64
}

/// Free bytes for an unprivileged user on the file system holding `dir`.
#[cfg(unix)]
fn free_bytes(dir: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

/// Prints the size about to be written and refuses above `--max-disk`
/// without `--force`, or above the free space of `dir` in any case.
fn check_size(
    what: &Path,
    dir: &Path,
    bytes: u64,
    exact: bool,
    output: &OutputArgs,
) -> anyhow::Result<()> {
    let about = if exact { "" } else { "about " };
    eprintln!(
        "{}: {about}{} ({bytes} bytes) to write",
        what.display(),
        fmt_bytes(bytes)
    );
    if let Some(free) = free_bytes(dir)
        && bytes > free
    {
        bail!(
            "{}: the trace needs {about}{} but {} has only {} free; nothing was written",
            what.display(),
            fmt_bytes(bytes),
            dir.display(),
            fmt_bytes(free)
        );
    }
    let limit = output.max_disk.0;
    if bytes > limit && !output.force {
        bail!(
            "{}: --max-disk = {}: the trace would be {about}{}; raise --max-disk (or pass --force), or trace fewer samples (--train-limit), a smaller network (--layers) or, for a VCD, fewer cycles; nothing was written",
            what.display(),
            fmt_bytes(limit),
            fmt_bytes(bytes),
        );
    }
    Ok(())
}

/// Directories created for an output, removed again (when empty) if the
/// output fails.
struct CreatedDirs(Vec<PathBuf>);

impl CreatedDirs {
    /// Creates `dir` and its missing parents, remembering which were new.
    fn create(dir: &Path) -> anyhow::Result<Self> {
        let mut missing = Vec::new();
        let mut d = Some(dir);
        while let Some(p) = d.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
            missing.push(p.to_path_buf());
            d = p.parent();
        }
        missing.reverse();
        for p in &missing {
            std::fs::create_dir(p)
                .with_context(|| format!("{}: cannot create directory", p.display()))?;
        }
        Ok(CreatedDirs(missing))
    }

    fn keep(mut self) {
        self.0.clear();
    }
}

impl Drop for CreatedDirs {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = std::fs::remove_dir(p);
        }
    }
}

/// The directory of output file `out` ("." when it has none).
fn dir_of(out: &Path) -> PathBuf {
    match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Fails early, naming the path, when no file can be created in `dir`.
fn check_writable(dir: &Path, out: &Path) -> anyhow::Result<()> {
    match AtomicFile::create(&dir.join("probe")) {
        Ok(_) => Ok(()),
        // The kind only: the temporary name in the error means nothing to
        // the user.
        Err(locus::output::OutputError::Io { cause, .. }) => {
            bail!("{}: cannot write: {}", out.display(), cause.kind())
        }
    }
}

/// `w`, gzip-compressed or not.
enum MaybeGz<W: Write> {
    Plain(W),
    Gz(GzEncoder<W>),
}

impl<W: Write> MaybeGz<W> {
    fn new(w: W, gzip: bool) -> Self {
        if gzip {
            MaybeGz::Gz(GzEncoder::new(w, Compression::default()))
        } else {
            MaybeGz::Plain(w)
        }
    }

    fn finish(self) -> io::Result<W> {
        match self {
            MaybeGz::Plain(w) => Ok(w),
            MaybeGz::Gz(g) => g.finish(),
        }
    }
}

impl<W: Write> Write for MaybeGz<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeGz::Plain(w) => w.write(buf),
            MaybeGz::Gz(g) => g.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            MaybeGz::Plain(w) => w.write_all(buf),
            MaybeGz::Gz(g) => g.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeGz::Plain(w) => w.flush(),
            MaybeGz::Gz(g) => g.flush(),
        }
    }
}

/// Cycles the traced run takes: one past the last busy cycle of any core.
#[derive(Clone, Copy, Debug, Default)]
struct EndCycle(u64);

impl TraceSink for EndCycle {
    const ENABLED: bool = true;
    fn access(&mut self, _ev: &locus::hw::trace_sink::AccessEvent<'_>) {}
    fn op(&mut self, op: &locus::hw::trace_sink::OpEvent) {
        self.0 = self.0.max(op.cycle + op.cycles);
    }
}

/// Writes one file atomically, streaming a traced run into it; a run error
/// (or a write error) leaves nothing behind.
fn stream_file(
    out: &Path,
    gzip: bool,
    fill: impl FnOnce(&mut MaybeGz<&mut dyn Write>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut failure = None;
    let r = write_atomic(out, |w| {
        let mut z = MaybeGz::new(w, gzip);
        if let Err(e) = fill(&mut z) {
            failure = Some(e);
            return Err(io::Error::other("run failed"));
        }
        z.finish().map(drop)
    });
    match (failure, r) {
        (Some(e), _) => Err(e),
        (None, r) => Ok(r?),
    }
}

/// `locus trace events`.
fn events(a: &EventsArgs) -> anyhow::Result<()> {
    let s = Setup::load(&a.traced)?;
    let model_path = &a.traced.run.model;
    let dir = dir_of(&a.out);
    let dirs = CreatedDirs::create(&dir)?;
    check_writable(&dir, &a.out)?;
    let (cfg, n) = s.probe_config();
    let counter = MaybeGz::new(CountingWriter::default(), a.output.gzip);
    let sink = Tee(EventWriter::new(counter, a.format), EndCycle::default());
    let (Tee(w, end), _) = s.run(&cfg, sink, "probe", model_path)?;
    let (rows, bytes) = (w.rows(), w.bytes());
    let written = w.finish()?.finish()?.bytes;
    let ratio = written as f64 / bytes.max(1) as f64;
    let raw = extrapolate(bytes, rows, end.0, n, s.samples());
    let est = (raw as f64 * ratio).ceil() as u64;
    check_size(&a.out, &dir, est, n == s.samples(), &a.output)?;
    let start = Instant::now();
    let mut stats = (0, 0, 0.0);
    stream_file(&a.out, a.output.gzip, |w| {
        let (sink, secs) = s.run(
            &s.config,
            EventWriter::new(w, a.format),
            "trace",
            model_path,
        )?;
        stats = (sink.rows(), sink.bytes(), secs);
        sink.finish()?;
        Ok(())
    })?;
    dirs.keep();
    let wall = start.elapsed().as_secs_f64();
    let (rows, bytes, secs) = stats;
    println!(
        "wrote {}: {rows} rows, {} of text in {wall:.2} s ({:.1} MB/s; training part {secs:.2} s)",
        a.out.display(),
        fmt_bytes(bytes),
        bytes as f64 / 1e6 / wall.max(1e-9),
    );
    Ok(())
}

/// `locus trace scalesim`.
fn scalesim(a: &ScalesimArgs) -> anyhow::Result<()> {
    let s = Setup::load(&a.traced)?;
    let model_path = &a.traced.run.model;
    let gz = a.output.gzip;
    let dirs = CreatedDirs::create(&a.out)?;
    check_writable(&a.out, &a.out)?;
    let mut core_dirs = Vec::new();
    for core in 0..s.cores {
        core_dirs.push(CreatedDirs::create(&a.out.join(format!("core{core}")))?);
    }
    let (cfg, n) = s.probe_config();
    let open = |_: &str| Ok(MaybeGz::new(CountingWriter::default(), gz));
    let sink = Tee(
        ScaleSimWriter::new(&s.model, s.cores, open)?,
        EndCycle::default(),
    );
    let (Tee(w, end), _) = s.run(&cfg, sink, "probe", model_path)?;
    let bytes = w.bytes();
    let (mut written, mut rows) = (0, 0);
    for (_, f, st) in w.finish()? {
        written += f.finish()?.bytes;
        rows += st.rows;
    }
    let ratio = written as f64 / bytes.max(1) as f64;
    let est = (extrapolate(bytes, rows, end.0, n, s.samples()) as f64 * ratio).ceil() as u64;
    check_size(&a.out, &a.out, est, n == s.samples(), &a.output)?;
    let suffix = if gz { ".gz" } else { "" };
    let open = |rel: &str| -> io::Result<MaybeGz<AtomicFile>> {
        let path = a.out.join(format!("{rel}{suffix}"));
        let file = AtomicFile::create(&path).map_err(io::Error::other)?;
        Ok(MaybeGz::new(file, gz))
    };
    let writer = ScaleSimWriter::new(&s.model, s.cores, open)
        .with_context(|| format!("{}: cannot write", a.out.display()))?;
    let (w, _) = s.run(&s.config, writer, "trace", model_path)?;
    let files = w
        .finish()
        .with_context(|| format!("{}: cannot write", a.out.display()))?;
    // Every file is complete: sync them all, then rename them into place.
    let mut done = Vec::with_capacity(files.len());
    let mut total = 0;
    for (_, f, st) in files {
        let file = f
            .finish()
            .with_context(|| format!("{}: cannot write", a.out.display()))?;
        done.push(file.finish()?);
        total += st.bytes;
    }
    let n = done.len();
    for file in done {
        file.persist()?;
    }
    dirs.keep();
    core_dirs.into_iter().for_each(CreatedDirs::keep);
    println!(
        "wrote {n} files under {} ({} of text; {} per core: {})",
        a.out.display(),
        fmt_bytes(total),
        STREAMS.len(),
        stream_path(0, 0)
    );
    Ok(())
}

/// `locus trace vcd`.
fn vcd(a: &VcdArgs) -> anyhow::Result<()> {
    let s = Setup::load(&a.traced)?;
    let model_path = &a.traced.run.model;
    let dir = dir_of(&a.out);
    let dirs = CreatedDirs::create(&dir)?;
    check_writable(&dir, &a.out)?;
    let window = VcdWindow::new(&s.model, s.config.net.layers(), a.from_cycle, a.cycles);
    let (mut window, _) = s.run(&s.config, window, "trace", model_path)?;
    let size = window
        .write_vcd(MaybeGz::new(CountingWriter::default(), a.output.gzip))
        .with_context(|| a.out.display().to_string())?
        .finish()?
        .bytes;
    check_size(&a.out, &dir, size, true, &a.output)?;
    stream_file(&a.out, a.output.gzip, |w| {
        window.write_vcd(w)?;
        Ok(())
    })?;
    dirs.keep();
    let end = window.window_end();
    let cut = if end < a.from_cycle + a.cycles {
        " (cut at the end of the run)".to_string()
    } else {
        String::new()
    };
    println!(
        "wrote {}: cycles {}..{end}{cut}, {} ps per cycle",
        a.out.display(),
        a.from_cycle,
        window.period_ps()
    );
    Ok(())
}
