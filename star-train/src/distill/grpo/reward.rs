//! Rewards and advantages: the tiered outcome reward of a sampled ranking and the
//! group-normalised advantages GRPO weights the policy gradient with.

/// The tiered outcome reward of a ranking in which the true item is at 0-based place `rank`
/// (`None`: not among the places ranked): 1 at rank 1, 2/3 in the top 3, 1/3 in the top 5,
/// 0 below.
pub fn outcome_reward(rank: Option<usize>) -> f64 {
    match rank {
        Some(0) => 1.0,
        Some(1 | 2) => 2.0 / 3.0,
        Some(3 | 4) => 1.0 / 3.0,
        _ => 0.0,
    }
}

/// Group-normalised advantages: `rewards` holds consecutive groups of `group` rollouts; each
/// reward becomes `(r − mean) / std` of its group (population standard deviation), or 0 when
/// the group's rewards are all equal.
pub fn group_advantages(rewards: &[f64], group: usize) -> Vec<f64> {
    let group = group.max(1);
    let mut out = Vec::with_capacity(rewards.len());
    for g in rewards.chunks(group) {
        let n = g.len() as f64;
        let mean = g.iter().sum::<f64>() / n;
        let std = (g.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
        out.extend(
            g.iter()
                .map(|r| if std > 1e-9 { (r - mean) / std } else { 0.0 }),
        );
    }
    out
}
