"""The answer parsers: tolerant of form, strict about content."""

from __future__ import annotations

import pytest

from sugar_core.priors.parse import (
    MalformedAnswer,
    motion_sentence,
    parse_description,
    parse_motion,
    parse_sentences,
)
from sugar_core.priors.prompts import (
    EXAMPLE_ANSWER,
    EXAMPLE_PARTS,
    description_prompt,
    motion_prompt,
    prompt_text,
    visual_image_prompt,
    visual_text_prompt,
)
from sugar_core.priors.store import MOTION_PARTS

GOOD = {
    "semicolons": "head bends down; hand grasps the box; arm lifts the box; hip bends forward; "
    "leg bends at the knee; foot stays planted.",
    "colons": "Head: bends down; Hand: grasps the box; Arm: lifts the box; Hip: bends forward; "
    "Leg: bends at the knee; Foot: stays planted",
    "lines": "**Head**: bends down\n**Hand**: grasps the box\n**Arm**: lifts the box\n"
    "**Hip**: bends forward\n**Leg**: bends at the knee\n**Foot**: stays planted",
    "bullets": "Here you go:\n- head - bends down\n- hands: both hands grasp the box\n"
    "- arms - lift the box\n- hips - bend forward\n- legs - bend at the knee\n"
    "- feet - stay planted\n",
    "numbered": "1. Head bends down\n2. Hand grasps the box\n3. Arm lifts the box\n"
    "4. Hip bends forward\n5. Leg bends at the knee\n6. Foot stays planted",
    "echo": "An action of {pick up}: head bends down; hand grasps the box; arm lifts the box; "
    "hip bends forward; leg bends at the knee; foot stays planted.",
    "commas": "The head bends down, the hand grasps the box, the arm lifts the box, the hip "
    "bends forward, the leg bends at the knee, the foot stays planted.",
}


@pytest.mark.parametrize("form", sorted(GOOD))
def test_motion_parser_accepts_common_forms(form):
    parts = parse_motion(GOOD[form])
    assert list(parts) == list(MOTION_PARTS)
    assert "bends down" in parts["head"] and parts["head"].lower().startswith("head")
    assert "box" in parts["hand"]
    assert "planted" in parts["foot"]
    for part, phrase in parts.items():
        assert {part, part + "s", "feet"} & set(phrase.lower().split()[:2]), (part, phrase)


def test_motion_parser_keeps_plural_phrase_as_written():
    parts = parse_motion(GOOD["bullets"])
    assert parts["hand"] == "both hands grasp the box"
    assert parts["foot"] == "feet stay planted"


BROKEN = {
    "empty": "",
    "missing parts": "head bends down; hand grasps the box; arm lifts the box.",
    "empty part": "head: ; hand: grasps; arm: lifts; hip: bends; leg: bends; foot: stays",
    "prose": "Picking up a box is when a person bends down to take an object from the floor.",
    "copied example": EXAMPLE_ANSWER,
    "rambling": "head " + "moves " * 40 + "; hand x y; arm x y; hip x y; leg x y; foot x y",
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_motion_parser_rejects_broken_answers(case):
    with pytest.raises(MalformedAnswer):
        parse_motion(BROKEN[case])


def test_missing_part_error_names_the_part():
    with pytest.raises(MalformedAnswer, match="hip, leg, foot"):
        parse_motion(BROKEN["missing parts"])


def test_motion_sentence_joins_parts_in_order():
    parts = parse_motion(GOOD["colons"])
    s = motion_sentence(parts)
    assert s.startswith("head bends down; hand grasps the box;") and s.endswith("planted.")
    assert s.count(";") == 5


def test_sentences_from_lines_or_a_paragraph():
    lines = "1. A person bends over a box.\n2. The hands hold the box.\n\n3. The box rises."
    assert parse_sentences(lines, k=2) == ["A person bends over a box.", "The hands hold the box."]
    para = "A person bends over. The hands grip a box! The box rises up"
    assert parse_sentences(para, k=5) == [
        "A person bends over.",
        "The hands grip a box!",
        "The box rises up.",
    ]
    assert parse_sentences("Sure, here:\nThe person walks around.", k=3) == [
        "The person walks around."
    ]
    with pytest.raises(MalformedAnswer):
        parse_sentences("ok\nyes", k=3)


def test_sentences_skip_a_model_talking_about_itself():
    answer = "I'm a helpful AI named SmolLM, trained by Hugging Face.\nA person sits on a chair."
    assert parse_sentences(answer, k=3) == ["A person sits on a chair."]
    with pytest.raises(MalformedAnswer):
        parse_sentences("Sure, here is a description of the action for you.", k=3)
    echo = "The action {sit down} is slow. The description must match the action, and so on."
    assert parse_sentences(echo, k=3) == ["The action sit down is slow."]


def test_description_takes_first_sentence_and_bounds_length():
    assert parse_description("A person lifts a box. Then more.") == "A person lifts a box."
    with pytest.raises(MalformedAnswer):
        parse_description("Lifting.")
    with pytest.raises(MalformedAnswer):
        parse_description("word " * 60)


def test_prompts_carry_class_example_and_rules():
    p = motion_prompt("throw")
    assert [m["role"] for m in p] == ["system", "user", "assistant", "user"]
    assert "drink water" in p[1]["content"] and "throw" in p[3]["content"]
    assert "head, hand, arm, hip, leg, foot" in p[3]["content"]
    with pytest.raises(MalformedAnswer, match="copies the in-context example"):
        parse_motion(p[2]["content"])  # well-formed, but a copy of the example
    assert parse_motion(p[2]["content"].replace("grasps cup", "grasps mug")) == {
        **EXAMPLE_PARTS,
        "hand": "hand grasps mug",
    }
    assert p != motion_prompt("throw", attempt=1)
    assert prompt_text(p).count("\n\n") == 3
    v = visual_image_prompt("throw")
    assert "Based on the image" in v and "(1)" in v and "(3)" in v and "{throw}" in v
    assert "4 different" in visual_text_prompt("throw", 4)
    assert "{throw}" in description_prompt("throw")
