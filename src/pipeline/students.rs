//! The main job's ensemble of students: how many are distilled, the training seed of each,
//! and loading model directories as one ranker.

use super::data::Prepared;
use super::layout::Compute;
use super::student::load_student;
use anyhow::{Context, Result};
use star_model::model::{InferenceMode, StarEnsemble};
use std::path::PathBuf;

/// Students the main job distils when `--students` is not given: one. Several differ in their
/// training seed ([`member_seed`]: the initialisation and batch order, which of the kept
/// trajectories SFT learns from, the fast samples' negatives) and rank together
/// ([`StarEnsemble`]: the mean of their log-softmax over the candidates), each costing one
/// more SFT (about 4 minutes on MovieLens-100K) and one more forward pass per request. On
/// MovieLens-100K (AMD EPYC, 3 training seeds, paired over the 943 test users) two students
/// minus the first alone gave +0.67 [+0.11, +1.27], −0.28 [−0.81, +0.25] and
/// +0.07 [−0.49, +0.57] avg-HR, three +0.60, −0.39 and +0.11: not worth the time by default
/// (BENCHMARKS.md, issue 17, tenth session).
pub const DEFAULT_STUDENTS: usize = 1;

/// The report row of the first student alone (after GRPO), beside the ensemble's, when the
/// main job distils more than one.
pub const SINGLE_STUDENT: &str = "student-single";

/// The training seed of student `member` of a run trained with `train_seed`: `train_seed`
/// itself for the first, `train_seed + 1000 × member` for the others, away from the seeds
/// `--train-seeds` gives whole runs (seed + 1, seed + 2, …); wrapping past `u64::MAX`
/// rather than overflowing on a seed near it.
pub fn member_seed(train_seed: u64, member: usize) -> u64 {
    train_seed.wrapping_add(1000u64.wrapping_mul(member as u64))
}

/// The students of the model directories `dirs` (at least one) as the ensemble `name`, each
/// loaded by [`load_student`] and ranking in fast mode.
pub fn load_ensemble(
    p: &Prepared,
    name: &str,
    dirs: &[PathBuf],
    compute: &Compute,
) -> Result<StarEnsemble> {
    let members = dirs
        .iter()
        .map(|dir| {
            load_student(p, dir, compute.device(), None)
                .with_context(|| format!("model `{name}`"))
                .map(|m| m.with_mode(InferenceMode::Fast))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(StarEnsemble::new(members)
        .with_context(|| format!("model `{name}`"))?
        .with_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_train_with_seeds_apart_from_the_other_training_seeds() {
        assert_eq!(member_seed(42, 0), 42);
        assert_eq!(member_seed(42, 1), 1042);
        // --train-seeds 3 trains whole runs with 42, 43 and 44: no student shares a seed
        let seeds: std::collections::HashSet<u64> = (42..45)
            .flat_map(|s| (0..3).map(move |m| member_seed(s, m)))
            .collect();
        assert_eq!(seeds.len(), 9);
        // --seed u64::MAX is accepted: the second student's seed wraps instead of panicking
        assert_eq!(member_seed(u64::MAX, 1), 999);
    }
}
