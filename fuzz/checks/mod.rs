//! The checks behind each fuzz target, shared with the test suite
//! (`tests/fuzz_corpus.rs` replays the checked-in seeds and regression
//! inputs through them on every `cargo test`). Each function takes the raw
//! fuzzer input and panics when locus breaks a promise.
#![allow(dead_code)]

/// Trains each of `rules` on one sample of a 2-class synthetic dataset
/// sized for `net`, on `model`. A run may be refused (the model cannot hold
/// it); one that runs must report a non-negative energy estimate.
fn train_one_sample(
    model: &locus::hw::model::HwModel,
    net: &locus::hw::core::NetSpec,
    rules: &[locus::rules::Rule],
) {
    use locus::data::{SyntheticSpec, generate};
    use locus::report::RunReport;
    use locus::sim::{self, Arith, TrainConfig};
    let (train, test) = generate(&SyntheticSpec {
        classes: 2,
        sample_len: net.sizes[0],
        train: 2,
        test: 1,
        noise: 8,
        seed: 1,
    })
    .expect("a valid synthetic spec");
    for &rule in rules {
        let config = TrainConfig {
            rule,
            net: net.clone(),
            epochs: 1,
            batch: 1,
            lr: 1.0 / 128.0,
            seed: 1,
            arith: Arith::Fixed,
            train_limit: Some(1),
            test_limit: Some(1),
            lr_schedule: Default::default(),
            momentum: 0.0,
        };
        if let Ok((result, _)) = sim::run(model, &config, &train, &test, &mut |_, _| {}) {
            let report = RunReport::new(model, &result).expect("a small run's counts fit 64 bits");
            assert!(report.estimated.energy_per_sample_pj >= 0.0);
        }
    }
}

/// The IDX reader on arbitrary bytes, raw and gzip. The first input byte
/// picks the mode: even — the rest is read as given (a gzip stream is then
/// only found by chance); odd — the rest is gzip-compressed first, so the
/// fuzzer explores IDX headers and data behind a valid gzip layer. Either
/// way the reader must return `Ok` or an error naming the source, never
/// panic; an `Ok` array must be consistent and write back to the same bytes.
pub mod idx {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use locus::data::{read_idx_from, write_idx};
    use std::io::Write;

    const SOURCE: &str = "fuzz.idx";

    /// Runs the check on one input.
    pub fn check(input: &[u8]) {
        let Some((&mode, rest)) = input.split_first() else {
            return;
        };
        let bytes = if mode % 2 == 1 {
            let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
            gz.write_all(rest).expect("writing to a Vec cannot fail");
            gz.finish().expect("writing to a Vec cannot fail")
        } else {
            rest.to_vec()
        };
        match read_idx_from(&bytes[..], SOURCE) {
            Ok(a) => {
                let count: usize = a.dims.iter().product();
                assert_eq!(a.data.len(), count, "data length is the product of dims");
                assert_eq!(a.source, SOURCE);
                // What was read writes back to the same IDX bytes.
                let mut out = Vec::new();
                write_idx(&mut out, &a.dims, &a.data).expect("a read array is writable");
                let plain = if mode % 2 == 1 { rest } else { &bytes[..] };
                if plain.first() != Some(&0x1f) {
                    assert_eq!(out, plain, "write_idx(read_idx(x)) == x");
                }
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with(SOURCE), "error names the source: {msg}");
            }
        }
    }
}

/// The hardware-model JSON loader and validator on arbitrary text. It must
/// return a model or an error naming the source, never panic. A model it
/// accepts must serialise back to JSON that loads to the same model, and
/// must run: a tiny network trains one sample per rule on it (or is refused
/// with a typed error), and the report's energy and timing estimates are
/// computed from the counts without overflow panics.
pub mod model {
    use locus::hw::core::NetSpec;
    use locus::hw::datapath::Activation;
    use locus::hw::model::from_json_str;
    use locus::rules::{BpPolicy, Rule};

    const SOURCE: &str = "fuzz.json";

    /// Runs the check on one input.
    pub fn check(input: &[u8]) {
        let Ok(text) = std::str::from_utf8(input) else {
            return;
        };
        let model = match from_json_str(text, SOURCE) {
            Ok(m) => m,
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with(SOURCE), "error names the source: {msg}");
                return;
            }
        };
        let again = serde_json::to_string(&model).expect("a model serialises");
        let back = from_json_str(&again, SOURCE).expect("a saved model loads again");
        assert_eq!(back, model, "load(save(model)) == model");

        let net = NetSpec::dense(vec![4, 3, 2], Activation::Relu);
        super::train_one_sample(&model, &net, &[Rule::Local, Rule::Bp(BpPolicy::Stash)]);
    }
}

/// The sweep-spec loader on arbitrary text, with the bundled default model
/// as its base model. It must return a spec or an error naming the spec
/// file, never panic; for an accepted spec, the first points are resolved
/// (axis values written into the model and configuration, then validated)
/// and each is a valid point or an error naming the file and the point.
pub mod sweep_spec {
    use locus::sweep::LoadedSpec;
    use std::path::Path;

    const MODEL: &str = include_str!("../../hw_models/default.json");
    const SPEC: &str = "fuzz/spec.json";

    /// Runs the check on one input.
    pub fn check(input: &[u8]) {
        let Ok(text) = std::str::from_utf8(input) else {
            return;
        };
        let spec = match LoadedSpec::from_json_str(text, Path::new(SPEC), |_| Ok(MODEL.to_string()))
        {
            Ok(s) => s,
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with(SPEC), "error names the spec: {msg}");
                return;
            }
        };
        assert!(!spec.is_empty());
        for index in 0..spec.len().min(8) {
            let settings = spec.settings(index);
            assert_eq!(settings.len(), spec.spec.axes.len());
            match spec.point(index) {
                Ok(p) => assert_eq!(p.index, index),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        msg.starts_with(&format!("{SPEC}: point {index} ")),
                        "error names the spec and point: {msg}"
                    );
                }
            }
        }
    }
}

/// The requantiser on arbitrary formats, shifts, policies and values,
/// checked against the independent `i128` reference: the scalar `apply`
/// and the slice `apply_slice` (into `i32` lanes, and `i16` lanes when the
/// format fits) must give the reference's value, count the reference's
/// overflow event, and step the LFSR exactly once per value in stochastic
/// mode (never otherwise).
///
/// Input layout: bits, frac, shift, rounding, overflow (one byte each), an
/// LFSR seed (4 bytes), then any number of 8-byte little-endian values.
pub mod requant {
    use locus::quant::{
        Lfsr, MAX_SHIFT, Overflow, OverflowEvent, OverflowStats, QFormat, Requantizer, Rounding,
        reference_requantize,
    };

    /// Runs the check on one input.
    pub fn check(input: &[u8]) {
        if input.len() < 9 {
            return;
        }
        let (head, rest) = input.split_at(9);
        let bits = 2 + u32::from(head[0]) % 31; // 2..=32
        let frac = u32::from(head[1]) % bits;
        let span = 2 * MAX_SHIFT as i32 + 1;
        let shift = i32::from(head[2]) % span - MAX_SHIFT as i32; // -62..=62
        let rounding = Rounding::ALL[usize::from(head[3]) % 3];
        let overflow = if head[4] % 2 == 0 {
            Overflow::Saturate
        } else {
            Overflow::Wrap
        };
        let seed = u32::from_le_bytes([head[5], head[6], head[7], head[8]]);
        let Ok(mut lfsr) = Lfsr::new(seed) else {
            return;
        };
        let dst = QFormat::new(bits, frac).expect("bits 2..=32, frac < bits");
        let rq =
            Requantizer::with_shift(shift, dst, rounding, overflow).expect("shift within range");
        let xs: Vec<i64> = rest
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .take(64)
            .collect();

        let start = lfsr;
        let mut expected = Vec::with_capacity(xs.len());
        let mut expected_stats = OverflowStats::default();
        let mut stats = OverflowStats::default();
        for &x in &xs {
            let mut probe = lfsr;
            let rnd = probe.next_state();
            let (want, event) = reference_requantize(x, shift, dst, rounding, overflow, rnd);
            let before = lfsr;
            let got = rq.apply(x, &mut lfsr, &mut stats);
            assert_eq!(
                got, want,
                "x = {x}, shift = {shift}, {dst:?}, {rounding}, {overflow}, rnd = {rnd:#x}"
            );
            if rounding == Rounding::Stochastic {
                assert_eq!(lfsr, probe, "one LFSR step per stochastic value");
            } else {
                assert_eq!(lfsr, before, "no LFSR step without stochastic rounding");
            }
            match (event, overflow) {
                (OverflowEvent::None, _) => {}
                (OverflowEvent::High, Overflow::Saturate) => expected_stats.saturated_high += 1,
                (OverflowEvent::Low, Overflow::Saturate) => expected_stats.saturated_low += 1,
                (_, Overflow::Wrap) => expected_stats.wrapped += 1,
            }
            assert_eq!(
                stats, expected_stats,
                "overflow counted as the reference says"
            );
            expected.push(want);
        }

        // Slice forms take i32 (or i16) sources: keep the values that fit.
        let src: Vec<i32> = xs.iter().map(|&x| x as i32).collect();
        let want: Vec<i32> = {
            let mut l = start;
            let mut st = OverflowStats::default();
            src.iter()
                .map(|&x| rq.apply(i64::from(x), &mut l, &mut st))
                .collect()
        };
        let mut l32 = start;
        let mut out32 = vec![0i32; src.len()];
        rq.apply_slice(&src, &mut out32, &mut l32, &mut OverflowStats::default());
        assert_eq!(out32, want, "apply_slice into i32 lanes");
        if bits <= 16 {
            let mut l16 = start;
            let mut out16 = vec![0i16; src.len()];
            rq.apply_slice(&src, &mut out16, &mut l16, &mut OverflowStats::default());
            let widened: Vec<i32> = out16.iter().map(|&v| i32::from(v)).collect();
            assert_eq!(widened, want, "apply_slice into i16 lanes");
            assert_eq!(l16, l32, "same LFSR steps in both lane widths");
        }
    }
}

/// The `--layers` parser on arbitrary text. It must return a network or an
/// error, never panic; an accepted network has an input and an output and no
/// empty layer, its canonical text parses back to the same network, and a
/// small one trains a sample under local and backprop (stash and recompute)
/// on the bundled default model, or is refused with an error — the conv
/// shape arithmetic and the conv kernels run on every accepted geometry.
pub mod netspec {
    use locus::hw::core::NetSpec;
    use locus::hw::datapath::Activation;
    use locus::hw::model::from_json_str;
    use locus::rules::{BpPolicy, Rule};

    const MODEL: &str = include_str!("../../hw_models/default.json");
    /// Largest `Σ sizes[i]·sizes[i+1]` trained (a bound on the work per sample).
    const MAX_WORK: usize = 200_000;

    /// Runs the check on one input.
    pub fn check(input: &[u8]) {
        let Ok(text) = std::str::from_utf8(input) else {
            return;
        };
        let net = match NetSpec::parse(text, Activation::Relu) {
            Ok(n) => n,
            Err(e) => {
                assert!(!e.to_string().is_empty(), "an error says what is wrong");
                return;
            }
        };
        assert!(net.sizes.len() >= 2, "an input and an output: {net:?}");
        assert!(net.sizes.iter().all(|&s| s > 0), "no empty layer: {net:?}");
        let canonical = if net.stack.is_empty() {
            let s: Vec<String> = net.sizes.iter().map(|s| s.to_string()).collect();
            s.join(",")
        } else {
            net.to_string()
        };
        let again = NetSpec::parse(&canonical, Activation::Relu)
            .unwrap_or_else(|e| panic!("{canonical:?} does not parse back: {e}"));
        assert_eq!(again, net, "parse(canonical) == net for {canonical:?}");

        let work = net
            .sizes
            .windows(2)
            .try_fold(0usize, |acc, w| acc.checked_add(w[0].checked_mul(w[1])?));
        if net.classes() < 2 || work.is_none_or(|w| w > MAX_WORK) {
            return;
        }
        let model = from_json_str(MODEL, "default.json").expect("the bundled model loads");
        let rules = [
            Rule::Local,
            Rule::Bp(BpPolicy::Stash),
            Rule::Bp(BpPolicy::Recompute),
        ];
        super::train_one_sample(&model, &net, &rules);
    }
}

/// The ONNX reader on arbitrary bytes. It must return a network's layer
/// tokens or an error, never panic (a corrupt protobuf, a cycle, a dangling
/// tensor, absurd shapes); accepted tokens start with the input, and the
/// network description built from them is a network or an error naming a
/// token.
pub mod onnx {
    use locus::net::spec::{Activation, LayerSpec, NetSpec};

    /// Runs the check on one input.
    pub fn check(input: &[u8]) {
        let got = match locus::net::onnx::read(input.to_vec(), None) {
            Ok(g) => g,
            Err(e) => {
                assert!(!e.is_empty(), "an error says what is wrong");
                return;
            }
        };
        assert!(
            matches!(
                got.stack.first(),
                Some(LayerSpec::Input { .. } | LayerSpec::Dense(_))
            ),
            "the input first: {:?}",
            got.stack
        );
        assert!(
            got.stack.len() >= 2,
            "an input and a layer: {:?}",
            got.stack
        );
        let activation = got.activation.unwrap_or(Activation::Relu);
        if let Ok(net) = NetSpec::from_stack(got.stack, activation) {
            assert!(net.sizes.iter().all(|&s| s > 0), "no empty layer: {net:?}");
        }
    }
}

/// The SCALE-Sim topology reader on arbitrary text: rows or an error naming
/// the row, never a panic; rows read as a chain give layer tokens (input
/// first) or an error naming the row; every accepted row's MACs fit 2^48.
pub mod topology {
    use locus::net::scalesim::{parse_topology, to_stack};
    use locus::net::spec::{Activation, LayerSpec, NetSpec};

    /// Runs the check on one input.
    pub fn check(input: &[u8]) {
        let Ok(text) = std::str::from_utf8(input) else {
            return;
        };
        let rows = match parse_topology(text) {
            Ok(r) => r,
            Err(e) => {
                assert!(!e.to_string().is_empty(), "an error says what is wrong");
                return;
            }
        };
        assert!(!rows.is_empty(), "a topology has rows");
        for r in &rows {
            assert!(r.macs() <= 1 << 48, "row {}: {} MACs", r.line(), r.macs());
        }
        for input in [None, Some([3, 32, 32])] {
            let Ok((stack, _)) = to_stack(&rows, input) else {
                continue;
            };
            assert!(
                matches!(
                    stack.first(),
                    Some(LayerSpec::Input { .. } | LayerSpec::Dense(_))
                ),
                "the input first: {stack:?}"
            );
            if let Ok(net) = NetSpec::from_stack(stack, Activation::Relu) {
                assert!(net.sizes.iter().all(|&s| s > 0), "no empty layer");
            }
        }
    }
}

/// The Accelergy ERT reader (`locus model import-ert`) on arbitrary text,
/// onto the default model: the model with the imported energies, or an
/// error naming the file, never a panic. An import sets at least one entry,
/// each finite, at least 0 and sourced from the ERT, and the model still
/// validates; an error leaves the model as it was.
pub mod ert {
    use locus::hw::model::ert::import_ert;
    use locus::hw::model::from_json_str;

    const MODEL: &str = include_str!("../../hw_models/default.json");
    const SOURCE: &str = "fuzz.yaml";

    /// Runs the check on one input.
    pub fn check(input: &[u8]) {
        let Ok(text) = std::str::from_utf8(input) else {
            return;
        };
        let mut model = from_json_str(MODEL, "default.json").expect("default model");
        match import_ert(&mut model, text, SOURCE) {
            Ok(import) => {
                assert!(!import.set.is_empty(), "an import sets something");
                for (entry, pj, source) in &import.set {
                    assert!(pj.is_finite() && *pj >= 0.0, "{entry} = {pj}");
                    assert!(source.starts_with("ERT "), "{entry}: {source}");
                }
                model.validate().expect("an imported model validates");
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.starts_with(SOURCE), "error names the file: {msg}");
                assert!(!msg.contains('\n'), "one line: {msg}");
            }
        }
    }
}
