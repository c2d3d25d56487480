//! One writer at a time: an exclusive advisory lock (`flock` on Unix, `LockFileEx` on Windows,
//! through [`std::fs::File::try_lock`]) on a lock file next to what is written, held for as
//! long as the process writes it.
//!
//! A second process that asks for the same lock fails at once with [`LockError::Held`], which
//! names the locked path and the holder's pid (written into the lock file by the holder). The
//! operating system releases the lock when the holder exits, however it exits (`kill -9`
//! included), so a stale lock file never blocks anyone. Within one process the lock is shared:
//! asking again for a lock the process already holds returns the same [`WriteLock`].

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("{}: another process (pid {pid}) is writing it (lock file {}); wait for that process to end, or write somewhere else", target.display(), lock_file.display())]
    Held {
        /// What the lock protects (a run directory, a trajectory file).
        target: PathBuf,
        /// The lock file.
        lock_file: PathBuf,
        /// The holder's pid as it wrote it (`unknown` when it had not written it yet).
        pid: String,
    },
    /// The lock file could not be created, read or written.
    #[error("{}: cannot lock: {source}", lock_file.display())]
    Io {
        /// The lock file.
        lock_file: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// An exclusive lock held by this process; released when the last clone is dropped.
#[derive(Debug)]
pub struct WriteLock {
    target: PathBuf,
    lock_file: PathBuf,
    // Held open: closing the file releases the lock.
    _file: File,
}

impl WriteLock {
    /// What the lock protects.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The lock file.
    pub fn lock_file(&self) -> &Path {
        &self.lock_file
    }
}

/// Locks held by this process, by lock file, so that asking twice shares one lock (a second
/// `flock` on a new descriptor of the same file would conflict with the first).
fn held() -> &'static Mutex<HashMap<PathBuf, Weak<WriteLock>>> {
    static HELD: std::sync::OnceLock<Mutex<HashMap<PathBuf, Weak<WriteLock>>>> =
        std::sync::OnceLock::new();
    HELD.get_or_init(Default::default)
}

/// Takes the exclusive lock on `lock_file` (created if missing, with its parent directories)
/// for writing `target`, or fails at once when another process holds it.
pub fn lock(target: &Path, lock_file: &Path) -> Result<Arc<WriteLock>, LockError> {
    let io = |source| LockError::Io {
        lock_file: lock_file.to_path_buf(),
        source,
    };
    if let Some(dir) = lock_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(lock_file)
        .map_err(io)?;
    let key = lock_file.canonicalize().map_err(io)?;
    let mut map = held().lock().unwrap_or_else(|e| e.into_inner());
    map.retain(|_, w| w.strong_count() > 0);
    if let Some(mine) = map.get(&key).and_then(Weak::upgrade) {
        return Ok(mine);
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut pid = String::new();
            // best effort: the holder may not have written its pid yet
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(LockError::Held {
                target: target.to_path_buf(),
                lock_file: lock_file.to_path_buf(),
                pid: if pid.is_empty() { "unknown" } else { pid }.to_string(),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .and_then(|()| file.flush())
        .map_err(io)?;
    let lock = Arc::new(WriteLock {
        target: target.to_path_buf(),
        lock_file: lock_file.to_path_buf(),
        _file: file,
    });
    map.insert(key, Arc::downgrade(&lock));
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_shares_its_lock_and_releases_it_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sub/.lock");
        let a = lock(dir.path(), &f).unwrap();
        let b = lock(dir.path(), &f).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the same lock, not a second flock");
        let pid = std::fs::read_to_string(&f).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        drop((a, b));
        // released: a fresh descriptor can lock the file now
        let other = File::options().read(true).write(true).open(&f).unwrap();
        other.try_lock().expect("the lock was released");
    }

    #[test]
    fn a_lock_held_elsewhere_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.lock");
        // another open file description holding the lock stands for another process
        let mut other = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&f)
            .unwrap();
        other.try_lock().unwrap();
        writeln!(other, "4242").unwrap();
        let err = lock(&dir.path().join("target"), &f).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LockError::Held { ref pid, .. } if pid == "4242"));
        assert!(msg.contains("pid 4242") && msg.contains("target"), "{msg}");
        drop(other);
        lock(dir.path(), &f).expect("free once the holder is gone");
    }
}
