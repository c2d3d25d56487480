//! Tolerant parsing of model output. Model text is untrusted input: every function here returns
//! `None`, an error or a partial result on bad input, and never panics.

use serde_json::Value;
use star_cf::ItemId;
use std::collections::HashSet;

/// Most `{`/`[` positions tried as the start of an embedded JSON block (bounds the work on long,
/// bracket-heavy text).
const MAX_BLOCK_STARTS: usize = 256;

/// Finds the JSON value in model output.
///
/// Accepts, in this order: the whole text as JSON; the content of a ```` ```json ```` (or bare
/// ```` ``` ````) fence; the first balanced `{...}` or `[...]` block inside prose that parses
/// (brackets inside JSON strings, including escaped quotes, do not count). Trailing commas before
/// `}` or `]` are tolerated everywhere. Returns `None` when nothing parses.
pub fn extract_json(text: &str) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Some(v) = parse_lenient(text) {
        return Some(v);
    }
    for block in fenced_blocks(text) {
        if let Some(v) = parse_lenient(block) {
            return Some(v);
        }
    }
    first_balanced_block(text)
}

/// Parses `text` as JSON, retrying once with trailing commas removed.
fn parse_lenient(text: &str) -> Option<Value> {
    let text = text.trim();
    serde_json::from_str(text).ok().or_else(|| {
        let fixed = strip_trailing_commas(text);
        if fixed.len() == text.len() {
            None
        } else {
            serde_json::from_str(&fixed).ok()
        }
    })
}

/// Removes commas that (ignoring whitespace) directly precede `}` or `]`, outside strings.
fn strip_trailing_commas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = text[i + 1..].trim_start().chars().next();
            if matches!(next, Some('}' | ']')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The contents of ```` ``` ```` fences, in order (the language tag line is skipped; an unclosed
/// fence runs to the end of the text).
fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        // Skip the info string (e.g. `json`) up to the end of the line.
        let body = match after.find('\n') {
            Some(nl) => &after[nl + 1..],
            None => after,
        };
        match body.find("```") {
            Some(close) => {
                blocks.push(&body[..close]);
                rest = &body[close + 3..];
            }
            None => {
                blocks.push(body);
                break;
            }
        }
    }
    blocks
}

/// The first balanced `{...}`/`[...]` block of `text` that parses as JSON.
fn first_balanced_block(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let starts = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| matches!(b, b'{' | b'['))
        .map(|(i, _)| i)
        .take(MAX_BLOCK_STARTS);
    for start in starts {
        if let Some(end) = matching_close(bytes, start) {
            // `start` and `end` are ASCII delimiters, hence char boundaries.
            if let Some(v) = parse_lenient(&text[start..=end]) {
                return Some(v);
            }
        }
    }
    None
}

/// The index of the delimiter closing the one at `start`, respecting JSON strings and escapes;
/// `None` when the block is unbalanced or mismatched.
fn matching_close(bytes: &[u8], start: usize) -> Option<usize> {
    let mut stack: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => stack.push(b'}'),
            b'[' => stack.push(b']'),
            b'}' | b']' => {
                if stack.pop() != Some(b) {
                    return None;
                }
                if stack.is_empty() {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// A ranking parsed from model output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRanking {
    /// Candidate items in the model's order: unknown ids, non-candidates and repeats dropped;
    /// missing candidates are *not* appended.
    pub items: Vec<ItemId>,
    /// Whether the output was exactly a permutation of the candidates (nothing dropped, nothing
    /// missing).
    pub valid: bool,
}

/// Parses a ranking of `candidates` from model output.
///
/// Understands a JSON array of ids (strings or numbers); a JSON object with a `ranking`, `items`,
/// `recommendations` (or `ranked_items`, `ids`) array whose elements are ids or objects with an
/// `id`/`item`/`item_id` field; and numbered or bulleted lines with the id in square brackets, like
/// `1. [242] Kolya (1996)`. When both readings find something, the one yielding more candidates
/// wins (ties go to JSON).
///
/// `resolve` maps a raw id as the model wrote it (e.g. `"242"`) to an item. Order is kept;
/// unresolvable ids, non-candidates and duplicates are dropped.
pub fn parse_ranking(
    text: &str,
    candidates: &[ItemId],
    resolve: impl Fn(&str) -> Option<ItemId>,
) -> ParsedRanking {
    let candidate_set: HashSet<ItemId> = candidates.iter().copied().collect();
    let from_json = extract_json(text)
        .and_then(|v| json_entries(&v))
        .map(|entries| collect_ranking(&entries, &candidate_set, &resolve));
    let from_lines = collect_ranking(&line_entries(text), &candidate_set, &resolve);
    match from_json {
        Some(json) if json.items.len() >= from_lines.items.len() => json,
        _ => from_lines,
    }
}

/// One ranking entry: the raw id strings to try, in order.
type Entry = Vec<String>;

/// The entries of a JSON ranking, `None` when the value has no ranking shape.
fn json_entries(value: &Value) -> Option<Vec<Entry>> {
    const KEYS: [&str; 6] = [
        "ranking",
        "items",
        "recommendations",
        "ranked_items",
        "ranked_ids",
        "ids",
    ];
    let array = match value {
        Value::Array(a) => a,
        Value::Object(map) => {
            let by_key = KEYS.iter().find_map(|key| {
                map.iter()
                    .find(|(k, v)| k.eq_ignore_ascii_case(key) && v.is_array())
                    .and_then(|(_, v)| v.as_array())
            });
            match by_key {
                Some(a) => a,
                None => {
                    // An object with a single array field, whatever it is called.
                    let mut arrays = map.values().filter_map(Value::as_array);
                    match (arrays.next(), arrays.next()) {
                        (Some(a), None) => a,
                        _ => return None,
                    }
                }
            }
        }
        _ => return None,
    };
    Some(
        array
            .iter()
            .map(|element| {
                // The id itself, then any `[id]` inside it (e.g. "[242] Kolya (1996)").
                let raw = element_id(element);
                let mut entry: Entry = bracket_groups(&raw)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                entry.insert(0, raw);
                entry
            })
            .collect(),
    )
}

/// The raw id of one ranking element (empty when it has none).
fn element_id(element: &Value) -> String {
    match element {
        Value::Object(map) => ["id", "item", "item_id", "itemId"]
            .iter()
            .find_map(|k| map.get(*k))
            .map(scalar_id)
            .unwrap_or_default(),
        other => scalar_id(other),
    }
}

/// A string or number as an id string (`242.0` reads as `242`).
fn scalar_id(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.to_string(),
            (_, Some(i), _) => i.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        _ => String::new(),
    }
}

/// The entries of a list-style ranking: one per line that carries a `[...]` group (its groups, in
/// order) or starts with a list marker `1.`, `1)`, `-`, `*` (the first word after it). Other
/// lines (prose) are ignored.
fn line_entries(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let groups = bracket_groups(line);
            if !groups.is_empty() {
                return Some(groups.into_iter().map(str::to_string).collect());
            }
            strip_list_marker(line).map(|rest| {
                let word = rest.split_whitespace().next().unwrap_or("");
                vec![word
                    .trim_matches(|c: char| !c.is_alphanumeric())
                    .to_string()]
            })
        })
        .collect()
}

/// The trimmed contents of the innermost `[...]` groups of `line`, in order.
fn bracket_groups(line: &str) -> Vec<&str> {
    let mut groups = Vec::new();
    let mut open = None;
    for (i, c) in line.char_indices() {
        match c {
            '[' => open = Some(i),
            ']' => {
                if let Some(o) = open.take() {
                    groups.push(line[o + 1..i].trim());
                }
            }
            _ => {}
        }
    }
    groups
}

/// The rest of `line` after a list marker, `None` when it has none.
fn strip_list_marker(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix(['-', '*', '•']) {
        return Some(rest.trim_start());
    }
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    line[digits..]
        .strip_prefix(['.', ')', ':'])
        .map(str::trim_start)
}

/// Resolves and filters entries into a ranking.
fn collect_ranking(
    entries: &[Entry],
    candidates: &HashSet<ItemId>,
    resolve: &impl Fn(&str) -> Option<ItemId>,
) -> ParsedRanking {
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    let mut dropped = false;
    for entry in entries {
        let item = entry
            .iter()
            .map(|raw| raw.trim())
            .filter(|raw| !raw.is_empty())
            .find_map(resolve);
        match item {
            Some(item) if candidates.contains(&item) && seen.insert(item) => items.push(item),
            _ => dropped = true,
        }
    }
    let valid = !dropped && !items.is_empty() && items.len() == candidates.len();
    ParsedRanking { items, valid }
}

/// Parses tool-call arguments as the model wrote them.
///
/// Empty text is `{}`; otherwise the JSON is found with [`extract_json`] (so fences, prose and
/// trailing commas are tolerated, and a JSON string holding an object is unwrapped). The result
/// must be an object; the error says what is wrong.
pub fn parse_arguments(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    let value = extract_json(text).ok_or_else(|| {
        format!(
            "tool arguments are not JSON: {:?}",
            text.chars().take(200).collect::<String>()
        )
    })?;
    let value = match value {
        // Double-encoded arguments: a JSON string holding the object.
        Value::String(inner) if !inner.trim().is_empty() => {
            extract_json(&inner).unwrap_or(Value::String(inner))
        }
        Value::String(_) => return Ok(Value::Object(Default::default())),
        other => other,
    };
    match value {
        Value::Object(_) => Ok(value),
        other => Err(format!(
            "tool arguments must be a JSON object, got {}: {}",
            kind_name(&other),
            other.to_string().chars().take(200).collect::<String>()
        )),
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids(raw: &[u32]) -> Vec<ItemId> {
        raw.iter().map(|&i| ItemId(i)).collect()
    }

    /// Raw ids are the dense ids plus 100 (so raw and dense ids differ).
    fn resolve(raw: &str) -> Option<ItemId> {
        raw.parse::<u32>().ok()?.checked_sub(100).map(ItemId)
    }

    #[test]
    fn extract_plain_json() {
        assert_eq!(extract_json(r#" {"a": 1} "#), Some(json!({"a": 1})));
        assert_eq!(extract_json("[1, 2]"), Some(json!([1, 2])));
    }

    #[test]
    fn extract_fenced_json() {
        let text =
            "Here you go:\n```json\n{\"ranking\": [\"101\", \"102\"]}\n```\nHope that helps.";
        assert_eq!(extract_json(text), Some(json!({"ranking": ["101", "102"]})));
        let bare = "```\n[3, 4]\n```";
        assert_eq!(extract_json(bare), Some(json!([3, 4])));
    }

    #[test]
    fn extract_json_from_prose_respecting_strings() {
        let text = r#"Sure! The answer is {"reason": "a } and a \" and ] inside", "k": [1, {"x": 2}]} -- done {"other": 1}"#;
        assert_eq!(
            extract_json(text),
            Some(json!({"reason": "a } and a \" and ] inside", "k": [1, {"x": 2}]}))
        );
    }

    #[test]
    fn extract_skips_unparsable_blocks() {
        let text = "Note {not json} then {\"ok\": true}";
        assert_eq!(extract_json(text), Some(json!({"ok": true})));
    }

    #[test]
    fn extract_tolerates_trailing_commas() {
        assert_eq!(
            extract_json("{\"a\": [1, 2, ], \"b\": \"x,]\",\n}"),
            Some(json!({"a": [1, 2], "b": "x,]"}))
        );
        assert_eq!(
            extract_json("text [ \"1\", \"2\", ] more"),
            Some(json!(["1", "2"]))
        );
    }

    #[test]
    fn extract_garbage_is_none() {
        assert_eq!(extract_json(""), None);
        assert_eq!(extract_json("no json here at all"), None);
        assert_eq!(extract_json("{{{[[[\"unterminated"), None);
        assert_eq!(extract_json("}]}] ] }"), None);
    }

    #[test]
    fn ranking_from_json_array_is_valid_permutation() {
        let candidates = ids(&[1, 2, 3]);
        let r = parse_ranking(r#"["103", 101, "102"]"#, &candidates, resolve);
        assert_eq!(r.items, ids(&[3, 1, 2]));
        assert!(r.valid);
    }

    #[test]
    fn ranking_from_object_with_element_objects() {
        let candidates = ids(&[1, 2]);
        let text = r#"```json
{"recommendations": [{"id": 102, "why": "x"}, {"item": "101"},]}
```"#;
        let r = parse_ranking(text, &candidates, resolve);
        assert_eq!(r.items, ids(&[2, 1]));
        assert!(r.valid);
        let r = parse_ranking(r#"{"ranking": ["102", "101"]}"#, &candidates, resolve);
        assert_eq!(r.items, ids(&[2, 1]));
        let r = parse_ranking(r#"{"items": [101]}"#, &candidates, resolve);
        assert_eq!(r.items, ids(&[1]));
        assert!(!r.valid, "a missing candidate makes the ranking invalid");
    }

    #[test]
    fn ranking_from_numbered_list() {
        let candidates = ids(&[142, 2, 7]);
        let text = "Here is my ranking:\n1. [242] Kolya (1996)\n2. [107] Seven [Director's Cut] (1995)\n3) [102] Toy Story (1995)\n\nEnjoy!";
        let r = parse_ranking(text, &candidates, resolve);
        assert_eq!(r.items, ids(&[142, 7, 2]));
        assert!(r.valid);
    }

    #[test]
    fn ranking_drops_duplicates_unknown_and_non_candidates() {
        let candidates = ids(&[1, 2, 3]);
        // Duplicate 101, unknown "abc", non-candidate 109.
        let r = parse_ranking(r#"[101, "abc", 102, 101, 109, 103]"#, &candidates, resolve);
        assert_eq!(r.items, ids(&[1, 2, 3]));
        assert!(!r.valid);

        let text = "1. [101] A\n2. [101] A again\n3. [102] B\n4. [103] C";
        let r = parse_ranking(text, &candidates, resolve);
        assert_eq!(r.items, ids(&[1, 2, 3]));
        assert!(!r.valid);
    }

    #[test]
    fn ranking_from_garbage_is_empty() {
        let candidates = ids(&[1, 2]);
        for text in [
            "",
            "I cannot help with that.",
            "{{{",
            "[\"zzz\"]",
            "{\"a\": 1}",
        ] {
            let r = parse_ranking(text, &candidates, resolve);
            assert!(r.items.is_empty(), "{text:?} gave {:?}", r.items);
            assert!(!r.valid);
        }
    }

    #[test]
    fn arguments_parse_tolerantly() {
        assert_eq!(parse_arguments(""), Ok(json!({})));
        assert_eq!(parse_arguments("  "), Ok(json!({})));
        assert_eq!(
            parse_arguments(r#"{"user": 3, "k": 10,}"#),
            Ok(json!({"user": 3, "k": 10}))
        );
        assert_eq!(
            parse_arguments(r#""{\"user\": 3}""#),
            Ok(json!({"user": 3}))
        );
        assert_eq!(
            parse_arguments("```json\n{\"item\": \"242\"}\n```"),
            Ok(json!({"item": "242"}))
        );
        let err = parse_arguments("[1, 2]").unwrap_err();
        assert!(
            err.contains("must be a JSON object") && err.contains("array"),
            "{err}"
        );
        let err = parse_arguments("user=3").unwrap_err();
        assert!(err.contains("not JSON"), "{err}");
    }
}
