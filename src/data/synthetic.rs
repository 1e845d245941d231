//! A seeded synthetic dataset: one random binary-ish prototype per class plus
//! bounded uniform noise. Linearly separable for moderate noise, so it is a
//! fast, download-free smoke test for the learning rules.

use super::dataset::{DataError, Dataset};
use super::idx::MAX_ARRAY_BYTES;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// ChaCha stream ids used by [`generate`] ("SYNT" in the high bits), kept
/// apart from the small stream ids (epoch numbers) that shuffling uses.
const STREAM_BASE: u64 = 0x5359_4e54_0000_0000;
/// Stream of the class prototypes.
const STREAM_PROTOTYPES: u64 = STREAM_BASE;
/// Stream of the training samples' noise.
const STREAM_TRAIN: u64 = STREAM_BASE + 1;
/// Stream of the test samples' noise.
const STREAM_TEST: u64 = STREAM_BASE + 2;

/// Pixel range of a prototype's "low" pixels.
const LOW: std::ops::RangeInclusive<u8> = 0..=40;
/// Pixel range of a prototype's "high" pixels.
const HIGH: std::ops::RangeInclusive<u8> = 180..=255;
/// Redraws allowed to make a prototype's low/high pattern differ from the
/// earlier classes' (only exhausted when `2^sample_len` is close to `classes`).
const PATTERN_TRIES: usize = 64;

/// Parameters of a synthetic dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticSpec {
    /// Number of classes, `2..=256`.
    pub classes: usize,
    /// Pixels per sample, at least 1 (the sample shape is `[sample_len]`).
    pub sample_len: usize,
    /// Training samples, at least 1.
    pub train: usize,
    /// Test samples, at least 1.
    pub test: usize,
    /// Noise amplitude in pixel units: each pixel gets a uniform offset in
    /// `-noise..=noise`, then is clipped to `0..=255`.
    pub noise: u8,
    /// Seed of every random choice; same spec ⇒ identical bytes.
    pub seed: u64,
}

impl SyntheticSpec {
    /// Checks the ranges documented on each field.
    pub fn validate(&self) -> Result<(), DataError> {
        let bad = |field, value: usize, expected| {
            Err(DataError::BadSpec {
                field,
                value: value as u64,
                expected,
            })
        };
        if !(2..=256).contains(&self.classes) {
            return bad("classes", self.classes, "2..=256");
        }
        if self.sample_len == 0 {
            return bad("sample_len", 0, "at least 1");
        }
        if self.train == 0 {
            return bad("train", 0, "at least 1");
        }
        if self.test == 0 {
            return bad("test", 0, "at least 1");
        }
        for (field, n) in [("train", self.train), ("test", self.test)] {
            let bytes = (n as u64).checked_mul(self.sample_len as u64);
            if bytes.is_none_or(|b| b > MAX_ARRAY_BYTES) {
                return bad(field, n, "such that samples × sample_len ≤ 1 GiB");
            }
        }
        Ok(())
    }
}

/// Generates `(train, test)` from `spec`, deterministically.
///
/// Class `c` has a prototype whose pixels are each, with probability 1/2,
/// "low" (uniform in 0..=40) or "high" (uniform in 180..=255), with the
/// low/high pattern redrawn if it repeats an earlier class's. Sample `i` of
/// either split has label `i % classes` and pixels prototype + uniform noise
/// in `-noise..=noise`, clipped to 0..=255. Randomness: one
/// `ChaCha8Rng::seed_from_u64(seed)` per part on its own stream (prototypes,
/// train, test), so changing `train` does not change the test split.
pub fn generate(spec: &SyntheticSpec) -> Result<(Dataset, Dataset), DataError> {
    spec.validate()?;
    let protos = prototypes(spec);
    let train = split(spec, &protos, spec.train, STREAM_TRAIN, "synthetic-train");
    let test = split(spec, &protos, spec.test, STREAM_TEST, "synthetic-test");
    Ok((train, test))
}

/// The class prototypes, `classes × sample_len` pixels.
fn prototypes(spec: &SyntheticSpec) -> Vec<Vec<u8>> {
    let mut rng = rng(spec.seed, STREAM_PROTOTYPES);
    let mut patterns: Vec<Vec<bool>> = Vec::with_capacity(spec.classes);
    let mut protos = Vec::with_capacity(spec.classes);
    for _ in 0..spec.classes {
        let mut pattern: Vec<bool> = Vec::new();
        for _ in 0..PATTERN_TRIES {
            pattern = (0..spec.sample_len).map(|_| rng.random_bool(0.5)).collect();
            if !patterns.contains(&pattern) {
                break;
            }
        }
        let proto = pattern
            .iter()
            .map(|&high| rng.random_range(if high { HIGH } else { LOW }))
            .collect();
        patterns.push(pattern);
        protos.push(proto);
    }
    protos
}

/// `n` noisy samples of the prototypes, labels cycling through the classes.
fn split(spec: &SyntheticSpec, protos: &[Vec<u8>], n: usize, stream: u64, name: &str) -> Dataset {
    let mut rng = rng(spec.seed, stream);
    let noise = i16::from(spec.noise);
    let mut images = Vec::with_capacity(n * spec.sample_len);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % spec.classes;
        labels.push(class as u8);
        for &p in &protos[class] {
            let offset = if noise == 0 {
                0
            } else {
                rng.random_range(-noise..=noise)
            };
            images.push((i16::from(p) + offset).clamp(0, 255) as u8);
        }
    }
    Dataset {
        name: name.to_string(),
        sample_shape: vec![spec.sample_len],
        images,
        labels,
        num_classes: spec.classes,
    }
}

/// The generator of one part of the dataset.
fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> SyntheticSpec {
        SyntheticSpec {
            classes: 10,
            sample_len: 64,
            train: 500,
            test: 200,
            noise: 60,
            seed,
        }
    }

    #[test]
    fn deterministic_from_seed() {
        let (a_tr, a_te) = generate(&spec(1)).unwrap();
        let (b_tr, b_te) = generate(&spec(1)).unwrap();
        assert_eq!((&a_tr, &a_te), (&b_tr, &b_te));
        let (c_tr, c_te) = generate(&spec(2)).unwrap();
        assert_ne!(a_tr.images, c_tr.images);
        assert_ne!(a_te.images, c_te.images);
        // The test split does not depend on the train size.
        let (_, d_te) = generate(&SyntheticSpec {
            train: 7,
            ..spec(1)
        })
        .unwrap();
        assert_eq!(a_te, d_te);
    }

    #[test]
    fn shapes_and_labels() {
        let (tr, te) = generate(&spec(3)).unwrap();
        assert_eq!((tr.len(), te.len(), tr.sample_len()), (500, 200, 64));
        assert_eq!(tr.sample_shape, vec![64]);
        assert_eq!(tr.num_classes, 10);
        assert_eq!(tr.class_counts(), vec![50; 10]);
        assert_eq!(te.class_counts(), vec![20; 10]);
        assert_eq!(tr.images.len(), 500 * 64);
    }

    #[test]
    fn nearest_centroid_separates_classes() {
        let (tr, te) = generate(&spec(4)).unwrap();
        let n = tr.sample_len();
        let mut sums = vec![vec![0f64; n]; tr.num_classes];
        let counts = tr.class_counts();
        for i in 0..tr.len() {
            for (s, &p) in sums[tr.label(i)].iter_mut().zip(tr.sample(i)) {
                *s += f64::from(p);
            }
        }
        for (s, &c) in sums.iter_mut().zip(&counts) {
            s.iter_mut().for_each(|v| *v /= c as f64);
        }
        let correct = (0..te.len())
            .filter(|&i| {
                let dist = |c: &Vec<f64>| -> f64 {
                    c.iter()
                        .zip(te.sample(i))
                        .map(|(m, &p)| (m - f64::from(p)).powi(2))
                        .sum()
                };
                let best = (0..sums.len())
                    .min_by(|&a, &b| dist(&sums[a]).total_cmp(&dist(&sums[b])))
                    .unwrap();
                best == te.label(i)
            })
            .count();
        assert!(correct * 100 > 95 * te.len(), "{correct}/{}", te.len());
    }

    #[test]
    fn zero_noise_and_tiny_samples() {
        let s = SyntheticSpec {
            classes: 2,
            sample_len: 1,
            train: 4,
            test: 2,
            noise: 0,
            seed: 9,
        };
        let (tr, _) = generate(&s).unwrap();
        assert_eq!(tr.sample(0), tr.sample(2));
        assert_ne!(tr.sample(0), tr.sample(1)); // distinct low/high patterns
        let s = SyntheticSpec {
            classes: 256,
            noise: 255,
            ..s
        };
        let (tr, _) = generate(&s).unwrap();
        assert_eq!(tr.num_classes, 256);
    }

    #[test]
    fn invalid_specs() {
        let e = generate(&SyntheticSpec {
            classes: 1,
            ..spec(0)
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "synthetic data: classes = 1: must be 2..=256"
        );
        assert!(
            generate(&SyntheticSpec {
                classes: 257,
                ..spec(0)
            })
            .is_err()
        );
        assert!(
            generate(&SyntheticSpec {
                sample_len: 0,
                ..spec(0)
            })
            .is_err()
        );
        assert!(
            generate(&SyntheticSpec {
                train: 0,
                ..spec(0)
            })
            .is_err()
        );
        assert!(generate(&SyntheticSpec { test: 0, ..spec(0) }).is_err());
        let huge = SyntheticSpec {
            sample_len: usize::MAX,
            ..spec(0)
        };
        assert!(matches!(
            generate(&huge).unwrap_err(),
            DataError::BadSpec { field: "train", .. }
        ));
    }
}
