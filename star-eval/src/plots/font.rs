//! The font plot labels are drawn with.
//!
//! No font is shipped with the crate (no third-party data in the repository). [`find_font`]
//! takes `$STAR_FONT` when it is set, else asks [`fontdb`] for the system's fonts (on Linux
//! the directories fontconfig's configuration names, without running `fc-match`; the usual
//! font directories on macOS and Windows) and picks the first installed family of
//! [`PREFERRED_FAMILIES`], then the system's default sans-serif family. The chosen font is
//! registered once per process as plotters' `sans-serif`.

use super::canvas::plot_err;
use crate::error::Result;
use plotters::style::FontStyle;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The environment variable that names the font file to use, overriding the system search.
pub const FONT_ENV: &str = "STAR_FONT";

/// Font families tried in order (regular weight, upright, normal width) before the system's
/// default sans-serif family.
pub const PREFERRED_FAMILIES: [&str; 5] = [
    "DejaVu Sans",
    "Liberation Sans",
    "Noto Sans",
    "Arial",
    "Helvetica",
];

/// The font file plots are drawn with: `$STAR_FONT` if set, else the first preferred system
/// font found (see the module docs). `None` when there is none.
pub fn find_font() -> Option<PathBuf> {
    choose_font(std::env::var_os(FONT_ENV), || {
        let mut db = fontdb::Database::new();
        db.load_system_fonts();
        db
    })
}

/// `env` (the value of [`FONT_ENV`]) when set, without looking at the system's fonts; else
/// the system font of the database `system` loads.
fn choose_font(
    env: Option<std::ffi::OsString>,
    system: impl FnOnce() -> fontdb::Database,
) -> Option<PathBuf> {
    match env {
        Some(p) => Some(PathBuf::from(p)),
        None => system_font(&system()),
    }
}

/// The file of the face in `db` closest to a regular upright face of the first family of
/// [`PREFERRED_FAMILIES`], then of the default sans-serif family, that has one stored first
/// in its file (plotters reads the first face of a file only).
fn system_font(db: &fontdb::Database) -> Option<PathBuf> {
    let families = PREFERRED_FAMILIES
        .iter()
        .map(|&name| fontdb::Family::Name(name))
        .chain([fontdb::Family::SansSerif]);
    families.into_iter().find_map(|family| {
        let id = db.query(&fontdb::Query {
            families: &[family],
            ..fontdb::Query::default()
        })?;
        match db.face_source(id)? {
            (fontdb::Source::File(path) | fontdb::Source::SharedFile(path, _), 0) => Some(path),
            _ => None,
        }
    })
}

/// Loads the font once per process and registers it as plotters' `sans-serif`; the error
/// names `target` (the figure being drawn) and says to set [`FONT_ENV`].
pub(super) fn ensure_font(target: &Path) -> Result<()> {
    static FONT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    let loaded = FONT.get_or_init(|| {
        let path = find_font().ok_or_else(|| {
            format!("no font found for the plot labels; set {FONT_ENV} to a .ttf/.otf file")
        })?;
        let bytes = std::fs::read(&path).map_err(|e| format!("font {}: {e}", path.display()))?;
        // plotters keeps fonts for the life of the process; this happens once.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("font {}: not a TrueType/OpenType font", path.display()))?;
        Ok(path)
    });
    loaded.as_ref().map(|_| ()).map_err(|m| plot_err(target, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_font_wins_without_a_system_search() {
        let chosen = choose_font(Some("/fonts/mine.otf".into()), || {
            panic!("the system's fonts are not searched when STAR_FONT is set")
        });
        assert_eq!(chosen, Some(PathBuf::from("/fonts/mine.otf")));
        assert_eq!(choose_font(None, fontdb::Database::new), None);
    }

    #[test]
    fn the_system_font_is_of_the_first_installed_preferred_family() {
        let mut db = fontdb::Database::new();
        db.load_system_fonts();
        let Some(path) = system_font(&db) else {
            return; // no usable font installed: nothing to choose from
        };
        let file_of = |f: &fontdb::FaceInfo| match &f.source {
            fontdb::Source::File(p) | fontdb::Source::SharedFile(p, _) if f.index == 0 => {
                Some(p.clone())
            }
            _ => None,
        };
        let face = db
            .faces()
            .find(|f| file_of(f).as_ref() == Some(&path))
            .expect("the chosen file is the first face of one of the database's files");
        assert_eq!(face.style, fontdb::Style::Normal, "{path:?}");
        let in_family = |f: &fontdb::FaceInfo, name: &str| {
            f.families.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        // Every preferred family before the chosen one has no usable face.
        for name in PREFERRED_FAMILIES {
            if in_family(face, name) {
                break;
            }
            assert!(
                !db.faces()
                    .any(|f| in_family(f, name) && file_of(f).is_some()),
                "{name} is installed but {path:?} was chosen"
            );
        }
    }
}
