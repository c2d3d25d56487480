//! GRPO after SFT (group relative policy optimisation, DeepSeekMath's recipe applied to
//! ranking): for each prompt the policy draws a group of `G` outputs, each is rewarded, the
//! rewards are normalised within the group into advantages, and the policy maximises the
//! clipped-ratio surrogate minus a KL penalty to the SFT model.
//!
//! Two rollout modes:
//! - **rank-only** (default, cheap): one forward pass per prompt gives the candidate scores;
//!   `G` rankings are sampled from them as Plackett–Luce permutations (the Gumbel-top-k
//!   trick). The actions are the ranking's places; a ranking is always well formed.
//! - **explain**: `G` trajectories are sampled token by token in explain mode, with the tool
//!   calls answered live through the model's [`star_model::model::ToolExecutor`]; the ranking
//!   is then sampled from the scores at the `<recommend>` reached. The actions are the
//!   generated tokens (tool responses and the prompt are conditioned on) plus the ranking's
//!   places.
//!
//! Reward = tiered outcome ([`outcome_reward`]: 1, 2/3, 1/3, 0 for the true item at rank 1,
//! in the top 3, in the top 5, lower) + `format_weight` × format (1 when the rollout reached
//! `<recommend>` by itself and every tool call succeeded; always 1 in rank-only mode).
//!
//! Each rollout group is used for one gradient step (`μ = 1`, the common setting), so the
//! probability ratio to the sampling policy is exactly 1 at that step and the clip never
//! binds: the update is the advantage-weighted policy gradient plus the KL term.
//! [`grpo_loss`] implements the general clipped objective (tested with ratios away from 1), so
//! several updates per rollout group (`μ > 1`) would only need the rollouts kept.

use super::data::{collate, item_from_tokens, DistillBatch, DistillItem, DistillSample};
use super::loss::LossWeights;
use super::sft::{
    batch_count, batch_loader, epoch_batches, fit_on_avg_hr, select_best, DistillOutput, SftResult,
    TermLossMetric,
};
use crate::loader::EpochLoader;
use crate::metrics::RankingOutput;
use crate::run::{prepare_run_dir, FitOptions, TrainError};
use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::train::{InferenceStep, TrainOutput, TrainStep};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use star_model::model::{Sampling, StarModel, StarNet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Hyper-parameters of GRPO.
#[derive(Config, Debug, PartialEq)]
pub struct GrpoConfig {
    /// Rollouts per prompt (the group size `G`).
    #[config(default = 8)]
    pub group: usize,
    /// Explain-mode rollouts (sampled trajectories with live tool calls) instead of
    /// rank-only ones.
    #[config(default = false)]
    pub explain: bool,
    /// KL coefficient `β` to the SFT model.
    #[config(default = 0.001)]
    pub kl: f64,
    /// Clip range `ε` of the probability ratio.
    #[config(default = 0.2)]
    pub clip: f64,
    /// Sampling temperature of rankings (and of tokens in explain mode).
    #[config(default = 1.0)]
    pub temperature: f64,
    /// Places of the ranking sampled (the reward looks at the top 5).
    #[config(default = 5)]
    pub rank_depth: usize,
    /// Weight of the format reward.
    #[config(default = 0.5)]
    pub format_weight: f64,
    /// Token budget of an explain-mode rollout before `<recommend>` is forced.
    #[config(default = 256)]
    pub max_new_tokens: usize,
    /// Maximum epochs over the prompts.
    #[config(default = 3)]
    pub max_epochs: usize,
    /// Prompts per step (each with `group` rollouts).
    #[config(default = 16)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[config(default = 1e-4)]
    pub learning_rate: f64,
    /// Early-stopping patience in epochs (on validation avg-HR).
    #[config(default = 2)]
    pub patience: usize,
    /// Seed of the batch order and the rollouts.
    #[config(default = 42)]
    pub seed: u64,
}

/// The tiered outcome reward of a ranking in which the true item is at 0-based place `rank`
/// (`None`: not among the places ranked): 1 at rank 1, 2/3 in the top 3, 1/3 in the top 5,
/// 0 below.
pub fn outcome_reward(rank: Option<usize>) -> f64 {
    match rank {
        Some(0) => 1.0,
        Some(1 | 2) => 2.0 / 3.0,
        Some(3 | 4) => 1.0 / 3.0,
        _ => 0.0,
    }
}

/// Group-normalised advantages: `rewards` holds consecutive groups of `group` rollouts; each
/// reward becomes `(r − mean) / std` of its group (population standard deviation), or 0 when
/// the group's rewards are all equal.
pub fn group_advantages(rewards: &[f64], group: usize) -> Vec<f64> {
    let group = group.max(1);
    let mut out = Vec::with_capacity(rewards.len());
    for g in rewards.chunks(group) {
        let n = g.len() as f64;
        let mean = g.iter().sum::<f64>() / n;
        let std = (g.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
        out.extend(
            g.iter()
                .map(|r| if std > 1e-9 { (r - mean) / std } else { 0.0 }),
        );
    }
    out
}

/// Samples the first `depth` places of a Plackett–Luce ranking with weights
/// `exp(score / temperature)` (Gumbel-top-k). Non-finite scores come last, in index order.
pub fn sample_ranking(
    scores: &[f32],
    temperature: f64,
    depth: usize,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let t = temperature.max(1e-6);
    let mut keys: Vec<(f64, usize)> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            if s.is_finite() {
                let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                (s as f64 / t - (-u.ln()).ln(), i)
            } else {
                (f64::NEG_INFINITY, i)
            }
        })
        .collect();
    keys.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    keys.into_iter()
        .take(depth.min(scores.len()))
        .map(|(_, i)| i)
        .collect()
}

/// The log-probability of each place of `rankings` (rows of equal length `d`) under
/// Plackett–Luce with weights `exp(scores / temperature)`: `[N, d]`, where entry `(n, i)` is
/// `log p(rankings[n][i] | the places before)`. `scores` is `[N, C]`.
pub fn ranking_logp(scores: Tensor<2>, rankings: &[Vec<usize>], temperature: f64) -> Tensor<2> {
    let [n, c] = scores.dims();
    let d = rankings.first().map_or(0, Vec::len);
    let device = scores.device();
    let mut excluded = vec![0.0f32; n * d * c];
    let mut chosen = vec![0i64; n * d];
    for (r, ranking) in rankings.iter().enumerate() {
        assert_eq!(ranking.len(), d, "rankings of unequal length");
        for (i, &item) in ranking.iter().enumerate() {
            chosen[r * d + i] = item as i64;
            // the items of earlier places are out of the running at place i
            for &before in &ranking[..i] {
                excluded[(r * d + i) * c + before] = -1e9;
            }
        }
    }
    let z = scores
        .div_scalar(temperature.max(1e-6))
        .reshape([n, 1, c])
        .repeat_dim(1, d)
        + Tensor::<3>::from_data(TensorData::new(excluded, [n, d, c]), &device);
    log_softmax(z, 2)
        .gather(
            2,
            Tensor::<3, Int>::from_data(TensorData::new(chosen, [n, d, 1]), &device),
        )
        .reshape([n, d])
}

/// The GRPO objective as a loss, with the mean KL estimate: for rollout `n` with actions
/// `u` (mask 1), log-probabilities `logp` under the policy, `old` under the sampling policy
/// and `reference` under the SFT model, and advantage `adv[n]`,
///
/// `loss = −mean_n [ Σ_u mask·(min(ρ·A, clip(ρ, 1−ε, 1+ε)·A) − β·KL_u) / Σ_u mask ]`
///
/// with `ρ = exp(logp − old)` and `KL_u = exp(ref − logp) − (ref − logp) − 1` (the unbiased,
/// non-negative estimator of DeepSeekMath). All log-probability tensors are `[N, U]`.
pub fn grpo_loss(
    logp: Tensor<2>,
    old: Tensor<2>,
    reference: Tensor<2>,
    mask: Tensor<2>,
    adv: Tensor<1>,
    clip: f64,
    beta: f64,
) -> (Tensor<1>, Tensor<1>) {
    let [n, _] = logp.dims();
    let a = adv.reshape([n, 1]);
    let ratio = (logp.clone() - old).exp();
    let unclipped = ratio.clone() * a.clone();
    let clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * a;
    let surrogate = unclipped.min_pair(clipped);
    let diff = reference - logp;
    let kl = diff.clone().exp() - diff - 1.0;
    let per = (surrogate - kl.clone().mul_scalar(beta)) * mask.clone();
    let count = mask.clone().sum_dim(1).clamp_min(1.0);
    let loss = (per.sum_dim(1) / count).mean().neg();
    let kl_mean = (kl * mask.clone()).sum() / mask.sum().clamp_min(1.0);
    (loss, kl_mean)
}

/// A prompt GRPO trains on: its sample (request, true item) and its fast-mode tokens.
#[derive(Clone, Debug)]
pub struct GrpoPrompt {
    /// The sample (its trajectory is not used).
    pub sample: DistillSample,
    /// The prompt followed by `<recommend>`.
    pub item: DistillItem,
}

/// A GRPO step's prompts (equal candidate counts) and the seed of its rollouts.
#[derive(Clone, Debug)]
pub struct GrpoBatch {
    /// The prompts.
    pub prompts: Vec<GrpoPrompt>,
    /// Seed of the rollouts (a function of the run seed, the epoch and the batch).
    pub seed: u64,
}

/// What GRPO steps share: the settings, the frozen SFT model (the KL reference) and the
/// model that renders prompts and runs explain-mode rollouts.
#[derive(Clone)]
pub struct GrpoContext {
    cfg: GrpoConfig,
    /// The SFT network on the plain device.
    reference: StarNet,
    /// The student (binding, tools, tokenizer); its network is replaced by the policy's.
    model: StarModel,
    pad: u32,
    plain: Device,
}

impl std::fmt::Debug for GrpoContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpoContext")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// The policy as burn-train's `Learner` sees it.
#[derive(Module, Debug)]
pub struct GrpoLearner {
    /// The policy network.
    pub net: StarNet,
    /// Settings, reference model, rollout model.
    #[module(skip)]
    pub ctx: Arc<GrpoContext>,
}

/// One rollout group's actions, on their way to the loss.
struct Rollouts {
    /// `[N, U]` log-probabilities under the policy (with autodiff).
    logp: Tensor<2>,
    /// `[N, U]` under the reference, on the training device.
    reference: Tensor<2>,
    /// `[N, U]` 1 where a unit is an action.
    mask: Tensor<2>,
    rewards: Vec<f64>,
    /// The format reward of each rollout (0 or 1).
    formats: Vec<f64>,
}

fn rollout_rng(seed: u64, prompt: usize, g: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(
        seed ^ ((prompt as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            ^ ((g as u64 + 1).wrapping_mul(0xc2b2_ae3d_27d4_eb4f)),
    )
}

fn host_f32(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec()
        .expect("float tensor data")
}

/// Moves a (detached) tensor to `device` through host memory.
fn to_device<const D: usize>(t: Tensor<D>, device: &Device) -> Tensor<D> {
    Tensor::from_data(t.into_data(), device)
}

impl GrpoLearner {
    fn device(&self) -> Device {
        self.net.model.embed_tokens.weight.device()
    }

    /// Rank-only rollouts: one forward pass, `G` rankings sampled from the scores.
    fn rank_rollouts(&self, b: &GrpoBatch) -> Rollouts {
        let ctx = &self.ctx;
        let cfg = &ctx.cfg;
        let device = self.device();
        let items: Vec<DistillItem> = b.prompts.iter().map(|p| p.item.clone()).collect();
        let batch = collate(&items, ctx.pad, &device);
        let scores = self
            .net
            .candidate_scores(self.net.hidden(&batch.inputs), &batch.inputs);
        let c = scores.dims()[1];
        let host = host_f32(scores.clone().detach());
        let g = cfg.group.max(1);
        let depth = cfg.rank_depth.clamp(1, c);
        let mut rankings = Vec::with_capacity(items.len() * g);
        let mut rows = Vec::with_capacity(items.len() * g);
        let mut rewards = Vec::with_capacity(items.len() * g);
        for (i, it) in items.iter().enumerate() {
            for k in 0..g {
                let ranking = sample_ranking(
                    &host[i * c..(i + 1) * c],
                    cfg.temperature,
                    depth,
                    &mut rollout_rng(b.seed, i, k),
                );
                let rank = star_cf::rank_metrics::rank_in(&ranking, &it.positive);
                rewards.push(outcome_reward(rank) + cfg.format_weight);
                rankings.push(ranking);
                rows.push(i as i64);
            }
        }
        let n = rows.len();
        let rows_on =
            |d: &Device| Tensor::<1, Int>::from_data(TensorData::new(rows.clone(), [n]), d);
        let logp = ranking_logp(
            scores.select(0, rows_on(&device)),
            &rankings,
            cfg.temperature,
        );
        let rbatch = collate(&items, ctx.pad, &ctx.plain);
        let rscores = ctx
            .reference
            .candidate_scores(ctx.reference.hidden(&rbatch.inputs), &rbatch.inputs);
        let reference = to_device(
            ranking_logp(
                rscores.select(0, rows_on(&ctx.plain)),
                &rankings,
                cfg.temperature,
            ),
            &device,
        );
        Rollouts {
            mask: Tensor::ones([n, depth], &device),
            logp,
            reference,
            formats: vec![1.0; rewards.len()],
            rewards,
        }
    }

    /// Explain-mode rollouts: `G` sampled trajectories per prompt with live tool calls, each
    /// followed by a ranking sampled from its scores at `<recommend>`.
    fn explain_rollouts(&self, b: &GrpoBatch) -> Rollouts {
        let ctx = &self.ctx;
        let cfg = &ctx.cfg;
        let device = self.device();
        let policy = ctx.model.clone().with_net(self.net.valid());
        let g = cfg.group.max(1);
        let mut items = Vec::new();
        let mut rankings = Vec::new();
        let mut rewards = Vec::new();
        let mut formats = Vec::new();
        for (i, p) in b.prompts.iter().enumerate() {
            let c = p.sample.request.candidates.len();
            let depth = cfg.rank_depth.clamp(1, c);
            for k in 0..g {
                let mut rng = rollout_rng(b.seed, i, k);
                let mut decoding = Sampling::new(cfg.temperature as f32, rng.random());
                let e = policy
                    .explain_with(&p.sample.request, &mut decoding)
                    .unwrap_or_else(|m| panic!("explain-mode rollout of `{}`: {m}", p.sample.id));
                let ranking = sample_ranking(&e.scores, cfg.temperature, depth, &mut rng);
                let rank = star_cf::rank_metrics::rank_in(&ranking, &p.sample.positive);
                let format = if !e.forced && e.tool_errors == 0 {
                    1.0
                } else {
                    0.0
                };
                rewards.push(outcome_reward(rank) + cfg.format_weight * format);
                formats.push(format);
                rankings.push(ranking);
                items.push(
                    item_from_tokens(&policy, &p.sample, e.tokens)
                        .unwrap_or_else(|err| panic!("explain-mode rollout: {err}")),
                );
            }
        }
        let units = |net: &StarNet, batch: &DistillBatch| -> (Tensor<2>, Tensor<2>) {
            let hidden = net.hidden(&batch.inputs);
            let scores = net.candidate_scores(hidden.clone(), &batch.inputs);
            let logits = net.logits(hidden);
            let [n, t, _] = logits.dims();
            let tokens = log_softmax(logits, 2)
                .gather(2, batch.targets.clone().reshape([n, t, 1]))
                .reshape([n, t]);
            let places = ranking_logp(scores, &rankings, cfg.temperature);
            let mut mask = Tensor::<2>::zeros([n, t], &batch.targets.device());
            for (_, m, _) in &batch.masks {
                mask = mask + m.clone();
            }
            let d = places.dims()[1];
            (
                Tensor::cat(vec![tokens, places], 1),
                Tensor::cat(vec![mask, Tensor::ones([n, d], &batch.targets.device())], 1),
            )
        };
        let batch = collate(&items, ctx.pad, &device);
        let (logp, mask) = units(&self.net, &batch);
        let rbatch = collate(&items, ctx.pad, &ctx.plain);
        let (reference, _) = units(&ctx.reference, &rbatch);
        Rollouts {
            logp,
            reference: to_device(reference, &device),
            mask,
            rewards,
            formats,
        }
    }
}

impl TrainStep for GrpoLearner {
    type Input = GrpoBatch;
    type Output = DistillOutput;

    fn step(&self, b: GrpoBatch) -> TrainOutput<DistillOutput> {
        let cfg = &self.ctx.cfg;
        let r = if cfg.explain {
            self.explain_rollouts(&b)
        } else {
            self.rank_rollouts(&b)
        };
        let device = self.device();
        let adv = group_advantages(&r.rewards, cfg.group);
        let n = adv.len();
        let adv = Tensor::<1>::from_data(
            TensorData::new(adv.iter().map(|&a| a as f32).collect::<Vec<_>>(), [n]),
            &device,
        );
        let old = r.logp.clone().detach();
        let (loss, kl) = grpo_loss(r.logp, old, r.reference, r.mask, adv, cfg.clip, cfg.kl);
        let mean = |xs: &[f64]| (xs.iter().sum::<f64>() / xs.len().max(1) as f64) as f32;
        let (mean_reward, mean_format) = (mean(&r.rewards), mean(&r.formats));
        let grads = loss.backward();
        use star_cf::metric_names::{FORMAT, KL, REWARD};
        TrainOutput::new(
            self,
            grads,
            DistillOutput {
                loss: loss.clone(),
                terms: vec![
                    (REWARD, Tensor::from_data([mean_reward], &device)),
                    (FORMAT, Tensor::from_data([mean_format], &device)),
                    (KL, kl),
                ],
            },
        )
    }
}

impl InferenceStep for GrpoLearner {
    type Input = DistillBatch;
    type Output = RankingOutput;

    fn step(&self, b: DistillBatch) -> RankingOutput {
        let out = super::loss::distill_loss(&self.net, &b, &LossWeights::rank_only());
        RankingOutput {
            loss: out.rank,
            scores: out.scores,
            positive: b.positive,
        }
    }
}

/// What GRPO produced (the same fields as SFT's result).
pub type GrpoResult = SftResult;

/// Runs GRPO from `sft` (a bound student; for explain-mode rollouts it needs its tools) on
/// `train` prompts, validating in fast mode on `valid` items, with all artefacts under `dir`
/// (`resume` continues from the latest checkpoint). The checkpoint with the best validation
/// avg-HR is returned, or the starting model (`best_epoch` 0) when no epoch validates better.
pub fn train_grpo(
    cfg: &GrpoConfig,
    sft: &StarModel,
    train: Vec<DistillSample>,
    valid: Vec<DistillItem>,
    dir: &Path,
    device: &Device,
    resume: bool,
) -> Result<GrpoResult, TrainError> {
    let fail = |m: String| TrainError::Training(m);
    if train.is_empty() || valid.is_empty() {
        return Err(fail(
            "GRPO needs training prompts and validation items".into(),
        ));
    }
    let start_epoch = prepare_run_dir(dir, cfg, resume, |c: GrpoConfig| c.with_max_epochs(0))?;
    let pad = sft
        .tokenizer()
        .token_id("<pad>")
        .ok_or_else(|| fail("the tokenizer has no <pad>".into()))?;
    let model = sft.clone().with_max_new_tokens(cfg.max_new_tokens);
    let prompts: Vec<GrpoPrompt> = train
        .into_iter()
        .map(|s| {
            let fast = DistillSample {
                trajectory: None,
                ..s.clone()
            };
            super::data::tokenize(&model, &fast)
                .map(|item| GrpoPrompt { sample: s, item })
                .map_err(|e| fail(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    if cfg.explain {
        // fail here, not inside a training step, when explain mode cannot run
        let p = &prompts[0];
        let e = model
            .explain_with(&p.sample.request, &mut Sampling::new(1.0, cfg.seed))
            .map_err(|m| fail(format!("explain-mode rollout of `{}`: {m}", p.sample.id)))?;
        item_from_tokens(&model, &p.sample, e.tokens).map_err(|e| fail(e.to_string()))?;
    }
    let items: Arc<Vec<DistillItem>> = Arc::new(prompts.iter().map(|p| p.item.clone()).collect());
    let prompts = Arc::new(prompts);
    let count = batch_count(&items, cfg.batch_size);
    let (batch, seed) = (cfg.batch_size, cfg.seed);
    let train_loader: Arc<dyn DataLoader<GrpoBatch>> = Arc::new(
        EpochLoader::new(
            move |epoch| {
                epoch_batches(&items, batch, seed, epoch)
                    .into_iter()
                    .enumerate()
                    .map(|(k, b)| GrpoBatch {
                        prompts: b.into_iter().map(|i| prompts[i].clone()).collect(),
                        seed: seed
                            ^ (epoch as u64 + 1).wrapping_mul(0xff51_afd7_ed55_8ccd)
                            ^ (k as u64 + 1).wrapping_mul(0xc4ce_b9fe_1a85_ec53),
                    })
                    .collect()
            },
            |xs: &[GrpoBatch], _d: &Device| xs[0].clone(),
            1,
            count,
            device.clone(),
        )
        .starting_at(start_epoch),
    );
    let vitems = Arc::new(valid);
    let valid_loader: Arc<dyn DataLoader<DistillBatch>> =
        Arc::new(batch_loader(vitems.clone(), 64, cfg.seed, pad, device));

    let start_avg_hr = super::sft::avg_hr(model.net(), &vitems, pad, device);
    eprintln!(
        "{}: the starting model's valid avg-HR is {:.2} %",
        if cfg.explain { "GRPO-explain" } else { "GRPO" },
        100.0 * start_avg_hr
    );
    let t = Instant::now();
    let ad = device.clone().autodiff();
    ad.seed(cfg.seed);
    let ctx = Arc::new(GrpoContext {
        cfg: cfg.clone(),
        reference: model.net().clone().fork(device).valid(),
        model: model.clone(),
        pad,
        plain: device.clone(),
    });
    let learner = GrpoLearner {
        net: model.net().clone().fork(&ad).train(),
        ctx: ctx.clone(),
    };
    fit_on_avg_hr(
        learner,
        dir,
        train_loader,
        valid_loader,
        FitOptions {
            label: if cfg.explain { "GRPO-explain" } else { "GRPO" }.into(),
            max_epochs: cfg.max_epochs,
            patience: cfg.patience,
            learning_rate: cfg.learning_rate,
            start_epoch,
        },
        |t| {
            use star_cf::metric_names::{FORMAT, KL, REWARD};
            t.metric_train_numeric(TermLossMetric::named(REWARD, REWARD, true))
                .metric_train_numeric(TermLossMetric::named(FORMAT, FORMAT, true))
                .metric_train_numeric(TermLossMetric::named(KL, KL, false))
        },
    )?;
    let train_seconds = t.elapsed().as_secs_f64();
    let (best_epoch, valid_avg_hr, net, epochs_run) =
        select_best(dir, &vitems, pad, device, |path| {
            GrpoLearner {
                net: model.net().clone().fork(device),
                ctx: ctx.clone(),
            }
            .try_load_file(path)
            .map(|l| l.net)
        })?;
    // GRPO never hands back a model that validates worse than the one it started from
    let (best_epoch, valid_avg_hr, net) = if start_avg_hr > valid_avg_hr {
        eprintln!(
            "GRPO: no epoch beat the starting model on valid avg-HR ({:.2} % ≥ {:.2} %); keeping it",
            100.0 * start_avg_hr,
            100.0 * valid_avg_hr
        );
        (0, start_avg_hr, sft.net().clone())
    } else {
        (best_epoch, valid_avg_hr, net)
    };
    Ok(GrpoResult {
        model: sft.clone().with_net(net),
        best_epoch,
        valid_avg_hr,
        epochs_run,
        train_seconds,
        resumed_after: (start_epoch > 0).then_some(start_epoch),
        dir: dir.to_path_buf(),
    })
}
