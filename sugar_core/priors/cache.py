"""On-disk cache of model answers, so a priors run can be replayed without the model.

One JSON file per answer, named by the sha256 of its key: backend id (backend, model and the
settings that change answers), task, class, prompt, attempt and, for a frame description, the
image's hash. Writes are atomic. With ``offline`` the cache is the only source and a miss is an
error that names the class. Nothing secret is part of a key: backends keep API keys out of
their ``id``.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sugar_core.errors import BackendError
from sugar_core.priors.backends.base import Backend
from sugar_core.schema import atomic_path


@dataclass(frozen=True)
class Request:
    """One question for a model about one class."""

    task: str  # "motion" | "visual" | "description"
    class_name: str
    prompt: str | list  # prompts.Prompt: a user turn or a conversation
    attempt: int = 0  # 0 = first try; retries get their own cache entries
    image: object | None = None  # PIL image for a frame description, else None
    image_hash: str = ""  # sha256 of the image pixels (part of the key)


def image_hash(image) -> str:
    """sha256 of a PIL image's mode, size and pixels."""
    h = hashlib.sha256(f"{image.mode}:{image.size}".encode())
    h.update(image.tobytes())
    return h.hexdigest()


class PromptCache:
    """Answers under ``root``, one ``<hash>.json`` per key."""

    def __init__(self, root: str | os.PathLike, offline: bool = False):
        self.root = Path(root)
        self.offline = offline

    def key(self, backend_id: str, req: Request) -> dict:
        return {
            "backend": backend_id,
            "task": req.task,
            "class": req.class_name,
            "prompt": req.prompt,
            "attempt": req.attempt,
            "image": req.image_hash,
        }

    def path(self, key: dict) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.json"

    def get(self, backend_id: str, req: Request) -> str | None:
        key = self.key(backend_id, req)
        path = self.path(key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("key") != key or not isinstance(record.get("answer"), str):
                raise ValueError("key or answer does not match")
        except (OSError, ValueError) as exc:
            if self.offline:
                raise BackendError(f"{path}: unreadable cache entry ({exc})") from None
            return None  # rewritten below by put()
        return record["answer"]

    def put(self, backend_id: str, req: Request, answer: str) -> None:
        key = self.key(backend_id, req)
        path = self.path(key)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"key": key, "answer": answer}, indent=1), encoding="utf-8")

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0


def ask(backend: Backend, cache: PromptCache, requests: list[Request]) -> list[str]:
    """Answers to ``requests`` in order: from the cache where present, else from ``backend``.

    Text questions go to ``backend.complete`` in one call per attempt number (the backend
    batches or parallelises); frame descriptions go to ``backend.describe_image``, up to
    ``backend.concurrency`` at a time. Every new answer is cached before this returns.
    """
    answers: list[str | None] = [cache.get(backend.id, r) for r in requests]
    missing = [i for i, a in enumerate(answers) if a is None]
    if missing and cache.offline:
        first = requests[missing[0]]
        raise BackendError(
            f"--offline: no cached answer for class {first.class_name!r} ({first.task}, attempt "
            f"{first.attempt}) from {backend.id} in {cache.root}"
            + (f", and {len(missing) - 1} more" if len(missing) > 1 else "")
            + "; run once without --offline (same backend, model and prompts) to fill the cache"
        )
    text = [i for i in missing if requests[i].image is None]
    for attempt in sorted({requests[i].attempt for i in text}):
        idx = [i for i in text if requests[i].attempt == attempt]
        got = backend.complete([requests[i].prompt for i in idx], attempt=attempt)
        if len(got) != len(idx):
            raise BackendError(f"{backend.id} returned {len(got)} answers for {len(idx)} prompts")
        for i, a in zip(idx, got):
            cache.put(backend.id, requests[i], a)
            answers[i] = a
    images = [i for i in missing if requests[i].image is not None]
    if images:

        def one(i: int) -> str:
            r = requests[i]
            return backend.describe_image(r.prompt, r.image, attempt=r.attempt)

        with ThreadPoolExecutor(max_workers=max(1, backend.concurrency)) as pool:
            for i, a in zip(images, pool.map(one, images)):
                cache.put(backend.id, requests[i], a)
                answers[i] = a
    return [str(a) for a in answers]
