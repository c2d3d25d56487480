//! Explain mode: the student writes its plan, tool calls and reflection, the tool calls are
//! answered as they are emitted, and the candidates are scored at the `<recommend>` it reaches.

use super::net::{BatchRow, PromptBatch, StarNet};
use super::prompt::Prompt;
use crate::error::{Error, Result};
use crate::student::{KvCache, Segment, StarTokenizer};
use burn::prelude::*;
use serde_json::Value;
use star_cf::RankRequest;

/// Answers the student's tool calls (implemented over the teacher's tool registry in
/// `star-agents`, so the student sees the responses its teacher saw).
pub trait ToolExecutor: Send + Sync {
    /// Calls tool `name` with arguments `args` for `request`; `Err` carries a message the
    /// student reads in place of a response (text for the model, so a `String` rather than an
    /// [`Error`]).
    fn call(&self, request: &RankRequest, name: &str, args: &Value) -> Result<String, String>;
}

/// Chooses the next token from the logits of the last position.
pub trait Decoding {
    /// The next token id.
    fn next_token(&mut self, logits: &[f32]) -> u32;
}

/// Greedy decoding: the most likely token (the lowest id among equals).
#[derive(Clone, Copy, Debug, Default)]
pub struct Greedy;

impl Decoding for Greedy {
    fn next_token(&mut self, logits: &[f32]) -> u32 {
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        best as u32
    }
}

/// Sampling from the softmax of the logits at a temperature (explain-mode rollouts for GRPO,
/// or varied explanations). Deterministic for a seed.
#[derive(Clone, Debug)]
pub struct Sampling {
    temperature: f32,
    rng: rand_chacha::ChaCha8Rng,
}

impl Sampling {
    /// Sampling at `temperature` (> 0; 1 samples the model's distribution) from seed `seed`.
    pub fn new(temperature: f32, seed: u64) -> Self {
        use rand::SeedableRng;
        Sampling {
            temperature: temperature.max(1e-6),
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

impl Decoding for Sampling {
    fn next_token(&mut self, logits: &[f32]) -> u32 {
        use rand::Rng;
        let max = logits
            .iter()
            .copied()
            .filter(|l| l.is_finite())
            .fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            return Greedy.next_token(logits);
        }
        let weights: Vec<f64> = logits
            .iter()
            .map(|&l| {
                if l.is_finite() {
                    (((l - max) / self.temperature) as f64).exp()
                } else {
                    0.0
                }
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut u = self.rng.random::<f64>() * total;
        let mut last = 0;
        for (i, w) in weights.iter().enumerate() {
            if *w > 0.0 {
                last = i;
                if u < *w {
                    return i as u32;
                }
                u -= w;
            }
        }
        last as u32
    }
}

/// The outcome of an explain-mode run.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    /// Everything after the prompt: generated tokens, inserted tool responses and the final
    /// `<recommend>`.
    pub tokens: Vec<u32>,
    /// Their text.
    pub text: String,
    /// Candidate scores in request order.
    pub scores: Vec<f32>,
    /// Tool calls answered (successfully or with an error message).
    pub tool_calls: usize,
    /// Tool calls that failed (unparseable, unknown tool, no executor, tool error).
    pub tool_errors: usize,
    /// Whether `<recommend>` had to be appended because the token budget ran out or the model
    /// ended the sequence first.
    pub forced: bool,
}

/// Token ids explain mode reacts to.
pub(crate) struct ControlTokens {
    pub recommend: u32,
    pub tool_call: u32,
    pub tool_call_end: u32,
    pub eos: u32,
}

impl ControlTokens {
    pub(crate) fn of(tok: &StarTokenizer) -> Result<Self> {
        let id = |t: &str| tok.token_id(t).ok_or_else(|| Error::missing_token(t));
        Ok(ControlTokens {
            recommend: id(&Segment::Recommend.open())?,
            tool_call: id(&Segment::ToolCall.open())?,
            tool_call_end: id(&Segment::ToolCall.close())?,
            eos: id("</s>")?,
        })
    }
}

fn last_logits(net: &StarNet, hidden: Tensor<3>) -> Result<Vec<f32>> {
    let [_, t, d] = hidden.dims();
    let last = hidden.slice([0..1, t - 1..t, 0..d]);
    net.logits(last)
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .map_err(Error::data("logits"))
}

/// Runs explain mode for one prompt.
#[allow(clippy::too_many_arguments)]
pub(crate) fn explain(
    net: &StarNet,
    tok: &StarTokenizer,
    ctl: &ControlTokens,
    request: &RankRequest,
    prompt: &Prompt,
    tools: Option<&dyn ToolExecutor>,
    decoding: &mut dyn Decoding,
    max_new: usize,
    max_positions: usize,
) -> Result<Explanation> {
    let device = net.model.embed_tokens.weight.device();
    let n = prompt.tokens.len();
    // the generated tokens, tool responses and a forced `<recommend>` must fit the positions
    let max_new = max_new.min(max_positions.saturating_sub(n + 1));
    let row = BatchRow {
        prompt,
        continuation: &[],
        recommend: n - 1,
    };
    let batch = PromptBatch::new(&[row], 0, &device);
    let mut cache = KvCache::new();
    let hidden = net.prefill(&batch, &mut cache);
    let [_, t, d] = hidden.dims();
    let c = prompt.candidates.len();
    let h_cand = hidden
        .clone()
        .reshape([t, d])
        .select(0, batch.candidate_index.clone().reshape([c]));
    let mut logits = last_logits(net, hidden)?;

    let ids = |v: &[u32]| crate::student::token_row(v, &device);
    let mut out: Vec<u32> = Vec::new();
    let (mut calls, mut errors, mut forced) = (0, 0, true);
    let mut h_rec = None;
    let mut call_start = None;
    // explain mode writes a trajectory: its first token is neither `<recommend>` nor `</s>`
    // (a student also trained on fast-mode samples, prompt → `<recommend>`, would otherwise
    // often skip straight to the ranking)
    for id in [ctl.recommend, ctl.eos] {
        if let Some(l) = logits.get_mut(id as usize) {
            *l = f32::NEG_INFINITY;
        }
    }
    while out.len() < max_new {
        let next = decoding.next_token(&logits);
        if next == ctl.eos {
            break;
        }
        out.push(next);
        let h = net.step(ids(&[next]), &mut cache);
        if next == ctl.recommend {
            h_rec = Some(h.reshape([1, d]));
            forced = false;
            break;
        }
        if next == ctl.tool_call {
            call_start = Some(out.len());
        }
        if next == ctl.tool_call_end {
            let body = match call_start.take() {
                Some(s) => tok.decode(&out[s..out.len() - 1])?,
                None => String::new(),
            };
            calls += 1;
            let response = match run_tool(request, &body, tools) {
                Ok(text) => text,
                Err(e) => {
                    errors += 1;
                    format!("error: {e}")
                }
            };
            let resp = tok.encode(&format!(
                "{}{response}{}",
                Segment::ToolResponse.open(),
                Segment::ToolResponse.close()
            ))?;
            if out.len() + resp.len() > max_new {
                break; // no room for the response: recommend now
            }
            out.extend_from_slice(&resp);
            logits = last_logits(net, net.step(ids(&resp), &mut cache))?;
            continue;
        }
        logits = last_logits(net, h)?;
    }
    let h_rec = match h_rec {
        Some(h) => h,
        None => {
            out.push(ctl.recommend);
            net.step(ids(&[ctl.recommend]), &mut cache).reshape([1, d])
        }
    };
    let scores = net
        .scores_of(h_rec, h_cand, batch.candidate_rows.reshape([c]))
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .map_err(Error::data("scores"))?;
    Ok(Explanation {
        text: tok.decode(&out)?,
        tokens: out,
        scores,
        tool_calls: calls,
        tool_errors: errors,
        forced,
    })
}

/// Parses a `{"name": …, "arguments": …}` tool call and runs it.
fn run_tool(
    request: &RankRequest,
    body: &str,
    tools: Option<&dyn ToolExecutor>,
) -> Result<String, String> {
    let v: serde_json::Value =
        serde_json::from_str(body.trim()).map_err(|e| format!("unreadable tool call: {e}"))?;
    let name = v
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or("the tool call has no `name`")?;
    let args = v.get("arguments").cloned().unwrap_or(serde_json::json!({}));
    let tools = tools.ok_or("no tools are available")?;
    tools.call(request, name, &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_the_softmax_and_is_reproducible() {
        // p = softmax([0, ln 3, -inf]) = [0.25, 0.75, 0]
        let logits = [0.0, 3f32.ln(), f32::NEG_INFINITY];
        let draw = |seed| {
            let mut s = Sampling::new(1.0, seed);
            (0..4000).map(|_| s.next_token(&logits)).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert!(a.iter().all(|&t| t < 2), "a -inf logit was sampled");
        let ones = a.iter().filter(|&&t| t == 1).count() as f64 / a.len() as f64;
        assert!((ones - 0.75).abs() < 0.03, "frequency {ones}");
        // a low temperature is greedy
        let mut cold = Sampling::new(1e-3, 1);
        assert!((0..100).all(|_| cold.next_token(&[0.2, 0.1, 0.3]) == 2));
    }
}
