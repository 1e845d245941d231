//! Datasets: the IDX reader (raw or gzip, fully validated) and writer, the
//! in-memory [`Dataset`] with pixel normalisation into an activation format,
//! the seeded synthetic dataset and seeded per-epoch shuffling. `docs/data.md` documents
//! the validation rules, the pixel mapping and the seed schemes.

mod dataset;
mod idx;
mod synthetic;

pub use dataset::{
    DataError, Dataset, PixelStats, SplitFiles, epoch_order, find_split, load_mnist_dir,
    load_split, split_files, write_split,
};
pub use idx::{IdxArray, IdxError, MAX_ARRAY_BYTES, MAX_RANK, read_idx, read_idx_from, write_idx};
pub use synthetic::{SyntheticSpec, generate};

/// The pixel → activation mapping [`Dataset::normalise_into`] applies; it is
/// arithmetic, so it lives in `quant` and is re-exported here.
pub use crate::quant::PixelScale;
