"""``python -m sugar_cli``: the same as the ``sugar`` command."""

from sugar_cli.main import cli

cli(prog_name="sugar")
