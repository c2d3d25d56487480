//! Text decoding and title parsing shared by the loaders.

use crate::error::{CfError, Result};
use std::path::Path;

/// How the bytes of a file are decoded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Strict UTF-8.
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same value (MovieLens 100K and 1M).
    Latin1,
    /// UTF-8 when the file is valid UTF-8, Latin-1 otherwise.
    Auto,
}

/// Reads a whole file as text in the given encoding (a leading UTF-8 BOM is dropped).
pub fn read_text(path: &Path, encoding: Encoding) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            CfError::Missing {
                path: path.to_path_buf(),
                hint: None,
            }
        } else {
            CfError::io(path, e)
        }
    })?;
    decode(path, bytes, encoding)
}

pub(crate) fn decode(path: &Path, bytes: Vec<u8>, encoding: Encoding) -> Result<String> {
    match encoding {
        Encoding::Latin1 => Ok(latin1(&bytes)),
        Encoding::Utf8 => match String::from_utf8(bytes) {
            Ok(s) => Ok(strip_bom(s)),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
                Err(CfError::parse(
                    path,
                    line,
                    "invalid UTF-8 (is the file Latin-1? MovieLens 100K/1M files are)",
                ))
            }
        },
        Encoding::Auto => match String::from_utf8(bytes) {
            Ok(s) => Ok(strip_bom(s)),
            Err(e) => Ok(latin1(e.as_bytes())),
        },
    }
}

fn strip_bom(s: String) -> String {
    match s.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => s,
    }
}

/// Decodes ISO-8859-1 bytes.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// Splits a MovieLens-style title into the name and the release year:
/// `"Heat (1995)"` → `("Heat", Some(1995))`; `"Babylon 5"` → `("Babylon 5", None)`.
pub fn split_title_year(raw: &str) -> (String, Option<u16>) {
    let t = raw.trim();
    if let Some(open) = t.rfind('(') {
        let inner = t[open + 1..].trim_end();
        if let Some(inner) = inner.strip_suffix(')') {
            // "(1995)" or a range such as "(2007-2013)": take the first year
            let first = inner.split(['-', '–']).next().unwrap_or("").trim();
            if first.len() == 4 && first.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(y) = first.parse::<u16>() {
                    return (t[..open].trim_end().to_string(), Some(y));
                }
            }
        }
    }
    (t.to_string(), None)
}

/// Parses a year from a date such as `"01-Jan-1995"` or `"1995"`.
pub fn year_from_date(s: &str) -> Option<u16> {
    let s = s.trim();
    let tail = s.rsplit(['-', '/', ' ']).next()?;
    (tail.len() == 4)
        .then(|| tail.parse::<u16>().ok())
        .flatten()
        .filter(|y| (1800..=2200).contains(y))
}

/// Splits a line on a multi-character separator, with a 1-based line number for errors.
pub(crate) fn fields<'a>(line: &'a str, sep: &str) -> Vec<&'a str> {
    line.split(sep).collect()
}

/// Opens a file for reading; a file that does not exist is [`CfError::Missing`] with `hint`.
pub(crate) fn open(path: &Path, hint: &str) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            CfError::Missing {
                path: path.to_path_buf(),
                hint: Some(hint.to_string()),
            }
        } else {
            CfError::io(path, e)
        }
    })
}

/// Streams a file line by line (never holding more than one line), decoding each line in
/// `encoding` (`Auto` decides per line) and calling `f(line_number, text)` for every non-blank
/// line, without its line ending. A leading UTF-8 BOM is dropped. Returns how many lines were
/// passed to `f`; a file without any is [`CfError::Empty`].
pub(crate) fn for_each_line(
    path: &Path,
    encoding: Encoding,
    hint: &str,
    mut f: impl FnMut(usize, &str) -> Result<()>,
) -> Result<usize> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, open(path, hint)?);
    let mut buf = Vec::new();
    let mut latin = String::new();
    let (mut line, mut records) = (0usize, 0usize);
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| CfError::io(path, e))?;
        if n == 0 {
            break;
        }
        line += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let mut bytes = &buf[..];
        if line == 1 {
            bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        }
        let text = match (encoding, std::str::from_utf8(bytes)) {
            (Encoding::Latin1, _) | (Encoding::Auto, Err(_)) => {
                latin.clear();
                latin.extend(bytes.iter().map(|&b| b as char));
                latin.as_str()
            }
            (_, Ok(s)) => s,
            (Encoding::Utf8, Err(_)) => return Err(CfError::parse(path, line, "invalid UTF-8")),
        };
        if text.trim().is_empty() {
            continue;
        }
        records += 1;
        f(line, text)?;
    }
    if records == 0 {
        return Err(CfError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(records)
}

/// Checks that a split line has exactly `expected` fields.
pub(crate) fn expect_fields(
    path: &Path,
    line: usize,
    fields: &[&str],
    expected: usize,
    separator: &str,
) -> Result<()> {
    if fields.len() == expected {
        return Ok(());
    }
    let separator = if separator == "\t" { "TAB" } else { separator };
    Err(CfError::parse(
        path,
        line,
        format!(
            "expected {expected} {separator}-separated fields, found {}",
            fields.len()
        ),
    ))
}

/// [`for_each_line`] over a Latin-1 file of records of `n` fields separated by `sep`:
/// `f(line_number, fields)`; a line with another number of fields is an error
/// ([`expect_fields`]).
pub(crate) fn for_each_record(
    path: &Path,
    hint: &str,
    sep: &str,
    n: usize,
    mut f: impl FnMut(usize, &[&str]) -> Result<()>,
) -> Result<usize> {
    for_each_line(path, Encoding::Latin1, hint, |line, text| {
        let record = fields(text, sep);
        expect_fields(path, line, &record, n, sep)?;
        f(line, &record)
    })
}

/// Parses one field, naming it in the error: `unparsable rating "x"`.
pub(crate) fn parse_field<T: std::str::FromStr>(
    path: &Path,
    line: usize,
    what: &str,
    value: &str,
) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| CfError::parse(path, line, format!("unparsable {what} {:?}", value)))
}

/// Parses a timestamp written as an integer or a float (`"881250949"`, `"8.8e8"`).
pub(crate) fn parse_timestamp(path: &Path, line: usize, value: &str) -> Result<i64> {
    let v = value.trim();
    v.parse::<i64>()
        .ok()
        .or_else(|| {
            v.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(|f| f as i64)
        })
        .ok_or_else(|| CfError::parse(path, line, format!("unparsable timestamp {value:?}")))
}

/// Parses a rating: a finite number.
pub(crate) fn parse_rating(path: &Path, line: usize, value: &str) -> Result<f32> {
    let rating: f32 = parse_field(path, line, "rating", value)?;
    if !rating.is_finite() {
        return Err(CfError::parse(
            path,
            line,
            format!("rating {value:?} is not finite"),
        ));
    }
    Ok(rating)
}

/// A year field: `"1995"`, `"1995.0"` or a date ending in the year. Anything else (empty,
/// `"unknown"`, RecBole's `"unkonwn"`) is an unknown year, not an error: metadata is optional.
pub(crate) fn parse_year(value: &str) -> Option<u16> {
    let v = value.trim();
    v.parse::<f64>()
        .ok()
        .filter(|y| y.fract() == 0.0 && (1800.0..=2200.0).contains(y))
        .map(|y| y as u16)
        .or_else(|| year_from_date(v))
}

/// A non-empty id field, trimmed.
pub(crate) fn id_field<'a>(
    path: &Path,
    line: usize,
    what: &str,
    value: &'a str,
) -> Result<&'a str> {
    let v = value.trim();
    if v.is_empty() {
        return Err(CfError::parse(
            path,
            line,
            format!("missing or empty {what} id"),
        ));
    }
    Ok(v)
}

/// A streaming CSV reader with a header line: fields trimmed, every record holding as many fields
/// as the header. A tab delimiter turns quoting off (TSV files do not quote).
pub(crate) fn csv_reader(
    path: &Path,
    delimiter: u8,
    hint: &str,
) -> Result<csv::Reader<std::fs::File>> {
    Ok(csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quoting(delimiter != b'\t')
        .trim(csv::Trim::All)
        .from_reader(open(path, hint)?))
}

/// The header of a CSV file; a file without one is [`CfError::Empty`].
pub(crate) fn csv_header(
    reader: &mut csv::Reader<std::fs::File>,
    path: &Path,
) -> Result<Vec<String>> {
    let header = reader.headers().map_err(|e| csv_error(path, e))?;
    if header.iter().all(|h| h.is_empty()) {
        return Err(CfError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect())
}

/// The index of the first of `names` found in `header`.
pub(crate) fn find_column(header: &[String], names: &[&str]) -> Option<usize> {
    names
        .iter()
        .find_map(|n| header.iter().position(|h| h == n))
}

/// The index of the first of `names` found in `header`, or a [`CfError::Format`] naming them.
pub(crate) fn require_column(header: &[String], names: &[&str], path: &Path) -> Result<usize> {
    find_column(header, names).ok_or_else(|| {
        CfError::format(
            path,
            format!(
                "no `{}` column in the header ({})",
                names.join("` or `"),
                header.join(",")
            ),
        )
    })
}

/// Reads the header and returns the index of each of the `required` columns.
pub(crate) fn csv_columns(
    reader: &mut csv::Reader<std::fs::File>,
    path: &Path,
    required: &[&str],
) -> Result<Vec<usize>> {
    let header = csv_header(reader, path)?;
    required
        .iter()
        .map(|name| require_column(&header, &[name], path))
        .collect()
}

/// Converts a CSV error into a [`CfError`] with the file and line.
pub(crate) fn csv_error(path: &Path, err: csv::Error) -> CfError {
    let line = err.position().map_or(0, |p| p.line() as usize);
    let message = err.to_string();
    match err.into_kind() {
        csv::ErrorKind::Io(e) => CfError::io(path, e),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => CfError::parse(
            path,
            line,
            format!("expected {expected_len} fields like the header, found {len}"),
        ),
        csv::ErrorKind::Utf8 { .. } => CfError::parse(path, line, "invalid UTF-8"),
        _ => CfError::parse(path, line, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_years() {
        assert_eq!(split_title_year("Heat (1995)"), ("Heat".into(), Some(1995)));
        assert_eq!(
            split_title_year("City of Lost Children, The (Cité des enfants perdus, La) (1995)"),
            (
                "City of Lost Children, The (Cité des enfants perdus, La)".into(),
                Some(1995)
            )
        );
        assert_eq!(split_title_year("Babylon 5"), ("Babylon 5".into(), None));
        assert_eq!(
            split_title_year("Fawlty Towers (1975-1979)"),
            ("Fawlty Towers".into(), Some(1975))
        );
        assert_eq!(
            split_title_year("  Mr. Holland's Opus (1995) "),
            ("Mr. Holland's Opus".into(), Some(1995))
        );
        assert_eq!(year_from_date("01-Jan-1995"), Some(1995));
        assert_eq!(year_from_date(""), None);
    }

    #[test]
    fn latin1_decodes_high_bytes() {
        assert_eq!(latin1(b"Cit\xe9"), "Cité");
        let p = Path::new("x");
        assert_eq!(
            decode(p, b"Cit\xe9".to_vec(), Encoding::Auto).unwrap(),
            "Cité"
        );
        assert_eq!(
            decode(p, "Cité".as_bytes().to_vec(), Encoding::Auto).unwrap(),
            "Cité"
        );
        let err = decode(p, b"ok\nCit\xe9".to_vec(), Encoding::Utf8).unwrap_err();
        assert!(err.to_string().starts_with("x:2:"), "{err}");
    }
}
