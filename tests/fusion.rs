//! Fused dataflows (`"fusion"` in the model, `docs/hw_model.md`, "Fused
//! dataflows"): the same values bit for bit, and counts that differ from
//! the unfused run by exactly the shared weight reads — the forward pass's
//! for update–forward fusion (local, drtp, local-learned, pepita), the
//! backward step's for backward–update fusion (bp, gaitprop) — and, on a
//! chip that streams its weights, by their DRAM fetches.

mod common;

use common::{batches_for, four_classes, nets_for};
use locus::data::Dataset;
use locus::hw::core::NetSpec;
use locus::hw::counters::{Class, CoreCounts, Phase, Rw, Unit};
use locus::hw::datapath::Activation;
use locus::hw::model::{Fusion, HwModel, WeightStorage};
use locus::rules::{BpPolicy, Rule};
use locus::sim::{RealParams, RunResult, TrainConfig, run};
use std::path::Path;

fn model(fusion: Fusion) -> HwModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/feedback-rom.json");
    let mut m = locus::hw::model::load(&path).expect("model loads");
    m.fusion = fusion;
    m
}

/// The networks of the count checks.
const DENSE: &str = "16,12,8,4";
const CONV: &str = "1x4x4,conv3x3x2p1,maxpool2,conv3x3x3p1,4";

const BOTH: Fusion = Fusion {
    update_forward: true,
    backward_update: true,
};

fn config(rule: Rule, text: &str, batch: usize) -> TrainConfig {
    let act = match rule {
        Rule::Gaitprop(_) | Rule::Predsim => Activation::LeakyRelu,
        _ => Activation::Relu,
    };
    TrainConfig {
        lr: 1.0 / 64.0,
        train_limit: Some(12),
        batch,
        ..TrainConfig::new(rule, NetSpec::parse(text, act).unwrap(), 1)
    }
}

fn train(m: &HwModel, c: &TrainConfig, d: &(Dataset, Dataset)) -> (RunResult, RealParams) {
    run(m, c, &d.0, &d.1, &mut |_, _| {}).unwrap_or_else(|e| panic!("{}: {e}", c.rule.label()))
}

/// Words of `n` 16-bit weights in the model's weight words.
fn words(m: &HwModel, n: usize) -> u64 {
    m.sram.weight.words_for(n as u64, m.formats.weight.bits)
}

/// The weight reads a backward step makes per sample on each layer (no
/// biases): `r_i·c_i` values for a dense layer, the `o·K` kernel values of a
/// conv layer; none for layer 0.
fn backward_reads(m: &HwModel, net: &NetSpec) -> Vec<u64> {
    let geoms = net.geometry().unwrap();
    (0..net.layers())
        .map(|i| match (i, geoms[i]) {
            (0, _) => 0,
            (_, Some(g)) => words(m, g.out_c * g.patch_len()),
            (_, None) => words(m, net.sizes[i] * net.sizes[i + 1]),
        })
        .collect()
}

/// Both fusions asked for, every rule, policy and batch: the values are the
/// unfused run's bit for bit; update–forward fusion removes every forward
/// pass's weight read (phase forward, class weight), backward–update
/// fusion every backward step's (`samples · words` per layer), and a rule
/// whose order allows neither counts exactly as unfused.
#[test]
fn fused_counts_are_the_unfused_minus_the_shared_reads() {
    let (plain, fused) = (model(Fusion::default()), model(BOTH));
    let d = four_classes(16, 1);
    let (w, cw, r) = (
        Unit::Weight.index(),
        Class::Weight.index(),
        Rw::Read.index(),
    );
    for rule in Rule::every() {
        let applied = rule.fusion(BOTH);
        for text in nets_for(rule, DENSE, CONV) {
            for &batch in batches_for(rule) {
                let c = config(rule, text, batch);
                let label = format!("{} {text} batch {batch}", rule.label());
                let (a, pa) = train(&plain, &c, &d);
                let (b, pb) = train(&fused, &c, &d);
                assert_eq!(pa, pb, "{label}: values differ");
                assert_eq!(a.epochs, b.epochs, "{label}");
                let back = backward_reads(&plain, &c.net);
                for (i, (ca, cb)) in a.counts.iter().zip(&b.counts).enumerate() {
                    let mut want: CoreCounts = ca.clone();
                    if applied.update_forward {
                        assert!(ca.words[w][cw][Phase::Forward.index()][r] > 0, "{label}");
                        want.words[w][cw][Phase::Forward.index()][r] = 0;
                    }
                    if applied.backward_update {
                        want.words[w][cw][Phase::Backward.index()][r] -= a.samples * back[i];
                    }
                    assert_eq!(cb, &want, "{label} core {i}");
                }
                let expect_change = applied.update_forward || applied.backward_update;
                assert_eq!(a.counts != b.counts, expect_change, "{label}");
            }
        }
    }
    assert_eq!(
        Rule::Local.fusion(BOTH),
        Fusion {
            update_forward: true,
            backward_update: false
        }
    );
    assert_eq!(Rule::Fa(BpPolicy::Spill).fusion(BOTH), Fusion::default());
}

/// On a chip that streams its weights the shared read also saves its DRAM
/// fetch: the fused run's DRAM weight bytes are the unfused run's minus
/// one fetch (`N·word_bytes`) per removed read; estimate counts it as
/// training does.
#[test]
fn fusion_saves_the_fetch_of_streamed_weights() {
    let d = four_classes(16, 2);
    let stream = |f: Fusion| {
        let mut m = model(f);
        m.offchip.weights = WeightStorage::Stream;
        m.sram.weight.word_bits = 64;
        m.sram.weight.capacity_bytes = 80;
        m
    };
    let (plain, fused) = (stream(Fusion::default()), stream(BOTH));
    let wb = 8;
    for rule in [
        Rule::Local,
        Rule::Pepita,
        Rule::Bp(BpPolicy::Spill),
        Rule::Gaitprop(0),
    ] {
        let c = config(rule, nets_for(rule, DENSE, CONV)[0], 3);
        let (a, _) = train(&plain, &c, &d);
        let (b, _) = train(&fused, &c, &d);
        let bank = |c: &CoreCounts, p: Phase, rw: Rw| -> u64 {
            c.words[Unit::Weight.index()][Class::Weight.index()][p.index()][rw.index()]
        };
        for (i, (ca, cb)) in a.counts.iter().zip(&b.counts).enumerate() {
            for p in [Phase::Forward, Phase::Backward] {
                // Each removed read of N words also removed its tile fill
                // (a bank write of N) and N·word_bytes of DRAM read.
                // (A core whose weights fit streams nothing.)
                let streams = cb.streamed_weight_words > 0;
                let gone = bank(ca, p, Rw::Read) - bank(cb, p, Rw::Read);
                let filled = bank(ca, p, Rw::Write) - bank(cb, p, Rw::Write);
                let label = format!("{} core {i} {p}", rule.label());
                assert_eq!(filled, if streams { gone } else { 0 }, "{label}");
                let pi = p.index();
                let dram = ca.dram_bytes[pi][0] - cb.dram_bytes[pi][0];
                assert_eq!(dram, if streams { gone * wb } else { 0 }, "{label}");
            }
        }
        assert!(
            b.counts
                .iter()
                .zip(&a.counts)
                .any(|(x, y)| x.dram_bytes != y.dram_bytes)
        );
        let est = locus::sim::estimate(&fused, &c, b.samples).unwrap();
        assert_eq!(est.counts, b.counts, "{}: estimate = train", rule.label());
    }
}
