//! The student: distillation samples, SFT on the teacher's kept trajectories, GRPO after it,
//! loading model directories and evaluating them.

use super::baselines::{runner, train_cf_model, trained_sasrec};
use super::data::{scenario_tagger, Prepared};
use super::layout::Compute;
use super::samples::{fast_samples, valid_samples};
use super::sequence::{required_sasrec, sequence_evidence};
use super::students::load_ensemble;
use super::teacher::teacher_resources;
use anyhow::{bail, Context, Result};
use burn::prelude::Tensor;
use star_cf::split::SplitKind;
use star_eval::catalogue::{evaluate_catalogue, CatalogueResult};
use star_eval::{baselines, EvalReport};
use star_model::cf::CfEmbeddings;
use star_model::model::{EvidenceMode, InferenceMode, StarModel, ToolExecutor};
use star_model::student::{LoraConfig, LoraTarget};
use star_train::cf::{CfModelKind, CfTrainConfig};
use star_train::distill::{
    DistillItem, DistillSample, GrpoConfig, GrpoResult, SftConfig, SftResult, TrajectoryView,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// History items the student's prompt shows when `--history` is not given (the evidence and
/// SASRec's scores still read up to [`FAST_HISTORY`](super::samples::FAST_HISTORY) items).
/// 50, SASRec's `max_len`, was the default for two sessions: validation on 943 users does not separate the two (its
/// differences stay within the ±0.5 it moves between epochs), and 20 is the cheaper prompt
/// (about 20 % fewer tokens, a faster SFT and a lower latency). Measured on MovieLens-100K
/// (AMD EPYC) over 3 training seeds, every model retrained: with checkpoint averaging
/// ([`SFT_AVERAGE`]) 20 items gave student-fast +0.71, +0.11 and +0.18 avg-HR over 50 on
/// test, without it +0.78 for 50 on one seed and +1.31 and +1.17 for 20 on the others
/// (BENCHMARKS.md, issue 17, seventh to ninth sessions).
pub const DEFAULT_PROMPT_HISTORY: usize = 20;

/// The main job's student is the mean of the weights of its last this many SFT epochs
/// ([`SftConfig::average`]), not the one epoch with the best validation avg-HR. Validation on
/// 943 users moves by about ±0.5 between epochs, so picking one epoch by it was a large part
/// of the spread over training seeds. On MovieLens-100K (AMD EPYC, 3 training seeds, same
/// epochs run, 50 history items) the mean gave student-fast 75.01 ± 0.15 avg-HR against
/// 74.61 ± 1.00 for the best epoch; paired per seed −0.64, +1.34 (interval above 0) and
/// +0.49, so higher on average, not on every seed (BENCHMARKS.md, issue 17, ninth session).
pub const SFT_AVERAGE: usize = 3;

/// LoRA fine-tuning (`--lora-rank` and its options).
#[derive(clap::Args, Clone, Debug)]
pub struct LoraArgs {
    /// Fine-tune with LoRA adapters of this rank instead of every weight: the decoder's layers
    /// are frozen, the adapters, the token embedding and the STAR head learn, and the adapters
    /// are folded into the weights when the model is saved.
    #[arg(long)]
    pub lora_rank: Option<usize>,
    /// LoRA α: the adapters' output is scaled by α / rank (default 2 × rank).
    #[arg(long, requires = "lora_rank")]
    pub lora_alpha: Option<f64>,
    /// The projections that get adapters (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj,
    /// down_proj).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "q_proj,k_proj,v_proj,o_proj",
        requires = "lora_rank"
    )]
    pub lora_targets: Vec<LoraTarget>,
}

impl LoraArgs {
    /// The LoRA configuration, or `None` for full fine-tuning.
    pub fn config(&self) -> Option<LoraConfig> {
        let rank = self.lora_rank?;
        let mut cfg = LoraConfig::new(rank);
        if let Some(alpha) = self.lora_alpha {
            cfg.alpha = alpha;
        }
        cfg.targets = self.lora_targets.clone();
        Some(cfg)
    }
}

/// Where the student's item table comes from: the CF embeddings fused into its `<item>`
/// markers and behind its catalogue keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ItemFusion {
    /// BPR-MF's item embeddings.
    Mf,
    /// BPR-MF's and SASRec's item embeddings side by side, SASRec's scaled to BPR-MF's mean
    /// row norm: the student sees what the sequential model learned of each item (SASRec
    /// must be trained first).
    #[default]
    MfSasrec,
}

/// How to distil the teacher into the student (`star distill sft`).
#[derive(Clone, Debug)]
pub struct DistillOptions {
    /// SFT hyper-parameters.
    pub sft: SftConfig,
    /// What the student learns of each trajectory.
    pub view: TrajectoryView,
    /// Use at most this many kept trajectories (`None`: all; `Some(0)`: none).
    pub max_trajectories: Option<usize>,
    /// Fast-mode samples (prompt + `<recommend>`, ranking loss only): the last this many train
    /// positions of every user, each with the protocol's number of negatives.
    pub fast_per_user: usize,
    /// Tokenizer vocabulary size (a tokenizer trained on the corpus; unused with `base`).
    pub vocab: usize,
    /// Start from this pretrained Hugging Face checkpoint (its decoder and `tokenizer.json`,
    /// with the STAR tokens added) instead of a small random decoder and a trained tokenizer.
    pub base: Option<PathBuf>,
    /// Fine-tune with LoRA adapters (decoder layers frozen) instead of every weight.
    pub lora: Option<LoraConfig>,
    /// Continue from the latest checkpoint.
    pub resume: bool,
    /// How the CST evidence enters the prompt (`EvidenceMode::None`: the no-CST ablation).
    pub evidence: EvidenceMode,
    /// Where the item table comes from.
    pub fusion: ItemFusion,
    /// History items the prompt shows (the most recent;
    /// [`DEFAULT_PROMPT_HISTORY`] in the CLI).
    pub history: usize,
    /// Sequence evidence: with `k ≥ 2`, every candidate marker also gets the run's SASRec's
    /// scores of the candidates as features; on training prompts they come from `k` SASRec
    /// fold models cross-fitted over the users (trained first when missing), on validation and
    /// test prompts from the SASRec trained on the whole train split. `0`: none.
    pub sequence_folds: usize,
    /// The student directory (`sft/`, `model/`); `None`: the run's `student/`.
    pub out: Option<PathBuf>,
    /// The kept trajectories (JSONL); `None`: the rule-based teacher's,
    /// `trajectories/teacher-train.kept.jsonl` of the run (an LLM teacher writes
    /// `teacher-llm-train.kept.jsonl`).
    pub trajectories: Option<PathBuf>,
}

impl DistillOptions {
    /// The student directory of the prepared run with these options.
    pub fn dir(&self, p: &Prepared) -> PathBuf {
        self.out.clone().unwrap_or_else(|| p.run.student())
    }

    /// The kept-trajectory file of the prepared run with these options.
    pub fn trajectories(&self, p: &Prepared) -> PathBuf {
        self.trajectories
            .clone()
            .unwrap_or_else(|| p.run.trajectories().join("teacher-train.kept.jsonl"))
    }
}

/// The dataset's raw item ids, in item order.
fn raw_items(p: &Prepared) -> Vec<String> {
    p.ds.items.iter().map(|i| i.raw_id.clone()).collect()
}

/// Distils the teacher's kept trajectories ([`DistillOptions::trajectories`]) into a student
/// with SFT on `compute`, validating on the valid candidates of `p` (prepared with
/// `SplitKind::Valid`). The item table is BPR-MF's item embeddings (trained first if missing)
/// and, by default, the trained SASRec's ([`ItemFusion`]). Writes
/// the model directory to `model/` of [`DistillOptions::dir`].
pub fn distill_sft(
    p: &Prepared,
    opts: &DistillOptions,
    compute: &Compute,
) -> Result<(StarModel, SftResult)> {
    use star_model::model::{ItemBinding, ModelConfig, StarConfig};
    use star_model::student::{DecoderConfig, StarTokenizer};
    use star_train::distill::{sample_from_episode, tokenize, tokenizer_corpus, train_sft};
    if p.kind() != SplitKind::Valid {
        bail!("distillation validates on the valid candidates");
    }
    let device = compute.device();
    let t0 = Instant::now();
    // trajectories
    let kept = opts.trajectories(p);
    let mut samples: Vec<DistillSample> = Vec::new();
    if opts.max_trajectories != Some(0) {
        if !kept.is_file() {
            bail!(
                "{}: no kept trajectories; run `star teach` and its filter first (or pass --max-trajectories 0)",
                kept.display()
            );
        }
        let episodes =
            star_agents::selection::select_episodes(&kept, opts.sft.seed, opts.max_trajectories)?;
        for ep in &episodes {
            samples.push(sample_from_episode(ep, &p.ds, &p.split, &opts.view)?);
        }
    }
    let n_traj = samples.len();
    samples.extend(fast_samples(
        p,
        opts.fast_per_user,
        0,
        opts.history,
        opts.sft.seed,
    )?);
    let valid = valid_samples(p);

    // the CF item embeddings
    let mf_path = p.run.cf(CfModelKind::Mf).join("embeddings.safetensors");
    if !mf_path.is_file() {
        train_cf_model(
            &p.ds,
            &p.split,
            &p.run,
            &CfTrainConfig::recommended(CfModelKind::Mf),
            p.protocol,
            compute,
            false,
        )?;
    }
    let emb = CfEmbeddings::load_safetensors(&mf_path, device)?;
    let items = fused_items(p, emb.items.val(), opts.fusion)?;
    let cf_dim = items.dims()[1];

    // tokenizer: prompts and trajectories (a bounded sample of each)
    let raw = raw_items(p);
    let mut star = StarConfig::new(raw.clone(), cf_dim);
    star.evidence = opts.evidence;
    star.history = opts.history;
    let sequence = sequence_evidence(p, opts.sequence_folds, compute)?;
    star.sequence_evidence = sequence.is_some();
    star.sequence_folds = if sequence.is_some() {
        opts.sequence_folds
    } else {
        0
    };
    // a resumed run must tokenise exactly as its checkpoints were trained: keep the tokenizer
    let dir = opts.dir(p);
    let tok_path = dir.join("sft").join("tokenizer.json");
    let student = match &opts.base {
        Some(base) => {
            device.seed(opts.sft.seed);
            StarModel::from_base(base, star, items, device)
                .with_context(|| format!("--base {}", base.display()))?
        }
        None => {
            let tok = if opts.resume && tok_path.is_file() {
                StarTokenizer::load(&tok_path)?
            } else {
                let binding = ItemBinding::new(&raw, &raw);
                let corpus = tokenizer_corpus(&samples, &star, &binding, Some(&p.store))?;
                let tok = StarTokenizer::train(corpus.into_iter(), opts.vocab)?;
                std::fs::create_dir_all(dir.join("sft"))?;
                tok.save(&tok_path)?;
                tok
            };
            device.seed(opts.sft.seed);
            StarModel::init(
                ModelConfig::new(DecoderConfig::student(tok.vocab_size()), star),
                tok,
                items,
                device,
            )?
        }
    };
    let student = match &opts.lora {
        Some(cfg) => student.with_lora(cfg)?,
        None => student,
    }
    .bind(&raw, Some(p.store.clone()));
    // training prompts see the cross-fitted scores, validation prompts the whole SASRec's
    let (student, train_student) = match sequence {
        Some(s) => (
            student.clone().with_sequence_evidence(s.eval),
            student.with_sequence_evidence(s.train.context("the fold models")?),
        ),
        None => (student.clone(), student),
    };

    // tokens
    let tokenize_all = |model: &StarModel, xs: &[DistillSample]| -> Result<Vec<DistillItem>> {
        xs.iter()
            .map(|s| tokenize(model, s).map_err(anyhow::Error::from))
            .collect()
    };
    let train = tokenize_all(&train_student, &samples)?;
    let valid = tokenize_all(&student, &valid)?;
    let tokens: usize = train.iter().map(|i| i.len()).sum();
    eprintln!(
        "distill: {} trajectories + {} fast samples ({} tokens), {} valid cases, vocabulary {}, prepared in {:.1}s",
        n_traj,
        samples.len() - n_traj,
        tokens,
        valid.len(),
        student.tokenizer().vocab_size(),
        t0.elapsed().as_secs_f64()
    );
    super::student_resume::keep_student_config(&dir.join("sft"), student.config(), opts.resume)?;
    let result = train_sft(
        &opts.sft,
        &student,
        train,
        valid,
        &dir.join("sft"),
        compute.devices(),
        opts.resume,
    )?;
    result.model.save(&dir.join("model"))?;
    Ok((result.model.clone(), result))
}

/// The student's item table `[items, dim]` from BPR-MF's item embeddings `mf` and, for
/// [`ItemFusion::MfSasrec`], the run's trained SASRec (an error naming the directory when the
/// run has none: SASRec takes minutes to train, so it is not trained behind the user's back).
fn fused_items(p: &Prepared, mf: Tensor<2>, fusion: ItemFusion) -> Result<Tensor<2>> {
    if fusion == ItemFusion::Mf {
        return Ok(mf);
    }
    let n = p.ds.num_items();
    let sasrec = required_sasrec(p, "--fusion mf-sasrec", "--fusion mf")?;
    // row 0 of SASRec's table is the padding item
    let w = sasrec.item_embedding.weight.val();
    let d = w.dims()[1];
    let seq = Tensor::<2>::from_data(w.slice([1..n + 1, 0..d]).into_data(), &mf.device());
    let mean_norm = |t: &Tensor<2>| -> f32 {
        t.clone()
            .powi_scalar(2)
            .sum_dim(1)
            .sqrt()
            .mean()
            .into_scalar()
    };
    let scale = mean_norm(&mf) / mean_norm(&seq).max(f32::MIN_POSITIVE);
    Ok(Tensor::cat(vec![mf, seq.mul_scalar(scale)], 1))
}

/// Options of GRPO after SFT.
#[derive(Clone, Debug)]
pub struct GrpoOptions {
    /// GRPO hyper-parameters.
    pub grpo: GrpoConfig,
    /// The SFT model directory to start from (and to stay close to).
    pub from: PathBuf,
    /// The output directory: checkpoints and logs, and the model in `model/`.
    pub out: PathBuf,
    /// Training prompts: this many train positions of every user, before the last `skip`.
    pub per_user: usize,
    /// Leave out the last this many train positions of every user (e.g. those SFT's fast
    /// samples already fit, where the SFT model's rewards are saturated).
    pub skip: usize,
    /// Folds of the cross-fitted SASRec behind the training prompts' sequence evidence, when
    /// the SFT model has sequence evidence ([`DistillOptions::sequence_folds`]).
    pub sequence_folds: usize,
    /// Use at most this many prompts, drawn with the seed (explain-mode rollouts are slow on a
    /// CPU).
    pub max_prompts: Option<usize>,
    /// Continue from the latest checkpoint.
    pub resume: bool,
}

/// The teacher's tools answering the student's tool calls (explain mode).
pub fn student_tools(p: &Prepared) -> Result<Arc<dyn ToolExecutor>> {
    let has_sasrec = p
        .run
        .sasrec()
        .join(star_model::sasrec::SASREC_WEIGHTS_FILE)
        .is_file();
    Ok(Arc::new(star_agents::tools::StudentTools {
        registry: star_agents::tools::ToolRegistry::standard(),
        // every tool the teacher may have had (a student calls only those it learned), so
        // `sequence_score` when the run has a SASRec; explain mode answers valid and test
        // requests, so the fold models are not needed
        resources: teacher_resources(p, has_sasrec.then_some(0))?,
    }))
}

/// Loads a student model directory bound to the prepared dataset's items and evidence, with
/// `tools` answering explain-mode tool calls (build them once with [`student_tools`]; fast
/// mode needs none).
pub fn load_student(
    p: &Prepared,
    model_dir: &Path,
    device: &burn::tensor::Device,
    tools: Option<Arc<dyn ToolExecutor>>,
) -> Result<StarModel> {
    let mut model = StarModel::load(model_dir, device)?.bind(&raw_items(p), Some(p.store.clone()));
    if model.config().star.sequence_evidence {
        let sasrec = trained_sasrec(&p.run, p.ds.num_items())?.with_context(|| {
            format!(
                "{}: the model has sequence evidence and {} has no trained SASRec",
                model_dir.display(),
                p.run.sasrec().display()
            )
        })?;
        model = model.with_sequence_evidence(Arc::new(sasrec));
    }
    Ok(match tools {
        Some(t) => model.with_tools(t),
        None => model,
    })
}

/// Full-catalogue HR@10 / NDCG@10 / MRR@10 (temporal leave-one-out, the split of `p`) of
/// students in fast mode, each named with its model directories (several: an ensemble): by
/// the context-free item keys alone (an ensemble's first student's), and with the top
/// `retrieve` items by those keys, and by the run's SASRec when it has one, re-ranked by the
/// full prompt ([`star_model::model::Reranked`]; an ensemble re-ranks with every student).
pub fn eval_students_catalogue(
    p: &Prepared,
    models: &[(String, Vec<PathBuf>)],
    compute: &Compute,
    retrieve: usize,
) -> Result<Vec<CatalogueResult>> {
    let kind = p.kind();
    let sasrec = trained_sasrec(&p.run, p.ds.num_items())?;
    let mut out = Vec::new();
    for (name, dirs) in models {
        let students = load_ensemble(p, name, dirs, compute)?;
        let keys = students.members()[0]
            .clone()
            .with_name(format!("{name} (keys)"));
        out.push(evaluate_catalogue(&p.split, kind, &keys));
        out.push(evaluate_catalogue(
            &p.split,
            kind,
            &students.reranked(retrieve),
        ));
        if let Some(sasrec) = &sasrec {
            out.push(evaluate_catalogue(
                &p.split,
                kind,
                &students.reranked(retrieve).retrieving_with(sasrec),
            ));
        }
    }
    Ok(out)
}

/// GRPO from an SFT student (`opts.from`) on `compute`, on the fast samples of the train split,
/// validating on the valid candidates of `p` (prepared with `SplitKind::Valid`). Writes the
/// model to `opts.out/model`.
pub fn distill_grpo(
    p: &Prepared,
    opts: &GrpoOptions,
    compute: &Compute,
) -> Result<(StarModel, GrpoResult)> {
    use star_train::distill::{tokenize, train_grpo};
    if p.kind() != SplitKind::Valid {
        bail!("GRPO validates on the valid candidates");
    }
    let device = compute.device();
    let t0 = Instant::now();
    let tools = if opts.grpo.explain {
        Some(student_tools(p)?)
    } else {
        None
    };
    let sft = load_student(p, &opts.from, device, tools)?;
    // rollouts on training positions see the cross-fitted scores; validation the whole SASRec's
    let train_sft = if sft.config().star.sequence_evidence {
        if opts.sequence_folds < 2 {
            bail!(
                "{}: the SFT model has sequence evidence; GRPO needs its fold models (--sequence-folds of 2 or more, as in SFT)",
                opts.from.display()
            );
        }
        let sft_folds = sft.config().star.sequence_folds;
        if sft_folds != 0 && sft_folds != opts.sequence_folds {
            bail!(
                "{}: the SFT model was trained with --sequence-folds {sft_folds}; GRPO was given --sequence-folds {} (use the same)",
                opts.from.display(),
                opts.sequence_folds
            );
        }
        let s = sequence_evidence(p, opts.sequence_folds, compute)?.context("sequence evidence")?;
        sft.clone()
            .with_sequence_evidence(s.train.context("the fold models")?)
    } else {
        sft.clone()
    };
    let shown = sft.config().star.history;
    let mut train = fast_samples(p, opts.per_user, opts.skip, shown, opts.grpo.seed)?;
    if let Some(n) = opts.max_prompts {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        train.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(opts.grpo.seed));
        train.truncate(n);
    }
    let valid = valid_samples(p)
        .iter()
        .map(|s| tokenize(&sft, s).map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    eprintln!(
        "grpo: {} prompts × {} {} rollouts, {} valid cases, prepared in {:.1}s",
        train.len(),
        opts.grpo.group,
        if opts.grpo.explain {
            "explain-mode"
        } else {
            "rank-only"
        },
        valid.len(),
        t0.elapsed().as_secs_f64()
    );
    if compute.devices().len() > 1 {
        // its learner holds per-device state (the rollout context and the reference model)
        eprintln!(
            "grpo: trains on the main device ({}) only; the CF encoders, SASRec and SFT use all of `{}`",
            compute.main_label(),
            compute.label()
        );
    }
    let result = train_grpo(
        &opts.grpo,
        &train_sft,
        train,
        valid,
        &opts.out,
        device,
        opts.resume,
    )?;
    result.model.save(&opts.out.join("model"))?;
    Ok((result.model.clone(), result))
}

/// Evaluates students on the prepared candidates, each under its method name with its model
/// directories (several: an ensemble, [`StarEnsemble`](star_model::model::StarEnsemble));
/// `explain` runs explain mode (with the teacher's tools answering tool calls) instead of fast
/// mode, which an ensemble refuses. Cases run on `threads` threads (latency stays per
/// request).
pub fn eval_students(
    p: &Prepared,
    models: &[(String, Vec<PathBuf>)],
    compute: &Compute,
    explain: bool,
    threads: usize,
) -> Result<EvalReport> {
    let tagger = scenario_tagger(&p.ds, &p.store);
    let repair = baselines::ItemKnn::new(p.store.clone());
    let runner = runner(p, &repair, &tagger, threads)?;
    let mut report = EvalReport::new(&p.candidates.header);
    let (mode, tools) = if explain {
        (InferenceMode::Explain, Some(student_tools(p)?))
    } else {
        (InferenceMode::Fast, None)
    };
    if explain {
        if let Some((name, dirs)) = models.iter().find(|(_, dirs)| dirs.len() > 1) {
            bail!(
                "model `{name}`: an ensemble of {} students ranks in fast mode only; explain one student at a time",
                dirs.len()
            );
        }
    }
    for (name, dirs) in models {
        let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        eprintln!(
            "eval: {name} ({}) on {} cases",
            shown.join(", "),
            p.candidates.cases.len()
        );
        if let [dir] = dirs.as_slice() {
            let student = load_student(p, dir, compute.device(), tools.clone())
                .with_context(|| format!("model `{name}`"))?
                .with_mode(mode)
                .with_name(name.clone());
            report.push(runner.run(&student));
        } else {
            report.push(runner.run(&load_ensemble(p, name, dirs, compute)?));
        }
    }
    Ok(report)
}
