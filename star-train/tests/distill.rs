//! Distillation data and the trajectory-aligned loss.

mod support;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use star_agents::orchestrator::resources;
use star_model::model::StarModel;
use star_train::distill::{
    collate, collate_parts, distill_loss, distill_loss_dropping, sample_from_episode,
    student_trajectory, tokenize, DistillItem, LossWeights, Segment, TrajectoryView,
};
use star_train::lr_decay::LrDecay;
use std::path::Path;
use std::sync::Arc;
use support::{corpus, items, model, short, world, World};

#[test]
fn episodes_rebuild_their_requests() {
    let w = world();
    for (ep, job) in w.episodes.iter().zip(&w.jobs) {
        let s = sample_from_episode(ep, &w.ds, &w.split, &TrajectoryView::default()).unwrap();
        assert_eq!(s.request, job.request, "{}", ep.id);
        assert_eq!(
            s.request.candidates[s.positive],
            job.meta.target.unwrap(),
            "{}",
            ep.id
        );
        assert_eq!(
            s.trajectory.as_deref(),
            Some(student_trajectory(ep, &TrajectoryView::default()).as_str())
        );
    }
    // an episode that does not fit the split is reported by id
    let mut bad = w.episodes[0].clone();
    bad.id = format!("{}9", bad.id).parse().unwrap();
    let err = sample_from_episode(&bad, &w.ds, &w.split, &short()).unwrap_err();
    assert!(err.to_string().contains(&bad.id.to_string()), "{err}");
}

#[test]
fn ablated_views_drop_their_segments() {
    let w = world();
    let ep = &w.episodes[0];
    let full = student_trajectory(ep, &TrajectoryView::default());
    assert!(full.contains("<tool_call>") && full.contains("<reflection>"));
    assert!(!full.contains('\n') || full.contains("<plan>"));
    let no_refl = student_trajectory(
        ep,
        &TrajectoryView {
            reflection: false,
            ..Default::default()
        },
    );
    assert!(!no_refl.contains("<reflection>") && no_refl.contains("<tool_call>"));
    let no_tools = student_trajectory(
        ep,
        &TrajectoryView {
            tools: false,
            ..Default::default()
        },
    );
    assert!(!no_tools.contains("<tool_call>") && !no_tools.contains("<tool_response>"));
    assert!(no_tools.ends_with("</recommend>"));
    let cut = student_trajectory(ep, &short());
    assert!(cut.len() < full.len());
    assert_eq!(cut.matches("<tool_call>").count(), 2);
    assert_eq!(cut.matches("<tool_response>").count(), 2);
    // the ranking is never cut, its justification is
    let ranking = |t: &str| t[t.find("<recommend>").unwrap()..t.find(" | ").unwrap()].to_string();
    assert_eq!(ranking(&cut), ranking(&full));
    assert!(cut.ends_with("</recommend>"));
}

#[test]
fn every_token_gets_its_segment() {
    let w = world();
    let dev = Device::flex();
    let text = "<plan>look</plan><tool_call>{\"name\":\"item_cf\"}</tool_call><tool_response>x y</tool_response><reflection>ok</reflection><recommend>[1] | j</recommend>";
    let m = model(&w, &[text.to_string()], &dev);
    let mut s = sample_from_episode(&w.episodes[0], &w.ds, &w.split, &short()).unwrap();
    s.trajectory = Some(text.into());
    let it = tokenize(&m, &s).unwrap();
    let tok = m.tokenizer();
    let seg_of = |t: &str| {
        let id = tok.token_id(t).unwrap();
        let at = it.continuation.iter().position(|&x| x == id).unwrap();
        it.segments[at]
    };
    assert_eq!(seg_of("<plan>"), Segment::Plan);
    assert_eq!(seg_of("</plan>"), Segment::Plan);
    assert_eq!(seg_of("<tool_call>"), Segment::ToolCall);
    assert_eq!(seg_of("</tool_response>"), Segment::ToolResponse);
    assert_eq!(seg_of("<reflection>"), Segment::Reflection);
    assert_eq!(seg_of("</recommend>"), Segment::Recommend);
    // body tokens take their segment
    let words = tok.encode("x y").unwrap();
    let at = it
        .continuation
        .windows(words.len())
        .position(|w| w == words.as_slice())
        .unwrap();
    assert!(it.segments[at..at + words.len()]
        .iter()
        .all(|&s| s == Segment::ToolResponse));
    let rec = tok.token_id("<recommend>").unwrap();
    assert_eq!(it.continuation[it.recommend - it.prompt.tokens.len()], rec);
    // a fast-mode sample is the prompt + <recommend>
    s.trajectory = None;
    let fast = tokenize(&m, &s).unwrap();
    assert_eq!(fast.continuation, vec![rec]);
    assert_eq!(fast.recommend, fast.prompt.tokens.len());
}

#[test]
fn a_batch_split_into_parts_has_the_loss_and_gradients_of_the_whole() {
    use burn::train::TrainStep;
    let w = world();
    let dev = Device::flex().autodiff();
    let m = model(&w, &corpus(&w), &dev);
    // every term on, the soft targets too
    let its = items_with_soft_targets(&w, &m, 1.0);
    let learner = star_train::distill::SftLearner {
        net: m.net().clone(),
        weights: LossWeights::new().with_soft(1.0).with_soft_temperature(2.0),
        dropout: 0.0,
    };
    let whole = TrainStep::step(&learner, vec![collate(&its, 0, &dev)]);
    let soft = whole.item.terms.iter().find(|(n, _)| *n == "soft").unwrap();
    assert!(soft.1.clone().into_scalar::<f32>() > 0.0);
    let parts = collate_parts(&its, 3, 0, &dev);
    assert_eq!(parts.len(), 3);
    // item i goes to part i % 3
    assert_eq!(
        parts
            .iter()
            .map(|p| p.positive.dims()[0])
            .collect::<Vec<_>>(),
        [2, 1, 1]
    );
    let split = TrainStep::step(&learner, parts);
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * a.abs().max(1.0);
    let (a, b): (f32, f32) = (
        whole.item.loss.clone().into_scalar(),
        split.item.loss.clone().into_scalar(),
    );
    assert!(close(a, b), "loss {a} vs {b}");
    for ((name, x), (_, y)) in whole.item.terms.iter().zip(&split.item.terms) {
        let (x, y): (f32, f32) = (x.clone().into_scalar(), y.clone().into_scalar());
        assert!(close(x, y), "{name}: {x} vs {y}");
    }
    // the gradient of the token embedding (every part touches it)
    let id = learner.net.model.embed_tokens.weight.id;
    let host = |g: &burn::optim::GradientsParams| -> Vec<f32> {
        g.get::<2>(id)
            .unwrap()
            .to_data()
            .convert::<f32>()
            .try_to_vec()
            .unwrap()
    };
    let (gw, gs) = (host(&whole.grads), host(&split.grads));
    let scale = gw.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    for (x, y) in gw.iter().zip(&gs) {
        assert!((x - y).abs() <= 1e-4 * scale, "{x} vs {y}");
    }
}

#[test]
fn dropout_changes_the_training_loss_by_its_seed_only() {
    let w = world();
    let dev = Device::flex();
    let m = model(&w, &corpus(&w), &dev);
    let its = items(&w, &m);
    let mut batch = collate(&its, 0, &dev);
    let weights = LossWeights::new();
    let loss = |b: &star_train::distill::DistillBatch, p: f64| -> f32 {
        distill_loss_dropping(m.net(), b, &weights, p)
            .total
            .into_scalar()
    };
    let plain: f32 = distill_loss(m.net(), &batch, &weights).total.into_scalar();
    // probability 0 is the plain loss, bit for bit
    assert_eq!(loss(&batch, 0.0), plain);
    // with dropout: the same seed draws the same masks, another seed others
    batch.dropout_seed = 7;
    let (a, again) = (loss(&batch, 0.3), loss(&batch, 0.3));
    assert_eq!(a, again);
    assert_ne!(a, plain);
    batch.dropout_seed = 8;
    assert_ne!(loss(&batch, 0.3), a);
}

#[test]
fn masked_tokens_contribute_nothing() {
    let w = world();
    let dev = Device::flex();
    let m = model(&w, &corpus(&w), &dev);
    let its = items(&w, &m);
    let batch = collate(&its, 0, &dev);
    let base: f32 = distill_loss(m.net(), &batch, &LossWeights::new())
        .total
        .into_scalar();

    // positions that no segment mask covers: prompt tokens, tool responses, padding
    let [b, t] = batch.targets.dims();
    let mut covered = vec![0.0f32; b * t];
    for (_, mask, _) in &batch.masks {
        for (c, v) in covered
            .iter_mut()
            .zip(mask.to_data().convert::<f32>().try_to_vec::<f32>().unwrap())
        {
            *c += v;
        }
    }
    let targets: Vec<i64> = batch
        .targets
        .to_data()
        .convert::<i64>()
        .try_to_vec()
        .unwrap();
    let (mut free, mut used) = (targets.clone(), targets.clone());
    let mut changed = 0;
    for i in 0..b * t {
        if covered[i] == 0.0 {
            free[i] = (free[i] + 7) % 50;
            changed += 1;
        } else if used == targets {
            used[i] = (used[i] + 7) % 50;
        }
    }
    assert!(changed > 100, "the batch needs unlearned positions");
    // the loss projects exactly the covered positions onto the vocabulary
    let rows: Vec<i64> = batch
        .learned_positions
        .as_ref()
        .expect("learned positions")
        .to_data()
        .convert::<i64>()
        .try_to_vec()
        .unwrap();
    let want: Vec<i64> = (0..b * t)
        .filter(|&i| covered[i] > 0.0)
        .map(|i| i as i64)
        .collect();
    assert_eq!(rows, want);
    // and gives what projecting every position gives
    let hidden = m.net().hidden(&batch.inputs);
    let nll = burn::tensor::activation::log_softmax(m.net().logits(hidden), 2)
        .gather(2, batch.targets.clone().reshape([b, t, 1]))
        .reshape([b, t])
        .neg();
    let out = distill_loss(m.net(), &batch, &LossWeights::new());
    for ((s, mask, n), (s2, term)) in batch.masks.iter().zip(&out.segments) {
        assert_eq!(s, s2);
        let full: f32 = (nll.clone() * mask.clone())
            .sum()
            .div_scalar((*n).max(1) as f64)
            .into_scalar();
        let got: f32 = term.clone().into_scalar();
        assert!(
            (full - got).abs() <= 1e-5 * full.abs().max(1.0),
            "{s:?}: {full} vs {got}"
        );
    }
    let mut other = batch.clone();
    other.targets = Tensor::from_data(TensorData::new(free, [b, t]), &dev);
    let same: f32 = distill_loss(m.net(), &other, &LossWeights::new())
        .total
        .into_scalar();
    assert_eq!(same, base);
    // …while a learned position does count
    other.targets = Tensor::from_data(TensorData::new(used, [b, t]), &dev);
    let moved: f32 = distill_loss(m.net(), &other, &LossWeights::new())
        .total
        .into_scalar();
    assert_ne!(moved, base);
}

#[test]
fn each_weight_scales_exactly_its_term() {
    let w = world();
    let dev = Device::flex();
    let m = model(&w, &corpus(&w), &dev);
    let batch = collate(&items(&w, &m), 0, &dev);
    let unit = LossWeights::new();
    let out = distill_loss(m.net(), &batch, &unit);
    let base: f32 = out.total.into_scalar();
    let term = |s: Segment| -> f32 {
        out.segments
            .iter()
            .find(|(x, _)| *x == s)
            .unwrap()
            .1
            .clone()
            .into_scalar()
    };
    let rank: f32 = out.rank.into_scalar();
    let next: f32 = out.next_item.into_scalar();
    assert!(next > 0.0, "the batch has next-item targets");
    let mut sum = rank + next;
    for s in Segment::LEARNED {
        let t = term(s);
        assert!(t > 0.0, "{s:?} has tokens in the batch");
        sum += t;
    }
    assert!((sum - base).abs() < 1e-4 * base, "{sum} vs {base}");
    let cases: Vec<(LossWeights, f32)> = vec![
        (unit.clone().with_plan(3.0), 2.0 * term(Segment::Plan)),
        (
            unit.clone().with_tool_call(3.0),
            2.0 * term(Segment::ToolCall),
        ),
        (
            unit.clone().with_reflection(0.0),
            -term(Segment::Reflection),
        ),
        (
            unit.clone().with_recommend(2.5),
            1.5 * term(Segment::Recommend),
        ),
        (unit.clone().with_rank(4.0), 3.0 * rank),
        (unit.clone().with_next_item(0.0), -next),
        (unit.clone().with_next_item(2.0), next),
    ];
    for (wts, delta) in cases {
        let got: f32 = distill_loss(m.net(), &batch, &wts).total.into_scalar();
        assert!(
            (got - base - delta).abs() < 1e-4 * (1.0 + base),
            "{wts:?}: {got} - {base} vs {delta}"
        );
    }
}

#[test]
fn next_item_targets_are_the_following_history_item_then_the_true_candidate() {
    let w = world();
    let dev = Device::flex();
    let m = model(&w, &corpus(&w), &dev);
    for it in items(&w, &m) {
        let p = &it.prompt;
        let history = p.candidates[0];
        assert!(history > 1, "{}: a history to predict along", it.id);
        let want: Vec<(usize, u32)> = (0..history)
            .map(|k| {
                let next = if k + 1 < history {
                    p.rows[k + 1]
                } else {
                    p.rows[p.candidates[it.positive]]
                };
                (p.markers[k], next)
            })
            .collect();
        assert_eq!(it.next_items, want, "{}", it.id);
    }
    // in a batch the positions move with the left padding
    let its = items(&w, &m);
    let b = collate(&its, 0, &dev);
    let t = its.iter().map(|i| i.len()).max().unwrap();
    let (at, rows) = b.next_items.clone().unwrap();
    let at: Vec<i64> = at.into_data().iter::<i64>().collect();
    let rows: Vec<i64> = rows.into_data().iter::<i64>().collect();
    let mut want = (Vec::new(), Vec::new());
    for (i, it) in its.iter().enumerate() {
        for &(q, r) in &it.next_items {
            want.0.push((i * t + t - it.len() + q) as i64);
            want.1.push(r as i64);
        }
    }
    assert_eq!((at, rows), want);
    assert_eq!(b.next_rows, want.0.len());
}

/// `net` after `steps` Adam steps (learning rate 0.01) on `batch` under `weights`.
fn adam_steps(
    net: &star_model::model::StarNet,
    batch: &star_train::distill::DistillBatch,
    weights: &LossWeights,
    steps: usize,
) -> star_model::model::StarNet {
    let mut net = net.clone();
    let mut optim = AdamConfig::new().init();
    for _ in 0..steps {
        let out = distill_loss(&net, batch, weights);
        let grads = GradientsParams::from_grads(out.total.backward(), &net);
        net = optim.step(0.01, net, grads);
    }
    net
}

#[test]
fn the_next_item_term_learns_the_following_item() {
    let w = world();
    let dev = Device::flex().autodiff();
    let m = model(&w, &corpus(&w), &dev);
    let batch = collate(&items(&w, &m), 0, &dev);
    let only_next = LossWeights::rank_only().with_rank(0.0).with_next_item(1.0);
    let first: f32 = distill_loss(m.net(), &batch, &only_next)
        .total
        .into_scalar();
    let net = adam_steps(m.net(), &batch, &only_next, 100);
    let last: f32 = distill_loss(&net, &batch, &only_next).total.into_scalar();
    // 120 items: a uniform guess is ln 120 ≈ 4.8
    assert!(
        first > 3.0 && last < first / 3.0,
        "next-item loss {first} → {last}"
    );
}

/// The items of [`items`], each with the sequence scores `j × sign` for candidate `j` (as a
/// sequential model would give them): soft targets the test knows.
fn items_with_soft_targets(w: &World, m: &StarModel, sign: f32) -> Vec<DistillItem> {
    let mut its = items(w, m);
    for it in &mut its {
        let c = it.prompt.candidates.len();
        it.prompt.sequence_scores = Some((0..c).map(|j| sign * j as f32).collect());
    }
    its
}

#[test]
fn the_soft_target_term_is_the_tempered_kl_to_the_sequence_scores() {
    use star_train::distill::soft_target_kl;
    let dev = Device::flex();
    let t = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [1, 3]), &dev);
    let kl = |s: Vec<f32>, z: Vec<f32>, temp: f64| -> f32 {
        soft_target_kl(t(s), t(z), temp).into_scalar()
    };
    // the same distribution (a shift does not change a softmax): 0
    assert!(kl(vec![1.0, 2.0, 3.0], vec![11.0, 12.0, 13.0], 1.0).abs() < 1e-6);
    // by hand: p = softmax(z / T), q = softmax(s / T), Σ p (ln p − ln q)
    let (s, z, temp) = ([0.0f64, 1.0, -1.0], [2.0f64, 0.0, 0.0], 2.0);
    let sm = |x: [f64; 3]| {
        let e: Vec<f64> = x.iter().map(|v| (v / temp).exp()).collect();
        let n: f64 = e.iter().sum();
        e.into_iter().map(|v| v / n).collect::<Vec<_>>()
    };
    let (p, q) = (sm(z), sm(s));
    let want: f64 = (0..3).map(|i| p[i] * (p[i] / q[i]).ln()).sum();
    let got = kl(
        s.iter().map(|&x| x as f32).collect(),
        z.iter().map(|&x| x as f32).collect(),
        temp,
    );
    assert!((got as f64 - want).abs() < 1e-5, "{got} vs {want}");
    assert!(want > 0.05);

    // in the loss: weight × T² × the mean KL over the rows, added to the total
    let w = world();
    let m = model(&w, &corpus(&w), &dev);
    let batch = collate(&items_with_soft_targets(&w, &m, 1.0), 0, &dev);
    let base = LossWeights::new();
    let off = distill_loss(m.net(), &batch, &base);
    let soft_off: f32 = off.soft.into_scalar();
    assert_eq!(soft_off, 0.0, "weight 0: not computed");
    let on = distill_loss(
        m.net(),
        &batch,
        &base.clone().with_soft(0.5).with_soft_temperature(2.0),
    );
    let kl_mean: f32 = soft_target_kl(off.scores.clone(), batch.soft_scores.clone().unwrap(), 2.0)
        .mean()
        .into_scalar();
    assert!(kl_mean > 0.0);
    let soft_on: f32 = on.soft.into_scalar();
    assert!((soft_on - kl_mean).abs() < 1e-5, "{soft_on} vs {kl_mean}");
    let (t_on, t_off): (f32, f32) = (on.total.into_scalar(), off.total.into_scalar());
    assert!(
        (t_on - t_off - 0.5 * 4.0 * kl_mean).abs() < 1e-4 * (1.0 + t_off),
        "{t_on} - {t_off} vs 2 × {kl_mean}"
    );
    // without sequence scores on every row, the batch has no soft targets
    let mut its = items_with_soft_targets(&w, &m, 1.0);
    its[1].prompt.sequence_scores = None;
    assert!(collate(&its, 0, &dev).soft_scores.is_none());
    // a score the sequential model did not give gets no mass, even at a high temperature
    let mut its = items_with_soft_targets(&w, &m, 1.0);
    its[0].prompt.sequence_scores.as_mut().unwrap()[3] = f32::NAN;
    let z = collate(&its, 0, &dev).soft_scores.unwrap().div_scalar(20.0);
    let p = burn::tensor::activation::softmax(z, 1)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(p.iter().all(|x| x.is_finite()));
    assert!(p[3] < 1e-20, "{}", p[3]);
}

#[test]
fn the_soft_target_term_teaches_the_sequence_models_ranking() {
    let w = world();
    let dev = Device::flex().autodiff();
    let m = model(&w, &corpus(&w), &dev);
    let only_soft = LossWeights::rank_only().with_rank(0.0).with_soft(1.0);
    // the opposite orders from the same prompts: the term follows the targets, not the data
    for sign in [1.0f32, -1.0] {
        let batch = collate(&items_with_soft_targets(&w, &m, sign), 0, &dev);
        let first: f32 = distill_loss(m.net(), &batch, &only_soft).soft.into_scalar();
        let net = adam_steps(m.net(), &batch, &only_soft, 60);
        let out = distill_loss(&net, &batch, &only_soft);
        let last: f32 = out.soft.into_scalar();
        assert!(
            first > 0.5 && last < first / 4.0,
            "{sign}: KL {first} → {last}"
        );
        // every row now puts its highest score where the targets do
        let [b, c] = out.scores.dims();
        let s = out.scores.into_data().try_to_vec::<f32>().unwrap();
        for r in 0..b {
            let row = &s[r * c..(r + 1) * c];
            let best = (0..c).max_by(|&i, &j| row[i].total_cmp(&row[j])).unwrap();
            assert_eq!(best, if sign > 0.0 { c - 1 } else { 0 }, "row {r}: {row:?}");
        }
    }
}

#[test]
fn a_tiny_student_overfits_a_handful_of_trajectories() {
    let w = world();
    let dev = Device::flex().autodiff();
    let m = model(&w, &corpus(&w), &dev);
    let its = items(&w, &m);
    let batch = collate(&its, 0, &dev);
    // the trajectory and ranking terms (the next-item term ranks the whole catalogue: it is
    // checked to learn in `the_next_item_term_learns_the_following_item`)
    let weights = LossWeights::new().with_next_item(0.0);
    let mut net = m.net().clone();
    let mut optim = AdamConfig::new().init();
    let first: f32 = distill_loss(&net, &batch, &weights).total.into_scalar();
    let mut last = first;
    for _ in 0..250 {
        let out = distill_loss(&net, &batch, &weights);
        last = out.total.clone().into_scalar();
        let grads = GradientsParams::from_grads(out.total.backward(), &net);
        net = optim.step(0.01, net, grads);
    }
    let terms = distill_loss(&net, &batch, &weights);
    let terms: Vec<(Segment, f32)> = terms
        .segments
        .iter()
        .map(|(s, t)| (*s, t.clone().into_scalar()))
        .chain([(Segment::Prompt, terms.rank.clone().into_scalar())])
        .collect();
    assert!(
        last < 0.1 && last < first / 20.0,
        "loss {first} → {last}: {terms:?} (Prompt = the ranking term)"
    );
    let out = distill_loss(&net, &batch, &weights);
    let scores: Vec<f32> = out
        .scores
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    let c = its[0].prompt.candidates.len();
    for (i, it) in its.iter().enumerate() {
        let row = &scores[i * c..(i + 1) * c];
        let best = (0..c).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(best, it.positive, "{}", it.id);
    }
}

/// Asserts that each of `metrics` has a training log for epoch 1 in run directory `dir`.
fn assert_logged(dir: &std::path::Path, metrics: &[&str]) {
    let logged: Vec<String> = std::fs::read_dir(dir.join("train/epoch-1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    for m in metrics {
        assert!(
            logged.iter().any(|f| f.starts_with(m)),
            "{m} not in {logged:?}"
        );
    }
}

#[test]
fn sft_runs_on_the_learner_checkpoints_and_resumes() {
    use star_train::distill::{train_sft, SftConfig};
    let w = world();
    let dev = Device::flex();
    let m = model(&w, &corpus(&w), &dev);
    let mut train = Vec::new();
    for ep in w.episodes.iter().filter(|e| e.split == "train") {
        let s = sample_from_episode(ep, &w.ds, &w.split, &short()).unwrap();
        train.push(tokenize(&m, &s).unwrap());
        let fast = star_train::distill::DistillSample {
            trajectory: None,
            ..s
        };
        train.push(tokenize(&m, &fast).unwrap());
    }
    let valid: Vec<DistillItem> = w
        .episodes
        .iter()
        .filter(|e| e.split == "valid")
        .map(|ep| {
            let mut s = sample_from_episode(ep, &w.ds, &w.split, &short()).unwrap();
            s.trajectory = None;
            tokenize(&m, &s).unwrap()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let fresh = |cfg: &SftConfig| {
        train_sft(
            cfg,
            &m,
            train.clone(),
            valid.clone(),
            dir.path(),
            &dev,
            false,
        )
    };
    let refused = |w: LossWeights| fresh(&SftConfig::new(w)).unwrap_err().to_string();
    // a soft-target weight without sequence scores to distil from is refused by name
    let err = refused(LossWeights::new().with_soft(1.0));
    assert!(
        err.contains("weights.soft") && err.contains(&train[0].id),
        "{err}"
    );
    // as are a weight or a temperature that is no number SFT can use, and a temperature
    // without a soft-target term to act on
    for (bad, field) in [
        (LossWeights::new().with_soft(-1.0), "weights.soft "),
        (LossWeights::new().with_soft(f64::NAN), "weights.soft "),
        (
            LossWeights::new().with_soft(1.0).with_soft_temperature(0.0),
            "weights.soft_temperature",
        ),
        (
            LossWeights::new().with_soft_temperature(-1.0),
            "weights.soft_temperature must be a positive number",
        ),
        (
            LossWeights::new().with_soft_temperature(2.0),
            "weights.soft_temperature is 2 but weights.soft is 0",
        ),
    ] {
        let err = refused(bad);
        assert!(err.contains(field), "{field}: {err}");
    }
    // a dropout probability outside 0..1 is refused by name
    for p in [1.0, -0.1, f64::NAN] {
        let err = fresh(&SftConfig::new(LossWeights::new()).with_dropout(p))
            .unwrap_err()
            .to_string();
        assert!(err.contains("dropout must be in 0..1"), "{p}: {err}");
    }
    // dropout on: the masks' seeds come with the batches, so the resume below replays them
    let cfg = SftConfig::new(LossWeights::new())
        .with_max_epochs(2)
        .with_batch_size(3)
        .with_learning_rate(1e-2)
        .with_dropout(0.1);
    let r = fresh(&cfg).unwrap();
    assert_eq!(r.epochs_run, 2);
    assert!((1..=2).contains(&r.best_epoch));
    assert!((0.0..=1.0).contains(&r.valid_score));
    assert!(dir.path().join("checkpoint/model-2.bpk").is_file());
    // the per-segment losses are logged as training metrics
    assert_logged(
        dir.path(),
        &[
            "loss_plan",
            "loss_tool_call",
            "loss_reflection",
            "loss_recommend",
            "loss_rank",
            "loss_next_item",
        ],
    );
    // the trained weights differ from the start and rank the valid requests
    let req = &sample_from_episode(&w.episodes[4], &w.ds, &w.split, &short())
        .unwrap()
        .request;
    assert_ne!(
        r.model.score_batch(std::slice::from_ref(req)).unwrap(),
        m.score_batch(std::slice::from_ref(req)).unwrap()
    );
    // averaging: the same training, but the model is the mean of both epochs, neither one
    let mean_dir = tempfile::tempdir().unwrap();
    let mean = train_sft(
        &cfg.clone().with_average(2),
        &m,
        train.clone(),
        valid.clone(),
        mean_dir.path(),
        &dev,
        false,
    )
    .unwrap();
    assert_eq!((mean.best_epoch, mean.averaged), (2, 2));
    assert_eq!(mean.kept(), "the mean of epochs 1..=2");
    assert_ne!(
        mean.model.score_batch(std::slice::from_ref(req)).unwrap(),
        r.model.score_batch(std::slice::from_ref(req)).unwrap()
    );
    // resume: one more epoch after the two done
    let r2 = train_sft(
        &cfg.clone().with_max_epochs(3),
        &m,
        train.clone(),
        valid.clone(),
        dir.path(),
        &dev,
        true,
    )
    .unwrap();
    assert_eq!(r2.resumed_after, Some(2));
    assert_eq!(r2.epochs_run, 3);

    // a decaying learning rate: a run interrupted after epoch 1 and resumed writes the same
    // last weights as one that was not (the scheduler's state comes back with the optimizer's)
    let decayed = cfg.clone().with_lr_decay(LrDecay::Linear);
    let last = |d: &Path| std::fs::read(d.join("checkpoint/model-2.bpk")).unwrap();
    let full = tempfile::tempdir().unwrap();
    let run = |d: &Path, resume: bool| {
        train_sft(&decayed, &m, train.clone(), valid.clone(), d, &dev, resume).unwrap()
    };
    run(full.path(), false);
    let cut = tempfile::tempdir().unwrap();
    run(cut.path(), false);
    for f in std::fs::read_dir(cut.path().join("checkpoint")).unwrap() {
        let p = f.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().contains("-2.bpk") {
            std::fs::remove_file(p).unwrap();
        }
    }
    assert_eq!(run(cut.path(), true).resumed_after, Some(1));
    assert!(
        last(cut.path()) == last(full.path()),
        "the resumed run's weights differ"
    );
    // the constant rate's last weights are others: the decay acts
    assert!(last(dir.path()) != last(full.path()));
    // under a decay the epoch limit is part of the schedule: a resume cannot change it
    let err = train_sft(
        &decayed.clone().with_max_epochs(3),
        &m,
        train,
        valid,
        full.path(),
        &dev,
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("other settings"), "{err}");
}

#[test]
fn epoch_batches_hold_one_candidate_count_and_cover_every_item_once() {
    use star_train::distill::{batch_count, epoch_batches};
    let w = world();
    let dev = Device::flex();
    let m = model(&w, &corpus(&w), &dev);
    let mut items = Vec::new();
    for (k, ep) in w.episodes.iter().enumerate() {
        let mut s = sample_from_episode(ep, &w.ds, &w.split, &short()).unwrap();
        s.trajectory = None;
        for cut in [10, 4] {
            let mut t = s.clone();
            // keep the positive among the first `cut` candidates
            t.request.candidates.swap(0, t.positive);
            t.positive = 0;
            t.request.candidates.truncate(cut);
            t.id = format!("{k}:{cut}");
            items.push(tokenize(&m, &t).unwrap());
        }
    }
    let count = batch_count(&items, 4);
    for epoch in 0..3 {
        let batches = epoch_batches(&items, 4, 7, epoch);
        assert_eq!(batches.len(), count);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..items.len()).collect::<Vec<_>>());
        for b in &batches {
            assert!(b.len() <= 4);
            let c = items[b[0]].prompt.candidates.len();
            assert!(b.iter().all(|&i| items[i].prompt.candidates.len() == c));
            // each batch collates
            collate(
                &b.iter().map(|&i| items[i].clone()).collect::<Vec<_>>(),
                0,
                &dev,
            );
        }
    }
    assert_ne!(
        epoch_batches(&items, 4, 7, 0),
        epoch_batches(&items, 4, 7, 1)
    );
    assert_eq!(
        epoch_batches(&items, 4, 7, 1),
        epoch_batches(&items, 4, 7, 1)
    );
}

mod grpo {
    use super::*;
    use star_train::distill::{
        group_advantages, grpo_loss, outcome_reward, ranking_logp, sample_ranking, train_grpo,
        DistillSample, GrpoBatch, GrpoConfig, GrpoLearner, GrpoPrompt,
    };

    /// A step whose prompts are cut into parts on threads of their own has the loss, terms
    /// and gradients of the whole step: the rollouts are seeded by each prompt's place.
    #[test]
    fn a_step_split_into_parts_has_the_loss_and_gradients_of_the_whole() {
        use burn::train::TrainStep;
        let w = world();
        let dev = Device::flex();
        let m = model(&w, &corpus(&w), &dev);
        let (train, _) = prompts(&w, &m);
        let c = train[0].request.candidates.len();
        let batch = GrpoBatch {
            prompts: train
                .iter()
                .filter(|s| s.request.candidates.len() == c)
                .take(3)
                .map(|s| GrpoPrompt {
                    sample: s.clone(),
                    item: tokenize(&m, s).unwrap(),
                })
                .collect(),
            seed: 11,
        };
        assert_eq!(batch.prompts.len(), 3);
        let step = |parts: usize| {
            let cfg = GrpoConfig::new().with_group(4).with_parts(parts);
            let learner = GrpoLearner::new(&cfg, &m, 0, &dev);
            let out = TrainStep::step(&learner, batch.clone());
            let id = learner.net.model.embed_tokens.weight.id;
            let grad: Vec<f32> = out
                .grads
                .get::<2>(id)
                .unwrap()
                .to_data()
                .convert::<f32>()
                .try_to_vec()
                .unwrap();
            let mut scalars: Vec<f32> = vec![out.item.loss.into_scalar()];
            scalars.extend(
                out.item
                    .terms
                    .into_iter()
                    .map(|(_, t)| t.into_scalar::<f32>()),
            );
            (scalars, grad)
        };
        let (whole, gw) = step(1);
        let (split, gs) = step(2);
        for (x, y) in whole.iter().zip(&split) {
            assert!(
                (x - y).abs() <= 1e-5 * x.abs().max(1.0),
                "{whole:?} vs {split:?}"
            );
        }
        let scale = gw.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        for (x, y) in gw.iter().zip(&gs) {
            assert!((x - y).abs() <= 1e-4 * scale, "{x} vs {y}");
        }
    }

    fn t2(rows: &[&[f32]], dev: &Device) -> Tensor<2> {
        let (n, u) = (rows.len(), rows[0].len());
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(TensorData::new(flat, [n, u]), dev)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-5
    }

    #[test]
    fn reward_tiers() {
        let got: Vec<f64> = [Some(0), Some(1), Some(2), Some(3), Some(4), Some(5), None]
            .into_iter()
            .map(outcome_reward)
            .collect();
        let want = [1.0, 2.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0, 0.0];
        assert!(got.iter().zip(want).all(|(g, w)| close(*g, w)), "{got:?}");
    }

    #[test]
    fn advantages_are_normalised_within_each_group() {
        // group 1: mean 0.5, std 0.5; group 2: all equal
        let a = group_advantages(&[1.0, 0.0, 0.5, 0.5], 2);
        assert_eq!(a, vec![1.0, -1.0, 0.0, 0.0]);
        // the four tiers in one group: mean 1/2, population std sqrt(5/36)
        let a = group_advantages(&[1.0, 2.0 / 3.0, 1.0 / 3.0, 0.0], 4);
        let s = (5.0f64 / 36.0).sqrt();
        let want = [0.5 / s, (1.0 / 6.0) / s, -(1.0 / 6.0) / s, -0.5 / s];
        assert!(a.iter().zip(want).all(|(g, w)| close(*g, w)), "{a:?}");
        assert!(close(want[0], 1.341641), "{}", want[0]);
    }

    #[test]
    fn the_objective_clips_the_ratio_and_penalises_kl() {
        let dev = Device::flex();
        let ln = |x: f32| x.ln();
        // ratio 2 on both rows; A = +1 is clipped to 1.2, A = −1 keeps −2
        let logp = t2(&[&[ln(0.5)], &[ln(0.5)]], &dev);
        let old = t2(&[&[ln(0.25)], &[ln(0.25)]], &dev);
        let adv = Tensor::<1>::from_data([1.0f32, -1.0], &dev);
        let ones = Tensor::<2>::ones([2, 1], &dev);
        let g = grpo_loss(
            logp.clone(),
            old.clone(),
            logp.clone(),
            ones.clone(),
            adv.clone(),
            0.2,
            0.001,
            2,
        );
        assert!(close(g.kl_mean().into_scalar::<f32>() as f64, 0.0));
        assert!(close(
            g.loss.into_scalar::<f32>() as f64,
            -(1.2 - 2.0) / 2.0
        ));
        // one of the step's two rollouts: half the step's loss, and the parts add up
        let first = |t: &Tensor<2>| t.clone().slice([0..1, 0..1]);
        let second = |t: &Tensor<2>| t.clone().slice([1..2, 0..1]);
        let part = |pick: &dyn Fn(&Tensor<2>) -> Tensor<2>, a: Tensor<1>| {
            grpo_loss(
                pick(&logp),
                pick(&old),
                pick(&logp),
                pick(&ones),
                a,
                0.2,
                0.001,
                2,
            )
        };
        let (p1, p2) = (
            part(&first, adv.clone().narrow(0, 0, 1)),
            part(&second, adv.clone().narrow(0, 1, 1)),
        );
        assert!(close(p1.loss.into_scalar::<f32>() as f64, -1.2 / 2.0));
        assert!(close(p2.loss.into_scalar::<f32>() as f64, 2.0 / 2.0));
        // KL to a reference of 0.25: exp(ln .5) − ln .5 − 1 per unit
        let g = grpo_loss(
            logp.clone(),
            old.clone(),
            old.clone(),
            ones,
            adv.clone(),
            0.2,
            0.5,
            2,
        );
        let k = 0.5 - 0.5f64.ln() - 1.0;
        assert!(close(g.kl_mean().into_scalar::<f32>() as f64, k));
        assert!(close(
            g.loss.into_scalar::<f32>() as f64,
            -((1.2 - 0.5 * k) + (-2.0 - 0.5 * k)) / 2.0
        ));
        // masked units count for nothing: a second, masked unit with a huge ratio
        let logp2 = t2(&[&[ln(0.5), 0.0], &[ln(0.5), 0.0]], &dev);
        let old2 = t2(&[&[ln(0.25), -9.0], &[ln(0.25), -9.0]], &dev);
        let mask = t2(&[&[1.0, 0.0], &[1.0, 0.0]], &dev);
        let g = grpo_loss(logp2.clone(), old2, logp2, mask, adv, 0.2, 0.001, 2);
        assert!(close(g.loss.into_scalar::<f32>() as f64, 0.4));
    }

    #[test]
    fn plackett_luce_log_probabilities_and_samples() {
        let dev = Device::flex();
        // weights 1, 2, 3: p([2, 1]) = 3/6 · 2/3
        let s = t2(&[&[0.0, 2f32.ln(), 3f32.ln()]], &dev);
        let lp: Vec<f32> = ranking_logp(s.clone(), &[vec![2, 1]], 1.0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(close(lp[0] as f64, 0.5f64.ln()) && close(lp[1] as f64, (2.0f64 / 3.0).ln()));
        // temperature 2: weights 1, √2, √3
        let lp: Vec<f32> = ranking_logp(s, &[vec![0, 2]], 2.0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let (a, b, c) = (1.0f64, 2f64.sqrt(), 3f64.sqrt());
        assert!(close(lp[0] as f64, (a / (a + b + c)).ln()));
        assert!(close(lp[1] as f64, (c / (b + c)).ln()));
        // samples: first place follows softmax [0.25, 0.75]; no repeats; NaN last
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut firsts = 0;
        for _ in 0..4000 {
            let r = sample_ranking(&[0.0, 3f32.ln(), f32::NAN], 1.0, 3, &mut rng);
            assert_eq!(r.len(), 3);
            assert_eq!(r[2], 2, "{r:?}");
            firsts += (r[0] == 1) as usize;
        }
        let f = firsts as f64 / 4000.0;
        assert!((f - 0.75).abs() < 0.03, "{f}");
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut b = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        assert_eq!(
            sample_ranking(&[0.1, 0.2, 0.3, 0.4], 1.0, 2, &mut a),
            sample_ranking(&[0.1, 0.2, 0.3, 0.4], 1.0, 2, &mut b)
        );
    }

    /// Train prompts (fast samples of the synthetic jobs) and valid items.
    fn prompts(w: &World, m: &StarModel) -> (Vec<DistillSample>, Vec<DistillItem>) {
        let train: Vec<DistillSample> = w
            .jobs
            .iter()
            .filter(|j| j.meta.split == "train")
            .map(|j| {
                let t = j.meta.target.unwrap();
                DistillSample {
                    id: j.meta.id.to_string(),
                    request: j.request.clone(),
                    positive: j.request.candidates.iter().position(|&c| c == t).unwrap(),
                    trajectory: None,
                }
            })
            .collect();
        let valid = train.iter().map(|s| tokenize(m, s).unwrap()).collect();
        (train, valid)
    }

    /// Mean softmax probability of the true item on `items`.
    fn p_true(m: &StarModel, items: &[DistillItem]) -> f64 {
        let dev = m.device();
        let b = collate(items, 0, &dev);
        let scores = m
            .net()
            .candidate_scores(m.net().hidden(&b.inputs), &b.inputs);
        let p: Vec<f32> = burn::tensor::activation::softmax(scores, 1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let c = items[0].prompt.candidates.len();
        items
            .iter()
            .enumerate()
            .map(|(i, it)| p[i * c + it.positive] as f64)
            .sum::<f64>()
            / items.len() as f64
    }

    #[test]
    fn rank_only_grpo_raises_the_reward_and_resumes() {
        let w = world();
        let dev = Device::flex();
        let m = model(&w, &corpus(&w), &dev);
        let (train, valid) = prompts(&w, &m);
        let before = p_true(&m, &valid);
        let dir = tempfile::tempdir().unwrap();
        let cfg = GrpoConfig::new()
            .with_max_epochs(12)
            .with_patience(12)
            .with_batch_size(2)
            .with_group(8)
            .with_learning_rate(1e-2);
        let r = train_grpo(
            &cfg,
            &m,
            train.clone(),
            valid.clone(),
            dir.path(),
            &dev,
            false,
        )
        .unwrap();
        assert_eq!(r.epochs_run, 12);
        // the policy moved towards the rewarded rankings on the prompts it trained on
        let after = p_true(&r.model, &valid);
        assert!(
            after > before + 0.1,
            "p(true item) {before:.3} → {after:.3}"
        );
        assert_logged(dir.path(), &["reward", "format", "kl", "Loss"]);
        let r2 = train_grpo(
            &cfg.clone().with_max_epochs(13),
            &m,
            train,
            valid,
            dir.path(),
            &dev,
            true,
        )
        .unwrap();
        assert_eq!((r2.resumed_after, r2.epochs_run), (Some(12), 13));
    }

    #[test]
    fn explain_mode_grpo_samples_trajectories_with_live_tools() {
        let w = world();
        let dev = Device::flex();
        let res = resources(w.ds.clone(), &w.split, w.store.clone(), None);
        let tools = star_agents::tools::StudentTools {
            registry: star_agents::tools::ToolRegistry::standard(),
            resources: res,
        };
        let m = model(&w, &corpus(&w), &dev).with_tools(Arc::new(tools));
        let (mut train, valid) = prompts(&w, &m);
        train.truncate(2);
        let dir = tempfile::tempdir().unwrap();
        let cfg = GrpoConfig::new()
            .with_explain(true)
            .with_max_epochs(1)
            .with_batch_size(2)
            .with_group(3)
            .with_max_new_tokens(24)
            .with_learning_rate(1e-2);
        let r = train_grpo(&cfg, &m, train, valid.clone(), dir.path(), &dev, false).unwrap();
        assert_eq!(r.epochs_run, 1);
        assert!(dir.path().join("checkpoint/model-1.bpk").is_file());
        assert_logged(dir.path(), &["reward", "kl", "Loss"]);
        // The step changed the weights, unless the starting model validated better and was
        // kept (GRPO never hands back a worse model; with random rollouts of an untrained
        // model either happens).
        if r.best_epoch == 1 {
            assert_ne!(p_true(&r.model, &valid), p_true(&m, &valid));
        } else {
            assert_eq!(r.best_epoch, 0);
            assert_eq!(p_true(&r.model, &valid), p_true(&m, &valid));
        }
    }
}
