//! Evaluation reports: the results JSON every script and plot reads, a Markdown table, and a
//! per-user JSONL dump for later analysis.
//!
//! The JSON has this shape (method keys in the order the methods were pushed; metric values
//! are fractions in `[0, 1]`):
//!
//! ```json
//! {"dataset": "movielens-100k", "split": "test", "candidates": 20, "seed": 42, "users": 943,
//!  "methods": {"Pop": {"metrics": {"HR@1": 0.21, "HR@3": 0.0, "HR@5": 0.0, "HR@10": 0.0,
//!                                  "NDCG@5": 0.0, "NDCG@10": 0.0, "MRR": 0.0, "avg_HR": 0.0,
//!                                  "valid_ratio": 1.0},
//!                      "latency_ms": {"p50": 0.0, "p95": 0.0}, "wall_s": 0.0,
//!                      "scenarios": {"cold_user": {"users": 0, "metrics": {},
//!                                                  "latency_ms": {"p50": 0.0, "p95": 0.0}}}}}}
//! ```
//!
//! `scenarios` holds every scenario except `classic` (that is `metrics`) when the run had a
//! scenario tagger; an empty slice has `"users": 0` and all-zero metrics and latency (`{}` and a
//! missing `latency_ms` are read as zeros).

mod markdown;
mod per_user;

use crate::error::{EvalError, Result};
use crate::metrics::Metrics;
use crate::paired::{self, Comparison, Resamples};
use crate::runner::{CaseResult, Latency, MethodResult, ScenarioResult};
use serde::{Deserialize, Serialize};
use star_cf::candidates::CandidateHeader;
use star_cf::fsutil::write_atomic;
use star_cf::split::SplitKind;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

/// One method's entry in a report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MethodReport {
    /// Mean metrics over all cases.
    pub metrics: Metrics,
    /// Percentiles of the per-case `rank` latency.
    pub latency_ms: Latency,
    /// Wall time of the whole run in seconds.
    pub wall_s: f64,
    /// Per scenario except `classic`: the slice's size and metrics.
    #[serde(default)]
    pub scenarios: BTreeMap<String, ScenarioResult>,
    /// Per-case results, kept in memory for [`EvalReport::per_user_jsonl`]. Not part of the
    /// JSON, so empty after [`EvalReport::load_json`].
    #[serde(skip)]
    pub cases: Vec<CaseResult>,
}

impl From<MethodResult> for MethodReport {
    fn from(r: MethodResult) -> Self {
        MethodReport {
            metrics: r.metrics,
            latency_ms: r.latency_ms,
            wall_s: r.wall_s,
            scenarios: r.scenarios,
            cases: r.cases,
        }
    }
}

/// All methods evaluated on one candidate file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Dataset name.
    pub dataset: String,
    /// Which held-out item the cases target (`"valid"` or `"test"`).
    pub split: SplitKind,
    /// Candidates per case (1 + negatives).
    pub candidates: usize,
    /// The candidate-sampling seed.
    pub seed: u64,
    /// Number of cases (one per user).
    pub users: usize,
    /// Method name → results, in insertion order (a JSON object on disk).
    #[serde(with = "ordered_methods")]
    pub methods: Vec<(String, MethodReport)>,
    /// Paired differences against reference methods ([`EvalReport::compare_against`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comparisons: Vec<Comparison>,
}

impl EvalReport {
    /// An empty report for the candidate file described by `header`.
    pub fn new(header: &CandidateHeader) -> EvalReport {
        EvalReport {
            dataset: header.dataset.clone(),
            split: header.split,
            candidates: header.num_candidates,
            seed: header.seed,
            users: header.cases,
            methods: Vec::new(),
            comparisons: Vec::new(),
        }
    }

    /// The method among `names` with the highest avg-HR (the first of equals), if any of them
    /// is in the report.
    pub fn strongest<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        let mut best: Option<(&str, f64)> = None;
        for name in names {
            if let Some(m) = self.method(name) {
                if best.is_none_or(|(_, b)| m.metrics.avg_hr > b) {
                    best = Some((name, m.metrics.avg_hr));
                }
            }
        }
        best.map(|(n, _)| n)
    }

    /// Adds the paired differences of every other method against `reference` (its `role`
    /// says why it is the reference, e.g. `strongest baseline`), on [`paired::COMPARED`] with
    /// bootstrap intervals over the cases ([`paired`]). A comparison against the same
    /// reference is replaced in place. Needs the per-case results (a report loaded from JSON has none).
    ///
    /// Errors: `reference` is not in the report, or a method's cases are not the reference's.
    pub fn compare_against(&mut self, reference: &str, role: &str) -> Result<()> {
        let Some(base) = self.method(reference) else {
            return Err(EvalError::Mismatch(format!(
                "no method `{reference}` in the report to compare against"
            )));
        };
        let resamples = Resamples::new(base.cases.len(), paired::RESAMPLES, paired::SEED);
        let mut methods = BTreeMap::new();
        for (name, m) in &self.methods {
            if name == reference {
                continue;
            }
            let d = paired::compare_cases((name, &m.cases), (reference, &base.cases), &resamples)?;
            methods.insert(name.clone(), d);
        }
        let comparison = Comparison {
            against: reference.to_string(),
            role: role.to_string(),
            resamples: paired::RESAMPLES,
            seed: paired::SEED,
            methods,
        };
        match self.comparisons.iter_mut().find(|c| c.against == reference) {
            Some(slot) => *slot = comparison,
            None => self.comparisons.push(comparison),
        }
        Ok(())
    }

    /// Adds a method's results. A method with the same name is replaced in place (with a
    /// warning), so the JSON object never holds a key twice.
    pub fn push(&mut self, result: MethodResult) {
        let name = result.name.clone();
        let entry = MethodReport::from(result);
        match self.methods.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => {
                tracing::warn!(method = %name, "method evaluated twice; keeping the later result");
                slot.1 = entry;
            }
            None => self.methods.push((name, entry)),
        }
    }

    /// The entry of a method by name.
    pub fn method(&self, name: &str) -> Option<&MethodReport> {
        self.methods.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }

    /// The report as pretty-printed JSON.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// Writes the JSON atomically: a temporary file in the same directory, then a rename.
    /// Parent directories are created.
    pub fn save_json(&self, path: &Path) -> Result<()> {
        write_atomic(path, |w| {
            serde_json::to_writer_pretty(&mut *w, self)?;
            w.write_all(b"\n")
        })?;
        Ok(())
    }

    /// Reads a report written by [`EvalReport::save_json`]; errors name the file.
    pub fn load_json(path: &Path) -> Result<EvalReport> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        serde_json::from_str(&text).map_err(|source| EvalError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a report like [`EvalReport::load_json`] and checks that it is complete, as a
    /// script or CI would want it: at least one method; every method's `metrics` and every
    /// non-empty scenario slice's `metrics` hold every key of [`Metrics::KEYS`] as a number in
    /// `[0, 1]` (a missing key is an error here, not a zero); `latency_ms` has finite
    /// `0 <= p50 <= p95`; `wall_s` is finite and non-negative. The error lists every problem.
    pub fn load_json_checked(path: &Path) -> Result<EvalReport> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        let json_err = |source| EvalError::Json {
            path: path.to_path_buf(),
            source,
        };
        let report: EvalReport = serde_json::from_str(&text).map_err(json_err)?;
        let raw: serde_json::Value = serde_json::from_str(&text).map_err(json_err)?;
        let mut problems = Vec::new();
        let empty = serde_json::Map::new();
        let methods = raw["methods"].as_object().unwrap_or(&empty);
        if methods.is_empty() {
            problems.push("no methods".to_string());
        }
        for (name, m) in methods {
            check_metrics(&mut problems, name, &m["metrics"]);
            check_latency(&mut problems, name, &m["latency_ms"]);
            if !m["wall_s"]
                .as_f64()
                .is_some_and(|w| w.is_finite() && w >= 0.0)
            {
                problems.push(format!("{name}: wall_s is not a non-negative number"));
            }
            for (scenario, slice) in m["scenarios"].as_object().into_iter().flatten() {
                if slice["users"].as_u64().unwrap_or(0) > 0 {
                    let at = format!("{name}, scenario {scenario}");
                    check_metrics(&mut problems, &at, &slice["metrics"]);
                    check_latency(&mut problems, &at, &slice["latency_ms"]);
                }
            }
        }
        if problems.is_empty() {
            Ok(report)
        } else {
            Err(EvalError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// The differences in accuracy between two reports: methods present in only one of them,
    /// and every metric (overall and per scenario slice, with the slice sizes) whose values
    /// differ by more than `tolerance` (0: bit-identical). Latency and wall time are not
    /// compared. Empty when the reports agree.
    pub fn accuracy_differences(&self, other: &EvalReport, tolerance: f64) -> Vec<String> {
        let mut out = Vec::new();
        for (header, a, b) in [
            ("dataset", self.dataset.clone(), other.dataset.clone()),
            ("split", self.split.to_string(), other.split.to_string()),
            ("users", self.users.to_string(), other.users.to_string()),
            ("seed", self.seed.to_string(), other.seed.to_string()),
        ] {
            if a != b {
                out.push(format!("{header}: {a} vs {b}"));
            }
        }
        let differ = |x: f64, y: f64| {
            if tolerance == 0.0 {
                x.to_bits() != y.to_bits()
            } else {
                (x - y).abs() > tolerance
            }
        };
        let compare = |out: &mut Vec<String>, at: &str, x: &Metrics, y: &Metrics| {
            for ((key, a), b) in Metrics::KEYS.iter().zip(x.values()).zip(y.values()) {
                if differ(a, b) {
                    out.push(format!("{at}: {key} {a} vs {b}"));
                }
            }
        };
        for (name, m) in &self.methods {
            let Some(o) = other.method(name) else {
                continue;
            };
            compare(&mut out, name, &m.metrics, &o.metrics);
            for (scenario, s) in &m.scenarios {
                let t = o.scenarios.get(scenario).cloned().unwrap_or_default();
                let at = format!("{name}, scenario {scenario}");
                if s.users != t.users {
                    out.push(format!("{at}: users {} vs {}", s.users, t.users));
                }
                compare(&mut out, &at, &s.metrics, &t.metrics);
            }
        }
        for (name, _) in &self.methods {
            if other.method(name).is_none() {
                out.push(format!("{name}: only in the first report"));
            }
        }
        for (name, _) in &other.methods {
            if self.method(name).is_none() {
                out.push(format!("{name}: only in the second report"));
            }
        }
        out
    }
}

fn check_metrics(problems: &mut Vec<String>, at: &str, metrics: &serde_json::Value) {
    for key in Metrics::KEYS {
        match metrics[key].as_f64() {
            Some(v) if (0.0..=1.0).contains(&v) => {}
            Some(v) => problems.push(format!("{at}: {key} = {v} is outside [0, 1]")),
            None => problems.push(format!("{at}: {key} is missing")),
        }
    }
}

fn check_latency(problems: &mut Vec<String>, at: &str, latency: &serde_json::Value) {
    match (latency["p50"].as_f64(), latency["p95"].as_f64()) {
        (Some(p50), Some(p95))
            if p50.is_finite() && p95.is_finite() && 0.0 <= p50 && p50 <= p95 => {}
        (Some(p50), Some(p95)) => problems.push(format!(
            "{at}: latency p50 {p50} / p95 {p95} is not 0 <= p50 <= p95"
        )),
        _ => problems.push(format!("{at}: latency_ms lacks p50 or p95")),
    }
}

/// (De)serialises `Vec<(String, MethodReport)>` as a JSON object that keeps insertion order
/// (serde_json's default map would sort the keys).
mod ordered_methods {
    use super::MethodReport;
    use serde::de::{Error as _, MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        methods: &[(String, MethodReport)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(methods.len()))?;
        for (name, m) in methods {
            map.serialize_entry(name, m)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, MethodReport)>, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Vec<(String, MethodReport)>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of method name → results")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, MethodReport)> = Vec::new();
                while let Some((name, m)) = map.next_entry::<String, MethodReport>()? {
                    if out.iter().any(|(n, _)| *n == name) {
                        return Err(A::Error::custom(format!("method `{name}` appears twice")));
                    }
                    out.push((name, m));
                }
                Ok(out)
            }
        }
        d.deserialize_map(Ordered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::CaseOutcome;
    use star_cf::scenario::Scenario;

    fn header() -> CandidateHeader {
        CandidateHeader {
            format: star_cf::candidates::FORMAT.into(),
            dataset: "movielens-100k".into(),
            fingerprint: "0".into(),
            split: SplitKind::Test,
            seed: 42,
            num_candidates: 20,
            cases: 2,
        }
    }

    fn result(name: &str, ranks: &[usize]) -> MethodResult {
        let cases = ranks
            .iter()
            .enumerate()
            .map(|(i, &rank)| CaseResult {
                user: star_cf::UserId(i as u32),
                user_raw: format!("u{i}"),
                rank,
                valid: true,
                latency_ms: 1.0 + i as f64,
                scenarios: if i == 0 {
                    vec![Scenario::Classic, Scenario::ColdUser]
                } else {
                    vec![Scenario::Classic]
                },
                error: None,
            })
            .collect();
        MethodResult::from_cases(name.into(), cases, 0.5, &Scenario::ALL)
    }

    #[test]
    fn methods_keep_insertion_order_and_round_trip() {
        let mut r = EvalReport::new(&header());
        r.push(result("Zeta", &[0, 3]));
        r.push(result("Alpha", &[1, 1]));
        let text = r.to_json_string();
        assert!(text.find("\"Zeta\"").unwrap() < text.find("\"Alpha\"").unwrap());
        let mut back: EvalReport = serde_json::from_str(&text).unwrap();
        // serde_json may parse a float 1 ULP off; compare the re-serialised numbers loosely.
        assert_eq!(back.methods.len(), 2);
        for ((n1, a), (n2, b)) in back.methods.iter().zip(&r.methods) {
            assert_eq!(n1, n2);
            for (x, y) in a.metrics.values().iter().zip(b.metrics.values()) {
                assert!((x - y).abs() < 1e-12);
            }
            assert_eq!(a.scenarios.len(), b.scenarios.len());
            assert!(a.cases.is_empty());
        }
        back.push(result("Zeta", &[2, 2]));
        assert_eq!(back.methods.len(), 2);
        assert_eq!(back.methods[0].0, "Zeta");
        assert_eq!(back.method("Zeta").unwrap().metrics.hr1, 0.0);
        let zeta = back.method("Alpha").unwrap();
        let expect = Metrics::from_outcomes(&[CaseOutcome {
            rank: 1,
            valid: true,
        }]);
        assert_eq!(zeta.metrics, expect);
        assert_eq!(zeta.scenarios["cold_user"].users, 1);
        assert_eq!(zeta.scenarios["cold_item"].users, 0);
        assert_eq!(zeta.scenarios["cold_item"].metrics, Metrics::default());
    }

    #[test]
    fn duplicate_method_keys_are_rejected_and_empty_metrics_read_as_zero() {
        let text = r#"{"dataset":"d","split":"valid","candidates":20,"seed":1,"users":0,
            "methods":{"A":{"metrics":{},"latency_ms":{"p50":0,"p95":0},"wall_s":0,
                            "scenarios":{"cold_user":{"users":0,"metrics":{}}}}}}"#;
        let r: EvalReport = serde_json::from_str(text).unwrap();
        assert_eq!(r.split, SplitKind::Valid);
        assert_eq!(r.methods[0].1.metrics, Metrics::default());
        let dup = r#"{"dataset":"d","split":"valid","candidates":20,"seed":1,"users":0,
            "methods":{"A":{"metrics":{},"latency_ms":{"p50":0,"p95":0},"wall_s":0},
                       "A":{"metrics":{},"latency_ms":{"p50":0,"p95":0},"wall_s":0}}}"#;
        let err = serde_json::from_str::<EvalReport>(dup).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
    }

    #[test]
    fn checked_load_lists_every_missing_or_bad_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let mut r = EvalReport::new(&header());
        r.push(result("A", &[0, 3]));
        r.push(result("B", &[1, 1]));
        r.save_json(&path).unwrap();
        assert_eq!(
            EvalReport::load_json_checked(&path).unwrap().methods.len(),
            2
        );

        let mut raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let a = &mut raw["methods"]["A"];
        a["metrics"].as_object_mut().unwrap().remove("MRR");
        a["metrics"]["HR@1"] = serde_json::json!(1.5);
        a["latency_ms"]["p95"] = serde_json::json!(0.1);
        raw["methods"]["B"]["scenarios"]["cold_user"]["metrics"]
            .as_object_mut()
            .unwrap()
            .remove("NDCG@10");
        std::fs::write(&path, raw.to_string()).unwrap();
        // The lenient reader takes it (missing keys read as zeros)…
        assert!(EvalReport::load_json(&path).is_ok());
        // …the checked one names every problem.
        let err = EvalReport::load_json_checked(&path)
            .unwrap_err()
            .to_string();
        for part in [
            "A: MRR is missing",
            "A: HR@1 = 1.5 is outside [0, 1]",
            "A: latency p50 1 / p95 0.1",
            "B, scenario cold_user: NDCG@10 is missing",
        ] {
            assert!(err.contains(part), "{part} not in {err}");
        }
        assert!(
            !err.contains("cold_item"),
            "empty slices are not checked: {err}"
        );
    }

    #[test]
    fn accuracy_differences_name_each_metric_and_method() {
        let mut a = EvalReport::new(&header());
        a.push(result("A", &[0, 3]));
        a.push(result("B", &[1, 1]));
        let mut b = a.clone();
        // Latency is not accuracy.
        b.methods[0].1.latency_ms.p50 = 99.0;
        assert!(a.accuracy_differences(&b, 0.0).is_empty());
        b.methods[0].1.metrics.hr1 = f64::from_bits(a.methods[0].1.metrics.hr1.to_bits() + 1);
        let d = a.accuracy_differences(&b, 0.0);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].starts_with("A: HR@1 0.5 vs 0.5000000000000001"),
            "{d:?}"
        );
        assert!(a.accuracy_differences(&b, 1e-9).is_empty());
        b.push(result("C", &[0, 0]));
        b.methods[1].1.scenarios.get_mut("cold_user").unwrap().users = 2;
        let d = a.accuracy_differences(&b, 1e-9);
        assert!(
            d.contains(&"B, scenario cold_user: users 1 vs 2".to_string()),
            "{d:?}"
        );
        assert!(
            d.contains(&"C: only in the second report".to_string()),
            "{d:?}"
        );
    }

    #[test]
    fn markdown_lists_methods_and_non_empty_scenarios_only() {
        let mut r = EvalReport::new(&header());
        r.push(result("Pop|x", &[0, 3]));
        let md = r.to_markdown();
        assert!(
            md.contains("| Pop\\|x | 50.00 | 50.00 | 100.00 | 100.00 |"),
            "{md}"
        );
        assert!(md.contains("### Scenario `cold_user`"));
        // The cold_user slice holds case 0 only (rank 0, latency 1 ms).
        assert!(
            md.contains(
                "| Pop\\|x | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 1.000 | 1.000 | 1 |"
            ),
            "{md}"
        );
        assert!(!md.contains("cold_item"));
        assert!(!md.contains("evolving_interest"));
    }
}
