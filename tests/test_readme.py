"""The README's Python API example runs as written (real MiniLM and SmolLM2, tiny settings)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

README = REPO / "README.md"


def _example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_example_uses_only_public_names():
    import sugar_core

    used = set(re.findall(r"\bsg\.(\w+)", _example()))
    assert used and used <= set(sugar_core.__all__), used - set(sugar_core.__all__)


@pytest.mark.integration
def test_python_api_example_runs(capsys):
    from sugar_core.models import minilm_path, smollm2_available

    if minilm_path() is None or not smollm2_available():
        pytest.skip("MiniLM or SmolLM2 package not installed")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        exec(compile(_example(), str(README), "exec"), {"__name__": "readme"})
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert re.search(r"top-1 \d\.\d\d on \d+ test samples", out), out
