"""`sugar recipes`: the settings files shipped with the package, for --config NAME."""

from __future__ import annotations

import click

from sugar_cli.console import console, echo_json, handle_errors
from sugar_cli.options import json_option


@click.command("recipes")
@click.argument("name", required=False)
@json_option("the recipes (or NAME's settings) as JSON")
@handle_errors
def cli(name, as_json):
    """List the shipped recipes, or print one recipe's settings.

    A recipe is a JSON file of settings with one section per command (tokenize, align,
    zeroshot, demo). Every training command takes one with --config NAME (or a file of your
    own in the same form), and --set KEY=VALUE on top.

    \b
    Examples:
      sugar recipes
      sugar recipes nwucla
      sugar tokenize ucla.h5 --priors p.h5 --split xview --config nwucla -o tokens.h5
      sugar align tokens.h5 --priors p.h5 --config nwucla -o aligned.h5
    """
    from sugar_core import settings

    if name is None:
        found = settings.recipes()
        if as_json:
            echo_json(found)
            return
        for key, text in found.items():
            console.print(f"[bold]{key}[/bold]: {text}", highlight=False)
        click.echo("\n".join(found))
        return
    d = settings.read_file(name) if name in settings.recipes() else None
    if d is None:
        raise click.BadParameter(f"no recipe {name!r}; known: {', '.join(settings.recipes())}")
    if as_json:
        echo_json(d)
    else:
        import json

        click.echo(json.dumps(d, indent=2))
