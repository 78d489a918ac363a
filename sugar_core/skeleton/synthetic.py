"""The embedded demo dataset: six procedurally generated actions on a kinematic skeleton.

``make_synthetic`` builds a small, deterministic skeleton dataset that needs no download:
waving, clapping, kicking, squatting, jumping and bowing. Each sample is a rest pose (bone
offsets scaled by its subject's proportions) driven by per-action joint-angle trajectories
(``sugar_core.skeleton.kinematics``), with variation between subjects (height, limb
proportions, handedness, habitual speed, amplitude and facing direction) and between takes
(length 40-80 frames at 30 fps, speed, amplitude, phase, position, orientation, sensor noise).
Coordinates are metres in a Kinect-like camera frame: y up, z away from the sensor, the floor
below the sensor. Splits: ``xsub`` (every third subject tests) and ``random`` (70/30 per class).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sugar_core.errors import ConfigError
from sugar_core.skeleton.dataset import Sample, SkeletonSet
from sugar_core.skeleton.kinematics import (
    FEET,
    GROUP_NAMES,
    Pose,
    bone_group,
    forward,
    rest_offsets,
    rx,
    ry,
    rz,
)
from sugar_core.skeleton.layouts import NTU25, convert

SYNTHETIC_CLASSES = ("waving", "clapping", "kicking", "squatting", "jumping", "bowing")
FPS = 30  # frames per second the trajectories are timed for


@dataclass(frozen=True)
class Subject:
    """What stays the same across one person's takes."""

    scale: float  # overall body size (1 = 1.75 m)
    proportions: dict  # bone group -> length factor
    side: int  # +1 left-handed / left-footed, -1 right
    speed: float  # habitual tempo factor
    amplitude: float  # habitual range-of-motion factor
    yaw: float  # habitual facing direction relative to the sensor, radians
    floor: float  # floor height in camera coordinates (sensor mounted above it), metres


def _subject(rng: np.random.Generator) -> Subject:
    return Subject(
        scale=float(rng.uniform(0.88, 1.12)),
        proportions={g: float(rng.normal(1.0, 0.05)) for g in GROUP_NAMES},
        side=1 if rng.random() < 0.2 else -1,
        speed=float(rng.uniform(0.85, 1.15)),
        amplitude=float(rng.uniform(0.85, 1.15)),
        yaw=float(rng.normal(0.0, 0.3)),
        floor=float(rng.uniform(-1.0, -0.75)),
    )


def _offsets(sub: Subject) -> np.ndarray:
    off = rest_offsets()  # (V, 3)
    for j, name in enumerate(NTU25.joints[1:], start=1):
        off[j] *= sub.scale * sub.proportions[bone_group(name)]
    return off


# ---------------------------------------------------------------------------------------------
# time profiles over normalised time u in [0, 1]


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _envelope(u: np.ndarray, ramp: float = 0.2) -> np.ndarray:
    """0 -> 1 over the first ``ramp`` of the clip, 1 -> 0 over the last: raise, act, lower."""
    return _smooth(u / ramp) * _smooth((1 - u) / ramp)


def _bumps(u: np.ndarray, count: int, width: float, shift: float = 0.0) -> np.ndarray:
    """``count`` raised-cosine bumps (peak 1, half-width ``width`` of one period) spread over
    the clip; ``shift`` moves them by a share of the period."""
    period = 1.0 / count
    x = (u / period - shift) % 1.0 - 0.5  # (T,) position inside the own period, 0 = peak
    d = np.abs(x) / width
    return np.where(d < 1, 0.5 * (1 + np.cos(np.pi * np.minimum(d, 1))), 0.0)


# ---------------------------------------------------------------------------------------------
# actions: each turns bones of ``pose`` for normalised time u (T,)


@dataclass
class Take:
    amp: float  # range-of-motion factor of this take
    cycles: float  # repetitions over the clip (periodic actions)
    phase: float  # radians
    side: int  # +1 left, -1 right: which arm / leg leads
    rng: np.random.Generator


def _arm(side: int) -> str:
    return "left" if side > 0 else "right"


def _idle_arms(pose: Pose, skip: tuple[int, ...] = ()) -> None:
    """Arms hang a little away from the trunk (not through the hips)."""
    for s in (1, -1):
        if s not in skip:
            pose.turn(f"{_arm(s)} elbow", rz(np.full(pose.root.shape[0], s * 0.12)))


def _waving(pose: Pose, u: np.ndarray, k: Take) -> None:
    env = _envelope(u)
    s = k.side
    swing = k.amp * 0.4 * np.sin(2 * np.pi * k.cycles * u + k.phase)
    pose.turn(f"{_arm(s)} elbow", rz(s * 1.45 * env) @ rx(-0.25 * env))  # upper arm out, up
    pose.turn(f"{_arm(s)} wrist", rz(s * (1.35 + swing) * env))  # forearm up, side to side
    pose.turn(f"{_arm(s)} hand", rz(s * 0.3 * swing * env))
    _idle_arms(pose, skip=(s,))


def _clapping(pose: Pose, u: np.ndarray, k: Take) -> None:
    env = _envelope(u, 0.15)
    # 0 = hands apart, 1 = palms together; sharp meeting, slower opening
    meet = 0.5 * (1 + np.cos(2 * np.pi * k.cycles * u + k.phase)) ** 1.5 / 2**0.5
    for s in (1, -1):
        inward = (0.25 + 0.5 * k.amp * meet) * env
        pose.turn(f"{_arm(s)} elbow", ry(-s * inward) @ rx(-1.15 * env))  # forward, in
        pose.turn(f"{_arm(s)} wrist", rx(-0.75 * env) @ ry(-s * 0.35 * env))  # forearms up, in


def _kicking(pose: Pose, u: np.ndarray, k: Take) -> None:
    count = max(1, round(k.cycles / 2))
    kick = _bumps(u, count, 0.35)  # leg out and back
    wind = _bumps(u, count, 0.3, shift=-0.12)  # knee cocks before the kick
    leg = _arm(k.side)
    pose.turn(f"{leg} knee", rx(-1.25 * k.amp * kick))  # hip flexion
    pose.turn(f"{leg} ankle", rx(1.3 * wind * (1 - kick) + 0.15))  # knee bends, then snaps
    pose.turn("spine mid", rx(-0.2 * kick))  # trunk leans back
    for s in (1, -1):
        pose.turn(f"{_arm(s)} elbow", rz(s * (0.12 + 0.45 * kick)))  # arms out for balance


def _legs_bend(pose: Pose, hip: np.ndarray, knee: np.ndarray) -> None:
    for s in (1, -1):
        leg = _arm(s)
        pose.turn(f"{leg} knee", rx(-hip))
        pose.turn(f"{leg} ankle", rx(knee))
        pose.turn(f"{leg} foot", rx(hip - knee))  # keep the feet flat


def _squatting(pose: Pose, u: np.ndarray, k: Take) -> None:
    count = max(1, round(k.cycles / 2))
    d = np.minimum(1.0, k.amp) * _bumps(u, count, 0.42)
    _legs_bend(pose, 1.45 * d, 2.0 * d)
    pose.turn("spine mid", rx(0.45 * d))  # trunk leans forward for balance
    for s in (1, -1):
        pose.turn(f"{_arm(s)} elbow", rx(-1.3 * d) @ rz(s * 0.12))  # arms reach forward


def _jumping(pose: Pose, u: np.ndarray, k: Take) -> None:
    count = max(1, round(k.cycles / 1.5))
    x = (u * count + k.phase / (2 * np.pi) * 0.1) % 1.0  # (T,) position in each jump
    crouch = _bumps(x, 1, 0.2, shift=-0.3) + _bumps(x, 1, 0.15, shift=0.42)  # take-off, landing
    air = np.where((x > 0.35) & (x < 0.8), np.sin(np.pi * (x - 0.35) / 0.45), 0.0)
    _legs_bend(pose, 0.8 * crouch, 1.4 * crouch)
    pose.turn("spine mid", rx(0.3 * crouch))
    for s in (1, -1):
        pose.turn(f"{_arm(s)} elbow", rx(-(2.3 * air - 0.5 * crouch) * k.amp) @ rz(s * 0.15))
        pose.turn(f"{_arm(s)} foot", rx(0.4 * air))  # toes point down in the air
    pose.root[:, 1] += 0.28 * k.amp * air  # flight height, metres


def _bowing(pose: Pose, u: np.ndarray, k: Take) -> None:
    count = max(1, round(k.cycles / 3))
    b = k.amp * _bumps(u, count, 0.45)
    pose.turn("spine mid", rx(0.75 * b))  # lumbar flexion
    pose.turn("spine shoulder", rx(0.3 * b))
    pose.turn("neck", rx(0.25 * b))
    pose.turn("head", rx(0.2 * b))
    pose.root[:, 2] -= 0.08 * b  # hips go back to keep balance
    for s in (1, -1):
        pose.turn(f"{_arm(s)} elbow", rx(-0.7 * b) @ rz(s * 0.1))  # arms hang below the chest


ACTIONS = {
    "waving": (_waving, 3.0),  # (script, repetitions per clip before speed factors)
    "clapping": (_clapping, 4.0),
    "kicking": (_kicking, 2.0),
    "squatting": (_squatting, 2.0),
    "jumping": (_jumping, 2.0),
    "bowing": (_bowing, 3.0),
}


def _to_camera(
    xyz: np.ndarray, sub: Subject, take_rng: np.random.Generator, sway: float
) -> np.ndarray:
    """Body frame (T, V, 3) standing on y=0 -> Kinect-like camera frame facing the person."""
    t = xyz.shape[0]
    yaw = sub.yaw + take_rng.normal(0.0, 0.15)
    # facing the sensor is a half turn: the person's left is the sensor's right
    r = ry(np.pi + yaw)  # (3, 3)
    pos = np.array([take_rng.uniform(-0.5, 0.5), sub.floor, take_rng.uniform(2.5, 3.8)])
    drift = sway * np.sin(2 * np.pi * (np.arange(t) / 90.0 + take_rng.random()))  # (T,)
    out = xyz @ r.T + pos
    out[..., 0] += drift[:, None]
    return out


def _sample(k_cls: int, sub: Subject, rng: np.random.Generator) -> np.ndarray:
    """One take of class ``k_cls`` by ``sub``: joints (1, T, V, 3) float32."""
    name = SYNTHETIC_CLASSES[k_cls]
    script, reps = ACTIONS[name]
    t = int(rng.integers(40, 81))
    u = np.linspace(0.0, 1.0, t)  # (T,)
    speed = sub.speed * rng.uniform(0.85, 1.15)
    take = Take(
        amp=sub.amplitude * rng.uniform(0.85, 1.15),
        cycles=reps * speed * t / 60.0,
        phase=float(rng.uniform(0, 2 * np.pi)),
        side=sub.side if rng.random() < 0.9 else -sub.side,
        rng=rng,
    )
    pose = Pose.rest(t)
    script(pose, u, take)
    pose.turn("spine mid", rx(np.full(t, rng.normal(0.0, 0.04))))  # posture
    xyz = forward(pose, _offsets(sub))  # (T, V, 3)
    xyz[..., 1] -= xyz[:, FEET, 1].min(axis=1, keepdims=True)  # feet on the floor
    xyz[..., 1] += pose.root[:, 1:2] * (name == "jumping")  # except in flight
    xyz = _to_camera(xyz, sub, rng, sway=0.01)
    xyz += rng.normal(0.0, rng.uniform(0.004, 0.012), size=xyz.shape)  # sensor noise
    return xyz[None].astype(np.float32)


def _splits(subject_idx: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> dict:
    xsub = np.where(subject_idx % 3 == 1, 0, 1).astype(np.int8)
    rand = np.ones(len(labels), dtype=np.int8)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = min(len(idx) - 1, max(1, round(0.3 * len(idx))))
        rand[idx[:n_test]] = 0
    return {"xsub": xsub, "random": rand}


def make_synthetic(
    n_per_class: int = 40,
    subjects: int = 10,
    seed: int = 0,
    layout: str = "ntu25",
) -> SkeletonSet:
    """A deterministic six-class skeleton dataset (see the module docstring).

    n_per_class takes of every class, spread round-robin over ``subjects`` people; ``layout``
    is ``ntu25`` (native) or any layout ntu25 converts to (``kinect20``, ``msr20``).
    """
    if n_per_class < 2:
        raise ConfigError(
            f"n_per_class must be at least 2 (one take per split part), got {n_per_class}"
        )
    if subjects < 2:
        raise ConfigError(f"subjects must be at least 2 for the xsub split, got {subjects}")
    rng = np.random.default_rng(seed)
    people = [_subject(rng) for _ in range(subjects)]
    samples, subject_idx = [], []
    for k, name in enumerate(SYNTHETIC_CLASSES):
        for i in range(n_per_class):
            s = i % subjects
            joints = _sample(k, people[s], rng)  # (1, T, 25, 3)
            if layout != "ntu25":
                joints = np.ascontiguousarray(convert(joints, "ntu25", layout))
            sid = f"s{s + 1:02d}_{name}_{i // subjects + 1:02d}_{i:03d}"
            meta = {"subject": s + 1, "repetition": i // subjects + 1}
            samples.append(Sample(joints, k, sid, meta))
            subject_idx.append(s)
    labels = np.array([x.label for x in samples])
    data = SkeletonSet(
        samples=samples,
        class_names=list(SYNTHETIC_CLASSES),
        layout=layout,
        splits=_splits(np.array(subject_idx), labels, rng),
        source="synthetic",
    )
    data.check()
    return data
