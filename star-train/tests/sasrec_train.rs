//! SASRec training with burn-train's Learner: it learns, and resume reproduces an uninterrupted
//! run.

use burn::prelude::*;
use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::prelude::*;
use star_train::sasrec::{train_sasrec, SasRecArch, SasRecLoss, SasRecTrainConfig};

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

/// burn-train's multi-device strategy, on two CPU devices (the same flex device twice: what
/// runs on two GPUs, without the speed-up): it learns, repeats bit for bit, and a resumed run
/// replays the uninterrupted one (each device's share of an epoch depends on the epoch alone).
#[test]
fn sasrec_trains_on_two_devices_deterministically_and_resumes_exactly() {
    let (split, valid) = data();
    let two = vec![Device::flex(), Device::flex()];
    let cfg = SasRecTrainConfig::new()
        .with_model(SasRecArch::new().with_max_len(20).with_dim(32))
        .with_max_epochs(8)
        .with_batch_size(16)
        .with_learning_rate(5e-3);
    let run = |devices: &[Device], epochs: usize, dir: &std::path::Path, resume: bool| {
        train_sasrec(
            &cfg.clone().with_max_epochs(epochs),
            &split,
            &valid,
            dir,
            devices,
            resume,
        )
        .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let full = run(&two, 8, dir.path(), false);
    assert!(
        full.valid_score > 0.35,
        "valid NDCG@10 {}",
        full.valid_score
    );
    let weights =
        |r: &star_train::sasrec::SasRecTrainResult| values(r.model.item_embedding.weight.val());
    let again_dir = tempfile::tempdir().unwrap();
    let again = run(&two, 8, again_dir.path(), false);
    assert_eq!(weights(&again), weights(&full), "two runs on two devices");

    let part_dir = tempfile::tempdir().unwrap();
    run(&two, 3, part_dir.path(), false);
    let resumed = run(&two, 8, part_dir.path(), true);
    assert_eq!(resumed.resumed_after, Some(3));
    assert_eq!(resumed.best_epoch, full.best_epoch);
    assert_eq!(weights(&resumed), weights(&full), "resumed on two devices");

    // one device with the same batch size takes twice the steps: another model
    let one_dir = tempfile::tempdir().unwrap();
    let one = run(&two[..1], 8, one_dir.path(), false);
    assert_ne!(weights(&one), weights(&full));
}

/// A batch cut into parts on threads of their own has the loss and gradients of the whole
/// batch, with either loss (no dropout here, so the masks do not differ between the two).
#[test]
fn a_batch_split_into_parts_has_the_loss_and_gradients_of_the_whole() {
    for loss in [SasRecLoss::Ce, SasRecLoss::Bce] {
        parts_add_up(loss);
    }
}

fn parts_add_up(loss: SasRecLoss) {
    use burn::train::TrainStep;
    use star_train::sasrec::{SasRecLearner, SeqBatch};
    let device = Device::flex().autodiff();
    device.seed(3);
    let arch = SasRecArch::new()
        .with_max_len(6)
        .with_dim(8)
        .with_dropout(0.0);
    let learner = SasRecLearner {
        model: SasRecTrainConfig::new()
            .with_model(arch)
            .model(20)
            .init(&device),
        loss,
    };
    let ids = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [4, 6]), &device);
    // four sequences, left-padded; 0 = padding
    let input = vec![
        0, 0, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 0, 0, 0, 7, 8, 9, 9, 8, 7, 6, 5, 4,
    ];
    let positives = vec![
        0, 0, 4, 5, 6, 7, 0, 2, 3, 4, 5, 6, 0, 0, 0, 8, 9, 10, 8, 7, 6, 5, 4, 3,
    ];
    let negatives = vec![
        0, 0, 9, 9, 9, 9, 0, 8, 8, 8, 8, 8, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2,
    ];
    let whole = SeqBatch {
        input: ids(input.clone()),
        positives: ids(positives.clone()),
        negatives: ids(negatives.clone()),
        dropout_seed: 1,
        loss_positions: None,
    };
    let positions = positives.iter().filter(|&&p| p != 0).count();
    // rows 0 and 2 in one part, 1 and 3 in the other
    let part = |rows: [usize; 2]| {
        let pick = |v: &Vec<i64>| -> Tensor<2, Int> {
            let r: Vec<i64> = rows
                .iter()
                .flat_map(|&r| v[r * 6..r * 6 + 6].to_vec())
                .collect();
            Tensor::from_data(TensorData::new(r, [2, 6]), &device)
        };
        SeqBatch {
            input: pick(&input),
            positives: pick(&positives),
            negatives: pick(&negatives),
            dropout_seed: 1,
            loss_positions: Some(positions),
        }
    };
    let a = TrainStep::step(&learner, vec![whole]);
    let b = TrainStep::step(&learner, vec![part([0, 2]), part([1, 3])]);
    let (la, lb): (f32, f32) = (a.item.loss.into_scalar(), b.item.loss.into_scalar());
    assert!(
        (la - lb).abs() <= 1e-5 * la.abs().max(1.0),
        "{loss:?}: loss {la} vs {lb}"
    );
    let id = learner.model.item_embedding.weight.id;
    let grad = |g: &burn::optim::GradientsParams| values(g.get::<2>(id).unwrap());
    let (ga, gb) = (grad(&a.grads), grad(&b.grads));
    let scale = ga.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    for (x, y) in ga.iter().zip(&gb) {
        assert!((x - y).abs() <= 1e-4 * scale, "{x} vs {y}");
    }
}

/// Settings the model cannot run are refused by name before anything is written.
#[test]
fn unsupported_settings_are_refused_by_name() {
    let (split, valid) = data();
    let dir = tempfile::tempdir().unwrap();
    for (cfg, word) in [
        (
            SasRecTrainConfig::new().with_model(SasRecArch::new().with_dropout(1.5)),
            "dropout 1.5",
        ),
        (
            SasRecTrainConfig::new().with_model(SasRecArch::new().with_dim(10).with_heads(3)),
            "3 heads do not divide width 10",
        ),
        (SasRecTrainConfig::new().with_parts(0), "parts"),
        (
            SasRecTrainConfig::new().with_model(SasRecArch::new().with_max_len(0)),
            "max_len must be at least 1",
        ),
    ] {
        let Err(err) = train_sasrec(&cfg, &split, &valid, dir.path(), &Device::flex(), false)
        else {
            panic!("{word}: accepted")
        };
        assert!(err.to_string().contains(word), "{err}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn every_position_trains_each_target_once_with_context_before_it() {
    use star_train::sasrec::windows;
    for max_len in [1, 2, 5, 50] {
        for t in 0..180 {
            let ws = windows(t, max_len, true);
            let mut trained = vec![0usize; t];
            for &(start, end, first) in &ws {
                assert!(end - start <= max_len && start <= first && first <= end);
                for (i, n) in trained.iter_mut().enumerate().take(end).skip(first) {
                    *n += 1;
                    // at least half a window before each trained target, or all there is
                    assert!(i - start >= (max_len / 2).min(i), "{t} {max_len} {i}");
                }
            }
            assert!(
                trained.iter().all(|&n| n == 1),
                "t {t}, max_len {max_len}: {ws:?}"
            );
            // only the last window: the old behaviour
            let last = windows(t, max_len, false);
            assert_eq!(
                last,
                [(t.saturating_sub(max_len), t, t.saturating_sub(max_len))]
            );
        }
    }
}
