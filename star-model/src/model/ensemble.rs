//! An ensemble of students: [`StarEnsemble`] ranks a request's candidates by the mean over its
//! members of each member's log-softmax over the candidates (fast mode, one forward pass per
//! member). Students distilled with different training seeds err on partly different users;
//! how much their mean gains over one of them is measured in BENCHMARKS.md (issue 17, tenth
//! session: on MovieLens-100K, by under a point and not on every seed).

use super::StarModel;
use crate::error::{Error, Result};
use star_cf::{RankError, RankRequest, Ranker, Ranking};

/// Students that rank together: the score of a candidate is the mean over the members of
/// `log softmax` of the member's fast-mode scores of the request's candidates (one member:
/// its scores as they are). Each member keeps its own binding, sequence evidence and batch
/// size; the ensemble never generates (explain mode is a single student's).
#[derive(Clone)]
pub struct StarEnsemble {
    members: Vec<StarModel>,
    name: String,
}

impl StarEnsemble {
    /// The ensemble of `members` (at least one), named `student-fast`.
    pub fn new(members: Vec<StarModel>) -> Result<Self> {
        if members.is_empty() {
            return Err(Error::mismatch("an ensemble needs at least one student"));
        }
        Ok(StarEnsemble {
            members,
            name: "student-fast".into(),
        })
    }

    /// Names the ensemble (its rows in reports).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The members, in the order given.
    pub fn members(&self) -> &[StarModel] {
        &self.members
    }

    /// Scores of requests, in each request's candidate order: the mean over the members of
    /// their log-softmax over the candidates ([`StarModel::score_batch`] per member). A NaN
    /// score counts as `-inf` (that candidate ranks last, as with one student). With one
    /// member, its scores unchanged.
    pub fn score_batch(&self, requests: &[RankRequest]) -> Result<Vec<Vec<f32>>> {
        if let [one] = self.members.as_slice() {
            return one.score_batch(requests);
        }
        let mut total: Vec<Vec<f32>> = requests
            .iter()
            .map(|r| vec![0.0; r.candidates.len()])
            .collect();
        let n = self.members.len() as f32;
        for (k, member) in self.members.iter().enumerate() {
            let scores = member.score_batch(requests)?;
            for (i, (sum, s)) in total.iter_mut().zip(scores).enumerate() {
                if s.len() != sum.len() {
                    return Err(Error::mismatch(format!(
                        "ensemble member {k} gave {} scores for request {i}'s {} candidates",
                        s.len(),
                        sum.len()
                    )));
                }
                for (t, x) in sum.iter_mut().zip(log_softmax(&s)) {
                    *t += x / n;
                }
            }
        }
        Ok(total)
    }
}

/// `log softmax` of `scores`, NaN counted as `-inf`; an empty or all-`-inf` row comes back
/// as it is (every candidate equal).
fn log_softmax(scores: &[f32]) -> Vec<f32> {
    let clean: Vec<f32> = scores
        .iter()
        .map(|&x| if x.is_nan() { f32::NEG_INFINITY } else { x })
        .collect();
    let lse = crate::cross_entropy::row_lse(&clean);
    if lse == f32::NEG_INFINITY {
        return clean;
    }
    clean.into_iter().map(|x| x - lse).collect()
}

impl Ranker for StarEnsemble {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn rank(&self, request: &RankRequest) -> Result<Ranking, RankError> {
        let scores = self
            .score_batch(std::slice::from_ref(request))?
            .pop()
            .unwrap_or_default();
        Ok(Ranking::from_scores(&request.candidates, &scores))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_is_normalised_and_keeps_the_order() {
        let s = log_softmax(&[2.0, -1.0, 0.5]);
        let total: f32 = s.iter().map(|x| x.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
        assert!(s[0] > s[2] && s[2] > s[1]);
        // shifting every score leaves it unchanged
        let shifted = log_softmax(&[102.0, 99.0, 100.5]);
        for (a, b) in s.iter().zip(&shifted) {
            assert!((a - b).abs() < 1e-5, "{a} {b}");
        }
        assert!(log_softmax(&[]).is_empty());
    }

    #[test]
    fn a_nan_score_ranks_last_and_leaves_the_others_finite() {
        let s = log_softmax(&[1.0, f32::NAN, 0.0]);
        assert_eq!(s[1], f32::NEG_INFINITY);
        assert!(s[0].is_finite() && s[2].is_finite() && s[0] > s[2], "{s:?}");
        let all = log_softmax(&[f32::NAN, f32::NEG_INFINITY]);
        assert!(all.iter().all(|&x| x == f32::NEG_INFINITY), "{all:?}");
    }

    #[test]
    fn an_empty_ensemble_is_refused() {
        let err = StarEnsemble::new(Vec::new()).err().expect("no members");
        assert!(err.to_string().contains("at least one student"), "{err}");
    }
}
