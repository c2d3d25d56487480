//! Sentence templates for CST evidence, kept in `assets/templates/evidence.json`.
//!
//! A template is text with `{placeholder}` fields. Each template has a fixed set of allowed
//! placeholders; loading fails (naming the template and field) when a template uses any other,
//! so a typo in a custom template file is caught at start-up, not in the middle of a run.

use crate::error::{CfError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The templates shipped in `assets/templates/evidence.json`.
pub const DEFAULT_TEMPLATES: &str = include_str!("../../../assets/templates/evidence.json");

/// Template names and the placeholders each may use.
pub const TEMPLATE_FIELDS: &[(&str, &[&str])] = &[
    ("user_cf", &["hits", "k", "title"]),
    ("user_cf_none", &["k", "title"]),
    ("item_cf", &["count", "when", "anchor", "title"]),
    ("item_cf_none", &["title"]),
    ("popularity", &["title", "rank", "items", "count"]),
    ("genres", &["genres", "share", "title"]),
    ("genres_none", &["title"]),
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Piece {
    Text(String),
    Field(String),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`, accepting only `allowed` placeholders. `{{` and `}}` are literal braces.
    pub fn parse(name: &str, text: &str, allowed: &[&str]) -> Result<Template> {
        let mut pieces = Vec::new();
        let mut buf = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    buf.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    buf.push('}');
                }
                '{' => {
                    let field: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    if !allowed.contains(&field.as_str()) {
                        return Err(CfError::Invalid(format!(
                            "template `{name}`: unknown placeholder `{{{field}}}` (allowed: {})",
                            allowed.join(", ")
                        )));
                    }
                    if !buf.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut buf)));
                    }
                    pieces.push(Piece::Field(field));
                }
                '}' => {
                    return Err(CfError::Invalid(format!(
                        "template `{name}`: unmatched `}}`"
                    )))
                }
                c => buf.push(c),
            }
        }
        if !buf.is_empty() {
            pieces.push(Piece::Text(buf));
        }
        Ok(Template { pieces })
    }

    /// Renders with `value(field)` for each placeholder.
    pub fn render(&self, value: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => out.push_str(&value(f)),
            }
        }
        out
    }
}

/// The full set of evidence templates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Templates {
    map: BTreeMap<String, Template>,
}

impl Templates {
    /// Parses a JSON object of `name → template text`; every name of [`TEMPLATE_FIELDS`] is required.
    pub fn from_json(source: &str, json: &str) -> Result<Templates> {
        let raw: BTreeMap<String, String> = serde_json::from_str(json).map_err(|e| {
            CfError::Invalid(format!("{source}: not a JSON object of strings: {e}"))
        })?;
        let mut map = BTreeMap::new();
        for (name, fields) in TEMPLATE_FIELDS {
            let text = raw.get(*name).ok_or_else(|| {
                CfError::Invalid(format!("{source}: template `{name}` is missing"))
            })?;
            map.insert(name.to_string(), Template::parse(name, text, fields)?);
        }
        if let Some(extra) = raw.keys().find(|k| !map.contains_key(*k)) {
            return Err(CfError::Invalid(format!(
                "{source}: unknown template `{extra}`"
            )));
        }
        Ok(Templates { map })
    }

    /// Loads templates from a JSON file.
    pub fn load(path: &Path) -> Result<Templates> {
        let text = std::fs::read_to_string(path).map_err(|e| CfError::io(path, e))?;
        Self::from_json(&path.display().to_string(), &text)
    }

    /// The template called `name`.
    ///
    /// # Panics
    /// If `name` is not one of [`TEMPLATE_FIELDS`] (construction guarantees all of those exist).
    pub fn get(&self, name: &str) -> &Template {
        &self.map[name]
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::from_json("assets/templates/evidence.json", DEFAULT_TEMPLATES)
            .expect("the shipped templates are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_render_and_reject_unknown_fields() {
        let t = Template::parse("t", "{a} of {{b}} {a}!", &["a"]).unwrap();
        assert_eq!(t.render(|f| format!("<{f}>")), "<a> of {b} <a>!");
        let err = Template::parse("t", "{nope}", &["a"]).unwrap_err();
        assert!(err.to_string().contains("`{nope}`"), "{err}");
        let _ = Templates::default();
        let missing = Templates::from_json("x.json", r#"{"user_cf": "{k}"}"#).unwrap_err();
        assert!(missing.to_string().contains("x.json"), "{missing}");
    }
}
