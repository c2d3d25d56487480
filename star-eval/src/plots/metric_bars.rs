//! The metrics-per-method figure: every method's accuracy metrics as horizontal grouped bars.

use super::canvas::{check_methods, draw_legend, render, DrawError, Root, SERIES};
use crate::error::Result;
use crate::report::EvalReport;
use plotters::prelude::*;
use std::path::Path;

/// Metrics drawn by [`metrics_per_method`], as [`crate::Metrics::KEYS`] names them.
const BAR_METRICS: [(&str, &str); 6] = [
    ("HR@1", "HR@1"),
    ("HR@5", "HR@5"),
    ("HR@10", "HR@10"),
    ("NDCG@10", "NDCG@10"),
    ("MRR", "MRR"),
    ("avg_HR", "avg-HR"),
];

/// Draws every method's HR@1, HR@5, HR@10, NDCG@10, MRR and avg-HR (×100) as horizontal
/// grouped bars into a PNG at `path`, methods top to bottom in report order.
pub fn metrics_per_method(report: &EvalReport, path: &Path) -> Result<()> {
    check_methods(report, path)?;
    let n = report.methods.len();
    let height = 140 + 11 * BAR_METRICS.len() as u32 * n as u32 + 10 * n as u32;
    render(path, (1100, height.max(400)), |root| {
        draw_metrics(report, root)
    })
}

fn draw_metrics(report: &EvalReport, root: &Root<'_>) -> std::result::Result<(), DrawError> {
    let n = report.methods.len();
    // Method i (from the top) occupies y in [(n - i - 1)·ROW, (n - i)·ROW); integer y keeps
    // plotters' default label formatting available for the key points.
    const ROW: i32 = 1000;
    let n32 = n as i32;
    let centres: Vec<i32> = (0..n32).map(|i| (n32 - i) * ROW - ROW / 2).collect();
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "Metrics per method: {}, {} split, {} users, 1+{} candidates",
                report.dataset,
                report.split,
                report.users,
                report.candidates.saturating_sub(1)
            ),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(190)
        // Room right of 100 for the legend.
        .build_cartesian_2d(0f64..118f64, (0..n32 * ROW).with_key_points(centres))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("metric ×100")
        .x_label_formatter(&|x| {
            if *x <= 100.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| {
            let i = n32 - 1 - y.div_euclid(ROW);
            report
                .methods
                .get(i.max(0) as usize)
                .map(|(name, _)| name.clone())
                .unwrap_or_default()
        })
        .label_style(("sans-serif", 15))
        .draw()?;
    let bar = ROW * 8 / 10 / BAR_METRICS.len() as i32;
    for (j, (key, label)) in BAR_METRICS.iter().enumerate() {
        let colour = SERIES[j % SERIES.len()];
        let bars = report.methods.iter().enumerate().map(|(i, (_, m))| {
            let top = (n32 - i as i32) * ROW - ROW / 10 - j as i32 * bar;
            let v = 100.0 * m.metrics.get(key).unwrap_or(0.0);
            Rectangle::new([(0.0, top - bar), (v, top)], colour.filled())
        });
        chart
            .draw_series(bars)?
            .label(*label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plots::canvas::draw_rgb;
    use crate::plots::canvas::testing::{method, report, runs};

    #[test]
    fn metric_bars_are_as_long_as_their_values() {
        let r = report(vec![("A", method(0.3, 1.0)), ("B", method(0.6, 1.0))]);
        let size = (1100, 600);
        let rgb = draw_rgb(Path::new("m.png"), size, |root| draw_metrics(&r, root)).unwrap();
        // avg-HR is the last bar colour; its legend swatch (14 px) is too short to count.
        let bars = runs(&rgb, size, SERIES[5], 20);
        assert!(!bars.is_empty());
        // Rows of one bar are contiguous; the next bar starts after a gap.
        let gap = bars.windows(2).position(|w| w[1].0 > w[0].0 + 1).unwrap();
        let (a, b) = (bars[0], bars[gap + 1]);
        assert_eq!(a.1, b.1, "bars start at the same axis");
        let ratio = b.2 as f64 / a.2 as f64;
        assert!((ratio - 2.0).abs() < 0.03, "B/A bar length {ratio}");
        // Six metrics, six colours.
        for c in SERIES {
            assert!(runs(&rgb, size, c, 20).len() >= 2, "{c:?}");
        }
    }
}
