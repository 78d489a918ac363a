"""Tiny raw files in every format the readers take, written by the tests themselves."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

NTU_NAME = "S{setup:03d}C{camera:03d}P{subject:03d}R{rep:03d}A{action:03d}"


def person(
    rng: np.random.Generator, frames: int, v: int = 25, amplitude: float = 0.05, x0: float = 0.0
) -> np.ndarray:
    """(T, V, 3) an upright body (taller than wide) swaying with ``amplitude`` metres."""
    base = np.stack(
        [rng.uniform(-0.2, 0.2, v) + x0, np.linspace(-0.8, 0.8, v), rng.uniform(2.9, 3.1, v)], 1
    )
    t = np.arange(frames)[:, None, None]
    sway = amplitude * np.sin(t / 5.0 + rng.uniform(0, 6, (1, v, 3)))
    return (base[None] + sway).astype(np.float64)


def flat_thing(rng: np.random.Generator, frames: int, v: int = 25) -> np.ndarray:
    """(T, V, 3) a wide, low object (x extent far above y extent): a noise body."""
    base = np.stack([np.linspace(-1.0, 1.0, v), rng.uniform(-0.05, 0.05, v), np.full(v, 3.5)], 1)
    wobble = 0.03 * rng.normal(size=(frames, v, 3))
    return base[None] + wobble


def ntu_text(
    frames: list[list[tuple[int, np.ndarray]]], newline: str = "\r\n", fmt: str = "{:.7g}"
) -> str:
    """A .skeleton file: per frame a list of (body id, joints (25, 3))."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, xyz in bodies:
            lines.append(f"{body_id} 0 1 1 1 1 0 -0.1159187 0.1413209 2")
            lines.append(str(len(xyz)))
            for x, y, z in xyz:
                xs, ys, zs = (fmt.format(c) for c in (x, y, z))
                lines.append(
                    f"{xs} {ys} {zs} 276.0976 190.0662 1032.328 514.0889 "
                    "-0.1705678 0.04232755 0.9718983 -0.1566168 2"
                )
    return newline.join(lines) + newline


def ntu_tracks(*tracks: tuple[int, np.ndarray, int]) -> list[list[tuple[int, np.ndarray]]]:
    """Frames from tracks (body id, joints (t, 25, 3), first frame)."""
    total = max(start + len(j) for _, j, start in tracks)
    frames: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(total)]
    for body_id, joints, start in tracks:
        for k, xyz in enumerate(joints):
            frames[start + k].append((body_id, xyz))
    return frames


def expected_xyz(joints: np.ndarray, fmt: str = "{:.7g}") -> np.ndarray:
    """What a reader must return for joints written with ``fmt``: float32 of the printed text."""
    return np.vectorize(lambda c: float(fmt.format(c)))(joints).astype(np.float32)


def write_ntu_dir(
    root: Path, rng: np.random.Generator, names: list[str], frames: int = 20
) -> dict[str, np.ndarray]:
    """One-person NTU files; returns name -> joints (1, T, 25, 3) as the reader should see them."""
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names:
        j = person(rng, frames)
        (root / f"{name}.skeleton").write_text(ntu_text(ntu_tracks((7, j, 0))), newline="")
        out[name] = expected_xyz(j)[None]
    return out


def ucla_doc(rng: np.random.Generator, name: str, frames: int, label: int) -> dict:
    j = np.round(person(rng, frames, v=20), 6)
    return {"file_name": name, "skeletons": j.tolist(), "label": label}


def write_ucla_dir(root: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Six sequences over views 1..3; name -> joints (1, T, 20, 3)."""
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for k, (action, label) in enumerate([(1, 1), (12, 10), (8, 7)]):
        for view in (1, 3) if k else (1, 2, 3):
            name = f"a{action:02d}_s0{k + 1}_e0{view}_v0{view}"
            doc = ucla_doc(rng, name, 5 + k + view, label)
            (root / f"{name}.json").write_text(json.dumps(doc))
            out[name] = np.asarray(doc["skeletons"], dtype=np.float32)[None]
    return out


def msr_text(joints: np.ndarray) -> str:
    """``x y z c`` lines, 20 per frame."""
    rows = joints.reshape(-1, 3)
    return "".join(f"{x:.6f} {y:.6f} {z:.6f} 1.000000\n" for x, y, z in rows)


def write_msr_dir(root: Path, rng: np.random.Generator, names: list[str]) -> dict[str, np.ndarray]:
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names:
        j = np.round(person(rng, 6, v=20), 6)
        (root / f"{name}_skeleton3D.txt").write_text(msr_text(j))
        out[name] = j.astype(np.float32)[None]
    return out


def pyskl_annotations(
    rng: np.random.Generator, names: list[str], labels: list[int], two_d: bool = False
) -> list[dict]:
    anns = []
    for i, (name, label) in enumerate(zip(names, labels)):
        m, t = 1 + i % 2, 6 + i
        if two_d:
            kp = rng.uniform(0, 100, (m, t, 17, 2)).astype(np.float32)
            anns.append(
                {
                    "frame_dir": name,
                    "label": label,
                    "keypoint": kp,
                    "keypoint_score": rng.uniform(0, 1, (m, t, 17)).astype(np.float32),
                    "total_frames": t,
                    "img_shape": (1080, 1920),
                }
            )
        else:
            kp = rng.normal(size=(m, t, 25, 3)).astype(np.float32)
            anns.append({"frame_dir": name, "label": label, "keypoint": kp, "total_frames": t})
    return anns


def write_pickle(path: Path, obj, protocol: int = pickle.HIGHEST_PROTOCOL) -> Path:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)
    return path


def one_byte_damage(text: bytes, rng: np.random.Generator, times: int = 300):
    """``times`` copies of ``text`` each with one random byte deleted, inserted or replaced by
    a character a numeric text file could hold (the fast/careful parser agreement tests)."""
    alphabet = b"0123456789 .-+\r\n\txE_"
    for _ in range(times):
        buf = bytearray(text)
        at = int(rng.integers(len(buf)))
        kind = rng.integers(3)
        if kind == 0:
            del buf[at]
        elif kind == 1:
            buf.insert(at, alphabet[rng.integers(len(alphabet))])
        else:
            buf[at] = alphabet[rng.integers(len(alphabet))]
        yield bytes(buf)
