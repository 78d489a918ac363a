"""Zero-shot on real data: NW-UCLA ru2 / ru5 (PURLS), MSR Action3D msr-r5-s0 (15 seen, 5 unseen).

    .venv/bin/python bench/zeroshot.py [--epochs 15] [--align-epochs 1] [--align-per-class 32]
        [--generate] [--splits nw-ucla-ru2 nw-ucla-ru5 msr-r5-s0] [--seeds 0,1,2]
        [--workdir /tmp/sugar-zs]
    .venv/bin/python bench/zeroshot.py --report --workdir /tmp/sugar-zs   # table of stored runs
    # issue 15's options, chosen on 3 pseudo-unseen classes held out of both stages:
    .venv/bin/python bench/zeroshot.py --splits msr-r5-s0 --pseudo-unseen 3 --fuse z \
        --calibration auto --list-sampling --knowledge description --prompt list-first \
        --rank-text auto --conse --tag knowledge
    .venv/bin/python bench/zeroshot.py --align-set bridge.anchor=fitted --tag anchor  # anchor token

Pipeline as a user runs it: `sugar data import` (NW-UCLA cross-view split xview, MSR cross-subject
split xsub), `sugar priors --backend builtin` (MiniLM embeddings), then the zero-shot protocol
(``sugar_core.zeroshot.protocol.run_zeroshot``): the small encoder and the SmolLM2-135M
alignment trained on seen classes only, unseen-class samples of the test part scored by the
LLM (rank, and generate with --generate) and by the embedding baseline, against chance
(top-1 1/U, top-5 min(5, U)/U). Prints a markdown table on stdout; the workdir keeps each
split's seen-only tokens (reused by a rerun), its zeroshot file (`sugar eval zs-<split>.h5`)
and JSON of every figure.
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

from sugar_core.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import align_config, seed_list, spread  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SUGAR_SHARED_DATA", REPO.parent / "shared" / "data"))
SUGAR = [sys.executable, "-m", "sugar_cli.main"]
SOURCES = {  # dataset -> (raw folder, import format, data split)
    "nw-ucla": (DATA / "nw-ucla" / "all_sqe", "nw-ucla", "xview"),
    "msr": (DATA / "msr-action3d", "msr", "xsub"),
}


def _sugar(*args: str) -> None:
    r = subprocess.run([*SUGAR, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"sugar {' '.join(args)} failed:\n{r.stderr[-2000:]}")


def prepare(dataset: str, workdir: Path) -> tuple[Path, Path]:
    """data.h5 and priors.h5 of a dataset, made once with the sugar CLI."""
    raw, fmt, _ = SOURCES[dataset]
    if not raw.exists():
        sys.exit(f"real data not present: {raw}")
    data, priors = workdir / f"{dataset}.h5", workdir / f"{dataset}-priors.h5"
    if not data.exists():
        _sugar("data", "import", str(raw), "--format", fmt, "-o", str(data))
    if not priors.exists():
        _sugar("priors", "--classes-from", str(data), "--backend", "builtin", "-o", str(priors))
    return data, priors


def _progress(name: str):
    state = {"t0": time.perf_counter(), "phase": None}

    def cb(ev: dict) -> None:
        phase = ev.get("phase", ev.get("stage"))  # sugar_core.events, relayed by the protocol
        if phase != state["phase"]:
            state["phase"] = phase
            print(f"[{name}] {phase} ...", file=sys.stderr, flush=True)
        took = time.perf_counter() - state["t0"]
        done, total = ev.get("done"), ev.get("total")
        if ev.get("event") == "progress" and total and (done % 25 == 0 or done == total):
            loss = f" loss {ev['loss']:.3f}" if "loss" in ev else ""
            print(f"[{name}]   {phase} {done}/{total}{loss} {took:.0f}s",
                  file=sys.stderr, flush=True)  # fmt: skip
        if phase == "encoder" and ev.get("event") == "epoch":
            val = ev.get("val_text_top1")
            extra = f" seen-class val (text) {val:.3f}" if val is not None else ""
            line = f"[{name}]   epoch {ev['epoch']} loss {ev['loss']:.3f}{extra} {took:.0f}s"
            print(line, file=sys.stderr, flush=True)

    return cb


def run_split(name: str, args, workdir: Path) -> dict:
    from sugar_core.priors.store import read_priors
    from sugar_core.schema import sha256
    from sugar_core.skeleton.dataset import read_skeletons
    from sugar_core.tokenize.config import TokenizeConfig
    from sugar_core.tokenize.store import read_tokens, write_tokens
    from sugar_core.zeroshot.config import ZeroShotConfig
    from sugar_core.zeroshot.protocol import run_zeroshot
    from sugar_core.zeroshot.seen import train_seen_tokens
    from sugar_core.zeroshot.splits import SPLITS
    from sugar_core.zeroshot.store import write_zeroshot

    split = SPLITS[name]
    data_path, priors_path = prepare(split.dataset, workdir)
    data, priors = read_skeletons(data_path), read_priors(priors_path)
    enc_split, held = _encoder_split(split, data, args)
    cfg = ZeroShotConfig(
        split=SOURCES[split.dataset][2],
        decodes=("rank", "generate") if args.generate else ("rank",),
        align_per_class=args.align_per_class,
        tokenize=TokenizeConfig(
            preset="small", epochs=args.epochs, seed=args.seed, probe="none", eval_every=5
        ),
        align=_align_config(args),
        pseudo_unseen=args.pseudo_unseen, calibration=args.calibration, fuse=args.fuse,
        rank_text=args.rank_text, conse=args.conse,
    )  # fmt: skip
    t0 = time.perf_counter()
    # stage 1 is kept on disk, so a rerun (other LLM settings) does not retrain the encoder
    # (held out of the encoder too with --pseudo-unseen: the split's unseen + the held classes)
    tok_path = workdir / f"tokens-{name}-e{args.epochs}-s{args.seed}-p{len(held)}.h5"
    if tok_path.exists():
        tokens = read_tokens(tok_path)
    else:
        tokens = train_seen_tokens(data, priors, enc_split, cfg, callback=_progress(name),
                                   priors_sha256=sha256(priors_path))  # fmt: skip
        write_tokens(tokens, tok_path, config=cfg.tokenize.to_dict(), seed=args.seed)
    result = run_zeroshot(data, priors, split, cfg, tokens=tokens, callback=_progress(name),
                          reused_from={"tokens": str(tok_path)})  # fmt: skip
    tag = f"{name}-s{args.seed}" + (f"-{args.tag}" if args.tag else "")
    write_zeroshot(result, workdir / f"zs-{tag}.h5", config=cfg.to_dict(), seed=args.seed)
    m = result.metrics
    enc_s = sum(h.get("seconds", 0.0) for h in result.tokens.history)
    align_s = sum(h.get("seconds", 0.0) for h in result.model.history)
    out = {
        "split": name, "protocol": m["protocol"], "data_split": m["split"],
        "eval_part": m["eval_part"], "unseen": m["unseen"], "n": m["n"], "llm": m["llm"],
        "baseline": m["baseline"], "chance": m["chance"], "encoder_seconds": enc_s,
        "fused": m.get("fused"), "conse": m.get("conse"), "pseudo_unseen": m.get("pseudo_unseen"),
        "scored": m["scored"], "tag": args.tag,
        "align_seconds": align_s, "total_seconds": time.perf_counter() - t0,
        "encoder_history": result.tokens.history[-1:], "load": os.getloadavg(),
        "config": {"encoder_epochs": args.epochs, "align_epochs": cfg.align.epochs,
                   "seed": args.seed, "threads": args.threads, "precision": args.precision,
                   "max_description_tokens": args.max_description_tokens,
                   "align_per_class": args.align_per_class,
                   "options": {k: getattr(args, k) for k in OPTIONS}},
    }  # fmt: skip
    (workdir / f"zeroshot-{tag}.json").write_text(json.dumps(out, indent=2, default=float))
    return out


def _align_config(args):
    """The alignment's settings: the flags above, then each --align-set KEY=VALUE (dotted keys
    for nested settings, ``bridge.anchor=fitted``), checked as ``sugar zeroshot --set`` is."""
    base = {"epochs": args.align_epochs, "seed": args.seed, "precision": args.precision,
            "llm": {"max_description_tokens": args.max_description_tokens,
                    "knowledge": args.knowledge, "prompt": args.prompt},
            "list_sampling": args.list_sampling}  # fmt: skip
    return align_config(base, args.align_set)


OPTIONS = ("pseudo_unseen", "fuse", "calibration", "rank_text", "list_sampling", "knowledge",
           "prompt", "conse", "align_set")  # fmt: skip


def _encoder_split(split, data, args):
    """(the split the encoder trains against, the pseudo-unseen class ids held out): with
    --pseudo-unseen the held classes join the unseen ones, as run_zeroshot holds them out."""
    from dataclasses import replace

    from sugar_core.zeroshot.plan import plan_classes
    from sugar_core.zeroshot.pseudo import pick

    held = pick(plan_classes(split, data.class_names).seen, args.pseudo_unseen, args.pseudo_seed)
    if not held:
        return split, held
    return replace(split, unseen=tuple(sorted(split.unseen + tuple(held)))), held


def table(rows: list[dict]) -> str:
    """One line per split: mean +- std over the seeds present in ``rows``."""
    lines = [
        "| split | run | unseen (U) | n | seeds | LLM rank top-1 / top-5 | baseline top-1 / top-5 "
        "| fused top-1 (w) | ConSE top-1 | pseudo-unseen val top-1 LLM / base / fused | chance "
        "top-1 / top-5 | train enc + align (s, mean) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in dict.fromkeys((r["split"], r.get("tag") or "") for r in rows):
        name = key[0]
        mine = [r for r in rows if (r["split"], r.get("tag") or "") == key]
        r0, seeds = mine[0], ",".join(str(r["config"]["seed"]) for r in mine)
        llm = [r["llm"]["rank"] for r in mine]
        gens = [r["llm"]["generate"]["top1"] for r in mine if r["llm"].get("generate")]
        gen_txt = f" (generate top-1 {spread(gens)})" if gens else ""
        base, c = [r["baseline"] for r in mine], r0["chance"]
        enc = np.mean([r["encoder_seconds"] for r in mine])
        ali = np.mean([r["align_seconds"] for r in mine])
        lines.append(
            f"| {name} | {key[1] or 'default'} | {len(r0['unseen'])} | {r0['n']} | {seeds} | "
            f"{spread([x['top1'] for x in llm])} / {spread([x['top5'] for x in llm])}{gen_txt} | "
            f"{spread([x['top1'] for x in base])} / {spread([x['top5'] for x in base])} | "
            f"{_extras(mine)} | "
            f"{100 * c['top1']:.1f} / {100 * c['top5']:.1f} | {enc:.0f} + {ali:.0f} |"
        )
    return "\n".join(lines)


def _extras(mine: list[dict]) -> str:
    """Fused (weight), ConSE and the pseudo-unseen validation cells of a table row."""
    f = [r["fused"] for r in mine if r.get("fused")]
    fused = f"{spread([x['top1'] for x in f])} ({f[0]['weight']:.1f})" if f else "-"
    c = [r["conse"]["top1"] for r in mine if r.get("conse")]
    v = [r["pseudo_unseen"] for r in mine if r.get("pseudo_unseen")]
    val = "-"
    if v:
        cells = [[x.get(k) for x in v] for k in ("val_llm_top1", "val_baseline_top1")]
        fv = [x["val_fused_top1"] for x in v if "val_fused_top1" in x]
        val = " / ".join([spread(c_) for c_ in cells] + [spread(fv) if fv else "-"])
        val += f" ({v[0]['calibration']}, {v[0]['rank_text']})"
    return f"{fused} | {spread(c) if c else '-'} | {val}"


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--splits", nargs="+", default=["nw-ucla-ru2", "nw-ucla-ru5", "msr-r5-s0"])
    p.add_argument("--epochs", type=int, default=15, help="encoder epochs")
    p.add_argument("--align-epochs", type=int, default=1)
    p.add_argument("--generate", action="store_true", help="also score generate decoding")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="alignment")
    p.add_argument("--max-description-tokens", type=int, default=8, help="training answers")
    p.add_argument("--align-per-class", type=int, default=32, help="alignment samples per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", default=None, help="comma-separated seeds, e.g. 0,1,2")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "sugar-zs"
    )
    p.add_argument("--report", action="store_true", help="only print the table of stored runs")
    p.add_argument("--tag", default="", help="name of this run's options in files and table")
    p.add_argument("--pseudo-unseen", type=int, default=0, help="seen classes held out to choose")
    p.add_argument("--pseudo-seed", type=int, default=0)
    p.add_argument("--fuse", default="off", choices=["off", "z", "softmax"])
    p.add_argument(
        "--calibration", default="", help="'' (reference, else the alignment's own), auto or a kind"
    )
    p.add_argument("--rank-text", default="", help="'' (the alignment's), auto, name, answer")
    p.add_argument("--list-sampling", action="store_true")
    p.add_argument("--knowledge", default="none")
    p.add_argument("--prompt", default="paper")
    p.add_argument("--conse", action="store_true")
    p.add_argument(
        "--align-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an alignment setting, repeatable: --align-set bridge.anchor=fitted",
    )
    args = p.parse_args(argv)
    try:
        _align_config(args)  # a bad --align-set stops here, before any work
    except ConfigError as e:
        p.error(str(e))
    seeds = seed_list(args.seeds) if args.seeds else [args.seed]
    if args.report:
        tags = [t for t in args.tag.split(",")] if args.tag else [""]
        files = [f"zeroshot-{n}-s{seed}" + (f"-{t}" if t else "") + ".json"
                 for n in args.splits for t in tags for seed in seeds]  # fmt: skip
        rows = [json.loads((args.workdir / f).read_text()) for f in files]
        print(table(rows))
        for r in rows:
            print(f"{r['split']}: {r['config']}, load at its end {r['load'][0]:.1f}")
        return

    import torch

    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.splits:
        for seed in seeds:
            args.seed = seed
            rows.append(run_split(name, args, args.workdir))
            print(table(rows[-1:]), file=sys.stderr, flush=True)
    print(table(rows))
    la = os.getloadavg()
    print(f"\nseeds {seeds}; encoder small preset, {args.epochs} epochs; SmolLM2-135M, "
          f"{args.align_epochs} align "
          f"epoch(s) on <= {args.align_per_class} samples per seen class, {args.precision}, "
          f"answers cut to {args.max_description_tokens} description "
          f"tokens; --align-set {' '.join(args.align_set) or '(none)'} (over the flags); "
          f"torch threads {args.threads}; load average at the end "
          f"{la[0]:.1f} / {la[1]:.1f} / {la[2]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
