"""Frames for the visual step: find each class's videos, sample frames, keep the most distinct.

Layout of ``--videos DIR``: one sub-folder per class, named as the class or as its slug
(``eat meal/snack`` -> ``eat_meal_snack``). Inside it, each item is a video file or a folder
of frame images (one folder per video); a class folder holding images directly counts as one
video. Only training videos belong there: the toolkit cannot tell, the user must.

Frame choice (method.md leaves the algorithm open; ours): embed the sampled frames with a CLIP
image encoder, then greedy farthest-point selection on cosine similarity: start from the least
similar pair, then repeatedly add the frame whose highest similarity to the chosen ones is
lowest. ``k`` = 1 keeps the medoid (the most typical frame) instead.

Frame folders (PIL) are the tested path. Video files decode through opencv-python or imageio
when one of them is installed; otherwise the error says how to extract frames.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import numpy as np

from sugar_core.errors import ConfigError, InputFormatError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v")


def slug(name: str) -> str:
    """Folder-safe form of a class name: lower case, runs of other characters -> '_'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def class_folders(videos_dir: str | os.PathLike, class_names: list[str]) -> dict[str, Path]:
    """Class name -> its folder under ``videos_dir`` (classes without one are left out)."""
    root = Path(videos_dir)
    if not root.is_dir():
        raise InputFormatError(root, "--videos should be a folder with one sub-folder per class")
    subdirs = [d for d in sorted(root.iterdir()) if d.is_dir()]
    by_name = {d.name: d for d in subdirs}
    by_slug = {slug(d.name): d for d in subdirs}
    out = {}
    for name in class_names:
        d = by_name.get(name) or by_slug.get(slug(name))
        if d is not None:
            out[name] = d
    return out


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def media_items(class_dir: Path) -> list[Path]:
    """Videos and frame folders of one class, sorted; the folder itself if it holds images."""
    items = []
    for p in sorted(class_dir.iterdir()):
        if p.is_file() and p.suffix.lower() in VIDEO_EXTS:
            items.append(p)
        elif p.is_dir() and _images_in(p):
            items.append(p)
    if not items and _images_in(class_dir):
        items.append(class_dir)
    return items


def _even(n_total: int, n: int) -> list[int]:
    if n_total <= n:
        return list(range(n_total))
    return sorted({int(round(x)) for x in np.linspace(0, n_total - 1, n)})


def _decode_video(path: Path, n: int) -> list:
    from PIL import Image

    if importlib.util.find_spec("cv2") is not None:
        import cv2

        cap = cv2.VideoCapture(str(path))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        frames = []
        for i in _even(total, n):
            cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            ok, bgr = cap.read()
            if ok:
                frames.append(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        cap.release()
    elif importlib.util.find_spec("imageio") is not None:
        import imageio.v3 as iio

        all_frames = list(iio.imiter(path))
        frames = [Image.fromarray(all_frames[i]) for i in _even(len(all_frames), n)]
    else:
        raise InputFormatError(
            path,
            "cannot decode videos: neither opencv-python nor imageio is installed; extract "
            "frames into one folder per video (e.g. ffmpeg -i clip.mp4 clip/%05d.jpg) instead",
        )
    if not frames:
        raise InputFormatError(path, "no frame could be decoded from this video")
    return frames


def sample_frames(item: Path, n: int) -> list:
    """``n`` evenly spaced RGB PIL frames of one video file or frame folder (fewer if short)."""
    from PIL import Image, UnidentifiedImageError

    if item.is_file():
        return _decode_video(item, n)
    files = _images_in(item)
    out = []
    for i in _even(len(files), n):
        try:
            with Image.open(files[i]) as im:
                out.append(im.convert("RGB"))
        except (UnidentifiedImageError, OSError) as exc:
            raise InputFormatError(files[i], f"not a readable image ({exc})") from None
    return out


def farthest_point(emb: np.ndarray, k: int) -> list[int]:
    """Indices (ascending) of ``k`` rows of ``emb`` (n, D), L2-normalised, most mutually unlike.

    Greedy: the least similar pair first, then each step adds the row whose highest cosine
    similarity to the rows chosen so far is lowest. ``k`` = 1: the medoid. All rows if n <= k.
    """
    assert emb.ndim == 2, f"emb should be (n, D), got {emb.shape}"
    assert k >= 1, f"k should be >= 1, got {k}"
    n = emb.shape[0]
    if n <= k:
        return list(range(n))
    sim = emb @ emb.T  # (n, n)
    if k == 1:
        return [int(np.argmax(sim.mean(1)))]
    pair = sim + np.diag(np.full(n, np.inf))
    i, j = np.unravel_index(int(np.argmin(pair)), pair.shape)
    chosen = [int(i), int(j)]
    closest = np.maximum(sim[i], sim[j])  # (n,) highest similarity to the chosen set
    while len(chosen) < k:
        closest[chosen] = np.inf
        c = int(np.argmin(closest))
        chosen.append(c)
        closest = np.maximum(closest, sim[c])
    return sorted(chosen)


class ImageEncoder:
    """A frozen CLIP image tower: PIL images -> (n, D) float32 L2-normalised ``image_embeds``."""

    def __init__(self, model, processor, spec: str):
        from sugar_core.priors.encoders import weights_hash

        self.model = model.eval()
        self.processor = processor
        self.spec = spec
        self.id = f"{spec}@{weights_hash(self.model)}"

    def encode(self, images: list, batch_size: int = 16) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        chunks = []
        for start in range(0, len(images), batch_size):
            px = self.processor(images=images[start : start + batch_size], return_tensors="pt")
            with torch.inference_mode():
                emb = self.model(pixel_values=px["pixel_values"]).image_embeds  # (B, D)
            chunks.append(F.normalize(emb.float(), dim=-1).numpy())
        return np.concatenate(chunks).astype(np.float32)


def load_image_encoder(spec: str | os.PathLike) -> ImageEncoder:
    """A CLIP image encoder from a local CLIP folder (or a hub id when online)."""
    from transformers import AutoImageProcessor, CLIPVisionModelWithProjection

    try:
        model = CLIPVisionModelWithProjection.from_pretrained(str(spec))
        processor = AutoImageProcessor.from_pretrained(str(spec))
    except OSError as exc:
        raise ConfigError(
            f"cannot load CLIP image encoder {str(spec)!r} ({exc}); pass --clip with a local "
            "CLIP folder (e.g. a download of openai/clip-vit-base-patch32)"
        ) from None
    return ImageEncoder(model, processor, str(spec))


def select_frames(images: list, encoder: ImageEncoder, k: int) -> list[int]:
    """Indices of the ``k`` most mutually dissimilar ``images`` under ``encoder``."""
    if not images:
        return []
    return farthest_point(encoder.encode(images), k)
