//! `locus data info DIR`: loads both splits of an IDX dataset directory and
//! prints their files, shapes, pixel statistics and class counts side by side.

use locus::data::{Dataset, PixelStats, SplitFiles, find_split};
use std::fmt::Write as _;
use std::path::Path;

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
