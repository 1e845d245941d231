//! The bundled MNIST files: checksums match `data/mnist/SHA256SUMS`, and the
//! loader reproduces MNIST's known shapes and class counts.

use locus::data::{PixelScale, load_mnist_dir};
use locus::quant::QFormat;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

fn mnist_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn data_checksums_match() {
    let dir = mnist_dir();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let mut checked = Vec::new();
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (want, name) = line
            .split_once(char::is_whitespace)
            .unwrap_or_else(|| panic!("malformed SHA256SUMS line: {line:?}"));
        // `sha256sum` marks binary mode with a leading '*'.
        let name = name.trim_start().trim_start_matches('*');
        assert_eq!(want.len(), 64, "bad digest for {name}");
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(hex(&Sha256::digest(&bytes)), want.to_lowercase(), "{name}");
        checked.push(name.to_string());
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
        ]
    );
}

#[test]
fn data_known_shapes_and_counts() {
    let (train, test) = load_mnist_dir(&mnist_dir()).unwrap();
    assert_eq!((train.name.as_str(), test.name.as_str()), ("train", "t10k"));
    assert_eq!(train.len(), 60000);
    assert_eq!(test.len(), 10000);
    assert_eq!(train.sample_shape, vec![28, 28]);
    assert_eq!(test.sample_shape, vec![28, 28]);
    assert_eq!(train.images.len(), 60000 * 784);
    assert_eq!(test.images.len(), 10000 * 784);
    assert!(train.labels.iter().chain(&test.labels).all(|&l| l <= 9));
    assert_eq!((train.num_classes, test.num_classes), (10, 10));
    let counts = train.class_counts();
    assert_eq!(counts.iter().sum::<usize>(), 60000);
    assert_eq!(counts[1], 6742);
    assert_eq!(counts[5], 5421);
    assert_eq!(
        counts,
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        test.class_counts(),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    // The first training label of MNIST is a 5.
    assert_eq!(train.label(0), 5);
    let stats = train.pixel_stats();
    assert_eq!((stats.min, stats.max), (0, 255));
    assert!((stats.mean / 255.0 - 0.1307).abs() < 1e-3);
}

#[test]
fn data_normalised_sample_is_in_range() {
    let (train, _) = load_mnist_dir(&mnist_dir()).unwrap();
    let q = QFormat::new(8, 7).unwrap();
    let scale = PixelScale::new(q);
    let mut raw = vec![0i32; train.sample_len()];
    let mut real = vec![0f32; train.sample_len()];
    train.normalise_into(0, &scale, &mut raw);
    train.normalise_f32_into(0, &mut real);
    assert!(raw.iter().all(|&r| (0..=q.max_raw()).contains(&r)));
    assert!(raw.iter().any(|&r| r == q.max_raw()));
    for (&r, &x) in raw.iter().zip(&real) {
        assert!((q.to_f32(r) - x).abs() <= 1.0 / 128.0, "{r} vs {x}");
    }
}
