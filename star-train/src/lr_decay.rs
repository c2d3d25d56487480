//! How the learning rate moves over a training run: constant, or decayed to 0 at the last step
//! of the epoch limit, with burn's schedulers (their state is checkpointed with the optimizer's,
//! so a resumed run continues the same curve).

use crate::run::TrainError;
use burn::config::Config;
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;

/// The learning-rate schedule of a training run.
#[derive(Config, Debug, PartialEq, Eq, Copy)]
pub enum LrDecay {
    /// The configured rate at every step.
    Constant,
    /// From the configured rate in a straight line down to 0 at the last step of the epoch
    /// limit.
    Linear,
    /// From the configured rate along a half cosine down to 0 at the last step of the epoch
    /// limit.
    Cosine,
}

impl LrDecay {
    /// The scheduler for a run of `steps` optimizer steps in all (the epoch limit times the
    /// steps of one epoch) starting at `rate`. A decay needs `0 < rate ≤ 1` and at least 2
    /// steps (an error names the schedule otherwise); a constant rate is taken as it is.
    pub fn scheduler(self, rate: f64, steps: usize) -> Result<ModuleLrScheduler, TrainError> {
        let built = match self {
            LrDecay::Constant => Ok(rate.into()),
            // burn's schedulers reach their final rate after `num_iters` steps past the first
            _ if steps < 2 => Err("a decay needs at least 2 steps".to_string()),
            LrDecay::Linear => LinearLrSchedulerConfig::new(rate, 0.0, steps - 1).init(),
            LrDecay::Cosine => CosineAnnealingLrSchedulerConfig::new(rate, steps - 1).init(),
        };
        built.map_err(|e| {
            TrainError::Training(format!(
                "learning-rate schedule {self:?} from {rate} over {steps} steps: {e}"
            ))
        })
    }
}

impl std::str::FromStr for LrDecay {
    type Err = String;

    /// `constant`, `linear` or `cosine`; anything else is an error naming it.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "constant" => Ok(LrDecay::Constant),
            "linear" => Ok(LrDecay::Linear),
            "cosine" => Ok(LrDecay::Cosine),
            other => Err(format!(
                "unknown learning-rate decay `{other}` (constant, linear or cosine)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(decay: LrDecay, rate: f64, steps: usize) -> Vec<f64> {
        let mut s = decay.scheduler(rate, steps).unwrap();
        (0..steps).map(|_| s.step().base()).collect()
    }

    #[test]
    fn decays_reach_zero_at_the_last_step_and_constant_stays() {
        let c = rates(LrDecay::Constant, 2e-3, 5);
        assert!(c.iter().all(|&r| r == 2e-3), "{c:?}");
        for decay in [LrDecay::Linear, LrDecay::Cosine] {
            let r = rates(decay, 2e-3, 10);
            assert!(r[0] > 1.5e-3, "{decay:?} starts near the rate: {r:?}");
            assert!(
                r.windows(2).all(|w| w[1] < w[0]),
                "{decay:?} decreases: {r:?}"
            );
            assert!(r[9].abs() < 1e-12, "{decay:?} ends at 0: {r:?}");
        }
        // the half-way rate tells the curves apart
        let (l, c) = (
            rates(LrDecay::Linear, 1.0, 101),
            rates(LrDecay::Cosine, 1.0, 101),
        );
        assert!((l[50] - 0.5).abs() < 0.02 && (c[50] - 0.5).abs() < 0.02);
        assert!(
            c[25] > l[25] + 0.05,
            "cosine stays higher early: {} {}",
            c[25],
            l[25]
        );
    }

    fn error(decay: LrDecay, rate: f64, steps: usize) -> String {
        match decay.scheduler(rate, steps) {
            Ok(_) => panic!("{decay:?} from {rate} over {steps} steps was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let e = error(LrDecay::Linear, 2e-3, 1);
        assert!(e.contains("Linear") && e.contains("over 1 steps"), "{e}");
        let e = error(LrDecay::Cosine, 2.0, 5);
        assert!(e.contains("Cosine from 2 over 5 steps"), "{e}");
        assert_eq!("cosine".parse::<LrDecay>(), Ok(LrDecay::Cosine));
        let e = "step".parse::<LrDecay>().unwrap_err();
        assert!(e.contains("`step`"), "{e}");
    }
}
