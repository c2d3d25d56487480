//! The soft-target settings of SFT: distillation from the sequential model's whole ranking of
//! the candidates, as command-line arguments and their defaults.

use star_train::distill::LossWeights;

/// The soft-target weight when sequence evidence is on and `--soft-weight` is not given: on
/// MovieLens-100K (seed 42) it raised the SFT model's valid avg-HR from 77.66 to 78.47 and its
/// test avg-HR from 74.23 to 74.94 (BENCHMARKS.md, issue 17, fifth session). Weight 2 and
/// temperature 2 reached no higher validation score (sixth session).
pub const DEFAULT_SOFT_WEIGHT: f64 = 1.0;

/// Distillation from the sequential model's whole ranking of the candidates
/// (`--soft-weight`, `--soft-temperature`): the student's softmax over the candidates is pulled
/// towards SASRec's (on training prompts, the cross-fitted fold models' scores the student
/// also reads as sequence evidence). Needs sequence evidence.
#[derive(clap::Args, Clone, Debug)]
pub struct SoftTargetArgs {
    /// Weight of the soft-target term `T² · KL(SASRec's candidate softmax ‖ the student's)`
    /// in SFT; 0: off. Default: 1 with sequence evidence (--sequence-folds above 0), else 0.
    #[arg(long)]
    pub soft_weight: Option<f64>,
    /// Temperature `T` of both softmaxes in the soft-target term.
    #[arg(long, default_value_t = 1.0)]
    pub soft_temperature: f64,
}

impl SoftTargetArgs {
    /// `weights` with this soft-target term, for a student with sequence evidence from
    /// `sequence_folds` fold models (0: none, and no soft targets unless a weight is given,
    /// which SFT then refuses by name).
    pub fn apply(&self, weights: LossWeights, sequence_folds: usize) -> LossWeights {
        let default = if sequence_folds > 0 {
            DEFAULT_SOFT_WEIGHT
        } else {
            0.0
        };
        weights
            .with_soft(self.soft_weight.unwrap_or(default))
            .with_soft_temperature(self.soft_temperature)
    }
}
