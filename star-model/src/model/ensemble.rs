//! An ensemble of students: [`StarEnsemble`] ranks a request's candidates by the mean over its
//! members of each member's log-softmax over the candidates (fast mode, one forward pass per
//! member). Students distilled with different training seeds err on partly different users;
//! how much their mean gains over one of them is measured in BENCHMARKS.md (issue 17, tenth
//! session: on MovieLens-100K, by under a point and not on every seed).

use super::StarModel;
use crate::error::{Error, Result};
use star_cf::{RankError, RankRequest, Ranker, Ranking};

/// Students that rank together: the score of a candidate is the mean over the members of
/// `log softmax` of the member's fast-mode scores of the request's candidates. Each member
/// keeps its own binding, sequence evidence and batch size; the ensemble never generates
/// (explain mode is a single student's).
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
    /// their log-softmax over the candidates ([`StarModel::score_batch`] per member).
    pub fn score_batch(&self, requests: &[RankRequest]) -> Result<Vec<Vec<f32>>> {
        let mut total: Vec<Vec<f32>> = requests
            .iter()
            .map(|r| vec![0.0; r.candidates.len()])
            .collect();
        let n = self.members.len() as f32;
        for member in &self.members {
            for (sum, scores) in total.iter_mut().zip(member.score_batch(requests)?) {
                for (s, x) in sum.iter_mut().zip(log_softmax(&scores)) {
                    *s += x / n;
                }
            }
        }
        Ok(total)
    }
}

/// `log softmax` of `scores` (empty for none).
fn log_softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + scores.iter().map(|x| (x - max).exp()).sum::<f32>().ln();
    scores.iter().map(|x| x - lse).collect()
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
    fn an_empty_ensemble_is_refused() {
        let err = StarEnsemble::new(Vec::new()).err().expect("no members");
        assert!(err.to_string().contains("at least one student"), "{err}");
    }
}
