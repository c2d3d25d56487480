//! The main job: `cargo run --release --example movielens`.
//!
//! Runs the STAR pipeline ([`star::pipeline::run`], also `star run`): fetch MovieLens-100K (or
//! another dataset), split it (temporal leave-one-out), draw the 1+19 candidate files, build
//! the CST evidence store, train the neural baselines (BPR-MF, LightGCN, SASRec) with early
//! stopping on the valid candidates, run the teacher on training positions and keep its
//! successful trajectories, distil them into the student (SFT, then rank-only GRPO), evaluate
//! every method on the test candidates (and the baselines on the full catalogue), print the
//! results and write `runs/<name>/` (report.md, report.json, the plots metrics.png,
//! accuracy_latency.png and training_curves.png, per-user results, candidate files, evidence
//! store, trajectories, model directories). `--llm` swaps the rule-based teacher for an LLM
//! (an OpenAI-compatible endpoint, or `--llm local:DIR`, a Hugging Face chat checkpoint run
//! in-process); `--base DIR` starts the student from a pretrained Hugging Face checkpoint. A rerun skips every finished stage and resumes an
//! interrupted one (training from its last checkpoint, the teacher from its last written
//! episode).

use clap::Parser;
use star::pipeline::run::{run, RunConfig};

/// mimalloc keeps freed memory for reuse: with the system allocator, every large tensor of a
/// training step was a fresh `mmap` and millions of page faults (BENCHMARKS.md, training steps).
/// Library users choose their own allocator; the `star` library sets none.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Run the STAR pipeline on MovieLens (or your own data)")]
struct Args {
    #[command(flatten)]
    run: RunConfig,
}

fn main() -> anyhow::Result<()> {
    star::allocator::keep_freed_memory();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "info,burn_train=warn,burn_core=warn,cubecl=warn",
                )
            }),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let outcome = run(&args.run, star::cf::fetch::star_home())?;
    println!("{}", outcome.markdown);
    println!("{}", outcome.summary());
    Ok(())
}
