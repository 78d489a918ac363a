"""Building priors: retries, failure reports, fallback, offline replay, the table's shape."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sugar_core.errors import BackendError, ConfigError
from sugar_core.priors.backends import Backend, BackendConfig
from sugar_core.priors.build import PriorsConfig, build_priors
from sugar_core.priors.cache import PromptCache, Request, ask
from sugar_core.priors.store import MOTION_PARTS
from tests.helpers.backends import Scripted, sensible
from tests.helpers.encoders import tiny_text_encoder

NAMES = ["pick up with one hand", "walk around", "throw"]


class Unreachable(Backend):
    can_complete = True
    id = "scripted"

    def complete(self, prompts, attempt=0):
        raise AssertionError("the backend must not be asked in offline replay")


@pytest.fixture(scope="module")
def encoder():
    return tiny_text_encoder()


def cfg(tmp_path, **kw) -> PriorsConfig:
    return PriorsConfig(cache_dir=str(tmp_path / "cache"), **kw)


def test_generated_priors_have_the_documented_columns(tmp_path, encoder):
    priors, report = build_priors(NAMES, cfg(tmp_path), Scripted(), encoder)
    assert priors.text_kinds == ["motion"] + [f"motion:{p}" for p in MOTION_PARTS] + ["visual"] * 3
    assert priors.texts.shape == (3, 10) and priors.mask.all()
    assert priors.texts[2, 1] == "head looks toward the throw"
    assert priors.texts[2, 0].startswith("head looks toward the throw; hand moves for throw;")
    assert priors.texts[1, 7] == "A person doing walk around, seen from the front."
    assert priors.descriptions[0] == "A person performs the action pick up with one hand."
    norms = np.linalg.norm(priors.embeddings, axis=-1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    assert priors.encoder_id == encoder.id
    assert priors.sources["motion"] == "generated" and priors.sources["visual"] == "text"
    assert report.valid_first == {"motion": 3, "visual": 3, "description": 3}
    assert report.questions == {"motion": 3, "visual": 3, "description": 3}


def test_malformed_answer_is_retried_with_a_reminder(tmp_path, encoder):
    def fn(prompt, attempt):
        if "Write six lines" in prompt and attempt == 0:
            return "I am not sure what you mean."
        return sensible(prompt)

    b = Scripted(fn)
    priors, report = build_priors(NAMES, cfg(tmp_path), b, encoder)
    assert report.valid_first["motion"] == 0 and report.valid["motion"] == 3
    motion_calls = [(p, a) for p, a in b.calls if "Write six lines" in p[0]]
    assert [a for _, a in motion_calls] == [0, 1]
    assert "all six, each starting with the part's name" in motion_calls[1][0][0]
    assert "all six" not in motion_calls[0][0][0]
    assert priors.texts[0, 1] == "head looks toward the pick up with one hand"


def test_class_that_stays_malformed_is_reported_by_name(tmp_path, encoder):
    def fn(prompt, attempt):
        if "Action: walk around." in prompt:
            return "head: nods; hand: waves"
        return sensible(prompt)

    with pytest.raises(BackendError) as err:
        build_priors(NAMES, cfg(tmp_path, retries=1), Scripted(fn), encoder)
    msg = str(err.value)
    assert "'walk around'" in msg and "after 2 tries" in msg and "1 of 3 classes" in msg
    assert "arm, hip, leg, foot" in msg and "--allow-fallback builtin" in msg


def test_fallback_builtin_fills_failed_classes_and_says_so(tmp_path, encoder):
    def fn(prompt, attempt):
        return "gibberish" if "walk around" in prompt else sensible(prompt)

    c = cfg(tmp_path, retries=1, fallback="builtin")
    priors, report = build_priors(NAMES, c, Scripted(fn), encoder)
    assert report.fallback["motion"] == ["walk around"]
    assert report.fallback["visual"] == ["walk around"]
    assert report.fallback["description"] == ["walk around"]
    per = priors.sources["per_class"]
    assert per["walk around"] == {
        "motion": "builtin-fallback",
        "visual": "builtin-fallback",
        "description": "derived",
    }
    assert priors.sources["motion"] == "mixed"
    assert priors.texts[1, 1].startswith("head faces the walking direction")
    assert priors.descriptions[1] == priors.texts[1, 0]  # derived from the motion sentence


def test_fewer_visual_texts_are_masked(tmp_path, encoder):
    def fn(prompt, attempt):
        if "different short sentences" in prompt and "{throw}" in prompt:
            return "A person throws a ball."
        return sensible(prompt)

    priors, _ = build_priors(NAMES, cfg(tmp_path), Scripted(fn), encoder)
    vis = priors.columns("visual")
    assert priors.mask[2, vis].tolist() == [True, False, False]
    assert priors.texts[2, vis[1]] == "" and not priors.embeddings[2, vis[1]].any()


def test_offline_replays_the_cache_and_fails_clearly_on_a_miss(tmp_path, encoder):
    first, _ = build_priors(NAMES, cfg(tmp_path), Scripted(), encoder)
    again, _ = build_priors(NAMES, cfg(tmp_path, offline=True), Unreachable(), encoder)
    np.testing.assert_array_equal(first.texts, again.texts)
    assert first.descriptions == again.descriptions
    with pytest.raises(BackendError, match=r"--offline: no cached answer for class 'sit down'"):
        build_priors(NAMES + ["sit down"], cfg(tmp_path, offline=True), Unreachable(), encoder)


def test_cache_is_keyed_by_backend_prompt_class_and_attempt(tmp_path):
    cache = PromptCache(tmp_path)
    r = Request("motion", "throw", "prompt text", 0)
    cache.put("b1", r, "answer one")
    assert cache.get("b1", r) == "answer one"
    assert cache.get("b2", r) is None
    assert cache.get("b1", Request("motion", "throw", "prompt text", 1)) is None
    assert cache.get("b1", Request("motion", "walk", "prompt text", 0)) is None
    assert cache.get("b1", Request("motion", "throw", "other prompt", 0)) is None
    assert cache.get("b1", Request("motion", "throw", "prompt text", 0, None, "abc")) is None
    files = list(tmp_path.rglob("*"))
    assert len([f for f in files if f.is_file()]) == 1  # no temporary files left behind
    stored = json.loads([f for f in files if f.is_file()][0].read_text())
    assert stored["key"]["class"] == "throw" and stored["answer"] == "answer one"


def test_corrupt_cache_entry_is_a_miss_online_and_an_error_offline(tmp_path):
    cache = PromptCache(tmp_path)
    r = Request("motion", "throw", "p", 0)
    cache.put("b", r, "fine")
    path = cache.path(cache.key("b", r))
    path.write_text("{not json")
    assert cache.get("b", r) is None
    b = Scripted(lambda p, a: "fresh", id="b")
    assert ask(b, cache, [r]) == ["fresh"] and cache.get("b", r) == "fresh"
    path.write_text("{not json")
    with pytest.raises(BackendError, match="unreadable cache entry"):
        PromptCache(tmp_path, offline=True).get("b", r)


def test_lookup_backend_missing_class_suggests_close_names(tmp_path, encoder):
    with pytest.raises(ConfigError, match=r"'walk arround' \(close: \['walk around'"):
        build_priors(["walk arround"], cfg(tmp_path), text_encoder=encoder)


def test_builtin_backend_uses_shipped_texts(tmp_path, encoder):
    c = cfg(tmp_path, backend=BackendConfig(name="builtin", dataset="nw-ucla"))
    priors, report = build_priors(["throw", "walk around"], c, text_encoder=encoder)
    assert priors.sources["motion"] == "builtin" and priors.sources["description"] == "builtin"
    assert priors.mask[:, :7].all() and priors.mask.sum(1).min() >= 10
    assert not (tmp_path / "cache").exists()  # nothing asked, nothing cached
    assert report.valid == {"motion": 2, "visual": 2}


def test_config_checks(tmp_path, encoder):
    for bad in (dict(fallback="gpt"), dict(retries=-1), dict(visual_k=0), dict(descriptions="x")):
        with pytest.raises(ConfigError):
            build_priors(NAMES, cfg(tmp_path, **bad), Scripted(), encoder)
    with pytest.raises(ConfigError, match="--videos needs a backend"):
        build_priors(NAMES, cfg(tmp_path, videos=str(tmp_path)), text_encoder=encoder)
