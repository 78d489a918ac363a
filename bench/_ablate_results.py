"""The ablation's results file (``bench/ablate.py``) and its table.

One finished row is one JSON line, appended whole (one ``write`` on an ``O_APPEND`` file,
then ``fsync``); a line a killed run left incomplete is ignored on read, and the next append
starts on a new line. Rows are keyed ``dataset/axis/variant/s<seed>``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
from _ablate_plan import VARIANTS

# method.md, "Ablations (Toyota, overall accuracy)": another data set than the rows beside
# them, shown for the ranking only. The pool row has no number there (the token-count figure
# only says one pooled token is worst).
PAPER = {
    "tqp": 73.4, "qformer": 70.7, "linear": 70.4, "xattn": 52.1,
    "ce": 69.2, "visual": 69.4, "motion": 72.1, "both": 73.4,
}  # fmt: skip
FIGURES = (  # (row field, column head)
    ("probe", "probe"), ("text_prior", "text"), ("llm_top1", "llm"), ("llm_top5", "llm@5"),
    ("llm_mca", "llm mca"), ("answer_top1", "answer"), ("val_llm_top1", "val llm"),
    ("val_text_prior_top1", "val text"),
)  # fmt: skip
LEGEND = """\
figures: top-1 % on the test part, mean +- sample std over seeds (one seed: the value alone).
  probe / text = the encoder's linear probe / text-prior classifier (tokens history, test_*);
  llm / llm@5 / llm mca = the LLM's own rank top-1 / top-5 / mean class accuracy;
  answer = what the pipeline answers (the LLM, or the text prior where validation chose it);
  val llm / val text = the alignment's validation part (what it chose on; '-' where defaults
  hold out none, e.g. NW-UCLA's 1,020 training clips); min = stage times (tokens reused by
  later rows count the minutes it took to make them).
paper = method.md's ablations on Toyota Smarthome (overall accuracy %): another data set,
  for the ranking only; no number for pool."""


def read_results(path: Path) -> list[dict]:
    """The finished rows of ``path`` (none when it does not exist)."""
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            print(f"[ablate] {path}:{n}: not a complete JSON line (a run killed mid-write?); "
                  "ignored", file=sys.stderr)  # fmt: skip
            continue
        if not isinstance(row, dict) or "key" not in row:
            raise SystemExit(f"{path}:{n}: expected a row object with a 'key'; is this an "
                             "ablation results file?")  # fmt: skip
        rows.append(row)
    return rows


def append_row(path: Path, row: dict) -> None:
    """Append ``row`` as one complete line (after a newline if the file lacks its last one)."""
    data = (json.dumps(row, default=str) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    pct = [100.0 * v for v in values]
    if len(pct) == 1:
        return f"{pct[0]:.1f}"
    return f"{np.mean(pct):.1f}+-{np.std(pct, ddof=1):.1f}"  # sample std over seeds


def _groups(rows: list[dict]) -> dict:
    """(dataset, budget, axis, variant) -> its rows, in the variants table's order."""
    out: dict = {}
    for r in rows:
        out.setdefault((r["dataset"], r["budget"], r["axis"], r["variant"]), []).append(r)
    order = {name: i for i, name in enumerate(VARIANTS)}
    return dict(sorted(out.items(), key=lambda kv: (*kv[0][:3], order.get(kv[0][3], 99))))


def table(rows: list[dict], out=sys.stdout) -> None:
    """Per (data set, variant): each figure over seeds, the seeds, mean stage minutes and the
    paper's number where method.md gives one."""
    head = f"{'dataset':8}{'axis':10}{'variant':13}{'seeds':>8}"
    head += "".join(f"{h:>12}" for _, h in FIGURES)
    print(head + f"{'tok min':>8}{'align min':>10}{'wall min':>9}{'paper':>7}", file=out)
    tiny = False
    for (dataset, budget, axis, variant), mine in _groups(rows).items():
        tiny |= budget != "default"
        n = len(mine)
        seeds = "1 seed" if n == 1 else f"{n} seeds"
        line = f"{dataset:8}{axis:10}{variant:13}{seeds:>8}"
        for name, _ in FIGURES:
            line += f"{_cell([r[name] for r in mine if r.get(name) is not None]):>12}"
        tok = np.mean([r["seconds"]["tokenize"] or 0.0 for r in mine]) / 60
        align = np.mean([r["seconds"]["align"] + r["seconds"]["predict"] for r in mine]) / 60
        paper = f"{PAPER[variant]:.1f}" if variant in PAPER else "-"
        print(line + f"{tok:8.1f}{align:10.1f}{tok + align:9.1f}{paper:>7}", file=out)
    print(LEGEND, file=out)
    if tiny:
        print("budget tiny rows: a smoke of the script; their figures say nothing about "
              "accuracy.", file=out)  # fmt: skip


def plan_status(jobs, done: list[dict]) -> list[tuple]:
    """(job, what, row) per job: ``done`` (its key is in the file), ``copy`` (another key ran,
    or an earlier job of ``jobs`` will run, the same experiment: same data, seed and settings;
    row is that one) or ``run``. A key
    already in the file with other settings stops the run: mixing them would be a lie."""
    by_key = {r["key"]: r for r in done}
    by_print: dict = {}
    for r in done:
        by_print.setdefault(r["fingerprint"], r)
    out = []
    for job in jobs:
        fp = job.fingerprint()
        old = by_key.get(job.key)
        if old is not None and old["fingerprint"] != fp:
            raise SystemExit(
                f"the results file already holds {job.key} made with other settings "
                f"(budget {old['budget']}, stage 1 {old['settings']['tokenize']}, alignment "
                f"{old['settings']['align']}); give another --results file"
            )
        if old is not None:
            out.append((job, "done", old))
        elif fp in by_print:
            out.append((job, "copy", by_print[fp]))
        else:
            out.append((job, "run", None))
            by_print[fp] = {"key": job.key}  # later jobs of this list copy it once it ran
    return out
