"""Shared test fixtures: where the real data lives, seeded generators, quiet torch threads."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SUGAR_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not present: {p}")
    return p


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep each test session's sugar cache out of the user's home, but share it across tests
    so the default LLM is converted at most once per run."""
    if "SUGAR_CACHE" not in os.environ:
        monkeypatch.setenv("SUGAR_CACHE", str(tmp_path_factory.getbasetemp() / "sugar-cache"))
