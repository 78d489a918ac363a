"""NW-UCLA clips written out in each pose format (the writers of ``tests/helpers/poses.py``,
4 decimals as estimators print) and imported back: equal to the source within that rounding."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.skeleton.io import ReadOptions, load
from sugar_core.skeleton.readers import ucla
from tests.conftest import shared_path
from tests.helpers import poses as P

pytestmark = pytest.mark.integration
ROUNDING = 0.5 * 10.0**-P.DECIMALS + 1e-6  # half the last printed digit, plus float32 slack


@pytest.fixture(scope="module")
def clips():
    root = shared_path("nw-ucla", "all_sqe")
    files = sorted(root.glob("a0[12]_s0[12]_e00_v0[12].json"))[:6]
    return [ucla.parse(f, ReadOptions(), strict=True) for f in files]


def _write(fmt: str, dest, s):
    j = s.joints  # (1, T, 20, 3) kinect20, metres, y up
    if fmt == "openpose":
        P.write_openpose(dest / s.sample_id, P.from_kinect(j, "body25", 2))
        return P.from_kinect(j, "body25", 2)
    if fmt == "mmpose":
        P.write_mmpose(dest / f"{s.sample_id}.json", P.from_kinect(j, "coco17", 2))
        return P.from_kinect(j, "coco17", 2)
    if fmt == "mediapipe":
        P.write_mediapipe_csv(dest / f"{s.sample_id}.csv", P.from_kinect(j, "mediapipe33", 3))
        return P.from_kinect(j, "mediapipe33", 3)
    score = np.ones(j.shape[:-1] + (1,), np.float32)
    P.write_csv(dest / f"{s.sample_id}.csv", np.concatenate([j, score], -1), "kinect20")
    return None


@pytest.mark.parametrize("fmt", ["openpose", "mmpose", "mediapipe", "csv"])
def test_nw_ucla_round_trip(tmp_path, clips, fmt):
    written, source = {}, {}
    for i, s in enumerate(clips):
        cls = tmp_path / ("a" if i % 2 else "b")
        cls.mkdir(exist_ok=True)
        exported = _write(fmt, cls, s)
        written[f"{cls.name}/{s.sample_id}"] = exported
        source[f"{cls.name}/{s.sample_id}"] = s.joints
    data = load(tmp_path, fmt).data
    assert len(data) == len(clips) and data.class_names == ["a", "b"]
    worst = 0.0
    for s in data.samples:
        src = source[s.sample_id]  # (1, T, 20, 3): the reader's view of the real file
        if fmt == "csv":
            assert data.layout == "kinect20"
            err = np.abs(s.joints[..., :3] - src).max()
        else:
            d = s.joints.shape[-1] - 1
            ref = P.from_kinect(src, data.layout, d)  # same joints, before any rounding of ours
            ref_exact = np.concatenate(
                [src[..., P.kinect_index(data.layout), :d], ref[..., d:]], -1
            )
            err = np.abs(s.joints - ref_exact).max()
            np.testing.assert_allclose(s.joints, written[s.sample_id], atol=1e-6)
        worst = max(worst, float(err))
    print(f"round trip {fmt}: {len(data)} clips, layout {data.layout}, max abs error {worst:.2e}")
    assert worst <= ROUNDING
