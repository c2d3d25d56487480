//! The main job: `cargo run --release --example movielens`.
//!
//! Runs the STAR pipeline: fetch MovieLens-100K (or another dataset), split it (temporal
//! leave-one-out), draw the 1+19 candidate files, build the CST evidence store, train the
//! neural baselines (BPR-MF, LightGCN, SASRec) with early stopping on the valid candidates, run
//! the teacher on training positions and keep its successful trajectories, distil them into the
//! student (SFT, then rank-only GRPO), evaluate every method on the test candidates (and the
//! baselines on the full catalogue), print the results and write `runs/<name>/` (report.md,
//! report.json, the plots metrics.png, accuracy_latency.png and training_curves.png, per-user
//! results, candidate files, evidence store, trajectories, model directories). `--llm` swaps
//! the rule-based teacher for an LLM behind an OpenAI-compatible endpoint. A rerun skips every finished stage and resumes an interrupted one (training
//! from its last checkpoint, the teacher from its last written episode).

use anyhow::Result;
use clap::Parser;
use star::cf::split::SplitKind;
use star::pipeline::{self, DataSpec};
use star::train::cf::{CfModelKind, CfTrainConfig};
use star::train::sasrec::SasRecTrainConfig;
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
    /// Seed of candidate sampling and training.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Run directory (default: runs/<dataset>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Cap on training epochs of every model (default: each model's own limit).
    #[arg(long)]
    epochs: Option<usize>,
    /// Device for training: flex (CPU), wgpu or cuda, among the compiled backends.
    #[arg(long, default_value = "default")]
    device: String,
    /// Evaluation threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Teacher episodes per user (its most recent training positions).
    #[arg(long, default_value_t = 2)]
    teach_per_user: usize,
    /// Kept teacher trajectories the student learns from.
    #[arg(long, default_value_t = 300)]
    trajectories: usize,
    /// Fast-mode samples per user (prompt → ranking) for SFT, and as many GRPO prompts per
    /// user before them. Default: 10 000 / users, between 2 and 10 (10 on MovieLens-100K, 2
    /// on MovieLens-1M), so SFT and GRPO see about 10k samples whatever the dataset's size.
    #[arg(long)]
    fast_per_user: Option<usize>,
    /// The teacher is an LLM behind an OpenAI-compatible endpoint (STAR_LLM_BASE_URL,
    /// STAR_LLM_MODEL, STAR_LLM_API_KEY) instead of the rule-based one; the student learns
    /// from its trajectories and the evaluation includes it.
    #[arg(long)]
    llm: bool,
    /// Teacher threads (requests in flight with --llm, capped by STAR_LLM_MAX_CONCURRENCY).
    #[arg(long, default_value_t = 2)]
    teach_threads: usize,
}

/// The whole pipeline (public so that `tests/example_resume.rs` can run it).
pub fn main() -> Result<()> {
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
    let mut stages: Vec<(String, f64)> = Vec::new();
    let t0 = Instant::now();

    // 1. Data, split, candidate files (valid and test), evidence store.
    let t = Instant::now();
    let p = pipeline::prepare(
        &spec,
        args.run_dir.as_deref(),
        SplitKind::Test,
        args.seed,
        19,
    )?;
    let valid = p.for_split(SplitKind::Valid, args.seed, 19)?;
    stages.push(("prepare".into(), t.elapsed().as_secs_f64()));

    let fast_per_user = args
        .fast_per_user
        .unwrap_or_else(|| (10_000 / p.ds.num_users().max(1)).clamp(2, 10));

    // 2. Neural baselines, each skipped when its summary exists and resumed when interrupted.
    let cap = |n: usize| args.epochs.map_or(n, |c| c.min(n));
    for kind in [CfModelKind::Mf, CfModelKind::LightGcn] {
        let dir = pipeline::cf_dir(&p.run_dir, kind);
        if dir.join("summary.json").is_file() {
            tracing::info!(
                "{}: trained already ({})",
                kind.method_name(),
                dir.display()
            );
            continue;
        }
        let t = Instant::now();
        let rec = CfTrainConfig::recommended(kind).with_seed(args.seed);
        let cfg = rec.clone().with_max_epochs(cap(rec.max_epochs));
        let resume = dir.join("checkpoint").is_dir();
        pipeline::train_cf_model(
            &p.ds,
            &p.split,
            &p.run_dir,
            &cfg,
            args.seed,
            &args.device,
            resume,
        )?;
        stages.push((
            format!("train {}", kind.method_name()),
            t.elapsed().as_secs_f64(),
        ));
    }
    let dir = pipeline::sasrec_dir(&p.run_dir);
    if dir.join("summary.json").is_file() {
        tracing::info!("SASRec: trained already ({})", dir.display());
    } else {
        let t = Instant::now();
        let rec = SasRecTrainConfig::new().with_seed(args.seed);
        let cfg = rec.clone().with_max_epochs(cap(rec.max_epochs));
        let resume = dir.join("checkpoint").is_dir();
        pipeline::train_sasrec_model(
            &p.ds,
            &p.split,
            &p.run_dir,
            &cfg,
            args.seed,
            &args.device,
            resume,
        )?;
        stages.push(("train SASRec".into(), t.elapsed().as_secs_f64()));
    }

    // 3. The teacher on training positions (resumable), then the outcome filter.
    let t = Instant::now();
    let chat = if args.llm {
        Some(pipeline::chat_model_from_env()?)
    } else {
        None
    };
    let teacher = pipeline::build_teacher(
        pipeline::teacher_resources(&p)?,
        chat.clone(),
        pipeline::TeacherVariant::Full,
    );
    let jobs = star::agents::teach::training_jobs(
        &p.ds,
        &p.split,
        args.teach_per_user,
        200,
        19,
        args.seed,
    );
    let taught = pipeline::teach_and_filter(
        &teacher,
        jobs,
        star::agents::teach::Shard::ALL,
        None,
        args.teach_threads,
        &p.run_dir.join("trajectories"),
        &format!("{}-train", teacher.name()),
        1,
    )?;
    tracing::info!(
        "teacher: {} episodes ({} written now), kept {} -> {}",
        taught.summary.jobs,
        taught.summary.written,
        taught.filter.kept,
        taught.kept_path.display()
    );
    stages.push(("teach".into(), t.elapsed().as_secs_f64()));

    // 4. Distillation: SFT on the kept trajectories and fast-mode samples, then GRPO; each
    //    skipped when its model directory exists, resumed when it has checkpoints.
    let student = pipeline::student_dir(&p.run_dir);
    if student.join("model/config.json").is_file() {
        tracing::info!("SFT: trained already ({})", student.join("model").display());
    } else {
        let t = Instant::now();
        let opts = pipeline::DistillOptions {
            sft: star::train::distill::SftConfig::new(star::train::distill::LossWeights::new())
                .with_max_epochs(cap(2))
                .with_batch_size(16)
                .with_learning_rate(2e-3)
                .with_patience(2)
                .with_seed(args.seed),
            view: star::train::distill::TrajectoryView {
                max_segment_chars: 100,
                max_tool_calls: 4,
                ..Default::default()
            },
            max_trajectories: Some(args.trajectories),
            fast_per_user,
            vocab: 4000,
            device: args.device.clone(),
            resume: student.join("sft/checkpoint").is_dir(),
            evidence: Default::default(),
            out: None,
            trajectories: Some(taught.kept_path.clone()),
        };
        let (_, r) = pipeline::distill_sft(&valid, &opts)?;
        tracing::info!(
            "SFT: best epoch {} of {}, valid avg-HR {:.2}",
            r.best_epoch,
            r.epochs_run,
            100.0 * r.valid_score
        );
        stages.push(("SFT".into(), t.elapsed().as_secs_f64()));
    }
    let grpo = student.join("grpo");
    if grpo.join("model/config.json").is_file() {
        tracing::info!("GRPO: trained already ({})", grpo.join("model").display());
    } else {
        let t = Instant::now();
        let opts = pipeline::GrpoOptions {
            grpo: star::train::distill::GrpoConfig::new()
                .with_max_epochs(cap(1))
                .with_learning_rate(5e-6)
                .with_kl(0.04)
                .with_group(16)
                .with_batch_size(64)
                .with_seed(args.seed),
            from: student.join("model"),
            out: grpo.clone(),
            per_user: fast_per_user,
            skip: fast_per_user,
            max_prompts: None,
            device: args.device.clone(),
            resume: grpo.join("checkpoint").is_dir(),
        };
        let (_, r) = pipeline::distill_grpo(&valid, &opts)?;
        tracing::info!(
            "GRPO: best epoch {} of {} (0: the SFT model kept), valid avg-HR {:.2}",
            r.best_epoch,
            r.epochs_run,
            100.0 * r.valid_score
        );
        stages.push(("GRPO".into(), t.elapsed().as_secs_f64()));
    }

    // 5. Every method on the same test candidates, then the baselines on the full catalogue.
    let t = Instant::now();
    let mut report = pipeline::eval_baselines(&p, args.threads)?;
    report
        .methods
        .extend(pipeline::eval_teacher(&p, chat, args.threads)?.methods);
    let students = [
        ("student-fast".to_string(), grpo.join("model")),
        ("student-no-grpo".to_string(), student.join("model")),
    ];
    report
        .methods
        .extend(pipeline::eval_students(&p, &students, &args.device, false, args.threads)?.methods);
    let catalogue = pipeline::eval_full_catalogue(&p)?;
    stages.push(("evaluate".into(), t.elapsed().as_secs_f64()));

    let dir = &p.run_dir;
    report.save_json(&dir.join("report.json"))?;
    report.per_user_jsonl(&dir.join("per_user.jsonl"))?;
    let markdown = format!(
        "{}\n## Full catalogue (test split, temporal leave-one-out)\n\n{}",
        report.to_markdown(),
        pipeline::catalogue_markdown(&catalogue)
    );
    star::cf::fsutil::write_atomic(&dir.join("report.md"), |w| {
        std::io::Write::write_all(w, markdown.as_bytes())
    })?;
    let json = serde_json::to_string_pretty(&catalogue)?;
    star::cf::fsutil::write_atomic(&dir.join("full_catalogue.json"), |w| {
        std::io::Write::write_all(w, json.as_bytes())
    })?;

    let t = Instant::now();
    let plots = match pipeline::write_plots(&report, dir) {
        Ok(files) => files,
        Err(e) => {
            // The numbers are written already; a missing font must not lose them.
            tracing::warn!("plots not drawn: {e:#}");
            Vec::new()
        }
    };
    stages.push(("plots".into(), t.elapsed().as_secs_f64()));

    println!("{markdown}");
    let timings: Vec<String> = stages.iter().map(|(s, t)| format!("{s} {t:.1}s")).collect();
    println!(
        "stages: {}; total {:.1}s",
        timings.join(", "),
        t0.elapsed().as_secs_f64()
    );
    let plots: Vec<String> = plots
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    println!(
        "wrote {}/report.md, report.json, full_catalogue.json, per_user.jsonl{}{}; the student is in {}",
        dir.display(),
        if plots.is_empty() { "" } else { ", " },
        plots.join(", "),
        grpo.join("model").display()
    );
    Ok(())
}
