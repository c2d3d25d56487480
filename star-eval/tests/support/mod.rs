//! Hand-made case results and reports shared by the report tests.

#![allow(dead_code)]

use star_cf::candidates::CandidateHeader;
use star_cf::split::SplitKind;
use star_eval::{CaseResult, EvalReport, MethodResult};

/// Case `i` is user `u{i}`, with the true item at `ranks[i]`.
pub fn cases(ranks: &[usize]) -> Vec<CaseResult> {
    let cases: Vec<serde_json::Value> = ranks
        .iter()
        .enumerate()
        .map(|(i, &rank)| {
            serde_json::json!({"user": i, "user_raw": format!("u{i}"), "rank": rank,
                               "valid": true, "latency_ms": 1.0, "scenarios": []})
        })
        .collect();
    serde_json::from_value(serde_json::Value::Array(cases)).expect("case results")
}

/// A method whose cases have the true item at `ranks`.
pub fn result(name: &str, ranks: &[usize]) -> MethodResult {
    MethodResult::from_cases(name.into(), cases(ranks), 0.5, &[])
}

/// A report on the candidates of protocol seed `seed`, one method per `(name, ranks)`.
pub fn report_of_seed(seed: u64, methods: &[(&str, &[usize])]) -> EvalReport {
    let n = methods[0].1.len();
    let mut r = EvalReport::new(&CandidateHeader {
        format: star_cf::candidates::FORMAT.into(),
        dataset: "tiny".into(),
        fingerprint: "0".into(),
        split: SplitKind::Test,
        seed,
        num_candidates: 20,
        cases: n,
    });
    for (name, ranks) in methods {
        r.push(result(name, ranks));
    }
    r
}

/// [`report_of_seed`] with the protocol seed 42.
pub fn report(methods: &[(&str, &[usize])]) -> EvalReport {
    report_of_seed(42, methods)
}
