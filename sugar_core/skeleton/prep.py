"""How samples are prepared for an encoder: the settings only (no torch), so configs and
``--help`` load fast; ``transforms`` does the work."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sugar_core.errors import ConfigError

# encoder inputs (``transforms.to_stream``): joint coordinates, bone vectors (joint minus its
# parent), their frame differences (x[t+1] - x[t] after resampling to T, last frame zero), and
# joints and bones side by side; multi-stream ensembles train one encoder per stream
STREAMS = ("joint", "bone", "joint-motion", "bone-motion", "joint+bone")
TTA_VIEWS = 8  # deterministic test-time views there are (``transforms.tta_params``)


def stream_factor(stream: str) -> int:
    """How many C-channel groups a stream feeds the encoder (joint+bone: 2, the others 1)."""
    return len(stream.split("+"))


@dataclass
class PrepConfig:
    frames: int = 52  # T every sample is resampled to (the encoder's input length)
    max_bodies: int = 1  # M: 1 for single-person data (NW-UCLA, MSR), 2 for NTU interactions
    channels: int = 3  # C kept from the input (x y z; extra channels such as confidence drop)
    centre: str = "first"  # "first": origin joint of frame 0; "frame": per frame; "none"
    view_normalise: bool = True  # face the camera in frame 0: removes the camera's azimuth
    body_scale: bool = False  # divide by the frame-0 torso length (cross-dataset sizes)
    crop_min: float = 0.7  # training: random temporal crop keeps this fraction or more
    rotate_deg: tuple[float, float, float] = (15.0, 30.0, 15.0)  # training: max |angle| x y z
    scale: tuple[float, float] = (0.85, 1.15)  # training: uniform isotropic scale range
    per_axis_scale: float = 0.05  # training: extra independent jitter per axis (+-)
    mirror: float = 0.0  # training: probability of swapping left/right (x -> -x + relabel joints)
    stream: str = "joint"  # encoder input, one of STREAMS (bone, joint-motion, bone-motion, ...)
    random_sampling: bool = False  # training: one random frame per segment of the crop, not evenly
    tta: int = 1  # encoding only: average the encoder over this many fixed views (1 = off, <= 8)

    def __post_init__(self):
        if self.centre not in ("first", "frame", "none"):
            raise ConfigError(f"centre must be first, frame or none, not {self.centre!r}")
        if self.stream not in STREAMS:
            raise ConfigError(f"stream must be one of {', '.join(STREAMS)}, not {self.stream!r}")
        if not 1 <= self.tta <= TTA_VIEWS:
            raise ConfigError(f"tta must lie in 1..{TTA_VIEWS} views (1 = off), got {self.tta}")
        if not 0.0 < self.crop_min <= 1.0:
            raise ConfigError(f"crop_min must lie in (0, 1], got {self.crop_min}")
        self.rotate_deg = tuple(float(a) for a in self.rotate_deg)
        self.scale = tuple(float(s) for s in self.scale)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rotate_deg"], d["scale"] = list(self.rotate_deg), list(self.scale)
        return d
