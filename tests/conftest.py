"""Shared test fixtures: where the real data lives, seeded generators, quiet torch threads, and
the tiny models that several folders use (built once per run, never written to afterwards)."""

from __future__ import annotations

import os
import signal
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
def _ctrl_c_as_in_a_terminal():
    """Python's own SIGINT handler in every test, as a user's terminal has it: a shell that
    starts the suite in the background leaves SIGINT ignored, and the Ctrl-C tests would then
    fail (nothing is delivered) or skip."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep each test session's sugar cache out of the user's home, but share it across tests
    so the default LLM is converted at most once per run."""
    if "SUGAR_CACHE" not in os.environ:
        monkeypatch.setenv("SUGAR_CACHE", str(tmp_path_factory.getbasetemp() / "sugar-cache"))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one torch thread is faster, and immune to other jobs on the shared cores.

    A module that trains or runs them asks for it before its own module fixtures build
    anything: ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory) -> Path:
    """The tiny random LLaMA of ``helpers.llm`` (seed 0) as a transformers folder."""
    from tests.helpers.llm import save_tiny_llama

    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llm") / "llm")


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """The tiny random BERT text encoder of ``helpers.encoders`` as a transformers folder."""
    from tests.helpers.encoders import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert") / "bert")
