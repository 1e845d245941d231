//! Fixed random matrices held in DRAM (`"offchip": {"rom": "dram"}`,
//! `docs/hw_model.md`, "Fixed random matrices in DRAM"): the run is the
//! same run with the matrices in ROM, except that every ROM read of `N`
//! words becomes a DRAM read of `N × rom.word_bits / 8` bytes (class
//! classifier, same phase) with its bursts and one DRAM latency — checked
//! for every rule, dense and conv, in closed form for the local rule's
//! bursts and latency, and against `estimate`.

mod common;

use common::{count_config, each_rule_on_both, four_classes, shipped_model, train_run};
use locus::hw::core::NetSpec;
use locus::hw::counters::{Class, CoreCounts, Phase, Rw, Unit};
use locus::hw::datapath::Activation;
use locus::hw::model::{HwModel, RomPlacement, RomStorage};
use locus::rules::{BpPolicy, Rule};

fn in_dram(mut m: HwModel) -> HwModel {
    m.offchip.rom = RomPlacement::Dram;
    m
}

/// `held`'s counts with its ROM reads moved to DRAM reads of `word_bytes`
/// bytes per ROM word. Bursts and latency are left to the caller.
fn moved(held: &CoreCounts, word_bytes: u64) -> CoreCounts {
    let mut want = held.clone();
    let (u, cl, r) = (
        Unit::Rom.index(),
        Class::Classifier.index(),
        Rw::Read.index(),
    );
    for &p in Phase::ALL {
        let pi = p.index();
        let words: u64 = Class::ALL
            .iter()
            .map(|c| held.words[u][c.index()][pi][r])
            .sum();
        for c in Class::ALL {
            want.words[u][c.index()][pi] = [0, 0];
        }
        want.dram_bytes[pi][r] += words * word_bytes;
        want.dram_class_bytes[cl][r] += words * word_bytes;
    }
    want
}

/// Every rule, dense and conv, batch 1 and larger: values identical, the
/// ROM never read, its words read from DRAM instead; nothing else changes
/// but bursts and latency, which only grow.
#[test]
fn rom_reads_become_dram_reads_of_the_same_bytes_for_every_rule() {
    let base = shipped_model("feedback-rom.json");
    let dram = in_dram(base.clone());
    let word_bytes = u64::from(base.rom.word_bits / 8);
    let mut moved_any = 0;
    each_rule_on_both(&base, &dram, 2, |label, a, b| {
        assert_eq!(a.epochs, b.epochs, "{label}: values changed");
        for (ca, cb) in a.counts.iter().zip(&b.counts) {
            let mut want = moved(ca, word_bytes);
            let rom_words: u64 = ca.words[Unit::Rom.index()].iter().flatten().flatten().sum();
            moved_any += rom_words;
            assert!(
                cb.dram_bursts
                    .iter()
                    .zip(&ca.dram_bursts)
                    .all(|(x, y)| x >= y)
            );
            assert!(
                cb.latency_cycles
                    .iter()
                    .zip(&ca.latency_cycles)
                    .all(|(x, y)| x >= y)
            );
            want.dram_bursts = cb.dram_bursts;
            want.latency_cycles = cb.latency_cycles;
            assert_eq!(&want, cb, "{label}");
            if rom_words == 0 {
                assert_eq!(ca, cb, "{label}: no ROM read, nothing may change");
            }
        }
    });
    assert!(moved_any > 0, "no rule read the ROM");
}

/// The local rule on a dense 16-12-8-4 network: per training sample, each
/// hidden layer reads its classifier twice in the local-error step
/// (`M h`, then `Mᵀ(...)`), `words(4 × n_i)` ROM words each time. In DRAM
/// each read is one transfer: `bursts(bytes)` bursts and one DRAM latency.
#[test]
fn local_rule_bursts_and_latency_in_closed_form() {
    let base = shipped_model("default.json");
    let dram = in_dram(base.clone());
    let d = four_classes(16, 3);
    let net = NetSpec::dense(vec![16, 12, 8, 4], Activation::Relu);
    let c = count_config(Rule::Local, net, 1);
    let a = train_run(&base, &c, &d).unwrap();
    let b = train_run(&dram, &c, &d).unwrap();
    let samples = b.samples;
    assert!(samples > 0);
    let p = Phase::LocalError.index();
    let r = Rw::Read.index();
    let word_bytes = u64::from(base.rom.word_bits / 8);
    for (layer, units) in [(0usize, 12u64), (1, 8)] {
        let words = base.rom.words_for(4 * units);
        let bytes = words * word_bytes;
        let (ca, cb) = (&a.counts[layer], &b.counts[layer]);
        assert_eq!(
            cb.dram_bytes[p][r],
            ca.dram_bytes[p][r] + 2 * samples * bytes,
            "layer {layer}"
        );
        assert_eq!(
            cb.dram_bursts[p][r],
            ca.dram_bursts[p][r] + 2 * samples * base.dram.bursts_for(bytes),
            "layer {layer}"
        );
        assert_eq!(
            cb.latency_cycles[p],
            ca.latency_cycles[p] + 2 * samples * u64::from(base.dram.latency_cycles),
            "layer {layer}"
        );
    }
    // The output layer has no classifier.
    assert_eq!(a.counts[2], b.counts[2]);
}

/// A ROM too small for the matrices is no limit when they live in DRAM.
#[test]
fn a_rom_too_small_is_no_limit_in_dram() {
    let mut small = shipped_model("feedback-rom.json");
    small.rom.capacity_bytes = 1;
    let d = four_classes(16, 4);
    let net = NetSpec::dense(vec![16, 12, 8, 4], Activation::Relu);
    for rule in [
        Rule::Local,
        Rule::Dfa(BpPolicy::Spill),
        Rule::Fa(BpPolicy::Spill),
    ] {
        let c = count_config(rule, net.clone(), 1);
        let e = train_run(&small, &c, &d).unwrap_err();
        assert!(e.to_string().contains("ROM words"), "{e}");
        let dram = in_dram(small.clone());
        let b = train_run(&dram, &c, &d).unwrap();
        let est = locus::sim::estimate(&dram, &c, b.samples).unwrap();
        assert_eq!(est.counts, b.counts, "{}: estimate = train", rule.label());
    }
}

/// Generated entries (`lfsr`) have nothing to hold in DRAM: refused,
/// naming both fields.
#[test]
fn lfsr_storage_in_dram_is_refused() {
    let mut m = in_dram(shipped_model("default.json"));
    m.rom.storage = RomStorage::Lfsr;
    let text = serde_json::to_string(&m).unwrap();
    let e = locus::hw::model::from_json_str(&text, "m.json")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("offchip.rom") && e.contains("rom.storage.kind") && e.contains("lfsr"),
        "{e}"
    );
}

fn locus(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_locus"))
        .args(args)
        .output()
        .unwrap()
}

/// As a user runs it: `estimate` notes the bytes and shows the table row;
/// a model asking for generated entries in DRAM exits 2 with one line.
#[test]
fn estimate_reports_the_matrices_read_from_dram() {
    let tmp = tempfile::tempdir().unwrap();
    let mut m = in_dram(shipped_model("default.json"));
    let good = tmp.path().join("dram.json");
    std::fs::write(&good, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let out_json = tmp.path().join("est.json");
    let o = locus(&[
        "estimate",
        "--layers",
        "16,12,8,4",
        "--rules",
        "local,bp",
        "--samples",
        "10",
        "--model",
        good.to_str().unwrap(),
        "--out",
        out_json.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    // Local: 2 reads per sample of words(4·12) and words(4·8) sign bits,
    // one 64-bit word each: 2 · 10 · (8 + 8) bytes.
    assert!(
        stderr.contains("local: 320B of classifier entries read from DRAM"),
        "{stderr}"
    );
    assert!(!stderr.contains("bp/stash: 0B"), "{stderr}");
    assert!(stdout.contains("DRAM read, classifiers"), "{stdout}");
    m.rom.storage = RomStorage::Lfsr;
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let o = locus(&[
        "estimate",
        "--layers",
        "16,12,8,4",
        "--model",
        bad.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error:") && stderr.contains("offchip.rom"),
        "{stderr}"
    );
}
