//! The baselines: training BPR-MF, LightGCN and SASRec into the run directory, loading them
//! back for ranking, and evaluating every baseline on the candidate files and on the full
//! catalogue.

use super::data::{candidates, scenario_tagger, Prepared};
use super::layout::{Compute, Protocol, RunDir};
use anyhow::{Context, Result};
use burn::module::Module;
use star_cf::data::Dataset;
use star_cf::split::{Split, SplitKind};
use star_eval::baselines;
use star_eval::catalogue::{compare_catalogue, evaluate_catalogue, CatalogueResult};
use star_eval::{EvalReport, ProtocolRunner};
use star_model::cf::{CfEmbeddings, EmbeddingRanker};
use star_model::sasrec::{
    CrossFitted, SasRec, SasRecRanker, SASREC_CONFIG_FILE, SASREC_WEIGHTS_FILE,
};
use star_train::cf::{refit_cf, train_cf, CfModelKind, CfTrainConfig};
use star_train::outcome::TrainOutcome;
use star_train::sasrec::{train_sasrec, SasRecTrainConfig};
use std::path::Path;

/// The summary written next to a trained model (`summary.json`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunSummary<C> {
    /// Method name (`BPR-MF`, `LightGCN`, `SASRec`).
    pub method: String,
    /// Hyper-parameters.
    pub config: C,
    /// Best epoch (by validation NDCG@10).
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs_run: usize,
    /// Validation NDCG@10 of the best epoch.
    pub valid_ndcg10: f64,
    /// Training wall time of the last call (a resumed run counts only its own part).
    pub train_seconds: f64,
    /// The device it trained on.
    pub device: String,
}

/// Summary of a CF model run.
pub type CfRunSummary = RunSummary<CfTrainConfig>;

impl<C> RunSummary<C> {
    /// The summary of a training outcome (its valid score is NDCG@10).
    pub fn new<M>(method: &str, config: C, r: &TrainOutcome<M>, compute: &Compute) -> Self {
        RunSummary {
            method: method.to_string(),
            config,
            best_epoch: r.best_epoch,
            epochs_run: r.epochs_run,
            valid_ndcg10: r.valid_score,
            train_seconds: r.train_seconds,
            device: compute.label(),
        }
    }
}

fn write_summary<C: serde::Serialize>(dir: &Path, summary: &RunSummary<C>) -> Result<()> {
    let json = serde_json::to_string_pretty(summary)?;
    star_cf::fsutil::write_atomic(&dir.join("summary.json"), |w| {
        std::io::Write::write_all(w, json.as_bytes())
    })?;
    Ok(())
}

/// Trains a CF model (early stopping on the valid candidates of `protocol`), writes
/// `embeddings.safetensors` and `summary.json` into [`RunDir::cf`], and returns the summary.
pub fn train_cf_model(
    ds: &Dataset,
    split: &Split,
    run: &RunDir,
    cfg: &CfTrainConfig,
    protocol: Protocol,
    compute: &Compute,
    resume: bool,
) -> Result<CfRunSummary> {
    let valid = candidates(ds, split, run, SplitKind::Valid, protocol)?;
    let graph = star_cf::graph::CfGraph::from_split(split);
    let dir = run.cf(cfg.kind);
    let refit = run.cf_refit(cfg.kind);
    if refit.exists() {
        // a refit belongs to the model it was refitted from, which this training replaces
        std::fs::remove_dir_all(&refit)
            .with_context(|| format!("removing the stale refit {}", refit.display()))?;
        tracing::info!(
            "{}: removed the refit of the model trained before ({})",
            cfg.kind.method_name(),
            refit.display()
        );
    }
    let r = train_cf(cfg, &graph, &valid, &dir, compute.devices(), resume)?;
    save_cf(&dir, cfg, &r, compute)
}

/// Writes a CF outcome's `embeddings.safetensors` and `summary.json` into `dir`.
fn save_cf(
    dir: &Path,
    cfg: &CfTrainConfig,
    r: &TrainOutcome<CfEmbeddings>,
    compute: &Compute,
) -> Result<CfRunSummary> {
    r.model
        .save_safetensors(&dir.join("embeddings.safetensors"))?;
    let summary = RunSummary::new(cfg.kind.method_name(), cfg.clone(), r, compute);
    write_summary(dir, &summary)?;
    Ok(summary)
}

/// Refits the CF model trained under [`RunDir::cf`] on the train and valid interactions, for
/// as many epochs as its validation chose ([`refit_cf`]), and writes `embeddings.safetensors`
/// and `summary.json` into [`RunDir::cf_refit`]: from then on the test split is scored with
/// these embeddings ([`trained_cf_models`]). `cfg` must be the settings the model was trained
/// with.
///
/// Errors: the model has not been trained yet (no `summary.json`), or was trained with other
/// settings than `cfg` (both named).
pub fn refit_cf_model(
    ds: &Dataset,
    split: &Split,
    run: &RunDir,
    cfg: &CfTrainConfig,
    protocol: Protocol,
    compute: &Compute,
    resume: bool,
) -> Result<CfRunSummary> {
    let trained = run.cf(cfg.kind).join("summary.json");
    let summary = read_cf_summary(&trained)
        .with_context(|| format!("train {} before refitting it", cfg.kind.method_name()))?;
    if !same_settings(&summary.config, cfg) {
        anyhow::bail!(
            "{}: {} was trained with {:?}, not with the settings given for its refit ({:?})",
            trained.display(),
            cfg.kind.method_name(),
            summary.config,
            cfg
        );
    }
    let valid = candidates(ds, split, run, SplitKind::Valid, protocol)?;
    let graph = star_cf::graph::CfGraph::from_split(&split.with_valid_in_train());
    let dir = run.cf_refit(cfg.kind);
    let r = refit_cf(
        cfg,
        &graph,
        &valid,
        summary.best_epoch,
        &dir,
        compute.devices(),
        resume,
    )?;
    save_cf(&dir, cfg, &r, compute)
}

/// A CF model's `summary.json`.
fn read_cf_summary(path: &Path) -> Result<CfRunSummary> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Whether two CF settings train the same model (the epoch limit and patience only say where
/// training stopped).
fn same_settings(a: &CfTrainConfig, b: &CfTrainConfig) -> bool {
    let norm = |c: &CfTrainConfig| c.clone().with_max_epochs(0).with_patience(0);
    norm(a) == norm(b)
}

/// Trains SASRec (early stopping on the valid candidates of `protocol`) and writes
/// `model.bpk`, `model-config.json` and `summary.json` into [`RunDir::sasrec`].
pub fn train_sasrec_model(
    ds: &Dataset,
    split: &Split,
    run: &RunDir,
    cfg: &SasRecTrainConfig,
    protocol: Protocol,
    compute: &Compute,
    resume: bool,
) -> Result<RunSummary<SasRecTrainConfig>> {
    let valid = candidates(ds, split, run, SplitKind::Valid, protocol)?;
    train_sasrec_at(
        ds,
        split,
        &valid,
        &run.sasrec(),
        "SASRec",
        cfg,
        compute,
        resume,
    )
}

/// Trains the `folds` fold models of SASRec into [`RunDir::sasrec_fold`] with the recipe of the
/// run's SASRec (read from its `summary.json`; the seed moved by `1 + k`): model `k` on the
/// split without the users of fold `k`, validated on the other users' valid candidates. A
/// fold with a `summary.json` is skipped, one with checkpoints resumed.
pub fn train_sasrec_folds(
    ds: &Dataset,
    split: &Split,
    run: &RunDir,
    folds: usize,
    protocol: Protocol,
    compute: &Compute,
) -> Result<()> {
    if folds < 2 {
        anyhow::bail!("cross-fitting needs at least 2 folds, got {folds}");
    }
    let path = run.sasrec().join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (the SASRec fold models take the run's SASRec's recipe: run `star train sasrec` first)",
            path.display()
        )
    })?;
    let summary: RunSummary<SasRecTrainConfig> =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let cfg = summary.config;
    let valid = candidates(ds, split, run, SplitKind::Valid, protocol)?;
    for k in 0..folds {
        let dir = run.sasrec_fold(k, folds);
        if dir.join("summary.json").is_file() {
            tracing::info!(
                "SASRec fold {k} of {folds}: trained already ({})",
                dir.display()
            );
            continue;
        }
        let mut fold_valid = valid.clone();
        fold_valid
            .cases
            .retain(|c| star_cf::split::fold_of(c.user, folds) != k);
        let name = format!("SASRec without fold {k} of {folds}");
        let resume = dir.join("checkpoint").is_dir();
        let cfg = cfg.clone().with_seed(cfg.seed.wrapping_add(1 + k as u64));
        let fold_split = split.without_fold(k, folds);
        train_sasrec_at(
            ds,
            &fold_split,
            &fold_valid,
            &dir,
            &name,
            &cfg,
            compute,
            resume,
        )?;
    }
    Ok(())
}

/// Trains SASRec on `split` into `dir` (model, its configuration, `summary.json`).
#[allow(clippy::too_many_arguments)]
fn train_sasrec_at(
    ds: &Dataset,
    split: &Split,
    valid: &star_cf::candidates::CandidateSet,
    dir: &Path,
    method: &str,
    cfg: &SasRecTrainConfig,
    compute: &Compute,
    resume: bool,
) -> Result<RunSummary<SasRecTrainConfig>> {
    let r = train_sasrec(cfg, split, valid, dir, compute.devices(), resume)?;
    let model_cfg = serde_json::to_string_pretty(&cfg.model(ds.num_items()))?;
    star_cf::fsutil::write_atomic(&dir.join(SASREC_CONFIG_FILE), |w| {
        std::io::Write::write_all(w, model_cfg.as_bytes())
    })?;
    // burnpack files are written to a scratch file and renamed into place by burn itself
    let weights = dir.join(SASREC_WEIGHTS_FILE);
    star_cf::fsutil::remove_stale_temps(&weights);
    let summary = RunSummary::new(method, cfg.clone(), &r, compute);
    r.model
        .save_file(&weights)
        .map_err(|e| anyhow::anyhow!("{}: {e}", weights.display()))?;
    write_summary(dir, &summary)?;
    Ok(summary)
}

/// The trained SASRec of the run directory, if there is one, loaded on the CPU for ranking.
pub fn trained_sasrec(run: &RunDir, num_items: usize) -> Result<Option<SasRecRanker>> {
    Ok(sasrec_model(run, num_items)?.map(|m| SasRecRanker::new(m, num_items)))
}

/// The SASRec fold models of the run directory ([`train_sasrec_folds`]) as one cross-fitted
/// ranker on the CPU, if all `folds` of them are there.
pub fn trained_sasrec_folds(
    run: &RunDir,
    num_items: usize,
    folds: usize,
) -> Result<Option<CrossFitted<SasRecRanker>>> {
    let mut models = Vec::with_capacity(folds);
    for k in 0..folds {
        match sasrec_model_at(&run.sasrec_fold(k, folds), num_items)? {
            Some(m) => models.push(SasRecRanker::new(m, num_items)),
            None => return Ok(None),
        }
    }
    Ok(Some(CrossFitted::new(models)?))
}

/// The trained SASRec network of the run directory (on the CPU), if there is one; errors name
/// the file that is damaged or was trained for another catalogue.
pub fn sasrec_model(run: &RunDir, num_items: usize) -> Result<Option<SasRec>> {
    sasrec_model_at(&run.sasrec(), num_items)
}

/// The SASRec network trained into `dir` (on the CPU), if there is one.
fn sasrec_model_at(dir: &Path, num_items: usize) -> Result<Option<SasRec>> {
    if !dir.join(SASREC_WEIGHTS_FILE).is_file() {
        return Ok(None);
    }
    let device = star_model::device_from_name("default")?;
    let (model, trained_for) = SasRec::load_dir(dir, &device)?;
    if trained_for != num_items {
        anyhow::bail!(
            "{}: trained for {trained_for} items, the dataset has {num_items}",
            dir.join(SASREC_CONFIG_FILE).display()
        );
    }
    Ok(Some(model))
}

/// The trained CF models in the run directory (those with `embeddings.safetensors`), loaded on
/// the CPU for ranking the `split` split: for the test split a model's refit
/// ([`refit_cf_model`]) where one exists, else the model validation chose.
pub fn trained_cf_models(run: &RunDir, split: SplitKind) -> Result<Vec<EmbeddingRanker>> {
    let mut out = Vec::new();
    for kind in [CfModelKind::Mf, CfModelKind::LightGcn] {
        let refit = run.cf_refit(kind).join("embeddings.safetensors");
        let path = if split == SplitKind::Test && refit.is_file() {
            check_refit(run, kind)?;
            tracing::info!(
                "{}: scoring the test split with its refit on train + valid ({})",
                kind.method_name(),
                refit.display()
            );
            refit
        } else {
            run.cf(kind).join("embeddings.safetensors")
        };
        if path.is_file() {
            let device = star_model::device_from_name("default")?;
            let emb = CfEmbeddings::load_safetensors(&path, &device)?;
            out.push(EmbeddingRanker::new(kind.method_name(), &emb)?);
        }
    }
    Ok(out)
}

/// Errors unless the refit of `kind` was refitted from the model now under [`RunDir::cf`]: the
/// same settings, and as many epochs as that model's best epoch.
fn check_refit(run: &RunDir, kind: CfModelKind) -> Result<()> {
    let trained_path = run.cf(kind).join("summary.json");
    let refit_path = run.cf_refit(kind).join("summary.json");
    let trained = read_cf_summary(&trained_path)?;
    let refit = read_cf_summary(&refit_path)?;
    if !same_settings(&trained.config, &refit.config) || refit.epochs_run != trained.best_epoch {
        anyhow::bail!(
            "{} does not belong to {} (other settings, or {} epochs where the trained model's best epoch is {}); refit it again (star train cf --refit) or remove it",
            refit_path.display(),
            trained_path.display(),
            refit.epochs_run,
            trained.best_epoch
        );
    }
    Ok(())
}

/// The protocol runner over the prepared candidates, with scenario slices, invalid outputs
/// completed in item-CF score order, and `threads` worker threads.
pub fn runner<'a>(
    p: &'a Prepared,
    repair: &'a baselines::ItemKnn,
    tagger: &'a star_cf::scenario::ScenarioTagger,
    threads: usize,
) -> Result<ProtocolRunner<'a>> {
    Ok(
        ProtocolRunner::new(&p.ds, &p.split, &p.candidates, repair, Some(tagger))?
            .threads(threads.max(1)),
    )
}

/// Evaluates Pop, ItemKNN, UserKNN, the CST evidence scorer and every trained CF model and
/// SASRec found in the run directory on the prepared candidates.
pub fn eval_baselines(p: &Prepared, threads: usize) -> Result<EvalReport> {
    let tagger = scenario_tagger(&p.ds, &p.store);
    let repair = baselines::ItemKnn::new(p.store.clone());
    let runner = runner(p, &repair, &tagger, threads)?;
    let mut report = EvalReport::new(&p.candidates.header);
    for method in baselines::all(&p.store) {
        report.push(runner.run(method.as_ref()));
    }
    for model in trained_cf_models(&p.run, p.kind())? {
        report.push(runner.run(&model));
    }
    if let Some(model) = trained_sasrec(&p.run, p.ds.num_items())? {
        report.push(runner.run(&model));
    }
    Ok(report)
}

/// Full-catalogue HR@10 / NDCG@10 / MRR@10 (temporal leave-one-out) of Pop, every trained CF
/// model and SASRec in the run directory, on the split of the prepared candidates.
pub fn eval_full_catalogue(p: &Prepared) -> Result<Vec<CatalogueResult>> {
    let kind = p.kind();
    let mut out = vec![evaluate_catalogue(
        &p.split,
        kind,
        &baselines::Pop::new(p.store.clone()),
    )];
    for model in trained_cf_models(&p.run, kind)? {
        out.push(evaluate_catalogue(&p.split, kind, &model));
    }
    if let Some(model) = trained_sasrec(&p.run, p.ds.num_items())? {
        out.push(evaluate_catalogue(&p.split, kind, &model));
    }
    Ok(out)
}

/// Renders full-catalogue results as a Markdown table (×100), with each method's paired
/// difference from the reference where [`add_catalogue_comparison`] set one.
pub fn catalogue_markdown(results: &[CatalogueResult]) -> String {
    let reference = results
        .iter()
        .find_map(|r| r.against.as_ref().map(|a| a.reference.clone()));
    let mut s = String::from("| Method | users | HR@10 | NDCG@10 | MRR@10 | wall s |");
    match &reference {
        Some(name) => s.push_str(&format!(
            " HR@10 − {name} | NDCG@10 − {name} |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
        )),
        None => s.push_str("\n|---|---:|---:|---:|---:|---:|\n"),
    }
    for r in results {
        s.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            r.method,
            r.users,
            100.0 * r.hr10,
            100.0 * r.ndcg10,
            100.0 * r.mrr10,
            r.wall_s
        ));
        if reference.is_some() {
            match &r.against {
                Some(d) => s.push_str(&format!(" {} | {} |", d.hr10, d.ndcg10)),
                None => s.push_str(" – | – |"),
            }
        }
        s.push('\n');
    }
    s
}

/// Writes full-catalogue results to `path` as JSON (atomically).
pub fn save_catalogue(path: &Path, results: &[CatalogueResult]) -> Result<()> {
    let json = serde_json::to_string_pretty(results)?;
    star_cf::fsutil::write_atomic(path, |w| std::io::Write::write_all(w, json.as_bytes()))?;
    Ok(())
}

/// Compares every full-catalogue result with the strongest of `baselines` by NDCG@10
/// ([`compare_catalogue`]); nothing when none of them was evaluated.
pub fn add_catalogue_comparison(
    results: &mut [CatalogueResult],
    baselines: &[String],
) -> Result<()> {
    let strongest = results
        .iter()
        .filter(|r| baselines.contains(&r.method))
        .max_by(|a, b| a.ndcg10.total_cmp(&b.ndcg10))
        .map(|r| r.method.clone());
    if let Some(name) = strongest {
        compare_catalogue(results, &name)?;
    }
    Ok(())
}

/// The role of the strongest baseline's comparison in a report.
pub const STRONGEST: &str = "strongest baseline";

/// Adds the paired comparisons every report carries ([`EvalReport::compare_against`]):
/// against the strongest of `baselines` (by avg-HR, role [`STRONGEST`]) and against the
/// teacher, when either was evaluated.
pub fn add_comparisons(report: &mut EvalReport, baselines: &[String]) -> Result<()> {
    if let Some(best) = report
        .strongest(baselines.iter().map(String::as_str))
        .map(str::to_string)
    {
        report.compare_against(&best, STRONGEST)?;
    }
    if report.method("teacher").is_some() {
        report.compare_against("teacher", "teacher")?;
    }
    Ok(())
}
