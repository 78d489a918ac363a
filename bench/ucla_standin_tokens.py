"""STAND-IN NW-UCLA tokens for the align benchmarks, for use before `sugar tokenize` is ready.

Not the method's stage 1: a small temporal CNN (no graph, no text priors) on hip-aligned
joints (rotated about the vertical so the hips lie along x), trained with rotation
augmentation and cross-entropy on the cross-view train part (views 1 and 2) for a few epochs,
whose time axis is kept: each sample becomes Ls = 13 tokens of width D = 128 (52 resampled
frames, two stride-2 convolutions). Pooled features are the token mean. Also writes an NW-UCLA
priors file from the builtin texts (MiniLM embeddings), so `sugar align` has descriptions.

    .venv/bin/python bench/ucla_standin_tokens.py -o tokens.h5 --priors priors.h5

Reads ../shared/data/nw-ucla/all_sqe (research use; nothing is copied into the repo).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SUGAR_SHARED_DATA", REPO.parent / "shared" / "data"))
FRAMES = 52  # CTR-GCN's NW-UCLA length


def load_ucla() -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(x (N, T, 60) normalised, labels (N,), ids, split (N,) 1 train (v01, v02) / 0 test)."""
    xs, labels, ids, split = [], [], [], []
    for path in sorted((DATA / "nw-ucla" / "all_sqe").glob("*.json")):
        d = json.loads(path.read_text())
        j = np.asarray(d["skeletons"], dtype=np.float32)  # (T, V=20, C=3)
        j = j - j[:, 1:2].mean(0, keepdims=True)  # centre on the mean spine position
        hips = (j[:, 16] - j[:, 12]).mean(0)  # left hip -> right hip, (3,)
        a = np.arctan2(hips[2], hips[0])  # face the camera: hips along x
        c, s_ = np.cos(a), np.sin(a)
        j = j @ np.array([[c, 0, -s_], [0, 1, 0], [s_, 0, c]], dtype=np.float32)
        t = np.linspace(0, len(j) - 1, FRAMES)
        lo = np.floor(t).astype(int)
        hi = np.minimum(lo + 1, len(j) - 1)
        w = (t - lo)[:, None, None]
        j = j[lo] * (1 - w) + j[hi] * w  # (FRAMES, 20, 3)
        xs.append(j.reshape(FRAMES, -1))
        labels.append(int(d["label"]) - 1)
        ids.append(path.stem)
        split.append(0 if path.stem.endswith("_v03") else 1)
    x = np.stack(xs)
    x = (x / x[np.array(split) == 1].std()).astype(np.float32)
    return x, np.array(labels), ids, np.array(split, dtype=np.int8)


def augment(x: torch.Tensor) -> torch.Tensor:
    """Random rotation about the vertical (y) axis, +-60 degrees, and scale: (B, T, 60)."""
    B, T, _ = x.shape
    a = (torch.rand(B) * 2 - 1) * np.pi / 3
    c, s = torch.cos(a), torch.sin(a)
    rot = torch.zeros(B, 3, 3)
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, s, 1, -s, c
    j = x.view(B, T, 20, 3) @ rot.transpose(1, 2)[:, None]
    return (j * (1 + 0.1 * torch.randn(B, 1, 1, 1))).reshape(B, T, 60)


class TemporalCNN(nn.Module):
    def __init__(self, c_in: int = 60, width: int = 128, classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(c_in, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.BatchNorm1d(width), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(width, classes)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.transpose(1, 2)).transpose(1, 2)  # (B, Ls, D)

    def forward(self, x):
        return self.head(self.tokens(x).mean(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--priors", required=True, help="priors.h5 to write (builtin NW-UCLA texts)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    from sugar_core.priors.backends import BackendConfig
    from sugar_core.priors.build import PriorsConfig, build_priors
    from sugar_core.priors.store import write_priors
    from sugar_core.skeleton.classes import NW_UCLA
    from sugar_core.tokenize.store import TokenSet, write_tokens

    t0 = time.perf_counter()
    x, y, ids, split = load_ucla()
    tr = np.flatnonzero(split == 1)
    net = TemporalCNN()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    g = np.random.default_rng(args.seed)
    for _ in range(args.epochs):
        net.train()
        for b in np.array_split(g.permutation(tr), len(tr) // 32):
            loss = nn.functional.cross_entropy(net(augment(xt[b])), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        tok = net.tokens(xt)  # (N, 13, 128)
        acc = (net.head(tok.mean(1)).argmax(1) == yt)[split == 0].float().mean()
    print(f"stand-in encoder: {time.perf_counter() - t0:.0f}s, CE head test top-1 {acc:.3f}")
    feats = tok.mean(1).numpy()
    ts = TokenSet(
        tokens=[t.numpy().astype(np.float16) for t in tok],
        features=feats,
        projected=feats / np.linalg.norm(feats, axis=1, keepdims=True),
        labels=y,
        class_names=list(NW_UCLA),
        sample_ids=ids,
        splits={"xview": split},
        train_split="xview",
        encoder_config={"standin": "TemporalCNN(60->128, stride 4)", "epochs": args.epochs},
        layout="kinect20",
    )
    write_tokens(ts, args.output, config={"standin": True}, seed=args.seed)
    cfg = PriorsConfig(backend=BackendConfig(name="builtin", dataset="nw-ucla"))
    priors, _ = build_priors(list(NW_UCLA), cfg)
    write_priors(priors, args.priors, config=cfg.as_record())
    print(args.output, args.priors)


if __name__ == "__main__":
    main()
