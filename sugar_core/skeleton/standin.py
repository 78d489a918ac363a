"""An NTU RGB+D 120-shaped stand-in: raw ``.skeleton`` files for measuring import at scale.

The files are in the real Kinect v2 text format (``readers/ntu.py`` parses them; CRLF lines,
12 values a joint line, 10 a body-info line, 17-digit body ids) and have NTU-120's shape:

- names ``SsssCcccPpppRrrrAaaa`` on NTU-120's grid: setups 1-17 hold actions 1-60 (the NTU-60
  part, 56,880 files), setups 18-32 actions 61-120 (57,600 files); 3 cameras, 2 replications,
  158 and 160 (setup, performer) pairs, performers 1-40 and 41-106 (which performer sat in
  which setup is our choice; the counts are NTU-120's). So the readers' xsub (performer) and
  xset (setup parity) splits apply as to the real set, 114,480 files in all;
- one body, two for the mutual actions (A050-A060, A106-A120);
- lengths log-normal with median 80 frames (sigma 0.4) clipped to 32-300: NTU-120's lengths
  are mostly 30-300 frames at 30 fps with a median of about 70-100;
- joints: a standing adult (``kinematics.rest_offsets``) about 3 m from the sensor, moving
  smoothly (a few random sinusoids per joint, hands and feet most) and drifting sideways. A
  stand-in for scale, not for accuracy: actions are not recognisable.

``write_standin(root, files=N, seed=S)`` writes a seeded random ``N`` of the grid (sorted).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sugar_core.errors import ConfigError
from sugar_core.skeleton.kinematics import ORDER, PARENT, rest_offsets

NTU120_FILES = 114_480
MUTUAL = frozenset(range(50, 61)) | frozenset(range(106, 121))  # two-person actions
V = 25
FPS = 30
MEDIAN_FRAMES, SIGMA, MIN_FRAMES, MAX_FRAMES = 80, 0.4, 32, 300
# (setups, performers, actions, (setup, performer) pairs) of the NTU-60 part and the extension
PARTS = ((range(1, 18), range(1, 41), range(1, 61), 158),
         (range(18, 33), range(41, 107), range(61, 121), 160))  # fmt: skip
CHUNK = 100  # files a writing job makes
TAILS = 512  # distinct tails (the 9 columns sugar does not read) drawn per file set


def standin_names(files: int = NTU120_FILES, seed: int = 0) -> list[str]:
    """``files`` sample names of the NTU-120 grid (all of it by default), seeded, sorted."""
    grid = []
    for setups, performers, actions, pairs in PARTS:
        for k in range(pairs):  # k mod both sizes: distinct pairs while k < lcm of the sizes
            s, p = setups[k % len(setups)], performers[k % len(performers)]
            grid += [f"S{s:03d}C{c:03d}P{p:03d}R{r:03d}A{a:03d}"
                     for a in actions for c in (1, 2, 3) for r in (1, 2)]  # fmt: skip
    assert len(grid) == len(set(grid)) == NTU120_FILES, len(grid)
    if not 1 <= files <= len(grid):
        raise ConfigError(f"--files must lie in 1..{len(grid)}, got {files}")
    if files == len(grid):
        return sorted(grid)
    pick = np.random.default_rng(seed).choice(len(grid), size=files, replace=False)
    return sorted(grid[i] for i in pick)


def standin_length(rng: np.random.Generator) -> int:
    """Frames of one sequence: log-normal, median ``MEDIAN_FRAMES``, clipped to 32-300."""
    t = MEDIAN_FRAMES * np.exp(SIGMA * rng.standard_normal())
    return int(np.clip(round(t), MIN_FRAMES, MAX_FRAMES))


def _rest_pose() -> np.ndarray:
    """(V, 3) joints of the rest pose, metres, spine base at the origin, y up."""
    off, pos = rest_offsets(), np.zeros((V, 3))
    for j in ORDER:
        if PARENT[j] >= 0:
            pos[j] = pos[PARENT[j]] + off[j]
    return pos


_REST = _rest_pose()
_REACH = np.linalg.norm(_REST - _REST[1], axis=1)  # (V,) distance from the spine: limbs move more


def standin_motion(rng: np.random.Generator, frames: int, x0: float = 0.0) -> np.ndarray:
    """(T, V, 3) camera-space joints (metres) of one person moving smoothly."""
    t = np.arange(frames)[:, None, None] / FPS  # (T, 1, 1) seconds
    out = np.zeros((frames, V, 3))
    for _ in range(3):
        freq = rng.uniform(0.2, 1.5, (1, V, 3))  # Hz
        phase = rng.uniform(0, 2 * np.pi, (1, V, 3))
        amp = rng.uniform(0.01, 0.06) * (0.3 + _REACH[None, :, None])  # (1, V, 1) metres
        out += amp * np.sin(2 * np.pi * freq * t + phase)
    drift = rng.uniform(-0.2, 0.2) * t[..., 0] / max(frames / FPS, 1e-9)  # (T, 1) metres
    out[..., 0] += drift
    place = np.array([x0 + rng.uniform(-0.3, 0.3), rng.uniform(-0.1, 0.1), rng.uniform(2.6, 3.6)])
    return _REST[None] + place + out


def standin_text(name: str, rng: np.random.Generator, lines: list[str]) -> bytes:
    """One ``.skeleton`` file for the sample ``name`` (its action fixes one or two bodies).

    lines: joint-line templates ``"%.7g %.7g %.7g <tail>\\r\\n"`` (``joint_lines``); the x, y, z
    of every line are formatted in one ``%`` at the end.
    """
    action = int(name[-3:])
    frames = standin_length(rng)
    bodies = 2 if action in MUTUAL else 1
    xyz = np.stack(
        [standin_motion(rng, frames, x0=0.9 * (b - 0.5) * (bodies - 1)) for b in range(bodies)], 1
    )  # (T, M, V, 3)
    ids = rng.choice(10**6, size=bodies, replace=False) + 72057594037000000
    lean = rng.uniform(-0.3, 0.3, (bodies, 2))
    info = [
        f"{ids[b]} 0 1 1 1 1 0 {lean[b, 0]:.7g} {lean[b, 1]:.7g} 2\r\n25\r\n" for b in range(bodies)
    ]
    pick = rng.integers(0, len(lines), (frames, bodies, V)).tolist()
    out = [f"{frames}\r\n"]
    for t in range(frames):
        out.append(f"{bodies}\r\n")
        for b in range(bodies):
            out.append(info[b])
            out += [lines[k] for k in pick[t][b]]
    return ("".join(out) % tuple(xyz.ravel().tolist())).encode("ascii")


def joint_lines(seed: int) -> list[str]:
    """``TAILS`` joint-line templates: x, y, z to fill, then plausible ``depthX depthY colorX
    colorY orientW orientX orientY orientZ state`` (columns sugar does not read)."""
    rng = np.random.default_rng(seed)
    depth = rng.uniform((150, 80), (350, 330), (TAILS, 2))
    color = rng.uniform((600, 200), (1300, 950), (TAILS, 2))
    orient = rng.uniform(-1, 1, (TAILS, 4))
    state = rng.choice([1, 2, 2, 2], TAILS)
    return [
        "%%.7g %%.7g %%.7g %.7g %.7g %.7g %.7g %.7g %.7g %.7g %.7g %d\r\n"  # noqa: UP031
        % (*d, *c, *o, s)
        for d, c, o, s in zip(depth, color, orient, state)
    ]


def write_standin(
    root: str | os.PathLike,
    files: int = NTU120_FILES,
    seed: int = 0,
    workers: int = 1,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write ``files`` stand-in ``.skeleton`` files into ``root`` (made if missing); their paths.

    A file's bytes depend only on its name and ``seed``. Existing files of the same names are
    overwritten; nothing else in ``root`` is touched. ``workers`` > 1 writes in processes.
    on_progress(files done, total) after every ``CHUNK`` files.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    names = standin_names(files, seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(str(root), names[i : i + CHUNK], seed) for i in range(0, len(names), CHUNK)]
    pool = mp.get_context().Pool(workers) if workers > 1 and len(jobs) > 1 else None
    done = pool.imap_unordered(_write_names, jobs) if pool else map(_write_names, jobs)
    try:
        total = 0
        for n in done:
            total += n
            if on_progress:
                on_progress(total, len(names))
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return [root / f"{name}.skeleton" for name in names]


def _write_names(job: tuple[str, list[str], int]) -> int:
    root, names, seed = job
    lines = joint_lines(seed)
    for name in names:
        numbers = [int(x) for x in (name[1:4], name[5:8], name[9:12], name[13:16], name[17:])]
        rng = np.random.default_rng([seed, *numbers])  # a file depends on its name and seed only
        (Path(root) / f"{name}.skeleton").write_bytes(standin_text(name, rng, lines))
    return len(names)
