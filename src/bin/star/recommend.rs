//! `star recommend`: one user's ranking with a student model, with the evidence behind each
//! item.

use crate::args::{DataArgs, ProtocolArgs};
use anyhow::{Context, Result};
use clap::Args;
use star::cf::split::SplitKind;
use star::pipeline::student::{load_student, student_tools};
use star::pipeline::Compute;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct RecommendArgs {
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

pub fn recommend(a: RecommendArgs, home: &Option<PathBuf>) -> Result<()> {
    use star::cf::{ItemId, RankRequest, Ranker};
    let t0 = Instant::now();
    let mut p = a.protocol.prepare(&a.data.spec(home), SplitKind::Test)?;
    // only reads from here on
    p.run.release();
    let compute = Compute::one(&a.device)?;
    let dir = a.model.clone().unwrap_or_else(|| p.run.final_student());
    let tools = if a.explain {
        Some(student_tools(&p)?)
    } else {
        None
    };
    let model = load_student(&p, &dir, compute.device(), tools)?.with_mode(if a.explain {
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
        let top = model.top_k_catalogue(std::slice::from_ref(&request), a.k)?;
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
            let ex = model.explain(&request)?;
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
