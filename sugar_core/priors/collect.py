"""Collecting the texts of every class: looked up (builtin, file) or generated and checked
(openai, hf), with retries and the builtin fallback. ``build.build_priors`` runs these steps."""

from __future__ import annotations

import time
from collections.abc import Callable

from sugar_core.errors import BackendError, ConfigError
from sugar_core.priors import frames as fr
from sugar_core.priors.backends.base import Backend, Knowledge
from sugar_core.priors.cache import PromptCache, Request, ask, image_hash
from sugar_core.priors.config import BuildReport, PriorsConfig, Progress
from sugar_core.priors.parse import (
    MalformedAnswer,
    parse_description,
    parse_motion,
    parse_sentences,
)
from sugar_core.priors.prompts import (
    description_prompt,
    motion_prompt,
    visual_image_prompt,
    visual_text_prompt,
)


class Collected:
    """The texts gathered so far, per class, and where each came from."""

    def __init__(self, names: list[str]):
        self.motion: dict[str, dict[str, str]] = {}
        self.visual: dict[str, list[str]] = {}
        self.desc: dict[str, str] = {}
        self.per_class: dict[str, dict[str, str]] = {n: {} for n in names}  # class -> task -> src


def lookup_all(backend: Backend, names, cfg: PriorsConfig, report: BuildReport, texts: Collected):
    """A looking-up backend: every class must be there (or rescued by the builtin texts)."""
    if cfg.videos:
        raise ConfigError(f"--videos needs a backend that describes images, not {backend.id}")
    t0 = time.perf_counter()
    found = {n: k for n in names if (k := backend.lookup(n)) is not None}
    rescued = {}
    if cfg.fallback == "builtin" and backend.id.split(":")[0] != "builtin":
        rescued = _builtin_rescue([n for n in names if n not in found], cfg.backend.dataset)
    missing = [n for n in names if n not in found and n not in rescued]
    if missing:
        near = getattr(backend, "suggest", lambda n: [])
        hints = [f"{n!r}" + (f" (close: {near(n)[:3]})" if near(n) else "") for n in missing]
        raise ConfigError(
            f"{backend.id} has no texts for {len(missing)} of {len(names)} classes: "
            + "; ".join(hints[:5])
            + ("; ..." if len(missing) > 5 else "")
            + ". Use another backend (openai, hf, file) for these classes"
        )
    src = backend.id.split(":")[0]
    for n in names:
        k, s = (found[n], src) if n in found else (rescued[n], "builtin-fallback")
        texts.motion[n], texts.visual[n] = dict(k.motion), list(k.visual)
        if k.description:
            texts.desc[n] = k.description
        texts.per_class[n] = {"motion": s, "visual": s, "description": s if k.description else ""}
    report.fallback = {"all": sorted(rescued)} if rescued else {}
    report.valid = {"motion": len(names), "visual": len(names)}
    report.valid_first = dict(report.valid)
    report.seconds["lookup"] = time.perf_counter() - t0


def _rescue(task: str, failed: dict, backend, cfg: PriorsConfig, report, texts: Collected, total):
    """Failed classes take the builtin texts when ``fallback`` allows; any left fail the run."""
    if failed and cfg.fallback == "builtin":
        for n, k in _builtin_rescue(list(failed), cfg.backend.dataset).items():
            if task == "motion":
                texts.motion[n] = dict(k.motion)
            else:
                texts.visual[n] = list(k.visual)
            texts.per_class[n][task] = "builtin-fallback"
            report.fallback.setdefault(task, []).append(n)
            failed.pop(n)
    if failed:
        _fail(task, backend, failed, cfg.retries + 1, total)


def generate_motion(backend, cache, names, cfg: PriorsConfig, report, texts, on_progress):
    """Six body-part phrases per class."""
    t0 = time.perf_counter()
    parsed, failed = _generate(
        backend, cache, names, "motion", motion_prompt, parse_motion, cfg.retries, report,
        on_progress,
    )  # fmt: skip
    texts.motion.update(parsed)
    for n in parsed:
        texts.per_class[n]["motion"] = "generated"
    _rescue("motion", failed, backend, cfg, report, texts, len(names))
    report.seconds["motion"] = time.perf_counter() - t0


def generate_visual(backend, cache, names, cfg, report, texts, on_progress, image_encoder):
    """Kept frames described by a VLM, else a text-only answer."""
    t0 = time.perf_counter()
    failed: dict[str, str] = {}
    video_first = 0
    if cfg.videos:
        got, failed, video_first = _visual_from_frames(
            backend, cache, names, cfg, image_encoder, report, on_progress
        )
        texts.visual.update(got)
        for n in got:
            texts.per_class[n]["visual"] = "video"
    text_names = [n for n in names if n not in texts.visual and n not in failed]
    if text_names:
        k = cfg.visual_k
        parsed, failed_text = _generate(
            backend, cache, text_names, "visual", lambda n, a: visual_text_prompt(n, k, a),
            lambda a: parse_sentences(a, k), cfg.retries, report, on_progress,
        )  # fmt: skip
        failed.update(failed_text)
        texts.visual.update(parsed)
        for n in parsed:
            texts.per_class[n]["visual"] = "text"
    # counts over all classes: from frames and from text
    report.valid_first["visual"] = report.valid_first.get("visual", 0) + video_first
    report.valid["visual"] = len(texts.visual)  # generated ones, before any fallback
    _rescue("visual", failed, backend, cfg, report, texts, len(names))
    report.seconds["visual"] = time.perf_counter() - t0


def generate_descriptions(backend, cache, names, cfg, report, texts, on_progress):
    """One sentence per class; a class whose answer stays malformed is derived later."""
    t0 = time.perf_counter()
    parsed, failed = _generate(
        backend, cache, names, "description", description_prompt, parse_description,
        cfg.retries, report, on_progress,
    )  # fmt: skip
    texts.desc.update(parsed)
    for n in parsed:
        texts.per_class[n]["description"] = "generated"
    if failed:
        report.fallback["description"] = sorted(failed)  # derived by build_priors
    report.seconds["description"] = time.perf_counter() - t0


def _generate(
    backend: Backend,
    cache: PromptCache,
    names: list[str],
    task: str,
    make_prompt: Callable[[str, int], str],
    parse: Callable[[str], object],
    retries: int,
    report: BuildReport,
    on_progress: Progress | None,
) -> tuple[dict[str, object], dict[str, str]]:
    """Ask, parse, re-ask the malformed. Returns (parsed per class, reason per failed class)."""
    parsed: dict[str, object] = {}
    reasons: dict[str, str] = {}
    pending = list(names)
    chunk = 16  # classes per round trip: lets the progress bar move
    for attempt in range(retries + 1):
        again = []
        for start in range(0, len(pending), chunk):
            part = pending[start : start + chunk]
            reqs = [Request(task, n, make_prompt(n, attempt), attempt) for n in part]
            for n, answer in zip(part, ask(backend, cache, reqs)):
                try:
                    parsed[n] = parse(answer)
                except MalformedAnswer as exc:
                    reasons[n] = str(exc)
                    again.append(n)
            report.questions[task] = report.questions.get(task, 0) + len(part)
            if on_progress:
                on_progress(f"{task} (try {attempt + 1})", start + len(part), len(pending))
        if attempt == 0:
            report.valid_first[task] = len(names) - len(again)
        pending = again
        if not pending:
            break
    report.valid[task] = len(names) - len(pending)
    return parsed, {n: reasons[n] for n in pending}


def _fail(task: str, backend: Backend, failed: dict[str, str], tries: int, total: int):
    shown = "; ".join(f"{n!r}: {why}" for n, why in list(failed.items())[:5])
    more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
    raise BackendError(
        f"{task} answers from {backend.id} stayed malformed after {tries} tries for "
        f"{len(failed)} of {total} classes: {shown}{more}. Try more --retries, a stronger "
        "--model, or --allow-fallback builtin"
    )


def _builtin_rescue(names: list[str], dataset: str | None) -> dict[str, Knowledge]:
    from sugar_core.priors.backends.builtin import BuiltinBackend

    builtin = BuiltinBackend(dataset)
    return {n: k for n in names if (k := builtin.lookup(n)) is not None}


def _visual_from_frames(
    backend, cache, names, cfg, image_encoder, report, on_progress
) -> tuple[dict[str, list[str]], dict[str, str], int]:
    """Visual texts from kept frames, per class with a folder under cfg.videos.

    Returns (texts per class, reason per failed class, classes fully valid at the first try).
    """
    if not backend.can_describe_images:
        backend.describe_image("", None)  # raises the backend's own explanation
    folders = fr.class_folders(cfg.videos, names)
    texts: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    first_ok = 0  # classes whose every kept frame was described well at the first try
    encoder = image_encoder
    if folders and encoder is None:
        encoder = fr.load_image_encoder(cfg.clip)
    for done, (name, folder) in enumerate(folders.items(), start=1):
        items = fr.media_items(folder)[: cfg.max_videos]
        if not items:
            raise ConfigError(f"{folder}: no videos or frame folders for class {name!r}")
        frames = [im for item in items for im in fr.sample_frames(item, cfg.frames_per_video)]
        kept = [frames[i] for i in fr.select_frames(frames, encoder, cfg.visual_k)]
        got: dict[int, str] = {}
        pending = list(range(len(kept)))
        for attempt in range(cfg.retries + 1):
            reqs = [
                Request("visual", name, visual_image_prompt(name, attempt), attempt, kept[i],
                        image_hash(kept[i]))
                for i in pending
            ]  # fmt: skip
            again = []
            for i, answer in zip(pending, ask(backend, cache, reqs)):
                try:
                    got[i] = " ".join(parse_sentences(answer, k=3))
                except MalformedAnswer as exc:
                    failed[name] = str(exc)
                    again.append(i)
            report.questions["visual"] = report.questions.get("visual", 0) + len(pending)
            if attempt == 0 and not again:
                first_ok += 1
            pending = again
            if not pending:
                break
        report.dropped_frames += len(pending)
        if got:
            texts[name] = [got[i] for i in sorted(got)]
            failed.pop(name, None)
        if on_progress:
            on_progress("visual (frames)", done, len(folders))
    return texts, failed, first_ok
