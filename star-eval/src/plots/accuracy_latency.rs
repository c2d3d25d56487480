//! The accuracy-latency figure: avg-HR against the latency of one ranking call, per method.

use super::canvas::{check_methods, draw_legend, render, DrawError, Root};
use crate::error::Result;
use crate::report::EvalReport;
use plotters::prelude::*;
use std::path::Path;

/// Method families of the accuracy-latency plot: legend label and colour.
const FAMILIES: [(&str, RGBColor); 3] = [
    ("baselines", RGBColor(41, 128, 185)),
    ("teacher", RGBColor(230, 126, 34)),
    ("student", RGBColor(192, 57, 43)),
];

/// The index in [`FAMILIES`] of a method: teacher variants, students, the rest baselines.
fn family(name: &str) -> usize {
    if name.starts_with("teacher") {
        1
    } else if name.starts_with("student") {
        2
    } else {
        0
    }
}

/// The colour of `name`'s family.
fn family_colour(name: &str) -> RGBColor {
    FAMILIES[family(name)].1
}

/// Draws avg-HR (×100) against the median latency of one ranking call (ms, log axis) into a
/// PNG at `path`: a dot at p50, a whisker to p95, the method's name beside it. Latencies
/// below 1 µs are drawn at 1 µs.
pub fn accuracy_latency(report: &EvalReport, path: &Path) -> Result<()> {
    check_methods(report, path)?;
    render(path, (1100, 700), |root| {
        draw_accuracy_latency(report, root)
    })
}

fn draw_accuracy_latency(
    report: &EvalReport,
    root: &Root<'_>,
) -> std::result::Result<(), DrawError> {
    let floor = 1e-3;
    let lat = |v: f64| v.max(floor);
    let (mut lo, mut hi) = (f64::INFINITY, 0f64);
    let (mut ylo, mut yhi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (_, m) in &report.methods {
        lo = lo.min(lat(m.latency_ms.p50));
        hi = hi.max(lat(m.latency_ms.p95).max(lat(m.latency_ms.p50)));
        ylo = ylo.min(100.0 * m.metrics.avg_hr);
        yhi = yhi.max(100.0 * m.metrics.avg_hr);
    }
    let pad = ((yhi - ylo) * 0.08).max(1.0);
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "Accuracy vs latency: {}, {} split ({} users)",
                report.dataset, report.split, report.users
            ),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (lo / 2.0..hi * 8.0).log_scale(),
            (ylo - pad).max(0.0)..(yhi + pad).min(100.0),
        )?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "latency of one ranking call, ms (dot p50, whisker to p95; log scale; below {floor} drawn at {floor})"
        ))
        .y_desc("avg-HR ×100 (mean of HR@1, HR@3, HR@5)")
        .x_label_formatter(&|x| {
            if *x >= 1.0 {
                format!("{x:.0}")
            } else {
                format!("{x}")
            }
        })
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    // Labels go beside their dot, moved up or down when they would cover an earlier label.
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    for (name, m) in &report.methods {
        let c = family_colour(name);
        let y = 100.0 * m.metrics.avg_hr;
        let (p50, p95) = (lat(m.latency_ms.p50), lat(m.latency_ms.p95));
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(p50, y), (p95.max(p50), y)],
            c.stroke_width(2),
        )))?;
        let (px, py) = chart.backend_coord(&(p50, y));
        let w = 9 * name.chars().count() as i32;
        let offset = [-20, 6, -38, 24, -56, 42]
            .into_iter()
            .map(|dy| (9, dy))
            .find(|&(dx, dy)| {
                let (x0, y0) = (px + dx, py + dy);
                placed.iter().all(|&(a, b, aw, bh)| {
                    x0 + w <= a || a + aw <= x0 || y0 + 17 <= b || b + bh <= y0
                })
            })
            .unwrap_or((9, -20));
        placed.push((px + offset.0, py + offset.1, w, 17));
        chart.draw_series(std::iter::once(
            EmptyElement::at((p50, y))
                + Circle::new((0, 0), 6, c.filled())
                + Text::new(name.clone(), offset, ("sans-serif", 15).into_font()),
        ))?;
    }
    for (i, (label, c)) in FAMILIES.into_iter().enumerate() {
        if report.methods.iter().any(|(n, _)| family(n) == i) {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 7, y), 6, c.filled()));
        }
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plots::canvas::draw_rgb;
    use crate::plots::canvas::testing::{method, pixel, report};

    #[test]
    fn accuracy_latency_places_methods_by_latency_and_accuracy() {
        let r = report(vec![
            ("Pop", method(0.4, 0.01)),
            ("student", method(0.7, 10.0)),
        ]);
        let size = (1100, 700);
        let rgb = draw_rgb(Path::new("a.png"), size, |root| {
            draw_accuracy_latency(&r, root)
        })
        .unwrap();
        // Dot centres: mean position of each family colour in the chart's upper-left and
        // upper-right quadrants (the legend sits lower right).
        let centre = |colour: RGBColor, xs: std::ops::Range<u32>| {
            let (mut sx, mut sy, mut n) = (0u64, 0u64, 0u64);
            for y in 0..size.1 * 9 / 10 {
                for x in xs.clone() {
                    if pixel(&rgb, size.0, x, y) == colour {
                        (sx, sy, n) = (sx + x as u64, sy + y as u64, n + 1);
                    }
                }
            }
            assert!(n > 50, "{colour:?}: {n} pixels");
            (sx / n, sy / n)
        };
        let pop = centre(family_colour("Pop"), 0..size.0 / 2);
        let student = centre(family_colour("student"), size.0 / 2..size.0 * 17 / 20);
        assert!(student.0 > pop.0 + 300, "{pop:?} {student:?}");
        assert!(
            student.1 + 300 < pop.1,
            "higher avg-HR is higher up: {pop:?} {student:?}"
        );
    }
}
