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
    let mut svg = String::new();
    let err = |e: &dyn std::fmt::Display| PlotError::Draw {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let (left, right) = root.split_horizontally(560);
        draw_panel(
            &left,
            &bars,
            &segments,
            0,
            "Memory traffic per training sample",
        )
        .map_err(|e| err(&e))?;
        draw_panel(
            &right,
            &bars,
            &segments,
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
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}
