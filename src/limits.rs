//! Resource limits: a run or a trace that would need more host memory or
//! disk than a configurable limit is refused before anything is allocated
//! or written, with the estimate and the limit in the message. A wrong
//! layer size (one digit too many) must cost an error line, not a swapping
//! machine or a full disk.
//!
//! The memory estimate counts the allocations that grow with the network,
//! the batch and the data (`docs/reliability.md`, "Resource limits"); the
//! fixed overhead of the process (a few MiB) is left out.

use crate::hw::core::host::host_alloc;
use crate::hw::model::{HwModel, TensorClass};
use crate::sim::{Arith, TrainConfig};
use std::fmt;

/// Default of `--max-memory`: 4 GiB of host memory per command.
pub const DEFAULT_MAX_MEMORY: u64 = 4 << 30;

/// Default of `--max-disk`: 1 GiB per trace command.
pub const DEFAULT_MAX_DISK: u64 = 1 << 30;

/// A size in bytes as given on the command line: a whole number with an
/// optional binary suffix `K`, `M`, `G` or `T` (also `KiB`, `MiB`, ...;
/// powers of 1024), e.g. `512M`, `4G`, `1048576`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, suffix) = t.split_at(split);
        let shift = match suffix.trim() {
            "" | "B" => 0,
            "K" | "k" | "KiB" => 10,
            "M" | "MiB" => 20,
            "G" | "GiB" => 30,
            "T" | "TiB" => 40,
            other => {
                return Err(format!(
                    "unknown unit {other:?}: use a number of bytes with an optional K, M, G or T (powers of 1024)"
                ));
            }
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| "expected a whole number of bytes, e.g. 512M or 4G".to_string())?;
        n.checked_mul(1u64 << shift)
            .map(ByteSize)
            .ok_or_else(|| "too large: at most 2^64 - 1 bytes".to_string())
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_bytes(self.0))
    }
}

/// `123 B`, `4.0 KiB`, `1.5 GiB`: a byte count for messages.
pub fn fmt_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Host memory a training run needs, by part, in bytes. Each part saturates
/// rather than overflowing, so an absurd network gives a huge estimate, not
/// a panic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Training and test images and labels, one byte each.
    pub data_bytes: u64,
    /// Weights and biases in the datapath's lanes (2 bytes for 16-bit
    /// fixed point, 4 for wider formats or `f32`).
    pub weight_bytes: u64,
    /// The final weights and biases returned as `f64` (8 bytes each).
    pub params_bytes: u64,
    /// Classifier ROM values (one lane each) and their storage (at most one
    /// byte per entry), hidden layers of the local rule only.
    pub classifier_bytes: u64,
    /// Per-layer input, output and error vectors, plus backprop's stashed
    /// inputs and saved errors for a whole batch.
    pub buffer_bytes: u64,
}

impl MemoryEstimate {
    /// Sum of the parts, bytes.
    pub fn total(&self) -> u64 {
        self.data_bytes
            .saturating_add(self.weight_bytes)
            .saturating_add(self.params_bytes)
            .saturating_add(self.classifier_bytes)
            .saturating_add(self.buffer_bytes)
    }

    /// The same run held `n` times at once (runs in parallel), sharing the
    /// data.
    pub fn times(&self, n: u64) -> MemoryEstimate {
        MemoryEstimate {
            data_bytes: self.data_bytes,
            weight_bytes: self.weight_bytes.saturating_mul(n),
            params_bytes: self.params_bytes.saturating_mul(n),
            classifier_bytes: self.classifier_bytes.saturating_mul(n),
            buffer_bytes: self.buffer_bytes.saturating_mul(n),
        }
    }

    /// `weights 1.0 GiB, final parameters 4.0 GiB, ...`: the nonzero parts.
    pub fn breakdown(&self) -> String {
        let parts = [
            ("data", self.data_bytes),
            ("weights", self.weight_bytes),
            ("final parameters", self.params_bytes),
            ("classifiers", self.classifier_bytes),
            ("buffers", self.buffer_bytes),
        ];
        parts
            .iter()
            .filter(|(_, b)| *b > 0)
            .map(|(name, b)| format!("{name} {}", fmt_bytes(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Bytes of one datapath value for `model` and `arith`: 2 when every format
/// fits 16 bits in fixed point, else 4 (`i32` lanes or `f32`).
fn lane_bytes(model: &HwModel, arith: Arith) -> u64 {
    let widest = TensorClass::ALL
        .iter()
        .map(|c| model.format(*c).bits)
        .max()
        .unwrap_or(32);
    match arith {
        Arith::Fixed if widest <= 16 => 2,
        _ => 4,
    }
}

/// Host bytes of the datapath's per-vector scratch, per value of the widest
/// layer vector: an upper bound of its transposed mat-vec column sums (an
/// `i32` and two `i64`), the update's block of LFSR states (two `u32`) and
/// the update-rounding counter's five `u32` radix buffers.
pub const SCRATCH_BYTES_PER_VALUE: u64 = 48;

/// Estimates the host memory of training `config` on `model` with
/// `data_bytes` bytes of loaded data (images and labels of both splits),
/// from the chip's own allocation description
/// ([`crate::hw::core::host::host_alloc`]: the lengths `Chip` allocates
/// with) and the rule's kept tensors for one batch. A network whose sizes
/// overflow 64 bits gives `u64::MAX`; one the chip would refuse gives its
/// data part only (the run is refused with its own message).
pub fn run_memory(model: &HwModel, config: &TrainConfig, data_bytes: u64) -> MemoryEstimate {
    let lane = lane_bytes(model, config.arith);
    let mut e = MemoryEstimate {
        data_bytes,
        ..MemoryEstimate::default()
    };
    let overflows = config.net.sizes.windows(2).any(|p| {
        (p[0] as u64)
            .checked_mul(p[1] as u64)
            .and_then(|w| w.checked_add(p[1] as u64))
            .and_then(|w| w.checked_mul(8))
            .is_none()
    });
    if overflows {
        e.weight_bytes = u64::MAX;
        return e;
    }
    let rule = config.rule;
    let Ok(a) = host_alloc(
        model,
        &config.net,
        rule.uses_classifiers(),
        rule.feedback(),
        rule.keeps(),
        config.batch,
    ) else {
        return e;
    };
    e.weight_bytes = a.weight_values.saturating_mul(lane);
    e.params_bytes = a.weight_values.saturating_mul(8);
    e.classifier_bytes = a
        .classifier_values
        .saturating_mul(lane)
        .saturating_add(a.rom_bytes);
    e.buffer_bytes = a
        .buffer_values
        .saturating_mul(lane)
        .saturating_add(a.buffer_bytes)
        .saturating_add(a.widest.saturating_mul(SCRATCH_BYTES_PER_VALUE))
        .saturating_add(counter_bytes(model, &config.net));
    e
}

/// Host bytes of the counters of every core, held by the chip and copied
/// once into the run's result.
fn counter_bytes(model: &HwModel, net: &crate::net::spec::NetSpec) -> u64 {
    let cores = model.mapping.cores(net.layers() as u32) as u64;
    2 * cores * std::mem::size_of::<crate::hw::counters::CoreCounts>() as u64
}

/// Peak resident memory of this process so far, bytes (`VmHWM` of
/// `/proc/self/status`); `None` where that file does not exist.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// A request above its limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The run would need more host memory than `--max-memory`.
    #[error(
        "--max-memory = {}: {what} about {} of memory ({}); raise --max-memory or use a smaller network (--layers), batch or dataset; nothing was run",
        fmt_bytes(*.limit), fmt_bytes(.estimate.total()), .estimate.breakdown()
    )]
    Memory {
        /// What was estimated, with its verb: `the run needs`, `4 runs at
        /// once need`.
        what: String,
        /// The estimate.
        estimate: MemoryEstimate,
        /// The limit, bytes.
        limit: u64,
    },
    /// The estimate overflows 64 bits: whatever the limit, refused.
    #[error(
        "{what} more than 2^64 bytes of memory: the network's sizes overflow 64 bits (check --layers); nothing was run"
    )]
    Overflow {
        /// What was estimated, with its verb.
        what: String,
    },
}

/// Refuses an estimate above `limit` bytes, and always one that saturated
/// at `u64::MAX` (a network whose element counts overflow 64 bits, which no
/// limit can allow).
pub fn check_memory(what: &str, estimate: MemoryEstimate, limit: u64) -> Result<(), LimitError> {
    if estimate.total() == u64::MAX {
        return Err(LimitError::Overflow {
            what: what.to_string(),
        });
    }
    if estimate.total() > limit {
        return Err(LimitError::Memory {
            what: what.to_string(),
            estimate,
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::core::NetSpec;
    use crate::hw::datapath::Activation;
    use crate::rules::{BpPolicy, Rule};

    #[test]
    fn sizes_parse_with_binary_units() {
        let p = |s: &str| s.parse::<ByteSize>().map(|b| b.0);
        assert_eq!(p("1048576"), Ok(1 << 20));
        assert_eq!(p("512M"), Ok(512 << 20));
        assert_eq!(p("4G"), Ok(4 << 30));
        assert_eq!(p("2GiB"), Ok(2 << 30));
        assert_eq!(p("1k"), Ok(1024));
        assert!(p("").is_err());
        assert!(p("1.5G").unwrap_err().contains("unknown unit"));
        assert!(p("4X").unwrap_err().contains("unknown unit"));
        assert!(p("99999999999T").unwrap_err().contains("too large"));
        assert_eq!(fmt_bytes(1536), "1.5 KiB");
        assert_eq!(fmt_bytes(100), "100 B");
    }

    fn config(rule: Rule, sizes: &[usize], batch: usize) -> TrainConfig {
        TrainConfig::new(
            rule,
            NetSpec::dense(sizes.to_vec(), Activation::Relu),
            batch,
        )
    }

    #[test]
    fn estimate_by_hand_for_local_and_bp() {
        let m = crate::hw::model::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/hw_models/default.json"
        )))
        .unwrap();
        // 784-1024-10 local, 16-bit lanes: params 784*1024+1024 and
        // 1024*10+10; one hidden classifier of 10x1024 entries (values,
        // and sign bits in u64 words).
        let e = run_memory(&m, &config(Rule::Local, &[784, 1024, 10], 1), 1000);
        let params = 784 * 1024 + 1024 + 1024 * 10 + 10;
        assert_eq!(e.weight_bytes, params * 2);
        assert_eq!(e.params_bytes, params * 8);
        assert_eq!(e.classifier_bytes, 10 * 1024 * 2 + 10 * 1024 / 8);
        // x, h, e of each layer, and the widest vector's scratch.
        let vectors = (784 + 2 * 1024) + (1024 + 2 * 10);
        let counters = 2 * 2 * std::mem::size_of::<crate::hw::counters::CoreCounts>() as u64;
        assert_eq!(
            e.buffer_bytes,
            vectors * 2 + 1024 * SCRATCH_BYTES_PER_VALUE + counters
        );
        assert_eq!(e.data_bytes, 1000);
        // Backprop at batch 4: no classifier; a batch of every layer's
        // input stashed and of output errors kept.
        let b = run_memory(
            &m,
            &config(Rule::Bp(BpPolicy::Stash), &[784, 1024, 10], 4),
            0,
        );
        assert_eq!(b.classifier_bytes, 0);
        assert_eq!(b.buffer_bytes, e.buffer_bytes + 4 * (784 + 1024 + 10) * 2);
        // Recompute stashes layer 0's input only.
        let r = run_memory(
            &m,
            &config(Rule::Bp(BpPolicy::Recompute), &[784, 1024, 10], 4),
            0,
        );
        assert_eq!(r.buffer_bytes, e.buffer_bytes + 4 * (784 + 10) * 2);
        // An absurd layer saturates instead of overflowing.
        let huge = run_memory(&m, &config(Rule::Local, &[784, usize::MAX, 10], 1), 0);
        assert_eq!(huge.total(), u64::MAX);
        let big = run_memory(&m, &config(Rule::Local, &[784, 1 << 24, 10], 1), 0);
        let err = check_memory("the run needs", big, DEFAULT_MAX_MEMORY).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--max-memory = 4.0 GiB: the run needs about")
        );
        assert!(check_memory("the run needs", e, DEFAULT_MAX_MEMORY).is_ok());
        assert_eq!(
            check_memory("the run needs", huge, u64::MAX),
            Err(LimitError::Overflow {
                what: "the run needs".into()
            })
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn peak_resident_grows_with_an_allocation() {
        let before = peak_resident_bytes().unwrap();
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let after = peak_resident_bytes().unwrap();
        assert!(after >= before && after >= 64 << 20, "{before} -> {after}");
    }
}
