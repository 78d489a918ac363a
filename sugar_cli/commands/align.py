"""`sugar align`: train TQP (+ LoRA) into a frozen LLM, predict the test split, write aligned.h5."""

from __future__ import annotations

import time
from pathlib import Path

import click

from sugar_cli.checks import EPOCHS, report_warnings, strict_option
from sugar_cli.console import Reporter, console, echo_json, handle_errors
from sugar_cli.models import embedder, quiet_transformers
from sugar_cli.options import (
    common,
    json_option,
    settings_options,
    show_field_defaults,
    usage_errors,
)
from sugar_core.align.config import (
    BRIDGES,
    CALIBRATIONS,
    DECODES,
    LLM_DTYPES,
    PRECISIONS,
    PROMPTS,
    AlignConfig,
)
from sugar_core.evaluate.metrics import JSON_KEYS as METRIC_KEYS

# named option -> the AlignConfig setting it fills; None (not given) leaves it to --set,
# --config or the AlignConfig default
OPTION_SETTINGS = {
    "llm": "llm.spec",
    "bridge": "bridge.kind",
    "queries": "bridge.queries",
    "chunk": "bridge.chunk",
    "width": "bridge.width",
    "depth": "bridge.depth",
    "heads": "bridge.heads",
    "standardize": "bridge.standardize",
    "lora_r": "llm.lora_r",
    "lora_alpha": "llm.lora_alpha",
    "lora_targets": "llm.lora_targets",
    "lora": "llm.lora",
    "epochs": "epochs",
    "lr": "lr",
    "batch_size": "batch_size",
    "grad_accum": "grad_accum",
    "token_noise": "token_noise",
    "precision": "precision",
    "llm_dtype": "llm.dtype",
    "gradient_checkpointing": "llm.gradient_checkpointing",
    "max_description_tokens": "llm.max_description_tokens",
    "prompt_kind": "llm.prompt",
    "seed": "seed",
    "checkpoint_every": "checkpoint_every",
    "cpu": "cpu",
    "calibration": "calibration",
}
SUMMARY = (
    *METRIC_KEYS,
    "decode",
    "train_seconds",
    "seconds_per_sample",
    "calibration",
    "prior_share",
    "readout",
    "llm_top1",
    "schedule",
    "warnings",
)


def _names(ctx, param, value: str | None) -> list[str] | None:
    """``a,b`` -> ["a", "b"] (None stays None: the option was not given)."""
    return None if value is None else [t.strip() for t in value.split(",") if t.strip()]


@click.command("align")
@click.argument("tokens", type=click.Path(dir_okay=False))
@click.option(
    "--priors",
    "priors_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Priors file: its descriptions form the training answers.",
)
@click.option("--llm", default=None, help="smollm2, a local model folder, or a hub id [smollm2].")
@click.option("--split", default=None, help="Split to train/test on [default: the tokens' own].")
@click.option(
    "--bridge",
    type=click.Choice(BRIDGES),
    default=None,
    help="tqp, one qformer over the whole sequence, linear (resampled), pool, xattn "
    "(cross-attention only) [tqp].",
)
@click.option("--queries", type=int, default=None, help="Action tokens given to the LLM [16].")
@click.option("--chunk", type=int, default=None, help="Tokens per TQP step [4].")
@click.option("--width", type=int, default=None, help="Q-Former width [256].")
@click.option("--depth", type=int, default=None, help="Q-Former layers per step [1].")
@click.option("--heads", type=int, default=None, help="Q-Former attention heads [4].")
@click.option(
    "--standardize/--no-standardize",
    default=None,
    help="Scale each token channel by the train tokens' mean and std before the bridge [no].",
)
@click.option("--lora-r", type=int, default=None, help="LoRA rank [64].")
@click.option("--lora-alpha", type=int, default=None, help="LoRA alpha [16].")
@click.option(
    "--lora-targets",
    default=None,
    callback=_names,
    help="Comma-separated module names that get adapters [q_proj,v_proj].",
)
@click.option("--no-lora", "lora", flag_value=False, default=None, help="Train the bridge alone.")
@click.option(
    "--epochs",
    type=EPOCHS,
    default=None,
    help="Passes over the train split: N, or auto = max(min_epochs, enough epochs for "
    "min_steps optimiser steps) [auto].",
)
@click.option("--lr", type=float, default=None, help="AdamW peak learning rate [0.001].")
@click.option("--batch-size", type=int, default=None, help="Samples per device per step [8].")
@click.option("--grad-accum", type=int, default=None, help="Steps per optimizer update [1].")
@click.option(
    "--token-noise",
    type=float,
    default=None,
    help="Training: Gaussian noise on the tokens, in units of their per-channel std [0].",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="bf16 = autocast (fast on GPUs and AMX CPUs) [fp32].",
)
@click.option(
    "--llm-dtype",
    type=click.Choice(LLM_DTYPES),
    default=None,
    help="LLM weights in memory (7B: bfloat16) [float32].",
)
@click.option(
    "--gradient-checkpointing", flag_value=True, default=None, help="Save LLM memory (7B)."
)
@click.option(
    "--max-description-tokens",
    type=int,
    default=None,
    help="Training answers' descriptions are cut to this many tokens [32].",
)
@click.option(
    "--prompt",
    "prompt_kind",
    type=click.Choice(list(PROMPTS)),
    default=None,
    help="list-first puts the action list before the action tokens: a shorter per-sample "
    "prompt [paper].",
)
@click.option(
    "--calibration",
    type=click.Choice([*CALIBRATIONS, "auto"]),
    default=None,
    help="Rank scores: raw sums, per-token (length), minus a null input's (null), both, minus "
    "each name's mean over kept training samples (reference); auto picks one on a validation "
    "part held out of training (a share, or with --set validation=encoder the encoder's).",
)
@settings_options
@click.option(
    "--decode",
    type=click.Choice(DECODES),
    default="rank",
    show_default=True,
    help="Score every class (rank) or generate and parse.",
)
@click.option(
    "--describe/--no-describe",
    default=True,
    show_default=True,
    help="rank: also generate the winner's description.",
)
@click.option("--max-new-tokens", default=48, type=click.IntRange(1), show_default=True)
@click.option(
    "--match-encoder",
    default="auto",
    show_default=True,
    help="generate: text encoder for the closest-name rule (auto = the priors', none).",
)
@click.option("--predict-batch", default=16, type=click.IntRange(1), show_default=True)
@click.option("--seed", type=int, default=None, help="Seed of bridge, LoRA and batch order [0].")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False),
    help="Folder for checkpoints (needed by --resume).",
)
@click.option(
    "--checkpoint-every",
    type=int,
    default=None,
    help="Optimizer steps between checkpoints (0 = each epoch end) [0].",
)
@click.option("--resume", is_flag=True, help="Continue training from --run-dir.")
@click.option("--cpu", flag_value=True, default=None, help="Stay on CPU even with a GPU.")
@common
@json_option("the metrics as JSON")
@strict_option
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="aligned.h5 to write."
)
@handle_errors
def cli(
    tokens,
    priors_path,
    split,
    config_file,
    sets,
    decode,
    describe,
    max_new_tokens,
    match_encoder,
    predict_batch,
    run_dir,
    resume,
    as_json,
    strict,
    output,
    **named,
):
    """Train TQP (+ LoRA) into a frozen LLM, then name and describe the test samples.

    The LLM's own weights never change. Prompt: "Given a sequence of action tokens <action>,
    please choose the most compatible action from: [...], and describe the action."; answer
    "{class}. description". --decode rank scores every listed class (top-5, never off the
    list); generate parses the class from the braces. Writes predictions, metrics and the
    trained weights (kind aligned); stdout gets the output path. With SmolLM2 on NW-UCLA the
    best measured setting is --bridge pool --prompt list-first (README, Results).
    Settings without an option of their own (warmup, grad_clip, bridge.dropout, ...) take
    --set or --config.

    \b
    Examples:
      sugar align tokens.h5 --priors priors.h5 -o aligned.h5
      sugar align tokens.h5 --priors priors.h5 --decode generate --epochs 3 -o aligned.h5
      sugar align tokens.h5 --priors priors.h5 --bridge pool --prompt list-first -o pool.h5
      sugar align tokens.h5 --priors priors.h5 --bridge pool --no-lora -o pool.h5
      sugar align tokens.h5 --priors priors.h5 --set warmup=0.1 --set bridge.dropout=0.1 \\
          --config mine.json -o aligned.h5
      sugar align tokens.h5 --priors priors.h5 --run-dir runs/a --resume -o aligned.h5
      sugar align tokens.h5 --priors priors.h5 --prompt list-first --set list_sampling=true \\
          --set llm.knowledge=description -o aligned.h5
      sugar align tokens.h5 --priors priors.h5 --set bridge.anchor=fitted \\
          --set bridge.time_embedding=absolute --set validation=encoder -o anchored.h5
      accelerate launch --multi_gpu -m sugar_cli.main align tokens.h5 --priors priors.h5 \\
          --llm meta-llama/Llama-2-7b-hf --llm-dtype bfloat16 --precision bf16 \\
          --gradient-checkpointing --grad-accum 8 -o aligned.h5
    """
    from sugar_core.align.store import save_aligned
    from sugar_core.schema import input_record

    cfg = _checked(output, tokens, priors_path, config_file, sets, named, resume, run_dir)
    quiet_transformers()
    ts, pr, split, test = _inputs(tokens, priors_path, split, cfg)
    if cfg.validation == "encoder":  # refused before the LLM loads, naming the file
        from sugar_core.align.plan import encoder_rows

        encoder_rows(ts, ts.split_indices(split, "train"), where=str(tokens))

    # 1. train (every process); 2. predict the test split (the main process)
    model, train_s, main = _train(ts, pr, cfg, split, run_dir, resume)
    if not main:
        return
    embed = embedder(match_encoder, pr.encoder_id) if decode == "generate" else None
    p = _predict(model, ts, test, decode, describe, max_new_tokens, embed, predict_batch)

    # 3. metrics, the health checks (--strict: stop here) and the file
    p.metrics = _metrics(p, split, train_s)
    p.metrics.update(schedule=model.history[-1].get("schedule"), warnings=_warnings(model, p))
    report_warnings(p.metrics["warnings"], strict)
    run = dict(cfg.to_dict(), split=split, decode=decode, describe=describe)
    run.update(max_new_tokens=max_new_tokens, match_encoder=match_encoder)
    save_aligned(output, model, p, config=run, inputs=input_record([tokens, priors_path]))
    _report(output, p.metrics, as_json)


def _checked(output, tokens, priors_path, config_file, sets, named, resume, run_dir):
    """The AlignConfig, once the options and the output path are known to be usable."""
    from sugar_core.errors import ConfigError
    from sugar_core.outputs import check_output

    if resume and not run_dir:
        raise ConfigError("--resume needs --run-dir (the folder holding the checkpoint)")
    if Path(output).is_dir():
        raise ConfigError(f"{output}: is a directory, expected an .h5 file path")
    with usage_errors():
        cfg = _config(config_file, sets, named)
    check_output(output, inputs=[tokens, priors_path])
    return cfg


def _warnings(model, p) -> list[str]:
    """The validation part's health warnings (align/validation.py), or without a validation
    part the test predictions' (the check `sugar eval` makes)."""
    from sugar_core import health

    last = model.history[-1] if model.history else {}
    if "val_n" in last:
        return list(last.get("warnings", []))
    return health.check_predictions(p, "aligned", f"align: test predictions ({len(p.labels)})")


def _config(config_file, sets, named: dict):
    """The AlignConfig of named options over --set over --config over the defaults."""
    from sugar_core.align.config import AlignConfig
    from sugar_core.settings import layered

    options = {OPTION_SETTINGS[k]: v for k, v in named.items()}
    return AlignConfig.from_settings(*layered(config_file, sets, options, command="align"))


def _report(output: str, m: dict, as_json: bool) -> None:
    """A summary line on stderr; the output path (or --json metrics) on stdout."""
    console.print(
        f"[bold]{output}[/bold]  split {m['split']}  decode {m['decode']}  n {m['n']}  "
        f"top-1 [bold green]{100 * m['top1']:.1f}%[/bold green]  "
        f"top-5 {100 * m['top5']:.1f}%  off-list {100 * m['off_list_rate']:.1f}%  "
        f"train {m['train_seconds']:.0f}s  predict {m['seconds_per_sample']:.2f}s/sample"
    )
    if as_json:
        echo_json({k: m[k] for k in SUMMARY if k in m})
    else:
        click.echo(output)


def _inputs(tokens, priors_path, split, cfg):
    """(tokens, priors, split, test rows), the split defaulting to the tokens' own; with the
    stage-1 weights when an anchor token may copy the text head (small sets: plan.py)."""
    from sugar_core.errors import ConfigError
    from sugar_core.priors.store import read_priors
    from sugar_core.tokenize.store import read_tokens

    ts = read_tokens(tokens, weights=cfg.bridge.anchor != "none")
    pr = read_priors(priors_path)
    split = split or ts.train_split
    if not split:
        raise ConfigError(f"{tokens}: records no training split; pass --split")
    test = ts.split_indices(split, "test")
    if len(test) == 0:
        raise ConfigError(f"{tokens}: split {split!r} has no test samples")
    return ts, pr, split, test


def _train(ts, pr, cfg, split, run_dir, resume):
    """(model, seconds, whether this is the main process), with a progress bar."""
    from accelerate import PartialState

    from sugar_core.align.training import train_alignment

    main = PartialState().is_main_process
    t0 = time.perf_counter()
    with Reporter() as reporter:
        callback = reporter if main else None
        model = train_alignment(
            ts, pr, cfg, split, callback=callback, run_dir=run_dir, resume=resume
        )
    return model, time.perf_counter() - t0, main


def _predict(model, ts, test, decode, describe, max_new_tokens, embed, batch_size):
    """``predict_split`` on the test rows, with a progress bar."""
    from sugar_core.align.inference import predict_split

    with Reporter({"align": f"align ({decode})"}) as reporter:
        return predict_split(
            model,
            ts,
            test,
            decode=decode,
            batch_size=batch_size,
            describe=describe,
            max_new_tokens=max_new_tokens,
            embed_fn=embed,
            callback=reporter,
        )


def _metrics(p, split: str, train_s: float) -> dict:
    """Accuracy metrics of ``p`` with the run's facts and ``p``'s decode facts."""
    from sugar_core.evaluate.metrics import compute_metrics

    m = compute_metrics(
        p.labels, p.pred, p.top5, p.class_names, raw_text=p.raw_text, candidates=p.candidates
    )
    m.update(protocol="supervised", split=split, decode=p.metrics["decode"], train_seconds=train_s)
    m.update(p.metrics)
    return m


show_field_defaults(cli, AlignConfig, OPTION_SETTINGS)
