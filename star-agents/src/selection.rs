//! Which kept episodes a student learns from: a seeded subset of a trajectory file that does
//! not depend on the order the teacher's threads wrote the file in.

use crate::episode::Episode;
use crate::trajectory::{for_each_episode, TrajectoryError};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::HashMap;
use std::path::Path;

/// Up to `max` episodes of the file at `path` (all when `None`), chosen and ordered by `seed`.
///
/// The teacher writes episodes as its threads finish them, so a file's order varies from run
/// to run. The ids are sorted, then shuffled with the seed: the same subset in the same order
/// for the same seed, however the file was written. A file from elsewhere may repeat an id;
/// its first episode is used. Two passes over the file (ids, then the chosen episodes) hold
/// only the chosen episodes in memory.
pub fn select_episodes(
    path: &Path,
    seed: u64,
    max: Option<usize>,
) -> Result<Vec<Episode>, TrajectoryError> {
    // ids as text: their sort order is the one every selection was made in
    let mut ids: Vec<String> = Vec::new();
    for_each_episode(path, |ep, _| {
        ids.push(ep.id.to_string());
        Ok(())
    })?;
    ids.sort();
    ids.dedup();
    ids.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    if let Some(n) = max {
        ids.truncate(n);
    }
    let order: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(k, id)| (id.as_str(), k))
        .collect();
    let mut chosen: Vec<Option<Episode>> = vec![None; ids.len()];
    for_each_episode(path, |ep, _| {
        if let Some(&k) = order.get(ep.id.to_string().as_str()) {
            chosen[k].get_or_insert(ep);
        }
        Ok(())
    })?;
    Ok(chosen.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn episode(user: &str, t: usize) -> Episode {
        serde_json::from_value(serde_json::json!({
            "id": format!("train:{user}:{t}"), "split": "train", "user": user,
            "history_len": t, "candidates": ["a", "b"], "target": "a", "teacher": "teacher",
            "prompt": "", "steps": [], "ranking": ["a", "b"], "valid": true, "target_rank": 0,
            "stats": {"wall_ms": 0.0, "tool_calls": 0, "tool_errors": 0, "tokens": 0,
                      "revisions": 0, "chat_calls": 0},
            "text": format!("{user}:{t}")
        }))
        .unwrap()
    }

    fn write(path: &Path, episodes: &[Episode]) {
        let lines: Vec<String> = episodes
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn the_selection_depends_on_the_seed_not_on_the_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let eps: Vec<Episode> = (1..=12).map(|t| episode(&format!("u{t}"), t)).collect();
        let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        write(&a, &eps);
        let mut reversed = eps.clone();
        reversed.reverse();
        // a repeated id is used once, with its first episode
        reversed.push(episode("u3", 3));
        write(&b, &reversed);
        let from_a = select_episodes(&a, 7, Some(5)).unwrap();
        assert_eq!(from_a.len(), 5);
        assert_eq!(from_a, select_episodes(&b, 7, Some(5)).unwrap());
        assert_ne!(from_a, select_episodes(&a, 8, Some(5)).unwrap());
        let all = select_episodes(&b, 7, None).unwrap();
        assert_eq!(all.len(), 12, "each id once");
        assert_eq!(&all[..5], &from_a[..], "a prefix of the full order");
    }
}
