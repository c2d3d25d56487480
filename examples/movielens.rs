//! The main job: `cargo run --release --example movielens`.
//!
//! Today it runs the foundation of the STAR pipeline: fetch MovieLens-100K (or another
//! dataset), split it (temporal leave-one-out), draw the 1+19 candidate files, build the CST
//! evidence store, evaluate the classical baselines on the test candidates, print the results
//! table and write `runs/<name>/` (report.md, report.json, per-user results, candidate files,
//! evidence store). The CF encoder, teacher, distillation and student stages join as their
//! issues land. A rerun reuses the candidate files and the evidence store.

use anyhow::Result;
use clap::Parser;
use star::cf::split::SplitKind;
use star::pipeline::{self, DataSpec};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Run the STAR pipeline on MovieLens (or your own data)")]
struct Args {
    /// movielens-100k, movielens-1m, movielens-latest-small, synthetic[:SEED], or any name with --data.
    #[arg(long, default_value = "movielens-100k")]
    dataset: String,
    /// Read the dataset from this directory instead of fetching it.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Seed of the candidate sampling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Run directory (default: runs/<dataset>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Evaluation threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,burn_train=warn,burn_core=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let mut spec = DataSpec::named(&args.dataset);
    spec.data_dir = args.data.clone();

    let t0 = Instant::now();
    let prepared = pipeline::prepare(
        &spec,
        args.run_dir.as_deref(),
        SplitKind::Test,
        args.seed,
        19,
    )?;
    // The valid candidates are drawn too, so later stages (model selection) read the same file.
    pipeline::candidates(
        &prepared.ds,
        &prepared.split,
        &prepared.run_dir,
        SplitKind::Valid,
        args.seed,
        19,
    )?;
    let t_prepare = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let report = pipeline::eval_baselines(&prepared, args.threads)?;
    let t_eval = t1.elapsed().as_secs_f64();

    let dir = &prepared.run_dir;
    report.save_json(&dir.join("report.json"))?;
    report.per_user_jsonl(&dir.join("per_user.jsonl"))?;
    let markdown = report.to_markdown();
    star::cf::fsutil::write_atomic(&dir.join("report.md"), |w| {
        std::io::Write::write_all(w, markdown.as_bytes())
    })?;

    println!("{markdown}");
    println!(
        "stages: prepare {t_prepare:.2}s, baselines {t_eval:.2}s, total {:.2}s",
        t0.elapsed().as_secs_f64()
    );
    println!(
        "wrote {}/report.md, report.json, per_user.jsonl",
        dir.display()
    );
    Ok(())
}
