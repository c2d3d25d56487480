//! Trajectory files: JSON lines, one [`Episode`] per line, appended and flushed one episode at
//! a time, so an interrupted run loses at most the episode being written. Reopening a file
//! drops a torn last line and remembers which episode ids are done, so a rerun neither loses
//! nor duplicates episodes.
//!
//! One process writes a file at a time: [`TrajectoryWriter::open`] takes an exclusive lock on
//! `FILE.lock` (see [`star_cf::lock`]) and a second writer fails at once, naming the holder's
//! pid. A complete line in the middle that is not an episode (damage from outside) is moved
//! to `FILE.corrupt` with a warning naming it, so the rerun redoes that episode instead of
//! refusing the file.

use crate::episode::Episode;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Errors of trajectory files; each names the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum TrajectoryError {
    /// I/O.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Appending an episode failed (e.g. the disk is full). The file is cut back to the
    /// episodes before it, which stay.
    #[error("{}: cannot append episode `{id}` ({source}); the {kept} episodes before it are kept, and rerunning the same command continues after them once the cause is fixed (e.g. disk space freed)", path.display())]
    Append {
        /// The file.
        path: PathBuf,
        /// The episode that was not written.
        id: String,
        /// Complete episodes in the file.
        kept: usize,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Another process is writing the file.
    #[error(transparent)]
    Lock(#[from] star_cf::lock::LockError),
    /// A line that is not an episode (in the middle of the file).
    #[error("{}:{line}: not an episode: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> TrajectoryError + '_ {
    move |source| TrajectoryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Appends episodes to a JSONL file.
#[derive(Debug)]
pub struct TrajectoryWriter {
    path: PathBuf,
    file: std::fs::File,
    done: HashSet<String>,
    repaired: bool,
    /// Length of the complete lines.
    len: u64,
    /// A failed append could not be cut back: the file may end in a partial line.
    broken: bool,
    /// Held while the writer lives.
    _lock: std::sync::Arc<star_cf::lock::WriteLock>,
}

impl TrajectoryWriter {
    /// Opens (or creates) `path` and locks it against other writers (see the module docs).
    /// Existing complete lines are kept and their ids remembered; an incomplete last line (a
    /// crash while writing) is cut off, and complete lines that are not episodes are moved to
    /// `path.corrupt` ([`corrupt_path`]) with a warning, so their episodes are redone.
    pub fn open(path: &Path) -> Result<Self, TrajectoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let lock = star_cf::lock::lock(path, &sidecar(path, "lock"))?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io(path))?;
        let mut done = HashSet::new();
        let mut good_len = 0u64;
        let mut repaired = false;
        // complete lines that are not episodes: (1-based line, what is wrong, the line)
        let mut bad: Vec<(usize, String, Vec<u8>)> = Vec::new();
        {
            let mut reader = BufReader::new(&file);
            let mut buf = Vec::new();
            let mut line_no = 0;
            loop {
                buf.clear();
                let n = reader.read_until(b'\n', &mut buf).map_err(io(path))?;
                if n == 0 {
                    break;
                }
                line_no += 1;
                if !buf.ends_with(b"\n") {
                    // a torn last line: the crash happened while it was written
                    repaired = true;
                    break;
                }
                match parse_line(&buf) {
                    Ok(ep) => {
                        done.insert(ep.id.to_string());
                        good_len += n as u64;
                    }
                    Err(message) => bad.push((line_no, message, buf.clone())),
                }
            }
        }
        if !bad.is_empty() {
            set_aside(path, &bad)?;
            // the file now holds its good lines only
            file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(io(path))?;
            repaired = true;
        } else if repaired {
            file.set_len(good_len).map_err(io(path))?;
            tracing::warn!("{}: dropped an incomplete last line", path.display());
        }
        file.seek(SeekFrom::End(0)).map_err(io(path))?;
        Ok(TrajectoryWriter {
            path: path.to_path_buf(),
            file,
            done,
            repaired,
            len: good_len,
            broken: false,
            _lock: lock,
        })
    }

    /// Whether an episode with this id is already in the file.
    pub fn contains(&self, id: &str) -> bool {
        self.done.contains(id)
    }

    /// Episodes in the file.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether the file holds no episode.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Whether opening cut off a torn last line.
    pub fn repaired(&self) -> bool {
        self.repaired
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one episode and flushes it to disk. An id already present is skipped
    /// (returns `false`).
    pub fn append(&mut self, episode: &Episode) -> Result<bool, TrajectoryError> {
        let id = episode.id.to_string();
        if self.done.contains(&id) {
            return Ok(false);
        }
        if self.broken {
            return Err(TrajectoryError::Append {
                path: self.path.clone(),
                id: id.clone(),
                kept: self.done.len(),
                source: std::io::Error::other(
                    "an earlier append failed and its partial line could not be removed; reopen the file",
                ),
            });
        }
        let mut line = serde_json::to_vec(episode).expect("episodes serialise");
        line.push(b'\n');
        let written = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            // Cut a partly written line off at once (this also frees its space); reopening
            // would drop it anyway.
            self.broken = self.file.set_len(self.len).is_err()
                || self.file.seek(SeekFrom::Start(self.len)).is_err();
            return Err(TrajectoryError::Append {
                path: self.path.clone(),
                id: id.clone(),
                kept: self.done.len(),
                source,
            });
        }
        self.len += line.len() as u64;
        self.done.insert(id);
        Ok(true)
    }
}

/// `FILE.EXT` next to a trajectory file `FILE`.
fn sidecar(path: &Path, ext: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

/// Where [`TrajectoryWriter::open`] moves the lines of `path` that are not episodes:
/// `path.corrupt`.
pub fn corrupt_path(path: &Path) -> PathBuf {
    sidecar(path, "corrupt")
}

/// A failed atomic write of `path` as a trajectory error.
fn cf_io(path: &Path, e: star_cf::error::CfError) -> TrajectoryError {
    TrajectoryError::Io {
        path: path.to_path_buf(),
        source: match e {
            star_cf::error::CfError::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        },
    }
}

/// One line of a trajectory file as a checked episode, or what is wrong with it.
fn parse_line(line: &[u8]) -> Result<Episode, String> {
    let ep: Episode = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    ep.check()?;
    Ok(ep)
}

/// Appends the `bad` lines of `path` to [`corrupt_path`] (synced), then rewrites `path`
/// without them (atomically; a torn last line is dropped too), warning about each.
fn set_aside(path: &Path, bad: &[(usize, String, Vec<u8>)]) -> Result<(), TrajectoryError> {
    let corrupt = corrupt_path(path);
    let mut aside = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&corrupt)
        .map_err(io(&corrupt))?;
    for (_, _, line) in bad {
        aside.write_all(line).map_err(io(&corrupt))?;
    }
    aside.sync_all().map_err(io(&corrupt))?;
    star_cf::fsutil::write_atomic(path, |w| {
        let f = std::fs::File::open(path)?;
        let mut reader = BufReader::new(f);
        let (mut buf, mut line_no, mut next_bad) = (Vec::new(), 0, bad.iter().peekable());
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf)? == 0 || !buf.ends_with(b"\n") {
                return Ok(());
            }
            line_no += 1;
            if next_bad.peek().is_some_and(|(l, _, _)| *l == line_no) {
                next_bad.next();
            } else {
                w.write_all(&buf)?;
            }
        }
    })
    .map_err(|e| cf_io(path, e))?;
    for (line, message, _) in bad {
        tracing::warn!(
            "{}:{line}: not an episode ({message}); moved to {}, and the episode will be redone",
            path.display(),
            corrupt.display()
        );
    }
    Ok(())
}

/// Calls `each` with every episode of a file in order, checking each ([`Episode::check`]),
/// one line in memory at a time; errors name the file and line.
pub fn for_each_episode(
    path: &Path,
    mut each: impl FnMut(Episode, &str) -> Result<(), TrajectoryError>,
) -> Result<(), TrajectoryError> {
    let f = std::fs::File::open(path).map_err(io(path))?;
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.map_err(io(path))?;
        if line.trim().is_empty() {
            continue;
        }
        let parse_err = |message: String| TrajectoryError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let episode: Episode = serde_json::from_str(&line).map_err(|e| parse_err(e.to_string()))?;
        episode.check().map_err(parse_err)?;
        each(episode, &line)?;
    }
    Ok(())
}

/// Reads every episode of a file, checking each ([`Episode::check`]); errors name the file
/// and line.
pub fn read_episodes(path: &Path) -> Result<Vec<Episode>, TrajectoryError> {
    let mut out = Vec::new();
    for_each_episode(path, |ep, _| {
        out.push(ep);
        Ok(())
    })?;
    Ok(out)
}

/// What the outcome filter keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilterConfig {
    /// Keep episodes whose true item is ranked within the top `top_k` (1 = the paper's filter:
    /// true item first).
    pub top_k: usize,
    /// Also require a valid (unrepaired) ranking.
    pub require_valid: bool,
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            top_k: 1,
            require_valid: true,
        }
    }
}

/// What the filter kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterStats {
    /// Episodes seen.
    pub total: usize,
    /// Episodes kept.
    pub kept: usize,
    /// Episodes without a known target (dropped).
    pub no_target: usize,
    /// Episodes with a repaired ranking (dropped when `require_valid`).
    pub invalid: usize,
    /// `by_rank[r]` = episodes whose target was at 0-based rank `r`.
    pub by_rank: Vec<usize>,
}

impl FilterStats {
    /// Share of episodes kept.
    pub fn kept_share(&self) -> f64 {
        self.kept as f64 / self.total.max(1) as f64
    }
}

/// Whether the filter keeps an episode.
pub fn keep(ep: &Episode, cfg: &FilterConfig) -> bool {
    (!cfg.require_valid || ep.valid) && ep.target_rank.is_some_and(|r| r < cfg.top_k)
}

/// Filters `input` into `output` (written atomically) and returns the statistics.
pub fn filter_file(
    input: &Path,
    output: &Path,
    cfg: &FilterConfig,
) -> Result<FilterStats, TrajectoryError> {
    let mut stats = FilterStats::default();
    let mut failed: Option<TrajectoryError> = None;
    let written = star_cf::fsutil::write_atomic(output, |w| {
        // one episode in memory at a time: trajectory files grow with the dataset
        for_each_episode(input, |ep, line| {
            stats.total += 1;
            match ep.target_rank {
                None => stats.no_target += 1,
                Some(r) => {
                    if stats.by_rank.len() <= r {
                        stats.by_rank.resize(r + 1, 0);
                    }
                    stats.by_rank[r] += 1;
                }
            }
            if !ep.valid {
                stats.invalid += 1;
            }
            if keep(&ep, cfg) {
                stats.kept += 1;
                w.write_all(line.as_bytes()).map_err(io(output))?;
                w.write_all(b"\n").map_err(io(output))?;
            }
            Ok(())
        })
        .map_err(|e| {
            let message = e.to_string();
            failed = Some(e);
            std::io::Error::other(message)
        })
    });
    if let Some(e) = failed {
        return Err(e);
    }
    written.map_err(|e| cf_io(output, e))?;
    Ok(stats)
}
