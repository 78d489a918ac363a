"""sugar_core.settings: strict building, --set items, settings files and recipes, sections,
and the order of the layers (options over --set over the file)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest

from sugar_core import settings
from sugar_core.align.config import AlignConfig
from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.settings import apply_sets, build, layered, read_file, recipes, section
from sugar_core.tokenize.config import TokenizeConfig
from sugar_core.zeroshot.config import ZeroShotConfig
from tests.conftest import REPO


@dataclass
class Inner:
    kind: str = "tqp"
    width: int = 8


@dataclass
class Outer:
    epochs: int = 1
    lr: float = 0.1
    mirror: bool = False
    name: str = "x"
    channels: tuple[int, int] = (8, 8)
    strides: tuple[int, ...] = (2,)
    limit: int | None = None
    inner: Inner = field(default_factory=Inner)


@dataclass
class Refusing:
    SETTINGS_REFUSED = {"frames": "the encoder decides the frame count"}
    frames: int = 16


@dataclass
class Checked:
    epochs: int = 1

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError("epochs must be at least 1")


def _error(match: str):
    return pytest.raises(ConfigError, match=re.escape(match))


# --- build -------------------------------------------------------------------------------


def test_build_fills_the_dataclass_and_its_nested_configs():
    cfg = build(Outer, {"epochs": 3, "lr": 1e-3, "mirror": True, "inner": {"width": 16}})
    assert cfg == Outer(epochs=3, lr=1e-3, mirror=True, inner=Inner(width=16))
    assert build(Outer, {}) == Outer()
    ready = Inner(kind="pool")
    assert build(Outer, {"inner": ready}).inner is ready  # a built config is taken as it is


def test_unknown_key_is_named_with_the_known_ones():
    with _error("here: unknown setting(s) bogus, epoch; known: epochs, lr, mirror, name,"):
        build(Outer, {"epoch": 3, "bogus": 1}, "here")


def test_nested_unknown_key_has_its_dotted_name():
    with _error("here: unknown setting(s) inner.wdth; known: inner.kind, inner.width"):
        build(Outer, {"inner": {"wdth": 3}}, "here")


@pytest.mark.parametrize(
    "d, message",
    [
        ({"epochs": "3"}, "here: epochs = '3'; expected a whole number"),
        ({"epochs": 2.5}, "here: epochs = 2.5; expected a whole number"),
        ({"epochs": True}, "here: epochs = True; expected a whole number"),
        ({"epochs": None}, "here: epochs = None; expected a whole number"),
        ({"lr": "fast"}, "here: lr = 'fast'; expected a number"),
        ({"lr": False}, "here: lr = False; expected a number"),
        ({"mirror": 1}, "here: mirror = 1; expected true or false"),
        ({"mirror": "yes"}, "here: mirror = 'yes'; expected true or false"),
        ({"name": 3}, "here: name = 3; expected a string"),
        ({"channels": [8]}, "here: channels = [8]; expected a list of 2 numbers"),
        ({"channels": [8, 8, 8]}, "here: channels = [8, 8, 8]; expected a list of 2 numbers"),
        ({"channels": [8, "a"]}, "here: channels = [8, 'a']; expected a list of 2 numbers"),
        ({"channels": 8}, "here: channels = 8; expected a list of 2 numbers"),
        ({"strides": "2"}, "here: strides = '2'; expected a list of numbers"),
        ({"strides": [2, 0.5]}, "here: strides = [2, 0.5]; expected a list of numbers"),
        ({"limit": "x"}, "here: limit = 'x'; expected a whole number or null"),
        ({"inner": {"width": "wide"}}, "here: inner.width = 'wide'; expected a whole number"),
    ],
)
def test_wrong_types_name_the_key_the_value_and_what_was_expected(d, message):
    with _error(message):
        build(Outer, d, "here")


def test_whole_floats_become_ints_and_lists_tuples():
    cfg = build(Outer, {"epochs": 3.0, "lr": 1, "channels": [8.0, 16], "strides": [2, 2, 1]})
    assert cfg.epochs == 3 and type(cfg.epochs) is int
    assert cfg.lr == 1  # an int is a number
    assert cfg.channels == (8, 16) and all(type(c) is int for c in cfg.channels)
    assert cfg.strides == (2, 2, 1)


def test_none_for_an_optional_setting():
    assert build(Outer, {"limit": None}).limit is None
    assert build(Outer, {"limit": 4.0}).limit == 4


def test_not_an_object_is_refused_with_its_name():
    with _error("here: settings must be an object"):
        build(Outer, [1, 2], "here")
    with _error("here: inner must be an object"):
        build(Outer, {"inner": 3}, "here")


def test_refused_keys_and_the_classes_own_checks():
    with _error("here: frames: the encoder decides the frame count"):
        build(Refusing, {"frames": 32}, "here")
    assert build(Refusing, {"frames": 32}, strict=False).frames == 32
    with _error("here: epochs must be at least 1"):
        build(Checked, {"epochs": 0}, "here")


def test_stored_configs_drop_unknown_keys_and_trust_values():
    cfg = build(Outer, {"gone": 1, "epochs": "3", "inner": {"old": 2}}, strict=False)
    assert cfg.epochs == "3" and cfg.inner == Inner()


def test_to_dict_round_trips_through_build():
    cfg = Outer(epochs=4, channels=(4, 8), inner=Inner(kind="pool"))
    d = settings.to_dict(cfg)
    assert d["channels"] == [4, 8] and d["inner"] == {"kind": "pool", "width": 8}
    assert build(Outer, json.loads(json.dumps(d))) == cfg


# --- apply_sets --------------------------------------------------------------------------


def test_sets_reach_nested_keys_and_leave_the_input_alone():
    base = {"prep": {"mirror": 0.0, "frames": 16}}
    out = apply_sets(base, ["prep.mirror=0.5", "align.bridge.kind=pool"])
    assert out == {"prep": {"mirror": 0.5, "frames": 16}, "align": {"bridge": {"kind": "pool"}}}
    assert base == {"prep": {"mirror": 0.0, "frames": 16}}


@pytest.mark.parametrize(
    "item, value",
    [
        ("v=3", 3),
        ("v=0.5", 0.5),
        ("v=true", True),
        ("v=null", None),
        ("v=[1, 2]", [1, 2]),
        ('v={"x": 1}', {"x": 1}),
        ('v="3"', "3"),
        ("v=pool", "pool"),  # not JSON: taken as a string
        ("v=", ""),
        (" v =2", 2),  # spaces around the key are ignored
    ],
)
def test_set_values_are_json_else_strings(item, value):
    assert apply_sets({}, [item]) == {"v": value}


def test_later_sets_win():
    assert apply_sets({"v": 1}, ["v=2", "v=3"]) == {"v": 3}


@pytest.mark.parametrize(
    "item, message",
    [
        ("mirror", "--set 'mirror': expected KEY=VALUE, for example prep.mirror=0.5"),
        ("=3", "--set '=3': expected KEY=VALUE"),
        ("prep..mirror=1", "--set 'prep..mirror=1': expected KEY=VALUE"),
        ("prep.mirror.x=1", "--set 'prep.mirror.x=1': 'mirror' is not an object of settings"),
    ],
)
def test_bad_set_items(item, message):
    with _error(message):
        apply_sets({"prep": {"mirror": 0.5}}, [item])


# --- read_file and recipes ---------------------------------------------------------------


def test_recipes_are_the_shipped_files_with_their_descriptions():
    shipped = sorted(p.stem for p in (REPO / "sugar_core" / "recipes").glob("*.json"))
    found = recipes()
    assert sorted(found) == shipped and {"small", "demo-fast"} <= set(found)
    assert all(isinstance(d, str) and d for d in found.values())


@pytest.mark.parametrize("name", sorted(recipes()))
def test_a_recipe_name_reads_the_shipped_file_without_its_description(name):
    path = REPO / "sugar_core" / "recipes" / f"{name}.json"
    expected = json.loads(path.read_text(encoding="utf-8"))
    expected.pop("description")
    assert read_file(name) == expected


def test_a_file_drops_its_description_and_an_existing_path_wins_over_a_recipe(
    tmp_path, monkeypatch
):
    (tmp_path / "small").write_text('{"description": "mine", "epochs": 2}')
    monkeypatch.chdir(tmp_path)
    assert read_file("small") == {"epochs": 2}
    assert read_file(tmp_path / "small") == {"epochs": 2}


def test_bad_json_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "epochs": 2,\n  "lr": \n}\n')
    with pytest.raises(InputFormatError) as err:
        read_file(path)
    assert err.value.line == 4 and err.value.path == str(path)
    assert str(err.value) == f"{path}:4: not JSON: Expecting value"


def test_a_file_must_hold_an_object_of_readable_text(tmp_path):
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(InputFormatError, match="expected a JSON object of settings"):
        read_file(tmp_path / "list.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(InputFormatError, match=re.escape("cannot read (UnicodeDecodeError)")):
        read_file(tmp_path / "bin.json")


def test_a_missing_file_names_the_shipped_recipes(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(InputFormatError) as err:
        read_file(path)
    known = ", ".join(recipes())
    assert str(err.value) == f"{path}: no such file (shipped recipes: {known})"
    assert "small" in known and "paper" in known


# --- section -----------------------------------------------------------------------------

SECTIONED = {
    "tokenize": {"epochs": 3, "lr": 0.1},
    "align": {"lr": 0.01, "bridge": {"kind": "pool"}},
    "zeroshot": {"gzsl": True, "tokenize": {"epochs": 5}},
    "demo": {"max_new_tokens": 6},
}


@pytest.mark.parametrize("command", ["tokenize", "align", "zeroshot", "demo"])
def test_a_flat_file_is_read_whole_by_every_command(command):
    flat = {"epochs": 3, "bridge": {"kind": "pool"}}
    assert section(flat, command) == flat


def test_a_sectioned_file_gives_each_command_its_section():
    assert section(SECTIONED, "tokenize") == {"epochs": 3, "lr": 0.1}
    assert section(SECTIONED, "align") == {"lr": 0.01, "bridge": {"kind": "pool"}}
    assert section({"tokenize": {"epochs": 3}}, "align") == {}


def test_zeroshot_reads_the_stage_sections_under_its_own():
    assert section(SECTIONED, "zeroshot") == {
        "tokenize": {"epochs": 5, "lr": 0.1},  # its own section's keys win, key by key
        "align": {"lr": 0.01, "bridge": {"kind": "pool"}},
        "gzsl": True,
    }
    demo = section(SECTIONED, "demo")  # demo keeps its sections: stage_configs reads them
    assert demo["tokenize"] == {"epochs": 3, "lr": 0.1} and demo["demo"]["max_new_tokens"] == 6
    assert "gzsl" not in demo and "zeroshot" not in demo and "max_new_tokens" not in demo


@pytest.mark.parametrize("name", ["demo", "demo-fast", "nwucla", "paper"])
def test_demo_takes_a_recipe_through_its_config(name):
    from sugar_core.pipeline.config import DemoConfig, stage_configs

    user, _ = layered(name, ("demo.max_new_tokens=3",), None, "demo")
    settings = stage_configs(DemoConfig(settings=user, seed=2), "smollm2")
    assert settings.max_new_tokens == 3 and settings.tokenize.seed == settings.align.seed == 2
    recipe = read_file(name)
    if "epochs" in recipe.get("tokenize", {}):
        assert settings.tokenize.epochs == recipe["tokenize"]["epochs"]


# --- layered -----------------------------------------------------------------------------


def test_options_over_sets_over_the_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"epochs": 1, "lr": 0.1, "batch_size": 4, "name": "file"}))
    d, where = layered(
        path, ["epochs=2", "lr=0.2"], {"epochs": 3, "batch_size": None}, command="tokenize"
    )
    assert d == {"epochs": 3, "lr": 0.2, "batch_size": 4, "name": "file"}  # None: not given
    assert where == f"--config {path} / --set / options"


def test_layers_of_a_sectioned_file_nest_dotted_keys(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(SECTIONED))
    d, _ = layered(path, ["bridge.width=16"], {"bridge.kind": "tqp", "lr": 0.5}, "align")
    assert d == {"lr": 0.5, "bridge": {"kind": "tqp", "width": 16}}


@pytest.mark.parametrize(
    "config, sets, options, where",
    [
        (None, (), None, "options"),
        (None, (), {"epochs": 2}, "options"),
        (None, ("epochs=2",), None, "--set"),
        (None, ("epochs=2",), {"lr": None}, "--set"),
        ("small", (), None, "--config small"),
        ("small", ("epochs=2",), {"epochs": 3}, "--config small / --set / options"),
    ],
)
def test_where_names_the_layers_that_were_given(config, sets, options, where):
    assert layered(config, sets, options, "tokenize")[1] == where


# --- shipped recipes build strictly ------------------------------------------------------


def _contains(big, small) -> bool:
    """Every key of ``small`` is in ``big`` with an equal value (objects compared key by key)."""
    if isinstance(small, dict):
        if not isinstance(big, dict):
            return False
        return all(k in big and _contains(big[k], v) for k, v in small.items())
    return big == small


@pytest.mark.parametrize("name", sorted(recipes()))
def test_every_shipped_recipe_builds_each_stage_strictly(name):
    d = read_file(name)
    where = f"recipe {name}"
    tok = TokenizeConfig.from_settings(section(d, "tokenize"), where)
    align = AlignConfig.from_settings(section(d, "align"), where)
    zs = ZeroShotConfig.from_settings(section(d, "zeroshot"), where)
    assert _contains(settings.to_dict(tok), section(d, "tokenize"))
    assert _contains(settings.to_dict(align), section(d, "align"))
    assert settings.to_dict(zs.tokenize) == settings.to_dict(tok)
    assert settings.to_dict(zs.align) == settings.to_dict(align)
