//! Producing trajectories: which episodes to run (training samples, valid or test cases), how
//! to split them across machines (`--shard i/n`), and running them in parallel into a
//! resumable trajectory file.

use crate::orchestrator::{EpisodeMeta, Teacher};
use crate::origin::Origin;
use crate::trajectory::{TrajectoryError, TrajectoryWriter};
use rand::seq::SliceRandom;
use star_cf::candidates::CandidateSet;
use star_cf::data::Dataset;
use star_cf::seed::{position_rng, Stream};
use star_cf::split::{Split, SplitKind};
use star_cf::{ItemId, NegativeSampler, RankRequest};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// One episode to run.
#[derive(Clone, Debug)]
pub struct TeachJob {
    /// The request.
    pub request: RankRequest,
    /// Id, split and target.
    pub meta: EpisodeMeta,
}

/// A `--shard i/n` selection: job `k` (in job order) belongs to shard `k mod n`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..n`.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// The whole job list.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether job `k` belongs to this shard.
    pub fn owns(&self, k: usize) -> bool {
        k % self.count == self.index
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard `{s}` is not of the form i/n"))?;
        let (index, count) = (
            i.trim()
                .parse::<usize>()
                .map_err(|_| format!("bad shard index in `{s}`"))?,
            n.trim()
                .parse::<usize>()
                .map_err(|_| format!("bad shard count in `{s}`"))?,
        );
        if count == 0 || index >= count {
            return Err(format!("shard `{s}`: need 0 <= i < n"));
        }
        Ok(Shard { index, count })
    }
}

/// Episodes for training samples: for each user, the last `per_user` positions of the train
/// sequence (each a prefix → next item), with the target and `negatives` items the user never
/// interacted with, shuffled; all drawn from `(seed, user, position)` ([`star_cf::seed`]).
pub fn training_jobs(
    ds: &Dataset,
    split: &Split,
    per_user: usize,
    max_history: usize,
    negatives: usize,
    seed: u64,
) -> Vec<TeachJob> {
    training_jobs_before(ds, split, per_user, 0, max_history, negatives, seed)
}

/// [`training_jobs`] for the `per_user` positions of each user that come before its last
/// `skip` train positions (those stay out, e.g. because another stage trained on them). A
/// position's candidates are the same whatever `per_user` and `skip` are.
pub fn training_jobs_before(
    ds: &Dataset,
    split: &Split,
    per_user: usize,
    skip: usize,
    max_history: usize,
    negatives: usize,
    seed: u64,
) -> Vec<TeachJob> {
    let n_items = ds.num_items();
    let mut jobs = Vec::new();
    for (u, us) in split.users.iter().enumerate() {
        let user = star_cf::UserId::from(u);
        let seen: HashSet<ItemId> = ds.user_interactions(user).iter().map(|i| i.item).collect();
        if n_items < seen.len() + negatives {
            continue;
        }
        let end = us.train.len().saturating_sub(skip);
        let first = end.saturating_sub(per_user).max(1);
        for t in first..end {
            let target = us.train[t];
            let mut rng = position_rng(seed, Stream::TrainingEpisodes, user, t);
            let mut cands = vec![target];
            cands.extend(
                NegativeSampler::new(n_items, |i| seen.contains(&i) || i == target)
                    .distinct(negatives, &mut rng),
            );
            cands.shuffle(&mut rng);
            jobs.push(TeachJob {
                request: RankRequest {
                    user,
                    history: us.train[t.saturating_sub(max_history)..t].to_vec(),
                    candidates: cands,
                },
                meta: EpisodeMeta {
                    id: Origin::Train {
                        user: ds.users[u].raw_id.clone(),
                        position: t,
                    },
                    split: "train".into(),
                    target: Some(target),
                },
            });
        }
    }
    jobs
}

/// Episodes for the cases of a candidate file (valid or test).
pub fn candidate_jobs(ds: &Dataset, split: &Split, cands: &CandidateSet) -> Vec<TeachJob> {
    let kind = cands.header.split;
    (0..cands.cases.len())
        .map(|i| TeachJob {
            request: cands.request(i, split),
            meta: EpisodeMeta {
                id: {
                    let user = ds.users[cands.cases[i].user.idx()].raw_id.clone();
                    match kind {
                        SplitKind::Valid => Origin::Valid { user },
                        SplitKind::Test => Origin::Test { user },
                    }
                },
                split: match kind {
                    SplitKind::Valid => "valid".into(),
                    SplitKind::Test => "test".into(),
                },
                target: Some(cands.cases[i].target()),
            },
        })
        .collect()
}

/// What a teaching run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TeachSummary {
    /// Jobs in this shard.
    pub jobs: usize,
    /// Already in the file before this run (resumed).
    pub skipped: usize,
    /// Written by this run.
    pub written: usize,
    /// Failed episodes (role errors; not written, retried on the next run).
    pub failed: usize,
    /// Wall time of this run.
    pub wall_s: f64,
}

/// Episodes failing one after another (each after the chat client's own retries) that stop a
/// run: the endpoint is down, or refuses every request.
pub const MAX_FAILURES_IN_A_ROW: usize = 8;

/// Errors of [`teach`]; the episodes written before either stay in the file.
#[derive(Debug, thiserror::Error)]
pub enum TeachError {
    /// The trajectory file could not be written (e.g. a full disk).
    #[error(transparent)]
    Trajectory(#[from] TrajectoryError),
    /// [`MAX_FAILURES_IN_A_ROW`] episodes failed one after another.
    #[error("{failed} episodes in a row failed, the last ({id}) with: {error}. Stopped; the {written} episodes in {} are kept, and rerunning the same command continues after them once the endpoint answers again", path.display())]
    FailingInARow {
        /// Episodes that failed one after another.
        failed: usize,
        /// The last failed episode.
        id: String,
        /// Its error.
        error: String,
        /// Episodes in the file.
        written: usize,
        /// The trajectory file.
        path: std::path::PathBuf,
    },
}

/// Runs the jobs of `shard` that are not yet in `writer`'s file on `threads` threads, writing
/// each episode as soon as it finishes. `stop` ends the run early (already written episodes
/// stay). `on_done` is called after each job (for progress). A failed episode is counted and
/// left for the next run; [`MAX_FAILURES_IN_A_ROW`] of them one after another stop the run with
/// [`TeachError::FailingInARow`].
pub fn teach(
    teacher: &Teacher,
    jobs: &[TeachJob],
    shard: Shard,
    writer: &mut TrajectoryWriter,
    threads: usize,
    stop: &AtomicBool,
    on_done: &(dyn Fn() + Sync),
) -> Result<TeachSummary, TeachError> {
    let start = Instant::now();
    let mine: Vec<&TeachJob> = jobs
        .iter()
        .enumerate()
        .filter(|(k, _)| shard.owns(*k))
        .map(|(_, j)| j)
        .collect();
    let todo: Vec<&TeachJob> = mine
        .iter()
        .copied()
        .filter(|j| !writer.contains(&j.meta.id.to_string()))
        .collect();
    let mut summary = TeachSummary {
        jobs: mine.len(),
        skipped: mine.len() - todo.len(),
        ..Default::default()
    };
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let mut error: Option<TeachError> = None;
    let mut in_a_row = 0;
    std::thread::scope(|s| {
        for _ in 0..threads.max(1).min(todo.len().max(1)) {
            let tx = tx.clone();
            let (todo, next) = (&todo, &next);
            s.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = todo.get(k) else { break };
                let result = teacher.run(&job.request, &job.meta);
                if tx.send((job.meta.id.to_string(), result)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (id, result) in rx {
            on_done();
            // After an append error nothing more is written; after failures in a row the
            // episodes other threads still finish are kept.
            if matches!(error, Some(TeachError::Trajectory(_))) {
                continue;
            }
            match result {
                Ok(ep) => match writer.append(&ep) {
                    Ok(_) => {
                        summary.written += 1;
                        in_a_row = 0;
                    }
                    Err(e) => {
                        error = Some(e.into());
                        stop.store(true, Ordering::Relaxed);
                    }
                },
                Err(e) => {
                    summary.failed += 1;
                    in_a_row += 1;
                    tracing::warn!("episode {id} failed: {e}");
                    if in_a_row >= MAX_FAILURES_IN_A_ROW && error.is_none() {
                        error = Some(TeachError::FailingInARow {
                            failed: in_a_row,
                            id,
                            error: e.to_string(),
                            written: writer.len(),
                            path: writer.path().to_path_buf(),
                        });
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
    });
    summary.wall_s = start.elapsed().as_secs_f64();
    if let Some(TeachError::FailingInARow { written, .. }) = &mut error {
        *written = writer.len(); // with what other threads finished after the stop
    }
    match error {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}
