//! The published learning chips' settings (`docs/results.md`, "Published
//! learning chips beside locus"): each shipped model file is rerun on its
//! network, its DRAM traffic per sample is checked against a closed form,
//! and the figures the results table prints are the ones measured here.

use locus::hw::core::NetSpec;
use locus::hw::counters::{CoreCounts, Rw};
use locus::hw::datapath::Activation;
use locus::hw::model::HwModel;
use locus::rules::{BpPolicy, Rule};
use locus::sim::{RunResult, TrainConfig};
use std::path::Path;

const SAMPLES: u64 = 10;

fn model(name: &str) -> HwModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("hw_models")
        .join(name);
    locus::hw::model::load(&path).expect("model loads")
}

fn estimate(model: &HwModel, rule: Rule, layers: &str) -> RunResult {
    let net = NetSpec::parse(layers, Activation::Relu).unwrap();
    let c = TrainConfig::new(rule, net, 1);
    locus::sim::estimate(model, &c, SAMPLES)
        .unwrap_or_else(|e| panic!("{} on {}: {e}", rule.label(), model.name))
}

/// DRAM bytes (read + written) per training sample.
fn dram_per_sample(r: &RunResult) -> u64 {
    let total: u64 = r
        .counts
        .iter()
        .map(|c| c.dram_total(Rw::Read).unwrap() + c.dram_total(Rw::Write).unwrap())
        .sum();
    assert_eq!(total % SAMPLES, 0);
    total / SAMPLES
}

fn spill_peak(r: &RunResult) -> u64 {
    r.counts
        .iter()
        .map(|c: &CoreCounts| c.spill_peak_bytes)
        .sum()
}

/// `n` with a space every three digits, as the results table writes it.
fn spaced(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}

fn results() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results.md")).unwrap()
}

/// The table row's `baseline → proposed` figures and saving, as measured.
fn assert_row(baseline: u64, proposed: u64, saving: &str) {
    let cell = format!("{} → {}", spaced(baseline), spaced(proposed));
    let docs = results();
    let row = docs
        .lines()
        .find(|l| l.contains(&cell))
        .unwrap_or_else(|| panic!("docs/results.md has no row with {cell}"));
    let measured = 100.0 * (proposed as f64 - baseline as f64) / baseline as f64;
    assert!(row.contains(saving), "{row}: expected {saving}");
    let shown: f64 = saving
        .trim_start_matches('−')
        .trim_end_matches(" %")
        .parse()
        .unwrap();
    let decimals = saving.split('.').nth(1).map_or(0, |d| d.len() - 2) as i32;
    let step = 10f64.powi(-decimals);
    assert!(
        (measured.abs() - shown).abs() <= step / 2.0 + 1e-12,
        "{cell}: measured {measured} % vs {saving}"
    );
}

const DF_LNPU_NET: &str = "4608,512,512,2";

/// DF-LNPU: the stored binarized feedback adds exactly its sign bits per
/// sample (two hidden layers, 2×512 bits in 64-bit ROM words: 2 × 16
/// words × 8 bytes = 256 B), and the generated run moves the input plus
/// three passes over the streamed weights (forward fetch, update fetch and
/// drain) of `words(r·c + r, 16, 512)` 64-byte words per layer.
#[test]
fn df_lnpu_feedback_from_dram_costs_its_sign_bits_and_nothing_else() {
    let generated = model("df-lnpu.json");
    let stored = model("df-lnpu-stored-feedback.json");
    let dfa = Rule::Dfa(BpPolicy::Spill);
    let a = dram_per_sample(&estimate(&generated, dfa, DF_LNPU_NET));
    let b = dram_per_sample(&estimate(&stored, dfa, DF_LNPU_NET));
    let sign_words = |units: u64| (2 * units).div_ceil(64);
    assert_eq!(b - a, 2 * sign_words(512) * 8);
    let words = |r: u64, c: u64| (r * c + r).div_ceil(32);
    let weight_bytes = (words(512, 4608) + words(512, 512) + words(2, 512)) * 64;
    assert_eq!(a, 3 * weight_bytes + 4608 * 2);
    // The local rule's two classifier reads per layer: twice as much.
    let la = dram_per_sample(&estimate(&generated, Rule::Local, DF_LNPU_NET));
    let lb = dram_per_sample(&estimate(&stored, Rule::Local, DF_LNPU_NET));
    assert_eq!(lb - la, 2 * 2 * sign_words(512) * 8);
    assert_row(b, a, "−0.0016 %");
    // Backprop adds the backward fetch of layers 1 and 2 (no biases).
    let bp = dram_per_sample(&estimate(
        &generated,
        Rule::Bp(BpPolicy::Spill),
        DF_LNPU_NET,
    ));
    let back = ((512 * 512u64).div_ceil(32) + (2 * 512u64).div_ceil(32)) * 64;
    assert_eq!(bp, a + back);
    assert_row(bp, a, "−3.2 %");
}

/// SP-PIM and DBLL, weights held on chip: the local rule and recomputing
/// backprop move only the input (3×32×32 activations of 2 bytes);
/// spilling backprop adds each spilled byte twice (written in forward,
/// read back in backward).
#[test]
fn with_weights_on_chip_local_moves_only_the_input() {
    let cnn = "3x32x32,conv3x3x32p1,maxpool2,conv3x3x64p1,maxpool2,conv3x3x128p1,maxpool2,256,10";
    let vgg = "3x32x32,conv3x3x64p1,conv3x3x64p1,maxpool2,conv3x3x128p1,conv3x3x128p1,maxpool2,conv3x3x256p1,conv3x3x256p1,conv3x3x256p1,maxpool2,conv3x3x512p1,conv3x3x512p1,conv3x3x512p1,maxpool2,conv3x3x512p1,conv3x3x512p1,conv3x3x512p1,maxpool2,512,512,10";
    let input = 3 * 32 * 32 * 2;
    for (file, net, saving) in [
        ("sp-pim.json", cnn, "−85.0 %"),
        ("dbll.json", vgg, "−98.5 %"),
    ] {
        let m = model(file);
        let local = dram_per_sample(&estimate(&m, Rule::Local, net));
        let recompute = dram_per_sample(&estimate(&m, Rule::Bp(BpPolicy::Recompute), net));
        let spill_run = estimate(&m, Rule::Bp(BpPolicy::Spill), net);
        let spill = dram_per_sample(&spill_run);
        assert_eq!((local, recompute), (input, input), "{file}");
        assert!(spill_peak(&spill_run) > 0, "{file}: nothing spilled");
        assert_eq!(spill, input + 2 * spill_peak(&spill_run), "{file}");
        assert_row(spill, local, saving);
    }
    // The same VGG-16 with its weights streamed per sample.
    let m = model("four-core-2mib.json");
    let local = dram_per_sample(&estimate(&m, Rule::Local, vgg));
    let spill = dram_per_sample(&estimate(&m, Rule::Bp(BpPolicy::Spill), vgg));
    assert_row(spill, local, "−25.0 %");
}
