"""`sugar align`: train TQP (+ LoRA) into a frozen LLM, predict the test split, write aligned.h5."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import click

from sugar_cli.util import console, echo_json, embedder, handle_errors, progress

BRIDGES = ("tqp", "qformer", "linear", "pool")


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


@click.command("align")
@click.argument("tokens", type=click.Path(dir_okay=False))
@click.option(
    "--priors",
    "priors_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Priors file: its descriptions form the training answers.",
)
@click.option(
    "--llm",
    default="smollm2",
    show_default=True,
    help="smollm2, a local model folder, or a hub id (AutoModelForCausalLM).",
)
@click.option("--split", default=None, help="Split to train/test on [default: the tokens' own].")
@click.option(
    "--bridge",
    type=click.Choice(BRIDGES),
    default="tqp",
    show_default=True,
    help="tqp, one qformer over the whole sequence, linear (resampled), pool.",
)
@click.option("--queries", default=16, show_default=True, help="Action tokens given to the LLM.")
@click.option("--chunk", default=4, show_default=True, help="Tokens per TQP step.")
@click.option("--width", default=256, show_default=True, help="Q-Former width.")
@click.option("--depth", default=1, show_default=True, help="Q-Former layers per step.")
@click.option("--heads", default=4, show_default=True, help="Q-Former attention heads.")
@click.option(
    "--standardize/--no-standardize",
    default=False,
    show_default=True,
    help="Scale each token channel by the train tokens' mean and std before the bridge.",
)
@click.option("--lora-r", default=64, show_default=True, help="LoRA rank.")
@click.option("--lora-alpha", default=16, show_default=True, help="LoRA alpha.")
@click.option(
    "--lora-targets",
    default="q_proj,v_proj",
    show_default=True,
    help="Comma-separated module names that get adapters.",
)
@click.option("--no-lora", is_flag=True, help="Train the bridge alone.")
@click.option("--epochs", default=1, show_default=True)
@click.option("--lr", default=1e-3, show_default=True)
@click.option("--batch-size", default=8, show_default=True, help="Samples per device per step.")
@click.option("--grad-accum", default=1, show_default=True, help="Steps per optimizer update.")
@click.option(
    "--token-noise",
    default=0.0,
    show_default=True,
    help="Training: Gaussian noise on the tokens, in units of their per-channel std.",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default="fp32",
    show_default=True,
    help="bf16 = autocast (fast on GPUs and AMX CPUs).",
)
@click.option(
    "--llm-dtype",
    type=click.Choice(["float32", "bfloat16", "float16"]),
    default="float32",
    show_default=True,
    help="LLM weights in memory (7B: bfloat16).",
)
@click.option("--gradient-checkpointing", is_flag=True, help="Save LLM memory (7B).")
@click.option(
    "--max-description-tokens",
    default=32,
    show_default=True,
    help="Training answers' descriptions are cut to this many tokens.",
)
@click.option(
    "--prompt",
    "prompt_kind",
    type=click.Choice(["paper", "list-first"]),
    default="paper",
    show_default=True,
    help="list-first puts the action list before the action tokens: a shorter per-sample prompt.",
)
@click.option(
    "--decode",
    type=click.Choice(["rank", "generate"]),
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
@click.option("--max-new-tokens", default=48, show_default=True)
@click.option(
    "--match-encoder",
    default="auto",
    show_default=True,
    help="generate: text encoder for the closest-name rule (auto = the priors', none).",
)
@click.option("--predict-batch", default=16, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False),
    help="Folder for checkpoints (needed by --resume).",
)
@click.option(
    "--checkpoint-every",
    default=0,
    show_default=True,
    help="Optimizer steps between checkpoints (0 = each epoch end).",
)
@click.option("--resume", is_flag=True, help="Continue training from --run-dir.")
@click.option("--cpu", is_flag=True, help="Stay on CPU even with a GPU.")
@click.option("--threads", type=int, default=None, help="torch CPU threads.")
@click.option("--json", "as_json", is_flag=True, help="Print metrics as JSON on stdout.")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="aligned.h5 to write."
)
@handle_errors
def cli(tokens, priors_path, llm, split, bridge, queries, chunk, width, depth, heads, standardize,
        lora_r, lora_alpha, lora_targets, no_lora, epochs, lr, batch_size, grad_accum, token_noise,
        precision, llm_dtype, gradient_checkpointing, max_description_tokens, prompt_kind,
        decode, describe, max_new_tokens, match_encoder, predict_batch, seed, run_dir,
        checkpoint_every, resume, cpu, threads, as_json, output):  # fmt: skip
    """Train TQP (+ LoRA) into a frozen LLM, then name and describe the test samples.

    The LLM's own weights never change. Prompt: "Given a sequence of action tokens <action>,
    please choose the most compatible action from: [...], and describe the action."; answer
    "{class}. description". --decode rank scores every listed class (top-5, never off the
    list); generate parses the class from the braces. Writes predictions, metrics and the
    trained weights (kind aligned); stdout gets the output path. With SmolLM2 on NW-UCLA the
    best measured setting is --bridge pool --prompt list-first (README, Results).

    \b
    Examples:
      sugar align tokens.h5 --priors priors.h5 -o aligned.h5
      sugar align tokens.h5 --priors priors.h5 --decode generate --epochs 3 -o aligned.h5
      sugar align tokens.h5 --priors priors.h5 --bridge pool --prompt list-first -o pool.h5
      sugar align tokens.h5 --priors priors.h5 --bridge pool --no-lora -o pool.h5
      sugar align tokens.h5 --priors priors.h5 --run-dir runs/a --resume -o aligned.h5
      accelerate launch --multi_gpu -m sugar_cli.main align tokens.h5 --priors priors.h5 \\
          --llm meta-llama/Llama-2-7b-hf --llm-dtype bfloat16 --precision bf16 \\
          --gradient-checkpointing --grad-accum 8 -o aligned.h5
    """
    import torch

    from sugar_core.align.bridges import BridgeConfig
    from sugar_core.align.llm import LLMConfig
    from sugar_core.align.training import AlignConfig, predict, save_aligned, train_alignment
    from sugar_core.errors import ConfigError
    from sugar_core.evaluate.metrics import compute_metrics
    from sugar_core.predictions import Predictions
    from sugar_core.priors.store import read_priors
    from sugar_core.schema import input_record
    from sugar_core.tokenize.store import read_tokens

    if threads:
        torch.set_num_threads(threads)
    if resume and not run_dir:
        raise ConfigError("--resume needs --run-dir (the folder holding the checkpoint)")
    if Path(output).is_dir():
        raise ConfigError(f"{output}: is a directory, expected an .h5 file path")
    _quiet_transformers()
    ts = read_tokens(tokens, weights=False)
    pr = read_priors(priors_path)
    split = split or ts.train_split
    if not split:
        raise ConfigError(f"{tokens}: records no training split; pass --split")
    test = ts.split_indices(split, "test")
    if len(test) == 0:
        raise ConfigError(f"{tokens}: split {split!r} has no test samples")
    cfg = AlignConfig(
        bridge=BridgeConfig(kind=bridge, queries=queries, chunk=chunk, width=width,
                            depth=depth, heads=heads, standardize=standardize),
        llm=LLMConfig(spec=llm, lora=not no_lora, lora_r=lora_r, lora_alpha=lora_alpha,
                      lora_targets=[t.strip() for t in lora_targets.split(",") if t.strip()],
                      dtype=llm_dtype, gradient_checkpointing=gradient_checkpointing,
                      max_description_tokens=max_description_tokens, prompt=prompt_kind),
        epochs=epochs, lr=lr, batch_size=batch_size, grad_accum=grad_accum,
        precision=precision, token_noise=token_noise, seed=seed,
        checkpoint_every=checkpoint_every, cpu=cpu,
    )  # fmt: skip
    cfg.check()

    # 1. train
    from accelerate import PartialState

    main = PartialState().is_main_process
    n_train = len(ts.split_indices(split, "train"))
    total = cfg.epochs * -(-n_train // (cfg.batch_size * PartialState().num_processes))
    t0 = time.perf_counter()
    with progress("align: train", total=total, disable=not main) as advance:
        done = [0]

        every = max(1, total // 20)

        def on_train(ev):
            info = f"epoch {ev['epoch']} loss {ev['loss']:.3f}"
            advance(ev["step"] - done[0], info=info)
            done[0] = ev["step"]
            if main and not console.is_terminal and ev["step"] % every == 0:  # logs: a line
                console.print(f"train step {ev['step']}/{ev['total']} {info}")

        model = train_alignment(ts, pr, cfg, split, callback=on_train, run_dir=run_dir,
                                resume=resume)  # fmt: skip
    train_s = time.perf_counter() - t0
    if not main:
        return

    # 2. predict the test split
    embed = embedder(match_encoder, pr.encoder_id) if decode == "generate" else None
    with progress(f"align: predict ({decode})", total=len(test)) as advance:
        done[0] = 0

        def on_predict(ev):
            advance(ev["step"] - done[0])
            if main and not console.is_terminal:  # logs: a line per batch
                console.print(f"predict {ev['step']}/{ev['total']}")
            done[0] = ev["step"]

        dec = predict(model, [ts.tokens[i] for i in test], model.class_names, decode=decode,
                      batch_size=predict_batch, describe=describe, max_new_tokens=max_new_tokens,
                      embed_fn=embed, callback=on_predict)  # fmt: skip

    # 3. metrics and the file
    import numpy as np

    cand = np.array([ts.class_names.index(n) for n in model.class_names], dtype=np.int64)
    to_class = lambda a: np.where(a >= 0, cand[np.clip(a, 0, None)], -1)  # noqa: E731
    pred, top5 = to_class(dec.pred), to_class(dec.top5)
    labels = ts.labels[test]
    metrics = compute_metrics(labels, pred, top5, ts.class_names, raw_text=dec.raw_text,
                              candidates=cand)  # fmt: skip
    metrics.update(
        protocol="supervised", split=split, decode=decode, train_seconds=train_s,
        predict_seconds=dec.seconds, seconds_per_sample=dec.seconds / len(test),
        match_rules={h: dec.how.count(h) for h in sorted(set(dec.how))},
    )  # fmt: skip
    p = Predictions(
        labels=labels, pred=pred, top5=top5, class_names=ts.class_names,
        sample_ids=[ts.sample_ids[i] for i in test], scores=dec.scores, raw_text=dec.raw_text,
        description=dec.description, candidates=cand, features=ts.features[test],
        metrics=metrics,
    )  # fmt: skip
    run = dict(cfg.to_dict(), split=split, decode=decode, describe=describe,
               max_new_tokens=max_new_tokens)  # fmt: skip
    save_aligned(output, model, p, config=run, inputs=input_record([tokens, priors_path]))
    console.print(
        f"[bold]{output}[/bold]  split {split}  decode {decode}  n {metrics['n']}  "
        f"top-1 [bold green]{100 * metrics['top1']:.1f}%[/bold green]  "
        f"top-5 {100 * metrics['top5']:.1f}%  off-list {100 * metrics['off_list_rate']:.1f}%  "
        f"train {train_s:.0f}s  predict {dec.seconds / len(test):.2f}s/sample"
    )
    if as_json:
        echo_json({k: metrics[k] for k in ("top1", "top5", "mean_class_acc", "n",
                                           "off_list_rate", "protocol", "split", "decode",
                                           "train_seconds", "seconds_per_sample")})  # fmt: skip
    else:
        click.echo(output)
