//! # star-eval
//!
//! Evaluation for STAR: ranking metrics, the 1+N protocol runner and result reports.
//!
//! ## The protocol
//!
//! Every method (baselines, the teacher, the student) is a [`star_cf::Ranker`] and is scored on
//! the **same candidate file** ([`star_cf::candidates::CandidateSet`]): one case per user, the
//! user's history as the split allows it, and N candidates (the held-out next item plus
//! negatives the user never interacted with), drawn once with a seed and shuffled.
//!
//! 1. [`ProtocolRunner::run`] asks the ranker to order each case's candidates and times the call.
//! 2. An output that is not a permutation of the candidates is repaired deterministically
//!    (candidates it kept, in its order; then the missing ones in the repair ranker's CF-score
//!    order) and counted: [`Metrics::valid_ratio`] is the share of valid outputs. A ranker
//!    error counts as invalid and is repaired from nothing.
//! 3. The 0-based position of the true item gives HR@k, NDCG@k, MRR and the paper's headline
//!    `avg_HR = mean(HR@1, HR@3, HR@5)` ([`metrics`]); ties are impossible because rankers
//!    return orderings, and scorers break ties by the shuffled file order
//!    ([`star_cf::Ranking::from_scores`]).
//! 4. With a [`star_cf::scenario::ScenarioTagger`], metrics are also reported per scenario slice
//!    (cold user, cold item, evolving interest).
//! 5. [`EvalReport`] collects methods and writes `report.json` (the format in ARCHITECTURE.md, Results JSON),
//!    a Markdown table and a per-user JSONL file; [`plots`] draws its figures (metrics per
//!    method, accuracy against latency, training curves) as PNG.
//!
//! ```no_run
//! # use star_cf::prelude::*;
//! # fn demo(ds: &Dataset, split: &Split, cands: &CandidateSet, pop: &dyn Ranker,
//! #         methods: &[&dyn Ranker]) -> star_eval::Result<()> {
//! use star_eval::{EvalReport, ProtocolRunner};
//! let runner = ProtocolRunner::new(ds, split, cands, pop, None)?.threads(4);
//! let mut report = EvalReport::new(&cands.header);
//! for m in methods {
//!     report.push(runner.run(*m));
//! }
//! report.save_json("runs/ml100k/report.json".as_ref())?;
//! println!("{}", report.to_markdown());
//! # Ok(()) }
//! ```

pub mod baselines;
pub mod catalogue;
pub mod error;
pub mod metrics;
pub mod paired;
pub mod plots;
pub mod report;
pub mod runner;
pub mod seeds;

pub use error::{EvalError, Result};
pub use metrics::{CaseOutcome, Metrics};
pub use paired::{Comparison, Difference};
pub use report::{EvalReport, MethodReport};
pub use runner::{CaseResult, Latency, MethodResult, ProtocolRunner, ScenarioResult};
pub use seeds::{SeedSpread, Spread};
