//! Seeded mutations of files for the property tests of parsers (shared with star-train's
//! tests through `#[path]`): JSON leaves set to odd values, keys dropped, bytes flipped,
//! inserted or cut.
#![allow(dead_code)]

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// Odd values for a JSON leaf.
pub fn odd_value(rng: &mut ChaCha8Rng) -> Value {
    let choices = [
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!(1),
        serde_json::json!(3),
        serde_json::json!(4_294_967_296u64),
        serde_json::json!(1_000_000_000_000u64),
        serde_json::json!(u64::MAX),
        serde_json::json!(2.5),
        serde_json::json!(1e308),
        Value::Null,
        serde_json::json!("x"),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!(true),
    ];
    choices[rng.random_range(0..choices.len())].clone()
}

/// Replaces a random leaf (or drops a random key) of `v`.
pub fn mutate_json(v: &mut Value, rng: &mut ChaCha8Rng) -> String {
    match v {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let k = keys[rng.random_range(0..keys.len())].clone();
            if rng.random_bool(0.1) {
                map.remove(&k);
                return format!("dropped `{k}`");
            }
            let child = map.get_mut(&k).unwrap();
            if child.is_object() || (child.is_array() && rng.random_bool(0.7)) {
                format!("{k}.{}", mutate_json(child, rng))
            } else {
                *child = odd_value(rng);
                format!("{k} = {child}")
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let i = rng.random_range(0..a.len());
            if rng.random_bool(0.1) {
                a.remove(i);
                return format!("removed [{i}]");
            }
            if a[i].is_object() || a[i].is_array() {
                format!("[{i}].{}", mutate_json(&mut a[i], rng))
            } else {
                a[i] = odd_value(rng);
                format!("[{i}] = {}", a[i])
            }
        }
        other => {
            *other = odd_value(rng);
            format!("= {other}")
        }
    }
}

/// Flips, inserts or cuts bytes.
pub fn mutate_bytes(b: &mut Vec<u8>, rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..4) {
        0 => {
            let n = rng.random_range(0..=b.len());
            b.truncate(n);
            format!("cut to {n} bytes")
        }
        1 => {
            let i = rng.random_range(0..b.len().max(1));
            b.insert(i.min(b.len()), rng.random());
            format!("byte inserted at {i}")
        }
        _ => {
            let mut at = Vec::new();
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..b.len().max(1));
                if i < b.len() {
                    b[i] ^= 1 << rng.random_range(0..8);
                    at.push(i);
                }
            }
            format!("bits flipped at {at:?}")
        }
    }
}

/// A number from the environment (`STAR_PROPTEST_SEED`, `STAR_PROPTEST_CASES`), else `default`.
pub fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
