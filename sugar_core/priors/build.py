"""From a class list to a Priors: ask (or look up) the texts, check them, embed them.

Per class the priors hold, in column order (store.py): ``motion`` (the six phrases as one
sentence), ``motion:<part>`` for head, hand, arm, hip, leg, foot, then ``visual`` columns (a
class with fewer visual texts is masked past its own), plus one ``description`` sentence.

Generating backends (openai, hf): each answer is parsed; a malformed one is asked again (up to
``retries`` times, with a reminder of the form, sampled); a class still malformed after that is
reported by name, and the run fails, unless ``fallback="builtin"`` lets it take the shipped
texts (the file records which classes did). Descriptions are asked for too; one that stays
malformed is derived from the motion sentence, and the file records that as well.
Looking-up backends (builtin, file) supply all three texts directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sugar_core.errors import BackendError, ConfigError
from sugar_core.models import cache_dir
from sugar_core.priors import frames as fr
from sugar_core.priors.backends import Backend, BackendConfig, Knowledge, make_backend
from sugar_core.priors.cache import PromptCache, Request, ask, image_hash
from sugar_core.priors.encoders import DEFAULT_TEXT_ENCODER, TextEncoder, load_text_encoder
from sugar_core.priors.parse import (
    MalformedAnswer,
    motion_sentence,
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
from sugar_core.priors.store import MOTION_PARTS, Priors

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class PriorsConfig:
    backend: BackendConfig = field(default_factory=BackendConfig)  # where texts come from
    text_encoder: str = DEFAULT_TEXT_ENCODER  # embeds every text (encoders.load_text_encoder)
    retries: int = 2  # re-asks after a malformed answer; weak models need a second chance
    fallback: str | None = None  # "builtin": still-malformed classes take shipped texts
    visual_k: int = 3  # visual texts per class: frames kept, or sentences asked without videos
    videos: str | None = None  # folder of training videos / frame folders, one per class
    clip: str = "openai/clip-vit-base-patch32"  # CLIP image encoder that thins the frames
    frames_per_video: int = 8  # frames sampled evenly from each video before thinning
    max_videos: int = 8  # videos per class read (bounds CLIP and VLM cost)
    descriptions: str = "ask"  # "ask" the model, or "derive" from the motion sentence
    cache_dir: str | None = None  # answer cache; None = <sugar cache>/priors
    offline: bool = False  # replay cached answers only; a miss is an error
    embed_batch: int = 64  # texts per text-encoder forward pass

    def check(self) -> None:
        if self.fallback not in (None, "builtin"):
            raise ConfigError(f"--allow-fallback takes 'builtin', got {self.fallback!r}")
        if self.retries < 0 or self.visual_k < 1 or self.frames_per_video < 1:
            raise ConfigError(
                f"retries >= 0, visual_k >= 1, frames_per_video >= 1 expected; got "
                f"{self.retries}, {self.visual_k}, {self.frames_per_video}"
            )
        if self.descriptions not in ("ask", "derive"):
            raise ConfigError(f"descriptions should be 'ask' or 'derive': {self.descriptions!r}")

    def as_record(self) -> dict:
        """The config as stored in the priors file (no secrets: only the key's env-var name)."""
        return asdict(self)


@dataclass
class BuildReport:
    """What a run did, for the CLI to print: timings, validity, fallbacks."""

    n_classes: int
    backend: str
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> wall seconds
    valid_first: dict[str, int] = field(default_factory=dict)  # task -> classes valid at try 1
    valid: dict[str, int] = field(default_factory=dict)  # task -> classes valid after retries
    questions: dict[str, int] = field(default_factory=dict)  # task -> prompts asked
    fallback: dict[str, list[str]] = field(default_factory=dict)  # task -> classes
    dropped_frames: int = 0  # frame descriptions that stayed malformed (left out)

    @property
    def generation_seconds_per_class(self) -> float:
        gen = sum(v for k, v in self.seconds.items() if k in ("motion", "visual", "description"))
        return gen / max(1, self.n_classes)


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


def build_priors(
    names: list[str],
    cfg: PriorsConfig,
    backend: Backend | None = None,
    text_encoder: TextEncoder | None = None,
    image_encoder=None,
    on_progress: Progress | None = None,
) -> tuple[Priors, BuildReport]:
    """Texts and embeddings for classes ``names`` (K,). Encoders and backend may be injected."""
    cfg.check()
    assert len(set(names)) == len(names), f"class names repeat: {names}"
    backend = backend if backend is not None else make_backend(cfg.backend)
    report = BuildReport(n_classes=len(names), backend=backend.id)
    per_class = {n: {} for n in names}  # class -> {task: source}
    motion: dict[str, dict[str, str]] = {}
    visual: dict[str, list[str]] = {}
    desc: dict[str, str] = {}
    dataset = cfg.backend.dataset

    if not backend.can_complete:
        # 1. a looking-up backend: every class must be there (or rescued by the builtin texts)
        if cfg.videos:
            raise ConfigError(f"--videos needs a backend that describes images, not {backend.id}")
        t0 = time.perf_counter()
        found = {n: k for n in names if (k := backend.lookup(n)) is not None}
        rescued = {}
        if cfg.fallback == "builtin" and backend.id.split(":")[0] != "builtin":
            rescued = _builtin_rescue([n for n in names if n not in found], dataset)
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
            motion[n], visual[n] = dict(k.motion), list(k.visual)
            if k.description:
                desc[n] = k.description
            per_class[n] = {"motion": s, "visual": s, "description": s if k.description else ""}
        report.fallback = {"all": sorted(rescued)} if rescued else {}
        report.valid = {"motion": len(names), "visual": len(names)}
        report.valid_first = dict(report.valid)
        report.seconds["lookup"] = time.perf_counter() - t0
    else:
        cache = PromptCache(cfg.cache_dir or default_cache_dir(), offline=cfg.offline)
        common = dict(retries=cfg.retries, report=report, on_progress=on_progress)

        # 2. motion: six parts per class
        t0 = time.perf_counter()
        parsed, failed = _generate(
            backend, cache, names, "motion", motion_prompt, parse_motion, **common
        )
        motion.update(parsed)
        for n in parsed:
            per_class[n]["motion"] = "generated"
        if failed and cfg.fallback == "builtin":
            for n, k in _builtin_rescue(list(failed), dataset).items():
                motion[n] = dict(k.motion)
                per_class[n]["motion"] = "builtin-fallback"
                report.fallback.setdefault("motion", []).append(n)
                failed.pop(n)
        if failed:
            _fail("motion", backend, failed, cfg.retries + 1, len(names))
        report.seconds["motion"] = time.perf_counter() - t0

        # 3. visual: kept frames described by a VLM, else a text-only answer
        t0 = time.perf_counter()
        failed = {}
        video_first = 0
        if cfg.videos:
            got, failed, video_first = _visual_from_frames(
                backend, cache, names, cfg, image_encoder, report, on_progress
            )
            visual.update(got)
            for n in got:
                per_class[n]["visual"] = "video"
        text_names = [n for n in names if n not in visual and n not in failed]
        if text_names:
            k = cfg.visual_k
            parsed, failed_text = _generate(
                backend,
                cache,
                text_names,
                "visual",
                lambda n, a: visual_text_prompt(n, k, a),
                lambda a: parse_sentences(a, k),
                **common,
            )
            failed.update(failed_text)
            visual.update(parsed)
            for n in parsed:
                per_class[n]["visual"] = "text"
        # counts over all classes: from frames and from text
        report.valid_first["visual"] = report.valid_first.get("visual", 0) + video_first
        report.valid["visual"] = len(visual)  # generated ones, before any fallback
        if failed and cfg.fallback == "builtin":
            for n, kn in _builtin_rescue(list(failed), dataset).items():
                visual[n] = list(kn.visual)
                per_class[n]["visual"] = "builtin-fallback"
                report.fallback.setdefault("visual", []).append(n)
                failed.pop(n)
        if failed:
            _fail("visual", backend, failed, cfg.retries + 1, len(names))
        report.seconds["visual"] = time.perf_counter() - t0

        # 4. one-sentence descriptions
        if cfg.descriptions == "ask":
            t0 = time.perf_counter()
            parsed, failed = _generate(
                backend, cache, names, "description", description_prompt, parse_description,
                **common,
            )  # fmt: skip
            desc.update(parsed)
            for n in parsed:
                per_class[n]["description"] = "generated"
            if failed:
                report.fallback["description"] = sorted(failed)  # derived below
            report.seconds["description"] = time.perf_counter() - t0

    for n in names:
        if n not in desc:
            desc[n] = motion_sentence(motion[n])
            per_class[n]["description"] = "derived"

    # 5. embed every text
    t0 = time.perf_counter()
    encoder = text_encoder if text_encoder is not None else load_text_encoder(cfg.text_encoder)
    priors = _assemble(names, motion, visual, desc, encoder, cfg.embed_batch)
    priors.sources = _sources(backend.id, per_class)
    report.seconds["embed"] = time.perf_counter() - t0
    return priors, report


def _sources(backend_id: str, per_class: dict[str, dict[str, str]]) -> dict:
    out: dict = {"backend": backend_id}
    for task in ("motion", "visual", "description"):
        values = {c[task] for c in per_class.values()}
        out[task] = values.pop() if len(values) == 1 else "mixed"
    out["per_class"] = per_class
    return out


def _assemble(names, motion, visual, desc, encoder: TextEncoder, batch: int) -> Priors:
    k = len(names)
    v = max(len(visual[n]) for n in names)
    kinds = ["motion"] + [f"motion:{p}" for p in MOTION_PARTS] + ["visual"] * v
    texts = np.full((k, len(kinds)), "", dtype=object)  # (K, P)
    mask = np.zeros((k, len(kinds)), dtype=bool)  # (K, P)
    for i, n in enumerate(names):
        row = [motion_sentence(motion[n])] + [motion[n][p] for p in MOTION_PARTS] + visual[n]
        texts[i, : len(row)] = row
        mask[i, : len(row)] = True
    flat = encoder.encode([str(t) for t in texts[mask]], batch_size=batch)  # (sum mask, D)
    emb = np.zeros((k, len(kinds), encoder.dim), dtype=np.float32)  # (K, P, D)
    emb[mask] = flat
    return Priors(
        class_names=list(names),
        texts=texts,
        text_kinds=kinds,
        embeddings=emb,
        mask=mask,
        descriptions=[desc[n] for n in names],
        encoder_id=encoder.id,
    )


def default_cache_dir() -> Path:
    return cache_dir() / "priors"
