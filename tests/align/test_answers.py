import numpy as np
import pytest

from sugar_core.align.answers import AnswerMatcher, brace_groups, description_of, normalise

NAMES = ["pick up", "pick up with one hand", "sit down", "stand up", "walk around"]


def fake_embed(texts):
    """Bag-of-letters vectors: close for near-identical spellings, far otherwise."""
    out = np.zeros((len(texts), 26), dtype=np.float32)
    for i, t in enumerate(texts):
        for ch in t.lower():
            if "a" <= ch <= "z":
                out[i, ord(ch) - 97] += 1
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@pytest.mark.parametrize(
    "answer, index, how",
    [
        ("{pick up with one hand}. a person bends down.", 1, "exact"),
        ("{pick up}. a person bends down.", 0, "exact"),  # a name that is a prefix of another
        ("{ Sit Down! }. lowers onto a chair", 2, "normalised"),  # case and punctuation
        ("{stand-up}", 3, "normalised"),
        ("{} {walk around}. steps in a circle", 4, "exact"),  # several braces, first is empty
        ("{jump} then {sit down}", 2, "exact"),  # several braces: the first that names a class
        ("{sit down} or {stand up}", 2, "exact"),  # two classes: the first wins
        ("pick up with one hand. a person bends", 1, "prefix"),  # no braces: longest prefix
        ("Pick up, then walks away", 0, "prefix"),
        ("sit down", 2, "prefix"),
        ("pick upward motion", -1, "none"),  # not at a word boundary
        ("", -1, "none"),  # empty answer
        ("   ", -1, "none"),
        ("{dancing}. a person dances", -1, "none"),  # no listed class, no embedder
        ("{sit down", -1, "none"),  # unbalanced brace: no group, no prefix rule
    ],
)
def test_match_rules_without_embeddings(answer, index, how):
    m = AnswerMatcher(NAMES)(answer)
    assert (m.index, m.how) == (index, how), m


def test_embedding_rule_takes_the_closest_name_above_the_threshold():
    matcher = AnswerMatcher(NAMES, embed_fn=fake_embed, min_similarity=0.9)
    m = matcher("{walk arround}. steps in a circle")  # misspelt
    assert (m.index, m.how) == (4, "embedding") and m.similarity > 0.9
    assert matcher("{xyz qqq}").index == -1  # nothing close enough: off the list
    assert matcher("").index == -1


def test_exact_beats_embedding_and_prefix():
    m = AnswerMatcher(NAMES, embed_fn=fake_embed, min_similarity=0.0)("{pick up}")
    assert (m.index, m.how) == (0, "exact")


def test_helpers():
    assert normalise("  Pick_Up--with ONE/hand!! ") == "pick up with one hand"
    assert brace_groups("{a} x {b c} {}") == ["a", "b c", ""]
    assert description_of("{sit down}. a person sits.") == "a person sits."
    assert description_of("sit down. a person sits.") == "a person sits."
    assert description_of("{sit down}") == ""
    assert description_of("") == ""


def test_description_is_one_clean_sentence():
    # what the demo printed before: the sentence ran into a second answer
    raw = "{waving} a person holds one end of a long object in both hands and {"
    assert description_of(raw) == "a person holds one end of a long object in both hands"
    assert description_of("{sit down}. a person sits. {stand up}. a person") == "a person sits."
    assert description_of("{sit down}. a person sits!\nmore") == "a person sits!"
    assert description_of("{sit down}. a person sits\nand then") == "a person sits"
    assert description_of("{throw}. a person lifts the arm, and the") == "a person lifts the arm"
    assert description_of("{throw}. the") == ""
    # the demo's squatting answer at 16 new tokens
    cut = "{squatting}. a person bends both knees to lower the body into"
    assert description_of(cut) == "a person bends both knees to lower the body"
