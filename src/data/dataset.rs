//! `Dataset`: images and labels in memory, loading an IDX split, pixel
//! normalisation into an activation format, and seeded epoch shuffling.

use super::idx::{IdxArray, IdxError, read_idx, write_idx};
use crate::output::{OutputError, write_atomic};
use crate::quant::PixelScale;
#[cfg(test)]
use crate::quant::QFormat;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// Why a dataset could not be loaded or built; names the file(s) involved.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An IDX file is unreadable or malformed.
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// The dataset directory does not exist or is not a directory.
    #[error("{}: dataset directory not found", .path.display())]
    NoDir {
        /// The directory.
        path: PathBuf,
    },
    /// Neither the `.gz` nor the raw form of a split file exists.
    #[error("{}: not found (nor its uncompressed form without .gz)", .path.display())]
    Missing {
        /// The expected path, `.gz` form.
        path: PathBuf,
    },
    /// The images array has rank 1 (it must be count × sample shape).
    #[error("{path}: images have rank {rank}: expected at least 2 (count × sample shape)")]
    ImagesRank {
        /// The images source.
        path: String,
        /// Its rank.
        rank: usize,
    },
    /// The labels array is not rank 1.
    #[error("{path}: labels have rank {rank}: expected 1")]
    LabelsRank {
        /// The labels source.
        path: String,
        /// Its rank.
        rank: usize,
    },
    /// The image and label counts differ.
    #[error("{images}: {n_images} images but {labels}: {n_labels} labels")]
    CountMismatch {
        /// The images source.
        images: String,
        /// The labels source.
        labels: String,
        /// Number of images.
        n_images: usize,
        /// Number of labels.
        n_labels: usize,
    },
    /// An array's data length differs from the product of its dimensions
    /// (only possible for an `IdxArray` built by hand).
    #[error("{path}: {found} data bytes but the dimensions give {expected}")]
    Length {
        /// The array's source.
        path: String,
        /// Product of the dimensions.
        expected: usize,
        /// Actual data length.
        found: usize,
    },
    /// A synthetic-data parameter is out of range.
    #[error("synthetic data: {field} = {value}: must be {expected}")]
    BadSpec {
        /// The `SyntheticSpec` field.
        field: &'static str,
        /// The rejected value.
        value: u64,
        /// The accepted range, in words.
        expected: &'static str,
    },
}

/// A labelled set of equally shaped 8-bit samples (pixels 0..=255) held in
/// memory, sample-major: sample `i` is `images[i*sample_len()..][..sample_len()]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// Short name for reports, e.g. `train`, `t10k`, `synthetic-train`.
    pub name: String,
    /// Shape of one sample, outermost first; `[28, 28]` for MNIST.
    pub sample_shape: Vec<usize>,
    /// All samples' pixels, row-major, `len() * sample_len()` bytes.
    pub images: Vec<u8>,
    /// One class label per sample, each `< num_classes`.
    pub labels: Vec<u8>,
    /// Number of classes: the largest label + 1 (10 for MNIST).
    pub num_classes: usize,
}

/// The two files of one split, as found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitFiles {
    /// `{prefix}-images-idx3-ubyte[.gz]`.
    pub images: PathBuf,
    /// `{prefix}-labels-idx1-ubyte[.gz]`.
    pub labels: PathBuf,
}

/// Pixel statistics of a dataset (for `data info` and sanity checks).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelStats {
    /// Smallest pixel value, 0..=255.
    pub min: u8,
    /// Largest pixel value, 0..=255.
    pub max: u8,
    /// Mean pixel value, in pixel units (0.0..=255.0).
    pub mean: f64,
}

impl Dataset {
    /// Builds a dataset from an images array (`count × sample shape`) and a
    /// rank-1 labels array of the same count. `num_classes` is the largest
    /// label + 1. Errors name the source of both arrays.
    pub fn from_idx(images: IdxArray, labels: IdxArray, name: &str) -> Result<Self, DataError> {
        if images.dims.len() < 2 {
            return Err(DataError::ImagesRank {
                path: images.source,
                rank: images.dims.len(),
            });
        }
        if labels.dims.len() != 1 {
            return Err(DataError::LabelsRank {
                path: labels.source,
                rank: labels.dims.len(),
            });
        }
        for a in [&images, &labels] {
            let expected = a.dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
            if expected != Some(a.data.len()) {
                return Err(DataError::Length {
                    path: a.source.clone(),
                    expected: expected.unwrap_or(usize::MAX),
                    found: a.data.len(),
                });
            }
        }
        if images.dims[0] != labels.dims[0] {
            return Err(DataError::CountMismatch {
                n_images: images.dims[0],
                n_labels: labels.dims[0],
                images: images.source,
                labels: labels.source,
            });
        }
        let num_classes = labels
            .data
            .iter()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1);
        Ok(Dataset {
            name: name.to_string(),
            sample_shape: images.dims[1..].to_vec(),
            images: images.data,
            labels: labels.data,
            num_classes,
        })
    }

    /// Reads an images file and a labels file (raw or gzip) into a dataset.
    pub fn load_files(images: &Path, labels: &Path, name: &str) -> Result<Self, DataError> {
        let i = read_idx(images)?;
        let l = read_idx(labels)?;
        Dataset::from_idx(i, l, name)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per sample: the product of `sample_shape` (784 for MNIST).
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The pixels of sample `i`. Panics if `i >= len()`.
    pub fn sample(&self, i: usize) -> &[u8] {
        let n = self.sample_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// The class label of sample `i`. Panics if `i >= len()`.
    pub fn label(&self, i: usize) -> usize {
        self.labels[i] as usize
    }

    /// Number of samples of each class, indexed by label (`num_classes` long).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.num_classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// Minimum, maximum and mean pixel over all samples (zeros if empty).
    pub fn pixel_stats(&self) -> PixelStats {
        let mut hist = [0u64; 256];
        for &p in &self.images {
            hist[p as usize] += 1;
        }
        let min = hist.iter().position(|&c| c > 0).unwrap_or(0) as u8;
        let max = hist.iter().rposition(|&c| c > 0).unwrap_or(0) as u8;
        let sum: u64 = hist.iter().enumerate().map(|(v, &c)| v as u64 * c).sum();
        let mean = if self.images.is_empty() {
            0.0
        } else {
            sum as f64 / self.images.len() as f64
        };
        PixelStats { min, max, mean }
    }

    /// Writes sample `i` into `out` as raw values of the activation format
    /// `scale` was built for: pixel `p` becomes `round_half_up(p·2^frac/255)`
    /// saturated to the format's maximum (see [`PixelScale`]). Allocation-free.
    /// Panics if `i >= len()` or `out.len() != sample_len()`.
    pub fn normalise_into(&self, i: usize, scale: &PixelScale, out: &mut [i32]) {
        scale.apply(self.sample(i), out);
    }

    /// Writes sample `i` into `out` as real values `p / 255.0` (the float
    /// reference's input). Panics if `i >= len()` or `out.len() != sample_len()`.
    pub fn normalise_f32_into(&self, i: usize, out: &mut [f32]) {
        let px = self.sample(i);
        assert_eq!(out.len(), px.len(), "output length must equal sample_len");
        for (o, &p) in out.iter_mut().zip(px) {
            *o = f32::from(p) / 255.0;
        }
    }
}

/// File names of split `prefix` (`train`, `t10k`) in `dir`: the `.gz` form
/// of each file if it exists, else the raw form. Errors name the expected path.
pub fn find_split(dir: &Path, prefix: &str) -> Result<SplitFiles, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NoDir {
            path: dir.to_path_buf(),
        });
    }
    let find = |stem: String| {
        let gz = dir.join(format!("{stem}.gz"));
        let raw = dir.join(&stem);
        if gz.is_file() {
            Ok(gz)
        } else if raw.is_file() {
            Ok(raw)
        } else {
            Err(DataError::Missing { path: gz })
        }
    };
    Ok(SplitFiles {
        images: find(format!("{prefix}-images-idx3-ubyte"))?,
        labels: find(format!("{prefix}-labels-idx1-ubyte"))?,
    })
}

/// Loads split `prefix` of `dir` (see [`find_split`]); the dataset is named
/// `prefix`.
pub fn load_split(dir: &Path, prefix: &str) -> Result<Dataset, DataError> {
    let files = find_split(dir, prefix)?;
    Dataset::load_files(&files.images, &files.labels, prefix)
}

/// Loads an MNIST-layout directory: `(train, test)` from prefixes `train`
/// and `t10k`.
pub fn load_mnist_dir(dir: &Path) -> Result<(Dataset, Dataset), DataError> {
    Ok((load_split(dir, "train")?, load_split(dir, "t10k")?))
}

/// The two file names of split `prefix`, raw or with `.gz`.
pub fn split_files(dir: &Path, prefix: &str, gzip: bool) -> SplitFiles {
    let ext = if gzip { ".gz" } else { "" };
    SplitFiles {
        images: dir.join(format!("{prefix}-images-idx3-ubyte{ext}")),
        labels: dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")),
    }
}

/// Writes `data` as split `prefix` of the existing directory `dir`: images
/// as an IDX array `len × sample_shape` (rank 2 for a flat sample shape),
/// labels as a rank-1 array, each file written atomically, gzip-compressed
/// with a `.gz` name when `gzip` (the stream is deterministic: no name or
/// time stamp). Returns the paths written. Note that an existing `.gz` file
/// shadows a raw one for [`find_split`]. Errors name the path.
pub fn write_split(
    dir: &Path,
    prefix: &str,
    data: &Dataset,
    gzip: bool,
) -> Result<SplitFiles, OutputError> {
    let files = split_files(dir, prefix, gzip);
    let mut image_dims = vec![data.len()];
    image_dims.extend_from_slice(&data.sample_shape);
    for (path, dims, bytes) in [
        (&files.images, image_dims, &data.images),
        (&files.labels, vec![data.len()], &data.labels),
    ] {
        write_atomic(path, |w| {
            if gzip {
                let mut enc = flate2::write::GzEncoder::new(w, flate2::Compression::default());
                write_idx(&mut enc, &dims, bytes)?;
                enc.finish().map(drop)
            } else {
                write_idx(w, &dims, bytes)
            }
        })?;
    }
    Ok(files)
}

/// The sample order of one epoch: a permutation of `0..n`.
///
/// Seed scheme: `ChaCha8Rng::seed_from_u64(seed)`, then `set_stream(epoch)`,
/// then `rand`'s Fisher–Yates `shuffle` of `0..n`. Same `(seed, epoch)` ⇒
/// same order on every platform; each epoch uses its own ChaCha stream.
/// Panics if `n > u32::MAX as usize` (datasets are capped far below that).
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<u32> {
    assert!(n <= u32::MAX as usize, "epoch_order: n = {n} exceeds u32");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch);
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut rng);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(dims: &[usize], data: Vec<u8>, source: &str) -> IdxArray {
        IdxArray {
            dims: dims.to_vec(),
            data,
            source: source.to_string(),
        }
    }

    fn tiny() -> Dataset {
        Dataset::from_idx(
            arr(
                &[3, 2, 2],
                vec![0, 255, 128, 1, 10, 20, 30, 40, 5, 5, 5, 5],
                "img",
            ),
            arr(&[3], vec![2, 0, 2], "lbl"),
            "tiny",
        )
        .unwrap()
    }

    #[test]
    fn accessors() {
        let d = tiny();
        assert_eq!((d.len(), d.is_empty(), d.sample_len()), (3, false, 4));
        assert_eq!(d.sample_shape, vec![2, 2]);
        assert_eq!(d.sample(1), &[10, 20, 30, 40]);
        assert_eq!(d.label(2), 2);
        assert_eq!(d.num_classes, 3);
        assert_eq!(d.class_counts(), vec![1, 0, 2]);
        let s = d.pixel_stats();
        assert_eq!((s.min, s.max), (0, 255));
        assert!((s.mean - 504.0 / 12.0).abs() < 1e-12);
    }

    #[test]
    fn from_idx_errors_name_both_files() {
        let e = Dataset::from_idx(
            arr(&[3, 2], vec![0; 6], "img"),
            arr(&[2], vec![0; 2], "lbl"),
            "x",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "img: 3 images but lbl: 2 labels");
        let e = Dataset::from_idx(
            arr(&[2, 1], vec![0; 2], "img"),
            arr(&[2, 1], vec![0; 2], "lbl"),
            "x",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "lbl: labels have rank 2: expected 1");
        let e = Dataset::from_idx(
            arr(&[2], vec![0; 2], "img"),
            arr(&[2], vec![0; 2], "lbl"),
            "x",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("img: images have rank 1"));
        let e = Dataset::from_idx(
            arr(&[2, 2], vec![0; 3], "img"),
            arr(&[2], vec![0; 2], "lbl"),
            "x",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "img: 3 data bytes but the dimensions give 4");
    }

    #[test]
    fn normalise_sample() {
        let d = tiny();
        let s = PixelScale::new(QFormat::new(8, 7).unwrap());
        let mut out = [0i32; 4];
        d.normalise_into(0, &s, &mut out);
        assert_eq!(out, [0, 127, 64, 1]);
        let mut f = [0f32; 4];
        d.normalise_f32_into(0, &mut f);
        assert_eq!(f, [0.0, 1.0, 128.0 / 255.0, 1.0 / 255.0]);
    }

    #[test]
    fn split_lookup_prefers_gz_and_names_missing() {
        let dir = tempfile::tempdir().unwrap();
        let e = find_split(dir.path(), "train").unwrap_err();
        assert!(matches!(e, DataError::Missing { .. }));
        assert!(
            e.to_string()
                .contains("train-images-idx3-ubyte.gz: not found")
        );
        let img = [0u8, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 9, 9];
        let lbl = [0u8, 0, 8, 1, 0, 0, 0, 1, 4];
        std::fs::write(dir.path().join("train-images-idx3-ubyte"), img).unwrap();
        std::fs::write(dir.path().join("train-labels-idx1-ubyte"), lbl).unwrap();
        let f = find_split(dir.path(), "train").unwrap();
        assert!(f.images.ends_with("train-images-idx3-ubyte"));
        let d = load_split(dir.path(), "train").unwrap();
        assert_eq!((d.len(), d.sample_len(), d.num_classes), (1, 2, 5));
        std::fs::write(dir.path().join("train-labels-idx1-ubyte.gz"), b"").unwrap();
        let f = find_split(dir.path(), "train").unwrap();
        assert!(f.labels.ends_with("train-labels-idx1-ubyte.gz"));
        let e = load_split(dir.path(), "train").unwrap_err();
        assert!(
            e.to_string()
                .contains("train-labels-idx1-ubyte.gz: name ends in .gz")
        );
        let e = find_split(&dir.path().join("nope"), "train").unwrap_err();
        assert!(e.to_string().ends_with("nope: dataset directory not found"));
    }

    #[test]
    fn write_split_round_trips_raw_and_gzip() {
        let spec = crate::data::SyntheticSpec {
            classes: 3,
            sample_len: 5,
            train: 30,
            test: 9,
            noise: 20,
            seed: 2,
        };
        let (train, _) = crate::data::generate(&spec).unwrap();
        let d = tiny();
        for gzip in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            for (data, prefix) in [(&train, "train"), (&d, "t10k")] {
                let files = write_split(dir.path(), prefix, data, gzip).unwrap();
                assert_eq!(files, find_split(dir.path(), prefix).unwrap());
                assert_eq!(files.images.extension().is_some_and(|e| e == "gz"), gzip);
                let back = load_split(dir.path(), prefix).unwrap();
                assert_eq!(back.name, prefix);
                assert_eq!(
                    (
                        &back.sample_shape,
                        &back.images,
                        &back.labels,
                        back.num_classes
                    ),
                    (
                        &data.sample_shape,
                        &data.images,
                        &data.labels,
                        data.num_classes
                    )
                );
                let raw = std::fs::read(&files.images).unwrap();
                assert_eq!(raw[..2] == [0x1f, 0x8b], gzip);
            }
            // Rank 2 for flat samples, rank 3 for 2×2 ones; nothing else left behind.
            let i = read_idx(&split_files(dir.path(), "train", gzip).images).unwrap();
            assert_eq!(i.dims, vec![30, 5]);
            let i = read_idx(&split_files(dir.path(), "t10k", gzip).images).unwrap();
            assert_eq!(i.dims, vec![3, 2, 2]);
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
        }
        let e = write_split(Path::new("no/such/dir"), "train", &d, false).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("no/such/dir/train-images-idx3-ubyte: cannot write"),
            "{e}"
        );
    }

    #[test]
    fn epoch_order_is_seeded_permutation() {
        let a = epoch_order(1000, 7, 0);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
        assert_eq!(a, epoch_order(1000, 7, 0));
        assert_ne!(a, epoch_order(1000, 7, 1));
        assert_ne!(a, epoch_order(1000, 8, 0));
        assert_ne!(a, (0..1000).collect::<Vec<u32>>());
        assert!(epoch_order(0, 1, 2).is_empty());
        assert_eq!(epoch_order(1, 1, 2), vec![0]);
    }
}
