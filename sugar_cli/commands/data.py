"""`sugar data`: import raw skeleton data sets into a sugar file; describe any sugar file."""

from __future__ import annotations

import importlib
import math
import os
import time
from pathlib import Path

import click

from sugar_cli.console import console, echo_json, handle_errors, progress, say
from sugar_cli.options import common, json_option

# subcommands kept in their own files, loaded only when asked for: name -> module
LAZY = {"show": "data_show"}
# = sugar_core.skeleton.io.FORMATS, and "auto" (a pose format named from the files)
FORMATS = ("ntu", "nw-ucla", "msr", "openpose", "mmpose", "mediapipe", "csv", "pyskl", "npz",
           "numpy", "auto")  # fmt: skip


class DataGroup(click.Group):
    def list_commands(self, ctx):
        lazy = [n for n, mod in LAZY.items() if _available(mod)]
        return sorted(super().list_commands(ctx) + lazy)

    def get_command(self, ctx, name):
        if name in LAZY and _available(LAZY[name]):
            return importlib.import_module(f"sugar_cli.commands.{LAZY[name]}").cli
        return super().get_command(ctx, name)


def _available(module: str) -> bool:
    return importlib.util.find_spec(f"sugar_cli.commands.{module}") is not None


@click.group(cls=DataGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Import raw skeleton data sets and inspect sugar files.

    \b
    Examples:
      sugar data import ../data/nw-ucla/all_sqe --format nw-ucla -o ucla.h5
      sugar data info ucla.h5
      sugar data info ucla.h5 --json
    """


@cli.command("import")
@click.argument("src", type=click.Path(path_type=Path))
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    required=True,
    help="Format of SRC (see above).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="HDF5 file to write (kind skeletons).",
)
@click.option(
    "-j",
    "--workers",
    type=click.IntRange(1),
    default=lambda: os.cpu_count() or 1,
    show_default="all cores",
    help="Processes parsing files in parallel.",
)
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Leave unreadable files out, list them on stderr and in the file's config.",
)
@click.option(
    "--classes",
    metavar="NAME|FILE",
    help="Class list: ntu60, ntu120, ... or a text file, one name per line (ntu, pyskl, npz).",
)
@click.option("--layout", help="Joint layout when the joint count is ambiguous (pyskl, npz, csv).")
@click.option(
    "--drop-list",
    type=click.Path(dir_okay=False, path_type=Path),
    help="ntu: file of sample names to leave out (the missing-skeleton lists).",
)
@click.option(
    "--max-bodies",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="ntu: bodies kept per sample after clean-up; pose formats: people tracked.",
)
@click.option(
    "--no-cleanup",
    "cleanup",
    is_flag=True,
    default=True,
    flag_value=False,
    help="ntu: keep every tracked body and every frame, as recorded.",
)
@click.option(
    "--no-file-list",
    "file_list",
    is_flag=True,
    default=True,
    flag_value=False,
    help="msr: keep all 567 sequences, not only the 557 of the CVPR 2012 list.",
)
@click.option("--split-name", help="npz: name of the file's train/test split.")
@click.option(
    "--test-fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="Pose formats: share of each class's clips (and of the subjects) held out for test.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Pose formats: draws the test part."
)
@common
@json_option("a JSON summary (counts, splits, skipped files, seconds)")
@handle_errors
def import_(src, fmt, output, as_json, **read_options):
    """Import a raw skeleton data set into one HDF5 file.

    SRC is a directory of raw files (ntu, nw-ucla, msr) or one file (pyskl, npz, numpy). Every
    sequence is stored without loss (its own length and body count) with class names, metadata
    (subject, view, camera, setup, repetition) and the standard splits. Prints the output path.
    Directory formats are written as they are read: memory stays flat in the number of files.

    \b
    Formats and the splits they bring:
      ntu       NTU RGB+D .skeleton files      xsub, xview (NTU-60) or xsub, xset (NTU-120)
      nw-ucla   CTR-GCN JSON (all_sqe)         xview
      msr       MSR Action3D *_skeleton3D.txt  xsub, as1, as2, as3
      pyskl     PYSKL / MMAction2 .pkl         the pickle's own split lists
      npz       CTR-GCN x_train/y_train/...    one, named from the file (CS -> xsub, ...)
      numpy     sugar's plain .npz             its split_<name> arrays
      openpose  OpenPose JSON, folder per clip default; xsub (an index with subjects)
      mmpose    MMPose / RTMPose .json         default; xsub (an index with subjects)
      mediapipe MediaPipe .csv / .json         default; xsub (an index with subjects)
      csv       frame,person,joint,x,y... CSV  default; xsub (an index with subjects)
      auto      one of these four, recognised in the files (said on stderr)

    For the pose formats SRC holds one sub-folder per class (its name is the class), or is an
    index CSV with columns file,label[,subject]. Split default holds out --test-fraction of
    each class's clips (seeded); xsub, when subjects are given, that share of the subjects.

    \b
    Examples:
      sugar data import ../data/nw-ucla/all_sqe --format nw-ucla -o ucla.h5
      sugar data import ../data/msr-action3d --format msr -o msr.h5
      sugar data import nturgb+d_skeletons --format ntu --drop-list missing.txt -o ntu.h5
      sugar data import ntu60_3danno.pkl --format pyskl -o ntu60.h5
      sugar data import my-clips --format auto -o mine.h5
    """
    from sugar_core.outputs import check_output
    from sugar_core.skeleton.io import ReadOptions
    from sugar_core.skeleton.streaming import import_to_file

    drop_list = read_options.pop("drop_list")
    check_output(output, inputs=[src, drop_list])
    opts = ReadOptions(drop_list=str(drop_list) if drop_list else None, **read_options)
    if fmt == "auto":
        from sugar_core.skeleton.readers.detect import detect_format

        fmt, seen = detect_format(src)
        say(f"--format auto: {fmt} ({seen})", markup=False)
    start = time.perf_counter()
    read_end = [start]  # when the last file was read: the rest is finishing the file

    def advance_to(n: int, total: int) -> None:
        advance(n, total=total)
        read_end[0] = time.perf_counter()

    with progress(f"importing {fmt}", total=None) as advance:
        imported = import_to_file(src, fmt, output, opts, on_progress=advance_to)
    for s in imported.skipped:
        console.print(f"skipped {s.message()}", markup=False, highlight=False, soft_wrap=True)
    read_s = read_end[0] - start
    summary = _import_summary(imported, output, read_s, time.perf_counter() - read_end[0])
    if as_json:
        echo_json(summary)
    else:
        click.echo(str(output))


def _import_summary(imported, output, read_s: float, write_s: float) -> dict:
    data = imported.data
    splits = {n: {"train": int((a == 1).sum()), "test": int((a == 0).sum())}
              for n, a in data.splits.items()}  # fmt: skip
    text = ", ".join(f"{n} {c['train']}/{c['test']}" for n, c in splits.items())
    skipped = f", skipped {len(imported.skipped)}" if imported.skipped else ""
    say(
        f"{len(data)} samples, {len(data.class_names)} classes, layout {data.layout}, splits "
        f"{text or 'none'}{skipped}; read {imported.files} files in {read_s:.1f} s, "
        f"wrote {output} in {write_s:.1f} s",
        markup=False,
    )
    return {
        "output": str(output), "n": len(data), "classes": len(data.class_names),
        "layout": data.layout, "splits": splits, "files": imported.files,
        "skipped": [s.as_dict() for s in imported.skipped], "read_seconds": read_s,
        "write_seconds": write_s,
    }  # fmt: skip


@cli.command("info")
@click.argument("file", type=click.Path(path_type=Path))
@json_option("the description as JSON")
@handle_errors
def info(file, as_json):
    """Describe a sugar file: counts per class and split, lengths, layout.

    Any sugar file works. Skeletons: counts per class and split, lengths, bodies. Tokens: the
    encoder and its run (epochs, the selected one, the validation rule, the validation and
    test figures). Aligned / zero-shot / ensemble files: the stored metrics, and for aligned
    files the bridge, LLM, prompt, calibration and read-out. Then the shape of every dataset
    (a group of more than six, such as weights, as one row). Without --json the description
    goes to stderr.

    \b
    Examples:
      sugar data info ucla.h5
      sugar data info ucla.h5 --json | jq '.summary.splits'
      sugar data info tokens.h5 --json | jq '.summary.run.figures'
      sugar data info aligned.h5
    """
    from sugar_core.pipeline.info import describe

    desc = describe(file)
    if as_json:
        echo_json(desc)
    else:
        _print_description(desc)


def _print_description(desc: dict) -> None:
    from rich.table import Table
    from rich.text import Text

    line(
        f"{desc['path']}: kind {desc['kind']}, schema {desc['schema_version']}, "
        f"sugar {desc['sugar_version']}, created {desc['created_utc']}, seed {desc.get('seed')}"
    )
    config = desc.get("config") or {}
    if config.get("stage") == "data import":
        line(
            f"imported from {config.get('source')} (format {config.get('format')}, "
            f"{config.get('files')} files, {len(config.get('skipped', []))} skipped)"
        )
    summary = desc.get("summary")
    if desc["kind"] == "tokens":
        _print_tokens(summary)
    elif summary is not None and "off_list" in summary:
        _print_predictions(summary)
    if desc["kind"] != "skeletons":
        table = Table("dataset", "shape", "dtype", title="datasets")
        for name, shape, dtype in _grouped(desc["datasets"]):
            table.add_row(Text(name), shape, dtype)
        console.print(table)
        return
    lengths = summary["lengths"]
    bodies = ", ".join(f"{n} with {k}" for k, n in summary["bodies"].items())
    line(
        f"{summary['n']} samples, layout {summary['layout']}, {summary['channels']} channels, "
        f"bodies: {bodies}"
    )
    line(
        f"lengths: min {lengths['min']}, median {lengths['median']:g}, mean "
        f"{lengths['mean']:.1f}, max {lengths['max']} ({lengths['frames']} frames)"
    )
    if summary["splits"]:
        table = Table("split", "train", "test", "unused", title="splits")
        for name, c in summary["splits"].items():
            table.add_row(Text(name), str(c["train"]), str(c["test"]), str(c["unused"]))
        console.print(table)
    table = Table("id", "class", "samples", title=f"{len(summary['classes'])} classes")
    for c in summary["classes"]:
        table.add_row(str(c["id"]), Text(c["name"]), str(c["count"]))
    console.print(table)


def line(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _figures(figures: dict) -> str:
    return ", ".join(f"{k} {100 * v:.1f}" for k, v in figures.items() if v is not None) or "none"


def _print_tokens(s: dict) -> None:
    per, enc, run = s["tokens_per_sample"], s["encoder"], s["run"]
    line(
        f"{s['n']} samples, {s['classes']} classes, split {s['train_split']}, layout "
        f"{s['layout']}; tokens of width {s['dim']}, "
        + (
            f"{per['min']} a sample"
            if per["min"] == per["max"]
            else f"{per['min']} to {per['max']} a sample (median {per['median']:g})"
        )
    )
    line(
        f"encoder: preset {enc['preset']}, stream {enc['stream']}, token layout "
        f"{enc['token_layout']}, {enc['values']:,} stored values"
    )
    kept = run["validation_rows_kept"]
    line(
        f"run: {run['epochs']} epochs, selected {run['selected_epoch']}, validation "
        f"{run['validation']} ({run['val_n']} samples; "
        f"{'not recorded' if kept is None else f'{kept} rows kept'}), test {run['test_n']}"
        + (f", phase {run['phase']}" if run["phase"] else "")
    )
    line(f"%: {_figures(run['figures'])}")


def _print_predictions(s: dict) -> None:
    m = s["metrics"]
    line(
        f"{s['n']} predictions, {s['classes']} classes, {s['off_list']} off the list"
        + "".join(
            f", {k.replace('_', ' ')} {m[k]}"
            for k in ("protocol", "split", "unseen_split")
            if m.get(k)
        )
    )
    shown = {k: v for k, v in m.items() if k in ("top1", "top5", "mean_class_acc") or "_top1" in k}
    line(f"%: {_figures(shown)}")
    if "model" in s:
        md = s["model"]
        line(
            f"model: {md['llm']}, bridge {md['bridge']} ({md['action_tokens']} queries, "
            f"{md['bridge_values']:,} values), prompt {md['prompt']}, LoRA {md['lora']}, "
            f"{md['epochs']} epochs on {md['prompt_classes']} classes, calibration "
            f"{md['calibration'] or 'none'}, read-out {md['readout'] or 'llm'}"
        )


def _grouped(datasets: dict, most: int = 6) -> list[tuple[str, str, str]]:
    """Rows of the datasets table: a group with more than ``most`` datasets (weights) becomes
    one row, ``name/ (n arrays)`` with the number of values they hold."""
    groups: dict[str, list] = {}
    for name, ds in datasets.items():
        groups.setdefault(name.rsplit("/", 1)[0] if "/" in name else name, []).append((name, ds))
    rows = []
    for group, items in groups.items():
        if len(items) > most:
            size = sum(math.prod(ds["shape"]) for _, ds in items)
            dtypes = ", ".join(sorted({ds["dtype"] for _, ds in items}))
            rows.append((f"{group}/ ({len(items)} arrays)", f"{size:,} values", dtypes))
        else:
            rows += [(n, str(tuple(ds["shape"])), ds["dtype"]) for n, ds in items]
    return rows
