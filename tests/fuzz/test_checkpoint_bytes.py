"""Random bytes as a checkpoint: always the one damaged-file error, whatever the unpickler hits.

A single random draw in ``test_outputs.py`` once raised a bare IndexError (a pop from the
unpickler's empty stack); here many seeded draws of several sizes, some behind a real pickle
header, must each end as an InputFormatError naming the file.
"""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.errors import InputFormatError
from sugar_core.tokenize.checkpoint import read_torch


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch on random headers
@pytest.mark.parametrize("size", [1, 7, 64, 2000])
def test_random_bytes_are_a_damaged_file(tmp_path, size):
    path = tmp_path / "checkpoint.pt"
    for seed in range(150):
        body = np.random.default_rng(seed).bytes(size)
        for blob in (body, b"\x80\x02" + body):  # raw, and after a protocol-2 pickle header
            path.write_bytes(blob)
            with pytest.raises(InputFormatError, match="checkpoint.pt"):
                read_torch(path, keys=("model",))
