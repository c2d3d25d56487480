//! `star eval`: the baselines, the teacher and students on the 1+N candidate files.

use crate::args::{DataArgs, ProtocolArgs};
use anyhow::Result;
use clap::{Args, Subcommand};
use star::cf::split::SplitKind;
use star::eval::EvalReport;
use star::model::model::DEFAULT_RERANK;
use star::pipeline::baselines::{
    add_catalogue_comparison, add_comparisons, catalogue_markdown, eval_baselines,
    eval_full_catalogue, save_catalogue,
};
use star::pipeline::student::{eval_students, eval_students_catalogue};
use star::pipeline::teacher::{eval_teacher, LlmArgs};
use star::pipeline::{Compute, Prepared};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// The teacher and its ablations (no reflection, no CST evidence).
    Teacher {
        #[command(flatten)]
        on: EvalArgs,
        #[command(flatten)]
        llm: LlmArgs,
        /// The teacher also calls `sequence_score`, the run's SASRec's ranking of the
        /// candidates.
        #[arg(long)]
        sequence_tool: bool,
    },
    /// Student model directories, each as NAME=DIR (or DIR, named student-fast /
    /// student-explain): student-fast, student-explain and the ablations student-no-grpo,
    /// student-no-reflection, student-no-tools, student-no-cst. NAME=DIR,DIR,… ranks with an
    /// ensemble of students (fast mode; `star run` writes one, `--students`).
    Student {
        #[command(flatten)]
        on: EvalArgs,
        /// A model directory, NAME=DIR or DIR (repeatable); several directories separated by
        /// commas rank together as an ensemble (the mean of their log-softmax).
        #[arg(long = "model", required = true)]
        models: Vec<String>,
        /// Explain mode (generated trajectories, live tool calls) instead of fast mode.
        #[arg(long)]
        explain: bool,
        /// Device: flex, ndarray, wgpu, cuda[:N].
        #[arg(long, default_value = "flex")]
        device: String,
        /// Also rank the whole catalogue (HR@10, NDCG@10, MRR@10) in fast mode: by the item
        /// keys alone, and with the top `--rerank` items (by the keys, and by SASRec when the
        /// run has one) re-ranked by the full prompt; beside Pop and the trained baselines,
        /// each compared with the strongest of those (paired, bootstrap 95 % interval).
        #[arg(long, conflicts_with = "explain")]
        full_catalogue: bool,
        /// How many items (the keys' best, and SASRec's) the prompt re-ranks on the full
        /// catalogue; at least 1.
        #[arg(long, default_value_t = DEFAULT_RERANK, requires = "full_catalogue")]
        rerank: usize,
    },
    /// Pop, ItemKNN, UserKNN and the CST evidence scorer.
    Baselines {
        #[command(flatten)]
        on: EvalArgs,
        /// Write per-user results (JSON lines) to this file.
        #[arg(long)]
        per_user: Option<PathBuf>,
        /// Also rank the whole catalogue (HR@10, NDCG@10, MRR@10) for Pop and trained CF models.
        #[arg(long)]
        full_catalogue: bool,
    },
}

/// What every evaluation takes: the data, the protocol, the split, the threads and where the
/// JSON results go.
#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Which held-out item to evaluate on.
    #[arg(long, default_value = "test")]
    split: SplitKind,
    /// Worker threads (latency is per request either way).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Evaluate only the first this many cases (the explain mode and LLM teachers are slow on
    /// a CPU).
    #[arg(long)]
    limit: Option<usize>,
}

impl EvalArgs {
    /// The data prepared for the split.
    fn prepare(&self, home: &Option<PathBuf>) -> Result<Prepared> {
        let mut prepared = self.protocol.prepare(&self.data.spec(home), self.split)?;
        if let Some(n) = self.limit {
            // the report's header counts the cases evaluated
            prepared.candidates.cases.truncate(n);
            prepared.candidates.header.cases = prepared.candidates.cases.len();
        }
        Ok(prepared)
    }

    /// Prints a report and writes it to `--json` when given.
    fn print_and_save(&self, report: &EvalReport) -> Result<()> {
        println!("{}", report.to_markdown());
        if let Some(path) = &self.json {
            report.save_json(path)?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    }
}

impl EvalCommand {
    pub fn run(self, home: &Option<PathBuf>) -> Result<()> {
        match self {
            EvalCommand::Baselines {
                on,
                per_user,
                full_catalogue,
            } => {
                let t = Instant::now();
                let split = on.split;
                let prepared = on.prepare(home)?;
                let mut report = eval_baselines(&prepared, on.threads)?;
                let names: Vec<String> = report.methods.iter().map(|(n, _)| n.clone()).collect();
                add_comparisons(&mut report, &names)?;
                let dir = prepared.run.path();
                let stem = format!("eval-baselines-{split}");
                report.save_json(&dir.join(format!("{stem}.json")))?;
                star::cf::fsutil::write_atomic(&dir.join(format!("{stem}.md")), |w| {
                    std::io::Write::write_all(w, report.to_markdown().as_bytes())
                })?;
                on.print_and_save(&report)?;
                if let Some(path) = per_user {
                    report.per_user_jsonl(&path)?;
                    eprintln!("wrote {}", path.display());
                }
                if full_catalogue {
                    let mut results = eval_full_catalogue(&prepared)?;
                    add_catalogue_comparison(&mut results, &names)?;
                    let md = catalogue_markdown(&results);
                    println!(
                        "\n### Full catalogue ({split} split, temporal leave-one-out)\n\n{md}"
                    );
                    save_catalogue(
                        &dir.join(format!("eval-full-catalogue-{split}.json")),
                        &results,
                    )?;
                }
                tracing::info!("done in {:.2}s", t.elapsed().as_secs_f64());
            }
            EvalCommand::Teacher {
                on,
                llm,
                sequence_tool,
            } => {
                let prepared = on.prepare(home)?;
                let report = eval_teacher(&prepared, llm.chat_model()?, on.threads, sequence_tool)?;
                let path = format!("eval-teacher-{}.json", on.split);
                report.save_json(&prepared.run.path().join(path))?;
                on.print_and_save(&report)?;
            }
            EvalCommand::Student {
                on,
                models,
                explain,
                device,
                full_catalogue,
                rerank,
            } => {
                anyhow::ensure!(rerank >= 1, "--rerank must be at least 1 (got 0)");
                let default = if explain {
                    "student-explain"
                } else {
                    "student-fast"
                };
                let models = models
                    .iter()
                    .map(|m| model_spec(m, default))
                    .collect::<Result<Vec<_>>>()?;
                let compute = Compute::one(&device)?;
                let prepared = on.prepare(home)?;
                let report = eval_students(&prepared, &models, &compute, explain, on.threads)?;
                on.print_and_save(&report)?;
                if full_catalogue {
                    // the baselines beside the students, each compared with the strongest
                    let mut results = eval_full_catalogue(&prepared)?;
                    let baselines: Vec<String> = results.iter().map(|r| r.method.clone()).collect();
                    results.extend(eval_students_catalogue(
                        &prepared, &models, &compute, rerank,
                    )?);
                    add_catalogue_comparison(&mut results, &baselines)?;
                    println!(
                        "\n### Full catalogue ({} split, temporal leave-one-out)\n\n{}",
                        on.split,
                        catalogue_markdown(&results)
                    );
                    let path = prepared
                        .run
                        .path()
                        .join(format!("eval-full-catalogue-students-{}.json", on.split));
                    save_catalogue(&path, &results)?;
                    eprintln!("wrote {}", path.display());
                }
            }
        }
        Ok(())
    }
}

/// A `--model` value: `NAME=DIR[,DIR…]` or `DIR[,DIR…]` (named `default`); several
/// directories are an ensemble. An empty name or directory is an error quoting the value.
fn model_spec(value: &str, default: &str) -> Result<(String, Vec<PathBuf>)> {
    let (name, list) = value.split_once('=').unwrap_or((default, value));
    anyhow::ensure!(
        !name.is_empty(),
        "--model `{value}`: the name before `=` is empty"
    );
    let dirs: Vec<PathBuf> = list.split(',').map(PathBuf::from).collect();
    anyhow::ensure!(
        dirs.iter().all(|d| !d.as_os_str().is_empty()),
        "--model `{value}`: a model directory is empty (NAME=DIR or NAME=DIR,DIR,…)"
    );
    Ok((name.to_string(), dirs))
}

#[cfg(test)]
mod tests {
    use super::model_spec;
    use std::path::PathBuf;

    #[test]
    fn a_model_value_names_one_directory_or_an_ensemble() {
        assert_eq!(
            model_spec("a=x/m", "d").unwrap(),
            ("a".to_string(), vec![PathBuf::from("x/m")])
        );
        assert_eq!(
            model_spec("x/m,y/m", "d").unwrap(),
            (
                "d".to_string(),
                vec![PathBuf::from("x/m"), PathBuf::from("y/m")]
            )
        );
        for bad in ["a=", "a=x,,y", "=x", "x,"] {
            let err = model_spec(bad, "d").unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }
}
