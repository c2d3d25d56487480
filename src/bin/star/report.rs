//! `star report`: redraw a run directory's plots, check its report and plots, compare two
//! results files.

use anyhow::Result;
use clap::Subcommand;
use star::eval::EvalReport;
use star::pipeline::plots::write_plots;
use star::pipeline::RunDir;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Redraw metrics.png, accuracy_latency.png and training_curves.png of a run directory
    /// from its report.json and the models' training logs (e.g. after setting STAR_FONT).
    Plot {
        /// The run directory (holds report.json).
        #[arg(long)]
        run_dir: PathBuf,
    },
    /// Check a run directory's report and plots: report.json parses and every method (and
    /// non-empty scenario slice) has every metric in [0, 1] and its latency; report.md
    /// exists; metrics.png, accuracy_latency.png and training_curves.png decode and are not
    /// blank. Exits non-zero listing every problem.
    Check {
        /// The run directory.
        #[arg(long)]
        run_dir: PathBuf,
        /// Methods that must be in the report (comma-separated).
        #[arg(long, value_delimiter = ',')]
        methods: Vec<String>,
    },
    /// Compare the accuracy of two results files (report.json or --json output): every
    /// method's metrics, overall and per scenario. Exits non-zero listing each difference.
    /// With the default tolerance 0 the values must be bit-identical (same seed, same
    /// backend); latency and wall time are not compared. When they differ and both files have
    /// their run's per_user.jsonl beside them, it also prints each method's paired difference
    /// (second minus first) on avg-HR, HR@1 and NDCG@10 with bootstrap 95 % intervals.
    Compare {
        /// The first results file.
        a: PathBuf,
        /// The second results file.
        b: PathBuf,
        /// Largest allowed absolute difference of a metric (a fraction in [0, 1]).
        #[arg(long, default_value_t = 0.0)]
        tolerance: f64,
    },
}

impl ReportCommand {
    pub fn run(self) -> Result<()> {
        match self {
            ReportCommand::Plot { run_dir } => {
                let run = RunDir::open(&run_dir)?;
                let report = EvalReport::load_json(&run.path().join("report.json"))?;
                for f in write_plots(&report, &run)? {
                    println!("wrote {}", f.display());
                }
            }
            ReportCommand::Check { run_dir, methods } => check_run(&run_dir, &methods)?,
            ReportCommand::Compare { a, b, tolerance } => {
                let (mut ra, mut rb) = (
                    EvalReport::load_json_checked(&a)?,
                    EvalReport::load_json_checked(&b)?,
                );
                let d = ra.accuracy_differences(&rb, tolerance);
                if !d.is_empty() {
                    print_paired(&a, &b, &mut ra, &mut rb)?;
                    anyhow::bail!(
                        "{} and {} differ in {} values:\n  {}",
                        a.display(),
                        b.display(),
                        d.len(),
                        d.join("\n  ")
                    );
                }
                println!(
                    "{} and {}: the same accuracy for all {} methods{}",
                    a.display(),
                    b.display(),
                    ra.methods.len(),
                    if tolerance == 0.0 {
                        " (bit-identical)".to_string()
                    } else {
                        format!(" (within {tolerance})")
                    }
                );
            }
        }
        Ok(())
    }
}

/// When both results files have the `per_user.jsonl` their run wrote beside them, prints every
/// shared method's paired difference, second minus first, on the same users (bootstrap 95 %
/// intervals as in the reports).
fn print_paired(a: &Path, b: &Path, ra: &mut EvalReport, rb: &mut EvalReport) -> Result<()> {
    use star::eval::paired::{compare_cases, Resamples, COMPARED, RESAMPLES, SEED};
    let (pa, pb) = (
        a.with_file_name("per_user.jsonl"),
        b.with_file_name("per_user.jsonl"),
    );
    if !(pa.is_file() && pb.is_file()) {
        return Ok(());
    }
    ra.load_cases(&pa)?;
    rb.load_cases(&pb)?;
    let resamples = Resamples::new(ra.users, RESAMPLES, SEED);
    println!(
        "Second minus first, points ×100, paired over the {} users (bootstrap 95 % interval, {RESAMPLES} resamples, seed {SEED}):\n",
        ra.users
    );
    println!("| Method | {} |", COMPARED.join(" | "));
    println!("|---|{}", "---:|".repeat(COMPARED.len()));
    for (name, m) in &ra.methods {
        let Some(o) = rb.method(name) else { continue };
        if m.cases.is_empty() || o.cases.is_empty() {
            continue;
        }
        let d = compare_cases((name, &o.cases), (name, &m.cases), &resamples)?;
        let cells: Vec<String> = COMPARED.iter().map(|k| d[*k].to_string()).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    println!();
    Ok(())
}

/// `star report check`: every problem of a run directory's report and plots, or Ok.
fn check_run(run_dir: &std::path::Path, methods: &[String]) -> Result<()> {
    use star::eval::plots;
    let mut problems: Vec<String> = Vec::new();
    match EvalReport::load_json_checked(&run_dir.join("report.json")) {
        Ok(report) => {
            for m in methods {
                if report.method(m).is_none() {
                    problems.push(format!("report.json lacks method {m}"));
                }
            }
            println!(
                "report.json: {} methods, every metric present ({} users, {} split)",
                report.methods.len(),
                report.users,
                report.split
            );
        }
        Err(e) => problems.push(e.to_string()),
    }
    if !run_dir.join("report.md").is_file() {
        problems.push(format!(
            "{} is missing",
            run_dir.join("report.md").display()
        ));
    }
    for name in [
        plots::METRICS_PNG,
        plots::ACCURACY_LATENCY_PNG,
        plots::TRAINING_PNG,
    ] {
        match plots::check_png(&run_dir.join(name)) {
            Ok((w, h)) => println!("{name}: {w}x{h}"),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !problems.is_empty() {
        anyhow::bail!("{}: {}", run_dir.display(), problems.join("\n  "));
    }
    println!("{}: ok", run_dir.display());
    Ok(())
}
