//! Golden vectors replayed in Verilog: `write_golden` records the first
//! training steps of small networks for several formats, rounding and
//! overflow modes, and the reference bench `traces/rtl/tb_layer.v` (with
//! `traces/rtl/layer_datapath.v`) recomputes every layer of every step under
//! Icarus Verilog and must reproduce every value bit for bit.
//!
//! Needs `iverilog` and `vvp` on PATH. Without them the tests are skipped
//! with a message, except when the environment variable `CI` is set (CI
//! installs Icarus Verilog, see `.ci/run`), where they fail.

use locus::data::{Dataset, SyntheticSpec, generate};
use locus::hw::core::NetSpec;
use locus::hw::datapath::Activation;
use locus::hw::model::{HwModel, RomStorage, TensorFormat};
use locus::quant::{Overflow, Rounding};
use locus::rules::Rule;
use locus::trace::golden::{GoldenConfig, GoldenSummary, write_golden};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn model(name: &str) -> HwModel {
    locus::hw::model::load(&root().join("hw_models").join(name)).expect("model loads")
}

fn f(bits: u32, frac: u32, rounding: Rounding, overflow: Overflow) -> TensorFormat {
    TensorFormat {
        bits,
        frac,
        rounding,
        overflow,
    }
}

fn data(len: usize) -> Dataset {
    generate(&SyntheticSpec {
        classes: 4,
        sample_len: len,
        train: 64,
        test: 8,
        noise: 40,
        seed: 3,
    })
    .expect("synthetic data")
    .0
}

/// `iverilog` and `vvp`, or `None` (after printing why) when the test
/// should be skipped. Panics when they are missing in CI.
fn tools() -> Option<(PathBuf, PathBuf)> {
    let find = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    match (find("iverilog"), find("vvp")) {
        (Some(i), Some(v)) => Some((i, v)),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "iverilog/vvp not found on PATH, and CI is set: install it (apt-get install -y iverilog)"
            )
        }
        _ => {
            eprintln!("skipped: iverilog not found (install it: apt-get install -y iverilog)");
            None
        }
    }
}

/// Compiles the bench with the parameters of `summary`.
fn compile(iverilog: &Path, summary: &GoldenSummary, out: &Path) -> PathBuf {
    let vvp = out.join("tb_layer.vvp");
    let mut cmd = Command::new(iverilog);
    cmd.arg("-g2012").arg("-o").arg(&vvp);
    for (k, v) in &summary.verilog_parameters {
        cmd.arg(format!("-Ptb_layer.{k}={v}"));
    }
    cmd.arg(root().join("traces/rtl/layer_datapath.v"))
        .arg(root().join("traces/rtl/tb_layer.v"));
    let o = cmd.output().expect("run iverilog");
    assert!(
        o.status.success(),
        "iverilog failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    vvp
}

/// Runs the bench on one layer directory: `(success, stdout)`.
fn replay(vvp_bin: &Path, vvp: &Path, dir: &Path) -> (bool, String) {
    let o = Command::new(vvp_bin)
        .arg("-n")
        .arg(vvp)
        .arg(format!("+dir={}", dir.display()))
        .output()
        .expect("run vvp");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

/// Records `steps` steps of `net` and replays every layer of every step.
fn check_case(
    case: &str,
    model: &HwModel,
    net: &[usize],
    act: Activation,
    lr: f64,
    steps: usize,
) -> Option<GoldenSummary> {
    let (iverilog, vvp_bin) = tools()?;
    model.validate().expect("test model is valid");
    let train = data(net[0]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("golden");
    let config = GoldenConfig {
        net: NetSpec::dense(net.to_vec(), act),
        rule: Rule::Local,
        seed: 5,
        lr,
        steps,
    };
    let summary = write_golden(model, &config, &train, &out)
        .unwrap_or_else(|e| panic!("{case}: write_golden: {e}"));
    let vvp = compile(&iverilog, &summary, tmp.path());
    let mut passed = 0;
    for s in 0..steps {
        for l in 0..net.len() - 1 {
            let dir = out.join(format!("step{s}/layer{l}"));
            let (ok, text) = replay(&vvp_bin, &vvp, &dir);
            assert!(
                ok && text.contains("PASS "),
                "{case}: step {s} layer {l}:\n{text}"
            );
            passed += 1;
        }
    }
    assert_eq!(passed, steps * (net.len() - 1));
    Some(summary)
}

#[test]
fn default_16_bit_nearest() {
    let m = model("default.json");
    let Some(s) = check_case("default", &m, &[16, 12, 4], Activation::Relu, 1.0 / 16.0, 3) else {
        return;
    };
    assert_eq!(s.lfsr_draws, 0, "nearest rounding draws nothing");
}

#[test]
fn edge_small_8_bit_weights_stochastic_update() {
    let m = model("edge-small.json");
    assert_eq!(m.formats.weight.bits, 8);
    assert_eq!(m.formats.update.rounding, Rounding::Stochastic);
    let Some(s) = check_case(
        "edge-small",
        &m,
        &[16, 12, 4],
        Activation::Relu,
        1.0 / 16.0,
        3,
    ) else {
        return;
    };
    // one draw per weight and bias per step: 3 × (12·17 + 4·13)
    assert_eq!(s.lfsr_draws, 3 * (12 * 17 + 4 * 13));
}

#[test]
fn truncate_everywhere_three_layers() {
    let mut m = model("default.json");
    let t = &mut m.formats;
    for c in [
        &mut t.weight,
        &mut t.activation,
        &mut t.error,
        &mut t.update,
    ] {
        c.rounding = Rounding::Truncate;
    }
    check_case(
        "truncate",
        &m,
        &[16, 10, 8, 4],
        Activation::Relu,
        1.0 / 8.0,
        2,
    );
}

#[test]
fn saturation_occurs_and_is_reproduced() {
    // Narrow formats, an 11-bit accumulator and lr = 1: sums of 16
    // products of weights up to 1/4 and inputs up to 1 leave the
    // accumulator's +-2, pre-activations the activations' +-2, updates
    // and weights the +-1 of their formats.
    let mut m = model("edge-small.json");
    let s = Overflow::Saturate;
    m.formats.weight = f(6, 5, Rounding::Nearest, s);
    m.formats.activation = f(6, 4, Rounding::Nearest, s);
    m.formats.error = f(8, 4, Rounding::Truncate, s);
    m.formats.update = f(6, 5, Rounding::Stochastic, s);
    m.formats.classifier = f(8, 4, Rounding::Nearest, s);
    m.formats.accumulator.bits = 11;
    m.formats.accumulator.overflow = s;
    let Some(sum) = check_case("saturate", &m, &[16, 12, 4], Activation::Relu, 1.0, 3) else {
        return;
    };
    let o = sum.overflow;
    println!("saturation events: {o:?}");
    for (class, st) in [
        ("accumulator", o.accumulator),
        ("activation", o.activation),
        ("update", o.update),
        ("weight", o.weight),
    ] {
        assert!(
            st.saturated_high + st.saturated_low > 0,
            "{class}: no saturation in {o:?}"
        );
        assert_eq!(st.wrapped, 0);
    }
}

#[test]
fn wrap_everywhere() {
    let mut m = model("edge-small.json");
    let w = Overflow::Wrap;
    m.formats.weight = f(6, 5, Rounding::Nearest, w);
    m.formats.activation = f(5, 4, Rounding::Truncate, w);
    m.formats.error = f(8, 4, Rounding::Nearest, w);
    m.formats.update = f(6, 5, Rounding::Truncate, w);
    m.formats.classifier = f(8, 4, Rounding::Nearest, w);
    m.formats.accumulator.bits = 11;
    m.formats.accumulator.overflow = w;
    let Some(sum) = check_case("wrap", &m, &[16, 12, 4], Activation::Relu, 1.0, 3) else {
        return;
    };
    let o = sum.overflow;
    for (class, st) in [
        ("accumulator", o.accumulator),
        ("activation", o.activation),
        ("update", o.update),
        ("weight", o.weight),
    ] {
        assert!(st.wrapped > 0, "{class}: nothing wrapped in {o:?}");
        assert_eq!(st.saturated_high + st.saturated_low, 0);
    }
}

#[test]
fn stochastic_everywhere_with_weight_write_back_and_hard_tanh() {
    // Every class rounds stochastically, and the update has 3 more
    // fractional bits than the weights: each update draws twice (update,
    // then write-back), the forward and error phases once per value.
    let mut m = model("default.json");
    let (st, sat) = (Rounding::Stochastic, Overflow::Saturate);
    m.formats.weight = f(12, 9, st, sat);
    m.formats.activation = f(12, 6, st, sat);
    m.formats.error = f(12, 9, st, sat);
    m.formats.update = f(16, 12, st, sat);
    m.formats.accumulator.bits = 28;
    let Some(s) = check_case(
        "stochastic",
        &m,
        &[16, 12, 4],
        Activation::HardTanh,
        1.0 / 8.0,
        2,
    ) else {
        return;
    };
    let per_step = 12 + (4 + 12) + 2 * 12 * 17 // layer 0: forward, error, update
        + 4 + 4 + 2 * 4 * 13; // layer 1
    assert_eq!(s.lfsr_draws, 2 * per_step);
}

#[test]
fn wide_formats_use_32_bit_lanes() {
    // 20- and 24-bit formats (i32 lanes) with a 48-bit accumulator, and a
    // classifier ROM of 4-bit values instead of sign bits.
    let mut m = model("default.json");
    m.rom.storage = RomStorage::Values { bits: 4 };
    let (n, sat) = (Rounding::Nearest, Overflow::Saturate);
    m.formats.weight = f(20, 17, n, sat);
    m.formats.activation = f(24, 12, Rounding::Stochastic, sat);
    m.formats.error = f(20, 16, n, sat);
    m.formats.update = f(24, 20, n, sat);
    m.formats.accumulator.bits = 48;
    check_case("wide", &m, &[16, 12, 4], Activation::Relu, 1.0 / 16.0, 2);
}

#[test]
fn bench_reports_the_first_mismatch() {
    let Some((iverilog, vvp_bin)) = tools() else {
        return;
    };
    let m = model("default.json");
    let train = data(16);
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("golden");
    let config = GoldenConfig {
        net: NetSpec::dense(vec![16, 12, 4], Activation::Relu),
        rule: Rule::Local,
        seed: 5,
        lr: 1.0 / 16.0,
        steps: 1,
    };
    let summary = write_golden(&m, &config, &train, &out).expect("write_golden");
    let vvp = compile(&iverilog, &summary, tmp.path());
    // Flip one bit of one updated weight: the bench must name it.
    let file = out.join("step0/layer0/w_after.hex");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let v = i64::from_str_radix(&lines[5], 16).unwrap();
    let flipped = v ^ 1;
    lines[5] = format!("{flipped:04x}");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (ok, text) = replay(&vvp_bin, &vvp, &out.join("step0/layer0"));
    assert!(!ok, "bench passed a corrupted file:\n{text}");
    let sext = |x: i64| ((x as u16) as i16) as i64;
    let want = format!(
        "MISMATCH layer 0 tensor w_after index 5 expected {} got {}",
        sext(flipped),
        sext(v)
    );
    assert!(text.contains(&want), "want {want:?} in:\n{text}");
    // A missing file is an error too, not a pass.
    std::fs::remove_file(out.join("step0/layer1/upd.hex")).unwrap();
    let (ok, text) = replay(&vvp_bin, &vvp, &out.join("step0/layer1"));
    assert!(!ok && text.contains("cannot read"), "{text}");
}

#[test]
fn checked_in_example_replays() {
    let Some((iverilog, vvp_bin)) = tools() else {
        return;
    };
    let example = root().join("traces/examples/golden");
    let text = std::fs::read_to_string(example.join("manifest.json")).expect("example manifest");
    let m: serde_json::Value = serde_json::from_str(&text).expect("manifest parses");
    let tmp = tempfile::tempdir().expect("tempdir");
    let vvp = tmp.path().join("tb_layer.vvp");
    let mut cmd = Command::new(&iverilog);
    cmd.arg("-g2012").arg("-o").arg(&vvp);
    for (k, v) in m["verilog"]["parameters"].as_object().expect("parameters") {
        cmd.arg(format!("-Ptb_layer.{k}={v}"));
    }
    let o = cmd
        .arg(root().join("traces/rtl/layer_datapath.v"))
        .arg(root().join("traces/rtl/tb_layer.v"))
        .output()
        .expect("run iverilog");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut n = 0;
    for step in m["records"].as_array().expect("records") {
        for layer in step["layers"].as_array().expect("layers") {
            let dir = example.join(layer["dir"].as_str().expect("dir"));
            let (ok, text) = replay(&vvp_bin, &vvp, &dir);
            assert!(ok && text.contains("PASS "), "{}:\n{text}", dir.display());
            n += 1;
        }
    }
    assert_eq!(n, 2);
}
