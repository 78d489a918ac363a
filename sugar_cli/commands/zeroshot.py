"""`sugar zeroshot`: train on seen classes only, then recognise unseen ones (kind zeroshot)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import click

from sugar_cli.checks import EPOCHS, report_warnings, strict_option
from sugar_cli.console import Reporter, console, echo_json, handle_errors
from sugar_cli.models import embedder, quiet_transformers
from sugar_cli.options import common, settings_options, show_field_defaults, usage_errors
from sugar_core.evaluate.metrics import JSON_KEYS as METRIC_KEYS
from sugar_core.zeroshot.config import EVAL_PARTS, FUSE, ZeroShotConfig

JSON_KEYS = (*METRIC_KEYS, "unseen_split", "eval_part", "scored", "decode", "llm", "baseline",
             "fused", "conse", "pseudo_unseen", "chance", "gzsl", "unseen", "seconds",
             "estimate", "warnings")  # fmt: skip
DECODE_CHOICES = {"rank": ("rank",), "generate": ("generate",), "both": ("rank", "generate")}
FILE = click.Path(dir_okay=False)


FIELDS: dict[str, str] = {}  # option parameter -> the ZeroShotConfig field it overrides


def _field_option(flag: str, dotted: str, what: str, **kw):
    """An option that overrides a ZeroShotConfig field: None unless given; its help shows the
    field's own default (``show_field_defaults`` below), so the two cannot drift apart."""
    FIELDS[flag.lstrip("-").replace("-", "_")] = dotted
    return click.option(flag, default=None, help=what, **kw)


def _decode_choice(decodes: tuple[str, ...]) -> str:
    """The --decode choice that stands for ``decodes`` (the config default shown in --help)."""
    return next((k for k, v in DECODE_CHOICES.items() if v == tuple(decodes)), ",".join(decodes))


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


# the protocol's phases as the progress bars name them
TITLES = {
    "zeroshot": "zero-shot",
    "encoder": "encoder (seen classes)",
    "align": "align (seen classes)",
    "predict:rank": "predict unseen (rank)",
    "predict:generate": "predict unseen (generate)",
    "predict:gzsl": "predict seen + unseen",
    "predict:pseudo": "choose on pseudo-unseen classes",
}


def _config(o: dict) -> ZeroShotConfig:
    """ZeroShotConfig from --config, then --set, then the named options (later wins)."""
    from sugar_core import settings

    seed = o["seed"]
    named = {
        "split": o["split"],
        "eval_part": o["eval_part"],
        "decodes": list(DECODE_CHOICES[o["decode"]]) if o["decode"] else None,
        "gzsl": o["gzsl"] or None,
        "baseline": False if o["no_baseline"] else None,
        "describe": o["describe"] or None,
        "align_per_class": o["align_per_class"],
        "fuse": o["fuse"],
        "pseudo_unseen": o["pseudo_unseen"],
        "tokenize.preset": o["preset"],
        "tokenize.epochs": o["epochs"],
        "tokenize.seed": seed,
        "align.epochs": o["align_epochs"],
        "align.seed": seed,
        "align.llm.spec": o["llm"],
    }
    d, where = settings.layered(o["config_file"], o["sets"], named, command="zeroshot")
    return ZeroShotConfig.from_settings(d, where)


def _check_outputs(o: dict) -> None:
    """Usage errors before anything is read: missing inputs, clashing output files."""
    from sugar_core.errors import ConfigError

    need = (
        ("DATA", "data"),
        ("--priors", "priors_path"),
        ("--unseen-split", "unseen"),
        ("-o/--output", "output"),
    )
    missing = [flag for flag, key in need if not o[key]]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or use --list-splits)")
    if Path(o["output"]).is_dir():
        raise ConfigError(f"{o['output']}: is a directory, expected an .h5 file path")
    if o["save_aligned"] and not o["save_tokens"]:
        raise ConfigError("--save-aligned needs --save-tokens: a reused alignment reads its tokens")
    outs = [p for p in (o["output"], o["save_tokens"], o["save_aligned"]) if p]
    if len({str(Path(p).resolve()) for p in outs}) < len(outs):
        raise ConfigError("-o, --save-tokens and --save-aligned must be different files")


def _guard_outputs(o: dict) -> None:
    """Each file to write: not an input, in a writable folder with room (one Error line)."""
    from sugar_core.outputs import check_output

    keys = ("data", "priors_path", "test_data", "test_priors", "tokens_path", "aligned_path")
    read = [o[k] for k in keys] + [o["unseen"]]
    for out in (o["output"], o["save_tokens"], o["save_aligned"]):
        if out:
            check_output(out, inputs=read)


def _report(m: dict, output: str) -> None:
    from rich.table import Table

    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    console.print(
        f"[bold]{output}[/bold]  protocol [cyan]{m['protocol']}[/cyan]  unseen split "
        f"[cyan]{m['unseen_split']}[/cyan]  data split {m['split'] or 'none'}  "
        f"unseen {len(m['unseen'])}  scored: {m['scored']}"
    )
    t = Table(title_justify="left")
    for col in ("predictor", "top-1", "top-5", "mean class acc"):
        t.add_column(col, justify="left" if col == "predictor" else "right")
    for decode, s in m["llm"].items():
        t.add_row(f"LLM ({decode})", pct(s["top1"]), pct(s["top5"]), pct(s["mean_class_acc"]))
    rows = {"baseline": "embedding baseline", "conse": "ConSE (LLM seen-class transfer)"}
    if "fused" in m:
        rows["fused"] = f"fused ({m['fused']['norm']}, LLM weight {m['fused']['weight']:.1f})"
    for key, label in rows.items():
        if key in m:
            b = m[key]
            t.add_row(label, pct(b["top1"]), pct(b["top5"]), pct(b["mean_class_acc"]))
    t.add_row("chance", pct(m["chance"]["top1"]), pct(m["chance"]["top5"]), "")
    console.print(t)
    v = m.get("pseudo_unseen")
    if v:
        console.print(
            f"chosen on {v['n']} samples of pseudo-unseen {v['classes']}: calibration "
            f"{v['calibration']}, rank text {v['rank_text']}, fuse weight {v['fuse_weight']}"
        )
    for who, g in (m.get("gzsl") or {}).items():
        if isinstance(g, dict):
            console.print(
                f"GZSL {who}: seen {pct(g['seen'])}  unseen {pct(g['unseen'])}  "
                f"harmonic {pct(g['harmonic'])}"
            )


HELP = {
    "unseen": "A registry name (--list-splits) or a file of class names or ids, one per line or "
    "comma-separated.",
    "eval_part": "Unseen-class samples scored: the split's test part, or all of them "
    "[default: test; all with --test-data].",
    "tokens": "Reuse a seen-only encoder (tokens file) instead of training one.",
    "aligned": "Reuse a seen-only alignment (needs the --tokens it was trained on).",
    "decode": "LLM decoding(s) scored; the first fills the file "
    f"[default: {_decode_choice(ZeroShotConfig().decodes)}].",
    "match": "generate: text encoder for the closest-name rule (auto, none, a spec).",
    "estimate": "Skip the up-front cost estimate (a few seconds timing this machine).",
}


@click.command("zeroshot")
@click.argument("data", required=False, type=FILE)
@click.option("--priors", "priors_path", type=FILE, help="Priors file covering the data's classes.")
@click.option("--unseen-split", "unseen", help=HELP["unseen"])
@click.option("--list-splits", is_flag=True, help="Print the split registry and exit.")
@click.option("--split", help="Data split whose train part trains [default: the data's only one].")
@click.option("--eval-part", type=click.Choice(EVAL_PARTS), help=HELP["eval_part"])
@click.option("--test-data", type=FILE, help="Test on another skeletons file (layouts mapped).")
@click.option("--test-priors", type=FILE, help="Priors of the test data [default: --priors].")
@click.option("--tokens", "tokens_path", type=FILE, help=HELP["tokens"])
@click.option("--aligned", "aligned_path", type=FILE, help=HELP["aligned"])
@click.option("--save-tokens", type=FILE, help="Also write the seen-only encoder's tokens.")
@click.option(
    "--save-aligned", type=FILE, help="Also write the seen-only alignment (needs --save-tokens)."
)
@click.option("--decode", type=click.Choice(list(DECODE_CHOICES)), help=HELP["decode"])
@click.option("--gzsl", is_flag=True, help="Also score seen + unseen candidates (generalised).")
@click.option("--no-baseline", is_flag=True, help="Skip the embedding baseline.")
@click.option("--describe", is_flag=True, help="rank: also generate a description per sample.")
@click.option("--no-estimate", is_flag=True, help=HELP["estimate"])
@_field_option("--llm", "align.llm.spec", "smollm2, a model folder or a hub id")
@_field_option("--preset", "tokenize.preset", "Encoder preset: small or paper")
@_field_option("--epochs", "tokenize.epochs", "Encoder epochs", type=EPOCHS)
@_field_option("--align-epochs", "align.epochs", "Alignment epochs", type=EPOCHS)
@_field_option("--seed", "tokenize.seed", "Seed of both training stages", type=int)
@_field_option(
    "--align-per-class",
    "align_per_class",
    "Train the alignment on at most this many samples per seen class, 0 = all",
    type=int,
)
@_field_option(
    "--fuse",
    "fuse",
    "Also score LLM + baseline, normalised per sample",
    type=click.Choice(FUSE),
)
@_field_option(
    "--pseudo-unseen",
    "pseudo_unseen",
    "Hold out this many seen classes to choose fuse weight / auto options on",
    type=int,
)
@settings_options
@click.option("--match-encoder", default="auto", show_default=True, help=HELP["match"])
@click.option("--run-dir", type=click.Path(file_okay=False), help="Encoder checkpoints folder.")
@common
@click.option("--json", "as_json", is_flag=True, help="Print metrics (or the registry) as JSON.")
@click.option("-o", "--output", type=FILE, help="zs.h5 to write.")
@strict_option
@handle_errors
def cli(**o):
    """Recognise classes never trained on: seen-only training, unseen-only test.

    The encoder and the alignment train on samples and priors of seen classes only; samples
    of unseen classes are then named by the LLM with the action list swapped for the unseen
    names (rank and generate), and by an embedding baseline (cosine between the encoder's
    text-space feature and the unseen classes' prior prototypes). --gzsl adds the generalised
    setting (seen + unseen candidates; seen, unseen and harmonic-mean accuracy; the baseline
    also minus each class's mean cosine over the model's reference samples, as
    baseline_reference: calibrated stacking from training samples). Settings:
    --config (a JSON file with tokenize and align sections, or a recipe), then --set items
    (dotted keys: tokenize.epochs=3, align.bridge.kind=pool), then the named options, later
    winning. Before any training, a few seconds' probe of this machine prints what the run
    will cost (encoder, alignment, scoring) and, over 30 minutes, cheaper flags; the numbers
    are kept under the metrics key estimate (--no-estimate skips it). Writes kind zeroshot
    (read by `sugar eval`); stdout gets the output path, or JSON with --json.

    \b
    Examples:
      sugar zeroshot --list-splits
      sugar zeroshot ucla.h5 --priors priors.h5 --unseen-split nw-ucla-ru5 -o zs.h5
      sugar zeroshot msr.h5 --priors priors.h5 --unseen-split msr-r5-s0 --gzsl --json -o zs.h5
      sugar zeroshot msr.h5 --priors priors.h5 --unseen-split msr-r5-s0 --pseudo-unseen 3 \\
          --fuse z --set calibration=auto --set align.list_sampling=true -o zs.h5
      sugar zeroshot ucla.h5 --priors priors.h5 --unseen-split nw-ucla-ru5 \\
          --set tokenize.epochs=20 --set align.bridge.kind=pool -o zs.h5
      sugar zeroshot ucla.h5 --priors priors.h5 --unseen-split mine.txt --save-tokens tok.h5 \\
          --save-aligned al.h5 -o zs.h5
      sugar zeroshot ucla.h5 --priors priors.h5 --unseen-split nw-ucla-ru2 --tokens tok.h5 \\
          --aligned al.h5 -o zs2.h5
      sugar zeroshot ntu.h5 --priors priors.h5 --test-data ucla.h5 --unseen-split nw-ucla-ru5 \\
          -o cross.h5
    """
    if o["list_splits"]:
        _list_splits(o["as_json"])
        return
    with usage_errors():
        _check_outputs(o)
        cfg = _config(o)
    _guard_outputs(o)
    quiet_transformers()
    inputs = _read_inputs(o, cfg)
    t0 = time.perf_counter()
    with Reporter(TITLES) as reporter:
        result = _run(inputs, cfg, o, reporter)
    result.metrics["seconds"] = time.perf_counter() - t0
    report_warnings(result.metrics["warnings"], o["strict"])
    _write(result, cfg, o)
    _report(result.metrics, o["output"])
    if o["as_json"]:
        echo_json({k: result.metrics[k] for k in JSON_KEYS if k in result.metrics})
    else:
        click.echo(o["output"])


class _Inputs(NamedTuple):
    data: object  # SkeletonSet
    priors: object  # Priors
    split: object  # UnseenSplit
    test: object  # SkeletonSet or None
    test_priors: object  # Priors or None
    tokens: object  # TokenSet or None (reused encoder)
    aligned: object  # AlignedModel or None (reused alignment)
    embed: object  # texts -> unit rows, or None


def _reused_alignment(aligned_path, tokens_path):
    """The seen-only alignment of --aligned, refused unless trained on --tokens' tokens."""
    from sugar_core.align.store import load_aligned
    from sugar_core.errors import ConfigError
    from sugar_core.schema import open_file, root_info, sha256

    if not tokens_path:
        raise ConfigError("--aligned needs --tokens: the encoder whose tokens it was trained on")
    with open_file(aligned_path, "aligned") as f:
        hashes = {i.get("sha256") for i in root_info(f)["inputs"]}
    if hashes and sha256(tokens_path) not in hashes:
        raise ConfigError(f"{aligned_path}: was trained on other tokens than {tokens_path}")
    return load_aligned(aligned_path)


def _read_inputs(o: dict, cfg: ZeroShotConfig) -> _Inputs:
    from sugar_core.priors.store import read_priors
    from sugar_core.skeleton.lazy_set import open_skeletons
    from sugar_core.tokenize.store import read_tokens
    from sugar_core.zeroshot.splits import resolve_split

    data = open_skeletons(o["data"])  # joints read per sample when the file is large
    priors = read_priors(o["priors_path"])
    test = open_skeletons(o["test_data"]) if o["test_data"] else None
    test_priors = read_priors(o["test_priors"]) if o["test_priors"] else None
    split = resolve_split(o["unseen"], (test or data).class_names)
    tokens = read_tokens(o["tokens_path"]) if o["tokens_path"] else None
    aligned = None
    if o["aligned_path"]:
        aligned = _reused_alignment(o["aligned_path"], o["tokens_path"])
    wants = "generate" in cfg.decodes
    embed = embedder(o["match_encoder"], priors.encoder_id) if wants else None
    return _Inputs(data, priors, split, test, test_priors, tokens, aligned, embed)


def _run(i: _Inputs, cfg: ZeroShotConfig, o: dict, reporter: Reporter):
    from sugar_core.schema import sha256
    from sugar_core.zeroshot.protocol import run_zeroshot

    return run_zeroshot(
        i.data,
        i.priors,
        i.split,
        cfg,
        test_data=i.test,
        test_priors=i.test_priors,
        tokens=i.tokens,
        aligned=i.aligned,
        reused_from={"tokens": o["tokens_path"], "aligned": o["aligned_path"]},
        callback=reporter,
        run_dir=o["run_dir"],
        priors_sha256=sha256(o["priors_path"]),
        embed_fn=i.embed,
        estimate=not o["no_estimate"],
    )


def _write(result, cfg: ZeroShotConfig, o: dict) -> None:
    """The zeroshot file, and with --save-tokens / --save-aligned the seen-only artifacts."""
    from sugar_core.align.store import save_aligned
    from sugar_core.schema import input_record
    from sugar_core.tokenize.store import write_tokens
    from sugar_core.zeroshot.protocol import seen_predictions
    from sugar_core.zeroshot.store import write_zeroshot

    used = [
        o[k]
        for k in ("data", "priors_path", "test_data", "test_priors", "tokens_path", "aligned_path")
        if o[k]
    ]
    if Path(o["unseen"]).is_file():
        used.append(o["unseen"])
    run = dict(cfg.to_dict(), match_encoder=o["match_encoder"])  # the generate matcher
    write_zeroshot(
        result, o["output"], config=run, seed=cfg.tokenize.seed, inputs=input_record(used)
    )
    if o["save_tokens"]:
        write_tokens(
            result.tokens,
            o["save_tokens"],
            config=cfg.tokenize.to_dict(),
            seed=cfg.tokenize.seed,
            inputs=input_record([o["data"], o["priors_path"]]),
        )
        console.print(f"wrote {o['save_tokens']} (seen-only encoder)")
    if o["save_aligned"]:
        seen = seen_predictions(result, cfg)
        save_aligned(
            o["save_aligned"],
            result.model,
            seen,
            config=cfg.align.to_dict(),
            inputs=input_record([o["save_tokens"], o["priors_path"]]),
        )
        console.print(
            f"wrote {o['save_aligned']} (seen-only alignment; seen-class test top-1 "
            f"{100 * seen.metrics['top1']:.1f}%)"
        )


show_field_defaults(cli, ZeroShotConfig, FIELDS)
