"""`sugar data show`: render one sample of a skeletons file as an animated GIF."""

from __future__ import annotations

import click

from sugar_cli.console import console, handle_errors


@click.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--sample",
    "key",
    required=True,
    help="Sample id, or 0-based index (negative counts from the end).",
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="GIF to write."
)
@click.option("--fps", default=15, show_default=True, type=click.IntRange(1, 120))
@handle_errors
def show(file, key, output, fps):
    """Draw one sample's skeleton as an animated GIF.

    Bones of every body are drawn on the x-y plane (left side blue, right side red), with
    axes fixed over the whole clip. Prints the GIF's path on stdout.

    \b
    Examples:
      sugar data show ucla.h5 --sample a01_s01_e00_v01 -o clip.gif
      sugar data show ucla.h5 --sample 0 -o first.gif --fps 30
      sugar data show demo.h5 --sample -1 -o last.gif
    """
    from sugar_core.outputs import check_output
    from sugar_core.skeleton.render import animate, read_sample

    check_output(output, inputs=[file])
    sample, layout, names = read_sample(file, key)
    title = f"{sample.sample_id}: {names[sample.label]}"
    frames = animate(sample.joints, layout, output, fps=fps, title=title)
    console.print(
        f"{file}: sample {sample.sample_id} ({names[sample.label]}), {frames} frames, "
        f"{sample.bodies} bod{'y' if sample.bodies == 1 else 'ies'}, {layout} -> {output}"
    )
    click.echo(output)


cli = show
