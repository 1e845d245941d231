//! SVG plots (plotters): the traffic breakdown of each rule in a comparison.

use super::CompareReport;
use crate::hw::counters::Unit;
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
    let segments: [(&str, RGBColor); 6] = [
        ("SRAM weight", RGBColor(31, 119, 180)),
        ("SRAM activation", RGBColor(255, 127, 14)),
        ("SRAM error", RGBColor(44, 160, 44)),
        ("SRAM stash", RGBColor(214, 39, 40)),
        ("ROM", RGBColor(148, 103, 189)),
        ("DRAM", RGBColor(140, 86, 75)),
    ];
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
    let ymax = bars
        .iter()
        .map(|(_, s)| s.iter().sum::<f64>())
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.15;
    let mut svg = String::new();
    let err = |e: &dyn std::fmt::Display| PlotError::Draw {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    {
        let root = SVGBackend::with_string(&mut svg, (760, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let labels: Vec<String> = bars.iter().map(|(l, _)| l.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption("Memory traffic per training sample", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..bars.len() as f64, 0f64..ymax)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("MB per sample")
            .draw()
            .map_err(|e| err(&e))?;
        // The rule under each bar's centre (the mesh's key points need not
        // fall on the centres, so the labels are placed by hand).
        let label_style = ("sans-serif", 12)
            .into_text_style(&root)
            .pos(Pos::new(HPos::Center, VPos::Top));
        for (i, label) in labels.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
            root.draw(&Text::new(label.clone(), (x, y + 6), label_style.clone()))
                .map_err(|e| err(&e))?;
        }
        for (k, (name, color)) in segments.iter().enumerate() {
            let rects: Vec<Rectangle<(f64, f64)>> = bars
                .iter()
                .enumerate()
                .map(|(i, (_, s))| {
                    let base: f64 = s[..k].iter().sum();
                    let x0 = i as f64 + 0.2;
                    Rectangle::new([(x0, base), (x0 + 0.6, base + s[k])], color.filled())
                })
                .collect();
            chart
                .draw_series(rects)
                .map_err(|e| err(&e))?
                .label(*name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    write_atomic(path, |w| w.write_all(svg.as_bytes()))?;
    Ok(())
}
