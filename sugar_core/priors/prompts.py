"""The prompts that ask a language model for motion, visual and description texts of one class.

Wording is ours. What follows the paper (method.md, step 1): the six body parts in the order
head, hand, arm, hip, leg, foot; one in-context example of the form ``An action of {drink
water}: head tilts back slightly; ...``; the visual prompt's idea "based on the image, describe
'{action}' in detail" with its three rules. A retry (attempt > 0) appends a reminder of the
expected form, so even a greedy model sees a different prompt the second time.
"""

from __future__ import annotations

from .store import MOTION_PARTS

EXAMPLE_ACTION = "drink water"
EXAMPLE_PARTS = {
    "head": "head tilts back slightly",
    "hand": "hand grasps cup",
    "arm": "arm lifts cup to mouth",
    "hip": "hip remains stationary",
    "leg": "leg remains stationary",
    "foot": "foot remains stationary",
}
EXAMPLE_ANSWER = "; ".join(EXAMPLE_PARTS[p] for p in MOTION_PARTS) + "."

_RULES = (
    "Rules: (1) the description must match the action {{{name}}}; "
    "(2) describe only what relates to the action; "
    "(3) output nothing unrelated to the action."
)


def motion_prompt(name: str, attempt: int = 0) -> str:
    """Ask for the six part movements of action ``name``, after one worked example."""
    parts = ", ".join(MOTION_PARTS)
    text = (
        f"Describe how each of six body parts moves while a person performs an action, in this "
        f"order: {parts}. Use a few words per part; a part that does not move 'remains "
        f"stationary'. Answer on one line, parts separated by semicolons.\n\n"
        f"An action of {{{EXAMPLE_ACTION}}}: {EXAMPLE_ANSWER}\n\n"
        f"An action of {{{name}}}:"
    )
    if attempt > 0:
        form = "; ".join(f"{p} ..." for p in MOTION_PARTS)
        text += (
            f"\n\nAnswer with exactly six parts in this form: {form}. "
            f"Describe {{{name}}}, not {{{EXAMPLE_ACTION}}}."
        )
    return text


def visual_text_prompt(name: str, k: int, attempt: int = 0) -> str:
    """Ask a text-only model what action ``name`` looks like, as ``k`` short sentences."""
    text = (
        f"Describe what the action {{{name}}} looks like in a video of a person doing it. "
        f"Write {k} different short sentences, one per line, each about something that can be "
        f"seen: posture, movement, objects. " + _RULES.format(name=name)
    )
    if attempt > 0:
        text += f"\n\nWrite exactly {k} lines, one sentence each, and nothing else."
    return text


def visual_image_prompt(name: str, attempt: int = 0) -> str:
    """Ask a vision-language model to describe action ``name`` as seen in one image."""
    text = (
        f"Based on the image, describe the action {{{name}}} in detail, in one to three "
        f"sentences. " + _RULES.format(name=name)
    )
    if attempt > 0:
        text += "\n\nAnswer with the sentences only."
    return text


def description_prompt(name: str, attempt: int = 0) -> str:
    """Ask for the one-sentence description that follows the class name in the LLM target."""
    text = (
        f"Describe the action {{{name}}} in one short sentence that says what the person does "
        f"with their body. Answer with that sentence only."
    )
    if attempt > 0:
        text += " Start with 'A person'."
    return text
