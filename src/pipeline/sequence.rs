//! Sequence evidence, for the student's prompts and the teacher's `sequence_score` tool: SASRec's
//! scores of a request's candidates, from the run's SASRec for validation and test requests and
//! from K cross-fitted fold models for training requests (`--sequence-folds K`).

use super::baselines::{sasrec_model, train_sasrec_folds, trained_sasrec_folds};
use super::data::Prepared;
use super::layout::Compute;
use anyhow::{Context, Result};
use star_agents::tools::SequenceModels;
use star_model::sasrec::{SasRec, SasRecRanker};
use std::sync::Arc;

/// Folds of the cross-fitted SASRec behind the student's sequence evidence, by default.
pub const DEFAULT_SEQUENCE_FOLDS: usize = 2;

/// Parses `--sequence-folds`: 0 (no sequence evidence) or at least 2.
pub fn sequence_folds(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(1) => Err("1 fold cannot cross-fit: use 0 (no sequence evidence) or 2 or more".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{s}`: {e}")),
    }
}

/// The run's sequence evidence with `folds` folds (`None` for 0): the run's SASRec (an error
/// when it has none) and its fold models (trained with its recipe when missing), both always
/// there ([`SequenceModels::train`] is `Some`).
pub fn sequence_evidence(
    p: &Prepared,
    folds: usize,
    compute: &Compute,
) -> Result<Option<SequenceModels>> {
    if folds == 0 {
        return Ok(None);
    }
    let n = p.ds.num_items();
    let eval = SasRecRanker::new(
        required_sasrec(p, "sequence evidence", "--sequence-folds 0")?,
        n,
    );
    let train = match trained_sasrec_folds(&p.run, n, folds)? {
        Some(models) => models,
        None => {
            eprintln!("sequence evidence: training the {folds} SASRec fold models");
            train_sasrec_folds(&p.ds, &p.split, &p.run, folds, p.protocol, compute)?;
            trained_sasrec_folds(&p.run, n, folds)?
                .with_context(|| format!("SASRec fold models of {}", p.run.path().display()))?
        }
    };
    Ok(Some(SequenceModels {
        train: Some(Arc::new(train)),
        eval: Arc::new(eval),
    }))
}

/// The run's trained SASRec network, or an error naming the run's SASRec directory, what
/// needs it (`what`) and the flag that does without it (`instead`).
pub(super) fn required_sasrec(p: &Prepared, what: &str, instead: &str) -> Result<SasRec> {
    sasrec_model(&p.run, p.ds.num_items())?.with_context(|| {
        format!(
            "{what} needs a trained SASRec and {} has none: run `star train sasrec` first (or pass {instead})",
            p.run.sasrec().display()
        )
    })
}
