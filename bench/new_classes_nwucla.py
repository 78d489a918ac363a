"""Naming actions never trained on, from descriptions given at prediction time (NW-UCLA).

    .venv/bin/python bench/new_classes_nwucla.py [--held-out "pick up with two hands,sit down"]
        [--epochs 15] [--align-epochs auto] [--align-per-class 32] [--seeds 0,1,2]
        [--calibrations none,reference] [--priors-backend builtin|hf]
        [--workdir /tmp/sugar-new-classes]

What a user does, with the sugar CLI:
1. `sugar data import` (NW-UCLA, cross-view split xview) and `sugar priors --backend builtin`;
2. train without the held-out classes: the zero-shot protocol (what `sugar zeroshot ...
   --unseen-split held.txt --save-tokens --save-aligned` runs) trains the encoder and the
   alignment on the other classes only (their samples, names and priors) and keeps both;
3. the held-out classes' test-part samples go to one .npz, and `sugar predict --model
   aligned.h5 --class "name: description" ... --json` names them: once with the held-out
   classes beside the trained ones (the default) and once with them alone (--only-new), each
   with every rank-score correction of ``--calibrations`` (`sugar predict --calibration`).
Steps 2-3 run once per seed of ``--seeds`` (encoder, alignment and reference draw seeded;
each seed's files are kept in the workdir, so a rerun resumes). Prints top-1 over those
samples for the LLM (rank) and the embedding baseline against chance (under calibration
reference the baseline subtracts each class's mean cosine over the model's reference samples,
as `sugar predict` does), and how often each answered a new class, mean +- sample std over
the seeds, the zero-shot protocol's own figures on the same samples as a cross-check, and
writes ``new-classes.json`` (every seed's rows and the means) and ``new-classes.png`` (bars:
mean top-1 per scorer, the seeds' spread as error bars, chance dashed) to the workdir. The
held-out classes' descriptions below are this script's, written for it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import seed_list, spread  # noqa: E402

DATA = Path(os.environ.get("SUGAR_SHARED_DATA", REPO.parent / "shared" / "data"))
SUGAR = [sys.executable, "-m", "sugar_cli.main"]
DESCRIPTIONS = {  # what a user might type for each NW-UCLA class
    "pick up with one hand": "a person bends down and lifts a small object with one hand",
    "pick up with two hands": "a person bends down and lifts a box with both hands",
    "drop trash": "a person walks to a bin and drops something into it",
    "walk around": "a person walks around in a circle",
    "sit down": "a person lowers the hips onto a chair and stays seated",
    "stand up": "a seated person rises to standing",
    "donning": "a person puts on a jacket, pushing the arms into the sleeves",
    "doffing": "a person takes off a jacket, pulling the arms out of the sleeves",
    "throw": "a person swings one arm forward and releases an object",
    "carry": "a person walks while holding an object with both arms",
}


def _sugar(*args, capture: bool = False) -> str:
    t0 = time.perf_counter()
    r = subprocess.run([*SUGAR, *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"sugar {' '.join(map(str, args))} failed:\n{r.stderr[-3000:]}")
    print(f"[bench] sugar {args[0]} {time.perf_counter() - t0:.0f} s "
          f"(load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)  # fmt: skip
    return r.stdout if capture else ""


def prepare(workdir: Path) -> tuple[Path, Path]:
    """ucla.h5 and priors.h5, made once."""
    raw = DATA / "nw-ucla" / "all_sqe"
    if not raw.exists():
        sys.exit(f"real data not present: {raw}")
    data, priors = workdir / "ucla.h5", workdir / "ucla-priors.h5"
    if not data.exists():
        _sugar("data", "import", raw, "--format", "nw-ucla", "-o", data)
    if not priors.exists():
        _sugar("priors", "--classes-from", data, "--backend", "builtin", "-o", priors)
    return data, priors


def train_without(data: Path, priors: Path, held: list[str], args, seed: int) -> dict:
    """tokens and aligned files trained without the ``held`` classes: the zero-shot protocol
    of `sugar zeroshot` (seen-only encoder and alignment, then the held-out classes scored),
    its two trained stages written as `--save-tokens` / `--save-aligned` would, less the
    seen-class predictions stored beside the alignment (an LLM pass over every seen test
    sample, which this benchmark does not need)."""
    from sugar_core.align.config import AlignConfig
    from sugar_core.align.store import save_aligned
    from sugar_core.priors.store import read_priors
    from sugar_core.schema import input_record, sha256
    from sugar_core.skeleton.dataset import read_skeletons
    from sugar_core.tokenize.config import TokenizeConfig
    from sugar_core.tokenize.store import write_tokens
    from sugar_core.zeroshot.config import ZeroShotConfig
    from sugar_core.zeroshot.protocol import run_zeroshot
    from sugar_core.zeroshot.splits import resolve_split

    workdir = args.workdir
    tag = f"e{args.epochs}-a{args.align_epochs}-p{args.align_per_class}-s{seed}"
    out = {k: workdir / f"{k}-{tag}.h5" for k in ("tokens", "aligned")}
    summary = workdir / f"zs-{tag}.json"
    if all(p.exists() for p in (*out.values(), summary)):
        return {**out, "zs_json": json.loads(summary.read_text())}
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    ds, pr = read_skeletons(data), read_priors(priors)
    (workdir / "held.txt").write_text("\n".join(held) + "\n")
    split = resolve_split(str(workdir / "held.txt"), ds.class_names)
    cfg = ZeroShotConfig(
        split="xview", decodes=("rank",), align_per_class=args.align_per_class,
        tokenize=TokenizeConfig(preset="small", epochs=args.epochs, seed=seed, probe="none"),
        align=AlignConfig(epochs=args.align_epochs, seed=seed),
    )  # fmt: skip
    t0 = time.perf_counter()
    result = run_zeroshot(ds, pr, split, cfg, priors_sha256=sha256(priors))
    write_tokens(result.tokens, out["tokens"], config=cfg.tokenize.to_dict(), seed=seed,
                 inputs=input_record([data, priors]))  # fmt: skip
    save_aligned(out["aligned"], result.model, result.predictions, config=cfg.align.to_dict(),
                 inputs=input_record([out["tokens"], priors]))  # fmt: skip
    m = result.metrics
    zs = {"llm": m["llm"], "baseline": m["baseline"], "n": m["n"], "unseen": m["unseen"],
          "seconds": time.perf_counter() - t0, "load": os.getloadavg()}  # fmt: skip
    summary.write_text(json.dumps(zs, indent=2, default=float))
    print(f"[bench] seed {seed}: trained without {held} in {zs['seconds']:.0f} s "
          f"(load {zs['load'][0]:.1f})", file=sys.stderr, flush=True)  # fmt: skip
    return {**out, "zs_json": zs}


def held_samples(data: Path, held: list[str], workdir: Path) -> tuple[Path, list[str]]:
    """The held-out classes' xview test-part samples as one .npz, and their true names."""
    from sugar_core.skeleton.dataset import read_skeletons
    from sugar_core.skeleton.export import write_numpy

    ds = read_skeletons(data)
    ids = [ds.class_names.index(n) for n in held]
    idx = np.flatnonzero(np.isin(ds.labels, ids) & (ds.splits["xview"] == 0))
    path = write_numpy(ds.subset(idx.tolist()), workdir / "held-test.npz")
    return path, [ds.class_names[ds.labels[i]] for i in idx]


def name_them(model: dict, npz: Path, truth, held: list[str], args, only_new: bool, cal: str):
    """top-1 of the LLM (rank scores corrected as ``cal``) and of the embedding baseline over
    the held-out samples."""
    classes = []
    for n in held:
        classes += ["--class", f"{n}: {DESCRIPTIONS[n]}"]
    extra = ["--calibration", cal] + (["--only-new"] if only_new else [])
    if args.priors_backend:
        extra += ["--priors-backend", args.priors_backend]
    t0 = time.perf_counter()
    stdout = _sugar("predict", "--model", model["aligned"], "--tokens", model["tokens"], npz,
                    *classes, *extra, "--json", "--no-describe", capture=True)  # fmt: skip
    answers = json.loads(stdout)
    assert len(answers) == len(truth), f"{len(answers)} answers for {len(truth)} samples"
    llm = float(np.mean([a["class"] == t for a, t in zip(answers, truth)]))
    base = float(np.mean([a["baseline"]["class"] == t for a, t in zip(answers, truth)]))
    return {
        "candidates": "new only" if only_new else "trained + new",
        "calibration": cal,
        "llm_top1": llm,
        "baseline_top1": base,
        "chance_top1": 1.0 / (len(held) if only_new else len(DESCRIPTIONS)),
        "answered_new": float(np.mean([a["new"] for a in answers])),
        "baseline_answered_new": float(np.mean([a["baseline"]["new"] for a in answers])),
        "baseline_calibration": answers[0]["baseline"].get("calibration", "none"),
        "notes": answers[0]["notes"],
        "seconds": time.perf_counter() - t0,
    }


def summarise(runs: list[dict]) -> list[dict]:
    """One row per (candidates, calibration): every figure's values over the seeds."""
    out: dict[tuple, dict] = {}
    for run in runs:
        for r in run["rows"]:
            row = out.setdefault((r["candidates"], r["calibration"]),
                                 {"candidates": r["candidates"], "calibration": r["calibration"],
                                  "chance_top1": r["chance_top1"], "seeds": []})  # fmt: skip
            row["seeds"].append(run["seed"])
            for key in ("llm_top1", "baseline_top1", "answered_new", "baseline_answered_new"):
                row.setdefault(key, []).append(r.get(key))  # runs before a key: None
    return list(out.values())


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 1.5, 3.8))
    x = np.arange(len(rows))
    for shift, key, label in ((-0.2, "llm_top1", "LLM (rank)"),
                              (0.2, "baseline_top1", "embedding baseline")):  # fmt: skip
        v = [r[key] for r in rows]
        err = [np.std(x_, ddof=1) if len(x_) > 1 else 0.0 for x_ in v]
        ax.bar(x + shift, [np.mean(x_) for x_ in v], 0.4, yerr=err, capsize=3, label=label)
    for i, r in enumerate(rows):
        ax.hlines(r["chance_top1"], i - 0.45, i + 0.45, colors="k", linestyles="dashed")
    ax.set_xticks(x, [f"{r['candidates']}\n{r['calibration']}" for r in rows])
    ax.set_ylabel("top-1 on held-out classes")
    ax.set_ylim(0, 1)
    ax.set_title(f"NW-UCLA: classes named from descriptions ({len(rows[0]['seeds'])} seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--held-out", default="pick up with two hands,sit down",
                    help="two (or more) NW-UCLA class names, comma-separated")  # fmt: skip
    ap.add_argument("--epochs", type=int, default=15, help="encoder epochs")
    ap.add_argument("--align-epochs", default="auto", type=lambda v: v if v == "auto" else int(v),
                    help="a number, or auto: the alignment's step floor")  # fmt: skip
    ap.add_argument("--calibrations", default="none,reference",
                    help="rank-score corrections to name the classes with")  # fmt: skip
    ap.add_argument("--align-per-class", type=int, default=32)
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds, e.g. 0,1,2")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--priors-backend", choices=("builtin", "hf", "openai", "file"))
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/sugar-new-classes"))
    args = ap.parse_args()
    seeds = seed_list(args.seeds)
    held = [h.strip() for h in args.held_out.split(",") if h.strip()]
    unknown = [h for h in held if h not in DESCRIPTIONS]
    if len(held) < 2 or unknown:
        sys.exit(f"--held-out: two or more of {list(DESCRIPTIONS)} (unknown: {unknown})")
    args.workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data, priors = prepare(args.workdir)
    npz, truth = held_samples(data, held, args.workdir)
    cals = [c.strip() for c in args.calibrations.split(",") if c.strip()]
    runs = []
    for seed in seeds:
        model = train_without(data, priors, held, args, seed)
        zs = model["zs_json"]
        rows = [name_them(model, npz, truth, held, args, only, cal)
                for only in (False, True) for cal in cals]  # fmt: skip
        runs.append({"seed": seed, "rows": rows,
                     "zeroshot_protocol": {"llm_rank_top1": zs["llm"]["rank"]["top1"],
                                           "baseline_top1": zs["baseline"]["top1"],
                                           "n": zs["n"], "seconds": zs["seconds"]}})  # fmt: skip
    summary = summarise(runs)
    out = {
        "held_out": held, "n": len(truth), "seeds": seeds, "runs": runs, "summary": summary,
        "config": {k: v for k, v in vars(args).items() if k != "workdir"},
        "total_seconds": time.perf_counter() - t0, "load": os.getloadavg(),
    }  # fmt: skip
    (args.workdir / "new-classes.json").write_text(json.dumps(out, indent=2, default=str))
    plot(summary, args.workdir / "new-classes.png")
    report(out, args.workdir / "new-classes.png")


def report(out: dict, figure: Path) -> None:
    """The table: % top-1, mean +- sample std over the seeds."""
    print(f"held out: {', '.join(out['held_out'])}; {out['n']} test-part samples (xview); "
          f"seeds {out['seeds']}")  # fmt: skip
    print("| candidates | calibration | LLM top-1 | embedding top-1 | chance | answered new: "
          "LLM / embedding |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for r in out["summary"]:
        print(f"| {r['candidates']} | {r['calibration']} | {spread(r['llm_top1'])} | "
              f"{spread(r['baseline_top1'])} | {100 * r['chance_top1']:.1f} | "
              f"{spread(r['answered_new'])} / {spread(r['baseline_answered_new'])} |")  # fmt: skip
    zp = [run["zeroshot_protocol"] for run in out["runs"]]
    print(f"cross-check, sugar zeroshot on the same held-out classes (n {zp[0]['n']}): LLM "
          f"{spread([z['llm_rank_top1'] for z in zp])}, embedding "
          f"{spread([z['baseline_top1'] for z in zp])}")  # fmt: skip
    print(f"total {out['total_seconds']:.0f} s, load {out['load'][0]:.1f}; figure {figure}")


if __name__ == "__main__":
    main()
