"""`sugar tokenize`: train the stage-1 encoder (or reuse one) and write every sample's tokens."""

from __future__ import annotations

from pathlib import Path

import click

from sugar_cli.checks import EPOCHS, report_warnings, strict_option
from sugar_cli.console import Reporter, console, echo_json, handle_errors
from sugar_cli.options import (
    common,
    json_option,
    settings_options,
    show_field_defaults,
    usage_errors,
)
from sugar_core.outputs import check_output
from sugar_core.tokenize.config import TokenizeConfig


@click.command("tokenize")
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--priors",
    "priors_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Priors file (kind priors); required unless --encoder is given.",
)
@click.option("--split", default=None, help="Split in DATA whose train part trains the encoder.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Tokens file to write (kind tokens).",
)
@click.option(
    "--preset",
    type=click.Choice(["small", "paper"]),
    default=None,
    help="Encoder size: small for CPUs, paper (CTR-GCN) for GPUs [small].",
)
@click.option(
    "--objective",
    type=click.Choice(["mil-nce", "ce", "both"]),
    default=None,
    help="Training loss [mil-nce].",
)
@click.option(
    "--epochs",
    type=EPOCHS,
    default=None,
    help="Passes over the training part: N, or auto = max(min_epochs, enough epochs for "
    "min_steps optimiser steps) [auto].",
)
@click.option(
    "--batch-size", type=int, default=None, help="Global batch, split across processes [32]."
)
@click.option("--lr", type=float, default=None, help="Peak learning rate [0.05, SGD].")
@click.option(
    "--seed", type=int, default=None, help="Seed of weights, batches and augmentation [0]."
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default=None,
    help="fp32, or bf16 autocast where the device has it [fp32].",
)
@settings_options
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Checkpoint folder (default: OUTPUT with suffix .run).",
)
@click.option("--resume", is_flag=True, help="Continue the run checkpointed in --run-dir.")
@click.option(
    "--encoder",
    "encoder_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Reuse the encoder in this tokens file; no training.",
)
@click.option(
    "--workers", type=int, default=None, help="DataLoader processes preparing batches [0]."
)
@click.option(
    "--eval-every", type=int, default=None, help="Validate every N epochs, 0 = never [1]."
)
@common
@json_option("a JSON summary (sizes, last validation, schedule, warnings)")
@strict_option
@handle_errors
def cli(
    data,
    priors_path,
    split,
    output,
    preset,
    objective,
    epochs,
    batch_size,
    lr,
    seed,
    precision,
    config_file,
    sets,
    run_dir,
    resume,
    encoder_path,
    workers,
    eval_every,
    as_json,
    strict,
):
    """Train the knowledge-supervised skeleton encoder and write token sequences.

    Trains a CTR-GCN-style encoder on the train part of --split against the class texts in
    --priors (or reuses the encoder of an earlier tokens file), then writes every sample's
    token sequence, pooled and text-space features, and the trained weights to OUTPUT.
    Runs unchanged under `accelerate launch` on several processes or GPUs.

    \b
    Examples:
      sugar tokenize ucla.h5 --priors priors.h5 --split xview -o tokens.h5
      sugar tokenize small.h5 --priors priors.h5 --split xsub -o t.h5 --strict --json
      sugar tokenize ucla.h5 --priors priors.h5 --split xview -o t.h5 --objective both --epochs 40
      sugar tokenize ucla.h5 --priors priors.h5 --split xview -o t.h5 --resume
      sugar tokenize msr.h5 --priors p.h5 --split xsub -o t.h5 --epochs 120 \\
          --set prep.stream=joint+bone --set prep.body_scale=true --config mine.json
      sugar tokenize ucla.h5 --priors priors.h5 --split xview -o parts.h5 \\
          --set token_layout=time-parts --set part_weight=0.5
      sugar tokenize other.h5 --encoder tokens.h5 -o other-tokens.h5
      accelerate launch -m sugar_cli.main tokenize ntu.h5 --priors p.h5 --split xsub \\
          --preset paper --precision bf16 -o ntu-tokens.h5
    """
    from sugar_core.accel import make_accelerator
    from sugar_core.skeleton.lazy_set import open_skeletons

    named = dict(
        preset=preset,
        objective=objective,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        precision=precision,
        workers=workers,
        eval_every=eval_every,
    )
    with usage_errors():
        cfg = _settings(named, config_file, sets, reuse=encoder_path is not None)
    check_output(output, inputs=[data, priors_path, encoder_path])
    skeletons = open_skeletons(data)  # joints read per sample when the file is large
    acc = make_accelerator(cfg.precision)
    sources = (data, priors_path, encoder_path)
    ts, config, inputs = _tokens(skeletons, sources, split, output, acc, cfg, run_dir, resume)
    trained = encoder_path is None and bool(ts.history)
    warnings = ts.history[-1].get("warnings", []) if trained else []
    if acc.is_main_process or strict:  # every process stops alike under --strict
        report_warnings(warnings, strict)
    if acc.is_main_process:
        from sugar_core.tokenize.store import write_tokens

        write_tokens(ts, output, config=config, seed=config.get("seed"), inputs=inputs)
        _report(ts, output, acc.num_processes, as_json, warnings)
    acc.wait_for_everyone()


def _tokens(skeletons, sources, split, output, acc, cfg, run_dir, resume):
    """(token set, config, input record): reused from --encoder, or trained on --priors."""
    from sugar_core import schema
    from sugar_core.errors import ConfigError

    data, priors_path, encoder_path = sources
    if encoder_path is not None:
        ts, config = _reuse(skeletons, encoder_path, acc)
        return ts, config, schema.input_record([data, encoder_path])
    if priors_path is None or split is None:
        raise ConfigError("training needs --priors and --split (or give --encoder)")
    ts, config = _train(skeletons, priors_path, split, output, acc, cfg, run_dir, resume)
    return ts, config, schema.input_record([data, priors_path])


def _settings(named: dict, config_file, sets, reuse: bool):
    """The TokenizeConfig of --config, --set and the named options (later wins); with
    --encoder (``reuse``) any training setting but --precision is a mistake."""
    from sugar_core import settings
    from sugar_core.errors import ConfigError
    from sugar_core.tokenize.config import TokenizeConfig

    given = [f"--{k.replace('_', '-')}" for k, v in named.items() if v is not None]
    given = given + ["--config"] * bool(config_file) + ["--set"] * bool(sets)
    if reuse and [g for g in given if g != "--precision"]:
        raise ConfigError(
            f"--encoder reuses a trained encoder; training options {given} do not apply"
        )
    merged, where = settings.layered(config_file, sets, named, command="tokenize")
    return TokenizeConfig.from_settings(merged, where)


def _report(ts, output, world_size: int, as_json: bool, warnings: list[str]) -> None:
    """The output path on stdout, or with --json a summary with the last validation, the
    schedule and the health ``warnings`` of the validation part."""
    if not as_json:
        click.echo(str(output))
        return
    last = ts.history[-1] if ts.history else {}
    echo_json(
        {
            "output": str(output),
            "n": len(ts),
            "ls": int(ts.tokens[0].shape[0]),
            "d": ts.dim,
            "world_size": world_size,
            **{k: v for k, v in last.items() if k.startswith(("val_", "test_"))},
            **{k: last[k] for k in ("validation", "selected_epoch", "schedule") if k in last},
            "warnings": warnings,
        }
    )


def _train(skeletons, priors_path, split, output, acc, cfg, run_dir, resume):
    from sugar_core import schema
    from sugar_core.priors.store import read_priors
    from sugar_core.tokenize.encoding import encode, take_validation_rows
    from sugar_core.tokenize.training import train_encoder

    priors = read_priors(priors_path)
    run_dir = run_dir or output.with_name(output.name + ".run")
    with Reporter() as reporter:
        enc, heads, history = train_encoder(
            skeletons,
            priors,
            cfg,
            split,
            callback=reporter,
            run_dir=run_dir,
            resume=resume,
            accelerator=acc,
        )
    history, rows = take_validation_rows(history)  # rows of skeletons: the ones encoded
    ts = encode(
        skeletons,
        enc,
        heads,
        prep=cfg.prep,
        accelerator=acc,
        history=history,
        train_split=split,
        priors_sha256=schema.sha256(priors_path),
        encoder_validation=rows,
    )
    if acc.is_main_process:
        console.print(f"checkpoints in {run_dir}")
    return ts, {**cfg.to_dict(), "run_dir": str(run_dir)}


def _reuse(skeletons, encoder_path, acc):
    from sugar_core.tokenize.encoding import encode
    from sugar_core.tokenize.store import load_encoder, read_provenance

    trained = load_encoder(encoder_path)
    # no encoder_validation: the encoder's validation rows were rows of the data it trained on
    ts = encode(
        skeletons,
        trained.encoder.to(acc.device),
        trained.heads.to(acc.device),
        prep=trained.prep,
        accelerator=acc,
        **read_provenance(encoder_path),
    )
    return ts, {"encoder": str(encoder_path), "encoder_config": ts.encoder_config}


# options that override a TokenizeConfig field of the same name; --help shows its default
FIELDS = ("preset", "objective", "epochs", "batch_size", "lr", "seed", "precision", "workers",
          "eval_every")  # fmt: skip
show_field_defaults(cli, TokenizeConfig, {name: name for name in FIELDS})
