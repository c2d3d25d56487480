//! `star data`: fetch, inspect and split datasets.

use crate::args::{DataArgs, ProtocolArgs};
use anyhow::{Context, Result};
use clap::Subcommand;
use star::cf::fetch::{fetch, KnownDataset};
use star::cf::scenario::Scenario;
use star::cf::split::{Split, SplitKind};
use star::pipeline::data::{candidates, evidence_store, open_run_dir, scenario_tagger};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Download a dataset into the cache ($STAR_HOME/datasets).
    Fetch {
        /// movielens-100k, movielens-1m, movielens-latest-small or movielens-25m.
        dataset: String,
    },
    /// Print dataset statistics.
    Stats(DataArgs),
    /// Split (temporal leave-one-out) and write the valid and test candidate files.
    Split {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        protocol: ProtocolArgs,
    },
}

impl DataCommand {
    pub fn run(self, home: &Option<PathBuf>) -> Result<()> {
        match self {
            DataCommand::Fetch { dataset } => {
                let known = KnownDataset::from_name(&dataset).with_context(|| {
                    format!(
                        "unknown dataset `{dataset}` (known: {})",
                        KnownDataset::ALL.map(|d| d.name()).join(", ")
                    )
                })?;
                let home = home.clone().unwrap_or_else(star::cf::fetch::star_home);
                let dir = fetch(&home, known)?;
                println!("{}: {}", known.name(), dir.display());
            }
            DataCommand::Stats(args) => stats(&args, home)?,
            DataCommand::Split { data, protocol } => split(&data, &protocol, home)?,
        }
        Ok(())
    }
}

fn stats(args: &DataArgs, home: &Option<PathBuf>) -> Result<()> {
    let ds = args.spec(home).load()?;
    let s = ds.stats();
    println!("dataset       {}", s.name);
    println!("users         {}", s.users);
    println!("items         {}", s.items);
    println!("interactions  {}", s.interactions);
    println!("density       {:.4}%", 100.0 * s.density);
    println!(
        "per user      min {} / median {} / max {}",
        s.min_user_interactions, s.median_user_interactions, s.max_user_interactions
    );
    println!(
        "per item      min {} / max {}",
        s.min_item_interactions, s.max_item_interactions
    );
    println!("genres        {}", s.genres);
    println!(
        "time span     {} .. {}",
        s.first_timestamp, s.last_timestamp
    );
    Ok(())
}

fn split(data: &DataArgs, protocol: &ProtocolArgs, home: &Option<PathBuf>) -> Result<()> {
    let ds = data.spec(home).load()?;
    let split = Split::temporal_leave_one_out(&ds);
    let run = open_run_dir(&ds, protocol.run_dir.as_deref())?;
    let store = evidence_store(&ds, &split, &run)?;
    let tagger = scenario_tagger(&ds, &store);
    println!(
        "{}: {} train interactions, {} valid users, {} test users",
        ds.name,
        split.num_train_interactions(),
        split.eval_users(SplitKind::Valid).len(),
        split.eval_users(SplitKind::Test).len()
    );
    for kind in [SplitKind::Valid, SplitKind::Test] {
        let set = candidates(&ds, &split, &run, kind, protocol.protocol())?;
        let mut counts = std::collections::BTreeMap::new();
        for (i, c) in set.cases.iter().enumerate() {
            let req = set.request(i, &split);
            for s in tagger.tag(&req, c.target(), split.users[c.user.idx()].train.len()) {
                *counts.entry(s).or_insert(0usize) += 1;
            }
        }
        let slices: Vec<String> = Scenario::ALL
            .iter()
            .map(|s| format!("{s} {}", counts.get(s).copied().unwrap_or(0)))
            .collect();
        println!(
            "{kind}: {} cases of {} candidates -> {} ({})",
            set.cases.len(),
            set.header.num_candidates,
            run.candidates(kind, protocol.seed).display(),
            slices.join(", ")
        );
    }
    Ok(())
}
