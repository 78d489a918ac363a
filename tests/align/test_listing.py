"""The action list a prompt shows: sampled lists in training, prior notes within their
budget, whole-answer scoring, and what an aligned file keeps of them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sugar_core.align import listing
from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
from sugar_core.align.inference import build_prompt, predict
from sugar_core.align.llm import FrozenLLM
from sugar_core.align.store import load_aligned, save_aligned
from sugar_core.align.training import train_alignment
from sugar_core.errors import ConfigError
from sugar_core.predictions import Predictions
from tests.helpers.align import CLASSES, DESCRIPTIONS, synthetic_priors, synthetic_tokens

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(llm_dir, knowledge="none", **kw) -> AlignConfig:
    llm = LLMConfig(spec=str(llm_dir), lora_r=2, max_description_tokens=5, knowledge=knowledge,
                    knowledge_tokens=4, prompt="list-first")  # fmt: skip
    base = dict(bridge=BridgeConfig(queries=2, chunk=4, width=16, heads=2), llm=llm, epochs=2,
                lr=5e-3, batch_size=4)  # fmt: skip
    return AlignConfig(**{**base, **kw})


@pytest.mark.parametrize("seed", range(20))
def test_sample_list_holds_the_true_classes_within_its_size(seed):
    rng = np.random.default_rng(seed)
    true = sorted(rng.choice(10, size=int(rng.integers(1, 4)), replace=False).tolist())
    shown = listing.sample_list(rng, 10, true, 2, 6)
    assert set(true) <= set(shown) and len(set(shown)) == len(shown)
    assert max(2, len(true)) <= len(shown) <= 6 and all(0 <= s < 10 for s in shown)


def test_sample_list_varies_and_repeats_with_its_seed():
    draws = [tuple(listing.sample_list(np.random.default_rng([0, i]), 8, [3], 2, 0))
             for i in range(30)]  # fmt: skip
    assert len(set(draws)) > 20 and len({len(d) for d in draws}) > 3
    assert draws[5] == tuple(listing.sample_list(np.random.default_rng([0, 5]), 8, [3], 2, 0))


def test_training_lists_vary_per_batch_and_hold_each_answer(tiny_llm_dir, monkeypatch):
    seen = []
    real = FrozenLLM.forward

    def spy(self, action, prompt, target, target_mask):
        seen.append((list(prompt.names), prompt.candidates, target.tolist()))
        return real(self, action, prompt, target, target_mask)

    monkeypatch.setattr(FrozenLLM, "forward", spy)
    cfg = _cfg(tiny_llm_dir, list_sampling=True, list_min=2, validation="none")
    train_alignment(synthetic_tokens(), synthetic_priors(), cfg, "xview")
    assert len(seen) == 2 * 8  # 32 train samples / 4, 2 epochs
    assert len({tuple(names) for names, _, _ in seen}) > 3  # subsets and orders change
    for names, cands, targets in seen:
        assert set(names) <= set(CLASSES) and len(names) >= 2
        for t in targets:  # each answer starts with one of the listed candidates
            assert any(t[: len(c)] == c for c in cands), (names, t)
    again = []
    monkeypatch.setattr(FrozenLLM, "forward", lambda self, a, p, t, m: (
        again.append(list(p.names)), real(self, a, p, t, m))[1])  # fmt: skip
    train_alignment(synthetic_tokens(), synthetic_priors(), cfg, "xview")
    assert again == [names for names, _, _ in seen]  # seeded: the same lists again


def test_fixed_list_without_sampling(tiny_llm_dir, monkeypatch):
    seen = []
    real = FrozenLLM.forward
    monkeypatch.setattr(FrozenLLM, "forward", lambda self, a, p, t, m: (
        seen.append(tuple(p.names)), real(self, a, p, t, m))[1])  # fmt: skip
    train_alignment(synthetic_tokens(), synthetic_priors(), _cfg(tiny_llm_dir, epochs=1), "xview")
    assert set(seen) == {tuple(CLASSES)}


def test_notes_carry_prior_texts_within_the_budget(tiny_llm_dir):
    from sugar_core.align.model import load_llm

    priors = synthetic_priors()
    for kind, src in (("description", DESCRIPTIONS), ("motion", DESCRIPTIONS)):
        raw = listing.class_notes(priors, CLASSES, kind)
        assert raw == [d.rstrip(".") for d in src]
    both = listing.class_notes(priors, CLASSES[:1], "motion+description")
    assert both == [DESCRIPTIONS[0].rstrip(".") + "; " + DESCRIPTIONS[0].rstrip(".")]
    assert listing.class_notes(priors, CLASSES, "none") is None
    llm = load_llm(LLMConfig(spec=str(tiny_llm_dir), lora=False, knowledge="description",
                             knowledge_tokens=3))  # fmt: skip
    notes = listing.notes_for(llm, priors, CLASSES)
    assert all(len(llm.ids(n)) <= 3 and d.startswith(n) for n, d in zip(notes, DESCRIPTIONS))
    prompt = llm.prompt(CLASSES, notes)
    text = llm.tokenizer.decode(prompt.prefix.tolist() + prompt.suffix.tolist())
    for name, note in zip(CLASSES, notes):
        assert f"{name} ({note})" in text
    assert prompt.candidates == llm.prompt(CLASSES).candidates  # the answers stay names
    with pytest.raises(ConfigError, match="give the priors"):
        listing.notes_for(llm, None, CLASSES)


def test_knowledge_model_needs_priors_for_another_list_and_keeps_its_own(tiny_llm_dir, tmp_path):
    ts, priors = synthetic_tokens(), synthetic_priors()
    model = train_alignment(ts, priors, _cfg(tiny_llm_dir, "description", epochs=1), "xview")
    assert model.class_notes is not None and len(model.class_notes) == len(CLASSES)
    seqs = [ts.tokens[i] for i in ts.split_indices("xview", "test")][:4]
    own = predict(model, seqs, CLASSES, describe=False)
    other = ["throw", "sit down"]
    with pytest.raises(ConfigError, match="give the priors"):
        predict(model, seqs, other, describe=False)
    z = predict(model, seqs, other, describe=False, priors=priors)
    assert set(z.pred.tolist()) <= {0, 1}
    p = Predictions(labels=ts.labels[:4], pred=own.pred, top5=own.top5, class_names=CLASSES,
                    sample_ids=["a", "b", "c", "d"], scores=own.scores)  # fmt: skip
    save_aligned(tmp_path / "k.h5", model, p)
    back = load_aligned(tmp_path / "k.h5")
    assert back.class_notes == model.class_notes
    assert back.class_descriptions == list(DESCRIPTIONS)
    np.testing.assert_array_equal(predict(back, seqs, CLASSES, describe=False).pred, own.pred)


def test_answer_scoring_scores_the_trained_answers(tiny_llm_dir):
    ts, priors = synthetic_tokens(), synthetic_priors()
    model = train_alignment(ts, priors, _cfg(tiny_llm_dir, epochs=1), "xview")
    prompt = build_prompt(model, CLASSES, rank_text="answer")
    plain = build_prompt(model, CLASSES)
    for k, d in enumerate(DESCRIPTIONS):
        assert prompt.candidates[k] == model.llm.answer_ids(plain, k, d)[:-1]
    seqs = [ts.tokens[i] for i in ts.split_indices("xview", "test")][:4]
    dec = predict(model, seqs, CLASSES, describe=False, rank_text="answer", keep_scores=True)
    assert dec.lengths.tolist() == [len(c) for c in prompt.candidates]
    assert dec.null is not None and dec.raw_scores.shape == (4, len(CLASSES))
    cfg = dataclasses.replace(model.config, rank_text="answer")
    assert build_prompt(dataclasses.replace(model, config=cfg), CLASSES).candidates == (
        prompt.candidates
    )
    with pytest.raises(ConfigError, match="description"):
        build_prompt(model, ["throw", "new class"], rank_text="answer")


def test_list_settings_are_checked():
    with pytest.raises(ConfigError, match="list_max"):
        AlignConfig(list_sampling=True, list_min=4, list_max=3).check()
    with pytest.raises(ConfigError, match="rank_text"):
        AlignConfig(rank_text="names").check()
    with pytest.raises(ConfigError, match="knowledge"):
        AlignConfig(llm=LLMConfig(knowledge="visual")).check()
