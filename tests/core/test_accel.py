"""bf16 on a CPU without bf16 matrix units: the flags read, and the note the stages send."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core import accel
from sugar_core.tokenize.training import train_encoder
from tests.helpers.tokenize import tiny_priors, tiny_set
from tests.tokenize.test_training import _cfg


def test_flags_are_read_from_the_first_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 amx_bf16\n\nflags\t: fpu\n")
    assert accel.cpu_flags(str(info)) == {"fpu", "sse", "avx2", "amx_bf16"}
    info.write_text("processor\t: 0\n")
    assert accel.cpu_flags(str(info)) is None
    assert accel.cpu_flags(str(tmp_path / "missing")) is None


@pytest.mark.parametrize(
    "precision, device, flags, noted",
    [
        ("bf16", "cpu", {"avx2", "fma"}, True),  # AVX2 only: the slow case
        ("bf16", "cpu", {"avx512f", "avx512_bf16"}, False),
        ("bf16", "cpu", {"amx_tile", "amx_bf16"}, False),
        ("bf16", "cpu", None, False),  # flags unknown: no guess
        ("bf16", "cuda", {"avx2"}, False),
        ("fp32", "cpu", {"avx2"}, False),
    ],
)
def test_bf16_note_only_where_the_cpu_lacks_bf16_units(
    precision, device, flags, noted, monkeypatch
):
    monkeypatch.setattr(accel, "cpu_flags", lambda path="": flags)
    note = accel.bf16_note(precision, device)
    assert (note is not None) == noted
    if noted:
        assert "--precision fp32" in note


def test_training_with_bf16_on_such_a_cpu_sends_one_note(monkeypatch):
    monkeypatch.setattr(accel, "cpu_flags", lambda path="": {"avx2"})
    data = tiny_set(n=12, k=3)
    events = []
    train_encoder(data, tiny_priors(data.class_names), _cfg(epochs=1, precision="bf16"), "xsub",
                  callback=events.append)  # fmt: skip
    notes = [e["message"] for e in events if e["event"] == "note"]
    assert len(notes) == 1 and "bf16 matrix units" in notes[0]
    events.clear()
    _, _, hist = train_encoder(data, tiny_priors(data.class_names), _cfg(epochs=1), "xsub",
                               callback=events.append)  # fmt: skip
    assert not [e for e in events if e["event"] == "note"] and np.isfinite(hist[0]["loss"])


def test_alignment_with_bf16_on_such_a_cpu_sends_the_note(tiny_llm_dir, monkeypatch):
    from sugar_core.align.training import train_alignment
    from tests.align.test_calibration import _cfg as align_cfg
    from tests.helpers.align import synthetic_priors, synthetic_tokens

    monkeypatch.setattr(accel, "cpu_flags", lambda path="": {"avx2"})
    events = []
    cfg = align_cfg(tiny_llm_dir, precision="bf16")
    train_alignment(synthetic_tokens(), synthetic_priors(), cfg, "xview", callback=events.append)
    notes = [e for e in events if e["event"] == "note"]
    assert len(notes) == 1 and notes[0]["stage"] == "align"
    assert "bf16 matrix units" in notes[0]["message"]
