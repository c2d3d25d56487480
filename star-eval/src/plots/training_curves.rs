//! The training-curves figure: one panel per trained model, from its [`TrainingLog`].

use super::canvas::{plot_err, render, DrawError, Root, SERIES};
use super::training_log::{MetricLog, TrainingLog};
use crate::error::Result;
use plotters::prelude::*;
use std::path::Path;

/// What one panel of [`training_curves`] shows.
#[derive(Clone, Debug)]
pub struct TrainingPanel {
    /// Panel title (the model's name).
    pub title: String,
    /// The model's logs.
    pub log: TrainingLog,
    /// Training metric on the left axis (per iteration, smoothed), as burn-train logged it,
    /// e.g. [`star_cf::metric_names::LOSS`] or [`star_cf::metric_names::REWARD`].
    pub train_metric: String,
    /// Validation metric on the right axis (per epoch), e.g. [`star_cf::metric_names::NDCG_10`] or
    /// [`star_cf::metric_names::AVG_HR`].
    pub valid_metric: String,
}

/// A centred moving average over `window` values (shorter at the ends).
fn smooth(values: &[f64], window: usize) -> Vec<f64> {
    let half = window / 2;
    (0..values.len())
        .map(|i| {
            let s = &values[i.saturating_sub(half)..(i + half + 1).min(values.len())];
            s.iter().sum::<f64>() / s.len() as f64
        })
        .collect()
}

/// Range of `values` padded by 5% (a unit range around a constant).
fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if lo > hi {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1e-3 * hi.abs().max(1.0));
    lo - pad..hi + pad
}

/// Draws one panel per model into a PNG at `path` (three columns): the training metric per
/// iteration, smoothed, placed within its epoch (x = epoch − 1 + (i + ½)/iterations) on the
/// left axis, and the validation metric per epoch (at x = epoch) on the right axis, the best
/// epoch circled. Panels whose model logged neither metric are skipped; no panel at all is an
/// error.
pub fn training_curves(panels: &[TrainingPanel], path: &Path) -> Result<()> {
    let panels: Vec<&TrainingPanel> = panels
        .iter()
        .filter(|p| {
            p.log.train.contains_key(&p.train_metric) || p.log.valid.contains_key(&p.valid_metric)
        })
        .collect();
    if panels.is_empty() {
        return Err(plot_err(path, "no training logs to plot"));
    }
    let cols = panels.len().min(3);
    let rows = panels.len().div_ceil(cols);
    render(path, (560 * cols as u32, 420 * rows as u32), |root| {
        let areas = root.split_evenly((rows, cols));
        for (panel, area) in panels.iter().zip(&areas) {
            draw_panel(panel, area)?;
        }
        Ok(())
    })
}

fn draw_panel(p: &TrainingPanel, area: &Root<'_>) -> std::result::Result<(), DrawError> {
    let empty = MetricLog::default();
    let train = p.log.train.get(&p.train_metric).unwrap_or(&empty);
    let valid = p.log.valid.get(&p.valid_metric).unwrap_or(&empty);
    // Each iteration at its place within its epoch; one moving average over the whole run.
    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    for (&epoch, values) in &train.iterations {
        let n = values.len() as f64;
        xs.extend((0..values.len()).map(|i| epoch as f64 - 1.0 + (i as f64 + 0.5) / n));
        ys.extend(values);
    }
    let ys = smooth(&ys, (ys.len() / 60).max(1));
    let points: Vec<(f64, f64)> = xs.into_iter().zip(ys).collect();
    let epochs: Vec<(f64, f64)> = valid.epochs.iter().map(|(&e, &v)| (e as f64, v)).collect();
    let best = epochs
        .iter()
        .copied()
        .reduce(|b, c| if c.1 > b.1 { c } else { b });
    let last = train
        .iterations
        .keys()
        .chain(valid.epochs.keys())
        .max()
        .copied()
        .unwrap_or(1)
        .max(1) as f64;
    let x = 0.0..last * 1.04;
    let title = match best {
        Some((epoch, v)) => format!("{}: best valid epoch {epoch} ({v:.2})", p.title),
        None => p.title.clone(),
    };
    let (tc, vc) = (SERIES[0], SERIES[3]);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 19))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(x.clone(), padded_range(points.iter().map(|p| p.1)))?
        .set_secondary_coord(x, padded_range(epochs.iter().map(|p| p.1)));
    // The axis titles are the legend: each in its series' colour.
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(format!("train {} per iteration (smoothed)", p.train_metric))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14).into_font().color(&tc))
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 {
                format!("{x:.0}")
            } else {
                format!("{x:.1}")
            }
        })
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc(format!("valid {} per epoch (○ best)", p.valid_metric))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14).into_font().color(&vc))
        .draw()?;
    if !points.is_empty() {
        chart.draw_series(LineSeries::new(points, tc.stroke_width(2)))?;
    }
    if let Some(best) = best {
        chart.draw_secondary_series(LineSeries::new(epochs.clone(), vc.stroke_width(2)))?;
        chart.draw_secondary_series(epochs.iter().map(|&xy| Circle::new(xy, 3, vc.filled())))?;
        chart.draw_secondary_series(std::iter::once(Circle::new(best, 8, vc.stroke_width(2))))?;
    }
    Ok(())
}
