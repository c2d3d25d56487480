//! MovieLens loaders: 100K (`u.data`, `u.item`, `u.user`, `u.genre`), 1M (`ratings.dat`,
//! `movies.dat`, `users.dat`) and the CSV releases (latest-small, 20M, 25M: `ratings.csv`,
//! `movies.csv`).
//!
//! Rating files are streamed line by line; metadata files are optional (a warning is logged when
//! one is missing, and items then keep their ids as titles).

use super::text::{
    csv_columns, csv_error, csv_reader, expect_fields, fields, for_each_record, id_field,
    parse_field, parse_rating, parse_timestamp, read_text, split_title_year, year_from_date,
    Encoding,
};
use super::{Dataset, DatasetBuilder, PreprocessOptions};
use crate::error::{CfError, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The 19 genres of `u.item`, in flag order, used when `u.genre` is absent.
pub const GENRES_100K: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// The occupation names of `users.dat` in ML-1M, indexed by the occupation code 0..=20.
pub const OCCUPATIONS_1M: [&str; 21] = [
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
];

const GET_100K: &str = "from https://files.grouplens.org/datasets/movielens/ml-100k.zip";
const GET_1M: &str = "from https://files.grouplens.org/datasets/movielens/ml-1m.zip";

/// Loads MovieLens 100K from `dir` (`u.data` required; `u.item`, `u.user`, `u.genre` when
/// present). The dataset is called `"movielens-100k"`.
pub fn load_100k(dir: impl AsRef<Path>, opts: &PreprocessOptions) -> Result<Dataset> {
    let dir = dir.as_ref();
    let mut b = DatasetBuilder::new("movielens-100k");
    let hint =
        format!("MovieLens 100K ratings, `user<TAB>item<TAB>rating<TAB>timestamp`, {GET_100K}");
    read_ratings(&dir.join("u.data"), "\t", &hint, &mut b)?;
    let genre_file = dir.join("u.genre");
    let genres = if genre_file.is_file() {
        read_100k_genres(&genre_file)?
    } else {
        GENRES_100K.iter().map(|g| g.to_string()).collect()
    };
    if let Some(path) = optional(dir, "u.item") {
        read_100k_items(&path, &genres, &mut b)?;
    }
    if let Some(path) = optional(dir, "u.user") {
        for_each_record(&path, "MovieLens 100K users", "|", 5, |line, f| {
            let user = id_field(&path, line, "user", f[0])?;
            parse_field::<u32>(&path, line, "age", f[1])?;
            let attrs = [
                ("age", f[1]),
                ("gender", f[2]),
                ("occupation", f[3]),
                ("zip", f[4]),
            ];
            b.add_user(user, attributes(&attrs));
            Ok(())
        })?;
    }
    b.build(opts)
}

/// Loads MovieLens 1M from `dir` (`ratings.dat` required; `movies.dat` and `users.dat` when
/// present). Occupation codes become their names ([`OCCUPATIONS_1M`]); the age stays the
/// README's age-group code. The dataset is called `"movielens-1m"`.
pub fn load_1m(dir: impl AsRef<Path>, opts: &PreprocessOptions) -> Result<Dataset> {
    let dir = dir.as_ref();
    let mut b = DatasetBuilder::new("movielens-1m");
    let hint = format!("MovieLens 1M ratings, `UserID::MovieID::Rating::Timestamp`, {GET_1M}");
    read_ratings(&dir.join("ratings.dat"), "::", &hint, &mut b)?;
    if let Some(path) = optional(dir, "movies.dat") {
        for_each_record(&path, "MovieLens 1M movies", "::", 3, |line, f| {
            let item = id_field(&path, line, "movie", f[0])?;
            let (title, year) = split_title_year(f[1]);
            b.add_item(item, title, year, split_genres(f[2]));
            Ok(())
        })?;
    }
    if let Some(path) = optional(dir, "users.dat") {
        for_each_record(&path, "MovieLens 1M users", "::", 5, |line, f| {
            let user = id_field(&path, line, "user", f[0])?;
            parse_field::<u32>(&path, line, "age", f[2])?;
            let code: usize = parse_field(&path, line, "occupation code", f[3])?;
            let occupation = OCCUPATIONS_1M.get(code).ok_or_else(|| {
                CfError::parse(
                    &path,
                    line,
                    format!("occupation code {code} is not in 0..=20"),
                )
            })?;
            let attrs = [
                ("age", f[2]),
                ("gender", f[1]),
                ("occupation", *occupation),
                ("zip", f[4]),
            ];
            b.add_user(user, attributes(&attrs));
            Ok(())
        })?;
    }
    b.build(opts)
}

/// Loads a CSV release of MovieLens (latest-small, 20M, 25M) from `dir`: `ratings.csv`
/// (`userId,movieId,rating,timestamp`, streamed) and, when present, `movies.csv`
/// (`movieId,title,genres`; genres `|`-separated, `(no genres listed)` meaning none). UTF-8.
pub fn load_csv(dir: impl AsRef<Path>, name: &str, opts: &PreprocessOptions) -> Result<Dataset> {
    let dir = dir.as_ref();
    let mut b = DatasetBuilder::new(name);
    let path = dir.join("ratings.csv");
    let hint = "MovieLens CSV ratings with header `userId,movieId,rating,timestamp`, from \
                https://grouplens.org/datasets/movielens/";
    let mut reader = csv_reader(&path, b',', hint)?;
    let col = csv_columns(
        &mut reader,
        &path,
        &["userId", "movieId", "rating", "timestamp"],
    )?;
    let mut rec = csv::StringRecord::new();
    while reader
        .read_record(&mut rec)
        .map_err(|e| csv_error(&path, e))?
    {
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let user = id_field(&path, line, "user", &rec[col[0]])?;
        let item = id_field(&path, line, "movie", &rec[col[1]])?;
        let rating = parse_rating(&path, line, &rec[col[2]])?;
        let timestamp = parse_timestamp(&path, line, &rec[col[3]])?;
        b.add_interaction(user, item, Some(rating), timestamp);
    }
    if b.num_interactions() == 0 {
        return Err(CfError::Empty { path });
    }
    if let Some(path) = optional(dir, "movies.csv") {
        let mut reader = csv_reader(&path, b',', "MovieLens CSV movies")?;
        let col = csv_columns(&mut reader, &path, &["movieId", "title", "genres"])?;
        let mut any = false;
        while reader
            .read_record(&mut rec)
            .map_err(|e| csv_error(&path, e))?
        {
            let line = rec.position().map_or(0, |p| p.line() as usize);
            let item = id_field(&path, line, "movie", &rec[col[0]])?;
            let (title, year) = split_title_year(&rec[col[1]]);
            b.add_item(item, title, year, split_genres(&rec[col[2]]));
            any = true;
        }
        if !any {
            return Err(CfError::Empty { path });
        }
    }
    b.build(opts)
}

/// Streams a `user SEP item SEP rating SEP timestamp` file (100K and 1M).
fn read_ratings(path: &Path, sep: &str, hint: &str, b: &mut DatasetBuilder) -> Result<()> {
    for_each_record(path, hint, sep, 4, |line, f| {
        let user = id_field(path, line, "user", f[0])?;
        let item = id_field(path, line, "item", f[1])?;
        let rating = parse_rating(path, line, f[2])?;
        let timestamp = parse_timestamp(path, line, f[3])?;
        b.add_interaction(user, item, Some(rating), timestamp);
        Ok(())
    })?;
    Ok(())
}

/// `u.genre` (a few lines, read whole): `name|index` lines → names indexed by flag position.
fn read_100k_genres(path: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    let text = read_text(path, Encoding::Latin1)?;
    for (line, entry) in (1..)
        .zip(text.lines())
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let f = fields(entry, "|");
        expect_fields(path, line, &f, 2, "|")?;
        let index: usize = parse_field(path, line, "genre index", f[1])?;
        if index >= 256 {
            return Err(CfError::parse(
                path,
                line,
                format!("genre index {index} is too large"),
            ));
        }
        if names.len() <= index {
            names.resize(index + 1, String::new());
        }
        names[index] = f[0].trim().to_string();
    }
    Ok(names)
}

/// `u.item`: `id|title|release date|video release date|IMDb URL|flag...` with one 0/1 flag per
/// genre. The `unknown` genre maps to no genre.
fn read_100k_items(path: &Path, genres: &[String], b: &mut DatasetBuilder) -> Result<()> {
    for_each_record(
        path,
        "MovieLens 100K items",
        "|",
        5 + genres.len(),
        |line, f| {
            let item = id_field(path, line, "item", f[0])?;
            let (title, year) = split_title_year(f[1]);
            let mut item_genres = Vec::new();
            for (flag, name) in f[5..].iter().zip(genres) {
                match flag.trim() {
                    "0" => {}
                    "1" if name.eq_ignore_ascii_case("unknown") => {}
                    "1" => item_genres.push(name.as_str()),
                    other => {
                        let msg =
                            format!("genre flag for {name:?} must be 0 or 1, found {other:?}");
                        return Err(CfError::parse(path, line, msg));
                    }
                }
            }
            b.add_item(
                item,
                title,
                year.or_else(|| year_from_date(f[2])),
                item_genres,
            );
            Ok(())
        },
    )?;
    Ok(())
}

/// `Action|Comedy` → genres; `(no genres listed)` → none.
fn split_genres(s: &str) -> impl Iterator<Item = &str> {
    s.split('|')
        .map(str::trim)
        .filter(|g| !g.is_empty() && *g != "(no genres listed)")
}

fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// `dir/file` when it exists; otherwise logs a warning and returns `None`.
fn optional(dir: &Path, file: &str) -> Option<std::path::PathBuf> {
    let path = dir.join(file);
    if path.is_file() {
        return Some(path);
    }
    tracing::warn!("{} not found: loading without it", path.display());
    None
}
