//! File helpers: atomic replacement, so a crash never leaves a half-written file behind.

use crate::error::{CfError, Result};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes a file by writing a temporary file beside it (`path.tmp-<pid>-<random>`, through
/// `tempfile`) and renaming it over `path` once synced.
///
/// The parent directory is created if needed. On error the temporary file is removed.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let (file, tmp) = temp_beside(path)
        .map_err(|e| CfError::io(path, e))?
        .into_parts();
    let mut w = BufWriter::new(file);
    write(&mut w)
        .and_then(|()| w.flush())
        .and_then(|()| w.get_ref().sync_all())
        .map_err(|e| CfError::io(path, e))?;
    drop(w);
    tmp.persist(path).map_err(|e| CfError::io(path, e.error))?;
    Ok(())
}

/// [`write_atomic`] for writers that take a path (the tokenizers crate, burn's config files):
/// `write` creates the temporary file at the path it is given (nothing is there before it
/// runs), which is then synced and renamed over `path`; a writer that creates nothing there is
/// an error, and on error the temporary file is removed. Errors name `path`.
pub fn write_atomic_path<E: std::fmt::Display>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), String> {
    let named = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    // a fresh name with nothing behind it, so a writer that writes elsewhere is caught below
    let tmp = temp_beside(path).map_err(|e| named(&e))?.into_temp_path();
    std::fs::remove_file(&tmp).map_err(|e| named(&e))?;
    write(&tmp).map_err(|e| named(&e))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| {
            named(&format!(
                "the writer left no file at {} ({e})",
                tmp.display()
            ))
        })?;
    tmp.persist(path).map_err(|e| named(&e.error))?;
    Ok(())
}

/// A new temporary file beside `path` (its directory created if needed), after removing what
/// killed writes of `path` left there.
fn temp_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    remove_stale_temps(path);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut builder = tempfile::Builder::new();
    let prefix = format!("{name}.tmp-{}-", std::process::id());
    builder.prefix(&prefix);
    // the mode `File::create` gives (0666 less the umask), not tempfile's owner-only 0600
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(dir)
}

/// Removes what writes of `path` killed part-way left beside it: `NAME.tmp-<pid>-<random>` (ours) and
/// `NAME.<pid>-<n>.tmp` (burn's burnpack writer). A rerun has another pid, so its own write
/// would not replace them.
pub fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = n.strip_prefix(&prefix) {
            if rest.starts_with("tmp-") || rest.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.txt");
        write_atomic(&p, |w| w.write_all(b"one")).unwrap();
        write_atomic(&p, |w| w.write_all(b"two")).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let err = write_atomic(&p, |_| Err(std::io::Error::other("boom"))).unwrap_err();
        assert!(err.to_string().contains("out.txt"), "{err}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
        // the same mode as a file created plainly
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let plain = dir.path().join("plain");
            std::fs::File::create(&plain).unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode(&p), mode(&plain));
        }
    }

    #[test]
    fn path_writers_replace_atomically_too() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.bin");
        write_atomic_path(&p, |tmp| std::fs::write(tmp, b"one")).unwrap();
        let err = write_atomic_path(&p, |tmp| {
            std::fs::write(tmp, b"half")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(
            err.contains("model.bin") && err.contains("disk full"),
            "{err}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // a writer that writes somewhere else replaces nothing with an empty file
        let err = write_atomic_path(&p, |tmp| std::fs::write(tmp.with_extension("bin2"), b"x"))
            .unwrap_err();
        assert!(err.contains("left no file"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
    }
}
