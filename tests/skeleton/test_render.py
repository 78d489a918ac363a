"""Skeleton GIFs: frame count, fixed axes, absent bodies, and `sugar data show`."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageSequence

from sugar_cli.commands.data_show import show
from sugar_core.errors import ConfigError
from sugar_core.skeleton.dataset import Sample, SkeletonSet, write_skeletons
from sugar_core.skeleton.layouts import get_layout
from sugar_core.skeleton.render import animate, limits, project, read_sample


def _moving(rng, m=1, t=12, v=25, c=3) -> np.ndarray:
    base = rng.normal(scale=0.3, size=(m, 1, v, c))
    drift = np.linspace(0, 1, t)[None, :, None, None] * np.array([0.5, 0.2, 0.0][:c])
    return (base + drift).astype(np.float32)  # (M, T, V, C)


def _frames(path) -> int:
    with Image.open(path) as im:
        assert im.format == "GIF"
        return sum(1 for _ in ImageSequence.Iterator(im))


def test_gif_has_one_frame_per_time_step(tmp_path, rng):
    out = tmp_path / "clip.gif"
    assert animate(_moving(rng, m=2, t=12), "ntu25", out, fps=10, title="x") == 12
    assert _frames(out) == 12
    assert not list(tmp_path.glob(".*"))  # the temporary file was renamed


def test_gif_2d_keypoints(tmp_path, rng):
    out = tmp_path / "coco.gif"
    animate(_moving(rng, t=5, v=17, c=2) * 100, "coco17", out)
    assert _frames(out) == 5


def test_projection_flips_image_coordinates_and_hides_absent_bodies():
    j = np.zeros((2, 3, 17, 3), np.float32)
    j[0, :, :, 1] = 5.0  # body 0 present everywhere, y = 5 px (image, y down)
    j[1, 1, :, 0] = 1.0  # body 1 present in frame 1 only
    xy = project(j, get_layout("coco17"))
    assert xy.shape == (2, 3, 17, 2)
    assert np.all(xy[0, :, :, 1] == -5.0)
    assert np.isnan(xy[1, 0]).all() and np.isnan(xy[1, 2]).all()
    assert np.isfinite(xy[1, 1]).all()
    j3 = np.ones((1, 2, 25, 3), np.float32)
    xy3 = project(j3, get_layout("ntu25"))
    assert np.all(xy3[..., 1] == 1.0)  # 3D: y already up
    assert np.all(xy3[..., 0] == -1.0)  # Kinect x points to the sensor's left: mirrored


def test_limits_are_square_and_hold_every_point(rng):
    xy = rng.normal(size=(2, 10, 25, 2)) * np.array([3.0, 1.0])
    xy[1, 4] = np.nan
    (x0, x1), (y0, y1) = limits(xy)
    assert x1 - x0 == pytest.approx(y1 - y0)
    pts = xy.reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(1)]
    assert (pts[:, 0] >= x0).all() and (pts[:, 0] <= x1).all()
    assert (pts[:, 1] >= y0).all() and (pts[:, 1] <= y1).all()


def test_animate_rejects_bad_input(tmp_path, rng):
    with pytest.raises(AssertionError, match="expected"):
        animate(np.zeros((1, 4, 20, 3)), "ntu25", tmp_path / "a.gif")
    with pytest.raises(ConfigError, match="no frames"):
        animate(np.zeros((1, 0, 25, 3)), "ntu25", tmp_path / "a.gif")
    assert not (tmp_path / "a.gif").exists()


@pytest.fixture
def data_file(tmp_path, rng):
    samples = [
        Sample(_moving(rng, m=1 + i % 2, t=6 + i), i % 2, f"clip{i:02d}", {"subject": i})
        for i in range(8)
    ]
    path = tmp_path / "data.h5"
    write_skeletons(SkeletonSet(samples, ["waving", "clapping"], "ntu25"), path)
    return path, samples


def test_read_sample_by_id_and_index(data_file):
    path, samples = data_file
    s, layout, names = read_sample(path, "clip03")
    assert layout == "ntu25" and names == ["waving", "clapping"]
    assert s.sample_id == "clip03" and s.label == 1
    np.testing.assert_array_equal(s.joints, samples[3].joints)
    assert read_sample(path, "5")[0].sample_id == "clip05"
    assert read_sample(path, -1)[0].sample_id == "clip07"
    with pytest.raises(ConfigError, match=r"no sample 'nope'.*clip00, clip01.*0\.\.7"):
        read_sample(path, "nope")
    with pytest.raises(ConfigError, match="no sample '8'"):
        read_sample(path, 8)


def test_cli_show(data_file, tmp_path):
    path, samples = data_file
    out = tmp_path / "gifs" / "clip.gif"
    res = CliRunner().invoke(show, [str(path), "--sample", "clip02", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out)
    assert _frames(out) == samples[2].length
    res = CliRunner().invoke(show, [str(path), "--sample", "-1", "-o", str(out), "--fps", "5"])
    assert res.exit_code == 0, res.output
    assert _frames(out) == samples[-1].length


def test_cli_show_unknown_sample(data_file, tmp_path):
    path, _ = data_file
    out = tmp_path / "clip.gif"
    res = CliRunner().invoke(show, [str(path), "--sample", "zzz", "-o", str(out)])
    assert res.exit_code == 1
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "clip00" in lines[0] and "data.h5" in lines[0]
    assert not out.exists()
