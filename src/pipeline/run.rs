//! The whole pipeline as one resumable run (`star run`, and the `movielens` example): data and
//! candidate files, the neural baselines, the teacher and its outcome filter, SFT and GRPO,
//! then every method on the same test candidates, the report and the plots.
//!
//! A rerun skips every finished stage and resumes an interrupted one (training from its last
//! checkpoint, the teacher from its last written episode). The run directory is locked for
//! the whole run.

use super::baselines::{
    add_catalogue_comparison, add_comparisons, catalogue_markdown, eval_baselines,
    eval_full_catalogue, refit_cf_model, save_catalogue, train_cf_model, train_sasrec_folds,
    train_sasrec_model, STRONGEST,
};
use super::data::{prepare, DataSpec};
use super::layout::{Compute, Protocol};
use super::plots::write_plots;
use super::sequence::{sequence_folds, DEFAULT_SEQUENCE_FOLDS};
use super::soft_targets::SoftTargetArgs;
use super::student::{
    distill_grpo, distill_sft, eval_students, eval_students_catalogue, DistillOptions, GrpoOptions,
    ItemFusion, LoraArgs, DEFAULT_PROMPT_HISTORY, SFT_AVERAGE,
};
use super::students::{member_seed, DEFAULT_STUDENTS, SINGLE_STUDENT};
use super::teacher::{
    build_teacher, eval_teacher, teach_and_filter, teacher_resources, LlmArgs, TeachScope,
    TeacherVariant,
};
use anyhow::{Context, Result};
use star_cf::split::SplitKind;
use star_eval::{EvalReport, SeedSpread};
use star_model::model::DEFAULT_RERANK;
use star_train::cf::{CfModelKind, CfTrainConfig};
use star_train::distill::{GrpoConfig, LossWeights, SftConfig, TrajectoryView};
use star_train::sasrec::SasRecTrainConfig;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The longest history the teacher sees for a training position.
pub const TEACH_HISTORY: usize = 200;

/// Settings of a whole run (the flags of `star run` and of the `movielens` example).
#[derive(clap::Args, Clone, Debug)]
pub struct RunConfig {
    /// movielens-100k, movielens-1m, movielens-latest-small, synthetic[:SEED | :key=value,...] (e.g. synthetic:users=60,items=200), or any name with --data.
    #[arg(long, default_value = "movielens-100k")]
    pub dataset: String,
    /// Read the dataset from this directory instead of fetching it.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Seed of candidate sampling and training.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Negatives per case (the paper's protocol: 19, i.e. 20 candidates).
    #[arg(long, default_value_t = 19)]
    pub negatives: usize,
    /// Run directory (default: runs/<dataset>).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Cap on training epochs of every model (default: each model's own limit).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Device for training: flex (CPU), ndarray, wgpu or cuda[:N], among the compiled backends;
    /// or several separated by commas (`--devices cuda:0,cuda:1`): the CF encoders, SASRec and
    /// SFT train on all of them, everything else runs on the first.
    #[arg(long, visible_alias = "devices", default_value = "default")]
    pub device: String,
    /// Evaluation threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Teacher episodes per user (its most recent training positions).
    #[arg(long, default_value_t = 2)]
    pub teach_per_user: usize,
    /// Kept teacher trajectories the student learns from.
    #[arg(long, default_value_t = 300)]
    pub trajectories: usize,
    /// The teacher also calls `sequence_score`, SASRec's ranking of the candidates (training
    /// requests answered by the `--sequence-folds` fold models): a teacher above SASRec, but
    /// the student distilled from it is worse, so it is off by default (BENCHMARKS.md).
    #[arg(long)]
    pub sequence_tool: bool,
    /// Fast-mode samples per user (prompt → ranking) for SFT, and as many GRPO prompts per
    /// user before them. Default: 20 000 / users, between 2 and 20 (20 on MovieLens-100K, 3
    /// on MovieLens-1M), so SFT and GRPO see about 20k samples whatever the dataset's size.
    #[arg(long)]
    pub fast_per_user: Option<usize>,
    /// The teacher: rule-based, or an LLM (`--llm`); the student learns from its trajectories
    /// and the evaluation includes it.
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Start the student from this pretrained Hugging Face checkpoint (Llama, Qwen2, Qwen3,
    /// Mistral, with its tokenizer.json) instead of a small random decoder; full fine-tuning.
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// LoRA instead of full fine-tuning of the student.
    #[command(flatten)]
    pub lora: LoraArgs,
    /// The student's item table: BPR-MF's item embeddings, or BPR-MF's and SASRec's.
    #[arg(long, value_enum, default_value_t = ItemFusion::default())]
    pub fusion: ItemFusion,
    /// Sequence evidence: the student also sees SASRec's scores of each candidate, on training
    /// prompts from this many SASRec fold models cross-fitted over the users (trained after
    /// SASRec), elsewhere from SASRec itself; 0: none.
    #[arg(long, default_value_t = DEFAULT_SEQUENCE_FOLDS, value_parser = sequence_folds)]
    pub sequence_folds: usize,
    /// Distillation from SASRec's whole ranking of the candidates.
    #[command(flatten)]
    pub soft: SoftTargetArgs,
    /// Students distilled, each with its own training seed, that rank together as one
    /// ensemble (`student-fast` is their mean log-softmax over the candidates; GRPO trains the
    /// first, and the report's `student-single` is that one alone). Default 1: over 3 training
    /// seeds on MovieLens-100K two students were not measurably better than one (BENCHMARKS.md).
    /// `star recommend` serves one student directory (the first by default).
    #[arg(long, default_value_t = DEFAULT_STUDENTS, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(1..), |n| n as usize))]
    pub students: usize,
    /// History items the student's prompt shows (the most recent).
    #[arg(long, default_value_t = DEFAULT_PROMPT_HISTORY, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(1..), |n| n as usize))]
    pub history: usize,
    /// Refit BPR-MF and LightGCN on the train and valid interactions (for the epoch count
    /// validation chose) and score the test split with the refits: their test requests hold
    /// the valid item, which these models otherwise never see. The teacher's tools and the
    /// student's item table keep the models validation chose. `--refit-cf false` scores the
    /// test split with the validated models, as RecBole does.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub refit_cf: bool,
    /// Train every model this many times, with the training seeds seed, seed + 1, … (the test
    /// candidates stay those of --seed); the runs after the first go to <run dir>/seeds/<seed>/,
    /// and report.md gains each method's mean ± sd over the seeds (also in seeds.json).
    #[arg(long, default_value_t = 1, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(1..), |n| n as usize))]
    pub train_seeds: usize,
    /// Teacher threads (requests in flight with --llm, capped by STAR_LLM_MAX_CONCURRENCY).
    #[arg(long, default_value_t = 2)]
    pub teach_threads: usize,
}

/// What a finished run wrote.
#[derive(Debug)]
pub struct RunOutcome {
    /// Every method on the test candidates.
    pub report: EvalReport,
    /// report.md: the report and the full-catalogue table.
    pub markdown: String,
    /// Wall seconds of each stage run now (finished stages skipped on a rerun are absent). The CF
    /// encoders and SASRec train at the same time, so their stages overlap; `baselines
    /// (together)` is the wall time of the two.
    pub stages: Vec<(String, f64)>,
    /// Wall seconds of the whole call.
    pub total_s: f64,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The plots drawn (none when they could not be, e.g. without a font).
    pub plots: Vec<PathBuf>,
    /// The final students' model directories: the ensemble's, the first student (after GRPO)
    /// first.
    pub students: Vec<PathBuf>,
}

impl RunOutcome {
    /// The closing lines: stage timings and the files written.
    pub fn summary(&self) -> String {
        let timings: Vec<String> = self
            .stages
            .iter()
            .map(|(s, t)| format!("{s} {t:.1}s"))
            .collect();
        let plots: Vec<String> = self
            .plots
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        format!(
            "stages: {}; total {:.1}s\nwrote {}/report.md, report.json, full_catalogue.json, per_user.jsonl{}{}; the student{} in {}",
            timings.join(", "),
            self.total_s,
            self.run_dir.display(),
            if plots.is_empty() { "" } else { ", " },
            plots.join(", "),
            if self.students.len() > 1 { "s are" } else { " is" },
            self.students
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Runs (or resumes) the whole pipeline; `home` is the dataset cache. With
/// [`RunConfig::train_seeds`] above 1, every model is trained again with the training seeds
/// `seed + 1, …` in `<run dir>/seeds/<seed>/` (the same test candidates), and report.md and
/// `seeds.json` get each method's mean ± sd over the seeds ([`SeedSpread`]).
pub fn run(cfg: &RunConfig, home: PathBuf) -> Result<RunOutcome> {
    let t0 = Instant::now();
    let mut outcome = run_seed(cfg, &home, cfg.seed, cfg.run_dir.clone())?;
    if cfg.train_seeds <= 1 {
        return Ok(outcome);
    }
    let reference = outcome
        .report
        .comparisons
        .iter()
        .find(|c| c.role == STRONGEST)
        .map(|c| c.against.clone())
        .context("the report names no strongest baseline to compare the seeds against")?;
    let mut runs = vec![(cfg.seed, outcome.report.clone())];
    let t = Instant::now();
    for i in 1..cfg.train_seeds as u64 {
        let seed = cfg.seed + i;
        let dir = outcome.run_dir.join("seeds").join(seed.to_string());
        tracing::info!(
            "training seed {seed} ({} of {}): {}",
            i + 1,
            cfg.train_seeds,
            dir.display()
        );
        let o = run_seed(cfg, &home, seed, Some(dir))?;
        runs.push((seed, o.report));
    }
    let spread = SeedSpread::of(&runs, &reference)?;
    let json = serde_json::to_string_pretty(&spread)?;
    star_cf::fsutil::write_atomic(&outcome.run_dir.join("seeds.json"), |w| {
        std::io::Write::write_all(w, json.as_bytes())
    })?;
    outcome.markdown = format!("{}\n{}", outcome.markdown, spread.to_markdown());
    star_cf::fsutil::write_atomic(&outcome.run_dir.join("report.md"), |w| {
        std::io::Write::write_all(w, outcome.markdown.as_bytes())
    })?;
    outcome
        .stages
        .push(("other training seeds".into(), t.elapsed().as_secs_f64()));
    outcome.total_s = t0.elapsed().as_secs_f64();
    Ok(outcome)
}

/// One run of the pipeline into `run_dir` (default `runs/<dataset>`): the candidate files
/// from the protocol seed [`RunConfig::seed`], every model trained with `train_seed`.
fn run_seed(
    cfg: &RunConfig,
    home: &Path,
    train_seed: u64,
    run_dir: Option<PathBuf>,
) -> Result<RunOutcome> {
    let mut spec = DataSpec::named(&cfg.dataset);
    spec.data_dir = cfg.data.clone();
    spec.home = home.to_path_buf();
    let protocol = Protocol {
        seed: cfg.seed,
        negatives: cfg.negatives,
    };
    let compute = Compute::new(&cfg.device)?;
    let mut stages: Vec<(String, f64)> = Vec::new();
    let t0 = Instant::now();

    // 1. Data, split, candidate files (valid and test), evidence store.
    let t = Instant::now();
    let p = prepare(&spec, run_dir.as_deref(), SplitKind::Test, protocol)?;
    let valid = p.for_split(SplitKind::Valid)?;
    stages.push(("prepare".into(), t.elapsed().as_secs_f64()));
    let run = &p.run;

    let fast_per_user = cfg
        .fast_per_user
        .unwrap_or_else(|| (20_000 / p.ds.num_users().max(1)).clamp(2, 20));

    // 2. Neural baselines, each skipped when its summary exists and resumed when interrupted.
    // The CF encoders (one after the other) and SASRec train on two threads at once: each
    // keeps about one core busy. Every random draw of either has a seed of its own
    // (initialisation, negatives, SASRec's dropout masks), so neither changes the other.
    let cap = |n: usize| cfg.epochs.map_or(n, |c| c.min(n));
    if !cfg.refit_cf {
        // the evaluation scores the test split with any refit it finds
        if let Some(dir) = [CfModelKind::Mf, CfModelKind::LightGcn]
            .map(|k| run.cf_refit(k))
            .into_iter()
            .find(|d| d.exists())
        {
            anyhow::bail!(
                "--refit-cf false, but {} holds a refit that the test split would be scored with; remove it or use another run directory",
                dir.display()
            );
        }
    }
    let cf_stages = || -> Result<Vec<(String, f64)>> {
        let mut done = Vec::new();
        for kind in [CfModelKind::Mf, CfModelKind::LightGcn] {
            let rec = CfTrainConfig::recommended(kind).with_seed(train_seed);
            let train = rec.clone().with_max_epochs(cap(rec.max_epochs));
            let dir = run.cf(kind);
            if dir.join("summary.json").is_file() {
                tracing::info!(
                    "{}: trained already ({})",
                    kind.method_name(),
                    dir.display()
                );
            } else {
                let t = Instant::now();
                let resume = dir.join("checkpoint").is_dir();
                train_cf_model(&p.ds, &p.split, run, &train, protocol, &compute, resume)?;
                done.push((
                    format!("train {}", kind.method_name()),
                    t.elapsed().as_secs_f64(),
                ));
            }
            let refit = run.cf_refit(kind);
            if cfg.refit_cf && !refit.join("summary.json").is_file() {
                let t = Instant::now();
                let resume = refit.join("checkpoint").is_dir();
                refit_cf_model(&p.ds, &p.split, run, &train, protocol, &compute, resume)?;
                done.push((
                    format!("refit {}", kind.method_name()),
                    t.elapsed().as_secs_f64(),
                ));
            }
        }
        Ok(done)
    };
    let sasrec_stage = || -> Result<Vec<(String, f64)>> {
        let mut done = Vec::new();
        let dir = run.sasrec();
        if dir.join("summary.json").is_file() {
            tracing::info!("SASRec: trained already ({})", dir.display());
        } else {
            let t = Instant::now();
            let rec = SasRecTrainConfig::new().with_seed(train_seed);
            let train = rec.clone().with_max_epochs(cap(rec.max_epochs));
            let resume = dir.join("checkpoint").is_dir();
            train_sasrec_model(&p.ds, &p.split, run, &train, protocol, &compute, resume)?;
            done.push(("train SASRec".into(), t.elapsed().as_secs_f64()));
        }
        let folds = cfg.sequence_folds;
        let missing = (0..folds).any(|k| !run.sasrec_fold(k, folds).join("summary.json").is_file());
        if folds >= 2 && missing {
            let t = Instant::now();
            train_sasrec_folds(&p.ds, &p.split, run, folds, protocol, &compute)?;
            done.push((
                format!("train SASRec folds ({folds})"),
                t.elapsed().as_secs_f64(),
            ));
        }
        Ok(done)
    };
    let t = Instant::now();
    let (cf_done, sasrec_done) = std::thread::scope(|s| {
        let sasrec = s.spawn(sasrec_stage);
        let cf = cf_stages();
        let sasrec = sasrec
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (cf, sasrec)
    });
    let (cf_done, sasrec_done) = (cf_done?, sasrec_done?);
    if !cf_done.is_empty() || !sasrec_done.is_empty() {
        stages.extend(cf_done);
        stages.extend(sasrec_done);
        stages.push(("baselines (together)".into(), t.elapsed().as_secs_f64()));
    }

    // 3. The teacher on training positions (resumable), then the outcome filter.
    let t = Instant::now();
    let chat = cfg.llm.chat_model()?;
    let teacher = build_teacher(
        teacher_resources(&p, cfg.sequence_tool.then_some(cfg.sequence_folds))?,
        chat.clone(),
        TeacherVariant::Full,
    );
    let jobs = star_agents::teach::training_jobs(
        &p.ds,
        &p.split,
        cfg.teach_per_user,
        TEACH_HISTORY,
        protocol.negatives,
        train_seed,
    );
    let scope = TeachScope {
        shard: star_agents::teach::Shard::ALL,
        limit: None,
        threads: cfg.teach_threads,
    };
    let stem = format!("{}-train", teacher.name());
    let taught = teach_and_filter(&teacher, jobs, scope, &run.trajectories(), &stem, 1)?;
    tracing::info!(
        "teacher: {} episodes ({} written now), kept {} -> {}",
        taught.summary.jobs,
        taught.summary.written,
        taught.filter.kept,
        taught.kept_path.display()
    );
    stages.push(("teach".into(), t.elapsed().as_secs_f64()));

    // 4. Distillation: SFT of each student of the ensemble (each with its own training
    //    seed, which also picks its trajectories and negatives), then GRPO of the first;
    //    each skipped when its model directory exists, resumed when it has checkpoints.
    for member in 0..cfg.students {
        let dir = run.student_member(member);
        let stage = match member {
            0 => "SFT".to_string(),
            k => format!("SFT, student-{k}"),
        };
        if dir.join("model/config.json").is_file() {
            tracing::info!("{stage}: trained already ({})", dir.join("model").display());
            continue;
        }
        let t = Instant::now();
        let opts = DistillOptions {
            sft: SftConfig::new(cfg.soft.apply(LossWeights::new(), cfg.sequence_folds))
                .with_max_epochs(cap(6))
                .with_batch_size(16)
                .with_learning_rate(2e-3)
                .with_patience(2)
                .with_seed(member_seed(train_seed, member))
                .with_average(SFT_AVERAGE),
            view: TrajectoryView {
                max_segment_chars: 100,
                max_tool_calls: 4,
                ..Default::default()
            },
            max_trajectories: Some(cfg.trajectories),
            fast_per_user,
            vocab: 4000,
            base: cfg.base.clone(),
            lora: cfg.lora.config(),
            resume: dir.join("sft/checkpoint").is_dir(),
            evidence: Default::default(),
            fusion: cfg.fusion,
            history: cfg.history,
            sequence_folds: cfg.sequence_folds,
            out: Some(dir),
            trajectories: Some(taught.kept_path.clone()),
        };
        let (_, r) = distill_sft(&valid, &opts, &compute)?;
        tracing::info!(
            "{stage}: {} of {}, valid avg-HR {:.2}",
            r.kept(),
            r.epochs_run,
            100.0 * r.valid_score
        );
        stages.push((stage, t.elapsed().as_secs_f64()));
    }
    let grpo = run.grpo();
    if grpo.join("model/config.json").is_file() {
        tracing::info!("GRPO: trained already ({})", grpo.join("model").display());
    } else {
        let t = Instant::now();
        let opts = GrpoOptions {
            grpo: GrpoConfig::new()
                .with_max_epochs(cap(1))
                .with_learning_rate(5e-6)
                .with_kl(0.04)
                .with_group(16)
                .with_batch_size(64)
                .with_seed(train_seed),
            from: run.sft_model(),
            out: grpo.clone(),
            per_user: fast_per_user,
            skip: fast_per_user,
            sequence_folds: cfg.sequence_folds,
            max_prompts: None,
            resume: grpo.join("checkpoint").is_dir(),
        };
        let (_, r) = distill_grpo(&valid, &opts, &compute)?;
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
    let mut report = eval_baselines(&p, cfg.threads)?;
    let baselines: Vec<String> = report.methods.iter().map(|(n, _)| n.clone()).collect();
    report
        .methods
        .extend(eval_teacher(&p, chat, cfg.threads, cfg.sequence_tool)?.methods);
    // the ensemble with the first student after GRPO and after SFT, and that student alone
    let others = (1..cfg.students).map(|k| run.student_member(k).join("model"));
    let with = |first: PathBuf| std::iter::once(first).chain(others.clone()).collect();
    let mut students: Vec<(String, Vec<PathBuf>)> = vec![
        ("student-fast".to_string(), with(grpo.join("model"))),
        ("student-no-grpo".to_string(), with(run.sft_model())),
    ];
    if cfg.students > 1 {
        students.push((SINGLE_STUDENT.to_string(), vec![grpo.join("model")]));
    }
    report
        .methods
        .extend(eval_students(&p, &students, &compute, false, cfg.threads)?.methods);
    add_comparisons(&mut report, &baselines)?;
    let mut catalogue = eval_full_catalogue(&p)?;
    let catalogue_baselines: Vec<String> = catalogue.iter().map(|r| r.method.clone()).collect();
    catalogue.extend(eval_students_catalogue(
        &p,
        &students[..1],
        &compute,
        DEFAULT_RERANK,
    )?);
    add_catalogue_comparison(&mut catalogue, &catalogue_baselines)?;
    stages.push(("evaluate".into(), t.elapsed().as_secs_f64()));

    let dir = run.path();
    report.save_json(&dir.join("report.json"))?;
    report.per_user_jsonl(&dir.join("per_user.jsonl"))?;
    let markdown = format!(
        "{}\n## Full catalogue (test split, temporal leave-one-out)\n\n{}",
        report.to_markdown(),
        catalogue_markdown(&catalogue)
    );
    star_cf::fsutil::write_atomic(&dir.join("report.md"), |w| {
        std::io::Write::write_all(w, markdown.as_bytes())
    })?;
    save_catalogue(&dir.join("full_catalogue.json"), &catalogue)?;

    let t = Instant::now();
    let plots = match write_plots(&report, run) {
        Ok(files) => files,
        Err(e) => {
            // The numbers are written already; a missing font must not lose them.
            tracing::warn!("plots not drawn: {e:#}");
            Vec::new()
        }
    };
    stages.push(("plots".into(), t.elapsed().as_secs_f64()));
    Ok(RunOutcome {
        report,
        markdown,
        stages,
        total_s: t0.elapsed().as_secs_f64(),
        run_dir: dir.to_path_buf(),
        plots,
        students: students.swap_remove(0).1,
    })
}
