//! The small world the distillation tests (and the cross-backend test) train in: a synthetic
//! dataset, a handful of rule-teacher episodes, and a tiny student over them.

#![allow(dead_code)] // each test file uses a part

use burn::prelude::*;
use star_agents::episode::Episode;
use star_agents::orchestrator::resources;
use star_agents::teach::{candidate_jobs, training_jobs, TeachJob};
use star_agents::{Teacher, TeacherConfig};
use star_cf::candidates::CandidateSet;
use star_cf::data::synthetic::{generate, SyntheticConfig};
use star_cf::data::Dataset;
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::split::{Split, SplitKind};
use star_model::model::{ModelConfig, StarConfig, StarModel};
use star_model::student::{DecoderConfig, StarTokenizer};
use star_train::distill::{
    sample_from_episode, student_trajectory, tokenize, DistillItem, TrajectoryView,
};
use std::sync::Arc;

/// The dataset, its split and evidence, and the teacher's episodes with their jobs.
pub struct World {
    pub ds: Arc<Dataset>,
    pub split: Split,
    pub store: Arc<EvidenceStore>,
    pub episodes: Vec<Episode>,
    pub jobs: Vec<TeachJob>,
}

/// 30 synthetic users; 4 training episodes and 2 validation ones of the rule teacher.
pub fn world() -> World {
    let ds = Arc::new(
        generate(&SyntheticConfig {
            users: 30,
            items: 120,
            seed: 3,
            ..Default::default()
        })
        .unwrap(),
    );
    let split = Split::temporal_leave_one_out(&ds);
    let store = Arc::new(EvidenceStore::build(&ds, &split, EvidenceConfig::default()));
    let res = resources(ds.clone(), &split, store.clone(), None);
    let teacher = Teacher::rule_based(res, TeacherConfig::default());
    let mut jobs = training_jobs(&ds, &split, 1, 50, 9, 7);
    jobs.truncate(4);
    let cands = CandidateSet::sample(&ds, &split, SplitKind::Valid, 9, 42).unwrap();
    jobs.extend(candidate_jobs(&ds, &split, &cands).into_iter().take(2));
    let episodes = jobs
        .iter()
        .map(|j| teacher.run(&j.request, &j.meta).unwrap())
        .collect();
    World {
        ds,
        split,
        store,
        episodes,
        jobs,
    }
}

/// A tiny student (width 32) with a tokenizer trained on `texts`, bound to `w`'s items.
pub fn model(w: &World, texts: &[String], device: &Device) -> StarModel {
    let tok = StarTokenizer::train(texts.iter().cloned(), 500).unwrap();
    let raw: Vec<String> = w.ds.items.iter().map(|i| i.raw_id.clone()).collect();
    let mut star = StarConfig::new(raw.clone(), 8);
    star.rank_dim = 16;
    star.history = 8;
    let mut dec = DecoderConfig::student(tok.vocab_size());
    dec.hidden_size = 32;
    dec.intermediate_size = 64;
    let cf = Tensor::random([raw.len(), 8], burn::tensor::Distribution::Default, device);
    StarModel::init(ModelConfig::new(dec, star), tok, cf, device)
        .unwrap()
        .bind(&raw, Some(w.store.clone()))
}

/// A trajectory view with short segments and at most 2 tool calls.
pub fn short() -> TrajectoryView {
    TrajectoryView {
        max_segment_chars: 30,
        max_tool_calls: 2,
        ..Default::default()
    }
}

/// The first 4 episodes as tokenized training items.
pub fn items(w: &World, m: &StarModel) -> Vec<DistillItem> {
    w.episodes
        .iter()
        .take(4)
        .map(|ep| {
            tokenize(
                m,
                &sample_from_episode(ep, &w.ds, &w.split, &short()).unwrap(),
            )
            .unwrap()
        })
        .collect()
}

/// The episodes' student trajectories (the tokenizer's corpus).
pub fn corpus(w: &World) -> Vec<String> {
    w.episodes
        .iter()
        .map(|ep| student_trajectory(ep, &short()))
        .collect()
}
