"""Draw a skeleton sequence as an animated GIF (what `sugar data show` writes).

Each frame draws every body's bones (the layout's ``bones``) projected onto the x-y plane:
3D data is in Kinect camera space (y up, x toward the sensor's left), so x is mirrored to draw
the scene as the sensor sees it, a person's left on the picture's right when they face it;
2D keypoints (two channels, or an image layout such as coco17, body25, coco18 or mediapipe33,
whose channels past x and y are a confidence or depth) are in image coordinates with y down,
so y is flipped instead.
Axis limits are fixed over the whole sequence so the body moves inside a still frame. Bodies
that are absent in a frame (all joints zero) are not drawn.
"""

from __future__ import annotations

import os

import numpy as np

from sugar_core import schema
from sugar_core.errors import ConfigError, SchemaError
from sugar_core.skeleton.dataset import Sample
from sugar_core.skeleton.layouts import Layout, get_layout

LEFT, RIGHT, CENTRE = "#1f77b4", "#d62728", "#444444"  # bone colours by side
BODY_STYLES = ("-", "--", ":", "-.")  # line style per body
MARGIN = 0.08  # share of the extent added around the body


def _side(name: str) -> str:
    if name.startswith("left"):
        return LEFT
    if name.startswith("right"):
        return RIGHT
    return CENTRE


def _is_image(layout: Layout, c: int) -> bool:
    return c == 2 or layout.image


def project(joints: np.ndarray, layout: Layout) -> np.ndarray:
    """(M, T, V, C) joints -> (M, T, V, 2) drawing coordinates (x right, y up as seen from the
    sensor), NaN where a body is absent."""
    assert joints.ndim == 4 and joints.shape[2] == layout.num_joints, (
        f"joints shape {joints.shape}, expected (M, T, {layout.num_joints}, C)"
    )
    assert joints.shape[3] >= 2, f"need at least 2 channels, got shape {joints.shape}"
    xy = joints[..., :2].astype(np.float64).copy()  # (M, T, V, 2)
    if _is_image(layout, joints.shape[3]):
        xy[..., 1] = -xy[..., 1]
    else:
        xy[..., 0] = -xy[..., 0]
    absent = ~np.any(joints != 0, axis=(2, 3))  # (M, T)
    xy[absent] = np.nan
    if layout.image:  # a key point the estimator missed is written as (0, 0): not drawn
        xy[np.all(joints[..., :2] == 0, axis=-1)] = np.nan
    return xy


def limits(xy: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """Square axis limits (x, y) holding every finite point of (..., 2) over the sequence."""
    pts = xy.reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return (-1.0, 1.0), (-1.0, 1.0)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2 * (1 + 2 * MARGIN), 1e-3)
    return (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)


def animate(
    joints: np.ndarray,
    layout: str | Layout,
    path: str | os.PathLike,
    fps: int = 15,
    title: str = "",
    size: float = 4.0,
    dpi: int = 80,
) -> int:
    """Write joints (M, T, V, C) as a GIF at ``path`` (atomic); return the number of frames T.

    ``layout`` names the joint layout (its bones are drawn); ``fps`` frames per second;
    ``title`` is shown above the frame counter; ``size`` inches square at ``dpi``.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.animation import PillowWriter

    lay = get_layout(layout) if isinstance(layout, str) else layout
    if fps < 1:
        raise ConfigError(f"fps must be at least 1, got {fps}")
    xy = project(np.asarray(joints), lay)  # (M, T, V, 2)
    m, t = xy.shape[:2]
    if t == 0:
        raise ConfigError(f"{path}: nothing to draw, the sequence has no frames")
    (x0, x1), (y0, y1) = limits(xy)

    fig, ax = plt.subplots(figsize=(size, size))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    lines = []  # (body, bone index, Line2D)
    for b in range(m):
        style = BODY_STYLES[b % len(BODY_STYLES)]
        for i, (u, v) in enumerate(lay.bones):
            colour = _side(lay.joints[v])
            if colour == CENTRE:
                colour = _side(lay.joints[u])
            (line,) = ax.plot([], [], style, color=colour, lw=2.2, solid_capstyle="round")
            lines.append((b, i, line))
    dots = [ax.plot([], [], "o", color="black", ms=2.5)[0] for _ in range(m)]
    label = ax.set_title("")

    writer = PillowWriter(fps=fps)
    try:
        with schema.atomic_path(path, suffix=".gif") as tmp:
            with writer.saving(fig, str(tmp), dpi=dpi):
                for f in range(t):
                    for b, i, line in lines:
                        u, v = lay.bones[i]
                        line.set_data(xy[b, f, [u, v], 0], xy[b, f, [u, v], 1])
                    for b, dot in enumerate(dots):
                        dot.set_data(xy[b, f, :, 0], xy[b, f, :, 1])
                    head = f"{title}\n" if title else ""
                    label.set_text(f"{head}frame {f + 1}/{t}")
                    writer.grab_frame()
    finally:
        plt.close(fig)
    return t


# ---------------------------------------------------------------------------------------------
# one sample out of a skeletons file, without reading the others


def read_sample(path: str | os.PathLike, key: str | int) -> tuple[Sample, str, list[str]]:
    """(sample, layout name, class names) for a sample id, or an index (``"12"``, ``-1``).

    An exact sample id wins over an index. Raises ConfigError naming the file and a few valid
    ids when ``key`` matches neither.
    """
    with schema.open_file(path, "skeletons") as f:
        ids = [str(x) for x in schema.read_strings(f, schema.SAMPLE_IDS)]
        n = len(ids)
        i = _find(ids, key)
        if i is None:
            shown = ", ".join(ids[:5]) + (", ..." if n > 5 else "")
            raise ConfigError(
                f"{path}: no sample {str(key)!r}; give a sample id (e.g. {shown}) "
                f"or an index 0..{n - 1}"
            )
        offsets = f[schema.OFFSETS]
        if offsets.shape[0] != n + 1:
            raise SchemaError(
                f"{path}: dataset {schema.OFFSETS!r} expected length {n + 1}, "
                f"found {offsets.shape[0]}"
            )
        a, b = int(offsets[i]), int(offsets[i + 1])
        bodies = int(f[schema.BODIES][i])
        joints = f[schema.JOINTS][a:b, :bodies].transpose(1, 0, 2, 3)  # (M, T, V, C)
        label = int(f[schema.LABELS][i])
        names = [str(x) for x in schema.read_strings(f, schema.CLASS_NAMES)]
        layout = str(f.attrs.get("layout", ""))
        get_layout(layout)
    sample = Sample(np.ascontiguousarray(joints, dtype=np.float32), label, ids[i])
    return sample, layout, names


def _find(ids: list[str], key: str | int) -> int | None:
    if isinstance(key, str):
        if key in ids:
            return ids.index(key)
        try:
            key = int(key)
        except ValueError:
            return None
    n = len(ids)
    if -n <= key < n:
        return key % n
    return None
