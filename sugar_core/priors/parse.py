"""Turn free-text model answers into the texts a priors file stores, or say why they are unusable.

Parsers are tolerant about form, strict about content. The six-part parser accepts
``head tilts; hand grasps; ...``, ``head: tilts; hand: grasps``, one part per line (with
bullets, numbers or markdown bold), plural part names (hands, feet) and an echoed
``An action of {x}:`` prefix. It rejects an answer that misses a part, leaves one empty, or
copies the in-context example. Every parser raises ``MalformedAnswer`` with the reason, so the
caller can retry and finally report it; nothing malformed is stored.
"""

from __future__ import annotations

import re

from sugar_core.priors.prompts import EXAMPLE_ACTION, EXAMPLE_PARTS
from sugar_core.priors.store import MOTION_PARTS

# spellings of each part a model may use at the start of a segment
_PART_WORDS = {
    "head": ("head", "heads", "neck"),
    "hand": ("hand", "hands", "fingers"),
    "arm": ("arm", "arms", "shoulder", "shoulders"),
    "hip": ("hip", "hips", "torso", "waist"),
    "leg": ("leg", "legs", "knee", "knees"),
    "foot": ("foot", "feet"),
}
_WORD_TO_PART = {w: p for p, words in _PART_WORDS.items() for w in words}
_PART_RE = re.compile(
    r"^(?:the\s+|both\s+|his\s+|her\s+|their\s+)?"
    r"(" + "|".join(_WORD_TO_PART) + r")\b\s*[:\-–—=]?\s*",
    re.IGNORECASE,
)
_BULLET_RE = re.compile(r"^\s*(?:[-*•>]+|\d+[.)]|\(\d+\))\s*")
_ECHO_RE = re.compile(r"^\s*(?:an\s+)?action\s+of\s*\{?[^}:\n]*\}?\s*:\s*", re.IGNORECASE)
_MAX_PART_WORDS = 30  # a "part phrase" longer than this is rambling, not a phrase
# a model talking about itself or the request, not describing the action
_SELF_TALK = re.compile(
    r"^(?:i|i'm|i am|as an ai|sure|here|certainly|of course)\b|\bsmollm\b|\blanguage model\b"
    r"|\bmust match the action\b|\bnothing unrelated\b",  # the prompt's rules echoed back
    re.IGNORECASE,
)


class MalformedAnswer(ValueError):
    """A model answer that cannot be turned into the texts asked for; ``str`` says why."""


def _clean(segment: str) -> str:
    s = segment.replace("**", "").replace("__", "").strip()
    s = _BULLET_RE.sub("", s)
    return s.strip().strip("\"'`").strip()


def _words(s: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z'\-]*", s)


def _parts_from(segments: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw in segments:
        seg = _clean(raw)
        m = _PART_RE.match(seg)
        if not m:
            continue
        part = _WORD_TO_PART[m.group(1).lower()]
        if part in found:
            continue
        rest = seg[m.end() :].strip().rstrip(".").strip()
        if not _words(rest):
            found[part] = ""
            continue
        word = m.group(1).lower()
        # "hands: both hands grip the box" -> keep the rest as it stands
        head_words = [w.lower() for w in _words(rest)[:4]]
        found[part] = rest if word in head_words else f"{word} {rest[:1].lower()}{rest[1:]}"
    return found


def parse_motion(answer: str) -> dict[str, str]:
    """Six part phrases {head, hand, arm, hip, leg, foot} from an answer, else MalformedAnswer."""
    text = answer.strip()
    if not text:
        raise MalformedAnswer("empty answer")
    text = _ECHO_RE.sub("", text)
    found = _parts_from(re.split(r"[;\n]+", text))
    if len([p for p in MOTION_PARTS if found.get(p)]) < len(MOTION_PARTS):
        # one sentence with commas or full stops between the parts
        wider = _parts_from(re.split(r"[;\n,.]+", text))
        if len([p for p in MOTION_PARTS if wider.get(p)]) > len(
            [p for p in MOTION_PARTS if found.get(p)]
        ):
            found = wider
    missing = [p for p in MOTION_PARTS if p not in found]
    if missing:
        raise MalformedAnswer(f"no phrase for part(s) {', '.join(missing)}: {_snippet(answer)}")
    empty = [p for p in MOTION_PARTS if not found[p]]
    if empty:
        raise MalformedAnswer(f"empty phrase for part(s) {', '.join(empty)}: {_snippet(answer)}")
    long = [p for p in MOTION_PARTS if len(_words(found[p])) > _MAX_PART_WORDS]
    if long:
        raise MalformedAnswer(f"phrase for {', '.join(long)} is not a short phrase")
    parts = {p: " ".join(found[p].split()) for p in MOTION_PARTS}
    if all(_norm(parts[p]) == _norm(EXAMPLE_PARTS[p]) for p in MOTION_PARTS):
        raise MalformedAnswer(f"answer copies the in-context example ({EXAMPLE_ACTION})")
    return parts


def motion_sentence(parts: dict[str, str]) -> str:
    """The full motion text: the six phrases in order, joined like the in-context example."""
    return "; ".join(" ".join(str(parts[p]).split()).rstrip(".;") for p in MOTION_PARTS) + "."


def parse_sentences(answer: str, k: int, min_words: int = 3) -> list[str]:
    """Up to ``k`` distinct sentences, one per line or split at full stops; >= 1 or Malformed.

    Lines shorter than ``min_words``, repeats, and a model's talk about itself ("I'm a helpful
    AI...", "Sure, here are...") are skipped.
    """
    text = answer.strip()
    if not text:
        raise MalformedAnswer("empty answer")
    text = re.sub(r"\{([^{}\n]*)\}", r"\1", text)  # "{throw}" copied from the prompt -> "throw"
    lines = [_clean(x) for x in text.splitlines()]
    lines = [x for x in lines if x and not x.endswith(":")]
    if len(lines) == 1:
        lines = [s.strip() for s in re.split(r"(?<=[.!?])\s+", lines[0])]
    out: list[str] = []
    seen = set()
    for line in lines:
        if len(_words(line)) < min_words or _norm(line) in seen or _SELF_TALK.search(line):
            continue
        seen.add(_norm(line))
        out.append(line if line[-1] in ".!?" else line + ".")
        if len(out) == k:
            break
    if not out:
        raise MalformedAnswer(f"no sentence of {min_words}+ words: {_snippet(answer)}")
    return out


def parse_description(answer: str, max_words: int = 40) -> str:
    """One sentence (the first) of 3..``max_words`` words, else MalformedAnswer."""
    first = parse_sentences(answer, k=1)[0]
    first = re.split(r"(?<=[.!?])\s+", first)[0]
    n = len(_words(first))
    if n < 3 or n > max_words:
        raise MalformedAnswer(f"description has {n} words, expected 3..{max_words}")
    return first


def _norm(s: str) -> str:
    return " ".join(w.lower() for w in _words(s))


def _snippet(answer: str, n: int = 80) -> str:
    s = " ".join(answer.split())
    return repr(s if len(s) <= n else s[: n - 3] + "...")
