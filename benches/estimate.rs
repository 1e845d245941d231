//! `sim::estimate` (the count-only path of `locus estimate`): every rule and
//! policy on the default MLP, the CNN rules on VGG-16 and on MobileNet-V1
//! (read from `nets/mobilenet_v1.onnx`), and the residual rules on ResNet-50
//! (read from `nets/resnet50.onnx`) at 224×224, batch 32, one ImageNet
//! epoch, on `hw_models/large.json`. The figures are
//! recorded in docs/performance.md.

use criterion::{Criterion, criterion_group, criterion_main};
use locus::hw::datapath::Activation;
use locus::hw::model::{HwModel, load};
use locus::net::spec::NetSpec;
use locus::rules::Rule;
use locus::sim::{TrainConfig, estimate};
use std::hint::black_box;
use std::path::Path;

const VGG16: &str = "3x224x224,conv3x3x64p1,conv3x3x64p1,maxpool2,conv3x3x128p1,conv3x3x128p1,maxpool2,conv3x3x256p1,conv3x3x256p1,conv3x3x256p1,maxpool2,conv3x3x512p1,conv3x3x512p1,conv3x3x512p1,maxpool2,conv3x3x512p1,conv3x3x512p1,conv3x3x512p1,maxpool2,4096,4096,1000";

fn model(file: &str) -> HwModel {
    load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("hw_models")
            .join(file),
    )
    .unwrap()
}

/// Estimates each of `rules` that the model holds; the MACs, so that
/// nothing is optimised away.
fn all(model: &HwModel, net: &NetSpec, rules: &[Rule], batch: usize, samples: u64) -> u64 {
    let mut macs = 0;
    for &rule in rules {
        if let Ok(r) = estimate(model, &TrainConfig::new(rule, net.clone(), batch), samples) {
            macs += r
                .counts
                .iter()
                .map(|c| c.macs.iter().sum::<u64>())
                .sum::<u64>();
        }
    }
    macs
}

fn estimates(c: &mut Criterion) {
    let mut g = c.benchmark_group("estimate");
    // Every rule, and bp, fa and dfa under every policy: 15 estimates.
    let every = Rule::every();
    let mlp = NetSpec::parse("784,1024,1024,10", Activation::LeakyRelu).unwrap();
    let default = model("feedback-rom-stochastic.json");
    g.bench_function(
        "mlp_784-1024-1024-10_every_rule_and_policy_batch16_60000",
        |b| b.iter(|| black_box(all(&default, &mlp, &every, 16, 60_000))),
    );
    // The 12 of them that train CNNs (local-learned refused: its learned
    // classifier does not fit).
    let cnn: Vec<Rule> = every.into_iter().filter(|r| r.trains_cnns()).collect();
    let vgg = NetSpec::parse(VGG16, Activation::Relu).unwrap();
    let large = model("large.json");
    g.bench_function("vgg16_224_cnn_rules_every_policy_batch32_imagenet", |b| {
        b.iter(|| black_box(all(&large, &vgg, &cnn, 32, 1_281_167)))
    });
    // MobileNet-V1 read from its ONNX file each iteration (the reader's
    // cost included): 13 depthwise layers, a 7x7 global average.
    let onnx = Path::new(env!("CARGO_MANIFEST_DIR")).join("nets/mobilenet_v1.onnx");
    g.bench_function(
        "mobilenet_v1_onnx_cnn_rules_every_policy_batch32_imagenet",
        |b| {
            b.iter(|| {
                let net = locus::net::load(&onnx, None, Activation::Relu)
                    .unwrap()
                    .spec;
                black_box(all(&large, &net, &cnn, 32, 1_281_167))
            })
        },
    );
    // ResNet-50 read from its ONNX file each iteration: 16 residual blocks
    // (4 with projections); every rule that trains residual networks.
    let resnet = Path::new(env!("CARGO_MANIFEST_DIR")).join("nets/resnet50.onnx");
    let residual: Vec<Rule> = Rule::every()
        .into_iter()
        .filter(|r| r.trains_residuals())
        .collect();
    g.bench_function(
        "resnet50_onnx_residual_rules_every_policy_batch32_imagenet",
        |b| {
            b.iter(|| {
                let net = locus::net::load(&resnet, None, Activation::Relu)
                    .unwrap()
                    .spec;
                black_box(all(&large, &net, &residual, 32, 1_281_167))
            })
        },
    );
    g.finish();
}

criterion_group!(benches, estimates);
criterion_main!(benches);
