//! Candidate sets for the 1+N protocol: the held-out item plus N items the user never
//! interacted with, drawn once with a seed, shuffled, and written to a file that every method
//! reads back.
//!
//! ## File format (JSON lines)
//!
//! The first line is a header, every further line one case; ids are the dataset's *original*
//! ids, so the file is readable and survives re-indexing:
//!
//! ```text
//! {"format":"star-candidates/1","dataset":"movielens-100k","fingerprint":"…","split":"test","seed":42,"num_candidates":20,"cases":943}
//! {"user":"196","target":"242","positive_index":7,"candidates":["1203","242",…]}
//! ```
//!
//! Reading checks everything: the fingerprint (the file belongs to this dataset and
//! preprocessing), known ids, `candidates[positive_index] == target`, distinct candidates,
//! one case per user; every error names the file and line.

use crate::data::Dataset;
use crate::error::{CfError, Result};
use crate::fsutil::write_atomic;
use crate::ids::{ItemId, UserId};
use crate::negatives::NegativeSampler;
use crate::ranker::RankRequest;
use crate::seed::{user_rng, Stream};
use crate::split::{Split, SplitKind};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

/// The format tag in the header line.
pub const FORMAT: &str = "star-candidates/1";

/// One evaluation case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateCase {
    /// The user.
    pub user: UserId,
    /// The candidates in file (shuffled) order.
    pub candidates: Vec<ItemId>,
    /// Position of the held-out item in `candidates`.
    pub positive_index: usize,
}

impl CandidateCase {
    /// The held-out (true) item.
    pub fn target(&self) -> ItemId {
        self.candidates[self.positive_index]
    }
}

/// The header line of a candidate file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateHeader {
    /// Always [`FORMAT`].
    pub format: String,
    /// Dataset name.
    pub dataset: String,
    /// [`Dataset::fingerprint`] of the dataset the file was drawn from.
    pub fingerprint: String,
    /// Which held-out item the cases target.
    pub split: SplitKind,
    /// The sampling seed.
    pub seed: u64,
    /// Candidates per case (1 + negatives).
    pub num_candidates: usize,
    /// Number of cases.
    pub cases: usize,
}

/// All cases of one split and seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidateSet {
    /// File header.
    pub header: CandidateHeader,
    /// Cases in user-id order.
    pub cases: Vec<CandidateCase>,
}

#[derive(Serialize, Deserialize)]
struct CaseLine {
    user: String,
    target: String,
    positive_index: usize,
    candidates: Vec<String>,
}

impl CandidateSet {
    /// Draws, for every user with a held-out item for `kind`, `num_negatives` distinct items the
    /// user never interacted with (in any split), uniformly from the catalogue, and shuffles them
    /// with the true item. Each user's draw depends only on `(seed, kind, user)`
    /// ([`crate::seed`]).
    pub fn sample(
        ds: &Dataset,
        split: &Split,
        kind: SplitKind,
        num_negatives: usize,
        seed: u64,
    ) -> Result<CandidateSet> {
        let n_items = ds.num_items();
        let mut cases = Vec::new();
        for user in split.eval_users(kind) {
            let target = split.target(user, kind).expect("eval user has a target");
            let seen: HashSet<ItemId> = ds.user_interactions(user).iter().map(|i| i.item).collect();
            let available = n_items - seen.len();
            if available < num_negatives {
                return Err(CfError::Invalid(format!(
                    "user `{}` has interacted with {} of {} items: fewer than {} negatives are left",
                    ds.users[user.idx()].raw_id,
                    seen.len(),
                    n_items,
                    num_negatives
                )));
            }
            let mut rng = user_rng(seed, Stream::Candidates(kind), user);
            let sampler = NegativeSampler::new(n_items, |i| seen.contains(&i));
            let negatives = if available < 2 * num_negatives.max(1) || seen.len() * 2 > n_items {
                // dense users: no long rejection runs
                sampler.distinct_from_complement(num_negatives, &mut rng)
            } else {
                sampler.distinct(num_negatives, &mut rng)
            };
            let mut candidates = Vec::with_capacity(num_negatives + 1);
            candidates.push(target);
            candidates.extend(negatives);
            candidates.shuffle(&mut rng);
            let positive_index = candidates.iter().position(|&c| c == target).unwrap();
            cases.push(CandidateCase {
                user,
                candidates,
                positive_index,
            });
        }
        Ok(CandidateSet {
            header: CandidateHeader {
                format: FORMAT.to_string(),
                dataset: ds.name.clone(),
                fingerprint: ds.fingerprint(),
                split: kind,
                seed,
                num_candidates: num_negatives + 1,
                cases: cases.len(),
            },
            cases,
        })
    }

    /// The ranking request of case `i`, with the history the split allows for this kind.
    pub fn request(&self, i: usize, split: &Split) -> RankRequest {
        let c = &self.cases[i];
        split.request(c.user, self.header.split, c.candidates.clone())
    }

    /// Writes the file atomically (temporary file, then rename).
    pub fn save(&self, path: &Path, ds: &Dataset) -> Result<()> {
        write_atomic(path, |w| {
            serde_json::to_writer(&mut *w, &self.header)?;
            w.write_all(b"\n")?;
            for c in &self.cases {
                let line = CaseLine {
                    user: ds.users[c.user.idx()].raw_id.clone(),
                    target: ds.items[c.target().idx()].raw_id.clone(),
                    positive_index: c.positive_index,
                    candidates: c
                        .candidates
                        .iter()
                        .map(|i| ds.items[i.idx()].raw_id.clone())
                        .collect(),
                };
                serde_json::to_writer(&mut *w, &line)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })
    }

    /// Reads and validates a candidate file against `ds`.
    pub fn load(path: &Path, ds: &Dataset) -> Result<CandidateSet> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                CfError::Missing {
                    path: path.to_path_buf(),
                    hint: Some("create it with `star data split`".into()),
                }
            } else {
                CfError::io(path, e)
            }
        })?;
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .filter(|(_, l)| !l.trim().is_empty());
        let (hline, htext) = lines.next().ok_or_else(|| CfError::Empty {
            path: path.to_path_buf(),
        })?;
        let header: CandidateHeader = serde_json::from_str(htext).map_err(|e| {
            CfError::parse(path, hline, format!("not a candidate-file header: {e}"))
        })?;
        if header.format != FORMAT {
            return Err(CfError::parse(
                path,
                hline,
                format!("format `{}` is not `{FORMAT}`", header.format),
            ));
        }
        if header.fingerprint != ds.fingerprint() {
            return Err(CfError::format(
                path,
                format!(
                    "drawn from a different dataset or preprocessing (file: `{}` {}, loaded: `{}` {})",
                    header.dataset,
                    header.fingerprint,
                    ds.name,
                    ds.fingerprint()
                ),
            ));
        }
        let mut cases = Vec::with_capacity(header.cases);
        let mut users_seen = HashSet::new();
        for (line, l) in lines {
            let c: CaseLine = serde_json::from_str(l)
                .map_err(|e| CfError::parse(path, line, format!("bad case: {e}")))?;
            let unknown = |kind: &'static str, id: &str| CfError::UnknownId {
                path: path.to_path_buf(),
                line,
                kind,
                id: id.to_string(),
            };
            let user = ds
                .user_by_raw(&c.user)
                .ok_or_else(|| unknown("user", &c.user))?;
            let target = ds
                .item_by_raw(&c.target)
                .ok_or_else(|| unknown("item", &c.target))?;
            let candidates = c
                .candidates
                .iter()
                .map(|r| ds.item_by_raw(r).ok_or_else(|| unknown("item", r)))
                .collect::<Result<Vec<_>>>()?;
            if candidates.len() != header.num_candidates {
                return Err(CfError::parse(
                    path,
                    line,
                    format!(
                        "{} candidates, header says {}",
                        candidates.len(),
                        header.num_candidates
                    ),
                ));
            }
            if candidates.get(c.positive_index) != Some(&target) {
                return Err(CfError::parse(
                    path,
                    line,
                    format!(
                        "positive_index {} does not point at target `{}`",
                        c.positive_index, c.target
                    ),
                ));
            }
            if candidates.iter().collect::<HashSet<_>>().len() != candidates.len() {
                return Err(CfError::parse(path, line, "candidates are not distinct"));
            }
            if !users_seen.insert(user) {
                return Err(CfError::parse(
                    path,
                    line,
                    format!("user `{}` appears twice", c.user),
                ));
            }
            cases.push(CandidateCase {
                user,
                candidates,
                positive_index: c.positive_index,
            });
        }
        if cases.len() != header.cases {
            return Err(CfError::format(
                path,
                format!(
                    "{} cases, header says {} (truncated file?)",
                    cases.len(),
                    header.cases
                ),
            ));
        }
        Ok(CandidateSet { header, cases })
    }

    /// Checks the cases against a split: each target is the split's held-out item for the user
    /// and no negative is in the user's history. Returns the first violation.
    pub fn validate_against(&self, ds: &Dataset, split: &Split) -> Result<()> {
        for c in &self.cases {
            let raw = &ds.users[c.user.idx()].raw_id;
            if split.target(c.user, self.header.split) != Some(c.target()) {
                return Err(CfError::Invalid(format!(
                    "candidate file: user `{raw}`: target is not the {} item of the split",
                    self.header.split
                )));
            }
            let seen: HashSet<ItemId> = ds
                .user_interactions(c.user)
                .iter()
                .map(|i| i.item)
                .collect();
            if let Some(bad) = c
                .candidates
                .iter()
                .enumerate()
                .find(|&(k, i)| k != c.positive_index && seen.contains(i))
            {
                return Err(CfError::Invalid(format!(
                    "candidate file: user `{raw}`: negative `{}` is an item the user interacted with",
                    ds.items[bad.1.idx()].raw_id
                )));
            }
        }
        Ok(())
    }
}
