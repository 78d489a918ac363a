"""The `sugar` entry point. Subcommands load lazily so `sugar --help` stays fast."""

from __future__ import annotations

import importlib

import click

from sugar_core.version import __version__

# command name -> (module under sugar_cli.commands, one-line help shown by `sugar --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("data", "Import raw skeleton datasets and inspect sugar files."),
    "priors": ("priors", "Write motion and visual text priors for every class."),
    "tokenize": ("tokenize", "Train the knowledge-supervised encoder and write token sequences."),
    "align": ("align", "Train TQP (+ LoRA) into a frozen LLM and predict the test split."),
    "eval": ("eval", "Metrics, per-class report and plots for predictions."),
    "ensemble": ("ensemble", "Fuse the class scores of several streams or models (late fusion)."),
    "zeroshot": ("zeroshot", "Recognise classes never trained on, under named protocols."),
    "predict": ("predict", "Name and describe the action in raw skeleton files."),
    "demo": ("demo", "Run the whole pipeline on an embedded synthetic dataset."),
    "recipes": ("recipes", "List the shipped settings recipes (--config NAME)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [name for name, (mod, _) in COMMANDS.items() if _available(mod)]

    def get_command(self, ctx, name):
        if name not in COMMANDS or not _available(COMMANDS[name][0]):
            return None
        module = importlib.import_module(f"sugar_cli.commands.{COMMANDS[name][0]}")
        return module.cli

    def format_commands(self, ctx, formatter):
        rows = [(n, COMMANDS[n][1]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(module: str) -> bool:
    return importlib.util.find_spec(f"sugar_cli.commands.{module}") is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="sugar")
def cli():
    """Skeleton action recognition with text priors and a frozen LLM.

    Each stage reads and writes one HDF5 file, so stages chain in a shell:

    \b
    Examples:
      sugar data import ../data/nw-ucla/all_sqe --format nw-ucla -o ucla.h5
      sugar priors --classes-from ucla.h5 --backend builtin -o priors.h5
      sugar tokenize ucla.h5 --priors priors.h5 --split xview -o tokens.h5
      sugar align tokens.h5 --priors priors.h5 -o aligned.h5
      sugar eval aligned.h5 --json
    """


if __name__ == "__main__":  # pragma: no cover
    cli()
