//! The dataset loaders on the hand-written fixtures in `assets/fixtures/`, and their errors.

use star_cf::data::generic::load_generic;
use star_cf::data::movielens::{load_100k, load_1m, load_csv};
use star_cf::data::recbole::load_atomic;
use star_cf::data::{detect_format, load_dir, Dataset, DatasetFormat, PreprocessOptions};
use star_cf::CfError;
use std::path::{Path, PathBuf};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/fixtures");

/// The fixtures, copied once per test process into a temporary directory with the `.fixture`
/// suffix dropped (files such as `u.data` are stored as `u.data.fixture`, so that nothing in the
/// repository looks like a copy of a real dataset file).
fn fixtures_root() -> &'static Path {
    static ROOT: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        for dir in std::fs::read_dir(FIXTURES).unwrap() {
            let dir = dir.unwrap().path();
            if !dir.is_dir() {
                continue; // README.md
            }
            let out = tmp.path().join(dir.file_name().unwrap());
            std::fs::create_dir_all(&out).unwrap();
            for file in std::fs::read_dir(&dir).unwrap() {
                let file = file.unwrap().path();
                if !file.is_file() {
                    continue; // hf/: model checkpoints, not datasets
                }
                let name = file.file_name().unwrap().to_string_lossy().to_string();
                let name = name.strip_suffix(".fixture").unwrap_or(&name).to_string();
                std::fs::copy(&file, out.join(name)).unwrap();
            }
        }
        tmp
    })
    .path()
}

fn fixture(name: &str) -> PathBuf {
    fixtures_root().join(name)
}

fn opts() -> PreprocessOptions {
    PreprocessOptions::default()
}

/// A temporary copy of a fixture directory, to break or remove files in.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, tmp.path().join(path.file_name().unwrap())).unwrap();
    }
    tmp
}

/// Replaces the 1-based line `line` of `path` with `text` (bytes kept as they are elsewhere).
fn break_line(path: &Path, line: usize, text: &str) {
    let bytes = std::fs::read(path).unwrap();
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    assert!(line <= lines.len(), "{} has no line {line}", path.display());
    lines[line - 1] = text.as_bytes().to_vec();
    std::fs::write(path, lines.join(&b'\n')).unwrap();
}

/// Asserts a parse error at `file:line` whose message contains `what`.
fn assert_parse_error(err: CfError, file: &str, line: usize, what: &str) {
    let text = err.to_string();
    match &err {
        CfError::Parse {
            path,
            line: l,
            message,
        } => {
            assert!(path.ends_with(file), "{text}");
            assert_eq!(*l, line, "{text}");
            assert!(message.contains(what), "{text}");
        }
        other => panic!("expected a parse error at {file}:{line}, got {other:?}"),
    }
    assert!(text.contains(&format!("{file}:{line}:")), "{text}");
}

fn assert_empty(err: CfError, file: &str) {
    assert!(
        matches!(&err, CfError::Empty { path } if path.ends_with(file)),
        "{err:?}"
    );
}

fn assert_missing(err: CfError, file: &str) {
    match &err {
        CfError::Missing { path, hint } => {
            assert!(path.ends_with(file), "{err}");
            assert!(hint.as_deref().is_some_and(|h| !h.is_empty()), "{err}");
        }
        other => panic!("expected {file} missing, got {other:?}"),
    }
}

fn raw_users(ds: &Dataset) -> Vec<&str> {
    ds.users.iter().map(|u| u.raw_id.as_str()).collect()
}

fn raw_items(ds: &Dataset) -> Vec<&str> {
    ds.items.iter().map(|i| i.raw_id.as_str()).collect()
}

fn item<'a>(ds: &'a Dataset, raw: &str) -> &'a star_cf::data::Item {
    &ds.items[ds.item_by_raw(raw).unwrap().idx()]
}

fn genres<'a>(ds: &'a Dataset, raw: &str) -> Vec<&'a str> {
    ds.item_genres(ds.item_by_raw(raw).unwrap()).collect()
}

fn attr<'a>(ds: &'a Dataset, user: &str, key: &str) -> Option<&'a str> {
    let u = &ds.users[ds.user_by_raw(user).unwrap().idx()];
    u.attributes.get(key).map(String::as_str)
}

/// The raw item ids of a user's history, in time order.
fn history(ds: &Dataset, user: &str) -> Vec<String> {
    let u = ds.user_by_raw(user).unwrap();
    ds.user_interactions(u)
        .iter()
        .map(|i| ds.items[i.item.idx()].raw_id.clone())
        .collect()
}

// ---------------------------------------------------------------- MovieLens 100K

#[test]
fn ml_100k_fixture() {
    let ds = load_100k(fixture("ml-100k"), &opts()).unwrap();
    assert_eq!(ds.name, "movielens-100k");
    assert_eq!(
        (ds.num_users(), ds.num_items(), ds.num_interactions()),
        (4, 5, 10)
    );
    assert_eq!(raw_users(&ds), ["1", "2", "3", "10"]); // numeric, not "10" < "2"
    assert_eq!(raw_items(&ds), ["1", "2", "3", "4", "5"]);
    let cafe = item(&ds, "1");
    assert_eq!((cafe.title.as_str(), cafe.year), ("Café Noir", Some(1994)));
    let zorrito = item(&ds, "3"); // no year in the title: from the release date
    assert_eq!(
        (zorrito.title.as_str(), zorrito.year),
        ("Señor Zorrito", Some(1997))
    );
    assert_eq!(genres(&ds, "1"), ["Crime", "Drama"]);
    assert_eq!(genres(&ds, "2"), ["Animation", "Children's"]);
    assert!(genres(&ds, "4").is_empty(), "the unknown flag is no genre");
    assert!(!ds.genres.iter().any(|g| g == "unknown"));
    assert_eq!(attr(&ds, "10", "occupation"), Some("artist"));
    assert_eq!(attr(&ds, "10", "gender"), Some("F"));
    assert_eq!(attr(&ds, "10", "age"), Some("33"));
    assert_eq!(attr(&ds, "2", "zip"), Some("94043"));
    assert_eq!(history(&ds, "1"), ["1", "5", "2"]);
    assert_eq!(history(&ds, "2"), ["4", "3", "1"]);
    let first = &ds.user_interactions(ds.user_by_raw("1").unwrap())[0];
    assert_eq!((first.rating, first.timestamp), (Some(4.0), 874965700));
}

#[test]
fn ml_100k_optional_files() {
    let tmp = copy_fixture("ml-100k");
    std::fs::remove_file(tmp.path().join("u.genre")).unwrap();
    let ds = load_100k(tmp.path(), &opts()).unwrap();
    assert_eq!(
        genres(&ds, "5"),
        ["Sci-Fi", "Thriller"],
        "standard genre names"
    );
    std::fs::remove_file(tmp.path().join("u.item")).unwrap();
    std::fs::remove_file(tmp.path().join("u.user")).unwrap();
    let ds = load_100k(tmp.path(), &opts()).unwrap();
    assert_eq!(ds.num_interactions(), 10);
    assert_eq!(item(&ds, "1").title, "1");
    assert!(ds.users.iter().all(|u| u.attributes.is_empty()));
}

#[test]
fn ml_100k_errors() {
    let tmp = copy_fixture("ml-100k");
    let data = tmp.path().join("u.data");
    break_line(&data, 3, "1\t5\t3");
    assert_parse_error(
        load_100k(tmp.path(), &opts()).unwrap_err(),
        "u.data",
        3,
        "expected 4",
    );
    break_line(&data, 3, "1\t5\tx\t874965758");
    assert_parse_error(
        load_100k(tmp.path(), &opts()).unwrap_err(),
        "u.data",
        3,
        "rating",
    );
    std::fs::copy(fixture("ml-100k/u.data"), &data).unwrap();

    let items = tmp.path().join("u.item");
    break_line(
        &items,
        2,
        "2|Paper Lanterns (1996)|15-Mar-1996||x|0|0|0|2|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0",
    );
    assert_parse_error(
        load_100k(tmp.path(), &opts()).unwrap_err(),
        "u.item",
        2,
        "0 or 1",
    );
    std::fs::copy(fixture("ml-100k/u.item"), &items).unwrap();

    break_line(&tmp.path().join("u.user"), 4, "10|thirty|F|artist|15213");
    assert_parse_error(
        load_100k(tmp.path(), &opts()).unwrap_err(),
        "u.user",
        4,
        "age",
    );

    std::fs::write(&data, "\n\n").unwrap();
    assert_empty(load_100k(tmp.path(), &opts()).unwrap_err(), "u.data");
    assert_missing(
        load_100k(tmp.path().join("nope"), &opts()).unwrap_err(),
        "u.data",
    );
}

// ---------------------------------------------------------------- MovieLens 1M

#[test]
fn ml_1m_fixture() {
    let ds = load_1m(fixture("ml-1m"), &opts()).unwrap();
    assert_eq!(ds.name, "movielens-1m");
    assert_eq!(
        (ds.num_users(), ds.num_items(), ds.num_interactions()),
        (4, 4, 9)
    );
    assert_eq!(raw_users(&ds), ["1", "2", "3", "12"]);
    let uber = item(&ds, "1");
    assert_eq!(
        (uber.title.as_str(), uber.year),
        ("Über den Wolken", Some(1999))
    );
    assert_eq!(item(&ds, "3").title, "Ça Ira");
    assert_eq!(genres(&ds, "2"), ["Action", "Adventure", "Sci-Fi"]);
    assert_eq!(attr(&ds, "1", "occupation"), Some("K-12 student"));
    assert_eq!(attr(&ds, "2", "occupation"), Some("self-employed"));
    assert_eq!(attr(&ds, "12", "occupation"), Some("other"));
    assert_eq!(attr(&ds, "12", "zip"), Some("02460"));
    assert_eq!(attr(&ds, "2", "age"), Some("56"));
    assert_eq!(attr(&ds, "2", "gender"), Some("M"));
    assert_eq!(history(&ds, "1"), ["1", "2", "3"]);
    assert_eq!(history(&ds, "12"), ["4", "1"]);
}

#[test]
fn ml_1m_errors() {
    let tmp = copy_fixture("ml-1m");
    let ratings = tmp.path().join("ratings.dat");
    break_line(&ratings, 5, "2::4::5::yesterday");
    assert_parse_error(
        load_1m(tmp.path(), &opts()).unwrap_err(),
        "ratings.dat",
        5,
        "timestamp",
    );
    std::fs::copy(fixture("ml-1m/ratings.dat"), &ratings).unwrap();

    break_line(&tmp.path().join("users.dat"), 2, "2::M::56::21::70072");
    assert_parse_error(
        load_1m(tmp.path(), &opts()).unwrap_err(),
        "users.dat",
        2,
        "occupation",
    );

    break_line(&tmp.path().join("movies.dat"), 3, "3::Ça Ira (1989)");
    assert_parse_error(
        load_1m(tmp.path(), &opts()).unwrap_err(),
        "movies.dat",
        3,
        "expected 3",
    );

    std::fs::write(&ratings, "").unwrap();
    assert_empty(load_1m(tmp.path(), &opts()).unwrap_err(), "ratings.dat");
    assert_missing(
        load_1m(tmp.path().join("nope"), &opts()).unwrap_err(),
        "ratings.dat",
    );
}

// ---------------------------------------------------------------- MovieLens CSV

#[test]
fn ml_csv_fixture() {
    let ds = load_csv(fixture("ml-latest-small"), "ml-small", &opts()).unwrap();
    assert_eq!(ds.name, "ml-small");
    assert_eq!(
        (ds.num_users(), ds.num_items(), ds.num_interactions()),
        (3, 4, 7)
    );
    assert_eq!(raw_users(&ds), ["1", "2", "7"]);
    assert_eq!(raw_items(&ds), ["1", "2", "5", "10"]);
    let stranger = item(&ds, "2");
    assert_eq!(
        (stranger.title.as_str(), stranger.year),
        ("Stranger, The Quiet", Some(2001))
    );
    assert_eq!(item(&ds, "1").title, "Naïve Dreams");
    assert!(genres(&ds, "5").is_empty(), "(no genres listed)");
    assert_eq!(genres(&ds, "1"), ["Comedy", "Romance"]);
    assert_eq!(history(&ds, "7"), ["1", "10"]);
    assert_eq!(history(&ds, "1"), ["10", "2", "1"]);
    let r: Vec<Option<f32>> = ds.interactions.iter().map(|i| i.rating).collect();
    assert!(r.contains(&Some(3.5)) && r.contains(&Some(0.5)));
}

#[test]
fn ml_csv_errors() {
    let tmp = copy_fixture("ml-latest-small");
    let ratings = tmp.path().join("ratings.csv");
    break_line(&ratings, 4, "1,2,5.0");
    assert_parse_error(
        load_csv(tmp.path(), "x", &opts()).unwrap_err(),
        "ratings.csv",
        4,
        "expected 4 fields",
    );
    break_line(&ratings, 4, "1,2,five,964982224");
    assert_parse_error(
        load_csv(tmp.path(), "x", &opts()).unwrap_err(),
        "ratings.csv",
        4,
        "rating",
    );
    std::fs::copy(fixture("ml-latest-small/ratings.csv"), &ratings).unwrap();

    break_line(&tmp.path().join("movies.csv"), 5, "10,Orbit Falls (1999)");
    assert_parse_error(
        load_csv(tmp.path(), "x", &opts()).unwrap_err(),
        "movies.csv",
        5,
        "fields",
    );

    std::fs::write(&ratings, "userId,movieId,rating,timestamp\n").unwrap();
    assert_empty(
        load_csv(tmp.path(), "x", &opts()).unwrap_err(),
        "ratings.csv",
    );
    std::fs::write(&ratings, "user,movie,rating,timestamp\n1,2,3,4\n").unwrap();
    let err = load_csv(tmp.path(), "x", &opts()).unwrap_err();
    assert!(
        matches!(err, CfError::Format { .. }) && err.to_string().contains("userId"),
        "{err}"
    );
    assert_missing(
        load_csv(tmp.path().join("nope"), "x", &opts()).unwrap_err(),
        "ratings.csv",
    );
}

// ---------------------------------------------------------------- RecBole

#[test]
fn recbole_fixture() {
    let ds = load_atomic(fixture("recbole"), "toy", &opts()).unwrap();
    assert_eq!(ds.name, "toy");
    assert_eq!(
        (ds.num_users(), ds.num_items(), ds.num_interactions()),
        (3, 4, 6)
    );
    assert_eq!(raw_items(&ds), ["101", "102", "103", "104"]);
    let reves = item(&ds, "101");
    assert_eq!(
        (reves.title.as_str(), reves.year),
        ("Rêves Perdus", Some(1995))
    );
    let train = item(&ds, "102"); // empty release_year: the year in the title
    assert_eq!(
        (train.title.as_str(), train.year),
        ("Night Train", Some(1987))
    );
    assert_eq!(genres(&ds, "103"), ["Action", "Sci-Fi"]);
    assert_eq!(genres(&ds, "101"), ["Drama", "Musical"]);
    assert_eq!(
        item(&ds, "104").year,
        None,
        "a year of `unknown` is no year"
    );
    assert_eq!(attr(&ds, "2", "occupation"), Some("other"));
    assert_eq!(attr(&ds, "3", "zip_code"), Some("32067"));
    assert_eq!(attr(&ds, "1", "user_id"), None);
    assert_eq!(history(&ds, "2"), ["101", "102"]);
    assert_eq!(history(&ds, "1"), ["103", "101"]);
}

#[test]
fn recbole_without_timestamp_uses_line_order() {
    let tmp = tempfile::tempdir().unwrap();
    let inter = "user_id:token\titem_id:token\nu\tb\nu\ta\nv\ta\n";
    std::fs::write(tmp.path().join("t.inter"), inter).unwrap();
    let ds = load_atomic(tmp.path(), "t", &opts()).unwrap();
    assert_eq!(history(&ds, "u"), ["b", "a"]);
    assert!(ds.interactions.iter().all(|i| i.rating.is_none()));
}

#[test]
fn recbole_errors() {
    let tmp = copy_fixture("recbole");
    let inter = tmp.path().join("toy.inter");
    break_line(&inter, 3, "2\t102\t5");
    assert_parse_error(
        load_atomic(tmp.path(), "toy", &opts()).unwrap_err(),
        "toy.inter",
        3,
        "expected 4",
    );
    break_line(
        &inter,
        1,
        "user_id:token\titem_id:integer\trating:float\ttimestamp:float",
    );
    assert_parse_error(
        load_atomic(tmp.path(), "toy", &opts()).unwrap_err(),
        "toy.inter",
        1,
        "type",
    );
    std::fs::copy(fixture("recbole/toy.inter"), &inter).unwrap();

    break_line(
        &tmp.path().join("toy.item"),
        4,
        "\tCopper Sky\t1992\tAction",
    );
    assert_parse_error(
        load_atomic(tmp.path(), "toy", &opts()).unwrap_err(),
        "toy.item",
        4,
        "item id",
    );

    std::fs::write(&inter, "user_id:token\titem_id:token\n").unwrap();
    assert_empty(
        load_atomic(tmp.path(), "toy", &opts()).unwrap_err(),
        "toy.inter",
    );
    std::fs::write(&inter, "uid:token\titem_id:token\n1\t2\n").unwrap();
    let err = load_atomic(tmp.path(), "toy", &opts()).unwrap_err();
    assert!(
        matches!(err, CfError::Format { .. }) && err.to_string().contains("user_id"),
        "{err}"
    );
    assert_missing(
        load_atomic(tmp.path(), "other", &opts()).unwrap_err(),
        "other.inter",
    );
}

/// The real RecBole ml-100k files (not in the repository): run with
/// `STAR_RECBOLE_ML100K=<dir> cargo test -p star-cf --test loaders -- --ignored`.
#[test]
#[ignore = "needs the RecBole ml-100k atomic files; set STAR_RECBOLE_ML100K"]
fn recbole_real_ml_100k() {
    let dir = std::env::var("STAR_RECBOLE_ML100K").expect("set STAR_RECBOLE_ML100K");
    let ds = load_atomic(&dir, "ml-100k", &opts()).unwrap();
    assert_eq!(
        (ds.num_users(), ds.num_items(), ds.num_interactions()),
        (943, 1682, 100_000)
    );
    let les = ds
        .items
        .iter()
        .find(|i| i.title == "Misérables, Les")
        .unwrap();
    assert_eq!(les.year, Some(1995));
}

// ---------------------------------------------------------------- generic

#[test]
fn generic_csv_fixture() {
    let dir = fixture("generic-csv");
    let ds = load_generic(
        &dir.join("interactions.csv"),
        Some(&dir.join("items.csv")),
        Some(&dir.join("users.csv")),
        "g",
        &opts(),
    )
    .unwrap();
    assert_eq!(ds.name, "g");
    assert_eq!(
        (ds.num_users(), ds.num_items(), ds.num_interactions()),
        (3, 3, 5)
    );
    assert_eq!(raw_users(&ds), ["alice", "bob", "carol"]);
    let harbour = item(&ds, "i1");
    assert_eq!(
        (harbour.title.as_str(), harbour.year),
        ("Harbour Lights, Part One", Some(2010))
    );
    let zurich = item(&ds, "i2");
    assert_eq!(
        (zurich.title.as_str(), zurich.year),
        ("Zürich Nights", Some(2012))
    );
    assert_eq!(genres(&ds, "i1"), ["Drama", "Romance"]);
    assert!(genres(&ds, "i3").is_empty());
    assert_eq!(history(&ds, "alice"), ["i3", "i1"]);
    let alice = ds.user_interactions(ds.user_by_raw("alice").unwrap());
    assert_eq!((alice[0].rating, alice[1].rating), (None, Some(5.0)));
    assert_eq!(attr(&ds, "alice", "country"), Some("NZ"));
    assert_eq!(
        attr(&ds, "carol", "age"),
        None,
        "empty values are no attribute"
    );
    assert_eq!(attr(&ds, "bob", "user"), None);
}

#[test]
fn generic_jsonl_fixture() {
    let dir = fixture("generic-jsonl");
    let items = dir.join("items.jsonl");
    let users = dir.join("users.jsonl");
    let ds = load_generic(
        &dir.join("interactions.jsonl"),
        Some(&items),
        Some(&users),
        "j",
        &opts(),
    )
    .unwrap();
    assert_eq!(
        (ds.num_users(), ds.num_items(), ds.num_interactions()),
        (3, 3, 5)
    );
    assert_eq!(raw_users(&ds), ["1", "2", "3"]);
    assert_eq!(raw_items(&ds), ["10", "20", "30"]);
    // no timestamps: the line number is the time (line 5 is blank)
    assert_eq!(history(&ds, "2"), ["20", "10"]);
    assert_eq!(history(&ds, "1"), ["30", "10"]);
    let third = ds.user_interactions(ds.user_by_raw("3").unwrap());
    assert_eq!((third[0].timestamp, third[0].rating), (6, Some(2.0)));
    let lumiere = item(&ds, "10");
    assert_eq!(
        (lumiere.title.as_str(), lumiere.year),
        ("Lumière Park", Some(2004))
    );
    assert_eq!(genres(&ds, "10"), ["Drama", "Mystery"]);
    assert_eq!(genres(&ds, "20"), ["Action", "Western"]);
    assert_eq!(item(&ds, "20").year, Some(1989));
    assert_eq!(item(&ds, "30").year, None);
    assert_eq!(attr(&ds, "1", "segment"), Some("new"));
    assert_eq!(attr(&ds, "1", "age"), Some("22"));
    assert!(ds.users[ds.user_by_raw("3").unwrap().idx()]
        .attributes
        .is_empty());
}

#[test]
fn generic_errors() {
    let tmp = copy_fixture("generic-csv");
    let inter = tmp.path().join("interactions.csv");
    let load = |p: &Path| load_generic(p, None, None, "g", &opts());
    break_line(&inter, 3, "alice,i1,5,noon");
    assert_parse_error(
        load(&inter).unwrap_err(),
        "interactions.csv",
        3,
        "timestamp",
    );
    break_line(&inter, 3, ",i1,5,1700000100");
    assert_parse_error(load(&inter).unwrap_err(), "interactions.csv", 3, "user");
    std::fs::write(&inter, "user,item\n").unwrap();
    assert_empty(load(&inter).unwrap_err(), "interactions.csv");
    std::fs::write(&inter, "who,item\na,b\n").unwrap();
    assert!(matches!(load(&inter).unwrap_err(), CfError::Format { .. }));

    let tsv = tmp.path().join("interactions.tsv");
    std::fs::write(&tsv, "user_id\titem_id\n\"a\tb\nc\td\te\n").unwrap();
    assert_parse_error(load(&tsv).unwrap_err(), "interactions.tsv", 3, "fields");

    let tmp = copy_fixture("generic-jsonl");
    let inter = tmp.path().join("interactions.jsonl");
    break_line(&inter, 2, r#"{"user": 1, "item": 30"#);
    assert_parse_error(
        load(&inter).unwrap_err(),
        "interactions.jsonl",
        2,
        "invalid JSON",
    );
    break_line(&inter, 2, r#"{"user": 1, "item": 30, "timestamp": 5}"#);
    assert_parse_error(
        load(&inter).unwrap_err(),
        "interactions.jsonl",
        2,
        "timestamp",
    );
    break_line(&inter, 2, "[1, 30]");
    assert_parse_error(load(&inter).unwrap_err(), "interactions.jsonl", 2, "object");
    std::fs::write(&inter, "").unwrap();
    assert_empty(load(&inter).unwrap_err(), "interactions.jsonl");
    assert_missing(
        load(&tmp.path().join("nope.jsonl")).unwrap_err(),
        "nope.jsonl",
    );
}

// ---------------------------------------------------------------- detection

#[test]
fn load_dir_detects_every_fixture() {
    let cases = [
        (
            "ml-100k",
            DatasetFormat::MovieLens100k,
            "movielens-100k",
            10,
        ),
        ("ml-1m", DatasetFormat::MovieLens1m, "movielens-1m", 9),
        (
            "ml-latest-small",
            DatasetFormat::MovieLensCsv,
            "ml-latest-small",
            7,
        ),
        ("recbole", DatasetFormat::RecBole, "toy", 6),
        ("generic-csv", DatasetFormat::Generic, "generic-csv", 5),
        ("generic-jsonl", DatasetFormat::Generic, "generic-jsonl", 5),
    ];
    for (dir, format, name, interactions) in cases {
        assert_eq!(detect_format(&fixture(dir)), Some(format), "{dir}");
        let ds = load_dir(&fixture(dir), None, &opts()).unwrap();
        assert_eq!(
            (ds.name.as_str(), ds.num_interactions()),
            (name, interactions),
            "{dir}"
        );
    }
    // generic with metadata picked up from items.* / users.*
    let ds = load_dir(&fixture("generic-jsonl"), Some("renamed"), &opts()).unwrap();
    assert_eq!(ds.name, "renamed");
    assert_eq!(item(&ds, "10").title, "Lumière Park");
    assert_eq!(attr(&ds, "2", "segment"), Some("loyal"));
}

#[test]
fn load_dir_looks_one_level_down() {
    let tmp = tempfile::tempdir().unwrap();
    let sub = tmp.path().join("ml-1m");
    std::fs::create_dir(&sub).unwrap();
    for f in ["ratings.dat", "movies.dat"] {
        std::fs::copy(fixture("ml-1m").join(f), sub.join(f)).unwrap();
    }
    assert_eq!(detect_format(tmp.path()), Some(DatasetFormat::MovieLens1m));
    let ds = load_dir(tmp.path(), None, &opts()).unwrap();
    assert_eq!(item(&ds, "1").title, "Über den Wolken");
}

#[test]
fn load_dir_reports_unknown_and_missing_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "nothing here").unwrap();
    assert_eq!(detect_format(tmp.path()), None);
    let err = load_dir(tmp.path(), None, &opts()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CfError::Format { .. }), "{text}");
    assert!(text.contains(&tmp.path().display().to_string()), "{text}");
    for expected in [
        "u.data",
        "ratings.dat",
        "ratings.csv",
        ".inter",
        "interactions.csv",
    ] {
        assert!(text.contains(expected), "{text}");
    }
    let err = load_dir(&tmp.path().join("absent"), None, &opts()).unwrap_err();
    assert!(matches!(err, CfError::Missing { .. }), "{err}");
}

#[test]
fn load_dir_picks_a_recbole_dataset_by_name() {
    let tmp = copy_fixture("recbole");
    let inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t2\t3\t4\n";
    std::fs::write(tmp.path().join("other.inter"), inter).unwrap();
    let err = load_dir(tmp.path(), None, &opts()).unwrap_err();
    assert!(err.to_string().contains("other.inter, toy.inter"), "{err}");
    let ds = load_dir(tmp.path(), Some("other"), &opts()).unwrap();
    assert_eq!((ds.name.as_str(), ds.num_interactions()), ("other", 1));
}
