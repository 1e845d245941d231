//! Weights streamed from DRAM (`"offchip": {"weights": "stream"}`,
//! `docs/hw_model.md`, "Weights streamed from DRAM"): a network that fits
//! counts exactly as without the option; one that does not is counted as
//! the same run with a bank that holds it, plus, per weight-bank access of
//! `N` words, a fetch (read) or a drain (write) of `N` words through DRAM
//! in tiles of the bank's capacity — checked in closed form for every rule
//! and policy, at batch 1 and 3, on a bank that splits layers unevenly.

mod common;

use common::{
    batches_for, count_activation, count_config, each_rule_on_both, four_classes, nets_for,
    shipped_model, train_run,
};
use locus::hw::core::{ChipError, NetSpec};
use locus::hw::counters::{Class, CoreCounts, Phase, Rw, Unit};
use locus::hw::datapath::Activation;
use locus::hw::model::{HwModel, WeightStorage};
use locus::rules::{BpPolicy, Rule};
use locus::sim::SimError;

fn streaming(mut m: HwModel) -> HwModel {
    m.offchip.weights = WeightStorage::Stream;
    m
}

/// `m` with 64-bit weight words (four 16-bit weights each) and a weight
/// bank of `words` words.
fn narrow_bank(mut m: HwModel, words: u64) -> HwModel {
    m.sram.weight.word_bits = 64;
    m.sram.weight.capacity_bytes = words * 8;
    m
}

/// On the default model every core holds its weights, so turning streaming
/// on changes no count, for every rule, dense and conv.
#[test]
fn a_network_that_fits_counts_the_same_with_streaming_on() {
    let base = shipped_model("feedback-rom.json");
    let stream = streaming(base.clone());
    each_rule_on_both(&base, &stream, 1, |label, a, b| {
        assert_eq!(a.counts, b.counts, "{label}");
        assert!(b.counts.iter().all(|c| c.streamed_weight_words == 0));
    });
}

/// Tiles, bursts and latency of one streamed access of `words` words
/// through a bank of `tile` words of `word_bytes` bytes.
fn tiles(words: u64, tile: u64, word_bytes: u64, burst: u64) -> (u64, u64) {
    let n = words.div_ceil(tile);
    let last = words - (n - 1) * tile;
    let bursts =
        (n - 1) * (tile * word_bytes).div_ceil(burst) + (last * word_bytes).div_ceil(burst);
    (n, bursts)
}

/// The streamed run's counts against the same run on a bank that holds the
/// weights: every weight-bank read of `N` words gains a bank write of `N`
/// (the fill) and `N·word_bytes` DRAM bytes read, every write a bank read
/// and as many DRAM bytes written, by class and phase; nothing else but
/// bursts and latency changes. Every rule and policy, batch 1 and 3.
#[test]
fn streamed_words_and_bytes_are_the_held_runs_plus_a_fill_or_drain_per_access() {
    let held = narrow_bank(shipped_model("feedback-rom.json"), 1 << 20);
    let stream = streaming(narrow_bank(shipped_model("feedback-rom.json"), 10));
    let d = four_classes(16, 2);
    let wb = 8u64;
    for rule in Rule::every() {
        for text in nets_for(rule, "16,12,12,4", "1x4x4,conv3x3x6p1,maxpool2,4") {
            let net = NetSpec::parse(text, count_activation(rule)).unwrap();
            for &batch in batches_for(rule) {
                let c = count_config(rule, net.clone(), batch);
                let label = format!("{} {text} batch {batch}", rule.label());
                let a = train_run(&held, &c, &d).unwrap();
                let b = train_run(&stream, &c, &d).unwrap();
                assert!(
                    b.counts.iter().any(|c| c.streamed_weight_words > 0),
                    "{label}: nothing streamed"
                );
                for (k, (ca, cb)) in a.counts.iter().zip(&b.counts).enumerate() {
                    let label = format!("{label} core {k}");
                    let streams = cb.streamed_weight_words > 0;
                    assert_eq!(streams, ca.weight_words > 10, "{label}");
                    let mut want = ca.clone();
                    if streams {
                        add_streaming(&mut want, ca, wb);
                        want.weight_words = 10;
                        want.streamed_weight_words = ca.weight_words;
                    }
                    let mut got = cb.clone();
                    // Checked in closed form below (dense) or not at all.
                    got.dram_bursts = want.dram_bursts;
                    got.latency_cycles = want.latency_cycles;
                    assert_eq!(got, want, "{label}");
                }
            }
        }
    }
}

fn add_streaming(want: &mut CoreCounts, held: &CoreCounts, word_bytes: u64) {
    let w = Unit::Weight.index();
    for &class in Class::ALL {
        for &p in Phase::ALL {
            let (c, pi) = (class.index(), p.index());
            let r = held.words[w][c][pi][Rw::Read.index()];
            let wr = held.words[w][c][pi][Rw::Write.index()];
            want.words[w][c][pi][Rw::Write.index()] += r;
            want.words[w][c][pi][Rw::Read.index()] += wr;
            want.dram_bytes[pi][0] += r * word_bytes;
            want.dram_bytes[pi][1] += wr * word_bytes;
            want.dram_class_bytes[c][0] += r * word_bytes;
            want.dram_class_bytes[c][1] += wr * word_bytes;
        }
    }
}

/// Bursts and latency in closed form for a dense 16-12-12-4 network whose
/// every layer streams through a 10-word bank of 64-bit words (layers of
/// 51, 39 and 13 words: 6, 4 and 2 tiles; backward reads without biases,
/// 36 and 12 words): per sample and layer, the local rule fetches `N_i`
/// for the forward pass and the update and drains `N_i`; backprop, FA and
/// DFA add backward's fetch of the weights without biases (backprop only,
/// `i > 0`), and recompute a forward fetch of layer `j` for each later
/// layer.
#[test]
fn streamed_bursts_and_latency_follow_the_tiles() {
    let held = narrow_bank(shipped_model("feedback-rom.json"), 1 << 20);
    let stream = streaming(narrow_bank(shipped_model("feedback-rom.json"), 10));
    let d = four_classes(16, 3);
    let sizes = [16usize, 12, 12, 4];
    let l = sizes.len() - 1;
    let words = |n: usize| (n as u64 * 16).div_ceil(64);
    let (burst, lat) = (
        stream.dram.burst_bytes as u64,
        stream.dram.latency_cycles as u64,
    );
    let t = |n: u64| tiles(n, 10, 8, burst);
    let cases = [
        Rule::Local,
        Rule::Bp(BpPolicy::Spill),
        Rule::Bp(BpPolicy::Recompute),
        Rule::Fa(BpPolicy::Stash),
        Rule::Dfa(BpPolicy::Spill),
    ];
    for rule in cases {
        for batch in [1, 3] {
            let net = NetSpec::dense(sizes.to_vec(), Activation::Relu);
            let c = count_config(rule, net, batch);
            let a = train_run(&held, &c, &d).unwrap();
            let b = train_run(&stream, &c, &d).unwrap();
            let s = a.samples;
            for i in 0..l {
                let (rows, cols) = (sizes[i + 1], sizes[i]);
                let n = words(rows * cols + rows);
                // Per sample: (phase, rw, words) of each streamed access.
                let mut acc = vec![
                    (Phase::Forward, 0, n),
                    (Phase::Update, 0, n),
                    (Phase::Update, 1, n),
                ];
                if let Rule::Bp(p) = rule {
                    if i > 0 {
                        acc.push((Phase::Backward, 0, words(rows * cols)));
                    }
                    if p == BpPolicy::Recompute {
                        for _ in i + 1..l {
                            acc.push((Phase::Backward, 0, n));
                        }
                    }
                }
                let (mut bursts, mut latency) =
                    (a.counts[i].dram_bursts, a.counts[i].latency_cycles);
                for (p, rw, words) in acc {
                    let (nt, nb) = t(words);
                    bursts[p.index()][rw] += s * nb;
                    latency[p.index()] += s * nt * lat;
                }
                let label = format!("{} batch {batch} layer {i}", rule.label());
                assert_eq!(b.counts[i].dram_bursts, bursts, "{label}");
                assert_eq!(b.counts[i].latency_cycles, latency, "{label}");
            }
        }
    }
    // 51 words: five tiles of 80 bytes (2 bursts each) and one of 8.
    assert_eq!(t(51), (6, 11));
}

/// Streamed weights are priced: the report's DRAM bytes by class hold the
/// weights, and estimate counts what training counts.
#[test]
fn estimate_counts_streamed_weights_as_training_does() {
    let stream = streaming(narrow_bank(shipped_model("default.json"), 10));
    let d = four_classes(16, 4);
    for rule in [Rule::Local, Rule::Bp(BpPolicy::Spill), Rule::Pepita] {
        let net = NetSpec::dense(vec![16, 12, 12, 4], Activation::Relu);
        let c = count_config(rule, net, 3);
        let b = train_run(&stream, &c, &d).unwrap();
        let est = locus::sim::estimate(&stream, &c, b.samples).unwrap();
        assert_eq!(est.counts, b.counts, "{}", rule.label());
    }
}

/// Without the option, a network that does not fit is refused, and the
/// message names the option.
#[test]
fn without_streaming_a_bank_too_small_is_refused_naming_the_option() {
    let d = four_classes(16, 5);
    let c = count_config(
        Rule::Local,
        NetSpec::dense(vec![16, 12, 4], Activation::Relu),
        1,
    );
    let e = train_run(&narrow_bank(shipped_model("default.json"), 10), &c, &d).unwrap_err();
    assert!(
        matches!(e, SimError::Chip(ChipError::WeightsDoNotFit { .. })),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("\"offchip\": {\"weights\": \"stream\"}"),
        "{e}"
    );
}
