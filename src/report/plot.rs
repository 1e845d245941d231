//! SVG plots (plotters): the traffic breakdown of each rule in a comparison.

use super::CompareReport;
use crate::hw::counters::{Rw, Unit};
use crate::output::{OutputError, write_atomic};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// A plot that could not be drawn or written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Drawing failed.
    #[error("{path}: cannot draw plot: {message}")]
    Draw {
        /// Output path.
        path: String,
        /// The backend's message.
        message: String,
    },
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] OutputError),
}

/// Stacked bars, one per run: bytes moved per memory (SRAM banks, ROM, DRAM),
/// in MB per training sample.
pub fn write_traffic_svg(path: &Path, report: &CompareReport) -> Result<(), PlotError> {
    let bars: Vec<(String, [f64; 6])> = report
        .runs
        .iter()
        .map(|r| {
            let t = &r.measured.totals;
            let n = r.measured.samples.max(1) as f64 * 1e6;
            let bank = |u: Unit| {
                t.sram_bytes_by_bank
                    .iter()
                    .find(|(x, _)| *x == u)
                    .map_or(0.0, |(_, rw)| (rw.read + rw.write) as f64)
            };
            let rom_bytes = t.rom_read_words as f64 * (r.measured_rom_word_bits() as f64 / 8.0);
            (
                r.run.config.rule.label(),
                [
                    bank(Unit::Weight) / n,
                    bank(Unit::Activation) / n,
                    bank(Unit::Error) / n,
                    bank(Unit::Stash) / n,
                    rom_bytes / n,
                    (t.dram_bytes.read + t.dram_bytes.write) as f64 / n,
                ],
            )
        })
        .collect();
    stacked_svg(path, &bars, "Memory traffic per training sample")
}

/// Stacked bars, one per rule and core (with one core per layer, per
/// layer): bytes moved per memory, in MB per training sample, from each
/// core's counters; the bars of a core stand together, labelled
/// `L<core>` and the rule.
pub fn write_layer_traffic_svg(path: &Path, report: &CompareReport) -> Result<(), PlotError> {
    let cores = report
        .runs
        .iter()
        .map(|r| r.measured.cores.len())
        .max()
        .unwrap_or(0);
    let mut bars: Vec<(String, [f64; 6])> = Vec::new();
    for core in 0..cores {
        for r in &report.runs {
            let Some(c) = r.measured.cores.get(core) else {
                continue;
            };
            let n = r.measured.samples.max(1) as f64 * 1e6;
            let bytes = |u: Unit| {
                let rw =
                    r.core_unit_bytes(core, u, Rw::Read) + r.core_unit_bytes(core, u, Rw::Write);
                rw as f64 / n
            };
            let dram = c
                .dram_bytes
                .iter()
                .flatten()
                .map(|&b| b as f64)
                .sum::<f64>()
                / n;
            bars.push((
                format!("L{core} {}", r.run.config.rule.label()),
                [
                    bytes(Unit::Weight),
                    bytes(Unit::Activation),
                    bytes(Unit::Error),
                    bytes(Unit::Stash),
                    bytes(Unit::Rom),
                    dram,
                ],
            ));
        }
    }
    stacked_svg(path, &bars, "Memory traffic per training sample and layer")
}

/// The memories of a traffic bar, in stacking order, with their colours.
const SEGMENTS: [(&str, RGBColor); 6] = [
    ("SRAM weight", RGBColor(31, 119, 180)),
    ("SRAM activation", RGBColor(255, 127, 14)),
    ("SRAM error", RGBColor(44, 160, 44)),
    ("SRAM stash", RGBColor(214, 39, 40)),
    ("ROM", RGBColor(148, 103, 189)),
    ("DRAM", RGBColor(140, 86, 75)),
];

/// Two panels of the stacked `bars` (MB per sample by memory): all of it,
/// and all but the weight bank.
fn stacked_svg(path: &Path, bars: &[(String, [f64; 6])], caption: &str) -> Result<(), PlotError> {
    let segments = &SEGMENTS;
    let mut svg = String::new();
    let err = |e: &dyn std::fmt::Display| PlotError::Draw {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    {
        // Two panels, each wide enough for 70 px per bar.
        let panel = 560.max(140 + 70 * bars.len() as u32);
        let root = SVGBackend::with_string(&mut svg, (2 * panel - 20, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let (left, right) = root.split_horizontally(panel);
        draw_panel(&left, bars, segments, 0, caption).map_err(|e| err(&e))?;
        draw_panel(
            &right,
            bars,
            segments,
            1,
            "The same without the weight bank",
        )
        .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    write_atomic(path, |w| w.write_all(svg.as_bytes()))?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// One panel of stacked bars from segment `first` on.
fn draw_panel(
    area: &Area<'_>,
    bars: &[(String, [f64; 6])],
    segments: &[(&str, RGBColor); 6],
    first: usize,
    caption: &str,
) -> DrawResult {
    let ymax = bars
        .iter()
        .map(|(_, s)| s[first..].iter().sum::<f64>())
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.45;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..bars.len() as f64, 0f64..ymax)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("MB per sample")
        .draw()?;
    // The rule under each bar's centre (the mesh's key points need not fall
    // on the centres, so the labels are placed by hand).
    let label_style = ("sans-serif", 12)
        .into_text_style(area)
        .pos(Pos::new(HPos::Center, VPos::Top));
    for (i, (label, _)) in bars.iter().enumerate() {
        // backend_coord is absolute; the panel draws relative to its corner.
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        let (bx, by) = area.get_base_pixel();
        area.draw(&Text::new(
            label.clone(),
            (x - bx, y - by + 6),
            label_style.clone(),
        ))?;
    }
    for (k, (name, color)) in segments.iter().enumerate().skip(first) {
        let rects: Vec<Rectangle<(f64, f64)>> = bars
            .iter()
            .enumerate()
            .map(|(i, (_, s))| {
                let base: f64 = s[first..k].iter().sum();
                let x0 = i as f64 + 0.2;
                Rectangle::new([(x0, base), (x0 + 0.6, base + s[k])], color.filled())
            })
            .collect();
        let color = *color;
        chart
            .draw_series(rects)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

/// One point of a sweep plot: rule, widths of the weight, activation, error
/// and update formats, test accuracy (fraction) and energy per sample (pJ).
#[derive(Clone, Debug, PartialEq)]
pub struct SweepPoint {
    /// Rule label.
    pub rule: String,
    /// Widths `[weight, activation, error, update]`, bits.
    pub bits: [u32; 4],
    /// Test accuracy, fraction.
    pub accuracy: f64,
    /// Estimated energy per training sample, pJ.
    pub energy_pj: f64,
}

const CLASS_NAMES: [&str; 4] = ["weight", "activation", "error", "update"];
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Writes the sweep plots into `dir`: `accuracy-vs-<class>-bits.svg` and
/// `energy-vs-<class>-bits.svg` for every class whose width varies (one line
/// per rule: the best accuracy, resp. the lowest energy, over the other
/// axes at each width), and `pareto.svg` (accuracy against energy, every
/// point, with each rule's front joined). Returns the files written.
pub fn write_sweep_svgs(
    dir: &Path,
    points: &[SweepPoint],
) -> Result<Vec<std::path::PathBuf>, PlotError> {
    let mut rules: Vec<String> = points.iter().map(|p| p.rule.clone()).collect();
    rules.sort();
    rules.dedup();
    let mut written = Vec::new();
    for (c, class) in CLASS_NAMES.iter().enumerate() {
        let mut widths: Vec<u32> = points.iter().map(|p| p.bits[c]).collect();
        widths.sort_unstable();
        widths.dedup();
        if widths.len() < 2 {
            continue;
        }
        for (metric, best_is_max) in [("accuracy", true), ("energy", false)] {
            let series: Vec<(String, Vec<(f64, f64)>)> = rules
                .iter()
                .map(|rule| {
                    let line = widths
                        .iter()
                        .filter_map(|&w| {
                            let vals = points
                                .iter()
                                .filter(|p| &p.rule == rule && p.bits[c] == w)
                                .map(|p| {
                                    if best_is_max {
                                        100.0 * p.accuracy
                                    } else {
                                        p.energy_pj * 1e-6
                                    }
                                });
                            let v = if best_is_max {
                                vals.fold(f64::NAN, f64::max)
                            } else {
                                vals.fold(f64::NAN, f64::min)
                            };
                            (!v.is_nan()).then_some((w as f64, v))
                        })
                        .collect();
                    (rule.clone(), line)
                })
                .collect();
            let path = dir.join(format!("{metric}-vs-{class}-bits.svg"));
            let y_desc = if best_is_max {
                "test accuracy (%), best"
            } else {
                "energy per sample (µJ), lowest"
            };
            line_chart(
                &path,
                &format!("{metric} vs {class} bits"),
                &format!("{class} bits"),
                y_desc,
                &series,
            )?;
            written.push(path);
        }
    }
    let path = dir.join("pareto.svg");
    let series: Vec<(String, Vec<(f64, f64)>)> = rules
        .iter()
        .map(|rule| {
            let pts: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| &p.rule == rule)
                .map(|p| (p.energy_pj * 1e-6, 100.0 * p.accuracy))
                .collect();
            (rule.clone(), pts)
        })
        .collect();
    pareto_chart(&path, &series)?;
    written.push(path);
    Ok(written)
}

fn bounds(series: &[(String, Vec<(f64, f64)>)]) -> ((f64, f64), (f64, f64)) {
    let all = series.iter().flat_map(|(_, s)| s.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    let pad = |a: f64, b: f64| {
        let d = ((b - a) * 0.08).max(1e-9);
        (a - d, b + d)
    };
    (pad(x0, x1), pad(y0, y1))
}

fn render(path: &Path, draw: impl FnOnce(&Area<'_>) -> DrawResult) -> Result<(), PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 460)).into_drawing_area();
        let r = root
            .fill(&WHITE)
            .and_then(|_| draw(&root))
            .and_then(|_| root.present());
        r.map_err(|e| PlotError::Draw {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    }
    write_atomic(path, |w| w.write_all(svg.as_bytes()))?;
    Ok(())
}

fn line_chart(
    path: &Path,
    caption: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), PlotError> {
    let ((x0, x1), (y0, y1)) = bounds(series);
    render(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()?;
        for (k, (name, pts)) in series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}

fn pareto_chart(path: &Path, series: &[(String, Vec<(f64, f64)>)]) -> Result<(), PlotError> {
    let ((x0, x1), (y0, y1)) = bounds(series);
    render(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Accuracy against energy (Pareto front joined)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc("energy per sample (µJ)")
            .y_desc("test accuracy (%)")
            .draw()?;
        for (k, (name, pts)) in series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(
                    pts.iter()
                        .map(|&p| Circle::new(p, 3, color.mix(0.5).filled())),
                )?
                .label(name.clone())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
            // front: accuracy high, energy low
            let as_acc_cost: Vec<(f64, f64)> = pts.iter().map(|&(e, a)| (a, e)).collect();
            let on = super::pareto::front(&as_acc_cost);
            let mut front: Vec<(f64, f64)> = pts
                .iter()
                .zip(&on)
                .filter(|(_, f)| **f)
                .map(|(p, _)| *p)
                .collect();
            front.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart.draw_series(LineSeries::new(
                front.iter().copied(),
                color.stroke_width(2),
            ))?;
            chart.draw_series(front.iter().map(|&p| Circle::new(p, 5, color.filled())))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}

/// The legend box every plot uses, at `position`.
fn draw_legend<'a>(
    chart: &mut ChartContext<
        'a,
        SVGBackend<'a>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    position: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(position)
        .draw()
}
