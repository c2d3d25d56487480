//! Checkpoints that survive a crash: each record is written to a temporary file and renamed
//! into place, with a SHA-256 sidecar (`model-3.bpk.sha256`) written after it. A checkpoint
//! counts only when its three files (model, optimizer, scheduler) are there and match their
//! checksums; a resumed run starts from the latest such epoch and reports the ones it skips.
//!
//! burn-train's own `FileCheckpointer` writes each record atomically, but the three records of
//! an epoch separately (each on its own thread) and without a checksum: a kill between them
//! leaves an epoch with a model and no optimizer state, on which burn-train's resume panics,
//! and a record damaged later (a flipped bit that still decodes) goes unnoticed.

use burn::tensor::Bytes;
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The three records of an epoch's checkpoint, by file-name prefix.
pub const RECORDS: [&str; 3] = ["model", "optim", "scheduler"];

/// Path of record `name` (model, optim, scheduler) of `epoch` in `checkpoint_dir`.
pub fn record_path(checkpoint_dir: &Path, name: &str, epoch: usize) -> PathBuf {
    checkpoint_dir.join(format!("{name}-{epoch}.bpk"))
}

/// The checksum sidecar of a checkpoint file.
pub fn sum_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    file.with_file_name(name)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Writes a checkpoint file and then its checksum sidecar, each atomically.
pub fn write_checkpoint_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A stale sidecar must not vouch for the new file while it is being replaced.
    let sum = sum_path(path);
    match std::fs::remove_file(&sum) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let write = |p: &Path, b: &[u8]| {
        star_cf::fsutil::write_atomic(p, |w| w.write_all(b)).map_err(std::io::Error::other)
    };
    write(path, bytes)?;
    write(
        &sum,
        format!("{}  {}\n", sha256(bytes), bytes.len()).as_bytes(),
    )
}

/// Reads a checkpoint file and checks it against its sidecar; the error says what is wrong
/// (missing, no checksum, cut short, checksum mismatch).
pub fn read_verified(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let sum = sum_path(path);
    let text = std::fs::read_to_string(&sum).map_err(|e| {
        format!(
            "{}: no checksum ({}: {e}); it was not finished when the run stopped",
            path.display(),
            sum.display()
        )
    })?;
    let mut fields = text.split_whitespace();
    let (Some(expected), Some(len)) = (fields.next(), fields.next()) else {
        return Err(format!("{}: malformed checksum file", sum.display()));
    };
    let len: usize = len
        .parse()
        .map_err(|_| format!("{}: malformed checksum file", sum.display()))?;
    if bytes.len() != len {
        return Err(format!(
            "{}: {} bytes, its checksum file says {len}; the file is damaged",
            path.display(),
            bytes.len()
        ));
    }
    let found = sha256(&bytes);
    if found != expected {
        return Err(format!(
            "{}: SHA-256 {found} does not match its checksum file ({expected}); the file is damaged",
            path.display()
        ));
    }
    Ok(bytes)
}

/// Checks the three records of `epoch` in `checkpoint_dir`.
pub fn verify_epoch(checkpoint_dir: &Path, epoch: usize) -> Result<(), String> {
    for name in RECORDS {
        read_verified(&record_path(checkpoint_dir, name, epoch))?;
    }
    Ok(())
}

/// Removes the files (records, sidecars, leftovers of interrupted writes) of `epoch`.
pub fn remove_epoch(checkpoint_dir: &Path, epoch: usize) {
    let prefixes: Vec<String> = RECORDS.iter().map(|n| format!("{n}-{epoch}.bpk")).collect();
    for entry in std::fs::read_dir(checkpoint_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if prefixes
            .iter()
            .any(|p| name == *p || name.starts_with(&format!("{p}.")))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A burn-train checkpointer for one record kind that writes atomically with a checksum
/// sidecar and verifies the checksum on restore.
pub struct VerifiedCheckpointer {
    directory: PathBuf,
    name: String,
}

impl VerifiedCheckpointer {
    /// Saves record `name` (model, optim, scheduler) of each epoch in `directory`.
    pub fn new(directory: &Path, name: &str) -> Self {
        let _ = std::fs::create_dir_all(directory);
        Self {
            directory: directory.to_path_buf(),
            name: name.to_string(),
        }
    }

    fn path(&self, epoch: usize) -> PathBuf {
        record_path(&self.directory, &self.name, epoch)
    }
}

impl<R: Checkpoint> Checkpointer<R> for VerifiedCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        let bytes = record
            .checkpoint_into_bytes()
            .map_err(CheckpointerError::Record)?;
        write_checkpoint_file(&self.path(epoch), &bytes).map_err(|e| {
            CheckpointerError::IOError(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", self.path(epoch).display()),
            ))
        })
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        let bytes = read_verified(&self.path(epoch)).map_err(CheckpointerError::Unknown)?;
        R::checkpoint_from_bytes(Bytes::from_bytes_vec(bytes)).map_err(CheckpointerError::Record)
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        for path in [self.path(epoch), sum_path(&self.path(epoch))] {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(CheckpointerError::IOError(e))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_verified_against_its_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model-1.bpk");
        write_checkpoint_file(&p, b"weights").unwrap();
        assert_eq!(read_verified(&p).unwrap(), b"weights");

        // one flipped byte, same length
        std::fs::write(&p, b"weighTs").unwrap();
        let err = read_verified(&p).unwrap_err();
        assert!(
            err.contains("does not match") && err.contains("model-1.bpk"),
            "{err}"
        );
        // cut short
        std::fs::write(&p, b"weig").unwrap();
        let err = read_verified(&p).unwrap_err();
        assert!(err.contains("4 bytes") && err.contains("says 7"), "{err}");
        // no sidecar: a write that never finished
        std::fs::remove_file(sum_path(&p)).unwrap();
        let err = read_verified(&p).unwrap_err();
        assert!(err.contains("no checksum"), "{err}");
    }

    #[test]
    fn an_epoch_needs_all_three_records_and_remove_epoch_clears_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in ["model", "optim"] {
            write_checkpoint_file(&record_path(d, name, 2), name.as_bytes()).unwrap();
        }
        std::fs::write(d.join("scheduler-2.bpk.tmp-77"), b"half").unwrap();
        std::fs::write(d.join("model-12.bpk"), b"other epoch").unwrap();
        let err = verify_epoch(d, 2).unwrap_err();
        assert!(err.contains("scheduler-2.bpk"), "{err}");
        write_checkpoint_file(&record_path(d, "scheduler", 2), b"s").unwrap();
        verify_epoch(d, 2).unwrap();
        remove_epoch(d, 2);
        let left: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["model-12.bpk".to_string()]);
    }
}
