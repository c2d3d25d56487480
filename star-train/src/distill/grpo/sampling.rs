//! Rankings as Plackett–Luce samples: drawing one from candidate scores (Gumbel-top-k) and
//! the log-probability of each of its places, the actions of a rank rollout.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use rand::Rng;

/// Samples the first `depth` places of a Plackett–Luce ranking with weights
/// `exp(score / temperature)` (Gumbel-top-k). Non-finite scores come last, in index order.
pub fn sample_ranking(
    scores: &[f32],
    temperature: f64,
    depth: usize,
    rng: &mut impl Rng,
) -> Vec<usize> {
    let t = temperature.max(1e-6);
    let mut keys: Vec<(f64, usize)> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            if s.is_finite() {
                let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                (s as f64 / t - (-u.ln()).ln(), i)
            } else {
                (f64::NEG_INFINITY, i)
            }
        })
        .collect();
    keys.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    keys.into_iter()
        .take(depth.min(scores.len()))
        .map(|(_, i)| i)
        .collect()
}

/// The log-probability of each place of `rankings` (rows of equal length `d`) under
/// Plackett–Luce with weights `exp(scores / temperature)`: `[N, d]`, where entry `(n, i)` is
/// `log p(rankings[n][i] | the places before)`. `scores` is `[N, C]`.
pub fn ranking_logp(scores: Tensor<2>, rankings: &[Vec<usize>], temperature: f64) -> Tensor<2> {
    let [n, c] = scores.dims();
    let d = rankings.first().map_or(0, Vec::len);
    let device = scores.device();
    let mut excluded = vec![0.0f32; n * d * c];
    let mut chosen = vec![0i64; n * d];
    for (r, ranking) in rankings.iter().enumerate() {
        assert_eq!(ranking.len(), d, "rankings of unequal length");
        for (i, &item) in ranking.iter().enumerate() {
            chosen[r * d + i] = item as i64;
            // the items of earlier places are out of the running at place i
            for &before in &ranking[..i] {
                excluded[(r * d + i) * c + before] = -1e9;
            }
        }
    }
    let z = scores
        .div_scalar(temperature.max(1e-6))
        .reshape([n, 1, c])
        .repeat_dim(1, d)
        + Tensor::<3>::from_data(TensorData::new(excluded, [n, d, c]), &device);
    log_softmax(z, 2)
        .gather(
            2,
            Tensor::<3, Int>::from_data(TensorData::new(chosen, [n, d, 1]), &device),
        )
        .reshape([n, d])
}
