//! Collaborative Signal Translation (CST): behavioural evidence for a (user, history,
//! candidate) triple, as structured numbers ([`CandidateEvidence`]) and as sentences rendered
//! from the templates in `assets/templates/evidence.json`.
//!
//! ## No leakage
//!
//! Every count is computed from the **train split** and **leaves the asking user out**:
//! co-occurrences count other users who interacted with both items, popularity counts other
//! users, and the nearest users are other users ranked by their overlap with the request's
//! history. The asking user enters only through the history in the request, which holds only
//! interactions before the target. So the evidence for a training sample (a prefix of the train
//! sequence) cannot see the user's own later interactions, and the evidence for a test case
//! cannot see any valid or test interaction of anybody.
//!
//! ## Speed
//!
//! The store keeps the train graph in CSR form with sorted adjacency lists; a co-occurrence is
//! a merge (or galloping) intersection, and global item and user neighbour lists are
//! precomputed. Evidence for one candidate is one intersection per history item.

mod template;

pub use template::{Template, Templates, DEFAULT_TEMPLATES, TEMPLATE_FIELDS};

use crate::data::Dataset;
use crate::error::{CfError, Result};
use crate::fsutil::write_atomic;
use crate::graph::CfGraph;
use crate::ids::{ItemId, UserId};
use crate::neighbors::{item_neighbors, user_neighbors, Neighbor, NeighborLists};
use crate::ranker::RankRequest;
use crate::split::Split;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Sizes and weights of the evidence computation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceConfig {
    /// Nearest users consulted per request.
    pub user_k: usize,
    /// Length of the precomputed item neighbour lists.
    pub item_k: usize,
    /// The most recent history items counted as "recent".
    pub recent_window: usize,
    /// Recency half-life (in history steps) of the item-CF weighting.
    pub recency_half_life: f32,
    /// Only the last `max_history` items of a request are used.
    pub max_history: usize,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            user_k: 50,
            item_k: 50,
            recent_window: 5,
            recency_half_life: 20.0,
            max_history: 200,
        }
    }
}

/// The history item that co-occurs most with a candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    /// The history item.
    pub item: ItemId,
    /// Other users who interacted with both.
    pub count: u32,
    /// Cosine similarity of the two items.
    pub score: f32,
    /// How many steps back in the history (1 = most recent).
    pub steps_ago: u32,
}

/// Structured evidence for one candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateEvidence {
    /// The candidate.
    pub item: ItemId,
    /// Other users who interacted with the candidate in the train split.
    pub popularity: u32,
    /// 1-based competition rank of that popularity over the catalogue (1 = most popular).
    pub popularity_rank: u32,
    /// Recency-weighted mean cosine similarity to the history items.
    pub item_cf_score: f32,
    /// The strongest co-occurring history item, if any co-occurs.
    pub anchor: Option<Anchor>,
    /// History items that co-occur with the candidate at least once.
    pub co_occurring_items: u32,
    /// Total co-occurrences with the `recent_window` most recent history items.
    pub recent_co_occurrence: u32,
    /// The candidate's link to each of the `recent_window` most recent history items, newest
    /// first: `(co-occurrence count, cosine similarity)`.
    pub recent_links: Vec<(u32, f32)>,
    /// How many of the `user_k` nearest users interacted with the candidate.
    pub user_cf_hits: u32,
    /// Number of nearest users consulted.
    pub user_cf_k: u32,
    /// Sum of the similarities of those nearest users who interacted with the candidate.
    pub user_cf_score: f32,
    /// The candidate's genres with how many history items share each, most shared first.
    pub shared_genres: Vec<(u16, u32)>,
    /// Fraction of history items sharing at least one genre with the candidate.
    pub genre_share: f32,
}

/// Evidence for every candidate of a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestEvidence {
    /// The nearest users of the request's history (the asking user left out).
    pub user_neighbors: Vec<Neighbor>,
    /// One entry per candidate, in request order.
    pub candidates: Vec<CandidateEvidence>,
}

/// File format: this magic, the bincode body, and the SHA-256 of the body (32 bytes).
const MAGIC: &[u8; 8] = b"STAREVD3";
const SUM_LEN: usize = 32;

/// Passes writes through while hashing them.
struct HashingWriter<'a, W: std::io::Write> {
    inner: &'a mut W,
    hasher: sha2::Sha256,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Precomputed CF structures that answer evidence look-ups.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvidenceStore {
    fingerprint: String,
    metadata_fingerprint: String,
    config: EvidenceConfig,
    graph: CfGraph,
    item_lists: NeighborLists,
    /// Each user's nearest users by the whole train set. Nothing reads it (the evidence
    /// uses a request's own history); it stays because it is part of the `STAREVD3` file
    /// format: dropping it needs a new magic, and stores written before are then rebuilt.
    user_lists: NeighborLists,
    /// Popularity of every item, sorted ascending (for competition ranks).
    sorted_popularity: Vec<u32>,
    item_genres: Vec<Vec<u16>>,
    genre_names: Vec<String>,
    item_labels: Vec<String>,
    templates: Templates,
}

impl EvidenceStore {
    /// Builds the store from the train split of `ds`.
    pub fn build(ds: &Dataset, split: &Split, config: EvidenceConfig) -> EvidenceStore {
        let graph = CfGraph::from_split(split);
        let item_lists = NeighborLists::items(&graph, config.item_k);
        let user_lists = NeighborLists::users(&graph, config.user_k);
        let mut sorted_popularity = graph.popularity_counts();
        sorted_popularity.sort_unstable();
        EvidenceStore {
            fingerprint: ds.fingerprint(),
            metadata_fingerprint: ds.metadata_fingerprint(),
            config,
            graph,
            item_lists,
            user_lists,
            sorted_popularity,
            item_genres: ds.items.iter().map(|i| i.genres.clone()).collect(),
            genre_names: ds.genres.clone(),
            item_labels: (0..ds.num_items())
                .map(|i| ds.item_label(ItemId::from(i)))
                .collect(),
            templates: Templates::default(),
        }
    }

    /// Replaces the sentence templates.
    pub fn with_templates(mut self, templates: Templates) -> Self {
        self.templates = templates;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &EvidenceConfig {
        &self.config
    }

    /// The train graph.
    pub fn graph(&self) -> &CfGraph {
        &self.graph
    }

    /// The fingerprint of the dataset the store was built from.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Display label of an item, e.g. `"Heat (1995)"`.
    pub fn item_label(&self, item: ItemId) -> &str {
        &self.item_labels[item.idx()]
    }

    /// Genre names.
    pub fn genre_name(&self, genre: u16) -> &str {
        &self.genre_names[genre as usize]
    }

    /// The `k` nearest items of `item`. With `asking = None` this is the precomputed global
    /// list (when `k` fits in it); with a user, that user is left out of every count.
    pub fn item_neighbors(&self, item: ItemId, k: usize, asking: Option<UserId>) -> Vec<Neighbor> {
        match asking {
            None if k <= self.item_lists.k() => {
                let l = self.item_lists.of(item.idx());
                l[..k.min(l.len())].to_vec()
            }
            _ => item_neighbors(&self.graph, item, k, asking),
        }
    }

    /// The nearest users of a request's history, the asking user left out.
    pub fn user_neighbors(&self, request: &RankRequest) -> Vec<Neighbor> {
        user_neighbors(
            &self.graph,
            self.history(&request.history),
            self.config.user_k,
            Some(request.user),
        )
    }

    fn history<'a>(&self, history: &'a [ItemId]) -> &'a [ItemId] {
        &history[history.len().saturating_sub(self.config.max_history)..]
    }

    /// Evidence for every candidate of `request`.
    pub fn evidence(&self, request: &RankRequest) -> RequestEvidence {
        let neighbors = self.user_neighbors(request);
        let candidates = request
            .candidates
            .iter()
            .map(|&c| self.candidate_evidence(request.user, &request.history, &neighbors, c))
            .collect();
        RequestEvidence {
            user_neighbors: neighbors,
            candidates,
        }
    }

    /// Evidence for one candidate, given the request's nearest users.
    pub fn candidate_evidence(
        &self,
        user: UserId,
        history: &[ItemId],
        neighbors: &[Neighbor],
        candidate: ItemId,
    ) -> CandidateEvidence {
        let g = &self.graph;
        let history = self.history(history);
        let pop_c = g.popularity_excluding(candidate, user);
        let n = history.len();

        // Item CF over the history, newest last.
        let (mut weighted, mut weights) = (0.0f32, 0.0f32);
        let mut anchor: Option<Anchor> = None;
        let (mut co_items, mut recent) = (0u32, 0u32);
        let mut recent_links = vec![(0u32, 0.0f32); self.config.recent_window.min(n)];
        for (pos, &h) in history.iter().enumerate() {
            let steps_ago = (n - pos) as u32;
            let w = 0.5f32.powf((steps_ago - 1) as f32 / self.config.recency_half_life);
            weights += w;
            if h == candidate {
                continue;
            }
            let count = g.co_occurrence(h, candidate, Some(user));
            if count == 0 {
                continue;
            }
            let pop_h = g.popularity_excluding(h, user);
            let score = count as f32 / ((pop_h as f32) * (pop_c as f32)).sqrt().max(1.0);
            weighted += w * score;
            co_items += 1;
            if steps_ago as usize <= self.config.recent_window {
                recent += count;
                recent_links[steps_ago as usize - 1] = (count, score);
            }
            // strongest count; on ties the more recent item (later in the loop) wins
            if anchor.as_ref().is_none_or(|a| count >= a.count) {
                anchor = Some(Anchor {
                    item: h,
                    count,
                    score,
                    steps_ago,
                });
            }
        }

        // User CF over the nearest users.
        let (mut hits, mut ucf) = (0u32, 0.0f32);
        for nb in neighbors {
            if g.has_edge(UserId(nb.id), candidate) {
                hits += 1;
                ucf += nb.score;
            }
        }

        // Genres.
        let cg = &self.item_genres[candidate.idx()];
        let mut shared: Vec<(u16, u32)> = cg.iter().map(|&k| (k, 0)).collect();
        let mut sharing_items = 0u32;
        for &h in history {
            let hg = &self.item_genres[h.idx()];
            let mut any = false;
            for (k, cnt) in shared.iter_mut() {
                if hg.binary_search(k).is_ok() {
                    *cnt += 1;
                    any = true;
                }
            }
            sharing_items += any as u32;
        }
        shared.retain(|&(_, c)| c > 0);
        shared.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

        CandidateEvidence {
            item: candidate,
            popularity: pop_c,
            popularity_rank: self.popularity_rank_excluding(user, pop_c),
            item_cf_score: if weights > 0.0 {
                weighted / weights
            } else {
                0.0
            },
            anchor,
            co_occurring_items: co_items,
            recent_co_occurrence: recent,
            recent_links,
            user_cf_hits: hits,
            user_cf_k: neighbors.len() as u32,
            user_cf_score: ucf,
            shared_genres: shared,
            genre_share: if n > 0 {
                sharing_items as f32 / n as f32
            } else {
                0.0
            },
        }
    }

    /// 1 + the number of items more popular than `pop` once `user` is left out of every count.
    fn popularity_rank_excluding(&self, user: UserId, pop: u32) -> u32 {
        let sp = &self.sorted_popularity;
        let greater = sp.len() - sp.partition_point(|&p| p <= pop);
        // Items of the user with popularity exactly pop + 1 fall to pop without the user (the
        // candidate itself among them, when it is one of the user's train items).
        let fall = self
            .graph
            .items_of(user)
            .iter()
            .filter(|&&j| self.graph.popularity(ItemId(j)) == pop + 1)
            .count();
        (greater - fall) as u32 + 1
    }

    /// Renders the evidence of one candidate as sentences.
    pub fn sentences(&self, ev: &CandidateEvidence) -> Vec<String> {
        let t = &self.templates;
        let title = self.item_label(ev.item);
        let mut out = Vec::with_capacity(4);
        let k = ev.user_cf_k.to_string();
        out.push(if ev.user_cf_hits > 0 {
            t.get("user_cf").render(|f| match f {
                "hits" => ev.user_cf_hits.to_string(),
                "k" => k.clone(),
                _ => title.to_string(),
            })
        } else {
            t.get("user_cf_none").render(|f| match f {
                "k" => k.clone(),
                _ => title.to_string(),
            })
        });
        out.push(match &ev.anchor {
            Some(a) => t.get("item_cf").render(|f| match f {
                "count" => a.count.to_string(),
                "when" => if a.steps_ago as usize <= self.config.recent_window {
                    "recent"
                } else {
                    "earlier"
                }
                .to_string(),
                "anchor" => self.item_label(a.item).to_string(),
                _ => title.to_string(),
            }),
            None => t.get("item_cf_none").render(|_| title.to_string()),
        });
        out.push(t.get("popularity").render(|f| match f {
            "rank" => ev.popularity_rank.to_string(),
            "items" => self.item_labels.len().to_string(),
            "count" => ev.popularity.to_string(),
            _ => title.to_string(),
        }));
        out.push(if ev.shared_genres.is_empty() {
            t.get("genres_none").render(|_| title.to_string())
        } else {
            t.get("genres").render(|f| match f {
                "genres" => ev
                    .shared_genres
                    .iter()
                    .map(|&(g, _)| self.genre_name(g))
                    .collect::<Vec<_>>()
                    .join(", "),
                "share" => format!("{:.0}", 100.0 * ev.genre_share),
                _ => title.to_string(),
            })
        });
        out
    }

    /// Saves the store (binary, written atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, |w| {
            use std::io::Write;
            w.write_all(MAGIC)?;
            let mut hw = HashingWriter {
                inner: w,
                hasher: <sha2::Sha256 as sha2::Digest>::new(),
            };
            bincode::serialize_into(&mut hw, self).map_err(std::io::Error::other)?;
            let sum = sha2::Digest::finalize(hw.hasher);
            w.write_all(&sum)
        })
    }

    /// Loads a store; with `ds`, also checks that it was built from that dataset (interactions
    /// and item metadata).
    pub fn load(path: &Path, ds: Option<&Dataset>) -> Result<EvidenceStore> {
        let bytes = std::fs::read(path).map_err(|e| CfError::io(path, e))?;
        let Some((magic, body)) = bytes.split_at_checked(MAGIC.len()) else {
            return Err(CfError::format(path, "not an evidence store (too short)"));
        };
        if magic != MAGIC {
            return Err(CfError::format(
                path,
                "not an evidence store, or one written by another version of star",
            ));
        }
        // A checksum over the body catches a damaged file before anything is decoded.
        if body.len() < SUM_LEN {
            return Err(CfError::format(path, "not an evidence store (too short)"));
        }
        let (body, sum) = body.split_at(body.len() - SUM_LEN);
        if <sha2::Sha256 as sha2::Digest>::digest(body).as_slice() != sum {
            return Err(CfError::format(
                path,
                "corrupt evidence store (checksum mismatch); delete it to have it rebuilt",
            ));
        }
        // bincode's defaults (fixed-width integers, as `save` writes), plus a limit: a length
        // prefix larger than the file is an error, not an allocation of that size (found by
        // the evidence_store fuzz target).
        use bincode::Options;
        let store: EvidenceStore = bincode::options()
            .with_fixint_encoding()
            .allow_trailing_bytes()
            .with_limit(body.len() as u64)
            .deserialize(body)
            .map_err(|e| CfError::format(path, format!("corrupt evidence store: {e}")))?;
        if let Some(ds) = ds {
            if store.fingerprint != ds.fingerprint()
                || store.metadata_fingerprint != ds.metadata_fingerprint()
            {
                return Err(CfError::format(
                    path,
                    format!(
                        "built from another dataset, preprocessing or item metadata ({} vs `{}` {})",
                        store.fingerprint,
                        ds.name,
                        ds.fingerprint()
                    ),
                ));
            }
        }
        Ok(store)
    }
}
