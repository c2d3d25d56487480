//! The student's fast-mode samples (a prompt and its `<recommend>` ranking, no trajectory):
//! the training ones from each user's last train positions, the validation ones from the
//! prepared candidate file.

use super::data::Prepared;
use anyhow::{Context, Result};
use star_train::distill::DistillSample;

/// The history a fast-mode sample's request keeps (the prompt shows the last
/// `StarConfig::history` of it; the evidence reads all of it).
pub const FAST_HISTORY: usize = 50;

/// Fast-mode samples (no trajectory) of the train split: of every user, the `per_user` train
/// positions before the last `skip` ones, each with the protocol's negatives drawn with
/// `seed` (the candidates of a position do not depend on `per_user` or `skip`). A request
/// keeps the last [`FAST_HISTORY`] items before its position, or the last `shown` (what the
/// prompt shows, `StarConfig::history`) when that is more, so training prompts show as much
/// history as test prompts.
pub fn fast_samples(
    p: &Prepared,
    per_user: usize,
    skip: usize,
    shown: usize,
    seed: u64,
) -> Result<Vec<DistillSample>> {
    star_agents::teach::training_jobs_before(
        &p.ds,
        &p.split,
        per_user,
        skip,
        FAST_HISTORY.max(shown),
        p.protocol.negatives,
        seed,
    )
    .into_iter()
    .map(|job| {
        let target = job.meta.target.context("training jobs have targets")?;
        let positive = job
            .request
            .candidates
            .iter()
            .position(|&c| c == target)
            .context("the target is a candidate")?;
        Ok(DistillSample {
            id: job.meta.id.to_string(),
            request: job.request,
            positive,
            trajectory: None,
        })
    })
    .collect()
}

/// The prepared candidate cases as fast-mode samples.
pub fn valid_samples(p: &Prepared) -> Vec<DistillSample> {
    p.candidates
        .cases
        .iter()
        .enumerate()
        .map(|(i, c)| DistillSample {
            id: format!(
                "{}:{}",
                p.candidates.header.split,
                p.ds.users[c.user.idx()].raw_id
            ),
            request: p.candidates.request(i, &p.split),
            positive: c.positive_index,
            trajectory: None,
        })
        .collect()
}
