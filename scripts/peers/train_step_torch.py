#!/usr/bin/env python3
"""PyTorch side of the training-step table in BENCHMARKS.md: the same shapes as
`cargo bench --workspace --bench train_step` (star-train/benches/train_step.rs), eager mode, on
the CPU, with as many threads as the Rust side uses (default 2; `--threads N`).

Not part of CI. Set-up (a venv, pip only):

    python3 -m venv ~/.cache/star/venv-peers
    ~/.cache/star/venv-peers/bin/pip install torch transformers
    ~/.cache/star/venv-peers/bin/python scripts/peers/train_step_torch.py

Parts (the median of `--steps` whole optimiser steps after 3 warm-up steps):
- student-lm: transformers' LlamaForCausalLM, width 96, 2 blocks, 4/2 heads, SwiGLU 288, tied
  embeddings, vocabulary 4000, batches of 16 x 80 random tokens, AdamW (lr 1e-3, wd 0.01);
- sasrec: a SASRec of RecBole's shape (dim 64, 2 blocks, 1 head, max_len 50, pre-norm as ours),
  128 sequences of a 1682-item catalogue, Adam; with one negative per position and BCE (the
  paper's loss), and with the softmax cross-entropy over every item (RecBole's default, ours);
- lightgcn: LightGCN with a sparse normalised adjacency (torch.sparse.mm, as RecBole does),
  dim 64, 3 layers, 8192 BPR triples, 943 users, 1682 items, 101 928 random edges (as many as the Rust side's synthetic graph), Adam.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def median_secs(steps, step):
    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def student_lm(steps):
    from transformers import LlamaConfig, LlamaForCausalLM

    b, t, vocab = 16, 80, 4000
    # the student's decoder shape (star-model's `DecoderConfig::student`)
    cfg = LlamaConfig(
        vocab_size=vocab, hidden_size=96, intermediate_size=288, tie_word_embeddings=True,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=4096,
    )
    model = LlamaForCausalLM(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    tokens = torch.randint(0, vocab, (b, t + 1))
    inp, tgt = tokens[:, :t], tokens[:, 1:]

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=inp).logits
        loss = F.cross_entropy(logits.reshape(-1, vocab), tgt.reshape(-1))
        loss.backward()
        opt.step()
        loss.item()

    s = median_secs(steps, step)
    print(f"student-lm   16 x 80 tokens, vocab {vocab}: {s * 1e3:7.1f} ms/step  {b * t / s:8.0f} tokens/s")


class SasRec(nn.Module):
    def __init__(self, items, dim=64, blocks=2, heads=1, max_len=50, dropout=0.2):
        super().__init__()
        self.item = nn.Embedding(items + 1, dim, padding_idx=0)
        self.pos = nn.Embedding(max_len, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, dim, dropout, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.max_len = max_len

    def forward(self, seq):
        l = seq.shape[1]
        x = self.drop(self.item(seq) + self.pos.weight[:l])
        mask = torch.triu(torch.ones(l, l, dtype=torch.bool), 1)
        return self.norm(self.enc(x, mask=mask, is_causal=True))


def sasrec(steps):
    b, l, items = 128, 50, 1682
    for loss_name in ["Bce", "Ce"]:
        torch.manual_seed(0)
        model = SasRec(items).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        inp = torch.randint(0, items + 1, (b, l))
        # no padding among the targets, as in the burn benchmark
        pos = torch.randint(1, items + 1, (b, l))
        neg = torch.randint(1, items + 1, (b, l))

        def step():
            opt.zero_grad(set_to_none=True)
            h = model(inp)
            m = (pos > 0).float()
            if loss_name == "Bce":
                ps = (h * model.item(pos)).sum(-1)
                ns = (h * model.item(neg)).sum(-1)
                loss = ((F.softplus(-ps) + F.softplus(ns)) * m).sum() / m.sum()
            else:
                # every item but the padding row, as RecBole's CE loss (and ours) scores them
                logits = h.reshape(b * l, -1) @ model.item.weight[1:].T
                nll = F.cross_entropy(logits, (pos - 1).reshape(-1), reduction="none")
                loss = (nll * m.reshape(-1)).sum() / m.sum()
            loss.backward()
            opt.step()
            loss.item()

        s = median_secs(steps, step)
        print(f"sasrec       128 x 50, {items} items, {loss_name}: {s * 1e3:7.1f} ms/step  {s * 8:8.2f} s/epoch (8 steps)")


def lightgcn(steps):
    nu, ni, e, n, dim = 943, 1682, 101_928, 8192, 64
    g = torch.Generator().manual_seed(3)
    u = torch.randint(0, nu, (e,), generator=g)
    i = torch.randint(0, ni, (e,), generator=g)
    du = torch.bincount(u, minlength=nu).clamp(min=1).float()
    di = torch.bincount(i, minlength=ni).clamp(min=1).float()
    w = 1.0 / torch.sqrt(du[u] * di[i])
    rows = torch.cat([u, nu + i])
    cols = torch.cat([nu + i, u])
    adj = torch.sparse_coo_tensor(torch.stack([rows, cols]), torch.cat([w, w]), (nu + ni, nu + ni)).coalesce()
    emb = nn.Embedding(nu + ni, dim)
    nn.init.normal_(emb.weight, std=0.1)
    opt = torch.optim.Adam(emb.parameters(), lr=5e-3)
    users = torch.randint(0, nu, (n,), generator=g)
    pos = torch.randint(0, ni, (n,), generator=g)
    neg = torch.randint(0, ni, (n,), generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        x = emb.weight
        acc = x
        for _ in range(3):
            x = torch.sparse.mm(adj, x)
            acc = acc + x
        final = acc / 4
        fu, fp, fn = final[users], final[nu + pos], final[nu + neg]
        loss = -F.logsigmoid((fu * fp).sum(-1) - (fu * fn).sum(-1)).mean()
        reg = (emb.weight[users].pow(2).sum() + emb.weight[nu + pos].pow(2).sum() + emb.weight[nu + neg].pow(2).sum()) / n
        loss = loss + 1e-4 * reg
        loss.backward()
        opt.step()
        loss.item()

    s = median_secs(steps, step)
    per_epoch = -(-e // n)
    print(f"lightgcn     8192 triples, {e} edges:  {s * 1e3:7.1f} ms/step  {s * per_epoch:8.2f} s/epoch ({per_epoch} steps)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("only", nargs="?", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, part in [("student-lm", student_lm), ("sasrec", sasrec), ("lightgcn", lightgcn)]:
        if a.only in name:
            part(a.steps)


if __name__ == "__main__":
    main()
