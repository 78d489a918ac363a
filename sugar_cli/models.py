"""Model loading as the CLI wants it: quiet transformers, the optional answer matcher."""

from __future__ import annotations

import warnings

from sugar_cli.console import console


def quiet_transformers() -> None:
    """transformers' own logs, warnings and download bars off: stderr is ours."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


def embedder(spec: str, priors_encoder: str):
    """The text encoder for the closest-by-embedding rule, or None (with a note) if unavailable."""
    from sugar_core.errors import SugarError
    from sugar_core.priors.encoders import load_text_encoder

    if spec == "auto":
        spec = priors_encoder.split("@", 1)[0] or "minilm"
    if spec == "none":
        return None
    try:
        return load_text_encoder(spec).encode
    except (SugarError, OSError) as exc:
        console.print(f"[yellow]note:[/yellow] no embedding matcher ({exc}); exact rules only")
        return None
