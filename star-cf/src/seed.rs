//! One seeding scheme for what is drawn per user: the run seed, a [`Stream`] tag and a user id
//! are mixed with SplitMix64 into the seed of that user's own ChaCha8 generator, so a user's
//! draws depend only on `(seed, stream, user)` (and a position within the user, where there is
//! one), never on other users or on the order the work is done in.
//!
//! The tags and the mixing are fixed: changing either changes every candidate file and every
//! teacher job drawn from a seed.

use crate::ids::UserId;
use crate::split::SplitKind;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SplitMix64's output function (Steele, Lea and Flood, 2014): a bijective mixer of 64-bit
/// words whose outputs of nearby inputs look independent.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// What a per-user stream draws; streams with different tags are independent.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The negatives and the order of a candidate file of this split
    /// ([`crate::candidates::CandidateSet::sample`]).
    Candidates(SplitKind),
    /// The candidates of the teacher's training episodes, one generator per train position.
    TrainingEpisodes,
}

impl Stream {
    /// The tag mixed into the run seed.
    pub const fn tag(self) -> u64 {
        match self {
            Stream::Candidates(SplitKind::Valid) => 1 << 32,
            Stream::Candidates(SplitKind::Test) => 2 << 32,
            Stream::TrainingEpisodes => 0x7ea4,
        }
    }
}

/// The seed of `user`'s stream: `splitmix64(splitmix64(seed ^ tag) ^ user)`.
pub fn user_seed(seed: u64, stream: Stream, user: UserId) -> u64 {
    splitmix64(splitmix64(seed ^ stream.tag()) ^ user.0 as u64)
}

/// `user`'s generator of `stream`, seeded with [`user_seed`].
pub fn user_rng(seed: u64, stream: Stream, user: UserId) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(user_seed(seed, stream, user))
}

/// The generator of `position` (e.g. a train-sequence position) within `user`'s stream,
/// seeded with `user_seed(seed, stream, user) ^ position`.
pub fn position_rng(seed: u64, stream: Stream, user: UserId, position: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(user_seed(seed, stream, user) ^ position as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_outputs() {
        // the first outputs of the reference generator seeded with 0 (state advanced by the
        // golden gamma before each output, as `splitmix64(k · gamma)` reproduces)
        let gamma = 0x9e37_79b9_7f4a_7c15u64;
        let outputs: Vec<u64> = (0..3).map(|k| splitmix64(gamma.wrapping_mul(k))).collect();
        assert_eq!(
            outputs,
            [
                0xe220_a839_7b1d_cdaf,
                0x6e78_9e6a_a1b9_65f4,
                0x06c4_5d18_8009_454f
            ]
        );
    }

    #[test]
    fn streams_differ_by_tag_user_and_position() {
        let v = user_seed(42, Stream::Candidates(SplitKind::Valid), UserId(3));
        assert_ne!(
            v,
            user_seed(42, Stream::Candidates(SplitKind::Test), UserId(3))
        );
        assert_ne!(v, user_seed(42, Stream::TrainingEpisodes, UserId(3)));
        assert_ne!(
            v,
            user_seed(42, Stream::Candidates(SplitKind::Valid), UserId(4))
        );
        assert_ne!(
            v,
            user_seed(43, Stream::Candidates(SplitKind::Valid), UserId(3))
        );
        assert_eq!(v, splitmix64(splitmix64(42 ^ (1 << 32)) ^ 3));
    }
}
