//! A quiet plain-text renderer for burn-train: one line per split and epoch with each metric's
//! epoch value, e.g. `epoch 3/50 valid: Loss 2.4412 | HR@10 71.23 % | NDCG@10 44.10 %`.
//! burn's own CLI renderer prints a line per batch and no metric values. On a terminal, a
//! progress bar follows the items of the running split (hidden in logs and CI).

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn::train::Interrupter;
use std::collections::BTreeMap;

/// Prints one line per epoch and split to stderr.
#[derive(Default)]
pub struct EpochLineRenderer {
    label: String,
    names: Vec<(MetricId, String)>,
    latest: BTreeMap<String, String>,
    split: String,
    epoch: usize,
    total_epochs: usize,
    bar: Option<indicatif::ProgressBar>,
    /// Stops training when a training metric turns NaN or infinite.
    interrupter: Option<Interrupter>,
    /// Training iterations seen in the current epoch.
    iteration: usize,
}

impl EpochLineRenderer {
    /// A renderer whose lines start with `label` (e.g. the method name).
    pub fn new(label: &str) -> Self {
        EpochLineRenderer {
            label: label.to_string(),
            ..Default::default()
        }
    }

    /// Stops training through `interrupter` when a training metric's value (the loss, or
    /// GRPO's reward and KL) is NaN or infinite, naming the metric, epoch and iteration.
    pub fn stop_on_non_finite(mut self, interrupter: Interrupter) -> Self {
        self.interrupter = Some(interrupter);
        self
    }

    /// The registered name of a metric.
    fn name_of(&self, id: &MetricId) -> Option<&str> {
        self.names
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, n)| n.as_str())
    }

    fn record(&mut self, state: MetricState) {
        let MetricState::Numeric(entry, _) = state else {
            return;
        };
        let Some(name) = self.name_of(&entry.metric_id).map(str::to_string) else {
            return;
        };
        // formatted = "epoch <running value> [unit] - batch <current> [unit]"
        let f = &entry.serialized_entry.formatted;
        let value = f
            .strip_prefix("epoch ")
            .and_then(|r| r.split(" - batch").next())
            .unwrap_or(f)
            .to_string();
        self.latest.insert(name, value);
    }
}

impl MetricsRendererTraining for EpochLineRenderer {
    fn update_train(&mut self, state: MetricState) {
        if let (Some(interrupter), MetricState::Numeric(entry, Some(value))) =
            (&self.interrupter, &state)
        {
            let name = self
                .name_of(&entry.metric_id)
                .unwrap_or("a training metric")
                .to_string();
            // Every training step logs the loss once.
            if name == star_cf::metric_names::LOSS {
                self.iteration += 1;
            }
            let v = value.current();
            if !v.is_finite() && !interrupter.should_stop() {
                // A resumed run must keep its settings, so the advice is a new run.
                interrupter.stop(Some(&format!(
                    "{}: training {name} is {v} at epoch {}, iteration {}; lower the learning rate and train again without --resume",
                    self.label, self.epoch, self.iteration.max(1)
                )));
            }
        }
        self.record(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(state);
    }

    fn on_train_end(
        &mut self,
        _summary: Option<burn::train::LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        Ok(())
    }
}

impl TrainingProgressLogger for EpochLineRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _total_items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
        self.epoch = starting_epoch.max(1);
        if starting_epoch > 1 {
            eprintln!("{}: resuming at epoch {starting_epoch}", self.label);
        }
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.epoch = epoch + 1;
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = split.to_string();
        self.iteration = 0;
        self.latest.clear();
        let message = format!(
            "{} {}/{} {split}",
            self.label, self.epoch, self.total_epochs
        );
        self.bar = Some(star_cf::progress::bar(total_items as u64, &message));
    }

    fn update_split(&mut self, items_processed: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(items_processed as u64);
        }
    }

    fn end_split(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let metrics: Vec<String> = self
            .latest
            .iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        eprintln!(
            "{}: epoch {}/{} {}: {}",
            self.label,
            self.epoch,
            self.total_epochs,
            self.split,
            metrics.join(" | ")
        );
    }

    fn end(&mut self) {}

    fn log_event_training(&mut self, event: String) {
        tracing::debug!("{}: {event}", self.label);
    }
}

impl EvaluationProgressLogger for EpochLineRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRendererEvaluation for EpochLineRenderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}

    fn on_test_end(
        &mut self,
        _summary: Option<burn::train::LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        Ok(())
    }
}

impl MetricsRenderer for EpochLineRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .push((definition.metric_id, definition.name.to_string()));
    }
}
