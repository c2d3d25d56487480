//! What every figure is drawn with: the drawing surface, the shared colours and legend style,
//! and the PNG writer.

use super::font::ensure_font;
use crate::error::{EvalError, Result};
use crate::report::EvalReport;
use plotters::prelude::*;
use star_cf::fsutil::write_atomic;
use std::path::Path;

/// The drawing surface of one figure.
pub(super) type Root<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
/// What drawing on a [`Root`] can fail with.
pub(super) type DrawError =
    DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

/// Distinct colours for series within one chart.
pub(super) const SERIES: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A plotting error about the figure at `path`.
pub(super) fn plot_err(path: &Path, e: impl std::fmt::Display) -> EvalError {
    EvalError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Fails, naming `path`, when `report` has no methods to draw.
pub(super) fn check_methods(report: &EvalReport, path: &Path) -> Result<()> {
    if report.methods.is_empty() {
        return Err(plot_err(path, "the report has no methods to plot"));
    }
    Ok(())
}

/// Draws a `size` figure with `draw` into an RGB buffer (3 bytes per pixel, rows top to
/// bottom), after checking that a font is available.
pub(super) fn draw_rgb(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Root<'_>) -> std::result::Result<(), DrawError>,
) -> Result<Vec<u8>> {
    ensure_font(path)?;
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        let drawn = root.fill(&WHITE).and_then(|()| draw(&root));
        drawn
            .and_then(|()| root.present())
            .map_err(|e| plot_err(path, e))?;
    }
    Ok(rgb)
}

/// Draws a `size` figure with `draw` and writes it to `path` as PNG, atomically (a temporary
/// file, then a rename).
pub(super) fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Root<'_>) -> std::result::Result<(), DrawError>,
) -> Result<()> {
    let rgb = draw_rgb(path, size, draw)?;
    write_atomic(path, |w| {
        let mut enc = png::Encoder::new(w, size.0, size.1);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut png = enc.write_header()?;
        png.write_image_data(&rgb)?;
        png.finish()?;
        Ok(())
    })?;
    Ok(())
}

/// Draws the legend of `chart`'s labelled series at `position`.
pub(super) fn draw_legend<'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> std::result::Result<(), DrawError> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
}

/// Helpers for the figures' tests: reports to draw and pixel probes.
#[cfg(test)]
pub(super) mod testing {
    use crate::metrics::Metrics;
    use crate::report::{EvalReport, MethodReport};
    use crate::runner::Latency;
    use plotters::style::RGBColor;
    use star_cf::split::SplitKind;

    /// A method with every accuracy metric `avg_hr`, all outputs valid, latency p50 `p50`
    /// and p95 twice that.
    pub fn method(avg_hr: f64, p50: f64) -> MethodReport {
        let mut v = [avg_hr; 9];
        v[8] = 1.0;
        MethodReport {
            metrics: Metrics::from_values(v),
            latency_ms: Latency {
                p50,
                p95: 2.0 * p50,
            },
            ..Default::default()
        }
    }

    /// A test-split report of 10 users on 1+19 candidates holding `methods` in order.
    pub fn report(methods: Vec<(&str, MethodReport)>) -> EvalReport {
        EvalReport {
            dataset: "tiny".into(),
            split: SplitKind::Test,
            candidates: 20,
            seed: 1,
            users: 10,
            methods: methods.into_iter().map(|(n, m)| (n.into(), m)).collect(),
            comparisons: Vec::new(),
        }
    }

    /// The colour of pixel `(x, y)` of an RGB buffer `width` pixels wide.
    pub fn pixel(rgb: &[u8], width: u32, x: u32, y: u32) -> RGBColor {
        let i = 3 * (y as usize * width as usize + x as usize);
        RGBColor(rgb[i], rgb[i + 1], rgb[i + 2])
    }

    /// Horizontal runs of `colour` at least `min` pixels long: (row, first x, length).
    pub fn runs(
        rgb: &[u8],
        (w, h): (u32, u32),
        colour: RGBColor,
        min: u32,
    ) -> Vec<(u32, u32, u32)> {
        let mut out = Vec::new();
        for y in 0..h {
            let mut x = 0;
            while x < w {
                if pixel(rgb, w, x, y) == colour {
                    let start = x;
                    while x < w && pixel(rgb, w, x, y) == colour {
                        x += 1;
                    }
                    if x - start >= min {
                        out.push((y, start, x - start));
                    }
                } else {
                    x += 1;
                }
            }
        }
        out
    }
}
