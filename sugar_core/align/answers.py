"""Reading the class out of a generated answer, and matching it to the action list.

The recognizer is trained to answer ``{class name}. one-sentence description`` (the class in
braces, then a full stop and the description). Generated text does not always follow that
shape, so a phrase is matched to the listed names in this order, the first hit winning:

1. ``exact``: the text inside a pair of braces equals a listed name (the first such group);
2. ``normalised``: equal after lower-casing, turning ``_ - /`` into spaces, dropping other
   punctuation and collapsing spaces (again the first group that matches);
3. ``prefix``: only when the answer has no braces at all: the longest listed name that the
   normalised answer starts with, ending at a word boundary (so ``pick up with one hand and``
   picks ``pick up with one hand`` over ``pick up``);
4. ``embedding``: with an embedding function, the listed name closest (cosine) to the first
   non-empty brace group, or to the answer's first sentence when it has no braces, if the
   similarity reaches ``min_similarity``;
5. otherwise ``none``: the answer names no listed class (index -1, counted as off-list).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

EmbedFn = Callable[[list[str]], np.ndarray]  # texts -> (n, D) L2-normalised rows

_BRACES = re.compile(r"\{([^{}]*)\}")
_SEPARATORS = re.compile(r"[_\-/]+")
_NOT_WORD = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"[.!?\n]")


@dataclass(frozen=True)
class Match:
    index: int  # into the listed names; -1 = names no listed class
    phrase: str  # the part of the answer that was matched
    how: str  # exact | normalised | prefix | embedding | none
    similarity: float = float("nan")  # cosine, for the embedding rule


def normalise(text: str) -> str:
    """Lower case, separators to spaces, other punctuation dropped, single spaces."""
    text = _SEPARATORS.sub(" ", text.lower())
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip()


def brace_groups(text: str) -> list[str]:
    """The contents of every innermost ``{...}`` pair, in order, stripped."""
    return [g.strip() for g in _BRACES.findall(text)]


def first_sentence(text: str) -> str:
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0].strip()


# words a sentence cut by the token budget must not end on
_DANGLING = frozenset(
    "and or but with of the a an to in on onto into toward towards at by for from then while as "
    "its their than that which".split()
)


def description_of(text: str) -> str:
    """The description: the first sentence after the first ``}`` (without braces, the second
    sentence). The target is one sentence, so what follows its end, or a second answer begun
    with ``{``, is dropped; a sentence cut by the token budget loses its dangling last words
    (``... in both hands and`` -> ``... in both hands``).

    >>> description_of("{sit down}. a person lowers the hips onto a chair. {stand")
    'a person lowers the hips onto a chair.'
    """
    text = text.strip()
    if "}" in text:
        rest = text.split("}", 1)[1]
    else:
        parts = _SENTENCE_END.split(text, maxsplit=1)
        rest = parts[1] if len(parts) > 1 else ""
    rest = rest.lstrip(" .:;,-\n\t").split("{", 1)[0]
    end = _SENTENCE_END.search(rest)
    if end is not None:
        return rest[: end.end() if end.group() in ".!?" else end.start()].strip()
    words = rest.split()
    while words and words[-1].strip(",;:").lower() in _DANGLING:
        words.pop()
    return " ".join(words).rstrip(",;:")


class AnswerMatcher:
    """Match answers to ``names`` (see the module docstring for the rules)."""

    def __init__(
        self, names: Sequence[str], embed_fn: EmbedFn | None = None, min_similarity: float = 0.6
    ):
        assert len(names) > 0, "empty action list"
        self.names = list(names)
        self.exact = {n.strip(): i for i, n in enumerate(self.names)}
        self.norm: dict[str, int] = {}
        for i, n in enumerate(self.names):
            self.norm.setdefault(normalise(n), i)
        self.embed_fn = embed_fn
        self.min_similarity = float(min_similarity)
        self._name_emb = None  # (K, D), computed on the first embedding match

    def __call__(self, answer: str) -> Match:
        groups = [g for g in brace_groups(answer) if g]
        for g in groups:
            if g in self.exact:
                return Match(self.exact[g], g, "exact")
        for g in groups:
            if normalise(g) in self.norm:
                return Match(self.norm[normalise(g)], g, "normalised")
        if not groups and "{" not in answer and "}" not in answer:
            hit = self._longest_prefix(normalise(answer))
            if hit >= 0:
                return Match(hit, first_sentence(answer), "prefix")
        phrase = groups[0] if groups else first_sentence(answer.replace("{", "").replace("}", ""))
        if phrase and self.embed_fn is not None:
            sims = self._similarities(phrase)
            best = int(np.argmax(sims))
            if sims[best] >= self.min_similarity:
                return Match(best, phrase, "embedding", float(sims[best]))
        return Match(-1, phrase, "none")

    def _longest_prefix(self, text: str) -> int:
        best, best_len = -1, 0
        for name, i in self.norm.items():
            if name and len(name) > best_len and (text == name or text.startswith(name + " ")):
                best, best_len = i, len(name)
        return best

    def _similarities(self, phrase: str) -> np.ndarray:
        if self._name_emb is None:
            self._name_emb = np.asarray(self.embed_fn(self.names), dtype=np.float32)  # (K, D)
        q = np.asarray(self.embed_fn([phrase]), dtype=np.float32)[0]  # (D,)
        return self._name_emb @ q  # (K,)
