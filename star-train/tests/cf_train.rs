//! CF training with burn-train's Learner: it learns, checkpoints, and a resumed run ends where an
//! uninterrupted one does.

use burn::prelude::*;
use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::graph::CfGraph;
use star_cf::prelude::*;
use star_train::cf::{refit_cf, train_cf, CfModelKind, CfTrainConfig, TrainError};

fn data() -> (Split, CfGraph, CandidateSet) {
    let ds = generate(&SyntheticConfig {
        users: 120,
        items: 300,
        seed: 9,
        ..Default::default()
    })
    .unwrap();
    let split = Split::temporal_leave_one_out(&ds);
    let graph = CfGraph::from_split(&split);
    let valid = CandidateSet::sample(&ds, &split, SplitKind::Valid, 19, 42).unwrap();
    (split, graph, valid)
}

/// BPR-MF with 16 dimensions and batches of 256: `max_epochs` at learning rate `lr`.
fn small_mf(max_epochs: usize, lr: f64) -> CfTrainConfig {
    CfTrainConfig::new(CfModelKind::Mf)
        .with_dim(16)
        .with_max_epochs(max_epochs)
        .with_batch_size(256)
        .with_learning_rate(lr)
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().unwrap()
}

#[test]
fn mf_and_lightgcn_learn_and_checkpoint() {
    let (_split, graph, valid) = data();
    let device = Device::flex();
    for kind in [CfModelKind::Mf, CfModelKind::LightGcn] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = CfTrainConfig::new(kind)
            .with_dim(32)
            .with_layers(2)
            .with_max_epochs(10)
            .with_batch_size(512)
            .with_learning_rate(1e-2);
        let r = train_cf(&cfg, &graph, &valid, dir.path(), &device, false).unwrap();
        assert!(dir.path().join("checkpoint").read_dir().unwrap().count() > 0);
        assert!(dir.path().join("train-config.json").is_file());
        assert!(r.best_epoch >= 1 && r.best_epoch <= 10);
        // random scores give NDCG@10 ≈ 0.24 on 20 candidates; a trained model is well above
        assert!(
            r.valid_score > 0.4,
            "{kind:?}: valid NDCG@10 {}",
            r.valid_score
        );
        assert_eq!(values(r.model.users.val()).len(), graph.num_users() * 32);
    }
}

#[test]
fn resume_ends_where_an_uninterrupted_run_ends() {
    let (_split, graph, valid) = data();
    let device = Device::flex();
    let cfg = small_mf(4, 5e-3);

    let full_dir = tempfile::tempdir().unwrap();
    let full = train_cf(&cfg, &graph, &valid, full_dir.path(), &device, false).unwrap();

    // "killed" after two epochs (their checkpoints are on disk), then resumed
    let dir = tempfile::tempdir().unwrap();
    let part = train_cf(
        &cfg.clone().with_max_epochs(2),
        &graph,
        &valid,
        dir.path(),
        &device,
        false,
    )
    .unwrap();
    assert_eq!(part.epochs_run, 2);
    assert_eq!(full.resumed_after, None);
    let resumed = train_cf(&cfg, &graph, &valid, dir.path(), &device, true).unwrap();
    assert_eq!(
        resumed.resumed_after,
        Some(2),
        "continued from the checkpoint, not from scratch"
    );
    assert_eq!(resumed.epochs_run, full.epochs_run);
    assert_eq!(resumed.best_epoch, full.best_epoch);
    assert_eq!(resumed.valid_score, full.valid_score);
    assert_eq!(
        values(resumed.model.items.val()),
        values(full.model.items.val())
    );

    // resuming with other settings is refused
    let err = train_cf(
        &cfg.clone().with_dim(8),
        &graph,
        &valid,
        dir.path(),
        &device,
        true,
    )
    .unwrap_err();
    assert!(matches!(err, TrainError::ConfigMismatch { .. }), "{err}");

    // settings from a version of star without a field: refused by name, with the way out
    let path = dir.path().join("train-config.json");
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    saved.as_object_mut().unwrap().remove("validation");
    std::fs::write(&path, saved.to_string()).unwrap();
    let err = train_cf(&cfg, &graph, &valid, dir.path(), &device, true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("train-config.json")
            && err.contains("validation")
            && err.contains("without --resume"),
        "{err}"
    );
}

#[test]
fn a_diverging_run_stops_naming_the_metric_epoch_and_iteration() {
    let (_split, graph, valid) = data();
    let dir = tempfile::tempdir().unwrap();
    // A learning rate this large sends the embeddings past f32's range within a step or two.
    let cfg = small_mf(3, 1e30);
    let err = train_cf(&cfg, &graph, &valid, dir.path(), &Device::flex(), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("BPR-MF: training Loss is") && err.contains("at epoch 1, iteration"),
        "{err}"
    );
    assert!(err.contains("NaN") || err.contains("inf"), "{err}");
}

#[test]
fn a_damaged_or_unfinished_checkpoint_is_reported_and_the_run_resumes_before_it() {
    let (_split, graph, valid) = data();
    let device = Device::flex();
    let cfg = small_mf(3, 5e-3);
    let full_dir = tempfile::tempdir().unwrap();
    let full = train_cf(&cfg, &graph, &valid, full_dir.path(), &device, false).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("checkpoint");
    let cfg2 = cfg.clone().with_max_epochs(2);
    train_cf(&cfg2, &graph, &valid, dir.path(), &device, false).unwrap();
    assert!(ckpt.join("model-2.bpk.sha256").is_file());
    // One flipped bit in the optimizer state of epoch 2: the file still decodes, but its
    // checksum no longer matches, so the run resumes after epoch 1 and replays epoch 2.
    let optim2 = ckpt.join("optim-2.bpk");
    let mut bytes = std::fs::read(&optim2).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&optim2, &bytes).unwrap();
    let r = train_cf(&cfg, &graph, &valid, dir.path(), &device, true).unwrap();
    assert_eq!(r.resumed_after, Some(1));
    assert_eq!(r.epochs_run, 3);
    assert_eq!(r.best_epoch, full.best_epoch);
    assert_eq!(r.valid_score, full.valid_score);
    assert_eq!(
        values(r.model.items.val()),
        values(full.model.items.val()),
        "the same weights as an uninterrupted run"
    );

    // A kill during the write of epoch 2: the model file is cut short and has no checksum yet.
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("checkpoint");
    train_cf(&cfg2, &graph, &valid, dir.path(), &device, false).unwrap();
    let model2 = ckpt.join("model-2.bpk");
    let bytes = std::fs::read(&model2).unwrap();
    std::fs::write(&model2, &bytes[..bytes.len() / 3]).unwrap();
    std::fs::remove_file(ckpt.join("model-2.bpk.sha256")).unwrap();
    let r = train_cf(&cfg, &graph, &valid, dir.path(), &device, true).unwrap();
    assert_eq!(r.resumed_after, Some(1));
    assert_eq!(values(r.model.items.val()), values(full.model.items.val()));

    // A checkpoint damaged after training is reported by `verified_checkpoint`, which picking
    // the best epoch goes through.
    let model3 = ckpt.join("model-3.bpk");
    let mut bytes = std::fs::read(&model3).unwrap();
    bytes[10] ^= 0x40;
    std::fs::write(&model3, &bytes).unwrap();
    let err = star_train::run::verified_checkpoint(dir.path(), 3)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model-3.bpk") && err.contains("does not match its checksum"),
        "{err}"
    );
}

#[test]
fn early_stopping_decides_the_same_after_a_resume() {
    let (_split, graph, valid) = data();
    let device = Device::flex();
    // A high learning rate: NDCG@10 peaks within a few epochs, and patience 2 stops training
    // two epochs after the best one.
    let cfg = small_mf(30, 5e-2).with_patience(2);
    let full_dir = tempfile::tempdir().unwrap();
    let full = train_cf(&cfg, &graph, &valid, full_dir.path(), &device, false).unwrap();
    assert!(
        full.epochs_run < 30,
        "stopped early after {}",
        full.epochs_run
    );
    assert_eq!(full.epochs_run, full.best_epoch + 2);

    // Interrupted one epoch after the best, then resumed: burn-train's own strategy forgot
    // the best epoch and counted the first resumed epoch as a new best (it stopped later).
    let dir = tempfile::tempdir().unwrap();
    let cut = full.best_epoch + 1;
    train_cf(
        &cfg.clone().with_max_epochs(cut),
        &graph,
        &valid,
        dir.path(),
        &device,
        false,
    )
    .unwrap();
    let resumed = train_cf(&cfg, &graph, &valid, dir.path(), &device, true).unwrap();
    assert_eq!(resumed.resumed_after, Some(cut));
    assert_eq!(
        resumed.epochs_run, full.epochs_run,
        "stops where the full run stopped"
    );
    assert_eq!(resumed.best_epoch, full.best_epoch);
    assert_eq!(resumed.valid_score, full.valid_score);

    // Resuming the finished run trains nothing more.
    let again = train_cf(&cfg, &graph, &valid, full_dir.path(), &device, true).unwrap();
    assert_eq!(again.resumed_after, Some(full.epochs_run));
    assert_eq!(again.epochs_run, full.epochs_run, "no epoch past the stop");
    assert_eq!(again.best_epoch, full.best_epoch);
    assert_eq!(again.valid_score, full.valid_score);
}

#[test]
fn resume_removes_nothing_it_cannot_verify_or_that_other_settings_wrote() {
    let (_split, graph, valid) = data();
    let device = Device::flex();
    let cfg = small_mf(2, 5e-3);
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("checkpoint");
    train_cf(&cfg, &graph, &valid, dir.path(), &device, false).unwrap();
    // other settings, and no epoch that verifies: refused, and nothing deleted
    for e in [1, 2] {
        std::fs::remove_file(ckpt.join(format!("optim-{e}.bpk.sha256"))).unwrap();
    }
    let err = train_cf(
        &cfg.clone().with_dim(8),
        &graph,
        &valid,
        dir.path(),
        &device,
        true,
    )
    .unwrap_err();
    assert!(matches!(err, TrainError::ConfigMismatch { .. }), "{err}");
    assert!(ckpt.join("model-2.bpk").is_file());
    // a directory from before checksums: refused, not wiped
    std::fs::remove_file(ckpt.join("format")).unwrap();
    let err = train_cf(&cfg, &graph, &valid, dir.path(), &device, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no checksums"), "{err}");
    assert!(ckpt.join("model-2.bpk").is_file());
}

#[test]
fn catalogue_validation_ranks_the_true_item_against_every_unseen_item() {
    use star_cf::rank_metrics::{ndcg_at, rank_of_among};
    use star_train::cf::CfValidation;
    let (_split, graph, valid) = data();
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_mf(1, 1e-2).with_validation(CfValidation::Catalogue);
    let r = train_cf(&cfg, &graph, &valid, dir.path(), &device, false).unwrap();

    // by hand: every item outside the user's training history is a candidate
    let (users, items) = (values(r.model.users.val()), values(r.model.items.val()));
    let d = 16;
    let mut total = 0.0;
    for c in &valid.cases {
        let target = c.candidates[c.positive_index].idx();
        let u = &users[c.user.0 as usize * d..][..d];
        let scores: Vec<f32> = (0..graph.num_items())
            .map(|i| u.iter().zip(&items[i * d..][..d]).map(|(a, b)| a * b).sum())
            .collect();
        let seen = graph.items_of(c.user);
        let rank = rank_of_among(&scores, target, |i| !seen.contains(&(i as u32)));
        total += ndcg_at(rank, 10);
    }
    let want = total / valid.cases.len() as f64;
    assert!(
        (r.valid_score - want).abs() < 1e-9,
        "{} vs {want}",
        r.valid_score
    );
    // the Learner's validation step (early stopping) computed the same, in percent
    let log = std::fs::read_to_string(dir.path().join("valid/epoch-1/NDCG@10.log")).unwrap();
    let logged: f64 = log
        .lines()
        .last()
        .and_then(|l| l.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((logged / 100.0 - want).abs() < 1e-5, "{logged} vs {want}");

    // the same model on the 1+19 candidate file ranks against far fewer items
    let dir = tempfile::tempdir().unwrap();
    let on_file = train_cf(
        &small_mf(1, 1e-2),
        &graph,
        &valid,
        dir.path(),
        &device,
        false,
    )
    .unwrap();
    assert_eq!(
        values(on_file.model.items.val()),
        items,
        "validation does not change training"
    );
    assert!(
        on_file.valid_score > 2.0 * want,
        "{} vs {want}",
        on_file.valid_score
    );
}

#[test]
fn item_bias_is_refused_for_lightgcn_by_name() {
    let (_split, graph, valid) = data();
    let dir = tempfile::tempdir().unwrap();
    let cfg = CfTrainConfig::new(CfModelKind::LightGcn).with_item_bias(true);
    let err = train_cf(&cfg, &graph, &valid, dir.path(), &Device::flex(), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("item_bias") && err.contains("LightGCN"),
        "{err}"
    );
}

#[test]
fn a_refit_trains_its_epochs_on_train_and_valid_and_keeps_the_last() {
    let (split, graph, valid) = data();
    let device = Device::flex();
    let cfg = small_mf(4, 1e-2);
    let dir = tempfile::tempdir().unwrap();
    let trained = train_cf(&cfg, &graph, &valid, dir.path(), &device, false).unwrap();

    let with_valid = CfGraph::from_split(&split.with_valid_in_train());
    assert_eq!(
        with_valid.num_edges(),
        graph.num_edges() + valid.cases.len(),
        "one more edge per valid user"
    );
    let refit_dir = tempfile::tempdir().unwrap();
    let refit = refit_cf(
        &cfg,
        &with_valid,
        &valid,
        3,
        refit_dir.path(),
        &device,
        false,
    )
    .unwrap();
    assert_eq!((refit.best_epoch, refit.epochs_run), (3, 3));
    // no early stopping and the last epoch kept, whatever validation says
    let saved: Vec<String> = std::fs::read_dir(refit_dir.path().join("checkpoint"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(saved.iter().any(|f| f == "model-3.bpk"), "{saved:?}");
    // it has seen every valid item as a positive: the valid cases rank them far higher than
    // a model of the train edges alone does
    assert!(
        refit.valid_score > trained.valid_score + 0.1,
        "refit {} against trained {}",
        refit.valid_score,
        trained.valid_score
    );
    assert_eq!(
        values(refit.model.users.val()).len(),
        values(trained.model.users.val()).len()
    );

    let err = refit_cf(
        &cfg,
        &with_valid,
        &valid,
        0,
        refit_dir.path(),
        &device,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("BPR-MF refit: 0 epochs"), "{err}");
}
