"""The action list a prompt shows: which names, in what order, with what knowledge beside them.

Three ideas, each off by default (``AlignConfig`` / ``LLMConfig`` fields):

- list-reading training (``AlignConfig.list_sampling``): a fixed list of every seen name in one
  order lets the model ignore the list and answer from the action tokens alone, which breaks
  when the list is swapped for unseen names. ``sample_list`` draws, per batch, a random subset
  of the trained names (size in [list_min, list_max], always holding the batch's true classes)
  in random order, seeded by (seed, epoch, batch) so a resumed run repeats it.
- knowledge in the prompt (``LLMConfig.knowledge``): each listed name followed by its prior
  text in parentheses (``class_notes``: the motion sentence and / or the one-line description
  of the priors), cut to ``knowledge_tokens`` LLM tokens (``cut``), in training and at test,
  so unseen classes arrive with the same kind of knowledge the seen ones were trained with.
- answer scoring (``AlignConfig.rank_text = "answer"``): rank decoding scores each candidate's
  whole trained answer, ``{name}. description`` (``answer_candidates``), not the name alone.
"""

from __future__ import annotations

import numpy as np

from sugar_core.align.llm import FrozenLLM, Prompt
from sugar_core.errors import ConfigError
from sugar_core.priors.store import Priors


def class_notes(priors: Priors, names: list[str], kind: str) -> list[str] | None:
    """(K,) the prior text each listed name carries (``LLMConfig.knowledge``), uncut; None
    for ``none``. ``motion`` is the full motion sentence (column kind ``motion``), falling
    back to the description when a class has none."""
    if kind == "none":
        return None
    sub = priors.select(list(names))
    motion_col = sub.columns("motion")
    motion_col = [c for c in motion_col if sub.text_kinds[c] == "motion"]
    out = []
    for k in range(len(names)):
        desc = str(sub.descriptions[k]).strip().rstrip(".")
        motion = ""
        if motion_col and sub.mask[k, motion_col[0]]:
            motion = str(sub.texts[k, motion_col[0]]).strip().rstrip(".")
        parts = {
            "motion": [motion or desc],
            "description": [desc],
            "motion+description": [desc, motion],
        }[kind]
        out.append("; ".join(p for p in parts if p))
    return out


def cut(llm: FrozenLLM, texts: list[str] | None, budget: int) -> list[str] | None:
    """Each text cut to at most ``budget`` LLM tokens (decoded back to text)."""
    if texts is None:
        return None
    out = []
    for t in texts:
        ids = llm.ids(t)
        out.append(t if len(ids) <= budget else llm.tokenizer.decode(ids[:budget]).strip())
    return out


def notes_for(llm: FrozenLLM, priors: Priors | None, names: list[str]) -> list[str] | None:
    """The cut notes of ``names`` as ``llm``'s config asks (None when knowledge is none);
    a ConfigError when knowledge is on and no priors cover the names."""
    kind = llm.cfg.knowledge
    if kind == "none":
        return None
    if priors is None:
        raise ConfigError(
            f"this model lists each class with its prior text (knowledge {kind}): "
            "give the priors of the candidate classes"
        )
    return cut(llm, class_notes(priors, names, kind), llm.cfg.knowledge_tokens)


def sample_list(rng: np.random.Generator, k: int, true: list[int], lo: int, hi: int) -> list[int]:
    """Positions (into K trained names) to list, in the order shown: every position in
    ``true``, plus random others up to a size drawn uniformly in [max(lo, |true|), hi]
    (hi 0 = K), the whole list shuffled."""
    true = sorted(set(int(t) for t in true))
    hi = k if hi <= 0 else min(hi, k)
    lo = min(max(lo, len(true)), hi)
    size = int(rng.integers(lo, hi + 1))
    others = np.setdiff1d(np.arange(k), true)
    extra = rng.choice(others, size=max(0, size - len(true)), replace=False).tolist()
    return [int(x) for x in rng.permutation(np.array(true + extra, dtype=np.int64))]


def batch_prompt(
    llm: FrozenLLM, names: list[str], notes: list[str] | None, shown: list[int]
) -> Prompt:
    """The prompt listing names ``shown`` (positions into ``names``) with their notes."""
    return llm.prompt(
        [names[i] for i in shown], None if notes is None else [notes[i] for i in shown]
    )


def answer_candidates(llm: FrozenLLM, prompt: Prompt, descriptions: list[str] | None) -> Prompt:
    """``prompt`` whose candidates are whole answers, ``{name}. description`` (the description
    cut as in training, no end token), for ``rank_text = "answer"``."""
    if descriptions is None or len(descriptions) != len(prompt.names):
        raise ConfigError("answer scoring needs one description per candidate (from the priors)")
    cands = [llm.answer_ids(prompt, i, d)[:-1] for i, d in enumerate(descriptions)]
    return Prompt(prompt.names, prompt.prefix, prompt.suffix, cands)
