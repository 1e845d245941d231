//! Running a sweep and its results file: one JSON line per finished point,
//! appended, flushed and synced as soon as the point is done, so a killed
//! sweep loses at most the points in flight. Rerunning resumes (finished
//! points are skipped, a half-written last line is dropped); shards split the
//! grid across machines and `merge` puts them back together.

use super::spec::{LoadedSpec, Point, SpecError};
use crate::data::{Dataset, load_mnist_dir};
use crate::output::write_atomic;
use crate::report::{RunReport, Totals};
use crate::sim::{self, EpochResult, SimError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One finished point: what `results.jsonl` holds per line. Host timings are
/// left out so that results are identical whatever the scheduling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    /// Hash of the spec (and base model) that produced it.
    pub spec_hash: String,
    /// Point index in the grid.
    pub index: usize,
    /// The point's axis values, `path → value`.
    pub settings: Value,
    /// Rule label, e.g. `local`, `bp/spill`.
    pub rule: String,
    /// Widths of the weight, activation, error and update formats, bits.
    pub bits: ClassBits,
    /// Why the point could not run (e.g. the stash does not fit), if so.
    pub error: Option<String>,
    /// Accuracy after each epoch (empty if it could not run).
    pub epochs: Vec<EpochResult>,
    /// Training samples processed.
    pub samples: u64,
    /// Measured totals.
    pub totals: Option<Totals>,
    /// Estimated energy per training sample, pJ.
    pub energy_per_sample_pj: Option<f64>,
    /// Estimated cycles per training sample.
    pub cycles_per_sample: Option<f64>,
}

/// Format widths of a point's tensor classes, bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassBits {
    /// Weight bits.
    pub weight: u32,
    /// Activation bits.
    pub activation: u32,
    /// Error bits.
    pub error: u32,
    /// Update bits.
    pub update: u32,
}

impl PointResult {
    /// Final test accuracy, if the point ran.
    pub fn test_accuracy(&self) -> Option<f64> {
        self.epochs.last().map(|e| e.test_accuracy)
    }

    /// SRAM + DRAM bytes moved per training sample, if the point ran.
    pub fn bytes_per_sample(&self) -> Option<f64> {
        let t = self.totals.as_ref()?;
        let bytes = t.sram_bytes.read + t.sram_bytes.write + t.dram_bytes.read + t.dram_bytes.write;
        Some(bytes as f64 / self.samples.max(1) as f64)
    }
}

/// A sweep that cannot run or whose files are inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The spec or a point is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A results file cannot be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A dataset cannot be loaded.
    #[error("{path}: {message}")]
    Data {
        /// The dataset directory.
        path: String,
        /// The loader's message.
        message: String,
    },
    /// A bad option.
    #[error("{option} = {value}: {message}")]
    Option {
        /// The option.
        option: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        message: String,
    },
}

/// Which share of the grid to run: points with `index % count == shard`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..count`.
    pub shard: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// Parses `i/n` with `i < n`.
    pub fn parse(s: &str) -> Result<Self, SweepError> {
        let bad = |m: &str| SweepError::Option {
            option: "--shard",
            value: s.to_string(),
            message: m.to_string(),
        };
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| bad("must be i/n, e.g. 0/3"))?;
        let (i, n): (usize, usize) = (
            i.trim().parse().map_err(|_| bad("i is not a number"))?,
            n.trim().parse().map_err(|_| bad("n is not a number"))?,
        );
        if n == 0 || i >= n {
            return Err(bad("needs 0 <= i < n"));
        }
        Ok(Shard { shard: i, count: n })
    }

    /// Whether point `index` belongs to this shard.
    pub fn contains(&self, index: usize) -> bool {
        index % self.count == self.shard
    }
}

/// One line of a results file: the parsed result and the line's exact text
/// (without its newline). Resuming and merging write `text` back unchanged, so
/// no digit of a finished result is ever rewritten.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultLine {
    /// The parsed result.
    pub result: PointResult,
    /// The line as it was read, byte for byte.
    pub text: String,
}

/// Reads a results file written for `hash`. A last line without its newline
/// (a write cut short) is dropped and reported as `truncated = true`; any
/// other bad line, or a line of another spec, is an error.
pub fn read_results(path: &Path, hash: &str) -> Result<(Vec<PointResult>, bool), SweepError> {
    let (lines, truncated) = read_result_lines(path, hash)?;
    Ok((lines.into_iter().map(|l| l.result).collect(), truncated))
}

/// [`read_results`], keeping each line's exact text.
pub fn read_result_lines(path: &Path, hash: &str) -> Result<(Vec<ResultLine>, bool), SweepError> {
    let p = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), false)),
        Err(e) => {
            return Err(SweepError::File {
                path: p,
                message: e.to_string(),
            });
        }
    };
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut truncated = false;
    for (k, line) in lines.iter().enumerate() {
        let last = k + 1 == lines.len();
        match serde_json::from_str::<PointResult>(line) {
            Ok(r) => {
                if r.spec_hash != hash {
                    return Err(SweepError::File {
                        path: p,
                        message: format!(
                            "line {}: written by a different spec (hash {}, this spec {hash}); use another results file",
                            k + 1,
                            r.spec_hash
                        ),
                    });
                }
                out.push(ResultLine {
                    result: r,
                    text: (*line).to_string(),
                });
            }
            Err(_) if last && !complete => truncated = true,
            Err(e) => {
                return Err(SweepError::File {
                    path: p,
                    message: format!("line {}: not a sweep result: {e}", k + 1),
                });
            }
        }
    }
    Ok((out, truncated))
}

/// Writes `lines` verbatim, one per line, atomically.
fn write_lines(path: &Path, lines: &[ResultLine]) -> Result<(), SweepError> {
    write_atomic(path, |w| {
        for l in lines {
            w.write_all(l.text.as_bytes())?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })
    .map_err(|e| SweepError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// What a sweep run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    /// Points in this shard.
    pub points: usize,
    /// Points already in the results file (skipped).
    pub skipped: usize,
    /// Points run now.
    pub ran: usize,
}

/// The datasets of a sweep's points, each directory loaded once, by path:
/// (training set, test set).
pub type Datasets = BTreeMap<PathBuf, (Dataset, Dataset)>;

/// The points of `shard`, each resolved into a model and a configuration
/// and validated: resolved once, then shared by the memory check,
/// [`load_datasets`] and [`run`].
pub fn shard_points(spec: &LoadedSpec, shard: Shard) -> Result<Vec<Point>, SweepError> {
    (0..spec.len())
        .filter(|&i| shard.contains(i))
        .map(|i| Ok(spec.point(i)?))
        .collect()
}

/// Loads the dataset of every point (each directory once), so that their
/// size can be checked against a memory limit before [`run`].
pub fn load_datasets(points: &[Point]) -> Result<Datasets, SweepError> {
    let mut data = Datasets::new();
    for p in points {
        if let std::collections::btree_map::Entry::Vacant(slot) = data.entry(p.data.clone()) {
            let d = load_mnist_dir(slot.key()).map_err(|e| SweepError::Data {
                path: slot.key().display().to_string(),
                message: e.to_string(),
            })?;
            slot.insert(d);
        }
    }
    Ok(data)
}

/// Runs the `points` ([`shard_points`]) that `results` does not hold yet, on
/// `threads` threads, appending one line per finished point; `data` holds
/// their datasets ([`load_datasets`]). Nothing runs or is written before
/// every pending point's dataset is found.
pub fn run(
    spec: &LoadedSpec,
    points: &[Point],
    data: &Datasets,
    results: &Path,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<RunSummary, SweepError> {
    let (done, truncated) = read_result_lines(results, &spec.hash)?;
    if truncated {
        write_lines(results, &done)?;
    }
    let done_idx: BTreeSet<usize> = done.iter().map(|l| l.result.index).collect();
    let pending: Vec<&Point> = points
        .iter()
        .filter(|p| !done_idx.contains(&p.index))
        .collect();
    if let Some(p) = pending.iter().find(|p| !data.contains_key(&p.data)) {
        return Err(SweepError::Data {
            path: p.data.display().to_string(),
            message: "dataset not loaded for this sweep".into(),
        });
    }
    if let Some(dir) = results.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| SweepError::File {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(results)
        .map_err(|e| SweepError::File {
            path: results.display().to_string(),
            message: e.to_string(),
        })?;
    let sink = Mutex::new((file, 0usize));
    let total = pending.len();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| SweepError::Option {
            option: "--threads",
            value: threads.to_string(),
            message: e.to_string(),
        })?;
    let outcome: Result<(), SweepError> = pool.install(|| {
        use rayon::prelude::*;
        pending.par_iter().try_for_each(|p| {
            let (train, test) = &data[&p.data];
            let line = run_point(spec, p, train, test);
            let mut text = serde_json::to_string(&line).map_err(|e| SweepError::File {
                path: results.display().to_string(),
                message: e.to_string(),
            })?;
            text.push('\n');
            let mut guard = sink.lock().unwrap_or_else(|e| e.into_inner());
            let io = (|| {
                guard.0.write_all(text.as_bytes())?;
                guard.0.flush()?;
                guard.0.sync_data()
            })();
            io.map_err(|e| SweepError::File {
                path: results.display().to_string(),
                message: e.to_string(),
            })?;
            guard.1 += 1;
            progress(guard.1, total);
            Ok(())
        })
    });
    outcome?;
    Ok(RunSummary {
        points: points.len(),
        skipped: points.len() - total,
        ran: total,
    })
}

/// Trains one point; a configuration the chip cannot hold is a result with
/// `error` set, not a failure of the sweep.
fn run_point(spec: &LoadedSpec, p: &Point, train: &Dataset, test: &Dataset) -> PointResult {
    let f = &p.model.formats;
    let mut r = PointResult {
        spec_hash: spec.hash.clone(),
        index: p.index,
        settings: p.settings_json(),
        rule: p.config.rule.label(),
        bits: ClassBits {
            weight: f.weight.bits,
            activation: f.activation.bits,
            error: f.error.bits,
            update: f.update.bits,
        },
        error: None,
        epochs: Vec::new(),
        samples: 0,
        totals: None,
        energy_per_sample_pj: None,
        cycles_per_sample: None,
    };
    match sim::run(&p.model, &p.config, train, test, &mut |_, _| {}) {
        Ok((result, _)) => match RunReport::new(&p.model, &result) {
            Ok(rep) => {
                r.epochs = result.epochs;
                r.samples = result.samples;
                r.totals = Some(rep.measured.totals);
                r.energy_per_sample_pj = Some(rep.estimated.energy_per_sample_pj);
                r.cycles_per_sample = Some(rep.estimated.timing.cycles_per_sample);
            }
            // A total past 64 bits: the point is recorded with the error,
            // like one the chip cannot hold.
            Err(e) => r.error = Some(e.to_string()),
        },
        Err(
            e @ (SimError::Chip(_)
            | SimError::Datapath(_)
            | SimError::Config { .. }
            | SimError::Count(_)),
        ) => {
            r.error = Some(e.to_string());
        }
    }
    r
}

/// Merges shard files of one spec into `out` (sorted by point index),
/// checking that every point is present exactly once. Each line is copied
/// byte for byte from its shard.
pub fn merge(spec: &LoadedSpec, inputs: &[PathBuf], out: &Path) -> Result<usize, SweepError> {
    let mut all: BTreeMap<usize, (ResultLine, PathBuf)> = BTreeMap::new();
    for input in inputs {
        if !input.exists() {
            return Err(SweepError::File {
                path: input.display().to_string(),
                message: "no such file".into(),
            });
        }
        let (rs, truncated) = read_result_lines(input, &spec.hash)?;
        if truncated {
            return Err(SweepError::File {
                path: input.display().to_string(),
                message: "its last line is cut short: rerun that shard to finish it".into(),
            });
        }
        for l in rs {
            let index = l.result.index;
            if let Some((_, first)) = all.get(&index) {
                return Err(SweepError::File {
                    path: input.display().to_string(),
                    message: format!("point {} is also in {}: duplicated", index, first.display()),
                });
            }
            all.insert(index, (l, input.clone()));
        }
    }
    let missing: Vec<usize> = (0..spec.len()).filter(|i| !all.contains_key(i)).collect();
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().take(10).map(|i| i.to_string()).collect();
        return Err(SweepError::File {
            path: out.display().to_string(),
            message: format!(
                "{} of {} points missing (first: {}); run the missing shards first",
                missing.len(),
                spec.len(),
                list.join(", ")
            ),
        });
    }
    let results: Vec<ResultLine> = all.into_values().map(|(l, _)| l).collect();
    write_lines(out, &results)?;
    Ok(results.len())
}
