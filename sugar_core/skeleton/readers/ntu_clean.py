"""Clean-up of NTU body records: which tracked bodies are people, and which two to keep.

The Kinect v2 tracker reports up to six bodies per frame and sometimes "sees" a person in a
chair, a coat or a reflection. The field's preprocessing (the ``get_raw_denoised_data.py`` script
of the NTU RGB+D preprocessing shared by 2s-AGCN / CTR-GCN and many later repositories) removes
such bodies with three facts, used here in our own formulation:

1. **Too short.** A body tracked in 11 frames or fewer is flicker (the field's
   ``noise_len_thres = 11``, bodies with length <= 11 dropped).
2. **Too wide.** A standing or sitting person is taller than wide, so a frame whose x extent
   exceeds 0.8 x its y extent is "flat"; a body flat in 69.754 % of its frames or more is dropped
   (the field's ``noise_spr_thres1 = 0.8`` and ``noise_spr_thres2 = 0.69754``).
3. **Most active first.** Remaining bodies are ranked by motion and the two most active tracks
   are kept (NTU actions have one or two performers). Our motion is the mean over joints of the
   temporal variance of each joint's position (summed over x, y, z), measured on the body's
   non-flat frames: it scores movement, not body size. A body whose motion is below
   ``still_motion`` (a frozen track: 1 mm^2, far below the tracker's own jitter) is dropped too.

Rules never remove the last body: if a rule would drop every body, the best one by that rule
stays. A tracked person who loses tracking comes back under a new body id; such pieces do not
overlap in time, so tracks are filled greedily: each body, most active first, joins the first
kept track whose frames it does not overlap, or opens a new track while fewer than
``max_bodies`` exist. Frames in which no kept track has a body are dropped (as the field does).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class NtuCleanup:
    enabled: bool = True  # off: every body id becomes a track and every declared frame stays
    min_frames: int = 12  # a body needs this many frames; the field drops bodies with <= 11
    flat_ratio: float = 0.8  # frame is flat when x extent > flat_ratio * y extent (field's 0.8)
    flat_share: float = 0.69754  # drop a body flat in this share of its frames (field's value)
    still_motion: float = 1e-6  # m^2; motion below this is a frozen track, not a person
    max_bodies: int = 2  # tracks kept; NTU actions involve one or two people

    def describe(self) -> dict:
        return asdict(self)


@dataclass
class NtuRecording:
    """Every body record of one file, in file order (B records)."""

    frames: int  # T the file declares
    frame_of: np.ndarray  # (B,) int64 frame index of each record
    body_ids: list[bytes]  # (B,) tracker body id of each record
    xyz: np.ndarray  # (B, V, 3) float32 camera-space joints, metres


def clean(rec: NtuRecording, cfg: NtuCleanup) -> np.ndarray:
    """Joints (M, T, V, 3) float32 of the kept tracks, M <= max_bodies (all ids if disabled)."""
    assert len(rec.body_ids) > 0, "clean() needs at least one body record"
    v = rec.xyz.shape[1]
    if len(set(rec.body_ids)) == 1:  # the common case: one person, tracked throughout
        out = np.zeros((1, rec.frames, v, 3), dtype=np.float32)
        out[0, rec.frame_of] = rec.xyz
        return out[:, _present(rec.frames, rec.frame_of)] if cfg.enabled else out
    index: dict[bytes, int] = {}  # body id -> body number, in order of first appearance
    body = np.array([index.setdefault(b, len(index)) for b in rec.body_ids], dtype=np.int64)
    nb = len(index)
    if not cfg.enabled:
        out = np.zeros((nb, rec.frames, v, 3), dtype=np.float32)
        out[body, rec.frame_of] = rec.xyz
        return out
    order = _rank_bodies(rec, body, nb, cfg)
    tracks = _fill_tracks(rec, body, order, cfg.max_bodies)
    out = np.zeros((len(tracks), rec.frames, v, 3), dtype=np.float32)
    for m, members in enumerate(tracks):
        sel = np.isin(body, members)
        out[m, rec.frame_of[sel]] = rec.xyz[sel]
    return out[:, _present(rec.frames, rec.frame_of[np.isin(body, np.concatenate(tracks))])]


def _present(frames: int, used: np.ndarray) -> np.ndarray:
    """(T,) bool: frames holding at least one kept body."""
    present = np.zeros(frames, dtype=bool)
    present[used] = True
    return present


def _rank_bodies(rec: NtuRecording, body: np.ndarray, nb: int, cfg: NtuCleanup) -> np.ndarray:
    """Body indices that survive the rules, most active first."""
    nframes = np.bincount(body, minlength=nb)
    alive = np.ones(nb, dtype=bool)
    # 1. too short
    alive = _keep_some(alive, nframes >= cfg.min_frames, score=nframes)
    # 2. too wide
    extent = rec.xyz.max(axis=1) - rec.xyz.min(axis=1)  # (B, 3)
    flat = extent[:, 0] > cfg.flat_ratio * extent[:, 1]  # (B,)
    share = np.bincount(body, weights=flat, minlength=nb) / nframes
    if alive.sum() > 1:
        alive = _keep_some(alive, share < cfg.flat_share, score=-share)
    # 3. motion on each body's non-flat frames (all frames when every frame is flat)
    motion = np.zeros(nb)
    for b in np.flatnonzero(alive):
        mine = body == b
        use = mine & ~flat if np.any(mine & ~flat) else mine
        motion[b] = rec.xyz[use].var(axis=0).sum(axis=-1).mean() if use.sum() > 1 else 0.0
    if alive.sum() > 1:
        alive = _keep_some(alive, motion >= cfg.still_motion, score=motion)
    alive_idx = np.flatnonzero(alive)
    return alive_idx[np.argsort(-motion[alive_idx], kind="stable")]


def _keep_some(alive: np.ndarray, passes: np.ndarray, score: np.ndarray) -> np.ndarray:
    """``alive & passes``, or the single best alive body by ``score`` if none passes."""
    kept = alive & passes
    if kept.any():
        return kept
    best = np.flatnonzero(alive)[np.argmax(score[alive])]
    out = np.zeros_like(alive)
    out[best] = True
    return out


def _fill_tracks(
    rec: NtuRecording, body: np.ndarray, order: np.ndarray, max_tracks: int
) -> list[np.ndarray]:
    """Greedy assignment of bodies (in ``order``) to at most ``max_tracks`` time-disjoint tracks."""
    tracks: list[list[int]] = []
    busy: list[np.ndarray] = []  # (T,) bool frames taken by each track
    for b in order:
        frames = np.zeros(rec.frames, dtype=bool)
        frames[rec.frame_of[body == b]] = True
        for m in range(len(tracks)):
            if not np.any(busy[m] & frames):
                tracks[m].append(int(b))
                busy[m] |= frames
                break
        else:
            if len(tracks) < max_tracks:
                tracks.append([int(b)])
                busy.append(frames)
    return [np.asarray(t, dtype=np.int64) for t in tracks]
