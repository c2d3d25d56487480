//! The `star` command line: data preparation and evaluation (more stages land with their issues).

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use star::cf::data::{Dedup, PreprocessOptions};
use star::cf::fetch::{fetch, KnownDataset};
use star::cf::scenario::Scenario;
use star::cf::split::{Split, SplitKind};
use star::pipeline::{self, DataSpec};
use star::train::cf::{CfModelKind, CfTrainConfig};
use star::train::sasrec::SasRecTrainConfig;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

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
    /// Fetch, inspect and split datasets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train models.
    #[command(subcommand)]
    Train(TrainCommand),
    /// Evaluate methods on the 1+N candidate files.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Run the teacher and write trajectories (JSONL), resumable and shardable.
    Teach(TeachArgs),
    /// Distil the teacher's trajectories into the student.
    #[command(subcommand)]
    Distill(DistillCommand),
    /// Rank for one user with a student model: its test candidates (or --candidates, or the
    /// whole catalogue with --all-items), with the evidence behind each item.
    Recommend(RecommendArgs),
    /// Redraw a run directory's plots, or check its report and plots.
    #[command(subcommand)]
    Report(ReportCommand),
}

#[derive(Subcommand)]
enum ReportCommand {
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
    /// backend); latency and wall time are not compared.
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

#[derive(Args)]
struct RecommendArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// The student model directory (default: the run's final student, student/grpo/model,
    /// or the SFT model student/model when GRPO has not run).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The user (raw id).
    #[arg(long)]
    user: String,
    /// Candidates (raw ids, comma-separated); default: the user's test candidates.
    #[arg(long, value_delimiter = ',')]
    candidates: Vec<String>,
    /// Rank the whole catalogue (minus the user's history) through the fused top-k kernel.
    #[arg(long)]
    all_items: bool,
    /// How many items to print with --all-items.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Explain mode: generate the trajectory (plan, tool calls, reflection), then rank.
    #[arg(long)]
    explain: bool,
    /// Device: flex, ndarray, wgpu, cuda[:N].
    #[arg(long, default_value = "flex")]
    device: String,
}

#[derive(Subcommand)]
enum DistillCommand {
    /// Supervised fine-tuning on the kept trajectories plus fast-mode ranking samples; writes
    /// runs/<dataset>/student/model and evaluates it on the test candidates.
    Sft(SftArgs),
    /// GRPO after SFT: rank-only rollouts (Plackett–Luce rankings sampled from the scores) or,
    /// with --explain, sampled explain-mode trajectories with live tool calls; writes
    /// OUT/model and evaluates it on the test candidates.
    Grpo(GrpoArgs),
}

#[derive(Args)]
struct GrpoArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// The SFT model directory (default runs/<dataset>/student/model).
    #[arg(long)]
    from: Option<PathBuf>,
    /// Output directory (default runs/<dataset>/student/grpo); the model goes to OUT/model.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rollouts per prompt.
    #[arg(long, default_value_t = 8)]
    group: usize,
    /// Explain-mode rollouts instead of rank-only ones.
    #[arg(long)]
    explain: bool,
    /// KL coefficient to the SFT model.
    #[arg(long, default_value_t = 0.001)]
    kl: f64,
    /// Clip range of the probability ratio.
    #[arg(long, default_value_t = 0.2)]
    clip: f64,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Weight of the format reward.
    #[arg(long, default_value_t = 0.5)]
    format_weight: f64,
    /// Token budget of an explain-mode rollout.
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Training prompts: this many train positions of every user, before the last --skip.
    #[arg(long, default_value_t = 10)]
    per_user: usize,
    /// Leave out the last this many train positions of every user (those SFT fitted).
    #[arg(long, default_value_t = 0)]
    skip: usize,
    /// Use at most this many prompts, drawn with the seed.
    #[arg(long)]
    max_prompts: Option<usize>,
    /// Maximum epochs.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Prompts per step.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Early-stopping patience (epochs without a better valid avg-HR).
    #[arg(long, default_value_t = 2)]
    patience: usize,
    /// Device: flex, ndarray, wgpu, cuda[:N].
    #[arg(long, default_value = "flex")]
    device: String,
    /// Continue from the latest checkpoint.
    #[arg(long)]
    resume: bool,
}

#[derive(Args)]
struct SftArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Maximum epochs.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Early-stopping patience (epochs without a better valid avg-HR).
    #[arg(long, default_value_t = 3)]
    patience: usize,
    /// Use at most this many kept trajectories (0: none, fast-mode samples only).
    #[arg(long)]
    max_trajectories: Option<usize>,
    /// Fast-mode samples: the last this many train positions of every user.
    #[arg(long, default_value_t = 10)]
    fast_per_user: usize,
    /// Cut each trajectory segment after this many characters (0: no cut).
    #[arg(long, default_value_t = 200)]
    max_segment_chars: usize,
    /// Keep the first this many tool calls of a trajectory (0: all).
    #[arg(long, default_value_t = 8)]
    max_tool_calls: usize,
    /// Ablation: no reflection segments.
    #[arg(long)]
    no_reflection: bool,
    /// Ablation: no tool segments.
    #[arg(long)]
    no_tools: bool,
    /// Tokenizer vocabulary size.
    #[arg(long, default_value_t = 4000)]
    vocab: usize,
    /// Device: flex, ndarray, wgpu, cuda[:N].
    #[arg(long, default_value = "flex")]
    device: String,
    /// Continue from the latest checkpoint.
    #[arg(long)]
    resume: bool,
    /// How CST evidence enters the prompt: features, text, or none (the no-CST ablation).
    #[arg(long, default_value = "features", value_parser = parse_evidence)]
    evidence: star::model::model::EvidenceMode,
    /// Student directory (sft/ and model/); default runs/<dataset>/student.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The kept trajectories (JSONL); default runs/<dataset>/trajectories/teacher-train.kept.jsonl
    /// (an LLM teacher's are teacher-llm-train.kept.jsonl).
    #[arg(long)]
    trajectories: Option<PathBuf>,
}

fn parse_evidence(s: &str) -> Result<star::model::model::EvidenceMode, String> {
    use star::model::model::EvidenceMode;
    match s {
        "features" => Ok(EvidenceMode::Features),
        "text" => Ok(EvidenceMode::Text),
        "none" => Ok(EvidenceMode::None),
        other => Err(format!(
            "unknown evidence mode `{other}` (features, text, none)"
        )),
    }
}

#[derive(Args)]
struct TeachArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Output directory for trajectory files.
    #[arg(long)]
    out: PathBuf,
    /// Which requests: train (training samples), valid or test (candidate files).
    #[arg(long, default_value = "train")]
    split: String,
    /// Training samples per user (the most recent positions of the train sequence).
    #[arg(long, default_value_t = 10)]
    per_user: usize,
    /// Longest history given to the teacher for a training sample.
    #[arg(long, default_value_t = 200)]
    max_history: usize,
    /// This machine's share of the work, `i/n` (episode k goes to shard k mod n).
    #[arg(long, default_value = "0/1")]
    shard: star::agents::teach::Shard,
    /// Episodes run in parallel.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Stop after this many episodes of the shard (for trials).
    #[arg(long)]
    limit: Option<usize>,
    /// Use the LLM-prompted teacher (OpenAI-compatible server from STAR_LLM_BASE_URL, STAR_LLM_MODEL, STAR_LLM_API_KEY).
    #[arg(long)]
    llm: bool,
    /// Ablation: no reflector.
    #[arg(long)]
    no_reflection: bool,
    /// Ablation: no CST-evidence tools.
    #[arg(long)]
    no_cst: bool,
    /// Keep episodes whose true item is within the top k (1 = ranked first).
    #[arg(long, default_value_t = 1)]
    keep_top: usize,
}

#[derive(Subcommand)]
enum TrainCommand {
    /// Train a CF encoder (BPR-MF or LightGCN) with BPR; early stopping on valid NDCG@10.
    Cf {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        protocol: ProtocolArgs,
        /// mf, lightgcn, or all.
        #[arg(long, default_value = "all")]
        model: String,
        /// Maximum epochs.
        #[arg(long, default_value_t = 100)]
        epochs: usize,
        /// Embedding size.
        #[arg(long, default_value_t = 64)]
        dim: usize,
        /// LightGCN layers.
        #[arg(long, default_value_t = 3)]
        layers: usize,
        /// Adam learning rate (default: 1e-3 for BPR-MF, 5e-3 for LightGCN).
        #[arg(long)]
        lr: Option<f64>,
        /// Triples per batch (default: 2048 for BPR-MF, 8192 for LightGCN).
        #[arg(long)]
        batch_size: Option<usize>,
        /// L2 regularisation.
        #[arg(long, default_value_t = 1e-4)]
        l2: f64,
        /// Early-stopping patience in epochs.
        #[arg(long, default_value_t = 5)]
        patience: usize,
        /// Continue from the latest checkpoint in the run directory.
        #[arg(long)]
        resume: bool,
        /// Device: flex (default CPU), ndarray, wgpu, cuda[:N] — among the compiled backends.
        #[arg(long, default_value = "default")]
        device: String,
    },
    /// Train SASRec (causal self-attention over item sequences); early stopping on valid NDCG@10.
    Sasrec {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        protocol: ProtocolArgs,
        /// Maximum epochs.
        #[arg(long, default_value_t = 200)]
        epochs: usize,
        /// Longest sequence.
        #[arg(long, default_value_t = 50)]
        max_len: usize,
        /// Hidden size.
        #[arg(long, default_value_t = 64)]
        dim: usize,
        /// Self-attention blocks.
        #[arg(long, default_value_t = 2)]
        blocks: usize,
        /// Dropout.
        #[arg(long, default_value_t = 0.2)]
        dropout: f64,
        /// Adam learning rate.
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        /// Sequences per batch.
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        /// Early-stopping patience in epochs.
        #[arg(long, default_value_t = 10)]
        patience: usize,
        /// Continue from the latest checkpoint in the run directory.
        #[arg(long)]
        resume: bool,
        /// Device among the compiled backends.
        #[arg(long, default_value = "default")]
        device: String,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Download a dataset into the cache ($STAR_HOME/datasets).
    Fetch {
        /// movielens-100k, movielens-1m, movielens-latest-small or movielens-25m.
        dataset: String,
    },
    /// Print dataset statistics.
    Stats(DataArgs),
    /// Split (temporal leave-one-out) and write the valid and test candidate files.
    Split {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        protocol: ProtocolArgs,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// The teacher and its ablations (no reflection, no CST evidence).
    Teacher {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        protocol: ProtocolArgs,
        /// Which held-out item to evaluate on.
        #[arg(long, default_value = "test")]
        split: SplitKind,
        /// Write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Episodes run in parallel.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Use the LLM-prompted teacher (STAR_LLM_* variables).
        #[arg(long)]
        llm: bool,
    },
    /// Student model directories, each as NAME=DIR (or DIR, named student-fast /
    /// student-explain): student-fast, student-explain and the ablations student-no-grpo,
    /// student-no-reflection, student-no-tools, student-no-cst.
    Student {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        protocol: ProtocolArgs,
        /// A model directory, NAME=DIR or DIR (repeatable).
        #[arg(long = "model", required = true)]
        models: Vec<String>,
        /// Explain mode (generated trajectories, live tool calls) instead of fast mode.
        #[arg(long)]
        explain: bool,
        /// Which held-out item to evaluate on.
        #[arg(long, default_value = "test")]
        split: SplitKind,
        /// Evaluate only the first this many cases (explain mode is slow on a CPU).
        #[arg(long)]
        limit: Option<usize>,
        /// Worker threads (latency is per request either way).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Device: flex, ndarray, wgpu, cuda[:N].
        #[arg(long, default_value = "flex")]
        device: String,
    },
    /// Pop, ItemKNN, UserKNN and the CST evidence scorer.
    Baselines {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        protocol: ProtocolArgs,
        /// Which held-out item to evaluate on.
        #[arg(long, default_value = "test")]
        split: SplitKind,
        /// Write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write per-user results (JSON lines) to this file.
        #[arg(long)]
        per_user: Option<PathBuf>,
        /// Worker threads for the evaluation (latency is per request either way).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Also rank the whole catalogue (HR@10, NDCG@10, MRR@10) for Pop and trained CF models.
        #[arg(long)]
        full_catalogue: bool,
    },
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Dataset name: movielens-100k, movielens-1m, movielens-latest-small, movielens-25m,
    /// synthetic[:SEED], or any name together with --data.
    #[arg(long, default_value = "movielens-100k")]
    dataset: String,
    /// Read the dataset from this directory (format detected) instead of the cache.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Keep only interactions rated at least this much.
    #[arg(long)]
    min_rating: Option<f32>,
    /// k-core: every user and item keeps at least this many interactions.
    #[arg(long, default_value_t = 0)]
    k_core: usize,
    /// Repeated (user, item) pairs: first, last or all.
    #[arg(long, default_value = "first", value_parser = pipeline::parse_dedup)]
    dedup: Dedup,
}

#[derive(Args, Clone)]
struct ProtocolArgs {
    /// Seed of the negative sampling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Negatives per case (the paper's protocol: 19, i.e. 20 candidates).
    #[arg(long, default_value_t = 19)]
    negatives: usize,
    /// Run directory holding candidate files and caches (default: runs/<dataset>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
}

impl ProtocolArgs {
    /// Prepares `spec` for `split` under these protocol settings.
    fn prepare(&self, spec: &DataSpec, split: SplitKind) -> Result<pipeline::Prepared> {
        pipeline::prepare(
            spec,
            self.run_dir.as_deref(),
            split,
            self.seed,
            self.negatives,
        )
    }
}

impl DataArgs {
    fn spec(&self, home: &Option<PathBuf>) -> DataSpec {
        DataSpec {
            dataset: self.dataset.clone(),
            data_dir: self.data.clone(),
            home: home.clone().unwrap_or_else(star::cf::fetch::star_home),
            preprocess: PreprocessOptions {
                min_rating: self.min_rating,
                dedup: self.dedup,
                user_core: self.k_core,
                item_core: self.k_core,
            },
        }
    }
}

/// `star report check`: every problem of a run directory's report and plots, or Ok.
fn check_run(run_dir: &std::path::Path, methods: &[String]) -> Result<()> {
    use star::eval::plots;
    let mut problems: Vec<String> = Vec::new();
    match star::eval::EvalReport::load_json_checked(&run_dir.join("report.json")) {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    // burn-train logs every iteration at info level; keep its warnings only.
    let filter = if cli.quiet {
        "warn"
    } else {
        "info,burn_train=warn,burn_core=warn,burn_optim=warn"
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
    match cli.command {
        Command::Data(DataCommand::Fetch { dataset }) => {
            let known = KnownDataset::from_name(&dataset).with_context(|| {
                format!(
                    "unknown dataset `{dataset}` (known: {})",
                    KnownDataset::ALL.map(|d| d.name()).join(", ")
                )
            })?;
            let home = cli.home.unwrap_or_else(star::cf::fetch::star_home);
            let dir = fetch(&home, known)?;
            println!("{}: {}", known.name(), dir.display());
        }
        Command::Data(DataCommand::Stats(args)) => {
            let ds = args.spec(&cli.home).load()?;
            let s = ds.stats();
            println!("dataset       {}", s.name);
            println!("users         {}", s.users);
            println!("items         {}", s.items);
            println!("interactions  {}", s.interactions);
            println!("density       {:.4}%", 100.0 * s.density);
            println!(
                "per user      min {} / median {} / max {}",
                s.min_user_interactions, s.median_user_interactions, s.max_user_interactions
            );
            println!(
                "per item      min {} / max {}",
                s.min_item_interactions, s.max_item_interactions
            );
            println!("genres        {}", s.genres);
            println!(
                "time span     {} .. {}",
                s.first_timestamp, s.last_timestamp
            );
        }
        Command::Data(DataCommand::Split { data, protocol }) => {
            let ds = data.spec(&cli.home).load()?;
            let split = Split::temporal_leave_one_out(&ds);
            let run_dir = protocol
                .run_dir
                .clone()
                .unwrap_or_else(|| pipeline::default_run_dir(&ds));
            let store = pipeline::evidence_store(&ds, &split, &run_dir)?;
            let tagger = pipeline::scenario_tagger(&ds, &store);
            println!(
                "{}: {} train interactions, {} valid users, {} test users",
                ds.name,
                split.num_train_interactions(),
                split.eval_users(SplitKind::Valid).len(),
                split.eval_users(SplitKind::Test).len()
            );
            for kind in [SplitKind::Valid, SplitKind::Test] {
                let set = pipeline::candidates(
                    &ds,
                    &split,
                    &run_dir,
                    kind,
                    protocol.seed,
                    protocol.negatives,
                )?;
                let mut counts = std::collections::BTreeMap::new();
                for (i, c) in set.cases.iter().enumerate() {
                    let req = set.request(i, &split);
                    for s in tagger.tag(&req, c.target(), split.users[c.user.idx()].train.len()) {
                        *counts.entry(s).or_insert(0usize) += 1;
                    }
                }
                let slices: Vec<String> = Scenario::ALL
                    .iter()
                    .map(|s| format!("{s} {}", counts.get(s).copied().unwrap_or(0)))
                    .collect();
                println!(
                    "{kind}: {} cases of {} candidates -> {} ({})",
                    set.cases.len(),
                    set.header.num_candidates,
                    pipeline::candidate_path(&run_dir, kind, protocol.seed).display(),
                    slices.join(", ")
                );
            }
        }
        Command::Eval(EvalCommand::Baselines {
            data,
            protocol,
            split,
            json,
            per_user,
            threads,
            full_catalogue,
        }) => {
            let t = Instant::now();
            let prepared = protocol.prepare(&data.spec(&cli.home), split)?;
            let report = pipeline::eval_baselines(&prepared, threads)?;
            println!("{}", report.to_markdown());
            let stem = format!("eval-baselines-{split}");
            report.save_json(&prepared.run_dir.join(format!("{stem}.json")))?;
            star::cf::fsutil::write_atomic(&prepared.run_dir.join(format!("{stem}.md")), |w| {
                use std::io::Write;
                w.write_all(report.to_markdown().as_bytes())
            })?;
            if let Some(path) = json {
                report.save_json(&path)?;
                eprintln!("wrote {}", path.display());
            }
            if let Some(path) = per_user {
                report.per_user_jsonl(&path)?;
                eprintln!("wrote {}", path.display());
            }
            if full_catalogue {
                let results = pipeline::eval_full_catalogue(&prepared)?;
                let md = pipeline::catalogue_markdown(&results);
                println!("\n### Full catalogue ({split} split, temporal leave-one-out)\n\n{md}");
                let json = serde_json::to_string_pretty(&results)?;
                star::cf::fsutil::write_atomic(
                    &prepared
                        .run_dir
                        .join(format!("eval-full-catalogue-{split}.json")),
                    |w| std::io::Write::write_all(w, json.as_bytes()),
                )?;
            }
            tracing::info!("done in {:.2}s", t.elapsed().as_secs_f64());
        }
        Command::Train(TrainCommand::Cf {
            data,
            protocol,
            model,
            epochs,
            dim,
            layers,
            lr,
            batch_size,
            l2,
            patience,
            resume,
            device,
        }) => {
            let kinds = match model.as_str() {
                "mf" | "bpr-mf" => vec![CfModelKind::Mf],
                "lightgcn" => vec![CfModelKind::LightGcn],
                "all" => vec![CfModelKind::Mf, CfModelKind::LightGcn],
                other => anyhow::bail!("unknown CF model `{other}` (mf, lightgcn, all)"),
            };
            let ds = data.spec(&cli.home).load()?;
            let split = Split::temporal_leave_one_out(&ds);
            let run_dir = protocol
                .run_dir
                .clone()
                .unwrap_or_else(|| pipeline::default_run_dir(&ds));
            for kind in kinds {
                let rec = CfTrainConfig::recommended(kind);
                let cfg = CfTrainConfig::new(kind)
                    .with_max_epochs(epochs)
                    .with_dim(dim)
                    .with_layers(layers)
                    .with_learning_rate(lr.unwrap_or(rec.learning_rate))
                    .with_batch_size(batch_size.unwrap_or(rec.batch_size))
                    .with_l2(l2)
                    .with_patience(patience)
                    .with_seed(protocol.seed);
                let s = pipeline::train_cf_model(
                    &ds,
                    &split,
                    &run_dir,
                    &cfg,
                    protocol.seed,
                    &device,
                    resume,
                )?;
                println!(
                    "{}: best epoch {} of {} (valid NDCG@10 {:.2}), {:.1}s on {} -> {}",
                    s.method,
                    s.best_epoch,
                    s.epochs_run,
                    100.0 * s.valid_ndcg10,
                    s.train_seconds,
                    s.device,
                    pipeline::cf_dir(&run_dir, kind).display()
                );
            }
        }
        Command::Train(TrainCommand::Sasrec {
            data,
            protocol,
            epochs,
            max_len,
            dim,
            blocks,
            dropout,
            lr,
            batch_size,
            patience,
            resume,
            device,
        }) => {
            let ds = data.spec(&cli.home).load()?;
            let split = Split::temporal_leave_one_out(&ds);
            let run_dir = protocol
                .run_dir
                .clone()
                .unwrap_or_else(|| pipeline::default_run_dir(&ds));
            let cfg = SasRecTrainConfig::new()
                .with_max_epochs(epochs)
                .with_max_len(max_len)
                .with_dim(dim)
                .with_blocks(blocks)
                .with_dropout(dropout)
                .with_learning_rate(lr)
                .with_batch_size(batch_size)
                .with_patience(patience)
                .with_seed(protocol.seed);
            let s = pipeline::train_sasrec_model(
                &ds,
                &split,
                &run_dir,
                &cfg,
                protocol.seed,
                &device,
                resume,
            )?;
            println!(
                "SASRec: best epoch {} of {} (valid NDCG@10 {:.2}), {:.1}s on {} -> {}",
                s.best_epoch,
                s.epochs_run,
                100.0 * s.valid_ndcg10,
                s.train_seconds,
                s.device,
                pipeline::sasrec_dir(&run_dir).display()
            );
        }
        Command::Eval(EvalCommand::Teacher {
            data,
            protocol,
            split,
            json,
            threads,
            llm,
        }) => {
            let prepared = protocol.prepare(&data.spec(&cli.home), split)?;
            let chat = if llm {
                Some(pipeline::chat_model_from_env()?)
            } else {
                None
            };
            let report = pipeline::eval_teacher(&prepared, chat, threads)?;
            println!("{}", report.to_markdown());
            report.save_json(&prepared.run_dir.join(format!("eval-teacher-{split}.json")))?;
            if let Some(path) = json {
                report.save_json(&path)?;
                eprintln!("wrote {}", path.display());
            }
        }
        Command::Eval(EvalCommand::Student {
            data,
            protocol,
            models,
            explain,
            split,
            limit,
            threads,
            json,
            device,
        }) => {
            let mut prepared = protocol.prepare(&data.spec(&cli.home), split)?;
            if let Some(n) = limit {
                // the report's header counts the cases evaluated
                prepared.candidates.cases.truncate(n);
                prepared.candidates.header.cases = prepared.candidates.cases.len();
            }
            let default = if explain {
                "student-explain"
            } else {
                "student-fast"
            };
            let models: Vec<(String, PathBuf)> = models
                .iter()
                .map(|m| match m.split_once('=') {
                    Some((name, dir)) => (name.to_string(), PathBuf::from(dir)),
                    None => (default.to_string(), PathBuf::from(m)),
                })
                .collect();
            let report = pipeline::eval_students(&prepared, &models, &device, explain, threads)?;
            println!("{}", report.to_markdown());
            if let Some(path) = json {
                report.save_json(&path)?;
                eprintln!("wrote {}", path.display());
            }
        }
        Command::Distill(DistillCommand::Grpo(a)) => {
            let spec = a.data.spec(&cli.home);
            let valid = a.protocol.prepare(&spec, SplitKind::Valid)?;
            let student = pipeline::student_dir(&valid.run_dir);
            let opts = pipeline::GrpoOptions {
                grpo: star::train::distill::GrpoConfig::new()
                    .with_group(a.group)
                    .with_explain(a.explain)
                    .with_kl(a.kl)
                    .with_clip(a.clip)
                    .with_temperature(a.temperature)
                    .with_format_weight(a.format_weight)
                    .with_max_new_tokens(a.max_new_tokens)
                    .with_max_epochs(a.epochs)
                    .with_batch_size(a.batch_size)
                    .with_learning_rate(a.lr)
                    .with_patience(a.patience)
                    .with_seed(a.protocol.seed),
                from: a.from.clone().unwrap_or_else(|| student.join("model")),
                out: a.out.clone().unwrap_or_else(|| student.join("grpo")),
                per_user: a.per_user,
                skip: a.skip,
                max_prompts: a.max_prompts,
                device: a.device.clone(),
                resume: a.resume,
            };
            let (_, r) = pipeline::distill_grpo(&valid, &opts)?;
            println!(
                "GRPO: best epoch {} of {} (valid avg-HR {:.2}), {:.1}s -> {}",
                r.best_epoch,
                r.epochs_run,
                100.0 * r.valid_score,
                r.train_seconds,
                opts.out.join("model").display()
            );
            let test = a.protocol.prepare(&spec, SplitKind::Test)?;
            let report =
                pipeline::eval_student(&test, &opts.out.join("model"), &a.device, "student-fast")?;
            println!("{}", report.to_markdown());
            report.save_json(&opts.out.join("eval-test.json"))?;
        }
        Command::Recommend(a) => recommend(a, &cli.home)?,
        Command::Report(ReportCommand::Plot { run_dir }) => {
            let report = star::eval::EvalReport::load_json(&run_dir.join("report.json"))?;
            for f in pipeline::write_plots(&report, &run_dir)? {
                println!("wrote {}", f.display());
            }
        }
        Command::Report(ReportCommand::Check { run_dir, methods }) => {
            check_run(&run_dir, &methods)?
        }
        Command::Report(ReportCommand::Compare { a, b, tolerance }) => {
            let (ra, rb) = (
                star::eval::EvalReport::load_json_checked(&a)?,
                star::eval::EvalReport::load_json_checked(&b)?,
            );
            let d = ra.accuracy_differences(&rb, tolerance);
            if !d.is_empty() {
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
        Command::Teach(args) => teach(args, &cli.home)?,
        Command::Distill(DistillCommand::Sft(a)) => {
            let spec = a.data.spec(&cli.home);
            let valid = a.protocol.prepare(&spec, SplitKind::Valid)?;
            let opts = pipeline::DistillOptions {
                sft: star::train::distill::SftConfig::new(star::train::distill::LossWeights::new())
                    .with_max_epochs(a.epochs)
                    .with_batch_size(a.batch_size)
                    .with_learning_rate(a.lr)
                    .with_patience(a.patience)
                    .with_seed(a.protocol.seed),
                view: star::train::distill::TrajectoryView {
                    reflection: !a.no_reflection,
                    tools: !a.no_tools,
                    max_segment_chars: a.max_segment_chars,
                    max_tool_calls: a.max_tool_calls,
                },
                max_trajectories: a.max_trajectories,
                fast_per_user: a.fast_per_user,
                vocab: a.vocab,
                device: a.device.clone(),
                resume: a.resume,
                evidence: a.evidence,
                out: a.out.clone(),
                trajectories: a.trajectories.clone(),
            };
            let (_, r) = pipeline::distill_sft(&valid, &opts)?;
            let out = opts.dir(&valid.run_dir);
            println!(
                "SFT: best epoch {} of {} (valid avg-HR {:.2}), {:.1}s -> {}",
                r.best_epoch,
                r.epochs_run,
                100.0 * r.valid_score,
                r.train_seconds,
                out.join("model").display()
            );
            let test = a.protocol.prepare(&spec, SplitKind::Test)?;
            let report =
                pipeline::eval_student(&test, &out.join("model"), &a.device, "student-fast")?;
            println!("{}", report.to_markdown());
            report.save_json(&out.join("eval-test.json"))?;
        }
    }
    Ok(())
}

fn recommend(a: RecommendArgs, home: &Option<PathBuf>) -> Result<()> {
    use star::cf::{ItemId, RankRequest, Ranker};
    use std::time::Instant;
    let t0 = Instant::now();
    let p = a.protocol.prepare(&a.data.spec(home), SplitKind::Test)?;
    let device = star::model::device_from_name(&a.device).map_err(anyhow::Error::msg)?;
    let dir = a.model.clone().unwrap_or_else(|| {
        let student = pipeline::student_dir(&p.run_dir);
        let grpo = student.join("grpo").join("model");
        if grpo.join("config.json").is_file() {
            grpo
        } else {
            student.join("model")
        }
    });
    let tools = if a.explain {
        Some(pipeline::student_tools(&p)?)
    } else {
        None
    };
    let model = pipeline::load_student(&p, &dir, &device, tools)?.with_mode(if a.explain {
        star::model::model::InferenceMode::Explain
    } else {
        star::model::model::InferenceMode::Fast
    });
    let user =
        p.ds.user_by_raw(&a.user)
            .with_context(|| format!("user `{}` is not in the dataset", a.user))?;
    let history = p.split.history(user, SplitKind::Test);
    let candidates: Vec<ItemId> = if !a.candidates.is_empty() {
        a.candidates
            .iter()
            .map(|r| {
                p.ds.item_by_raw(r)
                    .with_context(|| format!("item `{r}` is not in the dataset"))
            })
            .collect::<Result<_>>()?
    } else {
        p.candidates
            .cases
            .iter()
            .find(|c| c.user == user)
            .map(|c| c.candidates.clone())
            .with_context(|| format!("user `{}` has no test candidates", a.user))?
    };
    let request = RankRequest {
        user,
        history,
        candidates,
    };
    let ready = t0.elapsed();
    let store = &p.store;
    let label = |item: ItemId| {
        format!(
            "[{}] {}",
            p.ds.items[item.idx()].raw_id,
            store.item_label(item)
        )
    };
    if a.all_items {
        let t = Instant::now();
        let top = model
            .top_k_catalogue(std::slice::from_ref(&request), a.k)
            .map_err(anyhow::Error::msg)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{} for user {}: top {} of the catalogue ({} history items left out), {ms:.1} ms",
            dir.display(),
            a.user,
            a.k,
            request.history.len()
        );
        for (rank, (item, score)) in top[0].iter().enumerate() {
            println!("{:>3}. {score:>7.3}  {}", rank + 1, label(*item));
        }
    } else {
        let t = Instant::now();
        let (ranking, explanation) = if a.explain {
            let ex = model.explain(&request).map_err(anyhow::Error::msg)?;
            let r = star::cf::Ranking::from_scores(&request.candidates, &ex.scores);
            (r, Some(ex))
        } else {
            (
                model
                    .rank(&request)
                    .map_err(|e| anyhow::anyhow!(e.to_string()))?,
                None,
            )
        };
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if let Some(ex) = &explanation {
            println!(
                "trajectory ({} tokens, {} tool calls, {} failed{}):\n{}\n",
                ex.tokens.len(),
                ex.tool_calls,
                ex.tool_errors,
                if ex.forced {
                    ", <recommend> forced"
                } else {
                    ""
                },
                ex.text
            );
        }
        println!(
            "{} for user {} ({} history items, {} candidates), {ms:.1} ms:",
            model.name(),
            a.user,
            request.history.len(),
            request.candidates.len()
        );
        let neighbors = store.user_neighbors(&request);
        let scores = ranking.scores.clone().unwrap_or_default();
        for (rank, (item, score)) in ranking.items.iter().zip(&scores).enumerate() {
            let ev = store.candidate_evidence(user, &request.history, &neighbors, *item);
            println!(
                "{:>3}. {score:>7.3}  {}  — {}",
                rank + 1,
                label(*item),
                store.sentences(&ev).join(" ")
            );
        }
    }
    eprintln!(
        "data, evidence and model ready in {:.0} ms; total {:.0} ms",
        ready.as_secs_f64() * 1e3,
        t0.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

fn teach(args: TeachArgs, home: &Option<PathBuf>) -> Result<()> {
    use star::agents::teach::{candidate_jobs, training_jobs};
    let kind = match args.split.as_str() {
        "train" => None,
        "valid" => Some(SplitKind::Valid),
        "test" => Some(SplitKind::Test),
        other => anyhow::bail!("unknown split `{other}` (train, valid, test)"),
    };
    let prepared = args
        .protocol
        .prepare(&args.data.spec(home), kind.unwrap_or(SplitKind::Valid))?;
    let jobs = match kind {
        None => training_jobs(
            &prepared.ds,
            &prepared.split,
            args.per_user,
            args.max_history,
            args.protocol.negatives,
            args.protocol.seed,
        ),
        Some(_) => candidate_jobs(&prepared.ds, &prepared.split, &prepared.candidates),
    };
    let chat = if args.llm {
        Some(pipeline::chat_model_from_env()?)
    } else {
        None
    };
    let variant = match (args.no_reflection, args.no_cst) {
        (false, false) => pipeline::TeacherVariant::Full,
        (true, false) => pipeline::TeacherVariant::NoReflection,
        (false, true) => pipeline::TeacherVariant::NoCst,
        (true, true) => anyhow::bail!("choose one ablation at a time"),
    };
    let teacher = pipeline::build_teacher(pipeline::teacher_resources(&prepared)?, chat, variant);
    let shard = args.shard;
    let stem = if shard.count == 1 {
        format!("{}-{}", teacher.name(), args.split)
    } else {
        format!(
            "{}-{}-shard{}of{}",
            teacher.name(),
            args.split,
            shard.index,
            shard.count
        )
    };
    let t = pipeline::teach_and_filter(
        &teacher,
        jobs,
        shard,
        args.limit,
        args.threads,
        &args.out,
        &stem,
        args.keep_top,
    )?;
    let summary = &t.summary;
    println!(
        "{}: {} episodes in shard {}/{} ({} already done, {} written, {} failed) in {:.1}s -> {}",
        teacher.name(),
        summary.jobs,
        shard.index,
        shard.count,
        summary.skipped,
        summary.written,
        summary.failed,
        summary.wall_s,
        t.path.display()
    );
    println!(
        "outcome filter (true item in the top {}): kept {} of {} episodes ({:.1}%) -> {}",
        args.keep_top.max(1),
        t.filter.kept,
        t.filter.total,
        100.0 * t.filter.kept_share(),
        t.kept_path.display()
    );
    if summary.failed > 0 {
        anyhow::bail!("{} episodes failed; rerun to retry them", summary.failed);
    }
    Ok(())
}
