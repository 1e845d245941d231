//! `locus data info DIR`: loads both splits of an IDX dataset directory and
//! prints their files, shapes, pixel statistics and class counts side by side.
//! `locus data synth DIR`: writes a seeded synthetic dataset in that layout.

use anyhow::Context;
use clap::Args;
use locus::data::{
    DataError, Dataset, PixelStats, SplitFiles, SyntheticSpec, find_split, generate, split_files,
    write_split,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The splits of an MNIST-layout directory, in print order.
const SPLITS: [&str; 2] = ["train", "t10k"];

/// Prints shapes and class counts of the dataset in `dir`.
pub fn info(dir: &Path) -> anyhow::Result<()> {
    let mut columns = Vec::with_capacity(SPLITS.len());
    for prefix in SPLITS {
        let files = find_split(dir, prefix)?;
        let data = Dataset::load_files(&files.images, &files.labels, prefix)?;
        columns.push((files, data));
    }
    print!("{}", render(dir, &columns));
    Ok(())
}

/// `locus data synth` options.
#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Output directory, created if missing, e.g. data/synth.
    pub out_dir: PathBuf,
    /// Number of classes, 2..=256 (sample i has label i % classes).
    #[arg(long, default_value_t = 4)]
    pub classes: usize,
    /// Pixels per sample, at least 1: the first of `train --layers`.
    #[arg(long, default_value_t = 16)]
    pub sample_len: usize,
    /// Training samples (train-* files), at least 1.
    #[arg(long, default_value_t = 400)]
    pub train: usize,
    /// Test samples (t10k-* files), at least 1.
    #[arg(long, default_value_t = 200)]
    pub test: usize,
    /// Noise amplitude, 0..=255: each pixel gets a uniform offset in
    /// -noise..=noise, then is clipped to 0..=255.
    #[arg(long, default_value_t = 40)]
    pub noise: u8,
    /// Seed of prototypes and noise; the same options give identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write gzip-compressed files named *.gz. Either way, the other form of
    /// each file (raw or .gz), if present, is removed.
    #[arg(long)]
    pub gzip: bool,
}

/// Writes the synthetic dataset of `args` to `args.out_dir`.
pub fn synth(args: &SynthArgs) -> anyhow::Result<()> {
    let spec = SyntheticSpec {
        classes: args.classes,
        sample_len: args.sample_len,
        train: args.train,
        test: args.test,
        noise: args.noise,
        seed: args.seed,
    };
    // Name the command-line option, not the library field.
    spec.validate().map_err(|e| match e {
        DataError::BadSpec {
            field,
            value,
            expected,
        } => anyhow::anyhow!("--{} {value}: must be {expected}", field.replace('_', "-")),
        e => e.into(),
    })?;
    let dir = &args.out_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    let (train, test) = generate(&spec)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "wrote a synthetic dataset to {}: {} classes, {} pixels per sample, noise ±{}, seed {}",
        dir.display(),
        spec.classes,
        spec.sample_len,
        spec.noise,
        spec.seed
    );
    let mut written = Vec::new();
    let mut removed = Vec::new();
    for (prefix, data) in [("train", &train), ("t10k", &test)] {
        let files = write_split(dir, prefix, data, args.gzip)?;
        let n = data.len();
        written.push((files.images, format!("{n}×{}", spec.sample_len)));
        written.push((files.labels, n.to_string()));
        // The other form of each file is now stale (and a .gz would shadow
        // the new raw file when the directory is read).
        let old = split_files(dir, prefix, !args.gzip);
        for p in [old.images, old.labels] {
            if p.is_file() {
                std::fs::remove_file(&p)
                    .with_context(|| format!("{}: cannot remove older copy", p.display()))?;
                removed.push(p);
            }
        }
    }
    let w = written
        .iter()
        .map(|(p, _)| p.display().to_string().chars().count())
        .max()
        .unwrap_or(0);
    for (p, shape) in &written {
        let _ = writeln!(out, "  {:<w$}  {shape}", p.display().to_string());
    }
    for p in &removed {
        let _ = writeln!(out, "  removed older copy {}", p.display());
    }
    let _ = writeln!(
        out,
        "train on it with e.g. --data {} --layers {},32,{}",
        dir.display(),
        spec.sample_len,
        spec.classes
    );
    print!("{out}");
    Ok(())
}

/// The file name of `p` (not the whole path), for a compact table.
fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The aligned table: one row per property, one column per split.
fn render(dir: &Path, columns: &[(SplitFiles, Dataset)]) -> String {
    let stats: Vec<PixelStats> = columns.iter().map(|(_, d)| d.pixel_stats()).collect();
    let counts: Vec<Vec<usize>> = columns.iter().map(|(_, d)| d.class_counts()).collect();
    let each = |f: &dyn Fn(usize, &SplitFiles, &Dataset) -> String| -> Vec<String> {
        columns
            .iter()
            .enumerate()
            .map(|(j, (fs, d))| f(j, fs, d))
            .collect()
    };
    let mut rows: Vec<(String, Vec<String>)> = vec![
        ("split".into(), each(&|_, _, d| d.name.clone())),
        ("images file".into(), each(&|_, f, _| file_name(&f.images))),
        ("labels file".into(), each(&|_, f, _| file_name(&f.labels))),
        ("samples".into(), each(&|_, _, d| d.len().to_string())),
        (
            "sample shape".into(),
            each(&|_, _, d| {
                d.sample_shape
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join("×")
            }),
        ),
        (
            "pixel range".into(),
            each(&|j, _, _| format!("{}..={}", stats[j].min, stats[j].max)),
        ),
        (
            "pixel mean".into(),
            each(&|j, _, _| {
                format!(
                    "{:.2} ({:.4} as p/255)",
                    stats[j].mean,
                    stats[j].mean / 255.0
                )
            }),
        ),
        ("classes".into(), each(&|_, _, d| d.num_classes.to_string())),
    ];
    let max_classes = columns
        .iter()
        .map(|(_, d)| d.num_classes)
        .max()
        .unwrap_or(0);
    for c in 0..max_classes {
        rows.push((
            format!("  class {c}"),
            each(&|j, _, _| {
                counts[j]
                    .get(c)
                    .map_or_else(|| "-".into(), usize::to_string)
            }),
        ));
    }

    let label_w = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let col_w: Vec<usize> = (0..columns.len())
        .map(|j| {
            rows.iter()
                .map(|(_, v)| v[j].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("dataset {}\n", dir.display());
    for (label, values) in &rows {
        let _ = write!(out, "  {label:<label_w$}");
        for (v, w) in values.iter().zip(&col_w) {
            let _ = write!(out, "  {v:>w$}");
        }
        out.push('\n');
    }
    out
}
