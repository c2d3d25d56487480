//! The STAR student as a recommender: prompts, CF fusion, fast and explain modes, the model
//! directory, full-catalogue top-k.

use burn::prelude::*;
use serde_json::Value;
use star_cf::candidates::CandidateSet;
use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::data::Dataset;
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::split::{Split, SplitKind};
use star_cf::{ItemId, RankRequest, Ranker};
use star_model::model::{
    BatchRow, Decoding, EvidenceMode, InferenceMode, ModelConfig, PromptBatch, StarConfig,
    StarModel, ToolExecutor, NUM_EVIDENCE_FEATURES, NUM_SEQUENCE_FEATURES,
};
use star_model::student::{DecoderConfig, StarTokenizer};
use std::sync::{Arc, Mutex};

struct World {
    ds: Dataset,
    store: Arc<EvidenceStore>,
    requests: Vec<RankRequest>,
    raw: Vec<String>,
}

fn world() -> World {
    let ds = generate(&SyntheticConfig {
        users: 40,
        items: 120,
        seed: 5,
        ..Default::default()
    })
    .unwrap();
    let split = Split::temporal_leave_one_out(&ds);
    let store = Arc::new(EvidenceStore::build(&ds, &split, EvidenceConfig::default()));
    let cands = CandidateSet::sample(&ds, &split, SplitKind::Test, 9, 42).unwrap();
    let requests = (0..8).map(|i| cands.request(i, &split)).collect();
    let raw = ds.items.iter().map(|i| i.raw_id.clone()).collect();
    World {
        ds,
        store,
        requests,
        raw,
    }
}

fn tokenizer() -> StarTokenizer {
    let lines = [
        "<s>History:<item><item>\nCandidates:\n[12]<item>\n[7] users 3/50, co-watched 2 recent, popularity #4, genres 50%<item>\n<recommend>",
        "<plan>Check the co-watch counts.</plan><tool_call>{\"name\":\"item_cf\",\"arguments\":{\"item\":\"12\"}}</tool_call>",
        "<tool_response>[3] Heat (1995) x4</tool_response><reflection>Reflector: fine.</reflection>",
    ];
    StarTokenizer::train(
        (0..10).flat_map(|_| lines.iter().map(|s| s.to_string())),
        400,
    )
    .unwrap()
}

fn model(w: &World, evidence: EvidenceMode, device: &Device) -> StarModel {
    model_with(w, evidence, false, device)
}

/// [`model`], with sequence evidence when `sequence` is set.
fn model_with(w: &World, evidence: EvidenceMode, sequence: bool, device: &Device) -> StarModel {
    let tok = tokenizer();
    let mut star = StarConfig::new(w.raw.clone(), 8);
    star.rank_dim = 16;
    star.history = 6;
    star.evidence = evidence;
    star.sequence_evidence = sequence;
    let mut dec = DecoderConfig::llama(tok.vocab_size(), 32, 2, 4, 2);
    dec.max_position_embeddings = 512;
    let cfg = ModelConfig::new(dec, star);
    let n = w.raw.len();
    let cf = Tensor::<2>::random([n, 8], burn::tensor::Distribution::Normal(0.0, 1.0), device);
    StarModel::init(cfg, tok, cf, device)
        .unwrap()
        .bind(&w.raw, Some(w.store.clone()))
}

fn device() -> Device {
    Device::flex()
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
}

#[test]
fn prompts_carry_one_marker_per_item_and_the_evidence() {
    let w = world();
    let dev = device();
    let m = model(&w, EvidenceMode::Features, &dev);
    let r = &w.requests[0];
    let p = m.prompt(r).unwrap();
    let shown = r.history.len().min(6);
    assert_eq!(p.markers.len(), shown + r.candidates.len());
    assert_eq!(p.candidates.len(), r.candidates.len());
    let item = m.tokenizer().token_id("<item>").unwrap();
    assert!(p.markers.iter().all(|&pos| p.tokens[pos] == item));
    // the markers' rows are the items' rows (the model was made for this dataset: row = id)
    for (j, &c) in r.candidates.iter().enumerate() {
        assert_eq!(p.rows[p.candidates[j]], c.0);
    }
    let f = NUM_EVIDENCE_FEATURES;
    // history markers have no features; candidates have some
    assert!(p.features[..shown * f].iter().all(|&x| x == 0.0));
    assert!(p.features[shown * f..].iter().any(|&x| x != 0.0));
    assert!(p
        .text
        .contains(&format!(" {}<item>", w.raw[r.candidates[0].idx()])));

    let t = model(&w, EvidenceMode::Text, &dev);
    let pt = t.prompt(r).unwrap();
    assert!(pt.text.contains("users ") && pt.text.contains("popularity #"));
    assert!(pt.features.iter().all(|&x| x == 0.0));

    // no-CST works without a store; the others refuse
    let none = model(&w, EvidenceMode::None, &dev).bind(&w.raw, None);
    assert!(none.prompt(r).is_ok());
    let err = model(&w, EvidenceMode::Text, &dev)
        .bind(&w.raw, None)
        .prompt(r)
        .unwrap_err();
    assert!(
        matches!(
            err,
            star_model::Error::Prompt(star_model::model::PromptError::NoEvidence(
                EvidenceMode::Text
            ))
        ),
        "{err}"
    );
    assert!(err.to_string().contains("evidence store"), "{err}");
}

#[test]
fn prompt_tokens_equal_the_tokenizers_encoding_of_the_text() {
    let w = world();
    let dev = device();
    for mode in [
        EvidenceMode::Features,
        EvidenceMode::Text,
        EvidenceMode::None,
    ] {
        let m = model(&w, mode, &dev);
        for _ in 0..2 {
            // the second round reads the token cache
            for r in &w.requests {
                let p = m.prompt(r).unwrap();
                assert_eq!(p.tokens, m.tokenizer().encode(&p.text).unwrap(), "{mode:?}");
            }
        }
    }
}

#[test]
fn text_only_prompts_are_the_models_prompt_text() {
    use star_model::model::{ItemBinding, PromptBuilder, PromptError};
    let w = world();
    let dev = device();
    let binding = ItemBinding::new(&w.raw, &w.raw);
    for mode in [
        EvidenceMode::Features,
        EvidenceMode::Text,
        EvidenceMode::None,
    ] {
        let m = model(&w, mode, &dev);
        // the history cut of `model`
        let mut star = StarConfig::new(w.raw.clone(), 8);
        star.history = 6;
        star.evidence = mode;
        let text_only = PromptBuilder::text_only(&star, &binding, Some(&w.store));
        for r in &w.requests {
            assert_eq!(
                text_only.text(r).unwrap(),
                m.prompt(r).unwrap().text,
                "{mode:?}"
            );
        }
        assert!(matches!(
            text_only.build(&w.requests[0]),
            Err(PromptError::NoTokenizer)
        ));
    }
}

#[test]
fn chunks_scored_in_parallel_come_back_in_order_bit_for_bit() {
    // chunks of one prompt: the batch runs them on the CPU pool, each single call on this
    // thread; the same computation must give the same bits at the same place
    let w = world();
    let m = model(&w, EvidenceMode::Features, &device()).with_batch_size(1);
    let all = m.score_batch(&w.requests).unwrap();
    assert_eq!(all.len(), w.requests.len());
    for (r, s) in w.requests.iter().zip(&all) {
        let single = m.score_batch(std::slice::from_ref(r)).unwrap().remove(0);
        assert_eq!(
            s.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            single.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn batched_scores_with_left_padding_equal_one_at_a_time() {
    let w = world();
    let m = model(&w, EvidenceMode::Features, &device());
    let batched = m.score_batch(&w.requests).unwrap();
    let lens: std::collections::HashSet<usize> = w
        .requests
        .iter()
        .map(|r| m.prompt(r).unwrap().tokens.len())
        .collect();
    assert!(
        lens.len() > 1,
        "the test needs prompts of different lengths"
    );
    for (r, s) in w.requests.iter().zip(&batched) {
        let single = m.score_batch(std::slice::from_ref(r)).unwrap().remove(0);
        assert!(close(s, &single, 1e-4), "{s:?} vs {single:?}");
    }
    let ranking = m.rank(&w.requests[0]).unwrap();
    let mut a = ranking.items.clone();
    let mut b = w.requests[0].candidates.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_eq!(m.name(), "student-fast");
}

#[test]
fn cf_fusion_and_evidence_features_reach_the_scores() {
    let w = world();
    let dev = device();
    let m = model(&w, EvidenceMode::Features, &dev);
    let r = &w.requests[1];
    let base = m.score_batch(std::slice::from_ref(r)).unwrap().remove(0);

    // change one candidate's CF embedding
    let c = r.candidates[3].idx();
    let mut net = m.net().clone();
    let e = net.star.item_embeddings.val();
    let cf = e.dims()[1];
    let e = e.slice_assign(
        [c..c + 1, 0..cf],
        Tensor::ones([1, cf], &dev).mul_scalar(3.0),
    );
    net.star.item_embeddings = burn::module::Param::from_tensor(e);
    let changed = m
        .clone()
        .with_net(net)
        .score_batch(std::slice::from_ref(r))
        .unwrap()
        .remove(0);
    assert!((changed[3] - base[3]).abs() > 1e-4, "{base:?} {changed:?}");

    // the same prompt without its evidence features
    let mut p = m.prompt(r).unwrap();
    let plain = m.score_prompts(std::slice::from_ref(&p)).unwrap().remove(0);
    assert!(close(&plain, &base, 1e-5));
    p.features.iter_mut().for_each(|x| *x = 0.0);
    let bare = m.score_prompts(std::slice::from_ref(&p)).unwrap().remove(0);
    assert!(bare.iter().zip(&base).any(|(a, b)| (a - b).abs() > 1e-4));
}

#[test]
fn save_then_load_gives_identical_scores_and_hugging_face_names() {
    let w = world();
    let dev = device();
    let m = model(&w, EvidenceMode::Features, &dev);
    let dir = tempfile::tempdir().unwrap();
    m.save(dir.path()).unwrap();
    let before = m.score_batch(&w.requests).unwrap();
    let loaded = StarModel::load(dir.path(), &dev)
        .unwrap()
        .bind(&w.raw, Some(w.store.clone()));
    assert_eq!(loaded.score_batch(&w.requests).unwrap(), before);
    assert_eq!(loaded.config(), m.config());

    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["architectures"][0], "LlamaForCausalLM");
    assert_eq!(cfg["hidden_size"], 32);
    assert_eq!(cfg["star"]["items"].as_array().unwrap().len(), w.raw.len());
    let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let names: Vec<String> = st.names().into_iter().map(|s| s.to_string()).collect();
    for n in [
        "model.embed_tokens.weight",
        "model.layers.1.self_attn.q_proj.weight",
        "model.norm.weight",
        "lm_head.weight",
        "star.item_embeddings",
        "star.query.weight",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    // Hugging Face layout: linear weights are [out, in]
    assert_eq!(st.tensor("star.query.weight").unwrap().shape(), &[16, 32]);
    assert!(dir.path().join("tokenizer.json").is_file());

    // a broken directory names the file
    std::fs::write(dir.path().join("config.json"), "{").unwrap();
    let err = StarModel::load(dir.path(), &dev).unwrap_err();
    assert!(
        matches!(&err, star_model::Error::Json { path, .. } if path.ends_with("config.json")),
        "{err}"
    );
    assert!(err.to_string().contains("config.json"), "{err}");
}

/// Emits a fixed script of tokens, then ends the sequence.
struct Script {
    tokens: std::vec::IntoIter<u32>,
    eos: u32,
}

impl Decoding for Script {
    fn next_token(&mut self, _logits: &[f32]) -> u32 {
        self.tokens.next().unwrap_or(self.eos)
    }
}

#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(String, serde_json::Value, Vec<ItemId>)>>,
}

impl ToolExecutor for Recorder {
    fn call(&self, request: &RankRequest, name: &str, args: &Value) -> Result<String, String> {
        self.calls
            .lock()
            .unwrap()
            .push((name.into(), args.clone(), request.candidates.clone()));
        if name == "item_cf" {
            Ok("[3] Heat (1995) x4".into())
        } else {
            Err(format!("unknown tool `{name}`"))
        }
    }
}

#[test]
fn explain_mode_answers_tool_calls_as_emitted_and_scores_at_recommend() {
    let w = world();
    let dev = device();
    let tools = Arc::new(Recorder::default());
    let m = model(&w, EvidenceMode::Features, &dev)
        .with_tools(tools.clone())
        .with_mode(InferenceMode::Explain);
    let tok = m.tokenizer().clone();
    let r = &w.requests[2];
    let script = tok
        .encode(concat!(
            "<plan>Check the co-watch counts.</plan>",
            "<tool_call>{\"name\":\"item_cf\",\"arguments\":{\"item\":\"12\"}}</tool_call>",
            "<tool_call>{\"name\":\"nope\"}</tool_call>",
            "<reflection>Reflector: fine.</reflection><recommend>"
        ))
        .unwrap();
    let eos = tok.token_id("</s>").unwrap();
    let ex = m
        .explain_with(
            r,
            &mut Script {
                tokens: script.into_iter(),
                eos,
            },
        )
        .unwrap();
    assert!(!ex.forced);
    assert_eq!((ex.tool_calls, ex.tool_errors), (2, 1));
    let calls = tools.calls.lock().unwrap();
    assert_eq!(calls[0].0, "item_cf");
    assert_eq!(calls[0].1, serde_json::json!({"item": "12"}));
    assert_eq!(calls[0].2, r.candidates);
    assert!(
        ex.text
            .contains("</tool_call><tool_response>[3] Heat (1995) x4</tool_response>"),
        "{}",
        ex.text
    );
    assert!(ex
        .text
        .contains("<tool_response>error: unknown tool `nope`</tool_response>"));
    assert!(ex.text.ends_with("<recommend>"));
    drop(calls);

    // tools set before binding are kept: a model loaded unbound, given tools, then bound
    let dir = tempfile::tempdir().unwrap();
    m.save(dir.path()).unwrap();
    let early = Arc::new(Recorder::default());
    let rebound = StarModel::load(dir.path(), &dev)
        .unwrap()
        .with_tools(early.clone())
        .bind(&w.raw, Some(w.store.clone()));
    let again = rebound
        .explain_with(
            r,
            &mut Script {
                tokens: tok
                    .encode(concat!(
                        "<tool_call>{\"name\":\"item_cf\",\"arguments\":{\"item\":\"12\"}}",
                        "</tool_call><recommend>"
                    ))
                    .unwrap()
                    .into_iter(),
                eos,
            },
        )
        .unwrap();
    assert_eq!((again.tool_calls, again.tool_errors), (1, 0));
    assert_eq!(early.calls.lock().unwrap().len(), 1);

    // the incremental (KV cache) scores equal a full forward over prompt + explanation
    let p = m.prompt(r).unwrap();
    let row = BatchRow {
        prompt: &p,
        continuation: &ex.tokens,
        recommend: p.tokens.len() + ex.tokens.len() - 1,
    };
    let batch = PromptBatch::new(&[row], 0, &dev);
    let full: Vec<f32> = m
        .net()
        .candidate_scores(m.net().hidden(&batch), &batch)
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    assert!(
        close(&ex.scores, &full, 1e-4),
        "{:?} vs {full:?}",
        ex.scores
    );

    // `<recommend>` straight away is fast mode
    let rec = tok.token_id("<recommend>").unwrap();
    let now = m
        .explain_with(
            r,
            &mut Script {
                tokens: vec![rec].into_iter(),
                eos,
            },
        )
        .unwrap();
    let fast = m.score_batch(std::slice::from_ref(r)).unwrap().remove(0);
    assert!(
        close(&now.scores, &fast, 1e-4),
        "{:?} vs {fast:?}",
        now.scores
    );
}

/// Records the logits it is given; emits `<plan>`, then `<recommend>`.
struct Peek {
    seen: Vec<Vec<f32>>,
    plan: u32,
    rec: u32,
}

impl Decoding for Peek {
    fn next_token(&mut self, logits: &[f32]) -> u32 {
        self.seen.push(logits.to_vec());
        if self.seen.len() == 1 {
            self.plan
        } else {
            self.rec
        }
    }
}

#[test]
fn explain_mode_cannot_open_with_recommend_or_end_of_sequence() {
    let w = world();
    let dev = device();
    let m = model(&w, EvidenceMode::Features, &dev);
    let tok = m.tokenizer();
    let (rec, eos) = (
        tok.token_id("<recommend>").unwrap(),
        tok.token_id("</s>").unwrap(),
    );
    let mut peek = Peek {
        seen: Vec::new(),
        plan: tok.token_id("<plan>").unwrap(),
        rec,
    };
    let ex = m.explain_with(&w.requests[1], &mut peek).unwrap();
    assert!(!ex.forced);
    assert_eq!(peek.seen.len(), 2);
    let first = &peek.seen[0];
    assert_eq!(first[rec as usize], f32::NEG_INFINITY);
    assert_eq!(first[eos as usize], f32::NEG_INFINITY);
    assert_eq!(
        first.iter().filter(|l| l.is_finite()).count(),
        first.len() - 2
    );
    // later steps may end the trajectory
    assert!(peek.seen[1].iter().all(|l| l.is_finite()));
}

#[test]
fn explain_mode_forces_recommend_when_the_budget_runs_out() {
    let w = world();
    let dev = device();
    let mut m = model(&w, EvidenceMode::Features, &dev);
    let dir = tempfile::tempdir().unwrap();
    // shrink the budget through the config file, as a user would
    m.save(dir.path()).unwrap();
    let path = dir.path().join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cfg["star"]["max_new_tokens"] = 5.into();
    std::fs::write(&path, cfg.to_string()).unwrap();
    m = StarModel::load(dir.path(), &dev)
        .unwrap()
        .bind(&w.raw, Some(w.store.clone()))
        .with_mode(InferenceMode::Explain);
    let r = &w.requests[3];
    let plan = m.tokenizer().token_id("<plan>").unwrap();
    let ex = m
        .explain_with(
            r,
            &mut Script {
                tokens: vec![plan; 10].into_iter(),
                eos: 2,
            },
        )
        .unwrap();
    assert!(ex.forced);
    assert_eq!(ex.tokens.len(), 6);
    assert_eq!(ex.scores.len(), r.candidates.len());
    // greedy decoding of the random model also ends in a valid ranking
    let ranking = m.rank(r).unwrap();
    assert_eq!(ranking.items.len(), r.candidates.len());
    assert_eq!(m.name(), "student-explain");
}

#[test]
fn catalogue_top_k_equals_brute_force_and_skips_the_history() {
    let w = world();
    let m = model(&w, EvidenceMode::Features, &device());
    let reqs = &w.requests[..3];
    let top = m.top_k_catalogue(reqs, 10).unwrap();
    for (r, got) in reqs.iter().zip(&top) {
        let all = star_cf::CatalogueScorer::score_all(&m, r).unwrap();
        let seen: std::collections::HashSet<_> = r.history.iter().collect();
        let mut want: Vec<(ItemId, f32)> = (0..w.ds.num_items())
            .map(ItemId::from)
            .filter(|i| !seen.contains(i))
            .map(|i| (i, all[i.idx()]))
            .collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        want.truncate(10);
        assert_eq!(got.len(), 10);
        for (g, e) in got.iter().zip(&want) {
            assert_eq!(g.0, e.0, "{got:?} vs {want:?}");
            assert!((g.1 - e.1).abs() < 1e-4);
        }
    }
}

/// Scores item `i` of a catalogue of `0` items as `i`: a retriever whose choice the test knows.
struct CatalogueById(usize);

impl star_cf::CatalogueScorer for CatalogueById {
    fn name(&self) -> String {
        "by-id".into()
    }
    fn score_all(&self, _: &RankRequest) -> Result<Vec<f32>, star_cf::RankError> {
        Ok((0..self.0).map(|i| i as f32).collect())
    }
}

#[test]
fn reranked_catalogue_scores_what_it_retrieves_with_the_prompt_and_nothing_else() {
    use star_cf::CatalogueScorer;
    let w = world();
    let m = model(&w, EvidenceMode::Features, &device());
    let n = w.ds.num_items();
    let by_id = CatalogueById(n);
    for r in &w.requests[..3] {
        let by_keys: Vec<ItemId> = m.top_k_catalogue(std::slice::from_ref(r), 5).unwrap()[0]
            .iter()
            .map(|x| x.0)
            .collect();
        let by_ids: Vec<ItemId> = (0..n)
            .rev()
            .map(ItemId::from)
            .filter(|i| !r.history.contains(i))
            .take(5)
            .collect();
        let cases: [(Box<dyn CatalogueScorer + '_>, Vec<ItemId>); 2] = [
            (Box::new(m.reranked(5)), by_keys),
            (Box::new(m.reranked(5).retrieving_with(&by_id)), by_ids),
        ];
        for (scorer, mut want) in cases {
            let all = scorer.score_all(r).unwrap();
            assert_eq!(all.len(), n);
            want.sort();
            let got: Vec<ItemId> = (0..n)
                .map(ItemId::from)
                .filter(|i| all[i.idx()].is_finite())
                .collect();
            assert_eq!(got, want, "{}", scorer.name());
            // the retrieved items carry the prompt's scores of exactly those candidates
            let prompt = RankRequest {
                candidates: want.clone(),
                ..r.clone()
            };
            let s = m
                .score_batch(std::slice::from_ref(&prompt))
                .unwrap()
                .remove(0);
            for (i, x) in want.iter().zip(&s) {
                assert!((all[i.idx()] - x).abs() < 1e-5, "{}", scorer.name());
            }
        }
    }
    // nothing to retrieve is refused
    let err = m
        .reranked(0)
        .score_all(&w.requests[0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least 1"), "{err}");
    // a retriever over another catalogue is refused, naming it
    let err = m
        .reranked(5)
        .retrieving_with(&CatalogueById(n + 1))
        .score_all(&w.requests[0])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("by-id") && err.contains(&n.to_string()),
        "{err}"
    );
    assert_eq!(
        m.reranked(5).retrieving_with(&by_id).name(),
        "student-fast (top 5 by by-id re-ranked)"
    );
    assert_eq!(
        m.reranked(7).name(),
        "student-fast (top 7 by keys re-ranked)"
    );
}

#[test]
fn items_the_model_does_not_know_get_the_zero_row() {
    let w = world();
    let m = model(&w, EvidenceMode::Features, &device());
    let mut raw = w.raw.clone();
    raw[5] = "never-seen".into();
    let m = m.bind(&raw, Some(w.store.clone()));
    let items = m.items().unwrap();
    assert_eq!(items.row(ItemId(5)), None);
    assert_eq!(items.row_or_zero(ItemId(5)), w.raw.len() as u32);
    assert_eq!(items.known(), w.raw.len() - 1);
    assert_eq!(items.item_of_row(5), None);
    assert_eq!(items.item_of_row(6), Some(ItemId(6)));
    let mut r = w.requests[0].clone();
    r.candidates[0] = ItemId(5);
    assert_eq!(m.rank(&r).unwrap().items.len(), r.candidates.len());
    r.candidates[0] = ItemId(10_000);
    assert!(m.rank(&r).unwrap_err().to_string().contains("10000"));
}

#[test]
fn saving_replaces_the_whole_directory_and_leaves_nothing_beside_it() {
    let w = world();
    let dev = device();
    let m = model(&w, EvidenceMode::Features, &dev);
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("model");
    m.save(&dir).unwrap();
    // a file of an older model (or of a save a crash cut short) does not survive a new save
    std::fs::write(dir.join("model-00002-of-00002.safetensors"), b"stale").unwrap();
    m.save(&dir).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["config.json", "model.safetensors", "tokenizer.json"]
    );
    let beside: Vec<_> = std::fs::read_dir(parent.path()).unwrap().collect();
    assert_eq!(beside.len(), 1, "no temporary or old directory left");
    let loaded = StarModel::load(&dir, &dev)
        .unwrap()
        .bind(&w.raw, Some(w.store.clone()));
    assert_eq!(
        loaded.score_batch(&w.requests).unwrap(),
        m.score_batch(&w.requests).unwrap()
    );
}

/// Scores an item by `sign ×` its id: a sequential model whose scores the test knows.
struct ById(f32);

impl Ranker for ById {
    fn name(&self) -> String {
        "by-id".into()
    }
    fn rank(&self, r: &RankRequest) -> Result<star_cf::Ranking, star_cf::RankError> {
        let s: Vec<f32> = r.candidates.iter().map(|c| self.0 * c.0 as f32).collect();
        Ok(star_cf::Ranking::from_scores(&r.candidates, &s))
    }
}

#[test]
fn sequence_evidence_comes_from_the_bound_sequential_model_and_reaches_the_scores() {
    use star_model::model::{sequence_features, PromptError};
    let w = world();
    let dev = device();
    let m = model_with(&w, EvidenceMode::Features, true, &dev);
    let r = &w.requests[0];
    // no sequential model bound: refused by name
    let err = m.prompt(r).unwrap_err();
    assert!(
        matches!(
            err,
            star_model::Error::Prompt(PromptError::NoSequenceEvidence)
        ),
        "{err}"
    );
    assert!(err.to_string().contains("star.sequence_evidence"), "{err}");

    let up = m.clone().with_sequence_evidence(Arc::new(ById(1.0)));
    let p = up.prompt(r).unwrap();
    let (e, f) = (
        NUM_EVIDENCE_FEATURES,
        NUM_EVIDENCE_FEATURES + NUM_SEQUENCE_FEATURES,
    );
    assert_eq!(p.feature_dim, f);
    assert_eq!(p.features.len(), p.markers.len() * f);
    let scores: Vec<f32> = r.candidates.iter().map(|c| c.0 as f32).collect();
    let want = sequence_features(&scores);
    // the scores behind them travel with the prompt (the soft targets of distillation)
    assert_eq!(p.sequence_scores.as_deref(), Some(scores.as_slice()));
    // the evidence part is what a model without sequence evidence sees
    let plain = model(&w, EvidenceMode::Features, &dev).prompt(r).unwrap();
    assert_eq!(plain.sequence_scores, None);
    for (j, &mk) in p.candidates.iter().enumerate() {
        assert_eq!(
            p.features[mk * f + e..(mk + 1) * f],
            want[j],
            "candidate {j}"
        );
        assert_eq!(
            p.features[mk * f..mk * f + e],
            plain.features[mk * e..(mk + 1) * e]
        );
    }
    assert!(p.features[..p.candidates[0] * f].iter().all(|&x| x == 0.0));

    // the features reach the scores
    let down = m.clone().with_sequence_evidence(Arc::new(ById(-1.0)));
    let (s_up, s_down) = (
        up.score_batch(std::slice::from_ref(r)).unwrap(),
        down.score_batch(std::slice::from_ref(r)).unwrap(),
    );
    assert!(!close(&s_up[0], &s_down[0], 1e-4), "{s_up:?} {s_down:?}");

    // the setting and the projection's shape survive save and load; the binding does not
    let dir = tempfile::tempdir().unwrap();
    up.save(dir.path()).unwrap();
    let back = StarModel::load(dir.path(), &dev)
        .unwrap()
        .bind(&w.raw, Some(w.store.clone()));
    assert!(back.config().star.sequence_evidence);
    assert!(back.prompt(r).is_err());
    let back = back.with_sequence_evidence(Arc::new(ById(1.0)));
    let s_back = back.score_batch(std::slice::from_ref(r)).unwrap();
    assert!(close(&s_back[0], &s_up[0], 1e-5), "{s_back:?} {s_up:?}");
    // given before binding, it is kept by the binding
    let early = StarModel::load(dir.path(), &dev)
        .unwrap()
        .with_sequence_evidence(Arc::new(ById(1.0)))
        .bind(&w.raw, Some(w.store.clone()));
    let s_early = early.score_batch(std::slice::from_ref(r)).unwrap();
    assert!(close(&s_early[0], &s_up[0], 1e-5), "{s_early:?} {s_up:?}");
}

#[test]
fn an_ensemble_ranks_by_the_mean_of_its_members_log_softmax() {
    use star_model::model::StarEnsemble;
    let w = world();
    let d = device();
    let a = model(&w, EvidenceMode::Features, &d);
    let b = model(&w, EvidenceMode::Features, &d);
    let log_softmax = |s: &[f32]| -> Vec<f32> {
        let lse = s.iter().map(|x| x.exp()).sum::<f32>().ln();
        s.iter().map(|x| x - lse).collect()
    };
    let sa = a.score_batch(&w.requests).unwrap();
    let sb = b.score_batch(&w.requests).unwrap();
    assert_ne!(sa, sb, "the test needs two different students");

    // one member: its own scores and rankings, bit for bit
    let one = StarEnsemble::new(vec![a.clone()]).unwrap();
    assert_eq!(one.score_batch(&w.requests).unwrap(), sa);
    for r in &w.requests {
        assert_eq!(one.rank(r).unwrap(), a.rank(r).unwrap());
    }

    // two members: the mean of the two log-softmaxes, ranked by it
    let two = StarEnsemble::new(vec![a, b]).unwrap().with_name("pair");
    assert_eq!(two.name(), "pair");
    assert_eq!(two.members().len(), 2);
    let scores = two.score_batch(&w.requests).unwrap();
    let mut differs = false;
    for (i, r) in w.requests.iter().enumerate() {
        let mean: Vec<f32> = log_softmax(&sa[i])
            .iter()
            .zip(log_softmax(&sb[i]))
            .map(|(x, y)| (x + y) / 2.0)
            .collect();
        assert!(
            close(&scores[i], &mean, 1e-5),
            "{:?} vs {mean:?}",
            scores[i]
        );
        let ranked = two.rank(r).unwrap().items;
        assert_eq!(
            ranked,
            star_cf::Ranking::from_scores(&r.candidates, &mean).items
        );
        differs |= ranked != star_cf::Ranking::from_scores(&r.candidates, &sa[i]).items;
    }
    assert!(differs, "the second member never changed a ranking");
}
