"""NTU .skeleton reader: parsing (fast and careful roads agree), clean-up rules, names, splits."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.skeleton.classes import NTU60, NTU120
from sugar_core.skeleton.io import ReadOptions, load, read_dataset, read_file
from sugar_core.skeleton.readers import ntu
from sugar_core.skeleton.readers.ntu_clean import NtuCleanup, clean
from tests.conftest import shared_path
from tests.helpers.readers import (
    expected_xyz,
    flat_thing,
    ntu_text,
    ntu_tracks,
    one_byte_damage,
    person,
    write_ntu_dir,
)

NAME = "S001C002P003R001A013"


def _both(text: str, path="x.skeleton"):
    buf = text.encode()
    fast = ntu._scan_fast(buf)
    careful = ntu._scan_careful(buf, path)
    return fast, careful


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_fast_and_careful_agree_on_crlf_and_lf(rng, newline):
    a, b = person(rng, 12), person(rng, 9, x0=1.0)
    text = ntu_text(ntu_tracks((11, a, 0), (22, b, 2)), newline=newline)
    fast, careful = _both(text)
    assert fast is not None, "a clean file must take the fast road"
    assert fast.frames == careful.frames == 12
    assert fast.body_ids == careful.body_ids == [b"11"] * 2 + [b"11", b"22"] * 9 + [b"11"]
    np.testing.assert_array_equal(fast.frame_of, careful.frame_of)
    np.testing.assert_array_equal(fast.xyz, careful.xyz)
    np.testing.assert_array_equal(fast.xyz[:2], expected_xyz(a[:2]))


def test_exponent_forms_and_integers_parse_exactly(rng):
    j = person(rng, 3)
    j[0, 0] = [-7.257856e-05, 0.0, 3.0]
    j[1, 4] = [5.861595e-06, -1.0, 12.0]
    text = ntu_text(ntu_tracks((1, j, 0)))
    assert "-7.257856e-05 0 3 " in text and "e-06 -1 12 " in text
    fast, careful = _both(text)
    assert fast is not None
    np.testing.assert_array_equal(fast.xyz, expected_xyz(j))
    np.testing.assert_array_equal(careful.xyz, fast.xyz)


def test_unusual_whitespace_takes_the_careful_road(rng):
    text = ntu_text(ntu_tracks((1, person(rng, 3), 0))).replace(" 276.0976", "\t276.0976", 1)
    fast, careful = _both(text)
    assert fast is None
    assert careful.xyz.shape == (3, 25, 3)


@pytest.mark.parametrize(
    "damage, line, words",
    [
        (lambda t: t[: len(t) // 2], None, "file ends early"),
        (lambda t: t.replace("\r\n25\r\n", "\r\n24\r\n", 1), 4, "expected 25 joints"),
        (
            lambda t: t.replace("\r\n0.", "\r\nabc", 1).replace("\r\n-0.", "\r\nabc", 1),
            None,
            "is not a finite number",
        ),
        (lambda t: "hello\r\n" + t, 1, "expected the frame count"),
        (lambda t: t + "1\r\n", None, "unexpected content after the last of 4 frames"),
        (lambda t: "", 1, "file ends early"),
        (lambda t: t.replace("8 2\r\n", "8 2 7\r\n", 1), 5, "expected 12 values"),
    ],
)
def test_careful_errors_name_the_line(rng, damage, line, words):
    text = damage(ntu_text(ntu_tracks((1, person(rng, 4), 0))))
    assert ntu._scan_fast(text.encode()) is None
    with pytest.raises(InputFormatError) as err:
        ntu._scan_careful(text.encode(), "bad.skeleton")
    assert words in err.value.reason
    assert err.value.path == "bad.skeleton"
    if line is not None:
        assert err.value.line == line
    else:
        assert err.value.line is not None


def test_name_parsing():
    assert ntu.parse_name("S017C003P020R002A120") == {
        "setup": 17,
        "camera": 3,
        "subject": 20,
        "repetition": 2,
        "action": 120,
    }
    assert ntu.parse_name("S017C003P020R002") is None
    assert ntu.parse_name("my_recording") is None


# ---------------------------------------------------------------------------------------------
# clean-up


def _rec(rng, *tracks):
    return ntu.parse_recording(ntu_text(ntu_tracks(*tracks)).encode(), "x")


def test_single_body_keeps_every_frame(rng):
    j = person(rng, 30)
    out = clean(_rec(rng, (5, j, 0)), NtuCleanup())
    np.testing.assert_array_equal(out, expected_xyz(j)[None])


def test_short_and_flat_bodies_are_dropped(rng):
    actor = person(rng, 40, amplitude=0.02)
    flicker = person(rng, 11, amplitude=0.3, x0=1.0)  # tracked 11 frames: the field drops it
    couch = flat_thing(rng, 40)  # wide: x extent >> 0.8 y extent in every frame
    rec = _rec(rng, (1, actor, 0), (2, flicker, 5), (3, couch, 0))
    out = clean(rec, NtuCleanup())
    assert out.shape == (1, 40, 25, 3)
    np.testing.assert_array_equal(out[0], expected_xyz(actor))


def test_twelve_frames_are_enough(rng):
    rec = _rec(rng, (1, person(rng, 40), 0), (2, person(rng, 12, amplitude=0.2, x0=1.0), 3))
    assert clean(rec, NtuCleanup()).shape[0] == 2


def test_frozen_track_is_dropped_and_rules_keep_a_last_body(rng):
    actor = person(rng, 30)
    frozen = np.repeat(person(rng, 1, x0=1.0), 30, axis=0)  # no motion at all
    out = clean(_rec(rng, (1, actor, 0), (2, frozen, 0)), NtuCleanup())
    assert out.shape[0] == 1
    np.testing.assert_array_equal(out[0], expected_xyz(actor))
    # two short bodies only: the longer one stays instead of nothing
    out = clean(_rec(rng, (1, person(rng, 5), 0), (2, person(rng, 8, x0=1.0), 0)), NtuCleanup())
    assert out.shape[:2] == (1, 8)


def test_most_active_first_and_two_tracks_at_most(rng):
    calm = person(rng, 30, amplitude=0.01)
    busy = person(rng, 30, amplitude=0.2, x0=1.0)
    mid = person(rng, 30, amplitude=0.05, x0=-1.0)
    out = clean(_rec(rng, (1, calm, 0), (2, busy, 0), (3, mid, 0)), NtuCleanup())
    assert out.shape[0] == 2
    np.testing.assert_array_equal(out[0], expected_xyz(busy))
    np.testing.assert_array_equal(out[1], expected_xyz(mid))
    out = clean(_rec(rng, (1, calm, 0), (2, busy, 0), (3, mid, 0)), NtuCleanup(max_bodies=3))
    assert out.shape[0] == 3


def test_a_person_who_reappears_under_a_new_id_stays_one_track(rng):
    j = person(rng, 40, amplitude=0.1)
    other = person(rng, 40, amplitude=0.05, x0=1.2)
    rec = _rec(rng, (1, j[:20], 0), (9, j[20:], 20), (4, other, 0))
    out = clean(rec, NtuCleanup())
    assert out.shape[0] == 2
    np.testing.assert_array_equal(out[0], expected_xyz(j))  # both pieces in track 0


def test_frames_without_bodies_are_dropped_unless_cleanup_is_off(rng):
    j = person(rng, 10)
    frames = ntu_tracks((1, j, 0))
    frames = frames[:4] + [[], []] + frames[4:]
    rec = ntu.parse_recording(ntu_text(frames).encode(), "x")
    assert rec.frames == 12
    assert clean(rec, NtuCleanup()).shape == (1, 10, 25, 3)
    raw = clean(rec, NtuCleanup(enabled=False))
    assert raw.shape == (1, 12, 25, 3)
    assert not raw[0, 4:6].any()


def test_cleanup_off_keeps_every_body(rng):
    rec = _rec(rng, (1, person(rng, 20), 0), (2, flat_thing(rng, 5), 3), (3, person(rng, 3), 0))
    assert clean(rec, NtuCleanup(enabled=False)).shape == (3, 20, 25, 3)


# ---------------------------------------------------------------------------------------------
# data set level


def test_dataset_classes_splits_and_meta(tmp_path, rng):
    names = ["S001C001P001R001A001", "S002C002P003R002A010", "S003C003P002R001A060"]
    expected = write_ntu_dir(tmp_path, rng, names)
    data = read_dataset(tmp_path, "ntu")
    assert data.class_names == list(NTU60) and data.layout == "ntu25"
    assert data.sample_ids == names
    assert list(data.labels) == [0, 9, 59]
    assert data.samples[1].meta == {
        "setup": 2,
        "camera": 2,
        "subject": 3,
        "repetition": 2,
        "view": 2,
    }
    assert list(data.splits["xsub"]) == [1, 0, 1]
    assert list(data.splits["xview"]) == [0, 1, 1]
    assert set(data.splits) == {"xsub", "xview"}
    for s in data.samples:
        np.testing.assert_array_equal(s.joints, expected[s.sample_id])


def test_ntu120_from_action_ids_and_override(tmp_path, rng):
    write_ntu_dir(tmp_path, rng, ["S018C001P045R001A061", "S019C001P044R001A005"])
    data = read_dataset(tmp_path, "ntu")
    assert data.class_names == list(NTU120)
    assert list(data.splits["xsub"]) == [1, 0]  # P045 trains in NTU-120, P044 does not
    assert list(data.splits["xset"]) == [1, 0]  # even setups train
    assert data.class_names[60] == "put on headphone"
    with pytest.raises(ConfigError, match="A061"):
        read_dataset(tmp_path, "ntu", ReadOptions(classes="ntu60"))
    write_ntu_dir(tmp_path / "b", rng, ["S001C001P001R001A003"])
    assert read_dataset(tmp_path / "b", "ntu", ReadOptions(classes="ntu120")).splits.keys() == {
        "xsub",
        "xset",
    }


def test_drop_list_and_names(tmp_path, rng):
    names = ["S001C001P001R001A001", "S001C001P001R001A002", "S001C001P001R001A003"]
    write_ntu_dir(tmp_path / "d", rng, names)
    drop = tmp_path / "missing.txt"
    drop.write_text("# missing skeletons\nS001C001P001R001A002.skeleton\n\n")
    res = load(tmp_path / "d", "ntu", ReadOptions(drop_list=str(drop)))
    assert res.data.sample_ids == [names[0], names[2]]
    assert res.notes["drop_list"]["dropped"] == 1
    drop.write_text("S001C001P001R001A002\nnot-a-name\n")
    with pytest.raises(InputFormatError) as err:
        load(tmp_path / "d", "ntu", ReadOptions(drop_list=str(drop)))
    assert err.value.line == 2


def test_empty_recording_and_foreign_names(tmp_path, rng):
    (tmp_path / "S001C001P001R001A001.skeleton").write_text("3\r\n0\r\n0\r\n0\r\n")
    with pytest.raises(InputFormatError, match="no body is tracked"):
        read_dataset(tmp_path, "ntu")
    other = tmp_path / "o"
    other.mkdir()
    (other / "walk.skeleton").write_text(ntu_text(ntu_tracks((1, person(rng, 4), 0))))
    with pytest.raises(InputFormatError, match="not an NTU sample name"):
        read_dataset(other, "ntu")
    (sample,) = read_file(other / "walk.skeleton", "ntu")  # one file: names are free
    assert sample.label == -1 and sample.sample_id == "walk" and sample.joints.shape[:2] == (1, 4)


# ---------------------------------------------------------------------------------------------
# the five real files (../shared/data/ntu-rgbd-samples)

DECLARED = {  # SOURCE.md: frames, bodies per frame
    "S001C001P001R001A011": (82, 1),
    "S001C003P008R002A058": (70, 2),
    "S002C001P003R001A003": (100, 1),
    "S003C001P015R001A034": (71, 1),
    "S004C002P003R001A017": (124, 1),
}


@pytest.mark.integration
def test_real_samples_keep_declared_frames_and_bodies():
    root = shared_path("ntu-rgbd-samples")
    data = read_dataset(root, "ntu", ReadOptions(workers=2))
    assert {s.sample_id: (s.length, s.bodies) for s in data.samples} == DECLARED
    two = data.samples[data.sample_ids.index("S001C003P008R002A058")]
    assert two.label == 57 and data.class_names[57] == "handshaking"
    assert np.all(np.abs(two.joints).sum(axis=(2, 3)) > 0)  # both people in every frame
    assert list(data.splits["xsub"]) == [1, 1, 0, 1, 0]
    assert list(data.splits["xview"]) == [0, 1, 0, 0, 1]
    for path in sorted(root.glob("*.skeleton")):
        buf = path.read_bytes()
        fast = ntu._scan_fast(buf)
        assert fast is not None, path
        np.testing.assert_array_equal(fast.xyz, ntu._scan_careful(buf, str(path)).xyz)


def test_fast_road_never_disagrees_with_the_careful_one(rng):
    """Random one-byte damage: the fast road either declines or returns what the careful road
    returns (and declines whenever the careful road raises)."""
    text = ntu_text(ntu_tracks((1, person(rng, 3), 0), (2, person(rng, 2, x0=1.0), 1))).encode()
    for buf in one_byte_damage(text, rng):
        fast = ntu._scan_fast(buf)
        if fast is None:
            continue
        careful = ntu._scan_careful(buf, "x")  # must not raise
        assert fast.frames == careful.frames and fast.body_ids == careful.body_ids
        np.testing.assert_array_equal(fast.frame_of, careful.frame_of)
        np.testing.assert_array_equal(fast.xyz, careful.xyz)
