//! The per-case results as JSON lines (`per_user.jsonl`), written and read back.

use super::EvalReport;
use crate::error::{EvalError, Result};
use crate::runner::CaseResult;
use serde::{Deserialize, Serialize};
use star_cf::fsutil::write_atomic;
use star_cf::scenario::Scenario;
use std::io::{BufRead, Write as _};
use std::path::Path;

/// One line of [`EvalReport::per_user_jsonl`].
#[derive(Serialize)]
struct PerUserLine<'a> {
    method: &'a str,
    user: &'a str,
    rank: usize,
    valid: bool,
    latency_ms: f64,
    scenarios: &'a [Scenario],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// One line of a per-user file as read back.
#[derive(Deserialize)]
struct PerUserRecord {
    method: String,
    user: String,
    rank: usize,
    valid: bool,
    latency_ms: f64,
    #[serde(default)]
    scenarios: Vec<Scenario>,
    #[serde(default)]
    error: Option<String>,
}

impl EvalReport {
    /// Writes one JSON line per case and method (`method`, `user` as the original id, `rank`,
    /// `valid`, `latency_ms`, `scenarios`, and `error` when the ranker failed), methods in
    /// report order and cases in candidate-file order. Methods loaded from JSON have no cases.
    pub fn per_user_jsonl(&self, path: &Path) -> Result<()> {
        write_atomic(path, |w| {
            for (method, m) in &self.methods {
                for c in &m.cases {
                    let line = PerUserLine {
                        method,
                        user: &c.user_raw,
                        rank: c.rank,
                        valid: c.valid,
                        latency_ms: c.latency_ms,
                        scenarios: &c.scenarios,
                        error: c.error.as_deref(),
                    };
                    serde_json::to_writer(&mut *w, &line)?;
                    w.write_all(b"\n")?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Reads the per-case results of a file [`EvalReport::per_user_jsonl`] wrote back into this
    /// report's methods (a report loaded from JSON has none), so that runs can be compared
    /// case by case. The file has no dense user ids: each method's cases are numbered in file
    /// order. Lines of methods the report does not hold are skipped.
    ///
    /// Errors: the file cannot be read, a line is not a per-user record (naming the line), or
    /// a method's case count differs from the report's user count.
    pub fn load_cases(&mut self, path: &Path) -> Result<()> {
        let file = std::fs::File::open(path).map_err(|e| EvalError::io(path, e))?;
        let mut cases: Vec<(String, Vec<CaseResult>)> = Vec::new();
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| EvalError::io(path, e))?;
            if line.trim().is_empty() {
                continue;
            }
            let r: PerUserRecord = serde_json::from_str(&line).map_err(|e| EvalError::Invalid {
                path: path.to_path_buf(),
                problems: vec![format!("line {}: not a per-user record: {e}", i + 1)],
            })?;
            let list = match cases.iter_mut().find(|(m, _)| *m == r.method) {
                Some((_, list)) => list,
                None => {
                    cases.push((r.method.clone(), Vec::new()));
                    &mut cases.last_mut().expect("just pushed").1
                }
            };
            list.push(CaseResult {
                user: star_cf::UserId(list.len() as u32),
                user_raw: r.user,
                rank: r.rank,
                valid: r.valid,
                latency_ms: r.latency_ms,
                scenarios: r.scenarios,
                error: r.error,
            });
        }
        for (method, list) in cases {
            let users = self.users;
            let Some((_, m)) = self.methods.iter_mut().find(|(n, _)| *n == method) else {
                continue;
            };
            if list.len() != users {
                return Err(EvalError::Invalid {
                    path: path.to_path_buf(),
                    problems: vec![format!(
                        "{method}: {} cases for a report of {users} users",
                        list.len()
                    )],
                });
            }
            m.cases = list;
        }
        Ok(())
    }
}
