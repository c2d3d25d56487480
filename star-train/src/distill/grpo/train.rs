//! The GRPO run: prompts and loaders, the learner set up from the SFT model, burn-train's
//! `Learner` on validation avg-HR, and the best checkpoint (or the starting model).

use super::config::GrpoConfig;
use super::learner::{GrpoBatch, GrpoLearner, GrpoPrompt};
use crate::distill::data::{item_from_tokens, DistillItem, DistillSample};
use crate::distill::sft::{avg_hr, batch_count, epoch_batches, valid_loader, TermLossMetric};
use crate::loader::EpochLoader;
use crate::outcome::{select_best, TrainOutcome};
use crate::run::{fit, prepare_run_dir, FitOptions, TrainError};
use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::prelude::*;
use star_model::model::{Sampling, StarModel};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// What GRPO produced: the student with the best checkpoint's weights (or the starting model's,
/// `best_epoch` 0), its validation avg-HR as the score.
pub type GrpoResult = TrainOutcome<StarModel>;

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
    if cfg.parts == 0 {
        return Err(fail("GRPO settings: parts must be at least 1".into()));
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
            crate::distill::data::tokenize(&model, &fast)
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
    let valid_loader = valid_loader(vitems.clone(), cfg.seed, pad, cfg.parts, device);

    let start_avg_hr = avg_hr(model.net(), &vitems, pad, device);
    eprintln!(
        "{}: the starting model's valid avg-HR is {:.2} %",
        if cfg.explain { "GRPO-explain" } else { "GRPO" },
        100.0 * start_avg_hr
    );
    let t = Instant::now();
    device.clone().autodiff().seed(cfg.seed);
    let learner = GrpoLearner::new(cfg, &model, pad, device);
    let ctx = learner.ctx.clone();
    let label = if cfg.explain { "GRPO-explain" } else { "GRPO" };
    let opts = FitOptions::new(
        label,
        cfg.max_epochs,
        cfg.patience,
        cfg.learning_rate,
        start_epoch,
    )
    .on_avg_hr();
    fit(learner, dir, train_loader, valid_loader, &opts, |t| {
        use star_cf::metric_names::{FORMAT, KL, REWARD};
        t.metric_train_numeric(TermLossMetric::named(REWARD, REWARD, true))
            .metric_train_numeric(TermLossMetric::named(FORMAT, FORMAT, true))
            .metric_train_numeric(TermLossMetric::named(KL, KL, false))
    })?;
    let train_seconds = t.elapsed().as_secs_f64();
    let mut outcome = select_best(
        dir,
        start_epoch,
        train_seconds,
        |path| {
            GrpoLearner {
                net: model.net().clone().fork(device),
                ctx: ctx.clone(),
            }
            .try_load_file(path)
            .map(|l| l.net)
        },
        |net| avg_hr(net, &vitems, pad, device),
    )?;
    // GRPO never hands back a model that validates worse than the one it started from
    if start_avg_hr > outcome.valid_score {
        eprintln!(
            "GRPO: no epoch beat the starting model on valid avg-HR ({:.2} % ≥ {:.2} %); keeping it",
            100.0 * start_avg_hr,
            100.0 * outcome.valid_score
        );
        outcome.best_epoch = 0;
        outcome.valid_score = start_avg_hr;
        outcome.model = sft.net().clone();
    }
    Ok(outcome.map_model(|net| sft.clone().with_net(net)))
}
