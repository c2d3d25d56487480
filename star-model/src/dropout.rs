//! Dropout whose masks come from a generator the caller seeds, not from the device's shared one.
//!
//! burn's `Dropout` draws every mask element through the device's random generator, one element
//! at a time: a third of SASRec's training step on the CPU backend (measured with `perf`), and a
//! generator shared by every thread of the process, so two passes running at once would draw in
//! an order that depends on timing. [`DropoutDraws`] fills masks from its own ChaCha8 stream, so a
//! training step seeded by its batch draws the same masks on any thread, in any order of runs.

use burn::prelude::*;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The masks of one forward pass: each [`DropoutDraws::apply`] zeroes elements with probability
/// `p` and scales the rest by `1 / (1 - p)`, as burn's `Dropout` does in training.
#[derive(Debug)]
pub struct DropoutDraws {
    rng: ChaCha8Rng,
    p: f64,
}

impl DropoutDraws {
    /// Draws with probability `p` (in `0..1`) from a generator seeded with `seed`.
    ///
    /// # Panics
    /// If `p` is not in `0..1`.
    pub fn new(p: f64, seed: u64) -> Self {
        assert!(
            (0.0..1.0).contains(&p),
            "dropout probability {p} not in 0..1"
        );
        DropoutDraws {
            rng: ChaCha8Rng::seed_from_u64(seed),
            p,
        }
    }

    /// `x` with a fresh mask applied (unchanged when `p` is 0).
    pub fn apply<const D: usize>(&mut self, x: Tensor<D>) -> Tensor<D> {
        if self.p == 0.0 {
            return x;
        }
        let dims = x.dims();
        let n: usize = dims.iter().product();
        // an element is dropped when a uniform u32 falls below p · 2^32
        let threshold = (self.p * 4_294_967_296.0) as u64;
        let scale = (1.0 / (1.0 - self.p)) as f32;
        let mask: Vec<f32> = (0..n)
            .map(|_| {
                if (self.rng.next_u32() as u64) < threshold {
                    0.0
                } else {
                    scale
                }
            })
            .collect();
        let mask = Tensor::from_data(TensorData::new(mask, dims), &x.device());
        x * mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_about_p_scales_the_rest_and_repeats_with_its_seed() {
        let device = Device::flex();
        let x = Tensor::<2>::ones([200, 500], &device);
        let draw = |seed| -> Vec<f32> {
            DropoutDraws::new(0.2, seed)
                .apply(x.clone())
                .into_data()
                .convert::<f32>()
                .try_into_vec()
                .unwrap()
        };
        let a = draw(7);
        let dropped = a.iter().filter(|&&v| v == 0.0).count() as f64 / a.len() as f64;
        assert!((dropped - 0.2).abs() < 0.01, "{dropped}");
        assert!(a.iter().all(|&v| v == 0.0 || (v - 1.25).abs() < 1e-6));
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        // p = 0 leaves the input alone
        let same: Vec<f32> = DropoutDraws::new(0.0, 1)
            .apply(x.clone())
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .unwrap();
        assert!(same.iter().all(|&v| v == 1.0));
    }
}
