//! The `star` command line: one module per command group.

mod args;
mod data;
mod distill;
mod eval;
mod recommend;
mod report;
mod teach;
mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc keeps freed memory for reuse: with the system allocator, every large tensor of a
/// training step was a fresh `mmap` and millions of page faults (BENCHMARKS.md, training steps).
/// Library users choose their own allocator; the `star` library sets none.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "star",
    version,
    about = "STAR: trajectory-aligned LLM-style recommendation on burn"
)]
struct Cli {
    /// Cache directory for datasets.
    #[arg(long, global = true, env = "STAR_HOME")]
    home: Option<PathBuf>,
    /// Log less (warnings and errors only).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole pipeline, resumable: data, baselines, teacher, SFT and GRPO, evaluation of
    /// every method, report and plots (what `cargo run --example movielens` runs).
    Run(star::pipeline::run::RunConfig),
    /// Fetch, inspect and split datasets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Train models.
    #[command(subcommand)]
    Train(train::TrainCommand),
    /// Evaluate methods on the 1+N candidate files.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Run the teacher and write trajectories (JSONL), resumable and shardable.
    Teach(teach::TeachArgs),
    /// Distil the teacher's trajectories into the student.
    #[command(subcommand)]
    Distill(distill::DistillCommand),
    /// Rank for one user with a student model: its test candidates (or --candidates, or the
    /// whole catalogue with --all-items), with the evidence behind each item.
    Recommend(recommend::RecommendArgs),
    /// Redraw a run directory's plots, or check its report and plots.
    #[command(subcommand)]
    Report(report::ReportCommand),
}

fn main() -> ExitCode {
    star::allocator::keep_freed_memory();
    let cli = Cli::parse();
    // burn-train logs every iteration at info level, CubeCL every autotuned kernel: keep their
    // warnings only.
    let filter = if cli.quiet {
        "warn"
    } else {
        "info,burn_train=warn,burn_core=warn,burn_optim=warn,cubecl=warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each once: a cause whose text the message already holds (most
/// of ours name their source inline) is not repeated.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

fn run(cli: Cli) -> Result<()> {
    let home = &cli.home;
    match cli.command {
        Command::Run(cfg) => {
            let home = home.clone().unwrap_or_else(star::cf::fetch::star_home);
            let outcome = star::pipeline::run::run(&cfg, home)?;
            println!("{}", outcome.markdown);
            println!("{}", outcome.summary());
        }
        Command::Data(c) => c.run(home)?,
        Command::Train(c) => c.run(home)?,
        Command::Eval(c) => c.run(home)?,
        Command::Teach(a) => a.run(home)?,
        Command::Distill(c) => c.run(home)?,
        Command::Recommend(a) => recommend::recommend(a, home)?,
        Command::Report(c) => c.run()?,
    }
    Ok(())
}
