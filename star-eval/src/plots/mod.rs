//! PNG plots of a run: metrics per method, accuracy against latency, training curves.
//!
//! Three figures, drawn with `plotters` from the same numbers the report tables show:
//!
//! - [`metrics_per_method`]: horizontal grouped bars, one group per method (HR@1, HR@5, HR@10,
//!   NDCG@10, MRR and avg-HR, ×100).
//! - [`accuracy_latency`]: avg-HR against the median latency of one ranking call on a log
//!   axis, with a whisker to the 95th percentile; baselines, teacher variants and students
//!   in their own colours.
//! - [`training_curves`]: one panel per trained model, read from burn-train's metric logs
//!   ([`TrainingLog::read`]): the training loss (or reward) per iteration, smoothed, on the
//!   left axis and the validation metric per epoch on the right axis, its best epoch marked.
//!
//! Text needs a TrueType/OpenType font, which is not shipped with the crate (no third-party
//! data in the repository). [`find_font`] looks at `$STAR_FONT`, then common system font
//! paths (DejaVu, Liberation, Noto, Arial, Helvetica), then `fc-match`. Without one, plotting
//! fails with [`EvalError::Plot`] naming `STAR_FONT`.

use crate::error::{EvalError, Result};
use crate::report::EvalReport;
use plotters::prelude::*;
use star_cf::fsutil::write_atomic;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// File names of the figures [`write_all`] writes into a run directory.
pub const METRICS_PNG: &str = "metrics.png";
/// See [`METRICS_PNG`].
pub const ACCURACY_LATENCY_PNG: &str = "accuracy_latency.png";
/// See [`METRICS_PNG`].
pub const TRAINING_PNG: &str = "training_curves.png";

/// Metrics drawn by [`metrics_per_method`], as [`crate::Metrics::KEYS`] names them.
const BAR_METRICS: [(&str, &str); 6] = [
    ("HR@1", "HR@1"),
    ("HR@5", "HR@5"),
    ("HR@10", "HR@10"),
    ("NDCG@10", "NDCG@10"),
    ("MRR", "MRR"),
    ("avg_HR", "avg-HR"),
];

/// System fonts tried in order after `$STAR_FONT`.
const FONT_PATHS: [&str; 12] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Helvetica.ttc",
    "C:\\Windows\\Fonts\\arial.ttf",
];

fn plot_err(path: &Path, e: impl std::fmt::Display) -> EvalError {
    EvalError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The font file plots are drawn with: `$STAR_FONT` if set, else the first system font found
/// (see the module docs). `None` when there is none.
pub fn find_font() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("STAR_FONT") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = FONT_PATHS.iter().map(Path::new).find(|p| p.is_file()) {
        return Some(p.to_path_buf());
    }
    let out = std::process::Command::new("fc-match")
        .args(["--format=%{file}", "sans-serif"])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    path.is_file().then_some(path)
}

/// Loads the font once per process and registers it as plotters' `sans-serif`.
fn ensure_font(target: &Path) -> Result<()> {
    static FONT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    let loaded = FONT.get_or_init(|| {
        let path = find_font().ok_or_else(|| {
            "no font found for the plot labels; set STAR_FONT to a .ttf/.otf file".to_string()
        })?;
        let bytes = std::fs::read(&path).map_err(|e| format!("font {}: {e}", path.display()))?;
        // plotters keeps fonts for the life of the process; this happens once.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("font {}: not a TrueType/OpenType font", path.display()))?;
        Ok(path)
    });
    loaded.as_ref().map(|_| ()).map_err(|m| plot_err(target, m))
}

/// The drawing surface of one figure.
type Root<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
/// What drawing on a [`Root`] can fail with.
type DrawError = DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

/// Draws a `size` figure with `draw` into an RGB buffer (3 bytes per pixel, rows top to
/// bottom), after checking that a font is available.
fn draw_rgb(
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
fn render(
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

fn family_colour(name: &str) -> RGBColor {
    FAMILIES[family(name)].1
}

/// Draws the legend of `chart`'s labelled series at `position`.
fn draw_legend<'a, CT: plotters::coord::CoordTranslate>(
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

/// Distinct colours for series within one chart.
const SERIES: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn check_methods(report: &EvalReport, path: &Path) -> Result<()> {
    if report.methods.is_empty() {
        return Err(plot_err(path, "the report has no methods to plot"));
    }
    Ok(())
}

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

/// One metric of one burn-train split (`train` or `valid`) across epochs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricLog {
    /// Per epoch (1-based, ascending): every logged value in order (one per iteration for
    /// training metrics, one per validation batch for validation metrics).
    pub iterations: BTreeMap<usize, Vec<f64>>,
    /// Per epoch: the epoch's value (burn-train's `final` line, else the count-weighted mean
    /// of the logged values).
    pub epochs: BTreeMap<usize, f64>,
}

/// The metric logs burn-train's file logger wrote under an artifact directory:
/// `<dir>/{train,valid}/epoch-<N>/<Metric>.log`, one `value,count` line per update and a
/// closing `value,final` line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingLog {
    /// Training metrics by name.
    pub train: BTreeMap<String, MetricLog>,
    /// Validation metrics by name.
    pub valid: BTreeMap<String, MetricLog>,
}

impl TrainingLog {
    /// Reads every metric log under `dir`. A missing `train` or `valid` directory reads as
    /// empty; a line that is not `value,count` or `value,final` is an error naming its file
    /// and line.
    pub fn read(dir: &Path) -> Result<TrainingLog> {
        Ok(TrainingLog {
            train: read_split(&dir.join("train"))?,
            valid: read_split(&dir.join("valid"))?,
        })
    }

    /// Whether no metric was logged at all.
    pub fn is_empty(&self) -> bool {
        self.train.is_empty() && self.valid.is_empty()
    }
}

fn read_split(dir: &Path) -> Result<BTreeMap<String, MetricLog>> {
    let mut out: BTreeMap<String, MetricLog> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry.map_err(|e| EvalError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(epoch) = name
            .strip_prefix("epoch-")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        let epoch_dir = entry.path();
        for file in std::fs::read_dir(&epoch_dir).map_err(|e| EvalError::io(&epoch_dir, e))? {
            let file = file.map_err(|e| EvalError::io(&epoch_dir, e))?.path();
            let Some(metric) = file
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(|f| f.strip_suffix(".log"))
            else {
                continue;
            };
            let text = std::fs::read_to_string(&file).map_err(|e| EvalError::io(&file, e))?;
            let log = out.entry(metric.to_string()).or_default();
            let (values, value) = parse_metric_log(&text, &file)?;
            if let Some(v) = value {
                log.epochs.insert(epoch, v);
            }
            log.iterations.insert(epoch, values);
        }
    }
    Ok(out)
}

/// One epoch's metric file: the logged values and the epoch value.
fn parse_metric_log(text: &str, file: &Path) -> Result<(Vec<f64>, Option<f64>)> {
    let mut values = Vec::new();
    let (mut sum, mut weight, mut last) = (0.0, 0.0, None);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || plot_err(file, format!("line {}: not `value,count`: {line:?}", i + 1));
        let (v, count) = line.rsplit_once(',').ok_or_else(bad)?;
        let v: f64 = v.trim().parse().map_err(|_| bad())?;
        if count.trim() == "final" {
            last = Some(v);
            continue;
        }
        let c: f64 = count.trim().parse().map_err(|_| bad())?;
        values.push(v);
        sum += v * c;
        weight += c;
    }
    let value = last.or((weight > 0.0).then(|| sum / weight));
    Ok((values, value))
}

/// What one panel of [`training_curves`] shows.
#[derive(Clone, Debug)]
pub struct TrainingPanel {
    /// Panel title (the model's name).
    pub title: String,
    /// The model's logs.
    pub log: TrainingLog,
    /// Training metric on the left axis (per iteration, smoothed), e.g. `Loss` or `reward`.
    pub train_metric: String,
    /// Validation metric on the right axis (per epoch), e.g. `NDCG@10` or `avg-HR`.
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

/// The figures of a run directory: `metrics.png` and `accuracy_latency.png` from `report`,
/// and `training_curves.png` from the models' logs (`panels`; skipped when none has logs).
/// Returns the files written.
pub fn write_all(
    report: &EvalReport,
    panels: &[TrainingPanel],
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    let mut written = Vec::new();
    let path = dir.join(METRICS_PNG);
    metrics_per_method(report, &path)?;
    written.push(path);
    let path = dir.join(ACCURACY_LATENCY_PNG);
    accuracy_latency(report, &path)?;
    written.push(path);
    if panels.iter().any(|p| !p.log.is_empty()) {
        let path = dir.join(TRAINING_PNG);
        training_curves(panels, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// Checks that `path` is a PNG figure with something drawn on it: it decodes, and at least
/// 1% of its pixels are not white. Returns its width and height.
pub fn check_png(path: &Path) -> Result<(u32, u32)> {
    let invalid = |problem: String| EvalError::Invalid {
        path: path.to_path_buf(),
        problems: vec![problem],
    };
    let file = std::fs::File::open(path).map_err(|e| EvalError::io(path, e))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| invalid(format!("not a PNG: {e}")))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| invalid(format!("cannot decode the image: {e}")))?;
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let colour = channels.min(3);
    let drawn = pixels
        .chunks_exact(channels)
        .filter(|p| p[..colour].iter().any(|&c| c < 250))
        .count();
    let total = (info.width as usize * info.height as usize).max(1);
    if drawn * 100 < total {
        return Err(invalid(format!(
            "{}x{} image is blank ({drawn} of {total} pixels drawn)",
            info.width, info.height
        )));
    }
    Ok((info.width, info.height))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::report::MethodReport;
    use crate::runner::Latency;
    use star_cf::split::SplitKind;

    fn method(avg_hr: f64, p50: f64) -> MethodReport {
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

    fn report(methods: Vec<(&str, MethodReport)>) -> EvalReport {
        EvalReport {
            dataset: "tiny".into(),
            split: SplitKind::Test,
            candidates: 20,
            seed: 1,
            users: 10,
            methods: methods.into_iter().map(|(n, m)| (n.into(), m)).collect(),
        }
    }

    fn pixel(rgb: &[u8], width: u32, x: u32, y: u32) -> RGBColor {
        let i = 3 * (y as usize * width as usize + x as usize);
        RGBColor(rgb[i], rgb[i + 1], rgb[i + 2])
    }

    /// Horizontal runs of `colour` at least `min` pixels long: (row, first x, length).
    fn runs(rgb: &[u8], (w, h): (u32, u32), colour: RGBColor, min: u32) -> Vec<(u32, u32, u32)> {
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

    #[test]
    fn metric_logs_read_final_lines_weighted_means_and_name_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write("train/epoch-1/Loss.log", "3,1\n1,1\n2.5,final\n");
        write("train/epoch-2/Loss.log", "1,1\n4,3\n");
        write("valid/epoch-2/avg-HR.log", "70,10\n80,30\n");
        write("valid/epoch-1/avg-HR.log", "60,40\n60,final\n");
        write("train/epoch-1/notes.txt", "ignored");
        let log = TrainingLog::read(dir.path()).unwrap();
        let loss = &log.train["Loss"];
        assert_eq!(loss.iterations[&1], vec![3.0, 1.0]);
        assert_eq!(loss.epochs[&1], 2.5);
        assert_eq!(loss.epochs[&2], 3.25);
        let hr = &log.valid["avg-HR"];
        assert_eq!(
            hr.epochs.iter().map(|(e, v)| (*e, *v)).collect::<Vec<_>>(),
            vec![(1, 60.0), (2, 77.5)]
        );
        assert!(TrainingLog::read(&dir.path().join("missing"))
            .unwrap()
            .is_empty());

        write("valid/epoch-3/avg-HR.log", "70,10\nseventy,3\n");
        let err = TrainingLog::read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("epoch-3") && err.contains("avg-HR.log") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn write_all_writes_three_pngs_and_skips_curves_without_logs() {
        let dir = tempfile::tempdir().unwrap();
        let r = report(vec![
            ("Pop", method(0.4, 0.01)),
            ("teacher", method(0.5, 3.0)),
        ]);
        let logs = dir.path().join("model");
        std::fs::create_dir_all(logs.join("train/epoch-1")).unwrap();
        std::fs::write(logs.join("train/epoch-1/Loss.log"), "2,1\n1,1\n").unwrap();
        std::fs::create_dir_all(logs.join("valid/epoch-1")).unwrap();
        std::fs::write(logs.join("valid/epoch-1/NDCG@10.log"), "40,5\n").unwrap();
        let panel = |log| TrainingPanel {
            title: "model".into(),
            log,
            train_metric: "Loss".into(),
            valid_metric: "NDCG@10".into(),
        };
        let out = dir.path().join("run");
        let files = write_all(&r, &[panel(TrainingLog::read(&logs).unwrap())], &out).unwrap();
        assert_eq!(files.len(), 3);
        for f in &files {
            check_png(f).unwrap();
        }
        // One panel: 560 × 420.
        assert_eq!(check_png(&out.join(TRAINING_PNG)).unwrap(), (560, 420));
        let names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "no temporary files left: {names:?}");

        let files = write_all(&r, &[panel(TrainingLog::default())], &dir.path().join("b")).unwrap();
        assert_eq!(files.len(), 2);
        let empty = report(vec![]);
        assert!(write_all(&empty, &[], &dir.path().join("c")).is_err());

        // check_png refuses what is not a drawn figure.
        let blank = dir.path().join("blank.png");
        render(&blank, (50, 40), |_| Ok(())).unwrap();
        let err = check_png(&blank).unwrap_err().to_string();
        assert!(
            err.contains("blank.png") && err.contains("blank (0 of 2000"),
            "{err}"
        );
        std::fs::write(&blank, b"not a png").unwrap();
        assert!(check_png(&blank)
            .unwrap_err()
            .to_string()
            .contains("not a PNG"));
    }
}
