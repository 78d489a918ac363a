"""Measure `sugar align` on NW-UCLA cross-view tokens: accuracy and speed of both decodings.

Takes an aligned.h5 written by `sugar align` (rank decoding) from the same tokens, reloads its
model, and on the test split measures, with the same model and batch size:
  - rank, class only (--no-describe): top-1, top-5, seconds per sample;
  - rank + the winner's generated description;
  - generate (free greedy generation, class parsed from the braces, MiniLM closest-name rule);
plus the linear probe on the same tokens' pooled features (logistic regression), and prints a
table and three example descriptions. Also writes the figures as JSON (--json-out).

--latency N adds single-sample latency (batch 1, what `sugar predict` on one file pays) of rank
(class only) and generate on the first N test samples: batched decoding shares each step's
cost over the batch, so the two settings can rank the decodings differently.

    .venv/bin/sugar align tokens.h5 --priors priors.h5 ... -o aligned.h5
    .venv/bin/python bench/align_nwucla.py tokens.h5 aligned.h5 [--limit 96] [--json-out r.json]
    .venv/bin/python bench/align_nwucla.py tokens.h5 aligned-s0.h5 aligned-s1.h5 aligned-s2.h5

Several aligned files (one per `sugar align --seed S`) print mean +- std over them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import stratified_take  # noqa: E402


def linear_probe(ts, split: str) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    tr, te = ts.split_indices(split, "train"), ts.split_indices(split, "test")
    sc = StandardScaler().fit(ts.features[tr])
    clf = LogisticRegression(max_iter=2000, C=1.0).fit(sc.transform(ts.features[tr]), ts.labels[tr])
    return float((clf.predict(sc.transform(ts.features[te])) == ts.labels[te]).mean())


def _seed(path: str) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return int(f.attrs["seed"])


def load_avg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tokens")
    ap.add_argument("aligned", nargs="+", help="one aligned.h5 per seed: mean +- std over them")
    ap.add_argument("--limit", type=int, default=0, help="test samples to decode (0 = all)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--latency", type=int, default=0, help="also time N samples at batch 1")
    ap.add_argument("--json-out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    from sugar_core.tokenize.store import read_tokens

    ts = read_tokens(args.tokens, weights=False)
    runs = [measure(args, ts, path) for path in args.aligned]
    if len(runs) > 1:
        summary(runs)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(runs if len(runs) > 1 else runs[0], fh, indent=2, default=str)


def summary(runs: list[dict]) -> None:
    """Mean +- sample std over the aligned files (one per seed) of every decode's figures."""
    print(f"\nover {len(runs)} aligned files (seeds {[r['seed'] for r in runs]}):")
    probe = [r["linear_probe_top1"] for r in runs]
    print(f"linear probe top-1 {np.mean(probe):.3f} +- {np.std(probe, ddof=1):.3f}")
    for name in ("rank_class_only", "rank_with_description", "generate"):
        for key in ("top1", "top5"):
            v = [r[name][key] for r in runs]
            print(f"{name:<24}{key:>5} {np.mean(v):.3f} +- {np.std(v, ddof=1):.3f}")


def measure(args, ts, aligned: str) -> dict:
    """Every decode of one aligned file on the test part; the figures as a dict."""
    from sugar_core.align.inference import predict
    from sugar_core.align.store import load_aligned
    from sugar_core.evaluate.metrics import compute_metrics
    from sugar_core.predictions import read_predictions
    from sugar_core.priors.encoders import load_text_encoder

    print(f"\n== {aligned}", flush=True)
    stored, _ = read_predictions(aligned)
    split = stored.metrics["split"]
    out = {"split": split, "linear_probe_top1": linear_probe(ts, split), "cli": stored.metrics,
           "aligned": aligned, "seed": _seed(aligned)}  # fmt: skip
    model = load_aligned(aligned, device="cpu")
    test = ts.split_indices(split, "test")
    if args.limit:  # a class-stratified seeded draw, not the first N in file order
        test = stratified_take(test, ts.labels[test], args.limit, np.random.default_rng(0))
    seqs, labels = [ts.tokens[i] for i in test], ts.labels[test]
    cand = np.array([ts.class_names.index(n) for n in model.class_names])
    embed = load_text_encoder("minilm").encode

    def run(name, n=0, batch_size=args.batch_size, **kw):
        n = n or len(seqs)
        print(f"[{name}] load {load_avg()}", flush=True)
        t0 = time.perf_counter()
        d = predict(model, seqs[:n], model.class_names, batch_size=batch_size,
                    max_new_tokens=args.max_new_tokens, **kw)  # fmt: skip
        sec = time.perf_counter() - t0
        to_class = lambda a: np.where(a >= 0, cand[np.clip(a, 0, None)], -1)  # noqa: E731
        m = compute_metrics(labels[:n], to_class(d.pred), to_class(d.top5), ts.class_names,
                            raw_text=d.raw_text, candidates=cand)  # fmt: skip
        row = dict(top1=m["top1"], top5=m["top5"], off_list_rate=m["off_list_rate"],
                   seconds_per_sample=sec / n, n=n, batch_size=batch_size, load_after=load_avg(),
                   rules={h: d.how.count(h) for h in sorted(set(d.how))})  # fmt: skip
        out[name] = row
        print(f"[{name}] {json.dumps(row)}", flush=True)
        return d

    run("rank_class_only", decode="rank", describe=False)
    ranked = run("rank_with_description", decode="rank", describe=True)
    gen = run("generate", decode="generate", embed_fn=embed)
    names = ["rank_class_only", "rank_with_description", "generate"]
    if args.latency:
        n1 = min(args.latency, len(seqs))
        run("rank_class_only_batch1", n=n1, batch_size=1, decode="rank", describe=False)
        run("generate_batch1", n=n1, batch_size=1, decode="generate", embed_fn=embed)
        names += ["rank_class_only_batch1", "generate_batch1"]
    out["examples"] = [
        dict(sample=ts.sample_ids[test[i]], true=ts.class_names[labels[i]],
             rank=ranked.raw_text[i], generate=gen.raw_text[i])
        for i in np.linspace(0, len(seqs) - 1, 3).astype(int)
    ]  # fmt: skip
    out["peak_rss_mib_bench"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r, g = out["rank_class_only"], out["generate"]
    print(f"\nlinear probe top-1 {out['linear_probe_top1']:.3f}")
    print(f"{'decode':<24}{'n':>5}{'batch':>6}{'top1':>7}{'top5':>7}{'off-list':>9}"
          f"{'s/sample':>10}")  # fmt: skip
    for name in names:
        x = out[name]
        print(f"{name:<24}{x['n']:>5}{x['batch_size']:>6}{x['top1']:>7.3f}{x['top5']:>7.3f}"
              f"{x['off_list_rate']:>9.3f}{x['seconds_per_sample']:>10.3f}")  # fmt: skip
    print(f"rank (class only) is {g['seconds_per_sample'] / r['seconds_per_sample']:.1f}x "
          f"faster per sample than generate at batch {args.batch_size}")  # fmt: skip
    if args.latency:
        r1, g1 = out["rank_class_only_batch1"], out["generate_batch1"]
        print(f"rank (class only) is {g1['seconds_per_sample'] / r1['seconds_per_sample']:.1f}x "
              "faster per sample than generate at batch 1")  # fmt: skip
    for e in out["examples"]:
        print(f"- {e['sample']} ({e['true']}): rank {e['rank']!r} | generate {e['generate']!r}")
    return out


if __name__ == "__main__":
    main()
