//! HR@k and NDCG@k over candidate lists, as burn-train metrics, with the rank convention of the
//! evaluation protocol (ties broken by candidate order, as `Ranking::from_scores` does): ranks
//! and per-case values come from [`star_cf::rank_metrics`], names from
//! [`star_cf::metric_names`].

use burn::prelude::*;
use burn::tensor::{ExecutionError, TensorReadError};
use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    Adaptor, ItemLazy, LossInput, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric,
    NumericAttributes, NumericEntry, SerializedEntry,
};
use star_cf::{metric_names, rank_metrics};
use std::sync::Arc;

/// What a training step returns: its loss.
#[derive(Clone, Debug)]
pub struct LossOutput {
    /// Loss `[1]`.
    pub loss: Tensor<1>,
}

impl ItemLazy for LossOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        self.loss.device().flush()?;
        Ok(LossOutput {
            loss: self.loss.without_autodiff(),
        })
    }
}

impl Adaptor<LossInput> for LossOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.loss.clone())
    }
}

/// What a ranking validation step returns: candidate scores and where the positive is.
#[derive(Clone, Debug)]
pub struct RankingOutput {
    /// A validation loss `[1]`.
    pub loss: Tensor<1>,
    /// Scores `[B, C]` of each case's candidates.
    pub scores: Tensor<2>,
    /// Index of the true item in each row `[B]`.
    pub positive: Tensor<1, Int>,
}

impl ItemLazy for RankingOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        self.loss.device().flush()?;
        Ok(RankingOutput {
            loss: self.loss.without_autodiff(),
            scores: self.scores.without_autodiff(),
            positive: self.positive.without_autodiff(),
        })
    }
}

impl Adaptor<LossInput> for RankingOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.loss.clone())
    }
}

/// Input of [`RankingMetric`].
#[derive(Clone, Debug)]
pub struct RankingInput {
    scores: Tensor<2>,
    positive: Tensor<1, Int>,
}

impl Adaptor<RankingInput> for RankingOutput {
    fn adapt(&self) -> RankingInput {
        RankingInput {
            scores: self.scores.clone(),
            positive: self.positive.clone(),
        }
    }
}

pub use star_cf::rank_metrics::rank_of;

/// A float tensor's values on the host as `f32` (empty when they cannot be read: the validation
/// loops then score no case).
pub(crate) fn host_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap_or_default()
}

/// What a [`NumericMetric`] reads from its input at each update.
pub trait NumericSource: Clone + Send + Sync {
    /// The metric's input.
    type Input;

    /// The value of one update and how many cases it averages.
    fn read(&self, item: &Self::Input) -> Result<(f64, usize), TensorReadError>;
}

/// A numeric burn-train metric: a name, a display format and the running mean of what its
/// [`NumericSource`] reads. The one `Metric`/`Numeric` implementation behind
/// [`RankingMetric`] and the distillation loss terms.
#[derive(Clone)]
pub struct NumericMetric<S> {
    source: S,
    name: MetricName,
    unit: Option<&'static str>,
    precision: usize,
    higher_is_better: bool,
    state: NumericMetricState,
}

impl<S> NumericMetric<S> {
    /// A metric named `name` reading `source`, shown with `precision` decimals and `unit`.
    pub fn with_source(
        source: S,
        name: &str,
        unit: Option<&'static str>,
        precision: usize,
        higher_is_better: bool,
    ) -> Self {
        NumericMetric {
            source,
            name: Arc::new(name.to_string()),
            unit,
            precision,
            higher_is_better,
            state: NumericMetricState::default(),
        }
    }

    fn format(&self) -> FormatOptions {
        let f = FormatOptions::new(self.name.clone());
        match self.unit {
            Some(unit) => f.unit(unit),
            None => f,
        }
        .precision(self.precision)
    }
}

impl<S: NumericSource> Metric for NumericMetric<S> {
    type Input = S::Input;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: self.unit.map(str::to_string),
            higher_is_better: self.higher_is_better,
        }
        .into()
    }

    fn update(
        &mut self,
        item: &S::Input,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let (value, count) = self.source.read(item)?;
        self.state.update(value, count);
        Ok(self.state.compute_update(self.format()))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        Ok(self.state.compute_final(self.format()))
    }

    fn clear(&mut self) {
        self.state.reset()
    }
}

impl<S: NumericSource> Numeric for NumericMetric<S> {
    fn value(&self) -> Option<NumericEntry> {
        Some(self.state.current_value())
    }

    fn running_value(&self) -> Option<NumericEntry> {
        Some(self.state.running_value())
    }

    fn final_value(&self) -> NumericEntry {
        self.state.final_value()
    }
}

/// Which ranking metric.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RankingKind {
    /// Hit rate: the true item is in the top k.
    Hr,
    /// NDCG with one relevant item: `1 / log2(rank + 2)` inside the top k.
    Ndcg,
    /// The paper's headline metric: the mean of HR@1, HR@3 and HR@5.
    AvgHr,
}

/// The per-case values of a [`RankingMetric`]: a kind and its cut-off.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RankingCases {
    kind: RankingKind,
    k: usize,
}

impl RankingCases {
    /// The value of one case of rank `rank` (in [0, 1]).
    pub fn case_value(&self, rank: usize) -> f64 {
        match self.kind {
            RankingKind::Hr => rank_metrics::hit_at(rank, self.k),
            RankingKind::Ndcg => rank_metrics::ndcg_at(rank, self.k),
            RankingKind::AvgHr => rank_metrics::avg_hr(rank),
        }
    }

    /// The case values of rows of `c` candidate scores each (`scores` row-major), the true item
    /// of row `r` at the `r`-th of `positives`, in row order.
    pub fn case_values<'a>(
        &'a self,
        scores: &'a [f32],
        c: usize,
        positives: impl IntoIterator<Item = usize> + 'a,
    ) -> impl Iterator<Item = f64> + 'a {
        positives
            .into_iter()
            .enumerate()
            .map(move |(r, p)| self.case_value(rank_of(&scores[r * c..(r + 1) * c], p)))
    }
}

impl NumericSource for RankingCases {
    type Input = RankingInput;

    fn read(&self, item: &RankingInput) -> Result<(f64, usize), TensorReadError> {
        let [b, c] = item.scores.dims();
        let scores: Vec<f32> = item
            .scores
            .clone()
            .into_data()
            .convert::<f32>()
            .try_to_vec()?;
        let positive: Vec<i64> = item
            .positive
            .clone()
            .into_data()
            .convert::<i64>()
            .try_to_vec()?;
        let mean = self
            .case_values(&scores, c, positive.iter().map(|&p| p as usize))
            .sum::<f64>()
            / b.max(1) as f64;
        Ok((100.0 * mean, b))
    }
}

/// HR@k or NDCG@k in percent, averaged over the cases of an epoch.
pub type RankingMetric = NumericMetric<RankingCases>;

impl RankingMetric {
    /// HR@k.
    pub fn hr(k: usize) -> Self {
        Self::ranking(RankingKind::Hr, k)
    }

    /// NDCG@k.
    pub fn ndcg(k: usize) -> Self {
        Self::ranking(RankingKind::Ndcg, k)
    }

    /// avg-HR: the mean of HR@1, HR@3 and HR@5.
    pub fn avg_hr() -> Self {
        Self::ranking(RankingKind::AvgHr, 5)
    }

    fn ranking(kind: RankingKind, k: usize) -> Self {
        let name = match kind {
            RankingKind::Hr => metric_names::hr(k),
            RankingKind::Ndcg => metric_names::ndcg(k),
            RankingKind::AvgHr => metric_names::AVG_HR.to_string(),
        };
        Self::with_source(RankingCases { kind, k }, &name, Some("%"), 2, true)
    }

    /// The value of one case of rank `rank` (in [0, 1]).
    pub fn case_value(&self, rank: usize) -> f64 {
        self.source.case_value(rank)
    }

    /// The per-case values this metric averages.
    pub fn cases(&self) -> &RankingCases {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_values_follow_the_kind_and_cut_off() {
        // (ranks themselves are star_cf::rank_metrics' tests)
        let n = RankingMetric::ndcg(10);
        assert!((n.case_value(2) - 0.5).abs() < 1e-12);
        assert_eq!(n.case_value(10), 0.0);
        assert_eq!(RankingMetric::hr(3).case_value(2), 1.0);
        let a = RankingMetric::avg_hr();
        assert_eq!(a.case_value(0), 1.0);
        assert!((a.case_value(2) - 2.0 / 3.0).abs() < 1e-12);
        assert!((a.case_value(4) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(a.case_value(5), 0.0);
        assert_eq!(a.case_value(6), 0.0);
        // rows of three candidates, the true item first, then last
        let scores = [0.9, 0.1, 0.5, 0.5, 0.5, 0.5];
        let got: Vec<f64> = RankingMetric::hr(1)
            .cases()
            .case_values(&scores, 3, [0, 2])
            .collect();
        assert_eq!(got, [1.0, 0.0]);
    }

    #[test]
    fn metrics_are_named_as_the_plots_read_them() {
        assert_eq!(*RankingMetric::ndcg(10).name(), metric_names::NDCG_10);
        assert_eq!(*RankingMetric::hr(10).name(), metric_names::HR_10);
        assert_eq!(*RankingMetric::hr(1).name(), metric_names::HR_1);
        assert_eq!(*RankingMetric::avg_hr().name(), metric_names::AVG_HR);
    }
}
