//! `star distill`: SFT on the teacher's trajectories, then GRPO; each evaluates its model on the
//! test candidates.

use crate::args::{DataArgs, ProtocolArgs};
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use star::cf::split::SplitKind;
use star::model::model::EvidenceMode;
use star::pipeline::sequence::{sequence_folds, DEFAULT_SEQUENCE_FOLDS};
use star::pipeline::soft_targets::SoftTargetArgs;
use star::pipeline::student::{
    distill_grpo, distill_sft, eval_students, DistillOptions, GrpoOptions, ItemFusion, LoraArgs,
    DEFAULT_PROMPT_HISTORY,
};
use star::pipeline::{Compute, DataSpec};
use star::train::distill::{GrpoConfig, LossWeights, SftConfig, TrajectoryView};
use star::train::lr_decay::LrDecay;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum DistillCommand {
    /// Supervised fine-tuning on the kept trajectories plus fast-mode ranking samples; writes
    /// runs/<dataset>/student/model and evaluates it on the test candidates.
    Sft(SftArgs),
    /// GRPO after SFT: rank-only rollouts (Plackett–Luce rankings sampled from the scores) or,
    /// with --explain, sampled explain-mode trajectories with live tool calls; writes
    /// OUT/model and evaluates it on the test candidates.
    Grpo(GrpoArgs),
}

/// How CST evidence enters the prompt.
#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum EvidenceArg {
    /// As marker features.
    Features,
    /// As text after each candidate.
    Text,
    /// Not at all (the no-CST ablation).
    None,
}

impl From<EvidenceArg> for EvidenceMode {
    fn from(e: EvidenceArg) -> EvidenceMode {
        match e {
            EvidenceArg::Features => EvidenceMode::Features,
            EvidenceArg::Text => EvidenceMode::Text,
            EvidenceArg::None => EvidenceMode::None,
        }
    }
}

#[derive(Args)]
pub struct SftArgs {
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
    /// Keep the mean of the weights of the last this many epochs instead of the epoch with
    /// the best valid avg-HR (0 or 1: the best epoch; the main job averages 3).
    #[arg(long, default_value_t = 0)]
    average: usize,
    /// How the learning rate moves over --epochs: constant, or decayed to 0 at the last step
    /// (linear, cosine).
    #[arg(long, default_value = "constant")]
    lr_decay: LrDecay,
    /// Cut each batch into this many parts trained on threads of their own (the result
    /// depends on this number, not on the machine's thread count).
    #[arg(long, default_value_t = 2)]
    parts: usize,
    /// Use at most this many kept trajectories (0: none, fast-mode samples only).
    #[arg(long)]
    max_trajectories: Option<usize>,
    /// Fast-mode samples: the last this many train positions of every user.
    #[arg(long, default_value_t = 20)]
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
    /// Tokenizer vocabulary size (ignored with --base).
    #[arg(long, default_value_t = 4000)]
    vocab: usize,
    /// Start from a pretrained Hugging Face checkpoint (Llama, Qwen2, Qwen3, Mistral; with its
    /// tokenizer.json) instead of a small random decoder: its tokenizer gains the STAR tokens,
    /// its embeddings grow to them, and every weight is fine-tuned.
    #[arg(long)]
    base: Option<PathBuf>,
    #[command(flatten)]
    lora: LoraArgs,
    /// Device: flex, ndarray, wgpu, cuda[:N]; or several separated by commas
    /// (`--devices cuda:0,cuda:1`) to train on all of them.
    #[arg(long, visible_alias = "devices", default_value = "flex")]
    device: String,
    /// Continue from the latest checkpoint.
    #[arg(long)]
    resume: bool,
    /// How CST evidence enters the prompt.
    #[arg(long, value_enum, default_value_t = EvidenceArg::Features)]
    evidence: EvidenceArg,
    /// The student's item table: BPR-MF's item embeddings, or BPR-MF's and SASRec's.
    #[arg(long, value_enum, default_value_t = ItemFusion::default())]
    fusion: ItemFusion,
    /// Sequence evidence: the student also sees SASRec's scores of each candidate, on training
    /// prompts from this many SASRec fold models cross-fitted over the users (trained with the
    /// run's SASRec's recipe when missing), elsewhere from the run's SASRec; 0: none.
    #[arg(long, default_value_t = DEFAULT_SEQUENCE_FOLDS, value_parser = sequence_folds)]
    sequence_folds: usize,
    /// Distillation from SASRec's whole ranking of the candidates.
    #[command(flatten)]
    soft: SoftTargetArgs,
    /// History items the student's prompt shows (the most recent).
    #[arg(long, default_value_t = DEFAULT_PROMPT_HISTORY, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(1..), |n| n as usize))]
    history: usize,
    /// Student directory (sft/ and model/); default runs/<dataset>/student.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The kept trajectories (JSONL); default runs/<dataset>/trajectories/teacher-train.kept.jsonl
    /// (an LLM teacher's are teacher-llm-train.kept.jsonl).
    #[arg(long)]
    trajectories: Option<PathBuf>,
}

impl SftArgs {
    /// The distillation options these flags describe.
    fn options(&self) -> DistillOptions {
        DistillOptions {
            sft: SftConfig::new(self.soft.apply(LossWeights::new(), self.sequence_folds))
                .with_max_epochs(self.epochs)
                .with_batch_size(self.batch_size)
                .with_learning_rate(self.lr)
                .with_patience(self.patience)
                .with_average(self.average)
                .with_lr_decay(self.lr_decay)
                .with_parts(self.parts)
                .with_seed(self.protocol.seed),
            view: TrajectoryView {
                reflection: !self.no_reflection,
                tools: !self.no_tools,
                max_segment_chars: self.max_segment_chars,
                max_tool_calls: self.max_tool_calls,
            },
            max_trajectories: self.max_trajectories,
            fast_per_user: self.fast_per_user,
            vocab: self.vocab,
            base: self.base.clone(),
            lora: self.lora.config(),
            resume: self.resume,
            evidence: self.evidence.into(),
            fusion: self.fusion,
            history: self.history,
            sequence_folds: self.sequence_folds,
            out: self.out.clone(),
            trajectories: self.trajectories.clone(),
        }
    }
}

#[derive(Args)]
pub struct GrpoArgs {
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
    /// Folds of the cross-fitted SASRec behind the training prompts' sequence evidence (when
    /// the SFT model has sequence evidence; as in `star distill sft`).
    #[arg(long, default_value_t = DEFAULT_SEQUENCE_FOLDS, value_parser = sequence_folds)]
    sequence_folds: usize,
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
    /// Cut each step's prompts into this many parts trained on threads of their own (the
    /// result depends on this number, not on the machine's thread count).
    #[arg(long, default_value_t = 2)]
    parts: usize,
    /// Device: flex, ndarray, wgpu, cuda[:N].
    #[arg(long, default_value = "flex")]
    device: String,
    /// Continue from the latest checkpoint.
    #[arg(long)]
    resume: bool,
}

impl GrpoArgs {
    /// The GRPO options these flags describe, with the defaults of the run's `student/`.
    fn options(&self, student: &Path) -> GrpoOptions {
        GrpoOptions {
            grpo: GrpoConfig::new()
                .with_group(self.group)
                .with_parts(self.parts)
                .with_explain(self.explain)
                .with_kl(self.kl)
                .with_clip(self.clip)
                .with_temperature(self.temperature)
                .with_format_weight(self.format_weight)
                .with_max_new_tokens(self.max_new_tokens)
                .with_max_epochs(self.epochs)
                .with_batch_size(self.batch_size)
                .with_learning_rate(self.lr)
                .with_patience(self.patience)
                .with_seed(self.protocol.seed),
            from: self.from.clone().unwrap_or_else(|| student.join("model")),
            out: self.out.clone().unwrap_or_else(|| student.join("grpo")),
            per_user: self.per_user,
            skip: self.skip,
            sequence_folds: self.sequence_folds,
            max_prompts: self.max_prompts,
            resume: self.resume,
        }
    }
}

/// Evaluates the model directory `dir` in fast mode on the test candidates, prints the report
/// and writes it to `out`.
fn eval_on_test(
    spec: &DataSpec,
    protocol: &ProtocolArgs,
    dir: &Path,
    compute: &Compute,
    out: &Path,
) -> Result<()> {
    let test = protocol.prepare(spec, SplitKind::Test)?;
    let models = [("student-fast".to_string(), vec![dir.to_path_buf()])];
    let report = eval_students(&test, &models, compute, false, 1)?;
    println!("{}", report.to_markdown());
    report.save_json(out)?;
    Ok(())
}

impl DistillCommand {
    pub fn run(self, home: &Option<PathBuf>) -> Result<()> {
        match self {
            DistillCommand::Sft(a) => {
                let compute = Compute::new(&a.device)?;
                let spec = a.data.spec(home);
                let valid = a.protocol.prepare(&spec, SplitKind::Valid)?;
                let opts = a.options();
                let (_, r) = distill_sft(&valid, &opts, &compute)?;
                let out = opts.dir(&valid);
                println!(
                    "SFT: {} of {} (valid avg-HR {:.2}), {:.1}s -> {}",
                    r.kept(),
                    r.epochs_run,
                    100.0 * r.valid_score,
                    r.train_seconds,
                    out.join("model").display()
                );
                eval_on_test(
                    &spec,
                    &a.protocol,
                    &out.join("model"),
                    &compute,
                    &out.join("eval-test.json"),
                )?;
            }
            DistillCommand::Grpo(a) => {
                let compute = Compute::one(&a.device)?;
                let spec = a.data.spec(home);
                let valid = a.protocol.prepare(&spec, SplitKind::Valid)?;
                let opts = a.options(&valid.run.student());
                let (_, r) = distill_grpo(&valid, &opts, &compute)?;
                println!(
                    "GRPO: best epoch {} of {} (valid avg-HR {:.2}), {:.1}s -> {}",
                    r.best_epoch,
                    r.epochs_run,
                    100.0 * r.valid_score,
                    r.train_seconds,
                    opts.out.join("model").display()
                );
                eval_on_test(
                    &spec,
                    &a.protocol,
                    &opts.out.join("model"),
                    &compute,
                    &opts.out.join("eval-test.json"),
                )?;
            }
        }
        Ok(())
    }
}
