"""Classes named at prediction time: the class list, their priors (backend, cache, none), and
the candidate list the LLM ranks and the embedding baseline scores."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from sugar_core.errors import ConfigError, InputFormatError
from sugar_core.pipeline import class_priors
from sugar_core.pipeline.class_priors import (
    NAME_ONLY,
    ClassPriorCache,
    NewClass,
    make_class_priors,
    priors_settings,
)
from sugar_core.pipeline.new_classes import (
    build_candidates,
    gather_classes,
    model_priors,
    read_class_file,
)
from sugar_core.priors.backends.builtin import BuiltinBackend
from sugar_core.priors.prototypes import class_prototypes, cosine_rank
from sugar_core.skeleton.synthetic import SYNTHETIC_CLASSES
from tests.helpers.backends import Scripted
from tests.helpers.predict_model import write_model

pytestmark = pytest.mark.usefixtures("one_thread")

KNOWN = NewClass("walk around", "a person walks in a circle", "--class")  # builtin (nw-ucla)
UNKNOWN = NewClass("juggle three balls", "hands toss balls in turn", "--class")  # no builtin


@pytest.fixture(scope="module")
def model(tmp_path_factory, tiny_llm_dir, tiny_bert_dir):
    return write_model(tmp_path_factory.mktemp("new-classes"), tiny_llm_dir, tiny_bert_dir)


@pytest.fixture
def encoder(tiny_bert_dir):
    from sugar_core.priors.encoders import load_text_encoder

    return load_text_encoder(tiny_bert_dir)


class CountingBuiltin(BuiltinBackend):
    """The builtin backend, counting every lookup."""

    def __init__(self):
        super().__init__()
        self.lookups = []

    def lookup(self, class_name):
        self.lookups.append(class_name)
        return super().lookup(class_name)


# ---------------------------------------------------------------------------------------------
# the class list


def test_class_file_skips_comments_and_blank_lines(tmp_path):
    p = tmp_path / "mine.txt"
    p.write_text("# my classes\n\nwave hand\n  clap :  both   hands meet  \n# end\n")
    got = read_class_file(p)
    assert [(c.name, c.description) for c in got] == [
        ("wave hand", ""),
        ("clap", "both hands meet"),
    ]
    assert got[1].where == f"{p}:4"


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("wave\n: a person waves\n", 2, "no class name"),
        ("wave\n\nclap:\n", 3, "nothing after ':'"),
        ("{wave}\n", 1, "brace"),
    ],
)
def test_class_file_errors_name_the_file_and_line(tmp_path, text, line, words):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(InputFormatError, match=words) as err:
        read_class_file(p)
    assert str(err.value).startswith(f"{p}:{line}: ")


def test_empty_missing_and_repeated_class_lists(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(InputFormatError, match="no classes"):
        read_class_file(empty)
    with pytest.raises(InputFormatError, match="no such class list file"):
        read_class_file(tmp_path / "absent.txt")
    twice = tmp_path / "twice.txt"
    twice.write_text("wave\nclap\n")
    with pytest.raises(ConfigError, match=rf"'Wave' given twice \({twice}:1 and --class\)"):
        gather_classes(twice, ["Wave: again"])
    with pytest.raises(ConfigError, match="--class: nothing after"):
        gather_classes(None, ["wave:"])


# ---------------------------------------------------------------------------------------------
# priors made on the fly


def test_priors_settings_follow_the_model_unless_told(model):
    _, d = model
    trained, recorded, warnings = model_priors(d / "aligned.h5")
    assert warnings == [] and trained.class_names == list(SYNTHETIC_CLASSES)
    cfg = priors_settings(recorded, trained.encoder_id)
    assert cfg.backend.name == "builtin" and cfg.backend.dataset == "synthetic"
    assert cfg.text_encoder == trained.encoder_id.rsplit("@", 1)[0]
    cfg = priors_settings(recorded, trained.encoder_id, "hf", model="my-llm")
    assert cfg.backend.name == "hf" and cfg.backend.model == "my-llm"
    assert cfg.backend.dataset is None
    assert priors_settings(None).backend.name == "builtin"


def test_known_new_and_unknown_names_second_call_hits_the_cache(tmp_path, encoder, monkeypatch):
    cfg = priors_settings(None, encoder.id)
    cache = ClassPriorCache(tmp_path / "cache")
    backend = CountingBuiltin()
    made = make_class_priors([KNOWN, UNKNOWN], cfg, encoder.id, backend, encoder, cache)
    assert made.source == {KNOWN.name: backend.id, UNKNOWN.name: NAME_ONLY}
    walk = made.priors[KNOWN.name]
    assert walk.class_names == [KNOWN.name]
    assert walk.descriptions == [KNOWN.description]  # the user's, not the builtin one
    assert "motion" in walk.text_kinds and walk.mask.sum() >= 8  # the builtin texts
    texts = [str(t) for t in walk.texts[walk.mask]]
    np.testing.assert_allclose(walk.embeddings[walk.mask], encoder.encode(texts), atol=1e-5)
    juggle = made.priors[UNKNOWN.name]
    assert [str(t) for t in juggle.texts[0]] == [UNKNOWN.name, UNKNOWN.description]
    np.testing.assert_allclose(
        juggle.embeddings[0], encoder.encode([UNKNOWN.name, UNKNOWN.description]), atol=1e-5
    )
    assert len(made.notes) == 1 and "no prior for 'juggle three balls'" in made.notes[0]
    assert "name and description only" in made.notes[0] and not made.cached

    # again: every prior from the cache, no backend call, no text encoder loaded
    def no_load(spec):
        raise AssertionError("the text encoder was loaded on a cache hit")

    monkeypatch.setattr(class_priors, "load_text_encoder", no_load)
    again = CountingBuiltin()
    made2 = make_class_priors([KNOWN, UNKNOWN], cfg, encoder.id, again, None, cache)
    assert again.lookups == [] and made2.cached == {KNOWN.name, UNKNOWN.name}
    assert made2.notes == made.notes and made2.source == made.source
    for n in (KNOWN.name, UNKNOWN.name):
        np.testing.assert_array_equal(made2.priors[n].embeddings, made.priors[n].embeddings)
    # another description is another prior
    other = NewClass(KNOWN.name, "someone strolls around")
    monkeypatch.setattr(class_priors, "load_text_encoder", lambda spec: encoder)
    made3 = make_class_priors([other], cfg, encoder.id, again, None, cache)
    assert again.lookups and not made3.cached
    assert made3.priors[KNOWN.name].descriptions == ["someone strolls around"]


def test_a_generating_backend_gets_the_description_as_context(tmp_path, encoder):
    cfg = priors_settings(None, encoder.id, "hf")
    cfg.cache_dir = str(tmp_path / "answers")
    backend = Scripted(id="scripted:ctx")
    wave = NewClass("wave hand", "a person waves one hand over the head")
    made = make_class_priors([wave], cfg, encoder.id, backend, encoder,
                             ClassPriorCache(tmp_path / "c"))  # fmt: skip
    asked = " ".join(t for texts, _ in backend.calls for t in texts)
    assert "wave hand (a person waves one hand over the head)" in asked
    p = made.priors["wave hand"]
    assert p.class_names == ["wave hand"] and p.descriptions == [wave.description]
    assert made.notes == [] and made.source["wave hand"] == "scripted:ctx"

    def files(root):  # the cache's files and a digest of their bytes
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in root.rglob("*") if p.is_file()}  # fmt: skip

    cached = files(tmp_path / "c")
    assert len(cached) == 1  # wave hand's priors: the folder the cache writes to
    bad = Scripted(lambda prompt, attempt: "no idea", id="scripted:bad")
    made = make_class_priors([NewClass("spin")], cfg, encoder.id, bad, encoder,
                             ClassPriorCache(tmp_path / "c"))  # fmt: skip
    assert made.source["spin"] == NAME_ONLY and "stayed malformed" in made.notes[0]
    assert "scored with its name only" in made.notes[0]
    assert files(tmp_path / "c") == cached  # a name-only fallback is never cached


# ---------------------------------------------------------------------------------------------
# the candidate list and the prediction


def _made(encoder, tmp_path):
    cfg = priors_settings(None, encoder.id)
    cache = ClassPriorCache(tmp_path / "cache")
    return lambda cs: make_class_priors(cs, cfg, encoder.id, BuiltinBackend(), encoder, cache)


def test_candidates_trained_then_new_with_their_priors(model, encoder, tmp_path):
    _, d = model
    trained, _, _ = model_priors(d / "aligned.h5")
    given = [KNOWN, UNKNOWN, NewClass("Waving", "", "x.txt:3")]
    c = build_candidates(list(SYNTHETIC_CLASSES), given, trained, _made(encoder, tmp_path))
    assert c.names == [*SYNTHETIC_CLASSES, KNOWN.name, UNKNOWN.name]
    assert c.new_names == [KNOWN.name, UNKNOWN.name]
    assert c.sources[: len(SYNTHETIC_CLASSES)] == ["model priors"] * len(SYNTHETIC_CLASSES)
    assert c.descriptions[-2:] == [KNOWN.description, UNKNOWN.description]
    assert c.descriptions[0] == trained.descriptions[0]
    made = _made(encoder, tmp_path)([KNOWN, UNKNOWN])  # from the cache: the same priors
    want = np.concatenate([
        class_prototypes(trained, list(SYNTHETIC_CLASSES)),
        class_prototypes(made.priors[KNOWN.name], [KNOWN.name]),
        class_prototypes(made.priors[UNKNOWN.name], [UNKNOWN.name]),
    ])  # fmt: skip
    np.testing.assert_allclose(c.prototypes, want, atol=1e-6)
    # the merged priors keep every class's own texts (what the LLM's notes are cut from)
    assert c.priors.class_names == c.names and c.priors.descriptions == c.descriptions
    for n in (SYNTHETIC_CLASSES[0], KNOWN.name, UNKNOWN.name):
        src = trained if n in SYNTHETIC_CLASSES else made.priors[n]
        one, row = src.select([n]), c.priors.select([n])
        assert sorted(map(str, one.texts[one.mask])) == sorted(map(str, row.texts[row.mask]))
    assert any("'Waving' (x.txt:3) is one of the model's classes" in n for n in c.notes)
    assert any("no prior for 'juggle three balls'" in n for n in c.notes)

    only = build_candidates(list(SYNTHETIC_CLASSES), given, trained, _made(encoder, tmp_path),
                            only_new=True)  # fmt: skip
    assert only.names == [KNOWN.name, UNKNOWN.name, "waving"] and only.new == [True, True, False]
    with pytest.raises(ConfigError, match="no candidate classes"):
        build_candidates(["waving"], [], trained, None, only_new=True)


def test_prediction_ranks_the_new_names_and_reports_the_baseline(
    model, encoder, tmp_path, monkeypatch
):
    from sugar_core.align import inference
    from sugar_core.pipeline.predict import RawFile, load_predictor, predict_samples
    from sugar_core.tokenize.encoding import encode

    data, d = model
    trained, _, _ = model_priors(d / "aligned.h5")
    cands = build_candidates(list(SYNTHETIC_CLASSES), [KNOWN, UNKNOWN], trained,
                             _made(encoder, tmp_path))  # fmt: skip
    predictor = load_predictor(d / "aligned.h5")
    built = []  # (names, priors, prompt) of every prompt the LLM ranked with
    real = inference.build_prompt

    def spy(model, names, priors=None, rank_text=None):
        built.append((list(names), priors, real(model, names, priors, rank_text)))
        return built[-1][2]

    monkeypatch.setattr(inference, "build_prompt", spy)
    sub = data.subset([0, len(data) - 1])
    raw = RawFile("two.npz", "numpy", sub.layout, sub.samples)
    answers = predict_samples(predictor, [raw], describe=False, candidates=cands)
    ((names, priors, prompt),) = built
    assert names == cands.names and priors is cands.priors  # the enlarged list, its priors
    tok = predictor.model.llm.tokenizer
    texts = [tok.decode(ids) for ids in prompt.candidates]
    assert texts[-2:] == ["{walk around}", "{juggle three balls}"]
    ts = encode(sub, predictor.encoder, predictor.heads, prep=predictor.prep)
    _, top, cos = cosine_rank(ts.projected, cands.prototypes, np.arange(len(cands.names)))
    for i, a in enumerate(answers):
        assert a.new_classes == [KNOWN.name, UNKNOWN.name]
        assert {c for c, _ in a.top5} <= set(cands.names) and len(a.top5) == 5
        assert [c for c, _ in a.baseline] == [cands.names[k] for k in top[i]]
        np.testing.assert_allclose([s for _, s in a.baseline], cos[i], atol=1e-5)
        assert a.class_description == cands.descriptions[cands.names.index(a.class_name)]
        j = a.to_dict()
        assert j["new_classes"] == a.new_classes and j["new"] == (a.class_name in a.new_classes)
        assert [t["new"] for t in j["top5"]] == [t["class"] in a.new_classes for t in j["top5"]]
        assert j["baseline"]["class"] == a.baseline[0][0] and j["notes"] == cands.notes

    # a model that lists each name with its prior text shows the new classes' own texts
    predictor.model.llm.cfg.knowledge = "description"
    predict_samples(predictor, [raw], describe=False, candidates=cands)
    shown = tok.decode(built[-1][2].prefix.tolist() + built[-1][2].suffix.tolist())
    assert f"walk around ({KNOWN.description})" in shown
    assert f"juggle three balls ({UNKNOWN.description})" in shown
    assert f"waving ({trained.descriptions[0][:20]}" in shown  # cut to knowledge_tokens
