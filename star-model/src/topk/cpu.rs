//! The fused CPU path: scores are computed block by block and folded into per-query top-k
//! buffers, so the `B × N` score matrix never exists. Work is split across threads (a rayon
//! pool of the requested size) by queries (many queries) or by item ranges (few queries, then
//! merged). Dot products use eight independent accumulators, which the compiler vectorises; on
//! x86-64 with AVX2 + FMA a copy compiled for those features is picked at run time.

use crate::parallel::map_ordered;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// The best `k` (score, index) pairs of each query, best first: higher score first, on equal
/// scores the smaller index first. NaN scores rank below everything.
#[derive(Clone, Debug, PartialEq)]
pub struct TopK {
    /// Results per query (`min(k, N)`).
    pub k: usize,
    /// Scores `[B * k]`.
    pub scores: Vec<f32>,
    /// Item indices `[B * k]`.
    pub indices: Vec<u32>,
}

#[derive(Copy, Clone, Debug)]
struct Entry {
    score: f32,
    index: u32,
}

impl Entry {
    fn key(&self) -> f32 {
        if self.score.is_nan() {
            f32::NEG_INFINITY
        } else {
            self.score
        }
    }
}

/// "Better" = greater in this order; the heap keeps the worst on top (reverse order).
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // better = higher score, then smaller index; reversed for a min-heap of the best
        other
            .key()
            .total_cmp(&self.key())
            .then(self.index.cmp(&other.index))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}

/// Keeps the best `k` entries seen.
struct Best {
    k: usize,
    heap: BinaryHeap<Entry>,
}

impl Best {
    fn new(k: usize) -> Self {
        Best {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    #[inline]
    fn push(&mut self, e: Entry) {
        if self.heap.len() < self.k {
            self.heap.push(e);
        } else if let Some(worst) = self.heap.peek() {
            // `e < worst` in heap order means e is better
            if e < *worst {
                self.heap.pop();
                self.heap.push(e);
            }
        }
    }

    /// Best first.
    fn into_sorted(self) -> Vec<Entry> {
        self.heap.into_sorted_vec()
    }
}

#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
        for l in 0..8 {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for i in chunks * 8..a.len() {
        s = a[i].mul_add(b[i], s);
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_portable(a, b)
}

/// Dot product with the best available instruction set.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the features were detected at run time.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

/// Items per block: a block of items is scored against every query of a chunk while it is
/// still in cache.
const BLOCK: usize = 512;

/// Scores queries `[B, d]` against items `[N, d]` (row-major) and keeps the top `k` of each
/// query, on up to `threads` threads, without materialising the `B × N` scores.
pub fn score_topk_cpu(queries: &[f32], items: &[f32], d: usize, k: usize, threads: usize) -> TopK {
    assert!(
        d > 0 && queries.len().is_multiple_of(d) && items.len().is_multiple_of(d),
        "shapes must be [B, d] and [N, d]"
    );
    let (b, n) = (queries.len() / d, items.len() / d);
    let k = k.min(n);
    let threads = threads.max(1);
    let mut out = TopK {
        k,
        scores: vec![0.0; b * k],
        indices: vec![0; b * k],
    };
    if b == 0 || k == 0 {
        return out;
    }
    // Score items [lo, hi) for queries [q0, q1) into per-query buffers.
    let scan = |q0: usize, q1: usize, lo: usize, hi: usize| -> Vec<Best> {
        let mut best: Vec<Best> = (q0..q1).map(|_| Best::new(k)).collect();
        let mut start = lo;
        while start < hi {
            let end = (start + BLOCK).min(hi);
            for (qi, buf) in (q0..q1).zip(best.iter_mut()) {
                let q = &queries[qi * d..(qi + 1) * d];
                for j in start..end {
                    buf.push(Entry {
                        score: dot(q, &items[j * d..(j + 1) * d]),
                        index: j as u32,
                    });
                }
            }
            start = end;
        }
        best
    };
    let write = |out: &mut TopK, qi: usize, best: Best| {
        for (r, e) in best.into_sorted().into_iter().enumerate() {
            out.scores[qi * k + r] = e.score;
            out.indices[qi * k + r] = e.index;
        }
    };
    if b >= threads || n < threads * BLOCK {
        // split by queries
        let chunk = b.div_ceil(threads);
        let starts: Vec<usize> = (0..b).step_by(chunk).collect();
        let parts = map_ordered(&starts, threads, |&q0| scan(q0, (q0 + chunk).min(b), 0, n));
        for (q0, bests) in starts.into_iter().zip(parts) {
            for (i, best) in bests.into_iter().enumerate() {
                write(&mut out, q0 + i, best);
            }
        }
    } else {
        // few queries: split the items and merge
        let span = n.div_ceil(threads);
        let starts: Vec<usize> = (0..n).step_by(span).collect();
        let parts = map_ordered(&starts, threads, |&lo| scan(0, b, lo, (lo + span).min(n)));
        for qi in 0..b {
            let mut merged = Best::new(k);
            for part in &parts {
                for e in part[qi].heap.iter() {
                    merged.push(*e);
                }
            }
            write(&mut out, qi, merged);
        }
    }
    out
}

/// The plain reference: the full score matrix, then a sort per query (same order as
/// [`score_topk_cpu`]: score descending, then index ascending).
pub fn score_topk_reference(queries: &[f32], items: &[f32], d: usize, k: usize) -> TopK {
    let (b, n) = (queries.len() / d, items.len() / d);
    let k = k.min(n);
    let mut out = TopK {
        k,
        scores: Vec::with_capacity(b * k),
        indices: Vec::with_capacity(b * k),
    };
    for qi in 0..b {
        let q = &queries[qi * d..(qi + 1) * d];
        let mut row: Vec<Entry> = (0..n)
            .map(|j| Entry {
                score: q
                    .iter()
                    .zip(&items[j * d..(j + 1) * d])
                    .map(|(a, b)| a * b)
                    .sum(),
                index: j as u32,
            })
            .collect();
        row.sort();
        for e in row.into_iter().take(k) {
            out.scores.push(e.score);
            out.indices.push(e.index);
        }
    }
    out
}
