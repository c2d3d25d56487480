//! Distillation of teacher trajectories into the STAR student: samples and batches
//! ([`data`]), the trajectory-aligned loss ([`loss`]).

pub mod data;
pub mod loss;

pub use data::{
    collate, sample_from_episode, student_trajectory, tokenize, DataError, DistillBatch,
    DistillBatcher, DistillItem, DistillSample, Segment, TrajectoryDataset, TrajectoryView,
};
pub use loss::{distill_loss, DistillLoss, LossWeights};
