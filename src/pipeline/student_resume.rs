//! A resumed SFT run must train the same student its checkpoints were trained as.
//!
//! `train_sft` compares its own settings (`train-config.json`); the student's configuration
//! (prompt history, evidence, item table, decoder) is kept beside them as `sft/student.json`
//! when SFT starts, and a resume that would build another student is refused, naming the
//! fields that differ. Without it, `--history 20` after a start with 50 would resume the
//! checkpoints on prompts of another length.

use anyhow::{bail, Result};
use star_model::model::ModelConfig;
use std::path::Path;

/// The file in `sft/` that keeps the student's configuration.
pub const STUDENT_CONFIG: &str = "student.json";

/// Writes `config` to `sft_dir/student.json` for a fresh start; on a resume from existing
/// checkpoints (`resume` and `sft_dir/checkpoint/` present) checks that it equals the kept one.
pub fn keep_student_config(sft_dir: &Path, config: &ModelConfig, resume: bool) -> Result<()> {
    let path = sft_dir.join(STUDENT_CONFIG);
    if resume && sft_dir.join("checkpoint").is_dir() {
        if !path.is_file() {
            bail!(
                "{}: missing; these checkpoints were written by another version of star and cannot be resumed (delete {} to train afresh, or train without --resume, or in another directory)",
                path.display(),
                sft_dir.display()
            );
        }
        let saved = ModelConfig::load(&path)?;
        if &saved != config {
            bail!(
                "{}: the checkpoints were trained as another student ({}); resume with the options they were started with, or delete {} (or train without --resume) to train afresh",
                path.display(),
                differing_fields(&saved, config).join("; "),
                sft_dir.display()
            );
        }
        return Ok(());
    }
    std::fs::create_dir_all(sft_dir)?;
    config.save(&path)?;
    Ok(())
}

/// The fields of `config.json` (top level, and `star.*`) whose values differ, with both values
/// when they are short.
fn differing_fields(saved: &ModelConfig, now: &ModelConfig) -> Vec<String> {
    use serde_json::Value;
    fn walk(prefix: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let null = Value::Null;
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(
                        &name,
                        x.get(k).unwrap_or(&null),
                        y.get(k).unwrap_or(&null),
                        out,
                    );
                }
            }
            _ if a == b => {}
            (Value::Array(_), _) | (_, Value::Array(_)) => out.push(format!("{prefix} differs")),
            _ => out.push(format!("{prefix}: {a} then, {b} now")),
        }
    }
    let mut out = Vec::new();
    let json = |c: &ModelConfig| serde_json::to_value(c).expect("config serialises");
    walk("", &json(saved), &json(now), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use star_model::model::StarConfig;
    use star_model::student::DecoderConfig;

    fn config(history: usize) -> ModelConfig {
        let mut star = StarConfig::new(vec!["1".into(), "2".into()], 8);
        star.history = history;
        ModelConfig::new(DecoderConfig::student(100), star)
    }

    #[test]
    fn a_resume_with_another_prompt_history_is_refused_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let sft = dir.path().join("sft");
        keep_student_config(&sft, &config(50), false).unwrap();
        std::fs::create_dir_all(sft.join("checkpoint")).unwrap();
        keep_student_config(&sft, &config(50), true).unwrap();
        let e = keep_student_config(&sft, &config(20), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("student.json"), "{e}");
        assert!(e.contains("star.history: 50 then, 20 now"), "{e}");
        // a fresh start (no --resume) replaces the kept configuration
        keep_student_config(&sft, &config(20), false).unwrap();
        keep_student_config(&sft, &config(20), true).unwrap();
    }

    #[test]
    fn checkpoints_without_a_kept_configuration_are_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let sft = dir.path().join("sft");
        std::fs::create_dir_all(sft.join("checkpoint")).unwrap();
        let e = keep_student_config(&sft, &config(50), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("another version of star"), "{e}");
        // with nothing to resume, --resume starts afresh
        let other = dir.path().join("other");
        keep_student_config(&other, &config(50), true).unwrap();
        assert!(other.join(STUDENT_CONFIG).is_file());
    }
}
