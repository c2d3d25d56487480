#!/usr/bin/env python3
"""Paired comparison of two methods' 1+19 ranks, for peers whose ranks star's own
`star report compare` cannot read (it compares star's report.json files).

Reads two files of JSON lines in the shape of star's `per_user.jsonl` ({"method", "user",
"rank"}, rank 0-based among the candidates), e.g. a run's `per_user.jsonl` and the file
`recbole_accuracy.py --per-user` writes, keeps the users both scored, and prints, for
avg-HR (mean of HR@1, HR@3, HR@5), HR@1 and NDCG@10 (x100), A, B, A - B and a paired
bootstrap 95 % interval (users resampled, 2000 resamples, numpy's generator, seed 42).

    ~/.cache/star/venv-peers/bin/python scripts/peers/paired_ranks.py \\
        RUN/per_user.jsonl SASRec recbole-per-user.jsonl RecBole-SASRec
"""
import argparse
import json
import sys

import numpy as np


def ranks(path, method):
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            d = json.loads(line)
            if d["method"] == method:
                if d["user"] in out:
                    sys.exit(f"{path}:{n}: user {d['user']} of {method} appears twice")
                out[d["user"]] = d["rank"]
    if not out:
        sys.exit(f"{path}: no line of method {method}")
    return out


def metrics(r):
    r = np.asarray(r, dtype=float) + 1.0
    hr = lambda k: (r <= k).astype(float)
    return {
        "avg-HR": 100.0 * (hr(1) + hr(3) + hr(5)) / 3.0,
        "HR@1": 100.0 * hr(1),
        "NDCG@10": 100.0 * np.where(r <= 10, 1.0 / np.log2(r + 1.0), 0.0),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a_file")
    ap.add_argument("a_method")
    ap.add_argument("b_file")
    ap.add_argument("b_method")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    x = ap.parse_args()
    a, b = ranks(x.a_file, x.a_method), ranks(x.b_file, x.b_method)
    users = sorted(set(a) & set(b))
    if not users:
        sys.exit("the two methods share no user")
    ma, mb = metrics([a[u] for u in users]), metrics([b[u] for u in users])
    idx = np.random.default_rng(x.seed).integers(0, len(users), (x.resamples, len(users)))
    print(f"{len(users)} users in both ({len(a)} in A, {len(b)} in B)")
    for k in ma:
        d = ma[k] - mb[k]
        lo, hi = np.percentile(d[idx].mean(axis=1), [2.5, 97.5])
        print(f"{k}: A {ma[k].mean():.2f}, B {mb[k].mean():.2f}, "
              f"A - B {d.mean():+.2f} [{lo:+.2f}, {hi:+.2f}]")


if __name__ == "__main__":
    main()
