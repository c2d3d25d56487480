//! How much of the user's history the student's prompt shows (`--history`).

/// History items the student's prompt shows when `--history` is not given: SASRec's `max_len`,
/// so the student reads as much of the sequence as the sequential model whose scores it also
/// reads. On MovieLens-100K (AMD EPYC, 3 SFT seeds on the same baselines) it raised
/// student-fast's test avg-HR over 20 items by +0.78, +0.99 and +0.78 points (mean +0.85), with
/// validation level or higher (BENCHMARKS.md, issue 17, seventh session).
pub const DEFAULT_PROMPT_HISTORY: usize = 50;

/// Parses `--history`: at least one item.
pub fn prompt_history(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("the prompt must show at least 1 history item".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{s}`: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_garbage_are_refused_by_value() {
        assert_eq!(prompt_history("50"), Ok(50));
        assert!(prompt_history("0").unwrap_err().contains("at least 1"));
        assert!(prompt_history("x").unwrap_err().contains("`x`"));
    }
}
