//! The LLM-prompted teacher end to end against a local scripted OpenAI-compatible server that
//! also misbehaves: HTTP 500s, malformed JSON bodies, a slow answer past the client timeout,
//! unparseable analyst output and a ranking that is not a permutation. Every fault ends in a
//! retry, a repair or a counted invalid output; nothing panics. An endpoint that goes down
//! (dropping every connection) stops a teaching run with a clear error, keeping what it wrote.

use serde_json::{json, Value};
use star_agents::chat::openai::{OpenAiClient, OpenAiConfig};
use star_agents::episode::Step;
use star_agents::orchestrator::resources;
use star_agents::{EpisodeMeta, Teacher, TeacherConfig};
use star_cf::candidates::CandidateHeader;
use star_cf::evidence::{EvidenceConfig, EvidenceStore};
use star_cf::prelude::*;
use star_eval::ProtocolRunner;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn completion(message: Value) -> String {
    json!({"choices": [{"message": message, "finish_reason": "stop"}], "usage": {"prompt_tokens": 100, "completion_tokens": 20}}).to_string()
}

/// Answers like a (mediocre) model playing each role, with faults on a fixed schedule.
fn answer(n: usize, body: &Value) -> (u16, String, Duration) {
    match n % 17 {
        3 => return (500, "{\"error\": \"overloaded\"}".into(), Duration::ZERO),
        7 => return (200, "{\"choices\": [ {\"message\": ".into(), Duration::ZERO),
        11 => {
            return (
                200,
                completion(json!({"role": "assistant", "content": "late"})),
                Duration::from_millis(1500),
            )
        }
        _ => {}
    }
    let msgs = body["messages"].as_array().cloned().unwrap_or_default();
    let system = msgs
        .first()
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let user = msgs
        .get(1)
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let ids: Vec<String> = user
        .split("Candidates")
        .nth(1)
        .unwrap_or("")
        .split('[')
        .skip(1)
        .filter_map(|s| s.split(']').next().map(str::to_string))
        .collect();
    let content = if system.contains("You are the Planner") {
        "Plan: look at recent items. ```json\n{\"plan\": \"Focus on recent interest.\", \"weights\": {\"recent_interest\": 2}}\n```".to_string()
    } else if system.contains("analyst of a recommendation team") {
        let had_tool = msgs.iter().any(|m| m["role"] == "tool");
        if !had_tool && body.get("tools").is_some() {
            // one round of tool calls: one good, one with malformed arguments
            let first = ids.first().cloned().unwrap_or_default();
            return (
                200,
                completion(json!({"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "popularity", "arguments": json!({"item": first}).to_string()}},
                    {"id": "c2", "type": "function", "function": {"name": "item_info", "arguments": "{item: oops"}}
                ]})),
                Duration::ZERO,
            );
        }
        if system.contains("Interest-Divergence") {
            "I could not decide.".to_string() // no JSON at all
        } else {
            let claims: Vec<Value> = ids.iter().enumerate().map(|(i, id)| json!({"item": id, "weight": 1.0 - i as f64 / 20.0, "statement": "looks relevant", "call": 0, "field": "/popularity", "value": 1e9})).collect();
            json!({"summary": "ranked by gut feeling", "claims": claims}).to_string()
        }
    } else if system.contains("You are the Reflector") {
        "{\"verdict\": \"Some claims look off.\", \"revise\": [\"recent_interest\", \"nonsense\"]}"
            .to_string()
    } else if system.contains("You are the Ranker") {
        // not a permutation: a duplicate, an unknown id and a missing candidate
        let mut r: Vec<String> = ids.iter().skip(1).cloned().collect();
        r.insert(1, r[0].clone());
        r.push("no-such-item".into());
        json!({"ranking": r, "justification": "trust me"}).to_string()
    } else {
        "?".to_string()
    };
    (
        200,
        completion(json!({"role": "assistant", "content": content})),
        Duration::ZERO,
    )
}

fn serve() -> (String, Arc<AtomicUsize>) {
    let (url, count, _) = serve_with(true);
    (url, count)
}

/// The scripted server, with the scheduled faults or without; while the returned flag is set
/// it reads each request and drops the connection without an answer.
fn serve_with(faults: bool) -> (String, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let (c, d) = (count.clone(), down.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let n = c.fetch_add(1, Ordering::SeqCst);
            let down = d.load(Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                if down {
                    return; // the connection drops without an answer
                }
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let (status, text, delay) = answer(if faults { n } else { 0 }, &body);
                std::thread::sleep(delay);
                let mut s = stream;
                let _ = write!(s, "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len());
            });
        }
    });
    (format!("http://{addr}/v1"), count, down)
}

#[test]
fn the_llm_teacher_survives_a_misbehaving_server() {
    let ds = Arc::new(
        star_cf::data::synthetic::generate(&star_cf::data::synthetic::SyntheticConfig {
            users: 40,
            items: 150,
            seed: 8,
            ..Default::default()
        })
        .unwrap(),
    );
    let split = Split::temporal_leave_one_out(&ds);
    let store = Arc::new(EvidenceStore::build(&ds, &split, EvidenceConfig::default()));
    let cands = CandidateSet::sample(&ds, &split, SplitKind::Test, 19, 42).unwrap();
    let (url, requests) = serve();
    let mut cfg = OpenAiConfig::new(url, "scripted");
    cfg.timeout = Duration::from_millis(700);
    cfg.backoff = Duration::from_millis(1);
    cfg.max_retries = 3;
    let client = Arc::new(OpenAiClient::new(cfg));
    let teacher = Teacher::llm(
        resources(ds.clone(), &split, store.clone(), None),
        client,
        TeacherConfig::default(),
    );

    // One episode, inspected.
    let ep = teacher
        .run(
            &cands.request(0, &split),
            &EpisodeMeta {
                id: "test:0".parse().unwrap(),
                split: "test".into(),
                target: Some(cands.cases[0].target()),
            },
        )
        .unwrap();
    assert_eq!(ep.teacher, "teacher-llm");
    assert!(!ep.valid, "the scripted ranker never returns a permutation");
    let mut ranking = ep.ranking.clone();
    ranking.sort();
    let mut expected = ep.candidates.clone();
    expected.sort();
    assert_eq!(ranking, expected, "repaired into a permutation");
    assert!(
        ep.stats.chat_calls >= 6 && ep.stats.tokens >= 600,
        "{:?}",
        ep.stats
    );
    // the malformed tool arguments came back as an error to the model, not a panic
    assert!(ep
        .steps
        .iter()
        .any(|s| matches!(s, Step::ToolCall { name, .. } if name == "popularity")));
    // the misquoted values (1e9 users) were caught and sent back
    let first = ep
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Reflection { flags, text, .. } => Some((*flags, text.clone())),
            _ => None,
        })
        .unwrap();
    assert!(first.0 > 0 && first.1.contains("contradicted"), "{first:?}");
    assert!(ep.stats.revisions >= 1);

    // Many cases through the protocol runner: every fault is absorbed, and counted.
    let repair = star_eval::baselines::Pop::new(store.clone());
    let sub = CandidateSet {
        header: CandidateHeader {
            cases: 6,
            ..cands.header.clone()
        },
        cases: cands.cases[..6].to_vec(),
    };
    let runner_sub = ProtocolRunner::new(&ds, &split, &sub, &repair, None)
        .unwrap()
        .threads(2);
    let r = runner_sub.run(&teacher);
    assert_eq!(r.cases.len(), 6);
    assert_eq!(r.metrics.valid_ratio, 0.0);
    assert!(r.cases.iter().all(|c| c.rank < 20));
    assert!(
        requests.load(Ordering::SeqCst) > 40,
        "retries happened: {} requests",
        requests.load(Ordering::SeqCst)
    );
}

#[test]
fn an_endpoint_that_goes_down_stops_teaching_and_a_rerun_continues() {
    use star_agents::teach::{teach, training_jobs, Shard, TeachError, MAX_FAILURES_IN_A_ROW};
    use star_agents::trajectory::TrajectoryWriter;
    let ds = Arc::new(
        star_cf::data::synthetic::generate(&star_cf::data::synthetic::SyntheticConfig {
            users: 30,
            items: 500,
            seed: 8,
            ..Default::default()
        })
        .unwrap(),
    );
    let split = Split::temporal_leave_one_out(&ds);
    let store = Arc::new(EvidenceStore::build(&ds, &split, EvidenceConfig::default()));
    let (url, requests, down) = serve_with(false);
    let mut cfg = OpenAiConfig::new(url, "scripted");
    cfg.backoff = Duration::from_millis(1);
    cfg.max_retries = 2;
    let teacher = Teacher::llm(
        resources(ds.clone(), &split, store, None),
        Arc::new(OpenAiClient::new(cfg)),
        TeacherConfig::default(),
    );
    let jobs = training_jobs(&ds, &split, 1, 200, 19, 7);
    assert_eq!(jobs.len(), 30);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("teacher-llm-train.jsonl");
    let stop = AtomicBool::new(false);

    // the endpoint goes down after 60 requests (a few episodes)
    let watcher = {
        let (requests, down) = (requests.clone(), down.clone());
        std::thread::spawn(move || {
            while requests.load(Ordering::SeqCst) < 60 {
                std::thread::sleep(Duration::from_millis(1));
            }
            down.store(true, Ordering::SeqCst);
        })
    };
    let mut writer = TrajectoryWriter::open(&path).unwrap();
    let err = teach(&teacher, &jobs, Shard::ALL, &mut writer, 1, &stop, &|| {}).unwrap_err();
    watcher.join().unwrap();
    let written = writer.len();
    drop(writer);
    let msg = err.to_string();
    assert!(
        matches!(err, TeachError::FailingInARow { failed, .. } if failed == MAX_FAILURES_IN_A_ROW),
        "{msg}"
    );
    assert!(
        (1..30).contains(&written),
        "{written} episodes before the endpoint went down"
    );
    assert!(
        msg.contains(&format!("the {written} episodes in"))
            && msg.contains("teacher-llm-train.jsonl")
            && msg.contains("rerunning the same command continues"),
        "{msg}"
    );
    assert_eq!(
        star_agents::trajectory::read_episodes(&path).unwrap().len(),
        written,
        "what was written before is kept"
    );

    // back up: the rerun runs only the rest
    down.store(false, Ordering::SeqCst);
    let mut writer = TrajectoryWriter::open(&path).unwrap();
    let go = AtomicBool::new(false);
    let summary = teach(&teacher, &jobs, Shard::ALL, &mut writer, 1, &go, &|| {}).unwrap();
    assert_eq!(summary.skipped, written);
    assert_eq!(summary.written + summary.skipped, 30);
    let ids: std::collections::HashSet<star_agents::Origin> =
        star_agents::trajectory::read_episodes(&path)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
    assert_eq!(ids.len(), 30, "every episode once");
}
