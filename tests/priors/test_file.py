"""The file backend: the user's own JSON or CSV texts, validated with file/line/class errors."""

from __future__ import annotations

import json

import pytest

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.priors.backends import BackendConfig, make_backend
from sugar_core.priors.backends.file import FileBackend
from sugar_core.priors.build import PriorsConfig, build_priors
from sugar_core.priors.store import MOTION_PARTS
from tests.helpers.encoders import tiny_text_encoder

MOTION = {p: f"{p} moves a bit" for p in MOTION_PARTS}


def entry(**kw) -> dict:
    e = {
        "motion": dict(MOTION),
        "visual": ["A person moves.", "Arms swing."],
        "description": "d d d",
    }
    e.update(kw)
    return e


def write_json(path, data) -> str:
    path.write_text(json.dumps(data, indent=2))
    return str(path)


def test_json_in_builtin_format_and_wrapped(tmp_path):
    for data in ({"spin": entry()}, {"classes": {"spin": entry()}}):
        b = FileBackend(write_json(tmp_path / "mine.json", data))
        k = b.lookup("spin")
        assert k.motion == MOTION and k.visual == ["A person moves.", "Arms swing."]
        assert b.lookup("other") is None and b.id == "file:mine.json"


@pytest.mark.parametrize(
    "bad, message",
    [
        (entry(motion={"head": "x"}), "motion parts missing or empty: \\['hand'"),
        (entry(motion={**MOTION, "tail": "wags"}), "unknown motion part\\(s\\) \\['tail'\\]"),
        (entry(visual=[]), "'visual' should be a non-empty list"),
        (entry(visual="one text"), "'visual' should be a non-empty list"),
        (entry(description=3), "'description' should be a non-empty string"),
        (entry(colour="red"), "unknown key\\(s\\) \\['colour'\\]"),
        ("not an object", "entry should be an object"),
    ],
)
def test_json_errors_name_file_line_and_class(tmp_path, bad, message):
    path = write_json(tmp_path / "mine.json", {"good": entry(), "spin": bad})
    lines = open(path).read().splitlines()
    line = next(i + 1 for i, t in enumerate(lines) if t.startswith('  "spin":'))
    with pytest.raises(InputFormatError, match=f"mine.json:{line}: class 'spin': {message}"):
        FileBackend(path)


def test_broken_json_names_the_line(tmp_path):
    (tmp_path / "x.json").write_text('{\n  "a": {\n  oops\n}')
    with pytest.raises(InputFormatError, match="x.json:3: not valid JSON"):
        FileBackend(tmp_path / "x.json")


CSV_OK = """class,kind,part,text
spin,motion,head,head turns
spin,motion,hand,hands open
spin,motion,arm,arms stretch out
spin,motion,hip,hip rotates
spin,motion,leg,legs pivot
spin,motion,foot,feet turn on the spot
spin,visual,,A person turns around on the spot.
spin,visual,,"Arms out, the person spins."
spin,description,,a person spins around once.
"""


def test_csv_rows_make_an_entry(tmp_path):
    (tmp_path / "m.csv").write_text(CSV_OK)
    k = FileBackend(tmp_path / "m.csv").lookup("spin")
    assert k.motion["foot"] == "feet turn on the spot"
    assert k.visual == ["A person turns around on the spot.", "Arms out, the person spins."]
    assert k.description == "a person spins around once."


CSV_BROKEN = [  # (replace this, with this, expected error after the file name)
    ("class,kind,part,text", "name,kind,text", ":1: header should be"),
    ("spin,motion,hip", "spin,motion,waist", ":5: class 'spin': part 'waist'"),
    ("spin,motion,leg,legs pivot\n", "", ":2: class 'spin': motion parts missing: \\['leg'\\]"),
    ("spin,motion,leg", "spin,motion,hip", ":6: class 'spin': motion part 'hip' twice"),
    (",visual,,A person", ",vision,,A person", ":8: class 'spin': kind 'vision'"),
    ("hip rotates", "", ":5: class 'spin': empty text"),
    ("once.\n", "once.\nspin,description,,again\n", ":11: class 'spin': second description"),
    ("once.\n", "once.\njump,motion\n", ":11: expected 4 columns"),
]


@pytest.mark.parametrize("old, new, message", CSV_BROKEN)
def test_csv_errors_name_file_line_and_class(tmp_path, old, new, message):
    assert old in CSV_OK
    (tmp_path / "m.csv").write_text(CSV_OK.replace(old, new))
    with pytest.raises(InputFormatError, match="m.csv" + message):
        FileBackend(tmp_path / "m.csv")


def test_build_with_file_backend_derives_missing_description(tmp_path):
    data = {"spin": entry(description=""), "hop": entry()}
    cfg = PriorsConfig(
        backend=BackendConfig(name="file", descriptions=write_json(tmp_path / "m.json", data))
    )
    priors, _ = build_priors(["hop", "spin"], cfg, text_encoder=tiny_text_encoder())
    assert priors.descriptions[0] == "d d d"
    assert priors.descriptions[1] == "head moves a bit; hand moves a bit; arm moves a bit; " \
        "hip moves a bit; leg moves a bit; foot moves a bit."  # fmt: skip
    assert priors.sources["per_class"]["spin"]["description"] == "derived"
    assert priors.sources["motion"] == "file"


def test_build_with_file_backend_missing_class_and_fallback(tmp_path):
    path = write_json(tmp_path / "m.json", {"spin": entry()})
    cfg = PriorsConfig(backend=BackendConfig(name="file", descriptions=path))
    enc = tiny_text_encoder()
    with pytest.raises(ConfigError, match="file:m.json has no texts for 1 of 2 classes: 'throw'"):
        build_priors(["spin", "throw"], cfg, text_encoder=enc)
    cfg.fallback = "builtin"
    priors, report = build_priors(["spin", "throw"], cfg, text_encoder=enc)
    assert priors.sources["per_class"]["throw"]["motion"] == "builtin-fallback"
    assert report.fallback == {"all": ["throw"]}


def test_file_backend_needs_a_path():
    with pytest.raises(ConfigError, match="--descriptions"):
        make_backend(BackendConfig(name="file"))
    with pytest.raises(InputFormatError, match="no such descriptions file"):
        make_backend(BackendConfig(name="file", descriptions="/nonexistent/x.json"))
