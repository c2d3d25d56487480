#!/usr/bin/env python3
"""RecBole side of the accuracy comparison in BENCHMARKS.md: trains RecBole 1.2.1's BPR, LightGCN
and SASRec with their default hyper-parameters on MovieLens-100K, on the same temporal
leave-one-out split as star (each user's last interaction is the test item, the one before it
the validation item), and prints
  - the full-catalogue test HR@10, NDCG@10 and MRR@10 as RecBole computes them, and
  - avg-HR (mean of HR@1, HR@3, HR@5), HR@1 and NDCG@10 on star's 1+19 test candidate file
    (`<run dir>/candidates/test-seed42.jsonl`), scoring each case's candidates with the
    trained model's full-sort scores.
as one JSON line per model.

RecBole orders equal timestamps differently from star, which changes the test item of a few
users; those are left out of the 1+19 numbers and counted (`users_skipped`).

Not part of CI. Set-up (a venv, pip only), as for recbole_epochs.py:

    python3 -m venv ~/.cache/star/venv-peers
    ~/.cache/star/venv-peers/bin/pip install torch recbole==1.2.1 "numpy<2" "pandas<2.3" \\
        scipy==1.10.1 "setuptools>=77,<81"
    ~/.cache/star/venv-peers/bin/python scripts/peers/recbole_accuracy.py \\
        --data ~/.cache/star/datasets/movielens-100k/recbole --candidates RUN/candidates/test-seed42.jsonl

`--models` picks the models (default BPR,LightGCN,SASRec); `--epochs` caps RecBole's default of
300 (with early stopping after 10 validations without a better NDCG@10, RecBole's default).

`--resume-dir DIR` makes a long run (RecBole's SASRec needs hours on 2 CPU cores) survive being
stopped: after every validation the trainer's state (weights, optimizer, epoch, early-stopping
count, best score and result, random number generators) goes to `DIR/<model>-latest.pth`, the
best weights to `DIR/<model>-best.pth`, and a later run with the same arguments continues from
there. A resumed run is close to, not bit-identical with, an uninterrupted one (RecBole's data
loader reshuffles from its own state). Each validation is also appended to
`DIR/<model>-log.jsonl`.

`--per-user FILE` appends each scored user's 0-based rank on the 1+19 file (one JSON line
per model and user: method `RecBole-<model>`, user, rank), in the shape of star's
`per_user.jsonl`, so that the two can be compared paired over users.
"""
import argparse
import json
import math
import os
import tempfile
import time


def load_cases(path):
    with open(path) as f:
        header = json.loads(f.readline())
        cases = [json.loads(line) for line in f if line.strip()]
    return header, cases


def candidate_ranks(cases, scores_of_user, item_index):
    """The target's 0-based rank among its case's candidates (star's `per_user.jsonl` rank),
    for every case whose user RecBole scored."""
    ranks = {}
    for c in cases:
        s = scores_of_user.get(c["user"])
        if s is None:
            continue
        cand = [s[item_index[i]] if i in item_index else -math.inf for i in c["candidates"]]
        target = cand[c["positive_index"]]
        ranks[c["user"]] = sum(1 for x in cand if x > target)
    return ranks


def candidate_metrics(ranks):
    """avg-HR, HR@1, NDCG@10 (x100) from 0-based ranks."""
    hr = {1: 0.0, 3: 0.0, 5: 0.0}
    ndcg10 = 0.0
    n = 0
    for rank0 in ranks.values():
        rank = rank0 + 1
        for k in hr:
            hr[k] += rank <= k
        ndcg10 += 1.0 / math.log2(rank + 1) if rank <= 10 else 0.0
        n += 1
    n = max(n, 1)
    return {
        "avg_HR": 100.0 * sum(hr.values()) / (3 * n),
        "HR@1": 100.0 * hr[1] / n,
        "NDCG@10": 100.0 * ndcg10 / n,
    }


def resumable(trainer, name, directory):
    """Points the trainer's best-model file into `directory`, restores the latest state saved
    there (if any), and returns the callback that saves it after every validation. The
    callback's `finished` is true when the restored run had already stopped (early stopping or
    the epoch cap): then there is nothing left to train."""
    import random

    import numpy as np
    import torch

    os.makedirs(directory, exist_ok=True)
    latest = os.path.join(directory, f"{name}-latest.pth")
    log = os.path.join(directory, f"{name}-log.jsonl")
    earlier_s = 0.0
    finished = False
    if os.path.exists(latest):
        state = torch.load(latest, map_location="cpu", weights_only=False)
        trainer.resume_checkpoint(latest)  # weights, optimizer, epoch, cur_step, best score
        trainer.best_valid_result = state["best_valid_result"]
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(state["numpy_rng"])
        random.setstate(state["python_rng"])
        earlier_s = state["train_s"]
        # RecBole stops once more than `stopping_step` validations in a row brought no gain
        finished = (
            state["cur_step"] > trainer.stopping_step or state["epoch"] + 1 >= trainer.epochs
        )
        print(f"{name}: resumed after epoch {state['epoch']} ({latest})", flush=True)
    trainer.saved_model_file = os.path.join(directory, f"{name}-best.pth")
    started = time.time()

    def save(epoch, valid_score):
        state = {
            "config": trainer.config,
            "epoch": epoch,
            "cur_step": trainer.cur_step,
            "best_valid_score": trainer.best_valid_score,
            "best_valid_result": trainer.best_valid_result,
            "state_dict": trainer.model.state_dict(),
            "other_parameter": trainer.model.other_parameter(),
            "optimizer": trainer.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": np.random.get_state(),
            "python_rng": random.getstate(),
            "train_s": earlier_s + time.time() - started,
        }
        tmp = latest + ".tmp"
        torch.save(state, tmp, pickle_protocol=4)
        os.replace(tmp, latest)  # a crash mid-write keeps the previous state
        with open(log, "a") as f:
            f.write(json.dumps({"epoch": epoch, "valid_score": valid_score,
                                "train_s": round(state["train_s"], 1)}) + "\n")

    save.earlier_s = earlier_s
    save.finished = finished
    return save


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--candidates", required=True)
    ap.add_argument("--models", default="BPR,LightGCN,SASRec")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--resume-dir", help="keep and resume the training state here")
    ap.add_argument(
        "--per-user",
        help="write each scored user's 1+19 rank here, one JSON line per model and user, "
        "as star's per_user.jsonl does, for paired comparisons",
    )
    a = ap.parse_args()
    # resolved now: RecBole's logs make the script change its working directory below
    for field in ("resume_dir", "per_user"):
        if getattr(a, field):
            setattr(a, field, os.path.abspath(os.path.expanduser(getattr(a, field))))

    # RecBole 1.2.1 reloads its own checkpoints with torch.load, whose default changed in 2.6
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    import torch

    torch.set_num_threads(a.threads)
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    _, cases = load_cases(a.candidates)
    data = os.path.abspath(os.path.expanduser(a.data))
    # RecBole writes its logs (log/, log_tensorboard/) into the working directory
    os.chdir(tempfile.mkdtemp())
    targets = {c["user"]: c["target"] for c in cases}
    root = tempfile.mkdtemp()
    os.symlink(data, os.path.join(root, "ml-100k"))
    for name in a.models.split(","):
        cfg = {
            "data_path": root,
            "device": "cpu",
            "use_gpu": False,
            "seed": a.seed,
            "epochs": a.epochs,
            "show_progress": False,
            "checkpoint_dir": tempfile.mkdtemp(),
            "log_wandb": False,
            # star's protocol: temporal leave-one-out, every unseen item ranked
            "eval_args": {
                "split": {"LS": "valid_and_test"},
                "order": "TO",
                "group_by": "user",
                "mode": "full",
            },
            "metrics": ["Hit", "NDCG", "MRR"],
            "topk": [10],
            "valid_metric": "NDCG@10",
        }
        if name == "SASRec":
            cfg["train_neg_sample_args"] = None  # RecBole's default loss for SASRec is CE
        config = Config(model=name, dataset="ml-100k", config_dict=cfg)
        init_seed(config["seed"], config["reproducibility"])
        dataset = create_dataset(config)
        train_data, valid_data, test_data = data_preparation(config, dataset)
        model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
        trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
        t0 = time.time()
        callback = None
        if a.resume_dir:
            callback = resumable(trainer, name, a.resume_dir)
        if not (callback and callback.finished):
            trainer.fit(
                train_data, valid_data, saved=True, show_progress=False, callback_fn=callback
            )
        train_s = time.time() - t0 + (callback.earlier_s if callback else 0.0)
        full = trainer.evaluate(test_data, load_best_model=True, show_progress=False)

        # full-sort scores of every test user, for star's 1+19 candidates
        model = trainer.model
        model.eval()
        uid_field, iid_field = dataset.uid_field, dataset.iid_field
        item_index = {tok: i for i, tok in enumerate(dataset.field2id_token[iid_field])}
        user_token = dataset.field2id_token[uid_field]
        scores_of_user, skipped = {}, 0
        with torch.no_grad():
            for interaction, _, positive_u, positive_i in test_data:
                scores = model.full_sort_predict(interaction).view(len(interaction), -1)
                users = interaction[uid_field].tolist()
                pos = {}
                for row, item in zip(positive_u.tolist(), positive_i.tolist()):
                    pos[row] = dataset.field2id_token[iid_field][item]
                for row, u in enumerate(users):
                    raw = user_token[u]
                    if targets.get(raw) != pos.get(row):
                        skipped += 1  # RecBole's test item differs (equal timestamps)
                        continue
                    scores_of_user[raw] = scores[row].tolist()
        ranks = candidate_ranks(cases, scores_of_user, item_index)
        if a.per_user:
            with open(a.per_user, "a") as f:
                for user, rank in ranks.items():
                    f.write(json.dumps({"method": f"RecBole-{name}", "user": user,
                                        "rank": rank}) + "\n")
        out = {
            "model": name,
            "recbole": "1.2.1",
            "best_epoch_valid": trainer.best_valid_result,
            "train_s": round(train_s, 1),
            "full_catalogue": {k: round(100.0 * v, 2) for k, v in full.items()},
            "candidates_1_19": {k: round(v, 2) for k, v in candidate_metrics(ranks).items()},
            "users_scored": len(scores_of_user),
            "users_skipped": skipped,
        }
        print(json.dumps(out, default=str), flush=True)


if __name__ == "__main__":
    main()
