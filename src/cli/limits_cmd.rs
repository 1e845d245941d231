//! `--max-memory` and `--max-disk`: the command-line side of
//! `locus::limits` (estimates and messages live in the library).

use locus::data::Dataset;
use locus::hw::model::HwModel;
use locus::limits::{self, MemoryEstimate};
use locus::sim::TrainConfig;

/// Bytes of images and labels of both splits.
pub fn data_bytes(train: &Dataset, test: &Dataset) -> u64 {
    [
        train.images.len(),
        train.labels.len(),
        test.images.len(),
        test.labels.len(),
    ]
    .iter()
    .map(|&n| n as u64)
    .sum()
}

/// Refuses, before anything is allocated, the `runs` (model and
/// configuration) of which up to `parallel` are held at once, when the
/// largest `parallel` of them and the data need more than `limit` bytes.
/// Returns the estimate.
pub fn check_runs(
    runs: &[(&HwModel, &TrainConfig)],
    parallel: usize,
    data_bytes: u64,
    limit: u64,
) -> anyhow::Result<MemoryEstimate> {
    let mut each: Vec<MemoryEstimate> = runs
        .iter()
        .map(|(m, c)| limits::run_memory(m, c, 0))
        .collect();
    each.sort_by_key(|e| std::cmp::Reverse(e.total()));
    let k = parallel.clamp(1, each.len().max(1));
    let mut sum = MemoryEstimate {
        data_bytes,
        ..MemoryEstimate::default()
    };
    for e in each.iter().take(k) {
        sum.weight_bytes = sum.weight_bytes.saturating_add(e.weight_bytes);
        sum.params_bytes = sum.params_bytes.saturating_add(e.params_bytes);
        sum.classifier_bytes = sum.classifier_bytes.saturating_add(e.classifier_bytes);
        sum.buffer_bytes = sum.buffer_bytes.saturating_add(e.buffer_bytes);
    }
    let what = if k == 1 {
        "the run needs".to_string()
    } else {
        format!("{k} runs at once need")
    };
    limits::check_memory(&what, sum, limit)?;
    Ok(sum)
}

/// Prints the memory estimate next to the measured peak, on stderr (where
/// the platform tells the peak).
pub fn report_peak(estimate: &MemoryEstimate) {
    if let Some(peak) = limits::peak_resident_bytes() {
        eprintln!(
            "host memory: estimated {} ({} bytes), peak resident {} ({peak} bytes)",
            limits::fmt_bytes(estimate.total()),
            estimate.total(),
            limits::fmt_bytes(peak)
        );
    }
}
