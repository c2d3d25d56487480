//! `star-model` inside your own burn application: load a STAR model directory and rank
//! candidates for a user, with nothing but `star-model` (and the plain data types of
//! `star-cf` it builds on) — no teacher, trainer or evaluation code.
//!
//! ```text
//! cargo run --release --example embedding -- --model runs/movielens-100k/student/model \
//!     --data ~/.cache/star/datasets/movielens-100k/recbole --user 196 [--candidates 242,302,377]
//! cargo run --release --example embedding -- --model DIR --synthetic --user u1
//! ```
//!
//! A model trained with sequence evidence (the default of `star run`) also needs the SASRec it
//! was trained beside: `--sasrec runs/movielens-100k/sasrec`.
//!
//! Without `--candidates`, the user's test item and 19 items they never watched are ranked.
//! It then shows the full-catalogue top 10 through the fused top-k kernel, and how the model's
//! tensors plug into your own burn code.

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use star_cf::candidates::CandidateSet;
use star_cf::data::Dataset;
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::split::{Split, SplitKind};
use star_cf::{ItemId, RankRequest, Ranker};
use star_model::model::{InferenceMode, StarModel};
use star_model::sasrec::{SasRec, SasRecRanker};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Rank candidates with a STAR model directory, through star-model alone")]
struct Args {
    /// The model directory (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    /// A dataset directory in any format star-cf reads (MovieLens, RecBole, generic CSV/JSONL).
    #[arg(long, required_unless_present = "synthetic")]
    data: Option<PathBuf>,
    /// Use the seeded synthetic dataset instead of `--data`.
    #[arg(long)]
    synthetic: bool,
    /// The user (raw id).
    #[arg(long)]
    user: String,
    /// Candidates (raw ids, comma-separated); default: the test item and 19 random negatives.
    #[arg(long, value_delimiter = ',')]
    candidates: Vec<String>,
    /// Also generate the explanation (plan, tool calls, reflection) before ranking.
    #[arg(long)]
    explain: bool,
    /// Device: flex, ndarray, wgpu, cuda[:N].
    #[arg(long, default_value = "flex")]
    device: String,
    /// The trained SASRec directory (model-config.json, model.bpk) whose scores are the
    /// model's sequence evidence, for a model trained with it (`star.sequence_evidence`).
    #[arg(long)]
    sasrec: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let device = star_model::device_from_name(&args.device).map_err(|e| anyhow!(e))?;

    // 1. the data the evidence comes from (train split only)
    let ds: Dataset = if args.synthetic {
        star_cf::data::synthetic::generate(&Default::default())?
    } else {
        let dir = args.data.as_ref().expect("clap requires --data");
        star_cf::data::load_dir(dir, None, &Default::default())
            .with_context(|| format!("loading {}", dir.display()))?
    };
    let split = Split::temporal_leave_one_out(&ds);
    let store = Arc::new(EvidenceStore::build(&ds, &split, EvidenceConfig::default()));

    // 2. the model, bound to this dataset's items and evidence
    let t0 = Instant::now();
    let raw: Vec<String> = ds.items.iter().map(|i| i.raw_id.clone()).collect();
    let model = StarModel::load(&args.model, &device)
        .map_err(|e| anyhow!(e))?
        .bind(&raw, Some(store.clone()))
        .with_mode(if args.explain {
            InferenceMode::Explain
        } else {
            InferenceMode::Fast
        });
    let model = match (&args.sasrec, model.config().star.sequence_evidence) {
        (Some(dir), true) => {
            let (sasrec, items) = SasRec::load_dir(dir, &device).map_err(|e| anyhow!(e))?;
            if items != ds.num_items() {
                bail!("{}: trained for {items} items, the dataset has {}", dir.display(), ds.num_items());
            }
            model.with_sequence_evidence(Arc::new(SasRecRanker::new(sasrec, items)))
        }
        (None, true) => bail!(
            "{}: the model was trained with sequence evidence; pass the SASRec it was trained beside (--sasrec DIR)",
            args.model.display()
        ),
        (Some(dir), false) => bail!(
            "--sasrec {}: the model was trained without sequence evidence",
            dir.display()
        ),
        (None, false) => model,
    };
    let known = model.items().map_or(0, |b| b.known());
    println!(
        "loaded {} in {:.0} ms: {} blocks of width {}, {} of {} dataset items known",
        args.model.display(),
        t0.elapsed().as_secs_f64() * 1e3,
        model.config().decoder.num_hidden_layers,
        model.config().decoder.hidden_size,
        known,
        raw.len()
    );

    // 3. the request: the user's history before the test item, and the candidates
    let user = ds
        .user_by_raw(&args.user)
        .ok_or_else(|| anyhow!("user `{}` is not in the dataset", args.user))?;
    let candidates: Vec<ItemId> = if args.candidates.is_empty() {
        let set = CandidateSet::sample(&ds, &split, SplitKind::Test, 19, 42)?;
        let case = set
            .cases
            .iter()
            .find(|c| c.user == user)
            .ok_or_else(|| anyhow!("user `{}` has no test item", args.user))?;
        case.candidates.clone()
    } else {
        args.candidates
            .iter()
            .map(|r| {
                ds.item_by_raw(r)
                    .ok_or_else(|| anyhow!("item `{r}` is not in the dataset"))
            })
            .collect::<Result<_>>()?
    };
    if candidates.is_empty() {
        bail!("no candidates");
    }
    let request = RankRequest {
        user,
        history: split.history(user, SplitKind::Test),
        candidates,
    };

    // 4. rank (fast mode: one forward pass; explain mode: generation, then scores)
    let t = Instant::now();
    let ranking = if args.explain {
        let ex = model.explain(&request).map_err(|e| anyhow!(e))?;
        println!(
            "\nexplanation ({} tokens, {} tool calls, {:.0} ms{}):\n{}",
            ex.tokens.len(),
            ex.tool_calls,
            t.elapsed().as_secs_f64() * 1e3,
            if ex.forced {
                ", <recommend> forced"
            } else {
                ""
            },
            ex.text
        );
        star_cf::Ranking::from_scores(&request.candidates, &ex.scores)
    } else {
        model.rank(&request).map_err(|e| anyhow!(e.to_string()))?
    };
    println!(
        "\n{} for user {} ({} history items), {:.1} ms:",
        model.name(),
        args.user,
        request.history.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let scores = ranking.scores.clone().unwrap_or_default();
    for (rank, (item, score)) in ranking.items.iter().zip(&scores).enumerate() {
        let ev = store.candidate_evidence(
            user,
            &request.history,
            &store.user_neighbors(&request),
            *item,
        );
        println!(
            "{:>3}. {:>7.3}  [{}] {}  — {}",
            rank + 1,
            score,
            ds.items[item.idx()].raw_id,
            store.item_label(*item),
            store.sentences(&ev).join(" ")
        );
    }

    // 5. the whole catalogue, through the fused top-k kernel
    let t = Instant::now();
    let top = model
        .top_k_catalogue(std::slice::from_ref(&request), 10)
        .map_err(|e| anyhow!(e))?;
    println!(
        "\ncatalogue top 10 ({} items, {:.1} ms):",
        known,
        t.elapsed().as_secs_f64() * 1e3
    );
    for (item, score) in &top[0] {
        println!("  {score:>7.3}  {}", store.item_label(*item));
    }

    // 6. the model's tensors are ordinary burn tensors: e.g. the ranking query of this user and
    //    its cosine similarity to every item key, computed with plain burn ops
    let q = model
        .queries(std::slice::from_ref(&request))
        .map_err(|e| anyhow!(e))?;
    let keys = model.net().catalogue_keys();
    let n = keys.dims()[0];
    let cos = keys
        .clone()
        .matmul(q.clone().transpose())
        .reshape([n])
        .div(
            keys.powf_scalar(2.0)
                .sum_dim(1)
                .sqrt()
                .reshape([n])
                .add_scalar(1e-6),
        )
        .div_scalar(q.powf_scalar(2.0).sum().sqrt().into_scalar::<f32>() + 1e-6);
    println!(
        "\nquery–key cosine over the catalogue: max {:.3}, mean {:.3}",
        cos.clone().max().into_scalar::<f32>(),
        cos.mean().into_scalar::<f32>()
    );
    Ok(())
}
