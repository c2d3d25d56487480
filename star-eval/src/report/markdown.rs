//! The report as Markdown: the main table, one table per paired comparison, one per scenario
//! slice.

use super::EvalReport;
use crate::metrics::Metrics;
use crate::paired::{self, Difference};
use crate::runner::Latency;
use star_cf::scenario::Scenario;
use std::fmt::Write as _;

impl EvalReport {
    /// The report as Markdown: a header line, the main table (metrics ×100 with 2 decimals,
    /// `valid` = % valid outputs, latency percentiles of one `rank` call, wall time of the
    /// run), one table per paired comparison ([`EvalReport::compare_against`]), then one
    /// table per non-empty scenario slice with the same columns as the main one (the slice's
    /// size instead of the wall time).
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## `{}`, {} split: {} users, {} candidates each (seed {})\n",
            self.dataset, self.split, self.users, self.candidates, self.seed
        );
        table_head(&mut out, "wall s");
        for (name, m) in &self.methods {
            table_row(&mut out, name, &m.metrics, &m.latency_ms);
            let _ = writeln!(out, " {:.2} |", m.wall_s);
        }
        out.push_str("\nMetric values ×100; `valid` is the percentage of outputs that were valid permutations (the rest were repaired).\n");
        self.comparisons_markdown(&mut out);
        for scenario in self.non_empty_scenarios() {
            let _ = writeln!(out, "\n### Scenario `{scenario}`\n");
            table_head(&mut out, "users");
            for (name, m) in &self.methods {
                let s = m.scenarios.get(&scenario).cloned().unwrap_or_default();
                table_row(&mut out, name, &s.metrics, &s.latency_ms);
                let _ = writeln!(out, " {} |", s.users);
            }
        }
        out
    }

    /// Scenario names that have at least one case for some method, in [`Scenario::ALL`] order
    /// (unknown names after, alphabetically).
    fn non_empty_scenarios(&self) -> Vec<String> {
        let mut names: Vec<&String> = self
            .methods
            .iter()
            .flat_map(|(_, m)| m.scenarios.iter())
            .filter(|(_, s)| s.users > 0)
            .map(|(n, _)| n)
            .collect();
        let order = |n: &str| {
            Scenario::ALL
                .iter()
                .position(|s| s.as_str() == n)
                .unwrap_or(Scenario::ALL.len())
        };
        names.sort_by(|a, b| order(a).cmp(&order(b)).then(a.cmp(b)));
        names.dedup();
        names.into_iter().cloned().collect()
    }

    /// One table per comparison: each method minus the reference, with the interval.
    fn comparisons_markdown(&self, out: &mut String) {
        for c in &self.comparisons {
            let _ = writeln!(
                out,
                "\n### Against {} ({})\n\nEach method minus {}, points ×100, paired over the {} users; bootstrap 95 % interval ({} resamples of the users, seed {}). **Bold**: the interval excludes 0.\n",
                escape_cell(&c.against),
                c.role,
                escape_cell(&c.against),
                self.users,
                c.resamples,
                c.seed
            );
            out.push_str("| Method | avg-HR | HR@1 | NDCG@10 |\n|---|---:|---:|---:|\n");
            for (name, _) in &self.methods {
                let Some(d) = c.methods.get(name) else {
                    continue;
                };
                let _ = write!(out, "| {} |", escape_cell(name));
                for key in paired::COMPARED {
                    let _ = write!(out, " {} |", difference_cell(d.get(key)));
                }
                out.push('\n');
            }
        }
    }
}

/// The difference ([`Difference`]'s display), bold when the interval excludes 0.
fn difference_cell(d: Option<&Difference>) -> String {
    match d {
        None => "–".into(),
        Some(d) if d.sign().is_some() => format!("**{d}**"),
        Some(d) => d.to_string(),
    }
}

/// The header of a method table whose last column is `last`.
fn table_head(out: &mut String, last: &str) {
    let _ = writeln!(
        out,
        "| Method | HR@1 | HR@3 | HR@5 | HR@10 | NDCG@5 | NDCG@10 | MRR | avg-HR | valid | p50 ms | p95 ms | {last} |"
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
}

/// A method row up to (not including) the last column.
fn table_row(out: &mut String, name: &str, metrics: &Metrics, latency: &Latency) {
    let _ = write!(out, "| {} |", escape_cell(name));
    for v in metrics.values() {
        let _ = write!(out, " {:.2} |", 100.0 * v);
    }
    let _ = write!(out, " {:.3} | {:.3} |", latency.p50, latency.p95);
}

fn escape_cell(s: &str) -> String {
    s.replace('|', "\\|")
}
