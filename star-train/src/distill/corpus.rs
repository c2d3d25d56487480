//! The corpus a student's tokenizer is trained on: the prompt text of a bounded sample of the
//! distillation samples, and their trajectories. Rendering the prompts needs no model and no
//! tokenizer ([`PromptBuilder::text_only`]).

use super::data::DistillSample;
use star_cf::evidence::EvidenceStore;
use star_model::model::{ItemBinding, PromptBuilder, PromptError, StarConfig};

/// At most this many prompts and this many trajectories enter the corpus.
pub const CORPUS_SAMPLES: usize = 2000;

/// The tokenizer corpus of `samples`: the prompts (as `star` renders them with `items` and
/// `store`) of every k-th sample, k chosen so that about [`CORPUS_SAMPLES`] are taken, then the
/// first [`CORPUS_SAMPLES`] trajectories.
pub fn tokenizer_corpus(
    samples: &[DistillSample],
    star: &StarConfig,
    items: &ItemBinding,
    store: Option<&EvidenceStore>,
) -> Result<Vec<String>, PromptError> {
    let prompts = PromptBuilder::text_only(star, items, store);
    let mut corpus = Vec::new();
    for s in samples
        .iter()
        .step_by((samples.len() / CORPUS_SAMPLES).max(1))
    {
        corpus.push(prompts.text(&s.request)?);
    }
    corpus.extend(
        samples
            .iter()
            .filter_map(|s| s.trajectory.clone())
            .take(CORPUS_SAMPLES),
    );
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use star_cf::candidates::CandidateSet;
    use star_cf::data::synthetic::{generate, SyntheticConfig};
    use star_cf::evidence::EvidenceConfig;
    use star_cf::split::{Split, SplitKind};

    #[test]
    fn the_corpus_holds_prompt_text_then_trajectories() {
        let ds = generate(&SyntheticConfig {
            users: 30,
            items: 120,
            seed: 3,
            ..Default::default()
        })
        .unwrap();
        let split = Split::temporal_leave_one_out(&ds);
        let store = EvidenceStore::build(&ds, &split, EvidenceConfig::default());
        let cands = CandidateSet::sample(&ds, &split, SplitKind::Test, 4, 1).unwrap();
        let raw: Vec<String> = ds.items.iter().map(|i| i.raw_id.clone()).collect();
        let items = ItemBinding::new(&raw, &raw);
        let star = StarConfig::new(raw.clone(), 8);
        let samples: Vec<DistillSample> = (0..3)
            .map(|i| DistillSample {
                id: format!("test:{i}"),
                request: cands.request(i, &split),
                positive: cands.cases[i].positive_index,
                trajectory: (i != 1).then(|| format!("<plan>p{i}</plan>")),
            })
            .collect();
        let corpus = tokenizer_corpus(&samples, &star, &items, Some(&store)).unwrap();
        assert_eq!(corpus.len(), 5, "{corpus:?}");
        let first = &corpus[0];
        assert!(first.starts_with("<s>History:<item>"), "{first}");
        let target = &raw[cands.cases[0].target().idx()];
        assert!(first.contains(&format!(" {target}<item>")), "{first}");
        assert_eq!(corpus[3..], ["<plan>p0</plan>", "<plan>p2</plan>"]);
    }
}
