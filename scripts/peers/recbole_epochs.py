#!/usr/bin/env python3
"""RecBole side of the epoch-time comparison in BENCHMARKS.md: trains RecBole 1.2.1's LightGCN,
BPR and SASRec with their default settings on MovieLens-100K for a few epochs on the CPU and
prints the seconds of each training epoch as RecBole logs them.

Not part of CI. Set-up (a venv, pip only):

    python3 -m venv ~/.cache/star/venv-peers
    ~/.cache/star/venv-peers/bin/pip install torch recbole==1.2.1 "numpy<2" "pandas<2.3" \
        scipy==1.10.1 "setuptools>=77,<81"
    # RecBole 1.2.1 predates numpy 2 and scipy 1.11; its ray<=2.6.3 imports pkg_resources,
    # which setuptools 81 removed, and torch 2.15 asks for setuptools>=77
    ~/.cache/star/venv-peers/bin/python scripts/peers/recbole_epochs.py \\
        --data ~/.cache/star/datasets/movielens-100k/recbole

`--data` is the directory holding `ml-100k.inter` (the copy `cargo run --example movielens`
fetches). Torch uses `--threads` threads (default 2, as the Rust side on this machine).
"""
import argparse
import os
import re
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="LightGCN,BPR,SASRec")
    a = ap.parse_args()

    # RecBole 1.2.1 reloads its own checkpoints with torch.load, whose default changed in 2.6
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    import torch

    torch.set_num_threads(a.threads)
    from recbole.quick_start import run_recbole

    # RecBole reads <data_path>/<dataset>/<dataset>.inter
    root = tempfile.mkdtemp()
    os.symlink(os.path.abspath(os.path.expanduser(a.data)), os.path.join(root, "ml-100k"))
    for model in a.models.split(","):
        log_dir = tempfile.mkdtemp()
        cfg = {
            "data_path": root,
            "device": "cpu",
            "use_gpu": False,
            "epochs": a.epochs,
            "eval_step": a.epochs + 1,  # time training epochs only
            "show_progress": False,
            "checkpoint_dir": log_dir,
            "log_wandb": False,
        }
        if model == "SASRec":
            cfg["train_neg_sample_args"] = None  # RecBole's default loss for SASRec is CE
        run_recbole(model=model, dataset="ml-100k", config_dict=cfg)


if __name__ == "__main__":
    main()
