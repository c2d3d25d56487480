//! A seeded synthetic dataset for tests and smoke runs: users with genre tastes that drift over
//! time, Zipf-distributed item popularity, "related item" chains that give item–item CF a real
//! signal, and generated titles and years. The same config and seed give the same dataset.

use super::{Dataset, DatasetBuilder, PreprocessOptions};
use crate::error::{CfError, Result};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// Parameters of the generator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyntheticConfig {
    /// Number of users.
    pub users: usize,
    /// Number of items.
    pub items: usize,
    /// Number of genres (at most 24).
    pub genres: usize,
    /// Shortest user sequence.
    pub min_len: usize,
    /// Longest user sequence.
    pub max_len: usize,
    /// Zipf exponent of item popularity within a genre.
    pub zipf_exponent: f64,
    /// Probability per step that one of the user's favourite genres is replaced.
    pub drift: f64,
    /// Probability that the next item is one of the previous item's related items.
    pub follow_related: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            users: 300,
            items: 600,
            genres: 12,
            min_len: 20,
            max_len: 80,
            zipf_exponent: 1.0,
            drift: 0.04,
            follow_related: 0.35,
            seed: 42,
        }
    }
}

impl SyntheticConfig {
    /// A dataset of MovieLens-100K's shape (943 users, 1682 items, 20 to 200 interactions a
    /// user), for benchmarks that want its sizes without its data.
    pub fn movielens_100k_shape(seed: u64) -> Self {
        SyntheticConfig {
            users: 943,
            items: 1682,
            min_len: 20,
            max_len: 200,
            seed,
            ..Default::default()
        }
    }

    /// The config a dataset name's suffix asks for: `""` is the default, `"SEED"` the default
    /// with that seed, and `"key=value,…"` the default with those fields set (`seed`, `users`,
    /// `items`, `genres`, `min_len`, `max_len`, `zipf_exponent`, `drift`, `follow_related`),
    /// e.g. `users=60,items=200` for `--dataset synthetic:users=60,items=200`. An unknown key
    /// or a bad value is an error naming it.
    pub fn from_spec(spec: &str) -> Result<Self> {
        let mut c = SyntheticConfig::default();
        if spec.is_empty() {
            return Ok(c);
        }
        if let Ok(seed) = spec.parse() {
            c.seed = seed;
            return Ok(c);
        }
        for field in spec.split(',') {
            let bad = |why: &str| CfError::Invalid(format!("synthetic dataset `{spec}`: {why}"));
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| bad(&format!("`{field}` is not key=value (or a seed)")))?;
            let count = || {
                value
                    .parse::<usize>()
                    .map_err(|_| bad(&format!("{key} must be a whole number, got `{value}`")))
            };
            let real = || {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad(&format!("{key} must be a number, got `{value}`")))
            };
            match key {
                "seed" => {
                    c.seed = value
                        .parse()
                        .map_err(|_| bad(&format!("seed must be a whole number, got `{value}`")))?
                }
                "users" => c.users = count()?,
                "items" => c.items = count()?,
                "genres" => c.genres = count()?,
                "min_len" => c.min_len = count()?,
                "max_len" => c.max_len = count()?,
                "zipf_exponent" => c.zipf_exponent = real()?,
                "drift" => c.drift = real()?,
                "follow_related" => c.follow_related = real()?,
                _ => return Err(bad(&format!(
                    "unknown key `{key}` (known: seed, users, items, genres, min_len, max_len, zipf_exponent, drift, follow_related)"
                ))),
            }
        }
        Ok(c)
    }
}

#[rustfmt::skip]
const GENRES: [&str; 24] = [
    "Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western", "Noir",
    "Family", "Sport", "History", "Biography", "Music", "Satire", "Heist",
];
const ADJECTIVES: [&str; 20] = [
    "Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Distant", "Electric", "Lonely",
    "Secret", "Burning", "Frozen", "Wild", "Quiet", "Iron", "Velvet", "Midnight", "Hollow",
    "Bright", "Paper",
];
const NOUNS: [&str; 20] = [
    "River", "Harbor", "Empire", "Garden", "Signal", "Frontier", "Orchard", "Machine", "Kingdom",
    "Lantern", "Voyage", "Mirror", "Station", "Citadel", "Circus", "Canyon", "Archive", "Tide",
    "Meadow", "Engine",
];

/// Generates a dataset called `"synthetic"`.
pub fn generate(cfg: &SyntheticConfig) -> Result<Dataset> {
    if cfg.genres == 0 || cfg.genres > GENRES.len() {
        return Err(CfError::Invalid(format!(
            "synthetic: genres must be in 1..={}, got {}",
            GENRES.len(),
            cfg.genres
        )));
    }
    if cfg.items < cfg.max_len + 25 || cfg.min_len < 3 || cfg.min_len > cfg.max_len {
        return Err(CfError::Invalid(format!(
            "synthetic: need 3 <= min_len <= max_len and items >= max_len + 25 (got items {}, lengths {}..={})",
            cfg.items, cfg.min_len, cfg.max_len
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut b = DatasetBuilder::new("synthetic");

    // Items: a primary genre (round robin), sometimes a second one; Zipf weight by rank in genre.
    let mut by_genre: Vec<Vec<usize>> = vec![Vec::new(); cfg.genres];
    let mut item_genre = Vec::with_capacity(cfg.items);
    for i in 0..cfg.items {
        let g = i % cfg.genres;
        by_genre[g].push(i);
        item_genre.push(g);
        let mut genres = vec![GENRES[g]];
        if rng.random_bool(0.3) {
            let g2 = rng.random_range(0..cfg.genres);
            if g2 != g {
                genres.push(GENRES[g2]);
            }
        }
        let title = format!(
            "The {} {}{}",
            ADJECTIVES.choose(&mut rng).unwrap(),
            NOUNS.choose(&mut rng).unwrap(),
            if rng.random_bool(0.2) {
                format!(" {}", rng.random_range(2..5))
            } else {
                String::new()
            }
        );
        let year = rng.random_range(1950u16..=2020);
        b.add_item(&format!("i{i}"), title, Some(year), genres);
    }
    let cum: Vec<Vec<f64>> = by_genre
        .iter()
        .map(|items| {
            let mut acc = 0.0;
            (0..items.len())
                .map(|r| {
                    acc += 1.0 / ((r + 1) as f64).powf(cfg.zipf_exponent);
                    acc
                })
                .collect()
        })
        .collect();
    // Related items: three others of the same genre.
    let related: Vec<Vec<usize>> = (0..cfg.items)
        .map(|i| {
            let pool = &by_genre[item_genre[i]];
            (0..3)
                .map(|_| *pool.choose(&mut rng).unwrap())
                .filter(|&j| j != i)
                .collect()
        })
        .collect();

    for u in 0..cfg.users {
        let raw = format!("u{u}");
        let mut attrs = BTreeMap::new();
        attrs.insert("gender".into(), ["F", "M"][rng.random_range(0..2)].into());
        attrs.insert("age".into(), rng.random_range(16u32..70).to_string());
        b.add_user(&raw, attrs);

        let mut favourites: Vec<usize> = (0..3).map(|_| rng.random_range(0..cfg.genres)).collect();
        let len = rng.random_range(cfg.min_len..=cfg.max_len);
        let mut seen = HashSet::new();
        let mut t: i64 = 1_000_000_000 + rng.random_range(0..10_000_000);
        let mut prev: Option<usize> = None;
        while seen.len() < len {
            if rng.random_bool(cfg.drift) {
                let k = rng.random_range(0..favourites.len());
                favourites[k] = rng.random_range(0..cfg.genres);
            }
            let follow = prev
                .map(|p| &related[p])
                .filter(|r| !r.is_empty() && rng.random_bool(cfg.follow_related))
                .and_then(|r| r.choose(&mut rng).copied())
                .filter(|j| !seen.contains(j));
            let item = match follow {
                Some(j) => j,
                None => {
                    let g = *favourites.choose(&mut rng).unwrap();
                    let mut pick = None;
                    for _ in 0..20 {
                        let x = rng.random::<f64>() * cum[g].last().unwrap();
                        let r = cum[g].partition_point(|&c| c < x).min(cum[g].len() - 1);
                        if !seen.contains(&by_genre[g][r]) {
                            pick = Some(by_genre[g][r]);
                            break;
                        }
                    }
                    match pick {
                        Some(p) => p,
                        None => (0..cfg.items).find(|j| !seen.contains(j)).unwrap(),
                    }
                }
            };
            seen.insert(item);
            t += rng.random_range(60..86_400);
            b.add_interaction(
                &raw,
                &format!("i{item}"),
                Some(rng.random_range(3..=5) as f32),
                t,
            );
            prev = Some(item);
        }
    }
    b.build(&PreprocessOptions::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped_as_configured() {
        let cfg = SyntheticConfig {
            users: 40,
            items: 1000,
            max_len: 60,
            ..Default::default()
        };
        let a = generate(&cfg).unwrap();
        let b = generate(&cfg).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.num_users(), 40);
        let s = a.stats();
        assert!(
            s.min_user_interactions >= 20 && s.max_user_interactions <= 60,
            "{s:?}"
        );
        assert!(a
            .items
            .iter()
            .all(|i| i.year.is_some() && !i.genres.is_empty()));
        let c = generate(&SyntheticConfig { seed: 7, ..cfg }).unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
        // Zipf: the most popular item is far above the median one.
        let mut pop = vec![0usize; a.num_items()];
        for it in &a.interactions {
            pop[it.item.idx()] += 1;
        }
        pop.sort_unstable();
        assert!(
            pop[pop.len() - 1] >= 4 * pop[pop.len() / 2].max(1),
            "{pop:?}"
        );
    }

    #[test]
    fn a_spec_sets_the_fields_it_names_and_errors_name_what_is_wrong() {
        let d = SyntheticConfig::default();
        assert_eq!(SyntheticConfig::from_spec("").unwrap(), d);
        assert_eq!(
            SyntheticConfig::from_spec("7").unwrap(),
            SyntheticConfig {
                seed: 7,
                ..d.clone()
            }
        );
        assert_eq!(
            SyntheticConfig::from_spec("users=60,items=200,drift=0.1,seed=3").unwrap(),
            SyntheticConfig {
                users: 60,
                items: 200,
                drift: 0.1,
                seed: 3,
                ..d
            }
        );
        let err = |spec: &str| SyntheticConfig::from_spec(spec).unwrap_err().to_string();
        assert!(err("users=60,colour=red").contains("unknown key `colour`"));
        assert!(err("users=many").contains("users must be a whole number, got `many`"));
        assert!(err("drift=NaN").contains("drift must be a number, got `NaN`"));
        assert!(err("users").contains("`users` is not key=value"));
    }
}
