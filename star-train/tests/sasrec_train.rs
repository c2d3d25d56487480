//! SASRec training with burn-train's Learner: it learns, and resume reproduces an uninterrupted
//! run.

use burn::prelude::*;
use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::prelude::*;
use star_train::sasrec::{train_sasrec, SasRecArch, SasRecTrainConfig};

fn data() -> (Split, CandidateSet) {
    let ds = generate(&SyntheticConfig {
        users: 150,
        items: 200,
        seed: 4,
        follow_related: 0.6,
        ..Default::default()
    })
    .unwrap();
    let split = Split::temporal_leave_one_out(&ds);
    let valid = CandidateSet::sample(&ds, &split, SplitKind::Valid, 19, 42).unwrap();
    (split, valid)
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().unwrap()
}

#[test]
fn sasrec_learns_and_resumes_exactly() {
    let (split, valid) = data();
    let device = Device::flex();
    let cfg = SasRecTrainConfig::new()
        .with_model(SasRecArch::new().with_max_len(20).with_dim(32))
        .with_max_epochs(12)
        .with_batch_size(32)
        .with_learning_rate(5e-3);

    let dir = tempfile::tempdir().unwrap();
    let full = train_sasrec(&cfg, &split, &valid, dir.path(), &device, false).unwrap();
    // random scores give NDCG@10 ≈ 0.24 on 20 candidates
    assert!(
        full.valid_score > 0.35,
        "valid NDCG@10 {}",
        full.valid_score
    );

    let dir2 = tempfile::tempdir().unwrap();
    train_sasrec(
        &cfg.clone().with_max_epochs(5),
        &split,
        &valid,
        dir2.path(),
        &device,
        false,
    )
    .unwrap();
    let resumed = train_sasrec(&cfg, &split, &valid, dir2.path(), &device, true).unwrap();
    assert_eq!(resumed.resumed_after, Some(5));
    assert_eq!(resumed.best_epoch, full.best_epoch);
    assert_eq!(resumed.valid_score, full.valid_score);
    assert_eq!(
        values(resumed.model.item_embedding.weight.val()),
        values(full.model.item_embedding.weight.val())
    );
}
