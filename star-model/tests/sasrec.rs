//! SASRec: causality, padding, save → load, and the Ranker interface.

use burn::module::Module;
use burn::prelude::*;
use star_cf::{CatalogueScorer, ItemId, RankRequest, Ranker, UserId};
use star_model::sasrec::{left_pad, SasRecArch, SasRecConfig, SasRecRanker};

fn ids(v: &[i64]) -> Tensor<2, Int> {
    Tensor::from_data(TensorData::new(v.to_vec(), [1, v.len()]), &Device::flex())
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec().unwrap()
}

#[test]
fn changing_a_later_item_never_changes_earlier_outputs() {
    let arch = SasRecArch::new().with_max_len(8).with_dim(16).with_heads(2);
    let model = SasRecConfig::new(30, arch).init(&Device::flex());
    let a = values(model.forward(ids(&[0, 0, 3, 7, 9, 1, 4, 5])));
    let b = values(model.forward(ids(&[0, 0, 3, 7, 9, 1, 22, 30])));
    let d = 16;
    // positions 0..6 are identical (the padding rows are zero), position 6 differs
    assert_eq!(a[..6 * d], b[..6 * d]);
    assert!(a[..2 * d].iter().all(|&x| x == 0.0));
    assert_ne!(a[6 * d..7 * d], b[6 * d..7 * d]);
    // and the last position sees the whole sequence
    assert_ne!(a[7 * d..], b[7 * d..]);
}

/// The full-catalogue loss: at each non-padding position, −log softmax over every item (the
/// padding row left out) at the next item, averaged; the first and the last item included.
#[test]
fn full_catalogue_cross_entropy_by_hand() {
    let arch = SasRecArch::new()
        .with_max_len(5)
        .with_dim(8)
        .with_dropout(0.0);
    let model = SasRecConfig::new(12, arch).init(&Device::flex());
    let seq = |v: [i64; 10]| {
        Tensor::<2, Int>::from_data(TensorData::new(v.to_vec(), [2, 5]), &Device::flex())
    };
    let input = [0, 3, 4, 5, 6, 1, 2, 3, 4, 5];
    let positives = [0, 4, 5, 6, 7, 2, 3, 4, 5, 12];
    let got: f32 = model
        .ce_loss_over(seq(input), seq(positives), 9, None)
        .into_scalar();
    // by hand, from the hidden states
    let h = values(model.forward(seq(input)));
    let e = values(model.item_embedding.weight.val());
    let (d, mut total, mut count) = (8, 0.0f64, 0);
    for (row, &p) in positives.iter().enumerate() {
        if p == 0 {
            continue;
        }
        let hr = &h[row * d..(row + 1) * d];
        let logits: Vec<f64> = (1..=12)
            .map(|item| {
                (0..d)
                    .map(|k| hr[k] as f64 * e[item * d + k] as f64)
                    .sum::<f64>()
            })
            .collect();
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + logits.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
        total += lse - logits[p as usize - 1];
        count += 1;
    }
    let want = total / count as f64;
    assert!((got as f64 - want).abs() < 1e-5, "{got} vs {want}");
    // over the positions of a larger batch: the sum divided by that count
    let part: f32 = model
        .ce_loss_over(seq(input), seq(positives), 9, Some(2 * count))
        .into_scalar();
    assert!((part as f64 - want / 2.0).abs() < 1e-5, "{part}");
}

#[test]
fn left_padding_and_truncation() {
    assert_eq!(left_pad(&[ItemId(4), ItemId(0)], 4), [0, 0, 5, 1]);
    assert_eq!(left_pad(&[ItemId(1), ItemId(2), ItemId(3)], 2), [3, 4]);
}

#[test]
fn save_load_identical_scores_and_ranker() {
    let cfg = SasRecConfig::new(40, SasRecArch::new().with_max_len(10).with_dim(16));
    let model = cfg.init(&Device::flex());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sasrec.bpk");
    model.clone().save_file(&path).unwrap();
    let loaded = cfg.init(&Device::flex()).try_load_file(&path).unwrap();
    let seq = ids(&left_pad(&[ItemId(3), ItemId(9), ItemId(12)], 10));
    let cands = ids(&[1, 5, 8, 40]);
    assert_eq!(
        values(model.score_candidates(seq.clone(), cands.clone())),
        values(loaded.score_candidates(seq, cands))
    );

    let ranker = SasRecRanker::new(loaded, 40);
    let req = RankRequest {
        user: UserId(0),
        history: vec![ItemId(3), ItemId(9), ItemId(12)],
        candidates: vec![ItemId(0), ItemId(4), ItemId(7), ItemId(39)],
    };
    let r = ranker.rank(&req).unwrap();
    assert_eq!(r.items.len(), 4);
    let all = ranker.score_all(&req).unwrap();
    assert_eq!(all.len(), 40);
    // the ranking agrees with the catalogue scores
    let s = r.scores.unwrap();
    for (item, score) in r.items.iter().zip(&s) {
        assert!((all[item.idx()] - score).abs() < 1e-5);
    }
    let bad = RankRequest {
        candidates: vec![ItemId(40)],
        ..req
    };
    assert!(ranker.rank(&bad).is_err());
}
