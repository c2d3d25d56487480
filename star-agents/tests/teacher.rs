//! The teacher: each tool on a hand-checkable fixture, an episode's step order and tags, and
//! the reflector catching a planted contradiction.

use serde_json::{json, Value};
use star_agents::episode::Step;
use star_agents::orchestrator::{resources, Roles};
use star_agents::roles::rule::{RuleAnalyst, RulePlanner, RuleRanker, RuleReflector};
use star_agents::roles::{
    Analysis, Analyst, AnalystKind, Claim, Fact, FlagKind, Revision, RoleError, ToolEnv,
};
use star_agents::tools::{ToolContext, ToolRegistry, ToolResources};
use star_agents::{EpisodeMeta, Teacher, TeacherConfig};
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::prelude::*;
use std::sync::Arc;

/// [`star_cf::data::hand`]: train sets a: x y z   b: x y   c: y z w   d: x w   e: x y z
/// (p, q are everybody's held-out items).
fn hand() -> (Arc<Dataset>, Split, ToolResources) {
    let ds = Arc::new(star_cf::data::hand::dataset());
    let split = Split::temporal_leave_one_out(&ds);
    let store = Arc::new(EvidenceStore::build(&ds, &split, EvidenceConfig::default()));
    let res = resources(ds.clone(), &split, store, None);
    (ds, split, res)
}

#[test]
fn each_tool_answers_from_the_fixture() {
    let (ds, _split, res) = hand();
    let it = |r: &str| ds.item_by_raw(r).unwrap();
    let e = ds.user_by_raw("e").unwrap();
    // e's training sample: history [x, y], candidates z and w
    let req = RankRequest {
        user: e,
        history: vec![it("x"), it("y")],
        candidates: vec![it("z"), it("w")],
    };
    let ctx = ToolContext {
        res: &res,
        request: &req,
    };
    let tools = ToolRegistry::standard();
    let call = |name: &str, args: serde_json::Value| tools.call(&ctx, name, &args).unwrap();

    let h = call("user_history", json!({"limit": 1}));
    assert_eq!(h.data["length"], 2);
    assert_eq!(h.data["recent"].as_array().unwrap().len(), 1);
    assert_eq!(h.data["recent"][0]["id"], "y");
    // genre mix: x Drama 1, y Drama 0.5 + Comedy 0.5 -> Drama 0.75, Comedy 0.25
    assert_eq!(h.data["genres"][0]["genre"], "Drama");
    assert!((h.data["genres"][0]["share"].as_f64().unwrap() - 0.75).abs() < 1e-9);

    let info = call("item_info", json!({"item": "z"}));
    assert_eq!(info.data["title"], "Zed");
    assert_eq!(info.data["popularity"], 2); // a, c (e left out)
    assert!(info.text.contains("[z] Zed (1992)"));

    let pop = call("popularity", json!({"item": "w"}));
    assert_eq!(pop.data["popularity"], 2);

    let icf = call("item_cf", json!({"item": "y", "k": 5}));
    // y's users without e: a, b, c -> x {a,b} 2, z {a,c} 2, w {c} 1
    let nbrs = icf.data["neighbors"].as_array().unwrap();
    let count = |id: &str| {
        nbrs.iter()
            .find(|n| n["id"] == id)
            .map(|n| n["co_occurrence"].as_u64().unwrap())
    };
    assert_eq!(
        (count("x"), count("z"), count("w")),
        (Some(2), Some(2), Some(1))
    );
    assert_eq!(
        nbrs.iter().find(|n| n["id"] == "z").unwrap()["candidate"],
        true
    );

    let ucf = call("user_cf", json!({}));
    assert_eq!(ucf.data["k"], 4);
    assert_eq!(ucf.data["hits"]["z"], 2); // a, c
    assert_eq!(ucf.data["hits"]["w"], 2); // c, d

    let ev = call("candidate_evidence", json!({"item": "z"}));
    assert_eq!(ev.data["anchor"]["id"], "y");
    assert_eq!(ev.data["anchor"]["count"], 2);
    assert_eq!(ev.data["user_cf_hits"], 2);
    assert!(
        ev.text
            .contains("2 of the 4 users closest to you watched Zed (1992)."),
        "{}",
        ev.text
    );

    // cf_score without a model, and bad arguments, are errors, not panics
    assert!(tools
        .call(&ctx, "cf_score", &json!({"item": "z"}))
        .unwrap_err()
        .to_string()
        .contains("no trained CF model"));
    assert!(tools
        .call(&ctx, "item_info", &json!({"item": "nope"}))
        .unwrap_err()
        .to_string()
        .contains("unknown item id `nope`"));
    assert!(tools
        .call(&ctx, "item_info", &json!({}))
        .unwrap_err()
        .to_string()
        .contains("missing `item`"));
    assert!(tools.call(&ctx, "teleport", &json!({})).is_err());
    assert!(!ToolRegistry::standard()
        .without_cst()
        .has("candidate_evidence"));
    assert!(ToolRegistry::standard().without_cst().has("item_info"));
}

#[test]
fn cf_score_refuses_training_samples_and_answers_evaluation_requests() {
    use burn::prelude::*;
    let (ds, split, mut res) = hand();
    let dev = Device::flex();
    let (nu, ni) = (ds.num_users(), ds.num_items());
    // user vectors (1, 0); item i has vector (i, 0) -> score = i
    let users = Tensor::<2>::from_data(TensorData::new([1.0f32, 0.0].repeat(nu), [nu, 2]), &dev);
    let items: Vec<f32> = (0..ni).flat_map(|i| [i as f32, 0.0]).collect();
    let items = Tensor::<2>::from_data(TensorData::new(items, [ni, 2]), &dev);
    let emb = star_model::cf::CfEmbeddings::new(users, items);
    res.cf = Some(Arc::new(
        star_model::cf::EmbeddingRanker::new("BPR-MF", &emb).unwrap(),
    ));
    let it = |r: &str| ds.item_by_raw(r).unwrap();
    let e = ds.user_by_raw("e").unwrap();
    let tools = ToolRegistry::standard();
    let prefix = RankRequest {
        user: e,
        history: vec![it("x")],
        candidates: vec![it("z"), it("w")],
    };
    let err = tools
        .call(
            &ToolContext {
                res: &res,
                request: &prefix,
            },
            "cf_score",
            &json!({"item": "z"}),
        )
        .unwrap_err();
    assert!(err.to_string().contains("later interactions"), "{err}");
    let eval = split.request(e, SplitKind::Test, vec![it("z"), it("w")]);
    let out = tools
        .call(
            &ToolContext {
                res: &res,
                request: &eval,
            },
            "cf_score",
            &json!({"item": "w"}),
        )
        .unwrap();
    assert_eq!(out.data["score"].as_f64().unwrap(), it("w").0 as f64);
    let expect_rank = if it("w").0 > it("z").0 { 1 } else { 2 };
    assert_eq!(out.data["rank"], expect_rank);
}

fn synthetic() -> (Arc<Dataset>, Split, ToolResources, CandidateSet) {
    let ds = Arc::new(
        star_cf::data::synthetic::generate(&star_cf::data::synthetic::SyntheticConfig {
            users: 80,
            items: 200,
            seed: 2,
            ..Default::default()
        })
        .unwrap(),
    );
    let split = Split::temporal_leave_one_out(&ds);
    let store = Arc::new(EvidenceStore::build(&ds, &split, EvidenceConfig::default()));
    let res = resources(ds.clone(), &split, store, None);
    let cands = CandidateSet::sample(&ds, &split, SplitKind::Test, 19, 42).unwrap();
    (ds, split, res, cands)
}

#[test]
fn an_episode_has_the_steps_in_order_and_the_tags() {
    let (_ds, split, res, cands) = synthetic();
    let teacher = Teacher::rule_based(res, TeacherConfig::default());
    let req = cands.request(0, &split);
    let meta = EpisodeMeta {
        id: "test:x".parse().unwrap(),
        split: "test".into(),
        target: Some(cands.cases[0].target()),
    };
    let ep = teacher.run(&req, &meta).unwrap();
    assert!(matches!(ep.steps.first(), Some(Step::Plan { .. })));
    assert!(matches!(ep.steps.last(), Some(Step::Recommend { .. })));
    // every tool call is answered by the next step
    for w in ep.steps.windows(2) {
        if let Step::ToolCall { name, .. } = &w[0] {
            assert!(matches!(&w[1], Step::ToolResponse { name: n, .. } if n == name));
        }
    }
    // all four analysts reported, then the reflector
    let first_reflection = ep
        .steps
        .iter()
        .position(|s| matches!(s, Step::Reflection { .. }))
        .unwrap();
    for kind in AnalystKind::ALL {
        let at = ep
            .steps
            .iter()
            .position(|s| matches!(s, Step::Analysis { analyst, round: 0, .. } if *analyst == kind))
            .unwrap();
        assert!(at < first_reflection);
    }
    // the text holds the segments in the same order
    let tags: Vec<&str> = ep
        .text
        .lines()
        .map(|l| &l[1..l.find('>').unwrap()])
        .collect();
    assert_eq!(tags.first(), Some(&"plan"));
    assert_eq!(tags.last(), Some(&"recommend"));
    assert_eq!(tags.len(), ep.steps.len());
    for l in ep.text.lines() {
        let tag = &l[1..l.find('>').unwrap()];
        assert!(l.ends_with(&format!("</{tag}>")), "{l}");
        assert!([
            "plan",
            "tool_call",
            "tool_response",
            "reflection",
            "recommend"
        ]
        .contains(&tag));
    }
    // the ranking is a permutation of the candidates; the target's rank is recorded
    let mut a = ep.ranking.clone();
    let mut b = ep.candidates.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(ep.target_rank.is_some());
    assert!(ep.stats.tool_calls > 0 && ep.stats.tokens > 0);

    // without reflection: no reflection step and no revision
    let teacher = Teacher::rule_based(teacher.resources().clone(), TeacherConfig::default())
        .without_reflection();
    let ep = teacher.run(&req, &meta).unwrap();
    assert!(!ep
        .steps
        .iter()
        .any(|s| matches!(s, Step::Reflection { .. })));
    assert_eq!(teacher.name(), "teacher-no-reflection");
}

/// An analyst that misquotes a tool result on its first pass and corrects itself when told.
struct Misquoting;

impl Analyst for Misquoting {
    fn kind(&self) -> AnalystKind {
        AnalystKind::HistoricalInterest
    }
    fn analyse(&self, env: &mut ToolEnv, revise: Option<Revision>) -> Result<Analysis, RoleError> {
        let ep = env.view;
        let cands = ep.ctx.request.candidates.clone();
        let calls: Vec<_> = cands
            .iter()
            .map(|&c| ("popularity", json!({"item": ep.ctx.raw(c)})))
            .collect();
        let outs = env.turn(&calls).map_err(|e| RoleError::Failed {
            role: "test".into(),
            message: e.to_string(),
        })?;
        let told =
            revise.is_some_and(|r| r.flags.iter().any(|f| f.kind == FlagKind::Contradiction));
        let claims = outs
            .into_iter()
            .zip(&cands)
            .map(|((i, o), &c)| {
                let real = o.unwrap().data["popularity"].as_f64().unwrap();
                // the planted contradiction: the first candidate's popularity inflated by 1000
                let value = if c == cands[0] && !told {
                    real + 1000.0
                } else {
                    real
                };
                Claim {
                    candidate: c,
                    weight: 0.1,
                    statement: format!("{value} users"),
                    fact: Some(Fact {
                        call: i,
                        pointer: "/popularity".into(),
                        value,
                    }),
                }
            })
            .collect();
        Ok(Analysis {
            analyst: self.kind(),
            claims,
            examined: cands,
            summary: if told {
                "corrected".into()
            } else {
                "first pass".into()
            },
        })
    }
}

#[test]
fn the_reflector_catches_a_planted_contradiction_and_triggers_a_revision() {
    let (_ds, split, res, cands) = synthetic();
    let teacher = Teacher::new(
        "planted",
        Roles {
            planner: Box::new(RulePlanner),
            analysts: vec![
                Box::new(Misquoting),
                Box::new(RuleAnalyst::new(AnalystKind::UserProfile)),
            ],
            reflector: Box::new(RuleReflector),
            ranker: Box::new(RuleRanker),
        },
        ToolRegistry::standard(),
        res,
        TeacherConfig::default(),
    );
    let ep = teacher
        .run(
            &cands.request(3, &split),
            &EpisodeMeta {
                id: "test:3".parse().unwrap(),
                split: "test".into(),
                target: None,
            },
        )
        .unwrap();
    let reflections: Vec<(usize, &String)> = ep
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Reflection { flags, text, .. } => Some((*flags, text)),
            _ => None,
        })
        .collect();
    assert!(
        reflections[0].0 >= 1 && reflections[0].1.contains("1 contradicted"),
        "{:?}",
        reflections[0]
    );
    assert!(ep.steps.iter().any(|s| matches!(s, Step::Analysis { analyst: AnalystKind::HistoricalInterest, round: 1, text } if text == "corrected")));
    assert_eq!(
        reflections.last().unwrap().0,
        0,
        "the revision fixed it: {:?}",
        reflections.last()
    );
    assert_eq!(ep.stats.revisions, 1);
}

#[test]
fn the_student_calls_the_same_tools_as_the_teacher() {
    use star_model::model::ToolExecutor;
    let (ds, split, res, cands) = synthetic();
    let request = cands.request(0, &split);
    let tools = star_agents::tools::StudentTools {
        registry: ToolRegistry::standard(),
        resources: res.clone(),
    };
    let item = &ds.items[request.candidates[0].idx()].raw_id;
    let args = json!({"item": item});
    let ctx = ToolContext {
        res: &res,
        request: &request,
    };
    let direct = ToolRegistry::standard()
        .call(&ctx, "candidate_evidence", &args)
        .unwrap()
        .text;
    assert_eq!(
        tools.call(&request, "candidate_evidence", &args).unwrap(),
        direct
    );
    let err = tools.call(&request, "no_such_tool", &args).unwrap_err();
    assert!(err.contains("no_such_tool"), "{err}");
}

#[test]
fn training_jobs_before_leave_out_the_last_positions_and_keep_their_candidates() {
    use star_agents::teach::{training_jobs, training_jobs_before};
    let (ds, split, _, _) = synthetic();
    let all = training_jobs(&ds, &split, 8, 50, 19, 7);
    let before = training_jobs_before(&ds, &split, 3, 5, 50, 19, 7);
    assert!(!before.is_empty());
    for job in &before {
        let train = &split.users[job.request.user.idx()].train;
        let star_agents::Origin::Train { position: t, .. } = job.meta.id else {
            panic!("{} is no training sample", job.meta.id)
        };
        assert!(
            t + 5 < train.len() && t + 8 >= train.len(),
            "{}",
            job.meta.id
        );
        assert_eq!(job.meta.target, Some(train[t]));
        // the same position drawn by the wider call has the same candidates and history
        let same = all.iter().find(|j| j.meta.id == job.meta.id).unwrap();
        assert_eq!(same.request, job.request);
    }
    // three positions per user where there are that many before the last five (position 0
    // has no history and is never a target)
    let want: usize = split
        .users
        .iter()
        .map(|u| u.train.len().saturating_sub(5).saturating_sub(1).min(3))
        .sum();
    assert_eq!(before.len(), want);
}

#[test]
fn episodes_that_break_their_promises_are_refused_naming_the_line() {
    // Found by star-train/tests/trajectories.rs: a `target_rank` of 10^12 made the outcome
    // filter allocate 8 TB (abort), and u64::MAX overflowed.
    use star_agents::trajectory::{filter_file, read_episodes, FilterConfig};
    let (_, split, res, cands) = synthetic();
    let teacher = Teacher::rule_based(res, TeacherConfig::default());
    let meta = EpisodeMeta {
        id: "test:0".parse().unwrap(),
        split: "test".into(),
        target: Some(cands.cases[0].target()),
    };
    let ep = teacher.run(&cands.request(0, &split), &meta).unwrap();
    ep.check().unwrap();
    let good = serde_json::to_string(&ep).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    for (field, value, says) in [
        (
            "target_rank",
            json!(1_000_000_000_000u64),
            "target_rank 1000000000000",
        ),
        (
            "target_rank",
            json!(u64::MAX),
            "target_rank 18446744073709551615",
        ),
        ("ranking", json!(["nope"]), "not a permutation"),
        ("target_rank", Value::Null, "a target without a target_rank"),
    ] {
        let mut bad: Value = serde_json::from_str(&good).unwrap();
        bad[field] = value;
        std::fs::write(&path, format!("{good}\n{bad}\n")).unwrap();
        let err = read_episodes(&path).unwrap_err().to_string();
        assert!(err.contains("t.jsonl:2:") && err.contains(says), "{err}");
        let err = filter_file(&path, &dir.path().join("k.jsonl"), &FilterConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.jsonl:2:"), "{err}");
    }
}

/// A sequential model for the tests: scores an item by its index times `sign`.
struct ByIndex(&'static str, f32);

impl Ranker for ByIndex {
    fn name(&self) -> String {
        self.0.into()
    }
    fn rank(&self, r: &RankRequest) -> Result<Ranking, RankError> {
        let scores: Vec<f32> = r.candidates.iter().map(|c| self.1 * c.0 as f32).collect();
        Ok(Ranking::from_scores(&r.candidates, &scores))
    }
}

#[test]
fn sequence_score_answers_each_request_from_a_model_that_never_trained_on_its_target() {
    use star_agents::tools::SequenceModels;
    let (ds, split, res) = hand();
    let it = |r: &str| ds.item_by_raw(r).unwrap();
    let e = ds.user_by_raw("e").unwrap();
    let tools = ToolRegistry::standard();
    let ask = |res: &ToolResources, request: &RankRequest| {
        tools.call(&ToolContext { res, request }, "sequence_score", &json!({}))
    };
    // a prefix of e's train sequence, and e's test request
    let prefix = RankRequest {
        user: e,
        history: vec![it("x")],
        candidates: vec![it("z"), it("w")],
    };
    let test = split.request(e, SplitKind::Test, vec![it("z"), it("w")]);
    // no model loaded
    let err = ask(&res, &test).unwrap_err().to_string();
    assert!(err.contains("no trained sequential model"), "{err}");
    // the whole-split model only: evaluation requests get its answer, training samples none
    let full = res.clone().with_sequence(SequenceModels {
        train: None,
        eval: Arc::new(ByIndex("up", 1.0)),
    });
    let err = ask(&full, &prefix).unwrap_err().to_string();
    assert!(err.contains("later interactions"), "{err}");
    let out = ask(&full, &test).unwrap();
    assert_eq!(out.data["model"], "up");
    let rows = out.data["candidates"].as_array().unwrap();
    let (hi, lo) = if it("z").0 > it("w").0 {
        ("z", "w")
    } else {
        ("w", "z")
    };
    assert_eq!(rows[0]["id"], hi);
    assert_eq!(rows[0]["rank"], 1);
    assert_eq!(rows[1]["id"], lo);
    // probabilities: a softmax of the scores over the candidates
    let p: Vec<f64> = rows
        .iter()
        .map(|r| r["probability"].as_f64().unwrap())
        .collect();
    let gap = (it("z").0 as f64 - it("w").0 as f64).abs();
    // (f32, as the student's feature)
    assert!((p[0] + p[1] - 1.0).abs() < 1e-6);
    assert!((p[1] / p[0] - (-gap).exp()).abs() < 1e-6);
    assert!(
        out.text.starts_with("up ranks 2 candidates: #1 ["),
        "{}",
        out.text
    );
    // with fold models, training samples are answered by them
    let crossed = res.clone().with_sequence(SequenceModels {
        train: Some(Arc::new(ByIndex("down", -1.0))),
        eval: Arc::new(ByIndex("up", 1.0)),
    });
    let out = ask(&crossed, &prefix).unwrap();
    assert_eq!(out.data["model"], "down");
    assert_eq!(out.data["candidates"][0]["id"], lo);
    assert_eq!(ask(&crossed, &test).unwrap().data["model"], "up");
    // the no-CST ablation goes without it, as without the other learned models
    assert!(!tools.without_cst().has("sequence_score"));
}
