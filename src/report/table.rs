//! Terminal tables for people: one column per run, one row per quantity.

use super::{CompareReport, RunReport};
use crate::hw::counters::Class;
use std::io::{self, Write};

/// `1234567` as `1.23 M` (SI prefixes, 3 significant digits).
pub fn si(x: f64) -> String {
    let a = x.abs();
    let (d, p) = if a >= 1e12 {
        (1e12, "T")
    } else if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let v = x / d;
    let s = if v.abs() >= 100.0 || p.is_empty() && v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if p.is_empty() { s } else { format!("{s} {p}") }
}

/// A saving in percent, or `local only` when backprop's best is 0.
fn fmt_saving(p: Option<f64>) -> String {
    match p {
        Some(p) => format!("{p:.1}%"),
        None => "local only".to_string(),
    }
}

type Row = (String, Box<dyn Fn(&RunReport) -> f64>, &'static str);

fn rows() -> Vec<Row> {
    let mut r: Vec<Row> = vec![(
        "test accuracy".into(),
        Box::new(|r: &RunReport| 100.0 * r.test_accuracy()),
        "%",
    )];
    // The numerics of the weight update (docs/arithmetic.md, "Updates
    // rounded to zero"): NaN where not counted (stochastic rounding).
    r.push((
        "updates rounded to 0".into(),
        Box::new(|r: &RunReport| {
            let u = &r.measured.update_rounding;
            u.vanished_fraction().map_or(f64::NAN, |f| 100.0 * f)
        }),
        "% of updates",
    ));
    r.push((
        "updates below 1 LSB".into(),
        Box::new(|r: &RunReport| 100.0 * r.measured.update_rounding.sub_lsb_fraction()),
        "% of updates",
    ));
    // Classifier: the learned classifiers held in SRAM (local-learned).
    for class in [
        Class::Weight,
        Class::Activation,
        Class::Error,
        Class::Classifier,
    ] {
        for (dir, read) in [("read", true), ("write", false)] {
            r.push((
                format!("SRAM {} {dir}", class.name()),
                Box::new(move |rep: &RunReport| {
                    let rw = rep
                        .measured
                        .totals
                        .sram_bytes_by_class
                        .iter()
                        .find(|(c, _)| *c == class)
                        .map(|(_, rw)| *rw)
                        .unwrap_or_default();
                    (if read { rw.read } else { rw.write }) as f64
                }),
                "B",
            ));
        }
    }
    r.push((
        "ROM reads".into(),
        Box::new(|r| r.measured.totals.rom_read_words as f64),
        "words",
    ));
    r.push((
        "DRAM read".into(),
        Box::new(|r| r.measured.totals.dram_bytes.read as f64),
        "B",
    ));
    r.push((
        "DRAM written".into(),
        Box::new(|r| r.measured.totals.dram_bytes.write as f64),
        "B",
    ));
    // Streamed weight-bank contents (weights and velocities; learned
    // classifiers) and fixed random matrices held in DRAM (classifiers):
    // left out when no run has them.
    for (what, classes) in [
        ("weights", &[Class::Weight, Class::Update][..]),
        ("classifiers", &[Class::Classifier][..]),
    ] {
        for (dir, read) in [("read", true), ("written", false)] {
            r.push((
                format!("DRAM {dir}, {what}"),
                Box::new(move |rep: &RunReport| {
                    let by_class = &rep.measured.totals.dram_bytes_by_class;
                    by_class
                        .iter()
                        .filter(|(c, _)| classes.contains(c))
                        .map(|(_, rw)| if read { rw.read } else { rw.write } as f64)
                        .sum()
                }),
                "B",
            ));
        }
    }
    // DRAM bytes (read + written) by pass: left out when zero for every run.
    for phase in crate::hw::counters::Phase::ALL {
        let p = phase.index();
        r.push((
            format!("DRAM in {} pass", phase.name().replace('_', "-")),
            Box::new(move |rep: &RunReport| {
                rep.measured
                    .cores
                    .iter()
                    .map(|c| (c.dram_bytes[p][0] + c.dram_bytes[p][1]) as f64)
                    .sum()
            }),
            "B",
        ));
    }
    r.push((
        "interconnect".into(),
        Box::new(|r| r.measured.totals.interconnect_word_hops as f64),
        "word-hops",
    ));
    r.push((
        "MACs".into(),
        Box::new(|r| r.measured.totals.macs as f64),
        "",
    ));
    r.push((
        "peak stash (SRAM)".into(),
        Box::new(|r| r.measured.totals.peak_stash_bytes as f64),
        "B",
    ));
    r.push((
        "peak stash (DRAM)".into(),
        Box::new(|r| r.measured.totals.peak_spill_bytes as f64),
        "B",
    ));
    r.push((
        "peak activation storage".into(),
        Box::new(|r| r.measured.totals.peak_activation_storage_bytes as f64),
        "B",
    ));
    r.push((
        "cycles / sample".into(),
        Box::new(|r| r.estimated.timing.cycles_per_sample),
        "est.",
    ));
    r.push((
        "throughput".into(),
        Box::new(|r| r.estimated.timing.samples_per_s),
        "samples/s est.",
    ));
    r.push((
        "energy / sample".into(),
        Box::new(|r| r.estimated.energy_per_sample_pj),
        "pJ est.",
    ));
    r
}

/// Prints the comparison: one column per run, the saving of local over the
/// best backprop policy for the metrics `CompareReport` compares. SRAM rows,
/// streamed-weight and per-pass DRAM rows and update-rounding rows that are
/// zero (or, for updates rounded to 0,
/// not counted) for every run are left out (the JSON report has them all);
/// a cell not counted reads `-`.
pub fn write_compare(w: &mut dyn Write, rep: &CompareReport) -> io::Result<()> {
    let label_w = 26;
    let col_w = 14;
    write!(w, "{:<label_w$}", "")?;
    for r in &rep.runs {
        write!(w, "{:>col_w$}", r.run.config.rule.label())?;
    }
    writeln!(w, "{:>col_w$}  unit", "local saves")?;
    let saving_for = |name: &str| -> Option<String> {
        let metric = match name {
            "DRAM read" | "DRAM written" => None,
            "ROM reads" => Some("rom_read_words"),
            "interconnect" => Some("interconnect_word_hops"),
            "MACs" => Some("macs"),
            "peak activation storage" => Some("peak_activation_storage_bytes"),
            "cycles / sample" => Some("cycles_per_sample"),
            "energy / sample" => Some("energy_per_sample"),
            _ => None,
        }?;
        rep.savings
            .iter()
            .find(|s| s.metric == metric)
            .map(|s| fmt_saving(s.saving_percent))
    };
    for (name, get, unit) in rows() {
        // A bank/class pair no compared rule touches (e.g. learned
        // classifiers when no rule learns one) is left out of the table.
        let nothing = |r: &RunReport| {
            let v = get(r);
            v == 0.0 || v.is_nan()
        };
        let optional = name.starts_with("SRAM ")
            || name.starts_with("updates ")
            || name.ends_with(", weights")
            || name.ends_with(", classifiers")
            || name.ends_with(" pass");
        if optional && rep.runs.iter().all(nothing) {
            continue;
        }
        // Count-only reports (`locus estimate`) have no accuracy.
        if name == "test accuracy" && rep.runs.iter().all(|r| r.run.epochs.is_empty()) {
            continue;
        }
        write!(w, "{name:<label_w$}")?;
        for r in &rep.runs {
            let v = get(r);
            let cell = if v.is_nan() {
                "-".to_string()
            } else if unit.starts_with('%') {
                format!("{v:.2}")
            } else {
                si(v)
            };
            write!(w, "{cell:>col_w$}")?;
        }
        write!(w, "{:>col_w$}", saving_for(&name).unwrap_or_default())?;
        writeln!(w, "  {unit}")?;
    }
    for s in &rep.savings {
        if s.metric == "sram_bytes" || s.metric == "dram_bytes" || s.metric == "peak_stash_bytes" {
            writeln!(
                w,
                "{:<label_w$}local {} vs best bp {} ({}): {} saved",
                format!("total {}", s.metric),
                si(s.local),
                si(s.best_bp),
                s.best_bp_policy,
                fmt_saving(s.saving_percent)
            )?;
        }
    }
    for i in &rep.infeasible {
        writeln!(w, "{} not run: {}", i.rule, i.reason)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::si;

    #[test]
    fn si_prefixes() {
        assert_eq!(si(0.0), "0");
        assert_eq!(si(999.0), "999");
        assert_eq!(si(1234.0), "1.23 k");
        assert_eq!(si(12_345_678.0), "12.3 M");
        assert_eq!(si(3.2e9), "3.20 G");
    }
}
