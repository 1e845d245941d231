//! The fuzz targets' checks (`fuzz/checks/mod.rs`) on every `cargo test`,
//! without libFuzzer: every checked-in seed (`fuzz/seeds/<target>/`) and
//! every regression input (`fuzz/regressions/<target>/`: each crash the
//! fuzzer ever found, kept after its fix), then a short seeded smoke run of
//! random mutations of the seeds (bytes flipped, inserted, deleted, cut).
//! Fuzzing proper is `scripts/fuzz.sh` (`docs/reliability.md`).

#[path = "../fuzz/checks/mod.rs"]
mod checks;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// Mutated inputs tried per target in the smoke run.
const MUTATIONS: usize = 400;

fn inputs(target: &str, kind: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// One random edit of `input`.
fn mutate(rng: &mut ChaCha8Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.random_range(1..4) {
        let at = if v.is_empty() {
            0
        } else {
            rng.random_range(0..v.len())
        };
        match rng.random_range(0..5) {
            0 if !v.is_empty() => v[at] ^= 1 << rng.random_range(0..8),
            1 if !v.is_empty() => v[at] = rng.random(),
            2 => v.insert(at, rng.random()),
            3 if !v.is_empty() => {
                v.remove(at);
            }
            _ => v.truncate(at),
        }
    }
    v
}

fn replay(target: &str, check: fn(&[u8])) {
    let seeds = inputs(target, "seeds");
    assert!(!seeds.is_empty(), "{target}: no seeds");
    for input in seeds.iter().chain(&inputs(target, "regressions")) {
        check(input);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for k in 0..MUTATIONS {
        let input = mutate(&mut rng, &seeds[k % seeds.len()]);
        check(&input);
    }
}

#[test]
fn idx_seeds_regressions_and_mutations() {
    replay("idx", checks::idx::check);
}

#[test]
fn model_seeds_regressions_and_mutations() {
    replay("model", checks::model::check);
}

#[test]
fn sweep_spec_seeds_regressions_and_mutations() {
    replay("sweep_spec", checks::sweep_spec::check);
}

#[test]
fn requant_seeds_regressions_and_mutations() {
    replay("requant", checks::requant::check);
}

#[test]
fn netspec_seeds_regressions_and_mutations() {
    replay("netspec", checks::netspec::check);
}

#[test]
fn onnx_seeds_regressions_and_mutations() {
    replay("onnx", checks::onnx::check);
}

#[test]
fn topology_seeds_regressions_and_mutations() {
    replay("topology", checks::topology::check);
}

#[test]
fn ert_seeds_regressions_and_mutations() {
    replay("ert", checks::ert::check);
}
