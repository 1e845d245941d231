//! Training throughput of the counted fixed-point core: samples per second
//! for `local` and `bp` (spill policy) at 784-1024-1024-10, batch 1, with the
//! default 16-bit model (round-to-nearest updates) and a variant with
//! stochastic (LFSR) update rounding, counting on (it is always on); and the
//! MNIST CNN `1x28x28,conv5x5x16,maxpool2,conv5x5x32,maxpool2,10`. The float
//! reference (PyTorch, 1 thread, same network, local rule) runs at 1,364
//! samples/s on this machine class; figures go to docs/performance.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use locus::data::{Dataset, load_mnist_dir};
use locus::hw::core::{Chip, NetSpec};
use locus::hw::datapath::{Activation, FixedDatapath};
use locus::hw::model::{self, HwModel};
use locus::quant::Rounding;
use locus::rules::{BpPolicy, Rule};
use std::path::Path;
use std::time::Duration;

const SAMPLES: usize = 256;

fn models() -> Vec<(&'static str, HwModel)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let nearest = model::load(&root.join("hw_models/default.json")).expect("default model");
    let mut stochastic = nearest.clone();
    stochastic.formats.update.rounding = Rounding::Stochastic;
    stochastic.formats.weight.rounding = Rounding::Stochastic;
    vec![("nearest", nearest), ("stochastic", stochastic)]
}

/// Benchmarks `rule` on `net` under `model` as `<rule>/<name>`: `SAMPLES`
/// training samples of `train` per iteration, in order, wrapping.
fn bench_rule(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    train: &Dataset,
    (name, model): (&str, &HwModel),
    net: &NetSpec,
    rule: Rule,
) {
    let dp = FixedDatapath::<i16>::new(model, 7).expect("datapath");
    let mut chip = Chip::new(model, net, dp, 1).expect("chip");
    let mut next = 0usize;
    g.bench_function(format!("{}/{name}", rule.label()), |b| {
        b.iter(|| {
            for _ in 0..SAMPLES {
                let i = next % train.len();
                next += 1;
                let batch = [(train.sample(i), train.label(i))];
                rule.train_batch(&mut chip, &batch).expect("fits");
            }
        })
    });
}

fn train_bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (train, _): (Dataset, Dataset) = load_mnist_dir(&root.join("data/mnist")).expect("MNIST");
    let net = NetSpec::dense(vec![784, 1024, 1024, 10], Activation::Relu);
    let models = models();
    let mut g = c.benchmark_group("train_784_1024_1024_10_batch1");
    g.throughput(Throughput::Elements(SAMPLES as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    for (name, model) in &models {
        for rule in [Rule::Local, Rule::Bp(BpPolicy::Spill)] {
            bench_rule(&mut g, &train, (name, model), &net, rule);
        }
    }
    g.finish();
    // The MNIST CNN of docs/performance.md ("Conv layers"), nearest
    // rounding: the conv kernels' throughput beside the dense one's.
    let cnn = NetSpec::parse(
        "1x28x28,conv5x5x16,maxpool2,conv5x5x32,maxpool2,10",
        Activation::Relu,
    )
    .expect("cnn");
    let mut g = c.benchmark_group("train_mnist_cnn_batch1");
    g.throughput(Throughput::Elements(SAMPLES as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    let (name, model) = &models[0];
    for rule in [Rule::Local, Rule::Bp(BpPolicy::Spill)] {
        bench_rule(&mut g, &train, (name, model), &cnn, rule);
    }
    g.finish();
}

criterion_group!(benches, train_bench);
criterion_main!(benches);
