//! File helpers: atomic replacement, so a crash never leaves a half-written file behind.

use crate::error::{CfError, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes a file by writing `path.tmp-<pid>` first and renaming it over `path`.
///
/// The parent directory is created if needed. On error the temporary file is removed.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| CfError::io(dir, e))?;
    }
    remove_stale_temps(path);
    let tmp = tmp_path(path);
    let result = (|| {
        let f = std::fs::File::create(&tmp)?;
        let mut w = BufWriter::new(f);
        write(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(CfError::io(path, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CfError::io(path, e)
    })
}

/// [`write_atomic`] for writers that take a path (the tokenizers crate, burn's config files):
/// `write` writes `path.tmp-<pid>`, which is then synced and renamed over `path`; on error the
/// temporary file is removed. Errors name `path`.
pub fn write_atomic_path<E: std::fmt::Display>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    remove_stale_temps(path);
    let tmp = tmp_path(path);
    let result = write(&tmp)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| e.to_string())
        })
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("{}: {e}", path.display()));
    }
    Ok(())
}

/// Removes what writes of `path` killed part-way left beside it: `NAME.tmp-<pid>` (ours) and
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

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
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
    }
}
