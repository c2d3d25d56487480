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
        assert_eq!(split_title_year("  Mr. Holland's Opus (1995) "), ("Mr. Holland's Opus".into(), Some(1995)));
        assert_eq!(year_from_date("01-Jan-1995"), Some(1995));
        assert_eq!(year_from_date(""), None);
    }

    #[test]
    fn latin1_decodes_high_bytes() {
        assert_eq!(latin1(b"Cit\xe9"), "Cité");
        let p = Path::new("x");
        assert_eq!(decode(p, b"Cit\xe9".to_vec(), Encoding::Auto).unwrap(), "Cité");
        assert_eq!(decode(p, "Cité".as_bytes().to_vec(), Encoding::Auto).unwrap(), "Cité");
        let err = decode(p, b"ok\nCit\xe9".to_vec(), Encoding::Utf8).unwrap_err();
        assert!(err.to_string().starts_with("x:2:"), "{err}");
    }
}
