//! The names of the metrics burn-train logs while STAR's models train, shared by the trainer
//! (star-train, which names its metrics with them) and the readers of its logs (star-eval's
//! training-curve plots, the run pipeline).
//!
//! burn-train's file logger writes one file per metric and epoch,
//! `<artifact dir>/{train,valid}/epoch-<N>/<name>.log`, so these names are also file names.
//! They are not the keys of `report.json` (those are `star_eval::Metrics::KEYS`, e.g.
//! `avg_HR`).

/// The training loss, as burn-train's own `LossMetric` names it (CF models, SASRec, SFT).
pub const LOSS: &str = "Loss";
/// GRPO's mean rollout reward per step (training).
pub const REWARD: &str = "reward";
/// GRPO's mean format reward per step (training).
pub const FORMAT: &str = "format";
/// GRPO's KL penalty to the reference model per step (training).
pub const KL: &str = "kl";
/// The paper's headline metric, the mean of HR@1, HR@3 and HR@5 in percent (validation of
/// the student's SFT and GRPO stages).
pub const AVG_HR: &str = "avg-HR";
/// HR@1 in percent (validation of the student).
pub const HR_1: &str = "HR@1";
/// HR@10 in percent (validation of the CF models and SASRec).
pub const HR_10: &str = "HR@10";
/// NDCG@10 in percent (validation of the CF models and SASRec).
pub const NDCG_10: &str = "NDCG@10";

/// The name of HR@k (e.g. [`HR_10`] for k = 10).
pub fn hr(k: usize) -> String {
    format!("HR@{k}")
}

/// The name of NDCG@k (e.g. [`NDCG_10`] for k = 10).
pub fn ndcg(k: usize) -> String {
    format!("NDCG@{k}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_cut_offs_match_their_constants() {
        assert_eq!(hr(1), HR_1);
        assert_eq!(hr(10), HR_10);
        assert_eq!(ndcg(10), NDCG_10);
        assert_eq!(ndcg(5), "NDCG@5");
    }

    #[test]
    fn names_are_distinct_file_names() {
        let names = [LOSS, REWARD, FORMAT, KL, AVG_HR, HR_1, HR_10, NDCG_10];
        for (i, a) in names.iter().enumerate() {
            assert!(!a.is_empty() && !a.contains(['/', '\\']), "{a}");
            assert!(names[i + 1..].iter().all(|b| a != b), "{a} twice");
        }
    }
}
