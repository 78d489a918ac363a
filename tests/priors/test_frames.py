"""Frame choice: farthest-point selection, class folders, frame sampling, the visual step."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.errors import InputFormatError
from sugar_core.priors import frames as fr
from sugar_core.priors.build import PriorsConfig, build_priors
from sugar_core.priors.cache import image_hash
from tests.helpers.backends import Scripted, sensible
from tests.helpers.encoders import tiny_clip_vision, tiny_text_encoder, write_frames


def unit(rows) -> np.ndarray:
    x = np.asarray(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_farthest_point_picks_one_frame_per_cluster():
    # three tight clusters of frames (near x, near y, near z), several frames each
    rng = np.random.default_rng(0)
    centres = np.eye(3)
    labels = np.array([0, 0, 0, 1, 1, 0, 2, 2, 1, 0])
    emb = unit(centres[labels] + 0.05 * rng.standard_normal((10, 3)))
    kept = fr.farthest_point(emb, 3)
    assert sorted(labels[kept].tolist()) == [0, 1, 2]


def test_farthest_point_starts_from_least_similar_pair_and_is_greedy():
    angles = np.deg2rad([0, 10, 20, 90, 100, 180])
    emb = unit(np.stack([np.cos(angles), np.sin(angles)], 1))
    assert fr.farthest_point(emb, 2) == [0, 5]  # 0 and 180 degrees
    assert fr.farthest_point(emb, 3) == [0, 3, 5]  # then the one at 90 (max sim 0 to both)
    assert fr.farthest_point(emb, 1) == [3]  # the medoid
    assert fr.farthest_point(emb, 9) == list(range(6))


def test_farthest_point_rejects_bad_input():
    with pytest.raises(AssertionError, match="k should be >= 1"):
        fr.farthest_point(unit([[1, 0]]), 0)
    with pytest.raises(AssertionError, match="emb should be"):
        fr.farthest_point(np.ones(3), 1)


def test_class_folders_match_names_and_slugs(tmp_path):
    (tmp_path / "walk around").mkdir()
    (tmp_path / "eat_meal_snack").mkdir()
    got = fr.class_folders(tmp_path, ["walk around", "eat meal/snack", "throw"])
    assert {k: v.name for k, v in got.items()} == {
        "walk around": "walk around",
        "eat meal/snack": "eat_meal_snack",
    }
    with pytest.raises(InputFormatError, match="one sub-folder per class"):
        fr.class_folders(tmp_path / "nope", ["x"])


def test_media_items_and_even_frame_sampling(tmp_path):
    cls = tmp_path / "throw"
    write_frames(cls / "video1", [(i * 20, 0, 0) for i in range(10)])
    write_frames(cls / "video2", [(0, 50, 0)] * 2)
    (cls / "notes.txt").write_text("ignored")
    items = fr.media_items(cls)
    assert [p.name for p in items] == ["video1", "video2"]
    frames = fr.sample_frames(items[0], 4)
    assert [f.getpixel((30, 30))[0] for f in frames] == [0, 60, 120, 180]  # frames 0, 3, 6, 9
    assert len(fr.sample_frames(items[1], 4)) == 2
    direct = write_frames(tmp_path / "flat", [(1, 2, 3)])
    assert fr.media_items(direct) == [direct]


def test_video_without_decoder_says_to_extract_frames(tmp_path, monkeypatch):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 16)
    monkeypatch.setattr(fr.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputFormatError, match=r"clip.mp4: cannot decode videos.*extract frames"):
        fr.sample_frames(video, 4)


def test_unreadable_image_names_the_file(tmp_path):
    folder = write_frames(tmp_path / "v", [(1, 1, 1)])
    (folder / "00001.png").write_bytes(b"not a png")
    with pytest.raises(InputFormatError, match="00001.png"):
        fr.sample_frames(folder, 2)


def test_clip_image_encoder_gives_unit_rows(tmp_path):
    enc = tiny_clip_vision()
    frames = fr.sample_frames(write_frames(tmp_path / "v", [(255, 0, 0), (0, 0, 255)]), 2)
    emb = enc.encode(frames)
    assert emb.shape == (2, 8) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert enc.id.startswith("tiny-clip@")


def test_visual_step_describes_the_kept_frames(tmp_path):
    videos = tmp_path / "videos"
    colors = [(250, 0, 0), (240, 5, 5), (0, 250, 0), (5, 240, 5), (0, 0, 250), (245, 0, 10)]
    write_frames(videos / "throw" / "v1", colors[:3])
    write_frames(videos / "throw" / "v2", colors[3:])
    cfg = PriorsConfig(videos=str(videos), visual_k=2, cache_dir=str(tmp_path / "cache"))
    backend = Scripted()
    clip = tiny_clip_vision()
    priors, report = build_priors(
        ["throw", "walk around"], cfg, backend, tiny_text_encoder(), image_encoder=clip
    )
    per = priors.sources["per_class"]
    assert per["throw"]["visual"] == "video" and per["walk around"]["visual"] == "text"
    vis = priors.columns("visual")
    assert priors.mask[0, vis].sum() == 2
    assert priors.texts[0, vis[0]] == sensible("Based on the image {throw}")
    image_prompts = [p[0] for p, _ in backend.calls if p[0].startswith("Based on the image")]
    assert len(image_prompts) == 2 and report.questions["visual"] == 2 + 1
    assert report.valid_first["visual"] == report.valid["visual"] == 2
    # the two frames asked about are the ones farthest-point selection keeps
    frames = [f for v in ("v1", "v2") for f in fr.sample_frames(videos / "throw" / v, 8)]
    kept = fr.select_frames(frames, clip, 2)
    assert len(kept) == 2
    sent = sorted(image_hash(im) for im in backend.images)
    assert sent == sorted(image_hash(frames[i]) for i in kept)
    assert sent[0] != sent[1]
