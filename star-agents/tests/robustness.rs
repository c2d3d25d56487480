//! Property tests for the parsers of LLM output (issue 8): seeded random texts built from the
//! fragments real model output is made of, plus random byte-level mutations of well-formed
//! outputs. Nothing may panic, and what the parsers return must hold their promises. (A
//! cargo-fuzz target would need a sanitizer build of burn, which star-agents depends on; this
//! runs in `cargo test` instead, see RELIABILITY.md.)

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use star_agents::chat::parse::{extract_json, parse_arguments, parse_ranking};
use star_cf::ItemId;
use std::collections::HashSet;

const FRAGMENTS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "\"",
    ":",
    ",",
    " ",
    "\n",
    "\\",
    "\\\"",
    "\\u00e9",
    "null",
    "true",
    "1",
    "42",
    "242",
    "-3",
    "1e309",
    "0.5",
    "\"ranking\"",
    "\"items\"",
    "\"recommendations\"",
    "\"id\"",
    "\"item_id\"",
    "```json",
    "```",
    "1. ",
    "2) ",
    "- ",
    "* ",
    "[242]",
    "[7]",
    "Kolya (1996)",
    "<tool_call>",
    "</tool_call>",
    "<recommend>",
    "é",
    "日本",
    "\u{0}",
    "\u{feff}",
    "{\"ranking\": [",
    "]}",
    "\"242\"",
    "\"7\"",
    "\"x\"",
    "{\"id\": 9}",
    "'",
    "NaN",
];

const WELL_FORMED: &[&str] = &[
    r#"{"ranking": ["242", "7", "9", "11", "3"]}"#,
    r#"Here you go: ```json
{"recommendations": [{"id": 242}, {"item_id": "7"}, {"item": 9}, 11, "3"],}
```"#,
    "1. [242] Kolya (1996)\n2. [7] Twelve Monkeys (1995)\n3. [9] Dead Man Walking (1995)\n4. [11]\n5. [3]",
    r#"["242", 7, "9", 11, "3"]"#,
    r#"{"user": "1", "k": 5}"#,
];

fn random_text(rng: &mut ChaCha8Rng) -> String {
    if rng.random_bool(0.5) {
        let n = rng.random_range(0..40);
        (0..n)
            .map(|_| FRAGMENTS[rng.random_range(0..FRAGMENTS.len())])
            .collect()
    } else {
        // A well-formed output with a few bytes replaced, inserted or cut.
        let mut bytes = WELL_FORMED[rng.random_range(0..WELL_FORMED.len())]
            .as_bytes()
            .to_vec();
        for _ in 0..rng.random_range(1..6) {
            let at = rng.random_range(0..=bytes.len());
            match rng.random_range(0..3) {
                0 if at < bytes.len() => bytes[at] = rng.random(),
                1 => bytes.insert(at, rng.random()),
                _ => bytes.truncate(at),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[test]
fn llm_output_parsers_never_panic_and_keep_their_promises() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let candidates: Vec<ItemId> = [242u32, 7, 9, 11, 3].map(ItemId).to_vec();
    let resolve = |raw: &str| raw.trim().parse::<u32>().ok().map(ItemId);
    let mut valid_seen = 0;
    for case in 0..20_000 {
        let text = random_text(&mut rng);
        let _ = extract_json(&text);
        match parse_arguments(&text) {
            Ok(v) => assert!(v.is_object(), "case {case}: {text:?} gave {v}"),
            Err(e) => assert!(!e.is_empty()),
        }
        let r = parse_ranking(&text, &candidates, resolve);
        let mut seen = HashSet::new();
        for item in &r.items {
            assert!(
                candidates.contains(item),
                "case {case}: {item:?} from {text:?}"
            );
            assert!(
                seen.insert(*item),
                "case {case}: {item:?} twice from {text:?}"
            );
        }
        if r.valid {
            valid_seen += 1;
            assert_eq!(r.items.len(), candidates.len(), "case {case}: {text:?}");
        }
    }
    // The generator reaches the parsers' success paths too, not only their errors.
    assert!(
        valid_seen > 100,
        "only {valid_seen} valid rankings among the random outputs"
    );
}
