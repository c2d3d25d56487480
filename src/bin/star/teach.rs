//! `star teach`: run the teacher and write trajectories (JSONL), resumable and shardable.

use crate::args::{DataArgs, ProtocolArgs};
use anyhow::Result;
use clap::{Args, ValueEnum};
use star::agents::teach::{candidate_jobs, training_jobs, Shard};
use star::cf::split::SplitKind;
use star::pipeline::run::TEACH_HISTORY;
use star::pipeline::sequence::{sequence_folds, DEFAULT_SEQUENCE_FOLDS};
use star::pipeline::teacher::{
    build_teacher, teach_and_filter, teacher_resources, LlmArgs, TeachScope, TeacherVariant,
};
use std::path::PathBuf;

/// Which requests the teacher works on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum TeachSplit {
    /// Training samples (positions of the train sequences).
    Train,
    /// The valid candidate file.
    Valid,
    /// The test candidate file.
    Test,
}

impl std::fmt::Display for TeachSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TeachSplit::Train => "train",
            TeachSplit::Valid => "valid",
            TeachSplit::Test => "test",
        })
    }
}

#[derive(Args)]
pub struct TeachArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Output directory for trajectory files.
    #[arg(long)]
    out: PathBuf,
    /// Which requests: training samples or a candidate file.
    #[arg(long, value_enum, default_value_t = TeachSplit::Train)]
    split: TeachSplit,
    /// Training samples per user (the most recent positions of the train sequence).
    #[arg(long, default_value_t = 10)]
    per_user: usize,
    /// Longest history given to the teacher for a training sample.
    #[arg(long, default_value_t = TEACH_HISTORY)]
    max_history: usize,
    /// This machine's share of the work, `i/n` (episode k goes to shard k mod n).
    #[arg(long, default_value = "0/1")]
    shard: Shard,
    /// Episodes run in parallel.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Stop after this many episodes of the shard (for trials).
    #[arg(long)]
    limit: Option<usize>,
    #[command(flatten)]
    llm: LlmArgs,
    /// Ablation: no reflector.
    #[arg(long, conflicts_with = "no_cst")]
    no_reflection: bool,
    /// Ablation: no CST-evidence tools.
    #[arg(long)]
    no_cst: bool,
    /// Keep episodes whose true item is within the top k (1 = ranked first).
    #[arg(long, default_value_t = 1)]
    keep_top: usize,
    /// The teacher also calls `sequence_score`, the run's SASRec's ranking of the candidates.
    #[arg(long)]
    sequence_tool: bool,
    /// With `--sequence-tool`: training requests are answered by this many SASRec fold models
    /// cross-fitted over the users (as `star run` trains them; 0: such requests get no answer),
    /// valid and test requests by the run's SASRec.
    #[arg(long, default_value_t = DEFAULT_SEQUENCE_FOLDS, value_parser = sequence_folds, requires = "sequence_tool")]
    sequence_folds: usize,
}

impl TeachArgs {
    pub fn run(self, home: &Option<PathBuf>) -> Result<()> {
        let kind = match self.split {
            TeachSplit::Train => None,
            TeachSplit::Valid => Some(SplitKind::Valid),
            TeachSplit::Test => Some(SplitKind::Test),
        };
        let mut prepared = self
            .protocol
            .prepare(&self.data.spec(home), kind.unwrap_or(SplitKind::Valid))?;
        // From here on only the trajectory files are written, under their own lock, so shards
        // may run side by side on one run directory.
        prepared.run.release();
        let jobs = match kind {
            None => training_jobs(
                &prepared.ds,
                &prepared.split,
                self.per_user,
                self.max_history,
                self.protocol.negatives,
                self.protocol.seed,
            ),
            Some(_) => candidate_jobs(&prepared.ds, &prepared.split, &prepared.candidates),
        };
        let variant = match (self.no_reflection, self.no_cst) {
            (true, _) => TeacherVariant::NoReflection,
            (false, true) => TeacherVariant::NoCst,
            (false, false) => TeacherVariant::Full,
        };
        let teacher = build_teacher(
            teacher_resources(&prepared, self.sequence_tool.then_some(self.sequence_folds))?,
            self.llm.chat_model()?,
            variant,
        );
        let shard = self.shard;
        let stem = if shard.count == 1 {
            format!("{}-{}", teacher.name(), self.split)
        } else {
            format!(
                "{}-{}-shard{}of{}",
                teacher.name(),
                self.split,
                shard.index,
                shard.count
            )
        };
        let scope = TeachScope {
            shard,
            limit: self.limit,
            threads: self.threads,
        };
        let t = teach_and_filter(&teacher, jobs, scope, &self.out, &stem, self.keep_top)?;
        let summary = &t.summary;
        println!(
            "{}: {} episodes in shard {}/{} ({} already done, {} written, {} failed) in {:.1}s -> {}",
            teacher.name(),
            summary.jobs,
            shard.index,
            shard.count,
            summary.skipped,
            summary.written,
            summary.failed,
            summary.wall_s,
            t.path.display()
        );
        println!(
            "outcome filter (true item in the top {}): kept {} of {} episodes ({:.1}%) -> {}",
            self.keep_top.max(1),
            t.filter.kept,
            t.filter.total,
            100.0 * t.filter.kept_share(),
            t.kept_path.display()
        );
        if summary.failed > 0 {
            anyhow::bail!("{} episodes failed; rerun to retry them", summary.failed);
        }
        Ok(())
    }
}
