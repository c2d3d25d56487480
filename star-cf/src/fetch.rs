//! Downloading public datasets into the cache (`$STAR_HOME`, default `~/.cache/star`).
//!
//! `fetch` downloads the official GroupLens zip, verifies its SHA-256 and unpacks it under
//! `$STAR_HOME/datasets/<name>/`. When GroupLens cannot be reached and the dataset is
//! MovieLens-100K, it falls back to the copy inside the `recbole==1.2.1` Python wheel
//! (fetched with `pip download --no-deps`, SHA-256 checked, read as RecBole atomic files).
//! Otherwise it fails with a message saying where to put the files by hand. Nothing is
//! redistributed: the data only ever lives in the user's cache.

use crate::error::{CfError, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Datasets `fetch` knows how to download.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KnownDataset {
    /// MovieLens 100K (`ml-100k.zip`).
    MovieLens100k,
    /// MovieLens 1M (`ml-1m.zip`).
    MovieLens1m,
    /// MovieLens latest-small (`ml-latest-small.zip`).
    MovieLensLatestSmall,
    /// MovieLens 25M (`ml-25m.zip`).
    MovieLens25m,
}

impl KnownDataset {
    /// All known datasets.
    pub const ALL: [KnownDataset; 4] = [
        KnownDataset::MovieLens100k,
        KnownDataset::MovieLens1m,
        KnownDataset::MovieLensLatestSmall,
        KnownDataset::MovieLens25m,
    ];

    /// The name used on the command line and in results, e.g. `"movielens-100k"`.
    pub fn name(self) -> &'static str {
        match self {
            KnownDataset::MovieLens100k => "movielens-100k",
            KnownDataset::MovieLens1m => "movielens-1m",
            KnownDataset::MovieLensLatestSmall => "movielens-latest-small",
            KnownDataset::MovieLens25m => "movielens-25m",
        }
    }

    /// Parses a name (`movielens-100k`, `ml-100k`, ...).
    pub fn from_name(s: &str) -> Option<KnownDataset> {
        let s = s.to_ascii_lowercase();
        KnownDataset::ALL
            .into_iter()
            .find(|d| d.name() == s || d.zip_dir() == s)
    }

    /// The directory inside the zip (`ml-100k`).
    pub fn zip_dir(self) -> &'static str {
        match self {
            KnownDataset::MovieLens100k => "ml-100k",
            KnownDataset::MovieLens1m => "ml-1m",
            KnownDataset::MovieLensLatestSmall => "ml-latest-small",
            KnownDataset::MovieLens25m => "ml-25m",
        }
    }

    /// Download URL: the official GroupLens one, or the same file name under
    /// `$STAR_MOVIELENS_MIRROR` when that is set (a local mirror or proxy).
    pub fn url(self) -> String {
        let base = std::env::var("STAR_MOVIELENS_MIRROR")
            .ok()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| OFFICIAL_BASE.to_string());
        format!("{}/{}.zip", base.trim_end_matches('/'), self.zip_dir())
    }

    /// SHA-256 of the official zip.
    pub fn sha256(self) -> &'static str {
        match self {
            KnownDataset::MovieLens100k => {
                "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
            }
            KnownDataset::MovieLens1m => {
                "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"
            }
            KnownDataset::MovieLensLatestSmall => {
                "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"
            }
            KnownDataset::MovieLens25m => {
                "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa"
            }
        }
    }

    /// A file whose presence shows the unpacked data is there.
    fn marker_file(self) -> &'static str {
        match self {
            KnownDataset::MovieLens100k => "u.data",
            KnownDataset::MovieLens1m => "ratings.dat",
            _ => "ratings.csv",
        }
    }
}

/// Where GroupLens serves the MovieLens zips.
pub const OFFICIAL_BASE: &str = "https://files.grouplens.org/datasets/movielens";

/// The recbole wheel that carries a copy of MovieLens-100K, and its SHA-256.
const RECBOLE_WHEEL: &str = "recbole-1.2.1-py3-none-any.whl";
const RECBOLE_SHA256: &str = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407";
const RECBOLE_PREFIX: &str = "recbole/dataset_example/ml-100k/";

/// The cache directory: `$STAR_HOME`, else `~/.cache/star`.
pub fn star_home() -> PathBuf {
    if let Some(h) = std::env::var_os("STAR_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| ".".into());
    home.join(".cache").join("star")
}

/// Where a fetched dataset lives: `<home>/datasets/<name>`.
pub fn dataset_root(home: &Path, ds: KnownDataset) -> PathBuf {
    home.join("datasets").join(ds.name())
}

/// The directory holding the dataset files if it has been fetched (official layout or the
/// RecBole fallback), without touching the network.
pub fn cached(home: &Path, ds: KnownDataset) -> Option<PathBuf> {
    let root = dataset_root(home, ds);
    let official = root.join(ds.zip_dir());
    if official.join(ds.marker_file()).is_file() {
        return Some(official);
    }
    let recbole = root.join("recbole");
    (ds == KnownDataset::MovieLens100k && recbole.join("ml-100k.inter").is_file())
        .then_some(recbole)
}

/// Makes sure the dataset is in the cache and returns its directory.
pub fn fetch(home: &Path, ds: KnownDataset) -> Result<PathBuf> {
    if let Some(dir) = cached(home, ds) {
        return Ok(dir);
    }
    let root = dataset_root(home, ds);
    let official_err = match fetch_official(home, ds, &root) {
        Ok(dir) => return Ok(dir),
        Err(CfError::Fetch { message, .. }) => message,
        Err(e) => e.to_string(),
    };
    if ds == KnownDataset::MovieLens100k {
        eprintln!(
            "GroupLens is not reachable ({official_err}); trying the copy of MovieLens-100K in the recbole==1.2.1 wheel"
        );
        match fetch_recbole(home, &root) {
            Ok(dir) => return Ok(dir),
            Err(e) => {
                let e = match e {
                    CfError::Fetch { message, .. } => message,
                    e => e.to_string(),
                };
                return Err(CfError::Fetch {
                    dataset: ds.name().into(),
                    message: format!(
                        "{official_err}; recbole fallback: {e}. {}",
                        by_hand(ds, &root)
                    ),
                });
            }
        }
    }
    Err(CfError::Fetch {
        dataset: ds.name().into(),
        message: format!("{official_err}. {}", by_hand(ds, &root)),
    })
}

fn by_hand(ds: KnownDataset, root: &Path) -> String {
    format!(
        "Download {} yourself and unzip it into {} (so that {} exists), or pass --data DIR",
        ds.url(),
        root.display(),
        root.join(ds.zip_dir()).join(ds.marker_file()).display()
    )
}

fn fetch_err(ds: KnownDataset, message: impl Into<String>) -> CfError {
    CfError::Fetch {
        dataset: ds.name().into(),
        message: message.into(),
    }
}

fn fetch_official(home: &Path, ds: KnownDataset, root: &Path) -> Result<PathBuf> {
    let downloads = home.join("downloads");
    std::fs::create_dir_all(&downloads).map_err(|e| CfError::io(&downloads, e))?;
    let zip_path = downloads.join(format!("{}.zip", ds.zip_dir()));
    if !zip_path.is_file() || sha256_file(&zip_path)? != ds.sha256() {
        download(ds, &ds.url(), &zip_path)?;
    }
    let digest = sha256_file(&zip_path)?;
    if digest != ds.sha256() {
        let _ = std::fs::remove_file(&zip_path);
        return Err(fetch_err(
            ds,
            format!(
                "{}: SHA-256 is {digest}, expected {}",
                zip_path.display(),
                ds.sha256()
            ),
        ));
    }
    unzip(&zip_path, root, |name| Some(PathBuf::from(name)))?;
    cached(home, ds).ok_or_else(|| {
        fetch_err(
            ds,
            format!(
                "{} unpacked, but {} is missing",
                zip_path.display(),
                root.join(ds.zip_dir()).join(ds.marker_file()).display()
            ),
        )
    })
}

fn download(ds: KnownDataset, url: &str, dest: &Path) -> Result<()> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(60))
        .build();
    let resp = agent
        .get(url)
        .call()
        .map_err(|e| fetch_err(ds, e.to_string()))?;
    let total: Option<u64> = resp.header("Content-Length").and_then(|v| v.parse().ok());
    let bar = crate::progress::bytes_bar(total, &format!("downloading {}", ds.name()));
    let part = dest.with_extension("zip.part");
    let mut out = std::fs::File::create(&part).map_err(|e| CfError::io(&part, e))?;
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| fetch_err(ds, format!("reading {url}: {e}")))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .map_err(|e| CfError::io(&part, e))?;
        bar.inc(n as u64);
    }
    out.sync_all().map_err(|e| CfError::io(&part, e))?;
    bar.finish_and_clear();
    std::fs::rename(&part, dest).map_err(|e| CfError::io(dest, e))
}

fn fetch_recbole(home: &Path, root: &Path) -> Result<PathBuf> {
    let ds = KnownDataset::MovieLens100k;
    let pip_dir = home.join("downloads").join("pip");
    let wheel = pip_dir.join(RECBOLE_WHEEL);
    if !wheel.is_file() {
        std::fs::create_dir_all(&pip_dir).map_err(|e| CfError::io(&pip_dir, e))?;
        let mut last = String::from("no Python found");
        let mut ok = false;
        for (prog, pre) in [
            ("python3", &["-m", "pip"][..]),
            ("python", &["-m", "pip"]),
            ("pip3", &[]),
            ("pip", &[]),
        ] {
            let out = std::process::Command::new(prog)
                .args(pre)
                .args([
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "recbole==1.2.1",
                    "-d",
                ])
                .arg(&pip_dir)
                .output();
            match out {
                Ok(o) if o.status.success() && wheel.is_file() => {
                    ok = true;
                    break;
                }
                Ok(o) => {
                    last = format!(
                        "`{prog} {} download recbole==1.2.1` failed: {}",
                        pre.join(" "),
                        String::from_utf8_lossy(&o.stderr)
                            .lines()
                            .last()
                            .unwrap_or("")
                    )
                }
                Err(e) => last = format!("{prog}: {e}"),
            }
        }
        if !ok {
            return Err(fetch_err(ds, last));
        }
    }
    let digest = sha256_file(&wheel)?;
    if digest != RECBOLE_SHA256 {
        return Err(fetch_err(
            ds,
            format!(
                "{}: SHA-256 is {digest}, expected {RECBOLE_SHA256}",
                wheel.display()
            ),
        ));
    }
    let dest = root.join("recbole");
    unzip(&wheel, &dest, |name| {
        let rest = name.strip_prefix(RECBOLE_PREFIX)?;
        ["ml-100k.inter", "ml-100k.item", "ml-100k.user"]
            .contains(&rest)
            .then(|| PathBuf::from(rest))
    })?;
    cached(home, ds)
        .ok_or_else(|| fetch_err(ds, format!("{} holds no ml-100k.inter", wheel.display())))
}

/// Unpacks the entries of `zip` that `select` maps to a relative path, into `dest`
/// (through a temporary directory, so an interrupted unpack leaves nothing half-done).
fn unzip(zip_path: &Path, dest: &Path, select: impl Fn(&str) -> Option<PathBuf>) -> Result<()> {
    let f = std::fs::File::open(zip_path).map_err(|e| CfError::io(zip_path, e))?;
    let mut archive = zip::ZipArchive::new(f)
        .map_err(|e| CfError::format(zip_path, format!("not a zip archive: {e}")))?;
    let tmp = dest.with_extension("unpacking");
    let _ = std::fs::remove_dir_all(&tmp);
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| CfError::format(zip_path, format!("entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        // enclosed_name rejects absolute paths and `..`
        let Some(name) = entry.enclosed_name() else {
            continue;
        };
        let Some(rel) = select(&name.to_string_lossy()) else {
            continue;
        };
        let out_path = tmp.join(rel);
        if let Some(parent) = out_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| CfError::io(parent, e))?;
        }
        let mut out = std::fs::File::create(&out_path).map_err(|e| CfError::io(&out_path, e))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| CfError::io(&out_path, e))?;
    }
    let _ = std::fs::remove_dir_all(dest);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| CfError::io(parent, e))?;
    }
    std::fs::rename(&tmp, dest).map_err(|e| CfError::io(dest, e))
}

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| CfError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| CfError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_cache_layout() {
        assert_eq!(
            KnownDataset::from_name("ml-1m"),
            Some(KnownDataset::MovieLens1m)
        );
        assert_eq!(
            KnownDataset::from_name("movielens-100k"),
            Some(KnownDataset::MovieLens100k)
        );
        assert_eq!(KnownDataset::from_name("netflix"), None);
        let home = tempfile::tempdir().unwrap();
        assert!(cached(home.path(), KnownDataset::MovieLens100k).is_none());
        let dir = dataset_root(home.path(), KnownDataset::MovieLens100k).join("ml-100k");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("u.data"), "1\t1\t5\t1\n").unwrap();
        assert_eq!(cached(home.path(), KnownDataset::MovieLens100k), Some(dir));
    }

    /// Serves `body` once over HTTP on 127.0.0.1 and returns the base URL.
    fn serve_once(body: Vec<u8>) -> String {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let mut stream = stream;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        });
        format!("http://{addr}")
    }

    #[test]
    fn download_is_verified_and_a_bad_checksum_is_rejected() {
        let home = tempfile::tempdir().unwrap();
        std::env::set_var(
            "STAR_MOVIELENS_MIRROR",
            serve_once(b"not the real zip".to_vec()),
        );
        let err = fetch(home.path(), KnownDataset::MovieLens1m)
            .unwrap_err()
            .to_string();
        std::env::remove_var("STAR_MOVIELENS_MIRROR");
        assert!(err.contains("SHA-256 is"), "{err}");
        assert!(err.contains(KnownDataset::MovieLens1m.sha256()), "{err}");
        // the message says where to put the files by hand
        assert!(
            err.contains("ratings.dat") && err.contains("--data DIR"),
            "{err}"
        );
        // the bad download is not kept, and nothing was unpacked
        assert!(!home.path().join("downloads/ml-1m.zip").exists());
        assert!(cached(home.path(), KnownDataset::MovieLens1m).is_none());
    }

    #[test]
    fn unzip_selects_entries_and_checksums() {
        let home = tempfile::tempdir().unwrap();
        let zpath = home.path().join("a.zip");
        {
            let f = std::fs::File::create(&zpath).unwrap();
            let mut z = zip::ZipWriter::new(f);
            let opts = zip::write::SimpleFileOptions::default();
            z.start_file("d/keep.txt", opts).unwrap();
            z.write_all(b"kept").unwrap();
            z.start_file("d/skip.txt", opts).unwrap();
            z.write_all(b"skipped").unwrap();
            z.finish().unwrap();
        }
        let dest = home.path().join("out");
        unzip(&zpath, &dest, |n| {
            n.ends_with("keep.txt").then(|| PathBuf::from("keep.txt"))
        })
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dest.join("keep.txt")).unwrap(),
            "kept"
        );
        assert!(!dest.join("skip.txt").exists());
        std::fs::write(home.path().join("abc"), "abc").unwrap();
        assert_eq!(
            sha256_file(&home.path().join("abc")).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let err = unzip(&home.path().join("abc"), &dest, |_| None).unwrap_err();
        assert!(err.to_string().contains("not a zip"), "{err}");
    }
}
