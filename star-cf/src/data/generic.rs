//! A generic interaction + metadata format, as CSV/TSV with a header or as JSON lines.
//!
//! * Interactions: `user` (or `user_id`), `item` (or `item_id`), optional `rating`, optional
//!   `timestamp` (without one, the record order is the time order).
//! * Items: `item` (or `item_id`), `title`, optional `year`, optional `genres` (a `|`-separated
//!   string, or in JSON an array of strings). A title ending in `"(1995)"` gives the year too.
//! * Users: `user` (or `user_id`); every other column becomes an attribute.
//!
//! The file extension picks the format: `.jsonl`/`.ndjson` are JSON lines (one object per line,
//! ids may be strings or numbers), `.tsv`/`.tab` are tab-separated, anything else is CSV.

use super::text::{
    csv_error, csv_header, csv_reader, find_column, for_each_line, id_field, parse_rating,
    parse_timestamp, parse_year, require_column, split_title_year, Encoding,
};
use super::{Dataset, DatasetBuilder, PreprocessOptions};
use crate::error::{CfError, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

const USER: &[&str] = &["user", "user_id"];
const ITEM: &[&str] = &["item", "item_id"];

/// Loads a dataset called `name` from an interactions file and optional item and user files.
pub fn load_generic(
    interactions: &Path,
    items: Option<&Path>,
    users: Option<&Path>,
    name: &str,
    opts: &PreprocessOptions,
) -> Result<Dataset> {
    let mut b = DatasetBuilder::new(name);
    let hint = "interactions with columns user,item[,rating][,timestamp] (CSV/TSV with a header, \
                or JSON lines)";
    let mut timed: Option<bool> = None;
    for_each_record(interactions, hint, &[USER, ITEM], |line, row| {
        let path = interactions;
        let user = id_field(path, line, "user", &row.text(USER).unwrap_or_default())?.to_string();
        let item = id_field(path, line, "item", &row.text(ITEM).unwrap_or_default())?.to_string();
        let rating = match row.text(&["rating"]) {
            Some(r) => Some(parse_rating(path, line, &r)?),
            None => None,
        };
        let time = row.text(&["timestamp"]);
        let timestamp = match (time, *timed.get_or_insert(row.has(&["timestamp"]))) {
            (Some(t), true) => parse_timestamp(path, line, &t)?,
            (None, false) => line as i64,
            (_, true) => return Err(CfError::parse(path, line, "missing timestamp")),
            (Some(_), false) => {
                let msg = "timestamp on this record but not on the first one";
                return Err(CfError::parse(path, line, msg));
            }
        };
        b.add_interaction(&user, &item, rating, timestamp);
        Ok(())
    })?;
    if let Some(path) = items {
        for_each_record(
            path,
            "item metadata: item,title[,year][,genres]",
            &[ITEM],
            |line, row| {
                let item = row.text(ITEM).unwrap_or_default();
                let item = id_field(path, line, "item", &item)?;
                let (title, title_year) =
                    split_title_year(&row.text(&["title"]).unwrap_or_default());
                let year = match row.text(&["year"]) {
                    Some(y) => parse_year(&y).or(title_year),
                    None => title_year,
                };
                b.add_item(item, title, year, row.list(&["genres"]));
                Ok(())
            },
        )?;
    }
    if let Some(path) = users {
        for_each_record(path, "user attributes: user,...", &[USER], |line, row| {
            let user = row.text(USER).unwrap_or_default();
            let user = id_field(path, line, "user", &user)?;
            b.add_user(user, row.attributes(USER));
            Ok(())
        })?;
    }
    b.build(opts)
}

/// One record of a CSV or JSON-lines file, read by column name.
enum Row<'a> {
    Csv(&'a [String], &'a csv::StringRecord),
    Json(&'a Map<String, Value>),
}

impl Row<'_> {
    /// Whether the record has one of the `names` columns (possibly empty).
    fn has(&self, names: &[&str]) -> bool {
        match self {
            Row::Csv(header, _) => find_column(header, names).is_some(),
            Row::Json(map) => names.iter().any(|n| map.contains_key(*n)),
        }
    }

    /// The first of the `names` columns as text; `None` when absent, empty or null.
    fn text(&self, names: &[&str]) -> Option<String> {
        let text = match self {
            Row::Csv(header, record) => record.get(find_column(header, names)?)?.to_string(),
            Row::Json(map) => match names.iter().find_map(|n| map.get(*n))? {
                Value::Null => return None,
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        };
        (!text.trim().is_empty()).then_some(text)
    }

    /// A list column: a JSON array, or a `|`-separated string.
    fn list(&self, names: &[&str]) -> Vec<String> {
        if let Row::Json(map) = self {
            if let Some(Value::Array(values)) = names.iter().find_map(|n| map.get(*n)) {
                return values
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect();
            }
        }
        self.text(names)
            .map(|s| s.split('|').map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Every non-empty column except the `skip` ones, as name → text.
    fn attributes(&self, skip: &[&str]) -> BTreeMap<String, String> {
        let names: Vec<&str> = match self {
            Row::Csv(header, _) => header.iter().map(String::as_str).collect(),
            Row::Json(map) => map.keys().map(String::as_str).collect(),
        };
        names
            .into_iter()
            .filter(|n| !skip.contains(n))
            .filter_map(|n| Some((n.to_string(), self.text(&[n])?.trim().to_string())))
            .collect()
    }
}

/// Streams the records of a CSV/TSV or JSON-lines file. `required` lists the columns (each with
/// its alternative names) a CSV header must have.
fn for_each_record(
    path: &Path,
    hint: &str,
    required: &[&[&str]],
    mut f: impl FnMut(usize, Row<'_>) -> Result<()>,
) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "jsonl" || ext == "ndjson" {
        for_each_line(path, Encoding::Utf8, hint, |line, text| {
            let value: Value = serde_json::from_str(text)
                .map_err(|e| CfError::parse(path, line, format!("invalid JSON: {e}")))?;
            let Value::Object(map) = value else {
                return Err(CfError::parse(path, line, "expected a JSON object"));
            };
            f(line, Row::Json(&map))
        })?;
        return Ok(());
    }
    let delimiter = if ext == "tsv" || ext == "tab" {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv_reader(path, delimiter, hint)?;
    let header = csv_header(&mut reader, path)?;
    for names in required {
        require_column(&header, names, path)?;
    }
    let mut record = csv::StringRecord::new();
    let mut any = false;
    while reader
        .read_record(&mut record)
        .map_err(|e| csv_error(path, e))?
    {
        let line = record.position().map_or(0, |p| p.line() as usize);
        f(line, Row::Csv(&header, &record))?;
        any = true;
    }
    if !any {
        return Err(CfError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}
