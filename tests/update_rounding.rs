//! Updates rounded to zero (`docs/arithmetic.md`): the datapath's counts
//! (sorted inputs, one walk per update) against a naive per-element
//! reference that requantises every product with the real requantiser and
//! compares `Δ` with 0, for random formats, learning rates, roundings and
//! data, in both lanes (the 16-bit fast path and the generic path); and the
//! counts as `locus train` reports them on small synthetic data.

mod common;

use common::{locus, ok, s, synth};
use locus::hw::datapath::{Datapath, FixedDatapath, UpdateRounding};
use locus::hw::model::{self, HwModel};
use locus::quant::{Lfsr, Overflow, OverflowStats, QFormat, Raw, Requantizer, Rounding};
use proptest::prelude::*;
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Clone)]
struct Case {
    ebits: u32,
    efrac: u32,
    abits: u32,
    afrac: u32,
    ufrac: u32,
    /// Write-back shift `frac_u − frac_w`.
    k: u32,
    lr_shift: u32,
    rounding: Rounding,
    overflow: Overflow,
    rows: usize,
    e: Vec<i64>,
    x: Vec<i64>,
}

fn rounding() -> impl Strategy<Value = Rounding> {
    prop_oneof![
        Just(Rounding::Truncate),
        Just(Rounding::Nearest),
        Just(Rounding::Stochastic)
    ]
}

/// A value of `bits` bits, zero a third of the time.
fn value(bits: u32) -> impl Strategy<Value = i64> {
    let m = 1i64 << (bits - 1);
    prop_oneof![1 => Just(0i64), 2 => -m..m]
}

fn case() -> impl Strategy<Value = Case> {
    (
        (4u32..=16, 4u32..=16),
        (0u32..=14, 0u32..=14),
        (0u32..=4, 0u32..=20),
        (
            rounding(),
            prop_oneof![Just(Overflow::Saturate), Just(Overflow::Wrap)],
        ),
        (1usize..=12, 1usize..=40),
    )
        .prop_flat_map(
            |((ebits, abits), (ef, af), (k, lr), (rounding, overflow), (rows, cols))| {
                let (efrac, afrac) = (ef % ebits, af % abits);
                // Update fraction from 2 to 14 (weights 16 bits, frac_w = frac_u − k).
                (
                    Just((ebits, efrac, abits, afrac, k, lr, rounding, overflow, rows)),
                    (k + 2)..=14u32,
                    proptest::collection::vec(value(ebits), rows),
                    proptest::collection::vec(value(abits), cols),
                )
            },
        )
        .prop_map(
            |((ebits, efrac, abits, afrac, k, lr_shift, rounding, overflow, rows), ufrac, e, x)| {
                Case {
                    ebits,
                    efrac,
                    abits,
                    afrac,
                    ufrac,
                    k,
                    lr_shift,
                    rounding,
                    overflow,
                    rows,
                    e,
                    x,
                }
            },
        )
}

fn base_model() -> HwModel {
    model::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json")).unwrap()
}

fn model_of(c: &Case) -> HwModel {
    let mut m = base_model();
    let f = &mut m.formats;
    (f.error.bits, f.error.frac) = (c.ebits, c.efrac);
    (f.activation.bits, f.activation.frac) = (c.abits, c.afrac);
    (f.update.bits, f.update.frac) = (16, c.ufrac);
    (f.weight.bits, f.weight.frac) = (16, c.ufrac - c.k);
    f.update.rounding = c.rounding;
    f.update.overflow = c.overflow;
    m
}

/// The update shift `s`: `Δ = requant_u(e·x, s)`.
fn shift(c: &Case) -> i32 {
    (c.efrac + c.afrac + c.lr_shift) as i32 - c.ufrac as i32
}

/// Per element of `[W | b]`: the exact product (the bias input is
/// `2^afrac`), requantised by the real requantiser into the update format;
/// products ≠ 0, those with `|e·x| < 2^s`, and those whose `Δ` is 0 without
/// an overflow event (a wrap to 0 is an overflow, not rounding).
fn reference(c: &Case) -> (u64, u64, u64) {
    let s = shift(c);
    let uq = QFormat::new(16, c.ufrac).unwrap();
    let rq = Requantizer::with_shift(s, uq, c.rounding, c.overflow).unwrap();
    let mut lfsr = Lfsr::new(1).unwrap();
    let (mut products, mut sub, mut vanished) = (0, 0, 0);
    for &e in &c.e {
        for &x in c.x.iter().chain(&[1i64 << c.afrac]) {
            let p = e * x;
            if p == 0 {
                continue;
            }
            products += 1;
            sub += (s > 0 && (p.unsigned_abs() as u128) < 1u128 << s) as u64;
            let mut st = OverflowStats::default();
            let d = rq.apply(p, &mut lfsr, &mut st);
            vanished += (d == 0 && st.total() == 0) as u64;
        }
    }
    (products, sub, vanished)
}

fn counted<V: Raw>(c: &Case) -> UpdateRounding {
    let mut dp = FixedDatapath::<V>::new(&model_of(c), c.lr_shift).unwrap();
    let v = |s: &[i64]| -> Vec<V> { s.iter().map(|&x| V::from_i64_unchecked(x)).collect() };
    let (e, x) = (v(&c.e), v(&c.x));
    let mut w = v(&vec![0; c.rows * c.x.len()]);
    let mut b = v(&vec![0; c.rows]);
    dp.update(&mut w, &mut b, &e, &x);
    // The same again: counts add up over calls.
    dp.update(&mut w, &mut b, &e, &x);
    dp.update_rounding()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn counts_equal_the_per_element_reference(c in case()) {
        let (products, sub, vanished) = reference(&c);
        let want = UpdateRounding {
            products: 2 * products,
            sub_lsb: 2 * sub,
            vanished: (c.rounding != Rounding::Stochastic).then_some(2 * vanished),
        };
        prop_assert_eq!(counted::<i16>(&c), want, "i16 lanes, shift {}", shift(&c));
        prop_assert_eq!(counted::<i32>(&c), want, "i32 lanes, shift {}", shift(&c));
    }
}

/// `measured.update_rounding` of a report.
fn rounding_of(report: &Value) -> (u64, u64, Option<u64>) {
    let u = &report["measured"]["update_rounding"];
    (
        u["products"].as_u64().unwrap(),
        u["sub_lsb"].as_u64().unwrap(),
        u["vanished"].as_u64(),
    )
}

#[test]
fn train_reports_updates_rounded_to_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 400, 100);
    let stochastic = tmp.path().join("stochastic.json");
    let mut m = common::default_model();
    m["formats"]["update"]["rounding"] = "stochastic".into();
    common::write_json(&stochastic, &m);
    let train = |name: &str, lr: &str, extra: &[&str]| -> (String, String, Value) {
        let out = tmp.path().join(format!("{name}.json"));
        let mut args = vec![
            "train",
            "--layers",
            "16,12,4",
            "--data",
            s(&data),
            "--lr",
            lr,
            "--out",
            s(&out),
        ];
        args.extend_from_slice(extra);
        let output = locus(&args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let stdout = ok(&output, name);
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        (stdout, stderr, report)
    };
    // The warning of a run that lost (nearly) all its updates to rounding.
    let warned = |stderr: &str| stderr.contains("nonzero weight updates rounded to zero");
    let row = |stdout: &str, name: &str| -> Option<f64> {
        let line = stdout.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };

    // Default model (error Q4.12, activation Q8.8, update Q2.14, nearest):
    // lr 2^-20 gives an update shift of 26, so only |e·x| > 2^25 (e.g. an
    // error above 1.0 times an input above 32.0) survives.
    let (tiny_out, tiny_err, tiny) = train("tiny", "0.00000095367431640625", &[]);
    let (p, sub, v) = rounding_of(&tiny);
    let v = v.expect("nearest: vanished counted");
    assert!(p > 0 && v <= sub && sub <= p, "{p} {sub} {v}");
    let tiny_frac = v as f64 / p as f64;
    assert!(tiny_frac > 0.99, "lr 2^-20: {v} of {p} vanished");
    assert!(
        warned(&tiny_err) && tiny_err.contains("formats.update.rounding"),
        "{tiny_err}"
    );
    let shown = row(&tiny_out, "updates rounded to 0").expect("row shown");
    assert!(
        (shown - 100.0 * tiny_frac).abs() < 0.006,
        "{shown}: {tiny_out}"
    );

    // lr 2^-4: shift 10, |e·x| ≤ 2^9 vanishes: far fewer.
    let (big_out, big_err, big) = train("big", "0.0625", &[]);
    let (p, sub, v) = rounding_of(&big);
    let v = v.expect("nearest: vanished counted");
    assert!(p > 0 && v <= sub && sub <= p, "{p} {sub} {v}");
    let big_frac = v as f64 / p as f64;
    assert!(
        big_frac < 0.5 && big_frac < tiny_frac,
        "lr 2^-4: {v} of {p}"
    );
    assert!(!warned(&big_err), "{big_err}");
    let shown = row(&big_out, "updates rounded to 0").expect("row shown");
    assert!(
        (shown - 100.0 * big_frac).abs() < 0.006,
        "{shown}: {big_out}"
    );

    // Stochastic updates: Δ = 0 is not counted (null), below one LSB is.
    let (st_out, st_err, st) = train("stochastic", "0.0625", &["--model", s(&stochastic)]);
    let (p, sub, v) = rounding_of(&st);
    assert_eq!(v, None);
    assert!(p > 0 && sub > 0 && sub < p, "{p} {sub}");
    assert!(row(&st_out, "updates rounded to 0").is_none(), "{st_out}");
    assert!(row(&st_out, "updates below 1 LSB").is_some(), "{st_out}");
    assert!(!warned(&st_err), "{st_err}");

    // f32 models no rounding: all zero, and no rows.
    let (f32_out, f32_err, f) = train("f32", "0.00000095367431640625", &["--arith", "f32"]);
    assert_eq!(rounding_of(&f), (0, 0, Some(0)));
    assert!(!f32_out.contains("updates "), "{f32_out}");
    assert!(!warned(&f32_err), "{f32_err}");
}
