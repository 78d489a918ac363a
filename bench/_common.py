"""Shared helpers of the tokenize benchmarks: real data and priors, with fallbacks.

Data: ``sugar_core.skeleton.io.read_dataset`` when it exists, else a minimal reader here.
Priors: ``sugar priors --backend builtin`` when the builtin texts and encoders exist, else
the class names embedded with MiniLM (mean pooling) as the only text of each class.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SUGAR_SHARED_DATA", REPO.parent / "shared" / "data"))
MSR_BAD = {
    "a02_s03_e02", "a04_s03_e01", "a07_s04_e01", "a13_s09_e01", "a13_s09_e02",
    "a13_s09_e03", "a14_s03_e01", "a20_s07_e01", "a20_s07_e03", "a20_s10_e03",
}  # fmt: skip


def load_ucla():
    from sugar_core.skeleton import classes
    from sugar_core.skeleton.dataset import Sample, SkeletonSet

    folder = DATA / "nw-ucla" / "all_sqe"
    try:
        from sugar_core.skeleton.io import read_dataset

        return read_dataset(folder, "nw-ucla"), "sugar_core.skeleton.io"
    except Exception as exc:  # reader absent or different: use the local one
        print(
            f"[data] read_dataset unavailable ({exc.__class__.__name__}); local reader",
            file=sys.stderr,
        )
    samples, split = [], []
    for path in sorted(folder.glob("*.json")):
        d = json.loads(path.read_text())
        j = np.asarray(d["skeletons"], dtype=np.float32)[None]  # (1, T, 20, 3)
        name = d["file_name"]
        view = int(name.split("_v")[1][:2])
        samples.append(Sample(j, int(d["label"]) - 1, name, {"view": view}))
        split.append(0 if view == 3 else 1)
    splits = {"xview": np.array(split, dtype=np.int8)}
    return SkeletonSet(samples, list(classes.NW_UCLA), "kinect20", splits, "bench"), "bench"


def load_msr():
    from sugar_core.skeleton import classes
    from sugar_core.skeleton.dataset import Sample, SkeletonSet

    folder = DATA / "msr-action3d"
    try:
        from sugar_core.skeleton.io import read_dataset

        return read_dataset(folder, "msr"), "sugar_core.skeleton.io"
    except Exception as exc:
        print(
            f"[data] read_dataset unavailable ({exc.__class__.__name__}); local reader",
            file=sys.stderr,
        )
    samples, split = [], []
    for path in sorted(folder.glob("a*_s*_e*_skeleton3D.txt")):
        stem = path.name[:11]
        if stem in MSR_BAD:
            continue
        vals = np.loadtxt(path, dtype=np.float32).reshape(-1, 20, 4)[:, :, :3]
        vals = vals[np.abs(vals).sum((1, 2)) > 0]
        subject = int(stem[5:7])
        samples.append(Sample(vals[None].copy(), int(stem[1:3]) - 1, stem, {"subject": subject}))
        split.append(subject % 2)
    splits = {"xsub": np.array(split, dtype=np.int8)}
    return SkeletonSet(samples, list(classes.MSR), "msr20", splits, "bench"), "bench"


def load_priors(class_list: str, names: list[str], workdir: Path):
    """(Priors, how) for a named class list."""
    from sugar_core.priors.store import Priors, read_priors

    out = workdir / f"priors-{class_list}.h5"
    if out.exists():
        return read_priors(out), "cached " + str(out)
    builtin = REPO / "sugar_core" / "priors" / "builtin"
    if (REPO / "sugar_core" / "priors" / "encoders.py").exists() and builtin.is_dir():
        cmd = [
            sys.executable,
            "-m",
            "sugar_cli.main",
            "priors",
            "--classes-list",
            class_list,
            "--backend",
            "builtin",
            "-o",
            str(out),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode == 0:
            return read_priors(out), "sugar priors --backend builtin"
        print(f"[priors] builtin backend failed: {r.stderr.strip()[-300:]}", file=sys.stderr)
    import torch
    from transformers import AutoModel, AutoTokenizer

    from sugar_core.models import minilm_path

    path = minilm_path()
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        enc = tok(names, padding=True, return_tensors="pt")
        h = model(**enc).last_hidden_state
        m = enc["attention_mask"][..., None].float()
        e = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1).numpy()
    k = len(names)
    pri = Priors(
        class_names=list(names),
        texts=np.array(names, dtype=object)[:, None],
        text_kinds=["motion"],
        embeddings=e[:, None].astype(np.float32),
        mask=np.ones((k, 1), bool),
        descriptions=list(names),
        encoder_id="minilm-class-names",
    )
    return pri, "fallback: MiniLM embedding of the class names"


def machine_load() -> str:
    return "loadavg " + " ".join(f"{x:.2f}" for x in os.getloadavg())


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *a):
        self.seconds = time.perf_counter() - self.t0


def stratified_take(rows: np.ndarray, labels: np.ndarray, n: int, rng) -> np.ndarray:
    """About ``n`` of ``rows``, the same share of every class (at least one each), seeded."""
    share = min(1.0, n / max(1, len(rows)))
    keep = [rng.permutation(rows[labels == c])[: max(1, round(share * (labels == c).sum()))]
            for c in np.unique(labels)]  # fmt: skip
    return np.sort(np.concatenate(keep))


def seed_list(text: str, flag: str = "--seeds") -> list[int]:
    """``0,1,2`` as [0, 1, 2]; a usage error naming ``flag`` otherwise."""
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise SystemExit(f"{flag} {text!r}: expected whole numbers, e.g. 0,1,2")
    return seeds


def spread(values, percent: bool = True, digits: int = 1) -> str:
    """Mean +- sample std over seeds (None skipped; one seed said plainly; none: "-")."""
    v = [100.0 * x if percent else x for x in values if x is not None]
    if not v:
        return "-"
    if len(v) == 1:
        return f"{v[0]:.{digits}f} (1 seed)"
    return f"{np.mean(v):.{digits}f} +- {np.std(v, ddof=1):.{digits}f}"


def _number_or_text(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def key_values(pairs: list[str], flag: str) -> dict:
    """``KEY=VALUE`` strings (the repeatable option ``flag``) as a dict, numbers parsed."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"{flag} {pair!r}: expected KEY=VALUE")
        out[key] = _number_or_text(value)
    return out


def align_config(base: dict, items: list[str] | tuple[str, ...]):
    """The AlignConfig of settings dict ``base`` with the ``KEY=VALUE`` items of --align-set on
    top (dotted keys for nested settings: ``bridge.anchor=fitted``), checked as ``--set`` is
    (a ConfigError names --align-set)."""
    from sugar_core import settings
    from sugar_core.align.config import AlignConfig

    cfg = settings.build(AlignConfig, settings.apply_sets(base, list(items)), "--align-set")
    cfg.check()
    return cfg
