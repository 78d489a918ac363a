"""The prompts that ask a language model for motion, visual and description texts of one class.

Wording is ours. What follows the paper (method.md, step 1): the six body parts in the order
head, hand, arm, hip, leg, foot; one in-context example (drink water: head tilts back slightly;
hand grasps cup; arm lifts cup to mouth; hip, leg and foot remain stationary); the visual
prompt's idea "based on the image, describe '{action}' in detail" with its three rules.

A prompt is a string (one user turn) or a chat conversation (a list of {role, content}). The
motion prompt is a conversation: the worked example is a previous user/assistant exchange, one
part per line. Measured on SmolLM2-135M-Instruct over the NW-UCLA classes (greedy): the
one-line form inside a single user turn gave 0/10 answers with all six parts; this form gave
10/10. A retry (attempt > 0) appends a reminder of the expected form, so even a greedy model
sees a different prompt the second time.
"""

from __future__ import annotations

from sugar_core.priors.store import MOTION_PARTS

EXAMPLE_ACTION = "drink water"
EXAMPLE_PARTS = {
    "head": "head tilts back slightly",
    "hand": "hand grasps cup",
    "arm": "arm lifts cup to mouth",
    "hip": "hip remains stationary",
    "leg": "leg remains stationary",
    "foot": "foot remains stationary",
}
EXAMPLE_ANSWER = "\n".join(f"{p}: {EXAMPLE_PARTS[p].split(' ', 1)[1]}" for p in MOTION_PARTS)

Prompt = str | list  # a user turn, or a conversation: [{"role": ..., "content": ...}, ...]

_RULES = (
    "Rules: (1) the description must match the action {{{name}}}; "
    "(2) describe only what relates to the action; "
    "(3) output nothing unrelated to the action."
)


def _motion_question(name: str) -> str:
    return f"Action: {name}. Write six lines: {', '.join(MOTION_PARTS)}."


def motion_prompt(name: str, attempt: int = 0) -> list[dict[str, str]]:
    """Ask for the six part movements of action ``name``, after one worked example."""
    system = (
        "You describe human actions as the movements of six body parts, in this order: "
        f"{', '.join(MOTION_PARTS)}."
    )
    question = _motion_question(name)
    if attempt > 0:
        question += (
            f" One line per part, all six, each starting with the part's name. Describe "
            f"{name}, not {EXAMPLE_ACTION}."
        )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": _motion_question(EXAMPLE_ACTION)},
        {"role": "assistant", "content": EXAMPLE_ANSWER},
        {"role": "user", "content": question},
    ]


def prompt_text(prompt: Prompt) -> str:
    """A prompt as plain text (a conversation's turns joined), for models without a template."""
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(str(m["content"]) for m in prompt)


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
