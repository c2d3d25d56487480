//! Distillation data: teacher episodes → student samples (request, true item, trajectory
//! text) → tokenised items with a segment per token → batches for the trajectory-aligned loss.

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use star_agents::episode::{Episode, Step};
use star_agents::Origin;
use star_cf::data::Dataset;
use star_cf::split::Split;
use star_cf::{ItemId, RankRequest};
use star_model::model::{BatchRow, Prompt, PromptBatch, StarModel};

/// The segment a token of a student sequence belongs to (defined with the tag vocabulary in
/// star-model).
pub use star_model::student::Segment;

/// Errors of distillation data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// An episode does not fit the dataset and split.
    #[error("episode `{id}`: {message}")]
    Episode {
        /// The episode id.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// Tokenising failed.
    #[error("sample `{id}`: {message}")]
    Tokens {
        /// The sample id.
        id: String,
        /// What went wrong.
        message: String,
    },
    /// The model cannot build the sample's prompt or fit it in its positions.
    #[error("sample `{id}`: {source}")]
    Model {
        /// The sample id.
        id: String,
        /// The model's error (boxed: it is large).
        #[source]
        source: Box<star_model::Error>,
    },
}

/// Which parts of a teacher trajectory the student learns from (the ablations drop parts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryView {
    /// Keep analyst conclusions and reflector verdicts (`false`: `student-no-reflection`).
    pub reflection: bool,
    /// Keep tool calls and responses (`false`: `student-no-tools`).
    pub tools: bool,
    /// Cut each segment's text after this many characters (0: no cut). Tool calls are never
    /// cut (their JSON must stay whole), and of the recommendation only the justification is
    /// (the ranking is learned whole).
    pub max_segment_chars: usize,
    /// Keep only the first this many tool calls with their responses (0: all).
    pub max_tool_calls: usize,
}

impl Default for TrajectoryView {
    fn default() -> Self {
        TrajectoryView {
            reflection: true,
            tools: true,
            max_segment_chars: 0,
            max_tool_calls: 0,
        }
    }
}

/// The trajectory text the student learns: the episode's steps in their tags, without
/// separators between segments, filtered and cut as `view` says.
pub fn student_trajectory(ep: &Episode, view: &TrajectoryView) -> String {
    let mut out = String::new();
    let mut calls = 0;
    for step in &ep.steps {
        if let Step::ToolCall { .. } = step {
            calls += 1;
        }
        let within = view.max_tool_calls == 0 || calls <= view.max_tool_calls;
        let keep = match step {
            Step::Analysis { .. } | Step::Reflection { .. } => view.reflection,
            Step::ToolCall { .. } | Step::ToolResponse { .. } => view.tools && within,
            Step::Plan { .. } | Step::Recommend { .. } => true,
        };
        if !keep {
            continue;
        }
        let tag = step.tag();
        let body = step.body();
        let cut = |text: &str| -> String {
            if view.max_segment_chars > 0 && text.chars().count() > view.max_segment_chars {
                text.chars().take(view.max_segment_chars).collect()
            } else {
                text.to_string()
            }
        };
        let body = match step {
            Step::ToolCall { .. } => body,
            // the ranking stays whole; only its justification is cut
            Step::Recommend { .. } => match body.split_once(" | ") {
                Some((ranking, why)) => format!("{ranking} | {}", cut(why)),
                None => body,
            },
            _ => cut(&body),
        };
        out.push('<');
        out.push_str(tag);
        out.push('>');
        out.push_str(&body);
        out.push_str("</");
        out.push_str(tag);
        out.push('>');
    }
    out
}

/// A distillation case: a request, the position of its true item among the candidates, and
/// the trajectory to learn (`None`: a fast-mode case, prompt + `<recommend>` only).
#[derive(Clone, Debug, PartialEq)]
pub struct DistillSample {
    /// Where it comes from (the episode id).
    pub id: String,
    /// The request, rebuilt from the dataset and split.
    pub request: RankRequest,
    /// Index of the true item in `request.candidates`.
    pub positive: usize,
    /// The trajectory text.
    pub trajectory: Option<String>,
}

/// Rebuilds an episode's request: the user, the history it saw (the train prefix before the
/// target for training samples, [`Origin::Train`]; the user's valid/test history otherwise)
/// and its candidates in prompt order, with the trajectory as `view` shows it.
pub fn sample_from_episode(
    ep: &Episode,
    ds: &Dataset,
    split: &Split,
    view: &TrajectoryView,
) -> Result<DistillSample, DataError> {
    let err = |m: String| DataError::Episode {
        id: ep.id.to_string(),
        message: m,
    };
    let user = ds
        .user_by_raw(&ep.user)
        .ok_or_else(|| err(format!("user `{}` is not in the dataset", ep.user)))?;
    let item = |raw: &str| -> Result<ItemId, DataError> {
        ds.item_by_raw(raw)
            .ok_or_else(|| err(format!("item `{raw}` is not in the dataset")))
    };
    let candidates = ep
        .candidates
        .iter()
        .map(|r| item(r))
        .collect::<Result<Vec<_>, _>>()?;
    let target = item(
        ep.target
            .as_deref()
            .ok_or_else(|| err("the episode has no target".into()))?,
    )?;
    let positive = candidates
        .iter()
        .position(|&c| c == target)
        .ok_or_else(|| err("the target is not among the candidates".into()))?;
    let us = &split.users[user.idx()];
    if ep.split != ep.id.split() {
        return Err(err(format!("split `{}` does not match the id", ep.split)));
    }
    let full = match ep.id {
        Origin::Train { position: t, .. } => {
            if t == 0 || t >= us.train.len() || us.train[t] != target {
                return Err(err(format!(
                    "train position {t} does not hold the target in the split"
                )));
            }
            us.train[..t].to_vec()
        }
        Origin::Valid { .. } => split.history(user, star_cf::split::SplitKind::Valid),
        Origin::Test { .. } => split.history(user, star_cf::split::SplitKind::Test),
    };
    if ep.history_len > full.len() {
        return Err(err(format!(
            "the episode saw {} history items, the split has {}",
            ep.history_len,
            full.len()
        )));
    }
    Ok(DistillSample {
        id: ep.id.to_string(),
        request: RankRequest {
            user,
            history: full[full.len() - ep.history_len..].to_vec(),
            candidates,
        },
        positive,
        trajectory: Some(student_trajectory(ep, view)),
    })
}

/// A tokenised sample.
#[derive(Clone, Debug, PartialEq)]
pub struct DistillItem {
    /// Its id.
    pub id: String,
    /// The prompt.
    pub prompt: Prompt,
    /// Tokens after the prompt (the trajectory, or just `<recommend>`).
    pub continuation: Vec<u32>,
    /// The segment of each continuation token.
    pub segments: Vec<Segment>,
    /// Position of the (last) `<recommend>` in `prompt ++ continuation`.
    pub recommend: usize,
    /// Index of the true item among the candidates.
    pub positive: usize,
    /// The next-item targets: for each history marker, its position in the sequence and the
    /// item-table row of the item that came next (the following history item; for the last,
    /// the true candidate). Items the model does not know are left out.
    pub next_items: Vec<(usize, u32)>,
}

impl DistillItem {
    /// Length of the whole sequence.
    pub fn len(&self) -> usize {
        self.prompt.tokens.len() + self.continuation.len()
    }

    /// Whether the sequence is empty (never, for a built item).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Tokenises a sample with the model's prompt builder and tokenizer, and labels every
/// continuation token with its segment (a tag token belongs to the segment it opens or
/// closes).
pub fn tokenize(model: &StarModel, sample: &DistillSample) -> Result<DistillItem, DataError> {
    let err = |m: String| DataError::Tokens {
        id: sample.id.clone(),
        message: m,
    };
    let tok = model.tokenizer();
    let continuation = match &sample.trajectory {
        Some(text) => tok.encode(text).map_err(|e| err(e.to_string()))?,
        None => vec![tok
            .token_id(&Segment::Recommend.open())
            .ok_or_else(|| err("the tokenizer has no <recommend>".into()))?],
    };
    item_from_tokens(model, sample, continuation)
}

/// The item of `sample`'s prompt followed by `continuation` (token ids, e.g. an explain-mode
/// rollout's [`star_model::model::Explanation::tokens`]), each continuation token labelled with
/// its segment; `sample.trajectory` is not used. The continuation must contain `<recommend>`.
pub fn item_from_tokens(
    model: &StarModel,
    sample: &DistillSample,
    continuation: Vec<u32>,
) -> Result<DistillItem, DataError> {
    let err = |m: String| DataError::Tokens {
        id: sample.id.clone(),
        message: m,
    };
    let tok = model.tokenizer();
    let model_err = |source| DataError::Model {
        id: sample.id.clone(),
        source: Box::new(source),
    };
    let prompt = model.prompt(&sample.request).map_err(model_err)?;
    model
        .check_length(prompt.tokens.len() + continuation.len())
        .map_err(model_err)?;
    let recommend_id = tok
        .token_id(&Segment::Recommend.open())
        .ok_or_else(|| err("the tokenizer has no <recommend>".into()))?;
    let mut opens = std::collections::HashMap::new();
    let mut closes = std::collections::HashMap::new();
    for seg in Segment::TAGGED {
        if let (Some(o), Some(c)) = (tok.token_id(&seg.open()), tok.token_id(&seg.close())) {
            opens.insert(o, seg);
            closes.insert(c, seg);
        }
    }
    let mut segments = Vec::with_capacity(continuation.len());
    let mut current = Segment::Prompt;
    for &t in &continuation {
        if let Some(&s) = opens.get(&t) {
            current = s;
            segments.push(s);
        } else if let Some(&s) = closes.get(&t) {
            segments.push(s);
            current = Segment::Prompt;
        } else {
            segments.push(current);
        }
    }
    let at = continuation
        .iter()
        .rposition(|&t| t == recommend_id)
        .ok_or_else(|| err("the trajectory has no <recommend>".into()))?;
    let next_items = next_items(&prompt, sample.positive, model.config().star.items.len());
    Ok(DistillItem {
        id: sample.id.clone(),
        recommend: prompt.tokens.len() + at,
        next_items,
        prompt,
        continuation,
        segments,
        positive: sample.positive,
    })
}

/// The next-item targets of a prompt whose true candidate is `positive` (see
/// [`DistillItem::next_items`]); rows from `known` on are items the model does not know.
fn next_items(prompt: &Prompt, positive: usize, known: usize) -> Vec<(usize, u32)> {
    let history = prompt
        .candidates
        .first()
        .copied()
        .unwrap_or(prompt.markers.len());
    let truth = prompt.candidates.get(positive).map(|&m| prompt.rows[m]);
    (0..history)
        .filter_map(|k| {
            let next = if k + 1 < history {
                Some(prompt.rows[k + 1])
            } else {
                truth
            };
            let known_item = |r: &u32| (*r as usize) < known;
            Some((prompt.markers[k], next.filter(known_item)?))
        })
        .collect()
}

/// Samples as a burn dataset.
#[derive(Clone, Debug, Default)]
pub struct TrajectoryDataset {
    /// The items.
    pub items: Vec<DistillItem>,
}

impl burn::data::dataset::Dataset<DistillItem> for TrajectoryDataset {
    fn get(&self, index: usize) -> Result<DistillItem, burn::data::dataset::DatasetError> {
        self.items.get(index).cloned().ok_or_else(|| {
            burn::data::dataset::DatasetError::new(std::io::Error::other(format!(
                "item {index} of {}",
                self.items.len()
            )))
        })
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

/// A batch for the trajectory-aligned loss.
#[derive(Clone, Debug)]
pub struct DistillBatch {
    /// The left-padded sequences with their markers, candidates and `<recommend>` positions.
    pub inputs: PromptBatch,
    /// The next token at each position `[B, T]` (0 where there is none).
    pub targets: Tensor<2, Int>,
    /// For each segment of [`Segment::LEARNED`]: 1 where the predicted token belongs to it
    /// `[B, T]`, and the number of such positions the term is averaged over (this batch's, or
    /// the whole step's when the batch is one part of a split step, see [`collate_parts`]).
    pub masks: Vec<(Segment, Tensor<2>, usize)>,
    /// The positions some segment mask covers, as flat indices into `B·T` in order `[N]`
    /// (`None` when there are none): the loss projects only these onto the vocabulary.
    pub learned_positions: Option<Tensor<1, Int>>,
    /// Index of the true item among each row's candidates `[B]`.
    pub positive: Tensor<1, Int>,
    /// The rows the ranking term is averaged over: `B`, or the whole step's rows when the batch
    /// is one part of a split step.
    pub rank_rows: usize,
    /// The next-item targets of every row ([`DistillItem::next_items`]): flat positions into
    /// `B·T` `[M]` and item-table rows `[M]`; `None` when there are none.
    pub next_items: Option<(Tensor<1, Int>, Tensor<1, Int>)>,
    /// The targets the next-item term is averaged over (this batch's, or the whole step's).
    pub next_rows: usize,
    /// The sequential model's scores of each row's candidates `[B, C]`
    /// ([`Prompt::sequence_scores`]; a score it did not give, far below any, gets no mass),
    /// behind the soft targets of the distillation term; `None` unless every row has
    /// them.
    pub soft_scores: Option<Tensor<2>>,
    /// The seed of the batch's dropout masks in training ([`super::distill_loss_dropping`]): 0
    /// from [`collate`]; SFT's loader draws one per batch and part, so a resumed run replays
    /// the same masks.
    pub dropout_seed: u64,
}

/// Collates [`DistillItem`]s (all with the same number of candidates).
#[derive(Clone, Debug)]
pub struct DistillBatcher {
    /// The padding token.
    pub pad_id: u32,
}

impl Batcher<DistillItem, DistillBatch> for DistillBatcher {
    fn batch(&self, items: Vec<DistillItem>, device: &Device) -> DistillBatch {
        collate(&items, self.pad_id, device)
    }
}

/// Collates items into `parts` batches that together make one training step (item `i` goes to
/// part `i % parts`, so the parts have similar lengths; each is padded to its own longest).
/// Their loss terms are averaged over the whole step's positions and rows, so the sum of the
/// parts' losses is the loss of the step, and so is the sum of their gradients: the parts can
/// run on separate threads. One part is [`collate`]; fewer items than parts make fewer parts.
///
/// # Panics
/// If `parts` is 0 (`train_sft` refuses such settings by name first).
pub fn collate_parts(
    items: &[DistillItem],
    parts: usize,
    pad_id: u32,
    device: &Device,
) -> Vec<DistillBatch> {
    assert!(parts > 0, "collate_parts: parts must be at least 1");
    let parts = parts.min(items.len().max(1));
    if parts == 1 {
        return vec![collate(items, pad_id, device)];
    }
    let mut batches: Vec<DistillBatch> = (0..parts)
        .map(|p| {
            let mine: Vec<DistillItem> = items.iter().skip(p).step_by(parts).cloned().collect();
            collate(&mine, pad_id, device)
        })
        .collect();
    let learned = Segment::LEARNED.len();
    let totals: Vec<usize> = (0..learned)
        .map(|s| batches.iter().map(|b| b.masks[s].2).sum())
        .collect();
    let next_rows: usize = items.iter().map(|it| it.next_items.len()).sum();
    for b in &mut batches {
        b.rank_rows = items.len();
        b.next_rows = next_rows;
        for (m, &total) in b.masks.iter_mut().zip(&totals) {
            m.2 = total;
        }
    }
    batches
}

/// The soft-target score of a candidate the sequential model gave no finite score: far below
/// any real score, and finite, so that its probability is 0 and `0 · log p` stays 0.
const MISSING_SCORE: f32 = -1e30;

/// The rows' sequence scores as a `[B, C]` tensor ([`DistillBatch::soft_scores`]).
fn soft_scores(items: &[DistillItem], device: &Device) -> Option<Tensor<2>> {
    let rows: Vec<&[f32]> = items
        .iter()
        .map(|it| it.prompt.sequence_scores.as_deref())
        .collect::<Option<_>>()?;
    let c = rows.first()?.len();
    if c == 0 || rows.iter().any(|r| r.len() != c) {
        return None;
    }
    let mut flat = Vec::with_capacity(rows.len() * c);
    for r in &rows {
        // no mass where the sequential model gave no (finite) score, at any temperature
        // (`train_sft` refuses a row without one)
        flat.extend(
            r.iter()
                .map(|&x| if x.is_finite() { x } else { MISSING_SCORE }),
        );
    }
    Some(Tensor::from_data(
        TensorData::new(flat, [rows.len(), c]),
        device,
    ))
}

/// Collates items into a [`DistillBatch`] (left padding, like the inference path).
pub fn collate(items: &[DistillItem], pad_id: u32, device: &Device) -> DistillBatch {
    let rows: Vec<BatchRow> = items
        .iter()
        .map(|it| BatchRow {
            prompt: &it.prompt,
            continuation: &it.continuation,
            recommend: it.recommend,
        })
        .collect();
    let inputs = PromptBatch::new(&rows, pad_id, device);
    let (b, t) = (
        items.len(),
        items.iter().map(DistillItem::len).max().unwrap_or(0),
    );
    let mut targets = vec![0i64; b * t];
    let learned = Segment::LEARNED;
    let mut masks = vec![vec![0.0f32; b * t]; learned.len()];
    let mut counts = vec![0usize; learned.len()];
    let mut positions = Vec::new();
    let (mut next_at, mut next_row) = (Vec::new(), Vec::new());
    for (i, it) in items.iter().enumerate() {
        let (n, p) = (it.len(), it.prompt.tokens.len());
        let off = t - n;
        for &(q, row) in &it.next_items {
            next_at.push((i * t + off + q) as i64);
            next_row.push(row as i64);
        }
        // position off + q predicts token q + 1 of the sequence
        for q in 0..n - 1 {
            let next = q + 1;
            let tok = if next < p {
                it.prompt.tokens[next]
            } else {
                it.continuation[next - p]
            };
            targets[i * t + off + q] = tok as i64;
            if next >= p {
                let seg = it.segments[next - p];
                if let Some(s) = learned.iter().position(|&l| l == seg) {
                    masks[s][i * t + off + q] = 1.0;
                    counts[s] += 1;
                    positions.push((i * t + off + q) as i64);
                }
            }
        }
    }
    DistillBatch {
        inputs,
        targets: Tensor::from_data(TensorData::new(targets, [b, t]), device),
        masks: learned
            .iter()
            .zip(masks)
            .zip(counts)
            .map(|((&s, m), c)| (s, Tensor::from_data(TensorData::new(m, [b, t]), device), c))
            .collect(),
        learned_positions: (!positions.is_empty()).then(|| {
            let n = positions.len();
            Tensor::from_data(TensorData::new(positions, [n]), device)
        }),
        positive: Tensor::from_data(
            TensorData::new(
                items
                    .iter()
                    .map(|it| it.positive as i64)
                    .collect::<Vec<_>>(),
                [b],
            ),
            device,
        ),
        rank_rows: b,
        soft_scores: soft_scores(items, device),
        dropout_seed: 0,
        next_rows: next_at.len(),
        next_items: (!next_at.is_empty()).then(|| {
            let m = next_at.len();
            (
                Tensor::from_data(TensorData::new(next_at, [m]), device),
                Tensor::from_data(TensorData::new(next_row, [m]), device),
            )
        }),
    }
}
