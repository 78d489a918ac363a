"""A user's own data set: class folders or an index CSV, seeded stratified and subject splits,
``--format auto`` and the nearest-neighbour tracker the pose readers share."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.io import ReadOptions, load
from sugar_core.skeleton.readers import folders, poses
from sugar_core.skeleton.readers.detect import detect_format
from tests.helpers.poses import (
    write_csv,
    write_mediapipe_csv,
    write_mediapipe_json,
    write_mmpose,
    write_openpose,
)


def _clip(rng, v: int, c: int, t: int = 3) -> np.ndarray:
    return np.round(rng.uniform(0.1, 1, (1, t, v, c)), 4).astype(np.float32)


def _classes(root, rng, counts: dict[str, int]) -> None:
    for cls, n in counts.items():
        for i in range(n):
            write_mmpose(root / cls / f"clip{i}.json", _clip(rng, 17, 3))


def test_fraction_split_is_stratified_and_seeded(tmp_path, rng):
    _classes(tmp_path, rng, {"wave": 10, "clap": 5, "bow": 1})
    data = load(tmp_path, "mmpose", ReadOptions(test_fraction=0.2, seed=3)).data
    assert data.class_names == ["bow", "clap", "wave"] and list(data.splits) == ["default"]
    split, labels = data.splits["default"], data.labels
    assert [int((split[labels == k] == 0).sum()) for k in range(3)] == [0, 1, 2]
    again = load(tmp_path, "mmpose", ReadOptions(test_fraction=0.2, seed=3)).data
    other = load(tmp_path, "mmpose", ReadOptions(test_fraction=0.2, seed=4)).data
    np.testing.assert_array_equal(again.splits["default"], split)
    assert not np.array_equal(other.splits["default"], split)


def test_index_csv_with_subjects_gives_a_subject_split(tmp_path, rng):
    rows = ["file,label,subject"]
    for i in range(8):
        write_mediapipe_json(tmp_path / "clips" / f"c{i}.json", _clip(rng, 33, 4))
        rows.append(f"clips/c{i}.json,{'sit' if i % 2 else 'stand'},p{i // 2}")
    (tmp_path / "index.csv").write_text("\n".join(rows) + "\n")
    got = load(tmp_path / "index.csv", "mediapipe", ReadOptions(test_fraction=0.25))
    data = got.data
    assert data.layout == "mediapipe33" and data.sample_ids[0] == "clips/c0"
    assert data.class_names == ["sit", "stand"] and set(data.splits) == {"default", "xsub"}
    subjects = data.meta_array("subject")
    assert sorted(set(subjects.tolist())) == [1, 2, 3, 4]  # p0..p3 numbered in sorted order
    test = set(subjects[data.splits["xsub"] == 0].tolist())
    assert len(test) == 1 and "test subjects" in got.notes["split_xsub"]
    assert "_clips" not in got.notes


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("name,label\n", "needs a header with columns file,label[,subject]", 1),
        ("file,label\nnope.json,a\n", "nope.json: not a MediaPipe landmarks clip (or missing)", 2),
        ("file,label\nc.json,\n", "empty label", 2),
        ("file,label\nc.json\n", "1 fields, the header has 2", 2),
        ("file,label\n", "the index lists no clips", None),
    ],
)  # fmt: skip
def test_bad_index_names_the_line(tmp_path, rng, text, message, line):
    write_mediapipe_json(tmp_path / "c.json", _clip(rng, 33, 4))
    (tmp_path / "index.csv").write_text(text)
    with pytest.raises(InputFormatError) as exc:
        load(tmp_path / "index.csv", "mediapipe")
    assert message in str(exc.value) and exc.value.line == line, str(exc.value)


def test_folder_mistakes_and_options(tmp_path, rng):
    (tmp_path / "empty" / "wave").mkdir(parents=True)
    with pytest.raises(InputFormatError, match="no MMPose JSON clips in class sub-folders"):
        load(tmp_path / "empty", "mmpose")
    _classes(tmp_path / "ok", rng, {"a": 2})
    (tmp_path / "ok" / "b").mkdir()
    assert load(tmp_path / "ok", "mmpose").notes["empty_folders"] == ["b"]
    with pytest.raises(ConfigError, match="--test-fraction must lie in"):
        load(tmp_path / "ok", "mmpose", ReadOptions(test_fraction=1.0))
    with pytest.raises(ConfigError, match="--seed applies to --format openpose"):
        load(tmp_path / "ok", "ntu", ReadOptions(seed=1))
    write_csv(tmp_path / "mixed" / "a" / "x.csv", _clip(rng, 17, 3), "coco17")
    write_csv(tmp_path / "mixed" / "b" / "y.csv", _clip(rng, 25, 3), "body25")
    with pytest.raises(ConfigError, match="clips in different joint layouts: coco17"):
        load(tmp_path / "mixed", "csv")


def test_auto_detects_each_format_from_its_files(tmp_path, rng):
    write_openpose(tmp_path / "op" / "wave" / "take1", _clip(rng, 25, 3))
    write_mmpose(tmp_path / "mm" / "wave" / "a.json", _clip(rng, 17, 3))
    write_mediapipe_csv(tmp_path / "mp" / "wave" / "a.csv", _clip(rng, 33, 4))
    write_mediapipe_json(tmp_path / "mj" / "wave" / "a.json", _clip(rng, 33, 4))
    write_csv(tmp_path / "kp" / "wave" / "a.csv", _clip(rng, 17, 3), "coco17")
    (tmp_path / "kp" / "index.csv").write_text("file,label\nwave/a.csv,wave\n")
    found = {k: detect_format(tmp_path / k)[0] for k in ("op", "mm", "mp", "mj", "kp")}
    assert found == {"op": "openpose", "mm": "mmpose", "mp": "mediapipe", "mj": "mediapipe",
                     "kp": "csv"}  # fmt: skip
    assert detect_format(tmp_path / "kp" / "index.csv")[0] == "csv"
    assert "recognised in" in detect_format(tmp_path / "op")[1]
    (tmp_path / "other" / "wave").mkdir(parents=True)
    (tmp_path / "other" / "wave" / "a.txt").write_text("1 2 3\n")
    with pytest.raises(InputFormatError, match="--format auto found no clips it knows"):
        detect_format(tmp_path / "other")


def test_tracker_links_people_by_nearest_neighbour():
    a = np.zeros((5, 3), np.float32)
    a[:, :2], a[:, 2] = [[0, 0], [10, 0], [0, 10], [10, 10], [5, 5]], 1
    b = a.copy()
    b[:, 0] += 100
    frames = [[(None, a), (None, b)], [(None, b + [1, 0, 0]), (None, a + [1, 0, 0])], [(None, a)]]
    joints = poses.track(frames, max_bodies=4, v=5, c=3)
    assert joints.shape == (2, 3, 5, 3)
    assert joints[0, :, 0, 0].tolist() == [0, 1, 0] and joints[1, :2, 0, 0].tolist() == [100, 101]
    assert not joints[1, 2].any()  # the second person is gone in the last frame
    far = [[(None, a)], [(None, a + [500, 0, 0])]]  # too far to be the same person: a new track
    assert poses.track(far, 4, 5, 3).shape[0] == 2


def test_split_helpers_keep_every_class_in_train():
    labels = np.array([0, 0, 1, 1, 1, 2])
    split = folders.fraction_split(labels, 0.9, seed=0)
    assert all((split[labels == k] == 1).any() for k in range(3)) and split[5] == 1
    split, test = folders.subject_split(np.array([1, 1, 2, 3]), 0.9, seed=0)
    assert len(test) == 2 and (split == 1).any()


@pytest.mark.parametrize("fmt", ["openpose", "mmpose", "mediapipe-json", "mediapipe-csv", "csv"])
def test_damaged_clips_fail_with_one_line_errors_only(tmp_path, rng, fmt):
    from sugar_core.skeleton.readers import mediapipe, mmpose, openpose, plain_csv

    j, lm = _clip(rng, 25, 3, t=3), _clip(rng, 33, 4)
    write = {
        "openpose": (openpose, lambda: write_openpose(tmp_path / "op", j)),
        "mmpose": (mmpose, lambda: write_mmpose(tmp_path / "m.json", j[:, :, :17])),
        "mediapipe-json": (mediapipe, lambda: write_mediapipe_json(tmp_path / "m.json", lm)),
        "mediapipe-csv": (mediapipe, lambda: write_mediapipe_csv(tmp_path / "m.csv", lm)),
        "csv": (plain_csv, lambda: write_csv(tmp_path / "k.csv", j, "body25")),
    }
    reader, make = write[fmt]
    path = make()
    target = sorted(path.glob("*.json"))[0] if path.is_dir() else path
    whole = target.read_bytes()
    inserts = [b"nan", b"1e999", b"-", b"\xff", b"[", b"{", b",", b"null", b'"x"', b"\n"]
    damage = np.random.default_rng(7)
    errors = []
    for _ in range(60):
        at = int(damage.integers(len(whole)))
        cut = int(damage.integers(1, 12))
        kind = int(damage.integers(3))
        if kind == 0:
            buf = whole[:at]
        elif kind == 1:
            buf = whole[:at] + inserts[int(damage.integers(len(inserts)))] + whole[at:]
        else:
            buf = whole[:at] + whole[at + cut :]
        target.write_bytes(buf)
        try:
            reader.read_clip(path, ReadOptions())
        except (InputFormatError, ConfigError) as exc:
            errors.append(exc)  # anything else (a bare ValueError, a crash) fails the test
    assert sum(isinstance(e, InputFormatError) for e in errors) > 10, errors
    for exc in errors:  # one line that starts with the damaged file (and its line, if any)
        text = str(exc)
        assert "\n" not in text and re.match(rf"{re.escape(str(target))}(:\d+)?: \S", text), text
