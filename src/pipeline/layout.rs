//! Where a run keeps its files, the evaluation protocol and the device every step runs on.
//!
//! ```text
//! runs/<dataset>/
//!   .lock                           held by the process writing the directory (its pid inside)
//!   candidates/valid-seed42.jsonl   1+N candidate files, drawn once, read by every method
//!   candidates/test-seed42.jsonl
//!   evidence.bin                    the CST evidence store (train graph + neighbour lists)
//!   cf/BPR-MF/, cf/LightGCN/        CF encoders: embeddings.safetensors, summary.json, checkpoints
//!   sasrec/                         model.bpk, model-config.json, summary.json, checkpoints
//!   sasrec-folds/<k>-of-<K>/        SASRec without the users of fold k (the student's
//!                                   cross-fitted sequence evidence), files as in sasrec/
//!   trajectories/                   the teacher's episodes (JSONL), the kept ones, filter counts
//!   student/sft/, student/model/    SFT checkpoints and logs, the SFT model directory
//!   student/grpo/, student/grpo/model/
//!   student-<k>/sft/, student-<k>/model/  the ensemble's other students (k = 1, 2, …), SFT only
//!   report.md, report.json, per_user.jsonl, full_catalogue.json, *.png
//! ```

use anyhow::Result;
use burn::tensor::Device;
use star_cf::lock::WriteLock;
use star_cf::split::SplitKind;
use star_train::cf::CfModelKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The evaluation protocol: the seed of candidate sampling (and of training), and the number
/// of negatives per case (19 in the paper: 20 candidates).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Protocol {
    /// Seed of negative sampling, candidate shuffling and training.
    pub seed: u64,
    /// Negatives per case.
    pub negatives: usize,
}

impl Default for Protocol {
    /// The paper's protocol with seed 42: 1 + 19 candidates.
    fn default() -> Self {
        Protocol {
            seed: 42,
            negatives: 19,
        }
    }
}

/// The devices steps train on, with the names they were chosen by. Most steps use the main
/// device (the first); the CF encoders, SASRec and SFT train on all of them (burn-train's
/// multi-device strategy, see [`star_train::TrainDevices`]).
#[derive(Clone, Debug)]
pub struct Compute {
    labels: Vec<String>,
    devices: Vec<Device>,
}

impl Compute {
    /// The devices called `names`: one name (`default`, `flex`, `ndarray`, `wgpu`, `cuda[:N]`,
    /// among the compiled backends) or several separated by commas (`cuda:0,cuda:1`), the main
    /// one first.
    pub fn new(names: &str) -> Result<Compute> {
        let mut labels = Vec::new();
        let mut devices = Vec::new();
        for (i, name) in names.split(',').map(str::trim).enumerate() {
            if name.is_empty() {
                anyhow::bail!("device list `{names}`: name {} is empty", i + 1);
            }
            devices.push(star_model::device_from_name(name)?);
            // `default` is reported as the backend it picks
            labels.push(if name == "default" {
                star_model::available_devices()
                    .first()
                    .map_or("default", |d| *d)
                    .to_string()
            } else {
                name.to_string()
            });
        }
        Ok(Compute { labels, devices })
    }

    /// The device called `name`, for a command that runs on one device (evaluation, serving,
    /// the LLM teacher, GRPO): a comma list is refused by name rather than cut to its first.
    pub fn one(name: &str) -> Result<Compute> {
        let compute = Compute::new(name)?;
        if compute.devices.len() > 1 {
            anyhow::bail!("device list `{name}`: this command runs on one device; name one");
        }
        Ok(compute)
    }

    /// The main device: models are built, evaluated and served on it.
    pub fn device(&self) -> &Device {
        &self.devices[0]
    }

    /// Every device, the main one first.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// The names as reported in summaries, comma-separated (`default` resolved to the backend
    /// it picks).
    pub fn label(&self) -> String {
        self.labels.join(",")
    }

    /// The main device's name, as in [`Compute::label`].
    pub fn main_label(&self) -> &str {
        &self.labels[0]
    }
}

/// A run directory: every path of a run (see the module docs), and the lock that keeps a
/// second process from writing it at the same time. Clones share the lock; it is released
/// when the last clone is dropped (or the process ends).
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
    lock: Option<Arc<WriteLock>>,
}

impl RunDir {
    /// Creates (if needed) and locks the run directory `root`. Fails at once, naming the
    /// directory and the holder's pid, when another process is writing it.
    pub fn open(root: &Path) -> Result<RunDir> {
        let lock = star_cf::lock::lock(root, &root.join(".lock"))?;
        Ok(RunDir {
            root: root.to_path_buf(),
            lock: Some(lock),
        })
    }

    /// Gives up this handle's share of the lock, for a step that has written what it needed
    /// of the directory and goes on writing elsewhere only (e.g. sharded `star teach` processes
    /// writing their own, separately locked, trajectory files). Paths stay valid.
    pub fn release(&mut self) {
        self.lock = None;
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The candidate file of one split and seed: `candidates/<split>-seed<seed>.jsonl`.
    pub fn candidates(&self, kind: SplitKind, seed: u64) -> PathBuf {
        self.root
            .join("candidates")
            .join(format!("{kind}-seed{seed}.jsonl"))
    }

    /// The evidence store: `evidence.bin`.
    pub fn evidence(&self) -> PathBuf {
        self.root.join("evidence.bin")
    }

    /// A CF model's training run: `cf/<method name>`.
    pub fn cf(&self, kind: CfModelKind) -> PathBuf {
        self.root.join("cf").join(kind.method_name())
    }

    /// The refit of a CF model on the train and valid interactions, which scores the test
    /// split when it exists: `cf/<method>/refit`.
    pub fn cf_refit(&self, kind: CfModelKind) -> PathBuf {
        self.cf(kind).join("refit")
    }

    /// The SASRec run: `sasrec`.
    pub fn sasrec(&self) -> PathBuf {
        self.root.join("sasrec")
    }

    /// The SASRec of fold `fold` of `folds`, trained without that fold's users (the student's
    /// cross-fitted sequence evidence): `sasrec-folds/<fold>-of-<folds>`.
    pub fn sasrec_fold(&self, fold: usize, folds: usize) -> PathBuf {
        self.root
            .join("sasrec-folds")
            .join(format!("{fold}-of-{folds}"))
    }

    /// The teacher's trajectory files: `trajectories`.
    pub fn trajectories(&self) -> PathBuf {
        self.root.join("trajectories")
    }

    /// The student: `student` (`sft/` checkpoints and logs, `model/` the SFT model, `grpo/`).
    pub fn student(&self) -> PathBuf {
        self.root.join("student")
    }

    /// The SFT model directory: `student/model`.
    pub fn sft_model(&self) -> PathBuf {
        self.student().join("model")
    }

    /// The GRPO run: `student/grpo` (its model in `model/`).
    pub fn grpo(&self) -> PathBuf {
        self.student().join("grpo")
    }

    /// Student `member` of the ensemble: `student` for member 0 (the one GRPO trains further),
    /// `student-<member>` for the others (`sft/` and `model/`, as in `student`).
    pub fn student_member(&self, member: usize) -> PathBuf {
        match member {
            0 => self.student(),
            k => self.root.join(format!("student-{k}")),
        }
    }

    /// The run's final student: the GRPO model when it exists, else the SFT model.
    pub fn final_student(&self) -> PathBuf {
        let grpo = self.grpo().join("model");
        if grpo.join("config.json").is_file() {
            grpo
        } else {
            self.sft_model()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_directory_is_locked_while_open_and_names_its_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir::open(&tmp.path().join("run")).unwrap();
        assert!(run.path().join(".lock").is_file());
        assert_eq!(
            run.candidates(SplitKind::Valid, 7),
            tmp.path().join("run/candidates/valid-seed7.jsonl")
        );
        assert_eq!(run.cf(CfModelKind::Mf), tmp.path().join("run/cf/BPR-MF"));
        assert_eq!(run.final_student(), tmp.path().join("run/student/model"));
        assert_eq!(run.student_member(0), run.student());
        assert_eq!(run.student_member(2), tmp.path().join("run/student-2"));
        // the same process may open it again (steps share the lock)
        let mut again = RunDir::open(run.path()).unwrap();
        again.release();
        drop(run);
        // released by both handles: a new descriptor can take it
        let f = std::fs::File::options()
            .write(true)
            .open(tmp.path().join("run/.lock"))
            .unwrap();
        f.try_lock().expect("the run directory was unlocked");
    }

    #[test]
    fn compute_labels_default_by_the_backend_it_picks() {
        let c = Compute::new("default").unwrap();
        assert_eq!(c.label(), star_model::available_devices()[0]);
        assert!(Compute::new("tpu").is_err());
    }

    #[test]
    fn a_device_list_names_the_main_device_first_and_refuses_a_bad_name() {
        let c = Compute::new("flex, default").unwrap();
        assert_eq!(c.devices().len(), 2);
        assert_eq!(c.device(), &Device::flex());
        assert_eq!(
            c.label(),
            format!("flex,{}", star_model::available_devices()[0])
        );
        let err = Compute::new("flex,tpu").unwrap_err().to_string();
        assert!(err.contains("tpu"), "{err}");
        let err = Compute::new("flex,").unwrap_err().to_string();
        assert!(err.contains("name 2 is empty"), "{err}");
        assert_eq!(c.main_label(), "flex");
        assert!(Compute::one("flex").is_ok());
        let err = Compute::one("flex,flex").unwrap_err().to_string();
        assert!(err.contains("runs on one device"), "{err}");
    }
}
