"""`sugar zeroshot`: train on seen classes only, then recognise unseen ones (kind zeroshot)."""

from __future__ import annotations

import contextlib
import time
import warnings
from pathlib import Path

import click

from sugar_cli.util import (
    console,
    echo_json,
    embedder,
    handle_errors,
    progress,
    read_settings,
)

JSON_KEYS = ("top1", "top5", "mean_class_acc", "n", "off_list_rate", "protocol", "split",
             "data_split", "eval_part", "decode", "llm", "baseline", "chance", "gzsl",
             "unseen", "seconds")  # fmt: skip


def _list_splits(as_json: bool) -> None:
    from sugar_core.zeroshot.splits import list_splits

    rows = [s.row() for s in list_splits()]
    if as_json:
        echo_json(rows)
        return
    width = max(len(r["name"]) for r in rows)
    click.echo(f"{'name':<{width}}  {'dataset':<8} {'protocol':<9} seen/unseen  unseen ids")
    for r in rows:
        ids = ",".join(str(i) for i in r["unseen"])
        click.echo(
            f"{r['name']:<{width}}  {r['dataset']:<8} {r['protocol']:<9} "
            f"{r['num_seen']:>4}/{r['num_unseen']:<6} {ids}"
        )


class _Phases:
    """Progress bars that follow the library's events: one bar per phase, opened on demand."""

    LABELS = {"encoder": "encoder (seen classes)", "align": "align (seen classes)"}

    def __init__(self):
        self.stack = contextlib.ExitStack()
        self.phase, self.advance, self.done = None, None, 0

    def _open(self, phase: str, total: int | None):
        self.stack.close()
        label = self.LABELS.get(phase, phase.replace("predict:", "predict unseen: "))
        self.advance = self.stack.enter_context(progress(label, total=total))
        self.phase, self.done = phase, 0

    def __call__(self, ev: dict) -> None:
        phase = ev["phase"]
        if phase == "encoder":
            if ev.get("event") == "start":
                steps = (ev["epochs"] - ev["start_epoch"]) * ev["steps_per_epoch"]
                self._open(phase, steps)
            elif ev.get("event") == "step":
                self.advance(1, info=f"epoch {ev['epoch'] + 1} loss {ev['loss']:.3f}")
            return
        if phase != self.phase:
            self._open(phase, ev.get("total"))
        info = f"epoch {ev['epoch']} loss {ev['loss']:.3f}" if "loss" in ev else None
        self.advance(ev["step"] - self.done, info=info)
        self.done = ev["step"]

    def close(self):
        self.stack.close()


def _config(config_file, overrides: dict):
    """ZeroShotConfig from an optional JSON file, then the options given on the command line."""
    from sugar_core.errors import ConfigError
    from sugar_core.zeroshot.protocol import ZeroShotConfig

    d = read_settings(config_file)
    tok, align = dict(d.pop("tokenize", {}) or {}), dict(d.pop("align", {}) or {})
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, name = key.rpartition(".")
        if section == "tokenize":
            tok[name] = value
        elif section == "align":
            align[name] = value
        elif section == "align.llm":
            align.setdefault("llm", {})[name] = value
        else:
            d[name] = value
    try:
        from sugar_core.align.training import AlignConfig
        from sugar_core.tokenize.training import TokenizeConfig

        cfg = ZeroShotConfig.from_dict(
            {**d, "tokenize": TokenizeConfig.from_dict(tok), "align": AlignConfig.from_dict(align)}
        )
    except TypeError as exc:
        raise ConfigError(f"{config_file or 'settings'}: {exc}") from None
    cfg.align.check()
    return cfg


def _report(m: dict, output: str) -> None:
    from rich.table import Table

    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    console.print(
        f"[bold]{output}[/bold]  protocol [cyan]{m['protocol']}[/cyan]  split "
        f"[cyan]{m['split']}[/cyan]  unseen {len(m['unseen'])}  n {m['n']}  ({m['eval_part']} "
        f"samples of unseen classes)"
    )
    t = Table(title_justify="left")
    for col in ("predictor", "top-1", "top-5", "mean class acc"):
        t.add_column(col, justify="left" if col == "predictor" else "right")
    for decode, s in m["llm"].items():
        t.add_row(f"LLM ({decode})", pct(s["top1"]), pct(s["top5"]), pct(s["mean_class_acc"]))
    if "baseline" in m:
        b = m["baseline"]
        t.add_row("embedding baseline", pct(b["top1"]), pct(b["top5"]), pct(b["mean_class_acc"]))
    t.add_row("chance", pct(m["chance"]["top1"]), pct(m["chance"]["top5"]), "")
    console.print(t)
    for who, g in (m.get("gzsl") or {}).items():
        if isinstance(g, dict):
            console.print(
                f"GZSL {who}: seen {pct(g['seen'])}  unseen {pct(g['unseen'])}  "
                f"harmonic {pct(g['harmonic'])}"
            )


@click.command("zeroshot")
@click.argument("data", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--priors",
    "priors_path",
    type=click.Path(dir_okay=False),
    help="Priors file covering the data's classes.",
)
@click.option("--unseen-split", "unseen", help="A registry name (--list-splits) or a file of "
              "class names or ids, one per line or comma-separated.")  # fmt: skip
@click.option("--list-splits", is_flag=True, help="Print the split registry and exit.")
@click.option("--split", default=None, help="Data split whose train part trains "
              "[default: the data's only split].")  # fmt: skip
@click.option("--eval-part", type=click.Choice(["test", "all"]), default=None,
              help="Unseen-class samples scored: the split's test part, or all of them "
              "[default: test; all with --test-data].")  # fmt: skip
@click.option(
    "--test-data",
    type=click.Path(dir_okay=False),
    help="Test on another skeletons file (joints mapped between layouts).",
)
@click.option(
    "--test-priors",
    type=click.Path(dir_okay=False),
    help="Priors for the test data's classes [default: --priors].",
)
@click.option(
    "--tokens",
    "tokens_path",
    type=click.Path(dir_okay=False),
    help="Reuse a seen-only encoder (tokens file) instead of training one.",
)
@click.option(
    "--aligned",
    "aligned_path",
    type=click.Path(dir_okay=False),
    help="Reuse a seen-only alignment (needs the --tokens it was trained on).",
)
@click.option(
    "--save-tokens",
    type=click.Path(dir_okay=False),
    help="Also write the seen-only encoder's tokens, for reuse.",
)
@click.option(
    "--save-aligned",
    type=click.Path(dir_okay=False),
    help="Also write the seen-only alignment (needs --save-tokens), for reuse.",
)
@click.option(
    "--decode",
    type=click.Choice(["rank", "generate", "both"]),
    default="both",
    show_default=True,
    help="LLM decoding(s) scored; the first fills the file.",
)
@click.option("--gzsl", is_flag=True, help="Also score seen + unseen candidates (generalised).")
@click.option("--no-baseline", is_flag=True, help="Skip the embedding baseline.")
@click.option("--describe", is_flag=True, help="rank: also generate a description per sample.")
@click.option("--llm", default=None, help="smollm2, a model folder or a hub id [smollm2].")
@click.option("--preset", default=None, help="Encoder preset: small or paper [small].")
@click.option("--epochs", type=int, default=None, help="Encoder epochs [60].")
@click.option("--align-epochs", type=int, default=None, help="Alignment epochs [2].")
@click.option("--seed", type=int, default=None, help="Seed of both training stages [0].")
@click.option(
    "--align-per-class",
    type=int,
    default=None,
    help="Train the alignment on at most this many samples per seen class [all].",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="JSON of settings: {tokenize: {...}, align: {...}, ...}; options win.",
)
@click.option(
    "--match-encoder",
    default="auto",
    show_default=True,
    help="generate: text encoder for the closest-name rule (auto, none, a spec).",
)
@click.option("--run-dir", type=click.Path(file_okay=False), help="Encoder checkpoints folder.")
@click.option("--threads", type=int, default=None, help="torch CPU threads.")
@click.option("--json", "as_json", is_flag=True, help="Print metrics (or the registry) as JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="zs.h5 to write.")
@handle_errors
def cli(data, priors_path, unseen, list_splits, split, eval_part, test_data, test_priors,
        tokens_path, aligned_path, save_tokens, save_aligned, decode, gzsl, no_baseline, describe,
        llm, preset, epochs, align_epochs, seed, align_per_class, config_file, match_encoder,
        run_dir, threads, as_json, output):  # fmt: skip
    """Recognise classes never trained on: seen-only training, unseen-only test.

    The encoder and the alignment train on samples and priors of seen classes only; samples
    of unseen classes are then named by the LLM with the action list swapped for the unseen
    names (rank and generate), and by an embedding baseline (cosine between the encoder's
    text-space feature and the unseen classes' prior prototypes). --gzsl adds the generalised
    setting (seen + unseen candidates; seen, unseen and harmonic-mean accuracy). Writes kind
    zeroshot (read by `sugar eval`); stdout gets the output path, or JSON with --json.

    \b
    Examples:
      sugar zeroshot --list-splits
      sugar zeroshot ucla.h5 --priors priors.h5 --unseen-split nw-ucla-ru5 -o zs.h5
      sugar zeroshot msr.h5 --priors priors.h5 --unseen-split msr-r5-s0 --gzsl --json -o zs.h5
      sugar zeroshot ucla.h5 --priors priors.h5 --unseen-split mine.txt --save-tokens tok.h5 \\
          --save-aligned al.h5 -o zs.h5
      sugar zeroshot ucla.h5 --priors priors.h5 --unseen-split nw-ucla-ru2 --tokens tok.h5 \\
          --aligned al.h5 -o zs2.h5
      sugar zeroshot ntu.h5 --priors priors.h5 --test-data ucla.h5 --unseen-split nw-ucla-ru5 \\
          -o cross.h5
    """
    if list_splits:
        _list_splits(as_json)
        return
    from sugar_core.errors import ConfigError

    missing = [
        n
        for n, v in (
            ("DATA", data),
            ("--priors", priors_path),
            ("--unseen-split", unseen),
            ("-o/--output", output),
        )
        if not v
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or use --list-splits)")
    if Path(output).is_dir():
        raise ConfigError(f"{output}: is a directory, expected an .h5 file path")
    if save_aligned and not save_tokens:
        raise ConfigError("--save-aligned needs --save-tokens: a reused alignment reads its tokens")
    outs = [p for p in (output, save_tokens, save_aligned) if p]
    if len({str(Path(p).resolve()) for p in outs}) < len(outs):
        raise ConfigError("-o, --save-tokens and --save-aligned must be different files")
    decodes = ["rank", "generate"] if decode == "both" else [decode]
    cfg = _config(config_file, {
        "split": split, "eval_part": eval_part, "decodes": decodes, "gzsl": gzsl or None,
        "baseline": False if no_baseline else None, "describe": describe or None,
        "tokenize.preset": preset, "tokenize.epochs": epochs, "tokenize.seed": seed,
        "align.epochs": align_epochs, "align.seed": seed, "align.llm.spec": llm,
        "align_per_class": align_per_class,
    })  # fmt: skip
    _run(data, priors_path, unseen, cfg, test_data, test_priors, tokens_path, aligned_path,
         save_tokens, save_aligned, match_encoder, run_dir, threads, as_json, output)  # fmt: skip


def _run(data_path, priors_path, unseen, cfg, test_path, test_priors_path, tokens_path,
         aligned_path, save_tokens, save_aligned, match_encoder, run_dir, threads, as_json,
         output):  # fmt: skip
    import torch
    from transformers.utils import logging

    from sugar_core.align.training import load_aligned
    from sugar_core.align.training import save_aligned as write_aligned
    from sugar_core.errors import ConfigError
    from sugar_core.priors.store import read_priors
    from sugar_core.schema import input_record, open_file, root_info, sha256
    from sugar_core.skeleton.dataset import read_skeletons
    from sugar_core.tokenize.store import read_tokens, write_tokens
    from sugar_core.zeroshot.protocol import run_zeroshot, seen_predictions
    from sugar_core.zeroshot.splits import resolve_split
    from sugar_core.zeroshot.store import write_zeroshot

    if threads:
        torch.set_num_threads(threads)
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")

    data = read_skeletons(data_path)
    priors = read_priors(priors_path)
    test = read_skeletons(test_path) if test_path else None
    test_priors = read_priors(test_priors_path) if test_priors_path else None
    split = resolve_split(unseen, (test or data).class_names)
    tokens = read_tokens(tokens_path) if tokens_path else None
    aligned = None
    if aligned_path:
        if not tokens_path:
            raise ConfigError(
                "--aligned needs --tokens: the encoder whose tokens it was trained on"
            )
        with open_file(aligned_path, "aligned") as f:
            hashes = {i.get("sha256") for i in root_info(f)["inputs"]}
        if hashes and sha256(tokens_path) not in hashes:
            raise ConfigError(f"{aligned_path}: was trained on other tokens than {tokens_path}")
        aligned = load_aligned(aligned_path)
    embed = embedder(match_encoder, priors.encoder_id) if "generate" in cfg.decodes else None

    phases = _Phases()
    t0 = time.perf_counter()
    try:
        result = run_zeroshot(
            data, priors, split, cfg, test_data=test, test_priors=test_priors, tokens=tokens,
            aligned=aligned, reused_from={"tokens": tokens_path, "aligned": aligned_path},
            callback=phases, run_dir=run_dir, priors_sha256=sha256(priors_path), embed_fn=embed,
        )  # fmt: skip
    finally:
        phases.close()
    result.metrics["seconds"] = time.perf_counter() - t0
    used = [p for p in (data_path, priors_path, test_path, test_priors_path, tokens_path,
                        aligned_path) if p]  # fmt: skip
    if Path(unseen).is_file():
        used.append(unseen)
    run = cfg.to_dict()
    write_zeroshot(result, output, config=run, seed=cfg.tokenize.seed, inputs=input_record(used))
    if save_tokens:
        write_tokens(
            result.tokens,
            save_tokens,
            config=cfg.tokenize.to_dict(),
            seed=cfg.tokenize.seed,
            inputs=input_record([data_path, priors_path]),
        )
        console.print(f"wrote {save_tokens} (seen-only encoder)")
    if save_aligned:
        seen = seen_predictions(result, cfg)
        write_aligned(
            save_aligned,
            result.model,
            seen,
            config=cfg.align.to_dict(),
            inputs=input_record([save_tokens, priors_path]),
        )
        console.print(
            f"wrote {save_aligned} (seen-only alignment; seen-class test top-1 "
            f"{100 * seen.metrics['top1']:.1f}%)"
        )
    _report(result.metrics, output)
    if as_json:
        echo_json({k: result.metrics[k] for k in JSON_KEYS if k in result.metrics})
    else:
        click.echo(output)
