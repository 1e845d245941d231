//! Bit-width (and any other setting) sweeps: a JSON spec expands into a grid
//! of points ([`spec`]), which run in parallel, deterministically, into an
//! append-only results file that resumes after a kill and splits into shards
//! ([`results`]); `report::pareto` marks the accuracy/cost front; [`summary`] averages seeds
//! and finds each rule's narrowest widths within a tolerance. `docs/sweeps.md`.

pub mod results;
pub mod spec;
pub mod summary;

pub use results::{
    Datasets, PointResult, ResultLine, RunSummary, Shard, SweepError, load_datasets, merge,
    read_result_lines, read_results, run, shard_points,
};
pub use spec::{Axis, BaseConfig, Layers, LoadedSpec, Point, SpecError, SweepSpec};
pub use summary::{Narrowest, SeedGroup, narrowest_within, seed_groups};
