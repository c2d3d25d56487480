//! Distillation of teacher trajectories into the STAR student: samples and batches
//! ([`data`]), the trajectory-aligned loss ([`loss`]), supervised fine-tuning with burn-train's
//! `Learner` ([`sft`]), then GRPO ([`grpo`]).

pub mod corpus;
pub mod data;
pub mod grpo;
pub mod loss;
pub mod sft;

pub use corpus::tokenizer_corpus;
pub use data::{
    collate, collate_parts, item_from_tokens, sample_from_episode, student_trajectory, tokenize,
    DataError, DistillBatch, DistillBatcher, DistillItem, DistillSample, Segment,
    TrajectoryDataset, TrajectoryView,
};
pub use grpo::{
    group_advantages, grpo_loss, outcome_reward, ranking_logp, sample_ranking, train_grpo,
    GrpoBatch, GrpoConfig, GrpoLearner, GrpoLoss, GrpoPrompt, GrpoResult,
};
pub use loss::{distill_loss, distill_loss_dropping, soft_target_kl, DistillLoss, LossWeights};
pub use sft::{avg_hr, batch_count, epoch_batches, train_sft, SftConfig, SftLearner, SftResult};
