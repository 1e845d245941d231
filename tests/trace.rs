//! Access traces (`docs/formats.md`, "Access traces") checked against the
//! counts they must agree with, and the `locus trace` commands run as a user
//! would.
//!
//! - The event trace, summed per core, memory, class, phase and direction,
//!   equals every word, DRAM and interconnect counter of the run, for the
//!   local rule, backprop with each buffering policy (spilling to DRAM), on
//!   one core per layer and on a shared core; a traced run's counts equal an
//!   untraced run's.
//! - Every address lies inside its memory; each core's traced busy cycles
//!   are at least the report's cycle estimate.
//! - A SCALE-Sim-style file holds exactly as many addresses as the bank's
//!   counted reads (writes), rows strictly increasing in cycle.
//! - The VCD parses with the `vcd` crate, its `en`/`we` pulses equal the
//!   event trace's bursts in the window, and every read in it shows known data.
//! - CLI: gzip output decompresses to the plain output; unwritable outputs
//!   and windows past the end fail with one clear error and leave nothing;
//!   the same seed gives byte-identical files; `traces/examples/` is current
//!   (regenerate with `LOCUS_BLESS=1 cargo test --test trace`).

mod common;

use common::{files_under, locus, ok, s, text, user_error};
use locus::data::{Dataset, SyntheticSpec, generate};
use locus::hw::core::NetSpec;
use locus::hw::counters::{Class, CoreCounts, Rw};
use locus::hw::datapath::Activation;
use locus::hw::model::{HwModel, Mapping, RomStorage};
use locus::hw::trace_sink::{Bank, OpKind};
use locus::rules::{BpPolicy, Rule};
use locus::sim::{Arith, RunResult, TrainConfig, run, run_traced};
use locus::trace::scalesim::{STREAMS, ScaleSimWriter};
use locus::trace::vcd::VcdWindow;
use locus::trace::{Recorder, Tee};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::Output;

fn default_model() -> HwModel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
    locus::hw::model::load(&path).expect("default model loads")
}

/// A stash of 9 words: a batch of 4 spills half of layer 0's inputs.
fn small_stash(mut m: HwModel) -> HwModel {
    m.sram.stash.capacity_bytes = 72;
    m
}

fn shared(mut m: HwModel) -> HwModel {
    m.mapping = Mapping::SharedCore;
    m
}

fn data(sizes: &[usize], n: usize) -> (Dataset, Dataset) {
    generate(&SyntheticSpec {
        classes: *sizes.last().unwrap(),
        sample_len: sizes[0],
        train: n,
        test: 2,
        noise: 30,
        seed: 3,
    })
    .unwrap()
}

fn config(sizes: &[usize], rule: Rule, batch: usize, arith: Arith) -> TrainConfig {
    TrainConfig {
        rule,
        net: NetSpec::dense(sizes.to_vec(), Activation::Relu),
        epochs: 1,
        batch,
        lr: 1.0 / 16.0,
        seed: 9,
        arith,
        train_limit: None,
        test_limit: Some(2),
        lr_schedule: Default::default(),
        momentum: 0.0,
    }
}

struct Case {
    name: &'static str,
    model: HwModel,
    sizes: Vec<usize>,
    rule: Rule,
    batch: usize,
    arith: Arith,
}

fn cases() -> Vec<Case> {
    let m = default_model();
    let c = |name, model: HwModel, sizes: &[usize], rule, batch, arith| Case {
        name,
        model,
        sizes: sizes.to_vec(),
        rule,
        batch,
        arith,
    };
    let mut lfsr = m.clone();
    lfsr.rom.storage = RomStorage::Lfsr;
    let net = [16, 8, 6, 4];
    vec![
        c("local", m.clone(), &net, Rule::Local, 1, Arith::Fixed),
        c("local f32", m.clone(), &net, Rule::Local, 1, Arith::F32),
        c("local lfsr rom", lfsr, &net, Rule::Local, 1, Arith::Fixed),
        c(
            "bp stash",
            m.clone(),
            &net,
            Rule::Bp(BpPolicy::Stash),
            2,
            Arith::Fixed,
        ),
        c(
            "bp spill",
            small_stash(m.clone()),
            &net,
            Rule::Bp(BpPolicy::Spill),
            4,
            Arith::Fixed,
        ),
        c(
            "bp recompute",
            small_stash(m.clone()),
            &net,
            Rule::Bp(BpPolicy::Recompute),
            4,
            Arith::Fixed,
        ),
        c(
            "shared local",
            shared(m.clone()),
            &net,
            Rule::Local,
            1,
            Arith::Fixed,
        ),
        c(
            "shared bp spill",
            shared(small_stash(m.clone())),
            &net,
            Rule::Bp(BpPolicy::Spill),
            3,
            Arith::Fixed,
        ),
        c(
            "shared bp recompute",
            shared(m.clone()),
            &net,
            Rule::Bp(BpPolicy::Recompute),
            4,
            Arith::Fixed,
        ),
    ]
}

const SAMPLES: usize = 10;

fn traced(case: &Case) -> (RunResult, Recorder) {
    let (tr, te) = data(&case.sizes, SAMPLES);
    let cfg = config(&case.sizes, case.rule, case.batch, case.arith);
    let (r, _, rec) = run_traced(
        &case.model,
        &cfg,
        &tr,
        &te,
        Recorder::default(),
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    (r, rec)
}

/// The counters the trace can rebuild, summed from its events.
fn sum_events(model: &HwModel, rec: &Recorder, cores: usize) -> Vec<CoreCounts> {
    let mut got = vec![CoreCounts::default(); cores];
    for a in &rec.accesses {
        let c = &mut got[a.core as usize];
        let (p, rw) = (a.phase.index(), a.rw.index());
        match a.bank {
            Bank::Dram => {
                c.dram_bytes[p][rw] += a.words;
                c.dram_bursts[p][rw] += model.dram.bursts_for(a.words);
            }
            Bank::Noc => {
                c.noc_words[p][a.class.index()] += a.words;
                let hops = if a.class == Class::Label {
                    1
                } else {
                    (a.core as u64).abs_diff(a.addr)
                };
                c.noc_word_hops[p] += a.words * hops;
            }
            b => c.add_words(b.unit().unwrap(), a.class, a.phase, a.rw, a.words),
        }
    }
    got
}

#[test]
fn events_sum_to_the_counts_and_tracing_changes_nothing() {
    for case in cases() {
        let (r, rec) = traced(&case);
        let (tr, te) = data(&case.sizes, SAMPLES);
        let cfg = config(&case.sizes, case.rule, case.batch, case.arith);
        let (plain, _) = run(&case.model, &cfg, &tr, &te, &mut |_, _| {}).unwrap();
        assert_eq!(
            plain.counts, r.counts,
            "{}: traced counts differ",
            case.name
        );
        assert_eq!(plain.epochs, r.epochs, "{}", case.name);
        let got = sum_events(&case.model, &rec, r.counts.len());
        for (k, (want, got)) in r.counts.iter().zip(&got).enumerate() {
            let n = case.name;
            assert_eq!(want.words, got.words, "{n}: core {k} words");
            assert_eq!(want.dram_bytes, got.dram_bytes, "{n}: core {k} DRAM bytes");
            assert_eq!(want.dram_bursts, got.dram_bursts, "{n}: core {k} bursts");
            assert_eq!(want.noc_words, got.noc_words, "{n}: core {k} link words");
            assert_eq!(want.noc_word_hops, got.noc_word_hops, "{n}: core {k} hops");
        }
        let spilled: u64 = r
            .counts
            .iter()
            .map(|c| c.dram_total(Rw::Write).unwrap())
            .sum();
        if case.name.contains("spill") {
            assert!(spilled > 0, "{}: the case must spill", case.name);
        }
    }
}

#[test]
fn addresses_lie_inside_their_memories_and_cycles_bound_the_estimate() {
    for case in cases() {
        let (r, rec) = traced(&case);
        let m = &case.model;
        for a in &rec.accesses {
            let cap = match a.bank.unit().map(|u| u.bank_role()) {
                Some(Some(role)) => m.bank(role).capacity_words(),
                Some(None) => m.rom.capacity_words(),
                None => continue,
            };
            assert!(
                a.addr + a.words <= cap,
                "{}: {a:?} beyond {cap} words",
                case.name
            );
        }
        // Per core, the bursts of one memory and direction never overlap in
        // time and come in cycle order.
        let mut next: BTreeMap<(u32, Bank, Rw), u64> = BTreeMap::new();
        for a in rec.accesses.iter().filter(|a| a.bank.unit().is_some()) {
            let unit = a.bank.unit().unwrap();
            let ports = match (unit.bank_role(), a.rw) {
                (Some(role), Rw::Read) => m.bank(role).read_ports,
                (Some(role), Rw::Write) => m.bank(role).write_ports,
                (None, _) => 1,
            } as u64;
            let free = next.entry((a.core, a.bank, a.rw)).or_insert(0);
            assert!(
                a.cycle >= *free,
                "{}: {a:?} overlaps the previous burst",
                case.name
            );
            *free = a.cycle + a.words.div_ceil(ports);
        }
        let local = case.rule == Rule::Local;
        let t = locus::hw::timing::estimate(m, &r.counts, r.samples, local).unwrap();
        for (core, want) in t.core_cycles.iter().enumerate() {
            let busy: u64 = rec
                .ops
                .iter()
                .filter(|o| o.core as usize == core)
                .map(|o| o.cycles)
                .sum();
            assert!(
                busy >= *want,
                "{}: core {core} busy {busy} < estimate {want}",
                case.name
            );
        }
        // Operations of one core never overlap.
        let mut free = vec![0u64; r.counts.len()];
        for o in &rec.ops {
            assert!(
                o.cycle >= free[o.core as usize],
                "{}: {o:?} overlaps",
                case.name
            );
            free[o.core as usize] = o.cycle + o.cycles;
            assert!(o.mac_cycles <= o.cycles);
            if o.kind == OpKind::Receive {
                assert_eq!(o.mac_cycles, 0);
            }
        }
    }
}

/// Reads find what they expect: every word a read touches was last written
/// with the same class and layer (on a shared core an activation may also be
/// the previous layer's output, read in place as this layer's input). Words
/// never written in the run (initial weights, ROM, DRAM input) are skipped.
/// This catches a layout that overwrites live data, e.g. a kept output error.
#[test]
fn the_address_layout_never_overwrites_live_data() {
    for case in cases() {
        let (_, rec) = traced(&case);
        let shared = case.model.mapping == Mapping::SharedCore;
        let mut mem: BTreeMap<(u32, Bank), Vec<Tag>> = BTreeMap::new();
        for a in rec.accesses.iter().filter(|a| a.bank != Bank::Noc) {
            let core = if a.bank == Bank::Dram {
                u32::MAX
            } else {
                a.core
            };
            let words = mem.entry((core, a.bank)).or_default();
            let end = (a.addr + a.words) as usize;
            if words.len() < end {
                words.resize(end, None);
            }
            let span = &mut words[a.addr as usize..end];
            match a.rw {
                Rw::Write => span.fill(Some((a.layer, a.class))),
                Rw::Read => {
                    for (k, w) in span.iter().enumerate() {
                        let Some((layer, class)) = *w else { continue };
                        let in_place =
                            shared && a.class == Class::Activation && layer + 1 == a.layer;
                        assert!(
                            class == a.class && (layer == a.layer || in_place),
                            "{}: {a:?} reads word {} last written by layer {layer} ({class})",
                            case.name,
                            a.addr + k as u64
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn scalesim_files_hold_the_counted_addresses() {
    for case in cases() {
        let (tr, te) = data(&case.sizes, SAMPLES);
        let cfg = config(&case.sizes, case.rule, case.batch, case.arith);
        let cores = case.model.mapping.cores(cfg.net.layers() as u32) as usize;
        let w = ScaleSimWriter::new(&case.model, cores, |_| Ok(Vec::new())).unwrap();
        let (r, _, w) = run_traced(&case.model, &cfg, &tr, &te, w, &mut |_, _| {}).unwrap();
        for (path, bytes, stats) in w.finish().unwrap() {
            let core: usize = path[4..path.find('/').unwrap()].parse().unwrap();
            let s = STREAMS.iter().position(|s| path.ends_with(s.2)).unwrap();
            let (bank, rw, _) = STREAMS[s];
            let c = &r.counts[core];
            let want = match bank.unit() {
                Some(u) => c.unit_words(u, rw),
                None => c.dram_total(rw),
            }
            .unwrap();
            let text = String::from_utf8(bytes).unwrap();
            let (mut addrs, mut last, mut cols) = (0u64, None, None);
            for line in text.lines() {
                let f: Vec<i64> = line.split(',').map(|x| x.parse().unwrap()).collect();
                assert!(
                    last.is_none_or(|l| f[0] > l),
                    "{}: {path}: cycles not increasing",
                    case.name
                );
                last = Some(f[0]);
                assert_eq!(*cols.get_or_insert(f.len()), f.len(), "{path}: ragged rows");
                let used = f[1..].iter().take_while(|&&a| a != -1).count();
                assert!(
                    f[1 + used..].iter().all(|&a| a == -1),
                    "{path}: padding only at the end"
                );
                addrs += used as u64;
            }
            assert_eq!(addrs, want, "{}: {path}", case.name);
            assert_eq!(stats.addresses, want, "{}: {path}", case.name);
        }
    }
}

/// One enabled port in one cycle: `(cycle, core, memory, rw, port)`.
type Beat = (u64, u32, String, Rw, u64);

/// A port: `(core, memory, rw, port)`.
type Port = (u32, String, Rw, u64);

/// What last wrote a word: `(layer, class)`, `None` if nothing yet.
type Tag = Option<(u32, Class)>;

/// `(cycle, core, bank, rw, port)` of every enabled port per the events.
fn expected_beats(m: &HwModel, rec: &Recorder, from: u64, to: u64) -> BTreeSet<Beat> {
    let mut set = BTreeSet::new();
    for a in &rec.accesses {
        let Some(unit) = a.bank.unit() else { continue };
        let ports = match (unit.bank_role(), a.rw) {
            (Some(role), Rw::Read) => m.bank(role).read_ports,
            (Some(role), Rw::Write) => m.bank(role).write_ports,
            (None, _) => 1,
        } as u64;
        for j in 0..a.words.div_ceil(ports) {
            let c = a.cycle + j;
            if c < from || c >= to {
                continue;
            }
            for k in 0..ports.min(a.words - j * ports) {
                set.insert((c, a.core, unit.name().to_string(), a.rw, k));
            }
        }
    }
    set
}

/// Parses a VCD: per rising clock edge in `[from, to)`, the enabled ports
/// `(cycle, core, bank, rw, port)`, checking `we` on each; and whether every
/// enabled read port showed known data.
fn parse_vcd(text: &[u8], period: u64, to: u64) -> (BTreeSet<Beat>, u64) {
    let mut p = vcd::Parser::new(std::io::BufReader::new(text));
    let header = p.parse_header().expect("VCD header parses");
    // Id -> (core, bank, rw, port, signal).
    let mut ids = BTreeMap::new();
    fn walk(
        items: &[vcd::ScopeItem],
        path: &mut Vec<String>,
        ids: &mut BTreeMap<vcd::IdCode, Vec<String>>,
    ) {
        for it in items {
            match it {
                vcd::ScopeItem::Scope(s) => {
                    path.push(s.identifier.clone());
                    walk(&s.items, path, ids);
                    path.pop();
                }
                vcd::ScopeItem::Var(v) => {
                    let mut full = path.clone();
                    full.push(v.reference.clone());
                    ids.insert(v.code, full);
                }
                _ => {}
            }
        }
    }
    walk(&header.items, &mut Vec::new(), &mut ids);
    let port_of = |id: &vcd::IdCode| -> Option<(Port, String)> {
        let path = ids.get(id)?;
        if path.len() != 5 {
            return None;
        }
        let core = path[1].strip_prefix("core")?.parse().ok()?;
        let (rw, k) = if let Some(k) = path[3].strip_prefix("rd") {
            (Rw::Read, k)
        } else {
            (Rw::Write, path[3].strip_prefix("wr")?)
        };
        Some((
            (core, path[2].clone(), rw, k.parse().ok()?),
            path[4].clone(),
        ))
    };
    let mut en: BTreeMap<Port, bool> = BTreeMap::new();
    let mut we: BTreeMap<Port, bool> = BTreeMap::new();
    let mut known: BTreeMap<Port, bool> = BTreeMap::new();
    let mut beats = BTreeSet::new();
    let mut unknown_reads = 0;
    let mut time: Option<u64> = None;
    let mut close = |t: Option<u64>,
                     en: &BTreeMap<_, bool>,
                     we: &BTreeMap<_, bool>,
                     known: &BTreeMap<_, bool>| {
        let Some(t) = t else { return };
        if t % period != 0 || t / period >= to {
            return;
        }
        for (k, &on) in en {
            let k: &Port = k;
            if on {
                assert_eq!(we.get(k).copied(), Some(k.2 == Rw::Write), "we of {k:?}");
                if k.2 == Rw::Read && known.get(k) != Some(&true) {
                    unknown_reads += 1;
                }
                beats.insert((t / period, k.0, k.1.clone(), k.2, k.3));
            }
        }
    };
    for cmd in p {
        let cmd = cmd.expect("VCD body parses");
        match cmd {
            vcd::Command::Timestamp(t) => {
                close(time, &en, &we, &known);
                time = Some(t);
            }
            vcd::Command::ChangeScalar(id, v) => {
                if let Some((k, sig)) = port_of(&id) {
                    let on = v == vcd::Value::V1;
                    match sig.as_str() {
                        "en" => en.insert(k, on),
                        "we" => we.insert(k, on),
                        _ => None,
                    };
                }
            }
            vcd::Command::ChangeVector(id, v) => {
                if let Some((k, sig)) = port_of(&id)
                    && (sig == "rdata" || sig == "wdata")
                {
                    known.insert(k, v.iter().all(|b| b != vcd::Value::X));
                }
            }
            _ => {}
        }
    }
    close(time, &en, &we, &known);
    (beats, unknown_reads)
}

#[test]
fn vcd_parses_and_its_pulses_are_the_events() {
    for case in cases().into_iter().filter(|c| c.arith == Arith::Fixed) {
        let (tr, te) = data(&case.sizes, SAMPLES);
        let mut cfg = config(&case.sizes, case.rule, case.batch, case.arith);
        cfg.train_limit = Some(6);
        // A window in the middle of the run, then one covering all of it.
        for (from, cycles) in [(100, 200), (0, 1_000_000)] {
            let win = VcdWindow::new(&case.model, cfg.net.layers(), from, cycles);
            let sink = Tee(win, Recorder::default());
            let (_, _, Tee(mut win, rec)) =
                run_traced(&case.model, &cfg, &tr, &te, sink, &mut |_, _| {}).unwrap();
            let to = win.window_end();
            let text = win.write_vcd(Vec::new()).unwrap();
            let (beats, unknown) = parse_vcd(&text, win.period_ps(), to);
            let want = expected_beats(&case.model, &rec, from, to);
            assert!(!want.is_empty(), "{}: empty window", case.name);
            assert_eq!(beats, want, "{}: window {from}+{cycles}", case.name);
            assert_eq!(unknown, 0, "{}: reads of never-written words", case.name);
        }
    }
}

#[test]
fn vcd_window_past_the_end_is_an_error() {
    let case = &cases()[0];
    let (tr, te) = data(&case.sizes, SAMPLES);
    let cfg = config(&case.sizes, case.rule, case.batch, case.arith);
    let win = VcdWindow::new(&case.model, cfg.net.layers(), 1 << 40, 10);
    let (_, _, mut win) = run_traced(&case.model, &cfg, &tr, &te, win, &mut |_, _| {}).unwrap();
    let e = win.write_vcd(Vec::new()).unwrap_err().to_string();
    assert!(
        e.contains("--from-cycle 1099511627776 is past the end of the run"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

/// Exit code 2, one `error:` line containing `want`.
fn fails(out: &Output, want: &str) {
    let error = user_error(out, want);
    assert!(error.contains(want), "want {want:?} in {error}");
}

/// A synthetic dataset (16 pixels, 4 classes) in `dir`.
fn synth(dir: &Path) {
    let out = locus(&[
        "data",
        "synth",
        s(dir),
        "--classes",
        "4",
        "--sample-len",
        "16",
        "--train",
        "40",
        "--test",
        "8",
        "--seed",
        "1",
    ]);
    ok(&out, "data synth");
}

/// `locus trace <kind>` of a tiny run on `data`; options in `extra`
/// replace the defaults of the same name.
fn trace(kind: &str, out: &Path, data: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["trace".into(), kind.into(), "--out".into(), s(out).into()];
    let base = [
        "--data",
        s(data),
        "--layers",
        "16,8,4",
        "--train-limit",
        "4",
        "--test-limit",
        "2",
    ];
    for pair in base.chunks(2) {
        if !extra.contains(&pair[0]) {
            args.extend(pair.iter().map(|x| x.to_string()));
        }
    }
    args.extend(extra.iter().map(|x| x.to_string()));
    let refs: Vec<&str> = args.iter().map(|x| x.as_str()).collect();
    locus(&refs)
}

#[test]
fn gzip_output_decompresses_to_the_plain_output() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data);
    let (plain, gz) = (tmp.path().join("t.csv"), tmp.path().join("t.csv.gz"));
    ok(&trace("events", &plain, &data, &[]), "plain");
    ok(&trace("events", &gz, &data, &["--gzip"]), "gzip");
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, std::fs::read(&plain).unwrap());
    assert!(unzipped.starts_with(b"cycle,layer,unit,bank,rw,addr,words,class,phase\n"));
    // SCALE-Sim files too.
    let (a, b) = (tmp.path().join("ss"), tmp.path().join("ssgz"));
    ok(&trace("scalesim", &a, &data, &[]), "scalesim");
    ok(&trace("scalesim", &b, &data, &["--gzip"]), "scalesim gzip");
    for f in files_under(&a) {
        let rel = f.strip_prefix(&a).unwrap();
        let g = b.join(format!("{}.gz", rel.display()));
        let mut un = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&g).unwrap())
            .read_to_end(&mut un)
            .unwrap();
        assert_eq!(un, std::fs::read(&f).unwrap(), "{}", rel.display());
    }
}

#[test]
fn unwritable_outputs_fail_cleanly_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data);
    // A regular file where a directory is needed.
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let before = files_under(tmp.path());
    for (kind, out) in [
        ("events", blocker.join("t.csv")),
        ("events", blocker.join("sub/t.csv")),
        ("scalesim", blocker.join("ss")),
        ("vcd", blocker.join("w.vcd")),
    ] {
        let r = trace(kind, &out, &data, &[]);
        fails(&r, &blocker.display().to_string());
        assert_eq!(files_under(tmp.path()), before, "{kind}: left files behind");
    }
    // A missing directory is created, and removed again when the run fails.
    let out = tmp.path().join("new/dir/t.csv");
    let r = trace("events", &out, &data, &["--layers", "16,8,3"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        !tmp.path().join("new").exists(),
        "created directory left behind"
    );
    assert_eq!(files_under(tmp.path()), before);
}

#[test]
fn vcd_window_past_the_end_fails_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data);
    let out = tmp.path().join("w.vcd");
    let r = trace(
        "vcd",
        &out,
        &data,
        &["--from-cycle", "100000000", "--cycles", "10"],
    );
    fails(&r, "--from-cycle 100000000 is past the end of the run");
    assert!(!out.exists());
    let r = trace("vcd", &out, &data, &["--cycles", "0"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(!out.exists());
}

#[test]
fn same_seed_gives_identical_trace_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data);
    for (kind, name, extra) in [
        ("events", "e.csv", &[][..]),
        ("events", "e.jsonl", &["--format", "jsonl"][..]),
        (
            "events",
            "e.csv.gz",
            &["--gzip", "--rule", "bp", "--batch", "2"][..],
        ),
        ("scalesim", "ss", &[][..]),
        (
            "vcd",
            "w.vcd",
            &["--from-cycle", "40", "--cycles", "200"][..],
        ),
    ] {
        let (a, b) = (
            tmp.path().join(format!("a-{name}")),
            tmp.path().join(format!("b-{name}")),
        );
        ok(&trace(kind, &a, &data, extra), name);
        ok(&trace(kind, &b, &data, extra), name);
        let (fa, fb) = if a.is_dir() {
            (files_under(&a), files_under(&b))
        } else {
            (vec![a.clone()], vec![b.clone()])
        };
        assert_eq!(fa.len(), fb.len());
        for (x, y) in fa.iter().zip(&fb) {
            assert_eq!(
                std::fs::read(x).unwrap(),
                std::fs::read(y).unwrap(),
                "{name}"
            );
        }
    }
}

/// The checked-in examples: what these commands write now.
#[test]
fn examples_are_current() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/examples");
    let fresh = tmp.path().join("examples");
    std::fs::create_dir(&fresh).unwrap();
    let one = ["--train-limit", "1"];
    for (kind, name, extra) in [
        ("events", "local-16-8-4.csv", &[][..]),
        ("events", "local-16-8-4.jsonl", &one[..]),
        (
            "events",
            "bp-16-8-4.csv",
            &["--rule", "bp", "--batch", "2", "--train-limit", "2"][..],
        ),
        ("scalesim", "scalesim-local-16-8-4", &one[..]),
        (
            "vcd",
            "local-16-8-4.vcd",
            &["--from-cycle", "50", "--cycles", "8"][..],
        ),
    ] {
        ok(&trace(kind, &fresh.join(name), &data, extra), name);
    }
    let bless = std::env::var_os("LOCUS_BLESS").is_some();
    for f in files_under(&fresh) {
        let rel = f.strip_prefix(&fresh).unwrap();
        let dst = root.join(rel);
        let new = std::fs::read(&f).unwrap();
        if bless {
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::write(&dst, &new).unwrap();
            continue;
        }
        let old = std::fs::read(&dst).unwrap_or_else(|_| {
            panic!(
                "{} missing: run LOCUS_BLESS=1 cargo test --test trace",
                dst.display()
            )
        });
        assert!(
            old == new,
            "{} is out of date (LOCUS_BLESS=1 regenerates it)\n--- checked in\n{}\n--- now\n{}",
            rel.display(),
            text(&old),
            text(&new)
        );
        assert!(
            new.len() < 16 * 1024,
            "{}: examples stay small",
            rel.display()
        );
    }
}
