//! RecBole atomic files: `<name>.inter`, `<name>.item`, `<name>.user`.
//!
//! Each file is tab-separated; its first line is a header of `field:type` entries, the type one
//! of `token`, `token_seq`, `float`, `float_seq` (`*_seq` values are space-separated). Fields
//! are mapped by name:
//!
//! * `.inter`: `user_id`, `item_id`, optional `rating`, optional `timestamp` (without one,
//!   the line order is the time order).
//! * `.item`: `item_id`; the title from the first of `movie_title`, `title`, `name`; the year
//!   from `release_year` or `year` (else from a trailing `"(1995)"` in the title); the genres
//!   from the first of `class`, `genre`, `genres`, `categories`.
//! * `.user`: `user_id`; every other column becomes a user attribute.
//!
//! Text is UTF-8, or Latin-1 on lines that are not valid UTF-8.

use super::text::{
    expect_fields, for_each_line, id_field, open, parse_rating, parse_timestamp, parse_year,
    split_title_year, Encoding,
};
use super::{Dataset, DatasetBuilder, PreprocessOptions};
use crate::error::{CfError, Result};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Loads `<dir>/<name>.inter` (required) with `<name>.item` and `<name>.user` when present.
/// The dataset is called `name`.
pub fn load_atomic(dir: impl AsRef<Path>, name: &str, opts: &PreprocessOptions) -> Result<Dataset> {
    let dir = dir.as_ref();
    let mut b = DatasetBuilder::new(name);
    let hint = "RecBole interactions: a `user_id:token<TAB>item_id:token<TAB>...` header, \
                then one interaction per line";
    let inter = AtomicFile::open(dir.join(format!("{name}.inter")), hint)?;
    let user = inter.require(&["user_id"])?;
    let item = inter.require(&["item_id"])?;
    let rating = inter.column(&["rating"]);
    let time = inter.column(&["timestamp"]);
    if time.is_none() {
        tracing::warn!(
            "{}: no timestamp field, using the line order",
            inter.path.display()
        );
    }
    inter.for_each_row(|line, f| {
        let u = id_field(&inter.path, line, "user", f[user])?;
        let i = id_field(&inter.path, line, "item", f[item])?;
        let r = match rating {
            Some(c) if !f[c].trim().is_empty() => Some(parse_rating(&inter.path, line, f[c])?),
            _ => None,
        };
        let t = match time {
            Some(c) => parse_timestamp(&inter.path, line, f[c])?,
            None => line as i64,
        };
        b.add_interaction(u, i, r, t);
        Ok(())
    })?;

    let item_path = dir.join(format!("{name}.item"));
    if item_path.is_file() {
        read_items(AtomicFile::open(item_path, "RecBole items")?, &mut b)?;
    }
    let user_path = dir.join(format!("{name}.user"));
    if user_path.is_file() {
        read_users(AtomicFile::open(user_path, "RecBole users")?, &mut b)?;
    }
    b.build(opts)
}

fn read_items(file: AtomicFile, b: &mut DatasetBuilder) -> Result<()> {
    let id = file.require(&["item_id"])?;
    let title = file.column(&["movie_title", "title", "name"]);
    let year = file.column(&["release_year", "year"]);
    let genre = file.column(&["class", "genre", "genres", "categories"]);
    let genre_is_seq = genre.is_some_and(|c| file.fields[c].1.ends_with("_seq"));
    file.for_each_row(|line, f| {
        let item = id_field(&file.path, line, "item", f[id])?;
        let (name, title_year) = split_title_year(title.map_or("", |c| f[c]));
        let year = match year {
            Some(c) => parse_year(f[c]).or(title_year),
            None => title_year,
        };
        let genres: Vec<&str> = match genre {
            Some(c) if genre_is_seq => f[c].split_whitespace().collect(),
            Some(c) => vec![f[c]],
            None => Vec::new(),
        };
        b.add_item(item, name, year, genres);
        Ok(())
    })?;
    Ok(())
}

fn read_users(file: AtomicFile, b: &mut DatasetBuilder) -> Result<()> {
    let id = file.require(&["user_id"])?;
    file.for_each_row(|line, f| {
        let user = id_field(&file.path, line, "user", f[id])?;
        let attributes = file
            .fields
            .iter()
            .zip(f)
            .enumerate()
            .filter(|(c, (_, v))| *c != id && !v.trim().is_empty())
            .map(|(_, ((name, _), v))| (name.clone(), v.trim().to_string()))
            .collect();
        b.add_user(user, attributes);
        Ok(())
    })?;
    Ok(())
}

/// One atomic file: its path and the `(name, type)` fields of its header.
struct AtomicFile {
    path: PathBuf,
    fields: Vec<(String, String)>,
    header_line: usize,
}

impl AtomicFile {
    /// Reads the header (the first non-blank line) and checks its `name:type` entries.
    fn open(path: PathBuf, hint: &str) -> Result<Self> {
        let mut reader = std::io::BufReader::new(open(&path, hint)?);
        let mut buf = Vec::new();
        let mut line = 0;
        let header = loop {
            buf.clear();
            if reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| CfError::io(&path, e))?
                == 0
            {
                return Err(CfError::Empty { path });
            }
            line += 1;
            let text = super::text::decode(&path, buf.clone(), Encoding::Auto)?;
            if !text.trim().is_empty() {
                break text;
            }
        };
        let mut fields = Vec::new();
        for entry in header.trim_end_matches(['\r', '\n']).split('\t') {
            let (name, ty) = entry.trim().split_once(':').ok_or_else(|| {
                CfError::parse(
                    &path,
                    line,
                    format!("header entry {entry:?} is not `name:type`"),
                )
            })?;
            if !matches!(ty, "token" | "token_seq" | "float" | "float_seq") {
                let msg = format!(
                    "field `{name}` has unknown type {ty:?} (token, token_seq, float, float_seq)"
                );
                return Err(CfError::parse(&path, line, msg));
            }
            fields.push((name.to_string(), ty.to_string()));
        }
        Ok(AtomicFile {
            path,
            fields,
            header_line: line,
        })
    }

    /// The index of the first of `names` in the header.
    fn column(&self, names: &[&str]) -> Option<usize> {
        names
            .iter()
            .find_map(|n| self.fields.iter().position(|(f, _)| f == n))
    }

    /// Like [`AtomicFile::column`], but a missing field is a [`CfError::Format`].
    fn require(&self, names: &[&str]) -> Result<usize> {
        self.column(names).ok_or_else(|| {
            let have: Vec<&str> = self.fields.iter().map(|(n, _)| n.as_str()).collect();
            CfError::format(
                &self.path,
                format!(
                    "no `{}` field in the header ({})",
                    names.join("` or `"),
                    have.join(", ")
                ),
            )
        })
    }

    /// Streams the records after the header, each split into exactly as many fields as the
    /// header has. A file without records is [`CfError::Empty`].
    fn for_each_row(&self, mut f: impl FnMut(usize, &[&str]) -> Result<()>) -> Result<()> {
        let mut rows = 0;
        for_each_line(&self.path, Encoding::Auto, "", |line, text| {
            if line <= self.header_line {
                return Ok(());
            }
            let split: Vec<&str> = text.split('\t').collect();
            expect_fields(&self.path, line, &split, self.fields.len(), "\t")?;
            rows += 1;
            f(line, &split)
        })?;
        if rows == 0 {
            return Err(CfError::Empty {
                path: self.path.clone(),
            });
        }
        Ok(())
    }
}
